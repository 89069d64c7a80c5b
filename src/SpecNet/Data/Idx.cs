using SpecNet.Diagnostics;
using System.Buffers.Binary;
using System.IO.Compression;
using SpecNet.Checking;

namespace SpecNet.Data;

/// <summary>
/// The IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed (detected by magic bytes):
/// two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions, then each dimension as
/// a big-endian uint32, then the data. Every size is checked against the file before anything is allocated.
/// </summary>
public static class Idx
{
    /// <summary>The largest payload accepted (a dataset far larger than MNIST's 47 MB).</summary>
    public const long MaxBytes = 2L << 30;

    public sealed record Array(int[] Dims, byte[] Data);

    public static Array Read(string path)
    {
        if (!File.Exists(path)) throw new SpecNetException($"{path}: no such file", "check the data paths in the spec (relative to the spec's folder)");
        try
        {
            using var file = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[2];
            int got = file.Read(magic);
            file.Position = 0;
            bool gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
            using Stream stream = gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
            return Parse(stream, path, gzip ? null : file.Length);
        }
        catch (InvalidDataException e) { throw new SpecNetException($"{path}: corrupt gzip data ({e.Message})", "download the file again"); }
        catch (IOException e) { throw new SpecNetException($"{path}: cannot be read: {e.Message}"); }
        catch (UnauthorizedAccessException) { throw new SpecNetException($"{path}: permission denied"); }
    }

    private static Array Parse(Stream stream, string path, long? length)
    {
        Span<byte> head = stackalloc byte[4];
        if (!ReadExactly(stream, head)) throw Bad(path, "too short to be an IDX file");
        if (head[0] != 0 || head[1] != 0) throw Bad(path, "not an IDX file (bad magic number)");
        if (head[2] != 0x08) throw Bad(path, $"IDX element type 0x{head[2]:x2} is not supported (only unsigned bytes, 0x08)");
        int rank = head[3];
        if (rank is < 1 or > 4) throw Bad(path, $"IDX rank {rank} is not supported (1 to 4)");
        Span<byte> dimBytes = stackalloc byte[4 * rank];
        if (!ReadExactly(stream, dimBytes)) throw Bad(path, "truncated in its header");
        var dims = new int[rank];
        long total = 1;
        for (int i = 0; i < rank; i++)
        {
            uint d = BinaryPrimitives.ReadUInt32BigEndian(dimBytes[(4 * i)..]);
            if (d > int.MaxValue) throw Bad(path, $"dimension {i} is {d}, too large");
            dims[i] = (int)d;
            total *= d;
            if (total > MaxBytes) throw Bad(path, $"declares {total:N0}+ bytes of data, more than the {MaxBytes:N0} accepted");
        }
        long header = 4 + 4 * rank;
        if (length is { } len && len - header != total)
            throw Bad(path, $"header declares {total:N0} data bytes ({string.Join(" x ", dims)}), but the file holds {len - header:N0}");
        var data = GC.AllocateUninitializedArray<byte>((int)total);
        if (!ReadExactly(stream, data)) throw Bad(path, $"truncated: header declares {total:N0} data bytes ({string.Join(" x ", dims)})");
        if (length is null && stream.ReadByte() != -1) throw Bad(path, $"holds more data than its header declares ({string.Join(" x ", dims)})");
        return new Array(dims, data);
    }

    private static bool ReadExactly(Stream stream, Span<byte> buffer)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = stream.Read(buffer[read..]);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }

    private static SpecNetException Bad(string path, string problem) => new($"{path}: {problem}", "the file may be damaged or not what the spec expects; download it again");

    /// <summary>Reads an images file and a labels file as one dataset, checking that they agree.</summary>
    public static Dataset ReadDataset(string name, string imagesPath, string labelsPath)
    {
        var images = Read(imagesPath);
        var labels = Read(labelsPath);
        if (images.Dims.Length is not (3 or 4)) throw Bad(imagesPath, $"images must have rank 3 (count, height, width) or 4 (with channels), not {images.Dims.Length}");
        if (labels.Dims.Length != 1) throw Bad(labelsPath, $"labels must have rank 1 (count), not {labels.Dims.Length}");
        if (images.Dims[0] != labels.Dims[0])
            throw new SpecNetException($"{imagesPath} holds {images.Dims[0]:N0} images but {labelsPath} holds {labels.Dims[0]:N0} labels",
                "the two files must come from the same split");
        var shape = Schema.Shape.Spatial(images.Dims[1], images.Dims[2], images.Dims.Length == 4 ? images.Dims[3] : 1);
        return new Dataset(name, shape, images.Data, labels.Data, $"{imagesPath}, {labelsPath}");
    }

    /// <summary>Writes an IDX file of unsigned bytes (gzip when the path ends in .gz), atomically.</summary>
    public static void Write(string path, int[] dims, ReadOnlySpan<byte> data)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        bytes[2] = 0x08; bytes[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4 + 4 * i), (uint)dims[i]);
        data.CopyTo(bytes.AsSpan(4 + 4 * dims.Length));
        Formats.AtomicFile.Write(path, stream =>
        {
            if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
            {
                using var gz = new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true);
                gz.Write(bytes);
            }
            else stream.Write(bytes);
        });
    }
}
