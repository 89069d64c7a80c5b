using SpecNet.Diagnostics;
using SpecNet.Parsing;
using SpecNet.Schema;

namespace SpecNet.Checking;

/// <summary>The losses of the spec language (Keras's names).</summary>
public enum LossKind { CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy, MeanSquaredError }

/// <summary>A loss, resolved at bind time, with Keras's label smoothing for the cross-entropies (0: none).</summary>
public sealed record LossSpec(LossKind Kind, double LabelSmoothing = 0)
{
    public static readonly IReadOnlyList<string> Names = ["categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy", "mse"];

    public string Name => Names[(int)Kind];
    public bool IsCrossentropy => Kind != LossKind.MeanSquaredError;
    public static LossSpec Named(string name) => new((LossKind)Names.ToList().IndexOf(name));

    /// <summary>The options of each loss (Keras's: SparseCategoricalCrossentropy and MSE have no label smoothing).</summary>
    public static IReadOnlyList<OptionInfo> OptionsOf(string name) =>
        name is "categorical_crossentropy" or "binary_crossentropy"
            ? [OptionInfo.Number("label_smoothing", "targets become (1 - s) · one-hot + s / classes (binary: s / 2)", 0, 0, 1)]
            : [];

    public override string ToString() => LabelSmoothing == 0 ? Name : $"{Name}(label_smoothing={((float)LabelSmoothing).ToString(System.Globalization.CultureInfo.InvariantCulture)})";
}

/// <summary>
/// An optimizer kind as the spec language knows it: its name, its options (Keras's names and defaults),
/// and how to bind them. All kinds are listed once in <see cref="OptimizerSpec.Kinds"/>.
/// </summary>
public sealed record OptimizerKind(string Name, IReadOnlyList<OptionInfo> Options, Func<OptionReader, OptimizerSpec> Bind);

/// <summary>
/// An optimizer with every hyper-parameter resolved at bind time; Training/Optimizers has one class per
/// rule. What every Keras 3 optimizer takes lives here: the learning rate (a number or a schedule),
/// decoupled weight decay and gradient clipping.
/// </summary>
public abstract record OptimizerSpec
{
    public required string Name { get; init; }
    public required LearningRate LearningRate { get; init; }
    /// <summary>Keras's decoupled weight decay: w -= w · weight_decay · lr before each update (0: none).</summary>
    public double WeightDecay { get; init; }
    /// <summary>Each gradient scaled to at most this L2 norm.</summary>
    public double? ClipNorm { get; init; }
    /// <summary>Each gradient element clipped to [-v, v].</summary>
    public double? ClipValue { get; init; }
    /// <summary>All gradients scaled together to at most this global L2 norm.</summary>
    public double? GlobalClipNorm { get; init; }

    /// <summary>The options as bound, in declaration order (optional ones only when set): what the run's identity records.</summary>
    public IReadOnlyList<(string Key, object Value)> Values { get; init; } = [];

    private const double MaxLearningRate = 10, MaxClip = 1e9;

    private static OptionInfo LearningRateOption(double @default) =>
        OptionInfo.Number("learning_rate", "step size", @default, 0, MaxLearningRate, minInclusive: false)
            with { Form = "number | {cosine_decay | exponential_decay | piecewise_constant_decay: {options}}" };

    private static readonly OptionInfo Beta1 = OptionInfo.Fraction("beta_1", "decay of the first moment", 0.9);
    private static readonly OptionInfo Beta2 = OptionInfo.Fraction("beta_2", "decay of the second moment", 0.999);
    private static readonly OptionInfo Epsilon = OptionInfo.Number("epsilon", "added to the denominator", 1e-7, 0, 1, minInclusive: false);

    /// <summary>What every optimizer takes besides its own options (Keras 3's base optimizer).</summary>
    private static OptionInfo[] Common(double? weightDecay = null) =>
    [
        OptionInfo.Number("weight_decay", "decoupled weight decay: w -= w · weight_decay · learning_rate before each update", weightDecay, 0, 1)
            with { Required = false, HashedOnlyWhenSet = true },
        OptionInfo.Number("clipnorm", "clip each gradient to this L2 norm", null, 0, MaxClip, minInclusive: false) with { Required = false },
        OptionInfo.Number("clipvalue", "clip each gradient element to [-clipvalue, clipvalue]", null, 0, MaxClip, minInclusive: false) with { Required = false },
        OptionInfo.Number("global_clipnorm", "clip all gradients together to this global L2 norm", null, 0, MaxClip, minInclusive: false) with { Required = false },
    ];

