using SpecNet.Checking;
using SpecNet.Diagnostics;
using SpecNet.Kernels;

namespace SpecNet.Planning;

/// <summary>
/// Inference over a large batch, a slice of a few examples at a time through the whole model: each thread runs its own plan on a
/// one-thread backend and takes the next slice when it finishes one. Layer by layer over the whole batch, every tensor between
/// two layers went to memory and back (the residual model at batch 1000: 50 MB each); a slice's tensors stay in its core's
/// cache, and the threads never wait for each other inside the model. Images/s of the residual model at batch 1000 +25-27%, of
/// the pooled one +10-15% (Zen 4, two threads, alternating in one process); on one thread, the residual model +31%.
/// A pass too small to give every thread a slice of <see cref="SliceExamples"/> runs whole on a plan of the shared backend,
/// as before. An example's outputs are those a one-thread plan gives for its slice; they may round differently from a plan of
/// the whole batch, where Winograd's tiles are chosen by the examples a block holds.
/// </summary>
public sealed class SlicedPlan : IPlan
{
    /// <summary>
    /// Examples per slice at most: 16 measured best with the residual model (its tensors 50 KB per example) and level with the
    /// others, against 4, 8 and 32 (Zen 4). SPECNET_SLICE overrides it, for measuring; 0 runs every batch layer by layer.
    /// </summary>
    public static readonly int SliceExamples = int.TryParse(Environment.GetEnvironmentVariable("SPECNET_SLICE"), out var s) && s >= 0 ? s : 16;

    private readonly ExecutionPlan[] _slices;   // per thread: a plan of SliceExamples on a one-thread backend
    private readonly ExecutionPlan? _whole;     // passes too small to give every thread a slice (none with one thread: its slice is any pass)
    private readonly float[] _input, _output;
    private readonly Backend _kernels;
    private readonly SliceWork _work;
    private int _count;                         // the pass's slices

    /// <summary>
    /// Whether an inference plan for <paramref name="capacity"/> examples of <paramref name="model"/> runs in slices: on the managed
    /// backend (whose kernels run on one thread without a pool of their own), when the capacity gives every thread a slice, and
    /// when a slice's tensors weigh at least half the weights it reads (<see cref="SlicesWeighEnough"/>).
    /// </summary>
    public static bool Pays(Backend kernels, int capacity, ModelSpec model) =>
        SliceExamples > 0 && kernels is ManagedBackend && capacity >= kernels.Threads * SliceExamples && SlicesWeighEnough(model);

    /// <summary>
    /// Whether a slice's activations (every layer's output for <see cref="SliceExamples"/> examples) weigh at least half the
    /// model's weights. Each slice reads every weight again: where the weights outweigh its tensors many times (dense layers of
    /// thousands of units), keeping the tensors in cache saves less than streaming the weights once per slice costs, and the
    /// batch runs layer by layer, each GEMM reading its weights once for all rows. Batch 1000 on a Zen 5, sliced against whole
    /// (`SPECNET_SLICE=0`), the ratio of a slice's tensors to the weights in brackets: 2048 -> 1000 dense (0.04) 48,000-56,000
    /// against 72,000-78,000 images/s, 784-512-512-10 (0.06) 182,000 against 204,000-245,000, 2048 -> 256 -> 10 (0.19)
    /// 209,000-235,000 against 306,000-323,000; the strided model (0.97) 214,000-218,000 against 175,000-196,000. The other
    /// reference models' tensors outweigh their weights 5-250 times, the ResNet-18-like model's 2.8 million weights 3.7 times.
    /// </summary>
    public static bool SlicesWeighEnough(ModelSpec model) => 2L * SliceExamples * model.ActivationBytes >= 4 * model.TotalParameters;

