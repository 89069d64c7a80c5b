using System.CommandLine;
using SpecNet.Checking;
using SpecNet.Formats;
using SpecNet.Kernels;
using SpecNet.Planning;

namespace SpecNet.Cli;

/// <summary>The spec has errors: already rendered, exit code 2.</summary>
public sealed class SpecErrorsException(string rendered) : Exception("the spec has errors")
{
    public string Rendered { get; } = rendered;
}

/// <summary>
/// What commands read from their arguments: a SPEC (a spec file, or a weights file standing for the spec
/// embedded in it), the weights that go with it, and the engine --backend names.
/// </summary>
public static class Inputs
{
    /// <summary>Compiles a spec file; a weights file (.safetensors) in its place stands for the spec embedded in it.</summary>
    public static ModelSpec Compile(string specOrWeights)
    {
        var compilation = IsWeightsFile(specOrWeights)
            ? SpecCompiler.Compile(WeightsFile.EmbeddedSpec(specOrWeights), specOrWeights + "#spec")
            : SpecCompiler.CompileFile(specOrWeights);
        if (!compilation.Success) throw new SpecErrorsException(compilation.Render(specOrWeights));
        return compilation.Model!;
    }

    public static bool IsWeightsFile(string path) => path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase);

    /// <summary>The weights to use: --weights, else the SPEC argument when it is a weights file, else the default beside the spec.</summary>
    public static string WeightsPath(string specOrWeights, string? weights, ModelSpec model) =>
        weights ?? (IsWeightsFile(specOrWeights) ? specOrWeights : DefaultWeightsPath(specOrWeights, model));

    public static string DefaultWeightsPath(string specPath, ModelSpec model) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(specPath)) ?? ".", model.Name + ".safetensors");

    /// <summary>The CPU engine on the backend --backend names (else SPECNET_BACKEND, else managed), with --threads threads (else SPECNET_THREADS, else every core).</summary>
    public static CpuEngine Engine(ParseResult result, Option<string?> backend, TextWriter log) =>
        new(Backends.Create(result.GetValue(backend), note => log.WriteLine(note), Threads(result) ?? 0));

    /// <summary>The command's --threads, when it has one and it was given.</summary>
    public static int? Threads(ParseResult result) =>
        result.CommandResult.Command.Options.OfType<Option<int?>>().FirstOrDefault(o => o.Name == "--threads") is { } option ? result.GetValue(option) : null;

    public static string Percent(double fraction) => (100 * fraction).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) + "%";
}

/// <summary>
/// Options shared by several commands, and options with a range. Values are checked by System.CommandLine
/// validators, so a bad one is a usage error (exit 1, the option named) before anything runs.
/// </summary>
public static class CommonOptions
{
    public static Option<string?> Backend()
    {
        var option = new Option<string?>("--backend")
        {
            Description = $"matrix kernels: {string.Join(", ", Backends.Names)} (default: SPECNET_BACKEND, else {Backends.Default}; " +
                          "auto times managed against mkl here and keeps the faster; SPECNET_THREADS sets the thread count)",
        };
        option.AcceptOnlyFromAmong([.. Backends.Names]);
        return option;
    }

    /// <summary>--threads: the thread count of the matrix kernels for this command (as SPECNET_THREADS; sweeps give each trial its share).</summary>
    public static Option<int?> Threads()
    {
        var option = AtLeast("--threads", 1, "threads for the matrix kernels (default: SPECNET_THREADS, else every core)");
        option.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is > 1024) r.AddError("--threads must be at most 1024"); });
        return option;
    }

    /// <summary>An optional whole number that must be at least <paramref name="min"/> when given.</summary>
    public static Option<int?> AtLeast(string name, int min, string description)
    {
        var option = new Option<int?>(name) { Description = description };
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is { } v && v < min) r.AddError($"{name} must be {(min == 1 ? "a positive whole number" : $"at least {min}")}, not {v}");
        });
        return option;
    }

    /// <summary>A whole number in [min, max] with a default.</summary>
    public static Option<int> InRange(string name, int min, int max, int @default, string description)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => @default };
        option.Validators.Add(r =>
        {
            int v = r.GetValueOrDefault<int>();
            if (v < min || v > max) r.AddError($"{name} must be between {min} and {max}, not {v}");
        });
        return option;
    }
}
