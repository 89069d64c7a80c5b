using SpecNet.Kernels;
using SpecNet.Layers;

namespace SpecNet.Tests.Layers;

/// <summary>
/// Flatten in channel-major order (PyTorch's), y[n, c·H·W + i·W + j] = x[n, i, j, c], and backward its inverse, into buffers
/// holding garbage, on one thread and two: one channel and one cell (a copy, in pieces on the threads), several of each (a
/// transpose); and in place where it moves nothing.
/// </summary>
public class FlattenTests
{
    [Theory]
    [InlineData(6, 5, 1, 1)]
    [InlineData(6, 5, 1, 2)]
    [InlineData(1, 1, 7, 2)]
    [InlineData(3, 2, 5, 2)]
    public void Forward_orders_by_channel_and_backward_puts_back(int h, int w, int c, int threads)
    {
        const int batch = 700;   // over 16,384 floats: the copy in several pieces
        var layer = GradientCheckTests.Compile($"input: [{h}, {w}, {c}]\nlayers:\n  - flatten\n  - dense: {{ units: 2 }}\ntraining: {{ loss: mse }}\n").Layers[0];
        var ctx = new LayerContext { Kernels = new ManagedBackend(threads), Params = [], Grads = [], Random = new Rng(1), Batch = batch };
        int size = h * w * c;
        var rng = new Rng(6);
        var x = Enumerable.Range(0, batch * size).Select(_ => rng.NextFloat()).ToArray();
        var y = Enumerable.Repeat(9f, x.Length).ToArray();
        layer.Forward(ctx, x, y);
        var dy = Enumerable.Range(0, x.Length).Select(_ => rng.NextFloat()).ToArray();
        var dx = Enumerable.Repeat(9f, x.Length).ToArray();
        layer.Backward(ctx, x, y, dy, dx);
        for (int n = 0; n < batch; n++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                    for (int v = 0; v < c; v++)
                    {
                        int at = n * size + (i * w + j) * c + v, flat = n * size + v * h * w + i * w + j;
                        Assert.Equal(x[at], y[flat]);
                        Assert.Equal(dy[flat], dx[at]);
                    }

        if (c != 1 && h * w != 1) return;
        var inPlace = (float[])x.Clone();
        layer.Forward(ctx, inPlace, inPlace);
        Assert.Equal(x, inPlace);
    }
}
