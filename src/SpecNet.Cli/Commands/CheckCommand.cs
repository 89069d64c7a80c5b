using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using SpecNet.Checking;
using SpecNet.Planning;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet check SPEC [--json]`: compile a spec, print its summary or every problem in it.</summary>
public static class CheckCommand
{
    public static Command Create()
    {
        var spec = new Argument<string>("spec") { Description = "the spec file (.yaml), or a weights file (its embedded spec is checked)" };
        var json = new Option<bool>("--json") { Description = "print the summary (or the diagnostics) as one JSON object" };
        var command = new Command("check", "Validate a spec, infer every shape, and print a Keras-style summary.\n\nExample: specnet check specs/mnist-cnn.yaml") { spec, json };
        command.SetAction(result =>
        {
            var output = result.InvocationConfiguration.Output;
            var path = result.GetValue(spec)!;
            var compilation = Inputs.CompilationOf(path);
            if (result.GetValue(json))
            {
                var obj = compilation.Model is { } m ? ModelSummary.ToJson(m) : new JsonObject { ["name"] = Path.GetFileNameWithoutExtension(path) };
                obj["diagnostics"] = DiagnosticsJson(compilation);
                output.WriteLine(obj.ToJsonString());
            }
            else
            {
                if (compilation.Model is { } m)
                {
                    output.Write(ModelSummary.ToText(m));
                    if (m.Training.InitFrom is { } initFrom && File.Exists(initFrom) && SpecNet.Training.WarmStart.Plan(m) is { } from)
                    {
                        output.WriteLine($"Starts from {from.Path}: {from.Summary}");
                        if (from.Warnings.Count > 0) output.Write("\n" + Diagnostics.DiagnosticRenderer.RenderAll(from.Warnings, path, m.SourceText));
                    }
                }
                if (compilation.Diagnostics.Count > 0)
                {
                    if (compilation.Model is not null) output.WriteLine();
                    (compilation.Success ? output : result.InvocationConfiguration.Error).Write(compilation.Render(path));
                }
            }
            return compilation.Success ? ExitCodes.Ok : ExitCodes.SpecErrors;
        });
        return command;
    }

    private static JsonArray DiagnosticsJson(Compilation compilation) =>
        new(compilation.Diagnostics.Select(d => (JsonNode)new JsonObject
        {
            ["id"] = d.Id,
            ["severity"] = d.IsError ? "error" : "warning",
            ["line"] = d.Span.Line,
            ["column"] = d.Span.Column,
            ["message"] = d.Message,
            ["hint"] = d.Hint,
        }).ToArray());
}
