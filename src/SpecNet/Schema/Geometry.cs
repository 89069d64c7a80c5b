namespace SpecNet.Schema;

public enum Padding { Valid, Same }

/// <summary>
/// The geometry of a sliding window along one axis, shared by convolution and pooling (Keras/TensorFlow rules):
/// valid: out = floor((in - dilated) / stride) + 1, with dilated = (kernel - 1) * dilation + 1;
/// same:  out = ceil(in / stride), padded by max((out - 1) * stride + dilated - in, 0) in total, the
/// smaller half before (ONNX's SAME_UPPER).
/// </summary>
public readonly record struct Window(int Input, int Kernel, int Stride, int Dilation, int PadBefore, int Output)
{
    public int Dilated => (Kernel - 1) * Dilation + 1;

    /// <summary>Input rows or columns a valid window never reaches (at the end).</summary>
    public int Dropped => Output <= 0 ? 0 : Math.Max(0, Input + PadBefore * 2 - Spanned(Output));

    /// <summary>Input cells, padding included, that <paramref name="outputs"/> neighbouring windows span.</summary>
    public int Spanned(int outputs) => (outputs - 1) * Stride + Dilated;

    /// <summary>Whether some window reads padding.</summary>
    public bool Padded => PadBefore > 0 || PadAfter > 0;

    /// <summary>The input cells [First, End) that the windows of outputs [o0, o1) read, the padding left out.</summary>
    public (int First, int End) Reads(int o0, int o1) => (Math.Max(0, o0 * Stride - PadBefore), Math.Min(Input, o0 * Stride - PadBefore + Spanned(o1 - o0)));

    /// <summary>The kernel taps [First, End) of output o's window that fall inside the input (the others read padding); empty when none do.</summary>
    public (int First, int End) Inside(int o)
    {
        int start = o * Stride - PadBefore;
        int first = Math.Min(Kernel, start >= 0 ? 0 : (-start + Dilation - 1) / Dilation);
        int end = start >= Input ? 0 : Math.Min(Kernel, (Input - start + Dilation - 1) / Dilation);
        return (first, Math.Max(first, end));
    }

    /// <summary>Kernel taps inside the input, summed over every output (Output·Kernel when nothing reads padding).</summary>
    public int TapsInside => Enumerable.Range(0, Output).Select(Inside).Sum(inside => inside.End - inside.First);

    public static Window Of(int input, int kernel, int stride, int dilation, Padding padding)
    {
        int dilated = (kernel - 1) * dilation + 1;
        if (padding == Padding.Same)
        {
            int output = (input + stride - 1) / stride;
            int total = Math.Max((output - 1) * stride + dilated - input, 0);
            return new Window(input, kernel, stride, dilation, total / 2, output);
        }
        int valid = input >= dilated ? (input - dilated) / stride + 1 : 0;
        return new Window(input, kernel, stride, dilation, 0, valid);
    }

    /// <summary>
    /// For a stride-1 window: the window over the output that gives the input gradient as a convolution (the kernel flipped),
    /// padded by (kernel - 1)·dilation - pad so that it ends where the input does.
    /// </summary>
    public Window Transposed() => Stride == 1 ? new(Output, Kernel, 1, Dilation, (Kernel - 1) * Dilation - PadBefore, Input)
        : throw new InvalidOperationException("only a stride-1 window has a stride-1 transpose");

    /// <summary>Whether windows lie side by side: stride = size, undilated, unpadded (each input cell in at most one window).</summary>
    public bool Tiles => Kernel == Stride && Dilation == 1 && PadBefore == 0 && PadAfter == 0;

    /// <summary>Padding after the input (the larger half of 'same' padding; ONNX's SAME_UPPER).</summary>
    public int PadAfter => Math.Max(0, Spanned(Output) - Input - PadBefore);

    /// <summary>ONNX's pads of a 2-D window: [top, left, bottom, right].</summary>
    public static long[] Pads(Window rows, Window cols) => [rows.PadBefore, cols.PadBefore, rows.PadAfter, cols.PadAfter];

    /// <summary>The arithmetic as a user can check it, e.g. "(28 - 3) / 2 + 1 = 13".</summary>
    public string Arithmetic(Padding padding)
    {
        if (padding == Padding.Same) return $"ceil({Input} / {Stride}) = {Output}";
        var k = Dilation == 1 ? $"{Kernel}" : $"{Dilated} (kernel {Kernel} dilated by {Dilation})";
        return Stride == 1 ? $"{Input} - {k} + 1 = {Input - Dilated + 1}" : $"floor(({Input} - {k}) / {Stride}) + 1 = {(Input >= Dilated ? Output : (int)Math.Floor((Input - Dilated) / (double)Stride) + 1)}";
    }
}
