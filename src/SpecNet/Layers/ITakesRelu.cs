namespace SpecNet.Layers;

/// <summary>
/// A layer whose output pass can apply the relu layer after it at inference, as ONNX Runtime fuses Conv + Relu: a conv2d,
/// depthwise_conv2d or dense layer without an activation of its own, written with a `- relu` after it (Keras's ReLU(), PyTorch's
/// nn.ReLU). The plan decides when (Planning/Fusion.cs); the floats are those of the two layers apart.
/// </summary>
public interface ITakesRelu
{
    /// <summary>Only a layer without an activation of its own.</summary>
    bool CanTakeRelu { get; }

    /// <summary>Plan time, inference: forward applies relu from now on, and writes the relu layer's output.</summary>
    void TakeRelu(LayerContext ctx);
}
