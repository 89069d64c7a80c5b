using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using SpecNet.Checking;

namespace SpecNet.Planning;

/// <summary>Keras's model.summary(), plus MACs and the spec line of each layer; as text or as JSON.</summary>
public static class ModelSummary
{
    public static string ToText(ModelSpec model)
    {
        // A graph also shows what each layer reads (Keras's "Connected to"); a plain stack reads the layer above.
        bool graph = model.IsGraph;
        var rows = new List<string[]> { new[] { "Layer (type)", "Output shape", "Params", "MACs", graph ? "Connected to" : "", "Line" } };
        rows.Add(["input", model.Input.ToString(), "0", "0", "", ""]);
        foreach (var l in model.Layers)
            rows.Add([$"{l.Name} ({l.Kind.Name})", l.Output.ToString(), N(l.ParameterCount) + (l.Frozen && l.ParameterCount > 0 ? " frozen" : ""), N(l.Macs),
                graph ? string.Join(", ", Inputs(l)) : "", l.Span.Line.ToString(CultureInfo.InvariantCulture)]);
        var widths = Enumerable.Range(0, 6).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var sb = new StringBuilder();
        sb.Append($"Model: {model.Name}   input {model.Input}   hash {model.StructuralHash}\n");
        var rule = new string('-', widths.Sum() + (graph ? 5 : 4) * 3);
        sb.Append(rule).Append('\n');
        for (int i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            var connected = graph ? $"   {r[4].PadRight(widths[4])}" : "";
            sb.Append($"{r[0].PadRight(widths[0])}   {r[1].PadRight(widths[1])}   {r[2].PadLeft(widths[2])}   {r[3].PadLeft(widths[3])}{connected}   {r[5].PadLeft(widths[5])}".TrimEnd()).Append('\n');
            if (i == 0) sb.Append(rule).Append('\n');
        }
        sb.Append(rule).Append('\n');
        long nonTrainable = model.TotalParameters - model.TrainableParameters;
        sb.Append($"Total params:         {N(model.TotalParameters)} ({Bytes(model.WeightBytes)})\n");
        sb.Append($"Trainable params:     {N(model.TrainableParameters)}\n");
        sb.Append($"Non-trainable params: {N(nonTrainable)}" +
                  (model.Layers.Count(l => l.Frozen && l.ParameterCount > 0) is > 0 and var frozen ? $" ({frozen} frozen layer{(frozen == 1 ? "" : "s")})\n" : "\n"));
        sb.Append($"MACs per example:     {N(model.Macs)}\n");
        var training = new BufferLayout(model, training: true);
        var inference = new BufferLayout(model, training: false);
        long kept = StateValues(model, training: true);
        sb.Append($"Activation memory:    {Bytes(4 * (training.ActivationFloats + kept))} per example for training (what backward reads kept for it" +
                  (kept > 0 ? $", {Bytes(4 * kept)} of it in the layers' own buffers),\n" : "),\n"));
        sb.Append($"                      {Bytes(4 * (training.GradientFloats + training.GradientScratchFloats))} of gradients, {Bytes(4 * (inference.ActivationFloats + StateValues(model, training: false)))} for inference (buffers reused once dead)\n");
        sb.Append($"Weights memory:       {Bytes(model.WeightBytes)}\n");
        var t = model.Training;
        sb.Append($"Training:             {t.Optimizer.Name} (learning_rate {t.Optimizer.LearningRate}), {t.Loss}, {t.Epochs} epochs, batch {t.BatchSize}, seed {t.Seed}\n");
        var recipe = new[]
        {
            t.Optimizer.WeightDecay > 0 ? $"weight_decay {F(t.Optimizer.WeightDecay)}" : null,
            t.Optimizer.ClipNorm is { } n ? $"clipnorm {F(n)}" : null,
            t.Optimizer.GlobalClipNorm is { } g ? $"global_clipnorm {F(g)}" : null,
            t.Optimizer.ClipValue is { } v ? $"clipvalue {F(v)}" : null,
            t.ReduceLearningRate?.ToString(),
        }.OfType<string>().ToList();
        if (recipe.Count > 0) sb.Append($"                      {string.Join(", ", recipe)}\n");
        return sb.ToString();
    }

    public static JsonObject ToJson(ModelSpec model)
    {
        var training = new BufferLayout(model, training: true);
        var layers = new JsonArray();
        foreach (var l in model.Layers)
            layers.Add(new JsonObject
            {
                ["name"] = l.Name,
                ["type"] = l.Kind.Name,
                ["output_shape"] = new JsonArray(l.Output.Dims.Select(d => (JsonNode)d).ToArray()),
                ["params"] = l.ParameterCount,
                ["trainable_params"] = l.TrainableCount,
                ["macs"] = l.Macs,
                ["line"] = l.Span.Line,
                ["inputs"] = new JsonArray(Inputs(l).Select(i => (JsonNode)i).ToArray()),
            });
        return new JsonObject
        {
            ["name"] = model.Name,
            ["hash"] = model.StructuralHash,
            ["input_shape"] = new JsonArray(model.Input.Dims.Select(d => (JsonNode)d).ToArray()),
            ["total_params"] = model.TotalParameters,
            ["trainable_params"] = model.TrainableParameters,
            ["non_trainable_params"] = model.TotalParameters - model.TrainableParameters,
            ["macs"] = model.Macs,
            ["activation_bytes"] = model.ActivationBytes,
            ["gradient_bytes"] = 4 * (training.GradientFloats + training.GradientScratchFloats),
            ["layer_state_bytes"] = 4 * StateValues(model, training: true),
            ["inference_bytes"] = 4 * (new BufferLayout(model, training: false).ActivationFloats + StateValues(model, training: false)),
            ["weight_bytes"] = model.WeightBytes,
            ["layers"] = layers,
        };
    }

    /// <summary>Floats per example the layers keep in their own buffers (<see cref="SpecNet.Layers.Layer.StateValues"/>).</summary>
    public static long StateValues(ModelSpec model, bool training) => model.Layers.Sum(l => l.StateValues(training));

    /// <summary>What a layer reads: layer names, "input" for the model's input.</summary>
    private static IEnumerable<string> Inputs(SpecNet.Layers.Layer l) => l.Sources.Select(s => s?.Name ?? "input");

    public static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
    private static string F(double f) => ((float)f).ToString("G", CultureInfo.InvariantCulture); // options are read as float

    public static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KB",
        _ => (bytes / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture) + " MB",
    };
}
