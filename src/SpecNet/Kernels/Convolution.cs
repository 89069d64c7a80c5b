using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SpecNet.Schema;

namespace SpecNet.Kernels;

/// <summary>The shape of a 2-D convolution (NHWC input; kernel stored [F, KH, KW, C/groups]).</summary>
public readonly record struct ConvGeometry(Shape Input, Window Rows, Window Cols, int Filters, int Groups = 1)
{
    public int GroupChannels => Input.Channels / Groups;
    public int GroupFilters => Filters / Groups;
    /// <summary>K of a group's GEMM: one window's values.</summary>
    public int PatchSize => Rows.Kernel * Cols.Kernel * GroupChannels;
    /// <summary>Output positions per example: rows of the GEMM.</summary>
    public int Positions => Rows.Output * Cols.Output;
    public int OutputSize => Positions * Filters;
}

/// <summary>What ends a convolution, applied to a chunk's output rows while they are in cache (bias, relu).</summary>
public interface IRowsEpilogue
{
    /// <param name="at">Where the rows start in the whole output, in floats (to read a tensor of the output's shape alongside).</param>
    void ApplyRows(Span<float> rows, long at);

    /// <summary>
    /// The epilogue as a map of each column (channel) that a GEMM can apply as it stores its output (<see cref="ColumnMap"/>): bias,
    /// scale and shift (null for none) and relu; false when it is not one (it adds a tensor).
    /// </summary>
    bool AsColumns(out float[]? bias, out float[]? scale, out float[]? shift, out bool relu);
}

/// <summary>
/// What a convolution reads instead of an input tensor (<see cref="Convolution.ReadInputFrom"/>): the rows of it asked for,
/// made on the spot into the reader's scratch by the layer before, its epilogue applied (a depthwise convolution for a 1x1
/// convolution, or a 1x1 convolution for a depthwise one).
/// </summary>
public interface IRowsSource
{
    /// <summary>
    /// Rows [row0, row1) of examples [n0, n1) into <paramref name="into"/>, example after example, (row1 - row0)·W·C floats each; on
    /// thread <paramref name="part"/> (<paramref name="nested"/>: inside the worker pool, as <see cref="IRangeWork.Run"/> says).
    /// </summary>
    void Rows(int part, bool nested, int n0, int n1, int row0, int row1, Span<float> into);

    /// <summary>Once per pass, before the threads ask for rows: what they share (a 1x1 convolution's kernel, packed), down the chain.</summary>
    void Prepare();
}

/// <summary>
/// y = max((y + bias)·a + b + residual, 0) on a chunk's rows: bias, a folded batch normalisation, a residual block's add of a
/// tensor of the output's shape, and relu (<see cref="ChannelKernels.BiasAffineRelu(Span{float}, int, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, bool, ReadOnlySpan{float})"/>).
/// </summary>
public sealed class AffineRows : IRowsEpilogue
{
    public float[]? Bias;
    public float[] A = [], B = [];
    public bool Relu;
    public float[]? Residual;
    /// <summary>An activation other than relu after it all (a MobileNet's relu6 or hard_swish after the batch norm), on the rows in cache.</summary>
    public RowsMap? Then;

    public void ApplyRows(Span<float> rows, long at)
    {
        ChannelKernels.BiasAffineRelu(rows, A.Length, Bias, A, B, Relu, Residual is null ? default : Residual.AsSpan(checked((int)at), rows.Length));
        Then?.Invoke(rows);
    }

    public bool AsColumns(out float[]? bias, out float[]? scale, out float[]? shift, out bool relu)
    {
        (bias, scale, shift, relu) = (Bias, A.Length == 0 ? null : A, A.Length == 0 ? null : B, Relu);
        return Residual is null && Then is null;
    }
}

/// <summary>A map applied in place to whole rows of an output, by the thread that computed them.</summary>
public delegate void RowsMap(Span<float> rows);

/// <summary>
/// A convolution computed as im2col + GEMM, per group: Y[:, group] = cols(X) W_groupᵀ, and backward
/// dW_group = dY[:, group]ᵀ cols, dcols = dY[:, group] W_group, dX += col2im(dcols) (where the backend can, dcols added to dX
/// tile by tile as the GEMM makes it, never stored: <see cref="Backend.GemmAddToWindows"/>). The input gradient of a stride-1
/// convolution is itself a stride-1 convolution: of dY, with the kernel flipped and its filters and channels swapped, padded
/// by (kernel - 1)·dilation - pad; where that is cheaper (<see cref="Transposed"/>) it runs as forward does (im2col of dY, one
/// GEMM writing dX). A 1x1 stride-1 unpadded window needs no im2col: the tensor is its own column matrix, and dX = dY W.
/// The batch is cut into chunks small enough that a chunk's columns stay in a core's L2 cache, and the
/// threads take whole chunks: no fork-join inside a GEMM, no batch-sized column matrix. Backward rebuilds a
/// chunk's columns rather than keeping them from forward. Holds the per-thread scratch this needs,
/// sized for the backend's thread count.
/// </summary>
public sealed unsafe class Convolution : IRangeWork
{
    /// <summary>Columns per chunk, in floats: about half a 1 MiB L2 (SPECNET_CHUNK overrides, for measuring).</summary>
    private static readonly int ChunkFloats = int.TryParse(Environment.GetEnvironmentVariable("SPECNET_CHUNK"), out var c) ? c : 1 << 17;

    private readonly ConvGeometry _g;
    private readonly ConvGeometry? _transposed;      // stride 1: dX = this convolution of dY with _flipped
    private readonly float[] _flipped;               // per group: W'[c, kh, kw, f] = W[f, KH-1-kh, KW-1-kw, c]
    private int _chunkSize;                          // examples per chunk at most
    private int _winogradChunkSize;                  // the same where forward runs by Winograd (no columns to fit in cache)
    private readonly int _capacity;                  // examples per pass at most
    private readonly float[][] _cols;                // per thread: (chunk * OH * OW, K)
    private readonly float[] _dWeightsT;             // per slice of the batch (BatchSlices), one after another: each group's dWᵀ (K, F/groups), group after group
    private readonly bool[] _used;                   // per slice: whether its dWᵀ holds a partial sum yet
    private (Window Rows, Window Cols)? _pool;       // inference: the max pooling forward applies to its output (PoolOutput)
    private int _computedRows;                       // output rows per example forward computes: all, or those the pooling reads
    private float[][] _blocks = [];                  // per thread, with a pooling: a block's output before it is pooled
    private IRowsSource? _source;                    // inference: what makes the input's rows, instead of a tensor (ReadInputFrom)
    private float[][] _inputs = [];                  // per thread, with a source: a block's input rows
    private readonly WindowReader? _reader, _transposedReader;   // forward's and the input gradient's windows read in place
    private readonly bool _addsToWindows;            // training, col2im's case: dcols added to dX as they are computed (AddToWindows)
    private readonly int[] _windowTargets = [];      // then per output position and vector of its window: where it lands in its image, or -1
    private readonly float[] _packedTransposed = []; // and each group's kernel packed for it, as (K, Fg)ᵀ
    private readonly bool _windowsForWeightGradient;                // and the weight gradient's, through _reader
    private IWinogradForward[] _winograds = [];      // forward by Winograd (UseWinograd): 3x3 stride 1 F(4x4, 3x3) then F(2x2, 3x3); 3x3 stride 2 F(3x3, 2x2) by phases
    private Winograd[] _transposedWinograds = [];    // training: the input gradient's transposed convolution, the same way
    private Winograd? _weightWinograd;               // training: its weight gradient by F(3x3, 2x2)
    private IWinogradForward? _running;              // the pass's pick of them: the first whose GEMMs a block's tiles fill (Winograd.Pays)
    private Winograd? _transposedRunning;            // and of the transposed ones
    private Repack _repack = Repack.IfChanged;       // inference: when forward packs the kernel again (FixKernel)
    private float[][] _madeGradients = [];           // per thread, training through a pooling: a chunk's output gradient (BackwardThroughPooling)

    // The pass being run (set by Forward/Backward, read by the threads in Run).
    private bool _backward, _inputGradient, _weightGradient, _addToDx;
    private int _batch, _chunk;
    private float* _x, _y, _dz, _dx, _w, _wFlipped;
    private bool _rowSplit, _positionSplit, _columnSplit, _weightsByWinograd;
    private bool _epilogueLeft;                      // a column split's epilogue, not applied in the GEMM's stores: for the caller after it
    private int _slices;                             // backward: slices of the batch's chunks (BatchSlices)
    private Backend _kernels = null!;
    private IRowsEpilogue? _epilogue;
    private PoolingGradient? _pooling;               // backward through the max pooling after it (BackwardThroughPooling)

    /// <summary>The max pooling that alone reads this convolution's output, through a relu: its output, its gradient and its windows (a struct: no allocation a step).</summary>
    private readonly record struct PoolingGradient(nint Output, nint Pooled, nint PooledGradient, Window Rows, Window Cols);

