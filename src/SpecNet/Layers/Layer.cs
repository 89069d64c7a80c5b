using SpecNet.Diagnostics;
using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// A layer kind as the spec language knows it: its YAML name, what it does, its options, and how to
/// build a layer from them. All kinds are listed once in <see cref="LayerRegistry"/>.
/// </summary>
public sealed record LayerKind(string Name, string Summary, IReadOnlyList<OptionInfo> Options, Func<OptionReader, Layer> Create);

/// <summary>How a parameter tensor starts: Keras's defaults (Glorot-uniform kernels, zero biases, ones for gamma).</summary>
public enum Init { GlorotUniform, Zeros, Ones }

/// <summary>
/// One parameter tensor of a layer. <see cref="Shape"/> is the layout in memory and in the weights file.
/// Glorot's fans are given explicitly because they depend on the layer (a conv kernel's receptive field).
/// </summary>
public sealed record ParameterSpec(string Suffix, int[] Shape, bool Trainable, Init Init, int FanIn = 0, int FanOut = 0)
{
    public int Size => checked((int)LongSize);
    public long LongSize => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// The contract every layer keeps (as Caffe's): bound from its options, it infers its output shape from
/// its input shape (reporting problems at the offending YAML key), declares its parameters, and runs
/// forward and backward on a batch. One kind per file, in that order.
/// </summary>
public abstract class Layer
{
    /// <summary>The spec name, e.g. conv2d_1 or the user's own.</summary>
    public string Name { get; internal set; } = "";
    public LayerKind Kind { get; internal set; } = null!;
    /// <summary>Where the layer's kind key is in the spec.</summary>
    public SourceSpan Span { get; internal set; }
    internal IReadOnlyDictionary<string, SourceSpan> OptionSpans { get; set; } = new Dictionary<string, SourceSpan>();

    public Shape Input { get; private set; }
    public Shape Output { get; private set; }

    /// <summary>Parameters per example shape, known once the input shape is.</summary>
    public virtual IReadOnlyList<ParameterSpec> Parameters => [];

    /// <summary>Multiply-accumulates per example in the forward pass (conv and dense; 0 for cheap layers).</summary>
    public virtual long Macs => 0;

    public long ParameterCount => Parameters.Sum(p => (long)p.Size);
    public long TrainableCount => Parameters.Where(p => p.Trainable).Sum(p => (long)p.Size);

    /// <summary>Infers the output shape; null (with diagnostics) when the input does not fit.</summary>
    protected abstract Shape? InferShape(Shape input, ShapeCheck check);

    /// <summary>Largest tensor SpecNet plans for: 2^28 floats (1 GiB) per example or per parameter.</summary>
    public const long MaxValues = 1L << 28;

    internal bool Connect(Shape input, DiagnosticBag diagnostics)
    {
        Input = input;
        var check = new ShapeCheck(this, diagnostics);
        var output = InferShape(input, check);
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

    /// <summary>Options as a canonical text, part of the spec's structural hash.</summary>
    public abstract string Describe();

    /// <summary>Floats of scratch per example that <see cref="CreateState"/> allocates (the largest buffer), for memory planning.</summary>
    public virtual long ScratchValues => 0;

    /// <summary>
    /// Scratch kept between forward and backward (masks, indices, im2col columns), for up to
    /// <paramref name="capacity"/> examples; what only backward needs is left out when not <paramref name="training"/>.
    /// </summary>
    public virtual object? CreateState(int capacity, bool training) => null;

    /// <summary>y = layer(x) for ctx.Batch examples. x: (N, Input), y: (N, Output), NHWC.</summary>
    public abstract void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y);

    /// <summary>
    /// Given dy = dL/dy, writes the parameter gradients into ctx.Grads (overwriting) and, when
    /// ctx.InputGradient, dx = dL/dx. Runs after Forward on the same batch and state.
    /// </summary>
    public abstract void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx);

    /// <summary>Parameter values in the weights file's layout (PyTorch's); identity unless a layer stores them otherwise.</summary>
    public virtual void ToFileLayout(int parameter, ReadOnlySpan<float> values, Span<float> file) => values.CopyTo(file);

    public virtual void FromFileLayout(int parameter, ReadOnlySpan<float> file, Span<float> values) => file.CopyTo(values);

    public override string ToString() => $"{Name} ({Kind.Name})";
}

/// <summary>What a layer sees at run time: batch, mode, kernels, its parameters and gradients, and its scratch state.</summary>
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
    /// <summary>False for the first layer: nobody needs dL/dx of the input.</summary>
    public bool InputGradient { get; set; } = true;
    /// <summary>dy is already the gradient before the final softmax/sigmoid (the loss fused them).</summary>
    public bool FusedLossGradient { get; set; }
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
