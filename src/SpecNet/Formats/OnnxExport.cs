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
        if (p.Bgr && channels == 3) x = g.Node("Gather", [x, g.Constant("channel_order", [3], [2, 1, 0], int64: true)], Attr.Int("axis", spatial ? 3 : 1));
        x = g.Node("Mul", [x, g.Scalar(p.Scale)]);
        if (p.Mean.Any(m => m != 0)) x = g.Node("Sub", [x, g.Constant("mean", [p.Mean.Length], p.Mean)]);
        if (p.Std.Any(v => v != 1)) x = g.Node("Div", [x, g.Constant("std", [p.Std.Length], p.Std)]);
        if (spatial) x = g.Node("Transpose", [x], Attr.Ints("perm", 0, 3, 1, 2));
        foreach (var layer in model.Layers)
            (x, spatial) = Layer(g, layer, x, spatial);
        if (spatial) x = g.Node("Transpose", [x], Attr.Ints("perm", 0, 2, 3, 1));
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
            .String(6, $"{model.Name}: input '{InputName}' float32 {(model.Input.IsFlat ? "[batch, features]" : "[batch, height, width, channels] (NHWC)")}, raw 8-bit values 0..255 (the spec's preprocessing is in the graph); output '{OutputName}'.")
            .Message(7, graph)
            .Message(8, new Protobuf().String(1, "").Int(2, Opset));
        foreach (var (k, v) in new Dictionary<string, string>
        {
            ["spec_hash"] = model.StructuralHash, ["spec_name"] = model.Name, ["specnet_version"] = WeightsFile.Version,
            ["input_layout"] = model.Input.IsFlat ? "NF" : "NHWC", ["input_values"] = "raw 8-bit values 0..255 as float32", ["preprocess"] = p.Describe(),
            ["labels"] = model.Data?.Labels is { } names ? string.Join(",", names) : "", ["spec"] = model.SourceText,
        })
            m.Message(14, new Protobuf().String(1, k).String(2, v));
        return m.ToArray();
    }

    private static (string, bool) Layer(Graph g, Layer layer, string x, bool spatial)
    {
        switch (layer)
        {
            case Conv2D c:
            {
                var inputs = new List<string> { x, g.Weight(layer, 0) };
                if (c.UseBias) inputs.Add(g.Weight(layer, 1));
                var y = g.Node("Conv", inputs,
                    Attr.Ints("kernel_shape", c.KernelSize.H, c.KernelSize.W), Attr.Ints("strides", c.Strides.H, c.Strides.W),
                    Attr.Ints("dilations", c.Dilation.H, c.Dilation.W), Attr.Ints("pads", Pads(c.Rows, c.Cols)));
                return (Activation(g, c.Activation, y), true);
            }
            case MaxPool2D p:
                return (g.Node("MaxPool", [x], Attr.Ints("kernel_shape", p.PoolSize.H, p.PoolSize.W), Attr.Ints("strides", p.Strides.H, p.Strides.W),
                    Attr.Ints("pads", Pads(p.Rows, p.Cols))), true);
            case AvgPool2D p:
                return (g.Node("AveragePool", [x], Attr.Ints("kernel_shape", p.PoolSize.H, p.PoolSize.W), Attr.Ints("strides", p.Strides.H, p.Strides.W),
                    Attr.Ints("pads", Pads(p.Rows, p.Cols)), Attr.Int("count_include_pad", 0)), true);
            case GlobalAvgPool2D:
                return (g.Node("Flatten", [g.Node("GlobalAveragePool", [x])], Attr.Int("axis", 1)), false);
            case GlobalMaxPool2D:
                return (g.Node("Flatten", [g.Node("GlobalMaxPool", [x])], Attr.Int("axis", 1)), false);
            case Flatten:
                // NCHW flattened is (channel, row, column) order: SpecNet's flatten order.
                return (spatial ? g.Node("Flatten", [x], Attr.Int("axis", 1)) : x, false);
            case Dense d:
            {
                var inputs = new List<string> { x, g.Weight(layer, 0) };
                if (d.UseBias) inputs.Add(g.Weight(layer, 1));
                return (Activation(g, d.Activation, g.Node("Gemm", inputs, Attr.Int("transB", 1))), false);
            }
            case Dropout:
                return (x, spatial); // inference: identity
            case BatchNorm b:
                return (g.Node("BatchNormalization", [x, g.Weight(layer, 0), g.Weight(layer, 1), g.Weight(layer, 2), g.Weight(layer, 3)],
                    Attr.Float("epsilon", b.Epsilon)), spatial);
            case ActivationLayer a:
                return (Activation(g, a.Activation, x), spatial);
            default:
                throw new SpecNetException($"layer '{layer.Name}' ({layer.Kind.Name}) has no ONNX mapping");
        }
    }

    /// <summary>The activation as ONNX nodes; channels are axis 1 in NCHW and in [batch, features] alike.</summary>
    private static string Activation(Graph g, Activation a, string x) => a.Function switch
    {
        ActivationFunction.Linear => x,
        ActivationFunction.Relu => g.Node("Relu", [x]),
        ActivationFunction.LeakyRelu => g.Node("LeakyRelu", [x], Attr.Float("alpha", a.Alpha)),
        ActivationFunction.Elu => g.Node("Elu", [x], Attr.Float("alpha", a.Alpha)),
        ActivationFunction.Sigmoid => g.Node("Sigmoid", [x]),
        ActivationFunction.Tanh => g.Node("Tanh", [x]),
        ActivationFunction.Softmax => g.Node("Softmax", [x], Attr.Int("axis", 1)),
        ActivationFunction.Silu => g.Node("Mul", [x, g.Node("Sigmoid", [x])]),
        // gelu(x) = 0.5 x (1 + erf(x / sqrt 2)); opset 17 has Erf but not Gelu
        ActivationFunction.Gelu => g.Node("Mul", [g.Node("Mul", [x, g.Node("Add", [g.Node("Erf", [g.Node("Div", [x, g.Scalar(MathF.Sqrt(2))])]), g.Scalar(1)])]), g.Scalar(0.5f)]),
        _ => throw new SpecNetException($"activation {a.Name} has no ONNX mapping"),
    };

    /// <summary>[top, left, bottom, right]: the smaller half of 'same' padding first (SAME_UPPER).</summary>
    private static long[] Pads(Window rows, Window cols)
    {
        static int After(Window w) => Math.Max(0, (w.Output - 1) * w.Stride + w.Dilated - w.Input - w.PadBefore);
        return [rows.PadBefore, cols.PadBefore, After(rows), After(cols)];
    }

    private static Protobuf ValueInfo(string name, int[] dims)
    {
        var shape = new Protobuf().Message(1, new Protobuf().String(2, "batch"));
        foreach (var d in dims) shape.Message(1, new Protobuf().Int(1, d));
        var tensorType = new Protobuf().Int(1, 1).Message(2, shape); // elem_type FLOAT
        return new Protobuf().String(1, name).Message(2, new Protobuf().Message(1, tensorType));
    }

    private static class Attr
    {
        // AttributeProto: name 1, f 2, i 3, ints 8, type 20 (FLOAT 1, INT 2, INTS 7)
        public static Protobuf Int(string name, long value) => new Protobuf().String(1, name).Int(3, value).Int(20, 2);
        public static Protobuf Float(string name, float value) => new Protobuf().String(1, name).Float(2, value).Int(20, 1);
        public static Protobuf Ints(string name, params long[] values) => new Protobuf().String(1, name).Ints(8, values).Int(20, 7);
    }

    /// <summary>Nodes and initializers in order, with generated value names.</summary>
    private sealed class Graph(ParameterSet parameters)
    {
        public readonly List<Protobuf> Nodes = [];
        public readonly List<Protobuf> Initializers = [];
        private int _next;
        private readonly HashSet<string> _scalars = [];

        public string Node(string op, IReadOnlyList<string> inputs, params Protobuf[] attributes) => Node(op, inputs, null, attributes);

        public string Node(string op, IReadOnlyList<string> inputs, string? output, params Protobuf[] attributes)
        {
            var name = output ?? $"{op.ToLowerInvariant()}_{++_next}";
            var node = new Protobuf();
            foreach (var i in inputs) node.String(1, i);
            node.String(2, name).String(3, name).String(4, op);
            foreach (var a in attributes) node.Message(5, a);
            Nodes.Add(node);
            return name;
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

        public string Constant(string name, int[] dims, float[] values, bool int64 = false)
        {
            if (!_scalars.Add(name)) return name;
            if (!int64) { Initializers.Add(Tensor(name, dims, values)); return name; }
            var raw = new byte[values.Length * 8];
            for (int i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(raw.AsSpan(i * 8), (long)values[i]);
            Initializers.Add(new Protobuf().Ints(1, dims.Select(d => (long)d)).Int(2, 7).String(8, name).Bytes(9, raw)); // INT64
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
