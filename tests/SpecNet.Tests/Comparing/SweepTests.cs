using System.Diagnostics;
using System.Text.Json;
using SpecNet.Checking;
using SpecNet.Comparing;
using SpecNet.Diagnostics;
using SpecNet.Formats;
using SpecNet.Parsing;
using SpecNet.Tests.Cli;

namespace SpecNet.Tests.Comparing;

/// <summary>
/// Sweeps: the sweep file checked like a spec (located errors), trials drawn as specs, run by the local
/// process pool and by a real single-node Slurm (started by start-slurm.sh), ranked, the best copied out;
/// reruns run only what has no result; failures recorded; diff's runs on the same executors.
/// </summary>
public class SweepTests
{
    private static (SweepSpec? Sweep, string Rendered) Read(TempFolder dir, string sweep, string? layers = null)
    {
        TestData.WriteSpecWithData(dir.Path, trainCount: 90, testCount: 30, epochs: 1, layers: layers);
        File.WriteAllText(dir.File("sweep.yaml"), sweep);
        var (s, _, rendered) = SweepSpec.Read(dir.File("sweep.yaml"));
        return (s, rendered);
    }

    private const string Good = """
        base: patterns.yaml
        parameters:
          training.optimizer.adam.learning_rate: { loguniform: [0.001, 0.1] }
          training.batch_size: { choice: [16, 32] }
          layers.conv2d_1.filters: { int: [2, 6] }
        trials: 4
        seed: 5
        metric: val_accuracy
        """;

    [Theory]
    [InlineData("layers.nope.filters: { int: [2, 6] }", "(3,3): error SN1003: parameter 'layers.nope.filters': the spec has no layer named 'nope'")]
    [InlineData("training.batch_size: { uniform: [0.5, 8] }", "(3,3): error SN1007: parameter 'training.batch_size': with 0.5 the spec does not check: training: 'batch_size' must be a whole number, not 0.5")]
    [InlineData("layers.conv2d_1.filterz: { int: [2, 6] }", "(3,3): error SN1007: parameter 'layers.conv2d_1.filterz': with 2 the spec does not check: conv2d layer 'conv2d_1' has no option 'filterz'")]
    [InlineData("training.optimizer.sgd.momentum: { uniform: [0, 0.9] }", "(3,3): error SN1007: parameter 'training.optimizer.sgd.momentum': with 0 the spec does not check:")]
    [InlineData("training.epochs: { loguniform: [0, 3] }", "(3,34): error SN1006: parameter 'training.epochs': loguniform takes two numbers, low first, both above 0")]
    [InlineData("training.epochs: { normal: [0, 3] }", "(3,20): error SN1002: parameter 'training.epochs': a range is one of")]
    public void Sweep_errors_are_located(string parameter, string expected)
    {
        using var dir = new TempFolder();
        var (sweep, rendered) = Read(dir, $"base: patterns.yaml\nparameters:\n  {parameter}\ntrials: 4\n");
        Assert.Null(sweep);
        Assert.Contains("sweep.yaml" + expected, rendered);
    }

