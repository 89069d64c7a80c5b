using SpecNet.Checking;
using SpecNet.Planning;

namespace SpecNet.Training.Optimizers;

/// <summary>
/// Updates the trainable parameters from their gradients, with Keras's rules. State (moments, velocities)
/// is kept per parameter and can be saved with a checkpoint.
/// </summary>
public abstract class Optimizer
{
    protected Optimizer(ParameterSet parameters, int slotsPerParameter)
    {
        Parameters = parameters.Trainable.ToList();
        State = Parameters.Select(p => Enumerable.Range(0, slotsPerParameter).Select(_ => new float[p.Value.Length]).ToArray()).ToArray();
    }

    protected IReadOnlyList<ParameterSlot> Parameters { get; }
    /// <summary>Per trainable parameter: its state tensors (e.g. Adam's m and v).</summary>
    public float[][][] State { get; }
    /// <summary>Steps taken so far (Keras's `iterations`).</summary>
    public long Iterations { get; set; }

    public void Step()
    {
        Iterations++;
        for (int i = 0; i < Parameters.Count; i++) Update(Parameters[i].Value, Parameters[i].Grad!, State[i]);
    }

    protected abstract void Update(float[] w, float[] g, float[][] state);

    public static Optimizer Create(OptimizerSpec spec, ParameterSet parameters) => spec switch
    {
        SgdSpec sgd => new Sgd(sgd, parameters),
        AdamWSpec adamw => new AdamW(adamw, parameters),
        AdamSpec adam => new Adam(adam, parameters),
        RmsPropSpec rmsprop => new RmsProp(rmsprop, parameters),
        _ => throw new InvalidOperationException($"no optimizer implements {spec.Name}"),
    };
}
