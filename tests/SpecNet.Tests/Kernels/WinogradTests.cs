using System.Runtime.Intrinsics;
using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Schema;
using SpecNet.Tests.Layers;

namespace SpecNet.Tests.Kernels;

/// <summary>
/// Inference's Winograd F(2x2, 3x3) convolutions against the direct loops (summed in double): within a few parts in 10^7 of
/// the sum of the terms' magnitudes, no more than twice the direct GEMM's own error plus that; on every path a block takes
/// (partial tiles at odd edges, padding on each side, rounds of tiles, one image's rows split between threads, backends
/// without a gathered GEMM), and in plans with the epilogues and the pooling that follow it.
/// </summary>
public class WinogradTests
{
    public static TheoryData<int, int, int, int, int, string> Geometries() => new()
    {
        // batch, height, width, channels, filters, padding
        { 2, 8, 8, 16, 16, "same" },
        { 3, 7, 7, 16, 24, "same" },      // odd: the last tiles' second row and column fall outside
        { 2, 9, 6, 24, 16, "valid" },
        { 3, 13, 13, 32, 64, "valid" },   // the tutorial's second convolution
        { 40, 7, 7, 64, 64, "same" },     // many tiles: several rounds of GEMMs per chunk
        { 1, 29, 29, 16, 16, "same" },    // one image: its rows split between the threads, the second share starting at an odd row
        { 1, 7, 7, 64, 64, "same" },      // too few tiles in a share: the direct GEMM
        { 2, 5, 6, 16, 16, "same" },
    };

    [Theory]
    [MemberData(nameof(Geometries))]
    public void Winograd_matches_the_direct_loops(int batch, int h, int w, int c, int filters, string padding)
    {
        var pad = padding == "same" ? Padding.Same : Padding.Valid;
        var g = new ConvGeometry(Shape.Spatial(h, w, c), Window.Of(h, 3, 1, 1, pad), Window.Of(w, 3, 1, 1, pad), filters);
        Assert.True(Winograd.Computes(g));
        foreach (var tile in new[] { 2, 4 })
            MatchesTheDirectLoops(g, batch, (conv, backend) => conv.UseWinograd(backend, wherePaying: false, tile), Slack(tile), $"F({tile}x{tile}, 3x3)");
    }

    /// <summary>Forward of <paramref name="g"/> over a batch of random inputs and weights (the same each call), with what <paramref name="use"/> turns on, and the epilogue given.</summary>
    internal static float[] Forward(Backend backend, ConvGeometry g, int batch, Func<Convolution, bool> use, IRowsEpilogue? epilogue = null)
    {
        var (x, weights) = (Random(batch * g.Input.Size, 1), Random(g.Filters * g.PatchSize, 2));
        var conv = new Convolution(g, batch, training: false, backend);
        Assert.True(use(conv));
        var y = new float[batch * g.OutputSize];
        conv.Forward(backend, batch, x, weights, y, epilogue);
        return y;
    }

