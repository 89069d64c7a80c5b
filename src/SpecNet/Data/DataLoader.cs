using SpecNet.Checking;
using SpecNet.Diagnostics;
using SpecNet.Kernels;

namespace SpecNet.Data;

/// <summary>The splits a run uses: training, validation (per-epoch metrics, early stopping) and test (untouched until eval).</summary>
public sealed record DataSplits(Dataset Train, Dataset? Validation, Dataset? Test)
{
    /// <summary>What per-epoch metrics are computed on: the validation data, else the test data.</summary>
    public Dataset? Monitor => Validation ?? Test;

    /// <summary>What a run's report scores, and which set that is: the monitored data, else the training data.</summary>
    public (Dataset Data, string Set) Reported => Validation is { } v ? (v, "validation") : Test is { } t ? (t, "test") : (Train, "training");
}

/// <summary>Loads the data a spec names and checks it against the model before anything runs.</summary>
public static class DataLoader
{
    /// <summary>The training examples (all of them, before any validation split) and the test examples: for diff, and under LoadSplits.</summary>
    public static (Dataset Train, Dataset? Test) Load(ModelSpec model, Action<string> log, IProgress<double>? progress = null)
    {
        var (train, test) = LoadSources(model, log, progress, withTrain: true);
        return (train!, test);
    }

    /// <summary>
    /// The test examples alone, or null when the spec names none. The training set is left unread: Fashion-MNIST's images, 47 MB
    /// out of gzip, had been a quarter of a second of every eval.
    /// </summary>
    /// <param name="recorded">the classes the weights recorded: they number an image folder when the training folder is not there</param>
    public static Dataset? LoadTest(ModelSpec model, Action<string> log, IProgress<double>? progress = null, IReadOnlyList<string>? recorded = null) =>
        LoadSources(model, log, progress, withTrain: false, recorded).Test;

    /// <summary>What eval and report score: the test examples, or the training examples when the spec names no test set.</summary>
    public static (Dataset Data, bool IsTest) LoadEvaluation(ModelSpec model, Action<string> log, IProgress<double>? progress = null, IReadOnlyList<string>? recorded = null) =>
        LoadTest(model, log, progress, recorded) is { } test ? (test, true) : (Load(model, log, progress).Train, false);

    /// <summary>Training, validation (the spec's validation set, or validation_split of the training data) and test.</summary>
    public static DataSplits LoadSplits(ModelSpec model, Action<string> log, IProgress<double>? progress = null)
    {
        var (train, test) = Load(model, log, progress);
        var data = model.Data!;
        if (data.Validation is { } v) return new DataSplits(train, Prepare(model, Read(model, "validation", v, log, progress)), test);
        if (data.ValidationSplit <= 0) return new DataSplits(train, null, test);
        // A seeded permutation of the training examples: the same split every run, disjoint by construction.
        var order = Enumerable.Range(0, train.Count).ToArray();
        Rng.For(model.Training.Seed, "validation").Shuffle(order);
        int held = (int)Math.Round(data.ValidationSplit * train.Count);
        if (held == 0 || held == train.Count)
            throw new SpecNetException($"{model.SourcePath}: validation_split {data.ValidationSplit} of {train.Count:N0} examples leaves {(held == 0 ? "no validation" : "no training")} examples");
        var kept = order[held..].Order().ToArray();
        var validation = order[..held].Order().ToArray();
        log($"validation: {held:N0} of the {train.Count:N0} training examples held out (validation_split {data.ValidationSplit})");
        return new DataSplits(train.Subset("train", kept), train.Subset("validation", validation), test);
    }

    /// <summary>The spec's test examples (null when it names none), and its training examples when <paramref name="withTrain"/>.</summary>
    private static (Dataset? Train, Dataset? Test) LoadSources(ModelSpec model, Action<string> log, IProgress<double>? progress, bool withTrain,
        IReadOnlyList<string>? recorded = null)
    {
        var data = model.Data is { Dataset: not null } or { Train: not null } ? model.Data : throw new SpecNetException(
            $"{model.SourcePath}: the spec names no examples" + (model.Data is null ? " (it has no data section)" : " (its data section only says how the model reads images)"),
            "add data: { dataset: mnist }, or data: { train: { images: ..., labels: ... }, test: { ... } }");
        Dataset? train = null, test = null;
        if (data.Dataset is { } name)
        {
            var folder = NamedDatasets.Locate(name) ?? NamedDatasets.Fetch(name, log, progress);
            if (withTrain) train = NamedDatasets.Read(name, folder, test: false);
            test = NamedDatasets.Read(name, folder, test: true);
        }
        else
        {
            if (withTrain) train = Read(model, "train", data.Train!, log, progress);
            if (data.Test is { } t) test = Read(model, "test", t, log, progress, recorded);
        }
        return (train is null ? null : Prepare(model, train), test is null ? null : Prepare(model, test));
    }

