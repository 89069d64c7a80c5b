namespace SpecNet.Diagnostics;

/// <summary>A range in a spec file, 1-based line and column, end exclusive.</summary>
public readonly record struct SourceSpan(int Line, int Column, int EndLine, int EndColumn)
{
    public static readonly SourceSpan None = new(0, 0, 0, 0);

    public bool IsNone => Line == 0;

    /// <summary>Length on the start line, at least 1 so a caret is always drawn.</summary>
    public int WidthOnFirstLine(int lineLength) =>
        EndLine == Line ? Math.Max(1, EndColumn - Column) : Math.Max(1, lineLength - Column + 1);
}
