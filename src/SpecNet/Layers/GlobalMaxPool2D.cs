using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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

    /// <summary>
    /// Per example, channel vectors go down the cells keeping each channel's maximum and the first cell holding it (strictly
    /// greater replaces: the first of equal maxima stays, and a NaN never wins but from the first cell), four vectors side by side,
    /// then one, then the channels past the last whole vector under a mask; the examples split between the threads. On one thread,
    /// through spans sliced at every cell, a float at a time past the last vector: at batch 64 (Zen 5, three runs alternating)
    /// 14x14x64 0.215-0.241 -> 0.039-0.050 ms forward, 0.084-0.109 -> 0.026-0.042 backward; 14x14x6 0.058-0.072 -> 0.009-0.010.
    /// </summary>
    public override unsafe void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length < ctx.Batch * Input.Size || y.Length < ctx.Batch * Input.Channels) throw new ArgumentException($"global max pooling: {x.Length} and {y.Length} floats for a batch of {ctx.Batch}");
        fixed (float* px = x, py = y)
        fixed (int* argmax = (int[])ctx.State!)
        {
            var args = new Args { X = px, Y = py, Argmax = argmax, Channels = Input.Channels, Cells = Input.Height * Input.Width };
            ctx.Kernels.ParallelFor(ctx.Batch, &ForwardRange, &args, Input.Size);
        }
    }

    private unsafe struct Args { public float* X, Y, DY, DX; public int* Argmax; public int Channels, Cells; }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardRange(void* state, int part, int n0, int n1)
    {
        var a = (Args*)state;
        int c = a->Channels, cells = a->Cells, lanes = Vector256<float>.Count;
        for (int n = n0; n < n1; n++)
        {
            int map = n * cells * c, ch = 0;
            float* x = a->X + map, y = a->Y + (long)n * c;
            int* argmax = a->Argmax + (long)n * c;
            for (; ch <= c - 4 * lanes; ch += 4 * lanes)
            {
                var (b0, i0) = First(x + ch);
                var (b1, i1) = First(x + ch + lanes);
                var (b2, i2) = First(x + ch + 2 * lanes);
                var (b3, i3) = First(x + ch + 3 * lanes);
                for (int i = 1; i < cells; i++)
                {
                    float* at = x + (long)i * c + ch;
                    var cell = Vector256.Create(i);
                    Keep(ref b0, ref i0, Vector256.Load(at), cell);
                    Keep(ref b1, ref i1, Vector256.Load(at + lanes), cell);
                    Keep(ref b2, ref i2, Vector256.Load(at + 2 * lanes), cell);
                    Keep(ref b3, ref i3, Vector256.Load(at + 3 * lanes), cell);
                }
                Store(y, argmax, map, c, ch, b0, i0, lanes); Store(y, argmax, map, c, ch + lanes, b1, i1, lanes);
                Store(y, argmax, map, c, ch + 2 * lanes, b2, i2, lanes); Store(y, argmax, map, c, ch + 3 * lanes, b3, i3, lanes);
            }
            for (; ch <= c - lanes; ch += lanes)
            {
                var (best, index) = First(x + ch);
                for (int i = 1; i < cells; i++) Keep(ref best, ref index, Vector256.Load(x + (long)i * c + ch), Vector256.Create(i));
                Store(y, argmax, map, c, ch, best, index, lanes);
            }
            if (ch < c && Avx.IsSupported)
            {
                var mask = Lanes256.FirstLanes(c - ch);
                var (best, index) = (Lanes256.LoadUnder(x + ch, mask), Vector256<int>.Zero);
                for (int i = 1; i < cells; i++) Keep(ref best, ref index, Lanes256.LoadUnder(x + (long)i * c + ch, mask), Vector256.Create(i));
                Store(y, argmax, map, c, ch, best, index, c - ch);
                continue;
            }
            for (; ch < c; ch++)
            {
                int first = ch;
                for (int i = 1; i < cells; i++)
                {
                    int at = i * c + ch;
                    if (x[at] > x[first]) first = at;
                }
                y[ch] = x[first];
                argmax[ch] = map + first;
            }
        }
    }

    private static unsafe (Vector256<float> Best, Vector256<int> Cell) First(float* at) => (Vector256.Load(at), Vector256<int>.Zero);

    /// <summary>v and its cell where v is strictly greater than the best so far.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Keep(ref Vector256<float> best, ref Vector256<int> index, Vector256<float> v, Vector256<int> cell)
    {
        var greater = Vector256.GreaterThan(v, best);
        best = Vector256.ConditionalSelect(greater, v, best);
        index = Vector256.ConditionalSelect(greater.AsInt32(), cell, index);
    }

    /// <summary>The first <paramref name="count"/> channels' maxima from <paramref name="ch"/> on, and where each lies in the batch.</summary>
    private static unsafe void Store(float* y, int* argmax, int map, int c, int ch, Vector256<float> best, Vector256<int> index, int count)
    {
        for (int l = 0; l < count; l++)
        {
            y[ch + l] = best.GetElement(l);
            argmax[ch + l] = map + index.GetElement(l) * c + ch + l;
        }
    }

    public override bool BackwardReadsInputs => false;
    public override bool BackwardReadsOutput => false;

    /// <summary>dx cleared and each channel's dy sent to its maximum's cell, the examples split between the threads.</summary>
    public override unsafe void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        if (!ctx.InputGradient) return;
        if (dx.Length < ctx.Batch * Input.Size || dy.Length < ctx.Batch * Input.Channels) throw new ArgumentException($"global max pooling: {dy.Length} and {dx.Length} floats for a batch of {ctx.Batch}");
        fixed (float* pdy = dy, pdx = dx)
        fixed (int* argmax = (int[])ctx.State!)
        {
            var args = new Args { DY = pdy, DX = pdx, Argmax = argmax, Channels = Input.Channels, Cells = Input.Height * Input.Width };
            ctx.Kernels.ParallelFor(ctx.Batch, &BackwardRange, &args, Input.Size);
        }
    }

    private static unsafe void BackwardRange(void* state, int part, int n0, int n1)
    {
        var a = (Args*)state;
        int c = a->Channels, size = a->Cells * c;
        new Span<float>(a->DX + (long)n0 * size, (n1 - n0) * size).Clear();
        for (long i = (long)n0 * c; i < (long)n1 * c; i++) a->DX[a->Argmax[i]] += a->DY[i];
    }
}
