using System.CommandLine;
using SpecNet.Layers;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet layers`: every layer kind with its options and defaults, from the registry the compiler uses.</summary>
public static class LayersCommand
{
    public static Command Create()
    {
        var command = new Command("layers", "List every layer kind with its options and defaults.");
        command.SetAction(result =>
        {
            var o = result.InvocationConfiguration.Output;
            foreach (var kind in LayerRegistry.Kinds)
            {
                o.WriteLine($"{kind.Name}: {kind.Summary}");
                foreach (var opt in kind.Options)
                    o.WriteLine($"    {opt.Name,-14} {opt.Type,-20} {(opt.Required ? "required" : $"default {opt.Default}"),-18} {opt.Doc}");
                o.WriteLine($"    {"name",-14} {"text",-20} {"default <kind>_<n>",-18} the layer's name");
            }
            return 0;
        });
        return command;
    }
}
