using System.Diagnostics;
using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Training.Optimizers;

namespace SpecNet.Training;

/// <summary>
/// One layer's share of a training step (like `caffe time`), and its time in the inference plan (InferenceMs). A layer that
/// runs inside the one before it (Planning/Fusion.cs) has 0: a relu after a batch norm, and at inference a batch norm or
/// relu folded into its convolution.
/// </summary>
public sealed record LayerBenchmark(string Name, string Kind, double ForwardMs, double BackwardMs, long Flops, double InferenceMs)
{
    /// <summary>Forward is 2·MACs·N; backward about twice that (weight and input gradients).</summary>
    public double GflopsPerSecond => Flops == 0 ? 0 : Flops / ((ForwardMs + BackwardMs) * 1e6);
}

public sealed record BenchmarkResult(int BatchSize, int Iterations, IReadOnlyList<LayerBenchmark> Layers,
    double StepMs, double TrainImagesPerSecond, double InferenceImagesPerSecond, Latency SingleImage, long AllocatedBytesPerStep, int SingleImageThreads);

/// <summary>
/// Milliseconds a call, over calls timed one by one: the mean (what throughput sees), the median, and the 99th percentile (what
/// a served user sees once in a hundred: a thread preempted by another process shows there first).
/// </summary>
public sealed record Latency(double Mean, double Median, double P99)
{
    public static Latency Of(double[] ms)
    {
        var sorted = ms.Order().ToArray();
        return new Latency(ms.Average(), sorted[sorted.Length / 2], sorted[(int)(0.99 * (sorted.Length - 1))]);
    }

    /// <summary>Times <paramref name="calls"/> calls of <paramref name="call"/>, one by one.</summary>
    public static Latency Time(Action call, int calls)
    {
        var ms = new double[calls];
        for (int i = 0; i < calls; i++)
        {
            long start = Stopwatch.GetTimestamp();
            call();
            ms[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        return Of(ms);
    }
}

/// <summary>Times training steps and inference on random inputs: per layer, whole model, single image.</summary>
public static class Benchmark
{
    /// <summary>
    /// Each measurement is preceded by the same work for <see cref="WarmUpMs"/> (two steps at least), so that it measures
    /// tiered-up (optimised) code: the runtime compiles a method's loops quickly first and optimises them after it has seen
    /// them run. 300 ms was too short: on a Zen 1 the strided model's steps after it still ran its last convolution and dense
    /// layer at half speed (1.45 and 0.81 ms, against 0.71 and 0.19 a second later).
    /// </summary>
    public const int WarmUpMs = 2000;

    private static void WarmUp(Action work, int ms = WarmUpMs)
    {
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 2 || clock.ElapsedMilliseconds < ms; i++) work();
    }

    public static BenchmarkResult Run(ModelSpec model, IEngine engine, int batchSize, int iterations)
    {
        var parameters = ParameterSet.Initialize(model, 1);
        var plan = engine.Plan(model, parameters, batchSize, new PlanOptions(Seed: 1));
        var rng = new Rng(7);
        for (int i = 0; i < plan.Input.Length; i++) plan.Input[i] = rng.NextFloat();
        var labels = Enumerable.Range(0, batchSize).Select(i => i % Math.Max(2, model.Output.Size)).ToArray();
        var loss = Loss.For(model.Training.Loss, model.FinalActivation);
        var optimizer = Optimizer.Create(model.Training.Optimizer, parameters, engine.Kernels);
        void Step()
        {
            plan.Forward(batchSize, training: true);
            loss.Compute(plan.Output, labels, batchSize, plan.OutputGradient);
            plan.Backward(loss.Fused);
            optimizer.Step();
        }
        WarmUp(Step);
        var times = new LayerTimes(model.Layers.Count);
        plan.Profile = times;
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++) Step();
        double stepMs = clock.Elapsed.TotalMilliseconds / iterations;
        long perStep = (GC.GetAllocatedBytesForCurrentThread() - allocated) / iterations;
        plan.Profile = null;

        // Inference as eval and predict run it: a plan of its own (folded chains, activation buffers shared), timed whole
        // after a warm-up that lets the runtime tier its code up, then once more per layer.
        var infer = engine.Plan(model, parameters, batchSize, PlanOptions.Serving);
        plan.Input.CopyTo(infer.Input);
        WarmUp(() => infer.Forward(batchSize, training: false), WarmUpMs / 2);
        clock.Restart();
        for (int i = 0; i < iterations; i++) infer.Forward(batchSize, training: false);
        double inference = batchSize * iterations / clock.Elapsed.TotalSeconds;
        var inferTimes = new LayerTimes(model.Layers.Count);
        infer.Profile = inferTimes;
        for (int i = 0; i < iterations; i++) infer.Forward(batchSize, training: false);
        infer.Profile = null;

        var layers = model.Layers.Select((l, i) => new LayerBenchmark(l.Name, l.Kind.Name, times.Forward[i] / iterations, times.Backward[i] / iterations,
            l.Macs * 2 * batchSize * 3, inferTimes.Forward[i] / iterations)).ToList();

        var single = engine.Plan(model, parameters, 1, PlanOptions.Serving);
        plan.Input[..model.Input.Size].CopyTo(single.Input);
        WarmUp(() => single.Forward(1, false), WarmUpMs / 2);
        var singleImage = Latency.Time(() => single.Forward(1, false), Math.Max(200, iterations * 20));
        int singleThreads = single is ExecutionPlan kept ? kept.Kernels.Threads : engine.Threads;   // one thread where it timed faster (SingleImage)
        return new BenchmarkResult(batchSize, iterations, layers, stepMs, batchSize * 1000 / stepMs, inference, singleImage, perStep, singleThreads);
    }
}
