using SpecNet.Kernels;
using SpecNet.Diagnostics;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// 2-D convolution (Keras Conv2D), NHWC. For each output position and filter f (of group g = f / (F/G)):
/// y[n,i,j,f] = act(b[f] + sum over (di,dj,c in group g) of x[n, i*s - pad + di*d, j*s - pad + dj*d, c] * W[f,di,dj,c]).
/// Output size per axis as <see cref="Window"/> says. Params: kh*kw*(C/G)*F + F. MACs: OH*OW*F*kh*kw*C/G.
/// Computed as im2col then one GEMM per group: cols (N*OH*OW, kh*kw*C/G) x Wᵀ (<see cref="Convolution"/>),
/// then the epilogue (bias, activation). Backward: the epilogue gives dZ and db; dW = colsᵀ dZ,
/// dcols = dZ W, and col2im adds dcols back into dx. Small groups of a 3x3 convolution run as one dense convolution
/// (<see cref="SmallGroups"/>).
/// </summary>
public sealed class Conv2D : Layer, IFoldsBatchNorm, ITakesRelu
{
    public static readonly LayerKind Definition = new("conv2d", "2-D convolution over height and width",
    [
        OptionInfo.Int("filters", "number of output channels (feature maps)", min: 1, max: 1 << 20),
        OptionInfo.Pair("kernel_size", "window size") with { HashKey = "kernel" },
        OptionInfo.Pair("strides", "step between windows", 1),
        OptionInfo.Pair("dilation_rate", "spacing between kernel taps", 1) with { HashKey = "dilation" },
        PaddingOption("valid: no padding; same: pad so that out = ceil(in / stride)"),
        Activations.Option(),
        OptionInfo.Bool("use_bias", "add a learned bias per filter", true) with { HashKey = "bias" },
        OptionInfo.Int("groups", "split channels into this many groups, each convolved with its own filters (as Keras)", 1, min: 1, max: 1 << 16)
            with { HashedOnlyWhenSet = true },
        Regularizer.KernelOption,
        Regularizer.BiasOption,
    ], Bind);

    /// <summary>The `padding` option shared by convolutions and pooling.</summary>
    public static OptionInfo PaddingOption(string doc) => OptionInfo.Choice("padding", doc, ["valid", "same"], "valid");

    public int Filters { get; private init; }
    public (int H, int W) KernelSize { get; private init; }
    public (int H, int W) Strides { get; private init; }
    public (int H, int W) Dilation { get; private init; }
    public Padding Padding { get; private init; }
    public Activation Activation { get; private init; }
    public bool UseBias { get; private init; }
    public int Groups { get; private init; }

    /// <summary>Geometry per axis, known after shape inference.</summary>
    public Window Rows { get; private set; }
    public Window Cols { get; private set; }

    private ConvGeometry Shape2D => new(Input, Rows, Cols, Filters, Groups);

    /// <summary>
    /// Groups of at most 8 channels, at most 8 of them, in a 3x3 stride-1 undilated convolution: run as the dense convolution whose
    /// kernel is zero outside the groups' blocks, which the fast paths compute (Winograd among them) in less time than the
    /// groups' own small GEMMs, G times the multiplies notwithstanding; its weight gradient's blocks are kept, the rest dropped.
    /// Zen 5, `specnet bench` at batch 64, 28x28 maps, forward and backward, the builds before and after alternating: 16 channels
    /// in 2 groups 1.30-1.54 and 4.2-4.9 -> 0.63-0.65 and 1.63-1.69 ms; 32 in 4 groups 3.4 and 11.7-12.1 -> 1.7-1.9 and 4.6-4.9;
    /// 32 in 8 groups 3.7-3.8 and 19.9-20.1 -> 1.7-1.9 and 4.4-4.5; 64 in 8 groups 7.6 and 29.4-29.6 -> 5.6-5.8 and 15.1-15.5 (with
    /// AVX2 forward level, backward 42-45 -> 23). 64 channels in 4 groups of 16 stay grouped: dense, 5.2 and 14.4 against 4.0 and 9.0.
    /// On backends without Winograd (MKL, MathNet) the groups stay apart: there 64 channels in 8 groups ran slower dense.
    /// </summary>
    private bool SmallGroups => Groups > 1 && Input.Channels / Groups <= 8 && Groups <= 8
        && KernelSize == (3, 3) && Strides == (1, 1) && Dilation == (1, 1);

    private static Layer Bind(OptionReader r) => new Conv2D
    {
        Filters = r.Int("filters"),
        KernelSize = r.Pair("kernel_size"),
        Strides = r.Pair("strides"),
        Dilation = r.Pair("dilation_rate"),
        Padding = r.Choice<Padding>("padding"),
        Activation = Activations.Read(r),
        UseBias = r.Bool("use_bias"),
        Groups = r.Int("groups"),
        KernelRegularizer = Regularizer.Read(r, "kernel_regularizer"),
        BiasRegularizer = Regularizer.Read(r, "bias_regularizer"),
    };

