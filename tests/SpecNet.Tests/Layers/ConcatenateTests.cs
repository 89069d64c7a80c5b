using SpecNet.Kernels;
using SpecNet.Layers;

namespace SpecNet.Tests.Layers;

/// <summary>
/// Concatenation in one pass over the positions, on one thread and two, into buffers holding garbage: each input's channels
/// land at its offset of every position, and backward gives each input its slice of dy (none to an input nobody needs one for).
/// Channels of 17, 16 and 3: vectors and tails, at offsets that are not whole vectors.
/// </summary>
public class ConcatenateTests
{
    [Theory]
    [InlineData(1, true)]
    [InlineData(2, true)]
    [InlineData(2, false)]
    public void Each_input_fills_its_channels_and_takes_their_gradient(int threads, bool everyGradient)
    {
        const int batch = 40, cells = 6 * 5;
        int[] channels = [17, 16, 3];
        int total = channels.Sum();
        var layer = GradientCheckTests.Compile("input: [6, 5, 17]\nlayers:\n  - conv2d: { filters: 16, kernel_size: 1, name: a }\n  - conv2d: { filters: 3, kernel_size: 1, inputs: [input], name: b }\n  - concatenate: { inputs: [input, a, b] }\ntraining: { loss: mse }\n").Layers[2];
        var rng = new Rng(4);
        float[] Draw(int size) => Enumerable.Range(0, size).Select(_ => rng.NextFloat() + 1).ToArray();
        var inputs = channels.Select(c => Draw(batch * cells * c)).ToArray();
        var gradients = channels.Select((c, k) => k == 1 && !everyGradient ? [] : Enumerable.Repeat(9f, batch * cells * c).ToArray()).ToArray();
        var ctx = new LayerContext
        {
            Kernels = new ManagedBackend(threads), Params = [], Grads = [], Random = new Rng(1), Batch = batch,
            InputBuffers = inputs, InputSizes = channels.Select(c => cells * c).ToArray(), InputGradientBuffers = gradients,
        };
        var y = Enumerable.Repeat(9f, batch * cells * total).ToArray();
        layer.Forward(ctx, inputs[0], y);
        var dy = Draw(y.Length);
        layer.Backward(ctx, inputs[0], y, dy, gradients[0]);

        for (int p = 0; p < batch * cells; p++)
            for (int k = 0, offset = 0; k < channels.Length; offset += channels[k], k++)
                for (int v = 0; v < channels[k]; v++)
                {
                    Assert.Equal(inputs[k][p * channels[k] + v], y[p * total + offset + v]);
                    if (gradients[k].Length > 0) Assert.Equal(dy[p * total + offset + v], gradients[k][p * channels[k] + v]);
                }
    }
}
