using SpecNet.Kernels;

namespace SpecNet.Tests.Kernels;

/// <summary>
/// Batch normalisation's passes over rows of channels, against their definitions: sums in double, maps by the same float
/// operations (so equal to the bit). 300 rows on two threads are 150 each: two blocks of 64 rows and a part block, so that
/// every block's start, end and carry into the running sums is crossed; 24 channels take a lone last vector, 5 none.
/// </summary>
public class ChannelKernelsTests
{
    private const int Rows = 300;

    /// <summary>Also 5,000 rows on two threads: chunks of 640 to 3,264 rows (whole blocks, the last part of one) that the threads take in turn.</summary>
    public static TheoryData<int, int, int> Cases()
    {
        var data = new TheoryData<int, int, int>();
        foreach (int threads in new[] { 1, 2 })
            foreach (int channels in new[] { 5, 8, 16, 24, 32 }) data.Add(channels, threads, Rows);
        foreach (int channels in new[] { 5, 16, 24 }) data.Add(channels, 2, 5000);
        // channels in no whole vector run as rows of their period (ChannelKernels.Period), the rows past the last whole period
        // a row at a time: 12 (period 24, two rows), 20 (40), 3 (24), 6 over one row short of a period, and 37 (period 296: rows)
        foreach (int threads in new[] { 1, 2 })
            foreach (var (channels, rows) in new[] { (12, 203), (20, 1999), (3, 5001), (6, 3), (37, 90) }) data.Add(channels, threads, rows);
        return data;
    }

    private static float[] Random(Rng rng, int n, float low, float high) => Enumerable.Range(0, n).Select(_ => low + (high - low) * rng.NextFloat()).ToArray();

    private static readonly ChannelActivation[] Activations = Enum.GetValues<ChannelActivation>();

    /// <summary>Each activation by its definition (Keras's and PyTorch's), one float at a time.</summary>
    private static float Apply(ChannelActivation activation, float t) => activation switch
    {
        ChannelActivation.Relu => t > 0 ? t : 0,
        ChannelActivation.Relu6 => t <= 0 ? 0 : t >= 6 ? 6 : t,
        ChannelActivation.HardSwish => t * (t <= -3 ? 0 : t >= 3 ? 1 : t * (1f / 6) + 0.5f),
        _ => t,
    };

    /// <summary>dy times its slope at t, as PyTorch's backward takes it: none at a flat part's end, (2t + 3)/6 from -3 to 3 for hard_swish.</summary>
    private static float Slope(ChannelActivation activation, float dy, float t) => activation switch
    {
        ChannelActivation.Relu => t > 0 ? dy : 0,
        ChannelActivation.Relu6 => t > 0 && t < 6 ? dy : 0,
        ChannelActivation.HardSwish => t < -3 ? 0 : t > 3 ? dy : dy * (t * (1f / 3) + 0.5f),
        _ => dy,
    };

    [Theory, MemberData(nameof(Cases))]
    public void Sums_are_the_columns_sums_and_sums_of_squares(int channels, int threads, int rows)
    {
        var rng = new Rng(3);
        var x = Random(rng, rows * channels, -1, 3);
        var (first, second) = (new double[channels], new double[channels]);
        ChannelKernels.Sums(new ManagedBackend(threads), x, x, channels, first, second, ChannelKernels.Scratch(channels, threads));
        for (int c = 0; c < channels; c++)
        {
            var column = Enumerable.Range(0, rows).Select(r => (double)x[r * channels + c]).ToArray();
            Near(column.Sum(), first[c], column.Sum(Math.Abs));
            Near(column.Sum(v => v * v), second[c], column.Sum(v => v * v));
        }
    }

