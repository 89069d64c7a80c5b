using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using SpecNet.Kernels;
using SpecNet.Schema;

namespace SpecNet.Layers;

/// <summary>
/// Layer normalisation over the channel axis (Keras LayerNormalization, axis -1; PyTorch's nn.LayerNorm(C) on a channels-last
/// tensor, as ConvNeXt's LayerNorm2d): each position's C values (a flat input: each example's features) are normalised by their
/// own mean and variance, alike in training and inference, with no moving statistics.
/// Forward per row of C: mu, var (biased) of the row; xhat = (x - mu) / sqrt(var + eps); y = gamma * xhat + beta.
/// Backward per row: dxhat = dy * gamma; dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps);
/// over the batch's rows: dgamma = Σ dy * xhat, dbeta = Σ dy. Params 2 per channel, both trainable.
/// </summary>
public sealed class LayerNorm : Layer
{
    public static readonly LayerKind Definition = new("layer_norm", "normalises each position's channels (each example's features) by their own mean and variance", [
        OptionInfo.Number("epsilon", "added to the variance before the square root", 0.001, 0, 1, minInclusive: false),
    ], r => new LayerNorm { Epsilon = r.Number("epsilon") });

    public float Epsilon { get; private init; }

    public override IReadOnlyList<ParameterSpec> Parameters =>
    [
        new("gamma", [Input.Channels], true, Init.Ones),
        new("beta", [Input.Channels], true, Init.Zeros),
    ];

    /// <summary>Rows whose dgamma, dbeta terms are summed in float before a chunk's running sums (double) take them.</summary>
    private const int BlockRows = 64;

    /// <summary>The most chunks backward splits the rows into, each with its own partial sums (set by the rows alone, so the sums do not depend on the threads).</summary>
    private const int MaxChunks = 32;

    private sealed class State(int rows, int channels)
    {
        // Each row's mean and 1/std, kept from forward: backward recomputes xhat = (x - mean)·invStd by the same float operations.
        public readonly float[] Mean = new float[rows], InvStd = new float[rows];
        public readonly double[] Partials = new double[MaxChunks * 2 * channels];     // per chunk: Σ dy·xhat, then Σ dy
    }

    public override long StateValues(bool training) => 2L * Input.Size / Input.Channels;   // each row's mean and 1/σ

    public override object? CreateState(int capacity, bool training, Backend kernels) =>
        new State(capacity * (Input.Size / Input.Channels), Input.Channels);

    public override bool BackwardReadsOutput => false;   // xhat is recomputed from the input
    public override bool BackwardInPlace => true;        // a row's dy is read whole before its dx is written, each dx where its dy lay

    /// <summary>
    /// ONNX's LayerNormalization normalises the trailing axes: a flat input's features as they are, an image tensor's channels
    /// channels-last (NCHW to NHWC and back, as PyTorch exports ConvNeXt's LayerNorm2d).
    /// </summary>
    public override string ToOnnx(IOnnxGraph g, IReadOnlyList<string> inputs)
    {
        string Normalise(string x) => g.Node("LayerNormalization", [x, g.Weight(this, 0), g.Weight(this, 1)],
            OnnxAttribute.Of("axis", -1L), OnnxAttribute.Of("epsilon", Epsilon));
        if (Input.IsFlat) return Normalise(inputs[0]);
        var channelsLast = g.Node("Transpose", [inputs[0]], OnnxAttribute.Of("perm", 0, 2, 3, 1));
        return g.Node("Transpose", [Normalise(channelsLast)], OnnxAttribute.Of("perm", 0, 3, 1, 2));
    }

    private unsafe struct Args
    {
        public float* X, Y, DY, DX, Gamma, Beta, Mean, InvStd;
        public double* Partials;
        public int Channels, ChunkRows;
        public float Epsilon;
        public bool ParameterGradients, InputGradient;
    }

    /// <summary>Rows a chunk: whole blocks, about 64 KB of a tensor, at most <see cref="MaxChunks"/> of them. The thread count plays no part.</summary>
    private static int ChunkRows(int rows, int channels) =>
        Math.Max(BlockRows * Math.Max(1, (int)(Backend.MinParallelWork / channels / BlockRows)),
            BlockRows * ((rows + BlockRows * MaxChunks - 1) / (BlockRows * MaxChunks)));

