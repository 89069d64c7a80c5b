using SpecNet.Diagnostics;
using SpecNet.Layers;
using SpecNet.Parsing;
using SpecNet.Schema;

namespace SpecNet.Checking;

/// <summary>
/// One entry of the `layers` list as users wrote it: a layer, or a block (residual, parallel) with the
/// layers it expands to, in order; the last of them is its output.
/// </summary>
public sealed record Entry(string Name, string Kind, IReadOnlyList<Layer> Layers, SourceSpan Span)
{
    public bool IsBlock => Kind is Blocks.Residual or Blocks.Parallel;
    public Shape Output => Layers[^1].Output;
    public long ParameterCount => Layers.Sum(l => l.ParameterCount);
    public long Macs => Layers.Sum(l => l.Macs);
}

/// <summary>The blocks of the spec language: each one entry of a layer list, with one input and one output.</summary>
public static class Blocks
{
    public const string Residual = "residual", Parallel = "parallel";

    private static readonly OptionInfo Repeat = OptionInfo.Int("repeat", "copies in sequence, each with its own weights", 1, 1, 1000);

    public static readonly IReadOnlyList<OptionInfo> ResidualOptions =
    [
        OptionInfo.Structure("layers", "[layers]", "the main path: activation(layers(x) + shortcut(x))", required: true),
        OptionInfo.Structure("shortcut", "[layers]", "the other path") with { DefaultNote = "the identity" },
        Activations.Option(doc: "applied to the sum"),
        Repeat,
        LayerRegistry.NameOption with { DefaultNote = "residual_<n>" },
        LayerRegistry.InputsOption,
        LayerRegistry.TrainableOption with { Doc = "false freezes every layer inside" },
    ];

    /// <summary>The merges a parallel block can end with.</summary>
    public static IReadOnlyList<string> MergeKinds => [Concatenate.Definition.Name, .. Merge.Definitions.Select(k => k.Name)];

    public static readonly IReadOnlyList<OptionInfo> ParallelOptions =
    [
        OptionInfo.Structure("branches", "[[layers], [layers], ...]", "paths that each read the block's input (an empty one is the identity)", required: true),
        OptionInfo.Choice("merge", "how the branches' outputs are joined", MergeKinds, "concatenate", noun: "merge"),
        Repeat,
        LayerRegistry.NameOption with { DefaultNote = "parallel_<n>" },
        LayerRegistry.InputsOption,
        LayerRegistry.TrainableOption with { Doc = "false freezes every layer inside" },
    ];
}

/// <summary>
/// Reads a `layers` list into a graph of layers in topological order, inferring each shape as it goes.
/// A layer reads the one before it, or what its `inputs` name: earlier layers or blocks (a block's
/// output), `input` (the model's input) or `previous`. Blocks expand into layers: residual into its
/// layers, its shortcut, an `add` and an activation; parallel into its branches and a merge.
/// Names: top-level entries are numbered per kind (conv2d_1, residual_1); inside a block, names are the
/// block's scope plus the same numbering (residual_1/conv2d_1, residual_1/shortcut/conv2d_1,
/// parallel_1/branch_2/max_pool2d_1, residual_1/add, residual_1/relu), and with repeat: N each copy
/// adds its number (residual_1/2/conv2d_1). A name given in the spec is used as written (in a repeated
/// block, under the copy's scope); every name is unique in the whole model and names the tensors in the
/// weights file ("residual_1/conv2d_1.weight").
/// </summary>
/// <param name="optimizer">the spec's optimizer, for the hint that moves an optimizer option out of a layer</param>
internal sealed class GraphReader(DiagnosticBag diagnostics, string? optimizer = null)
{
    /// <summary>What flows between layers: a layer's output, or (Layer null) the model's input; Broken after an error upstream.</summary>
    private readonly record struct Value(Layer? Layer, bool Broken = false)
    {
        public static readonly Value Failed = new(null, true);
    }

