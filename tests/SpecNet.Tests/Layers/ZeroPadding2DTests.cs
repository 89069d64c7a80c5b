using SpecNet.Kernels;

namespace SpecNet.Tests.Layers;

/// <summary>
/// Zero padding's rows on one thread and two, into buffers holding garbage (as the plan's reused buffers do): the forward's
/// output is the input inside and zero around it, every element written; the backward's is dy's inner window.
/// </summary>
public class ZeroPadding2DTests
{
    [Theory]
    [InlineData(1, "[[1, 2], [0, 3]]")]
    [InlineData(2, "[[1, 2], [0, 3]]")]
    [InlineData(2, "[[0, 0], [2, 0]]")]
    [InlineData(2, "2")]
    public void Forward_puts_the_input_inside_zeros_and_backward_takes_it_out(int threads, string padding)
    {
        const int batch = 5, h = 12, w = 10, c = 33;
        var layer = GradientCheckTests.Compile($"input: [{h}, {w}, {c}]\nlayers:\n  - zero_padding2d: {{ padding: {padding} }}\ntraining: {{ loss: mse }}\n").Layers[0];
        var (output, padded) = (layer.Output, (SpecNet.Layers.ZeroPadding2D)layer);
        var (top, left) = (padded.Vertical.Top, padded.Horizontal.Left);
        var ctx = new SpecNet.Layers.LayerContext { Kernels = new ManagedBackend(threads), Params = [], Grads = [], Random = new Rng(1), Batch = batch };
        var rng = new Rng(3);
        var x = Enumerable.Range(0, batch * h * w * c).Select(_ => rng.NextFloat() + 1).ToArray();
        var y = Enumerable.Repeat(9f, batch * output.Size).ToArray();
        layer.Forward(ctx, x, y);
        var dy = Enumerable.Range(0, y.Length).Select(_ => rng.NextFloat() + 1).ToArray();
        var dx = Enumerable.Repeat(9f, x.Length).ToArray();
        layer.Backward(ctx, x, y, dy, dx);

        for (int n = 0; n < batch; n++)
            for (int i = 0; i < output.Height; i++)
                for (int j = 0; j < output.Width; j++)
                    for (int v = 0; v < c; v++)
                    {
                        int at = ((n * output.Height + i) * output.Width + j) * c + v, ii = i - top, jj = j - left;
                        bool inside = ii >= 0 && ii < h && jj >= 0 && jj < w;
                        int inner = ((n * h + ii) * w + jj) * c + v;
                        Assert.Equal(inside ? x[inner] : 0f, y[at]);
                        if (inside) Assert.Equal(dy[at], dx[inner]);
                    }
    }
}
