using System.Runtime.CompilerServices;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SpecNet.Kernels;

/// <summary>Vectorised elementwise helpers used by layers and optimizers.</summary>
public static unsafe class Elementwise
{
    /// <summary>x *= s</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scale(Span<float> x, float s)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vs = new Vector<float>(s);
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
                (new Vector<float>(x[i..]) * vs).CopyTo(x[i..]);
        }
        for (; i < x.Length; i++) x[i] *= s;
    }

    /// <summary>x += y</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Add(Span<float> x, ReadOnlySpan<float> y)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
                (new Vector<float>(x[i..]) + new Vector<float>(y[i..])).CopyTo(x[i..]);
        for (; i < x.Length; i++) x[i] += y[i];
    }

    /// <summary>x += y * s, the product rounded before the sum (the floats of the scalar loop; no fused multiply-add).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddScaled(Span<float> x, ReadOnlySpan<float> y, float s)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vs = new Vector<float>(s);
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
                (new Vector<float>(x[i..]) + new Vector<float>(y[i..]) * vs).CopyTo(x[i..]);
        }
        for (; i < x.Length; i++) x[i] += y[i] * s;
    }

    /// <summary>
    /// Adds bias[c] to every row of x viewed as (rows, bias.Length). Narrow rows (LeNet's 6 channels) go as blocks of whole
    /// rows against the bias repeated over a block: a call per row of 6 floats had cost more than the adds.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddBias(Span<float> x, ReadOnlySpan<float> bias)
    {
        int c = bias.Length;
        if (c >= 64 || c == 0) { for (int r = 0; r + c <= x.Length && c > 0; r += c) Add(x.Slice(r, c), bias); return; }
        int rows = 256 / c, block = rows * c;
        Span<float> repeated = stackalloc float[block];
        for (int r = 0; r < rows; r++) bias.CopyTo(repeated.Slice(r * c, c));
        int at = 0, whole = x.Length / c * c;
        for (; at + block <= whole; at += block) Add(x.Slice(at, block), repeated);
        if (at < whole) Add(x[at..whole], repeated[..(whole - at)]);
    }

    /// <summary>
    /// max(t, 0) in each lane, as Vector256.Max(t, 0) gives it (a NaN kept, -0 made +0), in two instructions where that takes five
    /// (two compares, an or, an and, and a zero). x86's maxps returns its second operand when either is a NaN or both are zeros, so
    /// maxps(+0, t) is t for a NaN and -0 for -0; adding +0 then makes -0 +0 and leaves every other value as it is.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Relu(Vector256<float> t) =>
        Avx.IsSupported ? Avx.Add(Avx.Max(Vector256<float>.Zero, t), Vector256<float>.Zero) : Vector256.Max(t, Vector256<float>.Zero);

    /// <summary>The same at twice the width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Relu(Vector512<float> t) =>
        Avx512F.IsSupported ? Avx512F.Add(Avx512F.Max(Vector512<float>.Zero, t), Vector512<float>.Zero) : Vector512.Max(t, Vector512<float>.Zero);

    /// <summary>y = max(y, 0), in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Relu(Span<float> y)
    {
        int i = 0;
        ref float r = ref MemoryMarshal.GetReference(y);
        for (; i <= y.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            Relu(Vector256.LoadUnsafe(ref r, (nuint)i)).StoreUnsafe(ref r, (nuint)i);
        for (; i < y.Length; i++) y[i] = Math.Max(y[i], 0f);
    }

    /// <summary>dz = y > 0 ? dy : 0 (relu's backward from its output; dz may be dy).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ReluBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dz)
    {
        int i = 0;
        ref float ry = ref MemoryMarshal.GetReference(y), rdy = ref MemoryMarshal.GetReference(dy), rdz = ref MemoryMarshal.GetReference(dz);
        for (; i <= dz.Length - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            var positive = Vector256.GreaterThan(Vector256.LoadUnsafe(ref ry, (nuint)i), Vector256<float>.Zero);
            (Vector256.LoadUnsafe(ref rdy, (nuint)i) & positive).StoreUnsafe(ref rdz, (nuint)i);
        }
        for (; i < dz.Length; i++) dz[i] = y[i] > 0 ? dy[i] : 0;
    }

    /// <summary>What <see cref="Map"/> computes per element.</summary>
    public enum MapOp { Copy, Add, Subtract, Multiply, Max, Min, Relu, ReluBackward, AddRelu, Scale }

    /// <summary>
    /// Floats per piece of a <see cref="Map"/>: as much as a thread must have to be worth waking, and 64 KB, under the 256 KB from
    /// which TensorPrimitives stores past the caches (<see cref="MapRange"/>).
    /// </summary>
    private const int MapPiece = (int)Backend.MinParallelWork;

    /// <summary>
    /// y = op(a, b) elementwise in one pass (Relu: max(a, 0); ReluBackward: a > 0 ? b : 0 with a = relu's output; AddRelu:
    /// max(a + b, 0), the bits of Add then Relu; Copy: a),
    /// split between the backend's threads in pieces: memory-bound work on tensors of megabytes goes as fast as the cores can pull it.
    /// </summary>
    public static void Map(Backend kernels, MapOp op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) => Map(kernels, op, a, b, y, 1);

    /// <summary>
    /// to = from (to at least as long), unless they are one buffer (a pass in place, or a backward writing dx over dy): then nothing
    /// to copy. With <paramref name="kernels"/>, as <see cref="Map"/> copies, on the threads; without, on the calling thread.
    /// </summary>
    public static void CopyUnlessSame(Backend? kernels, ReadOnlySpan<float> from, Span<float> to)
    {
        if (Unsafe.AreSame(ref MemoryMarshal.GetReference(from), ref MemoryMarshal.GetReference(to))) return;
        if (kernels is null) from.CopyTo(to);
        else Map(kernels, MapOp.Copy, from, default, to[..from.Length]);
    }

    /// <summary>y = a · factor, as <see cref="Map"/> runs it.</summary>
    public static void Scale(Backend kernels, ReadOnlySpan<float> a, float factor, Span<float> y) => Map(kernels, MapOp.Scale, a, default, y, factor);

    private static void Map(Backend kernels, MapOp op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, float factor)
    {
        if (a.Length != y.Length || !Unary(op) && b.Length != y.Length) throw new ArgumentException("elementwise: operands of different lengths");
        fixed (float* pa = a, pb = b, py = y)
        {
            var args = new Args { A = pa, B = pb, C = py, Channels = (int)op, Length = y.Length, Factor = factor };
            kernels.ParallelForEach((y.Length + MapPiece - 1) / MapPiece, &MapRange, &args, Backend.MinParallelWork, grain: 1);
        }
    }

    /// <summary>
    /// Pieces [p0, p1), one call each: TensorPrimitives stores 256 KB or more past the caches (non-temporal stores), so a relu
    /// layer's output, written a thread's share in one call, had come back from memory for the layer after it. A 1x1 convolution,
    /// a relu layer and a global pooling over 28x28x32, batch 1000 in slices of 16 examples (Zen 5): 7.2 -> 3.8 ms a pass, where
    /// a leaky relu, in chunks of 512 floats, took 4.4-4.9.
    /// </summary>
    private static void MapRange(void* state, int part, int p0, int p1)
    {
        var s = (Args*)state;
        var op = (MapOp)s->Channels;
        for (int p = p0; p < p1; p++)
        {
            long start = (long)p * MapPiece;
            int n = (int)Math.Min(MapPiece, s->Length - start);
            MapSlice(op, new ReadOnlySpan<float>(s->A + start, n), Unary(op) ? default : new ReadOnlySpan<float>(s->B + start, n), new Span<float>(s->C + start, n), s->Factor);
        }
    }

    private static bool Unary(MapOp op) => op is MapOp.Copy or MapOp.Relu or MapOp.Scale;

    private static void MapSlice(MapOp op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, float factor)
    {
        switch (op)
        {
            case MapOp.Copy: a.CopyTo(y); break;
            case MapOp.Add: System.Numerics.Tensors.TensorPrimitives.Add(a, b, y); break;
            case MapOp.Subtract: System.Numerics.Tensors.TensorPrimitives.Subtract(a, b, y); break;
            case MapOp.Multiply: System.Numerics.Tensors.TensorPrimitives.Multiply(a, b, y); break;
            case MapOp.Max: System.Numerics.Tensors.TensorPrimitives.Max(a, b, y); break;
            case MapOp.Min: System.Numerics.Tensors.TensorPrimitives.Min(a, b, y); break;
            case MapOp.Relu: System.Numerics.Tensors.TensorPrimitives.Max(a, 0f, y); break;
            case MapOp.ReluBackward: ReluBackward(a, b, y); break;
            case MapOp.AddRelu: AddRelu(a, b, y); break;
            case MapOp.Scale: System.Numerics.Tensors.TensorPrimitives.Multiply(a, factor, y); break;
        }
    }

    /// <summary>y = max(a + b, 0): a residual block's add and the relu after it in one pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddRelu(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        int i = 0;
        ref float ra = ref MemoryMarshal.GetReference(a), rb = ref MemoryMarshal.GetReference(b), ry = ref MemoryMarshal.GetReference(y);
        for (; i <= y.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            Relu(Vector256.LoadUnsafe(ref ra, (nuint)i) + Vector256.LoadUnsafe(ref rb, (nuint)i)).StoreUnsafe(ref ry, (nuint)i);
        for (; i < y.Length; i++) y[i] = Math.Max(a[i] + b[i], 0f);
    }

    private struct Args
    {
        public long Length;
        public float* A, B, C, D;
        public int Channels;
        public float Factor;        // Map's Scale
    }

    /// <summary>
    /// db = column sums of dz (rows of db.Length), split between threads through per-thread <paramref name="partials"/> (Threads x channels).
    /// <paramref name="splitAsRelu"/>: split as <see cref="ReluBiasBackward"/> splits it (the same sums to the bit), for a dz already
    /// through the relu.
    /// </summary>
    public static void BiasGradient(Backend kernels, ReadOnlySpan<float> dz, Span<float> db, Span<float> partials, bool splitAsRelu = false) =>
        BiasBackward(kernels, default, dz, default, db, partials, splitAsRelu);

    /// <summary>dz = (y > 0 ? dy : 0) and db = column sums of dz in one pass: relu's backward fused with the bias gradient.</summary>
    public static void ReluBiasBackward(Backend kernels, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dz, Span<float> db, Span<float> partials) =>
        BiasBackward(kernels, y, dy, dz, db, partials);

    /// <summary>db = column sums of (y > 0 ? dy : 0), not stored (a max pooling's output and gradient: the bias gradient of the relu convolution before it).</summary>
    public static void ReluBiasGradient(Backend kernels, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> db, Span<float> partials) =>
        BiasBackward(kernels, y, dy, default, db, partials);

    private static void BiasBackward(Backend kernels, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dz, Span<float> db, Span<float> partials,
        bool splitAsRelu = false)
    {
        int channels = db.Length, rows = dy.Length / channels;
        int parts;
        fixed (float* py = y, pdy = dy, pdz = dz, pp = partials)
        {
            var args = new Args { A = y.IsEmpty ? null : py, B = pdy, C = dz.IsEmpty ? null : pdz, D = pp, Channels = channels };
            parts = kernels.ParallelFor(rows, &BiasBackwardRange, &args, (y.IsEmpty && !splitAsRelu ? 1L : 3L) * channels);
        }
        db.Clear();
        for (int t = 0; t < parts; t++) Add(db, partials.Slice(t * channels, channels));
    }

    /// <summary>Rows [r0, r1): with y, dz = relu'(y) dy; then this part's slice of the partials = column sums of dz (or of dy without y).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BiasBackwardRange(void* state, int part, int r0, int r1)
    {
        var a = (Args*)state;
        int c = a->Channels;
        float* sum = a->D + (long)part * c, y = a->A, dy = a->B, dz = a->C;
        new Span<float>(sum, c).Clear();
        // The running sum of a channel vector stays in a register for four rows (rows are short, 16-64 channels, and
        // many); the rows are still added one after another, so the result is the row-by-row sum's to the bit.
        // A channel count that is no multiple of 8 ends with a vector of its last 8 channels, summed apart (its first lanes
        // repeat channels summed already, stored before it is); with fewer than 8, that vector reads into the next row, and
        // the rows whose vector would reach past the range's end (into another thread's rows) go a float at a time.
        int tail = c % 8 == 0 ? -1 : Math.Max(0, c - 8), whole = c / 8 * 8;
        int vectorEnd = c >= 8 ? r1 : Math.Max(r0, r1 - (c + 7) / c + 1);   // a row's vector ends inside the range: r·c + 8 ≤ r1·c
        float* tailSum = stackalloc float[8];
        Vector256<float> tailRun = Vector256<float>.Zero;
        for (int r = r0; r < vectorEnd; r += 4)
        {
            int rows = Math.Min(4, vectorEnd - r);
            long row0 = (long)r * c;
            for (int j = 0; j < whole; j += 8) Rows(Vector256.Load(sum + j), dy, y, dz, row0 + j, c, rows).Store(sum + j);
            if (tail >= 0) tailRun = Rows(tailRun, dy, y, dz, row0 + tail, c, rows);
        }
        if (tail >= 0)
        {
            tailRun.Store(tailSum);
            for (int j = Math.Max(whole, tail); j < c; j++) sum[j] = tailSum[j - tail];
        }
        for (int j = 0; j < c && vectorEnd < r1; j++)
            for (long at = (long)vectorEnd * c + j; at < (long)r1 * c; at += c)
            {
                float d = y == null || y[at] > 0 ? dy[at] : 0f;
                if (dz != null) dz[at] = d;
                sum[j] += d;
            }
    }

    /// <summary>s plus the 8 floats at <paramref name="at"/> of each of <paramref name="rows"/> rows, in turn; with y, those are dy where y > 0, stored to dz.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Rows(Vector256<float> s, float* dy, float* y, float* dz, long at, int c, int rows)
    {
        for (int i = 0; i < rows; i++, at += c)
        {
            var d = Vector256.Load(dy + at);
            if (y != null)
            {
                d &= Vector256.GreaterThan(Vector256.Load(y + at), Vector256<float>.Zero);
                if (dz != null) d.Store(dz + at);
            }
            s += d;
        }
        return s;
    }

    /// <summary>
    /// to (cols, rows) = from (rows, cols)ᵀ, neither overlapping the other: in blocks of 8 x 8, 8 x 4 and 4 x 8 transposed in registers (unpacks,
    /// shuffles and lane swaps), those the edges cut under masks; a float at a time without AVX. Flatten's channel-major order and a weight
    /// gradient's dWᵀ -> dW are such transposes; a float at a time (a load, a store and two index multiplies per float) took
    /// flatten 0.158 ms of the strided model's 6.0 at batch 1000.
    /// </summary>
    public static void Transpose(float* from, int rows, int cols, float* to) => Transpose(from, rows, cols, cols, to, rows);

    /// <summary>The same between matrices whose rows lie <paramref name="lda"/> and <paramref name="ldb"/> floats apart (a tap of a kernel inside the whole).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose(float* from, int rows, int cols, int lda, float* to, int ldb)
    {
        if (!Avx.IsSupported) { FloatByFloat(from, lda, rows, cols, to, ldb); return; }
        // 8 x 8 blocks, 8 x 4 and 4 x 8 ones; those cut otherwise by the last rows or columns under masks (a flatten of 6 or 3
        // channels: every block cut)
        for (int i = 0; i < rows; i += 8)
            for (int j = 0; j < cols; j += 8)
            {
                int h = Math.Min(8, rows - i), w = Math.Min(8, cols - j);
                float* a = from + (long)i * lda + j, b = to + (long)j * ldb + i;
                if (h == 8 && w == 8) Transpose8x8(a, lda, b, ldb);
                else if (h == 8 && w == 4) Transpose8x4(a, lda, b, ldb);     // whole halves: the strided model's 2x2x128 flatten, back
                else if (h == 4 && w == 8) Transpose4x8(a, lda, b, ldb);     // and forth (under masks its backward took 0.015 -> 0.028 ms)
                else TransposeCut(a, lda, b, ldb, h, w);
            }
    }

    /// <summary><see cref="Transpose"/> a float at a time: without AVX.</summary>
    private static void FloatByFloat(float* from, int lda, int rows, int cols, float* to, int ldb)
    {
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) to[(long)j * ldb + i] = from[(long)i * lda + j];
    }

    /// <summary>Eight rows of eight floats (a row every <paramref name="lda"/>) into eight rows of eight (every <paramref name="ldb"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8x8(float* a, int lda, float* b, int ldb)
    {
        Vector256<float> r0 = Avx.LoadVector256(a), r1 = Avx.LoadVector256(a + lda), r2 = Avx.LoadVector256(a + 2 * lda), r3 = Avx.LoadVector256(a + 3 * lda);
        Vector256<float> r4 = Avx.LoadVector256(a + 4 * lda), r5 = Avx.LoadVector256(a + 5 * lda), r6 = Avx.LoadVector256(a + 6 * lda), r7 = Avx.LoadVector256(a + 7 * lda);
        Transpose8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
        Avx.Store(b, r0); Avx.Store(b + ldb, r1); Avx.Store(b + 2 * ldb, r2); Avx.Store(b + 3 * ldb, r3);
        Avx.Store(b + 4 * ldb, r4); Avx.Store(b + 5 * ldb, r5); Avx.Store(b + 6 * ldb, r6); Avx.Store(b + 7 * ldb, r7);
    }

    /// <summary>
    /// Eight vectors of eight floats transposed in registers: r_j's lane i becomes r_i's lane j. Pairs of rows interleaved, then
    /// pairs of pairs: each 128-bit half holds four rows' values of one column, the low halves columns 0-3, the high halves 4-7;
    /// the lane swaps put columns 0-3 of rows 0-3 beside those of rows 4-7.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8(ref Vector256<float> r0, ref Vector256<float> r1, ref Vector256<float> r2, ref Vector256<float> r3,
        ref Vector256<float> r4, ref Vector256<float> r5, ref Vector256<float> r6, ref Vector256<float> r7)
    {
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE), s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> s4 = Avx.Shuffle(t4, t6, 0x44), s5 = Avx.Shuffle(t4, t6, 0xEE), s6 = Avx.Shuffle(t5, t7, 0x44), s7 = Avx.Shuffle(t5, t7, 0xEE);
        (r0, r1, r2, r3) = (Avx.Permute2x128(s0, s4, 0x20), Avx.Permute2x128(s1, s5, 0x20), Avx.Permute2x128(s2, s6, 0x20), Avx.Permute2x128(s3, s7, 0x20));
        (r4, r5, r6, r7) = (Avx.Permute2x128(s0, s4, 0x31), Avx.Permute2x128(s1, s5, 0x31), Avx.Permute2x128(s2, s6, 0x31), Avx.Permute2x128(s3, s7, 0x31));
    }

    /// <summary>Four rows of eight floats into eight rows of four: the same interleaving, each half stored alone.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4x8(float* a, int lda, float* b, int ldb)
    {
        Vector256<float> r0 = Avx.LoadVector256(a), r1 = Avx.LoadVector256(a + lda), r2 = Avx.LoadVector256(a + 2 * lda), r3 = Avx.LoadVector256(a + 3 * lda);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE), s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);
        Sse.Store(b, s0.GetLower());
        Sse.Store(b + ldb, s1.GetLower());
        Sse.Store(b + 2 * ldb, s2.GetLower());
        Sse.Store(b + 3 * ldb, s3.GetLower());
        Sse.Store(b + 4 * ldb, s0.GetUpper());
        Sse.Store(b + 5 * ldb, s1.GetUpper());
        Sse.Store(b + 6 * ldb, s2.GetUpper());
        Sse.Store(b + 7 * ldb, s3.GetUpper());
    }

    /// <summary>Eight rows of four floats into four rows of eight: rows i and i + 4 share a vector, then the same interleaving.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x4(float* a, int lda, float* b, int ldb)
    {
        Vector256<float> r0 = Vector256.Create(Sse.LoadVector128(a), Sse.LoadVector128(a + 4 * lda));
        Vector256<float> r1 = Vector256.Create(Sse.LoadVector128(a + lda), Sse.LoadVector128(a + 5 * lda));
        Vector256<float> r2 = Vector256.Create(Sse.LoadVector128(a + 2 * lda), Sse.LoadVector128(a + 6 * lda));
        Vector256<float> r3 = Vector256.Create(Sse.LoadVector128(a + 3 * lda), Sse.LoadVector128(a + 7 * lda));
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Avx.Store(b, Avx.Shuffle(t0, t2, 0x44));
        Avx.Store(b + ldb, Avx.Shuffle(t0, t2, 0xEE));
        Avx.Store(b + 2 * ldb, Avx.Shuffle(t1, t3, 0x44));
        Avx.Store(b + 3 * ldb, Avx.Shuffle(t1, t3, 0xEE));
    }

    /// <summary>
    /// <see cref="Transpose8x8"/> of an h x w corner (h, w ≤ 8): its rows read under a mask of w lanes (the rows past h zero), its
    /// w rows written under a mask of h; nothing read or written outside it. A flatten of 28x28x6 at batch 64, its blocks cut
    /// (8 x 4, then a float at a time) had taken 0.225 ms on two threads (Zen 5).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TransposeCut(float* a, int lda, float* b, int ldb, int h, int w)
    {
        var load = Lanes256.FirstLanes(w);
        Vector256<float> Row(int r) => r < h ? Lanes256.LoadUnder(a + (long)r * lda, load) : Vector256<float>.Zero;
        Vector256<float> r0 = Row(0), r1 = Row(1), r2 = Row(2), r3 = Row(3), r4 = Row(4), r5 = Row(5), r6 = Row(6), r7 = Row(7);
        Transpose8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
        StoreRows(b, ldb, w, Lanes256.FirstLanes(h), r0, r1, r2, r3, r4, r5, r6, r7);
    }

    /// <summary>The first <paramref name="count"/> of eight vectors into rows <paramref name="ldb"/> floats apart, each under <paramref name="mask"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void StoreRows(float* b, int ldb, int count, Vector256<float> mask, Vector256<float> r0, Vector256<float> r1, Vector256<float> r2,
        Vector256<float> r3, Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7)
    {
        Lanes256.StoreUnder(r0, b, mask);
        if (count > 1) Lanes256.StoreUnder(r1, b + ldb, mask);
        if (count > 2) Lanes256.StoreUnder(r2, b + 2 * ldb, mask);
        if (count > 3) Lanes256.StoreUnder(r3, b + 3 * ldb, mask);
        if (count > 4) Lanes256.StoreUnder(r4, b + 4 * ldb, mask);
        if (count > 5) Lanes256.StoreUnder(r5, b + 5 * ldb, mask);
        if (count > 6) Lanes256.StoreUnder(r6, b + 6 * ldb, mask);
        if (count > 7) Lanes256.StoreUnder(r7, b + 7 * ldb, mask);
    }
}
