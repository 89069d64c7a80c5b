using System.Globalization;
using SpecNet.Diagnostics;
using SpecNet.Parsing;
using SpecNet.Schema;

namespace SpecNet.Checking;

/// <summary>How a split's examples are stored.</summary>
public enum SourceKind { Idx, Folder, Csv }

/// <summary>
/// One split's examples: IDX images + labels files, an image folder (one sub-folder per class, as
/// Keras's image_dataset_from_directory), or a CSV file (one row per example, a label column and the
/// pixel columns). Paths are absolute (resolved against the spec's folder).
/// </summary>
public sealed record DataSource(SourceKind Kind, string Path, string? Labels, string? LabelColumn, bool? Header, SourceSpan Span)
{
    public override string ToString() => Kind == SourceKind.Idx ? $"{Path}, {Labels}" : Path;
}

/// <summary>Pixel preprocessing, written once in the spec and applied alike by train, eval, predict and export: x = (v·scale - mean[c]) / std[c].</summary>
public sealed record Preprocessing(float Scale, float[] Mean, float[] Std, bool Bgr)
{
    public static readonly Preprocessing Default = new(1f / 255, [0f], [1f], false);

    /// <summary>
    /// Every 8-bit value's float, per channel: table[c·256 + v]. A batch is then converted by lookups, not a division per value
    /// (2% of the pooled model's training step, on the thread the others wait for).
    /// </summary>
    public float[] Table(int channels)
    {
        var table = new float[channels * 256];
        for (int c = 0; c < channels; c++)
            for (int v = 0; v < 256; v++)
                table[c * 256 + v] = (v * Scale - Mean[c % Mean.Length]) / Std[c % Std.Length];
        return table;
    }

    /// <summary>8-bit values (HWC) to the model's input floats, the table made for this call (a one-off conversion; a loop over images makes it once).</summary>
    public void Apply(ReadOnlySpan<byte> pixels, Span<float> x, int channels) => Apply(pixels, x, channels, Table(channels));

    /// <summary>8-bit values (HWC) to the model's input floats, through this preprocessing's <paramref name="table"/> for the channels.</summary>
    public void Apply(ReadOnlySpan<byte> pixels, Span<float> x, int channels, ReadOnlySpan<float> table)
    {
        if (channels == 1)
        {
            for (int i = 0; i < pixels.Length; i++) x[i] = table[pixels[i]];
            return;
        }
        bool reversed = Bgr && channels == 3;   // the file's first channel is the model's last
        for (int i = 0; i < pixels.Length; i += channels)
            for (int c = 0; c < channels; c++)
                x[i + c] = table[c * 256 + pixels[reversed ? i + 2 - c : i + c]];
    }

    /// <summary>
    /// Features held as floats (HWC) to the model's input floats: the same formula, in the same float operations, as the
    /// table's entries, so a whole-number value gives what its 8-bit twin gives.
    /// </summary>
    public void Apply(ReadOnlySpan<float> values, Span<float> x, int channels)
    {
        bool reversed = Bgr && channels == 3;
        for (int i = 0; i < values.Length; i += channels)
            for (int c = 0; c < channels; c++)
                x[i + c] = (values[reversed ? i + 2 - c : i + c] * Scale - Mean[c % Mean.Length]) / Std[c % Std.Length];
    }

    /// <summary>Whether this is the default, x/255: right for pixels, a surprise for features.</summary>
    public bool ScalesLikePixels => Scale == 1f / 255 && Mean.All(m => m == 0) && Std.All(s => s == 1);

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"scale={Scale:R} mean=[{Join(Mean)}] std=[{Join(Std)}] channel_order={(Bgr ? "bgr" : "rgb")}");

    private static string Join(float[] values) => string.Join(",", values.Select(v => v.ToString(CultureInfo.InvariantCulture)));
}

