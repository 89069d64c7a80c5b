using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>Every layer kind, listed once. Feeds the binder, "known kinds" in errors, `specnet layers` and the JSON Schema.</summary>
public static class LayerRegistry
{
    public static readonly IReadOnlyList<LayerKind> Kinds =
    [
        Conv2D.Definition,
        MaxPool2D.Definition,
        AvgPool2D.Definition,
        GlobalAvgPool2D.Definition,
        GlobalMaxPool2D.Definition,
        Flatten.Definition,
        Dense.Definition,
        Dropout.Definition,
        BatchNorm.Definition,
        .. ActivationLayer.Definitions,
    ];

    /// <summary>The `name` every layer accepts besides its kind's options.</summary>
    public static readonly OptionInfo NameOption =
        OptionInfo.Text("name", "the layer's name; names the tensors in the weights file") with { DefaultNote = "<kind>_<n>" };

    public static LayerKind? Find(string name) => Kinds.FirstOrDefault(k => k.Name == name);

    public static IEnumerable<string> Names => Kinds.Select(k => k.Name);
}
