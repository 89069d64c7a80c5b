using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using SpecNet.Checking;
using SpecNet.Comparing;
using SpecNet.Planning;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet check SPEC [--json]`: compile a spec (or a sweep file), print its summary or every problem in it.</summary>
public static class CheckCommand
{
    public static Command Create()
    {
        var spec = new Argument<string>("spec") { Description = "the spec file (.yaml), a weights file (its embedded spec is checked), or a sweep file" };
        var json = new Option<bool>("--json") { Description = "print the summary (or the diagnostics) as one JSON object" };
        var command = new Command("check", "Validate a spec, infer every shape, and print a Keras-style summary.\n\nExample: specnet check specs/mnist-cnn.yaml") { spec, json };
        command.SetAction(result =>
        {
            var output = result.InvocationConfiguration.Output;
            var path = result.GetValue(spec)!;
            if (!Inputs.IsWeightsFile(path) && SweepSpec.IsSweepFile(path)) return CheckSweep(path, result.GetValue(json), output, result.InvocationConfiguration.Error);
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

    /// <summary>
    /// A sweep file: every parameter's path and range checked against its base spec, as `specnet sweep` checks it before a
    /// run, and what the sweep would run.
    /// </summary>
    private static int CheckSweep(string path, bool json, TextWriter output, TextWriter error)
    {
        var (sweep, diagnostics, rendered) = SweepSpec.Read(path);
        if (json)
        {
            var obj = new JsonObject { ["name"] = Path.GetFileNameWithoutExtension(path) };
            if (sweep is not null)
                obj["sweep"] = new JsonObject
                {
                    ["base"] = sweep.BasePath, ["trials"] = sweep.Trials, ["search"] = sweep.Search, ["seeds"] = sweep.Seeds,
                    ["metric"] = Sweep.MetricName(sweep), ["goal"] = sweep.Maximize ? "max" : "min",
                    ["parameters"] = new JsonArray(sweep.Parameters.Select(p => (JsonNode)new JsonObject { ["path"] = p.Path, ["range"] = p.Distribution.ToString() }).ToArray()),
                };
            obj["diagnostics"] = DiagnosticsJson(diagnostics);
            output.WriteLine(obj.ToJsonString());
        }
        else if (sweep is null) error.Write(rendered);
        else
        {
            output.WriteLine($"Sweep: {sweep.Trials} trials of {Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(path))!, sweep.BasePath)} " +
                $"({sweep.Search} search, {sweep.Seeds} training seed{(sweep.Seeds == 1 ? "" : "s")} each), ranked by {Sweep.MetricName(sweep)} ({(sweep.Maximize ? "max" : "min")})");
            foreach (var p in sweep.Parameters) output.WriteLine($"  {p.Path}: {p.Distribution}");
            output.WriteLine($"The base spec checks, and so does every parameter's range in it. Run: specnet sweep {path} -o DIR (--dry-run lists the trials)");
            if (diagnostics.Count > 0) output.Write("\n" + rendered);
        }
        return sweep is null ? ExitCodes.SpecErrors : ExitCodes.Ok;
    }

    private static JsonArray DiagnosticsJson(Compilation compilation) => DiagnosticsJson(compilation.Diagnostics);

    private static JsonArray DiagnosticsJson(IEnumerable<SpecNet.Diagnostics.Diagnostic> diagnostics) =>
        new(diagnostics.Select(d => (JsonNode)new JsonObject
        {
            ["id"] = d.Id,
            ["severity"] = d.IsError ? "error" : "warning",
            ["line"] = d.Span.Line,
            ["column"] = d.Span.Column,
            ["message"] = d.Message,
            ["hint"] = d.Hint,
        }).ToArray());
}
