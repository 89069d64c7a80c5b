using SpecNet.Diagnostics;

namespace SpecNet.Kernels;

/// <summary>
/// Chooses a backend by name (--backend, else SPECNET_BACKEND, else managed): managed (the default, no
/// native dependency), auto (the faster of managed and MKL on this machine, measured; managed when MKL
/// cannot be loaded, saying why), mkl, mathnet, reference.
/// The thread count is SPECNET_THREADS (any number from 1; more than the cores is allowed), else the cores.
/// </summary>
public static class Backends
{
    public static readonly IReadOnlyList<string> Names = ["auto", "managed", "mkl", "mathnet", "reference"];
    public const string Default = "managed";

    /// <summary>SPECNET_THREADS when it is a whole number from 1, else the processor count.</summary>
    public static int DefaultThreads()
    {
        var text = Environment.GetEnvironmentVariable("SPECNET_THREADS");
        if (string.IsNullOrEmpty(text)) return Environment.ProcessorCount;
        if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= MaxThreads) return n;
        throw new SpecNetException($"SPECNET_THREADS must be a whole number from 1 to {MaxThreads}, not '{text}'", "unset it to use every core");
    }

    private const int MaxThreads = 1024;

    private static Backend Fallback(string why, int threads, Action<string>? note)
    {
        note?.Invoke($"note: {why}; using the managed backend");
        return new ManagedBackend(threads);
    }

    /// <param name="note">Receives a line for the user when the choice needs explaining.</param>
    public static Backend Create(string? name, Action<string>? note = null, int threads = 0)
    {
        name ??= Environment.GetEnvironmentVariable("SPECNET_BACKEND");
        if (string.IsNullOrEmpty(name)) name = Default;
        if (threads <= 0) threads = DefaultThreads();
        return name switch
        {
            "managed" => new ManagedBackend(threads),
            "auto" => MklBackend.TryCreate(threads, out var absent) is { } mkl ? Faster(new ManagedBackend(threads), mkl, GemmSeconds, note) : Fallback(absent, threads, note),
            "mkl" => MklBackend.TryCreate(threads, out var why) ?? throw new SpecNetException($"the mkl backend is not available: {why}", "use --backend managed (the default)"),
            "mathnet" => new MathNetBackend(threads),
            "reference" => new ReferenceBackend(),
            _ => throw new SpecNetException($"unknown backend '{name}'", $"known backends: {string.Join(", ", Names)}"),
        };
    }

    /// <summary>
    /// The faster of two backends by <paramref name="seconds"/>, saying both times. MKL's code paths differ by
    /// CPU vendor (on one AMD machine MKL 2020 trained 30% slower than managed; on Intel they were level), so
    /// auto measures rather than assumes.
    /// </summary>
    public static Backend Faster(Backend a, Backend b, Func<Backend, double> seconds, Action<string>? note)
    {
        double ta = seconds(a), tb = seconds(b);
        var winner = ta <= tb ? a : b;
        note?.Invoke(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"note: auto measured {a.Name} {ta * 1e3:F2} ms and {b.Name} {tb * 1e3:F2} ms on this machine; using {winner.Name}"));
        return winner;
    }

    /// <summary>
    /// Median time of GEMMs shaped like a training step's: a 3x3 convolution over a chunk of 28x28x16 maps
    /// and its weight gradient, and a dense layer on a batch of 64 (after a warm-up; a few milliseconds).
    /// </summary>
    public static double GemmSeconds(Backend backend)
    {
        (Op A, Op B, int M, int N, int K)[] shapes = [(Op.N, Op.T, 3136, 16, 144), (Op.T, Op.N, 144, 16, 3136), (Op.N, Op.N, 64, 128, 3136)];
        var a = new float[3136 * 144];
        var b = new float[3136 * 144];
        var c = new float[3136 * 144];
        var rng = new Rng(1);
        for (int i = 0; i < a.Length; i++) (a[i], b[i]) = (rng.NextFloat() - 0.5f, rng.NextFloat() - 0.5f);
        double Once()
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            foreach (var (opA, opB, m, n, k) in shapes)
                backend.Gemm(opA, opB, m, n, k, a, opA == Op.N ? k : m, b, opB == Op.N ? n : k, 0, c, n);
            return System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Once();
        var times = Enumerable.Range(0, 7).Select(_ => Once()).Order().ToArray();
        return times[times.Length / 2];
    }
}
