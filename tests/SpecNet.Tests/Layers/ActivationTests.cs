using System.Runtime.Intrinsics;
using SpecNet.Kernels;
using SpecNet.Layers;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace SpecNet.Tests.Layers;

/// <summary>
/// The elementwise activations' vector kernels. MobileNet's piecewise activations over all their pieces. The layer gradient checks feed inputs in [-1, 1], where relu6 is
/// relu and hard_sigmoid a line; here inputs run past -3, 0, 3 and 6, where the pieces meet. Forward against PyTorch's
/// definitions (ReLU6, Hardsigmoid, Hardswish), backward against a central difference of the forward.
/// </summary>
public class ActivationTests
{
    public static TheoryData<string> Names() => new("relu6", "hard_sigmoid", "hard_swish");

    private static double Expected(string name, double x) => name switch
    {
        "relu6" => Math.Clamp(x, 0, 6),
        "hard_sigmoid" => Math.Clamp(x / 6 + 0.5, 0, 1),
        "hard_swish" => x * Math.Clamp(x + 3, 0, 6) / 6,
        _ => throw new ArgumentException(name),
    };

    /// <summary>From -8 to 8, never within 0.01 of a kink (the difference there would straddle two pieces).</summary>
    private static float[] Inputs() => Enumerable.Range(0, 161).Select(i => -8f + i * 0.1f + 0.037f).ToArray();

