using SpecNet.Data;
using SpecNet.Kernels;

namespace SpecNet.Tests;

/// <summary>Small datasets the tests make themselves: 8x8 images of three learnable patterns with noise.</summary>
public static class TestData
{
    public const int Size = 8;

    /// <summary>Class 0: a horizontal bar; 1: a vertical bar; 2: a diagonal. Position and noise vary.</summary>
    public static (byte[] Pixels, byte[] Labels) Patterns(int count, int seed)
    {
        var rng = new Rng((ulong)seed);
        var pixels = new byte[count * Size * Size];
        var labels = new byte[count];
        for (int n = 0; n < count; n++)
        {
            int label = n % 3, offset = rng.NextInt(Size - 2) + 1;
            labels[n] = (byte)label;
            for (int y = 0; y < Size; y++)
                for (int x = 0; x < Size; x++)
                {
                    bool on = label switch { 0 => y == offset, 1 => x == offset, _ => (x - y + Size) % Size == offset };
                    pixels[n * Size * Size + y * Size + x] = (byte)Math.Clamp((on ? 200 : 20) + rng.NextInt(50) - 25, 0, 255);
                }
        }
        return (pixels, labels);
    }

    /// <summary>Writes train (gz) and test (raw) IDX files into <paramref name="folder"/>/data and a spec that uses them.</summary>
    public static string WriteSpecWithData(string folder, int trainCount = 600, int testCount = 150, int epochs = 3, string? layers = null)
    {
        var data = Path.Combine(folder, "data");
        var (trainX, trainY) = Patterns(trainCount, 1);
        var (testX, testY) = Patterns(testCount, 2);
        Idx.Write(Path.Combine(data, "train-images.gz"), [trainCount, Size, Size], trainX);
        Idx.Write(Path.Combine(data, "train-labels.gz"), [trainCount], trainY);
        Idx.Write(Path.Combine(data, "test-images"), [testCount, Size, Size], testX);
        Idx.Write(Path.Combine(data, "test-labels"), [testCount], testY);
        var spec = Path.Combine(folder, "patterns.yaml");
        File.WriteAllText(spec, $$"""
            name: patterns
            input: { shape: [8, 8, 1] }
            data:
              train: { images: data/train-images.gz, labels: data/train-labels.gz }
              test: { images: data/test-images, labels: data/test-labels }
            layers:
            {{layers ?? """
              - conv2d: { filters: 4, kernel_size: 3, activation: relu }
              - max_pool2d: { pool_size: 2 }
              - flatten
              - dense: { units: 16, activation: relu }
              - dense: { units: 3, activation: softmax }
            """}}
            training:
              optimizer: { adam: { learning_rate: 0.01 } }
              epochs: {{epochs}}
              batch_size: 32
              seed: 3
            """);
        return spec;
    }
}

/// <summary>A temporary folder removed after the test.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("specnet-test-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}

/// <summary>Checks that files are replaced whole, by a rename, rather than written over where they lie.</summary>
public static class Replacement
{
    /// <summary>
    /// Every file in <paramref name="folder"/> gets a second name (a hard link beside the folder) whose contents are then set to
    /// a sentinel, under both names. A rewrite by rename leaves the sentinel under the second name and new contents under the
    /// first; a file written over in place (truncated, then written) loses the sentinel under both.
    /// </summary>
    public static void AssertEveryFileReplacedWhole(string folder, Action rewrite)
    {
        var kept = folder.TrimEnd('/') + ".kept";
        Directory.CreateDirectory(kept);
        var names = Directory.GetFiles(folder).Select(f => System.IO.Path.GetFileName(f)).ToList();
        Assert.NotEmpty(names);
        foreach (var name in names)
        {
            Assert.Equal(0, link(System.IO.Path.Combine(folder, name), System.IO.Path.Combine(kept, name)));
            File.WriteAllText(System.IO.Path.Combine(kept, name), "sentinel");
        }
        rewrite();
        foreach (var name in names)
        {
            Assert.True(File.ReadAllText(System.IO.Path.Combine(kept, name)) == "sentinel", $"{name} was written over in place");
            Assert.True(File.ReadAllText(System.IO.Path.Combine(folder, name)) != "sentinel", $"{name} was not rewritten");
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int link(string existing, string added);
}
