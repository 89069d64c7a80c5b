using System.Globalization;
using SpecNet.Diagnostics;
using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// A layer kind as the spec language knows it: its YAML name, what it does, its options, how to build a
/// layer from them, and how many inputs it takes (merges take several). All kinds are listed once in
/// <see cref="LayerRegistry"/>.
/// </summary>
public sealed record LayerKind(string Name, string Summary, IReadOnlyList<OptionInfo> Options, Func<OptionReader, Layer> Create)
{
    public int MinInputs { get; init; } = 1;
    public int MaxInputs { get; init; } = 1;
}

/// <summary>How a parameter tensor starts: Keras's defaults (Glorot-uniform kernels, zero biases, ones for gamma).</summary>
public enum Init { GlorotUniform, Zeros, Ones }

/// <summary>
/// One parameter tensor of a layer. <see cref="Shape"/> is the layout in memory and in the weights file.
/// Glorot's fans are given explicitly because they depend on the layer (a conv kernel's receptive field).
/// </summary>
public sealed record ParameterSpec(string Suffix, int[] Shape, bool Trainable, Init Init, int FanIn = 0, int FanOut = 0)
{
    /// <summary>A penalty on this tensor, added to the training loss (kernel_regularizer, bias_regularizer).</summary>
    public Regularizer? Regularizer { get; init; }

    public int Size => checked((int)LongSize);
    public long LongSize => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>One fact of a layer's identity: an option and its typed value (what the structural hash and diff compare).</summary>
public sealed record IdentityItem(string Key, string HashKey, object Value)
{
    /// <summary>The value as the structural hash writes it: .NET's invariant text of the typed value (SpecNet 0.1's format).</summary>
    public string HashText => Value switch
    {
        ValueTuple<int, int> p => $"({p.Item1}, {p.Item2})",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Value.ToString() ?? "",
    };

    /// <summary>The value as a user writes it in a spec.</summary>
    public string Display => Value switch
    {
        bool b => b ? "true" : "false",
        ValueTuple<int, int> p => p.Item1 == p.Item2 ? $"{p.Item1}" : $"[{p.Item1}, {p.Item2}]",
        Padding p => p == Padding.Same ? "same" : "valid",
        ValueTuple<ValueTuple<int, int>, ValueTuple<int, int>> q => $"[[{q.Item1.Item1}, {q.Item1.Item2}], [{q.Item2.Item1}, {q.Item2.Item2}]]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Value.ToString() ?? "",
    };
}

/// <summary>
/// The contract every layer keeps (as Caffe's): bound from its options, it infers its output shape from
/// its input shapes (reporting problems at the offending YAML key), declares its parameters, runs forward
/// and backward on a batch, and lowers itself to ONNX. One kind per file, in that order.
/// </summary>
public abstract class Layer
{
    /// <summary>The spec name, e.g. conv2d_1, the user's own, or block-scoped: residual_1/conv2d_1.</summary>
    public string Name { get; internal set; } = "";
    public LayerKind Kind { get; internal set; } = null!;
    /// <summary>Where the layer's kind key is in the spec.</summary>
    public SourceSpan Span { get; internal set; }
    internal IReadOnlyDictionary<string, SourceSpan> OptionSpans { get; set; } = new Dictionary<string, SourceSpan>();
    /// <summary>The typed value of each option, defaults included, as bound from the spec.</summary>
    public IReadOnlyDictionary<string, object> Options { get; internal set; } = new Dictionary<string, object>();

    /// <summary>Where each input comes from: an earlier layer, or null for the model's input.</summary>
    public IReadOnlyList<Layer?> Sources { get; internal set; } = [];

    /// <summary>The shape of each input; <see cref="Input"/> is the first (the only one, but for merges).</summary>
    public IReadOnlyList<Shape> Inputs { get; private set; } = [];
    public Shape Input => Inputs[0];
    public Shape Output { get; private set; }

    /// <summary>Parameters per example shape, known once the input shape is.</summary>
    public virtual IReadOnlyList<ParameterSpec> Parameters => [];

    /// <summary>Multiply-accumulates per example in the forward pass (conv and dense; 0 for cheap layers).</summary>
    public virtual long Macs => 0;

    /// <summary>trainable: false (on the layer or a block around it): its parameters keep their values in training.</summary>
    public bool Frozen { get; internal set; }

    public long ParameterCount => Parameters.Sum(p => (long)p.Size);
    public long TrainableCount => Frozen ? 0 : Parameters.Where(p => p.Trainable).Sum(p => (long)p.Size);

    /// <summary>The activation the layer ends with (what a fused loss differentiates through); linear when it has none.</summary>
    public virtual Activation OutputActivation => new(ActivationFunction.Linear);

    /// <summary>Infers the output shape of a one-input layer; null (with diagnostics) when the input does not fit.</summary>
    protected virtual Shape? InferShape(Shape input, ShapeCheck check) => input;

