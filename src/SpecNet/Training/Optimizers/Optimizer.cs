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
            if (Spec.WeightDecay > 0)
            {
                float keep = 1 - (float)Spec.WeightDecay * lr;
                for (int k = 0; k < w.Length; k++) w[k] *= keep;
            }
            Update(w, g, State[i], lr);
        }
    }

    /// <summary>One parameter's update at this step's learning rate; <see cref="Iterations"/> already counts this step.</summary>
    protected abstract void Update(float[] w, float[] g, float[][] state, float lr);

    private void ClipGradients()
    {
        if (Spec.ClipNorm is { } clipNorm)
            foreach (var p in Parameters) Scale(p.Grad!, clipNorm / Math.Max(Norm(p.Grad!), clipNorm));
        else if (Spec.GlobalClipNorm is { } globalNorm)
        {
            double global = Math.Sqrt(Parameters.Sum(p => Math.Pow(Norm(p.Grad!), 2)));
            foreach (var p in Parameters) Scale(p.Grad!, globalNorm / Math.Max(global, globalNorm));
        }
        else if (Spec.ClipValue is { } value)
            foreach (var p in Parameters)
                for (int k = 0; k < p.Grad!.Length; k++) p.Grad[k] = Math.Clamp(p.Grad[k], (float)-value, (float)value);
    }

    private static double Norm(float[] g)
    {
        double sum = 0;
        foreach (var v in g) sum += (double)v * v;
        return Math.Sqrt(sum);
    }

    private static void Scale(float[] g, double factor)
    {
        if (factor == 1) return;
        for (int k = 0; k < g.Length; k++) g[k] = (float)(g[k] * factor);
    }

    public static Optimizer Create(OptimizerSpec spec, ParameterSet parameters) => spec switch
    {
        SgdSpec sgd => new Sgd(sgd, parameters),
        AdamSpec adam => new Adam(adam, parameters),
        RmsPropSpec rmsprop => new RmsProp(rmsprop, parameters),
        _ => throw new InvalidOperationException($"no optimizer implements {spec.Name}"),
    };
}
