namespace SpecNet.Kernels;

/// <summary>
/// The readable GEMM: three loops, accumulating in double. The oracle every other backend is tested
/// against, and the fallback for machines without SIMD. Slow by design. Not sealed: the tests move its sums by their rounding.
/// </summary>
public class ReferenceBackend : Backend
{
    public override string Name => "reference";
    public override string InstructionSet => "scalar";
    public override int Threads => 1;
    public override bool Reference => true;

    public override void Gemm(Op opA, Op opB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    float av = opA == Op.N ? a[i * lda + p] : a[p * lda + i];
                    float bv = opB == Op.N ? b[p * ldb + j] : b[j * ldb + p];
                    sum += (double)av * bv;
                }
                ref float cij = ref c[i * ldc + j];
                cij = (float)(beta == 0 ? sum : sum + beta * cij);
            }
    }
}
