using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Tests.Layers;
using SpecNet.Training.Optimizers;

namespace SpecNet.Tests.Training;

/// <summary>Each optimizer's update against values computed by hand from Keras's formulas.</summary>
public class OptimizerTests
{
    /// <summary>A model with one trainable tensor of two values (dense 1 -> 2 without bias).</summary>
    private static (ParameterSet, ParameterSlot) One()
    {
        var model = GradientCheckTests.Compile("input: { shape: [1] }\nlayers:\n  - dense: { units: 2, use_bias: false }\ntraining: { loss: mse }\n");
        var set = new ParameterSet(model);
        var slot = set.Slots[0];
        slot.Value[0] = 1.0f; slot.Value[1] = -2.0f;
        return (set, slot);
    }

    /// <summary>The optimizer a `training.optimizer` value binds to.</summary>
    private static OptimizerSpec Bind(string optimizer)
    {
        var c = SpecCompiler.Compile($"input: [1]\nlayers:\n  - dense: {{ units: 2 }}\ntraining: {{ loss: mse, optimizer: {optimizer} }}\n", "o.yaml");
        Assert.True(c.Success, c.Render());
        return c.Model!.Training.Optimizer;
    }

    private static float[] Steps(string optimizer, params float[][] gradients) => Steps(Bind(optimizer), gradients);

    private static float[] Steps(OptimizerSpec spec, params float[][] gradients)
    {
        var (set, slot) = One();
        var optimizer = Optimizer.Create(spec, set);
        foreach (var g in gradients) { g.CopyTo(slot.Grad!, 0); optimizer.Step(); }
        return slot.Value;
    }

    private static void Near(double[] expected, float[] actual)
    {
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
    }

    [Fact]
    public void Sgd_plain() => Near([1 - 0.1 * 0.5, -2 - 0.1 * -1], Steps("{ sgd: { learning_rate: 0.1 } }", [0.5f, -1f]));

    [Fact]
    public void Sgd_momentum_two_steps()
    {
        // v1 = -lr g1 = -0.05; w1 = 0.95. v2 = 0.9 v1 - lr g2 = -0.045 - 0.02 = -0.065; w2 = 0.885
        var w = Steps("{ sgd: { learning_rate: 0.1, momentum: 0.9 } }", [0.5f, 0], [0.2f, 0]);
        Near([0.885, -2], w);
    }

    [Fact]
    public void Sgd_nesterov_two_steps()
    {
        // v1 = -0.05; w1 = 1 + 0.9(-0.05) - 0.05 = 0.905. v2 = -0.065; w2 = 0.905 + 0.9(-0.065) - 0.02 = 0.8265
        Near([0.8265, -2], Steps("{ sgd: { learning_rate: 0.1, momentum: 0.9, nesterov: true } }", [0.5f, 0], [0.2f, 0]));
    }

    [Fact]
    public void Adam_two_steps()
    {
        double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-7, w = 1, m = 0, v = 0;
        foreach (var (g, t) in new[] { (0.5, 1), (-0.3, 2) })
        {
            m = b1 * m + (1 - b1) * g; v = b2 * v + (1 - b2) * g * g;
            w -= lr * Math.Sqrt(1 - Math.Pow(b2, t)) / (1 - Math.Pow(b1, t)) * m / (Math.Sqrt(v) + eps);
        }
        Near([w], Steps("{ adam: { learning_rate: 0.01 } }", [0.5f, 0], [-0.3f, 0]));
    }

    [Fact]
    public void Adam_first_step_moves_by_learning_rate()
    {
        // With bias correction the first step is lr * g / (|g| + eps'): almost exactly lr.
        Near([1 - 0.001, -2 + 0.001], Steps(OptimizerSpec.Default, [3f, -0.2f]));
    }

    /// <summary>One step of a rule a float at a time, as the optimizer's scalar tail computes it: w, g, its state, the step t.</summary>
    private delegate void OneAtATime(float[] w, float[] g, float[][] state, int t);

    /// <summary>A float's place in [-1, 1) times its index: values of every size, and (with 37) vectors of any width plus a tail.</summary>
    private static float[] Draw(Random rng, int n, float scale = 1) => Enumerable.Range(0, n).Select(i => (float)(rng.NextDouble() * 2 - 1) * scale * (i + 1)).ToArray();

