using System.Text.Json;
using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Diagnostics;
using SpecNet.Formats;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Tests.Cli;
using SpecNet.Training;

namespace SpecNet.Tests.Data;

/// <summary>Image folders, CSV files, validation splits, preprocessing and augmentation, on data the tests make.</summary>
public class SourcesTests
{
    private static readonly string[] Animals = ["bird", "cat", "dog"];
    private const int ChannelOffset = 40;

    /// <summary>An image folder of the three test patterns, classes named after animals.</summary>
    private static void WriteFolder(string root, int perClass, int seed, int channels = 1, int size = TestData.Size)
    {
        var (pixels, labels) = TestData.Patterns(perClass * 3, seed);
        for (int i = 0; i < labels.Length; i++)
        {
            var dir = Path.Combine(root, Animals[labels[i]]);
            Directory.CreateDirectory(dir);
            var gray = pixels.AsSpan(i * 64, 64);
            var bytes = new byte[size * size * channels];
            for (int p = 0; p < size * size; p++)
                for (int c = 0; c < channels; c++) bytes[p * channels + c] = (byte)(gray[Math.Min(p, 63)] + ChannelOffset * c); // channels differ
            Images.SavePng(Path.Combine(dir, $"{i}.png"), bytes, size, size, channels);
        }
    }

    private static string FolderSpec(string extra = "", int channels = 1) => $$"""
        name: animals
        input: { shape: [8, 8, {{channels}}] }
        data:
          train: { folder: train }
          test: { folder: test }
        {{extra}}
        layers:
          - conv2d: { filters: 4, kernel_size: 3, activation: relu }
          - flatten
          - dense: { units: 3, activation: softmax }
        training:
          optimizer: { adam: { learning_rate: 0.01 } }
          epochs: 4
          batch_size: 16
          seed: 1
        """;

    private static string Write(TempFolder dir, string name, string text) { File.WriteAllText(dir.File(name), text); return dir.File(name); }

    /// <summary>Training and test folders of the patterns and the spec over them (with <paramref name="extra"/> data options): the spec's path.</summary>
    private static string FoldersAndSpec(TempFolder dir, int trainPerClass, int testPerClass, string extra = "", int channels = 1, int size = TestData.Size)
    {
        WriteFolder(dir.File("train"), trainPerClass, 1, channels, size);
        WriteFolder(dir.File("test"), testPerClass, 2, channels, size);
        return Write(dir, "s.yaml", FolderSpec(extra, channels));
    }

    /// <summary>Training and test folders of the patterns, the spec over them, trained (with <paramref name="options"/>): the spec's path.</summary>
    private static string TrainedOnFolders(TempFolder dir, int trainPerClass, int testPerClass, params string[] options)
    {
        var spec = FoldersAndSpec(dir, trainPerClass, testPerClass);
        var train = CliRunner.Run(["train", spec, .. options]);
        Assert.True(train.ExitCode == 0, train.All);
        return spec;
    }

    /// <summary>
    /// A test or validation folder is numbered by the training folder's classes: one without a class keeps the others' outputs
    /// (a test folder without 'cat' had numbered 'dog' as cat's output, and scored it so), one with a class training never saw
    /// is an error naming its folder.
    /// </summary>
    [Fact]
    public void Test_folders_take_the_training_folders_class_numbers()
    {
        using var dir = new TempFolder();
        var spec = FoldersAndSpec(dir, 5, 5);
        var (train, test) = DataLoader.Load(SpecCompiler.CompileFile(spec).Model!, _ => { });
        int first = Array.IndexOf(Animals, "cat") is var c && c >= 0 ? c : throw new InvalidOperationException();
        var before = test!.Labels.ToArray();
        Directory.Delete(Path.Combine(dir.File("test"), Animals[first]), recursive: true);
        (_, test) = DataLoader.Load(SpecCompiler.CompileFile(spec).Model!, _ => { });
        Assert.Equal(before.Where(l => l != first), test!.Labels);
        Assert.Equal(train.ClassNames, test.ClassNames);
        Assert.DoesNotContain((byte)first, test.Labels);

        // a hidden folder (Jupyter's .ipynb_checkpoints) is no class
        Directory.CreateDirectory(Path.Combine(dir.File("train"), ".ipynb_checkpoints"));
        File.Copy(Directory.GetFiles(Path.Combine(dir.File("train"), Animals[0]))[0], Path.Combine(dir.File("train"), ".ipynb_checkpoints", "x.png"));
        (train, _) = DataLoader.Load(SpecCompiler.CompileFile(spec).Model!, _ => { });
        Assert.Equal(Animals, train.ClassNames);

        // shipped without its training folder: the classes the weights recorded number the test folder
        Assert.Equal(0, CliRunner.Run("train", spec, "--epochs", "1").ExitCode);
        string Confusion() => JsonDocument.Parse(CliRunner.Run("eval", spec, "--json").Output).RootElement.GetProperty("confusion_matrix").GetRawText();
        var withTraining = Confusion();
        Directory.Move(dir.File("train"), dir.File("train-away"));
        Assert.Equal(withTraining, Confusion());
        Directory.Move(dir.File("train-away"), dir.File("train"));

        Directory.CreateDirectory(Path.Combine(dir.File("test"), "horse"));
        File.Copy(Directory.GetFiles(Path.Combine(dir.File("train"), Animals[first]))[0], Path.Combine(dir.File("test"), "horse", "h.png"));
        var e = Assert.Throws<SpecNetException>(() => DataLoader.Load(SpecCompiler.CompileFile(spec).Model!, _ => { }));
        Assert.Contains("class 'horse' is not one of the model's classes [", e.Message);
    }

