using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using SpecNet.Training;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet bench SPEC`: per-layer forward/backward time, GFLOP/s, and whole-model images per second.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var spec = new Argument<string>("spec") { Description = "the spec file (.yaml)" };
        var batch = CommonOptions.AtLeast("--batch-size", 1, "examples per step (default: training.batch_size)");
        var iterations = CommonOptions.InRange("--iterations", 1, 1_000_000, 50, "timed steps");
        var json = new Option<bool>("--json") { Description = "print one JSON object" };
        var backend = CommonOptions.Backend();
        var threads = CommonOptions.Threads();
        var ort = new Option<bool>("--onnx-runtime") { Description = "also time ONNX Runtime on the same model (SpecNet's export): batch N and 1, with 1 and 2 threads" };
        var command = new Command("bench", "Time training and inference steps, per layer, on random inputs.\n\nExample: specnet bench specs/mnist-cnn.yaml --batch-size 64")
            { spec, batch, iterations, json, backend, threads, ort };
        command.SetAction(result =>
        {
            var o = result.InvocationConfiguration.Output;
            var model = Inputs.Compile(result.GetValue(spec)!);
            var engine = Inputs.Engine(result, backend, result.InvocationConfiguration.Error);
            int n = result.GetValue(batch) ?? model.Training.BatchSize, iters = result.GetValue(iterations);
            var r = Benchmark.Run(model, engine, n, iters);
            var inv = CultureInfo.InvariantCulture;
            var runtime = result.GetValue(ort) ? OnnxRuntimeBench.Run(model, Planning.ParameterSet.Initialize(model, 1), n, iters) : [];
            if (result.GetValue(json))
            {
                o.WriteLine(new JsonObject
                {
                    ["spec"] = model.Name, ["backend"] = engine.Name, ["instruction_set"] = engine.Device, ["threads"] = engine.Threads,
                    ["batch_size"] = n, ["iterations"] = iters, ["step_ms"] = Math.Round(r.StepMs, 3),
                    ["train_images_per_second"] = Math.Round(r.TrainImagesPerSecond), ["inference_images_per_second"] = Math.Round(r.InferenceImagesPerSecond),
                    ["single_image_ms"] = Math.Round(r.SingleImage.Mean, 4), ["single_image_median_ms"] = Math.Round(r.SingleImage.Median, 4),
                    ["single_image_p99_ms"] = Math.Round(r.SingleImage.P99, 4), ["single_image_threads"] = r.SingleImageThreads, ["allocated_bytes_per_step"] = r.AllocatedBytesPerStep,
                    ["layers"] = new JsonArray(r.Layers.Select(l => (JsonNode)new JsonObject
                    {
                        ["name"] = l.Name, ["type"] = l.Kind, ["forward_ms"] = Math.Round(l.ForwardMs, 4), ["backward_ms"] = Math.Round(l.BackwardMs, 4),
                        ["gflops"] = Math.Round(l.GflopsPerSecond, 1), ["inference_ms"] = Math.Round(l.InferenceMs, 4),
                    }).ToArray()),
                    ["onnx_runtime"] = runtime.Count == 0 ? null : new JsonArray(runtime.Select(x => (JsonNode)new JsonObject
                    {
                        ["version"] = x.Runtime, ["threads"] = x.Threads, ["inference_images_per_second"] = Math.Round(x.ImagesPerSecond), ["single_image_ms"] = Math.Round(x.SingleImage.Mean, 4),
                        ["single_image_median_ms"] = Math.Round(x.SingleImage.Median, 4), ["single_image_p99_ms"] = Math.Round(x.SingleImage.P99, 4),
                    }).ToArray()),
                }.ToJsonString());
                return ExitCodes.Ok;
            }
            o.WriteLine($"{model.Name}: batch {n}, {iters} iterations, backend {engine}");
            double total = r.Layers.Sum(l => l.ForwardMs + l.BackwardMs);
            // The name column as wide as the longest name, so that a graph's block/layer names keep the figures in their columns
            string Label(LayerBenchmark l) => $"{l.Name} ({l.Kind})";
            int width = r.Layers.Select(l => Label(l).Length).Append("total (layers)".Length).Max();
            o.WriteLine($"{"layer".PadRight(width)} {"forward ms",10} {"backward ms",11} {"share",7} {"GFLOP/s",8} {"inference ms",12}");
            foreach (var l in r.Layers)
                o.WriteLine(string.Format(inv, "{0} {1,10:0.000} {2,11:0.000} {3,6:0.0}% {4,8:0.0} {5,12}", Label(l).PadRight(width), l.ForwardMs, l.BackwardMs,
                    100 * (l.ForwardMs + l.BackwardMs) / total, l.GflopsPerSecond, l.InferenceMs == 0 ? "fused" : l.InferenceMs.ToString("0.000", inv)));
            o.WriteLine(string.Format(inv, "{0} {1,10:0.000} {2,11:0.000} {3,7} {4,8} {5,12:0.000}", "total (layers)".PadRight(width), r.Layers.Sum(l => l.ForwardMs),
                r.Layers.Sum(l => l.BackwardMs), "", "", r.Layers.Sum(l => l.InferenceMs)));
            o.WriteLine("(forward and backward: a training step, layer by layer, a relu after a batch norm or an add inside it; inference: the inference plan, as eval and predict run it (a large batch in slices of a few examples, each thread through the whole model: per layer, the threads' time over the threads); fused: inside the layer before)");
            o.WriteLine(string.Format(inv, "Training step:    {0:0.000} ms = {1:N0} images/s (incl. loss and optimizer)", r.StepMs, r.TrainImagesPerSecond));
            o.WriteLine(string.Format(inv, "Inference:        {0:N0} images/s at batch {1}", r.InferenceImagesPerSecond, n));
            o.WriteLine(string.Format(inv, "Single image:     {0}{1}", Percentiles(r.SingleImage),
                r.SingleImageThreads < engine.Threads ? $" on {r.SingleImageThreads} thread (timed faster here than {engine.Threads})" : ""));
            o.WriteLine(string.Format(inv, "Allocated:        {0:N0} bytes per training step", r.AllocatedBytesPerStep));
            foreach (var x in runtime)
                o.WriteLine(string.Format(inv, "ONNX Runtime {0}, {1} thread{2}: {3:N0} images/s at batch {4}, single image {5}", x.Runtime, x.Threads, x.Threads == 1 ? "" : "s",
                    x.ImagesPerSecond, n, Percentiles(x.SingleImage)));
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>"0.0188 ms (median 0.0182, 99th percentile 0.0291)": the mean first, as images/s see it.</summary>
    private static string Percentiles(Latency l) =>
        string.Format(CultureInfo.InvariantCulture, "{0:0.0000} ms (median {1:0.0000}, 99th percentile {2:0.0000})", l.Mean, l.Median, l.P99);
}
