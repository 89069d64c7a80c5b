using System.Globalization;

namespace SpecNet.Schema;

/// <summary>The kind of value an option takes.</summary>
public enum OptionType
{
    /// <summary>A whole number in [Min, Max].</summary>
    Int,
    /// <summary>A number in the declared range (inclusive or exclusive at each end).</summary>
    Number,
    Bool,
    /// <summary>One name of <see cref="OptionInfo.Choices"/>.</summary>
    Choice,
    /// <summary>A whole number or a pair [height, width], as Keras takes kernel_size, strides and pool_size.</summary>
    Pair,
    Text,
    Path,
    /// <summary>A list or map whose form <see cref="OptionInfo.Form"/> describes; its owner reads it.</summary>
    Structure,
}

/// <summary>
/// One option a YAML map accepts, typed: its key, kind of value, range or choices, default and doc. The
/// single source of truth for the reader (which checks ranges and choices from here), the JSON Schema,
/// `specnet layers` and the structural hash. Build them with the factories (<see cref="Int"/>, ...).
/// </summary>
public sealed record OptionInfo(string Name, OptionType Type, string Doc)
{
    /// <summary>The typed default (int, double, bool, string, (int, int)); null when there is none.</summary>
    public object? Default { get; init; }
    /// <summary>Must be given (no default, and absence is not meaningful).</summary>
    public bool Required { get; init; }
    /// <summary>What the default is when it is not a value, e.g. "pool_size" for pooling strides.</summary>
    public string? DefaultNote { get; init; }
    public double Min { get; init; } = double.NegativeInfinity;
    public double Max { get; init; } = double.PositiveInfinity;
    public bool MinInclusive { get; init; } = true;
    public bool MaxInclusive { get; init; } = true;
    public IReadOnlyList<string> Choices { get; init; } = [];
    /// <summary>How messages name a choice option's values: "unknown padding 'full'", "known paddings: ...".</summary>
    public string? Noun { get; init; }
    /// <summary>The written form of a structured option, e.g. "{monitor, min_delta, patience}".</summary>
    public string? Form { get; init; }
    /// <summary>
    /// Its key in the structural hash when that differs from <see cref="Name"/>: hashes of SpecNet 0.1 used
    /// short keys (kernel, bias, ...), and existing weights files must keep verifying.
    /// </summary>
    public string? HashKey { get; init; }
    /// <summary>
    /// Added after 0.1: enters the structural hash only when set to something other than its default, so
    /// the hash of every spec written before it existed stays the same.
    /// </summary>
    public bool HashedOnlyWhenSet { get; init; }

    public static OptionInfo Int(string name, string doc, int? @default = null, int min = int.MinValue, int max = int.MaxValue) =>
        new(name, OptionType.Int, doc) { Default = @default, Required = @default is null, Min = min, Max = max };

    public static OptionInfo Number(string name, string doc, double? @default = null, double min = double.NegativeInfinity,
        double max = double.PositiveInfinity, bool minInclusive = true, bool maxInclusive = true) =>
        new(name, OptionType.Number, doc)
        {
            Default = @default, Required = @default is null, Min = min, Max = max, MinInclusive = minInclusive, MaxInclusive = maxInclusive,
        };

    /// <summary>A number in [0, 1): rates, momenta, fractions.</summary>
    public static OptionInfo Fraction(string name, string doc, double? @default = null) =>
        Number(name, doc, @default, 0, 1, maxInclusive: false);

    public static OptionInfo Bool(string name, string doc, bool? @default = null) =>
        new(name, OptionType.Bool, doc) { Default = @default, Required = @default is null };

    public static OptionInfo Choice(string name, string doc, IReadOnlyList<string> choices, string? @default = null, string? noun = null) =>
        new(name, OptionType.Choice, doc) { Default = @default, Required = @default is null, Choices = choices, Noun = noun ?? name.Replace('_', ' ') };

    public static OptionInfo Pair(string name, string doc, int? @default = null, int max = 1 << 15) =>
        new(name, OptionType.Pair, doc) { Default = @default is { } d ? (d, d) : null, Required = @default is null, Min = 1, Max = max };

    /// <summary>Free text, optional.</summary>
    public static OptionInfo Text(string name, string doc) => new(name, OptionType.Text, doc);

    /// <summary>A file or folder, relative to the spec's folder; optional.</summary>
    public static OptionInfo Path(string name, string doc) => new(name, OptionType.Path, doc);

    /// <summary>A list or map its owner reads; optional unless <paramref name="required"/>.</summary>
    public static OptionInfo Structure(string name, string form, string doc, bool required = false) =>
        new(name, OptionType.Structure, doc) { Form = form, Required = required };

    /// <summary>The type as users read it: "int", "int | [h, w]", "valid | same", "number in [0, 1)", "number > 0".</summary>
    public string TypeText => Type switch
    {
        OptionType.Int => "int",
        OptionType.Pair => "int | [h, w]",
        OptionType.Bool => "bool",
        OptionType.Choice => Choices.Count <= 4 ? string.Join(" | ", Choices) : "name",
        OptionType.Number => NumberText(),
        OptionType.Text => "text",
        OptionType.Path => "path",
        _ => Form ?? "map",
    };

    private string NumberText()
    {
        bool noMax = double.IsPositiveInfinity(Max), noMin = double.IsNegativeInfinity(Min);
        if (noMin && noMax) return "number";
        if (noMax) return $"number {(MinInclusive ? ">=" : ">")} {Format(Min)}";
        if (noMin) return $"number {(MaxInclusive ? "<=" : "<")} {Format(Max)}";
        return $"number in {RangeText}";
    }

    /// <summary>"[0, 1)", "(0, 10]".</summary>
    public string RangeText => $"{(MinInclusive ? "[" : "(")}{Format(Min)}, {Format(Max)}{(MaxInclusive ? "]" : ")")}";

    /// <summary>The default as users write it ("valid", "0.001", "[1, 1]" shown as 1), or the note, or null.</summary>
    public string? DefaultText => Default switch
    {
        null => DefaultNote,
        bool b => b ? "true" : "false",
        double d => Format(d),
        ValueTuple<int, int> p => p.Item1 == p.Item2 ? p.Item1.ToString(CultureInfo.InvariantCulture) : $"[{p.Item1}, {p.Item2}]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        var other => other.ToString(),
    };

    /// <summary>Whether a value lies in the declared range.</summary>
    public bool InRange(double value) =>
        (MinInclusive ? value >= Min : value > Min) && (MaxInclusive ? value <= Max : value < Max);

    public static string Format(double v) => v.ToString("0.#########", CultureInfo.InvariantCulture);
}
