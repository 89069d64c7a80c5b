using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Dropout (Keras Dropout, inverted): in training y = x * m / (1 - rate) with m ~ Bernoulli(1 - rate)
/// drawn from the spec's seed; at inference y = x. Backward: dx = dy * m / (1 - rate). No parameters.
/// </summary>
public sealed class Dropout : Layer
{
    public static readonly LayerKind Definition = new("dropout", "randomly zeroes a fraction of inputs while training", [
        new("rate", "number in [0, 1)", null, "fraction of inputs to drop"),
    ], r => new Dropout { Rate = r.Float("rate", 0, 1, maxInclusive: false) });

    public float Rate { get; private init; }

    protected override Shape? InferShape(Shape input, ShapeCheck check) => input;

    public override string Describe() => $"rate={Rate}";
}
