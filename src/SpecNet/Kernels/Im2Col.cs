using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using SpecNet.Schema;

namespace SpecNet.Kernels;

/// <summary>
/// Lays convolution windows out as rows so that a convolution is one GEMM (NHWC), for the channels
/// [c0, c0 + cg) of the input (all of them, or one group of a grouped convolution):
/// cols[(n*OH + oh)*OW + ow, (kh*KW + kw)*cg + c] = x[n, oh*sh - pad + kh*dh, ow*sw - pad + kw*dw, c0 + c], 0 outside.
/// Accumulate is its adjoint (col2im): it adds each column entry back to the input cell it came from.
/// Both work on a range of examples [n0, n1); the columns start at example n0.
/// </summary>
public static unsafe class Im2Col
{
    /// <summary>Whether a convolution's columns are its input as it lies (a 1x1 window, stride 1, no padding, one group): nothing to copy.</summary>
    public static bool IsIdentity(ConvGeometry g) =>
        g.Groups == 1 && g.Rows is { Kernel: 1, Stride: 1, PadBefore: 0 } && g.Cols is { Kernel: 1, Stride: 1, PadBefore: 0 }
        && g.Rows.Output == g.Input.Height && g.Cols.Output == g.Input.Width;

    /// <summary>
    /// Columns of examples [n0, n1), channels [c0, c0 + cg), into dst (from its start); of their output rows [oh0, oh1) only
    /// when given (part of one image, split between threads; oh1 = -1: all rows).
    /// </summary>
    public static void Columns(ReadOnlySpan<float> x, int n0, int n1, Shape input, Window rows, Window cols, Span<float> dst, int c0 = 0, int cg = 0,
        int oh0 = 0, int oh1 = -1)
    {
        if (cg == 0) cg = input.Channels;
        if (oh1 < 0) oh1 = rows.Output;
        if (oh0 < 0 || oh0 > oh1 || oh1 > rows.Output) throw new ArgumentException($"im2col: output rows {oh0}..{oh1} of {rows.Output}");
        Check(x.Length, n1, input, dst.Length, n1 - n0, rows, cols, c0, cg, oh1 - oh0);
        fixed (float* px = x, pd = dst)
            ForwardRange(px, pd, n0, n1, oh0, oh1, input, rows, cols, c0, cg);
    }

    /// <summary>Adds columns of examples [n0, n1) back into dx's channels [c0, c0 + cg) (col2im; dx is not cleared).</summary>
    public static void Accumulate(ReadOnlySpan<float> dcols, int n0, int n1, Shape input, Window rows, Window cols, Span<float> dx, int c0 = 0, int cg = 0)
    {
        if (cg == 0) cg = input.Channels;
        Check(dx.Length, n1, input, dcols.Length, n1 - n0, rows, cols, c0, cg);
        fixed (float* pc = dcols, px = dx)
            BackwardRange(pc, px, n0, n1, input, rows, cols, c0, cg);
    }

