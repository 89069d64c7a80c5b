using SpecNet.Kernels;
using SpecNet.Diagnostics;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// 2-D convolution (Keras Conv2D), NHWC. For each output position and filter f:
/// y[n,i,j,f] = act(b[f] + sum over (di,dj,c) of x[n, i*s - pad + di*d, j*s - pad + dj*d, c] * W[di,dj,c,f]).
/// Output size per axis as <see cref="Window"/> says. Params: kh*kw*C*F + F. MACs: OH*OW*F*kh*kw*C.
/// Computed as im2col then one GEMM: cols (N*OH*OW, kh*kw*C) x W (kh*kw*C, F).
/// Backward: dW = cols^T dY, db = sum dY, dcols = dY W^T, then col2im adds dcols back into dx.
/// </summary>
public sealed class Conv2D : Layer
{
    public static readonly LayerKind Definition = new("conv2d", "2-D convolution over height and width",
    [
        new("filters", "int", null, "number of output channels (feature maps)"),
        new("kernel_size", "int | [h, w]", null, "window size"),
        new("strides", "int | [h, w]", "1", "step between windows"),
        new("padding", "valid | same", "valid", "valid: no padding; same: pad so that out = ceil(in / stride)"),
        new("dilation_rate", "int | [h, w]", "1", "spacing between kernel taps"),
        new("activation", "name", "linear", "activation applied to the output"),
        new("use_bias", "bool", "true", "add a learned bias per filter"),
    ], Bind);

    public int Filters { get; private init; }
    public (int H, int W) KernelSize { get; private init; }
    public (int H, int W) Strides { get; private init; }
    public (int H, int W) Dilation { get; private init; }
    public Padding Padding { get; private init; }
    public Activation Activation { get; private init; }
    public bool UseBias { get; private init; }

    /// <summary>Geometry per axis, known after shape inference.</summary>
    public Window Rows { get; private set; }
    public Window Cols { get; private set; }

    private static Layer Bind(OptionReader r) => new Conv2D
    {
        Filters = r.PositiveInt("filters"),
        KernelSize = r.PositivePair("kernel_size"),
        Strides = r.PositivePair("strides"),
        Padding = r.Choice("padding", ["valid", "same"], "padding") == "same" ? Padding.Same : Padding.Valid,
        Dilation = r.PositivePair("dilation_rate"),
        Activation = Activations.Read(r, "activation"),
        UseBias = r.Bool("use_bias"),
    };

    protected override Shape? InferShape(Shape input, ShapeCheck check)
    {
        if (!check.NeedsSpatial(input)) return null;
        if ((Strides.H > 1 || Strides.W > 1) && (Dilation.H > 1 || Dilation.W > 1))
        {
            check.Error(DiagnosticIds.InvalidCombination, "dilation_rate", "strides > 1 cannot be combined with dilation_rate > 1 (as in Keras)",
                "use strides: 1 with dilation, or dilation_rate: 1 with strides");
            return null;
        }
        Rows = Window.Of(input.Height, KernelSize.H, Strides.H, Dilation.H, Padding);
        Cols = Window.Of(input.Width, KernelSize.W, Strides.W, Dilation.W, Padding);
        var misfit = Rows.Output <= 0 ? Rows : Cols.Output <= 0 ? Cols : (Window?)null;
        if (misfit is { } w)
        {
            check.Error(DiagnosticIds.DimensionTooSmall, "kernel_size",
                $"the {w.Dilated}-wide kernel does not fit the incoming {input} ({w.Arithmetic(Padding)})",
                $"use padding: same, a kernel_size of at most {w.Input}, or fewer downsampling layers before this one");
            return null;
        }
        return Shape.Spatial(Rows.Output, Cols.Output, Filters);
    }

    public override IReadOnlyList<ParameterSpec> Parameters
    {
        get
        {
            int k = KernelSize.H * KernelSize.W;
            var kernel = new ParameterSpec("weight", [Filters, Input.Channels, KernelSize.H, KernelSize.W], true, Init.GlorotUniform,
                FanIn: k * Input.Channels, FanOut: k * Filters);
            return UseBias ? [kernel, new ParameterSpec("bias", [Filters], true, Init.Zeros)] : [kernel];
        }
    }

