using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SpecNet.Kernels;

/// <summary>
/// A convolution's forward by one of Winograd's minimal filtering algorithms (<see cref="Winograd"/>: 3x3 stride 1;
/// <see cref="StridedWinograd"/>: 3x3 stride 2), which <see cref="Convolution"/> runs on the blocks it pays for.
/// </summary>
public unsafe interface IWinogradForward
{
    /// <summary>Whether a block of <paramref name="examples"/> examples' <paramref name="rows"/> output rows has tiles enough to pay.</summary>
    bool Pays(int examples, int rows);

    /// <summary>Tiles of an example's <paramref name="rows"/> output rows.</summary>
    int TilesPerExample(int rows);

    /// <summary>The kernel w [F, 3, 3, C] transformed (and packed) for <see cref="Forward"/>, unless it holds it already.</summary>
    void Transform(Backend kernels, ReadOnlySpan<float> w, Repack when);

    /// <summary>
    /// Output rows [oh0, oh1) of examples [n0, n1) of x into y (the block's first output row, row stride <paramref name="ldy"/>),
    /// <paramref name="map"/> (when given) applied to each output vector as the output transform stores it.
    /// </summary>
    void Forward(Backend kernels, bool nested, int part, float* x, int n0, int n1, int oh0, int oh1, float* y, int ldy, ColumnMap* map = null);
}

/// <summary>
/// A 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional
/// Neural Networks", 2016): each 2x2 tile of output comes from the 4x4 tile of input under it, its channels transformed
/// (V = Bᵀ d B), one GEMM per element ξ of the 4x4 transform, M_ξ (tiles, F) = V_ξ (tiles, C) U_ξᵀ, over the kernel
/// transformed once (U = G g Gᵀ), and the tile back (Y = Aᵀ M A). 16 multiplies per tile, channel and filter instead of 36:
/// 2.25x fewer, but in GEMMs whose K is C rather than 9·C, which run further from peak (<see cref="Fits"/>). F(4x4, 3x3) the
/// same way over 6x6 input tiles: 36 multiplies for 16 outputs, 4x fewer, in 36 GEMMs that need more tiles to run well
/// (<see cref="Pays"/>). The sums are rounded differently from the direct ones (measured in the tests, in parts of the terms'
/// magnitudes: F(2x2, 3x3) a few in 10^7, F(4x4, 3x3) up to 2·10^-6, its transforms multiplying by up to 8), and a plan
/// can turn it off (<see cref="Enabled"/>). Inference runs forward by it; training too, its input gradient's transposed
/// convolution, and its weight gradient by the transposed algorithm (<see cref="WeightGradient"/>; <see cref="Convolution.UseWinograd"/>). Channels are 256-bit vectors: C and F multiples of 8
/// (F(4x4, 3x3)'s tiles 512-bit where they are multiples of 16 and the CPU has AVX-512).
/// </summary>
public sealed unsafe class Winograd : IWinogradForward
{
    /// <summary>
    /// 512-bit vectors. F(4x4, 3x3)'s tiles are then transformed 16 channels at a time where there are 16 of them: with 16
    /// channels its transforms were as much work as its GEMMs. The residual model at batch 1000 on a Zen 5 (plans alternating in one
    /// process, both orders; medians, tenth percentiles): 79.7 -> 73.0 and 75.6 -> 70.3 ms; 89.9 -> 89.7 and 82.3 -> 79.9 ms. And
    /// training takes other tiles (<see cref="TrainingTileSides"/>).
    /// </summary>
    private static readonly bool Wide = Vector512.IsHardwareAccelerated;

    /// <summary>
    /// Whether training's rules are those measured with 512-bit vectors (<see cref="TrainingTileSides"/>, <see cref="TrainingChannels"/>,
    /// <see cref="WeightGradientTile"/>): where they run at twice AVX2's rate of multiply-adds (<see cref="VectorUnits.FullRate512"/>).
    /// A Zen 4 takes AVX2's rules with its 512-bit code: what the multiplies cost there is what they cost with AVX2. At that
    /// rate (a Zen 5 with AVX2, two training plans alternating in one process, either made first) the 512-bit rules made the
    /// residual model's step 3-5% longer (ratios 1.029-1.053, two plans alike 0.985-1.021), the pooled and MNIST models' 1-3%.
    /// </summary>
    internal static readonly bool WideRules = VectorUnits.FullRate512;

    /// <summary>SPECNET_WINOGRAD=0 turns it off, in training and inference: every convolution then sums directly.</summary>
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("SPECNET_WINOGRAD") != "0";

    private readonly bool _always;                    // every block, paying or not (the tests)
    private readonly int _tile, _span, _xi;           // output tile's side (2 or 4), input tile's (+2), elements of a transform (one GEMM each)
    private const int Skew = 16;                      // floats between the matrices of V and of M, so they do not start 4 KB apart

    private readonly ConvGeometry _g;
    private readonly int _c, _f, _tilesWide;          // channels, filters, tiles across an output row
    private readonly int _most;                       // tiles per round of GEMMs, at most
    private readonly float[] _u;                      // the transformed kernel: 16 matrices (F, C)
    private readonly float[] _packed;                 // the same, each as the backend's gathered GEMM reads it (when it gathers)
    private readonly int _packedSize;                 // floats of one packed matrix
    private readonly KernelSource _uFrom = new();     // what _u was made from
    private readonly float[]?[] _v, _m;               // per thread: a round's transformed input (ξ, tiles, C) and products (ξ, tiles, F), made at its first round
    private float[] _dU = [];                         // training, per slice of the batch (BatchSlices), one after another: Σ over its tiles of H_ξᵀ V_ξ, 16 (or 36) matrices (F, C) (KeepWeightGradients)
    private readonly float[] _zeros;                  // zeros: what a tile reads in the padding, or past dY's edge
    private readonly int[] _offsets;                  // 0 .. C - 1: a row of V_ξ for the gathered GEMM

    /// <summary>
    /// Whether <paramref name="g"/> is a convolution this computes: 3x3, stride 1, undilated, one group, channels and filters in
    /// whole 256-bit vectors.
    /// </summary>
    public static bool Computes(ConvGeometry g) =>
        Vector256.IsHardwareAccelerated && g.Rows is { Kernel: 3, Stride: 1, Dilation: 1 } && g.Cols is { Kernel: 3, Stride: 1, Dilation: 1 }
        && g.Groups == 1 && g.Input.Channels % 8 == 0 && g.Filters % 8 == 0 && g.Input.Channels > 0 && g.Filters > 0;

    /// <summary>
    /// Whether it also pays (measured on an AMD EPYC Zen 1, one thread, batch 1000): its GEMMs have K = C, so it needs 16
    /// channels or more, and with 16 its transforms are as much work as its GEMMs (28x28x16 -> 16 on two threads: 53.4 -> 49.0 ms
    /// at batch 1000, a single image 0.051 -> 0.044 ms, training's forward and both gradients at batch 64 6.8 -> 6.3 ms); and a
    /// small map's tiles spill over its edge while the direct GEMM skips the padding's taps, so it must save a quarter of the
    /// multiplies or more (7x7x64 -> 64: 0.71 of them, 1.25x faster; 14x14x32 -> 32: 0.49, 1.4x; 13x13x32 -> 64 'valid': 0.53, 1.4x).
    /// <paramref name="tile"/>: the output tile's side, 2 or 4 (F(4x4, 3x3): 36 multiplies for each 4x4 tile); <paramref name="training"/>:
    /// from <see cref="TrainingChannels"/> channels.
    /// </summary>
    public static bool Fits(ConvGeometry g, int tile = 2, bool training = false) =>
        Computes(g) && g.Input.Channels >= (training ? TrainingChannels : 16) && g.Filters >= 16 && Multiplies(g, tile) <= 0.75 * Multiplies(g, 0);

    /// <summary>
    /// Multiplies per example, filter and channel: by F(<paramref name="tile"/>x<paramref name="tile"/>, 3x3) over every tile,
    /// or with tile 0 the direct sums' (the taps inside the input, over every output).
    /// </summary>
    private static double Multiplies(ConvGeometry g, int tile) => tile == 0 ? (double)g.Rows.TapsInside * g.Cols.TapsInside
        : (tile + 2) * (tile + 2) * (double)TilesOf(g, tile);

    /// <summary>
    /// Training: whether the multiplies F(<paramref name="tile"/>x<paramref name="tile"/>, 3x3) saves over a batch of
    /// <paramref name="examples"/> outweigh transforming the kernel at every step, an element of U costing about 128 of the GEMM's
    /// multiply-adds (5x5x64 -> 128 'valid' on a Zen 5: 295,000 elements, 0.30 ms; its forward by F(4x4, 3x3) 0.60-0.62 ms in
    /// training against 0.35-0.39 directly).
    /// </summary>
    public static bool TransformPays(ConvGeometry g, int tile, int examples) => examples * (Multiplies(g, 0) - Multiplies(g, tile)) >= 128.0 * (tile + 2) * (tile + 2);

    /// <summary>The output tiles a convolution tries, largest first: each block takes the first that pays (<see cref="Paying"/>).</summary>
    public static readonly IReadOnlyList<int> TileSides = [4, 2];

