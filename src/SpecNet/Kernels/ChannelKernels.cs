using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SpecNet.Kernels;

/// <summary>
/// Per-channel work over NHWC tensors seen as rows of C channels (batch normalisation): column sums and
/// affine maps, vectorised along the channels and split by rows between the backend's threads. Each can
/// take a per-channel map of its second operand, z·e[c] + f[c], computed in registers where it is used:
/// batch normalisation's xhat = (x - mu)/std is never stored, only recomputed from x, the same float
/// operation in forward and backward. An activation after the batch normalisation (<see cref="ChannelActivation"/>) runs inside
/// it the same way: forward applies it to y = xhat·g + h, and backward multiplies the gradient by its slope at y, recomputed
/// from x: relu's zeroes it where y was not positive (relu's own backward tests its output, max(y, 0) > 0: the same cells),
/// relu6's outside 0 &lt; y &lt; 6, hard_swish's is its own backward's. Sums are kept per chunk of rows (float within a block of rows, double across
/// a chunk's blocks) and the chunks added in order; chunks are set by the rows alone, so results do not depend on the thread count.
/// The maps' results depend on no split at all, so each thread takes chunks of its share, then of the other's (ParallelForEach).
/// </summary>
public static unsafe class ChannelKernels
{
    /// <summary>relu6's top, and hard_swish's constants as its own layer applies them (Layers/Activations.cs).</summary>
    private static readonly Vector256<float> Six = Vector256.Create(6f), Three = Vector256.Create(3f), Half = Vector256.Create(0.5f),
        Sixth = Vector256.Create(1f / 6), Third = Vector256.Create(1f / 3);

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
        public ChannelActivation Activation;       // what follows the map (Affine, BiasAffineRelu: none or relu), or whose slope the gradient takes (Sums, Affine2)
    }

    /// <summary>Scratch the kernels need: 2·C doubles per chunk of <see cref="Sums"/> (C: the channels, or their period), and 3·C floats per thread.</summary>
    public static (double[] Partials, float[] Scratch) Scratch(int channels, int threads) =>
        (new double[MaxChunks * 2 * Math.Max(channels, Period(channels))], new float[threads * 3 * channels]);

    /// <summary>
    /// Channels that fill no whole vector (12, 20, 6) would go a row at a time, each row a vector and a tail: a batch norm over 12
    /// channels took 8 times as long as over 16. A tensor of C channels is also one of P = lcm(C, 8) channels, each row P/C of
    /// the real rows, its coefficients C's repeated: the vector loops run over that, and only the last rows that make no
    /// whole P go a row at a time. 0: no period (C fills whole vectors, or P would be too long to repeat the coefficients on the stack).
    /// </summary>
    public static int Period(int channels)
    {
        if (channels % Lanes == 0) return 0;
        int period = channels * Lanes / Math.Min(channels & -channels, Lanes);   // Lanes is a power of two: gcd(C, Lanes) is C's lowest bit, at most Lanes
        return period <= MaxPeriod ? period : 0;
    }

    /// <summary>The longest period repeated: a channel count past it has vectors enough in a row for the row loop.</summary>
    private const int MaxPeriod = 256;

    /// <summary>The channels' coefficients repeated over a period (<see cref="Period"/>); empty stays empty.</summary>
    private static ReadOnlySpan<float> Repeat(ReadOnlySpan<float> coefficients, Span<float> into)
    {
        if (coefficients.IsEmpty) return default;
        for (int i = 0; i < into.Length; i += coefficients.Length) coefficients.CopyTo(into[i..]);
        return into;
    }

    /// <summary>The most chunks <see cref="Sums"/> splits its rows into, each with its own partial sums.</summary>
    private const int MaxChunks = 32;

    /// <summary>Rows a chunk of <see cref="Sums"/>: whole blocks, at least a map's chunk, at most <see cref="MaxChunks"/> of them. The thread count plays no part.</summary>
    private static int SumsChunkRows(int rows, int channels) => Math.Max(ChunkRows(channels), BlockRows * ((rows + BlockRows * MaxChunks - 1) / (BlockRows * MaxChunks)));

    /// <summary>
    /// first[c] = Σ_rows x[r, c]; second[c] = Σ_rows x[r, c]·z'[r, c], where z' = z·e[c] + f[c] when e and f are given,
    /// else z (z = x: the sum of squares). With an activation, g and h (and e, f), x is first multiplied by the activation's slope at
    /// z'·g[c] + h[c] (x: the gradient of its output; relu's slope counts x only where z'·g[c] + h[c] > 0).
    /// </summary>
    public static void Sums(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> z, int channels, Span<double> first, Span<double> second,
        (double[] Partials, float[] Scratch) scratch, ReadOnlySpan<float> e = default, ReadOnlySpan<float> f = default,
        ChannelActivation activation = ChannelActivation.None, ReadOnlySpan<float> g = default, ReadOnlySpan<float> h = default)
    {
        bool map = !e.IsEmpty, mask = activation != ChannelActivation.None;
        int period = Period(channels), bulk = period == 0 ? 0 : x.Length / period * period;
        if (z.Length != x.Length || first.Length != channels || second.Length != channels || scratch.Partials.Length < MaxChunks * 2 * Math.Max(channels, period)
            || scratch.Scratch.Length < kernels.Threads * 3 * channels || map && (e.Length != channels || f.Length != channels)
            || mask && (!map || g.Length != channels || h.Length != channels))
            throw new ArgumentException("channel sums: buffers of the wrong size");
        if (bulk == 0)
        {
            SumsOf(kernels, x, z, channels, first, second, scratch, e, f, activation, g, h);
            return;
        }
        // the whole periods as rows of P channels, each channel's P/C sums added in order; then the rows left
        Span<float> repeated = stackalloc float[4 * period];
        Span<double> sums = stackalloc double[2 * period];
        SumsOf(kernels, x[..bulk], z[..bulk], period, sums[..period], sums[period..], scratch, Repeat(e, repeated[..period]),
            Repeat(f, repeated[period..(2 * period)]), activation, Repeat(g, repeated[(2 * period)..(3 * period)]), Repeat(h, repeated[(3 * period)..]));
        first.Clear(); second.Clear();
        for (int i = 0; i < period; i++) { first[i % channels] += sums[i]; second[i % channels] += sums[period + i]; }
        if (bulk == x.Length) return;
        SumsOf(kernels, x[bulk..], z[bulk..], channels, sums[..channels], sums[channels..(2 * channels)], scratch, e, f, activation, g, h);
        for (int c = 0; c < channels; c++) { first[c] += sums[c]; second[c] += sums[channels + c]; }
    }

    private static void SumsOf(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> z, int channels, Span<double> first, Span<double> second,
        (double[] Partials, float[] Scratch) scratch, ReadOnlySpan<float> e, ReadOnlySpan<float> f, ChannelActivation activation, ReadOnlySpan<float> g, ReadOnlySpan<float> h)
    {
        int rows = x.Length / channels, chunkRows = SumsChunkRows(rows, channels);
        bool map = !e.IsEmpty;
        fixed (float* px = x, pz = z, ps = scratch.Scratch, pe = e, pf = f, pg = g, ph = h)
        fixed (double* pp = scratch.Partials)
        {
            var args = new Args { X = px, Z = pz, Partials = pp, Scratch = ps, E = map ? pe : null, F = pf, G = pg, H = ph, Channels = channels, ChunkRows = chunkRows, Activation = activation };
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
                    if (v + Lanes < c) SumColumns<Two>(a, r, end, v, firstSums, secondSums);
                    else SumColumns<One>(a, r, end, v, firstSums, secondSums);
            return;
        }
        var blockFirst = new Span<float>(a->Scratch + part * 3 * c, c);   // this thread's
        var blockSecond = new Span<float>(a->Scratch + (part * 3 + 1) * c, c);
        var mapped = new Span<float>(a->Scratch + (part * 3 + 2) * c, c);
        bool map = a->E != null, mask = a->Activation != ChannelActivation.None;
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
                        float dx = Slope(a->Activation, x[ch], MathF.FusedMultiplyAdd(z[ch], a->G[ch], a->H[ch]));
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

    /// <summary>Sums of channels v .. v + 8 (and the next 8 with Two), with the slope of the call's activation.</summary>
    private static void SumColumns<W>(Args* a, int r0, int r1, int v, double* first, double* second) where W : IWidth
    {
        switch (a->Activation)
        {
            case ChannelActivation.None: SumColumns<W, Off>(a, r0, r1, v, first, second); break;
            case ChannelActivation.Relu: SumColumns<W, On>(a, r0, r1, v, first, second); break;
            case ChannelActivation.Relu6: SumColumns<W, Capped>(a, r0, r1, v, first, second); break;
            default: SumColumns<W, HardSwish>(a, r0, r1, v, first, second); break;
        }
    }

    /// <summary>
    /// Sums of channels v .. v + 8 (and the next 8 with Two) over rows r0 .. r1, in row order per channel. Two vectors give two
    /// independent chains of adds (one chain waits on the add's latency: half the speed on a Zen 1); the coefficients stay
    /// in registers (a Zen 1 loads 32 bytes a cycle: reloading them per row made the loop load-bound).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SumColumns<W, TAct>(Args* a, int r0, int r1, int v, double* first, double* second) where W : IWidth where TAct : struct, IStep
    {
        int c = a->Channels;
        bool map = a->E != null, mask = typeof(TAct) != typeof(Off);
        Vector256<float> f0 = default, g0 = default, f1 = default, g1 = default;
        Vector256<float> e0 = default, e1 = default, s0 = default, s1 = default, m0 = default, m1 = default, h0 = default, h1 = default;
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
            if (mask) x0 = Slope<TAct>(x0, Vector256.FusedMultiplyAdd(z0, m0, h0));
            f0 += x0;
            g0 = Vector256.FusedMultiplyAdd(x0, z0, g0);
            if (!W.Second) continue;
            var x1 = Vector256.Load(x + Lanes);
            var z1 = Vector256.Load(z + Lanes);
            if (map) z1 = Vector256.FusedMultiplyAdd(z1, e1, s1);
            if (mask) x1 = Slope<TAct>(x1, Vector256.FusedMultiplyAdd(z1, m1, h1));
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

    /// <summary>dy times the slope of <paramref name="activation"/> at y, as its own backward takes it (Layers/Activations.cs).</summary>
    private static float Slope(ChannelActivation activation, float dy, float y) => activation switch
    {
        ChannelActivation.Relu => y > 0 ? dy : 0,
        ChannelActivation.Relu6 => y > 0 && y < 6 ? dy : 0,                         // no slope at either flat part's end
        ChannelActivation.HardSwish => y < -3 ? 0 : y <= 3 ? dy * (y * (1f / 3) + 0.5f) : dy,
        _ => dy,
    };

    /// <summary>
    /// The same per lane. Relu: dy where y > 0. Relu6 (<see cref="Capped"/>): where 0 &lt; y &lt; 6, as one test, min(y, 6 - y) > 0,
    /// the same cells (6 - y is exact from 3 to 12, and of the right sign elsewhere); relu's keeps the one test it had: testing a cap
    /// of +∞ too took the depthwise model's step 8.6% longer (Zen 5). hard_swish: 0 below -3, dy above 3, dy·(y/3 + 1/2) between.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Slope<TAct>(Vector256<float> dy, Vector256<float> y) where TAct : struct, IStep
    {
        if (typeof(TAct) == typeof(On)) return dy & Vector256.GreaterThan(y, Vector256<float>.Zero);
        if (typeof(TAct) == typeof(Capped)) return dy & Vector256.GreaterThan(Vector256.Min(y, Six - y), Vector256<float>.Zero);
        if (typeof(TAct) == typeof(HardSwish))
            return Vector256.AndNot(Vector256.ConditionalSelect(Vector256.GreaterThan(y, Three), dy, dy * (y * Third + Half)), Vector256.LessThan(y, -Three));
        return dy;
    }

    /// <summary>The activation applied to t per lane: relu, relu6 (a clamp to [0, 6]), hard_swish t·min(max(t/6 + 1/2, 0), 1), or none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Apply<TAct>(Vector256<float> t) where TAct : struct, IStep
    {
        if (typeof(TAct) == typeof(On)) return Elementwise.Relu(t);
        if (typeof(TAct) == typeof(Capped)) return Vector256.Min(Elementwise.Relu(t), Six);
        if (typeof(TAct) == typeof(HardSwish)) return t * Vector256.Min(Vector256.Max(t * Sixth + Half, Vector256<float>.Zero), Vector256<float>.One);
        return t;
    }

    /// <summary>y[r, c] = x[r, c]·a[c] + b[c] (y may be x).</summary>
    public static void Affine(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) =>
        Affine(kernels, x, a, b, default, default, y);

    /// <summary>
    /// y[r, c] = (x[r, c]·a[c] + b[c])·e[c] + f[c] when e and f are given (batch normalisation in training: gamma·xhat + beta,
    /// xhat in registers), else x[r, c]·a[c] + b[c]; then + residual[r, c] when given (a residual block's add, the bits of the add's
    /// own pass); then <paramref name="activation"/>. y may be x.
    /// </summary>
    public static void Affine(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> e, ReadOnlySpan<float> f, Span<float> y, ChannelActivation activation = ChannelActivation.None, ReadOnlySpan<float> residual = default)
    {
        int channels = a.Length;
        bool second = !e.IsEmpty;
        if (b.Length != channels || y.Length < x.Length || x.Length % channels != 0 || second && (e.Length != channels || f.Length != channels)
            || !residual.IsEmpty && residual.Length != x.Length)
            throw new ArgumentException("channel affine: buffers of the wrong size");
        int period = Period(channels), bulk = period == 0 ? 0 : x.Length / period * period;
        if (bulk > 0)
        {
            // the whole periods as rows of P channels (Period), each value computed as before; then the rows left
            Span<float> repeated = stackalloc float[4 * period];
            AffineOf(kernels, x[..bulk], Repeat(a, repeated[..period]), Repeat(b, repeated[period..(2 * period)]), Repeat(e, repeated[(2 * period)..(3 * period)]),
                Repeat(f, repeated[(3 * period)..]), y[..bulk], activation, residual.IsEmpty ? default : residual[..bulk]);
            if (bulk == x.Length) return;
            x = x[bulk..];
            y = y[bulk..];
            if (!residual.IsEmpty) residual = residual[bulk..];
        }
        AffineOf(kernels, x, a, b, e, f, y, activation, residual);
    }

    private static void AffineOf(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> e, ReadOnlySpan<float> f, Span<float> y, ChannelActivation activation, ReadOnlySpan<float> residual)
    {
        int channels = a.Length;
        fixed (float* px = x, py = y, pa = a, pb = b, pe = e, pf = f, pz = residual)
        {
            var args = new Args { X = px, Y = py, A = pa, B = pb, E = e.IsEmpty ? null : pe, F = pf, Z = residual.IsEmpty ? null : pz, Channels = channels, Activation = activation };
            kernels.ParallelForEach(x.Length / channels, &AffineRange, &args, 2L * channels, ChunkRows(channels));
        }
    }

    private static void AffineRange(void* state, int part, int r0, int r1)
    {
        var s = (Args*)state;
        int c = s->Channels;
        bool second = s->E != null;
        if (c % Lanes == 0)
        {
            if (s->Z != null) { if (second) AffineWith<On, On>(s, r0, r1); else AffineWith<Off, On>(s, r0, r1); }   // an add after it
            else if (second) AffineWith<On, Off>(s, r0, r1);
            else AffineWith<Off, Off>(s, r0, r1);
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
            if (s->Activation != ChannelActivation.None) foreach (ref float t in y) t = Apply(s->Activation, t);
        }
    }

    /// <summary>One float of <see cref="Apply{TAct}"/>: the same operations.</summary>
    private static float Apply(ChannelActivation activation, float t) => activation switch
    {
        ChannelActivation.Relu => Math.Max(t, 0f),
        ChannelActivation.Relu6 => Math.Min(Math.Max(t, 0f), 6f),
        ChannelActivation.HardSwish => t * Math.Min(Math.Max(t * (1f / 6) + 0.5f, 0f), 1f),
        _ => t,
    };

    private static void AffineWith<TSecond, TResidual>(Args* s, int r0, int r1) where TSecond : struct, IStep where TResidual : struct, IStep
    {
        switch (s->Activation)
        {
            case ChannelActivation.None: AffineBlocks<TSecond, TResidual, Off>(s, r0, r1); break;
            case ChannelActivation.Relu: AffineBlocks<TSecond, TResidual, On>(s, r0, r1); break;
            case ChannelActivation.Relu6: AffineBlocks<TSecond, TResidual, Capped>(s, r0, r1); break;
            default: AffineBlocks<TSecond, TResidual, HardSwish>(s, r0, r1); break;
        }
    }

    // A block of rows at a time (in L1 after its first channel vector), one channel vector down the block's rows with its
    // coefficients in registers: a vector's loop then loads only x. Rows outer, channel vectors inner, loaded the coefficients
    // and the Args fields again at every vector, and ran at a third of a copy's speed (6.4 MB, two threads, Zen 5).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AffineBlocks<TSecond, TResidual, TAct>(Args* s, int r0, int r1)
        where TSecond : struct, IStep where TResidual : struct, IStep where TAct : struct, IStep
    {
        int c = s->Channels;
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
                    Apply<TAct>(t).Store(y);
                }
            }
        }
    }

    /// <summary>
    /// y[r, c] = x'[r, c]·a[c] + (z[r, c]·e[c] + f[c])·b[c] + d[c]: batch normalisation's input gradient in one pass,
    /// with z the layer's input and z·e + f its xhat; x' = x, or with an activation, g and h, x times the activation's slope at
    /// xhat·g[c] + h[c] (relu's: x where that is positive, else 0).
    /// </summary>
    public static void Affine2(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> z, ReadOnlySpan<float> e, ReadOnlySpan<float> f,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> d, Span<float> y, (double[] Partials, float[] Scratch) scratch,
        ChannelActivation activation = ChannelActivation.None, ReadOnlySpan<float> g = default, ReadOnlySpan<float> h = default)
    {
        int channels = a.Length;
        bool mask = activation != ChannelActivation.None;
        if (b.Length != channels || d.Length != channels || e.Length != channels || f.Length != channels || z.Length != x.Length
            || y.Length < x.Length || x.Length % channels != 0 || scratch.Scratch.Length < kernels.Threads * 3 * channels
            || mask && (g.Length != channels || h.Length != channels))
            throw new ArgumentException("channel affine: buffers of the wrong size");
        int period = Period(channels), bulk = period == 0 ? 0 : x.Length / period * period;
        if (bulk > 0)
        {
            // the whole periods as rows of P channels (Period), each value computed as before; then the rows left
            Span<float> repeated = stackalloc float[7 * period];
            Affine2Of(kernels, x[..bulk], z[..bulk], Repeat(e, repeated[..period]), Repeat(f, repeated[period..(2 * period)]), Repeat(a, repeated[(2 * period)..(3 * period)]),
                Repeat(b, repeated[(3 * period)..(4 * period)]), Repeat(d, repeated[(4 * period)..(5 * period)]), y[..bulk], scratch, activation,
                Repeat(g, repeated[(5 * period)..(6 * period)]), Repeat(h, repeated[(6 * period)..]));
            if (bulk == x.Length) return;
            x = x[bulk..];
            z = z[bulk..];
            y = y[bulk..];
        }
        Affine2Of(kernels, x, z, e, f, a, b, d, y, scratch, activation, g, h);
    }

    private static void Affine2Of(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> z, ReadOnlySpan<float> e, ReadOnlySpan<float> f,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> d, Span<float> y, (double[] Partials, float[] Scratch) scratch,
        ChannelActivation activation, ReadOnlySpan<float> g, ReadOnlySpan<float> h)
    {
        int channels = a.Length;
        fixed (float* px = x, pz = z, py = y, pa = a, pb = b, pd = d, pe = e, pf = f, pg = g, ph = h, ps = scratch.Scratch)
        {
            var args = new Args { X = px, Z = pz, Y = py, A = pa, B = pb, D = pd, E = pe, F = pf, G = pg, H = ph, Scratch = ps, Channels = channels, Activation = activation };
            kernels.ParallelForEach(x.Length / channels, &Affine2Range, &args, 3L * channels, ChunkRows(channels));
        }
    }

    private static void Affine2Range(void* state, int part, int r0, int r1)
    {
        var s = (Args*)state;
        int c = s->Channels;
        bool mask = s->Activation != ChannelActivation.None;
        if (c % Lanes == 0)
        {
            switch (s->Activation)
            {
                case ChannelActivation.None: Affine2Blocks<Off>(s, r0, r1); break;
                case ChannelActivation.Relu: Affine2Blocks<On>(s, r0, r1); break;
                case ChannelActivation.Relu6: Affine2Blocks<Capped>(s, r0, r1); break;
                default: Affine2Blocks<HardSwish>(s, r0, r1); break;
            }
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
            var x = new ReadOnlySpan<float>(s->X + (long)r * c, c);   // y may be x: each y[ch] written after x[ch] is read
            if (!mask) TensorPrimitives.FusedMultiplyAdd(x, a, d, y);
            else
                for (int ch = 0; ch < c; ch++)   // x' = x times the activation's slope
                    y[ch] = MathF.FusedMultiplyAdd(Slope(s->Activation, x[ch], MathF.FusedMultiplyAdd(zhatRow[ch], s->G[ch], s->H[ch])), a[ch], d[ch]);
            TensorPrimitives.FusedMultiplyAdd(zhatRow, b, y, y);
        }
    }

    // Blocks of rows, one channel vector down each with its seven coefficients in registers, as AffineBlocks.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Affine2Blocks<TAct>(Args* s, int r0, int r1) where TAct : struct, IStep
    {
        int c = s->Channels;
        for (int r = r0; r < r1; r += BlockRows)
        {
            int rows = Math.Min(r1, r + BlockRows) - r;
            for (int v = 0; v < c; v += Lanes)
            {
                var (a, b, d, e, f) = (Vector256.Load(s->A + v), Vector256.Load(s->B + v), Vector256.Load(s->D + v), Vector256.Load(s->E + v), Vector256.Load(s->F + v));
                Vector256<float> g = default, h = default;
                if (typeof(TAct) != typeof(Off)) (g, h) = (Vector256.Load(s->G + v), Vector256.Load(s->H + v));
                float* x = s->X + (long)r * c + v, z = s->Z + (long)r * c + v, y = s->Y + (long)r * c + v;
                for (int q = 0; q < rows; q++, x += c, z += c, y += c)
                {
                    var zhat = Vector256.FusedMultiplyAdd(Vector256.Load(z), e, f);
                    var dy = Vector256.Load(x);
                    if (typeof(TAct) != typeof(Off)) dy = Slope<TAct>(dy, Vector256.FusedMultiplyAdd(zhat, g, h));
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
        int period = Period(channels), bulk = period == 0 ? 0 : y.Length / period * period;
        if (bulk > 0)
        {
            // the whole periods as rows of P channels (Period), each value computed as before; then the rows left. A first
            // convolution's bias over 6 channels had gone a float at a time: 9% of LeNet-5's first layer's training step
            Span<float> repeated = stackalloc float[3 * period];
            BiasAffineReluOn(kernels, y[..bulk], period, Repeat(bias, repeated[..period]), Repeat(a, repeated[period..(2 * period)]),
                Repeat(b, repeated[(2 * period)..]), relu, residual.IsEmpty ? default : residual[..bulk]);
            if (bulk == y.Length) return;
            y = y[bulk..];
            if (!residual.IsEmpty) residual = residual[bulk..];
        }
        fixed (float* py = y, pbias = bias, pa = a, pb = b, pr = residual)
        {
            var args = new Args { Y = py, X = bias.IsEmpty ? null : pbias, A = a.IsEmpty ? null : pa, B = pb, Z = residual.IsEmpty ? null : pr, Channels = channels, Activation = relu ? ChannelActivation.Relu : ChannelActivation.None };
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
    private readonly struct HardSwish : IStep;

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
        if (s->Activation == ChannelActivation.Relu) Rows<TBias, TAffine, TResidual, On>(s, r0, r1); else Rows<TBias, TAffine, TResidual, Off>(s, r0, r1);
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

/// <summary>
/// The activation a batch normalisation's pass applies after its map, as one with the activation layer after it (Planning/Fusion.cs):
/// forward applies it, backward multiplies the gradient by its slope, recomputed from the batch norm's input.
/// </summary>
public enum ChannelActivation { None, Relu, Relu6, HardSwish }
