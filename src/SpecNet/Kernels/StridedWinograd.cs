using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SpecNet.Kernels;

/// <summary>
/// A 3x3 stride-2 convolution by Winograd's F(3x3, 2x2) over its input's four phases. Output (i, j) reads input (2i + a, 2j + b):
/// split by the parities (r, s) of a and b, it is the sum of four stride-1 convolutions, each of the input's phase
/// X_rs[u, v] = x[2u + r, 2v + s] with the taps w[2p + r, 2q + s]: a 2x2 kernel on the even rows and columns, 2x1, 1x2 and 1x1
/// on the others. Each is F(3x3, 2x2) with its kernel padded to 2x2 (Lavin and Gray's transposed F(2x2, 3x3): V = Bᵀ d B over a 4x4
/// phase tile, U = G g Gᵀ with G = [1 0; 1 1; 1 -1; 0 -1], Y = Aᵀ M A with Aᵀ = [1 ½ ½ 0; 0 ½ -½ 0; 0 ½ ½ 1]); a padded
/// kernel's transform is zero in its last row or column of ξ, so those products are never formed, and the four phases add in
/// the transformed domain: one GEMM per element ξ of the 4x4 transform, over the phases whose U_ξ is not zero (K = 4C for the
/// nine inner ξ, 2C for the six on one edge, C for the corner). 49 multiplies per 3x3 tile, channel and filter against the
/// direct sum's 81: 0.6 of them, in GEMMs with K up to 4C. Aᵀ's halves are folded into U (exact: powers of two).
/// Inference runs forward by it where it pays (<see cref="Fits"/>); the sums are rounded differently from the direct ones.
/// </summary>
public sealed unsafe class StridedWinograd : IWinogradForward
{
    private const int Tile = 3, Patch = 7;            // output tile's side; the input patch's under it
    private const int Skew = 16;                      // floats between the matrices of V and of M, so they do not start 4 KB apart

    private readonly bool _always;                    // every block, paying or not (the tests)
    private readonly ConvGeometry _g;
    private readonly int _c, _f, _tilesWide, _most;   // channels, filters, tiles across an output row, tiles per round at most
    private readonly long _vStride;                   // floats between the matrices of V: (phase, ξ), each (tiles, C)
    private readonly int[] _k = new int[16];          // per ξ: its GEMM's K, C for each phase taking part
    private readonly int[] _uAt = new int[16];        // per ξ: where U_ξ (F, K_ξ) starts in _u
    private readonly float[] _u, _packed;             // the transformed kernel; each U_ξ as the backend's gathered GEMM reads it
    private readonly int[] _packedAt = new int[16];   // per ξ: where it starts in _packed
    private readonly int[][] _offsets = new int[16][];// per ξ: a tile's row of V_ξ, its phases' matrices side by side
    private readonly KernelSource _uFrom = new();
    private readonly float[]?[] _v, _m;               // per thread: a round's transformed input and products, made at its first round
    private readonly float[]?[] _laid;                // per thread, without a gathered GEMM: V_ξ's rows laid out, made at its first round
    private readonly float[] _zeros;                  // what a tile reads in the padding

    /// <summary>Phase (r, s) takes part in ξ = (a, b) unless its kernel's padding zeroes U there: a = 3 with r = 1, b = 3 with s = 1.</summary>
    private static bool TakesPart(int phase, int xi) => !((phase >> 1) == 1 && xi >> 2 == 3 || (phase & 1) == 1 && (xi & 3) == 3);

    /// <summary>Whether <paramref name="g"/> is a convolution this computes: 3x3, stride 2, undilated, one group, channels and filters in whole 256-bit vectors.</summary>
    public static bool Computes(ConvGeometry g) =>
        Vector256.IsHardwareAccelerated && g.Rows is { Kernel: 3, Stride: 2, Dilation: 1 } && g.Cols is { Kernel: 3, Stride: 2, Dilation: 1 }
        && g.Groups == 1 && g.Input.Channels % 8 == 0 && g.Filters % 8 == 0 && g.Input.Channels > 0 && g.Filters > 0;

