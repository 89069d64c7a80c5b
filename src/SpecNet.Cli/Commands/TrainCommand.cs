using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Formats;
using SpecNet.Planning;
using SpecNet.Training;

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
        var command = new Command("train", "Train a spec on its data and write the weights.\n\nExample: specnet train specs/mnist-cnn.yaml")
            { spec, output, epochs, batch, seed, json, backend };
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
            var (train, test) = DataLoader.Load(model, line => err.WriteLine(line));
            var trainer = new Trainer(model, ParameterSet.Initialize(model, result.GetValue(seed) ?? model.Training.Seed), kernels,
                result.GetValue(epochs), result.GetValue(batch), result.GetValue(seed));
            int epochCount = result.GetValue(epochs) ?? model.Training.Epochs, batchSize = result.GetValue(batch) ?? model.Training.BatchSize;
            int seedValue = result.GetValue(seed) ?? model.Training.Seed;
            var weightsPath = result.GetValue(output) ?? Common.DefaultWeightsPath(specPath, model);

            if (asJson)
                o.WriteLine(new JsonObject
                {
                    ["event"] = "start", ["spec"] = model.Name, ["params"] = model.TotalParameters, ["train"] = train.Count, ["test"] = test?.Count,
                    ["epochs"] = epochCount, ["batch_size"] = batchSize, ["seed"] = seedValue,
                    ["backend"] = kernels.Name, ["instruction_set"] = kernels.InstructionSet, ["threads"] = kernels.Threads,
                }.ToJsonString());
            else
            {
                o.WriteLine($"Training {model.Name} ({ModelSummary.N(model.TotalParameters)} parameters) on {train.Name.Split('/')[0]}: " +
                            $"{train.Count:N0} train / {test?.Count ?? 0:N0} test images, {epochCount} epochs, batch {batchSize}, seed {seedValue}");
                o.WriteLine($"Backend: {kernels}");
            }

            var run = trainer.Fit(train, test, report =>
            {
                if (asJson)
                    o.WriteLine(new JsonObject
                    {
                        ["event"] = "epoch", ["epoch"] = report.Epoch, ["epochs"] = report.Epochs, ["loss"] = Round(report.Loss), ["accuracy"] = Round(report.Accuracy),
                        ["test_loss"] = report.TestLoss is { } tl ? Round(tl) : null, ["test_accuracy"] = report.TestAccuracy is { } ta ? Round(ta) : null,
                        ["seconds"] = Math.Round(report.Seconds, 3), ["images_per_second"] = Math.Round(report.ImagesPerSecond),
                    }.ToJsonString());
                else
                    o.WriteLine(FormattableString.Invariant($"Epoch {report.Epoch}/{report.Epochs}  loss {report.Loss:0.0000}  accuracy {report.Accuracy:0.0000}") +
                        (report.TestAccuracy is { } acc ? FormattableString.Invariant($"  test_loss {report.TestLoss:0.0000}  test_accuracy {acc:0.0000}") : "") +
                        FormattableString.Invariant($"  {report.Seconds:0.0}s  {report.ImagesPerSecond:N0} images/s"));
            });

            var last = run.Epochs[^1];
            var provenance = new Dictionary<string, string>
            {
                [WeightsFile.Keys.Seed] = seedValue.ToString(CultureInfo.InvariantCulture),
                [WeightsFile.Keys.Epochs] = epochCount.ToString(CultureInfo.InvariantCulture),
                [WeightsFile.Keys.Dataset] = model.Data?.Dataset ?? model.Data?.Train?.Images ?? "",
                [WeightsFile.Keys.DatasetFingerprint] = train.Fingerprint(),
                [WeightsFile.Keys.TrainLoss] = Round(last.Loss).ToString(CultureInfo.InvariantCulture),
                [WeightsFile.Keys.TrainAccuracy] = Round(last.Accuracy).ToString(CultureInfo.InvariantCulture),
                [WeightsFile.Keys.Backend] = kernels.ToString(),
            };
            if (last.TestAccuracy is { } testAccuracy)
            {
                provenance[WeightsFile.Keys.TestAccuracy] = Round(testAccuracy).ToString(CultureInfo.InvariantCulture);
                provenance[WeightsFile.Keys.TestLoss] = Round(last.TestLoss!.Value).ToString(CultureInfo.InvariantCulture);
            }
            WeightsFile.Save(weightsPath, trainer.Parameters, provenance);
            if (asJson)
                o.WriteLine(new JsonObject { ["event"] = "done", ["weights"] = weightsPath, ["test_accuracy"] = last.TestAccuracy is { } t ? Round(t) : null }.ToJsonString());
            else
                o.WriteLine($"Weights written to {weightsPath}" + (last.TestAccuracy is { } t ? $" (test accuracy {Common.Percent(t)})" : ""));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static double Round(double v) => Math.Round(v, 6);
}
