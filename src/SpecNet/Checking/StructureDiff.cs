using SpecNet.Layers;

namespace SpecNet.Checking;

/// <summary>How one entry of the layer list (a layer, or a whole block) differs between two specs.</summary>
public sealed record LayerChange(string Change, Entry? A, Entry? B, IReadOnlyList<string> Details)
{
    public long ParamsDelta => (B?.ParameterCount ?? 0) - (A?.ParameterCount ?? 0);
    public long MacsDelta => (B?.Macs ?? 0) - (A?.Macs ?? 0);
}

/// <summary>
/// Aligns the two specs' entries (layers and blocks, as written) by the longest common subsequence of
/// their kinds, so a removed pooling layer does not shift every later layer into a "change" and a block
/// added or removed is one change, not a cascade; matched blocks are compared layer by layer inside.
/// </summary>
public static class StructureDiff
{
    public static IReadOnlyList<LayerChange> Layers(ModelSpec a, ModelSpec b) =>
        Align(a.Entries, b.Entries, e => e.Kind, (x, y) => new LayerChange("?", x, y, EntryDetails(x, y)))
            .Select(c => c with { Change = c.A is null ? "added" : c.B is null ? "removed" : c.Details.Count == 0 ? "same" : "changed" })
            .ToList();

    /// <summary>The longest common subsequence of two lists by a key: matched pairs, and the unmatched of each side.</summary>
    private static List<LayerChange> Align<T>(IReadOnlyList<T> la, IReadOnlyList<T> lb, Func<T, string> key, Func<T?, T?, LayerChange> change) where T : class
    {
        var lcs = new int[la.Count + 1, lb.Count + 1];
        for (int i = la.Count - 1; i >= 0; i--)
            for (int j = lb.Count - 1; j >= 0; j--)
                lcs[i, j] = key(la[i]) == key(lb[j]) ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
        var changes = new List<LayerChange>();
        int x = 0, y = 0;
        while (x < la.Count || y < lb.Count)
        {
            if (x < la.Count && y < lb.Count && key(la[x]) == key(lb[y])) changes.Add(change(la[x++], lb[y++]));
            else if (y < lb.Count && (x == la.Count || lcs[x, y + 1] >= lcs[x + 1, y])) changes.Add(change(null, lb[y++]));
            else changes.Add(change(la[x++], null));
        }
        return changes;
    }

    private static IReadOnlyList<string> EntryDetails(Entry? a, Entry? b)
    {
        if (a is null || b is null) return [];
        if (!a.IsBlock) return Details(a.Layers[0], b.Layers[0]);
        // inside two blocks of one kind: their layers aligned by kind, named relative to the block
        var details = new List<string>();
        if (a.Name != b.Name) details.Add($"name {a.Name} -> {b.Name}");
        string Inner(Entry e, Layer l) => l.Name.StartsWith(e.Name + "/", StringComparison.Ordinal) ? l.Name[(e.Name.Length + 1)..] : l.Name;
        foreach (var c in Align(a.Layers, b.Layers, l => l.Kind.Name, (x, y) => new LayerChange("", null, null,
                     x is null ? [$"+ {Inner(b, y!)} ({y!.Kind.Name})"] : y is null ? [$"- {Inner(a, x)} ({x.Kind.Name})"]
                     : Details(x, y).Where(d => !d.StartsWith("name ")).Select(d => $"{Inner(b, y)}: {d}").ToList())))
            details.AddRange(c.Details);
        if (a.Output != b.Output && !details.Any(d => d.StartsWith("output"))) details.Add($"output {a.Output} -> {b.Output}");
        return details;
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
    public static IReadOnlyList<string> Training(ModelSpec ma, ModelSpec mb)
    {
        var (a, b) = (ma.Training, mb.Training);
        var changes = new List<string>();
        void Compare(string name, object x, object y) { if (!Equals(x, y)) changes.Add($"{name}: {x} -> {y}"); }
        Compare("optimizer", a.Optimizer.Describe(), b.Optimizer.Describe());
        Compare("loss", a.Loss, b.Loss);
        Compare("epochs", a.Epochs, b.Epochs);
        Compare("batch_size", a.BatchSize, b.BatchSize);
        Compare("seed", a.Seed, b.Seed);
        Compare("reduce_lr_on_plateau", a.ReduceLearningRate?.ToString() ?? "none", b.ReduceLearningRate?.ToString() ?? "none");
        Compare("early_stopping", a.EarlyStopping?.ToString() ?? "none", b.EarlyStopping?.ToString() ?? "none");
        Compare("init_from", a.InitFrom is { } fa ? Path.GetFileName(fa) : "none", b.InitFrom is { } fb ? Path.GetFileName(fb) : "none");
        Compare("frozen", Frozen(ma), Frozen(mb));
        return changes;
    }

    private static string Frozen(ModelSpec m)
    {
        var frozen = m.Layers.Where(l => l.Frozen && l.Parameters.Count > 0).Select(l => l.Name).ToList();
        return frozen.Count == 0 ? "none" : $"{frozen.Count} layers ({string.Join(", ", frozen.Take(4))}{(frozen.Count > 4 ? ", ..." : "")})";
    }
}
