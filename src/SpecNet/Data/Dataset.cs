using SpecNet.Checking;
using SpecNet.Schema;

namespace SpecNet.Data;

/// <summary>
/// Labelled examples as 8-bit values (HWC), converted to the model's floats per batch by the spec's
/// preprocessing. Either held in memory (IDX, CSV: 60k 28x28 images = 47 MB) or read on demand
/// (an image folder: only a batch is ever decoded at once, so 200k files never sit in memory).
/// A CSV file of features that are not 8-bit values (fractions, negatives, large numbers) is held as
/// floats, exactly as written, and goes through the same preprocessing formula.
/// </summary>
public sealed class Dataset
{
    private readonly byte[]? _pixels;
    private readonly float[]? _features;
    private readonly Func<int, byte[]>? _read;
    private readonly string? _fingerprint;
    private float[]? _table;                 // Preprocessing.Table, made at the first batch

    public Dataset(string name, Shape shape, byte[] pixels, byte[] labels, string? source = null)
    {
        if (pixels.Length != (long)labels.Length * shape.Size)
            throw new ArgumentException($"{name}: {pixels.Length} pixel bytes do not make {labels.Length} images of {shape}");
        (Name, Shape, _pixels, Labels, Source) = (name, shape, pixels, labels, source);
    }

    /// <summary>Examples of features held as floats (a CSV file whose values are not all 8-bit).</summary>
    public Dataset(string name, Shape shape, float[] features, byte[] labels, string? source = null)
    {
        if (features.Length != (long)labels.Length * shape.Size)
            throw new ArgumentException($"{name}: {features.Length} values do not make {labels.Length} examples of {shape}");
        (Name, Shape, _features, Labels, Source) = (name, shape, features, labels, source);
    }

    /// <summary>Examples read on demand: <paramref name="read"/> returns example i's values.</summary>
    public Dataset(string name, Shape shape, byte[] labels, Func<int, byte[]> read, string source, string fingerprint)
    {
        (Name, Shape, Labels, _read, Source, _fingerprint) = (name, shape, labels, read, source, fingerprint);
    }

    public string Name { get; }
    /// <summary>Where the examples came from (file names), for error messages.</summary>
    public string? Source { get; }
    /// <summary>One image: height x width x channels.</summary>
    public Shape Shape { get; }
    public byte[] Labels { get; }
    public int Count => Labels.Length;
    public int Classes => Labels.Length == 0 ? 0 : Labels.Max() + 1;
    /// <summary>Class names, when known (the spec's labels, or the image folders' names).</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }
    public Preprocessing Preprocessing { get; init; } = Preprocessing.Default;

    /// <summary>All values, for a dataset held in memory.</summary>
    public byte[] Pixels => _pixels ?? throw new InvalidOperationException($"{Name} is not held as 8-bit values in memory; use Example");

    /// <summary>Whether the examples are features held as floats rather than 8-bit values.</summary>
    public bool HoldsFeatures => _features is not null;

    /// <summary>Example i's 8-bit values (HWC), from memory or read from its file; features rounded into 0..255, for pictures only.</summary>
    public byte[] Example(int index) =>
        _pixels is not null ? _pixels.AsSpan(index * Shape.Size, Shape.Size).ToArray()
        : _features is not null ? _features.AsSpan(index * Shape.Size, Shape.Size).ToArray().Select(v => (byte)Math.Clamp(MathF.Round(v), 0, 255)).ToArray()
        : _read!(index);

    /// <summary>Example i's values as numbers: features as written, 8-bit values as they are.</summary>
    public float[] Values(int index) =>
        _features is not null ? _features.AsSpan(index * Shape.Size, Shape.Size).ToArray() : Array.ConvertAll(Example(index), b => (float)b);

    /// <summary>Copies the examples at <paramref name="indices"/> into x (preprocessed) and their labels.</summary>
    public void FillBatch(ReadOnlySpan<int> indices, Span<float> x, Span<int> labels)
    {
        int size = Shape.Size;
        Span<byte> values = size <= 1 << 16 ? stackalloc byte[size] : new byte[size];
        for (int b = 0; b < indices.Length; b++)
        {
            int n = indices[b];
            labels[b] = Labels[n];
            if (_features is not null)
            {
                Preprocessing.Apply(_features.AsSpan(n * size, size), x.Slice(b * size, size), Shape.Channels);
                continue;
            }
            ReadOnlySpan<byte> example = _pixels is not null ? _pixels.AsSpan(n * size, size) : ReadInto(n, values);
            Preprocessing.Apply(example, x.Slice(b * size, size), Shape.Channels, _table ??= Preprocessing.Table(Shape.Channels));
        }
    }

    private Span<byte> ReadInto(int n, Span<byte> values)
    {
        _read!(n).CopyTo(values);
        return values;
    }

    /// <summary>The examples at <paramref name="indices"/> as a dataset of their own (a validation split).</summary>
    public Dataset Subset(string name, IReadOnlyList<int> indices)
    {
        var labels = indices.Select(i => Labels[i]).ToArray();
        if (_pixels is null && _features is null)
        {
            var map = indices.ToArray();
            return new Dataset(name, Shape, labels, i => _read!(map[i]), Source!, $"{Fingerprint()}:{string.Join(",", map.Take(8))}:{map.Length}")
                { ClassNames = ClassNames, Preprocessing = Preprocessing };
        }
        if (_features is not null)
        {
            var features = new float[indices.Count * Shape.Size];
            for (int k = 0; k < indices.Count; k++) _features.AsSpan(indices[k] * Shape.Size, Shape.Size).CopyTo(features.AsSpan(k * Shape.Size));
            return new Dataset(name, Shape, features, labels, Source) { ClassNames = ClassNames, Preprocessing = Preprocessing };
        }
        var pixels = new byte[indices.Count * Shape.Size];
        for (int k = 0; k < indices.Count; k++) _pixels.AsSpan(indices[k] * Shape.Size, Shape.Size).CopyTo(pixels.AsSpan(k * Shape.Size));
        return new Dataset(name, Shape, pixels, labels, Source) { ClassNames = ClassNames, Preprocessing = Preprocessing };
    }

    /// <summary>The same examples with other preprocessing and class names (no copy of the values).</summary>
    public Dataset Retag(Preprocessing preprocessing, IReadOnlyList<string>? classNames) =>
        _pixels is not null ? new Dataset(Name, Shape, _pixels, Labels, Source) { Preprocessing = preprocessing, ClassNames = classNames }
        : _features is not null ? new Dataset(Name, Shape, _features, Labels, Source) { Preprocessing = preprocessing, ClassNames = classNames }
        : new Dataset(Name, Shape, Labels, _read!, Source!, _fingerprint!) { Preprocessing = preprocessing, ClassNames = classNames };

    /// <summary>A short, stable fingerprint of the contents (for weights metadata and run caches).</summary>
    public string Fingerprint()
    {
        if (_fingerprint is not null) return _fingerprint;
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        if (_features is not null) sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_features.AsSpan()));
        else sha.AppendData(_pixels!);
        sha.AppendData(Labels);
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    /// <summary>The name of class c: from the spec or the folders, else the number.</summary>
    public string ClassName(int c) => ClassNames is { } names && c < names.Count ? names[c] : c.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