    /// <summary>A base spec without a test set is refused before any trial trains: each trial would fail after its training.</summary>
    [Fact]
    public void A_base_spec_without_a_test_set_is_refused_before_anything_runs()
    {
        using var dir = new TempFolder();
        Read(dir, Good);
        var spec = dir.File("patterns.yaml");
        File.WriteAllText(spec, string.Join("\n", File.ReadAllLines(spec).Where(l => !l.TrimStart().StartsWith("test:"))) + "\n");
        Assert.True(SpecCompiler.CompileFile(spec).Success);
        var r = CliRunner.Run("sweep", dir.File("sweep.yaml"), "-o", dir.File("out"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("sweep.yaml(1,7): error SN3002: the base spec 'patterns.yaml' names no test set, and a sweep scores every trial on one", r.Error);
        Assert.False(Directory.Exists(dir.File("out")));
    }

    [Fact]
    public void A_grid_larger_than_its_trials_or_with_ranges_is_refused()
    {
        using var dir = new TempFolder();
        var (sweep, rendered) = Read(dir, "base: patterns.yaml\nparameters:\n  training.batch_size: { choice: [8, 16, 32] }\n  layers.conv2d_1.filters: { choice: [2, 4] }\nsearch: grid\ntrials: 5\n");
        Assert.Null(sweep);
        Assert.Contains("sweep.yaml(6,9): error SN1007: the grid has 6 combinations, more than trials: 5", rendered);
        (sweep, rendered) = Read(dir, "base: patterns.yaml\nparameters:\n  training.batch_size: { int: [8, 16] }\nsearch: grid\n");
        Assert.Null(sweep);
        Assert.Contains("a grid search takes choice parameters only, not int [8, 16]", rendered);
        (sweep, rendered) = Read(dir, "base: patterns.yaml\nparameters:\n  training.batch_size: { choice: [8, 16] }\nserach: grid\n");
        Assert.Contains("did you mean 'search'?", rendered);
    }

    /// <summary>`check` checks a sweep file as `sweep` would before running it; the commands that take a spec say what the file is.</summary>
    [Fact]
    public void Check_takes_a_sweep_file_and_other_commands_say_it_is_one()
    {
        using var dir = new TempFolder();
        Read(dir, Good);
        var r = CliRunner.Run("check", dir.File("sweep.yaml"));
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("Sweep: 4 trials of patterns.yaml (random search, 1 training seed each), ranked by val_accuracy (max)", r.Output);
        Assert.Contains("  training.optimizer.adam.learning_rate: loguniform [0.001, 0.1]\n  training.batch_size: choice [16, 32]\n  layers.conv2d_1.filters: int [2, 6]\n", r.Output.ReplaceLineEndings("\n"));
        var json = System.Text.Json.Nodes.JsonNode.Parse(CliRunner.Run("check", dir.File("sweep.yaml"), "--json").Output)!;
        Assert.Equal(4, (int)json["sweep"]!["trials"]!);
        Assert.Equal("choice [16, 32]", (string)json["sweep"]!["parameters"]![1]!["range"]!);

        File.WriteAllText(dir.File("bad.yaml"), "base: patterns.yaml\nparameters:\n  layers.nope.filters: { int: [2, 6] }\n");
        var bad = CliRunner.Run("check", dir.File("bad.yaml"));
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("bad.yaml(3,3): error SN1003: parameter 'layers.nope.filters': the spec has no layer named 'nope'", bad.Error);

        foreach (var command in new[] { "train", "eval" })
        {
            var given = CliRunner.Run(command, dir.File("sweep.yaml"));
            Assert.Equal(2, given.ExitCode);
            Assert.Contains("sweep.yaml(1,1): error SN1003: this is a sweep file (base, parameters), not a spec", given.Error);
            Assert.Contains("run it with specnet sweep sweep.yaml -o DIR", given.Error);
            Assert.Contains("1 error, 0 warnings", given.Error);
        }
    }

    [Fact]
    public void Trials_are_drawn_from_the_seed_within_their_ranges_and_become_specs()
    {
        using var dir = new TempFolder();
        var (sweep, rendered) = Read(dir, Good);
        Assert.True(sweep is not null, rendered);
        var trials = sweep.Expand();
        Assert.Equal(4, trials.Count);
        Assert.Equal(trials.Select(t => t.Describe()), sweep.Expand().Select(t => t.Describe()));     // the same seed, the same trials
        Assert.True(trials.Select(t => t.Describe()).Distinct().Count() > 1);
        foreach (var t in trials)
        {
            var lr = double.Parse(((YamlScalar)t.Values[0].Value).Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(lr, 0.001, 0.1);
            var filters = int.Parse(((YamlScalar)t.Values[2].Value).Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(filters, 2, 6);
            // the trial's spec, written elsewhere, compiles to what the trial says (and reads the base spec's data)
            Directory.CreateDirectory(dir.File("elsewhere"));
            File.WriteAllText(dir.File("elsewhere/t.yaml"), sweep.TrialSpec(t, dir.File("elsewhere"), "t"));
            var model = SpecCompiler.CompileFile(dir.File("elsewhere/t.yaml")).Model!;
            Assert.Equal(filters, (int)model.Layers[0].Options["filters"]);
            Assert.Equal(lr, model.Training.Optimizer.LearningRate.At(0), 6);
            Assert.Equal(((YamlScalar)t.Values[1].Value).Value, model.Training.BatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(File.Exists(Path.GetFullPath(model.Data!.Train!.Path, dir.File("elsewhere"))));
        }
        var grid = Read(dir, "base: patterns.yaml\nparameters:\n  training.batch_size: { choice: [8, 16, 32] }\n  layers.conv2d_1.filters: { choice: [2, 4] }\nsearch: grid\n").Sweep!;
        Assert.Equal(["training.batch_size=8 layers.conv2d_1.filters=2", "training.batch_size=8 layers.conv2d_1.filters=4", "training.batch_size=16 layers.conv2d_1.filters=2"],
            grid.Expand().Take(3).Select(t => t.Describe()));
        Assert.Equal(6, grid.Expand().Count);
    }

    /// <summary>Every example spec written back from its tree compiles to the same model: trial specs lose nothing but comments.</summary>
    [Theory]
    [MemberData(nameof(SpecNet.Tests.Checking.ReferenceModelTests.Specs), MemberType = typeof(SpecNet.Tests.Checking.ReferenceModelTests))]
    public void Spec_trees_write_back_to_the_same_model(string file)
    {
        var path = TestPaths.Repo("specs", file);
        var original = SpecCompiler.CompileFile(path).Model!;
        var text = YamlTree.From(SpecParser.Parse(File.ReadAllText(path), new DiagnosticBag())!).Write();
        var again = SpecCompiler.Compile(text, path).Model!;
        Assert.Equal(original.StructuralHash, again.StructuralHash);
        Assert.Equal(original.Training.Optimizer.Describe(), again.Training.Optimizer.Describe());
        Assert.Empty(StructureDiff.Training(original, again));
        Assert.Equal(original.Data?.Preprocessing.Describe(), again.Data?.Preprocessing.Describe());
        Assert.Equal(original.Data?.Augment, again.Data?.Augment);
        Assert.Equal(original.Layers.Select(l => l.Frozen), again.Layers.Select(l => l.Frozen));
    }

    [Fact]
    public void Names_inside_blocks_reach_their_layers()
    {
        var tree = YamlTree.From(SpecParser.Parse(File.ReadAllText(TestPaths.Repo("specs", "fashion-resnet.yaml")), new DiagnosticBag())!);
        Assert.Null(SpecEdit.Set(tree, "layers.residual_2/shortcut/batch_norm_1.momentum", new YamlScalar("0.5")));
        Assert.Null(SpecEdit.Set(tree, "layers.residual_1/conv2d_2.kernel_size", new YamlScalar("5")));
        Assert.Null(SpecEdit.Set(tree, "layers.stem.kernel_size", new YamlScalar("5")));
        var compiled = SpecCompiler.Compile(tree.Write(), "r.yaml");
        Assert.True(compiled.Success, compiled.Render() + tree.Write());
        var model = compiled.Model!;
        Assert.Equal(0.5f, model.Layers.OfType<SpecNet.Layers.BatchNorm>().Single(l => l.Name == "residual_2/shortcut/batch_norm_1").Momentum);
        Assert.Equal((5, 5), model.Layers.Single(l => l.Name == "residual_1/conv2d_2").Options["kernel_size"]);
        Assert.Equal((5, 5), model.Layers.Single(l => l.Name == "stem").Options["kernel_size"]);
        Assert.Contains("no layer named 'residual_9/conv2d_1'", SpecEdit.Set(tree, "layers.residual_9/conv2d_1.filters"));
    }

    [Fact]
    public void Local_sweep_runs_ranks_keeps_the_best_and_reruns_nothing()
    {
        using var dir = new TempFolder();
        Read(dir, Good.Replace("trials: 4", "trials: 3"), "  - conv2d: { filters: 4, kernel_size: 3, activation: relu }\n  - flatten\n  - dense: { units: 3, activation: softmax }\n");
        File.WriteAllText(dir.File("patterns.yaml"), File.ReadAllText(dir.File("patterns.yaml")).Replace("test: { images", "validation_split: 0.2\n  test: { images"));
        var r = CliRunner.Run("sweep", dir.File("sweep.yaml"), "-o", dir.File("out"), "--workers", "2", "--threads", "1", "--json");
        Assert.True(r.ExitCode == 0, r.All);
        var json = JsonDocument.Parse(r.Output).RootElement;
        var trials = json.GetProperty("trials").EnumerateArray().ToList();
        Assert.Equal(3, trials.Count);
        Assert.All(trials, t => Assert.Equal("ok", t.GetProperty("status").GetString()));
        var metrics = trials.Select(t => t.GetProperty("val_accuracy").GetDouble()).ToList();
        Assert.Equal(metrics.OrderDescending(), metrics);                                              // ranked by the metric
        var best = trials[0].GetProperty("name").GetString()!;
        Assert.Equal(best, json.GetProperty("best").GetString());
        Assert.Equal(SafeTensors.Read(dir.File($"out/trials/{best}.safetensors")).Tensors.Select(t => t.Data), SafeTensors.Read(dir.File("out/best.safetensors")).Tensors.Select(t => t.Data));
        Assert.True(SpecCompiler.CompileFile(dir.File("out/best.yaml")).Success);
        // The best weights alone run, though their spec's data paths were written for trials/, a folder below them.
        var evaluated = CliRunner.Run("eval", dir.File("out/best.safetensors"), "--json");
        Assert.True(evaluated.ExitCode == 0, evaluated.All);
        Assert.Equal(trials[0].GetProperty("test_accuracy").GetDouble(), JsonDocument.Parse(evaluated.Output).RootElement.GetProperty("accuracy").GetDouble(), 4);
        Assert.Equal(4, File.ReadAllLines(dir.File("out/results.csv")).Length);
        Assert.Contains("2 workers", json.GetProperty("executor").GetString());

        var again = CliRunner.Run("sweep", dir.File("sweep.yaml"), "-o", dir.File("out"));
        Assert.True(again.ExitCode == 0, again.All);
        Assert.Contains("0 to run, 3 done before", again.Error);
        Assert.Contains($"Best: {best}", again.Output);

        var report = CliRunner.Run("sweep", "report", dir.File("out"));
        Assert.True(report.ExitCode == 0, report.All);
        Assert.True(new FileInfo(dir.File("out/report/parallel.png")).Length > 1000);
        Assert.Contains("parameter-3.png", File.ReadAllText(dir.File("out/report/index.html")));
        Replacement.AssertEveryFileReplacedWhole(dir.File("out/report"), () => Assert.Equal(0, CliRunner.Run("sweep", "report", dir.File("out")).ExitCode));
    }

    [Fact]
    public void A_failing_trial_is_recorded_and_reported_not_lost()
    {
        using var dir = new TempFolder();
        Read(dir, "base: patterns.yaml\nparameters:\n  data.train.images: { choice: [data/train-images.gz, data/missing.gz] }\nsearch: grid\nmetric: accuracy\n");
        var r = CliRunner.Run("sweep", dir.File("sweep.yaml"), "-o", dir.File("out"), "--threads", "1");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("trial-001 failed: ", r.Output);
        Assert.Contains("missing.gz", r.Output);
        Assert.Contains("\"Status\":\"failed\"", File.ReadAllText(dir.File("out/trials/trial-001.result.json")));
        var again = CliRunner.Run("sweep", dir.File("sweep.yaml"), "-o", dir.File("out"), "--threads", "1");
        Assert.Contains("0 to run", again.Error);                                                   // not retried silently
        var retry = CliRunner.Run("sweep", dir.File("sweep.yaml"), "-o", dir.File("out"), "--threads", "1", "--retry-failed");
        Assert.Contains("1 to run", retry.Error);
    }

    [Fact]
    public void Dry_run_lists_trials_and_writes_nothing()
    {
        using var dir = new TempFolder();
        Read(dir, Good);
        var r = CliRunner.Run("sweep", dir.File("sweep.yaml"), "-o", dir.File("out"), "--dry-run");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("trial-003", r.Output);
        Assert.Contains("layers.conv2d_1.filters", r.Output);
        Assert.False(Directory.Exists(dir.File("out")));
    }

    [Fact]
    public void Slurm_array_ranges_are_compact() => Assert.Equal("0-3,7,9-10", SlurmExecutor.Ranges([9, 0, 1, 2, 3, 7, 10]));
}

/// <summary>A single-node Slurm, started once (start-slurm.sh) for the tests that submit to it.</summary>
public sealed class SlurmCluster
{
    private readonly Lazy<string?> _problem = new(Start);

    public void Require() => Optional.Require(_problem.Value is null, $"Slurm cannot start here: {_problem.Value}");

    private static string? Start()
    {
        try
        {
            var info = new ProcessStartInfo("/bin/sh", [TestPaths.Tests("Comparing", "start-slurm.sh")]) { RedirectStandardError = true, RedirectStandardOutput = true };
            using var p = Process.Start(info)!;
            var error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? null : error.Trim();
        }
        catch (Exception e) { return e.Message; }
    }
}

[CollectionDefinition("slurm", DisableParallelization = true)]
public sealed class SlurmCollection : ICollectionFixture<SlurmCluster>;

[Collection("slurm")]
public class SlurmSweepTests(SlurmCluster slurm)
{
    [SkippableFact]
    public void Slurm_runs_the_trials_as_a_job_array_and_resubmits_only_unfinished_ones()
    {
        slurm.Require();
        using var dir = new TempFolder();
        TestData.WriteSpecWithData(dir.Path, trainCount: 90, testCount: 30, epochs: 1);
        File.WriteAllText(dir.File("sweep.yaml"), "base: patterns.yaml\nparameters:\n  training.batch_size: { choice: [8, 16, 32] }\nsearch: grid\nmetric: val_accuracy\n");
        var r = CliRunner.Run("sweep", dir.File("sweep.yaml"), "-o", dir.File("out"), "--executor", "slurm", "--threads", "1", "--json");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("submitted Slurm job array", r.Error);
        Assert.Contains("--array=0-2", File.ReadAllText(dir.File("out/slurm/sweep.sbatch")).Replace("\n", " ") + " --array=0-2");
        var trials = JsonDocument.Parse(r.Output).RootElement.GetProperty("trials").EnumerateArray().ToList();
        Assert.Equal(3, trials.Count(t => t.GetProperty("status").GetString() == "ok"));
        Assert.True(File.Exists(dir.File("out/logs/trial-001.log")));

        File.Delete(dir.File("out/trials/trial-001.result.json"));
        var again = CliRunner.Run("sweep", dir.File("sweep.yaml"), "-o", dir.File("out"), "--executor", "slurm", "--threads", "1");
        Assert.True(again.ExitCode == 0, again.All);
        Assert.Contains("1 to run, 2 done before", again.Error);
        Assert.Contains("(1 tasks)", again.Error);
    }

    [SkippableFact]
    public void Ctrl_c_cancels_the_job_array()
    {
        slurm.Require();
        using var dir = new TempFolder();
        // Trials far longer than the wait before Ctrl+C on any CPU (400 epochs took under a second and a half on a Zen 5, and the
        // sweep had ended, exit code 0, before the signal came); cancelled, they never run that long.
        TestData.WriteSpecWithData(dir.Path, trainCount: 600, testCount: 30, epochs: 100_000);
        File.WriteAllText(dir.File("sweep.yaml"), "base: patterns.yaml\nparameters:\n  training.batch_size: { choice: [8, 16] }\nsearch: grid\nmetric: accuracy\n");
        var cli = typeof(SpecNet.Cli.SpecNetCli).Assembly.Location;
        using var p = Process.Start(Children.Interruptible(Environment.ProcessPath!.EndsWith("dotnet") ? Environment.ProcessPath : "dotnet",
            [cli, "sweep", dir.File("sweep.yaml"), "-o", dir.File("out"), "--executor", "slurm", "--threads", "1"]))!;
        var errors = new System.Text.StringBuilder();
        string? jobId = null;
        p.ErrorDataReceived += (_, e) => { if (e.Data is null) return; lock (errors) errors.AppendLine(e.Data); if (e.Data.Contains("submitted Slurm job array ")) jobId = e.Data.Split("array ")[1].Split(' ')[0]; };
        p.BeginErrorReadLine();
        p.StandardOutput.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while (jobId is null && clock.Elapsed < TimeSpan.FromSeconds(60) && !p.HasExited) Thread.Sleep(100);
        Assert.True(jobId is not null, errors.ToString());
        Thread.Sleep(1500);
        Process.Start("kill", ["-INT", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        Assert.True(p.WaitForExit(30_000), "the sweep did not stop");
        p.WaitForExit(); // without a timeout it also waits for the redirected stderr to be read to its end
        Assert.True(p.ExitCode == 130, $"exit code {p.ExitCode}:\n{errors}");
        Assert.Contains($"cancelled Slurm job {jobId}", errors.ToString());
        var (_, queue, _) = SlurmExecutor.Tool("squeue", ["-h", "-j", jobId!]);
        Thread.Sleep(2000);
        (_, queue, _) = SlurmExecutor.Tool("squeue", ["-h", "-j", jobId!, "-t", "PENDING,RUNNING"]);
        Assert.True(queue.Trim().Length == 0, queue);
    }

    [SkippableFact]
    public void Diff_runs_its_seeds_on_an_executor_with_the_same_result()
    {
        slurm.Require();
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path, trainCount: 90, testCount: 30, epochs: 1);
        File.WriteAllText(dir.File("b.yaml"), File.ReadAllText(spec).Replace("units: 16", "units: 8"));
        // a cache of its own, so every run is trained here (this collection runs alone: the variable is not seen by other tests)
        var cache = Environment.GetEnvironmentVariable("SPECNET_CACHE");
        Environment.SetEnvironmentVariable("SPECNET_CACHE", dir.File("cache"));
        try
        {
        var local = CliRunner.Run("diff", spec, dir.File("b.yaml"), "--seeds", "2", "--executor", "local", "--workers", "2", "--threads", "1", "--json");
        Assert.True(local.ExitCode == 0, local.All);
        var inProcess = CliRunner.Run("diff", spec, dir.File("b.yaml"), "--seeds", "2", "--json");
        Assert.Equal(JsonDocument.Parse(local.Output).RootElement.GetProperty("delta").GetDouble(), JsonDocument.Parse(inProcess.Output).RootElement.GetProperty("delta").GetDouble());
        var onSlurm = CliRunner.Run("diff", spec, dir.File("b.yaml"), "--seeds", "3", "--epochs", "2", "--executor", "slurm", "--threads", "1");
        Assert.True(onSlurm.ExitCode == 0, onSlurm.All);
        Assert.Contains("runs to train (slurm", onSlurm.Error);
        Assert.Contains("Verdict:", onSlurm.Output);
        Assert.Contains($"export SPECNET_CACHE={dir.File("cache")}", File.ReadAllText(dir.File("cache/runs/diff-jobs/slurm/diff.sbatch")));
        }
        finally { Environment.SetEnvironmentVariable("SPECNET_CACHE", cache); }
    }
}

[Collection(EnvironmentCollection.Name)] // sets SPECNET_CACHE
public class SweepWeightsTests
{
    /// <summary>Every weights file a sweep writes runs alone: its embedded spec's data paths lead to the data from where it lies.</summary>
    [Fact]
    public void A_sweeps_weights_run_alone_when_reused_from_another_sweep_or_moved()
    {
        using var dir = new TempFolder();
        TestData.WriteSpecWithData(dir.Path, trainCount: 90, testCount: 30, epochs: 1);
        File.WriteAllText(dir.File("sweep.yaml"), "base: patterns.yaml\nparameters:\n  training.batch_size: { choice: [16, 32] }\nsearch: grid\nmetric: accuracy\n");
        var saved = Environment.GetEnvironmentVariable("SPECNET_CACHE");
        try
        {
            Environment.SetEnvironmentVariable("SPECNET_CACHE", dir.File("cache"));
            Assert.Equal(0, CliRunner.Run("sweep", dir.File("sweep.yaml"), "-o", dir.File("first"), "--threads", "1").ExitCode);
            Directory.Delete(dir.File("first"), recursive: true);

            // The same trials into a deeper folder: every run comes from the cache, trained for the folder now deleted.
            var second = dir.File("runs/today/sweep");
            var r = CliRunner.Run("sweep", dir.File("sweep.yaml"), "-o", second, "--threads", "1");
            Assert.True(r.ExitCode == 0, r.All);
            Assert.True(File.ReadAllText(Path.Combine(second, "logs", "trial-000.log")).Contains("cached"), r.All);
            foreach (var weights in new[] { "trials/trial-000.safetensors", "trials/trial-001.safetensors", "best.safetensors" })
            {
                var e = CliRunner.Run("eval", Path.Combine(second, weights), "--json");
                Assert.True(e.ExitCode == 0, $"{weights}: {e.All}");
                Assert.Equal(30, JsonDocument.Parse(e.Output).RootElement.GetProperty("examples").GetInt32());
            }

            // The sweep's folder moved beside it: the best weights still find the data from where they now lie.
            Directory.Move(second, dir.File("runs/today/kept"));
            var moved = CliRunner.Run("eval", dir.File("runs/today/kept/best.safetensors"), "--json");
            Assert.True(moved.ExitCode == 0, moved.All);
        }
        finally { Environment.SetEnvironmentVariable("SPECNET_CACHE", saved); }
    }
}
