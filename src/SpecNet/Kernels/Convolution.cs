using SpecNet.Schema;

namespace SpecNet.Kernels;

/// <summary>The shape of a 2-D convolution (NHWC input; kernel stored [F, KH, KW, C/groups]).</summary>
public readonly record struct ConvGeometry(Shape Input, Window Rows, Window Cols, int Filters, int Groups = 1)
{
    public int GroupChannels => Input.Channels / Groups;
    public int GroupFilters => Filters / Groups;
    /// <summary>K of a group's GEMM: one window's values.</summary>
    public int PatchSize => Rows.Kernel * Cols.Kernel * GroupChannels;
    /// <summary>Output positions per example: rows of the GEMM.</summary>
    public int Positions => Rows.Output * Cols.Output;
    public int OutputSize => Positions * Filters;
}

/// <summary>What ends a convolution, applied to a chunk's output rows while they are in cache (bias, relu).</summary>
public interface IRowsEpilogue
{
    void ApplyRows(Span<float> rows);
}

/// <summary>y = max((y + bias)·a + b, 0) on a chunk's rows: bias, a folded batch normalisation and relu (<see cref="ChannelKernels.BiasAffineRelu(Span{float}, int, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, bool)"/>).</summary>
public sealed class AffineRows : IRowsEpilogue
{
    public float[]? Bias;
    public float[] A = [], B = [];
    public bool Relu;

    public void ApplyRows(Span<float> rows) => ChannelKernels.BiasAffineRelu(rows, A.Length, Bias, A, B, Relu);
}

/// <summary>
/// A convolution computed as im2col + GEMM, per group: Y[:, group] = cols(X) W_groupᵀ, and backward
/// dW_group = dY[:, group]ᵀ cols, dcols = dY[:, group] W_group, dX += col2im(dcols).
/// The batch is cut into chunks small enough that a chunk's columns stay in a core's L2 cache, and the
/// threads take whole chunks: no fork-join inside a GEMM, no batch-sized column matrix. Backward rebuilds a
/// chunk's columns rather than keeping them from forward. Holds the per-thread scratch this needs,
/// sized for the backend's thread count.
/// </summary>
public sealed unsafe class Convolution : IRangeWork
{
    /// <summary>Columns per chunk, in floats: about half a 1 MiB L2 (SPECNET_CHUNK overrides, for measuring).</summary>
    private static readonly int ChunkFloats = int.TryParse(Environment.GetEnvironmentVariable("SPECNET_CHUNK"), out var c) ? c : 1 << 17;

    private readonly ConvGeometry _g;
    private readonly int _chunkSize;                 // examples per chunk at most
    private readonly int _capacity;                  // examples per pass at most
    private readonly float[][] _cols;                // per thread: (chunk * OH * OW, K)
    private readonly float[][] _dWeightsT;           // per thread: each group's dWᵀ (K, F/groups), group after group
    private readonly bool[] _used;                   // per thread: whether its dWᵀ holds a partial sum yet

    // The pass being run (set by Forward/Backward, read by the threads in Run).
    private bool _backward, _inputGradient, _weightGradient;
    private int _batch, _chunk;
    private float* _x, _y, _dz, _dx, _w;
    private Backend _kernels = null!;
    private IRowsEpilogue? _epilogue;

    public Convolution(ConvGeometry geometry, int capacity, bool training, Backend kernels)
    {
        _g = geometry;
        _capacity = capacity;
        _chunkSize = Math.Max(1, ChunkFloats / (geometry.Positions * geometry.PatchSize));
        int threads = kernels.Threads;
        int colsPerThread = Math.Min(capacity, _chunkSize) * geometry.Positions * geometry.PatchSize;
        _cols = Enumerable.Range(0, threads).Select(_ => new float[colsPerThread]).ToArray();
        _dWeightsT = Enumerable.Range(0, training ? threads : 0).Select(_ => new float[geometry.PatchSize * geometry.Filters]).ToArray();
        _used = new bool[threads];
    }

    /// <summary>Floats of columns per example (for memory planning).</summary>
    public static long ScratchPerExample(ConvGeometry g) => (long)g.Positions * g.PatchSize;

    /// <summary>
    /// y (N*OH*OW, F) = convolution of x (N, H, W, C) with w [F, KH, KW, C/groups]; then, when given, the epilogue on
    /// each chunk's rows as soon as they are computed (one trip through memory instead of two).
    /// </summary>
    public void Forward(Backend kernels, int batch, ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, IRowsEpilogue? epilogue = null)
    {
        CheckSizes(batch, x.Length, w.Length, y.Length, 0);
        fixed (float* px = x, py = y, pw = w)
        {
            Begin(kernels, batch, backward: false, inputGradient: false);
            _x = px; _y = py; _w = pw; _epilogue = epilogue;
            kernels.ParallelFor((batch + _chunk - 1) / _chunk, this);
            _epilogue = null;
        }
    }

