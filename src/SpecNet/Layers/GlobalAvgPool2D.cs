using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Global average pooling (Keras GlobalAveragePooling2D): H x W x C -> C, y[n,c] = mean over (i,j) of x[n,i,j,c].
/// Backward: dx[n,i,j,c] = dy[n,c] / (H*W), or added to dx where another layer reads x too. No parameters.
/// </summary>
public sealed class GlobalAvgPool2D : Layer
{
    public static readonly LayerKind Definition = new("global_avg_pool2d", "mean of each channel over height and width", [], _ => new GlobalAvgPool2D());

    protected override Shape? InferShape(Shape input, ShapeCheck check) =>
        check.NeedsSpatial(input) ? Shape.Flat(input.Channels) : null;

    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) =>
        g.Node("Flatten", [g.Node("GlobalAveragePool", inputs)], OnnxAttribute.Of("axis", 1L));

    public override unsafe void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        fixed (float* px = x, py = y) Run(ctx, px, py, &ForwardRange);
    }

    public override bool BackwardReadsInputs => false;
    public override bool BackwardReadsOutput => false;

    public override unsafe void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        if (!ctx.InputGradient) return;
        fixed (float* pdx = dx, pdy = dy) Run(ctx, pdx, pdy, &BackwardRange, adds: ctx.AddsInputGradient);
    }

    /// <summary>
    /// Where another layer reads the map too (a squeeze-and-excitation gate's multiply), its share is added to the gradient
    /// there as it is made: written to scratch and added in a pass after, it had been written, read and written again.
    /// </summary>
    public override bool CanAddInputGradient(LayerContext ctx) => true;

    // Per example: the map (cells, channels) and its means (channels), or their gradients.
    private unsafe struct Args { public float* Map, Means; public int Channels, Cells; public bool Adds; }

    /// <summary>range over the batch's examples, split between the threads.</summary>
    private unsafe void Run(LayerContext ctx, float* map, float* means, delegate*<void*, int, int, int, void> range, bool adds = false)
    {
        var args = new Args { Map = map, Means = means, Channels = Input.Channels, Cells = Input.Height * Input.Width, Adds = adds };
        ctx.Kernels.ParallelFor(ctx.Batch, range, &args, (long)args.Cells * args.Channels);
    }

    private static readonly int Lanes = Vector256<float>.Count;

    /// <summary>
    /// Examples [n0, n1): each channel's sum over the cells, in order from +0, in a register, times 1/cells. Four channel vectors
    /// go down the cells side by side: one alone waits on each add's latency (a single image's 7x7x128 map took 2.0 us, the
    /// depthwise model's single image 46 us on a Zen 5).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardRange(void* state, int part, int n0, int n1)
    {
        var a = (Args*)state;
        int c = a->Channels, cells = a->Cells;
        float inv = 1f / cells;
        for (long n = n0; n < n1; n++)
        {
            float* map = a->Map + n * cells * c, mean = a->Means + n * c;
            int v = 0;
            for (; v <= c - 4 * Lanes; v += 4 * Lanes)
            {
                Vector256<float> s0 = Vector256<float>.Zero, s1 = s0, s2 = s0, s3 = s0;
                for (float* at = map + v, end = at + (long)cells * c; at < end; at += c)
                {
                    s0 += Vector256.Load(at);
                    s1 += Vector256.Load(at + Lanes);
                    s2 += Vector256.Load(at + 2 * Lanes);
                    s3 += Vector256.Load(at + 3 * Lanes);
                }
                (s0 * inv).Store(mean + v);
                (s1 * inv).Store(mean + v + Lanes);
                (s2 * inv).Store(mean + v + 2 * Lanes);
                (s3 * inv).Store(mean + v + 3 * Lanes);
            }
            for (; v <= c - Lanes; v += Lanes)
            {
                var sum = Vector256<float>.Zero;
                for (int i = 0; i < cells; i++) sum += Vector256.Load(map + (long)i * c + v);
                (sum * inv).Store(mean + v);
            }
            if (v < c && Avx.IsSupported)
            {
                // the channels past the last whole vector under a mask, each lane's sum the one a float at a time takes: a float
                // at a time, each channel's adds waited on one another (28x28x6 at batch 64: 0.085 ms, Zen 5)
                var mask = Lanes256.FirstLanes(c - v);
                var sum = Vector256<float>.Zero;
                for (int i = 0; i < cells; i++) sum += Lanes256.LoadUnder(map + (long)i * c + v, mask);
                Lanes256.StoreUnder(sum * inv, mean + v, mask);
                continue;
            }
            for (; v < c; v++)
            {
                float sum = 0;
                for (int i = 0; i < cells; i++) sum += map[(long)i * c + v];
                mean[v] = sum * inv;
            }
        }
    }

    /// <summary>
    /// Examples [n0, n1): every cell's gradient is its channel's, times 1/cells; with Adds, that added to what the cell holds (the
    /// product rounded first, then the sum: the floats of the plan's pass that adds a share from scratch).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void BackwardRange(void* state, int part, int n0, int n1)
    {
        var a = (Args*)state;
        int c = a->Channels, cells = a->Cells;
        float inv = 1f / cells;
        bool adds = a->Adds;
        for (long n = n0; n < n1; n++)
        {
            float* dx = a->Map + n * cells * c, dy = a->Means + n * c;
            int whole = c / Lanes * Lanes;
            var (mask, tail) = whole < c && Avx.IsSupported ? (Lanes256.FirstLanes(c - whole), true) : (default, false);
            for (int i = 0; i < cells; i++, dx += c)
            {
                int v = 0;
                if (adds)
                {
                    for (; v < whole; v += Lanes) (Vector256.Load(dx + v) + Vector256.Load(dy + v) * inv).Store(dx + v);
                    if (tail) Lanes256.StoreUnder(Lanes256.LoadUnder(dx + v, mask) + Lanes256.LoadUnder(dy + v, mask) * inv, dx + v, mask);
                    else for (; v < c; v++) dx[v] += dy[v] * inv;
                    continue;
                }
                for (; v < whole; v += Lanes) (Vector256.Load(dy + v) * inv).Store(dx + v);
                if (tail) Lanes256.StoreUnder(Lanes256.LoadUnder(dy + v, mask) * inv, dx + v, mask);
                else for (; v < c; v++) dx[v] = dy[v] * inv;
            }
        }
    }
}
