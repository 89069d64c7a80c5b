using SpecNet.Kernels;
using SpecNet.Diagnostics;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Fully connected layer (Keras Dense): y[n,u] = act(b[u] + sum_k x[n,k] * W[u,k]).
/// Input and output flat. Params: K*U + U; MACs: K*U. W is stored [units, inputs] (PyTorch's layout).
/// Backward: dW = dY^T X, db = sum over the batch of dY, dX = dY W.
/// </summary>
public sealed class Dense : Layer, ITakesRelu
{
    public static readonly LayerKind Definition = new("dense", "fully connected layer", [
        OptionInfo.Int("units", "number of outputs", min: 1, max: 1 << 20),
        Activations.Option(),
        OptionInfo.Bool("use_bias", "add a learned bias per unit", true) with { HashKey = "bias" },
        Regularizer.KernelOption,
        Regularizer.BiasOption,
    ], Bind);

    public int Units { get; private init; }
    public Activation Activation { get; private init; }
    public bool UseBias { get; private init; }

    private static Layer Bind(OptionReader r) => new Dense
    {
        Units = r.Int("units"),
        Activation = Activations.Read(r),
        UseBias = r.Bool("use_bias"),
        KernelRegularizer = Regularizer.Read(r, "kernel_regularizer"),
        BiasRegularizer = Regularizer.Read(r, "bias_regularizer"),
    };

    public Regularizer? KernelRegularizer { get; private init; }
    public Regularizer? BiasRegularizer { get; private init; }

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
            var kernel = new ParameterSpec("weight", [Units, Input.Channels], true, Init.GlorotUniform, FanIn: Input.Channels, FanOut: Units)
                { Regularizer = KernelRegularizer };
            return UseBias ? [kernel, new ParameterSpec("bias", [Units], true, Init.Zeros) { Regularizer = BiasRegularizer }] : [kernel];
        }
    }

    public override long Macs => (long)Input.Channels * Units;

    public override Activation OutputActivation => Activation;

    public override bool BackwardReadsOutput => !Activation.IsLinear;   // the activation's derivative, from y

    public bool CanTakeRelu => Activation.IsLinear;
    public void TakeRelu(LayerContext ctx) => ((Epilogue)ctx.State!).TakeRelu();

    public override long StateValues(bool training) => Epilogue.ValuesPerExample(Activation, training, Units);
    public override object? CreateState(int capacity, bool training, Backend kernels) =>
        new Epilogue(Activation, UseBias, Units, capacity * Units, training, kernels.Threads);

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        ctx.Kernels.Gemm(Op.N, Op.T, ctx.Batch, Units, Input.Channels, x, ctx.Params[0], 0, y);   // (N, U) = X Wᵀ
        ((Epilogue)ctx.State!).Forward(ctx, y, UseBias ? ctx.Params[1] : null);
    }

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        var dz = ((Epilogue)ctx.State!).Backward(ctx, y, dy, UseBias ? ctx.Grads[1] : null);
        if (ctx.Grads[0] is { } dW) ctx.Kernels.Gemm(Op.T, Op.N, Units, Input.Channels, ctx.Batch, dz, x, 0, dW); // dW (U, K) = dZᵀ X (none when frozen)
        if (ctx.InputGradient)
            ctx.Kernels.Gemm(Op.N, Op.N, ctx.Batch, Input.Channels, Units, dz, ctx.Params[0], 0, dx); // dX (N, K) = dZ W
    }

    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs)
    {
        string[] operands = UseBias ? [inputs[0], g.Weight(this, 0), g.Weight(this, 1)] : [inputs[0], g.Weight(this, 0)];
        return Activations.ToOnnx(g, Activation, g.Node("Gemm", operands, OnnxAttribute.Of("transB", 1L)));
    }
}
