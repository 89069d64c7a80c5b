using System.Runtime.InteropServices;
using SpecNet.Diagnostics;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Concatenation along the channels (Keras Concatenate, axis -1): inputs H x W x C_i of one height and
/// width (or flat vectors) give H x W x Σ C_i; y[n,i,j, offset_k + c] = x_k[n,i,j,c]. Backward: each
/// input's gradient is its slice of dy. No parameters.
/// </summary>
public sealed class Concatenate : Layer
{
    public static readonly LayerKind Definition =
        new("concatenate", "joins its inputs along the channels (equal height and width)", [], _ => new Concatenate()) { MinInputs = 2, MaxInputs = int.MaxValue };

    protected override Shape? InferShape(IReadOnlyList<Shape> inputs, ShapeCheck check)
    {
        for (int i = 1; i < inputs.Count; i++)
            if (inputs[i].IsFlat != inputs[0].IsFlat || inputs[i].Height != inputs[0].Height || inputs[i].Width != inputs[0].Width)
            {
                check.Error(DiagnosticIds.MergeShapes, "inputs",
                    $"joins channels, so its inputs need one height and width, but {Source(0)} gives {inputs[0]} and {Source(i)} gives {inputs[i]}",
                    inputs[i].IsFlat != inputs[0].IsFlat ? "flatten (or globally pool) both, or neither"
                        : "downsample the larger one (pooling or strides) or pad the smaller one (zero_padding2d) so the sizes match");
                return null;
            }
        int channels = inputs.Sum(s => s.Channels);
        return inputs[0].IsFlat ? Shape.Flat(channels) : Shape.Spatial(inputs[0].Height, inputs[0].Width, channels);
    }

    private string Source(int i) => Sources[i] is { } s ? $"'{s.Name}'" : "the model's input";

    public override unsafe void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        fixed (float* joined = y) Copy(ctx, ctx.InputBuffers, joined, into: true);
    }

    public override bool BackwardReadsInputs => false;
    public override bool BackwardReadsOutput => false;

    public override unsafe void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        fixed (float* joined = dy) Copy(ctx, ctx.InputGradientBuffers, joined, into: false);
    }

    private unsafe struct Slices
    {
        public float** Parts;   // null: an input whose gradient nobody needs
        public float* Joined;
        public int* Channels;
        public int Count, Total, Cells;
        public bool Into;     // the parts -> their channels of joined (forward), or back (backward)
    }

    /// <summary>
    /// Every input's channels into or out of the joined tensor in one pass, position by position, the examples split between
    /// threads: input by input, each pass had written part of every cache line of the joined tensor.
    /// </summary>
    private unsafe void Copy(LayerContext ctx, float[][] buffers, float* joined, bool into)
    {
        int k = Inputs.Count;
        float** parts = stackalloc float*[k];
        int* channels = stackalloc int[k];
        for (int i = 0; i < k; i++) channels[i] = Inputs[i].Channels;
        using var pinned = new PinnedBuffers(buffers, stackalloc GCHandle[k], parts);
        var s = new Slices { Parts = parts, Joined = joined, Channels = channels, Count = k, Total = Output.Channels, Cells = Output.Height * Output.Width, Into = into };
        ctx.Kernels.ParallelFor(ctx.Batch, &CopyRange, &s, 2L * s.Cells * s.Total);
    }

    private static unsafe void CopyRange(void* state, int part, int n0, int n1)
    {
        var s = *(Slices*)state;
        int lanes = System.Numerics.Vector<float>.Count;
        for (long p = (long)n0 * s.Cells, end = (long)n1 * s.Cells; p < end; p++)
        {
            float* b = s.Joined + p * s.Total;
            for (int k = 0; k < s.Count; b += s.Channels[k], k++)
            {
                int c = s.Channels[k];
                if (s.Parts[k] == null) continue;
                float* a = s.Parts[k] + p * c;
                float* from = s.Into ? a : b, to = s.Into ? b : a;
                int v = 0;
                for (; v <= c - lanes; v += lanes) System.Numerics.Vector.Store(System.Numerics.Vector.Load(from + v), to + v);
                for (; v < c; v++) to[v] = from[v];
            }
        }
    }

    /// <summary>Channels are axis 1 in NCHW and in [batch, features] alike.</summary>
    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) => g.Node("Concat", inputs, OnnxAttribute.Of("axis", 1L));
}
