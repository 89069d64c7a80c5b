using System.Diagnostics;
using SpecNet.Diagnostics;
using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Layers;

namespace SpecNet.Planning;

/// <summary>
/// A model made runnable on the CPU for up to <see cref="Capacity"/> examples at a time: the layers in
/// topological order over the tensors between them, every buffer and every layer's scratch allocated
/// once here (<see cref="BufferLayout"/> decides which tensors share a buffer). Forward walks the layers
/// in order, backward in reverse; a tensor read by several layers gets the sum of their gradients. A
/// pass over fewer examples (the last, partial batch) uses the front of the same buffers.
/// </summary>
public sealed class ExecutionPlan : IPlan
{
    private readonly IReadOnlyList<Layer> _layers;
    private readonly int[][] _sources;           // per layer: the tensor each input reads
    private readonly float[][] _values;          // per tensor: its buffer (N, size); shared by tensors that are never live together
    private readonly float[]?[] _gradients;      // per tensor: dL/d(tensor), or null when nobody needs it
    private readonly float[][] _scratch;         // per input slot: where a backward writes a gradient the plan then adds
    private readonly bool[][] _accumulates;      // per layer and input: add through scratch instead of writing
    private readonly LayerContext[] _contexts;
    private readonly int _output;                // the tensor the model outputs
    private readonly int[] _chainEnd;            // per layer: the last layer it runs together with (Fusion), or -1
    private readonly bool[] _inChain;            // per layer: run by the first layer of its chain
    private readonly bool[] _throughRelu;        // per layer: a max pooling whose backward is also its input's relu's
    private readonly bool[] _reluDone;           // per layer: that relu's layer, whose dy is then its pre-activation gradient
    private readonly int[] _poolingTaken;        // per layer: a convolution whose backward runs that max pooling's too (Conv2D.BackwardThroughPooling), its index; else -1
    private readonly bool[] _takenByConvolution; // per layer: such a max pooling, whose backward is then not run apart
    private readonly float[][] _foldScale, _foldShift;   // per convolution starting a stage: the batch norm's map
    private readonly RowsMap?[] _foldThen;               // the same: an activation other than relu ending the stage, on its rows
    private readonly int[] _residual;                    // per convolution starting a stage with an add: the add's other operand, or -1
    private readonly int[][] _stages;                    // per layer starting a chain of stages made for the next (Fusion): their first layers
    private readonly int[] _stageEnd;                    // per layer starting a chain or a stage of one: the stage's last layer
    private readonly bool _fixedParameters;              // inference over parameters read once (PlanOptions.FixedParameters)
    private bool _mapped;                                // then: whether the batch norms' maps are made