    public static readonly IReadOnlyList<OptimizerKind> Kinds =
    [
        new("sgd", [LearningRateOption(0.01), OptionInfo.Fraction("momentum", "fraction of the last update kept", 0),
                    OptionInfo.Bool("nesterov", "Nesterov momentum", false), .. Common()],
            r => new SgdSpec { Name = "sgd", LearningRate = null!, Momentum = r.Number("momentum"), Nesterov = r.Bool("nesterov") }),
        new("adam", [LearningRateOption(0.001), Beta1, Beta2, Epsilon, .. Common()],
            r => new AdamSpec { Name = "adam", LearningRate = null!, Beta1 = r.Number("beta_1"), Beta2 = r.Number("beta_2"), Epsilon = r.Number("epsilon") }),
        new("adamw", [LearningRateOption(0.001), Beta1, Beta2, Epsilon, .. Common(weightDecay: 0.004)],
            r => new AdamSpec { Name = "adamw", LearningRate = null!, Beta1 = r.Number("beta_1"), Beta2 = r.Number("beta_2"), Epsilon = r.Number("epsilon") }),
        new("rmsprop", [LearningRateOption(0.001), OptionInfo.Fraction("rho", "decay of the squared-gradient average", 0.9), Epsilon, .. Common()],
            r => new RmsPropSpec { Name = "rmsprop", LearningRate = null!, Rho = r.Number("rho"), Epsilon = r.Number("epsilon") }),
    ];

    public static OptimizerKind? Find(string name) => Kinds.FirstOrDefault(k => k.Name == name);

    public static readonly OptimizerSpec Default = Bind("adam", null, default, new DiagnosticBag());

    internal static OptimizerSpec Bind(string name, MappingNode? options, SourceSpan span, DiagnosticBag diagnostics)
    {
        var kind = Find(name)!;
        var r = new OptionReader(options, $"optimizer '{name}'", span, kind.Options, diagnostics);
        var learningRate = LearningRate.Read(r) ?? new LearningRate.Constant(0.001);
        var spec = kind.Bind(r) with
        {
            LearningRate = learningRate,
            WeightDecay = r.Has("weight_decay") || kind.Options.First(o => o.Name == "weight_decay").Default is not null ? r.Number("weight_decay") : 0,
            ClipNorm = r.Has("clipnorm") ? r.Number("clipnorm") : null,
            ClipValue = r.Has("clipvalue") ? r.Number("clipvalue") : null,
            GlobalClipNorm = r.Has("global_clipnorm") ? r.Number("global_clipnorm") : null,
        };
        int clips = new[] { "clipnorm", "clipvalue", "global_clipnorm" }.Count(r.Has);
        if (clips > 1)
            diagnostics.Error(DiagnosticIds.InvalidCombination, r.SpanOf("global_clipnorm"), $"optimizer '{name}': give one of clipnorm, clipvalue and global_clipnorm",
                "Keras applies only one of them; keep the one you mean");
        r.Finish();
        return spec with { Values = kind.Options.Where(o => r.Values.ContainsKey(o.Name) && (!o.HashedOnlyWhenSet || r.Has(o.Name))).Select(o => (o.Name, r.Values[o.Name])).ToList() };
    }

    /// <summary>"adam(learning_rate=0.001, beta_1=0.9, ...)": for diffs, run identities and checkpoints.</summary>
    public string Describe() =>
        $"{Name}({string.Join(", ", Values.Select(v => $"{v.Key}={(v.Value is IFormattable f ? f.ToString(null, System.Globalization.CultureInfo.InvariantCulture) : v.Value)}"))})";
}

/// <summary>Keras SGD.</summary>
public sealed record SgdSpec : OptimizerSpec
{
    public required float Momentum { get; init; }
    public required bool Nesterov { get; init; }
}

