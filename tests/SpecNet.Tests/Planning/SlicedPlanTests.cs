using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Planning;

namespace SpecNet.Tests.Planning;

/// <summary>
/// Inference over a large batch runs it a slice at a time through the whole model, each thread on its own one-thread plan
/// (<see cref="SlicedPlan"/>): every example's outputs must be, to the bit, those a one-thread plan gives for its slice, and
/// within rounding those of a plan of the whole batch; passes too small for a slice per thread run whole, as before.
/// </summary>
public class SlicedPlanTests
{
    private static readonly int S = SlicedPlan.SliceExamples;

    [Theory]
    [InlineData("fashion-resnet.yaml")]   // residual adds and 1x1 shortcuts, Winograd
    [InlineData("fashion-mobile.yaml")]   // depthwise and 1x1 pairs, each made for the next
    [InlineData("mnist-cnn.yaml")]        // convolutions pooled in their epilogue
    public void A_large_batch_gives_each_slice_what_a_one_thread_plan_gives_it(string file)
    {
        Skip.If(S == 0, "SPECNET_SLICE=0: inference runs layer by layer");
        var model = Compile(file);
        var parameters = Parameters(model);
        var engine = new CpuEngine(new ManagedBackend(2));
        int capacity = 5 * S + 3;
        var plan = engine.Plan(model, parameters, capacity, PlanOptions.Serving);
        Assert.IsType<SlicedPlan>(plan);
        var input = Input(model, capacity);
        var whole = new ExecutionPlan(model, parameters, engine.Kernels, capacity, trainable: false, fixedParameters: true);
        var one = new ExecutionPlan(model, parameters, new ManagedBackend(1), S, trainable: false, fixedParameters: true);
        foreach (int batch in new[] { capacity, 2 * S, capacity, 3 * S - 1 })   // with S = 16: 6 slices of 13-14, 2 of 16, 6 again, 4 of 11-12
        {
            int slices = SlicedPlan.Slices(batch, 2);
            Assert.True(slices % 2 == 0 && (batch + slices - 1) / slices <= S, $"{slices} slices of a batch of {batch}");
            var sliced = Run(plan, input, batch);
            var expected = new float[sliced.Length];
            for (int i = 0; i < slices; i++)
            {
                int first = SlicedPlan.SliceStart(batch, slices, i), n = SlicedPlan.SliceStart(batch, slices, i + 1) - first;
                Run(one, input.AsSpan(first * model.Input.Size).ToArray(), n).CopyTo(expected, first * model.Output.Size);
            }
            Assert.Equal(expected, sliced);
            var reference = Run(whole, input, batch);
            for (int i = 0; i < reference.Length; i++) Assert.True(Math.Abs(reference[i] - sliced[i]) <= 1e-5f, $"output {i}: {sliced[i]} against {reference[i]} over the whole batch");
        }
    }

    [Fact]
    public void A_pass_too_small_for_a_slice_per_thread_runs_whole_on_the_shared_backend()
    {
        Skip.If(S == 0, "SPECNET_SLICE=0: inference runs layer by layer");
        var model = Compile("fashion-resnet.yaml");
        var parameters = Parameters(model);
        var kernels = new ManagedBackend(2);
        var plan = new SlicedPlan(model, parameters, kernels, 4 * S, fixedParameters: false);
        var input = Input(model, 4 * S);
        Assert.Equal(0, SlicedPlan.Slices(2 * S - 1, 2));
        var shared = new ExecutionPlan(model, parameters, kernels, 2 * S, trainable: false);
        Assert.Equal(Run(shared, input, 2 * S - 1), Run(plan, input, 2 * S - 1));
        Assert.Equal(Run(shared, input, 1), Run(plan, input, 1));                  // one image: its rows split between the threads
        // Parameters that may change between passes (PlanOptions.Inference): every slice's plan reads them again
        var before = Run(plan, input, 4 * S);
        foreach (var slot in parameters.Slots.Where(s => s.Spec.Suffix == "gamma")) Array.Fill(slot.Value, 2f);
        var after = Run(plan, input, 4 * S);
        Assert.NotEqual(before, after);
        var one = new ExecutionPlan(model, parameters, new ManagedBackend(1), S, trainable: false);
        Assert.Equal(Run(one, input, S), after[..(S * model.Output.Size)]);
    }

