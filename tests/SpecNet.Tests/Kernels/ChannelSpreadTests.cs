using SpecNet.Kernels;

namespace SpecNet.Tests.Kernels;

/// <summary>
/// A pixel of c values spread to whole vectors, each value m times and zeros after (what a depthwise convolution with m filters
/// per channel, or channels that do not fill a vector, runs over), and gathered back, each value the sum of its copies in order:
/// against one value at a time, every spread channel written (the buffer starts as NaN), no value written past the pixels.
/// </summary>
public class ChannelSpreadTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 1)]      // RGB: one vector a pixel, five zeros
    [InlineData(12, 1)]     // a whole vector and half of one
    [InlineData(17, 1)]
    [InlineData(3, 2)]
    [InlineData(8, 2)]      // two whole vectors, nothing padded
    [InlineData(5, 3)]
    [InlineData(20, 4)]     // ten vectors, each reading two or three values
    public unsafe void Spreads_each_value_m_times_and_gathers_their_sums_back(int c, int m)
    {
        const int pixels = 7;
        var spread = new ChannelSpread(c, m);
        Assert.Equal((c * m + 7) / 8 * 8, spread.Channels);
        var x = Enumerable.Range(0, pixels * c).Select(i => MathF.Sin(i + 1)).ToArray();
        var into = Enumerable.Repeat(float.NaN, pixels * spread.Channels).ToArray();
        fixed (float* px = x, pinto = into) spread.Spread(px, pinto, pixels);
        for (int p = 0; p < pixels; p++)
            for (int o = 0; o < spread.Channels; o++)
                Assert.Equal(o < c * m ? x[p * c + o / m] : 0f, into[p * spread.Channels + o]);

        var values = Enumerable.Range(0, into.Length).Select(i => MathF.Cos(i) * 3).ToArray();
        var back = Enumerable.Repeat(float.NaN, pixels * c + 9).ToArray();    // nine past the end: never written
        fixed (float* pv = values, pback = back) spread.Gather(pv, pback, pixels);
        for (int p = 0; p < pixels; p++)
            for (int i = 0; i < c; i++)
            {
                float sum = values[p * spread.Channels + i * m];
                for (int k = 1; k < m; k++) sum += values[p * spread.Channels + i * m + k];
                Assert.Equal(sum, back[p * c + i]);
            }
        Assert.All(back[(pixels * c)..], v => Assert.True(float.IsNaN(v)));
    }
}