    // Training transforms the kernel at every step, and with 512-bit vectors at full rate (WideRules) the direct GEMM runs twice
    // as fast while the tiles' transforms and memory traffic gain less. Measured on an AMD EPYC Zen 5, two threads, training at
    // batch 64 (one convolution's forward and both gradients, alternating in one process): F(4x4, 3x3) lost or drew everywhere
    // (7x7x64 -> 64 3.25 ms against 2.35 direct, 5x5x64 -> 64 'valid' 0.81 against 0.55), F(2x2, 3x3) paid over 32 channels (13x13x32 -> 64 'valid' 2.46 against
    // 2.80, 14x14x32 -> 32 1.82 against 2.21) and lost over 16 (28x28x16 -> 16 4.59 against 3.88). Whole training steps, the
    // plans alternating in one process, both orders: residual 26.8 -> 24.4 and 26.9 -> 25.3 ms, pooled 6.73 -> 6.12 and 8.05
    // -> 7.15 ms. With 256-bit vectors (Zen 1) training takes what inference takes. The forward and the input gradient's
    // transposed convolution, whose tiles are transformed 512 bits at a time, pay by inference's tiles (Convolution.UseWinograd)
    // where a chunk holds 64 tiles (the residual model's 28x28x16 -> 16 backward 1.86-1.96 -> 1.50-1.57 ms each; in chunks of one
    // example, 49 tiles, its input gradient had measured slower than the direct sums); the weight gradient still loses there (WeightGradientTile).

    /// <summary>
    /// The output tiles training's rule takes for forward and the input gradient over <see cref="TrainingChannels"/> channels:
    /// F(2x2, 3x3) alone with 512-bit vectors at full rate (<see cref="WideRules"/>), else as <see cref="TileSides"/>; they take
    /// inference's too where the kernel's transform pays (<see cref="TrainingForward"/>). The weight gradient has its own rule
    /// (<see cref="WeightGradientTile"/>).
    /// </summary>
    public static IReadOnlyList<int> TrainingTileSides => WideRules ? [2] : TileSides;

    /// <summary>Channels from which training's rule takes Winograd (<see cref="TrainingTileSides"/>): 32 with 512-bit vectors at full rate, else 16.</summary>
    public static int TrainingChannels => WideRules ? 32 : 16;

    /// <summary>
    /// Whether a training plan runs <paramref name="g"/>'s forward, or an input gradient's transposed convolution, by
    /// F(<paramref name="tile"/>x<paramref name="tile"/>, 3x3) over batches of <paramref name="examples"/>: by training's tiles,
    /// and by inference's where transforming the kernel at every step pays (<see cref="TransformPays"/>).
    /// </summary>
    public static bool TrainingForward(ConvGeometry g, int tile, int examples) =>
        TrainingTileSides.Contains(tile) && Fits(g, tile, training: true) || Fits(g, tile) && TransformPays(g, tile, examples);

    /// <summary>
    /// The tile of a training plan's weight gradient by Winograd: with 256-bit vectors (or 512-bit ones at AVX2's rate of
    /// multiply-adds, <see cref="WideRules"/>) F(3x3, 4x4) where F(4x4, 3x3) fits (<see cref="Fits"/>) over maps of two tiles
    /// or more; else F(3x3, 2x2) where training's rule takes F(2x2, 3x3) (from 32 channels with 512-bit vectors at full rate);
    /// else 0, the direct sums. Each convolution's weight gradient alone at batch 64 on a Zen 5, two threads, the three
    /// alternating in one process (direct, F(3x3, 2x2), F(3x3, 4x4); ms, medians of 41 rounds):
    /// <code>
    ///                          AVX2                   AVX-512
    /// 28x28x16 -> 16           0.96  0.81  0.56       0.58  0.66  0.43
    /// 14x14x32 -> 32           0.93  0.58  0.55       0.59  0.41  0.41
    /// 7x7x64 -> 64             0.96  0.70  0.49       0.56  0.44  0.36
    /// 13x13x32 -> 64 'valid'   1.23  0.87  0.69       0.70  0.57  0.50
    /// 16x16x64 -> 64           5.04  2.87  1.82       2.93  1.80  1.21
    /// 8x8x128 -> 128           5.38  2.69  2.04       3.13  1.57  1.41
    /// 5x5x64 -> 128 'valid'    0.41  0.42  0.34       0.30  0.29  0.37   one tile an example
    /// 4x4x256 -> 256           6.71  3.05  3.02       4.52  1.99  2.54   one tile an example
    /// </code>
    /// Those loops find their tensors in cache; in a training step they come from memory. There, with 512-bit vectors F(3x3,
    /// 4x4) gained nothing: the backward (both gradients) of 28x28x16 -> 16 with the caches flushed before each call 1.13 ms either
    /// way, and in the residual model's step, layer by layer, 1.08-1.11 -> 1.16-1.26 ms. With 256-bit vectors it kept its gain:
    /// flushed, 2.08 -> 1.83 ms against F(3x3, 2x2); in the step 1.76-1.80 -> 1.52-1.65 ms; the residual model's training step
    /// about 5% faster (two plans alternating in one process, 41 rounds of ten steps, made in either order: median ratios 0.949
    /// and 0.952, where two plans alike read 0.977 and 0.992), the pooled and MNIST models level (0.94-1.07). The pooled model's
    /// 5x5x64 -> 128 convolution lost by it (0.83-0.88 -> 0.95-1.09 ms): one tile of 4x4 an example, whose transforms (36 cells
    /// for 9 outputs) outweigh the GEMMs' saving. F(3x3, 4x4)'s sums round as F(4x4, 3x3)'s forward
    /// does, within about 2·10^-6 of the terms' magnitudes (10^-7 - 8·10^-7 at batch 64 above, 2.1·10^-6 over a single 7x7x64
    /// image; direct 2·10^-8 - 10^-7): its transforms multiply by up to 8, then divide by up to 24. A Zen 4 runs AVX-512 at
    /// AVX2's rate of FMAs and takes the 256-bit rule (<see cref="WideRules"/>).
    /// </summary>
    public static int WeightGradientTile(ConvGeometry g) =>
        !WideRules && Fits(g, 4) && TilesOf(g, 4) >= 2 ? 4 : Fits(g, 2, training: true) ? 2 : 0;

    /// <summary>Tiles of F(<paramref name="tile"/>x<paramref name="tile"/>, 3x3) an example of <paramref name="g"/> has.</summary>
    public static int TilesOf(ConvGeometry g, int tile) => (g.Rows.Output + tile - 1) / tile * ((g.Cols.Output + tile - 1) / tile);

    /// <summary>Whether any of <see cref="TileSides"/> (a training plan's: <see cref="TrainingTileSides"/>) fits <paramref name="g"/>.</summary>
    public static bool FitsAny(ConvGeometry g, bool training) => (training ? TrainingTileSides : TileSides).Any(tile => Fits(g, tile, training));

    /// <summary>
    /// F(<paramref name="tile"/>x<paramref name="tile"/>, 3x3) for <paramref name="g"/>: tile 2 or 4; <paramref name="always"/>:
    /// it runs every block, paying or not (<see cref="Pays"/>; for the tests); <paramref name="inference"/>: its kernel is
    /// transformed once for many passes (<see cref="_fewTiles"/>).
    /// </summary>
    public Winograd(ConvGeometry g, Backend kernels, int tile = 2, bool always = false, bool inference = false)
    {
        _always = always;
        if (!Computes(g) || tile is not (2 or 4)) throw new ArgumentException($"Winograd F({tile}x{tile}, 3x3) does not compute {g}");
        _g = g;
        (_c, _f) = (g.Input.Channels, g.Filters);
        _fewTiles = inference && _c >= 32 && _f >= 32;
        (_tile, _span, _xi) = (tile, tile + 2, (tile + 2) * (tile + 2));
        _tilesWide = (g.Cols.Output + tile - 1) / tile;
        // Long GEMMs reuse each packed panel of U over more tiles: 126 tiles a round measured faster than rounds whose V and M fit
        // half a Zen 1 L2 (7x7x64 -> 64: 30 tiles 94 ms, 126 tiles 73 ms, batch 1000, one thread); V and M at most 1 MB a thread.
        _most = Math.Clamp(262144 / _xi / (_c + _f) / 6 * 6, 24, 126);
        _u = new float[_xi * _f * _c];
        _packedSize = kernels.GathersRows ? kernels.GatheredPackSize(_f, _c) : 0;
        _packed = new float[_xi * _packedSize];
        // Made by each thread at its first round, not here: a plan keeps both tiles of a convolution, and most run only one
        // (the residual model's 7x7x64 one F(2x2, 3x3), in chunks too short for F(4x4, 3x3)'s 2 MB of them).
        (_v, _m) = (new float[kernels.Threads][], new float[kernels.Threads][]);
        _zeros = new float[Math.Max(_c, _f)];
        _offsets = Enumerable.Range(0, _c).ToArray();
        (_kernelWork, _packWork) = (new KernelWork(this), new PackWork(this));
    }

