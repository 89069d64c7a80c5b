using SpecNet.Diagnostics;
using System.Globalization;
using SpecNet.Checking;
using SpecNet.Planning;

namespace SpecNet.Formats;

/// <summary>
/// A model's weights as safetensors: tensors "&lt;layer&gt;.weight" / ".bias" (batch_norm: ".gamma", ".beta",
/// ".moving_mean", ".moving_variance"), float32, conv kernels [out, in, kh, kw] and dense kernels
/// [units, inputs] (PyTorch's layouts), with a __metadata__ map that makes the file self-describing:
/// the spec's text and structural hash, SpecNet's version, and how it was trained.
/// </summary>
public static class WeightsFile
{
    public const string Format = "specnet-weights/1";

    public static class Keys
    {
        public const string Format = "format", Spec = "spec", SpecHash = "spec_hash", SpecName = "spec_name", Version = "specnet_version",
            Seed = "seed", Epochs = "epochs", Dataset = "dataset", DatasetFingerprint = "dataset_fingerprint", Created = "created",
            TestAccuracy = "test_accuracy", TestLoss = "test_loss", TrainLoss = "train_loss", TrainAccuracy = "train_accuracy", Backend = "backend",
            History = "history", Labels = "labels", Preprocess = "preprocess", Resize = "resize", SpecFolder = "spec_folder";
    }

    public static string Version => typeof(WeightsFile).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    public static void Save(string path, ParameterSet parameters, IReadOnlyDictionary<string, string> provenance)
    {
        var model = parameters.Model;
        var tensors = parameters.Slots.Select(slot =>
        {
            var file = new float[slot.Value.Length];
            slot.Layer.ToFileLayout(slot.Index, slot.Value, file);
            return new Tensor(slot.Name, slot.Spec.Shape, file);
        }).ToList();
        var metadata = new Dictionary<string, string>(provenance)
        {
            [Keys.Format] = Format,
            [Keys.Spec] = model.SourceText,
            [Keys.SpecHash] = model.StructuralHash,
            [Keys.SpecName] = model.Name,
            [Keys.SpecFolder] = model.BaseFolder,
            [Keys.Version] = Version,
            [Keys.Created] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            [Keys.Preprocess] = (model.Data?.Preprocessing ?? Preprocessing.Default).Describe(),
            [Keys.Resize] = model.Data?.Resize ?? "",
        };
        SafeTensors.Write(path, tensors, metadata);
    }

    /// <summary>Loads weights into a fresh parameter set for <paramref name="model"/>, naming any layer that does not fit.</summary>
    public static ParameterSet Load(string path, ModelSpec model) => LoadWithMetadata(path, model).Parameters;

    /// <summary>The parameters and the file's metadata, from one read of the file.</summary>
    public static (ParameterSet Parameters, IReadOnlyDictionary<string, string> Metadata) LoadWithMetadata(string path, ModelSpec model)
    {
        var (tensors, metadata) = SafeTensors.Read(path);
        var problems = Problems(model, tensors);
        if (problems.Count > 0)
        {
            var hashNote = metadata.TryGetValue(Keys.SpecHash, out var h) && h != model.StructuralHash
                ? $" (the file was trained for spec '{metadata.GetValueOrDefault(Keys.SpecName, "?")}', hash {h}; this spec's hash is {model.StructuralHash})" : "";
            throw new SpecNetException($"{path} does not fit {model.SourcePath}{hashNote}:\n    " + string.Join("\n    ", problems),
                "use the spec the weights were trained with (it is embedded in the file: specnet inspect shows it), or train this spec");
        }
        var set = new ParameterSet(model);
        var byName = tensors.ToDictionary(t => t.Name);
        foreach (var slot in set.Slots)
        {
            var t = byName[slot.Name];
            var bad = Array.FindIndex(t.Data, v => !float.IsFinite(v));
            if (bad >= 0) throw new SpecNetException($"{path}: tensor '{slot.Name}' holds a non-finite value ({t.Data[bad]}) at index {bad}",
                "the model diverged when it was trained; train again with a lower learning rate");
            slot.Layer.FromFileLayout(slot.Index, t.Data, slot.Value);
        }
        return (set, metadata);
    }

