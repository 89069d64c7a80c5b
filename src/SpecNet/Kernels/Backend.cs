using System.Runtime.CompilerServices;

namespace SpecNet.Kernels;

/// <summary>Work split by <see cref="Backend.ParallelFor(int, IRangeWork)"/>: items [start, end) on thread <c>part</c>.</summary>
public interface IRangeWork
{
    /// <param name="nested">True when running inside the worker pool: call <see cref="Backend.GemmOnThread"/>, not Gemm.</param>
    void Run(int part, int start, int end, bool nested);
}

/// <summary>Whether a GEMM operand is used as stored or transposed.</summary>
public enum Op { N, T }

/// <summary>
/// The matrix kernel every layer calls: single-precision GEMM on row-major matrices,
/// C[m,n] = op(A)[m,k] * op(B)[k,n] + beta * C. op(A) is A (stored m x k, row stride lda) or Aᵀ (stored
/// k x m). Layers never know which backend runs; backends must agree with <see cref="ReferenceBackend"/>.
/// Not thread-safe: one model runs on one thread, and a backend parallelises inside a call.
/// </summary>
public abstract class Backend
{
    private WorkerPool? _pool;
    private Action<int>? _rangeWork;
    private unsafe delegate*<void*, int, int, int, void> _body;
    private unsafe void* _state;
    private int _count, _parts;

    /// <summary>
    /// Runs body(state, part, start, end) over [0, count) split into one contiguous range per thread
    /// (part = 0 .. <see cref="Threads"/> - 1, for per-thread partial sums), for the
    /// work around the GEMMs (im2col, pooling, activations). A function pointer and a pointer to the
    /// caller's arguments (on its stack; the caller waits) keep it free of allocation.
    /// <paramref name="itemWork"/> (floats touched per item) keeps small work on one thread: every thread
    /// gets at least <see cref="MinParallelWork"/>. Returns the number of parts run (0 .. parts - 1).
    /// </summary>
    public unsafe int ParallelFor(int count, delegate*<void*, int, int, int, void> body, void* state, long itemWork = MinParallelWork)
    {
        int parts = Parts(count, itemWork);
        if (parts <= 1) { if (count > 0) body(state, 0, 0, count); return 1; }
        _pool ??= SharedPool(Threads);
        _work = null; _body = body; _state = state; _count = count; _parts = parts;
        _pool.Run(_rangeWork ??= RangeWork);
        return parts;
    }

    /// <summary>
    /// The same for passes whose results do not depend on the thread that computes an item (maps, or sums kept per chunk): the items in
    /// chunks of <paramref name="grain"/>, each thread taking the chunks of ParallelFor's share from the front, then the
    /// others' from their backs, as <see cref="ParallelForEach(int, IRangeWork, long)"/> does.
    /// </summary>
    public unsafe int ParallelForEach(int count, delegate*<void*, int, int, int, void> body, void* state, long itemWork, int grain)
    {
        int parts = Parts(count, itemWork);
        if (parts <= 1) return ParallelFor(count, body, state, itemWork);
        _pool ??= SharedPool(Threads);
        _work = null; _body = body; _state = state;
        Deal(count, parts, Math.Max(1, grain));
        try { _pool.Run(_rangeWork ??= RangeWork); }
        finally { _eachTakes = false; }
        return parts;
    }

    /// <summary>The same for work that needs managed state: an object, set up by its owner before the call.</summary>
    public int ParallelFor(int count, IRangeWork work, long itemWork = MinParallelWork) => Fork(count, work, itemWork, eachTakes: false);

    /// <summary>
    /// The same, for items whose results do not depend on the thread that computes them (a convolution's forward chunks): each
    /// thread takes the items of its fixed share one at a time from the front, then, done, takes the others' from their backs.
    /// The shares are ParallelFor's, so a chunk's output is still in its thread's cache when the next pass over the same rows
    /// (a batch norm, a relu, the next convolution) reads them there; and a thread the host slows down (a virtual CPU shared with
    /// other guests) is relieved of the end of its share, so the other does not wait for it.
    /// </summary>
    public int ParallelForEach(int count, IRangeWork work, long itemWork = MinParallelWork) => Fork(count, work, itemWork, eachTakes: true);

