using SpecNet.Diagnostics;
using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Depthwise convolution (Keras DepthwiseConv2D), NHWC: each input channel c is convolved with its own
/// depth_multiplier (M) filters, y[n,i,j,c·M+m] = act(b[c·M+m] + Σ over (di,dj) of x[n, i·s - pad + di·d, j·s - pad + dj·d, c] · W[c·M+m, di, dj]).
/// Output C·M channels, size per axis as <see cref="Window"/> says. Params: kh·kw·C·M + C·M. MACs: OH·OW·C·M·kh·kw.
/// Computed directly over channel vectors (<see cref="DepthwiseConvolution"/>), then the epilogue.
/// Backward: dW[tap, o] = Σ x · dz, dx[cell, c] = Σ dz · W over the windows and filters that read it.
/// </summary>
public sealed class DepthwiseConv2D : Layer, IFoldsBatchNorm, ITakesRelu
{
    public static readonly LayerKind Definition = new("depthwise_conv2d", "convolves each channel with its own filters", [
        OptionInfo.Pair("kernel_size", "window size"),
        OptionInfo.Pair("strides", "step between windows", 1),
        Conv2D.PaddingOption("valid: no padding; same: pad so that out = ceil(in / stride)"),
        OptionInfo.Int("depth_multiplier", "filters per input channel", 1, min: 1, max: 1 << 12),
        OptionInfo.Pair("dilation_rate", "spacing between kernel taps", 1),
        Activations.Option(),
        OptionInfo.Bool("use_bias", "add a learned bias per output channel", true),
        Regularizer.KernelOption,
        Regularizer.BiasOption,
    ], r => new DepthwiseConv2D
    {
        KernelSize = r.Pair("kernel_size"), Strides = r.Pair("strides"), Padding = r.Choice<Padding>("padding"),
        Multiplier = r.Int("depth_multiplier"), Dilation = r.Pair("dilation_rate"), Activation = Activations.Read(r), UseBias = r.Bool("use_bias"),
        KernelRegularizer = Regularizer.Read(r, "kernel_regularizer"), BiasRegularizer = Regularizer.Read(r, "bias_regularizer"),
    });

