using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Tests.Layers;

namespace SpecNet.Tests.Planning;

/// <summary>
/// Training reuses the buffer of an activation that no backward reads (Layer.BackwardReadsInputs/Output). A layer
/// that reads what it says it does not would read another tensor's values: these tests run one training step
/// with the reused layout and with every activation kept, and require the same output and gradients to the bit (but the bias
/// gradient of a convolution that runs its max pooling's backward: the same sum in another order).
/// </summary>
public class TrainingBufferReuseTests
{
    public static TheoryData<string, string> Layers()
    {
        var data = new TheoryData<string, string>();
        foreach (var c in GradientCheckTests.Cases()) data.Add((string)c[0], (string)c[1]);
        return data;
    }

    /// <summary>
    /// Dropout's backward reads neither its input nor its output, so between dropouts a layer's input and output are
    /// kept only if the layer says it reads them; the dropouts after it take the freed buffers and overwrite them.
    /// </summary>
    [Theory]
    [MemberData(nameof(Layers))]
    public void A_layer_between_dropouts_gets_the_gradients_it_gets_with_every_activation_kept(string input, string layer)
    {
        const string drop = "  - dropout: { rate: 0.5 }\n";
        var model = GradientCheckTests.Compile($"input: {{ shape: {input} }}\nlayers:\n{drop}  - {layer}\n{drop}{drop}{drop}training: {{ loss: mse }}\n");
        SameStep(model);
    }

    [Theory]
    [InlineData("add")]
    [InlineData("subtract")]
    [InlineData("multiply")]
    [InlineData("average")]
    [InlineData("maximum")]
    [InlineData("minimum")]
    [InlineData("concatenate")]
    public void A_merge_between_dropouts_gets_the_gradients_it_gets_with_every_activation_kept(string kind)
    {
        const string drop = "  - dropout: { rate: 0.5 }\n";
        SameStep(GradientCheckTests.Compile($$"""
            input: [3, 3, 2]
            layers:
              - dropout: { rate: 0.5, name: a }
              - dropout: { rate: 0.5, inputs: [input], name: b }
              - {{kind}}: { inputs: [a, b] }

            """ + drop + drop + drop + "training: { loss: mse }\n"));
    }

    /// <summary>
    /// A relu's mask comes from what backward keeps: its output (a relu layer, a conv's own relu, an add's relu run with it) or
    /// the batch norm's input it runs inside. Subtractions after it read nothing and write values of either sign into the buffers freed, so a
    /// wrong declaration gives another mask. (After dropouts, a value a later dropout zeroed also has a zero gradient.)
    /// </summary>
    [Theory]
    [InlineData("relu: { inputs: [a], name: r }")]
    [InlineData("batch_norm: { inputs: [a] }\n  - relu: { name: r }")]
    [InlineData("conv2d: { filters: 8, kernel_size: 1, activation: relu, inputs: [a], name: r }")]
    [InlineData("add: { inputs: [a, b] }\n  - relu: { name: r }")]                                  // run as one, the mask from r
    [InlineData("add: { inputs: [a, a] }\n  - relu: { name: r }")]                                  // both gradients into one tensor
    [InlineData("add: { inputs: [a, b] }\n  - relu\n  - max_pool2d: { pool_size: 1, name: r }")] // the pooling's backward is the relu's
    // batch norm + add + relu run as one: the mask written where b's gradient goes (added there: the subtractions read b too)
    [InlineData("batch_norm: { inputs: [a], name: n }\n  - add: { inputs: [n, b] }\n  - relu: { name: r }")]
    [InlineData("batch_norm: { inputs: [a], name: n }\n  - add: { inputs: [b, n] }\n  - relu: { name: r }")]
    [InlineData("batch_norm: { inputs: [a], name: n }\n  - add: { inputs: [b, n] }\n  - relu\n  - add: { inputs: [previous, a], name: r }")]   // a's and b's added both
    // a's gradient written by the add first: the batch norm or relu that reads a adds its share, not writing dx over dy
    [InlineData("batch_norm: { inputs: [a], name: n }\n  - add: { inputs: [n, a], name: r }")]
    [InlineData("relu: { inputs: [a], name: n }\n  - add: { inputs: [n, a], name: r }")]
    public void A_relu_before_layers_that_overwrite_freed_buffers_gets_the_gradients_it_gets_with_every_activation_kept(string layers) =>
        SameStep(GradientCheckTests.Compile($$"""
            input: [3, 3, 8]
            layers:
              - dropout: { rate: 0.5, name: a }
              - dropout: { rate: 0.5, inputs: [input], name: b }
              - {{layers}}
              - subtract: { inputs: [b, r], name: s1 }
              - subtract: { inputs: [s1, b], name: s2 }
              - subtract: { inputs: [s2, b] }
              - subtract: { inputs: [s2, b] }
            training: { loss: mse }

            """));

