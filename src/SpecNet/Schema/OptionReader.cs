using System.Globalization;
using SpecNet.Diagnostics;
using SpecNet.Parsing;

namespace SpecNet.Schema;

/// <summary>
/// Reads the options of one YAML map against a declared list of <see cref="OptionInfo"/>: types, ranges,
/// choices and defaults all come from the declarations. Every value problem becomes a located
/// diagnostic and a fallback value is returned, so checking goes on and all problems of a spec are
/// reported in one run. <see cref="Finish"/> reports the keys nobody asked for. The typed values read
/// (defaults included) are kept in <see cref="Values"/>: a layer's identity is made of them.
/// </summary>
public sealed class OptionReader
{
    private readonly MappingNode? _map;
    private readonly DiagnosticBag _diagnostics;
    private readonly IReadOnlyList<OptionInfo> _known;
    private readonly int _errorsAtStart;
    private readonly Dictionary<string, object> _values = [];

    /// <param name="map">The options, or null for a bare entry such as <c>- flatten</c>.</param>
    /// <param name="owner">How to name the owner in messages: "conv2d layer 'conv2d_1'", "training".</param>
    /// <param name="ownerSpan">Where missing keys are reported.</param>
    public OptionReader(MappingNode? map, string owner, SourceSpan ownerSpan, IReadOnlyList<OptionInfo> known, DiagnosticBag diagnostics)
    {
        _map = map;
        Owner = owner;
        OwnerSpan = ownerSpan;
        _known = known;
        _diagnostics = diagnostics;
        _errorsAtStart = diagnostics.ErrorCount;
    }

    public string Owner { get; }
    /// <summary>What this map's keys are called in messages: "option", or "section" at the top of a spec.</summary>
    public string KeyNoun { get; init; } = "option";
    /// <summary>The hint for a key this map does not take but another part of a spec does (its key and value), or null.</summary>
    public Func<string, SyntaxNode, string?>? Elsewhere { get; init; }
    /// <summary>The same for a key whose value shows it belongs elsewhere, whatever it resembles here (train: { folder: ... } at the top).</summary>
    public Func<string, SyntaxNode, string?>? SurelyElsewhere { get; init; }
    public SourceSpan OwnerSpan { get; }
    public DiagnosticBag Diagnostics => _diagnostics;

    /// <summary>True when reading these options added errors; the owner's shape cannot be trusted then.</summary>
    public bool HadErrors => _diagnostics.ErrorCount > _errorsAtStart;

    /// <summary>The typed value of every option read so far, by option name.</summary>
    public IReadOnlyDictionary<string, object> Values => _values;

    public bool Has(string key) => Node(key) is not null;

    /// <summary>Where a key's value is, for later diagnostics (shape errors point at the option that causes them).</summary>
    public SourceSpan SpanOf(string key) => Node(key)?.Span ?? OwnerSpan;

    public IReadOnlyDictionary<string, SourceSpan> Spans() =>
        _map?.Entries.ToDictionary(e => e.Key.Value, e => e.Value.Span) ?? new Dictionary<string, SourceSpan>();

    public SyntaxNode? Node(string key)
    {
        Declared(key);
        var value = _map?.Find(key)?.Value;
        return value is ScalarNode { IsNull: true } ? null : value;
    }

    /// <summary>A whole number in the declared range; the default when absent.</summary>
    public int Int(string key)
    {
        var info = Declared(key);
        var node = Node(key);
        int value = node is null ? Missing(info, 0) : ParseInt(node, info);
        return Keep(key, value);
    }

