using SpecNet.Kernels;
using SpecNet.Layers;

namespace SpecNet.Tests.Layers;

/// <summary>
/// Global average pooling split between threads by examples, channels in blocks of four vectors of 8, a vector of 8 and the rest
/// under a mask (44 channels: 32 + 8 + 4; 6 channels, LeNet-5's, under the mask alone): each example's means
/// summed in order, and each cell's gradient its channel's over the cell count, to the bit. (The gradient check's 5 channels
/// take only the one-at-a-time path, and its noise model does not cover sums that cancel, as more channels' means do.)
/// </summary>
public class GlobalAvgPool2DTests
{
    [Theory]
    [InlineData(44)]
    [InlineData(6)]
    public void Each_example_gets_its_own_means_and_gradients_on_two_threads(int c)
    {
        var model = GradientCheckTests.Compile($"input: [7, 7, {c}]\nlayers:\n  - global_avg_pool2d\ntraining: {{ loss: mse }}\n");
        const int batch = 64, cells = 49;
        var layer = model.Layers[0];
        var ctx = GradientCheckTests.Context(layer, batch);
        var rng = new Rng(5);
        var x = Enumerable.Range(0, batch * cells * c).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        var dy = Enumerable.Range(0, batch * c).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        var (means, dx) = (new float[batch * c], new float[x.Length]);
        layer.Forward(ctx, x, means);
        layer.Backward(ctx, x, means, dy, dx);
        for (int n = 0; n < batch; n++)
            for (int v = 0; v < c; v++)
            {
                float sum = 0;
                for (int i = 0; i < cells; i++) sum += x[(n * cells + i) * c + v];
                Assert.Equal(sum * (1f / cells), means[n * c + v]);
                for (int i = 0; i < cells; i++) Assert.Equal(dy[n * c + v] * (1f / cells), dx[(n * cells + i) * c + v]);
            }
    }
}