    /// <summary>
    /// A relu6 or hard_swish after a batch norm runs inside the batch norm's passes, as relu does: forward applies it, backward
    /// multiplies dy by its slope at gamma·xhat + beta, recomputed from the input (relu6: 1 where 0 &lt; it &lt; 6; hard_swish: 0 below
    /// -3, 1 above 3, (2·it + 3)/6 between). With gamma 5 about a quarter of the values are past 6 and a half below 0, and a third
    /// outside hard_swish's -3 to 3; the same outputs and gradients to the bit as the two layers run apart. 8 channels run in
    /// vectors, 5 a float at a time.
    /// </summary>
    [Theory]
    [InlineData("relu6", 8)]
    [InlineData("relu6", 5)]
    [InlineData("hard_swish", 8)]
    [InlineData("hard_swish", 5)]
    public void An_activation_after_a_batch_norm_runs_inside_it_with_the_gradients_of_the_layers_run_apart(string activation, int channels)
    {
        var model = GradientCheckTests.Compile($$"""
            input: [3, 3, {{channels}}]
            layers:
              - dropout: { rate: 0.5, name: a }
              - dropout: { rate: 0.5, inputs: [input], name: b }
              - batch_norm: { inputs: [a] }
              - {{activation}}: { name: r }
              - subtract: { inputs: [b, r], name: s1 }
              - subtract: { inputs: [s1, b] }
            training: { loss: mse }

            """);
        Assert.Equal(3, new BufferLayout(model, training: true).ChainEnd[2]);   // run as one
        SameStep(model, gamma: 5);
    }

    /// <summary>
    /// Batch norm + add + relu run as one, where the add's other operand needs no gradient (the input, with no input gradient asked
    /// for): the relu's mask is written over dy, and the batch norm reads it there.
    /// </summary>
    [Fact]
    public void A_batch_norm_add_and_relu_whose_other_operand_has_no_gradient_get_the_gradients_of_every_activation_kept() =>
        SameStep(GradientCheckTests.Compile("""
            input: [3, 3, 8]
            layers:
              - conv2d: { filters: 8, kernel_size: 1, activation: tanh }
              - batch_norm: { name: n }
              - add: { inputs: [n, input] }
              - relu
              - flatten
              - dense: { units: 3 }
            training: { loss: mse }

            """), inputGradient: false);

    /// <summary>
    /// A batch norm (with its relu), a dropout and an activation write dx over dy: their input's gradient is their output
    /// gradient's buffer. Not with every activation kept (the layout the others are checked against), not for a convolution.
    /// </summary>
    [Fact]
    public void Batch_norms_dropouts_and_activations_take_their_input_gradient_in_their_output_gradients_buffer()
    {
        var model = GradientCheckTests.Compile("""
            input: [4, 4, 3]
            layers:
              - conv2d: { filters: 8, kernel_size: 1 }
              - batch_norm
              - relu
              - dropout: { rate: 0.5 }
              - softmax
              - conv2d: { filters: 4, kernel_size: 1 }
              - flatten
              - dense: { units: 3 }
            training: { loss: mse }

            """);
        var gradient = new BufferLayout(model, training: true).Gradient;
        Assert.Equal(gradient[1], gradient[3]);      // batch_norm + relu, run as one: tensor 1 in, 3 out
        Assert.Equal(gradient[3], gradient[4]);      // dropout
        Assert.Equal(gradient[4], gradient[5]);      // softmax
        Assert.NotEqual(gradient[5], gradient[6]);   // a convolution's dx is no dy
        var kept = new BufferLayout(model, training: true, keepEveryActivation: true).Gradient;
        for (int t = 1; t < 5; t++) Assert.NotEqual(kept[t], kept[t + 1]);   // each layer apart, dx and dy in two buffers
        SameStep(model);
    }

