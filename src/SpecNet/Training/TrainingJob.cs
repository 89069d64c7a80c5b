using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SpecNet.Diagnostics;
using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Formats;
using SpecNet.Planning;

namespace SpecNet.Training;

/// <summary>How one `specnet train` run differs from what the spec says, and where its files go.</summary>
public sealed record TrainingOptions(int Epochs, int BatchSize, int Seed, string WeightsPath, string CheckpointPath)
{
    /// <summary>Also checkpoint every N steps (0: after each epoch only).</summary>
    public int CheckpointEvery { get; init; }
    public bool Resume { get; init; }

    /// <summary>The spec's settings, and files beside <paramref name="weightsPath"/>.</summary>
    public static TrainingOptions For(ModelSpec model, string weightsPath, int? epochs = null, int? batchSize = null, int? seed = null) =>
        new(epochs ?? model.Training.Epochs, batchSize ?? model.Training.BatchSize, seed ?? model.Training.Seed, weightsPath, Checkpoint.DefaultPath(weightsPath));
}

/// <summary>What a finished run produced.</summary>
public sealed record TrainingOutcome(TrainingResult Result, string WeightsPath, string MetricsOn, EarlyStopping? EarlyStopping, string? BestWeightsPath)
{
    public EpochReport Last => Result.Epochs[^1];
}

/// <summary>
/// One `train` run from start to written weights: the trainer with its callbacks (checkpoints, early
/// stopping, keep-best), the run's provenance in the weights file, and its events. Commands only render.
/// </summary>
public static class TrainingJob
{
    /// <summary>
    /// Fails now, with the reason, if the run could not resume as asked or write its weights and checkpoint at the end. Its
    /// caller runs it before <see cref="Run"/>, ahead of loading the data (train does).
    /// </summary>
    public static void CheckOutputs(ModelSpec model, TrainingOptions options)
    {
        if (options.Resume && !File.Exists(options.CheckpointPath))
            throw new SpecNetException($"{options.CheckpointPath}: no checkpoint to resume from", "train without --resume, or pass --checkpoint PATH");
        // A run started again by mistake (without --resume) would replace an interrupted run's checkpoint with its own first one.
        if (!options.Resume && File.Exists(options.CheckpointPath) && Checkpoint.Unfinished(options.CheckpointPath, model) is { } where)
            throw new SpecNetException($"{options.CheckpointPath}: holds an unfinished run of this spec ({where}); a new run would write over it",
                "continue it with --resume; to start over, delete the file or give --checkpoint another path");
        AtomicFile.CheckWritable(options.WeightsPath, "weights", $"{model.Name}.safetensors");
        AtomicFile.CheckWritable(options.CheckpointPath, "checkpoint", $"{model.Name}.checkpoint.safetensors");
    }

    public static TrainingOutcome Run(ModelSpec model, DataSplits data, IEngine engine, TrainingOptions options,
        Action<JsonObject>? events = null, Action<EpochReport>? onEpoch = null, Action<StepReport>? onStep = null, CancellationToken cancel = default)
    {
        var monitor = data.Monitor;
        string on = MetricsOn(data);
        IReadOnlyDictionary<string, string> Provenance(IReadOnlyList<EpochReport> history) => TrainingEvents.Provenance(model, data.Train, engine, options, history, on);

        var callbacks = new List<TrainingCallback>();
        var early = model.Training.EarlyStopping is { } es ? new EarlyStopping(es) : null;
        if (early is not null) callbacks.Add(early);
        if (model.Training.ReduceLearningRate is { } plateau)
        {
            if (plateau.OnValidation && monitor is null)
                throw new SpecNetException($"{model.SourcePath}: reduce_lr_on_plateau monitors {plateau.MonitorName}, but the data has no validation or test set",
                    "add data.test or data.validation_split, or monitor loss / accuracy");
            callbacks.Add(new ReduceLearningRateOnPlateau(plateau));
        }
        var watched = model.Training.EarlyStopping?.Monitor ?? (monitor is null ? Metric.Loss : Metric.ValLoss);
        if (model.Training.EarlyStopping is { OnValidation: true } && monitor is null)
            throw new SpecNetException($"{model.SourcePath}: early_stopping monitors {model.Training.EarlyStopping.MonitorName}, but the data has no validation or test set",
                "add data.test or data.validation_split, or monitor loss / accuracy");
        string? bestPath = model.Training.KeepBest ? Path.ChangeExtension(options.WeightsPath, null) + ".best.safetensors" : null;
        if (bestPath is not null) callbacks.Add(new KeepBest(bestPath, watched, model.Training.EarlyStopping?.MinDelta ?? 0, () => Provenance([])));
        callbacks.Add(new Checkpointer(options.CheckpointPath, options.CheckpointEvery, [.. callbacks])
        {
            Written = (epoch, step) => events?.Invoke(TrainingEvents.Checkpoint(options.CheckpointPath, epoch, step)),
        });

        var (initial, warmStart) = WarmStart.Initial(model, options.Seed);
        var trainer = new Trainer(model, initial, engine, options.Epochs, options.BatchSize, options.Seed)
        {
            Callbacks = callbacks,
            ResumeFrom = options.Resume ? options.CheckpointPath : null,
        };
        events?.Invoke(TrainingEvents.Start(model, data, engine, options));
        if (warmStart is not null) events?.Invoke(TrainingEvents.InitFrom(warmStart));
        var result = trainer.Fit(data.Train, monitor, report =>
        {
            events?.Invoke(TrainingEvents.Epoch(report, on));
            onEpoch?.Invoke(report);
        }, onStep, cancel);
        WeightsFile.Save(options.WeightsPath, trainer.Parameters, Provenance(result.Epochs));
        var outcome = new TrainingOutcome(result, options.WeightsPath, on, early, bestPath);
        events?.Invoke(TrainingEvents.Done(outcome));
        return outcome;
    }