    /// <summary>
    /// Whether it also pays: 32 channels or more and 16 filters, and a quarter of the multiplies saved against the taps inside
    /// the input (a 6x6 output takes four whole tiles: 0.6 of them; a 2x2 output one tile of 49 against 36 taps: never). With 16
    /// channels (the residual model's 28x28x16 -> 32, 0.73 of the multiplies in GEMMs of K = 64, 32 and 16) its whole inference
    /// at batch 1000 was level with AVX2 (60.8 against 61.4 ms) and 3% slower with AVX-512 (42.6 against 41.3; Zen 5).
    /// </summary>
    public static bool Fits(ConvGeometry g)
    {
        if (!Computes(g) || g.Input.Channels < 32 || g.Filters < 16) return false;
        double direct = (double)g.Rows.TapsInside * g.Cols.TapsInside;
        double winograd = 49.0 * ((g.Rows.Output + Tile - 1) / Tile) * ((g.Cols.Output + Tile - 1) / Tile);
        return winograd <= 0.75 * direct;
    }

    public StridedWinograd(ConvGeometry g, Backend kernels, bool always = false)
    {
        if (!Computes(g)) throw new ArgumentException($"strided Winograd F(3x3, 2x2) does not compute {g}");
        (_g, _always) = (g, always);
        (_c, _f) = (g.Input.Channels, g.Filters);
        _tilesWide = (g.Cols.Output + Tile - 1) / Tile;
        _most = Math.Clamp(262144 / (49 * _c + 16 * _f) / 6 * 6, 24, 126);
        _vStride = (long)_most * _c + Skew;
        int uSize = 0, packedSize = 0;
        for (int xi = 0; xi < 16; xi++)
        {
            int[] phases = Enumerable.Range(0, 4).Where(p => TakesPart(p, xi)).ToArray();
            _k[xi] = phases.Length * _c;
            // V_ξ's row for a tile: its phases' rows, each C floats in that phase's matrix for ξ (16·phase matrices on)
            _offsets[xi] = phases.SelectMany(p => Enumerable.Range(0, _c).Select(c => checked((int)(16 * p * _vStride + c)))).ToArray();
            (_uAt[xi], uSize) = (uSize, uSize + _f * _k[xi]);
            (_packedAt[xi], packedSize) = (packedSize, packedSize + (kernels.GathersRows ? kernels.GatheredPackSize(_f, _k[xi]) : 0));
        }
        (_u, _packed) = (new float[uSize], new float[packedSize]);
        (_v, _m, _laid) = (new float[kernels.Threads][], new float[kernels.Threads][], new float[kernels.Threads][]);
        _zeros = new float[_c];
    }

    /// <summary>Whether a block has tiles enough to fill its GEMMs (a single image's 6x6 output is four tiles: the direct sums).</summary>
    public bool Pays(int examples, int rows) => _always || (long)examples * TilesPerExample(rows) >= 24;

    public int TilesPerExample(int rows) => (rows + Tile - 1) / Tile * _tilesWide;

    /// <summary>U_ξ (F, K_ξ) as <see cref="Transform"/> last made it, ξ after ξ (for the tests).</summary>
    internal ReadOnlySpan<float> TransformedKernel => _u;

    /// <summary>
    /// U_ξ for each filter, the phases taking part side by side: (G g_rs Gᵀ)_ξ times Aᵀ's halves, in double then rounded once; and
    /// packed for the backend. Not again while w is unchanged.
    /// </summary>
    public void Transform(Backend kernels, ReadOnlySpan<float> w, Repack when)
    {
        if (_uFrom.Holds(w, when)) return;
        ReadOnlySpan<double> half = [1, 0.5, 0.5, 1];
        for (int xi = 0; xi < 16; xi++)
        {
            int a = xi >> 2, b = xi & 3, k = _k[xi];
            double scale = half[a] * half[b];
            for (int f = 0; f < _f; f++)
            {
                int slot = 0;
                for (int phase = 0; phase < 4; phase++)
                {
                    if (!TakesPart(phase, xi)) continue;
                    int r = phase >> 1, s = phase & 1;
                    for (int c = 0; c < _c; c++)
                    {
                        double sum = 0;                                     // Σ G[a, p] w[2p + r, 2q + s] G[b, q]
                        for (int p = 0; p < 2 - r; p++)
                            for (int q = 0; q < 2 - s; q++)
                                sum += G(a, p) * w[((f * 3 + 2 * p + r) * 3 + 2 * q + s) * _c + c] * G(b, q);
                        _u[_uAt[xi] + f * k + slot * _c + c] = (float)(sum * scale);
                    }
                    slot++;
                }
            }
            if (kernels.GathersRows)
                kernels.PackGathered(_u.AsSpan(_uAt[xi], _f * k), k, _f, k, _packed.AsSpan(_packedAt[xi], kernels.GatheredPackSize(_f, k)));
        }
        _uFrom.Made(w, when);
    }