    private readonly Dictionary<string, Layer> _byName = [];
    /// <summary>Each block by name, for `inputs` that name it: its output layer (null when the block failed), and where it is.</summary>
    private readonly Dictionary<string, (Layer? Output, SourceSpan Span)> _blocks = [];
    /// <summary>Inside a block with trainable: false.</summary>
    private bool _frozen;
    private readonly List<(string Reference, SourceSpan Span, string Owner)> _unresolved = [];
    private Shape _input;

    public List<Layer> Layers { get; } = [];
    public List<Entry> Entries { get; } = [];
    /// <summary>False when an entry could not be read or connected.</summary>
    public bool Complete { get; private set; } = true;

    /// <summary>
    /// Reads the top-level list; returns the model's output layer, or null when something failed. Without an
    /// input shape (itself in error) layers are still bound, so that their own errors are reported too.
    /// </summary>
    public Layer? Read(SequenceNode layers, Shape? input)
    {
        _input = input ?? default;
        var output = Sequence(layers.Items, input is null ? Value.Failed : new Value(null), "", "", topLevel: true);
        ReportUnresolved();
        if (!Complete || output.Broken || output.Layer is null) return null;
        WarnAboutUnusedOutputs(output.Layer);
        return output.Layer;
    }

    /// <summary>Layers and blocks one after another, each reading the one before unless it says otherwise.</summary>
    private Value Sequence(IReadOnlyList<SyntaxNode> items, Value input, string scope, string namePrefix, bool topLevel = false)
    {
        var counts = new Dictionary<string, int>();
        var previous = input;
        foreach (var item in items)
        {
            int first = Layers.Count;
            var (kindNode, options) = Split(item);
            if (kindNode is null) { Complete = false; previous = Value.Failed; continue; }
            counts[kindNode.Value] = counts.GetValueOrDefault(kindNode.Value) + 1;
            var defaultName = $"{scope}{kindNode.Value}_{counts[kindNode.Value]}";
            previous = kindNode.Value is Blocks.Residual or Blocks.Parallel
                ? Block(kindNode, options, previous, defaultName, namePrefix)
                : Layer(kindNode, options, previous, defaultName, namePrefix);
            if (topLevel && Layers.Count > first)
                Entries.Add(new Entry(IsBlock(kindNode.Value) ? BlockName(options, defaultName, namePrefix) : Layers[first].Name, kindNode.Value, Layers[first..], kindNode.Span));
        }
        return previous;
    }

    private string BlockName(MappingNode? options, string defaultName, string namePrefix) =>
        options?.Find("name")?.Value is ScalarNode { IsNull: false } s && IsValidName(s.Value) ? namePrefix + s.Value : defaultName;

    /// <summary>`- kind: {options}`, `- kind:` or bare `- kind`; null (reported) when the entry has another form.</summary>
    private (ScalarNode? Kind, MappingNode? Options) Split(SyntaxNode item)
    {
        switch (item)
        {
            case ScalarNode { IsNull: false } bare:
                return (Known(bare) ? bare : null, null);
            case MappingNode { Entries.Count: 1 } one:
                var kind = one.Entries[0].Key;
                if (one.Entries[0].Value is MappingNode m) return (Known(kind) ? kind : null, m);
                if (one.Entries[0].Value is ScalarNode { IsNull: true }) return (Known(kind) ? kind : null, null);
                diagnostics.Error(DiagnosticIds.MalformedLayer, one.Entries[0].Value.Span,
                    $"the options of '{kind.Value}' must be a map, not {one.Entries[0].Value.Describe()}",
                    $"write '- {kind.Value}{(LayerRegistry.Find(kind.Value) is null ? ": { option: value, ... }" : Misplaced.LayerOptions(kind.Value, one.Entries[0].Value))}'");
                return (null, null);
            case MappingNode many when many.Entries.Count > 1 && (LayerRegistry.Find(many.Entries[0].Key.Value) is not null || IsBlock(many.Entries[0].Key.Value)):
                diagnostics.Error(DiagnosticIds.MalformedLayer, many.Entries[1].Key.Span,
                    $"a layer entry is a one-key map 'kind: {{options}}', but this one also has '{many.Entries[1].Key.Value}'",
                    $"indent the options under the kind, or write '- {many.Entries[0].Key.Value}: {{ {many.Entries[1].Key.Value}: ... }}'");
                return (null, null);
            default:
                diagnostics.Error(DiagnosticIds.MalformedLayer, item.Span, $"a layer entry is a one-key map 'kind: {{options}}', not {item.Describe()}",
                    "write e.g. '- conv2d: { filters: 32, kernel_size: 3 }' or a bare '- flatten'");
                return (null, null);
        }
    }

