using System.Buffers.Binary;
using System.CommandLine;
using System.Text;
using System.Text.Json;
using SpecNet.Cli;
using SpecNet.Data;

namespace SpecNet.Tests.Cli;

/// <summary>train, eval and predict through the real command tree, on data the test makes.</summary>
public class TrainEvalPredictTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly string _spec;

    public TrainEvalPredictTests() => _spec = TestData.WriteSpecWithData(_dir.Path);

    public void Dispose() => _dir.Dispose();

    private string Weights => _dir.File("patterns.safetensors");

    private string TrainOnce()
    {
        if (!File.Exists(Weights))
        {
            var r = CliRunner.Run("train", _spec);
            Assert.True(r.ExitCode == 0, r.All);
        }
        return Weights;
    }

    /// <summary>Test image n as a PNG, with its label.</summary>
    private (string Path, int Label) Image(int n)
    {
        var (pixels, labels) = TestData.Patterns(n + 1, 9);
        var path = _dir.File($"image{n}.png");
        Images.SavePng(path, pixels.AsSpan(n * 64, 64), 8, 8, 1);
        return (path, labels[n]);
    }

    [Fact]
    public void Train_prints_epochs_and_writes_weights_beside_the_spec()
    {
        var r = CliRunner.Run("train", _spec, "--epochs", "2");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Epoch 1/2  loss ", r.Output);
        Assert.Contains("Epoch 2/2  loss ", r.Output);
        Assert.Contains("test_accuracy", r.Output);
        Assert.Contains("images/s", r.Output);
        Assert.Contains("Backend: managed", r.Output);
        Assert.True(File.Exists(Weights));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp"));
    }

    [Fact]
    public void Train_json_streams_events()
    {
        var r = CliRunner.Run("train", _spec, "--epochs", "1", "--json", "--output", _dir.File("out.safetensors"));
        Assert.Equal(0, r.ExitCode);
        var events = r.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["start", "checkpoint", "epoch", "done"], events.Select(e => e.GetProperty("event").GetString()));
        Assert.InRange(events[2].GetProperty("test_accuracy").GetDouble(), 0, 1);
        Assert.EndsWith("out.checkpoint.safetensors", events[1].GetProperty("path").GetString());
        Assert.True(File.Exists(_dir.File("out.safetensors")));
    }

    [Fact]
    public void Eval_reports_accuracy_per_class_and_confusion()
    {
        TrainOnce();
        var r = CliRunner.Run("eval", _spec, "--weights", Weights, "--json");
        Assert.Equal(0, r.ExitCode);
        var root = JsonDocument.Parse(r.Output).RootElement;
        Assert.True(root.GetProperty("accuracy").GetDouble() > 0.9, r.Output);
        Assert.Equal(3, root.GetProperty("per_class_accuracy").GetArrayLength());
        var matrix = root.GetProperty("confusion_matrix").EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
        Assert.Equal(150, matrix.Sum(row => row.Sum()));
        var text = CliRunner.Run("eval", _spec, "--weights", Weights);
        Assert.Contains("Test accuracy:", text.Output);
        Assert.Contains("Confusion matrix", text.Output);
    }

    [Fact]
    public void Training_a_weights_files_spec_never_writes_over_that_file()
    {
        TrainOnce();
        var before = File.ReadAllBytes(Weights);
        var r = CliRunner.Run("train", Weights, "--epochs", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{Weights}: training the spec it embeds would write over it", r.Error);
        Assert.Contains("--output", r.Error);
        Assert.Equal(before, File.ReadAllBytes(Weights));
        r = CliRunner.Run("train", Weights, "--epochs", "1", "--output", _dir.File("again.safetensors"), "--quiet");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(before, File.ReadAllBytes(Weights));
    }

    [Fact]
    public void Weights_file_alone_is_enough_to_evaluate_wherever_it_was_written_or_moved()
    {
        TrainOnce();
        var r = CliRunner.Run("eval", Weights, "--json");
        Assert.True(r.ExitCode == 0, r.All);

        // Written into another folder: its spec's data paths are still read from the folder the spec was trained in.
        var elsewhere = _dir.File("runs/today/w.safetensors");
        Assert.Equal(0, CliRunner.Run("train", _spec, "--epochs", "1", "--output", elsewhere, "--quiet").ExitCode);
        r = CliRunner.Run("eval", elsewhere, "--json");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(150, JsonDocument.Parse(r.Output).RootElement.GetProperty("examples").GetInt32());

        // Shipped beside data of its own (90 test images, at the same relative paths): read beside the weights.
        using var shipped = new TempFolder();
        TestData.WriteSpecWithData(shipped.Path, testCount: 90);
        File.Copy(elsewhere, shipped.File("w.safetensors"));
        r = CliRunner.Run("eval", shipped.File("w.safetensors"), "--json");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(90, JsonDocument.Parse(r.Output).RootElement.GetProperty("examples").GetInt32());
    }

    [Fact]
    public void Predict_prints_probabilities_and_the_winner()
    {
        TrainOnce();
        var (file, label) = Image(4);
        var r = CliRunner.Run("predict", _spec, "--weights", Weights, file, "--json");
        Assert.Equal(0, r.ExitCode);
        var p = JsonDocument.Parse(r.Output).RootElement.GetProperty("predictions")[0];
        var probabilities = p.GetProperty("probabilities").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.Equal(3, probabilities.Length);
        Assert.Equal(1.0, probabilities.Sum(), 4);
        Assert.Equal(label, p.GetProperty("class").GetInt32());
        var text = CliRunner.Run("predict", _spec, "--weights", Weights, file);
        Assert.Matches(@"image4\.png: \d \(\d+\.\d%\)\n  \[0\.\d\d, 0\.\d\d, 0\.\d\d\]", text.Output);

        // --top K: the K most likely classes, most likely first
        var top = CliRunner.Run("predict", _spec, "--weights", Weights, file, "--top", "2");
        var order = probabilities.Select((q, c) => (q, c)).OrderByDescending(e => e.q).Take(2).ToList();
        Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"\n  {order[0].c} {100 * order[0].q:0.0}%, {order[1].c} {100 * order[1].q:0.0}%\n"), top.Output);
    }

    /// <summary>
    /// A CSV file predicts a row at a time (Kaggle's test.csv: a header, no label): the same probabilities as the images the
    /// rows hold; a labelled file's label column is left out; a row of the wrong length is a located error.
    /// </summary>
    [Fact]
    public void Predict_reads_the_rows_of_a_csv_file_as_the_images_they_hold()
    {
        TrainOnce();
        var images = new[] { Image(1), Image(2), Image(3) };
        var (pixels, labels) = TestData.Patterns(4, 9);
        var header = string.Join(",", Enumerable.Range(0, 64).Select(i => $"pixel{i}"));
        var rows = Enumerable.Range(1, 3).Select(n => string.Join(",", pixels.AsSpan(n * 64, 64).ToArray())).ToList();
        File.WriteAllText(_dir.File("test.csv"), header + "\n" + string.Join("\n", rows) + "\n");
        File.WriteAllText(_dir.File("labelled.csv"), "label," + header + "\n" + string.Join("\n", rows.Select((r, i) => $"{labels[i + 1]},{r}")) + "\n");
        JsonElement[] Predictions(string file) =>
            [.. JsonDocument.Parse(CliRunner.Run("predict", _spec, "--weights", Weights, file, "--json").Output).RootElement.GetProperty("predictions").EnumerateArray()];
        string Probabilities(JsonElement p) => p.GetProperty("probabilities").GetRawText();

        var fromImages = images.Select(i => Predictions(i.Path)[0]).ToList();
        foreach (var file in new[] { "test.csv", "labelled.csv" })
        {
            var fromRows = Predictions(_dir.File(file));
            Assert.Equal([2, 3, 4], fromRows.Select(p => p.GetProperty("row").GetInt32()));
            Assert.Equal(fromImages.Select(Probabilities), fromRows.Select(Probabilities));
        }
        Assert.Contains("test.csv(3): ", CliRunner.Run("predict", _spec, "--weights", Weights, _dir.File("test.csv")).Output);

        File.WriteAllText(_dir.File("short.csv"), rows[0] + "\n" + rows[1][..rows[1].LastIndexOf(',')] + "\n");
        var shortRow = CliRunner.Run("predict", _spec, "--weights", Weights, _dir.File("short.csv"));
        Assert.Equal(1, shortRow.ExitCode);
        Assert.Contains("short.csv(2): 63 values, but the model takes 64 (8x8x1)", shortRow.Error);
    }

    [Fact]
    public void Predict_reads_the_images_of_a_folder_and_its_sub_folders_in_order()
    {
        TrainOnce();
        var folder = _dir.File("inbox");
        Directory.CreateDirectory(Path.Combine(folder, "b"));
        var images = new[] { Image(1).Path, Image(2).Path, Image(3).Path };
        string[] placed = [Path.Combine(folder, "b", "x.png"), Path.Combine(folder, "a.png"), Path.Combine(folder, "c.PNG")];
        for (int i = 0; i < 3; i++) File.Copy(images[i], placed[i]);
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "not an image");
        Directory.CreateDirectory(Path.Combine(folder, "b", ".ipynb_checkpoints"));                 // Jupyter's copies: not predicted
        File.Copy(images[0], Path.Combine(folder, "b", ".ipynb_checkpoints", "x-checkpoint.png"));
        List<(string File, int Class)> Predictions(params string[] files) => JsonDocument.Parse(CliRunner.Run(["predict", _spec, "--weights", Weights, "--json", .. files]).Output)
            .RootElement.GetProperty("predictions").EnumerateArray().Select(p => (p.GetProperty("file").GetString()!, p.GetProperty("class").GetInt32())).ToList();

        var fromFolder = Predictions(folder);
        Assert.Equal(placed.Order(StringComparer.Ordinal), fromFolder.Select(p => p.File));   // a.png, b/x.png, c.PNG; no notes.txt
        Assert.Equal(Predictions(placed.Order(StringComparer.Ordinal).ToArray()), fromFolder);
        Assert.Equal(3, Predictions(images[0], folder + "/b", images[2]).Count);

        Directory.CreateDirectory(_dir.File("empty"));
        var r = CliRunner.Run("predict", _spec, "--weights", Weights, _dir.File("empty"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("empty: the folder holds no PNG, JPEG or BMP images", r.Error);
    }

    [Fact]
    public void Independent_forward_pass_reproduces_predict()
    {
        TrainOnce();
        var (file, _) = Image(7);
        var r = CliRunner.Run("predict", _spec, "--weights", Weights, file, "--json");
        var predicted = JsonDocument.Parse(r.Output).RootElement.GetProperty("predictions")[0].GetProperty("probabilities")
            .EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var (pixels, _) = TestData.Patterns(8, 9);
        var expected = IndependentForward.Run(Weights, pixels.AsSpan(7 * 64, 64).ToArray());
        for (int i = 0; i < 3; i++) Assert.True(Math.Abs(expected[i] - predicted[i]) < 1e-4, $"class {i}: {expected[i]} vs {predicted[i]}");
    }

    [Fact]
    public void Wrong_image_size_is_a_clear_error_and_resize_fixes_it()
    {
        TrainOnce();
        var big = _dir.File("big.png");
        Images.SavePng(big, new byte[12 * 10], 12, 10, 1);
        var r = CliRunner.Run("predict", _spec, "--weights", Weights, big);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("the image is 10x12 (width x height), but the model takes 8x8", r.Error);
        Assert.Contains("--resize", r.Error);
        Assert.Equal(0, CliRunner.Run("predict", _spec, "--weights", Weights, big, "--resize").ExitCode);
    }

    [Fact]
    public void Corrupt_image_and_missing_weights_exit_1()
    {
        TrainOnce();
        File.WriteAllText(_dir.File("fake.png"), "not a png");
        var r = CliRunner.Run("predict", _spec, "--weights", Weights, _dir.File("fake.png"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("fake.png", r.Error);
        var m = CliRunner.Run("eval", _spec, "--weights", _dir.File("none.safetensors"));
        Assert.Equal(1, m.ExitCode);
        Assert.Contains("none.safetensors: no such file", m.Error);
        Assert.DoesNotContain("   at ", r.All + m.All);
    }

    [Fact]
    public void Weights_of_another_spec_name_the_layer()
    {
        TrainOnce();
        var other = _dir.File("other.yaml");
        File.WriteAllText(other, File.ReadAllText(_spec).Replace("units: 16", "units: 32"));
        var r = CliRunner.Run("eval", other, "--weights", Weights);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("layer 'dense_1' (dense): 'dense_1.weight' is [16, 36] in the file, but the spec needs [32, 36]", r.Error);
    }

    [Fact]
    public void Data_that_does_not_fit_the_spec_fails_before_training()
    {
        var wrongInput = _dir.File("wrong.yaml");
        File.WriteAllText(wrongInput, File.ReadAllText(_spec).Replace("[8, 8, 1]", "[28, 28, 1]"));
        var r = CliRunner.Run("train", wrongInput);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("are 8x8x1, but the model's input is 28x28x1", r.Error);

        var fewUnits = _dir.File("few.yaml");
        File.WriteAllText(fewUnits, File.ReadAllText(_spec).Replace("units: 3, activation: softmax", "units: 2, activation: softmax"));
        r = CliRunner.Run("train", fewUnits);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("go up to 2, but the model has 2 output units", r.Error);

        File.WriteAllBytes(_dir.File("data/test-labels"), [0, 0, 8, 1, 0, 0, 0, 9]);
        r = CliRunner.Run("train", _spec);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("test-labels", r.Error);
        Assert.False(File.Exists(Weights));
    }

    [Theory]
    [InlineData("--epochs", "0", "--epochs must be a positive whole number, not 0")]
    [InlineData("--batch-size", "-3", "--batch-size must be a positive whole number, not -3")]
    [InlineData("--seed", "-1", "--seed must be at least 0, not -1")]
    [InlineData("--checkpoint-every", "-2", "--checkpoint-every must be between 0 and")]
    [InlineData("--backend", "cuda", "'cuda' not recognized")]
    [InlineData("--epochs", "abc", "--epochs must be a whole number, not 'abc'")]
    [InlineData("--batch-size", "2.5", "--batch-size must be a whole number, not '2.5'")]
    [InlineData("--seed", "99999999999", "--seed is too large: 99999999999")]
    [InlineData("--threads", "2000", "--threads must be at most 1024, not 2000")]
    [InlineData("--checkpoint-every", "x", "--checkpoint-every must be a whole number, not 'x'")]
    public void Option_values_are_checked_before_anything_runs(string option, string value, string message)
    {
        var r = CliRunner.Run("train", _spec, option, value);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(message, r.Error);
        Assert.DoesNotContain("internal error", r.Error);
        Assert.DoesNotContain("Epoch", r.Output);
        Assert.False(File.Exists(Weights));
    }

    [Fact]
    public void Outputs_that_cannot_be_written_fail_before_training()
    {
        var folder = _dir.File("runs");
        Directory.CreateDirectory(folder);
        var r = CliRunner.Run("train", _spec, "--output", folder);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{folder}: is a folder, not a file name for the weights", r.Error);
        Assert.Empty(r.Output);                                           // before the data is loaded, or anything printed
        Assert.DoesNotContain("images in", r.Error);
        Assert.Contains($"such as {Path.Combine(folder, "patterns.safetensors")}", r.Error);
        Assert.DoesNotContain("Epoch", r.Output);

        r = CliRunner.Run("train", _spec, "--checkpoint", folder);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("is a folder, not a file name for the checkpoint", r.Error);
        Assert.DoesNotContain("Epoch", r.Output);

        var file = _dir.File("a-file");
        File.WriteAllText(file, "not a folder");
        r = CliRunner.Run("train", _spec, "--output", Path.Combine(file, "w.safetensors"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{file}: is a file, not a folder for the weights", r.Error);
        r = CliRunner.Run("train", _spec, "--checkpoint", Path.Combine(file, "deeper", "c.safetensors"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"the checkpoint folder cannot be made: {file} is a file", r.Error);
        Assert.DoesNotContain("Epoch", r.Output);
        Assert.Empty(Directory.GetFileSystemEntries(folder));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp"));

        // A folder that exists but takes no new files (here even for root, who may write into read-only folders)
        r = CliRunner.Run("train", _spec, "--output", "/proc/w.safetensors");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("/proc/w.safetensors: the weights cannot be written in /proc", r.Error);
        Assert.DoesNotContain("Epoch", r.Output);

        // A folder that does not exist yet is made, as before.
        r = CliRunner.Run("train", _spec, "--epochs", "1", "--output", Path.Combine(folder, "new", "w.safetensors"));
        Assert.True(r.ExitCode == 0, r.All);
        Assert.True(File.Exists(Path.Combine(folder, "new", "w.safetensors")));
        Assert.Empty(Directory.GetFiles(Path.Combine(folder, "new"), ".*.tmp"));
    }

    [Theory]
    [InlineData("train")]
    [InlineData("diff")]
    [InlineData("report")]
    [InlineData("import")]
    [InlineData("sweep")]
    public void An_output_folder_that_is_a_file_is_a_clear_error_before_any_work(string command)
    {
        var file = _dir.File("a-file");
        File.WriteAllText(file, "not a folder");
        string[] args = command switch
        {
            "train" => ["train", _spec, "--report", file],
            "diff" => ["diff", _spec, _spec, "--report", Path.Combine(file, "sub")],
            "report" => ["report", TrainOnce(), "--out", file],
            "import" => ["import", TestPaths.Repo("samples/mnist-cnn.onnx"), "-o", file],
            _ => ["sweep", TestPaths.Repo("specs/sweeps/mnist-folder.yaml"), "-o", file],
        };
        var r = CliRunner.Run(args);
        Assert.Equal(1, r.ExitCode);
        Assert.Matches(@"is a file, not a folder for the (report|output)|folder cannot be made: .*a-file is a file", r.Error);
        Assert.DoesNotContain("internal error", r.Error);
        if (command is "train" or "diff") Assert.Equal("", r.Output);   // checked before training: nothing trained, nothing compared
        Assert.Equal("not a folder", File.ReadAllText(file));
    }

    [Theory]
    [InlineData("bench", "--iterations", "x", "--iterations must be a whole number, not 'x'")]
    [InlineData("diff", "--seeds", "2.5", "--seeds must be a whole number, not '2.5'")]
    [InlineData("diff", "--run", "z", "--run must be a whole number, not 'z'")]
    [InlineData("sweep", "--trial", "q", "--trial must be a whole number, not 'q'")]
    [InlineData("import", "--scale", "abc", "--scale must be a number, not 'abc'")]
    [InlineData("import", "--mean", "nan", "--mean must be a number, not 'nan'")]
    public void Every_commands_numbers_are_parsed_with_a_plain_message(string command, string option, string value, string message)
    {
        string[] args = command switch
        {
            "diff" => ["diff", _spec, _spec],
            "sweep" => ["sweep", _spec, "-o", _dir.File("sweep")],
            "import" => ["import", _dir.File("model.onnx"), "-o", _dir.File("imported")],
            _ => [command, _spec],
        };
        var r = CliRunner.Run([.. args, option, value]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(message, r.Error);
        Assert.DoesNotContain("System.", r.Error);
        Assert.DoesNotContain("internal error", r.Error);
    }

    [Fact]
    public void Numbers_given_well_reach_the_command()
    {
        var mean = CommonOptions.Numbers("--mean", "");
        var parsed = new RootCommand { mean }.Parse("--mean 0.485 0.456 0.406");
        Assert.Empty(parsed.Errors);
        Assert.Equal([0.485f, 0.456f, 0.406f], parsed.GetValue(mean)!);
        var iterations = CommonOptions.InRange("--iterations", 1, 100, 50, "");
        Assert.Equal(50, new RootCommand { iterations }.Parse("").GetValue(iterations));
        Assert.Equal(7, new RootCommand { iterations }.Parse("--iterations 7").GetValue(iterations));
        var epochs = CommonOptions.AtLeast("--epochs", 1, "");
        Assert.Null(new RootCommand { epochs }.Parse("").GetValue(epochs));
        Assert.Equal(-3, new RootCommand { CommonOptions.Index("--run", "") }.Parse("--run -3").GetValue<int?>("--run"));
    }

    [Fact]
    public void Spec_errors_exit_2_on_train()
    {
        var bad = _dir.File("bad.yaml");
        File.WriteAllText(bad, File.ReadAllText(_spec).Replace("max_pool2d", "maxpool"));
        var r = CliRunner.Run("train", bad);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown layer kind 'maxpool'", r.Error);
    }
}

/// <summary>
/// A second, independent implementation of the test model's forward pass: reads the safetensors file
/// with its own parser and computes in PyTorch's NCHW layout with the file's tensor layouts, sharing no
/// code with SpecNet's engine.
/// </summary>
internal static class IndependentForward
{
    public static double[] Run(string weightsPath, byte[] image)
    {
        var t = Read(weightsPath);
        var x = image.Select(b => b / 255.0).ToArray(); // [1, 8, 8]
        // conv 4 filters 3x3 valid, relu -> [4, 6, 6]
        var w = t["conv2d_1.weight"]; var b = t["conv2d_1.bias"];
        var conv = new double[4 * 6 * 6];
        for (int f = 0; f < 4; f++)
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++)
                {
                    double s = b[f];
                    for (int ki = 0; ki < 3; ki++) for (int kj = 0; kj < 3; kj++) s += w[(f * 3 + ki) * 3 + kj] * x[(i + ki) * 8 + j + kj];
                    conv[(f * 6 + i) * 6 + j] = Math.Max(0, s);
                }
        // max pool 2x2 -> [4, 3, 3], flattened in (c, h, w) order
        var flat = new double[36];
        for (int f = 0; f < 4; f++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    flat[(f * 3 + i) * 3 + j] = new[] { conv[(f * 6 + 2 * i) * 6 + 2 * j], conv[(f * 6 + 2 * i) * 6 + 2 * j + 1], conv[(f * 6 + 2 * i + 1) * 6 + 2 * j], conv[(f * 6 + 2 * i + 1) * 6 + 2 * j + 1] }.Max();
        var hidden = Dense(flat, t["dense_1.weight"], t["dense_1.bias"]).Select(v => Math.Max(0, v)).ToArray();
        var logits = Dense(hidden, t["dense_2.weight"], t["dense_2.bias"]);
        var max = logits.Max();
        var e = logits.Select(v => Math.Exp(v - max)).ToArray();
        return e.Select(v => v / e.Sum()).ToArray();
    }

    private static double[] Dense(double[] x, float[] w, float[] b) =>
        Enumerable.Range(0, b.Length).Select(u => b[u] + Enumerable.Range(0, x.Length).Sum(k => (double)w[u * x.Length + k] * x[k])).ToArray();

    private static Dictionary<string, float[]> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n));
        var result = new Dictionary<string, float[]>();
        foreach (var p in header.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__"))
        {
            var offsets = p.Value.GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt64()).ToArray();
            var data = new float[(offsets[1] - offsets[0]) / 4];
            for (int i = 0; i < data.Length; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(8 + n + offsets[0] + 4 * i)));
            result[p.Name] = data;
        }
        return result;
    }
}
