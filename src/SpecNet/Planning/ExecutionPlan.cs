using SpecNet.Diagnostics;
using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Layers;

namespace SpecNet.Planning;

/// <summary>
/// A model made runnable for up to <see cref="Capacity"/> examples at a time: every activation and
/// gradient buffer, and every layer's scratch, allocated once here. Forward and backward walk the layer
/// list; a pass over fewer examples (the last, partial batch) uses the front of the same buffers.
/// </summary>
public sealed class ExecutionPlan
{
    private readonly float[][] _activations;  // [0]: input (N, input); [i + 1]: output of layer i (N, Output_i)
    private readonly float[][] _gradients;    // dL/d of the same tensors; [0] unused
    private readonly LayerContext[] _contexts;

    /// <param name="inputGradient">Also compute dL/d(input) (gradient checks, saliency); training does not need it.</param>
    /// <param name="trainable">False for inference only: no gradient buffers, no backward scratch.</param>
    public ExecutionPlan(ModelSpec model, ParameterSet parameters, Backend kernels, int capacity, int seed = 0, bool inputGradient = false, bool trainable = true)
    {
        Model = model;
        Trainable = trainable;
        Parameters = parameters;
        Kernels = kernels;
        Capacity = capacity;
        var layers = model.Layers;
        CheckMemory(model, capacity);
        _activations = new float[layers.Count + 1][];
        _gradients = new float[layers.Count + 1][];
        _activations[0] = new float[capacity * model.Input.Size];
        _gradients[0] = inputGradient ? new float[capacity * model.Input.Size] : [];
        var dropout = Dropout = Rng.For(seed, "dropout");
        _contexts = new LayerContext[layers.Count];
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            _activations[i + 1] = new float[capacity * layer.Output.Size];
            _gradients[i + 1] = trainable ? new float[capacity * layer.Output.Size] : [];
            var slots = parameters.Of(layer);
            _contexts[i] = new LayerContext
            {
                Kernels = kernels,
                Params = slots.Select(s => s.Value).ToArray(),
                Grads = slots.Select(s => s.Grad).ToArray(),
                Random = dropout,
                State = layer.CreateState(capacity, trainable),
                InputGradient = i > 0 || inputGradient,
            };
        }
    }

    public ModelSpec Model { get; }
    public ParameterSet Parameters { get; }
    public Backend Kernels { get; }
    public int Capacity { get; }
    /// <summary>The generator dropout draws its masks from (its state is part of a checkpoint).</summary>
    public Rng Dropout { get; }

    /// <summary>Whether <see cref="Backward"/> can run (inference plans hold no gradients).</summary>
    public bool Trainable { get; }
    public int Batch { get; private set; }

    /// <summary>When set, milliseconds per layer are added up here (for `specnet bench`).</summary>
    public LayerTimes? Profile { get; set; }

    /// <summary>The input buffer to fill: (Capacity, H, W, C).</summary>
    public Span<float> Input => _activations[0];

    /// <summary>Output of the last forward pass: (Batch, classes).</summary>
    public ReadOnlySpan<float> Output => _activations[^1].AsSpan(0, Batch * Model.Output.Size);

    /// <summary>The buffer the loss writes dL/d(output) into before <see cref="Backward"/>.</summary>
    public Span<float> OutputGradient => _gradients[^1].AsSpan(0, Batch * Model.Output.Size);

    /// <summary>Runs the first <paramref name="batch"/> examples of <see cref="Input"/> through every layer.</summary>
    public ReadOnlySpan<float> Forward(int batch, bool training)
    {
        if (batch < 1 || batch > Capacity) throw new ArgumentOutOfRangeException(nameof(batch), $"1..{Capacity}");
        Batch = batch;
        var layers = Model.Layers;
        for (int i = 0; i < layers.Count; i++)
        {
            var ctx = _contexts[i];
            ctx.Batch = batch;
            ctx.Training = training;
            long start = Profile is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
            layers[i].Forward(ctx, _activations[i].AsSpan(0, batch * layers[i].Input.Size), _activations[i + 1].AsSpan(0, batch * layers[i].Output.Size));
            if (Profile is not null) Profile.Forward[i] += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        return Output;
    }

    /// <summary>
    /// Backpropagates <see cref="OutputGradient"/> through every layer, writing each parameter's gradient.
    /// <paramref name="fusedLoss"/>: the gradient is already taken before the final activation (softmax + cross-entropy).
    /// </summary>
    public void Backward(bool fusedLoss)
    {
        if (!Trainable) throw new InvalidOperationException("this plan was made for inference only");
        var layers = Model.Layers;
        int batch = Batch;
        for (int i = layers.Count - 1; i >= 0; i--)
        {
            var ctx = _contexts[i];
            ctx.FusedLossGradient = fusedLoss && i == layers.Count - 1;
            long start = Profile is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
            layers[i].Backward(ctx,
                _activations[i].AsSpan(0, batch * layers[i].Input.Size),
                _activations[i + 1].AsSpan(0, batch * layers[i].Output.Size),
                _gradients[i + 1].AsSpan(0, batch * layers[i].Output.Size),
                _gradients[i].AsSpan(0, _gradients[i].Length == 0 ? 0 : batch * layers[i].Input.Size));
            if (Profile is not null) Profile.Backward[i] += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
    }

    /// <summary>Refuses a plan whose buffers could not be allocated, before trying (batch size x activations).</summary>
    private static void CheckMemory(ModelSpec model, int capacity)
    {
        long largest = model.Layers.Max(l => Math.Max(l.Output.Size, l.ScratchValues));
        long bytes = 2L * capacity * model.ActivationBytes + 4L * capacity * model.Layers.Sum(l => l.ScratchValues);
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (capacity * largest > Array.MaxLength || bytes > available)
            throw new SpecNetException($"a batch of {capacity:N0} needs about {bytes / (1 << 20):N0} MB of activations and gradients ({ModelSummary.Bytes(model.ActivationBytes)} per example), more than this machine offers",
                "lower training.batch_size (or --batch-size)");
    }

    /// <summary>dL/d(input) of the last backward pass, when the plan was made with inputGradient.</summary>
    public ReadOnlySpan<float> InputGradient => _gradients[0].AsSpan(0, Math.Min(_gradients[0].Length, Batch * Model.Input.Size));

    /// <summary>Bytes of buffers this plan holds (activations, gradients; not layer scratch).</summary>
    public long BufferBytes => 4L * (_activations.Sum(a => (long)a.Length) + _gradients.Sum(g => (long)g.Length));
}

/// <summary>Milliseconds spent in each layer's forward and backward, summed over passes.</summary>
public sealed class LayerTimes(int layers)
{
    public double[] Forward { get; } = new double[layers];
    public double[] Backward { get; } = new double[layers];
    public void Clear() { Array.Clear(Forward); Array.Clear(Backward); }
}
