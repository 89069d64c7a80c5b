using System.Diagnostics;

namespace SpecNet.Planning;

/// <summary>
/// One image at a time (predict): a plan whose threads split each layer's rows, or the same model on one thread, whichever runs
/// faster here, timed when the plan is made. Which wins depends on the model and the CPU, not on a layer alone: on one thread a
/// depthwise-separable model runs as one chain of stages a block of rows at a time (two threads keep one pair a chain), and each
/// split pays a fork, a join and the other core's cache for the rows it made. Zen 5, single images (`specnet bench SPEC
/// --batch-size 1`, SPECNET_THREADS 1 against 2): strided 17.5 against 23 us, depthwise 42 against 46, while the pooled model
/// (38 against 32) and the residual one (110 against 63-90) gain from the second thread. The two plans' outputs are equal to
/// rounding (not always to the bit: a single image's share of rows may take the GEMM's dot-product path).
/// </summary>
public static class SingleImage
{
    /// <summary>Time spent timing the two, at most (a model this fast does not pay for a longer trial).</summary>
    private const double BudgetMs = 12;

    /// <summary>A pass at least this long keeps every thread untimed: its layers are large enough to split.</summary>
    private const double LongPassMs = 1;

    /// <summary>Passes of each per round, alternating; a round's median decides, one thread only when faster by a twentieth.</summary>
    private const int Rounds = 9;

    public static ExecutionPlan Faster(ExecutionPlan shared, ExecutionPlan alone) => Faster(shared, alone, Pass);

    /// <param name="pass">Milliseconds per pass of a plan over a number of passes (a test's stand-in for the clock).</param>
    internal static ExecutionPlan Faster(ExecutionPlan shared, ExecutionPlan alone, Func<ExecutionPlan, int, double> pass)
    {
        pass(shared, 1); pass(alone, 1);                                   // the first passes pack kernels and compile code
        double warm = pass(shared, 2);
        if (warm >= LongPassMs) return shared;
        int passes = Math.Clamp((int)(BudgetMs / Rounds / 2 / Math.Max(warm, 0.005)), 1, 50);
        pass(alone, passes);
        var (a, b) = (new double[Rounds], new double[Rounds]);
        for (int r = 0; r < Rounds; r++) (a[r], b[r]) = (pass(shared, passes), pass(alone, passes));
        Array.Sort(a); Array.Sort(b);
        return b[Rounds / 2] < 0.95 * a[Rounds / 2] ? alone : shared;
    }

    /// <summary>Milliseconds per pass over <paramref name="passes"/> passes of the plan's (zero) input.</summary>
    private static double Pass(ExecutionPlan plan, int passes)
    {
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < passes; i++) plan.Forward(1, training: false);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds / passes;
    }
}
