using SpecNet.Layers;

namespace SpecNet.Tests.Layers;

/// <summary>
/// MobileNet's piecewise activations over all their pieces. The layer gradient checks feed inputs in [-1, 1], where relu6 is
/// relu and hard_sigmoid a line; here inputs run past -3, 0, 3 and 6, where the pieces meet. Forward against PyTorch's
/// definitions (ReLU6, Hardsigmoid, Hardswish), backward against a central difference of the forward.
/// </summary>
public class PiecewiseActivationTests
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
}