    private int Fork(int count, IRangeWork work, long itemWork, bool eachTakes)
    {
        int parts = Parts(count, itemWork);
        if (parts <= 1) { if (count > 0) work.Run(0, 0, count, nested: false); return 1; }
        _pool ??= SharedPool(Threads);
        _work = work;
        if (eachTakes) Deal(count, parts, grain: 1);
        else (_count, _parts) = (count, parts);
        try { _pool.Run(_rangeWork ??= RangeWork); }
        finally { _work = null; _eachTakes = false; }
        return parts;
    }

    private bool _eachTakes;    // whether the pass running is ParallelForEach's
    private int _grain;         // ParallelForEach: items a chunk, the unit taken

    /// <summary>Sets up a ParallelForEach: count items in chunks of grain, each part's share of the chunks ParallelFor's split of them.</summary>
    private void Deal(int count, int parts, int grain)
    {
        int chunks = (int)(((long)count + grain - 1) / grain);
        (_count, _parts, _grain, _eachTakes) = (count, parts, grain, true);
        if (_shares.Length < parts * ShareStride) _shares = new long[parts * ShareStride];
        for (int t = 0; t < parts; t++)
        {
            var (start, end) = Slice(chunks, parts, t);
            _shares[t * ShareStride] = Share(start, end);
        }
    }

    private long[] _shares = [];    // ParallelForEach: per part, the items of its share not yet taken, [front, back) (Share)

    // Each part's share on a cache line of its own: taking an item writes it.
    private const int ShareStride = 128 / sizeof(long);

    private static long Share(int front, int back) => (long)back << 32 | (uint)front;

    /// <summary>Part <paramref name="index"/>'s share of <paramref name="count"/> items split into <paramref name="parts"/> contiguous ranges: ParallelFor's split.</summary>
    protected internal static (int Start, int End) Slice(int count, int parts, int index) =>
        ((int)((long)count * index / parts), (int)((long)count * (index + 1) / parts));

    /// <summary>The next item of part <paramref name="part"/>'s share, from its front or its back, or -1 when none is left.</summary>
    private int Take(int part, bool front)
    {
        ref long share = ref _shares[part * ShareStride];
        while (true)
        {
            long seen = Volatile.Read(ref share);
            int f = (int)seen, b = (int)(seen >> 32);
            if (f >= b) return -1;
            if (Interlocked.CompareExchange(ref share, front ? Share(f + 1, b) : Share(f, b - 1), seen) == seen) return front ? f : b - 1;
        }
    }

    /// <summary>
    /// Floats of memory-bound work below which a second thread costs more than it saves (waking it and
    /// joining take microseconds; a batch of one image is mostly such layers).
    /// </summary>
    public const long MinParallelWork = 1 << 14;

    private int Parts(int count, long itemWork) => (int)Math.Max(1, Math.Min(Math.Min(Threads, count), (long)count * itemWork / MinParallelWork));

    private IRangeWork? _work;

    private unsafe void RangeWork(int t)
    {
        if (t >= _parts) return;
        if (_eachTakes)
        {
            // Its own share first, then the others' ends. Measured on a Zen 5, training at batch 64, in one process in both orders: the
            // residual model's step 17.3 -> 16.5 and 16.9 -> 16.6 ms, the depthwise model's 11.9 -> 11.2 and 12.1 -> 11.9, against
            // chunks taken in turn by whichever thread was free (a chunk's output then sat in the other core's cache as often as not).
            for (int i; (i = Take(t, front: true)) >= 0; ) RunChunk(t, i);
            for (int other = 1; other < _parts; other++)
                for (int i, p = (t + other) % _parts; (i = Take(p, front: false)) >= 0; ) RunChunk(t, i);
            return;
        }
        var (start, end) = Slice(_count, _parts, t);
        if (start >= end) return;
        if (_work is { } work) work.Run(t, start, end, nested: true);
        else _body(_state, t, start, end);
    }

    private unsafe void RunChunk(int t, int chunk)
    {
        int start = (int)((long)chunk * _grain), end = (int)Math.Min((long)start + _grain, _count);
        if (_work is { } work) work.Run(t, start, end, nested: true);
        else _body(_state, t, start, end);
    }

    /// <summary>
    /// A GEMM run by one thread of a <see cref="ParallelFor"/> (part <paramref name="thread"/>), when the
    /// threads split the work between them instead of splitting each GEMM. Backends must keep the
    /// threads' scratch apart; by default calls are serialised.
    /// </summary>
    public virtual void GemmOnThread(int thread, Op opA, Op opB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        lock (_serial) Gemm(opA, opB, m, n, k, a, lda, b, ldb, beta, c, ldc);
    }

