using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Schema;
using SpecNet.Training;

namespace SpecNet.Tests.Training;

/// <summary>The math of training time against values computed by hand: loss, batch-norm statistics, dropout, augmentation.</summary>
public class TrainingMathTests
{
    private static ModelSpec Compile(string text) => SpecCompiler.Compile(text, "m.yaml").Model!;

    [Fact]
    public void Cross_entropy_of_a_uniform_softmax_is_ln_10()
    {
        var model = Compile("input: [4]\nlayers:\n  - dense: { units: 10, activation: softmax }\n");
        var parameters = ParameterSet.Initialize(model, 1);
        foreach (var slot in parameters.Slots) Array.Clear(slot.Value); // zero weights and bias: every class gets 1/10
        var plan = new ExecutionPlan(model, parameters, new ReferenceBackend(), 3);
        new float[] { 1, -2, 3, 0.5f, 7, 8, -9, 1, 0, 0, 0, 0 }.CopyTo(plan.Input);
        var y = plan.Forward(3, training: true);
        Assert.All(y.ToArray(), p => Assert.Equal(0.1f, p, 6));
        var loss = Loss.For(model.Training.Loss, model.FinalActivation);
        double total = loss.Compute(y, [0, 4, 9], 3, plan.OutputGradient);
        Assert.Equal(3 * Math.Log(10), total, 6);
        // fused with softmax: dL/dz = (p - t) / N
        Assert.Equal((0.1 - 1) / 3, plan.OutputGradient[0], 6);
        Assert.Equal(0.1 / 3, plan.OutputGradient[1], 6);
    }

    [Fact]
    public void Batch_norm_moving_statistics_after_one_step_follow_keras()
    {
        // Keras: moving = momentum * moving + (1 - momentum) * batch statistic, with the batch's biased variance.
        var model = Compile("input: [2]\nlayers:\n  - batch_norm\ntraining: { loss: mse }\n");
        var parameters = ParameterSet.Initialize(model, 1);
        var plan = new ExecutionPlan(model, parameters, new ReferenceBackend(), 4);
        new float[] { 1, 10, 2, 20, 3, 30, 4, 40 }.CopyTo(plan.Input); // channel 0: 1..4, channel 1: 10..40
        var y = plan.Forward(4, training: true).ToArray();
        var byName = parameters.Slots.ToDictionary(s => s.Spec.Suffix, s => s.Value);
        Assert.Equal(0.01 * 2.5, byName["moving_mean"][0], 6);
        Assert.Equal(0.01 * 25, byName["moving_mean"][1], 5);
        Assert.Equal(0.99 + 0.01 * 1.25, byName["moving_variance"][0], 6);
        Assert.Equal(0.99 + 0.01 * 125, byName["moving_variance"][1], 5);
        Assert.Equal((1 - 2.5) / Math.Sqrt(1.25 + 0.001), y[0], 5); // epsilon 1e-3
        // inference uses the moving statistics
        var inference = plan.Forward(1, training: false).ToArray();
        Assert.Equal((1 - 0.025) / Math.Sqrt(1.0025 + 0.001), inference[0], 5);
    }

    /// <summary>
    /// y = gamma (x - mu) / sqrt(var + eps) + beta with the batch's statistics in training and the moving ones in
    /// inference, on the managed kernels' vector path (16 channels) and their general one (3), split over threads.
    /// </summary>
    [Theory]
    [InlineData(16)]
    [InlineData(3)]
    public void Batch_norm_output_is_gamma_times_the_normalised_input_plus_beta(int channels)
    {
        var model = Compile($"input: [5, 4, {channels}]\nlayers:\n  - batch_norm\ntraining: {{ loss: mse }}\n");
        var parameters = ParameterSet.Initialize(model, 1);
        var rng = new Rng(7);
        var p = parameters.Slots.ToDictionary(s => s.Spec.Suffix, s => s.Value);
        for (int c = 0; c < channels; c++)
            (p["gamma"][c], p["beta"][c], p["moving_mean"][c], p["moving_variance"][c]) = (rng.NextFloat() + 0.5f, rng.NextFloat() - 0.5f, rng.NextFloat(), rng.NextFloat() + 0.1f);
        var (gamma, beta, mean, variance) = (p["gamma"].ToArray(), p["beta"].ToArray(), p["moving_mean"].ToArray(), p["moving_variance"].ToArray());
        const int batch = 6;
        var x = Enumerable.Range(0, batch * 20 * channels).Select(_ => rng.NextFloat() * 4 - 1).ToArray();
        var plan = new ExecutionPlan(model, parameters, new ManagedBackend(2), batch);

        x.CopyTo(plan.Input);
        var inference = plan.Forward(batch, training: false).ToArray();
        for (int i = 0; i < x.Length; i++)
        {
            int c = i % channels;
            Near(gamma[c] * (x[i] - mean[c]) / Math.Sqrt(variance[c] + 0.001) + beta[c], inference[i]);
        }
        var training = plan.Forward(batch, training: true).ToArray();
        for (int c = 0; c < channels; c++)
        {
            var column = x.Where((_, i) => i % channels == c).Select(v => (double)v).ToArray();
            double mu = column.Average(), var = column.Select(v => (v - mu) * (v - mu)).Average();
            for (int i = c; i < x.Length; i += channels)
                Near(gamma[c] * (x[i] - mu) / Math.Sqrt(var + 0.001) + beta[c], training[i]);
        }
        static void Near(double expected, float actual) => Assert.True(Math.Abs(expected - actual) <= 1e-5 * (1 + Math.Abs(expected)), $"{actual} vs {expected}");
    }

