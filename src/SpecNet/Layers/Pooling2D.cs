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
        new("pool_size", "int | [h, w]", "2", $"window over which the {what} is taken"),
        new("strides", "int | [h, w]", "pool_size", "step between windows"),
        new("padding", "valid | same", "valid", "valid: drop what does not fill a window; same: out = ceil(in / stride)"),
    ];

    public (int H, int W) PoolSize { get; private set; }
    public (int H, int W) Strides { get; private set; }
    public Padding Padding { get; private set; }
    public Window Rows { get; private set; }
    public Window Cols { get; private set; }

    protected static T Bind<T>(OptionReader r) where T : Pooling2D, new()
    {
        var pool = r.PositivePair("pool_size");
        return new T
        {
            PoolSize = pool,
            Strides = r.PositivePair("strides", fallback: pool),
            Padding = r.Choice("padding", ["valid", "same"], "padding") == "same" ? Padding.Same : Padding.Valid,
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
                $"pooling {input.Height}x{input.Width} by {PoolSize.H}x{PoolSize.W} with stride {Strides.H}x{Strides.W} ignores the last {Describe(Rows.Dropped, "row")} and {Describe(Cols.Dropped, "column")} ({Rows.Arithmetic(Padding)})",
                "use padding: same to keep them, or ignore this warning if that is intended");
        return Shape.Spatial(Rows.Output, Cols.Output, input.Channels);
    }

    private static string Describe(int n, string what) => n == 1 ? $"1 {what}" : $"{n} {what}s";

    public override string Describe() => $"pool={PoolSize} strides={Strides} padding={Padding}";
}
