using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Formats;
using SpecNet.Training;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet eval SPEC --weights FILE`: test loss, accuracy, per-class accuracy and the confusion matrix.</summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var spec = new Argument<string>("spec") { Description = "the spec file, or a weights file (its embedded spec is used)" };
        var weights = new Option<string?>("--weights", "-w") { Description = "weights file (default: <spec name>.safetensors beside the spec)" };
        var json = new Option<bool>("--json") { Description = "print one JSON object" };
        var other = new Option<string?>("--data") { Description = "evaluate on these examples instead of the spec's test set: a folder with a sub-folder per class, named as the model's classes (its numbers when it has no names), or a CSV file with a label column" };
        var backend = CommonOptions.Backend();
        var threads = CommonOptions.Threads();
        var command = new Command("eval", "Evaluate trained weights on the spec's test data.\n\nExample: specnet eval specs/mnist-cnn.yaml --weights samples/mnist-cnn.safetensors")
            { spec, weights, other, json, backend, threads };
        command.SetAction(result =>
        {
            var o = result.InvocationConfiguration.Output;
            var err = result.InvocationConfiguration.Error;
            var specPath = result.GetValue(spec)!;
            var model = Inputs.Compile(specPath);
            var engine = Inputs.Engine(result, backend, err);
            var (parameters, metadata) = WeightsFile.LoadWithMetadata(Inputs.WeightsPath(specPath, result.GetValue(weights), model), model);
            Dataset data;
            bool isTest = false;
            if (result.GetValue(other) is { } path)
                data = DataLoader.LoadFrom(model, path, Inputs.ClassNames(metadata, model), line => err.WriteLine(line));
            else
            {
                (data, isTest) = DataLoader.LoadEvaluation(model, line => err.WriteLine(line), recorded: WeightsFile.ClassNames(metadata, model));
                if (!isTest) err.WriteLine("note: the spec names no test set; evaluating on the training data");
            }
            var e = Evaluator.Evaluate(parameters, engine, data);
            if (result.GetValue(json))
            {
                var matrix = new JsonArray();
                for (int r = 0; r < e.Classes; r++) matrix.Add(new JsonArray(Enumerable.Range(0, e.Classes).Select(c => (JsonNode)e.Confusion[r, c]).ToArray()));
                o.WriteLine(new JsonObject
                {
                    ["spec"] = model.Name, ["examples"] = e.Count, ["loss"] = Math.Round(e.Loss, 6), ["accuracy"] = Math.Round(e.Accuracy, 6),
                    ["per_class_accuracy"] = new JsonArray(e.PerClassAccuracy.Select(a => (JsonNode?)(double.IsNaN(a) ? null : Math.Round(a, 6))).ToArray()),
                    ["confusion_matrix"] = matrix, ["backend"] = engine.Name,
                    ["class_names"] = new JsonArray(Enumerable.Range(0, e.Classes).Select(c => (JsonNode)data.ClassName(c)).ToArray()),
                }.ToJsonString());
            }
            else
            {
                o.Write(Text(model, data, e, isTest));
                o.WriteLine($"\nBackend: {engine}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The evaluation as text; its figures called "Test" only when the data is the spec's test set.</summary>
    public static string Text(ModelSpec model, Dataset data, Evaluation e, bool isTest = true)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.Append(inv, $"{model.Name} on {data.Name} ({e.Count:N0} examples)\n");
        var (loss, accuracy) = isTest ? ("Test loss:", "Test accuracy:") : ("Loss:", "Accuracy:");
        sb.Append(inv, $"{loss,-15}{e.Loss:0.0000}\n{accuracy,-15}{Inputs.Percent(e.Accuracy)}\n\n");
        sb.Append("Per class:\n");
        int nameWidth = Math.Max(12, Enumerable.Range(0, e.Classes).Max(c => data.ClassName(c).Length));
        for (int c = 0; c < e.Classes; c++)
        {
            int n = Enumerable.Range(0, e.Classes).Sum(p => e.Confusion[c, p]);
            if (n == 0 && !isTest) continue;          // other data (--data) may hold a few of the classes: the rest is noise
            sb.Append(inv, $"  {data.ClassName(c).PadLeft(nameWidth)}  {(double.IsNaN(e.PerClassAccuracy[c]) ? "   -   " : Inputs.Percent(e.PerClassAccuracy[c])),8}  of {n:N0}\n");
        }
        // Columns by number, rows by number and name: a row's label says what its number stands for.
        var rows = Enumerable.Range(0, e.Classes).Select(r => data.ClassNames is null ? r.ToString(inv).PadLeft(5) : $"  {r} {data.ClassName(r)}").ToList();
        int rowWidth = rows.Max(r => r.Length);
        sb.Append("\nConfusion matrix (rows: true class, columns: predicted):\n").Append(' ', rowWidth + 1);
        int width = Math.Max(4, e.Count.ToString(inv).Length + 1);
        for (int c = 0; c < e.Classes; c++) sb.Append(c.ToString(inv).PadLeft(width));
        sb.Append('\n');
        for (int r = 0; r < e.Classes; r++)
        {
            sb.Append(rows[r].PadRight(rowWidth)).Append(' ');
            for (int c = 0; c < e.Classes; c++) sb.Append(e.Confusion[r, c].ToString(inv).PadLeft(width));
            sb.Append('\n');
        }
        return sb.ToString();
    }
}
