using System.Diagnostics;
using System.Text.Json;
using SpecNet.Checking;
using SpecNet.Cli;
using SpecNet.Formats;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Tests.Cli;
using SpecNet.Tests.Layers;

namespace SpecNet.Tests.Formats;

/// <summary>ONNX files written by a script with Debian's PyTorch into a folder, once per test run.</summary>
public abstract class PythonModels(string script, params string[] arguments) : IDisposable
{
    private readonly TempFolder _folder = new();
    private Lazy<string?>? _made;

    /// <summary>The folder of case files, or a skip (a failure in CI) when Debian's python3-torch is missing.</summary>
    public string Folder
    {
        get
        {
            _made ??= new(Make);
            Optional.Require(_made.Value is null, $"PyTorch is needed to write the ONNX files (apt-get install python3-torch python3-onnx): {_made.Value}");
            return _folder.Path;
        }
    }

    private string? Make()
    {
        if (!File.Exists("/usr/bin/python3")) return "no /usr/bin/python3";
        var start = new ProcessStartInfo("/usr/bin/python3", [TestPaths.Tests("Formats", script), _folder.Path, .. arguments])
            { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 ? null : error.Result.Split('\n').LastOrDefault(l => l.Length > 0) ?? $"exit {process.ExitCode}";
    }

    public void Dispose() => _folder.Dispose();
}

/// <summary>make-onnx.py: the tutorial's models, the residual and depthwise reference models, models reaching every folded op.</summary>
public sealed class PyTorchModels() : PythonModels("make-onnx.py");

/// <summary>make-random-onnx.py: random PyTorch models.</summary>
public sealed class RandomPyTorchModels() : PythonModels("make-random-onnx.py", RandomImportTests.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));

/// <summary>
/// Random PyTorch models through `specnet import`: each imports, and its own check (ONNX Runtime on the file against the
/// imported spec) passes; or it is refused (exit 2) for what SpecNet's layers cannot compute, a pooling padded otherwise than
/// Keras's 'same' where zeros padded before it would change it. Nothing else: no crash, no model that computes something else.
/// SPECNET_RANDOM_IMPORTS sets how many (40 unless set).
/// </summary>
public class RandomImportTests(RandomPyTorchModels torch) : IClassFixture<RandomPyTorchModels>
{
    public static readonly int Count = int.TryParse(Environment.GetEnvironmentVariable("SPECNET_RANDOM_IMPORTS"), out var n) ? n : 40;

    [SkippableFact]
    public void Random_pytorch_models_import_or_are_refused_for_a_reason_named()
    {
        var failures = new List<string>();
        int imported = 0;
        for (int i = 0; i < Count; i++)
        {
            using var dir = new TempFolder();
            var file = Path.Combine(torch.Folder, $"m{i}.onnx");
            var r = CliRunner.Run("import", file, "-o", dir.Path);
            bool ok = r.ExitCode == 0 && r.Output.Contains("classes agree on 8/8")
                || r.ExitCode == 2 && r.Error.Contains("neither none nor Keras's 'same'");
            if (r.ExitCode == 0) imported++;
            if (!ok) failures.Add($"m{i} ({File.ReadAllText(Path.ChangeExtension(file, ".txt"))}): exit {r.ExitCode}\n{r.All}");
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures.Take(3)));
        Assert.True(imported >= Count * 3 / 4, $"only {imported} of {Count} imported");   // the refusals stay the exception
    }
}

/// <summary>
/// `specnet import`: PyTorch's exports (opsets 11-17, pads, groups, batch norm folded or not, channels-last
/// flatten, MatMul + Add, shape arithmetic) give the same outputs through `specnet predict` as PyTorch gave;
/// SpecNet's own export comes back with the same structural hash and outputs; what cannot be expressed is
/// refused with the node named (exit 2), never imported wrong.
/// </summary>
public class OnnxImportTests(PyTorchModels torch) : IClassFixture<PyTorchModels>
{
    public static TheoryData<string> TorchCases() =>
        new("tutorial-pool", "tutorial-stride", "tutorial-plain", "resnet-folded", "resnet-batchnorm", "mobile", "mobile-opset16", "mlp", "branches-rgb", "hard-opset13", "hard-opset17", "squeeze-excite", "convnext", "convnext-torchvision", "resnet-stem", "examples-mnist", "avgpool-count-pad", "tensorflow-nhwc");

