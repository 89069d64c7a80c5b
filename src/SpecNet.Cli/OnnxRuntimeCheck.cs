using System.CommandLine;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SpecNet.Checking;
using SpecNet.Formats;
using SpecNet.Kernels;
using SpecNet.Planning;

namespace SpecNet.Cli;

/// <summary>Runs an exported model in ONNX Runtime beside SpecNet on the same inputs.</summary>
public static class OnnxRuntimeCheck
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
