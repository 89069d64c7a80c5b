using System.Runtime.CompilerServices;
using SpecNet.Schema;

namespace SpecNet.Kernels;

/// <summary>
/// Lays convolution windows out as rows so that a convolution is one GEMM (NHWC):
/// cols[(n*OH + oh)*OW + ow, (kh*KW + kw)*C + c] = x[n, oh*sh - pad + kh*dh, ow*sw - pad + kw*dw, c], 0 outside.
/// Col2Im is its adjoint: it adds each column entry back to the input cell it came from.
/// Both work on a range of examples; a convolution runs them per chunk of its batch, one thread a chunk.
/// </summary>
public static unsafe class Im2Col
{
    /// <summary>Columns of examples [n0, n1) into dst (from its start), on the calling thread.</summary>
    public static void Columns(ReadOnlySpan<float> x, int n0, int n1, Shape input, Window rows, Window cols, Span<float> dst)
    {
        fixed (float* px = x, pd = dst)
        {
            long skip = (long)n0 * rows.Output * cols.Output * rows.Kernel * cols.Kernel * input.Channels;
            ForwardRange(px, pd - skip, n0, n1, input, rows, cols);
        }
    }

    /// <summary>Clears dx of examples [n0, n1) and adds their columns back into it (col2im), on the calling thread.</summary>
    public static void Accumulate(ReadOnlySpan<float> dcols, int n0, int n1, Shape input, Window rows, Window cols, Span<float> dx)
    {
        fixed (float* pc = dcols, px = dx)
        {
            long skip = (long)n0 * rows.Output * cols.Output * rows.Kernel * cols.Kernel * input.Channels;
            BackwardRange(pc - skip, px, n0, n1, input, rows, cols);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardRange(float* x, float* dst, int n0, int n1, Shape input, Window rows, Window cols)
    {
        int c = input.Channels, h = input.Height, w = input.Width;
        int k = rows.Kernel * cols.Kernel * c;
        // With unit column dilation, the kernel's taps along a row are adjacent input cells: one copy of kw*c floats.
        bool contiguous = cols.Dilation == 1;
        for (int n = n0; n < n1; n++)
            for (int oh = 0; oh < rows.Output; oh++)
                for (int ow = 0; ow < cols.Output; ow++)
                {
                    float* seg = dst + ((long)(n * rows.Output + oh) * cols.Output + ow) * k;
                    int iw0 = ow * cols.Stride - cols.PadBefore;
                    for (int kh = 0; kh < rows.Kernel; kh++)
                    {
                        int ih = oh * rows.Stride - rows.PadBefore + kh * rows.Dilation;
                        float* rowStart = x + ((long)(n * h + ih) * w) * c;
                        if ((uint)ih >= (uint)h) { new Span<float>(seg, cols.Kernel * c).Clear(); seg += cols.Kernel * c; continue; }
                        if (contiguous && iw0 >= 0 && iw0 + cols.Kernel <= w)
                        {
                            Unsafe.CopyBlockUnaligned(seg, rowStart + (long)iw0 * c, (uint)(cols.Kernel * c * sizeof(float)));
                            seg += cols.Kernel * c;
                            continue;
                        }
                        for (int kw = 0; kw < cols.Kernel; kw++, seg += c)
                        {
                            int iw = iw0 + kw * cols.Dilation;
                            if ((uint)iw < (uint)w) Unsafe.CopyBlockUnaligned(seg, rowStart + (long)iw * c, (uint)(c * sizeof(float)));
                            else new Span<float>(seg, c).Clear();
                        }
                    }
                }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardRange(float* dcols, float* dx, int n0, int n1, Shape input, Window rows, Window cols)
    {
        int c = input.Channels, h = input.Height, w = input.Width;
        int k = rows.Kernel * cols.Kernel * c;
        new Span<float>(dx + (long)n0 * input.Size, (n1 - n0) * input.Size).Clear();
        bool contiguous = cols.Dilation == 1;
        for (int n = n0; n < n1; n++)
            for (int oh = 0; oh < rows.Output; oh++)
                for (int ow = 0; ow < cols.Output; ow++)
                {
                    float* seg = dcols + ((long)(n * rows.Output + oh) * cols.Output + ow) * k;
                    int iw0 = ow * cols.Stride - cols.PadBefore;
                    for (int kh = 0; kh < rows.Kernel; kh++)
                    {
                        int ih = oh * rows.Stride - rows.PadBefore + kh * rows.Dilation;
                        float* rowStart = dx + ((long)(n * h + ih) * w) * c;
                        if ((uint)ih >= (uint)h) { seg += cols.Kernel * c; continue; }
                        if (contiguous && iw0 >= 0 && iw0 + cols.Kernel <= w)
                        {
                            Elementwise.Add(new Span<float>(rowStart + (long)iw0 * c, cols.Kernel * c), new ReadOnlySpan<float>(seg, cols.Kernel * c));
                            seg += cols.Kernel * c;
                            continue;
                        }
                        for (int kw = 0; kw < cols.Kernel; kw++, seg += c)
                        {
                            int iw = iw0 + kw * cols.Dilation;
                            if ((uint)iw < (uint)w) Elementwise.Add(new Span<float>(rowStart + (long)iw * c, c), new ReadOnlySpan<float>(seg, c));
                        }
                    }
                }
    }
}