    public Regularizer? KernelRegularizer { get; private init; }
    public Regularizer? BiasRegularizer { get; private init; }

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
        var geometry = Conv2D.Geometry(input, KernelSize, Strides, Dilation, Padding, check);
        if (geometry is not { } g) return null;
        (Rows, Cols) = g;
        return Shape.Spatial(Rows.Output, Cols.Output, input.Channels * Multiplier);
    }

    private int Taps => KernelSize.H * KernelSize.W;

    public override IReadOnlyList<ParameterSpec> Parameters
    {
        get
        {
            var kernel = new ParameterSpec("weight", [Output.Channels, 1, KernelSize.H, KernelSize.W], true, Init.GlorotUniform,
                FanIn: Taps * Input.Channels, FanOut: Taps * Multiplier) { Regularizer = KernelRegularizer }; // Keras's fans of a (kh, kw, C, M) kernel
            return UseBias ? [kernel, new ParameterSpec("bias", [Output.Channels], true, Init.Zeros) { Regularizer = BiasRegularizer }] : [kernel];
        }
    }

    public override long Macs => (long)Output.Size * Taps;

    public override Activation OutputActivation => Activation;

    public override bool BackwardReadsOutput => !Activation.IsLinear;   // the activation's derivative, from y

    private sealed class State(DepthwiseConv2D layer, int capacity, bool training, Backend kernels)
    {
        public readonly DepthwiseConvolution Convolution = new(layer.Input, layer.Rows, layer.Cols, layer.Multiplier, capacity, training, kernels);
        public readonly Epilogue Epilogue = new(layer.Activation, layer.UseBias, layer.Output.Channels, capacity * layer.Output.Size, training, kernels.Threads);
        public readonly AffineRows Folded = new();
    }

    public override object? CreateState(int capacity, bool training, Backend kernels) => new State(this, capacity, training, kernels);
    public override long StateValues(bool training) =>
        Epilogue.ValuesPerExample(Activation, training, Output.Size) + DepthwiseConvolution.ValuesPerExample(Input, Rows, Cols, Multiplier, training);

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        var s = (State)ctx.State!;
        var bias = UseBias ? ctx.Params[1] : null;
        // y = act(depthwise(x, W) + b), the bias and the activation on each image, in cache
        s.Convolution.Forward(ctx.Kernels, ctx.Batch, x, ctx.Params[0], y, s.Epilogue.ForRows(bias));
    }

    public bool CanFold => Activation.IsLinear;

    public bool CanTakeRelu => Activation.IsLinear;
    public void TakeRelu(LayerContext ctx) => ((State)ctx.State!).Epilogue.TakeRelu();

    public void ForwardFolded(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y, float[] a, float[] b, bool relu, float[]? residual = null, RowsMap? then = null)
    {
        var s = (State)ctx.State!;
        (s.Folded.Bias, s.Folded.A, s.Folded.B, s.Folded.Relu, s.Folded.Residual, s.Folded.Then) = (UseBias ? ctx.Params[1] : null, a, b, relu, residual, then);
        s.Convolution.Forward(ctx.Kernels, ctx.Batch, x, ctx.Params[0], y, s.Folded);   // each image: (z + bias)·a + b, relu
    }

    public IRowsSource AsSource(LayerContext ctx, IRowsSource? upstream, float[]? a, float[]? b, bool relu)
    {
        var s = (State)ctx.State!;
        var epilogue = s.Epilogue.ForSource(s.Folded, UseBias ? ctx.Params[1] : null, a, b, relu);
        return s.Convolution.AsSource(ctx.InputBuffers[0], upstream, ctx.Params[0], epilogue, ctx.Kernels.Threads);
    }

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        var s = (State)ctx.State!;
        var dz = s.Epilogue.Backward(ctx, y, dy, UseBias ? ctx.Grads[1] : null);
        s.Convolution.Backward(ctx.Kernels, ctx.Batch, x, ctx.Params[0], dz, ctx.Grads[0], ctx.InputGradient ? dx : default);
    }

    /// <summary>ONNX: a Conv with one group per input channel.</summary>
    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs)
    {
        string[] operands = UseBias ? [inputs[0], g.Weight(this, 0), g.Weight(this, 1)] : [inputs[0], g.Weight(this, 0)];
        return Activations.ToOnnx(g, Activation, g.Node("Conv", operands,
            OnnxAttribute.Of("kernel_shape", KernelSize.H, KernelSize.W), OnnxAttribute.Of("strides", Strides.H, Strides.W),
            OnnxAttribute.Of("dilations", Dilation.H, Dilation.W), OnnxAttribute.Of("pads", Window.Pads(Rows, Cols)),
            OnnxAttribute.Of("group", (long)Input.Channels)));
    }

    // The kernel is kept [KH, KW, C·M] (a tap's weights for every channel side by side);
    // the weights file uses PyTorch's [C·M, 1, KH, KW].
    public override void ToFileLayout(int parameter, ReadOnlySpan<float> values, Span<float> file)
    {
        if (parameter != 0) { values.CopyTo(file); return; }
        int co = Output.Channels;
        for (int o = 0; o < co; o++)
            for (int t = 0; t < Taps; t++) file[o * Taps + t] = values[t * co + o];
    }

    public override void FromFileLayout(int parameter, ReadOnlySpan<float> file, Span<float> values)
    {
        if (parameter != 0) { file.CopyTo(values); return; }
        int co = Output.Channels;
        for (int o = 0; o < co; o++)
            for (int t = 0; t < Taps; t++) values[t * co + o] = file[o * Taps + t];
    }
}
