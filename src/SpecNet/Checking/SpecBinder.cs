using SpecNet.Diagnostics;
using SpecNet.Layers;
using SpecNet.Parsing;
using SpecNet.Schema;

namespace SpecNet.Checking;

/// <summary>
/// Binds the syntax tree to a <see cref="ModelSpec"/>: reads each section against its schema, builds the
/// layers from the registry, then infers shapes layer by layer. Every user error of a spec comes from here.
/// </summary>
internal sealed class SpecBinder(DiagnosticBag diagnostics, string sourcePath, string? baseFolder = null)
{
    /// <summary>The folder the spec's relative paths (data, init_from) are read from: the spec file's, unless given.</summary>
    private readonly string _baseFolder = baseFolder ?? Path.GetDirectoryName(Path.GetFullPath(sourcePath)) ?? ".";

    public static readonly IReadOnlyList<OptionInfo> TopLevel =
    [
        OptionInfo.Text("name", "the model's name (default: the file name)"),
        OptionInfo.Text("description", "free text"),
        OptionInfo.Structure("input", "{shape: [h, w, c] | [n]}", "the shape of one example", required: true),
        OptionInfo.Structure("data", "map", "where the examples come from"),
        OptionInfo.Structure("layers", "list", "the layer stack, first to last", required: true),
        OptionInfo.Structure("training", "map", "optimizer, loss, epochs, batch size, seed"),
    ];

    private static readonly IReadOnlyList<OptionInfo> InputOptions =
        [OptionInfo.Structure("shape", "[h, w, c] | [n]", "height, width, channels of one example, or a feature count", required: true)];

    /// <summary>A sweep file's top level: a base spec and parameters, no layers of its own.</summary>
    public static bool IsSweep(MappingNode map) => map.Find("base") is not null && map.Find("parameters") is not null && map.Find("layers") is null;

    public ModelSpec? Bind(SyntaxNode root, string text)
    {
        if (root is not MappingNode map)
        {
            diagnostics.Error(DiagnosticIds.WrongNodeType, root.Span, $"a spec is a map of sections (name, input, layers, training), not {root.Describe()}",
                "see specs/mnist-cnn.yaml for a complete example");
            return null;
        }
        if (IsSweep(map))
        {
            // given to train, eval, ...: one error that says what the file is, not one for each of its keys
            diagnostics.Error(DiagnosticIds.UnknownKey, map.Find("base")!.Key.Span, "this is a sweep file (base, parameters), not a spec",
                $"run it with specnet sweep {Path.GetFileName(sourcePath)} -o DIR (--dry-run lists its trials); the spec it sweeps is its base");
            return null;
        }
        var optimizer = Misplaced.OptimizerOf(map.Find("training")?.Value);     // where a misplaced optimizer option's hint moves it
        var top = new OptionReader(map, "the spec", new SourceSpan(1, 1, 1, 1), TopLevel, diagnostics)
            {
                KeyNoun = "section", SurelyElsewhere = Misplaced.DataSourceAtTop,
                Elsewhere = (key, value) => Misplaced.Hint(Misplaced.Section.Top, key, value, optimizer: optimizer),
            };
        var name = top.String("name") ?? Path.GetFileNameWithoutExtension(sourcePath);
        top.String("description");
        var input = ReadInput(top);
        var graph = ReadLayers(top.Node("layers"), top, input, optimizer);
        var training = top.Node("training") switch
        {
            null => TrainingSpec.Default,
            MappingNode t => TrainingSpec.Read(t, t.Span, diagnostics, _baseFolder),
            var other => Wrong(other, "training", TrainingSpec.Default),
        };
        var data = top.Node("data") switch
        {
            null => null,
            MappingNode d => DataSpec.Read(d, _baseFolder, diagnostics),
            var other => Wrong<DataSpec?>(other, "data", null),
        };
        top.Finish();

        if (graph is { Layers: var layers })
        {
            CheckLoss(layers, training);
            WarnAboutDenseShare(layers);
            if (layers.Any(l => l.Parameters.Any(p => p.Trainable)) && layers.All(l => l.TrainableCount == 0))
                diagnostics.Warning(DiagnosticIds.NothingTrainable, layers[0].Span, "every layer is frozen (trainable: false): training would change nothing",
                    "leave at least one layer trainable (a new head, say)");
        }
        if (diagnostics.HasErrors || input is null || graph is null) return null;
        return new ModelSpec
        {
            Name = name, Input = input.Value, Layers = graph.Value.Layers, Entries = graph.Value.Entries, Training = training, Data = data,
            SourceText = text, SourcePath = sourcePath, BaseFolder = _baseFolder,
        };
    }

