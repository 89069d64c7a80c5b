using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using SpecNet.Checking;
using SpecNet.Formats;
using SpecNet.Planning;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet inspect WEIGHTS`: what a weights file holds (metadata, tensors).</summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var weights = new Argument<string>("weights") { Description = "a .safetensors weights file" };
        var json = new Option<bool>("--json") { Description = "print one JSON object" };
        var command = new Command("inspect", "Show a weights file's metadata and tensors.\n\nExample: specnet inspect samples/mnist-cnn.safetensors") { weights, json };
        command.SetAction(result =>
        {
            var o = result.InvocationConfiguration.Output;
            var path = result.GetValue(weights)!;
            var (tensors, metadata) = SafeTensors.Read(path);
            long total = tensors.Sum(t => (long)t.Data.Length);
            if (result.GetValue(json))
            {
                var meta = new JsonObject();
                foreach (var (k, v) in metadata.OrderBy(p => p.Key)) meta[k] = v;
                o.WriteLine(new JsonObject
                {
                    ["file"] = path, ["metadata"] = meta, ["total_values"] = total, ["total_bytes"] = new FileInfo(path).Length,
                    ["tensors"] = new JsonArray(tensors.Select(t => (JsonNode)new JsonObject
                    {
                        ["name"] = t.Name, ["dtype"] = "F32", ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()), ["values"] = t.Data.Length,
                    }).ToArray()),
                }.ToJsonString());
                return ExitCodes.Ok;
            }
            o.WriteLine($"{path}: {tensors.Count} tensors, {ModelSummary.N(total)} values ({ModelSummary.Bytes(new FileInfo(path).Length)})");
            foreach (var key in new[] { "spec_name", "spec_hash", "spec_folder", "specnet_version", "created", "seed", "epochs", "dataset", "dataset_fingerprint",
                                        "train_loss", "train_accuracy", "test_loss", "test_accuracy", "backend", "format" })
                if (metadata.TryGetValue(key, out var v)) o.WriteLine($"  {key,-20} {v}");
            foreach (var (k, v) in metadata.Where(p => p.Key != "spec" && !p.Key.StartsWith("spec_") && p.Key is not ("specnet_version" or "created" or "seed" or "epochs" or "dataset" or "dataset_fingerprint" or "train_loss" or "train_accuracy" or "test_loss" or "test_accuracy" or "backend" or "format")))
                o.WriteLine($"  {k,-20} {v}");
            o.WriteLine();
            int width = Math.Max(6, tensors.Select(t => t.Name.Length).DefaultIfEmpty(0).Max());
            o.WriteLine($"  {"tensor".PadRight(width)}  dtype  {"shape",-18} {"values",10}");
            foreach (var t in tensors)
                o.WriteLine($"  {t.Name.PadRight(width)}  F32    {"[" + string.Join(", ", t.Shape) + "]",-18} {ModelSummary.N(t.Data.Length),10}");
            o.WriteLine($"  {"total".PadRight(width)}         {"",-18} {ModelSummary.N(total),10}");
            if (metadata.ContainsKey("spec")) o.WriteLine($"\nThe spec is embedded: `specnet eval {path}` and `specnet predict {path} IMAGE` need nothing else.");
            return ExitCodes.Ok;
        });
        return command;
    }
}