    /// <summary>Training: the sums of each of <paramref name="slices"/> slices of the batch for <see cref="WeightGradient"/>.</summary>
    public void KeepWeightGradients(int slices) => _dU = new float[slices * WeightGradientFloats];

    /// <summary>Floats of a slice's sums for the weight gradient: one matrix (F, C) per ξ (16 or 36 of them).</summary>
    private long WeightGradientFloats => (long)_xi * _f * _c;

    /// <summary>
    /// Whether a block of <paramref name="examples"/> examples' <paramref name="rows"/> output rows has tiles enough to pay: a
    /// single image's share of a 13x13x32 -> 64 convolution's rows on one of two threads (18 tiles) took 0.104 ms against the
    /// direct GEMM's 0.076 (Zen 1), its sixteen GEMMs too short. F(4x4, 3x3) from 24 tiles: a chunk of four 7x7x64 -> 64 maps
    /// (16 tiles) took 52 ms at batch 1000 against F(2x2, 3x3)'s 38, while 27 tiles of 13x13x32 -> 64 'valid' took 35 against
    /// 44, and 49 of 28x28x16 -> 16 41 against 51 (Zen 1, two threads).
    /// At inference either pays from 8 tiles where it has 32 channels and 32 filters or more (<see cref="_fewTiles"/>).
    /// </summary>
    public bool Pays(int examples, int rows)
    {
        long tiles = (long)examples * ((rows + _tile - 1) / _tile) * _tilesWide;
        return _always || tiles >= (_tile == 4 ? 24 : 60) || _fewTiles && tiles >= 8;
    }

    /// <summary>
    /// Whether an inference block of 8 tiles or more runs by Winograd, F(4x4, 3x3) where it has 8 of its tiles (else 24) and
    /// F(2x2, 3x3) where it has 8 of its own (else 60): a single image's or a thread's share of its rows, a small batch's chunk.
    /// With the kernel transformed once for every pass, GEMMs of 32 channels and 32 filters or more pay for their transforms over
    /// short blocks. One convolution's single image on two threads, the kernel fixed, in one process on a Zen 5 (direct against
    /// F(2x2, 3x3), us; AVX-512, then AVX2): 8x8x128 -> 128 63 -> 38 and 104 -> 57; 16x16x64 -> 64 42 -> 24 and 85 -> 46;
    /// 11x11x64 -> 64 21.5 -> 13.4 and 41 -> 24; 16x16x32 -> 32 11.0 -> 8.8 and 21.5 -> 13.3; 13x13x32 -> 64 'valid' 10.3 ->
    /// 8.0 and 22.5 -> 14.1; 7x7x64 -> 64 9.6 -> 8.0 and 20.5 -> 14.3; 14x14x32 -> 32 9.1 -> 9.2 and 17.2 -> 12.8. Not over 16
    /// channels (28x28x16 -> 16 10.0 -> 11.0 and 12.2 -> 15.3: its transforms outweigh its GEMMs), nor a thread's 2 tiles of a
    /// 4x4 map (4x4x256 -> 256 52 -> 60). Then F(2x2, 3x3) against F(4x4, 3x3) where a thread has 8 of the latter (its GEMMs of 8
    /// rows in tiles, ManagedBackend.FewRowsInTiles; AVX-512, then AVX2): 16x16x64 -> 64 26.9 -> 22.3 and 46.5 -> 36.2, 16x16x32
    /// -> 32 10.0 -> 8.7 and 14.6 -> 12.2, 14x14x32 -> 32 9.1 -> 8.6 and 13.1 -> 12.1; where a thread has 2 (8x8, 7x7) F(4x4, 3x3)
    /// took 2-3x as long. Small batches, chunks of one to four images (F(2x2, 3x3) against F(4x4, 3x3), us, AVX-512): 7x7x64 -> 64
    /// at batch 8 53.1 -> 36.3, at batch 4 28.2 -> 24.1; 13x13x32 -> 64 'valid' at batch 4 30.9 -> 20.0; 8x8x128 -> 128 at batch 2
    /// 61.6 -> 51.7. Training keeps 60 and 24: its kernel is transformed at every step. Whole single images, the rules' plans
    /// alternating in one process (two threads; AVX-512, then AVX2): direct against F(2x2, 3x3): pooled 17.6 -> 15.0 and 30.3 ->
    /// 22.7 us, residual 52.2 -> 50.5 and 82.6 -> 74.7, the ResNet-18-like model 677 -> 570 and 1,152 -> 882; then F(4x4, 3x3)
    /// from 8 tiles too: the ResNet-18-like model 544 -> 523 and 864 -> 826, the pooled and residual models level.
    /// </summary>
    private readonly bool _fewTiles;

    /// <summary>
    /// Whether the weight gradient of a chunk of <paramref name="examples"/> runs by it: by F(3x3, 4x4) on any chunk, since its
    /// GEMMs sum the chunk's tiles into F x C and a short chunk shortens only their K (a chunk of four 7x7 maps, 16 tiles, under
    /// forward's 24, would otherwise fall to the direct sums, where F(3x3, 2x2) had taken it); by F(3x3, 2x2) where forward would
    /// (<see cref="Pays"/>), as before.
    /// </summary>
    public bool PaysForWeights(int examples, int rows) => _tile == 4 || Pays(examples, rows);

    /// <summary>The first of <paramref name="winograds"/> that pays for a block (<see cref="Pays"/>), or null: the direct sums.</summary>
    public static T? Paying<T>(T[] winograds, int examples, int rows) where T : class, IWinogradForward
    {
        foreach (var w in winograds)
            if (w.Pays(examples, rows)) return w;
        return null;
    }

    /// <summary>Tiles of an example's <paramref name="rows"/> output rows.</summary>
    public int TilesPerExample(int rows) => (rows + _tile - 1) / _tile * _tilesWide;

    /// <summary>U as <see cref="Transform"/> last made it: ξ-th matrix (F, C) after another (for the tests).</summary>
    internal ReadOnlySpan<float> TransformedKernel => _u;

    /// <summary>The side of its output tiles: 2 (F(2x2, 3x3)) or 4 (F(4x4, 3x3)).</summary>
    public int Tile => _tile;

    /// <summary>
    /// U_ξ = (G g Gᵀ)_ξ for each filter and channel of w [F, 3, 3, C], in double then rounded once; and packed for the backend.
    /// Not again while w is unchanged (compared as bits, as the gathered GEMM's packing is), or with fixed parameters ever.
    /// </summary>
    public void Transform(Backend kernels, ReadOnlySpan<float> w, Repack when)
    {
        if (_uFrom.Holds(w, when)) return;
        if (w.Length < _f * 9 * _c) throw new ArgumentException($"Winograd: the kernel has {w.Length} floats, not {_f * 9 * _c}");
        fixed (float* pw = w)
        {
            // Training makes it at every step: the filters split between the threads, then the ξs' packings (on one thread while
            // the others waited, F(4x4, 3x3)'s for 5x5x64 -> 128 took 0.45 ms of a 6.8 ms training step with AVX2)
            _kernelWork.W = pw;
            kernels.ParallelFor(_f, _kernelWork, 4L * _xi * _c);
        }
        if (_packedSize > 0) kernels.ParallelFor(_xi, _packWork.For(kernels), 2L * _f * _c);
        _uFrom.Made(w, when);
    }

    private readonly KernelWork _kernelWork;
    private readonly PackWork _packWork;

    /// <summary>U for filters [start, end) of the kernel at <see cref="W"/>: each filter's the same floats on any split.</summary>
    private sealed class KernelWork(Winograd owner) : IRangeWork
    {
        public float* W;
        public void Run(int part, int start, int end, bool nested)
        {
            if (owner._tile == 4) owner.TransformKernel4(W, start, end);
            else owner.TransformKernel2(W, start, end);
        }
    }

    /// <summary>U_ξ packed for the backend's gathered GEMM, for ξ in [start, end).</summary>
    private sealed class PackWork(Winograd owner) : IRangeWork
    {
        private Backend? _kernels;
        public PackWork For(Backend kernels) { _kernels = kernels; return this; }
        public void Run(int part, int start, int end, bool nested)
        {
            int f = owner._f, c = owner._c, size = owner._packedSize;
            for (int xi = start; xi < end; xi++)
                _kernels!.PackGathered(owner._u.AsSpan(xi * f * c, f * c), c, f, c, owner._packed.AsSpan(xi * size, size));
        }
    }

    // Eight channels at a time, each as two vectors of four doubles, the same double operations as one channel at a time, so the
    // same floats. (The pooled model's training step on an AMD EPYC Zen 5: one at a time they were 7% of it.)

