using SpecNet.Layers;

namespace SpecNet.Training;

/// <summary>
/// The losses of the spec language, averaged over the batch as Keras does. Labels are class indices,
/// one-hot encoded on the fly (Keras's to_categorical): t[c] = 1 for the label, 0 elsewhere; with a
/// single output unit (binary), t = label. Probabilities are clipped to [1e-7, 1 - 1e-7] as in Keras.
/// When the model ends in softmax (sigmoid) and the loss is cross-entropy, the two are computed together:
/// the gradient is taken before the activation, dL/dz = (p - t) / N, which is exact and stable.
/// </summary>
public sealed class Loss
{
    private const float Eps = 1e-7f;

    private Loss(string name, bool fused) { Name = name; Fused = fused; }

    public string Name { get; }

    /// <summary>The gradient is with respect to the pre-activation of the last layer.</summary>
    public bool Fused { get; }

    public static Loss For(string name, Activation final) => new(name, name switch
    {
        "categorical_crossentropy" or "sparse_categorical_crossentropy" => final.Function == ActivationFunction.Softmax,
        "binary_crossentropy" => final.Function == ActivationFunction.Sigmoid,
        _ => false,
    });

    /// <summary>Sum over the batch of per-example losses; writes dL/d(output) for the batch mean into <paramref name="grad"/>.</summary>
    public double Compute(ReadOnlySpan<float> y, ReadOnlySpan<int> labels, int batch, Span<float> grad)
    {
        int units = y.Length / batch;
        double total = 0;
        float invN = 1f / batch;
        for (int n = 0; n < batch; n++)
        {
            var row = y.Slice(n * units, units);
            var g = grad.Slice(n * units, units);
            int label = labels[n];
            switch (Name)
            {
                case "categorical_crossentropy" or "sparse_categorical_crossentropy":
                    total += -Math.Log(Math.Clamp(row[label], Eps, 1 - Eps));
                    for (int c = 0; c < units; c++)
                    {
                        float t = c == label ? 1 : 0;
                        g[c] = Fused ? (row[c] - t) * invN
                             : c == label && row[c] > Eps ? -invN / row[c] : 0;
                    }
                    break;
                case "binary_crossentropy":
                    for (int c = 0; c < units; c++)
                    {
                        float t = units == 1 ? label : c == label ? 1 : 0;
                        float p = Math.Clamp(row[c], Eps, 1 - Eps);
                        total += -(t * Math.Log(p) + (1 - t) * Math.Log(1 - p)) / units;
                        g[c] = Fused ? (row[c] - t) * invN / units : (p - t) / (p * (1 - p)) * invN / units;
                    }
                    break;
                case "mse":
                    for (int c = 0; c < units; c++)
                    {
                        float t = units == 1 ? label : c == label ? 1 : 0;
                        float d = row[c] - t;
                        total += (double)d * d / units;
                        g[c] = 2 * d * invN / units;
                    }
                    break;
                default: throw new InvalidOperationException($"unknown loss {Name}");
            }
        }
        return total;
    }
}
