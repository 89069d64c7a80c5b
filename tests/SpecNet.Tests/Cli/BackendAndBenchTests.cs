using SpecNet.Diagnostics;
using System.Text.Json;
using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Tests.Layers;

namespace SpecNet.Tests.Cli;

public class BackendAndBenchTests
{
    [Fact]
    public void Bench_reports_every_layer_and_whole_model_rates()
    {
        var r = CliRunner.Run("bench", TestPaths.Repo("specs", "lenet5.yaml"), "--batch-size", "8", "--iterations", "2", "--json");
        Assert.Equal(0, r.ExitCode);
        var root = JsonDocument.Parse(r.Output).RootElement;
        Assert.Equal("managed", root.GetProperty("backend").GetString());
        Assert.Equal(8, root.GetProperty("layers").GetArrayLength());
        Assert.True(root.GetProperty("train_images_per_second").GetDouble() > 0);
        Assert.True(root.GetProperty("single_image_ms").GetDouble() > 0);
        double median = root.GetProperty("single_image_median_ms").GetDouble(), p99 = root.GetProperty("single_image_p99_ms").GetDouble();
        Assert.True(median > 0 && median <= p99, $"median {median}, 99th percentile {p99}");
        var text = CliRunner.Run("bench", TestPaths.Repo("specs", "lenet5.yaml"), "--batch-size", "8", "--iterations", "2");
        Assert.Contains("GFLOP/s", text.Output);
        Assert.Contains("Training step:", text.Output);
        Assert.Matches(@"Single image: +[0-9.]+ ms \(median [0-9.]+, 99th percentile [0-9.]+\)", text.Output);
    }

    /// <summary>A single image's latency over calls timed one by one: the mean, the median and the 99th percentile, as `bench` prints them.</summary>
    [Fact]
    public void Latency_gives_the_mean_the_median_and_the_99th_percentile()
    {
        var ms = Enumerable.Range(1, 100).Select(i => (double)i).Reverse().ToArray();
        ms[0] = 1000;   // one slow call moves the mean, not the median
        var l = SpecNet.Training.Latency.Of(ms);
        Assert.Equal((5050 - 100 + 1000) / 100.0, l.Mean, 9);
        Assert.Equal(51, l.Median);
        Assert.Equal(99, l.P99);
    }

    [Fact]
    public void Bench_times_inference_as_eval_runs_it_with_batch_norms_folded()
    {
        var r = CliRunner.Run("bench", TestPaths.Repo("specs", "fashion-mobile.yaml"), "--batch-size", "4", "--iterations", "1", "--json");
        Assert.Equal(0, r.ExitCode);
        var layers = JsonDocument.Parse(r.Output).RootElement.GetProperty("layers").EnumerateArray()
            .ToDictionary(l => l.GetProperty("name").GetString()!, l => l.GetProperty("inference_ms").GetDouble());
        Assert.True(layers["stem"] > 0 && layers["depthwise_conv2d_1"] > 0 && layers["dense_1"] > 0);
        Assert.Equal(0, layers["batch_norm_1"]);   // run inside the convolution before it
        Assert.Equal(0, layers["relu_1"]);
        var text = CliRunner.Run("bench", TestPaths.Repo("specs", "fashion-mobile.yaml"), "--batch-size", "4", "--iterations", "1");
        Assert.Matches(@"batch_norm_1 \(batch_norm\) +[0-9.]+ +[0-9.]+ +[0-9.]+% +[0-9.]+ +fused", text.Output);
    }

