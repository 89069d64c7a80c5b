using SpecNet.Kernels;
using SpecNet.Layers;

namespace SpecNet.Tests.Layers;

/// <summary>
/// Global max pooling in blocks of four channel vectors, single vectors and the channels past them under a mask (19 channels:
/// 8 + 8 + 3; 70: 32 + 32 + 6; 6 under the mask alone), the examples split between two threads: each channel's maximum, and
/// its gradient to the first cell holding it, ties included (values drawn from a few levels, so most channels' maximum repeats).
/// </summary>
public class GlobalMaxPool2DTests
{
    [Theory]
    [InlineData(19)]
    [InlineData(70)]
    [InlineData(6)]
    public void The_first_cell_holding_each_maximum_takes_its_gradient(int c)
    {
        var model = GradientCheckTests.Compile($"input: [5, 4, {c}]\nlayers:\n  - global_max_pool2d\ntraining: {{ loss: mse }}\n");
        const int batch = 3, cells = 20;
        var layer = model.Layers[0];
        var ctx = GradientCheckTests.Context(layer, batch);
        var rng = new Rng(9);
        // a few levels a channel, so most maxima repeat, and levels apart between channels, so the channels' maxima differ
        var x = Enumerable.Range(0, batch * cells * c).Select(i => (float)rng.NextInt(4) + 10 * (i % c % 7)).ToArray();
        var dy = Enumerable.Range(0, batch * c).Select(_ => rng.NextFloat() + 0.5f).ToArray();
        var (y, dx) = (new float[batch * c], Enumerable.Repeat(float.NaN, x.Length).ToArray());   // backward clears dx
        layer.Forward(ctx, x, y);
        layer.Backward(ctx, x, y, dy, dx);
        int ties = 0;
        for (int n = 0; n < batch; n++)
            for (int v = 0; v < c; v++)
            {
                var column = Enumerable.Range(0, cells).Select(i => x[(n * cells + i) * c + v]).ToArray();
                int first = Array.IndexOf(column, column.Max());
                ties += column.Count(value => value == column.Max()) > 1 ? 1 : 0;
                Assert.Equal(column.Max(), y[n * c + v]);
                for (int i = 0; i < cells; i++) Assert.Equal(i == first ? dy[n * c + v] : 0f, dx[(n * cells + i) * c + v]);
            }
        Assert.True(ties > batch * c / 2, $"only {ties} ties");
    }
}
