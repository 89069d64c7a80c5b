using System.Buffers.Binary;
using System.Text;
using SpecNet.Diagnostics;

namespace SpecNet.Formats;

/// <summary>
/// Reads protocol-buffer messages field by field (the wire format ONNX files use), checking every length
/// against what is left of the buffer before using it: a truncated file or a declared size larger than
/// the file is an error, never an allocation or a read past the end.
/// </summary>
internal ref struct ProtobufReader(ReadOnlySpan<byte> data, string what)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _at;

    public bool More => _at < _data.Length;

    /// <summary>The next field's number and wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).</summary>
    public (int Field, int Wire) Tag()
    {
        ulong tag = Varint();
        if (tag >> 3 is 0 or > int.MaxValue) throw Broken("a field number of 0");
        return ((int)(tag >> 3), (int)(tag & 7));
    }

    public ulong Varint()
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_at >= _data.Length) throw Broken("a number cut short");
            byte b = _data[_at++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return value;
        }
        throw Broken("a number longer than 10 bytes");
    }

    public ReadOnlySpan<byte> Bytes()
    {
        ulong length = Varint();
        if (length > (ulong)(_data.Length - _at)) throw Broken($"a field of {length:N0} bytes where {_data.Length - _at:N0} are left");
        var bytes = _data.Slice(_at, (int)length);
        _at += (int)length;
        return bytes;
    }

    public string String() => Encoding.UTF8.GetString(Bytes());

    public float Fixed32()
    {
        if (_data.Length - _at < 4) throw Broken("a float cut short");
        float v = BinaryPrimitives.ReadSingleLittleEndian(_data.Slice(_at, 4));
        _at += 4;
        return v;
    }

    public void Skip(int wire)
    {
        switch (wire)
        {
            case 0: Varint(); break;
            case 1: if (_data.Length - _at < 8) throw Broken("a field cut short"); _at += 8; break;
            case 2: Bytes(); break;
            case 5: Fixed32(); break;
            default: throw Broken($"an unknown wire type {wire}");
        }
    }

    /// <summary>Repeated int64s, packed (wire 2) or one at a time.</summary>
    public void Int64s(int wire, List<long> into)
    {
        if (wire == 0) { into.Add((long)Varint()); return; }
        var packed = new ProtobufReader(Bytes(), what);
        while (packed.More) into.Add((long)packed.Varint());
    }

    public void Floats(int wire, List<float> into)
    {
        if (wire == 5) { into.Add(Fixed32()); return; }
        var packed = new ProtobufReader(Bytes(), what);
        while (packed.More) into.Add(packed.Fixed32());
    }

    private readonly SpecNetException Broken(string problem) =>
        new($"{what}: not a valid ONNX file ({problem} at byte {_at:N0})", "the file is damaged or not ONNX; export it again");
}

/// <summary>A tensor of an ONNX file: float or int64 values with their dims.</summary>
public sealed record OnnxTensor(string Name, long[] Dims, float[] Floats, long[] Ints)
{
    public long Count => Dims.Aggregate(1L, (a, b) => a * b);
}

/// <summary>An attribute of a node: an int, a float, a string, ints, floats or a tensor.</summary>
public sealed record OnnxAttr(string Name, long? Int, float? Float, string? Text, long[] Ints, float[] Floats, OnnxTensor? Tensor);

public sealed record OnnxNode(string Name, string Op, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, IReadOnlyDictionary<string, OnnxAttr> Attributes)
{
    public long Int(string name, long fallback) => Attributes.TryGetValue(name, out var a) && a.Int is { } v ? v : fallback;
    public float Float(string name, float fallback) => Attributes.TryGetValue(name, out var a) && a.Float is { } v ? v : fallback;
    public long[]? Ints(string name) => Attributes.TryGetValue(name, out var a) ? a.Ints : null;
    public string? Text(string name) => Attributes.TryGetValue(name, out var a) ? a.Text : null;
    public string Describe => $"node '{Name}' ({Op})";
}

/// <summary>A graph input or output: its name and dims (a symbolic dim such as the batch is -1).</summary>
public sealed record OnnxValue(string Name, long[] Dims);