/// <summary>Random augmentation, training only, seeded, per batch (Keras's RandomTranslation, RandomRotation, RandomZoom, RandomFlip, RandomBrightness, RandomContrast).</summary>
public sealed record Augmentation(float Translation, float Rotation, float Zoom, string Flip, float Brightness, float Contrast)
{
    public bool Geometric => Translation > 0 || Rotation > 0 || Zoom > 0 || Flip != "none";
}

/// <summary>Where the examples come from and how they are prepared.</summary>
public sealed record DataSpec(string? Dataset, DataSource? Train, DataSource? Test, DataSource? Validation, float ValidationSplit,
    IReadOnlyList<string>? Labels, string? Resize, Preprocessing Preprocessing, Augmentation? Augment, SourceSpan Span)
{
    public static readonly IReadOnlyList<string> NamedDatasets = ["mnist", "fashion-mnist"];

    /// <summary>Whether training holds examples out for validation (a split or a set): its per-epoch metrics are then theirs, not the test set's.</summary>
    public bool HasValidation => ValidationSplit > 0 || Validation is not null;

    private const string SourceForm = "{images, labels} | {folder} | {csv, label, header}";

    public static readonly IReadOnlyList<OptionInfo> Options =
    [
        OptionInfo.Choice("dataset", "a named dataset, found or fetched by SpecNet", NamedDatasets) with { Required = false },
        OptionInfo.Structure("train", SourceForm, "training examples: IDX files (raw or .gz), an image folder, or a CSV file; relative to the spec's folder"),
        OptionInfo.Structure("test", SourceForm, "test examples, the same forms as train"),
        OptionInfo.Structure("validation", SourceForm, "validation examples, the same forms (or validation_split)"),
        OptionInfo.Fraction("validation_split", "fraction of the training examples held out for validation (seeded, the same every run)", 0),
        OptionInfo.Structure("labels", "[names]", "class names, in class order (default: the image folders' names)"),
        OptionInfo.Choice("resize", "resize images of another size to the input shape (else they are an error)", ["bilinear", "nearest"], noun: "resize method")
            with { Required = false },
        OptionInfo.Structure("preprocess", "{scale, mean, std, channel_order}", "pixel preprocessing: (value · scale - mean) / std per channel"),
        OptionInfo.Structure("augment", "{translation, rotation, zoom, flip, brightness, contrast}", "random augmentation while training"),
    ];

    public static readonly IReadOnlyList<OptionInfo> SourceOptions =
    [
        OptionInfo.Path("images", "IDX image file (raw or .gz)"),
        OptionInfo.Path("labels", "IDX label file (raw or .gz)"),
        OptionInfo.Path("folder", "image folder: one sub-folder per class, PNG/JPEG/BMP files"),
        OptionInfo.Path("csv", "CSV file: one row per example"),
        OptionInfo.Text("label", "the CSV's label column, by header name or 0-based index (default: 'label' with a header, else 0)") with { Form = "name | int" },
        OptionInfo.Bool("header", "whether the CSV's first row is a header (default: detected)") with { Required = false },
    ];

    /// <summary>Largest pixel scale accepted (values are 8-bit; a scale beyond this is a typo).</summary>
    private const double MaxScale = 1e6;

    public static readonly IReadOnlyList<OptionInfo> PreprocessOptions =
    [
        OptionInfo.Number("scale", "multiplies each 8-bit value", 1.0 / 255, 0, MaxScale, minInclusive: false),
        OptionInfo.Structure("mean", "number | [per channel]", "subtracted after scaling") with { DefaultNote = "0" },
        OptionInfo.Structure("std", "number | [per channel]", "divides after subtracting the mean") with { DefaultNote = "1" },
        OptionInfo.Choice("channel_order", "order of colour channels the model sees", ["rgb", "bgr"], "rgb"),
    ];

    public static readonly IReadOnlyList<OptionInfo> AugmentOptions =
    [
        OptionInfo.Fraction("translation", "shift by up to this fraction of height and width", 0),
        OptionInfo.Fraction("rotation", "rotate by up to this fraction of a full turn", 0),
        OptionInfo.Fraction("zoom", "zoom in or out by up to this fraction", 0),
        OptionInfo.Choice("flip", "mirror at random", ["none", "horizontal", "vertical", "both"], "none", noun: "flip mode"),
        OptionInfo.Fraction("brightness", "add up to ± this fraction of the value range", 0),
        OptionInfo.Fraction("contrast", "scale the deviation from the mean by 1 ± up to this factor", 0),
    ];

    internal static DataSpec? Read(MappingNode map, string baseFolder, DiagnosticBag diagnostics)
    {
        var r = new OptionReader(map, "data", map.Span, Options, diagnostics) { Elsewhere = (key, value) => Misplaced.Hint(Misplaced.Section.Data, key, value) };
        string? dataset = null;
        if (r.Has("dataset")) dataset = r.Choice("dataset");
        var train = Source(r, "train", baseFolder, diagnostics);
        var test = Source(r, "test", baseFolder, diagnostics);
        var validation = Source(r, "validation", baseFolder, diagnostics);
        var split = r.Number("validation_split");
        IReadOnlyList<string>? labels = null;
        switch (r.Node("labels"))
        {
            case null: break;
            case SequenceNode seq when seq.Items.All(i => i is ScalarNode { IsNull: false }):
                labels = seq.Items.Select(i => ((ScalarNode)i).Value).ToList();
                var twice = labels.GroupBy(l => l).FirstOrDefault(g => g.Count() > 1);
                if (twice is not null) diagnostics.Error(DiagnosticIds.DuplicateKey, seq.Span, $"data: class name '{twice.Key}' is given twice in labels");
                break;
            case var other:
                diagnostics.Error(DiagnosticIds.WrongNodeType, other.Span, $"data: 'labels' must be a list of class names, not {other.Describe()}", "write labels: [cat, dog]");
                break;
        }
        var resize = r.Has("resize") ? r.Choice("resize") : null;
        var preprocessing = r.Node("preprocess") is { } pn ? ReadPreprocessing(pn, diagnostics) : Preprocessing.Default;
        var augment = r.Node("augment") is { } an ? ReadAugmentation(an, diagnostics) : null;
        r.Finish();
        if (r.Has("dataset") && (r.Has("train") || r.Has("test")))
            diagnostics.Error(DiagnosticIds.DataSource, r.SpanOf("train"), "data: give either 'dataset' or 'train'/'test' files, not both",
                "remove one of them");
        // A data section may hold only how the model reads images (preprocess, resize, labels: an imported
        // model's); anything about examples needs a source.
        else if (!r.Has("dataset") && !r.Has("train") && (map.Entries.Count == 0 || map.Entries.Any(e => e.Key.Value is not ("preprocess" or "resize" or "labels"))))
            diagnostics.Error(DiagnosticIds.DataSource, map.Span, "data: names no source",
                "write data: { dataset: mnist }, or data: { train: { images: ..., labels: ... }, test: { ... } }");
        if (r.Has("validation") && split > 0)
            diagnostics.Error(DiagnosticIds.DataSource, r.SpanOf("validation_split"), "data: give either 'validation' or 'validation_split', not both", "remove one of them");
        return new DataSpec(dataset, train, test, validation, split, labels, resize, preprocessing, augment, map.Span);
    }

    private static DataSource? Source(OptionReader parent, string key, string baseFolder, DiagnosticBag diagnostics)
    {
        var node = parent.Node(key);
        if (node is null) return null;
        if (node is not MappingNode map)
        {
            diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"data: '{key}' must be a map {{ images: ..., labels: ... }}, {{ folder: ... }} or {{ csv: ... }}, not {node.Describe()}");
            return null;
        }
        var r = new OptionReader(map, $"data.{key}", map.Span, SourceOptions, diagnostics);
        var images = r.String("images");
        var labels = r.String("labels");
        var folder = r.String("folder");
        var csv = r.String("csv");
        var label = r.String("label");
        bool? header = r.Has("header") ? r.Bool("header") : null;
        r.Finish();
        int forms = (images ?? labels) is not null ? 1 : 0;
        forms += folder is not null ? 1 : 0;
        forms += csv is not null ? 1 : 0;
        if (forms != 1)
        {
            diagnostics.Error(DiagnosticIds.DataSource, map.Span, forms == 0 ? $"data.{key}: names no examples" : $"data.{key}: give one of images/labels, folder or csv",
                "write { images: ..., labels: ... }, { folder: ... } or { csv: ..., label: ... }");
            return null;
        }
        string Full(string p) => System.IO.Path.GetFullPath(p, baseFolder);
        void MustExist(string written, bool directory, string option)
        {
            bool exists = directory ? Directory.Exists(Full(written)) : File.Exists(Full(written));
            if (!exists)
                diagnostics.Warning(DiagnosticIds.DataFileMissing, r.SpanOf(option), $"data.{key}: there is no {(directory ? "folder" : "file")} '{written}' (paths are relative to the spec's folder)",
                    "training and evaluation will fail until it exists");
        }
        if (folder is not null)
        {
            MustExist(folder, true, "folder");
            return new DataSource(SourceKind.Folder, Full(folder), null, null, null, map.Span);
        }
        if (csv is not null)
        {
            MustExist(csv, false, "csv");
            return new DataSource(SourceKind.Csv, Full(csv), null, label, header, map.Span);
        }
        if (images is null || labels is null)
        {
            diagnostics.Error(DiagnosticIds.MissingKey, map.Span, $"data.{key} needs both 'images' and 'labels'", "add the missing IDX file");
            return null;
        }
        MustExist(images, false, "images");
        MustExist(labels, false, "labels");
        return new DataSource(SourceKind.Idx, Full(images), Full(labels), null, null, map.Span);
    }

    private static Preprocessing ReadPreprocessing(SyntaxNode node, DiagnosticBag diagnostics)
    {
        if (node is not MappingNode map)
        {
            diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"data: 'preprocess' must be a map, not {node.Describe()}", "write preprocess: { mean: [0.5], std: [0.5] }");
            return Preprocessing.Default;
        }
        var r = new OptionReader(map, "data.preprocess", map.Span, PreprocessOptions, diagnostics);
        var scale = r.Number("scale");
        float[] Values(string key, float fallback, bool positive)
        {
            var n = r.Node(key);
            var items = n switch { null => [], SequenceNode s => s.Items, _ => [n] };
            if (items.Count == 0) return [fallback];
            var values = new List<float>();
            foreach (var item in items)
                if (item is ScalarNode s && float.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && float.IsFinite(v) && (!positive || v > 0))
                    values.Add(v);
                else
                {
                    diagnostics.Error(DiagnosticIds.NotANumber, item.Span, $"data.preprocess: '{key}' values must be {(positive ? "positive " : "")}numbers, not {item.Describe()}");
                    values.Add(fallback);
                }
            return [.. values];
        }
        var p = new Preprocessing(scale, Values("mean", 0, false), Values("std", 1, true), r.Choice("channel_order") == "bgr");
        r.Finish();
        return p;
    }

    private static Augmentation? ReadAugmentation(SyntaxNode node, DiagnosticBag diagnostics)
    {
        if (node is not MappingNode map)
        {
            diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"data: 'augment' must be a map, not {node.Describe()}", "write augment: { rotation: 0.05, zoom: 0.1 }");
            return null;
        }
        var r = new OptionReader(map, "data.augment", map.Span, AugmentOptions, diagnostics);
        var a = new Augmentation(r.Number("translation"), r.Number("rotation"), r.Number("zoom"), r.Choice("flip"),
            r.Number("brightness"), r.Number("contrast"));
        r.Finish();
        return a;
    }
}
