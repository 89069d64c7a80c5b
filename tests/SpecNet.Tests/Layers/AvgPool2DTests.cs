using SpecNet.Kernels;
using SpecNet.Layers;
using SpecNet.Planning;

namespace SpecNet.Tests.Layers;

/// <summary>
/// Average pooling's forward against its definition (Keras's: the mean of the window's cells inside the input, padding left
/// out), for channel counts in whole vectors and not (a last vector moved back to end at the last channel; blocks of four vectors
/// and the vectors after them; fewer channels than a vector), on one thread and two; one image by its output rows.
/// </summary>
public class AvgPool2DTests
{
    [Theory]
    [InlineData(7, 7, 12, 3, 2, "same")]
    [InlineData(6, 5, 20, 3, 1, "same")]
    [InlineData(6, 6, 16, 2, 2, "valid")]
    [InlineData(6, 6, 5, 2, 2, "valid")]
    [InlineData(28, 28, 6, 2, 2, "valid")]    // LeNet-5's: fewer channels than a vector, under a mask (with AVX)
    [InlineData(7, 7, 3, 3, 2, "same", 1)]
    [InlineData(9, 9, 32, 3, 1, "valid")]
    [InlineData(7, 7, 36, 3, 1, "same", 1)]
    [InlineData(6, 6, 72, 2, 2, "valid", 1)]
    [InlineData(5, 8, 12, 3, 1, "same", 1)]
    public void Forward_is_the_mean_of_the_cells_inside(int h, int w, int c, int pool, int stride, string padding, int batch = 3)
    {
        var (model, layer, padTop, padLeft) = Pooling(h, w, c, pool, stride, padding);
        var x = Enumerable.Range(0, batch * layer.Input.Size).Select(i => MathF.Sin(0.7f * i)).ToArray();
        var output = layer.Output;
        foreach (var backend in new Backend[] { new ManagedBackend(1), new ManagedBackend(2) })
        {
            var plan = new ExecutionPlan(model, ParameterSet.Initialize(model, 1), backend, batch, trainable: false);
            x.CopyTo(plan.Input);
            var y = plan.Forward(batch, training: false).ToArray();
            for (int n = 0; n < batch; n++)
                for (int i = 0; i < output.Height; i++)
                    for (int j = 0; j < output.Width; j++)
                        for (int ch = 0; ch < c; ch++)
                        {
                            double sum = 0; int count = 0;
                            for (int ih = i * stride - padTop; ih < i * stride - padTop + pool; ih++)
                                for (int iw = j * stride - padLeft; iw < j * stride - padLeft + pool; iw++)
                                    if ((uint)ih < (uint)h && (uint)iw < (uint)w) { sum += x[((n * h + ih) * w + iw) * c + ch]; count++; }
                            float got = y[((n * output.Height + i) * output.Width + j) * c + ch];
                            Assert.True(Math.Abs(got - sum / count) <= 1e-6, $"{backend}: ({n}, {i}, {j}, {ch}) = {got}, the mean {sum / count}");
                        }
        }
    }

    /// <summary>
    /// Backward against the adjoint as defined: each window's dy / count added into its cells, window by window in (row, column)
    /// order, from +0, a float at a time. To the bit: any way of computing it must add the same products in the same order
    /// (a gather over the windows holding each cell, tried, kept the bits but lost on 6 channels). Overlapping windows (3x3 by
    /// 1 and by 2), padding, and channels in whole vectors and tails.
    /// </summary>
    [Theory]
    [InlineData(7, 7, 12, 3, 2, "same")]
    [InlineData(6, 5, 20, 3, 1, "same")]
    [InlineData(9, 9, 40, 3, 1, "valid")]
    [InlineData(6, 6, 5, 2, 2, "valid")]
    [InlineData(28, 28, 6, 2, 2, "valid")]     // LeNet-5's: windows that do not overlap, cells stored without reading them
    [InlineData(7, 7, 3, 3, 2, "same")]        // overlapping windows over 3 channels, added into their cells
    [InlineData(7, 8, 37, 3, 1, "same")]
    [InlineData(5, 5, 72, 2, 1, "same")]
    public void Backward_is_the_adjoint_to_the_bit(int h, int w, int c, int pool, int stride, string padding)
    {
        var (model, layer, padTop, padLeft) = Pooling(h, w, c, pool, stride, padding);
        const int batch = 3;
        var output = layer.Output;
        var rng = new Rng(3);
        var dy = Enumerable.Range(0, batch * output.Size).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        var expected = new float[batch * layer.Input.Size];
        for (int n = 0; n < batch; n++)
            for (int i = 0; i < output.Height; i++)
                for (int j = 0; j < output.Width; j++)
                {
                    int h0 = Math.Max(0, i * stride - padTop), h1 = Math.Min(h, i * stride - padTop + pool);
                    int w0 = Math.Max(0, j * stride - padLeft), w1 = Math.Min(w, j * stride - padLeft + pool);
                    float inv = 1f / ((h1 - h0) * (w1 - w0));
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++)
                            for (int ch = 0; ch < c; ch++)
                                expected[((n * h + ih) * w + iw) * c + ch] += dy[((n * output.Height + i) * output.Width + j) * c + ch] * inv;
                }
        foreach (var backend in new Backend[] { new ManagedBackend(1), new ManagedBackend(2) })
        {
            var plan = new ExecutionPlan(model, ParameterSet.Initialize(model, 1), backend, batch, inputGradient: true);
            plan.Forward(batch, training: true);
            dy.CopyTo(plan.OutputGradient);
            plan.Backward(fusedLoss: false);
            var dx = plan.InputGradient.ToArray();
            for (int i = 0; i < expected.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(dx[i]) == BitConverter.SingleToInt32Bits(expected[i]), $"{backend}: dx[{i}] = {dx[i]}, the adjoint {expected[i]}");
        }
    }

    /// <summary>A model of the pooling alone, and its padding before the rows and the columns (Keras's 'same': the odd one after).</summary>
    private static (SpecNet.Checking.ModelSpec Model, AvgPool2D Layer, int PadTop, int PadLeft) Pooling(int h, int w, int c, int pool, int stride, string padding)
    {
        var model = GradientCheckTests.Compile($"input: {{ shape: [{h}, {w}, {c}] }}\nlayers:\n  - avg_pool2d: {{ pool_size: {pool}, strides: {stride}, padding: {padding} }}\ntraining: {{ loss: mse }}\n");
        var layer = (AvgPool2D)model.Layers[0];
        var output = layer.Output;
        int padTop = padding == "same" ? Math.Max(0, (output.Height - 1) * stride + pool - h) / 2 : 0;
        int padLeft = padding == "same" ? Math.Max(0, (output.Width - 1) * stride + pool - w) / 2 : 0;
        return (model, layer, padTop, padLeft);
    }
}
