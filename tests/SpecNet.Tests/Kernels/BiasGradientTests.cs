using SpecNet.Kernels;

namespace SpecNet.Tests.Kernels;

/// <summary>
/// A bias gradient (column sums of dz) and relu's backward fused with it: each channel's sum added row by row, as a float at a
/// time adds it, to the bit, for channel counts that fill vectors and that do not (a last vector over the last 8 channels, or
/// with fewer than 8 one reading into the next row); dz = dy where y > 0, every value written and none past the end.
/// </summary>
public class BiasGradientTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(6)]
    [InlineData(8)]
    [InlineData(10)]
    [InlineData(12)]
    [InlineData(24)]
    [InlineData(37)]
    public void Sums_are_the_row_by_row_sums_to_the_bit(int channels)
    {
        const int rows = 12001;   // two threads' shares (but for one channel alone), each ending on rows whose vector would reach into the other's
        var rng = new Rng(9);
        var dy = Enumerable.Range(0, rows * channels).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        var y = Enumerable.Range(0, rows * channels).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        foreach (var backend in new Backend[] { new ManagedBackend(1), new ManagedBackend(2) })
        {
            // one thread's rows are a part: its partial sums row by row, the parts added in order
            foreach (bool relu in new[] { false, true })
            {
                var partials = new float[backend.Threads * channels];
                var db = new float[channels];
                var dz = new float[dy.Length + 3];
                dz.AsSpan().Fill(float.NaN);
                if (relu) Elementwise.ReluBiasBackward(backend, y, dy, dz.AsSpan(0, dy.Length), db, partials);
                else Elementwise.BiasGradient(backend, dy, db, partials);
                // ParallelFor's split: parts by the work (floats touched a row), each a contiguous share of the rows
                long work = (relu ? 3L : 1L) * channels;
                int parts = (int)Math.Max(1, Math.Min(Math.Min(backend.Threads, rows), rows * work / Backend.MinParallelWork));
                var expected = new float[channels];
                for (int p = 0; p < parts; p++)
                {
                    var part = new float[channels];
                    for (int r = (int)((long)rows * p / parts); r < (int)((long)rows * (p + 1) / parts); r++)
                        for (int j = 0; j < channels; j++)
                            part[j] += relu && !(y[r * channels + j] > 0) ? 0f : dy[r * channels + j];
                    for (int j = 0; j < channels; j++) expected[j] += part[j];
                }
                Assert.Equal(expected, db);
                if (!relu) continue;
                for (int i = 0; i < dy.Length; i++) Assert.Equal(y[i] > 0 ? dy[i] : 0f, dz[i]);
                Assert.All(dz[dy.Length..], v => Assert.True(float.IsNaN(v)));
            }
        }
    }
}
