using System.Runtime.CompilerServices;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>The activation functions, by their Keras names. Applied elementwise, except softmax (over channels).</summary>
public enum ActivationFunction { Linear, Relu, LeakyRelu, Elu, Gelu, Sigmoid, Tanh, Softmax, Silu, Relu6, HardSigmoid, HardSwish }

/// <summary>An activation with its one parameter (alpha of leaky_relu and elu).</summary>
public readonly record struct Activation(ActivationFunction Function, float Alpha = 0)
{
    public string Name => Activations.NameOf(Function);
    public bool IsLinear => Function == ActivationFunction.Linear;
    public override string ToString() => Name;
}

public static class Activations
{
    /// <summary>
    /// Keras's names. relu6, hard_sigmoid and hard_swish are MobileNet's (PyTorch's ReLU6, Hardsigmoid, Hardswish; Keras 3's
    /// hard_sigmoid relu6(x + 3) / 6, not Keras 2's 0.2x + 0.5).
    /// </summary>
    public static readonly IReadOnlyList<string> Known = ["linear", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softmax", "silu",
        "relu6", "hard_sigmoid", "hard_swish"];

    /// <summary>Keras's defaults when an activation is named in a conv2d or dense layer.</summary>
    public const float LeakyReluAlpha = 0.3f, EluAlpha = 1.0f;

    public static string NameOf(ActivationFunction f) => Known[(int)f];

    public static Activation FromName(string name)
    {
        var f = (ActivationFunction)Known.ToList().IndexOf(name);
        return new Activation(f, f == ActivationFunction.LeakyRelu ? LeakyReluAlpha : f == ActivationFunction.Elu ? EluAlpha : 0);
    }

    /// <summary>The `activation` option of conv2d, dense and the other layers that end in one.</summary>
    public static OptionInfo Option(string? @default = "linear", string doc = "activation applied to the output") =>
        OptionInfo.Choice("activation", doc, Known, @default);

    public static Activation Read(OptionReader r) => FromName(r.Choice("activation"));

    /// <summary>The activation as ONNX nodes; channels are axis 1 in NCHW and in [batch, features] alike.</summary>
    public static string ToOnnx(IOnnxGraph g, Activation a, string x) => a.Function switch
    {
        ActivationFunction.Linear => x,
        ActivationFunction.Relu => g.Node("Relu", [x]),
        ActivationFunction.LeakyRelu => g.Node("LeakyRelu", [x], OnnxAttribute.Of("alpha", a.Alpha)),
        ActivationFunction.Elu => g.Node("Elu", [x], OnnxAttribute.Of("alpha", a.Alpha)),
        ActivationFunction.Sigmoid => g.Node("Sigmoid", [x]),
        ActivationFunction.Tanh => g.Node("Tanh", [x]),
        ActivationFunction.Softmax => g.Node("Softmax", [x], OnnxAttribute.Of("axis", 1L)),
        ActivationFunction.Silu => g.Node("Mul", [x, g.Node("Sigmoid", [x])]),
        ActivationFunction.Relu6 => g.Node("Clip", [x, g.Scalar(0), g.Scalar(6)]),
        ActivationFunction.HardSigmoid => g.Node("HardSigmoid", [x], OnnxAttribute.Of("alpha", 1f / 6), OnnxAttribute.Of("beta", 0.5f)),
        ActivationFunction.HardSwish => g.Node("HardSwish", [x]),
        // gelu(x) = 0.5 x (1 + erf(x / sqrt 2)); opset 17 has Erf but not Gelu
        ActivationFunction.Gelu => g.Node("Mul", [g.Node("Mul", [x, g.Node("Add", [g.Node("Erf", [g.Node("Div", [x, g.Scalar(MathF.Sqrt(2))])]), g.Scalar(1)])]), g.Scalar(0.5f)]),
        _ => throw new InvalidOperationException($"activation {a.Name} has no ONNX mapping"),
    };