    public Regularizer? KernelRegularizer { get; private init; }
    public Regularizer? BiasRegularizer { get; private init; }

    protected override Shape? InferShape(Shape input, ShapeCheck check)
    {
        if (!check.NeedsSpatial(input)) return null;
        if (input.Channels % Groups != 0 || Filters % Groups != 0)
        {
            check.Error(DiagnosticIds.InvalidCombination, "groups",
                $"groups: {Groups} must divide both the input's {input.Channels} channels and the {Filters} filters",
                $"use groups that divide {input.Channels} and {Filters} (their common divisors: {string.Join(", ", Divisors(input.Channels, Filters))})");
            return null;
        }
        if (Geometry(input, KernelSize, Strides, Dilation, Padding, check) is not { } g) return null;
        (Rows, Cols) = g;
        return Shape.Spatial(Rows.Output, Cols.Output, Filters);
    }

    /// <summary>The windows of a convolution over <paramref name="input"/>, or null (with the error, at the option to blame) when they do not fit.</summary>
    internal static (Window Rows, Window Cols)? Geometry(Shape input, (int H, int W) kernel, (int H, int W) strides, (int H, int W) dilation,
        Padding padding, ShapeCheck check)
    {
        if ((strides.H > 1 || strides.W > 1) && (dilation.H > 1 || dilation.W > 1))
        {
            check.Error(DiagnosticIds.InvalidCombination, "dilation_rate", "strides > 1 cannot be combined with dilation_rate > 1 (as in Keras)",
                "use strides: 1 with dilation, or dilation_rate: 1 with strides");
            return null;
        }
        var rows = Window.Of(input.Height, kernel.H, strides.H, dilation.H, padding);
        var cols = Window.Of(input.Width, kernel.W, strides.W, dilation.W, padding);
        var misfit = rows.Output <= 0 ? rows : cols.Output <= 0 ? cols : (Window?)null;
        if (misfit is { } w)
        {
            check.Error(DiagnosticIds.DimensionTooSmall, "kernel_size",
                $"the {w.Dilated}-wide kernel does not fit the incoming {input} ({w.Arithmetic(padding)})",
                $"use padding: same, a kernel_size of at most {w.Input}, or fewer downsampling layers before this one");
            return null;
        }
        return (rows, cols);
    }

    private static IEnumerable<int> Divisors(int a, int b) => Enumerable.Range(1, Math.Min(a, b)).Where(d => a % d == 0 && b % d == 0);

    public override IReadOnlyList<ParameterSpec> Parameters
    {
        get
        {
            int k = KernelSize.H * KernelSize.W, c = Input.Channels / Groups;
            var kernel = new ParameterSpec("weight", [Filters, c, KernelSize.H, KernelSize.W], true, Init.GlorotUniform,
                FanIn: k * c, FanOut: k * Filters) { Regularizer = KernelRegularizer };
            return UseBias ? [kernel, new ParameterSpec("bias", [Filters], true, Init.Zeros) { Regularizer = BiasRegularizer }] : [kernel];
        }
    }

    public override long Macs => (long)Output.Height * Output.Width * Filters * KernelSize.H * KernelSize.W * (Input.Channels / Groups);

    public override Activation OutputActivation => Activation;

    public override bool BackwardReadsOutput => !Activation.IsLinear;   // the activation's derivative, from y

    public override long ScratchValues => Convolution.ScratchPerExample(SmallGroups ? Shape2D with { Groups = 1 } : Shape2D);   // the larger
    public override long StateValues(bool training) => Epilogue.ValuesPerExample(Activation, training, Output.Size);

    private sealed class State
    {
        public readonly bool Dense;                       // this runs as the dense convolution (SmallGroups, on a backend with Winograd)
        public readonly Convolution Convolution;
        public readonly float[] DenseKernel = [], DenseGradient = [];   // Dense: the kernel with its zero blocks (never written), its gradient
        public bool Fixed;                                // parameters that never change (eval, predict): the dense kernel made at the first pass only
        public bool Made;
        public readonly Epilogue Epilogue;
        public readonly AffineRows Folded = new();

        public State(Conv2D layer, int capacity, bool training, Backend kernels)
        {
            Dense = layer.SmallGroups && kernels.RunsWinograd;
            Convolution = new(layer.Shape2D with { Groups = Dense ? 1 : layer.Groups }, capacity, training, kernels);
            if (Dense) (DenseKernel, DenseGradient) = (new float[layer.Filters * layer.Taps * layer.Input.Channels], training ? new float[layer.Filters * layer.Taps * layer.Input.Channels] : []);
            Epilogue = new(layer.Activation, layer.UseBias, layer.Filters, capacity * layer.Output.Size, training, kernels.Threads);
        }
    }

