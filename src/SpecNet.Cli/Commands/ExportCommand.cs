using System.CommandLine;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SpecNet.Checking;
using SpecNet.Formats;
using SpecNet.Kernels;
using SpecNet.Planning;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet export SPEC --weights W --onnx OUT.onnx [--verify]`: an ONNX model any runtime can run.</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var spec = new Argument<string>("spec") { Description = "the spec file, or a weights file (its embedded spec is used)" };
        var weights = new Option<string?>("--weights", "-w") { Description = "weights file (default: <spec name>.safetensors beside the spec)" };
        var onnx = new Option<string>("--onnx") { Description = "the .onnx file to write", Required = true };
        var verify = new Option<bool>("--verify") { Description = "run the exported model in ONNX Runtime and compare with SpecNet (max abs difference 1e-5, same classes)" };
        var command = new Command("export", $"Export a model to ONNX (opset {OnnxExport.Opset}; input 'input' NHWC float32 raw values 0..255, the spec's preprocessing inside; output 'output').\n\nExample: specnet export specs/mnist-cnn.yaml --weights samples/mnist-cnn.safetensors --onnx mnist.onnx --verify")
            { spec, weights, onnx, verify };
        command.SetAction(result =>
        {
            var o = result.InvocationConfiguration.Output;
            var specPath = result.GetValue(spec)!;
            var model = Common.Compile(specPath);
            var parameters = WeightsFile.Load(Common.WeightsPath(specPath, result.GetValue(weights), model), model);
            var bytes = OnnxExport.Build(model, parameters);
            var path = result.GetValue(onnx)!;
            AtomicFile.Write(path, s => s.Write(bytes));
            o.WriteLine($"Wrote {path} ({ModelSummary.Bytes(bytes.Length)}, opset {OnnxExport.Opset}, input '{OnnxExport.InputName}' {string.Join("x", model.Input.Dims)}, output '{OnnxExport.OutputName}' {string.Join("x", model.Output.Dims)})");
            if (!result.GetValue(verify)) return ExitCodes.Ok;
            var check = OnnxCheck.Run(model, parameters, bytes, examples: 16);
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"ONNX Runtime {check.Runtime}: max abs difference {check.MaxDifference:G3} over {check.Examples} inputs, classes agree on {check.SameClass}/{check.Examples}"));
            if (check.Passed) return ExitCodes.Ok;
            result.InvocationConfiguration.Error.WriteLine($"error: the exported model does not match SpecNet (limit {OnnxCheck.Tolerance:G}, all classes equal)");
            return ExitCodes.Failure;
        });
        return command;
    }
}

/// <summary>Runs an exported model in ONNX Runtime beside SpecNet on the same inputs.</summary>
public static class OnnxCheck
{
    public const double Tolerance = 1e-5;

    public sealed record Result(string Runtime, int Examples, double MaxDifference, int SameClass)
    {
        public bool Passed => MaxDifference <= Tolerance && SameClass == Examples;
    }

    public static Result Run(ModelSpec model, ParameterSet parameters, byte[] onnx, int examples, int seed = 1)
    {
        var plan = new ExecutionPlan(model, parameters, new ReferenceBackend(), examples, trainable: false);
        var rng = new Rng((ulong)seed);
        // Raw 8-bit values into ONNX; SpecNet applies the spec's preprocessing to the same values.
        var raw = new byte[examples * model.Input.Size];
        for (int i = 0; i < raw.Length; i++) raw[i] = (byte)rng.NextInt(256);
        (model.Data?.Preprocessing ?? SpecNet.Checking.Preprocessing.Default).Apply(raw, plan.Input[..raw.Length], model.Input.Channels);
        var inputCopy = raw.Select(v => (float)v).ToArray();
        var expected = plan.Forward(examples, training: false).ToArray();

        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(onnx, options);
        int[] dims = [examples, .. model.Input.Dims];
        var tensor = new DenseTensor<float>(inputCopy, dims);
        using var outputs = session.Run([NamedOnnxValue.CreateFromTensor(OnnxExport.InputName, tensor)]);
        var actual = outputs.First(v => v.Name == OnnxExport.OutputName).AsEnumerable<float>().ToArray();

        int units = model.Output.Size, same = 0;
        double max = 0;
        for (int n = 0; n < examples; n++)
        {
            var e = expected.AsSpan(n * units, units);
            var a = actual.AsSpan(n * units, units);
            for (int i = 0; i < units; i++) max = Math.Max(max, Math.Abs(e[i] - a[i]));
            if (model.Output.IsFlat && SpecNet.Training.Evaluator.Predict(e) == SpecNet.Training.Evaluator.Predict(a)) same++;
            else if (!model.Output.IsFlat) same++;
        }
        var version = typeof(InferenceSession).Assembly.GetName().Version?.ToString(3) ?? "?";
        return new Result(version, examples, max, same);
    }
}
