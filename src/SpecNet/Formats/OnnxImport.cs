using System.Globalization;
using System.Text;
using SpecNet.Diagnostics;
using SpecNet.Checking;
using SpecNet.Parsing;
using SpecNet.Planning;
using SpecNet.Schema;

namespace SpecNet.Formats;

/// <summary>How the importer should describe the model's input, where the ONNX file cannot say (a PyTorch model trained on [0, 1] pixels: scale 1/255).</summary>
public sealed record ImportOptions(string? Name = null, float? Scale = null, float[]? Mean = null, float[]? Std = null, bool? Bgr = null)
{
    /// <summary>Use the spec a SpecNet export carries when its weights match (off: translate the graph like any other; tests use it).</summary>
    public bool UseEmbeddedSpec { get; init; } = true;
}

/// <summary>How the ONNX model's input is laid out: raw pixels (SpecNet's export), preprocessed NCHW (PyTorch) or NHWC (TensorFlow), or a flat vector.</summary>
public enum OnnxInputLayout { RawNhwc, Nchw, Nhwc, Flat }

/// <summary>What an import produced: the spec's text, the model it compiles to, its weights, and the ONNX input's name and layout (to run both on the same inputs).</summary>
/// <param name="LogOutput">The ONNX model ends in LogSoftmax, imported as softmax: its outputs are the log of the imported model's.</param>
public sealed record ImportResult(string SpecText, ModelSpec Model, ParameterSet Parameters, IReadOnlyList<string> Notes,
    string InputName, OnnxInputLayout InputLayout, string OutputName, bool LogOutput = false);

/// <summary>An ONNX graph SpecNet's layers cannot express: the node, its op and why.</summary>
public sealed class UnsupportedModelException(string message, string hint) : Exception(message)
{
    public string Hint { get; } = hint;
}

/// <summary>
/// Turns an ONNX model into a spec and weights, one node at a time in the graph's order, folding what is
/// equivalent rather than refusing it: a Pad before a Conv (TensorFlow-style 'same'), an activation into
/// the layer before it, MatMul + Add into one dense layer, Flatten after global pooling, a Transpose to
/// channels-last before a flatten (folded into the next dense layer's weights), Shape/Gather/Concat
/// arithmetic feeding a Reshape, Identity and Dropout. ONNX models from PyTorch are NCHW; SpecNet runs
/// NHWC, which needs no conversion of weights (PyTorch's layouts are SpecNet's file layouts), only of
/// the flatten order. A model SpecNet exported carries its spec: when its graph matches, that spec (with
/// its blocks and names) is used as is. Anything else is an error naming the node, its op and what is
/// supported.
/// </summary>
public static class OnnxImport
{
    public static readonly IReadOnlyList<string> Supported =
    [
        "Conv", "BatchNormalization", "LayerNormalization (over a flat input's features, or channels-last)", "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Softmax", "LogSoftmax (ending the model: as softmax)", "Add", "Sub", "Mul", "Sum", "Mean", "Max", "Min",
        "Concat", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "Flatten", "Reshape", "Transpose", "Gemm", "MatMul",
        "Pad", "Identity", "Dropout", "Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Cast", "Div",
        "Clip", "HardSigmoid", "HardSwish", "Gelu", "Erf (in GELU's x * 0.5 * (1 + erf(x / sqrt 2)))",
    ];

