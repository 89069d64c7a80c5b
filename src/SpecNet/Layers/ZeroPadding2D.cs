using SpecNet.Diagnostics;
using SpecNet.Parsing;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Zero padding (Keras ZeroPadding2D): H x W x C -> (t + H + b) x (l + W + r) x C, zeros around the image;
/// y[n, t + i, l + j, c] = x[n, i, j, c]. padding: p (all sides), [h, w] (top and bottom h, left and right w)
/// or [[top, bottom], [left, right]]. Backward: dx is dy's inner window. No parameters.
/// </summary>
public sealed class ZeroPadding2D : Layer
{
    private const int MaxPadding = 1 << 12;

    public static readonly LayerKind Definition = new("zero_padding2d", "adds rows and columns of zeros around the image", [
        OptionInfo.Structure("padding", "int | [h, w] | [[top, bottom], [left, right]]", "zeros added on each side") with
        {
            Default = ((1, 1), (1, 1)), DefaultNote = "1", Min = 0, Max = MaxPadding,
        },
    ], Bind);

    public (int Top, int Bottom) Vertical { get; private init; }
    public (int Left, int Right) Horizontal { get; private init; }

    private static Layer Bind(OptionReader r)
    {
        var ((top, bottom), (left, right)) = Read(r);
        return new ZeroPadding2D { Vertical = (top, bottom), Horizontal = (left, right) };
    }

    private static ((int, int), (int, int)) Read(OptionReader r)
    {
        var node = r.Node("padding");
        ((int, int), (int, int)) value = ((1, 1), (1, 1));
        switch (node)
        {
            case null: break;
            case ScalarNode s: { int p = r.IntOf(s, "padding"); value = ((p, p), (p, p)); break; }
            case SequenceNode { Items.Count: 2 } pair when pair.Items.All(i => i is ScalarNode):
            {
                int h = r.IntOf(pair.Items[0], "padding"), w = r.IntOf(pair.Items[1], "padding");
                value = ((h, h), (w, w));
                break;
            }
            case SequenceNode { Items.Count: 2 } pairs when pairs.Items.All(i => i is SequenceNode { Items.Count: 2 }):
            {
                var (a, b) = ((SequenceNode)pairs.Items[0], (SequenceNode)pairs.Items[1]);
                value = ((r.IntOf(a.Items[0], "padding"), r.IntOf(a.Items[1], "padding")), (r.IntOf(b.Items[0], "padding"), r.IntOf(b.Items[1], "padding")));
                break;
            }
            default:
                r.Diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"{r.Owner}: 'padding' takes p, [h, w] or [[top, bottom], [left, right]], not {node.Describe()}",
                    "write padding: 1, padding: [1, 2] or padding: [[0, 1], [0, 1]]");
                break;
        }
        return r.Set("padding", value);
    }

    protected override Shape? InferShape(Shape input, ShapeCheck check) =>
        check.NeedsSpatial(input)
            ? Shape.Spatial(Vertical.Top + input.Height + Vertical.Bottom, Horizontal.Left + input.Width + Horizontal.Right, input.Channels)
            : null;

    public override unsafe void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        fixed (float* px = x, py = y) Rows(ctx, px, py, forward: true);
    }

    public override bool BackwardReadsInputs => false;
    public override bool BackwardReadsOutput => false;

    public override unsafe void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        if (!ctx.InputGradient) return;
        fixed (float* pdy = dy, pdx = dx) Rows(ctx, pdx, pdy, forward: false);
    }

    private unsafe struct Padding
    {
        public float* Inner, Padded;
        public int Channels, InnerHeight, InnerWidth, Height, Width, Top, Left;
        public bool Forward;   // inner -> padded, zeros around; or padded's inner window -> inner
    }

    /// <summary>The padded tensor's rows, split between the threads: a copy of megabytes (28x28x32 at batch 32) runs at both cores' pull.</summary>
    private unsafe void Rows(LayerContext ctx, float* inner, float* padded, bool forward)
    {
        var p = new Padding
        {
            Inner = inner, Padded = padded, Channels = Input.Channels, InnerHeight = Input.Height, InnerWidth = Input.Width,
            Height = Output.Height, Width = Output.Width, Top = Vertical.Top, Left = Horizontal.Left, Forward = forward,
        };
        ctx.Kernels.ParallelFor(ctx.Batch * Output.Height, &RowRange, &p, 2L * Output.Width * Output.Channels);
    }

    private static unsafe void RowRange(void* state, int part, int r0, int r1)
    {
        var p = *(Padding*)state;
        int c = p.Channels, row = p.Width * c, innerRow = p.InnerWidth * c;
        for (int r = r0; r < r1; r++)
        {
            int n = r / p.Height, i = r % p.Height - p.Top;
            var padded = new Span<float>(p.Padded + (long)r * row, row);
            bool inside = i >= 0 && i < p.InnerHeight;
            var inner = inside ? new Span<float>(p.Inner + ((long)n * p.InnerHeight + i) * innerRow, innerRow) : default;
            if (!p.Forward) { if (inside) padded.Slice(p.Left * c, innerRow).CopyTo(inner); continue; }
            if (!inside) { padded.Clear(); continue; }
            padded[..(p.Left * c)].Clear();
            inner.CopyTo(padded.Slice(p.Left * c, innerRow));
            padded[(p.Left * c + innerRow)..].Clear();
        }
    }

    /// <summary>ONNX's pads on NCHW: [0, 0, top, left, 0, 0, bottom, right].</summary>
    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) =>
        g.Node("Pad", [inputs[0], g.Int64Constant($"{Name}.pads", [0, 0, Vertical.Top, Horizontal.Left, 0, 0, Vertical.Bottom, Horizontal.Right])]);
}
