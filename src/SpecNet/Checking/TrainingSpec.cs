using SpecNet.Diagnostics;
using SpecNet.Parsing;
using SpecNet.Schema;

namespace SpecNet.Checking;

/// <summary>The losses of the spec language (Keras's names).</summary>
public enum LossKind { CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy, MeanSquaredError }

/// <summary>A loss, resolved at bind time.</summary>
public sealed record LossSpec(LossKind Kind)
{
    public static readonly IReadOnlyList<string> Names = ["categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy", "mse"];

    public string Name => Names[(int)Kind];
    public bool IsCrossentropy => Kind != LossKind.MeanSquaredError;
    public static LossSpec Named(string name) => new((LossKind)Names.ToList().IndexOf(name));
    public override string ToString() => Name;
}

/// <summary>
/// An optimizer kind as the spec language knows it: its name, its options (Keras's names and defaults),
/// and how to bind them. All kinds are listed once in <see cref="OptimizerSpec.Kinds"/>.
/// </summary>
public sealed record OptimizerKind(string Name, IReadOnlyList<OptionInfo> Options, Func<OptionReader, OptimizerSpec> Bind);

/// <summary>An optimizer with every hyper-parameter resolved at bind time; Training/Optimizers has one class per kind.</summary>
public abstract record OptimizerSpec(float LearningRate)
{
    public abstract string Name { get; }

    /// <summary>The options as bound (defaults included), in declaration order: what the run's identity records.</summary>
    public IReadOnlyList<(string Key, object Value)> Values { get; init; } = [];

    private static OptionInfo LearningRateOption(double @default) =>
        OptionInfo.Number("learning_rate", "step size", @default, 0, MaxLearningRate, minInclusive: false);

    private const double MaxLearningRate = 10;
    private static readonly OptionInfo Beta1 = OptionInfo.Fraction("beta_1", "decay of the first moment", 0.9);
    private static readonly OptionInfo Beta2 = OptionInfo.Fraction("beta_2", "decay of the second moment", 0.999);
    private static readonly OptionInfo Epsilon = OptionInfo.Number("epsilon", "added to the denominator", 1e-7, 0, 1, minInclusive: false);

    public static readonly IReadOnlyList<OptimizerKind> Kinds =
    [
        new("sgd", [LearningRateOption(0.01), OptionInfo.Fraction("momentum", "fraction of the last update kept", 0),
                    OptionInfo.Bool("nesterov", "Nesterov momentum", false)],
            r => new SgdSpec(r.Number("learning_rate"), r.Number("momentum"), r.Bool("nesterov"))),
        new("adam", [LearningRateOption(0.001), Beta1, Beta2, Epsilon],
            r => new AdamSpec(r.Number("learning_rate"), r.Number("beta_1"), r.Number("beta_2"), r.Number("epsilon"))),
        new("adamw", [LearningRateOption(0.001), Beta1, Beta2, Epsilon,
                      OptionInfo.Number("weight_decay", "decoupled weight decay", 0.004, 0, 1)],
            r => new AdamWSpec(r.Number("learning_rate"), r.Number("beta_1"), r.Number("beta_2"), r.Number("epsilon"), r.Number("weight_decay"))),
        new("rmsprop", [LearningRateOption(0.001), OptionInfo.Fraction("rho", "decay of the squared-gradient average", 0.9), Epsilon],
            r => new RmsPropSpec(r.Number("learning_rate"), r.Number("rho"), r.Number("epsilon"))),
    ];

    public static OptimizerKind? Find(string name) => Kinds.FirstOrDefault(k => k.Name == name);

    public static readonly OptimizerSpec Default = Bind("adam", null, default, new DiagnosticBag());

    internal static OptimizerSpec Bind(string name, MappingNode? options, SourceSpan span, DiagnosticBag diagnostics)
    {
        var kind = Find(name)!;
        var r = new OptionReader(options, $"optimizer '{name}'", span, kind.Options, diagnostics);
        var spec = kind.Bind(r);
        r.Finish();
        return spec with { Values = kind.Options.Select(o => (o.Name, r.Values[o.Name])).ToList() };
    }