    /// <summary>An int or a two-element list [h, w]; <paramref name="fallback"/> when absent (pooling strides default to pool_size).</summary>
    public (int H, int W) Pair(string key, (int, int)? fallback = null)
    {
        var info = Declared(key);
        var node = Node(key);
        if (node is null) return Keep(key, fallback ?? Missing(info, (1, 1)));
        if (node is SequenceNode seq)
        {
            if (seq.Items.Count != 2)
            {
                _diagnostics.Error(DiagnosticIds.WrongNodeType, seq.Span,
                    $"{Owner}: '{key}' takes one number or a pair [height, width]; got a list of {seq.Items.Count}",
                    $"write {key}: 3 or {key}: [3, 3]");
                return Keep(key, (1, 1));
            }
            return Keep(key, (ParseInt(seq.Items[0], info), ParseInt(seq.Items[1], info)));
        }
        var n = ParseInt(node, info);
        return Keep(key, (n, n));
    }

    /// <summary>A number in the declared range; the default when absent.</summary>
    public float Number(string key)
    {
        var info = Declared(key);
        var node = Node(key);
        if (node is null) return Keep(key, (float)Missing(info, Math.Max(0, info.Min)));
        if (node is not ScalarNode s || !double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            || double.IsNaN(value) || double.IsInfinity(value))
        {
            _diagnostics.Error(DiagnosticIds.NotANumber, node.Span, $"{Owner}: '{key}' must be a number, not {node.Describe()}", DefaultHint(info));
            return Keep(key, (float)Fallback(info));
        }
        if (!info.InRange(value))
        {
            _diagnostics.Error(DiagnosticIds.OutOfRange, node.Span, $"{Owner}: '{key}' must be in {info.RangeText}, not {s.Value}", DefaultHint(info));
            return Keep(key, (float)Math.Clamp(value, info.Min, info.Max));
        }
        return Keep(key, (float)value);
    }

