using System.Globalization;
using SpecNet.Diagnostics;
using SpecNet.Parsing;
using SpecNet.Schema;

namespace SpecNet.Checking;

/// <summary>
/// A learning rate as a function of the optimizer step (the number of updates made before this one, as
/// Keras's `iterations`): a constant, or one of Keras 3's schedules with its formula.
/// </summary>
public abstract record LearningRate
{
    public abstract double At(long step);
    public virtual bool IsConstant => false;

    /// <summary>Options are read as float: shown as the float they are.</summary>
    private static string F(double v) => ((float)v).ToString(CultureInfo.InvariantCulture);

    /// <summary>A fixed rate.</summary>
    public sealed record Constant(double Value) : LearningRate
    {
        public override double At(long step) => Value;
        public override bool IsConstant => true;
        public override string ToString() => ((float)Value).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Keras CosineDecay. Without warmup: lr(s) = initial · ((1 - alpha) · ½(1 + cos(π · min(s, D) / D)) + alpha).
    /// With warmup_target: for s &lt; W a straight line from initial to warmup_target, then the cosine from
    /// warmup_target over D more steps (s capped at D + W).
    /// </summary>
    public sealed record CosineDecay(double Initial, long DecaySteps, double Alpha, double? WarmupTarget, long WarmupSteps) : LearningRate
    {
        public override double At(long step)
        {
            double s = step, d = DecaySteps;
            if (WarmupTarget is not { } target) return Decay(Math.Min(s, d), Initial);
            s = Math.Min(s, d + WarmupSteps);
            return s < WarmupSteps ? (target - Initial) * (s / WarmupSteps) + Initial : Decay(s - WarmupSteps, target);
        }

        private double Decay(double s, double from) => from * ((1 - Alpha) * 0.5 * (1 + Math.Cos(Math.PI * s / DecaySteps)) + Alpha);

        public override string ToString() => $"cosine_decay(initial_learning_rate={F(Initial)}, decay_steps={DecaySteps}, alpha={F(Alpha)}" +
            (WarmupTarget is { } t ? $", warmup_target={F(t)}, warmup_steps={WarmupSteps})" : ")");
    }

    /// <summary>Keras ExponentialDecay: lr(s) = initial · decay_rate ^ (s / decay_steps), the exponent floored with staircase.</summary>
    public sealed record ExponentialDecay(double Initial, long DecaySteps, double DecayRate, bool Staircase) : LearningRate
    {
        public override double At(long step)
        {
            double p = step / (double)DecaySteps;
            return Initial * Math.Pow(DecayRate, Staircase ? Math.Floor(p) : p);
        }

        public override string ToString() =>
            $"exponential_decay(initial_learning_rate={F(Initial)}, decay_steps={DecaySteps}, decay_rate={F(DecayRate)}, staircase={(Staircase ? "true" : "false")})";
    }

    /// <summary>Keras PiecewiseConstantDecay: values[0] while s ≤ boundaries[0], values[i] while boundaries[i-1] &lt; s ≤ boundaries[i], values[^1] after.</summary>
    public sealed record PiecewiseConstantDecay(IReadOnlyList<long> Boundaries, IReadOnlyList<double> Values) : LearningRate
    {
        public override double At(long step)
        {
            int i = 0;
            while (i < Boundaries.Count && step > Boundaries[i]) i++;
            return Values[i];
        }

        public override string ToString() =>
            $"piecewise_constant_decay(boundaries=[{string.Join(", ", Boundaries)}], values=[{string.Join(", ", Values.Select(F))}])";
    }

    public static readonly IReadOnlyList<string> Schedules = ["cosine_decay", "exponential_decay", "piecewise_constant_decay"];

    private const double MaxRate = 10;
    private const int MaxSteps = int.MaxValue;

    private static readonly IReadOnlyDictionary<string, IReadOnlyList<OptionInfo>> ScheduleOptions = new Dictionary<string, IReadOnlyList<OptionInfo>>
    {
        ["cosine_decay"] =
        [
            OptionInfo.Number("initial_learning_rate", "the rate at step 0", null, 0, MaxRate),
            OptionInfo.Int("decay_steps", "optimizer steps the cosine takes to fall", null, 1, MaxSteps),
            OptionInfo.Number("alpha", "the rate it falls to, as a fraction of where it started", 0, 0, 1),
            OptionInfo.Number("warmup_target", "the rate a linear warmup rises to first (default: no warmup)", null, 0, MaxRate) with { Required = false },
            OptionInfo.Int("warmup_steps", "optimizer steps of warmup", 0, 0, MaxSteps),
        ],
        ["exponential_decay"] =
        [
            OptionInfo.Number("initial_learning_rate", "the rate at step 0", null, 0, MaxRate),
            OptionInfo.Int("decay_steps", "optimizer steps per factor of decay_rate", null, 1, MaxSteps),
            OptionInfo.Number("decay_rate", "the factor per decay_steps", null, 0, 1, minInclusive: false),
            OptionInfo.Bool("staircase", "decay in whole steps of decay_steps", false),
        ],
        ["piecewise_constant_decay"] =
        [
            OptionInfo.Structure("boundaries", "[steps]", "optimizer steps where the rate changes, increasing", required: true),
            OptionInfo.Structure("values", "[rates]", "one more rate than boundaries", required: true),
        ],
    };

