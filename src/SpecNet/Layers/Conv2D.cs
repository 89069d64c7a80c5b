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
}
