using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Diagnostics;
using SpecNet.Formats;
using SpecNet.Parsing;
using SpecNet.Planning;
using SpecNet.Training;

namespace SpecNet.Comparing;

/// <summary>One training seed of a trial: the ranked metric, test accuracy and loss, the time it took, and its test predictions (for paired statistics).</summary>
public sealed record SeedResult(int Seed, double Metric, double TestAccuracy, double TestLoss, double Seconds, bool Cached, int[] Predictions);

/// <summary>What a trial left in the sweep folder: ok with its seeds' results, or failed with the reason.</summary>
public sealed record TrialResult(int Trial, string Status, string? Error, IReadOnlyList<SeedResult> Seeds, long Parameters, long Macs)
{
    [System.Text.Json.Serialization.JsonIgnore] public bool Ok => Status == "ok";
    [System.Text.Json.Serialization.JsonIgnore] public double Metric => Seeds.Count == 0 ? double.NaN : Seeds.Average(s => s.Metric);
    [System.Text.Json.Serialization.JsonIgnore] public double Seconds => Seeds.Sum(s => s.Seconds);
}

/// <summary>A trial with its result, ranked: its metric (with an interval over seeds, or over test examples for one seed).</summary>
public sealed record RankedTrial(Trial Trial, TrialResult Result, Estimate Accuracy);

/// <summary>The outcome of a sweep: every trial ranked (failed ones last), and whether the best is significantly ahead of the runner-up.</summary>
public sealed record SweepOutcome(SweepSpec Sweep, IReadOnlyList<RankedTrial> Ranked, IReadOnlyList<RankedTrial> Failed, string? Note, string MetricOn)
{
    public RankedTrial? Best => Ranked.Count > 0 ? Ranked[0] : null;
}

/// <summary>
/// `specnet sweep`: trials written as specs into the sweep folder, each run (by an executor: here, a local
/// process pool, or a Slurm job array) as `specnet sweep SWEEP -o DIR --trial K`, which trains through the
/// run cache and leaves trials/trial-K.result.json; then the results are ranked, the best trial's spec and
/// weights copied out, and the best compared with the runner-up by diff's statistics.
/// The folder: trials/ (specs, results, weights), logs/, results.csv, results.json, best.yaml, best.safetensors.
/// </summary>
public static class Sweep
{
    public static string TrialsFolder(string dir) => Path.Combine(dir, "trials");
    public static string SpecPath(string dir, Trial t) => Path.Combine(TrialsFolder(dir), t.Name + ".yaml");
    public static string ResultPath(string dir, int trial) => Path.Combine(TrialsFolder(dir), $"trial-{trial:D3}.result.json");
    public static string WeightsPath(string dir, int trial) => Path.Combine(TrialsFolder(dir), $"trial-{trial:D3}.safetensors");
    public static string LogPath(string dir, int trial) => Path.Combine(dir, "logs", $"trial-{trial:D3}.log");

    /// <summary>Writes every trial's spec; a trial whose spec changed (an edited sweep) loses its old result. Returns the trials still to run.</summary>
    public static IReadOnlyList<Trial> Prepare(SweepSpec sweep, string dir, bool retryFailed)
    {
        OutputFolder.Create(TrialsFolder(dir), "sweep");
        OutputFolder.Create(Path.Combine(dir, "logs"), "sweep");
        var pending = new List<Trial>();
        foreach (var trial in sweep.Expand())
        {
            var path = SpecPath(dir, trial);
            var text = sweep.TrialSpec(trial, TrialsFolder(dir), $"{sweep.Base.Name}-{trial.Name}");
            if (!File.Exists(path) || File.ReadAllText(path) != text)
            {
                AtomicFile.Write(path, s => s.Write(Encoding.UTF8.GetBytes(text)));
                File.Delete(ResultPath(dir, trial.Index));
            }
            var result = ReadResult(dir, trial.Index);
            if (result is null || retryFailed && !result.Ok) pending.Add(trial);
        }
        return pending;
    }

