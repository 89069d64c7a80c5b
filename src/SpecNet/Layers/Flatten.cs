using SpecNet.Diagnostics;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Flatten: H x W x C -> H*W*C features, ordered (channel, row, column) as PyTorch orders them, so that a
/// dense kernel in the weights file fits the equivalent PyTorch model. y[n, c*H*W + i*W + j] = x[n,i,j,c].
/// Backward: the inverse permutation. No parameters.
/// </summary>
public sealed class Flatten : Layer
{
    public static readonly LayerKind Definition = new("flatten", "H x W x C to a flat vector (channel-major, as PyTorch)", [], _ => new Flatten());

    protected override Shape? InferShape(Shape input, ShapeCheck check)
    {
        if (input.IsFlat)
            check.Warning(DiagnosticIds.RedundantLayer, null, $"the input is already flat ({input}); this layer does nothing", "remove it");
        return Shape.Flat(input.Size);
    }

    /// <summary>NCHW flattened is (channel, row, column) order: SpecNet's flatten order.</summary>
    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) =>
        Input.IsFlat ? inputs[0] : g.Node("Flatten", inputs, OnnxAttribute.Of("axis", 1L));

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        int c = Input.Channels, cells = Input.Height * Input.Width, size = Input.Size;
        for (int n = 0; n < ctx.Batch; n++)
            for (int i = 0; i < cells; i++)
                for (int ch = 0; ch < c; ch++) y[n * size + ch * cells + i] = x[n * size + i * c + ch];
    }

    public override bool BackwardReadsInputs => false;
    public override bool BackwardReadsOutput => false;

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        if (!ctx.InputGradient) return;
        int c = Input.Channels, cells = Input.Height * Input.Width, size = Input.Size;
        for (int n = 0; n < ctx.Batch; n++)
            for (int i = 0; i < cells; i++)
                for (int ch = 0; ch < c; ch++) dx[n * size + i * c + ch] = dy[n * size + ch * cells + i];
    }
}
