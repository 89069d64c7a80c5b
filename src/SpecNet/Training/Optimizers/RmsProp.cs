using System.Runtime.CompilerServices;
using SpecNet.Checking;
using SpecNet.Planning;

namespace SpecNet.Training.Optimizers;

/// <summary>Keras RMSprop (not centered, no momentum): v = rho·v + (1 - rho)·g²; w -= lr · g / sqrt(v + eps).</summary>
public sealed class RmsProp(RmsPropSpec spec, ParameterSet parameters) : Optimizer(spec, parameters, 1)
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Update(float[] w, float[] g, float[][] state, float lr)
    {
        var v = state[0];
        float rho = spec.Rho, eps = spec.Epsilon;
        for (int i = 0; i < w.Length; i++)
        {
            v[i] = rho * v[i] + (1 - rho) * g[i] * g[i];
            w[i] -= lr * g[i] / MathF.Sqrt(v[i] + eps);
        }
    }
}
