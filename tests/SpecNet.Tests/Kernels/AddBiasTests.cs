using SpecNet.Kernels;

namespace SpecNet.Tests.Kernels;

/// <summary>A bias added to every row, narrow rows in blocks against the bias repeated: each float is its row's x + b, a partial row untouched.</summary>
public class AddBiasTests
{
    [Theory]
    [InlineData(1, 1000)]
    [InlineData(3, 7)]
    [InlineData(6, 4704)]     // LeNet's first convolution: 28x28 positions of 6 channels
    [InlineData(63, 50)]
    [InlineData(64, 9)]
    [InlineData(100, 3)]
    public void Every_row_gets_the_bias(int channels, int rows)
    {
        var rng = new Rng((ulong)channels);
        var bias = Enumerable.Range(0, channels).Select(_ => rng.NextFloat() - 0.5f).ToArray();
        var x = Enumerable.Range(0, channels * rows + channels / 2).Select(_ => rng.NextFloat() * 4 - 2).ToArray();   // and half a row
        var expected = x.Select((v, i) => i < channels * rows ? v + bias[i % channels] : v).ToArray();
        Elementwise.AddBias(x, bias);
        Assert.Equal(expected, x);
    }
}