    public static TheoryData<string> Rules() =>
    [
        "adam", "sgd", "momentum", "nesterov", "rmsprop", "adamw", "sgd_clipvalue", "momentum_clipnorm", "sgd_global_clipnorm",
    ];

    private static (string Spec, int Slots, OneAtATime Rule) Rule(string name)
    {
        const float lr = 0.01f, mu = 0.9f, wd = 0.1f;
        void Sgd(float[] w, float[] g) { for (int i = 0; i < w.Length; i++) w[i] -= lr * g[i]; }
        void Momentum(float[] w, float[] g, float[] v, bool nesterov)
        {
            for (int i = 0; i < w.Length; i++)
            {
                v[i] = mu * v[i] - lr * g[i];
                w[i] += nesterov ? mu * v[i] - lr * g[i] : v[i];
            }
        }
        void Adam(float[] w, float[] g, float[] m, float[] v, int t)
        {
            float alpha = (float)(lr * Math.Sqrt(1 - Math.Pow(0.999f, t)) / (1 - Math.Pow(0.9f, t)));
            for (int i = 0; i < w.Length; i++)
            {
                m[i] += (g[i] - m[i]) * (1 - 0.9f);
                v[i] += (g[i] * g[i] - v[i]) * (1 - 0.999f);
                w[i] -= alpha * m[i] / (MathF.Sqrt(v[i]) + 1e-7f);
            }
        }
        void ByNorm(float[] g, double clip)      // clipnorm over one tensor: the sum of squares in doubles, then each float scaled in double
        {
            double norm = Math.Sqrt(g.Sum(x => (double)x * x));
            for (int i = 0; i < g.Length; i++) g[i] = (float)(g[i] * (clip / Math.Max(norm, clip)));
        }
        return name switch
        {
            "adam" => ("{ adam: { learning_rate: 0.01 } }", 2, (w, g, s, t) => Adam(w, g, s[0], s[1], t)),
            "sgd" => ("{ sgd: { learning_rate: 0.01 } }", 0, (w, g, s, t) => Sgd(w, g)),
            "momentum" => ("{ sgd: { learning_rate: 0.01, momentum: 0.9 } }", 1, (w, g, s, t) => Momentum(w, g, s[0], false)),
            "nesterov" => ("{ sgd: { learning_rate: 0.01, momentum: 0.9, nesterov: true } }", 1, (w, g, s, t) => Momentum(w, g, s[0], true)),
            "rmsprop" => ("{ rmsprop: { learning_rate: 0.01, rho: 0.9 } }", 1, (w, g, s, t) =>
            {
                for (int i = 0; i < w.Length; i++)
                {
                    s[0][i] = 0.9f * s[0][i] + (1 - 0.9f) * g[i] * g[i];
                    w[i] -= lr * g[i] / MathF.Sqrt(s[0][i] + 1e-7f);
                }
            }),
            "adamw" => ("{ adamw: { learning_rate: 0.01, weight_decay: 0.1 } }", 2, (w, g, s, t) =>
            {
                for (int i = 0; i < w.Length; i++) w[i] *= 1 - wd * lr;
                Adam(w, g, s[0], s[1], t);
            }),
            "sgd_clipvalue" => ("{ sgd: { learning_rate: 0.01, clipvalue: 5 } }", 0, (w, g, s, t) =>
            {
                for (int i = 0; i < g.Length; i++) g[i] = Math.Clamp(g[i], -5f, 5f);
                Sgd(w, g);
            }),
            "momentum_clipnorm" => ("{ sgd: { learning_rate: 0.01, momentum: 0.9, clipnorm: 10 } }", 1, (w, g, s, t) =>
            {
                ByNorm(g, 10);
                Momentum(w, g, s[0], false);
            }),
            "sgd_global_clipnorm" => ("{ sgd: { learning_rate: 0.01, global_clipnorm: 10 } }", 0, (w, g, s, t) =>
            {
                ByNorm(g, 10);                   // one tensor: the global norm is its norm
                Sgd(w, g);
            }),
            _ => throw new ArgumentException(name),
        };
    }

