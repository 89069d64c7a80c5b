using System.Numerics.Tensors;
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
/// summed over its taps in a register, and the backward pass's updates are inline vector operations.
/// </summary>
public sealed unsafe class DepthwiseConvolution : IRangeWork
{
    private readonly Shape _input;
    private readonly Window _rows, _cols;
    private readonly int _multiplier, _capacity;
    private readonly float[][] _dWeights; // per thread: partial dW (KH, KW, C·M)
    private readonly bool[] _used;

    // The pass being run (set by Forward/Backward, read by the threads in Run).
    private bool _backward, _weightGradient;
    private int _batch;
    private float* _x, _w, _y, _dy, _dx;

    public DepthwiseConvolution(Shape input, Window rows, Window cols, int multiplier, int capacity, bool training, Backend kernels)
    {
        (_input, _rows, _cols, _multiplier, _capacity) = (input, rows, cols, multiplier, capacity);
        _dWeights = Enumerable.Range(0, training ? kernels.Threads : 0).Select(_ => new float[WeightCount]).ToArray();
        _used = new bool[kernels.Threads];
    }

    private int OutChannels => _input.Channels * _multiplier;
    private int WeightCount => _rows.Kernel * _cols.Kernel * OutChannels;
    private int OutputSize => _rows.Output * _cols.Output * OutChannels;

    /// <summary>y (N, OH, OW, C·M) = the depthwise convolution of x with w; no bias.</summary>
    public void Forward(Backend kernels, int batch, ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y)
    {
        Check(kernels, batch, x.Length, w.Length, y.Length, 0);
        fixed (float* px = x, pw = w, py = y)
        {
            (_backward, _batch) = (false, batch);
            _x = px; _w = pw; _y = py;
            kernels.ParallelFor(batch, this, (long)OutputSize * _rows.Kernel * _cols.Kernel);
        }
    }

    /// <summary>dW = the kernel's gradient (overwritten); dx = the input's gradient (overwritten) unless empty.</summary>
    public void Backward(Backend kernels, int batch, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> dy, Span<float> dW, Span<float> dx)
    {
        Check(kernels, batch, x.Length, w.Length, dy.Length, dx.Length);
        _weightGradient = !dW.IsEmpty;                                   // empty: a frozen layer, only dx is wanted
        if (_weightGradient && (dW.Length != WeightCount || _dWeights.Length == 0)) throw new ArgumentException("depthwise convolution: dW of the wrong size, or a plan without training scratch");
        Array.Clear(_used);
        fixed (float* px = x, pw = w, pdy = dy, pdx = dx)
        {
            (_backward, _batch) = (true, batch);
            _x = px; _w = pw; _dy = pdy; _dx = dx.IsEmpty ? null : pdx;
            kernels.ParallelFor(batch, this, (long)OutputSize * _rows.Kernel * _cols.Kernel);
        }
        if (!_weightGradient) return;
        dW.Clear();
        for (int t = 0; t < _used.Length; t++)
            if (_used[t]) TensorPrimitives.Add(dW, _dWeights[t], dW);
    }

    private void Check(Backend kernels, int batch, int x, int w, int y, int dx)
    {
        if (batch < 1 || batch > _capacity || x < batch * _input.Size || w != WeightCount || y < batch * OutputSize
            || dx != 0 && dx < batch * _input.Size || kernels.Threads != _used.Length)
            throw new ArgumentException($"depthwise convolution: buffers of {x}, {w}, {y}, {dx} floats do not fit a batch of {batch} on {kernels.Threads} threads");
    }