    /// <summary>One sigmoid unit is class 1's probability: predict --top ranks both classes by name, as a softmax's.</summary>
    [Fact]
    public void Predict_top_ranks_both_classes_of_one_sigmoid_unit()
    {
        using var dir = new TempFolder();
        var spec = FoldersAndSpec(dir, 10, 3);
        foreach (var split in new[] { "train", "test" }) Directory.Delete(Path.Combine(dir.File(split), "dog"), recursive: true);
        File.WriteAllText(spec, File.ReadAllText(spec).Replace("units: 3, activation: softmax", "units: 1, activation: sigmoid")
            .Replace("  seed: 1", "  seed: 1\n  loss: binary_crossentropy"));
        Assert.Equal(0, CliRunner.Run("train", spec).ExitCode);
        var image = Directory.GetFiles(Path.Combine(dir.File("test"), "cat"))[0];
        var p = JsonDocument.Parse(CliRunner.Run("predict", spec, image, "--json").Output).RootElement.GetProperty("predictions")[0].GetProperty("probabilities")[0].GetDouble();
        var (first, second) = p >= 0.5 ? (("cat", p), ("bird", 1 - p)) : (("bird", 1 - p), ("cat", p));
        Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"\n  {first.Item1} {100 * first.Item2:0.0}%, {second.Item1} {100 * second.Item2:0.0}%\n"),
            CliRunner.Run("predict", spec, image, "--top", "2").Output);
    }

    [Fact]
    public void Eval_data_scores_other_examples_mapping_their_classes_by_name()
    {
        using var dir = new TempFolder();
        TrainedOnFolders(dir, 60, 15);
        // Only two of the three classes: mapped by name (cat stays 1, dog 2), not by their order in this folder.
        WriteFolder(dir.File("mine"), 10, 7);
        Directory.Delete(Path.Combine(dir.File("mine"), "bird"), recursive: true);
        var r = CliRunner.Run("eval", dir.File("animals.safetensors"), "--data", dir.File("mine"), "--json");
        Assert.True(r.ExitCode == 0, r.All);
        var root = JsonDocument.Parse(r.Output).RootElement;
        Assert.Equal(20, root.GetProperty("examples").GetInt32());
        Assert.Equal(Animals, root.GetProperty("class_names").EnumerateArray().Select(e => e.GetString()));
        Assert.True(root.GetProperty("accuracy").GetDouble() > 0.8, r.Output);
        var confusion = root.GetProperty("confusion_matrix").EnumerateArray().Select(row => row.EnumerateArray().Sum(v => v.GetInt32())).ToArray();
        Assert.Equal([0, 10, 10], confusion);                                                   // true classes: 10 cats, 10 dogs

        // A CSV file of the same examples: labels by name
        var csv = new System.Text.StringBuilder("label," + string.Join(",", Enumerable.Range(0, 64).Select(i => $"p{i}")) + "\n");
        foreach (var animal in new[] { "cat", "dog" })
            foreach (var png in Directory.GetFiles(Path.Combine(dir.File("mine"), animal)).Order())
                csv.Append(animal).Append(',').AppendJoin(',', Images.Load(png, SpecNet.Schema.Shape.Spatial(8, 8, 1), null)).Append('\n');
        File.WriteAllText(dir.File("mine.csv"), csv.ToString());
        var fromCsv = JsonDocument.Parse(CliRunner.Run("eval", dir.File("animals.safetensors"), "--data", dir.File("mine.csv"), "--json").Output).RootElement;
        Assert.Equal(root.GetProperty("accuracy").GetDouble(), fromCsv.GetProperty("accuracy").GetDouble());

        var text = CliRunner.Run("eval", dir.File("animals.safetensors"), "--data", dir.File("mine")).Output;
        Assert.Contains("animals on mine (20 examples)\nLoss:          ", text);                 // not the test set: not "Test loss"
        Assert.Contains("\nAccuracy:      ", text);
        var perClass = text.Split('\n').SkipWhile(l => l != "Per class:").Skip(1).TakeWhile(l => l.Length > 0).ToList();
        Assert.Equal(["cat", "dog"], perClass.Select(l => l.Trim().Split(' ')[0]));    // the classes it holds, not bird's "- of 0"

        Directory.CreateDirectory(Path.Combine(dir.File("mine"), "horse"));
        var unknown = CliRunner.Run("eval", dir.File("animals.safetensors"), "--data", dir.File("mine"));
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("class 'horse' is not one of the model's classes [bird, cat, dog]", unknown.Error);
        var missing = CliRunner.Run("eval", dir.File("animals.safetensors"), "--data", dir.File("nope"));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no such folder or file", missing.Error);

        // A model whose classes have no names (the sample digits): folders named by class number, mapped to those outputs
        foreach (var digit in new[] { "3", "7" })
            foreach (var png in Directory.GetFiles(TestPaths.Repo("samples", "mnist-folder", "test", digit)))
                File.Copy(png, Path.Combine(Directory.CreateDirectory(dir.File($"digits/{digit}")).FullName, Path.GetFileName(png)));
        var digits = JsonDocument.Parse(CliRunner.Run("eval", TestPaths.Repo("samples", "mnist-cnn.safetensors"), "--data", dir.File("digits"), "--json").Output).RootElement;
        var perDigit = digits.GetProperty("confusion_matrix").EnumerateArray().Select(row => row.EnumerateArray().Sum(v => v.GetInt32())).ToArray();
        Assert.Equal([0, 0, 0, 15, 0, 0, 0, 15, 0, 0], perDigit);
    }

    [Fact]
    public void Image_folder_trains_and_names_classes_in_eval_and_predict()
    {
        using var dir = new TempFolder();
        var spec = TrainedOnFolders(dir, 60, 15);
        var eval = CliRunner.Run("eval", spec, "--json");
        var root = JsonDocument.Parse(eval.Output).RootElement;
        Assert.Equal(Animals, root.GetProperty("class_names").EnumerateArray().Select(e => e.GetString()));
        Assert.True(root.GetProperty("accuracy").GetDouble() > 0.8, eval.Output);
        var predict = CliRunner.Run("predict", dir.File("animals.safetensors"), Path.Combine(dir.File("test"), "cat", Directory.GetFiles(Path.Combine(dir.File("test"), "cat"))[0]));
        Assert.Contains(": cat (class 1, ", predict.Output);
    }

    [Fact]
    public void Eval_reads_the_test_set_alone_and_the_training_set_only_without_one()
    {
        using var dir = new TempFolder();
        var spec = TrainedOnFolders(dir, 20, 5, "--epochs", "1");
        Directory.Move(dir.File("train"), dir.File("moved"));   // eval and report score the test set: the training set is not read
        var eval = CliRunner.Run("eval", spec, "--json");
        Assert.True(eval.ExitCode == 0, eval.All);
        Assert.Equal(15, JsonDocument.Parse(eval.Output).RootElement.GetProperty("examples").GetInt32());
        Assert.DoesNotContain("no test set", eval.All);
        // No test set: the training examples, and a note saying so.
        Directory.Move(dir.File("moved"), dir.File("train"));
        var trainOnly = Write(dir, "t.yaml", FolderSpec().Replace("  test: { folder: test }\n", ""));
        var (data, isTest) = DataLoader.LoadEvaluation(SpecCompiler.CompileFile(trainOnly).Model!, _ => { });
        Assert.False(isTest);
        Assert.Equal(60, data.Count);
        var fallback = CliRunner.Run("eval", trainOnly, "--weights", dir.File("animals.safetensors"), "--json");
        Assert.True(fallback.ExitCode == 0, fallback.All);
        Assert.Contains("no test set; evaluating on the training data", fallback.All);
        Assert.Equal(60, JsonDocument.Parse(fallback.Output).RootElement.GetProperty("examples").GetInt32());
    }

    [Fact]
    public void Image_folder_is_read_on_demand()
    {
        using var dir = new TempFolder();
        WriteFolder(dir.File("train"), 5, 1);
        var model = SpecCompiler.Compile(FolderSpec().Replace("  test: { folder: test }\n", ""), dir.File("s.yaml")).Model!;
        var (train, _) = DataLoader.Load(model, _ => { });
        Assert.Throws<InvalidOperationException>(() => train.Pixels); // nothing decoded up front
        var x = new float[2 * 64]; var labels = new int[2];
        train.FillBatch([0, 14], x, labels);
        Assert.Equal([0, 2], labels); // bird first, dog last: sorted folder names
        Assert.Equal(["bird", "cat", "dog"], train.ClassNames!);
    }

    [Fact]
    public void Rgb_folder_loads_three_channels()
    {
        using var dir = new TempFolder();
        var spec = FoldersAndSpec(dir, 10, 5, channels: 3);
        var r = CliRunner.Run("train", spec, "--epochs", "1");
        Assert.True(r.ExitCode == 0, r.All);
        // The first bird's pixels, channel by channel, as the model sees them (scaled by 1/255).
        var model = SpecCompiler.CompileFile(spec).Model!;
        var (train, _) = DataLoader.Load(model, _ => { });
        var first = Directory.GetFiles(Path.Combine(dir.File("train"), "bird")).Order(StringComparer.Ordinal).First();
        var expected = Images.Load(first, model.Input, resize: null);
        Assert.Equal(192, expected.Length);
        Assert.Equal((byte)(expected[0] + ChannelOffset), expected[1]);
        var x = new float[192]; var labels = new int[1];
        train.FillBatch([0], x, labels);
        Assert.Equal(0, labels[0]);
        Assert.Equal(expected.Select(v => v * (1f / 255)), x); // the default preprocessing: value * (1/255)
    }

    /// <summary>data.resize is part of how the model reads images: recorded in the weights, applied by predict, stated by export.</summary>
    [Fact]
    public void A_model_trained_with_resize_reads_images_of_the_folders_size()
    {
        using var dir = new TempFolder();
        var spec = FoldersAndSpec(dir, 10, 5, "  resize: bilinear", size: 12);
        Assert.Equal(0, CliRunner.Run("train", spec, "--epochs", "1").ExitCode);
        var weights = dir.File("animals.safetensors");
        Assert.Equal("bilinear", SpecNet.Formats.SafeTensors.Read(weights).Metadata["resize"]);
        var image = Directory.GetFiles(Path.Combine(dir.File("test"), "cat"))[0]; // 12x12, the model takes 8x8
        var predict = CliRunner.Run("predict", weights, image, "--json");
        Assert.True(predict.ExitCode == 0, predict.All);
        var scaled = Images.Load(image, SpecNet.Schema.Shape.Spatial(8, 8, 1), "bilinear");
        var model = SpecCompiler.Compile(SpecNet.Formats.WeightsFile.EmbeddedSpec(weights), "w.yaml").Model!;
        var plan = new ExecutionPlan(model, SpecNet.Formats.WeightsFile.Load(weights, model), new ReferenceBackend(), 1, trainable: false);
        model.Data!.Preprocessing.Apply(scaled, plan.Input, 1);
        var expected = plan.Forward(1, training: false).ToArray();
        var probabilities = JsonDocument.Parse(predict.Output).RootElement.GetProperty("predictions")[0].GetProperty("probabilities");
        Assert.Equal(expected.Select(p => Math.Round(p, 6)), probabilities.EnumerateArray().Select(p => p.GetDouble()));
        var export = CliRunner.Run("export", weights, "--onnx", dir.File("m.onnx"));
        Assert.Contains("the graph takes 8x8 images only; the spec resizes others (bilinear)", export.Output);
    }

    [Fact]
    public void Folder_problems_are_clear_errors()
    {
        using var dir = new TempFolder();
        var spec = FoldersAndSpec(dir, 5, 5);

        Directory.CreateDirectory(Path.Combine(dir.File("train"), "zebra"));
        var empty = CliRunner.Run("train", spec);
        Assert.Equal(1, empty.ExitCode);
        Assert.Contains("the class folder 'zebra' holds no PNG, JPEG or BMP images", empty.Error);
        Directory.Delete(Path.Combine(dir.File("train"), "zebra"));

        Images.SavePng(Path.Combine(dir.File("train"), "cat", "big.png"), new byte[10 * 12], 10, 12, 1);
        var size = CliRunner.Run("train", spec);
        Assert.Equal(1, size.ExitCode);
        Assert.Contains("big.png: the image is 12x10 (width x height), but the model takes 8x8", size.Error);
        Assert.Contains("data.resize", size.Error);
        Assert.Equal(0, CliRunner.Run("train", Write(dir, "r.yaml", FolderSpec("  resize: bilinear")), "--epochs", "1").ExitCode);

        File.Delete(Path.Combine(dir.File("train"), "cat", "big.png"));
        var good = File.ReadAllBytes(Directory.GetFiles(Path.Combine(dir.File("train"), "dog"))[0]);
        File.WriteAllBytes(Path.Combine(dir.File("train"), "dog", "zz-truncated.png"), good[..30]);
        var truncated = CliRunner.Run("train", spec);
        Assert.Equal(1, truncated.ExitCode);
        Assert.Contains("zz-truncated.png", truncated.Error);
        Assert.DoesNotContain("   at ", truncated.All);
    }

    private static string CsvSpec(string csv, string extra = "") => $$"""
        input: { shape: [2, 2, 1] }
        data:
          train: { csv: {{csv}}{{extra}} }
        layers:
          - flatten
          - dense: { units: 3, activation: softmax }
        """;

    [Fact]
    public void Csv_in_the_kaggle_layout_with_header_and_without()
    {
        using var dir = new TempFolder();
        Write(dir, "h.csv", "label,pixel0,pixel1,pixel2,pixel3\n2,0,255,10,20\n0,1,2,3,4\n");
        var model = SpecCompiler.Compile(CsvSpec("h.csv"), dir.File("a.yaml")).Model!;
        var (train, _) = DataLoader.Load(model, _ => { });
        Assert.Equal([2, 0], train.Labels);
        Assert.Equal([0, 255, 10, 20, 1, 2, 3, 4], train.Pixels);

        Write(dir, "n.csv", "0,1,2,3,1\n4,5,6,7,2\n");
        var noHeader = SpecCompiler.Compile(CsvSpec("n.csv", ", label: 4"), dir.File("b.yaml")).Model!;
        var (t2, _) = DataLoader.Load(noHeader, _ => { });
        Assert.Equal([1, 2], t2.Labels);
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7], t2.Pixels);

        // quoted fields, as spreadsheets and pandas may write them
        Write(dir, "q.csv", "\"label\",\"p0\",\"p1\",\"p2\",\"p3\"\n\"2\",0,255,\"10\",20\n");
        var (quoted, _) = DataLoader.Load(SpecCompiler.Compile(CsvSpec("q.csv"), dir.File("q.yaml")).Model!, _ => { });
        Assert.Equal([2], quoted.Labels);
        Assert.Equal([0, 255, 10, 20], quoted.Pixels);

        Write(dir, "named.csv", "kind,a,b,c,d\ncat,1,1,1,1\ndog,2,2,2,2\n");
        var named = SpecCompiler.Compile(CsvSpec("named.csv", ", label: kind").Replace("layers:", "  labels: [bird, cat, dog]\nlayers:"), dir.File("c.yaml")).Model!;
        var (t3, _) = DataLoader.Load(named, _ => { });
        Assert.Equal([1, 2], t3.Labels);
        Assert.Equal("dog", t3.ClassName(2));
    }

    /// <summary>
    /// A CSV of features (fractions, negatives, values past 255) is read as written, not rounded into pixels: the values reach
    /// the model through the spec's preprocessing formula, whole numbers exactly as their 8-bit twins do, and a flat model
    /// learns from them. Under the pixels' default x/255 a note says how to take them as they are.
    /// </summary>
    [Fact]
    public void Csv_features_are_read_as_written_and_train()
    {
        using var dir = new TempFolder();
        Write(dir, "f.csv", "label,a,b,c,d\n1,3,0,255,7\n0,-1.25,0.5,1000.75,2\n");
        var spec = Write(dir, "f.yaml", "input: [4]\ndata:\n  train: { csv: f.csv }\nlayers:\n  - dense: { units: 2, activation: softmax }\n");
        var notes = new List<string>();
        var (train, _) = DataLoader.Load(SpecCompiler.CompileFile(spec).Model!, notes.Add);
        Assert.True(train.HoldsFeatures);
        Assert.Contains(notes, n => n.Contains("holds values that are not 8-bit pixels") && n.Contains("data.preprocess: { scale: 1 }"));
        var x = new float[8];
        train.FillBatch([0, 1], x, new int[2]);
        // the whole-number row as its 8-bit twin gives it, to the bit
        var twin = new float[4];
        new Dataset("t", SpecNet.Schema.Shape.Flat(4), new byte[] { 3, 0, 255, 7 }, [1]).FillBatch([0], twin, new int[1]);
        Assert.Equal(twin, x[..4]);
        Assert.Equal(new[] { -1.25f, 0.5f, 1000.75f, 2f }.Select(v => (v * (1f / 255) - 0f) / 1f), x[4..]);

        File.WriteAllText(spec, File.ReadAllText(spec).Replace("data:\n", "data:\n  preprocess: { scale: 1 }\n"));
        notes.Clear();
        (train, _) = DataLoader.Load(SpecCompiler.CompileFile(spec).Model!, notes.Add);
        train.FillBatch([1], x.AsSpan(0, 4), new int[1]);
        Assert.Equal([-1.25f, 0.5f, 1000.75f, 2f], x[..4]);
        Assert.DoesNotContain(notes, n => n.Contains("8-bit"));

        // a flat input's values are any finite numbers
        foreach (var (row, expected) in new[] { ("1,1,abc,3,4", "f.csv(3): column 3 holds 'abc', not a number"), ("1,1,2,1e39,4", "f.csv(3): column 4 holds '1e39', not a number"),
                                                  ("1,nan,2,3,4", "f.csv(3): column 2 holds 'nan', not a number") })
        {
            Write(dir, "f.csv", "label,a,b,c,d\n1,3,0,255,7\n" + row + "\n");
            Assert.Contains(expected, Assert.Throws<SpecNetException>(() => DataLoader.Load(SpecCompiler.CompileFile(spec).Model!, _ => { })).Message);
        }

        // two classes apart on features under 0.5: rounded into pixels, as they were, every value was 0
        var rng = new Rng(3);
        var rows = Enumerable.Range(0, 400).Select(i => (y: i % 2, a: (i % 2 == 0 ? 0.05 : 0.3) + 0.1 * rng.NextDouble(), b: rng.NextDouble() * 0.45))
            .Select(r => FormattableString.Invariant($"{r.y},{r.a:0.000},{r.b:0.000},{-r.a:0.000},{r.a * r.b:0.000}"));
        Write(dir, "f.csv", "label,a,b,c,d\n" + string.Join("\n", rows) + "\n");
        File.WriteAllText(spec, File.ReadAllText(spec).Replace("data:\n", "data:\n  validation_split: 0.25\n")
            + "training: { optimizer: { adam: { learning_rate: 0.05 } }, epochs: 15, batch_size: 16 }\n");
        var r = CliRunner.Run("train", spec, "--json");
        Assert.True(r.ExitCode == 0, r.All);
        var last = r.Output.Split('\n').Where(l => l.Contains("\"event\":\"epoch\"")).Last();
        Assert.True(JsonDocument.Parse(last).RootElement.GetProperty("val_accuracy").GetDouble() > 0.95, last);
        Assert.Contains("300 train / 100 validation / 0 test examples", CliRunner.Run("train", spec, "-o", dir.File("again.safetensors")).Output);

        // reports list a flat input's misclassified examples by their values, and name the examples they score
        Assert.Equal(0, CliRunner.Run("train", spec, "--report", dir.File("run")).ExitCode);
        var page = File.ReadAllText(dir.File("run/index.html"));
        Assert.Contains("Validation set: 100 examples", page);
        Assert.Contains("<th>val loss</th><th>val accuracy</th>", page);     // the per-epoch metrics were the validation set's
        Assert.Contains("<th>x0</th><th>x1</th><th>x2</th><th>x3</th></tr>", page);
        Assert.False(File.Exists(dir.File("run/misclassified.png")));
        Assert.Equal(0, CliRunner.Run("report", dir.File("f.safetensors"), "-o", dir.File("rep")).ExitCode);
        Assert.Contains("Training set: ", File.ReadAllText(dir.File("rep/index.html")));
    }

    [Theory]
    [InlineData("label,a,b,c,d\n1,1,2,3,4\n2,1,2,3\n", "r.csv(3): 4 columns, but the first row has 5")]
    [InlineData("label,a,b,c,d\n1,1,2,3,4\nhorse,1,2,3,4\n", "r.csv(3): unknown label 'horse'")]
    [InlineData("label,a,b,c,d\n1,1,2,abc,4\n", "r.csv(2): column 4 holds 'abc', not a value in 0..255")]
    [InlineData("label,a,b,c,d\n1,1,2,3,4\n1,1,nan,3,4\n", "r.csv(3): column 3 holds 'nan', not a value in 0..255")]
    [InlineData("label,a,b,c,d\n1,1,2,300,4\n", "r.csv(2): column 4 holds '300', not a value in 0..255")]          // an image input's: pixels
    [InlineData("label,a,b,c,d\n1,1,-2,3,4\n", "r.csv(2): column 3 holds '-2', not a value in 0..255")]
    [InlineData("label,a,b\n1,1,2\n", "r.csv(1): 2 value columns, but the model takes 4 (2x2x1)")]
    [InlineData("a,b,c,d\n1,1,2,3\n", "r.csv(1): 4 columns, the model's input values alone: no label column")]
    [InlineData("label;a;b;c;d\n1;1,5;2;3;4\n", "r.csv(1): the values are separated by ';', not commas")]
    [InlineData(",label,a,b,c,d\n0,1,1,2,3,4\n", "hint: the first column has no name: a row index (pandas writes one unless to_csv(..., index=False)); leave it out")]
    [InlineData("label\ta\tb\tc\td\n", "r.csv(1): the values are separated by tabs, not commas")]
    public void Malformed_csv_is_a_located_error(string content, string expected)
    {
        using var dir = new TempFolder();
        Write(dir, "r.csv", content);
        var spec = Write(dir, "s.yaml", CsvSpec("r.csv"));
        var r = CliRunner.Run("train", spec);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(expected, r.Error);
    }

    [Fact]
    public void Validation_split_is_disjoint_seeded_and_stable()
    {
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path);
        File.WriteAllText(spec, File.ReadAllText(spec).Replace("data:\n", "data:\n  validation_split: 0.25\n"));
        var model = SpecCompiler.CompileFile(spec).Model!;
        var a = DataLoader.LoadSplits(model, _ => { });
        var b = DataLoader.LoadSplits(model, _ => { });
        Assert.Equal((450, 150), (a.Train.Count, a.Validation!.Count));
        Assert.Equal(a.Validation.Pixels, b.Validation!.Pixels);
        // disjoint: every training example is in exactly one of the two
        var full = DataLoader.Load(model, _ => { }).Train;
        var all = Enumerable.Range(0, full.Count).Select(i => Convert.ToBase64String(full.Pixels.AsSpan(i * 64, 64))).ToList();
        var seen = Enumerable.Range(0, a.Train.Count).Select(i => Convert.ToBase64String(a.Train.Pixels.AsSpan(i * 64, 64)))
            .Concat(Enumerable.Range(0, a.Validation.Count).Select(i => Convert.ToBase64String(a.Validation.Pixels.AsSpan(i * 64, 64)))).ToList();
        Assert.Equal(all.Order(), seen.Order());
        var r = CliRunner.Run("train", spec, "--epochs", "1");
        Assert.Contains("val_accuracy", r.Output);
        Assert.Contains("(validation accuracy", r.Output); // the test set stays untouched until eval
    }

    [Fact]
    public void Preprocessing_is_applied_and_checked()
    {
        var p = new Preprocessing(1f / 255, [0.5f, 0.25f, 0f], [0.5f, 0.5f, 1f], Bgr: true);
        var x = new float[3];
        p.Apply([255, 0, 51], x, 3); // BGR: the model sees (51, 0, 255)
        Assert.Equal([(0.2f - 0.5f) / 0.5f, (0f - 0.25f) / 0.5f, 1f], x.Select(v => MathF.Round(v, 5)));

        var bad = SpecCompiler.Compile("input: [8, 8, 1]\ndata:\n  train: { images: a, labels: b }\n  preprocess: { mean: [0.1, 0.2], std: 0 }\nlayers:\n  - flatten\n  - dense: { units: 3, activation: softmax }\n", "p.yaml");
        Assert.Contains(bad.Diagnostics, d => d.Id == DiagnosticIds.NotANumber && d.Message.Contains("'std' values must be positive"));
    }

    [Fact]
    public void Augmentation_is_seeded_and_flip_mirrors()
    {
        var shape = SpecNet.Schema.Shape.Spatial(2, 3, 1);
        float[] Run(int seed)
        {
            var x = new float[] { 1, 2, 3, 4, 5, 6 };
            new Augmenter(new Augmentation(0, 0, 0, "horizontal", 0, 0), Preprocessing.Default, shape, new Rng((ulong)seed)).Apply(x, 1);
            return x;
        }
        var results = Enumerable.Range(0, 20).Select(Run).Select(v => string.Join(",", v.Select(f => MathF.Round(f, 4)))).Distinct().Order().ToList();
        Assert.Equal(["1,2,3,4,5,6", "3,2,1,6,5,4"], results); // identity or an exact mirror
        Assert.Equal(Run(7), Run(7));
    }

    [Fact]
    public void Augmented_training_resumes_bit_identical()
    {
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path, trainCount: 1200);
        File.WriteAllText(spec, File.ReadAllText(spec).Replace("data:\n", "data:\n  augment: { translation: 0.1, rotation: 0.05, zoom: 0.1, flip: horizontal, brightness: 0.1, contrast: 0.1 }\n"));
        var model = SpecCompiler.CompileFile(spec).Model!;
        var (train, test) = DataLoader.Load(model, _ => { });
        var full = new Trainer(model, ParameterSet.Initialize(model, 3), new CpuEngine(new ManagedBackend()));
        full.Fit(train, test);
        using var cancel = new CancellationTokenSource();
        var ckpt = dir.File("c.safetensors");
        Assert.Throws<TrainingInterruptedException>(() => new Trainer(model, ParameterSet.Initialize(model, 3), new CpuEngine(new ManagedBackend())) { Callbacks = [new Checkpointer(ckpt, 0, [])] }
            .Fit(train, test, onStep: s => { if (s.Epoch == 2 && s.Step == 20) cancel.Cancel(); }, cancel: cancel.Token));
        // Fresh parameters of another seed: a resume that started over could not reach the same weights.
        var resumed = new Trainer(model, ParameterSet.Initialize(model, 99), new CpuEngine(new ManagedBackend())) { Callbacks = [new Checkpointer(ckpt, 0, [])], ResumeFrom = ckpt };
        var epochs = new List<int>();
        resumed.Fit(train, test, onEpoch: e => epochs.Add(e.Epoch));
        Assert.Equal([2, 3], epochs);
        Assert.Equal(full.Parameters.Slots.Select(s => s.Value), resumed.Parameters.Slots.Select(s => s.Value));
    }
}

