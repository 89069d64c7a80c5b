using System.Numerics;
using System.Runtime.InteropServices;
using SpecNet.Kernels;
using SpecNet.Diagnostics;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>The elementwise merges (Keras Add, Subtract, Multiply, Average, Maximum, Minimum).</summary>
public enum MergeOp { Add, Subtract, Multiply, Average, Maximum, Minimum }

/// <summary>
/// An elementwise merge of k inputs of one shape (Keras's merge layers), y = op(x_1, ..., x_k):
/// add Σ x_i (dx_i = dy); subtract x_1 - x_2, two inputs (dx_1 = dy, dx_2 = -dy); multiply Π x_i
/// (dx_i = dy Π_{j≠i} x_j); average Σ x_i / k (dx_i = dy / k); maximum / minimum (dy flows to the first
/// input holding the extreme). A multiply of a map and a vector g of its channels: y[n,p,c] = x[n,p,c] g[n,c]
/// (dx = dy g, dg[n,c] = Σ_p dy x). No parameters. Inputs come from `inputs: [a, b, ...]` or from a block.
/// </summary>
public sealed class Merge : Layer
{
    private static LayerKind Define(string name, MergeOp op, string summary, int max = int.MaxValue) =>
        new(name, summary, [], _ => new Merge { Op = op }) { MinInputs = 2, MaxInputs = max };

    public static readonly IReadOnlyList<LayerKind> Definitions =
    [
        Define("add", MergeOp.Add, "sum of its inputs (of one shape)"),
        Define("subtract", MergeOp.Subtract, "first input minus the second", max: 2),
        Define("multiply", MergeOp.Multiply, "elementwise product of its inputs; of a map and a vector of its channels, the map's channels scaled"),
        Define("average", MergeOp.Average, "elementwise mean of its inputs"),
        Define("maximum", MergeOp.Maximum, "elementwise maximum of its inputs"),
        Define("minimum", MergeOp.Minimum, "elementwise minimum of its inputs"),
    ];

    public MergeOp Op { get; private init; }

    /// <summary>
    /// A multiply of a map (H x W x C) and a vector of its C channels, in either order: the vector's input (0 or 1), whose
    /// values scale every position's channels (a squeeze-and-excitation gate; Keras broadcasts a (1, 1, C) tensor the same
    /// way); -1 otherwise.
    /// </summary>
    public int Gate => Op == MergeOp.Multiply && Inputs is [var a, var b] && a.IsFlat != b.IsFlat ? (a.IsFlat ? 0 : 1) : -1;

    protected override Shape? InferShape(IReadOnlyList<Shape> inputs, ShapeCheck check)
    {
        if (Gate is >= 0 and var gate)   // Inputs are these inputs
        {
            if (inputs[gate].Size == inputs[1 - gate].Channels) return inputs[1 - gate];
            check.Error(DiagnosticIds.MergeShapes, "inputs",
                $"a vector scales a map's channels, one value each, but {Source(gate)} gives {inputs[gate].Size} values for the {inputs[1 - gate].Channels} channels of {Source(1 - gate)} ({inputs[1 - gate]})",
                $"give the vector {inputs[1 - gate].Channels} values (a dense layer of {inputs[1 - gate].Channels} units, as a squeeze-and-excitation block ends)");
            return null;
        }
        for (int i = 1; i < inputs.Count; i++)
            if (inputs[i] != inputs[0])
            {
                check.Error(DiagnosticIds.MergeShapes, "inputs",
                    $"its inputs must have one shape, but {Source(0)} gives {inputs[0]} and {Source(i)} gives {inputs[i]}",
                    inputs[i].IsFlat != inputs[0].IsFlat ? "flatten (or globally pool) both, or neither (a multiply of two takes a map and a vector of its channels)"
                        : "make them agree: a 1x1 conv2d (with strides) can change channels and size; concatenate joins different channel counts");
                return null;
            }
        return inputs[0];
    }

    /// <summary>"'conv2d_1'" or "the model's input", for messages.</summary>
    internal string Source(int i) => Sources[i] is { } s ? $"'{s.Name}'" : "the model's input";

