using System.Numerics;
using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Global max pooling (Keras GlobalMaxPooling2D): H x W x C -> C, y[n,c] = max over (i,j) of x[n,i,j,c].
/// Backward: dy goes to the first cell holding the maximum. No parameters.
/// </summary>
public sealed class GlobalMaxPool2D : Layer
{
    public static readonly LayerKind Definition = new("global_max_pool2d", "maximum of each channel over height and width", [], _ => new GlobalMaxPool2D());

    protected override Shape? InferShape(Shape input, ShapeCheck check) =>
        check.NeedsSpatial(input) ? Shape.Flat(input.Channels) : null;

    public override object? CreateState(int capacity, bool training, Backend kernels) => new int[capacity * Input.Channels]; // argmax per (n, c)
    public override long StateValues(bool training) => Input.Channels;   // as many ints

    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) =>
        g.Node("Flatten", [g.Node("GlobalMaxPool", inputs)], OnnxAttribute.Of("axis", 1L));

    /// <summary>Per example, channel vectors go down the cells keeping each channel's maximum and the first cell holding it.</summary>
    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        var argmax = (int[])ctx.State!;
        int c = Input.Channels, cells = Input.Height * Input.Width, lanes = Vector<float>.Count;
        for (int n = 0; n < ctx.Batch; n++)
        {
            int map = n * cells * c, ch = 0;
            for (; ch <= c - lanes; ch += lanes)
            {
                var best = new Vector<float>(x[(map + ch)..]);
                var cell = Vector<int>.Zero;
                for (int i = 1; i < cells; i++)
                {
                    var v = new Vector<float>(x[(map + i * c + ch)..]);
                    var greater = Vector.GreaterThan(v, best);     // strictly: the first of equal maxima stays
                    best = Vector.ConditionalSelect(greater, v, best);
                    cell = Vector.ConditionalSelect(greater, new Vector<int>(i), cell);
                }
                best.CopyTo(y[(n * c + ch)..]);
                for (int l = 0; l < lanes; l++) argmax[n * c + ch + l] = map + cell[l] * c + ch + l;
            }
            for (; ch < c; ch++)
            {
                int first = map + ch;
                for (int i = 1; i < cells; i++)
                {
                    int at = map + i * c + ch;
                    if (x[at] > x[first]) first = at;
                }
                y[n * c + ch] = x[first];
                argmax[n * c + ch] = first;
            }
        }
    }

    public override bool BackwardReadsInputs => false;
    public override bool BackwardReadsOutput => false;

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        if (!ctx.InputGradient) return;
        var argmax = (int[])ctx.State!;
        dx[..(ctx.Batch * Input.Size)].Clear();
        for (int i = 0; i < ctx.Batch * Input.Channels; i++) dx[argmax[i]] += dy[i];
    }
}
