using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using SpecNet.Schema;

namespace SpecNet.Kernels;

/// <summary>
/// A depthwise convolution computed directly over channel vectors (NHWC): every input channel c is
/// convolved with its own M filters, y[n,i,j,c·M+m] = Σ_taps x[n, i·s - pad + di·d, j·s - pad + dj·d, c] ·
/// w[di, dj, c·M+m], kernel stored [KH, KW, C·M] so that a tap's weights for all channels are one vector.
/// Memory-bound, so no GEMM: each tap is one fused multiply-add over the channels. Work is split by
/// example between threads; the weight gradient is summed from per-thread partials in thread order.
/// With one filter per channel and whole vectors of channels (the common case), each output vector is
/// summed over its taps in a register, and the backward pass's updates are inline vector operations; a 3x3 kernel's weight
/// gradient is summed in registers too (a 5x5 or 7x7 one's at stride 1 a kernel row at a time), and with strides of 2 each
/// input gradient is gathered and stored once. Other
/// layouts (several filters per channel, channels not a whole vector) run on the same paths over their input spread out
/// (<see cref="Spread"/>).
/// </summary>
public sealed unsafe class DepthwiseConvolution : IRangeWork
{
    private readonly Shape _input;
    private readonly Window _rows, _cols;
    private readonly int _multiplier, _capacity;
    private readonly float[] _dWeights;   // per slice of the batch (BatchSlices), one after another: partial dW (KH, KW, C·M)
    private readonly bool[] _used;        // per slice: whether its partial holds a sum yet
    private readonly int _threads;
    private int _slices;                  // backward: slices of the batch's examples

    // The pass being run (set by Forward/Backward, read by the threads in Run).
    private bool _backward, _weightGradient;
    private int _batch;
    private float* _x, _w, _y, _dy, _dx;

    public DepthwiseConvolution(Shape input, Window rows, Window cols, int multiplier, int capacity, bool training, Backend kernels)
    {
        (_input, _rows, _cols, _multiplier, _capacity) = (input, rows, cols, multiplier, capacity);
        _threads = kernels.Threads;
        if (Spreads(input, multiplier))   // the convolution over the spread input holds the tables and scratch: none of this one's own
        {
            _spread = new Spread(this, capacity, training, kernels);
            (_used, _dWeights, _tapOffsets, _forwardOffsets, _rowTaps, _colTaps) = ([], [], [], [], [], []);
            return;
        }
        _used = new bool[BatchSlices.Most(capacity, _threads, WeightCount)];
        _dWeights = new float[training ? _used.Length * WeightCount : 0];
        // Where each tap reads, relative to its window's first pixel (in floats), and per output row and
        // column the taps that read inside the input: no bounds checks in the loops, and windows with
        // every tap inside take the fast paths.
        _tapOffsets = new int[rows.Kernel * cols.Kernel];
        for (int di = 0; di < rows.Kernel; di++)
            for (int dj = 0; dj < cols.Kernel; dj++)
                _tapOffsets[di * cols.Kernel + dj] = (di * rows.Dilation * input.Width + dj * cols.Dilation) * input.Channels;
        (_rowTaps, _colTaps) = (TapRanges(rows, input.Height), TapRanges(cols, input.Width));
        // Forward (vector paths) reads padded windows from a copy inside a zero border, per thread.
        bool padded = rows.Padded || cols.Padded;
        _paddedWidth = padded ? cols.Spanned(cols.Output) : input.Width;
        if (padded && Vectors && !ThreeWide)
            _padded = Enumerable.Range(0, kernels.Threads).Select(_ => new float[rows.Spanned(rows.Output) * _paddedWidth * input.Channels]).ToArray();
        _forwardOffsets = _tapOffsets.Select((_, t) => ((t / cols.Kernel) * rows.Dilation * _paddedWidth + (t % cols.Kernel) * cols.Dilation) * input.Channels).ToArray();
        _bordered = training && ThreeByThree;
        if (_bordered && rows.Stride == 2 && cols.Stride == 2)
        {
            _borderedDy = Enumerable.Range(0, kernels.Threads).Select(_ => new float[(rows.Output + 2) * (cols.Output + 2) * input.Channels]).ToArray();
            _zeroRow = new float[(input.Width + 2) * input.Channels];
        }
        else if (_bordered)
            _borderedX = Enumerable.Range(0, kernels.Threads).Select(_ => new float[(input.Height + 2) * (input.Width + 2) * input.Channels]).ToArray();
        if (training && multiplier == 1 && rows.Stride == 1 && cols.Stride == 1)
        {
            _transposed = new DepthwiseConvolution(Shape.Spatial(rows.Output, cols.Output, input.Channels), rows.Transposed(), cols.Transposed(), 1, capacity, training: false, kernels);
            _flipped = new float[WeightCount];
        }
    }

    /// <summary>
    /// Stride 1, one filter per channel: dX is the depthwise convolution of dY with the kernel flipped, padded by
    /// (k - 1)·dilation - pad, and runs on the forward path's blocks (each dX computed once, in registers) instead of
    /// nine read-modify-writes per input vector.
    /// </summary>
    private readonly DepthwiseConvolution? _transposed;
    private readonly float[] _flipped = [];

    /// <summary>
    /// Training, <see cref="ThreeByThree"/> (<see cref="_bordered"/>): per thread, with strides of 1 an example's input inside a border
    /// of zeros one pixel wide, and with strides of 2 its output gradient the same way: every tap of every window then reads inside
    /// them, so that the weight gradient sums in registers and the input gradient gathers its sums, with no test per tap
    /// (<see cref="WeightGradient3x3"/>, <see cref="GatherByTwo"/>). With strides of 2 the weight gradient reads the input in
    /// place instead, a row of zeros (<see cref="_zeroRow"/>) for the padding's.
    /// </summary>
    private readonly float[][] _borderedX = [], _borderedDy = [];
    private readonly float[] _zeroRow = [];
    private readonly bool _bordered;

    private readonly Spread? _spread;                // other layouts: the convolution over the input spread to one filter per channel

    private readonly int[] _tapOffsets;              // per tap: where it reads from its window's first pixel, in floats (in x)
    private readonly int[] _forwardOffsets;          // the same in what forward reads: x, or the padded copy
    private readonly float[][]? _padded;             // per thread, padded windows: the input inside a zero border
    private readonly int _paddedWidth;               // columns of what forward reads
    private readonly (int First, int Last)[] _rowTaps, _colTaps;

    /// <summary>Per output index along an axis, the taps [First, Last] that read inside the input (the others read padding).</summary>
    private static (int, int)[] TapRanges(Window axis, int size) => Enumerable.Range(0, axis.Output).Select(o =>
    {
        int start = o * axis.Stride - axis.PadBefore;
        int first = start >= 0 ? 0 : (-start + axis.Dilation - 1) / axis.Dilation;
        int last = start > size - 1 ? -1 : Math.Min(axis.Kernel - 1, (size - 1 - start) / axis.Dilation);
        return (first, last);
    }).ToArray();

    /// <summary>Whether output (i, j)'s window reads no padding.</summary>
    private bool Inside(int i, int j) =>
        _rowTaps[i].First == 0 && _rowTaps[i].Last == _rows.Kernel - 1 && _colTaps[j].First == 0 && _colTaps[j].Last == _cols.Kernel - 1;

    private int OutChannels => _input.Channels * _multiplier;
    private int Taps => _rows.Kernel * _cols.Kernel;
    private int WeightCount => Taps * OutChannels;
    private int OutputSize => _rows.Output * _cols.Output * OutChannels;

    /// <summary>
    /// y (N, OH, OW, C·M) = the depthwise convolution of x with w; no bias. The epilogue, when given, runs on each image's output
    /// as soon as it is computed (bias, a folded batch norm, relu: while it is in cache, not as a pass of its own).
    /// </summary>
    public void Forward(Backend kernels, int batch, ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, IRowsEpilogue? epilogue = null)
    {
        Check(kernels, batch, x.Length, w.Length, y.Length, 0);
        fixed (float* px = x, pw = w, py = y)
        {
            (_backward, _batch, _epilogue) = (false, batch, epilogue);
            _x = px; _w = pw; _y = py;
            kernels.ParallelForEach(batch, this, (long)OutputSize * _rows.Kernel * _cols.Kernel);   // each image's output alone: a thread's own share, then the other's end
            _epilogue = null;
        }
    }

    private IRowsEpilogue? _epilogue;

    /// <summary>
    /// Inference: this convolution as the input of a 1x1 convolution (<see cref="Convolution.ReadInputFrom"/>), computed a block
    /// of rows at a time into that convolution's scratch, the epilogue applied, instead of as a pass of its own: its output
    /// never goes through memory. It reads its own input from the tensor x, or, given <paramref name="upstream"/>, asks that
    /// for the rows under each block (a 1x1 convolution's output, made on the spot in turn). x and w are read when the
    /// rows are asked for.
    /// </summary>
    public IRowsSource AsSource(float[] x, IRowsSource? upstream, float[] w, IRowsEpilogue? epilogue, int threads)
    {
        var inputs = upstream is null ? [] : Enumerable.Range(0, threads).Select(_ => new float[_input.Size]).ToArray();
        return new Source(this, x, upstream, inputs, w, epilogue);
    }

