using SpecNet.Kernels;

namespace SpecNet.Tests.Kernels;

/// <summary>
/// The gathered GEMM applies a convolution's epilogue (bias, a folded batch norm's scale and shift, relu) as it stores each tile
/// (<see cref="ColumnMap"/>). It must give the floats of the GEMM followed by the epilogue's own pass over the rows
/// (<see cref="ChannelKernels.BiasAffineRelu(Span{float}, int, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, bool, ReadOnlySpan{float})"/>),
/// to the bit, the sign of zero included, for every combination of steps; and say when it did not apply it. CI runs the kernel
/// tests again with AVX-512 off, for the 256-bit kernels.
/// </summary>
public class ColumnMapTests
{
    public static TheoryData<int, int, int, bool, bool, bool> Cases()
    {
        var data = new TheoryData<int, int, int, bool, bool, bool>();
        // 6 x 32 tiles and a last tile of rows; a first layer's K = 9; K = 300: two K blocks, the map at the second; 16 columns:
        // the narrow kernel over runs of 16 offsets (K = 32) and not (K = 9), a last tile of 5 rows; two panels of 32
        var shapes = new (int m, int n, int k)[] { (50, 32, 9), (19, 64, 300), (29, 16, 32), (21, 16, 9), (20, 128, 64) };
        foreach (var (m, n, k) in shapes)
            foreach (bool bias in new[] { false, true })
                foreach (bool affine in new[] { false, true })
                    foreach (bool relu in new[] { false, true })
                        data.Add(m, n, k, bias, affine, relu);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void The_map_in_the_gemms_stores_gives_the_floats_of_the_pass_after_it(int m, int n, int k, bool bias, bool affine, bool relu)
    {
        var backend = new ManagedBackend(1);
        var (a, b) = (Random(m * k, 1), Random(n * k, 2));
        a.AsSpan(m / 2 * k, k).Clear();                        // a row of zeros: with a negative scale and a shift of -0, a -0 to keep
        var (add, scale, shift) = (Random(n, 3), Random(n, 4), Random(n, 5));
        (scale[0], shift[0]) = (-1.5f, -0f);
        float[]? biasOf = bias ? add : null, scaleOf = affine ? scale : null, shiftOf = affine ? shift : null;

        var expected = Gemm(backend, a, b, m, n, k, null);
        if (affine || bias || relu)
            ChannelKernels.BiasAffineRelu(expected, n, biasOf, affine ? scale : default, affine ? shift : default, relu);
        fixed (float* pb = biasOf, ps = scaleOf, pf = shiftOf)
        {
            var map = new ColumnMap { Bias = pb, Scale = ps, Shift = pf, Relu = relu };
            var actual = Gemm(backend, a, b, m, n, k, &map);
            Assert.True(map.Applied);
            Assert.Equal(Bits(expected), Bits(actual));
        }
    }

    [Fact]
    public unsafe void A_part_panel_is_left_to_the_pass_after_it()
    {
        var backend = new ManagedBackend(1);
        var (a, b, scale, shift) = (Random(30 * 9, 1), Random(20 * 9, 2), Random(20, 3), Random(20, 4));
        var plain = Gemm(backend, a, b, 30, 20, 9, null);
        fixed (float* ps = scale, pf = shift)
        {
            var map = new ColumnMap { Scale = ps, Shift = pf, Relu = true };
            var c = Gemm(backend, a, b, 30, 20, 9, &map);       // 20 columns: a panel of 32 (or 16) cut by C's edge
            Assert.False(map.Applied);
            Assert.Equal(Bits(plain), Bits(c));
        }
    }

    /// <summary>C (m, n) = A Bᵀ by the gathered GEMM, A's rows read where they lie (one after another), the map given.</summary>
    private static unsafe float[] Gemm(ManagedBackend backend, float[] a, float[] b, int m, int n, int k, ColumnMap* map)
    {
        var packed = new float[backend.GatheredPackSize(n, k)];
        backend.PackGathered(b, k, n, k, packed);
        var offsets = Enumerable.Range(0, k).ToArray();
        var c = new float[m * n];
        fixed (float* pa = a)
        fixed (int* po = offsets)
            Assert.True(backend.GemmGathered(0, new GatheredRows(pa, k, 1, 1, 0, 0, po, k), m, n, packed, c, n, 0, map));
        return c;
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }
}