    /// <summary>
    /// An activation or a dropout writes its output over its input where nothing reads that input after it and backward does not
    /// keep it: the same buffer, in cache. Not over the model's input (the caller's), not over a tensor another layer reads
    /// later, not over one that training keeps for backward (a relu's output, gelu's input), not with every activation kept; and
    /// a convolution never. Training's step is the one with every activation kept, to the bit.
    /// </summary>
    [Fact]
    public void Activations_and_dropouts_write_their_output_over_an_input_nothing_else_reads()
    {
        var model = GradientCheckTests.Compile("""
            input: [4, 4, 3]
            layers:
              - relu
              - conv2d: { filters: 8, kernel_size: 1, name: a }
              - relu
              - dropout: { rate: 0.5, name: b }
              - leaky_relu: { inputs: [a] }
              - add: { inputs: [b, previous] }
              - gelu
              - softmax
              - conv2d: { filters: 8, kernel_size: 1 }
              - flatten
              - dense: { units: 3 }
            training: { loss: mse }

            """);
        foreach (bool training in new[] { false, true })
        {
            var activation = new BufferLayout(model, training).Activation;
            Assert.NotEqual(activation[0], activation[1]);   // relu over the model's input
            Assert.NotEqual(activation[2], activation[3]);   // relu over 'a', which the leaky relu reads later
            Assert.Equal(!training, activation[3] == activation[4]);   // dropout over the relu's output, which training keeps (its mask)
            Assert.Equal(!training, activation[6] == activation[7]);   // gelu over the add's output, which training keeps (gelu's input)
            Assert.Equal(activation[7], activation[8]);      // softmax over gelu's output, which gelu's backward does not read
            Assert.NotEqual(activation[8], activation[9]);   // a convolution, of the same size
        }
        var kept = new BufferLayout(model, training: true, keepEveryActivation: true).Activation;
        Assert.Equal(kept.Length, kept.Distinct().Count());
        SameStep(model);
    }

    /// <summary>
    /// A flatten of one channel or of one cell moves nothing (its order is already channel-major), so it takes its input's buffer
    /// and its input gradient is its output gradient's; a flatten of several channels and cells transposes, into a buffer of its
    /// own. Training's step is the one with every activation kept, to the bit.
    /// </summary>
    [Fact]
    public void A_flatten_that_moves_nothing_writes_over_its_input()
    {
        var model = GradientCheckTests.Compile("""
            input: [4, 4, 3]
            layers:
              - conv2d: { filters: 1, kernel_size: 1 }
              - flatten                                            # one channel
              - dense: { units: 6 }
            training: { loss: mse }
            """);
        foreach (bool training in new[] { false, true })
        {
            var activation = new BufferLayout(model, training).Activation;
            Assert.Equal(activation[1], activation[2]);
        }
        var gradient = new BufferLayout(model, training: true).Gradient;
        Assert.Equal(gradient[1], gradient[2]);
        SameStep(model);

        var transposing = GradientCheckTests.Compile("""
            input: [4, 4, 3]
            layers:
              - conv2d: { filters: 2, kernel_size: 1 }
              - flatten                                            # two channels of 16 cells
              - dense: { units: 6 }
            training: { loss: mse }
            """);
        var apart = new BufferLayout(transposing, training: false).Activation;
        Assert.NotEqual(apart[1], apart[2]);
        SameStep(transposing);
    }

    /// <summary>
    /// A convolution that runs its max pooling's backward (Fusion.PoolingsInConvolutions) writes no output gradient: its buffer is
    /// the pooling's output gradient, which its backward reads, so its input gradient (written meanwhile) must not take that
    /// buffer. On two threads, a chunk's input gradient written there had changed the next chunk's. Not with every activation
    /// kept, not on a reference backend's layout, not through a relu of its own layer or windows that overlap.
    /// </summary>
    [Fact]
    public void A_convolution_running_its_poolings_backward_keeps_the_poolings_gradient_apart_from_its_input_gradient()
    {
        var model = GradientCheckTests.Compile("""
            input: [8, 8, 3]
            layers:
              - conv2d: { filters: 4, kernel_size: 3, padding: same, activation: relu }
              - max_pool2d: { pool_size: 2 }                    # taken
              - conv2d: { filters: 4, kernel_size: 3, padding: same }
              - relu
              - max_pool2d: { pool_size: 2 }                    # its relu a layer of its own
              - conv2d: { filters: 4, kernel_size: 1, activation: relu }
              - max_pool2d: { pool_size: 2, strides: 1 }        # overlapping windows
              - flatten
              - dense: { units: 3 }
            training: { loss: mse }
            """);
        var layout = new BufferLayout(model, training: true, inputGradient: true);
        Assert.Equal([false, true, false, false, false, false, false, false, false], layout.PoolingsTaken);
        var gradient = layout.Gradient;
        Assert.Equal(gradient[2], gradient[1]);       // the convolution's dy is the pooling's
        Assert.NotEqual(gradient[2], gradient[0]);    // and its dx is not
        foreach (var apart in new[] { new BufferLayout(model, training: true, inputGradient: true, poolingsInConvolutions: false),
                     new BufferLayout(model, training: true, inputGradient: true, keepEveryActivation: true) })
            Assert.NotEqual(apart.Gradient[2], apart.Gradient[1]);   // the pooling writes the convolution's dy
        SameStep(model);
    }

