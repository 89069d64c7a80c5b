using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using SpecNet.Checking;
using SpecNet.Cli.Commands;
using SpecNet.Data;
using SpecNet.Diagnostics;
using SpecNet.Kernels;
using SpecNet.Layers;
using SpecNet.Parsing;
using SpecNet.Planning;
using SpecNet.Schema;
using SpecNet.Training;

namespace SpecNet.Tests.Cli;

/// <summary>Schema, init, reports, progress options, version and help, and the installable tool.</summary>
[Collection(EnvironmentCollection.Name)] // sets SPECNET_CACHE
public class ExperienceTests
{
    private static JsonSchema Schema() => JsonSchema.FromText(SchemaCommand.SchemaText());

    /// <summary>YAML through SpecNet's own parser into JSON, with YAML's scalar typing, for schema validation.</summary>
    private static JsonNode? ToJson(SyntaxNode node) => node switch
    {
        MappingNode m => new JsonObject(m.Entries.Select(e => KeyValuePair.Create(e.Key.Value, ToJson(e.Value)))),
        SequenceNode s => new JsonArray(s.Items.Select(ToJson).ToArray()),
        ScalarNode { IsNull: true } => null,
        ScalarNode { Quoted: true } q => JsonValue.Create(q.Value),
        ScalarNode q when long.TryParse(q.Value, out var l) => JsonValue.Create(l),
        ScalarNode q when double.TryParse(q.Value, System.Globalization.CultureInfo.InvariantCulture, out var d) => JsonValue.Create(d),
        ScalarNode q when q.Value is "true" or "false" => JsonValue.Create(q.Value == "true"),
        ScalarNode q => JsonValue.Create(q.Value),
        _ => throw new InvalidOperationException(),
    };

    private static EvaluationResults Validate(string yaml) =>
        Schema().Evaluate(JsonDocument.Parse(ToJson(SpecParser.Parse(yaml, new DiagnosticBag())!)?.ToJsonString() ?? "null").RootElement,
            new EvaluationOptions { OutputFormat = OutputFormat.List });

    public static TheoryData<string> Specs() => new(Directory.GetFiles(TestPaths.Repo("specs"), "*.yaml").Select(Path.GetFileName).Order()!);

    [Theory]
    [MemberData(nameof(Specs))]
    public void Every_example_spec_is_valid_under_the_schema(string file)
    {
        var result = Validate(File.ReadAllText(TestPaths.Repo("specs", file)));
        Assert.True(result.IsValid, JsonSerializer.Serialize((result.Details ?? []).Where(d => d.Errors is { Count: > 0 }).Select(d => $"{d.InstanceLocation}: {string.Join("; ", d.Errors!.Values)}")));
    }

    [Theory]
    [InlineData("SN1005-unknown-layer-kind.yaml")]
    [InlineData("SN1003-unknown-option.yaml")]
    [InlineData("SN1008-unknown-name.yaml")]
    [InlineData("SN1002-wrong-node-type.yaml")]
    public void Schema_rejects_what_the_compiler_rejects(string golden) =>
        Assert.False(Validate(File.ReadAllText(TestPaths.Tests("Checking", "diagnostics", golden))).IsValid);

    [Fact]
    public void Schema_has_every_kind_with_exactly_its_options()
    {
        var schema = JsonNode.Parse(SchemaCommand.SchemaText())!;
        var items = schema["definitions"]!["layer"]!["anyOf"]!.AsArray();
        foreach (var kind in LayerRegistry.Kinds)
        {
            var entry = items.Single(i => i!["required"]?[0]?.GetValue<string>() == kind.Name)!;
            var map = entry["properties"]![kind.Name]!;
            var properties = (map["properties"] ?? map["anyOf"]![0]!["properties"])!.AsObject().Select(p => p.Key).Order();
            Assert.Equal(kind.Options.Select(o => o.Name).Concat(LayerRegistry.CommonOptions.Select(o => o.Name)).Order(), properties);
        }
        foreach (var (block, options) in new[] { ("residual", SpecNet.Checking.Blocks.ResidualOptions), ("parallel", SpecNet.Checking.Blocks.ParallelOptions) })
        {
            var entry = items.Single(i => i!["required"]?[0]?.GetValue<string>() == block)!;
            Assert.Equal(options.Select(o => o.Name).Order(), entry["properties"]![block]!["properties"]!.AsObject().Select(p => p.Key).Order());
        }
    }

