using SpecNet.Diagnostics;
using SpecNet.Checking;

namespace SpecNet.Formats;

/// <summary>
/// Writes a file so that readers see the old version or the complete new one, never a torn mix:
/// a temporary file beside the target, flushed to disk, then renamed over it. A failure (full disk,
/// read-only folder) leaves the old file untouched and removes the temporary one.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        var temp = TempPath(full);
        try
        {
            Directory.CreateDirectory(folder);
            RemoveAbandoned(folder, Path.GetFileName(full));
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new SpecNetException($"{path}: cannot be written: {e.Message}", "check free space and permissions; the previous file, if any, is unchanged");
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>
    /// Fails now, with the reason, if <paramref name="path"/> could not be written later: it names a folder, or its folder
    /// cannot be made or written to. A long job checks its outputs before it starts, not after hours of work.
    /// </summary>
    public static void CheckWritable(string path, string what, string exampleName)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new SpecNetException($"{path}: is a folder, not a file name for the {what}", $"name a file in it, such as {Path.Combine(path, exampleName)}");
        var folder = Path.GetDirectoryName(full)!;
        OutputFolder.Check(folder, what);             // a file on the way: named, rather than .NET's "already exists"
        var probe = TempPath(full);
        try
        {
            Directory.CreateDirectory(folder);
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(probe);
            throw new SpecNetException($"{path}: the {what} cannot be written in {folder}: {e.Message}", "check the path and the folder's permissions");
        }
    }

    /// <summary>A temporary file beside <paramref name="full"/>, named so that <see cref="RemoveAbandoned"/> knows its process.</summary>
    private static string TempPath(string full) =>
        Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");

    /// <summary>Temporary files of this target left by a process that was killed mid-write (its PID is gone).</summary>
    private static void RemoveAbandoned(string folder, string name)
    {
        foreach (var temp in Directory.EnumerateFiles(folder, $".{name}.*.tmp"))
        {
            var parts = Path.GetFileName(temp)[(name.Length + 2)..].Split('.');
            if (parts.Length >= 2 && int.TryParse(parts[0], out var pid) && pid != Environment.ProcessId && !IsRunning(pid)) TryDelete(temp);
        }
    }

    private static bool IsRunning(int pid)
    {
        try { using var p = System.Diagnostics.Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
