using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Layers;

namespace SpecNet.Planning;

/// <summary>
/// Which layers a plan runs as one, each chain writing only its last layer's output; the tensors between are never
/// stored. A layer joins a chain only as the sole reader of the tensor before it.
/// - A batch_norm and the relu, relu6 or hard_swish after it, in training and inference: forward applies it in the batch norm's
///   pass, and backward its slope, recomputed from the batch norm's input (the batch norm's output is not kept).
/// - An add of two and the relu after it (a residual block's end), in training and inference where no convolution takes
///   them: forward writes max(a + b, 0) in one pass, and backward takes the relu's mask from that output, which it keeps.
/// - A batch_norm, an add of its output and another tensor (not its own input), and the relu after (a residual block's end in
///   training, where the convolution before the batch norm cannot take them): forward writes max(bn(x) + b, 0) in the batch norm's
///   pass; backward writes the relu's mask of dy where the add's other operand's gradient goes, and the batch norm reads it
///   there: neither the batch norm's output nor a copy of the add's gradient is stored.
/// - Inference only: a convolution without activation (<see cref="IFoldsBatchNorm"/>) with the batch_norm after it
///   (and its relu, or another elementwise activation: MobileNet's relu6 and hard_swish, applied to each chunk of rows in
///   cache), as ONNX Runtime fuses Conv + BatchNormalization + Relu. Training needs the convolution's output
///   for the batch statistics.
/// - Inference only: such a convolution and batch_norm with the add after it that alone reads the batch norm's output (a
///   residual block's end; its other operand was computed before), and the relu after that: ONNX Runtime's Conv + Add +
///   Relu. The add and the relu run in the convolution's output pass.
/// - Inference only: a conv2d, depthwise_conv2d or dense layer without activation and the relu layer after it (<see cref="ITakesRelu"/>),
///   as ONNX Runtime fuses Conv + Relu: the relu in the layer's output pass (a convolution's GEMM stores).
/// - Inference only: a conv2d (or such a chain) with the max_pool2d after it, when the pooling's windows tile
///   (<see cref="Conv2D.CanPool"/>): each chunk of the convolution's output is pooled while in cache, and only the pooled
///   tensor is written. Training keeps the convolution's output for both layers' backward, and there a relu conv2d runs the
///   backward of such a pooling (<see cref="PoolingsInConvolutions"/>): its output gradient made a chunk at a time, in cache.
/// - Inference only: a depthwise_conv2d (or its chain with batch_norm and relu, no add) whose output only a 1x1 conv2d reads,
///   with that convolution's chain, and any further depthwise and 1x1 pairs that each read only the one before (MobileNet's
///   separable blocks): the last 1x1 convolution makes its input a block of rows at a time in its own scratch
///   (<see cref="Conv2D.ReadInputFrom"/>), each stage asking the one before for the rows under its own, so that only the
///   last stage's output goes through memory.
/// </summary>
public static class Fusion
{
    /// <summary>Per layer: the last layer of the chain it starts, or -1.</summary>
    /// <param name="oneImageOnThreads">A plan for one image at a time on several threads: at most one depthwise and 1x1 pair a chain. Its
    /// threads split a chain's output rows, and in a deeper chain each would make the rows under its share at every stage (the
    /// windows of the next overlap): a quarter more work on MobileNet's first 1x1 convolution, slower than a pass per pair.</param>
    public static int[] Chains(ModelSpec model, int[][] sources, bool training = false, bool oneImageOnThreads = false)
    {
        var layers = model.Layers;
        int count = layers.Count;
        var readers = Readers(sources, count);
        bool OnlyReader(int layer, int tensor) => layer < count && readers[tensor] == 1 && sources[layer] is [var t] && t == tensor;
        // an activation layer of a kind after this layer, reading it alone
        bool ActivationAfter(int layer, Func<ActivationFunction, bool> kind) =>
            layer + 1 < count && layers[layer + 1] is ActivationLayer a && kind(a.Activation.Function) && OnlyReader(layer + 1, layer + 1);
        bool ReluAfter(int layer) => ActivationAfter(layer, f => f == ActivationFunction.Relu);
        bool BatchNormsActivationAfter(int layer) => ActivationAfter(layer, f => InBatchNorm(f) is not null);   // what its pass applies
        // any elementwise activation (softmax is over channels, so not one)
        bool ElementwiseAfter(int layer) => ActivationAfter(layer, f => f is not (ActivationFunction.Softmax or ActivationFunction.Linear));
        bool OtherActivation(Layer l) => l is ActivationLayer { Activation.Function: not ActivationFunction.Relu };
        // two operands, one of them this layer's output, which nothing else reads
        bool AddAfter(int layer) => layer + 1 < count && layers[layer + 1] is Merge { Op: MergeOp.Add } && readers[layer + 1] == 1
            && sources[layer + 1] is [var a, var b] && (a == layer + 1 || b == layer + 1);

        // The last layer of the stage starting at i (i itself when none): a convolution with the batch norm it folds (and the add,
        // the relu, the pooling after them), a batch norm or an add with its relu, or a convolution with its pooling.
        int Stage(int i)
        {
            int last = i;
            if (!training && layers[i] is IFoldsBatchNorm { CanFold: true } && i + 1 < count && layers[i + 1] is BatchNorm && OnlyReader(i + 1, i + 1))
            {
                int mapped = AddAfter(i + 1) ? i + 2 : i + 1;          // a residual add before the relu, or none
                last = ElementwiseAfter(mapped) ? mapped + 1 : mapped;   // relu, or another activation (relu6, hard_swish) on the rows in cache
            }
            else if (layers[i] is BatchNorm && AddAfter(i) && sources[i + 1] is [var p, var q] && (p == i + 1 ? q : p) is var other
                     && other != i + 1 && other != sources[i][0] && ReluAfter(i + 1))
                last = i + 2;                                           // batch norm + add + relu: a residual block's end
            else if (layers[i] is BatchNorm && BatchNormsActivationAfter(i) || layers[i] is Merge { Op: MergeOp.Add, Sources.Count: 2 } && ReluAfter(i)
                     || !training && layers[i] is ITakesRelu { CanTakeRelu: true } && ReluAfter(i))
                last = i + 1;                                           // batch norm + relu, relu6 or hard_swish (in its pass), add + relu, conv + relu
            if (!training && layers[i] is Conv2D conv && (last < i + 2 || layers[i + 2] is not Merge) && !OtherActivation(layers[last]) && last + 1 < count && layers[last + 1] is MaxPool2D pool && conv.CanPool(pool) && OnlyReader(last + 1, last + 1))
                last++;
            return last;
        }

        // Whether the stage [head, last] can be made a block of rows at a time for the stage after it, which only it feeds: a depthwise
        // stage (relu or no activation, no add) for a 1x1 convolution, or a 1x1 convolution's stage (no add, no pooling) for a depthwise.
        bool Feeds(int head, int last)
        {
            if (training || last + 1 >= count || !OnlyReader(last + 1, last + 1) || layers.Skip(head).Take(last - head + 1).Any(l => l is Merge or MaxPool2D || OtherActivation(l))) return false;
            return layers[head] is DepthwiseConv2D { Activation.Function: ActivationFunction.Relu or ActivationFunction.Linear } ? layers[last + 1] is Conv2D { IsPointwise: true }
                : layers[head] is Conv2D { IsPointwise: true, Activation.Function: ActivationFunction.Relu or ActivationFunction.Linear } && layers[last + 1] is DepthwiseConv2D;
        }

        var end = Enumerable.Repeat(-1, count).ToArray();
        for (int i = 0; i < count; i++)
        {
            int last = Stage(i);
            // A depthwise stage and the 1x1 convolution's after it, then as many more such pairs as follow: the last 1x1 convolution
            // asks for its input rows, and each stage for the rows under them from the one before.
            if (layers[i] is DepthwiseConv2D && Feeds(i, last))
                for (int head = last + 1; ; )
                {
                    last = Stage(head);
                    if (oneImageOnThreads || !Feeds(head, last)) break;
                    int next = Stage(last + 1);
                    if (!Feeds(last + 1, next)) break;
                    head = next + 1;
                }
            if (last == i) continue;
            end[i] = last;
            i = last;
        }
        return end;
    }

