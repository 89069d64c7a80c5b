using System.Numerics;
using SpecNet.Checking;
using SpecNet.Planning;

namespace SpecNet.Training.Optimizers;

/// <summary>
/// Updates the trainable parameters from their gradients, with Keras 3's rules. Each step: the learning
/// rate for this step (the schedule at the steps taken so far, or a rate set by ReduceLROnPlateau), the
/// gradients clipped (clipnorm per tensor, global_clipnorm over all, or clipvalue per element), decoupled
/// weight decay w -= w · weight_decay · lr, then the optimizer's own update. State (moments, velocities)
/// is kept per parameter and saved with checkpoints.
/// </summary>
public abstract class Optimizer
{
    protected Optimizer(OptimizerSpec spec, ParameterSet parameters, int slotsPerParameter)
    {
        Spec = spec;
        Parameters = parameters.Trainable.ToList();
        State = Parameters.Select(p => Enumerable.Range(0, slotsPerParameter).Select(_ => new float[p.Value.Length]).ToArray()).ToArray();
    }

    public OptimizerSpec Spec { get; }
    protected IReadOnlyList<ParameterSlot> Parameters { get; }
    /// <summary>Per trainable parameter: its state tensors (e.g. Adam's m and v).</summary>
    public float[][][] State { get; }
    /// <summary>Steps taken so far (Keras's `iterations`).</summary>
    public long Iterations { get; set; }
    /// <summary>A rate set from outside (ReduceLROnPlateau), in place of the spec's constant one.</summary>
    public double? LearningRateOverride { get; set; }

    /// <summary>The rate the next step uses.</summary>
    public double LearningRate => LearningRateOverride ?? Spec.LearningRate.At(Iterations);

    public void Step()
    {
        float lr = (float)LearningRate;
        Iterations++;
        ClipGradients();
        for (int i = 0; i < Parameters.Count; i++)
        {
            var (w, g) = (Parameters[i].Value, Parameters[i].Grad!);
            if (Spec.WeightDecay > 0) Multiply(w, 1 - (float)Spec.WeightDecay * lr);
            Update(w, g, State[i], lr);
        }
    }

    /// <summary>One parameter's update at this step's learning rate; <see cref="Iterations"/> already counts this step.</summary>
    protected abstract void Update(float[] w, float[] g, float[][] state, float lr);

    // Loops by index over the parameters: foreach over the list's interface allocates an enumerator at every step.
    private void ClipGradients()
    {
        if (Spec.ClipNorm is { } clipNorm)
            for (int i = 0; i < Parameters.Count; i++)
            {
                var g = Parameters[i].Grad!;
                Scale(g, clipNorm / Math.Max(Math.Sqrt(SumOfSquares(g)), clipNorm));
            }
        else if (Spec.GlobalClipNorm is { } globalNorm)
        {
            double squares = 0;
            for (int i = 0; i < Parameters.Count; i++) squares += SumOfSquares(Parameters[i].Grad!);
            double global = Math.Sqrt(squares);
            for (int i = 0; i < Parameters.Count; i++) Scale(Parameters[i].Grad!, globalNorm / Math.Max(global, globalNorm));
        }
        else if (Spec.ClipValue is { } value)
            for (int i = 0; i < Parameters.Count; i++) Clamp(Parameters[i].Grad!, (float)-value, (float)value);
    }

    // These passes run on one thread at every step, over every weight: in vectors, each float as the scalar tail computes it
    // (equal to the bit), except the norms' sums of squares, which run in lanes that are then added up (another order of doubles).

    private static void Multiply(float[] w, float factor)
    {
        int k = 0, n = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
            for (var f = new Vector<float>(factor); k <= w.Length - n; k += n) (new Vector<float>(w, k) * f).CopyTo(w, k);
        for (; k < w.Length; k++) w[k] *= factor;
    }

    private static void Clamp(float[] g, float low, float high)
    {
        int k = 0, n = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
        {
            var (lo, hi) = (new Vector<float>(low), new Vector<float>(high));
            for (; k <= g.Length - n; k += n)
            {
                var v = new Vector<float>(g, k);   // compared as Math.Clamp compares: NaN stays NaN, -0 stays -0
                Vector.ConditionalSelect(Vector.LessThan(v, lo), lo, Vector.ConditionalSelect(Vector.GreaterThan(v, hi), hi, v)).CopyTo(g, k);
            }
        }
        for (; k < g.Length; k++) g[k] = Math.Clamp(g[k], low, high);
    }

    private static double SumOfSquares(float[] g)
    {
        int k = 0, n = Vector<float>.Count;
        double sum = 0;
        if (Vector.IsHardwareAccelerated)
        {
            Vector<double> low = Vector<double>.Zero, high = Vector<double>.Zero;
            for (; k <= g.Length - n; k += n)
            {
                Vector.Widen(new Vector<float>(g, k), out var a, out var b);
                low += a * a;
                high += b * b;
            }
            sum = Vector.Sum(low + high);
        }
        for (; k < g.Length; k++) sum += (double)g[k] * g[k];
        return sum;
    }

    private static void Scale(float[] g, double factor)
    {
        if (factor == 1) return;
        int k = 0, n = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
            for (var f = new Vector<double>(factor); k <= g.Length - n; k += n)
            {
                Vector.Widen(new Vector<float>(g, k), out var a, out var b);
                Vector.Narrow(a * f, b * f).CopyTo(g, k);
            }
        for (; k < g.Length; k++) g[k] = (float)(g[k] * factor);
    }

    public static Optimizer Create(OptimizerSpec spec, ParameterSet parameters) => spec switch
    {
        SgdSpec sgd => new Sgd(sgd, parameters),
        AdamSpec adam => new Adam(adam, parameters),
        RmsPropSpec rmsprop => new RmsProp(rmsprop, parameters),
        _ => throw new InvalidOperationException($"no optimizer implements {spec.Name}"),
    };
}
