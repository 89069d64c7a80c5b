using SpecNet.Checking;
using SpecNet.Planning;

namespace SpecNet.Training.Optimizers;

/// <summary>Keras AdamW: decoupled weight decay w -= lr · weight_decay · w, then the Adam step.</summary>
public sealed class AdamW(AdamWSpec spec, ParameterSet parameters) : Adam(spec, parameters)
{
    protected override void Update(float[] w, float[] g, float[][] state)
    {
        float decay = 1 - spec.LearningRate * spec.WeightDecay;
        for (int i = 0; i < w.Length; i++) w[i] *= decay;
        base.Update(w, g, state);
    }
}
