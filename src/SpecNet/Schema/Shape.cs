namespace SpecNet.Schema;

/// <summary>
/// The shape of one example as it flows between layers: height x width x channels (H, W, C), or a
/// flat vector of <see cref="Channels"/> features (H = W = 1). Batch is never part of a shape.
/// Memory layout at run time is NHWC: channels vary fastest.
/// </summary>
public readonly record struct Shape(int Height, int Width, int Channels, bool IsFlat)
{
    public static Shape Spatial(int height, int width, int channels) => new(height, width, channels, false);
    public static Shape Flat(int features) => new(1, 1, features, true);

    public int Size => Height * Width * Channels;

    public int[] Dims => IsFlat ? [Channels] : [Height, Width, Channels];

    public override string ToString() => IsFlat ? $"{Channels}" : $"{Height}x{Width}x{Channels}";
}
