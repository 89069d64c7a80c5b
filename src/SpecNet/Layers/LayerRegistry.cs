using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>Every layer kind, listed once. Feeds the binder, "known kinds" in errors, `specnet layers` and the JSON Schema.</summary>
public static class LayerRegistry
{
    public static readonly IReadOnlyList<LayerKind> Kinds =
    [
        Conv2D.Definition,
        DepthwiseConv2D.Definition,
        SeparableConv2D.Definition,
        ZeroPadding2D.Definition,
        MaxPool2D.Definition,
        AvgPool2D.Definition,
        GlobalAvgPool2D.Definition,
        GlobalMaxPool2D.Definition,
        Flatten.Definition,
        Dense.Definition,
        Dropout.Definition,
        BatchNorm.Definition,
        LayerNorm.Definition,
        .. ActivationLayer.Definitions,
        .. Merge.Definitions,
        Concatenate.Definition,
    ];

    /// <summary>The `name` every layer accepts besides its kind's options.</summary>
    public static readonly OptionInfo NameOption =
        OptionInfo.Text("name", "the layer's name; names the tensors in the weights file") with { DefaultNote = "<kind>_<n>" };

    /// <summary>The `inputs` every layer accepts: what it reads, when not the layer before it.</summary>
    public static readonly OptionInfo InputsOption =
        OptionInfo.Structure("inputs", "[names]", "the layers it reads: earlier layers' or blocks' names (a block stands for its output), input (the model's input) or previous")
            with { DefaultNote = "[previous]" };

    /// <summary>The `trainable` every layer and block accepts: false freezes its parameters (fine-tuning).</summary>
    public static readonly OptionInfo TrainableOption =
        OptionInfo.Bool("trainable", "false freezes its parameters: no gradient, no optimizer state; a frozen batch_norm uses its moving statistics (as Keras)", true);

    /// <summary>What every layer accepts besides its kind's options.</summary>
    public static IReadOnlyList<OptionInfo> CommonOptions => [NameOption, InputsOption, TrainableOption];

    public static LayerKind? Find(string name) => Kinds.FirstOrDefault(k => k.Name == name);

    public static IEnumerable<string> Names => Kinds.Select(k => k.Name);
}
