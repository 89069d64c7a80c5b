using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Data;

/// <summary>
/// One example's random transform: rotation (radians, counter-clockwise as Keras's RandomRotation), zoom
/// factor (2 shows the middle half of the image twice as large), shift in pixels (right, down), mirrors,
/// brightness offset (in input units) and contrast factor.
/// </summary>
public readonly record struct AugmentationDraw(float Angle = 0, float Zoom = 1, float ShiftX = 0, float ShiftY = 0, bool FlipX = false,
    bool FlipY = false, float Brightness = 0, float Contrast = 1);

/// <summary>
/// Random augmentation of a training batch, in place on the preprocessed floats (HWC), seeded. Per
/// example: one affine map (translation by up to ±translation·size, rotation by up to ±rotation·360°,
/// zoom by a factor in [1 - zoom, 1 + zoom], mirror as flip says) sampled bilinearly, the outside filled
/// with what a 0 pixel becomes; then brightness (add up to ±brightness of the value range) and contrast
/// (scale each channel's deviation from its mean by a factor in [1 - contrast, 1 + contrast]).
/// Keras's RandomTranslation, RandomRotation, RandomZoom, RandomFlip, RandomBrightness, RandomContrast.
/// </summary>
public sealed class Augmenter(Augmentation spec, Preprocessing preprocessing, Shape shape, Rng rng)
{
    private readonly float[] _scratch = new float[shape.Size];

    public Rng Random => rng;

    public void Apply(Span<float> batch, int count)
    {
        int size = shape.Size;
        for (int n = 0; n < count; n++) Transform(batch.Slice(n * size, size), Draw());
    }

    /// <summary>The next example's transform, drawn from the spec's ranges (always in this order, so checkpoints replay it).</summary>
    public AugmentationDraw Draw()
    {
        var d = new AugmentationDraw(Zoom: 1, Contrast: 1); // the identity (a bare new() of a struct would zero them)
        if (spec.Geometric && !shape.IsFlat)
            d = d with
            {
                Angle = (rng.NextFloat() * 2 - 1) * spec.Rotation * 2 * MathF.PI,
                Zoom = 1 + (rng.NextFloat() * 2 - 1) * spec.Zoom,
                ShiftX = (rng.NextFloat() * 2 - 1) * spec.Translation * shape.Width,
                ShiftY = (rng.NextFloat() * 2 - 1) * spec.Translation * shape.Height,
                FlipX = spec.Flip is "horizontal" or "both" && rng.NextFloat() < 0.5f,
                FlipY = spec.Flip is "vertical" or "both" && rng.NextFloat() < 0.5f,
            };
        if (spec.Brightness > 0) d = d with { Brightness = (rng.NextFloat() * 2 - 1) * spec.Brightness * 255 * preprocessing.Scale };
        if (spec.Contrast > 0) d = d with { Contrast = 1 + (rng.NextFloat() * 2 - 1) * spec.Contrast };
        return d;
    }

    /// <summary>Applies one transform to one example (HWC floats), in place.</summary>
    public void Transform(Span<float> x, AugmentationDraw d)
    {
        int h = shape.Height, w = shape.Width, c = shape.Channels;
        if (d.Angle != 0 || d.Zoom != 1 || d.ShiftX != 0 || d.ShiftY != 0 || d.FlipX || d.FlipY)
        {
            x.CopyTo(_scratch);
            float cos = MathF.Cos(d.Angle) / d.Zoom, sin = MathF.Sin(d.Angle) / d.Zoom;
            float cx = (w - 1) / 2f, cy = (h - 1) / 2f;
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++)
                {
                    // The output pixel's source: minus the shift, then the inverse rotation and zoom about the centre
                    // (with rows growing downwards, this turns the picture counter-clockwise for a positive angle).
                    float dx = (d.FlipX ? w - 1 - xx : xx) - cx - d.ShiftX, dy = (d.FlipY ? h - 1 - y : y) - cy - d.ShiftY;
                    float sx = cos * dx - sin * dy + cx, sy = sin * dx + cos * dy + cy;
                    int x0 = (int)MathF.Floor(sx), y0 = (int)MathF.Floor(sy);
                    float fx = sx - x0, fy = sy - y0;
                    for (int ch = 0; ch < c; ch++)
                    {
                        float Sample(int px, int py) => (uint)px < (uint)w && (uint)py < (uint)h ? _scratch[(py * w + px) * c + ch] : Background(ch);
                        x[(y * w + xx) * c + ch] = (1 - fy) * ((1 - fx) * Sample(x0, y0) + fx * Sample(x0 + 1, y0))
                                                 + fy * ((1 - fx) * Sample(x0, y0 + 1) + fx * Sample(x0 + 1, y0 + 1));
                    }
                }
        }
        if (d.Brightness != 0)
            for (int i = 0; i < x.Length; i++) x[i] += d.Brightness / preprocessing.Std[i % c % preprocessing.Std.Length];
        if (d.Contrast != 1)
            for (int ch = 0; ch < c; ch++)
            {
                float mean = 0;
                for (int i = ch; i < x.Length; i += c) mean += x[i];
                mean /= x.Length / c;
                for (int i = ch; i < x.Length; i += c) x[i] = (x[i] - mean) * d.Contrast + mean;
            }
    }

    /// <summary>What a black (0) pixel becomes after preprocessing: the fill outside the image.</summary>
    private float Background(int channel) => (0 - preprocessing.Mean[channel % preprocessing.Mean.Length]) / preprocessing.Std[channel % preprocessing.Std.Length];
}
