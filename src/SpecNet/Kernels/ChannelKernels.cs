using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SpecNet.Kernels;

/// <summary>
/// Per-channel work over NHWC tensors seen as rows of C channels (batch normalisation): column sums and
/// affine maps, vectorised along the channels and split by rows between the backend's threads. Each can
/// take a per-channel map of its second operand, z·e[c] + f[c], computed in registers where it is used:
/// batch normalisation's xhat = (x - mu)/std is never stored, only recomputed from x, the same float
/// operation in forward and backward. A relu after the batch normalisation runs inside it the same way: forward writes
/// max(y, 0), and backward zeroes the gradient where y = xhat·g + h, recomputed from x, was not positive (relu's own
/// backward tests its output, max(y, 0) > 0: the same cells); a relu6 likewise, clamped to [0, 6] forward and its gradient
/// kept where 0 &lt; y &lt; 6 (<see cref="Capped"/>). Sums are kept per chunk of rows (float within a block of rows, double across
/// a chunk's blocks) and the chunks added in order; chunks are set by the rows alone, so results do not depend on the thread count.
/// The maps' results depend on no split at all, so each thread takes chunks of its share, then of the other's (ParallelForEach).
/// </summary>
public static unsafe class ChannelKernels
{
    /// <summary>Rows summed in float before the running sum (double) takes them: float error stays that of 64 terms.</summary>
    private const int BlockRows = 64;

    /// <summary>Rows a chunk of a map's pass (<see cref="Backend.ParallelForEach(int, delegate*{void*, int, int, int, void}, void*, long, int)"/>): whole blocks, about 64 KB of a tensor.</summary>
    private static int ChunkRows(int channels) => BlockRows * Math.Max(1, (int)(Backend.MinParallelWork / channels / BlockRows));

    /// <summary>Channels per vector: tensors whose channel count is a multiple of it run a vector loop down the rows.</summary>
    private static readonly int Lanes = Vector256<float>.Count;

    private struct Args
    {
        public float* X, Y, Z, A, B, D, E, F, G, H;
        public double* Partials;
        public float* Scratch;
        public int Channels, ChunkRows;
        public bool Relu;
        public float Cap;       // with Relu: the upper clamp (relu6: 6), +∞ for relu
    }

    /// <summary>Scratch the kernels need: 2·C doubles per chunk of <see cref="Sums"/>, and 3·C floats per thread.</summary>
    public static (double[] Partials, float[] Scratch) Scratch(int channels, int threads) => (new double[MaxChunks * 2 * channels], new float[threads * 3 * channels]);

    /// <summary>The most chunks <see cref="Sums"/> splits its rows into, each with its own partial sums.</summary>
    private const int MaxChunks = 32;

    /// <summary>Rows a chunk of <see cref="Sums"/>: whole blocks, at least a map's chunk, at most <see cref="MaxChunks"/> of them. The thread count plays no part.</summary>
    private static int SumsChunkRows(int rows, int channels) => Math.Max(ChunkRows(channels), BlockRows * ((rows + BlockRows * MaxChunks - 1) / (BlockRows * MaxChunks)));