/// <summary>Keras Adam (and AdamW: Adam with weight_decay 0.004 by default).</summary>
public sealed record AdamSpec : OptimizerSpec
{
    public required float Beta1 { get; init; }
    public required float Beta2 { get; init; }
    public required float Epsilon { get; init; }
}

/// <summary>Keras RMSprop (not centered, no momentum).</summary>
public sealed record RmsPropSpec : OptimizerSpec
{
    public required float Rho { get; init; }
    public required float Epsilon { get; init; }
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

/// <summary>
/// Keras's ReduceLROnPlateau: when <see cref="Monitor"/> has not improved by more than min_delta for
/// patience epochs, multiply the learning rate by factor (not below min_lr), then wait cooldown epochs.
/// </summary>
public sealed record PlateauSpec(Metric Monitor, double Factor, int Patience, double MinDelta, int Cooldown, double MinLearningRate)
{
    public string MonitorName => EarlyStoppingSpec.Monitors[(int)Monitor];
    public bool HigherIsBetter => Monitor is Metric.Accuracy or Metric.ValAccuracy;
    public bool OnValidation => Monitor is Metric.ValLoss or Metric.ValAccuracy;

    public static readonly IReadOnlyList<OptionInfo> Options =
    [
        OptionInfo.Choice("monitor", "the quantity watched", EarlyStoppingSpec.Monitors, "val_loss"),
        OptionInfo.Number("factor", "new rate = rate · factor", 0.1, 0, 1, minInclusive: false, maxInclusive: false),
        OptionInfo.Int("patience", "epochs without improvement before the rate is reduced", 10, 0, 1_000_000),
        OptionInfo.Number("min_delta", "smallest change that counts as an improvement", 1e-4, 0, 1e6),
        OptionInfo.Int("cooldown", "epochs to wait after a reduction before counting again", 0, 0, 1_000_000),
        OptionInfo.Number("min_lr", "the rate never goes below this", 0, 0, 10),
    ];

    internal static PlateauSpec Read(OptionReader r) =>
        new(r.Choice<Metric>("monitor"), r.Number("factor"), r.Int("patience"), r.Number("min_delta"), r.Int("cooldown"), r.Number("min_lr"));

