namespace SpecNet.Cli.Terminal;

/// <summary>A one-line progress bar on standard error for slow set-up work (downloads, indexing an image folder), only when it is a terminal.</summary>
internal sealed class ProgressLine(string label) : IProgress<double>
{
    private int _shown = -1;

    public static IProgress<double>? ForTerminal(string label, TextWriter error) =>
        ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected ? new ProgressLine(label) : null;

    public void Report(double fraction)
    {
        int percent = (int)Math.Clamp(fraction * 100, 0, 100);
        if (percent == _shown) return;
        _shown = percent;
        int filled = percent * 30 / 100;
        Console.Error.Write($"\r{label} [{new string('#', filled)}{new string('.', 30 - filled)}] {percent,3}%");
        if (percent == 100) Console.Error.WriteLine();
    }
}
