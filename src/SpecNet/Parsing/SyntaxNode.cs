using SpecNet.Diagnostics;

namespace SpecNet.Parsing;

/// <summary>The spec's YAML as a tree that remembers where every node came from. No semantics here.</summary>
public abstract record SyntaxNode(SourceSpan Span)
{
    /// <summary>How a user would name this form in an error message.</summary>
    public abstract string Describe();
}

public sealed record ScalarNode(string Value, bool Quoted, SourceSpan Span) : SyntaxNode(Span)
{
    /// <summary>An empty or '~'/'null' plain scalar: YAML's null, as in <c>flatten:</c>.</summary>
    public bool IsNull => !Quoted && (Value.Length == 0 || Value is "~" or "null" or "Null" or "NULL");

    public override string Describe() => IsNull ? "nothing" : $"'{Value}'";
}

public sealed record SequenceNode(IReadOnlyList<SyntaxNode> Items, SourceSpan Span) : SyntaxNode(Span)
{
    public override string Describe() => "a list";
}

public sealed record MappingEntry(ScalarNode Key, SyntaxNode Value);

public sealed record MappingNode(IReadOnlyList<MappingEntry> Entries, SourceSpan Span) : SyntaxNode(Span)
{
    public override string Describe() => "a map";

    public MappingEntry? Find(string key) => Entries.FirstOrDefault(e => e.Key.Value == key);
}
