using SpecNet.Kernels;
using SpecNet.Layers;

namespace SpecNet.Tests.Layers;

/// <summary>
/// layer_norm on a batch of many chunks (19 channels: two vectors of 8 and a tail of 3), some rows far from zero: y, dx, dgamma and
/// dbeta against their definitions in doubles, and on two threads the same floats as on one.
/// </summary>
public class LayerNormTests
{
    private const int Batch = 40, Cells = 12 * 12, C = 19;

    [Fact]
    public void Every_row_is_normalised_and_the_gradients_are_its_definitions_on_any_thread_count()
    {
        var layer = GradientCheckTests.Compile($"input: [12, 12, {C}]\nlayers:\n  - layer_norm\ntraining: {{ loss: mse }}\n").Layers[0];
        var rng = new Rng(5);
        int rows = Batch * Cells;
        // every third row sits at 1000 with a spread of 1: the variance as E[x²] - E[x]² would lose it to rounding
        var x = Enumerable.Range(0, rows * C).Select(i => (i / C % 3 == 0 ? 1000 : 0) + rng.NextFloat() * 2 - 1).ToArray();
        var dy = Enumerable.Range(0, rows * C).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        var gamma = Enumerable.Range(0, C).Select(_ => rng.NextFloat() + 0.5f).ToArray();
        var beta = Enumerable.Range(0, C).Select(_ => rng.NextFloat() - 0.5f).ToArray();
        var one = Run(layer, 1, x, dy, gamma, beta);
        var two = Run(layer, 2, x, dy, gamma, beta);
        Assert.Equal(one.Y, two.Y);
        Assert.Equal(one.Dx, two.Dx);
        Assert.Equal(one.DGamma, two.DGamma);
        Assert.Equal(one.DBeta, two.DBeta);

        var (dGamma, dBeta) = (new double[C], new double[C]);
        for (int r = 0; r < rows; r++)
        {
            var row = Enumerable.Range(0, C).Select(i => (double)x[r * C + i]).ToArray();
            double mean = row.Average(), invStd = 1 / Math.Sqrt(row.Sum(v => (v - mean) * (v - mean)) / C + 0.001);
            var xhat = row.Select(v => (v - mean) * invStd).ToArray();
            var dxhat = Enumerable.Range(0, C).Select(i => dy[r * C + i] * (double)gamma[i]).ToArray();
            double meanDxhat = dxhat.Average(), meanDot = dxhat.Zip(xhat, (a, b) => a * b).Average();
            for (int i = 0; i < C; i++)
            {
                int at = r * C + i;
                AssertNear(xhat[i] * gamma[i] + beta[i], one.Y[at], 2e-3, $"y at row {r}, channel {i}");
                AssertNear((dxhat[i] - meanDxhat - xhat[i] * meanDot) * invStd, one.Dx[at], 2e-3, $"dx at row {r}, channel {i}");
                dGamma[i] += dy[at] * xhat[i];
                dBeta[i] += dy[at];
            }
        }
        for (int i = 0; i < C; i++)
        {
            AssertNear(dGamma[i], one.DGamma[i], 1e-3 * Math.Sqrt(rows), $"dgamma[{i}]");
            AssertNear(dBeta[i], one.DBeta[i], 1e-4 * Math.Sqrt(rows), $"dbeta[{i}]");
        }
    }

    private static void AssertNear(double expected, float actual, double tolerance, string what) =>
        Assert.True(Math.Abs(expected - actual) <= tolerance, $"{what}: {actual}, its definition {expected}");

    private static (float[] Y, float[] Dx, float[] DGamma, float[] DBeta) Run(Layer layer, int threads, float[] x, float[] dy, float[] gamma, float[] beta)
    {
        var kernels = new ManagedBackend(threads);
        var (dGamma, dBeta) = (new float[C], new float[C]);
        var ctx = new LayerContext
        {
            Kernels = kernels, Params = [gamma, beta], Grads = [dGamma, dBeta], Random = new Rng(1), Batch = Batch, Training = true,
            State = layer.CreateState(Batch, true, kernels),
        };
        var (y, dx) = (new float[x.Length], new float[x.Length]);
        layer.Forward(ctx, x, y);
        layer.Backward(ctx, x, y, dy, dx);
        return (y, dx, dGamma, dBeta);
    }
}
