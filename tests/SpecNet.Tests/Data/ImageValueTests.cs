using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SpecNet.Data;
using SpecNet.Schema;
using SpecNet.Tests.Cli;

namespace SpecNet.Tests.Data;

/// <summary>What images become as model input, value by value: colour, 16-bit, alpha, resizing.</summary>
public class ImageValueTests
{
    [Fact]
    public void Rgb_image_keeps_its_channels_in_order()
    {
        using var dir = new TempFolder();
        var pixels = Enumerable.Range(0, 2 * 3 * 3).Select(i => (byte)(i * 13 + 7)).ToArray(); // 2 rows, 3 columns, RGB
        Images.SavePng(dir.File("c.png"), pixels, 2, 3, 3);
        Assert.Equal(pixels, Images.Load(dir.File("c.png"), Shape.Spatial(2, 3, 3), resize: null));
        // grayscale models read luma: 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601, as PIL's "L")
        var gray = Images.Load(dir.File("c.png"), Shape.Spatial(2, 3, 1), resize: null);
        Assert.Equal((byte)Math.Round(0.299 * 7 + 0.587 * 20 + 0.114 * 33), gray[0]);
    }

    [Fact]
    public void Sixteen_bit_grayscale_is_scaled_to_8_bits()
    {
        using var dir = new TempFolder();
        using (var image = new Image<L16>(2, 1))
        {
            image[0, 0] = new L16(65535);
            image[1, 0] = new L16(4660);
            image.SaveAsPng(dir.File("g16.png"));
        }
        var values = Images.Load(dir.File("g16.png"), Shape.Spatial(1, 2, 1), resize: null);
        Assert.Equal([255, (byte)Math.Round(4660 / 257.0)], values); // 65535 -> 255: v / 257
    }

    [Fact]
    public void Alpha_is_dropped_leaving_the_colour()
    {
        using var dir = new TempFolder();
        using (var image = new Image<Rgba32>(1, 1))
        {
            image[0, 0] = new Rgba32(10, 20, 30, 128);
            image.SaveAsPng(dir.File("a.png"));
        }
        Assert.Equal([10, 20, 30], Images.Load(dir.File("a.png"), Shape.Spatial(1, 1, 3), resize: null));
    }

    [Fact]
    public void Bilinear_resize_interpolates_between_pixel_centres()
    {
        using var dir = new TempFolder();
        Images.SavePng(dir.File("ramp.png"), [0, 200], 1, 2, 1); // one row: 0, 200
        var wide = Images.Load(dir.File("ramp.png"), Shape.Spatial(1, 4, 1), resize: "bilinear");
        // output centre j maps to source (j + 0.5) / 2 - 0.5: -0.25, 0.25, 0.75, 1.25 (clamped at the edges)
        Assert.Equal([0, 50, 150, 200], wide.Select(v => (int)v));
        var nearest = Images.Load(dir.File("ramp.png"), Shape.Spatial(1, 4, 1), resize: "nearest");
        Assert.Equal([0, 0, 200, 200], nearest.Select(v => (int)v));
    }
}
