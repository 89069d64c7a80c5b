using SpecNet.Checking;
using SpecNet.Comparing;
using SpecNet.Data;
using SpecNet.Formats;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Tests.Cli;
using SpecNet.Training;

namespace SpecNet.Tests.Training;

/// <summary>
/// Fine-tuning: training.init_from loads what matches by name and shape (and says what it did), and
/// trainable: false freezes layers and blocks (no gradient, no optimizer state, not counted; a frozen
/// batch_norm normalises with its moving statistics, as Keras).
/// </summary>
public class FineTuningTests
{
    private const string Body = """
          - conv2d: { filters: 4, kernel_size: 3, activation: relu, name: stem }
          - batch_norm: { name: norm }
          - residual:
              name: block
              layers:
                - conv2d: { filters: 4, kernel_size: 3, padding: same, activation: relu }
          - global_avg_pool2d
        """;

    private static ModelSpec Compile(string text, string path = "t.yaml")
    {
        var c = SpecCompiler.Compile(text, path);
        Assert.True(c.Success, c.Render());
        return c.Model!;
    }

    private static string Spec(string head = "dense: { units: 3, activation: softmax, name: head }", string body = Body, string training = "") =>
        $"input: [8, 8, 1]\nlayers:\n{body}\n  - {head}\ntraining: {{ optimizer: {{ adam: {{ learning_rate: 0.01 }} }}, batch_size: 16, epochs: 2{training} }}\n";

    private static (Dataset Train, Dataset Test) Data()
    {
        var (x, y) = TestData.Patterns(96, 1);
        var (tx, ty) = TestData.Patterns(30, 2);
        var shape = SpecNet.Schema.Shape.Spatial(8, 8, 1);
        return (new Dataset("train", shape, x, y), new Dataset("test", shape, tx, ty));
    }

    [Fact]
    public void Frozen_layers_and_blocks_keep_their_weights_and_are_not_counted()
    {
        var open = Compile(Spec());
        var frozen = Compile(Spec(body: Body.Replace("name: stem }", "name: stem, trainable: false }").Replace("name: block", "name: block\n      trainable: false")));
        Assert.Equal(open.StructuralHash, frozen.StructuralHash);                 // the same weights mean the same: files stay interchangeable
        var stem = frozen.Layers.Single(l => l.Name == "stem");
        var inBlock = frozen.Layers.Single(l => l.Name == "block/conv2d_1");
        Assert.True(stem.Frozen && inBlock.Frozen);
        Assert.False(frozen.Layers.Single(l => l.Name == "norm").Frozen);
        Assert.Equal(open.TrainableParameters - stem.ParameterCount - inBlock.ParameterCount, frozen.TrainableParameters);
        Assert.Contains("40 frozen", ModelSummary.ToText(frozen));
        Assert.Contains("(2 frozen layers)", ModelSummary.ToText(frozen));

        var (train, test) = Data();
        var start = ParameterSet.Initialize(frozen, 3);
        var before = start.Slots.ToDictionary(s => s.Name, s => s.Value.ToArray());
        var trainer = new Trainer(frozen, start, new CpuEngine(new ReferenceBackend()), 2, 16, 3);
        trainer.Fit(train, test);
        foreach (var slot in trainer.Parameters.Slots)
        {
            bool same = before[slot.Name].SequenceEqual(slot.Value);
            Assert.True(slot.Layer.Frozen == same, $"{slot.Name}: frozen {slot.Layer.Frozen}, unchanged {same}");
        }
        // no gradient, so no optimizer state: the trainable set is exactly the unfrozen layers' trainable tensors
        Assert.Equal(["norm.gamma", "norm.beta", "head.weight", "head.bias"], trainer.Parameters.Trainable.Select(s => s.Name));
    }

