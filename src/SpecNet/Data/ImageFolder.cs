using SixLabors.ImageSharp;
using SpecNet.Checking;
using SpecNet.Diagnostics;
using SpecNet.Schema;

namespace SpecNet.Data;

/// <summary>
/// Keras's image_dataset_from_directory layout: one sub-folder per class (class names from the folder
/// names, sorted), PNG, JPEG or BMP files in each. Indexing reads only each file's header (its size);
/// pixels are decoded when a batch needs them.
/// </summary>
public static class ImageFolder
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp"];

    public static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>The paths as given, each folder among them standing for the images in it and its sub-folders (sorted by path).</summary>
    public static IEnumerable<string> Expand(IEnumerable<string> paths) => paths.SelectMany(path =>
    {
        if (!Directory.Exists(path)) return [path];
        var images = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Where(IsImage)
            .Where(f => !Path.GetRelativePath(path, f).Split(Path.DirectorySeparatorChar).SkipLast(1).Any(d => d.StartsWith('.')))   // not in hidden folders
            .Order(StringComparer.Ordinal).ToList();
        return images.Count > 0 ? images : throw new SpecNetException($"{path}: the folder holds no PNG, JPEG or BMP images", "give image files, or a folder of them");
    });

    /// <summary>A folder's class sub-folders, in the order that numbers them. Hidden ones (.ipynb_checkpoints, .git) are no class.</summary>
    public static List<string> Classes(string folder) =>
        Directory.GetDirectories(folder).Select(Path.GetFileName).OfType<string>().Where(n => !n.StartsWith('.')).Order(StringComparer.Ordinal).ToList();

    public static Dataset Load(string name, string folder, Shape input, string? resize, IReadOnlyList<string>? classNames, Action<string>? log,
        IProgress<double>? progress = null)
    {
        if (!Directory.Exists(folder)) throw new SpecNetException($"{folder}: no such folder", "check the data paths in the spec (relative to the spec's folder)");
        var classes = Classes(folder);
        if (classes.Count == 0) throw new SpecNetException($"{folder}: has no class sub-folders", "put each class's images in a sub-folder named after the class");
        if (classNames is not null)
        {
            var unknown = classes.FirstOrDefault(c => !classNames.Contains(c));
            if (unknown is not null) throw new SpecNetException($"{Path.Combine(folder, unknown)}: class '{unknown}' is not one of the model's classes [{string.Join(", ", classNames)}]",
                "name each class folder after one of them (a spec lists them in data.labels), or remove the folder");
        }
        var names = classNames ?? classes;
        var files = new List<string>();
        var labels = new List<byte>();
        int height = input.IsFlat ? 28 : input.Height, width = input.IsFlat ? 28 : input.Width;
        long indexed = 0;
        var perClass = classes.Select(cls => (cls, images: Directory.EnumerateFiles(Path.Combine(folder, cls))
            .Where(IsImage).Order(StringComparer.Ordinal).ToList())).ToList();
        long total = perClass.Sum(c => (long)c.images.Count);
        foreach (var (cls, images) in perClass)
        {
            var dir = Path.Combine(folder, cls);
            if (images.Count == 0) throw new SpecNetException($"{dir}: the class folder '{cls}' holds no PNG, JPEG or BMP images", "add images or remove the folder");
            int label = names.ToList().IndexOf(cls);
            if (label > 255) throw new SpecNetException($"{folder}: more than 256 classes");
            foreach (var file in images)
            {
                if (resize is null) CheckSize(file, width, height);
                files.Add(file);
                labels.Add((byte)label);
                if (++indexed % 256 == 0) progress?.Report(indexed / (double)total);
            }
        }
        progress?.Report(1);
        log?.Invoke($"{name}: {files.Count:N0} images in {classes.Count} classes from {folder}");
        var fingerprint = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            string.Join("\n", files.Select((f, i) => $"{Path.GetRelativePath(folder, f)}|{new FileInfo(f).Length}|{labels[i]}")))))[..16];
        return new Dataset(name, input.IsFlat ? Shape.Spatial(28, 28, 1) : input, [.. labels], i => Images.Load(files[i], input, resize), folder, fingerprint)
        {
            ClassNames = names,
        };
    }

    private static void CheckSize(string file, int width, int height)
    {
        IImageInfo? info;
        try { info = Image.Identify(file); }
        catch (Exception e) when (e is UnknownImageFormatException or InvalidImageContentException or NotSupportedException or IOException)
        {
            throw new SpecNetException($"{file}: not a readable image ({e.Message})", "remove or replace the file");
        }
        if (info is null) throw new SpecNetException($"{file}: not a readable image (unknown format)", "remove or replace the file");
        if (info.Width != width || info.Height != height)
            throw new SpecNetException($"{file}: the image is {info.Width}x{info.Height} (width x height), but the model takes {width}x{height}",
                "set data.resize: bilinear (or nearest) to scale every image, or resize the files");
    }
}
