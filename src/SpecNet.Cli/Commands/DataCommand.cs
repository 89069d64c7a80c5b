using System.CommandLine;
using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Cli.Terminal;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet data get NAME` / `specnet data where NAME`: the named datasets.</summary>
public static class DataCommand
{
    public static Command Create()
    {
        var get = new Command("get", "Find or fetch a named dataset (mnist, fashion-mnist) into the cache folder.\n\nExample: specnet data get mnist");
        var name = new Argument<string>("name") { Description = string.Join(" or ", DataSpec.NamedDatasets) };
        get.Add(name);
        get.SetAction(result =>
        {
            var err = result.InvocationConfiguration.Error;
            var progress = ProgressLine.ForTerminal("downloading", err);
            var folder = NamedDatasets.Fetch(result.GetValue(name)!, line => err.WriteLine(line), progress);
            var (train, test) = NamedDatasets.Load(result.GetValue(name)!, folder);
            result.InvocationConfiguration.Output.WriteLine($"{result.GetValue(name)}: {train.Count:N0} train / {test.Count:N0} test images of {train.Shape} in {folder}");
            return ExitCodes.Ok;
        });
        var sample = new Command("sample", "Write test images of a named dataset as PNG files, one (or more) per class: <class>.png, <class>-2.png, ...\n\nExample: specnet data sample mnist -o samples/digits");
        var sampleName = new Argument<string>("name") { Description = string.Join(" or ", DataSpec.NamedDatasets) };
        var outDir = new Option<string>("--output", "-o", "--out") { Description = "folder to write into", Required = true };
        var perClass = CommonOptions.InRange("--per-class", 1, 100_000, 1, "images per class");
        var folders = new Option<bool>("--folders") { Description = "one sub-folder per class (an image-folder dataset): <class>/<n>.png" };
        var split = new Option<string>("--split") { Description = "train or test", DefaultValueFactory = _ => "test" };
        split.AcceptOnlyFromAmong("train", "test");
        sample.Add(sampleName); sample.Add(outDir); sample.Add(perClass); sample.Add(folders); sample.Add(split);
        sample.SetAction(result =>
        {
            var name = result.GetValue(sampleName)!;
            var folder = NamedDatasets.Locate(name) ?? NamedDatasets.Fetch(name, line => result.InvocationConfiguration.Error.WriteLine(line));
            var (trainSet, testSet) = NamedDatasets.Load(name, folder);
            var test = result.GetValue(split) == "train" ? trainSet : testSet;
            var written = new Dictionary<int, int>();
            int size = test.Shape.Size, wanted = result.GetValue(perClass);
            for (int i = 0; i < test.Count; i++)
            {
                int label = test.Labels[i];
                int count = written.GetValueOrDefault(label);
                if (count >= wanted) continue;
                written[label] = ++count;
                var file = result.GetValue(folders)
                    ? Path.Combine(result.GetValue(outDir)!, label.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{count}.png")
                    : Path.Combine(result.GetValue(outDir)!, count == 1 ? $"{label}.png" : $"{label}-{count}.png");
                Images.SavePng(file, test.Pixels.AsSpan(i * size, size), test.Shape.Height, test.Shape.Width, test.Shape.Channels);
                if (!result.GetValue(folders)) result.InvocationConfiguration.Output.WriteLine($"{file}  ({result.GetValue(split)} image {i}, class {label}{(test.ClassNames is null ? "" : $": {test.ClassName(label)}")})");
            }
            return ExitCodes.Ok;
        });
        var command = new Command("data", "Named datasets: fetching them, and sample images.") { get, sample };
        return command;
    }
}
