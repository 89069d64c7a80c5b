using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using SpecNet.Data;
using SpecNet.Formats;
using SpecNet.Planning;
using SpecNet.Training;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet predict SPEC --weights FILE IMAGE|CSV...`: the probability vector and the winning class of each image or CSV row.</summary>
public static class PredictCommand
{
    public static Command Create()
    {
        var spec = new Argument<string>("spec") { Description = "the spec file, or a weights file (its embedded spec is used)" };
        var images = new Argument<string[]>("images") { Description = "PNG, JPEG or BMP files, folders of them (their sub-folders too), or CSV files of one example a row (a label column is left out)", Arity = ArgumentArity.OneOrMore };
        var weights = new Option<string?>("--weights", "-w") { Description = "weights file (default: <spec name>.safetensors beside the spec)" };
        var resize = new Option<bool>("--resize") { Description = "scale images to the model's input size instead of refusing other sizes (a spec's data.resize does this already)" };
        var json = new Option<bool>("--json") { Description = "print {\"predictions\": [{\"file\", \"row\" (a CSV file's line), \"class\", \"label\", \"probabilities\"}]}" };
        var top = CommonOptions.AtLeast("--top", 1, "show the K most likely classes, by name and probability, instead of every probability");
        var backend = CommonOptions.Backend();
        var threads = CommonOptions.Threads();
        var command = new Command("predict", "Classify images with trained weights.\n\nExample: specnet predict specs/mnist-cnn.yaml --weights samples/mnist-cnn.safetensors samples/digits/3.png")
            { spec, images, weights, resize, json, top, backend, threads };
        command.SetAction(result =>
        {
            var o = result.InvocationConfiguration.Output;
            var specPath = result.GetValue(spec)!;
            var model = Inputs.Compile(specPath);
            var engine = Inputs.Engine(result, backend, result.InvocationConfiguration.Error);
            var weightsPath = Inputs.WeightsPath(specPath, result.GetValue(weights), model);
            var (parameters, metadata) = WeightsFile.LoadWithMetadata(weightsPath, model);
            var names = Inputs.ClassNames(metadata, model);
            var plan = engine.Plan(model, parameters, 1, PlanOptions.Serving);
            var predictions = new JsonArray();
            var inv = CultureInfo.InvariantCulture;
            var preprocessing = model.Data?.Preprocessing ?? SpecNet.Checking.Preprocessing.Default;
            var table = preprocessing.Table(model.Input.Channels);                   // once, for every image
            // each image, and each row of a CSV file (Kaggle's test.csv, or features for a flat input), in the order given
            var examples = result.GetValue(images)!.SelectMany(path => IsCsv(path)
                ? Csv.Rows(path, model.Input).Select(r => (File: path, Row: (int?)r.Line, Values: (float[]?)r.Values))
                : ImageFolder.Expand([path]).Select(file => (File: file, Row: (int?)null, Values: (float[]?)null)));
            foreach (var (file, row, values) in examples)
            {
                if (values is not null) preprocessing.Apply(values, plan.Input[..values.Length], model.Input.Channels);
                else
                {
                    // The spec's data.resize is part of how the model reads images, as its preprocessing is.
                    var pixels = Images.Load(file, model.Input, model.Data?.Resize ?? (result.GetValue(resize) ? "bilinear" : null));
                    preprocessing.Apply(pixels, plan.Input[..pixels.Length], model.Input.Channels, table);
                }
                var y = plan.Forward(1, training: false);
                int winner = Evaluator.Predict(y);
                var probabilities = y.ToArray();
                if (result.GetValue(json))
                {
                    var prediction = new JsonObject { ["file"] = file };
                    if (row is not null) prediction["row"] = row;                        // a CSV file's line
                    prediction["class"] = winner;
                    prediction["label"] = names?[winner];
                    prediction["probabilities"] = new JsonArray(probabilities.Select(p => (JsonNode)Math.Round(p, 6)).ToArray());
                    predictions.Add(prediction);
                }
                else
                {
                    // one sigmoid unit is class 1's probability: the winner's confidence and --top read both classes
                    var perClass = probabilities.Length == 1 ? [1 - probabilities[0], probabilities[0]] : probabilities;
                    var percent = (100 * perClass[winner]).ToString("0.0", inv) + "%";
                    o.WriteLine($"{file}{(row is null ? "" : $"({row})")}: {(names is null ? $"{winner} ({percent})" : $"{names[winner]} (class {winner}, {percent})")}");
                    o.WriteLine(result.GetValue(top) is { } k
                        ? "  " + string.Join(", ", perClass.Select((p, c) => (p, c)).OrderByDescending(e => e.p).ThenBy(e => e.c).Take(k)
                            .Select(e => $"{(names is null ? e.c.ToString(inv) : names[e.c])} {(100 * e.p).ToString("0.0", inv)}%"))
                        : "  [" + string.Join(", ", probabilities.Select(p => p.ToString("0.00", inv))) + "]");
                }
            }
            if (result.GetValue(json)) o.WriteLine(new JsonObject { ["predictions"] = predictions, ["backend"] = engine.ToString() }.ToJsonString());
            else result.InvocationConfiguration.Error.WriteLine($"Backend: {engine}");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static bool IsCsv(string path) => path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) && File.Exists(path);
}
