using SpecNet.Kernels;

namespace SpecNet.Layers;

/// <summary>
/// What ends conv2d and dense alike: y = act(z + b), with z the GEMM's output (per row of
/// <c>channels</c>). Forward adds the bias and applies the activation in place (relu fused with the
/// bias in one pass); a convolution runs it on each chunk of rows it computes, while they are in cache.
/// Backward turns dy into dz = dL/dz and writes the bias gradient (relu's backward
/// fused with the bias sum). Holds the buffers that needs: the pre-activation z for gelu, silu and hard_swish in
/// training, dz, and per-thread partial bias sums (one slice per thread of the backend that runs it).
/// </summary>
public sealed class Epilogue(Activation activation, bool useBias, int channels, int capacityValues, bool training, int threads) : IRowsEpilogue
{
    private float[]? _bias;
    private Activation _activation = activation;   // the layer's; at inference relu where the plan runs the relu layer after it here (TakeRelu)

    /// <summary>
    /// Inference: the relu layer after this linear layer applied here too, in the bias's pass (in a convolution's GEMM stores), so
    /// that its output is written once (Planning/Fusion.cs). The same floats as the two layers apart: relu is exact.
    /// </summary>
    public void TakeRelu()
    {
        if (training || !_activation.IsLinear) throw new InvalidOperationException($"only a linear layer's inference epilogue takes a relu, not {_activation.Name}'s");
        _activation = new Activation(ActivationFunction.Relu);
    }

    /// <summary>
    /// This epilogue for a convolution to run on each chunk of rows it computes: relu and the bias in the GEMM's stores, any
    /// other activation on the chunk while it is in cache (keeping z for backward where it needs it). Run as a pass of its own over
    /// a large tensor, gelu's epilogue took a 14x14x32 -> 128 convolution's forward from 0.46 to 2.2 ms at batch 64 (Zen 5): a
    /// bias pass and z's copy on one thread, then the activation, each over 6.4 MB from memory.
    /// </summary>
    public IRowsEpilogue ForRows(float[]? bias)
    {
        _bias = useBias ? bias : null;
        return this;
    }

    /// <summary>
    /// The epilogue of a convolution run as a source of rows (<see cref="IFoldsBatchNorm.AsSource"/>): the batch norm's map a, b
    /// (and relu) in <paramref name="folded"/>, or, a null, this one (relu or none).
    /// </summary>
    public IRowsEpilogue ForSource(AffineRows folded, float[]? bias, float[]? a, float[]? b, bool relu)
    {
        if (a is null) return ForRows(bias);
        (folded.Bias, folded.A, folded.B, folded.Relu, folded.Residual, folded.Then) = (bias, a, b!, relu, null, null);
        return folded;
    }

    /// <summary>Whole rows of the output at offset <paramref name="at"/>, on the thread that computed them: act(z + b), z kept where backward needs it.</summary>
    void IRowsEpilogue.ApplyRows(Span<float> rows, long at)
    {
        bool relu = _activation.Function == ActivationFunction.Relu;
        if (relu || _bias is not null) ChannelKernels.BiasAffineRelu(rows, channels, _bias, default, default, relu);
        if (relu || _activation.IsLinear) return;
        if (_z.Length > 0) rows.CopyTo(_z.AsSpan(checked((int)at)));
        Activations.Forward(_activation, rows, rows, channels);
    }

    /// <summary>relu and the bias as the GEMM stores its tiles; other activations need the rows whole (<see cref="IRowsEpilogue.ApplyRows"/>).</summary>
    bool IRowsEpilogue.AsColumns(out float[]? bias, out float[]? scale, out float[]? shift, out bool relu)
    {
        (bias, scale, shift, relu) = (_bias, null, null, _activation.Function == ActivationFunction.Relu);
        return (relu || _activation.IsLinear) && (relu || bias is not null);   // linear without a bias: nothing to apply, and ApplyRows returns at once
    }

    /// <summary>Floats per example this keeps for an output of <paramref name="outputSize"/>: z in training for gelu, silu and hard_swish.</summary>
    public static long ValuesPerExample(Activation activation, bool training, long outputSize) => training && Activations.NeedsInput(activation) ? outputSize : 0;

    private readonly float[] _z = training && Activations.NeedsInput(activation) ? new float[capacityValues] : [];
    // dz goes over z where backward reads z (gelu, silu, hard_swish): each dz is made from the z where it lies, and z is dead
    // after (the next forward writes it again). For the others over dy, where the plan gives its buffer (each dz made from the
    // dy where it lies): a buffer of its own for dz had been 120 KB an example in the tutorial's pooled model, written at every
    // step while dy was read; made only for a caller that keeps dy.
    private float[]? _ownDz;
    private Span<float> Dz(LayerContext ctx, int length) =>
        (Activations.NeedsInput(_activation) ? _z : ctx.WritableOutputGradient ?? (_ownDz ??= new float[capacityValues])).AsSpan(0, length);
    private readonly float[] _partials = new float[threads * channels]; // per thread of the backend: partial bias sums

    /// <summary>y (holding z on entry) = act(z + bias).</summary>
    public void Forward(LayerContext ctx, Span<float> y, float[]? bias)
    {
        if (_activation.Function == ActivationFunction.Relu)
        {
            ChannelKernels.BiasAffineRelu(ctx.Kernels, y, channels, useBias ? bias : default, default, default, relu: true);
            return;
        }
        if (useBias) Elementwise.AddBias(y, bias);
        if (_z.Length > 0) y.CopyTo(_z);
        Activations.Forward(_activation, y, y, channels, ctx.Kernels);
    }

    /// <summary>
    /// The bias gradient of a relu layer whose output a max pooling with tiling windows alone reads: each window sends its dy to
    /// one cell, where its output is positive, so the sum of dz over a channel is that of the pooling's dy where its output is
    /// positive (a quarter of the values for 2x2 windows). The sums are added in another order than over dz.
    /// </summary>
    public void BiasThroughPooling(LayerContext ctx, ReadOnlySpan<float> pooled, ReadOnlySpan<float> pooledGradient, float[]? dBias)
    {
        if (useBias && dBias is not null) Elementwise.ReluBiasGradient(ctx.Kernels, pooled, pooledGradient, dBias, _partials);
    }

    /// <summary>dz from dy (dy itself when linear, or when the loss already differentiated through a fused final activation); the bias gradient into dBias.</summary>
    public ReadOnlySpan<float> Backward(LayerContext ctx, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, float[]? dBias)
    {
        bool activate = !_activation.IsLinear && !ctx.PreActivationGradient;
        var dz = activate ? Dz(ctx, y.Length) : default;
        if (activate && _activation.Function == ActivationFunction.Relu && useBias && dBias is not null)
        {
            Elementwise.ReluBiasBackward(ctx.Kernels, y, dy, dz, dBias, _partials);
            return dz;
        }
        if (activate) Activations.Backward(_activation, _z.AsSpan(0, Math.Min(_z.Length, y.Length)), y, dy, dz, channels, ctx.Kernels);
        ReadOnlySpan<float> result = activate ? dz : dy;
        bool reluDone = ctx.PreActivationGradient && _activation.Function == ActivationFunction.Relu;   // by a max pooling after it
        if (useBias && dBias is not null) Elementwise.BiasGradient(ctx.Kernels, result, dBias, _partials, splitAsRelu: reluDone);   // null: a frozen layer
        return result;
    }
}
