using SpecNet.Kernels;
using SpecNet.Planning;

namespace SpecNet.Tests.Layers;

/// <summary>Global average pooling split between threads by examples: each example's means, summed in order, on every thread's share.</summary>
public class GlobalAvgPool2DTests
{
    [Fact]
    public void Each_example_gets_its_own_means_on_two_threads()
    {
        var model = GradientCheckTests.Compile("input: [7, 7, 20]\nlayers:\n  - global_avg_pool2d\ntraining: { loss: mse }\n");
        const int batch = 64, cells = 49, c = 20;
        var plan = new ExecutionPlan(model, ParameterSet.Initialize(model, 1), new ManagedBackend(2), batch, trainable: false);
        var rng = new Rng(5);
        for (int i = 0; i < plan.Input.Length; i++) plan.Input[i] = rng.NextFloat() * 2 - 1;
        var expected = new float[batch * c];
        for (int n = 0; n < batch; n++)
            for (int v = 0; v < c; v++)
            {
                float sum = 0;
                for (int i = 0; i < cells; i++) sum += plan.Input[(n * cells + i) * c + v];
                expected[n * c + v] = sum * (1f / cells);
            }
        Assert.Equal(expected, plan.Forward(batch, training: false).ToArray());
    }
}
