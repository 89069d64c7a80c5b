using MathNet.Numerics.Distributions;

namespace SpecNet.Comparing;

/// <summary>A value with a two-sided 95% confidence interval.</summary>
public readonly record struct Estimate(double Value, double Low, double High);

/// <summary>The statistics `specnet diff` reports; every formula is the textbook one, named.</summary>
public static class Statistics
{
    public const double Z95 = 1.959963984540054;

    /// <summary>Wilson score interval for k successes in n trials (better than Wald near 0 and 1).</summary>
    public static Estimate Wilson(int k, int n, double z = Z95)
    {
        if (n == 0) return new Estimate(double.NaN, 0, 1);
        double p = k / (double)n, z2 = z * z;
        double center = (p + z2 / (2 * n)) / (1 + z2 / n);
        double half = z * Math.Sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / (1 + z2 / n);
        return new Estimate(p, center - half, center + half);
    }

    /// <summary>
    /// McNemar's exact test on paired outcomes: of the examples the two models disagree on, A alone
    /// was right on <paramref name="onlyA"/> and B alone on <paramref name="onlyB"/>. Under the null
    /// hypothesis each discordant example is a fair coin: p = 2 P(X ≤ min) for X ~ Binomial(n, 1/2), capped at 1.
    /// </summary>
    public static double McNemarExact(int onlyA, int onlyB)
    {
        int n = onlyA + onlyB;
        if (n == 0) return 1;
        return Math.Min(1, 2 * Binomial.CDF(0.5, n, Math.Min(onlyA, onlyB)));
    }

    /// <summary>
    /// Paired difference of two accuracies on the same n examples, B - A = (onlyB - onlyA) / n, with the
    /// Wald interval for paired proportions: SE = sqrt(onlyA + onlyB - (onlyB - onlyA)² / n) / n.
    /// </summary>
    public static Estimate PairedDifference(int onlyA, int onlyB, int n)
    {
        double d = (onlyB - onlyA) / (double)n;
        double se = Math.Sqrt(Math.Max(0, onlyA + onlyB - Math.Pow(onlyB - onlyA, 2) / n)) / n;
        return new Estimate(d, d - Z95 * se, d + Z95 * se);
    }

    /// <summary>Mean of several values with a Student-t interval (n - 1 degrees of freedom); the p-value of a one-sample t-test against 0.</summary>
    public static (Estimate Mean, double P) MeanWithT(IReadOnlyList<double> values)
    {
        int n = values.Count;
        double mean = values.Average();
        if (n < 2) return (new Estimate(mean, double.NaN, double.NaN), double.NaN);
        double sd = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (n - 1));
        double se = sd / Math.Sqrt(n);
        if (se == 0) return (new Estimate(mean, mean, mean), mean == 0 ? 1 : 0);
        double t = StudentT.InvCDF(0, 1, n - 1, 0.975);
        double p = 2 * (1 - StudentT.CDF(0, 1, n - 1, Math.Abs(mean / se)));
        return (new Estimate(mean, mean - t * se, mean + t * se), p);
    }
}