    [Fact]
    public void Dropout_drops_the_rate_and_scales_what_it_keeps()
    {
        var model = Compile("input: [1000]\nlayers:\n  - dropout: { rate: 0.25 }\ntraining: { loss: mse }\n");
        var plan = new ExecutionPlan(model, ParameterSet.Initialize(model, 1), new ReferenceBackend(), 10, seed: 5);
        plan.Input.Fill(2f);
        var y = plan.Forward(10, training: true).ToArray();
        Assert.All(y, v => Assert.True(v == 0 || Math.Abs(v - 2 / 0.75) < 1e-6, $"{v}"));
        double dropped = y.Count(v => v == 0) / (double)y.Length;
        Assert.InRange(dropped, 0.25 - 4 * Math.Sqrt(0.25 * 0.75 / y.Length), 0.25 + 4 * Math.Sqrt(0.25 * 0.75 / y.Length));
        Assert.All(plan.Forward(10, training: false).ToArray(), v => Assert.Equal(2f, v)); // inference: the identity
    }

    /// <summary>A 4x4 grayscale image 1..16 (row by row), preprocessed by the default scale; the background is 0.</summary>
    private static (Augmenter Augmenter, float[] Image) Image4x4(Preprocessing? preprocessing = null)
    {
        var p = preprocessing ?? Preprocessing.Default;
        var image = Enumerable.Range(1, 16).Select(v => (float)v).ToArray();
        var augmenter = new Augmenter(new Augmentation(0, 0, 0, "none", 0, 0), p, Shape.Spatial(4, 4, 1), new Rng(1));
        return (augmenter, image);
    }

    private static float[] Apply(AugmentationDraw d, Preprocessing? p = null)
    {
        var (augmenter, image) = Image4x4(p);
        augmenter.Transform(image, d);
        return image;
    }

    private static void Near(float[] expected, float[] actual)
    {
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-4, $"[{i}] expected {expected[i]}, got {actual[i]}: {string.Join(" ", actual)}");
    }

    [Fact]
    public void Translation_shifts_right_and_down_filling_with_the_background()
    {
        Near([0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15], Apply(new AugmentationDraw(ShiftX: 1)));
        Near([0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8], Apply(new AugmentationDraw(ShiftY: 2)));
        // half a pixel: each output is the mean of two neighbours (bilinear)
        Near([0.5f, 1.5f, 2.5f, 3.5f, 2.5f, 5.5f, 6.5f, 7.5f, 4.5f, 9.5f, 10.5f, 11.5f, 6.5f, 13.5f, 14.5f, 15.5f],
            Apply(new AugmentationDraw(ShiftX: 0.5f)));
    }

    [Fact]
    public void Rotation_by_a_quarter_turn_is_counter_clockwise()
    {
        // Turned a quarter counter-clockwise, the top row (1 2 3 4) becomes the left column read upwards.
        Near([4, 8, 12, 16, 3, 7, 11, 15, 2, 6, 10, 14, 1, 5, 9, 13], Apply(new AugmentationDraw(Angle: MathF.PI / 2)));
    }

    [Fact]
    public void Zoom_by_two_magnifies_the_middle()
    {
        // Output pixel (i, j) samples (1.5 + (i - 1.5) / 2, 1.5 + (j - 1.5) / 2) bilinearly: the centre 2x2 blown up.
        var expected = new float[16];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
            {
                float r = 1.5f + (i - 1.5f) / 2, c = 1.5f + (j - 1.5f) / 2;
                expected[i * 4 + j] = r * 4 + c + 1; // the image is linear in row and column: bilinear sampling is exact
            }
        Near(expected, Apply(new AugmentationDraw(Zoom: 2)));
    }

    [Fact]
    public void Flips_mirror_the_image()
    {
        Near([4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13], Apply(new AugmentationDraw(FlipX: true)));
        Near([13, 14, 15, 16, 9, 10, 11, 12, 5, 6, 7, 8, 1, 2, 3, 4], Apply(new AugmentationDraw(FlipY: true)));
    }

    [Fact]
    public void Brightness_adds_and_contrast_scales_about_the_mean()
    {
        var p = new Preprocessing(1f / 255, [0.5f], [2f], false);
        Near(Enumerable.Range(1, 16).Select(v => v + 0.3f / 2).ToArray(), Apply(new AugmentationDraw(Brightness: 0.3f), p)); // in input units: / std
        Near(Enumerable.Range(1, 16).Select(v => (v - 8.5f) * 1.5f + 8.5f).ToArray(), Apply(new AugmentationDraw(Contrast: 1.5f)));
    }
}
