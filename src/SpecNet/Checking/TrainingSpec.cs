using SpecNet.Diagnostics;
using SpecNet.Parsing;
using SpecNet.Schema;

namespace SpecNet.Checking;

/// <summary>An optimizer with every hyper-parameter resolved (Keras's names and defaults).</summary>
public sealed record OptimizerSpec(string Name, float LearningRate, float Beta1 = 0.9f, float Beta2 = 0.999f, float Epsilon = 1e-7f,
    float Momentum = 0, bool Nesterov = false, float WeightDecay = 0, float Rho = 0.9f)
{
    public static readonly OptimizerSpec Default = new("adam", 0.001f);

    private static OptionInfo Lr(string d) => new("learning_rate", "number > 0", d, "step size");
    private static readonly OptionInfo Beta1Info = new("beta_1", "number in [0, 1)", "0.9", "decay of the first moment");
    private static readonly OptionInfo Beta2Info = new("beta_2", "number in [0, 1)", "0.999", "decay of the second moment");
    private static readonly OptionInfo EpsilonInfo = new("epsilon", "number > 0", "1e-07", "added to the denominator");

    /// <summary>The optimizers and their options, as the spec language knows them.</summary>
    public static readonly IReadOnlyDictionary<string, IReadOnlyList<OptionInfo>> Schemas = new Dictionary<string, IReadOnlyList<OptionInfo>>
    {
        ["sgd"] = [Lr("0.01"), new("momentum", "number in [0, 1)", "0", "fraction of the last update kept"), new("nesterov", "bool", "false", "Nesterov momentum")],
        ["adam"] = [Lr("0.001"), Beta1Info, Beta2Info, EpsilonInfo],
        ["adamw"] = [Lr("0.001"), Beta1Info, Beta2Info, EpsilonInfo, new("weight_decay", "number >= 0", "0.004", "decoupled weight decay")],
        ["rmsprop"] = [Lr("0.001"), new("rho", "number in [0, 1)", "0.9", "decay of the squared-gradient average"), EpsilonInfo],
    };

    internal static OptimizerSpec Read(string name, MappingNode? options, SourceSpan span, DiagnosticBag diagnostics)
    {
        var r = new OptionReader(options, $"optimizer '{name}'", span, Schemas[name], diagnostics);
        float Has(string key, double min, double max, bool maxInclusive = false, bool minInclusive = true) =>
            Schemas[name].Any(o => o.Name == key) ? r.Float(key, min, max, maxInclusive, minInclusive) : 0;
        var spec = new OptimizerSpec(name,
            LearningRate: r.Float("learning_rate", 0, 10, minInclusive: false),
            Beta1: name.StartsWith("adam") ? Has("beta_1", 0, 1) : 0.9f,
            Beta2: name.StartsWith("adam") ? Has("beta_2", 0, 1) : 0.999f,
            Epsilon: name == "sgd" ? 1e-7f : Has("epsilon", 0, 1, maxInclusive: true, minInclusive: false),
            Momentum: name == "sgd" ? Has("momentum", 0, 1) : 0,
            Nesterov: name == "sgd" && r.Bool("nesterov"),
            WeightDecay: name == "adamw" ? Has("weight_decay", 0, 1, maxInclusive: true) : 0,
            Rho: name == "rmsprop" ? Has("rho", 0, 1) : 0.9f);
        r.Finish();
        return spec;
    }
}

/// <summary>
/// Keras's EarlyStopping: stop when <see cref="Monitor"/> has not improved by more than <see cref="MinDelta"/>
/// for <see cref="Patience"/> epochs; optionally go back to the best epoch's weights. "val_" monitors
/// the data's test set (the validation data).
/// </summary>
public sealed record EarlyStoppingSpec(string Monitor, double MinDelta, int Patience, bool RestoreBestWeights)
{
    public static readonly IReadOnlyList<string> Monitors = ["val_loss", "val_accuracy", "loss", "accuracy"];
    public bool HigherIsBetter => Monitor.EndsWith("accuracy", StringComparison.Ordinal);

