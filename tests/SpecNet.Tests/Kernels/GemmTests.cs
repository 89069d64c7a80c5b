using SpecNet.Kernels;

namespace SpecNet.Tests.Kernels;

/// <summary>Every backend against the reference GEMM, over shapes that hit edge tiles, K blocks and every split.</summary>
public class GemmTests
{
    public static IEnumerable<Backend> Backends() => BackendCases.All();

    public static TheoryData<int, int, int, Op, Op, float> Shapes()
    {
        var data = new TheoryData<int, int, int, Op, Op, float>();
        var shapes = new (int m, int n, int k)[]
        {
            (1, 1, 1), (7, 5, 3), (6, 32, 256), (13, 33, 257), (64, 128, 128), (64, 10, 128), (200, 32, 9),
            (32, 9, 5000), (10, 300, 70), (700, 64, 288), (3, 500, 20), (288, 64, 363), (9, 32, 10816), (50, 96, 3000),
            // 16 columns or fewer (the narrow kernel: full and partial tiles, K across blocks), a last panel of 16, a short K read in place
            (784, 16, 144), (144, 16, 784), (13, 16, 300), (25, 12, 33), (784, 144, 16), (25, 48, 40), (130, 80, 24),
            // 16 rows or fewer against Bᵀ run as dot products: on one thread and split by columns (with a tail of K); blocks of
            // one, two and three rows (a last block of one: its other rows' sums left out); a dense layer on one image split from 0.1 Mflop
            (16, 37, 4001), (1, 128, 576), (5, 130, 17), (6, 128, 576), (2, 64, 300), (1, 1000, 2048), (1, 512, 256),
            // a dense layer at batch 64, forward, input gradient and weight gradient: a C wider than tall splits its columns
            (64, 512, 784), (64, 784, 512), (512, 784, 64),
        };
        foreach (var (m, n, k) in shapes)
            foreach (var opA in new[] { Op.N, Op.T })
                foreach (var opB in new[] { Op.N, Op.T })
                    data.Add(m, n, k, opA, opB, (m + n + k) % 3 == 0 ? 1f : 0f);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Managed_matches_reference(int m, int n, int k, Op opA, Op opB, float beta)
    {
        foreach (var backend in Backends()) Check(backend, m, n, k, opA, opB, beta);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Gemm_on_one_thread_of_a_parallel_loop_matches_reference(int m, int n, int k, Op opA, Op opB, float beta)
    {
        foreach (var backend in Backends())
            Check(backend, m, n, k, opA, opB, beta, onThread: 1 % backend.Threads);
    }

    internal static void Check(Backend backend, int m, int n, int k, Op opA, Op opB, float beta, int? onThread = null)
    {
        var rng = new Rng(42);
        float[] Random(int size) { var a = new float[size]; for (int i = 0; i < size; i++) a[i] = rng.NextFloat() * 2 - 1; return a; }
        var a = Random(m * k); var b = Random(k * n); var c0 = Random(m * n);
        var expected = (float[])c0.Clone(); var actual = (float[])c0.Clone();
        new ReferenceBackend().Gemm(opA, opB, m, n, k, a, b, beta, expected);
        if (onThread is { } t) backend.GemmOnThread(t, opA, opB, m, n, k, a, opA == Op.N ? k : m, b, opB == Op.N ? n : k, beta, actual, n);
        else backend.Gemm(opA, opB, m, n, k, a, b, beta, actual);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f * Math.Sqrt(k) + 1e-5f,
                $"{backend}: C[{i}] = {actual[i]}, reference {expected[i]} (m={m} n={n} k={k} {opA}{opB} beta={beta})");
    }

    [SkippableFact]
    public void Mkl_matches_reference_on_every_shape()
    {
        var mkl = MklBackend.TryCreate(2, out var why);
        Optional.Require(mkl is not null, $"MKL is not installed here ({why}); CI installs libmkl-rt");
        foreach (var row in Shapes())
            Check(mkl!, (int)row[0], (int)row[1], (int)row[2], (Op)row[3], (Op)row[4], (float)row[5]);
    }

    /// <summary>
    /// The gathered GEMM runs 4-16 rows in its tiles (else it returns false, and the caller's laid-out GEMM runs them as dot
    /// products) against two panels of B or more, or against one over a K of 2,304 or less: there a dot product's horizontal sums
    /// outweigh its multiply-adds (Winograd's GEMMs for a single image, a few tiles by 32 channels against 32 filters, had run 4x
    /// slower as dot products). One panel is 32 columns with AVX-512 and 16 with AVX2 (CI runs this again with AVX-512 off).
    /// </summary>
    [Theory]
    [InlineData(8, 1, 32, true)]        // a single image's Winograd GEMM: 8 tiles, 32 channels, a panel of filters
    [InlineData(16, 1, 2304, true)]     // a 4x4 map's direct sums over 256 channels
    [InlineData(4, 1, 2304, true)]
    [InlineData(4, 1, 2305, false)]     // a long K: the dot products, shared between the threads
    [InlineData(3, 1, 32, false)]       // three rows: the tiles' waste
    [InlineData(6, 2, 4608, true)]      // two panels, any K
    [InlineData(17, 1, 4608, true)]     // more than 16 rows: always the tiles
    public unsafe void A_gathered_gemm_of_few_rows_runs_in_its_tiles_where_they_pay(int m, int panels, int k, bool inTiles)
    {
        var backend = new ManagedBackend(2);
        int n = panels * (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? 32 : 16);
        var (a, b) = (WinogradTests.Random(m * k, 1), WinogradTests.Random(n * k, 2));
        var packed = new float[backend.GatheredPackSize(n, k)];
        backend.PackGathered(b, k, n, k, packed);
        var offsets = Enumerable.Range(0, k).ToArray();
        var c = new float[m * n];
        bool ran;
        fixed (float* pa = a)
        fixed (int* po = offsets)
            ran = backend.GemmGathered(0, new GatheredRows(pa, k, 1, 1, 0, 0, po, k), m, n, packed, c, n);
        Assert.Equal(inTiles, ran);
        if (!ran) return;
        var expected = new float[m * n];
        new ReferenceBackend().Gemm(Op.N, Op.T, m, n, k, a, b, 0, expected);
        for (int i = 0; i < c.Length; i++) Assert.True(MathF.Abs(c[i] - expected[i]) <= 1e-4f * MathF.Sqrt(k), $"C[{i}] = {c[i]}, reference {expected[i]}");
    }

    [Fact]
    public void Leading_dimensions_are_respected()
    {
        // A 2x3 block inside a 4x5 matrix.
        var a = new float[20]; var b = new float[] { 1, 2, 3, 4, 5, 6 }; // 3x2
        for (int i = 0; i < 20; i++) a[i] = i;
        foreach (var backend in Backends().Append(new ReferenceBackend()))
        {
            var c = new float[2 * 4];
            backend.Gemm(Op.N, Op.N, 2, 2, 3, a.AsSpan(6), 5, b, 2, 0, c, 4);
            // rows [6,7,8] and [11,12,13] times b
            Assert.Equal([6 + 21 + 40, 12 + 28 + 48, 0, 0, 11 + 36 + 65, 22 + 48 + 78, 0, 0], c);
        }
    }
}

internal static class BackendCases
{
    /// <summary>The backends to test against the reference: managed with 1 and 2 threads, and MathNet. (MKL has its own, skippable test.)</summary>
    public static IEnumerable<Backend> All()
    {
        yield return new ManagedBackend(1);
        yield return new ManagedBackend(2);
        yield return new MathNetBackend();
    }
}
