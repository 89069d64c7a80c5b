using SpecNet.Checking;
using SpecNet.Diagnostics;

namespace SpecNet.Tests.Checking;

/// <summary>
/// Each broken spec in diagnostics/ sits beside the exact rendered output expected from it, line and
/// column included. Files are named after the id they demonstrate; every id has one.
/// </summary>
public class DiagnosticGoldenTests
{
    private static readonly string Folder = TestPaths.Tests("Checking", "diagnostics");

    public static TheoryData<string> Cases() => new(Directory.GetFiles(Folder, "*.yaml").Select(Path.GetFileNameWithoutExtension).Order()!);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Renders_as_expected(string name)
    {
        var path = Path.Combine(Folder, name + ".yaml");
        var compilation = SpecCompiler.Compile(File.ReadAllText(path), path);
        // what init_from finds in its file is checked when the file is read (by check and train), beside the compiler's findings
        if (compilation.Model is { Training.InitFrom: not null } model && SpecNet.Training.WarmStart.Plan(model) is { } from)
            compilation = compilation with { Diagnostics = [.. compilation.Diagnostics, .. from.Warnings] };
        var rendered = compilation.Render(name + ".yaml");
        TestPaths.AssertGolden(Path.Combine(Folder, name + ".expected.txt"), rendered);

        var id = name[..6];
        Assert.Contains(compilation.Diagnostics, d => d.Id == id);
        bool warningOnly = DiagnosticIds.Descriptions[id].StartsWith("warning");
        Assert.Equal(warningOnly, compilation.Success);
    }

    [Fact]
    public void Every_diagnostic_id_has_a_golden_file()
    {
        var covered = Directory.GetFiles(Folder, "*.yaml").Select(f => Path.GetFileName(f)[..6]).ToHashSet();
        var missing = DiagnosticIds.Descriptions.Keys.Where(id => !covered.Contains(id)).ToList();
        Assert.True(missing.Count == 0, "no golden file for " + string.Join(", ", missing));
    }

    [Fact]
    public void Every_diagnostic_id_constant_is_described()
    {
        var constants = typeof(DiagnosticIds).GetFields().Where(f => f.IsLiteral).Select(f => (string)f.GetValue(null)!).ToList();
        Assert.Equal(constants.Order(), DiagnosticIds.Descriptions.Keys.Order());
        Assert.Equal(constants.Count, constants.Distinct().Count());
    }
}

[Collection(EnvironmentCollection.Name)]
public class GoldenUpdateTests
{
    [Fact]
    public void Update_golden_is_refused_in_ci_and_a_missing_part_fails_there()
    {
        using var dir = new TempFolder();
        var expected = dir.File("x.expected.txt");
        File.WriteAllText(expected, "old\n");
        try
        {
            Environment.SetEnvironmentVariable("UPDATE_GOLDEN", "1");
            Environment.SetEnvironmentVariable("SPECNET_CI", "1");
            Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => TestPaths.AssertGolden(expected, "new\n"));
            Assert.Equal("old\n", File.ReadAllText(expected)); // not rewritten
            Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => Optional.Require(false, "MKL")); // fails, does not skip
            Environment.SetEnvironmentVariable("SPECNET_CI", null);
            Assert.Throws<SkipException>(() => Optional.Require(false, "MKL"));
            TestPaths.AssertGolden(expected, "new\n"); // outside CI it rewrites, for review
            Assert.Equal("new\n", File.ReadAllText(expected));
        }
        finally
        {
            Environment.SetEnvironmentVariable("UPDATE_GOLDEN", null);
            Environment.SetEnvironmentVariable("SPECNET_CI", Optional.InCiAtStart ? "1" : null);
        }
    }
}
