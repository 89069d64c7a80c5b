using SpecNet.Kernels;
using SpecNet.Layers;

namespace SpecNet.Tests.Layers;

/// <summary>
/// Maximum's and minimum's backward over tensors of several pieces and a tail, on one thread and two: each input's gradient is
/// dy where it is the first input holding the extreme, else 0. Values are drawn from a few levels, so most elements tie, and
/// some inputs hold NaNs (an output NaN equals nothing, so no input holds it). An input whose gradient
/// nobody needs gets none written, and the ones after it are still judged against it.
/// </summary>
public class MergeTests
{
    [Theory]
    [InlineData("maximum", 1, true)]
    [InlineData("maximum", 2, true)]
    [InlineData("minimum", 2, true)]
    [InlineData("maximum", 2, false)]
    [InlineData("minimum", 1, false)]
    public void The_first_input_holding_the_extreme_takes_dy(string kind, int threads, bool everyGradient)
    {
        const int batch = 7, size = 12 * 12 * 65, k = 3;   // 54,600 floats: three pieces of 16,384 and a tail, no whole vector at its end
        var model = GradientCheckTests.Compile($"input: [12, 12, 65]\nlayers:\n  - relu: {{ name: a }}\n  - relu: {{ inputs: [input], name: b }}\n  - {kind}: {{ inputs: [input, a, b] }}\ntraining: {{ loss: mse }}\n");
        var layer = model.Layers[2];
        var rng = new Rng(5);
        float[] Draw() => Enumerable.Range(0, batch * size).Select(_ => rng.NextInt(50) == 0 ? float.NaN : rng.NextInt(3)).ToArray();
        var inputs = new[] { Draw(), Draw(), Draw() };
        var gradients = new[] { new float[batch * size], everyGradient ? new float[batch * size] : [], new float[batch * size] };
        foreach (var g in gradients) Array.Fill(g, 9f);   // every element written over
        var ctx = new LayerContext
        {
            Kernels = new ManagedBackend(threads), Params = [], Grads = [], Random = new Rng(1), Batch = batch,
            InputBuffers = inputs, InputSizes = [size, size, size], InputGradientBuffers = gradients,
        };
        var (y, dy) = (new float[batch * size], Enumerable.Range(0, batch * size).Select(_ => rng.NextFloat() + 0.5f).ToArray());
        layer.Forward(ctx, inputs[0], y);
        layer.Backward(ctx, inputs[0], y, dy, gradients[0]);

        int ties = 0, none = 0;
        for (int e = 0; e < y.Length; e++)
        {
            var held = Enumerable.Range(0, k).Where(i => inputs[i][e] == y[e]).ToArray();
            ties += held.Length > 1 ? 1 : 0;
            none += held.Length == 0 ? 1 : 0;
            for (int i = 0; i < k; i++)
                if (gradients[i].Length > 0)
                    Assert.True((held.Length > 0 && held[0] == i ? dy[e] : 0f) == gradients[i][e], $"input {i}, element {e}: {gradients[i][e]}");
        }
        Assert.True(ties > y.Length / 4 && none > 0, $"{ties} ties, {none} NaNs held by none");
    }
}