[Collection(EnvironmentCollection.Name)] // sets SPECNET_DATA
public class NamedDatasetEvaluationTests
{
    [Fact]
    public void A_named_datasets_evaluation_reads_its_test_files_alone()
    {
        using var dir = new TempFolder();
        var folder = Path.Combine(dir.File("data"), "fashion-mnist");
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, NamedDatasets.Files[0]), [1, 2, 3]);   // the training images: corrupt
        Idx.Write(Path.Combine(folder, NamedDatasets.Files[1]), [3], new byte[] { 0, 1, 2 });
        Idx.Write(Path.Combine(folder, NamedDatasets.Files[2]), [2, 28, 28], new byte[2 * 28 * 28]);
        Idx.Write(Path.Combine(folder, NamedDatasets.Files[3]), [2], new byte[] { 4, 9 });
        var model = SpecCompiler.Compile("""
            name: f
            input: { shape: [28, 28, 1] }
            data: { dataset: fashion-mnist }
            layers: [ flatten, { dense: { units: 10, activation: softmax } } ]
            """, dir.File("f.yaml")).Model!;
        var saved = Environment.GetEnvironmentVariable("SPECNET_DATA");
        try
        {
            Environment.SetEnvironmentVariable("SPECNET_DATA", dir.File("data"));
            var (data, isTest) = DataLoader.LoadEvaluation(model, _ => { });
            Assert.True(isTest);
            Assert.Equal([4, 9], data.Labels);
            Assert.Throws<SpecNetException>(() => DataLoader.Load(model, _ => { }));   // what reading the training files meets
        }
        finally { Environment.SetEnvironmentVariable("SPECNET_DATA", saved); }
    }

    [Fact]
    public void Fashion_mnist_classes_go_by_their_names_in_eval_predict_and_reports()
    {
        using var dir = new TempFolder();
        var folder = Path.Combine(dir.File("data"), "fashion-mnist");
        var (pixels, labels) = (new byte[20 * 28 * 28], Enumerable.Range(0, 20).Select(i => (byte)(i % 10)).ToArray());
        new Random(5).NextBytes(pixels);
        Idx.Write(Path.Combine(folder, NamedDatasets.Files[0]), [20, 28, 28], pixels);
        Idx.Write(Path.Combine(folder, NamedDatasets.Files[1]), [20], labels);
        Idx.Write(Path.Combine(folder, NamedDatasets.Files[2]), [20, 28, 28], pixels);
        Idx.Write(Path.Combine(folder, NamedDatasets.Files[3]), [20], labels);
        var spec = dir.File("f.yaml");
        File.WriteAllText(spec, "name: f\ninput: { shape: [28, 28, 1] }\ndata: { dataset: fashion-mnist }\nlayers: [ flatten, { dense: { units: 10, activation: softmax } } ]\n");
        // Weights as a SpecNet that did not know the names wrote them: no class names recorded.
        WeightsFile.Save(dir.File("f.safetensors"), ParameterSet.Initialize(SpecCompiler.CompileFile(spec).Model!, 1), new Dictionary<string, string>());
        Images.SavePng(dir.File("shoe.png"), pixels.AsSpan(0, 28 * 28), 28, 28, 1);
        var saved = Environment.GetEnvironmentVariable("SPECNET_DATA");
        try
        {
            Environment.SetEnvironmentVariable("SPECNET_DATA", dir.File("data"));
            string[] names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
            Assert.Equal(names, NamedDatasets.Read("fashion-mnist", folder, test: true).ClassNames);
            Assert.Null(NamedDatasets.ClassNames("mnist"));                          // digits name themselves

            var eval = CliRunner.Run("eval", spec);
            Assert.True(eval.ExitCode == 0, eval.All);
            var lines = eval.Output.Split('\n');
            Assert.Contains(lines, l => l.Trim().StartsWith("Ankle boot ") && l.Contains("of 2"));                      // per class
            var rows = lines.SkipWhile(l => !l.StartsWith("Confusion matrix")).Skip(2).Take(10).ToList();
            Assert.All(Enumerable.Range(0, 10), c => Assert.StartsWith($"  {c} {names[c]} ", rows[c]));
            Assert.Single(rows.Select(r => r.Length).Distinct());                                                  // in line
            var json = System.Text.Json.JsonDocument.Parse(CliRunner.Run("eval", spec, "--json").Output).RootElement;
            Assert.Equal(names, json.GetProperty("class_names").EnumerateArray().Select(e => e.GetString()));

            var predict = CliRunner.Run("predict", spec, dir.File("shoe.png"));
            Assert.True(predict.ExitCode == 0, predict.All);
            Assert.Matches(@"shoe\.png: (T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot) \(class \d, \d+\.\d%\)", predict.Output);
            var top = CliRunner.Run("predict", spec, dir.File("shoe.png"), "--top", "3").Output.Split('\n')[1];
            Assert.Matches(@"^  ([A-Za-z/ -]+ \d+\.\d%, ){2}[A-Za-z/ -]+ \d+\.\d%$", top);

            var report = CliRunner.Run("report", spec, "--weights", dir.File("f.safetensors"), "--out", dir.File("report"));
            Assert.True(report.ExitCode == 0, report.All);
            var page = File.ReadAllText(dir.File("report/index.html"));
            Assert.Contains("<td>Ankle boot (9)</td>", page);
            Assert.Matches(@"<figcaption>#\d+: [A-Za-z-/ ]+ \(\d\) → [A-Za-z-/ ]+ \(\d\)</figcaption>", page.Replace("T-shirt/top", "Tshirt"));

            var sample = CliRunner.Run("data", "sample", "fashion-mnist", "--out", dir.File("samples"), "--per-class", "1");
            Assert.Contains("(test image 9, class 9: Ankle boot)", sample.Output);
        }
        finally { Environment.SetEnvironmentVariable("SPECNET_DATA", saved); }
    }
}
