using System.CommandLine;
using System.Globalization;
using SpecNet.Diagnostics;
using SpecNet.Formats;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet import MODEL.onnx -o DIR`: an ONNX model as a spec and a weights file, checked against ONNX Runtime before anything is written.</summary>
public static class ImportCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "the .onnx file (torch.onnx.export, tf2onnx, specnet export)" };
        var output = new Option<string>("--output", "-o") { Description = "directory for <name>.yaml and <name>.safetensors", Required = true };
        var name = new Option<string?>("--name") { Description = "the spec's name and file names (default: the ONNX file's name)" };
        var scale = CommonOptions.Number("--scale", "what the model expects of its raw input: value · scale (default 1/255, as torchvision's ToTensor on pixels; 1 takes features as given)");
        var mean = CommonOptions.Numbers("--mean", "per-channel mean subtracted after scaling (e.g. --mean 0.485 0.456 0.406)");
        var std = CommonOptions.Numbers("--std", "per-channel standard deviation divided by after the mean");
        var order = new Option<string?>("--channel-order") { Description = "rgb (default) or bgr: the channel order the model was trained on" };
        order.AcceptOnlyFromAmong("rgb", "bgr");
        var noVerify = new Option<bool>("--no-verify") { Description = "skip running both models in ONNX Runtime and SpecNet on the same inputs" };
        var force = new Option<bool>("--force") { Description = "overwrite a spec or weights file of the same name in the output folder" };
        var command = new Command("import", "Import an ONNX model as a spec and weights. PyTorch models are NCHW; the spec is NHWC with the same outputs. " +
            "Both models run on the same random inputs before anything is written (max abs difference 1e-5).\n\n" +
            "Example: specnet import model.onnx -o imported --scale 0.00392156862745098 --mean 0.2860 --std 0.3530")
            { model, output, name, scale, mean, std, order, noVerify, force };
        command.SetAction(result =>
        {
            var o = result.InvocationConfiguration.Output;
            var path = result.GetValue(model)!;
            ImportResult imported;
            try
            {
                imported = OnnxImport.Import(path, new ImportOptions(result.GetValue(name), result.GetValue(scale), result.GetValue(mean), result.GetValue(std),
                    result.GetValue(order) is { } c ? c == "bgr" : null));
            }
            catch (UnsupportedModelException e)
            {
                result.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
                result.InvocationConfiguration.Error.WriteLine($"  = hint: {e.Hint}");
                return ExitCodes.SpecErrors;
            }
            foreach (var note in imported.Notes) o.WriteLine($"note: {note}");
            if (!result.GetValue(noVerify))
            {
                var check = OnnxRuntimeCheck.RunImported(imported, File.ReadAllBytes(path), examples: 8);
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"ONNX Runtime {check.Runtime}: max abs difference {check.MaxDifference:G3} over {check.Examples} inputs, classes agree on {check.SameClass}/{check.Examples}"));
                if (!check.Passed)
                {
                    result.InvocationConfiguration.Error.WriteLine($"error: the imported model does not compute what {path} does (limit {check.Limit:G3}); nothing written");
                    return ExitCodes.Failure;
                }
            }
            var directory = result.GetValue(output)!;
            OutputFolder.Create(directory, "output");
            var specPath = Path.Combine(directory, imported.Model.Name + ".yaml");
            var weightsPath = Path.Combine(directory, imported.Model.Name + ".safetensors");
            // A spec imported before may have been edited since (a new head, frozen layers), its weights trained: never replaced
            // unasked. Files an import wrote and nobody changed since are replaced (importing again with other --scale, say).
            if (!result.GetValue(force) && !Untouched(specPath, weightsPath) && new[] { specPath, weightsPath }.FirstOrDefault(File.Exists) is { } existing)
                throw new SpecNetException($"{existing}: already exists and is not as an import left it; nothing written",
                    "pass --force to overwrite it, or -o another folder, or --name another name");
            AtomicFile.Write(specPath, s => s.Write(System.Text.Encoding.UTF8.GetBytes(imported.SpecText)));
            WeightsFile.Save(weightsPath, imported.Parameters, new Dictionary<string, string>
            {
                ["imported_from"] = Path.GetFileName(path), [ImportedSpec] = Fingerprint(imported.SpecText),
            });
            o.WriteLine($"Wrote {specPath} ({imported.Model.Layers.Count} layers, input {string.Join("x", imported.Model.Input.Dims)}, output {string.Join("x", imported.Model.Output.Dims)})");
            o.WriteLine($"Wrote {weightsPath}");
            o.WriteLine($"Try: specnet predict {specPath} {(imported.Model.Input.IsFlat ? "ROWS.csv" : "IMAGE.png")}");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The weights file's record of the spec text written beside it.</summary>
    private const string ImportedSpec = "imported_spec";

    private static string Fingerprint(string text) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..16];

    /// <summary>Both files are there as an import wrote them: the weights untrained since (still recording it) and the spec unedited.</summary>
    private static bool Untouched(string specPath, string weightsPath)
    {
        if (!File.Exists(specPath) || !File.Exists(weightsPath)) return false;
        try
        {
            var metadata = SafeTensors.ReadMetadata(weightsPath);
            return metadata.TryGetValue(ImportedSpec, out var recorded) && recorded == Fingerprint(File.ReadAllText(specPath));
        }
        catch (Exception e) when (e is SpecNetException or IOException or UnauthorizedAccessException) { return false; }
    }
}
