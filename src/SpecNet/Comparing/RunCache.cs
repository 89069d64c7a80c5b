using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Formats;
using SpecNet.Training;

namespace SpecNet.Comparing;

/// <summary>What one training run left for comparisons: its test predictions and how long it took.</summary>
public sealed record RunRecord(string Key, string Spec, int Seed, int Epochs, int[] Predictions, double Accuracy, double Loss,
    double TrainSeconds, double ImagesPerSecond, bool Cached = false, IReadOnlyList<Training.EpochReport>? History = null);

/// <summary>
/// Finished runs, by spec structure, training settings, seed and data fingerprint, in
/// $SPECNET_CACHE/runs (else $XDG_CACHE_HOME/specnet/runs, else ~/.cache/specnet/runs), so a repeated or extended diff does not
/// retrain what it already has. Entries are written atomically; a damaged one is ignored and redone.
/// </summary>
public sealed class RunCache(string folder)
{
    public static RunCache Default => new(Path.Combine(
        Environment.GetEnvironmentVariable("SPECNET_CACHE") is { Length: > 0 } c ? c : NamedDatasets.UserCache, "runs"));

    public string Folder { get; } = folder;

    public static string KeyOf(ModelSpec model, int seed, int epochs, Dataset train, Dataset test)
    {
        var t = model.Training;
        // everything that changes what training learns: structure, training settings, the data and how it is prepared
        var data = model.Data;
        var text = $"{model.StructuralHash}|{t.Optimizer.Describe()}|{t.Loss}|{t.BatchSize}|{epochs}|{seed}|{t.EarlyStopping}|" +
                   $"{train.Fingerprint()}|{test.Fingerprint()}|{data?.Preprocessing.Describe()}|{data?.Augment}|{data?.ValidationSplit}|{data?.Resize}|{WeightsFile.Version}" +
                   (t.ReduceLearningRate is { } plateau ? $"|{plateau}" : "") + // added after runs were first cached: only when set, so their keys stay
                   (WarmStart.Plan(model) is { } from ? $"|init_from={from.Fingerprint}" : "") +
                   (model.Layers.Where(l => l.Frozen).Select(l => l.Name).ToList() is { Count: > 0 } frozen ? $"|frozen={string.Join(",", frozen)}" : "");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..24];
    }

    /// <summary>Where a run's weights are kept beside its record (sweeps copy the best trial's out).</summary>
    public string WeightsPath(string key) => Path.Combine(Folder, key + ".safetensors");

    public RunRecord? Find(string key)
    {
        var path = Path.Combine(Folder, key + ".json");
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<RunRecord>(File.ReadAllText(path)) is { } r && r.Key == key ? r with { Cached = true } : null; }
        catch (Exception e) when (e is JsonException or IOException or NotSupportedException) { return null; }
    }

    public void Save(RunRecord record)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(record with { Cached = false });
        AtomicFile.Write(Path.Combine(Folder, record.Key + ".json"), s => s.Write(json));
    }
}