    /// <summary>G = [1 0; 1 1; 1 -1; 0 -1].</summary>
    private static double G(int row, int col) => row switch { 0 => col == 0 ? 1 : 0, 1 => 1, 2 => col == 0 ? 1 : -1, _ => col == 0 ? 0 : -1 };

    /// <summary>
    /// Output rows [oh0, oh1) of examples [n0, n1) of x into y (the block's first output row, row stride <paramref name="ldy"/>),
    /// on thread <paramref name="part"/>. The tiles start at row oh0; their rows and columns past the block's end are computed
    /// and not stored.
    /// </summary>
    public void Forward(Backend kernels, bool nested, int part, float* x, int n0, int n1, int oh0, int oh1, float* y, int ldy, ColumnMap* map = null)
    {
        int tilesHigh = (oh1 - oh0 + Tile - 1) / Tile, tiles = (n1 - n0) * tilesHigh * _tilesWide;
        var rounds = new Winograd.Rounds(tiles, _most);
        float** cells = stackalloc float*[64];
        var vs = _v[part] ??= new float[64 * _vStride];
        var ms = _m[part] ??= new float[16 * (_most * _f + Skew)];
        fixed (float* v = vs, m = ms, zeros = _zeros, u = _u, packed = _packed)
        {
            for (int round = 0; round < rounds.Count; round++)
            {
                int t0 = rounds.Start(round), t1 = rounds.Start(round + 1), count = t1 - t0;
                long mStride = (long)count * _f + Skew;
                var tile = new Winograd.Tiles(t0, _tilesWide, tilesHigh, Tile);
                for (int t = t0; t < t1; t++, tile.Next())
                    InputTile(x, zeros, cells, n0 + tile.Example, 2 * (oh0 + tile.Row) - _g.Rows.PadBefore, 2 * tile.Col - _g.Cols.PadBefore, v + (long)(t - t0) * _c);
                for (int xi = 0; xi < 16; xi++)
                {
                    int k = _k[xi];
                    float* vx = v + xi * _vStride, mx = m + xi * mStride;
                    fixed (int* offsets = _offsets[xi])
                    {
                        var rows = new GatheredRows(vx, 0, 1, count, 0, _c, offsets, k);
                        int packedSize = kernels.GathersRows ? kernels.GatheredPackSize(_f, k) : 0;
                        if (packedSize > 0 && kernels.GemmGathered(part, rows, count, _f, new ReadOnlySpan<float>(packed + _packedAt[xi], packedSize), new Span<float>(mx, count * _f), _f))
                            continue;
                        // no gathered GEMM: V_ξ's rows laid out one after another (the phases' matrices are apart)
                        var laid = _laid[part] ??= new float[_most * 4 * _c];
                        for (int t = 0; t < count; t++)
                            for (int j = 0; j < k; j++) laid[t * k + j] = vx[(long)t * _c + offsets[j]];
                        kernels.GemmFrom(part, nested, Op.N, Op.T, count, _f, k, laid.AsSpan(0, count * k), k, new ReadOnlySpan<float>(u + _uAt[xi], _f * k), k, 0, new Span<float>(mx, count * _f), _f);
                    }
                }
                tile = new Winograd.Tiles(t0, _tilesWide, tilesHigh, Tile);
                for (int t = t0; t < t1; t++, tile.Next())
                {
                    var (e, r, ow) = (tile.Example, tile.Row, tile.Col);
                    int rowsLeft = Math.Min(Tile, oh1 - oh0 - r), colsLeft = Math.Min(Tile, _g.Cols.Output - ow);
                    float* at = y + (((long)e * (oh1 - oh0) + r) * _g.Cols.Output + ow) * ldy;
                    OutputTile(m + (long)(t - t0) * _f, mStride, at, ldy, (long)_g.Cols.Output * ldy, rowsLeft, colsLeft, map);
                }
            }
        }
    }