    private readonly object _serial = new();

    /// <summary>A GEMM from thread <paramref name="thread"/> of a <see cref="ParallelFor"/> when <paramref name="nested"/> (<see cref="GemmOnThread"/>), else from outside one (<see cref="Gemm(Op, Op, int, int, int, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, float, Span{float}, int)"/>, which may fork).</summary>
    public void GemmFrom(int thread, bool nested, Op opA, Op opB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (nested) GemmOnThread(thread, opA, opB, m, n, k, a, lda, b, ldb, beta, c, ldc);
        else Gemm(opA, opB, m, n, k, a, lda, b, ldb, beta, c, ldc);
    }

    /// <summary>Whether <see cref="GemmGathered"/> can ever run (else callers need not prepare for it).</summary>
    public virtual bool GathersRows => false;

    /// <summary>
    /// Whether 3x3 stride-1 convolutions run by Winograd F(4x4, 3x3) or F(2x2, 3x3) where it fits (<see cref="Winograd.Fits"/>), unless
    /// SPECNET_WINOGRAD=0: where its GEMMs read V in place and the kernel is packed once (the managed backend's gathered GEMM); on
    /// MKL they would pack the transformed kernel at every call: left direct there.
    /// </summary>
    public virtual bool RunsWinograd => GathersRows && Winograd.Enabled;

    /// <summary>Rows of C that <see cref="GemmGathered"/> makes at a time (its micro-kernel's); 0 without a gathered GEMM.</summary>
    public virtual int GatheredTileRows => 0;

    /// <summary>Floats that B (n, k) takes packed for <see cref="GemmGathered"/>.</summary>
    public virtual int GatheredPackSize(int n, int k) => throw new NotSupportedException($"{Name} has no gathered GEMM");

    /// <summary>
    /// B (n, k, row-major) laid out for <see cref="GemmGathered"/>: done once per pass, not by every thread for every chunk.
    /// <paramref name="transposed"/>: <paramref name="b"/> holds Bᵀ (k, n), rows <paramref name="ldb"/> apart (a convolution's kernel
    /// for <see cref="GemmAddToWindows"/>).
    /// </summary>
    public virtual void PackGathered(ReadOnlySpan<float> b, int ldb, int n, int k, Span<float> packed, bool transposed = false) =>
        throw new NotSupportedException($"{Name} has no gathered GEMM");

    /// <summary>
    /// C (m, n) = A Bᵀ on thread <paramref name="thread"/> (as <see cref="GemmOnThread"/>), with A's rows read where they lie
    /// (<see cref="GatheredRows"/>: a convolution's windows, no im2col) and B as <see cref="PackGathered"/> laid it out; false
    /// when this backend has no such kernel or the shape is better served otherwise, and the caller then lays the rows out
    /// for a GEMM. Equal to that GEMM on the laid-out rows, to the bit, except where the backend runs a few rows in the tiles
    /// that the GEMM runs as dot products (<see cref="GathersColumns"/>'s shapes): then to rounding, and to the bit the same rows
    /// in a longer block. <paramref name="beta"/> 1: C += A Bᵀ. <paramref name="map"/>:
    /// applied to C's values as they are stored, where the backend can (<see cref="ColumnMap"/>).
    /// </summary>
    public virtual unsafe bool GemmGathered(int thread, in GatheredRows a, int m, int n, ReadOnlySpan<float> packedB, Span<float> c, int ldc, float beta = 0,
        ColumnMap* map = null) => false;

    /// <summary>Columns of C in a panel of <see cref="GemmGathered"/>'s: a share of C's columns starts at a multiple of it (<see cref="GemmGatheredColumns"/>).</summary>
    public virtual int GatheredPanel => 0;

    /// <summary>
    /// Whether <see cref="GemmGatheredColumns"/> takes C (m, n) over k: one image of few output positions against many filters,
    /// shared between the threads by its filters. A property of the shape alone, not of the thread count, so one thread and
    /// several give the same floats.
    /// </summary>
    public virtual bool GathersColumns(int m, int n, int k) => false;

    /// <summary>
    /// Columns [n0, n1) of <see cref="GemmGathered"/>'s C (m, n) = A Bᵀ, n0 a multiple of <see cref="GatheredPanel"/>, for a shape
    /// <see cref="GathersColumns"/> takes (else false): each thread computes every row for its panels of B, reading them once. C's
    /// other columns are not touched; each sum is built as GemmGathered builds it. <paramref name="map"/> as GemmGathered's.
    /// </summary>
    public virtual unsafe bool GemmGatheredColumns(int thread, in GatheredRows a, int m, int n, int n0, int n1, ReadOnlySpan<float> packedB, Span<float> c, int ldc,
        ColumnMap* map = null) => false;

