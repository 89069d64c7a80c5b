using MathNet.Numerics.Providers.LinearAlgebra;

namespace SpecNet.Kernels;

/// <summary>
/// Every GEMM through MathNet.Numerics' linear-algebra provider: its managed code, or a native provider
/// where the machine has MathNet's native wrappers (LinearAlgebraControl.UseBest). Portable and slow;
/// the second reference the fast backends are tested against.
/// MathNet is column-major: a row-major matrix is its column-major transpose, so row-major
/// C = op(A)·op(B) is computed as column-major Cᵀ = op(B)ᵀ·op(A)ᵀ with the operands swapped.
/// </summary>
public sealed class MathNetBackend : Backend
{
    private readonly ILinearAlgebraProvider _provider;
    private readonly Dictionary<int, float[]>[] _buffers = [new(), new(), new()];

    private readonly int _threads;

    public override bool Reference => true;   // "a second reference"

    /// <param name="threads">Threads for the work around the GEMMs (the GEMMs run one at a time).</param>
    public MathNetBackend(int threads = 0)
    {
        _threads = threads > 0 ? threads : Environment.ProcessorCount;
        LinearAlgebraControl.UseBest();
        _provider = LinearAlgebraControl.Provider;
    }

    public override string Name => "mathnet";
    public override string InstructionSet => $"MathNet.Numerics {_provider}";
    public override int Threads => _threads;

    public override void Gemm(Op opA, Op opB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        // Dense copies: MathNet takes whole arrays without leading dimensions.
        var ad = Dense(0, a, opA == Op.N ? m : k, opA == Op.N ? k : m, lda);
        var bd = Dense(1, b, opB == Op.N ? k : n, opB == Op.N ? n : k, ldb);
        var cd = Dense(2, c, m, n, ldc);
        _provider.MatrixMultiplyWithUpdate(
            opB == Op.N ? Transpose.DontTranspose : Transpose.Transpose, opA == Op.N ? Transpose.DontTranspose : Transpose.Transpose,
            1f, bd, opB == Op.N ? n : k, opB == Op.N ? k : n, ad, opA == Op.N ? k : m, opA == Op.N ? m : k, beta, cd);
        for (int i = 0; i < m; i++) cd.AsSpan(i * n, n).CopyTo(c.Slice(i * ldc, n));
    }

    private float[] Dense(int slot, ReadOnlySpan<float> source, int rows, int cols, int ld)
    {
        if (!_buffers[slot].TryGetValue(rows * cols, out var buffer)) _buffers[slot][rows * cols] = buffer = new float[rows * cols];
        for (int i = 0; i < rows; i++) source.Slice(i * ld, cols).CopyTo(buffer.AsSpan(i * cols, cols));
        return buffer;
    }
}
