using SpecNet.Diagnostics;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Fully connected layer (Keras Dense): y[n,u] = act(b[u] + sum_k x[n,k] * W[u,k]).
/// Input and output flat. Params: K*U + U; MACs: K*U. W is stored [units, inputs] (PyTorch's layout).
/// Backward: dW = dY^T X, db = sum over the batch of dY, dX = dY W.
/// </summary>
public sealed class Dense : Layer
{
    public static readonly LayerKind Definition = new("dense", "fully connected layer", [
        new("units", "int", null, "number of outputs"),
        new("activation", "name", "linear", "activation applied to the output"),
        new("use_bias", "bool", "true", "add a learned bias per unit"),
    ], Bind);

    public int Units { get; private init; }
    public Activation Activation { get; private init; }
    public bool UseBias { get; private init; }

    private static Layer Bind(OptionReader r) => new Dense
    {
        Units = r.PositiveInt("units"),
        Activation = Activations.Read(r, "activation"),
        UseBias = r.Bool("use_bias"),
    };

    protected override Shape? InferShape(Shape input, ShapeCheck check)
    {
        if (input.IsFlat) return Shape.Flat(Units);
        check.Error(DiagnosticIds.WrongInputRank, null, $"needs a flat input, but gets {input}",
            $"add '- flatten' (gives {input.Size} features) or '- global_avg_pool2d' (gives {input.Channels}) before this layer");
        return null;
    }

    public override IReadOnlyList<ParameterSpec> Parameters
    {
        get
        {
            var kernel = new ParameterSpec("weight", [Units, Input.Channels], true, Init.GlorotUniform, FanIn: Input.Channels, FanOut: Units);
            return UseBias ? [kernel, new ParameterSpec("bias", [Units], true, Init.Zeros)] : [kernel];
        }
    }

    public override long Macs => (long)Input.Channels * Units;

    public override string Describe() => $"units={Units} activation={Activation.Name} bias={UseBias}";
}
