using System.Numerics;
using System.Runtime.CompilerServices;
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

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y) => Pool(ctx, x, y, forward: true);

    public override bool BackwardReadsInputs => false;
    public override bool BackwardReadsOutput => false;

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        if (ctx.InputGradient) Pool(ctx, dy, dx, forward: false);
    }

    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) =>
        g.Node("AveragePool", inputs, [.. WindowAttributes(), OnnxAttribute.Of("count_include_pad", 0L)]);

    private unsafe struct Args
    {
        public float* Map, Pooled;                 // per example: x (or dx) and y (or dy)
        public int C, H, W, OutH, OutW, StrideH, StrideW, PadTop, PadLeft, PoolH, PoolW;
        public bool Forward;
    }

    /// <summary>Forward: y = mean of the window's valid cells. Backward (adjoint): each valid cell += dy / count. The examples split between threads.</summary>
    private unsafe void Pool(LayerContext ctx, ReadOnlySpan<float> from, Span<float> to, bool forward)
    {
        fixed (float* pf = from, pt = to)
        {
            var a = new Args
            {
                Map = forward ? pf : pt, Pooled = forward ? pt : pf, C = Input.Channels, H = Input.Height, W = Input.Width,
                OutH = Rows.Output, OutW = Cols.Output, StrideH = Strides.H, StrideW = Strides.W, PadTop = Rows.PadBefore,
                PadLeft = Cols.PadBefore, PoolH = PoolSize.H, PoolW = PoolSize.W, Forward = forward,
            };
            ctx.Kernels.ParallelFor(ctx.Batch, &PoolRange, &a, (long)Input.Size * PoolSize.H * PoolSize.W / (Strides.H * Strides.W));
        }
    }

    private static unsafe void PoolRange(void* state, int part, int n0, int n1)
    {
        var a = *(Args*)state;   // a copy in registers: through the pointer, every field was read again after each store
        int c = a.C;
        for (long n = n0; n < n1; n++)
        {
            float* map = a.Map + n * a.H * a.W * c, pooled = a.Pooled + n * a.OutH * a.OutW * c;
            if (!a.Forward) new Span<float>(map, a.H * a.W * c).Clear();
            for (int oh = 0; oh < a.OutH; oh++)
            {
                int h0 = Math.Max(0, oh * a.StrideH - a.PadTop), h1 = Math.Min(a.H, oh * a.StrideH - a.PadTop + a.PoolH);
                for (int ow = 0; ow < a.OutW; ow++)
                {
                    int w0 = Math.Max(0, ow * a.StrideW - a.PadLeft), w1 = Math.Min(a.W, ow * a.StrideW - a.PadLeft + a.PoolW);
                    float inv = 1f / ((h1 - h0) * (w1 - w0));
                    float* cell = pooled + (oh * a.OutW + ow) * c;
                    if (a.Forward) { Mean(map, cell, c, a.W, h0, h1, w0, w1, inv); continue; }
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++)
                            Elementwise.AddScaled(new Span<float>(map + (ih * a.W + iw) * c, c), new ReadOnlySpan<float>(cell, c), inv);
                }
            }
        }
    }

    /// <summary>
    /// One output cell: each channel's sum over the window from +0, in (row, column) order, times 1/count. The sums stay in
    /// registers: added into the cell in memory, each add waited on the store of the one before (the forward pass took 3.5
    /// times its backward's time).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Mean(float* map, float* cell, int c, int w, int h0, int h1, int w0, int w1, float inv)
    {
        int v = 0;
        for (; v < c && c >= Vector<float>.Count; v += Vector<float>.Count)
        {
            v = Math.Min(v, c - Vector<float>.Count);   // the last vector moved back to end at the last channel: its first lanes again, the same sums
            var sum = Vector<float>.Zero;
            for (int ih = h0; ih < h1; ih++)
                for (int iw = w0; iw < w1; iw++) sum += Vector.Load(map + (ih * w + iw) * c + v);
            Vector.Store(sum * inv, cell + v);
        }
        for (; v < c; v++)
        {
            float sum = 0;
            for (int ih = h0; ih < h1; ih++)
                for (int iw = w0; iw < w1; iw++) sum += map[(ih * w + iw) * c + v];
            cell[v] = sum * inv;
        }
    }
}
