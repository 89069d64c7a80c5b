using SpecNet.Diagnostics;
using SpecNet.Parsing;
using SpecNet.Schema;

namespace SpecNet.Checking;

/// <summary>A pair of IDX files: images and their labels. Paths are absolute (resolved against the spec's folder).</summary>
public sealed record DataFiles(string Images, string Labels, SourceSpan ImagesSpan, SourceSpan LabelsSpan);

/// <summary>Where the examples come from: a named dataset, or train/test files.</summary>
public sealed record DataSpec(string? Dataset, DataFiles? Train, DataFiles? Test, SourceSpan Span)
{
    public static readonly IReadOnlyList<string> NamedDatasets = ["mnist", "fashion-mnist"];

    public static readonly IReadOnlyList<OptionInfo> Options =
    [
        new("dataset", "mnist | fashion-mnist", "", "a named dataset, found or fetched by SpecNet"),
        new("train", "{images, labels}", "", "training files (IDX, raw or .gz), relative to the spec's folder"),
        new("test", "{images, labels}", "", "test files, the same form as train"),
    ];

    private static readonly IReadOnlyList<OptionInfo> FileOptions =
    [
        new("images", "path", null, "IDX image file (raw or .gz)"),
        new("labels", "path", null, "IDX label file (raw or .gz)"),
    ];

    internal static DataSpec? Read(MappingNode map, string baseFolder, DiagnosticBag diagnostics)
    {
        var r = new OptionReader(map, "data", map.Span, Options, diagnostics);
        string? dataset = null;
        if (r.Node("dataset") is { } ds) dataset = r.ChoiceOf(ds, NamedDatasets, "dataset '{0}'", "datasets");
        var train = Files(r, "train", baseFolder, diagnostics);
        var test = Files(r, "test", baseFolder, diagnostics);
        r.Finish();
        if (r.Has("dataset") && (r.Has("train") || r.Has("test")))
            diagnostics.Error(DiagnosticIds.DataSource, r.SpanOf("train"), "data: give either 'dataset' or 'train'/'test' files, not both",
                "remove one of them");
        else if (!r.Has("dataset") && !r.Has("train"))
            diagnostics.Error(DiagnosticIds.DataSource, map.Span, "data: names no source",
                "write data: { dataset: mnist }, or data: { train: { images: ..., labels: ... }, test: { ... } }");
        return new DataSpec(dataset, train, test, map.Span);
    }

    private static DataFiles? Files(OptionReader parent, string key, string baseFolder, DiagnosticBag diagnostics)
    {
        var node = parent.Node(key);
        if (node is null) return null;
        if (node is not MappingNode map)
        {
            diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"data: '{key}' must be a map {{ images: ..., labels: ... }}, not {node.Describe()}");
            return null;
        }
        var r = new OptionReader(map, $"data.{key}", map.Span, FileOptions, diagnostics);
        var images = r.String("images");
        var labels = r.String("labels");
        r.Finish();
        if (images is null || labels is null) return null;
        var files = new DataFiles(Path.GetFullPath(images, baseFolder), Path.GetFullPath(labels, baseFolder), r.SpanOf("images"), r.SpanOf("labels"));
        foreach (var (written, path, span) in new[] { (images, files.Images, files.ImagesSpan), (labels, files.Labels, files.LabelsSpan) })
            if (!File.Exists(path))
                diagnostics.Warning(DiagnosticIds.DataFileMissing, span, $"data.{key}: there is no file '{written}' (paths are relative to the spec's folder)",
                    "training and evaluation will fail until it exists");
        return files;
    }
}
