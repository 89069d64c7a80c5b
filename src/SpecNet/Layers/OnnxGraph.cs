namespace SpecNet.Layers;

/// <summary>An attribute of an ONNX node: one int, one float, a list of ints, or a string.</summary>
public sealed record OnnxAttribute(string Name, long? Int = null, float? Float = null, long[]? Ints = null, string? Text = null)
{
    public static OnnxAttribute Of(string name, string value) => new(name, Text: value);
    public static OnnxAttribute Of(string name, long value) => new(name, Int: value);
    public static OnnxAttribute Of(string name, float value) => new(name, Float: value);
    public static OnnxAttribute Of(string name, params long[] values) => new(name, Ints: values);
}

/// <summary>
/// What a layer needs to lower itself to ONNX (<see cref="Layer.ToOnnx"/>); Formats/OnnxExport writes the
/// protobuf. Value names are strings; spatial tensors are NCHW inside the graph, flat ones [N, F].
/// </summary>
public interface IOnnxGraph
{
    /// <summary>Adds a node; returns the name of its (single) output.</summary>
    string Node(string op, IReadOnlyList<string> inputs, params OnnxAttribute[] attributes);

    /// <summary>Parameter <paramref name="index"/> of <paramref name="layer"/> as an initializer, in the weights file's layout and name.</summary>
    string Weight(Layer layer, int index);

    /// <summary>A float constant of the given shape (named; added once).</summary>
    string Constant(string name, int[] dims, float[] values);

    /// <summary>An int64 constant (shapes, axes, indices).</summary>
    string Int64Constant(string name, long[] values);

    /// <summary>A float scalar constant.</summary>
    string Scalar(float value);
}
