using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SpecNet.Kernels;

/// <summary>
/// A small, fast, seedable generator (xoshiro128**, seeded through SplitMix64) whose state can be saved
/// and restored, so initialisation, shuffling and dropout are reproducible from the spec's seed.
/// </summary>
public sealed class Rng
{
    private uint _s0, _s1, _s2, _s3;

    public Rng(ulong seed)
    {
        ulong x = seed;
        ulong Next() { x += 0x9E3779B97F4A7C15UL; var z = x; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL; z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL; return z ^ (z >> 31); }
        var a = Next(); var b = Next();
        (_s0, _s1, _s2, _s3) = ((uint)a, (uint)(a >> 32), (uint)b, (uint)(b >> 32));
        if ((_s0 | _s1 | _s2 | _s3) == 0) _s0 = 1;
    }

    /// <summary>A generator for one purpose (init, shuffle, dropout) derived from a seed, independent of the others.</summary>
    public static Rng For(int seed, string purpose)
    {
        ulong h = 1469598103934665603UL;
        foreach (var ch in purpose) h = (h ^ ch) * 1099511628211UL;
        return new Rng((ulong)(uint)seed ^ h);
    }

    public uint NextUInt() => Step(ref _s0, ref _s1, ref _s2, ref _s3);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static uint Step(ref uint s0, ref uint s1, ref uint s2, ref uint s3)
    {
        uint result = BitOperations.RotateLeft(s1 * 5, 7) * 9;
        uint t = s1 << 9;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3;
        s2 ^= t;
        s3 = BitOperations.RotateLeft(s3, 11);
        return result;
    }

    /// <summary>
    /// Dropout's mask: mask[i] = <see cref="NextFloat"/>() >= rate ? keep : 0, the same draws, with the state in registers
    /// (through the fields, each draw waited on the stores of the one before: 6.7 ns a float).
    /// </summary>
    public void Mask(Span<float> mask, float rate, float keep)
    {
        // k / 2^24 >= rate exactly when k >= ceil(rate · 2^24) (both sides exact in floats); the comparison as a borrow bit,
        // since a branch on random draws is mispredicted as often as it drops
        uint threshold = Threshold(rate);
        int keepBits = BitConverter.SingleToInt32Bits(keep);
        uint s0 = _s0, s1 = _s1, s2 = _s2, s3 = _s3;
        for (int i = 0; i < mask.Length; i++)
        {
            uint k = Step(ref s0, ref s1, ref s2, ref s3) >> 8;
            int kept = -(int)((threshold - 1 - k) >> 31);   // all ones when k >= threshold (threshold 0 wraps: all kept), else 0
            mask[i] = BitConverter.Int32BitsToSingle(keepBits & kept);
        }
        (_s0, _s1, _s2, _s3) = (s0, s1, s2, s3);
    }

    private static uint Threshold(float rate) => (uint)MathF.Ceiling(rate * (1 << 24));

    /// <summary>
    /// The same mask, the same draws and the same state after, made in 8 segments of the stream per thread of
    /// <paramref name="kernels"/> at once: each segment's first state is the stream jumped ahead (<see cref="Jump"/>), and a
    /// thread draws its eight in the lanes of 256-bit vectors, eight draws at a time, transposed into place. A float at a time
    /// (each draw waits on the one before) the mask over a 28x28x32 map at batch 32, 800,000 floats, had taken 0.92 ms of a
    /// 9 ms training step (Zen 5). Below 65,536 floats, or without AVX2, the draws go one by one.
    /// </summary>
    public unsafe void Mask(Span<float> mask, float rate, float keep, Backend kernels)
    {
        int segments = 8 * kernels.Threads, segment = mask.Length / segments / 8 * 8;
        if (mask.Length < 1 << 16 || !Avx2.IsSupported || segment == 0) { Mask(mask, rate, keep); return; }
        uint* states = stackalloc uint[4 * segments];            // per part of 8 segments: s0 of each, then s1, s2, s3
        for (int t = 0; t < segments; t++)
        {
            uint* at = states + (t / 8) * 32 + t % 8;
            (at[0], at[8], at[16], at[24]) = (_s0, _s1, _s2, _s3);
            Jump(segment);                                       // the next segment's first state; after the last, the tail's
        }
        fixed (float* pm = mask)
        {
            var args = new LaneArgs { States = states, Mask = pm, Segment = segment, Threshold = Threshold(rate), KeepBits = BitConverter.SingleToInt32Bits(keep) };
            kernels.ParallelFor(kernels.Threads, &MaskLanes, &args, 8L * segment);   // a part: its eight segments
        }
        Mask(mask[(segments * segment)..], rate, keep);           // the tail, from where the segments end: the state moves on past it
    }

    private unsafe struct LaneArgs
    {
        public uint* States;
        public float* Mask;
        public int Segment, KeepBits;
        public uint Threshold;
    }

