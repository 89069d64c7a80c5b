using System.CommandLine;
using System.Text.Json;
using SpecNet.Data;
using SpecNet.Formats;
using SpecNet.Training;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet report WEIGHTS -o DIR`: the report of a finished run, from its weights file (curves from its recorded history).</summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var run = new Argument<string>("run") { Description = "a weights file (its spec and history are embedded), or a spec with --weights" };
        var weights = new Option<string?>("--weights", "-w") { Description = "weights file, when RUN is a spec" };
        var output = new Option<string>("--output", "-o", "--out") { Description = "folder to write the report into", Required = true };
        var backend = CommonOptions.Backend();
        var threads = CommonOptions.Threads();
        var command = new Command("report", "Write a run's report: learning curves, confusion matrix, misclassified examples, index.html.\n\nExample: specnet report samples/mnist-cnn.safetensors -o report")
            { run, weights, output, backend, threads };
        command.SetAction(result =>
        {
            var path = result.GetValue(run)!;
            var model = Inputs.Compile(path);
            var weightsPath = Inputs.WeightsPath(path, result.GetValue(weights), model);
            var (parameters, metadata) = WeightsFile.LoadWithMetadata(weightsPath, model);
            var history = metadata.TryGetValue(WeightsFile.Keys.History, out var h) ? JsonSerializer.Deserialize<List<EpochReport>>(h) ?? [] : [];
            var (data, isTest) = DataLoader.LoadEvaluation(model, line => result.InvocationConfiguration.Error.WriteLine(line), recorded: WeightsFile.ClassNames(metadata, model));
            var evaluation = Evaluator.Evaluate(parameters, Inputs.Engine(result, backend, result.InvocationConfiguration.Error), data);
            var files = Reports.RunReport.Write(result.GetValue(output)!, model, history, data, evaluation, isTest ? "test" : "training");
            result.InvocationConfiguration.Output.WriteLine($"Report written to {Path.Combine(result.GetValue(output)!, "index.html")} ({string.Join(", ", files)})"
                + (history.Count == 0 ? "; the weights file records no training history, so there are no learning curves" : ""));
            return ExitCodes.Ok;
        });
        return command;
    }
}