    /// <summary>The options of each schedule (for the JSON Schema and `specnet layers`).</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<OptionInfo>> Options => ScheduleOptions;

    /// <summary>A `learning_rate` value: a number, or a one-key map naming a schedule. Errors are reported; null then.</summary>
    internal static LearningRate? Read(OptionReader owner)
    {
        var node = owner.Node("learning_rate");
        if (node is null or ScalarNode) return new Constant(owner.Number("learning_rate"));
        var d = owner.Diagnostics;
        if (node is not MappingNode { Entries.Count: 1 } map)
        {
            d.Error(DiagnosticIds.WrongNodeType, node.Span, $"{owner.Owner}: 'learning_rate' is a number or a one-key map naming a schedule, not {node.Describe()}",
                "write learning_rate: 0.001, or learning_rate: { cosine_decay: { initial_learning_rate: 0.002, decay_steps: 5000 } }");
            return null;
        }
        var entry = map.Entries[0];
        if (owner.ChoiceOf(entry.Key, Schedules, "learning rate schedule '{0}'", "schedules") is not { } name) return null;
        var options = entry.Value as MappingNode;
        if (options is null && entry.Value is not ScalarNode { IsNull: true })
        {
            d.Error(DiagnosticIds.WrongNodeType, entry.Value.Span, $"{owner.Owner}: the options of '{name}' must be a map, not {entry.Value.Describe()}");
            return null;
        }
        var r = new OptionReader(options, name, entry.Key.Span, ScheduleOptions[name], d);
        LearningRate? schedule = name switch
        {
            "cosine_decay" => new CosineDecay(r.Number("initial_learning_rate"), r.Int("decay_steps"), r.Number("alpha"),
                r.Has("warmup_target") ? r.Number("warmup_target") : null, r.Int("warmup_steps")),
            "exponential_decay" => new ExponentialDecay(r.Number("initial_learning_rate"), r.Int("decay_steps"), r.Number("decay_rate"), r.Bool("staircase")),
            _ => Piecewise(r),
        };
        r.Finish();
        owner.Set("learning_rate", (object?)schedule ?? "invalid");
        return r.HadErrors ? null : schedule;
    }

    private static PiecewiseConstantDecay? Piecewise(OptionReader r)
    {
        var boundaries = Numbers(r, "boundaries");
        var values = Numbers(r, "values");
        if (boundaries is null || values is null) return null;
        if (values.Count != boundaries.Count + 1)
        {
            r.Diagnostics.Error(DiagnosticIds.InvalidCombination, r.SpanOf("values"),
                $"piecewise_constant_decay: {boundaries.Count} boundaries need {boundaries.Count + 1} values, not {values.Count}", "give one more value than boundaries");
            return null;
        }
        if (boundaries.Any(b => b != Math.Floor(b) || b < 0) || boundaries.Zip(boundaries.Skip(1)).Any(p => p.Second <= p.First))
        {
            r.Diagnostics.Error(DiagnosticIds.OutOfRange, r.SpanOf("boundaries"), "piecewise_constant_decay: boundaries must be whole step counts, increasing");
            return null;
        }
        return new PiecewiseConstantDecay(boundaries.Select(b => (long)b).ToList(), values);
    }

    private static List<double>? Numbers(OptionReader r, string key)
    {
        var node = r.Node(key);
        if (node is null) { r.RequireMissing(key); return null; }
        if (node is SequenceNode { Items.Count: > 0 } seq && seq.Items.All(i => i is ScalarNode s && double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)))
            return seq.Items.Select(i => double.Parse(((ScalarNode)i).Value, CultureInfo.InvariantCulture)).ToList();
        r.Diagnostics.Error(DiagnosticIds.NotANumber, node.Span, $"{r.Owner}: '{key}' must be a list of numbers, not {node.Describe()}");
        return null;
    }
}