    /// <summary>
    /// first[c] = Σ_rows x[r, c]; second[c] = Σ_rows x[r, c]·z'[r, c], where z' = z·e[c] + f[c] when e and f are given,
    /// else z (z = x: the sum of squares). With g and h (and e, f), x counts only where z'·g[c] + h[c] > 0 (a relu's mask).
    /// </summary>
    public static void Sums(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> z, int channels, Span<double> first, Span<double> second,
        (double[] Partials, float[] Scratch) scratch, ReadOnlySpan<float> e = default, ReadOnlySpan<float> f = default,
        ReadOnlySpan<float> g = default, ReadOnlySpan<float> h = default, float cap = float.PositiveInfinity)
    {
        int rows = x.Length / channels, chunkRows = SumsChunkRows(rows, channels);
        bool map = !e.IsEmpty, mask = !g.IsEmpty;
        if (z.Length != x.Length || first.Length != channels || second.Length != channels || scratch.Partials.Length < MaxChunks * 2 * channels
            || scratch.Scratch.Length < kernels.Threads * 3 * channels || map && (e.Length != channels || f.Length != channels)
            || mask && (!map || g.Length != channels || h.Length != channels))
            throw new ArgumentException("channel sums: buffers of the wrong size");
        fixed (float* px = x, pz = z, ps = scratch.Scratch, pe = e, pf = f, pg = g, ph = h)
        fixed (double* pp = scratch.Partials)
        {
            var args = new Args { X = px, Z = pz, Partials = pp, Scratch = ps, E = map ? pe : null, F = pf, G = mask ? pg : null, H = ph, Channels = channels, ChunkRows = chunkRows, Cap = cap };
            kernels.ParallelForEach(rows, &SumsRange, &args, 2L * channels, chunkRows);
        }
        first.Clear(); second.Clear();
        for (int chunk = 0; chunk * chunkRows < rows; chunk++)
            for (int c = 0; c < channels; c++)
            {
                first[c] += scratch.Partials[(chunk * 2) * channels + c];
                second[c] += scratch.Partials[(chunk * 2 + 1) * channels + c];
            }
    }

    // Rows [r0, r1): whole chunks, each summed into its own partials, whichever thread takes it (the threads take a share of the
    // chunks each, then the other's last: a thread the host slows does not hold the other up). So the sums do not depend on the threads.
    private static void SumsRange(void* state, int part, int r0, int r1)
    {
        var a = (Args*)state;
        for (int r = r0, size = a->ChunkRows; r < r1; r += size) SumChunk(a, part, r / size, r, Math.Min(r1, r + size));
    }

    private static void SumChunk(Args* a, int part, int chunk, int r0, int r1)
    {
        int c = a->Channels;
        double* firstSums = a->Partials + chunk * 2 * c, secondSums = firstSums + c;   // this chunk's partials
        var first = new Span<double>(firstSums, c);
        var second = new Span<double>(secondSums, c);
        first.Clear(); second.Clear();
        if (c % Lanes == 0)
        {
            // Each block's float sums go from registers into the running doubles (widened: the same values, added in the same order)
            for (int r = r0; r < r1; r += BlockRows)
                for (int v = 0, end = Math.Min(r1, r + BlockRows); v < c; v += 2 * Lanes)   // two channel vectors at a time, down the rows
                    if (float.IsFinite(a->Cap))
                    {
                        if (v + Lanes < c) SumColumns<Two, Capped>(a, r, end, v, firstSums, secondSums);
                        else SumColumns<One, Capped>(a, r, end, v, firstSums, secondSums);
                    }
                    else if (v + Lanes < c) SumColumns<Two, Off>(a, r, end, v, firstSums, secondSums);
                    else SumColumns<One, Off>(a, r, end, v, firstSums, secondSums);
            return;
        }
        var blockFirst = new Span<float>(a->Scratch + part * 3 * c, c);   // this thread's
        var blockSecond = new Span<float>(a->Scratch + (part * 3 + 1) * c, c);
        var mapped = new Span<float>(a->Scratch + (part * 3 + 2) * c, c);
        bool map = a->E != null, mask = a->G != null;
        for (int r = r0; r < r1; r += BlockRows)
        {
            blockFirst.Clear(); blockSecond.Clear();
            int end = Math.Min(r1, r + BlockRows);
            for (int q = r; q < end; q++)
            {
                var x = new ReadOnlySpan<float>(a->X + (long)q * c, c);
                ReadOnlySpan<float> z = new(a->Z + (long)q * c, c);
                if (map) { TensorPrimitives.FusedMultiplyAdd(z, new ReadOnlySpan<float>(a->E, c), new ReadOnlySpan<float>(a->F, c), mapped); z = mapped; }
                if (mask)
                    for (int ch = 0; ch < c; ch++)   // a channel count that is no multiple of the vector: rare and small
                    {
                        float dx = Passes(z[ch], a->G[ch], a->H[ch], a->Cap) ? x[ch] : 0;
                        blockFirst[ch] += dx;
                        blockSecond[ch] = MathF.FusedMultiplyAdd(dx, z[ch], blockSecond[ch]);
                    }
                else
                {
                    TensorPrimitives.Add(blockFirst, x, blockFirst);
                    TensorPrimitives.FusedMultiplyAdd(x, z, blockSecond, blockSecond);
                }
            }
            for (int ch = 0; ch < c; ch++) { first[ch] += blockFirst[ch]; second[ch] += blockSecond[ch]; }
        }
    }