    [Theory]
    [MemberData(nameof(GradientCheckTests.GraphCases), MemberType = typeof(GradientCheckTests))]
    public void Graphs_get_the_gradients_they_get_with_every_activation_kept(string what, string spec)
    {
        Assert.NotEmpty(what);
        SameStep(GradientCheckTests.Compile(spec + "\ntraining: { loss: mse }\n"));
    }

    [Theory]
    [InlineData("fashion-resnet.yaml", 0.68)]   // batch norm's outputs and the adds before their relu are not kept
    [InlineData("fashion-mobile.yaml", 0.78)]
    [InlineData("fashion-cnn.yaml", 1.0)]       // every activation is read by a backward
    public void Reference_models_train_the_same_in_less_memory(string file, double atMost)
    {
        var compiled = SpecCompiler.Compile(File.ReadAllText(TestPaths.Repo("specs", file)), file);
        Assert.True(compiled.Success, compiled.Render());
        var model = compiled.Model!;
        double ratio = (double)new BufferLayout(model, training: true).ActivationFloats / new BufferLayout(model, training: true, keepEveryActivation: true).ActivationFloats;
        Assert.InRange(ratio, 0.1, atMost);
        SameStep(model);
    }

    private static void SameStep(ModelSpec model, bool inputGradient = true, float gamma = 1)
    {
        var parameters = ParameterSet.Initialize(model, 1);
        var rng = new Rng(3);
        foreach (var slot in parameters.Trainable.Where(s => s.Value.All(v => v == 0)))   // biases and betas: not zero, where a step could miss one
            for (int i = 0; i < slot.Value.Length; i++) slot.Value[i] = rng.NextFloat() * 0.4f - 0.2f;
        foreach (var slot in parameters.Trainable.Where(s => s.Name.EndsWith("gamma")))     // a batch norm's spread: past relu6's top with 5
            Array.Fill(slot.Value, gamma);
        var backend = new ManagedBackend(2);
        var values = parameters.Slots.Select(s => s.Value.ToArray()).ToArray();
        var (output, grads, dx) = Step(model, parameters, backend, keepEveryActivation: false, inputGradient);
        var moved = parameters.Slots.Select(s => s.Value.ToArray()).ToArray();   // a batch norm's moving statistics
        for (int i = 0; i < values.Length; i++) values[i].CopyTo(parameters.Slots[i].Value, 0);
        var (keptOutput, keptGrads, keptDx) = Step(model, parameters, backend, keepEveryActivation: true, inputGradient);
        Assert.Equal(keptOutput, output);
        Assert.Equal(keptDx, dx);
        // A convolution that runs its max pooling's backward sums its bias gradient over the pooling's output and gradient
        // (Epilogue.BiasThroughPooling): the same terms as over dz, added in another order
        var sources = BufferLayout.SourcesOf(model);
        var taken = new BufferLayout(model, training: true).PoolingsTaken;
        var reordered = Enumerable.Range(0, taken.Length).Where(i => taken[i]).Select(i => model.Layers[sources[i][0] - 1].Name + ".bias").ToHashSet();
        var trainable = parameters.Trainable.ToList();
        for (int i = 0; i < grads.Length; i++)
            if (reordered.Contains(trainable[i].Name))
                for (int j = 0; j < grads[i].Length; j++)
                    Assert.True(Math.Abs(grads[i][j] - keptGrads[i][j]) <= 1e-5f * Math.Max(1, Math.Abs(keptGrads[i][j])), $"{trainable[i].Name}[{j}]: {grads[i][j]} vs {keptGrads[i][j]}");
            else Assert.True(keptGrads[i].SequenceEqual(grads[i]), $"parameter {i} of {grads.Length} ({trainable[i].Name}): gradients differ");
        for (int i = 0; i < moved.Length; i++) Assert.True(parameters.Slots[i].Value.SequenceEqual(moved[i]), $"{parameters.Slots[i].Name}: values differ after the step");
    }

    private static (float[] Output, float[][] Grads, float[] InputGradient) Step(ModelSpec model, ParameterSet parameters, Backend backend, bool keepEveryActivation,
        bool inputGradient)
    {
        const int batch = 3;
        var plan = new ExecutionPlan(model, parameters, backend, batch, seed: 5, inputGradient: inputGradient, keepEveryActivation: keepEveryActivation);
        var rng = new Rng(7);
        var input = plan.Input;
        for (int i = 0; i < input.Length; i++) input[i] = rng.NextFloat() * 2 - 1;
        var output = plan.Forward(batch, training: true).ToArray();
        var dy = plan.OutputGradient;
        for (int i = 0; i < dy.Length; i++) dy[i] = rng.NextFloat() * 2 - 1;
        plan.Backward(fusedLoss: false);
        return (output, parameters.Trainable.Select(s => s.Grad!.ToArray()).ToArray(), plan.InputGradient.ToArray());
    }
}
