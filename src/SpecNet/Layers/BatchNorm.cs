using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Batch normalisation over the channel axis (Keras BatchNormalization, axis -1).
/// Training: mu, var of the batch per channel (over N, H, W); xhat = (x - mu) / sqrt(var + eps);
/// y = gamma * xhat + beta; moving = momentum * moving + (1 - momentum) * batch statistic.
/// Inference: the moving mean and variance instead of the batch's.
/// Backward (training): dxhat = dy * gamma; dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps);
/// dgamma = sum dy * xhat; dbeta = sum dy. Params 4 per channel, of which gamma and beta are trainable.
/// Frozen (trainable: false), it runs as in inference also while training, as Keras does: the moving
/// statistics normalise and stay as they are, and dx = dy * gamma / sqrt(moving var + eps).
/// </summary>
public sealed class BatchNorm : Layer
{
    public static readonly LayerKind Definition = new("batch_norm", "normalises each channel over the batch", [
        OptionInfo.Fraction("momentum", "how slowly the moving statistics follow the batch", 0.99),
        OptionInfo.Number("epsilon", "added to the variance before the square root", 0.001, 0, 1, minInclusive: false),
    ], r => new BatchNorm { Momentum = r.Number("momentum"), Epsilon = r.Number("epsilon") });

    public float Momentum { get; private init; }
    public float Epsilon { get; private init; }

    public override IReadOnlyList<ParameterSpec> Parameters =>
    [
        new("gamma", [Input.Channels], true, Init.Ones),
        new("beta", [Input.Channels], true, Init.Zeros),
        new("moving_mean", [Input.Channels], false, Init.Zeros),
        new("moving_variance", [Input.Channels], false, Init.Ones),
    ];


    private sealed class State(int channels, Backend kernels)
    {
        // xhat = x·Scale + Shift per channel (set by forward, read by backward): xhat itself is never stored, only
        // recomputed from x where it is needed, by the same float operation (no (N, H, W, C) buffer kept for backward).
        public readonly float[] Scale = new float[channels], Shift = new float[channels];
        public readonly float[] A = new float[channels], B = new float[channels], D = new float[channels];   // the pass's own coefficients
        public readonly double[] First = new double[channels], Second = new double[channels];
        public readonly (double[], float[]) Scratch = ChannelKernels.Scratch(channels, kernels.Threads);
        public bool Fixed, Mapped;                    // inference over fixed parameters: A and B made once (FixParameters)
    }

    public override bool BackwardReadsOutput => false;   // xhat is recomputed from the input
    public override bool BackwardInPlace => true;        // its sums read dy, then each dx is made from the dy where it lies