    private sealed class Source(DepthwiseConvolution owner, float[] x, IRowsSource? upstream, float[][] inputs, float[] w, IRowsEpilogue? epilogue) : IRowsSource
    {
        public void Rows(int part, bool nested, int n0, int n1, int row0, int row1, Span<float> into)
        {
            var (input, rows) = (owner._input, owner._rows);
            int rowSize = owner._cols.Output * owner.OutChannels, size = (row1 - row0) * rowSize, inputRow = input.Width * input.Channels;
            if (n0 < 0 || n1 > owner._capacity || row0 < 0 || row1 > rows.Output || into.Length < (n1 - n0) * size || upstream is null && x.Length < n1 * input.Size)
                throw new ArgumentException($"depthwise convolution: rows [{row0}, {row1}) of examples [{n0}, {n1}) do not fit");
            var (first, last) = rows.Reads(row0, row1);   // the input rows under rows [row0, row1)
            fixed (float* px = x, pw = w, py = into, made = upstream is null ? null : inputs[part])
                for (int n = n0; n < n1; n++)
                {
                    float* image = px + (long)n * input.Size;
                    if (upstream is not null)
                    {
                        upstream.Rows(part, nested, n, n + 1, first, last, new Span<float>(made, (last - first) * inputRow));
                        image = made - (long)first * inputRow;   // where the image would start: its rows are read by their index
                    }
                    float* y = py + (long)(n - n0) * size;
                    owner.ForwardRows(part, image, pw, y, row0, row1);
                    epilogue?.ApplyRows(new Span<float>(y, size), (long)n * owner.OutputSize + row0 * rowSize);
                }
        }

        public void Prepare() => upstream?.Prepare();
    }

    /// <summary>dW = the kernel's gradient (overwritten); dx = the input's gradient (overwritten) unless empty.</summary>
    public void Backward(Backend kernels, int batch, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> dy, Span<float> dW, Span<float> dx)
    {
        Check(kernels, batch, x.Length, w.Length, dy.Length, dx.Length);
        if (_spread is not null) { _spread.Backward(kernels, batch, x, w, dy, dW, dx); return; }
        _weightGradient = !dW.IsEmpty;                                   // empty: a frozen layer, only dx is wanted
        if (_weightGradient && (dW.Length != WeightCount || _dWeights.Length == 0)) throw new ArgumentException("depthwise convolution: dW of the wrong size, or a plan without training scratch");
        Array.Clear(_used);
        bool transposed = _transposed is not null && !dx.IsEmpty;
        if (_weightGradient || !transposed)
            fixed (float* px = x, pw = w, pdy = dy, pdx = dx)
            {
                (_backward, _batch) = (true, batch);
                _x = px; _w = pw; _dy = pdy; _dx = dx.IsEmpty || transposed ? null : pdx;
                _slices = BatchSlices.Count(batch, kernels.Threads, WeightCount);   // each with its partial dW, taken by whichever thread is free
                kernels.ParallelForEach(_slices, this, (long)OutputSize * _rows.Kernel * _cols.Kernel * batch / _slices);
            }
        if (transposed)
        {
            int taps = _rows.Kernel * _cols.Kernel, c = OutChannels;
            for (int t = 0; t < taps; t++) w.Slice(t * c, c).CopyTo(_flipped.AsSpan((taps - 1 - t) * c, c));   // tap (i, j) -> (KH-1-i, KW-1-j)
            _transposed!.Forward(kernels, batch, dy, _flipped, dx);
        }
        if (!_weightGradient) return;
        if (!BatchSlices.AddInOrder(kernels, _dWeights, WeightCount, _used, dW)) dW.Clear();
    }

    private void Check(Backend kernels, int batch, int x, int w, int y, int dx)
    {
        if (batch < 1 || batch > _capacity || x < batch * _input.Size || w != WeightCount || y < batch * OutputSize
            || dx != 0 && dx < batch * _input.Size || kernels.Threads != _threads)
            throw new ArgumentException($"depthwise convolution: buffers of {x}, {w}, {y}, {dx} floats do not fit a batch of {batch} on {kernels.Threads} threads");
    }

    /// <summary>Forward: examples [n0, n1) on thread <paramref name="part"/>; backward: slices [n0, n1) of the batch.</summary>
    public void Run(int part, int n0, int n1, bool nested)
    {
        if (!_backward)
        {
            for (int n = n0; n < n1; n++)
            {
                float* y = _y + (long)n * OutputSize;
                ForwardRows(part, _x + (long)n * _input.Size, _w, y, 0, _rows.Output);
                _epilogue?.ApplyRows(new Span<float>(y, OutputSize), (long)n * OutputSize);
            }
            return;
        }
        for (int slice = n0; slice < n1; slice++)
        {
            var (first, end) = BatchSlices.Items(_batch, _slices, slice);
            BackwardExamples(part, slice, first, end);
        }
    }

    /// <summary>Backward over examples [n0, n1) on thread <paramref name="part"/>, their dW added to slice <paramref name="slice"/>'s.</summary>
    private void BackwardExamples(int part, int slice, int n0, int n1)
    {
        int w = _input.Width, c = _input.Channels, co = OutChannels, m = _multiplier;
        var weights = new ReadOnlySpan<float>(_w, WeightCount);
        Span<float> dW = _weightGradient ? _dWeights.AsSpan(slice * WeightCount, WeightCount) : default;
        if (_weightGradient && !_used[slice]) { dW.Clear(); _used[slice] = true; }
        for (int n = n0; n < n1; n++)
        {
            if (_bordered)
            {
                float* image = _x + (long)n * _input.Size, gradient = _dy + (long)n * OutputSize, into = _dx == null ? null : _dx + (long)n * _input.Size;
                fixed (float* pdW = dW, bx = _borderedX.Length > 0 ? _borderedX[part] : null, bdy = _borderedDy.Length > 0 ? _borderedDy[part] : null)
                {
                    if (pdW != null)
                        fixed (float* zeros = _zeroRow)
                        {
                            // strides of 2: the image in place; else its bordered copy, one pixel in from each side, every window inside
                            float* from = image;
                            int height = _input.Height, width = _input.Width, top = _rows.PadBefore, left = _cols.PadBefore;
                            if (bx != null)
                            {
                                Border(image, height, width, bx);
                                from = bx;
                                (height, width, top, left) = (height + 2, width + 2, top - 1, left - 1);
                            }
                            if (WideChannels) WeightGradient3x3<Lanes512, Vector512<float>>(from, height, width, top, left, zeros, gradient, pdW);
                            else WeightGradient3x3<Lanes256, Vector256<float>>(from, height, width, top, left, zeros, gradient, pdW);
                        }
                    if (into == null) continue;
                    if (bdy == null) { BackwardVectors(image, gradient, into, null); continue; }   // a stride of 1 on one axis only
                    Border(gradient, _rows.Output, _cols.Output, bdy);
                    if (WideChannels) GatherByTwo<Lanes512, Vector512<float>>(bdy, into); else GatherByTwo<Lanes256, Vector256<float>>(bdy, into);
                }
                continue;
            }
            if (Vectors)
            {
                fixed (float* pdW = dW, copy = _padded?[part])
                    if (_dx == null && pdW != null && FiveOrSevenAtStrideOne)
                        WeightGradientOfWide(copy, _x + (long)n * _input.Size, _dy + (long)n * OutputSize, pdW);
                    else if (_dx == null && pdW != null && copy != null) WeightGradientPadded(copy, _x + (long)n * _input.Size, _dy + (long)n * OutputSize, pdW);
                    else BackwardVectors(_x + (long)n * _input.Size, _dy + (long)n * OutputSize, _dx == null ? null : _dx + (long)n * _input.Size, pdW);
                continue;
            }
            var x = new ReadOnlySpan<float>(_x + (long)n * _input.Size, _input.Size);
            var dy = new ReadOnlySpan<float>(_dy + (long)n * OutputSize, OutputSize);
            var dx = _dx != null ? new Span<float>(_dx + (long)n * _input.Size, _input.Size) : default;
            dx.Clear();
            for (int i = 0; i < _rows.Output; i++)
                for (int j = 0; j < _cols.Output; j++)
                {
                    int at = (i * _cols.Output + j) * co;
                    for (int di = _rowTaps[i].First; di <= _rowTaps[i].Last; di++)
                    {
                        int ih = i * _rows.Stride - _rows.PadBefore + di * _rows.Dilation;
                        for (int dj = _colTaps[j].First; dj <= _colTaps[j].Last; dj++)
                        {
                            int iw = j * _cols.Stride - _cols.PadBefore + dj * _cols.Dilation;
                            int from = (ih * w + iw) * c, tap = (di * _cols.Kernel + dj) * co;
                            if (m == 1)
                            {
                                var xs = x.Slice(from, c);
                                var dys = dy.Slice(at, c);
                                if (!dW.IsEmpty) { var dws = dW.Slice(tap, c); TensorPrimitives.FusedMultiplyAdd(xs, dys, dws, dws); } // dW[tap] += x · dy
                                if (!dx.IsEmpty) { var dxs = dx.Slice(from, c); TensorPrimitives.FusedMultiplyAdd(dys, weights.Slice(tap, c), dxs, dxs); } // dx += dy · w
                                continue;
                            }
                            for (int o = 0; o < co; o++)
                            {
                                int ci = from + o / m;
                                if (!dW.IsEmpty) dW[tap + o] += x[ci] * dy[at + o];
                                if (!dx.IsEmpty) dx[ci] += dy[at + o] * weights[tap + o];
                            }
                        }
                    }
                }
        }
    }