    /// <summary>
    /// With an activation after the map, dy times its slope at zhat·g + h: z spans -2 to 2 and g 0.5 to 2.5, so the mapped values
    /// cross relu6's 6 and hard_swish's -3 and 3.
    /// </summary>
    [Theory, MemberData(nameof(Cases))]
    public void Sums_with_an_activation_take_dy_times_its_slope_at_the_mapped_value(int channels, int threads, int rows)
    {
        var rng = new Rng(5);
        var (dy, z) = (Random(rng, rows * channels, -1, 1), Random(rng, rows * channels, -2, 2));
        var (e, f, g, h) = (Random(rng, channels, 0.5f, 1.5f), Random(rng, channels, -0.5f, 0.5f), Random(rng, channels, 0.5f, 2.5f), Random(rng, channels, -0.5f, 0.5f));
        foreach (var activation in Activations.Skip(1))
        {
            var (first, second) = (new double[channels], new double[channels]);
            ChannelKernels.Sums(new ManagedBackend(threads), dy, z, channels, first, second, ChannelKernels.Scratch(channels, threads), e, f, activation, g, h);
            for (int c = 0; c < channels; c++)
            {
                double sum = 0, product = 0, scale = 0;
                for (int r = 0; r < rows; r++)
                {
                    int i = r * channels + c;
                    float zhat = MathF.FusedMultiplyAdd(z[i], e[c], f[c]), d = Slope(activation, dy[i], MathF.FusedMultiplyAdd(zhat, g[c], h[c]));
                    (sum, product, scale) = (sum + d, product + (double)d * zhat, scale + Math.Abs(d * zhat));
                }
                Near(sum, first[c], rows);
                Near(product, second[c], scale);
            }
        }
    }

