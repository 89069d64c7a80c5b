using SpecNet.Diagnostics;
using System.CommandLine;
using System.Text.Json;
using SpecNet.Checking;
using SpecNet.Formats;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet schema`: the JSON Schema of the spec language, for editors.</summary>
public static class SchemaCommand
{
    public static Command Create()
    {
        var command = new Command("schema", "Print the JSON Schema of the spec language, for editor completion and hover docs.\n\nExample: specnet schema > specnet.schema.json");
        command.SetAction(result =>
        {
            result.InvocationConfiguration.Output.WriteLine(SchemaText());
            return ExitCodes.Ok;
        });
        return command;
    }

    public static string SchemaText() => SpecSchema.Build().ToJsonString(new JsonSerializerOptions
    {
        WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