    public static TrialResult? ReadResult(string dir, int trial)
    {
        var path = ResultPath(dir, trial);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<TrialResult>(File.ReadAllText(path)); }
        catch (Exception e) when (e is JsonException or IOException) { return null; }
    }

    public static void WriteResult(string dir, TrialResult result) =>
        AtomicFile.Write(ResultPath(dir, result.Trial), s => s.Write(JsonSerializer.SerializeToUtf8Bytes(result)));

    /// <summary>
    /// One trial, in this process: each seed trained (or found in the run cache) with per-epoch metrics on the
    /// validation data (else the test data), then evaluated on the test data. A failure (divergence, bad data)
    /// is recorded as the trial's result, not thrown.
    /// </summary>
    public static TrialResult RunTrial(SweepSpec sweep, string dir, int index, int? epochs, IEngine engine, RunCache cache, Action<string> log)
    {
        var trial = sweep.Expand().FirstOrDefault(t => t.Index == index)
            ?? throw new SpecNetException($"{sweep.SourcePath}: the sweep has {sweep.Trials} trials (0 to {sweep.Trials - 1}), not {index}");
        TrialResult result;
        try
        {
            var compilation = SpecCompiler.CompileFile(SpecPath(dir, trial));
            if (!compilation.Success) throw new SpecNetException($"{SpecPath(dir, trial)} does not check:\n{compilation.Render()}");
            var model = compilation.Model!;
            var data = DataLoader.LoadSplits(model, log);
            var test = data.Test ?? throw new SpecNetException($"{model.SourcePath}: the spec names no test set", "add data.test, or use a named dataset");
            int e = epochs ?? model.Training.Epochs;
            var seeds = new List<SeedResult>();
            for (int s = 0; s < sweep.Seeds; s++)
            {
                int seed = model.Training.Seed + s;
                var (record, weights) = TrainOrReuse(model, seed, e, data, cache, engine, log);
                var last = record.History![^1];
                seeds.Add(new SeedResult(seed, last.Value(sweep.Metric) ?? double.NaN, record.Accuracy, record.Loss, record.TrainSeconds, record.Cached, record.Predictions));
                if (s == 0) WeightsFile.Retarget(weights, WeightsPath(dir, index), model);
            }
            result = new TrialResult(index, "ok", null, seeds, model.TotalParameters, model.Macs);
        }
        catch (SpecNetException ex)
        {
            result = new TrialResult(index, "failed", ex.Message, [], 0, 0);
        }
        WriteResult(dir, result);
        return result;
    }

    /// <summary>A run from the cache (with its weights), or trained and put there.</summary>
    private static (RunRecord Record, string Weights) TrainOrReuse(ModelSpec model, int seed, int epochs, DataSplits data, RunCache cache, IEngine engine, Action<string> log)
    {
        var test = data.Test!;
        var key = RunCache.KeyOf(model, seed, epochs, data.Train, test) + (data.Validation is { } v ? "-val-" + v.Fingerprint()[..8] : "");
        var weights = cache.WeightsPath(key);
        if (cache.Find(key) is { History: { Count: > 0 } } hit && File.Exists(weights))
        {
            log($"{model.Name}, seed {seed}: cached (test accuracy {100 * hit.Accuracy:0.00}%)");
            return (hit, weights);
        }
        log($"{model.Name}, seed {seed}: training {epochs} epochs on {data.Train.Count:N0} images");
        var trainer = new Trainer(model, WarmStart.Initial(model, seed).Parameters, engine, epochs, seed: seed);
        var result = trainer.Fit(data.Train, data.Monitor);
        var evaluation = Evaluator.Evaluate(trainer.Parameters, engine, test);
        var record = new RunRecord(key, model.Name, seed, epochs, evaluation.Predictions, evaluation.Accuracy, evaluation.Loss,
            result.Epochs.Sum(r => r.Seconds), result.Epochs.Average(r => r.ImagesPerSecond), History: result.Epochs);
        WeightsFile.Save(weights, trainer.Parameters, new Dictionary<string, string> { [WeightsFile.Keys.Seed] = seed.ToString(CultureInfo.InvariantCulture) });
        cache.Save(record);
        log($"{model.Name}, seed {seed}: test accuracy {100 * record.Accuracy:0.00}%");
        return (record, weights);
    }

    /// <summary>Every trial's result ranked by the metric; the best trial's spec and weights copied out; best against runner-up.</summary>
    public static SweepOutcome Collect(SweepSpec sweep, string dir, Dataset? test)
    {
        var trials = sweep.Expand();
        var ranked = new List<RankedTrial>();
        var failed = new List<RankedTrial>();
        foreach (var trial in trials)
        {
            var result = ReadResult(dir, trial.Index) ?? new TrialResult(trial.Index, "missing", "no result: the trial has not run, or ended without one", [], 0, 0);
            var accuracy = result.Seeds.Count switch
            {
                0 => new Estimate(double.NaN, double.NaN, double.NaN),
                1 => Statistics.Wilson((int)Math.Round(result.Seeds[0].TestAccuracy * result.Seeds[0].Predictions.Length), result.Seeds[0].Predictions.Length),
                _ => Statistics.MeanWithT(result.Seeds.Select(s => s.TestAccuracy).ToList()).Mean,
            };
            var r = new RankedTrial(trial, result, accuracy);
            if (result.Ok && double.IsFinite(result.Metric)) ranked.Add(r); else failed.Add(r);
        }
        ranked = (sweep.Maximize ? ranked.OrderByDescending(r => r.Result.Metric) : ranked.OrderBy(r => r.Result.Metric)).ThenBy(r => r.Trial.Index).ToList();
        string? note = null;
        if (ranked.Count >= 2 && test is not null) note = Significance(ranked[0], ranked[1], test.Labels);
        bool validation = sweep.Base.Data?.HasValidation == true;
        if (!validation && sweep.Metric is Metric.ValAccuracy or Metric.ValLoss)
            note = $"the base spec has no validation data, so {MetricName(sweep)} is measured on the test set, which then also picks the best: add data.validation_split" +
                   (note is null ? "" : "\n" + note);
        var outcome = new SweepOutcome(sweep, ranked, failed, note, sweep.Metric is Metric.Loss or Metric.Accuracy ? "training" : validation ? "validation" : "test");
        if (ranked.Count > 0)
        {
            var best = ranked[0].Trial;
            var text = sweep.TrialSpec(best, dir, $"{sweep.Base.Name}-best");
            var bestText = $"# the best trial, {best.Name}\n" + text;
            AtomicFile.Write(Path.Combine(dir, "best.yaml"), s => s.Write(Encoding.UTF8.GetBytes(bestText)));
            // best.safetensors embeds best.yaml, whose paths are written for the sweep's folder, not for trials/.
            if (File.Exists(WeightsPath(dir, best.Index)))
                WeightsFile.Retarget(WeightsPath(dir, best.Index), Path.Combine(dir, "best.safetensors"), SpecCompiler.Compile(bestText, Path.Combine(dir, "best.yaml")).Model
                    ?? throw new SpecNetException($"{Path.Combine(dir, "best.yaml")}: does not check", "run specnet check on it"));
        }
        WriteTables(outcome, dir);
        return outcome;
    }

    /// <summary>The best against the runner-up on the test predictions, as `diff` compares (McNemar for one seed, paired t over several).</summary>
    private static string Significance(RankedTrial best, RankedTrial second, byte[] labels)
    {
        int seeds = Math.Min(best.Result.Seeds.Count, second.Result.Seeds.Count);
        var diffs = new List<double>();
        int onlyBest = 0, onlySecond = 0;
        for (int s = 0; s < seeds; s++)
        {
            int a = 0, b = 0;
            var (pa, pb) = (best.Result.Seeds[s].Predictions, second.Result.Seeds[s].Predictions);
            if (pa.Length != labels.Length || pb.Length != labels.Length) return "the best and the runner-up were tested on other data; no comparison";
            for (int i = 0; i < labels.Length; i++)
            {
                bool ra = pa[i] == labels[i], rb = pb[i] == labels[i];
                if (ra && !rb) a++; else if (rb && !ra) b++;
            }
            if (s == 0) (onlyBest, onlySecond) = (a, b);
            diffs.Add((a - b) / (double)labels.Length);
        }
        double p = seeds == 1 ? Statistics.McNemarExact(onlyBest, onlySecond) : Statistics.MeanWithT(diffs).P;
        var pText = p < 0.001 ? "p < 0.001" : $"p = {p.ToString("0.000", CultureInfo.InvariantCulture)}";
        var test = seeds == 1 ? "McNemar's exact test on the test set" : $"paired t-test over {seeds} seeds";
        return p < Comparison.Alpha
            ? $"{best.Trial.Name} is significantly more accurate on the test set than the runner-up {second.Trial.Name} ({test}, {pText})"
            : $"{best.Trial.Name} is not significantly better than the runner-up {second.Trial.Name} on the test set ({test}, {pText}): treat them as tied" +
              (seeds == 1 ? "; " + Comparison.OneSeedCaveat.Replace("--seeds 3", "seeds: 3 in the sweep") : "");
    }

    /// <summary>results.csv and results.json in the sweep folder.</summary>
    private static void WriteTables(SweepOutcome outcome, string dir)
    {
        var inv = CultureInfo.InvariantCulture;
        var sweep = outcome.Sweep;
        var csv = new StringBuilder();
        csv.Append("rank,trial,status,").Append(string.Join(",", sweep.Parameters.Select(p => Csv(p.Path))))
           .Append($",{MetricName(sweep)},test_accuracy,test_accuracy_low,test_accuracy_high,params,macs,train_seconds,error\n");
        int rank = 0;
        foreach (var r in outcome.Ranked.Concat(outcome.Failed))
        {
            bool ok = outcome.Ranked.Contains(r);
            csv.Append(ok ? (++rank).ToString(inv) : "").Append(',').Append(r.Trial.Index.ToString(inv)).Append(',').Append(r.Result.Status).Append(',')
               .Append(string.Join(",", r.Trial.Values.Select(v => Csv(v.Value.Write().Trim())))).Append(',')
               .Append(ok ? r.Result.Metric.ToString("R", inv) : "").Append(',')
               .Append(ok ? string.Create(inv, $"{r.Accuracy.Value:R},{r.Accuracy.Low:R},{r.Accuracy.High:R}") : ",,").Append(',')
               .Append(ok ? r.Result.Parameters.ToString(inv) : "").Append(',').Append(ok ? r.Result.Macs.ToString(inv) : "").Append(',')
               .Append(ok ? r.Result.Seconds.ToString("0.00", inv) : "").Append(',').Append(Csv(r.Result.Error ?? "")).Append('\n');
        }
        AtomicFile.Write(Path.Combine(dir, "results.csv"), s => s.Write(Encoding.UTF8.GetBytes(csv.ToString())));
        AtomicFile.Write(Path.Combine(dir, "results.json"), s => s.Write(Encoding.UTF8.GetBytes(ToJson(outcome).ToJsonString(new JsonSerializerOptions { WriteIndented = true }))));
    }

    public static string MetricName(SweepSpec sweep) => EarlyStoppingSpec.Monitors[(int)sweep.Metric];

    private static string Csv(string s) => s.Contains(',') || s.Contains('"') || s.Contains('\n') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;

    public static JsonObject ToJson(SweepOutcome outcome)
    {
        var sweep = outcome.Sweep;
        JsonNode Value(YamlTree v) => v is YamlScalar s && double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : v.Write().Trim();
        JsonObject Trial(RankedTrial r, int? rank) => new()
        {
            ["rank"] = rank, ["trial"] = r.Trial.Index, ["name"] = r.Trial.Name, ["status"] = r.Result.Status, ["error"] = r.Result.Error,
            ["parameters"] = new JsonObject(r.Trial.Values.Select(v => KeyValuePair.Create(v.Parameter.Path, (JsonNode?)Value(v.Value)))),
            [MetricName(sweep)] = r.Result.Ok ? Math.Round(r.Result.Metric, 6) : null,
            ["test_accuracy"] = r.Result.Ok ? Math.Round(r.Accuracy.Value, 6) : null,
            ["test_accuracy_ci"] = r.Result.Ok && double.IsFinite(r.Accuracy.Low) ? new JsonArray(Math.Round(r.Accuracy.Low, 6), Math.Round(r.Accuracy.High, 6)) : null,
            ["params"] = r.Result.Ok ? r.Result.Parameters : null, ["macs"] = r.Result.Ok ? r.Result.Macs : null,
            ["train_seconds"] = r.Result.Ok ? Math.Round(r.Result.Seconds, 2) : null,
            ["seeds"] = new JsonArray(r.Result.Seeds.Select(s => (JsonNode)new JsonObject
            {
                ["seed"] = s.Seed, [MetricName(sweep)] = Math.Round(s.Metric, 6), ["test_accuracy"] = Math.Round(s.TestAccuracy, 6), ["cached"] = s.Cached,
            }).ToArray()),
        };
        return new JsonObject
        {
            ["sweep"] = Path.GetFileName(sweep.SourcePath), ["base"] = sweep.BasePath, ["search"] = sweep.Search, ["metric"] = MetricName(sweep),
            ["goal"] = sweep.Maximize ? "max" : "min", ["best"] = outcome.Best?.Trial.Name, ["note"] = outcome.Note,
            ["trials"] = new JsonArray(outcome.Ranked.Select((r, i) => (JsonNode)Trial(r, i + 1)).Concat(outcome.Failed.Select(r => (JsonNode)Trial(r, null))).ToArray()),
        };
    }
}
