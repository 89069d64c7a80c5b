namespace SpecNet.Diagnostics;

/// <summary>A problem that is not in the spec's text: a missing file, unreadable data, a bad weights file.</summary>
public sealed class SpecNetException(string message, string? hint = null) : Exception(message)
{
    public string? Hint { get; } = hint;
}
