using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Dropout (Keras Dropout, inverted): in training y = x * m / (1 - rate) with m ~ Bernoulli(1 - rate)
/// drawn from the spec's seed; at inference y = x. Backward: dx = dy * m / (1 - rate). No parameters.
/// </summary>
public sealed class Dropout : Layer
{
    public static readonly LayerKind Definition = new("dropout", "randomly zeroes a fraction of inputs while training", [
        OptionInfo.Fraction("rate", "fraction of inputs to drop"),
    ], r => new Dropout { Rate = r.Number("rate") });

    public float Rate { get; private init; }

    public override long StateValues(bool training) => training ? Input.Size : 0;
    public override object? CreateState(int capacity, bool training, Backend kernels) =>
        training ? new float[capacity * Input.Size] : null; // mask: 0 or 1 / (1 - rate)

    /// <summary>Inference: the identity.</summary>
    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) => inputs[0];

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        int count = ctx.Batch * Input.Size;
        if (!ctx.Training || Rate == 0) { Elementwise.CopyUnlessSame(ctx.Kernels, x[..count], y[..count]); return; }
        var mask = ((float[])ctx.State!).AsSpan(0, count);
        ctx.Random.Mask(mask, Rate, 1f / (1 - Rate), ctx.Kernels);
        Elementwise.Map(ctx.Kernels, Elementwise.MapOp.Multiply, x[..count], mask, y[..count]);
    }

    public override bool BackwardReadsInputs => false;
    public override bool BackwardReadsOutput => false;
    public override bool BackwardInPlace => true;
    public override bool ForwardInPlace => true;

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        if (!ctx.InputGradient) return;
        int count = ctx.Batch * Input.Size;
        if (!ctx.Training || Rate == 0) { Elementwise.CopyUnlessSame(ctx.Kernels, dy[..count], dx); return; }
        Elementwise.Map(ctx.Kernels, Elementwise.MapOp.Multiply, dy[..count], ((float[])ctx.State!).AsSpan(0, count), dx[..count]);
    }
}
