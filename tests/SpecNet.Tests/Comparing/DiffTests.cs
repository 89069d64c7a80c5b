using System.Text.Json;
using SpecNet.Checking;
using SpecNet.Comparing;
using SpecNet.Tests.Cli;

namespace SpecNet.Tests.Comparing;

[Collection(EnvironmentCollection.Name)] // sets SPECNET_CACHE
public class DiffTests
{
    private static ModelSpec Spec(string file) => SpecCompiler.CompileFile(TestPaths.Repo("specs", file)).Model!;

    [Fact]
    public void Pooled_versus_strided_aligns_layers_by_kind()
    {
        var changes = StructureDiff.Layers(Spec("mnist-cnn.yaml"), Spec("mnist-strided.yaml"));
        Assert.Equal(["changed", "removed", "changed", "removed", "changed", "removed", "changed", "changed", "same"], changes.Select(c => c.Change));
        Assert.Contains("strides 1 -> 2", changes[0].Details);
        Assert.Contains("output 26x26x32 -> 13x13x32", changes[0].Details);
        Assert.Equal(49_152, changes[7].ParamsDelta);  // dense_1 now sees 512 inputs instead of 128
        Assert.Equal(-146_016, changes[0].MacsDelta);
    }

    [Fact]
    public void Training_settings_that_differ_are_listed()
    {
        var changes = StructureDiff.Training(Spec("mnist-cnn.yaml"), Spec("lenet5.yaml"));
        Assert.Contains(changes, c => c.StartsWith("optimizer: adam(") && c.Contains("-> sgd(learning_rate=0.05, momentum=0.9"));
        Assert.Contains("seed: 42 -> 7", changes);
    }

    [Fact]
    public void Diff_trains_both_compares_and_reuses_the_cache()
    {
        using var dir = new TempFolder();
        var a = TestData.WriteSpecWithData(dir.Path, epochs: 2);
        var b = Path.Combine(dir.Path, "b.yaml");
        // a B that A's data does not fit: the pairing is named, not B's spec
        File.WriteAllText(b, File.ReadAllText(a).Replace("name: patterns", "name: rgb").Replace("shape: [8, 8, 1]", "shape: [8, 8, 3]"));
        var unfit = CliRunner.Run("diff", a, b);
        Assert.Equal(1, unfit.ExitCode);
        Assert.Contains("b.yaml: diff trains and tests both specs on A's data (patterns), which does not fit B (rgb): ", unfit.Error);

        File.WriteAllText(b, File.ReadAllText(a).Replace("name: patterns", "name: wider").Replace("units: 16", "units: 32"));
        Environment.SetEnvironmentVariable("SPECNET_CACHE", dir.File("cache"));
        try
        {
            var first = CliRunner.Run("diff", a, b, "--seeds", "2", "--json");
            Assert.True(first.ExitCode == 0, first.All);
            var json = JsonDocument.Parse(first.Output).RootElement;
            foreach (var side in new[] { "a", "b" })
            {
                var s = json.GetProperty(side);
                Assert.InRange(s.GetProperty("accuracy").GetDouble(), 0.5, 1);
                Assert.Equal(2, s.GetProperty("accuracy_ci").GetArrayLength());
                Assert.True(s.GetProperty("params").GetInt64() > 0);
                Assert.True(s.GetProperty("macs").GetInt64() > 0);
                Assert.False(s.GetProperty("cached").GetBoolean());
            }
            Assert.Equal("wider", json.GetProperty("b").GetProperty("name").GetString());
            Assert.Equal(2, json.GetProperty("delta_ci").GetArrayLength());
            Assert.InRange(json.GetProperty("p_value").GetDouble(), 0, 1);
            Assert.False(string.IsNullOrEmpty(json.GetProperty("verdict").GetString()));
            Assert.Contains(json.GetProperty("layers").EnumerateArray(), l => l.GetProperty("change").GetString() == "changed" && l.GetProperty("a").GetString() == "dense_1");
            Assert.Equal(4, Directory.GetFiles(Path.Combine(dir.File("cache"), "runs"), "*.json").Length);

            // Again, plus a third seed: the first two seeds come from the cache, only seed 3 trains.
            var second = CliRunner.Run("diff", a, b, "--seeds", "3");
            Assert.True(second.ExitCode == 0, second.All);
            Assert.Contains("patterns, seed 3: cached", second.Error);
            Assert.Contains("patterns, seed 5: training", second.Error);
            Assert.Contains("(2 of 3 runs cached)", second.Output);
            Assert.Contains("paired t-test over 3 seeds", second.Output);
            Assert.Equal(6, Directory.GetFiles(Path.Combine(dir.File("cache"), "runs"), "*.json").Length);
        }
        finally { Environment.SetEnvironmentVariable("SPECNET_CACHE", null); }
    }

