using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Max pooling (Keras MaxPooling2D): y[n,i,j,c] = max over the window of x; padded cells never win.
/// Backward: dy flows to the input cell that held the maximum (the first one on ties), found again from x and y.
/// </summary>
public sealed class MaxPool2D : Pooling2D
{
    public static readonly LayerKind Definition = new("max_pool2d", "maximum over each window, per channel", PoolOptions("maximum"), Bind<MaxPool2D>);

    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) => g.Node("MaxPool", inputs, WindowAttributes());

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y) =>
        Pooling.MaxForward(ctx.Kernels, ctx.Batch, Input, Rows, Cols, x, y);

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx) =>
        Backward(ctx, x, y, dy, dx, throughRelu: false);

    /// <summary>Backward; with <paramref name="throughRelu"/> also through the relu that made x (the plan then tells its layer so).</summary>
    public void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, bool throughRelu)
    {
        if (ctx.InputGradient) Pooling.MaxBackward(ctx.Kernels, ctx.Batch, Input, Rows, Cols, x, y, dy, dx, positiveOnly: throughRelu);
    }
}
