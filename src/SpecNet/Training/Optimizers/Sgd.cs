using System.Numerics;
using System.Runtime.CompilerServices;
using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Planning;

namespace SpecNet.Training.Optimizers;

/// <summary>
/// Keras SGD. Without momentum: w -= lr * g. With momentum: v = momentum * v - lr * g, then
/// w += v, or with Nesterov w += momentum * v - lr * g.
/// </summary>
public sealed class Sgd(SgdSpec spec, ParameterSet parameters, Backend? threads = null)
    : Optimizer(spec, parameters, spec.Momentum > 0 ? 1 : 0, threads)
{
    // In vectors, then the tail a float at a time, the same operations in the same order (no fused multiply-add): equal to the
    // bit. A float at a time, momentum's update of LeNet-5's 61,706 weights took 0.2 ms of its 1.5 ms step, on one thread.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Update(float[] w, float[] g, float[][] state, float lr, int start, int end)
    {
        float mu = spec.Momentum;
        int i = start, n = Vector<float>.Count;
        var (vlr, vmu) = (new Vector<float>(lr), new Vector<float>(mu));
        if (mu == 0)
        {
            if (Vector.IsHardwareAccelerated)
                for (; i <= end - n; i += n) (new Vector<float>(w, i) - vlr * new Vector<float>(g, i)).CopyTo(w, i);
            for (; i < end; i++) w[i] -= lr * g[i];
            return;
        }
        var v = state[0];
        bool nesterov = spec.Nesterov;
        if (Vector.IsHardwareAccelerated)
            for (; i <= end - n; i += n)
            {
                var gi = new Vector<float>(g, i);
                var vi = vmu * new Vector<float>(v, i) - vlr * gi;
                vi.CopyTo(v, i);
                (new Vector<float>(w, i) + (nesterov ? vmu * vi - vlr * gi : vi)).CopyTo(w, i);
            }
        for (; i < end; i++)
        {
            v[i] = mu * v[i] - lr * g[i];
            w[i] += nesterov ? mu * v[i] - lr * g[i] : v[i];
        }
    }
}