    /// <summary>Examples [n0, n1) on thread <paramref name="part"/>.</summary>
    public void Run(int part, int n0, int n1, bool nested)
    {
        int h = _input.Height, w = _input.Width, c = _input.Channels, co = OutChannels, m = _multiplier;
        var weights = new ReadOnlySpan<float>(_w, WeightCount);
        float[]? dW = _backward && _weightGradient ? _dWeights[part] : null;
        if (dW is not null && !_used[part]) { Array.Clear(dW); _used[part] = true; }
        bool vectors = _multiplier == 1 && c % Lanes == 0 && Vector256.IsHardwareAccelerated;
        for (int n = n0; n < n1; n++)
        {
            if (vectors)
            {
                float* xn = _x + (long)n * _input.Size;
                if (!_backward) ForwardVectors(xn, _y + (long)n * OutputSize);
                else
                {
                    fixed (float* pdW = dW)
                        BackwardVectors(xn, _dy + (long)n * OutputSize, _dx == null ? null : _dx + (long)n * _input.Size, pdW);
                }
                continue;
            }
            var x = new ReadOnlySpan<float>(_x + (long)n * _input.Size, _input.Size);
            var y = _backward ? default : new Span<float>(_y + (long)n * OutputSize, OutputSize);
            var dy = _backward ? new ReadOnlySpan<float>(_dy + (long)n * OutputSize, OutputSize) : default;
            var dx = _backward && _dx != null ? new Span<float>(_dx + (long)n * _input.Size, _input.Size) : default;
            if (_backward) dx.Clear(); else y.Clear();
            for (int i = 0; i < _rows.Output; i++)
                for (int j = 0; j < _cols.Output; j++)
                {
                    int at = (i * _cols.Output + j) * co;
                    for (int di = 0; di < _rows.Kernel; di++)
                    {
                        int ih = i * _rows.Stride - _rows.PadBefore + di * _rows.Dilation;
                        if ((uint)ih >= (uint)h) continue;
                        for (int dj = 0; dj < _cols.Kernel; dj++)
                        {
                            int iw = j * _cols.Stride - _cols.PadBefore + dj * _cols.Dilation;
                            if ((uint)iw >= (uint)w) continue;
                            int from = (ih * w + iw) * c, tap = (di * _cols.Kernel + dj) * co;
                            if (m == 1)
                            {
                                var xs = x.Slice(from, c);
                                var ws = weights.Slice(tap, c);
                                if (!_backward) { var ys = y.Slice(at, c); TensorPrimitives.FusedMultiplyAdd(xs, ws, ys, ys); continue; }
                                var dys = dy.Slice(at, c);
                                if (dW is not null) { var dws = dW.AsSpan(tap, c); TensorPrimitives.FusedMultiplyAdd(xs, dys, dws, dws); } // dW[tap] += x · dy
                                if (!dx.IsEmpty) { var dxs = dx.Slice(from, c); TensorPrimitives.FusedMultiplyAdd(dys, ws, dxs, dxs); } // dx += dy · w
                                continue;
                            }
                            for (int o = 0; o < co; o++)
                            {
                                int ci = from + o / m;
                                if (!_backward) { y[at + o] += x[ci] * weights[tap + o]; continue; }
                                if (dW is not null) dW[tap + o] += x[ci] * dy[at + o];
                                if (!dx.IsEmpty) dx[ci] += dy[at + o] * weights[tap + o];
                            }
                        }
                    }
                }
        }
    }

    private static readonly int Lanes = Vector256<float>.Count;

    /// <summary>One example, one filter per channel: y[i, j, v] = Σ_taps x[tap's pixel, v] · w[tap, v], summed in a register.</summary>
    private void ForwardVectors(float* x, float* y)
    {
        int h = _input.Height, w = _input.Width, c = _input.Channels;
        for (int i = 0; i < _rows.Output; i++)
            for (int j = 0; j < _cols.Output; j++)
            {
                float* yo = y + (i * _cols.Output + j) * c;
                for (int v = 0; v < c; v += Lanes)
                {
                    var sum = Vector256<float>.Zero;
                    for (int di = 0; di < _rows.Kernel; di++)
                    {
                        int ih = i * _rows.Stride - _rows.PadBefore + di * _rows.Dilation;
                        if ((uint)ih >= (uint)h) continue;
                        for (int dj = 0; dj < _cols.Kernel; dj++)
                        {
                            int iw = j * _cols.Stride - _cols.PadBefore + dj * _cols.Dilation;
                            if ((uint)iw >= (uint)w) continue;
                            sum = Vector256.FusedMultiplyAdd(Vector256.Load(x + (ih * w + iw) * c + v), Vector256.Load(_w + (di * _cols.Kernel + dj) * c + v), sum);
                        }
                    }
                    sum.Store(yo + v);
                }
            }
    }

    /// <summary>One example, one filter per channel: dW[tap] += x · dy (when <paramref name="dW"/> is set), dx = Σ_taps dy · w (when <paramref name="dx"/> is).</summary>
    private void BackwardVectors(float* x, float* dy, float* dx, float* dW)
    {
        int h = _input.Height, w = _input.Width, c = _input.Channels;
        if (dx != null) new Span<float>(dx, _input.Size).Clear();
        for (int i = 0; i < _rows.Output; i++)
            for (int j = 0; j < _cols.Output; j++)
            {
                float* g = dy + (i * _cols.Output + j) * c;
                for (int di = 0; di < _rows.Kernel; di++)
                {
                    int ih = i * _rows.Stride - _rows.PadBefore + di * _rows.Dilation;
                    if ((uint)ih >= (uint)h) continue;
                    for (int dj = 0; dj < _cols.Kernel; dj++)
                    {
                        int iw = j * _cols.Stride - _cols.PadBefore + dj * _cols.Dilation;
                        if ((uint)iw >= (uint)w) continue;
                        int from = (ih * w + iw) * c, tap = (di * _cols.Kernel + dj) * c;
                        for (int v = 0; v < c; v += Lanes)
                        {
                            var gv = Vector256.Load(g + v);
                            if (dW != null) Vector256.FusedMultiplyAdd(Vector256.Load(x + from + v), gv, Vector256.Load(dW + tap + v)).Store(dW + tap + v);
                            if (dx != null) Vector256.FusedMultiplyAdd(gv, Vector256.Load(_w + tap + v), Vector256.Load(dx + from + v)).Store(dx + from + v);
                        }
                    }
                }
            }
    }
}