    [Fact]
    public void Frozen_batch_norm_uses_its_moving_statistics_while_training()
    {
        var model = Compile("input: [6]\nlayers:\n  - batch_norm: { trainable: false }\ntraining: { loss: mse }\n");
        var parameters = ParameterSet.Initialize(model, 1);
        float[] mean = [0.5f, -1, 2, 0, 1, -0.5f], variance = [4, 1, 0.25f, 2, 1, 9];
        mean.CopyTo(parameters.Slots[2].Value, 0);
        variance.CopyTo(parameters.Slots[3].Value, 0);
        var plan = new ExecutionPlan(model, parameters, new ReferenceBackend(), 2);
        float[] x = [1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6];
        x.CopyTo(plan.Input);
        var y = plan.Forward(2, training: true).ToArray();
        for (int i = 0; i < x.Length; i++)
            Assert.Equal((x[i] - mean[i % 6]) / MathF.Sqrt(variance[i % 6] + 0.001f), y[i], 5);
        Assert.Equal(mean, parameters.Slots[2].Value);                            // not moved towards the batch's statistics
        Assert.Equal(variance, parameters.Slots[3].Value);
    }

    [Fact]
    public void A_frozen_body_gets_no_backward_at_all()
    {
        var frozenBody = Compile(Spec(body: Body.Replace("name: stem }", "name: stem, trainable: false }").Replace("name: norm }", "name: norm, trainable: false }")
            .Replace("name: block", "name: block\n      trainable: false")));
        var open = Compile(Spec());
        var layout = new BufferLayout(frozenBody, training: true);
        Assert.All(frozenBody.Layers.Select((l, i) => (l, i)).Where(p => p.l.Kind.Name != "dense"), p => Assert.True(layout.Gradient[p.i + 1] < 0, $"{p.l.Name} has a gradient"));
        Assert.True(layout.GradientFloats < new BufferLayout(open, training: true).GradientFloats);
    }

    [Fact]
    public void Init_from_loads_what_matches_and_says_what_it_did()
    {
        using var dir = new TempFolder();
        var pretrained = Compile(Spec());
        var weights = OnnxImportTestsRandom(pretrained, 5);
        WeightsFile.Save(dir.File("pretrained.safetensors"), weights, new Dictionary<string, string>());
        // a new head of another size under the same name (skipped, with a warning at its line), and a new layer (fresh)
        var text = Spec(head: "dense: { units: 8, activation: relu, name: head }\n  - dense: { units: 2, activation: softmax, name: digits }",
            training: ", init_from: pretrained.safetensors");
        File.WriteAllText(dir.File("tune.yaml"), text);
        var model = SpecCompiler.CompileFile(dir.File("tune.yaml")).Model!;
        Assert.Equal(dir.File("pretrained.safetensors"), model.Training.InitFrom);

        var (parameters, from) = WarmStart.Initial(model, 9);
        Assert.NotNull(from);
        var file = weights.Slots.ToDictionary(s => s.Name, s => s.Value);
        var seeded = ParameterSet.Initialize(model, 9).Slots.ToDictionary(s => s.Name, s => s.Value);
        foreach (var slot in parameters.Slots)
        {
            bool loaded = from.Loaded.Contains(slot);
            Assert.Equal(loaded ? file[slot.Name] : seeded[slot.Name], slot.Value);
        }
        Assert.Equal(["head.weight", "head.bias"], from.Skipped.Select(s => s.Slot.Name));
        Assert.Equal(["digits.weight", "digits.bias"], from.Fresh.Select(s => s.Name));
        Assert.Equal(weights.Slots.Count - 2, from.Loaded.Count);
        Assert.Contains("fresh (not in the file): digits.weight, digits.bias", from.Summary);

        var check = CliRunner.Run("check", dir.File("tune.yaml"));
        Assert.True(check.ExitCode == 0, check.All);
        Assert.Contains($"Starts from {dir.File("pretrained.safetensors")}: loaded {from.Loaded.Count} of {parameters.Slots.Count} tensors", check.Output);
        int headLine = text.Split('\n').ToList().FindIndex(l => l.Contains("name: head")) + 1;
        Assert.Contains($"tune.yaml({headLine},5): warning SN3103: dense layer 'head': init_from has 'head.weight' as [3, 4] and 'head.bias' as [3], but here they are [8, 4] and [8]; it starts fresh", check.Output);
    }

