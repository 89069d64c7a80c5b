using System.Buffers.Binary;
using System.Text;

namespace SpecNet.Formats;

/// <summary>
/// The few protocol-buffer encodings ONNX needs, written directly: varints, fixed 32-bit floats and
/// length-delimited fields (strings, bytes, nested messages). A message is built bottom-up and nested
/// by value, so no schema compiler or runtime is needed.
/// </summary>
public sealed class Protobuf
{
    private readonly MemoryStream _buffer = new();

    public byte[] ToArray() => _buffer.ToArray();

    public Protobuf Int(int field, long value)
    {
        Tag(field, 0);
        Varint((ulong)value);
        return this;
    }

    public Protobuf Float(int field, float value)
    {
        Tag(field, 5);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
        _buffer.Write(bytes);
        return this;
    }

    public Protobuf Bytes(int field, ReadOnlySpan<byte> value)
    {
        Tag(field, 2);
        Varint((ulong)value.Length);
        _buffer.Write(value);
        return this;
    }

    public Protobuf String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public Protobuf Message(int field, Protobuf message) => Bytes(field, message.ToArray());

    /// <summary>A repeated int64 field, one entry per value (valid for packed and unpacked readers alike).</summary>
    public Protobuf Ints(int field, IEnumerable<long> values)
    {
        foreach (var v in values) Int(field, v);
        return this;
    }

    private void Tag(int field, int wireType) => Varint((ulong)((field << 3) | wireType));

    private void Varint(ulong value)
    {
        while (value >= 0x80)
        {
            _buffer.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        _buffer.WriteByte((byte)value);
    }
}
