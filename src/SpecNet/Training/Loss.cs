using SpecNet.Checking;
using SpecNet.Layers;

namespace SpecNet.Training;

/// <summary>
/// The losses of the spec language, averaged over the batch as Keras does. Labels are class indices,
/// one-hot encoded on the fly (Keras's to_categorical): t[c] = 1 for the label, 0 elsewhere; with a
/// single output unit (binary), t = label. Probabilities are clipped to [1e-7, 1 - 1e-7] as in Keras.
/// When the model ends in softmax (sigmoid) and the loss is cross-entropy, the two are computed together:
/// the gradient is taken before the activation, dL/dz = (p - t) / N, which is exact and stable. With
/// label smoothing s (Keras's), targets are (1 - s) · t + s / classes (binary: (1 - s) · t + s / 2).
/// </summary>
public abstract class Loss
{
    /// <summary>Keras's clipping of probabilities (backend epsilon).</summary>
    protected const float Eps = 1e-7f;

    /// <summary>The gradient is with respect to the pre-activation of the last layer.</summary>
    public bool Fused { get; private init; }

    /// <summary>Keras's label smoothing (0: none).</summary>
    protected float Smoothing { get; private init; }

    public static Loss For(LossSpec spec, Activation final) => spec.Kind switch
    {
        LossKind.CategoricalCrossentropy or LossKind.SparseCategoricalCrossentropy =>
            new CrossEntropy { Fused = final.Function == ActivationFunction.Softmax, Smoothing = (float)spec.LabelSmoothing },
        LossKind.BinaryCrossentropy => new BinaryCrossEntropy { Fused = final.Function == ActivationFunction.Sigmoid, Smoothing = (float)spec.LabelSmoothing },
        _ => new MeanSquaredError(),
    };

    /// <summary>Sum over the batch of per-example losses; writes dL/d(output) for the batch mean into <paramref name="grad"/>.</summary>
    public double Compute(ReadOnlySpan<float> y, ReadOnlySpan<int> labels, int batch, Span<float> grad)
    {
        int units = y.Length / batch;
        double total = 0;
        float invN = 1f / batch;
        for (int n = 0; n < batch; n++)
            total += Example(y.Slice(n * units, units), labels[n], grad.Slice(n * units, units), invN);
        return total;
    }

    /// <summary>One example's loss; its gradient (already divided by the batch size: <paramref name="invN"/>) into g.</summary>
    protected abstract double Example(ReadOnlySpan<float> y, int label, Span<float> g, float invN);

    /// <summary>The one-hot target of class c (with one output unit: the label itself).</summary>
    protected static float Target(int c, int label, int units) => units == 1 ? label : c == label ? 1 : 0;

    /// <summary>-Σ t_c log p_c (-log p[label] without smoothing); fused with softmax: dL/dz = (p - t) / N.</summary>
    private sealed class CrossEntropy : Loss
    {
        protected override double Example(ReadOnlySpan<float> y, int label, Span<float> g, float invN)
        {
            int units = y.Length;
            double total = 0;
            for (int c = 0; c < units; c++)
            {
                float t = Target(c, label, units) * (1 - Smoothing) + Smoothing / units;
                if (t > 0) total -= t * Math.Log(Math.Clamp(y[c], Eps, 1 - Eps));
                g[c] = Fused ? (y[c] - t) * invN : y[c] > Eps ? -t * invN / y[c] : 0;
            }
            return total;
        }
    }

    /// <summary>Mean over units of -(t log p + (1 - t) log(1 - p)); fused with sigmoid: dL/dz = (p - t) / (N units).</summary>
    private sealed class BinaryCrossEntropy : Loss
    {
        protected override double Example(ReadOnlySpan<float> y, int label, Span<float> g, float invN)
        {
            int units = y.Length;
            double total = 0;
            for (int c = 0; c < units; c++)
            {
                float t = Target(c, label, units) * (1 - Smoothing) + Smoothing / 2;
                float p = Math.Clamp(y[c], Eps, 1 - Eps);
                total += -(t * Math.Log(p) + (1 - t) * Math.Log(1 - p)) / units;
                g[c] = Fused ? (y[c] - t) * invN / units : (p - t) / (p * (1 - p)) * invN / units;
            }
            return total;
        }
    }

    /// <summary>Mean over units of (y - t)².</summary>
    private sealed class MeanSquaredError : Loss
    {
        protected override double Example(ReadOnlySpan<float> y, int label, Span<float> g, float invN)
        {
            int units = y.Length;
            double total = 0;
            for (int c = 0; c < units; c++)
            {
                float d = y[c] - Target(c, label, units);
                total += (double)d * d / units;
                g[c] = 2 * d * invN / units;
            }
            return total;
        }
    }
}
