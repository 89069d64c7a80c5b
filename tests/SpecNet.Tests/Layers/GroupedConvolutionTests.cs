using SpecNet.Kernels;
using SpecNet.Layers;
using SpecNet.Planning;

namespace SpecNet.Tests.Layers;

/// <summary>
/// A grouped conv2d gives the grouped convolution's outputs (each filter reading its group's channels alone), whichever way it
/// runs: small groups of a 3x3 stride-1 convolution as the dense convolution with zero blocks, the others group by group. Against
/// the direct loops, in an inference plan and a training plan, on one thread and two, and on a backend without Winograd (where the
/// groups always run apart). (Their gradients: GradientCheckTests.)
/// </summary>
public class GroupedConvolutionTests
{
    [Theory]
    [InlineData("[9, 8, 16]", 16, 2, "same")]     // groups of 8: dense
    [InlineData("[7, 9, 12]", 24, 4, "same")]     // groups of 3 channels, 6 filters
    [InlineData("[6, 7, 32]", 8, 8, "valid")]     // 8 groups of 4 channels, one filter each
    [InlineData("[8, 8, 32]", 32, 2, "same")]     // groups of 16: group by group
    public void Grouped_outputs_match_the_direct_loops(string input, int filters, int groups, string padding)
    {
        var model = GradientCheckTests.Compile($"input: {{ shape: {input} }}\nlayers:\n  - conv2d: {{ filters: {filters}, kernel_size: 3, padding: {padding}, groups: {groups} }}\ntraining: {{ loss: mse }}\n");
        var conv = (Conv2D)model.Layers[0];
        const int batch = 3;
        var parameters = ParameterSet.Initialize(model, 5);
        float[] w = parameters.Slots[0].Value, bias = parameters.Slots[1].Value;
        for (int i = 0; i < bias.Length; i++) bias[i] = 0.1f * i;
        var x = Enumerable.Range(0, batch * conv.Input.Size).Select(i => MathF.Sin(0.37f * i)).ToArray();
        var expected = ReferenceKernels.Convolution(x, batch, conv.Input, w, conv.Rows, conv.Cols, filters, groups);
        for (int i = 0; i < expected.Length; i++) expected[i] += bias[i % filters];
        foreach (var backend in new Backend[] { new ManagedBackend(1), new ManagedBackend(2), new ReferenceBackend() })   // the last without Winograd: group by group
            foreach (bool trainable in new[] { false, true })
            {
                var plan = new ExecutionPlan(model, parameters, backend, batch, trainable: trainable);
                x.CopyTo(plan.Input);
                var y = plan.Forward(batch, training: false).ToArray();
                Assert.Equal(expected.Length, y.Length);
                for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(expected[i] - y[i]) <= 1e-5f, $"{backend}, trainable {trainable}: y[{i}] = {y[i]}, the loops {expected[i]}");
            }
    }

    /// <summary>The dense kernel is made from the weights at every pass, and once only over fixed parameters (eval, predict).</summary>
    [Fact]
    public void The_dense_kernel_follows_the_weights_unless_they_are_fixed()
    {
        var model = GradientCheckTests.Compile("input: { shape: [6, 6, 8] }\nlayers:\n  - conv2d: { filters: 8, kernel_size: 3, groups: 2 }\ntraining: { loss: mse }\n");
        var parameters = ParameterSet.Initialize(model, 5);
        var backend = new ManagedBackend(2);
        var x = Enumerable.Range(0, 2 * model.Input.Size).Select(i => MathF.Cos(i)).ToArray();
        float[] Run(ExecutionPlan plan) { x.CopyTo(plan.Input); return plan.Forward(2, training: false).ToArray(); }
        ExecutionPlan training = new(model, parameters, backend, 2), serving = new(model, parameters, backend, 2, trainable: false, fixedParameters: true);
        var first = Run(training);
        Assert.Equal(first, Run(serving));
        for (int i = 0; i < parameters.Slots[0].Value.Length; i++) parameters.Slots[0].Value[i] *= -2;
        Assert.NotEqual(first, Run(training));
        Assert.Equal(first, Run(serving));
    }
}
