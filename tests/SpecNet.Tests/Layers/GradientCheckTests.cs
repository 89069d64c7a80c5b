using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Layers;
using SpecNet.Planning;
using SpecNet.Training;

namespace SpecNet.Tests.Layers;

/// <summary>
/// Every layer's backward pass against a central-difference numerical gradient, for every element of its
/// input and parameters. The loss is a random weighted sum of the outputs (a plain sum would make
/// softmax's gradient zero and the check pass without testing anything).
/// </summary>
public class GradientCheckTests
{
    public static TheoryData<string, string> Cases() => new()
    {
        { "[7, 6, 2]", "conv2d: { filters: 3, kernel_size: 3, activation: tanh }" },
        { "[7, 7, 2]", "conv2d: { filters: 3, kernel_size: [3, 2], strides: 2, padding: same, activation: elu }" },
        { "[8, 8, 1]", "conv2d: { filters: 2, kernel_size: 3, dilation_rate: 2, padding: same, activation: gelu, use_bias: false }" },
        { "[6, 6, 3]", "max_pool2d: { pool_size: 2 }" },
        { "[7, 7, 2]", "max_pool2d: { pool_size: 3, strides: 2, padding: same }" },
        { "[6, 6, 3]", "avg_pool2d: { pool_size: 2 }" },
        { "[5, 5, 2]", "avg_pool2d: { pool_size: 2, strides: 2, padding: same }" },
        { "[5, 6, 12]", "avg_pool2d: { pool_size: 3, strides: 1, padding: same }" },   // a vector and a half of channels
        { "[4, 3, 5]", "global_avg_pool2d" },
        { "[4, 3, 5]", "global_max_pool2d" },
        { "[3, 4, 2]", "flatten" },
        { "[12]", "dense: { units: 5, activation: softmax }" },
        { "[12]", "dense: { units: 4, activation: sigmoid, use_bias: false }" },
        { "[10]", "dropout: { rate: 0.4 }" },
        { "[3, 3, 4]", "batch_norm" },
        { "[6]", "batch_norm: { momentum: 0.5 }" },
        { "[2, 2, 16]", "batch_norm" },                         // 16 channels: the vector kernels (8 channels a vector)
        { "[3, 2, 4]", "layer_norm" },
        { "[2, 2, 19]", "layer_norm" },                         // 19 channels: two vectors of 8 and a tail of 3
        { "[12]", "layer_norm: { epsilon: 0.01 }" },
        { "[3, 2, 4]", "relu" },
        { "[9]", "leaky_relu" },
        { "[9]", "leaky_relu: { alpha: 2.5 }" },                // past 1: alpha * x is the smaller where x < 0
        { "[9]", "elu: { alpha: 0.7 }" },
        { "[9]", "gelu" },
        { "[9]", "sigmoid" },
        { "[9]", "tanh" },
        { "[2, 2, 5]", "softmax" },
        { "[9]", "activation: { activation: silu }" },
        { "[9]", "silu" },
        { "[3, 2, 4]", "relu6" },
        { "[9]", "hard_sigmoid" },
        { "[9]", "hard_swish" },
        { "[7, 6, 2]", "conv2d: { filters: 3, kernel_size: 3, activation: hard_swish }" },   // the epilogue keeps its input
        { "[6, 5, 4]", "conv2d: { filters: 6, kernel_size: 3, groups: 2, activation: tanh }" },                 // small groups: as a dense convolution
        { "[6, 5, 12]", "conv2d: { filters: 8, kernel_size: 3, padding: same, groups: 4, use_bias: false }" },
        { "[5, 6, 32]", "conv2d: { filters: 16, kernel_size: 3, padding: same, groups: 2 }" },                       // groups of 16: group by group
        { "[7, 7, 4]", "conv2d: { filters: 4, kernel_size: 3, strides: 2, groups: 2 }" },
        { "[7, 6, 4]", "depthwise_conv2d: { kernel_size: 3, activation: tanh }" },
        { "[7, 7, 3]", "depthwise_conv2d: { kernel_size: [3, 2], strides: 2, padding: same, depth_multiplier: 2, activation: tanh }" },
        { "[8, 8, 2]", "depthwise_conv2d: { kernel_size: 3, dilation_rate: 2, padding: same, use_bias: false }" },
        { "[5, 9, 8]", "depthwise_conv2d: { kernel_size: 3, padding: same, activation: tanh }" },         // 8 channels: dW summed in registers
        { "[9, 7, 8]", "depthwise_conv2d: { kernel_size: 5, padding: same }" },        // 8 channels, padded, not 3x3: dW from a padded copy, four outputs then a tail
        { "[6, 10, 16]", "depthwise_conv2d: { kernel_size: [3, 7], dilation_rate: [2, 1], padding: same, activation: gelu }" },
        { "[6, 6, 3]", "separable_conv2d: { filters: 4, kernel_size: 3, depth_multiplier: 2, activation: tanh }" },
        { "[7, 7, 2]", "separable_conv2d: { filters: 3, kernel_size: 3, strides: 2, padding: same, use_bias: false }" },
        { "[2, 2, 17]", "concatenate: { inputs: [input, input] }" },    // 17 channels: two vectors of 8 and one alone, each copy's gradient added
        { "[3, 3, 4]", "maximum: { inputs: [input, input] }" },   // a tie everywhere: the first input takes dy, the second nothing
        { "[3, 3, 4]", "minimum: { inputs: [input, input, input] }" },
        { "[5, 4, 2]", "zero_padding2d: { padding: [[1, 2], [0, 3]] }" },
        { "[3, 3, 2]", "zero_padding2d" },
        // frozen (trainable: false): only dx, and batch_norm normalises with its moving statistics
        { "[3, 3, 4]", "batch_norm: { trainable: false }" },
        { "[2, 2, 11]", "layer_norm: { trainable: false }" },
        { "[7, 6, 2]", "conv2d: { filters: 3, kernel_size: 3, activation: tanh, trainable: false }" },
        { "[7, 6, 4]", "depthwise_conv2d: { kernel_size: 3, activation: relu, trainable: false }" },
        { "[6, 6, 3]", "separable_conv2d: { filters: 4, kernel_size: 3, activation: tanh, trainable: false }" },
        { "[12]", "dense: { units: 5, activation: relu, trainable: false }" },
    };

