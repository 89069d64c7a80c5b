using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SpecNet.Kernels;

/// <summary>
/// The default backend: a register-blocked GEMM in portable SIMD (Vector512 where the CPU has AVX-512,
/// else Vector256), no native dependency. Goto/BLIS structure: B is packed per K-block into NR-wide
/// panels, A into MR-high panels, and an MR x NR micro-kernel keeps 12 accumulators in registers.
/// Work is split between threads by rows of C, by columns when C has few rows, or by K when C is tiny
/// and K huge (the weight gradient of a convolution); partial sums are then added.
/// Buffers grow once and are reused: no allocation per call once warmed up.
/// </summary>
public sealed unsafe class ManagedBackend : Backend
{
    private const int MR = 6, KC = 256, MC = 120;
    private static readonly bool Wide = Vector512.IsHardwareAccelerated;
    /// <summary>Panel width: two vectors.</summary>
    private static readonly int NR = Wide ? 32 : 16;

    private readonly WorkerPool _pool;
    // Per thread: packed panels of B and A, and partial sums for the K split.
    private readonly float[][] _packedB;
    private readonly float[][] _packedA;
    private readonly float[][] _partial;
    private readonly int[][] _rowStarts;             // per thread: a gathered Aᵀ's row starts, from its base
    private readonly float[][] _parked;              // per thread: CarriedTiles' sums between blocks
    private readonly float[][] _lastPanel;           // per thread: Aᵀ B's last panel of B where B's edge cuts it, copied NR wide (LastPanel)

    public ManagedBackend(int threads = 0)
    {
        _pool = new WorkerPool(threads > 0 ? threads : Environment.ProcessorCount);
        _packedB = new float[_pool.Count][];
        _packedA = new float[_pool.Count][];
        _partial = new float[_pool.Count][];
        _rowStarts = new int[_pool.Count][];
        _parked = new float[_pool.Count][];
        _lastPanel = new float[_pool.Count][];
        for (int t = 0; t < _pool.Count; t++) { _packedB[t] = []; _packedA[t] = []; _partial[t] = []; _rowStarts[t] = []; _parked[t] = []; _lastPanel[t] = []; }
        _rowsWork = RowsWork;
        _columnsWork = ColumnsWork;
        _splitKWork = SplitKWork;
        _dotsWork = t => { var (q0, q1) = Slice(_job.N, _pool.Count, t); Dots(_job, q0, q1); };
    }

    protected override WorkerPool SharedPool(int threads) => _pool;

    public override string Name => "managed";
    public override string InstructionSet => Wide ? $"AVX-512 (Vector512{VectorUnits.Note})" : Vector256.IsHardwareAccelerated ? "AVX2 (Vector256)" : "portable (no SIMD)";
    public override int Threads => _pool.Count;

    public override void Gemm(Op opA, Op opB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (m == 0 || n == 0) return;
        if (k == 0) { Scale(c, m, n, ldc, beta); return; }
        fixed (float* pa = a, pb = b, pc = c)
        {
            var job = new Job(opA, opB, m, n, k, pa, lda, pb, ldb, beta, pc, ldc);
            int threads = _pool.Count;
            long flops = 2L * m * n * k;
            if (UseDots(job))
            {
                if (threads == 1 || flops < DotsSplitFlops) { Dots(job, 0, n); return; }
                _job = job;
                _pool.Run(_dotsWork);
                return;
            }
            if (threads == 1 || flops < 1_000_000) { RunRows(job, 0, m, 0); return; }
            if ((long)m * n <= 65_536 && k >= 4 * Math.Max(m, n)) { RunSplitK(job, threads); return; }
            // Split the rows, and each thread packs all of B (k x n); split the columns, and each packs all of A (m x k, a gather
            // where A is transposed). Where both leave each thread panels enough, the split that packs less twice: a dense layer's
            // forward at batch 64 (64 x 512 x 784) had packed its weights on both threads, as long as its multiply-adds.
            int rowPanels = (m + MR - 1) / MR, columnPanels = (n + NR - 1) / NR;
            long packedTwiceByRows = n, packedTwiceByColumns = opA == Op.T ? 2L * m : m;
            bool byColumns = rowPanels < 2 * threads ? m < n : packedTwiceByColumns < packedTwiceByRows && columnPanels >= 2 * threads;
            _job = job;
            _pool.Run(byColumns ? _columnsWork : _rowsWork);
        }
    }

    // The call being run, read by the cached work delegates (no closure allocated per call).
    private Job _job;
    private readonly Action<int> _rowsWork, _columnsWork, _splitKWork, _dotsWork;
    private bool _swap;

    /// <summary>Each thread has its own packing buffers, so threads of a ParallelFor can run GEMMs side by side.</summary>
    public override void GemmOnThread(int thread, Op opA, Op opB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (m == 0 || n == 0) return;
        if (k == 0) { Scale(c, m, n, ldc, beta); return; }
        fixed (float* pa = a, pb = b, pc = c)
        {
            var job = new Job(opA, opB, m, n, k, pa, lda, pb, ldb, beta, pc, ldc);
            if (UseDots(job)) { Dots(job, 0, n); return; }
            if (!Transposed(job)) { RunRows(job, 0, m, thread); return; }
            // Cᵀ = op(B)ᵀ op(A)ᵀ into this thread's scratch, then C = beta C + (Cᵀ)ᵀ
            var partial = Grow(ref _partial[thread], m * n);
            fixed (float* pp = partial)
                RunRows(new Job(opB == Op.N ? Op.T : Op.N, opA == Op.N ? Op.T : Op.N, n, m, k, pb, ldb, pa, lda, 0, pp, m), 0, n, thread);
            for (int i = 0; i < m; i++)
                for (int q = 0; q < n; q++)
                {
                    ref float dst = ref pc[(long)i * ldc + q];
                    dst = beta == 0 ? partial[q * m + i] : beta * dst + partial[q * m + i];
                }
        }
    }

    /// <summary>
    /// Whether to compute a small C as Cᵀ = op(B)ᵀ op(A)ᵀ: when that wastes far fewer of the MR x NR tiles
    /// (a first convolution's weight gradient, 32 x 9, is better computed as 9 x 32). Swapping packs A
    /// transposed (a strided gather), so it must save a good part of the tiles to pay.
    /// </summary>
    private static bool Transposed(in Job j)
    {
        // 16 columns or fewer run in the narrow kernel, which wastes no columns
        static long Padded(int rows, int cols) => Wide && cols <= 16 ? (long)((rows + MRN - 1) / MRN * MRN) * 16 : (long)((rows + MR - 1) / MR * MR) * ((cols + NR - 1) / NR * NR);
        return (long)j.M * j.N <= 65_536 && Padded(j.N, j.M) * 4 < Padded(j.M, j.N) * 3;
    }

    /// <summary>Rows of C up to which A·Bᵀ runs as dot products (<see cref="Dots"/>): a layer on one image, a dense layer on a few.</summary>
    internal const int DotRows = 16;

    /// <summary>
    /// Flops from which <see cref="Gemm"/> shares dot products between the threads (by columns: the same sums). A dense layer on one
    /// image, two threads against one (Zen 5, 2,000 calls each, medians): 1 x 512 x 256 (0.26 Mflop) 6.7-8.9 -> 4.0-4.5 us, 1 x 100
    /// x 500 (0.1 Mflop) 2.4-2.6 -> 1.5-1.6, 1 x 128 x 128 (33 kflop) 1.0-1.2 -> 0.8; from 10 to 25 kflop level or worse. A
    /// 256-512-10 network's single image 7.4 -> 4.1 us. It had been 0.5 Mflop (<see cref="ColumnsSplitFlops"/>) since a Zen 1.
    /// </summary>
    private const long DotsSplitFlops = 100_000;

    /// <summary>
    /// Flops from which a convolution of few output positions on one image shares its dot products by filters
    /// (<see cref="SplitsColumns"/>) rather than its rows between the threads. The tutorial model's last convolution (6 rows x 128
    /// x 576, 0.9 Mflop) took 41 µs on one thread, 30 on two (AMD EPYC Zen 1; single image 0.160 -> 0.151 ms). Below it the rows
    /// split as fast or faster: `bench/small-maps-32.yaml`'s 4x4x32 -> 32 (0.3 Mflop) by filters made its single image 18.6-19.3
    /// -> 21.0-21.9 us (Zen 5, the plans alternating in one process).
    /// </summary>
    private const long ColumnsSplitFlops = 500_000;
    private static bool UseDots(in Job j) => j.OpA == Op.N && j.OpB == Op.T && j.M <= DotRows;

    /// <summary>Dot products shared by columns (<see cref="Gemm"/>): rows of A few enough for them, and work enough to share.</summary>
    public override bool SplitsColumns(int m, int n, int k) => Threads > 1 && m <= DotRows && 2L * m * n * k >= ColumnsSplitFlops;

    /// <summary>
    /// C[i, q] = Σ_k A[i, k]·B[q, k] (+ beta·C) for columns [q0, q1), as dot products of two contiguous rows: each row
    /// of B (a filter, a unit's weights) is read once and used against every row of A, which stay in L1. For a few rows of A this
    /// beats packing Bᵀ into panels, a strided copy that costs more than the arithmetic (a 1 x 128 x 576 product:
    /// 40 µs packed, a few µs as dots).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dots(in Job j, int q0, int q1)
    {
        float* sums = stackalloc float[16];
        float** a = stackalloc float*[4];
        float** b = stackalloc float*[4];
        // Blocks of rows of B by rows of A: 4 x 4 with 512-bit vectors (16 sums in registers, 8 loads for 16 multiply-adds),
        // 3 x 3 with 256-bit ones (9 sums, 6 loads for 9: there are 16 registers, not 32). B's rows outside, A's (at most 16,
        // in L1) inside: B is streamed from memory once.
        int block = Wide ? 4 : 3;
        for (int q = q0; q < q1; q += block)
        {
            int cols = Math.Min(block, q1 - q);
            for (int t = 0; t < block; t++) b[t] = j.B + (long)(q + Math.Min(t, cols - 1)) * j.Ldb;   // missing rows repeat the last
            for (int i0 = 0; i0 < j.M; i0 += block)
            {
                int rows = Math.Min(block, j.M - i0);
                for (int r = 0; r < block; r++) a[r] = j.A + (long)(i0 + Math.Min(r, rows - 1)) * j.Lda;
                if (Wide) Dots4x4(j.K, a, b, sums, rows); else Dots3x3(j.K, a, b, sums, rows);
                StoreTile(sums, 4, j.C + (long)i0 * j.Ldc + q, j.Ldc, rows, cols, j.Beta);
            }
        }
    }

    /// <summary>
    /// sums[r·4 + t] = a[r] · b[t] over k floats, for every r where the block has more than one row, r = 0 alone where it has one: a
    /// dense layer on one image had made four times the multiply-adds its weights' loads needed (one image, two threads, Zen 5:
    /// 2048 -> 1000 0.056-0.063 -> 0.048-0.054 ms, a 784-512-512-10 network 0.020-0.023 -> 0.0175 ms). The same sums.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dots4x4(int k, float** a, float** b, float* sums, int rows)
    {
        float* a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
        Vector512<float> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default,
            s20 = default, s21 = default, s22 = default, s23 = default, s30 = default, s31 = default, s32 = default, s33 = default;
        int p = 0;
        for (; p <= k - 16; p += 16)
        {
            var v0 = Vector512.Load(b0 + p); var v1 = Vector512.Load(b1 + p); var v2 = Vector512.Load(b2 + p); var v3 = Vector512.Load(b3 + p);
            var x = Vector512.Load(a0 + p);
            s00 = Vector512.FusedMultiplyAdd(x, v0, s00); s01 = Vector512.FusedMultiplyAdd(x, v1, s01); s02 = Vector512.FusedMultiplyAdd(x, v2, s02); s03 = Vector512.FusedMultiplyAdd(x, v3, s03);
            if (rows == 1) continue;   // one row (a dense layer on one image): B's loads alone bound it
            x = Vector512.Load(a1 + p);
            s10 = Vector512.FusedMultiplyAdd(x, v0, s10); s11 = Vector512.FusedMultiplyAdd(x, v1, s11); s12 = Vector512.FusedMultiplyAdd(x, v2, s12); s13 = Vector512.FusedMultiplyAdd(x, v3, s13);
            x = Vector512.Load(a2 + p);
            s20 = Vector512.FusedMultiplyAdd(x, v0, s20); s21 = Vector512.FusedMultiplyAdd(x, v1, s21); s22 = Vector512.FusedMultiplyAdd(x, v2, s22); s23 = Vector512.FusedMultiplyAdd(x, v3, s23);
            x = Vector512.Load(a3 + p);
            s30 = Vector512.FusedMultiplyAdd(x, v0, s30); s31 = Vector512.FusedMultiplyAdd(x, v1, s31); s32 = Vector512.FusedMultiplyAdd(x, v2, s32); s33 = Vector512.FusedMultiplyAdd(x, v3, s33);
        }
        (sums[0], sums[1], sums[2], sums[3]) = (Sum(s00), Sum(s01), Sum(s02), Sum(s03));
        (sums[4], sums[5], sums[6], sums[7]) = (Sum(s10), Sum(s11), Sum(s12), Sum(s13));
        (sums[8], sums[9], sums[10], sums[11]) = (Sum(s20), Sum(s21), Sum(s22), Sum(s23));
        (sums[12], sums[13], sums[14], sums[15]) = (Sum(s30), Sum(s31), Sum(s32), Sum(s33));
        for (; p < k; p++)
            for (int r = 0; r < 4; r++)
                for (int t = 0; t < 4; t++) sums[r * 4 + t] += a[r][p] * b[t][p];
    }

    /// <summary>
    /// The same at half the width (AVX2) on 3 x 3 blocks: sums[r·4 + t] = a[r] · b[t] for r, t &lt; 3 (r = 0 alone for a block of
    /// one row). Nine sums and three rows of B in registers, each row of A loaded once per step (a 4 x 4 block would need 16 sums
    /// alone; one row of B at a time against four of A loaded A four times, 5 loads per 4 multiply-adds, which bounded it on a
    /// 128-bit-load core: a 9 x 128 x 576 product went 76 -> 41 µs on an AMD EPYC Zen 1, one thread, same run).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dots3x3(int k, float** a, float** b, float* sums, int rows)
    {
        float* a0 = a[0], a1 = a[1], a2 = a[2], b0 = b[0], b1 = b[1], b2 = b[2];
        Vector256<float> s00 = default, s01 = default, s02 = default, s10 = default, s11 = default, s12 = default, s20 = default, s21 = default, s22 = default;
        int p = 0;
        for (; p <= k - 8; p += 8)
        {
            var v0 = Vector256.Load(b0 + p); var v1 = Vector256.Load(b1 + p); var v2 = Vector256.Load(b2 + p);
            var x = Vector256.Load(a0 + p);
            s00 = Vector256.FusedMultiplyAdd(x, v0, s00); s01 = Vector256.FusedMultiplyAdd(x, v1, s01); s02 = Vector256.FusedMultiplyAdd(x, v2, s02);
            if (rows == 1) continue;
            x = Vector256.Load(a1 + p);
            s10 = Vector256.FusedMultiplyAdd(x, v0, s10); s11 = Vector256.FusedMultiplyAdd(x, v1, s11); s12 = Vector256.FusedMultiplyAdd(x, v2, s12);
            x = Vector256.Load(a2 + p);
            s20 = Vector256.FusedMultiplyAdd(x, v0, s20); s21 = Vector256.FusedMultiplyAdd(x, v1, s21); s22 = Vector256.FusedMultiplyAdd(x, v2, s22);
        }
        (sums[0], sums[1], sums[2]) = (Sum(s00), Sum(s01), Sum(s02));
        (sums[4], sums[5], sums[6]) = (Sum(s10), Sum(s11), Sum(s12));
        (sums[8], sums[9], sums[10]) = (Sum(s20), Sum(s21), Sum(s22));
        for (; p < k; p++)
            for (int r = 0; r < 3; r++)
                for (int t = 0; t < 3; t++) sums[r * 4 + t] += a[r][p] * b[t][p];
    }