    /// <summary>The pointer loops below trust these sizes: a wrong one throws here instead of writing past a buffer.</summary>
    private static void Check(int tensorLength, int n1, Shape input, int colsLength, int examples, Window rows, Window cols, int c0, int cg, int outputRows = -1)
    {
        long needTensor = (long)n1 * input.Size;
        long needCols = (long)examples * (outputRows < 0 ? rows.Output : outputRows) * cols.Output * rows.Kernel * cols.Kernel * cg;
        if (tensorLength < needTensor || colsLength < needCols || c0 < 0 || c0 + cg > input.Channels)
            throw new ArgumentException($"im2col: buffers of {tensorLength} and {colsLength} floats for {needTensor} and {needCols} (channels {c0}+{cg} of {input.Channels})");
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardRange(float* x, float* dst, int n0, int n1, int oh0, int oh1, Shape input, Window rows, Window cols, int c0, int cg)
    {
        int c = input.Channels, h = input.Height, w = input.Width;
        int k = rows.Kernel * cols.Kernel * cg, span = cols.Kernel * cg;
        // With unit column dilation and all channels, a kernel row's taps are adjacent input cells: one copy of kw*c floats.
        bool contiguous = cols.Dilation == 1 && cg == c;
        // Output columns whose window lies inside the input's width: [owIn, owOut).
        int owIn = Math.Min(cols.Output, (cols.PadBefore + cols.Stride - 1) / cols.Stride);
        int lastStart = w + cols.PadBefore - (cols.Kernel - 1) * cols.Dilation - 1;   // a window starting past this sticks out
        int owOut = lastStart < 0 ? owIn : Math.Max(owIn, Math.Min(cols.Output, lastStart / cols.Stride + 1));
        for (int n = n0; n < n1; n++)
            for (int oh = oh0; oh < oh1; oh++)
            {
                float* rowDst = dst + (long)((n - n0) * (oh1 - oh0) + oh - oh0) * cols.Output * k;
                // One kernel row at a time across the output row: the inner loops are plain strided copies.
                for (int kh = 0; kh < rows.Kernel; kh++)
                {
                    float* d = rowDst + kh * span;
                    int ih = oh * rows.Stride - rows.PadBefore + kh * rows.Dilation;
                    if ((uint)ih >= (uint)h)
                    {
                        for (int ow = 0; ow < cols.Output; ow++) new Span<float>(d + (long)ow * k, span).Clear();
                        continue;
                    }
                    float* rowStart = x + ((long)(n * h + ih) * w) * c + c0;
                    for (int ow = 0; ow < cols.Output; ow++)
                    {
                        int iw0 = ow * cols.Stride - cols.PadBefore;
                        float* seg = d + (long)ow * k;
                        if (contiguous && ow >= owIn && ow < owOut) { Copy(seg, rowStart + (long)iw0 * c, span); continue; }
                        for (int kw = 0; kw < cols.Kernel; kw++, seg += cg)
                        {
                            int iw = iw0 + kw * cols.Dilation;
                            if ((uint)iw < (uint)w) Copy(seg, rowStart + (long)iw * c, cg);
                            else new Span<float>(seg, cg).Clear();
                        }
                    }
                }
            }
    }

    /// <summary>
    /// A kernel row's floats (48 for a 3x3 over 16 channels, 3 over one), copied inline: a block copy of a variable size is a
    /// call to memmove, which for these short rows cost as much as the copying (an im2col of 28x28x16 went 46 -> 15 µs).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy(float* dst, float* src, int count)
    {
        int i = 0;
        for (; i <= count - 8; i += 8) Vector256.Store(Vector256.Load(src + i), dst + i);
        for (; i < count; i++) dst[i] = src[i];
    }

    /// <summary>dst += src over a kernel row's floats, inline, as <see cref="Copy"/>: the span-taking add cost a call and its slicing per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddTo(float* dst, float* src, int count)
    {
        int i = 0;
        for (; i <= count - 8; i += 8) Vector256.Store(Vector256.Load(dst + i) + Vector256.Load(src + i), dst + i);
        for (; i < count; i++) dst[i] += src[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardRange(float* dcols, float* dx, int n0, int n1, Shape input, Window rows, Window cols, int c0, int cg)
    {
        int c = input.Channels, h = input.Height, w = input.Width;
        int k = rows.Kernel * cols.Kernel * cg;
        bool contiguous = cols.Dilation == 1 && cg == c;
        for (int n = n0; n < n1; n++)
            for (int oh = 0; oh < rows.Output; oh++)
                for (int ow = 0; ow < cols.Output; ow++)
                {
                    float* seg = dcols + ((long)((n - n0) * rows.Output + oh) * cols.Output + ow) * k;
                    int iw0 = ow * cols.Stride - cols.PadBefore;
                    for (int kh = 0; kh < rows.Kernel; kh++)
                    {
                        int ih = oh * rows.Stride - rows.PadBefore + kh * rows.Dilation;
                        if ((uint)ih >= (uint)h) { seg += cols.Kernel * cg; continue; }
                        float* rowStart = dx + ((long)(n * h + ih) * w) * c + c0;
                        if (contiguous && iw0 >= 0 && iw0 + cols.Kernel <= w)
                        {
                            AddTo(rowStart + (long)iw0 * c, seg, cols.Kernel * c);
                            seg += cols.Kernel * c;
                            continue;
                        }
                        for (int kw = 0; kw < cols.Kernel; kw++, seg += cg)
                        {
                            int iw = iw0 + kw * cols.Dilation;
                            if ((uint)iw < (uint)w) AddTo(rowStart + (long)iw * c, seg, cg);
                        }
                    }
                }
    }
}