    private static bool IsBlock(string kind) => kind is Blocks.Residual or Blocks.Parallel;

    private bool Known(ScalarNode kind)
    {
        if (IsBlock(kind.Value) || LayerRegistry.Find(kind.Value) is not null) return true;
        diagnostics.Error(DiagnosticIds.UnknownLayerKind, kind.Span, $"unknown layer kind '{kind.Value}'",
            Names.Hint(kind.Value, [.. LayerRegistry.Names, Blocks.Residual, Blocks.Parallel], "kinds"));
        return false;
    }

    private Value Layer(ScalarNode kindNode, MappingNode? options, Value previous, string defaultName, string namePrefix)
    {
        var kind = LayerRegistry.Find(kindNode.Value)!;
        var reader = new OptionReader(options, $"{kind.Name} layer '{defaultName}'", kindNode.Span,
            [.. LayerRegistry.CommonOptions, .. kind.Options], diagnostics) 
            { Elsewhere = (key, value) => Misplaced.Hint(Misplaced.Section.Layer, key, value, kind.Options.Any(o => o.Name == "activation"), optimizer) };
        var name = UserName(reader);
        var fullName = name is null ? defaultName : namePrefix + name;
        var bound = new OptionReader(options, $"{kind.Name} layer '{fullName}'", kindNode.Span,
            [.. LayerRegistry.CommonOptions, .. kind.Options], diagnostics);
        var layer = kind.Create(bound);
        var sources = Sources(bound, previous, namePrefix, kind, $"{kind.Name} layer '{fullName}'");
        reader.Finish();
        layer.Name = fullName;
        layer.Span = kindNode.Span;
        layer.OptionSpans = reader.Spans();            // a duplicate name is then shown at its 'name:', broken layer or not
        if (reader.HadErrors || sources is null)
        {
            // Its name is still taken: a later layer reading it is broken quietly, not told that no layer has that name.
            Register(layer);
            Complete = false;
            return Value.Failed;
        }
        layer.Kind = kind;
        layer.Frozen = _frozen || !bound.Bool("trainable");
        layer.Options = bound.Values;
        return Add(layer, sources);
    }

    /// <summary>A layer created by a block (its merge, its activation), located at the block.</summary>
    private Value Synthetic(Layer layer, LayerKind kind, string name, SourceSpan span, IReadOnlyList<Value> sources, IReadOnlyDictionary<string, object>? options = null)
    {
        layer.Name = name;
        layer.Kind = kind;
        layer.Span = span;
        layer.Options = options ?? new Dictionary<string, object>();
        return Add(layer, sources);
    }

    /// <summary>Connects a bound layer to its sources (inferring its shape) and records it; a broken source breaks it quietly.</summary>
    private Value Add(Layer layer, IReadOnlyList<Value> sources)
    {
        if (!Register(layer)) { Complete = false; return Value.Failed; }
        if (sources.Any(s => s.Broken)) { Complete = false; return Value.Failed; }
        layer.Sources = sources.Select(s => s.Layer).ToList();
        if (!layer.Connect(sources.Select(s => s.Layer?.Output ?? _input).ToList(), diagnostics)) { Complete = false; return Value.Failed; }
        Layers.Add(layer);
        return new Value(layer);
    }

    private bool Register(Layer layer)
    {
        if (FirstNamed(layer.Name) is { } first)
        {
            diagnostics.Error(DiagnosticIds.DuplicateLayerName, layer.OptionSpans.GetValueOrDefault("name", layer.Span),
                $"two layers are named '{layer.Name}' (the first at line {first.Line})", "layer names must be unique: they name the tensors in the weights file");
            return false;
        }
        _byName[layer.Name] = layer;
        return true;
    }

