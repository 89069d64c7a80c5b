using System.Globalization;
using SpecNet.Checking;
using SpecNet.Diagnostics;
using SpecNet.Kernels;
using SpecNet.Parsing;
using SpecNet.Schema;

namespace SpecNet.Comparing;

/// <summary>How one parameter of a sweep is drawn: a log-uniform or uniform number, a whole number, or one of a list.</summary>
public abstract record Distribution
{
    public sealed record LogUniform(double Low, double High) : Distribution;
    public sealed record Uniform(double Low, double High) : Distribution;
    public sealed record Integer(long Low, long High) : Distribution;
    public sealed record Choice(IReadOnlyList<YamlTree> Values) : Distribution;

    public static readonly IReadOnlyList<string> Names = ["loguniform", "uniform", "int", "choice"];

    /// <summary>A draw; numbers keep three significant digits, so trial specs stay readable.</summary>
    public YamlTree Draw(Rng rng) => this switch
    {
        LogUniform l => YamlScalar.Of(Round(Math.Exp(Math.Log(l.Low) + rng.NextDouble() * (Math.Log(l.High) - Math.Log(l.Low))))),
        Uniform u => YamlScalar.Of(Round(u.Low + rng.NextDouble() * (u.High - u.Low))),
        Integer i => YamlScalar.Of(i.Low + (long)Math.Floor(rng.NextDouble() * (i.High - i.Low + 1))),
        Choice c => c.Values[rng.NextInt(c.Values.Count)],
        _ => throw new InvalidOperationException(),
    };

    /// <summary>The values that bound what a draw can give: checked against the spec before any trial runs.</summary>
    public IEnumerable<YamlTree> Extremes => this switch
    {
        LogUniform l => [YamlScalar.Of(l.Low), YamlScalar.Of(l.High)],
        Uniform u => [YamlScalar.Of(u.Low), YamlScalar.Of(u.High)],
        Integer i => [YamlScalar.Of(i.Low), YamlScalar.Of(i.High)],
        Choice c => c.Values,
        _ => [],
    };

    private static double Round(double v) => v == 0 ? 0 : Math.Round(v, Math.Max(0, 2 - (int)Math.Floor(Math.Log10(Math.Abs(v)))));

    /// <summary>As a sweep file writes it. Sealed: else each derived record's generated ToString would print its fields.</summary>
    public sealed override string ToString() => this switch
    {
        LogUniform l => FormattableString.Invariant($"loguniform [{l.Low}, {l.High}]"),
        Uniform u => FormattableString.Invariant($"uniform [{u.Low}, {u.High}]"),
        Integer i => FormattableString.Invariant($"int [{i.Low}, {i.High}]"),
        Choice c => $"choice [{string.Join(", ", c.Values.Select(v => v.Write().Trim()))}]",
        _ => "",
    };
}

/// <summary>One swept parameter: its dotted path into the spec, how it is drawn, and where the sweep file says so.</summary>
public sealed record SweepParameter(string Path, Distribution Distribution, SourceSpan Span);

/// <summary>One concrete trial: its number and the value of each parameter.</summary>
public sealed record Trial(int Index, IReadOnlyList<(SweepParameter Parameter, YamlTree Value)> Values)
{
    public string Name => $"trial-{Index:D3}";
    public string Describe() => string.Join(" ", Values.Select(v => $"{v.Parameter.Path}={v.Value.Write().Trim()}"));
}

