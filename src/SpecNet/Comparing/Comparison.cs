using SpecNet.Diagnostics;
using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Formats;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Training;

namespace SpecNet.Comparing;

/// <summary>One model's side of a comparison.</summary>
public sealed record Side(ModelSpec Model, IReadOnlyList<RunRecord> Runs, Estimate Accuracy, double[] PerClassAccuracy, int[,] Confusion)
{
    public double MeanSeconds => Runs.Average(r => r.TrainSeconds);
    public double MeanImagesPerSecond => Runs.Average(r => r.ImagesPerSecond);
}

/// <summary>A confusion cell whose count changed from A to B.</summary>
public sealed record ConfusionChange(int True, int Predicted, int A, int B);

public sealed record ComparisonResult(Side A, Side B, IReadOnlyList<LayerChange> Layers, IReadOnlyList<string> TrainingChanges,
    Estimate Delta, double P, string Test, int Examples, IReadOnlyList<ConfusionChange> Confusions, string Verdict, int OnlyA, int OnlyB)
{
    /// <summary>Class names of the test data, when known.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }
    public string ClassName(int c) => ClassNames is { } n && c < n.Count ? n[c] : c.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// `specnet diff`: both specs trained with the same data, data order and seeds (or evaluated from given
/// weights), tested on the same test set, and compared with paired statistics: McNemar's exact test on
/// per-example correctness for one seed, a paired t-test over the seeds' accuracy differences for several.
/// </summary>
public static class Comparison
{
    public const double Alpha = 0.05;

    public static ComparisonResult Run(ModelSpec a, ModelSpec b, int seeds, int? epochs, string? weightsA, string? weightsB,
        IEngine engine, RunCache cache, Action<string> log)
    {
        var (train, test) = DataLoader.Load(a, log);
        if (test is null) throw new SpecNetException($"{a.SourcePath}: the spec names no test set; diff compares models on one", "add data.test, or use a named dataset");
        try
        {
            DataLoader.Validate(b, train);
            DataLoader.Validate(b, test);
        }
        catch (SpecNetException e)
        {
            // the data is A's: B's own spec is not what is wrong, the pairing is
            throw new SpecNetException($"{b.SourcePath}: diff trains and tests both specs on A's data ({a.Name}), which does not fit B ({b.Name}): {e.Message}",
                "diff compares two specs of the same data (the same input shape and classes)");
        }
        if (b.Data is { } bd && a.Data is { } ad && (bd.Dataset != ad.Dataset || bd.Train?.Path != ad.Train?.Path))
            log($"note: {b.Name} names other data; both are trained and tested on {a.Name}'s");

        var seedList = Enumerable.Range(0, Math.Max(1, seeds)).Select(i => a.Training.Seed + i).ToList();
        List<RunRecord> runsA, runsB;
        if (weightsA is not null || weightsB is not null)
        {
            if (weightsA is null || weightsB is null) throw new SpecNetException("give both --weights-a and --weights-b, or neither");
            runsA = [Evaluate(a, weightsA, test, engine)];
            runsB = [Evaluate(b, weightsB, test, engine)];
        }
        else
        {
            runsA = seedList.Select(s => TrainOrReuse(a, s, epochs, train, test, engine, cache, log)).ToList();
            runsB = seedList.Select(s => TrainOrReuse(b, s, epochs, train, test, engine, cache, log)).ToList();
        }

        int n = test.Count;
        var labels = test.Labels;
        var diffs = new List<double>();
        int onlyA = 0, onlyB = 0;
        for (int s = 0; s < runsA.Count; s++)
        {
            int oa = 0, ob = 0;
            for (int i = 0; i < n; i++)
            {
                bool ra = runsA[s].Predictions[i] == labels[i], rb = runsB[s].Predictions[i] == labels[i];
                if (ra && !rb) oa++; else if (rb && !ra) ob++;
            }
            if (s == 0) (onlyA, onlyB) = (oa, ob);
            diffs.Add((ob - oa) / (double)n);
        }
        Estimate delta; double p;
        if (runsA.Count == 1) { delta = Statistics.PairedDifference(onlyA, onlyB, n); p = Statistics.McNemarExact(onlyA, onlyB); }
        else (delta, p) = Statistics.MeanWithT(diffs);

        var sideA = Summarize(a, runsA, labels);
        var sideB = Summarize(b, runsB, labels);
        var confusions = new List<ConfusionChange>();
        int classes = sideA.PerClassAccuracy.Length;
        for (int t = 0; t < classes; t++)
            for (int q = 0; q < classes; q++)
                if (t != q && sideA.Confusion[t, q] != sideB.Confusion[t, q]) confusions.Add(new ConfusionChange(t, q, sideA.Confusion[t, q], sideB.Confusion[t, q]));
        confusions = confusions.OrderByDescending(c => Math.Abs(c.B - c.A)).ThenBy(c => c.True).ThenBy(c => c.Predicted).Take(5).ToList();

        string test_ = runsA.Count == 1 ? "McNemar's exact test" : $"paired t-test over {runsA.Count} seeds";
        return new ComparisonResult(sideA, sideB, StructureDiff.Layers(a, b), StructureDiff.Training(a, b),
            delta, p, test_, n, confusions, Verdict(delta.Value, p, runsA.Count), onlyA, onlyB) { ClassNames = test.ClassNames };
    }

    /// <summary>With one seed, the test is over the test examples only: it cannot tell a better spec from a lucky training run.</summary>
    public const string OneSeedCaveat =
        "one training run per spec measures only test-set noise, not training noise (another seed may reverse it): use --seeds 3 or more";

    public static string Verdict(double delta, double p, int seeds)
    {
        var points = Math.Abs(delta * 100).ToString("0.0#", System.Globalization.CultureInfo.InvariantCulture);
        var pText = p < 0.001 ? "p < 0.001" : $"p = {p.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture)}";
        var caveat = seeds == 1 ? "; " + OneSeedCaveat : "";
        if (p < Alpha && delta != 0) return $"{(delta > 0 ? "B" : "A")} is better by {points} points, {pText}{caveat}";
        return $"no significant difference at {Alpha} ({(delta >= 0 ? "B" : "A")} ahead by {points} points, {pText}){caveat}";
    }

    /// <summary>
    /// The training runs a diff needs, in order (A's seeds, then B's): run K of an executor's batch. Each is
    /// trained into the run cache by `specnet diff A B --run K`; the diff itself then finds them all there.
    /// </summary>
    public static IReadOnlyList<(ModelSpec Model, int Seed, string Key)> Runs(ModelSpec a, ModelSpec b, int seeds, int? epochs, Dataset train, Dataset test)
    {
        var seedList = Enumerable.Range(0, Math.Max(1, seeds)).Select(i => a.Training.Seed + i).ToList();
        return new[] { a, b }.SelectMany(m => seedList.Select(s => (m, s, RunCache.KeyOf(m, s, epochs ?? m.Training.Epochs, train, test)))).ToList();
    }

    /// <summary>One run of a diff, trained (or found) in the run cache: what each executor task does.</summary>
    public static RunRecord RunOne(ModelSpec model, int seed, int? epochs, Dataset train, Dataset test, IEngine engine, RunCache cache, Action<string> log) =>
        TrainOrReuse(model, seed, epochs, train, test, engine, cache, log);

    private static RunRecord TrainOrReuse(ModelSpec model, int seed, int? epochs, Dataset train, Dataset test, IEngine engine, RunCache cache, Action<string> log)
    {
        int e = epochs ?? model.Training.Epochs;
        var key = RunCache.KeyOf(model, seed, e, train, test);
        if (cache.Find(key) is { } hit)
        {
            log($"{model.Name}, seed {seed}: cached (test accuracy {100 * hit.Accuracy:0.00}%), not retrained");
            return hit;
        }
        log($"{model.Name}, seed {seed}: training {e} epochs on {train.Count:N0} images");
        var trainer = new Trainer(model, WarmStart.Initial(model, seed).Parameters, engine, e, seed: seed);
        var result = trainer.Fit(train, test); // evaluated every epoch: the learning curves of `diff --report`
        var evaluation = result.Validation!;
        var record = new RunRecord(key, model.Name, seed, e, evaluation.Predictions, evaluation.Accuracy, evaluation.Loss,
            result.Epochs.Sum(r => r.Seconds), result.Epochs.Average(r => r.ImagesPerSecond), History: result.Epochs);
        cache.Save(record);
        log($"{model.Name}, seed {seed}: test accuracy {100 * record.Accuracy:0.00}%");
        return record;
    }

    private static RunRecord Evaluate(ModelSpec model, string weights, Dataset test, IEngine engine)
    {
        var evaluation = Evaluator.Evaluate(WeightsFile.Load(weights, model), engine, test);
        return new RunRecord("", model.Name, 0, 0, evaluation.Predictions, evaluation.Accuracy, evaluation.Loss, double.NaN, double.NaN);
    }

    private static Side Summarize(ModelSpec model, List<RunRecord> runs, byte[] labels)
    {
        int classes = Math.Max(labels.Max() + 1, model.Classes);
        var confusion = new int[classes, classes];
        foreach (var run in runs)
            for (int i = 0; i < labels.Length; i++) confusion[labels[i], run.Predictions[i]]++;
        var perClass = Enumerable.Range(0, classes).Select(c =>
        {
            int total = Enumerable.Range(0, classes).Sum(q => confusion[c, q]);
            return total == 0 ? double.NaN : confusion[c, c] / (double)total;
        }).ToArray();
        int n = labels.Length;
        Estimate accuracy;
        if (runs.Count == 1)
        {
            int correct = Enumerable.Range(0, n).Count(i => runs[0].Predictions[i] == labels[i]);
            accuracy = Statistics.Wilson(correct, n);
        }
        else accuracy = Statistics.MeanWithT(runs.Select(r => r.Accuracy).ToList()).Mean;
        return new Side(model, runs, accuracy, perClass, confusion);
    }
}