    [Fact]
    public void Diff_lines_up_its_layer_table_whatever_the_names_and_kinds()
    {
        using var dir = new TempFolder();
        var a = TestData.WriteSpecWithData(dir.Path, epochs: 1);
        var b = dir.File("b.yaml");
        File.WriteAllText(b, File.ReadAllText(a).Replace("""
              - max_pool2d: { pool_size: 2 }
            """, """
              - residual: { layers: [{ conv2d: { filters: 4, kernel_size: 3, padding: same } }, batch_norm], name: a_rather_long_residual_block_name }
              - max_pool2d: { pool_size: 2 }
            """));
        string[] names = ["a-class-with-a-rather-long-name", "a-second-class-with-a-long-name", "and-a-third-one-as-long-as-that"];
        foreach (var spec in new[] { a, b })
            File.WriteAllText(spec, File.ReadAllText(spec).Replace("  test: { images", $"  labels: [{string.Join(", ", names)}]\n  test: {{ images"));
        var r = CliRunner.Run("diff", a, b, "--epochs", "1");
        Assert.True(r.ExitCode == 0, r.All);
        // The per-class deltas wrap rather than run off the screen, every class named
        var perClass = r.Output.Split('\n').SkipWhile(l => !l.StartsWith("Per class")).TakeWhile(l => l.Length > 0 && !l.StartsWith("Confusions")).ToList();
        Assert.True(perClass.Count >= 3 && perClass.All(l => l.Length <= 110), string.Join("\n", perClass));
        Assert.All(names, n => Assert.Contains($"{n}: ", string.Join("\n", perClass)));
        var table = r.Output.Split('\n').SkipWhile(l => l != "Layers").Skip(1).TakeWhile(l => l.Length > 0).ToList();
        Assert.Contains(table, l => l.Contains("+ a_rather_long_residual_block_name") && l.Contains("residual (3 layers)"));
        Assert.Equal(6, table.Count);
        Assert.Single(table.Select(l => l.IndexOf("  params ", StringComparison.Ordinal)).Distinct());
        int kind = table[1].IndexOf("residual (", StringComparison.Ordinal);   // every kind starts in that column
        Assert.All(table, l => Assert.True(l[kind - 1] == ' ' && l[kind] != ' ', l));
    }