/// <summary>
/// A sweep file: the base spec, the parameters with their distributions, the search (random or grid), how
/// many trials and seeds, and the metric to rank them by. Checked like a spec, every error located: a path
/// that names nothing in the base spec, a range of the wrong type for its option (each range's bounds are
/// put into the spec and the spec checked), a grid larger than its trials.
/// </summary>
public sealed record SweepSpec(string SourcePath, string SourceText, string BasePath, ModelSpec Base, YamlTree BaseTree,
    IReadOnlyList<SweepParameter> Parameters, string Search, int Trials, int Seed, int Seeds, Metric Metric, bool Maximize)
{
    public static readonly IReadOnlyList<OptionInfo> Options =
    [
        OptionInfo.Path("base", "the spec every trial starts from (relative to this file)") with { Required = true },
        OptionInfo.Structure("parameters", "{dotted.path: {loguniform | uniform | int: [lo, hi]} | {choice: [values]}}",
            "what each trial changes: dotted paths into the spec, layers by name (layers.stem.filters)", required: true),
        OptionInfo.Choice("search", "random: draw each trial; grid: every combination of choice parameters", ["random", "grid"], "random"),
        OptionInfo.Int("trials", "how many trials (grid: at most this many combinations)", null, 1, 10_000),
        OptionInfo.Int("seed", "seeds the draws", 1, 0, int.MaxValue),
        OptionInfo.Int("seeds", "training seeds per trial (the spec's seed, then the next ones)", 1, 1, 100),
        OptionInfo.Choice("metric", "the final epoch's metric that ranks the trials", EarlyStoppingSpec.Monitors, "val_accuracy"),
        OptionInfo.Choice("goal", "max or min of the metric (default: max for accuracies, min for losses)", ["max", "min"]),
    ];

    public const int MaxTrials = 10_000;

    /// <summary>Whether a file is a sweep rather than a spec: its top level has base and parameters, and no layers.</summary>
    public static bool IsSweepFile(string path)
    {
        try { return SpecParser.Parse(SpecCompiler.ReadSpecText(path), new DiagnosticBag()) is MappingNode map && SpecBinder.IsSweep(map); }
        catch (SpecNetException) { return false; }   // unreadable: the spec's own reading says why
    }

    /// <summary>The sweep and its problems; null when it has errors (rendered against the sweep file or the base spec).</summary>
    public static (SweepSpec? Sweep, IReadOnlyList<Diagnostic> Diagnostics, string Rendered) Read(string path)
    {
        var text = SpecCompiler.ReadSpecText(path);
        var diagnostics = new DiagnosticBag();
        var sweep = Bind(text, path, diagnostics);
        var sorted = diagnostics.Sorted();
        return (diagnostics.HasErrors ? null : sweep, sorted, DiagnosticRenderer.RenderAll(sorted, path, text));
    }

    private static SweepSpec? Bind(string text, string path, DiagnosticBag diagnostics)
    {
        if (SpecParser.Parse(text, diagnostics) is not { } root) return null;
        if (root is not MappingNode map)
        {
            diagnostics.Error(DiagnosticIds.WrongNodeType, root.Span, $"a sweep is a map (base, parameters, search, trials, ...), not {root.Describe()}");
            return null;
        }
        var r = new OptionReader(map, "the sweep", new SourceSpan(1, 1, 1, 1), Options, diagnostics) { KeyNoun = "key" };
        var basePath = r.String("base");
        var search = r.Choice("search");
        int? trials = r.Has("trials") ? r.Int("trials") : null;
        int seed = r.Int("seed"), seeds = r.Int("seeds");
        var metric = r.Choice<Metric>("metric");
        bool maximize = r.Has("goal") ? r.Choice("goal") == "max" : metric is Metric.Accuracy or Metric.ValAccuracy;
        var parametersNode = r.Node("parameters");
        if (basePath is null) r.RequireMissing("base");
        if (parametersNode is null) r.RequireMissing("parameters");
        r.Finish();
        if (basePath is null || parametersNode is null || diagnostics.HasErrors) return null;

        var baseFull = System.IO.Path.GetFullPath(basePath, System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".");
        if (!File.Exists(baseFull))
        {
            diagnostics.Error(DiagnosticIds.DataSource, r.SpanOf("base"), $"there is no spec '{basePath}' (paths are relative to the sweep file's folder)");
            return null;
        }
        var baseText = SpecCompiler.ReadSpecText(baseFull);
        var compiled = SpecCompiler.Compile(baseText, baseFull);
        if (!compiled.Success)
        {
            diagnostics.Error(DiagnosticIds.DataSource, r.SpanOf("base"), $"the base spec '{basePath}' has errors:\n{compiled.Render(baseFull).TrimEnd()}", "run specnet check on it");
            return null;
        }
        if (compiled.Model!.Data is not { } data || data.Dataset is null && data.Test is null)
        {
            // every trial is scored on the test set (its accuracy, the best against the runner-up): found out before any trains
            diagnostics.Error(DiagnosticIds.DataSource, r.SpanOf("base"), $"the base spec '{basePath}' names no test set, and a sweep scores every trial on one",
                "add data.test to the base spec (held-out examples, kept out of training), or use a named dataset");
            return null;
        }
        var tree = YamlTree.From(SpecParser.Parse(baseText, new DiagnosticBag())!);

        var parameters = ReadParameters(parametersNode, diagnostics);
        if (parameters is null) return null;
        // every path names something, and every bound of every range checks when put into the spec
        foreach (var p in parameters)
        {
            foreach (var value in p.Distribution.Extremes)
            {
                var edited = SpecEdit.Copy(tree);
                if (SpecEdit.Set(edited, p.Path) is { } problem)
                {
                    diagnostics.Error(DiagnosticIds.UnknownKey, p.Span, $"parameter '{p.Path}': {problem}", SpecEdit.Hint(tree, p.Path));
                    break;
                }
                SpecEdit.Set(edited, p.Path, value);
                var check = SpecCompiler.Compile(edited.Write(), baseFull);
                if (!check.Success)
                {
                    var first = check.Diagnostics.First(d => d.IsError);
                    diagnostics.Error(DiagnosticIds.OutOfRange, p.Span, $"parameter '{p.Path}': with {value.Write().Trim()} the spec does not check: {first.Message}",
                        first.Hint ?? $"choose a range the option accepts ({p.Distribution})");
                    break;
                }
            }
        }
        if (diagnostics.HasErrors) return null;

        int count;
        if (search == "grid")
        {
            if (parameters.FirstOrDefault(p => p.Distribution is not Distribution.Choice) is { } ranged)
            {
                diagnostics.Error(DiagnosticIds.InvalidCombination, ranged.Span, $"parameter '{ranged.Path}': a grid search takes choice parameters only, not {ranged.Distribution}",
                    "write { choice: [a, b, c] }, or use search: random");
                return null;
            }
            long size = parameters.Aggregate(1L, (a, p) => Math.Min(a * ((Distribution.Choice)p.Distribution).Values.Count, long.MaxValue / 1000));
            if (trials is { } t && size > t)
            {
                diagnostics.Error(DiagnosticIds.OutOfRange, r.SpanOf("trials"), $"the grid has {size:N0} combinations, more than trials: {t}",
                    $"raise trials to {size}, drop choices, or use search: random");
                return null;
            }
            if (size > MaxTrials)
            {
                diagnostics.Error(DiagnosticIds.OutOfRange, r.SpanOf("parameters"), $"the grid has {size:N0} combinations, more than the {MaxTrials:N0} a sweep runs");
                return null;
            }
            count = (int)size;
        }
        else count = trials ?? 10;
        return new SweepSpec(path, text, baseFull, compiled.Model!, tree, parameters, search, count, seed, seeds, metric, maximize);
    }

    private static List<SweepParameter>? ReadParameters(SyntaxNode node, DiagnosticBag diagnostics)
    {
        if (node is not MappingNode { Entries.Count: > 0 } map)
        {
            diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"'parameters' must be a map of dotted paths to ranges, not {node.Describe()}",
                "write parameters: { training.batch_size: { choice: [32, 64] } }");
            return null;
        }
        var list = new List<SweepParameter>();
        foreach (var (key, value) in map.Entries.Select(e => (e.Key, e.Value)))
        {
            if (ReadDistribution(key, value, diagnostics) is { } d) list.Add(new SweepParameter(key.Value, d, key.Span));
        }
        return diagnostics.HasErrors ? null : list;
    }

    private static Distribution? ReadDistribution(ScalarNode key, SyntaxNode node, DiagnosticBag diagnostics)
    {
        if (node is not MappingNode { Entries.Count: 1 } one || !Distribution.Names.Contains(one.Entries[0].Key.Value))
        {
            diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"parameter '{key.Value}': a range is one of {{loguniform | uniform | int: [lo, hi]}} or {{choice: [values]}}",
                node is MappingNode { Entries.Count: 1 } m ? Names.Hint(m.Entries[0].Key.Value, Distribution.Names, "ranges") : "write { loguniform: [0.0003, 0.01] }");
            return null;
        }
        var (kind, value) = (one.Entries[0].Key.Value, one.Entries[0].Value);
        if (kind == "choice")
        {
            if (value is SequenceNode { Items.Count: > 0 } choices) return new Distribution.Choice(choices.Items.Select(YamlTree.From).ToList());
            diagnostics.Error(DiagnosticIds.WrongNodeType, value.Span, $"parameter '{key.Value}': choice takes a non-empty list", "write { choice: [32, 64, 128] }");
            return null;
        }
        if (value is not SequenceNode { Items.Count: 2 } pair || pair.Items.Any(i => i is not ScalarNode))
        {
            diagnostics.Error(DiagnosticIds.WrongNodeType, value.Span, $"parameter '{key.Value}': {kind} takes [low, high]", $"write {{ {kind}: [1, 10] }}");
            return null;
        }
        var (lo, hi) = ((ScalarNode)pair.Items[0], (ScalarNode)pair.Items[1]);
        if (kind == "int")
        {
            if (long.TryParse(lo.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var a) && long.TryParse(hi.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var b) && a <= b)
                return new Distribution.Integer(a, b);
            diagnostics.Error(DiagnosticIds.NotANumber, value.Span, $"parameter '{key.Value}': int takes two whole numbers, low first", "write { int: [8, 32] }");
            return null;
        }
        if (!double.TryParse(lo.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) || !double.TryParse(hi.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var y)
            || !double.IsFinite(x) || !double.IsFinite(y) || x > y || kind == "loguniform" && x <= 0)
        {
            diagnostics.Error(DiagnosticIds.NotANumber, value.Span, $"parameter '{key.Value}': {kind} takes two numbers, low first{(kind == "loguniform" ? ", both above 0" : "")}",
                $"write {{ {kind}: [0.0003, 0.01] }}");
            return null;
        }
        return kind == "loguniform" ? new Distribution.LogUniform(x, y) : new Distribution.Uniform(x, y);
    }

    /// <summary>The trials, in order: random draws from the sweep's seed, or every grid combination (the first parameter varying slowest).</summary>
    public IReadOnlyList<Trial> Expand()
    {
        if (Search == "grid")
        {
            var choices = Parameters.Select(p => ((Distribution.Choice)p.Distribution).Values).ToList();
            var trials = new List<Trial>();
            for (int k = 0; k < Trials; k++)
            {
                int rest = k;
                var values = new (SweepParameter, YamlTree)[Parameters.Count];
                for (int i = Parameters.Count - 1; i >= 0; i--)
                {
                    values[i] = (Parameters[i], choices[i][rest % choices[i].Count]);
                    rest /= choices[i].Count;
                }
                trials.Add(new Trial(k, values));
            }
            return trials;
        }
        var rng = Rng.For(Seed, "sweep");
        return Enumerable.Range(0, Trials).Select(k => new Trial(k, Parameters.Select(p => (p, p.Distribution.Draw(rng))).ToList())).ToList();
    }

    /// <summary>The trial's spec text, for a file in <paramref name="folder"/> (data paths made relative to it).</summary>
    public string TrialSpec(Trial trial, string folder, string name)
    {
        var tree = SpecEdit.Copy(BaseTree);
        foreach (var (parameter, value) in trial.Values) SpecEdit.Set(tree, parameter.Path, value);
        ((YamlMap)tree)["name"] = new YamlScalar(name);
        SpecEdit.RebasePaths(tree, System.IO.Path.GetDirectoryName(BasePath)!, folder);
        return $"# {name}: {System.IO.Path.GetFileName(BasePath)} with {trial.Describe()}\n# written by specnet sweep {System.IO.Path.GetFileName(SourcePath)}\n" + tree.Write();
    }
}
