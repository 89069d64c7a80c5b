using SpecNet.Diagnostics;
using System.Globalization;
using SpecNet.Checking;
using SpecNet.Layers;
using SpecNet.Planning;
using SpecNet.Schema;

namespace SpecNet.Formats;

/// <summary>
/// Writes a model as ONNX (opset <see cref="Opset"/>), for any ONNX runtime.
/// Input "input": float32 [batch, height, width, channels] (NHWC, as SpecNet runs and as Keras users write
/// shapes), raw 8-bit values 0..255, or [batch, features] for a flat input; the spec's preprocessing
/// (scale, mean, std, channel order) is the graph's first nodes. Inside the graph it is
/// transposed to NCHW once, so every layer maps to one standard operator with PyTorch-layout weights.
/// Output "output": [batch, units] (or NHWC for a spatial output). Padding is written out explicitly
/// (pads = [top, left, bottom, right]), which is ONNX's SAME_UPPER split for 'same'; pooling uses floor
/// rounding, as Keras. metadata_props carry the spec hash, name, text and SpecNet version.
/// </summary>
public static class OnnxExport
{
    public const int Opset = 17;
    public const int IrVersion = 8;
    public const string InputName = "input", OutputName = "output";

    public static byte[] Build(ModelSpec model, ParameterSet parameters)
    {
        var g = new Graph(parameters);
        string x = InputName;
        bool spatial = !model.Input.IsFlat;
        // The spec's preprocessing, so the exported model takes what a user has: raw values 0..255.
        var p = model.Data?.Preprocessing ?? Preprocessing.Default;
        int channels = model.Input.Channels;
        if (p.Bgr && channels == 3) x = g.Node("Gather", [x, g.Int64Constant("channel_order", [2, 1, 0])], OnnxAttribute.Of("axis", spatial ? 3L : 1L));
        x = g.Node("Mul", [x, g.Scalar(p.Scale)]);
        if (p.Mean.Any(m => m != 0)) x = g.Node("Sub", [x, g.Constant("mean", [p.Mean.Length], p.Mean)]);
        if (p.Std.Any(v => v != 1)) x = g.Node("Div", [x, g.Constant("std", [p.Std.Length], p.Std)]);
        if (spatial) x = g.Node("Transpose", [x], OnnxAttribute.Of("perm", 0, 3, 1, 2));
        // Each layer lowers itself; values are named by the tensors they hold, in the plan's topological order.
        var values = new Dictionary<Layer, string>();
        foreach (var layer in model.Layers)
            values[layer] = layer.ToOnnx(g, layer.Sources.Select(s => s is null ? x : values[s]).ToList());
        x = values[model.Layers[^1]];
        if (!model.Output.IsFlat) x = g.Node("Transpose", [x], OnnxAttribute.Of("perm", 0, 2, 3, 1));
        g.Node("Identity", [x], output: OutputName);

        var graph = new Protobuf();
        foreach (var node in g.Nodes) graph.Message(1, node);
        graph.String(2, model.Name);
        foreach (var init in g.Initializers) graph.Message(5, init);
        graph.Message(11, ValueInfo(InputName, model.Input.IsFlat ? [model.Input.Size] : [model.Input.Height, model.Input.Width, model.Input.Channels]));
        graph.Message(12, ValueInfo(OutputName, model.Output.Dims));

        var m = new Protobuf()
            .Int(1, IrVersion)
            .String(2, "SpecNet")
            .String(3, WeightsFile.Version)
            .String(4, "specnet")
            .Int(5, 1)
            .String(6, $"{model.Name}: input '{InputName}' float32 {(model.Input.IsFlat ? "[batch, features]" : "[batch, height, width, channels] (NHWC)")}, {RawValues(model)} (the spec's preprocessing is in the graph); output '{OutputName}'.")
            .Message(7, graph)
            .Message(8, new Protobuf().String(1, "").Int(2, Opset));
        foreach (var (k, v) in new Dictionary<string, string>
        {
            ["spec_hash"] = model.StructuralHash, ["spec_name"] = model.Name, ["specnet_version"] = WeightsFile.Version,
            ["input_layout"] = model.Input.IsFlat ? "NF" : "NHWC", ["input_values"] = RawValues(model) + " as float32", ["preprocess"] = p.Describe(),
            ["labels"] = model.Data?.Labels is { } names ? string.Join(",", names) : "", ["spec"] = model.SourceText,
            ["input_size"] = $"{model.Input}: the graph takes this size only" +
                (model.Data?.Resize is { } resize ? $"; the model was trained on images resized ({resize}) to it: resize inputs the same way before running it" : ""),
        })
            m.Message(14, new Protobuf().String(1, k).String(2, v));
        return m.ToArray();
    }

