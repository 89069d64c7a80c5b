using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Global max pooling (Keras GlobalMaxPooling2D): H x W x C -> C, y[n,c] = max over (i,j) of x[n,i,j,c].
/// Backward: dy goes to the first cell holding the maximum. No parameters.
/// </summary>
public sealed class GlobalMaxPool2D : Layer
{
    public static readonly LayerKind Definition = new("global_max_pool2d", "maximum of each channel over height and width", [], _ => new GlobalMaxPool2D());

    protected override Shape? InferShape(Shape input, ShapeCheck check) =>
        check.NeedsSpatial(input) ? Shape.Flat(input.Channels) : null;

    public override string Describe() => "";
}
