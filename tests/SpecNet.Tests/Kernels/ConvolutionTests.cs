using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Tests.Kernels;

/// <summary>The fast convolution (im2col + GEMM, chunked over threads) and pooling kernels against the direct reference loops.</summary>
public class ConvolutionTests
{
    public static TheoryData<int, int, int, int, int, int, int, int, string, int> Geometries() => new()
    {
        // batch, height, width, channels, filters, kernel, stride, dilation, padding, groups
        { 3, 7, 6, 2, 3, 3, 1, 1, "valid", 1 },       // smaller output than input: col2im
        { 2, 9, 7, 3, 4, 3, 2, 1, "same", 1 },
        { 2, 8, 8, 1, 5, 3, 1, 2, "same", 1 },
        { 5, 28, 28, 1, 8, 3, 1, 1, "valid", 1 },     // a first layer: K = 9
        { 2, 6, 5, 4, 6, 3, 1, 1, "same", 2 },        // grouped
        { 2, 6, 6, 4, 4, 3, 2, 1, "same", 4 },        // depthwise as groups
        { 70, 5, 5, 3, 2, 1, 1, 1, "valid", 1 },      // many chunks per thread; 1x1: the input is its own column matrix
        { 3, 6, 7, 6, 4, 1, 1, 1, "same", 2 },        // 1x1 in groups: columns copied per group
        { 2, 7, 8, 3, 2, 2, 1, 1, "same", 1 },        // an even kernel: 'same' pads after only, the input gradient before only
        { 2, 9, 8, 4, 6, 3, 1, 2, "same", 2 },        // dilated and grouped, stride 1: input gradient as a convolution of dY
        { 2, 8, 9, 3, 5, 5, 1, 1, "same", 1 },        // 5x5 'same'
        { 2, 7, 6, 3, 4, 1, 2, 1, "valid", 1 },       // a 1x1 strided shortcut: col2im
        { 1, 9, 7, 3, 20, 3, 2, 1, "same", 1 },       // one image: its output rows split between the threads
        { 1, 30, 30, 8, 32, 3, 1, 1, "valid", 1 },     // (large enough to be shared)
        { 1, 20, 20, 8, 32, 3, 1, 1, "same", 2 },      // and in groups
        { 1, 24, 24, 32, 64, 1, 1, 1, "valid", 1 },    // and 1x1, read in place
        { 1, 28, 28, 16, 16, 3, 1, 1, "same", 1 },     // one image of the residual model's first block
        { 1, 28, 28, 1, 16, 3, 1, 1, "same", 1 },      // and its stem, its rows split too (113,000 multiply-adds)
        { 1, 28, 28, 16, 32, 1, 2, 1, "valid", 1 },    // and a 1x1 strided shortcut (100,000)
        { 1, 7, 7, 64, 64, 3, 1, 1, "same", 1 },       // and its last block's 7x7 map: positions split at tiles, 24 and 25
        { 1, 5, 5, 8, 16, 3, 1, 1, "same", 1 },        // a 5x5 map: too few positions to split at tiles, its rows split
        { 2, 8, 8, 48, 48, 3, 1, 1, "same", 3 },       // 16 filters a group: the narrow kernel's weight gradient reads dY's rows 48 apart
        // The input gradient's columns added to dX as they are computed (AddsColumnsToWindows): channels of whole vectors
        { 3, 12, 11, 16, 32, 3, 2, 1, "same", 1 },     // 144 columns: four panels and a half one; 36 positions, six tiles; read
                                                        // in place forward, stride 2 'same': a padded copy wider than the input
        { 2, 9, 9, 32, 300, 3, 2, 1, "same", 1 },      // K = 300 filters: two K blocks, each added in turn
        { 2, 9, 10, 32, 24, 3, 2, 2, "same", 2 },      // dilated, in groups of 16 channels
        { 4, 7, 7, 32, 8, 3, 1, 1, "valid", 1 },       // stride 1 'valid' (col2im's case): 25 positions, a last tile of one row
        { 2, 14, 14, 32, 64, 1, 2, 1, "valid", 1 },    // a 1x1 strided shortcut over 32 channels: one panel (the residual
                                                        // model's last block's)
    };

    private static float[] Random(int n, int seed)
    {
        var rng = new Rng((ulong)seed);
        return Enumerable.Range(0, n).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
    }

