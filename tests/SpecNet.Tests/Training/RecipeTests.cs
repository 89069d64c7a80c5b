using System.Text.Json;
using SpecNet.Checking;
using SpecNet.Comparing;
using SpecNet.Data;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Tests.Cli;
using SpecNet.Training;
using SpecNet.Training.Optimizers;

namespace SpecNet.Tests.Training;

/// <summary>Training recipes (schedules, weight decay, clipping, label smoothing, regularizers, plateaus) against values computed by hand.</summary>
public class RecipeTests
{
    private static ModelSpec Compile(string training, string layer = "dense: { units: 2 }", string input = "[1]")
    {
        var c = SpecCompiler.Compile($"input: {input}\nlayers:\n  - {layer}\ntraining: {training}\n", "r.yaml");
        Assert.True(c.Success, c.Render());
        return c.Model!;
    }

    private static LearningRate Rate(string value) => Compile($"{{ loss: mse, optimizer: {{ sgd: {{ learning_rate: {value} }} }} }}").Training.Optimizer.LearningRate;

    [Fact]
    public void Cosine_decay_follows_keras()
    {
        var r = Rate("{ cosine_decay: { initial_learning_rate: 0.1, decay_steps: 100, alpha: 0.2 } }");
        Assert.Equal(0.1, r.At(0), 7);
        Assert.Equal(0.1 * ((1 - 0.2) * 0.5 * (1 + Math.Cos(Math.PI * 0.25)) + 0.2), r.At(25), 7);
        Assert.Equal(0.1 * 0.2, r.At(100), 7);
        Assert.Equal(0.1 * 0.2, r.At(1000), 7); // stays at alpha · initial after decay_steps
        var warm = Rate("{ cosine_decay: { initial_learning_rate: 0.0, decay_steps: 100, warmup_target: 0.1, warmup_steps: 10 } }");
        Assert.Equal(0.0, warm.At(0), 7);
        Assert.Equal(0.05, warm.At(5), 7);                                      // halfway up the linear warmup
        Assert.Equal(0.1, warm.At(10), 7);                                      // the top: the cosine starts from warmup_target
        Assert.Equal(0.1 * 0.5 * (1 + Math.Cos(Math.PI * 0.5)), warm.At(60), 7);
        Assert.Equal(0.0, warm.At(500), 7);
    }

    [Fact]
    public void Exponential_and_piecewise_decay_follow_keras()
    {
        var smooth = Rate("{ exponential_decay: { initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.5 } }");
        Assert.Equal(0.1 * Math.Pow(0.5, 1.5), smooth.At(15), 7);
        var stairs = Rate("{ exponential_decay: { initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.5, staircase: true } }");
        Assert.Equal(0.05, stairs.At(15), 7);
        Assert.Equal(0.1, stairs.At(9), 7);
        var pieces = Rate("{ piecewise_constant_decay: { boundaries: [10, 20], values: [1.0, 0.5, 0.1] } }");
        Assert.Equal([1.0, 1.0, 0.5, 0.5, 0.1], new long[] { 0, 10, 11, 20, 21 }.Select(pieces.At)); // a boundary belongs to the interval before it
    }

    /// <summary>One tensor [1, -2] with the given gradients, stepped by the spec's optimizer.</summary>
    private static (float[] Weights, Optimizer Optimizer) Steps(string optimizer, params float[][] gradients)
    {
        var model = Compile($"{{ loss: mse, optimizer: {optimizer} }}", "dense: { units: 2, use_bias: false }");
        var set = new ParameterSet(model);
        set.Slots[0].Value[0] = 1; set.Slots[0].Value[1] = -2;
        var o = Optimizer.Create(model.Training.Optimizer, set);
        foreach (var g in gradients) { g.CopyTo(set.Slots[0].Grad!, 0); o.Step(); }
        return (set.Slots[0].Value, o);
    }

    [Fact]
    public void Each_step_uses_the_schedule_at_the_steps_taken_before_it()
    {
        // sgd, g = 1: w moves by lr(0), then lr(1), then lr(2) (Keras passes `iterations` before incrementing it)
        var (w, o) = Steps("{ sgd: { learning_rate: { piecewise_constant_decay: { boundaries: [0, 1], values: [0.5, 0.25, 0.125] } } } }", [1, 0], [1, 0], [1, 0]);
        Assert.Equal(1 - 0.5 - 0.25 - 0.125, w[0], 6);
        Assert.Equal(0.125, o.LearningRate, 9); // the next step's rate
    }

    [Fact]
    public void Weight_decay_is_decoupled_and_applied_before_the_update()
    {
        // Keras: w -= w · wd · lr, then the sgd step w -= lr · g
        var (w, _) = Steps("{ sgd: { learning_rate: 0.1, weight_decay: 0.5 } }", [0.3f, 0]);
        Assert.Equal(1 - 1 * 0.5 * 0.1 - 0.1 * 0.3, w[0], 6);
        Assert.Equal(-2 - -2 * 0.5 * 0.1, w[1], 6);
    }