    /// <summary>gelu, silu and hard_swish need their input to differentiate; the others are differentiated from their output.</summary>
    public static bool NeedsInput(Activation a) => a.Function is ActivationFunction.Gelu or ActivationFunction.Silu or ActivationFunction.HardSwish;

    /// <summary>y = f(z), in place allowed (z and y the same memory). Softmax is over groups of <paramref name="channels"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward(Activation a, ReadOnlySpan<float> z, Span<float> y, int channels, Kernels.Backend? kernels = null)
    {
        switch (a.Function)
        {
            case ActivationFunction.Linear: CopyUnlessSame(z, y); break;
            case ActivationFunction.Relu when kernels is not null: Kernels.Elementwise.Map(kernels, Kernels.Elementwise.MapOp.Relu, z, default, y); break;
            case ActivationFunction.Relu: CopyUnlessSame(z, y); Kernels.Elementwise.Relu(y); break;
            case ActivationFunction.LeakyRelu: for (int i = 0; i < y.Length; i++) y[i] = z[i] > 0 ? z[i] : a.Alpha * z[i]; break;
            case ActivationFunction.Elu: for (int i = 0; i < y.Length; i++) y[i] = z[i] > 0 ? z[i] : a.Alpha * (MathF.Exp(z[i]) - 1); break;
            case ActivationFunction.Gelu: for (int i = 0; i < y.Length; i++) y[i] = z[i] * Phi(z[i]); break;
            case ActivationFunction.Sigmoid: for (int i = 0; i < y.Length; i++) y[i] = Sigmoid(z[i]); break;
            case ActivationFunction.Tanh: for (int i = 0; i < y.Length; i++) y[i] = MathF.Tanh(z[i]); break;
            case ActivationFunction.Silu: for (int i = 0; i < y.Length; i++) y[i] = z[i] * Sigmoid(z[i]); break;
            case ActivationFunction.Relu6: for (int i = 0; i < y.Length; i++) y[i] = Math.Min(Math.Max(z[i], 0f), 6f); break;
            case ActivationFunction.HardSigmoid: for (int i = 0; i < y.Length; i++) y[i] = HardSigmoid(z[i]); break;
            case ActivationFunction.HardSwish: for (int i = 0; i < y.Length; i++) y[i] = z[i] * HardSigmoid(z[i]); break;
            case ActivationFunction.Softmax:
                for (int r = 0; r < y.Length; r += channels) Softmax(z.Slice(r, channels), y.Slice(r, channels));
                break;
        }
    }