    public override long Macs => (long)Output.Height * Output.Width * Filters * KernelSize.H * KernelSize.W * Input.Channels;

    public override string Describe() =>
        $"filters={Filters} kernel={KernelSize} strides={Strides} dilation={Dilation} padding={Padding} activation={Activation.Name} bias={UseBias}";

    // Internal kernel layout is [F, KH, KW, C] (rows of the GEMM's Wᵀ match im2col's (kh, kw, c) order);
    // the weights file uses PyTorch's [F, C, KH, KW].
    //
    // The batch is cut into chunks small enough that a chunk's im2col columns stay in a core's L2 cache, and
    // the threads take whole chunks: no fork-join inside a GEMM, no batch-sized column matrix in memory.
    // Backward rebuilds a chunk's columns rather than keeping them from forward.

    /// <summary>K of the GEMM: one window's values.</summary>
    private int PatchSize => KernelSize.H * KernelSize.W * Input.Channels;

    /// <summary>Output positions per example: rows of the GEMM.</summary>
    private int Positions => Output.Height * Output.Width;

    /// <summary>Columns per chunk, in floats (SPECNET_CHUNK overrides, for measuring).</summary>
    private static readonly int ChunkFloats = int.TryParse(Environment.GetEnvironmentVariable("SPECNET_CHUNK"), out var c) ? c : 1 << 17;

    /// <summary>Examples per chunk: about ChunkFloats of columns.</summary>
    private int ChunkSize => Math.Max(1, ChunkFloats / (Positions * PatchSize));

    /// <summary>Chunks for a batch: a multiple of the thread count, of equal size, so threads finish together.</summary>
    private int ChunkFor(int batch, int threads)
    {
        int chunks = (batch + ChunkSize - 1) / ChunkSize;
        chunks = Math.Min(batch, (chunks + threads - 1) / threads * threads);
        return (batch + chunks - 1) / chunks;
    }

    public override object? CreateState(int capacity, bool training) => new State(capacity, training, this);

    public override long ScratchValues => (long)Positions * PatchSize; // per example at most (one chunk per thread in fact)

    private sealed unsafe class State(int capacity, bool training, Conv2D layer) : IRangeWork
    {
        private static readonly int Threads = Environment.ProcessorCount;
        public int Chunk = Math.Min(capacity, layer.ChunkSize);
        public readonly float[][] Cols = Enumerable.Range(0, Threads).Select(_ => new float[Math.Min(capacity, layer.ChunkSize) * layer.Positions * layer.PatchSize]).ToArray(); // per thread (Chunk*OH*OW, K)
        public readonly float[][] DWeightsT = Enumerable.Range(0, training ? Threads : 0).Select(_ => new float[layer.PatchSize * layer.Filters]).ToArray(); // per thread, transposed (K, F)
        public readonly bool[] Used = new bool[Threads];
        public readonly Epilogue Epilogue = new(layer.Activation, layer.UseBias, layer.Filters, capacity * layer.Output.Size, training);

        // The pass being run (set by Forward/Backward, read by the threads in Run).
        public bool Backward, InputGradient;
        public int Batch;
        public float* X, Y, DZPtr, DX, W;
        public Backend Kernels = null!;

        /// <summary>Chunks [c0, c1) on thread <paramref name="part"/>.</summary>
        public void Run(int part, int c0, int c1, bool nested)
        {
            int positions = layer.Positions, k = layer.PatchSize, f = layer.Filters;
            var cols = Cols[part];
            var inSize = layer.Input.Size;
            for (int chunk = c0; chunk < c1; chunk++)
            {
                int n0 = chunk * Chunk, n1 = Math.Min(Batch, n0 + Chunk), rows = (n1 - n0) * positions;
                var x = new ReadOnlySpan<float>(X, Batch * inSize);
                var c = cols.AsSpan(0, rows * k);
                Im2Col.Columns(x, n0, n1, layer.Input, layer.Rows, layer.Cols, c);
                var w = new ReadOnlySpan<float>(W, f * k);
                if (!Backward)
                {
                    var y = new Span<float>(Y + (long)n0 * positions * f, rows * f);
                    Gemm(nested, part, Op.N, Op.T, rows, f, k, c, w, 0, y);                      // Y (rows, F) = cols Wᵀ
                    continue;
                }
                var dz = new ReadOnlySpan<float>(DZPtr + (long)n0 * positions * f, rows * f);
                Gemm(nested, part, Op.T, Op.N, k, f, rows, c, dz, Used[part] ? 1 : 0, DWeightsT[part]); // dWᵀ (K, F) += colsᵀ dZ
                Used[part] = true;
                if (!InputGradient) continue;
                Gemm(nested, part, Op.N, Op.N, rows, k, f, dz, w, 0, c);                          // dcols = dZ W
                Im2Col.Accumulate(c, n0, n1, layer.Input, layer.Rows, layer.Cols, new Span<float>(DX, Batch * inSize));
            }
        }

