using SpecNet.Comparing;

namespace SpecNet.Tests.Comparing;

/// <summary>Each statistic against values computed by hand (closed forms, in the comments).</summary>
public class StatisticsTests
{
    [Theory]
    // p = 0.9, z = 1.95996: centre (p + z²/2n)/(1 + z²/n), half-width z·sqrt(p(1-p)/n + z²/4n²)/(1 + z²/n)
    [InlineData(90, 100, 0.8256343, 0.9447709)]
    [InlineData(0, 20, 0.0, 0.1611252)]
    [InlineData(1915, 2000, 0.9477471, 0.9654988)]
    public void Wilson_interval(int k, int n, double low, double high)
    {
        var e = Statistics.Wilson(k, n);
        Assert.Equal(k / (double)n, e.Value, 9);
        Assert.Equal(low, e.Low, 6);
        Assert.Equal(high, e.High, 6);
    }

    [Theory]
    // discordant 1 vs 9: n = 10, P(X <= 1) = (1 + 10) / 2^10, p = 2 * 11/1024
    [InlineData(1, 9, 0.021484375)]
    [InlineData(9, 1, 0.021484375)]
    // 22 vs 32: 2 * sum_{i <= 22} C(54, i) / 2^54
    [InlineData(22, 32, 0.2203285)]
    [InlineData(5, 5, 1.0)]
    [InlineData(0, 0, 1.0)]
    public void McNemar_exact_p_value(int onlyA, int onlyB, double p) =>
        Assert.Equal(p, Statistics.McNemarExact(onlyA, onlyB), 6);

    [Fact]
    public void Paired_difference_interval()
    {
        // d = (32 - 22) / 2000 = 0.005; SE = sqrt(54 - 100/2000) / 2000
        var e = Statistics.PairedDifference(22, 32, 2000);
        Assert.Equal(0.005, e.Value, 9);
        Assert.Equal(-0.0021980, e.Low, 6);
        Assert.Equal(0.0121980, e.High, 6);
    }

    [Fact]
    public void Mean_with_t_interval_and_p_value()
    {
        // mean 0.02, sd 0.01, se 0.01/sqrt 3; t(0.975, 2) = 4.302653; t = 3.4641, p = 2(1 - F2(t)) with F2(t) = 1/2 + t / (2 sqrt(2 + t²))
        var (mean, p) = Statistics.MeanWithT([0.01, 0.02, 0.03]);
        Assert.Equal(0.02, mean.Value, 9);
        Assert.Equal(0.02 - 4.302653 * 0.01 / Math.Sqrt(3), mean.Low, 5);
        Assert.Equal(0.02 + 4.302653 * 0.01 / Math.Sqrt(3), mean.High, 5);
        double t = 0.02 / (0.01 / Math.Sqrt(3));
        Assert.Equal(2 * (1 - (0.5 + t / (2 * Math.Sqrt(2 + t * t)))), p, 6);
    }

    [Theory]
    [InlineData(0.008, 0.003, 1, "B is better by 0.8 points, p = 0.003; " + Comparison.OneSeedCaveat)]
    [InlineData(0.008, 0.3, 1, "no significant difference at 0.05 (B ahead by 0.8 points, p = 0.300); " + Comparison.OneSeedCaveat)]
    [InlineData(-0.0125, 0.0001, 3, "A is better by 1.25 points, p < 0.001")]
    [InlineData(0.005, 0.22, 3, "no significant difference at 0.05 (B ahead by 0.5 points, p = 0.220)")]
    public void Verdict_is_one_line(double delta, double p, int seeds, string expected) =>
        Assert.Equal(expected, Comparison.Verdict(delta, p, seeds));
}
