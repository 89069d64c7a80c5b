using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// A standalone activation (Keras Activation, ReLU, LeakyReLU, ELU, Softmax...): y = f(x), shape unchanged.
/// relu max(0,x); leaky_relu x or alpha*x; elu x or alpha*(e^x - 1); gelu x*Phi(x); sigmoid 1/(1+e^-x);
/// tanh; softmax over the channel axis; silu x*sigmoid(x); relu6 min(max(0,x),6); hard_sigmoid relu6(x+3)/6;
/// hard_swish x*hard_sigmoid(x). Derivatives in <see cref="Activations"/>.
/// </summary>
public sealed class ActivationLayer : Layer
{
    private static LayerKind Fixed(string name, string summary) =>
        new(name, summary, [], _ => new ActivationLayer { Activation = Activations.FromName(name) });

    // The default as written (0.3, not the float's 0.300000012): float to decimal keeps 7 significant digits.
    private static LayerKind WithAlpha(string name, string summary, float alpha) =>
        new(name, summary, [OptionInfo.Number("alpha", "slope or scale of the negative part", (double)(decimal)alpha, 0, MaxAlpha)],
            r => new ActivationLayer { Activation = Activations.FromName(name) with { Alpha = r.Number("alpha") } });

    private const double MaxAlpha = 1e6;

    public static readonly IReadOnlyList<LayerKind> Definitions =
    [
        new("activation", "applies the named activation", [Activations.Option(null, "the activation function")],
            r => new ActivationLayer { Activation = Activations.Read(r) }),
        Fixed("relu", "max(0, x)"),
        WithAlpha("leaky_relu", "x for x > 0, alpha * x otherwise", Activations.LeakyReluAlpha),
        WithAlpha("elu", "x for x > 0, alpha * (exp(x) - 1) otherwise", Activations.EluAlpha),
        Fixed("gelu", "x * Phi(x), the Gaussian error linear unit"),
        Fixed("sigmoid", "1 / (1 + exp(-x))"),
        Fixed("tanh", "hyperbolic tangent"),
        Fixed("softmax", "exp(x) / sum(exp(x)) over the channel axis"),
        Fixed("silu", "x * sigmoid(x), also called swish"),
        Fixed("relu6", "min(max(0, x), 6), MobileNet's"),
        Fixed("hard_sigmoid", "relu6(x + 3) / 6, a piecewise-linear sigmoid"),
        Fixed("hard_swish", "x * hard_sigmoid(x), MobileNetV3's"),
    ];

    public Activation Activation { get; private init; }

    /// <summary>The activation a residual block applies to its sum.</summary>
    internal static ActivationLayer Of(Activation activation) => new() { Activation = activation };

    public override Activation OutputActivation => Activation;

    // gelu, silu and hard_swish differentiate from their input, the others from their output
    public override bool BackwardReadsInputs => Activations.NeedsInput(Activation);
    public override bool BackwardReadsOutput => !Activation.IsLinear && !Activations.NeedsInput(Activation);
    public override bool BackwardInPlace => true;   // element by element (softmax: a row's sum first)
    public override bool ForwardInPlace => true;

    /// <summary>Every activation kind is identified by the function and its alpha (relu: alpha 0), whichever kind name was written.</summary>
    public override IReadOnlyList<IdentityItem> Identity => [new("activation", "activation", Activation), new("alpha", "alpha", Activation.Alpha)];

    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) => Activations.ToOnnx(g, Activation, inputs[0]);

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y) =>
        Activations.Forward(Activation, x[..y.Length], y, Input.Channels, ctx.Kernels);

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        if (!ctx.InputGradient) return;
        if (ctx.PreActivationGradient) Elementwise.CopyUnlessSame(ctx.Kernels, dy, dx);
        else Activations.Backward(Activation, x, y, dy, dx, Input.Channels, ctx.Kernels);
    }
}
