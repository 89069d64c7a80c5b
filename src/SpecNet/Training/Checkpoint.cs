using SpecNet.Diagnostics;
using System.Globalization;
using SpecNet.Checking;
using SpecNet.Formats;
using SpecNet.Planning;
using SpecNet.Training.Optimizers;

namespace SpecNet.Training;

/// <summary>Where a run is: the next step to take, and what the epoch so far has summed.</summary>
public sealed record TrainingPosition(int Epoch, int Step, int[] Order, uint[] ShuffleRng, uint[] DropoutRng, double LossSum, int Correct,
    IReadOnlyList<EpochReport> History)
{
    /// <summary>The augmentation generator's state, when the spec augments.</summary>
    public uint[]? AugmentRng { get; init; }
}

/// <summary>
/// Everything needed to continue a run bit for bit: parameters (moving statistics included), optimizer
/// state and step count, both random generators, the epoch's example order and position, and the
/// epochs so far. A safetensors file (format specnet-checkpoint/1), written atomically, so `kill -9` at
/// any moment leaves the previous complete checkpoint.
/// </summary>
public static class Checkpoint
{
    public const string Format = "specnet-checkpoint/1";
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string DefaultPath(string weightsPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(weightsPath)) ?? ".", Path.GetFileNameWithoutExtension(weightsPath) + ".checkpoint.safetensors");

    public static void Save(string path, ModelSpec model, ParameterSet parameters, Optimizer optimizer, TrainingPosition position, int seed, int batchSize,
        (Dictionary<string, string> Metadata, List<Tensor> Tensors) extra = default)
    {
        var tensors = new List<Tensor>();
        foreach (var slot in parameters.Slots) tensors.Add(new Tensor(slot.Name, [slot.Value.Length], slot.Value));
        var trainable = parameters.Trainable.ToList();
        for (int i = 0; i < trainable.Count; i++)
            for (int k = 0; k < optimizer.State[i].Length; k++)
                tensors.Add(new Tensor($"optimizer.{trainable[i].Name}.{k}", [optimizer.State[i][k].Length], optimizer.State[i][k]));
        // Example indices are exact in float32 up to 2^24 (16.7 million examples).
        tensors.Add(new Tensor("train.order", [position.Order.Length], position.Order.Select(v => (float)v).ToArray()));
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format, ["spec"] = model.SourceText, ["spec_hash"] = model.StructuralHash, ["spec_name"] = model.Name,
            ["specnet_version"] = WeightsFile.Version, ["optimizer"] = model.Training.Optimizer.Name,
            ["epoch"] = position.Epoch.ToString(Inv), ["step"] = position.Step.ToString(Inv), ["iterations"] = optimizer.Iterations.ToString(Inv),
            ["seed"] = seed.ToString(Inv), ["batch_size"] = batchSize.ToString(Inv),
            ["shuffle_rng"] = string.Join(",", position.ShuffleRng), ["dropout_rng"] = string.Join(",", position.DropoutRng),
            ["loss_sum"] = position.LossSum.ToString("R", Inv), ["correct"] = position.Correct.ToString(Inv),
            ["history"] = System.Text.Json.JsonSerializer.Serialize(position.History),
        };
        if (position.AugmentRng is { } augment) metadata["augment_rng"] = string.Join(",", augment);
        if (extra.Metadata is not null) foreach (var (k, v) in extra.Metadata) metadata[k] = v;
        if (extra.Tensors is not null) tensors.AddRange(extra.Tensors);
        SafeTensors.Write(path, tensors, metadata);
    }

    /// <summary>Restores parameters and optimizer state in place and returns the position to continue from.</summary>
    public static TrainingPosition Load(string path, ModelSpec model, ParameterSet parameters, Optimizer optimizer, int seed, int batchSize)
    {
        var (tensors, meta) = SafeTensors.Read(path);
        if (meta.GetValueOrDefault("format") != Format)
            throw new SpecNetException($"{path}: not a SpecNet checkpoint (format '{meta.GetValueOrDefault("format", "none")}')", "pass the .checkpoint.safetensors file train writes");
        if (meta.GetValueOrDefault("spec_hash") != model.StructuralHash)
        {
            var old = SpecCompiler.Compile(meta.GetValueOrDefault("spec", ""), path + "#spec").Model;
            var differences = old is null ? ["the checkpoint's spec does not compile any more"] :
                StructureDiff.Layers(old, model).Where(c => c.Change != "same")
                    .Select(c => c.Change switch
                    {
                        "added" => $"layer '{c.B!.Name}' ({c.B.Kind.Name}) is new",
                        "removed" => $"layer '{c.A!.Name}' ({c.A.Kind.Name}) is gone",
                        _ => $"layer '{c.A!.Name}': {string.Join("; ", c.Details)}",
                    }).ToList();
            throw new SpecNetException($"{path} was written for another spec ('{meta.GetValueOrDefault("spec_name")}', hash {meta.GetValueOrDefault("spec_hash")}; this one is {model.StructuralHash}):\n    "
                + string.Join("\n    ", differences), "resume with the spec the run started with, or start afresh without --resume");
        }
        foreach (var (key, expected) in new[] { ("seed", seed), ("batch_size", batchSize) })
            if (meta.GetValueOrDefault(key) != expected.ToString(Inv))
                throw new SpecNetException($"{path}: the run used {key} {meta.GetValueOrDefault(key)}, not {expected}", $"resume with the same {key} (or start afresh)");
        if (meta.GetValueOrDefault("optimizer") != model.Training.Optimizer.Name)
            throw new SpecNetException($"{path}: the run used optimizer {meta.GetValueOrDefault("optimizer")}, the spec now says {model.Training.Optimizer.Name}");

        var byName = tensors.ToDictionary(t => t.Name);
        float[] Get(string name, int length) => byName.TryGetValue(name, out var t) && t.Data.Length == length ? t.Data
            : throw new SpecNetException($"{path}: tensor '{name}' is missing or the wrong size", "the checkpoint is damaged; start afresh");
        foreach (var slot in parameters.Slots) Get(slot.Name, slot.Value.Length).CopyTo(slot.Value, 0);
        var trainable = parameters.Trainable.ToList();
        for (int i = 0; i < trainable.Count; i++)
            for (int k = 0; k < optimizer.State[i].Length; k++)
                Get($"optimizer.{trainable[i].Name}.{k}", optimizer.State[i][k].Length).CopyTo(optimizer.State[i][k], 0);
        optimizer.Iterations = long.Parse(meta["iterations"], Inv);
        var order = byName.TryGetValue("train.order", out var o) ? o.Data.Select(v => (int)v).ToArray()
            : throw new SpecNetException($"{path}: the example order is missing");
        static uint[] Rng(string text) => text.Split(',').Select(v => uint.Parse(v, Inv)).ToArray();
        var history = System.Text.Json.JsonSerializer.Deserialize<List<EpochReport>>(meta.GetValueOrDefault("history", "[]")) ?? [];
        return new TrainingPosition(int.Parse(meta["epoch"], Inv), int.Parse(meta["step"], Inv), order, Rng(meta["shuffle_rng"]), Rng(meta["dropout_rng"]),
            double.Parse(meta["loss_sum"], Inv), int.Parse(meta["correct"], Inv), history)
            { AugmentRng = meta.TryGetValue("augment_rng", out var a) ? Rng(a) : null };
    }
}

/// <summary>Training stopped on request (Ctrl+C, SIGTERM) after writing a checkpoint.</summary>
public sealed class TrainingInterruptedException(string checkpoint, int epoch, int step) : OperationCanceledException("training interrupted")
{
    public string CheckpointPath { get; } = checkpoint;
    public int Epoch { get; } = epoch;
    public int Step { get; } = step;
}
