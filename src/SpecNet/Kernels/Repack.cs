using System.Runtime.InteropServices;

namespace SpecNet.Kernels;

/// <summary>When a kernel made from weights for the backend (packed, or Winograd-transformed) is made again.</summary>
public enum Repack
{
    /// <summary>At every pass (training: the weights change at every step).</summary>
    Always,
    /// <summary>When the weights differ from those it was made from (inference over parameters that may change).</summary>
    IfChanged,
    /// <summary>At the first pass only (inference over fixed parameters, PlanOptions.FixedParameters).</summary>
    Once,
}

internal static class Repacks
{
    /// <summary>Whether w holds the same bits as <paramref name="from"/>: a vectorised memcmp (as floats it is a loop of Equals, slower than packing), and -0 is not 0.</summary>
    public static bool Same(ReadOnlySpan<float> w, float[] from) => MemoryMarshal.Cast<float, int>(w).SequenceEqual(MemoryMarshal.Cast<float, int>(from.AsSpan()));

    /// <summary>Keeps a copy of w to compare the next pass's with.</summary>
    public static void Keep(ReadOnlySpan<float> w, ref float[] from)
    {
        if (from.Length != w.Length) from = new float[w.Length];
        w.CopyTo(from);
    }
}
