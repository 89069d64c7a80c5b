using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>The activation functions, by their Keras names. Applied elementwise, except softmax (over channels).</summary>
public enum ActivationFunction { Linear, Relu, LeakyRelu, Elu, Gelu, Sigmoid, Tanh, Softmax, Silu }

/// <summary>An activation with its one parameter (alpha of leaky_relu and elu).</summary>
public readonly record struct Activation(ActivationFunction Function, float Alpha = 0)
{
    public string Name => Activations.NameOf(Function);
    public bool IsLinear => Function == ActivationFunction.Linear;
    public override string ToString() => Name;
}

public static class Activations
{
    public static readonly IReadOnlyList<string> Known = ["linear", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softmax", "silu"];

    /// <summary>Keras's defaults when an activation is named in a conv2d or dense layer.</summary>
    public const float LeakyReluAlpha = 0.3f, EluAlpha = 1.0f;

    public static string NameOf(ActivationFunction f) => Known[(int)f];

    public static Activation FromName(string name)
    {
        var f = (ActivationFunction)Known.ToList().IndexOf(name);
        return new Activation(f, f == ActivationFunction.LeakyRelu ? LeakyReluAlpha : f == ActivationFunction.Elu ? EluAlpha : 0);
    }

    public static Activation Read(OptionReader r, string key) =>
        FromName(r.Choice(key, Known, "activation"));
}
