using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Tests.Kernels;

/// <summary>
/// Weight gradients summed over the batch in slices (<see cref="BatchSlices"/>): each slice's partial sum its own, the
/// partials added in slice order, so the threads can take the slices in any order and the floats depend on the thread count
/// alone. With no more chunks (or examples) than slices on one thread, every chunk is a slice of its own on one thread and
/// on two: the gradients must then be the same floats on both, whichever thread took which slice.
/// </summary>
public class BatchSlicesTests
{
    /// <summary>
    /// The slices cover the items in order, none empty; each thread's share of them (PerThread slices) shrinks 4:3:2:1, so the
    /// last slice a thread takes, the one the other may wait for, is small; fewer slices than that are equal. A wide layer's
    /// partials (past <see cref="BatchSlices.LargestSharedPartial"/> floats) take one slice a thread.
    /// </summary>
    [Theory]
    [InlineData(64, 2, 36_864, new[] { 12, 10, 6, 4, 12, 10, 6, 4 })]
    [InlineData(10, 1, 131_072, new[] { 4, 3, 2, 1 })]
    [InlineData(16, 2, 0, new[] { 3, 2, 2, 1, 3, 2, 2, 1 })]
    [InlineData(8, 2, 9, new[] { 1, 1, 1, 1, 1, 1, 1, 1 })]
    [InlineData(3, 2, 9, new[] { 1, 1, 1 })]
    [InlineData(1, 4, 9, new[] { 1 })]
    [InlineData(64, 2, 131_073, new[] { 32, 32 })]
    [InlineData(7, 3, 589_824, new[] { 2, 2, 3 })]
    [InlineData(1, 2, 589_824, new[] { 1 })]
    public void Slices_cover_the_items_in_order_each_share_shrinking(int items, int threads, long partial, int[] sizes)
    {
        Assert.Equal(sizes.Length, BatchSlices.Count(items, threads, partial));
        int next = 0;
        for (int s = 0; s < sizes.Length; s++)
        {
            var (start, end) = BatchSlices.Items(items, sizes.Length, s);
            Assert.Equal(next, start);
            Assert.Equal(sizes[s], end - start);
            next = end;
        }
        Assert.Equal(items, next);
    }

    [Fact]
    public void Partials_are_added_in_slice_order_on_any_split()
    {
        const int size = 5000, slices = 6;
        var partials = Random(size * slices, 1);
        for (int i = 0; i < size; i += 7) partials[2 * size + i] *= 1e7f;   // large terms: an order of adds shows in the floats
        bool[] used = [false, true, true, false, true, true];
        var expected = new float[size];
        for (int i = 0; i < size; i++) expected[i] = ((partials[size + i] + partials[2 * size + i]) + partials[4 * size + i]) + partials[5 * size + i];
        foreach (var backend in new Backend[] { new ManagedBackend(1), new ManagedBackend(2) })
        {
            var into = Enumerable.Repeat(float.NaN, size).ToArray();
            Assert.True(BatchSlices.AddInOrder(backend, partials, size, used, into));
            Assert.Equal(expected, into);
            var inPlace = partials.ToArray();   // into the first used slice's own partial
            Assert.True(BatchSlices.AddInOrder(backend, inPlace, size, used, inPlace.AsSpan(size, size)));
            Assert.Equal(expected, inPlace.AsSpan(size, size).ToArray());
        }
        Assert.False(BatchSlices.AddInOrder(new ManagedBackend(2), partials, size, new bool[slices], new float[size]));
    }

