using SpecNet.Checking;
using SpecNet.Layers;
using SpecNet.Schema;

namespace SpecNet.Tests.Layers;

/// <summary>Keras-style shape tables: for each layer kind, input shape and options in, output shape and parameters out.</summary>
public class ShapeTableTests
{
    /// <summary>Compiles a one-layer model (plus whatever the loss check needs) and returns that layer.</summary>
    internal static Layer Single(string input, string layer)
    {
        var text = $"name: t\ninput: {{ shape: {input} }}\nlayers:\n  - {layer}\ntraining: {{ loss: mse }}\n";
        var c = SpecCompiler.Compile(text, "t.yaml");
        Assert.True(c.Success, c.Render());
        return c.Model!.Layers[0];
    }

    [Theory]
    // input, layer, expected output, params
    [InlineData("[28, 28, 1]", "conv2d: { filters: 32, kernel_size: 3 }", "26x26x32", 320)]
    [InlineData("[28, 28, 1]", "conv2d: { filters: 32, kernel_size: 3, strides: 2 }", "13x13x32", 320)]
    [InlineData("[13, 13, 32]", "conv2d: { filters: 64, kernel_size: 3, strides: 2 }", "6x6x64", 18496)]
    [InlineData("[6, 6, 64]", "conv2d: { filters: 128, kernel_size: 3, strides: 2 }", "2x2x128", 73856)]
    [InlineData("[28, 28, 1]", "conv2d: { filters: 8, kernel_size: 3, padding: same }", "28x28x8", 80)]
    [InlineData("[7, 7, 3]", "conv2d: { filters: 4, kernel_size: 3, strides: 2, padding: same }", "4x4x4", 112)]
    [InlineData("[28, 28, 1]", "conv2d: { filters: 4, kernel_size: [5, 3] }", "24x26x4", 64)]
    [InlineData("[28, 28, 1]", "conv2d: { filters: 4, kernel_size: 3, dilation_rate: 2 }", "24x24x4", 40)]
    [InlineData("[28, 28, 2]", "conv2d: { filters: 4, kernel_size: 3, use_bias: false }", "26x26x4", 72)]
    [InlineData("[26, 26, 32]", "max_pool2d: { pool_size: 2 }", "13x13x32", 0)]
    [InlineData("[11, 11, 64]", "max_pool2d: { pool_size: 2 }", "5x5x64", 0)]
    [InlineData("[11, 11, 64]", "max_pool2d: { pool_size: 2, padding: same }", "6x6x64", 0)]
    [InlineData("[10, 10, 3]", "max_pool2d: { pool_size: 3, strides: 1 }", "8x8x3", 0)]
    [InlineData("[10, 10, 3]", "avg_pool2d: { pool_size: 2 }", "5x5x3", 0)]
    [InlineData("[9, 9, 3]", "avg_pool2d: { pool_size: 3, strides: 2, padding: same }", "5x5x3", 0)]
    [InlineData("[5, 5, 64]", "global_avg_pool2d", "64", 0)]
    [InlineData("[5, 5, 64]", "global_max_pool2d", "64", 0)]
    [InlineData("[13, 13, 32]", "flatten", "5408", 0)]
    [InlineData("[128]", "dense: { units: 10 }", "10", 1290)]
    [InlineData("[512]", "dense: { units: 128, use_bias: false }", "128", 65536)]
    [InlineData("[128]", "dropout: { rate: 0.5 }", "128", 0)]
    [InlineData("[5, 5, 16]", "batch_norm", "5x5x16", 64)]
    [InlineData("[32]", "batch_norm: { momentum: 0.9, epsilon: 0.00001 }", "32", 128)]
    [InlineData("[5, 5, 16]", "layer_norm", "5x5x16", 32)]
    [InlineData("[32]", "layer_norm: { epsilon: 0.000001 }", "32", 64)]
    [InlineData("[5, 5, 16]", "relu", "5x5x16", 0)]
    [InlineData("[10]", "leaky_relu: { alpha: 0.1 }", "10", 0)]
    [InlineData("[10]", "elu", "10", 0)]
    [InlineData("[10]", "gelu", "10", 0)]
    [InlineData("[10]", "sigmoid", "10", 0)]
    [InlineData("[10]", "tanh", "10", 0)]
    [InlineData("[10]", "softmax", "10", 0)]
    [InlineData("[10]", "activation: { activation: silu }", "10", 0)]
    [InlineData("[10]", "silu", "10", 0)]
    [InlineData("[5, 5, 16]", "relu6", "5x5x16", 0)]
    [InlineData("[10]", "hard_sigmoid", "10", 0)]
    [InlineData("[10]", "hard_swish", "10", 0)]
    [InlineData("[7, 7, 4]", "conv2d: { filters: 6, kernel_size: 3, groups: 2 }", "5x5x6", 114)]
    [InlineData("[28, 28, 16]", "depthwise_conv2d: { kernel_size: 3 }", "26x26x16", 160)]
    [InlineData("[28, 28, 16]", "depthwise_conv2d: { kernel_size: 3, strides: 2, padding: same, depth_multiplier: 2 }", "14x14x32", 320)]
    [InlineData("[28, 28, 16]", "separable_conv2d: { filters: 32, kernel_size: 3, padding: same }", "28x28x32", 688)]
    [InlineData("[10, 10, 8]", "separable_conv2d: { filters: 4, kernel_size: 3, depth_multiplier: 2, use_bias: false }", "8x8x4", 208)]
    [InlineData("[5, 5, 3]", "zero_padding2d", "7x7x3", 0)]
    [InlineData("[5, 4, 2]", "zero_padding2d: { padding: [[1, 2], [0, 3]] }", "8x7x2", 0)]
    [InlineData("[5, 5, 1]", "zero_padding2d: { padding: [2, 1] }", "9x7x1", 0)]
    [InlineData("[4, 4, 3]", "add: { inputs: [input, input] }", "4x4x3", 0)]
    [InlineData("[4, 4, 3]", "subtract: { inputs: [input, input] }", "4x4x3", 0)]
    [InlineData("[6]", "multiply: { inputs: [input, input, input] }", "6", 0)]
    [InlineData("[4, 4, 3]", "average: { inputs: [input, input] }", "4x4x3", 0)]
    [InlineData("[4, 4, 3]", "maximum: { inputs: [input, input] }", "4x4x3", 0)]
    [InlineData("[4, 4, 3]", "minimum: { inputs: [input, input] }", "4x4x3", 0)]
    [InlineData("[4, 4, 3]", "concatenate: { inputs: [input, input] }", "4x4x6", 0)]
    public void Output_shape_and_parameters(string input, string layer, string output, long parameters)
    {
        var l = Single(input, layer);
        Assert.Equal(output, l.Output.ToString());
        Assert.Equal(parameters, l.ParameterCount);
    }

