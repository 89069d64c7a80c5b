using System.Diagnostics;
using SpecNet.Tests.Cli;

namespace SpecNet.Tests.Corpus;

/// <summary>
/// Every file of the hostile-input corpus (made by make-corpus.py, listed in expected.txt) through the
/// real command: the expected exit code, one clear error naming the file and the problem, no stack
/// trace, and bounded time.
/// </summary>
public class HostileInputTests
{
    private static readonly string Folder = TestPaths.Tests("Corpus");

    public static TheoryData<string, string, int, string> Cases()
    {
        var data = new TheoryData<string, string, int, string>();
        foreach (var line in File.ReadAllLines(Path.Combine(Folder, "expected.txt")).Where(l => l.Length > 0 && !l.StartsWith('#')))
        {
            var parts = line.Split(" | ");
            data.Add(parts[0], parts[1], int.Parse(parts[2]), parts[3]);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Hostile_file_gets_a_clear_error(string file, string command, int exitCode, string fragment)
    {
        var path = Path.Combine(Folder, file);
        using var temp = new TempFolder();
        string[] args = command switch
        {
            "check" or "inspect" => [command, path],
            "verify" => [command, WriteGoodSpec(temp), path],
            "train" => [command, Path.Combine(Path.GetDirectoryName(path)!, "spec.yaml"), "--output", temp.File("w.safetensors")],
            "predict" => [command, TestPaths.Tests("Formats", "fixtures", "v0.1.0-patterns.safetensors"), path],
            "import" => [command, path, "-o", temp.Path],
            _ => throw new InvalidOperationException(command),
        };
        var clock = Stopwatch.StartNew();
        var r = CliRunner.Run(args);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        Assert.True(r.ExitCode == exitCode, $"exit {r.ExitCode}, expected {exitCode}:\n{r.All}");
        Assert.Contains(fragment, r.All);
        Assert.DoesNotContain("   at ", r.All);
        Assert.DoesNotContain("internal error", r.All);
        if (exitCode == 1) Assert.Contains(Path.GetFileName(path), r.Error.Replace("labels.idx", "images.idx")); // names the file (images or their labels)
    }

    private static string WriteGoodSpec(TempFolder temp)
    {
        var spec = temp.File("good.yaml");
        File.WriteAllText(spec, "input: { shape: [8, 8, 1] }\nlayers:\n  - flatten\n  - dense: { units: 3, activation: softmax }\n");
        return spec;
    }

    [Fact]
    public void Every_corpus_file_is_listed()
    {
        var listed = Cases().Select(c => (string)c[0]).ToHashSet();
        var files = Directory.GetFiles(Folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Folder, f).Replace('\\', '/'))
            .Where(f => !f.EndsWith(".cs") && !f.EndsWith(".py") && f != "expected.txt" && !f.EndsWith("labels.idx") && !f.EndsWith("spec.yaml"));
        Assert.DoesNotContain(files, f => !listed.Contains(f));
    }
}
