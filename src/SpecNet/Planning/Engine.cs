using SpecNet.Checking;
using SpecNet.Kernels;

namespace SpecNet.Planning;

/// <summary>How a plan is made: for training (gradients, backward scratch) or inference only.</summary>
/// <param name="FixedParameters">Inference over parameters that do not change once its first pass has read them (eval and predict
/// load a weights file once): what layers derive from them, a packed kernel or a batch norm's map, is made at that pass only,
/// as ONNX Runtime prepares a session's weights once. Later writes to the parameters are not seen by this plan. A plan for one
/// image on several threads runs its first passes when it is made (<see cref="SingleImage"/> times it against one thread), so
/// the parameters must hold their values by then.</param>
public sealed record PlanOptions(bool Training = true, int Seed = 0, bool InputGradient = false, bool FixedParameters = false)
{
    /// <summary>Inference over parameters that may change between passes (a caller that trains or loads weights between them): each pass checks them.</summary>
    public static readonly PlanOptions Inference = new(Training: false);

    /// <summary>Inference over parameters read once (<see cref="FixedParameters"/>): eval, predict, bench.</summary>
    public static readonly PlanOptions Serving = new(Training: false, FixedParameters: true);
}

/// <summary>
/// What runs models: it turns a checked model and its parameters into plans. Trainer, Evaluator and
/// Benchmark only see this, so another engine (libtorch on a GPU, say) can stand in for the CPU one.
/// </summary>
public interface IEngine
{
    /// <summary>What users pass to --backend: managed, mkl, ...</summary>
    string Name { get; }
    /// <summary>What it runs on: "AVX-512 (Vector512)", "Intel MKL via libmkl_rt, ...".</summary>
    string Device { get; }
    int Threads { get; }
    /// <summary>The threads that element-wise passes outside the layers share (the optimizer's step); null: the caller alone.</summary>
    Backend? Kernels { get; }

    IPlan Plan(ModelSpec model, ParameterSet parameters, int capacity, PlanOptions options);
}

/// <summary>A model made runnable for up to <see cref="Capacity"/> examples at a time.</summary>
public interface IPlan
{
    ModelSpec Model { get; }
    ParameterSet Parameters { get; }
    int Capacity { get; }
    /// <summary>Examples in the last forward pass.</summary>
    int Batch { get; }
    /// <summary>Whether <see cref="Backward"/> can run (inference plans hold no gradients).</summary>
    bool Trainable { get; }
    /// <summary>The generator dropout draws its masks from (its state is part of a checkpoint).</summary>
    Rng Dropout { get; }
    /// <summary>When set, milliseconds per layer are added up here (for `specnet bench`).</summary>
    LayerTimes? Profile { get; set; }

    /// <summary>
    /// The input buffer to fill: (Capacity, H, W, C). Fill it before every <see cref="Forward"/>: at inference its memory may be
    /// reused for later activations once the layers that read it have run (training keeps it for backward).
    /// </summary>
    Span<float> Input { get; }
    /// <summary>Output of the last forward pass: (Batch, classes).</summary>
    ReadOnlySpan<float> Output { get; }
    /// <summary>The buffer the loss writes dL/d(output) into before <see cref="Backward"/>.</summary>
    Span<float> OutputGradient { get; }
    /// <summary>dL/d(input) of the last backward pass, when the plan was made with InputGradient.</summary>
    ReadOnlySpan<float> InputGradient { get; }

    /// <summary>Runs the first <paramref name="batch"/> examples of <see cref="Input"/> through every layer.</summary>
    ReadOnlySpan<float> Forward(int batch, bool training);

    /// <summary>
    /// Backpropagates <see cref="OutputGradient"/> through every layer, writing each parameter's gradient.
    /// <paramref name="fusedLoss"/>: the gradient is already taken before the final activation (softmax + cross-entropy).
    /// </summary>
    void Backward(bool fusedLoss);
}

/// <summary>Milliseconds spent in each layer's forward and backward, summed over passes.</summary>
public sealed class LayerTimes(int layers)
{
    public double[] Forward { get; } = new double[layers];
    public double[] Backward { get; } = new double[layers];
}
