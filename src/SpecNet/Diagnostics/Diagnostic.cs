namespace SpecNet.Diagnostics;

public enum Severity { Warning, Error }

/// <summary>One problem found in a spec: stable id, where it is, what is wrong, and how to fix it.</summary>
public sealed record Diagnostic(string Id, Severity Severity, SourceSpan Span, string Message, string? Hint = null)
{
    public bool IsError => Severity == Severity.Error;
}

/// <summary>Collects diagnostics in source order; stages add to it instead of throwing.</summary>
public sealed class DiagnosticBag
{
    private readonly List<Diagnostic> _items = [];

    public IReadOnlyList<Diagnostic> Items => _items;
    public bool HasErrors => ErrorCount > 0;
    public int ErrorCount { get; private set; }

    public void Error(string id, SourceSpan span, string message, string? hint = null)
    {
        _items.Add(new Diagnostic(id, Severity.Error, span, message, hint));
        ErrorCount++;
    }

    public void Warning(string id, SourceSpan span, string message, string? hint = null) =>
        _items.Add(new Diagnostic(id, Severity.Warning, span, message, hint));

    /// <summary>Diagnostics sorted by position (stable for equal positions).</summary>
    public IReadOnlyList<Diagnostic> Sorted() =>
        _items.Select((d, i) => (d, i)).OrderBy(p => p.d.Span.Line).ThenBy(p => p.d.Span.Column).ThenBy(p => p.i)
              .Select(p => p.d).ToList();
}