    public override object? CreateState(int capacity, bool training, Backend kernels) => new State(this, capacity, training, kernels);

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        var s = (State)ctx.State!;
        var bias = UseBias ? ctx.Params[1] : null;
        // y = act(im2col(x) Wᵀ + b), the bias and the activation on each chunk, in cache
        s.Convolution.Forward(ctx.Kernels, ctx.Batch, x, Kernel(ctx), y, s.Epilogue.ForRows(bias));
    }

    public bool CanFold => Activation.IsLinear;

    public bool CanTakeRelu => Activation.IsLinear;
    public void TakeRelu(LayerContext ctx) => ((State)ctx.State!).Epilogue.TakeRelu();

    public void ForwardFolded(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y, float[] a, float[] b, bool relu, float[]? residual = null, RowsMap? then = null)
    {
        var s = (State)ctx.State!;
        (s.Folded.Bias, s.Folded.A, s.Folded.B, s.Folded.Relu, s.Folded.Residual, s.Folded.Then) = (UseBias ? ctx.Params[1] : null, a, b, relu, residual, then);
        s.Convolution.Forward(ctx.Kernels, ctx.Batch, x, Kernel(ctx), y, s.Folded);   // each chunk: (z + bias)·a + b, relu
    }

    /// <summary>
    /// Whether, at inference, a max pooling that alone reads this convolution's output (or the batch norm's and relu's after it)
    /// can run inside its forward: the pooling's windows tile, and its activation runs on each chunk (relu or none).
    /// </summary>
    public bool CanPool(MaxPool2D pool) => Activation.Function is ActivationFunction.Relu or ActivationFunction.Linear && pool.Rows.Tiles && pool.Cols.Tiles;

    /// <summary>Plan time: forward, and in training both gradients, by Winograd where it pays (<see cref="Convolution.UseWinograd"/>).</summary>
    public bool UseWinograd(LayerContext ctx) => ((State)ctx.State!).Convolution.UseWinograd(ctx.Kernels);

    public override void FixParameters(LayerContext ctx)
    {
        var s = (State)ctx.State!;
        s.Convolution.FixKernel();
        s.Fixed = true;
    }

    /// <summary>Plan time, inference: forward writes <paramref name="pool"/>'s output from now on, pooling each chunk in cache (<see cref="Convolution.PoolOutput"/>).</summary>
    public void PoolOutput(LayerContext ctx, MaxPool2D pool) => ((State)ctx.State!).Convolution.PoolOutput(pool.Rows, pool.Cols);

    /// <summary>A 1x1 window, stride 1, no padding, one group: the input tensor is its own column matrix.</summary>
    public bool IsPointwise => Im2Col.IsIdentity(Shape2D);

    /// <summary>Plan time, inference, <see cref="IsPointwise"/>: forward reads its input from <paramref name="source"/> (<see cref="Convolution.ReadInputFrom"/>), not x.</summary>
    public void ReadInputFrom(LayerContext ctx, IRowsSource source) => ((State)ctx.State!).Convolution.ReadInputFrom(source);

    public IRowsSource AsSource(LayerContext ctx, IRowsSource? upstream, float[]? a, float[]? b, bool relu)
    {
        var s = (State)ctx.State!;
        if (upstream is not null) s.Convolution.ReadInputFrom(upstream);
        var epilogue = s.Epilogue.ForSource(s.Folded, UseBias ? ctx.Params[1] : null, a, b, relu);
        return s.Convolution.AsSource(ctx.Kernels, Kernel(ctx), epilogue);
    }

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        var s = (State)ctx.State!;
        var dz = s.Epilogue.Backward(ctx, y, dy, UseBias ? ctx.Grads[1] : null);     // dz = act'(z) dy, db = sum dz
        var dW = s.Dense && ctx.Grads[0] is not null ? s.DenseGradient : ctx.Grads[0];
        s.Convolution.Backward(ctx.Kernels, ctx.Batch, x, Kernel(ctx), dz, dW, ctx.InputGradient ? dx : default, ctx.AddsInputGradient);
        if (s.Dense && ctx.Grads[0] is { } grads) Blocks(s.DenseGradient, grads, toDense: false);
    }

    /// <summary>
    /// Plan time, training: whether its backward can take the max pooling that alone reads its output through its relu
    /// (<see cref="BackwardThroughPooling"/>): windows that tile, and the relu its own.
    /// </summary>
    public bool CanTakePoolingBackward(MaxPool2D pool) => Activation.Function == ActivationFunction.Relu && pool.Rows.Tiles && pool.Cols.Tiles;

    /// <summary>
    /// Backward with the max pooling after it (<see cref="CanTakePoolingBackward"/>): its dz made a chunk at a time from the pooling's
    /// output and gradient (<see cref="Convolution.BackwardThroughPooling"/>), never stored; the bias gradient from the pooling's
    /// (<see cref="Epilogue.BiasThroughPooling"/>). The pooling's own backward is not run.
    /// </summary>
    public void BackwardThroughPooling(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, MaxPool2D pool, ReadOnlySpan<float> pooled,
        ReadOnlySpan<float> pooledGradient, Span<float> dx)
    {
        var s = (State)ctx.State!;
        s.Epilogue.BiasThroughPooling(ctx, pooled, pooledGradient, UseBias ? ctx.Grads[1] : null);
        var dW = s.Dense && ctx.Grads[0] is not null ? s.DenseGradient : ctx.Grads[0];
        s.Convolution.BackwardThroughPooling(ctx.Kernels, ctx.Batch, x, Kernel(ctx), y, pool.Rows, pool.Cols, pooled, pooledGradient, dW,
            ctx.InputGradient ? dx : default, ctx.AddsInputGradient);
        if (s.Dense && ctx.Grads[0] is { } grads) Blocks(s.DenseGradient, grads, toDense: false);
    }

    private int Taps => KernelSize.H * KernelSize.W;

    /// <summary>The kernel the convolution runs: the parameter, or where it runs dense (<see cref="SmallGroups"/>) the dense kernel made from it.</summary>
    private float[] Kernel(LayerContext ctx)
    {
        var s = (State)ctx.State!;
        if (!s.Dense) return ctx.Params[0];
        if (!(s.Fixed && s.Made)) Blocks(s.DenseKernel, ctx.Params[0], toDense: true);
        s.Made = true;
        return s.DenseKernel;
    }

    /// <summary>Each filter's taps between the grouped layout [F, KH, KW, C/G] and the dense one [F, KH, KW, C] (its group's channels).</summary>
    private void Blocks(float[] dense, float[] grouped, bool toDense)
    {
        int c = Input.Channels, cg = c / Groups, fg = Filters / Groups;
        for (int f = 0; f < Filters; f++)
            for (int t = 0; t < Taps; t++)
            {
                var inDense = dense.AsSpan((f * Taps + t) * c + f / fg * cg, cg);
                var inGrouped = grouped.AsSpan((f * Taps + t) * cg, cg);
                if (toDense) inGrouped.CopyTo(inDense); else inDense.CopyTo(inGrouped);
            }
    }

    // col2im adds anyway, a GEMM that writes dX adds with beta 1, and Winograd's output transform as it stores (Convolution.Backward's addToDx)
    public override bool CanAddInputGradient(LayerContext ctx) => true;

    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs)
    {
        string[] operands = UseBias ? [inputs[0], g.Weight(this, 0), g.Weight(this, 1)] : [inputs[0], g.Weight(this, 0)];
        var z = g.Node("Conv", operands,
            OnnxAttribute.Of("kernel_shape", KernelSize.H, KernelSize.W), OnnxAttribute.Of("strides", Strides.H, Strides.W),
            OnnxAttribute.Of("dilations", Dilation.H, Dilation.W), OnnxAttribute.Of("pads", Window.Pads(Rows, Cols)),
            OnnxAttribute.Of("group", (long)Groups));
        return Activations.ToOnnx(g, Activation, z);
    }

    // The kernel is kept [F, KH, KW, C/G] (rows of the GEMM's Wᵀ match im2col's (kh, kw, c) order);
    // the weights file uses PyTorch's [F, C/G, KH, KW].
    public override void ToFileLayout(int parameter, ReadOnlySpan<float> values, Span<float> file)
    {
        if (parameter != 0) { values.CopyTo(file); return; }
        int c = Input.Channels / Groups, kh = KernelSize.H, kw = KernelSize.W;
        for (int f = 0; f < Filters; f++)
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++)
                    for (int ch = 0; ch < c; ch++)
                        file[((f * c + ch) * kh + i) * kw + j] = values[((f * kh + i) * kw + j) * c + ch];
    }

    public override void FromFileLayout(int parameter, ReadOnlySpan<float> file, Span<float> values)
    {
        if (parameter != 0) { file.CopyTo(values); return; }
        int c = Input.Channels / Groups, kh = KernelSize.H, kw = KernelSize.W;
        for (int f = 0; f < Filters; f++)
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++)
                    for (int ch = 0; ch < c; ch++)
                        values[((f * kh + i) * kw + j) * c + ch] = file[((f * c + ch) * kh + i) * kw + j];
    }
}
