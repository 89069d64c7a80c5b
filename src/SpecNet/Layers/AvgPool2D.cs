using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Average pooling (Keras AveragePooling2D): y = mean of the window's cells inside the input (padded
/// cells are not counted, as in Keras). Backward: each cell of the window gets dy / count.
/// </summary>
public sealed class AvgPool2D : Pooling2D
{
    public static readonly LayerKind Definition = new("avg_pool2d", "average over each window, per channel", PoolOptions("average"), Bind<AvgPool2D>);
}
