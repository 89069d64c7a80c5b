using System.Numerics;
using SpecNet.Planning;

namespace SpecNet.Training;

/// <summary>
/// The weight penalties of kernel_regularizer and bias_regularizer (Keras's L1, L2, L1L2): the penalty
/// l1 · Σ|w| + l2 · Σ w² of every regularized tensor, and its gradient l1 · sign(w) + 2 · l2 · w added to
/// the tensor's gradient. Applied once per step, on the weights the step started from.
/// </summary>
public static class Regularization
{
    /// <summary>Adds each penalty's gradient to the parameters' gradients; returns the total penalty.</summary>
    public static double Apply(ParameterSet parameters)
    {
        double penalty = 0;
        for (int s = 0; s < parameters.Slots.Count; s++)   // by index: a LINQ filter or an enumerator allocates at every step
        {
            var slot = parameters.Slots[s];
            if (slot.Grad is not { } g || slot.Spec.Regularizer is not { } r) continue;
            var (abs, squares) = Sums(slot.Value, g, (float)r.L1, (float)(2 * r.L2));
            penalty += r.L1 * abs + r.L2 * squares;
        }
        return penalty;
    }

    /// <summary>The total penalty alone (evaluation reports it in the loss too, as Keras's evaluate does).</summary>
    public static double Penalty(ParameterSet parameters)
    {
        double penalty = 0;
        for (int s = 0; s < parameters.Slots.Count; s++)
        {
            var slot = parameters.Slots[s];
            if (slot.Grad is null || slot.Spec.Regularizer is not { } r) continue;
            var (abs, squares) = Sums(slot.Value, null, 0, 0);
            penalty += r.L1 * abs + r.L2 * squares;
        }
        return penalty;
    }

    /// <summary>
    /// Σ|w| and Σ w² in doubles, and g += l1 · sign(w) + twoL2 · w where g is given. In vectors: each gradient float as the tail
    /// computes it (equal to the bit), the sums in lanes of doubles, then added. A float at a time this pass had taken 3 ms of a
    /// 5 ms step (a Caffe-style LeNet's 425,000 regularized weights: MathF.Sign and two chains of double adds). A NaN weight
    /// gives sign 0 and a NaN penalty, which the trainer reports as divergence (MathF.Sign throws on NaN).
    /// </summary>
    private static (double Abs, double Squares) Sums(float[] w, float[]? g, float l1, float twoL2)
    {
        int i = 0, n = Vector<float>.Count;
        double abs = 0, squares = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var (vl1, vl2, one) = (new Vector<float>(l1), new Vector<float>(twoL2), Vector<float>.One);
            Vector<double> absSum = Vector<double>.Zero, squareSum = Vector<double>.Zero;
            for (; i <= w.Length - n; i += n)
            {
                var wi = new Vector<float>(w, i);
                Vector.Widen(wi, out var low, out var high);
                absSum += Vector.Abs(low) + Vector.Abs(high);
                squareSum += low * low + high * high;
                if (g is null) continue;
                var sign = Vector.ConditionalSelect(Vector.GreaterThan(wi, Vector<float>.Zero), one,
                    Vector.ConditionalSelect(Vector.LessThan(wi, Vector<float>.Zero), -one, Vector<float>.Zero));
                (new Vector<float>(g, i) + (vl1 * sign + vl2 * wi)).CopyTo(g, i);
            }
            abs = Vector.Sum(absSum);
            squares = Vector.Sum(squareSum);
        }
        for (; i < w.Length; i++)
        {
            abs += Math.Abs(w[i]);
            squares += (double)w[i] * w[i];
            if (g is not null) g[i] += l1 * (w[i] > 0 ? 1f : w[i] < 0 ? -1f : 0f) + twoL2 * w[i];
        }
        return (abs, squares);
    }
}