    /// <summary>A vector's lanes added by halving (Vector512.Sum adds them one by one here).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum(Vector512<float> v) => Sum(v.GetLower().GetLower() + v.GetLower().GetUpper() + v.GetUpper().GetLower() + v.GetUpper().GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum(Vector256<float> v) => Sum(v.GetLower() + v.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum(Vector128<float> v)
    {
        var pairs = v + Vector128.Shuffle(v, Vector128.Create(2, 3, 0, 1));
        return (pairs + Vector128.Shuffle(pairs, Vector128.Create(1, 0, 3, 2))).ToScalar();
    }

    /// <summary>
    /// A GEMM whose A rows are gathered in place (a convolution without im2col), as <see cref="RunRows"/> runs the laid-out
    /// one: B packed per K block into the same panels, the same tiles (6 x 32 with AVX-512, 8 x 16 where C has 16 columns or
    /// fewer; 6 x 16 with AVX2), each sum built in the same order, C written at the first K block and added to at the next: equal
    /// to it to the bit. AVX2, measured on an AMD EPYC Zen 1, one thread: 28x28x1 -> 32 and 28x28x16 -> 16 3x3 convolutions 1.3x
    /// faster than im2col + GEMM, 13x13x32 -> 64 1.07x. AVX-512, Zen 5, the pooled model (specnet bench, builds alternating):
    /// batch 1000 38,119 -> 57,016 images/s, a single image 0.040 -> 0.028 ms, training step 6.16 -> 5.16 ms (Winograd off). A GEMM of 16
    /// rows or fewer runs as dot products, so it too is left to the caller; but not four rows or more against two panels or more,
    /// or one over a short K (<see cref="FewRowsInTiles"/>), which the tiles run faster.
    /// </summary>
    public override bool GathersRows => Vector256.IsHardwareAccelerated;

    /// <summary>B's panels for each K block, one block after another (as <see cref="RunRows"/> packs them, block by block).</summary>
    public override int GatheredPackSize(int n, int k) => k * ((n + NR - 1) / NR) * NR;

    public override void PackGathered(ReadOnlySpan<float> b, int ldb, int n, int k, Span<float> packed, bool transposed = false)
    {
        if (packed.Length < GatheredPackSize(n, k) || b.Length < (transposed ? (long)(k - 1) * ldb + n : (long)(n - 1) * ldb + k))
            throw new ArgumentException("gathered GEMM: buffers of the wrong size");
        int nPanels = (n + NR - 1) / NR;
        fixed (float* pb = b, bp = packed)
        {
            var j = new Job(Op.N, transposed ? Op.N : Op.T, 0, n, k, null, 0, pb, ldb, 0, null, 0);
            for (int p0 = 0; p0 < k; p0 += KC) PackB(j, p0, Math.Min(KC, k - p0), 0, n, bp + (long)p0 * nPanels * NR);
        }
    }

    public override int GatheredTileRows => GathersRows ? MR : 0;

    public override bool GemmGathered(int thread, in GatheredRows a, int m, int n, ReadOnlySpan<float> packedB, Span<float> c, int ldc, float beta = 0,
        ColumnMap* map = null)
    {
        if (!GathersRows || n == 0 || m <= DotRows && !FewRowsInTiles(m, n, a.K)) return false;
        int runs = InTilesOf14(a, m, n, packedB, c, ldc, beta, map);
        if (runs < m) GatheredTiles(a.Skip(runs), m - runs, n, 0, n, packedB, c[(runs * ldc)..], ldc, beta, map);
        return true;
    }

    public override int GatheredPanel => GathersRows ? NR : 0;

    /// <summary>
    /// Whether a gathered GEMM of 16 rows or fewer runs in the tiles rather than as dot products: four rows or more (two thirds
    /// of a tile's) against two panels or more, or against one where K is 2,304 or shorter. Its kernel is packed once, so the
    /// tiles' B costs nothing a call, and each of its floats is loaded once per tile of rows, where the dot products' blocks of
    /// four filters by four positions ran from L2 (16 rows of 9 KB did not stay in L1 beside a block's four filters) and end in
    /// 16 horizontal sums, which outweigh a short K's multiply-adds. One image of a convolution alone, one thread, tiles against
    /// dot products (Zen 5, alternating in one process): 4x4x256 -> 256 0.77x the time with AVX-512 and 0.80x with AVX2, 4x4x32 ->
    /// 64 0.67x and 0.74x, 3x3x128 -> 128 0.77x and 1.01x, 2x2x256 -> 256 0.94x and 0.88x; with one or two rows the tiles' waste
    /// made them 1.02-1.12x. One panel (32 filters with AVX-512, 16 with AVX2), a single image on two threads: Winograd's GEMMs of
    /// 8 tiles by 32 channels, 8x8x32 -> 32 by F(2x2, 3x3) 16.0 -> 4.2 us, 16x16x32 -> 32 by F(4x4, 3x3) 23.5 -> 8.7; direct,
    /// 3x3x256 -> 32 13.2 -> 11.3, 4x4x256 -> 32 18.7 -> 16.5 (K 2,304), 2x2x256 -> 32 12.6 -> 8.6; but 2x2x512 -> 32 (K 4,608)
    /// 18.7 -> 20.9, its dot products shared between the threads. Not what the laid-out GEMM does, so not its sums to the bit: the
    /// same sums as the tiles give the same rows in a longer block (a batch's).
    /// </summary>
    private static bool FewRowsInTiles(int m, int n, int k) => m >= 4 && (n >= 2 * NR || k <= 2304);

    /// <summary>A single image split by its filters (<see cref="GemmGatheredColumns"/>): in the tiles, with two panels or more to share.</summary>
    public override bool GathersColumns(int m, int n, int k) => GathersRows && m <= DotRows && FewRowsInTiles(m, n, k) && n >= 2 * NR;

    public override bool GemmGatheredColumns(int thread, in GatheredRows a, int m, int n, int n0, int n1, ReadOnlySpan<float> packedB, Span<float> c, int ldc,
        ColumnMap* map = null)
    {
        if (n0 % NR != 0 || n0 < 0 || n1 > n || n0 >= n1) throw new ArgumentException($"gathered GEMM: columns [{n0}, {n1}) of {n}: not a range that starts at a panel");
        if (!GathersColumns(m, n, a.K)) return false;
        GatheredTiles(a, m, n, n0, n1, packedB, c, ldc, 0, map);
        return true;
    }

    /// <summary>
    /// With 512-bit vectors, C (m, 16) in tiles of 14 positions of one output row whose windows lie 16 floats apart (16 channels
    /// at stride 1; Winograd's V over 16 channels) by <see cref="KernelNarrowRuns14"/>: the rows it computed, a multiple of 14
    /// (the caller leaves the rest to <see cref="GatheredTiles"/>), or 0 for any other shape. Apart from
    /// <see cref="GatheredTiles"/>, whose setup (its prologue clears its many locals) a Winograd GEMM of 98 rows, seven tiles,
    /// paid at every call: a round of 28x28x16 -> 16's 36 GEMMs alone (Zen 5, medians of five runs of 41 rounds) took 1.55x the
    /// time of the kernel's bare loop over the same tiles, 1.37x inside GatheredTiles before its setup, 1.27x with the kernel's
    /// plain stores (the residual model's inference at batch 1000 3.5-4% faster: 0.965 and 0.962 of the time, two plans
    /// alternating in one process, either made first; two alike 1.007; training level), 1.18x with a cursor from row 0 without
    /// divisions and the runs checked a vector at a time, 1.14x here, apart. A round that is not a multiple of 14 rows (a single
    /// image's 49 tiles on one thread) runs its whole tiles here and the rest in GatheredTiles: the 36 GEMMs of 49 rows 0.72-0.73
    /// of the time they took in GatheredTiles' 8-row tiles, the residual model's single image on one thread 0.937 and 0.939 of its
    /// time (two plans alternating in one process, either made first; two alike 0.995).
    /// </summary>
    private int InTilesOf14(in GatheredRows a, int m, int n, ReadOnlySpan<float> packedB, Span<float> c, int ldc, float beta, ColumnMap* map)
    {
        int k = a.K;
        // each tile's 14 rows along one output row: tiles that start at multiples of 14 of a width of them, or every row in one
        // output row (Winograd's V, one row of all the round's tiles: 49 of a single 28x28 image, 42 of them here)
        bool alongRows = a.Width % 14 == 0 && a.First % 14 == 0 || a.Width > 0 && a.First % a.Width + m <= a.Width;
        if (!Wide || n != 16 || a.ColStep != 16 || m < 14 || !alongRows || !InRuns(a.Offsets, k)) return 0;
        m -= m % 14;
        if (packedB.Length < GatheredPackSize(n, k)) throw new ArgumentException("gathered GEMM: B is not packed for this shape");
        ColumnMap* stored = map != null && beta == 0 ? map : null;   // at the last block of K, as GatheredTiles applies it
        fixed (float* pc = c, packed = packedB)
            for (int p0 = 0; p0 < k; p0 += KC)
            {
                int kc = Math.Min(KC, k - p0);
                var run = a.From(0);
                for (int i = 0; i < m; i += 14)   // a step per run, not per row: a step per row had cost the residual model's inference 7%
                    KernelNarrowRuns14(kc, run.NextRun(14), a.Offsets + p0, packed + (long)p0 * NR, pc + (long)i * ldc, ldc, p0 == 0 ? beta : 1,
                        p0 + kc == k ? stored : null);
            }
        if (stored != null) map->Applied = true;
        return m;
    }

    /// <summary>Columns [n0, n1) of C (m, n) = A Bᵀ (+ beta·C), n0 at a panel's start: <see cref="GemmGathered"/>'s tiles.</summary>
    private void GatheredTiles(in GatheredRows a, int m, int n, int n0, int n1, ReadOnlySpan<float> packedB, Span<float> c, int ldc, float beta, ColumnMap* map)
    {
        int k = a.K, nPanels = (n + NR - 1) / NR;
        if (packedB.Length < GatheredPackSize(n, k)) throw new ArgumentException("gathered GEMM: B is not packed for this shape");
        // 16 columns or fewer with 512-bit vectors: the narrow kernel's 8 x 16 tiles, as the laid-out GEMM runs them
        bool narrow = Wide && n <= 16;
        if (narrow && (n0, n1) != (0, n)) throw new ArgumentException("gathered GEMM: 16 columns or fewer are one panel");
        int tileRows = narrow ? MRN : MR;
        float** rows = stackalloc float*[MRN];
        float* tile = stackalloc float[MRN * 32];
        // The map in the kernels' stores, at the last block of K: with AVX-512 for any columns (a tile cut by C's edge is stored
        // under masks, its map read under them), with AVX2 for whole panels only (StoreTile's map reads whole vectors); C added to
        // (beta 1) is left to the caller's pass
        bool mapping = map != null && beta == 0 && (Wide || n % NR == 0);
        if (n <= 8 && (n0, n1) == (0, n) && a.ColStep == 1 && a.Width >= (Wide ? 16 : 8) && k <= KC && beta == 0)
        {
            fixed (float* pc = c, packed = packedB) PositionsInLanes(a, m, n, packed, pc, ldc, mapping ? map : null);
            if (mapping) map->Applied = true;
            return;
        }
        // With AVX-512 a last panel of 16 columns or fewer (48 filters: 32 + 16) in the narrow kernel, after the whole panels, as
        // the laid-out GEMM's Macro runs it, not in a 32-wide tile half of whose sums are dropped
        int wide = !narrow && Wide && n % NR is > 0 and <= 16 ? n / NR * NR : n;   // columns the MR x NR tiles take
        int wideEnd = Math.Min(wide, n1);                                         // of them, this call's
        ColumnMap panel, tailMap = mapping ? map->From(wide) : default, shifted = mapping ? map->From(n0) : default;
        fixed (float* pc = c, packed = packedB)
        {
            for (int p0 = 0; p0 < k; p0 += KC)
            {
                int kc = Math.Min(KC, k - p0);
                float b = p0 == 0 ? beta : 1;
                ColumnMap* last = mapping && p0 + kc == k ? map : null, mapped = null;
                float* bp = packed + (long)p0 * nPanels * NR;
                var elements = new Gathered(a.Offsets + p0);
                bool runs = narrow && n == 16 && InRuns(a.Offsets + p0, kc);
                var cursor = a.From(0);
                int done = 0;
                if (!narrow && wideEnd % NR == 0)
                {
                    done = m / MR * MR;
                    cursor = WholeTiles(kc, cursor, m / MR, elements, bp + (long)(n0 / NR) * kc * NR, (wideEnd - n0) / NR, pc + n0, ldc, b,
                        last == null ? null : &shifted, rows);
                }
                for (int i = done; i < m; i += tileRows)
                {
                    int h = Math.Min(tileRows, m - i);
                    for (int r = 0; r < h; r++) rows[r] = cursor.Next();
                    for (int r = h; r < tileRows; r++) rows[r] = rows[h - 1];    // rows past the edge repeat the last, computed and dropped
                    if (runs && h == MRN) { KernelNarrowRuns(kc, rows, a.Offsets + p0, bp, pc + (long)i * ldc, ldc, b, last); continue; }
                    if (narrow) { NarrowTile(kc, rows, elements, bp, NR, pc + (long)i * ldc, ldc, b, h, n, last); continue; }
                    for (int jp = n0; jp < wideEnd; jp += NR)
                    {
                        int w = Math.Min(NR, n - jp);
                        float* bPanel = bp + (long)(jp / NR) * kc * NR, cTile = pc + (long)i * ldc + jp;
                        if (last != null) { panel = last->From(jp); mapped = &panel; }
                        if (h == MR && w == NR) Tile(kc, rows, elements, bPanel, NR, cTile, ldc, b, mapped);
                        else CutTile(kc, rows, elements, bPanel, NR, cTile, ldc, b, h, w, tile, mapped);
                    }
                }
                if (n1 <= wide) continue;                                 // the narrow panel after the wide ones, when this call has it
                var tail = a.From(0);
                float* bTail = bp + (long)(wide / NR) * kc * NR;
                for (int i = 0; i < m; i += MRN)
                {
                    int h = Math.Min(MRN, m - i);
                    for (int r = 0; r < h; r++) rows[r] = tail.Next();
                    for (int r = h; r < MRN; r++) rows[r] = rows[h - 1];
                    NarrowTile(kc, rows, elements, bTail, NR, pc + (long)i * ldc + wide, ldc, b, h, n - wide, last == null ? null : &tailMap);
                }
            }
        }
        if (mapping) map->Applied = true;
    }

