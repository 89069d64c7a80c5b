using System.Security.Cryptography;
using System.Text;
using SpecNet.Diagnostics;
using SpecNet.Layers;
using SpecNet.Schema;

namespace SpecNet.Checking;

/// <summary>A checked spec: every layer bound, every shape inferred. Only built when the spec has no errors.</summary>
public sealed class ModelSpec
{
    public required string Name { get; init; }
    public required Shape Input { get; init; }
    /// <summary>Every layer, blocks expanded, in topological order (each after the layers it reads); the last is the output.</summary>
    public required IReadOnlyList<Layer> Layers { get; init; }
    /// <summary>The entries of the `layers` list as written: layers and blocks.</summary>
    public IReadOnlyList<Entry> Entries { get; init; } = [];
    public required TrainingSpec Training { get; init; }
    public DataSpec? Data { get; init; }
    /// <summary>The spec's text as written, embedded in weights files so they are self-describing.</summary>
    public required string SourceText { get; init; }
    public required string SourcePath { get; init; }
    /// <summary>The folder its relative paths (data, init_from) were read from; weights files record it.</summary>
    public string BaseFolder { get; init; } = ".";

    public Shape Output => Layers[^1].Output;
    /// <summary>The classes the output tells apart: one per unit, or two for a single (sigmoid) unit.</summary>
    public int Classes => Output.Size == 1 ? 2 : Output.Size;
    public long TotalParameters => Layers.Sum(l => l.ParameterCount);
    public long TrainableParameters => Layers.Sum(l => l.TrainableCount);
    public long Macs => Layers.Sum(l => l.Macs);
    /// <summary>Bytes of activations one example needs in a forward pass (input and every layer's output, float32).</summary>
    public long ActivationBytes => 4L * (Input.Size + Layers.Sum(l => (long)l.Output.Size));
    public long WeightBytes => 4L * TotalParameters;

    /// <summary>
    /// Hash of what determines the weights' meaning (input shape, each layer's kind, name and options);
    /// not of comments, formatting, data or training settings. A weights file records it.
    /// </summary>
    public string StructuralHash
    {
        get
        {
            var sb = new StringBuilder($"input={Input}\n");
            for (int i = 0; i < Layers.Count; i++)
            {
                var l = Layers[i];
                sb.Append($"{l.Name}:{l.Kind.Name}:{string.Join(" ", l.Identity.Select(i => $"{i.HashKey}={i.HashText}"))}");
                if (!ReadsPrevious(i)) sb.Append(" inputs=").Append(string.Join(",", l.Sources.Select(s => s?.Name ?? "input"))); // graphs only
                sb.Append('\n');
            }
            return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..16];
        }
    }

    /// <summary>Whether layer i reads just the layer before it (or the input, for the first): a plain stack.</summary>
    public bool ReadsPrevious(int i) => Layers[i].Sources is [var only] && only == (i == 0 ? null : Layers[i - 1]);

    /// <summary>Whether some layer reads something other than the layer before it.</summary>
    public bool IsGraph => Enumerable.Range(0, Layers.Count).Any(i => !ReadsPrevious(i));

    /// <summary>The activation the model ends with (of the last layer; linear for layers without one).</summary>
    public Activation FinalActivation => Layers[^1].OutputActivation;
}

/// <summary>The result of compiling a spec: the model when it has no errors, and every diagnostic.</summary>
public sealed record Compilation(ModelSpec? Model, IReadOnlyList<Diagnostic> Diagnostics, string SourceText, string SourcePath)
{
    public bool Success => Model is not null;

    public string Render(string? displayPath = null) =>
        DiagnosticRenderer.RenderAll(Diagnostics, displayPath ?? SourcePath, SourceText);
}
