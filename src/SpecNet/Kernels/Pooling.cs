using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using SpecNet.Schema;

namespace SpecNet.Kernels;

/// <summary>
/// Max pooling over NHWC tensors, split between threads by example: forward keeps the input index of each
/// maximum (padded cells never win; the first maximum wins ties), backward sends each dy to it.
/// </summary>
public static unsafe class Pooling
{
    /// <summary>What a thread needs to pool its share of examples.</summary>
    private unsafe struct Args
    {
        public float* X, Y;
        public int* Argmax;
        public Shape Input;
        public Window Rows, Cols;
        public int InSize, OutSize;
    }

    /// <summary>y = max over each window of x (NHWC); argmax = the input index each maximum came from.</summary>
    public static void MaxForward(Backend kernels, int batch, Shape input, Window rows, Window cols, ReadOnlySpan<float> x, Span<float> y, Span<int> argmax)
    {
        int outSize = rows.Output * cols.Output * input.Channels;
        if (x.Length < batch * input.Size || y.Length < batch * outSize || argmax.Length < batch * outSize)
            throw new ArgumentException($"max pooling: buffers of {x.Length}, {y.Length}, {argmax.Length} do not fit a batch of {batch}");
        fixed (float* px = x, py = y)
        fixed (int* pa = argmax)
        {
            var args = new Args { X = px, Y = py, Argmax = pa, Input = input, Rows = rows, Cols = cols };
            kernels.ParallelFor(batch, &ForwardRange, &args, input.Size + 2L * outSize);
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

    /// <summary>dx = 0 except at each window's maximum, which gets that output's dy.</summary>
    public static void MaxBackward(Backend kernels, int batch, int inSize, int outSize, ReadOnlySpan<float> dy, ReadOnlySpan<int> argmax, Span<float> dx)
    {
        if (dx.Length < batch * inSize || dy.Length < batch * outSize || argmax.Length < batch * outSize)
            throw new ArgumentException($"max pooling: buffers of {dx.Length}, {dy.Length}, {argmax.Length} do not fit a batch of {batch}");
        fixed (float* pdy = dy, pdx = dx)
        fixed (int* pa = argmax)
        {
            var args = new Args { X = pdx, Y = pdy, Argmax = pa, InSize = inSize, OutSize = outSize };
            kernels.ParallelFor(batch, &BackwardRange, &args, inSize + 2L * outSize);
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