    /// <summary>One filter per channel and whole vectors of channels: the fast paths.</summary>
    private bool Vectors => _multiplier == 1 && _input.Channels % Lanes == 0 && Vector256.IsHardwareAccelerated;

    /// <summary>Whether a depthwise convolution of this input and multiplier runs over its input spread out (<see cref="Spread"/>).</summary>
    private static bool Spreads(Shape input, int multiplier) => Vector256.IsHardwareAccelerated && (multiplier > 1 || input.Channels % Lanes != 0);

    /// <summary>Floats per example of training's buffers for the spread input, its gradient and the output's gradient (<see cref="Spread"/>); 0 where none.</summary>
    public static long ValuesPerExample(Shape input, Window rows, Window cols, int multiplier, bool training)
    {
        if (!training || !Spreads(input, multiplier)) return 0;
        int channels = ChannelSpread.ChannelsOf(input.Channels * multiplier);
        return 2L * input.Height * input.Width * channels + (channels != input.Channels * multiplier ? (long)rows.Output * cols.Output * channels : 0);
    }

    /// <summary>Output rows [i0, i1) of one example into y (row i0 first), with kernel w; no epilogue.</summary>
    private void ForwardRows(int part, float* x, float* w, float* y, int i0, int i1)
    {
        if (Vectors) { ForwardVectors(part, x, w, y, i0, i1); return; }
        if (_spread is not null) { _spread.ForwardRows(part, x, w, y, i0, i1); return; }
        int width = _input.Width, c = _input.Channels, co = OutChannels, m = _multiplier;
        new Span<float>(y, (i1 - i0) * _cols.Output * co).Clear();
        for (int i = i0; i < i1; i++)
            for (int j = 0; j < _cols.Output; j++)
            {
                float* yo = y + ((i - i0) * _cols.Output + j) * co;
                for (int di = _rowTaps[i].First; di <= _rowTaps[i].Last; di++)
                {
                    int ih = i * _rows.Stride - _rows.PadBefore + di * _rows.Dilation;
                    for (int dj = _colTaps[j].First; dj <= _colTaps[j].Last; dj++)
                    {
                        int iw = j * _cols.Stride - _cols.PadBefore + dj * _cols.Dilation;
                        float* xs = x + (ih * width + iw) * c, ws = w + (di * _cols.Kernel + dj) * co;
                        if (m == 1)
                        {
                            var ys = new Span<float>(yo, c);
                            TensorPrimitives.FusedMultiplyAdd(new ReadOnlySpan<float>(xs, c), new ReadOnlySpan<float>(ws, c), ys, ys);
                            continue;
                        }
                        for (int o = 0; o < co; o++) yo[o] += xs[o / m] * ws[o];
                    }
                }
            }
    }

    private static readonly int Lanes = Vector256<float>.Count;

    /// <summary>
    /// Whether this convolution's 3x3 kernels (forward's 3-wide ones, the weight gradient's, the stride-2 input gradient's) run in
    /// 512-bit vectors: the CPU has them and the channels fill them. Each kernel is written once over the width (<see cref="ILanes{TVector}"/>):
    /// the same sums in the same order at either.
    /// </summary>
    private bool WideChannels => Vector512.IsHardwareAccelerated && _input.Channels % 16 == 0;

    /// <summary>
    /// Output rows [i0, i1) of one example (row i0 at y), one filter per channel: y[i, j, v] = Σ_taps x[tap's pixel, v] · weights[tap, v],
    /// summed in a register, every window on a fast path. Each row goes in blocks of eight (or four) outputs, the last block
    /// moved back to end at the row's end: a few outputs computed twice, to the same value, rather than one at a time.
    /// A 3-wide kernel (stride 1 or 2, padding of at most one column a side) reads x in place: a window's kernel rows in the
    /// padding are left out, and a row's first and last blocks leave out the column in the padding. Other padded windows read
    /// this thread's copy of the input rows inside a zero border (a tap in the padding adds 0·w: the same sum as leaving it
    /// out, as the sums start at +0); a 5- or 7-wide kernel at stride 1 there loads each input column of a kernel row once
    /// (<see cref="EightOfWide"/>), the others go four outputs at a time (<see cref="Four"/>). Channels in whole 512-bit vectors
    /// run in them where the CPU has them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ForwardVectors(int part, float* x, float* weights, float* y, int i0, int i1)
    {
        int c = _input.Channels, taps = _forwardOffsets.Length, n = _cols.Output, width = _input.Width;
        if (ThreeWide)
        {
            int rowSize = width * c, step = _cols.Stride * c, dilatedRow = _rows.Dilation * rowSize, left = _cols.PadBefore * c;
            for (int i = i0; i < i1; i++)
            {
                var (first, last) = _rowTaps[i];
                float* origin = x + (long)(i * _rows.Stride - _rows.PadBefore + first * _rows.Dilation) * rowSize - left, yi = y + (long)(i - i0) * n * c;
                float* wi = weights + first * 3 * c;
                for (int j = 0; ; j += 8)
                {
                    int at = Math.Min(j, n - 8);
                    bool skipFirst = at == 0 && _cols.PadBefore > 0, skipLast = at == n - 8 && _colTaps[n - 1].Last < 2;
                    float* from = origin + at * step, into = yi + at * c;
                    int rows = last - first + 1;
                    if (WideChannels)
                    {
                        if (_cols.Stride == 1) EightOfThreeWide<Lanes512, Vector512<float>>(from, rows, dilatedRow, wi, into, c, skipFirst, skipLast);
                        else EightOfThreeWideByTwo<Lanes512, Vector512<float>>(from, rows, dilatedRow, wi, into, c, skipFirst, skipLast);
                    }
                    else if (_cols.Stride == 1) EightOfThreeWide<Lanes256, Vector256<float>>(from, rows, dilatedRow, wi, into, c, skipFirst, skipLast);
                    else EightOfThreeWideByTwo<Lanes256, Vector256<float>>(from, rows, dilatedRow, wi, into, c, skipFirst, skipLast);
                    if (at == n - 8) break;
                }
            }
            return;
        }
        // The copy stays fixed while the windows are read from it: a pointer kept past its fixed block (as this was) reads
        // wherever the array was before the collector moved it.
        fixed (float* copy = _padded?[part])
        fixed (int* offsets = _forwardOffsets)
        {
            if (copy is not null)
            {
                width = _paddedWidth;
                x = Pad(x, copy, i0, i1);
            }
            long rowStep = (long)_rows.Stride * width * c;   // from one output row's windows to the next
            long kernelRow = (long)_rows.Dilation * width * c;   // from one kernel row's pixels to the next
            int stride = _cols.Stride * c;
            for (int i = i0; i < i1; i++)
            {
                float* origin = x + i * rowStep, yi = y + (long)(i - i0) * n * c;
                if (FiveOrSevenWide)
                    for (int j = 0; ; j += 8)
                    {
                        int at = Math.Max(0, Math.Min(j, n - 8));
                        float* from = origin + at * c, into = yi + at * c;
                        if (n == 7) EightOfWide<SevenWide>(from, kernelRow, weights, into, c);
                        else EightOfWide<EightWide>(from, kernelRow, weights, into, c);
                        if (at >= n - 8) break;
                    }
                else if (n >= 4)
                    for (int j = 0; ; j += 4)
                    {
                        int at = Math.Min(j, n - 4);
                        if (WideChannels) Four<Lanes512, Vector512<float>>(origin + at * stride, offsets, taps, weights, stride, yi + at * c, c);
                        else Four<Lanes256, Vector256<float>>(origin + at * stride, offsets, taps, weights, stride, yi + at * c, c);
                        if (at == n - 4) break;
                    }
                else
                    for (int j = 0; j < n; j++)
                        for (int v = 0; v < c; v += Lanes)
                        {
                            var sum = Vector256<float>.Zero;
                            for (int t = 0; t < taps; t++)
                                sum = Vector256.FusedMultiplyAdd(Vector256.Load(origin + j * stride + offsets[t] + v), Vector256.Load(weights + t * c + v), sum);
                            sum.Store(yi + j * c + v);
                        }
            }
        }
    }

    /// <summary>A 3-wide kernel, stride 1 or 2, at most one column of padding a side, eight outputs or more a row: read in place.</summary>
    private bool ThreeWide => _cols is { Kernel: 3, Dilation: 1, Stride: 1 or 2, PadBefore: <= 1, PadAfter: <= 1, Output: >= 8 };

    /// <summary>A 5- or 7-wide kernel at stride 1: its weight gradient by <see cref="WeightGradientOfWide"/>.</summary>
    private bool FiveOrSevenAtStrideOne => _cols is { Kernel: 5 or 7, Dilation: 1, Stride: 1 };

    /// <summary>The same, seven outputs or more a row: its forward by <see cref="EightOfWide"/> over the padded copy.</summary>
    private bool FiveOrSevenWide => FiveOrSevenAtStrideOne && _cols.Output >= 7;