    /// <param name="inputGradient">Also compute dL/d(input) (gradient checks, saliency); training does not need it.</param>
    /// <param name="trainable">False for inference only: no gradient buffers, no backward scratch, activations reused.</param>
    /// <param name="keepEveryActivation">No reuse of activations in training and every layer run apart (see <see cref="BufferLayout"/>,
    /// <see cref="Fusion"/>): the reference the tests compare with.</param>
    /// <param name="winograd">3x3 stride-1 convolutions by Winograd F(4x4, 3x3) or F(2x2, 3x3) where they fit (<see cref="Kernels.Winograd"/>): forward,
    /// and in training their input and weight gradients; at inference 3x3 stride-2 ones by F(3x3, 2x2) over their input's phases
    /// (<see cref="StridedWinograd"/>); null: unless SPECNET_WINOGRAD=0 or the backend is a reference (<see cref="Backend.Reference"/>).
    /// False: every convolution sums directly.</param>
    /// <param name="fixedParameters">Inference: the parameters do not change once the first pass has read them (<see cref="PlanOptions.FixedParameters"/>).</param>
    public ExecutionPlan(ModelSpec model, ParameterSet parameters, Backend kernels, int capacity, int seed = 0, bool inputGradient = false, bool trainable = true,
        bool keepEveryActivation = false, bool? winograd = null, bool fixedParameters = false)
    {
        if (fixedParameters && trainable) throw new ArgumentException("only an inference plan can take its parameters as fixed", nameof(fixedParameters));
        _fixedParameters = fixedParameters;
        Model = model;
        Trainable = trainable;
        Parameters = parameters;
        Kernels = kernels;
        Capacity = capacity;
        _layers = model.Layers;
        _sources = BufferLayout.SourcesOf(model);
        var layout = new BufferLayout(model, trainable, inputGradient, keepEveryActivation, oneImageOnThreads: capacity == 1 && kernels.Threads > 1,
            poolingsInConvolutions: !kernels.Reference);
        CheckMemory(model, layout, capacity, trainable);
        _chainEnd = layout.ChainEnd;
        _inChain = layout.InChain;
        _throughRelu = trainable && !keepEveryActivation ? Fusion.PoolingsThroughRelu(model, _sources) : new bool[_layers.Count];
        _reluDone = new bool[_layers.Count];
        for (int i = 0; i < _layers.Count; i++) if (_throughRelu[i]) _reluDone[_sources[i][0] - 1] = true;
        // A relu convolution's output gradient made a chunk at a time from the max pooling's after it, in cache, not as a tensor
        // the pooling writes and the convolution reads back; not on the reference backends, which run each layer as defined.
        // The layout decides it, as its buffers depend on it.
        _takenByConvolution = layout.PoolingsTaken;
        _poolingTaken = Enumerable.Repeat(-1, _layers.Count).ToArray();
        for (int i = 0; i < _layers.Count; i++) if (_takenByConvolution[i]) _poolingTaken[_sources[i][0] - 1] = i;
        _accumulates = layout.Accumulates;
        _output = _layers.Count;

        var buffers = layout.ActivationSizes.Select(size => new float[capacity * size]).ToArray();
        _values = layout.Activation.Select(b => buffers[b]).ToArray();
        var gradientBuffers = layout.GradientSizes.Select(size => new float[capacity * size]).ToArray();
        _gradients = layout.Gradient.Select(b => b < 0 ? null : gradientBuffers[b]).ToArray();
        var (slots, largest) = BufferLayout.GradientScratchBuffers(_layers);

        // A chain is one stage, or stages each made for the next, a depthwise stage first and a 1x1 convolution's last (Fusion).
        _stages = Fusion.Stages(model, _chainEnd);
        _stageEnd = (int[])_chainEnd.Clone();
        for (int i = 0; i < _layers.Count; i++)
            for (int t = 0; t < _stages[i].Length; t++)
                _stageEnd[_stages[i][t]] = t + 1 < _stages[i].Length ? _stages[i][t + 1] - 1 : _chainEnd[i];
        _foldScale = _stageEnd.Select((e, i) => e > i && _layers[i] is IFoldsBatchNorm && _layers[i + 1] is BatchNorm ? new float[_layers[i].Output.Channels] : []).ToArray();
        _foldShift = _foldScale.Select(a => new float[a.Length]).ToArray();
        _residual = _stageEnd.Select((e, i) => e >= i + 2 && _layers[i + 2] is Merge ? _sources[i + 2].Single(t => t != i + 2) : -1).ToArray();
        _foldThen = _stageEnd.Select((e, i) => _foldScale[i].Length > 0 && _layers[e] is ActivationLayer { Activation: { Function: not ActivationFunction.Relu } act } last
            ? new RowsMap(rows => Activations.Forward(act, rows, rows, last.Output.Channels)) : null).ToArray();
        Dropout = Rng.For(seed, "dropout");
        _contexts = new LayerContext[_layers.Count];
        for (int i = 0; i < _layers.Count; i++)
        {
            var layer = _layers[i];
            var slotsOf = parameters.Of(layer);
            var inputGradients = _sources[i].Select(t => _gradients[t] ?? []).ToArray();
            _contexts[i] = new LayerContext
            {
                Kernels = kernels,
                Params = slotsOf.Select(s => s.Value).ToArray(),
                Grads = slotsOf.Select(s => s.Grad).ToArray(),
                Random = Dropout,
                State = layer.CreateState(capacity, trainable, kernels),
                InputBuffers = _sources[i].Select(t => _values[t]).ToArray(),
                InputSizes = layer.Inputs.Select(s => s.Size).ToArray(),
                InputGradientBuffers = inputGradients,
                InputGradient = inputGradients[0].Length > 0,
            };
        }
        // A layer run alone is the last to read its output's gradient (its readers wrote it, its buffer is given back after):
        // its backward may write over it. Not in keepEveryActivation's layout, which the tests read gradients back from.
        if (trainable && !keepEveryActivation)
            for (int i = 0; i < _layers.Count; i++)
                if (!_inChain[i] && _chainEnd[i] < 0 && !_throughRelu[i]) _contexts[i].WritableOutputGradient = _gradients[i + 1];
        for (int i = 0; i < _layers.Count; i++)   // a layer and the relu layer after it (Fusion): the relu in its output pass
            if (!trainable && _stageEnd[i] > i && _layers[i] is ITakesRelu { CanTakeRelu: true } layer
                && _layers[i + 1] is ActivationLayer { Activation.Function: ActivationFunction.Relu }) layer.TakeRelu(_contexts[i]);
        if (winograd ?? (Winograd.Enabled && !kernels.Reference))
            for (int i = 0; i < _layers.Count; i++)
                if (_layers[i] is Conv2D conv) conv.UseWinograd(_contexts[i]);
        if (fixedParameters)
            for (int i = 0; i < _layers.Count; i++) _layers[i].FixParameters(_contexts[i]);
        // A tensor read by several layers sums their gradients. A layer that can adds its share to the gradient as it computes it
        // (a convolution's col2im, or its GEMM with beta 1); the others write theirs into scratch, added in a pass after, on one
        // thread (the residual model's step 0.3-5.7% faster in place, median 2.8%, four runs alternating in one process, Zen 4).
        for (int i = 0; i < _layers.Count; i++)
            if (_accumulates[i] is [true] && _layers[i].CanAddInputGradient(_contexts[i]))
            {
                _accumulates[i][0] = false;
                _contexts[i].AddsInputGradient = true;
            }
        bool anyAccumulates = _accumulates.Any(a => a.Any(x => x));
        _scratch = Enumerable.Range(0, slots).Select(_ => anyAccumulates ? new float[capacity * largest] : []).ToArray();
        for (int i = 0; i < _layers.Count; i++)
            for (int k = 0; k < _sources[i].Length; k++)      // an add inside a chain: the batch norm before it has the first slot's scratch
                if (_accumulates[i][k]) _contexts[i].InputGradientBuffers[k] = _scratch[_inChain[i] ? 1 : k];
        for (int i = 0; i < _layers.Count; i++)
        {
            if (_stageEnd[i] >= 0 && _layers[_stageEnd[i]] is MaxPool2D pool) ((Conv2D)_layers[i]).PoolOutput(_contexts[i], pool);
            if (_stages[i] is not [.. var made, var last]) continue;
            IRowsSource? source = null;                    // each stage made for the next, the first reading its input tensor
            foreach (int h in made)
            {
                bool folded = _foldScale[h].Length > 0;
                source = ((IFoldsBatchNorm)_layers[h]).AsSource(_contexts[h], source, folded ? _foldScale[h] : null, folded ? _foldShift[h] : null, relu: folded && _stageEnd[h] > h + 1);
            }
            ((Conv2D)_layers[last]).ReadInputFrom(_contexts[last], source!);
        }
    }

