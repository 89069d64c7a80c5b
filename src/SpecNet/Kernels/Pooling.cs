using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SpecNet.Schema;

namespace SpecNet.Kernels;

/// <summary>
/// Max pooling over NHWC tensors, split between threads by example. Forward keeps nothing but y: backward
/// finds each window's maximum again by comparing x with y, and sends dy to the first cell (in window order)
/// that holds it, as an index saved in forward would (padded cells never win). No index buffer to write in
/// forward or to keep between the passes, and inference does only the maxima.
/// </summary>
public static unsafe class Pooling
{
    /// <summary>What a thread needs to pool its share of examples.</summary>
    private unsafe struct Args
    {
        public float* X, Y, DY, DX;
        public Shape Input;
        public Window Rows, Cols;
        public bool PositiveOnly;
    }

    /// <summary>y = max over each window of x (NHWC).</summary>
    public static void MaxForward(Backend kernels, int batch, Shape input, Window rows, Window cols, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(batch, input, rows, cols, x.Length, y.Length, x.Length, y.Length);
        fixed (float* px = x, py = y)
        {
            var args = new Args { X = px, Y = py, Input = input, Rows = rows, Cols = cols };
            kernels.ParallelFor(batch, &ForwardRange, &args, input.Size + (long)rows.Output * cols.Output * input.Channels);
        }
    }

    /// <summary>y = max over each window of x for <paramref name="batch"/> examples, on the calling thread (a convolution pooling the block of output it has just computed).</summary>
    public static void MaxForwardOnThread(int batch, Shape input, Window rows, Window cols, float* x, float* y)
    {
        var args = new Args { X = x, Y = y, Input = input, Rows = rows, Cols = cols };
        ForwardRange(&args, 0, 0, batch);
    }

    /// <summary>
    /// dx = 0 except at each window's first maximum, which gets that output's dy (summed where windows overlap); with
    /// <paramref name="positiveOnly"/>, only where that maximum is positive: the gradient through a relu before the pooling too
    /// (the relu's own backward would zero the cells whose output is 0).
    /// </summary>
    public static void MaxBackward(Backend kernels, int batch, Shape input, Window rows, Window cols,
        ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, bool positiveOnly = false)
    {
        Check(batch, input, rows, cols, Math.Min(x.Length, dx.Length), Math.Min(y.Length, dy.Length), x.Length, y.Length);
        fixed (float* px = x, py = y, pdy = dy, pdx = dx)
        {
            var args = new Args { X = px, Y = py, DY = pdy, DX = pdx, Input = input, Rows = rows, Cols = cols, PositiveOnly = positiveOnly };
            kernels.ParallelFor(batch, &BackwardRange, &args, 2L * input.Size + 2L * rows.Output * cols.Output * input.Channels);
        }
    }

    /// <summary>
    /// <see cref="MaxBackward"/> over examples [n0, n1) on the calling thread, example n's dx at dx + n·input.Size: a convolution's
    /// output gradient made a chunk at a time in its scratch (<see cref="Convolution.BackwardThroughPooling"/>), whose pointer
    /// stands n0 examples before the scratch.
    /// </summary>
    public static void MaxBackwardOnThread(int n0, int n1, Shape input, Window rows, Window cols, float* x, float* y, float* dy, float* dx, bool positiveOnly)
    {
        var args = new Args { X = x, Y = y, DY = dy, DX = dx, Input = input, Rows = rows, Cols = cols, PositiveOnly = positiveOnly };
        BackwardRange(&args, 0, n0, n1);
    }

    /// <summary>The pointer loops below trust these sizes: a wrong one throws here instead of reading past a buffer.</summary>
    private static void Check(int batch, Shape input, Window rows, Window cols, int inputs, int outputs, int x, int y)
    {
        long needIn = (long)batch * input.Size, needOut = (long)batch * rows.Output * cols.Output * input.Channels;
        if (batch < 0 || inputs < needIn || outputs < needOut || rows.Input != input.Height || cols.Input != input.Width)
            throw new ArgumentException($"max pooling: buffers of {x} and {y} floats do not fit a batch of {batch} ({input} to {rows.Output}x{cols.Output})");
    }