    [Theory, MemberData(nameof(Cases))]
    public void Training_map_is_gamma_times_xhat_plus_beta_then_its_activation_to_the_bit(int channels, int threads, int rows)
    {
        var rng = new Rng(7);
        var x = Random(rng, rows * channels, -2, 2);
        var (a, b, e, f) = (Random(rng, channels, 0.5f, 1.5f), Random(rng, channels, -0.5f, 0.5f), Random(rng, channels, 0.5f, 2.5f), Random(rng, channels, -0.5f, 0.5f));
        foreach (var activation in Activations)
        {
            var y = new float[x.Length];
            ChannelKernels.Affine(new ManagedBackend(threads), x, a, b, e, f, y, activation);
            for (int i = 0; i < x.Length; i++)
            {
                int c = i % channels;
                float t = MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(x[i], a[c], b[c]), e[c], f[c]);
                Assert.Equal(Apply(activation, t), y[i]);
            }
        }
    }

    [Theory, MemberData(nameof(Cases))]
    public void Input_gradient_map_is_its_formula_to_the_bit(int channels, int threads, int rows)
    {
        var rng = new Rng(11);
        var (dy, z) = (Random(rng, rows * channels, -1, 1), Random(rng, rows * channels, -2, 2));
        var (a, b, d, e, f) = (Random(rng, channels, 0.5f, 1.5f), Random(rng, channels, -0.5f, 0.5f), Random(rng, channels, -0.5f, 0.5f),
            Random(rng, channels, 0.5f, 1.5f), Random(rng, channels, -0.5f, 0.5f));
        var (g, h) = (Random(rng, channels, 0.5f, 2.5f), Random(rng, channels, -0.5f, 0.5f));
        foreach (var activation in Activations)
        {
            var dx = new float[dy.Length];
            bool mask = activation != ChannelActivation.None;
            ChannelKernels.Affine2(new ManagedBackend(threads), dy, z, e, f, a, b, d, dx, ChannelKernels.Scratch(channels, threads), activation, mask ? g : default, mask ? h : default);
            for (int i = 0; i < dy.Length; i++)
            {
                int c = i % channels;
                float zhat = MathF.FusedMultiplyAdd(z[i], e[c], f[c]);
                float passed = Slope(activation, dy[i], MathF.FusedMultiplyAdd(zhat, g[c], h[c]));
                Assert.Equal(MathF.FusedMultiplyAdd(zhat, b[c], MathF.FusedMultiplyAdd(passed, a[c], d[c])), dx[i]);
            }
        }
    }

    /// <summary>
    /// A convolution's epilogue, ((y + bias)·a + b + residual, then relu), in the order of the passes it replaces: each step's
    /// float operation, so to the bit; on this thread (a chunk's rows) and split between the threads. 16, 32 and 48 channels take
    /// 512-bit vectors where the CPU has them, 8 and 24 256-bit ones; 5, 6 and 12 go as rows of lcm(C, 8) channels (5's last
    /// rows, which make no whole 40, one at a time).
    /// </summary>
    [Theory]
    [InlineData(5)]
    [InlineData(6)]     // LeNet-5's: rows of lcm(6, 8) = 24 channels, then the rows left one at a time
    [InlineData(8)]
    [InlineData(12)]
    [InlineData(16)]
    [InlineData(24)]
    [InlineData(32)]
    [InlineData(48)]
    public void Epilogue_is_bias_map_residual_and_relu_in_turn_to_the_bit(int channels)
    {
        var rng = new Rng(13);
        var y0 = Random(rng, Rows * channels, -2, 2);
        var (bias, a, b, residual) = (Random(rng, channels, -0.5f, 0.5f), Random(rng, channels, 0.5f, 1.5f), Random(rng, channels, -0.5f, 0.5f), Random(rng, Rows * channels, -1, 1));
        foreach (bool withBias in new[] { false, true })
            foreach (bool map in new[] { false, true })
                foreach (bool add in new[] { false, true })
                    foreach (bool relu in new[] { false, true })
                    {
                        var expected = new float[y0.Length];
                        for (int i = 0; i < y0.Length; i++)
                        {
                            int c = i % channels;
                            float t = withBias ? y0[i] + bias[c] : y0[i];
                            if (map) t = MathF.FusedMultiplyAdd(t, a[c], b[c]);
                            if (add) t += residual[i];
                            expected[i] = relu ? Math.Max(t, 0f) : t;
                        }
                        var y = y0.ToArray();
                        ChannelKernels.BiasAffineRelu(y, channels, withBias ? bias : default, map ? a : [], map ? b : [], relu, add ? residual : default);
                        Assert.Equal(expected, y);
                        if (add) continue;   // the split form has no residual
                        y = y0.ToArray();
                        ChannelKernels.BiasAffineRelu(new ManagedBackend(2), y, channels, withBias ? bias : default, map ? a : [], map ? b : [], relu);
                        Assert.Equal(expected, y);
                    }
    }

    /// <summary>The sums' chunks are set by the rows alone, each summed on its own and added in order: any thread count, the same doubles.</summary>
    [Theory]
    [InlineData(5, 7000)]
    [InlineData(16, 5000)]
    [InlineData(64, 3136)]
    public void Sums_are_the_same_to_the_bit_on_any_number_of_threads(int channels, int rows)
    {
        var rng = new Rng(17);
        var (x, z) = (Random(rng, rows * channels, -1, 3), Random(rng, rows * channels, -2, 2));
        var (e, f, g, h) = (Random(rng, channels, 0.5f, 1.5f), Random(rng, channels, -0.5f, 0.5f), Random(rng, channels, 0.5f, 1.5f), Random(rng, channels, -0.5f, 0.5f));
        (double[], double[]) On(int threads, bool mask)
        {
            var (first, second) = (new double[channels], new double[channels]);
            if (mask) ChannelKernels.Sums(new ManagedBackend(threads), x, z, channels, first, second, ChannelKernels.Scratch(channels, threads), e, f, ChannelActivation.Relu, g, h);
            else ChannelKernels.Sums(new ManagedBackend(threads), x, x, channels, first, second, ChannelKernels.Scratch(channels, threads));
            return (first, second);
        }
        foreach (bool mask in new[] { false, true })
        {
            var (first, second) = On(1, mask);
            foreach (int threads in new[] { 2, 3 })
            {
                var (otherFirst, otherSecond) = On(threads, mask);
                Assert.Equal(first, otherFirst);
                Assert.Equal(second, otherSecond);
            }
        }
    }

    /// <summary>Float sums of 64 rows, then double: within a few float roundings of the terms' magnitude.</summary>
    private static void Near(double expected, double actual, double magnitude) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-6 * magnitude + 1e-9, $"{actual} vs {expected}");
}
