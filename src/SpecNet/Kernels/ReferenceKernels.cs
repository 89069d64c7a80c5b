using SpecNet.Schema;

namespace SpecNet.Kernels;

/// <summary>
/// The readable convolution and pooling: direct loops over the definition, accumulating in double. The
/// oracle the fast kernels (im2col + GEMM, vectorised pooling) are tested against; slow by design.
/// Tensors are NHWC; a convolution kernel is [F, KH, KW, C/groups].
/// </summary>
public static class ReferenceKernels
{
    /// <summary>y[n,i,j,f] = sum over (di, dj, c in f's group) of x[n, i*s - pad + di*d, j*s - pad + dj*d, c] * w[f, di, dj, c].</summary>
    public static float[] Convolution(float[] x, int batch, Shape input, float[] w, Window rows, Window cols, int filters, int groups = 1)
    {
        int cg = input.Channels / groups, fg = filters / groups;
        var y = new float[batch * rows.Output * cols.Output * filters];
        for (int n = 0; n < batch; n++)
            for (int i = 0; i < rows.Output; i++)
                for (int j = 0; j < cols.Output; j++)
                    for (int f = 0; f < filters; f++)
                    {
                        double sum = 0;
                        foreach (var (ih, iw, di, dj) in Taps(i, j, input, rows, cols))
                            for (int c = 0; c < cg; c++)
                                sum += (double)x[At(n, ih, iw, f / fg * cg + c, input)] * w[((f * rows.Kernel + di) * cols.Kernel + dj) * cg + c];
                        y[((n * rows.Output + i) * cols.Output + j) * filters + f] = (float)sum;
                    }
        return y;
    }

    /// <summary>The adjoints of <see cref="Convolution"/>: dx[cell] = sum of dy * w over the windows that read it; dw = sum of dy * x.</summary>
    public static (float[] Dx, float[] Dw) ConvolutionBackward(float[] x, int batch, Shape input, float[] w, float[] dy, Window rows, Window cols,
        int filters, int groups = 1)
    {
        int cg = input.Channels / groups, fg = filters / groups;
        var dx = new double[x.Length];
        var dw = new double[w.Length];
        for (int n = 0; n < batch; n++)
            for (int i = 0; i < rows.Output; i++)
                for (int j = 0; j < cols.Output; j++)
                    for (int f = 0; f < filters; f++)
                    {
                        double g = dy[((n * rows.Output + i) * cols.Output + j) * filters + f];
                        foreach (var (ih, iw, di, dj) in Taps(i, j, input, rows, cols))
                            for (int c = 0; c < cg; c++)
                            {
                                int xi = At(n, ih, iw, f / fg * cg + c, input), wi = ((f * rows.Kernel + di) * cols.Kernel + dj) * cg + c;
                                dx[xi] += g * w[wi];
                                dw[wi] += g * x[xi];
                            }
                    }
        return (dx.Select(v => (float)v).ToArray(), dw.Select(v => (float)v).ToArray());
    }

    /// <summary>y = the maximum (or the mean of the cells inside the input) of each window, per channel.</summary>
    public static float[] Pooling(float[] x, int batch, Shape input, Window rows, Window cols, bool max)
    {
        int c = input.Channels;
        var y = new float[batch * rows.Output * cols.Output * c];
        for (int n = 0; n < batch; n++)
            for (int i = 0; i < rows.Output; i++)
                for (int j = 0; j < cols.Output; j++)
                    for (int ch = 0; ch < c; ch++)
                    {
                        double best = double.NegativeInfinity, sum = 0;
                        int count = 0;
                        foreach (var (ih, iw, _, _) in Taps(i, j, input, rows, cols))
                        {
                            double v = x[At(n, ih, iw, ch, input)];
                            best = Math.Max(best, v);
                            sum += v;
                            count++;
                        }
                        y[((n * rows.Output + i) * cols.Output + j) * c + ch] = (float)(max ? best : sum / count);
                    }
        return y;
    }

    /// <summary>The input cells a window reads: (row, column, tap row, tap column), padding left out.</summary>
    private static IEnumerable<(int Row, int Col, int TapRow, int TapCol)> Taps(int i, int j, Shape input, Window rows, Window cols)
    {
        for (int di = 0; di < rows.Kernel; di++)
        {
            int ih = i * rows.Stride - rows.PadBefore + di * rows.Dilation;
            if (ih < 0 || ih >= input.Height) continue;
            for (int dj = 0; dj < cols.Kernel; dj++)
            {
                int iw = j * cols.Stride - cols.PadBefore + dj * cols.Dilation;
                if (iw >= 0 && iw < input.Width) yield return (ih, iw, di, dj);
            }
        }
    }

    private static int At(int n, int row, int col, int channel, Shape s) => ((n * s.Height + row) * s.Width + col) * s.Channels + channel;
}