    public override object? CreateState(int capacity, bool training, Backend kernels) => new State(Input.Channels, kernels);

    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) =>
        g.Node("BatchNormalization", [inputs[0], g.Weight(this, 0), g.Weight(this, 1), g.Weight(this, 2), g.Weight(this, 3)],
            OnnxAttribute.Of("epsilon", Epsilon));

    public override void FixParameters(LayerContext ctx) => ((State)ctx.State!).Fixed = true;

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y) => Forward(ctx, x, y, ChannelActivation.None);

    /// <summary>
    /// Forward, then + <paramref name="residual"/> (when given: the other operand of an add after it) and the activation after it
    /// (relu, relu6 or hard_swish) in the same pass: the layers after it run as one (Planning/Fusion.cs).
    /// </summary>
    public void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y, ChannelActivation then, ReadOnlySpan<float> residual = default)
    {
        var s = (State)ctx.State!;
        int c = Input.Channels, rows = ctx.Batch * Input.Size / c;
        float[] gamma = ctx.Params[0], beta = ctx.Params[1], movingMean = ctx.Params[2], movingVar = ctx.Params[3];
        if (!ctx.Training)
        {
            if (!(s.Fixed && s.Mapped)) InferenceMap(ctx, s.A, s.B);                                   // y = x·a + b, one pass
            s.Mapped = true;
            ChannelKernels.Affine(ctx.Kernels, x, s.A, s.B, default, default, y, then, residual);
            return;
        }
        bool batchStatistics = !Frozen;
        if (batchStatistics) ChannelKernels.Sums(ctx.Kernels, x, x, c, s.First, s.Second, s.Scratch);   // Σ x, Σ x²
        for (int ch = 0; ch < c; ch++)
        {
            double mu, variance;
            if (batchStatistics)
            {
                mu = s.First[ch] / rows;
                variance = Math.Max(0, s.Second[ch] / rows - mu * mu);                              // the batch's (biased) variance, as Keras
                movingMean[ch] = Momentum * movingMean[ch] + (1 - Momentum) * (float)mu;
                movingVar[ch] = Momentum * movingVar[ch] + (1 - Momentum) * (float)variance;
            }
            else (mu, variance) = (movingMean[ch], movingVar[ch]);
            float invStd = (float)(1 / Math.Sqrt(variance + Epsilon));
            (s.Scale[ch], s.Shift[ch]) = (invStd, (float)(-mu * invStd));
        }
        // y = gamma·xhat + beta with xhat = (x - mu)/std in registers: the value backward recomputes
        ChannelKernels.Affine(ctx.Kernels, x, s.Scale, s.Shift, gamma, beta, y, then, residual);
    }

    /// <summary>
    /// Inference's map per channel, y = x·a + b with a = gamma/std and b = beta - gamma·mu/std (moving statistics):
    /// what Forward applies, and what a convolution before it folds in (<see cref="IFoldsBatchNorm"/>).
    /// </summary>
    public void InferenceMap(LayerContext ctx, Span<float> a, Span<float> b)
    {
        float[] gamma = ctx.Params[0], beta = ctx.Params[1], movingMean = ctx.Params[2], movingVar = ctx.Params[3];
        for (int ch = 0; ch < Input.Channels; ch++)
        {
            double mu = movingMean[ch], variance = movingVar[ch];
            float invStd = (float)(1 / Math.Sqrt(variance + Epsilon)), shift = (float)(-mu * invStd);
            (a[ch], b[ch]) = (gamma[ch] * invStd, beta[ch] + gamma[ch] * shift);
        }
    }

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx) =>
        Backward(ctx, x, dy, dx, ChannelActivation.None);

    /// <summary>
    /// Backward, given with <paramref name="then"/> the gradient of the activation after it (run as one): dy times its slope at
    /// gamma·xhat + beta (relu's: dy where that is positive), that value recomputed from x by the forward's own operations.
    /// </summary>
    public void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, ChannelActivation then)
    {
        var s = (State)ctx.State!;
        int c = Input.Channels, rows = ctx.Batch * Input.Size / c;
        float[] gamma = ctx.Params[0], beta = ctx.Params[1];
        bool batchStatistics = ctx.Training && !Frozen;
        if (ctx.Grads[0] is { } dGamma && ctx.Grads[1] is { } dBeta)
        {
            ChannelKernels.Sums(ctx.Kernels, dy, x, c, s.First, s.Second, s.Scratch, s.Scale, s.Shift, then, gamma, beta);  // dbeta = Σ dy, dgamma = Σ dy xhat
            for (int ch = 0; ch < c; ch++) (dBeta[ch], dGamma[ch]) = ((float)s.First[ch], (float)s.Second[ch]);
        }
        if (!ctx.InputGradient) return;
        // batch statistics: dx = gamma invstd / N (N dy - dbeta - xhat dgamma); moving ones: dx = gamma invstd dy
        for (int ch = 0; ch < c; ch++)
        {
            float k = gamma[ch] * s.Scale[ch];
            s.D[ch] = batchStatistics ? -k * (float)s.First[ch] / rows : 0;
            s.B[ch] = batchStatistics ? -k * (float)s.Second[ch] / rows : 0;
            s.A[ch] = k;
        }
        ChannelKernels.Affine2(ctx.Kernels, dy, x, s.Scale, s.Shift, s.A, s.B, s.D, dx, s.Scratch, then, gamma, beta);
    }
}
