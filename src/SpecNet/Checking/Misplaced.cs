using SpecNet.Layers;
using SpecNet.Parsing;
using SpecNet.Schema;

namespace SpecNet.Checking;

/// <summary>
/// Where a key written in the wrong part of a spec belongs: `epochs` at the top (Keras's fit argument), `learning_rate`
/// under training (PyTorch configs), `dropout: 0.2` inside a dense layer. The hint shows the right place with the user's own
/// value, so the fix is a move, not a search of the README. The sections' own declarations are the source: nothing is listed
/// twice.
/// </summary>
internal static class Misplaced
{
    /// <summary>The part of a spec a key was found in.</summary>
    public enum Section { Top, Data, Training, Layer }

    /// <summary>The training options that are Keras callbacks (EarlyStopping, ModelCheckpoint's best-only, ReduceLROnPlateau).</summary>
    private static readonly string[] CallbackOptions = ["early_stopping", "keep_best", "reduce_lr_on_plateau"];

    private static readonly string[] ScheduleWords = ["schedule", "scheduler", "lr_schedule", "lr_scheduler", "learning_rate_schedule"];

    /// <summary>The hint for <paramref name="key"/>, unknown in <paramref name="here"/>, when another part of a spec takes it; else null.</summary>
    /// <param name="takesActivation">a layer with an activation option, where `relu: true` means activation: relu</param>
    /// <param name="optimizer">the optimizer the spec's training section names, if any: an optimizer option moves into it</param>
    public static string? Hint(Section here, string key, SyntaxNode value, bool takesActivation = false, string? optimizer = null)
    {
        var v = Text(value);
        if (here != Section.Layer && key is "callbacks") return Callbacks(value, here);
        if (takesActivation && Find(key, Activations.Known) is { } activation)
            return $"an activation is this layer's option: activation: {activation}";
        string training = here == Section.Training ? "" : "training: { ", end = here == Section.Training ? "" : " }";
        if (here != Section.Training && Find(key, TrainingSpec.Options.Select(o => o.Name)) is { } t)
            return $"'{t}' belongs in the training section: training: {{ {t}: {v} }}";
        if (Find(key, OptimizerSpec.Kinds.SelectMany(k => k.Options).Select(o => o.Name)) is { } o)
        {
            bool Takes(OptimizerKind k) => k.Options.Any(x => x.Name == o);
            // decoupled weight decay is what adamw is for; else adam when it takes the option (momentum is sgd's, rho rmsprop's)
            var kind = optimizer is not null && OptimizerSpec.Find(optimizer) is { } named && Takes(named) ? named
                : o == "weight_decay" ? OptimizerSpec.Find("adamw")! : OptimizerSpec.Kinds.FirstOrDefault(k => k.Name == "adam" && Takes(k)) ?? OptimizerSpec.Kinds.First(Takes);
            return $"'{o}' is an option of the optimizer{(here == Section.Layer ? ", the same for every layer" : "")}: " +
                $"{training}optimizer: {{ {kind.Name}: {{ {o}: {v} }} }}{end}";
        }
        if (Find(key, [.. LearningRate.Options.Keys, .. ScheduleWords]) is { } schedule)
        {
            // cosine_decay: {...} moved as written; schedule: { cosine_decay: {...} } too; else an example
            var rate = LearningRate.Options.ContainsKey(schedule) ? $"{{ {schedule}: {v} }}"
                : value is MappingNode { Entries: [{ Key.Value: var name }] } && LearningRate.Options.ContainsKey(name) ? v
                : "{ cosine_decay: { initial_learning_rate: 0.001, decay_steps: 1000 } }";
            return $"a learning-rate schedule is the optimizer's learning_rate: {training}optimizer: {{ {optimizer ?? "adam"}: {{ learning_rate: {rate} }} }}{end}";
        }
        if (Find(key, LossSpec.Names.SelectMany(LossSpec.OptionsOf).Select(x => x.Name)) is { } l)
            return $"'{l}' is an option of the loss: {training}loss: {{ categorical_crossentropy: {{ {l}: {v} }} }}{end}";
        if (here != Section.Data && Find(key, DataSpec.Options.Select(x => x.Name)) is { } d)
            return $"'{d}' belongs in the data section: data: {{ {d}: {v} }}";
        if (Find(key, LayerRegistry.Names) is { } layer)
            return here == Section.Layer
                ? $"'{layer}' is a layer of its own: add it to the list after this one, as - {layer}{LayerOptions(layer, value)}"
                : $"'{layer}' is a layer: it goes in the layers list, as - {layer}{LayerOptions(layer, value)}";
        if (here != Section.Layer && key is "shape")
            return $"the shape of one example is the input's: input: {{ shape: {v} }}";
        return null;
    }