    /// <summary>"adam(learning_rate=0.001, beta_1=0.9, ...)": for diffs, run identities and checkpoints.</summary>
    public string Describe() =>
        $"{Name}({string.Join(", ", Values.Select(v => $"{v.Key}={(v.Value is IFormattable f ? f.ToString(null, System.Globalization.CultureInfo.InvariantCulture) : v.Value)}"))})";
}

/// <summary>Keras SGD.</summary>
public sealed record SgdSpec(float LearningRate, float Momentum, bool Nesterov) : OptimizerSpec(LearningRate)
{
    public override string Name => "sgd";
}

/// <summary>Keras Adam.</summary>
public record AdamSpec(float LearningRate, float Beta1, float Beta2, float Epsilon) : OptimizerSpec(LearningRate)
{
    public override string Name => "adam";
}

/// <summary>Keras AdamW: Adam with decoupled weight decay.</summary>
public sealed record AdamWSpec(float LearningRate, float Beta1, float Beta2, float Epsilon, float WeightDecay) : AdamSpec(LearningRate, Beta1, Beta2, Epsilon)
{
    public override string Name => "adamw";
}

/// <summary>Keras RMSprop (not centered, no momentum).</summary>
public sealed record RmsPropSpec(float LearningRate, float Rho, float Epsilon) : OptimizerSpec(LearningRate)
{
    public override string Name => "rmsprop";
}

/// <summary>The metrics a run can watch: the training loss and accuracy, and the same on the validation (or test) data.</summary>
public enum Metric { Loss, Accuracy, ValLoss, ValAccuracy }

/// <summary>
/// Keras's EarlyStopping: stop when <see cref="Monitor"/> has not improved by more than <see cref="MinDelta"/>
/// for <see cref="Patience"/> epochs; optionally go back to the best epoch's weights. "val_" monitors
/// the validation data (or the test data when there is none).
/// </summary>
public sealed record EarlyStoppingSpec(Metric Monitor, double MinDelta, int Patience, bool RestoreBestWeights)
{
    public static readonly IReadOnlyList<string> Monitors = ["loss", "accuracy", "val_loss", "val_accuracy"];

    public string MonitorName => Monitors[(int)Monitor];
    public bool HigherIsBetter => Monitor is Metric.Accuracy or Metric.ValAccuracy;
    public bool OnValidation => Monitor is Metric.ValLoss or Metric.ValAccuracy;

    public static readonly IReadOnlyList<OptionInfo> Options =
    [
        OptionInfo.Choice("monitor", "the quantity watched", Monitors, "val_loss"),
        OptionInfo.Number("min_delta", "smallest change that counts as an improvement", 0, 0, MaxDelta),
        OptionInfo.Int("patience", "epochs without improvement before stopping", 0, 0, 1_000_000),
        OptionInfo.Bool("restore_best_weights", "end with the best epoch's weights", false),
    ];

    private const double MaxDelta = 1e6;

    internal static EarlyStoppingSpec Read(OptionReader r) =>
        new(r.Choice<Metric>("monitor"), r.Number("min_delta"), r.Int("patience"), r.Bool("restore_best_weights"));

    public override string ToString() =>
        $"EarlyStoppingSpec {{ Monitor = {MonitorName}, MinDelta = {MinDelta}, Patience = {Patience}, RestoreBestWeights = {RestoreBestWeights} }}";
}

