using SpecNet.Kernels;

namespace SpecNet.Tests.Kernels;

/// <summary>
/// <see cref="Elementwise.Map"/> over a tensor of several pieces and a tail (each thread's share run a piece at a time): every
/// element its operation's own float, on one thread and on two, in place too.
/// </summary>
public class MapTests
{
    private const int Length = 3 * (1 << 14) + 37;

    public static TheoryData<Elementwise.MapOp> Ops => new(Enum.GetValues<Elementwise.MapOp>().Where(op => op != Elementwise.MapOp.Scale));

    private static float Expected(Elementwise.MapOp op, float a, float b) => op switch
    {
        Elementwise.MapOp.Copy => a,
        Elementwise.MapOp.Add => a + b,
        Elementwise.MapOp.Subtract => a - b,
        Elementwise.MapOp.Multiply => a * b,
        Elementwise.MapOp.Max => Math.Max(a, b),
        Elementwise.MapOp.Min => Math.Min(a, b),
        Elementwise.MapOp.Relu => Math.Max(a, 0f),
        Elementwise.MapOp.ReluBackward => a > 0 ? b : 0,
        Elementwise.MapOp.AddRelu => Math.Max(a + b, 0f),
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    private static float[] Random(ulong seed)
    {
        var rng = new Rng(seed);
        return Enumerable.Range(0, Length).Select(_ => rng.NextFloat() * 4 - 2).ToArray();
    }

    [Theory]
    [MemberData(nameof(Ops))]
    public void Every_element_of_every_piece_is_its_operations_float(Elementwise.MapOp op)
    {
        float[] a = Random(1), b = Random(2);
        var expected = a.Zip(b, (u, v) => Expected(op, u, v)).ToArray();
        foreach (int threads in new[] { 1, 2 })
        {
            var y = Enumerable.Repeat(float.NaN, Length).ToArray();
            Elementwise.Map(new ManagedBackend(threads), op, a, b, y);
            Assert.Equal(expected, y);
            var inPlace = a.ToArray();
            Elementwise.Map(new ManagedBackend(threads), op, inPlace, b, inPlace);
            Assert.Equal(expected, inPlace);
        }
    }

    [Fact]
    public void A_scale_is_each_element_times_the_factor()
    {
        var a = Random(3);
        foreach (int threads in new[] { 1, 2 })
            foreach (float factor in new[] { 0.25f, -1f, 1f / 3 })
            {
                var y = Enumerable.Repeat(float.NaN, Length).ToArray();
                Elementwise.Scale(new ManagedBackend(threads), a, factor, y);
                Assert.Equal(a.Select(v => v * factor).ToArray(), y);
            }
    }
}
