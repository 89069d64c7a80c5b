using SpecNet.Checking;

namespace SpecNet.Kernels;

/// <summary>Chooses a backend by name (--backend, or SPECNET_BACKEND), saying why when it falls back.</summary>
public static class Backends
{
    public static readonly IReadOnlyList<string> Names = ["auto", "managed", "reference"];

    /// <param name="note">Receives a line for the user when the choice needs explaining.</param>
    public static Backend Create(string? name, Action<string>? note = null, int threads = 0)
    {
        name ??= Environment.GetEnvironmentVariable("SPECNET_BACKEND");
        if (string.IsNullOrEmpty(name)) name = "auto";
        return name switch
        {
            "auto" or "managed" => new ManagedBackend(threads),
            "reference" => new ReferenceBackend(),
            _ => throw new SpecNetException($"unknown backend '{name}'", $"known backends: {string.Join(", ", Names)}"),
        };
    }
}