    /// <summary>Every mismatch between the file's tensors and what the spec needs, layer by layer.</summary>
    public static List<string> Problems(ModelSpec model, IReadOnlyList<Tensor> tensors)
    {
        var problems = new List<string>();
        var byName = tensors.ToDictionary(t => t.Name);
        var expected = new ParameterSet(model).Slots;
        foreach (var slot in expected)
        {
            if (!byName.TryGetValue(slot.Name, out var t))
                problems.Add($"layer '{slot.Layer.Name}' ({slot.Layer.Kind.Name}): the file has no tensor '{slot.Name}' [{string.Join(", ", slot.Spec.Shape)}]");
            else if (t.Dtype != "F32")
                problems.Add($"layer '{slot.Layer.Name}' ({slot.Layer.Kind.Name}): '{slot.Name}' is {t.Dtype} in the file; SpecNet weights are F32");
            else if (!t.Shape.SequenceEqual(slot.Spec.Shape))
                problems.Add($"layer '{slot.Layer.Name}' ({slot.Layer.Kind.Name}): '{slot.Name}' is [{string.Join(", ", t.Shape)}] in the file, but the spec needs [{string.Join(", ", slot.Spec.Shape)}]");
        }
        var names = expected.Select(s => s.Name).ToHashSet();
        foreach (var t in tensors.Where(t => !names.Contains(t.Name)))
            problems.Add($"the file has a tensor '{t.Name}' [{string.Join(", ", t.Shape)}] that no layer of the spec uses");
        return problems;
    }

    /// <summary>Class names: the spec's data.labels, else those the training data had (image folder names) as recorded in the file.</summary>
    public static IReadOnlyList<string>? ClassNames(IReadOnlyDictionary<string, string> metadata, ModelSpec model)
    {
        if (model.Data?.Labels is { } names) return names;
        return metadata.TryGetValue(Keys.Labels, out var text) && text.Length > 0 ? System.Text.Json.JsonSerializer.Deserialize<List<string>>(text) : null;
    }

    /// <summary>
    /// Writes <paramref name="source"/>'s tensors and provenance to <paramref name="target"/> as the weights of
    /// <paramref name="model"/>, a spec of the same structure: its text and folder replace the embedded ones, so the copy runs
    /// alone from where it lies (a sweep's trial reusing a run cached by another sweep, whose folder may be gone).
    /// </summary>
    public static void Retarget(string source, string target, ModelSpec model)
    {
        var (tensors, metadata) = SafeTensors.Read(source);
        if (metadata.GetValueOrDefault(Keys.SpecHash) is { } hash && hash != model.StructuralHash)
            throw new SpecNetException($"{source}: holds weights for spec hash {hash}, not {model.Name}'s {model.StructuralHash}");
        SafeTensors.Write(target, tensors, new Dictionary<string, string>(metadata)
        {
            [Keys.Spec] = model.SourceText, [Keys.SpecName] = model.Name, [Keys.SpecFolder] = model.BaseFolder,
        });
    }

    /// <summary>The spec text embedded in a weights file, so the file alone is enough to run.</summary>
    public static string EmbeddedSpec(string path) => Embedded(path).Spec;

    /// <summary>The embedded spec and the folder its relative paths were read from when it was trained (null in files from before it was recorded).</summary>
    public static (string Spec, string? Folder) Embedded(string path)
    {
        var metadata = SafeTensors.ReadMetadata(path);
        return metadata.TryGetValue(Keys.Spec, out var spec) ? (spec, metadata.GetValueOrDefault(Keys.SpecFolder) is { Length: > 0 } folder ? folder : null)
            : throw new SpecNetException($"{path}: has no embedded spec (__metadata__.spec)", "pass the spec file as well");
    }
}
