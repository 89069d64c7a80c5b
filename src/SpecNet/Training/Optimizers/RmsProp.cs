using System.Numerics;
using System.Runtime.CompilerServices;
using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Planning;

namespace SpecNet.Training.Optimizers;

/// <summary>Keras RMSprop (not centered, no momentum): v = rho·v + (1 - rho)·g²; w -= lr · g / sqrt(v + eps).</summary>
public sealed class RmsProp(RmsPropSpec spec, ParameterSet parameters, Backend? threads = null) : Optimizer(spec, parameters, 1, threads)
{
    // In vectors, then the tail a float at a time, the same operations in the same order (no fused multiply-add): equal to the bit.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Update(float[] w, float[] g, float[][] state, float lr, int start, int end)
    {
        var v = state[0];
        float rho = spec.Rho, eps = spec.Epsilon, keep = 1 - rho;
        int i = start, n = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
        {
            var (vrho, vkeep, vlr, veps) = (new Vector<float>(rho), new Vector<float>(keep), new Vector<float>(lr), new Vector<float>(eps));
            for (; i <= end - n; i += n)
            {
                var gi = new Vector<float>(g, i);
                var vi = vrho * new Vector<float>(v, i) + vkeep * gi * gi;
                vi.CopyTo(v, i);
                (new Vector<float>(w, i) - vlr * gi / Vector.SquareRoot(vi + veps)).CopyTo(w, i);
            }
        }
        for (; i < end; i++)
        {
            v[i] = rho * v[i] + keep * g[i] * g[i];
            w[i] -= lr * g[i] / MathF.Sqrt(v[i] + eps);
        }
    }
}
