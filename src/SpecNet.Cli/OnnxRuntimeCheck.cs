using System.CommandLine;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SpecNet.Checking;
using SpecNet.Formats;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Training;

namespace SpecNet.Cli;

/// <summary>Runs an exported model in ONNX Runtime beside SpecNet on the same inputs.</summary>
public static class OnnxRuntimeCheck
{
    public const double Tolerance = 1e-5;

    /// <param name="Largest">The largest output's magnitude: float rounding grows with it.</param>
    public sealed record Result(string Runtime, int Examples, double MaxDifference, int SameClass, double Largest = 0)
    {
        /// <summary>The difference allowed: <see cref="Tolerance"/> of the largest output, and at least Tolerance (probabilities, logits
        /// near 1). Outputs in the hundreds, a regression's or a model fed raw 0..255 values, differ by more than 1e-5 by rounding
        /// alone: an imported model of such was refused as computing something else.</summary>
        public double Limit => Tolerance * Math.Max(1, Largest);

        public bool Passed => MaxDifference <= Limit && SameClass == Examples;
    }

    /// <summary>SpecNet's export (raw NHWC pixels in, the preprocessing inside) against the model it came from.</summary>
    public static Result Run(ModelSpec model, ParameterSet parameters, byte[] onnx, int examples, int seed = 1) =>
        Compare(model, parameters, onnx, OnnxExport.InputName, OnnxExport.OutputName, OnnxInputLayout.RawNhwc, examples, seed, logOutput: false);

    /// <summary>An imported model against the ONNX file it came from, each fed as it expects.</summary>
    public static Result RunImported(ImportResult imported, byte[] onnx, int examples, int seed = 1) =>
        Compare(imported.Model, imported.Parameters, onnx, imported.InputName, imported.OutputName, imported.InputLayout, examples, seed, imported.LogOutput);

    /// <summary>
    /// Random 8-bit images through both: SpecNet applies the spec's preprocessing; ONNX gets the raw values (RawNhwc) or the
    /// preprocessed values in its own layout (NCHW: transposed), so the comparison also checks the spec's preprocessing.
    /// </summary>
    /// <param name="logOutput">The ONNX model's outputs are the log of SpecNet's (a LogSoftmax imported as softmax): compared as their exp.</param>
    private static Result Compare(ModelSpec model, ParameterSet parameters, byte[] onnx, string inputName, string outputName, OnnxInputLayout layout, int examples, int seed,
        bool logOutput)
    {
        var plan = new ExecutionPlan(model, parameters, new ReferenceBackend(), examples, trainable: false);
        var rng = new Rng((ulong)seed);
        var raw = new byte[examples * model.Input.Size];
        for (int i = 0; i < raw.Length; i++) raw[i] = (byte)rng.NextInt(256);
        (model.Data?.Preprocessing ?? SpecNet.Checking.Preprocessing.Default).Apply(raw, plan.Input[..raw.Length], model.Input.Channels);
        var feed = layout switch
        {
            OnnxInputLayout.RawNhwc => raw.Select(v => (float)v).ToArray(),
            OnnxInputLayout.Nchw => ToNchw(plan.Input[..raw.Length], examples, model.Input.Height, model.Input.Width, model.Input.Channels),
            _ => plan.Input[..raw.Length].ToArray(),
        };
        int[] dims = layout == OnnxInputLayout.Nchw ? [examples, model.Input.Channels, model.Input.Height, model.Input.Width] : [examples, .. model.Input.Dims];
        var expected = plan.Forward(examples, training: false).ToArray();

        // one example per run: a model exported with a fixed batch of 1 runs too
        var actual = new List<float>();
        try
        {
            using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
            using var session = new InferenceSession(onnx, options);
            int size = feed.Length / examples;
            for (int n = 0; n < examples; n++)
            {
                var tensor = new DenseTensor<float>(feed.AsMemory(n * size, size), [1, .. dims[1..]]);
                using var outputs = session.Run([NamedOnnxValue.CreateFromTensor(inputName, tensor)]);
                var values = outputs.First(v => v.Name == outputName).AsEnumerable<float>();
                actual.AddRange(logOutput ? values.Select(MathF.Exp) : values);
            }
        }
        catch (OnnxRuntimeException e)
        {
            throw new SpecNet.Diagnostics.SpecNetException($"ONNX Runtime cannot run the model to compare: {e.Message.Split('\n')[0]}", "--no-verify skips the comparison");
        }
        if (actual.Count != expected.Length)
            return new Result(Version, examples, double.PositiveInfinity, 0);

        int units = model.Output.Size, same = 0;
        double max = 0, largest = expected.Length == 0 ? 0 : expected.Max(v => Math.Abs((double)v));
        for (int n = 0; n < examples; n++)
        {
            var e = expected.AsSpan(n * units, units);
            var a = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(actual).Slice(n * units, units);
            for (int i = 0; i < units; i++) max = Math.Max(max, Math.Abs(e[i] - a[i]));
            if (!model.Output.IsFlat || SpecNet.Training.Evaluator.Predict(e) == SpecNet.Training.Evaluator.Predict(a)) same++;
        }
        return new Result(Version, examples, max, same, largest);
    }

    private static string Version => typeof(InferenceSession).Assembly.GetName().Version?.ToString(3) ?? "?";

    private static float[] ToNchw(ReadOnlySpan<float> nhwc, int n, int h, int w, int c)
    {
        var nchw = new float[nhwc.Length];
        for (int b = 0; b < n; b++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int k = 0; k < c; k++)
                        nchw[((b * c + k) * h + y) * w + x] = nhwc[((b * h + y) * w + x) * c + k];
        return nchw;
    }
}

/// <summary>ONNX Runtime running SpecNet's export of a model, timed as `bench` times SpecNet: batch N and batch 1, with 1 and with 2 intra-op threads.</summary>
public static class OnnxRuntimeBench
{
    public sealed record Result(string Runtime, int Threads, double ImagesPerSecond, Latency SingleImage);

    public static IReadOnlyList<Result> Run(ModelSpec model, ParameterSet parameters, int batch, int iterations)
    {
        var bytes = OnnxExport.Build(model, parameters);
        var rng = new Rng(7);
        var input = new float[batch * model.Input.Size];
        for (int i = 0; i < input.Length; i++) input[i] = rng.NextInt(256);
        var results = new List<Result>();
        foreach (var threads in new[] { 1, 2 })
        {
            using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, IntraOpNumThreads = threads, InterOpNumThreads = 1 };
            options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL;
            using var session = new InferenceSession(bytes, options);
            Latency Time(int n, int runs)
            {
                var tensor = new DenseTensor<float>(input.AsMemory(0, n * model.Input.Size), [n, .. model.Input.Dims]);
                var feed = new[] { NamedOnnxValue.CreateFromTensor(OnnxExport.InputName, tensor) };
                void Run() { using var _ = session.Run(feed); }
                for (var warm = System.Diagnostics.Stopwatch.StartNew(); warm.ElapsedMilliseconds < 300;) Run();
                return Latency.Time(Run, runs);
            }
            double batchMs = Time(batch, iterations).Mean;
            results.Add(new Result(typeof(InferenceSession).Assembly.GetName().Version?.ToString(3) ?? "?", threads, batch * 1000 / batchMs, Time(1, Math.Max(200, iterations * 20))));
        }
        return results;
    }
}