    [Fact]
    public void Clipping_by_norm_global_norm_and_value()
    {
        var (byNorm, _) = Steps("{ sgd: { learning_rate: 1, clipnorm: 1 } }", [3, 4]);           // |g| = 5 -> g / 5
        Assert.Equal([1 - 0.6f, -2 - 0.8f], byNorm);
        var (small, _) = Steps("{ sgd: { learning_rate: 1, clipnorm: 10 } }", [3, 4]);           // under the norm: unchanged
        Assert.Equal([1 - 3f, -2 - 4f], small);
        var (byValue, _) = Steps("{ sgd: { learning_rate: 1, clipvalue: 0.5 } }", [3, -0.25f]);
        Assert.Equal([1 - 0.5f, -2 + 0.25f], byValue);
        var (global, _) = Steps("{ sgd: { learning_rate: 1, global_clipnorm: 2.5 } }", [3, 4]); // one tensor: global = its norm
        Assert.Equal([1 - 1.5f, -2 - 2f], global);
        var twice = SpecCompiler.Compile("input: [1]\nlayers:\n  - dense: { units: 2 }\ntraining: { loss: mse, optimizer: { sgd: { clipnorm: 1, clipvalue: 1 } } }\n", "c.yaml");
        Assert.Contains(twice.Diagnostics, d => d.Id == "SN2003" && d.Message.Contains("one of clipnorm, clipvalue and global_clipnorm"));
    }

    [Fact]
    public void Label_smoothing_softens_the_targets()
    {
        // 4 classes, s = 0.2: t = 0.8 · one-hot + 0.05 -> [0.85, 0.05, 0.05, 0.05]
        var model = Compile("{ loss: { categorical_crossentropy: { label_smoothing: 0.2 } } }", "dense: { units: 4, activation: softmax }");
        var loss = Loss.For(model.Training.Loss, model.FinalActivation);
        float[] p = [0.4f, 0.3f, 0.2f, 0.1f], g = new float[4];
        double value = loss.Compute(p, [0], 1, g);
        double[] t = [0.85, 0.05, 0.05, 0.05];
        Assert.Equal(-Enumerable.Range(0, 4).Sum(c => t[c] * Math.Log(p[c])), value, 6);
        Assert.Equal(Enumerable.Range(0, 4).Select(c => Math.Round(p[c] - t[c], 6)), g.Select(v => Math.Round((double)v, 6))); // fused: p - t
        var binary = Compile("{ loss: { binary_crossentropy: { label_smoothing: 0.1 } } }", "dense: { units: 1, activation: sigmoid }");
        var b = Loss.For(binary.Training.Loss, binary.FinalActivation);
        var gb = new float[1];
        double bce = b.Compute([0.7f], [1], 1, gb);
        Assert.Equal(-(0.95 * Math.Log(0.7) + 0.05 * Math.Log(0.3)), bce, 6); // t = 0.9 · 1 + 0.05
        var sparse = SpecCompiler.Compile("input: [1]\nlayers:\n  - dense: { units: 2, activation: softmax }\ntraining: { loss: { sparse_categorical_crossentropy: { label_smoothing: 0.1 } } }\n", "s.yaml");
        Assert.Contains(sparse.Diagnostics, d => d.Id == "SN1003" && d.Message.Contains("label_smoothing")); // Keras's sparse loss has none
    }

    [Fact]
    public void Regularizers_add_their_penalty_and_its_gradient()
    {
        var model = Compile("{ loss: mse }", "dense: { units: 2, kernel_regularizer: { l1_l2: { l1: 0.1, l2: 0.5 } }, bias_regularizer: { l2: 0.25 } }");
        var set = new ParameterSet(model);
        set.Slots[0].Value[0] = 1; set.Slots[0].Value[1] = -2;   // kernel
        set.Slots[1].Value[0] = 2;                               // bias
        double penalty = Regularization.Apply(set);
        Assert.Equal(0.1 * 3 + 0.5 * 5 + 0.25 * 4, penalty, 6);
        Assert.Equal([0.1f + 2 * 0.5f * 1, -0.1f + 2 * 0.5f * -2], set.Slots[0].Grad!);
        Assert.Equal(2 * 0.25f * 2, set.Slots[1].Grad![0]);
        Assert.Equal(penalty, Regularization.Penalty(set), 6);
        Assert.NotEqual(Compile("{ loss: mse }").StructuralHash, model.StructuralHash); // part of the spec's identity
    }

