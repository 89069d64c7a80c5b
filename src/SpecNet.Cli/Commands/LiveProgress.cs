using Spectre.Console;
using SpecNet.Data;
using SpecNet.Training;

namespace SpecNet.Cli.Commands;

/// <summary>
/// Keras-style live progress for a terminal (Spectre.Console): one bar with the epoch, step, loss,
/// accuracy, images/s and time left; each finished epoch's summary line is printed above it.
/// </summary>
internal static class LiveProgress
{
    public static TrainingResult Run(Trainer trainer, Dataset train, Dataset? test, int epochs, Func<EpochReport, string?> epochLine, CancellationToken cancel)
    {
        TrainingResult? result = null;
        var progress = AnsiConsole.Progress();
        progress.AutoClear = true;
        progress.Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("starting", maxValue: 1);
                result = trainer.Fit(train, test,
                    onEpoch: report =>
                    {
                        if (epochLine(report) is { } line) AnsiConsole.WriteLine(line);
                        task.Value = 0;
                    },
                    onStep: s =>
                    {
                        task.MaxValue = s.Steps;
                        task.Value = s.Step;
                        task.Description = FormattableString.Invariant($"epoch {s.Epoch}/{epochs}  step {s.Step}/{s.Steps}  loss {s.Loss:0.0000}  accuracy {s.Accuracy:0.0000}  {s.ImagesPerSecond:N0} images/s");
                    },
                    cancel: cancel);
            });
        return result!;
    }
}
