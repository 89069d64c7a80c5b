using SpecNet.Diagnostics;
using System.Buffers.Binary;
using System.Text;
using SpecNet.Checking;
using SpecNet.Formats;
using SpecNet.Planning;
using SpecNet.Tests.Layers;

namespace SpecNet.Tests.Formats;

public class SafeTensorsTests
{
    [Fact]
    public void Round_trips_tensors_and_metadata()
    {
        using var dir = new TempFolder();
        var tensors = new[] { new Tensor("a.weight", [2, 3], [1, 2, 3, 4, 5, 6]), new Tensor("a.bias", [2], [-1, 0.5f]) };
        SafeTensors.Write(dir.File("w.safetensors"), tensors, new Dictionary<string, string> { ["k"] = "v" });
        var bytes = File.ReadAllBytes(dir.File("w.safetensors"));
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes) % 8); // header padded to 8 bytes
        var (read, meta) = SafeTensors.Read(dir.File("w.safetensors"));
        Assert.Equal("v", meta["k"]);
        Assert.Equal(tensors.Select(t => (t.Name, string.Join(",", t.Shape), string.Join(",", t.Data))),
                     read.Select(t => (t.Name, string.Join(",", t.Shape), string.Join(",", t.Data))));
    }

    private static byte[] File_(string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        return bytes;
    }

    public static TheoryData<string, byte[], string> Hostile() => new()
    {
        { "short", [1, 2, 3], "too short" },
        { "header past end", [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x7b, 0x7d], "runs past the end" },
        { "not json", File_("{nope", 0), "not valid JSON" },
        { "unknown dtype", File_("""{"t":{"dtype":"Q4","shape":[2],"data_offsets":[0,4]}}""", 4), "dtype Q4" },
        { "dtype size mismatch", File_("""{"t":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}""", 8), "needs 4 bytes of F16" },
        { "offsets out of range", File_("""{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 4), "outside" },
        { "shape mismatch", File_("""{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8), "needs 12 bytes" },
        { "overlap", File_("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12), "overlap" },
        { "negative dim", File_("""{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4), "not a size" },
        { "huge shape", File_("""{"t":{"dtype":"F32","shape":[100000,100000],"data_offsets":[0,4]}}""", 4), "too large" },
        { "metadata not string", File_("""{"__metadata__":{"a":1}}""", 0), "not a string" },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void Hostile_files_give_one_clear_error(string what, byte[] bytes, string expected)
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File(what), bytes);
        var e = Assert.Throws<SpecNetException>(() => SafeTensors.Read(dir.File(what)));
        Assert.Contains(expected, e.Message);
        Assert.Contains("not a valid safetensors file", e.Message);
    }

    /// <summary>The header's problems are ReadMetadata's too; the tensors behind it it does not read (a 100 MB model's spec is a few KB).</summary>
    [Theory]
    [MemberData(nameof(Hostile))]
    public void Metadata_alone_reads_the_header_only(string what, byte[] bytes, string expected)
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File(what), bytes);
        bool headerProblem = what is "short" or "header past end" or "not json" or "metadata not string";
        if (headerProblem) Assert.Contains(expected, Assert.Throws<SpecNetException>(() => SafeTensors.ReadMetadata(dir.File(what))).Message);
        else Assert.Empty(SafeTensors.ReadMetadata(dir.File(what)));

        // a file cut short in its tensors: its metadata read, the tensors refused when they are read
        SafeTensors.Write(dir.File("w.safetensors"), [new Tensor("a", [1000], new float[1000])], new Dictionary<string, string> { ["spec"] = "name: x" });
        using (var f = File.OpenWrite(dir.File("w.safetensors"))) f.SetLength(f.Length - 100);
        Assert.Equal("name: x", SafeTensors.ReadMetadata(dir.File("w.safetensors"))["spec"]);
        Assert.Contains("outside", Assert.Throws<SpecNetException>(() => SafeTensors.Read(dir.File("w.safetensors"))).Message);
    }

    private static ModelSpec Conv() => GradientCheckTests.Compile("input: { shape: [4, 4, 2] }\nlayers:\n  - conv2d: { filters: 3, kernel_size: [2, 3] }\n  - flatten\n  - dense: { units: 2, activation: softmax }\n");

    [Fact]
    public void Conv_kernel_is_stored_out_in_kh_kw_as_pytorch()
    {
        using var dir = new TempFolder();
        var model = Conv();
        var set = new ParameterSet(model);
        var w = set.Slots[0].Value; // internal [F, KH, KW, C]
        for (int i = 0; i < w.Length; i++) w[i] = i;
        WeightsFile.Save(dir.File("w.safetensors"), set, new Dictionary<string, string>());
        var (tensors, _) = SafeTensors.Read(dir.File("w.safetensors"));
        var file = tensors.Single(t => t.Name == "conv2d_1.weight");
        Assert.Equal([3, 2, 2, 3], file.Shape);
        // file[f, c, i, j] == internal[f, i, j, c]
        Assert.Equal(((1 * 2 + 1) * 3 + 2) * 2 + 0, file.Data[((1 * 2 + 0) * 2 + 1) * 3 + 2]);
        var back = WeightsFile.Load(dir.File("w.safetensors"), model);
        Assert.Equal(w, back.Slots[0].Value);
    }

    [Fact]
    public void Weights_for_another_spec_name_the_layer_and_both_shapes()
    {
        using var dir = new TempFolder();
        var model = Conv();
        WeightsFile.Save(dir.File("w.safetensors"), ParameterSet.Initialize(model, 1), new Dictionary<string, string>());
        var other = GradientCheckTests.Compile("input: { shape: [4, 4, 2] }\nlayers:\n  - conv2d: { filters: 5, kernel_size: [2, 3] }\n  - flatten\n  - dense: { units: 2, activation: softmax }\n");
        var e = Assert.Throws<SpecNetException>(() => WeightsFile.Load(dir.File("w.safetensors"), other));
        Assert.Contains("layer 'conv2d_1' (conv2d): 'conv2d_1.weight' is [3, 2, 2, 3] in the file, but the spec needs [5, 2, 2, 3]", e.Message);
        Assert.Contains("'dense_1.weight' is [2, 18] in the file, but the spec needs [2, 30]", e.Message);
    }

    [Fact]
    public void Non_finite_weights_are_refused()
    {
        using var dir = new TempFolder();
        var model = Conv();
        var set = ParameterSet.Initialize(model, 1);
        set.Slots[2].Value[1] = float.NaN;
        WeightsFile.Save(dir.File("w.safetensors"), set, new Dictionary<string, string>());
        Assert.Contains("non-finite", Assert.Throws<SpecNetException>(() => WeightsFile.Load(dir.File("w.safetensors"), model)).Message);
    }

    [Fact]
    public void Failed_write_keeps_the_old_file()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("w.safetensors"), "old");
        var blocked = dir.File("w.safetensors/inside"); // a path under a file cannot be created
        Assert.Throws<SpecNetException>(() => SafeTensors.Write(blocked, [], new Dictionary<string, string>()));
        Assert.Equal("old", File.ReadAllText(dir.File("w.safetensors")));
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}

public class FullDiskTests
{
    /// <summary>A real full file system (a 64 KB tmpfs, when this test may mount one): the write fails cleanly and the old file stays.</summary>
    [SkippableFact]
    public void Writing_to_a_full_disk_keeps_the_old_file()
    {
        Optional.Require(OperatingSystem.IsLinux() && Environment.UserName == "root", "needs root on Linux to mount a small tmpfs");
        using var dir = new TempFolder();
        var mount = System.Diagnostics.Process.Start("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir.Path]);
        mount.WaitForExit();
        Optional.Require(mount.ExitCode == 0, "mount is not permitted here");
        try
        {
            var path = Path.Combine(dir.Path, "w.safetensors");
            SafeTensors.Write(path, [new Tensor("a", [4], [1, 2, 3, 4])], new Dictionary<string, string>());
            var before = File.ReadAllBytes(path);
            var e = Assert.Throws<SpecNet.Diagnostics.SpecNetException>(() =>
                SafeTensors.Write(path, [new Tensor("big", [100_000], new float[100_000])], new Dictionary<string, string>()));
            Assert.Contains("cannot be written", e.Message);
            Assert.Equal(before, File.ReadAllBytes(path));
            Assert.Single(Directory.GetFiles(dir.Path)); // the temporary file is gone
        }
        finally
        {
            System.Diagnostics.Process.Start("umount", [dir.Path]).WaitForExit();
        }
    }
}