    /// <summary>
    /// The batches (the second with 256-bit vectors, whose training plans take other tiles) make chunks of the same size on one
    /// thread and two, no more of them than slices on one thread.
    /// </summary>
    [Theory]
    [InlineData(28, 16, 16, 4, 4, false)]    // two chunks of two examples (for the input gradient's F(4x4, 3x3) tiles), the windows read in place
    [InlineData(28, 16, 16, 3, 3, false)]    // chunks of two and one
    [InlineData(14, 32, 32, 8, 8, true)]     // the weight gradient by Winograd F(3x3, 2x2): four chunks of two examples (two of four with 256 bits)
    [InlineData(7, 64, 64, 16, 64, true)]    // four chunks: of four examples, of sixteen with 256 bits (4 tiles of F(4x4, 3x3) an example)
    public void A_convolutions_weight_gradient_is_the_same_on_one_thread_and_two(int size, int channels, int filters, int batch512, int batch256, bool winograd)
    {
        int batch = Winograd.WideRules ? batch512 : batch256;   // training's tiles: 512-bit vectors' where they run at full rate
        var window = Window.Of(size, 3, 1, 1, Padding.Same);
        var g = new ConvGeometry(Shape.Spatial(size, size, channels), window, window, filters);
        var (x, w, dy) = (Random(batch * g.Input.Size, 1), Random(filters * g.PatchSize, 2), Random(batch * g.OutputSize, 3));
        for (int i = 0; i < dy.Length; i += 5) dy[i] *= 1e6f;
        float[] WeightGradient(Backend backend, bool byWinograd)
        {
            var conv = new Convolution(g, batch, training: true, backend);
            if (byWinograd && !conv.UseWinograd(backend)) return [];
            var dW = new float[w.Length];
            conv.Forward(backend, batch, x, w, new float[batch * g.OutputSize]);
            conv.Backward(backend, batch, x, w, dy.Select(v => -v).ToArray(), dW, new float[x.Length]);   // a step before: partials to overwrite
            conv.Backward(backend, batch, x, w, dy, dW, new float[x.Length]);
            return dW;
        }
        var (one, two) = (new ManagedBackend(1), new ManagedBackend(2));
        var onTwo = WeightGradient(two, winograd);
        Assert.NotEmpty(onTwo);
        Assert.Equal(WeightGradient(one, winograd), onTwo);
        if (winograd) Assert.NotEqual(WeightGradient(two, false), onTwo);   // it ran
        for (int run = 0; run < 5; run++) Assert.Equal(onTwo, WeightGradient(two, winograd));
    }

    /// <summary>
    /// A wide convolution (147,456 weights, past <see cref="BatchSlices.LargestSharedPartial"/>) keeps one partial a thread: its
    /// weight gradient, by Winograd and directly, on two threads and on one, is the reference's, and the same at every pass.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_wide_convolutions_weight_gradient_in_one_slice_a_thread_is_the_references(bool winograd)
    {
        const int batch = 12;
        var window = Window.Of(8, 3, 1, 1, Padding.Same);
        var g = new ConvGeometry(Shape.Spatial(8, 8, 128), window, window, 128);
        Assert.True((long)g.PatchSize * g.Filters > BatchSlices.LargestSharedPartial);
        var (x, w, dy) = (Random(batch * g.Input.Size, 1), Random(g.Filters * g.PatchSize, 2), Random(batch * g.OutputSize, 3));
        float[] WeightGradient(Backend backend, bool byWinograd = false)
        {
            var conv = new Convolution(g, batch, training: true, backend);
            if (byWinograd) Assert.True(conv.UseWinograd(backend, wherePaying: false));   // wherever it computes it, paying or not
            var dW = new float[w.Length];
            conv.Forward(backend, batch, x, w, new float[batch * g.OutputSize]);
            conv.Backward(backend, batch, x, w, dy.Select(v => -v).ToArray(), dW, new float[x.Length]);   // a step before: partials to overwrite
            conv.Backward(backend, batch, x, w, dy, dW, new float[x.Length]);
            return dW;
        }
        var expected = WeightGradient(new ReferenceBackend());
        double scale = expected.Max(v => Math.Abs((double)v));
        var onTwo = WeightGradient(new ManagedBackend(2), winograd);
        foreach (var actual in new[] { onTwo, WeightGradient(new ManagedBackend(1), winograd) })
            for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-5 * scale, $"dW[{i}] = {actual[i]}, reference {expected[i]}");
        Assert.Equal(onTwo, WeightGradient(new ManagedBackend(2), winograd));
        if (winograd) Assert.NotEqual(WeightGradient(new ManagedBackend(2)), onTwo);   // it ran
    }

    [Theory]
    [InlineData(1, 4)]
    [InlineData(2, 3)]
    public void A_depthwise_convolutions_weight_gradient_is_the_same_on_one_thread_and_two(int stride, int batch)
    {
        var input = Shape.Spatial(14, 14, 32);
        var window = Window.Of(14, 3, stride, 1, Padding.Same);
        var (x, w, dy) = (Random(batch * input.Size, 1), Random(9 * 32, 2), Random(batch * window.Output * window.Output * 32, 3));
        for (int i = 0; i < dy.Length; i += 5) dy[i] *= 1e6f;
        float[] WeightGradient(Backend backend)
        {
            var conv = new DepthwiseConvolution(input, window, window, 1, batch, training: true, backend);
            var dW = new float[w.Length];
            conv.Backward(backend, batch, x, w, dy.Select(v => -v).ToArray(), dW, new float[x.Length]);
            conv.Backward(backend, batch, x, w, dy, dW, new float[x.Length]);
            return dW;
        }
        Assert.Equal(WeightGradient(new ManagedBackend(1)), WeightGradient(new ManagedBackend(2)));
    }

    private static float[] Random(int n, int seed)
    {
        var rng = new Rng((ulong)seed);
        return Enumerable.Range(0, n).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
    }
}
