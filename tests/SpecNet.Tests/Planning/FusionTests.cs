using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Tests.Layers;

namespace SpecNet.Tests.Planning;

/// <summary>
/// Inference runs a convolution, the batch_norm after it and a relu after that as one pass, and any batch_norm with the
/// relu after it (Fusion). The outputs must be those of the layers run one by one (a training plan evaluating, every
/// layer apart), to the bit, with batch-norm statistics and scales that are not the identity. Training's fusion of
/// batch_norm and relu is checked by the gradient checks and TrainingBufferReuseTests (to the bit against every layer apart).
/// </summary>
public class FusionTests
{
    [Theory]
    [InlineData("conv2d: { filters: 8, kernel_size: 3, padding: same }\n  - batch_norm\n  - relu", 1)]
    [InlineData("conv2d: { filters: 5, kernel_size: 3, use_bias: false }\n  - batch_norm", 1)]                        // no relu; 5 channels: the scalar path
    [InlineData("depthwise_conv2d: { kernel_size: 3, padding: same }\n  - batch_norm\n  - relu", 1)]
    [InlineData("conv2d: { filters: 8, kernel_size: 3, activation: relu }\n  - batch_norm\n  - relu", 1)]           // its own activation first: batch norm + relu
    [InlineData("conv2d: { filters: 8, kernel_size: 1, name: c }\n  - batch_norm: { name: b }\n  - relu: { name: r }\n  - add: { inputs: [b, r] }", 1)] // b read twice: conv + batch norm only
    [InlineData("conv2d: { filters: 8, kernel_size: 1, name: c }\n  - batch_norm: { name: b }\n  - relu: { name: r }\n  - add: { inputs: [c, r] }", 1)] // c read twice: batch norm + relu
    [InlineData("conv2d: { filters: 8, kernel_size: 1, name: c }\n  - batch_norm: { name: b }\n  - relu: { name: r }\n  - add: { inputs: [b, c] }", 0)]
    public void Folded_layers_give_the_outputs_of_the_layers_one_by_one(string layers, int chains)
    {
        var model = GradientCheckTests.Compile($"input: [6, 6, 3]\nlayers:\n  - {layers}\n  - global_avg_pool2d\n  - dense: {{ units: 4 }}\ntraining: {{ loss: mse }}\n");
        Assert.Equal(chains, Fusion.Chains(model, BufferLayout.SourcesOf(model)).Count(e => e >= 0));
        SameOutputs(model);
    }

    [Theory]
    [InlineData("fashion-resnet.yaml", 9, 4)]    // training: the four relus after a batch norm (the others follow an add)
    [InlineData("fashion-mobile.yaml", 9, 9)]
    public void Reference_models_fold_every_batch_norm_they_can(string file, int chains, int trainingChains)
    {
        var compiled = SpecCompiler.Compile(File.ReadAllText(TestPaths.Repo("specs", file)), file);
        Assert.True(compiled.Success, compiled.Render());
        var model = compiled.Model!;
        var end = Fusion.Chains(model, BufferLayout.SourcesOf(model));
        Assert.Equal(chains, end.Count(e => e >= 0));
        Assert.Equal(trainingChains, Fusion.Chains(model, BufferLayout.SourcesOf(model), training: true).Count(e => e >= 0));
        SameOutputs(model);
    }

    private static void SameOutputs(ModelSpec model)
    {
        const int batch = 3;
        var parameters = ParameterSet.Initialize(model, 1);
        var rng = new Rng(3);
        foreach (var slot in parameters.Slots)   // gamma, beta, moving mean and variance away from 1 and 0
            if (slot.Layer is SpecNet.Layers.BatchNorm)
                for (int i = 0; i < slot.Value.Length; i++) slot.Value[i] = slot.Spec.Suffix == "moving_variance" ? 0.2f + rng.NextFloat() : rng.NextFloat() * 2 - 1;
            else if (slot.Spec.Suffix == "bias")
                for (int i = 0; i < slot.Value.Length; i++) slot.Value[i] = rng.NextFloat() - 0.5f;
        var backend = new ManagedBackend(2);
        var separate = new ExecutionPlan(model, parameters, backend, batch, keepEveryActivation: true);
        var folded = new ExecutionPlan(model, parameters, backend, batch, trainable: false);
        for (int i = 0; i < separate.Input.Length; i++) separate.Input[i] = folded.Input[i] = rng.NextFloat() * 2 - 1;
        var expected = separate.Forward(batch, training: false).ToArray();
        Assert.Equal(expected, folded.Forward(batch, training: false).ToArray());
        Assert.Contains(expected, v => v != 0);
    }
}
