using SpecNet.Checking;
using SpecNet.Layers;

namespace SpecNet.Checking;

/// <summary>How one layer position differs between two specs.</summary>
public sealed record LayerChange(string Change, Layer? A, Layer? B, IReadOnlyList<string> Details)
{
    public long ParamsDelta => (B?.ParameterCount ?? 0) - (A?.ParameterCount ?? 0);
    public long MacsDelta => (B?.Macs ?? 0) - (A?.Macs ?? 0);
}

/// <summary>
/// Aligns the two layer stacks (longest common subsequence of layer kinds, so a removed pooling layer
/// does not shift every later layer into a "change") and says what was added, removed and changed.
/// </summary>
public static class StructureDiff
{
    public static IReadOnlyList<LayerChange> Layers(ModelSpec a, ModelSpec b)
    {
        var la = a.Layers; var lb = b.Layers;
        var lcs = new int[la.Count + 1, lb.Count + 1];
        for (int i = la.Count - 1; i >= 0; i--)
            for (int j = lb.Count - 1; j >= 0; j--)
                lcs[i, j] = la[i].Kind == lb[j].Kind ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
        var changes = new List<LayerChange>();
        int x = 0, y = 0;
        while (x < la.Count || y < lb.Count)
        {
            if (x < la.Count && y < lb.Count && la[x].Kind == lb[y].Kind)
            {
                var details = Details(la[x], lb[y]);
                changes.Add(new LayerChange(details.Count == 0 ? "same" : "changed", la[x], lb[y], details));
                x++; y++;
            }
            else if (y < lb.Count && (x == la.Count || lcs[x, y + 1] >= lcs[x + 1, y]))
                changes.Add(new LayerChange("added", null, lb[y++], []));
            else
                changes.Add(new LayerChange("removed", la[x++], null, []));
        }
        return changes;
    }

    private static List<string> Details(Layer a, Layer b)
    {
        var details = new List<string>();
        if (a.Name != b.Name) details.Add($"name {a.Name} -> {b.Name}");
        var oa = a.Identity.ToDictionary(i => i.Key); var ob = b.Identity.ToDictionary(i => i.Key);
        foreach (var key in oa.Keys.Union(ob.Keys))
        {
            var (va, vb) = (oa.GetValueOrDefault(key), ob.GetValueOrDefault(key));
            if (!Equals(va?.Value, vb?.Value)) details.Add($"{key} {va?.Display ?? "-"} -> {vb?.Display ?? "-"}");
        }
        if (a.Output != b.Output) details.Add($"output {a.Output} -> {b.Output}");
        if (a.ParameterCount != b.ParameterCount) details.Add($"params {a.ParameterCount:N0} -> {b.ParameterCount:N0}");
        return details;
    }

    /// <summary>Training settings that differ, as "name: a -> b".</summary>
    public static IReadOnlyList<string> Training(TrainingSpec a, TrainingSpec b)
    {
        var changes = new List<string>();
        void Compare(string name, object x, object y) { if (!Equals(x, y)) changes.Add($"{name}: {x} -> {y}"); }
        Compare("optimizer", a.Optimizer.Describe(), b.Optimizer.Describe());
        Compare("loss", a.Loss, b.Loss);
        Compare("epochs", a.Epochs, b.Epochs);
        Compare("batch_size", a.BatchSize, b.BatchSize);
        Compare("seed", a.Seed, b.Seed);
        return changes;
    }
}
