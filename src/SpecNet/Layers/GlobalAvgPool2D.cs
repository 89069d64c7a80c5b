using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Global average pooling (Keras GlobalAveragePooling2D): H x W x C -> C, y[n,c] = mean over (i,j) of x[n,i,j,c].
/// Backward: dx[n,i,j,c] = dy[n,c] / (H*W). No parameters.
/// </summary>
public sealed class GlobalAvgPool2D : Layer
{
    public static readonly LayerKind Definition = new("global_avg_pool2d", "mean of each channel over height and width", [], _ => new GlobalAvgPool2D());

    protected override Shape? InferShape(Shape input, ShapeCheck check) =>
        check.NeedsSpatial(input) ? Shape.Flat(input.Channels) : null;

    public override string Describe() => "";
}
