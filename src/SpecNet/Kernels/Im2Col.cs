using SpecNet.Schema;

namespace SpecNet.Kernels;

/// <summary>
/// Lays convolution windows out as rows so that a convolution is one GEMM (NHWC):
/// cols[(n*OH + oh)*OW + ow, (kh*KW + kw)*C + c] = x[n, oh*sh - pad + kh*dh, ow*sw - pad + kw*dw, c], 0 outside.
/// Col2Im is its adjoint: it adds each column entry back to the input cell it came from.
/// </summary>
public static class Im2Col
{
    public static void Forward(ReadOnlySpan<float> x, int batch, Shape input, Window rows, Window cols, Span<float> dst)
    {
        int c = input.Channels, h = input.Height, w = input.Width;
        int k = rows.Kernel * cols.Kernel * c;
        int o = 0;
        for (int n = 0; n < batch; n++)
            for (int oh = 0; oh < rows.Output; oh++)
                for (int ow = 0; ow < cols.Output; ow++, o += k)
                {
                    int seg = o;
                    for (int kh = 0; kh < rows.Kernel; kh++)
                    {
                        int ih = oh * rows.Stride - rows.PadBefore + kh * rows.Dilation;
                        for (int kw = 0; kw < cols.Kernel; kw++, seg += c)
                        {
                            int iw = ow * cols.Stride - cols.PadBefore + kw * cols.Dilation;
                            bool inside = (uint)ih < (uint)h && (uint)iw < (uint)w;
                            if (c == 1) dst[seg] = inside ? x[(n * h + ih) * w + iw] : 0; // one channel: a span per value costs more than the value
                            else if (inside) x.Slice(((n * h + ih) * w + iw) * c, c).CopyTo(dst.Slice(seg, c));
                            else dst.Slice(seg, c).Clear();
                        }
                    }
                }
    }

    public static void Backward(ReadOnlySpan<float> dcols, int batch, Shape input, Window rows, Window cols, Span<float> dx)
    {
        int c = input.Channels, h = input.Height, w = input.Width;
        int k = rows.Kernel * cols.Kernel * c;
        dx[..(batch * input.Size)].Clear();
        int o = 0;
        for (int n = 0; n < batch; n++)
            for (int oh = 0; oh < rows.Output; oh++)
                for (int ow = 0; ow < cols.Output; ow++, o += k)
                {
                    int seg = o;
                    for (int kh = 0; kh < rows.Kernel; kh++)
                    {
                        int ih = oh * rows.Stride - rows.PadBefore + kh * rows.Dilation;
                        for (int kw = 0; kw < cols.Kernel; kw++, seg += c)
                        {
                            int iw = ow * cols.Stride - cols.PadBefore + kw * cols.Dilation;
                            if ((uint)ih < (uint)h && (uint)iw < (uint)w)
                            {
                                if (c == 1) dx[(n * h + ih) * w + iw] += dcols[seg];
                                else Elementwise.Add(dx.Slice(((n * h + ih) * w + iw) * c, c), dcols.Slice(seg, c));
                            }
                        }
                    }
                }
    }
}