    public static ImportResult Import(string path, ImportOptions options)
    {
        var onnx = OnnxModel.Read(path);
        var notes = new List<string>();
        var name = options.Name ?? Sanitize(Path.GetFileNameWithoutExtension(path));
        if (options.UseEmbeddedSpec && onnx.Metadata.TryGetValue("spec", out var embedded)
            && FromSpecNet(onnx, options.Name is null ? embedded : Renamed(embedded, options.Name), path, notes) is { } own) return own;
        var translation = new Translation(onnx, path, options, notes);
        var text = translation.Spec(name);
        var compilation = SpecCompiler.Compile(text, Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, name + ".yaml"));
        if (!compilation.Success)
            throw new SpecNetException($"{path}: the imported spec does not check (a bug in the importer):\n{compilation.Render()}");
        var model = compilation.Model!;
        return new ImportResult(text, model, Weights(model, translation.Tensors, path), notes, onnx.Inputs[0].Name, translation.InputLayout, onnx.Outputs[0].Name,
            translation.LogOutput);
    }

    /// <summary>A SpecNet export: its embedded spec, when the initializers are exactly that spec's weights.</summary>
    private static ImportResult? FromSpecNet(OnnxModel onnx, string text, string path, List<string> notes)
    {
        var model = SpecCompiler.Compile(text, path + "#spec").Model;
        if (model is null) return null;
        var tensors = onnx.Initializers.Values.Where(t => t.Floats.Length > 0).ToDictionary(t => t.Name, t => t);
        var slots = new ParameterSet(model).Slots;
        if (!slots.All(s => tensors.TryGetValue(s.Name, out var t) && t.Floats.Length == s.Value.Length)) return null;
        notes.Add("written by SpecNet: its embedded spec is used as is (blocks and names included)");
        return new ImportResult(text, model, Weights(model, tensors.ToDictionary(p => p.Key, p => p.Value.Floats), path), notes,
            onnx.Inputs[0].Name, OnnxInputLayout.RawNhwc, onnx.Outputs[0].Name);
    }

    /// <summary>
    /// Spec text with its top-level name set to <paramref name="name"/> (--name on a SpecNet export), its comments and layout
    /// kept: the value of `name:` replaced where it is written, or a `name:` line put first.
    /// </summary>
    internal static string Renamed(string text, string name)
    {
        var value = name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.') ? name : System.Text.Json.JsonSerializer.Serialize(name);
        var root = SpecParser.Parse(text, new DiagnosticBag()) as MappingNode;
        if (root?.Entries.FirstOrDefault(e => e.Key.Value == "name")?.Value is not ScalarNode { Span: var at } || at.Line != at.EndLine || at.IsNone)
            return $"name: {value}\n" + text;
        var lines = text.Split('\n');
        var line = lines[at.Line - 1];
        lines[at.Line - 1] = line[..(at.Column - 1)] + value + line[(at.EndColumn - 1)..];
        return string.Join('\n', lines);
    }

    /// <summary>The parameters from tensors in the weights file's layout, named as in a weights file.</summary>
    private static ParameterSet Weights(ModelSpec model, IReadOnlyDictionary<string, float[]> tensors, string path)
    {
        var set = new ParameterSet(model);
        foreach (var slot in set.Slots)
        {
            if (!tensors.TryGetValue(slot.Name, out var file) || file.Length != slot.Value.Length)
                throw new SpecNetException($"{path}: no weights of the right size for {slot.Name} (a bug in the importer)");
            slot.Layer.FromFileLayout(slot.Index, file, slot.Value);
        }
        return set;
    }

    internal static string Sanitize(string s)
    {
        var clean = new string(s.Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '_').ToArray()).Trim('_');
        if (clean.Length == 0 || clean is "input" or "previous") clean = "model";
        return clean.Length > 64 ? clean[..64] : clean;
    }

    /// <summary>
    /// How a value is laid out: the raw NHWC input, NCHW (PyTorch's spatial tensors), flat, [N, C, 1, 1] after global pooling, NHWC
    /// (features about to be flattened channel-last, or a channels-last stretch of PyTorch's: LayerNorm, Linear), or [N, 1, 1, C]
    /// (a pooled vector permuted so: ConvNeXt's classifier's LayerNorm2d).
    /// </summary>
    private enum Layout { RawNhwc, Nchw, Flat, Pooled, ChannelsLast, PooledChannelsLast }


    /// <summary>A value of the ONNX graph: a constant, the model input (entry -1), or an entry's output; a flat value may carry the feature order its dense reader must use.</summary>
    private sealed record Value(Layout Layout, Shape Shape, int Entry = -1, ConstantTensor? Constant = null, int[]? Permutation = null)
    {
        public bool IsConstant => Constant is not null;
        public float[]? Floats => Constant?.Floats;
        public long[]? Ints => Constant?.Ints;
        public long[]? Dims => Constant?.Dims;
    }

    /// <summary>One layer of the spec being written: its kind, options (YAML text), what it reads, its weights (file layout).</summary>
    private sealed class Entry(string kind)
    {
        public string Kind { get; set; } = kind;
        public string? Name;
        public readonly List<(string Key, string Value)> Options = [];
        public List<int> Inputs = [];          // entries read (-1: the model input)
        public readonly Dictionary<string, float[]> Weights = [];
        public Shape Output;
        public long[]? Pads;                   // zero_padding2d: [top, left, bottom, right]
        public bool Removed;
        public int Readers;
        public string DefaultName = "";
        public string Id => Name ?? DefaultName;
        public void Set(string key, string value) { Options.RemoveAll(o => o.Key == key); Options.Add((key, value)); }
        public string? Get(string key) => Options.FirstOrDefault(o => o.Key == key).Value;
    }

    private sealed class Translation
    {
        private readonly OnnxModel _onnx;
        private readonly string _path;
        private readonly List<string> _notes;
        private readonly Dictionary<string, Value> _values = [];
        private readonly List<Entry> _entries = [];
        private readonly HashSet<string> _names = [];
        private Shape _input;
        private float _scale;
        private float[] _mean = [0], _std = [1];
        private bool _bgr;
        private readonly ImportOptions _options;
        private string _output = "";

        /// <summary>The input takes raw 8-bit values and the graph's first nodes preprocess them (SpecNet's export).</summary>
        private bool _rawInput;

        public OnnxInputLayout InputLayout => _rawInput ? OnnxInputLayout.RawNhwc : _values[_onnx.Inputs[0].Name].Layout switch
        {
            Layout.Flat => OnnxInputLayout.Flat, Layout.ChannelsLast => OnnxInputLayout.Nhwc, _ => OnnxInputLayout.Nchw,
        };

        public Translation(OnnxModel onnx, string path, ImportOptions options, List<string> notes)
        {
            (_onnx, _path, _options, _notes) = (onnx, path, options, notes);
            _scale = options.Scale ?? 1f / 255;
            if (options.Mean is { } m) _mean = m;
            if (options.Std is { } s) _std = s;
            _bgr = options.Bgr ?? false;
            if (onnx.Inputs.Count != 1 || onnx.Outputs.Count != 1)
                throw new SpecNetException($"{path}: the model has {onnx.Inputs.Count} inputs and {onnx.Outputs.Count} outputs; SpecNet imports one of each");
            foreach (var (key, t) in onnx.Initializers) _values[key] = Constant(ConstantTensor.Of(t));
            Input(onnx.Inputs[0]);
            // a vector input is a flattened image (PyTorch's MNIST MLPs take x.view(-1, 784) of ToTensor's pixels) or features: said, not guessed
            if (options.Scale is null && !_rawInput && _input.IsFlat)
                _notes.Add($"the input is a vector of {_input.Size}, read as 8-bit pixels scaled by 1/255 (torchvision's ToTensor); for features taken as they are, import with --scale 1");
            _output = onnx.Outputs[0].Name;
            foreach (var node in onnx.Nodes) Node(node);
            if (!_values.TryGetValue(_output, out var result) || result.IsConstant || result.Entry < 0)
                throw new SpecNetException($"{path}: the output '{_output}' is not computed by a layer SpecNet can express");
            var live = _entries.Where(e => !e.Removed).ToList();
            if (live[^1] != _entries[result.Entry])
                throw new SpecNetException($"{path}: the output '{_output}' is not the last layer's; SpecNet's model output is its last layer");
        }

        /// <summary>The weights by tensor name, as a weights file holds them.</summary>
        public Dictionary<string, float[]> Tensors => _entries.Where(e => !e.Removed)
            .SelectMany(e => e.Weights.Select(w => (Name: $"{e.Id}.{w.Key}", w.Value))).ToDictionary(p => p.Name, p => p.Value);

        private static Value Constant(ConstantTensor t) => new(Layout.Flat, default, Constant: t);

        private void Input(OnnxValue input)
        {
            var d = input.Dims;
            _rawInput = _onnx.Metadata.GetValueOrDefault("input_values", "").StartsWith("raw", StringComparison.Ordinal) && _onnx.Metadata.ContainsKey("preprocess");
            if (_rawInput) ReadPreprocessing(_onnx.Metadata["preprocess"]);
            if (d.Length == 4 && d.Skip(1).All(v => v > 0))
            {
                // channels last: SpecNet's export says so; TensorFlow's exports transpose such an input to NCHW at once
                bool nhwc = _onnx.Metadata.GetValueOrDefault("input_layout") == "NHWC"
                    || d[3] is 1 or 3 && d[1] is not (1 or 3) && _onnx.Nodes.Any(n => n.Op == "Transpose" && n.Inputs.Contains(input.Name));
                _input = nhwc ? Shape.Spatial((int)d[1], (int)d[2], (int)d[3]) : Shape.Spatial((int)d[2], (int)d[3], (int)d[1]);
                _values[input.Name] = new Value(nhwc ? _rawInput ? Layout.RawNhwc : Layout.ChannelsLast : Layout.Nchw, _input, -1);
            }
            else if (d.Length == 2 && d[1] > 0)
            {
                _input = Shape.Flat((int)d[1]);
                _values[input.Name] = new Value(Layout.Flat, _input, -1);
            }
            else throw new SpecNetException($"{_path}: the input '{input.Name}' has dims [{string.Join(", ", d)}]; SpecNet imports [batch, channels, height, width], [batch, height, width, channels] or [batch, features]",
                "export with a fixed input size (the batch may be dynamic)");
        }

        /// <summary>SpecNet's export states its preprocessing in the metadata; the graph's first nodes are then skipped.</summary>
        private void ReadPreprocessing(string text)
        {
            foreach (var part in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = part.Split('=', 2);
                float[] Floats() => kv[1].Trim('[', ']').Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray();
                switch (kv[0])
                {
                    case "scale" when _options.Scale is null: _scale = float.Parse(kv[1], CultureInfo.InvariantCulture); break;
                    case "mean" when _options.Mean is null: _mean = Floats(); break;
                    case "std" when _options.Std is null: _std = Floats(); break;
                    case "channel_order" when _options.Bgr is null: _bgr = kv[1] == "bgr"; break;
                }
            }
        }

        private Value Get(OnnxNode node, string name) => Get(node, node.Inputs.ToList().IndexOf(name));

        private Value Get(OnnxNode node, int i)
        {
            if (i >= node.Inputs.Count || node.Inputs[i].Length == 0) throw Unsupported(node, $"input {i + 1} is missing");
            return _values.TryGetValue(node.Inputs[i], out var v) ? v
                : throw new SpecNetException($"{_path}: {node.Describe} reads '{node.Inputs[i]}', which no earlier node writes (the graph has a cycle or is out of order)",
                    "export the model again; ONNX graphs list nodes in topological order");
        }

        private void Set(OnnxNode node, Value value) => _values[node.Outputs[0]] = value;

        private UnsupportedModelException Unsupported(OnnxNode node, string why) =>
            new($"{_path}: {node.Describe}: {why}", $"SpecNet imports these ops (with the layouts its layers express): {string.Join(", ", Supported)}");

        private Entry Add(Entry entry, params Value[] sources)
        {
            entry.Inputs = sources.Select(s => s.Entry).ToList();
            foreach (var s in sources.Where(s => s.Entry >= 0)) _entries[s.Entry].Readers++;
            _entries.Add(entry);
            return entry;
        }

        private Value Output(Entry entry, Layout layout, Shape shape)
        {
            entry.Output = shape;
            return new Value(layout, shape, _entries.IndexOf(entry));
        }

        /// <summary>A name for an entry from its weights' ONNX names ("features.0.conv.weight" -> features_0_conv).</summary>
        private void NameFrom(Entry entry, string tensor)
        {
            if (!tensor.Contains('.') || tensor.StartsWith("onnx::", StringComparison.Ordinal) || tensor.StartsWith('/')) return;   // '/...': a node's output, no parameter's name
            var name = Sanitize(tensor[..tensor.LastIndexOf('.')]);
            if (_names.Add(name)) entry.Name = name;
        }

        private static string F(double v) => ((float)v).ToString(CultureInfo.InvariantCulture).Replace('E', 'e');

        private float[] Floats(OnnxNode node, int i, long count)
        {
            var v = Get(node, i);
            if (v.Floats is not { } f || f.Length != count) throw Unsupported(node, $"input {i + 1} must be a constant of {count} values");
            return f;
        }

        private void Node(OnnxNode node)
        {
            if (node.Outputs.Count == 0 || _absorbed.Contains(node)) return;
            switch (node.Op)
            {
                case "Identity" or "Dropout" or "Cast": Set(node, Get(node, 0)); break;
                case "Constant":
                    var attr = node.Attributes.Values.FirstOrDefault(a => a.Tensor is not null) ?? throw Unsupported(node, "only tensor constants are supported");
                    Set(node, Constant(ConstantTensor.Of(attr.Tensor!)));
                    break;
                case "Shape" when !Get(node, 0).IsConstant: ShapeOf(node); break;
                case var op when OnnxConstants.Ops.Contains(op) && node.Inputs.Count > 0 && node.Inputs.Where(i => i.Length > 0).All(i => Get(node, i).IsConstant): Fold(node); break;
                case "Gather": Preprocess(node); break;
                case "Unsqueeze" when Get(node, 0).Layout == Layout.Flat && Get(node, 0).Entry >= 0: Unsqueeze(node); break;
                case "Conv" when Get(node, 0).Layout == Layout.Pooled: PointwiseOnVector(node); break;
                case "Squeeze" when Get(node, 0).Layout == Layout.Pooled: Set(node, Get(node, 0) with { Layout = Layout.Flat }); break;
                case "Concat": Merge(node, "concatenate"); break;
                case "Mul" or "Sub" or "Div" when IsRawInput(Get(node, 0)): Preprocess(node); break;
                case "Transpose": Transpose(node); break;
                case "Conv": Conv(node); break;
                case "Pad": Pad(node); break;
                case "BatchNormalization": BatchNorm(node); break;
                case "LayerNormalization": LayerNorm(node); break;
                case "Relu": Activation(node, "relu"); break;
                case "Sigmoid": Activation(node, "sigmoid"); break;
                case "Tanh": Activation(node, "tanh"); break;
                case "Softmax": Softmax(node); break;
                case "LogSoftmax": LogSoftmax(node); break;
                case "LeakyRelu": Activation(node, "leaky_relu", node.Float("alpha", 0.01f)); break;
                case "Clip": Clip(node); break;
                case "HardSigmoid": HardSigmoid(node); break;
                case "HardSwish": Activation(node, "hard_swish"); break;
                case "Gelu" when node.Text("approximate") is null or "none": Activation(node, "gelu"); break;
                case "Gelu": throw Unsupported(node, $"GELU's '{node.Text("approximate")}' approximation (SpecNet's gelu is the exact one, with erf)");
                case "Div" when Gelu(node): break;
                case "Elu": Activation(node, "elu", node.Float("alpha", 1f)); break;
                case "MaxPool": Pool(node, "max_pool2d"); break;
                case "AveragePool": Pool(node, "avg_pool2d"); break;
                case "GlobalAveragePool": GlobalPool(node, "global_avg_pool2d"); break;
                case "GlobalMaxPool": GlobalPool(node, "global_max_pool2d"); break;
                case "ReduceMean": ReduceMean(node); break;
                case "Flatten" or "Reshape": Flatten(node); break;
                case "Gemm": Gemm(node); break;
                case "MatMul": MatMul(node); break;
                case "Add" when Get(node, 1).IsConstant || Get(node, 0).IsConstant: Bias(node); break;
                case "Add": Merge(node, node.Inputs.Count == 2 ? "add" : throw Unsupported(node, "Add takes two inputs")); break;
                case "Sum": Merge(node, "add"); break;
                case "Sub": Merge(node, "subtract"); break;
                case "Mul" when GatedBy(node, "Sigmoid", "sigmoid", "silu") || GatedBy(node, "HardSigmoid", "hard_sigmoid", "hard_swish"): break;
                case "Mul" when Get(node, 1).IsConstant || Get(node, 0).IsConstant: Scale(node); break;
                case "Mul": Merge(node, "multiply"); break;
                case "Mean": Merge(node, "average"); break;
                case "Max": Merge(node, "maximum"); break;
                case "Min": Merge(node, "minimum"); break;
                default: throw Unsupported(node, "this op is not supported");
            }
        }

        /// <summary>The shape of a layer's output, in the layout the ONNX graph sees; the batch is <see cref="ConstantTensor.Batch"/>.</summary>
        private void ShapeOf(OnnxNode node)
        {
            var x = Get(node, 0);
            long[] dims = x.Layout switch
            {
                Layout.Flat => [ConstantTensor.Batch, x.Shape.Channels],
                Layout.Pooled => [ConstantTensor.Batch, x.Shape.Channels, 1, 1],
                Layout.PooledChannelsLast => [ConstantTensor.Batch, 1, 1, x.Shape.Channels],
                Layout.ChannelsLast or Layout.RawNhwc => [ConstantTensor.Batch, x.Shape.Height, x.Shape.Width, x.Shape.Channels],
                _ => [ConstantTensor.Batch, x.Shape.Channels, x.Shape.Height, x.Shape.Width],
            };
            var shape = new OnnxNode(node.Name, "Shape", [node.Inputs[0]], node.Outputs, node.Attributes);
            Set(node, Constant(OnnxConstants.Fold(shape, [new ConstantTensor(dims, null, [])], _onnx.Opset)!));
        }

        /// <summary>A node of constants (shape arithmetic, a weight transposed): evaluated now.</summary>
        private void Fold(OnnxNode node)
        {
            var inputs = node.Inputs.Select(i => i.Length == 0 ? null : Get(node, i).Constant).ToList();
            ConstantTensor? result;
            try { result = OnnxConstants.Fold(node, inputs, _onnx.Opset); }
            catch (ArgumentException e) { throw Unsupported(node, $"cannot evaluate it: {e.Message}"); }
            Set(node, Constant(result ?? throw Unsupported(node, "this op on constants is not supported")));
        }

        private bool IsRawInput(Value v) => _rawInput && v.Entry == -1 && !v.IsConstant;

        /// <summary>The raw input's preprocessing as SpecNet exports it (Gather for BGR, Mul, Sub, Div): already read from the metadata.</summary>
        private void Preprocess(OnnxNode node)
        {
            if (!IsRawInput(Get(node, 0)))
                throw Unsupported(node, "only SpecNet's own preprocessing nodes may precede the first layer");
            Set(node, Get(node, 0));
        }

        private void Transpose(OnnxNode node)
        {
            var x = Get(node, 0);
            var perm = node.Ints("perm") ?? [];
            if (x.Layout is Layout.RawNhwc or Layout.ChannelsLast && perm.SequenceEqual(new long[] { 0, 3, 1, 2 })) Set(node, x with { Layout = Layout.Nchw });
            else if (x.Layout == Layout.Nchw && perm.SequenceEqual(new long[] { 0, 2, 3, 1 })) Set(node, x with { Layout = Layout.ChannelsLast });
            else if (x.Layout == Layout.Pooled && perm.SequenceEqual(new long[] { 0, 2, 3, 1 })) Set(node, x with { Layout = Layout.PooledChannelsLast });
            else if (x.Layout == Layout.PooledChannelsLast && perm.SequenceEqual(new long[] { 0, 3, 1, 2 })) Set(node, x with { Layout = Layout.Pooled });
            else throw Unsupported(node, $"a transpose [{string.Join(", ", perm)}] of a {x.Layout} tensor (only to or from channels-last, or before a flatten)");
        }

        private Value Spatial(OnnxNode node)
        {
            var x = Get(node, 0);
            if (x.Layout != Layout.Nchw) throw Unsupported(node, $"its input is {(x.IsConstant ? "a constant" : x.Layout.ToString())}, not an NCHW image tensor");
            return x;
        }

        /// <summary>ONNX pads [top, left, bottom, right] against Keras's 'same' for this geometry.</summary>
        private static bool IsSame(long[] pads, Shape input, (int H, int W) kernel, (int H, int W) strides, (int H, int W) dilation)
        {
            var rows = Window.Of(input.Height, kernel.H, strides.H, dilation.H, Padding.Same);
            var cols = Window.Of(input.Width, kernel.W, strides.W, dilation.W, Padding.Same);
            return pads.SequenceEqual(Window.Pads(rows, cols));
        }

        private static string Pair((int H, int W) p) => p.H == p.W ? $"{p.H}" : $"[{p.H}, {p.W}]";

        private (long[] Pads, (int, int) Kernel, (int, int) Strides, (int, int) Dilation) Geometry(OnnxNode node, Shape input, (int, int) kernel)
        {
            var strides = node.Ints("strides") is { Length: 2 } s ? ((int)s[0], (int)s[1]) : (1, 1);
            var dilation = node.Ints("dilations") is { Length: 2 } d ? ((int)d[0], (int)d[1]) : (1, 1);
            var auto = node.Text("auto_pad") ?? "NOTSET";
            long[] pads = auto switch
            {
                "SAME_UPPER" => Window.Pads(Window.Of(input.Height, kernel.Item1, strides.Item1, dilation.Item1, Padding.Same),
                    Window.Of(input.Width, kernel.Item2, strides.Item2, dilation.Item2, Padding.Same)),
                "VALID" or "NOTSET" => node.Ints("pads") is { Length: 4 } p ? p : [0, 0, 0, 0],
                _ => throw Unsupported(node, $"auto_pad {auto} (SAME_LOWER puts the extra padding first, which Keras never does)"),
            };
            return (pads, kernel, strides, dilation);
        }

        /// <summary>A vector [N, C] made [N, C, 1, 1] (SpecNet's export of a squeeze-and-excitation gate): the same values, pooled.</summary>
        private void Unsqueeze(OnnxNode node)
        {
            if (!OverHeightAndWidth(node)) throw Unsupported(node, "an Unsqueeze of a vector to anything but [batch, channels, 1, 1]");
            Set(node, Get(node, 0) with { Layout = Layout.Pooled });
        }

        /// <summary>
        /// A 1x1 Conv of a pooled [N, C, 1, 1] (torchvision's squeeze-and-excitation: fc1 and fc2 are Conv2d(1x1) of the
        /// average-pooled map): a dense layer of its filters, still pooled, so that a Mul after it gates the map's channels.
        /// </summary>
        private void PointwiseOnVector(OnnxNode node)
        {
            var w = Get(node, 1);
            if (w.Floats is null || w.Dims is not [var units, var inputs, 1, 1] || node.Int("group", 1) != 1
                || node.Ints("strides") is { } st && st.Any(v => v != 1) || node.Ints("pads") is { } p && p.Any(v => v != 0))
                throw Unsupported(node, "a Conv of a pooled [batch, channels, 1, 1] other than a 1x1, ungrouped, unpadded one");
            var bias = node.Inputs.Count > 2 && node.Inputs[2].Length > 0 ? Get(node, 2).Floats : null;
            Dense(node, w.Floats, (int)inputs, (int)units, transposed: true, bias);
            Set(node, _values[node.Outputs[0]] with { Layout = Layout.Pooled });
        }

        private void Conv(OnnxNode node)
        {
            var x = Spatial(node);
            var w = Get(node, 1);
            if (w.Floats is null || w.Dims is not { Length: 4 } wd) throw Unsupported(node, "the kernel must be a constant [out, in/group, kh, kw]");
            int filters = (int)wd[0], group = (int)node.Int("group", 1), c = x.Shape.Channels;
            if (wd[1] * group != c) throw Unsupported(node, $"kernel [{string.Join(", ", wd)}] with group {group} does not fit {c} input channels");
            var (pads, kernel, strides, dilation) = Geometry(node, x.Shape, ((int)wd[2], (int)wd[3]));
            // a zero Pad read only by this Conv: the two together may be Keras's 'same'
            if (pads.All(p => p == 0) && OnlyReader(node, x) is { Kind: "zero_padding2d", Pads: { } padded } pad
                && IsSame(padded, InputShape(pad), kernel, strides, dilation))
            {
                pad.Removed = true;
                DropReader(pad);
                x = Source(pad.Inputs[0]);
                pads = padded;
            }
            string padding = pads.All(p => p == 0) ? "valid" : IsSame(pads, x.Shape, kernel, strides, dilation) ? "same" : "";
            if (padding == "")
            {
                x = ZeroPadding(x, pads);
                padding = "valid";
            }
            bool depthwise = group == c && group > 1 && filters % c == 0;
            var entry = new Entry(depthwise ? "depthwise_conv2d" : "conv2d");
            if (!depthwise) entry.Set("filters", $"{filters}");
            entry.Set("kernel_size", Pair(kernel));
            if (strides != (1, 1)) entry.Set("strides", Pair(strides));
            if (padding == "same") entry.Set("padding", "same");
            if (dilation != (1, 1)) entry.Set("dilation_rate", Pair(dilation));
            if (depthwise && filters / c > 1) entry.Set("depth_multiplier", $"{filters / c}");
            if (!depthwise && group > 1) entry.Set("groups", $"{group}");
            entry.Weights["weight"] = w.Floats;
            if (node.Inputs.Count > 2 && node.Inputs[2].Length > 0) entry.Weights["bias"] = Floats(node, 2, filters);
            else entry.Set("use_bias", "false");
            NameFrom(entry, node.Inputs[1]);
            Add(entry, x);
            var rows = Window.Of(x.Shape.Height, kernel.Item1, strides.Item1, dilation.Item1, padding == "same" ? Padding.Same : Padding.Valid);
            var cols = Window.Of(x.Shape.Width, kernel.Item2, strides.Item2, dilation.Item2, padding == "same" ? Padding.Same : Padding.Valid);
            Set(node, Output(entry, Layout.Nchw, Schema.Shape.Spatial(rows.Output, cols.Output, filters)));
        }

        private Shape InputShape(Entry e) => e.Inputs[0] < 0 ? _input : _entries[e.Inputs[0]].Output;

        /// <summary>An entry's output (or the model input, -1) as an NCHW value.</summary>
        private Value Source(int entry) => new(Layout.Nchw, entry < 0 ? _input : _entries[entry].Output, entry);

        /// <summary>Explicit zero padding [top, left, bottom, right] as a zero_padding2d layer.</summary>
        private Value ZeroPadding(Value x, long[] pads)
        {
            var entry = new Entry("zero_padding2d");
            entry.Set("padding", $"[[{pads[0]}, {pads[2]}], [{pads[1]}, {pads[3]}]]");
            entry.Pads = pads;
            Add(entry, x);
            return Output(entry, Layout.Nchw, Schema.Shape.Spatial(x.Shape.Height + (int)(pads[0] + pads[2]), x.Shape.Width + (int)(pads[1] + pads[3]), x.Shape.Channels));
        }

        private void Pad(OnnxNode node)
        {
            var x = Spatial(node);
            var mode = node.Text("mode") ?? "constant";
            var pads = node.Inputs.Count > 1 && node.Inputs[1].Length > 0 ? Get(node, 1).Ints : node.Ints("pads");
            bool zero = (node.Inputs.Count < 3 || node.Inputs[2].Length == 0 || Get(node, 2).Floats is [0f]) && node.Float("value", 0) == 0;
            if (mode != "constant" || !zero || pads is not { Length: 8 } p || p[0] != 0 || p[1] != 0 || p[4] != 0 || p[5] != 0 || p.Any(v => v < 0))
                throw Unsupported(node, "only zero padding of height and width is supported");
            if (p.All(v => v == 0)) { Set(node, x); return; }
            Set(node, ZeroPadding(x, [p[2], p[3], p[6], p[7]]));
        }

        private void BatchNorm(OnnxNode node)
        {
            var x = Get(node, 0);
            if (x.Layout is not (Layout.Nchw or Layout.Flat)) throw Unsupported(node, "batch normalization of this layout");
            int c = x.Shape.Channels;
            var entry = new Entry("batch_norm");
            float epsilon = node.Float("epsilon", 1e-5f);
            entry.Set("epsilon", F(epsilon));
            entry.Weights["gamma"] = Floats(node, 1, c);
            entry.Weights["beta"] = Floats(node, 2, c);
            entry.Weights["moving_mean"] = Floats(node, 3, c);
            entry.Weights["moving_variance"] = Floats(node, 4, c);
            NameFrom(entry, node.Inputs[1]);
            Add(entry, x);
            Set(node, Output(entry, x.Layout, x.Shape));
        }

        /// <summary>
        /// LayerNormalization over the last axis: a flat input's features, or the channels of a channels-last tensor (PyTorch's
        /// ConvNeXt permutes NCHW to NHWC for it, and back after). Over any other axes it is not SpecNet's layer_norm.
        /// </summary>
        private void LayerNorm(OnnxNode node)
        {
            var x = Get(node, 0);
            long axis = node.Int("axis", -1);
            bool lastAxis = x.Layout switch
            {
                Layout.Flat => axis is -1 or 1,
                Layout.Pooled => axis is 1 or -3,             // [N, C, 1, 1]: from the channels on
                Layout.ChannelsLast or Layout.PooledChannelsLast => axis is -1 or 3,
                _ => false,
            };
            if (x.IsConstant || !lastAxis)
                throw Unsupported(node, (x.Layout == Layout.Nchw && axis is 1 or -3 ? "a layer normalization over channels, height and width together"
                    : $"a layer normalization from axis {axis} of {(x.IsConstant ? "a constant" : $"a {x.Layout} tensor")}") + ": SpecNet's layer_norm normalises each position's channels "
                    + "(a flat input's features); PyTorch writes that as nn.LayerNorm(C) on a channels-last tensor (x.permute(0, 2, 3, 1), as ConvNeXt's LayerNorm2d)");
            int c = x.Shape.Channels;
            // a flat input in another order than SpecNet's (a channels-last flatten): each feature's gamma and beta go with it
            float[] InSpecNetOrder(float[] v) => x.Permutation is { } p ? p.Select(i => v[i]).ToArray() : v;
            var entry = new Entry("layer_norm");
            entry.Set("epsilon", F(node.Float("epsilon", 1e-5f)));
            entry.Weights["gamma"] = InSpecNetOrder(Floats(node, 1, c));
            entry.Weights["beta"] = node.Inputs.Count > 2 && node.Inputs[2].Length > 0 ? InSpecNetOrder(Floats(node, 2, c)) : new float[c];
            NameFrom(entry, node.Inputs[1]);
            Add(entry, x);
            Set(node, Output(entry, x.Layout, x.Shape) with { Permutation = x.Permutation });
        }

        /// <summary>An activation: into the layer before it when only this node reads it and it has none yet, else a layer of its own.</summary>
        private void Activation(OnnxNode node, string name, float alpha = float.NaN)
        {
            var x = Get(node, 0);
            if (x.IsConstant) throw Unsupported(node, "an activation of a constant");
            bool keras = float.IsNaN(alpha) || name == "elu" && alpha == 1f || name == "leaky_relu" && Math.Abs(alpha - 0.3f) < 1e-7;
            if (OnlyReader(node, x) is { Kind: "conv2d" or "depthwise_conv2d" or "dense" } owner && owner.Get("activation") is null && keras)
            {
                owner.Set("activation", name);
                Set(node, x);
                return;
            }
            var entry = new Entry(name);
            if (!float.IsNaN(alpha)) entry.Set("alpha", F(alpha));
            Add(entry, x);
            Set(node, Output(entry, x.Layout, x.Shape));
        }

        private int ReadersOf(string value) => _onnx.Nodes.Count(n => n.Inputs.Contains(value)) + (_output == value ? 1 : 0);

        /// <summary>The entry that computes this node's first input, when this node is all that reads it (so it can be folded into that entry).</summary>
        private Entry? OnlyReader(OnnxNode node, Value x) => OnlyReader(node.Inputs[0], x);

        /// <summary>The entry that computes <paramref name="x"/> (the value named <paramref name="input"/>), when one node is all that reads it.</summary>
        private Entry? OnlyReader(string input, Value x) =>
            x.Entry >= 0 && _entries[x.Entry] is { Readers: 0, Removed: false } owner && ReadersOf(input) == 1 ? owner : null;

        private void Softmax(OnnxNode node)
        {
            var x = Get(node, 0);
            long axis = node.Int("axis", _onnx.Opset >= 13 ? -1 : 1);
            bool channels = x.Layout == Layout.Flat ? axis is 1 or -1 : x.Layout == Layout.Nchw && axis is 1 or -3;
            if (!channels) throw Unsupported(node, $"softmax over axis {axis} (SpecNet's is over the channels)");
            Activation(node, "softmax");
        }

        /// <summary>Whether the model ends in LogSoftmax, imported as softmax (<see cref="ImportResult.LogOutput"/>).</summary>
        public bool LogOutput { get; private set; }

        /// <summary>
        /// A classifier trained with NLLLoss ends in log_softmax (PyTorch's MNIST example): as softmax, whose outputs are its exp,
        /// the same classes, and the probabilities `predict` reports. Inside a model it would feed the log on: refused there.
        /// </summary>
        private void LogSoftmax(OnnxNode node)
        {
            if (node.Outputs is not [var y] || y != _output) throw Unsupported(node, "a LogSoftmax before the model's output (SpecNet imports one that ends the model, as softmax)");
            Softmax(node);
            LogOutput = true;
            _notes.Add($"{node.Name} (LogSoftmax, NLLLoss's) ends the model: imported as softmax, whose outputs are its exp (the same classes; predict reports probabilities)");
        }

        /// <summary>
        /// x · Sigmoid(x) is silu, x · HardSigmoid(x) hard_swish (PyTorch's Hardswish before opset 14): the gate's layer (already
        /// written) is replaced by one activation on x.
        /// </summary>
        private bool GatedBy(OnnxNode node, string gateOp, string gateKind, string activation)
        {
            for (int side = 0; side < 2; side++)
            {
                var gate = _onnx.Nodes.FirstOrDefault(n => n.Op == gateOp && n.Outputs.Contains(node.Inputs[1 - side]));
                if (gate is null || gate.Inputs[0] != node.Inputs[side]) continue;
                var gated = Get(node, 1 - side);
                // the gate's layer goes when this product is all that reads it
                if (gated.Entry >= 0 && _entries[gated.Entry].Kind == gateKind && ReadersOf(gate.Outputs[0]) == 1)
                {
                    _entries[gated.Entry].Removed = true;
                    DropReader(_entries[gated.Entry]);
                }
                var x = Get(node, side);
                var entry = new Entry(activation);
                Add(entry, x);
                Set(node, Output(entry, x.Layout, x.Shape));
                return true;
            }
            return false;
        }

        /// <summary>Clip to [0, 6] is relu6 (PyTorch's ReLU6), to [0, none] relu; bounds are attributes before opset 11, inputs since.</summary>
        private void Clip(OnnxNode node)
        {
            float Bound(int input, string attribute, float none) => _onnx.Opset < 11 ? node.Float(attribute, none)
                : node.Inputs.Count > input && node.Inputs[input].Length > 0 ? Get(node, input) switch
                {
                    { Floats: [var v] } => v,
                    { Ints: [var i] } => i,    // a whole-number bound, Cast to float after (torch.clamp(x, min=0))
                    _ => throw Unsupported(node, "a bound that is not a constant scalar"),
                }
                : none;
            float lo = Bound(1, "min", float.NegativeInfinity), hi = Bound(2, "max", float.PositiveInfinity);
            // PyTorch writes ReLU6 as Relu, then Clip: relu6(relu(x)) is relu6(x), one activation of the layer before
            if (lo == 0 && hi == 6 && OnlyReader(node, Get(node, 0)) is { } owner && owner.Get("activation") == "relu")
            {
                owner.Set("activation", "relu6");
                Set(node, Get(node, 0));
            }
            else if (lo == 0 && hi == 6) Activation(node, "relu6");
            else if (lo == 0 && (float.IsPositiveInfinity(hi) || hi == float.MaxValue)) Activation(node, "relu");
            else throw Unsupported(node, $"a Clip to [{lo.ToString(CultureInfo.InvariantCulture)}, {hi.ToString(CultureInfo.InvariantCulture)}] (SpecNet's are relu6, [0, 6], and relu, [0, none])");
        }

        /// <summary>HardSigmoid as PyTorch's Hardsigmoid and Keras 3's hard_sigmoid write it: x / 6 + 0.5, clipped to [0, 1].</summary>
        private void HardSigmoid(OnnxNode node)
        {
            float alpha = node.Float("alpha", 0.2f), beta = node.Float("beta", 0.5f);
            if (Math.Abs(alpha - 1f / 6) > 1e-6f || beta != 0.5f)
                throw Unsupported(node, $"HardSigmoid with alpha {alpha.ToString(CultureInfo.InvariantCulture)} and beta {beta.ToString(CultureInfo.InvariantCulture)} " +
                    "(SpecNet's hard_sigmoid is x / 6 + 0.5, PyTorch's and Keras 3's; Keras 2's was 0.2 x + 0.5)");
            Activation(node, "hard_sigmoid");
        }

        private readonly HashSet<OnnxNode> _absorbed = new(ReferenceEqualityComparer.Instance);

        /// <summary>
        /// GELU as PyTorch exports it before opset 20, x · (1 + erf(x / √2)) · 0.5, from its first node (the division): one gelu
        /// layer on x; the four nodes after it are absorbed.
        /// </summary>
        private bool Gelu(OnnxNode first)
        {
            const float Sqrt2 = 1.41421356f;
            // the constants after the first node are not read yet: an initializer's, or a Constant node's ahead
            bool IsScalar(string input, float value) =>
                (_values.TryGetValue(input, out var v) ? v.Floats
                    : _onnx.Nodes.FirstOrDefault(c => c.Op == "Constant" && c.Outputs.Contains(input))?.Attributes.Values.FirstOrDefault(a => a.Tensor is not null)?.Tensor is { } t
                        ? ConstantTensor.Of(t).Floats : null) is [var f] && Math.Abs(f - value) <= 1e-6f * Math.Abs(value);
            OnnxNode? Next(OnnxNode n, string op) =>
                n.Outputs is [var o, ..] && o != _output && _onnx.Nodes.Where(r => r.Inputs.Contains(o)).ToList() is [var only] && only.Op == op ? only : null;
            string? Other(OnnxNode n, string known) => n.Inputs.Count == 2 ? n.Inputs[0] == known ? n.Inputs[1] : n.Inputs[1] == known ? n.Inputs[0] : null : null;
            if (first.Inputs is not [var x, var divisor] || !IsScalar(divisor, Sqrt2)) return false;
            if (Next(first, "Erf") is not { } erf || Next(erf, "Add") is not { } plus || Other(plus, erf.Outputs[0]) is not { } one || !IsScalar(one, 1)
                || Next(plus, "Mul") is not { } times || Other(times, plus.Outputs[0]) != x
                || Next(times, "Mul") is not { Outputs.Count: > 0 } half || Other(half, times.Outputs[0]) is not { } h || !IsScalar(h, 0.5f)) return false;
            _absorbed.UnionWith([erf, plus, times, half]);
            Activation(new OnnxNode(first.Name, "Gelu", [x], half.Outputs, first.Attributes), "gelu");
            return true;
        }

        private void DropReader(Entry e)
        {
            foreach (var i in e.Inputs.Where(i => i >= 0)) _entries[i].Readers--;
        }

        private void Pool(OnnxNode node, string kind)
        {
            var x = Spatial(node);
            var k = node.Ints("kernel_shape") ?? throw Unsupported(node, "kernel_shape is missing");
            var (pads, kernel, strides, dilation) = Geometry(node, x.Shape, ((int)k[0], (int)k[1]));
            bool rounds = (x.Shape.Height + pads[0] + pads[2] - kernel.Item1) % strides.Item1 != 0 || (x.Shape.Width + pads[1] + pads[3] - kernel.Item2) % strides.Item2 != 0;
            if (node.Int("ceil_mode", 0) != 0 && rounds) throw Unsupported(node, "ceil_mode 1 where it adds a row or column (Keras rounds down)");
            if (dilation != (1, 1)) throw Unsupported(node, "dilated pooling");
            // Padding that is averaged in (count_include_pad) is zero padding before the pool; otherwise only Keras's 'same' pads
            // (which max pooling and Keras's average ignore) are expressible.
            if (kind == "avg_pool2d" && node.Int("count_include_pad", 0) != 0 && pads.Any(p => p != 0))
            {
                x = ZeroPadding(x, pads);
                pads = [0, 0, 0, 0];
            }
            string padding = pads.All(p => p == 0) ? "valid" : IsSame(pads, x.Shape, kernel, strides, dilation) ? "same" : "";
            // PyTorch's ResNet stem pools 3x3 by 2 with a pixel of padding on each side, which Keras's 'same' puts after only. A max
            // pool ignores its padding; over values of zero or more, zeros padded before it are never larger than a window's
            // largest (every window holds an input value while the padding is smaller than the window): the same maxima.
            if (padding == "" && kind == "max_pool2d" && NonNegative(x.Entry) && pads.All(p => p >= 0))
            {
                x = ZeroPadding(x, pads);
                padding = "valid";
            }
            if (padding == "") throw Unsupported(node, $"pads [{string.Join(", ", pads)}] are neither none nor Keras's 'same' for this geometry"
                + (kind == "max_pool2d" ? " (over values of zero or more, a relu's, they would be zeros padded before it; these can be negative)" : ""));
            var entry = new Entry(kind);
            entry.Set("pool_size", Pair(kernel));
            if (strides != kernel) entry.Set("strides", Pair(strides));
            if (padding == "same") entry.Set("padding", "same");
            Add(entry, x);
            var rows = Window.Of(x.Shape.Height, kernel.Item1, strides.Item1, 1, padding == "same" ? Padding.Same : Padding.Valid);
            var cols = Window.Of(x.Shape.Width, kernel.Item2, strides.Item2, 1, padding == "same" ? Padding.Same : Padding.Valid);
            Set(node, Output(entry, Layout.Nchw, Schema.Shape.Spatial(rows.Output, cols.Output, x.Shape.Channels)));
        }

        /// <summary>Whether every value entry <paramref name="entry"/> computes is zero or more: a relu's, relu6's, sigmoid's, hard_sigmoid's or
        /// softmax's output (a layer of its own, or a convolution's or dense layer's activation), or such values pooled, padded with
        /// zeros or dropped out.</summary>
        private bool NonNegative(int entry)
        {
            if (entry < 0) return false;                                    // the model's input: its preprocessing may subtract a mean
            var e = _entries[entry];
            if (e.Removed) return false;
            static bool Zero(string? kind) => kind is "relu" or "relu6" or "sigmoid" or "hard_sigmoid" or "softmax";
            if (Zero(e.Kind) || e.Kind is "conv2d" or "depthwise_conv2d" or "separable_conv2d" or "dense" && Zero(e.Get("activation"))) return true;
            return e.Kind is "max_pool2d" or "avg_pool2d" or "zero_padding2d" or "dropout" && e.Inputs is [var input] && NonNegative(input);
        }

        private void GlobalPool(OnnxNode node, string kind, bool keepDims = true)
        {
            var x = Spatial(node);
            var entry = new Entry(kind);
            Add(entry, x);
            Set(node, Output(entry, keepDims ? Layout.Pooled : Layout.Flat, Schema.Shape.Flat(x.Shape.Channels)));
        }

        /// <summary>Whether the node's axes (an attribute, or its second input in later opsets) are an NCHW tensor's height and width.</summary>
        private bool OverHeightAndWidth(OnnxNode node) =>
            (node.Ints("axes") ?? (node.Inputs.Count > 1 ? Get(node, 1).Ints : null)) is { } axes
            && axes.Select(a => a < 0 ? a + 4 : a).Order().SequenceEqual(new long[] { 2, 3 });

        private bool OverLastAxis(OnnxNode node) =>
            (node.Ints("axes") ?? (node.Inputs.Count > 1 ? Get(node, 1).Ints : null)) is [var axis]
            && (axis == -1 || axis == (Get(node, 0).Layout is Layout.Flat ? 1 : 3));

        private void ReduceMean(OnnxNode node)
        {
            if (!OverHeightAndWidth(node))
                throw Unsupported(node, "a mean over anything but height and width" + (OverLastAxis(node) ? " (over the last axis, as a layer normalization is written out "
                    + "before opset 17: export with opset_version=17, which writes it as one LayerNormalization node, and SpecNet reads that as layer_norm)" : ""));
            GlobalPool(node, "global_avg_pool2d", node.Int("keepdims", 1) != 0);
        }

        private void Flatten(OnnxNode node)
        {
            var x = Get(node, 0);
            if (node.Op == "Reshape")
            {
                var target = Get(node, 1).Ints ?? throw Unsupported(node, "the shape must be a constant");
                int features = x.Shape.Size;
                // [batch, features] however written: x.size(0) (the batch), 0 (keep it) or -1 (infer it) beside the features or -1
                // a vector to [batch, features, 1, 1] (x.view(N, C, 1, 1) of a squeeze-and-excitation gate): the same values, pooled
                if (target is [ConstantTensor.Batch or 0 or -1, var c, 1, 1] && c == features && x.Layout is Layout.Flat or Layout.Pooled)
                {
                    Set(node, x with { Layout = Layout.Pooled });
                    return;
                }
                bool flat = target.Length == 2 && (target[0] is ConstantTensor.Batch or 0 ? target[1] is -1 || target[1] == features : target[0] == -1 && target[1] == features);
                if (!flat) throw Unsupported(node, $"a reshape to [{string.Join(", ", target)}] (only to [batch, features], or a vector's to [batch, features, 1, 1])");
            }
            else if (node.Int("axis", 1) != 1) throw Unsupported(node, "a flatten that keeps more than the batch axis");
            switch (x.Layout)
            {
                case Layout.Flat or Layout.Pooled or Layout.PooledChannelsLast: Set(node, x with { Layout = Layout.Flat }); break;   // 1x1: one order
                case Layout.Nchw or Layout.ChannelsLast:
                    var entry = new Entry("flatten");
                    Add(entry, x);
                    // Channels-last features (a Transpose before the flatten): the next dense layer's weights are permuted to SpecNet's channel-major order.
                    Set(node, Output(entry, Layout.Flat, Schema.Shape.Flat(x.Shape.Size)) with
                    {
                        Permutation = x.Layout == Layout.ChannelsLast ? ChannelsLastOrder(x.Shape) : null,
                    });
                    break;
                default: throw Unsupported(node, $"a flatten of the {x.Layout} input");
            }
        }

        /// <summary>For each SpecNet (channel, row, column) feature, where it is in (row, column, channel) order.</summary>
        private static int[] ChannelsLastOrder(Shape s)
        {
            var order = new int[s.Size];
            for (int c = 0; c < s.Channels; c++)
                for (int h = 0; h < s.Height; h++)
                    for (int w = 0; w < s.Width; w++) order[(c * s.Height + h) * s.Width + w] = (h * s.Width + w) * s.Channels + c;
            return order;
        }

        private void Gemm(OnnxNode node)
        {
            if (node.Int("transA", 0) != 0 || node.Float("alpha", 1) != 1 || node.Float("beta", 1) != 1)
                throw Unsupported(node, "a Gemm with transA, alpha or beta (only y = x·Wᵀ + b or x·W + b)");
            var w = Get(node, 1);
            if (w.Floats is null || w.Dims is not { Length: 2 } d) throw Unsupported(node, "the weights must be a constant matrix");
            bool transposed = node.Int("transB", 0) != 0;
            int units = (int)(transposed ? d[0] : d[1]);
            var bias = node.Inputs.Count > 2 && node.Inputs[2].Length > 0 ? Get(node, 2).Floats : null;
            if (bias is not null && bias.Length != units) throw Unsupported(node, $"a bias of {bias.Length} values for {units} units");
            Dense(node, w.Floats, (int)(transposed ? d[1] : d[0]), units, transposed, bias);
        }

        private void MatMul(OnnxNode node)
        {
            var w = Get(node, 1);
            if (w.Floats is null || w.Dims is not { Length: 2 } d) throw Unsupported(node, "the right operand must be a constant matrix");
            if (Get(node, 0).Layout == Layout.ChannelsLast) Pointwise(node, w.Floats, (int)d[0], (int)d[1]);
            else Dense(node, w.Floats, (int)d[0], (int)d[1], transposed: false, bias: null);
        }

        /// <summary>
        /// A MatMul's or Gemm's weights ([inputs, units], or [units, inputs] when <paramref name="transposed"/>) as a weights file keeps
        /// them, [units, inputs], with the inputs in SpecNet's order (<paramref name="permutation"/>: where each is in the ONNX order).
        /// </summary>
        private static float[] UnitsFirst(float[] weights, int inputs, int units, bool transposed, int[]? permutation)
        {
            var file = new float[units * inputs];
            for (int u = 0; u < units; u++)
                for (int k = 0; k < inputs; k++)
                {
                    int source = permutation is { } p ? p[k] : k;
                    file[u * inputs + k] = transposed ? weights[u * inputs + source] : weights[source * units + u];
                }
            return file;
        }

        /// <summary>A MatMul of a channels-last image tensor (PyTorch's nn.Linear after a permute, as in ConvNeXt's blocks): a 1x1 convolution.</summary>
        private void Pointwise(OnnxNode node, float[] weights, int inputs, int units)
        {
            var x = Get(node, 0);
            if (x.Shape.Channels != inputs) throw Unsupported(node, $"its input has {x.Shape.Channels} channels, not the {inputs} the weights take");
            var entry = new Entry("conv2d");
            entry.Set("filters", $"{units}");
            entry.Set("kernel_size", "1");
            entry.Set("use_bias", "false");
            entry.Weights["weight"] = UnitsFirst(weights, inputs, units, transposed: false, permutation: null);   // [filters, channels, 1, 1]
            NameFrom(entry, node.Inputs[1]);
            Add(entry, x);
            Set(node, Output(entry, Layout.ChannelsLast, Schema.Shape.Spatial(x.Shape.Height, x.Shape.Width, units)));
        }

        /// <summary>A dense layer; the weights file keeps [units, inputs], in SpecNet's feature order.</summary>
        private void Dense(OnnxNode node, float[] weights, int inputs, int units, bool transposed, float[]? bias)
        {
            var x = Get(node, 0);
            if (x.Layout is not (Layout.Flat or Layout.Pooled) || x.Shape.Size != inputs)
                throw Unsupported(node, $"its input is {x.Layout} with {x.Shape.Size} features, not a flat vector of {inputs}");
            var entry = new Entry("dense");
            entry.Set("units", $"{units}");
            entry.Weights["weight"] = UnitsFirst(weights, inputs, units, transposed, x.Permutation);
            if (bias is not null) entry.Weights["bias"] = bias; else entry.Set("use_bias", "false");
            NameFrom(entry, node.Inputs[1]);
            Add(entry, x);
            Set(node, Output(entry, Layout.Flat, Schema.Shape.Flat(units)));
        }

        /// <summary>Add of a constant: the bias of the dense layer (MatMul) or convolution before it.</summary>
        private void Bias(OnnxNode node)
        {
            int at = Get(node, 0).IsConstant ? 1 : 0;                 // PyTorch writes a Linear's bias first on a 4-D input: Add(b, x·W)
            var x = Get(node, at);
            var b = Get(node, 1 - at).Floats ?? throw Unsupported(node, "only float biases are supported");
            if (x.IsConstant || OnlyReader(node.Inputs[at], x) is not { Kind: "dense" or "conv2d" or "depthwise_conv2d" } owner || owner.Weights.ContainsKey("bias")
                || owner.Get("activation") is not null || b.Length != owner.Output.Channels)
                throw Unsupported(node, "adding a constant other than a bias right after MatMul or Conv");
            owner.Weights["bias"] = b;
            owner.Options.RemoveAll(o => o.Key == "use_bias");
            if (owner.Name is null) NameFrom(owner, node.Inputs[1 - at]);   // a MatMul's weights are a transposed copy, its bias the parameter
            Set(node, x);
        }

        /// <summary>
        /// A product with a constant of one value per channel (or one value) right after a convolution or dense layer without an
        /// activation: folded into its weights and bias, as ConvNeXt's layer scale (gamma of shape [C, 1, 1]) is. Anything else is a
        /// multiply, which refuses a constant operand.
        /// </summary>
        private void Scale(OnnxNode node)
        {
            int at = Get(node, 0).IsConstant ? 1 : 0;
            var x = Get(node, at);
            var k = Get(node, 1 - at);
            int c = x.Shape.Channels;
            // broadcast against x's own layout: [C, 1, 1] (or [1, C, 1, 1]) over NCHW, [C] over a flat or channels-last tensor
            bool perChannel = k.Floats is { } f && k.Dims is { } d && (f.Length == 1 || f.Length == c && x.Layout switch
            {
                Layout.Nchw or Layout.Pooled => d.Length is 3 or 4 && d[^3] == c,
                Layout.Flat or Layout.ChannelsLast or Layout.PooledChannelsLast => d[^1] == c,
                _ => false,
            });
            if (x.IsConstant || !perChannel || OnlyReader(node.Inputs[at], x) is not { Kind: "dense" or "conv2d" or "depthwise_conv2d" } owner
                || owner.Get("activation") is not null || x.Permutation is not null)
            {
                Merge(node, "multiply");
                return;
            }
            var scale = k.Floats!;
            foreach (var (_, values) in owner.Weights)                    // file layouts: the output channel first ([out, ...]), a bias [out]
                for (int i = 0, per = values.Length / c; i < values.Length; i++) values[i] *= scale.Length == 1 ? scale[0] : scale[i / per];
            _notes.Add($"{node.Inputs[1 - at]} (a constant factor per channel, as ConvNeXt's layer scale) is folded into {owner.Id}'s weights");
            Set(node, x);
        }

        private void Merge(OnnxNode node, string kind)
        {
            var inputs = Enumerable.Range(0, node.Inputs.Count).Select(i => Get(node, i)).ToArray();
            // 0.044715 x³ is the mark of GELU's tanh approximation, written out as arithmetic
            if (inputs.Any(i => i.Floats is [var c] && Math.Abs(c - 0.044715f) < 1e-6f))
                throw Unsupported(node, "GELU's tanh approximation (nn.GELU(approximate='tanh')): SpecNet's gelu is the exact one, with erf; export the model with nn.GELU() to import it");
            if (inputs.Any(i => i.IsConstant)) throw Unsupported(node, $"{node.Op} with a constant operand (only of layers' outputs, or a bias)");
            if (kind == "concatenate")
            {
                long axis = node.Int("axis", 1);
                bool channels = inputs[0].Layout == Layout.Flat ? axis is 1 or -1 : axis is 1 or -3;
                if (!channels) throw Unsupported(node, $"concatenation along axis {axis} (SpecNet joins channels)");
            }
            // a [N, C, 1, 1] times an [N, C, H, W]: the vector gates the map's channels (squeeze-and-excitation)
            if (kind == "multiply" && inputs is [var a, var b] && (a.Layout, b.Layout) is (Layout.Pooled, Layout.Nchw) or (Layout.Nchw, Layout.Pooled))
            {
                var map = a.Layout == Layout.Nchw ? a : b;
                if ((a.Layout == Layout.Pooled ? a : b).Shape.Size != map.Shape.Channels) throw Unsupported(node, "a gate whose size is not the map's channels");
                var gated = new Entry(kind);
                Add(gated, inputs);
                Set(node, Output(gated, Layout.Nchw, map.Shape));
                return;
            }
            if (inputs.Select(i => i.Layout == Layout.Pooled ? Layout.Flat : i.Layout).Distinct().Count() > 1) throw Unsupported(node, "inputs of different layouts");
            var entry = new Entry(kind);
            Add(entry, inputs);
            var shape = kind == "concatenate"
                ? inputs[0].Layout == Layout.Nchw ? Schema.Shape.Spatial(inputs[0].Shape.Height, inputs[0].Shape.Width, inputs.Sum(i => i.Shape.Channels)) : Schema.Shape.Flat(inputs.Sum(i => i.Shape.Size))
                : inputs[0].Shape;
            Set(node, Output(entry, inputs[0].Layout == Layout.Pooled ? Layout.Flat : inputs[0].Layout, shape));
        }

        /// <summary>The spec's text: input, how it reads images, the layers with their shapes as comments.</summary>
        public string Spec(string name)
        {
            var live = _entries.Where(e => !e.Removed).ToList();
            var counts = new Dictionary<string, int>();
            foreach (var e in live)
            {
                counts[e.Kind] = counts.GetValueOrDefault(e.Kind) + 1;
                e.DefaultName = $"{e.Kind}_{counts[e.Kind]}";
                if (e.Name is null && _names.Contains(e.DefaultName)) e.Name = $"{e.Kind}_{counts[e.Kind]}_";
            }
            var inv = CultureInfo.InvariantCulture;
            var sb = new StringBuilder();
            sb.Append($"# Imported from {Path.GetFileName(_path)}" + (_onnx.Producer.Length > 0 ? $" (written by {_onnx.Producer}, opset {_onnx.Opset})" : "") + " by specnet import.\n");
            sb.Append($"name: {name}\n");
            sb.Append($"input: {{ shape: [{string.Join(", ", _input.Dims)}] }}\n");
            var pre = new List<string>();
            if (Math.Abs(_scale - 1f / 255) > 1e-12) pre.Add($"scale: {_scale.ToString("R", inv)}");
            if (_mean.Any(m => m != 0)) pre.Add($"mean: [{string.Join(", ", _mean.Select(m => m.ToString("R", inv)))}]");
            if (_std.Any(s => s != 1)) pre.Add($"std: [{string.Join(", ", _std.Select(s => s.ToString("R", inv)))}]");
            if (_bgr) pre.Add("channel_order: bgr");
            sb.Append(_input.IsFlat && !_rawInput
                ? "# how the input's values become the model's: value · scale (1/255, as pixels, unless --scale; 1 takes features as given), minus mean, over std\n"
                : "# how raw 8-bit pixels become the model's input: value · scale (1/255 unless given), minus mean, over std\n");
            sb.Append(pre.Count > 0 ? $"data: {{ preprocess: {{ {string.Join(", ", pre)} }} }}\n" : "data: { preprocess: { scale: 0.00392156862745098 } }\n");
            sb.Append("layers:\n");
            for (int i = 0; i < live.Count; i++)
            {
                var e = live[i];
                var options = new List<string>(e.Options.Select(o => $"{o.Key}: {o.Value}"));
                if (e.Name is not null) options.Insert(0, $"name: {e.Name}");
                var readsPrevious = e.Inputs.Count == 1 && (i == 0 ? e.Inputs[0] == -1 : e.Inputs[0] == _entries.IndexOf(live[i - 1]));
                if (!readsPrevious) options.Add($"inputs: [{string.Join(", ", e.Inputs.Select(j => j < 0 ? "input" : _entries[j].Id))}]");
                var line = options.Count == 0 ? $"  - {e.Kind}" : $"  - {e.Kind}: {{ {string.Join(", ", options)} }}";
                sb.Append(line.PadRight(Math.Max(line.Length + 2, 72))).Append($"# {e.Output}\n");
            }
            if (!live[^1].Output.IsFlat) sb.Append("training: { loss: mse }   # the output is not one value per class\n");
            return sb.ToString();
        }
    }
}