    public Convolution(ConvGeometry geometry, int capacity, bool training, Backend kernels)
    {
        _g = geometry;
        _capacity = capacity;
        bool byWinograd = training && kernels.RunsWinograd;
        _transposed = training ? Transposed(geometry, byWinograd) : null;
        _flipped = _transposed is null ? [] : new float[geometry.Filters * geometry.PatchSize];
        long perExample = ColumnsPerExample(geometry, training, byWinograd);
        // Inference counts the chunk's output too, so that the epilogue finds it in cache: a 1x1 convolution has no columns, and
        // its chunk was half the batch (28x28x16 -> 32 at batch 1000: 50 MB written by the GEMM, then read and written again).
        // Training keeps its chunks: they decide how the weight gradient's partial sums are added.
        long chunked = training ? perExample : perExample + geometry.OutputSize;
        _chunkSize = _winogradChunkSize = (int)Math.Max(1, ChunkFloats / Math.Max(1, chunked));
        // Where the input gradient's transposed convolution will run by Winograd (UseWinograd), backward's chunks hold tiles enough
        // for its GEMMs, as forward's do (SizeWinogradChunks): one 28x28 example is 49 tiles of F(4x4, 3x3), and 36 GEMMs of 49
        // rows ran its 16 -> 16 input gradient slower than the direct sums
        if (byWinograd && _transposed is { } tw && Winograd.TileSides.FirstOrDefault(t => Winograd.TrainingForward(tw, t, capacity)) is > 0 and var side)
            _chunkSize = FillingTiles(_chunkSize, Winograd.TilesOf(tw, side));
        int threads = kernels.Threads;
        // A transposed convolution's columns too, where Winograd runs it and they did not decide the chunks: a block Winograd does not
        // pay for goes to the GEMM, and a gathered GEMM leaves short blocks to im2col (a 2x6 map at batch 1: 12 rows)
        long laidOut = _transposed is { } lt ? Math.Max(perExample, (long)lt.Positions * lt.PatchSize) : perExample;
        int colsPerThread = (int)(Math.Min(capacity, _chunkSize) * laidOut);
        _cols = Enumerable.Range(0, threads).Select(_ => new float[colsPerThread]).ToArray();
        _used = new bool[BatchSlices.Most(capacity, threads, Partial)];
        _dWeightsT = new float[training ? _used.Length * geometry.PatchSize * geometry.Filters : 0];
        _computedRows = geometry.Rows.Output;
        int examples = Math.Min(capacity, _chunkSize);
        // A 1x1 convolution's windows are its input's rows, read in place by a GEMM either way; at inference the reader keeps its
        // kernel packed between passes, where the GEMM packed it on every call (in a depthwise chain, once per image and stage:
        // the depthwise model at batch 1000 +7%, a single image 0.162 -> 0.144 ms, Zen 1). In training it gives the weight gradient.
        if (kernels.GathersRows) _reader = new WindowReader(geometry, examples, kernels);
        // The weight gradient reads its windows in place where im2col would copy each input value many times (nine for a 3x3
        // stride-1 window). A stride-2 window's columns are a little over twice its input, and reading them laid out measured
        // faster than reading the windows where they lie (13x13x32 -> 64: 1.49 against 1.58 ms at batch 64, Zen 1), but not with one
        // channel, where im2col copies a float at a time (28x28x1 -> 32 stride 2: 0.69 -> 0.28 ms at batch 64 read in place).
        // A 1x1 stride-1 convolution's windows are x itself: read in place, dWᵀ = xᵀ dY needs neither operand packed (batch 64,
        // Zen 4: 28x28x16 -> 32 0.99 -> 0.38 ms, 14x14x64 -> 64 1.3-1.6 -> 0.85 ms, 7x7x64 -> 128 level; the depthwise model's
        // training step 6% faster, alternating in one process). A 1x1 stride-2 window is one pixel's channels, which im2col copied
        // for a GEMM as short as the copy (28x28x16 -> 32, the residual model's first shortcut: backward 0.30 -> 0.19 ms at batch 64,
        // Zen 5, alternating in one process; 14x14x32 -> 64 level).
        bool oneByOne = geometry.Rows.Kernel == 1 && geometry.Cols.Kernel == 1;
        _windowsForWeightGradient = _reader is not null
            && ((long)geometry.Positions * geometry.PatchSize * geometry.Groups >= 4L * geometry.Input.Size || geometry.Input.Channels == 1 || oneByOne);
        if (kernels.GathersRows && _transposed is { } t) _transposedReader = new WindowReader(t, examples, kernels);
        // col2im's case, where the backend adds a tile's vectors where they belong (each inside one tap's channels): dcols is
        // never stored and read back. Input gradients at batch 64, Zen 5, alternating in one process: 28x28x16 -> 32 3x3 by 2
        // 0.528 -> 0.398 ms, 14x14x32 -> 64 0.430 -> 0.367, 1x1 by 2 28x28x16 -> 32 0.103 -> 0.093 and 0.108 -> 0.096 (its half
        // panel as one vector: computed as two, 0.111 -> 0.128); in the residual model's training step, the strided blocks'
        // backward (both gradients, two runs) 1.14 -> 1.03 and 1.09 -> 0.98 ms, and 1.04 -> 0.97 and 1.03 -> 0.98. With 256-bit
        // vectors (AVX-512 off, the same machine): 0.775 -> 0.656, 0.672 -> 0.674 (level) and 0.162 -> 0.137 ms.
        int vector = kernels.WindowVector;
        _addsToWindows = training && _transposed is null && !Im2Col.IsIdentity(geometry) && vector > 0 && geometry.GroupChannels % vector == 0;
        if (_addsToWindows)
        {
            _windowTargets = WindowTargets(geometry, vector);
            _packedTransposed = new float[geometry.Groups * kernels.GatheredPackSize(geometry.PatchSize, geometry.GroupFilters)];
        }
    }

    /// <summary>Floats of a slice's partial weight gradient, as <see cref="BatchSlices"/> weighs it: the kernel's (Winograd's 16/9 of it).</summary>
    private long Partial => (long)_g.PatchSize * _g.Filters;

    /// <summary>Vectors of a window's row in <see cref="_windowTargets"/>: its taps' channels, in whole panels of two.</summary>
    private int TargetVectors => _windowTargets.Length / _g.Positions;

    /// <summary>
    /// Per output position, per vector of <paramref name="vector"/> floats of its window (kernel row, kernel column, channels, as
    /// im2col lays it out; whole panels of two): the offset of the input cells it came from, from its image's start; -1 in the padding.
    /// </summary>
    private static int[] WindowTargets(ConvGeometry g, int vector)
    {
        int cg = g.GroupChannels, perTap = cg / vector, vectors = (g.Rows.Kernel * g.Cols.Kernel * perTap + 1) / 2 * 2;
        var targets = new int[g.Positions * vectors];
        Array.Fill(targets, -1);
        for (int oh = 0; oh < g.Rows.Output; oh++)
            for (int ow = 0; ow < g.Cols.Output; ow++)
                for (int kh = 0; kh < g.Rows.Kernel; kh++)
                    for (int kw = 0; kw < g.Cols.Kernel; kw++)
                    {
                        int ih = oh * g.Rows.Stride - g.Rows.PadBefore + kh * g.Rows.Dilation, iw = ow * g.Cols.Stride - g.Cols.PadBefore + kw * g.Cols.Dilation;
                        if ((uint)ih >= (uint)g.Input.Height || (uint)iw >= (uint)g.Input.Width) continue;
                        for (int v = 0; v < perTap; v++)
                            targets[(oh * g.Cols.Output + ow) * vectors + (kh * g.Cols.Kernel + kw) * perTap + v] = (ih * g.Input.Width + iw) * g.Input.Channels + v * vector;
                    }
        return targets;
    }

    /// <summary>
    /// Inference: this convolution's output is read only by a max pooling whose windows tile it (<see cref="Window.Tiles"/>), and
    /// forward writes the pooling's output instead. Each block of output rows is computed into this thread's scratch, the
    /// epilogue applied, and pooled while in cache: the full output is never stored, and rows no window reads (the last of an
    /// odd height) are not computed. Same values as the two layers one after the other, to the bit.
    /// </summary>
    public void PoolOutput(Window rows, Window cols)
    {
        if (_dWeightsT.Length > 0) throw new InvalidOperationException("a convolution pools its output only at inference");
        if (!rows.Tiles || !cols.Tiles || rows.Input != _g.Rows.Output || cols.Input != _g.Cols.Output)
            throw new ArgumentException($"convolution: a pooling of {rows.Kernel}x{cols.Kernel} by {rows.Stride}x{cols.Stride} over {rows.Input}x{cols.Input} does not tile its {_g.Rows.Output}x{_g.Cols.Output} output");
        _pool = (rows, cols);
        // A 1x1 window reads x in place, whole examples at a time: it computes every row; others only the rows the windows cover.
        _computedRows = Im2Col.IsIdentity(_g) ? _g.Rows.Output : rows.Output * rows.Stride;
        Rechunk();
    }

    /// <summary>
    /// Inference, a 1x1 convolution (<see cref="Im2Col.IsIdentity"/>): its input is made by <paramref name="source"/>, a block of
    /// rows at a time into this thread's scratch, just before the GEMM reads them (a depthwise convolution's output, which is
    /// then never stored). The same GEMM on the same values: outputs equal to the bit to reading the stored tensor.
    /// </summary>
    public void ReadInputFrom(IRowsSource source)
    {
        if (_dWeightsT.Length > 0 || !Im2Col.IsIdentity(_g)) throw new InvalidOperationException("only a 1x1 convolution at inference reads its input from a source");
        _source = source;
        Rechunk();
    }

