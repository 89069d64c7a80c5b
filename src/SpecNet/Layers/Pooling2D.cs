using SpecNet.Diagnostics;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// What max and average pooling share: options (Keras MaxPooling2D/AveragePooling2D) and the shape rule.
/// Output per axis as <see cref="Window"/> says, strides defaulting to pool_size: floor(in / 2) for 2x2/2 valid.
/// No parameters. The kinds differ only in forward and backward (MaxPool2D.cs, AvgPool2D.cs).
/// </summary>
public abstract class Pooling2D : Layer
{
    protected static IReadOnlyList<OptionInfo> PoolOptions(string what) =>
    [
        OptionInfo.Pair("pool_size", $"window over which the {what} is taken", 2) with { HashKey = "pool" },
        OptionInfo.Pair("strides", "step between windows") with { Required = false, DefaultNote = "pool_size" },
        Conv2D.PaddingOption("valid: drop what does not fill a window; same: out = ceil(in / stride)"),
    ];

    public (int H, int W) PoolSize { get; private set; }
    public (int H, int W) Strides { get; private set; }
    public Padding Padding { get; private set; }
    public Window Rows { get; private set; }
    public Window Cols { get; private set; }

    protected static T Bind<T>(OptionReader r) where T : Pooling2D, new()
    {
        var pool = r.Pair("pool_size");
        return new T
        {
            PoolSize = pool,
            Strides = r.Pair("strides", fallback: pool),
            Padding = r.Choice<Padding>("padding"),
        };
    }

    protected override Shape? InferShape(Shape input, ShapeCheck check)
    {
        if (!check.NeedsSpatial(input)) return null;
        Rows = Window.Of(input.Height, PoolSize.H, Strides.H, 1, Padding);
        Cols = Window.Of(input.Width, PoolSize.W, Strides.W, 1, Padding);
        if (Rows.Output <= 0 || Cols.Output <= 0)
        {
            var w = Rows.Output <= 0 ? Rows : Cols;
            check.Error(DiagnosticIds.DimensionTooSmall, "pool_size",
                $"the {w.Kernel}-wide pool does not fit the incoming {input} ({w.Arithmetic(Padding)})",
                "use fewer pooling layers or convolutions with strides before this one, padding: same, or a smaller pool_size");
            return null;
        }
        if (Rows.Dropped > 0 || Cols.Dropped > 0)
            check.Warning(DiagnosticIds.PoolingDropsData, "pool_size",
                $"pooling {input.Height}x{input.Width} by {PoolSize.H}x{PoolSize.W} with stride {Strides.H}x{Strides.W} ignores the last {Count(Rows.Dropped, "row")} and {Count(Cols.Dropped, "column")} ({Rows.Arithmetic(Padding)})",
                "use padding: same to keep them, or ignore this warning if that is intended");
        return Shape.Spatial(Rows.Output, Cols.Output, input.Channels);
    }

    private static string Count(int n, string what) => n == 1 ? $"1 {what}" : $"{n} {what}s";

    /// <summary>
    /// ONNX's attributes of this window: its padding by auto_pad (Keras's 'same' is SAME_UPPER), not as pads. ONNX Runtime folds a
    /// Pad into a MaxPool or AveragePool given explicit pads, as though the pool's padding were zeros: after a zero_padding2d, a
    /// max pool then took the largest of a window's inputs where a zero was larger, and failed to load where the sum of both
    /// paddings reached the window's size. It leaves a pool with auto_pad alone.
    /// </summary>
    protected OnnxAttribute[] WindowAttributes() =>
    [
        OnnxAttribute.Of("kernel_shape", PoolSize.H, PoolSize.W), OnnxAttribute.Of("strides", Strides.H, Strides.W),
        OnnxAttribute.Of("auto_pad", Padding == Padding.Same ? "SAME_UPPER" : "VALID"),
    ];
}
