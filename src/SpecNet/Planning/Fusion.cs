using SpecNet.Checking;
using SpecNet.Layers;

namespace SpecNet.Planning;

/// <summary>
/// Which layers an inference plan runs as one: a convolution without activation (<see cref="IFoldsBatchNorm"/>),
/// the batch_norm that alone reads its output, and a relu that alone reads the batch norm's. The convolution writes
/// the last one's output directly; the tensors between are never stored. Training runs every layer, because
/// backward needs them.
/// </summary>
public static class Fusion
{
    /// <summary>Per layer: the last layer of the chain it starts, or -1.</summary>
    public static int[] Chains(ModelSpec model, int[][] sources)
    {
        var layers = model.Layers;
        int count = layers.Count;
        var readers = new int[count + 1];
        foreach (var s in sources) foreach (var t in s) readers[t]++;
        bool OnlyReader(int layer, int tensor) => layer < count && readers[tensor] == 1 && sources[layer] is [var t] && t == tensor;

        var end = Enumerable.Repeat(-1, count).ToArray();
        for (int i = 0; i + 1 < count; i++)
        {
            if (layers[i] is not IFoldsBatchNorm { CanFold: true } || layers[i + 1] is not BatchNorm || !OnlyReader(i + 1, i + 1)) continue;
            int last = i + 1;
            if (i + 2 < count && layers[i + 2] is ActivationLayer { Activation.Function: ActivationFunction.Relu } && OnlyReader(i + 2, i + 2)) last = i + 2;
            end[i] = last;
        }
        return end;
    }
}
