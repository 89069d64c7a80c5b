using System.Text.Json;
using SpecNet.Checking;
using SpecNet.Planning;
using SpecNet.Tests.Cli;

namespace SpecNet.Tests.Checking;

/// <summary>Graph specs: names inside blocks, structure in the hash, memory that follows the widest cut, check and diff on graphs.</summary>
public class GraphSpecTests
{
    private static ModelSpec Compile(string text)
    {
        var c = SpecCompiler.Compile(text, "g.yaml");
        Assert.True(c.Success, c.Render());
        return c.Model!;
    }

    private static string Residual(int repeat) => $$"""
        input: [8, 8, 4]
        layers:
          - conv2d: { filters: 4, kernel_size: 3, padding: same, name: stem }
          - residual:
              layers:
                - conv2d: { filters: 4, kernel_size: 3, padding: same }
                - batch_norm
                - conv2d: { filters: 4, kernel_size: 3, padding: same, name: inner }
              activation: relu
              repeat: {{repeat}}
          - parallel:
              branches:
                - [ conv2d: { filters: 2, kernel_size: 1 } ]
                - []
          - global_avg_pool2d
          - dense: { units: 3, activation: softmax }
        """;

    [Fact]
    public void Layers_inside_blocks_are_named_by_their_scope()
    {
        var names = Compile(Residual(2)).Layers.Select(l => l.Name).ToList();
        Assert.Equal([
            "stem",
            "residual_1/1/conv2d_1", "residual_1/1/batch_norm_1", "residual_1/1/inner", "residual_1/1/add", "residual_1/1/relu",
            "residual_1/2/conv2d_1", "residual_1/2/batch_norm_1", "residual_1/2/inner", "residual_1/2/add", "residual_1/2/relu",
            "parallel_1/branch_1/conv2d_1", "parallel_1/concatenate",
            "global_avg_pool2d_1", "dense_1"], names);
        var resnet = SpecCompiler.CompileFile(TestPaths.Repo("specs", "fashion-resnet.yaml")).Model!;
        Assert.Contains(resnet.Layers, l => l.Name == "residual_2/shortcut/conv2d_1");
        Assert.Equal(["stem.weight", "batch_norm_1.gamma"], ParameterSet.Initialize(resnet, 1).Slots.Take(2).Select(s => s.Name));
        Assert.Contains(ParameterSet.Initialize(resnet, 1).Slots, s => s.Name == "residual_3/shortcut/batch_norm_1.moving_variance");
    }

    [Fact]
    public void Inputs_may_name_a_block_for_its_output()
    {
        const string text = """
            input: [8, 8, 4]
            layers:
              - conv2d: { filters: 4, kernel_size: 3, padding: same, name: stem }
              - residual: { layers: [ conv2d: { filters: 4, kernel_size: 3, padding: same } ], activation: relu, name: block }
              - parallel: { branches: [ [ conv2d: { filters: 4, kernel_size: 1 } ], [] ], merge: add }
              - concatenate: { inputs: [stem, block, parallel_1] }
              - global_avg_pool2d
              - dense: { units: 3, activation: softmax }
            """;
        var byBlock = Compile(text);
        var concatenate = byBlock.Layers.Single(l => l.Name == "concatenate_1");
        Assert.Equal(["stem", "block/relu", "parallel_1/add"], concatenate.Sources.Select(l => l!.Name));
        Assert.Equal([8, 8, 12], new[] { concatenate.Output.Height, concatenate.Output.Width, concatenate.Output.Channels });
        // The same graph as naming the blocks' last layers.
        Assert.Equal(byBlock.StructuralHash, Compile(text.Replace("[stem, block, parallel_1]", "[stem, block/relu, parallel_1/add]")).StructuralHash);

        var later = SpecCompiler.Compile(text.Replace("[stem, block, parallel_1]", "[stem, block, parallel_2]")
            .Replace("  - global_avg_pool2d", "  - parallel: { branches: [ [], [] ], merge: add }\n  - global_avg_pool2d"), "g.yaml");
        Assert.Contains("inputs names 'parallel_2', which comes later (line 7)", later.Render());
        var clash = SpecCompiler.Compile(text.Replace("name: block", "name: stem"), "g.yaml");
        Assert.Contains("two layers are named 'stem' (the first at line 3)", clash.Render());
        var broken = SpecCompiler.Compile(text.Replace("activation: relu, name: block", "activation: relu, name: block, inputs: [nowhere]"), "g.yaml");
        Assert.Single(broken.Diagnostics, d => d.Severity == SpecNet.Diagnostics.Severity.Error);   // the block's own error, not one more where it is read
    }

