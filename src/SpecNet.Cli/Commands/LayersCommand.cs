using System.CommandLine;
using SpecNet.Layers;
using SpecNet.Schema;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet layers`: every layer kind with its options and defaults, from the registry the compiler uses.</summary>
public static class LayersCommand
{
    public static Command Create()
    {
        var command = new Command("layers", "List every layer kind with its options, their types, ranges and defaults.\n\nExample: specnet layers");
        command.SetAction(result =>
        {
            var o = result.InvocationConfiguration.Output;
            foreach (var kind in LayerRegistry.Kinds)
            {
                o.WriteLine($"{kind.Name}: {kind.Summary}");
                foreach (var option in kind.Options) o.WriteLine(Line(option));
                o.WriteLine(Line(LayerRegistry.NameOption));
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string Line(OptionInfo option)
    {
        var type = option.Type is OptionType.Int or OptionType.Number && option.TypeText is "int" && option.Min > int.MinValue
            ? $"int in [{option.Min}, {(option.Max >= int.MaxValue ? "..." : OptionInfo.Format(option.Max))}]" : option.TypeText;
        var @default = option.Required ? "required" : option.DefaultText is { } d ? $"default {d}" : "optional";
        return $"    {option.Name,-14} {type,-22} {@default,-18} {option.Doc}";
    }
}
