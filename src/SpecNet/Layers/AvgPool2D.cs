using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Average pooling (Keras AveragePooling2D): y = mean of the window's cells inside the input (padded
/// cells are not counted, as in Keras). Backward: each cell of the window gets dy / count.
/// </summary>
public sealed class AvgPool2D : Pooling2D
{
    public static readonly LayerKind Definition = new("avg_pool2d", "average over each window, per channel", PoolOptions("average"), Bind<AvgPool2D>);

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y) => Pool(ctx.Batch, x, y, forward: true);

    public override bool BackwardReadsInputs => false;
    public override bool BackwardReadsOutput => false;

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        if (!ctx.InputGradient) return;
        dx[..(ctx.Batch * Input.Size)].Clear();
        Pool(ctx.Batch, dy, dx, forward: false);
    }

    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) =>
        g.Node("AveragePool", inputs, [.. WindowAttributes(), OnnxAttribute.Of("count_include_pad", 0L)]);

    /// <summary>Forward: y = mean of the window's valid cells. Backward (adjoint): each valid cell += dy / count.</summary>
    private void Pool(int batch, ReadOnlySpan<float> from, Span<float> to, bool forward)
    {
        int c = Input.Channels, h = Input.Height, w = Input.Width;
        int o = 0;
        for (int n = 0; n < batch; n++)
            for (int oh = 0; oh < Rows.Output; oh++)
                for (int ow = 0; ow < Cols.Output; ow++, o += c)
                {
                    int h0 = Math.Max(0, oh * Strides.H - Rows.PadBefore), h1 = Math.Min(h, oh * Strides.H - Rows.PadBefore + PoolSize.H);
                    int w0 = Math.Max(0, ow * Strides.W - Cols.PadBefore), w1 = Math.Min(w, ow * Strides.W - Cols.PadBefore + PoolSize.W);
                    float inv = 1f / ((h1 - h0) * (w1 - w0));
                    if (forward) to.Slice(o, c).Clear();
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++)
                        {
                            int at = ((n * h + ih) * w + iw) * c;
                            if (forward) Elementwise.Add(to.Slice(o, c), from.Slice(at, c));
                            else for (int ch = 0; ch < c; ch++) to[at + ch] += from[o + ch] * inv;
                        }
                    if (forward) Elementwise.Scale(to.Slice(o, c), inv);
                }
    }
}