    /// <summary>
    /// What the input takes, before the graph's preprocessing: an image's 8-bit pixels, or a vector's values as its data holds
    /// them (pixels, or a CSV's features as written). Starts with "raw": import reads that as "the preprocessing is inside".
    /// </summary>
    private static string RawValues(ModelSpec model) =>
        model.Input.IsFlat ? "raw values as the data holds them (8-bit pixels, or a CSV's features as written)" : "raw 8-bit values 0..255";

    private static Protobuf ValueInfo(string name, int[] dims)
    {
        var shape = new Protobuf().Message(1, new Protobuf().String(2, "batch"));
        foreach (var d in dims) shape.Message(1, new Protobuf().Int(1, d));
        var tensorType = new Protobuf().Int(1, 1).Message(2, shape); // elem_type FLOAT
        return new Protobuf().String(1, name).Message(2, new Protobuf().Message(1, tensorType));
    }

    /// <summary>Nodes and initializers in order, with generated value names.</summary>
    private sealed class Graph(ParameterSet parameters) : IOnnxGraph
    {
        public readonly List<Protobuf> Nodes = [];
        public readonly List<Protobuf> Initializers = [];
        private int _next;
        private readonly HashSet<string> _scalars = [];

        public string Node(string op, IReadOnlyList<string> inputs, params OnnxAttribute[] attributes) => Node(op, inputs, null, attributes);

        public string Node(string op, IReadOnlyList<string> inputs, string? output, params OnnxAttribute[] attributes)
        {
            var name = output ?? $"{op.ToLowerInvariant()}_{++_next}";
            var node = new Protobuf();
            foreach (var i in inputs) node.String(1, i);
            node.String(2, name).String(3, name).String(4, op);
            foreach (var a in attributes) node.Message(5, Attribute(a));
            Nodes.Add(node);
            return name;
        }

        /// <summary>AttributeProto: name 1, f 2, i 3, s 4, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, INTS 7).</summary>
        private static Protobuf Attribute(OnnxAttribute a)
        {
            var p = new Protobuf().String(1, a.Name);
            if (a.Float is { } f) return p.Float(2, f).Int(20, 1);
            if (a.Int is { } i) return p.Int(3, i).Int(20, 2);
            if (a.Text is { } s) return p.String(4, s).Int(20, 3);
            return p.Ints(8, a.Ints!).Int(20, 7);
        }

        /// <summary>A parameter as an initializer, in the weights file's (PyTorch's) layout, named as in the weights file.</summary>
        public string Weight(Layer layer, int index)
        {
            var slot = parameters.Of(layer)[index];
            var data = new float[slot.Value.Length];
            layer.ToFileLayout(index, slot.Value, data);
            Initializers.Add(Tensor(slot.Name, slot.Spec.Shape, data));
            return slot.Name;
        }

        public string Constant(string name, int[] dims, float[] values)
        {
            if (_scalars.Add(name)) Initializers.Add(Tensor(name, dims, values));
            return name;
        }

        public string Int64Constant(string name, long[] values)
        {
            if (!_scalars.Add(name)) return name;
            var raw = new byte[values.Length * 8];
            for (int i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(raw.AsSpan(i * 8), values[i]);
            Initializers.Add(new Protobuf().Ints(1, [values.Length]).Int(2, 7).String(8, name).Bytes(9, raw)); // INT64
            return name;
        }

        public string Scalar(float value)
        {
            var name = "const_" + value.ToString("R", CultureInfo.InvariantCulture);
            if (_scalars.Add(name)) Initializers.Add(Tensor(name, [], [value]));
            return name;
        }

        private static Protobuf Tensor(string name, int[] dims, float[] data)
        {
            // TensorProto: dims 1, data_type 2 (FLOAT = 1), name 8, raw_data 9 (little-endian)
            var raw = new byte[data.Length * 4];
            for (int i = 0; i < data.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * 4), data[i]);
            return new Protobuf().Ints(1, dims.Select(d => (long)d)).Int(2, 1).String(8, name).Bytes(9, raw);
        }
    }
}
