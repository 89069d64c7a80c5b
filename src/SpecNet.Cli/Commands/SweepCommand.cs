using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SpecNet.Comparing;
using SpecNet.Data;
using SpecNet.Diagnostics;
using SpecNet.Planning;

namespace SpecNet.Cli.Commands;

/// <summary>
/// `specnet sweep SWEEP.yaml -o DIR`: every trial of a sweep as a spec in DIR, run by a local process pool
/// or a Slurm job array (each task `specnet sweep SWEEP -o DIR --trial K`), through the run cache; then
/// the results ranked, the best copied out. `specnet sweep report DIR` draws them.
/// </summary>
public static class SweepCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("sweep") { Description = "the sweep file (.yaml): base, parameters, search, trials, seed, seeds, metric, goal" };
        var output = new Option<string>("--output", "-o") { Description = "the sweep's folder: trials, logs, results.csv/json, best.yaml, best.safetensors", Required = true };
        var executor = new Option<string>("--executor") { Description = "where trials run: local (a process pool on this machine) or slurm (one job array through sbatch)", DefaultValueFactory = _ => "local" };
        executor.AcceptOnlyFromAmong("local", "slurm");
        var workers = CommonOptions.InRange("--workers", 1, 256, 1, "local: trials at once (each gets --threads, default: the cores shared out)");
        var threads = CommonOptions.Threads();
        var epochs = CommonOptions.AtLeast("--epochs", 1, "override every trial's training.epochs (as diff's --epochs)");
        var json = new Option<bool>("--json") { Description = "print one JSON object whose 'trials' list holds each trial's parameters and results" };
        var dryRun = new Option<bool>("--dry-run") { Description = "list the trials without running them" };
        var trial = CommonOptions.Index("--trial", "run only trial K in this process (what each executor task runs)");
        var retry = new Option<bool>("--retry-failed") { Description = "run failed trials again (by default a rerun runs only trials without a result)" };
        var partition = new Option<string?>("--partition") { Description = "slurm: the partition (sbatch --partition)" };
        var time = new Option<string?>("--time") { Description = "slurm: each task's time limit (sbatch --time, e.g. 30:00)" };
        var memory = new Option<string?>("--mem") { Description = "slurm: each task's memory (sbatch --mem, e.g. 2G)" };
        var sbatchArgs = new Option<string[]>("--sbatch-arg") { Description = "slurm: any other sbatch option, passed through (repeatable)", AllowMultipleArgumentsPerToken = false };
        var backend = CommonOptions.Backend();
        var command = new Command("sweep", "Run many variants of a spec (random or grid search) locally or on Slurm, rank them, keep the best.\n\n" +
            "Example: specnet sweep specs/sweeps/mnist-folder.yaml -o sweeps/mnist-folder --workers 2 --threads 1")
            { file, output, executor, workers, threads, epochs, json, dryRun, trial, retry, partition, time, memory, sbatchArgs, backend };
        command.Add(ReportCommand());
        command.SetAction(result =>
        {
            var (o, err) = (result.InvocationConfiguration.Output, result.InvocationConfiguration.Error);
            var sweepPath = Path.GetFullPath(result.GetValue(file)!);
            var (sweep, _, rendered) = SweepSpec.Read(sweepPath);
            if (sweep is null) throw new SpecErrorsException(rendered);
            var dir = Path.GetFullPath(result.GetValue(output)!);

            if (result.GetValue(dryRun))
            {
                o.Write(DryRun(sweep, dir));
                return ExitCodes.Ok;
            }
            if (result.GetValue(trial) is { } k)
            {
                if (!File.Exists(Sweep.SpecPath(dir, new Trial(k, []))))
                    Sweep.Prepare(sweep, dir, retryFailed: false);
                var engine = Inputs.Engine(result, backend, err);
                var one = Sweep.RunTrial(sweep, dir, k, result.GetValue(epochs), engine, RunCache.Default, line => err.WriteLine(line));
                o.WriteLine(one.Ok ? $"trial-{k:D3}: {Sweep.MetricName(sweep)} {F(one.Metric)}" : $"trial-{k:D3} failed: {one.Error}");
                return one.Ok ? ExitCodes.Ok : ExitCodes.Failure;
            }

            var pending = Sweep.Prepare(sweep, dir, result.GetValue(retry));
            int workerCount = result.GetValue(workers);
            int perTrial = result.GetValue(threads) ?? Math.Max(1, Environment.ProcessorCount / workerCount);
            IExecutor run = result.GetValue(executor) == "slurm"
                ? new SlurmExecutor(Self(), dir, new SlurmOptions(result.GetValue(partition), result.GetValue(time), result.GetValue(memory), result.GetValue(sbatchArgs)))
                : new LocalExecutor(Self(), workerCount);
            err.WriteLine($"{sweep.Trials} trials ({sweep.Search} search, {sweep.Seeds} seed{(sweep.Seeds == 1 ? "" : "s")} each) in {dir}: " +
                          $"{pending.Count} to run, {sweep.Trials - pending.Count} done before; {run.Describe}, {perTrial} thread{(perTrial == 1 ? "" : "s")} per trial");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            if (pending.Count > 0)
            {
                List<string> template = ["sweep", sweepPath, "-o", dir, "--trial", JobBatch.Index, "--threads", perTrial.ToString(CultureInfo.InvariantCulture)];
                if (result.GetValue(epochs) is { } e) template.AddRange(["--epochs", e.ToString(CultureInfo.InvariantCulture)]);
                if (result.GetValue(backend) is { } b) template.AddRange(["--backend", b]);
                var batch = new JobBatch(Path.GetFileNameWithoutExtension(sweepPath), pending.Select(t => t.Index).ToList(), template,
                    Path.Combine(dir, "logs", $"trial-{JobBatch.Index}.log"), i => Sweep.ReadResult(dir, i) is not null, perTrial);
                int finished = 0;
                using var interrupt = new Terminal.Interrupt();
                run.Run(batch, (index, done) =>
                {
                    finished++;
                    var r = Sweep.ReadResult(dir, index);
                    err.WriteLine($"[{finished}/{pending.Count}] trial-{index:D3}: " + (r is { Ok: true } ? $"{Sweep.MetricName(sweep)} {F(r.Metric)}" :
                        r is not null ? $"failed: {r.Error}" : $"no result (see {batch.LogPath(index)})"));
                }, line => err.WriteLine(line), interrupt.Token);
            }
            var wall = clock.Elapsed;
            Dataset? test = null;
            try { test = DataLoader.LoadTest(sweep.Base, _ => { }); } catch (SpecNetException) { }
            var outcome = Sweep.Collect(sweep, dir, test);
            if (result.GetValue(json))
            {
                var obj = Sweep.ToJson(outcome);
                obj["wall_seconds"] = Math.Round(wall.TotalSeconds, 2);
                obj["executor"] = run.Describe;
                o.WriteLine(obj.ToJsonString());
            }
            else o.Write(Table(outcome, dir, wall));
            return outcome.Ranked.Count > 0 ? ExitCodes.Ok : ExitCodes.Failure;
        });
        return command;
    }

    /// <summary>How to start this very specnet again: the apphost, or dotnet with specnet.dll.</summary>
    public static SpecnetCommand Self()
    {
        var process = Environment.ProcessPath ?? "dotnet";
        var dll = typeof(SpecNetCli).Assembly.Location;
        return Path.GetFileNameWithoutExtension(process) == "specnet" ? new SpecnetCommand(process, []) : new SpecnetCommand(process.EndsWith("dotnet", StringComparison.Ordinal) ? process : "dotnet", [dll]);
    }

    private static string F(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);

    private static string DryRun(SweepSpec sweep, string dir)
    {
        var sb = new StringBuilder($"{sweep.Trials} trials of {Path.GetFileName(sweep.BasePath)} ({sweep.Search} search, seed {sweep.Seed}, {sweep.Seeds} training seed{(sweep.Seeds == 1 ? "" : "s")} each), ranked by {Sweep.MetricName(sweep)} ({(sweep.Maximize ? "max" : "min")}):\n");
        var trials = sweep.Expand();
        var rows = new List<string[]> { new[] { "trial" }.Concat(sweep.Parameters.Select(p => p.Path)).ToArray() };
        rows.AddRange(trials.Select(t => new[] { t.Name }.Concat(t.Values.Select(v => v.Value.Write().Trim())).ToArray()));
        sb.Append(Columns(rows));
        sb.Append($"Specs would be written to {Sweep.TrialsFolder(dir)}; nothing was run.\n");
        return sb.ToString();
    }

    private static string Columns(List<string[]> rows, ISet<int>? rightAligned = null)
    {
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var sb = new StringBuilder();
        foreach (var r in rows)
            sb.Append(string.Join("  ", r.Select((cell, c) => rightAligned?.Contains(c) == true ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c]))).TrimEnd()).Append('\n');
        return sb.ToString();
    }

    public static string Table(SweepOutcome outcome, string dir, TimeSpan wall)
    {
        var sweep = outcome.Sweep;
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append($"Sweep {Path.GetFileName(sweep.SourcePath)}: {sweep.Trials} trials of {Path.GetFileName(sweep.BasePath)}, ranked by {Sweep.MetricName(sweep)} " +
                  $"({(sweep.Maximize ? "max" : "min")}, on the {outcome.MetricOn} data); wall time {wall.TotalSeconds.ToString("0.0", inv)} s\n\n");
        var header = new[] { "rank", "trial" }.Concat(sweep.Parameters.Select(p => p.Path))
            .Concat([Sweep.MetricName(sweep), "test accuracy (95% CI)", "params", "MACs", "train s"]).ToArray();
        var rows = new List<string[]> { header };
        int rank = 0;
        foreach (var r in outcome.Ranked)
            rows.Add(new[] { (++rank).ToString(inv), r.Trial.Name }.Concat(r.Trial.Values.Select(v => v.Value.Write().Trim()))
                .Concat([F(r.Result.Metric), Interval(r.Accuracy), ModelSummary.N(r.Result.Parameters), ModelSummary.N(r.Result.Macs), r.Result.Seconds.ToString("0.0", inv)]).ToArray());
        int first = 2 + sweep.Parameters.Count;
        sb.Append(Columns(rows, new HashSet<int> { 0, first, first + 2, first + 3, first + 4 }));
        foreach (var f in outcome.Failed) sb.Append($"{f.Trial.Name} {f.Result.Status}: {f.Result.Error?.Split('\n')[0]} ({f.Trial.Describe()}; log: {Sweep.LogPath(dir, f.Trial.Index)})\n");
        if (outcome.Best is { } best)
            sb.Append($"\nBest: {best.Trial.Name} ({best.Trial.Describe()}): {Path.Combine(dir, "best.yaml")}, {Path.Combine(dir, "best.safetensors")}\n");
        if (outcome.Note is { } note) sb.Append($"note: {note}\n");
        sb.Append($"Results: {Path.Combine(dir, "results.csv")}, {Path.Combine(dir, "results.json")}; plots: specnet sweep report {dir}\n");
        return sb.ToString();
    }

    private static string Interval(Estimate e) =>
        double.IsFinite(e.Low)
            ? string.Create(CultureInfo.InvariantCulture, $"{100 * e.Value:0.00}% ({100 * e.Low:0.0}-{100 * e.High:0.0})")
            : string.Create(CultureInfo.InvariantCulture, $"{100 * e.Value:0.00}%");

    private static Command ReportCommand()
    {
        var folder = new Argument<string>("folder") { Description = "a sweep's folder (its results.json)" };
        var command = new Command("report", "Draw a sweep's results: the metric against each parameter, a parallel-coordinates plot (PNG), and index.html.\n\nExample: specnet sweep report sweeps/mnist-folder") { folder };
        command.SetAction(result =>
        {
            var dir = Path.GetFullPath(result.GetValue(folder)!);
            var json = Path.Combine(dir, "results.json");
            if (!File.Exists(json)) throw new SpecNetException($"{json}: no such file", "run the sweep first: specnet sweep SWEEP.yaml -o " + result.GetValue(folder));
            JsonDocument document;
            try { document = JsonDocument.Parse(File.ReadAllText(json)); }
            catch (JsonException e) { throw new SpecNetException($"{json}: not a sweep's results ({e.Message})"); }
            var files = Reports.SweepReport.Write(Path.Combine(dir, "report"), document.RootElement);
            result.InvocationConfiguration.Output.WriteLine($"Report written to {Path.Combine(dir, "report", "index.html")} ({string.Join(", ", files)})");
            return ExitCodes.Ok;
        });
        return command;
    }
}
