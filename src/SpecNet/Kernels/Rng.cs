using System.Numerics;

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
        uint threshold = (uint)MathF.Ceiling(rate * (1 << 24));
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
