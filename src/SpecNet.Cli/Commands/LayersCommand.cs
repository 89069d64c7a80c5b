using System.CommandLine;
using SpecNet.Checking;
using SpecNet.Layers;
using SpecNet.Schema;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet layers`: every layer kind and block with its options and defaults, from the registry the compiler uses.</summary>
public static class LayersCommand
{
    public static Command Create()
    {
        var command = new Command("layers", "List every layer kind and block with its options, their types, ranges and defaults.\n\nExample: specnet layers");
        command.SetAction(result =>
        {
            var o = result.InvocationConfiguration.Output;
            Table(o, "every layer also takes", LayerRegistry.CommonOptions);
            foreach (var kind in LayerRegistry.Kinds) Table(o, $"{kind.Name}: {kind.Summary}", kind.Options);
            o.WriteLine();
            o.WriteLine("Blocks: each is one entry of a layer list, with one input and one output.");
            Table(o, $"{Blocks.Residual}: activation(layers(x) + shortcut(x))", Blocks.ResidualOptions);
            Table(o, $"{Blocks.Parallel}: branches that each read the block's input, then merged", Blocks.ParallelOptions);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A heading, then one line per option, its columns as wide as this table needs.</summary>
    private static void Table(TextWriter o, string heading, IReadOnlyList<OptionInfo> options)
    {
        o.WriteLine(heading);
        var rows = options.Select(Columns).ToList();
        if (rows.Count == 0) return;
        int name = rows.Max(c => c.Name.Length), type = rows.Max(c => c.Type.Length), @default = rows.Max(c => c.Default.Length);
        foreach (var c in rows) o.WriteLine($"    {c.Name.PadRight(name)}  {c.Type.PadRight(type)}  {c.Default.PadRight(@default)}  {c.Doc}");
    }

    private static (string Name, string Type, string Default, string Doc) Columns(OptionInfo option)
    {
        var type = option.Type is OptionType.Int or OptionType.Number && option.TypeText is "int" && option.Min > int.MinValue
            ? $"int in [{option.Min}, {(option.Max >= int.MaxValue ? "..." : OptionInfo.Format(option.Max))}]" : option.TypeText;
        var @default = option.Required ? "required" : option.DefaultText is { } d ? $"default {d}" : "optional";
        return (option.Name, type, @default, option.Doc);
    }
}