    /// <summary>
    /// Forward of <paramref name="g"/> with what <paramref name="use"/> turns on, on the managed backend (two threads and one) and
    /// the reference one, against the direct loops summed in double: it ran (not the direct GEMM's floats), no further from
    /// the exact sums than twice the direct GEMM's error plus <paramref name="slack"/> of the terms' magnitudes, and with new
    /// weights it transforms them again.
    /// </summary>
    internal static void MatchesTheDirectLoops(ConvGeometry g, int batch, Func<Convolution, Backend, bool> use, double slack, string what)
    {
        int filters = g.Filters;
        var x = Random(batch * g.Input.Size, 1);
        var weights = Random(filters * g.PatchSize, 2);
        var expected = ReferenceKernels.Convolution(x, batch, g.Input, weights, g.Rows, g.Cols, filters);
        var scale = ReferenceKernels.Convolution(x.Select(Math.Abs).ToArray(), batch, g.Input, weights.Select(Math.Abs).ToArray(), g.Rows, g.Cols, filters);
        foreach (var backend in new Backend[] { new ManagedBackend(2), new ManagedBackend(1), new ReferenceBackend() })
        {
            var direct = new float[expected.Length];
            new Convolution(g, batch, training: false, backend).Forward(backend, batch, x, weights, direct);
            var conv = new Convolution(g, batch, training: false, backend);
            Assert.True(use(conv, backend));
            var y = Enumerable.Repeat(float.NaN, expected.Length).ToArray();
            conv.Forward(backend, batch, x, weights, y);
            Assert.NotEqual(direct, y);                                   // it ran: its sums round differently
            double worst = 0, directWorst = 0;
            for (int i = 0; i < y.Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(y[i] - expected[i]) / scale[i]);
                directWorst = Math.Max(directWorst, Math.Abs(direct[i] - expected[i]) / scale[i]);
            }
            Assert.True(worst <= 2 * directWorst + slack, $"{backend}, {what}: relative error {worst:E2} (direct {directWorst:E2})");

            // New weights: transformed again, not the last ones reused
            var other = Random(weights.Length, 3);
            conv.Forward(backend, batch, x, other, y);
            var expectedOther = ReferenceKernels.Convolution(x, batch, g.Input, other, g.Rows, g.Cols, filters);
            var scaleOther = ReferenceKernels.Convolution(x.Select(Math.Abs).ToArray(), batch, g.Input, other.Select(Math.Abs).ToArray(), g.Rows, g.Cols, filters);
            for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - expectedOther[i]) <= 3 * slack * scaleOther[i], $"{what} [{i}] after new weights: {y[i]} vs {expectedOther[i]}");
        }
    }

    /// <summary>
    /// The kernel's transform U = G g Gᵀ, made eight channels at a time in vectors of doubles, against G g Gᵀ one element at a time
    /// in double: within one rounding to float of it, for every filter, channel and ξ (24 channels: three vector blocks). On the
    /// managed backend's two threads too, which split the filters between them (and then the ξs' packings).
    /// </summary>
    [Theory]
    [InlineData(2, 1)]
    [InlineData(4, 1)]
    [InlineData(2, 2)]
    [InlineData(4, 2)]
    public void The_kernel_transform_is_G_g_Gt_rounded_once(int tile, int threads)
    {
        var g = new ConvGeometry(Shape.Spatial(12, 12, 24), Window.Of(12, 3, 1, 1, Padding.Same), Window.Of(12, 3, 1, 1, Padding.Same), 16, 1);
        Backend backend = threads == 1 ? new ReferenceBackend() : new ManagedBackend(threads);
        var winograd = new Winograd(g, backend, tile);
        var w = Random(16 * 9 * 24, 7);
        winograd.Transform(backend, w, Repack.Always);
        double[,] G = tile == 2
            ? new double[,] { { 1, 0, 0 }, { 0.5, 0.5, 0.5 }, { 0.5, -0.5, 0.5 }, { 0, 0, 1 } }
            : new double[,] { { 1 / 4.0, 0, 0 }, { -1 / 6.0, -1 / 6.0, -1 / 6.0 }, { -1 / 6.0, 1 / 6.0, -1 / 6.0 }, { 1 / 24.0, 1 / 12.0, 1 / 6.0 }, { 1 / 24.0, -1 / 12.0, 1 / 6.0 }, { 0, 0, 1 } };
        int span = tile + 2;
        var u = winograd.TransformedKernel;
        for (int f = 0; f < 16; f++)
            for (int c = 0; c < 24; c++)
                for (int a = 0; a < span; a++)
                    for (int b = 0; b < span; b++)
                    {
                        double exact = 0;
                        for (int i = 0; i < 3; i++)
                            for (int j = 0; j < 3; j++) exact += G[a, i] * w[(f * 9 + 3 * i + j) * 24 + c] * G[b, j];
                        float got = u[((a * span + b) * 16 + f) * 24 + c];
                        Assert.True(Math.Abs(got - exact) <= Math.Abs(exact) * 1.2e-7 + 1e-12, $"U[{a},{b}] of filter {f}, channel {c}: {got} vs {exact}");
                    }
    }

    /// <summary>
    /// F(4x4, 3x3) over 16 channels and 16 filters (with AVX-512, its tiles transformed 16 at a time in 512-bit vectors) gives the
    /// same floats as over the same channels with 8 zero ones added and 8 more filters (24: transformed 8 at a time, 256-bit):
    /// the same operations on each channel, and the zero channels add +0 to each sum.
    /// </summary>
    [Fact]
    public void Tiles_transformed_sixteen_channels_at_a_time_give_the_same_floats()
    {
        var backend = new ManagedBackend(1);
        float[] Run(int channels, int filters, float[] x, float[] w)
        {
            var window = Window.Of(8, 3, 1, 1, Padding.Same);
            var g = new ConvGeometry(Shape.Spatial(8, 8, channels), window, window, filters);
            var conv = new Convolution(g, 2, training: false, backend);
            Assert.True(conv.UseWinograd(backend, wherePaying: false, tile: 4));
            var y = new float[2 * g.OutputSize];
            conv.Forward(backend, 2, x, w, y);
            return y;
        }
        var (x16, w16) = (Random(2 * 64 * 16, 1), Random(16 * 9 * 16, 2));
        var (x24, w24) = (new float[2 * 64 * 24], Random(24 * 9 * 24, 3));
        for (int p = 0; p < 2 * 64; p++)
            for (int c = 0; c < 24; c++) x24[p * 24 + c] = c < 16 ? x16[p * 16 + c] : 0;
        for (int f = 0; f < 16; f++)
            for (int k = 0; k < 9; k++)
                for (int c = 0; c < 24; c++) w24[(f * 9 + k) * 24 + c] = c < 16 ? w16[(f * 9 + k) * 16 + c] : 0;
        var (y16, y24) = (Run(16, 16, x16, w16), Run(24, 24, x24, w24));
        for (int p = 0; p < 2 * 64; p++)
            for (int f = 0; f < 16; f++) Assert.Equal(y24[p * 24 + f], y16[p * 16 + f]);
    }

    [Theory]
    [InlineData(3, 2, 1, "same", 1, 8)]     // strided (and too few channels for StridedWinograd)
    [InlineData(3, 1, 2, "same", 1, 16)]    // dilated
    [InlineData(3, 1, 1, "same", 2, 32)]    // grouped
    [InlineData(5, 1, 1, "same", 1, 16)]    // 5x5
    [InlineData(3, 1, 1, "same", 1, 8)]     // too few channels to pay
    [InlineData(3, 1, 1, "same", 1, 20)]    // channels not whole vectors
    public void Winograd_declines_what_it_does_not_compute(int kernel, int stride, int dilation, string padding, int groups, int channels)
    {
        var pad = padding == "same" ? Padding.Same : Padding.Valid;
        var g = new ConvGeometry(Shape.Spatial(12, 12, channels), Window.Of(12, kernel, stride, dilation, pad), Window.Of(12, kernel, stride, dilation, pad), 32, groups);
        Assert.False(Winograd.Fits(g));
        var backend = new ManagedBackend(1);
        Assert.False(new Convolution(g, 2, training: false, backend).UseWinograd(backend));
        var computed = new ConvGeometry(Shape.Spatial(12, 12, 8), Window.Of(12, 3, 1, 1, pad), Window.Of(12, 3, 1, 1, pad), 16);
        Assert.True(Winograd.Computes(computed));
        Assert.False(new Convolution(computed, 2, training: false, backend).UseWinograd(backend));  // 8 channels: too few to pay
        Assert.False(new Convolution(computed, 2, training: true, backend).UseWinograd(backend));   // nor its input gradient: 8 filters
    }

    /// <summary>Where it pays, as measured: 16 channels or more, and a quarter of the multiplies saved against the taps inside the input.</summary>
    [Theory]
    [InlineData(14, 32, 32, "same", true)]      // 0.49 of the multiplies
    [InlineData(7, 64, 64, "same", true)]       // 0.71: tiles over a 7x7 map's edge, against 7·3 - 2 = 19 taps inside per dimension
    [InlineData(13, 32, 64, "valid", true)]
    [InlineData(28, 16, 16, "same", true)]      // K = 16: 9% faster at batch 1000, 14% for a single image
    [InlineData(28, 8, 16, "same", false)]      // K = 8: too short
    [InlineData(28, 16, 8, "same", false)]      // 8 filters
    [InlineData(5, 32, 32, "same", false)]      // 5x5: 9 tiles of 16 against 13·13 taps, 0.85
    public void Winograd_runs_where_it_was_measured_to_pay(int size, int channels, int filters, string padding, bool fits)
    {
        var window = Window.Of(size, 3, 1, 1, padding == "same" ? Padding.Same : Padding.Valid);
        Assert.Equal(padding == "same" ? size * 3 - 2 : window.Output * 3, window.TapsInside);
        Assert.Equal(fits, Winograd.Fits(new ConvGeometry(Shape.Spatial(size, size, channels), window, window, filters)));
    }

    /// <summary>
    /// A block takes F(4x4, 3x3) where its tiles fill that one's 36 GEMMs (24 tiles or more: a 28x28 map's single image on
    /// either thread), else F(2x2, 3x3) where that pays (a chunk of 7x7 maps: 16 tiles of 4x4, 64 of 2x2; at inference, from 8
    /// tiles over 32 channels and filters or more, its kernel transformed once), else the direct sums.
    /// </summary>
    [Theory]
    [InlineData(2, 28, 16, 16, 4)]
    [InlineData(1, 28, 16, 16, 4)]      // one image, its rows split: 28 tiles a thread
    [InlineData(1000, 7, 64, 64, 4)]    // Winograd's chunks of sixteen images: 64 tiles of 4x4 (im2col's held four)
    [InlineData(8, 7, 64, 64, 4)]       // chunks of four: 16 tiles of 4x4 (from 8 at inference over 32 channels and filters)
    [InlineData(8, 7, 16, 16, 2)]       // over 16 channels the same chunks' 16 tiles of 4x4 are too few, their 64 of 2x2 not
    [InlineData(6, 13, 32, 64, 4)]      // 'valid' below: chunks of three images, 27 tiles of 4x4
    [InlineData(2, 13, 32, 64, 4)]      // one image a chunk: 9 tiles of 4x4
    [InlineData(1, 13, 32, 64, 2)]      // a thread's rows: 6 tiles of 4x4, 18 of 2x2
    [InlineData(1, 7, 64, 64, 2)]       // a thread's 3 or 4 rows: 8 tiles of 2x2
    [InlineData(1, 7, 16, 16, 0)]       // 16 channels: over 8 tiles its transforms outweigh its GEMMs
    [InlineData(1, 4, 256, 256, 0)]     // a 4x4 map: 4 tiles of 2x2 (its filters shared by the threads, not its rows)
    public void Each_block_takes_the_largest_tile_that_pays(int batch, int size, int channels, int filters, int tile)
    {
        var backend = new ManagedBackend(2);
        Assert.True(backend.RunsWinograd);
        var window = Window.Of(size, 3, 1, 1, size == 13 ? Padding.Valid : Padding.Same);
        var g = new ConvGeometry(Shape.Spatial(size, size, channels), window, window, filters);
        float[] Run(Func<Convolution, bool> use) => Forward(backend, g, batch, use);
        var chosen = Run(c => c.UseWinograd(backend));
        var direct = Run(_ => true);
        Assert.Equal(tile == 0 ? direct : Run(c => c.UseWinograd(backend, wherePaying: false, tile)), chosen);
        if (tile != 0) Assert.NotEqual(direct, chosen);
    }

    /// <summary>
    /// Training plans run forward and the input gradient's transposed convolution by inference's tiles (F(4x4, 3x3) where a block
    /// has tiles enough, from 16 channels) where the kernel's transform at every step pays (Winograd.TransformPays), and the weight
    /// gradient by its own rule (Winograd.WeightGradientTile): with 256-bit vectors (CI's AVX2 pass) F(3x3, 4x4) where F(4x4, 3x3)
    /// fits over maps of two tiles or more, else (and with 512-bit vectors) F(3x3, 2x2) by training's rule, from 32 channels with
    /// 512-bit vectors. Forward at batch 8 of 14x14x32 -> 32 (a chunk's 16 tiles a map) equals F(4x4, 3x3) run on every block to
    /// the bit at either width; 28x28x16 -> 16's input gradient equals F(4x4, 3x3)'s on every block at either width, and its
    /// weight gradient the direct sums' with 512-bit vectors and F(3x3, 4x4)'s with 256-bit ones.
    /// </summary>
    [Fact]
    public void Training_plans_run_forward_and_the_input_gradient_as_inference_and_the_weight_gradient_by_the_tiles_measured_for_the_vector_width()
    {
        bool wide = Winograd.WideRules;   // 512-bit vectors at full rate: not with AVX2, nor on a Zen 4 (VectorUnits)
        var backend = new ManagedBackend(2);
        Assert.Equal(wide ? [2] : [4, 2], Winograd.TrainingTileSides);
        // 5x5x64 -> 128 'valid': one 4x4 tile an example, too few at batch 64 to pay for its kernel's transform at every step
        var valid = Window.Of(5, 3, 1, 1, Padding.Valid);
        var tiny = new ConvGeometry(Shape.Spatial(5, 5, 64), valid, valid, 128);
        Assert.True(new Convolution(tiny, 64, training: false, backend).UseWinograd(backend));
        Assert.Equal(!wide, new Convolution(tiny, 64, training: true, backend).UseWinograd(backend));

        var g = Same(14, 32, 32);
        var (x, weights) = (Random(8 * g.Input.Size, 1), Random(32 * g.PatchSize, 2));
        float[] Run(Func<Convolution, bool> use)
        {
            var conv = new Convolution(g, 8, training: true, backend);
            Assert.True(use(conv));
            var y = new float[8 * g.OutputSize];
            conv.Forward(backend, 8, x, weights, y);
            return y;
        }
        var chosen = Run(c => c.UseWinograd(backend));
        Assert.Equal(Run(c => c.UseWinograd(backend, wherePaying: false, 4)), chosen);
        Assert.NotEqual(Run(c => c.UseWinograd(backend, wherePaying: false, 2)), chosen);

        var small = Same(28, 16, 16);
        var (xs, ws, dy) = (Random(8 * small.Input.Size, 3), Random(16 * small.PatchSize, 4), Random(8 * small.OutputSize, 5));
        (float[] DW, float[] DX) Gradients(Func<Convolution, bool>? use)
        {
            var conv = new Convolution(small, 8, training: true, backend);
            if (use is not null) Assert.True(use(conv));
            var (dW, dx) = (new float[ws.Length], new float[xs.Length]);
            conv.Backward(backend, 8, xs, ws, dy, dW, dx);
            return (dW, dx);
        }
        var (dWChosen, dxChosen) = Gradients(c => c.UseWinograd(backend));
        var (dWDirect, dxDirect) = Gradients(null);
        var (dWByF4, dxByF4) = Gradients(c => c.UseWinograd(backend, wherePaying: false, 4));
        Assert.Equal(wide ? dWDirect : dWByF4, dWChosen);
        Assert.NotEqual(wide ? dWByF4 : dWDirect, dWChosen);
        Assert.Equal(dxByF4, dxChosen);
        Assert.NotEqual(dxDirect, dxChosen);

        // the weight gradient's tile, by the rule
        Assert.Equal(wide ? 0 : 4, Winograd.WeightGradientTile(small));
        Assert.Equal(wide ? 2 : 4, Winograd.WeightGradientTile(Same(7, 64, 64)));
        Assert.Equal(wide ? 2 : 4, Winograd.WeightGradientTile(g));
        Assert.Equal(2, Winograd.WeightGradientTile(Same(4, 256, 256)));   // one tile of 4x4 an example: its transforms outweigh the GEMMs' saving
        Assert.Equal(0, Winograd.WeightGradientTile(tiny));                // and F(3x3, 2x2)'s four 2x2 tiles spill over the 3x3 output
        Assert.Equal(0, Winograd.WeightGradientTile(Same(28, 8, 16)));     // 8 channels: no Winograd
    }

    private static ConvGeometry Same(int size, int channels, int filters) =>
        new(Shape.Spatial(size, size, channels), Window.Of(size, 3, 1, 1, Padding.Same), Window.Of(size, 3, 1, 1, Padding.Same), filters);

    /// <summary>
    /// The weight gradient by F(3x3, 2x2) and F(3x3, 4x4) on every chunk, against the direct loops' (summed in double): no further
    /// from the exact sums than twice the direct GEMM's error plus the tile's slack of the terms' magnitudes, on one thread and two
    /// (each thread's slices summed in order, then transformed back), the same at every pass (the slices' sums overwritten, not
    /// added to). Filters in 512-bit vectors and in 256-bit ones only (24), dY's tiles cut by its edge (7x7, 'valid' 11x11), 'valid'
    /// and 'same' padding, several rounds of tiles a chunk (28x28).
    /// </summary>
    [Theory]
    [InlineData(4, 7, 16, 16, "same")]
    [InlineData(4, 13, 32, 64, "valid")]
    [InlineData(3, 9, 16, 24, "same")]
    [InlineData(6, 28, 16, 16, "same")]
    [InlineData(5, 6, 32, 32, "valid")]
    public void The_weight_gradient_by_Winograd_is_near_the_exact_sums(int batch, int size, int channels, int filters, string padding)
    {
        var window = Window.Of(size, 3, 1, 1, padding == "same" ? Padding.Same : Padding.Valid);
        var g = new ConvGeometry(Shape.Spatial(size, size, channels), window, window, filters);
        var (x, weights, dy) = (Random(batch * g.Input.Size, 1), Random(filters * g.PatchSize, 2), Random(batch * g.OutputSize, 3));
        var exact = ReferenceKernels.ConvolutionBackward(x, batch, g.Input, weights, dy, window, window, filters, 1).Dw;
        var scale = ReferenceKernels.ConvolutionBackward(x.Select(Math.Abs).ToArray(), batch, g.Input, weights, dy.Select(Math.Abs).ToArray(), window, window, filters, 1).Dw;
        foreach (var threads in new[] { 1, 2 })
        {
            var backend = new ManagedBackend(threads);
            var direct = new float[weights.Length];
            new Convolution(g, batch, training: true, backend).Backward(backend, batch, x, weights, dy, direct, default);
            double directWorst = Enumerable.Range(0, exact.Length).Max(i => Math.Abs(direct[i] - exact[i]) / scale[i]);
            foreach (var tile in new[] { 2, 4 })
            {
                var conv = new Convolution(g, batch, training: true, backend);
                Assert.True(conv.UseWinograd(backend, wherePaying: false, tile));
                var dW = Enumerable.Repeat(float.NaN, weights.Length).ToArray();
                conv.Backward(backend, batch, x, weights, dy.Select(v => -2 * v).ToArray(), dW, default);   // a pass before: sums to overwrite
                conv.Backward(backend, batch, x, weights, dy, dW, default);
                Assert.NotEqual(direct, dW);                                     // it ran
                double worst = Enumerable.Range(0, exact.Length).Max(i => Math.Abs(dW[i] - exact[i]) / scale[i]);
                Assert.True(worst <= 2 * directWorst + Slack(tile), $"F(3x3, {tile}x{tile}) on {threads} thread(s): relative error {worst:E2} (direct {directWorst:E2})");
            }
        }
    }

    /// <summary>
    /// The input gradient by Winograd added to what dX holds (another reader's share of a tensor's gradient), as the output
    /// transform stores: each cell the prior value plus the written gradient, to the bit, by F(2x2, 3x3) and F(4x4, 3x3), at either
    /// vector width (CI's AVX2 pass runs this too), on one thread and two.
    /// </summary>
    [Theory]
    [InlineData(2, 1)]
    [InlineData(4, 1)]
    [InlineData(2, 2)]
    [InlineData(4, 2)]
    public void The_input_gradient_by_Winograd_adds_to_what_dx_holds(int tile, int threads)
    {
        var backend = new ManagedBackend(threads);
        var g = Same(14, 32, 32);
        const int batch = 6;
        var (x, w, dy) = (Random(batch * g.Input.Size, 1), Random(32 * g.PatchSize, 2), Random(batch * g.OutputSize, 3));
        var conv = new Convolution(g, batch, training: true, backend);
        Assert.True(conv.UseWinograd(backend, wherePaying: false, tile));
        var written = new float[x.Length];
        conv.Backward(backend, batch, x, w, dy, default, written);
        var prior = Random(x.Length, 4);
        var added = prior.ToArray();
        conv.Backward(backend, batch, x, w, dy, default, added, addToDx: true);
        Assert.Equal(prior.Zip(written, (a, b) => a + b).ToArray(), added);
        Assert.NotEqual(written, Gradient(new Convolution(g, batch, training: true, backend)));   // by Winograd, not the direct sums

        float[] Gradient(Convolution direct)
        {
            var dx = new float[x.Length];
            direct.Backward(backend, batch, x, w, dy, default, dx);
            return dx;
        }
    }

    /// <summary>
    /// The epilogue (bias, a folded batch norm, relu) applied by a Winograd output transform as it stores each vector gives the
    /// floats of the epilogue's own pass over the output after it: F(2x2, 3x3), F(4x4, 3x3) and the strided F(3x3, 2x2), at
    /// either vector width (CI's AVX2 pass runs this too), with and without relu.
    /// </summary>
    [Theory]
    [InlineData(1, 2, true)]
    [InlineData(1, 4, true)]
    [InlineData(2, 3, true)]
    [InlineData(1, 4, false)]
    [InlineData(2, 3, false)]
    public void The_epilogue_in_the_output_transform_gives_the_floats_of_its_own_pass(int stride, int tile, bool relu)
    {
        var backend = new ManagedBackend(1);
        var window = Window.Of(13, 3, stride, 1, Padding.Valid);
        var g = new ConvGeometry(Shape.Spatial(13, 13, 32), window, window, 64);
        const int batch = 6;
        var epilogue = new AffineRows { Bias = Random(64, 4), A = Random(64, 5), B = Random(64, 6), Relu = relu };
        var fused = Forward(backend, g, batch, conv => conv.UseWinograd(backend, wherePaying: false, tile), epilogue);
        var apart = Forward(backend, g, batch, conv => conv.UseWinograd(backend, wherePaying: false, tile));
        Assert.NotEqual(apart, fused);
        epilogue.ApplyRows(apart, 0);
        Assert.Equal(apart, fused);
    }

    /// <summary>Inference plans with Winograd against a training plan running every layer apart: near, and not equal (it ran).</summary>
    [Theory]
    [InlineData("conv2d: { filters: 32, kernel_size: 3, padding: same, use_bias: false }\n  - batch_norm: { name: b }\n  - add: { inputs: [b, input] }\n  - relu", "24, 24, 32", 5)]
    [InlineData("conv2d: { filters: 32, kernel_size: 3, padding: same, use_bias: false }\n  - batch_norm: { name: b }\n  - add: { inputs: [b, input] }\n  - relu", "24, 24, 32", 1)]   // rows split
    [InlineData("conv2d: { filters: 64, kernel_size: 3, activation: relu }\n  - max_pool2d", "13, 13, 32", 5)]
    [InlineData("conv2d: { filters: 64, kernel_size: 3, activation: relu }\n  - max_pool2d", "13, 13, 32", 16)]   // Winograd's chunks of 8, im2col's of 3
    [InlineData("conv2d: { filters: 16, kernel_size: 3, padding: same }\n  - batch_norm\n  - relu\n  - max_pool2d", "17, 17, 32", 4)]
    [InlineData("conv2d: { filters: 64, kernel_size: 3, strides: 2, activation: relu }\n  - max_pool2d", "13, 13, 32", 16)]   // the strided Winograd, pooled
    [InlineData("conv2d: { filters: 32, kernel_size: 3, strides: 2, padding: same, use_bias: false }\n  - batch_norm\n  - relu", "28, 28, 32", 7)]
    [InlineData("conv2d: { filters: 32, kernel_size: 3, strides: 2, padding: same, use_bias: false }\n  - batch_norm\n  - relu", "56, 56, 32", 1)]   // rows split: 50 tiles a thread
    public void Inference_plans_run_Winograd_with_the_epilogue_and_pooling_after_it(string layers, string input, int batch)
    {
        var model = GradientCheckTests.Compile($"input: [{input}]\nlayers:\n  - {layers}\n  - global_avg_pool2d\n  - dense: {{ units: 4 }}\ntraining: {{ loss: mse }}\n");
        var parameters = ParameterSet.Initialize(model, 1);
        var rng = new Rng(3);
        foreach (var slot in parameters.Slots)
            if (slot.Layer is SpecNet.Layers.BatchNorm)
                for (int i = 0; i < slot.Value.Length; i++) slot.Value[i] = slot.Spec.Suffix == "moving_variance" ? 0.2f + rng.NextFloat() : rng.NextFloat() * 2 - 1;
        var backend = new ManagedBackend(2);
        var separate = new ExecutionPlan(model, parameters, backend, batch, keepEveryActivation: true, winograd: false);
        var exact = new ExecutionPlan(model, parameters, backend, batch, trainable: false, winograd: false);
        var fast = new ExecutionPlan(model, parameters, backend, batch, trainable: false, winograd: true);
        var x = Enumerable.Range(0, separate.Input.Length).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        float[] Run(ExecutionPlan plan) { x.CopyTo(plan.Input); return plan.Forward(batch, training: false).ToArray(); }
        var expected = Run(separate);
        Assert.Equal(expected, Run(exact));
        var y = Run(fast);
        if (backend.GathersRows) Assert.NotEqual(expected, y);    // it ran (with AVX-512 plans leave it off: CI's AVX2 pass runs this)
        for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - expected[i]) <= 1e-5 * (1 + Math.Abs(expected[i])), $"[{i}]: {y[i]} vs {expected[i]}");
    }

    /// <summary>
    /// A plan's default, training's as inference's: Winograd on the managed backend with AVX2 (unless SPECNET_WINOGRAD=0), never on
    /// a reference backend.
    /// </summary>
    [Fact]
    public void Reference_backends_keep_the_direct_sums_by_default()
    {
        var model = GradientCheckTests.Compile("input: [12, 12, 32]\nlayers:\n  - conv2d: { filters: 16, kernel_size: 3, padding: same }\n  - global_avg_pool2d\n  - dense: { units: 4 }\ntraining: { loss: mse }\n");
        var parameters = ParameterSet.Initialize(model, 1);
        var rng = new Rng(5);
        var x = Enumerable.Range(0, 4 * model.Input.Size).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        float[] Run(Backend backend, bool trainable, bool? winograd = null)
        {
            var plan = new ExecutionPlan(model, parameters, backend, 4, trainable: trainable, winograd: winograd);
            x.CopyTo(plan.Input);
            return plan.Forward(4, training: false).ToArray();
        }
        foreach (var trainable in new[] { true, false })
        {
            foreach (var reference in new Backend[] { new ReferenceBackend(), new MathNetBackend(1) })
                Assert.Equal(Run(reference, trainable, winograd: false), Run(reference, trainable));
            var managed = new ManagedBackend(2);
            if (Winograd.Enabled && managed.GathersRows) Assert.NotEqual(Run(managed, trainable, winograd: false), Run(managed, trainable));
        }
    }

    /// <summary>
    /// Training: forward by Winograd, the input gradient as Winograd's transposed convolution of dY (a 3x3 'same' one of 32
    /// filters; of 64, which would otherwise take col2im; and a 'valid' one's, over dY padded by two, which would too), and the
    /// weight gradient by F(3x3, 4x4) with 256-bit vectors, F(3x3, 2x2) with 512-bit ones (Winograd.WeightGradientTile): near the
    /// direct sums and not equal to them (it ran), dW no further from the exact sums than twice the direct error plus the tile's
    /// slack, as forward's. A batch whose chunks have too few tiles keeps the direct sums, but in a weight gradient by F(3x3, 4x4).
    /// </summary>
    [Theory]
    [InlineData(6, 14, 32, 32, "same", true)]
    [InlineData(8, 7, 64, 64, "same", true)]
    [InlineData(6, 13, 32, 64, "valid", true)]   // the tutorial's second convolution
    [InlineData(1, 7, 64, 64, "same", false)]    // one image: 16 tiles, too few
    public void Training_runs_forward_and_both_gradients_by_Winograd(int batch, int size, int channels, int filters, string padding, bool pays)
    {
        var window = Window.Of(size, 3, 1, 1, padding == "same" ? Padding.Same : Padding.Valid);
        var g = new ConvGeometry(Shape.Spatial(size, size, channels), window, window, filters);
        var (x, weights, dy) = (Random(batch * g.Input.Size, 1), Random(filters * g.PatchSize, 2), Random(batch * g.OutputSize, 3));
        var backend = new ManagedBackend(2);
        if (!backend.GathersRows) return;   // with AVX-512 plans leave it off: CI's AVX2 pass runs this
        (float[] Y, float[] DX, float[] DW) Step(bool winograd)
        {
            var conv = new Convolution(g, batch, training: true, backend);
            if (winograd) Assert.True(conv.UseWinograd(backend));
            var (y, dX, dW) = (new float[batch * g.OutputSize], new float[x.Length], new float[weights.Length]);
            conv.Forward(backend, batch, x, weights, y);
            conv.Backward(backend, batch, x, weights, dy, dW, dX);
            return (y, dX, dW);
        }
        var (direct, fast) = (Step(false), Step(true));
        int weightTile = Winograd.WeightGradientTile(g);
        Assert.Equal(Winograd.WideRules ? 2 : 4, weightTile);
        // its error is checked below, against its terms; F(3x3, 4x4) runs on any chunk
        if (pays || weightTile == 4) Assert.NotEqual(direct.DW, fast.DW); else Assert.Equal(direct.DW, fast.DW);

        // y and dX against the direct loops (in double), relative to their terms' magnitudes, as forward's are above: the input
        // gradient is the convolution of dY with the kernel flipped. Whichever tile a chunk took, within F(4x4, 3x3)'s slack.
        var flipped = new float[weights.Length];
        for (int f = 0; f < filters; f++)
            for (int t = 0; t < 9; t++)
                for (int c = 0; c < channels; c++) flipped[(c * 9 + 8 - t) * filters + f] = weights[(f * 9 + t) * channels + c];
        var (rows, cols) = (window.Transposed(), window.Transposed());
        float[] Abs(float[] a) => a.Select(Math.Abs).ToArray();
        var dyShape = Shape.Spatial(window.Output, window.Output, filters);
        foreach (var (name, expected, actual, exact, scale) in new[]
        {
            ("y", direct.Y, fast.Y, ReferenceKernels.Convolution(x, batch, g.Input, weights, window, window, filters), ReferenceKernels.Convolution(Abs(x), batch, g.Input, Abs(weights), window, window, filters)),
            ("dX", direct.DX, fast.DX, ReferenceKernels.Convolution(dy, batch, dyShape, flipped, rows, cols, channels), ReferenceKernels.Convolution(Abs(dy), batch, dyShape, Abs(flipped), rows, cols, channels)),
        })
        {
            if (pays) Assert.NotEqual(expected, actual); else Assert.Equal(expected, actual);
            for (int i = 0; i < actual.Length; i++) Assert.True(Math.Abs(actual[i] - exact[i]) <= Slack(4) * scale[i], $"{name}[{i}]: {actual[i]} vs {exact[i]}");
        }
        // and dW against the direct loops' (summed in double), relative to the sum of its terms' magnitudes
        var exactDW = ReferenceKernels.ConvolutionBackward(x, batch, g.Input, weights, dy, window, window, filters, 1).Dw;
        var scaleDW = ReferenceKernels.ConvolutionBackward(x.Select(Math.Abs).ToArray(), batch, g.Input, weights, dy.Select(Math.Abs).ToArray(), window, window, filters, 1).Dw;
        double worst = 0, directWorst = 0;
        for (int i = 0; i < exactDW.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(fast.DW[i] - exactDW[i]) / scaleDW[i]);
            directWorst = Math.Max(directWorst, Math.Abs(direct.DW[i] - exactDW[i]) / scaleDW[i]);
        }
        Assert.True(worst <= 2 * directWorst + Slack(weightTile), $"dW by F(3x3, {weightTile}x{weightTile}): relative error {worst:E2} (direct {directWorst:E2})");

        // and again with new weights: transformed again, not the last ones reused
        var conv2 = new Convolution(g, batch, training: true, backend);
        conv2.UseWinograd(backend);
        var (y2, dX2, dW2) = (new float[batch * g.OutputSize], new float[x.Length], new float[weights.Length]);
        conv2.Forward(backend, batch, x, weights, y2);
        conv2.Backward(backend, batch, x, weights, dy, dW2, dX2);
        var other = weights.Select(v => -v).ToArray();
        conv2.Forward(backend, batch, x, other, y2);
        conv2.Backward(backend, batch, x, other, dy, dW2, dX2);
        for (int i = 0; i < y2.Length; i++) Assert.True(Math.Abs(y2[i] + fast.Y[i]) <= 1e-5 * (1 + Math.Abs(fast.Y[i])), $"y[{i}] after new weights");
        for (int i = 0; i < dX2.Length; i++) Assert.True(Math.Abs(dX2[i] + fast.DX[i]) <= 1e-5 * (1 + Math.Abs(fast.DX[i])), $"dX[{i}] after new weights");
        Assert.Equal(fast.DW, dW2);   // the weight gradient does not read the weights
    }

    /// <summary>
    /// A block's tiles go to the GEMMs in rounds of at most the scratch's tiles, as few rounds as that allows, one after another;
    /// whole 6-row tiles where they leave no round to the dot products (16 tiles or fewer), and none there whenever equal rounds
    /// avoid it: 64 tiles in rounds of 30 had run 24, 24 and 16.
    /// </summary>
    [Fact]
    public void Rounds_of_tiles_fit_the_scratch_and_leave_no_short_round_to_the_dot_products()
    {
        foreach (int most in new[] { 24, 30, 48, 72, 126 })
            for (int tiles = 1; tiles <= 2000; tiles++)
            {
                var rounds = new Winograd.Rounds(tiles, most);
                var sizes = Enumerable.Range(0, rounds.Count).Select(r => rounds.Start(r + 1) - rounds.Start(r)).ToArray();
                string said = $"{tiles} tiles, at most {most} a round: {string.Join(", ", sizes)}";
                Assert.True(rounds.Start(0) == 0 && rounds.Start(rounds.Count) == tiles && sizes.All(n => n > 0 && n <= most), said);
                Assert.True(rounds.Count == (tiles + most - 1) / most, said);
                if (tiles / rounds.Count > 16) Assert.True(sizes.All(n => n > 16), said);
                if (sizes[..^1].Any(n => n % 6 != 0)) Assert.True(WholeLeaveShort(tiles, most), said);
            }
        var sixtyFour = new Winograd.Rounds(64, 30);
        Assert.Equal([0, 21, 42, 64], Enumerable.Range(0, 4).Select(sixtyFour.Start));
        var seventyTwo = new Winograd.Rounds(72, 30);
        Assert.Equal([0, 24, 48, 72], Enumerable.Range(0, 4).Select(seventyTwo.Start));

        // whether rounds of whole 6-row tiles, as equal as they can be, leave a last round of 16 tiles or fewer
        static bool WholeLeaveShort(int tiles, int most)
        {
            int count = (tiles + most - 1) / most, whole = Math.Min(most, ((tiles + count - 1) / count + 5) / 6 * 6);
            return count > 1 && tiles - (tiles - 1) / whole * whole <= 16;
        }
    }

    /// <summary>
    /// Error allowed beyond twice the direct GEMM's, in parts of the terms' magnitudes: F(4x4, 3x3)'s transforms multiply by up to
    /// 8 and divide by 24, and round a few times more than F(2x2, 3x3)'s.
    /// </summary>
    private static double Slack(int tile) => tile == 4 ? 3e-6 : 3e-7;

    /// <summary>
    /// F(4x4, 3x3)'s tile transforms (Bᵀ on the input's columns and rows, Aᵀ on the products') take fused multiply-adds only where
    /// they round as the multiply and the add: the same floats, lane for lane, as the transforms written as separate operations,
    /// over values of every scale, in 256-bit vectors and in 512-bit ones where the CPU has them.
    /// </summary>
    [Fact]
    public void The_tile_transforms_fused_multiply_adds_round_as_separate_operations()
    {
        var rng = new Rng(11);
        float Value() => (rng.NextFloat() * 2 - 1) * MathF.ScaleB(1, (int)(rng.NextFloat() * 40) - 20);
        static (float[], float[]) Separate(float[] d)
        {
            float sum12 = d[1] + d[2], diff12 = d[1] - d[2], diff42 = d[4] - d[2], diff31 = d[3] - d[1], twice31 = diff31 + diff31;
            float[] bt = [4f * d[0] - 5f * d[2] + d[4], d[3] + d[4] - 4f * sum12, d[4] - d[3] + 4f * diff12, diff42 + twice31, diff42 - twice31, 4f * d[1] - 5f * d[3] + d[5]];
            float sum34 = d[3] + d[4], diff34 = d[3] - d[4];
            float[] at = [d[0] + sum12 + sum34, diff12 + (diff34 + diff34), sum12 + 4f * sum34, diff12 + 8f * diff34 + d[5]];
            return (bt, at);
        }
        void Check<TL, TV>(int lanes, Func<float[], TV> load, Func<TV, float[]> read) where TL : struct, ILanes<TV> where TV : struct
        {
            for (int round = 0; round < 500; round++)
            {
                var d = Enumerable.Range(0, 6).Select(_ => Enumerable.Range(0, lanes).Select(_ => Value()).ToArray()).ToArray();
                var v = d.Select(load).ToArray();
                Winograd.Bt<TL, TV>(v[0], v[1], v[2], v[3], v[4], v[5], out var b0, out var b1, out var b2, out var b3, out var b4, out var b5);
                Winograd.At<TL, TV>(v[0], v[1], v[2], v[3], v[4], v[5], out var a0, out var a1, out var a2, out var a3);
                float[][] bt = [.. new[] { b0, b1, b2, b3, b4, b5 }.Select(read)], at = [.. new[] { a0, a1, a2, a3 }.Select(read)];
                for (int lane = 0; lane < lanes; lane++)
                {
                    var (expectedBt, expectedAt) = Separate([.. d.Select(row => row[lane])]);
                    for (int i = 0; i < 6; i++) Assert.True(BitConverter.SingleToInt32Bits(bt[i][lane]) == BitConverter.SingleToInt32Bits(expectedBt[i]), $"Bᵀ row {i}, lane {lane} of {lanes}: {bt[i][lane]:R} vs {expectedBt[i]:R}");
                    for (int i = 0; i < 4; i++) Assert.True(BitConverter.SingleToInt32Bits(at[i][lane]) == BitConverter.SingleToInt32Bits(expectedAt[i]), $"Aᵀ row {i}, lane {lane} of {lanes}: {at[i][lane]:R} vs {expectedAt[i]:R}");
                }
            }
        }
        Check<Lanes256, Vector256<float>>(8, Vector256.Create, v => [.. Enumerable.Range(0, 8).Select(i => v.GetElement(i))]);
        if (Vector512.IsHardwareAccelerated)
            Check<Lanes512, Vector512<float>>(16, Vector512.Create, v => [.. Enumerable.Range(0, 16).Select(i => v.GetElement(i))]);
    }

    internal static float[] Random(int n, int seed)
    {
        var rng = new Rng((ulong)seed);
        return Enumerable.Range(0, n).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
    }
}