    [Fact]
    public void Every_registered_kind_appears_in_the_shape_table()
    {
        var table = typeof(ShapeTableTests).GetMethod(nameof(Output_shape_and_parameters))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>()
            .Select(a => ((string)a.GetData(null!).First()[1]).Split(':')[0].Trim()).ToHashSet();
        var missing = LayerRegistry.Names.Where(n => !table.Contains(n)).ToList();
        Assert.True(missing.Count == 0, "no shape case for " + string.Join(", ", missing));
    }

    [Fact]
    public void Batch_norm_counts_two_of_four_parameters_as_trainable()
    {
        var l = Single("[5, 5, 16]", "batch_norm");
        Assert.Equal(64, l.ParameterCount);
        Assert.Equal(32, l.TrainableCount);
    }

    [Fact]
    public void Conv_macs_are_output_positions_times_kernel_volume()
    {
        var l = Single("[28, 28, 1]", "conv2d: { filters: 32, kernel_size: 3 }");
        Assert.Equal(26L * 26 * 32 * 9, l.Macs);
    }

    [Theory]
    [InlineData(28, 3, 1, 1, Padding.Valid, 26, 0)]
    [InlineData(28, 3, 2, 1, Padding.Valid, 13, 0)]
    [InlineData(11, 2, 2, 1, Padding.Valid, 5, 0)]
    [InlineData(7, 3, 2, 1, Padding.Same, 4, 1)]
    [InlineData(8, 3, 2, 1, Padding.Same, 4, 0)]   // total pad 1: none before, one after (SAME_UPPER)
    [InlineData(5, 3, 1, 2, Padding.Same, 5, 2)]
    [InlineData(2, 3, 1, 1, Padding.Valid, 0, 0)]
    public void Window_geometry_follows_keras(int input, int kernel, int stride, int dilation, Padding padding, int output, int padBefore)
    {
        var w = Window.Of(input, kernel, stride, dilation, padding);
        Assert.Equal(output, w.Output);
        Assert.Equal(padBefore, w.PadBefore);
    }
}