    /// <summary>
    /// The input cells of example n's output (oh, ow), padding left out, in window order: their offsets into x (and dx) written
    /// to <paramref name="cells"/>, their count returned.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Cells(Args* a, int n, int oh, int ow, long* cells)
    {
        int ih = oh * a->Rows.Stride - a->Rows.PadBefore, iw = ow * a->Cols.Stride - a->Cols.PadBefore, count = 0;
        int ih1 = Math.Min(ih + a->Rows.Kernel, a->Input.Height), iw1 = Math.Min(iw + a->Cols.Kernel, a->Input.Width);
        for (int row = Math.Max(ih, 0); row < ih1; row++)
            for (int col = Math.Max(iw, 0); col < iw1; col++)
                cells[count++] = (((long)n * a->Input.Height + row) * a->Input.Width + col) * a->Input.Channels;
        return count;
    }

    /// <summary>2x2 windows by 2 with no padding (every pooling of the tutorial's models), which the loops below specialise.</summary>
    private static bool TwoByTwo(Args* a) => a->Rows.Tiles && a->Cols.Tiles && a->Rows.Kernel == 2 && a->Cols.Kernel == 2;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardRange(void* state, int part, int n0, int n1)
    {
        var a = (Args*)state;
        int c = a->Input.Channels, w = a->Input.Width, oh1 = a->Rows.Output, ow1 = a->Cols.Output;
        if (TwoByTwo(a))
        {
            // A window's four cells are two pairs of neighbours on two rows: no window arithmetic, whole vectors of 16 where
            // the machine has them (26x26x32 at batch 64: 0.17 -> 0.06 ms, Zen 4).
            for (int n = n0; n < n1; n++)
                for (int oh = 0; oh < oh1; oh++)
                {
                    float* top = a->X + ((long)n * a->Input.Height + 2 * oh) * w * c, bottom = top + (long)w * c;
                    float* y = a->Y + ((long)n * oh1 + oh) * ow1 * c;
                    for (int ow = 0; ow < ow1; ow++, top += 2 * c, bottom += 2 * c, y += c)
                        MaxOfFour(top, top + c, bottom, bottom + c, y, c);
                }
            return;
        }
        // Any other window: its cells found once per output, then each vector of channels is the maximum over them, as MaxOfFour
        // takes it. It had taken one 256-bit vector at a time over the window's cells, finding each cell again: a ResNet stem's
        // 3x3 windows by 2 over 32x32x64 at batch 64 took 1.63 ms forward, 0.99 now (Zen 5; PyTorch's 1.10 ms), the same maxima.
        long* cells = stackalloc long[a->Rows.Kernel * a->Cols.Kernel];
        for (int n = n0; n < n1; n++)
            for (int oh = 0; oh < oh1; oh++)
                for (int ow = 0; ow < ow1; ow++)
                    MaxOfCells(a->X, cells, Cells(a, n, oh, ow, cells), a->Y + (((long)n * oh1 + oh) * ow1 + ow) * c, c);
    }