    [Fact]
    public void Only_inference_on_the_managed_backend_with_a_slice_per_thread_runs_in_slices()
    {
        Skip.If(S == 0, "SPECNET_SLICE=0: inference runs layer by layer");
        var model = Compile("mnist-cnn.yaml");
        var parameters = ParameterSet.Initialize(model, 1);
        var two = new CpuEngine(new ManagedBackend(2));
        Assert.IsType<SlicedPlan>(two.Plan(model, parameters, 2 * S, PlanOptions.Inference));
        Assert.IsType<ExecutionPlan>(two.Plan(model, parameters, 2 * S - 1, PlanOptions.Serving));
        Assert.IsType<ExecutionPlan>(two.Plan(model, parameters, 4 * S, new PlanOptions()));                       // training
        Assert.IsType<ExecutionPlan>(two.Plan(model, parameters, 4 * S, new PlanOptions(Training: false, InputGradient: true)));
        Assert.IsType<ExecutionPlan>(new CpuEngine(new MathNetBackend(2)).Plan(model, parameters, 4 * S, PlanOptions.Serving));
        var one = new CpuEngine(new ManagedBackend(1)).Plan(model, parameters, 2 * S, PlanOptions.Serving);   // one thread: slices keep tensors in cache too
        Assert.IsType<SlicedPlan>(one);
        Assert.Equal(1, SlicedPlan.Slices(S - 1, 1));                 // and any smaller pass is its one slice: no second plan
        var input = Input(model, 2 * S);
        var alone = new ExecutionPlan(model, parameters, new ManagedBackend(1), S, trainable: false);
        Assert.Equal(Run(alone, input, S - 1), Run(one, input, S - 1));
        var tooLarge = Assert.Throws<SpecNet.Diagnostics.SpecNetException>(() => two.Plan(model, parameters, Array.MaxLength / 100, PlanOptions.Serving));
        Assert.Contains("does not fit", tooLarge.Message);
    }

    /// <summary>
    /// Every slice reads all the weights again, so a model whose weights outweigh a slice's tensors many times (dense layers of
    /// thousands of units) runs a large batch layer by layer, each GEMM reading its weights once; the reference models, whose
    /// tensors outweigh their weights (the strided model's about as much), run in slices. The same floats either way for the
    /// dense model: its plan is the shared one.
    /// </summary>
    [Theory]
    [InlineData("fashion-strided.yaml", true)]
    [InlineData("fashion-cnn.yaml", true)]
    [InlineData("fashion-resnet.yaml", true)]
    [InlineData("fashion-mobile.yaml", true)]
    [InlineData(null, false)]   // 2048 -> 1000: 8 MB of weights against 20 KB of tensors an example
    public void A_model_whose_weights_outweigh_its_slices_runs_a_large_batch_whole(string? file, bool sliced)
    {
        Skip.If(S == 0, "SPECNET_SLICE=0: inference runs layer by layer");
        var model = file is null
            ? SpecCompiler.Compile("name: wide\ninput: { shape: [8, 8, 32] }\nlayers:\n  - flatten\n  - dense: { units: 1000, activation: softmax }\n", "wide.yaml").Model!
            : Compile(file);
        Assert.Equal(sliced, SlicedPlan.SlicesWeighEnough(model));
        var engine = new CpuEngine(new ManagedBackend(2));
        var plan = engine.Plan(model, Parameters(model), 4 * S, PlanOptions.Serving);
        Assert.Equal(sliced, plan is SlicedPlan);
        if (sliced) return;
        var input = Input(model, 4 * S);
        var shared = new ExecutionPlan(model, plan.Parameters, engine.Kernels, 4 * S, trainable: false, fixedParameters: true);
        Assert.Equal(Run(shared, input, 4 * S), Run(plan, input, 4 * S));
    }

    [Fact]
    public void Bench_times_each_layer_of_a_sliced_pass()
    {
        Skip.If(S == 0, "SPECNET_SLICE=0: inference runs layer by layer");
        var model = Compile("mnist-cnn.yaml");
        var plan = new CpuEngine(new ManagedBackend(2)).Plan(model, Parameters(model), 4 * S, PlanOptions.Serving);
        var times = new LayerTimes(model.Layers.Count);
        plan.Profile = times;
        Run(plan, Input(model, 4 * S), 4 * S);
        Assert.All(model.Layers.Select((l, i) => (l, i)).Where(p => p.l is SpecNet.Layers.Conv2D), p => Assert.True(times.Forward[p.i] > 0, p.l.Name));
    }

    private static ModelSpec Compile(string file)
    {
        var compiled = SpecCompiler.Compile(File.ReadAllText(TestPaths.Repo("specs", file)), file);
        Assert.True(compiled.Success, compiled.Render());
        return compiled.Model!;
    }

    /// <summary>Batch norms away from the identity, so that a slice read with another's statistics would show.</summary>
    private static ParameterSet Parameters(ModelSpec model)
    {
        var parameters = ParameterSet.Initialize(model, 1);
        var rng = new Rng(5);
        foreach (var slot in parameters.Slots.Where(s => s.Layer is SpecNet.Layers.BatchNorm))
            for (int i = 0; i < slot.Value.Length; i++) slot.Value[i] = slot.Spec.Suffix == "moving_variance" ? 0.2f + rng.NextFloat() : rng.NextFloat() * 2 - 1;
        return parameters;
    }

    private static float[] Input(ModelSpec model, int examples)
    {
        var rng = new Rng(9);
        return Enumerable.Range(0, examples * model.Input.Size).Select(_ => rng.NextFloat()).ToArray();
    }

    private static float[] Run(IPlan plan, float[] input, int batch)
    {
        input.AsSpan(0, batch * plan.Model.Input.Size).CopyTo(plan.Input);
        return plan.Forward(batch, training: false).ToArray();
    }
}