    /// <summary>
    /// The input rows under output rows [i0, i1) into copy, a padded image whose borders are never written (zero as allocated;
    /// rows above and below the input are outside every copy). Returns where the padded image starts.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private float* Pad(float* x, float* copy, int i0, int i1)
    {
        int c = _input.Channels, before = _cols.PadBefore, inside = Math.Min(_input.Width, _paddedWidth - before) * c;
        var (first, last) = _rows.Reads(i0, i1);
        for (int ih = first; ih < last; ih++)
            new ReadOnlySpan<float>(x + (long)ih * _input.Width * c, inside).CopyTo(new Span<float>(copy + ((long)(ih + _rows.PadBefore) * _paddedWidth + before) * c, inside));
        return copy;
    }

    /// <summary>
    /// Four neighbouring outputs at once: four independent sums share each weight load. A method of its own so that its
    /// loop keeps everything in registers (inlined in the pixel loop, it reloaded four spilled values from the stack per tap).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Four<TL, TV>(float* origin, int* offsets, int taps, float* weights, int step, float* yo, int c)
        where TL : struct, ILanes<TV> where TV : struct
    {
        for (int v = 0; v < c; v += TL.Count)
        {
            TV s0 = default, s1 = default, s2 = default, s3 = default;
            float* wv = weights + v, o = origin + v;
            for (int t = 0; t < taps; t++, wv += c)
            {
                var wt = TL.Load(wv);
                float* at = o + offsets[t];
                s0 = TL.FusedMultiplyAdd(TL.Load(at), wt, s0);
                s1 = TL.FusedMultiplyAdd(TL.Load(at + step), wt, s1);
                s2 = TL.FusedMultiplyAdd(TL.Load(at + 2 * step), wt, s2);
                s3 = TL.FusedMultiplyAdd(TL.Load(at + 3 * step), wt, s3);
            }
            TL.Store(s0, yo + v); TL.Store(s1, yo + c + v); TL.Store(s2, yo + 2 * c + v); TL.Store(s3, yo + 3 * c + v);
        }
    }

    /// <summary><see cref="EightOfWide"/> at this convolution's vector width and kernel width, <typeparamref name="TN"/> outputs.</summary>
    private void EightOfWide<TN>(float* from, long kernelRow, float* weights, float* into, int c) where TN : struct, IWidth
    {
        if (WideChannels && _cols.Kernel == 5) EightOfWide<Lanes512, Vector512<float>, FiveWide, TN>(from, _rows.Kernel, kernelRow, weights, into, c);
        else if (WideChannels) EightOfWide<Lanes512, Vector512<float>, SevenWide, TN>(from, _rows.Kernel, kernelRow, weights, into, c);
        else if (_cols.Kernel == 5) EightOfWide<Lanes256, Vector256<float>, FiveWide, TN>(from, _rows.Kernel, kernelRow, weights, into, c);
        else EightOfWide<Lanes256, Vector256<float>, SevenWide, TN>(from, _rows.Kernel, kernelRow, weights, into, c);
    }

    /// <summary>A width as a type (a kernel's, a block's outputs), so that <see cref="EightOfWide"/> is compiled once per pair with its taps unrolled.</summary>
    private interface IWidth { static abstract int Value { get; } }
    private readonly struct FiveWide : IWidth { public static int Value => 5; }
    private readonly struct SevenWide : IWidth { public static int Value => 7; }
    private readonly struct EightWide : IWidth { public static int Value => 8; }

    /// <summary>
    /// Eight neighbouring outputs (seven: a 7x7 map's row) of a stride-1 kernel 5 or 7 wide (MobileNet v3's, ConvNeXt's) over the padded copy: each of a kernel
    /// row's 12 or 14 input columns is loaded once and meets the row's weights, held in registers, in up to 5 or 7 sums (21 loads
    /// for 56 multiply-adds, where <see cref="Four"/> loads 5 for 4 and an offset). Each sum adds its taps in order, row by row, left
    /// to right: the same floats as the other paths. With AVX2's 16 registers the 7-wide kernel's eight sums, seven weights and a
    /// column fill them all, and it is still the faster (bench/NOTES.md, "Depthwise convolutions").
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void EightOfWide<TL, TV, TK, TN>(float* origin, int kernelRows, long rowStep, float* weights, float* yo, int c)
        where TL : struct, ILanes<TV> where TV : struct where TK : struct, IWidth where TN : struct, IWidth
    {
        for (int v = 0; v < c; v += TL.Count)
        {
            TV a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            for (int r = 0; r < kernelRows; r++)
            {
                float* x = origin + r * rowStep + v, wr = weights + (long)r * TK.Value * c + v;
                TV w0 = TL.Load(wr), w1 = TL.Load(wr + c), w2 = TL.Load(wr + 2 * c), w3 = TL.Load(wr + 3 * c), w4 = TL.Load(wr + 4 * c);
                TV w5 = TK.Value > 5 ? TL.Load(wr + 5 * c) : default, w6 = TK.Value > 6 ? TL.Load(wr + 6 * c) : default;
                TV p;
                p = TL.Load(x); a0 = TL.FusedMultiplyAdd(p, w0, a0);
                p = TL.Load(x + 1 * c); a1 = TL.FusedMultiplyAdd(p, w0, a1); a0 = TL.FusedMultiplyAdd(p, w1, a0);
                p = TL.Load(x + 2 * c); a2 = TL.FusedMultiplyAdd(p, w0, a2); a1 = TL.FusedMultiplyAdd(p, w1, a1); a0 = TL.FusedMultiplyAdd(p, w2, a0);
                p = TL.Load(x + 3 * c); a3 = TL.FusedMultiplyAdd(p, w0, a3); a2 = TL.FusedMultiplyAdd(p, w1, a2); a1 = TL.FusedMultiplyAdd(p, w2, a1); a0 = TL.FusedMultiplyAdd(p, w3, a0);
                p = TL.Load(x + 4 * c); a4 = TL.FusedMultiplyAdd(p, w0, a4); a3 = TL.FusedMultiplyAdd(p, w1, a3); a2 = TL.FusedMultiplyAdd(p, w2, a2); a1 = TL.FusedMultiplyAdd(p, w3, a1); a0 = TL.FusedMultiplyAdd(p, w4, a0);
                p = TL.Load(x + 5 * c); a5 = TL.FusedMultiplyAdd(p, w0, a5); a4 = TL.FusedMultiplyAdd(p, w1, a4); a3 = TL.FusedMultiplyAdd(p, w2, a3); a2 = TL.FusedMultiplyAdd(p, w3, a2); a1 = TL.FusedMultiplyAdd(p, w4, a1); if (TK.Value > 5) a0 = TL.FusedMultiplyAdd(p, w5, a0);
                p = TL.Load(x + 6 * c); a6 = TL.FusedMultiplyAdd(p, w0, a6); a5 = TL.FusedMultiplyAdd(p, w1, a5); a4 = TL.FusedMultiplyAdd(p, w2, a4); a3 = TL.FusedMultiplyAdd(p, w3, a3); a2 = TL.FusedMultiplyAdd(p, w4, a2); if (TK.Value > 5) a1 = TL.FusedMultiplyAdd(p, w5, a1); if (TK.Value > 6) a0 = TL.FusedMultiplyAdd(p, w6, a0);
                p = TL.Load(x + 7 * c); if (TN.Value > 7) a7 = TL.FusedMultiplyAdd(p, w0, a7); a6 = TL.FusedMultiplyAdd(p, w1, a6); a5 = TL.FusedMultiplyAdd(p, w2, a5); a4 = TL.FusedMultiplyAdd(p, w3, a4); a3 = TL.FusedMultiplyAdd(p, w4, a3); if (TK.Value > 5) a2 = TL.FusedMultiplyAdd(p, w5, a2); if (TK.Value > 6) a1 = TL.FusedMultiplyAdd(p, w6, a1);
                p = TL.Load(x + 8 * c); if (TN.Value > 7) a7 = TL.FusedMultiplyAdd(p, w1, a7); a6 = TL.FusedMultiplyAdd(p, w2, a6); a5 = TL.FusedMultiplyAdd(p, w3, a5); a4 = TL.FusedMultiplyAdd(p, w4, a4); if (TK.Value > 5) a3 = TL.FusedMultiplyAdd(p, w5, a3); if (TK.Value > 6) a2 = TL.FusedMultiplyAdd(p, w6, a2);
                p = TL.Load(x + 9 * c); if (TN.Value > 7) a7 = TL.FusedMultiplyAdd(p, w2, a7); a6 = TL.FusedMultiplyAdd(p, w3, a6); a5 = TL.FusedMultiplyAdd(p, w4, a5); if (TK.Value > 5) a4 = TL.FusedMultiplyAdd(p, w5, a4); if (TK.Value > 6) a3 = TL.FusedMultiplyAdd(p, w6, a3);
                p = TL.Load(x + 10 * c); if (TN.Value > 7) a7 = TL.FusedMultiplyAdd(p, w3, a7); a6 = TL.FusedMultiplyAdd(p, w4, a6); if (TK.Value > 5) a5 = TL.FusedMultiplyAdd(p, w5, a5); if (TK.Value > 6) a4 = TL.FusedMultiplyAdd(p, w6, a4);
                if (TN.Value + TK.Value - 2 >= 11) { p = TL.Load(x + 11 * c); if (TN.Value > 7) a7 = TL.FusedMultiplyAdd(p, w4, a7); if (TK.Value > 5) a6 = TL.FusedMultiplyAdd(p, w5, a6); if (TK.Value > 6) a5 = TL.FusedMultiplyAdd(p, w6, a5); }
                if (TN.Value + TK.Value - 2 >= 12) { p = TL.Load(x + 12 * c); if (TK.Value > 5 && TN.Value > 7) a7 = TL.FusedMultiplyAdd(p, w5, a7); if (TK.Value > 6) a6 = TL.FusedMultiplyAdd(p, w6, a6); }
                if (TN.Value + TK.Value - 2 >= 13) { p = TL.Load(x + 13 * c); if (TK.Value > 6 && TN.Value > 7) a7 = TL.FusedMultiplyAdd(p, w6, a7); }
            }
            float* y = yo + v;
            TL.Store(a0, y); TL.Store(a1, y + c); TL.Store(a2, y + 2 * c); TL.Store(a3, y + 3 * c);
            TL.Store(a4, y + 4 * c); TL.Store(a5, y + 5 * c); TL.Store(a6, y + 6 * c);
            if (TN.Value > 7) TL.Store(a7, y + 7 * c);
        }
    }

