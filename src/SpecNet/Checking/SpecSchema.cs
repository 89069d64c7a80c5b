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
                ["enum"] = new JsonArray(LayerRegistry.Kinds.Where(k => k.MinInputs == 1 && k.Options.All(o => !o.Required)).Select(k => (JsonNode)k.Name).ToArray()),
            },
        };
        foreach (var kind in LayerRegistry.Kinds)
        {
            var options = Map([.. LayerRegistry.CommonOptions, .. kind.Options]);
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
        layers.Add(Block(Blocks.Residual, "activation(layers(x) + shortcut(x)): a residual block", Blocks.ResidualOptions));
        layers.Add(Block(Blocks.Parallel, "branches that each read the input, merged: a parallel block", Blocks.ParallelOptions));
        var optimizers = new JsonArray { new JsonObject { ["enum"] = new JsonArray(OptimizerSpec.Kinds.Select(k => (JsonNode)k.Name).ToArray()) } };
        foreach (var kind in OptimizerSpec.Kinds)
            optimizers.Add(new JsonObject
            {
                ["type"] = "object", ["additionalProperties"] = false, ["required"] = new JsonArray(kind.Name),
                ["properties"] = new JsonObject { [kind.Name] = Map(kind.Options) },
            });
        var training = Map(TrainingSpec.Options);
        var trainingProps = (JsonObject)training["properties"]!;
        trainingProps["optimizer"] = new JsonObject { ["description"] = Doc(TrainingSpec.Options.First(o => o.Name == "optimizer")), ["anyOf"] = optimizers };
        trainingProps["metrics"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["enum"] = new JsonArray(TrainingSpec.KnownMetrics.Select(m => (JsonNode)m).ToArray()) } };
        trainingProps["early_stopping"] = Map(EarlyStoppingSpec.Options);
        trainingProps["reduce_lr_on_plateau"] = Map(PlateauSpec.Options);
        var lossForms = new JsonArray { new JsonObject { ["enum"] = new JsonArray(LossSpec.Names.Select(n => (JsonNode)n).ToArray()) } };
        foreach (var name in LossSpec.Names.Where(n => LossSpec.OptionsOf(n).Count > 0))
            lossForms.Add(OneKey(name, Map(LossSpec.OptionsOf(name))));
        trainingProps["loss"] = new JsonObject { ["description"] = Doc(TrainingSpec.Options.First(o => o.Name == "loss")), ["anyOf"] = lossForms };
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
            ["definitions"] = new JsonObject { ["layer"] = new JsonObject { ["anyOf"] = layers } },
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
                ["layers"] = LayerList("the layers and blocks, first to last"),
                ["training"] = training,
            },
        };
    }

    private static JsonObject OneKey(string key, JsonObject value) => new()
    {
        ["type"] = "object", ["additionalProperties"] = false, ["required"] = new JsonArray(key), ["properties"] = new JsonObject { [key] = value },
    };

    /// <summary>A learning rate: a number, or a one-key map naming a schedule.</summary>
    private static JsonObject LearningRateSchema(OptionInfo o)
    {
        var forms = new JsonArray { Number(o) };
        foreach (var (name, options) in LearningRate.Options) forms.Add(OneKey(name, Map(options)));
        var p = new JsonObject { ["anyOf"] = forms };
        return p;
    }

    /// <summary>A regularizer: {l1: x}, {l2: x} or {l1_l2: {l1, l2}}.</summary>
    private static JsonObject RegularizerSchema() => new()
    {
        ["anyOf"] = new JsonArray(
            OneKey("l1", new JsonObject { ["type"] = "number", ["minimum"] = 0 }),
            OneKey("l2", new JsonObject { ["type"] = "number", ["minimum"] = 0 }),
            OneKey("l1_l2", new JsonObject
            {
                ["type"] = "object", ["additionalProperties"] = false,
                ["properties"] = new JsonObject { ["l1"] = new JsonObject { ["type"] = "number", ["minimum"] = 0 }, ["l2"] = new JsonObject { ["type"] = "number", ["minimum"] = 0 } },
            })),
    };

    private static JsonObject LayerList(string description) => new()
    {
        ["type"] = "array", ["minItems"] = 1, ["description"] = description, ["items"] = new JsonObject { ["$ref"] = "#/definitions/layer" },
    };

    /// <summary>A block: a one-key map whose lists hold layers (and blocks) again.</summary>
    private static JsonObject Block(string kind, string description, IReadOnlyList<OptionInfo> options)
    {
        var map = Map(options);
        var properties = (JsonObject)map["properties"]!;
        foreach (var list in new[] { "layers", "shortcut" }.Where(properties.ContainsKey))
            properties[list] = LayerList(options.First(o => o.Name == list).Doc);
        if (properties.ContainsKey("branches"))
            properties["branches"] = new JsonObject
            {
                ["type"] = "array", ["minItems"] = 2, ["description"] = options.First(o => o.Name == "branches").Doc,
                ["items"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["$ref"] = "#/definitions/layer" } },
            };
        return new JsonObject
        {
            ["type"] = "object", ["description"] = description, ["additionalProperties"] = false, ["required"] = new JsonArray(kind),
            ["properties"] = new JsonObject { [kind] = map },
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

    private static string Doc(OptionInfo o) => o.Required ? $"{o.Doc} (required)" : o.DefaultText is { } d ? $"{o.Doc} (default: {d})" : o.Doc;

    /// <summary>One option's schema, from its declared type, range and choices.</summary>
    private static JsonObject Property(OptionInfo o)
    {
        var p = o.Type switch
        {
            OptionType.Int => Integer(o),
            OptionType.Pair => new JsonObject
            {
                ["anyOf"] = new JsonArray(Integer(o), new JsonObject { ["type"] = "array", ["items"] = Integer(o), ["minItems"] = 2, ["maxItems"] = 2 }),
            },
            OptionType.Number when o.Name == "learning_rate" => LearningRateSchema(o),
            OptionType.Number => Number(o),
            OptionType.Structure when o.Name.EndsWith("_regularizer") => RegularizerSchema(),
            OptionType.Bool => new JsonObject { ["type"] = "boolean" },
            OptionType.Choice => new JsonObject { ["enum"] = new JsonArray(o.Choices.Select(c => (JsonNode)c).ToArray()) },
            OptionType.Text or OptionType.Path => new JsonObject { ["type"] = "string" },
            OptionType.Structure when o.Name == "padding" => new JsonObject
            {
                ["anyOf"] = new JsonArray(Integer(o), new JsonObject { ["type"] = "array", ["items"] = Integer(o), ["minItems"] = 2, ["maxItems"] = 2 },
                    new JsonObject
                    {
                        ["type"] = "array", ["minItems"] = 2, ["maxItems"] = 2,
                        ["items"] = new JsonObject { ["type"] = "array", ["items"] = Integer(o), ["minItems"] = 2, ["maxItems"] = 2 },
                    }),
            },
            OptionType.Structure when o.Name == "inputs" => new JsonObject { ["type"] = "array", ["minItems"] = 1, ["items"] = new JsonObject { ["type"] = "string" } },
            _ => new JsonObject(),
        };
        p["description"] = Doc(o);
        if (!o.Required && o.Default is not null)
            p["default"] = o.Default switch
            {
                int i => JsonValue.Create(i),
                double d => JsonValue.Create(d),
                bool b => JsonValue.Create(b),
                ValueTuple<int, int> pair => JsonValue.Create(pair.Item1),
                ValueTuple<ValueTuple<int, int>, ValueTuple<int, int>> sides => JsonValue.Create(sides.Item1.Item1),
                var other => JsonValue.Create(other.ToString()),
            };
        return p;
    }

    private static JsonObject Integer(OptionInfo o)
    {
        var p = new JsonObject { ["type"] = "integer" };
        if (!double.IsNegativeInfinity(o.Min) && o.Min > int.MinValue) p["minimum"] = (int)o.Min;
        if (!double.IsPositiveInfinity(o.Max) && o.Max < int.MaxValue) p["maximum"] = (int)o.Max;
        return p;
    }

    private static JsonObject Number(OptionInfo o)
    {
        var p = new JsonObject { ["type"] = "number" };
        if (!double.IsNegativeInfinity(o.Min)) p[o.MinInclusive ? "minimum" : "exclusiveMinimum"] = o.Min;
        if (!double.IsPositiveInfinity(o.Max)) p[o.MaxInclusive ? "maximum" : "exclusiveMaximum"] = o.Max;
        return p;
    }
}
