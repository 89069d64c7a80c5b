using SpecNet.Checking;
using SpecNet.Cli;
using SpecNet.Cli.Commands;
using SpecNet.Formats;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Tests.Cli;
using SpecNet.Tests.Layers;

namespace SpecNet.Tests.Formats;

/// <summary>Every spec, and every layer kind, exported to ONNX and run in ONNX Runtime against SpecNet's own forward pass.</summary>
public class OnnxExportTests
{
    public static TheoryData<string> Specs() => new(Directory.GetFiles(TestPaths.Repo("specs"), "*.yaml").Select(Path.GetFileName).Order()!);

    [Theory]
    [MemberData(nameof(Specs))]
    public void Every_spec_exports_and_matches_onnx_runtime(string file)
    {
        var model = SpecCompiler.CompileFile(TestPaths.Repo("specs", file)).Model!;
        AssertMatches(model, Randomized(model, 4));
    }

    /// <summary>Each kind, 'same' padding with stride 2 on odd sizes (SAME_UPPER), pooling that drops a row, spatial softmax.</summary>
    [Theory]
    [InlineData("[9, 7, 3]", "conv2d: { filters: 4, kernel_size: 3, strides: 2, padding: same, activation: leaky_relu }")]
    [InlineData("[8, 8, 2]", "conv2d: { filters: 3, kernel_size: [2, 3], dilation_rate: 2, padding: same, activation: gelu, use_bias: false }")]
    [InlineData("[11, 11, 2]", "max_pool2d: { pool_size: 2 }")]
    [InlineData("[9, 7, 2]", "max_pool2d: { pool_size: 3, strides: 2, padding: same }")]
    [InlineData("[9, 7, 2]", "avg_pool2d: { pool_size: 2, padding: same }")]
    [InlineData("[5, 5, 3]", "avg_pool2d: { pool_size: 3, strides: 1 }")]
    [InlineData("[4, 3, 5]", "global_avg_pool2d")]
    [InlineData("[4, 3, 5]", "global_max_pool2d")]
    [InlineData("[3, 4, 2]", "flatten")]
    [InlineData("[6, 6, 4]", "batch_norm")]
    [InlineData("[12]", "batch_norm: { epsilon: 0.01 }")]
    [InlineData("[4, 3, 19]", "layer_norm")]
    [InlineData("[12]", "layer_norm: { epsilon: 0.01 }")]
    [InlineData("[12]", "dense: { units: 5, activation: elu }")]
    [InlineData("[12]", "dropout: { rate: 0.5 }")]
    [InlineData("[3, 3, 4]", "softmax")]
    [InlineData("[12]", "sigmoid")]
    [InlineData("[12]", "tanh")]
    [InlineData("[12]", "relu")]
    [InlineData("[12]", "elu: { alpha: 0.5 }")]
    [InlineData("[12]", "gelu")]
    [InlineData("[12]", "leaky_relu: { alpha: 0.1 }")]
    [InlineData("[12]", "activation: { activation: silu }")]
    [InlineData("[12]", "silu")]
    [InlineData("[3, 3, 4]", "relu6")]
    [InlineData("[12]", "hard_sigmoid")]
    [InlineData("[12]", "hard_swish")]
    [InlineData("[7, 6, 2]", "conv2d: { filters: 3, kernel_size: 3, activation: relu6 }")]
    [InlineData("[7, 6, 4]", "conv2d: { filters: 6, kernel_size: 3, strides: 2, padding: same, groups: 2, activation: relu }")]
    [InlineData("[9, 7, 4]", "depthwise_conv2d: { kernel_size: 3, strides: 2, padding: same }")]
    [InlineData("[8, 8, 3]", "depthwise_conv2d: { kernel_size: [3, 2], depth_multiplier: 2, dilation_rate: 2, activation: tanh, use_bias: false }")]
    [InlineData("[9, 7, 3]", "separable_conv2d: { filters: 5, kernel_size: 3, strides: 2, padding: same, depth_multiplier: 2, activation: relu }")]
    [InlineData("[5, 4, 2]", "zero_padding2d: { padding: [[1, 2], [0, 3]] }")]
    [InlineData("[4, 4, 3]", "add: { inputs: [input, input, input] }")]
    [InlineData("[12]", "subtract: { inputs: [input, input] }")]
    [InlineData("[4, 4, 3]", "multiply: { inputs: [input, input, input] }")]
    [InlineData("[4, 4, 3]", "average: { inputs: [input, input] }")]
    [InlineData("[12]", "maximum: { inputs: [input, input] }")]
    [InlineData("[12]", "minimum: { inputs: [input, input] }")]
    [InlineData("[4, 3, 2]", "concatenate: { inputs: [input, input] }")]
    [InlineData("[2, 2, 17]", "concatenate: { inputs: [input, input] }")]
    public void Every_layer_kind_matches_onnx_runtime(string input, string layer)
    {
        var model = GradientCheckTests.Compile($"input: {{ shape: {input} }}\nlayers:\n  - {layer}\ntraining: {{ loss: mse }}\n");
        AssertMatches(model, Randomized(model, 2));
    }