    /// <summary>
    /// V = Bᵀ d B for each phase of the 7x7 input patch whose top left is (ih, iw) of example n, every channel: phase p's element ξ
    /// at v + (16p + ξ)·_vStride. A patch wholly inside the map reads its cells at fixed distances; one at the edge through a
    /// table of each phase's cells, those in the padding pointing at zeros.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void InputTile(float* x, float* zeros, float** cells, int n, int ih, int iw, float* v)
    {
        int height = _g.Input.Height, width = _g.Input.Width, c = _c;
        long row = (long)width * c;
        float* first = x + ((long)n * height + ih) * row + (long)iw * c;
        if (ih >= 0 && ih + Patch <= height && iw >= 0 && iw + Patch <= width)
        {
            for (int ch = 0; ch < c; ch += 8)
                Phases(new Winograd.CellGrid(first, 2 * row, 2 * c), new Winograd.CellGrid(first + c, 2 * row, 2 * c),
                    new Winograd.CellGrid(first + row, 2 * row, 2 * c), new Winograd.CellGrid(first + row + c, 2 * row, 2 * c), ch, v + ch, _vStride);
            return;
        }
        for (int phase = 0; phase < 4; phase++)
            for (int i = 0; i < 4 - (phase >> 1); i++)                        // an odd phase's fourth row (or column) is never read
                for (int j = 0; j < 4 - (phase & 1); j++)
                {
                    int pi = 2 * i + (phase >> 1), pj = 2 * j + (phase & 1);     // the cell in the patch
                    bool inside = (uint)(ih + pi) < (uint)height && (uint)(iw + pj) < (uint)width;
                    cells[16 * phase + 4 * i + j] = inside ? first + pi * row + (long)pj * c : zeros;
                }
        for (int ch = 0; ch < c; ch += 8)
            Phases(new Winograd.CellTable(cells, 4), new Winograd.CellTable(cells + 16, 4), new Winograd.CellTable(cells + 32, 4), new Winograd.CellTable(cells + 48, 4), ch, v + ch, _vStride);
    }

    /// <summary>
    /// Bᵀ d B on channels [ch, ch + 8) of each phase's cells, Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] (F(2x2, 3x3)'s): phase p's
    /// element (a, b) at v + (16p + 4a + b)·stride. A phase of three rows (or columns) needs only Bᵀ's first three rows, which do
    /// not read a fourth. Straight-line code, each phase's columns in registers (a loop over a scratch on the stack took 17% of
    /// the convolution).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Phases<TCells>(TCells even, TCells evenOdd, TCells oddEven, TCells odd, int ch, float* v, long stride) where TCells : struct, Winograd.ICells
    {
        Winograd.Transform(even, ch, v, stride);                          // 4x4 cells
        {
            Vector256<float> L(int i, int j) => Vector256.Load(evenOdd.At(i, j) + ch);
            var (c0, c1, c2) = (Winograd.Column(L(0, 0), L(1, 0), L(2, 0), L(3, 0)), Winograd.Column(L(0, 1), L(1, 1), L(2, 1), L(3, 1)), Winograd.Column(L(0, 2), L(1, 2), L(2, 2), L(3, 2)));
            float* at = v + 16 * stride;                                  // 4 rows, 3 columns
            Row3(at, stride, c0.Item1, c1.Item1, c2.Item1);
            Row3(at + 4 * stride, stride, c0.Item2, c1.Item2, c2.Item2);
            Row3(at + 8 * stride, stride, c0.Item3, c1.Item3, c2.Item3);
            Row3(at + 12 * stride, stride, c0.Item4, c1.Item4, c2.Item4);
        }
        {
            Vector256<float> L(int i, int j) => Vector256.Load(oddEven.At(i, j) + ch);
            var (c0, c1, c2, c3) = (Column3(L(0, 0), L(1, 0), L(2, 0)), Column3(L(0, 1), L(1, 1), L(2, 1)), Column3(L(0, 2), L(1, 2), L(2, 2)), Column3(L(0, 3), L(1, 3), L(2, 3)));
            float* at = v + 32 * stride;                                  // 3 rows, 4 columns
            Winograd.Row(at, stride, c0.Item1, c1.Item1, c2.Item1, c3.Item1);
            Winograd.Row(at + 4 * stride, stride, c0.Item2, c1.Item2, c2.Item2, c3.Item2);
            Winograd.Row(at + 8 * stride, stride, c0.Item3, c1.Item3, c2.Item3, c3.Item3);
        }
        {
            Vector256<float> L(int i, int j) => Vector256.Load(odd.At(i, j) + ch);
            var (c0, c1, c2) = (Column3(L(0, 0), L(1, 0), L(2, 0)), Column3(L(0, 1), L(1, 1), L(2, 1)), Column3(L(0, 2), L(1, 2), L(2, 2)));
            float* at = v + 48 * stride;                                  // 3 rows, 3 columns
            Row3(at, stride, c0.Item1, c1.Item1, c2.Item1);
            Row3(at + 4 * stride, stride, c0.Item2, c1.Item2, c2.Item2);
            Row3(at + 8 * stride, stride, c0.Item3, c1.Item3, c2.Item3);
        }
    }