    /// <summary>
    /// Over 37 weights (vectors of any width and a tail), zeros and a frozen layer among them: each gradient float equal to the bit
    /// to l1 · sign(w) + 2 · l2 · w added a float at a time, the penalty to the sums in doubles; a NaN weight gives a NaN penalty
    /// (reported as divergence), not an exception.
    /// </summary>
    [Fact]
    public void Regularizers_add_to_every_gradient_as_one_at_a_time()
    {
        var c = SpecCompiler.Compile("""
            input: [4]
            layers:
              - dense: { units: 3, kernel_regularizer: { l2: 0.5 }, trainable: false }
              - dense: { units: 37, kernel_regularizer: { l1_l2: { l1: 0.1, l2: 0.25 } } }
            training: { loss: mse }
            """, "r.yaml");
        Assert.True(c.Success, c.Render());
        var set = new ParameterSet(c.Model!);
        var (frozen, kernel) = (set.Slots[0], set.Slots[2]);
        var rng = new Random(3);
        for (int i = 0; i < kernel.Value.Length; i++) kernel.Value[i] = i % 7 == 3 ? 0 : (float)(rng.NextDouble() * 2 - 1) * (i % 5 + 1);
        for (int i = 0; i < kernel.Grad!.Length; i++) kernel.Grad[i] = (float)(rng.NextDouble() - 0.5);
        Array.Fill(frozen.Value, 1f);
        var expected = (float[])kernel.Grad.Clone();
        double abs = 0, squares = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            float w = kernel.Value[i];
            expected[i] += 0.1f * MathF.Sign(w) + 0.5f * w;
            abs += Math.Abs(w);
            squares += (double)w * w;
        }
        double penalty = Regularization.Apply(set);
        Assert.Equal(expected, kernel.Grad);
        var r = kernel.Spec.Regularizer!;
        Assert.Equal(r.L1 * abs + r.L2 * squares, penalty, 12);        // the frozen layer's weights add nothing
        Assert.Equal(penalty, Regularization.Penalty(set), 12);
        kernel.Value[20] = float.NaN;
        Assert.True(double.IsNaN(Regularization.Apply(set)));
    }

    [Fact]
    public void Reduce_lr_on_plateau_follows_keras_with_patience_cooldown_and_min_lr()
    {
        var model = Compile("{ loss: mse, optimizer: { sgd: { learning_rate: 1.0 } }, reduce_lr_on_plateau: { monitor: loss, factor: 0.5, patience: 2, cooldown: 1, min_lr: 0.2, min_delta: 0 } }");
        var set = ParameterSet.Initialize(model, 1);
        var plan = new CpuEngine(new ReferenceBackend()).Plan(model, set, 2, new PlanOptions());
        var data = new Dataset("d", SpecNet.Schema.Shape.Flat(1), new byte[2], [0, 1]);
        var run = new TrainingRun(model, set, Optimizer.Create(model.Training.Optimizer, set), plan, data, null, 1, 100);
        var plateau = new ReduceLearningRateOnPlateau(model.Training.ReduceLearningRate!);
        var rates = new List<double>();
        double[] losses = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5];
        for (int e = 0; e < losses.Length; e++)
        {
            plateau.EpochEnded(run, new EpochReport(e + 1, 100, losses[e], 0, null, null, 1, 1));
            rates.Add(run.Optimizer.LearningRate);
        }
        // Keras: epochs 2, 3 without improvement: halve after 3. Cooldown 1 is spent at the start of epoch 4, which
        // then counts again (wait 1), so 5 halves. 6 counts, 7 improves, 8 and 9 halve towards 0.125, held at
        // min_lr 0.2; 10 and 11 would halve again, but the rate is already at min_lr.
        Assert.Equal([1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2], rates.Select(r => Math.Round(r, 6)));
        Assert.Equal([3, 5, 9], plateau.Reductions);
        var withSchedule = SpecCompiler.Compile("input: [1]\nlayers:\n  - dense: { units: 2 }\ntraining: { loss: mse, optimizer: { sgd: { learning_rate: { exponential_decay: { initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.9 } } } }, reduce_lr_on_plateau: { patience: 1 } }\n", "p.yaml");
        Assert.Contains(withSchedule.Diagnostics, d => d.Id == "SN3003");
    }

    [Fact]
    public void Recipes_are_part_of_a_runs_identity_and_of_diff()
    {
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path);
        var plain = SpecCompiler.CompileFile(spec).Model!;
        var (train, test) = DataLoader.Load(plain, _ => { });
        ModelSpec With(string from, string to) => SpecCompiler.Compile(File.ReadAllText(spec).Replace(from, to), spec).Model!;
        var scheduled = With("learning_rate: 0.01", "learning_rate: { cosine_decay: { initial_learning_rate: 0.01, decay_steps: 100 } }");
        var variants = new[]
        {
            plain, scheduled, With("learning_rate: 0.01", "learning_rate: 0.01, weight_decay: 0.001"), With("learning_rate: 0.01", "learning_rate: 0.01, clipnorm: 1"),
            With("  epochs:", "  loss: { categorical_crossentropy: { label_smoothing: 0.1 } }\n  epochs:"),
            With("  epochs:", "  reduce_lr_on_plateau: { patience: 1 }\n  epochs:"),
            With("units: 16, activation: relu }", "units: 16, activation: relu, kernel_regularizer: { l2: 0.001 } }"),
        };
        var keys = variants.Select(m => RunCache.KeyOf(m, 1, 2, train, test!)).ToList();
        Assert.Equal(keys.Count, keys.Distinct().Count());
        Assert.Contains(StructureDiff.Training(plain, scheduled), c => c.StartsWith("optimizer: adam(learning_rate=0.01") && c.Contains("cosine_decay(initial_learning_rate=0.01, decay_steps=100"));
    }

    [Fact]
    public void The_learning_rate_is_reported_per_epoch_and_kept_in_the_weights_history()
    {
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path, epochs: 3);
        File.WriteAllText(spec, File.ReadAllText(spec).Replace("learning_rate: 0.01", "learning_rate: { exponential_decay: { initial_learning_rate: 0.01, decay_steps: 19, decay_rate: 0.5, staircase: true } }"));
        var r = CliRunner.Run("train", spec, "--json");
        Assert.True(r.ExitCode == 0, r.All);
        var rates = r.Output.Split('\n').Where(l => l.Contains("\"event\":\"epoch\"")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("learning_rate").GetDouble()).ToList();
        // 600 examples, batch 32: 19 steps an epoch, so the rate halves at each epoch's end
        Assert.Equal([0.005, 0.0025, 0.00125], rates.Select(v => Math.Round(v, 9)));
        var history = SpecNet.Formats.SafeTensors.Read(dir.File("patterns.safetensors")).Metadata["history"];
        Assert.Equal(0.00125, JsonDocument.Parse(history).RootElement[2].GetProperty("LearningRate").GetDouble(), 9);
        Assert.Contains("lr 0.005", CliRunner.Run("train", spec, "--epochs", "1").Output);
    }

    /// <summary>Every recipe setting at once, interrupted mid-epoch and resumed: the same weights and learning rates as a run that never stopped.</summary>
    [Fact]
    public void A_full_recipe_resumes_bit_identical()
    {
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path, trainCount: 1200, epochs: 4, layers: """
              - conv2d: { filters: 4, kernel_size: 3, kernel_regularizer: { l2: 0.001 } }
              - batch_norm
              - relu
              - flatten
              - dense: { units: 3, activation: softmax, bias_regularizer: { l1: 0.001 } }
            """);
        File.WriteAllText(spec, File.ReadAllText(spec)
            .Replace("optimizer: { adam: { learning_rate: 0.01 } }", "optimizer: { adamw: { learning_rate: 0.02, weight_decay: 0.01, global_clipnorm: 1.0 } }\n  loss: { categorical_crossentropy: { label_smoothing: 0.1 } }\n  reduce_lr_on_plateau: { monitor: loss, patience: 0, factor: 0.5 }"));
        var model = SpecCompiler.CompileFile(spec).Model!;
        var (train, test) = DataLoader.Load(model, _ => { });
        Trainer Make(int initSeed, string ckpt) => new(model, ParameterSet.Initialize(model, initSeed), new CpuEngine(new ManagedBackend()))
            { Callbacks = [new ReduceLearningRateOnPlateau(model.Training.ReduceLearningRate!), new Checkpointer(ckpt, 0, [])] };
        var full = Make(3, dir.File("full.ckpt"));
        var fullResult = full.Fit(train, test);
        Assert.Contains(fullResult.Epochs, e => e.LearningRate < 0.02); // the plateau did act

        using var cancel = new CancellationTokenSource();
        var ckpt = dir.File("run.ckpt");
        var first = Make(3, ckpt);
        Assert.Throws<TrainingInterruptedException>(() => first.Fit(train, test, onStep: s => { if (s.Epoch == 3 && s.Step == 20) cancel.Cancel(); }, cancel: cancel.Token));
        var second = new Trainer(model, ParameterSet.Initialize(model, 99), new CpuEngine(new ManagedBackend()))
        {
            Callbacks = [new ReduceLearningRateOnPlateau(model.Training.ReduceLearningRate!), new Checkpointer(ckpt, 0, [])],
            ResumeFrom = ckpt,
        };
        var resumed = second.Fit(train, test);
        Assert.Equal(full.Parameters.Slots.Select(s => s.Value), second.Parameters.Slots.Select(s => s.Value));
        Assert.Equal(fullResult.Epochs.Select(e => (e.Loss, e.LearningRate)), resumed.Epochs.Select(e => (e.Loss, e.LearningRate)));
    }
}