    /// <summary>
    /// <see cref="GemmGathered"/> over rows grouped by class (<see cref="WindowClasses"/>), each row's sum over its class's taps
    /// alone: the taps left out read the zero border (0·w adds nothing to a sum that starts at +0), so C is equal to the bit to
    /// <see cref="GemmGathered"/> over every tap, for finite weights. False when the backend leaves this to the caller.
    /// </summary>
    public virtual bool GemmGatheredClasses(int thread, in WindowClasses a, int n, ReadOnlySpan<float> packedB, float beta = 0) => false;

    /// <summary>
    /// C (m, n) = Aᵀ B + beta·C on thread <paramref name="thread"/>, A's k rows read where they lie (<see cref="GatheredRows"/>, m =
    /// <see cref="GatheredRows.K"/> elements each: a convolution's windows) and B (k, n) row-major: a convolution's weight gradient
    /// without laying its windows out. False when this backend has no such kernel or the shape is better served otherwise; when
    /// true, equal to the bit to <see cref="GemmOnThread"/>(T, N) on the laid-out rows.
    /// </summary>
    public virtual bool GemmGatheredTransposed(int thread, in GatheredRows a, int k, int n, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) => false;

    /// <summary>
    /// X += col2im(A Bᵀ) on thread <paramref name="thread"/>: each row of A Bᵀ (m, n; A's m rows <paramref name="lda"/> apart, k
    /// floats each; B as <see cref="PackGathered"/> laid it out, transposed) added, a vector at a time, to the cells of X its window
    /// covers (<see cref="WindowTargets"/>) as it leaves the micro-kernel: a strided convolution's input gradient without its
    /// columns stored and read back. Each cell's sum is built in an order fixed by its image alone (not by the rows' split into
    /// chunks or threads). False when this backend leaves it to the caller (GEMM, then <see cref="Im2Col.Accumulate"/>).
    /// </summary>
    public virtual unsafe bool GemmAddToWindows(int thread, float* a, int lda, int m, int n, int k, ReadOnlySpan<float> packedB, in WindowTargets x) => false;

    /// <summary>Floats of the vectors <see cref="GemmAddToWindows"/> adds, each where <see cref="WindowTargets"/> says (0: it has none).</summary>
    public virtual int WindowVector => 0;

    /// <summary>
    /// Whether <see cref="GemmGatheredTransposed"/> takes C (m, n) over k rows whose first <paramref name="run"/> elements lie one
    /// after another (<see cref="GatheredRows.LeadingRun"/>): asked first, so a caller makes no padded copy for nothing.
    /// </summary>
    public virtual bool GathersTransposed(int m, int n, int k, int run) => false;

    /// <summary>
    /// Whether <see cref="Gemm"/> shares A Bᵀ (m, n) over k between its threads by B's rows (C's columns): a few rows against many
    /// columns, each thread reading its part of B once. A caller with as few rows hands it all of them rather than splitting them.
    /// </summary>
    public virtual bool SplitsColumns(int m, int n, int k) => false;

    /// <summary>
    /// A reference: models run on it compute every convolution by its definition's sums, never by a faster algorithm that
    /// rounds differently (inference's Winograd convolutions, <see cref="Winograd"/>).
    /// </summary>
    public virtual bool Reference => false;

    /// <summary>The pool this backend forks onto; backends with their own pool share it with ParallelFor.</summary>
    protected virtual WorkerPool SharedPool(int threads) => new(threads);

    /// <summary>The name users pass to --backend.</summary>
    public abstract string Name { get; }
    /// <summary>What it runs on: "AVX-512", "AVX2", "MKL 2020 (cblas_sgemm)", ...</summary>
    public abstract string InstructionSet { get; }
    public abstract int Threads { get; }

    public abstract void Gemm(Op opA, Op opB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc);

    /// <summary>C = op(A) op(B) + beta C with the leading dimensions of densely stored matrices.</summary>
    public void Gemm(Op opA, Op opB, int m, int n, int k, ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, Span<float> c) =>
        Gemm(opA, opB, m, n, k, a, opA == Op.N ? k : m, b, opB == Op.N ? n : k, beta, c, n);