    /// <summary>How many channel vectors a loop carries side by side (a type, so that the JIT drops the second's code).</summary>
    private interface IWidth { static abstract bool Second { get; } }
    private struct One : IWidth { public static bool Second => false; }
    private struct Two : IWidth { public static bool Second => true; }

    /// <summary>
    /// Sums of channels v .. v + 8 (and the next 8 with Two) over rows r0 .. r1, in row order per channel. Two vectors give two
    /// independent chains of adds (one chain waits on the add's latency: half the speed on a Zen 1); the coefficients stay
    /// in registers (a Zen 1 loads 32 bytes a cycle: reloading them per row made the loop load-bound).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SumColumns<W, TCap>(Args* a, int r0, int r1, int v, double* first, double* second) where W : IWidth where TCap : struct, IStep
    {
        int c = a->Channels;
        bool map = a->E != null, mask = a->G != null;
        Vector256<float> f0 = default, g0 = default, f1 = default, g1 = default;
        Vector256<float> e0 = default, e1 = default, s0 = default, s1 = default, m0 = default, m1 = default, h0 = default, h1 = default;
        var cap = Vector256.Create(a->Cap);
        if (map) (e0, s0) = (Vector256.Load(a->E + v), Vector256.Load(a->F + v));
        if (mask) (m0, h0) = (Vector256.Load(a->G + v), Vector256.Load(a->H + v));
        if (W.Second && map) (e1, s1) = (Vector256.Load(a->E + v + Lanes), Vector256.Load(a->F + v + Lanes));
        if (W.Second && mask) (m1, h1) = (Vector256.Load(a->G + v + Lanes), Vector256.Load(a->H + v + Lanes));
        float* x = a->X + (long)r0 * c + v, z = a->Z + (long)r0 * c + v;
        int q = r0;
        if (!map && !mask)
        {
            // Two rows at a time into two sets of sums, added at the end: each chain waits on the FMA's latency every other row only
            // (a batch norm's statistics in training, 28x28x16 at batch 64: 0.046-0.078 -> 0.038-0.040 ms on two threads, Zen 5)
            Vector256<float> f2 = default, g2 = default, f3 = default, g3 = default;
            for (; q + 1 < r1; q += 2, x += 2 * c, z += 2 * c)
            {
                var (x0, x2) = (Vector256.Load(x), Vector256.Load(x + c));
                (f0, g0) = (f0 + x0, Vector256.FusedMultiplyAdd(x0, Vector256.Load(z), g0));
                (f2, g2) = (f2 + x2, Vector256.FusedMultiplyAdd(x2, Vector256.Load(z + c), g2));
                if (!W.Second) continue;
                var (x1, x3) = (Vector256.Load(x + Lanes), Vector256.Load(x + c + Lanes));
                (f1, g1) = (f1 + x1, Vector256.FusedMultiplyAdd(x1, Vector256.Load(z + Lanes), g1));
                (f3, g3) = (f3 + x3, Vector256.FusedMultiplyAdd(x3, Vector256.Load(z + c + Lanes), g3));
            }
            (f0, g0, f1, g1) = (f0 + f2, g0 + g2, f1 + f3, g1 + g3);
        }
        for (; q < r1; q++, x += c, z += c)
        {
            var x0 = Vector256.Load(x);
            var z0 = Vector256.Load(z);
            if (map) z0 = Vector256.FusedMultiplyAdd(z0, e0, s0);
            if (mask) x0 &= Passes<TCap>(z0, m0, h0, cap);
            f0 += x0;
            g0 = Vector256.FusedMultiplyAdd(x0, z0, g0);
            if (!W.Second) continue;
            var x1 = Vector256.Load(x + Lanes);
            var z1 = Vector256.Load(z + Lanes);
            if (map) z1 = Vector256.FusedMultiplyAdd(z1, e1, s1);
            if (mask) x1 &= Passes<TCap>(z1, m1, h1, cap);
            f1 += x1;
            g1 = Vector256.FusedMultiplyAdd(x1, z1, g1);
        }
        AddTo(first + v, f0);
        AddTo(second + v, g0);
        if (!W.Second) return;
        AddTo(first + v + Lanes, f1);
        AddTo(second + v + Lanes, g1);
    }

