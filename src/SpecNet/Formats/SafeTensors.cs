using SpecNet.Diagnostics;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SpecNet.Checking;

namespace SpecNet.Formats;

/// <summary>One tensor of a safetensors file. SpecNet's parameters are F32; other dtypes are read (checked, not converted) so that `verify` can name them.</summary>
public sealed record Tensor(string Name, int[] Shape, float[] Data, string Dtype = "F32");

/// <summary>
/// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON
/// (<c>{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {string: string}}</c>,
/// padded with spaces to 8 bytes), then the raw little-endian data. Reading trusts nothing: every
/// length and offset is checked against the file before anything is allocated from it.
/// </summary>
public static class SafeTensors
{
    public const long MaxHeaderBytes = 100 << 20;

    public static void Write(string path, IReadOnlyList<Tensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var header = new JsonObject();
        if (metadata.Count > 0)
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        foreach (var t in tensors)
        {
            long bytes = 4L * t.Data.Length;
            header[t.Name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
            stream.Write(length);
            stream.Write(json);
            for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            Span<byte> word = stackalloc byte[4];
            foreach (var t in tensors)
            {
                if (BitConverter.IsLittleEndian) stream.Write(MemoryMarshal.AsBytes(t.Data.AsSpan()));
                else foreach (var f in t.Data) { BinaryPrimitives.WriteSingleLittleEndian(word, f); stream.Write(word); }
            }
        });
    }

    public static (IReadOnlyList<Tensor> Tensors, IReadOnlyDictionary<string, string> Metadata) Read(string path) =>
        Reading(path, () => Parse(File.ReadAllBytes(path), path));

