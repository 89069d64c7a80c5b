using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Tests.Kernels;

/// <summary>
/// Inference's 3x3 stride-2 convolutions by F(3x3, 2x2) over the input's four phases (<see cref="StridedWinograd"/>) against
/// the direct loops (summed in double): within a few parts in 10^7 of the sum of the terms' magnitudes, on every path a block
/// takes (tiles over odd edges and padding, rounds of tiles, one image's rows split between threads, backends without a
/// gathered GEMM), and where it pays and where not.
/// </summary>
public class StridedWinogradTests
{
    public static TheoryData<int, int, int, int, int, string> Geometries() => new()
    {
        // batch, height, width, channels, filters, padding
        { 3, 13, 13, 32, 64, "valid" },   // the strided tutorial's second convolution: 6x6, four whole tiles
        { 2, 28, 28, 16, 32, "same" },    // the residual model's first block: 14x14, padded after only; tiles past the edge
        { 2, 12, 9, 8, 16, "same" },      // 6x5: the last tiles' columns fall outside
        { 2, 15, 16, 24, 8, "valid" },    // 7x7: a row and a column of tiles one output wide
        { 40, 13, 13, 32, 64, "valid" },  // many tiles: several rounds of GEMMs
        { 1, 29, 29, 16, 16, "same" },    // one image: its rows split between the threads, the second share in the middle of a tile row
        { 2, 6, 6, 64, 128, "valid" },    // 2x2: one tile, most of it outside
    };

    [Theory]
    [MemberData(nameof(Geometries))]
    public void Strided_Winograd_matches_the_direct_loops(int batch, int h, int w, int c, int filters, string padding)
    {
        var pad = padding == "same" ? Padding.Same : Padding.Valid;
        var g = new ConvGeometry(Shape.Spatial(h, w, c), Window.Of(h, 3, 2, 1, pad), Window.Of(w, 3, 2, 1, pad), filters);
        Assert.True(StridedWinograd.Computes(g));
        Assert.False(Winograd.Computes(g));
        WinogradTests.MatchesTheDirectLoops(g, batch, (conv, backend) => conv.UseWinograd(backend, wherePaying: false), 3e-7, "F(3x3, 2x2) by phases");
    }

    /// <summary>
    /// U_ξ against (G g_rs Gᵀ)_ξ · ½^(halves of ξ) one element at a time in double, for each phase (r, s) that takes part in ξ, side
    /// by side in the phases' order: within one rounding to float, for every filter, channel and ξ; and K_ξ = 4C, 2C or C.
    /// </summary>
    [Fact]
    public void The_kernel_transform_is_each_phases_G_g_Gt_rounded_once()
    {
        const int filters = 16, channels = 24;
        var window = Window.Of(13, 3, 2, 1, Padding.Valid);
        var winograd = new StridedWinograd(new ConvGeometry(Shape.Spatial(13, 13, channels), window, window, filters), new ReferenceBackend());
        var w = WinogradTests.Random(filters * 9 * channels, 7);
        winograd.Transform(new ReferenceBackend(), w, Repack.Always);
        double[,] G = { { 1, 0 }, { 1, 1 }, { 1, -1 }, { 0, -1 } };
        double[] half = [1, 0.5, 0.5, 1];
        var u = winograd.TransformedKernel;
        int at = 0;
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++)
            {
                // phases (r, s) whose padded kernel leaves ξ = (a, b) non-zero: r = 1 has no second kernel row, so not a = 3
                var phases = new[] { (0, 0), (0, 1), (1, 0), (1, 1) }.Where(p => !(p.Item1 == 1 && a == 3) && !(p.Item2 == 1 && b == 3)).ToArray();
                int k = phases.Length * channels;
                Assert.Equal(a < 3 && b < 3 ? 4 : a == 3 && b == 3 ? 1 : 2, phases.Length);
                for (int f = 0; f < filters; f++)
                    for (int slot = 0; slot < phases.Length; slot++)
                        for (int c = 0; c < channels; c++)
                        {
                            var (r, s) = phases[slot];
                            double exact = 0;
                            for (int p = 0; p < 2 - r; p++)
                                for (int q = 0; q < 2 - s; q++) exact += G[a, p] * w[(f * 9 + 3 * (2 * p + r) + 2 * q + s) * channels + c] * G[b, q];
                            exact *= half[a] * half[b];
                            float got = u[at + f * k + slot * channels + c];
                            Assert.True(Math.Abs(got - exact) <= Math.Abs(exact) * 6e-8 + 1e-12, $"U[{a},{b}] phase ({r},{s}) of filter {f}, channel {c}: {got} vs {exact}");
                        }
                at += filters * k;
            }
        Assert.Equal(at, u.Length);
    }

    /// <summary>Where it pays: 32 channels and 16 filters or more, a quarter of the multiplies saved; only at inference.</summary>
    [Theory]
    [InlineData(13, 32, 64, "valid", true)]     // 6x6: four tiles of 49 against 18·18 taps, 0.60
    [InlineData(28, 32, 32, "same", true)]      // 14x14: 25 tiles against 41·41, 0.73
    [InlineData(28, 16, 32, "same", false)]     // the same with K = 16 to 64: measured level
    [InlineData(6, 64, 128, "valid", false)]    // 2x2: one tile of 49 against 36
    [InlineData(14, 64, 64, "same", false)]     // 7x7: nine tiles of 49 against 20·20, 1.1
    [InlineData(13, 32, 8, "valid", false)]     // 8 filters
    public void Strided_Winograd_runs_where_it_pays(int size, int channels, int filters, string padding, bool fits)
    {
        var window = Window.Of(size, 3, 2, 1, padding == "same" ? Padding.Same : Padding.Valid);
        var g = new ConvGeometry(Shape.Spatial(size, size, channels), window, window, filters);
        Assert.Equal(fits, StridedWinograd.Fits(g));
        var backend = new ManagedBackend(2);
        Assert.Equal(fits, new Convolution(g, 8, training: false, backend).UseWinograd(backend));
        Assert.False(new Convolution(g, 8, training: true, backend).UseWinograd(backend));
    }

    /// <summary>A block takes it from 24 tiles: the tutorial's 13x13x32 -> 64 at batch 6 (24 tiles), not one image (four).</summary>
    [Theory]
    [InlineData(6, true)]
    [InlineData(1, false)]
    public void A_block_takes_it_where_its_tiles_fill_the_GEMMs(int batch, bool strided)
    {
        var backend = new ManagedBackend(1);
        var window = Window.Of(13, 3, 2, 1, Padding.Valid);
        var g = new ConvGeometry(Shape.Spatial(13, 13, 32), window, window, 64);
        float[] Run(Func<Convolution, bool> use) => WinogradTests.Forward(backend, g, batch, use);
        var chosen = Run(c => c.UseWinograd(backend));
        Assert.Equal(strided ? Run(c => c.UseWinograd(backend, wherePaying: false)) : Run(_ => true), chosen);
    }
}
