using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Tests.Kernels;

/// <summary>
/// Max pooling against its definition, for channel counts that fill whole vectors and that do not (a last vector moved back to
/// end at the last channel, its first lanes computed again): y the first maximum of each window, dx that output's dy at that cell
/// (summed where windows overlap), 0 elsewhere; with positiveOnly, only where the maximum is positive. Ties are common (values
/// drawn from eight), so the first maximum must win. Nothing is written past y's or dx's end.
/// </summary>
public class MaxPoolingTests
{
    [Theory]
    [InlineData(6, 6, 12, 2, 2, "valid")]    // 2x2 by 2: the specialised loops
    [InlineData(8, 6, 20, 2, 2, "valid")]
    [InlineData(6, 8, 5, 2, 2, "valid")]
    [InlineData(7, 7, 12, 3, 2, "same")]     // overlapping windows cut by the border: the general loops
    [InlineData(9, 9, 27, 3, 3, "valid")]    // tiling 3x3 windows
    [InlineData(9, 9, 40, 3, 2, "same")]     // with 512-bit vectors: two, then a 256-bit one
    [InlineData(8, 8, 64, 3, 2, "same")]     // a ResNet stem's pooling
    [InlineData(5, 6, 3, 3, 1, "same")]      // channels in no vector: under a mask (with AVX)
    [InlineData(28, 28, 6, 2, 2, "valid")]   // LeNet-5's first pooling
    [InlineData(7, 7, 6, 3, 2, "same")]
    [InlineData(9, 9, 1, 3, 3, "valid")]     // one channel, tiling windows
    [InlineData(6, 6, 16, 2, 2, "valid")]
    public void Forward_and_backward_match_the_definition(int h, int w, int c, int pool, int stride, string padding)
    {
        const int batch = 3;
        var input = Shape.Spatial(h, w, c);
        var pad = padding == "same" ? Padding.Same : Padding.Valid;
        Window rows = Window.Of(h, pool, stride, 1, pad), cols = Window.Of(w, pool, stride, 1, pad);
        var rng = new Rng(4);
        var x = Enumerable.Range(0, batch * input.Size).Select(_ => (float)(int)(rng.NextFloat() * 8) - 4).ToArray();
        int outputs = rows.Output * cols.Output * c;
        var dy = Enumerable.Range(0, batch * outputs).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        var (y0, dx0, dxPositive) = (new float[dy.Length], new float[x.Length], new float[x.Length]);
        for (int n = 0; n < batch; n++)
            for (int i = 0; i < rows.Output; i++)
                for (int j = 0; j < cols.Output; j++)
                    for (int ch = 0; ch < c; ch++)
                    {
                        float best = float.NegativeInfinity; int at = -1;
                        for (int di = 0; di < pool; di++)
                            for (int dj = 0; dj < pool; dj++)
                            {
                                int ih = i * stride - rows.PadBefore + di, iw = j * stride - cols.PadBefore + dj;
                                if ((uint)ih >= (uint)h || (uint)iw >= (uint)w) continue;
                                int cell = ((n * h + ih) * w + iw) * c + ch;
                                if (x[cell] > best) (best, at) = (x[cell], cell);
                            }
                        int o = ((n * rows.Output + i) * cols.Output + j) * c + ch;
                        y0[o] = best;
                        dx0[at] += dy[o];
                        if (best > 0) dxPositive[at] += dy[o];
                    }
        foreach (var backend in new Backend[] { new ManagedBackend(1), new ManagedBackend(2) })
        {
            var y = Enumerable.Repeat(float.NaN, dy.Length + 16).ToArray();   // 16 past the end: never written
            Pooling.MaxForward(backend, batch, input, rows, cols, x, y.AsSpan(0, dy.Length));
            Assert.Equal(y0, y[..dy.Length]);
            Assert.All(y[dy.Length..], v => Assert.True(float.IsNaN(v)));
            foreach (bool positiveOnly in new[] { false, true })
            {
                var dx = Enumerable.Repeat(float.NaN, x.Length + 16).ToArray();
                Pooling.MaxBackward(backend, batch, input, rows, cols, x, y.AsSpan(0, dy.Length), dy, dx.AsSpan(0, x.Length), positiveOnly);
                Assert.Equal(positiveOnly ? dxPositive : dx0, dx[..x.Length]);
                Assert.All(dx[x.Length..], v => Assert.True(float.IsNaN(v)));
            }
        }
    }
}