        private void Gemm(bool nested, int part, Op opA, Op opB, int m, int n, int kk, ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, Span<float> c)
        {
            if (nested) Kernels.GemmOnThread(part, opA, opB, m, n, kk, a, opA == Op.N ? kk : m, b, opB == Op.N ? n : kk, beta, c, n);
            else Kernels.Gemm(opA, opB, m, n, kk, a, b, beta, c);
        }
    }

    public override unsafe void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        var s = (State)ctx.State!;
        fixed (float* px = x, py = y, pw = ctx.Params[0])
        {
            s.Backward = false; s.Batch = ctx.Batch; s.Kernels = ctx.Kernels; s.Chunk = ChunkFor(ctx.Batch, ctx.Kernels.Threads);
            s.X = px; s.Y = py; s.W = pw;
            ctx.Kernels.ParallelFor((ctx.Batch + s.Chunk - 1) / s.Chunk, s);
        }
        s.Epilogue.Forward(ctx, y, UseBias ? ctx.Params[1] : null);
    }

    public override unsafe void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        var s = (State)ctx.State!;
        var dz = s.Epilogue.Backward(ctx, y, dy, UseBias ? ctx.Grads[1] : null);
        Array.Clear(s.Used);
        fixed (float* px = x, pdz = dz, pdx = dx, pw = ctx.Params[0])
        {
            s.Backward = true; s.InputGradient = ctx.InputGradient; s.Batch = ctx.Batch; s.Kernels = ctx.Kernels; s.Chunk = ChunkFor(ctx.Batch, ctx.Kernels.Threads);
            s.X = px; s.DZPtr = pdz; s.DX = pdx; s.W = pw;
            ctx.Kernels.ParallelFor((ctx.Batch + s.Chunk - 1) / s.Chunk, s);
        }
        // dW = the threads' partial gradients (kept transposed: the big operand, cols, is then read in place),
        // added in thread order: deterministic for a given thread count.
        var dW = ctx.Grads[0]!;
        int kk = PatchSize;
        Array.Clear(dW);
        for (int t = 0; t < s.Used.Length; t++)
            if (s.Used[t])
                for (int i = 0; i < kk; i++)
                    for (int f = 0; f < Filters; f++) dW[f * kk + i] += s.DWeightsT[t][i * Filters + f];
    }

    public override void ToFileLayout(int parameter, ReadOnlySpan<float> values, Span<float> file)
    {
        if (parameter != 0) { values.CopyTo(file); return; }
        int c = Input.Channels, kh = KernelSize.H, kw = KernelSize.W;
        for (int f = 0; f < Filters; f++)
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++)
                    for (int ch = 0; ch < c; ch++)
                        file[((f * c + ch) * kh + i) * kw + j] = values[((f * kh + i) * kw + j) * c + ch];
    }

    public override void FromFileLayout(int parameter, ReadOnlySpan<float> file, Span<float> values)
    {
        if (parameter != 0) { file.CopyTo(values); return; }
        int c = Input.Channels, kh = KernelSize.H, kw = KernelSize.W;
        for (int f = 0; f < Filters; f++)
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++)
                    for (int ch = 0; ch < c; ch++)
                        values[((f * kh + i) * kw + j) * c + ch] = file[((f * c + ch) * kh + i) * kw + j];
    }
}