    public override string ToString() => FormattableString.Invariant(
        $"reduce_lr_on_plateau(monitor={MonitorName}, factor={Factor}, patience={Patience}, min_delta={MinDelta}, cooldown={Cooldown}, min_lr={MinLearningRate})");
}

/// <summary>The training section: how to fit the model (Keras's compile + fit arguments).</summary>
public sealed record TrainingSpec(OptimizerSpec Optimizer, LossSpec Loss, IReadOnlyList<string> Metrics, int Epochs, int BatchSize, int Seed,
    EarlyStoppingSpec? EarlyStopping = null, bool KeepBest = false, PlateauSpec? ReduceLearningRate = null)
{
    /// <summary>training.init_from: a weights file to start from (full path; the spec's folder resolves a relative one), where layer names and shapes match.</summary>
    public string? InitFrom { get; init; }
    /// <summary>Where init_from is written, for the warnings about it.</summary>
    public SourceSpan InitFromSpan { get; init; }

    public static readonly IReadOnlyList<string> KnownMetrics = ["accuracy"];

    public static readonly IReadOnlyList<OptionInfo> Options =
    [
        OptionInfo.Structure("optimizer", "name | {name: {options}}", "sgd, adam, adamw or rmsprop, with Keras's defaults") with { DefaultNote = "adam" },
        OptionInfo.Choice("loss", string.Join(", ", LossSpec.Names) + "; options as {name: {label_smoothing: s}}", LossSpec.Names, "categorical_crossentropy")
            with { Form = "name | {name: {label_smoothing}}" },
        OptionInfo.Structure("metrics", "[names]", "metrics reported per epoch") with { DefaultNote = "[accuracy]" },
        OptionInfo.Int("epochs", "passes over the training data", 5, 1, 1_000_000),
        OptionInfo.Int("batch_size", "examples per gradient step", 32, 1, 1 << 16),
        OptionInfo.Int("seed", "seeds initialisation, shuffling and dropout", 42, 0, int.MaxValue),
        OptionInfo.Structure("early_stopping", "{monitor, min_delta, patience, restore_best_weights}",
            "stop when the monitored metric stops improving (Keras's EarlyStopping)"),
        OptionInfo.Bool("keep_best", "also write the best epoch's weights to <weights>.best.safetensors (by early_stopping's monitor, else val_loss)", false),
        OptionInfo.Structure("reduce_lr_on_plateau", "{monitor, factor, patience, min_delta, cooldown, min_lr}",
            "lower the learning rate when the monitored metric stops improving (Keras's ReduceLROnPlateau)"),
        OptionInfo.Path("init_from", "a weights file to start from: every parameter whose layer name and shape match is loaded, the rest start fresh (fine-tuning)"),
    ];

    public static readonly TrainingSpec Default =
        new(OptimizerSpec.Default, new LossSpec(LossKind.CategoricalCrossentropy), ["accuracy"], 5, 32, 42);

    internal static TrainingSpec Read(MappingNode? map, SourceSpan span, DiagnosticBag diagnostics, string baseFolder)
    {
        var r = new OptionReader(map, "training", span, Options, diagnostics)
            { Elsewhere = (key, value) => Misplaced.Hint(Misplaced.Section.Training, key, value, optimizer: Misplaced.OptimizerOf(map)) };
        var optimizer = ReadOptimizer(r);
        var loss = ReadLoss(r);
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
        PlateauSpec? plateau = null;
        switch (r.Node("reduce_lr_on_plateau"))
        {
            case null: break;
            case MappingNode m:
                var p = new OptionReader(m, "reduce_lr_on_plateau", m.Span, PlateauSpec.Options, diagnostics);
                plateau = PlateauSpec.Read(p);
                p.Finish();
                if (!optimizer.LearningRate.IsConstant)
                    diagnostics.Error(DiagnosticIds.TrainingCombination, r.SpanOf("reduce_lr_on_plateau"),
                        $"training: reduce_lr_on_plateau needs a constant learning rate, but the optimizer follows {optimizer.LearningRate.ToString()!.Split('(')[0]}",
                        "use one of the two (as in Keras, a schedule's rate cannot be set from outside)");
                break;
            case var other:
                diagnostics.Error(DiagnosticIds.WrongNodeType, other.Span, $"training: 'reduce_lr_on_plateau' must be a map, not {other.Describe()}",
                    "write reduce_lr_on_plateau: { monitor: val_loss, factor: 0.5, patience: 2 }");
                break;
        }
        var initFrom = r.String("init_from") is { } written ? System.IO.Path.GetFullPath(written, baseFolder) : null;
        if (initFrom is not null && !File.Exists(initFrom))
            diagnostics.Warning(DiagnosticIds.DataFileMissing, r.SpanOf("init_from"), $"training: there is no file '{r.String("init_from")}' to start from (paths are relative to the spec's folder)",
                "training will fail until it exists: train the model it comes from first");
        var initFromSpan = r.SpanOf("init_from");
        r.Finish();
        return new TrainingSpec(optimizer, loss, metrics, epochs, batch, seed, early, keepBest, plateau) { InitFrom = initFrom, InitFromSpan = initFromSpan };
    }

    /// <summary>`loss: name`, or `loss: { name: { label_smoothing: s } }`.</summary>
    private static LossSpec ReadLoss(OptionReader r)
    {
        if (r.Node("loss") is not MappingNode map) return LossSpec.Named(r.Choice("loss"));
        var d = r.Diagnostics;
        if (map.Entries.Count != 1)
        {
            d.Error(DiagnosticIds.WrongNodeType, map.Span, "training: 'loss' is a name or a one-key map {name: {options}}", "write loss: { categorical_crossentropy: { label_smoothing: 0.1 } }");
            return TrainingSpec.Default.Loss;
        }
        var entry = map.Entries[0];
        if (r.ChoiceOf(entry.Key, LossSpec.Names, "loss '{0}'", "losses") is not { } name) return TrainingSpec.Default.Loss;
        var options = new OptionReader(entry.Value as MappingNode, $"loss '{name}'", entry.Key.Span, LossSpec.OptionsOf(name), d);
        var loss = LossSpec.Named(name) with { LabelSmoothing = LossSpec.OptionsOf(name).Count > 0 ? options.Number("label_smoothing") : 0 };
        options.Finish();
        return loss;
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