    [SkippableTheory]
    [MemberData(nameof(TorchCases))]
    public void PyTorch_export_imports_and_predicts_what_pytorch_computed(string name)
    {
        var folder = torch.Folder;
        using var dir = new TempFolder();
        var info = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, name + ".json"))).RootElement;
        var shape = info.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        float[] Floats(string key) => info.GetProperty(key).EnumerateArray().Select(e => e.GetSingle()).ToArray();
        // the preprocessing PyTorch applied, told to the importer (an ONNX file cannot say it)
        string[] args = ["import", Path.Combine(folder, name + ".onnx"), "-o", dir.Path, "--scale", info.GetProperty("scale").GetDouble().ToString("R", System.Globalization.CultureInfo.InvariantCulture)];
        if (Floats("mean").Any(m => m != 0)) args = [.. args, "--mean", .. Floats("mean").Select(F), "--std", .. Floats("std").Select(F)];
        var imported = CliRunner.Run(args);
        Assert.True(imported.ExitCode == 0, imported.All);
        Assert.Contains("classes agree on 8/8", imported.Output);

        var spec = File.ReadAllText(dir.File(name + ".yaml"));
        var model = SpecCompiler.CompileFile(dir.File(name + ".yaml")).Model!;
        if (!info.GetProperty("folded").GetBoolean())                   // every PyTorch parameter is a trainable one here
            Assert.Equal(info.GetProperty("parameters").GetInt64(), model.Layers.Sum(l => l.Parameters.Where(p => p.Trainable).Sum(p => (long)p.Size)));
        Assert.Contains($"input: {{ shape: [{string.Join(", ", shape)}] }}", spec);
        Assert.All(spec.Split('\n').Where(l => l.StartsWith("  - ")), l => Assert.Matches(@"  # \d+(x\d+x\d+)?$", l)); // each layer's shape, as check gives it

        var raw = File.ReadAllBytes(Path.Combine(folder, name + ".raw"));
        int size = shape[0] * shape[1] * shape[2], count = raw.Length / size;
        var images = Enumerable.Range(0, count).Select(i =>
        {
            var path = dir.File($"{i}.png");
            SpecNet.Data.Images.SavePng(path, raw.AsSpan(i * size, size).ToArray(), shape[0], shape[1], shape[2]);
            return path;
        }).ToArray();
        var r = CliRunner.Run(["predict", dir.File(name + ".yaml"), "--json", .. images]);
        Assert.True(r.ExitCode == 0, r.All);
        var predicted = JsonDocument.Parse(r.Output).RootElement.GetProperty("predictions");
        var expected = info.GetProperty("outputs");
        for (int i = 0; i < count; i++)
        {
            var mine = predicted[i].GetProperty("probabilities").EnumerateArray().Select(p => p.GetDouble()).ToArray();
            var theirs = expected[i].EnumerateArray().Select(p => p.GetDouble()).ToArray();
            Assert.Equal(theirs.Length, mine.Length);
            for (int c = 0; c < mine.Length; c++)
                Assert.True(Math.Abs(mine[c] - theirs[c]) <= 1e-5, $"{name}, image {i}, output {c}: PyTorch {theirs[c]}, specnet predict {mine[c]}");
        }
    }

    private static string F(float v) => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// A PyTorch model of a vector input imports with a note that its values are read as pixels unless --scale 1 (a flattened
    /// MNIST image and a row of features look alike); with --scale 1, `specnet predict` on a CSV of the rows gives what PyTorch
    /// computed.
    /// </summary>
    [SkippableFact]
    public void A_model_of_features_imports_taking_its_values_as_given_with_scale_1()
    {
        using var dir = new TempFolder();
        var byDefault = CliRunner.Run("import", Path.Combine(torch.Folder, "features.onnx"), "-o", dir.File("pixels"));
        Assert.True(byDefault.ExitCode == 0, byDefault.All);
        Assert.Contains("note: the input is a vector of 5, read as 8-bit pixels scaled by 1/255 (torchvision's ToTensor); for features taken as they are, import with --scale 1", byDefault.Output);
        Assert.Contains("data: { preprocess: { scale: 0.00392156862745098 } }", File.ReadAllText(Path.Combine(dir.File("pixels"), "features.yaml")));

        var imported = CliRunner.Run("import", Path.Combine(torch.Folder, "features.onnx"), "-o", dir.Path, "--scale", "1");
        Assert.True(imported.ExitCode == 0, imported.All);
        Assert.DoesNotContain("note: the input is a vector", imported.Output);
        Assert.Contains("Try: specnet predict", imported.Output);
        Assert.Contains("ROWS.csv", imported.Output);
        Assert.Contains("data: { preprocess: { scale: 1 } }", File.ReadAllText(dir.File("features.yaml")));

        var r = CliRunner.Run("predict", dir.File("features.yaml"), Path.Combine(torch.Folder, "features.csv"), "--json");
        Assert.True(r.ExitCode == 0, r.All);
        var predicted = JsonDocument.Parse(r.Output).RootElement.GetProperty("predictions");
        var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(torch.Folder, "features.json"))).RootElement.GetProperty("outputs");
        Assert.Equal(expected.GetArrayLength(), predicted.GetArrayLength());
        for (int i = 0; i < expected.GetArrayLength(); i++)
            foreach (var (mine, theirs) in predicted[i].GetProperty("probabilities").EnumerateArray().Zip(expected[i].EnumerateArray()))
                Assert.True(Math.Abs(mine.GetDouble() - theirs.GetDouble()) <= 1e-5, $"row {i}: PyTorch {theirs}, specnet predict {mine}");
    }

    [SkippableFact]
    public void Reference_models_import_as_graphs_with_readable_names()
    {
        var result = OnnxImport.Import(Path.Combine(torch.Folder, "resnet-batchnorm.onnx"), new ImportOptions());
        var text = result.SpecText;
        Assert.Contains("name: features_1_main_0_0_conv", text);            // named after PyTorch's modules
        Assert.Contains("add: { inputs: [features_1_main_1_1, relu_1] }", text); // the identity shortcut
        Assert.Contains("padding: same", text);                             // F.pad + Conv folded into Keras's 'same'
        Assert.DoesNotContain("zero_padding2d", text);

        var folded = OnnxImport.Import(Path.Combine(torch.Folder, "resnet-folded.onnx"), new ImportOptions()).SpecText;
        Assert.DoesNotContain("batch_norm", folded);                        // PyTorch folded it into the convs' weights and biases

        var tutorial = OnnxImport.Import(Path.Combine(torch.Folder, "tutorial-pool.onnx"), new ImportOptions()).SpecText;
        Assert.Contains("conv2d: { name: conv1, filters: 32, kernel_size: 3, activation: relu }", tutorial);
        Assert.Contains("dense: { name: fc2, units: 10, activation: softmax }", tutorial);
        Assert.DoesNotContain("transpose", tutorial, StringComparison.OrdinalIgnoreCase); // the channels-last flatten is in the dense weights

        var mobile = OnnxImport.Import(Path.Combine(torch.Folder, "mobile.onnx"), new ImportOptions()).SpecText;
        Assert.Contains("depthwise_conv2d", mobile);
    }

    /// <summary>
    /// MobileNet's activations come back as the layers they are, not as their ONNX arithmetic: HardSwish (or x · HardSigmoid(x)
    /// before opset 14) as hard_swish, Clip to [0, 6] as relu6 (PyTorch's Relu before it folded in; to [0, none] as relu), GELU's erf and its five nodes as gelu.
    /// </summary>
    [SkippableTheory]
    [InlineData("hard-opset13")]
    [InlineData("hard-opset17")]
    public void Mobilenet_activations_import_as_their_layers(string name)
    {
        var spec = OnnxImport.Import(Path.Combine(torch.Folder, name + ".onnx"), new ImportOptions()).SpecText;
        var kinds = spec.Split('\n').Where(l => l.StartsWith("  - ")).Select(l => l[4..].Split(':', ' ')[0]).ToList();
        Assert.Equal(["zero_padding2d", "conv2d", .. name == "hard-opset17" ? ["batch_norm"] : Array.Empty<string>(), "hard_swish", "depthwise_conv2d", "conv2d",
            "hard_sigmoid", "relu", "add", "global_avg_pool2d", "dense", "gelu", "dense"], kinds);
        Assert.Contains("depthwise_conv2d: { name: dw, kernel_size: 3, padding: same, activation: relu6 }", spec);   // PyTorch's Relu, then Clip
    }

    /// <summary>
    /// ConvNeXt as torchvision writes it: LayerNorm over channels-last views (also of the pooled [N, C, 1, 1]) as layer_norm, its
    /// Linears on the channels-last tensor (MatMul, then Add(bias, ·)) as 1x1 convolutions named by their bias, and the layer scale
    /// folded into the convolution before it, with a note.
    /// </summary>
    [SkippableFact]
    public void Torchvision_convnext_imports_as_layer_norms_and_pointwise_convolutions()
    {
        var result = OnnxImport.Import(Path.Combine(torch.Folder, "convnext-torchvision.onnx"), new ImportOptions());
        var kinds = result.SpecText.Split('\n').Where(l => l.StartsWith("  - ")).Select(l => l[4..].Split(':', ' ')[0]).ToList();
        string[] block = ["depthwise_conv2d", "layer_norm", "conv2d", "gelu", "conv2d", "add"];
        Assert.Equal(["conv2d", "layer_norm", .. block, "layer_norm", "conv2d", .. block, "global_avg_pool2d", "layer_norm", "dense"], kinds);
        Assert.Contains("- conv2d: { name: features_1_block_3, filters: 32, kernel_size: 1 }", result.SpecText);
        Assert.Contains(result.Notes, n => n.Contains("features.3.layer_scale") && n.Contains("folded into features_3_block_5's weights"));
    }

    /// <summary>
    /// Squeeze-and-excitation gates, as torchvision writes them (1x1 convolutions of the pooled map) and as a Linear then
    /// view(N, C, 1, 1): dense layers of the pooled vector, whose output multiplies the map's channels.
    /// </summary>
    [SkippableFact]
    public void Squeeze_and_excitation_imports_as_dense_gates_of_a_multiply()
    {
        var spec = OnnxImport.Import(Path.Combine(torch.Folder, "squeeze-excite.onnx"), new ImportOptions()).SpecText;
        Assert.Contains("- dense: { name: fc2, units: 8, activation: sigmoid }", spec);
        Assert.Contains("- multiply: { inputs: [stem, fc2] }", spec);
        Assert.Contains("- dense: { name: lin2, units: 6, activation: hard_sigmoid }", spec);
        Assert.Contains("- multiply: { inputs: [lin2, hard_swish_1] }", spec);
    }

    [SkippableTheory]
    [InlineData("unsupported-hardtanh", "(Clip)", "a Clip to [-1, 1]")]
    [InlineData("unsupported-gelu-tanh", "(Mul)", "GELU's tanh approximation")]
    [InlineData("unsupported-resize", "(Resize)", "this op is not supported")]
    [InlineData("unsupported-ceil", "(MaxPool)", "ceil_mode")]
    [InlineData("unsupported-pool-pads", "(AveragePool)", "neither none nor Keras's 'same'")]
    [InlineData("unsupported-max-pool-pads", "(MaxPool)", "these can be negative")]
    [InlineData("unsupported-log-softmax-inside", "(LogSoftmax)", "a LogSoftmax before the model's output")]
    [InlineData("unsupported-layer-norm-chw", "(LayerNormalization)", "a layer normalization over channels, height and width together")]
    [InlineData("unsupported-layer-norm-opset13", "(ReduceMean)", "export with opset_version=17")]
    public void What_layers_cannot_express_is_refused_naming_the_node(string name, string op, string why)
    {
        using var dir = new TempFolder();
        var r = CliRunner.Run("import", Path.Combine(torch.Folder, name + ".onnx"), "-o", dir.Path);
        Assert.True(r.ExitCode == 2, r.All);
        Assert.Contains(op, r.Error);
        Assert.Contains(why, r.Error);
        Assert.Contains("SpecNet imports these ops", r.Error);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    /// <summary>SpecNet's export back through import: the embedded spec gives the same hash; the graph alone gives the same outputs.</summary>
    [Theory]
    [MemberData(nameof(OnnxExportTests.Specs), MemberType = typeof(OnnxExportTests))]
    public void SpecNet_export_round_trips(string file)
    {
        var model = SpecCompiler.CompileFile(TestPaths.Repo("specs", file)).Model!;
        RoundTrip(model, OnnxExportTests.Randomized(model, 6));
    }

    [Theory]
    [MemberData(nameof(GradientCheckTests.GraphCases), MemberType = typeof(GradientCheckTests))]
    public void Graph_export_round_trips(string what, string spec)
    {
        Assert.NotEmpty(what);
        var model = GradientCheckTests.Compile(spec + "\ntraining: { loss: mse }\n");
        RoundTrip(model, OnnxExportTests.Randomized(model, 7));
    }

    /// <summary>The preprocessing SpecNet's export states in its metadata comes back into the spec, BGR included.</summary>
    [Theory]
    [InlineData("{ mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3], channel_order: bgr }")]
    [InlineData("{ scale: 0.5, mean: 30 }")]
    public void SpecNet_export_brings_its_preprocessing_back(string preprocess)
    {
        var model = GradientCheckTests.Compile($"name: rgb\ninput: [6, 5, 3]\ndata: {{ preprocess: {preprocess} }}\nlayers:\n" +
            "  - conv2d: { filters: 3, kernel_size: 3, activation: tanh }\n  - flatten\n  - dense: { units: 4, activation: softmax }\n");
        RoundTrip(model, OnnxExportTests.Randomized(model, 8));
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("m.onnx"), OnnxExport.Build(model, OnnxExportTests.Randomized(model, 8)));
        var imported = OnnxImport.Import(dir.File("m.onnx"), new ImportOptions { UseEmbeddedSpec = false }).Model.Data!.Preprocessing;
        Assert.Equal(model.Data!.Preprocessing.Describe(), imported.Describe());
    }

    /// <summary>
    /// A spec imported before may have been edited since, its weights trained: importing again into its folder writes nothing
    /// unless --force. Files as the import left them are replaced (importing again with other options).
    /// </summary>
    [Fact]
    public void Import_never_replaces_an_earlier_import_unasked()
    {
        using var dir = new TempFolder();
        var onnx = TestPaths.Repo("samples", "mnist-cnn.onnx");
        Assert.Equal(0, CliRunner.Run("import", onnx, "-o", dir.Path, "--no-verify").ExitCode);
        var spec = dir.File("mnist-cnn.yaml");
        Assert.Equal(0, CliRunner.Run("import", onnx, "-o", dir.Path, "--no-verify").ExitCode);      // untouched: replaced

        File.AppendAllText(spec, "# my edits\n");
        var weights = File.ReadAllBytes(dir.File("mnist-cnn.safetensors"));
        var again = CliRunner.Run("import", onnx, "-o", dir.Path, "--no-verify");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains($"{spec}: already exists and is not as an import left it; nothing written", again.Error);
        Assert.Contains("--force", again.Error);
        Assert.EndsWith("# my edits\n", File.ReadAllText(spec));
        Assert.Equal(weights, File.ReadAllBytes(dir.File("mnist-cnn.safetensors")));

        Assert.Equal(0, CliRunner.Run("import", onnx, "-o", dir.Path, "--no-verify", "--force").ExitCode);
        Assert.DoesNotContain("# my edits", File.ReadAllText(spec));
        // Weights written since by something else (training the spec writes its weights there): kept too
        var model = SpecCompiler.CompileFile(spec).Model!;
        WeightsFile.Save(dir.File("mnist-cnn.safetensors"), ParameterSet.Initialize(model, 1), new Dictionary<string, string>());
        Assert.Equal(1, CliRunner.Run("import", onnx, "-o", dir.Path, "--no-verify").ExitCode);

        // --name names a SpecNet export's spec too, so its default weights file is the one written beside it.
        Assert.Equal(0, CliRunner.Run("import", onnx, "-o", dir.Path, "--no-verify", "--name", "other").ExitCode);
        Assert.Equal("other", SpecCompiler.CompileFile(dir.File("other.yaml")).Model!.Name);
        var predicted = CliRunner.Run("predict", dir.File("other.yaml"), TestPaths.Repo("samples", "digits", "3.png"));
        Assert.True(predicted.ExitCode == 0, predicted.All);
    }

    [Theory]
    [InlineData("name: mnist-cnn   # the tutorial\ninput: [4]\n", "name: renamed   # the tutorial\ninput: [4]\n")]
    [InlineData("# a comment\ninput: [4]\nname: \"quoted name\"\n", "# a comment\ninput: [4]\nname: renamed\n")]
    [InlineData("input: [4]\n", "name: renamed\ninput: [4]\n")]
    public void Renaming_an_embedded_spec_keeps_its_comments_and_layout(string text, string expected) =>
        Assert.Equal(expected, OnnxImport.Renamed(text, "renamed"));

    /// <summary>The graph alone cannot give back what inference does not show (dropout, blocks, the training section), so only the embedded spec keeps the hash.</summary>
    /// <summary>
    /// A flat input's export says its values are taken as the data holds them (a CSV's features, not only 8-bit pixels), and
    /// import still finds the preprocessing in the graph.
    /// </summary>
    [Fact]
    public void A_flat_input_exports_its_values_as_the_data_holds_them_and_round_trips()
    {
        var model = GradientCheckTests.Compile("input: [12]\ndata: { preprocess: { scale: 1, mean: 0.5, std: 2 } }\nlayers:\n  - dense: { units: 5, activation: tanh }\n  - dense: { units: 3, activation: softmax }\ntraining: { loss: mse }\n");
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("m.onnx"), OnnxExport.Build(model, OnnxExportTests.Randomized(model, 3)));
        var metadata = OnnxModel.Read(dir.File("m.onnx")).Metadata;
        Assert.Equal("raw values as the data holds them (8-bit pixels, or a CSV's features as written) as float32", metadata["input_values"]);
        RoundTrip(model, OnnxExportTests.Randomized(model, 3));
    }

    private static void RoundTrip(ModelSpec model, ParameterSet parameters)
    {
        using var dir = new TempFolder();
        var path = dir.File("m.onnx");
        var bytes = OnnxExport.Build(model, parameters);
        File.WriteAllBytes(path, bytes);

        var own = OnnxImport.Import(path, new ImportOptions());
        Assert.Equal(model.StructuralHash, own.Model.StructuralHash);
        Assert.Equal(Flatten(parameters), Flatten(own.Parameters));

        var translated = OnnxImport.Import(path, new ImportOptions { UseEmbeddedSpec = false });
        var check = OnnxRuntimeCheck.RunImported(translated, bytes, examples: 4);
        Assert.True(check.Passed, $"max abs difference {check.MaxDifference}, classes {check.SameClass}/{check.Examples}\n{translated.SpecText}");
        var direct = OnnxRuntimeCheck.Run(model, parameters, bytes, examples: 4);
        Assert.True(direct.Passed);
    }

    private static float[] Flatten(ParameterSet set) => set.Slots.SelectMany(s => s.Value.ToArray()).ToArray();
}