    /// <summary>Two different paths into each merge, so each input's gradient is its own; plus blocks and a tensor read three times.</summary>
    public static TheoryData<string, string> GraphCases() => new()
    {
        { "add", Merged("add") },
        { "subtract", Merged("subtract") },
        { "multiply", Merged("multiply") },
        { "average", Merged("average") },
        { "maximum", Merged("maximum") },
        { "minimum", Merged("minimum") },
        { "concatenate", Merged("concatenate") },
        { "multiply of three", """
            input: [3, 3, 2]
            layers:
              - conv2d: { filters: 2, kernel_size: 1, activation: tanh, name: a }
              - conv2d: { filters: 2, kernel_size: 1, activation: sigmoid, inputs: [input], name: b }
              - multiply: { inputs: [a, b, input] }   # each input's gradient: dy times both others
            """ },
        { "read three times", """
            input: [3, 3, 2]
            layers:
              - conv2d: { filters: 2, kernel_size: 1, activation: tanh, name: a }
              - conv2d: { filters: 2, kernel_size: 1, activation: sigmoid, inputs: [input], name: b }
              - add: { inputs: [a, b, input] }
            """ },
        { "residual", """
            input: [5, 5, 2]
            layers:
              - residual:
                  layers:
                    - conv2d: { filters: 3, kernel_size: 3, strides: 2, padding: same, activation: tanh }
                    - batch_norm
                  shortcut:
                    - conv2d: { filters: 3, kernel_size: 1, strides: 2 }
                  activation: elu
              - residual: { layers: [ depthwise_conv2d: { kernel_size: 3, padding: same, activation: tanh } ], repeat: 2 }
            """ },
        { "layer_norm in a ConvNeXt block", """
            input: [6, 6, 2]
            layers:
              - conv2d: { filters: 9, kernel_size: 2, strides: 2 }   # a patchify stem
              - layer_norm
              - residual:
                  layers:
                    - depthwise_conv2d: { kernel_size: 3, padding: same }
                    - layer_norm: { epsilon: 0.000001 }
                    - conv2d: { filters: 12, kernel_size: 1, activation: gelu }
                    - conv2d: { filters: 9, kernel_size: 1 }
              - global_avg_pool2d
              - layer_norm
              - dense: { units: 3 }
            """ },
        { "batch_norm and relu run as one", """
            input: [3, 3, 16]
            layers:
              - batch_norm                                      # 16 channels: the vector kernels
              - relu
              - conv2d: { filters: 5, kernel_size: 1 }
              - batch_norm                                      # 5: the scalar loops
              - relu
              - batch_norm: { trainable: false }                # frozen: the moving statistics, and dx alone
              - relu
            """ },
        { "max pooling through a conv2d's relu", """
            input: [6, 6, 3]
            layers:
              - conv2d: { filters: 4, kernel_size: 3, padding: same, activation: relu }
              - max_pool2d: { pool_size: 2 }                    # tiled windows: the conv's dy is its pre-activation gradient
            """ },
        { "max pooling through a relu layer", """
            input: [3, 3, 4]
            layers:
              - conv2d: { filters: 9, kernel_size: 1 }          # 9 channels: a vector and a scalar
              - relu
              - max_pool2d: { pool_size: 3, strides: 2, padding: same }   # overlapping windows, cut by the border
            """ },
        { "a relu read by a max pooling and another layer", """
            input: [4, 4, 3]
            layers:
              - conv2d: { filters: 3, kernel_size: 1, activation: relu, name: shared }
              - max_pool2d: { pool_size: 4 }
              - flatten: { name: p }
              - global_avg_pool2d: { inputs: [shared], name: g }   # so the relu's own backward, on the sum of both gradients
              - add: { inputs: [p, g] }
            """ },
        { "squeeze-and-excitation", """
            input: [4, 3, 6]
            layers:
              - conv2d: { filters: 18, kernel_size: 3, padding: same, activation: tanh, name: features }   # 18: two vectors of 8, 2 alone
              - global_avg_pool2d
              - dense: { units: 3, activation: tanh }
              - dense: { units: 18, activation: sigmoid, name: gate }
              - multiply: { inputs: [features, gate] }
              - conv2d: { filters: 18, kernel_size: 1, strides: 2, activation: tanh }
              - multiply: { inputs: [gate, previous] }    # the vector first, and a map of another size
            """ },
        { "parallel", """
            input: [4, 4, 2]
            layers:
              - parallel:
                  branches:
                    - [ conv2d: { filters: 2, kernel_size: 1, activation: tanh } ]
                    - []
                    - [ max_pool2d: { pool_size: 3, strides: 1, padding: same }, separable_conv2d: { filters: 1, kernel_size: 3, padding: same } ]
                  merge: concatenate
              - parallel:
                  branches:
                    - [ residual: { layers: [ conv2d: { filters: 5, kernel_size: 1, activation: tanh } ] } ]
                    - [ zero_padding2d: { padding: 1 }, avg_pool2d: { pool_size: 3, strides: 1 } ]
                  merge: multiply
            """ },
    };

