using System.CommandLine;
using SpecNet.Checking;
using SpecNet.Formats;
using SpecNet.Kernels;

namespace SpecNet.Cli.Commands;

/// <summary>The spec has errors: already rendered, exit code 2.</summary>
public sealed class SpecErrorsException(string rendered) : Exception("the spec has errors")
{
    public string Rendered { get; } = rendered;
}

/// <summary>What several commands share: the backend option, and turning a SPEC argument into a checked model.</summary>
public static class Common
{
    public static Option<string?> BackendOption() => new("--backend")
    {
        Description = $"matrix kernels: {string.Join(", ", Backends.Names)} (default: SPECNET_BACKEND, else auto)",
    };

    public static Backend CreateBackend(ParseResult result, Option<string?> option, TextWriter log)
    {
        var backend = Backends.Create(result.GetValue(option), note => log.WriteLine(note));
        return backend;
    }

    /// <summary>Compiles a spec file; a weights file (.safetensors) in its place stands for the spec embedded in it.</summary>
    public static ModelSpec Compile(string specOrWeights)
    {
        Compilation compilation;
        if (IsWeightsFile(specOrWeights))
        {
            var text = WeightsFile.EmbeddedSpec(specOrWeights);
            compilation = SpecCompiler.Compile(text, specOrWeights + "#spec");
        }
        else compilation = SpecCompiler.CompileFile(specOrWeights);
        if (!compilation.Success) throw new SpecErrorsException(compilation.Render(specOrWeights));
        return compilation.Model!;
    }

    public static bool IsWeightsFile(string path) => path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase);

    /// <summary>The weights to use: --weights, else the SPEC argument when it is a weights file, else the default beside the spec.</summary>
    public static string WeightsPath(string specOrWeights, string? weights, ModelSpec model) =>
        weights ?? (IsWeightsFile(specOrWeights) ? specOrWeights : DefaultWeightsPath(specOrWeights, model));

    public static string DefaultWeightsPath(string specPath, ModelSpec model) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(specPath)) ?? ".", model.Name + ".safetensors");

    public static string Percent(double fraction) => (100 * fraction).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) + "%";
}