    /// <summary>dW = gradient of the kernel (overwritten); dx = gradient of the input (overwritten) unless empty.</summary>
    public void Backward(Backend kernels, int batch, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> dz, Span<float> dW, Span<float> dx)
    {
        CheckSizes(batch, x.Length, w.Length, dz.Length, dx.Length);
        _weightGradient = !dW.IsEmpty;                                   // empty: a frozen layer, only dx is wanted
        if (_weightGradient && dW.Length != w.Length) throw new ArgumentException($"convolution: dW has {dW.Length} floats, the kernel {w.Length}");
        Array.Clear(_used);
        fixed (float* px = x, pdz = dz, pdx = dx, pw = w)
        {
            Begin(kernels, batch, backward: true, inputGradient: !dx.IsEmpty);
            _x = px; _dz = pdz; _dx = pdx; _w = pw;
            kernels.ParallelFor((batch + _chunk - 1) / _chunk, this);
        }
        if (!_weightGradient) return;
        // dW = the threads' partial gradients (kept transposed: the big operand, cols, is then read in place),
        // added in thread order: deterministic for a given thread count.
        int k = _g.PatchSize, fg = _g.GroupFilters;
        dW.Clear();
        for (int t = 0; t < _used.Length; t++)
        {
            if (!_used[t]) continue;
            var partial = _dWeightsT[t];
            for (int group = 0; group < _g.Groups; group++)
                for (int i = 0; i < k; i++)
                    for (int f = 0; f < fg; f++) dW[(group * fg + f) * k + i] += partial[(group * k + i) * fg + f];
        }
    }

    private void CheckSizes(int batch, int x, int w, int y, int dx)
    {
        if (batch < 1 || batch > _capacity || x < batch * _g.Input.Size || y < batch * _g.OutputSize || w != _g.Filters * _g.PatchSize
            || dx != 0 && dx < batch * _g.Input.Size)
            throw new ArgumentException($"convolution: buffers of {x}, {w}, {y}, {dx} floats do not fit a batch of {batch} ({_g})");
    }

    /// <summary>Chunks for a batch: a multiple of the thread count, of equal size, so threads finish together.</summary>
    private void Begin(Backend kernels, int batch, bool backward, bool inputGradient)
    {
        if (kernels.Threads != _cols.Length) throw new ArgumentException($"convolution scratch was made for {_cols.Length} threads, the backend has {kernels.Threads}");
        int threads = kernels.Threads;
        int chunks = (batch + _chunkSize - 1) / _chunkSize;
        chunks = Math.Min(batch, (chunks + threads - 1) / threads * threads);
        (_kernels, _batch, _chunk, _backward, _inputGradient) = (kernels, batch, (batch + chunks - 1) / chunks, backward, inputGradient);
    }

    /// <summary>Chunks [c0, c1) on thread <paramref name="part"/>.</summary>
    public void Run(int part, int c0, int c1, bool nested)
    {
        var g = _g;
        int positions = g.Positions, k = g.PatchSize, f = g.Filters, fg = g.GroupFilters, cg = g.GroupChannels;
        var x = new ReadOnlySpan<float>(_x, _batch * g.Input.Size);
        var w = new ReadOnlySpan<float>(_w, f * k);
        for (int chunk = c0; chunk < c1; chunk++)
        {
            int n0 = chunk * _chunk, n1 = Math.Min(_batch, n0 + _chunk), rows = (n1 - n0) * positions;
            var cols = _cols[part].AsSpan(0, rows * k);
            if (_backward && _inputGradient) new Span<float>(_dx + (long)n0 * g.Input.Size, (n1 - n0) * g.Input.Size).Clear();
            for (int group = 0; group < g.Groups; group++)
            {
                Im2Col.Columns(x, n0, n1, g.Input, g.Rows, g.Cols, cols, group * cg, cg);
                var wg = w.Slice(group * fg * k, fg * k);
                if (!_backward)
                {
                    var y = new Span<float>(_y + (long)n0 * positions * f + group * fg, rows * f - group * fg);
                    Gemm(nested, part, Op.N, Op.T, rows, fg, k, cols, k, wg, k, 0, y, f);                  // Y (rows, Fg) = cols Wgᵀ
                    continue;
                }
                var dz = new ReadOnlySpan<float>(_dz + (long)n0 * positions * f + group * fg, rows * f - group * fg);
                if (_weightGradient)
                {
                    var dWt = _dWeightsT[part].AsSpan(group * k * fg, k * fg);
                    Gemm(nested, part, Op.T, Op.N, k, fg, rows, cols, k, dz, f, _used[part] ? 1 : 0, dWt, fg); // dWgᵀ (K, Fg) += colsᵀ dZg
                }
                if (!_inputGradient) continue;
                Gemm(nested, part, Op.N, Op.N, rows, k, fg, dz, f, wg, k, 0, cols, k);                      // dcols = dZg Wg
                Im2Col.Accumulate(cols, n0, n1, g.Input, g.Rows, g.Cols, new Span<float>(_dx, _batch * g.Input.Size), group * cg, cg);
            }
            if (_backward) _used[part] = true;
            else _epilogue?.ApplyRows(new Span<float>(_y + (long)n0 * positions * f, rows * f));
        }
    }

    private void Gemm(bool nested, int part, Op opA, Op opB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (nested) _kernels.GemmOnThread(part, opA, opB, m, n, k, a, lda, b, ldb, beta, c, ldc);
        else _kernels.Gemm(opA, opB, m, n, k, a, lda, b, ldb, beta, c, ldc);
    }
}
