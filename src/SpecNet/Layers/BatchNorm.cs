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


    private sealed class State(int capacity, int size, int channels)
    {
        public readonly float[] XHat = new float[capacity * size];
        public readonly float[] InvStd = new float[channels];
        public readonly double[] Sum = new double[channels], SumSq = new double[channels];
    }

    public override object? CreateState(int capacity, bool training, Backend kernels) => new State(capacity, Input.Size, Input.Channels);

    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) =>
        g.Node("BatchNormalization", [inputs[0], g.Weight(this, 0), g.Weight(this, 1), g.Weight(this, 2), g.Weight(this, 3)],
            OnnxAttribute.Of("epsilon", Epsilon));

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        var s = (State)ctx.State!;
        int c = Input.Channels, rows = ctx.Batch * Input.Size / c;
        float[] gamma = ctx.Params[0], beta = ctx.Params[1], movingMean = ctx.Params[2], movingVar = ctx.Params[3];
        Span<float> mean = stackalloc float[c];
        if (ctx.Training)
        {
            Array.Clear(s.Sum); Array.Clear(s.SumSq);
            for (int r = 0; r < rows; r++)
                for (int ch = 0; ch < c; ch++) { double v = x[r * c + ch]; s.Sum[ch] += v; s.SumSq[ch] += v * v; }
            for (int ch = 0; ch < c; ch++)
            {
                double mu = s.Sum[ch] / rows, variance = Math.Max(0, s.SumSq[ch] / rows - mu * mu);
                mean[ch] = (float)mu;
                s.InvStd[ch] = (float)(1 / Math.Sqrt(variance + Epsilon));
                movingMean[ch] = Momentum * movingMean[ch] + (1 - Momentum) * (float)mu;
                movingVar[ch] = Momentum * movingVar[ch] + (1 - Momentum) * (float)variance;
            }
        }
        else
            for (int ch = 0; ch < c; ch++) { mean[ch] = movingMean[ch]; s.InvStd[ch] = 1 / MathF.Sqrt(movingVar[ch] + Epsilon); }
        for (int r = 0; r < rows; r++)
            for (int ch = 0; ch < c; ch++)
            {
                int i = r * c + ch;
                float xhat = (x[i] - mean[ch]) * s.InvStd[ch];
                s.XHat[i] = xhat;
                y[i] = gamma[ch] * xhat + beta[ch];
            }
    }

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        var s = (State)ctx.State!;
        int c = Input.Channels, rows = ctx.Batch * Input.Size / c;
        float[] gamma = ctx.Params[0], dGamma = ctx.Grads[0]!, dBeta = ctx.Grads[1]!;
        Array.Clear(dGamma); Array.Clear(dBeta);
        for (int r = 0; r < rows; r++)
            for (int ch = 0; ch < c; ch++) { int i = r * c + ch; dGamma[ch] += dy[i] * s.XHat[i]; dBeta[ch] += dy[i]; }
        if (!ctx.InputGradient) return;
        for (int r = 0; r < rows; r++)
            for (int ch = 0; ch < c; ch++)
            {
                int i = r * c + ch;
                dx[i] = ctx.Training
                    ? gamma[ch] * s.InvStd[ch] / rows * (rows * dy[i] - dBeta[ch] - s.XHat[i] * dGamma[ch])
                    : gamma[ch] * s.InvStd[ch] * dy[i];
            }
    }
}