    /// <summary>
    /// Forward by Winograd from now on where it computes this convolution and pays (<see cref="Winograd.Fits"/>): each block by
    /// F(4x4, 3x3) where it has tiles enough for that, else by F(2x2, 3x3) where that pays, else directly (<see cref="Winograd.Pays"/>);
    /// in training the input gradient's transposed convolution the same way, and the weight gradient by F(3x3, 4x4) or F(3x3, 2x2)
    /// (<see cref="Winograd.WeightGradient"/>) by the tiles and channels measured for it (<see cref="Winograd.WeightGradientTile"/>).
    /// A 3x3 stride-2 convolution at inference by F(3x3, 2x2) over its input's phases
    /// where that pays (<see cref="StridedWinograd.Fits"/>): not in training, where its kernel would be transformed at every
    /// step for a forward alone. False where none. <paramref name="wherePaying"/> false: F(2x2, 3x3), or the
    /// <paramref name="tile"/> given (3: the strided one), on every block, wherever it computes the convolution (the tests). Up
    /// to 4x fewer multiplies, rounded differently from the direct sums (<see cref="Winograd"/>).
    /// </summary>
    /// <remarks>
    /// Training's forward and input gradient take inference's tiles too where transforming the kernel at every step pays
    /// (<see cref="Winograd.TrainingForward"/>): with 512-bit vectors the weight gradient loses by F(3x3, 4x4) and on 16 channels
    /// (Winograd.WeightGradientTile), but the other two gain. On a Zen 5 (`specnet bench`, the builds alternating), forward: the
    /// residual model's 28x28x16 -> 16 convolutions 0.84-0.88 -> 0.62-0.64 ms, 14x14x32 -> 32 and 7x7x64 -> 64 by F(4x4, 3x3)
    /// 0.68-0.74 -> 0.64-0.68 ms, the pooled model's 13x13x32 -> 64 0.78-0.86 -> 0.64-0.69 ms (its 5x5x64 -> 128, one tile an
    /// example, stays direct); then the input gradient too: the 28x28x16 -> 16 convolutions' backward 1.86-1.96 -> 1.50-1.57 ms,
    /// the residual model's step -6.2% and the pooled model's -2.4% (seven pairs). With 256-bit vectors training's tiles are
    /// inference's (there the input gradient's chunks and its adding to dX gained 3.1% and 2.2%).
    /// </remarks>
    public bool UseWinograd(Backend kernels, bool wherePaying = true, int tile = 0)
    {
        if (_source is not null || wherePaying && !kernels.RunsWinograd) return false;
        bool training = _dWeightsT.Length > 0;
        IReadOnlyList<int> sides = !wherePaying ? [tile == 0 ? 2 : tile] : Winograd.TileSides;
        // forward's and the input gradient's tiles: inference's, in training where the kernel's transform at every step pays
        bool Forward(ConvGeometry g, int t) => !wherePaying ? Winograd.Computes(g) : training ? Winograd.TrainingForward(g, t, _capacity) : Winograd.Fits(g, t);
        Winograd[] Make(ConvGeometry g, Func<int, bool> takes) => sides.Where(takes).Select(t => new Winograd(g, kernels, t, always: !wherePaying, inference: !training)).ToArray();
        bool strided = !training && (wherePaying ? StridedWinograd.Fits(_g) : StridedWinograd.Computes(_g) && tile is 0 or 3);
        _winograds = strided ? [new StridedWinograd(_g, kernels, always: !wherePaying)] : Make(_g, t => Forward(_g, t));
        // the weight gradient by F(3x3, 4x4) or F(3x3, 2x2) where its rule takes one (Winograd.WeightGradientTile), or by the tile
        // given; with forward's Winograd of that tile when it has one
        int weightTile = !training || tile == 3 ? 0 : wherePaying ? Winograd.WeightGradientTile(_g) : Winograd.Computes(_g) ? sides[0] : 0;
        if (weightTile > 0)
            (_weightWinograd = _winograds.OfType<Winograd>().LastOrDefault(w => w.Tile == weightTile) ?? new Winograd(_g, kernels, weightTile, always: !wherePaying))
                .KeepWeightGradients(_used.Length);
        if (_transposed is { } transposed) _transposedWinograds = Make(transposed, t => Forward(transposed, t));
        SizeWinogradChunks();
        return _winograds.Length > 0 || _transposedWinograds.Length > 0 || _weightWinograd is not null;
    }

    /// <summary>
    /// Inference over a kernel that will not change once the first pass has read it (PlanOptions.FixedParameters):
    /// it is packed, or transformed for Winograd, at that pass only, not compared with the last one at every pass (306 KB of
    /// weights read on one thread before each fork of a single image of the residual model).
    /// </summary>
    public void FixKernel()
    {
        if (_dWeightsT.Length > 0) throw new InvalidOperationException("a convolution fixes its kernel only at inference");
        _repack = Repack.Once;
    }

    /// <summary>
    /// Inference, with a pooling or a source: examples per chunk such that its columns, its output block and its input rows fit in
    /// cache together; never more than the scratch made for the first chunk size holds.
    /// </summary>
    private void Rechunk()
    {
        long input = _source is null ? 0 : _g.Input.Size;
        _chunkSize = (int)Math.Clamp(ChunkFloats / (ColumnsPerExample(_g, training: false) + OutputBlock + input), 1, _chunkSize);
        int examples = Math.Min(_capacity, _chunkSize);
        _inputs = _source is null ? [] : _cols.Select(_ => new float[examples * input]).ToArray();
        SizeWinogradChunks();
    }

    /// <summary>
    /// Examples per chunk where forward runs by Winograd: enough for 64 tiles of its largest (a chunk sized by im2col's columns
    /// held four 7x7 maps, 16 tiles of 4x4: F(4x4, 3x3) then took 49 ms at batch 1000, and 24 in chunks of sixteen, against
    /// F(2x2, 3x3)'s 36-38; 13x13x32 -> 64 'valid' 32.7 -> 30.5 ms; Zen 1, two threads), at most 32 and the capacity. And the
    /// pooling's scratch for the larger of the two chunks.
    /// </summary>
    private void SizeWinogradChunks()
    {
        _winogradChunkSize = _winograds.Length > 0 ? FillingTiles(_chunkSize, _winograds[0].TilesPerExample(_computedRows)) : _chunkSize;
        _blocks = _pool is null ? [] : _cols.Select(_ => new float[Math.Min(_capacity, _winogradChunkSize) * OutputBlock]).ToArray();
    }

    /// <summary>Examples per chunk of at least <paramref name="chunk"/>: enough for 64 tiles of <paramref name="tilesPerExample"/> an example, at most 32.</summary>
    private static int FillingTiles(int chunk, int tilesPerExample) => Math.Max(chunk, Math.Min(32, (64 + tilesPerExample - 1) / tilesPerExample));

    /// <summary>Floats of an example's computed output rows (all of them, or those a pooling reads).</summary>
    private long OutputBlock => (long)_computedRows * _g.Cols.Output * _g.Filters;

    /// <summary>Floats of columns per example (for memory planning; training's, the larger).</summary>
    public static long ScratchPerExample(ConvGeometry g) => ColumnsPerExample(g, training: true);

    /// <summary>Floats of columns per example, which decide training's chunks: forward's, and the transposed convolution's unless Winograd runs it.</summary>
    private static long ColumnsPerExample(ConvGeometry g, bool training, bool byWinograd = false)
    {
        if (Im2Col.IsIdentity(g)) return 0;                       // forward reads x, backward writes dx = dZ W in place
        long forward = (long)g.Positions * g.PatchSize;
        if (!training || Transposed(g, byWinograd) is not { } t || byWinograd && Winograd.FitsAny(t, training: true)) return forward;
        return Math.Max(forward, (long)t.Positions * t.PatchSize);
    }

    /// <summary>
    /// The convolution that gives a stride-1 convolution's input gradient: over dY (the output's shape, filters as channels), the
    /// same kernel size and dilation, padded so that its output is the input's size. Null (col2im instead) with strides (dY would
    /// need zeros between), when the output is smaller than the input (a 'valid' 3x3 over a 5x5 map: the padded dY would be mostly
    /// zeros, 2.8x the multiplies), or with more than 32 filters: dcols = dY W is then a GEMM of K = F that runs near peak, while
    /// with 16 filters it is store-bound and the transposed convolution saves a fifth of the backward (measured, `specnet bench`).
    /// Where it runs <paramref name="byWinograd"/> (<see cref="Winograd.Fits"/>) it is taken whatever the filters and sizes: a
    /// 'valid' 13x13x32 -> 64's over dY padded by two has 0.72 of col2im's multiplies, 7x7x64 -> 64's 0.71 (the pooled model's step
    /// about 4% faster, the residual model's about 6%, with forward by Winograd too; `specnet bench`, Zen 1).
    /// </summary>
    private static ConvGeometry? Transposed(ConvGeometry g, bool byWinograd)
    {
        if (g.Rows.Stride != 1 || g.Cols.Stride != 1 || Im2Col.IsIdentity(g)) return null;
        var t = new ConvGeometry(Shape.Spatial(g.Rows.Output, g.Cols.Output, g.Filters), g.Rows.Transposed(), g.Cols.Transposed(), g.Input.Channels, g.Groups);
        if (byWinograd && Winograd.FitsAny(t, training: true)) return t;
        return g.Positions >= g.Input.Height * g.Input.Width && g.GroupFilters <= 32 ? t : null;
    }