    /// <summary>MobileNet's piecewise activations past their kinks (-3, 0, 3, 6): the preprocessing spreads 8-bit inputs over [-7.5, 7.8].</summary>
    [Theory]
    [InlineData("relu6")]
    [InlineData("hard_sigmoid")]
    [InlineData("hard_swish")]
    public void Piecewise_activations_match_onnx_runtime_on_every_piece(string kind)
    {
        var model = GradientCheckTests.Compile($"input: {{ shape: [4, 4, 3] }}\ndata: {{ preprocess: {{ scale: 0.06, mean: [7.5] }} }}\nlayers:\n  - {kind}\ntraining: {{ loss: mse }}\n");
        AssertMatches(model, Randomized(model, 2));
    }

    [Fact]
    public void Every_registered_kind_has_an_onnx_case()
    {
        var cases = typeof(OnnxExportTests).GetMethod(nameof(Every_layer_kind_matches_onnx_runtime))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>()
            .Select(a => ((string)a.GetData(null!).First()[1]).Split(':')[0].Trim()).ToHashSet();
        var missing = SpecNet.Layers.LayerRegistry.Names.Where(n => !cases.Contains(n)).ToList();
        Assert.True(missing.Count == 0, "no ONNX case for " + string.Join(", ", missing));
    }

    /// <summary>The graph cases of the gradient check (merges of two paths, residual and parallel blocks, nesting).</summary>
    [Theory]
    [MemberData(nameof(GradientCheckTests.GraphCases), MemberType = typeof(GradientCheckTests))]
    public void Graphs_match_onnx_runtime(string what, string spec)
    {
        Assert.NotEmpty(what);
        var model = GradientCheckTests.Compile(spec + "\ntraining: { loss: mse }\n");
        AssertMatches(model, Randomized(model, 4));
    }

    /// <summary>
    /// Zeros padded before a pooling: ONNX Runtime folds a Pad into a pool given explicit pads as though its padding were zeros,
    /// so a max pool took a window's largest input where its padded zero was larger, and failed to load where the two paddings
    /// together reached the window (found by <see cref="Planning.RandomModelTests"/>). A convolution's biases make the values
    /// negative where the zeros matter.
    /// </summary>
    [Theory]
    [InlineData("zero_padding2d: { padding: 1 }", "max_pool2d: { pool_size: 2 }")]
    [InlineData("zero_padding2d: { padding: [[1, 2], [2, 0]] }", "max_pool2d: { pool_size: 2, padding: same }")]
    [InlineData("zero_padding2d: { padding: [[2, 2], [3, 0]] }", "max_pool2d: { pool_size: 3, strides: 1 }")]
    [InlineData("zero_padding2d: { padding: 1 }", "avg_pool2d: { pool_size: 3, strides: 2, padding: same }")]
    public void Zeros_padded_before_a_pooling_count_in_onnx_runtime(string padding, string pooling)
    {
        var model = GradientCheckTests.Compile($"input: {{ shape: [6, 7, 1] }}\nlayers:\n  - conv2d: {{ filters: 4, kernel_size: 3, padding: same }}\n  - {padding}\n  - {pooling}\n  - flatten\n  - dense: {{ units: 3 }}\ntraining: {{ loss: mse }}\n");
        for (int seed = 1; seed <= 3; seed++) AssertMatches(model, Randomized(model, seed));
    }

