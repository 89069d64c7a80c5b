using SpecNet.Schema;

namespace SpecNet.Data;

/// <summary>
/// Labelled images kept as bytes (60k 28x28 images = 47 MB), converted to floats in [0, 1] per batch.
/// Pixels are stored NHWC, the layout the engine runs in.
/// </summary>
public sealed class Dataset
{
    public Dataset(string name, Shape shape, byte[] pixels, byte[] labels, string? source = null)
    {
        Source = source;
        if (pixels.Length != (long)labels.Length * shape.Size)
            throw new ArgumentException($"{name}: {pixels.Length} pixel bytes do not make {labels.Length} images of {shape}");
        Name = name;
        Shape = shape;
        Pixels = pixels;
        Labels = labels;
    }

    public string Name { get; }
    /// <summary>Where the examples came from (file names), for error messages.</summary>
    public string? Source { get; }
    /// <summary>One image: height x width x channels.</summary>
    public Shape Shape { get; }
    public byte[] Pixels { get; }
    public byte[] Labels { get; }
    public int Count => Labels.Length;
    public int Classes => Labels.Length == 0 ? 0 : Labels.Max() + 1;

    /// <summary>Copies the examples at <paramref name="indices"/> into x (scaled to [0, 1]) and their labels.</summary>
    public void FillBatch(ReadOnlySpan<int> indices, Span<float> x, Span<int> labels)
    {
        int size = Shape.Size;
        const float scale = 1f / 255;
        for (int b = 0; b < indices.Length; b++)
        {
            int n = indices[b];
            var src = Pixels.AsSpan(n * size, size);
            var dst = x.Slice(b * size, size);
            for (int i = 0; i < size; i++) dst[i] = src[i] * scale;
            labels[b] = Labels[n];
        }
    }

    /// <summary>A short, stable fingerprint of the contents (for weights metadata and run caches).</summary>
    public string Fingerprint()
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        sha.AppendData(Pixels);
        sha.AppendData(Labels);
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }
}
