using SpecNet.Kernels;

namespace SpecNet.Tests.Kernels;

/// <summary>
/// <see cref="Elementwise.Transpose"/> moves every float to its place and writes nothing else, in whole 8 x 8 register blocks
/// or blocks cut by the edges (under masks): every shape up to 19 x 19, and the ones flatten and a weight gradient meet (2x2x128
/// forward and back, a 3x3x64 -> 128 kernel, 28x28x6 and 32x32x3 forward and back).
/// </summary>
public unsafe class TransposeTests
{
    public static TheoryData<int, int> Shapes()
    {
        var shapes = new TheoryData<int, int>();
        for (int rows = 1; rows <= 19; rows++)
            for (int cols = 1; cols <= 19; cols++) shapes.Add(rows, cols);
        shapes.Add(4, 128);
        shapes.Add(128, 4);
        shapes.Add(576, 128);
        shapes.Add(49, 64);
        shapes.Add(784, 6);
        shapes.Add(6, 784);
        shapes.Add(1024, 3);
        shapes.Add(3, 1024);
        return shapes;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Transpose_puts_each_float_at_its_mirrored_place_and_nothing_beyond(int rows, int cols)
    {
        var from = Enumerable.Range(0, rows * cols).Select(i => (float)i + 0.5f).ToArray();
        var to = new float[rows * cols + 16];
        Array.Fill(to, float.NaN);
        fixed (float* pf = from, pt = to) Elementwise.Transpose(pf, rows, cols, pt);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                Assert.True(to[j * rows + i] == from[i * cols + j], $"({i}, {j}) of {rows} x {cols}: {to[j * rows + i]}, expected {from[i * cols + j]}");
        Assert.All(to[(rows * cols)..], v => Assert.True(float.IsNaN(v), $"{rows} x {cols}: a float written past the end"));
    }
}
