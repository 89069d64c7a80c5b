using System.Runtime.Intrinsics;
using SpecNet.Kernels;

namespace SpecNet.Tests.Kernels;

/// <summary>
/// Which CPUs run 512-bit vectors at AVX2's rate of multiply-adds (<see cref="VectorUnits"/>), and that training's Winograd
/// rules follow the rate, not the width.
/// </summary>
public class VectorUnitsTests
{
    /// <summary>CPUID leaf 1's signatures of the CPUs the benchmarks met: the family adds the extended family past 15.</summary>
    [Theory]
    [InlineData(0x00800F12u, 0x17)]   // AMD EPYC Zen 1 (Naples)
    [InlineData(0x00A10F11u, 0x19)]   // AMD EPYC Zen 4 (Genoa)
    [InlineData(0x00B00F21u, 0x1A)]   // AMD EPYC Zen 5 (Turin)
    [InlineData(0x000C06F2u, 0x06)]   // Intel Xeon (Emerald Rapids)
    public void The_family_is_read_from_the_signature(uint signature, int family) => Assert.Equal(family, VectorUnits.FamilyOf(signature));

    [Theory]
    [InlineData("AuthenticAMD", 0x19, true)]    // Zen 4: AVX-512 on 256-bit units, two passes an instruction
    [InlineData("AuthenticAMD", 0x1A, false)]   // Zen 5: full-width units
    [InlineData("AuthenticAMD", 0x17, false)]   // Zen 1 and 2: no AVX-512
    [InlineData("GenuineIntel", 0x06, false)]
    [InlineData("GenuineIntel", 0x19, false)]
    public void Only_a_Zen_4_runs_512_bit_vectors_at_half_rate(string vendor, int family, bool half) => Assert.Equal(half, VectorUnits.HalfRate(vendor, family));

    /// <summary>
    /// This machine's rate: as its CPUID says, or as SPECNET_FMA512 says (CI runs the kernels' tests again with "half" on
    /// AVX-512: a Zen 4's choices on this CPU); and training's Winograd rules (<see cref="Winograd.WideRules"/>) follow it.
    /// </summary>
    [Fact]
    public void Training_rules_follow_the_rate_of_multiply_adds()
    {
        bool expected = Environment.GetEnvironmentVariable("SPECNET_FMA512") switch
        {
            "half" => false,
            "full" => Vector512.IsHardwareAccelerated,
            _ => Vector512.IsHardwareAccelerated && !VectorUnits.HalfRate(VectorUnits.Vendor(), VectorUnits.Family()),
        };
        Assert.Equal(expected, VectorUnits.FullRate512);
        Assert.Equal(Vector512.IsHardwareAccelerated && VectorUnits.FullRate512, Winograd.WideRules);
        Assert.Equal(Winograd.WideRules ? 32 : 16, Winograd.TrainingChannels);
        Assert.Equal(Vector512.IsHardwareAccelerated && !VectorUnits.FullRate512, new ManagedBackend(1).InstructionSet.Contains("AVX2's rate"));
    }

    [Fact]
    public void The_vendor_is_read_on_x86()
    {
        if (!System.Runtime.Intrinsics.X86.X86Base.IsSupported) return;
        Assert.Contains(VectorUnits.Vendor(), new[] { "AuthenticAMD", "GenuineIntel" });
    }
}