    /// <summary>Bᵀ's first three rows times a column of three cells.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float>, Vector256<float>, Vector256<float>) Column3(Vector256<float> d0, Vector256<float> d1, Vector256<float> d2) => (d0 - d2, d1 + d2, d2 - d1);

    /// <summary>A row of three (r0, r1, r2) times B's first three columns, stored at v, v + stride, v + 2·stride.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row3(float* v, long stride, Vector256<float> r0, Vector256<float> r1, Vector256<float> r2)
    {
        Vector256.Store(r0 - r2, v);
        Vector256.Store(r1 + r2, v + stride);
        Vector256.Store(r2 - r1, v + 2 * stride);
    }

    /// <summary>
    /// Y = Aᵀ M A for one tile (Aᵀ's halves in U: [1 1 1 0; 0 1 -1 0; 0 1 1 1]), every filter, from m (element ξ at m + ξ·stride)
    /// into the rows·cols of the 3x3 tile at y that lie in the output (row stride <paramref name="row"/>, column stride
    /// <paramref name="ldy"/>), each through the map when given. Aᵀ M in locals, written out straight as the phases' transforms are.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void OutputTile(float* m, long stride, float* y, int ldy, long row, int rows, int cols, ColumnMap* map)
    {
        for (int f = 0; f < _f; f += 8)
        {
            var k = new ColumnCoefficients<Lanes256, Vector256<float>>(map, f);
            Vector256<float> M(int i, int j) => Vector256.Load(m + (4 * i + j) * stride + f);
            var (a0, b0, c0) = At(M(0, 0), M(1, 0), M(2, 0), M(3, 0));        // Aᵀ times each column of M: row i at column j
            var (a1, b1, c1) = At(M(0, 1), M(1, 1), M(2, 1), M(3, 1));
            var (a2, b2, c2) = At(M(0, 2), M(1, 2), M(2, 2), M(3, 2));
            var (a3, b3, c3) = At(M(0, 3), M(1, 3), M(2, 3), M(3, 3));
            float* at = y + f;
            StoreRow(k, at, ldy, cols, At(a0, a1, a2, a3));
            if (rows > 1) StoreRow(k, at + row, ldy, cols, At(b0, b1, b2, b3));
            if (rows > 2) StoreRow(k, at + 2 * row, ldy, cols, At(c0, c1, c2, c3));
        }
    }

    /// <summary>Aᵀ = [1 1 1 0; 0 1 -1 0; 0 1 1 1] times (m0 .. m3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float>, Vector256<float>, Vector256<float>) At(Vector256<float> m0, Vector256<float> m1, Vector256<float> m2, Vector256<float> m3)
    {
        var sum = m1 + m2;
        return (m0 + sum, m1 - m2, sum + m3);
    }

    /// <summary>The first <paramref name="cols"/> of a row's three outputs, through the map, <paramref name="ldy"/> apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(in ColumnCoefficients<Lanes256, Vector256<float>> k, float* at, int ldy, int cols, (Vector256<float> Y0, Vector256<float> Y1, Vector256<float> Y2) y)
    {
        Winograd.Store(k, y.Y0, at);
        if (cols > 1) Winograd.Store(k, y.Y1, at + ldy);
        if (cols > 2) Winograd.Store(k, y.Y2, at + 2 * ldy);
    }
}
