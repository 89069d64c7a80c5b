using System.Globalization;
using System.Text.Json.Nodes;
using SpecNet.Layers;
using SpecNet.Schema;

namespace SpecNet.Checking;

/// <summary>
/// The spec language as a JSON Schema (draft-07, what yaml-language-server reads for completion and
/// hover docs), generated from the same option lists the compiler reads: the layer registry, the
/// training, optimizer, early-stopping and data schemas. Nothing here is written by hand per layer.
/// </summary>
public static class SpecSchema
{
    public static JsonObject Build()
    {
        var layers = new JsonArray
        {
            new JsonObject
            {
                ["description"] = "a layer kind without options, written bare: - flatten",
                ["enum"] = new JsonArray(LayerRegistry.Kinds.Where(k => k.Options.All(o => !o.Required)).Select(k => (JsonNode)k.Name).ToArray()),
            },
        };
        foreach (var kind in LayerRegistry.Kinds)
        {
            var options = Map([new OptionInfo("name", "text", "", "the layer's name (default: <kind>_<n>); names the tensors in the weights file"), .. kind.Options]);
            layers.Add(new JsonObject
            {
                ["type"] = "object",
                ["description"] = kind.Summary,
                ["additionalProperties"] = false,
                ["required"] = new JsonArray(kind.Name),
                ["properties"] = new JsonObject
                {
                    [kind.Name] = kind.Options.Any(o => o.Required) ? options : new JsonObject { ["anyOf"] = new JsonArray(options, new JsonObject { ["type"] = "null" }) },
                },
            });
        }
        var optimizers = new JsonArray { new JsonObject { ["enum"] = new JsonArray(OptimizerSpec.Schemas.Keys.Select(k => (JsonNode)k).ToArray()) } };
        foreach (var (name, opts) in OptimizerSpec.Schemas)
            optimizers.Add(new JsonObject
            {
                ["type"] = "object", ["additionalProperties"] = false, ["required"] = new JsonArray(name),
                ["properties"] = new JsonObject { [name] = Map(opts) },
            });
        var training = Map(TrainingSpec.Options);
        var trainingProps = (JsonObject)training["properties"]!;
        trainingProps["optimizer"] = new JsonObject { ["description"] = Doc(TrainingSpec.Options.First(o => o.Name == "optimizer")), ["anyOf"] = optimizers };
        trainingProps["metrics"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["enum"] = new JsonArray(TrainingSpec.KnownMetrics.Select(m => (JsonNode)m).ToArray()) } };
        trainingProps["early_stopping"] = Map(EarlyStoppingSpec.Options);
        var files = Map(DataSpec.SourceOptions);
        ((JsonObject)files["properties"]!)["label"] = new JsonObject { ["type"] = new JsonArray("string", "integer"), ["description"] = Doc(DataSpec.SourceOptions.First(o => o.Name == "label")) };
        var data = Map(DataSpec.Options);
        var dataProps = (JsonObject)data["properties"]!;
        dataProps["dataset"] = new JsonObject { ["enum"] = new JsonArray(DataSpec.NamedDatasets.Select(d => (JsonNode)d).ToArray()), ["description"] = Doc(DataSpec.Options[0]) };
        foreach (var split in new[] { "train", "test", "validation" }) dataProps[split] = files.DeepClone();
        dataProps["labels"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" }, ["description"] = Doc(DataSpec.Options.First(o => o.Name == "labels")) };
        var perChannel = new JsonObject { ["anyOf"] = new JsonArray(new JsonObject { ["type"] = "number" }, new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "number" } }) };
        var preprocess = Map(DataSpec.PreprocessOptions);
        ((JsonObject)preprocess["properties"]!)["mean"] = perChannel.DeepClone();
        ((JsonObject)preprocess["properties"]!)["std"] = perChannel.DeepClone();
        dataProps["preprocess"] = preprocess;
        dataProps["augment"] = Map(DataSpec.AugmentOptions);
        return new JsonObject
        {
            ["$schema"] = "http://json-schema.org/draft-07/schema#",
            ["title"] = "SpecNet spec",
            ["description"] = "A neural network declared in YAML: input shape, layer stack, training, data. See `specnet layers`.",
            ["type"] = "object",
            ["additionalProperties"] = false,
            ["required"] = new JsonArray("input", "layers"),
            ["properties"] = new JsonObject
            {
                ["name"] = new JsonObject { ["type"] = "string", ["description"] = "the model's name (default: the file name)" },
                ["description"] = new JsonObject { ["type"] = "string" },
                ["input"] = new JsonObject
                {
                    ["description"] = "the shape of one example: { shape: [height, width, channels] } or { shape: [features] }; or just the list",
                    ["anyOf"] = new JsonArray(
                        new JsonObject
                        {
                            ["type"] = "object", ["additionalProperties"] = false, ["required"] = new JsonArray("shape"),
                            ["properties"] = new JsonObject { ["shape"] = ShapeSchema() },
                        },
                        ShapeSchema()),
                },
                ["data"] = data,
                ["layers"] = new JsonObject { ["type"] = "array", ["minItems"] = 1, ["description"] = "the layer stack, first to last", ["items"] = new JsonObject { ["anyOf"] = layers } },
                ["training"] = training,
            },
        };
    }

    private static JsonObject ShapeSchema() => new()
    {
        ["description"] = "[height, width, channels] of one example, or [features]",
        ["type"] = "array", ["items"] = new JsonObject { ["type"] = "integer", ["minimum"] = 1 },
        ["oneOf"] = new JsonArray(new JsonObject { ["minItems"] = 3, ["maxItems"] = 3 }, new JsonObject { ["minItems"] = 1, ["maxItems"] = 1 }),
    };

    /// <summary>An options map as an object schema; each option's type from its declared type text.</summary>
    private static JsonObject Map(IReadOnlyList<OptionInfo> options)
    {
        var properties = new JsonObject();
        foreach (var o in options) properties[o.Name] = Property(o);
        var map = new JsonObject { ["type"] = "object", ["additionalProperties"] = false, ["properties"] = properties };
        var required = options.Where(o => o.Required).Select(o => (JsonNode)o.Name).ToArray();
        if (required.Length > 0) map["required"] = new JsonArray(required);
        return map;
    }

    private static string Doc(OptionInfo o) => o.Required ? $"{o.Doc} (required)" : string.IsNullOrEmpty(o.Default) ? o.Doc : $"{o.Doc} (default: {o.Default})";

    /// <summary>The declared type text, read as a schema: "int", "int | [h, w]", "valid | same", "number in [0, 1)", "number > 0", "bool", "name", "path", "text".</summary>
    private static JsonObject Property(OptionInfo o)
    {
        var t = o.Type;
        var p = t switch
        {
            "int" => new JsonObject { ["type"] = "integer", ["minimum"] = o.Name == "seed" || o.Name == "patience" ? 0 : 1 },
            "int | [h, w]" => new JsonObject
            {
                ["anyOf"] = new JsonArray(
                    new JsonObject { ["type"] = "integer", ["minimum"] = 1 },
                    new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "integer", ["minimum"] = 1 }, ["minItems"] = 2, ["maxItems"] = 2 }),
            },
            "bool" => new JsonObject { ["type"] = "boolean" },
            "text" or "path" => new JsonObject { ["type"] = "string" },
            "name" when o.Name == "activation" => new JsonObject { ["enum"] = new JsonArray(Activations.Known.Select(a => (JsonNode)a).ToArray()) },
            "name" when o.Name == "loss" => new JsonObject { ["enum"] = new JsonArray(TrainingSpec.Losses.Select(a => (JsonNode)a).ToArray()) },
            "number in [0, 1)" => new JsonObject { ["type"] = "number", ["minimum"] = 0, ["exclusiveMaximum"] = 1 },
            "number > 0" => new JsonObject { ["type"] = "number", ["exclusiveMinimum"] = 0 },
            "number >= 0" => new JsonObject { ["type"] = "number", ["minimum"] = 0 },
            _ when t.Contains(" | ") && !t.Contains('{') && !t.Contains('[') => new JsonObject { ["enum"] = new JsonArray(t.Split(" | ").Select(v => (JsonNode)v).ToArray()) },
            _ => new JsonObject(),
        };
        p["description"] = Doc(o);
        if (!o.Required && !string.IsNullOrEmpty(o.Default) && o.Default != "pool_size")
            p["default"] = t switch
            {
                "int" or "int | [h, w]" => JsonValue.Create(int.Parse(o.Default, CultureInfo.InvariantCulture)),
                "bool" => JsonValue.Create(bool.Parse(o.Default)),
                _ when t.StartsWith("number") => JsonValue.Create(double.Parse(o.Default, CultureInfo.InvariantCulture)),
                _ when o.Default.StartsWith('[') => null,
                _ => JsonValue.Create(o.Default),
            };
        return p;
    }
}
