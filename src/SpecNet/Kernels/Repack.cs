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

/// <summary>What a kernel made from weights was made from, to tell when to make it again (<see cref="Repack"/>).</summary>
internal sealed class KernelSource
{
    private float[] _from = [];     // the weights it was made from, when compared
    private bool _made;             // whether it was made at all

    /// <summary>
    /// Whether the kernel made last is still the one for w. Compared as bits: a vectorised memcmp (as floats it is a loop of
    /// Equals, slower than packing), and -0 is not 0.
    /// </summary>
    public bool Holds(ReadOnlySpan<float> w, Repack when) => when == Repack.Once ? _made
        : when == Repack.IfChanged && MemoryMarshal.Cast<float, int>(w).SequenceEqual(MemoryMarshal.Cast<float, int>(_from.AsSpan()));

    /// <summary>The kernel was just made from w: keeps a copy of w to compare the next pass's with, when that is how it is told.</summary>
    public void Made(ReadOnlySpan<float> w, Repack when)
    {
        _made = true;
        if (when != Repack.IfChanged) return;
        if (_from.Length != w.Length) _from = new float[w.Length];
        w.CopyTo(_from);
    }
}