    /// <summary>
    /// The check's limit is 1e-5 of the largest output, and at least 1e-5: a PyTorch model fed raw 0..255 values (--scale 1) gave
    /// logits in the tens and differed from ONNX Runtime by 1.1e-5 to 3e-5 by rounding alone, and its import was refused.
    /// </summary>
    [Theory]
    [InlineData(3e-5, 50.0, true)]      // rounding over outputs of 50
    [InlineData(3e-5, 1.0, false)]      // the same difference over probabilities
    [InlineData(9e-6, 0.2, true)]       // at least 1e-5
    [InlineData(1e-3, 50.0, false)]     // 2e-5 of the outputs: something else
    public void The_onnx_runtime_check_allows_rounding_in_proportion_to_the_outputs(double difference, double largest, bool passes)
    {
        Assert.Equal(passes, new OnnxRuntimeCheck.Result("test", 8, difference, 8, largest).Passed);
        Assert.False(new OnnxRuntimeCheck.Result("test", 8, difference, 7, largest).Passed);   // a class that differs fails whatever the values
    }

    [Fact]
    public void Export_command_writes_and_verifies()
    {
        using var dir = new TempFolder();
        var model = SpecCompiler.CompileFile(TestPaths.Repo("specs", "lenet5.yaml")).Model!;
        WeightsFile.Save(dir.File("w.safetensors"), Randomized(model, 3), new Dictionary<string, string>());
        var r = CliRunner.Run("export", TestPaths.Repo("specs", "lenet5.yaml"), "--weights", dir.File("w.safetensors"), "--onnx", dir.File("m.onnx"), "--verify");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("classes agree on 16/16", r.Output);
        Assert.True(new FileInfo(dir.File("m.onnx")).Length > 200_000);

        // -o as every command that writes; without it, beside the weights and named after them
        var lenet = TestPaths.Repo("specs", "lenet5.yaml");
        Assert.Equal(0, CliRunner.Run("export", lenet, "-w", dir.File("w.safetensors"), "-o", dir.File("o.onnx")).ExitCode);
        var byDefault = CliRunner.Run("export", lenet, "-w", dir.File("w.safetensors"));
        Assert.True(byDefault.ExitCode == 0, byDefault.All);
        Assert.Equal(File.ReadAllBytes(dir.File("m.onnx")), File.ReadAllBytes(dir.File("w.onnx")));
        Assert.Equal(File.ReadAllBytes(dir.File("m.onnx")), File.ReadAllBytes(dir.File("o.onnx")));

        // an output named as the weights or the spec by a slip: refused, the model untouched
        var weights = File.ReadAllBytes(dir.File("w.safetensors"));
        var slip = CliRunner.Run("export", lenet, "-w", dir.File("w.safetensors"), "-o", dir.File("w.safetensors"));
        Assert.Equal(1, slip.ExitCode);
        Assert.Contains("the export would write over the weights it reads", slip.Error);
        Assert.Equal(weights, File.ReadAllBytes(dir.File("w.safetensors")));
    }