    /// <summary>sums[i] += block[i] in double, lane by lane: the block's float sums, widened exactly.</summary>
    private static void AddTo(double* sums, Vector256<float> block)
    {
        var (low, high) = Vector256.Widen(block);
        (Vector256.Load(sums) + low).Store(sums);
        (Vector256.Load(sums + Lanes / 2) + high).Store(sums + Lanes / 2);
    }

    /// <summary>Whether 0 &lt; z·g + h &lt; cap: where a relu (cap +∞) or relu6 (cap 6) after the map passed its input on, with a slope.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Passes(float z, float g, float h, float cap) => MathF.FusedMultiplyAdd(z, g, h) is var y && y > 0 && y < cap;

    /// <summary>
    /// The same per lane: all bits set where 0 &lt; z·g + h, and &lt; cap when <typeparamref name="TCap"/> is <see cref="Capped"/>
    /// (relu6), as one test: min(y, cap - y) > 0, the same cells (cap - y is exact from cap/2 to 2·cap, and of the right sign
    /// elsewhere). Relu's mask keeps the one test it had: testing a cap of +∞ too took the depthwise model's step 8.6% longer (Zen 5).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Passes<TCap>(Vector256<float> z, Vector256<float> g, Vector256<float> h, Vector256<float> cap) where TCap : struct, IStep
    {
        var y = Vector256.FusedMultiplyAdd(z, g, h);
        return Vector256.GreaterThan(typeof(TCap) == typeof(Capped) ? Vector256.Min(y, cap - y) : y, Vector256<float>.Zero);
    }

    /// <summary>y[r, c] = x[r, c]·a[c] + b[c] (y may be x).</summary>
    public static void Affine(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) =>
        Affine(kernels, x, a, b, default, default, y);

    /// <summary>
    /// y[r, c] = (x[r, c]·a[c] + b[c])·e[c] + f[c] when e and f are given (batch normalisation in training: gamma·xhat + beta,
    /// xhat in registers), else x[r, c]·a[c] + b[c]; then + residual[r, c] when given (a residual block's add, the bits of the add's
    /// own pass); then max(·, 0) when <paramref name="relu"/>. y may be x.
    /// </summary>
    public static void Affine(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> e, ReadOnlySpan<float> f, Span<float> y, bool relu = false, ReadOnlySpan<float> residual = default, float cap = float.PositiveInfinity)
    {
        int channels = a.Length;
        bool second = !e.IsEmpty;
        if (b.Length != channels || y.Length < x.Length || x.Length % channels != 0 || second && (e.Length != channels || f.Length != channels)
            || !residual.IsEmpty && residual.Length != x.Length)
            throw new ArgumentException("channel affine: buffers of the wrong size");
        fixed (float* px = x, py = y, pa = a, pb = b, pe = e, pf = f, pz = residual)
        {
            var args = new Args { X = px, Y = py, A = pa, B = pb, E = second ? pe : null, F = pf, Z = residual.IsEmpty ? null : pz, Channels = channels, Relu = relu, Cap = cap };
            kernels.ParallelForEach(x.Length / channels, &AffineRange, &args, 2L * channels, ChunkRows(channels));
        }
    }

