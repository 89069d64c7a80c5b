namespace SpecNet.Diagnostics;

/// <summary>
/// Every diagnostic id, with a one-line description. Stable: users search for them.
/// SN1xxx syntax and schema, SN2xxx shapes and the layer stack, SN3xxx training and data.
/// </summary>
public static class DiagnosticIds
{
    public const string YamlSyntax = "SN1001";
    public const string WrongNodeType = "SN1002";
    public const string UnknownKey = "SN1003";
    public const string MissingKey = "SN1004";
    public const string UnknownLayerKind = "SN1005";
    public const string NotANumber = "SN1006";
    public const string OutOfRange = "SN1007";
    public const string UnknownName = "SN1008";
    public const string DuplicateLayerName = "SN1009";
    public const string DuplicateKey = "SN1010";
    public const string MalformedLayer = "SN1011";
    public const string UnsupportedYaml = "SN1012";
    public const string UnknownInput = "SN1013";

    public const string DimensionTooSmall = "SN2001";
    public const string WrongInputRank = "SN2002";
    public const string InvalidCombination = "SN2003";
    public const string TooLarge = "SN2004";
    public const string MergeShapes = "SN2005";
    public const string UnusedOutput = "SN2104";
    public const string PoolingDropsData = "SN2101";
    public const string DenseDominates = "SN2102";
    public const string RedundantLayer = "SN2103";
    public const string ChannelsFirst = "SN2105";

    public const string LossMismatch = "SN3001";
    public const string DataSource = "SN3002";
    public const string TrainingCombination = "SN3003";
    public const string DataFileMissing = "SN3101";
    public const string OutputActivation = "SN3102";
    public const string InitFromMismatch = "SN3103";
    public const string NothingTrainable = "SN3104";

    public static readonly IReadOnlyDictionary<string, string> Descriptions = new Dictionary<string, string>
    {
        [YamlSyntax] = "the file is not valid YAML",
        [WrongNodeType] = "a value has the wrong YAML form (a list where a map is expected, ...)",
        [UnknownKey] = "a key that the spec language does not have",
        [MissingKey] = "a required key is missing",
        [UnknownLayerKind] = "a layer kind that does not exist",
        [NotANumber] = "a value is not a number of the expected kind",
        [OutOfRange] = "a number outside its allowed range",
        [UnknownName] = "an unknown activation, padding, optimizer, loss, metric or dataset name",
        [DuplicateLayerName] = "two layers share a name",
        [DuplicateKey] = "a key appears twice in one map",
        [MalformedLayer] = "a layer entry is not a one-key map 'kind: {options}'",
        [UnsupportedYaml] = "YAML features a spec may not use (anchors, aliases, tags, deep nesting, several documents)",
        [UnknownInput] = "an 'inputs' entry names no layer, or a layer defined later",
        [MergeShapes] = "the inputs of a merge (or a residual block's two paths) do not fit together",
        [UnusedOutput] = "warning: a layer's output is used by nothing",
        [ChannelsFirst] = "warning: the input shape reads as PyTorch's [channels, height, width], not [height, width, channels]",
        [DimensionTooSmall] = "a layer's window does not fit its input",
        [WrongInputRank] = "a layer gets a flat input where it needs height x width x channels, or the reverse",
        [InvalidCombination] = "options that cannot be used together",
        [TooLarge] = "a layer's output or parameters would be too large to run",
        [PoolingDropsData] = "warning: pooling or a stride drops rows or columns of its input",
        [DenseDominates] = "warning: one dense layer holds most of the parameters",
        [RedundantLayer] = "warning: a layer that does nothing",
        [LossMismatch] = "the loss does not fit the output layer",
        [DataSource] = "the data section names no usable source",
        [TrainingCombination] = "training settings that cannot be used together",
        [DataFileMissing] = "warning: a data file named in the spec does not exist (yet)",
        [InitFromMismatch] = "warning: training.init_from has a tensor of this layer's name but another shape (it starts fresh)",
        [NothingTrainable] = "warning: every layer is frozen (trainable: false), so training changes nothing",
        [OutputActivation] = "warning: the output activation does not match the loss",
    };
}
