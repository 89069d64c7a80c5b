using System.Text.Json;
using SpecNet.Formats;

namespace SpecNet.Tests.Cli;

public class ShipCommandTests
{
    private static readonly string Sample = TestPaths.Repo("samples", "mnist-cnn.safetensors");
    private static readonly string Spec = TestPaths.Repo("specs", "mnist-cnn.yaml");

    [Fact]
    public void Inspect_shows_metadata_tensors_and_total()
    {
        var r = CliRunner.Run("inspect", Sample);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("spec_name            mnist-cnn", r.Output);
        Assert.Contains("conv2d_1.weight  F32    [32, 1, 3, 3]", r.Output);
        Assert.Contains("110,474", r.Output);
        var json = JsonDocument.Parse(CliRunner.Run("inspect", Sample, "--json").Output).RootElement;
        Assert.Equal(110_474, json.GetProperty("total_values").GetInt64());
        Assert.Equal(10, json.GetProperty("tensors").GetArrayLength());
        Assert.Equal("42", json.GetProperty("metadata").GetProperty("seed").GetString());
    }

    [Fact]
    public void Verify_accepts_the_matching_spec()
    {
        var r = CliRunner.Run("verify", Spec, Sample);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("fits", r.Output);
    }

    [Fact]
    public void Verify_lists_precise_problems_with_exit_2()
    {
        var r = CliRunner.Run("verify", TestPaths.Repo("specs", "mnist-strided.yaml"), Sample);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("layer 'dense_1' (dense): 'dense_1.weight' is [128, 128] in the file, but the spec needs [128, 512]", r.Error);
        Assert.Contains("spec_hash", r.Error);
    }

    [Fact]
    public void Verify_reports_non_finite_values_and_leftover_tensors()
    {
        using var dir = new TempFolder();
        var (tensors, metadata) = SafeTensors.Read(Sample);
        var changed = tensors.Select(t => t.Name == "dense_2.bias" ? t with { Data = [.. t.Data[..9], float.PositiveInfinity] } : t)
            .Append(new Tensor("extra.weight", [2], [1, 2])).ToList();
        SafeTensors.Write(dir.File("bad.safetensors"), changed, metadata);
        var r = CliRunner.Run("verify", Spec, dir.File("bad.safetensors"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("tensor 'dense_2.bias' holds a non-finite value", r.Error);
        Assert.Contains("'extra.weight' [2] that no layer of the spec uses", r.Error);
    }

    [Fact]
    public void Verify_names_a_tensor_of_the_wrong_dtype()
    {
        using var dir = new TempFolder();
        var bytes = File.ReadAllBytes(Sample);
        // Rewrite dense_2.bias's dtype in the header: F32 [10] (40 bytes) -> F16 [20] (40 bytes).
        var headerLength = (int)BitConverter.ToUInt64(bytes, 0);
        var header = System.Text.Encoding.UTF8.GetString(bytes, 8, headerLength);
        var patched = header.Replace("\"dense_2.bias\":{\"dtype\":\"F32\",\"shape\":[10]", "\"dense_2.bias\":{\"dtype\":\"F16\",\"shape\":[20]");
        Assert.NotEqual(header, patched);
        Assert.Equal(header.Length, patched.Length);
        System.Text.Encoding.UTF8.GetBytes(patched).CopyTo(bytes, 8);
        File.WriteAllBytes(dir.File("f16.safetensors"), bytes);
        var r = CliRunner.Run("verify", Spec, dir.File("f16.safetensors"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("'dense_2.bias' is F16 in the file; SpecNet weights are F32", r.Error);
    }

    [Fact]
    public void Samples_predict_the_sample_digits_from_the_weights_file_alone()
    {
        var digits = Enumerable.Range(0, 10).Select(d => TestPaths.Repo("samples", "digits", $"{d}.png")).ToArray();
        var r = CliRunner.Run(["predict", Sample, .. digits, "--json"]);
        Assert.True(r.ExitCode == 0, r.All);
        var classes = JsonDocument.Parse(r.Output).RootElement.GetProperty("predictions").EnumerateArray().Select(p => p.GetProperty("class").GetInt32()).ToArray();
        Assert.True(classes.Select((c, d) => c == d).Count(x => x) >= 9, string.Join(",", classes));
    }

    [Fact]
    public void Spec_and_weights_that_disagree_name_the_layer()
    {
        var r = CliRunner.Run("predict", TestPaths.Repo("specs", "lenet5.yaml"), "--weights", Sample, TestPaths.Repo("samples", "digits", "3.png"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("layer 'c1' (conv2d): the file has no tensor 'c1.weight'", r.Error);
    }
}
