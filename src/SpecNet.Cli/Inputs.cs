using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using SpecNet.Checking;
using SpecNet.Diagnostics;
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
        var compilation = CompilationOf(specOrWeights);
        if (!compilation.Success) throw new SpecErrorsException(compilation.Render(specOrWeights));
        return compilation.Model!;
    }

    /// <summary>The compilation of a spec file, or of the spec a weights file embeds, with its diagnostics (for `check`).</summary>
    public static Compilation CompilationOf(string specOrWeights) =>
        IsWeightsFile(specOrWeights) ? CompileEmbedded(specOrWeights) : SpecCompiler.CompileFile(specOrWeights);

    /// <summary>
    /// A weights file's embedded spec. Its relative paths (data, init_from) are read from the folder of the spec it was trained
    /// from, where they were written for (a sweep's best.safetensors, weights written with --output elsewhere), when more of
    /// them are found there; else from the weights file's own folder (a model shipped beside its data, or moved to another machine).
    /// </summary>
    private static Compilation CompileEmbedded(string weights)
    {
        var (spec, trainedIn) = WeightsFile.Embedded(weights);
        var beside = SpecCompiler.Compile(spec, weights + "#spec");
        if (trainedIn is null || !Directory.Exists(trainedIn)) return beside;
        var there = SpecCompiler.Compile(spec, weights + "#spec", trainedIn);
        return Missing(there) < Missing(beside) ? there : beside;

        static int Missing(Compilation c) => c.Diagnostics.Count(d => d.Id == DiagnosticIds.DataFileMissing);
    }

    /// <summary>
    /// The model's class names: the spec's labels, else those its weights file records, else its named dataset's (a file
    /// written before SpecNet knew Fashion-MNIST's names records none); null when the classes have only numbers.
    /// </summary>
    public static IReadOnlyList<string>? ClassNames(IReadOnlyDictionary<string, string> metadata, ModelSpec model) =>
        WeightsFile.ClassNames(metadata, model) ?? (model.Data?.Dataset is { } dataset ? Data.NamedDatasets.ClassNames(dataset) : null);

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

    public static string Percent(double fraction) => (100 * fraction).ToString("0.00", CultureInfo.InvariantCulture) + "%";
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
    public static Option<int?> Threads() =>
        AtLeast("--threads", 1, "threads for the matrix kernels (default: SPECNET_THREADS, else every core)", max: 1024);

    /// <summary>An optional whole number that must be at least <paramref name="min"/> (and at most <paramref name="max"/>) when given.</summary>
    public static Option<int?> AtLeast(string name, int min, string description, int max = int.MaxValue) => new(name)
    {
        Description = description,
        CustomParser = r => WholeNumber(r, name) is { } v && Check(r, v < min ? $"{name} must be {(min == 1 ? "a positive whole number" : $"at least {min}")}, not {v}"
            : v > max ? $"{name} must be at most {max}, not {v}" : null) ? v : null,
    };

    /// <summary>A whole number in [min, max] with a default.</summary>
    public static Option<int> InRange(string name, int min, int max, int @default, string description) => new(name)
    {
        Description = description, DefaultValueFactory = _ => @default,
        CustomParser = r => WholeNumber(r, name) is { } v && Check(r, v < min || v > max ? $"{name} must be between {min} and {max}, not {v}" : null) ? v : @default,
    };

    /// <summary>An optional whole number of any value (a trial or run index, checked where its range is known).</summary>
    public static Option<int?> Index(string name, string description) => new(name) { Description = description, CustomParser = r => WholeNumber(r, name) };

    /// <summary>An optional number, such as a scale.</summary>
    public static Option<float?> Number(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = r => r.Tokens.Count == 1 && Parse(r, name, r.Tokens[0].Value) is { } v ? v : null,
    };

    /// <summary>One or more numbers, one per channel.</summary>
    public static Option<float[]?> Numbers(string name, string description) => new(name)
    {
        Description = description, AllowMultipleArgumentsPerToken = true,
        CustomParser = r => r.Tokens.Select(t => Parse(r, name, t.Value)).ToList() is var v && v.All(x => x is not null) ? v.Select(x => x!.Value).ToArray() : null,
    };

    // System.CommandLine's own message for a token that does not convert names .NET types
    // ("as expected type 'System.Nullable`1[System.Int32]'"), and a validator reading such a value throws.
    private static int? WholeNumber(ArgumentResult r, string name)
    {
        if (r.Tokens.Count != 1) return null;
        var text = r.Tokens[0].Value;
        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v)) return v;
        r.AddError(long.TryParse(text, out _) ? $"{name} is too large: {text}" : $"{name} must be a whole number, not '{text}'");
        return null;
    }

    private static float? Parse(ArgumentResult r, string name, string text)
    {
        if (float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && float.IsFinite(v)) return v;
        r.AddError($"{name} must be a number, not '{text}'");
        return null;
    }

    /// <summary>True when there is no error; else reports it.</summary>
    private static bool Check(ArgumentResult r, string? error)
    {
        if (error is not null) r.AddError(error);
        return error is null;
    }
}