    [Fact]
    public void Plain_lists_keep_their_hash_and_graphs_hash_their_wiring()
    {
        const string plain = "input: [4]\nlayers:\n  - dense: { units: 3, name: a }\n  - dense: { units: 3, name: b }\n  - dense: { units: 2, activation: softmax }\n";
        var h = Compile(plain).StructuralHash;
        Assert.Equal(h, Compile(plain.Replace("name: b }", "name: b, inputs: [previous] }")).StructuralHash); // the same graph
        Assert.False(Compile(plain).IsGraph);
        var rewired = Compile(plain.Replace("name: b }", "name: b, inputs: [input] }").Replace("units: 3, name: b", "units: 3, name: b"));
        Assert.True(rewired.IsGraph);
        Assert.NotEqual(h, rewired.StructuralHash); // b reads the input instead of a
        Assert.Equal("41740c2dd54925b6", SpecCompiler.CompileFile(TestPaths.Repo("specs", "mnist-cnn.yaml")).Model!.StructuralHash); // as 0.1 wrote it
    }

    [Fact]
    public void Memory_follows_the_widest_cut_not_the_number_of_blocks()
    {
        var one = Compile(Residual(1));
        var eight = Compile(Residual(8));
        Assert.Equal(new BufferLayout(one, training: false).ActivationFloats, new BufferLayout(eight, training: false).ActivationFloats);
        Assert.Equal(new BufferLayout(one, training: true).GradientFloats, new BufferLayout(eight, training: true).GradientFloats);
        // training keeps every activation for backward: that part grows with depth, as in any framework
        Assert.True(new BufferLayout(eight, training: true).ActivationFloats > new BufferLayout(one, training: true).ActivationFloats);
    }

    [Fact]
    public void Check_json_lists_every_layers_inputs()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("g.yaml"), Residual(1));
        var r = CliRunner.Run("check", dir.File("g.yaml"), "--json");
        Assert.True(r.ExitCode == 0, r.All);
        var layers = JsonDocument.Parse(r.Output).RootElement.GetProperty("layers").EnumerateArray()
            .ToDictionary(l => l.GetProperty("name").GetString()!, l => l.GetProperty("inputs").EnumerateArray().Select(i => i.GetString()).ToList());
        Assert.Equal(["input"], layers["stem"]);
        Assert.Equal(["inner", "stem"], layers["residual_1/add"]); // a name given in a block is used as written
        Assert.Equal(["parallel_1/branch_1/conv2d_1", "residual_1/relu"], layers["parallel_1/concatenate"]);
        var text = CliRunner.Run("check", dir.File("g.yaml"));
        Assert.Contains("Connected to", text.Output);
        Assert.Contains("for inference (buffers reused once dead)", text.Output);
    }

    [Fact]
    public void A_block_added_is_one_change_in_diff()
    {
        var a = Compile(Residual(1));
        var b = Compile(Residual(1).Replace("  - parallel:", "  - residual: { layers: [ conv2d: { filters: 4, kernel_size: 3, padding: same } ] }\n  - parallel:"));
        var changes = StructureDiff.Layers(a, b);
        Assert.Equal(["same", "same", "added", "same", "same", "same"], changes.Select(c => c.Change));
        Assert.Equal("residual", changes[2].B!.Kind);
        Assert.Equal(148, changes[2].ParamsDelta);
        var wider = Compile(Residual(1).Replace("name: inner }", "name: inner, use_bias: false }"));
        var changed = StructureDiff.Layers(a, wider).Single(c => c.Change == "changed");
        Assert.Equal("residual_1", changed.A!.Name);
        Assert.Contains("inner: use_bias true -> false", changed.Details);
    }

    [Fact]
    public void A_graph_trains_and_ships_like_a_stack()
    {
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path, epochs: 3, layers: """
              - conv2d: { filters: 4, kernel_size: 3, padding: same, name: stem }
              - residual:
                  layers: [ conv2d: { filters: 4, kernel_size: 3, padding: same, activation: relu }, batch_norm ]
                  activation: relu
              - parallel:
                  branches: [ [ depthwise_conv2d: { kernel_size: 3, padding: same } ], [ max_pool2d: { pool_size: 3, strides: 1, padding: same } ] ]
                  merge: add
              - global_avg_pool2d
              - dense: { units: 3, activation: softmax }
            """);
        var train = CliRunner.Run("train", spec, "--json");
        Assert.True(train.ExitCode == 0, train.All);
        var losses = train.Output.Split('\n').Where(l => l.Contains("\"event\":\"epoch\"")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("loss").GetDouble()).ToList();
        Assert.True(losses[^1] < losses[0] * 0.8, string.Join(", ", losses));
        var weights = dir.File("patterns.safetensors");
        Assert.Equal(0, CliRunner.Run("verify", spec, weights).ExitCode);
        Assert.Contains("residual_1/conv2d_1.weight", CliRunner.Run("inspect", weights).Output);
        var eval = CliRunner.Run("eval", weights, "--json"); // the weights file alone
        Assert.True(eval.ExitCode == 0, eval.All);
        Assert.True(JsonDocument.Parse(eval.Output).RootElement.GetProperty("accuracy").GetDouble() > 0.6, eval.Output);
    }
}