    public override string ToString() => $"{Name} ({InstructionSet}, {Threads} thread{(Threads == 1 ? "" : "s")})";
}

/// <summary>
/// A convolution's output positions grouped by which taps of their windows fall inside the input: class c holds rows
/// [Starts[c], Starts[c + 1]) of the lists; A's row r (its window) starts at ARows[r], its elements at Offsets[0..K) from there,
/// and C's row r is at CRows[r]; the class's taps are the q in [Ranges[2j], Ranges[2j + 1]) for j in [RangeStarts[c],
/// RangeStarts[c + 1]), in order. A convolution's border positions skip the taps in the padding, as a direct convolution does.
/// </summary>
public readonly unsafe struct WindowClasses(int count, int* starts, float** aRows, float** cRows, int ldc, int* rangeStarts, int* ranges, int* offsets, int k)
{
    public readonly int Count = count, Ldc = ldc, K = k;
    public readonly int* Starts = starts, RangeStarts = rangeStarts, Ranges = ranges, Offsets = offsets;
    public readonly float** ARows = aRows, CRows = cRows;
}

/// <summary>
/// What a GEMM can apply to C's values as it stores them, per column j: (c + Bias[j])·Scale[j] + Shift[j], then max(·, 0) with
/// Relu (Bias, or Scale and Shift, null for none). A convolution's epilogue (its bias, a folded batch normalisation, relu) in the
/// GEMM's registers instead of a pass over its output rows after; the float operations of <see cref="ChannelKernels.BiasAffineRelu(Backend, Span{float}, int, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, bool)"/>,
/// so the values are the same to the bit. The backend sets <see cref="Applied"/> when it applied it to all of C; else the caller
/// applies its epilogue itself.
/// </summary>
public unsafe struct ColumnMap
{
    public float* Bias, Scale, Shift;
    public bool Relu, Applied;

    /// <summary>The map of the columns from <paramref name="column"/> on (a panel of C's).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly ColumnMap From(int column) => new()
    {
        Bias = Bias == null ? null : Bias + column, Scale = Scale == null ? null : Scale + column, Shift = Shift == null ? null : Shift + column, Relu = Relu,
    };
}