    [Theory]
    [MemberData(nameof(Names))]
    public void Forward_is_pytorchs_definition(string name)
    {
        var z = Inputs();
        var y = new float[z.Length];
        Activations.Forward(Activations.FromName(name), z, y, channels: 1);
        for (int i = 0; i < z.Length; i++) Assert.True(Math.Abs(y[i] - Expected(name, z[i])) <= 1e-6, $"{name}({z[i]}) = {y[i]}, PyTorch's {Expected(name, z[i])}");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Backward_is_the_slope_of_every_piece(string name)
    {
        var activation = Activations.FromName(name);
        var z = Inputs();
        var y = new float[z.Length];
        Activations.Forward(activation, z, y, channels: 1);
        var dy = z.Select((_, i) => 0.5f + i % 7 * 0.25f).ToArray();
        var dz = new float[z.Length];
        Activations.Backward(activation, z, y, dy, dz, channels: 1);
        const double h = 1e-3;
        for (int i = 0; i < z.Length; i++)
        {
            double slope = (Expected(name, z[i] + h) - Expected(name, z[i] - h)) / (2 * h);
            Assert.True(Math.Abs(dz[i] - dy[i] * slope) <= 1e-4, $"{name}'({z[i]}): {dz[i] / dy[i]}, the difference gives {slope}");
        }
        // the flat pieces pass nothing back
        Assert.Contains(dz, v => v == 0);
        Assert.Contains(dz, v => v != 0);
    }

    public static TheoryData<string> Elementwise() => new("leaky_relu", "elu", "gelu", "sigmoid", "tanh", "silu", "relu6", "hard_sigmoid", "hard_swish");

    /// <summary>
    /// A tensor of many pieces (16,384 floats a thread takes at a time, 512 a chunk) and a ragged end: on two threads, each value is
    /// the one a single thread computes, to the bit, and the one its definition gives (gelu's against erf's series).
    /// </summary>
    [Theory]
    [MemberData(nameof(Elementwise))]
    public void Large_tensors_run_in_pieces_on_threads_with_every_value_right(string name)
    {
        var activation = Activations.FromName(name);
        var rng = new Rng(3);
        int n = 3 * (int)Backend.MinParallelWork + 1001;
        var z = Enumerable.Range(0, n).Select(_ => rng.NextFloat() * 16 - 8).ToArray();
        var dy = Enumerable.Range(0, n).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        float[] y1 = new float[n], y2 = new float[n], dz1 = new float[n], dz2 = new float[n];
        Activations.Forward(activation, z, y1, 1);
        Activations.Forward(activation, z, y2, 1, new ManagedBackend(2));
        Activations.Backward(activation, z, y1, dy, dz1, 1);
        Activations.Backward(activation, z, y2, dy, dz2, 1, new ManagedBackend(2));
        Assert.Equal(y1, y2);
        Assert.Equal(dz1, dz2);
        for (int i = 0; i < n; i++)
            Assert.True(Math.Abs(y1[i] - Definition(name, z[i])) <= 2e-6 * Math.Max(1, Math.Abs(z[i])), $"{name}({z[i]}) at {i}: {y1[i]}, its definition {Definition(name, z[i])}");
    }

    /// <summary>
    /// Softmax over the channels of many rows (a 28x28x16 map's worth of a few examples, the rows on two threads; ten classes; a
    /// thousand, whose rows take whole vectors and a tail): each row the one a single thread computes, to the bit, and its
    /// definition's; backward too, written over dy as a layer's backward does.
    /// </summary>
    [Theory]
    [InlineData(16, 3 * 784 + 5)]
    [InlineData(10, 301)]
    [InlineData(1000, 67)]
    public void Softmax_rows_on_threads_are_those_of_one_thread_and_of_the_definition(int channels, int rows)
    {
        var rng = new Rng(5);
        var z = Enumerable.Range(0, rows * channels).Select(_ => rng.NextFloat() * 20 - 10).ToArray();
        var dy = Enumerable.Range(0, z.Length).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        var softmax = Activations.FromName("softmax");
        float[] y1 = new float[z.Length], y2 = new float[z.Length], dz1 = new float[z.Length], dz2 = (float[])dy.Clone();
        Activations.Forward(softmax, z, y1, channels);
        Activations.Forward(softmax, z, y2, channels, new ManagedBackend(2));
        Activations.Backward(softmax, default, y1, dy, dz1, channels);
        Activations.Backward(softmax, default, y2, dz2, dz2, channels, new ManagedBackend(2));   // in place
        Assert.Equal(y1, y2);
        Assert.Equal(dz1, dz2);
        for (int r = 0; r < rows; r++)
        {
            var row = z.Skip(r * channels).Take(channels).Select(v => (double)v).ToArray();
            double max = row.Max(), sum = row.Sum(v => Math.Exp(v - max));
            double dot = Enumerable.Range(0, channels).Sum(j => (double)dy[r * channels + j] * y1[r * channels + j]);
            for (int j = 0; j < channels; j++)
            {
                int i = r * channels + j;
                Assert.True(Math.Abs(y1[i] - Math.Exp(row[j] - max) / sum) <= 1e-6, $"row {r}, channel {j}: {y1[i]}");
                Assert.True(Math.Abs(dz1[i] - y1[i] * (dy[i] - dot)) <= 1e-6, $"row {r}, channel {j}: dz {dz1[i]}");
            }
        }
    }

    /// <summary>
    /// gelu's floats do not depend on the machine: 256-bit lanes (AVX2), 512-bit lanes (AVX-512) and the scalar tail give the same,
    /// forward and backward, over zero, -0, the kinks of its erf's |z| and exp's clamp (|z| past 13.2), and the range between.
    /// </summary>
    [Fact]
    public unsafe void Gelu_gives_the_same_floats_in_either_vector_width_and_alone()
    {
        var rng = new Rng(11);
        float[] z = [0f, -0f, 1e-30f, -1e-30f, 13.19f, -13.19f, 13.2f, -13.2f, 13.3f, -13.3f, 40f, -40f, 1e6f, -1e6f, 3f, -3f,
            .. Enumerable.Range(0, 4096).Select(_ => rng.NextFloat() * 20 - 10)];
        var dy = z.Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        foreach (bool forward in new[] { true, false })
        {
            var alone = z.Select((v, i) => Activations.GeluOne(v, dy[i], forward)).ToArray();
            float[] narrow = new float[z.Length], wide = new float[z.Length];
            fixed (float* pz = z, pdy = dy, pn = narrow, pw = wide)
            {
                Assert.Equal(z.Length, Activations.GeluLanes<Lanes256, Vector256<float>>(pz, pdy, pn, z.Length, forward));
                Assert.Equal(z.Length, Activations.GeluLanes<Lanes512, Vector512<float>>(pz, pdy, pw, z.Length, forward));
            }
            Assert.Equal(alone, narrow);
            Assert.Equal(alone, wide);
        }
    }

    /// <summary>
    /// tanh, sigmoid and elu, each by its own kernel, within 2, 3 and 2 ulps of the exact value (tanh 1.5 and sigmoid 2.6 at worst
    /// over every 4th float) at every 1024th float from 0 to where the function is flat in float (tanh 1 from 9; sigmoid 1 from
    /// 17, and 0 from -87 down, below float's normal range; elu -1 from -17), and at their negations; elu near 0 against expm1;
    /// tanh keeps -0; infinities give the limits, a NaN stays NaN. The ulp is the float's spacing at the exact value; below
    /// 2^-126, subnormals' spacing.
    /// </summary>
    [Theory]
    [InlineData("tanh", 12f, 2.0)]
    [InlineData("sigmoid", 90f, 3.0)]
    [InlineData("elu", 20f, 2.0)]
    public void Tanh_sigmoid_and_elu_are_within_a_few_ulps_everywhere(string name, float end, double ulps)
    {
        Func<double, double> exact = name switch
        {
            "tanh" => Math.Tanh,
            "sigmoid" => x => 1 / (1 + Math.Exp(-x)),
            _ => x => x > 0 ? x : Math.Abs(x) < 1e-5 ? x + x * x / 2 + x * x * x / 6 : Math.Exp(x) - 1,   // expm1, past double's cancellation
        };
        var z = new List<float>();
        for (int bits = 0; bits <= BitConverter.SingleToInt32Bits(end); bits += 1024) z.AddRange([BitConverter.Int32BitsToSingle(bits), -BitConverter.Int32BitsToSingle(bits)]);
        z.AddRange([0.625f, MathF.BitDecrement(0.625f), 9f, 20f, 100f, 1e30f, float.MaxValue, float.Epsilon, -86.99f, -87f, -1e30f]);
        var x = z.ToArray();
        var y = new float[x.Length];
        Activations.Forward(Activations.FromName(name), x, y, 1);
        double worst = 0;
        for (int i = 0; i < x.Length; i++)
        {
            if (name == "sigmoid" && x[i] <= -87) { Assert.Equal(0f, y[i]); continue; }
            if (name == "elu" && x[i] > 0) { Assert.Equal(x[i], y[i]); continue; }
            double e = exact(x[i]);
            float rounded = (float)e;
            double ulp = Math.Max(MathF.BitIncrement(MathF.Abs(rounded)) - MathF.Abs(rounded), float.Epsilon);
            double error = Math.Abs(y[i] - e) / ulp;
            worst = Math.Max(worst, error);
            Assert.True(error <= ulps, $"{name}({x[i]:R}) = {y[i]:R}, exactly {e:R}: {error:F2} ulps");
            if (name == "tanh") Assert.Equal(float.IsNegative(x[i]), float.IsNegative(y[i]));
        }
        Assert.True(worst > 0.5, $"worst {worst} ulps: every value rounded correctly is not this kernel");   // the test reaches the kernel's errors
        var limits = new float[3];
        Activations.Forward(Activations.FromName(name), [float.PositiveInfinity, float.NegativeInfinity, float.NaN], limits, 1);
        Assert.Equal(name == "elu" ? [float.PositiveInfinity, -1f] : [1f, name == "tanh" ? -1f : 0f], limits[..2]);
        Assert.True(float.IsNaN(limits[2]));
    }

    /// <summary>
    /// tanh's, sigmoid's and elu's floats do not depend on the machine: either vector width and the scalar tail give the same bits,
    /// around tanh's seam at 0.625, the clamp at -87 and the special values; elu with two alphas.
    /// </summary>
    [Fact]
    public unsafe void Functions_of_one_float_give_the_same_floats_in_either_vector_width_and_alone()
    {
        var rng = new Rng(12);
        float[] z = [0f, -0f, 1e-30f, -1e-30f, 0.625f, -0.625f, MathF.BitDecrement(0.625f), 43.5f, -43.5f, 44f, -86.99f, -87f, -87.01f, 87f, 1e6f, -1e6f,
            float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1f];
        z = [.. z, .. Enumerable.Range(0, 4096 - z.Length).Select(_ => rng.NextFloat() * 200 - 100)];   // whole vectors of either width
        Same<Activations.Tanh>(z);
        Same<Activations.Sigmoid>(z);
        Same<Activations.Elu>(z, 1f);
        Same<Activations.Elu>(z, 0.7f);
        Same<Activations.Silu>(z);
        Same<Activations.LeakyRelu>(z, 0.3f);
        Same<Activations.SteepLeakyRelu>(z, 1.5f);
        Same<Activations.Relu6>(z);
        Same<Activations.HardSigmoid>(z);
        Same<Activations.HardSwish>(z);
    }

    /// <summary>
    /// The piecewise activations and silu, each one pass of its own, give the floats of the passes of TensorPrimitives they replace
    /// (a product, then a maximum...), to the bit: over the kinks, ±0, the infinities and a NaN, in whole vectors and a tail.
    /// </summary>
    [Theory]
    [InlineData("leaky_relu", 0.3f)]
    [InlineData("leaky_relu", 1.5f)]
    [InlineData("relu6", 0f)]
    [InlineData("hard_sigmoid", 0f)]
    [InlineData("hard_swish", 0f)]
    [InlineData("silu", 0f)]
    public void Piecewise_activations_give_the_floats_of_tensor_primitives_passes(string name, float alpha)
    {
        var rng = new Rng(13);
        float[] z = [0f, -0f, -3f, 3f, 6f, -6f, MathF.BitDecrement(3f), MathF.BitIncrement(-3f), float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1e30f, -1e30f,
            .. Enumerable.Range(0, 1000).Select(_ => rng.NextFloat() * 20 - 10)];
        var expected = new float[z.Length];
        var t = new float[z.Length];
        switch (name)
        {
            case "leaky_relu":
                System.Numerics.Tensors.TensorPrimitives.Multiply(z, alpha, t);
                if (alpha <= 1) System.Numerics.Tensors.TensorPrimitives.Max(z, t, expected); else System.Numerics.Tensors.TensorPrimitives.Min(z, t, expected);
                break;
            case "relu6":
                System.Numerics.Tensors.TensorPrimitives.Max(z, 0f, expected);
                System.Numerics.Tensors.TensorPrimitives.Min(expected, 6f, expected);
                break;
            case "silu":
                Activations.Forward(Activations.FromName("sigmoid"), z, t, 1);
                System.Numerics.Tensors.TensorPrimitives.Multiply(z, t, expected);
                break;
            default:
                System.Numerics.Tensors.TensorPrimitives.Multiply(z, 1f / 6, t);
                System.Numerics.Tensors.TensorPrimitives.Add(t, 0.5f, t);
                System.Numerics.Tensors.TensorPrimitives.Max(t, 0f, t);
                System.Numerics.Tensors.TensorPrimitives.Min(t, 1f, t);
                if (name == "hard_swish") System.Numerics.Tensors.TensorPrimitives.Multiply(z, t, expected); else t.CopyTo(expected);
                break;
        }
        var activation = name == "leaky_relu" ? Activations.FromName(name) with { Alpha = alpha } : Activations.FromName(name);
        var y = new float[z.Length];
        Activations.Forward(activation, z, y, 1);
        Assert.Equal(Bits(expected), Bits(y));
    }

    private static unsafe void Same<TF>(float[] z, float parameter = 0) where TF : struct, Activations.IFloatFunction
    {
        var alone = z.Select(v => TF.One(v, parameter)).ToArray();
        float[] narrow = new float[z.Length], wide = new float[z.Length];
        fixed (float* pz = z, pn = narrow, pw = wide)
        {
            Assert.Equal(z.Length, Activations.ApplyLanes<TF, Lanes256, Vector256<float>>(pz, pn, z.Length, parameter));
            Assert.Equal(z.Length, Activations.ApplyLanes<TF, Lanes512, Vector512<float>>(pz, pw, z.Length, parameter));
        }
        Assert.Equal(Bits(alone), Bits(narrow));
        Assert.Equal(Bits(alone), Bits(wide));
    }

    /// <summary>
    /// The slopes of leaky_relu, elu, sigmoid, tanh and silu, each one pass of its own, give the floats of the passes of
    /// TensorPrimitives they replace, to the bit, written over dy as a layer's backward does; and either vector width and the
    /// scalar tail give the same.
    /// </summary>
    [Theory]
    [InlineData("leaky_relu", 0.3f)]
    [InlineData("elu", 0.7f)]
    [InlineData("sigmoid", 0f)]
    [InlineData("tanh", 0f)]
    [InlineData("silu", 0f)]
    public unsafe void Slopes_give_the_floats_of_tensor_primitives_passes(string name, float alpha)
    {
        var rng = new Rng(14);
        float[] z = [0f, -0f, 3f, -3f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1e30f, -1e30f, .. Enumerable.Range(0, 1000).Select(_ => rng.NextFloat() * 20 - 10)];
        var activation = name is "leaky_relu" or "elu" ? Activations.FromName(name) with { Alpha = alpha } : Activations.FromName(name);
        var y = new float[z.Length];
        Activations.Forward(activation, z, y, 1);
        var dy = z.Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        float[] expected = new float[z.Length], t = new float[z.Length], u = new float[z.Length];
        switch (name)
        {
            case "leaky_relu":
                TP.Multiply(dy, alpha, t);
                for (int i = 0; i < z.Length; i++) expected[i] = y[i] > 0 ? dy[i] : t[i];
                break;
            case "elu":
                TP.Add(y, alpha, t);
                TP.Multiply(t, dy, t);
                for (int i = 0; i < z.Length; i++) expected[i] = y[i] > 0 ? dy[i] : t[i];
                break;
            case "sigmoid":
                TP.Subtract(1f, y, t);
                TP.Multiply(t, y, t);
                TP.Multiply(t, dy, expected);
                break;
            case "tanh":
                TP.Multiply(y, y, t);
                TP.Subtract(1f, t, t);
                TP.Multiply(t, dy, expected);
                break;
            default:
                Activations.Forward(Activations.FromName("sigmoid"), z, t, 1);
                TP.Subtract(1f, t, u);
                TP.MultiplyAdd(z, u, 1f, u);
                TP.Multiply(u, t, u);
                TP.Multiply(u, dy, expected);
                break;
        }
        var dz = (float[])dy.Clone();
        Activations.Backward(activation, z, y, dz, dz, 1);   // over dy
        Assert.Equal(Bits(expected), Bits(dz));

        // the vectors of either width against the scalar steps, over the whole array (1009 floats: a ragged end)
        int whole = z.Length / 16 * 16;
        float[] narrow = new float[z.Length], wide = new float[z.Length];
        fixed (float* pz = z, py = y, pdy = dy, pn = narrow, pw = wide)
        {
            Lanes(name, pz, py, pdy, pn, pw, whole, alpha);
        }
        var alone = Enumerable.Range(0, whole).Select(i => One(name, z[i], y[i], dy[i], alpha)).ToArray();
        Assert.Equal(Bits(alone), Bits(narrow[..whole]));
        Assert.Equal(Bits(alone), Bits(wide[..whole]));
    }

    private static float One(string name, float z, float y, float dy, float alpha) => name switch
    {
        "leaky_relu" => Activations.LeakyReluSlope.One(z, y, dy, alpha),
        "elu" => Activations.EluSlope.One(z, y, dy, alpha),
        "sigmoid" => Activations.SigmoidSlope.One(z, y, dy, alpha),
        "tanh" => Activations.TanhSlope.One(z, y, dy, alpha),
        _ => Activations.SiluSlope.One(z, y, dy, alpha),
    };

    private static unsafe void Lanes(string name, float* z, float* y, float* dy, float* narrow, float* wide, int n, float alpha)
    {
        switch (name)
        {
            case "leaky_relu": Both<Activations.LeakyReluSlope>(); break;
            case "elu": Both<Activations.EluSlope>(); break;
            case "sigmoid": Both<Activations.SigmoidSlope>(); break;
            case "tanh": Both<Activations.TanhSlope>(); break;
            default: Both<Activations.SiluSlope>(); break;
        }

        void Both<TG>() where TG : struct, Activations.IFloatGradient
        {
            Assert.Equal(n, Activations.SlopeLanes<TG, Lanes256, Vector256<float>>(z, y, dy, narrow, n, alpha));
            Assert.Equal(n, Activations.SlopeLanes<TG, Lanes512, Vector512<float>>(z, y, dy, wide, n, alpha));
        }
    }

    /// <summary>
    /// Floats as bits, for comparisons to the bit (float equality takes -0 for +0), every NaN as one: which operand's NaN a product
    /// passes on is the JIT's choice (it may swap a commutative operation's operands).
    /// </summary>
    private static IEnumerable<int> Bits(float[] values) => values.Select(v => float.IsNaN(v) ? -1 : BitConverter.SingleToInt32Bits(v));

    private static double Definition(string name, double x) => name switch
    {
        "leaky_relu" => x > 0 ? x : 0.3 * x,
        "elu" => x > 0 ? x : Math.Exp(x) - 1,
        "gelu" => x * 0.5 * (1 + Erf(x / Math.Sqrt(2))),
        "sigmoid" => 1 / (1 + Math.Exp(-x)),
        "tanh" => Math.Tanh(x),
        "silu" => x / (1 + Math.Exp(-x)),
        _ => Expected(name, x),
    };

    /// <summary>erf by Numerical Recipes' erfc Chebyshev fit in doubles (|error| under 1.2e-7), another formula than the kernel's.</summary>
    private static double Erf(double x)
    {
        double t = 1 / (1 + 0.5 * Math.Abs(x));
        double y = t * Math.Exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
                   t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1 - y : y - 1;
    }
}