    /// <summary>
    /// y (N*OH*OW, F) = convolution of x (N, H, W, C) with w [F, KH, KW, C/groups]; then, when given, the epilogue on
    /// each chunk's rows as soon as they are computed (one trip through memory instead of two).
    /// </summary>
    public void Forward(Backend kernels, int batch, ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, IRowsEpilogue? epilogue = null)
    {
        CheckSizes(batch, x.Length, w.Length, y.Length, 0);
        fixed (float* px = x, py = y, pw = w)
        {
            Begin(kernels, batch, backward: false, inputGradient: false);
            _x = px; _y = py; _w = pw; _epilogue = epilogue;
            // One image on several threads: its output rows are split between them, each thread's im2col, GEMM and epilogue
            // on its own rows (a whole image as one chunk ran im2col and the epilogue on one thread, and forked inside the GEMM).
            // With a pooling, whole rows of its windows: a thread's share of pooled rows and the output rows under them.
            // Not where the image has few output positions for many filters (a 4x4 map of 256, 16 rows against 590,000 weights):
            // split by rows, each thread read all of the kernel for its few rows. Those the threads share by filters, each
            // reading its panels of the kernel once: in the gathered GEMM's tiles where it takes them (SplitsByColumns), else
            // as one chunk whose GEMM's dot products share the filters (Backend.SplitsColumns). Single images, 2 threads,
            // alternating in one process on a Zen 5, the dot products against the row split: the strided model 0.0252 -> 0.0119 ms
            // (its 2x2x128 convolution), the pooled 0.0412 -> 0.0286 (3x3x128), a ResNet-18-like model's 4x4 maps of 256 0.903 ->
            // 0.807; with AVX-512 off 0.0282 -> 0.0171 and 0.0479 -> 0.0350. Then the tiles against the dot products (`specnet
            // bench --batch-size 1`, the builds alternating, medians): the ResNet-18-like model 0.80 -> 0.66 ms (its 4x4x256 -> 256
            // 0.079 -> 0.051 each), pooled 0.0267 -> 0.0231, strided 0.0115 -> 0.0109; with AVX-512 off 1.27 -> 1.11, 0.0330 ->
            // 0.0312 and 0.0185 -> 0.0158.
            bool byColumns = batch == 1 && SplitsByColumns(kernels);
            _rowSplit = batch == 1 && kernels.Threads > 1 && !byColumns && !kernels.SplitsColumns(_g.Positions, _g.GroupFilters, _g.PatchSize);
            int step = _pool?.Rows.Stride ?? 1, splitRows = _pool?.Rows.Output ?? _g.Rows.Output;
            // Winograd's largest tile whose GEMMs a block's tiles fill (a single image's share of rows may fill none)
            int chunk = _rowSplit ? 1 : _winograds.Length > 0 ? Chunk(batch, _winogradChunkSize, kernels.Threads) : _chunk;
            _running = Winograd.Paying(_winograds, chunk, _rowSplit ? (splitRows + kernels.Threads - 1) / kernels.Threads * step : _computedRows);
            if (_running is not null)
            {
                if (!_rowSplit) _chunk = chunk;                                      // Winograd's chunks: no columns to keep in cache
                _running.Transform(kernels, w, _repack);
            }
            else _reader?.Pack(kernels, w, _repack);
            _source?.Prepare();
            _positionSplit = _rowSplit && SplitsByPositions(kernels);
            _columnSplit = byColumns && _running is null;
            int tile = kernels.GatheredTileRows, panel = kernels.GatheredPanel;
            // A split's multiply-adds counted as floats of work: a single image's stem (113,000 of them) and 1x1 shortcuts (100,000) run
            // on both threads too, where an eighth of them kept them on one (Zen 1, single images, alternating in-process: pooled model
            // 0.123 -> 0.109 ms, residual 0.355 -> 0.336, strided 0.064 -> 0.060; counting fewer gained nothing more).
            if (_columnSplit)
            {
                kernels.ParallelFor((_g.Filters + panel - 1) / panel, this, (long)panel * _g.PatchSize * ComputedPositions);
                ColumnsDone();
            }
            else if (_positionSplit) kernels.ParallelFor((_g.Positions + tile - 1) / tile, this, (long)tile * _g.PatchSize * _g.Filters);
            else if (_rowSplit) kernels.ParallelFor(splitRows, this, (long)step * _g.Cols.Output * _g.PatchSize * _g.Filters);
            else kernels.ParallelForEach((batch + _chunk - 1) / _chunk, this);   // each chunk's outputs alone: a thread's own share, then the other's end
            _epilogue = null;
            _rowSplit = _positionSplit = _columnSplit = _epilogueLeft = false;
            _running = null;
        }
    }

    /// <summary>
    /// Whether one image's output positions are better split between the threads at the micro-kernel's tiles than by rows: where
    /// the rows do not divide between them. A 7x7 map's rows split 3 and 4, 21 and 28 positions, which is 4 and 5 tiles of six;
    /// by tiles 24 and 25, 4 tiles and one of a single row (the residual model's single image 3.3-3.5% faster in three runs
    /// alternating in one process, Zen 1; the others level). Each thread's share at least three tiles: shorter GEMMs run as dot
    /// products, which group the rows otherwise and round differently from the row split.
    /// </summary>
    private bool SplitsByPositions(Backend kernels) =>
        kernels.GatheredTileRows > 0 && _reader is not null && _pool is null && _source is null && _running is null && _g.Groups == 1
        && _g.Rows.Output % kernels.Threads != 0 && _g.Positions >= 3 * kernels.GatheredTileRows * kernels.Threads;

    /// <summary>
    /// Whether one image is split between the threads by its filters, each computing every output position (those a pooling reads)
    /// for its panels of them: few positions against many filters (<see cref="Backend.GathersColumns"/>: a 4x4 map of 256 filters
    /// over 2,304 taps, a 3x3 map of 128 over 576), the windows read in place and the kernel packed once. Whatever the thread
    /// count, so that one thread and two give the same floats. Not where Winograd runs the image (checked after it is picked).
    /// </summary>
    private bool SplitsByColumns(Backend kernels) =>
        _reader is not null && _source is null && _g.Groups == 1 && kernels.GathersColumns(ComputedPositions, _g.Filters, _g.PatchSize);

    /// <summary>An image's output positions that forward computes: all of them, or the rows a pooling reads.</summary>
    private int ComputedPositions => _computedRows * _g.Cols.Output;

    /// <summary>Whether backward adds its input gradient's columns to dX as it computes them (<see cref="Backend.GemmAddToWindows"/>), not by col2im.</summary>
    public bool AddsColumnsToWindows => _addsToWindows;

    /// <summary>
    /// dW = gradient of the kernel (overwritten); dx = gradient of the input unless empty: overwritten, or with
    /// <paramref name="addToDx"/> added to what it holds (the gradient of a tensor that other layers read too), by every path.
    /// </summary>
    public void Backward(Backend kernels, int batch, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> dz, Span<float> dW, Span<float> dx,
        bool addToDx = false)
    {
        CheckSizes(batch, x.Length, w.Length, dz.Length, dx.Length);
        _addToDx = addToDx && !dx.IsEmpty;
        _weightGradient = !dW.IsEmpty;                                   // empty: a frozen layer, only dx is wanted
        if (_weightGradient && dW.Length != w.Length) throw new ArgumentException($"convolution: dW has {dW.Length} floats, the kernel {w.Length}");
        Array.Clear(_used);
        Begin(kernels, batch, backward: true, inputGradient: !dx.IsEmpty);
        if (_inputGradient && _transposed is { } transposed)
        {
            // the transposed convolution's Winograd for this batch's chunks, given the flipped kernel
            Flip(w);
            _transposedRunning = Winograd.Paying(_transposedWinograds, _chunk, transposed.Rows.Output);
            _transposedRunning?.Transform(kernels, _flipped, Repack.Always);
            // the direct sums' packed kernel, unless Winograd runs every chunk (the last, smaller, too): a 64x64 kernel's 37,000
            // weights packed on one thread for nothing
            int last = batch - (batch - 1) / _chunk * _chunk;
            if (_transposedRunning is not { } winograd || !winograd.Pays(last, transposed.Rows.Output)) _transposedReader?.Pack(kernels, _flipped, Repack.Always);
        }
        else _transposedRunning = null;
        if (_inputGradient && _addsToWindows)
        {
            int patch = _g.PatchSize, filters = _g.GroupFilters, packed = _packedTransposed.Length / _g.Groups;
            for (int group = 0; group < _g.Groups; group++)
                kernels.PackGathered(w.Slice(group * filters * patch, filters * patch), patch, patch, filters, _packedTransposed.AsSpan(group * packed, packed), transposed: true);
        }
        fixed (float* px = x, pdz = dz, pdx = dx, pw = w, pf = _flipped)
        {
            _x = px; _dz = pdz; _dx = pdx; _w = pw; _wFlipped = pf;
            _weightsByWinograd = _weightGradient && _weightWinograd is not null && _weightWinograd.PaysForWeights(_chunk, _g.Rows.Output);
            // the batch's chunks in slices, each with its partial dW, taken by whichever thread is free
            int chunks = (batch + _chunk - 1) / _chunk;
            _slices = BatchSlices.Count(chunks, kernels.Threads, Partial);
            if (_pooling is not null && (_madeGradients.Length == 0 || _madeGradients[0].Length < (long)_chunk * _g.OutputSize))
                _madeGradients = Enumerable.Range(0, kernels.Threads).Select(_ => new float[_chunk * _g.OutputSize]).ToArray();
            kernels.ParallelForEach(_slices, this);
        }
        if (!_weightGradient) return;
        if (_weightsByWinograd)
        {
            _weightWinograd!.WeightGradientTo(kernels, _used, dW);
            return;
        }
        // dW = the slices' partial gradients (kept transposed: the big operand, cols, is then read in place),
        // added in slice order into the first (vectors; the same floats as adding each to a cleared dW in turn), then transposed:
        // done element by element, the partials of 576 x 128 (the strided model's last convolution) took 0.1 ms on one thread.
        int k = _g.PatchSize, fg = _g.GroupFilters, first = Array.IndexOf(_used, true), size = _g.Groups * k * fg;
        if (first < 0) { dW.Clear(); return; }
        var sum = _dWeightsT.AsSpan(first * size, size);
        BatchSlices.AddInOrder(kernels, _dWeightsT, size, _used, sum);
        fixed (float* from = sum, to = dW)
            for (int group = 0; group < _g.Groups; group++)
                Elementwise.Transpose(from + group * k * fg, k, fg, to + group * fg * k);
    }