    /// <summary>
    /// C (m, n ≤ 8) = A B over one block of K, for rows whose windows lie one float apart along an output row (a convolution over
    /// one channel at stride 1: LeNet-5's first, 6 filters over 5x5): with AVX-512 up to 32 positions of a row in the lanes of two
    /// vectors, each filter's sums in two of 16 accumulators, each tap one load of the image per vector and a broadcast of its weight
    /// per filter; then the map, and an 8 x 8 transpose per 8 positions into C's rows. The 8 x 16 tile had a position in each broadcast and the
    /// filters in the lanes, 6 of 16 lanes used. Each sum is the tile's: over the taps in order from zero, one fused multiply-add
    /// each, the map's steps after, so the same floats. 28x28x1 -> 6 5x5 'same' at batch 64 alone (Zen 5, medians of seven): one
    /// thread 0.362 -> 0.160 ms, two 0.196 -> 0.088; `specs/lenet5.yaml`'s training step 1.67-1.68 -> 1.54-1.56 ms.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PositionsInLanes(in GatheredRows a, int m, int n, float* b, float* c, int ldc, ColumnMap* map)
    {
        var cursor = a.From(0);
        int most = Wide ? 32 : 8;
        for (int i = 0; i < m;)
        {
            int column = (int)((a.First + (long)i) % a.Width), count = Math.Min(most, Math.Min(a.Width - column, m - i));
            if (Wide) PositionsInLanes(a.K, cursor.NextRun(count), a.Offsets, count, n, b, c + (long)i * ldc, ldc, map);
            else PositionsInLanes256(a.K, cursor.NextRun(count), a.Offsets, count, n, b, c + (long)i * ldc, ldc);   // no map: AVX2 maps whole panels only
            i += count;
        }
    }

    /// <summary>
    /// With AVX2's sixteen registers, 8 positions in one vector by 8 filters: 8 sums, each tap a load and eight broadcasts, the
    /// tile's floats (its 6 x 16 tiles had used 6 of 16 lanes); the map is left to the caller, as the tiles leave it with AVX2
    /// for a part panel. `specs/lenet5.yaml` at batch 64 with AVX-512 off (Zen 5, three runs alternating): first convolution
    /// forward 0.51-0.69 -> 0.36-0.38 ms, inference 63,000-67,000 -> 90,000 images/s.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PositionsInLanes256(int k, float* x, int* offsets, int count, int n, float* b, float* c, int ldc)
    {
        var lanes = Lanes256.FirstLanes(count);
        bool whole = count == 8;
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        for (int q = 0; q < k; q++, b += NR)
        {
            float* xq = x + offsets[q];
            var u = whole ? Vector256.Load(xq) : Lanes256.LoadUnder(xq, lanes);
            s0 = Vector256.FusedMultiplyAdd(u, Vector256.Create(b[0]), s0);
            s1 = Vector256.FusedMultiplyAdd(u, Vector256.Create(b[1]), s1);
            s2 = Vector256.FusedMultiplyAdd(u, Vector256.Create(b[2]), s2);
            s3 = Vector256.FusedMultiplyAdd(u, Vector256.Create(b[3]), s3);
            s4 = Vector256.FusedMultiplyAdd(u, Vector256.Create(b[4]), s4);
            s5 = Vector256.FusedMultiplyAdd(u, Vector256.Create(b[5]), s5);
            s6 = Vector256.FusedMultiplyAdd(u, Vector256.Create(b[6]), s6);
            s7 = Vector256.FusedMultiplyAdd(u, Vector256.Create(b[7]), s7);
        }
        Interleave(c, ldc, count, Lanes256.FirstLanes(n), s0, s1, s2, s3, s4, s5, s6, s7);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PositionsInLanes(int k, float* x, int* offsets, int count, int n, float* b, float* c, int ldc, ColumnMap* map)
    {
        Vector512<float> low = Lanes512.FirstLanes(Math.Min(count, 16)), high = Lanes512.FirstLanes(count - 16), zero = Vector512<float>.Zero;
        Vector512<float> s0 = zero, s1 = zero, s2 = zero, s3 = zero, s4 = zero, s5 = zero, s6 = zero, s7 = zero;     // positions 0-15, filter f in s_f
        Vector512<float> t0 = zero, t1 = zero, t2 = zero, t3 = zero, t4 = zero, t5 = zero, t6 = zero, t7 = zero;     // positions 16-31
        for (int q = 0; q < k; q++, b += NR)
        {
            float* xq = x + offsets[q];
            var u = Avx512F.MaskLoad(xq, low, zero);
            var v = Avx512F.MaskLoad(xq + 16, high, zero);
            var w = Vector512.Create(b[0]); s0 = Vector512.FusedMultiplyAdd(u, w, s0); t0 = Vector512.FusedMultiplyAdd(v, w, t0);
            w = Vector512.Create(b[1]); s1 = Vector512.FusedMultiplyAdd(u, w, s1); t1 = Vector512.FusedMultiplyAdd(v, w, t1);
            w = Vector512.Create(b[2]); s2 = Vector512.FusedMultiplyAdd(u, w, s2); t2 = Vector512.FusedMultiplyAdd(v, w, t2);
            w = Vector512.Create(b[3]); s3 = Vector512.FusedMultiplyAdd(u, w, s3); t3 = Vector512.FusedMultiplyAdd(v, w, t3);
            w = Vector512.Create(b[4]); s4 = Vector512.FusedMultiplyAdd(u, w, s4); t4 = Vector512.FusedMultiplyAdd(v, w, t4);
            w = Vector512.Create(b[5]); s5 = Vector512.FusedMultiplyAdd(u, w, s5); t5 = Vector512.FusedMultiplyAdd(v, w, t5);
            w = Vector512.Create(b[6]); s6 = Vector512.FusedMultiplyAdd(u, w, s6); t6 = Vector512.FusedMultiplyAdd(v, w, t6);
            w = Vector512.Create(b[7]); s7 = Vector512.FusedMultiplyAdd(u, w, s7); t7 = Vector512.FusedMultiplyAdd(v, w, t7);
        }
        if (map != null)
        {
            // filter f's coefficients in every lane: the tile's steps on each of its sums
            Mapped(map, 0, ref s0, ref t0); Mapped(map, 1, ref s1, ref t1); Mapped(map, 2, ref s2, ref t2); Mapped(map, 3, ref s3, ref t3);
            if (n > 4) { Mapped(map, 4, ref s4, ref t4); if (n > 5) Mapped(map, 5, ref s5, ref t5); if (n > 6) Mapped(map, 6, ref s6, ref t6); if (n > 7) Mapped(map, 7, ref s7, ref t7); }
        }
        var filters = Lanes256.FirstLanes(n);
        Interleave(c, ldc, Math.Min(count, 8), filters, s0.GetLower(), s1.GetLower(), s2.GetLower(), s3.GetLower(), s4.GetLower(), s5.GetLower(), s6.GetLower(), s7.GetLower());
        if (count > 8) Interleave(c + 8L * ldc, ldc, Math.Min(count - 8, 8), filters, s0.GetUpper(), s1.GetUpper(), s2.GetUpper(), s3.GetUpper(), s4.GetUpper(), s5.GetUpper(), s6.GetUpper(), s7.GetUpper());
        if (count > 16) Interleave(c + 16L * ldc, ldc, Math.Min(count - 16, 8), filters, t0.GetLower(), t1.GetLower(), t2.GetLower(), t3.GetLower(), t4.GetLower(), t5.GetLower(), t6.GetLower(), t7.GetLower());
        if (count > 24) Interleave(c + 24L * ldc, ldc, count - 24, filters, t0.GetUpper(), t1.GetUpper(), t2.GetUpper(), t3.GetUpper(), t4.GetUpper(), t5.GetUpper(), t6.GetUpper(), t7.GetUpper());
    }

    /// <summary>Both vectors of filter <paramref name="f"/>'s sums through the map, its coefficients broadcast (<see cref="ColumnCoefficients{TL, TV}"/>'s steps).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Mapped(ColumnMap* map, int f, ref Vector512<float> s, ref Vector512<float> t)
    {
        var coefficients = new ColumnCoefficients<Lanes512, Vector512<float>>(map, f, broadcast: true);
        (s, t) = (coefficients.Apply(s), coefficients.Apply(t));
    }

    /// <summary>Eight positions' sums, a vector per filter, into C's rows: <paramref name="count"/> rows of the filters under the mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Interleave(float* c, int ldc, int count, Vector256<float> filters, Vector256<float> r0, Vector256<float> r1, Vector256<float> r2,
        Vector256<float> r3, Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7)
    {
        Elementwise.Transpose8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
        Elementwise.StoreRows(c, ldc, count, filters, r0, r1, r2, r3, r4, r5, r6, r7);
    }

