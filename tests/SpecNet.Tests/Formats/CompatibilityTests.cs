using System.Globalization;
using System.Text.Json;
using SpecNet.Checking;
using SpecNet.Formats;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Tests.Cli;

namespace SpecNet.Tests.Formats;

/// <summary>
/// Weights written by an earlier SpecNet keep loading and computing the same outputs. The fixture was
/// written by SpecNet 0.1.0 and is frozen: never regenerate it to make this test pass.
/// </summary>
public class CompatibilityTests
{
    private static readonly string Fixture = TestPaths.Tests("Formats", "fixtures", "v0.1.0-patterns.safetensors");
    private static readonly string Expected = TestPaths.Tests("Formats", "fixtures", "v0.1.0-patterns.expected.json");

    [Fact]
    public void Weights_from_version_0_1_0_load_and_predict_the_same()
    {
        if (!File.Exists(Fixture) && TestPaths.UpdateGolden) Create();
        var model = SpecCompiler.Compile(WeightsFile.EmbeddedSpec(Fixture), Fixture).Model!;
        var parameters = WeightsFile.Load(Fixture, model);
        var expected = JsonSerializer.Deserialize<float[][]>(File.ReadAllText(Expected))!;
        var outputs = Outputs(model, parameters);
        for (int n = 0; n < expected.Length; n++)
            for (int c = 0; c < expected[n].Length; c++)
                Assert.Equal(expected[n][c], outputs[n][c], 5);
    }

    [Fact]
    public void The_fixture_still_verifies_and_inspects()
    {
        var (_, metadata) = SafeTensors.Read(Fixture);
        Assert.Equal("0.1.0", metadata["specnet_version"]);
        Assert.Equal("specnet-weights/1", metadata["format"]);
        var r = CliRunner.Run("inspect", Fixture, "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("\"conv2d_1.weight\"", r.Output);
    }

    private static float[][] Outputs(ModelSpec model, ParameterSet parameters)
    {
        var (pixels, _) = TestData.Patterns(6, 77);
        var plan = new ExecutionPlan(model, parameters, new ReferenceBackend(), 6, trainable: false);
        for (int i = 0; i < pixels.Length; i++) plan.Input[i] = pixels[i] / 255f;
        var y = plan.Forward(6, training: false).ToArray();
        return Enumerable.Range(0, 6).Select(n => y.AsSpan(n * 3, 3).ToArray()).ToArray();
    }

    private static void Create()
    {
        using var dir = new TempFolder();
        var r = CliRunner.Run("train", TestData.WriteSpecWithData(dir.Path), "--output", Fixture);
        Assert.True(r.ExitCode == 0, r.All);
        var model = SpecCompiler.Compile(WeightsFile.EmbeddedSpec(Fixture), Fixture).Model!;
        File.WriteAllText(Expected, JsonSerializer.Serialize(Outputs(model, WeightsFile.Load(Fixture, model))));
    }
}