    [Fact]
    public void Bench_keeps_each_figure_in_its_column_whatever_the_layer_names()
    {
        // The residual model's names ("residual_2/shortcut/batch_norm_1 (batch_norm)") are longer than a fixed column
        var text = CliRunner.Run("bench", TestPaths.Repo("specs", "fashion-resnet.yaml"), "--batch-size", "2", "--iterations", "1");
        Assert.Equal(0, text.ExitCode);
        var lines = text.Output.Split('\n');
        int header = Array.FindIndex(lines, l => l.StartsWith("layer "));
        int end = Array.FindIndex(lines, l => l.StartsWith("total (layers)"));
        var rows = lines[header..(end + 1)];
        Assert.Contains(rows, l => l.StartsWith("residual_2/shortcut/batch_norm_1 (batch_norm) "));
        // Right-aligned figures: the forward column ends where its heading ends, on every row
        int forwardEnd = rows[0].IndexOf("forward ms") + "forward ms".Length;
        Assert.All(rows[1..], row => Assert.Matches(@"^[0-9.]+$", row[(forwardEnd - 5)..forwardEnd].Trim()));
        Assert.All(rows[1..], row => Assert.Equal(' ', row[forwardEnd]));
        Assert.All(rows, row => Assert.Equal(rows[0].Length, row.TrimEnd().Length));
    }

