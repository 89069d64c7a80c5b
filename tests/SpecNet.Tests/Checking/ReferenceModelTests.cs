using SpecNet.Checking;

namespace SpecNet.Tests.Checking;

/// <summary>The tutorial's two models, exactly as seed.md gives their shapes and parameter counts.</summary>
public class ReferenceModelTests
{
    private static ModelSpec Compile(string spec)
    {
        var c = SpecCompiler.CompileFile(TestPaths.Repo("specs", spec));
        Assert.True(c.Success, c.Render());
        return c.Model!;
    }

    [Fact]
    public void Pooled_model_has_the_tutorials_shapes_and_110474_parameters()
    {
        var m = Compile("mnist-cnn.yaml");
        Assert.Equal(["26x26x32", "13x13x32", "11x11x64", "5x5x64", "3x3x128", "1x1x128", "128", "128", "10"],
            m.Layers.Select(l => l.Output.ToString()));
        Assert.Equal([320L, 0, 18496, 0, 73856, 0, 0, 16512, 1290], m.Layers.Select(l => l.ParameterCount));
        Assert.Equal(110_474, m.TotalParameters);
        Assert.Equal(110_474, m.TrainableParameters);
    }

    [Fact]
    public void Strided_model_has_the_tutorials_shapes_and_159626_parameters()
    {
        var m = Compile("mnist-strided.yaml");
        Assert.Equal(["13x13x32", "6x6x64", "2x2x128", "512", "128", "10"], m.Layers.Select(l => l.Output.ToString()));
        Assert.Equal(159_626, m.TotalParameters);
    }

    [Fact]
    public void Training_section_is_bound_with_keras_defaults()
    {
        var t = Compile("mnist-cnn.yaml").Training;
        var adam = Assert.IsType<AdamSpec>(t.Optimizer);
        Assert.Equal((0.001f, 0.9f, 0.999f, 1e-7f), ((float)adam.LearningRate.At(0), adam.Beta1, adam.Beta2, adam.Epsilon));
        Assert.Equal((LossKind.CategoricalCrossentropy, 5, 64, 42), (t.Loss.Kind, t.Epochs, t.BatchSize, t.Seed));
    }

    [Fact]
    public void Input_shape_may_be_written_as_a_bare_list()
    {
        var a = SpecCompiler.Compile("input: [28, 28, 1]\nlayers:\n  - flatten\n  - dense: { units: 10, activation: softmax }\n", "a.yaml");
        var b = SpecCompiler.Compile("input: { shape: [28, 28, 1] }\nlayers:\n  - flatten\n  - dense: { units: 10, activation: softmax }\n", "b.yaml");
        Assert.True(a.Success, a.Render());
        Assert.Equal(b.Model!.StructuralHash, a.Model!.StructuralHash);
    }

    [Fact]
    public void Structural_hash_ignores_comments_and_training_but_not_layers()
    {
        var text = File.ReadAllText(TestPaths.Repo("specs", "mnist-cnn.yaml"));
        var a = SpecCompiler.Compile(text, "a.yaml").Model!;
        var b = SpecCompiler.Compile("# a comment\n" + text.Replace("epochs: 5", "epochs: 9"), "b.yaml").Model!;
        var c = SpecCompiler.Compile(text.Replace("units: 128", "units: 64"), "c.yaml").Model!;
        Assert.Equal(a.StructuralHash, b.StructuralHash);
        Assert.NotEqual(a.StructuralHash, c.StructuralHash);
    }

    /// <summary>Every example spec compiles, and its summary matches the reviewed expected file.</summary>
    [Theory]
    [MemberData(nameof(Specs))]
    public void Example_spec_summary_matches_expected(string file)
    {
        var path = TestPaths.Repo("specs", file);
        var c = SpecCompiler.CompileFile(path);
        Assert.True(c.Success, c.Render());
        var text = SpecNet.Planning.ModelSummary.ToText(c.Model!) + c.Render("specs/" + file);
        TestPaths.AssertGolden(TestPaths.Tests("Planning", "summaries", Path.ChangeExtension(file, ".txt")), text);
    }

    public static TheoryData<string> Specs() => new(Directory.GetFiles(TestPaths.Repo("specs"), "*.yaml").Select(Path.GetFileName).Order()!);
}