/// <summary>
/// A <see cref="ColumnMap"/>'s coefficients for the vector of columns from <paramref name="column"/> on, loaded once per tile and
/// held in registers, applied without a test: a step the map lacks runs as an identity, to the bit (x + -0 = x for every x, -0
/// included; x·1 + -0 = x; max(-∞, x) = x). The same operations as ChannelKernels.BiasAffineRelu's rows, so the same floats.
/// Reading the map through its pointers at every store, or testing its steps per vector, had cost more than the pass it saves
/// (the depthwise model's single image on a Zen 5). One struct for either width (<see cref="ILanes{TVector}"/>).
/// </summary>
internal readonly unsafe struct ColumnCoefficients<TL, TV> where TL : struct, ILanes<TV> where TV : struct
{
    private readonly TV _bias, _scale, _shift, _floor, _zero;
    public readonly bool Any;                    // false: the default, which applies nothing

    /// <param name="count">The columns C has from <paramref name="column"/> on, when fewer than a vector (a panel cut by C's edge):
    /// only those coefficients are read, the others 0 (their lanes are never stored).</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]   // a call after a kernel's loop would spill its sums in the loop: no callee-saved vector registers
    /// <param name="broadcast">Column <paramref name="column"/>'s coefficients in every lane: a vector of one column's sums (positions in the lanes).</param>
    public ColumnCoefficients(ColumnMap* map, int column, int count = int.MaxValue, bool broadcast = false)
    {
        if (map == null) return;
        var minusZero = TL.Create(-0f);
        Any = true;
        _bias = map->Bias != null ? Load(map->Bias + column, count, broadcast) : minusZero;
        (_scale, _shift) = map->Scale != null ? (Load(map->Scale + column, count, broadcast), Load(map->Shift + column, count, broadcast)) : (TL.Create(1f), minusZero);
        (_floor, _zero) = map->Relu ? (TL.Create(0f), TL.Create(0f)) : (TL.Create(float.NegativeInfinity), minusZero);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Load(float* p, int count, bool broadcast) => broadcast ? TL.Create(*p) : count >= TL.Count ? TL.Load(p) : TL.LoadFirst(p, count);

    /// <summary>(t + bias)·scale + shift, then max(·, 0) + 0 as Elementwise.Relu: the steps the map lacks are identities (+ -0, ·1, max with -∞, + -0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Apply(TV t) => TL.Add(TL.Max(_floor, TL.FusedMultiplyAdd(TL.Add(t, _bias), _scale, _shift)), _zero);
}

/// <summary>
/// Rows of a GEMM's A read where they lie: row r starts at Base + (r / (Rows·Width))·ImageStride + ((r / Width) mod Rows)·RowStep
/// + (r mod Width)·ColStep and holds the K floats at Offsets[0..K) from there. For a convolution, row r is output position
/// (image, row, column) and the offsets walk its window (kernel row, kernel column, channel): im2col's row, never copied.
/// </summary>
public readonly unsafe struct GatheredRows(float* origin, long imageStride, int rows, int width, long rowStep, long colStep, int* offsets, int k, int first = 0)
{
    /// <summary>Rows passed over before the first one read (<see cref="Skip"/>).</summary>
    public readonly int First = first;

    /// <summary>
    /// How many of a window's first elements lie one after another (offsets[q] = offsets[0] + q): what laying it out copies at
    /// once. Its first kernel row over all channels where the taps lie side by side (unit dilation, one group), else its channels
    /// under the first tap.
    /// </summary>
    public static int LeadingRun(ReadOnlySpan<int> offsets)
    {
        int run = Math.Min(1, offsets.Length);
        while (run < offsets.Length && offsets[run] == offsets[0] + run) run++;
        return run;
    }

    public readonly float* Base = origin;
    public readonly long ImageStride = imageStride, RowStep = rowStep, ColStep = colStep;
    public readonly int Rows = rows, Width = width, K = k;
    public readonly int* Offsets = offsets;

    /// <summary>Where rows [first, ...) start, one after another: divisions once, then steps (a first convolution's tile of K = 9 multiply-adds per row cannot pay three divisions per row).</summary>
    public Cursor From(int first) => new(this, First + first);

    /// <summary>The same rows from the <paramref name="rows"/>-th on: part of an image's row, a thread's share of its positions.</summary>
    public GatheredRows Skip(int rows) => new(Base, ImageStride, Rows, Width, RowStep, ColStep, Offsets, K, First + rows);

    public struct Cursor
    {
        private readonly GatheredRows _rows;
        private int _image, _row, _column;
        private float* _at;

        public Cursor(in GatheredRows rows, int first)
        {
            _rows = rows;
            _at = rows.Base;
            if (first == 0) return;                    // most cursors: no divisions (a Winograd GEMM of 98 rows makes one for seven tiles)
            int perImage = rows.Rows * rows.Width, inImage = first % perImage;
            (_image, _row, _column) = (first / perImage, inImage / rows.Width, inImage % rows.Width);
            _at += _image * rows.ImageStride + _row * rows.RowStep + _column * rows.ColStep;
        }

        /// <summary>This row's start; then moves to the next row (inlined: with K = 9, a call per row was a sixth of the time).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float* Next() => NextRun(1);

        /// <summary>
        /// This row's start; then moves <paramref name="count"/> rows on, where they lie along one row of the image (the cursor at a
        /// multiple of <paramref name="count"/>, which divides the width): a tile of rows at fixed distances takes one step, not one each.
        /// Any row with a count of 1 (<see cref="Next"/>).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float* NextRun(int count)
        {
            float* start = _at;
            _at += count * _rows.ColStep;
            if ((_column += count) == _rows.Width)
            {
                _column = 0;
                if (++_row == _rows.Rows) { _row = 0; _image++; }
                _at = _rows.Base + _image * _rows.ImageStride + _row * _rows.RowStep;
            }
            return start;
        }
    }
}

/// <summary>
/// Where each row of a GEMM's output belongs in a tensor X, for <see cref="Backend.GemmAddToWindows"/>: row r is output position
/// p = r mod Positions of image r / Positions, and its columns [v·w, (v + 1)·w) (w = <see cref="Backend.WindowVector"/>; part of
/// one tap's channels) are added at Origin + image·ImageStride + Targets[p·Vectors + v], or nowhere when that is negative (a tap
/// in the padding, or past the row's end: Vectors covers whole panels of two).
/// </summary>
public readonly unsafe struct WindowTargets(float* origin, long imageStride, int positions, int vectors, int* targets)
{
    public readonly float* Origin = origin;
    public readonly long ImageStride = imageStride;
    public readonly int Positions = positions, Vectors = vectors;
    public readonly int* Targets = targets;
}
