using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Data;

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
        for (int n = 0; n < count; n++) Example(batch.Slice(n * size, size));
    }

    private void Example(Span<float> x)
    {
        int h = shape.Height, w = shape.Width, c = shape.Channels;
        if (spec.Geometric && !shape.IsFlat)
        {
            float angle = (rng.NextFloat() * 2 - 1) * spec.Rotation * 2 * MathF.PI;
            float zoom = 1 + (rng.NextFloat() * 2 - 1) * spec.Zoom;
            float tx = (rng.NextFloat() * 2 - 1) * spec.Translation * w, ty = (rng.NextFloat() * 2 - 1) * spec.Translation * h;
            bool flipX = spec.Flip is "horizontal" or "both" && rng.NextFloat() < 0.5f;
            bool flipY = spec.Flip is "vertical" or "both" && rng.NextFloat() < 0.5f;
            x.CopyTo(_scratch);
            float cos = MathF.Cos(angle) / zoom, sin = MathF.Sin(angle) / zoom;
            float cx = (w - 1) / 2f, cy = (h - 1) / 2f;
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++)
                {
                    // the output pixel's source: inverse rotation and zoom about the centre, minus the shift
                    float dx = (flipX ? w - 1 - xx : xx) - cx - tx, dy = (flipY ? h - 1 - y : y) - cy - ty;
                    float sx = cos * dx + sin * dy + cx, sy = -sin * dx + cos * dy + cy;
                    int x0 = (int)MathF.Floor(sx), y0 = (int)MathF.Floor(sy);
                    float fx = sx - x0, fy = sy - y0;
                    for (int ch = 0; ch < c; ch++)
                    {
                        float Sample(int px, int py) => (uint)px < (uint)w && (uint)py < (uint)h ? _scratch[(py * w + px) * c + ch] : Background(ch);
                        x[(y * w + xx) * c + ch] = (1 - fy) * ((1 - fx) * Sample(x0, y0) + fx * Sample(x0 + 1, y0)) + fy * ((1 - fx) * Sample(x0, y0 + 1) + fx * Sample(x0 + 1, y0 + 1));
                    }
                }
        }
        if (spec.Brightness > 0)
        {
            float delta = (rng.NextFloat() * 2 - 1) * spec.Brightness * 255 * preprocessing.Scale;
            for (int i = 0; i < x.Length; i++) x[i] += delta / preprocessing.Std[i % c % preprocessing.Std.Length];
        }
        if (spec.Contrast > 0)
        {
            float factor = 1 + (rng.NextFloat() * 2 - 1) * spec.Contrast;
            for (int ch = 0; ch < c; ch++)
            {
                float mean = 0;
                for (int i = ch; i < x.Length; i += c) mean += x[i];
                mean /= x.Length / c;
                for (int i = ch; i < x.Length; i += c) x[i] = (x[i] - mean) * factor + mean;
            }
        }
    }

    /// <summary>What a black (0) pixel becomes after preprocessing: the fill outside the image.</summary>
    private float Background(int channel) => (0 - preprocessing.Mean[channel % preprocessing.Mean.Length]) / preprocessing.Std[channel % preprocessing.Std.Length];
}