    public override void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y) => Forward(ctx, x, y, relu: false);

    /// <summary>Forward, then max(·, 0) when <paramref name="relu"/>: an add and the relu after it run as one (Planning/Fusion.cs), in the add's pass.</summary>
    public void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y, bool relu)
    {
        int k = ctx.InputCount;
        if (relu && (Op != MergeOp.Add || k != 2)) throw new InvalidOperationException($"only an add of two runs with the relu after it, not a {Kind.Name} of {k}");
        if (relu) { Elementwise.Map(ctx.Kernels, Elementwise.MapOp.AddRelu, x[..y.Length], ctx.InputOf(1), y); return; }
        if (Gate >= 0) { Scale(ctx, y); return; }
        var op = Op switch
        {
            MergeOp.Add or MergeOp.Average => Elementwise.MapOp.Add, MergeOp.Subtract => Elementwise.MapOp.Subtract,
            MergeOp.Multiply => Elementwise.MapOp.Multiply, MergeOp.Maximum => Elementwise.MapOp.Max, _ => Elementwise.MapOp.Min,
        };
        // the first two inputs in one pass (a residual block's add), then each further one into y
        Elementwise.Map(ctx.Kernels, op, x[..y.Length], ctx.InputOf(1), y);
        for (int i = 2; i < k; i++) Elementwise.Map(ctx.Kernels, op, y, ctx.InputOf(i), y);
        if (Op == MergeOp.Average) Elementwise.Scale(ctx.Kernels, y, 1f / k, y);
    }

    // add, subtract and average pass dy on; multiply needs the other inputs, maximum and minimum which input won
    public override bool BackwardReadsInputs => Op is MergeOp.Multiply or MergeOp.Maximum or MergeOp.Minimum;
    public override bool BackwardReadsOutput => Op is MergeOp.Maximum or MergeOp.Minimum;

    public override void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx) =>
        Backward(ctx, y, dy, relu: false);

    /// <summary>
    /// Backward, given with <paramref name="relu"/> the output of the relu after it (run as one) in <paramref name="y"/> and the
    /// gradient of that output: the first input's gradient is dy where y > 0, and each other input's a copy of it.
    /// </summary>
    public void Backward(LayerContext ctx, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, bool relu)
    {
        int k = ctx.InputCount;
        if (relu && Op != MergeOp.Add) throw new InvalidOperationException($"only an add runs with the relu after it, not a {Kind.Name}");
        if (Gate >= 0) { ScaleBackward(ctx, dy); return; }
        if (Op is MergeOp.Maximum or MergeOp.Minimum) { FirstHolders(ctx, y, dy); return; }
        ReadOnlySpan<float> masked = default;   // relu: the first gradient written, dy where y > 0
        for (int i = 0; i < k; i++)
        {
            var di = ctx.GradientOf(i);
            if (di.IsEmpty) continue;
            if (relu && masked.IsEmpty) { Elementwise.Map(ctx.Kernels, Elementwise.MapOp.ReluBackward, y, dy, di); masked = di; continue; }
            if (relu) { Elementwise.Map(ctx.Kernels, Elementwise.MapOp.Copy, masked, default, di); continue; }
            switch (Op)
            {
                case MergeOp.Add: Elementwise.Map(ctx.Kernels, Elementwise.MapOp.Copy, dy, default, di); break;
                case MergeOp.Average: Elementwise.Scale(ctx.Kernels, dy, 1f / k, di); break;
                case MergeOp.Subtract:
                    if (i == 0) Elementwise.Map(ctx.Kernels, Elementwise.MapOp.Copy, dy, default, di); else Elementwise.Scale(ctx.Kernels, dy, -1, di);
                    break;
                case MergeOp.Multiply:
                    // dy times every other input, in input order (the products of the loop that copied dy first), on the threads
                    bool first = true;
                    for (int j = 0; j < k; j++)
                        if (j != i) { Elementwise.Map(ctx.Kernels, Elementwise.MapOp.Multiply, first ? dy : di, ctx.InputOf(j), di); first = false; }
                    break;
            }
        }
    }

    private unsafe struct Holders
    {
        public float** Inputs, Gradients;   // a gradient null: that input takes none
        public float* Y, Dy;
        public long Length;
        public int Count;
    }

    /// <summary>
    /// Maximum's and minimum's backward: each input's gradient is dy where it holds y and no input before it does (the first
    /// holder takes a tie), else 0; a NaN that none holds passes nothing back. Every input's gradient in one pass over y and dy,
    /// in pieces on the threads: input by input, over the whole tensor on one thread, had read y and the inputs before it again
    /// for each input (1.13 ms of a 10.5 ms step in bench/every-layer.yaml).
    /// </summary>
    private static unsafe void FirstHolders(LayerContext ctx, ReadOnlySpan<float> y, ReadOnlySpan<float> dy)
    {
        int k = ctx.InputCount;
        float** inputs = stackalloc float*[k], gradients = stackalloc float*[k];
        using var pinnedInputs = new PinnedBuffers(ctx.InputBuffers, stackalloc GCHandle[k], inputs);
        using var pinnedGradients = new PinnedBuffers(ctx.InputGradientBuffers, stackalloc GCHandle[k], gradients);
        fixed (float* py = y, pdy = dy)
        {
            var h = new Holders { Inputs = inputs, Gradients = gradients, Y = py, Dy = pdy, Length = dy.Length, Count = k };
            ctx.Kernels.ParallelForEach((int)((h.Length + Piece - 1) / Piece), &HoldersRange, &h, (k + 2) * Piece, grain: 1);
        }
    }

    /// <summary>Floats a thread takes at a time, as <see cref="Elementwise.Map"/> takes them.</summary>
    private const int Piece = (int)Backend.MinParallelWork;

    private static unsafe void HoldersRange(void* state, int part, int p0, int p1)
    {
        var h = (Holders*)state;
        int k = h->Count, lanes = Vector<float>.Count;
        long end = Math.Min(h->Length, (long)p1 * Piece);
        long e = (long)p0 * Piece;
        for (; e <= end - lanes; e += lanes)
        {
            var v = Vector.Load(h->Y + e);
            var d = Vector.Load(h->Dy + e);
            var taken = Vector<int>.Zero;
            for (int i = 0; i < k; i++)
            {
                var holds = Vector.AndNot(Vector.Equals(Vector.Load(h->Inputs[i] + e), v), taken);
                if (h->Gradients[i] != null) Vector.Store(Vector.ConditionalSelect(holds, d, Vector<float>.Zero), h->Gradients[i] + e);
                taken |= holds;
            }
        }
        for (; e < end; e++)
        {
            bool taken = false;
            for (int i = 0; i < k; i++)
            {
                bool holds = !taken && h->Inputs[i][e] == h->Y[e];
                if (h->Gradients[i] != null) h->Gradients[i][e] = holds ? h->Dy[e] : 0;
                taken |= holds;
            }
        }
    }

    private unsafe struct Gating
    {
        public float* Map, Gate, Y, Dy, DMap, DGate;   // DMap or DGate null: that input takes no gradient
        public int Channels, Positions;
    }

    /// <summary>y[n, p, c] = map[n, p, c] · gate[n, c], the examples split between threads.</summary>
    private unsafe void Scale(LayerContext ctx, Span<float> y)
    {
        fixed (float* map = ctx.InputOf(1 - Gate), gate = ctx.InputOf(Gate), py = y)
        {
            var g = new Gating { Map = map, Gate = gate, Y = py, Channels = Output.Channels, Positions = Output.Height * Output.Width };
            ctx.Kernels.ParallelFor(ctx.Batch, &ScaleRange, &g, Output.Size);
        }
    }

    /// <summary>d map = dy · gate; d gate[n, c] = Σ_p dy[n, p, c] · map[n, p, c], over the positions in order, in a register.</summary>
    private unsafe void ScaleBackward(LayerContext ctx, ReadOnlySpan<float> dy)
    {
        fixed (float* map = ctx.InputOf(1 - Gate), gate = ctx.InputOf(Gate), pdy = dy, dMap = ctx.GradientOf(1 - Gate), dGate = ctx.GradientOf(Gate))
        {
            var g = new Gating { Map = map, Gate = gate, Dy = pdy, DMap = dMap, DGate = dGate, Channels = Output.Channels, Positions = Output.Height * Output.Width };
            ctx.Kernels.ParallelFor(ctx.Batch, &ScaleBackwardRange, &g, 2L * Output.Size);
        }
    }

    private static unsafe void ScaleRange(void* state, int part, int n0, int n1)
    {
        var g = *(Gating*)state;
        int c = g.Channels, lanes = Vector<float>.Count;
        for (long n = n0; n < n1; n++)
        {
            float* gate = g.Gate + n * c;
            for (long at = n * g.Positions * c, end = at + (long)g.Positions * c; at < end; at += c)
            {
                int v = 0;
                for (; v <= c - lanes; v += lanes) Vector.Store(Vector.Load(g.Map + at + v) * Vector.Load(gate + v), g.Y + at + v);
                for (; v < c; v++) g.Y[at + v] = g.Map[at + v] * gate[v];
            }
        }
    }

    private static unsafe void ScaleBackwardRange(void* state, int part, int n0, int n1)
    {
        var g = *(Gating*)state;
        int c = g.Channels, lanes = Vector<float>.Count;
        for (long n = n0; n < n1; n++)
        {
            long first = n * g.Positions * c, end = first + (long)g.Positions * c;
            float* gate = g.Gate + n * c;
            int v = 0;
            for (; v <= c - lanes; v += lanes)
            {
                var scale = Vector.Load(gate + v);
                var sum = Vector<float>.Zero;
                for (long at = first + v; at < end; at += c)
                {
                    var d = Vector.Load(g.Dy + at);
                    if (g.DMap != null) Vector.Store(d * scale, g.DMap + at);
                    sum += d * Vector.Load(g.Map + at);
                }
                if (g.DGate != null) Vector.Store(sum, g.DGate + n * c + v);
            }
            for (; v < c; v++)
            {
                float sum = 0;
                for (long at = first + v; at < end; at += c)
                {
                    if (g.DMap != null) g.DMap[at] = g.Dy[at] * gate[v];
                    sum += g.Dy[at] * g.Map[at];
                }
                if (g.DGate != null) g.DGate[n * c + v] = sum;
            }
        }
    }

    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs) => Gate >= 0
        // the vector [N, C] as [N, C, 1, 1], which ONNX's Mul broadcasts over height and width
        ? g.Node("Mul", [inputs[1 - Gate], g.Node("Unsqueeze", [inputs[Gate], g.Int64Constant("axes_height_width", [2, 3])])])
        : Op switch
    {
        MergeOp.Add => g.Node(inputs.Count == 2 ? "Add" : "Sum", inputs),
        MergeOp.Subtract => g.Node("Sub", inputs),
        MergeOp.Multiply => inputs.Skip(1).Aggregate(inputs[0], (product, next) => g.Node("Mul", [product, next])),
        MergeOp.Average => g.Node("Mean", inputs),
        MergeOp.Maximum => g.Node("Max", inputs),
        _ => g.Node("Min", inputs),
    };
}