    /// <summary>The activation a batch norm's pass applies for an activation layer after it (relu, relu6, hard_swish), or null: a pass of its own.</summary>
    public static ChannelActivation? InBatchNorm(ActivationFunction f) => f switch
    {
        ActivationFunction.Relu => ChannelActivation.Relu,
        ActivationFunction.Relu6 => ChannelActivation.Relu6,
        ActivationFunction.HardSwish => ChannelActivation.HardSwish,
        _ => null,
    };

    /// <summary>Per layer: the first layers of the stages of the chain it starts when it has several (a depthwise stage first, each made for the next), else empty.</summary>
    public static int[][] Stages(ModelSpec model, int[] chainEnd) => chainEnd.Select((e, i) => model.Layers[i] is not DepthwiseConv2D || e < 0 ? []
        : Enumerable.Range(i, e - i + 1).Where(j => model.Layers[j] is Conv2D or DepthwiseConv2D).ToArray()).Select(h => h.Length > 1 ? h : []).ToArray();

    /// <summary>
    /// Training, per layer: whether it is a max_pool2d that alone reads the output of a relu (a layer's own activation or a relu
    /// layer). Its backward then passes dy only to positive maxima, which is the relu's backward too, so the relu's layer takes
    /// that as the gradient of its pre-activation: one pass over the activation instead of two.
    /// </summary>
    public static bool[] PoolingsThroughRelu(ModelSpec model, int[][] sources)
    {
        var layers = model.Layers;
        var readers = Readers(sources, layers.Count);
        return layers.Select((l, i) => l is MaxPool2D && sources[i] is [var t] && t > 0 && readers[t] == 1
            && layers[t - 1].OutputActivation.Function == ActivationFunction.Relu).ToArray();
    }

    /// <summary>
    /// Training, per layer: a max_pool2d whose backward the convolution before it runs (<see cref="Conv2D.BackwardThroughPooling"/>):
    /// one of <see cref="PoolingsThroughRelu"/> with windows that tile, after a conv2d whose own activation is that relu, neither in
    /// a chain. The convolution's output gradient is then never a tensor: its buffer is the pooling's output gradient
    /// (<see cref="BufferLayout"/>), which stays in use until the convolution's backward has read it.
    /// </summary>
    public static bool[] PoolingsInConvolutions(ModelSpec model, int[][] sources, int[] chainEnd)
    {
        var layers = model.Layers;
        var through = PoolingsThroughRelu(model, sources);
        var inChain = new bool[layers.Count];
        for (int i = 0; i < layers.Count; i++) for (int j = i; j <= chainEnd[i]; j++) inChain[j] = true;
        return layers.Select((l, i) => through[i] && sources[i][0] - 1 is var c && layers[c] is Conv2D conv && conv.CanTakePoolingBackward((MaxPool2D)l)
            && !inChain[c] && !inChain[i]).ToArray();
    }

    /// <summary>Per tensor: how many layer inputs read it.</summary>
    private static int[] Readers(int[][] sources, int layers)
    {
        var readers = new int[layers + 1];
        foreach (var s in sources) foreach (var t in s) readers[t]++;
        return readers;
    }
}
