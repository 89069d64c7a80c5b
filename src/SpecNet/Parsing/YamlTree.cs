using System.Globalization;
using System.Text;

namespace SpecNet.Parsing;

/// <summary>
/// A spec's YAML as an editable tree: maps keep their key order; scalars keep their text. Made from the
/// parser's <see cref="SyntaxNode"/>s, changed by dotted paths (a sweep's trial sets a value), and written
/// back in the house style: a map of scalars (or of lists of scalars) on one line in braces, anything
/// deeper in block style. Comments are not kept: a written tree is a generated file.
/// </summary>
public abstract class YamlTree
{
    public static YamlTree From(SyntaxNode node) => node switch
    {
        ScalarNode s => new YamlScalar(s.Value, s.Quoted),
        SequenceNode q => new YamlList(q.Items.Select(From).ToList()),
        MappingNode m => new YamlMap(m.Entries.Select(e => (e.Key.Value, From(e.Value))).ToList()),
        _ => throw new ArgumentException(node.GetType().Name),
    };

    /// <summary>True for a scalar, or a list of scalars: what fits inside a one-line map.</summary>
    internal abstract bool IsSimple { get; }

    public string Write()
    {
        var sb = new StringBuilder();
        if (this is YamlMap map) map.WriteBlock(sb, 0);
        else { WriteFlow(sb); sb.Append('\n'); }
        return sb.ToString();
    }

    internal abstract void WriteFlow(StringBuilder sb);
}

public sealed class YamlScalar(string value, bool quoted = false) : YamlTree
{
    public string Value { get; } = value;
    public bool Quoted { get; } = quoted;

    public static YamlScalar Of(double v) => new(v.ToString("R", CultureInfo.InvariantCulture));
    public static YamlScalar Of(long v) => new(v.ToString(CultureInfo.InvariantCulture));

    internal override bool IsSimple => true;

    internal override void WriteFlow(StringBuilder sb) => sb.Append(NeedsQuotes(Value, Quoted) ? Quote(Value) : Value);

    private static bool NeedsQuotes(string v, bool quoted) =>
        v.Length == 0 ? quoted : quoted || !IsPlainSafe(v);

    private static bool IsPlainSafe(string v) =>
        v.Length > 0 && !char.IsWhiteSpace(v[0]) && !char.IsWhiteSpace(v[^1]) && "-?:,[]{}#&*!|>'\"%@`".IndexOf(v[0]) < 0
        && !v.Contains(": ") && !v.Contains(" #") && !v.Any(c => c is ',' or '[' or ']' or '{' or '}' or '\n' or '\t');

    private static string Quote(string v) => "\"" + v.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n") + "\"";
}

public sealed class YamlList(List<YamlTree> items) : YamlTree
{
    public List<YamlTree> Items { get; } = items;

    internal override bool IsSimple => Items.All(i => i is YamlScalar);

    internal override void WriteFlow(StringBuilder sb)
    {
        sb.Append('[');
        for (int i = 0; i < Items.Count; i++)
        {
            if (i > 0) sb.Append(", ");
            Items[i].WriteFlow(sb);
        }
        sb.Append(']');
    }

    internal void WriteBlock(StringBuilder sb, int indent)
    {
        foreach (var item in Items)
        {
            sb.Append(' ', indent).Append("- ");
            switch (item)
            {
                case YamlMap { Entries.Count: 1 } one when one.Entries[0].Value is YamlMap inner && !inner.AllSimple:
                    // `- residual:` with its options below, indented under the key
                    sb.Append(one.Entries[0].Key).Append(":\n");
                    inner.WriteBlock(sb, indent + 6);
                    break;
                case YamlMap { IsCompact: true } map:
                    map.WriteInline(sb);
                    sb.Append('\n');
                    break;
                case YamlMap map:
                    sb.Append('\n');
                    map.WriteBlock(sb, indent + 2);
                    break;
                default:
                    item.WriteFlow(sb);
                    sb.Append('\n');
                    break;
            }
        }
    }
}

public sealed class YamlMap(List<(string Key, YamlTree Value)> entries) : YamlTree
{
    public List<(string Key, YamlTree Value)> Entries { get; } = entries;

    public YamlTree? this[string key]
    {
        get => Entries.FirstOrDefault(e => e.Key == key).Value;
        set
        {
            int i = Entries.FindIndex(e => e.Key == key);
            if (value is null) { if (i >= 0) Entries.RemoveAt(i); }
            else if (i >= 0) Entries[i] = (key, value);
            else Entries.Add((key, value));
        }
    }

    internal bool AllSimple => Entries.All(e => e.Value.IsSimple);

    /// <summary>Fits on one line: scalars only, or one key over such a map (`adam: { learning_rate: 0.001 }`).</summary>
    internal bool IsCompact => AllSimple || Entries.Count == 1 && Entries[0].Value is YamlMap { AllSimple: true };
    internal override bool IsSimple => false;

    internal override void WriteFlow(StringBuilder sb)
    {
        sb.Append("{ ");
        for (int i = 0; i < Entries.Count; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(Entries[i].Key).Append(": ");
            Entries[i].Value.WriteFlow(sb);
        }
        sb.Append(Entries.Count == 0 ? "}" : " }");
    }

    /// <summary>`key: { a: 1 }` or `key: value` on one line (inside a list item).</summary>
    internal void WriteInline(StringBuilder sb)
    {
        if (Entries.Count == 1)
        {
            var (key, value) = Entries[0];
            sb.Append(key);
            if (value is YamlScalar { Value: "", Quoted: false }) return;  // `- flatten`
            sb.Append(": ");
            value.WriteFlow(sb);
            return;
        }
        WriteFlow(sb);
    }

    internal void WriteBlock(StringBuilder sb, int indent)
    {
        foreach (var (key, value) in Entries)
        {
            sb.Append(' ', indent).Append(key).Append(':');
            switch (value)
            {
                case YamlList list when !list.IsSimple:
                    sb.Append('\n');
                    list.WriteBlock(sb, indent + 2);
                    break;
                case YamlMap map when !map.IsCompact || map.Entries.Count > 4 && indent == 0:
                    sb.Append('\n');
                    map.WriteBlock(sb, indent + 2);
                    break;
                default:
                    sb.Append(' ');
                    value.WriteFlow(sb);
                    sb.Append('\n');
                    break;
            }
        }
    }
}