    [Fact]
    public void Layers_lists_every_kind_and_block_with_defaults_as_written_in_aligned_columns()
    {
        var r = CliRunner.Run("layers");
        Assert.Equal(0, r.ExitCode);
        var lines = r.Output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        // A table: its heading, then its options' lines, each option's doc starting in the same column.
        List<string> Table(string heading) =>
            lines.SkipWhile(l => !l.StartsWith(heading, StringComparison.Ordinal)).Skip(1).TakeWhile(l => l.StartsWith("    ")).ToList();
        var tables = new List<(string Heading, IReadOnlyList<OptionInfo> Options)> { ("every layer also takes", LayerRegistry.CommonOptions) };
        tables.AddRange(LayerRegistry.Kinds.Select(k => ($"{k.Name}: ", k.Options)));
        tables.Add(("residual: ", SpecNet.Checking.Blocks.ResidualOptions));
        tables.Add(("parallel: ", SpecNet.Checking.Blocks.ParallelOptions));
        foreach (var (heading, options) in tables)
        {
            var table = Table(heading);
            Assert.Equal(options.Select(o => o.Name), table.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]));
            Assert.True(table.Select((l, i) => l.Length - options[i].Doc.Length).Distinct().Count() <= 1, $"{heading}: the docs start in different columns");
            Assert.All(table.Zip(options), p => Assert.EndsWith("  " + p.Second.Doc, p.First));
        }
        // Defaults as a user writes them, not as a float widened to double (0.300000012).
        Assert.Matches(@"^\s+alpha\s+number in \[0, 1000000\]\s+default 0\.3\s+slope", Table("leaky_relu: ")[0]);
        Assert.Contains("\"default\": 0.3\n", SchemaCommand.SchemaText().ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Committed_schema_file_is_current()
    {
        var committed = File.ReadAllText(TestPaths.Repo("specnet.schema.json")).Trim();
        Assert.True(committed == SchemaCommand.SchemaText().Trim(), "specnet.schema.json is stale: run `specnet schema > specnet.schema.json`");
    }

    [Theory]
    [InlineData("cnn")]
    [InlineData("mlp")]
    [InlineData("lenet")]
    [InlineData("resnet")]
    [InlineData("mobilenet")]
    [InlineData("convnext")]
    public void Init_writes_a_spec_that_checks_and_trains(string template)
    {
        using var dir = new TempFolder();
        var r = CliRunner.Run("init", "--template", template, "-o", dir.File("m.yaml"));
        Assert.True(r.ExitCode == 0, r.All);
        Assert.True(File.Exists(dir.File("specnet.schema.json")));
        Assert.StartsWith("# yaml-language-server: $schema=./specnet.schema.json", File.ReadAllText(dir.File("m.yaml")));
        Assert.Equal(0, CliRunner.Run("check", dir.File("m.yaml")).ExitCode);
        Assert.True(Validate(File.ReadAllText(dir.File("m.yaml"))).IsValid);
        // trains: a few steps on random 28x28 digits-shaped data
        var model = SpecCompiler.CompileFile(dir.File("m.yaml")).Model!;
        var rng = new Rng(1);
        var pixels = new byte[256 * 784]; for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)rng.NextInt(256);
        var labels = new byte[256]; for (int i = 0; i < labels.Length; i++) labels[i] = (byte)(i % 10);
        var data = new Dataset("random", SpecNet.Schema.Shape.Spatial(28, 28, 1), pixels, labels);
        var result = new Trainer(model, ParameterSet.Initialize(model, 1), new CpuEngine(new ManagedBackend()), epochs: 2).Fit(data, null);
        Assert.True(result.Epochs.All(e => double.IsFinite(e.Loss)));
    }

    [Fact]
    public void Init_does_not_overwrite_without_force()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("m.yaml"), "mine");
        var r = CliRunner.Run("init", "-o", dir.File("m.yaml"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--force", r.Error);
        Assert.Equal("mine", File.ReadAllText(dir.File("m.yaml")));
        Assert.Equal(0, CliRunner.Run("init", "-o", dir.File("m.yaml"), "--force").ExitCode);
    }

    private static void AssertPng(string path, int minBytes)
    {
        Assert.True(File.Exists(path), path);
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > minBytes, $"{path}: {bytes.Length} bytes");
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, bytes[..4]);
        using var image = SixLabors.ImageSharp.Image.Load(path);
        Assert.True(image.Width >= 300 && image.Height >= 100, $"{path}: {image.Width}x{image.Height}");
    }

    [Fact]
    public void Train_report_and_report_command_write_pictures_and_a_page()
    {
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path, epochs: 3);
        var r = CliRunner.Run("train", spec, "--report", dir.File("report"));
        Assert.True(r.ExitCode == 0, r.All);
        foreach (var png in new[] { "loss.png", "accuracy.png", "confusion.png" }) AssertPng(Path.Combine(dir.File("report"), png), 10_000);
        Assert.True(File.Exists(Path.Combine(dir.File("report"), "misclassified.png")));
        var html = File.ReadAllText(Path.Combine(dir.File("report"), "index.html"));
        Assert.Contains("<img src=\"loss.png\"", html);
        Assert.Contains("<img src=\"confusion.png\"", html);
        Assert.Contains("conv2d_1 (conv2d)", html);
        Assert.Contains("Test set: 150 examples", html);
        Assert.Contains("<th>test loss</th><th>test accuracy</th>", html);             // no validation data: the test set's

        var again = CliRunner.Run("report", dir.File("patterns.safetensors"), "-o", dir.File("again"));
        Assert.True(again.ExitCode == 0, again.All);
        AssertPng(Path.Combine(dir.File("again"), "accuracy.png"), 10_000); // curves from the history the weights file records

        // A report written again into its folder replaces each file whole: interrupted, it leaves the last complete one.
        Replacement.AssertEveryFileReplacedWhole(dir.File("again"), () => Assert.Equal(0, CliRunner.Run("report", dir.File("patterns.safetensors"), "--out", dir.File("again")).ExitCode));
    }

    [Fact]
    public void Diff_report_overlays_both_models()
    {
        using var dir = new TempFolder();
        var a = TestData.WriteSpecWithData(dir.Path, epochs: 2);
        var b = dir.File("b.yaml");
        File.WriteAllText(b, File.ReadAllText(a).Replace("units: 16", "units: 8"));
        Environment.SetEnvironmentVariable("SPECNET_CACHE", dir.File("cache"));
        try
        {
            var r = CliRunner.Run("diff", a, b, "--report", dir.File("diff"));
            Assert.True(r.ExitCode == 0, r.All);
            AssertPng(Path.Combine(dir.File("diff"), "loss.png"), 10_000);
            Assert.Contains("Verdict", File.ReadAllText(Path.Combine(dir.File("diff"), "index.html")).Replace("verdict", "Verdict"));
            Assert.Contains("learning_rate.png", File.ReadAllText(Path.Combine(dir.File("diff"), "index.html")));
            Replacement.AssertEveryFileReplacedWhole(dir.File("diff"), () => Assert.Equal(0, CliRunner.Run("diff", a, b, "--report", dir.File("diff")).ExitCode));

            // Trained models compared from their weights have no curves: the page shows none, whatever the folder held before.
            var weights = dir.File("patterns.safetensors");
            Assert.Equal(0, CliRunner.Run("train", a, "--quiet").ExitCode);
            var fromWeights = CliRunner.Run("diff", a, a, "--weights-a", weights, "--weights-b", weights, "--report", dir.File("diff"));
            Assert.True(fromWeights.ExitCode == 0, fromWeights.All);
            Assert.Contains("no learning curves", fromWeights.Error);
            var page = File.ReadAllText(Path.Combine(dir.File("diff"), "index.html"));
            Assert.DoesNotContain("<img", page);
        }
        finally { Environment.SetEnvironmentVariable("SPECNET_CACHE", null); }
    }

    [Fact]
    public void Quiet_prints_only_the_final_line()
    {
        using var dir = new TempFolder();
        var r = CliRunner.Run("train", TestData.WriteSpecWithData(dir.Path, epochs: 2), "--quiet");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(["Weights written to"], r.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l[..18]));
    }

    [Fact]
    public void Version_and_help_with_examples_on_every_command()
    {
        var v = CliRunner.Run("--version");
        Assert.Equal(0, v.ExitCode);
        Assert.StartsWith(SpecNet.Formats.WeightsFile.Version, v.Output.Trim());
        foreach (var command in SpecNet.Cli.SpecNetCli.Build().Subcommands)
        {
            // every command that runs: the leaves, and a parent with an action of its own (sweep, beside sweep report)
            var runnable = command.Subcommands.Count == 0 || command.Action is not null ? [command] : new List<System.CommandLine.Command>();
            foreach (var c in runnable.Concat(command.Subcommands))
            {
                var args = c == command ? new[] { c.Name, "--help" } : [command.Name, c.Name, "--help"];
                var r = CliRunner.Run(args);
                Assert.True(r.ExitCode == 0, string.Join(" ", args));
                if (c.Name is not ("layers" or "schema")) Assert.Contains("Example:", r.Output);
                // An example runs from the repository as written: every file of it that is read is there
                foreach (var line in r.Output.Split('\n').Where(l => l.TrimStart().StartsWith("Example: specnet")))
                {
                    var words = line.Trim().Split(' ');
                    for (int i = 2; i < words.Length; i++)
                        if (words[i].StartsWith("specs/") || words[i].StartsWith("samples/"))
                            if (words[i - 1] is not ("-o" or "--output" or "--out" or "--onnx" or ">"))
                                // specs/*.safetensors are what training writes (git ignores them): not in a fresh clone
                                Assert.True((File.Exists(TestPaths.Repo(words[i])) || Directory.Exists(TestPaths.Repo(words[i])))
                                    && !(words[i].StartsWith("specs/") && words[i].EndsWith(".safetensors")), $"{line.Trim()}: no {words[i]} in a fresh clone");
                }
            }
        }
    }

    /// <summary>Every command that writes a file or folder takes it as -o/--output, whatever else it is called (--onnx, --out).</summary>
    [Fact]
    public void Every_output_is_dash_o()
    {
        static IEnumerable<System.CommandLine.Command> All(System.CommandLine.Command c) => c.Subcommands.SelectMany(All).Prepend(c);
        var outputs = All(SpecNet.Cli.SpecNetCli.Build())
            .SelectMany(c => c.Options.Select(o => (command: c.Name, names: o.Aliases.Append(o.Name).ToHashSet())))
            .Where(o => o.names.Overlaps(["--out", "--output", "--onnx"])).ToList();
        Assert.True(outputs.Count >= 7, string.Join(", ", outputs.Select(o => o.command)));   // train, export, import, init, report, data sample, sweep
        foreach (var (command, names) in outputs)
            Assert.True(names.IsSupersetOf(["-o", "--output"]), $"{command}: its output is {string.Join("/", names)}, not -o/--output");
    }

    /// <summary>`dotnet pack` makes a .NET tool that installs and runs as `specnet`.</summary>
    [SkippableFact]
    public void Pack_makes_an_installable_tool()
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        using var dir = new TempFolder();
        string Run(string file, params string[] args)
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            var output = p.StandardOutput.ReadToEnd();
            Assert.True(p.WaitForExit(300_000), $"{file} {string.Join(" ", args)} timed out");
            Assert.True(p.ExitCode == 0, $"{file} {string.Join(" ", args)}: {output}{err.Result}");
            return output;
        }
        Run(dotnet, "pack", TestPaths.Repo("src", "SpecNet.Cli", "SpecNet.Cli.csproj"), "-c", "Release", "-o", dir.File("nupkg"), "-p:PackageOutputPath=" + dir.File("nupkg"), "--nologo");
        Run(dotnet, "tool", "install", "SpecNet.Cli", "--tool-path", dir.File("tools"), "--add-source", dir.File("nupkg"));
        var version = Run(Path.Combine(dir.File("tools"), "specnet"), "--version");
        Assert.StartsWith(SpecNet.Formats.WeightsFile.Version, version.Trim());
        var check = Run(Path.Combine(dir.File("tools"), "specnet"), "check", TestPaths.Repo("specs", "mnist-cnn.yaml"));
        Assert.Contains("110,474", check);
    }
}

public class CompletionTests
{
    [Fact]
    public void Suggest_directive_lists_commands_and_options_for_shell_completion()
    {
        var commands = CliRunner.Run("[suggest:1]", "t");
        Assert.Contains("train", commands.Output.Split('\n'));
        var options = CliRunner.Run("[suggest:10]", "train --re");
        Assert.Contains("--resume", options.Output.Split('\n'));
    }
}
