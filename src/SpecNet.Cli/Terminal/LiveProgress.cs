using Spectre.Console;
using SpecNet.Training;

namespace SpecNet.Cli.Terminal;

/// <summary>
/// Keras-style live progress for a terminal (Spectre.Console): one bar with the epoch, step, loss,
/// accuracy, images/s and time left; each finished epoch's summary line is printed above it.
/// </summary>
internal static class LiveProgress
{
    /// <summary>Runs <paramref name="train"/>, giving it the per-epoch and per-step callbacks that drive the bar.</summary>
    public static T Run<T>(int epochs, Func<EpochReport, string?> epochLine, Func<Action<EpochReport>, Action<StepReport>, T> train)
    {
        T result = default!;
        var progress = AnsiConsole.Progress();
        progress.AutoClear = true;
        progress.Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("starting", maxValue: 1);
                result = train(
                    report =>
                    {
                        if (epochLine(report) is { } line) AnsiConsole.WriteLine(line);
                        task.Value = 0;
                    },
                    s =>
                    {
                        task.MaxValue = s.Steps;
                        task.Value = s.Step;
                        task.Description = FormattableString.Invariant($"epoch {s.Epoch}/{epochs}  step {s.Step}/{s.Steps}  loss {s.Loss:0.0000}  accuracy {s.Accuracy:0.0000}  {s.ImagesPerSecond:N0} images/s");
                    });
            });
        return result;
    }
}