    /// <summary>"val" when per-epoch metrics are on validation data, "test" when on the test data.</summary>
    public static string MetricsOn(DataSplits data) => data.Validation is null ? "test" : "val";
}

/// <summary>A run's events as JSON objects (`train --json` prints one per line) and its provenance as weights metadata.</summary>
public static class TrainingEvents
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private static double Round(double v) => Math.Round(v, 6);

    public static JsonObject Start(ModelSpec model, DataSplits data, IEngine engine, TrainingOptions options) => new()
    {
        ["event"] = "start", ["spec"] = model.Name, ["params"] = model.TotalParameters, ["train"] = data.Train.Count, ["test"] = data.Test?.Count,
        ["validation"] = data.Validation?.Count, ["epochs"] = options.Epochs, ["batch_size"] = options.BatchSize, ["seed"] = options.Seed,
        ["backend"] = engine.Name, ["instruction_set"] = engine.Device, ["threads"] = engine.Threads,
    };

    public static JsonObject Epoch(EpochReport report, string on) => new()
    {
        ["event"] = "epoch", ["epoch"] = report.Epoch, ["epochs"] = report.Epochs, ["loss"] = Round(report.Loss), ["accuracy"] = Round(report.Accuracy),
        [$"{on}_loss"] = report.TestLoss is { } tl ? Round(tl) : null, [$"{on}_accuracy"] = report.TestAccuracy is { } ta ? Round(ta) : null,
        ["seconds"] = Math.Round(report.Seconds, 3), ["images_per_second"] = Math.Round(report.ImagesPerSecond),
        ["learning_rate"] = report.LearningRate,
    };

    public static JsonObject InitFrom(WarmStart from) => new()
    {
        ["event"] = "init_from", ["path"] = from.Path, ["fingerprint"] = from.Fingerprint,
        ["loaded"] = new JsonArray(from.Loaded.Select(s => (JsonNode)s.Name).ToArray()),
        ["fresh"] = new JsonArray(from.Fresh.Select(s => (JsonNode)s.Name).ToArray()),
        ["skipped"] = new JsonArray(from.Skipped.Select(s => (JsonNode)s.Slot.Name).ToArray()),
    };

    public static JsonObject Checkpoint(string path, int epoch, int step) => new()
    {
        ["event"] = "checkpoint", ["path"] = path, ["epoch"] = epoch, ["step"] = step,
    };

    public static JsonObject Done(TrainingOutcome outcome) => new()
    {
        ["event"] = "done", ["weights"] = outcome.WeightsPath,
        [$"{outcome.MetricsOn}_accuracy"] = outcome.Last.TestAccuracy is { } t ? Round(t) : null,
        ["stopped_early_after"] = outcome.EarlyStopping is { StoppedEpoch: > 0 } e ? e.StoppedEpoch : null,
    };

    /// <summary>"Epoch 3/5  loss 0.1234  accuracy 0.9600  val_loss ...  1.5s  5,000 images/s".</summary>
    public static string EpochLine(EpochReport report, string on) =>
        FormattableString.Invariant($"Epoch {report.Epoch}/{report.Epochs}  loss {report.Loss:0.0000}  accuracy {report.Accuracy:0.0000}") +
        (report.TestAccuracy is { } acc ? FormattableString.Invariant($"  {on}_loss {report.TestLoss:0.0000}  {on}_accuracy {acc:0.0000}") : "") +
        (report.LearningRate is { } lr ? FormattableString.Invariant($"  lr {lr:G4}") : "") +
        FormattableString.Invariant($"  {report.Seconds:0.0}s  {report.ImagesPerSecond:N0} images/s");

    /// <summary>How the weights were made: seed, epochs, data and its fingerprint, final metrics, engine, history, class names.</summary>
    public static IReadOnlyDictionary<string, string> Provenance(ModelSpec model, Dataset train, IEngine engine, TrainingOptions options,
        IReadOnlyList<EpochReport> history, string on)
    {
        var provenance = new Dictionary<string, string>
        {
            [WeightsFile.Keys.Seed] = options.Seed.ToString(Inv),
            [WeightsFile.Keys.Epochs] = options.Epochs.ToString(Inv),
            [WeightsFile.Keys.Dataset] = model.Data?.Dataset ?? model.Data?.Train?.Path ?? "",
            [WeightsFile.Keys.DatasetFingerprint] = train.Fingerprint(),
            [WeightsFile.Keys.Backend] = engine.ToString() ?? "",
            [WeightsFile.Keys.History] = JsonSerializer.Serialize(history),
            [WeightsFile.Keys.Labels] = train.ClassNames is { } names ? JsonSerializer.Serialize(names) : "",
        };
        if (model.Training.InitFrom is { } from) provenance["init_from"] = $"{Path.GetFileName(from)}";
        var frozen = model.Layers.Where(l => l.Frozen && l.Parameters.Count > 0).Select(l => l.Name).ToList();
        if (frozen.Count > 0) provenance["frozen"] = string.Join(",", frozen);
        if (history.Count == 0) return provenance;
        var last = history[^1];
        provenance[WeightsFile.Keys.TrainLoss] = Round(last.Loss).ToString(Inv);
        provenance[WeightsFile.Keys.TrainAccuracy] = Round(last.Accuracy).ToString(Inv);
        if (last.TestAccuracy is { } accuracy)
        {
            provenance[on == "val" ? "val_accuracy" : WeightsFile.Keys.TestAccuracy] = Round(accuracy).ToString(Inv);
            provenance[on == "val" ? "val_loss" : WeightsFile.Keys.TestLoss] = Round(last.TestLoss!.Value).ToString(Inv);
        }
        return provenance;
    }
}