    /// <summary>
    /// Preprocessing lives in the exported graph (raw 0..255 in): RGB images through ONNX Runtime against
    /// `specnet predict` on the same PNG files, for every preprocessing option.
    /// </summary>
    [Theory]
    [InlineData("{ mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3], channel_order: bgr }")]
    [InlineData("{ scale: 0.5, mean: 30 }")]
    [InlineData("{ std: [2, 3, 4], channel_order: rgb }")]
    [InlineData("{ channel_order: bgr }")]
    public void Preprocessing_in_the_onnx_graph_matches_predict(string preprocess)
    {
        using var dir = new TempFolder();
        var spec = dir.File("rgb.yaml");
        File.WriteAllText(spec, $"name: rgb\ninput: [6, 5, 3]\ndata: {{ train: {{ folder: images }}, preprocess: {preprocess} }}\nlayers:\n" +
            "  - conv2d: { filters: 3, kernel_size: 3, activation: tanh }\n  - flatten\n  - dense: { units: 4, activation: softmax }\n");
        var model = SpecCompiler.CompileFile(spec).Model!;
        WeightsFile.Save(dir.File("w.safetensors"), Randomized(model, 5), new Dictionary<string, string>());
        Assert.Equal(0, CliRunner.Run("export", spec, "--weights", dir.File("w.safetensors"), "--onnx", dir.File("m.onnx")).ExitCode);

        var rng = new Rng(9);
        var images = Enumerable.Range(0, 4).Select(i =>
        {
            var pixels = Enumerable.Range(0, 6 * 5 * 3).Select(_ => (byte)rng.NextInt(256)).ToArray();
            var path = dir.File($"{i}.png");
            SpecNet.Data.Images.SavePng(path, pixels, 6, 5, 3);
            return (path, pixels);
        }).ToList();
        var r = CliRunner.Run(["predict", spec, "--weights", dir.File("w.safetensors"), "--json", .. images.Select(i => i.path)]);
        Assert.True(r.ExitCode == 0, r.All);
        var predicted = System.Text.Json.JsonDocument.Parse(r.Output).RootElement.GetProperty("predictions");

        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(dir.File("m.onnx"));
        for (int i = 0; i < images.Count; i++)
        {
            var raw = images[i].pixels.Select(v => (float)v).ToArray();
            var tensor = new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(raw, [1, 6, 5, 3]);
            using var outputs = session.Run([Microsoft.ML.OnnxRuntime.NamedOnnxValue.CreateFromTensor(OnnxExport.InputName, tensor)]);
            var onnx = outputs.First().AsEnumerable<float>().ToArray();
            var mine = predicted[i].GetProperty("probabilities").EnumerateArray().Select(p => p.GetDouble()).ToArray();
            Assert.Equal(mine.Length, onnx.Length);
            for (int c = 0; c < onnx.Length; c++) Assert.True(Math.Abs(onnx[c] - mine[c]) <= 2e-6, $"image {i}, class {c}: onnx {onnx[c]}, predict {mine[c]}");
        }
    }

    private static void AssertMatches(ModelSpec model, ParameterSet parameters)
    {
        var check = OnnxRuntimeCheck.Run(model, parameters, OnnxExport.Build(model, parameters), examples: 5);
        Assert.True(check.MaxDifference <= OnnxRuntimeCheck.Tolerance, $"max abs difference {check.MaxDifference}");
        Assert.Equal(check.Examples, check.SameClass);
    }

    /// <summary>Glorot weights plus random biases and batch-norm statistics, so every parameter matters.</summary>
    internal static ParameterSet Randomized(ModelSpec model, int seed)
    {
        var set = ParameterSet.Initialize(model, seed);
        var rng = new Rng((ulong)seed);
        foreach (var slot in set.Slots.Where(s => s.Spec.Init != SpecNet.Layers.Init.GlorotUniform))
            for (int i = 0; i < slot.Value.Length; i++) slot.Value[i] = slot.Spec.Suffix == "moving_variance" ? 0.5f + rng.NextFloat() : rng.NextFloat() - 0.5f;
        return set;
    }
}
