using SpecNet.Diagnostics;
using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Formats;
using SpecNet.Planning;
using SpecNet.Training;
using System.Runtime.InteropServices;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet train SPEC`: load the data the spec names, train, report each epoch, write the weights atomically.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var spec = new Argument<string>("spec") { Description = "the spec file (.yaml)" };
        var output = new Option<string?>("--output", "-o") { Description = "weights file to write (default: <spec name>.safetensors beside the spec)" };
        var epochs = new Option<int?>("--epochs") { Description = "override training.epochs" };
        var batch = new Option<int?>("--batch-size") { Description = "override training.batch_size" };
        var seed = new Option<int?>("--seed") { Description = "override training.seed" };
        var json = new Option<bool>("--json") { Description = "print JSON lines events (start, epoch, done) instead of text" };
        var backend = Common.BackendOption();
        var checkpoint = new Option<string?>("--checkpoint") { Description = "checkpoint file (default: <weights name>.checkpoint.safetensors beside the weights); written after every epoch" };
        var every = new Option<int>("--checkpoint-every") { Description = "also write the checkpoint every N steps" };
        var resume = new Option<bool>("--resume") { Description = "continue from the checkpoint, exactly where it stopped (bit-identical to an uninterrupted run)" };
        var determinism = new Option<bool>("--check-determinism") { Description = "train a few steps twice and compare the weights' hashes, then stop" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "print only the final line (and errors)" };
        var noProgress = new Option<bool>("--no-progress") { Description = "plain lines instead of a live progress bar (the default when output is not a terminal)" };
        var report = new Option<string?>("--report") { Description = "write a report into this folder: learning curves and confusion matrix (PNG), misclassified examples, index.html" };
        var command = new Command("train", "Train a spec on its data and write the weights. Ctrl+C writes a checkpoint; --resume continues from it.\n\nExample: specnet train specs/mnist-cnn.yaml")
            { spec, output, epochs, batch, seed, json, backend, checkpoint, every, resume, determinism, report, quiet, noProgress };
        command.SetAction(result =>
        {
            var o = result.InvocationConfiguration.Output;
            var err = result.InvocationConfiguration.Error;
            bool asJson = result.GetValue(json);
            var specPath = result.GetValue(spec)!;
            var model = Common.Compile(specPath);
            foreach (var (name, value) in new[] { ("--epochs", result.GetValue(epochs)), ("--batch-size", result.GetValue(batch)) })
                if (value is < 1) throw new SpecNetException($"{name} must be a positive whole number, not {value}");
            if (result.GetValue(seed) is < 0) throw new SpecNetException($"--seed must be zero or more");
            var kernels = Common.CreateBackend(result, backend, err);
            var splits = DataLoader.LoadSplits(model, line => err.WriteLine(line), ProgressLine.ForTerminal("loading data", err));
            var (train, test, monitor) = (splits.Train, splits.Test, splits.Monitor);
            // Per-epoch metrics are on the validation data when there is some ("val_"), else on the test data.
            var on = splits.Validation is null ? "test" : "val";
            int epochCount = result.GetValue(epochs) ?? model.Training.Epochs, batchSize = result.GetValue(batch) ?? model.Training.BatchSize;
            int seedValue = result.GetValue(seed) ?? model.Training.Seed;
            if (result.GetValue(determinism))
            {
                int steps = Math.Min(20, (train.Count + batchSize - 1) / batchSize + 1);
                var (first, second) = Determinism.Check(model, train, () => Common.CreateBackend(result, backend, TextWriter.Null), steps, seedValue, batchSize);
                o.WriteLine($"{steps} steps twice, backend {kernels}: weights {first} and {second}: {(first == second ? "identical, deterministic" : "DIFFERENT")}");
                return first == second ? ExitCodes.Ok : ExitCodes.Failure;
            }
            var weightsPath = result.GetValue(output) ?? Common.DefaultWeightsPath(specPath, model);
            var checkpointPath = result.GetValue(checkpoint) ?? Checkpoint.DefaultPath(weightsPath);
            if (result.GetValue(resume) && !File.Exists(checkpointPath))
                throw new SpecNetException($"{checkpointPath}: no checkpoint to resume from", "train without --resume, or pass --checkpoint PATH");
            if (result.GetValue(every) < 0) throw new SpecNetException("--checkpoint-every must be zero or more");
            var trainer = new Trainer(model, ParameterSet.Initialize(model, seedValue), kernels, epochCount, batchSize, seedValue)
            {
                CheckpointPath = checkpointPath,
                CheckpointEvery = result.GetValue(every),
                ResumeFrom = result.GetValue(resume) ? checkpointPath : null,
                KeepBestPath = model.Training.KeepBest ? Path.ChangeExtension(weightsPath, null) + ".best.safetensors" : null,
                OnCheckpoint = asJson ? (e, st) => o.WriteLine(new JsonObject { ["event"] = "checkpoint", ["path"] = checkpointPath, ["epoch"] = e, ["step"] = st }.ToJsonString()) : null,
            };

            if (asJson)
                o.WriteLine(new JsonObject
                {
                    ["event"] = "start", ["spec"] = model.Name, ["params"] = model.TotalParameters, ["train"] = train.Count, ["test"] = test?.Count,
                    ["epochs"] = epochCount, ["batch_size"] = batchSize, ["seed"] = seedValue,
                    ["backend"] = kernels.Name, ["instruction_set"] = kernels.InstructionSet, ["threads"] = kernels.Threads,
                }.ToJsonString());
            else if (!result.GetValue(quiet))
            {
                o.WriteLine($"Training {model.Name} ({ModelSummary.N(model.TotalParameters)} parameters) on {train.Name.Split('/')[0]}: " +
                            $"{train.Count:N0} train / {test?.Count ?? 0:N0} test images, {epochCount} epochs, batch {batchSize}, seed {seedValue}");
                o.WriteLine($"Backend: {kernels}");
            }

            using var interrupt = new Interrupt();
            TrainingResult run;
            try
            {
            string? EpochLine(EpochReport report)
            {
                if (result.GetValue(quiet)) return null;
                if (asJson)
                    return new JsonObject
                    {
                        ["event"] = "epoch", ["epoch"] = report.Epoch, ["epochs"] = report.Epochs, ["loss"] = Round(report.Loss), ["accuracy"] = Round(report.Accuracy),
                        [$"{on}_loss"] = report.TestLoss is { } tl ? Round(tl) : null, [$"{on}_accuracy"] = report.TestAccuracy is { } ta ? Round(ta) : null,
                        ["seconds"] = Math.Round(report.Seconds, 3), ["images_per_second"] = Math.Round(report.ImagesPerSecond),
                    }.ToJsonString();
                return FormattableString.Invariant($"Epoch {report.Epoch}/{report.Epochs}  loss {report.Loss:0.0000}  accuracy {report.Accuracy:0.0000}") +
                    (report.TestAccuracy is { } acc ? FormattableString.Invariant($"  {on}_loss {report.TestLoss:0.0000}  {on}_accuracy {acc:0.0000}") : "") +
                    FormattableString.Invariant($"  {report.Seconds:0.0}s  {report.ImagesPerSecond:N0} images/s");
            }
            bool live = !asJson && !result.GetValue(quiet) && !result.GetValue(noProgress) && ReferenceEquals(o, Console.Out) && !Console.IsOutputRedirected;
            run = live ? LiveProgress.Run(trainer, train, monitor, epochCount, EpochLine, interrupt.Token)
                       : trainer.Fit(train, monitor, report => { if (EpochLine(report) is { } line) o.WriteLine(line); }, cancel: interrupt.Token);
            }
            catch (TrainingInterruptedException stop)
            {
                err.WriteLine($"Interrupted at epoch {stop.Epoch}, step {stop.Step}; checkpoint written to {stop.CheckpointPath}");
                err.WriteLine($"Resume with: specnet train {specPath} --resume" + (result.GetValue(output) is { } w ? $" --output {w}" : ""));
                return 130;
            }
            if (run.Epochs.Count == 0) throw new SpecNetException($"{checkpointPath}: that run had already finished its {epochCount} epochs", "pass --epochs with a larger number to train further");

            if (trainer.StoppedEarly is { } stopped)
                (asJson ? err : o).WriteLine($"Early stopping after epoch {stopped.Epoch}: {model.Training.EarlyStopping!.Monitor} has not improved since epoch {stopped.BestEpoch}" +
                    (model.Training.EarlyStopping.RestoreBestWeights ? $"; the weights are epoch {stopped.BestEpoch}'s" : ""));
            var last = run.Epochs[^1];
            // The last epoch's metrics on the monitored data (validation when there is some: the test set stays untouched until eval).
            var final = run.Test;
            var provenance = new Dictionary<string, string>
            {
                [WeightsFile.Keys.Seed] = seedValue.ToString(CultureInfo.InvariantCulture),
                [WeightsFile.Keys.Epochs] = epochCount.ToString(CultureInfo.InvariantCulture),
                [WeightsFile.Keys.Dataset] = model.Data?.Dataset ?? model.Data?.Train?.Path ?? "",
                [WeightsFile.Keys.DatasetFingerprint] = train.Fingerprint(),
                [WeightsFile.Keys.TrainLoss] = Round(last.Loss).ToString(CultureInfo.InvariantCulture),
                [WeightsFile.Keys.TrainAccuracy] = Round(last.Accuracy).ToString(CultureInfo.InvariantCulture),
                [WeightsFile.Keys.Backend] = kernels.ToString(),
                [WeightsFile.Keys.History] = System.Text.Json.JsonSerializer.Serialize(run.Epochs),
                [WeightsFile.Keys.Labels] = train.ClassNames is { } classNames ? System.Text.Json.JsonSerializer.Serialize(classNames) : "",
            };
            if (last.TestAccuracy is { } testAccuracy)
            {
                provenance[on == "val" ? "val_accuracy" : WeightsFile.Keys.TestAccuracy] = Round(testAccuracy).ToString(CultureInfo.InvariantCulture);
                provenance[on == "val" ? "val_loss" : WeightsFile.Keys.TestLoss] = Round(last.TestLoss!.Value).ToString(CultureInfo.InvariantCulture);
            }
            WeightsFile.Save(weightsPath, trainer.Parameters, provenance);
            if (result.GetValue(report) is { } reportFolder)
            {
                var data = monitor ?? train;
                var evaluation = final ?? Evaluator.Evaluate(trainer.Parameters, kernels, data);
                var files = Reports.RunReport.Write(reportFolder, model, run.Epochs, data, evaluation);
                if (!asJson) o.WriteLine($"Report written to {Path.Combine(reportFolder, "index.html")} ({string.Join(", ", files)})");
            }
            if (asJson)
                o.WriteLine(new JsonObject { ["event"] = "done", ["weights"] = weightsPath, [$"{on}_accuracy"] = last.TestAccuracy is { } t ? Round(t) : null }.ToJsonString());
            else
                o.WriteLine($"Weights written to {weightsPath}" + (last.TestAccuracy is { } t ? $" ({(on == "val" ? "validation" : "test")} accuracy {Common.Percent(t)})" : ""));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static double Round(double v) => Math.Round(v, 6);
}

/// <summary>Turns the first Ctrl+C (SIGINT) or SIGTERM into a cancellation the trainer checks between steps.</summary>
internal sealed class Interrupt : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly PosixSignalRegistration[] _registrations;

    public Interrupt()
    {
        void Handler(PosixSignalContext context)
        {
            if (_source.IsCancellationRequested) return; // a second signal: let the runtime end the process
            context.Cancel = true;
            _source.Cancel();
        }
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, Handler), PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handler)];
    }

    public CancellationToken Token => _source.Token;

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _source.Dispose();
    }
}