    private string? UserName(OptionReader reader)
    {
        var name = reader.String("name");
        if (name is null || IsValidName(name)) return name;
        diagnostics.Error(DiagnosticIds.OutOfRange, reader.SpanOf("name"), $"layer name '{name}' may hold only letters, digits, '_' and '-'",
            "names become tensor names in the weights file ('<name>.weight')");
        return null;
    }

    private static bool IsValidName(string name) =>
        name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-') && name is not ("input" or "previous");

    /// <summary>What a layer reads: its `inputs`, else the value before it. Null (reported) when they cannot be read.</summary>
    private List<Value>? Sources(OptionReader r, Value previous, string namePrefix, LayerKind kind, string owner)
    {
        var node = r.Node("inputs");
        if (node is null)
        {
            if (kind.MinInputs <= 1) return [previous];
            diagnostics.Error(DiagnosticIds.MissingKey, r.OwnerSpan, $"{owner} merges several inputs: it needs 'inputs'",
                $"write - {kind.Name}: {{ inputs: [a, b] }} with the names of the layers to merge (or use a residual or parallel block)");
            return null;
        }
        if (node is not SequenceNode { Items.Count: > 0 } list || list.Items.Any(i => i is not ScalarNode { IsNull: false }))
        {
            diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"{owner}: 'inputs' must be a list of layer names, not {node.Describe()}",
                "write inputs: [stem, previous] (earlier layers' names, input or previous)");
            return null;
        }
        if (list.Items.Count < kind.MinInputs || list.Items.Count > kind.MaxInputs)
        {
            var wanted = kind.MinInputs == kind.MaxInputs ? $"{kind.MinInputs}" : kind.MaxInputs == int.MaxValue ? $"at least {kind.MinInputs}" : $"{kind.MinInputs} to {kind.MaxInputs}";
            diagnostics.Error(DiagnosticIds.OutOfRange, list.Span, $"{owner} takes {wanted} input{(wanted == "1" ? "" : "s")}, not {list.Items.Count}",
                kind.MaxInputs == 1 ? "to combine several layers, use a merge layer (add, concatenate, ...) first" : null);
            return null;
        }
        var values = new List<Value>();
        foreach (var item in list.Items.Cast<ScalarNode>())
        {
            var value = Resolve(item.Value, previous, namePrefix);
            if (value is null)
            {
                _unresolved.Add((item.Value, item.Span, owner));
                return null;
            }
            values.Add(value.Value);
        }
        return values;
    }

    /// <summary>A reference: `input`, `previous`, or a name, looked up in the current copy of a repeated block first.</summary>
    private Value? Resolve(string reference, Value previous, string namePrefix) => reference switch
    {
        "input" => new Value(null),
        "previous" => previous,
        _ when namePrefix.Length > 0 && _byName.TryGetValue(namePrefix + reference, out var local) => Output(local),
        _ when _byName.TryGetValue(reference, out var layer) => Output(layer),
        _ when namePrefix.Length > 0 && _blocks.TryGetValue(namePrefix + reference, out var localBlock) => BlockOutput(localBlock.Output),
        _ when _blocks.TryGetValue(reference, out var block) => BlockOutput(block.Output),
        _ => null,
    };

    /// <summary>A registered layer whose connection failed is broken (its error is already reported).</summary>
    private Value Output(Layer layer) => Layers.Contains(layer) ? new Value(layer) : Value.Failed;

    /// <summary>A block stands for its output; a block that failed is broken (its error is already reported).</summary>
    private static Value BlockOutput(Layer? output) => output is null ? Value.Failed : new Value(output);

    /// <summary>References that named nothing earlier: a later layer, or nothing at all.</summary>
    private void ReportUnresolved()
    {
        foreach (var (reference, span, owner) in _unresolved)
        {
            if (FirstNamed(reference) is { } later)
                diagnostics.Error(DiagnosticIds.UnknownInput, span, $"{owner}: inputs names '{reference}', which comes later (line {later.Line})",
                    "a layer can read only earlier layers: move it after that one");
            else
                diagnostics.Error(DiagnosticIds.UnknownInput, span, $"{owner}: inputs names '{reference}', but no layer has that name",
                    Names.Suggest(reference, [.. _byName.Keys, .. _blocks.Keys, "input", "previous"]) is { } near ? $"did you mean '{near}'?"
                        : $"name an earlier layer, input or previous (layers: {string.Join(", ", _byName.Keys.Take(12))})");
        }
        if (_unresolved.Count > 0) Complete = false;
    }

    private void WarnAboutUnusedOutputs(Layer output)
    {
        var read = Layers.SelectMany(l => l.Sources).OfType<Layer>().ToHashSet();
        foreach (var layer in Layers.Where(l => l != output && !read.Contains(l)))
            diagnostics.Warning(DiagnosticIds.UnusedOutput, layer.Span, $"{layer.Kind.Name} layer '{layer.Name}': nothing reads its output, so it does not affect the model",
                "feed it to a later layer (inputs: [...]) or remove it");
    }

    private Value Block(ScalarNode kindNode, MappingNode? options, Value previous, string defaultName, string namePrefix)
    {
        bool residual = kindNode.Value == Blocks.Residual;
        var r = new OptionReader(options, $"{kindNode.Value} block '{defaultName}'", kindNode.Span, residual ? Blocks.ResidualOptions : Blocks.ParallelOptions, diagnostics);
        var name = UserName(r);
        var blockName = name is null ? defaultName : namePrefix + name;
        int repeat = r.Int("repeat");
        var input = Sources(r, previous, namePrefix, new LayerKind(kindNode.Value, "", [], _ => null!), $"{kindNode.Value} block '{blockName}'");
        var paths = residual ? Paths(r, ["layers", "shortcut"]) : Branches(r);
        var activation = residual ? Activations.Read(r) : default;
        var merge = residual ? "add" : r.Choice("merge");
        bool frozen = !r.Bool("trainable");
        r.Finish();
        if (r.HadErrors || input is null || paths is null) { Complete = false; return RegisterBlock(blockName, kindNode.Span, r, Value.Failed); }
        bool outer = _frozen;
        _frozen |= frozen;
        try { return RegisterBlock(blockName, kindNode.Span, r, Copies(kindNode, input[0], paths, residual, activation, merge, repeat, blockName, namePrefix, r)); }
        finally { _frozen = outer; }
    }

    /// <summary>Where the layer or block already named <paramref name="name"/> is, if one is.</summary>
    private SourceSpan? FirstNamed(string name) =>
        _byName.TryGetValue(name, out var layer) ? layer.Span : _blocks.TryGetValue(name, out var block) ? block.Span : null;

    /// <summary>Records a block's name for `inputs` that name it (a name shared with a layer or another block is an error).</summary>
    private Value RegisterBlock(string name, SourceSpan span, OptionReader r, Value output)
    {
        if (FirstNamed(name) is { } f)
        {
            diagnostics.Error(DiagnosticIds.DuplicateLayerName, r.SpanOf("name"),
                $"two layers are named '{name}' (the first at line {f.Line})", "layer and block names must be unique: inputs name them, and layer names name the tensors in the weights file");
            Complete = false;
            return Value.Failed;
        }
        _blocks[name] = (output.Broken ? null : output.Layer, span);
        return output;
    }

    private Value Copies(ScalarNode kindNode, Value input, List<IReadOnlyList<SyntaxNode>?> paths, bool residual, Activation activation, string merge,
        int repeat, string blockName, string namePrefix, OptionReader r)
    {

        var value = input;
        for (int copy = 1; copy <= repeat && !value.Broken; copy++)
        {
            var copyScope = repeat > 1 ? $"{blockName}/{copy}/" : $"{blockName}/";
            var prefix = repeat > 1 ? copyScope : namePrefix;
            var outputs = new List<Value>();
            for (int p = 0; p < paths.Count; p++)
            {
                string pathScope = residual ? (p == 0 ? copyScope : copyScope + "shortcut/") : $"{copyScope}branch_{p + 1}/";
                outputs.Add(paths[p] is { } items ? Sequence(items, value, pathScope, prefix) : value);
            }
            if (outputs.Any(o => o.Broken)) { Complete = false; return Value.Failed; }
            if (residual && !ResidualFits(outputs, value, blockName, kindNode.Span, r)) { Complete = false; return Value.Failed; }
            var mergeKind = LayerRegistry.Find(merge)!;
            value = Synthetic(mergeKind.Create(new OptionReader(null, merge, kindNode.Span, [], diagnostics)), mergeKind, copyScope + merge, kindNode.Span, outputs);
            if (residual && !activation.IsLinear && !value.Broken)
                value = Synthetic(ActivationLayer.Of(activation), LayerRegistry.Find("activation")!, copyScope + activation.Name, kindNode.Span, [value],
                    new Dictionary<string, object> { ["activation"] = activation.Name });
        }
        return value;
    }

    /// <summary>The lists of a residual block (a missing shortcut is the identity: null).</summary>
    private List<IReadOnlyList<SyntaxNode>?>? Paths(OptionReader r, string[] keys)
    {
        var paths = new List<IReadOnlyList<SyntaxNode>?>();
        foreach (var key in keys)
            switch (r.Node(key))
            {
                case null when key == "layers": r.RequireMissing(key); return null;
                case null: paths.Add(null); break;
                case SequenceNode { Items.Count: 0 } empty when key == "layers":
                    diagnostics.Error(DiagnosticIds.MissingKey, empty.Span, $"{r.Owner}: 'layers' is empty", "list the main path's layers");
                    return null;
                case SequenceNode seq: paths.Add(seq.Items.Count == 0 ? null : seq.Items); break;
                case var other:
                    diagnostics.Error(DiagnosticIds.WrongNodeType, other.Span, $"{r.Owner}: '{key}' must be a list of layers, not {other.Describe()}",
                        $"write {key}: [ conv2d: {{ filters: 16, kernel_size: 3, padding: same }} ]");
                    return null;
            }
        return paths;
    }

    /// <summary>The branches of a parallel block: at least two lists (an empty list is the identity).</summary>
    private List<IReadOnlyList<SyntaxNode>?>? Branches(OptionReader r)
    {
        switch (r.Node("branches"))
        {
            case null: r.RequireMissing("branches"); return null;
            case SequenceNode { Items.Count: >= 2 } seq when seq.Items.All(i => i is SequenceNode):
                return seq.Items.Cast<SequenceNode>().Select(b => b.Items.Count == 0 ? null : b.Items).ToList();
            case var other:
                diagnostics.Error(DiagnosticIds.WrongNodeType, other.Span, $"{r.Owner}: 'branches' must be a list of at least two layer lists",
                    "write branches: [ [ conv2d: { filters: 8, kernel_size: 1 } ], [ max_pool2d: { pool_size: 3, strides: 1, padding: same } ] ]");
                return null;
        }
    }

    /// <summary>Both paths of a residual block must give one shape; say which 1x1 convolution would make the shortcut fit.</summary>
    private bool ResidualFits(List<Value> outputs, Value input, string blockName, SourceSpan span, OptionReader r)
    {
        Shape Of(Value v) => v.Layer?.Output ?? _input;
        Shape main = Of(outputs[0]), shortcut = Of(outputs[1]), x = Of(input);
        if (main == shortcut) return true;
        bool identity = outputs[1] == input;
        string hint;
        if (!main.IsFlat && !x.IsFlat && x.Height % main.Height == 0 && x.Width % main.Width == 0 && x.Height / main.Height == x.Width / main.Width)
        {
            int stride = x.Height / main.Height;
            hint = $"{(identity ? "add" : "make it")} shortcut: [ conv2d: {{ filters: {main.Channels}, kernel_size: 1{(stride > 1 ? $", strides: {stride}" : "")} }} ]" +
                   (identity ? ", which projects the input to the same shape" : "");
        }
        else hint = "make both paths end in the same shape";
        diagnostics.Error(DiagnosticIds.MergeShapes, identity ? span : r.SpanOf("shortcut"),
            identity
                ? $"residual block '{blockName}': its layers turn {x} into {main}, but the shortcut is the identity ({x}), so the two cannot be added"
                : $"residual block '{blockName}': its layers give {main} but its shortcut gives {shortcut}; they must have one shape to be added",
            hint);
        return false;
    }
}
