using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace SpecNet.Kernels;

/// <summary>
/// Per-channel work over NHWC tensors seen as rows of C channels (batch normalisation): column sums and
/// the affine map y = a[c]·x + b[c], vectorised along the channels and split by rows between the
/// backend's threads. Sums are kept per thread (float within a block of rows, double across blocks) and
/// added in thread order, so results are the same for a given thread count.
/// </summary>
public static unsafe class ChannelKernels
{
    /// <summary>Rows summed in float before the running sum (double) takes them: float error stays that of 64 terms.</summary>
    private const int BlockRows = 64;

    /// <summary>Channels per vector: tensors whose channel count is a multiple of it run a vector loop down the rows.</summary>
    private static readonly int Lanes = Vector256<float>.Count;

    private struct Args
    {
        public float* X, Y, Z, A, B, E, F;
        public double* Partials;
        public float* Scratch;
        public int Channels;
    }

    /// <summary>Scratch a sum needs: per thread 2·C doubles and 2·C floats.</summary>
    public static (double[] Partials, float[] Scratch) Scratch(int channels, int threads) => (new double[threads * 2 * channels], new float[threads * 2 * channels]);

    /// <summary>first[c] = Σ_rows x[r, c]; second[c] = Σ_rows x[r, c]·z[r, c] (z = x: the sum of squares).</summary>
    public static void Sums(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> z, int channels, Span<double> first, Span<double> second,
        (double[] Partials, float[] Scratch) scratch)
    {
        int rows = x.Length / channels, parts;
        if (z.Length != x.Length || first.Length != channels || second.Length != channels || scratch.Partials.Length < kernels.Threads * 2 * channels)
            throw new ArgumentException("channel sums: buffers of the wrong size");
        fixed (float* px = x, pz = z, ps = scratch.Scratch)
        fixed (double* pp = scratch.Partials)
        {
            var args = new Args { X = px, Z = pz, Partials = pp, Scratch = ps, Channels = channels };
            parts = kernels.ParallelFor(rows, &SumsRange, &args, 2L * channels);
        }
        first.Clear(); second.Clear();
        for (int t = 0; t < parts; t++)
            for (int c = 0; c < channels; c++)
            {
                first[c] += scratch.Partials[(t * 2) * channels + c];
                second[c] += scratch.Partials[(t * 2 + 1) * channels + c];
            }
    }

    private static void SumsRange(void* state, int part, int r0, int r1)
    {
        var a = (Args*)state;
        int c = a->Channels;
        var first = new Span<double>(a->Partials + part * 2 * c, c);
        var second = new Span<double>(a->Partials + (part * 2 + 1) * c, c);
        var blockFirst = new Span<float>(a->Scratch + part * 2 * c, c);
        var blockSecond = new Span<float>(a->Scratch + (part * 2 + 1) * c, c);
        first.Clear(); second.Clear();
        for (int r = r0; r < r1; r += BlockRows)
        {
            blockFirst.Clear(); blockSecond.Clear();
            int end = Math.Min(r1, r + BlockRows);
            if (c % Lanes == 0)
                for (int v = 0; v < c; v += Lanes) // one channel vector at a time, down the rows: no call per row
                {
                    Vector256<float> f = default, g = default;
                    for (int q = r; q < end; q++)
                    {
                        var xv = Vector256.Load(a->X + (long)q * c + v);
                        f += xv;
                        g = Vector256.FusedMultiplyAdd(xv, Vector256.Load(a->Z + (long)q * c + v), g);
                    }
                    f.CopyTo(blockFirst.Slice(v, Lanes));
                    g.CopyTo(blockSecond.Slice(v, Lanes));
                }
            else
                for (int q = r; q < end; q++)
                {
                    var x = new ReadOnlySpan<float>(a->X + (long)q * c, c);
                    TensorPrimitives.Add(blockFirst, x, blockFirst);
                    TensorPrimitives.FusedMultiplyAdd(x, new ReadOnlySpan<float>(a->Z + (long)q * c, c), blockSecond, blockSecond);
                }
            for (int ch = 0; ch < c; ch++) { first[ch] += blockFirst[ch]; second[ch] += blockSecond[ch]; }
        }
    }

    /// <summary>y[r, c] = x[r, c]·a[c] + b[c] (y may be x).</summary>
    public static void Affine(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<float> shift, Span<float> y) =>
        Affine(kernels, x, scale, shift, y, default, default, default);