    /// <summary>Parts [p0, p1): part p draws segments 8p to 8p + 7, one per lane, and transposes each eight draws into its segment.</summary>
    private static unsafe void MaskLanes(void* state, int part, int p0, int p1)
    {
        var a = (LaneArgs*)state;
        float* block = stackalloc float[64];
        var below = Vector256.Create(a->Threshold - 1);
        var keep = Vector256.Create(a->KeepBits).AsUInt32();
        for (int p = p0; p < p1; p++)
        {
            uint* st = a->States + 32 * p;
            Vector256<uint> s0 = Vector256.Load(st), s1 = Vector256.Load(st + 8), s2 = Vector256.Load(st + 16), s3 = Vector256.Load(st + 24);
            float* first = a->Mask + (long)8 * p * a->Segment;
            for (int i = 0; i < a->Segment; i += 8)
            {
                for (int r = 0; r < 8; r++)
                {
                    var result = RotateLeft(s1 * 5, 7) * 9;
                    var t = Vector256.ShiftLeft(s1, 9);
                    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = RotateLeft(s3, 11);
                    var kept = Vector256.ShiftRightArithmetic((below - Vector256.ShiftRightLogical(result, 8)).AsInt32(), 31).AsUInt32();
                    (keep & kept).AsSingle().Store(block + 8 * r);
                }
                Elementwise.Transpose8x8(block, 8, first + i, a->Segment);   // row r: draw i + r of each lane; row l after: lane l's
            }
        }
    }

    private static Vector256<uint> RotateLeft(Vector256<uint> x, int k) => Vector256.ShiftLeft(x, k) | Vector256.ShiftRightLogical(x, 32 - k);

    /// <summary>The state moved on by <paramref name="draws"/> draws: xoshiro's step is linear over bits, so by the matrices of 2^i steps.</summary>
    private void Jump(long draws)
    {
        ulong lo = _s0 | (ulong)_s1 << 32, hi = _s2 | (ulong)_s3 << 32;
        for (int i = 0; draws >> i != 0; i++)
            if ((draws >> i & 1) != 0) (lo, hi) = Apply(Powers.Value, 256 * i, lo, hi);
        (_s0, _s1, _s2, _s3) = ((uint)lo, (uint)(lo >> 32), (uint)hi, (uint)(hi >> 32));
    }

    /// <summary>The step's matrix to the power 2^i, for i below 31, as 128 columns of two words each: column j the state bit j moves to.</summary>
    private static readonly Lazy<ulong[]> Powers = new(() =>
    {
        var m = new ulong[31 * 256];
        for (int j = 0; j < 128; j++)
        {
            uint s0 = j < 32 ? 1u << j : 0, s1 = j is >= 32 and < 64 ? 1u << j - 32 : 0, s2 = j is >= 64 and < 96 ? 1u << j - 64 : 0, s3 = j >= 96 ? 1u << j - 96 : 0;
            Step(ref s0, ref s1, ref s2, ref s3);
            (m[2 * j], m[2 * j + 1]) = (s0 | (ulong)s1 << 32, s2 | (ulong)s3 << 32);
        }
        for (int i = 1; i < 31; i++)
            for (int j = 0; j < 128; j++)
                (m[256 * i + 2 * j], m[256 * i + 2 * j + 1]) = Apply(m, 256 * (i - 1), m[256 * (i - 1) + 2 * j], m[256 * (i - 1) + 2 * j + 1]);
        return m;
    });

    private static (ulong Lo, ulong Hi) Apply(ulong[] m, int at, ulong lo, ulong hi)
    {
        ulong rlo = 0, rhi = 0;
        for (int j = 0; j < 128; j++)
            if (((j < 64 ? lo >> j : hi >> j - 64) & 1) != 0) { rlo ^= m[at + 2 * j]; rhi ^= m[at + 2 * j + 1]; }
        return (rlo, rhi);
    }

    /// <summary>Uniform in [0, 1) with 24 random bits.</summary>
    public float NextFloat() => (NextUInt() >> 8) * (1.0f / (1 << 24));

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => ((((ulong)NextUInt() << 32) | NextUInt()) >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, bound) without modulo bias (Lemire's method).</summary>
    public int NextInt(int bound)
    {
        ulong m = (ulong)NextUInt() * (uint)bound;
        if ((uint)m < (uint)bound)
        {
            uint threshold = (uint)(-bound) % (uint)bound;
            while ((uint)m < threshold) m = (ulong)NextUInt() * (uint)bound;
        }
        return (int)(m >> 32);
    }

    public void Shuffle(Span<int> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    public uint[] State
    {
        get => [_s0, _s1, _s2, _s3];
        set => (_s0, _s1, _s2, _s3) = (value[0], value[1], value[2], value[3]);
    }
}