    private T Wrong<T>(SyntaxNode node, string key, T fallback)
    {
        diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"'{key}' must be a map, not {node.Describe()}");
        return fallback;
    }

    private Shape? ReadInput(OptionReader top)
    {
        var node = top.Node("input");
        if (node is null)
        {
            top.RequireMissing("input");
            return null;
        }
        SyntaxNode? shapeNode;
        if (node is SequenceNode shorthand) shapeNode = shorthand; // input: [28, 28, 1], as Keras's input_shape
        else if (node is not MappingNode map) return Wrong<Shape?>(node, "input", null);
        else
        {
            var r = new OptionReader(map, "input", map.Span, InputOptions, diagnostics);
            shapeNode = r.Node("shape");
            r.Finish();
            if (shapeNode is null) { r.RequireMissing("shape"); return null; }
        }
        if (shapeNode is not SequenceNode { Items.Count: 1 or 3 } seq)
        {
            diagnostics.Error(DiagnosticIds.WrongNodeType, shapeNode.Span,
                $"input: 'shape' must be [height, width, channels] or [features], not {Count(shapeNode)}",
                shapeNode is SequenceNode { Items.Count: 2 } ? "a grayscale image has one channel: write [28, 28, 1]" : "for 28x28 grayscale images write shape: [28, 28, 1]");
            return null;
        }
        var dims = seq.Items.Select(item => DimensionOf(item)).ToList();
        if (dims.Any(d => d is null)) return null;
        if ((long)dims.Aggregate(1L, (a, d) => a * d!.Value) > 1 << 26)
        {
            diagnostics.Error(DiagnosticIds.OutOfRange, seq.Span, "input: the shape holds more than 2^26 values per example", "use a smaller input");
            return null;
        }
        if (dims.Count == 1) return Shape.Flat(dims[0]!.Value);
        var (h, w, c) = (dims[0]!.Value, dims[1]!.Value, dims[2]!.Value);
        // [1, 28, 28] or [3, 224, 224]: a PyTorch tensor's order, which here is a 1-pixel-high image of 28 channels
        if (h is 1 or 3 && w > 4 && c > 4)
            diagnostics.Warning(DiagnosticIds.ChannelsFirst, seq.Span, $"input: [{h}, {w}, {c}] is {h} pixel{(h == 1 ? "" : "s")} high with {c} channels; it reads as PyTorch's [channels, height, width]",
                $"a spec's shape is [height, width, channels]: for {w}x{c} images of {h} channel{(h == 1 ? "" : "s")} write [{w}, {c}, {h}]");
        return Shape.Spatial(h, w, c);
    }

    private static string Count(SyntaxNode node) => node is SequenceNode s ? $"a list of {s.Items.Count}" : node.Describe();

    private int? DimensionOf(SyntaxNode item)
    {
        if (item is ScalarNode s && int.TryParse(s.Value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var v))
        {
            if (v is >= 1 and <= 1 << 16) return v;
            diagnostics.Error(DiagnosticIds.OutOfRange, item.Span, $"input: each dimension must be a positive whole number, not {s.Value}");
            return null;
        }
        diagnostics.Error(DiagnosticIds.NotANumber, item.Span, $"input: each dimension must be a positive whole number, not {item.Describe()}");
        return null;
    }

    /// <summary>The layer list as a graph (layers in topological order, shapes inferred); null when it has errors.</summary>
    private (List<Layer> Layers, List<Entry> Entries)? ReadLayers(SyntaxNode? node, OptionReader top, Shape? input, string? optimizer)
    {
        if (node is null) { top.RequireMissing("layers"); return null; }
        if (node is not SequenceNode seq)
        {
            diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"'layers' must be a list ('- conv2d: {{...}}' entries), not {node.Describe()}");
            return null;
        }
        if (seq.Items.Count == 0)
        {
            diagnostics.Error(DiagnosticIds.MissingKey, seq.Span, "'layers' is empty; a model needs at least one layer", "add e.g. '- dense: { units: 10, activation: softmax }'");
            return null;
        }
        var graph = new GraphReader(diagnostics, optimizer);
        var output = graph.Read(seq, input);
        return output is null ? null : (graph.Layers, graph.Entries);
    }

    private void CheckLoss(List<Layer> layers, TrainingSpec training)
    {
        var last = layers[^1];
        var output = last.Output;
        var activation = last.OutputActivation.Function;
        if (!output.IsFlat && training.Loss.IsCrossentropy)
        {
            diagnostics.Error(DiagnosticIds.LossMismatch, last.Span, $"the model's output is {output}, but the loss '{training.Loss}' needs a flat output (one value per class)",
                "end with '- flatten' or '- global_avg_pool2d', then '- dense: { units: <classes>, activation: softmax }'");
            return;
        }
        switch (training.Loss.Kind)
        {
            case LossKind.CategoricalCrossentropy or LossKind.SparseCategoricalCrossentropy:
                if (output.Channels < 2)
                    diagnostics.Error(DiagnosticIds.LossMismatch, last.Span, $"'{training.Loss}' needs one output per class (at least 2), but the model ends with {output.Channels}",
                        "for two classes with one output use loss: binary_crossentropy and activation: sigmoid");
                else if (activation != ActivationFunction.Softmax)
                    diagnostics.Warning(DiagnosticIds.OutputActivation, last.Span, $"'{training.Loss}' expects probabilities, but the last layer's activation is {Activations.NameOf(activation)}",
                        "add activation: softmax to the last layer");
                break;
            case LossKind.BinaryCrossentropy:
                if (activation != ActivationFunction.Sigmoid)
                    diagnostics.Warning(DiagnosticIds.OutputActivation, last.Span, $"'binary_crossentropy' expects probabilities in (0, 1), but the last layer's activation is {Activations.NameOf(activation)}",
                        "add activation: sigmoid to the last layer");
                break;
        }
    }

    /// <summary>Parameters beyond which a dense layer fed by a flatten is worth a warning.</summary>
    private const int DenseSinkParameters = 100_000;

    /// <summary>A Flatten feeding a huge Dense is the classic accidental parameter sink.</summary>
    private void WarnAboutDenseShare(List<Layer> layers)
    {
        long total = layers.Sum(l => l.ParameterCount);
        foreach (var layer in layers)
            if (layer is Dense { Sources: [Flatten] } dense && dense.ParameterCount > total / 2 && dense.ParameterCount > DenseSinkParameters)
                diagnostics.Warning(DiagnosticIds.DenseDominates, dense.Span,
                    $"dense layer '{dense.Name}' holds {dense.ParameterCount:N0} of the model's {total:N0} parameters ({100.0 * dense.ParameterCount / total:F0}%), fed by a flatten of {dense.Input.Channels} values",
                    "downsample more before the flatten (pooling, strides), or use '- global_avg_pool2d' instead of '- flatten'");
    }
}
