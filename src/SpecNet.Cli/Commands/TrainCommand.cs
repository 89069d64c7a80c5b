using System.CommandLine;
using SpecNet.Data;
using SpecNet.Diagnostics;
using SpecNet.Planning;
using SpecNet.Training;
using SpecNet.Cli.Terminal;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet train SPEC`: load the data the spec names, train, report each epoch, write the weights atomically.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var spec = new Argument<string>("spec") { Description = "the spec file (.yaml)" };
        var output = new Option<string?>("--output", "-o") { Description = "weights file to write (default: <spec name>.safetensors beside the spec)" };
        var epochs = CommonOptions.AtLeast("--epochs", 1, "override training.epochs");
        var batch = CommonOptions.AtLeast("--batch-size", 1, "override training.batch_size");
        var seed = CommonOptions.AtLeast("--seed", 0, "override training.seed");
        var json = new Option<bool>("--json") { Description = "print JSON lines events (start, checkpoint, epoch, done) instead of text" };
        var backend = CommonOptions.Backend();
        var threads = CommonOptions.Threads();
        var checkpoint = new Option<string?>("--checkpoint") { Description = "checkpoint file (default: <weights name>.checkpoint.safetensors beside the weights); written after every epoch" };
        var every = CommonOptions.InRange("--checkpoint-every", 0, int.MaxValue, 0, "also write the checkpoint every N steps");
        var resume = new Option<bool>("--resume") { Description = "continue from the checkpoint, exactly where it stopped (bit-identical to an uninterrupted run)" };
        var determinism = new Option<bool>("--check-determinism") { Description = "train a few steps twice and compare the weights' hashes, then stop" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "print only the final line (and errors)" };
        var noProgress = new Option<bool>("--no-progress") { Description = "plain lines instead of a live progress bar (the default when output is not a terminal)" };
        var report = new Option<string?>("--report") { Description = "write a report into this folder: learning curves and confusion matrix (PNG), misclassified examples, index.html" };
        var command = new Command("train", "Train a spec on its data and write the weights. Ctrl+C writes a checkpoint; --resume continues from it.\n\nExample: specnet train specs/mnist-cnn.yaml")
            { spec, output, epochs, batch, seed, json, backend, threads, checkpoint, every, resume, determinism, report, quiet, noProgress };
        command.SetAction(result =>
        {
            var (o, err) = (result.InvocationConfiguration.Output, result.InvocationConfiguration.Error);
            bool asJson = result.GetValue(json), isQuiet = result.GetValue(quiet);
            var specPath = result.GetValue(spec)!;
            var model = Inputs.Compile(specPath);
            var weightsPath = result.GetValue(output) ?? Inputs.DefaultWeightsPath(specPath, model);
            // `train model.safetensors` trains its embedded spec afresh: by default that would replace the weights it came from.
            if (result.GetValue(output) is null && Inputs.IsWeightsFile(specPath) && Path.GetFullPath(weightsPath) == Path.GetFullPath(specPath))
                throw new SpecNetException($"{specPath}: training the spec it embeds would write over it (the default output is the weights file beside the spec, named after it)",
                    "give --output NEW.safetensors; to start from these weights instead of from scratch, use a spec with training: { init_from: ... }");
            var options = TrainingOptions.For(model, weightsPath, result.GetValue(epochs), result.GetValue(batch), result.GetValue(seed)) with
            {
                CheckpointEvery = result.GetValue(every),
                Resume = result.GetValue(resume),
            };
            if (result.GetValue(checkpoint) is { } c) options = options with { CheckpointPath = c };
            // What the run will write, checked before anything is loaded or printed, not after the training
            TrainingJob.CheckOutputs(model, options);
            if (result.GetValue(report) is { } reportFolder) Formats.OutputFolder.Check(reportFolder, "report");
            var engine = Inputs.Engine(result, backend, err);
            var warmUp = WarmUp.Start(model, engine);   // the kernels compiled while the data loads
            var data = DataLoader.LoadSplits(model, line => err.WriteLine(line), ProgressLine.ForTerminal("loading data", err));
            warmUp.Wait();
            if (result.GetValue(determinism)) return CheckDeterminism(model, data.Train, () => Inputs.Engine(result, backend, TextWriter.Null), options, o);

            string on = TrainingJob.MetricsOn(data);
            if (!asJson && !isQuiet)
            {
                // the splits there are, of images or (a flat input) of examples
                var splits = new[] { ("train", data.Train), ("validation", data.Validation), ("test", data.Test) }
                    .Where(s => s.Item2 is not null || s.Item1 == "test").Select(s => $"{s.Item2?.Count ?? 0:N0} {s.Item1}");
                o.WriteLine($"Training {model.Name} ({ModelSummary.N(model.TotalParameters)} parameters) on {data.Train.Name.Split('/')[0]}: " +
                            $"{string.Join(" / ", splits)} {(model.Input.IsFlat ? "examples" : "images")}, {options.Epochs} epochs, batch {options.BatchSize}, seed {options.Seed}");
                o.WriteLine($"Backend: {engine}");
                if (WarmStart.Plan(model) is { } from)
                {
                    o.WriteLine($"Starting from {from.Path}: {from.Summary}");
                    if (from.Warnings.Count > 0) err.Write(Diagnostics.DiagnosticRenderer.RenderAll(from.Warnings, specPath, model.SourceText));
                }
                if (model.Layers.Where(l => l.Frozen && l.Parameters.Count > 0).Select(l => l.Name).ToList() is { Count: > 0 } frozen)
                    o.WriteLine($"Frozen: {frozen.Count} layer{(frozen.Count == 1 ? "" : "s")} ({ModelSummary.N(model.TotalParameters - model.TrainableParameters)} parameters keep their values): " +
                        string.Join(", ", frozen.Take(6)) + (frozen.Count > 6 ? $" and {frozen.Count - 6} more" : ""));
            }
            Action<System.Text.Json.Nodes.JsonObject>? events = asJson ? e => { if (!isQuiet || (string?)e["event"] == "done") o.WriteLine(e.ToJsonString()); } : null;
            string? EpochLine(EpochReport r) => asJson || isQuiet ? null : TrainingEvents.EpochLine(r, on);
            bool live = !asJson && !isQuiet && !result.GetValue(noProgress) && ReferenceEquals(o, Console.Out) && !Console.IsOutputRedirected;

            using var interrupt = new Interrupt();
            TrainingOutcome outcome;
            try
            {
                outcome = live
                    ? LiveProgress.Run(options.Epochs, EpochLine, (onEpoch, onStep) => TrainingJob.Run(model, data, engine, options, events, onEpoch, onStep, interrupt.Token))
                    : TrainingJob.Run(model, data, engine, options, events, r => { if (EpochLine(r) is { } line) o.WriteLine(line); }, cancel: interrupt.Token);
            }
            catch (TrainingInterruptedException stop)
            {
                err.WriteLine($"Interrupted at epoch {stop.Epoch}, step {stop.Step}; checkpoint written to {stop.CheckpointPath}");
                err.WriteLine($"Resume with: specnet train {specPath} --resume" + (result.GetValue(output) is { } w ? $" --output {w}" : ""));
                return ExitCodes.Interrupted;
            }

            if (outcome.EarlyStopping is { StoppedEpoch: > 0 } early)
                (asJson ? err : o).WriteLine($"Early stopping after epoch {early.StoppedEpoch}: {early.Tracker.MonitorName} has not improved since epoch {early.Tracker.BestEpoch}" +
                    (model.Training.EarlyStopping!.RestoreBestWeights ? $"; the weights are epoch {early.Tracker.BestEpoch}'s" : ""));
            if (result.GetValue(report) is { } folder)
            {
                var (monitored, set) = data.Reported;
                var evaluation = outcome.Result.Validation ?? Evaluator.Evaluate(Formats.WeightsFile.Load(outcome.WeightsPath, model), engine, monitored);
                var files = Reports.RunReport.Write(folder, model, outcome.Result.Epochs, monitored, evaluation, set);
                if (!asJson) o.WriteLine($"Report written to {Path.Combine(folder, "index.html")} ({string.Join(", ", files)})");
            }
            if (!asJson)
                o.WriteLine($"Weights written to {outcome.WeightsPath}" +
                    (outcome.Last.TestAccuracy is { } t ? $" ({(on == "val" ? "validation" : "test")} accuracy {Inputs.Percent(t)})" : ""));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static int CheckDeterminism(Checking.ModelSpec model, Dataset train, Func<IEngine> engine, TrainingOptions options, TextWriter o)
    {
        int steps = Math.Min(20, (train.Count + options.BatchSize - 1) / options.BatchSize + 1);
        var (initial, first, second) = Determinism.Check(model, train, engine, steps, options.Seed, options.BatchSize);
        bool moved = first != initial;
        o.WriteLine($"{steps} steps twice, backend {engine()}: weights {initial} at the start, then {first} and {second}: " +
            (first != second ? "DIFFERENT" : moved ? "identical, deterministic" : "UNCHANGED: training did not move the weights"));
        return first == second && moved ? ExitCodes.Ok : ExitCodes.Failure;
    }
}
