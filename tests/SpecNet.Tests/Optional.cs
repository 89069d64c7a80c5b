namespace SpecNet.Tests;

/// <summary>
/// Tests that need an optional part (MKL, a real dataset, a tmpfs, Slurm, PyTorch). Outside CI they skip
/// with a message where the part is absent; in CI (SPECNET_CI=1, which .ci/run sets) a missing part
/// fails the test, so CI cannot lose a part without anyone noticing.
/// </summary>
public static class Optional
{
    public static bool InCi => Environment.GetEnvironmentVariable("SPECNET_CI") == "1";

    /// <summary>Whether the test run started in CI (tests that change SPECNET_CI put it back).</summary>
    public static readonly bool InCiAtStart = InCi;

    public static void Require(bool present, string missing)
    {
        if (present) return;
        if (!InCi) throw new SkipException(missing);
        Assert.Fail($"required in CI (SPECNET_CI=1): {missing}");
    }

    /// <summary>The named backend (<see cref="SpecNet.Kernels.Backends.Create"/>), as <see cref="Require"/> has it where this machine cannot make it (MKL absent).</summary>
    public static SpecNet.Kernels.Backend Backend(string name, int threads = 0)
    {
        try { return SpecNet.Kernels.Backends.Create(name, threads: threads); }
        catch (SpecNet.Diagnostics.SpecNetException e) { Require(false, e.Message); throw; }
    }
}
