using SpecNet.Checking;
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

    [Fact]
    public void Adam_updates_every_element_by_the_same_float_operations()
    {
        // 37 values: vectors of any width and a tail. Each one equal to the bit to the scalar formula in float, step after step.
        var model = GradientCheckTests.Compile("input: { shape: [1] }\nlayers:\n  - dense: { units: 37, use_bias: false }\ntraining: { loss: mse }\n");
        var set = new ParameterSet(model);
        var slot = set.Slots[0];
        var rng = new Random(7);
        for (int i = 0; i < 37; i++) slot.Value[i] = (float)(rng.NextDouble() * 2 - 1);
        float[] w = (float[])slot.Value.Clone(), m = new float[37], v = new float[37];
        var optimizer = Optimizer.Create(Bind("{ adam: { learning_rate: 0.01 } }"), set);
        for (int t = 1; t <= 3; t++)
        {
            for (int i = 0; i < 37; i++) slot.Grad![i] = (float)(rng.NextDouble() * 2 - 1) * (i + 1);
            float alpha = (float)(0.01f * Math.Sqrt(1 - Math.Pow(0.999f, t)) / (1 - Math.Pow(0.9f, t)));
            for (int i = 0; i < 37; i++)
            {
                float g = slot.Grad![i];
                m[i] += (g - m[i]) * (1 - 0.9f);
                v[i] += (g * g - v[i]) * (1 - 0.999f);
                w[i] -= alpha * m[i] / (MathF.Sqrt(v[i]) + 1e-7f);
            }
            optimizer.Step();
            Assert.Equal(w, slot.Value);
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
