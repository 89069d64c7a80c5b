using SpecNet.Diagnostics;

namespace SpecNet.Kernels;

/// <summary>
/// Chooses a backend by name (--backend, else SPECNET_BACKEND, else managed): managed (the default, no
/// native dependency), auto (MKL when it can be loaded, else managed, saying why), mkl, mathnet, reference.
/// </summary>
public static class Backends
{
    public static readonly IReadOnlyList<string> Names = ["auto", "managed", "mkl", "mathnet", "reference"];

    private static Backend Fallback(string why, int threads, Action<string>? note)
    {
        note?.Invoke($"note: {why}; using the managed backend");
        return new ManagedBackend(threads);
    }

    /// <param name="note">Receives a line for the user when the choice needs explaining.</param>
    public static Backend Create(string? name, Action<string>? note = null, int threads = 0)
    {
        name ??= Environment.GetEnvironmentVariable("SPECNET_BACKEND");
        if (string.IsNullOrEmpty(name)) name = "managed";
        return name switch
        {
            "managed" => new ManagedBackend(threads),
            "auto" => MklBackend.TryCreate(threads, out var absent) ?? Fallback(absent, threads, note),
            "mkl" => MklBackend.TryCreate(threads, out var why) ?? throw new SpecNetException($"the mkl backend is not available: {why}", "use --backend managed (the default)"),
            "mathnet" => new MathNetBackend(),
            "reference" => new ReferenceBackend(),
            _ => throw new SpecNetException($"unknown backend '{name}'", $"known backends: {string.Join(", ", Names)}"),
        };
    }
}
