using SpecNet.Diagnostics;

namespace SpecNet.Kernels;

/// <summary>
/// Chooses a backend by name (--backend, else SPECNET_BACKEND, else managed): managed (the default, no
/// native dependency), auto (MKL when it can be loaded, else managed, saying why), mkl, mathnet, reference.
/// The thread count is SPECNET_THREADS (any number from 1; more than the cores is allowed), else the cores.
/// </summary>
public static class Backends
{
    public static readonly IReadOnlyList<string> Names = ["auto", "managed", "mkl", "mathnet", "reference"];
    public const string Default = "managed";

    /// <summary>SPECNET_THREADS when it is a whole number from 1, else the processor count.</summary>
    public static int DefaultThreads()
    {
        var text = Environment.GetEnvironmentVariable("SPECNET_THREADS");
        if (string.IsNullOrEmpty(text)) return Environment.ProcessorCount;
        if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= MaxThreads) return n;
        throw new SpecNetException($"SPECNET_THREADS must be a whole number from 1 to {MaxThreads}, not '{text}'", "unset it to use every core");
    }

    private const int MaxThreads = 1024;

    private static Backend Fallback(string why, int threads, Action<string>? note)
    {
        note?.Invoke($"note: {why}; using the managed backend");
        return new ManagedBackend(threads);
    }

    /// <param name="note">Receives a line for the user when the choice needs explaining.</param>
    public static Backend Create(string? name, Action<string>? note = null, int threads = 0)
    {
        name ??= Environment.GetEnvironmentVariable("SPECNET_BACKEND");
        if (string.IsNullOrEmpty(name)) name = Default;
        if (threads <= 0) threads = DefaultThreads();
        return name switch
        {
            "managed" => new ManagedBackend(threads),
            "auto" => MklBackend.TryCreate(threads, out var absent) ?? Fallback(absent, threads, note),
            "mkl" => MklBackend.TryCreate(threads, out var why) ?? throw new SpecNetException($"the mkl backend is not available: {why}", "use --backend managed (the default)"),
            "mathnet" => new MathNetBackend(threads),
            "reference" => new ReferenceBackend(),
            _ => throw new SpecNetException($"unknown backend '{name}'", $"known backends: {string.Join(", ", Names)}"),
        };
    }
}