    /// <summary>
    /// y[r, c] = x[r, c]·a[c] + b[c], and when <paramref name="z"/> is given, also z[r, c] = y[r, c]·e[c] + f[c]
    /// in the same pass (batch normalisation's xhat and output: one read of x, not two passes).
    /// </summary>
    public static void Affine(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y,
        ReadOnlySpan<float> e, ReadOnlySpan<float> f, Span<float> z)
    {
        int channels = a.Length;
        bool second = !z.IsEmpty;
        if (b.Length != channels || y.Length < x.Length || x.Length % channels != 0
            || second && (e.Length != channels || f.Length != channels || z.Length < x.Length))
            throw new ArgumentException("channel affine: buffers of the wrong size");
        fixed (float* px = x, py = y, pa = a, pb = b, pz = z, pe = e, pf = f)
        {
            var args = new Args { X = px, Y = py, A = pa, B = pb, Z = second ? pz : null, E = pe, F = pf, Channels = channels };
            kernels.ParallelFor(x.Length / channels, &AffineRange, &args, (second ? 3L : 2L) * channels);
        }
    }

    // Rows outer, channel vectors inner: each cache line of x is read once (the per-channel
    // factors stay in L1), whatever the channel count.
    private static void AffineRange(void* state, int part, int r0, int r1)
    {
        var s = (Args*)state;
        int c = s->Channels;
        bool second = s->Z != null;
        if (c % Lanes == 0)
        {
            for (long at = (long)r0 * c, end = (long)r1 * c; at < end; at += c)
                for (int v = 0; v < c; v += Lanes)
                {
                    var y = Vector256.FusedMultiplyAdd(Vector256.Load(s->X + at + v), Vector256.Load(s->A + v), Vector256.Load(s->B + v));
                    y.Store(s->Y + at + v);
                    if (second) Vector256.FusedMultiplyAdd(y, Vector256.Load(s->E + v), Vector256.Load(s->F + v)).Store(s->Z + at + v);
                }
            return;
        }
        var a = new ReadOnlySpan<float>(s->A, c);
        var b = new ReadOnlySpan<float>(s->B, c);
        for (int r = r0; r < r1; r++)
        {
            var y = new Span<float>(s->Y + (long)r * c, c);
            TensorPrimitives.FusedMultiplyAdd(new ReadOnlySpan<float>(s->X + (long)r * c, c), a, b, y);
            if (second) TensorPrimitives.FusedMultiplyAdd(y, new ReadOnlySpan<float>(s->E, c), new ReadOnlySpan<float>(s->F, c), new Span<float>(s->Z + (long)r * c, c));
        }
    }

    /// <summary>y[r, c] = x[r, c]·a[c] + z[r, c]·b[c] + d[c]: batch normalisation's input gradient in one pass.</summary>
    public static void Affine2(Backend kernels, ReadOnlySpan<float> x, ReadOnlySpan<float> z, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> d, Span<float> y)
    {
        int channels = a.Length;
        if (b.Length != channels || d.Length != channels || z.Length != x.Length || y.Length < x.Length || x.Length % channels != 0)
            throw new ArgumentException("channel affine: buffers of the wrong size");
        fixed (float* px = x, pz = z, py = y, pa = a, pb = b, pd = d)
        {
            var args = new Args { X = px, Z = pz, Y = py, A = pa, B = pb, Scratch = pd, Channels = channels };
            kernels.ParallelFor(x.Length / channels, &Affine2Range, &args, 3L * channels);
        }
    }

    private static void Affine2Range(void* state, int part, int r0, int r1)
    {
        var s = (Args*)state;
        int c = s->Channels;
        if (c % Lanes == 0)
        {
            for (long at = (long)r0 * c, end = (long)r1 * c; at < end; at += c)
                for (int v = 0; v < c; v += Lanes)
                    Vector256.FusedMultiplyAdd(Vector256.Load(s->Z + at + v), Vector256.Load(s->B + v),
                        Vector256.FusedMultiplyAdd(Vector256.Load(s->X + at + v), Vector256.Load(s->A + v), Vector256.Load(s->Scratch + v))).Store(s->Y + at + v);
            return;
        }
        var a = new ReadOnlySpan<float>(s->A, c);
        var b = new ReadOnlySpan<float>(s->B, c);
        var d = new ReadOnlySpan<float>(s->Scratch, c);
        for (int r = r0; r < r1; r++)
        {
            var y = new Span<float>(s->Y + (long)r * c, c);
            TensorPrimitives.FusedMultiplyAdd(new ReadOnlySpan<float>(s->X + (long)r * c, c), a, d, y);
            TensorPrimitives.FusedMultiplyAdd(new ReadOnlySpan<float>(s->Z + (long)r * c, c), b, y, y);
        }
    }
}