    /// <summary>
    /// Keras's callbacks list (`callbacks: [early_stopping: {patience: 3}]`): here each is an option of the training section,
    /// written as it is; ModelCheckpoint's best-only saving is keep_best.
    /// </summary>
    private static string Callbacks(SyntaxNode value, Section here)
    {
        var moved = new List<string>();
        foreach (var item in value is SequenceNode list ? list.Items : [value])
        {
            var (key, options) = item switch
            {
                MappingNode { Entries: [var only] } => (only.Key.Value, only.Value),
                ScalarNode { IsNull: false } s => (s.Value, null),
                _ => (null, null),
            };
            if (key is null) continue;
            if (Find(key, ["model_checkpoint"]) is not null) moved.Add("keep_best: true");
            else if (Find(key, CallbackOptions) is { } option)
                moved.Add($"{option}: {(options is null or ScalarNode { IsNull: true } ? "{}" : Text(options))}");
        }
        if (moved.Count == 0) return $"callbacks are options of the training section: {string.Join(", ", CallbackOptions)}";
        var written = string.Join(", ", moved);
        return $"callbacks are options of the training section: {(here == Section.Training ? written : $"training: {{ {written} }}")}";
    }

    /// <summary>
    /// At the top of a spec, train, test or validation holding a data source (a folder, a CSV, IDX files): the data section's,
    /// though 'train' reads like a near miss of 'training'.
    /// </summary>
    public static string? DataSourceAtTop(string key, SyntaxNode value) =>
        key is "train" or "test" or "validation" && value is MappingNode map && map.Entries.Any(e => DataSpec.SourceOptions.Any(o => o.Name == e.Key.Value))
            ? $"'{key}' belongs in the data section: data: {{ {key}: {Text(value)} }}" : null;

    /// <summary>The optimizer a training section names (optimizer: sgd, or optimizer: { sgd: {...} }), when it is one.</summary>
    public static string? OptimizerOf(SyntaxNode? training) =>
        (training as MappingNode)?.Find("optimizer")?.Value switch
        {
            ScalarNode { IsNull: false } s => OptimizerSpec.Find(s.Value)?.Name,
            MappingNode { Entries: [var only] } => OptimizerSpec.Find(only.Key.Value)?.Name,
            _ => null,
        };

    /// <summary>The known name <paramref name="key"/> is, or is a near miss of (Keras's spellings, abbreviations, typos).</summary>
    private static string? Find(string key, IEnumerable<string> names)
    {
        var list = names.Distinct().ToList();
        return list.Contains(key) ? key : Names.Suggest(key, list);
    }

    /// <summary>
    /// A layer's options after its kind: the required ones, the user's value given to the first (dropout: 0.2 -> rate: 0.2,
    /// dense: 10 -> units: 10); nothing for a kind without any (flatten: true -> flatten).
    /// </summary>
    public static string LayerOptions(string kind, SyntaxNode value)
    {
        var required = LayerRegistry.Find(kind)!.Options.Where(o => o.Required).ToList();
        if (required.Count == 0) return "";
        var given = value is ScalarNode { IsNull: false } s && !bool.TryParse(s.Value, out _) ? s.Value : null;
        return ": { " + string.Join(", ", required.Select((o, i) => $"{o.Name}: {(i == 0 && given is not null ? given : "...")}")) + " }";
    }

    /// <summary>The value as written, in flow style, when it is short; else "...".</summary>
    private static string Text(SyntaxNode value) => Flow(value) is { Length: <= 100 } text ? text : "...";

    private static string Flow(SyntaxNode node) => node switch
    {
        ScalarNode { IsNull: true } => "...",
        ScalarNode s => s.Quoted ? $"\"{s.Value}\"" : s.Value,
        SequenceNode q => "[" + string.Join(", ", q.Items.Select(Flow)) + "]",
        MappingNode m => "{ " + string.Join(", ", m.Entries.Select(e => $"{e.Key.Value}: {Flow(e.Value)}")) + " }",
        _ => "...",
    };
}