    /// <summary>U_ξ for F(2x2, 3x3), filters [f0, f1): G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1], U = G g Gᵀ.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void TransformKernel2(float* pw, int f0, int f1)
    {
        var u = stackalloc Vector256<double>[2 * 16];
        var gg = stackalloc Vector256<double>[12];
        fixed (float* pu = _u)
            for (int f = f0; f < f1; f++)
                for (int c = 0; c < _c; c += 8)
                {
                    float* at = pw + (long)f * 9 * _c + c;                   // w[f, i, j, c] at at + (3i + j)·C
                    for (int half = 0; half < 2; half++)
                    {
                        for (int j = 0; j < 3; j++)                           // G g: rows g0, (g0 + g1 + g2)/2, (g0 - g1 + g2)/2, g2
                        {
                            var (g0, g1, g2) = (Widen(at + j * _c, half), Widen(at + (3 + j) * _c, half), Widen(at + (6 + j) * _c, half));
                            (gg[j], gg[3 + j], gg[6 + j], gg[9 + j]) = (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2);
                        }
                        for (int i = 0; i < 4; i++)                           // (G g) Gᵀ, the same on each row
                        {
                            var (r0, r1, r2) = (gg[3 * i], gg[3 * i + 1], gg[3 * i + 2]);
                            u[2 * (4 * i) + half] = r0;
                            u[2 * (4 * i + 1) + half] = (r0 + r1 + r2) / 2;
                            u[2 * (4 * i + 2) + half] = (r0 - r1 + r2) / 2;
                            u[2 * (4 * i + 3) + half] = r2;
                        }
                    }
                    for (int xi = 0; xi < 16; xi++) Vector256.Narrow(u[2 * xi], u[2 * xi + 1]).Store(pu + ((long)xi * _f + f) * _c + c);
                }
    }

    /// <summary>Four of eight floats at <paramref name="p"/> (the first four, or the last) in double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Widen(float* p, int half) => half == 0 ? Vector256.WidenLower(Vector256.Load(p)) : Vector256.WidenUpper(Vector256.Load(p));

    /// <summary>
    /// F(4x4, 3x3)'s U = G g Gᵀ, G = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1] (Lavin and Gray's points
    /// 0, ±1, ±2), in double then rounded once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void TransformKernel4(float* pw, int f0, int f1)
    {
        var u = stackalloc Vector256<double>[2 * 36];
        var gg = stackalloc Vector256<double>[18];
        var row = stackalloc Vector256<double>[6];
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void G(Vector256<double> g0, Vector256<double> g1, Vector256<double> g2, Vector256<double>* into, int step)
        {
            into[0] = g0 / 4;
            into[step] = -(g0 + g1 + g2) / 6;
            into[2 * step] = -(g0 - g1 + g2) / 6;
            into[3 * step] = g0 / 24 + g1 / 12 + g2 / 6;
            into[4 * step] = g0 / 24 - g1 / 12 + g2 / 6;
            into[5 * step] = g2;
        }
        fixed (float* pu = _u)
            for (int f = f0; f < f1; f++)
                for (int c = 0; c < _c; c += 8)
                {
                    float* at = pw + (long)f * 9 * _c + c;                   // w[f, i, j, c] at at + (3i + j)·C
                    for (int half = 0; half < 2; half++)
                    {
                        for (int j = 0; j < 3; j++) G(Widen(at + j * _c, half), Widen(at + (3 + j) * _c, half), Widen(at + (6 + j) * _c, half), gg + j, 3);   // G g: 6 rows of 3
                        for (int i = 0; i < 6; i++)                           // (G g) Gᵀ, the same on each row
                        {
                            G(gg[3 * i], gg[3 * i + 1], gg[3 * i + 2], row, 1);
                            for (int j = 0; j < 6; j++) u[2 * (6 * i + j) + half] = row[j];
                        }
                    }
                    for (int xi = 0; xi < 36; xi++) Vector256.Narrow(u[2 * xi], u[2 * xi + 1]).Store(pu + ((long)xi * _f + f) * _c + c);
                }
    }

    /// <summary>
    /// Output rows [oh0, oh1) of examples [n0, n1) of x (the whole input) into y (the block's first output row, row stride
    /// <paramref name="ldy"/>), on thread <paramref name="part"/>, with the kernel last given to <see cref="Transform"/>. The
    /// tiles start at row oh0; a tile's rows and columns past the block's end are computed and not stored.
    /// </summary>
    public void Forward(Backend kernels, bool nested, int part, float* x, int n0, int n1, int oh0, int oh1, float* y, int ldy, ColumnMap* map = null) =>
        Forward(kernels, nested, part, x, n0, n1, oh0, oh1, y, ldy, map, add: false);

    /// <summary>
    /// The same, each output added to what y holds where <paramref name="add"/> (an input gradient that other readers of the
    /// input share: dX += the transposed convolution of dY), as the output transform stores it.
    /// </summary>
    public void Forward(Backend kernels, bool nested, int part, float* x, int n0, int n1, int oh0, int oh1, float* y, int ldy, ColumnMap* map, bool add)
    {
        int tilesHigh = (oh1 - oh0 + _tile - 1) / _tile, perExample = tilesHigh * _tilesWide, tiles = (n1 - n0) * perExample;
        var rounds = new Rounds(tiles, _most);
        float** cells = stackalloc float*[36];
        var (vs, ms) = Scratch(part);
        fixed (float* v = vs, m = ms, zeros = _zeros, u = _u, packed = _packed)
        fixed (int* offsets = _offsets)
        {
            for (int round = 0; round < rounds.Count; round++)
            {
                int t0 = rounds.Start(round), t1 = rounds.Start(round + 1), count = t1 - t0;
                long vStride = (long)count * _c + Skew, mStride = (long)count * _f + Skew;
                var tile = new Tiles(t0, _tilesWide, tilesHigh, _tile);
                for (int t = t0; t < t1; t++, tile.Next())
                    InputTile(x, zeros, cells, n0 + tile.Example, oh0 + tile.Row - _g.Rows.PadBefore, tile.Col - _g.Cols.PadBefore, v + (long)(t - t0) * _c, vStride);
                for (int xi = 0; xi < _xi; xi++)
                {
                    float* vx = v + xi * vStride, mx = m + xi * mStride;
                    var rows = new GatheredRows(vx, 0, 1, count, 0, _c, offsets, _c);
                    if (_packedSize > 0 && kernels.GemmGathered(part, rows, count, _f, new ReadOnlySpan<float>(packed + (long)xi * _packedSize, _packedSize), new Span<float>(mx, count * _f), _f)) continue;
                    kernels.GemmFrom(part, nested, Op.N, Op.T, count, _f, _c, new ReadOnlySpan<float>(vx, count * _c), _c,
                        new ReadOnlySpan<float>(u + (long)xi * _f * _c, _f * _c), _c, 0, new Span<float>(mx, count * _f), _f);
                }
                tile = new Tiles(t0, _tilesWide, tilesHigh, _tile);
                for (int t = t0; t < t1; t++, tile.Next())
                {
                    var (e, r, ow) = (tile.Example, tile.Row, tile.Col);
                    int rowsLeft = Math.Min(_tile, oh1 - oh0 - r), colsLeft = Math.Min(_tile, _g.Cols.Output - ow);
                    float* at = y + (((long)e * (oh1 - oh0) + r) * _g.Cols.Output + ow) * ldy;
                    if (_tile == 4 && Wide && _f % 16 == 0) OutputTile4<Lanes512, Vector512<float>>(m + (long)(t - t0) * _f, mStride, at, ldy, (long)_g.Cols.Output * ldy, rowsLeft, colsLeft, map, add);
                    else if (_tile == 4) OutputTile4<Lanes256, Vector256<float>>(m + (long)(t - t0) * _f, mStride, at, ldy, (long)_g.Cols.Output * ldy, rowsLeft, colsLeft, map, add);
                    else OutputTile(m + (long)(t - t0) * _f, mStride, at, ldy, (long)_g.Cols.Output * ldy, rowsLeft, colsLeft, map, add);
                }
            }
        }
    }

    /// <summary>
    /// A block's tiles in rounds of at most the scratch's tiles, as few rounds as that allows: rounds of whole
    /// 6-row tiles of the GEMMs, as equal as that allows, not a last round of a handful of tiles (the strided Winograd's rounds
    /// too). Where whole tiles would leave a last round of 16 tiles or fewer, whose GEMMs run as dot products (the laid-out
    /// GEMM's; the gathered one leaves them to it), the rounds are equal to a tile instead: 64 tiles of 4x4x256 -> 256 maps in
    /// rounds of at most 30 had run 24, 24 and 16, and run 21, 21 and 22.
    /// </summary>
    internal readonly struct Rounds
    {
        public readonly int Count;
        private readonly int _tiles, _whole;          // _whole: tiles a round but the last; 0 when the rounds are equal

        public Rounds(int tiles, int most)
        {
            (_tiles, Count) = (tiles, (tiles + most - 1) / most);
            _whole = Math.Min(most, ((tiles + Count - 1) / Count + 5) / 6 * 6);
            int last = tiles - (tiles - 1) / _whole * _whole;
            if (Count > 1 && last <= ManagedBackend.DotRows) _whole = 0;
            else Count = (tiles + _whole - 1) / _whole;
        }

        /// <summary>The first tile of round <paramref name="round"/> (of round Count: the block's end).</summary>
        public int Start(int round) => _whole > 0 ? Math.Min(_tiles, round * _whole) : (int)((long)round * _tiles / Count);
    }

    /// <summary>Thread <paramref name="part"/>'s V and M (or H) for a round of tiles, made at its first round.</summary>
    private (float[] V, float[] M) Scratch(int part) =>
        (_v[part] ??= new float[_xi * (_most * _c + Skew)], _m[part] ??= new float[_xi * (_most * _f + Skew)]);

