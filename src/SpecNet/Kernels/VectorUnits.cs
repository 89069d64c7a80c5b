using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SpecNet.Kernels;

/// <summary>
/// How fast the CPU runs its widest vectors. The kernels take 512-bit vectors wherever .NET accelerates them: fewer
/// instructions for the same work on any CPU that has them. But a rule that weighs multiplies saved against transforms and
/// memory traffic (Winograd's in training: <see cref="Winograd.TrainingTileSides"/>) depends on how many multiply-adds a
/// cycle retires, not on the width: an AMD Zen 4 (family 25 with AVX-512) runs each 512-bit instruction on its 256-bit units
/// in two passes, at AVX2's rate, where a Zen 5 or a Xeon with two 512-bit FMA units runs twice AVX2's. Such rules take
/// AVX2's choice there: they were measured on a Zen 5 with AVX2, whose rate of multiply-adds a Zen 4's AVX-512 has.
/// </summary>
public static class VectorUnits
{
    /// <summary>
    /// Whether 512-bit vectors are accelerated and run at twice AVX2's rate of multiply-adds: not on a Zen 4.
    /// SPECNET_FMA512=full or half says instead (for measuring on another CPU, and for the tests).
    /// </summary>
    public static readonly bool FullRate512 = Vector512.IsHardwareAccelerated && Environment.GetEnvironmentVariable("SPECNET_FMA512") switch
    {
        "full" => true,
        "half" => false,
        _ => !HalfRate(Vendor(), Family()),
    };

    /// <summary>
    /// Whether 512-bit vectors run at half their width's rate: AMD's family 25 (Zen 3, without AVX-512, and Zen 4). An Intel
    /// core with one 512-bit FMA unit (some Xeon Silver and client parts) does too, but CPUID does not tell how many it has:
    /// SPECNET_FMA512=half serves there.
    /// </summary>
    internal static bool HalfRate(string vendor, int family) => vendor == "AuthenticAMD" && family == 0x19;

    /// <summary>The CPU's family from CPUID leaf 1's EAX: the base family, plus the extended family where the base is 15.</summary>
    internal static int FamilyOf(uint signature)
    {
        int family = (int)(signature >> 8 & 0xF);
        return family == 0xF ? family + (int)(signature >> 20 & 0xFF) : family;
    }

    internal static int Family() => X86Base.IsSupported ? FamilyOf((uint)X86Base.CpuId(1, 0).Eax) : 0;

    /// <summary>CPUID leaf 0's vendor string ("GenuineIntel", "AuthenticAMD"), or "" off x86.</summary>
    internal static string Vendor()
    {
        if (!X86Base.IsSupported) return "";
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        Span<byte> name = stackalloc byte[12];
        BitConverter.TryWriteBytes(name, ebx);
        BitConverter.TryWriteBytes(name[4..], edx);
        BitConverter.TryWriteBytes(name[8..], ecx);
        return System.Text.Encoding.ASCII.GetString(name);
    }

    /// <summary>How the CPU runs 512-bit vectors, for the backend's description: "" where at full rate or not at all.</summary>
    public static string Note => Vector512.IsHardwareAccelerated && !FullRate512 ? ", at AVX2's rate of multiply-adds" : "";
}
