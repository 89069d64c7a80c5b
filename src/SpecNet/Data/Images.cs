using SpecNet.Diagnostics;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using SpecNet.Checking;
using SpecNet.Schema;

namespace SpecNet.Data;

/// <summary>Reads PNG, JPEG and BMP files into the model's input: grayscale or RGB bytes, HWC.</summary>
public static class Images
{
    /// <summary>Largest image accepted (pixels), checked from the header before decoding.</summary>
    public const long MaxPixels = 64L << 20;

    public static byte[] Load(string path, Shape input, bool resize) => Load(path, input, resize ? "bilinear" : null);

    /// <param name="resize">null: a different size is an error; "bilinear" or "nearest": scale to the input size.</param>
    public static byte[] Load(string path, Shape input, string? resize)
    {
        if (!File.Exists(path)) throw new SpecNetException($"{path}: no such file");
        if (input.IsFlat && input.Size != 28 * 28)
            throw new SpecNetException($"{path}: the model's input is a flat vector of {input.Size}, not an image", $"give a CSV file instead, one example of {input.Size} values a row");
        int height = input.IsFlat ? 28 : input.Height, width = input.IsFlat ? 28 : input.Width, channels = input.IsFlat ? 1 : input.Channels;
        if (channels is not (1 or 3)) throw new SpecNetException($"{path}: the model takes {channels} channels; images give 1 (grayscale) or 3 (RGB)");
        try
        {
            var info = Image.Identify(path);
            if (info is null) throw new SpecNetException($"{path}: not a readable image (unknown format)", "use PNG, JPEG or BMP");
            if ((long)info.Width * info.Height > MaxPixels || info.Width == 0 || info.Height == 0)
                throw new SpecNetException($"{path}: {info.Width}x{info.Height} pixels is not a usable image size");
            using var image = Image.Load<Rgb24>(path);
            if (image.Width != width || image.Height != height)
            {
                if (resize is null)
                    throw new SpecNetException($"{path}: the image is {image.Width}x{image.Height} (width x height), but the model takes {width}x{height}",
                        "pass --resize to scale it, or give an image of the right size");
                image.Mutate(x => x.Resize(width, height, resize == "nearest" ? KnownResamplers.NearestNeighbor : KnownResamplers.Triangle));
            }
            var bytes = new byte[height * width * channels];
            image.ProcessPixelRows(rows =>
            {
                for (int y = 0; y < rows.Height; y++)
                {
                    var row = rows.GetRowSpan(y);
                    for (int x = 0; x < row.Length; x++)
                    {
                        var p = row[x];
                        int at = (y * width + x) * channels;
                        if (channels == 1) bytes[at] = (byte)Math.Round(0.299 * p.R + 0.587 * p.G + 0.114 * p.B); // ITU-R BT.601 luma, as PIL's "L"
                        else { bytes[at] = p.R; bytes[at + 1] = p.G; bytes[at + 2] = p.B; }
                    }
                }
            });
            return bytes;
        }
        catch (Exception e) when (e is UnknownImageFormatException or InvalidImageContentException or NotSupportedException)
        {
            throw new SpecNetException($"{path}: not a readable image ({e.Message})", "use a PNG, JPEG or BMP file");
        }
        catch (IOException e) { throw new SpecNetException($"{path}: cannot be read: {e.Message}"); }
    }

    /// <summary>Writes grayscale or RGB bytes (HWC) as a PNG.</summary>
    public static void SavePng(string path, ReadOnlySpan<byte> pixels, int height, int width, int channels)
    {
        var bytes = Png(pixels, height, width, channels);
        Formats.AtomicFile.Write(path, s => s.Write(bytes));
    }

    /// <summary>Grayscale or RGB bytes (HWC) encoded as a PNG.</summary>
    public static byte[] Png(ReadOnlySpan<byte> pixels, int height, int width, int channels)
    {
        using var image = new Image<Rgb24>(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int at = (y * width + x) * channels;
                image[x, y] = channels == 1 ? new Rgb24(pixels[at], pixels[at], pixels[at]) : new Rgb24(pixels[at], pixels[at + 1], pixels[at + 2]);
            }
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }
}
