using System.Globalization;
using System.Text.Json;
using SpecNet.Diagnostics;
using SpecNet.Checking;
using SpecNet.Formats;

namespace SpecNet.Training;

/// <summary>
/// Everything needed to continue a run bit for bit: parameters (moving statistics included), optimizer
/// state and step count, the random generators, the epoch's example order and position, the epochs so
/// far, and each callback's state. A safetensors file (format specnet-checkpoint/1), written atomically,
/// so `kill -9` at any moment leaves the previous complete checkpoint.
/// </summary>
public static class Checkpoint
{
    public const string Format = "specnet-checkpoint/1";
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string DefaultPath(string weightsPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(weightsPath)) ?? ".", Path.GetFileNameWithoutExtension(weightsPath) + ".checkpoint.safetensors");

    /// <summary>
    /// Where the run in the checkpoint at <paramref name="path"/> stopped ("epoch 3 of 5, step 40"), when it is a run of this very
    /// spec text that neither finished its epochs nor stopped early (an interrupted run, or one a NaN loss ended); else null,
    /// also for a file that cannot be read. A new run would write over it, and with it the way to resume.
    /// </summary>
    public static string? Unfinished(string path, ModelSpec model)
    {
        IReadOnlyDictionary<string, string> meta;
        try { meta = SafeTensors.ReadMetadata(path); }
        catch (SpecNetException) { return null; }
        if (meta.GetValueOrDefault("format") != Format || meta.GetValueOrDefault("spec") != model.SourceText || meta.GetValueOrDefault("stopped") == "true") return null;
        if (!int.TryParse(meta.GetValueOrDefault("epoch"), NumberStyles.Integer, Inv, out var epoch)
            || !int.TryParse(meta.GetValueOrDefault("step"), NumberStyles.Integer, Inv, out var step)) return null;
        List<EpochReport>? history;
        try { history = JsonSerializer.Deserialize<List<EpochReport>>(meta.GetValueOrDefault("history", "[]")); }
        catch (JsonException) { return null; }
        if (history is { Count: > 0 } && epoch > history[^1].Epochs) return null;          // every planned epoch done
        return history is { Count: > 0 } ? $"epoch {epoch} of {history[^1].Epochs}, step {step}" : $"epoch {epoch}, step {step}";
    }

    /// <summary>Writes the run as it stands, to continue at (<paramref name="epoch"/>, <paramref name="step"/>).</summary>
    public static void Save(string path, TrainingRun run, int epoch, int step, IReadOnlyList<TrainingCallback> callbacks)
    {
        var model = run.Model;
        var tensors = new List<Tensor>();
        foreach (var slot in run.Parameters.Slots) tensors.Add(new Tensor(slot.Name, [slot.Value.Length], slot.Value));
        var trainable = run.Parameters.Trainable.ToList();
        var state = run.Optimizer.State;
        for (int i = 0; i < trainable.Count; i++)
            for (int k = 0; k < state[i].Length; k++)
                tensors.Add(new Tensor($"optimizer.{trainable[i].Name}.{k}", [state[i][k].Length], state[i][k]));
        // Example indices are exact in float32 up to 2^24 (16.7 million examples).
        tensors.Add(new Tensor("train.order", [run.Order.Length], run.Order.Select(v => (float)v).ToArray()));
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format, ["spec"] = model.SourceText, ["spec_hash"] = model.StructuralHash, ["spec_name"] = model.Name,
            ["specnet_version"] = WeightsFile.Version, ["optimizer"] = model.Training.Optimizer.Name,
            ["epoch"] = epoch.ToString(Inv), ["step"] = step.ToString(Inv), ["iterations"] = run.Optimizer.Iterations.ToString(Inv),
            ["seed"] = run.Seed.ToString(Inv), ["batch_size"] = run.BatchSize.ToString(Inv),
            ["shuffle_rng"] = string.Join(",", run.Shuffle.State), ["dropout_rng"] = string.Join(",", run.Plan.Dropout.State),
            ["loss_sum"] = run.LossSum.ToString("R", Inv), ["correct"] = run.Correct.ToString(Inv),
            ["history"] = JsonSerializer.Serialize(run.History), ["stopped"] = run.Stopped ? "true" : "false",
        };
        if (run.Augmenter is { } augmenter) metadata["augment_rng"] = string.Join(",", augmenter.Random.State);
        if (run.Optimizer.LearningRateOverride is { } rate) metadata["learning_rate"] = rate.ToString("R", Inv); // set by reduce_lr_on_plateau
        foreach (var callback in callbacks) callback.SaveState(metadata, tensors);
        SafeTensors.Write(path, tensors, metadata);
    }

    /// <summary>Restores a run in place (parameters, optimizer, position, generators, history, callbacks) from a checkpoint of the same spec, seed and batch size.</summary>
    public static void Load(string path, TrainingRun run, IReadOnlyList<TrainingCallback> callbacks)
    {
        var model = run.Model;
        var (tensors, meta) = SafeTensors.Read(path);
        if (meta.GetValueOrDefault("format") != Format)
            throw new SpecNetException($"{path}: not a SpecNet checkpoint (format '{meta.GetValueOrDefault("format", "none")}')", "pass the .checkpoint.safetensors file train writes");
        if (meta.GetValueOrDefault("spec_hash") != model.StructuralHash)
            throw new SpecNetException($"{path} was written for another spec ('{meta.GetValueOrDefault("spec_name")}', hash {meta.GetValueOrDefault("spec_hash")}; this one is {model.StructuralHash}):\n    "
                + string.Join("\n    ", Differences(meta.GetValueOrDefault("spec", ""), path, model)), "resume with the spec the run started with, or start afresh without --resume");
        foreach (var (key, expected) in new[] { ("seed", run.Seed), ("batch_size", run.BatchSize) })
            if (meta.GetValueOrDefault(key) != expected.ToString(Inv))
                throw new SpecNetException($"{path}: the run used {key} {meta.GetValueOrDefault(key)}, not {expected}", $"resume with the same {key} (or start afresh)");
        if (meta.GetValueOrDefault("optimizer") != model.Training.Optimizer.Name)
            throw new SpecNetException($"{path}: the run used optimizer {meta.GetValueOrDefault("optimizer")}, the spec now says {model.Training.Optimizer.Name}");

        var byName = tensors.ToDictionary(t => t.Name);
        float[] Get(string name, int length) => byName.TryGetValue(name, out var t) && t.Data.Length == length ? t.Data
            : throw new SpecNetException($"{path}: tensor '{name}' is missing or the wrong size", "the checkpoint is damaged; start afresh");
        foreach (var slot in run.Parameters.Slots) Get(slot.Name, slot.Value.Length).CopyTo(slot.Value, 0);
        var trainable = run.Parameters.Trainable.ToList();
        var state = run.Optimizer.State;
        for (int i = 0; i < trainable.Count; i++)
            for (int k = 0; k < state[i].Length; k++)
                Get($"optimizer.{trainable[i].Name}.{k}", state[i][k].Length).CopyTo(state[i][k], 0);
        run.Optimizer.Iterations = long.Parse(meta["iterations"], Inv);
        if (meta.TryGetValue("learning_rate", out var rate)) run.Optimizer.LearningRateOverride = double.Parse(rate, Inv);
        if (byName.TryGetValue("train.order", out var saved) && saved.Data.Length != run.Order.Length)
            throw new SpecNetException($"{path}: the run had {saved.Data.Length:N0} training examples, the data now has {run.Order.Length:N0}", "resume with the same data");
        var order = Get("train.order", run.Order.Length);
        run.Order = order.Select(v => (int)v).ToArray();
        static uint[] Generator(string text) => text.Split(',').Select(v => uint.Parse(v, Inv)).ToArray();
        run.Shuffle.State = Generator(meta["shuffle_rng"]);
        run.Plan.Dropout.State = Generator(meta["dropout_rng"]);
        if (run.Augmenter is not null && meta.TryGetValue("augment_rng", out var a)) run.Augmenter.Random.State = Generator(a);
        run.Epoch = int.Parse(meta["epoch"], Inv);
        run.Step = int.Parse(meta["step"], Inv);
        run.LossSum = double.Parse(meta["loss_sum"], Inv);
        run.Correct = int.Parse(meta["correct"], Inv);
        run.History.AddRange(JsonSerializer.Deserialize<List<EpochReport>>(meta.GetValueOrDefault("history", "[]")) ?? []);
        if (meta.GetValueOrDefault("stopped") == "true") run.Stop();
        foreach (var callback in callbacks) callback.RestoreState(meta, byName);
    }

    /// <summary>What changed between the checkpoint's spec and this one, layer by layer.</summary>
    private static IEnumerable<string> Differences(string oldText, string path, ModelSpec model)
    {
        var old = SpecCompiler.Compile(oldText, path + "#spec").Model;
        if (old is null) return ["the checkpoint's spec does not compile any more"];
        return StructureDiff.Layers(old, model).Where(c => c.Change != "same").Select(c => c.Change switch
        {
            "added" => $"layer '{c.B!.Name}' ({c.B.Kind}) is new",
            "removed" => $"layer '{c.A!.Name}' ({c.A.Kind}) is gone",
            _ => $"layer '{c.A!.Name}': {string.Join("; ", c.Details)}",
        });
    }
}

/// <summary>Training stopped on request (Ctrl+C, SIGTERM) after writing a checkpoint.</summary>
public sealed class TrainingInterruptedException(string checkpoint, int epoch, int step) : OperationCanceledException("training interrupted")
{
    public string CheckpointPath { get; } = checkpoint;
    public int Epoch { get; } = epoch;
    public int Step { get; } = step;
}
