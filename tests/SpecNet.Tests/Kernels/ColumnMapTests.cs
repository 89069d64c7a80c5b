using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SpecNet.Kernels;

namespace SpecNet.Tests.Kernels;

/// <summary>
/// The gathered GEMM applies a convolution's epilogue (bias, a folded batch norm's scale and shift, relu) as it stores each tile
/// (<see cref="ColumnMap"/>). It must give the floats of the GEMM followed by the epilogue's own pass over the rows
/// (<see cref="ChannelKernels.BiasAffineRelu(Span{float}, int, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, bool, ReadOnlySpan{float})"/>),
/// to the bit, the sign of zero included, for every combination of steps; and say when it did not apply it (with AVX2, a panel cut
/// by C's edge). CI runs the kernel tests again with AVX-512 off, for the 256-bit kernels.
/// </summary>
public class ColumnMapTests
{
    public static TheoryData<int, int, int, bool, bool, bool> Cases()
    {
        var data = new TheoryData<int, int, int, bool, bool, bool>();
        // 6 x 32 tiles and a last tile of rows; a first layer's K = 9; K = 300: two K blocks, the map at the second; 16 columns:
        // the narrow kernel over runs of 16 offsets (K = 32) and not (K = 9), a last tile of 5 rows; two panels of 32. Panels cut
        // by C's edge: 20 columns (a 32-wide tile, or 16 + 4) with a last tile of one row; 40 (32 + 8 in the narrow kernel) over
        // two K blocks; 8 (the narrow kernel alone); 48 (32 + 16)
        var shapes = new (int m, int n, int k)[]
        {
            (50, 32, 9), (19, 64, 300), (29, 16, 32), (21, 16, 9), (20, 128, 64), (31, 20, 9), (27, 40, 300), (23, 8, 32), (19, 48, 9),
        };
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
        var plain = Gemm(backend, a, b, m, n, k, null);
        // the map's coefficients each just before a page that cannot be read: a read past them (a cut panel's whole vector) faults
        using var guardedBias = new GuardedFloats(biasOf);
        using var guardedScale = new GuardedFloats(scaleOf);
        using var guardedShift = new GuardedFloats(shiftOf);
        {
            var map = new ColumnMap { Bias = guardedBias.At, Scale = guardedScale.At, Shift = guardedShift.At, Relu = relu };
            var actual = Gemm(backend, a, b, m, n, k, &map);
            // With AVX2 a panel cut by C's edge (16 columns a panel) is left to the pass after the GEMM, which must find C as the GEMM left it
            Assert.Equal(Vector512.IsHardwareAccelerated || n % 16 == 0, map.Applied);
            Assert.Equal(Bits(map.Applied ? expected : plain), Bits(actual));
        }
    }

    /// <summary>
    /// C (m, n) = A Bᵀ by the gathered GEMM, A's rows read where they lie (one after another), the map given. C's rows lie
    /// <see cref="Gap"/> floats further apart than its columns and rows of NaN follow its last, the gaps filled with NaN: a store
    /// past C's columns or rows (a tile cut by its edge, stored whole) fails here.
    /// </summary>
    private static unsafe float[] Gemm(ManagedBackend backend, float[] a, float[] b, int m, int n, int k, ColumnMap* map)
    {
        var packed = new float[backend.GatheredPackSize(n, k)];
        backend.PackGathered(b, k, n, k, packed);
        var offsets = Enumerable.Range(0, k).ToArray();
        int ldc = n + Gap;
        var c = new float[(m + MoreRows) * ldc];
        Array.Fill(c, float.NaN);
        fixed (float* pa = a)
        fixed (int* po = offsets)
            Assert.True(backend.GemmGathered(0, new GatheredRows(pa, k, 1, 1, 0, 0, po, k), m, n, packed, c, ldc, 0, map));
        for (int i = 0; i < m + MoreRows; i++)
            for (int j = i < m ? n : 0; j < ldc; j++)
                Assert.True(float.IsNaN(c[i * ldc + j]), $"C[{i}, {j}] lies past C's {m} rows or {n} columns and was written");
        return Enumerable.Range(0, m * n).Select(x => c[x / n * ldc + x % n]).ToArray();
    }

    private const int Gap = 5, MoreRows = 8;

    /// <summary>Floats copied to the end of a page whose next page cannot be read or written (null for none).</summary>
    private sealed unsafe class GuardedFloats : IDisposable
    {
        private const int Page = 4096;
        private readonly byte* _pages, _guard;
        public readonly float* At;

        public GuardedFloats(float[]? values)
        {
            if (values == null) return;
            int bytes = (values.Length * sizeof(float) + Page - 1) / Page * Page;
            _pages = (byte*)NativeMemory.AlignedAlloc((nuint)(bytes + Page), Page);
            _guard = _pages + bytes;
            Assert.Equal(0, mprotect(_guard, Page, 0));              // PROT_NONE
            At = (float*)_guard - values.Length;
            values.CopyTo(new Span<float>(At, values.Length));
        }

        public void Dispose()
        {
            if (_pages == null) return;
            mprotect(_guard, Page, 3);                                // PROT_READ | PROT_WRITE, as the allocator gave it
            NativeMemory.AlignedFree(_pages);
        }

        [DllImport("libc", SetLastError = true)]
        private static extern int mprotect(void* address, nuint length, int protection);
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }
}