    /// <summary>
    /// The metadata alone, from the header: what a command reads first (a weights file's embedded spec, a checkpoint's progress, an
    /// import's fingerprint) without reading the tensors behind it. The tensors are checked when they are read.
    /// </summary>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path) => Reading(path, () =>
    {
        using var stream = File.OpenRead(path);
        var prefix = new byte[8];
        int got = stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false);
        var header = new byte[HeaderLength(prefix.AsSpan(0, got), stream.Length, path)];
        stream.ReadExactly(header);
        return ParsingJson(path, () => MetadataOf(Header(header, path), path));
    });

    public static (IReadOnlyList<Tensor> Tensors, IReadOnlyDictionary<string, string> Metadata) Parse(byte[] bytes, string path) =>
        ParsingJson(path, () => ParseUnchecked(bytes, path));

    /// <summary>A file read by <paramref name="read"/>: missing, unreadable or forbidden is one clear error.</summary>
    private static T Reading<T>(string path, Func<T> read)
    {
        if (!File.Exists(path)) throw new SpecNetException($"{path}: no such file", "train the spec first (specnet train SPEC), or check the path");
        try { return read(); }
        catch (IOException e) { throw new SpecNetException($"{path}: cannot be read: {e.Message}"); }
        catch (UnauthorizedAccessException) { throw new SpecNetException($"{path}: permission denied"); }
    }

    /// <summary>
    /// The header's JSON read by <paramref name="parse"/>. System.Text.Json reports some malformed headers lazily (invalid UTF-8
    /// inside a string, a number too large), as other exceptions than its own.
    /// </summary>
    private static T ParsingJson<T>(string path, Func<T> parse)
    {
        try { return parse(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or ArgumentException or OverflowException)
        {
            throw Bad(path, $"header is not valid JSON ({e.Message})");
        }
    }

    /// <summary>The header's length from the file's first 8 bytes (<paramref name="prefix"/>), checked against the file's.</summary>
    private static int HeaderLength(ReadOnlySpan<byte> prefix, long fileLength, string path)
    {
        if (prefix.Length < 8) throw Bad(path, $"{fileLength} bytes is too short for a safetensors file");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)(fileLength - 8) || headerLength > MaxHeaderBytes)
            throw Bad(path, $"header length {headerLength:N0} runs past the end of the {fileLength:N0}-byte file");
        return (int)headerLength;
    }

    private static (IReadOnlyList<Tensor> Tensors, IReadOnlyDictionary<string, string> Metadata) ParseUnchecked(byte[] bytes, string path)
    {
        int headerLength = HeaderLength(bytes.AsSpan(0, Math.Min(8, bytes.Length)), bytes.Length, path);
        var header = Header(bytes.AsSpan(8, headerLength), path);
        long dataStart = 8 + (long)headerLength, dataLength = bytes.Length - dataStart;
        var metadata = MetadataOf(header, path);
        var tensors = new List<Tensor>();
        var ranges = new List<(long Begin, long End, string Name)>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__") continue;
            if (node is not JsonObject t) throw Bad(path, $"tensor '{name}' is not described by a map");
            var dtype = (t["dtype"] as JsonValue)?.TryGetValue<string>(out var d) == true ? d : null;
            if (dtype is null || !ElementBytes.TryGetValue(dtype, out var elementBytes))
                throw Bad(path, $"tensor '{name}' has dtype {dtype ?? "(none)"}, which safetensors does not define");
            var shape = Ints(t["shape"], path, name, "shape");
            var offsets = Longs(t["data_offsets"], path, name);
            long count = 1;
            foreach (var dim in shape) { count *= dim; if (count > int.MaxValue / 4) throw Bad(path, $"tensor '{name}' shape [{string.Join(", ", shape)}] is too large"); }
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                throw Bad(path, $"tensor '{name}' data_offsets [{string.Join(", ", offsets)}] lie outside the {dataLength:N0} data bytes");
            if (offsets[1] - offsets[0] != count * elementBytes)
                throw Bad(path, $"tensor '{name}' shape [{string.Join(", ", shape)}] needs {count * elementBytes:N0} bytes of {dtype}, but its data_offsets span {offsets[1] - offsets[0]:N0}");
            ranges.Add((offsets[0], offsets[1], name));
            if (dtype != "F32") { tensors.Add(new Tensor(name, shape, [], dtype)); continue; }
            var data = new float[count];
            var raw = bytes.AsSpan((int)(dataStart + offsets[0]), (int)(count * 4));
            if (BitConverter.IsLittleEndian) MemoryMarshal.Cast<byte, float>(raw).CopyTo(data);
            else for (int i = 0; i < count; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(4 * i)..]);
            tensors.Add(new Tensor(name, shape, data));
        }
        ranges.Sort();
        for (int i = 1; i < ranges.Count; i++)
            if (ranges[i].Begin < ranges[i - 1].End)
                throw Bad(path, $"tensors '{ranges[i - 1].Name}' and '{ranges[i].Name}' overlap in the data");
        return (tensors, metadata);
    }

    /// <summary>The header's JSON object.</summary>
    private static JsonObject Header(ReadOnlySpan<byte> json, string path)
    {
        try
        {
            return JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 8 }) as JsonObject ?? throw Bad(path, "header is not a JSON object");
        }
        catch (JsonException e) { throw Bad(path, $"header is not valid JSON ({e.Message})"); }
    }

    /// <summary>The header's __metadata__: a map of strings (none: empty).</summary>
    private static Dictionary<string, string> MetadataOf(JsonObject header, string path)
    {
        var metadata = new Dictionary<string, string>();
        if (header["__metadata__"] is not { } node) return metadata;
        if (node is not JsonObject meta) throw Bad(path, "__metadata__ is not a map of strings");
        foreach (var (k, v) in meta)
            metadata[k] = v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : throw Bad(path, $"metadata '{k}' is not a string");
        return metadata;
    }

    private static readonly Dictionary<string, int> ElementBytes = new()
    {
        ["F64"] = 8, ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2, ["I64"] = 8, ["I32"] = 4, ["I16"] = 2, ["I8"] = 1,
        ["U64"] = 8, ["U32"] = 4, ["U16"] = 2, ["U8"] = 1, ["BOOL"] = 1, ["F8_E4M3"] = 1, ["F8_E5M2"] = 1,
    };

    private static int[] Ints(JsonNode? node, string path, string name, string what)
    {
        if (node is not JsonArray array) throw Bad(path, $"tensor '{name}' has no {what} list");
        return array.Select(v => v is JsonValue jv && jv.TryGetValue<long>(out var l) && l is >= 0 and <= int.MaxValue ? (int)l
            : throw Bad(path, $"tensor '{name}' {what} holds {v?.ToJsonString() ?? "null"}, not a size")).ToArray();
    }

    private static long[] Longs(JsonNode? node, string path, string name)
    {
        if (node is not JsonArray array) throw Bad(path, $"tensor '{name}' has no data_offsets");
        return array.Select(v => v is JsonValue jv && jv.TryGetValue<long>(out var l) ? l
            : throw Bad(path, $"tensor '{name}' data_offsets hold {v?.ToJsonString() ?? "null"}, not an offset")).ToArray();
    }

    private static SpecNetException Bad(string path, string problem) =>
        new($"{path}: not a valid safetensors file: {problem}", "the file is damaged or not a weights file; train again or get a fresh copy");
}
