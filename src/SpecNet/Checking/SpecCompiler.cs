using System.Text;
using SpecNet.Diagnostics;
using SpecNet.Parsing;

namespace SpecNet.Checking;

/// <summary>Spec text -> syntax tree -> checked model. The front door of the library.</summary>
public static class SpecCompiler
{
    /// <summary>Largest spec read; a real one is a few kilobytes.</summary>
    public const int MaxSpecBytes = 1 << 20;

    /// <summary>Compiles spec text; its relative paths are read from <paramref name="baseFolder"/>, else from the folder of <paramref name="sourcePath"/>.</summary>
    public static Compilation Compile(string text, string sourcePath, string? baseFolder = null)
    {
        var diagnostics = new DiagnosticBag();
        var root = SpecParser.Parse(text, diagnostics);
        ModelSpec? model = null;
        if (root is not null)
            model = new SpecBinder(diagnostics, sourcePath, baseFolder).Bind(root, text);
        return new Compilation(diagnostics.HasErrors ? null : model, diagnostics.Sorted(), text, sourcePath);
    }

    /// <summary>Reads and compiles a spec file; throws <see cref="SpecNetException"/> when the file cannot be read.</summary>
    public static Compilation CompileFile(string path) => Compile(ReadSpecText(path), path);

    public static string ReadSpecText(string path)
    {
        if (Directory.Exists(path)) throw new SpecNetException($"{path}: is a directory, not a spec file", "pass a .yaml file, e.g. specs/mnist-cnn.yaml");
        if (!File.Exists(path)) throw new SpecNetException($"{path}: no such file", "check the path; specs/ holds examples");
        try
        {
            var info = new FileInfo(path);
            if (info.Length > MaxSpecBytes) throw new SpecNetException($"{path}: {info.Length:N0} bytes is too large for a spec (at most {MaxSpecBytes:N0})");
            var bytes = File.ReadAllBytes(path);
            try
            {
                var text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
                return text.Length > 0 && text[0] == '\uFEFF' ? text[1..] : text;
            }
            catch (DecoderFallbackException e)
            {
                throw new SpecNetException($"{path}: not UTF-8 text (invalid byte at offset {e.Index})", "save the spec as UTF-8");
            }
        }
        catch (IOException e) { throw new SpecNetException($"{path}: cannot be read: {e.Message}"); }
        catch (UnauthorizedAccessException) { throw new SpecNetException($"{path}: permission denied"); }
    }
}