    /// <summary>
    /// diff on two known weight files: every figure it reports (delta, its interval, McNemar's p, the
    /// discordant counts, the verdict) against values this test computes itself from the two models'
    /// per-example predictions, with textbook formulas written out here.
    /// </summary>
    [Fact]
    public void Diff_of_two_weight_files_reports_the_statistics_of_their_predictions()
    {
        using var dir = new TempFolder();
        var a = TestData.WriteSpecWithData(dir.Path, epochs: 1);
        File.WriteAllText(a, File.ReadAllText(a).Replace("learning_rate: 0.01", "learning_rate: 0.0005")); // A learns little in one epoch
        Assert.Equal(0, CliRunner.Run("train", a, "--output", dir.File("a.safetensors")).ExitCode);
        Assert.Equal(0, CliRunner.Run("train", a, "--epochs", "4", "--output", dir.File("b.safetensors")).ExitCode);
        var r = CliRunner.Run("diff", a, a, "--weights-a", dir.File("a.safetensors"), "--weights-b", dir.File("b.safetensors"), "--json");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.DoesNotContain("training", r.Error);
        var json = JsonDocument.Parse(r.Output).RootElement;

        var model = SpecCompiler.CompileFile(a).Model!;
        var (_, test) = SpecNet.Data.DataLoader.Load(model, _ => { });
        var engine = new SpecNet.Planning.CpuEngine(new SpecNet.Kernels.ReferenceBackend());
        int[] Predictions(string weights) => SpecNet.Training.Evaluator.Evaluate(SpecNet.Formats.WeightsFile.Load(weights, model), engine, test!).Predictions;
        var (pa, pb, labels) = (Predictions(dir.File("a.safetensors")), Predictions(dir.File("b.safetensors")), test!.Labels);
        int n = labels.Length;
        int onlyA = Enumerable.Range(0, n).Count(i => pa[i] == labels[i] && pb[i] != labels[i]);
        int onlyB = Enumerable.Range(0, n).Count(i => pb[i] == labels[i] && pa[i] != labels[i]);
        Assert.True(onlyB > onlyA + 10, $"the test needs B clearly better: only A {onlyA}, only B {onlyB}");

        double delta = (onlyB - onlyA) / (double)n;
        double se = Math.Sqrt(onlyA + onlyB - Math.Pow(onlyB - onlyA, 2) / n) / n;
        // McNemar's exact test: two-sided binomial tail of the smaller count among the discordant pairs, p = 1/2.
        int d = onlyA + onlyB, k = Math.Min(onlyA, onlyB);
        double tail = 0, term = Math.Pow(0.5, d); // C(d, 0) / 2^d
        for (int i = 0; i <= k; i++) { tail += term; term *= (d - i) / (double)(i + 1); }
        double p = Math.Min(1, 2 * tail);

        Assert.Equal(onlyA, json.GetProperty("only_a").GetInt32());
        Assert.Equal(onlyB, json.GetProperty("only_b").GetInt32());
        Assert.Equal(delta, json.GetProperty("delta").GetDouble(), 6);
        Assert.Equal(delta - 1.959964 * se, json.GetProperty("delta_ci")[0].GetDouble(), 5);
        Assert.Equal(delta + 1.959964 * se, json.GetProperty("delta_ci")[1].GetDouble(), 5);
        Assert.Equal(p, json.GetProperty("p_value").GetDouble(), 9);
        Assert.Equal(Enumerable.Range(0, n).Count(i => pa[i] == labels[i]) / (double)n, json.GetProperty("a").GetProperty("accuracy").GetDouble(), 6);
        var verdict = json.GetProperty("verdict").GetString()!;
        Assert.StartsWith($"B is better by {Math.Abs(delta * 100).ToString("0.0#", System.Globalization.CultureInfo.InvariantCulture)} points, ", verdict);
        Assert.Contains("measures only test-set noise, not training noise", verdict); // one seed: no claim about training

        // The weights files themselves in A's and B's places: the same comparison, nothing trained.
        var files = CliRunner.Run("diff", dir.File("a.safetensors"), dir.File("b.safetensors"), "--json");
        Assert.True(files.ExitCode == 0, files.All);
        Assert.DoesNotContain("training", files.Error);
        var fromFiles = JsonDocument.Parse(files.Output).RootElement;
        Assert.Equal(onlyA, fromFiles.GetProperty("only_a").GetInt32());
        Assert.Equal(onlyB, fromFiles.GetProperty("only_b").GetInt32());
        // One trained model against a spec to train: refused, not silently trained from scratch.
        var mixed = CliRunner.Run("diff", dir.File("a.safetensors"), a);
        Assert.Equal(1, mixed.ExitCode);
        Assert.Contains($"{dir.File("a.safetensors")} is a trained model, but {a} is a spec to train", mixed.Error);
        Assert.Contains("--weights-b", mixed.Error);
    }
}

public class RunCacheKeyTests
{
    [Fact]
    public void Augmentation_and_preprocessing_are_part_of_a_runs_identity()
    {
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path);
        var plain = SpecCompiler.CompileFile(spec).Model!;
        var (train, test) = SpecNet.Data.DataLoader.Load(plain, _ => { });
        string Key(string replace) => RunCache.KeyOf(SpecCompiler.Compile(File.ReadAllText(spec).Replace("data:\n", "data:\n" + replace), spec).Model!, 1, 2, train, test!);
        var keys = new[] { Key(""), Key("  augment: { zoom: 0.1 }\n"), Key("  preprocess: { mean: 0.5 }\n"), Key("  validation_split: 0.2\n") };
        Assert.Equal(keys.Length, keys.Distinct().Count());
    }
}

[Collection(EnvironmentCollection.Name)]
public class RunCacheLocationTests
{
    [Fact]
    public void Runs_are_cached_where_the_readme_says()
    {
        var saved = new[] { "SPECNET_CACHE", "XDG_CACHE_HOME", "SPECNET_DATA" }.ToDictionary(k => k, Environment.GetEnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable("SPECNET_CACHE", null);
            Environment.SetEnvironmentVariable("SPECNET_DATA", "/data/elsewhere"); // datasets only: runs do not follow it
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", "/tmp/xdg");
            Assert.Equal("/tmp/xdg/specnet/runs", RunCache.Default.Folder);
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", null);
            Assert.Equal(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "specnet", "runs"), RunCache.Default.Folder);
            Environment.SetEnvironmentVariable("SPECNET_CACHE", "/tmp/c");
            Assert.Equal("/tmp/c/runs", RunCache.Default.Folder);
        }
        finally { foreach (var (k, v) in saved) Environment.SetEnvironmentVariable(k, v); }
    }
}
