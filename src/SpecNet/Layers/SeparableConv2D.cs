using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Depthwise-separable convolution (Keras SeparableConv2D): a depthwise convolution (depth_multiplier M
/// filters per input channel, no bias) into m (N, OH, OW, C·M), then a 1x1 convolution to `filters`:
/// y = act(b + m Pᵀ), P [F, C·M]. One bias of `filters`. Params: kh·kw·C·M + C·M·F + F.
/// MACs: OH·OW·(C·M·kh·kw + C·M·F). Backward: the epilogue gives dz; dP = dzᵀ m, dm = dz P, then the
/// depthwise convolution's backward from dm.
/// </summary>
public sealed class SeparableConv2D : Layer
{
    public static readonly LayerKind Definition = new("separable_conv2d", "a depthwise convolution, then a 1x1 convolution to the filters", [
        OptionInfo.Int("filters", "number of output channels", min: 1, max: 1 << 20),
        OptionInfo.Pair("kernel_size", "window size of the depthwise step"),
        OptionInfo.Pair("strides", "step between windows", 1),
        Conv2D.PaddingOption("valid: no padding; same: pad so that out = ceil(in / stride)"),
        OptionInfo.Int("depth_multiplier", "depthwise filters per input channel", 1, min: 1, max: 1 << 12),
        OptionInfo.Pair("dilation_rate", "spacing between kernel taps", 1),
        Activations.Option(),
        OptionInfo.Bool("use_bias", "add a learned bias per filter", true),
        Regularizer.KernelOption with { Doc = "penalty on both kernels (depthwise and pointwise): {l2: x}, {l1: x} or {l1_l2: {l1, l2}}" },
        Regularizer.BiasOption,
    ], r => new SeparableConv2D
    {
        Filters = r.Int("filters"), KernelSize = r.Pair("kernel_size"), Strides = r.Pair("strides"), Padding = r.Choice<Padding>("padding"),
        Multiplier = r.Int("depth_multiplier"), Dilation = r.Pair("dilation_rate"), Activation = Activations.Read(r), UseBias = r.Bool("use_bias"),
        KernelRegularizer = Regularizer.Read(r, "kernel_regularizer"), BiasRegularizer = Regularizer.Read(r, "bias_regularizer"),
    });

    public Regularizer? KernelRegularizer { get; private init; }
    public Regularizer? BiasRegularizer { get; private init; }

    public int Filters { get; private init; }
    public (int H, int W) KernelSize { get; private init; }
    public (int H, int W) Strides { get; private init; }
    public (int H, int W) Dilation { get; private init; }
    public Padding Padding { get; private init; }
    public int Multiplier { get; private init; }
    public Activation Activation { get; private init; }
    public bool UseBias { get; private init; }
    public Window Rows { get; private set; }
    public Window Cols { get; private set; }

    protected override Shape? InferShape(Shape input, ShapeCheck check)
    {
        if (!check.NeedsSpatial(input)) return null;
        if (Conv2D.Geometry(input, KernelSize, Strides, Dilation, Padding, check) is not { } g) return null;
        (Rows, Cols) = g;
        return Shape.Spatial(Rows.Output, Cols.Output, Filters);
    }

    private int Taps => KernelSize.H * KernelSize.W;
    private int Middle => Input.Channels * Multiplier;          // channels between the two steps
    private int Positions => Rows.Output * Cols.Output;

    public override IReadOnlyList<ParameterSpec> Parameters
    {
        get
        {
            ParameterSpec[] kernels =
            [
                new("depthwise_weight", [Middle, 1, KernelSize.H, KernelSize.W], true, Init.GlorotUniform, FanIn: Taps * Input.Channels, FanOut: Taps * Multiplier)
                    { Regularizer = KernelRegularizer },
                new("pointwise_weight", [Filters, Middle, 1, 1], true, Init.GlorotUniform, FanIn: Middle, FanOut: Filters) { Regularizer = KernelRegularizer },
            ];
            return UseBias ? [.. kernels, new ParameterSpec("bias", [Filters], true, Init.Zeros) { Regularizer = BiasRegularizer }] : kernels;
        }
    }

    public override long Macs => (long)Positions * Middle * (Taps + Filters);

    public override Activation OutputActivation => Activation;

    public override bool BackwardReadsOutput => !Activation.IsLinear;   // the activation's derivative, from y

    public override long StateValues(bool training) => (training ? 2L : 1L) * Positions * Middle   // m, dm
        + Epilogue.ValuesPerExample(Activation, training, Output.Size) + DepthwiseConvolution.ValuesPerExample(Input, Rows, Cols, Multiplier, training);

    private sealed class State(SeparableConv2D layer, int capacity, bool training, Backend kernels)
    {
        public readonly DepthwiseConvolution Depthwise = new(layer.Input, layer.Rows, layer.Cols, layer.Multiplier, capacity, training, kernels);
        public readonly float[] Middle = new float[capacity * layer.Positions * layer.Middle];                       // m (N·OH·OW, C·M)
        public readonly float[] DMiddle = training ? new float[capacity * layer.Positions * layer.Middle] : [];     // dm
        public readonly Epilogue Epilogue = new(layer.Activation, layer.UseBias, layer.Filters, capacity * layer.Output.Size, training, kernels.Threads);
    }

    public override object? CreateState(int capacity, bool training, Backend kernels) => new State(this, capacity, training, kernels);

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        var s = (State)ctx.State!;
        int rows = ctx.Batch * Positions;
        var m = s.Middle.AsSpan(0, rows * Middle);
        s.Depthwise.Forward(ctx.Kernels, ctx.Batch, x, ctx.Params[0], m);                         // m = depthwise(x, D)
        ctx.Kernels.Gemm(Op.N, Op.T, rows, Filters, Middle, m, ctx.Params[1], 0, y);             // z (rows, F) = m Pᵀ
        s.Epilogue.Forward(ctx, y, UseBias ? ctx.Params[2] : null);                              // y = act(z + b)
    }

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        var s = (State)ctx.State!;
        int rows = ctx.Batch * Positions;
        var dz = s.Epilogue.Backward(ctx, y, dy, UseBias ? ctx.Grads[2] : null);
        var m = s.Middle.AsSpan(0, rows * Middle);
        var dm = s.DMiddle.AsSpan(0, rows * Middle);
        if (ctx.Grads[1] is { } dP) ctx.Kernels.Gemm(Op.T, Op.N, Filters, Middle, rows, dz, m, 0, dP); // dP (F, C·M) = dzᵀ m (none when frozen)
        ctx.Kernels.Gemm(Op.N, Op.N, rows, Middle, Filters, dz, ctx.Params[1], 0, dm);           // dm = dz P
        s.Depthwise.Backward(ctx.Kernels, ctx.Batch, x, ctx.Params[0], dm, ctx.Grads[0], ctx.InputGradient ? dx : default);
    }

    /// <summary>ONNX: a Conv with one group per input channel, then a 1x1 Conv with the bias.</summary>
    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs)
    {
        var m = g.Node("Conv", [inputs[0], g.Weight(this, 0)],
            OnnxAttribute.Of("kernel_shape", KernelSize.H, KernelSize.W), OnnxAttribute.Of("strides", Strides.H, Strides.W),
            OnnxAttribute.Of("dilations", Dilation.H, Dilation.W), OnnxAttribute.Of("pads", Window.Pads(Rows, Cols)),
            OnnxAttribute.Of("group", (long)Input.Channels));
        string[] operands = UseBias ? [m, g.Weight(this, 1), g.Weight(this, 2)] : [m, g.Weight(this, 1)];
        return Activations.ToOnnx(g, Activation, g.Node("Conv", operands, OnnxAttribute.Of("kernel_shape", 1L, 1L)));
    }

    // The depthwise kernel is kept [KH, KW, C·M]; the weights file uses PyTorch's [C·M, 1, KH, KW].
    public override void ToFileLayout(int parameter, ReadOnlySpan<float> values, Span<float> file)
    {
        if (parameter != 0) { values.CopyTo(file); return; }
        for (int o = 0; o < Middle; o++)
            for (int t = 0; t < Taps; t++) file[o * Taps + t] = values[t * Middle + o];
    }

    public override void FromFileLayout(int parameter, ReadOnlySpan<float> file, Span<float> values)
    {
        if (parameter != 0) { file.CopyTo(values); return; }
        for (int o = 0; o < Middle; o++)
            for (int t = 0; t < Taps; t++) values[t * Middle + o] = file[o * Taps + t];
    }
}
