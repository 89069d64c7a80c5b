using SpecNet.Diagnostics;
using SpecNet.Formats;
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using SpecNet.Comparing;
using SpecNet.Planning;
using SpecNet.Cli.Reports;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet diff A.yaml B.yaml`: what changed between two specs, and whether B is really more accurate.</summary>
public static class DiffCommand
{
    public static Command Create()
    {
        var a = new Argument<string>("a") { Description = "spec A (the baseline)" };
        var b = new Argument<string>("b") { Description = "spec B (the change)" };
        var seeds = CommonOptions.InRange("--seeds", 1, MaxSeeds, 1, "train each spec with this many seeds (spec A's seed, +1, ...); 3 or more for a real verdict");
        var weightsA = new Option<string?>("--weights-a") { Description = "evaluate A from these weights instead of training" };
        var weightsB = new Option<string?>("--weights-b") { Description = "evaluate B from these weights instead of training" };
        var epochs = CommonOptions.AtLeast("--epochs", 1, "override both specs' training.epochs");
        var json = new Option<bool>("--json") { Description = "print one JSON object" };
        var report = new Option<string?>("--report") { Description = "write both models' learning curves, overlaid (PNG), and the comparison (index.html) into this folder" };
        var backend = CommonOptions.Backend();
        var threads = CommonOptions.Threads();
        var executor = new Option<string?>("--executor") { Description = "train the runs as separate jobs: local (a process pool, --workers at once) or slurm (a job array); default: one after another in this process" };
        executor.AcceptOnlyFromAmong("local", "slurm");
        var workers = CommonOptions.InRange("--workers", 1, 256, 1, "--executor local: runs at once (each gets --threads, default: the cores shared out)");
        var run = CommonOptions.Index("--run", "train only run K (A's seeds, then B's) into the run cache: what each executor task does");
        run.Hidden = true;
        var command = new Command("diff", "Compare two specs: structure, then accuracy with confidence intervals and a significance test. Finished runs are cached and reused.\n\nExample: specnet diff specs/mnist-cnn.yaml specs/mnist-strided.yaml --seeds 3")
            { a, b, seeds, weightsA, weightsB, epochs, json, backend, threads, report, executor, workers, run };
        command.SetAction(result =>
        {
            var o = result.InvocationConfiguration.Output;
            var err = result.InvocationConfiguration.Error;
            var (pathA, pathB) = (result.GetValue(a)!, result.GetValue(b)!);
            var modelA = Inputs.Compile(pathA);
            var modelB = Inputs.Compile(pathB);
            // A weights file in A's or B's place is that trained model, evaluated as it is: training its spec again would ignore it.
            var trainedA = result.GetValue(weightsA) ?? (Inputs.IsWeightsFile(pathA) ? pathA : null);
            var trainedB = result.GetValue(weightsB) ?? (Inputs.IsWeightsFile(pathB) ? pathB : null);
            if ((trainedA is null) != (trainedB is null))
                throw new SpecNetException($"{(trainedA is null ? pathB : pathA)} is a trained model, but {(trainedA is null ? pathA : pathB)} is a spec to train: diff compares two trained models, or trains two specs",
                    $"give {(trainedA is null ? "A" : "B")}'s weights (--weights-{(trainedA is null ? "a" : "b")} FILE, or its .safetensors in its place), or both spec files to train both");
            int n = result.GetValue(seeds);
            var engine = Inputs.Engine(result, backend, err);
            if (result.GetValue(report) is { } reportFolder) OutputFolder.Check(reportFolder, "report");   // before the training, not after
            if (result.GetValue(run) is { } k || result.GetValue(executor) is not null && trainedA is null)
            {
                var (train, test) = Data.DataLoader.Load(modelA, line => err.WriteLine(line));
                if (test is null) throw new SpecNetException($"{modelA.SourcePath}: the spec names no test set; diff compares models on one", "add data.test, or use a named dataset");
                var runs = Comparison.Runs(modelA, modelB, n, result.GetValue(epochs), train, test);
                if (result.GetValue(run) is { } only)
                {
                    if (only < 0 || only >= runs.Count) throw new SpecNetException($"--run must be from 0 to {runs.Count - 1}, not {only}");
                    var one = Comparison.RunOne(runs[only].Model, runs[only].Seed, result.GetValue(epochs), train, test, engine, RunCache.Default, line => err.WriteLine(line));
                    o.WriteLine($"run {only}: {one.Spec}, seed {one.Seed}: test accuracy {Inputs.Percent(one.Accuracy)}");
                    return ExitCodes.Ok;
                }
                RunJobs(result, runs, n, executor, workers, threads, epochs, backend, err);
            }
            var r = Comparison.Run(modelA, modelB, n, result.GetValue(epochs), trainedA, trainedB, engine, RunCache.Default, line => err.WriteLine(line));
            var text = Text(r, pathA, pathB);
            if (result.GetValue(json)) o.WriteLine(Json(r).ToJsonString());
            else o.Write(text);
            if (result.GetValue(report) is { } folder) WriteReport(folder, r, text, err);
            return ExitCodes.Ok;
        });
        return command;
    }

    private const int MaxSeeds = 100;

    /// <summary>The widest line the per-class deltas take before wrapping.</summary>
    private const int MaxLine = 110;

    /// <summary>The runs not yet in the cache, as jobs on the chosen executor (`specnet diff A B --run K` each).</summary>
    private static void RunJobs(ParseResult result, IReadOnlyList<(Checking.ModelSpec Model, int Seed, string Key)> runs, int seeds, Option<string?> executor,
        Option<int> workers, Option<int?> threads, Option<int?> epochs, Option<string?> backend, TextWriter err)
    {
        var cache = RunCache.Default;
        var pending = Enumerable.Range(0, runs.Count).Where(i => cache.Find(runs[i].Key) is null).ToList();
        if (pending.Count == 0) return;
        int workerCount = result.GetValue(workers);
        int perRun = result.GetValue(threads) ?? Math.Max(1, Environment.ProcessorCount / workerCount);
        var folder = Path.Combine(cache.Folder, "diff-jobs");
        IExecutor run = result.GetValue(executor) == "slurm"
            ? new SlurmExecutor(SweepCommand.Self(), folder, new SlurmOptions())
            : new LocalExecutor(SweepCommand.Self(), workerCount);
        List<string> template = ["diff", Path.GetFullPath(result.GetValue<string>("a")!), Path.GetFullPath(result.GetValue<string>("b")!),
            "--seeds", seeds.ToString(CultureInfo.InvariantCulture), "--run", JobBatch.Index, "--threads", perRun.ToString(CultureInfo.InvariantCulture)];
        if (result.GetValue(epochs) is { } e) template.AddRange(["--epochs", e.ToString(CultureInfo.InvariantCulture)]);
        if (result.GetValue(backend) is { } b) template.AddRange(["--backend", b]);
        err.WriteLine($"{pending.Count} of {runs.Count} runs to train ({run.Describe}, {perRun} thread{(perRun == 1 ? "" : "s")} each)");
        var batch = new JobBatch("diff", pending, template, Path.Combine(folder, $"run-{JobBatch.Index}.log"), i => cache.Find(runs[i].Key) is not null, perRun);
        using var interrupt = new Terminal.Interrupt();
        run.Run(batch, (index, done) => err.WriteLine(done ? $"run {index} ({runs[index].Model.Name}, seed {runs[index].Seed}) done" : $"run {index} failed: see {batch.LogPath(index)}"),
            line => err.WriteLine(line), interrupt.Token);
    }

    private static string P(double fraction) => (100 * fraction).ToString("0.00", CultureInfo.InvariantCulture);
    private static string Pt(double fraction) => (100 * fraction).ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture);
    private static string N(long v) => ModelSummary.N(v);
    private static string Signed(long v) => v.ToString("+#,0;-#,0;0", CultureInfo.InvariantCulture);

    public static string Text(ComparisonResult r, string pathA, string pathB)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.Append($"A: {pathA} ({r.A.Model.Name})\nB: {pathB} ({r.B.Model.Name})\n\nLayers\n");
        var rows = r.Layers.Select(c =>
        {
            string mark = c.Change switch { "added" => "+", "removed" => "-", "changed" => "~", _ => " " };
            var name = c.A is { } la && c.B is { } lb && la.Name != lb.Name ? $"{la.Name} -> {lb.Name}" : (c.A ?? c.B)!.Name;
            var shape = c.Change switch
            {
                "added" => c.B!.Output.ToString(), "removed" => c.A!.Output.ToString(),
                _ => c.A!.Output == c.B!.Output ? c.A.Output.ToString() : $"{c.A.Output} -> {c.B.Output}",
            };
            var entry = (c.A ?? c.B)!;
            var kind = entry.IsBlock ? $"{entry.Kind} ({entry.Layers.Count} layers)" : entry.Kind;
            return (Change: c, Mark: mark, Name: name, Kind: kind, Shape: shape);
        }).ToList();
        // Columns as wide as their longest entry, so that a long name or a block's kind never shifts the rest of its line.
        int nameWidth = rows.Select(x => x.Name.Length).DefaultIfEmpty().Max(), kindWidth = rows.Select(x => x.Kind.Length).DefaultIfEmpty().Max(),
            shapeWidth = rows.Select(x => x.Shape.Length).DefaultIfEmpty().Max();
        foreach (var (c, mark, name, kind, shape) in rows)
        {
            sb.Append(inv, $"  {mark} {name.PadRight(nameWidth)}  {kind.PadRight(kindWidth)}  {shape.PadRight(shapeWidth)}  params {Signed(c.ParamsDelta),9}  MACs {Signed(c.MacsDelta),11}");
            if (c.Change == "changed") sb.Append("   ").Append(string.Join("; ", c.Details.Where(d => !d.StartsWith("output") && !d.StartsWith("params"))));
            sb.Append('\n');
        }
        sb.Append(inv, $"\n{"",-26} {"A",14} {"B",14}\n");
        sb.Append(inv, $"{"parameters",-26} {N(r.A.Model.TotalParameters),14} {N(r.B.Model.TotalParameters),14}\n");
        sb.Append(inv, $"{"MACs per example",-26} {N(r.A.Model.Macs),14} {N(r.B.Model.Macs),14}\n");
        if (r.A.Runs[0].TrainSeconds is var s && !double.IsNaN(s))
        {
            sb.Append(inv, $"{"training seconds",-26} {r.A.MeanSeconds,14:0.0} {r.B.MeanSeconds,14:0.0}\n");
            sb.Append(inv, $"{"images/s while training",-26} {r.A.MeanImagesPerSecond,14:N0} {r.B.MeanImagesPerSecond,14:N0}\n");
        }
        foreach (var t in r.TrainingChanges) sb.Append($"training {t}\n");

        var seeds = r.A.Runs.Count;
        sb.Append(inv, $"\nAccuracy on {r.Examples:N0} test examples{(seeds > 1 ? $", mean over {seeds} seeds" : "")} (95% CI)\n");
        sb.Append(inv, $"  A {P(r.A.Accuracy.Value)}%  [{P(r.A.Accuracy.Low)}, {P(r.A.Accuracy.High)}]{Cached(r.A)}\n");
        sb.Append(inv, $"  B {P(r.B.Accuracy.Value)}%  [{P(r.B.Accuracy.Low)}, {P(r.B.Accuracy.High)}]{Cached(r.B)}\n");
        sb.Append(inv, $"  B - A {Pt(r.Delta.Value)} points  [{Pt(r.Delta.Low)}, {Pt(r.Delta.High)}], {r.Test}: p = {r.P.ToString("0.0000", inv)}\n");
        if (seeds == 1) sb.Append(inv, $"  examples only A gets right: {r.OnlyA:N0}; only B: {r.OnlyB:N0}\n");
        // On the heading's line while they fit; else in indented lines, so long class names do not run off the screen
        const string heading = "Per class (B - A, points):";
        var perClass = r.A.PerClassAccuracy.Select((acc, c) => $"{r.ClassName(c)}: {Pt(r.B.PerClassAccuracy[c] - acc)}").ToList();
        sb.Append('\n').Append(heading);
        if (heading.Length + perClass.Sum(e => e.Length + 2) <= MaxLine) sb.Append(' ').AppendJoin("  ", perClass).Append('\n');
        else
        {
            var line = new List<string>();
            foreach (var entry in perClass)
            {
                if (line.Count > 0 && 2 + line.Sum(e => e.Length + 2) + entry.Length > MaxLine) { sb.Append("\n  ").AppendJoin("  ", line); line.Clear(); }
                line.Add(entry);
            }
            sb.Append("\n  ").AppendJoin("  ", line).Append('\n');
        }
        if (r.Confusions.Count > 0)
        {
            sb.Append("Confusions that changed most (true -> predicted: A -> B):\n");
            foreach (var c in r.Confusions) sb.Append(inv, $"  {r.ClassName(c.True)} -> {r.ClassName(c.Predicted)}: {c.A} -> {c.B}\n");
        }
        sb.Append($"\nVerdict: {r.Verdict}\n");
        return sb.ToString();
    }

    /// <summary>Both models' curves (first seed) overlaid, and the text comparison, as files.</summary>
    private static void WriteReport(string folder, ComparisonResult r, string text, TextWriter log)
    {
        OutputFolder.Create(folder, "report");
        var a = r.A.Runs[0].History; var b = r.B.Runs[0].History;
        bool curves = a is { Count: > 0 } && b is { Count: > 0 }, rates = curves && a!.Concat(b!).All(e => e.LearningRate is not null);
        if (!curves)
        {
            log.WriteLine("note: no learning curves to plot (runs evaluated from weights, or cached by an older SpecNet)");
        }
        else
        {
            Curves[] both = [new(r.A.Model, "A " + r.A.Model.Name, a!), new(r.B.Model, "B " + r.B.Model.Name, b!)];
            RunReport.WriteCurves(Path.Combine(folder, "loss.png"), both, loss: true);
            RunReport.WriteCurves(Path.Combine(folder, "accuracy.png"), both, loss: false);
            if (rates) RunReport.WriteLearningRate(Path.Combine(folder, "learning_rate.png"), both);
        }
        // The page shows the pictures this diff drew, not ones an earlier report left in the folder.
        var html = $"<!doctype html><html><head><meta charset=\"utf-8\"><title>{System.Net.WebUtility.HtmlEncode(r.A.Model.Name)} vs {System.Net.WebUtility.HtmlEncode(r.B.Model.Name)}</title>" +
            "<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em}img{max-width:48%}</style></head><body>" +
            $"<h1>{System.Net.WebUtility.HtmlEncode(r.Verdict)}</h1>" + (curves ? "<img src=\"loss.png\"> <img src=\"accuracy.png\">" : "") +
            (rates ? " <img src=\"learning_rate.png\">" : "") +
            $"<pre>{System.Net.WebUtility.HtmlEncode(text)}</pre></body></html>";
        ReportFiles.Text(Path.Combine(folder, "index.html"), html);
        log.WriteLine($"Report written to {Path.Combine(folder, "index.html")}");
    }

    private static string Cached(Side s)
    {
        int cached = s.Runs.Count(x => x.Cached);
        return cached == 0 ? "" : cached == s.Runs.Count ? "  (cached)" : $"  ({cached} of {s.Runs.Count} runs cached)";
    }

    public static JsonObject Json(ComparisonResult r)
    {
        static JsonArray Interval(Estimate e) => new(Math.Round(e.Low, 6), Math.Round(e.High, 6));
        JsonObject Side(Side s) => new()
        {
            ["name"] = s.Model.Name, ["params"] = s.Model.TotalParameters, ["macs"] = s.Model.Macs,
            ["accuracy"] = Math.Round(s.Accuracy.Value, 6), ["accuracy_ci"] = Interval(s.Accuracy),
            ["seed_accuracies"] = new JsonArray(s.Runs.Select(x => (JsonNode)Math.Round(x.Accuracy, 6)).ToArray()),
            ["cached"] = s.Runs.All(x => x.Cached),
            ["train_seconds"] = double.IsNaN(s.Runs[0].TrainSeconds) ? null : Math.Round(s.MeanSeconds, 2),
            ["images_per_second"] = double.IsNaN(s.Runs[0].ImagesPerSecond) ? null : Math.Round(s.MeanImagesPerSecond),
            ["per_class_accuracy"] = new JsonArray(s.PerClassAccuracy.Select(v => (JsonNode?)(double.IsNaN(v) ? null : Math.Round(v, 6))).ToArray()),
        };
        return new JsonObject
        {
            ["a"] = Side(r.A), ["b"] = Side(r.B),
            ["delta"] = Math.Round(r.Delta.Value, 6), ["delta_ci"] = Interval(r.Delta), ["p_value"] = r.P, ["test"] = r.Test,
            ["examples"] = r.Examples, ["seeds"] = r.A.Runs.Count, ["verdict"] = r.Verdict,
            ["only_a"] = r.OnlyA, ["only_b"] = r.OnlyB,
            ["layers"] = new JsonArray(r.Layers.Select(c => (JsonNode)new JsonObject
            {
                ["change"] = c.Change, ["a"] = c.A?.Name, ["b"] = c.B?.Name, ["type"] = (c.A ?? c.B)!.Kind, ["layers_a"] = c.A?.Layers.Count, ["layers_b"] = c.B?.Layers.Count,
                ["output_shape_a"] = c.A is { } la ? new JsonArray(la.Output.Dims.Select(d => (JsonNode)d).ToArray()) : null,
                ["output_shape_b"] = c.B is { } lb ? new JsonArray(lb.Output.Dims.Select(d => (JsonNode)d).ToArray()) : null,
                ["params_delta"] = c.ParamsDelta, ["macs_delta"] = c.MacsDelta,
                ["details"] = new JsonArray(c.Details.Select(d => (JsonNode)d).ToArray()),
            }).ToArray()),
            ["training_changes"] = new JsonArray(r.TrainingChanges.Select(t => (JsonNode)t).ToArray()),
            ["confusion_changes"] = new JsonArray(r.Confusions.Select(c => (JsonNode)new JsonObject { ["true"] = c.True, ["predicted"] = c.Predicted, ["a"] = c.A, ["b"] = c.B }).ToArray()),
        };
    }
}