    public SlicedPlan(ModelSpec model, ParameterSet parameters, Backend kernels, int capacity, bool fixedParameters)
    {
        if ((long)capacity * Math.Max(model.Input.Size, model.Output.Size) > Array.MaxLength)
            throw new SpecNetException($"a batch of {capacity:N0} examples of {model.Input.Size:N0} values does not fit in one buffer", "lower --batch-size");
        Model = model;
        Parameters = parameters;
        Capacity = capacity;
        _kernels = kernels;
        _slices = Enumerable.Range(0, kernels.Threads)
            .Select(_ => new ExecutionPlan(model, parameters, new ManagedBackend(1), SliceExamples, trainable: false, fixedParameters: fixedParameters)).ToArray();
        _whole = kernels.Threads > 1 ? new ExecutionPlan(model, parameters, kernels, kernels.Threads * SliceExamples, trainable: false, fixedParameters: fixedParameters) : null;
        _input = new float[capacity * model.Input.Size];
        _output = new float[capacity * model.Output.Size];
        _work = new SliceWork(this);
    }

    public ModelSpec Model { get; }
    public ParameterSet Parameters { get; }
    public int Capacity { get; }
    public int Batch { get; private set; }
    public bool Trainable => false;
    public Rng Dropout => _slices[0].Dropout;

    /// <summary>Per layer, the threads' milliseconds added and divided by the threads: its share of the pass's time.</summary>
    public LayerTimes? Profile { get; set; }

    public Span<float> Input => _input;
    public ReadOnlySpan<float> Output => _output.AsSpan(0, Batch * Model.Output.Size);
    public Span<float> OutputGradient => throw new InvalidOperationException("this plan was made for inference only");
    public ReadOnlySpan<float> InputGradient => default;

    /// <summary>Where slice <paramref name="i"/> of <paramref name="count"/> starts in a batch of <paramref name="batch"/>: slices differ by one example at most.</summary>
    public static int SliceStart(int batch, int count, int i) => (int)((long)batch * i / count);

    /// <summary>
    /// Slices in a pass of <paramref name="batch"/>: a whole number per thread, none above <see cref="SliceExamples"/>; 0 when the pass
    /// runs whole, on the shared threads. One thread's slice is any pass up to <see cref="SliceExamples"/>.
    /// </summary>
    public static int Slices(int batch, int threads) =>
        threads > 1 && batch < threads * SliceExamples ? 0 : threads * ((batch + threads * SliceExamples - 1) / (threads * SliceExamples));

    public ReadOnlySpan<float> Forward(int batch, bool training)
    {
        if (batch < 1 || batch > Capacity) throw new ArgumentOutOfRangeException(nameof(batch), $"1..{Capacity}");
        if (training) throw new InvalidOperationException("this plan was made for inference only");
        Batch = batch;
        _count = Slices(batch, _slices.Length);
        if (_count == 0 && _whole is not null)
        {
            _whole.Profile = Profile;
            _input.AsSpan(0, batch * Model.Input.Size).CopyTo(_whole.Input);
            _whole.Forward(batch, training: false).CopyTo(_output);
            _whole.Profile = null;
            return Output;
        }
        var times = Profile is null ? null : _slices.Select(_ => new LayerTimes(Model.Layers.Count)).ToArray();
        for (int t = 0; t < _slices.Length; t++) _slices[t].Profile = times?[t];
        try { _kernels.ParallelForEach(_count, _work, long.MaxValue / _count); }   // every slice a thread's worth
        finally { foreach (var plan in _slices) plan.Profile = null; }
        if (times is not null)
            for (int i = 0; i < Model.Layers.Count; i++) Profile!.Forward[i] += times.Sum(x => x.Forward[i]) / times.Length;
        return Output;
    }

    public void Backward(bool fusedLoss) => throw new InvalidOperationException("this plan was made for inference only");

    /// <summary>Slice i on thread t: its examples into thread t's plan, through the model, its outputs out.</summary>
    private sealed class SliceWork(SlicedPlan owner) : IRangeWork
    {
        public void Run(int part, int start, int end, bool nested)
        {
            var plan = owner._slices[part];
            int inSize = owner.Model.Input.Size, outSize = owner.Model.Output.Size;
            for (int i = start; i < end; i++)
            {
                int first = SliceStart(owner.Batch, owner._count, i), n = SliceStart(owner.Batch, owner._count, i + 1) - first;
                owner._input.AsSpan(first * inSize, n * inSize).CopyTo(plan.Input);
                plan.Forward(n, training: false).CopyTo(owner._output.AsSpan(first * outSize));
            }
        }
    }
}
