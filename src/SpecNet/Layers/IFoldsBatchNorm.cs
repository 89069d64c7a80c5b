using SpecNet.Kernels;

namespace SpecNet.Layers;

/// <summary>
/// A convolution that can take the batch normalisation after it (and a relu after that) into its own output pass at
/// inference, as ONNX Runtime fuses Conv + BatchNormalization + Relu: one write of the output instead of three passes.
/// The inference plan decides when (Planning/Fusion.cs); the values are those of the separate layers, to the bit.
/// </summary>
public interface IFoldsBatchNorm
{
    /// <summary>Only a convolution without an activation of its own: batch normalisation comes right after z + bias.</summary>
    bool CanFold { get; }

    /// <summary>
    /// y = relu?((conv(x) + bias)·a + b + residual), with a and b the batch normalisation's inference map, and residual (when
    /// given) the other operand of an add after it: a tensor of the output's shape, the front of the buffer for the batch.
    /// <paramref name="then"/>, when given, is an activation other than relu after it all, applied to each chunk of rows in cache.
    /// </summary>
    void ForwardFolded(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y, float[] a, float[] b, bool relu, float[]? residual = null, RowsMap? then = null);

    /// <summary>
    /// Plan time, inference: this convolution as a source of rows for the next convolution of a chain (Planning/Fusion.cs), with
    /// the batch norm map (a, b), filled before each pass, and the relu after it, or (a null) its own bias and relu. It reads
    /// its input from its input tensor, or from <paramref name="upstream"/> (a 1x1 convolution: always).
    /// </summary>
    IRowsSource AsSource(LayerContext ctx, IRowsSource? upstream, float[]? a, float[]? b, bool relu);
}