    /// <summary>
    /// Tiles one after another from tile t of a block whose examples have <paramref name="tilesHigh"/> rows of tiles: each one's
    /// example in the block, and its top left output row and column there. Divisions once, then steps (with 16 channels, two
    /// divisions per tile had been 6% of forward).
    /// </summary>
    internal struct Tiles
    {
        private readonly int _wide, _high, _side;
        public int Example, Row, Col;

        public Tiles(int t, int tilesWide, int tilesHigh, int side)
        {
            (_wide, _high, _side) = (tilesWide, tilesHigh, side);
            int perExample = tilesWide * tilesHigh, inExample = t % perExample;
            (Example, Row, Col) = (t / perExample, inExample / tilesWide * side, inExample % tilesWide * side);
        }

        public void Next()
        {
            if ((Col += _side) < _side * _wide) return;
            Col = 0;
            if ((Row += _side) < _side * _high) return;
            Row = 0;
            Example++;
        }
    }

    /// <summary>
    /// The weight gradient's share of examples [n0, n1) by F(3x3, 2x2), the transpose of forward's algorithm (Lavin and Gray):
    /// each 2x2 tile of dY and the 4x4 input tile under it add Gᵀ [(A h Aᵀ) ⊙ (Bᵀ d B)] G to the 3x3 kernel's gradient, the
    /// same V = Bᵀ d B as forward's; by F(3x3, 4x4) with F(4x4, 3x3)'s matrices, 4x4 tiles of dY over 6x6 input tiles. Summed
    /// over the tiles first, on thread <paramref name="part"/> into the sums of slice <paramref name="slice"/> of the batch:
    /// dU_ξ (F, C) += H_ξᵀ V_ξ, sixteen (or 36) GEMMs whose K is the tiles (<paramref name="add"/> false: the slice's first
    /// chunk, written). 16 multiplies per 2x2 tile, channel and filter (36 per 4x4 tile), against the direct sum's 36 (144);
    /// <see cref="WeightGradientTo"/> then transforms the slices' sums back.
    /// </summary>
    public void WeightGradient(Backend kernels, bool nested, int part, int slice, float* x, float* dz, int n0, int n1, bool add)
    {
        int tilesHigh = (_g.Rows.Output + _tile - 1) / _tile, perExample = tilesHigh * _tilesWide, tiles = (n1 - n0) * perExample;
        int rounds = (tiles + _most - 1) / _most, size = (tiles + rounds - 1) / rounds;
        float** cells = stackalloc float*[36];
        var (vs, hs) = Scratch(part);
        fixed (float* v = vs, h = hs, zeros = _zeros, dU = _dU)
        {
            float* du = dU + slice * WeightGradientFloats;
            for (int round = 0; round * size < tiles; round++)
            {
                int t0 = round * size, t1 = Math.Min(tiles, t0 + size), count = t1 - t0;
                long vStride = (long)count * _c + Skew, hStride = (long)count * _f + Skew;
                var tile = new Tiles(t0, _tilesWide, tilesHigh, _tile);
                for (int t = t0; t < t1; t++, tile.Next())
                {
                    var (e, oh, ow) = (tile.Example, tile.Row, tile.Col);
                    InputTile(x, zeros, cells, n0 + e, oh - _g.Rows.PadBefore, ow - _g.Cols.PadBefore, v + (long)(t - t0) * _c, vStride);
                    GradientTile(dz, zeros, cells, n0 + e, oh, ow, h + (long)(t - t0) * _f, hStride);
                }
                float beta = add || round > 0 ? 1 : 0;
                for (int xi = 0; xi < _xi; xi++)
                    kernels.GemmFrom(part, nested, Op.T, Op.N, _f, _c, count, new ReadOnlySpan<float>(h + xi * hStride, count * _f), _f,
                        new ReadOnlySpan<float>(v + xi * vStride, count * _c), _c, beta, new Span<float>(du + (long)xi * _f * _c, _f * _c), _c);
            }
        }
    }

    /// <summary>
    /// dW [F, 3, 3, C] = Gᵀ dU G per filter and channel, dU the sum of the slices' <see cref="WeightGradient"/> sums (those
    /// <paramref name="used"/>), added in slice order: deterministic for a given thread count. Gᵀ = [1 ½ ½ 0; 0 ½ -½ 0; 0 ½ ½ 1].
    /// </summary>
    public void WeightGradientTo(Backend kernels, ReadOnlySpan<bool> used, Span<float> dW)
    {
        if (dW.Length < _f * 9 * _c) throw new ArgumentException($"Winograd: dW has {dW.Length} floats, the kernel {_f * 9 * _c}");
        if (used.Length * WeightGradientFloats > _dU.Length) throw new ArgumentException("Winograd: more slices than its weight gradient's sums");
        fixed (float* pw = dW, du = _dU)
        fixed (bool* pu = used)
        {
            var args = new SumArgs { DW = pw, DU = du, Used = pu, Slices = used.Length, F = _f, C = _c };
            // filter by filter: the same floats on any split
            if (_tile == 4) kernels.ParallelFor(_f, &TransformBack4, &args, 36L * _c * used.Length);
            else kernels.ParallelFor(_f, &TransformBack, &args, 16L * _c * used.Length);
        }
    }

    private struct SumArgs
    {
        public float* DW, DU;
        public bool* Used;
        public int Slices, F, C;
    }

    // Filters [f0, f1): eight channels at a time (C is a multiple of 8), the same operations on each lane as one channel at a
    // time, so the same floats (it ran a channel at a time on one thread while the others waited: 1-2% of a training step).
    // Written out straight, the sixteen sums in registers (over a scratch on the stack it took a fifth longer: 0.54% of the
    // residual model's training samples against 0.45%, alternating in one process on a Zen 5).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformBack(void* state, int part, int f0, int f1)
    {
        var a = (SumArgs*)state;
        int fs = a->F, cs = a->C;
        long size = 16L * fs * cs, xi = (long)fs * cs;                     // floats between slices; between ξs
        for (int f = f0; f < f1; f++)
            for (int c = 0; c < cs; c += 8)
            {
                Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default,
                    s8 = default, s9 = default, s10 = default, s11 = default, s12 = default, s13 = default, s14 = default, s15 = default;
                for (int slice = 0; slice < a->Slices; slice++)
                    if (a->Used[slice])
                    {
                        float* du = a->DU + slice * size + (long)f * cs + c;  // ξ's sum at du + ξ·F·C
                        s0 += Vector256.Load(du); s1 += Vector256.Load(du + xi); s2 += Vector256.Load(du + 2 * xi); s3 += Vector256.Load(du + 3 * xi);
                        s4 += Vector256.Load(du + 4 * xi); s5 += Vector256.Load(du + 5 * xi); s6 += Vector256.Load(du + 6 * xi); s7 += Vector256.Load(du + 7 * xi);
                        s8 += Vector256.Load(du + 8 * xi); s9 += Vector256.Load(du + 9 * xi); s10 += Vector256.Load(du + 10 * xi); s11 += Vector256.Load(du + 11 * xi);
                        s12 += Vector256.Load(du + 12 * xi); s13 += Vector256.Load(du + 13 * xi); s14 += Vector256.Load(du + 14 * xi); s15 += Vector256.Load(du + 15 * xi);
                    }
                // Gᵀ M, column by column: row i of it at column j
                var (a0, b0, c0) = Gt(s0, s4, s8, s12);
                var (a1, b1, c1) = Gt(s1, s5, s9, s13);
                var (a2, b2, c2) = Gt(s2, s6, s10, s14);
                var (a3, b3, c3) = Gt(s3, s7, s11, s15);
                float* at = a->DW + (long)f * 9 * cs + c;                       // (Gᵀ M) G, row by row: dW[f, i, j, c] at at + (3i + j)·C
                StoreGt(Gt(a0, a1, a2, a3), at, cs);
                StoreGt(Gt(b0, b1, b2, b3), at + 3 * cs, cs);
                StoreGt(Gt(c0, c1, c2, c3), at + 6 * cs, cs);
            }
    }

