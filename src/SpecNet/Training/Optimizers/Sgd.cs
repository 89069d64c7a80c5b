using System.Runtime.CompilerServices;
using SpecNet.Checking;
using SpecNet.Planning;

namespace SpecNet.Training.Optimizers;

/// <summary>
/// Keras SGD. Without momentum: w -= lr * g. With momentum: v = momentum * v - lr * g, then
/// w += v, or with Nesterov w += momentum * v - lr * g.
/// </summary>
public sealed class Sgd(SgdSpec spec, ParameterSet parameters) : Optimizer(spec, parameters, spec.Momentum > 0 ? 1 : 0)
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Update(float[] w, float[] g, float[][] state, float lr)
    {
        float mu = spec.Momentum;
        if (mu == 0) { for (int i = 0; i < w.Length; i++) w[i] -= lr * g[i]; return; }
        var v = state[0];
        for (int i = 0; i < w.Length; i++)
        {
            v[i] = mu * v[i] - lr * g[i];
            w[i] += spec.Nesterov ? mu * v[i] - lr * g[i] : v[i];
        }
    }
}