    /// <summary>
    /// <see cref="GemmGathered"/>'s tiles of MR rows over whole panels, from the cursor on: the common case in a method of its own,
    /// where the cursor and the loop's state stay in registers. In GemmGathered's loop, among its other cases, they lived on the
    /// stack, and with K = 9 (a first convolution's window) finding a tile's rows and calling its kernel cost a third as much as the kernel.
    /// Zen 5, inference at batch 1000, the two loops alternating in one process, the same floats: the pooled model 15.33 -> 14.66 ms
    /// (its first convolution and pooling alone 2.95 -> 2.67), the strided 7.34 -> 7.18, the depthwise 20.28 -> 19.89, the residual
    /// level; with AVX-512 off the pooled 19.18 -> 18.82 ms; training steps level.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static GatheredRows.Cursor WholeTiles(int kc, GatheredRows.Cursor cursor, int tiles, Gathered elements, float* bp, int panels, float* c, int ldc,
        float beta, ColumnMap* map, float** rows)
    {
        ColumnMap panel;
        for (int t = 0; t < tiles; t++, c += (long)MR * ldc)
        {
            for (int r = 0; r < MR; r++) rows[r] = cursor.Next();
            for (int jp = 0; jp < panels; jp++)
            {
                ColumnMap* mapped = null;
                if (map != null) { panel = map->From(jp * NR); mapped = &panel; }
                Tile(kc, rows, elements, bp + (long)jp * kc * NR, NR, c + jp * NR, ldc, beta, mapped);
            }
        }
        return cursor;
    }

    /// <summary>Half a panel: a tile's row is two vectors.</summary>
    public override int WindowVector => GathersRows ? NR / 2 : 0;

    /// <summary>
    /// Tiles of MR rows and NR columns as <see cref="GemmGathered"/> computes them, each of their vectors added to the cells of X it
    /// belongs to (or to a scratch vector, in the padding) instead of stored. A tile never spans two images, so each cell's sum
    /// is built in the order of its image's tiles, panels and rows whatever the chunk; over K blocks of KC the partial sums are
    /// added one after another.
    /// </summary>
    public override bool GemmAddToWindows(int thread, float* a, int lda, int m, int n, int k, ReadOnlySpan<float> packedB, in WindowTargets x)
    {
        int nPanels = (n + NR - 1) / NR, positions = x.Positions;
        if (!GathersRows || x.Vectors < 2 * nPanels || m % positions != 0) return false;
        if (packedB.Length < GatheredPackSize(n, k)) throw new ArgumentException("gathered GEMM: B is not packed for this shape");
        float* scratch = stackalloc float[NR / 2];
        int* none = stackalloc int[x.Vectors];                        // a tile's rows past the image's end: nowhere
        new Span<int>(none, x.Vectors).Fill(-1);
        float** rows = stackalloc float*[MR];
        int** rowTargets = stackalloc int*[MR];
        float** targets = stackalloc float*[2 * MR];
        fixed (float* packed = packedB)
            for (int p0 = 0; p0 < k; p0 += KC)
            {
                int kc = Math.Min(KC, k - p0);
                float* bp = packed + (long)p0 * nPanels * NR;
                for (int image = 0; image < m / positions; image++)
                {
                    float* origin = x.Origin + image * x.ImageStride, dy = a + (long)image * positions * lda + p0;
                    for (int i = 0; i < positions; i += MR)
                    {
                        int h = Math.Min(MR, positions - i);
                        for (int r = 0; r < MR; r++)
                        {
                            rows[r] = dy + (long)(i + Math.Min(r, h - 1)) * lda;
                            rowTargets[r] = r < h ? x.Targets + (long)(i + r) * x.Vectors : none;
                        }
                        for (int jp = 0; jp < nPanels; jp++)
                        {
                            for (int r = 0; r < 2 * MR; r++)
                            {
                                int at = rowTargets[r >> 1][2 * jp + (r & 1)];
                                targets[r] = at < 0 ? scratch : origin + at;
                            }
                            float* panel = bp + (long)jp * kc * NR;
                            bool half = jp == nPanels - 1 && n - jp * NR <= NR / 2;     // a last panel of one vector: its half alone
                            if (Wide) AddTile<Vector512<float>, Lanes512>(kc, rows, panel, targets, h, half);
                            else AddTile<Vector256<float>, Lanes256>(kc, rows, panel, targets, h, half);
                        }
                    }
                }
            }
        return true;
    }

    /// <summary>A tile of <paramref name="h"/> rows wanted (3 or fewer: three computed, else six) and of one vector (<paramref name="half"/>) or two.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddTile<TV, TL>(int kc, float** rows, float* b, float** targets, int h, bool half) where TL : struct, ILanes<TV> where TV : struct
    {
        if (half)
        {
            if (h <= 3) AddTile<TV, TL, Three, One>(kc, rows, b, targets);
            else AddTile<TV, TL, Six, One>(kc, rows, b, targets);
        }
        else if (h <= 3) AddTile<TV, TL, Three, Two>(kc, rows, b, targets);
        else AddTile<TV, TL, Six, Two>(kc, rows, b, targets);
    }

    /// <summary>How many of a panel's two vectors a tile computes.</summary>
    private interface ITileColumns;
    private readonly struct One : ITileColumns;
    private readonly struct Two : ITileColumns;

    /// <summary>
    /// An MR x NR tile of A's rows (kc floats each, consecutive) times a packed panel of B, its vector v of row r added at
    /// targets[2r + v] one after another (two may be the same cell: each add sees the last); the rows and the vector that
    /// TRows and TColumns leave out are not computed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddTile<TV, TL, TRows, TColumns>(int kc, float** rows, float* b, float** targets)
        where TL : struct, ILanes<TV> where TV : struct where TRows : struct, ITileRows where TColumns : struct, ITileColumns
    {
        bool six = typeof(TRows) == typeof(Six), two = typeof(TColumns) == typeof(Two);
        int w = TL.Count;
        TV c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
           c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        float* r0 = rows[0], r1 = rows[1], r2 = rows[2], r3 = rows[3], r4 = rows[4], r5 = rows[5];
        for (int q = 0; q < kc; q++)
        {
            var b0 = TL.Load(b);
            var b1 = two ? TL.Load(b + w) : default;
            var a0 = TL.Create(r0[q]); c00 = TL.FusedMultiplyAdd(a0, b0, c00); if (two) c01 = TL.FusedMultiplyAdd(a0, b1, c01);
            var a1 = TL.Create(r1[q]); c10 = TL.FusedMultiplyAdd(a1, b0, c10); if (two) c11 = TL.FusedMultiplyAdd(a1, b1, c11);
            var a2 = TL.Create(r2[q]); c20 = TL.FusedMultiplyAdd(a2, b0, c20); if (two) c21 = TL.FusedMultiplyAdd(a2, b1, c21);
            if (six)
            {
                var a3 = TL.Create(r3[q]); c30 = TL.FusedMultiplyAdd(a3, b0, c30); if (two) c31 = TL.FusedMultiplyAdd(a3, b1, c31);
                var a4 = TL.Create(r4[q]); c40 = TL.FusedMultiplyAdd(a4, b0, c40); if (two) c41 = TL.FusedMultiplyAdd(a4, b1, c41);
                var a5 = TL.Create(r5[q]); c50 = TL.FusedMultiplyAdd(a5, b0, c50); if (two) c51 = TL.FusedMultiplyAdd(a5, b1, c51);
            }
            b += 2 * w;
        }
        AddTo<TV, TL>(targets[0], c00); if (two) AddTo<TV, TL>(targets[1], c01);
        AddTo<TV, TL>(targets[2], c10); if (two) AddTo<TV, TL>(targets[3], c11);
        AddTo<TV, TL>(targets[4], c20); if (two) AddTo<TV, TL>(targets[5], c21);
        if (!six) return;
        AddTo<TV, TL>(targets[6], c30); if (two) AddTo<TV, TL>(targets[7], c31);
        AddTo<TV, TL>(targets[8], c40); if (two) AddTo<TV, TL>(targets[9], c41);
        AddTo<TV, TL>(targets[10], c50); if (two) AddTo<TV, TL>(targets[11], c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddTo<TV, TL>(float* p, TV v) where TL : struct, ILanes<TV> where TV : struct => TL.Store(TL.Add(TL.Load(p), v), p);

    /// <summary>
    /// Whether the classes' tiles, each as long as its class's taps, take fewer steps than whole windows in tiles of MR rows. A
    /// block of few positions splits into classes of a row or two, each a whole tile: a single image's 7x7 map on one of two
    /// threads, rows 3-6, is 5.9 tiles of whole windows' length by class against 5 whole (the residual model's single image
    /// 0.39-0.42 -> 0.35-0.36 ms on two threads, Zen 1).
    /// </summary>
    private static bool ClassesPay(in WindowClasses a) =>
        ClassesPay(new ReadOnlySpan<int>(a.Starts, a.Count + 1), new ReadOnlySpan<int>(a.RangeStarts, a.Count + 1), new ReadOnlySpan<int>(a.Ranges, 2 * a.RangeStarts[a.Count]), a.K);

    /// <summary>The same over <see cref="WindowClasses"/>' tables: class c's rows [starts[c], starts[c + 1]), taps its ranges.</summary>
    internal static bool ClassesPay(ReadOnlySpan<int> starts, ReadOnlySpan<int> rangeStarts, ReadOnlySpan<int> ranges, int k)
    {
        long byClass = 0;
        for (int cl = 0; cl + 1 < starts.Length; cl++)
        {
            int taps = 0;
            for (int j = rangeStarts[cl]; j < rangeStarts[cl + 1]; j++) taps += ranges[2 * j + 1] - ranges[2 * j];
            byClass += (long)(starts[cl + 1] - starts[cl] + MR - 1) / MR * taps;
        }
        return byClass < (long)(starts[^1] + MR - 1) / MR * k;
    }

    /// <summary>
    /// <see cref="GemmGathered"/> class by class: the same K blocks, each row's sum over its class's taps in the block in order
    /// (the kernel walks the class's ranges with its sums in registers), a tile's rows stored where C's rows lie.
    /// </summary>
    public override bool GemmGatheredClasses(int thread, in WindowClasses a, int n, ReadOnlySpan<float> packedB, float beta = 0)
    {
        int m = a.Starts[a.Count], k = a.K, nPanels = (n + NR - 1) / NR;
        // 16 columns or fewer with 512-bit vectors are left to GemmGathered's narrow kernel, not computed 32 wide
        if (!GathersRows || m <= DotRows || n == 0 || Wide && n <= 16 || !ClassesPay(a)) return false;
        if (packedB.Length < GatheredPackSize(n, k)) throw new ArgumentException("gathered GEMM: B is not packed for this shape");
        int widest = 0;                                                           // ranges of a class, at most
        for (int cl = 0; cl < a.Count; cl++) widest = Math.Max(widest, a.RangeStarts[cl + 1] - a.RangeStarts[cl]);
        int* inBlock = stackalloc int[2 * widest];
        float** rows = stackalloc float*[MR];
        float** outputs = stackalloc float*[MR];
        float* tile = stackalloc float[MR * 32];
        fixed (float* packed = packedB)
        {
            for (int p0 = 0; p0 < k; p0 += KC)
            {
                int kc = Math.Min(KC, k - p0);
                float b = p0 == 0 ? beta : 1;
                float* bp = packed + (long)p0 * nPanels * NR;
                for (int cl = 0; cl < a.Count; cl++)
                {
                    int ranges = 0, end = a.Starts[cl + 1];                        // the class's taps in this block, from its start
                    for (int j = a.RangeStarts[cl]; j < a.RangeStarts[cl + 1]; j++)
                    {
                        int q0 = Math.Max(a.Ranges[2 * j], p0), q1 = Math.Min(a.Ranges[2 * j + 1], p0 + kc);
                        if (q0 < q1) { inBlock[2 * ranges] = q0 - p0; inBlock[2 * ranges + 1] = q1 - p0; ranges++; }
                    }
                    for (int i = a.Starts[cl]; i < end; i += MR)
                    {
                        int h = Math.Min(MR, end - i);
                        for (int r = 0; r < MR; r++) rows[r] = a.ARows[i + Math.Min(r, h - 1)];   // rows past the end repeat the last, dropped
                        for (int jp = 0; jp < n; jp += NR)
                        {
                            int w = Math.Min(NR, n - jp);
                            float* bPanel = bp + (long)(jp / NR) * kc * NR;
                            if (w == NR)
                            {
                                // each row stored where C's row lies; rows past the end into the scratch tile
                                for (int r = 0; r < MR; r++) outputs[r] = r < h ? a.CRows[i + r] + jp : tile + r * NR;
                                if (Wide) Kernel512Ranges(inBlock, ranges, rows, a.Offsets + p0, bPanel, outputs, b);
                                else Kernel256Ranges(inBlock, ranges, rows, a.Offsets + p0, bPanel, outputs, b);
                                continue;
                            }
                            for (int r = 0; r < MR; r++) outputs[r] = tile + r * NR;
                            if (Wide) Kernel512Ranges(inBlock, ranges, rows, a.Offsets + p0, bPanel, outputs, 0);
                            else Kernel256Ranges(inBlock, ranges, rows, a.Offsets + p0, bPanel, outputs, 0);
                            for (int r = 0; r < h; r++) StoreTile(tile + r * NR, NR, a.CRows[i + r] + jp, a.Ldc, 1, w, b);
                        }
                    }
                }
            }
        }
        return true;
    }

    /// <summary>
    /// <see cref="Kernel256{TElements}"/> over the k steps in <paramref name="count"/> ranges ([ranges[2j], ranges[2j + 1]), in
    /// order) instead of all of them: one sum per row in registers throughout, so the same sums as over every step when the
    /// steps left out add zeros. Element q of a row at offsets[q] from its start; B's row q at b + q·16; C's row r at c[r].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256Ranges(int* ranges, int count, float** rows, int* offsets, float* b, float** c, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
                         c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        float* r0 = rows[0], r1 = rows[1], r2 = rows[2], r3 = rows[3], r4 = rows[4], r5 = rows[5];
        for (int j = 0; j < count; j++)
        {
            int q1 = ranges[2 * j + 1];
            float* bq = b + (long)ranges[2 * j] * 16;
            for (int q = ranges[2 * j]; q < q1; q++)
            {
                long p = offsets[q];
                var b0 = Vector256.Load(bq);
                var b1 = Vector256.Load(bq + 8);
                var a0 = Vector256.Create(r0[p]); c00 = Vector256.FusedMultiplyAdd(a0, b0, c00); c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
                var a1 = Vector256.Create(r1[p]); c10 = Vector256.FusedMultiplyAdd(a1, b0, c10); c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
                var a2 = Vector256.Create(r2[p]); c20 = Vector256.FusedMultiplyAdd(a2, b0, c20); c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
                var a3 = Vector256.Create(r3[p]); c30 = Vector256.FusedMultiplyAdd(a3, b0, c30); c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
                var a4 = Vector256.Create(r4[p]); c40 = Vector256.FusedMultiplyAdd(a4, b0, c40); c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
                var a5 = Vector256.Create(r5[p]); c50 = Vector256.FusedMultiplyAdd(a5, b0, c50); c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
                bq += 16;
            }
        }
        Store256(c[0], c00, c01, beta); Store256(c[1], c10, c11, beta); Store256(c[2], c20, c21, beta);
        Store256(c[3], c30, c31, beta); Store256(c[4], c40, c41, beta); Store256(c[5], c50, c51, beta);
    }

    /// <summary><see cref="Kernel256Ranges"/> at twice the width: B's row q at b + q·32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512Ranges(int* ranges, int count, float** rows, int* offsets, float* b, float** c, float beta)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
                         c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        float* r0 = rows[0], r1 = rows[1], r2 = rows[2], r3 = rows[3], r4 = rows[4], r5 = rows[5];
        for (int j = 0; j < count; j++)
        {
            int q1 = ranges[2 * j + 1];
            float* bq = b + (long)ranges[2 * j] * 32;
            for (int q = ranges[2 * j]; q < q1; q++)
            {
                long p = offsets[q];
                var b0 = Vector512.Load(bq);
                var b1 = Vector512.Load(bq + 16);
                var a0 = Vector512.Create(r0[p]); c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
                var a1 = Vector512.Create(r1[p]); c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
                var a2 = Vector512.Create(r2[p]); c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
                var a3 = Vector512.Create(r3[p]); c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
                var a4 = Vector512.Create(r4[p]); c40 = Vector512.FusedMultiplyAdd(a4, b0, c40); c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
                var a5 = Vector512.Create(r5[p]); c50 = Vector512.FusedMultiplyAdd(a5, b0, c50); c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
                bq += 32;
            }
        }
        Store512(c[0], c00, c01, beta); Store512(c[1], c10, c11, beta); Store512(c[2], c20, c21, beta);
        Store512(c[3], c30, c31, beta); Store512(c[4], c40, c41, beta); Store512(c[5], c50, c51, beta);
    }

    /// <summary>
    /// Any columns: in NR-wide panels, the last one cut by B's edge read from a copy (<see cref="LastPanel"/>); or with AVX-512,
    /// 16 columns or fewer, in the narrow kernel, B's rows read where they lie (fewer than 16 under a mask). Not the shapes the
    /// laid-out GEMM computes as Cᵀ (few columns against many rows: 25 x 6 wastes less of its tiles as 6 x 25) whose windows lie
    /// in runs of <see cref="ShortRun"/> floats or more: laying those out copies whole vectors, and the narrow kernel's 8 x 16
    /// tiles cost more than Cᵀ's. Below 16 columns with AVX-512, and for every Cᵀ shape, the windows had been laid out by im2col.
    /// First layers' backward at batch 64, `specnet bench`, builds alternating twice (Zen 5): LeNet-5's 28x28x1 -> 6 5x5 'same'
    /// (25 x 6 as Cᵀ, runs of 5) 0.70-0.88 -> 0.31-0.37 ms, with AVX2 0.69 -> 0.39-0.40; 28x28x1 -> 8 1.03-1.35 -> 0.42-0.48;
    /// 28x28x3 -> 6 3x3 (runs of 9) 0.86-0.88 -> 0.42-0.46; 28x28x3 -> 6 5x5 (15) 1.03-1.21 -> 0.74-0.76; 14x14x64 -> 8 3x3 (576 x
    /// 8) 1.57-1.67 -> 1.25-1.37. Cᵀ shapes over longer runs were level or slower gathered: 28x28x8 -> 4 3x3 (24) 0.61-0.77 ->
    /// 0.73, 14x14x8 -> 6 5x5 (40) 0.37-0.43 -> 0.41, 14x14x64 -> 4 3x3 (192) 0.85-0.99 -> 1.39-1.46.
    /// </summary>
    public override bool GathersTransposed(int m, int n, int k, int run) =>
        GathersRows && m > 0 && n > 0 && k > 0 && (run < ShortRun || !Transposed(WeightGradientJob(m, n, k)));

    /// <summary>Floats one after another in a window below which laying it out costs more than the gathered kernel's waste on Cᵀ's shapes.</summary>
    private const int ShortRun = 16;

    /// <summary>The shape of Aᵀ B (m, n) over k rows, as <see cref="GemmOnThread"/> would be asked for it: which of its paths it takes.</summary>
    private static Job WeightGradientJob(int m, int n, int k) => new(Op.T, Op.N, m, n, k, null, m, null, n, 0, null, n);

    /// <summary>
    /// Aᵀ B as <see cref="GemmOnThread"/> computes it for the laid-out rows, the same kernel summing over the rows in the same
    /// order: over all of them when it takes the unpacked path (<see cref="Direct"/>: a weight gradient over a chunk of at most
    /// <see cref="DirectMaxK"/> rows), else in blocks of <see cref="KC"/> rows added to C one after another, as
    /// <see cref="RunRows"/> does (a first convolution's chunks of 14,196 rows, 28x28x1 -> 32 at batch 64: 3.2 -> 1.4 ms on one
    /// thread, 1.7 -> 0.8 on two, Zen 1: im2col copied one float at a time). Where the laid-out GEMM computes Cᵀ, its blocks are
    /// Cᵀ's and their sum is added to beta·C at the end: so here too. Only where it finds A's elements differs: a tile's MR rows
    /// of Aᵀ are MR elements of the window, each at its offset, and step q is row q's start, from a table made once per call.
    /// </summary>
    public override bool GemmGatheredTransposed(int thread, in GatheredRows a, int k, int n, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        int m = a.K;
        if (!GathersTransposed(m, n, k, GatheredRows.LeadingRun(new ReadOnlySpan<int>(a.Offsets, m)))) return false;
        if (b.Length < (long)(k - 1) * ldb + n || c.Length < (long)(m - 1) * ldc + n) throw new ArgumentException("gathered GEMM: buffers of the wrong size");
        if (_rowStarts[thread].Length < k) _rowStarts[thread] = new int[k];
        bool transposed = Transposed(WeightGradientJob(m, n, k));
        int block = transposed ? (UseDirect(WeightGradientJob(n, m, k), n) ? k : KC) : UseDirect(WeightGradientJob(m, n, k), m) ? k : KC;
        fixed (float* pb = b, pc = c)
        fixed (int* steps = _rowStarts[thread])
        {
            var cursor = a.From(0);
            for (int q = 0; q < k; q++) steps[q] = checked((int)(cursor.Next() - a.Base));
            if (!transposed || beta == 0)
            {
                GatheredTiles(thread, a, m, n, k, steps, pb, ldb, pc, ldc, beta, block);
                return true;
            }
            // Cᵀ's blocks summed from zero, then added to beta·C, as GemmOnThread adds them
            fixed (float* partial = Grow(ref _partial[thread], m * n))
            {
                GatheredTiles(thread, a, m, n, k, steps, pb, ldb, partial, n, 0, block);
                for (int i = 0; i < m; i++)
                    for (int q = 0; q < n; q++)
                    {
                        ref float dst = ref pc[(long)i * ldc + q];
                        dst = beta * dst + partial[i * n + q];
                    }
            }
        }
        return true;
    }

    /// <summary>C (m, n) = Aᵀ B + beta·C over k gathered rows (their starts in <paramref name="steps"/>), in blocks of <paramref name="block"/> rows.</summary>
    private void GatheredTiles(int thread, in GatheredRows a, int m, int n, int k, int* steps, float* pb, int ldb, float* pc, int ldc, float beta, int block)
    {
        bool narrow = Wide && n <= 16;                                            // the narrow kernel's 8 x 16 tiles, as the laid-out GEMM's
        int tileRows = narrow ? MRN : MR;
        float** rows = stackalloc float*[MRN];
        float* tile = stackalloc float[MRN * 32];
        if (narrow && n == 16 && InRuns(a.Offsets, m))
        {
            WeightGradientRuns(k, m / 16, a.Base, a.Offsets, steps, pb, ldb, pc, ldc, beta, block);
            return;
        }
        if (!narrow && block > CarryRows && (m > MR || n > NR))
        {
            CarriedTiles(thread, a, m, n, k, steps, pb, ldb, n % NR == 0 ? null : LastPanel(thread, pb, ldb, k, n), pc, ldc, beta, rows, block);
            return;
        }
        float* last = n % NR == 0 || narrow ? null : LastPanel(thread, pb, ldb, k, n);
        for (int jp = 0; jp < n; jp += NR)
        {
            int w = Math.Min(NR, n - jp);
            float* panel = w == NR || narrow ? pb + jp : last;
            int stride = w == NR || narrow ? ldb : NR;
            for (int i = 0; i < m; i += tileRows)
            {
                int h = Math.Min(tileRows, m - i);
                for (int r = 0; r < tileRows; r++) rows[r] = a.Base + a.Offsets[i + Math.Min(r, h - 1)];
                float* cTile = pc + (long)i * ldc + jp;
                for (int p0 = 0; p0 < k; p0 += block)
                {
                    int kc = Math.Min(block, k - p0);
                    float blockBeta = p0 == 0 ? beta : 1;
                    var elements = new Gathered(steps + p0);
                    float* bBlock = panel + (long)p0 * stride;
                    if (narrow && n == 16) NarrowTile(kc, rows, elements, bBlock, ldb, cTile, ldc, blockBeta, h, 16);
                    else if (narrow) KernelNarrow(kc, rows, elements, bBlock, new Cut(ldb, n), cTile, ldc, blockBeta, null, h, n);
                    else if (h == MR && w == NR) Tile(kc, rows, elements, bBlock, stride, cTile, ldc, blockBeta);
                    else CutTile(kc, rows, elements, bBlock, stride, cTile, ldc, blockBeta, h, w, tile);   // a 3x3 window over one channel: 9 = 6 + 3
                }
            }
        }
    }

    /// <summary>
    /// B's columns from its last whole panel on, k rows, copied NR apart into this thread's scratch: the panel the kernels read
    /// where NR columns from its start would run past B's rows (into the next row, and at the last past B). Columns past B's
    /// edge are left as they are: their lanes' sums are never stored.
    /// </summary>
    private float* LastPanel(int thread, float* b, int ldb, int k, int n)
    {
        int from = n / NR * NR, w = n - from;
        // on the pinned heap: its address outlives this call
        if (_lastPanel[thread].Length < (long)k * NR) _lastPanel[thread] = GC.AllocateArray<float>(k * NR, pinned: true);
        float* panel = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_lastPanel[thread]));
        for (int q = 0; q < k; q++) new ReadOnlySpan<float>(b + (long)q * ldb + from, w).CopyTo(new Span<float>(panel + (long)q * NR, w));
        return panel;
    }

    /// <summary>Rows of A and B a block of <see cref="CarriedTiles"/> takes through every tile.</summary>
    private const int CarryRows = 64;

    /// <summary>
    /// The tiles of <see cref="GemmGatheredTransposed"/> (each tile's sums over a block of rows in its registers, then added to C:
    /// over all k rows on the direct path, else KC rows at a time), taken CarryRows rows at a time through every tile, each tile's
    /// sums parked in scratch between them (stored and loaded again: the same floats). A tile over a whole block streamed the
    /// block's rows from L2 once per tile (a 1x1 convolution over 64 channels: 11 x 2 tiles); CarryRows rows stay in L1 for all.
    /// Weight gradients at batch 64, alternating in one process (Zen 5): 14x14x64 -> 64 1x1 0.52 -> 0.42 ms, 14x14x32 -> 64 0.29 -> 0.23,
    /// 7x7x64 -> 128 0.22 -> 0.21, 28x28x16 -> 32 by 2 0.082 -> 0.073; 28x28x16 -> 32 level. Blocks of 32 rows lost (0.49), of 128 drew.
    /// </summary>
    private void CarriedTiles(int thread, in GatheredRows a, int m, int n, int k, int* steps, float* pb, int ldb, float* last, float* pc, int ldc, float beta,
        float** rows, int block)
    {
        int down = (m + MR - 1) / MR, panels = (n + NR - 1) / NR, size = MR * NR;
        if (_parked[thread].Length < down * panels * size) _parked[thread] = new float[down * panels * size];
        fixed (float* parked = _parked[thread])
            for (int start = 0; start < k; start += block)
            {
                int end = Math.Min(k, start + block);
                for (int p0 = start; p0 < end; p0 += CarryRows)
                {
                    int kc = Math.Min(CarryRows, end - p0);
                    var elements = new Gathered(steps + p0);
                    for (int jp = 0, t = 0; jp < n; jp += NR)
                    {
                        // a panel cut by B's edge from its copy (LastPanel), NR apart
                        bool whole = jp + NR <= n;
                        float* panel = whole ? pb + (long)p0 * ldb + jp : last + (long)p0 * NR;
                        int stride = whole ? ldb : NR;
                        for (int i = 0; i < m; i += MR, t++)
                        {
                            for (int r = 0; r < MR; r++) rows[r] = a.Base + a.Offsets[Math.Min(i + r, m - 1)];   // a last tile's missing rows repeat its last, dropped
                            EdgeTile(kc, rows, elements, panel, stride, parked + t * size, Math.Min(MR, m - i), resume: p0 > start);
                        }
                    }
                }
                float blockBeta = start == 0 ? beta : 1;
                for (int jp = 0, t = 0; jp < n; jp += NR)
                    for (int i = 0; i < m; i += MR, t++)
                    {
                        int h = Math.Min(MR, m - i), w = Math.Min(NR, n - jp);
                        if (w == NR) StoreRows(parked + t * size, pc + (long)i * ldc + jp, ldc, h, blockBeta);
                        else StoreTile(parked + t * size, NR, pc + (long)i * ldc + jp, ldc, h, w, blockBeta);
                    }
            }
    }

    /// <summary>C's h rows of NR (ldc apart) = a parked tile's + beta·C, as the kernels store theirs.</summary>
    private static void StoreRows(float* tile, float* c, int ldc, int h, float beta)
    {
        for (int r = 0; r < h; r++, tile += NR, c += ldc)
            if (Wide) Store512(c, Vector512.Load(tile), Vector512.Load(tile + 16), beta);
            else Store256(c, Vector256.Load(tile), Vector256.Load(tile + 8), beta);
    }

    /// <summary>
    /// C (K, 16) = windowsᵀ dZ + beta·C for windows whose offsets come in runs of 16 (16 channels, or a multiple, under each tap),
    /// as outer products: at each position, three runs' 16 channels (three vectors) times 8 filters' gradients (broadcasts) into 24 sums,
    /// 12 loads for 24 FMAs where the 8 x 16 tile of <see cref="KernelNarrow{TElements, TStride}"/> takes 10 for 8. Each sum is
    /// built as that tile builds it: over the positions of a block in order from zero, each block's sums added to C in turn
    /// (here to a running total in vectors, C read and written once: written back per block, transposed, it took longer than
    /// the tile). Zen 5, batch 64, alternating in one process: 28x28x16 -> 16's weight gradient 0.94 -> 0.83 ms.
    /// </summary>
    private static void WeightGradientRuns(int k, int runs, float* x, int* offsets, int* steps, float* dz, int ldz, float* c, int ldc, float beta, int block)
    {
        const int Sums = 8 * 3 * 16;
        float* sums = stackalloc float[Sums];
        float* totals = stackalloc float[Sums];
        for (int t0 = 0; t0 < runs; t0 += 3)
        {
            // a last tile of fewer than three runs repeats its last run, computed and dropped
            int t1 = Math.Min(t0 + 1, runs - 1), t2 = Math.Min(t0 + 2, runs - 1), o0 = offsets[t0 * 16], width = Math.Min(3, runs - t0);
            for (int f0 = 0; f0 < 16; f0 += 8)
            {
                for (int p0 = 0; p0 < k; p0 += block)
                {
                    OuterProducts(Math.Min(block, k - p0), x + o0, offsets[t1 * 16] - o0, offsets[t2 * 16] - o0, steps + p0, dz + (long)p0 * ldz + f0, ldz, sums);
                    if (p0 > 0)
                        for (int i = 0; i < Sums; i += 16) (Vector512.Load(totals + i) + Vector512.Load(sums + i)).Store(totals + i);
                    else if (beta == 0) new Span<float>(sums, Sums).CopyTo(new Span<float>(totals, Sums));
                    else
                        for (int t = 0; t < width; t++)
                            for (int ch = 0; ch < 16; ch++)
                                for (int f = 0; f < 8; f++)
                                {
                                    int at = (f * 3 + t) * 16 + ch;
                                    totals[at] = MathF.FusedMultiplyAdd(beta, c[(long)((t0 + t) * 16 + ch) * ldc + f0 + f], sums[at]);
                                }
                }
                for (int t = 0; t < width; t++)
                    for (int ch = 0; ch < 16; ch++)
                    {
                        float* row = c + (long)((t0 + t) * 16 + ch) * ldc + f0;
                        for (int f = 0; f < 8; f++) row[f] = totals[(f * 3 + t) * 16 + ch];
                    }
            }
        }
    }

    /// <summary>sums[(f·3 + t)·16 + ch] = Σ over the kc positions q of x[steps[q] + o_t + ch] · dz[q·ldz + f], from zero in order (o_t: run t's offset from the first run's, o_0 = 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OuterProducts(int kc, float* x, int o1, int o2, int* steps, float* dz, int ldz, float* sums)
    {
        Vector512<float> s00 = default, s01 = default, s02 = default, s10 = default, s11 = default, s12 = default,
                         s20 = default, s21 = default, s22 = default, s30 = default, s31 = default, s32 = default,
                         s40 = default, s41 = default, s42 = default, s50 = default, s51 = default, s52 = default,
                         s60 = default, s61 = default, s62 = default, s70 = default, s71 = default, s72 = default;
        for (int q = 0; q < kc; q++)
        {
            float* xq = x + steps[q];
            var x0 = Vector512.Load(xq);
            var x1 = Vector512.Load(xq + o1);
            var x2 = Vector512.Load(xq + o2);
            var d = Vector512.Create(dz[0]); s00 = Vector512.FusedMultiplyAdd(x0, d, s00); s01 = Vector512.FusedMultiplyAdd(x1, d, s01); s02 = Vector512.FusedMultiplyAdd(x2, d, s02);
            d = Vector512.Create(dz[1]); s10 = Vector512.FusedMultiplyAdd(x0, d, s10); s11 = Vector512.FusedMultiplyAdd(x1, d, s11); s12 = Vector512.FusedMultiplyAdd(x2, d, s12);
            d = Vector512.Create(dz[2]); s20 = Vector512.FusedMultiplyAdd(x0, d, s20); s21 = Vector512.FusedMultiplyAdd(x1, d, s21); s22 = Vector512.FusedMultiplyAdd(x2, d, s22);
            d = Vector512.Create(dz[3]); s30 = Vector512.FusedMultiplyAdd(x0, d, s30); s31 = Vector512.FusedMultiplyAdd(x1, d, s31); s32 = Vector512.FusedMultiplyAdd(x2, d, s32);
            d = Vector512.Create(dz[4]); s40 = Vector512.FusedMultiplyAdd(x0, d, s40); s41 = Vector512.FusedMultiplyAdd(x1, d, s41); s42 = Vector512.FusedMultiplyAdd(x2, d, s42);
            d = Vector512.Create(dz[5]); s50 = Vector512.FusedMultiplyAdd(x0, d, s50); s51 = Vector512.FusedMultiplyAdd(x1, d, s51); s52 = Vector512.FusedMultiplyAdd(x2, d, s52);
            d = Vector512.Create(dz[6]); s60 = Vector512.FusedMultiplyAdd(x0, d, s60); s61 = Vector512.FusedMultiplyAdd(x1, d, s61); s62 = Vector512.FusedMultiplyAdd(x2, d, s62);
            d = Vector512.Create(dz[7]); s70 = Vector512.FusedMultiplyAdd(x0, d, s70); s71 = Vector512.FusedMultiplyAdd(x1, d, s71); s72 = Vector512.FusedMultiplyAdd(x2, d, s72);
            dz += ldz;
        }
        s00.Store(sums); s01.Store(sums + 16); s02.Store(sums + 32); s10.Store(sums + 48); s11.Store(sums + 64); s12.Store(sums + 80);
        s20.Store(sums + 96); s21.Store(sums + 112); s22.Store(sums + 128); s30.Store(sums + 144); s31.Store(sums + 160); s32.Store(sums + 176);
        s40.Store(sums + 192); s41.Store(sums + 208); s42.Store(sums + 224); s50.Store(sums + 240); s51.Store(sums + 256); s52.Store(sums + 272);
        s60.Store(sums + 288); s61.Store(sums + 304); s62.Store(sums + 320); s70.Store(sums + 336); s71.Store(sums + 352); s72.Store(sums + 368);
    }

    /// <summary>Rows split between threads in whole MR panels.</summary>
    private void RowsWork(int t)
    {
        var j = _job;
        var (start, end) = Slice((j.M + MR - 1) / MR, _pool.Count, t);
        if (start < end) RunRows(j, start * MR, Math.Min(end * MR, j.M), t);
    }

    /// <summary>One GEMM call's operands (pointers into pinned spans).</summary>
    private struct Job(Op opA, Op opB, int m, int n, int k, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        public Op OpA = opA, OpB = opB;
        public int M = m, N = n, K = k, Lda = lda, Ldb = ldb, Ldc = ldc;
        public float* A = a, B = b, C = c;
        public float Beta = beta;
    }

    /// <summary>Rows [i0, i1) of C, all columns; B packed by this thread (rows split: each packs its own copy of the B block).</summary>
    private void RunRows(Job j, int i0, int i1, int thread)
    {
        if (UseDirect(j, i1 - i0)) { Direct(j, i0, i1, thread); return; }
        int nPanels = (j.N + NR - 1) / NR;
        var packedB = ThreadB(thread, KC * nPanels * NR);
        for (int pc = 0; pc < j.K; pc += KC)
        {
            int kc = Math.Min(KC, j.K - pc);
            fixed (float* bp = packedB)
            {
                PackB(j, pc, kc, 0, j.N, bp);
                for (int ic = i0; ic < i1; ic += MC)
                {
                    int mc = Math.Min(MC, i1 - ic);
                    MacroWithA(j, thread, ic, mc, pc, kc, 0, j.N, bp, j.C);
                }
            }
        }
    }

    /// <summary>Columns split between threads (C has few rows, e.g. a dense layer on one batch).</summary>
    private void ColumnsWork(int t)
    {
        var j = _job;
        int threads = _pool.Count;
        int nPanels = (j.N + NR - 1) / NR;
        var (p0, p1) = Slice(nPanels, threads, t);
        if (p0 >= p1) return;
        int j0 = p0 * NR, j1 = Math.Min(p1 * NR, j.N);
        var packedB = ThreadB(t, KC * (p1 - p0) * NR);
        for (int pc = 0; pc < j.K; pc += KC)
        {
            int kc = Math.Min(KC, j.K - pc);
            fixed (float* bp = packedB)
            {
                PackB(j, pc, kc, j0, j1 - j0, bp);
                for (int ic = 0; ic < j.M; ic += MC)
                {
                    int mc = Math.Min(MC, j.M - ic);
                    MacroWithA(j, t, ic, mc, pc, kc, j0, j1 - j0, bp, j.C + j0);
                }
            }
        }
    }

    /// <summary>
    /// K split between threads into private partial sums, then added into C. The partial product is
    /// computed in whichever orientation wastes less of the MR x NR tiles: C or Cᵀ = op(B)ᵀ op(A)ᵀ
    /// (a convolution's weight gradient with 9 columns is better computed as 9 rows).
    /// </summary>
    private void RunSplitK(Job j, int threads)
    {
        _swap = Transposed(j);
        _job = j;
        _pool.Run(_splitKWork);
        bool swap = _swap;
        for (int i = 0; i < j.M; i++)
        {
            var row = new Span<float>(j.C + (long)i * j.Ldc, j.N);
            if (j.Beta == 0) row.Clear(); else if (j.Beta != 1) Elementwise.Scale(row, j.Beta);
            for (int t = 0; t < threads; t++)
            {
                if (!swap) { Elementwise.Add(row, _partial[t].AsSpan(i * j.N, j.N)); continue; }
                var partial = _partial[t];
                for (int q = 0; q < j.N; q++) row[q] += partial[q * j.M + i];
            }
        }
    }

    private void SplitKWork(int t)
    {
        var j = _job;
        int size = j.M * j.N;
        bool swap = _swap;
        int threads = _pool.Count;
        var (k0, k1) = Slice(j.K, threads, t);
        var partial = Grow(ref _partial[t], size);
        fixed (float* pp = partial)
        {
            if (k1 <= k0) { new Span<float>(pp, size).Clear(); return; }
            var sub = j;
            sub.K = k1 - k0; sub.Beta = 0; sub.C = pp;
            sub.A = j.OpA == Op.N ? j.A + k0 : j.A + (long)k0 * j.Lda;
            sub.B = j.OpB == Op.N ? j.B + (long)k0 * j.Ldb : j.B + k0;
            if (swap)
            {
                // Pᵀ (n x m) = op(B)ᵀ op(A)ᵀ
                sub = new Job(j.OpB == Op.N ? Op.T : Op.N, j.OpA == Op.N ? Op.T : Op.N, j.N, j.M, k1 - k0, sub.B, j.Ldb, sub.A, j.Lda, 0, pp, j.M);
            }
            else sub.Ldc = j.N;
            RunRows(sub, 0, sub.M, t);
        }
    }

    /// <summary>
    /// Runs the micro-kernels over rows [ic, ic+mc) and n columns for one K block. A is packed when it is
    /// transposed (but for the narrow kernel); otherwise the kernel reads it in place.
    /// </summary>
    private void MacroWithA(in Job j, int thread, int ic, int mc, int pc, int kc, int j0, int n, float* bp, float* c)
    {
        float beta = pc == 0 ? j.Beta : 1f;
        // A in place, its tile's six rows read as six streams, the same sums as packed. With 256-bit vectors (an AMD EPYC
        // Zen 1, one thread) it was as fast or faster for every shape tried, up to 1024 x 1024 x 1024, and packing cost 10-25%
        // (64-128 columns: 7x7x64 and 11x11x32 convolutions 28 -> 36 GFLOP/s). With AVX-512 A had been packed for more than two
        // panels and K blocks over 32; in place it was as fast or faster there too (Zen 5, two threads, batch 64, `specnet bench`,
        // the two builds alternating three times, medians): 1x1 convolutions' input gradients over 14x14 maps, dY W of 480 or 576
        // columns to 80 or 96, 7.3 -> 3.7 and 9.6 -> 5.0 ms, 240 to 40 0.83 -> 0.68, 256 to 64 1.14 -> 1.02; dense layers
        // 784-1024-1024-512-10 at batch 256, training step 15.9 -> 13.2 ms; the reference models' layers level.
        if (j.OpA == Op.N)
        {
            Macro(ic, mc, n, kc, j.A + (long)ic * j.Lda + pc, j.Lda, 1, packed: false, bp, beta, c, j.Ldc);
            return;
        }
        if (Wide && n <= 16 && j.OpA == Op.T)
        {
            Macro(ic, mc, n, kc, j.A + (long)pc * j.Lda + ic, 1, j.Lda, packed: false, bp, beta, c, j.Ldc);
            return;
        }
        var packedA = Grow(ref _packedA[thread], KC * (MC + MR));
        fixed (float* ap = packedA)
        {
            PackA(j, ic, mc, pc, kc, ap);
            Macro(ic, mc, n, kc, ap, 1, MR, packed: true, bp, beta, c, j.Ldc);
        }
    }

    /// <summary>
    /// The unpacked path: the kernel streams A (either orientation) and B's panels in place over all of K,
    /// C written once. Chosen when packing would cost more than it saves: a few rows of C against one
    /// panel (a first convolution's weight gradient, 9 x 32 over K = 43,264), or a weight gradient
    /// Aᵀ B over a chunk of rows that stays in cache, its last panel copied where B's edge cuts it (<see cref="LastPanel"/>),
    /// but fewer than 16 columns with AVX-512, which the packed path runs in the narrow kernel. With AVX-512 a B of 16 columns had
    /// gone that way too, packed at every call; the narrow kernel now reads it where it lies. Winograd's weight gradient over 16
    /// filters (16 or 36 GEMMs of 16 x 16 a round of tiles) for 28x28x16 -> 16 at batch 64, alone on a Zen 5: by F(3x3, 2x2)
    /// 1.47 -> 0.66 ms, by F(3x3, 4x4) 0.87 -> 0.41. No reference model's plan takes that path with AVX-512 (their weight
    /// gradients of 16 filters are direct, through the gathered GEMM); a grouped convolution of 16 filters a group, or a dense
    /// layer of 16 units, does (the latter's backward level: 0.020 ms).
    /// </summary>
    private static bool UseDirect(in Job j, int rows) =>
        j.OpB == Op.N && (j.N == NR && rows <= 2 * MR || j.OpA == Op.T && j.K <= DirectMaxK && (j.N % NR == 0 || !Wide || j.N >= 16));

    /// <summary>Longest K the unpacked path streams for a transposed A (a chunk's rows: B's panel stays in L2).</summary>
    private const int DirectMaxK = 2048;

    private void Direct(in Job j, int i0, int i1, int thread)
    {
        float** rows = stackalloc float*[MR];
        float* tile = stackalloc float[MR * 32];
        int rowStride = j.OpA == Op.N ? j.Lda : 1, kStride = j.OpA == Op.N ? 1 : j.Lda;
        // B's panel that its edge cuts, copied NR apart; with AVX-512 a B of 16 columns (one vector a row) read where it lies
        bool inPlace = Wide && j.N == 16;
        float* last = j.N % NR == 0 ? null : inPlace ? j.B : LastPanel(thread, j.B, j.Ldb, j.K, j.N);
        int lastStride = inPlace ? j.Ldb : NR;
        for (int jp = 0; jp < j.N; jp += NR)
        {
            int w = Math.Min(NR, j.N - jp), ldb = w == NR ? j.Ldb : NR;
            float* b = w == NR ? j.B + jp : last;
            if (Wide && w <= 16)
            {
                // a last panel of 16 columns or fewer in the narrow kernel, as Macro runs it: the same sums
                MacroNarrow(i0, i1 - i0, w, j.K, j.A + (long)i0 * rowStride, rowStride, kStride, packed: false, last, lastStride, j.Beta, j.C + jp, j.Ldc);
                continue;
            }
            for (int i = i0; i < i1; i += MR)
            {
                int h = Math.Min(MR, i1 - i);
                for (int r = 0; r < MR; r++) rows[r] = j.A + (long)(i + Math.Min(r, h - 1)) * rowStride;
                float* cTile = j.C + (long)i * j.Ldc + jp;
                if (h == MR && w == NR) Tile(j.K, rows, new Strided(kStride), b, ldb, cTile, j.Ldc, j.Beta);
                else CutTile(j.K, rows, new Strided(kStride), b, ldb, cTile, j.Ldc, j.Beta, h, w, tile);
            }
        }
    }

    private float[] ThreadB(int thread, int size) => Grow(ref _packedB[thread], size);

    private static float[] Grow(ref float[] buffer, int size)
    {
        if (buffer.Length < size) buffer = GC.AllocateUninitializedArray<float>(size, pinned: true);
        return buffer;
    }

    /// <summary>op(B)[pc:pc+kc, j0:j0+n] into panels of NR columns: panel p holds kc rows of NR floats, zero-padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(in Job j, int pc, int kc, int j0, int n, float* dst)
    {
        int nr = NR;
        for (int jp = 0; jp < n; jp += nr)
        {
            int w = Math.Min(nr, n - jp);
            float* panel = dst + (long)(jp / nr) * kc * nr;
            for (int p = 0; p < kc; p++)
            {
                float* row = panel + p * nr;
                if (j.OpB == Op.N)
                {
                    float* src = j.B + (long)(pc + p) * j.Ldb + j0 + jp;
                    if (w == nr) Unsafe.CopyBlockUnaligned(row, src, (uint)(nr * sizeof(float)));
                    else { for (int q = 0; q < w; q++) row[q] = src[q]; for (int q = w; q < nr; q++) row[q] = 0; }
                }
                else if (p == 0)
                {
                    // op(B) = Bᵀ: column q of the panel is row (j0 + jp + q) of B, 8 x 8 blocks transposed in registers where they
                    // are whole (a float at a time, a Winograd kernel's 36 packings took as long as its transform), the rest a float at a time
                    float* first = j.B + (long)(j0 + jp) * j.Ldb + pc;
                    int whole = Avx.IsSupported ? w / 8 * 8 : 0, wholeK = kc / 8 * 8;
                    for (int q = 0; q < whole; q += 8)
                        for (int k = 0; k < wholeK; k += 8) Elementwise.Transpose8x8(first + (long)q * j.Ldb + k, j.Ldb, panel + k * nr + q, nr);
                    for (int q = 0; q < nr; q++)
                    {
                        float* src = first + (long)q * j.Ldb;
                        if (q < w) for (int k = q < whole ? wholeK : 0; k < kc; k++) panel[k * nr + q] = src[k];
                        else for (int k = 0; k < kc; k++) panel[k * nr + q] = 0;
                    }
                }
            }
        }
    }

    /// <summary>Aᵀ[ic:ic+mc, pc:pc+kc] (A transposed: the only A packed) into panels of MR rows: panel holds kc columns of MR floats, zero-padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(in Job j, int ic, int mc, int pc, int kc, float* dst)
    {
        if (j.OpA != Op.T) throw new ArgumentException("GEMM: only a transposed A is packed (MacroWithA)");
        for (int ip = 0; ip < mc; ip += MR)
        {
            int h = Math.Min(MR, mc - ip);
            float* panel = dst + (long)(ip / MR) * kc * MR;
            for (int p = 0; p < kc; p++)
            {
                float* src = j.A + (long)(pc + p) * j.Lda + ic + ip;
                for (int r = 0; r < h; r++) panel[p * MR + r] = src[r];
            }
            if (h < MR)
                for (int p = 0; p < kc; p++)
                    for (int r = h; r < MR; r++) panel[p * MR + r] = 0;
        }
    }

    /// <summary>
    /// All MR x NR tiles of rows [ic, ic+mc) x columns [0, n). A element (row r, k p) of the block is at
    /// a[r * rowStride + p * kStride] when A is in place (either orientation), or in packed panels (MR rows, kStride MR, panel after panel).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Macro(int ic, int mc, int n, int kc, float* a, int rowStride, int kStride, bool packed, float* bp, float beta, float* c, int ldc)
    {
        if (Wide && n <= 16) { MacroNarrow(ic, mc, n, kc, a, rowStride, kStride, packed, bp, NR, beta, c, ldc); return; }
        int nr = NR;
        float* tile = stackalloc float[MR * 32];
        float** rows = stackalloc float*[MR];
        for (int jp = 0; jp < n; jp += nr)
        {
            int w = Math.Min(nr, n - jp);
            float* bPanel = bp + (long)(jp / nr) * kc * nr;
            if (Wide && w <= 16)
            {
                // a last panel of 16 columns or fewer: the narrow kernel, instead of 32 columns with half of them padding
                MacroNarrow(ic, mc, w, kc, a, rowStride, kStride, packed, bPanel, NR, beta, c + jp, ldc);
                continue;
            }
            for (int ip = 0; ip < mc; ip += MR)
            {
                int h = Math.Min(MR, mc - ip);
                float* aPanel = packed ? a + (long)(ip / MR) * kc * MR : a + (long)ip * rowStride;
                // Rows past the edge repeat the last valid row: computed and dropped (CutTile).
                for (int r = 0; r < MR; r++) rows[r] = aPanel + (packed ? r : (long)Math.Min(r, h - 1) * rowStride);
                float* cTile = c + (long)(ic + ip) * ldc + jp;
                if (h == MR && w == nr) Tile(kc, rows, new Strided(kStride), bPanel, nr, cTile, ldc, beta);
                else CutTile(kc, rows, new Strided(kStride), bPanel, nr, cTile, ldc, beta, h, w, tile);
            }
        }
    }

    /// <summary>
    /// Rows of the narrow micro-kernel: 8 accumulators of one vector each, as many as keep two FMA units busy through a 4-cycle
    /// latency. Its 8 row pointers, B, the step and its bound fit x64's free general registers; with 12 rows the JIT kept five row
    /// pointers and the offsets table on the stack and reloaded them at every step (Zen 5, batch 64, forward and both gradients
    /// alternating in one process: 28x28x16 -> 16 forward 0.99 -> 0.88 ms, backward 2.03 -> 1.84 ms).
    /// </summary>
    private const int MRN = 8;

    /// <summary>
    /// C with at most 16 columns (a convolution with 16 filters and its weight gradient): an 8 x 16 micro-kernel,
    /// one vector per row, instead of the 6 x 32 one that would compute 16 columns of zeros. B's panels are read
    /// in place (their first 16 columns, rows <paramref name="bStride"/> apart); A as <see cref="Macro"/> gives it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MacroNarrow(int ic, int mc, int n, int kc, float* a, int rowStride, int kStride, bool packed, float* bp, int bStride, float beta, float* c, int ldc)
    {
        float** rows = stackalloc float*[MRN];
        for (int ip = 0; ip < mc; ip += MRN)
        {
            int h = Math.Min(MRN, mc - ip);
            for (int r = 0; r < MRN; r++)
            {
                int row = ip + Math.Min(r, h - 1);     // rows past the edge repeat the last valid one, computed into the tile and dropped
                rows[r] = packed ? a + (long)(row / MR) * kc * MR + row % MR : a + (long)row * rowStride;
            }
            float* cTile = c + (long)(ic + ip) * ldc;
            NarrowTile(kc, rows, new Strided(kStride), bp, bStride, cTile, ldc, beta, h, n);
        }
    }

    /// <summary>
    /// An h x w tile of C (at most MRN x 16) by the narrow kernel, straight into C (a tile cut by C's edge under a mask: it had
    /// gone through a scratch tile and <see cref="StoreTile"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void NarrowTile<TElements>(int kc, float** rows, TElements elements, float* b, int bStride, float* c, int ldc, float beta, int h, int w,
        ColumnMap* map = null) where TElements : struct, IElements
    {
        // B's stride a constant where it can be (packed panels, a 16-filter dY): held in a register it pushed a row pointer onto the stack
        if (bStride == 32) KernelNarrow(kc, rows, elements, b, new Fixed<ThirtyTwo>(), c, ldc, beta, map, h, w);     // a packed panel of B (NR with AVX-512)
        else if (bStride == 16) KernelNarrow(kc, rows, elements, b, new Fixed<Sixteen>(), c, ldc, beta, map, h, w);
        else KernelNarrow(kc, rows, elements, b, new Any(bStride), c, ldc, beta, map, h, w);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void KernelNarrow<TElements, TStride>(int kc, float** rows, TElements elements, float* b, TStride bStride, float* c, int ldc, float beta,
        ColumnMap* map = null, int h = MRN, int w = 16) where TElements : struct, IElements where TStride : struct, IStride
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        float* r0 = rows[0], r1 = rows[1], r2 = rows[2], r3 = rows[3], r4 = rows[4], r5 = rows[5], r6 = rows[6], r7 = rows[7];
        for (int q = 0; q < kc; q++)
        {
            long p = elements.At(q);
            var bv = bStride.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(r0[p]), bv, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(r1[p]), bv, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(r2[p]), bv, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(r3[p]), bv, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(r4[p]), bv, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(r5[p]), bv, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(r6[p]), bv, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(r7[p]), bv, c7);
            b += bStride.Floats;
        }
        if (h < MRN || w < 16)
        {
            // a tile cut by C's edge: its first h rows and w columns stored straight into C under a mask
            var (mask, cut) = (Lanes512.FirstLanes(w), new ColumnCoefficients<Lanes512, Vector512<float>>(map, 0, w));
            StoreCut1(c, c0, beta, mask, cut);
            if (h > 1) StoreCut1(c + ldc, c1, beta, mask, cut);
            if (h > 2) StoreCut1(c + 2 * ldc, c2, beta, mask, cut);
            if (h > 3) StoreCut1(c + 3 * ldc, c3, beta, mask, cut);
            if (h > 4) StoreCut1(c + 4 * ldc, c4, beta, mask, cut);
            if (h > 5) StoreCut1(c + 5 * ldc, c5, beta, mask, cut);
            if (h > 6) StoreCut1(c + 6 * ldc, c6, beta, mask, cut);
            if (h > 7) StoreCut1(c + 7 * ldc, c7, beta, mask, cut);
            return;
        }
        var columns = new ColumnCoefficients<Lanes512, Vector512<float>>(map, 0);
        Store1(c, c0, beta, columns); Store1(c + ldc, c1, beta, columns); Store1(c + 2 * ldc, c2, beta, columns); Store1(c + 3 * ldc, c3, beta, columns);
        Store1(c + 4 * ldc, c4, beta, columns); Store1(c + 5 * ldc, c5, beta, columns); Store1(c + 6 * ldc, c6, beta, columns); Store1(c + 7 * ldc, c7, beta, columns);
    }

    /// <summary>Whether a window's offsets come in runs of 16 consecutive floats (16 channels or a multiple under each tap), for <see cref="KernelNarrowRuns"/>.</summary>
    private static bool InRuns(int* offsets, int kc)
    {
        if (kc % 16 != 0) return false;
        var step = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (int q = 0; q < kc; q += 16)   // a run at a time (Winograd's GEMMs over 16 channels ask this of 16 offsets, 36 times a round)
            if (Vector512.Load(offsets + q) != Vector512.Create(offsets[q]) + step) return false;
        return true;
    }

    /// <summary>
    /// <see cref="KernelNarrow{TElements, TStride}"/> for windows whose offsets come in runs of 16 (B a packed panel, rows 32
    /// apart): each run's offset read once, the elements under it one after another. The same sums in the same order; one
    /// load fewer per step, 9 for 8 FMAs (Zen 5, batch 64, alternating in one process: 28x28x16 -> 16 forward 0.88 -> 0.85
    /// ms, its input gradient by the same path 0.89 -> 0.86 ms).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void KernelNarrowRuns(int kc, float** rows, int* offsets, float* b, float* c, int ldc, float beta, ColumnMap* map = null)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        float* r0 = rows[0], r1 = rows[1], r2 = rows[2], r3 = rows[3], r4 = rows[4], r5 = rows[5], r6 = rows[6], r7 = rows[7];
        for (int q = 0; q < kc; q += 16)
        {
            long p = offsets[q], end = p + 16;
            for (; p < end; p++)
            {
                var bv = Vector512.Load(b);
                c0 = Vector512.FusedMultiplyAdd(Vector512.Create(r0[p]), bv, c0);
                c1 = Vector512.FusedMultiplyAdd(Vector512.Create(r1[p]), bv, c1);
                c2 = Vector512.FusedMultiplyAdd(Vector512.Create(r2[p]), bv, c2);
                c3 = Vector512.FusedMultiplyAdd(Vector512.Create(r3[p]), bv, c3);
                c4 = Vector512.FusedMultiplyAdd(Vector512.Create(r4[p]), bv, c4);
                c5 = Vector512.FusedMultiplyAdd(Vector512.Create(r5[p]), bv, c5);
                c6 = Vector512.FusedMultiplyAdd(Vector512.Create(r6[p]), bv, c6);
                c7 = Vector512.FusedMultiplyAdd(Vector512.Create(r7[p]), bv, c7);
                b += 32;
            }
        }
        var columns = new ColumnCoefficients<Lanes512, Vector512<float>>(map, 0);
        Store1(c, c0, beta, columns); Store1(c + ldc, c1, beta, columns); Store1(c + 2 * ldc, c2, beta, columns); Store1(c + 3 * ldc, c3, beta, columns);
        Store1(c + 4 * ldc, c4, beta, columns); Store1(c + 5 * ldc, c5, beta, columns); Store1(c + 6 * ldc, c6, beta, columns); Store1(c + 7 * ldc, c7, beta, columns);
    }

    /// <summary>
    /// <see cref="KernelNarrowRuns"/> over 14 rows that lie 16 floats apart (positions of one output row over 16 channels at
    /// stride 1): one row pointer, the others at fixed distances from it, so the 14 sums fit in registers with it where 14 row
    /// pointers would not. 15 loads for 14 FMAs instead of 9 for 8; the same sums in the same order (Zen 5, batch 64,
    /// alternating in one process: 28x28x16 -> 16 forward 0.84 -> 0.77 ms, its input gradient by the same path 0.86 -> 0.79 ms).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void KernelNarrowRuns14(int kc, float* r, int* offsets, float* b, float* c, int ldc, float beta, ColumnMap* map = null)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default,
                         c7 = default, c8 = default, c9 = default, c10 = default, c11 = default, c12 = default, c13 = default;
        for (int q = 0; q < kc; q += 16)
        {
            float* a = r + offsets[q], end = a + 16;
            for (; a < end; a++)
            {
                var bv = Vector512.Load(b);
                c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), bv, c0);
                c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[16]), bv, c1);
                c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[32]), bv, c2);
                c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a[48]), bv, c3);
                c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a[64]), bv, c4);
                c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a[80]), bv, c5);
                c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a[96]), bv, c6);
                c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a[112]), bv, c7);
                c8 = Vector512.FusedMultiplyAdd(Vector512.Create(a[128]), bv, c8);
                c9 = Vector512.FusedMultiplyAdd(Vector512.Create(a[144]), bv, c9);
                c10 = Vector512.FusedMultiplyAdd(Vector512.Create(a[160]), bv, c10);
                c11 = Vector512.FusedMultiplyAdd(Vector512.Create(a[176]), bv, c11);
                c12 = Vector512.FusedMultiplyAdd(Vector512.Create(a[192]), bv, c12);
                c13 = Vector512.FusedMultiplyAdd(Vector512.Create(a[208]), bv, c13);
                b += 32;
            }
        }
        if (beta == 0 && map == null)   // Winograd's products: stored as they are, without the checks of each store (16 steps of K are short)
        {
            c0.Store(c); c1.Store(c + ldc); c2.Store(c + 2 * ldc); c3.Store(c + 3 * ldc); c4.Store(c + 4 * ldc); c5.Store(c + 5 * ldc); c6.Store(c + 6 * ldc);
            c7.Store(c + 7 * ldc); c8.Store(c + 8 * ldc); c9.Store(c + 9 * ldc); c10.Store(c + 10 * ldc); c11.Store(c + 11 * ldc); c12.Store(c + 12 * ldc); c13.Store(c + 13 * ldc);
            return;
        }
        var columns = new ColumnCoefficients<Lanes512, Vector512<float>>(map, 0);
        Store1(c, c0, beta, columns); Store1(c + ldc, c1, beta, columns); Store1(c + 2 * ldc, c2, beta, columns); Store1(c + 3 * ldc, c3, beta, columns);
        Store1(c + 4 * ldc, c4, beta, columns); Store1(c + 5 * ldc, c5, beta, columns); Store1(c + 6 * ldc, c6, beta, columns); Store1(c + 7 * ldc, c7, beta, columns);
        Store1(c + 8 * ldc, c8, beta, columns); Store1(c + 9 * ldc, c9, beta, columns); Store1(c + 10 * ldc, c10, beta, columns); Store1(c + 11 * ldc, c11, beta, columns);
        Store1(c + 12 * ldc, c12, beta, columns); Store1(c + 13 * ldc, c13, beta, columns);
    }

    /// <summary>
    /// How far apart B's rows lie, in floats: a constant the JIT folds in (<see cref="Fixed{T}"/>), or a value (<see cref="Any"/>);
    /// and how a row's 16 floats are read: whole, or only the first few under a mask (<see cref="Cut"/>).
    /// </summary>
    private interface IStride
    {
        int Floats { get; }
        Vector512<float> Load(float* b);
    }
    private interface IConstant { static abstract int Value { get; } }
    private readonly struct ThirtyTwo : IConstant { public static int Value => 32; }
    private readonly struct Sixteen : IConstant { public static int Value => 16; }
    private readonly struct Fixed<T> : IStride where T : struct, IConstant
    {
        public int Floats => T.Value;
        public Vector512<float> Load(float* b) => Vector512.Load(b);
    }
    private readonly struct Any(int floats) : IStride
    {
        public int Floats => floats;
        public Vector512<float> Load(float* b) => Vector512.Load(b);
    }

    /// <summary>
    /// Rows of fewer than 16 columns read where they lie (a weight gradient's dY of fewer than 16 filters), their first
    /// <c>width</c> floats under a mask: the last row's never past B's end; the lanes after them zero, their sums never stored.
    /// </summary>
    private readonly struct Cut(int floats, int width) : IStride
    {
        private readonly Vector512<float> _mask = Lanes512.FirstLanes(width);
        public int Floats => floats;
        public Vector512<float> Load(float* b) => Avx512F.MaskLoad(b, _mask, Vector512<float>.Zero);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store1(float* c, Vector512<float> v, float beta, in ColumnCoefficients<Lanes512, Vector512<float>> map = default)
    {
        if (beta != 0) v = Vector512.FusedMultiplyAdd(Vector512.Create(beta), Vector512.Load(c), v);
        if (map.Any) v = map.Apply(v);
        v.Store(c);
    }

    /// <summary><see cref="Store1"/> under a mask: the lanes that lie inside C.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreCut1(float* c, Vector512<float> v, float beta, Vector512<float> mask, in ColumnCoefficients<Lanes512, Vector512<float>> map)
    {
        if (beta != 0) v = Vector512.FusedMultiplyAdd(Vector512.Create(beta), Avx512F.MaskLoad(c, mask, Vector512<float>.Zero), v);
        if (map.Any) v = map.Apply(v);
        Avx512F.MaskStore(c, mask, v);
    }


    // Generic over structs: the JIT compiles one copy per addressing and row count, each with At inlined and the rows it
    // does not compute left out.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512<TElements, TRows>(int kc, float** rows, TElements elements, float* b, int bStride, float* c, int ldc, float beta,
        bool resume = false, ColumnMap* map = null, int h = MR, int w = 32) where TElements : struct, IElements where TRows : struct, ITileRows
    {
        bool six = typeof(TRows) == typeof(Six);
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
                         c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        if (resume)   // the sums carried on from where an earlier call parked them in C (stored with beta 0)
        {
            (c00, c01, c10, c11, c20, c21) = (Vector512.Load(c), Vector512.Load(c + 16), Vector512.Load(c + ldc), Vector512.Load(c + ldc + 16),
                Vector512.Load(c + 2 * ldc), Vector512.Load(c + 2 * ldc + 16));
            if (six)
                (c30, c31, c40, c41, c50, c51) = (Vector512.Load(c + 3 * ldc), Vector512.Load(c + 3 * ldc + 16), Vector512.Load(c + 4 * ldc),
                    Vector512.Load(c + 4 * ldc + 16), Vector512.Load(c + 5 * ldc), Vector512.Load(c + 5 * ldc + 16));
        }
        float* r0 = rows[0], r1 = rows[1], r2 = rows[2], r3 = six ? rows[3] : null, r4 = six ? rows[4] : null, r5 = six ? rows[5] : null;
        for (int q = 0; q < kc; q++)
        {
            long p = elements.At(q);
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var a0 = Vector512.Create(r0[p]); c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector512.Create(r1[p]); c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector512.Create(r2[p]); c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            if (six)
            {
                var a3 = Vector512.Create(r3[p]); c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
                var a4 = Vector512.Create(r4[p]); c40 = Vector512.FusedMultiplyAdd(a4, b0, c40); c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
                var a5 = Vector512.Create(r5[p]); c50 = Vector512.FusedMultiplyAdd(a5, b0, c50); c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            }
            b += bStride;
        }
        if (h < (six ? MR : 3) || w < 32)
        {
            // a tile cut by C's edge: its first h rows and w columns stored straight into C under masks
            var (mLo, mHi) = (Lanes512.FirstLanes(w), Lanes512.FirstLanes(w - 16));
            var (kLo, kHi) = (new ColumnCoefficients<Lanes512, Vector512<float>>(map, 0, w), new ColumnCoefficients<Lanes512, Vector512<float>>(map, 16, w - 16));
            StoreCut512(c, c00, c01, beta, mLo, mHi, kLo, kHi);
            if (h > 1) StoreCut512(c + ldc, c10, c11, beta, mLo, mHi, kLo, kHi);
            if (h > 2) StoreCut512(c + 2 * ldc, c20, c21, beta, mLo, mHi, kLo, kHi);
            if (!six) return;
            if (h > 3) StoreCut512(c + 3 * ldc, c30, c31, beta, mLo, mHi, kLo, kHi);
            if (h > 4) StoreCut512(c + 4 * ldc, c40, c41, beta, mLo, mHi, kLo, kHi);
            if (h > 5) StoreCut512(c + 5 * ldc, c50, c51, beta, mLo, mHi, kLo, kHi);
            return;
        }
        var (lo, hi) = (new ColumnCoefficients<Lanes512, Vector512<float>>(map, 0), new ColumnCoefficients<Lanes512, Vector512<float>>(map, 16));
        Store512(c, c00, c01, beta, lo, hi); Store512(c + ldc, c10, c11, beta, lo, hi); Store512(c + 2 * ldc, c20, c21, beta, lo, hi);
        if (!six) return;
        Store512(c + 3 * ldc, c30, c31, beta, lo, hi); Store512(c + 4 * ldc, c40, c41, beta, lo, hi); Store512(c + 5 * ldc, c50, c51, beta, lo, hi);
    }

    /// <summary><see cref="Store512"/> under masks: the lanes of a row of a tile that lie inside C (the same operations on them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreCut512(float* c, Vector512<float> lo, Vector512<float> hi, float beta, Vector512<float> mLo, Vector512<float> mHi,
        in ColumnCoefficients<Lanes512, Vector512<float>> kLo, in ColumnCoefficients<Lanes512, Vector512<float>> kHi)
    {
        if (beta != 0)
        {
            var bv = Vector512.Create(beta);
            lo = Vector512.FusedMultiplyAdd(bv, Avx512F.MaskLoad(c, mLo, Vector512<float>.Zero), lo);
            hi = Vector512.FusedMultiplyAdd(bv, Avx512F.MaskLoad(c + 16, mHi, Vector512<float>.Zero), hi);
        }
        if (kLo.Any) (lo, hi) = (kLo.Apply(lo), kHi.Apply(hi));
        Avx512F.MaskStore(c, mLo, lo);
        Avx512F.MaskStore(c + 16, mHi, hi);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, Vector512<float> lo, Vector512<float> hi, float beta, in ColumnCoefficients<Lanes512, Vector512<float>> mapLo = default, in ColumnCoefficients<Lanes512, Vector512<float>> mapHi = default)
    {
        if (beta != 0)
        {
            var bv = Vector512.Create(beta);
            lo = Vector512.FusedMultiplyAdd(bv, Vector512.Load(c), lo);
            hi = Vector512.FusedMultiplyAdd(bv, Vector512.Load(c + 16), hi);
        }
        if (mapLo.Any) (lo, hi) = (mapLo.Apply(lo), mapHi.Apply(hi));
        lo.Store(c); hi.Store(c + 16);
    }

    /// <summary>A whole MR x NR tile at this CPU's width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile<TElements>(int kc, float** rows, TElements elements, float* b, int bStride, float* c, int ldc, float beta, ColumnMap* map = null)
        where TElements : struct, IElements
    {
        if (Wide) Kernel512<TElements, Six>(kc, rows, elements, b, bStride, c, ldc, beta, map: map);
        else Kernel256<TElements, Six>(kc, rows, elements, b, bStride, c, ldc, beta, map: map);
    }

    /// <summary>Where the micro-kernel finds A's element q of a row: q·stride from its start, or at an offset from a table (a convolution's window read in place).</summary>
    private interface IElements { long At(int q); }
    private readonly struct Strided(int stride) : IElements { public long At(int q) => (long)q * stride; }
    private readonly struct Gathered(int* offsets) : IElements { public long At(int q) => offsets[q]; }

    /// <summary>How many of a tile's rows the micro-kernel computes: all six, or the first three (a last tile of 1-3 rows).</summary>
    private interface ITileRows;
    private readonly struct Six : ITileRows;
    private readonly struct Three : ITileRows;

    /// <summary>
    /// A tile, h of its rows wanted, into the scratch tile (rows NR apart): one cut by C's edge, for StoreTile, or with
    /// <paramref name="resume"/> a tile's sums carried on from where they were parked there (<see cref="CarriedTiles"/>). With three
    /// rows or fewer the kernel computes rows 0-2 alone, not six with the rest dropped (six had made the pooled model's first
    /// convolution's carried weight gradient, 9 = 6 + 3 rows, 0.114 -> 0.137 ms). Each sum is built in the same order either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void EdgeTile<TElements>(int kc, float** rows, TElements elements, float* b, int bStride, float* tile, int h, bool resume = false)
        where TElements : struct, IElements
    {
        if (Wide)
        {
            if (h <= 3) Kernel512<TElements, Three>(kc, rows, elements, b, bStride, tile, NR, 0, resume);
            else Kernel512<TElements, Six>(kc, rows, elements, b, bStride, tile, NR, 0, resume);
        }
        else if (h <= 3) Kernel256<TElements, Three>(kc, rows, elements, b, bStride, tile, NR, 0, resume);
        else Kernel256<TElements, Six>(kc, rows, elements, b, bStride, tile, NR, 0, resume);
    }

    /// <summary>
    /// An h x w tile cut by C's edge (fewer than MR rows or NR columns): with AVX-512 straight into C under masks, the map
    /// applied there as for a whole tile; with AVX2 into the scratch tile, then its part inside C stored (<see cref="StoreTile"/>,
    /// whose map takes whole vectors of columns only). The same sums either way. Through the scratch tile with AVX-512, a
    /// 28x28x20 -> 20 convolution had spent 4% of its training step copying its cut tiles, and 3% more in a pass of its own
    /// for the bias and relu that a cut panel could not take.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CutTile<TElements>(int kc, float** rows, TElements elements, float* b, int bStride, float* c, int ldc, float beta, int h, int w,
        float* tile, ColumnMap* map = null) where TElements : struct, IElements
    {
        if (Wide)
        {
            if (h <= 3) Kernel512<TElements, Three>(kc, rows, elements, b, bStride, c, ldc, beta, map: map, h: h, w: w);
            else Kernel512<TElements, Six>(kc, rows, elements, b, bStride, c, ldc, beta, map: map, h: h, w: w);
            return;
        }
        EdgeTile(kc, rows, elements, b, bStride, tile, h);
        StoreTile(tile, NR, c, ldc, h, w, beta, map);
    }

    // The same micro-kernel at half the width, for CPUs without AVX-512. .NET has no public interface over vector widths
    // (Vector256 and Vector512 do not implement ISimdVector publicly), so the two were written out; the depthwise kernels and the
    // epilogue's coefficients are now written once over ILanes (Lanes.cs), and these two could be too.
    // Generic over structs: the JIT compiles one copy per addressing and row count, each with At inlined and the rows it
    // does not compute left out.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256<TElements, TRows>(int kc, float** rows, TElements elements, float* b, int bStride, float* c, int ldc, float beta,
        bool resume = false, ColumnMap* map = null) where TElements : struct, IElements where TRows : struct, ITileRows
    {
        bool six = typeof(TRows) == typeof(Six);
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
                         c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        if (resume)   // the sums carried on from where an earlier call parked them in C (stored with beta 0)
        {
            (c00, c01, c10, c11, c20, c21) = (Vector256.Load(c), Vector256.Load(c + 8), Vector256.Load(c + ldc), Vector256.Load(c + ldc + 8),
                Vector256.Load(c + 2 * ldc), Vector256.Load(c + 2 * ldc + 8));
            if (six)
                (c30, c31, c40, c41, c50, c51) = (Vector256.Load(c + 3 * ldc), Vector256.Load(c + 3 * ldc + 8), Vector256.Load(c + 4 * ldc),
                    Vector256.Load(c + 4 * ldc + 8), Vector256.Load(c + 5 * ldc), Vector256.Load(c + 5 * ldc + 8));
        }
        float* r0 = rows[0], r1 = rows[1], r2 = rows[2], r3 = six ? rows[3] : null, r4 = six ? rows[4] : null, r5 = six ? rows[5] : null;
        for (int q = 0; q < kc; q++)
        {
            long p = elements.At(q);
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var a0 = Vector256.Create(r0[p]); c00 = Vector256.FusedMultiplyAdd(a0, b0, c00); c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector256.Create(r1[p]); c10 = Vector256.FusedMultiplyAdd(a1, b0, c10); c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector256.Create(r2[p]); c20 = Vector256.FusedMultiplyAdd(a2, b0, c20); c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            if (six)
            {
                var a3 = Vector256.Create(r3[p]); c30 = Vector256.FusedMultiplyAdd(a3, b0, c30); c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
                var a4 = Vector256.Create(r4[p]); c40 = Vector256.FusedMultiplyAdd(a4, b0, c40); c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
                var a5 = Vector256.Create(r5[p]); c50 = Vector256.FusedMultiplyAdd(a5, b0, c50); c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            }
            b += bStride;
        }
        Store256(c, c00, c01, beta); Store256(c + ldc, c10, c11, beta); Store256(c + 2 * ldc, c20, c21, beta);
        if (six) { Store256(c + 3 * ldc, c30, c31, beta); Store256(c + 4 * ldc, c40, c41, beta); Store256(c + 5 * ldc, c50, c51, beta); }
        if (map != null) MapRows256(c, ldc, six ? 6 : 3, map);
    }

    /// <summary>
    /// The map over a tile's rows of two vectors, as they lie in C (in L1: just stored). With 256-bit vectors the tile's twelve
    /// sums fill 12 of the 16 registers, and the map's ten coefficient vectors applied as each row is stored went to the stack
    /// and back at every row; here the sums are stored and dead, and the coefficients stay in registers. Not inlined: a kernel
    /// of its own for the register allocator. The same operations on the same values as <see cref="ColumnCoefficients{TL, TV}.Apply"/>.
    /// AVX-512 off on a Zen 5, inference as eval runs it, the old and new stores alternating in one process, the same floats: at
    /// batch 1000 the strided model 11.33 -> 10.76 ms, the pooled 19.32 -> 17.48, the residual 62.1 -> 59.7, the depthwise 35.1 -> 30.3
    /// (its 1x1 convolutions); a single image 2-16% faster; the first convolution of the strided model alone 1.40 -> 1.03 ms.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void MapRows256(float* c, int ldc, int rows, ColumnMap* map)
    {
        var (lo, hi) = (new ColumnCoefficients<Lanes256, Vector256<float>>(map, 0), new ColumnCoefficients<Lanes256, Vector256<float>>(map, 8));
        for (int r = 0; r < rows; r++, c += ldc)
        {
            lo.Apply(Vector256.Load(c)).Store(c);
            hi.Apply(Vector256.Load(c + 8)).Store(c + 8);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* c, Vector256<float> lo, Vector256<float> hi, float beta)
    {
        if (beta != 0)
        {
            var bv = Vector256.Create(beta);
            lo = Vector256.FusedMultiplyAdd(bv, Vector256.Load(c), lo);
            hi = Vector256.FusedMultiplyAdd(bv, Vector256.Load(c + 8), hi);
        }
        lo.Store(c); hi.Store(c + 8);
    }

    /// <summary>
    /// C's top-left h x w = tile (rows tileStride apart) + beta·C: how a tile computed into scratch is stored, when it is cut by C's
    /// edge with AVX2 (<see cref="CutTile"/>), or parked (<see cref="CarriedTiles"/>), or for dot products.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StoreTile(float* tile, int tileStride, float* c, int ldc, int h, int w, float beta, ColumnMap* map = null)
    {
        // A map only from CutTile with AVX2, and there over whole vectors of columns (GemmGathered maps only then; with AVX-512 a
        // cut tile is stored under masks in the kernel): tile + beta·C as below, then the map
        if (map != null)
        {
            for (int r = 0; r < h; r++)
                for (int q = 0; q < w; q += 8)
                {
                    float* from = tile + r * tileStride + q, to = c + (long)r * ldc + q;
                    var t = Vector256.Load(from);
                    if (beta != 0) t += Vector256.Create(beta) * Vector256.Load(to);
                    new ColumnCoefficients<Lanes256, Vector256<float>>(map, q).Apply(t).Store(to);
                }
            return;
        }
        // in vectors, then one float at a time: an edge tile's store cost more than its sums where K is small (a 1x1 convolution
        // of 16 channels to 24 filters: 1.27 ms forward at batch 64, 4 times 16 to 32 filters', 28% of its step in this loop)
        for (int r = 0; r < h; r++)
        {
            float* from = tile + r * tileStride, to = c + (long)r * ldc;
            int q = 0;
            if (Wide)
                for (; q + 16 <= w; q += 16)
                    (beta == 0 ? Vector512.Load(from + q) : Vector512.Load(from + q) + Vector512.Create(beta) * Vector512.Load(to + q)).Store(to + q);
            for (; q + 8 <= w; q += 8)
                (beta == 0 ? Vector256.Load(from + q) : Vector256.Load(from + q) + Vector256.Create(beta) * Vector256.Load(to + q)).Store(to + q);
            for (; q < w; q++) to[q] = beta == 0 ? from[q] : from[q] + beta * to[q];
        }
    }

    private static void Scale(Span<float> c, int m, int n, int ldc, float beta)
    {
        for (int i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (beta == 0) row.Clear(); else Elementwise.Scale(row, beta);
        }
    }
}
