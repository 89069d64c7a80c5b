using System.Runtime.Intrinsics;
using SpecNet.Kernels;

namespace SpecNet.Tests.Kernels;

/// <summary>
/// The vector relu (two x86 instructions, <see cref="Elementwise.Relu(Vector256{float})"/>) gives max(t, 0) to the bit on the values
/// where instructions differ: a NaN is kept, -0 becomes +0, subnormals and infinities pass or become +0 by their sign.
/// </summary>
public class ReluTests
{
    private static readonly float[] Specials =
    [
        float.NaN, -float.NaN, BitConverter.Int32BitsToSingle(0x7fc01234), -0f, 0f, -1f, 1f, float.Epsilon, -float.Epsilon,
        float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, float.MinValue, 1e-30f, -1e-30f, 0.5f,
    ];

    private static int[] Bits(IEnumerable<float> values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    [Fact]
    public void A_vector_relu_is_max_with_zero_to_the_bit()
    {
        for (int i = 0; i < Specials.Length; i += 8)
        {
            var t = Vector256.Create(Specials.AsSpan(i, 8));
            var relu = Elementwise.Relu(t);
            Assert.Equal(Bits(Specials.Skip(i).Take(8).Select(v => Math.Max(v, 0f))), Bits(Enumerable.Range(0, 8).Select(lane => relu.GetElement(lane))));
        }
    }

    [Fact]
    public void A_wide_vector_relu_is_max_with_zero_to_the_bit()
    {
        var relu = Elementwise.Relu(Vector512.Create(Specials));
        Assert.Equal(Bits(Specials.Select(v => Math.Max(v, 0f))), Bits(Enumerable.Range(0, 16).Select(lane => relu.GetElement(lane))));
    }

    [Fact]
    public void Every_relu_pass_is_max_with_zero_to_the_bit()
    {
        var expected = Bits(Specials.Select(v => Math.Max(v, 0f)));
        var y = (float[])Specials.Clone();
        Elementwise.Relu(y);
        Assert.Equal(expected, Bits(y));
        y = (float[])Specials.Clone();
        ChannelKernels.BiasAffineRelu(y, 8, default, [], [], relu: true);     // the convolutions' epilogue, 8 channels: vectors
        Assert.Equal(expected, Bits(y));
        y = (float[])Specials.Clone();
        ChannelKernels.BiasAffineRelu(y, 16, default, [], [], relu: true);    // 16: 512-bit vectors where the CPU has them
        Assert.Equal(expected, Bits(y));
    }

    /// <summary>An add and the relu after it in one pass (training's residual blocks) give the bits of the two passes: every pair of specials, vectors and the tail.</summary>
    [Fact]
    public void An_add_with_its_relu_is_the_add_then_the_relu_to_the_bit()
    {
        var a = Specials.SelectMany(u => Specials.Select(_ => u)).Append(0.25f).ToArray();   // 257: the last past the vectors
        var b = Specials.SelectMany(_ => Specials).Append(-1f).ToArray();
        var (sum, fused) = (new float[a.Length], new float[a.Length]);
        var backend = new ManagedBackend(2);
        Elementwise.Map(backend, Elementwise.MapOp.Add, a, b, sum);
        Elementwise.Map(backend, Elementwise.MapOp.Relu, sum, default, sum);
        Elementwise.Map(backend, Elementwise.MapOp.AddRelu, a, b, fused);
        Assert.Equal(Bits(sum), Bits(fused));
        Assert.Equal(Bits(a.Zip(b, (u, v) => Math.Max(u + v, 0f))), Bits(fused));
    }
}