    /// <summary>Glorot weights plus random biases and statistics.</summary>
    private static ParameterSet OnnxImportTestsRandom(ModelSpec model, int seed) => SpecNet.Tests.Formats.OnnxExportTests.Randomized(model, seed);

    [Fact]
    public void Fine_tuning_trains_from_the_command_line_and_enters_the_run_identity()
    {
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path, trainCount: 120, testCount: 30, epochs: 1);
        Assert.Equal(0, CliRunner.Run("train", spec, "-o", dir.File("pre.safetensors"), "-q").ExitCode);
        var tune = File.ReadAllText(spec)
            .Replace("- conv2d: { filters: 4, kernel_size: 3, activation: relu }", "- conv2d: { filters: 4, kernel_size: 3, activation: relu, trainable: false }")
            .Replace("- dense: { units: 3, activation: softmax }", "- dense: { units: 3, activation: softmax, name: new_head }")
            .Replace("seed: 3", "seed: 3\n  init_from: pre.safetensors");
        File.WriteAllText(dir.File("tune.yaml"), tune);
        var r = CliRunner.Run("train", dir.File("tune.yaml"), "-o", dir.File("tuned.safetensors"), "--no-progress");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("loaded 4 of 6 tensors", r.Output);
        Assert.Contains("fresh (not in the file): new_head.weight, new_head.bias", r.Output);
        Assert.Contains("Frozen: 1 layer", r.Output);
        var pre = SafeTensors.Read(dir.File("pre.safetensors")).Tensors.ToDictionary(t => t.Name);
        var (tuned, metadata) = SafeTensors.Read(dir.File("tuned.safetensors"));
        Assert.Equal(pre["conv2d_1.weight"].Data, tuned.Single(t => t.Name == "conv2d_1.weight").Data);    // frozen: as loaded
        Assert.NotEqual(pre["dense_1.weight"].Data, tuned.Single(t => t.Name == "dense_1.weight").Data);   // loaded, then trained
        Assert.Equal("pre.safetensors", metadata["init_from"]);
        Assert.Equal("conv2d_1", metadata["frozen"]);

        // the run's identity: other starting weights or another frozen set is another run; neither changes a plain spec's key
        var data = DataLoader.LoadSplits(SpecCompiler.CompileFile(spec).Model!, _ => { });
        string Key(string path) => RunCache.KeyOf(SpecCompiler.CompileFile(path).Model!, 1, 1, data.Train, data.Test!);
        var keyTuned = Key(dir.File("tune.yaml"));
        File.WriteAllText(dir.File("unfrozen.yaml"), tune.Replace(", trainable: false", ""));
        Assert.NotEqual(keyTuned, Key(dir.File("unfrozen.yaml")));
        File.Copy(dir.File("tuned.safetensors"), dir.File("pre.safetensors"), overwrite: true);
        Assert.NotEqual(keyTuned, Key(dir.File("tune.yaml")));
    }

    [Fact]
    public void A_missing_init_from_file_is_a_warning_in_check_and_an_error_in_train()
    {
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path, trainCount: 60, testCount: 30, epochs: 1);
        File.WriteAllText(spec, File.ReadAllText(spec).Replace("seed: 3", "seed: 3\n  init_from: nowhere.safetensors"));
        var check = CliRunner.Run("check", spec);
        Assert.True(check.ExitCode == 0, check.All);
        Assert.Contains("warning SN3101: training: there is no file 'nowhere.safetensors' to start from", check.Output);
        var train = CliRunner.Run("train", spec, "-q");
        Assert.Equal(1, train.ExitCode);
        Assert.Contains("nowhere.safetensors, which does not exist", train.Error);
        Assert.DoesNotContain("   at ", train.All);
    }

    [Fact]
    public void Freezing_everything_is_a_warning()
    {
        var c = SpecCompiler.Compile("input: [4]\nlayers:\n  - dense: { units: 2, activation: softmax, trainable: false }\n", "f.yaml");
        Assert.True(c.Success);
        Assert.Contains(c.Diagnostics, d => d.Id == "SN3104");
    }
}