/// <summary>The training section: how to fit the model (Keras's compile + fit arguments).</summary>
public sealed record TrainingSpec(OptimizerSpec Optimizer, LossSpec Loss, IReadOnlyList<string> Metrics, int Epochs, int BatchSize, int Seed,
    EarlyStoppingSpec? EarlyStopping = null, bool KeepBest = false)
{
    public static readonly IReadOnlyList<string> KnownMetrics = ["accuracy"];

    public static readonly IReadOnlyList<OptionInfo> Options =
    [
        OptionInfo.Structure("optimizer", "name | {name: {options}}", "sgd, adam, adamw or rmsprop, with Keras's defaults") with { DefaultNote = "adam" },
        OptionInfo.Choice("loss", string.Join(", ", LossSpec.Names), LossSpec.Names, "categorical_crossentropy"),
        OptionInfo.Structure("metrics", "[names]", "metrics reported per epoch") with { DefaultNote = "[accuracy]" },
        OptionInfo.Int("epochs", "passes over the training data", 5, 1, 1_000_000),
        OptionInfo.Int("batch_size", "examples per gradient step", 32, 1, 1 << 16),
        OptionInfo.Int("seed", "seeds initialisation, shuffling and dropout", 42, 0, int.MaxValue),
        OptionInfo.Structure("early_stopping", "{monitor, min_delta, patience, restore_best_weights}",
            "stop when the monitored metric stops improving (Keras's EarlyStopping)"),
        OptionInfo.Bool("keep_best", "also write the best epoch's weights to <weights>.best.safetensors (by early_stopping's monitor, else val_loss)", false),
    ];

    public static readonly TrainingSpec Default =
        new(OptimizerSpec.Default, new LossSpec(LossKind.CategoricalCrossentropy), ["accuracy"], 5, 32, 42);

    internal static TrainingSpec Read(MappingNode? map, SourceSpan span, DiagnosticBag diagnostics)
    {
        var r = new OptionReader(map, "training", span, Options, diagnostics);
        var optimizer = ReadOptimizer(r);
        var loss = LossSpec.Named(r.Choice("loss"));
        var metrics = new List<string>();
        switch (r.Node("metrics"))
        {
            case null: metrics.Add("accuracy"); break;
            case SequenceNode seq:
                foreach (var item in seq.Items)
                    if (r.ChoiceOf(item, KnownMetrics, "metric '{0}'", "metrics") is { } m) metrics.Add(m);
                break;
            case var other:
                diagnostics.Error(DiagnosticIds.WrongNodeType, other.Span, $"training: 'metrics' must be a list, not {other.Describe()}", "write metrics: [accuracy]");
                break;
        }
        var epochs = r.Int("epochs");
        var batch = r.Int("batch_size");
        var seed = r.Int("seed");
        EarlyStoppingSpec? early = null;
        switch (r.Node("early_stopping"))
        {
            case null: break;
            case MappingNode m:
                var e = new OptionReader(m, "early_stopping", m.Span, EarlyStoppingSpec.Options, diagnostics);
                early = EarlyStoppingSpec.Read(e);
                e.Finish();
                break;
            case var other:
                diagnostics.Error(DiagnosticIds.WrongNodeType, other.Span, $"training: 'early_stopping' must be a map, not {other.Describe()}",
                    "write early_stopping: { monitor: val_loss, patience: 3 }");
                break;
        }
        var keepBest = r.Bool("keep_best");
        r.Finish();
        return new TrainingSpec(optimizer, loss, metrics, epochs, batch, seed, early, keepBest);
    }

    private static OptimizerSpec ReadOptimizer(OptionReader r)
    {
        var node = r.Node("optimizer");
        var names = OptimizerSpec.Kinds.Select(k => k.Name).ToList();
        switch (node)
        {
            case null: return OptimizerSpec.Default;
            case ScalarNode s:
                return r.ChoiceOf(s, names, "optimizer '{0}'", "optimizers") is { } bare
                    ? OptimizerSpec.Bind(bare, null, s.Span, r.Diagnostics) : OptimizerSpec.Default;
            case MappingNode { Entries.Count: 1 } m:
            {
                var entry = m.Entries[0];
                if (r.ChoiceOf(entry.Key, names, "optimizer '{0}'", "optimizers") is not { } name) return OptimizerSpec.Default;
                if (entry.Value is not (MappingNode or ScalarNode { IsNull: true }))
                {
                    r.Diagnostics.Error(DiagnosticIds.WrongNodeType, entry.Value.Span, $"optimizer '{name}': options must be a map, not {entry.Value.Describe()}",
                        $"write optimizer: {{ {name}: {{ learning_rate: 0.001 }} }}");
                    return OptimizerSpec.Default;
                }
                return OptimizerSpec.Bind(name, entry.Value as MappingNode, entry.Key.Span, r.Diagnostics);
            }
            default:
                r.Diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"training: 'optimizer' must be a name or a one-key map, not {node.Describe()}",
                    "write optimizer: adam, or optimizer: { adam: { learning_rate: 0.001 } }");
                return OptimizerSpec.Default;
        }
    }
}