    /// <summary>dz = dy * f'(z), from y where that suffices (z may be empty then). In place allowed (dz and dy the same).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Backward(Activation a, ReadOnlySpan<float> z, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dz, int channels, Kernels.Backend? kernels = null)
    {
        switch (a.Function)
        {
            case ActivationFunction.Linear: CopyUnlessSame(dy, dz); break;
            case ActivationFunction.Relu when kernels is not null: Kernels.Elementwise.Map(kernels, Kernels.Elementwise.MapOp.ReluBackward, y, dy, dz); break;
            case ActivationFunction.Relu: Kernels.Elementwise.ReluBackward(y, dy, dz); break;
            case ActivationFunction.LeakyRelu: for (int i = 0; i < dz.Length; i++) dz[i] = y[i] > 0 ? dy[i] : a.Alpha * dy[i]; break;
            case ActivationFunction.Elu: for (int i = 0; i < dz.Length; i++) dz[i] = y[i] > 0 ? dy[i] : dy[i] * (y[i] + a.Alpha); break;
            case ActivationFunction.Gelu:
                for (int i = 0; i < dz.Length; i++) dz[i] = dy[i] * (Phi(z[i]) + z[i] * MathF.Exp(-0.5f * z[i] * z[i]) * InvSqrt2Pi);
                break;
            case ActivationFunction.Sigmoid: for (int i = 0; i < dz.Length; i++) dz[i] = dy[i] * y[i] * (1 - y[i]); break;
            case ActivationFunction.Tanh: for (int i = 0; i < dz.Length; i++) dz[i] = dy[i] * (1 - y[i] * y[i]); break;
            case ActivationFunction.Silu:
                for (int i = 0; i < dz.Length; i++) { var s = Sigmoid(z[i]); dz[i] = dy[i] * (s + z[i] * s * (1 - s)); }
                break;
            // the flat parts' ends have no slope, as PyTorch's (hardtanh's backward: min < x < max)
            case ActivationFunction.Relu6: for (int i = 0; i < dz.Length; i++) dz[i] = y[i] > 0 && y[i] < 6 ? dy[i] : 0; break;
            case ActivationFunction.HardSigmoid: for (int i = 0; i < dz.Length; i++) dz[i] = y[i] > 0 && y[i] < 1 ? dy[i] * (1f / 6) : 0; break;
            case ActivationFunction.HardSwish:
                // x < -3: 0; -3 <= x <= 3: (2x + 3) / 6; x > 3: 1 (PyTorch's hardswish_backward)
                for (int i = 0; i < dz.Length; i++) dz[i] = z[i] < -3 ? 0 : z[i] <= 3 ? dy[i] * (z[i] * (1f / 3) + 0.5f) : dy[i];
                break;
            case ActivationFunction.Softmax:
                // dz_i = y_i * (dy_i - sum_j dy_j y_j)
                for (int r = 0; r < dz.Length; r += channels)
                {
                    float dot = 0;
                    for (int j = 0; j < channels; j++) dot += dy[r + j] * y[r + j];
                    for (int j = 0; j < channels; j++) dz[r + j] = y[r + j] * (dy[r + j] - dot);
                }
                break;
        }
    }

    /// <summary>Numerically stable softmax of one row.</summary>
    public static void Softmax(ReadOnlySpan<float> z, Span<float> y)
    {
        float max = float.NegativeInfinity;
        foreach (var v in z) max = Math.Max(max, v);
        float sum = 0;
        for (int j = 0; j < z.Length; j++) { y[j] = MathF.Exp(z[j] - max); sum += y[j]; }
        float inv = 1 / sum;
        for (int j = 0; j < y.Length; j++) y[j] *= inv;
    }

    private const float InvSqrt2Pi = 0.3989422804014327f;

    /// <summary>relu6(x + 3) / 6.</summary>
    private static float HardSigmoid(float x) => Math.Min(Math.Max(x * (1f / 6) + 0.5f, 0f), 1f);

    private static float Sigmoid(float x) => x >= 0 ? 1 / (1 + MathF.Exp(-x)) : MathF.Exp(x) / (1 + MathF.Exp(x));

    /// <summary>The standard normal CDF, via erf.</summary>
    private static float Phi(float x) => 0.5f * (1 + Erf(x * 0.70710678118654752f));

    /// <summary>erf with |error| under 1.2e-7 (Numerical Recipes' erfc Chebyshev fit), in double for accuracy.</summary>
    private static float Erf(float xf)
    {
        double x = xf, t = 1 / (1 + 0.5 * Math.Abs(x));
        double y = t * Math.Exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
                   t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return (float)(x >= 0 ? 1 - y : y - 1);
    }

    /// <summary>to = from, unless they are one buffer (a pass in place, or a backward writing dx over dy): then nothing to copy.</summary>
    internal static void CopyUnlessSame(ReadOnlySpan<float> from, Span<float> to)
    {
        if (!Same(from, to)) from.CopyTo(to);
    }

    private static bool Same(ReadOnlySpan<float> a, ReadOnlySpan<float> b) =>
        System.Runtime.CompilerServices.Unsafe.AreSame(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(a), ref System.Runtime.InteropServices.MemoryMarshal.GetReference(b));
}
