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
        foreach (var slot in parameters.Trainable)
        {
            if (slot.Spec.Regularizer is not { } r) continue;
            float l1 = (float)r.L1, twoL2 = (float)(2 * r.L2);
            double abs = 0, squares = 0;
            var (w, g) = (slot.Value, slot.Grad!);
            for (int i = 0; i < w.Length; i++)
            {
                abs += Math.Abs(w[i]);
                squares += (double)w[i] * w[i];
                g[i] += l1 * MathF.Sign(w[i]) + twoL2 * w[i];
            }
            penalty += r.L1 * abs + r.L2 * squares;
        }
        return penalty;
    }

    /// <summary>The total penalty alone (evaluation reports it in the loss too, as Keras's evaluate does).</summary>
    public static double Penalty(ParameterSet parameters)
    {
        double penalty = 0;
        foreach (var slot in parameters.Trainable)
            if (slot.Spec.Regularizer is { } r)
                foreach (var w in slot.Value) penalty += r.L1 * Math.Abs(w) + r.L2 * (double)w * w;
        return penalty;
    }
}
