using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Layers;

namespace SpecNet.Planning;

/// <summary>One parameter tensor: where it belongs, its values, and (when trainable and its layer not frozen) its gradient.</summary>
public sealed class ParameterSlot(Layer layer, int index, ParameterSpec spec)
{
    public Layer Layer { get; } = layer;
    public int Index { get; } = index;
    public ParameterSpec Spec { get; } = spec;
    /// <summary>Tensor name in weights files: "&lt;layer&gt;.&lt;suffix&gt;", e.g. conv2d_1.weight.</summary>
    public string Name => $"{Layer.Name}.{Spec.Suffix}";
    public float[] Value { get; } = new float[spec.Size];
    public float[]? Grad { get; } = spec.Trainable && !layer.Frozen ? new float[spec.Size] : null;
}

/// <summary>All parameters of a model, shared by every plan (training and evaluation batch sizes) that runs it.</summary>
public sealed class ParameterSet
{
    public ParameterSet(ModelSpec model)
    {
        Model = model;
        Slots = model.Layers.SelectMany(l => l.Parameters.Select((p, i) => new ParameterSlot(l, i, p))).ToList();
    }

    public ModelSpec Model { get; }
    public IReadOnlyList<ParameterSlot> Slots { get; }
    public IEnumerable<ParameterSlot> Trainable => Slots.Where(s => s.Grad is not null);

    public IReadOnlyList<ParameterSlot> Of(Layer layer) => Slots.Where(s => s.Layer == layer).OrderBy(s => s.Index).ToList();

    /// <summary>Keras's initialisation from the seed: Glorot-uniform kernels, zero biases and betas, ones for gamma and variance.</summary>
    public static ParameterSet Initialize(ModelSpec model, int seed)
    {
        var set = new ParameterSet(model);
        var rng = Rng.For(seed, "init");
        foreach (var slot in set.Slots)
        {
            var spec = slot.Spec;
            switch (spec.Init)
            {
                case Init.Ones: Array.Fill(slot.Value, 1f); break;
                case Init.Zeros: break;
                case Init.GlorotUniform:
                    float limit = MathF.Sqrt(6f / (spec.FanIn + spec.FanOut));
                    for (int i = 0; i < slot.Value.Length; i++) slot.Value[i] = (rng.NextFloat() * 2 - 1) * limit;
                    break;
            }
        }
        return set;
    }
}
