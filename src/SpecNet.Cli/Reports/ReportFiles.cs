using System.Text;
using ScottPlot;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SpecNet.Formats;

namespace SpecNet.Cli.Reports;

/// <summary>
/// A report's files, each written whole or not at all (a temporary file, then a rename), as SpecNet writes every file: a
/// report rewritten into the same folder and interrupted keeps the last complete page and pictures.
/// </summary>
internal static class ReportFiles
{
    public static void Png(Plot plot, string path, int width, int height) =>
        AtomicFile.Write(path, s => s.Write(plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png)));

    public static void Png(Image<Rgb24> image, string path)
    {
        using var png = new MemoryStream();
        image.SaveAsPng(png);
        AtomicFile.Write(path, s => s.Write(png.GetBuffer().AsSpan(0, (int)png.Length)));
    }

    public static void Text(string path, string text) => AtomicFile.Write(path, s => s.Write(Encoding.UTF8.GetBytes(text)));
}