    /// <summary>
    /// Eight neighbouring outputs of a 3-wide, stride-1 kernel: each input column of a kernel row is loaded once and meets the
    /// three weights of that row in up to three sums (10 loads for 24 multiply-adds, where <see cref="Four"/> loads 5 for 4).
    /// Each sum still adds its taps in order, row by row, left to right: the same floats as the other paths. The first output's
    /// left column and the last output's right column are left out when they lie in the padding.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void EightOfThreeWide<TL, TV>(float* origin, int kernelRows, int rowStep, float* weights, float* yo, int c, bool skipFirst, bool skipLast)
        where TL : struct, ILanes<TV> where TV : struct
    {
        for (int v = 0; v < c; v += TL.Count)
        {
            TV a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            for (int r = 0; r < kernelRows; r++)
            {
                float* x = origin + (long)r * rowStep + v, wr = weights + r * 3 * c + v;
                var w0 = TL.Load(wr); var w1 = TL.Load(wr + c); var w2 = TL.Load(wr + 2 * c);
                if (!skipFirst) a0 = TL.FusedMultiplyAdd(TL.Load(x), w0, a0);
                var p = TL.Load(x + c);
                a0 = TL.FusedMultiplyAdd(p, w1, a0); a1 = TL.FusedMultiplyAdd(p, w0, a1);
                p = TL.Load(x + 2 * c);
                a0 = TL.FusedMultiplyAdd(p, w2, a0); a1 = TL.FusedMultiplyAdd(p, w1, a1); a2 = TL.FusedMultiplyAdd(p, w0, a2);
                p = TL.Load(x + 3 * c);
                a1 = TL.FusedMultiplyAdd(p, w2, a1); a2 = TL.FusedMultiplyAdd(p, w1, a2); a3 = TL.FusedMultiplyAdd(p, w0, a3);
                p = TL.Load(x + 4 * c);
                a2 = TL.FusedMultiplyAdd(p, w2, a2); a3 = TL.FusedMultiplyAdd(p, w1, a3); a4 = TL.FusedMultiplyAdd(p, w0, a4);
                p = TL.Load(x + 5 * c);
                a3 = TL.FusedMultiplyAdd(p, w2, a3); a4 = TL.FusedMultiplyAdd(p, w1, a4); a5 = TL.FusedMultiplyAdd(p, w0, a5);
                p = TL.Load(x + 6 * c);
                a4 = TL.FusedMultiplyAdd(p, w2, a4); a5 = TL.FusedMultiplyAdd(p, w1, a5); a6 = TL.FusedMultiplyAdd(p, w0, a6);
                p = TL.Load(x + 7 * c);
                a5 = TL.FusedMultiplyAdd(p, w2, a5); a6 = TL.FusedMultiplyAdd(p, w1, a6); a7 = TL.FusedMultiplyAdd(p, w0, a7);
                p = TL.Load(x + 8 * c);
                a6 = TL.FusedMultiplyAdd(p, w2, a6); a7 = TL.FusedMultiplyAdd(p, w1, a7);
                if (!skipLast) a7 = TL.FusedMultiplyAdd(TL.Load(x + 9 * c), w2, a7);
            }
            float* y = yo + v;
            TL.Store(a0, y); TL.Store(a1, y + c); TL.Store(a2, y + 2 * c); TL.Store(a3, y + 3 * c); TL.Store(a4, y + 4 * c); TL.Store(a5, y + 5 * c); TL.Store(a6, y + 6 * c); TL.Store(a7, y + 7 * c);
        }
    }

    /// <summary>
    /// Eight neighbouring outputs of a 3-wide, stride-2 kernel: output j reads columns 2j, 2j + 1, 2j + 2, so each of the 17
    /// columns of a kernel row is loaded once and meets one or two sums (17 loads for 24 multiply-adds, where
    /// <see cref="Four"/> loads 5 for 4), each sum adding its taps in order; the padding columns left out as in <see cref="EightOfThreeWide"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void EightOfThreeWideByTwo<TL, TV>(float* origin, int kernelRows, int rowStep, float* weights, float* yo, int c, bool skipFirst, bool skipLast)
        where TL : struct, ILanes<TV> where TV : struct
    {
        for (int v = 0; v < c; v += TL.Count)
        {
            TV a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            for (int r = 0; r < kernelRows; r++)
            {
                float* x = origin + (long)r * rowStep + v, wr = weights + r * 3 * c + v;
                var w0 = TL.Load(wr); var w1 = TL.Load(wr + c); var w2 = TL.Load(wr + 2 * c);
                if (!skipFirst) a0 = TL.FusedMultiplyAdd(TL.Load(x), w0, a0);
                a0 = TL.FusedMultiplyAdd(TL.Load(x + c), w1, a0);
                var p = TL.Load(x + 2 * c);
                a0 = TL.FusedMultiplyAdd(p, w2, a0); a1 = TL.FusedMultiplyAdd(p, w0, a1);
                a1 = TL.FusedMultiplyAdd(TL.Load(x + 3 * c), w1, a1);
                p = TL.Load(x + 4 * c);
                a1 = TL.FusedMultiplyAdd(p, w2, a1); a2 = TL.FusedMultiplyAdd(p, w0, a2);
                a2 = TL.FusedMultiplyAdd(TL.Load(x + 5 * c), w1, a2);
                p = TL.Load(x + 6 * c);
                a2 = TL.FusedMultiplyAdd(p, w2, a2); a3 = TL.FusedMultiplyAdd(p, w0, a3);
                a3 = TL.FusedMultiplyAdd(TL.Load(x + 7 * c), w1, a3);
                p = TL.Load(x + 8 * c);
                a3 = TL.FusedMultiplyAdd(p, w2, a3); a4 = TL.FusedMultiplyAdd(p, w0, a4);
                a4 = TL.FusedMultiplyAdd(TL.Load(x + 9 * c), w1, a4);
                p = TL.Load(x + 10 * c);
                a4 = TL.FusedMultiplyAdd(p, w2, a4); a5 = TL.FusedMultiplyAdd(p, w0, a5);
                a5 = TL.FusedMultiplyAdd(TL.Load(x + 11 * c), w1, a5);
                p = TL.Load(x + 12 * c);
                a5 = TL.FusedMultiplyAdd(p, w2, a5); a6 = TL.FusedMultiplyAdd(p, w0, a6);
                a6 = TL.FusedMultiplyAdd(TL.Load(x + 13 * c), w1, a6);
                p = TL.Load(x + 14 * c);
                a6 = TL.FusedMultiplyAdd(p, w2, a6); a7 = TL.FusedMultiplyAdd(p, w0, a7);
                a7 = TL.FusedMultiplyAdd(TL.Load(x + 15 * c), w1, a7);
                if (!skipLast) a7 = TL.FusedMultiplyAdd(TL.Load(x + 16 * c), w2, a7);
            }
            float* y = yo + v;
            TL.Store(a0, y); TL.Store(a1, y + c); TL.Store(a2, y + 2 * c); TL.Store(a3, y + 3 * c); TL.Store(a4, y + 4 * c); TL.Store(a5, y + 5 * c); TL.Store(a6, y + 6 * c); TL.Store(a7, y + 7 * c);
        }
    }

    /// <summary>
    /// A 3x3 kernel by 1 or 2, undilated, with at most one row or column of padding a side, one filter per channel and whole
    /// vectors of channels (the depthwise layers of MobileNets): training's backward reads bordered copies (<see cref="_borderedX"/>).
    /// </summary>
    private bool ThreeByThree => Vectors
        && _rows is { Kernel: 3, Dilation: 1, Stride: 1 or 2, PadBefore: <= 1, PadAfter: <= 1 } && _cols is { Kernel: 3, Dilation: 1, Stride: 1 or 2, PadBefore: <= 1, PadAfter: <= 1 };

    /// <summary>An image of height x width pixels into the inside of <paramref name="bordered"/>, whose one-pixel border stays zero (never written).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Border(float* image, int height, int width, float* bordered)
    {
        int c = _input.Channels, row = width * c;
        for (int r = 0; r < height; r++)
            new ReadOnlySpan<float>(image + (long)r * row, row).CopyTo(new Span<float>(bordered + ((long)(r + 1) * (width + 2) + 1) * c, row));
    }

