using SpecNet.Diagnostics;

namespace SpecNet.Formats;

/// <summary>Folders SpecNet writes into (reports, sweeps, imports): made on demand, a failure a located error.</summary>
public static class OutputFolder
{
    /// <summary>Makes <paramref name="path"/> and its parents, or fails with the reason.</summary>
    public static void Create(string path, string what)
    {
        Check(path, what);
        try { Directory.CreateDirectory(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SpecNetException($"{path}: the {what} folder cannot be made: {e.Message}", "check the path and the permissions of the folder above it");
        }
    }

    /// <summary>Fails now if <paramref name="path"/>, or a folder on the way to it, is a file: a long job checks before it starts.</summary>
    public static void Check(string path, string what)
    {
        var full = Path.GetFullPath(path);
        for (var p = full; p is not null; p = Path.GetDirectoryName(p))
        {
            if (Directory.Exists(p)) return;
            if (File.Exists(p))
                throw new SpecNetException(p == full ? $"{path}: is a file, not a folder for the {what}" : $"{path}: the {what} folder cannot be made: {p} is a file",
                    "give a folder's path (it is made if it does not exist)");
        }
    }
}
