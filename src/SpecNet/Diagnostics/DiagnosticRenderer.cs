using System.Text;

namespace SpecNet.Diagnostics;

/// <summary>
/// Renders diagnostics the way compilers do:
/// <code>
/// path(line,col): error SN1005: unknown layer kind 'maxpool2d'
///    4 |   - maxpool2d: { pool_size: 2 }
///      |     ^~~~~~~~~
///      = hint: did you mean 'max_pool2d'?
/// </code>
/// </summary>
public static class DiagnosticRenderer
{
    public static string Render(Diagnostic d, string path, string? sourceText)
    {
        var sb = new StringBuilder();
        var severity = d.IsError ? "error" : "warning";
        if (d.Span.IsNone) sb.Append($"{path}: {severity} {d.Id}: {d.Message}\n");
        else sb.Append($"{path}({d.Span.Line},{d.Span.Column}): {severity} {d.Id}: {d.Message}\n");

        var line = d.Span.IsNone || sourceText is null ? null : LineAt(sourceText, d.Span.Line);
        var gutter = d.Span.Line.ToString().Length + 1;
        if (line is not null)
        {
            var expanded = line.Replace('\t', ' ');
            var start = Math.Clamp(d.Span.Column - 1, 0, expanded.Length);
            var width = Math.Min(d.Span.WidthOnFirstLine(expanded.Length), Math.Max(1, expanded.Length - start));
            sb.Append($"{d.Span.Line.ToString().PadLeft(gutter)} | {expanded}\n");
            sb.Append($"{new string(' ', gutter)} | {new string(' ', start)}^{new string('~', width - 1)}\n");
        }
        if (d.Hint is not null)
            sb.Append($"{new string(' ', line is null ? 0 : gutter)} = hint: {d.Hint}\n");
        return sb.ToString();
    }

    public static string RenderAll(IEnumerable<Diagnostic> diagnostics, string path, string? sourceText)
    {
        var list = diagnostics.ToList();
        var sb = new StringBuilder();
        foreach (var d in list) sb.Append(Render(d, path, sourceText));
        int errors = list.Count(d => d.IsError), warnings = list.Count - errors;
        if (list.Count > 0) sb.Append($"{Plural(errors, "error")}, {Plural(warnings, "warning")}\n");
        return sb.ToString();
    }

    private static string Plural(int n, string word) => n == 1 ? $"1 {word}" : $"{n} {word}s";

    private static string? LineAt(string text, int lineNumber)
    {
        var lines = text.Split('\n');
        return lineNumber >= 1 && lineNumber <= lines.Length ? lines[lineNumber - 1].TrimEnd('\r') : null;
    }
}