    [Theory]
    [MemberData(nameof(Rules))]
    public void Every_element_is_updated_by_the_same_float_operations_as_one_at_a_time(string name)
    {
        // 37 values (vectors of any width and a tail), gradients past the clips: each weight and state equal to the bit to the
        // rule applied a float at a time, step after step
        var (spec, slots, rule) = Rule(name);
        var model = GradientCheckTests.Compile("input: { shape: [1] }\nlayers:\n  - dense: { units: 37, use_bias: false }\ntraining: { loss: mse }\n");
        var set = new ParameterSet(model);
        var slot = set.Slots[0];
        var rng = new Random(7);
        Draw(rng, 37).CopyTo(slot.Value, 0);
        float[] w = (float[])slot.Value.Clone();
        var state = Enumerable.Range(0, slots).Select(_ => new float[37]).ToArray();
        var optimizer = Optimizer.Create(Bind(spec), set);
        for (int t = 1; t <= 3; t++)
        {
            var g = Draw(rng, 37, scale: 0.5f);
            g.CopyTo(slot.Grad!, 0);
            rule(w, g, state, t);
            optimizer.Step();
            Assert.Equal(w, slot.Value);
            for (int k = 0; k < slots; k++) Assert.Equal(state[k], optimizer.State[0][k]);
        }
    }

    /// <summary>
    /// A step runs as one pass over blocks of 4,096 floats, shared between the engine's threads: over two tensors of 40,001 floats
    /// (ten blocks each, the last with a tail past the vectors), two threads give the floats of one to the bit, weights and state,
    /// the clip norms' sums too; and each tensor, where no norm couples them, the rule's floats a float at a time.
    /// </summary>
    [Theory]
    [MemberData(nameof(Rules))]
    public void Blocks_shared_between_threads_give_the_floats_of_one_thread(string name)
    {
        var (spec, slots, rule) = Rule(name);
        var model = GradientCheckTests.Compile("input: { shape: [1] }\nlayers:\n  - dense: { units: 40001 }\ntraining: { loss: mse }\n");
        var rng = new Random(11);
        var (shared, alone) = (new ParameterSet(model), new ParameterSet(model));
        foreach (var (a, b) in shared.Slots.Zip(alone.Slots)) { Draw(rng, a.Value.Length, 1e-4f).CopyTo(a.Value, 0); a.Value.CopyTo(b.Value, 0); }
        var expected = shared.Slots.Select(p => (W: (float[])p.Value.Clone(), State: Enumerable.Range(0, slots).Select(_ => new float[p.Value.Length]).ToArray())).ToArray();
        var (two, one) = (Optimizer.Create(Bind(spec), shared, new ManagedBackend(2)), Optimizer.Create(Bind(spec), alone));
        bool coupled = name.Contains("clipnorm");
        for (int t = 1; t <= 3; t++)
        {
            for (int p = 0; p < shared.Slots.Count; p++)
            {
                var g = Draw(rng, shared.Slots[p].Value.Length, 2e-4f);   // up to 8: past clipvalue 5, and norms past 10
                g.CopyTo(shared.Slots[p].Grad!, 0);
                g.CopyTo(alone.Slots[p].Grad!, 0);
                if (!coupled) rule(expected[p].W, g, expected[p].State, t);
            }
            two.Step();
            one.Step();
            for (int p = 0; p < shared.Slots.Count; p++)
            {
                Assert.Equal(alone.Slots[p].Value, shared.Slots[p].Value);
                for (int k = 0; k < slots; k++) Assert.Equal(one.State[p][k], two.State[p][k]);
                if (coupled) continue;
                Assert.Equal(expected[p].W, shared.Slots[p].Value);
                for (int k = 0; k < slots; k++) Assert.Equal(expected[p].State[k], two.State[p][k]);
            }
        }
    }

    [Fact]
    public void AdamW_decays_then_steps()
    {
        double lr = 0.01, wd = 0.1;
        double w = 1 * (1 - lr * wd);
        w -= lr * Math.Sqrt(1 - 0.999) / (1 - 0.9) * (0.1 * 0.5) / (Math.Sqrt(0.001 * 0.25) + 1e-7);
        Near([w], Steps("{ adamw: { learning_rate: 0.01, weight_decay: 0.1 } }", [0.5f, 0]));
    }

    [Fact]
    public void RmsProp_one_step()
    {
        double v = 0.1 * 0.25, w = 1 - 0.001 * 0.5 / Math.Sqrt(v + 1e-7);
        Near([w], Steps("{ rmsprop: { learning_rate: 0.001, rho: 0.9 } }", [0.5f, 0]));
    }
}
