using SpecNet.Diagnostics;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Concatenation along the channels (Keras Concatenate, axis -1): inputs H x W x C_i of one height and
/// width (or flat vectors) give H x W x Σ C_i; y[n,i,j, offset_k + c] = x_k[n,i,j,c]. Backward: each
/// input's gradient is its slice of dy. No parameters.
/// </summary>
public sealed class Concatenate : Layer
{
    public static readonly LayerKind Definition =
        new("concatenate", "joins its inputs along the channels (equal height and width)", [], _ => new Concatenate()) { MinInputs = 2, MaxInputs = int.MaxValue };

    protected override Shape? InferShape(IReadOnlyList<Shape> inputs, ShapeCheck check)
    {
        for (int i = 1; i < inputs.Count; i++)
            if (inputs[i].IsFlat != inputs[0].IsFlat || inputs[i].Height != inputs[0].Height || inputs[i].Width != inputs[0].Width)
            {
                check.Error(DiagnosticIds.MergeShapes, "inputs",
                    $"joins channels, so its inputs need one height and width, but {Source(0)} gives {inputs[0]} and {Source(i)} gives {inputs[i]}",
                    inputs[i].IsFlat != inputs[0].IsFlat ? "flatten (or globally pool) both, or neither"
                        : "downsample the larger one (pooling or strides) or pad the smaller one (zero_padding2d) so the sizes match");
                return null;
            }
        int channels = inputs.Sum(s => s.Channels);
        return inputs[0].IsFlat ? Shape.Flat(channels) : Shape.Spatial(inputs[0].Height, inputs[0].Width, channels);
    }

    private string Source(int i) => Sources[i] is { } s ? $"'{s.Name}'" : "the model's input";

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        int cells = ctx.Batch * Output.Height * Output.Width, total = Output.Channels, offset = 0;
        for (int k = 0; k < ctx.InputCount; k++)
        {
            int c = Inputs[k].Channels;
            var xk = ctx.InputOf(k);
            for (int p = 0; p < cells; p++) xk.Slice(p * c, c).CopyTo(y.Slice(p * total + offset, c));
            offset += c;
        }
    }

    public override bool BackwardReadsInputs => false;
    public override bool BackwardReadsOutput => false;

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int cells = ctx.Batch * Output.Height * Output.Width, total = Output.Channels, offset = 0;
        for (int k = 0; k < ctx.InputCount; k++)
        {
            int c = Inputs[k].Channels;
            var dk = ctx.GradientOf(k);
            if (!dk.IsEmpty)
                for (int p = 0; p < cells; p++) dy.Slice(p * total + offset, c).CopyTo(dk.Slice(p * c, c));
            offset += c;
        }
    }

    /// <summary>Channels are axis 1 in NCHW and in [batch, features] alike.</summary>
    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) => g.Node("Concat", inputs, OnnxAttribute.Of("axis", 1L));
}
