using System.Globalization;
using System.Security.Cryptography;
using SpecNet.Checking;
using SpecNet.Diagnostics;
using SpecNet.Formats;
using SpecNet.Planning;

namespace SpecNet.Training;

/// <summary>
/// What training.init_from gives a run: each parameter loaded from the file (its layer's name and shape
/// match), started fresh (the file has no tensor of that name: a new head), or skipped (same name, another
/// shape: started fresh, with a warning located at the layer). The fingerprint of the file's tensors is
/// part of the run's identity, so a diff never reuses a run that started from other weights.
/// </summary>
public sealed record WarmStart(string Path, IReadOnlyList<ParameterSlot> Loaded, IReadOnlyList<ParameterSlot> Fresh,
    IReadOnlyList<(ParameterSlot Slot, int[] FileShape)> Skipped, int Unused, string Fingerprint)
{
    /// <summary>The model's first parameters: Keras's initialisation from the seed, then what init_from gives.</summary>
    public static (ParameterSet Parameters, WarmStart? From) Initial(ModelSpec model, int seed)
    {
        var parameters = ParameterSet.Initialize(model, seed);
        if (model.Training.InitFrom is null) return (parameters, null);
        var (plan, tensors) = Read(model, parameters);
        foreach (var slot in plan.Loaded) slot.Layer.FromFileLayout(slot.Index, tensors[slot.Name].Data, slot.Value);
        return (parameters, plan);
    }

    /// <summary>What init_from would load, without loading it (for check and the run's identity).</summary>
    public static WarmStart? Plan(ModelSpec model) =>
        model.Training.InitFrom is null ? null : Read(model, new ParameterSet(model)).Plan;

    private static (WarmStart Plan, Dictionary<string, Tensor> Tensors) Read(ModelSpec model, ParameterSet parameters)
    {
        var path = model.Training.InitFrom!;
        if (!File.Exists(path))
            throw new SpecNetException($"{model.SourcePath}: training.init_from names {path}, which does not exist", "train the model it comes from first, or fix the path");
        var (list, _) = SafeTensors.Read(path);
        var tensors = list.Where(t => t.Dtype == "F32").ToDictionary(t => t.Name);
        List<ParameterSlot> loaded = [], fresh = [];
        List<(ParameterSlot, int[])> skipped = [];
        foreach (var slot in parameters.Slots)
        {
            if (!tensors.TryGetValue(slot.Name, out var t)) fresh.Add(slot);
            else if (!t.Shape.SequenceEqual(slot.Spec.Shape)) skipped.Add((slot, t.Shape));
            else
            {
                var bad = Array.FindIndex(t.Data, v => !float.IsFinite(v));
                if (bad >= 0) throw new SpecNetException($"{path}: tensor '{t.Name}' holds a non-finite value ({t.Data[bad]}) at index {bad}", "start from weights of a run that did not diverge");
                loaded.Add(slot);
            }
        }
        var used = parameters.Slots.Select(s => s.Name).ToHashSet();
        return (new WarmStart(path, loaded, fresh, skipped, tensors.Keys.Count(n => !used.Contains(n)), FingerprintOf(list)), tensors);
    }

    /// <summary>SHA-256 of the tensors' names, shapes and values (not the metadata, which records when the file was written).</summary>
    private static string FingerprintOf(IReadOnlyList<Tensor> tensors)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var t in tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{t.Name}[{string.Join(",", t.Shape)}]"));
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Data.AsSpan()));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    /// <summary>A warning per layer with skipped tensors, located at the layer in the spec.</summary>
    public IReadOnlyList<Diagnostic> Warnings => Skipped.GroupBy(s => s.Slot.Layer).Select(g =>
    {
        static string Dims(int[] d) => $"[{string.Join(", ", d)}]";
        var file = string.Join(" and ", g.Select(s => $"'{s.Slot.Name}' as {Dims(s.FileShape)}"));
        var here = string.Join(" and ", g.Select(s => Dims(s.Slot.Spec.Shape)));
        return new Diagnostic(DiagnosticIds.InitFromMismatch, Severity.Warning, g.Key.Span,
            $"{g.Key.Kind.Name} layer '{g.Key.Name}': init_from has {file}, but here {(g.Count() == 1 ? "it is" : "they are")} {here}; it starts fresh",
            "expected for a replaced layer (a new classifier head); otherwise check that the file comes from this architecture");
    }).ToList();

    /// <summary>"loaded 24 tensors (77,114 values); fresh: dense_1.weight, dense_1.bias; skipped: ...".</summary>
    public string Summary
    {
        get
        {
            var inv = CultureInfo.InvariantCulture;
            var parts = new List<string> { string.Create(inv, $"loaded {Loaded.Count} of {Loaded.Count + Fresh.Count + Skipped.Count} tensors ({Loaded.Sum(s => (long)s.Value.Length):N0} values)") };
            if (Fresh.Count > 0) parts.Add($"fresh (not in the file): {Names(Fresh)}");
            if (Skipped.Count > 0) parts.Add($"fresh (another shape in the file): {Names(Skipped.Select(s => s.Slot).ToList())}");
            if (Unused > 0) parts.Add($"{Unused} tensor{(Unused == 1 ? "" : "s")} of the file unused");
            return string.Join("; ", parts);
        }
    }

    private static string Names(IReadOnlyList<ParameterSlot> slots) =>
        string.Join(", ", slots.Take(8).Select(s => s.Name)) + (slots.Count > 8 ? $" and {slots.Count - 8} more" : "");
}