    /// <summary>
    /// Backward where a max pooling with windows that tile alone reads this convolution's output y, through the relu between:
    /// the output gradient is made a chunk at a time in this thread's scratch by the pooling's backward (each window's dy to its
    /// first positive maximum, <see cref="Pooling.MaxBackwardOnThread"/>), and the gradients read it there while it is in cache.
    /// As a tensor the pooling wrote it and this read it back: 5.5 MB each way at batch 64 in the tutorial's first layer.
    /// dW and dx are those of <see cref="Backward"/> on that tensor, to the bit.
    /// </summary>
    public void BackwardThroughPooling(Backend kernels, int batch, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> y, Window rows, Window cols,
        ReadOnlySpan<float> pooled, ReadOnlySpan<float> pooledGradient, Span<float> dW, Span<float> dx, bool addToDx = false)
    {
        long pooledSize = (long)batch * rows.Output * cols.Output * _g.Filters;
        if (rows.Input != _g.Rows.Output || cols.Input != _g.Cols.Output || !rows.Tiles || !cols.Tiles || pooled.Length < pooledSize || pooledGradient.Length < pooledSize)
            throw new ArgumentException($"convolution: a pooling of {rows.Input}x{cols.Input} windows, {pooled.Length} and {pooledGradient.Length} floats, does not follow it ({_g})");
        fixed (float* py = y, pp = pooled, pg = pooledGradient)
        {
            _pooling = new PoolingGradient((nint)py, (nint)pp, (nint)pg, rows, cols);
            try { Backward(kernels, batch, x, w, y, dW, dx, addToDx); }   // y stands for dz in the size checks: each chunk's is made
            finally { _pooling = null; }
        }
    }