/// <summary>The parts of an ONNX model an import needs: nodes, initializers, inputs, outputs, opset and metadata.</summary>
public sealed record OnnxModel(string Name, IReadOnlyList<OnnxNode> Nodes, IReadOnlyDictionary<string, OnnxTensor> Initializers,
    IReadOnlyList<OnnxValue> Inputs, IReadOnlyList<OnnxValue> Outputs, long Opset, IReadOnlyDictionary<string, string> Metadata, string Producer)
{
    /// <summary>Largest file read: a small CNN is a few MB; this bounds memory on hostile input.</summary>
    public const long MaxBytes = 1L << 30;
    /// <summary>Largest tensor read, in values.</summary>
    public const long MaxValues = 1L << 28;
    private const int MaxNodes = 100_000, MaxDims = 8;

    public static OnnxModel Read(string path)
    {
        if (!File.Exists(path)) throw new SpecNetException($"{path}: no such file");
        var length = new FileInfo(path).Length;
        if (length > MaxBytes) throw new SpecNetException($"{path}: {length:N0} bytes is larger than SpecNet reads ({MaxBytes:N0})");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new SpecNetException($"{path}: cannot be read: {e.Message}"); }
        return Parse(bytes, path);
    }

    public static OnnxModel Parse(ReadOnlySpan<byte> bytes, string what)
    {
        var r = new ProtobufReader(bytes, what);
        ReadOnlySpan<byte> graph = default;
        bool hasGraph = false;
        long opset = 0;
        string producer = "";
        var metadata = new Dictionary<string, string>();
        while (r.More)
        {
            var (field, wire) = r.Tag();
            switch (field)
            {
                case 2 when wire == 2: producer = r.String(); break;
                case 7 when wire == 2: graph = r.Bytes(); hasGraph = true; break;
                case 8 when wire == 2:
                {
                    var o = new ProtobufReader(r.Bytes(), what);
                    string domain = ""; long version = 0;
                    while (o.More)
                    {
                        var (f, w) = o.Tag();
                        if (f == 1 && w == 2) domain = o.String(); else if (f == 2 && w == 0) version = (long)o.Varint(); else o.Skip(w);
                    }
                    if (domain is "" or "ai.onnx") opset = version;
                    break;
                }
                case 14 when wire == 2:
                {
                    var m = new ProtobufReader(r.Bytes(), what);
                    string key = "", value = "";
                    while (m.More)
                    {
                        var (f, w) = m.Tag();
                        if (f == 1 && w == 2) key = m.String(); else if (f == 2 && w == 2) value = m.String(); else m.Skip(w);
                    }
                    metadata[key] = value;
                    break;
                }
                default: r.Skip(wire); break;
            }
        }
        if (!hasGraph) throw new SpecNetException($"{what}: not an ONNX model (no graph)", "pass a .onnx file written by torch.onnx.export, tf2onnx or specnet export");
        return ReadGraph(graph, what, opset, metadata, producer);
    }

    private static OnnxModel ReadGraph(ReadOnlySpan<byte> bytes, string what, long opset, Dictionary<string, string> metadata, string producer)
    {
        var r = new ProtobufReader(bytes, what);
        var nodes = new List<OnnxNode>();
        var initializers = new Dictionary<string, OnnxTensor>();
        var inputs = new List<OnnxValue>();
        var outputs = new List<OnnxValue>();
        string name = "model";
        while (r.More)
        {
            var (field, wire) = r.Tag();
            switch (field)
            {
                case 1 when wire == 2:
                    if (nodes.Count >= MaxNodes) throw new SpecNetException($"{what}: more than {MaxNodes:N0} nodes");
                    nodes.Add(ReadNode(r.Bytes(), what, nodes.Count));
                    break;
                case 2 when wire == 2: name = r.String(); break;
                case 5 when wire == 2: { var t = ReadTensor(r.Bytes(), what); initializers[t.Name] = t; break; }
                case 11 when wire == 2: inputs.Add(ReadValue(r.Bytes(), what)); break;
                case 12 when wire == 2: outputs.Add(ReadValue(r.Bytes(), what)); break;
                default: r.Skip(wire); break;
            }
        }
        return new OnnxModel(name, nodes, initializers, inputs.Where(i => !initializers.ContainsKey(i.Name)).ToList(), outputs, opset, metadata, producer);
    }

    private static OnnxNode ReadNode(ReadOnlySpan<byte> bytes, string what, int index)
    {
        var r = new ProtobufReader(bytes, what);
        var inputs = new List<string>();
        var outputs = new List<string>();
        var attributes = new Dictionary<string, OnnxAttr>();
        string name = "", op = "";
        while (r.More)
        {
            var (field, wire) = r.Tag();
            switch (field)
            {
                case 1 when wire == 2: inputs.Add(r.String()); break;
                case 2 when wire == 2: outputs.Add(r.String()); break;
                case 3 when wire == 2: name = r.String(); break;
                case 4 when wire == 2: op = r.String(); break;
                case 5 when wire == 2: { var a = ReadAttribute(r.Bytes(), what); attributes[a.Name] = a; break; }
                default: r.Skip(wire); break;
            }
        }
        return new OnnxNode(name.Length > 0 ? name : $"#{index} {op}", op, inputs, outputs, attributes);
    }

    private static OnnxAttr ReadAttribute(ReadOnlySpan<byte> bytes, string what)
    {
        var r = new ProtobufReader(bytes, what);
        string name = "";
        long? i = null; float? f = null; string? s = null; OnnxTensor? t = null;
        var ints = new List<long>(); var floats = new List<float>();
        while (r.More)
        {
            var (field, wire) = r.Tag();
            switch (field)
            {
                case 1 when wire == 2: name = r.String(); break;
                case 2 when wire == 5: f = r.Fixed32(); break;
                case 3 when wire == 0: i = (long)r.Varint(); break;
                case 4 when wire == 2: s = r.String(); break;
                case 5 when wire == 2: t = ReadTensor(r.Bytes(), what); break;
                case 7: r.Floats(wire, floats); break;
                case 8: r.Int64s(wire, ints); break;
                default: r.Skip(wire); break;
            }
        }
        return new OnnxAttr(name, i, f, s, [.. ints], [.. floats], t);
    }

    private const int Float = 1, Int32 = 6, Int64 = 7;

    private static OnnxTensor ReadTensor(ReadOnlySpan<byte> bytes, string what)
    {
        var r = new ProtobufReader(bytes, what);
        var dims = new List<long>();
        var floats = new List<float>();
        var ints = new List<long>();
        ReadOnlySpan<byte> raw = default;
        int type = 0;
        string name = "";
        while (r.More)
        {
            var (field, wire) = r.Tag();
            switch (field)
            {
                case 1: r.Int64s(wire, dims); break;
                case 2 when wire == 0: type = (int)r.Varint(); break;
                case 4: r.Floats(wire, floats); break;
                case 5 or 7: r.Int64s(wire, ints); break;
                case 8 when wire == 2: name = r.String(); break;
                case 9 when wire == 2: raw = r.Bytes(); break;
                case 13 when wire == 2: throw new SpecNetException($"{what}: tensor '{name}' keeps its data in an external file", "export the model with its weights inside (torch.onnx.export does by default)");
                default: r.Skip(wire); break;
            }
        }
        if (dims.Count > MaxDims || dims.Any(d => d < 0)) throw new SpecNetException($"{what}: tensor '{name}' has unusable dims [{string.Join(", ", dims)}]");
        long count = 1;
        foreach (var d in dims) { count *= d; if (count > MaxValues) throw new SpecNetException($"{what}: tensor '{name}' declares more than {MaxValues:N0} values"); }
        if (type is not (Float or Int32 or Int64))
            throw new SpecNetException($"{what}: tensor '{name}' has data type {type}; SpecNet imports float32 models (int64 for shapes)", "export the model in float32");
        if (raw.Length > 0)
        {
            int size = type == Float || type == Int32 ? 4 : 8;
            if (raw.Length != count * size) throw new SpecNetException($"{what}: tensor '{name}' holds {raw.Length:N0} bytes for {count:N0} values");
            if (type == Float) return new OnnxTensor(name, [.. dims], System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw).ToArray(), []);
            var values = new long[count];
            for (int k = 0; k < count; k++)
                values[k] = size == 8 ? BinaryPrimitives.ReadInt64LittleEndian(raw.Slice(k * 8)) : BinaryPrimitives.ReadInt32LittleEndian(raw.Slice(k * 4));
            return new OnnxTensor(name, [.. dims], [], values);
        }
        long have = type == Float ? floats.Count : ints.Count;
        if (have != count) throw new SpecNetException($"{what}: tensor '{name}' holds {have:N0} values for dims [{string.Join(", ", dims)}]");
        return new OnnxTensor(name, [.. dims], [.. floats], [.. ints]);
    }

    private static OnnxValue ReadValue(ReadOnlySpan<byte> bytes, string what)
    {
        var r = new ProtobufReader(bytes, what);
        string name = "";
        var dims = new List<long>();
        while (r.More)
        {
            var (field, wire) = r.Tag();
            if (field == 1 && wire == 2) { name = r.String(); continue; }
            if (field != 2 || wire != 2) { r.Skip(wire); continue; }
            var type = new ProtobufReader(r.Bytes(), what);                 // TypeProto
            while (type.More)
            {
                var (tf, tw) = type.Tag();
                if (tf != 1 || tw != 2) { type.Skip(tw); continue; }
                var tensor = new ProtobufReader(type.Bytes(), what);       // TypeProto.Tensor
                while (tensor.More)
                {
                    var (ef, ew) = tensor.Tag();
                    if (ef != 2 || ew != 2) { tensor.Skip(ew); continue; }
                    var shape = new ProtobufReader(tensor.Bytes(), what);  // TensorShapeProto
                    while (shape.More)
                    {
                        var (sf, sw) = shape.Tag();
                        if (sf != 1 || sw != 2) { shape.Skip(sw); continue; }
                        var dim = new ProtobufReader(shape.Bytes(), what);
                        long value = -1;
                        while (dim.More)
                        {
                            var (df, dw) = dim.Tag();
                            if (df == 1 && dw == 0) value = (long)dim.Varint(); else dim.Skip(dw);
                        }
                        dims.Add(value);
                    }
                }
            }
        }
        return new OnnxValue(name, [.. dims]);
    }
}