    private static void AffineRange(void* state, int part, int r0, int r1)
    {
        var s = (Args*)state;
        int c = s->Channels;
        bool second = s->E != null, relu = s->Relu;
        if (c % Lanes == 0)
        {
            if (s->Z != null) { if (second) AffineWithRelu<On, On>(s, r0, r1); else AffineWithRelu<Off, On>(s, r0, r1); }   // an add after it
            else if (second) AffineWithRelu<On, Off>(s, r0, r1);
            else AffineWithRelu<Off, Off>(s, r0, r1);
            return;
        }
        var a = new ReadOnlySpan<float>(s->A, c);
        var b = new ReadOnlySpan<float>(s->B, c);
        for (int r = r0; r < r1; r++)
        {
            var y = new Span<float>(s->Y + (long)r * c, c);
            TensorPrimitives.FusedMultiplyAdd(new ReadOnlySpan<float>(s->X + (long)r * c, c), a, b, y);
            if (second) TensorPrimitives.FusedMultiplyAdd(y, new ReadOnlySpan<float>(s->E, c), new ReadOnlySpan<float>(s->F, c), y);
            if (s->Z != null) TensorPrimitives.Add(y, new ReadOnlySpan<float>(s->Z + (long)r * c, c), y);
            if (relu) TensorPrimitives.Max(y, 0f, y);
            if (relu && float.IsFinite(s->Cap)) TensorPrimitives.Min(y, s->Cap, y);
        }
    }

    private static void AffineWithRelu<TSecond, TResidual>(Args* s, int r0, int r1) where TSecond : struct, IStep where TResidual : struct, IStep
    {
        if (!s->Relu) AffineBlocks<TSecond, TResidual, Off>(s, r0, r1);
        else if (float.IsFinite(s->Cap)) AffineBlocks<TSecond, TResidual, Capped>(s, r0, r1);
        else AffineBlocks<TSecond, TResidual, On>(s, r0, r1);
    }

    // A block of rows at a time (in L1 after its first channel vector), one channel vector down the block's rows with its
    // coefficients in registers: a vector's loop then loads only x. Rows outer, channel vectors inner, loaded the coefficients
    // and the Args fields again at every vector, and ran at a third of a copy's speed (6.4 MB, two threads, Zen 5).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AffineBlocks<TSecond, TResidual, TRelu>(Args* s, int r0, int r1)
        where TSecond : struct, IStep where TResidual : struct, IStep where TRelu : struct, IStep
    {
        int c = s->Channels;
        var cap = Vector256.Create(s->Cap);
        for (int r = r0; r < r1; r += BlockRows)
        {
            int rows = Math.Min(r1, r + BlockRows) - r;
            for (int v = 0; v < c; v += Lanes)
            {
                var (a, b) = (Vector256.Load(s->A + v), Vector256.Load(s->B + v));
                Vector256<float> e = default, f = default;
                if (typeof(TSecond) == typeof(On)) (e, f) = (Vector256.Load(s->E + v), Vector256.Load(s->F + v));
                float* x = s->X + (long)r * c + v, y = s->Y + (long)r * c + v, z = typeof(TResidual) == typeof(On) ? s->Z + (long)r * c + v : null;
                for (int q = 0; q < rows; q++, x += c, y += c)
                {
                    var t = Vector256.FusedMultiplyAdd(Vector256.Load(x), a, b);
                    if (typeof(TSecond) == typeof(On)) t = Vector256.FusedMultiplyAdd(t, e, f);
                    if (typeof(TResidual) == typeof(On)) { t += Vector256.Load(z); z += c; }
                    if (typeof(TRelu) == typeof(On)) t = Elementwise.Relu(t);
                    if (typeof(TRelu) == typeof(Capped)) t = Vector256.Min(Elementwise.Relu(t), cap);
                    t.Store(y);
                }
            }
        }
    }

