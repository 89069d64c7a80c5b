using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Tests.Layers;

namespace SpecNet.Tests.Planning;

/// <summary>
/// Inference runs a convolution, the batch_norm after it and a relu after that as one pass, any batch_norm with the
/// relu after it, a convolution or dense layer without activation with the relu layer after it, a convolution and batch_norm with a residual add and relu after them, and a conv2d (or such a chain) with the
/// max pooling after it whose windows tile (Fusion). The outputs must be those of the layers run one by one (a training plan evaluating, every
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
    // conv2d + max_pool2d: each block of the convolution's output pooled in cache, only the pooled tensor written
    [InlineData("conv2d: { filters: 8, kernel_size: 3, padding: same, activation: relu }\n  - max_pool2d", 1)]
    [InlineData("conv2d: { filters: 5, kernel_size: 2 }\n  - max_pool2d: { pool_size: 2 }", 1, "7, 7, 3")]             // 6x6 output, 5 filters, no activation
    [InlineData("conv2d: { filters: 8, kernel_size: 3, activation: relu }\n  - max_pool2d", 1, "7, 7, 3")]             // 5x5: the last row and column unread, not computed
    [InlineData("conv2d: { filters: 8, kernel_size: 1, activation: relu }\n  - max_pool2d", 1, "5, 5, 3")]             // 1x1 reads x in place: every row computed
    [InlineData("conv2d: { filters: 6, kernel_size: 3, groups: 3, padding: same }\n  - max_pool2d: { pool_size: 3 }", 1)]
    [InlineData("conv2d: { filters: 8, kernel_size: 3, padding: same, use_bias: false }\n  - batch_norm\n  - relu\n  - max_pool2d", 1)]
    [InlineData("conv2d: { filters: 8, kernel_size: 3, padding: same }\n  - batch_norm\n  - max_pool2d", 1)]        // a negative scale: map before max
    [InlineData("conv2d: { filters: 8, kernel_size: 3, padding: same, activation: relu }\n  - max_pool2d: { pool_size: 3, strides: 2 }", 0)]   // overlapping windows
    [InlineData("conv2d: { filters: 8, kernel_size: 3, activation: relu }\n  - max_pool2d: { padding: same }", 0, "7, 7, 3")]   // a padded window
    [InlineData("conv2d: { filters: 8, kernel_size: 3, padding: same, activation: tanh }\n  - max_pool2d", 0)]        // its activation is a pass of its own
    [InlineData("conv2d: { filters: 8, kernel_size: 3, padding: same, name: c }\n  - max_pool2d: { name: p }\n  - max_pool2d: { inputs: [c], name: q }\n  - add: { inputs: [p, q] }", 0)]   // c read twice
    // conv + batch_norm + add (+ relu): a residual block's end, the add's other operand read in the convolution's output pass
    [InlineData("conv2d: { filters: 3, kernel_size: 3, padding: same, use_bias: false }\n  - batch_norm: { name: b }\n  - add: { inputs: [b, input] }\n  - relu", 1)]
    [InlineData("conv2d: { filters: 3, kernel_size: 3, padding: same }\n  - batch_norm: { name: b }\n  - add: { inputs: [input, b] }", 1)]
    [InlineData("depthwise_conv2d: { kernel_size: 3, padding: same }\n  - batch_norm: { name: b }\n  - add: { inputs: [b, input] }\n  - relu", 1)]
    [InlineData("depthwise_conv2d: { kernel_size: 3, padding: same }\n  - batch_norm: { name: b }\n  - add: { inputs: [b, input] }\n  - relu", 1, "6, 6, 8")]   // channel vectors
    [InlineData("conv2d: { filters: 3, kernel_size: 1 }\n  - batch_norm: { name: b }\n  - add: { inputs: [b, input, input] }", 1)]     // three operands: add apart
    [InlineData("conv2d: { filters: 3, kernel_size: 1 }\n  - batch_norm: { name: b }\n  - add: { inputs: [b, b] }", 1)]
    [InlineData("conv2d: { filters: 3, kernel_size: 1 }\n  - batch_norm: { name: b }\n  - subtract: { inputs: [b, input] }", 1)]
    [InlineData("conv2d: { filters: 3, kernel_size: 1 }\n  - batch_norm: { name: b }\n  - add: { inputs: [b, input] }\n  - add: { inputs: [previous, b] }", 1)]   // b read twice
    [InlineData("conv2d: { filters: 3, kernel_size: 1 }\n  - batch_norm: { name: b }\n  - add: { inputs: [input, input] }\n  - add: { inputs: [previous, b] }", 1)]   // the add after b does not read it
    [InlineData("conv2d: { filters: 16, kernel_size: 3, padding: same, use_bias: false }\n  - batch_norm: { name: b }\n  - add: { inputs: [b, input] }\n  - relu", 1, "20, 20, 16", 1)]
    // batch_norm + add + relu where no convolution takes the batch norm (its own activation first): the add in the batch norm's pass
    [InlineData("conv2d: { filters: 3, kernel_size: 3, padding: same, activation: tanh }\n  - batch_norm: { name: b }\n  - add: { inputs: [input, b] }\n  - relu", 1)]
    [InlineData("conv2d: { filters: 8, kernel_size: 1, activation: relu }\n  - batch_norm: { name: b }\n  - add: { inputs: [b, input] }\n  - relu", 1, "4, 4, 8")]   // channel vectors
    // depthwise (+ batch_norm + relu) + a 1x1 conv2d's chain: the 1x1 convolution makes its input rows a block at a time
    [InlineData("depthwise_conv2d: { kernel_size: 3, padding: same, use_bias: false }\n  - batch_norm\n  - relu\n  - conv2d: { filters: 16, kernel_size: 1, use_bias: false }\n  - batch_norm\n  - relu", 1, "10, 10, 8")]
    [InlineData("depthwise_conv2d: { kernel_size: 3, strides: 2, padding: same }\n  - batch_norm\n  - conv2d: { filters: 5, kernel_size: 1 }", 1, "17, 17, 8")]   // no relus; the 1x1 alone
    [InlineData("depthwise_conv2d: { kernel_size: 3, activation: relu }\n  - conv2d: { filters: 8, kernel_size: 1, activation: relu }", 1, "9, 9, 16")]   // its own bias and relu
    [InlineData("depthwise_conv2d: { kernel_size: 3, depth_multiplier: 2, padding: same }\n  - batch_norm\n  - relu\n  - conv2d: { filters: 4, kernel_size: 1 }\n  - batch_norm", 1)]   // the general loop
    [InlineData("depthwise_conv2d: { kernel_size: 3, padding: same }\n  - conv2d: { filters: 8, kernel_size: 1, activation: relu }\n  - max_pool2d", 1, "8, 8, 8")]   // and a pooling
    [InlineData("depthwise_conv2d: { kernel_size: 3, padding: same, use_bias: false }\n  - batch_norm\n  - relu\n  - conv2d: { filters: 16, kernel_size: 1 }\n  - batch_norm\n  - relu\n  - depthwise_conv2d: { kernel_size: 3, strides: 2, padding: same }\n  - conv2d: { filters: 8, kernel_size: 1 }\n  - depthwise_conv2d: { kernel_size: 3, padding: same }\n  - batch_norm\n  - conv2d: { filters: 8, kernel_size: 1, activation: relu }", 1, "19, 19, 8")]   // three pairs, each made for the next
    [InlineData("depthwise_conv2d: { kernel_size: 3, padding: same }\n  - conv2d: { filters: 8, kernel_size: 1, name: p }\n  - depthwise_conv2d: { kernel_size: 3, padding: same }\n  - conv2d: { filters: 8, kernel_size: 1 }\n  - add: { inputs: [previous, p] }", 2, "8, 8, 8")]   // p read twice: two chains
    [InlineData("depthwise_conv2d: { kernel_size: 3, padding: same }\n  - conv2d: { filters: 8, kernel_size: 1, strides: 2 }", 0, "8, 8, 8")]   // a strided 1x1 reads a tensor
    [InlineData("depthwise_conv2d: { kernel_size: 3, padding: same, activation: tanh }\n  - conv2d: { filters: 8, kernel_size: 1 }", 0, "8, 8, 8")]   // tanh: a pass of its own
    [InlineData("depthwise_conv2d: { kernel_size: 3, padding: same, name: d }\n  - conv2d: { filters: 8, kernel_size: 1 }\n  - add: { inputs: [previous, d] }", 0, "8, 8, 8")]   // d read twice
    [InlineData("depthwise_conv2d: { kernel_size: 3, padding: same, use_bias: false }\n  - batch_norm\n  - relu\n  - conv2d: { filters: 32, kernel_size: 1, use_bias: false }\n  - batch_norm\n  - relu", 1, "28, 28, 16", 1)]   // one image's rows split between threads
    // One image: its pooled rows split between two threads, each computing the output rows under its own
    [InlineData("conv2d: { filters: 32, kernel_size: 3, activation: relu }\n  - max_pool2d", 1, "28, 28, 3", 1)]
    [InlineData("conv2d: { filters: 32, kernel_size: 3, padding: same }\n  - batch_norm\n  - relu\n  - max_pool2d: { pool_size: 3 }", 1, "29, 29, 3", 1)]
    // Another activation than relu after the batch norm, on each chunk's rows (MobileNet's): not with the pooling after it, nor
    // inside a depthwise and 1x1 pair made a block of rows at a time
    [InlineData("conv2d: { filters: 16, kernel_size: 3, padding: same, use_bias: false }\n  - batch_norm\n  - hard_swish", 1, "28, 28, 3", 8)]
    [InlineData("depthwise_conv2d: { kernel_size: 3, padding: same }\n  - batch_norm\n  - relu6", 1, "9, 9, 16", 5)]
    [InlineData("conv2d: { filters: 8, kernel_size: 3, padding: same, name: c }\n  - conv2d: { filters: 8, kernel_size: 1 }\n  - batch_norm\n  - add: { inputs: [previous, c] }\n  - leaky_relu", 1)]
    [InlineData("conv2d: { filters: 8, kernel_size: 3 }\n  - batch_norm\n  - relu6\n  - max_pool2d", 1)]
    [InlineData("depthwise_conv2d: { kernel_size: 3, padding: same }\n  - batch_norm\n  - hard_swish\n  - conv2d: { filters: 8, kernel_size: 1 }", 1)]
    [InlineData("conv2d: { filters: 8, kernel_size: 3 }\n  - batch_norm\n  - softmax", 1)]   // over the channels: a pass of its own after the chain
    // a layer without activation and the relu layer after it: the relu in its output pass
    [InlineData("conv2d: { filters: 8, kernel_size: 3, padding: same }\n  - relu", 1)]
    [InlineData("conv2d: { filters: 8, kernel_size: 3 }\n  - relu\n  - max_pool2d", 1, "7, 7, 3")]   // and the pooling after them
    [InlineData("conv2d: { filters: 32, kernel_size: 3 }\n  - relu\n  - max_pool2d", 1, "28, 28, 3", 1)]   // one image, its rows split between the threads
    [InlineData("depthwise_conv2d: { kernel_size: 3, padding: same }\n  - relu\n  - conv2d: { filters: 8, kernel_size: 1 }\n  - relu", 1, "8, 8, 8")]   // a pair made for the next
    [InlineData("conv2d: { filters: 8, kernel_size: 3, activation: tanh }\n  - relu", 0)]   // its own activation first: the relu apart
    [InlineData("conv2d: { filters: 8, kernel_size: 1 }\n  - leaky_relu", 0)]                // relu alone
    [InlineData("conv2d: { filters: 8, kernel_size: 3, name: c }\n  - relu\n  - add: { inputs: [previous, c] }", 0)]   // c read twice
    public void Folded_layers_give_the_outputs_of_the_layers_one_by_one(string layers, int chains, string input = "6, 6, 3", int batch = 3)
    {
        var model = GradientCheckTests.Compile($"input: [{input}]\nlayers:\n  - {layers}\n  - global_avg_pool2d\n  - dense: {{ units: 4 }}\ntraining: {{ loss: mse }}\n");
        Assert.Equal(chains, Fusion.Chains(model, BufferLayout.SourcesOf(model)).Count(e => e >= 0));
        SameOutputs(model, batch);
    }

    /// <summary>A dense layer without activation and the relu layer after it, as one; the relu layer's output to the bit.</summary>
    [Fact]
    public void A_dense_layer_takes_the_relu_after_it()
    {
        var model = GradientCheckTests.Compile("input: [12]\nlayers:\n  - dense: { units: 40 }\n  - relu\n  - dense: { units: 4 }\ntraining: { loss: mse }\n");
        Assert.Equal([1, -1, -1], Fusion.Chains(model, BufferLayout.SourcesOf(model)));
        Assert.All(Fusion.Chains(model, BufferLayout.SourcesOf(model), training: true), e => Assert.Equal(-1, e));
        SameOutputs(model, batch: 3);
    }

    [Theory]
    [InlineData("fashion-resnet.yaml", 9, 7)]    // training: the four relus after a batch norm, and the three after an add
    [InlineData("fashion-mobile.yaml", 2, 9, 5)] // the stem; the four depthwise and 1x1 pairs, each made for the next (one image: a chain each)
    [InlineData("fashion-mobilenet-v3.yaml", 11, 8)] // every convolution with its batch norm (and add), and its hard_swish or relu6 (training: each batch norm with its relu6 or hard_swish)
    [InlineData("mnist-cnn.yaml", 3, 0)]         // every convolution with its max pooling
    public void Reference_models_fold_every_batch_norm_they_can(string file, int chains, int trainingChains, int? oneImageChains = null)
    {
        var compiled = SpecCompiler.Compile(File.ReadAllText(TestPaths.Repo("specs", file)), file);
        Assert.True(compiled.Success, compiled.Render());
        var model = compiled.Model!;
        var end = Fusion.Chains(model, BufferLayout.SourcesOf(model));
        Assert.Equal(chains, end.Count(e => e >= 0));
        Assert.Equal(trainingChains, Fusion.Chains(model, BufferLayout.SourcesOf(model), training: true).Count(e => e >= 0));
        Assert.Equal(oneImageChains ?? chains, Fusion.Chains(model, BufferLayout.SourcesOf(model), oneImageOnThreads: true).Count(e => e >= 0));
        SameOutputs(model, batch: 1);                // a plan for one image: its rows split between the threads
        // 8 images: each thread's chunk of the 3x3 convolution before the last pooling is 36 rows alone and 24 pooled (the
        // third row and column unread). A GEMM of three rows or fewer (16 or fewer against one panel of filters) runs as dot products, which round differently.
        SameOutputs(model, batch: 8);
    }

    /// <summary>
    /// In training an add of two and the relu that alone reads it run as one (a residual block's end), with the batch norm before
    /// it when that alone reads the batch norm's output and the other operand is another tensor; not an add whose output
    /// something else reads too, nor an add of three. (Their gradients: TrainingBufferReuseTests.)
    /// </summary>
    [Theory]
    [InlineData("add: { inputs: [a, b] }\n  - relu", 3)]
    [InlineData("add: { inputs: [a, b], name: s }\n  - relu\n  - add: { inputs: [s, a] }", -1)]
    [InlineData("add: { inputs: [a, b, a] }\n  - relu", -1)]
    // a batch norm with the add and relu after it (the batch norm is layer 2): not when the add's other operand is the batch
    // norm's input, nor when something else reads the batch norm's output, nor without the relu
    [InlineData("batch_norm: { inputs: [a], name: n }\n  - add: { inputs: [b, n] }\n  - relu", 4)]
    [InlineData("batch_norm: { inputs: [a], name: n }\n  - add: { inputs: [n, a] }\n  - relu", -1)]
    [InlineData("batch_norm: { inputs: [a], name: n }\n  - add: { inputs: [n, b] }\n  - add: { inputs: [previous, n] }\n  - relu", -1)]
    [InlineData("batch_norm: { inputs: [a], name: n }\n  - add: { inputs: [n, b] }\n  - flatten", -1)]
    public void An_add_and_its_relu_run_as_one_in_training(string layers, int chainEnd)
    {
        var model = GradientCheckTests.Compile($"input: [4, 4, 8]\nlayers:\n  - dropout: {{ rate: 0.5, name: a }}\n  - dropout: {{ rate: 0.5, inputs: [input], name: b }}\n  - {layers}\n  - flatten\n  - dense: {{ units: 2 }}\ntraining: {{ loss: mse }}\n");
        Assert.Equal(chainEnd, Fusion.Chains(model, BufferLayout.SourcesOf(model), training: true)[2]);   // the add is layer 2, its relu 3
    }

    /// <summary>Over fixed parameters (eval, predict) a batch norm's map is made at the first pass only, folded into a convolution or not.</summary>
    [Theory]
    [InlineData("conv2d: { filters: 4, kernel_size: 3, use_bias: false }\n  - batch_norm\n  - relu")]
    [InlineData("batch_norm\n  - relu")]
    public void Fixed_parameters_make_batch_norm_maps_once(string layers)
    {
        var model = GradientCheckTests.Compile($"input: [6, 6, 3]\nlayers:\n  - {layers}\n  - global_avg_pool2d\n  - dense: {{ units: 4 }}\ntraining: {{ loss: mse }}\n");
        var parameters = ParameterSet.Initialize(model, 1);
        var backend = new ManagedBackend(2);
        var input = Enumerable.Range(0, 2 * model.Input.Size).Select(i => MathF.Sin(i)).ToArray();
        float[] Run(ExecutionPlan plan) { input.CopyTo(plan.Input); return plan.Forward(2, training: false).ToArray(); }
        ExecutionPlan fixedPlan = new(model, parameters, backend, 2, trainable: false, fixedParameters: true), checkedPlan = new(model, parameters, backend, 2, trainable: false);
        var first = Run(checkedPlan);
        Assert.Equal(first, Run(fixedPlan));
        Array.Fill(parameters.Slots.Single(s => s.Spec.Suffix == "gamma").Value, 3f);
        Assert.NotEqual(first, Run(checkedPlan));
        Assert.Equal(first, Run(fixedPlan));
        Assert.Throws<ArgumentException>(() => new ExecutionPlan(model, parameters, backend, 2, fixedParameters: true));   // training reads them at every step
    }

    private static void SameOutputs(ModelSpec model, int batch = 3)
    {
        var parameters = ParameterSet.Initialize(model, 1);
        var rng = new Rng(3);
        foreach (var slot in parameters.Slots)   // gamma, beta, moving mean and variance away from 1 and 0
            if (slot.Layer is SpecNet.Layers.BatchNorm)
                for (int i = 0; i < slot.Value.Length; i++) slot.Value[i] = slot.Spec.Suffix == "moving_variance" ? 0.2f + rng.NextFloat() : rng.NextFloat() * 2 - 1;
            else if (slot.Spec.Suffix == "bias")
                for (int i = 0; i < slot.Value.Length; i++) slot.Value[i] = rng.NextFloat() - 0.5f;
        var backend = new ManagedBackend(2);
        var separate = new ExecutionPlan(model, parameters, backend, batch, keepEveryActivation: true, winograd: false);
        var folded = new ExecutionPlan(model, parameters, backend, batch, trainable: false, winograd: false);   // Winograd rounds differently: WinogradTests
        var byWinograd = new ExecutionPlan(model, parameters, backend, batch, trainable: false, winograd: true);
        // Over parameters read once (eval, predict): kernels packed and batch norm maps made at the first pass only
        var fixedFolded = new ExecutionPlan(model, parameters, backend, batch, trainable: false, winograd: false, fixedParameters: true);
        var fixedWinograd = new ExecutionPlan(model, parameters, backend, batch, trainable: false, winograd: true, fixedParameters: true);
        var input = Enumerable.Range(0, separate.Input.Length).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        float[] Run(ExecutionPlan plan, int n) { input.CopyTo(plan.Input); return plan.Forward(n, training: false).ToArray(); }   // inference reuses the input's buffer
        var expected = Run(separate, batch);
        Assert.Equal(expected, Run(folded, batch));
        Assert.Equal(expected, Run(fixedFolded, batch));
        Assert.Contains(expected, v => v != 0);
        var winograd = Run(byWinograd, batch);
        Assert.Equal(winograd, Run(fixedWinograd, batch));
        Assert.Equal(expected, Run(fixedFolded, batch));         // and again, from what the first pass made
        Assert.Equal(winograd, Run(fixedWinograd, batch));
        if (batch > 1) Assert.Equal(Run(separate, 1), Run(folded, 1));   // one image in a plan for more: its rows split between the threads
        if (batch > 1) Assert.Equal(Run(separate, 1), Run(fixedFolded, 1));
        // New weights and batch norm scales in the same arrays (a training step, a weights file loaded): every kernel the plan
        // packed, packed again, every batch norm map made again
        foreach (var slot in parameters.Slots.Where(s => s.Spec.Suffix is "weight" or "gamma"))
            for (int i = 0; i < slot.Value.Length; i++) slot.Value[i] = rng.NextFloat() - 0.5f;
        var changed = Run(separate, batch);
        Assert.NotEqual(expected, changed);
        Assert.Equal(changed, Run(folded, batch));
        // (plans over fixed parameters read them once: ConvolutionTests.A_fixed_kernel_is_prepared_at_the_first_pass_only)
    }
}
