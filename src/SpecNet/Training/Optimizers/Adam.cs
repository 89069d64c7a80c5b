using SpecNet.Checking;
using SpecNet.Planning;

namespace SpecNet.Training.Optimizers;

/// <summary>
/// Keras Adam (and AdamW, which is Adam with weight decay), with Keras's epsilon placement (outside the
/// bias correction): m += (g - m)(1 - b1); v += (g² - v)(1 - b2); w -= lr·sqrt(1 - b2^t)/(1 - b1^t) · m / (sqrt(v) + eps).
/// </summary>
public sealed class Adam(AdamSpec spec, ParameterSet parameters) : Optimizer(spec, parameters, 2)
{
    protected override void Update(float[] w, float[] g, float[][] state, float lr)
    {
        float[] m = state[0], v = state[1];
        float b1 = spec.Beta1, b2 = spec.Beta2, eps = spec.Epsilon;
        double t = Iterations;
        float alpha = (float)(lr * Math.Sqrt(1 - Math.Pow(b2, t)) / (1 - Math.Pow(b1, t)));
        for (int i = 0; i < w.Length; i++)
        {
            m[i] += (g[i] - m[i]) * (1 - b1);
            v[i] += (g[i] * g[i] - v[i]) * (1 - b2);
            w[i] -= alpha * m[i] / (MathF.Sqrt(v[i]) + eps);
        }
    }
}