    /// <summary>
    /// y[r, c] = x'[r, c]·a[c] + (z[r, c]·e[c] + f[c])·b[c] + d[c]: batch normalisation's input gradient in one pass,
    /// with z the layer's input and z·e + f its xhat; x' = x, or with g and h, x where xhat·g[c] + h[c] > 0, else 0 (a relu's mask).
    /// </summary>
    public static void Affine2(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> z, ReadOnlySpan<float> e, ReadOnlySpan<float> f,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> d, Span<float> y, (double[] Partials, float[] Scratch) scratch,
        ReadOnlySpan<float> g = default, ReadOnlySpan<float> h = default, float cap = float.PositiveInfinity)
    {
        int channels = a.Length;
        bool mask = !g.IsEmpty;
        if (b.Length != channels || d.Length != channels || e.Length != channels || f.Length != channels || z.Length != x.Length
            || y.Length < x.Length || x.Length % channels != 0 || scratch.Scratch.Length < kernels.Threads * 3 * channels
            || mask && (g.Length != channels || h.Length != channels))
            throw new ArgumentException("channel affine: buffers of the wrong size");
        fixed (float* px = x, pz = z, py = y, pa = a, pb = b, pd = d, pe = e, pf = f, pg = g, ph = h, ps = scratch.Scratch)
        {
            var args = new Args { X = px, Z = pz, Y = py, A = pa, B = pb, D = pd, E = pe, F = pf, G = mask ? pg : null, H = ph, Scratch = ps, Channels = channels, Cap = cap };
            kernels.ParallelForEach(x.Length / channels, &Affine2Range, &args, 3L * channels, ChunkRows(channels));
        }
    }

    private static void Affine2Range(void* state, int part, int r0, int r1)
    {
        var s = (Args*)state;
        int c = s->Channels;
        bool mask = s->G != null;
        if (c % Lanes == 0)
        {
            if (!mask) Affine2Blocks<Off>(s, r0, r1);
            else if (float.IsFinite(s->Cap)) Affine2Blocks<Capped>(s, r0, r1);
            else Affine2Blocks<On>(s, r0, r1);
            return;
        }
        var a = new ReadOnlySpan<float>(s->A, c);
        var b = new ReadOnlySpan<float>(s->B, c);
        var d = new ReadOnlySpan<float>(s->D, c);
        var zhatRow = new Span<float>(s->Scratch + (long)part * 3 * c, c);
        for (int r = r0; r < r1; r++)
        {
            var y = new Span<float>(s->Y + (long)r * c, c);
            TensorPrimitives.FusedMultiplyAdd(new ReadOnlySpan<float>(s->Z + (long)r * c, c), new ReadOnlySpan<float>(s->E, c), new ReadOnlySpan<float>(s->F, c), zhatRow);
            TensorPrimitives.FusedMultiplyAdd(new ReadOnlySpan<float>(s->X + (long)r * c, c), a, d, y);
            if (mask)
                for (int ch = 0; ch < c; ch++)
                    if (!Passes(zhatRow[ch], s->G[ch], s->H[ch], s->Cap)) y[ch] = d[ch];   // x' = 0: x'·a + d = d
            TensorPrimitives.FusedMultiplyAdd(zhatRow, b, y, y);
        }
    }

    // Blocks of rows, one channel vector down each with its seven coefficients in registers, as AffineBlocks.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Affine2Blocks<TMask>(Args* s, int r0, int r1) where TMask : struct, IStep
    {
        int c = s->Channels;
        var cap = Vector256.Create(s->Cap);
        for (int r = r0; r < r1; r += BlockRows)
        {
            int rows = Math.Min(r1, r + BlockRows) - r;
            for (int v = 0; v < c; v += Lanes)
            {
                var (a, b, d, e, f) = (Vector256.Load(s->A + v), Vector256.Load(s->B + v), Vector256.Load(s->D + v), Vector256.Load(s->E + v), Vector256.Load(s->F + v));
                Vector256<float> g = default, h = default;
                if (typeof(TMask) != typeof(Off)) (g, h) = (Vector256.Load(s->G + v), Vector256.Load(s->H + v));
                float* x = s->X + (long)r * c + v, z = s->Z + (long)r * c + v, y = s->Y + (long)r * c + v;
                for (int q = 0; q < rows; q++, x += c, z += c, y += c)
                {
                    var zhat = Vector256.FusedMultiplyAdd(Vector256.Load(z), e, f);
                    var dy = Vector256.Load(x);
                    if (typeof(TMask) != typeof(Off)) dy &= Passes<TMask>(zhat, g, h, cap);
                    Vector256.FusedMultiplyAdd(zhat, b, Vector256.FusedMultiplyAdd(dy, a, d)).Store(y);
                }
            }
        }
    }