    private static Dataset Read(ModelSpec model, string name, DataSource source, Action<string> log, IProgress<double>? progress,
        IReadOnlyList<string>? recorded = null) => source.Kind switch
    {
        SourceKind.Folder => ImageFolder.Load(name, source.Path, model.Input, model.Data!.Resize, FolderClasses(model) ?? recorded, log, progress),
        SourceKind.Csv => Noted(Csv.Load(name, source.Path, model.Input, source.LabelColumn, source.Header, model.Data!.Labels), model, log),
        _ => Idx.ReadDataset(name, source.Path, source.Labels!),
    };

    /// <summary>
    /// The classes of a spec's image folders, by name: data.labels, else the training folder's sub-folders (else, for eval and report
    /// without that folder, the classes the weights recorded). The test and validation
    /// folders are read against them, so a class is the same output in every split when a folder lacks one (a test folder without
    /// 'green' had numbered 'red' as green's output) and a class training never saw is an error naming its folder.
    /// </summary>
    private static IReadOnlyList<string>? FolderClasses(ModelSpec model) =>
        model.Data!.Labels ?? (model.Data.Train is { Kind: SourceKind.Folder } train && Directory.Exists(train.Path) ? ImageFolder.Classes(train.Path) : null);

    /// <summary>Features read under the pixels' default x/255 train, but rarely as meant: said once, with the fix.</summary>
    private static Dataset Noted(Dataset data, ModelSpec model, Action<string> log)
    {
        if (data.HoldsFeatures && (model.Data?.Preprocessing ?? Preprocessing.Default).ScalesLikePixels)
            log($"{data.Name}: {data.Source} holds values that are not 8-bit pixels, read as written; the spec scales them as pixels (x/255): " +
                "set data.preprocess: { scale: 1 } to take them as they are (mean and std standardise them)");
        return data;
    }

    /// <summary>
    /// Examples other than the spec's (eval --data): an image folder, its sub-folders named as the model's classes, or a CSV file
    /// with a label column (the one named `label` in a header, else the first), its labels class numbers or names. <paramref name="classNames"/> are the
    /// model's classes in order (their numbers when it has no names), so a folder holding only some of them still maps each to
    /// its own output.
    /// </summary>
    public static Dataset LoadFrom(ModelSpec model, string path, IReadOnlyList<string>? classNames, Action<string> log)
    {
        classNames ??= Enumerable.Range(0, model.Classes).Select(c => c.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)));
        var data = Directory.Exists(path) ? ImageFolder.Load(name, path, model.Input, model.Data?.Resize, classNames, log)
            : File.Exists(path) && path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? Csv.Load(name, path, model.Input, null, null, classNames)
            : throw new SpecNetException($"{path}: {(File.Exists(path) ? "not an image folder or a .csv file" : "no such folder or file")}",
                $"give a folder with a sub-folder per class ({string.Join(", ", classNames.Take(4))}{(classNames.Count > 4 ? ", ..." : "")}), or a CSV file with a label column");
        return Prepare(model, data);
    }

    /// <summary>The spec's preprocessing and class names on a loaded dataset, after checking it fits the model.</summary>
    private static Dataset Prepare(ModelSpec model, Dataset data)
    {
        Validate(model, data);
        return data.Retag(model.Data?.Preprocessing ?? Preprocessing.Default, model.Data?.Labels ?? data.ClassNames);
    }

    /// <summary>Image size against the input shape, labels against the output units.</summary>
    public static void Validate(ModelSpec model, Dataset data)
    {
        var where = $"{model.SourcePath}({model.Data?.Span.Line ?? 1},{model.Data?.Span.Column ?? 1})";
        bool fits = model.Input.IsFlat ? data.Shape.Size == model.Input.Size : data.Shape == model.Input;
        if (!fits)
            throw new SpecNetException($"{where}: the {data.Name} images{(data.Source is null ? "" : $" ({data.Source.Split(", ")[0]})")} are {data.Shape}, but the model's input is {model.Input}",
                $"set input: {{ shape: [{data.Shape.Height}, {data.Shape.Width}, {data.Shape.Channels}] }}");
        if (data.Count == 0) throw new SpecNetException($"{where}: the {data.Name} data holds no examples");
        int units = model.Output.Size;
        int maxLabel = data.Labels.Max();
        int classes = model.Classes;
        if (maxLabel >= classes)
            throw new SpecNetException($"{where}: the {data.Name} labels{(data.Source is null ? "" : $" ({data.Source.Split(", ")[^1]})")} go up to {maxLabel}, but the model has {units} output unit{(units == 1 ? "" : "s")} ({classes} classes)",
                $"give the last dense layer units: {maxLabel + 1}");
        if (model.Data?.Labels is { } names && names.Count != classes && units > 1)
            throw new SpecNetException($"{where}: data.labels names {names.Count} classes, but the model has {units} output units", $"list {units} class names, or give the last dense layer units: {names.Count}");
        var p = model.Data?.Preprocessing;
        if (p is not null && (p.Mean.Length is not 1 && p.Mean.Length != data.Shape.Channels || p.Std.Length is not 1 && p.Std.Length != data.Shape.Channels))
            throw new SpecNetException($"{where}: data.preprocess gives {p.Mean.Length} mean and {p.Std.Length} std values, but the images have {data.Shape.Channels} channels",
                "give one value, or one per channel");
    }
}
