using System.Globalization;
using SpecNet.Diagnostics;
using SpecNet.Parsing;

namespace SpecNet.Schema;

/// <summary>One option a map accepts: its YAML key, its type as users read it, its default, and what it does.</summary>
public sealed record OptionInfo(string Name, string Type, string? Default, string Doc)
{
    public bool Required => Default is null;
}

/// <summary>
/// Reads the options of one YAML map against a declared list of <see cref="OptionInfo"/>. Every value
/// problem becomes a located diagnostic and a fallback value is returned, so checking goes on and all
/// problems of a spec are reported in one run. <see cref="Finish"/> reports the keys nobody asked for.
/// </summary>
public sealed class OptionReader
{
    private readonly MappingNode? _map;
    private readonly DiagnosticBag _diagnostics;
    private readonly IReadOnlyList<OptionInfo> _known;
    private readonly int _errorsAtStart;

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
        _errorsAtStart = diagnostics.Items.Count(d => d.IsError);
    }

    public string Owner { get; }
    /// <summary>What this map's keys are called in messages: "option", or "section" at the top of a spec.</summary>
    public string KeyNoun { get; init; } = "option";
    public SourceSpan OwnerSpan { get; }
    public DiagnosticBag Diagnostics => _diagnostics;

    /// <summary>True when reading these options added errors; the owner's shape cannot be trusted then.</summary>
    public bool HadErrors => _diagnostics.Items.Count(d => d.IsError) > _errorsAtStart;

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

    /// <summary>A whole number in [min, max]; the default when absent (required when the declared default is null).</summary>
    public int Int(string key, int min = int.MinValue, int max = int.MaxValue)
    {
        var info = Declared(key);
        var node = Node(key);
        if (node is null) return Missing(info, () => int.Parse(info.Default!, CultureInfo.InvariantCulture), min);
        return ParseInt(node, key, min, max);
    }

    public int PositiveInt(string key, int max = 1 << 20) => Int(key, 1, max);

    /// <summary>An int or a two-element list [h, w], as Keras takes kernel_size, strides and pool_size.</summary>
    public (int H, int W) PositivePair(string key, (int, int)? fallback = null, int max = 1 << 15)
    {
        var info = Declared(key);
        var node = Node(key);
        if (node is null)
        {
            if (fallback is { } f) return f;
            if (info.Default is { } d) { var v = int.Parse(d, CultureInfo.InvariantCulture); return (v, v); }
            Missing(info, () => 0, 1);
            return (1, 1);
        }
        if (node is SequenceNode seq)
        {
            if (seq.Items.Count != 2)
            {
                _diagnostics.Error(DiagnosticIds.WrongNodeType, seq.Span,
                    $"{Owner}: '{key}' takes one number or a pair [height, width]; got a list of {seq.Items.Count}",
                    $"write {key}: 3 or {key}: [3, 3]");
                return (1, 1);
            }
            return (ParseInt(seq.Items[0], key, 1, max), ParseInt(seq.Items[1], key, 1, max));
        }
        var n = ParseInt(node, key, 1, max);
        return (n, n);
    }

    public float Float(string key, double min, double max, bool maxInclusive = true, bool minInclusive = true)
    {
        var info = Declared(key);
        var node = Node(key);
        if (node is null) return Missing(info, () => float.Parse(info.Default!, CultureInfo.InvariantCulture), (float)min);
        if (node is not ScalarNode s || !double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            || double.IsNaN(value) || double.IsInfinity(value))
        {
            _diagnostics.Error(DiagnosticIds.NotANumber, node.Span, $"{Owner}: '{key}' must be a number, not {node.Describe()}",
                info.Default is null ? null : $"the default is {info.Default}");
            return (float)min;
        }
        bool low = minInclusive ? value < min : value <= min;
        bool high = maxInclusive ? value > max : value >= max;
        if (low || high)
        {
            var range = $"{(minInclusive ? "[" : "(")}{Fmt(min)}, {Fmt(max)}{(maxInclusive ? "]" : ")")}";
            _diagnostics.Error(DiagnosticIds.OutOfRange, node.Span, $"{Owner}: '{key}' must be in {range}, not {s.Value}",
                info.Default is null ? null : $"the default is {info.Default}");
            return (float)Math.Clamp(value, min, max);
        }
        return (float)value;
    }

    public bool Bool(string key)
    {
        var info = Declared(key);
        var node = Node(key);
        if (node is null) return Missing(info, () => bool.Parse(info.Default!), false);
        if (node is ScalarNode { Quoted: false } s && s.Value.ToLowerInvariant() is "true" or "false")
            return s.Value.Equals("true", StringComparison.OrdinalIgnoreCase);
        _diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"{Owner}: '{key}' must be true or false, not {node.Describe()}");
        return bool.Parse(info.Default ?? "false");
    }

    /// <summary>One of a fixed set of names (padding, activation, loss...). Unknown names get "did you mean".</summary>
    public string Choice(string key, IReadOnlyList<string> choices, string what)
    {
        var info = Declared(key);
        var node = Node(key);
        if (node is null) return Missing(info, () => info.Default!, choices[0]);
        return ChoiceOf(node, choices, $"{what} '{{0}}'", what + "s") ?? info.Default ?? choices[0];
    }

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

    public string? String(string key)
    {
        var info = Declared(key);
        var node = Node(key);
        if (node is null) return info.Default is null || info.Default.Length == 0 ? null : info.Default;
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
                    : Names.Hint(entry.Key.Value, _known.Select(o => o.Name), KeyNoun + "s"));
    }

    private OptionInfo Declared(string key) =>
        _known.FirstOrDefault(o => o.Name == key)
        ?? throw new InvalidOperationException($"option '{key}' is read but not declared for {Owner}");

    private T Missing<T>(OptionInfo info, Func<T> fromDefault, T fallback)
    {
        if (!info.Required) return fromDefault();
        _diagnostics.Error(DiagnosticIds.MissingKey, OwnerSpan, $"{Owner} needs '{info.Name}' ({info.Doc})",
            $"add {info.Name}: <{info.Type}>");
        return fallback;
    }

    private int ParseInt(SyntaxNode node, string key, int min, int max)
    {
        if (node is not ScalarNode s || !double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            || double.IsNaN(value) || double.IsInfinity(value))
        {
            _diagnostics.Error(DiagnosticIds.NotANumber, node.Span, $"{Owner}: '{key}' must be a whole number, not {node.Describe()}");
            return Math.Max(min, 1);
        }
        if (value != Math.Floor(value))
        {
            _diagnostics.Error(DiagnosticIds.NotANumber, node.Span, $"{Owner}: '{key}' must be a whole number, not {s.Value}",
                $"use {Math.Round(value)}");
            return Math.Max(min, 1);
        }
        if (value < min || value > max)
        {
            var range = min == 1 && max >= 1 << 15 ? "a positive whole number" : min == 0 && max == int.MaxValue ? "zero or more" : $"in [{min}, {max}]";
            _diagnostics.Error(DiagnosticIds.OutOfRange, node.Span, $"{Owner}: '{key}' must be {range}, not {s.Value}",
                max < int.MaxValue && value > max ? $"the largest value accepted is {max}" : null);
            return Math.Max(min, 1);
        }
        return (int)value;
    }

    private static string Fmt(double v) => v.ToString("0.#########", CultureInfo.InvariantCulture);
}
