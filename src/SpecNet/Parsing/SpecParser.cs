using SpecNet.Diagnostics;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace SpecNet.Parsing;

/// <summary>
/// Reads YAML text into a <see cref="SyntaxNode"/> tree with spans, from YamlDotNet's event stream.
/// Refuses what a spec never needs and an attacker could abuse: anchors and aliases (alias bombs),
/// nesting deeper than <see cref="MaxDepth"/>, several documents. Duplicate keys are reported, the first kept.
/// </summary>
public static class SpecParser
{
    public const int MaxDepth = 32;

    public static SyntaxNode? Parse(string text, DiagnosticBag diagnostics)
    {
        var parser = new TrackingParser(new Parser(new StringReader(text)));
        try
        {
            parser.Consume<StreamStart>();
            if (parser.Accept<StreamEnd>(out _))
            {
                diagnostics.Error(DiagnosticIds.WrongNodeType, new SourceSpan(1, 1, 1, 1), "the spec is empty",
                    "start from `specnet init`, or see specs/mnist-cnn.yaml for a complete example");
                return null;
            }
            parser.Consume<DocumentStart>();
            var root = ReadNode(parser, diagnostics, 0);
            parser.Consume<DocumentEnd>();
            if (parser.Accept<DocumentStart>(out var second))
                diagnostics.Error(DiagnosticIds.UnsupportedYaml, SpanOf(second), "a spec holds one YAML document; found a second one",
                    "remove the '---' line and what follows it, or put that model in a file of its own");
            return root;
        }
        catch (YamlException e)
        {
            // YamlDotNet's Start is where the enclosing construct began; End is where the problem was found.
            var at = e.End.Line > 0 ? e.End : e.Start;
            var span = new SourceSpan((int)at.Line, (int)at.Column, (int)at.Line, (int)at.Column + 1);
            if (e.Message.Contains("tab", StringComparison.OrdinalIgnoreCase) && FirstTabIndent(text) is { } tab) span = tab;
            diagnostics.Error(DiagnosticIds.YamlSyntax, span, $"invalid YAML: {CleanMessage(e.Message)}",
                "check indentation (spaces, not tabs), and that every '{' '[' and quote is closed");
            return null;
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException or OverflowException)
        {
            // YamlDotNet fails this way on some malformed input (unclosed flow collections, invalid tags...); say what we know.
            var (span, message) = parser.OpenFlow is { } open
                ? (open.Span, $"invalid YAML: this '{open.Bracket}' is never closed")
                : (parser.LastSpan, $"invalid YAML after this point ({e.Message.Split(" (Parameter")[0].TrimEnd('.')})");
            diagnostics.Error(DiagnosticIds.YamlSyntax, span, message,
                "check indentation (spaces, not tabs), and that every '{' '[' and quote is closed");
            return null;
        }
        catch (TooDeepException e)
        {
            diagnostics.Error(DiagnosticIds.UnsupportedYaml, e.Span, $"the spec nests deeper than {MaxDepth} levels",
                "a spec needs only a few levels: top-level keys, the layer list, each layer's options");
            return null;
        }
    }

    /// <summary>Remembers the last event and the innermost open flow collection, to locate parser failures.</summary>
    private sealed class TrackingParser(IParser inner) : IParser
    {
        // Every open collection; Bracket is '{' or '[' for flow style, '\0' for block style.
        private readonly Stack<(SourceSpan Span, char Bracket)> _open = new();

        public ParsingEvent? Current => inner.Current;
        public SourceSpan LastSpan { get; private set; } = new(1, 1, 1, 1);
        public (SourceSpan Span, char Bracket)? OpenFlow =>
            _open.FirstOrDefault(o => o.Bracket != '\0') is { Bracket: not '\0' } flow ? flow : null;

        public bool MoveNext()
        {
            var moved = inner.MoveNext();
            switch (inner.Current)
            {
                case MappingStart m: _open.Push((SpanOf(m), m.Style == MappingStyle.Flow ? '{' : '\0')); break;
                case SequenceStart q: _open.Push((SpanOf(q), q.Style == SequenceStyle.Flow ? '[' : '\0')); break;
                case MappingEnd or SequenceEnd: _open.TryPop(out _); break;
            }
            if (inner.Current is { } e) LastSpan = SpanOf(e);
            return moved;
        }
    }

    private sealed class TooDeepException(SourceSpan span) : Exception
    {
        public SourceSpan Span { get; } = span;
    }

    private static SyntaxNode ReadNode(IParser parser, DiagnosticBag diagnostics, int depth)
    {
        var evt = parser.Current ?? throw new YamlException("unexpected end of the file");
        if (depth > MaxDepth) throw new TooDeepException(SpanOf(evt));
        if (evt is NodeEvent { Anchor.IsEmpty: false } anchored)
            diagnostics.Error(DiagnosticIds.UnsupportedYaml, SpanOf(anchored), "anchors ('&name') are not supported in a spec",
                "write the value out in full where it is used");
        if (evt is NodeEvent { Tag.IsEmpty: false, Tag.IsNonSpecific: false } tagged)
            diagnostics.Error(DiagnosticIds.UnsupportedYaml, SpanOf(tagged), $"YAML tags ('{tagged.Tag.Value}') are not supported in a spec",
                "remove the tag");

        switch (evt)
        {
            case Scalar scalar:
                parser.MoveNext();
                return new ScalarNode(scalar.Value, scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted, SpanOf(scalar));
            case AnchorAlias alias:
                parser.MoveNext();
                diagnostics.Error(DiagnosticIds.UnsupportedYaml, SpanOf(alias), $"aliases ('*{alias.Value}') are not supported in a spec",
                    "write the value out in full where it is used");
                return new ScalarNode("", false, SpanOf(alias));
            case SequenceStart start:
            {
                parser.MoveNext();
                var items = new List<SyntaxNode>();
                while (!parser.TryConsume<SequenceEnd>(out _))
                    items.Add(ReadNode(parser, diagnostics, depth + 1));
                return new SequenceNode(items, SpanOf(start));
            }
            case MappingStart start:
            {
                parser.MoveNext();
                var entries = new List<MappingEntry>();
                var seen = new HashSet<string>();
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    var keyNode = ReadNode(parser, diagnostics, depth + 1);
                    var value = ReadNode(parser, diagnostics, depth + 1);
                    if (keyNode is not ScalarNode key)
                    {
                        diagnostics.Error(DiagnosticIds.WrongNodeType, keyNode.Span, $"a key must be a plain word, not {keyNode.Describe()}");
                        continue;
                    }
                    if (!seen.Add(key.Value))
                    {
                        diagnostics.Error(DiagnosticIds.DuplicateKey, key.Span, $"'{key.Value}' is given twice in this map; the first one is used",
                            "remove one of them");
                        continue;
                    }
                    entries.Add(new MappingEntry(key, value));
                }
                return new MappingNode(entries, SpanOf(start));
            }
            default:
                throw new YamlException(evt.Start, evt.End, $"unexpected {evt.GetType().Name}");
        }
    }

    /// <summary>YamlDotNet reports a tab in indentation at the enclosing map's start; point at the tab itself.</summary>
    private static SourceSpan? FirstTabIndent(string text)
    {
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var indent = lines[i].Length - lines[i].TrimStart(' ', '\t').Length;
            var tab = lines[i].IndexOf('\t', 0, indent);
            if (tab >= 0) return new SourceSpan(i + 1, tab + 1, i + 1, tab + 2);
        }
        return null;
    }

    private static SourceSpan SpanOf(ParsingEvent e) =>
        new((int)e.Start.Line, (int)e.Start.Column, (int)e.End.Line, (int)e.End.Column);

    /// <summary>YamlDotNet prefixes messages with "(Line: 3, Col: 5, Idx: 40) - (...): "; the span already says that.</summary>
    private static string CleanMessage(string message)
    {
        var i = message.LastIndexOf("): ", StringComparison.Ordinal);
        var text = i >= 0 && message.StartsWith("(Line", StringComparison.Ordinal) ? message[(i + 3)..] : message;
        return text.TrimEnd('.');
    }
}
