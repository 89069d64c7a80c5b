using System.Runtime.Intrinsics;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Max pooling (Keras MaxPooling2D): y[n,i,j,c] = max over the window of x; padded cells never win.
/// Backward: dy flows to the input cell that held the maximum (the first one on ties).
/// </summary>
public sealed class MaxPool2D : Pooling2D
{
    public static readonly LayerKind Definition = new("max_pool2d", "maximum over each window, per channel", PoolOptions("maximum"), Bind<MaxPool2D>);

    public override object? CreateState(int capacity) => new int[capacity * Output.Size]; // argmax: input index per output

    public override unsafe void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        var argmax = (int[])ctx.State!;
        fixed (float* px = x, py = y)
        {
            float* xp = px, yp = py;
            ctx.Kernels.ParallelFor(ctx.Batch, (n0, n1) => ForwardRange(xp, yp, argmax, n0, n1));
        }
    }

    private unsafe void ForwardRange(float* x, float* y, int[] argmax, int n0, int n1)
    {
        int c = Input.Channels, h = Input.Height, w = Input.Width;
        var input = new ReadOnlySpan<float>(x, n1 * Input.Size);
        for (int n = n0; n < n1; n++)
            for (int oh = 0; oh < Rows.Output; oh++)
                for (int ow = 0; ow < Cols.Output; ow++)
                {
                    int o = ((n * Rows.Output + oh) * Cols.Output + ow) * c;
                    var best = new Span<float>(y + o, c);
                    var where = argmax.AsSpan(o, c);
                    best.Fill(float.NegativeInfinity);
                    where.Fill(-1);
                    for (int kh = 0; kh < PoolSize.H; kh++)
                    {
                        int ih = oh * Strides.H - Rows.PadBefore + kh;
                        if ((uint)ih >= (uint)h) continue;
                        for (int kw = 0; kw < PoolSize.W; kw++)
                        {
                            int iw = ow * Strides.W - Cols.PadBefore + kw;
                            if ((uint)iw >= (uint)w) continue;
                            int at = ((n * h + ih) * w + iw) * c;
                            MaxInto(input.Slice(at, c), at, best, where);
                        }
                    }
                }
    }

    /// <summary>best = max(best, cell) per channel, remembering where the maximum came from (first wins on ties).</summary>
    private static void MaxInto(ReadOnlySpan<float> cell, int at, Span<float> best, Span<int> where)
    {
        int ch = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
            for (; ch <= cell.Length - 8; ch += 8)
            {
                var v = Vector256.Create(cell.Slice(ch, 8));
                var b = Vector256.Create((ReadOnlySpan<float>)best.Slice(ch, 8));
                var w = Vector256.Create((ReadOnlySpan<int>)where.Slice(ch, 8));
                var wins = Vector256.GreaterThan(v, b) | Vector256.LessThan(w, Vector256<int>.Zero).AsSingle();
                Vector256.ConditionalSelect(wins, v, b).CopyTo(best.Slice(ch, 8));
                Vector256.ConditionalSelect(wins.AsInt32(), lanes + Vector256.Create(at + ch), w).CopyTo(where.Slice(ch, 8));
            }
        }
        for (; ch < cell.Length; ch++)
            if (cell[ch] > best[ch] || where[ch] < 0) { best[ch] = cell[ch]; where[ch] = at + ch; }
    }

    public override unsafe void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        if (!ctx.InputGradient) return;
        var argmax = (int[])ctx.State!;
        int inSize = Input.Size, outSize = Output.Size;
        fixed (float* pdy = dy, pdx = dx)
        {
            float* dyp = pdy, dxp = pdx;
            ctx.Kernels.ParallelFor(ctx.Batch, (n0, n1) =>
            {
                new Span<float>(dxp + (long)n0 * inSize, (n1 - n0) * inSize).Clear();
                for (int i = n0 * outSize; i < n1 * outSize; i++) dxp[argmax[i]] += dyp[i];
            });
        }
    }
}
