using SpecNet.Checking;
using SpecNet.Diagnostics;
using SpecNet.Parsing;

namespace SpecNet.Tests.Parsing;

public class SpecParserTests
{
    [Fact]
    public void Nodes_keep_line_and_column()
    {
        var bag = new DiagnosticBag();
        var root = (MappingNode)SpecParser.Parse("name: x\nlayers:\n  - dense: { units: 3 }\n", bag)!;
        var layers = (SequenceNode)root.Find("layers")!.Value;
        var dense = (MappingNode)layers.Items[0];
        Assert.Equal((3, 5), (dense.Entries[0].Key.Span.Line, dense.Entries[0].Key.Span.Column));
        var units = ((MappingNode)dense.Entries[0].Value).Entries[0].Value;
        Assert.Equal((3, 21), (units.Span.Line, units.Span.Column));
    }

    [Fact]
    public void Alias_bomb_is_refused_without_expanding()
    {
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + string.Join("", Enumerable.Range(1, 9).Select(i => $"a{i}: &a{i} [*a{(i == 1 ? "" : i - 1)}, *a{(i == 1 ? "" : i - 1)}, *a{(i == 1 ? "" : i - 1)}]\n"));
        var c = SpecCompiler.Compile(bomb, "bomb.yaml");
        Assert.False(c.Success);
        Assert.Contains(c.Diagnostics, d => d.Id == DiagnosticIds.UnsupportedYaml);
    }

    [Fact]
    public void Deep_nesting_is_an_error_not_a_stack_overflow()
    {
        var deep = "layers: " + new string('[', 10_000) + new string(']', 10_000) + "\n";
        var c = SpecCompiler.Compile(deep, "deep.yaml");
        Assert.Contains(c.Diagnostics, d => d.Id == DiagnosticIds.UnsupportedYaml && d.Message.Contains("nests deeper"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("# only a comment\n")]
    public void Empty_spec_is_one_clear_error(string text)
    {
        var c = SpecCompiler.Compile(text, "empty.yaml");
        var d = Assert.Single(c.Diagnostics);
        Assert.Equal("the spec is empty", d.Message);
    }

    [Fact]
    public void Scalar_root_is_reported()
    {
        var c = SpecCompiler.Compile("just text\n", "s.yaml");
        Assert.Contains("a spec is a map of sections", Assert.Single(c.Diagnostics).Message);
    }

    [Fact]
    public void Second_document_is_reported()
    {
        var c = SpecCompiler.Compile("name: a\n---\nname: b\n", "two.yaml");
        Assert.Contains(c.Diagnostics, d => d.Id == DiagnosticIds.UnsupportedYaml && d.Span.Line == 2);
    }
}
