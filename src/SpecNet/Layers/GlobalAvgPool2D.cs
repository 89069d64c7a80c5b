using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Global average pooling (Keras GlobalAveragePooling2D): H x W x C -> C, y[n,c] = mean over (i,j) of x[n,i,j,c].
/// Backward: dx[n,i,j,c] = dy[n,c] / (H*W). No parameters.
/// </summary>
public sealed class GlobalAvgPool2D : Layer
{
    public static readonly LayerKind Definition = new("global_avg_pool2d", "mean of each channel over height and width", [], _ => new GlobalAvgPool2D());

    protected override Shape? InferShape(Shape input, ShapeCheck check) =>
        check.NeedsSpatial(input) ? Shape.Flat(input.Channels) : null;

    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) =>
        g.Node("Flatten", [g.Node("GlobalAveragePool", inputs)], OnnxAttribute.Of("axis", 1L));

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        int c = Input.Channels, cells = Input.Height * Input.Width;
        for (int n = 0; n < ctx.Batch; n++)
        {
            var row = y.Slice(n * c, c);
            row.Clear();
            for (int i = 0; i < cells; i++) Elementwise.Add(row, x.Slice((n * cells + i) * c, c));
            Elementwise.Scale(row, 1f / cells);
        }
    }

    public override bool BackwardReadsInputs => false;
    public override bool BackwardReadsOutput => false;

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        if (!ctx.InputGradient) return;
        int c = Input.Channels, cells = Input.Height * Input.Width;
        float inv = 1f / cells;
        for (int n = 0; n < ctx.Batch; n++)
            for (int i = 0; i < cells; i++)
                for (int ch = 0; ch < c; ch++) dx[(n * cells + i) * c + ch] = dy[n * c + ch] * inv;
    }
}
