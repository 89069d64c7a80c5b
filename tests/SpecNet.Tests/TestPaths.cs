namespace SpecNet.Tests;

/// <summary>Locates files of the repository from the test binaries, wherever they are run.</summary>
public static class TestPaths
{
    public static string Root { get; } = FindRoot();

    public static string Repo(params string[] parts) => Path.Combine([Root, .. parts]);

    public static string Tests(params string[] parts) => Path.Combine([Root, "tests", "SpecNet.Tests", .. parts]);

    /// <summary>Set UPDATE_GOLDEN=1 to rewrite expected files from the current output (then review the diff).</summary>
    public static bool UpdateGolden => Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1";

    /// <summary>
    /// The output against its expected file. UPDATE_GOLDEN rewrites the file (then review the diff); in CI it
    /// is refused, since it would make every golden test pass.
    /// </summary>
    public static void AssertGolden(string expectedPath, string actual)
    {
        actual = actual.Replace("\r\n", "\n");
        Assert.False(UpdateGolden && Optional.InCi, "UPDATE_GOLDEN is set in CI: golden tests would pass whatever the output");
        if (UpdateGolden) File.WriteAllText(expectedPath, actual);
        Assert.True(File.Exists(expectedPath), $"missing expected file {expectedPath} (run with UPDATE_GOLDEN=1 and review it)");
        Assert.Equal(File.ReadAllText(expectedPath).Replace("\r\n", "\n"), actual);
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SpecNet.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (SpecNet.sln) above " + AppContext.BaseDirectory);
    }
}

/// <summary>Tests that set process-wide environment variables run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentCollection
{
    public const string Name = "environment variables";
}
