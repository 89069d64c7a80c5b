using System.Runtime.CompilerServices;
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

    public override object? CreateState(int capacity, bool training) => new int[capacity * Output.Size]; // argmax: input index per output

    /// <summary>What a thread needs to pool its share of examples.</summary>
    private unsafe struct Args
    {
        public float* X, Y;
        public int* Argmax;
        public Shape Input;
        public Window Rows, Cols;
        public int InSize, OutSize;
    }

    public override unsafe void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        fixed (float* px = x, py = y)
        fixed (int* pa = (int[])ctx.State!)
        {
            var args = new Args { X = px, Y = py, Argmax = pa, Input = Input, Rows = Rows, Cols = Cols };
            ctx.Kernels.ParallelFor(ctx.Batch, &ForwardRange, &args);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardRange(void* state, int part, int n0, int n1)
    {
        var a = (Args*)state;
        Window rows = a->Rows, cols = a->Cols;
        int c = a->Input.Channels, h = a->Input.Height, w = a->Input.Width;
        var input = new ReadOnlySpan<float>(a->X, n1 * a->Input.Size);
        for (int n = n0; n < n1; n++)
            for (int oh = 0; oh < rows.Output; oh++)
                for (int ow = 0; ow < cols.Output; ow++)
                {
                    int o = ((n * rows.Output + oh) * cols.Output + ow) * c;
                    var best = new Span<float>(a->Y + o, c);
                    var where = new Span<int>(a->Argmax + o, c);
                    best.Fill(float.NegativeInfinity);
                    where.Fill(-1);
                    for (int kh = 0; kh < rows.Kernel; kh++)
                    {
                        int ih = oh * rows.Stride - rows.PadBefore + kh;
                        if ((uint)ih >= (uint)h) continue;
                        for (int kw = 0; kw < cols.Kernel; kw++)
                        {
                            int iw = ow * cols.Stride - cols.PadBefore + kw;
                            if ((uint)iw >= (uint)w) continue;
                            int at = ((n * h + ih) * w + iw) * c;
                            MaxInto(input.Slice(at, c), at, best, where);
                        }
                    }
                }
    }

    /// <summary>best = max(best, cell) per channel, remembering where the maximum came from (first wins on ties).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
        fixed (float* pdy = dy, pdx = dx)
        fixed (int* pa = (int[])ctx.State!)
        {
            var args = new Args { X = pdx, Y = pdy, Argmax = pa, InSize = Input.Size, OutSize = Output.Size };
            ctx.Kernels.ParallelFor(ctx.Batch, &BackwardRange, &args);
        }
    }

    /// <summary>dx = 0, then each output's gradient goes to the input cell that won (examples own disjoint cells).</summary>
    private static unsafe void BackwardRange(void* state, int part, int n0, int n1)
    {
        var a = (Args*)state;
        new Span<float>(a->X + (long)n0 * a->InSize, (n1 - n0) * a->InSize).Clear();
        for (int i = n0 * a->OutSize; i < n1 * a->OutSize; i++) a->X[a->Argmax[i]] += a->Y[i];
    }
}