    /// <summary>
    /// y = (y + bias)·a + b per channel, then + residual (a residual block's add), then max(·, 0) when <paramref name="relu"/>;
    /// bias and residual may be empty, and a and b both empty for no map: a convolution's bias and relu, or with a batch
    /// normalisation's inference map folded in. The same float operations as the separate passes it replaces.
    /// </summary>
    public static void BiasAffineRelu(Backend kernels, Span<float> y, int channels, ReadOnlySpan<float> bias, ReadOnlySpan<float> a, ReadOnlySpan<float> b, bool relu) =>
        BiasAffineReluOn(kernels, y, channels, bias, a, b, relu);

    /// <summary>The same on this thread (a chunk of a convolution's rows, still in cache).</summary>
    public static void BiasAffineRelu(Span<float> y, int channels, ReadOnlySpan<float> bias, ReadOnlySpan<float> a, ReadOnlySpan<float> b, bool relu,
        ReadOnlySpan<float> residual = default) =>
        BiasAffineReluOn(null, y, channels, bias, a, b, relu, residual);

    /// <summary>Split between the backend's threads, or all on this one when there is no backend.</summary>
    private static void BiasAffineReluOn(Backend? kernels, Span<float> y, int channels, ReadOnlySpan<float> bias, ReadOnlySpan<float> a, ReadOnlySpan<float> b, bool relu,
        ReadOnlySpan<float> residual = default)
    {
        if (channels < 1 || y.Length % channels != 0 || bias.Length is not 0 && bias.Length != channels || a.Length != b.Length || a.Length is not 0 && a.Length != channels
            || residual.Length is not 0 && residual.Length != y.Length)
            throw new ArgumentException("channel affine: buffers of the wrong size");
        fixed (float* py = y, pbias = bias, pa = a, pb = b, pr = residual)
        {
            var args = new Args { Y = py, X = bias.IsEmpty ? null : pbias, A = a.IsEmpty ? null : pa, B = pb, Z = residual.IsEmpty ? null : pr, Channels = channels, Relu = relu };
            if (kernels is null) BiasAffineReluRange(&args, 0, 0, y.Length / channels);
            else kernels.ParallelForEach(y.Length / channels, &BiasAffineReluRange, &args, 2L * channels, ChunkRows(channels));
        }
    }

    // The steps a call has, as type arguments: the JIT compiles one loop per combination, with no tests left in it (four tests
    // per vector cost as much as the arithmetic on rows held in cache).
    private interface IStep;
    private readonly struct On : IStep;
    private readonly struct Off : IStep;
    private readonly struct Capped : IStep;   // relu with an upper clamp (relu6)

    private static void BiasAffineReluRange(void* state, int part, int r0, int r1)
    {
        var s = (Args*)state;
        if (s->X != null) WithBias<On>(s, r0, r1); else WithBias<Off>(s, r0, r1);
    }

    private static void WithBias<TBias>(Args* s, int r0, int r1) where TBias : struct, IStep
    {
        if (s->A != null) WithAffine<TBias, On>(s, r0, r1); else WithAffine<TBias, Off>(s, r0, r1);
    }

    private static void WithAffine<TBias, TAffine>(Args* s, int r0, int r1) where TBias : struct, IStep where TAffine : struct, IStep
    {
        if (s->Z != null) WithResidual<TBias, TAffine, On>(s, r0, r1); else WithResidual<TBias, TAffine, Off>(s, r0, r1);
    }