    public override unsafe void Forward(LayerContext ctx, ReadOnlySpan<float> x, Span<float> y)
    {
        var s = (State)ctx.State!;
        int c = Input.Channels, rows = ctx.Batch * (Input.Size / c);
        fixed (float* px = x, py = y, pg = ctx.Params[0], pb = ctx.Params[1], pm = s.Mean, pi = s.InvStd)
        {
            var args = new Args { X = px, Y = py, Gamma = pg, Beta = pb, Mean = pm, InvStd = pi, Channels = c, Epsilon = Epsilon };
            ctx.Kernels.ParallelForEach(rows, &ForwardRange, &args, 3L * c, ChunkRows(rows, c));
        }
    }

    private static readonly int Lanes = Vector256<float>.Count;

    /// <summary>Rows [r0, r1): each row's mean, then its variance about that mean (two passes over a row in cache: no cancellation), then y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardRange(void* state, int part, int r0, int r1)
    {
        var a = (Args*)state;
        int c = a->Channels;
        for (long r = r0; r < r1; r++)
        {
            float* x = a->X + r * c, y = a->Y + r * c;
            float mean = Sum(x, c) / c;
            var vm = Vector256.Create(mean);
            var squares = Vector256<float>.Zero;
            int v = 0;
            for (; v <= c - Lanes; v += Lanes)
            {
                var d = Vector256.Load(x + v) - vm;
                squares = Vector256.FusedMultiplyAdd(d, d, squares);
            }
            float variance = Vector256.Sum(squares);
            for (; v < c; v++) variance = MathF.FusedMultiplyAdd(x[v] - mean, x[v] - mean, variance);
            float invStd = 1 / MathF.Sqrt(variance / c + a->Epsilon);
            (a->Mean[r], a->InvStd[r]) = (mean, invStd);
            var vi = Vector256.Create(invStd);
            for (v = 0; v <= c - Lanes; v += Lanes)
                Vector256.FusedMultiplyAdd((Vector256.Load(x + v) - vm) * vi, Vector256.Load(a->Gamma + v), Vector256.Load(a->Beta + v)).Store(y + v);
            for (; v < c; v++) y[v] = MathF.FusedMultiplyAdd((x[v] - mean) * invStd, a->Gamma[v], a->Beta[v]);
        }
    }

    private static unsafe float Sum(float* x, int c)
    {
        var sum = Vector256<float>.Zero;
        int v = 0;
        for (; v <= c - Lanes; v += Lanes) sum += Vector256.Load(x + v);
        float total = Vector256.Sum(sum);
        for (; v < c; v++) total += x[v];
        return total;
    }

    public override unsafe void Backward(LayerContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        var s = (State)ctx.State!;
        int c = Input.Channels, rows = ctx.Batch * (Input.Size / c), chunkRows = ChunkRows(rows, c);
        bool parameterGradients = ctx.Grads[0] is not null && ctx.Grads[1] is not null;
        if (!parameterGradients && !ctx.InputGradient) return;
        fixed (float* px = x, pdy = dy, pdx = dx, pg = ctx.Params[0], pm = s.Mean, pi = s.InvStd)
        fixed (double* pp = s.Partials)
        {
            var args = new Args
            {
                X = px, DY = pdy, DX = pdx, Gamma = pg, Mean = pm, InvStd = pi, Partials = pp, Channels = c, ChunkRows = chunkRows,
                ParameterGradients = parameterGradients, InputGradient = ctx.InputGradient,
            };
            ctx.Kernels.ParallelForEach(rows, &BackwardRange, &args, 4L * c, chunkRows);
        }
        if (!parameterGradients) return;
        float[] dGamma = ctx.Grads[0]!, dBeta = ctx.Grads[1]!;
        for (int ch = 0; ch < c; ch++)
        {
            double g = 0, b = 0;
            for (int chunk = 0; chunk * chunkRows < rows; chunk++)          // the chunks in order: the same sums for any thread count
                (g, b) = (g + s.Partials[chunk * 2 * c + ch], b + s.Partials[(chunk * 2 + 1) * c + ch]);
            (dGamma[ch], dBeta[ch]) = ((float)g, (float)b);
        }
    }

    /// <summary>Rows [r0, r1): whole chunks, each summing its dgamma and dbeta terms into its own partials, whichever thread takes it.</summary>
    private static unsafe void BackwardRange(void* state, int part, int r0, int r1)
    {
        var a = (Args*)state;
        for (int r = r0, size = a->ChunkRows; r < r1; r += size) BackwardChunk(a, r / size, r, Math.Min(r1, r + size));
    }