    public ModelSpec Model { get; }
    public ParameterSet Parameters { get; }
    public Backend Kernels { get; }
    public int Capacity { get; }
    public Rng Dropout { get; }
    public bool Trainable { get; }
    public int Batch { get; private set; }
    public LayerTimes? Profile { get; set; }

    public Span<float> Input => _values[0].AsSpan(0, Capacity * Model.Input.Size);
    public ReadOnlySpan<float> Output => _values[_output].AsSpan(0, Batch * Model.Output.Size);
    public Span<float> OutputGradient => _gradients[_output]!.AsSpan(0, Batch * Model.Output.Size);

    public ReadOnlySpan<float> InputGradient => _gradients[0] is { } g ? g.AsSpan(0, Batch * Model.Input.Size) : default;

    public ReadOnlySpan<float> Forward(int batch, bool training)
    {
        if (batch < 1 || batch > Capacity) throw new ArgumentOutOfRangeException(nameof(batch), $"1..{Capacity}");
        if (training && !Trainable) throw new InvalidOperationException("this plan was made for inference only");
        Batch = batch;
        for (int i = 0; i < _layers.Count; i++)
        {
            var (layer, ctx) = (_layers[i], _contexts[i]);
            ctx.Batch = batch;
            ctx.Training = training;
            long start = Profile is null ? 0 : Stopwatch.GetTimestamp();
            if (_chainEnd[i] >= 0)
            {
                int last = _chainEnd[i];
                var y = _values[last + 1].AsSpan(0, batch * _layers[last].Output.Size);
                if (_stages[i] is [.., var j])
                {
                    // stages made for the next: the last stage's convolution asks for its input rows, through the others' maps
                    foreach (int h in _stages[i])
                        if (h != j && _foldScale[h].Length > 0 && !_mapped) ((BatchNorm)_layers[h + 1]).InferenceMap(_contexts[h + 1], _foldScale[h], _foldShift[h]);
                    (_contexts[j].Batch, _contexts[j].Training) = (batch, training);
                    RunStage(j, default, y);
                }
                else RunStage(i, ctx.InputOf(0), y);
                if (Profile is not null) Profile.Forward[i] += Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                i = last;
                continue;
            }
            layer.Forward(ctx, ctx.InputOf(0), _values[i + 1].AsSpan(0, batch * layer.Output.Size));
            if (Profile is not null) Profile.Forward[i] += Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        _mapped = _fixedParameters;
        return Output;
    }

    /// <summary>
    /// The stage starting at layer i, from x to y: batch_norm (+ add) + relu, add + relu, conv (+ max_pool2d), or conv + batch_norm
    /// (+ add) (+ relu) (+ max_pool2d).
    /// </summary>
    private void RunStage(int i, ReadOnlySpan<float> x, Span<float> y)
    {
        var (layer, ctx, last) = (_layers[i], _contexts[i], _stageEnd[i]);
        if (layer is BatchNorm batchNorm)                                              // batch_norm (+ add) + relu
            batchNorm.Forward(ctx, x, y, Then(last), last == i + 2 ? _values[AddOperand(i)].AsSpan(0, y.Length) : default);
        else if (layer is Merge merge) merge.Forward(ctx, x, y, relu: true);          // add + relu
        else if (last == i || _layers[i + 1] is not BatchNorm) layer.Forward(ctx, x, y);  // a convolution alone, or with the max_pool2d (it pools itself)
        else
        {
            // conv + batch_norm (+ add) (+ relu) (+ max_pool2d) as one: the batch norm's map, the add's other operand and the
            // relu applied in the convolution's output pass
            int next = i + 2;
            float[]? residual = _residual[i] >= 0 ? _values[_residual[i]] : null;
            if (residual is not null) next++;
            if (!_mapped) ((BatchNorm)_layers[i + 1]).InferenceMap(_contexts[i + 1], _foldScale[i], _foldShift[i]);
            bool relu = next <= last && _layers[next] is ActivationLayer { Activation.Function: ActivationFunction.Relu };
            ((IFoldsBatchNorm)layer).ForwardFolded(ctx, x, y, _foldScale[i], _foldShift[i], relu, residual, _foldThen[i]);
        }
    }

    /// <summary>The activation ending a batch norm's chain: relu, relu6 or hard_swish (<see cref="Fusion.InBatchNorm"/>).</summary>
    private ChannelActivation Then(int last) => ((ActivationLayer)_layers[last]).Activation.Function is var f && Fusion.InBatchNorm(f) is { } then ? then
        : throw new InvalidOperationException($"a batch norm's pass does not apply {f}");

    /// <summary>Which input of the add after batch norm i in its chain (batch_norm + add + relu) is the other operand, and its tensor.</summary>
    private int AddSlot(int i) => _sources[i + 1][0] == i + 1 ? 1 : 0;
    private int AddOperand(int i) => _sources[i + 1][AddSlot(i)];

    public void Backward(bool fusedLoss)
    {
        if (!Trainable) throw new InvalidOperationException("this plan was made for inference only");
        int batch = Batch;
        for (int i = _layers.Count - 1; i >= 0; i--)
        {
            if (_inChain[i] || _takenByConvolution[i]) continue;   // its chain's first layer runs the chain's backward; the convolution before, the pooling's
            var (layer, ctx) = (_layers[i], _contexts[i]);
            int last = Math.Max(i, _chainEnd[i]);
            if (_gradients[last + 1] is not { } dy) continue; // an output nobody reads: no gradient flows through it
            ctx.PreActivationGradient = fusedLoss && last == _layers.Count - 1 || _reluDone[last];
            long start = Profile is null ? 0 : Stopwatch.GetTimestamp();
            var size = batch * _layers[last].Output.Size;
            if (last > i && layer is Merge merge) merge.Backward(ctx, _values[last + 1].AsSpan(0, size), dy.AsSpan(0, size), relu: true);   // add + relu
            else if (last == i + 2 && layer is BatchNorm norm)
            {
                // batch_norm + add + relu: dy where the output is positive is the gradient of both of the add's operands. Written where
                // the other operand's gradient goes (or over dy, when that has none), the batch norm reads it there.
                var add = _contexts[i + 1];
                int other = AddSlot(i);
                var gradient = add.InputGradientBuffers[other].Length > 0 ? add.InputGradientBuffers[other].AsSpan(0, size) : dy.AsSpan(0, size);
                Elementwise.Map(ctx.Kernels, Elementwise.MapOp.ReluBackward, _values[last + 1].AsSpan(0, size), dy.AsSpan(0, size), gradient);
                norm.Backward(ctx, ctx.InputOf(0), gradient, ctx.GradientOf(0), ChannelActivation.None);
            }
            else if (last > i) ((BatchNorm)layer).Backward(ctx, ctx.InputOf(0), dy.AsSpan(0, size), ctx.GradientOf(0), Then(last));   // batch_norm + relu, relu6 or hard_swish
            else if (_poolingTaken[i] is >= 0 and var p)
            {
                var pooledSize = batch * _layers[p].Output.Size;
                ((Conv2D)layer).BackwardThroughPooling(ctx, ctx.InputOf(0), _values[i + 1].AsSpan(0, size), (MaxPool2D)_layers[p], _values[p + 1].AsSpan(0, pooledSize),
                    _gradients[p + 1].AsSpan(0, pooledSize), ctx.GradientOf(0));
            }
            else if (_throughRelu[i]) ((MaxPool2D)layer).Backward(ctx, ctx.InputOf(0), _values[i + 1].AsSpan(0, size), dy.AsSpan(0, size), ctx.GradientOf(0), throughRelu: true);
            else layer.Backward(ctx, ctx.InputOf(0), _values[i + 1].AsSpan(0, size), dy.AsSpan(0, size), ctx.GradientOf(0));
            for (int j = i; j <= last; j++)          // the shares written to scratch, added: the chain's layers' inputs from outside it
                for (int k = 0; k < _sources[j].Length; k++)
                    if (_accumulates[j][k])
                    {
                        var n = batch * _layers[j].Inputs[k].Size;
                        Elementwise.Add(_gradients[_sources[j][k]].AsSpan(0, n), _contexts[j].InputGradientBuffers[k].AsSpan(0, n));
                    }
            if (Profile is not null) Profile.Backward[i] += Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
    }

    /// <summary>Refuses a plan whose buffers could not be allocated, before trying (batch size x activations).</summary>
    private static void CheckMemory(ModelSpec model, BufferLayout layout, int capacity, bool training)
    {
        long largest = Math.Max(layout.ActivationSizes.Max(), model.Layers.Max(l => Math.Max(l.ScratchValues, l.StateValues(training))));
        long perExample = layout.ActivationFloats + layout.GradientFloats + layout.GradientScratchFloats + model.Layers.Sum(l => l.ScratchValues + l.StateValues(training));
        long bytes = 4L * capacity * perExample;
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (capacity * largest > Array.MaxLength || bytes > available)
            throw new SpecNetException($"a batch of {capacity:N0} needs about {bytes / (1 << 20):N0} MB of activations and gradients ({ModelSummary.Bytes(4 * perExample)} per example), more than this machine offers",
                "lower training.batch_size (or --batch-size)");
    }
}

/// <summary>
/// The CPU engine: plans run layer by layer on a kernel backend (managed SIMD, MKL, MathNet, reference); inference over a
/// large batch on the managed backend a slice at a time through the whole model (<see cref="SlicedPlan"/>).
/// </summary>
public sealed class CpuEngine(Backend kernels) : IEngine
{
    public Backend Kernels { get; } = kernels;
    public string Name => Kernels.Name;
    public string Device => Kernels.InstructionSet;
    public int Threads => Kernels.Threads;

    public IPlan Plan(ModelSpec model, ParameterSet parameters, int capacity, PlanOptions options)
    {
        bool inference = !options.Training && !options.InputGradient;
        if (inference && SlicedPlan.Pays(Kernels, capacity, model)) return new SlicedPlan(model, parameters, Kernels, capacity, options.FixedParameters);
        var plan = new ExecutionPlan(model, parameters, Kernels, capacity, options.Seed, options.InputGradient, options.Training, fixedParameters: options.FixedParameters);
        return inference && capacity == 1 && Kernels is ManagedBackend && Kernels.Threads > 1
            ? SingleImage.Faster(plan, new ExecutionPlan(model, parameters, new ManagedBackend(1), 1, trainable: false, fixedParameters: options.FixedParameters))
            : plan;
    }

    public override string ToString() => Kernels.ToString();
}