    private static void WithResidual<TBias, TAffine, TResidual>(Args* s, int r0, int r1) where TBias : struct, IStep where TAffine : struct, IStep where TResidual : struct, IStep
    {
        if (s->Relu) Rows<TBias, TAffine, TResidual, On>(s, r0, r1); else Rows<TBias, TAffine, TResidual, Off>(s, r0, r1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows<TBias, TAffine, TResidual, TRelu>(Args* s, int r0, int r1)
        where TBias : struct, IStep where TAffine : struct, IStep where TResidual : struct, IStep where TRelu : struct, IStep
    {
        int c = s->Channels;
        float* bias = s->X, a = s->A, b = s->B;
        // A block of rows at a time, one channel vector down it with its coefficients in registers, as AffineBlocks, in 512-bit
        // vectors where the CPU has them. Row by row, reloading the coefficients at every vector of 8, it took 1 ns a vector on rows
        // in L1; now 0.36-0.65 (16-64 channels, Zen 5), and the depthwise model's single image on one thread 46 -> 42 us.
        if (Vector512.IsHardwareAccelerated && c % 16 == 0)
        {
            for (long r = r0; r < r1; r += BlockRows)
            {
                long rows = Math.Min(r1, r + BlockRows) - r;
                for (int v = 0; v < c; v += 16)
                {
                    Vector512<float> add = default, scale = default, shift = default;
                    if (typeof(TBias) == typeof(On)) add = Vector512.Load(bias + v);
                    if (typeof(TAffine) == typeof(On)) (scale, shift) = (Vector512.Load(a + v), Vector512.Load(b + v));
                    float* y = s->Y + r * c + v, residual = typeof(TResidual) == typeof(On) ? s->Z + r * c + v : null;
                    for (long q = 0; q < rows; q++, y += c)
                    {
                        var t = Vector512.Load(y);
                        if (typeof(TBias) == typeof(On)) t += add;
                        if (typeof(TAffine) == typeof(On)) t = Vector512.FusedMultiplyAdd(t, scale, shift);
                        if (typeof(TResidual) == typeof(On)) { t += Vector512.Load(residual); residual += c; }
                        (typeof(TRelu) == typeof(On) ? Elementwise.Relu(t) : t).Store(y);
                    }
                }
            }
            return;
        }
        if (c % Lanes == 0)
        {
            for (long r = r0; r < r1; r += BlockRows)
            {
                long rows = Math.Min(r1, r + BlockRows) - r;
                for (int v = 0; v < c; v += Lanes)
                {
                    Vector256<float> add = default, scale = default, shift = default;
                    if (typeof(TBias) == typeof(On)) add = Vector256.Load(bias + v);
                    if (typeof(TAffine) == typeof(On)) (scale, shift) = (Vector256.Load(a + v), Vector256.Load(b + v));
                    float* y = s->Y + r * c + v, residual = typeof(TResidual) == typeof(On) ? s->Z + r * c + v : null;
                    for (long q = 0; q < rows; q++, y += c)
                    {
                        var t = Vector256.Load(y);
                        if (typeof(TBias) == typeof(On)) t += add;
                        if (typeof(TAffine) == typeof(On)) t = Vector256.FusedMultiplyAdd(t, scale, shift);
                        if (typeof(TResidual) == typeof(On)) { t += Vector256.Load(residual); residual += c; }
                        (typeof(TRelu) == typeof(On) ? Elementwise.Relu(t) : t).Store(y);
                    }
                }
            }
            return;
        }
        // Rows of a few dozen channels: one flat loop per row, no call per row (a first convolution has 50,000 rows a batch).
        for (long r = r0; r < r1; r++)
        {
            float* y = s->Y + r * c, residual = typeof(TResidual) == typeof(On) ? s->Z + r * c : null;
            int v = 0;
            for (; v <= c - Lanes; v += Lanes)
            {
                var t = Vector256.Load(y + v);
                if (typeof(TBias) == typeof(On)) t += Vector256.Load(bias + v);
                if (typeof(TAffine) == typeof(On)) t = Vector256.FusedMultiplyAdd(t, Vector256.Load(a + v), Vector256.Load(b + v));
                if (typeof(TResidual) == typeof(On)) t += Vector256.Load(residual + v);
                (typeof(TRelu) == typeof(On) ? Elementwise.Relu(t) : t).Store(y + v);
            }
            for (; v < c; v++)
            {
                float t = typeof(TBias) == typeof(On) ? y[v] + bias[v] : y[v];
                if (typeof(TAffine) == typeof(On)) t = MathF.FusedMultiplyAdd(t, a[v], b[v]);
                if (typeof(TResidual) == typeof(On)) t += residual[v];
                y[v] = typeof(TRelu) == typeof(On) ? Math.Max(t, 0f) : t;
            }
        }
    }
}