    /// <summary>
    /// y = the maximum of the <paramref name="count"/> channels at x + each of <paramref name="cells"/>, in window order (padding
    /// left out; -∞ for none), the first winning ties: a vector of channels' maximum kept in a register across the cells. A channel count that is no
    /// multiple of 8 ends with a vector moved back to end at the last channel (its first lanes again, the same maxima).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MaxOfCells(float* x, long* cells, int cellCount, float* y, int count)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; j <= count - 16; j += 16)
            {
                var best = Vector512.Create(float.NegativeInfinity);
                for (int k = 0; k < cellCount; k++) best = Larger(best, x + cells[k] + j);
                best.Store(y + j);
            }
        for (; j < count && count >= 8; j += 8)
        {
            j = Math.Min(j, count - 8);
            var best = Vector256.Create(float.NegativeInfinity);
            for (int k = 0; k < cellCount; k++) best = Larger(best, x + cells[k] + j);
            best.Store(y + j);
        }
        if (count < 8 && Avx.IsSupported)
        {
            // fewer channels than a vector: all of them under a mask
            var mask = Lanes256.FirstLanes(count);
            var best = Vector256.Create(float.NegativeInfinity);
            for (int k = 0; k < cellCount; k++) best = Larger(best, Lanes256.LoadUnder(x + cells[k], mask));
            Lanes256.StoreUnder(best, y, mask);
            return;
        }
        for (; j < count; j++)
        {
            float best = float.NegativeInfinity;
            for (int k = 0; k < cellCount; k++) best = Larger(best, x[cells[k] + j]);
            y[j] = best;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardRange(void* state, int part, int n0, int n1)
    {
        var a = (Args*)state;
        int c = a->Input.Channels, h = a->Input.Height, w = a->Input.Width, oh1 = a->Rows.Output, ow1 = a->Cols.Output;
        // Windows that tile the input (stride = pool size) give each cell at most one gradient: it is stored, not
        // added, and only the cells no window covers (rows and columns dropped at the end) are cleared first.
        bool tiled = a->Rows.Stride == a->Rows.Kernel && a->Cols.Stride == a->Cols.Kernel, positiveOnly = a->PositiveOnly;
        int coveredRows = tiled ? Math.Min(h, oh1 * a->Rows.Stride - a->Rows.PadBefore) : 0;
        int coveredCols = tiled ? Math.Min(w, ow1 * a->Cols.Stride - a->Cols.PadBefore) : 0;
        for (int n = n0; n < n1; n++)
        {
            float* dx = a->DX + (long)n * a->Input.Size;
            for (int ih = 0; ih < h; ih++)
            {
                int from = ih < coveredRows ? coveredCols : 0;
                new Span<float>(dx + ((long)ih * w + from) * c, (w - from) * c).Clear();
            }
        }
        if (TwoByTwo(a))
        {
            // As forward: 26x26x32 at batch 64 0.41 -> 0.16 ms, Zen 4.
            for (int n = n0; n < n1; n++)
                for (int oh = 0; oh < oh1; oh++)
                {
                    long top = ((long)n * h + 2 * oh) * w * c, o = ((long)n * oh1 + oh) * ow1 * c;
                    float* x = a->X + top, dx = a->DX + top, y = a->Y + o, dy = a->DY + o;
                    for (int ow = 0; ow < ow1; ow++, x += 2 * c, dx += 2 * c, y += c, dy += c)
                        ToFirstMaximum(x, dx, c, (long)w * c, y, dy, c, positiveOnly);
                }
            return;
        }
        // Any other window as forward takes it: its cells found once per output (as offsets into x and dx), then each vector of
        // channels' gradient sent to the first cell that holds its maximum, in 512-bit vectors where the CPU has them. A ResNet
        // stem's 3x3 windows by 2 over 32x32x64 at batch 64: 3.88 -> 2.28 ms (Zen 5; PyTorch's 11.7 ms), 3x3 by 1 8.6-9.6 -> 4.7-6.7.
        long* cells = stackalloc long[a->Rows.Kernel * a->Cols.Kernel];
        for (int n = n0; n < n1; n++)
            for (int oh = 0; oh < oh1; oh++)
                for (int ow = 0; ow < ow1; ow++)
                {
                    long o = (((long)n * oh1 + oh) * ow1 + ow) * c;
                    ToFirstMaximumOfCells(cells, Cells(a, n, oh, ow, cells), a->X, a->DX, a->Y + o, a->DY + o, c, positiveOnly, tiled);
                }
    }

    /// <summary>
    /// A window's dy (<paramref name="count"/> channels; zero where y is not positive, with <paramref name="positiveOnly"/>) to the first
    /// of its cells (at these offsets into x and dx, in window order) that holds y: stored where windows tile the input
    /// (<paramref name="tiled"/>: each cell in this window alone, 0 to the others), else added.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ToFirstMaximumOfCells(long* cells, int cellCount, float* x, float* dx, float* y, float* dy, int count, bool positiveOnly, bool tiled)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; j <= count - 16; j += 16)
            {
                var (max, grad) = (Vector512.Load(y + j), Vector512.Load(dy + j));
                if (positiveOnly) grad &= Vector512.GreaterThan(max, Vector512<float>.Zero);
                var open = Vector512<float>.AllBitsSet;                        // lanes whose maximum is not yet found
                for (int k = 0; k < cellCount; k++) open = Send(x + cells[k] + j, dx + cells[k] + j, max, grad, open, add: !tiled);
            }
        for (; j <= count - 8; j += 8)
        {
            var (max, grad) = (Vector256.Load(y + j), Vector256.Load(dy + j));
            if (positiveOnly) grad &= Vector256.GreaterThan(max, Vector256<float>.Zero);
            var open = Vector256<float>.AllBitsSet;
            for (int k = 0; k < cellCount; k++) open = Send(x + cells[k] + j, dx + cells[k] + j, max, grad, open, add: !tiled);
        }
        if (j < count && Avx.IsSupported)
        {
            // the channels past the last whole vector (fewer than 8, or a tail: 12 = 8 + 4) under a mask; not a vector moved back
            // to end at the last channel, which would add its first lanes' gradients twice where windows overlap
            var mask = Lanes256.FirstLanes(count - j);
            var (max, grad) = (Lanes256.LoadUnder(y + j, mask), Lanes256.LoadUnder(dy + j, mask));
            if (positiveOnly) grad &= Vector256.GreaterThan(max, Vector256<float>.Zero);
            var open = Vector256<float>.AllBitsSet;
            for (int k = 0; k < cellCount; k++) open = SendUnder(x + cells[k] + j, dx + cells[k] + j, max, grad, open, mask, add: !tiled);
            return;
        }
        for (; j < count; j++)
        {
            float max = y[j], grad = positiveOnly && !(max > 0) ? 0 : dy[j];
            bool open = true;
            for (int k = 0; k < cellCount; k++)
            {
                long at = cells[k] + j;
                bool hit = open && x[at] == max;
                if (tiled) dx[at] = hit ? grad : 0;
                else if (hit) dx[at] += grad;
                open &= !hit;
            }
        }
    }