    /// <summary>
    /// dW[tap] += Σ over one example's outputs, row by row, left to right, of the image under the tap · dy: per channel vector nine
    /// sums in registers, each window's nine values read in place from <paramref name="image"/> (height x width pixels, output
    /// (i, j)'s window at row i·stride - <paramref name="top"/>, column j·stride - <paramref name="left"/>). A window row above or
    /// below the image reads a row of zeros, and the few outputs whose windows cross its left or right edge load zeros for the
    /// columns outside; a zero adds +0, so the floats are those of summing the taps inside alone. Where dW was read and written
    /// per tap and group of outputs, its loads waited on the stores before them (28x28x16 at batch 64: 0.43 ms, three times the
    /// forward pass's multiply-adds' time). With strides of 1 the image is the input's bordered copy (every window inside it);
    /// with strides of 2 the input itself, which measured faster than copying it: the depthwise model's strided layers' backward
    /// 0.58 -> 0.51-0.52 and 0.32-0.33 -> 0.26-0.27 ms on a Zen 5 (training steps, alternating in one process), where with strides
    /// of 1 it was level (-3% to +4%).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WeightGradient3x3<TL, TV>(float* image, int height, int width, int top, int left, float* zeros, float* dy, float* dW)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int c = _input.Channels, ow = _cols.Output, oh = _rows.Output, sc = _cols.Stride;
        long rowIn = (long)width * c;
        // outputs [jFirst, jEnd) read columns inside the image only (none when the image is narrower than a window)
        int jFirst = (left + sc - 1) / sc, jEnd = width - 3 + left < 0 ? 0 : Math.Min(ow, (width - 3 + left) / sc + 1);
        for (int v = 0; v < c; v += TL.Count)
        {
            TV s00 = default, s01 = default, s02 = default, s10 = default, s11 = default, s12 = default, s20 = default, s21 = default, s22 = default;
            for (int i = 0; i < oh; i++)
            {
                int ih = i * _rows.Stride - top;
                float* r0 = (uint)ih < (uint)height ? image + ih * rowIn + v : zeros + c + v;   // zeros: columns -1 to width read inside
                float* r1 = (uint)(ih + 1) < (uint)height ? image + (ih + 1) * rowIn + v : zeros + c + v;
                float* r2 = (uint)(ih + 2) < (uint)height ? image + (ih + 2) * rowIn + v : zeros + c + v;
                float* g = dy + (long)i * ow * c + v;
                for (int j = 0; j < ow; )
                {
                    int iw = j * sc - left;
                    long at = (long)iw * c;
                    if (j >= jFirst && j < jEnd)
                    {
                        // the outputs whose windows lie inside, to jEnd: three row pointers stepped along
                        float* p0 = r0 + at, p1 = r1 + at, p2 = r2 + at;
                        long step = (long)sc * c;
                        for (; j < jEnd; j++, g += c, p0 += step, p1 += step, p2 += step)
                        {
                            var gv = TL.Load(g);
                            s00 = TL.FusedMultiplyAdd(TL.Load(p0), gv, s00);
                            s01 = TL.FusedMultiplyAdd(TL.Load(p0 + c), gv, s01);
                            s02 = TL.FusedMultiplyAdd(TL.Load(p0 + 2 * c), gv, s02);
                            s10 = TL.FusedMultiplyAdd(TL.Load(p1), gv, s10);
                            s11 = TL.FusedMultiplyAdd(TL.Load(p1 + c), gv, s11);
                            s12 = TL.FusedMultiplyAdd(TL.Load(p1 + 2 * c), gv, s12);
                            s20 = TL.FusedMultiplyAdd(TL.Load(p2), gv, s20);
                            s21 = TL.FusedMultiplyAdd(TL.Load(p2 + c), gv, s21);
                            s22 = TL.FusedMultiplyAdd(TL.Load(p2 + 2 * c), gv, s22);
                        }
                        continue;
                    }
                    // an output whose window crosses the left or right edge: zeros for the columns outside
                    bool in0 = (uint)iw < (uint)width, in1 = (uint)(iw + 1) < (uint)width, in2 = (uint)(iw + 2) < (uint)width;
                    TV zero = default, gv2 = TL.Load(g);
                    s00 = TL.FusedMultiplyAdd(in0 ? TL.Load(r0 + at) : zero, gv2, s00);
                    s01 = TL.FusedMultiplyAdd(in1 ? TL.Load(r0 + at + c) : zero, gv2, s01);
                    s02 = TL.FusedMultiplyAdd(in2 ? TL.Load(r0 + at + 2 * c) : zero, gv2, s02);
                    s10 = TL.FusedMultiplyAdd(in0 ? TL.Load(r1 + at) : zero, gv2, s10);
                    s11 = TL.FusedMultiplyAdd(in1 ? TL.Load(r1 + at + c) : zero, gv2, s11);
                    s12 = TL.FusedMultiplyAdd(in2 ? TL.Load(r1 + at + 2 * c) : zero, gv2, s12);
                    s20 = TL.FusedMultiplyAdd(in0 ? TL.Load(r2 + at) : zero, gv2, s20);
                    s21 = TL.FusedMultiplyAdd(in1 ? TL.Load(r2 + at + c) : zero, gv2, s21);
                    s22 = TL.FusedMultiplyAdd(in2 ? TL.Load(r2 + at + 2 * c) : zero, gv2, s22);
                    j++;
                    g += c;
                }
            }
            float* d = dW + v;
            TL.Store(TL.Add(TL.Load(d), s00), d); TL.Store(TL.Add(TL.Load(d + c), s01), d + c); TL.Store(TL.Add(TL.Load(d + 2 * c), s02), d + 2 * c);
            TL.Store(TL.Add(TL.Load(d + 3 * c), s10), d + 3 * c); TL.Store(TL.Add(TL.Load(d + 4 * c), s11), d + 4 * c); TL.Store(TL.Add(TL.Load(d + 5 * c), s12), d + 5 * c);
            TL.Store(TL.Add(TL.Load(d + 6 * c), s20), d + 6 * c); TL.Store(TL.Add(TL.Load(d + 7 * c), s21), d + 7 * c); TL.Store(TL.Add(TL.Load(d + 8 * c), s22), d + 8 * c);
        }
    }

    /// <summary>
    /// Strides of 2: each input pixel's gradient gathered from the outputs whose windows read it, and stored once (not cleared,
    /// then added to by nine read-modify-writes per output). With p = the pixel's row plus the padding above, an even p is read by
    /// kernel rows 0 and 2 of output rows p/2 and p/2 - 1, an odd one by kernel row 1 of output row (p - 1)/2; the same along the
    /// columns. dy's bordered copy holds zeros for output rows and columns -1 and past the end.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void GatherByTwo<TL, TV>(float* bordered, float* dx)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int c = _input.Channels, width = _input.Width, top = _rows.PadBefore, left = _cols.PadBefore;
        long row = (long)(_cols.Output + 2) * c;
        // Bordered column k (output column k - 1) is read by the pixels at q = 2k - 2 (with column k - 1) and q = 2k - 1: walked
        // left to right, each column is loaded once for two pixels, where each pixel loaded its one to four (the depthwise model's
        // two strided layers' backward in training, Zen 5: 0.559 -> 0.544 and 0.363 -> 0.332 ms).
        int k0 = left / 2 + 1, k1 = (width - 1 + left) / 2 + 1;
        float* w = _w;
        for (int v = 0; v < c; v += TL.Count)
        {
            TV w00 = TL.Load(w + v), w01 = TL.Load(w + c + v), w02 = TL.Load(w + 2 * c + v),
                             w10 = TL.Load(w + 3 * c + v), w11 = TL.Load(w + 4 * c + v), w12 = TL.Load(w + 5 * c + v),
                             w20 = TL.Load(w + 6 * c + v), w21 = TL.Load(w + 7 * c + v), w22 = TL.Load(w + 8 * c + v);
            for (int ih = 0; ih < _input.Height; ih++)
            {
                int p = ih + top;
                // the output row read with kernel row 0 (even p) or 1 (odd), and for even p the one above it, read with kernel row 2
                float* a = bordered + (p / 2 + 1) * row + v, b = a - row, y = dx + (long)ih * width * c + v - (long)left * c;
                if ((p & 1) == 0)
                {
                    TV aPrevious = TL.Load(a + (k0 - 1) * c), bPrevious = TL.Load(b + (k0 - 1) * c);
                    for (int k = k0; k <= k1; k++)
                    {
                        TV at = TL.Load(a + k * c), bt = TL.Load(b + k * c);
                        int q = 2 * k - 2;
                        if (q >= left) TL.Store(TL.FusedMultiplyAdd(bPrevious, w22, TL.FusedMultiplyAdd(bt, w20, TL.FusedMultiplyAdd(aPrevious, w02, TL.Multiply(at, w00)))), y + (long)q * c);
                        if (q + 1 < width + left) TL.Store(TL.FusedMultiplyAdd(bt, w21, TL.Multiply(at, w01)), y + (long)(q + 1) * c);
                        (aPrevious, bPrevious) = (at, bt);
                    }
                }
                else
                {
                    TV aPrevious = TL.Load(a + (k0 - 1) * c);
                    for (int k = k0; k <= k1; k++)
                    {
                        TV at = TL.Load(a + k * c);
                        int q = 2 * k - 2;
                        if (q >= left) TL.Store(TL.FusedMultiplyAdd(aPrevious, w12, TL.Multiply(at, w10)), y + (long)q * c);
                        if (q + 1 < width + left) TL.Store(TL.Multiply(at, w11), y + (long)(q + 1) * c);
                        aPrevious = at;
                    }
                }
            }
        }
    }

    /// <summary>One example, one filter per channel: dW[tap] += x · dy (when <paramref name="dW"/> is set), dx = Σ_taps dy · w (when <paramref name="dx"/> is).</summary>
    private void BackwardVectors(float* x, float* dy, float* dx, float* dW)
    {
        int w = _input.Width, c = _input.Channels, taps = _tapOffsets.Length;
        if (dx != null) new Span<float>(dx, _input.Size).Clear();
        float* weights = _w;
        int step = _cols.Stride * c;
        fixed (int* offsets = _tapOffsets)
            for (int i = 0; i < _rows.Output; i++)
                for (int j = 0; j < _cols.Output; j++)
                {
                    float* g = dy + (i * _cols.Output + j) * c;
                    int top = i * _rows.Stride - _rows.PadBefore, left = j * _cols.Stride - _cols.PadBefore;
                    if (Inside(i, j))
                    {
                        int origin = (top * w + left) * c;
                        if (j + 3 < _cols.Output && Inside(i, j + 3) && dx == null && dW != null)
                        {
                            FourWeightGradient(x + origin, offsets, taps, g, step, dW, c);
                            j += 3;
                            continue;
                        }
                        if (j + 3 < _cols.Output && Inside(i, j + 3)) // the inside columns are contiguous
                        {
                            // four neighbouring outputs at once: one read-modify-write of dW per tap, not four
                            for (int t = 0; t < taps; t++)
                            {
                                int from = origin + offsets[t], tap = t * c;
                                for (int v = 0; v < c; v += Lanes)
                                {
                                    Vector256<float> g0 = Vector256.Load(g + v), g1 = Vector256.Load(g + c + v), g2 = Vector256.Load(g + 2 * c + v), g3 = Vector256.Load(g + 3 * c + v);
                                    float* xs = x + from + v;
                                    if (dW != null)
                                    {
                                        var sum = Vector256.FusedMultiplyAdd(Vector256.Load(xs), g0, Vector256.Load(dW + tap + v));
                                        sum = Vector256.FusedMultiplyAdd(Vector256.Load(xs + step), g1, sum);
                                        sum = Vector256.FusedMultiplyAdd(Vector256.Load(xs + 2 * step), g2, sum);
                                        Vector256.FusedMultiplyAdd(Vector256.Load(xs + 3 * step), g3, sum).Store(dW + tap + v);
                                    }
                                    if (dx == null) continue;
                                    var wv = Vector256.Load(weights + tap + v);
                                    float* d = dx + from + v;
                                    Vector256.FusedMultiplyAdd(g0, wv, Vector256.Load(d)).Store(d);
                                    Vector256.FusedMultiplyAdd(g1, wv, Vector256.Load(d + step)).Store(d + step);
                                    Vector256.FusedMultiplyAdd(g2, wv, Vector256.Load(d + 2 * step)).Store(d + 2 * step);
                                    Vector256.FusedMultiplyAdd(g3, wv, Vector256.Load(d + 3 * step)).Store(d + 3 * step);
                                }
                            }
                            j += 3;
                            continue;
                        }
                        for (int t = 0; t < taps; t++)
                            Tap(x, g, dx, dW, origin + offsets[t], t * c, c);
                        continue;
                    }
                    for (int di = _rowTaps[i].First; di <= _rowTaps[i].Last; di++)
                    {
                        int ih = top + di * _rows.Dilation;
                        for (int dj = _colTaps[j].First; dj <= _colTaps[j].Last; dj++)
                        {
                            int iw = left + dj * _cols.Dilation;
                            Tap(x, g, dx, dW, (ih * w + iw) * c, (di * _cols.Kernel + dj) * c, c);
                        }
                    }
                }
    }

    /// <summary>
    /// The weight gradient alone (dX computed apart, as a convolution) of a padded kernel other than 3x3, windows read from the example's
    /// padded copy (forward's, zeros where the padding is): every window is whole, so every output takes <see cref="FourWeightGradient"/>'s
    /// registers, where the windows that read padding took a read-modify-write of dW per tap and output (<see cref="Tap"/>): two thirds
    /// of a 14x14 map's with a 7x7 kernel. Each dW[tap] adds the outputs in the same order as before; the padding's taps add exact zeros.
    /// ConvNeXt's 7x7 depthwise convolutions (Zen 5, `specnet bench specs/fashion-convnext.yaml`, three runs alternating): 14x14x32 backward
    /// 1.52-1.65 -> 1.16-1.19 ms (dX's transposed convolution included), the step 21.8 -> 21.1 ms.
    /// </summary>
    private void WeightGradientPadded(float* copy, float* x, float* dy, float* dW)
    {
        int c = _input.Channels, taps = _forwardOffsets.Length, n = _cols.Output, step = _cols.Stride * c;
        float* image = Pad(x, copy, 0, _rows.Output);
        long rowStep = (long)_rows.Stride * _paddedWidth * c;
        fixed (int* offsets = _forwardOffsets)
            for (int i = 0; i < _rows.Output; i++)
            {
                float* origin = image + i * rowStep, g = dy + (long)i * n * c;
                int j = 0;
                for (; j + 4 <= n; j += 4) FourWeightGradient(origin + j * step, offsets, taps, g + j * c, step, dW, c);
                for (; j < n; j++)
                    for (int t = 0; t < taps; t++) Tap(origin + j * step, g + j * c, null, dW, offsets[t], t * c, c);
            }
    }

    /// <summary>
    /// The weight gradient alone of a 5- or 7-wide kernel at stride 1 (dX computed apart, as a convolution), windows read from the
    /// example's padded copy (or from x where nothing is padded): for each output row, kernel row and channel vector, the kernel
    /// row's 5 or 7 sums of dW held in registers over the output row, each output's gradient loaded once and met by its input
    /// columns (<see cref="FourWeightGradient{TL, TV}"/> had read and written dW at every tap for every four outputs). Each dW[tap]
    /// adds the outputs in the same order as before: the same floats.
    /// </summary>
    private void WeightGradientOfWide(float* copy, float* x, float* dy, float* dW)
    {
        float* image = copy != null ? Pad(x, copy, 0, _rows.Output) : x;
        int c = _input.Channels, width = copy != null ? _paddedWidth : _input.Width;
        long rowStep = (long)_rows.Stride * width * c, kernelRow = (long)_rows.Dilation * width * c;
        if (WideChannels && _cols.Kernel == 5) WeightGradientOfWide<Lanes512, Vector512<float>, FiveWide>(image, _rows.Kernel, kernelRow, rowStep, _rows.Output, _cols.Output, dy, dW, c);
        else if (WideChannels) WeightGradientOfWide<Lanes512, Vector512<float>, SevenWide>(image, _rows.Kernel, kernelRow, rowStep, _rows.Output, _cols.Output, dy, dW, c);
        else if (_cols.Kernel == 5) WeightGradientOfWide<Lanes256, Vector256<float>, FiveWide>(image, _rows.Kernel, kernelRow, rowStep, _rows.Output, _cols.Output, dy, dW, c);
        else WeightGradientOfWide<Lanes256, Vector256<float>, SevenWide>(image, _rows.Kernel, kernelRow, rowStep, _rows.Output, _cols.Output, dy, dW, c);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void WeightGradientOfWide<TL, TV, TK>(float* image, int kernelRows, long kernelRow, long rowStep, int rows, int n, float* dy, float* dW, int c)
        where TL : struct, ILanes<TV> where TV : struct where TK : struct, IWidth
    {
        // an output row at a time, so that the kernel rows of input it reads stay in L1 (a whole 28x28x48 example had come from L2)
        for (int i = 0; i < rows; i++)
            for (int r = 0; r < kernelRows; r++)
                for (int v = 0; v < c; v += TL.Count)
                {
                    float* d = dW + (long)r * TK.Value * c + v, p = image + i * rowStep + r * kernelRow + v, g = dy + (long)i * n * c + v;
                    TV s0 = TL.Load(d), s1 = TL.Load(d + c), s2 = TL.Load(d + 2 * c), s3 = TL.Load(d + 3 * c), s4 = TL.Load(d + 4 * c);
                    TV s5 = TK.Value > 5 ? TL.Load(d + 5 * c) : default, s6 = TK.Value > 6 ? TL.Load(d + 6 * c) : default;
                    for (int j = 0; j < n; j++, p += c, g += c)
                    {
                        TV gj = TL.Load(g);
                        s0 = TL.FusedMultiplyAdd(TL.Load(p), gj, s0);
                        s1 = TL.FusedMultiplyAdd(TL.Load(p + c), gj, s1);
                        s2 = TL.FusedMultiplyAdd(TL.Load(p + 2 * c), gj, s2);
                        s3 = TL.FusedMultiplyAdd(TL.Load(p + 3 * c), gj, s3);
                        s4 = TL.FusedMultiplyAdd(TL.Load(p + 4 * c), gj, s4);
                        if (TK.Value > 5) s5 = TL.FusedMultiplyAdd(TL.Load(p + 5 * c), gj, s5);
                        if (TK.Value > 6) s6 = TL.FusedMultiplyAdd(TL.Load(p + 6 * c), gj, s6);
                    }
                    TL.Store(s0, d); TL.Store(s1, d + c); TL.Store(s2, d + 2 * c); TL.Store(s3, d + 3 * c); TL.Store(s4, d + 4 * c);
                    if (TK.Value > 5) TL.Store(s5, d + 5 * c);
                    if (TK.Value > 6) TL.Store(s6, d + 6 * c);
                }
    }

    /// <summary>
    /// dW[tap] += Σ of four neighbouring outputs' x · g (the input gradient computed apart, as a convolution): their gradients
    /// loaded once for all taps, one read-modify-write of dW per tap, adding in the same order as the loop with dx.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void FourWeightGradient<TL, TV>(float* origin, int* offsets, int taps, float* g, int step, float* dW, int c)
        where TL : struct, ILanes<TV> where TV : struct
    {
        for (int v = 0; v < c; v += TL.Count)
        {
            TV g0 = TL.Load(g + v), g1 = TL.Load(g + c + v), g2 = TL.Load(g + 2 * c + v), g3 = TL.Load(g + 3 * c + v);
            float* o = origin + v, d = dW + v;
            for (int t = 0; t < taps; t++, d += c)
            {
                float* xs = o + offsets[t];
                var sum = TL.FusedMultiplyAdd(TL.Load(xs), g0, TL.Load(d));
                sum = TL.FusedMultiplyAdd(TL.Load(xs + step), g1, sum);
                sum = TL.FusedMultiplyAdd(TL.Load(xs + 2 * step), g2, sum);
                TL.Store(TL.FusedMultiplyAdd(TL.Load(xs + 3 * step), g3, sum), d);
            }
        }
    }

    /// <summary><see cref="FourWeightGradient{TL, TV}"/> in 512-bit vectors where the CPU has them and the channels fill them.</summary>
    private void FourWeightGradient(float* origin, int* offsets, int taps, float* g, int step, float* dW, int c)
    {
        if (WideChannels) FourWeightGradient<Lanes512, Vector512<float>>(origin, offsets, taps, g, step, dW, c);
        else FourWeightGradient<Lanes256, Vector256<float>>(origin, offsets, taps, g, step, dW, c);
    }

    /// <summary>One tap of one output pixel's gradient g: dW[tap] += x[from] · g; dx[from] += g · w[tap].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Tap(float* x, float* g, float* dx, float* dW, int from, int tap, int c)
    {
        for (int v = 0; v < c; v += Lanes)
        {
            var gv = Vector256.Load(g + v);
            if (dW != null) Vector256.FusedMultiplyAdd(Vector256.Load(x + from + v), gv, Vector256.Load(dW + tap + v)).Store(dW + tap + v);
            if (dx != null) Vector256.FusedMultiplyAdd(gv, Vector256.Load(_w + tap + v), Vector256.Load(dx + from + v)).Store(dx + from + v);
        }
    }

    /// <summary>
    /// Several filters per channel, or channels that do not fill whole vectors: the convolution as one with a filter per channel
    /// over the input spread out (<see cref="ChannelSpread"/>), x'[c·M + m] = x[c] and zero channels up to whole vectors (their
    /// weights zero too), on the fast paths (<see cref="Vectors"/>); what it gives on the spread channels is gathered back. Each
    /// output adds its taps in the same order as the direct loops; dx[c] adds its M filters' shares in order. These had run a
    /// loop per value. Zen 5, `specnet bench` at batch 64, a training step's forward and backward (28x28x16 with one filter a
    /// channel: 0.10-0.12 and 0.25-0.28 ms): 28x28x8 with two filters a channel 6.4-6.5 and 9.0-10.7 -> 0.18 and 0.51 ms;
    /// 28x28x12 1.9-2.0 and 4.0-4.2 -> 0.26-0.27 and 0.48-0.55; 28x28x3 1.9 and 4.1 -> 0.16-0.17 and 0.29-0.31.
    /// </summary>
    private sealed class Spread : IRangeWork
    {
        private readonly DepthwiseConvolution _owner, _wide;  // the convolution asked for; the one over the spread input
        private readonly ChannelSpread _input, _filters;        // an input pixel spread (C values, M times each); an output's or a tap's (C·M, once)
        private readonly float[][] _image, _output, _kernel;    // per thread: an example's spread input, its output's spread channels, the kernel
        private readonly float[] _x = [], _dx = [], _dy = [], _dW = [];   // training: the batch's spread input, its gradient, dy spread; dW spread

        // the backward pass being run, read by the threads in Run
        private bool _gathering;
        private float* _from, _to, _gradient;

        public Spread(DepthwiseConvolution owner, int capacity, bool training, Backend kernels)
        {
            _owner = owner;
            var input = owner._input;
            (_input, _filters) = (new ChannelSpread(input.Channels, owner._multiplier), new ChannelSpread(owner.OutChannels, 1));
            _wide = new DepthwiseConvolution(Shape.Spatial(input.Height, input.Width, _input.Channels), owner._rows, owner._cols, 1, capacity, training, kernels);
            int threads = kernels.Threads;
            _image = Enumerable.Range(0, threads).Select(_ => new float[_wide._input.Size]).ToArray();
            _output = Enumerable.Range(0, Padded ? threads : 0).Select(_ => new float[_wide.OutputSize]).ToArray();
            _kernel = Enumerable.Range(0, Padded ? threads : 0).Select(_ => new float[_wide.WeightCount]).ToArray();
            if (!training) return;
            _x = new float[(long)capacity * _wide._input.Size];
            _dx = new float[_x.Length];
            if (Padded) (_dy, _dW) = (new float[(long)capacity * _wide.OutputSize], new float[_wide.WeightCount]);
        }

        /// <summary>Whether the spread channels outnumber the filters (else the output, its gradient and the kernel are read as they are).</summary>
        private bool Padded => _filters.Channels != _owner.OutChannels;

        /// <summary>Output rows [i0, i1) of one example: the input rows under them spread, convolved, the output's channels gathered.</summary>
        public void ForwardRows(int part, float* x, float* w, float* y, int i0, int i1)
        {
            var (first, end) = _owner._rows.Reads(i0, i1);
            long row = _owner._input.Width;
            fixed (float* image = _image[part], output = Padded ? _output[part] : null, kernel = Padded ? _kernel[part] : null)
            {
                _input.Spread(x + first * row * _input.Values, image + first * row * _input.Channels, (end - first) * row);
                if (Padded) _filters.Spread(w, kernel, _owner.Taps);   // a tap's weights, then zeros: a few vectors
                _wide.ForwardRows(part, image, Padded ? kernel : w, Padded ? output : y, i0, i1);
                if (Padded) _filters.Gather(output, y, (long)(i1 - i0) * _owner._cols.Output);
            }
        }

        public void Backward(Backend kernels, int batch, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> dy, Span<float> dW, Span<float> dx)
        {
            fixed (float* px = x, pdy = dy)
            {
                _gathering = false; _from = px; _gradient = pdy;
                kernels.ParallelFor(batch, this, _wide._input.Size);
            }
            var kernel = w;
            if (Padded)
            {
                fixed (float* pw = w, k = _kernel[0]) _filters.Spread(pw, k, _owner.Taps);
                kernel = _kernel[0];
            }
            var spreadDy = Padded ? _dy.AsSpan(0, batch * _wide.OutputSize) : dy;
            var spreadDw = dW.IsEmpty || !Padded ? dW : _dW;
            _wide.Backward(kernels, batch, _x.AsSpan(0, batch * _wide._input.Size), kernel, spreadDy, spreadDw, dx.IsEmpty ? default : _dx.AsSpan(0, batch * _wide._input.Size));
            if (!dW.IsEmpty && Padded)
                fixed (float* from = _dW, to = dW) _filters.Gather(from, to, _owner.Taps);
            if (dx.IsEmpty) return;
            fixed (float* pdx = dx)
            {
                _gathering = true; _to = pdx;
                kernels.ParallelFor(batch, this, _wide._input.Size);
            }
        }

        /// <summary>Examples [n0, n1): x (and dy) spread into the batch's buffers; or, gathering, dx from the spread one.</summary>
        public void Run(int part, int n0, int n1, bool nested)
        {
            var input = _owner._input;
            long pixels = (long)input.Height * input.Width, outputs = (long)_owner._rows.Output * _owner._cols.Output, wide = _input.Channels;
            fixed (float* spread = _x, spreadDx = _dx, spreadDy = _dy)
                for (long n = n0; n < n1; n++)
                {
                    if (_gathering) { _input.Gather(spreadDx + n * pixels * wide, _to + n * input.Size, pixels); continue; }
                    _input.Spread(_from + n * input.Size, spread + n * pixels * wide, pixels);
                    if (Padded) _filters.Spread(_gradient + n * outputs * _filters.Values, spreadDy + n * outputs * wide, outputs);
                }
        }
    }
}
