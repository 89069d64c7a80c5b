using SpecNet.Diagnostics;
using SpecNet.Checking;

namespace SpecNet.Data;

/// <summary>Loads the data a spec names and checks it against the model before anything runs.</summary>
public static class DataLoader
{
    public static (Dataset Train, Dataset? Test) Load(ModelSpec model, Action<string> log, IProgress<double>? progress = null)
    {
        var data = model.Data ?? throw new SpecNetException($"{model.SourcePath}: the spec has no data section",
            "add data: { dataset: mnist }, or data: { train: { images: ..., labels: ... }, test: { ... } }");
        Dataset train;
        Dataset? test = null;
        if (data.Dataset is { } name)
        {
            var folder = NamedDatasets.Locate(name) ?? NamedDatasets.Fetch(name, log, progress);
            (train, test) = NamedDatasets.Load(name, folder);
        }
        else
        {
            train = Idx.ReadDataset("train", data.Train!.Images, data.Train.Labels);
            if (data.Test is { } t) test = Idx.ReadDataset("test", t.Images, t.Labels);
        }
        Validate(model, train);
        if (test is not null) Validate(model, test);
        return (train, test);
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
        int classes = units == 1 ? 2 : units;
        if (maxLabel >= classes)
            throw new SpecNetException($"{where}: the {data.Name} labels{(data.Source is null ? "" : $" ({data.Source.Split(", ")[^1]})")} go up to {maxLabel}, but the model has {units} output unit{(units == 1 ? "" : "s")} ({classes} classes)",
                $"give the last dense layer units: {maxLabel + 1}");
    }
}
