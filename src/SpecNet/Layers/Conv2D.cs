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
    private sealed class State(int capacity, bool training, Conv2D layer)
    {
        public readonly float[] Cols = new float[capacity * layer.Output.Height * layer.Output.Width * layer.PatchSize]; // (N*OH*OW, K)
        public readonly float[] Z = Activations.NeedsInput(layer.Activation) ? new float[capacity * layer.Output.Size] : [];  // pre-activation
        public readonly float[] DZ = layer.Activation.IsLinear || !training ? [] : new float[capacity * layer.Output.Size];
    }

    /// <summary>K of the GEMM: one window's values.</summary>
    private int PatchSize => KernelSize.H * KernelSize.W * Input.Channels;

    public override object? CreateState(int capacity, bool training) => new State(capacity, training, this);

    public override long ScratchValues => (long)Output.Height * Output.Width * PatchSize;

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        var s = (State)ctx.State!;
        int rows = ctx.Batch * Output.Height * Output.Width;
        var cols = s.Cols.AsSpan(0, rows * PatchSize);
        Im2Col.Forward(ctx.Kernels, x, ctx.Batch, Input, Rows, Cols, cols);
        ctx.Kernels.Gemm(Op.N, Op.T, rows, Filters, PatchSize, cols, ctx.Params[0], 0, y);   // (rows, F)
        if (Activation.Function == ActivationFunction.Relu)
        {
            Elementwise.AddBiasRelu(ctx.Kernels, y, UseBias ? ctx.Params[1] : default, Filters);
            return;
        }
        if (UseBias) Elementwise.AddBias(y, ctx.Params[1]);
        if (s.Z.Length > 0) y.CopyTo(s.Z);
        Activations.Forward(Activation, y, y, Filters);
    }

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        var s = (State)ctx.State!;
        int rows = ctx.Batch * Output.Height * Output.Width;
        ReadOnlySpan<float> dz = dy;
        if (!Activation.IsLinear && !ctx.FusedLossGradient)
        {
            if (Activation.Function == ActivationFunction.Relu) Elementwise.ReluBackward(ctx.Kernels, y, dy, s.DZ.AsSpan(0, y.Length));
            else Activations.Backward(Activation, s.Z.AsSpan(0, Math.Min(s.Z.Length, y.Length)), y, dy, s.DZ.AsSpan(0, y.Length), Filters);
            dz = s.DZ.AsSpan(0, y.Length);
        }
        var cols = s.Cols.AsSpan(0, rows * PatchSize);
        ctx.Kernels.Gemm(Op.T, Op.N, Filters, PatchSize, rows, dz, cols, 0, ctx.Grads[0]);     // dW (F, K) = dZᵀ cols
        if (UseBias) Elementwise.SumRows(dz, ctx.Grads[1]);
        if (!ctx.InputGradient) return;
        ctx.Kernels.Gemm(Op.N, Op.N, rows, PatchSize, Filters, dz, ctx.Params[0], 0, cols);      // dcols = dZ W, reusing cols
        Im2Col.Backward(ctx.Kernels, cols, ctx.Batch, Input, Rows, Cols, dx);
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