    /// <summary>Infers the output shape from every input; merges override this.</summary>
    protected virtual Shape? InferShape(IReadOnlyList<Shape> inputs, ShapeCheck check) => InferShape(inputs[0], check);

    /// <summary>Largest tensor SpecNet plans for: 2^28 floats (1 GiB) per example or per parameter.</summary>
    public const long MaxValues = 1L << 28;

    internal bool Connect(IReadOnlyList<Shape> inputs, DiagnosticBag diagnostics)
    {
        Inputs = inputs;
        var check = new ShapeCheck(this, diagnostics);
        var output = InferShape(inputs, check);
        if (output is null) return false;
        var o = output.Value;
        long values = (long)o.Height * o.Width * o.Channels;
        if (values > MaxValues)
        {
            check.Error(DiagnosticIds.TooLarge, null, $"its output {o.Height}x{o.Width}x{o.Channels} would hold {values:N0} values per example, more than the {MaxValues:N0} SpecNet supports",
                "use fewer filters or units, or downsample earlier");
            return false;
        }
        Output = o;
        if (Parameters.FirstOrDefault(p => p.LongSize > MaxValues) is { } huge)
        {
            check.Error(DiagnosticIds.TooLarge, null, $"its {huge.Suffix} [{string.Join(", ", huge.Shape)}] would hold {huge.LongSize:N0} values, more than the {MaxValues:N0} SpecNet supports",
                "use fewer filters or units, or a smaller kernel");
            return false;
        }
        return true;
    }

    /// <summary>
    /// What determines the meaning of the layer's weights: its options' typed values, in declaration order.
    /// The structural hash and `specnet diff` are made from this; nothing parses text back.
    /// </summary>
    public virtual IReadOnlyList<IdentityItem> Identity =>
        Kind.Options.Where(o => Options.ContainsKey(o.Name) && !(o.HashedOnlyWhenSet && Equals(Options[o.Name], o.Default)))
            .Select(o => new IdentityItem(o.Name, o.HashKey ?? o.Name, Options[o.Name])).ToList();

    /// <summary>The options for people to read: "filters=32 kernel_size=3 ...".</summary>
    public string Describe() => string.Join(" ", Identity.Select(i => $"{i.Key}={i.Display}"));

    /// <summary>
    /// Whether backward reads the layer's inputs, and its output. Training keeps a tensor until backward only when
    /// its producer reads its output or a reader reads its inputs; the others are reused once forward is past
    /// them (batch norm's output before a relu, an add before its activation). True unless a kind knows better.
    /// </summary>
    public virtual bool BackwardReadsInputs => true;
    public virtual bool BackwardReadsOutput => true;

    /// <summary>
    /// Whether backward may write dx over dy (the same buffer): one input of dy's size, each element of dy read before the dx
    /// written where it lies is (training's buffer layout then gives them one buffer). False unless a kind knows better.
    /// </summary>
    public virtual bool BackwardInPlace => false;

    /// <summary>
    /// Whether forward may write y over x (the same buffer): one input of the output's size, each element of y made from the
    /// element of x where it lies alone, or from its own row read first (the buffer layout then gives them one buffer where
    /// nothing reads x after). False unless a kind knows better.
    /// </summary>
    public virtual bool ForwardInPlace => false;

    /// <summary>Floats of scratch per example that <see cref="CreateState"/> allocates (the largest buffer), for memory planning.</summary>
    public virtual long ScratchValues => 0;

    /// <summary>
    /// Floats per example that <see cref="CreateState"/> keeps for the plan's whole capacity (a dropout's mask, the pre-activations
    /// gelu, silu and hard_swish keep for backward, a layer norm's statistics): with the buffer layout's tensors, what a
    /// plan holds per example (the summary's memory figures, the check before a plan is made).
    /// </summary>
    public virtual long StateValues(bool training) => 0;

    /// <summary>
    /// Scratch kept between forward and backward (masks, indices, columns), for up to <paramref name="capacity"/>
    /// examples and the backend's thread count; what only backward needs is left out when not <paramref name="training"/>.
    /// </summary>
    public virtual object? CreateState(int capacity, bool training, Backend kernels) => null;

    /// <summary>
    /// Plan time, inference (PlanOptions.FixedParameters): the parameters will not change once the first
    /// pass has read them, so what this layer derives from them is made at that pass and never checked again.
    /// </summary>
    public virtual void FixParameters(LayerContext ctx) { }

    /// <summary>
    /// Plan time, training: whether backward can add dL/dx to what dx holds instead of overwriting it (ctx.AddsInputGradient),
    /// so that a tensor read by several layers gets its gradient summed as this one computes its share, not in a pass after.
    /// </summary>
    public virtual bool CanAddInputGradient(LayerContext ctx) => false;

