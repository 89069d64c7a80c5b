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
        new("momentum", "number in [0, 1)", "0.99", "how slowly the moving statistics follow the batch"),
        new("epsilon", "number > 0", "0.001", "added to the variance before the square root"),
    ], r => new BatchNorm
    {
        Momentum = r.Float("momentum", 0, 1, maxInclusive: false),
        Epsilon = r.Float("epsilon", 0, 1, minInclusive: false),
    });

    public float Momentum { get; private init; }
    public float Epsilon { get; private init; }

    protected override Shape? InferShape(Shape input, ShapeCheck check) => input;

    public override IReadOnlyList<ParameterSpec> Parameters =>
    [
        new("gamma", [Input.Channels], true, Init.Ones),
        new("beta", [Input.Channels], true, Init.Zeros),
        new("moving_mean", [Input.Channels], false, Init.Zeros),
        new("moving_variance", [Input.Channels], false, Init.Ones),
    ];

    public override string Describe() => $"momentum={Momentum} epsilon={Epsilon}";
}