    private static string Merged(string kind) => $$"""
        input: [3, 3, 2]
        layers:
          - conv2d: { filters: 2, kernel_size: 1, activation: tanh, name: a }
          - conv2d: { filters: 2, kernel_size: 1, activation: sigmoid, inputs: [input], name: b }
          - {{kind}}: { inputs: [a, b] }
        """;

    [Theory]
    [MemberData(nameof(GraphCases))]
    public void Graph_backward_matches_numerical_gradient(string what, string spec)
    {
        Assert.NotEmpty(what);
        GradientCheck.Run(Compile(spec + "\ntraining: { loss: mse }\n"), batch: 3, seed: 13);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Backward_matches_numerical_gradient(string input, string layer)
    {
        var model = Compile($"input: {{ shape: {input} }}\nlayers:\n  - {layer}\ntraining: {{ loss: mse }}\n");
        GradientCheck.Run(model, batch: 3, seed: 11);
    }

    /// <summary>
    /// 3x3 depthwise convolutions over whole vectors of channels, the paths that sum dW in registers and (strides of 2) gather
    /// dx. Linear, so a large step has no truncation error: a step of 1e-3 was within the rounding of outputs whose nine terms
    /// cancel (7x8x8 by 2: 7e-6 against a tolerance of 3e-6, the same before and after those paths, whose dx agrees with a
    /// double-precision sum to 2.5e-8).
    /// </summary>
    [Theory]
    [InlineData("[7, 8, 8]", 2)]
    [InlineData("[6, 10, 8]", 2)]
    [InlineData("[5, 9, 16]", 1)]
    public void Depthwise_vector_paths_match_numerical_gradient(string input, int strides)
    {
        var model = Compile($"input: {{ shape: {input} }}\nlayers:\n  - depthwise_conv2d: {{ kernel_size: 3, strides: {strides}, padding: same }}\ntraining: {{ loss: mse }}\n");
        GradientCheck.Run(model, batch: 3, seed: 11, step: 0.05f);
    }

    [Fact]
    public void Every_registered_kind_has_a_gradient_case()
    {
        var covered = Cases().Select(c => ((string)c[1]).Split(':')[0].Trim()).Concat(GraphCases().Select(c => (string)c[0])).ToHashSet();
        var missing = LayerRegistry.Names.Where(n => !covered.Contains(n)).ToList();
        Assert.True(missing.Count == 0, "no gradient check for " + string.Join(", ", missing));
    }

    [Theory]
    [InlineData("categorical_crossentropy", "softmax", 10)]
    [InlineData("sparse_categorical_crossentropy", "softmax", 4)]
    [InlineData("categorical_crossentropy", "sigmoid", 4)]   // unfused: through the activation's own backward
    [InlineData("binary_crossentropy", "sigmoid", 1)]
    [InlineData("binary_crossentropy", "sigmoid", 3)]
    [InlineData("mse", "linear", 3)]
    [InlineData("mse", "tanh", 1)]
    public void Loss_gradients_match_numerical(string loss, string activation, int units)
    {
        var model = Compile($"input: {{ shape: [6] }}\nlayers:\n  - dense: {{ units: 5, activation: tanh }}\n  - dense: {{ units: {units}, activation: {activation} }}\ntraining: {{ loss: {loss} }}\n");
        GradientCheck.RunWithLoss(model, batch: 4, seed: 5);
    }

    [Fact]
    public void Whole_reference_model_gradient_matches_numerical()
    {
        var model = Compile("""
            input: { shape: [12, 12, 1] }
            layers:
              - conv2d: { filters: 3, kernel_size: 3, activation: relu }
              - max_pool2d: { pool_size: 2 }
              - conv2d: { filters: 4, kernel_size: 3, strides: 2, padding: same, activation: relu }
              - batch_norm
              - flatten
              - dense: { units: 6, activation: relu }
              - dense: { units: 3, activation: softmax }
            """);
        GradientCheck.RunWithLoss(model, batch: 3, seed: 3, step: 2e-4f);
    }

    /// <summary>A context to run one layer alone on two threads, with the state it makes for training.</summary>
    internal static LayerContext Context(Layer layer, int batch)
    {
        var kernels = new ManagedBackend(2);
        return new LayerContext { Kernels = kernels, Params = [], Grads = [], Random = new Rng(1), Batch = batch, State = layer.CreateState(batch, true, kernels) };
    }

    internal static ModelSpec Compile(string text)
    {
        var c = SpecCompiler.Compile(text, "grad.yaml");
        Assert.True(c.Success, c.Render());
        return c.Model!;
    }
}

/// <summary>
/// The numerical gradient check. Central differences over a float32 forward pass are only as exact as the
/// float32 outputs they difference, so each element's tolerance is a relative 1e-5 plus that element's own
/// rounding noise, computed from the outputs its perturbation changed (κ · 2⁻²⁴ · Σ |dL/dy| · |y| / h),
/// not a fixed absolute floor: an element whose perturbation moves few or small outputs is held tight.
/// </summary>
internal static class GradientCheck
{
    private const double Relative = 1e-5;
    /// <summary>Rounding of the outputs, plus that of the hidden values they were computed from.</summary>
    private const double Kappa = 8;
    private const double Epsilon32 = 1.0 / (1 << 24);