    private static void Near(float[] expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 * (1 + Math.Abs(expected[i])), $"[{i}]: {expected[i]} vs {actual[i]}");
    }

    [Theory]
    [MemberData(nameof(Geometries))]
    public void Im2col_gemm_convolution_matches_the_direct_loops(int batch, int h, int w, int c, int filters, int k, int stride, int dilation, string padding, int groups)
    {
        var input = Shape.Spatial(h, w, c);
        var pad = padding == "same" ? Padding.Same : Padding.Valid;
        var rows = Window.Of(h, k, stride, dilation, pad);
        var cols = Window.Of(w, k, stride, dilation, pad);
        var g = new ConvGeometry(input, rows, cols, filters, groups);
        var x = Random(batch * input.Size, 1);
        var weights = Random(filters * g.PatchSize, 2);
        var dy = Random(batch * g.OutputSize, 3);
        foreach (var backend in new Backend[] { new ManagedBackend(2), new ManagedBackend(1), new ReferenceBackend() })
        {
            var conv = new Convolution(g, batch, training: true, backend);
            var y = new float[batch * g.OutputSize];
            conv.Forward(backend, batch, x, weights, y);
            var expected = ReferenceKernels.Convolution(x, batch, input, weights, rows, cols, filters, groups);
            Near(expected, y);
            y.AsSpan().Fill(float.NaN);
            new Convolution(g, batch, training: false, backend).Forward(backend, batch, x, weights, y);   // scratch sized for inference
            Near(expected, y);

            var (dx, dw) = ReferenceKernels.ConvolutionBackward(x, batch, input, weights, dy, rows, cols, filters, groups);
            var dW = new float[weights.Length];
            var dX = Enumerable.Repeat(float.NaN, x.Length).ToArray(); // overwritten, not added to
            conv.Backward(backend, batch, x, weights, dy, dW, dX);
            Near(dw, dW);
            Near(dx, dX);
            var prior = Random(x.Length, 5);
            var added = prior.ToArray();                              // added to, where asked (another reader's share)
            conv.Backward(backend, batch, x, weights, dy, default, added, addToDx: true);
            Near(prior.Zip(dx, (a, b) => a + b).ToArray(), added);

            // a frozen layer (no dW) and a first layer (no dx) compute the other gradient alone
            dX.AsSpan().Fill(float.NaN);
            conv.Backward(backend, batch, x, weights, dy, default, dX);
            Near(dx, dX);
            dW.AsSpan().Fill(float.NaN);
            conv.Backward(backend, batch, x, weights, dy, dW, default);
            Near(dw, dW);
        }
    }

    /// <summary>The depthwise kernel against the grouped reference: channel vectors (C a multiple of 8, one filter each) and the general loop.</summary>
    public static TheoryData<int, int, int, int, int, int, int, int, string, int> GatheredGeometries()
    {
        // Each of the direct loops' geometries but a single image's 7x7x64 -> 64: laid out, a chunk of one image forks its input
        // gradient's GEMM, which splits K and rounds otherwise; a batch of two of it is below, with a pass over one image.
        var data = new TheoryData<int, int, int, int, int, int, int, int, string, int>();
        foreach (var row in Geometries())
            if (row is not [1, 7, 7, 64, ..])
                data.Add((int)row[0], (int)row[1], (int)row[2], (int)row[3], (int)row[4], (int)row[5], (int)row[6], (int)row[7], (string)row[8], (int)row[9]);
        data.Add(2, 9, 9, 16, 20, 5, 1, 1, "same", 1);     // K = 400: two K blocks, C added to; 20 filters: a part panel
        data.Add(2, 13, 13, 32, 64, 3, 1, 1, "valid", 1);  // K = 288, read from the tensor itself
        data.Add(3, 20, 20, 8, 32, 3, 1, 1, "same", 1);    // one image's rows split between threads, between passes of three
        data.Add(8, 28, 28, 1, 32, 3, 1, 1, "valid", 1);   // a first layer of two panels, K = 9; its weight gradient over chunks of
                                                            // 2,704 rows, in blocks of 256 added one after another, its 9 taps in tiles of 6 and 3
        data.Add(2, 28, 28, 1, 16, 3, 1, 1, "same", 1);    // the residual model's stem, K = 9, with its padded copy
        data.Add(2, 9, 9, 16, 16, 5, 1, 1, "same", 1);     // 16 filters over runs of 16 channels: weight gradient by outer products,
        data.Add(2, 8, 8, 32, 16, 2, 1, 1, "valid", 1);    // in tiles of three runs (25 = 8·3 + 1, 8 = 2·3 + 2)
        data.Add(2, 14, 14, 16, 16, 5, 1, 1, "same", 1);   // rows of 14 positions over runs of 16 channels, K = 400: tiles of 14 over two K blocks, C added to
        data.Add(2, 9, 9, 32, 16, 3, 1, 1, "same", 1);     // two runs a tap
        data.Add(12, 28, 28, 16, 16, 3, 1, 1, "same", 1);  // the residual model's first blocks: chunks enough that a thread adds a second to its sums
        data.Add(3, 28, 28, 1, 32, 3, 2, 1, "valid", 1);   // the strided model's stem: its weight gradient reads the windows in place
        data.Add(2, 14, 14, 32, 64, 3, 2, 1, "same", 1);   // the residual model's last block, into a 7x7 map: one image's positions split at tiles
        data.Add(2, 7, 7, 64, 64, 3, 1, 1, "same", 1);     // and its second convolution, 7x7 padded: one image's positions split at tiles
        data.Add(2, 9, 9, 16, 48, 3, 1, 1, "same", 1);    // 48 filters: a whole panel and a part one at either width
        data.Add(20, 7, 7, 32, 40, 3, 1, 1, "same", 1);   // a chunk of 7x7 maps by border classes, 40 filters: a part panel there too
        data.Add(3, 8, 8, 3, 20, 1, 1, 1, "valid", 1);   // a weight gradient of one tile (K = 3) and a part panel of 20 filters (24 with
        data.Add(2, 9, 9, 24, 24, 3, 1, 1, "same", 1);    // AVX-512) whose columns past dY's rows are read from a copy; and 24 over K = 216
        data.Add(3, 28, 28, 16, 32, 1, 1, 1, "valid", 1); // the depthwise model's 1x1 convolutions: training reads x in place too, its
        data.Add(2, 14, 14, 64, 64, 1, 1, 1, "valid", 1); // weight gradient over rows of a chunk of examples, K blocks added one after another
        data.Add(2, 7, 7, 64, 128, 1, 1, 1, "valid", 1);
        data.Add(3, 28, 28, 1, 6, 5, 1, 1, "same", 1);   // LeNet-5's first: a weight gradient of 6 filters (25 x 6, laid out computed
                                                          // as Cᵀ), a chunk of one image in one block (the unpacked path's)
        data.Add(6, 48, 48, 1, 6, 5, 1, 1, "same", 1);   // 2,304 positions an image: K blocks; on one thread 6 chunks in 4 slices,
                                                          // a second chunk's blocks summed, then added to C
        data.Add(4, 28, 28, 1, 8, 5, 1, 1, "same", 1);   // 8 filters: dY's rows of 8 read under a mask with AVX-512, in K blocks;
                                                          // forward, with the 6 above, positions in the lanes (one channel, stride 1)
        data.Add(2, 25, 25, 1, 4, 3, 1, 1, "same", 1);   // rows of 25 positions: 16 + 9 in the lanes
        data.Add(2, 45, 41, 1, 8, 5, 1, 1, "same", 1);   // rows of 41: 32 + 9; one image's 45 rows split between two threads at
                                                          // tiles, a share starting inside a row
        data.Add(2, 9, 9, 3, 4, 5, 1, 1, "same", 1);     // 75 x 4, as Cᵀ too, over one block of all K (the unpacked path's)
        data.Add(2, 9, 9, 8, 4, 3, 1, 1, "same", 1);     // 72 x 4 over runs of 24 floats: laid out
        return data;
    }

    /// <summary>
    /// The managed backend reads a convolution's windows where they lie (GemmGathered) instead of laying
    /// them out (with padding, positions grouped by the taps inside the input and the rest skipped, when that pays): forward, the
    /// input gradient computed as a convolution of dY, and the weight gradient (its windows read in place
    /// too, on each thread of a pass, or on the only one) must equal im2col + GEMM to the bit; also
    /// a pass over one image (its rows split between the threads) between two over the batch, which put different rows in
    /// the same places of the padded copies; and a pass after the kernel changed. With 512-bit vectors, 16 filters or fewer run in the
    /// narrow 8 x 16 kernel, more in 6 x 32 tiles; CI runs the kernel tests again with AVX-512 off, for the 256-bit kernels.
    /// </summary>
    [Theory]
    [MemberData(nameof(GatheredGeometries))]
    public void Windows_read_in_place_give_the_sums_of_laid_out_windows_to_the_bit(int batch, int h, int w, int c, int filters, int k, int stride, int dilation, string padding, int groups)
    {
        var input = Shape.Spatial(h, w, c);
        var pad = padding == "same" ? Padding.Same : Padding.Valid;
        var g = new ConvGeometry(input, Window.Of(h, k, stride, dilation, pad), Window.Of(w, k, stride, dilation, pad), filters, groups);
        var x = Random(batch * input.Size, 1);
        var weights = Random(filters * g.PatchSize, 2);
        var dy = Random(batch * g.OutputSize, 3);
        foreach (int threads in new[] { 1, 2 })
        {
            var managed = new ManagedBackend(threads);
            Assert.True(managed.GathersRows);
            var results = new List<float[]>();
            bool windows = false;
            foreach (var backend in new Backend[] { managed, new LaidOut(managed) })
            {
                var conv = new Convolution(g, batch, training: true, backend);
                windows |= conv.AddsColumnsToWindows;
                var (y, single) = (new float[batch * g.OutputSize], new float[g.OutputSize]);
                conv.Forward(backend, batch, x, weights, y);
                conv.Forward(backend, 1, x.AsSpan(x.Length - input.Size), weights, single);
                conv.Forward(backend, batch, x, weights, y);
                var (dX, dW) = (new float[x.Length], new float[weights.Length]);
                conv.Backward(backend, batch, x, weights, dy, dW, dX);
                var changed = weights.ToArray();                        // a kernel packed once is packed again when it changes
                changed[^1] += 0.5f;
                var after = new float[y.Length];
                conv.Forward(backend, batch, x, changed, after);
                // the input gradient added to another reader's share (a tensor read twice), where the convolution can add it
                var added = Random(x.Length, 5);
                var prior = added.ToArray();
                conv.Backward(backend, batch, x, weights, dy, default, added, addToDx: true);
                Near(prior.Zip(dX, (a, b) => a + b).ToArray(), added);
                // A folded batch norm's map and relu, applied in the gathered GEMM's stores where it takes them (ColumnMap), else
                // by the pass over the output rows after (laid out): the batch, and one image (its positions split between threads)
                var folded = new AffineRows { Bias = Random(filters, 6), A = Random(filters, 7), B = Random(filters, 8), Relu = true };
                var (mapped, mappedSingle) = (new float[y.Length], new float[single.Length]);
                conv.Forward(backend, batch, x, weights, mapped, folded);
                conv.Forward(backend, 1, x.AsSpan(x.Length - input.Size), weights, mappedSingle, folded);
                results.AddRange([y, single, dX, dW, after, added, mapped, mappedSingle]);
            }
            // Images of 16 positions or fewer: a chunk of one image is a block of 16 rows or fewer, which the gathered GEMM runs in
            // its tiles and the laid-out one as dot products, the same to rounding
            foreach (int i in new[] { 0, 2, 3, 4, 6 }.Where(i => i != 2 || !windows))
                if (g.Positions <= ManagedBackend.DotRows && i is 0 or 4 or 6) Near(results[i + 8], results[i]);
                else Assert.Equal(results[i + 8], results[i]);
            // One image, against two panels of filters or more or one over a K of 2,304 or shorter (every geometry here): the
            // batch's last to the bit, its rows' sums the same in any block (its rows or its filters split between the threads).
            // Blocks of 16 rows or fewer, which the laid-out GEMM runs as dot products, the gathered one runs in its tiles there:
            // the same to rounding. Against one panel over a longer K, to the bit.
            foreach (int i in new[] { 1, 7 })
                if (g.GroupFilters >= 2 * managed.GatheredPanel || g.PatchSize <= 2304)
                {
                    Assert.Equal(results[i - 1][^g.OutputSize..], results[i]);
                    Near(results[i + 8], results[i]);
                }
                else Assert.Equal(results[i + 8], results[i]);
            // dX's columns added to it as they are computed: each cell's terms in another order than col2im's
            if (windows) Near(results[10], results[2]);
            // Added: the same to rounding. Over K blocks a laid-out GEMM that computes Cᵀ adds C's old values after every block's
            // sum, the others before the second block's (20x20x8 -> 32 with 256-bit vectors).
            Near(results[13], results[5]);
        }
    }

    /// <summary>
    /// Where the managed backend adds the input gradient's columns to dX as it computes them (a strided or 'valid' convolution over
    /// channels of whole vectors), each cell's sum is built in an order fixed by its image: the same floats for a batch on two
    /// threads, on one, and for each image alone, however the batch is cut into chunks. And only there: channels not a whole
    /// vector, or a transposed convolution's case, keep col2im.
    /// </summary>
    [Theory]
    [InlineData(6, 28, 28, 16, 32, 3, 2, "same", true, true)]    // the residual model's first strided block: a half panel (AVX-512)
    [InlineData(5, 14, 14, 32, 64, 3, 2, "same", true, true)]    // its second
    [InlineData(3, 9, 9, 32, 300, 3, 2, "same", true, true)]     // two K blocks
    [InlineData(4, 7, 7, 32, 8, 3, 1, "valid", true, true)]      // 25 positions: a last tile of one row
    [InlineData(3, 28, 28, 16, 32, 1, 2, "valid", true, true)]   // a 1x1 window of one 512-bit vector: half a panel
    [InlineData(3, 13, 13, 24, 32, 3, 2, "same", false, true)]   // 24 channels: not a whole 512-bit vector
    [InlineData(3, 14, 14, 32, 32, 3, 1, "same", false, false)]  // stride 1 'same': the transposed convolution
    public void Columns_added_to_windows_give_each_image_the_same_floats_in_any_chunk(int batch, int h, int w, int c, int filters, int k, int stride, string padding,
        bool windows512, bool windows256)
    {
        var input = Shape.Spatial(h, w, c);
        var pad = padding == "same" ? Padding.Same : Padding.Valid;
        var g = new ConvGeometry(input, Window.Of(h, k, stride, 1, pad), Window.Of(w, k, stride, 1, pad), filters);
        var x = Random(batch * input.Size, 1);
        var weights = Random(filters * g.PatchSize, 2);
        var dy = Random(batch * g.OutputSize, 3);
        bool windows = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? windows512 : windows256;
        Assert.Equal(windows, new Convolution(g, batch, training: true, new ManagedBackend(2)).AddsColumnsToWindows);
        if (!windows) return;
        float[] InputGradient(Backend backend, int examples, int first)
        {
            var conv = new Convolution(g, examples, training: true, backend);
            var dX = new float[examples * input.Size];
            conv.Backward(backend, examples, x.AsSpan(first * input.Size, examples * input.Size), weights,
                dy.AsSpan(first * g.OutputSize, examples * g.OutputSize), default, dX);
            return dX;
        }
        var two = InputGradient(new ManagedBackend(2), batch, 0);
        Assert.Equal(two, InputGradient(new ManagedBackend(1), batch, 0));
        var single = new ManagedBackend(1);
        for (int n = 0; n < batch; n++) Assert.Equal(two.AsSpan(n * input.Size, input.Size).ToArray(), InputGradient(single, 1, n));
        var (expected, _) = ReferenceKernels.ConvolutionBackward(x, batch, input, weights, dy, g.Rows, g.Cols, filters, 1);
        Near(expected, two);
    }

    /// <summary>
    /// Training by Winograd, the input gradient's transposed convolution runs by Winograd on the chunks with tiles enough and by
    /// the direct sums on a last chunk too small (13 images in chunks of four: the last one image, 16 tiles of F(2x2, 3x3)): the
    /// direct sums' packed kernel must be there for it (it is packed only when some chunk needs it).
    /// </summary>
    [Fact]
    public void A_last_chunk_too_small_for_Winograd_takes_the_input_gradient_by_the_direct_sums() => InputGradientOfWinogradsPlan(13, 7, 7, 64, 64);

    /// <summary>
    /// Where the input gradient's transposed convolution runs by Winograd, backward's scratch was sized for the forward columns.
    /// A block Winograd does not pay for goes to the GEMM, and one too short for the gathered GEMM (12 rows: a 2x6 map, one
    /// image) to im2col, whose columns of 32 filters are twice the forward's of 16 channels: they did not fit (found by
    /// <see cref="Planning.RandomModelTests"/>).
    /// </summary>
    [Theory]
    [InlineData(1, 2, 6, 16, 32)]
    [InlineData(3, 2, 6, 16, 32)]    // 36 rows: gathered
    public void A_block_too_short_for_the_gathered_gemm_lays_out_the_transposed_convolutions_columns(int batch, int h, int w, int c, int filters) =>
        InputGradientOfWinogradsPlan(batch, h, w, c, filters);

    /// <summary>The input gradient of a 3x3 'same' convolution whose plan runs it by Winograd, against the direct loops, on one thread and two.</summary>
    private static void InputGradientOfWinogradsPlan(int batch, int h, int w, int c, int filters)
    {
        var input = Shape.Spatial(h, w, c);
        var g = new ConvGeometry(input, Window.Of(h, 3, 1, 1, Padding.Same), Window.Of(w, 3, 1, 1, Padding.Same), filters);
        var x = Random(batch * input.Size, 1);
        var weights = Random(filters * g.PatchSize, 2);
        var dy = Random(batch * g.OutputSize, 3);
        var (expected, _) = ReferenceKernels.ConvolutionBackward(x, batch, input, weights, dy, g.Rows, g.Cols, filters, 1);
        foreach (int threads in new[] { 1, 2 })
        {
            var backend = new ManagedBackend(threads);
            var conv = new Convolution(g, batch, training: true, backend);
            Assert.True(conv.UseWinograd(backend));
            var dX = Enumerable.Repeat(float.NaN, x.Length).ToArray();
            conv.Backward(backend, batch, x, weights, dy, default, dX);
            Near(expected, dX);
        }
    }

    /// <summary>
    /// A padded convolution's positions go through the kernel class by class (each with its taps inside the input) only where
    /// the classes' tiles take fewer steps than whole windows: not for a single image's 7x7 map, whole or split between two
    /// threads (classes of a row or two, each a whole tile), but for a chunk of twenty. (3x3 'same' over 64 channels, K = 576.)
    /// </summary>
    [Theory]
    [InlineData(1, 3, 7, false)]
    [InlineData(1, 0, 7, false)]
    [InlineData(20, 0, 7, true)]
    public void Border_classes_are_used_where_their_tiles_take_fewer_steps(int images, int row0, int row1, bool pay)
    {
        int[] kernelRows = [2, 3, 2];                                   // kernel rows inside for the top, inner and bottom rows
        int Class(int o) => o == 0 ? 0 : o == 6 ? 2 : 1;
        var (starts, rangeStarts, ranges) = (new List<int> { 0 }, new List<int> { 0 }, new List<int>());
        for (int rc = 0; rc < 3; rc++)
            for (int cc = 0; cc < 3; cc++)
            {
                int rows = Enumerable.Range(row0, row1 - row0).Count(r => Class(r) == rc), cols = Enumerable.Range(0, 7).Count(c => Class(c) == cc);
                starts.Add(starts[^1] + images * rows * cols);
                ranges.AddRange([0, kernelRows[rc] * kernelRows[cc] * 64]);
                rangeStarts.Add(rangeStarts[^1] + 1);
            }
        Assert.Equal(images * (row1 - row0) * 7, starts[^1]);
        Assert.Equal(pay, ManagedBackend.ClassesPay(starts.ToArray(), rangeStarts.ToArray(), ranges.ToArray(), 576));
    }

    /// <summary>The managed backend's GEMMs without its gathered kernel: convolutions lay their windows out by im2col.</summary>
    private sealed class LaidOut(ManagedBackend inner) : Backend
    {
        public override string Name => "laid-out";
        public override string InstructionSet => inner.InstructionSet;
        public override int Threads => inner.Threads;
        public override bool RunsWinograd => inner.RunsWinograd;   // its convolutions take the same paths, laid out
        public override void Gemm(Op opA, Op opB, int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
            inner.Gemm(opA, opB, m, n, k, a, lda, b, ldb, beta, c, ldc);
        public override void GemmOnThread(int thread, Op opA, Op opB, int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
            inner.GemmOnThread(thread, opA, opB, m, n, k, a, lda, b, ldb, beta, c, ldc);
    }

    [Theory]
    [InlineData(3, 7, 6, 16, 1, 3, 1, 1, "same")]
    [InlineData(2, 12, 14, 16, 1, 3, 1, 1, "same")] // rows of outputs eight at a time, the second block moved back to end at the row's end
    [InlineData(2, 5, 21, 8, 1, 3, 1, 1, "valid")]  // 19 outputs a row: eight, eight, and eight moved back
    [InlineData(2, 4, 17, 8, 1, 3, 1, 1, "same")]   // the last block ends on the border column, left out
    [InlineData(2, 3, 8, 8, 1, 3, 1, 1, "same")]    // one block a row, both border columns left out
    [InlineData(2, 9, 9, 32, 1, 3, 2, 1, "same")]   // TensorFlow's 'same' with stride 2: the extra row at the bottom; four at a time
    [InlineData(2, 9, 20, 16, 1, 3, 2, 1, "same")]  // stride 2, eight at a time: the extra column on the right
    [InlineData(2, 7, 19, 8, 1, 3, 2, 1, "same")]   // stride 2 over an odd width: a column of padding each side
    [InlineData(2, 5, 17, 8, 1, 3, 2, 1, "valid")]
    [InlineData(2, 8, 7, 8, 1, 3, 1, 2, "same")]    // dilated: the padded copy
    [InlineData(2, 7, 9, 8, 1, 5, 1, 1, "same")]    // 5x5: the padded copy, each input column loaded once, eight at a time (moved back)
    [InlineData(2, 9, 19, 16, 1, 5, 1, 1, "same")]  // 19 outputs a row, 512-bit vectors where the CPU has them
    [InlineData(2, 10, 16, 8, 1, 7, 1, 1, "same")]  // 7x7 (ConvNeXt's), two blocks of eight: no output computed twice
    [InlineData(2, 14, 14, 32, 1, 7, 1, 1, "same")] // over two 512-bit vectors of channels
    [InlineData(2, 13, 15, 16, 1, 7, 1, 1, "valid")]
    [InlineData(2, 7, 7, 16, 1, 7, 1, 1, "same")]   // 7 outputs a row: one block of seven
    [InlineData(2, 7, 7, 8, 1, 5, 1, 1, "same")]
    [InlineData(2, 6, 6, 16, 1, 5, 1, 1, "same")]   // 6 outputs a row: four at a time, the second block moved back
    [InlineData(2, 9, 12, 8, 1, 5, 2, 1, "same")]   // 5x5 by 2: four at a time
    [InlineData(2, 6, 6, 24, 1, 2, 2, 1, "valid")]
    // Other layouts run over the input spread to one filter per channel, in whole vectors (ChannelSpread)
    [InlineData(2, 6, 5, 4, 2, 3, 2, 1, "same")]    // two filters per channel
    [InlineData(2, 5, 5, 3, 1, 3, 1, 1, "valid")]   // channels not a whole vector
    [InlineData(3, 9, 10, 12, 1, 3, 1, 1, "same")]  // a vector and a half: the bordered training paths, stride 1
    [InlineData(2, 9, 11, 3, 1, 3, 2, 1, "same")]   // and stride 2
    [InlineData(2, 7, 9, 8, 2, 3, 1, 1, "same")]    // 16 filters: two whole vectors, nothing padded
    [InlineData(2, 9, 8, 5, 3, 5, 1, 2, "same")]    // three filters per channel, 5x5, dilated
    [InlineData(2, 6, 6, 6, 1, 2, 2, 1, "valid")]
    [InlineData(2, 6, 17, 8, 1, 3, 1, 1, "same", 2)] // strides of 1 down and 2 across: dW from the bordered input, dx added per tap
    [InlineData(2, 8, 7, 16, 1, 3, 2, 1, "same", 1)] // and 2 down, 1 across
    [InlineData(2, 10, 11, 32, 1, 3, 1, 1, "same")]  // 3-wide kernels over channels a multiple of 16: 512-bit vectors where the CPU has them
    [InlineData(2, 9, 17, 48, 1, 3, 2, 1, "same")]
    [InlineData(2, 2, 2, 16, 1, 3, 2, 1, "same")]    // stride 2 over 2x2: the one output's window reads past the right and the bottom
    [InlineData(2, 5, 3, 8, 1, 3, 2, 1, "same")]     // over 3 columns: padding each side, no window inside
    public void Depthwise_kernel_matches_the_direct_loops(int batch, int h, int w, int c, int multiplier, int k, int stride, int dilation, string padding, int colStride = 0)
    {
        var input = Shape.Spatial(h, w, c);
        var pad = padding == "same" ? Padding.Same : Padding.Valid;
        var rows = Window.Of(h, k, stride, dilation, pad);
        var cols = Window.Of(w, k, colStride == 0 ? stride : colStride, dilation, pad);
        int filters = c * multiplier, taps = k * k;
        var x = Random(batch * input.Size, 1);
        var weights = Random(filters * taps, 2);                  // the reference's [C·M, KH, KW]
        var kernel = new float[weights.Length];                   // the kernel's [KH, KW, C·M]
        for (int f = 0; f < filters; f++)
            for (int t = 0; t < taps; t++) kernel[t * filters + f] = weights[f * taps + t];
        var dy = Random(batch * rows.Output * cols.Output * filters, 3);
        var (dx, dw) = ReferenceKernels.ConvolutionBackward(x, batch, input, weights, dy, rows, cols, filters, groups: c);
        foreach (var backend in new Backend[] { new ManagedBackend(2), new ManagedBackend(1) })
        {
            var conv = new DepthwiseConvolution(input, rows, cols, multiplier, batch, training: true, backend);
            var y = Enumerable.Repeat(float.NaN, dy.Length).ToArray(); // overwritten, not added to
            conv.Forward(backend, batch, x, kernel, y);
            Near(ReferenceKernels.Convolution(x, batch, input, weights, rows, cols, filters, groups: c), y);
            if (multiplier == 1) Assert.Equal(TapOrderSums(x, batch, input, kernel, rows, cols), y);   // every path: the same floats

            var dK = new float[kernel.Length];
            var dX = Enumerable.Repeat(float.NaN, x.Length).ToArray();
            conv.Backward(backend, batch, x, kernel, dy, dK, dX);
            Near(dx, dX);
            var dW = new float[weights.Length];
            for (int f = 0; f < filters; f++)
                for (int t = 0; t < taps; t++) dW[f * taps + t] = dK[t * filters + f];
            Near(dw, dW);

            // a frozen layer (dx alone: with stride 1, a convolution of dy) and a first layer (dW alone)
            dX.AsSpan().Fill(float.NaN);
            conv.Backward(backend, batch, x, kernel, dy, default, dX);
            Near(dx, dX);
            var dKAlone = Enumerable.Repeat(float.NaN, kernel.Length).ToArray();
            conv.Backward(backend, batch, x, kernel, dy, dKAlone, default);
            Assert.Equal(dK, dKAlone);
        }
    }

    /// <summary>A depthwise convolution (one filter per channel) as each output's taps fused-multiply-added in order, row by row, left to right.</summary>
    /// <summary>
    /// With fixed parameters (eval, predict: PlanOptions.Serving) a kernel is packed, or transformed for Winograd, at the first
    /// pass only: weights written after it are not read, where a convolution over parameters that may change packs them again.
    /// A backend that keeps no packed kernel (AVX-512 lays the windows out, and its GEMM packs at every call) reads them anyway.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_fixed_kernel_is_prepared_at_the_first_pass_only(bool winograd)
    {
        const int batch = 4;                              // two images a thread: tiles enough for Winograd to run
        var backend = new ManagedBackend(2);
        var window = Window.Of(14, 3, 1, 1, Padding.Same);
        var g = new ConvGeometry(Shape.Spatial(14, 14, 32), window, window, 32);
        float[] x = Random(batch * g.Input.Size, 1), w = Random(g.Filters * g.PatchSize, 2);
        Convolution Make(bool fix, bool byWinograd)
        {
            var conv = new Convolution(g, batch, training: false, backend);
            if (byWinograd) Assert.True(conv.UseWinograd(backend, wherePaying: false));
            if (fix) conv.FixKernel();
            return conv;
        }
        float[] Run(Convolution conv)
        {
            var y = new float[batch * g.OutputSize];
            conv.Forward(backend, batch, x, w, y);
            return y;
        }
        Convolution fixedKernel = Make(fix: true, winograd), checkedKernel = Make(fix: false, winograd);
        var first = Run(checkedKernel);
        Assert.Equal(first, Run(fixedKernel));
        if (winograd) Assert.NotEqual(Run(Make(fix: false, byWinograd: false)), first);   // Winograd ran: its sums round differently
        Random(w.Length, 3).CopyTo(w);
        var second = Run(checkedKernel);
        Assert.NotEqual(first, second);
        Assert.Equal(winograd || backend.GathersRows ? first : second, Run(fixedKernel));
        Assert.Throws<InvalidOperationException>(() => new Convolution(g, batch, training: true, backend).FixKernel());
    }

    private static float[] TapOrderSums(float[] x, int batch, Shape input, float[] kernel, Window rows, Window cols)
    {
        int c = input.Channels;
        var y = new float[batch * rows.Output * cols.Output * c];
        for (int n = 0; n < batch; n++)
            for (int i = 0; i < rows.Output; i++)
                for (int j = 0; j < cols.Output; j++)
                    for (int ch = 0; ch < c; ch++)
                    {
                        float sum = 0;
                        for (int di = 0; di < rows.Kernel; di++)
                            for (int dj = 0; dj < cols.Kernel; dj++)
                            {
                                int ih = i * rows.Stride - rows.PadBefore + di * rows.Dilation, iw = j * cols.Stride - cols.PadBefore + dj * cols.Dilation;
                                if ((uint)ih < (uint)input.Height && (uint)iw < (uint)input.Width)
                                    sum = MathF.FusedMultiplyAdd(x[((n * input.Height + ih) * input.Width + iw) * c + ch], kernel[(di * cols.Kernel + dj) * c + ch], sum);
                            }
                        y[((n * rows.Output + i) * cols.Output + j) * c + ch] = sum;
                    }
        return y;
    }

    /// <summary>
    /// One image with few output positions and many filters is shared between the threads by its filters, not by its rows, where
    /// each thread read the whole kernel for its few rows: from four positions on in the gathered GEMM's tiles, each thread over its
    /// panels of filters (and a folded batch norm's map in their stores, or after them where the kernel cannot take it), below
    /// that as dot products split by columns. Either way the same floats as on one thread; in tiles, the same as the image's in a
    /// batch too. The choice: 16 positions or fewer, and for the tiles two panels of filters or more (any thread count, so the
    /// floats do not depend on it); dot products split where there is work enough to share and more than one thread.
    /// </summary>
    [Theory]
    [InlineData(4, 4, 64, 256, "same", true, true)]     // 16 positions: by filters, in tiles
    [InlineData(5, 5, 64, 128, "valid", true, true)]    // the pooled model's last convolution: 9 positions
    [InlineData(5, 5, 64, 80, "valid", true, true)]     // 80 filters: with AVX-512 two panels and a narrow one of 16
    [InlineData(4, 4, 32, 72, "same", true, true)]      // 72: with AVX2 a part panel, the map left to the epilogue's pass
    [InlineData(3, 4, 256, 256, "valid", true, false)]  // 2 positions: by filters, as dot products
    [InlineData(5, 4, 64, 128, "same", false, false)]   // 20 positions: by rows
    [InlineData(4, 4, 4, 8, "same", false, false)]      // too little work to share, too few filters for tiles: one thread
    public void One_image_of_few_positions_is_shared_by_its_filters_the_same_floats(int h, int w, int c, int filters, string padding, bool byFilters, bool inTiles)
    {
        var input = Shape.Spatial(h, w, c);
        var pad = padding == "same" ? Padding.Same : Padding.Valid;
        var (rows, cols) = (Window.Of(h, 3, 1, 1, pad), Window.Of(w, 3, 1, 1, pad));
        var g = new ConvGeometry(input, rows, cols, filters);
        var (two, one) = (new ManagedBackend(2), new ManagedBackend(1));
        Assert.Equal(inTiles, one.GathersColumns(g.Positions, g.Filters, g.PatchSize));
        Assert.Equal(inTiles, two.GathersColumns(g.Positions, g.Filters, g.PatchSize));
        Assert.Equal(byFilters, two.SplitsColumns(g.Positions, g.Filters, g.PatchSize));   // the laid-out GEMM's dot products; the tiles come first
        Assert.False(one.SplitsColumns(g.Positions, g.Filters, g.PatchSize));
        Assert.False(new ReferenceBackend().SplitsColumns(g.Positions, g.Filters, g.PatchSize));
        Assert.False(new ReferenceBackend().GathersColumns(g.Positions, g.Filters, g.PatchSize));
        const int batch = 3;
        var (x, weights) = (Random(batch * input.Size, 1), Random(filters * g.PatchSize, 2));
        var folded = new AffineRows { Bias = Random(filters, 6), A = Random(filters, 7), B = Random(filters, 8), Relu = true };
        var image = x.AsSpan(x.Length - input.Size).ToArray();     // the batch's last
        float[] Forward(Backend backend, int n, IRowsEpilogue? epilogue = null)
        {
            var y = Enumerable.Repeat(float.NaN, n * g.OutputSize).ToArray();
            new Convolution(g, n, training: false, backend).Forward(backend, n, n == 1 ? image : x, weights, y, epilogue);
            return y[^g.OutputSize..];
        }
        var onTwo = Forward(two, 1);
        var expected = ReferenceKernels.Convolution(image, 1, input, weights, rows, cols, filters);
        Near(expected, onTwo);
        var mapped = Forward(two, 1, folded);
        var reference = expected.ToArray();
        folded.ApplyRows(reference, 0);
        Near(reference, mapped);
        // an epilogue that is no map (a residual block's add): on whole rows once the threads are done
        var residual = new AffineRows { Bias = folded.Bias, A = folded.A, B = folded.B, Relu = true, Residual = Random(g.OutputSize, 9) };
        var added = Forward(two, 1, residual);
        var withResidual = expected.ToArray();
        residual.ApplyRows(withResidual, 0);
        Near(withResidual, added);
        if (byFilters)
        {
            Assert.Equal(Forward(one, 1), onTwo);
            Assert.Equal(Forward(one, 1, folded), mapped);
        }
        else Near(expected, Forward(one, 1));   // by rows, 10 a thread run as dot products where 20 on one run in tiles
        if (inTiles)
        {
            Assert.Equal(Forward(two, batch), onTwo);
            Assert.Equal(Forward(two, batch, folded), mapped);
        }
    }

    [Theory]
    [InlineData(7, 7, 3, 2, 2, "valid", true)]
    [InlineData(7, 7, 3, 3, 2, "same", true)]
    [InlineData(6, 5, 16, 2, 2, "valid", true)]
    [InlineData(26, 26, 32, 2, 2, "valid", true)]
    [InlineData(5, 7, 27, 2, 2, "valid", true)]    // 2x2: a vector of 16 (or 8), one of 8, three channels alone; a row and a column left over
    [InlineData(5, 5, 2, 2, 2, "same", false)]
    public void Pooling_matches_the_direct_loops(int h, int w, int c, int pool, int stride, string padding, bool max)
    {
        var input = Shape.Spatial(h, w, c);
        var pad = padding == "same" ? Padding.Same : Padding.Valid;
        var rows = Window.Of(h, pool, stride, 1, pad);
        var cols = Window.Of(w, pool, stride, 1, pad);
        const int batch = 3;
        var x = Random(batch * input.Size, 4);
        var expected = ReferenceKernels.Pooling(x, batch, input, rows, cols, max);
        var model = SpecNet.Checking.SpecCompiler.Compile(
            $"input: [{h}, {w}, {c}]\nlayers:\n  - {(max ? "max" : "avg")}_pool2d: {{ pool_size: {pool}, strides: {stride}, padding: {padding} }}\ntraining: {{ loss: mse }}\n", "p.yaml").Model!;
        var plan = new SpecNet.Planning.ExecutionPlan(model, SpecNet.Planning.ParameterSet.Initialize(model, 1), new ManagedBackend(2), batch, trainable: false);
        x.CopyTo(plan.Input);
        Near(expected, plan.Forward(batch, training: false));
    }

    [Theory]
    [InlineData(6, 6, 19, 2, 2, "valid", false)]   // two channel vectors and three scalar channels
    [InlineData(7, 5, 27, 2, 2, "valid", false)]   // 2x2: vectors of 16 and 8, three channels alone; a row and a column no window reads
    [InlineData(6, 6, 32, 2, 2, "valid", true)]    // through the relu before it: no gradient where the maximum is 0
    [InlineData(7, 7, 8, 3, 2, "same", false)]     // overlapping windows: a cell can win twice
    [InlineData(7, 7, 8, 3, 2, "same", true)]
    [InlineData(5, 5, 3, 2, 2, "same", false)]     // windows cut by the border
    public void Max_pooling_backward_sends_each_gradient_to_the_first_maximum_of_its_window(int h, int w, int c, int pool, int stride, string padding,
        bool throughRelu)
    {
        var input = Shape.Spatial(h, w, c);
        var pad = padding == "same" ? Padding.Same : Padding.Valid;
        var rows = Window.Of(h, pool, stride, 1, pad);
        var cols = Window.Of(w, pool, stride, 1, pad);
        const int batch = 3;
        // Values from {0, 1, 2}: most windows tie (as after a relu), so "first" is what is tested.
        var rng = new Rng(9);
        var x = Enumerable.Range(0, batch * input.Size).Select(_ => (float)(int)(rng.NextFloat() * 3)).ToArray();
        int outSize = rows.Output * cols.Output * c;
        var dy = Random(batch * outSize, 10);
        var expected = new float[x.Length];
        for (int n = 0; n < batch; n++)
            for (int i = 0; i < rows.Output; i++)
                for (int j = 0; j < cols.Output; j++)
                    for (int ch = 0; ch < c; ch++)
                    {
                        int first = -1;
                        for (int di = 0; di < pool; di++)
                            for (int dj = 0; dj < pool; dj++)
                            {
                                int ih = i * stride - rows.PadBefore + di, iw = j * stride - cols.PadBefore + dj;
                                if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                                int at = ((n * h + ih) * w + iw) * c + ch;
                                if (first < 0 || x[at] > x[first]) first = at;
                            }
                        if (!throughRelu || x[first] > 0) expected[first] += dy[((n * rows.Output + i) * cols.Output + j) * c + ch];
                    }
        var backend = new ManagedBackend(2);
        var y = new float[batch * outSize];
        Pooling.MaxForward(backend, batch, input, rows, cols, x, y);
        Near(ReferenceKernels.Pooling(x, batch, input, rows, cols, max: true), y);
        var dx = Enumerable.Repeat(float.NaN, x.Length).ToArray();   // every cell must be written
        Pooling.MaxBackward(backend, batch, input, rows, cols, x, y, dy, dx, positiveOnly: throughRelu);
        Assert.Equal(expected, dx);
    }

    [Fact]
    public void Kernels_that_take_pointers_refuse_buffers_of_the_wrong_size()
    {
        var input = Shape.Spatial(6, 6, 2);
        var rows = Window.Of(6, 3, 1, 1, Padding.Valid);
        var g = new ConvGeometry(input, rows, rows, 4);
        var backend = new ManagedBackend(2);
        var conv = new Convolution(g, 2, training: true, backend);
        var x = new float[2 * input.Size];
        var w = new float[4 * g.PatchSize];
        Assert.Throws<ArgumentException>(() => conv.Forward(backend, 2, x, w, new float[2 * g.OutputSize - 1]));
        Assert.Throws<ArgumentException>(() => conv.Forward(backend, 2, x.AsSpan(1), w, new float[2 * g.OutputSize]));
        Assert.Throws<ArgumentException>(() => conv.Forward(backend, 3, new float[3 * input.Size], w, new float[3 * g.OutputSize])); // beyond capacity
        Assert.Throws<ArgumentException>(() => conv.Forward(new ManagedBackend(1), 2, x, w, new float[2 * g.OutputSize]));   // scratch for 2 threads
        Assert.Throws<ArgumentException>(() => conv.Backward(backend, 2, x, w, new float[2 * g.OutputSize], new float[w.Length - 1], x));
        Assert.Throws<ArgumentException>(() => Im2Col.Columns(x, 0, 2, input, rows, rows, new float[10]));
        Assert.Throws<ArgumentException>(() => Im2Col.Accumulate(new float[2 * 16 * 18], 0, 2, input, rows, rows, new float[input.Size]));
        Assert.Throws<ArgumentException>(() => Pooling.MaxForward(backend, 2, input, rows, rows, x, new float[2 * 16 * 2 - 1]));
        Assert.Throws<ArgumentException>(() => Pooling.MaxForward(backend, 3, input, rows, rows, x, new float[3 * 16 * 2]));
        Assert.Throws<ArgumentException>(() => Pooling.MaxBackward(backend, 2, input, rows, rows, x, new float[32], new float[31], new float[2 * input.Size]));
        Assert.Throws<ArgumentException>(() => Pooling.MaxBackward(backend, 2, input, rows, rows, x, new float[32], new float[32], new float[2 * input.Size - 1]));
    }
}
