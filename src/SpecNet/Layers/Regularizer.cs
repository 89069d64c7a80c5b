using System.Globalization;
using SpecNet.Diagnostics;
using SpecNet.Parsing;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// A weight penalty (Keras's regularizers), added to the loss: l1 · Σ|w| + l2 · Σ w²; its gradient
/// l1 · sign(w) + 2 · l2 · w is added to the parameter's.
/// </summary>
public sealed record Regularizer(double L1, double L2)
{
    private const double Max = 1e3;

    public static readonly OptionInfo KernelOption = Option("kernel_regularizer", "penalty on the kernel: {l2: x}, {l1: x} or {l1_l2: {l1, l2}}");
    public static readonly OptionInfo BiasOption = Option("bias_regularizer", "penalty on the bias, the same forms");

    private static OptionInfo Option(string name, string doc) =>
        OptionInfo.Structure(name, "{l2: x} | {l1: x} | {l1_l2: {l1, l2}}", doc) with { HashedOnlyWhenSet = true };

    public override string ToString() => L1 == 0 ? $"l2({((float)L2).ToString(CultureInfo.InvariantCulture)})"
        : L2 == 0 ? $"l1({((float)L1).ToString(CultureInfo.InvariantCulture)})"
        : $"l1_l2(l1={((float)L1).ToString(CultureInfo.InvariantCulture)}, l2={((float)L2).ToString(CultureInfo.InvariantCulture)})";

    private static readonly IReadOnlyList<OptionInfo> Kinds =
    [
        OptionInfo.Number("l1", "weight of Σ|w|", 0.01, 0, Max),
        OptionInfo.Number("l2", "weight of Σ w²", 0.01, 0, Max),
        OptionInfo.Structure("l1_l2", "{l1, l2}", "both (each default 0.01)"),
    ];

    private static readonly IReadOnlyList<OptionInfo> Pair =
    [
        OptionInfo.Number("l1", "weight of Σ|w|", 0.01, 0, Max),
        OptionInfo.Number("l2", "weight of Σ w²", 0.01, 0, Max),
    ];

    /// <summary>The option's value, or null when absent (or in error, reported).</summary>
    public static Regularizer? Read(OptionReader owner, string key)
    {
        var node = owner.Node(key);
        if (node is null) return null;
        var d = owner.Diagnostics;
        if (node is not MappingNode { Entries.Count: 1 } map)
        {
            d.Error(DiagnosticIds.WrongNodeType, node.Span, $"{owner.Owner}: '{key}' is a one-key map, not {node.Describe()}", $"write {key}: {{ l2: 0.0001 }}");
            return null;
        }
        var r = new OptionReader(map, $"{owner.Owner}: {key}", map.Span, Kinds, d);
        Regularizer? value = null;
        var name = map.Entries[0].Key.Value;
        if (name == "l1") value = new Regularizer(r.Number("l1"), 0);
        else if (name == "l2") value = new Regularizer(0, r.Number("l2"));
        else if (name == "l1_l2")
        {
            var inner = map.Entries[0].Value as MappingNode;
            var both = new OptionReader(inner, $"{owner.Owner}: {key}.l1_l2", map.Entries[0].Key.Span, Pair, d);
            value = new Regularizer(both.Number("l1"), both.Number("l2"));
            both.Finish();
        }
        r.Finish();
        if (value is not null) owner.Set(key, value);
        return r.HadErrors ? null : value;
    }
}