    /// <summary>
    /// _flipped = the transposed convolution's kernel: per group, W'[c, kh, kw, f] = W[f, KH-1-kh, KW-1-kw, c], each tap's
    /// filters x channels transposed in blocks (<see cref="Elementwise.Transpose(float*, int, int, int, float*, int)"/>). A float at a
    /// time, it had written W' a channel's stride apart: 2.4 MB for 256 -> 256 3x3, on the caller alone, at every training step.
    /// </summary>
    private void Flip(ReadOnlySpan<float> w)
    {
        int kh = _g.Rows.Kernel, kw = _g.Cols.Kernel, cg = _g.GroupChannels, fg = _g.GroupFilters, k = _g.PatchSize, kt = kh * kw * fg;
        fixed (float* from = w, to = _flipped)
            for (int group = 0; group < _g.Groups; group++)
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++)
                        Elementwise.Transpose(from + (long)group * fg * k + (i * kw + j) * cg, fg, cg, k,
                            to + (long)group * cg * kt + ((kh - 1 - i) * kw + kw - 1 - j) * fg, kt);
    }

    private void CheckSizes(int batch, int x, int w, int y, int dx)
    {
        long output = _pool is { } p ? (long)p.Rows.Output * p.Cols.Output * _g.Filters : _g.OutputSize;
        if (batch < 1 || batch > _capacity || x < batch * _g.Input.Size && _source is null || y < batch * output || w != _g.Filters * _g.PatchSize
            || dx != 0 && dx < batch * _g.Input.Size)
            throw new ArgumentException($"convolution: buffers of {x}, {w}, {y}, {dx} floats do not fit a batch of {batch} ({_g})");
    }

    /// <summary>Chunks for a batch: a multiple of the thread count, of equal size, so threads finish together.</summary>
    private void Begin(Backend kernels, int batch, bool backward, bool inputGradient)
    {
        if (kernels.Threads != _cols.Length) throw new ArgumentException($"convolution scratch was made for {_cols.Length} threads, the backend has {kernels.Threads}");
        (_kernels, _batch, _chunk, _backward, _inputGradient) = (kernels, batch, Chunk(batch, _chunkSize, kernels.Threads), backward, inputGradient);
    }

    /// <summary>Examples per chunk of a batch, at most <paramref name="size"/>: chunks of equal size, as many as a multiple of the threads.</summary>
    private static int Chunk(int batch, int size, int threads)
    {
        int chunks = (batch + size - 1) / size;
        chunks = Math.Min(batch, (chunks + threads - 1) / threads * threads);
        return (batch + chunks - 1) / chunks;
    }

    /// <summary>Chunks [c0, c1) on thread <paramref name="part"/> (output rows of a single image, when split).</summary>
    public void Run(int part, int c0, int c1, bool nested)
    {
        var g = _g;
        if (!_backward)
        {
            int step = _pool?.Rows.Stride ?? 1;
            if (_columnSplit) ColumnBlock(part, c0 * _kernels.GatheredPanel, Math.Min(g.Filters, c1 * _kernels.GatheredPanel));
            else if (_positionSplit) PositionBlock(part, nested, c0 * _kernels.GatheredTileRows, Math.Min(g.Positions, c1 * _kernels.GatheredTileRows));
            else if (_rowSplit) ForwardBlock(part, nested, 0, 1, c0 * step, c1 * step);
            else for (int chunk = c0; chunk < c1; chunk++) ForwardBlock(part, nested, chunk * _chunk, Math.Min(_batch, (chunk + 1) * _chunk), 0, _computedRows);
            return;
        }
        var x = new ReadOnlySpan<float>(_x, _batch * g.Input.Size);
        var w = new ReadOnlySpan<float>(_w, g.Filters * g.PatchSize);
        for (int slice = c0; slice < c1; slice++)
            for (var (chunk, end) = BatchSlices.Items((_batch + _chunk - 1) / _chunk, _slices, slice); chunk < end; chunk++)
                BackwardChunk(part, nested, slice, chunk, x, w);
    }

    /// <summary>
    /// Backward over chunk <paramref name="chunk"/> of the batch on thread <paramref name="part"/>, its dW added to its slice's; its
    /// output gradient made first in this thread's scratch where a pooling gives it (<see cref="BackwardThroughPooling"/>).
    /// </summary>
    private void BackwardChunk(int part, bool nested, int slice, int chunk, ReadOnlySpan<float> x, ReadOnlySpan<float> w)
    {
        int n0 = chunk * _chunk, n1 = Math.Min(_batch, n0 + _chunk);
        if (_pooling is not { } p)
        {
            BackwardChunk(part, nested, slice, n0, n1, x, w, _dz);
            return;
        }
        fixed (float* made = _madeGradients[part])
        {
            float* dz = made - (long)n0 * _g.OutputSize;   // example n's at dz + n·OutputSize, as in the tensor; only [n0, n1) is read
            Pooling.MaxBackwardOnThread(n0, n1, Shape.Spatial(_g.Rows.Output, _g.Cols.Output, _g.Filters), p.Rows, p.Cols,
                (float*)p.Output, (float*)p.Pooled, (float*)p.PooledGradient, dz, positiveOnly: true);
            BackwardChunk(part, nested, slice, n0, n1, x, w, dz);
        }
    }

    /// <summary>Backward over examples [n0, n1), example n's output gradient at dz + n·OutputSize.</summary>
    private void BackwardChunk(int part, bool nested, int slice, int n0, int n1, ReadOnlySpan<float> x, ReadOnlySpan<float> w, float* dz)
    {
        var g = _g;
        int positions = g.Positions, k = g.PatchSize, f = g.Filters, fg = g.GroupFilters, cg = g.GroupChannels;
        int rows = (n1 - n0) * positions;
        bool col2im = _inputGradient && _transposed is null && !Im2Col.IsIdentity(g);
        if (col2im && !_addToDx) new Span<float>(_dx + (long)n0 * g.Input.Size, (n1 - n0) * g.Input.Size).Clear();
        float dxBeta = _addToDx ? 1 : 0;
        for (int group = 0; group < g.Groups; group++)
        {
            var wg = w.Slice(group * fg * k, fg * k);
            var dzg = new ReadOnlySpan<float>(dz + (long)n0 * positions * f + group * fg, rows * f - group * fg);
            if (_weightsByWinograd) _weightWinograd!.WeightGradient(_kernels, nested, part, slice, _x, dz, n0, n1, add: _used[slice]);
            else if (_weightGradient)
            {
                // dWgᵀ (K, Fg) += colsᵀ dZg: the windows read in place where they overlap and the backend can, on one thread as
                // GemmOnThread runs it; laid out, on one thread by GemmOnThread too (Gemm on one thread computes no shape as Cᵀ)
                var dWt = _dWeightsT.AsSpan((slice * g.Groups + group) * k * fg, k * fg);
                float beta = _used[slice] ? 1 : 0;
                bool oneThread = nested || _kernels.Threads == 1;
                if (!_windowsForWeightGradient || !oneThread || !_reader!.GemmTransposed(_kernels, part, x, n0, n1, group, dzg, f, beta, dWt, fg))
                    Gemm(oneThread, part, Op.T, Op.N, k, fg, rows, Columns(x, g, n0, n1, group, part), k, dzg, f, beta, dWt, fg);
            }
            if (!_inputGradient) continue;
            if (_transposed is { } t)
            {
                // dX[:, group] (rows in, Cg) = cols(dY[:, group]) W'gᵀ (+ dX), as forward: nothing to clear
                int kt = t.PatchSize, inRows = (n1 - n0) * t.Positions, c = g.Input.Channels;
                // the chunk's examples alone, as 0 .. n1 - n0: a span must start inside its memory (a pooling's dz is made in scratch)
                var dzChunk = new ReadOnlySpan<float>(dz + (long)n0 * g.OutputSize, (n1 - n0) * g.OutputSize);
                var dxg = new Span<float>(_dx + (long)n0 * g.Input.Size + group * cg, inRows * c - group * cg);
                if (_transposedRunning is { } winograd && winograd.Pays(n1 - n0, t.Rows.Output))
                    winograd.Forward(_kernels, nested, part, dz, n0, n1, 0, t.Rows.Output, _dx + (long)n0 * g.Input.Size, c, map: null, add: _addToDx);
                else Convolve(nested, part, dzChunk, t, _transposedReader, 0, n1 - n0, 0, t.Rows.Output, group, new ReadOnlySpan<float>(_wFlipped + (long)group * cg * kt, cg * kt), dxg, c,
                    beta: dxBeta);
                continue;
            }
            if (Im2Col.IsIdentity(g))
            {
                Gemm(nested, part, Op.N, Op.N, rows, k, f, dzg, f, w, k, dxBeta, new Span<float>(_dx + (long)n0 * g.Input.Size, rows * k), k);   // dX (+)= dZ W
                continue;
            }
            if (_addsToWindows && (nested || _kernels.Threads == 1) && AddToWindows(part, n0, n1, group, dz)) continue;
            var cols = _cols[part].AsSpan(0, rows * k);
            Gemm(nested, part, Op.N, Op.N, rows, k, fg, dzg, f, wg, k, 0, cols, k);                      // dcols = dZg Wg
            Im2Col.Accumulate(cols, n0, n1, g.Input, g.Rows, g.Cols, new Span<float>(_dx, _batch * g.Input.Size), group * cg, cg);
        }
        _used[slice] = true;
    }

    /// <summary>
    /// dX[:, group] += col2im(dZg Wg) over examples [n0, n1) on thread <paramref name="part"/>, each row of dcols added to dX as the
    /// micro-kernel makes it (<see cref="Backend.GemmAddToWindows"/>), never stored: where col2im's GEMM wrote 2.25 times dX (a 3x3
    /// window by 2) and col2im read it back. Each cell's sum in another order than col2im's, the same for any chunks.
    /// </summary>
    private bool AddToWindows(int part, int n0, int n1, int group, float* dz)
    {
        var g = _g;
        int k = g.PatchSize, fg = g.GroupFilters, size = _packedTransposed.Length / g.Groups;
        fixed (int* targets = _windowTargets)
            return _kernels.GemmAddToWindows(part, dz + (long)n0 * g.OutputSize + group * fg, g.Filters, (n1 - n0) * g.Positions, k, fg,
                _packedTransposed.AsSpan(group * size, size),
                new WindowTargets(_dx + (long)n0 * g.Input.Size + group * g.GroupChannels, g.Input.Size, g.Positions, TargetVectors, targets));
    }

    /// <summary>
    /// Forward over examples [n0, n1), output rows [oh0, oh1) of each (all of them for a chunk, part of one image when it is
    /// split): Y (rows, Fg) = cols Wgᵀ per group, then the epilogue on these rows while they are in cache, then the pooling.
    /// </summary>
    private void ForwardBlock(int part, bool nested, int n0, int n1, int oh0, int oh1)
    {
        var g = _g;
        int f = g.Filters, rows = (n1 - n0) * (oh1 - oh0) * g.Cols.Output;
        if (_pool is not null && (long)rows * f > _blocks[part].Length) throw new InvalidOperationException($"convolution: a block of {n1 - n0} examples does not fit the pooling's scratch");
        fixed (float* block = _blocks.Length > 0 ? _blocks[part] : null)
        {
            // The block's first output row in y, or in this thread's scratch when a pooling reads it.
            float* output = _pool is null ? _y + ((long)n0 * g.Rows.Output + oh0) * g.Cols.Output * f : block;
            Block(part, nested, n0, n1, oh0, oh1, new ReadOnlySpan<float>(_x, _x == null ? 0 : _batch * g.Input.Size), new ReadOnlySpan<float>(_w, f * g.PatchSize),
                new Span<float>(output, rows * f), _epilogue);
            if (_pool is not null) Pool(n0, n1, oh0, oh1, output);
        }
    }

    /// <summary>The max pooling of a block's output rows [oh0, oh1) of examples [n0, n1), made at <paramref name="output"/>, into y.</summary>
    private void Pool(int n0, int n1, int oh0, int oh1, float* output)
    {
        var p = _pool!.Value;
        int f = _g.Filters;
        var rowsWindow = Window.Of(oh1 - oh0, p.Rows.Kernel, p.Rows.Stride, 1, Padding.Valid);   // this block's rows
        long pooled = ((long)n0 * p.Rows.Output + oh0 / p.Rows.Stride) * p.Cols.Output * f;
        Pooling.MaxForwardOnThread(n1 - n0, Shape.Spatial(oh1 - oh0, _g.Cols.Output, f), rowsWindow, p.Cols, output, _y + pooled);
    }

    /// <summary>
    /// Output rows [oh0, oh1) of examples [n0, n1) into y (rows, F): per group Y = windows Wgᵀ, then the epilogue: in the GEMM's
    /// stores where it can (<see cref="ConvolveMapped"/>), else on the rows while they are in cache. The input: the tensor x, or (a 1x1 window) its rows under these as the source makes them, in this thread's scratch.
    /// </summary>
    private void Block(int part, bool nested, int n0, int n1, int oh0, int oh1, ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, IRowsEpilogue? epilogue)
    {
        var g = _g;
        int k = g.PatchSize, f = g.Filters, fg = g.GroupFilters;
        long at = ((long)n0 * g.Rows.Output + oh0) * g.Cols.Output * f;   // where y lies in the whole output
        if (_source is not null)
        {
            x = Made(part, nested, n0, n1, oh0, oh1);   // these rows alone
            (n0, n1, oh0, oh1) = (0, n1 - n0, 0, oh1 - oh0);
        }
        if (_running is { } winograd)
        {
            // the epilogue applied by the output transform as it stores, where it is a map per channel
            float[]? bias = null, scale = null, shift = null;
            bool relu = false, mapped = epilogue is not null && epilogue.AsColumns(out bias, out scale, out shift, out relu);
            fixed (float* px = x, py = y, pb = bias, ps = scale, pf = shift)
            {
                var map = new ColumnMap { Bias = pb, Scale = ps, Shift = pf, Relu = relu };
                winograd.Forward(_kernels, nested, part, px, n0, n1, oh0, oh1, py, f, mapped ? &map : null);
            }
            if (mapped) return;
        }
        else if (g.Groups == 1 && epilogue is not null)
        {
            if (ConvolveMapped(nested, part, x, n0, n1, oh0, oh1, w, y, epilogue)) return;
        }
        else
            for (int group = 0; group < g.Groups; group++)
                Convolve(nested, part, x, g, _reader, n0, n1, oh0, oh1, group, w.Slice(group * fg * k, fg * k), y[(group * fg)..], f);
        epilogue?.ApplyRows(y, at);
    }

    /// <summary>
    /// One group's output with the epilogue applied by the GEMM as it stores each tile, while the values are in registers, where the
    /// epilogue is a map per channel and the backend's kernel takes it (<see cref="ColumnMap"/>); false when the output is left for
    /// the epilogue's own pass (computed either way). Zen 5, the plans alternating in one process: the depthwise model's single
    /// image 41.2 -> 39.3 us (its 1x1 convolutions' epilogue passes were 8% of it), inference at batch 1000 1.3-4% faster on the
    /// four reference models, the first convolution's training forward 14-15% faster on the tutorial's two.
    /// </summary>
    private bool ConvolveMapped(bool nested, int part, ReadOnlySpan<float> x, int n0, int n1, int oh0, int oh1, ReadOnlySpan<float> w, Span<float> y,
        IRowsEpilogue epilogue, int skip = 0, int count = -1)
    {
        if (!epilogue.AsColumns(out var bias, out var scale, out var shift, out bool relu))
        {
            Convolve(nested, part, x, _g, _reader, n0, n1, oh0, oh1, 0, w, y, _g.Filters, skip, count);
            return false;
        }
        fixed (float* pb = bias, ps = scale, pf = shift)
        {
            var map = new ColumnMap { Bias = pb, Scale = ps, Shift = pf, Relu = relu };
            Convolve(nested, part, x, _g, _reader, n0, n1, oh0, oh1, 0, w, y, _g.Filters, skip, count, map: &map);
            return map.Applied;
        }
    }

    /// <summary>One image's output positions [p0, p1) (<see cref="SplitsByPositions"/>), then the epilogue on them.</summary>
    private void PositionBlock(int part, bool nested, int p0, int p1)
    {
        var g = _g;
        int ow = g.Cols.Output, f = g.Filters, oh0 = p0 / ow, oh1 = (p1 + ow - 1) / ow;
        var y = new Span<float>(_y + (long)p0 * f, (p1 - p0) * f);
        var x = new ReadOnlySpan<float>(_x, g.Input.Size);
        var w = new ReadOnlySpan<float>(_w, f * g.PatchSize);
        if (_epilogue is null) Convolve(nested, part, x, g, _reader, 0, 1, oh0, oh1, 0, w, y, f, p0 - oh0 * ow, p1 - p0);
        else if (!ConvolveMapped(nested, part, x, 0, 1, oh0, oh1, w, y, _epilogue, p0 - oh0 * ow, p1 - p0)) _epilogue.ApplyRows(y, (long)p0 * f);
    }

    /// <summary>
    /// One image's filters [f0, f1) at every output position it computes (<see cref="SplitsByColumns"/>), into y or, with a pooling,
    /// into the first thread's block, which every thread writes its columns of; the epilogue in the GEMM's stores where it is a map
    /// per channel, else left for <see cref="ColumnsDone"/>.
    /// </summary>
    private void ColumnBlock(int part, int f0, int f1)
    {
        float[]? bias = null, scale = null, shift = null;
        bool relu = false, mapping = _epilogue is not null && _epilogue.AsColumns(out bias, out scale, out shift, out relu);
        fixed (float* pb = bias, ps = scale, pf = shift, block = _pool is null ? null : _blocks[0])
        {
            var map = new ColumnMap { Bias = pb, Scale = ps, Shift = pf, Relu = relu };
            var output = new Span<float>(_pool is null ? _y : block, ComputedPositions * _g.Filters);
            _reader!.GemmColumns(_kernels, part, new ReadOnlySpan<float>(_x, _g.Input.Size), _computedRows, f0, f1, output, mapping ? &map : null);
            if (_epilogue is not null && !map.Applied) _epilogueLeft = true;     // the same for every part: it depends on the shape alone
        }
    }

    /// <summary>After a column split's threads: the epilogue the GEMM did not apply, on whole rows; then the pooling.</summary>
    private void ColumnsDone()
    {
        fixed (float* block = _pool is null ? null : _blocks[0])
        {
            float* output = _pool is null ? _y : block;
            if (_epilogueLeft) _epilogue!.ApplyRows(new Span<float>(output, ComputedPositions * _g.Filters), 0);
            if (_pool is not null) Pool(0, 1, 0, _computedRows, output);
        }
    }

    /// <summary>Input rows [oh0, oh1) of examples [n0, n1) (a 1x1 window: the output's rows) made by the source into this thread's scratch.</summary>
    private ReadOnlySpan<float> Made(int part, bool nested, int n0, int n1, int oh0, int oh1)
    {
        var rows = _inputs[part].AsSpan(0, (n1 - n0) * (oh1 - oh0) * _g.Input.Width * _g.Input.Channels);
        _source!.Rows(part, nested, n0, n1, oh0, oh1, rows);
        return rows;
    }

    /// <summary>
    /// Inference, a 1x1 convolution reading its input from a source (<see cref="ReadInputFrom"/>): itself a source of its output rows,
    /// the epilogue applied, for the layer after it (a depthwise convolution) to read from cache. The kernel w is read when
    /// the rows are asked for; the same GEMM and epilogue as forward, row for row.
    /// </summary>
    public IRowsSource AsSource(Backend kernels, float[] w, IRowsEpilogue? epilogue)
    {
        if (_source is null) throw new InvalidOperationException("a convolution is a source of rows only when it reads its own input from one");
        _kernels = kernels;
        return new Source(this, w, epilogue);
    }

    private sealed class Source(Convolution owner, float[] w, IRowsEpilogue? epilogue) : IRowsSource
    {
        public void Rows(int part, bool nested, int n0, int n1, int row0, int row1, Span<float> into)
        {
            var g = owner._g;
            int size = (n1 - n0) * (row1 - row0) * g.Cols.Output * g.Filters;
            if (into.Length < size) throw new ArgumentException($"convolution: rows [{row0}, {row1}) of examples [{n0}, {n1}) do not fit");
            owner.Block(part, nested, n0, n1, row0, row1, default, w, into[..size], epilogue);
        }

        public void Prepare()
        {
            owner._reader?.Pack(owner._kernels, w, owner._repack);
            owner._source!.Prepare();
        }
    }

    /// <summary>
    /// Y (rows, Fg) = one group's windows of <paramref name="tensor"/> under <paramref name="g"/> (examples [n0, n1), output rows
    /// [oh0, oh1) of each) times Wgᵀ: read where they lie when the backend can (<see cref="Backend.GemmGathered"/>), else laid
    /// out by im2col for a GEMM. The same sums either way. <paramref name="beta"/> 1: added to Y.
    /// </summary>
    private void Convolve(bool nested, int part, ReadOnlySpan<float> tensor, ConvGeometry g, WindowReader? reader, int n0, int n1, int oh0, int oh1, int group,
        ReadOnlySpan<float> wg, Span<float> y, int ldy, int skip = 0, int count = -1, float beta = 0, ColumnMap* map = null)
    {
        int rows = count >= 0 ? count : (n1 - n0) * (oh1 - oh0) * g.Cols.Output, k = g.PatchSize, fg = g.GroupFilters;
        if (reader is not null && reader.Gemm(_kernels, part, tensor, n0, n1, oh0, oh1, group, y, ldy, skip, count, beta, map)) return;
        Gemm(nested, part, Op.N, Op.T, rows, fg, k, Columns(tensor, g, n0, n1, group, part, oh0, oh1).Slice(skip * k, rows * k), k, wg, k, beta, y, ldy);
    }

    /// <summary>
    /// A convolution's windows for <see cref="Backend.GemmGathered"/>: read from the tensor itself when they need no padding,
    /// else from this thread's copy of the block's input rows inside a zero border (a ninth of im2col's copy for a 3x3 window).
    /// The offsets walk a window in im2col's order (kernel row, kernel column, channel), so each sum is built in the same order.
    /// </summary>
    private sealed class WindowReader
    {
        private readonly ConvGeometry _g;
        private readonly bool _padded;
        private readonly int _width;                 // columns of the rows read: the input's, or the padded copy's
        private readonly int[] _offsets;             // per element of a window: its distance in floats from the window's start
        private readonly int _run;                   // of them, how many lie one after another (GatheredRows.LeadingRun)
        private readonly float[][] _copies;          // per thread, when padded: the block's rows in a zero border
        private readonly float[] _packed;            // each group's kernel as the backend's gathered GEMM reads it
        private readonly int _packedGroup;           // floats of it per group
        private readonly KernelSource _packedFrom = new();   // what _packed was made from
        private readonly BorderClasses? _classes;    // when padded: positions by the taps inside the input, to skip the rest

        public WindowReader(ConvGeometry g, int examples, Backend kernels)
        {
            _g = g;
            _padded = g.Rows.Padded || g.Cols.Padded;
            _width = _padded ? g.Cols.Spanned(g.Cols.Output) : g.Input.Width;
            int c = g.Input.Channels, cg = g.GroupChannels, kw = g.Cols.Kernel;
            _offsets = new int[g.PatchSize];
            for (int i = 0; i < g.Rows.Kernel; i++)
                for (int j = 0; j < kw; j++)
                    for (int ch = 0; ch < cg; ch++)
                        _offsets[(i * kw + j) * cg + ch] = (i * g.Rows.Dilation * _width + j * g.Cols.Dilation) * c + ch;
            _run = GatheredRows.LeadingRun(_offsets);
            long copy = (long)examples * Height(0, g.Rows.Output) * _width * c;
            _copies = Enumerable.Range(0, _padded ? kernels.Threads : 0).Select(_ => new float[copy]).ToArray();
            _packedGroup = kernels.GatheredPackSize(g.GroupFilters, g.PatchSize);
            _packed = new float[g.Groups * _packedGroup];
            _classes = BorderClasses.For(g, examples, kernels.Threads);
        }

        /// <summary>
        /// Packs the kernel w (per group (F/groups, K)) for the backend, once per pass rather than per thread and chunk; at
        /// inference not again while w is unchanged (a single image's 7x7x64 -> 64 convolution spent a third of its time packing
        /// its 37,000 weights), and with fixed parameters never again.
        /// </summary>
        public void Pack(Backend kernels, ReadOnlySpan<float> w, Repack when)
        {
            if (_packedFrom.Holds(w, when)) return;
            int k = _g.PatchSize, fg = _g.GroupFilters;
            for (int group = 0; group < _g.Groups; group++)
                kernels.PackGathered(w.Slice(group * fg * k, fg * k), k, fg, k, _packed.AsSpan(group * _packedGroup, _packedGroup));
            _packedFrom.Made(w, when);
        }

        /// <summary>Input rows (padded) under output rows [oh0, oh1).</summary>
        private int Height(int oh0, int oh1) => _g.Rows.Spanned(oh1 - oh0);

        /// <summary>Y (rows, Fg) of one group, the kernel as last packed; false when the backend leaves this shape to im2col.</summary>
        public bool Gemm(Backend kernels, int part, ReadOnlySpan<float> tensor, int n0, int n1, int oh0, int oh1, int group, Span<float> y, int ldy, int skip = 0, int count = -1,
            float beta = 0, ColumnMap* map = null)
        {
            int all = (n1 - n0) * (oh1 - oh0) * _g.Cols.Output, rows = count >= 0 ? count : all;
            var packed = _packed.AsSpan(group * _packedGroup, _packedGroup);
            fixed (float* px = tensor, copy = _padded ? _copies[part] : null, py = y)
            fixed (int* offsets = _offsets)
            {
                var windows = Windows(px, copy, offsets, n0, n1, oh0, oh1, group);
                // border classes group whole rows: not for a share of positions
                if (rows == all && _classes is { } classes && classes.Gemm(kernels, part, windows, n1 - n0, oh0, py, ldy, _g.GroupFilters, packed, beta)) return true;
                return kernels.GemmGathered(part, windows.Skip(skip), rows, _g.GroupFilters, packed, y, ldy, beta, map);
            }
        }

        /// <summary>
        /// Filters [f0, f1) of one image's Y (positions, F) over its first <paramref name="rows"/> output rows, the kernel as last
        /// packed (<see cref="Backend.GemmGatheredColumns"/>).
        /// </summary>
        public void GemmColumns(Backend kernels, int part, ReadOnlySpan<float> tensor, int rows, int f0, int f1, Span<float> y, ColumnMap* map)
        {
            fixed (float* px = tensor, copy = _padded ? _copies[part] : null)
            fixed (int* offsets = _offsets)
                if (!kernels.GemmGatheredColumns(part, Windows(px, copy, offsets, 0, 1, 0, rows, 0), rows * _g.Cols.Output, _g.Filters, f0, f1, _packed, y, _g.Filters, map))
                    throw new InvalidOperationException($"convolution: the backend declined the filters of one image it said it takes ({_g})");
        }

        /// <summary>
        /// One group's weight gradient over examples [n0, n1): dWgᵀ (K, Fg) = windowsᵀ dZg + beta·dWgᵀ, the windows read where
        /// they lie; false when the backend leaves this shape to im2col.
        /// </summary>
        public bool GemmTransposed(Backend kernels, int part, ReadOnlySpan<float> tensor, int n0, int n1, int group, ReadOnlySpan<float> dz, int ldz, float beta, Span<float> dWt, int ldw)
        {
            int rows = (n1 - n0) * _g.Positions;
            if (!kernels.GathersTransposed(_g.PatchSize, _g.GroupFilters, rows, _run)) return false;      // before the padded copy
            fixed (float* px = tensor, copy = _padded ? _copies[part] : null)
            fixed (int* offsets = _offsets)
                return kernels.GemmGatheredTransposed(part, Windows(px, copy, offsets, n0, n1, 0, _g.Rows.Output, group), rows, _g.GroupFilters, dz, ldz, beta, dWt, ldw);
        }

        /// <summary>The windows of output rows [oh0, oh1) of examples [n0, n1), one group's: in the tensor, or in this thread's padded copy of their rows.</summary>
        private GatheredRows Windows(float* px, float* copy, int* offsets, int n0, int n1, int oh0, int oh1, int group)
        {
            var g = _g;
            int c = g.Input.Channels;
            float* origin;
            long imageStride;
            if (_padded)
            {
                // The copy holds every channel, and a block's groups run in order on one thread: copied for the first.
                imageStride = (long)Height(oh0, oh1) * _width * c;
                if (group == 0) Pad(px, copy, n0, n1, oh0 * g.Rows.Stride - g.Rows.PadBefore, Height(oh0, oh1));
                origin = copy;
            }
            else
            {
                imageStride = g.Input.Size;
                origin = px + (long)n0 * imageStride + (long)oh0 * g.Rows.Stride * _width * c;
            }
            return new GatheredRows(origin + g.GroupChannels * group, imageStride, oh1 - oh0, g.Cols.Output,
                (long)g.Rows.Stride * _width * c, (long)g.Cols.Stride * c, offsets, g.PatchSize);
        }

        /// <summary>
        /// Examples [n0, n1)'s input rows [ih0, ih0 + height) (some in the padding) into copy, each inside its zero border. The
        /// left and right borders are never written, so they stay as allocated; a row above or below the input is cleared, as
        /// another block may have left an input row there.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Pad(float* x, float* copy, int n0, int n1, int ih0, int height)
        {
            var g = _g;
            int c = g.Input.Channels, w = g.Input.Width, before = g.Cols.PadBefore, inside = Math.Min(w, _width - before);
            long row = (long)_width * c;
            for (int n = n0; n < n1; n++)
                for (int r = 0; r < height; r++)
                {
                    float* dst = copy + ((long)(n - n0) * height + r) * row;
                    int ih = ih0 + r;
                    if ((uint)ih >= (uint)g.Input.Height) new Span<float>(dst, (int)row).Clear();
                    else new ReadOnlySpan<float>(x + ((long)n * g.Input.Height + ih) * w * c, inside * c).CopyTo(new Span<float>(dst + before * c, inside * c));
                }
        }
    }

    /// <summary>
    /// A padded convolution's output positions grouped by the taps of their windows that fall inside the input, for
    /// <see cref="Backend.GemmGatheredClasses"/>: output rows with the same kernel rows inside times output columns with the same
    /// kernel columns inside (a 3x3 'same' window: top, inner and bottom rows times left, inner and right columns). A 7x7 map's
    /// windows have 18% of their taps in the padding, a 14x14 map's 9%: a GEMM over whole windows multiplies them by zero.
    /// </summary>
    private sealed class BorderClasses
    {
        private readonly int[] _rowClass;                // per output row: its class
        private readonly int[][] _columns;               // per column class: its output columns
        private readonly int _rowClasses, _colClasses;
        private readonly int[] _rangeStarts, _ranges;    // class (row class · column classes + column class): its taps, as ranges
        private readonly nint[][] _aRows, _cRows;        // per thread: a block's windows and output rows, class after class
        private readonly int[][] _starts;                // per thread: where each class starts in them

        /// <summary>The classes of <paramref name="g"/>, or null when they would not pay: too few taps in the padding, or too short windows.</summary>
        public static BorderClasses? For(ConvGeometry g, int examples, int threads)
        {
            // Sorting a block's positions and their lists cost about 5% (Zen 1, one thread: 28x28x16 -> 16 'same', whose windows
            // have 4.8% of their taps in the padding, 3-5% slower; 14x14x32 -> 32 with 9.3%, 5% faster; 7x7x64 -> 64 with 18%,
            // 8% faster); and below 64 taps (a first convolution's 9) the windows are too short to be worth splitting.
            if (!g.Rows.Padded && !g.Cols.Padded || g.PatchSize < 64 || InsideShare(g.Rows) * InsideShare(g.Cols) > 0.93) return null;
            return new BorderClasses(g, examples, threads);
        }

        /// <summary>The share of a dimension's kernel taps, over all its outputs, that fall inside the input.</summary>
        private static double InsideShare(Window window) => window.TapsInside / (double)(window.Output * window.Kernel);

        private BorderClasses(ConvGeometry g, int examples, int threads)
        {
            var (rows, cols) = (new List<(int, int)>(), new List<(int, int)>());
            _rowClass = Classify(g.Rows, rows);
            var colClass = Classify(g.Cols, cols);
            _columns = Enumerable.Range(0, cols.Count).Select(cc => Enumerable.Range(0, g.Cols.Output).Where(ow => colClass[ow] == cc).ToArray()).ToArray();
            (_rowClasses, _colClasses) = (rows.Count, cols.Count);
            int cg = g.GroupChannels, kw = g.Cols.Kernel;
            var (starts, ranges) = (new List<int>(), new List<int>());
            foreach (var (kh0, kh1) in rows)
                foreach (var (kw0, kw1) in cols)
                {
                    starts.Add(ranges.Count / 2);
                    for (int kh = kh0; kh < kh1 && kw0 < kw1; kh++)
                    {
                        int q0 = (kh * kw + kw0) * cg, q1 = (kh * kw + kw1) * cg;
                        if (ranges.Count > 0 && ranges[^1] == q0) ranges[^1] = q1;          // whole kernel rows: one range
                        else ranges.AddRange([q0, q1]);
                    }
                }
            starts.Add(ranges.Count / 2);
            (_rangeStarts, _ranges) = (starts.ToArray(), ranges.ToArray());
            int positions = examples * g.Positions;
            _aRows = Enumerable.Range(0, threads).Select(_ => new nint[positions]).ToArray();
            _cRows = Enumerable.Range(0, threads).Select(_ => new nint[positions]).ToArray();
            _starts = Enumerable.Range(0, threads).Select(_ => new int[rows.Count * cols.Count + 1]).ToArray();
        }

        /// <summary>Each output's class along one dimension: the index in <paramref name="distinct"/> of its taps inside the input.</summary>
        private static int[] Classify(Window window, List<(int, int)> distinct)
        {
            var classOf = new int[window.Output];
            for (int o = 0; o < window.Output; o++)
            {
                var inside = window.Inside(o);
                int index = distinct.IndexOf(inside);
                if (index < 0) { index = distinct.Count; distinct.Add(inside); }
                classOf[o] = index;
            }
            return classOf;
        }

        /// <summary>
        /// Y (rows, n) of the block <paramref name="windows"/> describes (its first output row <paramref name="oh0"/>), class by class;
        /// false when the backend leaves it to the caller.
        /// </summary>
        public bool Gemm(Backend kernels, int part, in GatheredRows windows, int examples, int oh0, float* y, int ldy, int n, ReadOnlySpan<float> packed, float beta)
        {
            int height = windows.Rows, width = windows.Width, classes = _rowClasses * _colClasses;
            if ((long)examples * height * width > _aRows[part].Length) return false;
            fixed (nint* aRows = _aRows[part], cRows = _cRows[part])
            fixed (int* starts = _starts[part], rangeStarts = _rangeStarts, ranges = _ranges)
            {
                int count = 0;
                for (int rc = 0; rc < _rowClasses; rc++)
                    for (int cc = 0; cc < _colClasses; cc++)
                    {
                        starts[rc * _colClasses + cc] = count;
                        var columns = _columns[cc];
                        for (int e = 0; e < examples; e++)
                            for (int r = 0; r < height; r++)
                            {
                                if (_rowClass[oh0 + r] != rc) continue;
                                float* window = windows.Base + e * windows.ImageStride + r * windows.RowStep, output = y + (long)(e * height + r) * width * ldy;
                                foreach (int ow in columns)
                                {
                                    aRows[count] = (nint)(window + ow * windows.ColStep);
                                    cRows[count++] = (nint)(output + (long)ow * ldy);
                                }
                            }
                    }
                starts[classes] = count;
                var sorted = new WindowClasses(classes, starts, (float**)aRows, (float**)cRows, ldy, rangeStarts, ranges, windows.Offsets, windows.K);
                return kernels.GemmGatheredClasses(part, sorted, n, packed, beta);
            }
        }
    }

    /// <summary>
    /// The column matrix of examples [n0, n1) (output rows [oh0, oh1) of each, when given) and one group of <paramref name="tensor"/>
    /// under geometry <paramref name="g"/>: im2col into this thread's scratch, or the tensor itself when the window is 1x1
    /// unstrided over all channels.
    /// </summary>
    private ReadOnlySpan<float> Columns(ReadOnlySpan<float> tensor, ConvGeometry g, int n0, int n1, int group, int part, int oh0 = 0, int oh1 = -1)
    {
        if (oh1 < 0) oh1 = g.Rows.Output;
        int rows = (n1 - n0) * (oh1 - oh0) * g.Cols.Output;
        if (Im2Col.IsIdentity(g)) return tensor.Slice((int)(((long)n0 * g.Rows.Output + oh0) * g.Cols.Output * g.PatchSize), rows * g.PatchSize);
        var cols = _cols[part].AsSpan(0, rows * g.PatchSize);
        Im2Col.Columns(tensor, n0, n1, g.Input, g.Rows, g.Cols, cols, group * g.GroupChannels, g.GroupChannels, oh0, oh1);
        return cols;
    }

    private void Gemm(bool nested, int part, Op opA, Op opB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
        _kernels.GemmFrom(part, nested, opA, opB, m, n, k, a, lda, b, ldb, beta, c, ldc);
}