    /// <summary>
    /// Rows [r0, r1) of chunk <paramref name="chunk"/>, a block of 64 rows at a time: first the block's dgamma and dbeta terms, channel
    /// vector by channel vector down its rows (sums in registers), then each row's dx (written over dy where they share a buffer, so
    /// the sums come first). Summed row by row into memory instead, each row's adds waited on the row before's stores: the 14x14x32
    /// layer's backward took 0.26-0.31 ms against 0.07 without the parameters' gradients, 0.11 now (Zen 5, batch 64, alone;
    /// in the ConvNeXt spec's step, with its tensors from memory, 0.30 -> 0.19 ms).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void BackwardChunk(Args* a, int chunk, int r0, int r1)
    {
        int c = a->Channels;
        double* gammaSums = a->Partials + chunk * 2 * c, betaSums = gammaSums + c;
        float* x0 = a->X, dy0 = a->DY, dx0 = a->DX, gamma = a->Gamma, means = a->Mean, invStds = a->InvStd;
        bool parameters = a->ParameterGradients, input = a->InputGradient;
        new Span<double>(gammaSums, 2 * c).Clear();
        for (int block = r0; block < r1; block += BlockRows)
        {
            int end = Math.Min(r1, block + BlockRows);
            if (parameters)
            {
                // Σ dy·xhat and Σ dy over the block's rows, in float from +0, rows in order, then into the chunk's doubles
                int v = 0;
                for (; v <= c - Lanes; v += Lanes)
                {
                    Vector256<float> g = Vector256<float>.Zero, b = g;
                    for (long r = block; r < end; r++)
                    {
                        var d = Vector256.Load(dy0 + r * c + v);
                        g = Vector256.FusedMultiplyAdd(d, (Vector256.Load(x0 + r * c + v) - Vector256.Create(means[r])) * Vector256.Create(invStds[r]), g);
                        b += d;
                    }
                    for (int lane = 0; lane < Lanes; lane++)
                        (gammaSums[v + lane], betaSums[v + lane]) = (gammaSums[v + lane] + g.GetElement(lane), betaSums[v + lane] + b.GetElement(lane));
                }
                for (; v < c; v++)
                {
                    float g = 0, b = 0;
                    for (long r = block; r < end; r++)
                    {
                        float d = dy0[r * c + v];
                        g = MathF.FusedMultiplyAdd(d, (x0[r * c + v] - means[r]) * invStds[r], g);
                        b += d;
                    }
                    (gammaSums[v], betaSums[v]) = (gammaSums[v] + g, betaSums[v] + b);
                }
            }
            if (!input) continue;
            for (long r = block; r < end; r++)
            {
                float* x = x0 + r * c, dy = dy0 + r * c, dx = dx0 + r * c;
                float mean = means[r], invStd = invStds[r];
                // Σ dxhat and Σ dxhat·xhat over the row
                Vector256<float> vm = Vector256.Create(mean), vi = Vector256.Create(invStd), sum = Vector256<float>.Zero, dot = sum;
                float rowSum = 0, rowDot = 0;
                int v = 0;
                for (; v <= c - Lanes; v += Lanes)
                {
                    Vector256<float> xhat = (Vector256.Load(x + v) - vm) * vi, dxhat = Vector256.Load(dy + v) * Vector256.Load(gamma + v);
                    sum += dxhat;
                    dot = Vector256.FusedMultiplyAdd(dxhat, xhat, dot);
                }
                for (int t = v; t < c; t++)
                {
                    float xhat = (x[t] - mean) * invStd, dxhat = dy[t] * gamma[t];
                    rowSum += dxhat;
                    rowDot = MathF.FusedMultiplyAdd(dxhat, xhat, rowDot);
                }
                // dx = invStd·dxhat - invStd·mean(dxhat) - xhat·invStd·mean(dxhat·xhat)
                float shift = -invStd * (Vector256.Sum(sum) + rowSum) / c, slope = -invStd * (Vector256.Sum(dot) + rowDot) / c;
                Vector256<float> vShift = Vector256.Create(shift), vSlope = Vector256.Create(slope);
                for (v = 0; v <= c - Lanes; v += Lanes)
                {
                    var xhat = (Vector256.Load(x + v) - vm) * vi;
                    var dxhat = Vector256.Load(dy + v) * Vector256.Load(gamma + v);
                    Vector256.FusedMultiplyAdd(dxhat, vi, Vector256.FusedMultiplyAdd(xhat, vSlope, vShift)).Store(dx + v);
                }
                for (; v < c; v++)
                {
                    float xhat = (x[v] - mean) * invStd, dxhat = dy[v] * gamma[v];
                    dx[v] = MathF.FusedMultiplyAdd(dxhat, invStd, MathF.FusedMultiplyAdd(xhat, slope, shift));
                }
            }
        }
    }
}
