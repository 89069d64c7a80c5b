using SpecNet.Checking;
using SpecNet.Layers;

namespace SpecNet.Planning;

/// <summary>
/// Which buffer holds which tensor, decided once per model (llm.c's "compute all sizes first"). Tensor 0 is
/// the model's input, tensor i + 1 layer i's output (layers in topological order). A buffer is reused once
/// every reader of its value has run, so memory follows the widest cut of the graph, not its depth:
/// - inference: an activation lives from its layer's forward to its last reader's forward;
/// - training: an activation backward reads (<see cref="Layer.BackwardReadsInputs"/>, <see cref="Layer.BackwardReadsOutput"/>)
///   is kept to the end; the others live as in inference. A gradient lives from the backward of its
///   tensor's last reader (which writes it; earlier readers add to it) to its producer's backward; a
///   tensor with nothing trainable upstream (the input, a frozen body) has none.
/// An activation or a dropout writes its output over its input where nothing reads that after it (<see cref="Layer.ForwardInPlace"/>):
/// it is still in cache, and the plan holds one buffer less (a relu layer between a 1x1 convolution and a global pooling over
/// 28x28x32, batch 1000 on a Zen 5: 3.8 -> 3.3 ms a pass; a leaky relu 4.4 -> 3.7).
/// A batch norm's (or dropout's, or activation's) input gradient takes the buffer of its output gradient where it is the
/// first to write that gradient (<see cref="Layer.BackwardInPlace"/>). So does a convolution that runs the backward of the
/// max pooling after it (<see cref="Fusion.PoolingsInConvolutions"/>): it writes no output gradient, and reads the pooling's.
/// Layers that run as one (<see cref="Fusion"/>) store only the chain's last output, and in training get one gradient:
/// that of the chain's output, which backward takes through the chain at once to the gradients of what the chain reads.
/// Sizes are floats per example; the plan multiplies by its capacity.
/// </summary>
public sealed class BufferLayout
{
    /// <summary>Per tensor: the buffer holding its value, and (training) its gradient; -1 when it has none.</summary>
    public int[] Activation { get; }
    public int[] Gradient { get; }
    /// <summary>Per buffer: floats per example.</summary>
    public IReadOnlyList<long> ActivationSizes { get; }
    public IReadOnlyList<long> GradientSizes { get; }
    /// <summary>Per layer and input: whether its backward adds into the input's gradient (through scratch) rather than writing it.</summary>
    public bool[][] Accumulates { get; }
    /// <summary>Per layer: the last layer of the chain it starts (<see cref="Fusion"/>), or -1.</summary>
    public int[] ChainEnd { get; }
    /// <summary>Per layer: run by the first layer of its chain (not its first layer itself).</summary>
    public bool[] InChain { get; }
    /// <summary>Training, per layer: a max pooling whose backward the convolution before it runs (<see cref="Fusion.PoolingsInConvolutions"/>).</summary>
    public bool[] PoolingsTaken { get; }

    public long ActivationFloats => ActivationSizes.Sum();
    public long GradientFloats => GradientSizes.Sum();

    /// <summary>
    /// Training, at most: the scratch a layer writes its share of a gradient into when another reader of the same tensor has
    /// written it already (added in a pass after): a buffer of the largest input per input slot, per example. The plan leaves it
    /// out when every such layer can add its share as it computes it (<see cref="Layer.CanAddInputGradient"/>).
    /// </summary>
    public long GradientScratchFloats { get; }

    /// <summary>That scratch's buffers: one per input slot of the layer with the most inputs, each of the largest input's floats.</summary>
    public static (int Count, long Floats) GradientScratchBuffers(IReadOnlyList<Layer> layers) =>
        (layers.Max(l => l.Sources.Count), layers.Max(l => (long)l.Inputs.Max(s => s.Size)));

