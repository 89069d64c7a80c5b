using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SpecNet.Kernels;

/// <summary>
/// Pixels of c values laid out as pixels of <see cref="Channels"/>, whole 256-bit vectors: each value m times in a row, then
/// zeros (<see cref="Spread"/>); and back, each value the sum of its m copies in order (<see cref="Gather"/>). A depthwise
/// convolution with m filters per channel, or with channels that do not fill whole vectors, runs as one with a filter per
/// channel over its input spread this way. With AVX2 a vector of the spread pixel at a time: the values under it loaded from
/// the input pixel (masked, never past its end) and permuted into place; back by masked loads, or gathers for m copies.
/// </summary>
public sealed unsafe class ChannelSpread
{
    private const int Lanes = 8;

    /// <summary>Values of an input pixel (c), copies of each (m), and channels of a spread pixel: c·m up to whole vectors.</summary>
    public int Values { get; }
    public int Copies { get; }
    public int Channels { get; }

    // Spread, per vector of a spread pixel: the input value its first lane takes, each lane's value from there, the lanes loaded
    // (inside the input pixel), the lanes kept (below c·m; the others zero).
    private readonly int[] _from;
    private readonly Vector256<int>[] _place;
    private readonly Vector256<float>[] _loaded, _kept;
    // Gather, per vector of an input pixel: its lanes inside the pixel; per copy k, lane l's place among the m·8 spread values under it.
    private readonly Vector256<float>[] _inside;
    private readonly Vector256<int>[] _copy;

    public ChannelSpread(int values, int copies)
    {
        (Values, Copies) = (values, copies);
        Channels = ChannelsOf(values * copies);
        int vectors = Channels / Lanes, inputVectors = (values + Lanes - 1) / Lanes;
        _from = new int[vectors];
        (_place, _loaded, _kept) = (new Vector256<int>[vectors], new Vector256<float>[vectors], new Vector256<float>[vectors]);
        for (int v = 0; v < vectors; v++)
        {
            int from = _from[v] = v * Lanes / copies;
            _place[v] = Vector256.Create(Enumerable.Range(0, Lanes).Select(l => Math.Min(Values - 1, (v * Lanes + l) / copies) - from).ToArray());
            _loaded[v] = Mask(l => from + l < values);
            _kept[v] = Mask(l => v * Lanes + l < values * copies);
        }
        _inside = Enumerable.Range(0, inputVectors).Select(u => Mask(l => u * Lanes + l < values)).ToArray();
        _copy = Enumerable.Range(0, copies).Select(k => Vector256.Create(Enumerable.Range(0, Lanes).Select(l => l * copies + k).ToArray())).ToArray();
    }

    /// <summary>Channels of a spread pixel of <paramref name="values"/> values (c·m): whole 256-bit vectors.</summary>
    public static int ChannelsOf(int values) => (values + Lanes - 1) / Lanes * Lanes;

    private static Vector256<float> Mask(Func<int, bool> lane) =>
        Vector256.Create(Enumerable.Range(0, Lanes).Select(l => lane(l) ? -1 : 0).ToArray()).AsSingle();

    /// <summary>Each of <paramref name="pixels"/> pixels of x spread into <paramref name="into"/>, every channel written.</summary>
    public void Spread(float* x, float* into, long pixels)
    {
        if (!Avx2.IsSupported)
        {
            for (long p = 0; p < pixels; p++, x += Values, into += Channels)
                for (int o = 0; o < Channels; o++) into[o] = o < Values * Copies ? x[o / Copies] : 0;
            return;
        }
        int vectors = _from.Length;
        float* end = x + pixels * Values;
        fixed (int* from = _from)
        fixed (Vector256<int>* place = _place)
        fixed (Vector256<float>* loaded = _loaded, kept = _kept)
            for (long p = 0; p < pixels; p++, x += Values, into += Channels)
                for (int v = 0; v < vectors; v++)
                {
                    float* s = x + from[v];   // a whole load where it ends inside the pixels: the lanes past this pixel's values are not kept
                    var values = s + Lanes <= end ? Vector256.Load(s) : Avx.MaskLoad(s, loaded[v]);
                    Avx.And(Avx2.PermuteVar8x32(values, place[v]), kept[v]).Store(into + v * Lanes);
                }
    }

    /// <summary>Each of <paramref name="pixels"/> spread pixels back into c values: each the sum of its copies, first to last.</summary>
    public void Gather(float* spread, float* to, long pixels)
    {
        if (!Avx2.IsSupported)
        {
            for (long p = 0; p < pixels; p++, spread += Channels, to += Values)
                for (int i = 0; i < Values; i++)
                {
                    float sum = spread[i * Copies];
                    for (int k = 1; k < Copies; k++) sum += spread[i * Copies + k];
                    to[i] = sum;
                }
            return;
        }
        int vectors = _inside.Length, m = Copies;
        float* end = to + pixels * Values;
        fixed (Vector256<float>* inside = _inside)
        fixed (Vector256<int>* copy = _copy)
            for (long p = 0; p < pixels; p++, spread += Channels, to += Values)
                for (int u = 0; u < vectors; u++)
                {
                    float* s = spread + u * Lanes * m, d = to + u * Lanes;
                    var sum = m == 1 ? Avx.MaskLoad(s, inside[u]) : Avx2.GatherMaskVector256(Vector256<float>.Zero, s, copy[0], inside[u], 4);
                    for (int k = 1; k < m; k++) sum += Avx2.GatherMaskVector256(Vector256<float>.Zero, s, copy[k], inside[u], 4);
                    // a whole store where it ends inside the pixels: lanes past this pixel's values land on the next pixel's,
                    // which are stored after them (a masked store is several times slower on AMD's cores)
                    if (d + Lanes <= end) sum.Store(d);
                    else Avx.MaskStore(d, inside[u], sum);
                }
    }
}
