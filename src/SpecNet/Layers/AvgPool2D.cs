using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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

    /// <summary>
    /// Forward: y = mean of the window's valid cells. Backward (adjoint): each valid cell += dy / count. The examples split
    /// between threads; one image's forward by its output rows (each cell's sums the same on any split).
    /// </summary>
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
            long work = (long)Input.Size * PoolSize.H * PoolSize.W / (Strides.H * Strides.W);
            if (forward && ctx.Batch == 1) ctx.Kernels.ParallelFor(a.OutH, &RowRange, &a, work / a.OutH);
            else ctx.Kernels.ParallelFor(ctx.Batch, &PoolRange, &a, work);
        }
    }

    private static unsafe void PoolRange(void* state, int part, int n0, int n1)
    {
        var a = *(Args*)state;   // a copy in registers: through the pointer, every field was read again after each store
        for (long n = n0; n < n1; n++)
        {
            float* map = a.Map + n * a.H * a.W * a.C, pooled = a.Pooled + n * a.OutH * a.OutW * a.C;
            if (!a.Forward) new Span<float>(map, a.H * a.W * a.C).Clear();
            PoolRows(a, map, pooled, 0, a.OutH);
        }
    }

    /// <summary>One image's output rows [r0, r1), forward.</summary>
    private static unsafe void RowRange(void* state, int part, int r0, int r1)
    {
        var a = *(Args*)state;
        PoolRows(a, a.Map, a.Pooled, r0, r1);
    }

    private static unsafe void PoolRows(in Args a, float* map, float* pooled, int r0, int r1)
    {
        int c = a.C;
        bool overlap = a.StrideH < a.PoolH || a.StrideW < a.PoolW;
        for (int oh = r0; oh < r1; oh++)
        {
            int h0 = Math.Max(0, oh * a.StrideH - a.PadTop), h1 = Math.Min(a.H, oh * a.StrideH - a.PadTop + a.PoolH);
            for (int ow = 0; ow < a.OutW; ow++)
            {
                int w0 = Math.Max(0, ow * a.StrideW - a.PadLeft), w1 = Math.Min(a.W, ow * a.StrideW - a.PadLeft + a.PoolW);
                float inv = 1f / ((h1 - h0) * (w1 - w0));
                float* cell = pooled + (oh * a.OutW + ow) * c;
                if (a.Forward) { Mean(map, cell, c, a.W, h0, h1, w0, w1, inv); continue; }
                if (Avx.IsSupported) { Spread(map, cell, c, a.W, h0, h1, w0, w1, inv, overlap); continue; }
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++)
                        Elementwise.AddScaled(new Span<float>(map + (ih * a.W + iw) * c, c), new ReadOnlySpan<float>(cell, c), inv);
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
        if (c < Vector256<float>.Count && Avx.IsSupported)
        {
            // fewer channels than a vector (LeNet-5's 6): all of them in one vector under a mask, each lane's sum the one a float
            // at a time takes; a float at a time, each channel's adds waited on one another (28x28x6 2x2 at batch 64, Zen 5:
            // 0.12 -> 0.05 ms)
            var mask = Lanes256.FirstLanes(c);
            var sum = Vector256<float>.Zero;
            for (int ih = h0; ih < h1; ih++)
                for (int iw = w0; iw < w1; iw++) sum += Lanes256.LoadUnder(map + (ih * w + iw) * c, mask);
            Lanes256.StoreUnder(sum * inv, cell, mask);
            return;
        }
        int v = 0, n = Vector<float>.Count;
        // four channel vectors at a time, four chains of adds in flight: one vector's nine adds, each waiting on the one before,
        // had bounded a single image's 3x3 pooling over 28x28x32 at 14.7 us
        for (; v <= c - 4 * n; v += 4 * n)
        {
            Vector<float> s0 = Vector<float>.Zero, s1 = Vector<float>.Zero, s2 = Vector<float>.Zero, s3 = Vector<float>.Zero;
            for (int ih = h0; ih < h1; ih++)
                for (int iw = w0; iw < w1; iw++)
                {
                    float* at = map + (ih * w + iw) * c + v;
                    (s0, s1, s2, s3) = (s0 + Vector.Load(at), s1 + Vector.Load(at + n), s2 + Vector.Load(at + 2 * n), s3 + Vector.Load(at + 3 * n));
                }
            Vector.Store(s0 * inv, cell + v); Vector.Store(s1 * inv, cell + v + n); Vector.Store(s2 * inv, cell + v + 2 * n); Vector.Store(s3 * inv, cell + v + 3 * n);
        }
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

    /// <summary>
    /// Backward's one output cell: dy / count added into each cell of its window, a vector of channels at a time and the channels
    /// past the last whole vector under a mask, as <see cref="Elementwise.AddScaled"/> adds it (a product, then a sum). A call of
    /// it per cell had cost more than the adds: 28x28x32 3x3 by 1 at batch 64 (`bench/every-layer.yaml`, Zen 5, alternating) 0.68
    /// -> 0.39 ms in a quiet hour, 1.04-1.18 -> 0.54-0.65 in a busy one; and over 6
    /// channels (LeNet-5's) a call per cell of 6 floats. Windows that do not overlap find their cells at +0 (cleared): share + 0,
    /// the same bits, stored without reading them, since a load overlapping the masked store before it waits for it. LeNet-5's
    /// 28x28x6 2x2 at batch 64, Zen 5, builds alternating: 0.13-0.15 -> 0.11-0.12 ms read and added, 0.055-0.057 stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Spread(float* map, float* cell, int c, int w, int h0, int h1, int w0, int w1, float inv, bool overlap)
    {
        var scale = Vector256.Create(inv);
        int whole = c / Vector256<float>.Count * Vector256<float>.Count;
        var mask = Lanes256.FirstLanes(c - whole);
        if (whole == 0)
        {
            // fewer channels than a vector: the share made once (made again at each cell, it took LeNet-5's 0.057 -> 0.07 ms)
            var share = Lanes256.LoadUnder(cell, mask) * scale;
            for (int ih = h0; ih < h1; ih++)
                for (int iw = w0; iw < w1; iw++)
                {
                    float* at = map + (ih * w + iw) * c;
                    Lanes256.StoreUnder((overlap ? Lanes256.LoadUnder(at, mask) : Vector256<float>.Zero) + share, at, mask);
                }
            return;
        }
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++)
            {
                float* at = map + (ih * w + iw) * c;
                int v = 0;
                for (; v < whole; v += Vector256<float>.Count)
                    (overlap ? Vector256.Load(at + v) + Vector256.Load(cell + v) * scale : Vector256.Load(cell + v) * scale + Vector256<float>.Zero).Store(at + v);
                if (v < c)
                    Lanes256.StoreUnder((overlap ? Lanes256.LoadUnder(at + v, mask) : Vector256<float>.Zero) + Lanes256.LoadUnder(cell + v, mask) * scale, at + v, mask);
            }
    }
}