    /// <summary>Finite-difference step; smaller for deep models, where kinks (relu, max) of inner values are closer.</summary>
    [ThreadStatic] private static float Step;

    /// <summary>The largest |analytic - numerical| / tolerance seen, for reporting how tight the check is.</summary>
    [ThreadStatic] public static double WorstRatio;

    /// <summary>Loss = sum_i w_i y_i with random w: checks layer backward in isolation.</summary>
    public static void Run(ModelSpec model, int batch, int seed, float step = 1e-3f)
    {
        Step = step;
        var (parameters, x) = Setup(model, batch, seed);
        var rng = new Rng((ulong)seed + 100);
        var weights = new float[batch * model.Output.Size];
        for (int i = 0; i < weights.Length; i++) weights[i] = rng.NextFloat() * 2 - 1;
        double LossOf(ReadOnlySpan<float> y) { double s = 0; for (int i = 0; i < y.Length; i++) s += (double)weights[i] * y[i]; return s; }
        Check(model, parameters, x, batch, seed, LossOf, _ => weights, plan => { weights.CopyTo(plan.OutputGradient); plan.Backward(false); });
    }

    /// <summary>The real training loss (fused where the trainer fuses), with random integer labels.</summary>
    public static void RunWithLoss(ModelSpec model, int batch, int seed, float step = 1e-3f)
    {
        Step = step;
        var (parameters, x) = Setup(model, batch, seed);
        var rng = new Rng((ulong)seed + 200);
        var units = model.Output.Size;
        var labels = Enumerable.Range(0, batch).Select(_ => rng.NextInt(Math.Max(2, units))).Select(l => units == 1 ? l % 2 : l).ToArray();
        var loss = Loss.For(model.Training.Loss, model.FinalActivation);
        var unfused = Loss.For(model.Training.Loss, new SpecNet.Layers.Activation(SpecNet.Layers.ActivationFunction.Linear)); // dL/dy, for the noise estimate
        var scratch = new float[batch * units];
        double LossOf(ReadOnlySpan<float> y) => loss.Compute(y, labels, batch, scratch) / batch;
        float[] Sensitivity(ReadOnlySpan<float> y) { var g = new float[y.Length]; unfused.Compute(y, labels, batch, g); return g; }
        Check(model, parameters, x, batch, seed, LossOf, Sensitivity,
            plan => { loss.Compute(plan.Output, labels, batch, plan.OutputGradient); plan.Backward(loss.Fused); });
    }

