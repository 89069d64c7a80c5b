using SpecNet.Kernels;
using SpecNet.Layers;

namespace SpecNet.Tests.Layers;

/// <summary>
/// In training, the convolution before a batch norm sums the batch's statistics as it writes each example (BatchNorm.Measuring),
/// and the batch norm's forward then uses those sums instead of a pass of its own over x: the same floats when they cover the
/// batch, its own pass when they do not. (The plans with and without it are compared to the bit in TrainingBufferReuseTests.)
/// </summary>
public class BatchNormMeasuredTests
{
    private const int Batch = 6, Rows = 64, Channels = 16;
    private const int Size = Rows * Channels;

    private static (BatchNorm Layer, Func<LayerContext> Context, float[] X) Setup()
    {
        var model = GradientCheckTests.Compile("input: [8, 8, 16]\nlayers:\n  - batch_norm\ntraining: { loss: mse }\n");
        var layer = (BatchNorm)model.Layers[0];
        var rng = new Rng(11);
        float[] Random(int n, float low, float high) => Enumerable.Range(0, n).Select(_ => low + (high - low) * rng.NextFloat()).ToArray();
        var (gamma, beta, x) = (Random(Channels, 0.5f, 1.5f), Random(Channels, -0.5f, 0.5f), Random(Batch * Size, -1, 3));
        var kernels = new ManagedBackend(2);
        LayerContext Context() => new()
        {
            Kernels = kernels, Random = new Rng(1), Batch = Batch, Training = true,
            Params = [gamma.ToArray(), beta.ToArray(), new float[Channels], Enumerable.Repeat(1f, Channels).ToArray()],
            Grads = [new float[Channels], new float[Channels], null, null],
            State = layer.CreateState(Batch, training: true, kernels),
        };
        return (layer, Context, x);
    }

    private static float[] Forward(BatchNorm layer, LayerContext ctx, float[] x)
    {
        var y = new float[x.Length];
        layer.Forward(ctx, x, y);
        return y;
    }

    /// <summary>x with its first example scaled: other statistics than x's, and the other examples' values unchanged.</summary>
    private static float[] FirstScaled(float[] x) => x.Select((v, i) => i < Size ? 3 * v : v).ToArray();

    [Fact]
    public void Forward_normalises_with_the_statistics_the_convolution_summed()
    {
        var (layer, context, x) = Setup();
        Assert.True(layer.CanBeMeasured);
        var (own, measured) = (context(), context());
        var expected = Forward(layer, own, x);

        // the convolution's chunks of examples, in any order
        var rows = layer.Measuring(measured, before: null);
        rows.ApplyRows(x.AsSpan(2 * Size), 2L * Size);
        rows.ApplyRows(x.AsSpan(0, 2 * Size), 0);
        // forward reads x only for the map: given other values in the first example, it still normalises with x's statistics
        var y = Forward(layer, measured, FirstScaled(x));
        Assert.Equal(expected.AsSpan(Size).ToArray(), y.AsSpan(Size).ToArray());
        Assert.NotEqual(expected.AsSpan(0, Size).ToArray(), y.AsSpan(0, Size).ToArray());
        Assert.Equal(own.Params[2], measured.Params[2]);   // the moving mean and variance follow the same statistics
        Assert.Equal(own.Params[3], measured.Params[3]);

        // the sums serve one forward: the next sums its own input
        var again = Forward(layer, measured, FirstScaled(x));
        Assert.NotEqual(expected.AsSpan(Size).ToArray(), again.AsSpan(Size).ToArray());
    }

    [Fact]
    public void Forward_sums_x_itself_when_the_convolution_did_not_cover_every_example()
    {
        var (layer, context, x) = Setup();
        var (own, measured) = (context(), context());
        var scaled = FirstScaled(x);
        var expected = Forward(layer, own, scaled);

        var rows = layer.Measuring(measured, before: null);
        rows.ApplyRows(x.AsSpan(0, Size / 2), 0);                  // half an example (a single image split by rows): not summed
        rows.ApplyRows(x.AsSpan(Size / 2, Size / 2), Size / 2);
        rows.ApplyRows(x.AsSpan(Size), Size);
        Assert.Equal(expected, Forward(layer, measured, scaled));
    }

    [Fact]
    public void The_convolution_s_own_epilogue_runs_before_the_sums()
    {
        var (layer, context, x) = Setup();
        var (own, measured) = (context(), context());
        var bias = Enumerable.Range(0, Channels).Select(c => 0.25f * c - 1).ToArray();
        var biased = x.ToArray();
        ChannelKernels.BiasAffineRelu(biased, Channels, bias, default, default, relu: false);
        var expected = Forward(layer, own, biased);

        var conv = new Epilogue(new Activation(ActivationFunction.Linear), useBias: true, Channels, Batch * Size, training: true, threads: 2);
        var rows = layer.Measuring(measured, conv.ForRows(bias));   // a convolution's own: its bias
        var y = x.ToArray();
        rows.ApplyRows(y, 0);
        Assert.Equal(biased, y);
        Assert.Equal(expected, Forward(layer, measured, y));
    }
}