    [Fact]
    public void Unknown_backend_is_a_clear_error()
    {
        var r = CliRunner.Run("bench", TestPaths.Repo("specs", "lenet5.yaml"), "--backend", "cuda", "--iterations", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("'cuda' not recognized", r.Error);
        Assert.Contains("managed", r.Error);
    }

    [Fact]
    public void Auto_measures_managed_against_mkl_when_present_and_says_so_when_not()
    {
        var notes = new List<string>();
        var backend = Backends.Create("auto", notes.Add);
        if (MklBackend.TryCreate(0, out _) is null)
        {
            Assert.Equal("managed", backend.Name);
            Assert.Contains(notes, n => n.Contains("libmkl_rt") && n.Contains("using the managed backend"));
        }
        else
        {
            var note = Assert.Single(notes);
            var times = System.Text.RegularExpressions.Regex.Matches(note, @"(managed|mkl) ([0-9.]+) ms").ToDictionary(m => m.Groups[1].Value, m => double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(2, times.Count);
            Assert.Equal(times["managed"] <= times["mkl"] ? "managed" : "mkl", backend.Name); // the faster one, by its own report
            Assert.EndsWith($"using {backend.Name}", note);
        }
    }

    [Theory]
    [InlineData(1.0, 2.0, "managed")]
    [InlineData(3.0, 2.0, "reference")]
    public void Faster_keeps_the_backend_that_measured_less(double first, double second, string expected)
    {
        var notes = new List<string>();
        Backend a = new ManagedBackend(1), b = new ReferenceBackend();
        var chosen = Backends.Faster(a, b, x => x == a ? first / 1000 : second / 1000, notes.Add);
        Assert.Equal(expected, chosen.Name);
        Assert.Equal(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"note: auto measured managed {first:F2} ms and reference {second:F2} ms on this machine; using {expected}"), Assert.Single(notes));
    }

    [Fact]
    public void Gemm_timing_is_positive_and_runs_the_backend()
    {
        Assert.InRange(Backends.GemmSeconds(new ManagedBackend(1)), 1e-6, 5);
    }

    /// <summary>
    /// Every backend runs the whole model (forward and backward) to the reference's results: the tutorial's kinds, and the activations a
    /// convolution applies to each chunk of its output (keeping z for backward) with a layer_norm, over many chunks on two threads.
    /// </summary>
    [SkippableTheory]
    [InlineData("managed", "relu")]
    [InlineData("managed", "other activations")]
    [InlineData("mathnet", "relu")]
    [InlineData("mathnet", "other activations")]
    [InlineData("mkl", "relu")]
    [InlineData("mkl", "other activations")]
    public void Backends_agree_with_the_reference_on_a_whole_training_step(string name, string layers)
    {
        var backend = Optional.Backend(name);
        var model = GradientCheckTests.Compile("input: { shape: [12, 12, 2] }\nlayers:\n" + (layers == "relu" ? """
              - conv2d: { filters: 32, kernel_size: 3, activation: relu }
              - max_pool2d: { pool_size: 2 }
              - conv2d: { filters: 32, kernel_size: 3, padding: same, activation: relu }
              - flatten
              - dense: { units: 10, activation: softmax }
            """ : """
              - conv2d: { filters: 32, kernel_size: 3, activation: gelu }
              - depthwise_conv2d: { kernel_size: 3, padding: same, activation: silu }
              - conv2d: { filters: 24, kernel_size: 1, activation: hard_swish }
              - layer_norm
              - conv2d: { filters: 8, kernel_size: 3, strides: 2, activation: tanh }
              - flatten
              - dense: { units: 10, activation: softmax }
            """));
        float[][] Run(Backend b)
        {
            var parameters = ParameterSet.Initialize(model, 3);
            var plan = new ExecutionPlan(model, parameters, b, 40);
            var rng = new Rng(1);
            for (int i = 0; i < plan.Input.Length; i++) plan.Input[i] = rng.NextFloat();
            plan.Forward(40, training: true);
            var labels = Enumerable.Range(0, 40).Select(i => i % 10).ToArray();
            var loss = SpecNet.Training.Loss.For(new SpecNet.Checking.LossSpec(SpecNet.Checking.LossKind.CategoricalCrossentropy), model.FinalActivation);
            loss.Compute(plan.Output, labels, 40, plan.OutputGradient);
            plan.Backward(loss.Fused);
            return [plan.Output.ToArray(), .. parameters.Trainable.Select(s => s.Grad!.ToArray())];
        }
        var expected = Run(new ReferenceBackend());
        var actual = Run(backend);
        for (int t = 0; t < expected.Length; t++)
            for (int i = 0; i < expected[t].Length; i++)
                Assert.True(Math.Abs(expected[t][i] - actual[t][i]) <= 1e-4f + 1e-3f * Math.Abs(expected[t][i]),
                    $"{name}: tensor {t}[{i}] = {actual[t][i]}, reference {expected[t][i]}");
    }
}

/// <summary>SPECNET_THREADS sets the thread count of every command (more than the cores is allowed), and runs say how many they used.</summary>
[Collection(EnvironmentCollection.Name)]
public class ThreadCountTests
{
    [Fact]
    public void Specnet_threads_sets_the_count_and_the_run_says_so()
    {
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path, epochs: 1);
        try
        {
            var weights = new Dictionary<int, float[][]>();
            foreach (var threads in new[] { 1, 3, 5 }) // 3 and 5: more threads than this machine's cores, and odd
            {
                Environment.SetEnvironmentVariable("SPECNET_THREADS", threads.ToString(System.Globalization.CultureInfo.InvariantCulture));
                var r = CliRunner.Run("train", spec, "--json", "--output", dir.File($"t{threads}.safetensors"));
                Assert.True(r.ExitCode == 0, r.All);
                var start = JsonDocument.Parse(r.Output.Split('\n')[0]).RootElement;
                Assert.Equal(threads, start.GetProperty("threads").GetInt32());
                Assert.Contains($"{threads} thread", CliRunner.Run("eval", spec, "--weights", dir.File($"t{threads}.safetensors")).Output);
                weights[threads] = SpecNet.Formats.SafeTensors.Read(dir.File($"t{threads}.safetensors")).Tensors.Select(t => t.Data).ToArray();
            }
            // Different thread counts add partial sums in a different order: the same up to float rounding.
            foreach (var (a, b) in weights[1].Zip(weights[5]))
                for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) < 1e-3, $"{a[i]} vs {b[i]}");

            Environment.SetEnvironmentVariable("SPECNET_THREADS", "0");
            var bad = CliRunner.Run("train", spec);
            Assert.Equal(1, bad.ExitCode);
            Assert.Contains("SPECNET_THREADS must be a whole number from 1", bad.Error);
        }
        finally { Environment.SetEnvironmentVariable("SPECNET_THREADS", null); }
    }
}