    /// <summary>Gᵀ = [1 ½ ½ 0; 0 ½ -½ 0; 0 ½ ½ 1] times (m0 .. m3): m0 + (m1 + m2)/2, (m1 - m2)/2, (m1 + m2)/2 + m3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float>, Vector256<float>, Vector256<float>) Gt(Vector256<float> m0, Vector256<float> m1, Vector256<float> m2, Vector256<float> m3)
    {
        var half = Vector256.Create(0.5f);
        return (m0 + half * (m1 + m2), half * (m1 - m2), half * (m1 + m2) + m3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreGt((Vector256<float> Y0, Vector256<float> Y1, Vector256<float> Y2) y, float* at, int step)
    {
        y.Y0.Store(at);
        y.Y1.Store(at + step);
        y.Y2.Store(at + 2 * step);
    }

    /// <summary>
    /// H = A h Aᵀ for the tile of dY (2x2, or 4x4 for F(3x3, 4x4)) whose top left is output (oh, ow) of example n, every filter,
    /// into h (element ξ at h + ξ·<paramref name="stride"/>); outputs past the edge read as zeros. F(3x3, 2x2)'s A = [1 0; 1 1; 1 -1; 0 -1].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void GradientTile(float* dz, float* zeros, float** cells, int n, int oh, int ow, float* h, long stride)
    {
        int height = _g.Rows.Output, width = _g.Cols.Output, f = _f, side = _tile;
        for (int i = 0; i < side; i++)
            for (int j = 0; j < side; j++)
            {
                int r = oh + i, col = ow + j;
                cells[side * i + j] = r < height && col < width ? dz + (((long)n * height + r) * width + col) * f : zeros;
            }
        if (side == 4)
        {
            if (Wide && f % 16 == 0) for (int q = 0; q < f; q += 16) GradientTransform4<Lanes512, Vector512<float>>(cells, q, h + q, stride);
            else for (int q = 0; q < f; q += 8) GradientTransform4<Lanes256, Vector256<float>>(cells, q, h + q, stride);
            return;
        }
        for (int q = 0; q < f; q += 8)
        {
            var (a, b, c, d) = (Vector256.Load(cells[0] + q), Vector256.Load(cells[1] + q), Vector256.Load(cells[2] + q), Vector256.Load(cells[3] + q));
            // each row (a b), (c d) times Aᵀ: (x, x + y, x - y, -y); then each column of that times A, the same
            Vector256<float> u0 = a, u1 = a + b, u2 = a - b, u3 = -b, w0 = c, w1 = c + d, w2 = c - d, w3 = -d;
            GradientColumn(h + q, stride, 0, u0, w0);
            GradientColumn(h + q, stride, 1, u1, w1);
            GradientColumn(h + q, stride, 2, u2, w2);
            GradientColumn(h + q, stride, 3, u3, w3);
        }
    }

    /// <summary>Column j of A times (top, bottom): H[i, j] for i = 0..3 at h + (4i + j)·stride.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GradientColumn(float* h, long stride, int j, Vector256<float> top, Vector256<float> bottom)
    {
        Vector256.Store(top, h + j * stride);
        Vector256.Store(top + bottom, h + (4 + j) * stride);
        Vector256.Store(top - bottom, h + (8 + j) * stride);
        Vector256.Store(-bottom, h + (12 + j) * stride);
    }

    /// <summary>
    /// F(3x3, 4x4): H = A h Aᵀ on one vector of filters from q of the 16 cells of a 4x4 tile of dY, A = Aᵀ's transpose (6x4:
    /// [1 0 0 0; 1 1 1 1; 1 -1 1 -1; 1 2 4 8; 1 -2 4 -8; 0 0 0 1]): each column into locals, then each row of those, stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GradientTransform4<TL, TV>(float** cells, int q, float* h, long stride) where TL : struct, ILanes<TV> where TV : struct
    {
        TV L(int i, int j) => TL.Load(cells[4 * i + j] + q);
        // A times each column of h: row i of A h at column j in (a..f)j
        A<TL, TV>(L(0, 0), L(1, 0), L(2, 0), L(3, 0), out var a0, out var b0, out var c0, out var d0, out var e0, out var f0);
        A<TL, TV>(L(0, 1), L(1, 1), L(2, 1), L(3, 1), out var a1, out var b1, out var c1, out var d1, out var e1, out var f1);
        A<TL, TV>(L(0, 2), L(1, 2), L(2, 2), L(3, 2), out var a2, out var b2, out var c2, out var d2, out var e2, out var f2);
        A<TL, TV>(L(0, 3), L(1, 3), L(2, 3), L(3, 3), out var a3, out var b3, out var c3, out var d3, out var e3, out var f3);
        // each row of it times Aᵀ: H[i, j] at h + (6i + j)·stride
        StoreA<TL, TV>(a0, a1, a2, a3, h, stride);
        StoreA<TL, TV>(b0, b1, b2, b3, h + 6 * stride, stride);
        StoreA<TL, TV>(c0, c1, c2, c3, h + 12 * stride, stride);
        StoreA<TL, TV>(d0, d1, d2, d3, h + 18 * stride, stride);
        StoreA<TL, TV>(e0, e1, e2, e3, h + 24 * stride, stride);
        StoreA<TL, TV>(f0, f1, f2, f3, h + 30 * stride, stride);
    }

    /// <summary>A (6x4 above) times (h0 .. h3): h0, (h0 + h2) ± (h1 + h3), (h0 + 4h2) ± 2(h1 + 4h3), h3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void A<TL, TV>(TV h0, TV h1, TV h2, TV h3, out TV o0, out TV o1, out TV o2, out TV o3, out TV o4, out TV o5)
        where TL : struct, ILanes<TV> where TV : struct
    {
        TV even = TL.Add(h0, h2), odd = TL.Add(h1, h3);
        TV even4 = TL.FusedMultiplyAdd(TL.Create(4f), h2, h0), odd8 = TL.FusedMultiplyAdd(TL.Create(4f), h3, h1);
        odd8 = TL.Add(odd8, odd8);                                                           // 2(h1 + 4h3): doubling is exact
        (o0, o1, o2, o3, o4, o5) = (h0, TL.Add(even, odd), TL.Subtract(even, odd), TL.Add(even4, odd8), TL.Subtract(even4, odd8), h3);
    }

    /// <summary>A times (h0 .. h3), the k-th result stored at at + k·step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreA<TL, TV>(TV h0, TV h1, TV h2, TV h3, float* at, long step) where TL : struct, ILanes<TV> where TV : struct
    {
        A<TL, TV>(h0, h1, h2, h3, out var o0, out var o1, out var o2, out var o3, out var o4, out var o5);
        TL.Store(o0, at); TL.Store(o1, at + step); TL.Store(o2, at + 2 * step); TL.Store(o3, at + 3 * step); TL.Store(o4, at + 4 * step); TL.Store(o5, at + 5 * step);
    }

    /// <summary>
    /// F(3x3, 4x4)'s <see cref="TransformBack"/>, filters [f0, f1): the slices' 36 sums added in slice order in floats, then
    /// dW = Gᵀ dU G in double, rounded once (G's sixths and twenty-fourths are not exact in float). Eight channels at a time, each
    /// as two vectors of four doubles: the same operations on each lane as one channel at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformBack4(void* state, int part, int f0, int f1)
    {
        var a = (SumArgs*)state;
        int fs = a->F, cs = a->C;
        long size = 36L * fs * cs, xi = (long)fs * cs;                     // floats between slices; between ξs
        var s = stackalloc Vector256<float>[36];
        var m = stackalloc Vector256<double>[36];
        var t = stackalloc Vector256<double>[18];
        var y = stackalloc Vector256<double>[18];                          // dW[i, j]'s two halves at 2(3i + j) and 2(3i + j) + 1
        for (int f = f0; f < f1; f++)
            for (int c = 0; c < cs; c += 8)
            {
                for (int k = 0; k < 36; k++) s[k] = default;
                for (int slice = 0; slice < a->Slices; slice++)
                    if (a->Used[slice])
                    {
                        float* du = a->DU + slice * size + (long)f * cs + c;  // ξ's sum at du + ξ·F·C
                        for (int k = 0; k < 36; k++) s[k] += Vector256.Load(du + k * xi);
                    }
                for (int half = 0; half < 2; half++)
                {
                    for (int k = 0; k < 36; k++) m[k] = half == 0 ? Vector256.WidenLower(s[k]) : Vector256.WidenUpper(s[k]);
                    for (int j = 0; j < 6; j++) Gt4(m[j], m[6 + j], m[12 + j], m[18 + j], m[24 + j], m[30 + j], out t[j], out t[6 + j], out t[12 + j]);   // Gᵀ M
                    for (int i = 0; i < 3; i++)                                // (Gᵀ M) G, row by row
                        Gt4(t[6 * i], t[6 * i + 1], t[6 * i + 2], t[6 * i + 3], t[6 * i + 4], t[6 * i + 5], out y[2 * (3 * i) + half], out y[2 * (3 * i + 1) + half], out y[2 * (3 * i + 2) + half]);
                }
                float* at = a->DW + (long)f * 9 * cs + c;                       // dW[f, i, j, c] at at + (3i + j)·C
                for (int k = 0; k < 9; k++) Vector256.Narrow(y[2 * k], y[2 * k + 1]).Store(at + k * cs);
            }
    }

    /// <summary>
    /// F(4x4, 3x3)'s Gᵀ (3x6: G's columns [¼ -⅙ -⅙ 1/24 1/24 0; 0 -⅙ ⅙ 1/12 -1/12 0; 0 -⅙ -⅙ ⅙ ⅙ 1]) times (m0 .. m5), in double.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Gt4(Vector256<double> m0, Vector256<double> m1, Vector256<double> m2, Vector256<double> m3, Vector256<double> m4, Vector256<double> m5,
        out Vector256<double> o0, out Vector256<double> o1, out Vector256<double> o2)
    {
        // multiplies by the reciprocals (within a double's rounding of the divisions: far under the float's rounding that follows)
        var (sixth, twelfth, twentyFourth) = (Vector256.Create(1.0 / 6), Vector256.Create(1.0 / 12), Vector256.Create(1.0 / 24));
        var (sum12, diff21, sum34, diff34) = (m1 + m2, m2 - m1, m3 + m4, m3 - m4);
        o0 = m0 * 0.25 - sum12 * sixth + sum34 * twentyFourth;
        o1 = diff21 * sixth + diff34 * twelfth;
        o2 = (sum34 - sum12) * sixth + m5;
    }

    /// <summary>
    /// V = Bᵀ d B for the input tile (4x4, or 6x6 for F(4x4, 3x3)) whose top left is (ih, iw) of example n, every channel, into
    /// v (element ξ at v + ξ·<paramref name="stride"/>). A tile wholly inside the map reads its cells at fixed distances from
    /// the first; one at the edge through a table of them, made in <paramref name="cells"/>, cells in the padding pointing at zeros.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void InputTile(float* x, float* zeros, float** cells, int n, int ih, int iw, float* v, long stride)
    {
        int height = _g.Input.Height, width = _g.Input.Width, c = _c, span = _span;
        float* first = x + (((long)n * height + ih) * width + iw) * c;
        // wholly inside (most tiles): no table (making one had made 28x28x16 -> 16's forward by F(4x4, 3x3) 5-6% slower)
        if (ih >= 0 && ih + span <= height && iw >= 0 && iw + span <= width) { InputTransform(new CellGrid(first, (long)width * c, c), v, stride); return; }
        // at the map's edge: which columns lie inside found once, then a row at a time (a test and an address per cell had
        // made 28x28x16 -> 16's forward 4% slower at inference, 14x14x32 -> 32's 3%: half of their tiles and three quarters)
        uint columnsInside = 0;
        for (int j = 0; j < span; j++) if ((uint)(iw + j) < (uint)width) columnsInside |= 1u << j;
        for (int i = 0; i < span; i++, first += (long)width * c)
        {
            uint inside = (uint)(ih + i) < (uint)height ? columnsInside : 0;
            for (int j = 0; j < span; j++) cells[span * i + j] = (inside >> j & 1) != 0 ? first + j * c : zeros;
        }
        InputTransform(new CellTable(cells, span), v, stride);
    }

    /// <summary>Bᵀ d B over every channel of the tile whose cells <paramref name="cells"/> finds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void InputTransform<TCells>(TCells cells, float* v, long stride) where TCells : struct, ICells
    {
        int c = _c;
        if (_span == 6 && Wide && c % 16 == 0)
            for (int ch = 0; ch < c; ch += 16) Transform4<TCells, Lanes512, Vector512<float>>(cells, ch, v + ch, stride);
        else if (_span == 6)
            for (int ch = 0; ch < c; ch += 8) Transform4<TCells, Lanes256, Vector256<float>>(cells, ch, v + ch, stride);
        else
            for (int ch = 0; ch < c; ch += 8) Transform(cells, ch, v + ch, stride);
    }

    /// <summary>Where an input tile's cell (i, j) lies.</summary>
    internal interface ICells { float* At(int i, int j); }

    /// <summary>A table of the cells' addresses, a row after another (a tile at the map's edge: cells in the padding at zeros).</summary>
    internal readonly struct CellTable(float** cells, int span) : ICells
    {
        public float* At(int i, int j) => cells[span * i + j];
    }

    /// <summary>Cells at fixed distances from the first (a tile wholly inside the map).</summary>
    internal readonly struct CellGrid(float* first, long row, long column) : ICells
    {
        public float* At(int i, int j) => first + i * row + j * column;
    }

    /// <summary>
    /// F(2x2, 3x3): Bᵀ d B on channels [ch, ch + 8) of the 16 cells, each column then each row in registers, stored once.
    /// Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Transform<TCells>(TCells cells, int ch, float* v, long stride) where TCells : struct, ICells
    {
        Vector256<float> Load(int i, int j) => Vector256.Load(cells.At(i, j) + ch);
        Store(v, stride,
            Column(Load(0, 0), Load(1, 0), Load(2, 0), Load(3, 0)), Column(Load(0, 1), Load(1, 1), Load(2, 1), Load(3, 1)),
            Column(Load(0, 2), Load(1, 2), Load(2, 2), Load(3, 2)), Column(Load(0, 3), Load(1, 3), Load(2, 3), Load(3, 3)));
    }

    /// <summary>Bᵀ times one column of d.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) Column(Vector256<float> d0, Vector256<float> d1, Vector256<float> d2, Vector256<float> d3) =>
        (d0 - d2, d1 + d2, d2 - d1, d1 - d3);

    /// <summary>Each row of Bᵀ d (its four columns given) times B, stored: V[i, j] at v + (4i + j)·stride.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* v, long stride,
        (Vector256<float> R0, Vector256<float> R1, Vector256<float> R2, Vector256<float> R3) c0, (Vector256<float> R0, Vector256<float> R1, Vector256<float> R2, Vector256<float> R3) c1,
        (Vector256<float> R0, Vector256<float> R1, Vector256<float> R2, Vector256<float> R3) c2, (Vector256<float> R0, Vector256<float> R1, Vector256<float> R2, Vector256<float> R3) c3)
    {
        Row(v, stride, c0.R0, c1.R0, c2.R0, c3.R0);
        Row(v + 4 * stride, stride, c0.R1, c1.R1, c2.R1, c3.R1);
        Row(v + 8 * stride, stride, c0.R2, c1.R2, c2.R2, c3.R2);
        Row(v + 12 * stride, stride, c0.R3, c1.R3, c2.R3, c3.R3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Row(float* v, long stride, Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3)
    {
        Vector256.Store(r0 - r2, v);
        Vector256.Store(r1 + r2, v + stride);
        Vector256.Store(r2 - r1, v + 2 * stride);
        Vector256.Store(r1 - r3, v + 3 * stride);
    }

    /// <summary>
    /// Y = Aᵀ M A for one tile, every filter, from m (element ξ at m + ξ·<paramref name="stride"/>) into the rows·cols of the 2x2
    /// tile at y that lie in the output (row stride <paramref name="row"/>, column stride <paramref name="ldy"/>), each through the
    /// map when given. Aᵀ = [1 1 1 0; 0 1 -1 -1].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void OutputTile(float* m, long stride, float* y, int ldy, long row, int rows, int cols, ColumnMap* map, bool add)
    {
        for (int f = 0; f < _f; f += 8)
        {
            var k = new ColumnCoefficients<Lanes256, Vector256<float>>(map, f);
            Vector256<float> t00, t01, t02, t03, t10, t11, t12, t13;
            {
                var m0 = Vector256.Load(m + 0 * stride + f); var m4 = Vector256.Load(m + 4 * stride + f); var m8 = Vector256.Load(m + 8 * stride + f); var m12 = Vector256.Load(m + 12 * stride + f);
                (t00, t10) = (m0 + m4 + m8, m4 - m8 - m12);
                var m1 = Vector256.Load(m + 1 * stride + f); var m5 = Vector256.Load(m + 5 * stride + f); var m9 = Vector256.Load(m + 9 * stride + f); var m13 = Vector256.Load(m + 13 * stride + f);
                (t01, t11) = (m1 + m5 + m9, m5 - m9 - m13);
                var m2 = Vector256.Load(m + 2 * stride + f); var m6 = Vector256.Load(m + 6 * stride + f); var m10 = Vector256.Load(m + 10 * stride + f); var m14 = Vector256.Load(m + 14 * stride + f);
                (t02, t12) = (m2 + m6 + m10, m6 - m10 - m14);
                var m3 = Vector256.Load(m + 3 * stride + f); var m7 = Vector256.Load(m + 7 * stride + f); var m11 = Vector256.Load(m + 11 * stride + f); var m15 = Vector256.Load(m + 15 * stride + f);
                (t03, t13) = (m3 + m7 + m11, m7 - m11 - m15);
            }
            Store(k, t00 + t01 + t02, y + f, add);
            if (cols > 1) Store(k, t01 - t02 - t03, y + ldy + f, add);
            if (rows < 2) continue;
            Store(k, t10 + t11 + t12, y + row + f, add);
            if (cols > 1) Store(k, t11 - t12 - t13, y + row + ldy + f, add);
        }
    }

    /// <summary>
    /// F(4x4, 3x3): Bᵀ d B on one vector of channels from ch of the 36 cells, Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
    /// 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]: each column into locals, then each row of those, stored. Written out
    /// straight, once for both widths, as <see cref="OutputTile4"/> is: in loops over a scratch of vectors on the stack the two
    /// had taken the residual model's inference at batch 1000 to 49.1 ms against 44.7 with AVX-512, 69.3 against 67.1 with AVX2
    /// (Zen 5, toggled in one process; the same floats).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Transform4<TCells, TL, TV>(TCells cells, int ch, float* v, long stride) where TCells : struct, ICells where TL : struct, ILanes<TV> where TV : struct
    {
        TV L(int i, int j) => TL.Load(cells.At(i, j) + ch);
        // Bᵀ times each column of d: row i of Bᵀ d at column j in (a..f)j
        Bt<TL, TV>(L(0, 0), L(1, 0), L(2, 0), L(3, 0), L(4, 0), L(5, 0), out var a0, out var b0, out var c0, out var d0, out var e0, out var f0);
        Bt<TL, TV>(L(0, 1), L(1, 1), L(2, 1), L(3, 1), L(4, 1), L(5, 1), out var a1, out var b1, out var c1, out var d1, out var e1, out var f1);
        Bt<TL, TV>(L(0, 2), L(1, 2), L(2, 2), L(3, 2), L(4, 2), L(5, 2), out var a2, out var b2, out var c2, out var d2, out var e2, out var f2);
        Bt<TL, TV>(L(0, 3), L(1, 3), L(2, 3), L(3, 3), L(4, 3), L(5, 3), out var a3, out var b3, out var c3, out var d3, out var e3, out var f3);
        Bt<TL, TV>(L(0, 4), L(1, 4), L(2, 4), L(3, 4), L(4, 4), L(5, 4), out var a4, out var b4, out var c4, out var d4, out var e4, out var f4);
        Bt<TL, TV>(L(0, 5), L(1, 5), L(2, 5), L(3, 5), L(4, 5), L(5, 5), out var a5, out var b5, out var c5, out var d5, out var e5, out var f5);
        // each row of it times B: V[i, j] at v + (6i + j)·stride
        StoreBt<TL, TV>(a0, a1, a2, a3, a4, a5, v, stride);
        StoreBt<TL, TV>(b0, b1, b2, b3, b4, b5, v + 6 * stride, stride);
        StoreBt<TL, TV>(c0, c1, c2, c3, c4, c5, v + 12 * stride, stride);
        StoreBt<TL, TV>(d0, d1, d2, d3, d4, d5, v + 18 * stride, stride);
        StoreBt<TL, TV>(e0, e1, e2, e3, e4, e5, v + 24 * stride, stride);
        StoreBt<TL, TV>(f0, f1, f2, f3, f4, f5, v + 30 * stride, stride);
    }

    /// <summary>Bᵀ (6x6 above) times (d0 .. d5).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Bt<TL, TV>(TV d0, TV d1, TV d2, TV d3, TV d4, TV d5, out TV o0, out TV o1, out TV o2, out TV o3, out TV o4, out TV o5)
        where TL : struct, ILanes<TV> where TV : struct
    {
        // Fused multiply-adds where they round as the multiply and the add did: 4x is exact, and -5x is rounded as 5x is, before
        // the add. The same floats in fewer operations (4 of 21).
        TV four = TL.Create(4f), minusFour = TL.Create(-4f), minusFive = TL.Create(-5f);
        TV sum12 = TL.Add(d1, d2), diff12 = TL.Subtract(d1, d2), diff42 = TL.Subtract(d4, d2), diff31 = TL.Subtract(d3, d1), twice31 = TL.Add(diff31, diff31);
        o0 = TL.Add(TL.FusedMultiplyAdd(four, d0, TL.Multiply(minusFive, d2)), d4);         // 4d0 - 5d2 + d4
        o1 = TL.FusedMultiplyAdd(minusFour, sum12, TL.Add(d3, d4));                         // d3 + d4 - 4(d1 + d2)
        o2 = TL.FusedMultiplyAdd(four, diff12, TL.Subtract(d4, d3));                        // d4 - d3 + 4(d1 - d2)
        o3 = TL.Add(diff42, twice31);                                                        // d4 - d2 + 2(d3 - d1)
        o4 = TL.Subtract(diff42, twice31);                                                   // d4 - d2 - 2(d3 - d1)
        o5 = TL.Add(TL.FusedMultiplyAdd(four, d1, TL.Multiply(minusFive, d3)), d5);         // 4d1 - 5d3 + d5
    }

    /// <summary>Bᵀ times (d0 .. d5), the k-th result stored at at + k·step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreBt<TL, TV>(TV d0, TV d1, TV d2, TV d3, TV d4, TV d5, float* at, long step) where TL : struct, ILanes<TV> where TV : struct
    {
        Bt<TL, TV>(d0, d1, d2, d3, d4, d5, out var o0, out var o1, out var o2, out var o3, out var o4, out var o5);
        TL.Store(o0, at); TL.Store(o1, at + step); TL.Store(o2, at + 2 * step); TL.Store(o3, at + 3 * step); TL.Store(o4, at + 4 * step); TL.Store(o5, at + 5 * step);
    }

    /// <summary>
    /// F(4x4, 3x3): Y = Aᵀ M A for one tile, every filter, a vector of them at a time, Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0;
    /// 0 1 1 4 4 0; 0 1 -1 8 -8 1]: Aᵀ M into locals, then each row of those times A; the rows·cols of the 4x4 tile at y that
    /// lie in the output stored (row stride <paramref name="row"/>, column stride <paramref name="ldy"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void OutputTile4<TL, TV>(float* m, long stride, float* y, int ldy, long row, int rows, int cols, ColumnMap* map, bool add) where TL : struct, ILanes<TV> where TV : struct
    {
        for (int f = 0; f < _f; f += TL.Count)
        {
            var k = new ColumnCoefficients<TL, TV>(map, f);
            TV M(int i, int j) => TL.Load(m + (6 * i + j) * stride + f);
            At<TL, TV>(M(0, 0), M(1, 0), M(2, 0), M(3, 0), M(4, 0), M(5, 0), out var a0, out var b0, out var c0, out var d0);
            At<TL, TV>(M(0, 1), M(1, 1), M(2, 1), M(3, 1), M(4, 1), M(5, 1), out var a1, out var b1, out var c1, out var d1);
            At<TL, TV>(M(0, 2), M(1, 2), M(2, 2), M(3, 2), M(4, 2), M(5, 2), out var a2, out var b2, out var c2, out var d2);
            At<TL, TV>(M(0, 3), M(1, 3), M(2, 3), M(3, 3), M(4, 3), M(5, 3), out var a3, out var b3, out var c3, out var d3);
            At<TL, TV>(M(0, 4), M(1, 4), M(2, 4), M(3, 4), M(4, 4), M(5, 4), out var a4, out var b4, out var c4, out var d4);
            At<TL, TV>(M(0, 5), M(1, 5), M(2, 5), M(3, 5), M(4, 5), M(5, 5), out var a5, out var b5, out var c5, out var d5);
            float* at = y + f;
            StoreAt(k, a0, a1, a2, a3, a4, a5, at, ldy, cols, add);
            if (rows > 1) StoreAt(k, b0, b1, b2, b3, b4, b5, at + row, ldy, cols, add);
            if (rows > 2) StoreAt(k, c0, c1, c2, c3, c4, c5, at + 2 * row, ldy, cols, add);
            if (rows > 3) StoreAt(k, d0, d1, d2, d3, d4, d5, at + 3 * row, ldy, cols, add);
        }
    }

    /// <summary>Aᵀ (4x6 above) times (m0 .. m5).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void At<TL, TV>(TV m0, TV m1, TV m2, TV m3, TV m4, TV m5, out TV o0, out TV o1, out TV o2, out TV o3) where TL : struct, ILanes<TV> where TV : struct
    {
        // the powers of two multiply exactly, so each fused multiply-add rounds as the multiply and the add did: the same floats
        TV sum12 = TL.Add(m1, m2), diff12 = TL.Subtract(m1, m2), sum34 = TL.Add(m3, m4), diff34 = TL.Subtract(m3, m4);
        o0 = TL.Add(TL.Add(m0, sum12), sum34);                                               // m0 + (m1 + m2) + (m3 + m4)
        o1 = TL.FusedMultiplyAdd(TL.Create(2f), diff34, diff12);                             // (m1 - m2) + 2(m3 - m4)
        o2 = TL.FusedMultiplyAdd(TL.Create(4f), sum34, sum12);                               // (m1 + m2) + 4(m3 + m4)
        o3 = TL.Add(TL.FusedMultiplyAdd(TL.Create(8f), diff34, diff12), m5);                 // (m1 - m2) + 8(m3 - m4) + m5
    }

    /// <summary>A row (t0 .. t5) of Aᵀ M times A: the first <paramref name="cols"/> of its four outputs stored through the map, <paramref name="ldy"/> apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreAt<TL, TV>(in ColumnCoefficients<TL, TV> k, TV t0, TV t1, TV t2, TV t3, TV t4, TV t5, float* at, int ldy, int cols, bool add) where TL : struct, ILanes<TV> where TV : struct
    {
        At<TL, TV>(t0, t1, t2, t3, t4, t5, out var y0, out var y1, out var y2, out var y3);
        Store(k, y0, at, add);
        if (cols > 1) Store(k, y1, at + ldy, add);
        if (cols > 2) Store(k, y2, at + 2 * ldy, add);
        if (cols > 3) Store(k, y3, at + 3 * ldy, add);
    }

    /// <summary>
    /// An output vector stored, through the map where there is one (the same operations as the epilogue's pass, so the same floats),
    /// or added to what is there.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Store<TL, TV>(in ColumnCoefficients<TL, TV> k, TV y, float* at, bool add = false) where TL : struct, ILanes<TV> where TV : struct
    {
        if (k.Any) y = k.Apply(y);
        TL.Store(add ? TL.Add(TL.Load(at), y) : y, at);
    }
}