    private static (ParameterSet, float[]) Setup(ModelSpec model, int batch, int seed)
    {
        var parameters = ParameterSet.Initialize(model, seed);
        var rng = new Rng((ulong)seed);
        // Non-zero biases and betas, so their role is tested too; variances stay positive.
        foreach (var slot in parameters.Slots.Where(s => s.Spec.Init == Init.Zeros && s.Spec.Trainable))
            for (int i = 0; i < slot.Value.Length; i++) slot.Value[i] = rng.NextFloat() * 0.4f - 0.2f;
        // Moving statistics too, for a frozen batch_norm (which normalises with them), from their own stream.
        var statistics = new Rng((ulong)seed + 300);
        foreach (var slot in parameters.Slots.Where(s => s.Spec.Suffix is "moving_mean" or "moving_variance"))
            for (int i = 0; i < slot.Value.Length; i++) slot.Value[i] = slot.Spec.Suffix == "moving_mean" ? statistics.NextFloat() - 0.5f : 0.5f + statistics.NextFloat();
        // Distinct inputs, spaced well beyond the finite-difference step, so that no max-pool window
        // holds a near-tie that the numerical gradient would straddle.
        var x = new float[batch * model.Input.Size];
        var order = Enumerable.Range(0, x.Length).ToArray();
        rng.Shuffle(order);
        for (int i = 0; i < x.Length; i++) x[i] = -1 + (2f * order[i] + 0.5f) / x.Length; // never exactly 0 (relu's kink)
        return (parameters, x);
    }

