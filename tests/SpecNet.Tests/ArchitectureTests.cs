using System.Text.RegularExpressions;

namespace SpecNet.Tests;

/// <summary>The pipeline's folders depend only on the folders before them (as the README says).</summary>
public partial class ArchitectureTests
{
    private static readonly string[] Order =
        ["Diagnostics", "Parsing", "Schema", "Kernels", "Layers", "Checking", "Planning", "Formats", "Data", "Training", "Comparing"];

    [Fact]
    public void Each_folder_uses_only_earlier_folders()
    {
        var violations = new List<string>();
        var root = TestPaths.Repo("src", "SpecNet");
        foreach (var file in Directory.GetFiles(root, "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains("/obj/") && !f.Contains("/bin/")))
        {
            var folder = Path.GetRelativePath(root, file).Split(Path.DirectorySeparatorChar)[0];
            if (!Order.Contains(folder)) continue;
            var text = File.ReadAllText(file);
            foreach (var used in Order.Where(o => o != folder && Uses(text, o)))
                if (Array.IndexOf(Order, used) > Array.IndexOf(Order, folder))
                    violations.Add($"{Path.GetRelativePath(root, file)} uses {used}");
        }
        Assert.True(violations.Count == 0, string.Join("\n", violations));
        Assert.Equal(Order.Order(), Directory.GetDirectories(root).Select(Path.GetFileName).Where(d => d is not ("bin" or "obj")).Order()!);
    }

    private static bool Uses(string text, string folder) =>
        text.Contains($"using SpecNet.{folder};") || Regex.IsMatch(text, $@"(?<![\w.]){folder}\.[A-Z]") || text.Contains($"SpecNet.{folder}.");
}