    /// <summary>The tensor each input of each layer reads.</summary>
    public static int[][] SourcesOf(ModelSpec model)
    {
        var index = model.Layers.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i + 1);
        return model.Layers.Select(l => l.Sources.Select(s => s is null ? 0 : index[s]).ToArray()).ToArray();
    }

    /// <param name="keepEveryActivation">Training keeps every activation, whether backward reads it or not, and runs every
    /// layer apart: the layout before reuse and fusion, which the tests compare gradients against.</param>
    /// <param name="oneImageOnThreads">A plan for one image at a time on several threads (<see cref="Fusion.Chains"/>).</param>
    /// <param name="poolingsInConvolutions">Training: convolutions run the backward of the max pooling after them where they can
    /// (<see cref="Fusion.PoolingsInConvolutions"/>), as plans do on every backend but the reference ones.</param>
    public BufferLayout(ModelSpec model, bool training, bool inputGradient = false, bool keepEveryActivation = false, bool oneImageOnThreads = false,
        bool poolingsInConvolutions = true)
    {
        var layers = model.Layers;
        var sources = SourcesOf(model);
        var chainEnd = ChainEnd = keepEveryActivation ? Enumerable.Repeat(-1, layers.Count).ToArray() : Fusion.Chains(model, sources, training, oneImageOnThreads);
        var inChain = InChain = new bool[layers.Count];
        for (int i = 0; i < layers.Count; i++) for (int j = i + 1; j <= chainEnd[i]; j++) inChain[j] = true;
        int tensors = layers.Count + 1;
        long SizeOf(int t) => t == 0 ? model.Input.Size : layers[t - 1].Output.Size;
        int output = tensors - 1;

        // Last forward reader of each tensor (the output is read by the loss, after every layer).
        var lastReader = new int[tensors];
        Array.Fill(lastReader, -1);
        for (int i = 0; i < layers.Count; i++)
            foreach (var t in sources[i]) lastReader[t] = Math.Max(lastReader[t], i);
        lastReader[output] = layers.Count;

        // Training keeps for backward the input, the output (the loss reads it), and every tensor whose producer's
        // backward reads its output or one of whose readers' backward reads its inputs; inference keeps none. A chain's
        // backward reads what its first layer reads of its inputs, and (an add and relu: the relu's mask) its last output.
        var keep = new bool[tensors];
        if (training)
        {
            keep[0] = keep[output] = true;
            if (keepEveryActivation) Array.Fill(keep, true);
            for (int i = 0; i < layers.Count; i++)
            {
                keep[i + 1] |= layers[i].BackwardReadsOutput && chainEnd[i] < 0;
                if (chainEnd[i] >= 0 && layers.Skip(i).Take(chainEnd[i] - i + 1).Any(l => l is Merge)) keep[chainEnd[i] + 1] = true;
                if (layers[i].BackwardReadsInputs) foreach (var t in sources[i]) keep[t] = true;
                if (chainEnd[i] >= 0) i = chainEnd[i];
            }
        }
        Activation = new int[tensors];
        var activations = new Pool();
        Activation[0] = activations.Take(SizeOf(0));
        for (int i = 0; i < layers.Count; i++)
        {
            int last = chainEnd[i] >= 0 ? chainEnd[i] : i;
            int over = last == i ? WritesOverInput(i) : -1;   // its input's buffer, which nothing reads after it: in cache, one buffer less
            Activation[last + 1] = over > 0 ? Activation[over] : activations.Take(SizeOf(last + 1));
            for (int t = i + 1; t <= last; t++) Activation[t] = Activation[last + 1];   // inside a chain: never written
            for (int j = i; j <= last; j++)                                              // what the chain reads from outside it
                foreach (var t in sources[j].Distinct())
                    if ((t <= i || t > last) && lastReader[t] == j && !keep[t] && t != over) activations.Give(Activation[t]);
            if (lastReader[last + 1] < 0 && !keep[last + 1]) activations.Give(Activation[last + 1]); // an output nobody reads
            i = last;
        }
        ActivationSizes = activations.Sizes;

        // The tensor a layer writes its output over (Layer.ForwardInPlace), or -1: its one input, of its output's size, read by
        // nothing after it and not kept; never the model's input, which the caller fills.
        int WritesOverInput(int i) => !keepEveryActivation && layers[i].ForwardInPlace && sources[i] is [var x and > 0] && lastReader[x] == i
            && !keep[x] && SizeOf(x) == SizeOf(i + 1) ? x : -1;

        Gradient = new int[tensors];
        Array.Fill(Gradient, -1);
        Accumulates = layers.Select(l => new bool[l.Sources.Count]).ToArray();
        var gradients = new Pool();
        // A tensor needs a gradient only when something trainable made it or lies upstream of it: a frozen
        // body at the front of a fine-tuned model gets no backward at all.
        var needed = new bool[tensors];
        needed[0] = inputGradient;
        for (int i = 0; i < layers.Count; i++) needed[i + 1] = layers[i].TrainableCount > 0 || sources[i].Any(t => needed[t]);
        var taken = PoolingsTaken = training && !keepEveryActivation && poolingsInConvolutions ? Fusion.PoolingsInConvolutions(model, sources, chainEnd) : new bool[layers.Count];
        if (training)
        {
            Gradient[output] = gradients.Take(SizeOf(output));
            for (int i = layers.Count - 1; i >= 0; i--)
            {
                if (inChain[i]) continue;  // its chain's first layer takes the chain's gradient
                int last = Math.Max(i, chainEnd[i]);
                if (Gradient[last + 1] < 0) continue; // an output nobody reads: no gradient flows through its layer
                // dy's buffer passes to dx, in use still, not given back: a backward that writes dx over dy, or a max pooling the
                // convolution before runs, whose dy that backward reads (it writes no dy of its own)
                if (taken[i] && needed[sources[i][0]] || InPlace(i, last))
                {
                    Gradient[sources[i][0]] = Gradient[last + 1];
                    continue;
                }
                for (int j = i; j <= last; j++)            // the inputs of the chain's layers from outside it (an add's other operand)
                    for (int k = 0; k < sources[j].Length; k++)
                    {
                        int t = sources[j][k];
                        if (!needed[t] || t > i && t <= last) continue;
                        if (Gradient[t] >= 0) Accumulates[j][k] = true;
                        else Gradient[t] = gradients.Take(SizeOf(t));
                    }
                gradients.Give(Gradient[last + 1]); // dy of layer i is dead once its backward has run
            }
        }
        GradientSizes = gradients.Sizes;
        if (Accumulates.Any(a => a.Any(x => x)) && GradientScratchBuffers(layers) is var (count, floats)) GradientScratchFloats = count * floats;

        // A chain whose every layer writes dx over dy (Layer.BackwardInPlace) takes its input's gradient in its output gradient's
        // buffer, when it is the first to write that gradient (no later reader of the input has): backward then writes over the
        // lines it has just read, which are in cache, and the layer before reads them there (the depthwise model's step 4.5%
        // faster on a Zen 5, alternating in one process).
        bool InPlace(int first, int last) =>
            !keepEveryActivation && sources[first] is [var t] && needed[t] && Gradient[t] < 0 && SizeOf(t) == SizeOf(last + 1)
            && layers.Skip(first).Take(last - first + 1).All(l => l.BackwardInPlace);
    }

    /// <summary>Buffers handed out and given back: a freed buffer goes to the next tensor that fits it best (grown if none does).</summary>
    private sealed class Pool
    {
        private readonly List<long> _sizes = [];
        private readonly List<int> _free = [];

        public IReadOnlyList<long> Sizes => _sizes;

        public int Take(long size)
        {
            int best = -1;
            foreach (var b in _free)
                if (_sizes[b] >= size && (best < 0 || _sizes[b] < _sizes[best])) best = b;
            if (best < 0 && _free.Count > 0) best = _free.MaxBy(b => _sizes[b]);
            if (best < 0) { _sizes.Add(size); return _sizes.Count - 1; }
            _free.Remove(best);
            _sizes[best] = Math.Max(_sizes[best], size);
            return best;
        }

        public void Give(int buffer) { if (!_free.Contains(buffer)) _free.Add(buffer); }
    }
}