    private static void Check(ModelSpec model, ParameterSet parameters, float[] x, int batch, int seed,
        Func<ReadOnlySpan<float>, double> lossOf, Func<ReadOnlySpan<float>, float[]> sensitivity, Action<ExecutionPlan> backward)
    {
        // A fresh plan per evaluation replays the same dropout mask (same seed, same draws).
        ExecutionPlan Plan() { var p = new ExecutionPlan(model, parameters, new ReferenceBackend(), batch, seed, inputGradient: true); x.CopyTo(p.Input); return p; }
        float[] Outputs() { var p = Plan(); return p.Forward(batch, training: true).ToArray(); }

        var analytic = Plan();
        analytic.Forward(batch, training: true);
        var g = sensitivity(analytic.Output);
        backward(analytic);
        var dx = analytic.InputGradient.ToArray();
        var grads = parameters.Trainable.Select(s => (s, d: s.Grad!.ToArray())).ToList();

        for (int i = 0; i < x.Length; i++)
            Compare($"d input[{i}]", dx[i], Numerical(ref x[i], Outputs, lossOf, g));
        foreach (var (slot, d) in grads)
            for (int i = 0; i < d.Length; i++)
                Compare($"d {slot.Name}[{i}]", d[i], Numerical(ref slot.Value[i], Outputs, lossOf, g));
    }

    /// <summary>The central difference, and its rounding noise from the outputs the perturbation changed.</summary>
    private static (double Value, double Noise) Numerical(ref float value, Func<float[]> outputs, Func<ReadOnlySpan<float>, double> lossOf, float[] g)
    {
        float original = value;
        value = original + Step; var plus = outputs();
        value = original - Step; var minus = outputs();
        value = original;
        double noise = 0;
        for (int i = 0; i < plus.Length; i++)
            if (plus[i] != minus[i]) noise += Math.Abs(g[i]) * (Math.Abs(plus[i]) + Math.Abs(minus[i]));
        return ((lossOf(plus) - lossOf(minus)) / (2 * Step), Kappa * Epsilon32 * noise / (2 * Step));
    }

    private static void Compare(string what, double analytic, (double Value, double Noise) numerical)
    {
        double tolerance = Relative * Math.Max(Math.Abs(analytic), Math.Abs(numerical.Value)) + numerical.Noise;
        double error = Math.Abs(analytic - numerical.Value);
        if (tolerance > 0) WorstRatio = Math.Max(WorstRatio, error / tolerance);
        Assert.True(error <= tolerance,
            $"{what}: analytic {analytic:G8}, numerical {numerical.Value:G8}, difference {error:G3} > tolerance {tolerance:G3} (of which rounding {numerical.Noise:G3})");
    }
}