    public static readonly IReadOnlyList<OptionInfo> Options =
    [
        new("monitor", "val_loss | val_accuracy | loss | accuracy", "val_loss", "the quantity watched"),
        new("min_delta", "number >= 0", "0", "smallest change that counts as an improvement"),
        new("patience", "int", "0", "epochs without improvement before stopping"),
        new("restore_best_weights", "bool", "false", "end with the best epoch's weights"),
    ];
}

/// <summary>The training section: how to fit the model (Keras's compile + fit arguments).</summary>
public sealed record TrainingSpec(OptimizerSpec Optimizer, string Loss, IReadOnlyList<string> Metrics, int Epochs, int BatchSize, int Seed,
    EarlyStoppingSpec? EarlyStopping = null, bool KeepBest = false)
{
    public static readonly IReadOnlyList<string> Losses = ["categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy", "mse"];
    public static readonly IReadOnlyList<string> KnownMetrics = ["accuracy"];

    public static readonly IReadOnlyList<OptionInfo> Options =
    [
        new("optimizer", "name | {name: {options}}", "adam", "sgd, adam, adamw or rmsprop, with Keras's defaults"),
        new("loss", "name", "categorical_crossentropy", string.Join(", ", Losses)),
        new("metrics", "[names]", "[accuracy]", "metrics reported per epoch"),
        new("epochs", "int", "5", "passes over the training data"),
        new("batch_size", "int", "32", "examples per gradient step"),
        new("seed", "int", "42", "seeds initialisation, shuffling and dropout"),
        new("early_stopping", "{monitor, min_delta, patience, restore_best_weights}", "", "stop when the monitored metric stops improving (Keras's EarlyStopping)"),
        new("keep_best", "bool", "false", "also write the best epoch's weights to <weights>.best.safetensors (by early_stopping's monitor, else val_loss)"),
    ];

    public static readonly TrainingSpec Default = new(OptimizerSpec.Default, "categorical_crossentropy", ["accuracy"], 5, 32, 42);

    internal static TrainingSpec Read(MappingNode? map, SourceSpan span, DiagnosticBag diagnostics)
    {
        var r = new OptionReader(map, "training", span, Options, diagnostics);
        var optimizer = ReadOptimizer(r);
        var loss = r.Choice("loss", Losses, "loss");
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
        var epochs = r.Int("epochs", 1, 1_000_000);
        var batch = r.Int("batch_size", 1, 1 << 16);
        var seed = r.Int("seed", 0, int.MaxValue);
        EarlyStoppingSpec? early = null;
        switch (r.Node("early_stopping"))
        {
            case null: break;
            case MappingNode m:
                var e = new OptionReader(m, "early_stopping", m.Span, EarlyStoppingSpec.Options, diagnostics);
                early = new EarlyStoppingSpec(e.Choice("monitor", EarlyStoppingSpec.Monitors, "monitor"), e.Float("min_delta", 0, 1e6),
                    e.Int("patience", 0, 1_000_000), e.Bool("restore_best_weights"));
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
        var names = OptimizerSpec.Schemas.Keys.ToList();
        switch (node)
        {
            case null: return OptimizerSpec.Default;
            case ScalarNode s:
                return r.ChoiceOf(s, names, "optimizer '{0}'", "optimizers") is { } bare
                    ? OptimizerSpec.Read(bare, null, s.Span, r.Diagnostics) : OptimizerSpec.Default;
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
                return OptimizerSpec.Read(name, entry.Value as MappingNode, entry.Key.Span, r.Diagnostics);
            }
            default:
                r.Diagnostics.Error(DiagnosticIds.WrongNodeType, node.Span, $"training: 'optimizer' must be a name or a one-key map, not {node.Describe()}",
                    "write optimizer: adam, or optimizer: { adam: { learning_rate: 0.001 } }");
                return OptimizerSpec.Default;
        }
    }
}
