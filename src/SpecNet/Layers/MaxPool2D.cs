using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Max pooling (Keras MaxPooling2D): y[n,i,j,c] = max over the window of x; padded cells never win.
/// Backward: dy flows to the input cell that held the maximum (the first one on ties).
/// </summary>
public sealed class MaxPool2D : Pooling2D
{
    public static readonly LayerKind Definition = new("max_pool2d", "maximum over each window, per channel", PoolOptions("maximum"), Bind<MaxPool2D>);
}