    /// <summary>y = the maximum of four cells' <paramref name="count"/> channels (padding never among them), the first winning ties.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MaxOfFour(float* p, float* q, float* r, float* s, float* y, int count)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; j <= count - 16; j += 16)
                Larger(Larger(Larger(Larger(Vector512.Create(float.NegativeInfinity), p + j), q + j), r + j), s + j).Store(y + j);
        for (; j < count && count >= 8; j += 8)
        {
            j = Math.Min(j, count - 8);   // the last vector moved back to end at the last channel: its first lanes again, the same maxima
            Larger(Larger(Larger(Larger(Vector256.Create(float.NegativeInfinity), p + j), q + j), r + j), s + j).Store(y + j);
        }
        if (count < 8 && Avx.IsSupported)
        {
            // fewer channels than a vector (LeNet-5's 6): all of them under a mask, the same maxima as one at a time (28x28x6 at
            // batch 64 after tanh, Zen 5: 0.46-0.54 -> 0.018 ms)
            var mask = Lanes256.FirstLanes(count);
            var best = Larger(Larger(Larger(Larger(Vector256.Create(float.NegativeInfinity), Lanes256.LoadUnder(p, mask)), Lanes256.LoadUnder(q, mask)),
                Lanes256.LoadUnder(r, mask)), Lanes256.LoadUnder(s, mask));
            Lanes256.StoreUnder(best, y, mask);
            return;
        }
        for (; j < count; j++)
            y[j] = Larger(Larger(Larger(Larger(float.NegativeInfinity, p[j]), q[j]), r[j]), s[j]);
    }

    // A cell replaces the best so far only when greater: the first maximum stays, and NaN never wins (as ForwardRange).
    private static Vector512<float> Larger(Vector512<float> best, float* cell)
    {
        var v = Vector512.Load(cell);
        return Vector512.ConditionalSelect(Vector512.GreaterThan(v, best), v, best);
    }

    private static Vector256<float> Larger(Vector256<float> best, float* cell) => Larger(best, Vector256.Load(cell));

    private static Vector256<float> Larger(Vector256<float> best, Vector256<float> v) => Vector256.ConditionalSelect(Vector256.GreaterThan(v, best), v, best);

    private static float Larger(float best, float cell) => cell > best ? cell : best;

    /// <summary>
    /// A window's dy (<paramref name="count"/> channels; zero where y is not positive, with <paramref name="positiveOnly"/>) to the first
    /// of its four cells that holds y, 0 to the others; stored, each cell in this window alone. The cells: x, one to the right, one
    /// down, and both (<paramref name="right"/>, <paramref name="down"/> floats on), the same offsets into dx.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ToFirstMaximum(float* x, float* dx, long right, long down, float* y, float* dy, int count, bool positiveOnly)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; j <= count - 16; j += 16)
            {
                var max = Vector512.Load(y + j);
                var g = Vector512.Load(dy + j);
                if (positiveOnly) g &= Vector512.GreaterThan(max, Vector512<float>.Zero);
                var open = Vector512<float>.AllBitsSet;                  // lanes whose maximum is not yet found
                open = Send(x + j, dx + j, max, g, open);
                open = Send(x + right + j, dx + right + j, max, g, open);
                open = Send(x + down + j, dx + down + j, max, g, open);
                Send(x + down + right + j, dx + down + right + j, max, g, open);
            }
        for (; j < count && count >= 8; j += 8)
        {
            j = Math.Min(j, count - 8);   // the last vector moved back to end at the last channel: its first lanes stored again, the same values
            var max = Vector256.Load(y + j);
            var g = Vector256.Load(dy + j);
            if (positiveOnly) g &= Vector256.GreaterThan(max, Vector256<float>.Zero);
            var open = Vector256<float>.AllBitsSet;
            open = Send(x + j, dx + j, max, g, open);
            open = Send(x + right + j, dx + right + j, max, g, open);
            open = Send(x + down + j, dx + down + j, max, g, open);
            Send(x + down + right + j, dx + down + right + j, max, g, open);
        }
        if (count < 8 && Avx.IsSupported)
        {
            // fewer channels than a vector: all of them under a mask (28x28x6 at batch 64, Zen 5: 0.63-0.78 -> 0.07 ms)
            var mask = Lanes256.FirstLanes(count);
            var (max, g) = (Lanes256.LoadUnder(y, mask), Lanes256.LoadUnder(dy, mask));
            if (positiveOnly) g &= Vector256.GreaterThan(max, Vector256<float>.Zero);
            var open = Vector256<float>.AllBitsSet;
            open = SendUnder(x, dx, max, g, open, mask);
            open = SendUnder(x + right, dx + right, max, g, open, mask);
            open = SendUnder(x + down, dx + down, max, g, open, mask);
            SendUnder(x + down + right, dx + down + right, max, g, open, mask);
            return;
        }
        if (j < count) ToFirstMaximumByOne(x, dx, right, down, y, dy, j, count, positiveOnly);
    }

    /// <summary>Channels [j, count) of <see cref="ToFirstMaximum"/>, one at a time.</summary>
    private static void ToFirstMaximumByOne(float* x, float* dx, long right, long down, float* y, float* dy, int j, int count, bool positiveOnly)
    {
        for (; j < count; j++)
        {
            float max = y[j], g = positiveOnly && !(max > 0) ? 0 : dy[j];
            bool open = true;
            foreach (long at in (ReadOnlySpan<long>)[j, right + j, down + j, down + right + j])
            {
                bool hit = open && x[at] == max;
                dx[at] = hit ? g : 0;
                open &= !hit;
            }
        }
    }

    /// <summary>
    /// dx = dy in the open lanes where x holds the maximum, else 0 (with <paramref name="add"/>, added to dx: windows that overlap);
    /// the lanes still open after this cell.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Send(float* x, float* dx, Vector512<float> max, Vector512<float> dy, Vector512<float> open, bool add = false)
    {
        var hit = Vector512.Equals(Vector512.Load(x), max) & open;
        (add ? Vector512.Load(dx) + (hit & dy) : hit & dy).Store(dx);
        return open & ~hit;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Send(float* x, float* dx, Vector256<float> max, Vector256<float> dy, Vector256<float> open, bool add = false)
    {
        var hit = Vector256.Equals(Vector256.Load(x), max) & open;
        (add ? Vector256.Load(dx) + (hit & dy) : hit & dy).Store(dx);
        return open & ~hit;
    }

    /// <summary><see cref="Send(float*, float*, Vector256{float}, Vector256{float}, Vector256{float}, bool)"/> for the lanes under <paramref name="mask"/> alone: fewer channels than a vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> SendUnder(float* x, float* dx, Vector256<float> max, Vector256<float> dy, Vector256<float> open, Vector256<float> mask, bool add = false)
    {
        var hit = Vector256.Equals(Lanes256.LoadUnder(x, mask), max) & open;
        Lanes256.StoreUnder(add ? Lanes256.LoadUnder(dx, mask) + (hit & dy) : hit & dy, dx, mask);
        return open & ~hit;
    }
}
