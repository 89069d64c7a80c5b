using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using SpecNet.Checking;
using SpecNet.Formats;
using SpecNet.Planning;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet verify SPEC WEIGHTS`: whether a weights file fits a spec.</summary>
public static class VerifyCommand
{
    public static Command Create()
    {
        var spec = new Argument<string>("spec") { Description = "the spec file (.yaml)" };
        var weights = new Argument<string>("weights") { Description = "the weights file (.safetensors)" };
        var command = new Command("verify", "Check that a weights file fits a spec: every tensor present with the right shape and dtype, none left over, the same structural hash, finite values.\n\nExample: specnet verify specs/mnist-cnn.yaml samples/mnist-cnn.safetensors")
            { spec, weights };
        command.SetAction(result =>
        {
            var o = result.InvocationConfiguration.Output;
            var model = Inputs.Compile(result.GetValue(spec)!);
            var path = result.GetValue(weights)!;
            var (tensors, metadata) = SafeTensors.Read(path);
            var problems = WeightsFile.Problems(model, tensors);
            foreach (var t in tensors)
            {
                int bad = Array.FindIndex(t.Data, v => !float.IsFinite(v));
                if (bad >= 0) problems.Add($"tensor '{t.Name}' holds a non-finite value ({t.Data[bad].ToString(CultureInfo.InvariantCulture)}) at index {bad}");
            }
            if (!metadata.TryGetValue(WeightsFile.Keys.SpecHash, out var hash))
                problems.Add("the file records no spec_hash (not written by SpecNet?)");
            else if (hash != model.StructuralHash)
                problems.Add($"spec_hash {hash} in the file differs from the spec's {model.StructuralHash} (layer names, kinds or options changed)");
            if (problems.Count == 0)
            {
                o.WriteLine($"{path} fits {result.GetValue(spec)}: {tensors.Count} tensors, {ModelSummary.N(model.TotalParameters)} values, hash {model.StructuralHash}, all finite");
                return ExitCodes.Ok;
            }
            var err = result.InvocationConfiguration.Error;
            err.WriteLine($"{path} does not fit {result.GetValue(spec)}:");
            foreach (var p in problems) err.WriteLine($"  - {p}");
            return ExitCodes.SpecErrors;
        });
        return command;
    }
}