    public bool Bool(string key)
    {
        var info = Declared(key);
        var node = Node(key);
        if (node is null) return Keep(key, Missing(info, false));
        if (node is ScalarNode { Quoted: false } s && s.Value.ToLowerInvariant() is "true" or "false")
            return Keep(key, s.Value.Equals("true", StringComparison.OrdinalIgnoreCase));
        _diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"{Owner}: '{key}' must be true or false, not {node.Describe()}");
        return Keep(key, info.Default as bool? ?? false);
    }

    /// <summary>One of the declared choices (padding, activation, loss...). Unknown names get "did you mean".</summary>
    public string Choice(string key)
    {
        var info = Declared(key);
        var node = Node(key);
        if (node is null) return Keep(key, Missing(info, info.Choices[0]));
        var noun = info.Noun!;
        var plural = noun.EndsWith('s') ? noun + "es" : noun + "s";
        return Keep(key, ChoiceOf(node, info.Choices, $"{noun} '{{0}}'", plural) ?? info.Default as string ?? info.Choices[0]);
    }

    /// <summary>A choice read as an enum value (padding: valid -> Padding.Valid); the enum is what identity records.</summary>
    public T Choice<T>(string key) where T : struct, Enum => Keep(key, Enum.Parse<T>(Choice(key).Replace("_", ""), ignoreCase: true));

    /// <summary>Checks a scalar against known names, reporting SN1008; null when it is not one of them.</summary>
    public string? ChoiceOf(SyntaxNode node, IReadOnlyList<string> choices, string messageFormat, string plural)
    {
        if (node is not ScalarNode s || s.IsNull)
        {
            _diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"{Owner}: expected a name, not {node.Describe()}",
                $"known {plural}: {string.Join(", ", choices)}");
            return null;
        }
        if (choices.Contains(s.Value)) return s.Value;
        _diagnostics.Error(DiagnosticIds.UnknownName, s.Span, $"{Owner}: unknown {string.Format(CultureInfo.InvariantCulture, messageFormat, s.Value)}",
            Names.Hint(s.Value, choices, plural));
        return null;
    }

    /// <summary>A single scalar as text (names, paths); null when absent.</summary>
    public string? String(string key)
    {
        Declared(key);
        var node = Node(key);
        if (node is null) return null;
        if (node is ScalarNode s) return s.Value;
        _diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"{Owner}: '{key}' must be a single value, not {node.Describe()}");
        return null;
    }

    /// <summary>Reports every key that was not declared, with "did you mean" for near misses.</summary>
    public void Finish()
    {
        if (_map is null) return;
        foreach (var entry in _map.Entries)
            if (_known.All(o => o.Name != entry.Key.Value))
                _diagnostics.Error(DiagnosticIds.UnknownKey, entry.Key.Span, $"{Owner} has no {KeyNoun} '{entry.Key.Value}'",
                    entry.Key.Value is "input_shape" or "input_dim" ? "the shape of one example goes at the top of the spec: input: { shape: [28, 28, 1] }"
                    : _known.Count == 0 ? "this entry takes no options; write it bare"
                    : SurelyElsewhere?.Invoke(entry.Key.Value, entry.Value) is { } surely ? surely
                    : Names.Suggest(entry.Key.Value, _known.Select(o => o.Name)) is null && Elsewhere?.Invoke(entry.Key.Value, entry.Value) is { } there ? there
                    : Names.Hint(entry.Key.Value, _known.Select(o => o.Name), KeyNoun + "s"));
    }

    /// <summary>A whole number in <paramref name="key"/>'s declared range, read from a node inside a structured value.</summary>
    public int IntOf(SyntaxNode node, string key) => ParseInt(node, Declared(key));

    /// <summary>Records the typed value of a structured option its owner read itself (for the layer's identity).</summary>
    public T Set<T>(string key, T value) where T : notnull => Keep(key, value);

    /// <summary>Reports a missing required key (once per reader and key).</summary>
    public void RequireMissing(string key) => Missing(Declared(key), 0);

    private T Keep<T>(string key, T value) where T : notnull
    {
        _values[key] = value;
        return value;
    }

    private OptionInfo Declared(string key) =>
        _known.FirstOrDefault(o => o.Name == key)
        ?? throw new InvalidOperationException($"option '{key}' is read but not declared for {Owner}");

    /// <summary>The default of an absent option, or (reporting it) the fallback when the option is required.</summary>
    private T Missing<T>(OptionInfo info, T fallback)
    {
        if (!info.Required && info.Default is not null) return (T)Convert(info.Default, typeof(T));
        if (info.Required)
            _diagnostics.Error(DiagnosticIds.MissingKey, OwnerSpan, $"{Owner} needs '{info.Name}' ({info.Doc})", $"add {info.Name}: <{info.TypeText}>");
        return fallback;
    }

    private static object Convert(object value, Type type) =>
        type == typeof(double) && value is IConvertible c ? c.ToDouble(CultureInfo.InvariantCulture) : value;

    private static double Fallback(OptionInfo info) => info.Default as double? ?? Math.Max(0, info.Min);

    private static string? DefaultHint(OptionInfo info) => info.DefaultText is { } d && info.Default is not null ? $"the default is {d}" : null;

    private int ParseInt(SyntaxNode node, OptionInfo info)
    {
        int fallback = (int)Math.Max(info.Min, 1);
        if (node is not ScalarNode s || !double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            || double.IsNaN(value) || double.IsInfinity(value))
        {
            _diagnostics.Error(DiagnosticIds.NotANumber, node.Span, $"{Owner}: '{info.Name}' must be a whole number, not {node.Describe()}");
            return fallback;
        }
        if (value != Math.Floor(value))
        {
            _diagnostics.Error(DiagnosticIds.NotANumber, node.Span, $"{Owner}: '{info.Name}' must be a whole number, not {s.Value}",
                $"use {Math.Round(value)}");
            return fallback;
        }
        if (value < info.Min || value > info.Max)
        {
            var range = info.Min == 1 && info.Max >= 1 << 15 ? "a positive whole number"
                : info.Min == 0 && info.Max == int.MaxValue ? "zero or more" : $"in [{info.Min}, {info.Max}]";
            _diagnostics.Error(DiagnosticIds.OutOfRange, node.Span, $"{Owner}: '{info.Name}' must be {range}, not {s.Value}",
                info.Max < int.MaxValue && value > info.Max ? $"the largest value accepted is {info.Max}" : null);
            return fallback;
        }
        return (int)value;
    }
}
