using System.Text;
using System.Text.Json;

namespace SpecNet.Tests.Cli;

public class CheckCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("specnet-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Valid_spec_prints_summary_and_exits_0()
    {
        var r = CliRunner.Run("check", TestPaths.Repo("specs", "mnist-cnn.yaml"));
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Total params:         110,474", r.Output);
        Assert.Contains("conv2d_1 (conv2d)", r.Output);
        Assert.Contains("warning SN2101", r.Output);
        Assert.Equal("", r.Error);

        // A weights file in the spec's place, as every other command takes it: its embedded spec, checked the same.
        var weights = CliRunner.Run("check", TestPaths.Repo("samples", "mnist-cnn.safetensors"));
        Assert.True(weights.ExitCode == 0, weights.All);
        Assert.Equal(r.Output.Split('\n')[..20], weights.Output.Split('\n')[..20]);
    }

    [Fact]
    public void Json_summary_has_the_documented_fields()
    {
        var r = CliRunner.Run("check", TestPaths.Repo("specs", "mnist-strided.yaml"), "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Output);
        var root = doc.RootElement;
        Assert.Equal("mnist-strided", root.GetProperty("name").GetString());
        Assert.Equal(159_626, root.GetProperty("total_params").GetInt64());
        Assert.Equal(159_626, root.GetProperty("trainable_params").GetInt64());
        Assert.Equal(1_073_952, root.GetProperty("macs").GetInt64());
        var layers = root.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(6, layers.Count);
        Assert.Equal("conv2d", layers[0].GetProperty("type").GetString());
        Assert.Equal([13, 13, 32], layers[0].GetProperty("output_shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([512], layers[3].GetProperty("output_shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(6, layers[0].GetProperty("line").GetInt32());
        Assert.Equal(320, layers[0].GetProperty("params").GetInt64());
        Assert.Equal(48_672, layers[0].GetProperty("macs").GetInt64());
    }

    [Fact]
    public void Spec_with_errors_exits_2_and_reports_every_problem_located()
    {
        var path = Write("broken.yaml", """
            name: broken
            input: { shape: [28, 28, 1] }
            layers:
              - conv2d: { filters: 32, kernel_size: 3, activaton: relu }
              - maxpool2d: { pool_size: 2 }
              - dense: { units: 10, activation: softmax }
            training:
              epochs: 0
            """);
        var r = CliRunner.Run("check", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("broken.yaml(4,44): error SN1003: conv2d layer 'conv2d_1' has no option 'activaton'", r.Error);
        Assert.Contains("did you mean 'activation'?", r.Error);
        Assert.Contains("broken.yaml(5,5): error SN1005: unknown layer kind 'maxpool2d'", r.Error);
        Assert.Contains("broken.yaml(8,11): error SN1007", r.Error);
        Assert.Contains("3 errors", r.Error);
        Assert.DoesNotContain("   at ", r.All); // no stack trace
    }

    [Fact]
    public void Shape_error_exits_2_with_layer_arithmetic_and_fix()
    {
        var path = Write("shape.yaml", """
            input: { shape: [8, 8, 1] }
            layers:
              - conv2d: { filters: 4, kernel_size: 3, strides: 2 }
              - conv2d: { filters: 4, kernel_size: 5 }
              - flatten
              - dense: { units: 10, activation: softmax }
            """);
        var r = CliRunner.Run("check", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("shape.yaml(4,40): error SN2001: conv2d layer 'conv2d_2': the 5-wide kernel does not fit the incoming 3x3x4 (3 - 5 + 1 = -1)", r.Error);
        Assert.Contains("padding: same", r.Error);
    }

    [Fact]
    public void Json_errors_exit_2_with_positions()
    {
        var path = Write("bad.yaml", "input: { shape: [784] }\nlayers:\n  - dense: { units: ten }\n");
        var r = CliRunner.Run("check", path, "--json");
        Assert.Equal(2, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Output);
        var d = doc.RootElement.GetProperty("diagnostics")[0];
        Assert.Equal("SN1006", d.GetProperty("id").GetString());
        Assert.Equal(3, d.GetProperty("line").GetInt32());
        Assert.Equal(21, d.GetProperty("column").GetInt32());
    }

    [Fact]
    public void Missing_file_exits_1_with_a_clear_message()
    {
        var r = CliRunner.Run("check", Path.Combine(_dir, "nope.yaml"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("nope.yaml: no such file", r.Error);
    }

    [Fact]
    public void Directory_exits_1()
    {
        var r = CliRunner.Run("check", _dir);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("is a directory", r.Error);
    }

    [Fact]
    public void Non_utf8_spec_exits_1()
    {
        var path = Path.Combine(_dir, "latin1.yaml");
        File.WriteAllBytes(path, Encoding.Latin1.GetBytes("name: caf\u00e9\ninput: { shape: [1] }\n"));
        var r = CliRunner.Run("check", path);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("not UTF-8", r.Error);
    }

    [Fact]
    public void Layers_lists_every_kind_with_defaults()
    {
        var r = CliRunner.Run("layers");
        Assert.Equal(0, r.ExitCode);
        foreach (var kind in SpecNet.Layers.LayerRegistry.Names) Assert.Contains(kind + ":", r.Output);
        Assert.Contains("default valid", r.Output);
    }

    [Fact]
    public void Unknown_command_is_a_usage_error()
    {
        var r = CliRunner.Run("chek", "x.yaml");
        Assert.NotEqual(0, r.ExitCode);
    }
}
