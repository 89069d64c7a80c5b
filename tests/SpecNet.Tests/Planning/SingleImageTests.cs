using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Planning;

namespace SpecNet.Tests.Planning;

/// <summary>
/// A plan for one image at a time on several threads is timed against the same model on one thread when it is made, and the
/// faster kept (<see cref="SingleImage"/>): by the median of alternating rounds, one thread only when clearly faster, and a
/// long pass not timed at all. Either gives the image's outputs.
/// </summary>
public class SingleImageTests
{
    private static ModelSpec Model(string file)
    {
        var compiled = SpecCompiler.Compile(File.ReadAllText(TestPaths.Repo("specs", file)), file);
        Assert.True(compiled.Success, compiled.Render());
        return compiled.Model!;
    }

    /// <summary>Each plan's pass takes its fixed time, but for the rounds listed as slow (a host's hiccup), and every call is counted.</summary>
    private sealed class Clock(ExecutionPlan shared, double sharedMs, double aloneMs, params int[] slowRounds)
    {
        public int Calls, Passes;
        public double Pass(ExecutionPlan plan, int passes)
        {
            Calls++;
            Passes += passes;
            double ms = plan == shared ? sharedMs : aloneMs;
            return slowRounds.Contains(Calls) ? 10 * ms : ms;
        }
    }

    [Theory]
    [InlineData(0.020, 0.016, false)]   // one thread 20% faster: kept
    [InlineData(0.020, 0.0195, true)]   // within a twentieth: the threads stay
    [InlineData(0.030, 0.040, true)]    // the threads faster
    [InlineData(2.0, 1.0, true)]        // a pass of a millisecond or more: large layers, the threads stay, untimed
    public void The_faster_plan_is_kept(double sharedMs, double aloneMs, bool keepsShared)
    {
        var model = Model("fashion-strided.yaml");
        var parameters = ParameterSet.Initialize(model, 1);
        var shared = new ExecutionPlan(model, parameters, new ManagedBackend(2), 1, trainable: false);
        var alone = new ExecutionPlan(model, parameters, new ManagedBackend(1), 1, trainable: false);
        var clock = new Clock(shared, sharedMs, aloneMs);
        Assert.Same(keepsShared ? shared : alone, SingleImage.Faster(shared, alone, clock.Pass));
        if (sharedMs >= 1) Assert.Equal(3, clock.Calls);                 // a first pass of each and one to see it is long
        else Assert.True(clock.Passes * Math.Max(sharedMs, aloneMs) <= 30, $"{clock.Passes} passes: the trial takes too long");
    }

    [Fact]
    public void A_few_slow_rounds_do_not_decide()
    {
        var model = Model("fashion-strided.yaml");
        var parameters = ParameterSet.Initialize(model, 1);
        var shared = new ExecutionPlan(model, parameters, new ManagedBackend(2), 1, trainable: false);
        var alone = new ExecutionPlan(model, parameters, new ManagedBackend(1), 1, trainable: false);
        // calls 1-4 are the first and warm-up passes; round r is calls 5 + 2r (the threads) and 6 + 2r (one thread).
        // One thread ten times slower in three rounds of nine, faster in the other six: kept
        Assert.Same(alone, SingleImage.Faster(shared, alone, new Clock(shared, 0.020, 0.016, 6, 8, 10).Pass));
        // and four slow rounds of the threads do not make one thread win
        Assert.Same(shared, SingleImage.Faster(shared, alone, new Clock(shared, 0.020, 0.0195, 5, 7, 9, 11).Pass));
    }

    [Fact]
    public void An_image_of_large_layers_keeps_the_threads()
    {
        // 128x128x64 -> 64, 3x3: 600 million multiply-adds, milliseconds a pass on any CPU
        var compiled = SpecCompiler.Compile("input: { shape: [128, 128, 64] }\nlayers:\n  - conv2d: { filters: 64, kernel_size: 3, padding: same }\n  - global_avg_pool2d\n  - dense: { units: 10, activation: softmax }\n", "large.yaml");
        Assert.True(compiled.Success, compiled.Render());
        var model = compiled.Model!;
        var plan = new CpuEngine(new ManagedBackend(2)).Plan(model, ParameterSet.Initialize(model, 1), 1, PlanOptions.Serving);
        Assert.Equal(2, Assert.IsType<ExecutionPlan>(plan).Kernels.Threads);
    }

    [Theory]
    [InlineData("fashion-strided.yaml")]
    [InlineData("fashion-mobile.yaml")]
    public void The_engine_plans_one_image_either_way_with_its_outputs(string file)
    {
        var model = Model(file);
        var parameters = ParameterSet.Initialize(model, 3);
        var plan = new CpuEngine(new ManagedBackend(2)).Plan(model, parameters, 1, PlanOptions.Serving);
        var reference = new ExecutionPlan(model, parameters, new ReferenceBackend(), 1, trainable: false);
        var rng = new Rng(9);
        for (int i = 0; i < model.Input.Size; i++) plan.Input[i] = reference.Input[i] = rng.NextFloat();
        var (y, expected) = (plan.Forward(1, false).ToArray(), reference.Forward(1, false).ToArray());
        for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - expected[i]) <= 1e-5f, $"output {i}: {y[i]} against {expected[i]}");
    }
}
