using SpecNet.Kernels;

namespace SpecNet.Tests.Kernels;

/// <summary>
/// Dropout's mask is drawn in registers, branch-free, and over many floats in segments of the stream at once: the same draws, and
/// so the same masks, as NextFloat one at a time.
/// </summary>
public class RngTests
{
    [Theory]
    [InlineData(0.25f)]
    [InlineData(0.3f)]          // not a binary fraction: the threshold is rounded up
    [InlineData(0.5f)]
    [InlineData(0f)]
    [InlineData(0.999999f)]
    [InlineData(5.9604645E-08f)] // one draw in 2^24
    public void Mask_is_the_stream_of_next_float(float rate)
    {
        float keep = 1f / (1 - rate);
        // one by one; in segments of the stream jumped to, 8 per thread (on one thread and two: 12,496 and 6,248 draws each, and a
        // tail of 35), transposed out of vector lanes; and a mask too short for segments
        foreach (var (length, kernels) in new (int, Backend?)[] { (100_003, null), (100_003, new ManagedBackend(1)), (100_003, new ManagedBackend(2)), (1_000, new ManagedBackend(2)) })
        {
            var (fast, slow) = (new Rng(17), new Rng(17));
            fast.NextUInt(); slow.NextUInt();                // a state past the seed's
            var mask = new float[length];
            if (kernels is null) fast.Mask(mask, rate, keep); else fast.Mask(mask, rate, keep, kernels);
            for (int i = 0; i < mask.Length; i++)
            {
                var expected = slow.NextFloat() >= rate ? keep : 0f;
                Assert.True(mask[i] == expected, $"{kernels}, {length}: draw {i}: {mask[i]}, NextFloat gives {expected}");
            }
            Assert.Equal(slow.NextUInt(), fast.NextUInt());   // the state moved on as far
        }
    }

    /// <summary>
    /// A draw k / 2^24 on the rate is kept (>=); half a step above it, between two draws' values, drops it (the threshold
    /// rounded up, not down).
    /// </summary>
    [Fact]
    public void A_draw_equal_to_the_rate_is_kept_and_one_just_below_dropped()
    {
        int seed = Enumerable.Range(1, 100).First(s => new Rng((ulong)s).NextUInt() >> 8 < 1 << 23);   // k + 0.5 exact in a float
        uint k = new Rng((ulong)seed).NextUInt() >> 8;
        var mask = new float[1];
        new Rng((ulong)seed).Mask(mask, k * (1.0f / (1 << 24)), 2f);
        Assert.Equal(2f, mask[0]);
        new Rng((ulong)seed).Mask(mask, (k + 0.5f) * (1.0f / (1 << 24)), 2f);
        Assert.Equal(0f, mask[0]);
    }
}