    /// <summary>y = layer(x) for ctx.Batch examples. x: (N, Input), y: (N, Output), NHWC. Merges read the other inputs from ctx.</summary>
    public abstract void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y);

    /// <summary>
    /// Given dy = dL/dy, writes the parameter gradients into ctx.Grads (overwriting) and, when
    /// ctx.InputGradient, dx = dL/dx (overwriting, or adding with ctx.AddsInputGradient). Runs after Forward on the same batch and state.
    /// </summary>
    public abstract void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx);

    /// <summary>
    /// The layer as ONNX nodes over <paramref name="inputs"/> (value names; spatial tensors are NCHW inside the
    /// graph, flat ones [N, F]); returns the output's name.
    /// </summary>
    public abstract string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs);

    /// <summary>Parameter values in the weights file's layout (PyTorch's); identity unless a layer stores them otherwise.</summary>
    public virtual void ToFileLayout(int parameter, ReadOnlySpan<float> values, Span<float> file) => values.CopyTo(file);

    public virtual void FromFileLayout(int parameter, ReadOnlySpan<float> file, Span<float> values) => file.CopyTo(values);

    public override string ToString() => $"{Name} ({Kind.Name})";
}

/// <summary>What a layer sees at run time: batch, mode, kernels, its parameters and gradients, its scratch state, its inputs.</summary>
public sealed class LayerContext
{
    public required Backend Kernels { get; init; }
    /// <summary>Values, in the order of <see cref="Layer.Parameters"/>.</summary>
    public required float[][] Params { get; init; }
    /// <summary>Gradients, same order; null for non-trainable parameters.</summary>
    public required float[]?[] Grads { get; init; }
    public required Rng Random { get; init; }
    public object? State { get; init; }
    /// <summary>Examples in this pass (at most the capacity the state was made for).</summary>
    public int Batch { get; set; }
    public bool Training { get; set; }
    /// <summary>False when nobody needs dL/dx of the first input (the model's input, in training).</summary>
    public bool InputGradient { get; set; } = true;
    /// <summary>Backward adds dL/dx to what the first input's gradient holds (<see cref="Layer.CanAddInputGradient"/>): other readers' shares.</summary>
    public bool AddsInputGradient { get; set; }
    /// <summary>
    /// dy is already the gradient before this layer's own activation: the loss differentiated through a final softmax or
    /// sigmoid, or the max pooling after a relu kept only positive maxima (Planning/Fusion.cs).
    /// </summary>
    public bool PreActivationGradient { get; set; }

    /// <summary>
    /// Training, set by the plan: the buffer dy comes in, which nothing reads once this layer's backward has run, so the layer may
    /// write over it (an epilogue's dz, element by element over the dy it is made from). Null where the caller keeps dy.
    /// </summary>
    public float[]? WritableOutputGradient { get; set; }

    /// <summary>Every input's buffer (the plan's), for layers with several inputs; sized per example by <see cref="InputSizes"/>.</summary>
    internal float[][] InputBuffers { get; set; } = [];
    internal int[] InputSizes { get; set; } = [];
    /// <summary>Where each input's gradient goes; empty when it is not needed.</summary>
    internal float[][] InputGradientBuffers { get; set; } = [];

    public int InputCount => InputBuffers.Length;

    /// <summary>Input i of this pass: (Batch, InputSizes[i]).</summary>
    public ReadOnlySpan<float> InputOf(int i) => InputBuffers[i].AsSpan(0, Batch * InputSizes[i]);

    /// <summary>Where dL/d(input i) goes (overwritten); empty when no one needs it.</summary>
    public Span<float> GradientOf(int i) =>
        InputGradientBuffers[i].Length == 0 ? default : InputGradientBuffers[i].AsSpan(0, Batch * InputSizes[i]);
}

/// <summary>Reports shape problems of one layer, located at the option that causes them.</summary>
public sealed class ShapeCheck(Layer layer, DiagnosticBag diagnostics)
{
    public string Layer => $"{layer.Kind.Name} layer '{layer.Name}'";

    public SourceSpan At(string? option) =>
        option is not null && layer.OptionSpans.TryGetValue(option, out var span) ? span : layer.Span;

    public void Error(string id, string? option, string message, string? hint = null) =>
        diagnostics.Error(id, At(option), $"{Layer}: {message}", hint);

    public void Warning(string id, string? option, string message, string? hint = null) =>
        diagnostics.Warning(id, At(option), $"{Layer}: {message}", hint);

    /// <summary>The common check of layers that need height x width x channels.</summary>
    public bool NeedsSpatial(Shape input)
    {
        if (!input.IsFlat) return true;
        Error(DiagnosticIds.WrongInputRank, null, $"needs an input of height x width x channels, but gets a flat vector of {input.Channels}",
            "move this layer before the flatten (or global pooling) layer, or give the model an input shape [height, width, channels]");
        return false;
    }
}
