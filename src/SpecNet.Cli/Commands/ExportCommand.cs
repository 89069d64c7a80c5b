using System.CommandLine;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SpecNet.Checking;
using SpecNet.Diagnostics;
using SpecNet.Formats;
using SpecNet.Kernels;
using SpecNet.Planning;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet export SPEC [--weights W] [-o OUT.onnx] [--verify]`: an ONNX model any runtime can run.</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var spec = new Argument<string>("spec") { Description = "the spec file, or a weights file (its embedded spec is used)" };
        var weights = new Option<string?>("--weights", "-w") { Description = "weights file (default: <spec name>.safetensors beside the spec)" };
        // -o/--output as every command that writes a file; --onnx, its first name, kept for the scripts that use it
        var onnx = new Option<string?>("--output", "-o", "--onnx") { Description = "the .onnx file to write (default: the weights file's name with .onnx, beside it)" };
        var verify = new Option<bool>("--verify") { Description = "run the exported model in ONNX Runtime and compare with SpecNet (max abs difference 1e-5, scaled by the largest output where that is past 1; same classes)" };
        var command = new Command("export", $"Export a model to ONNX (opset {OnnxExport.Opset}; input 'input' NHWC float32 raw values 0..255, the spec's preprocessing inside; output 'output').\n\nExample: specnet export specs/mnist-cnn.yaml --weights samples/mnist-cnn.safetensors -o mnist.onnx --verify")
            { spec, weights, onnx, verify };
        command.SetAction(result =>
        {
            var o = result.InvocationConfiguration.Output;
            var specPath = result.GetValue(spec)!;
            var model = Inputs.Compile(specPath);
            var weightsPath = Inputs.WeightsPath(specPath, result.GetValue(weights), model);
            var parameters = WeightsFile.Load(weightsPath, model);
            var bytes = OnnxExport.Build(model, parameters);
            var path = result.GetValue(onnx) ?? Path.ChangeExtension(weightsPath, ".onnx");
            // -o given the weights' or the spec's name by a slip would replace the model with its export
            foreach (var (input, what) in new[] { (weightsPath, "weights"), (specPath, "spec") })
                if (Path.GetFullPath(path) == Path.GetFullPath(input))
                    throw new SpecNetException($"{path}: the export would write over the {what} it reads", "give the ONNX file a name of its own, as -o model.onnx");
            AtomicFile.Write(path, s => s.Write(bytes));
            o.WriteLine($"Wrote {path} ({ModelSummary.Bytes(bytes.Length)}, opset {OnnxExport.Opset}, input '{OnnxExport.InputName}' {string.Join("x", model.Input.Dims)}, output '{OnnxExport.OutputName}' {string.Join("x", model.Output.Dims)})");
            if (model.Data?.Resize is { } method)
                o.WriteLine($"note: the graph takes {model.Input.Height}x{model.Input.Width} images only; the spec resizes others ({method}), so resize inputs the same way before running it");
            if (!result.GetValue(verify)) return ExitCodes.Ok;
            var check = OnnxRuntimeCheck.Run(model, parameters, bytes, examples: 16);
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"ONNX Runtime {check.Runtime}: max abs difference {check.MaxDifference:G3} over {check.Examples} inputs, classes agree on {check.SameClass}/{check.Examples}"));
            if (check.Passed) return ExitCodes.Ok;
            result.InvocationConfiguration.Error.WriteLine($"error: the exported model does not match SpecNet (limit {check.Limit:G3}, all classes equal)");
            return ExitCodes.Failure;
        });
        return command;
    }
}
