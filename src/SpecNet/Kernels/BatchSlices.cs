using System.Numerics.Tensors;

namespace SpecNet.Kernels;

/// <summary>
/// A backward pass's weight gradient summed over the batch in slices: each slice of its chunks (or examples) has a partial
/// sum of its own, and the partials are added in slice order at the end. The threads can then take the slices in any order
/// (<see cref="Backend.ParallelForEach(int, IRangeWork, long)"/>: a thread the host slows is relieved of the end of its
/// share) and the floats still depend on the thread count alone, as they did with a partial sum per thread. What it saves is
/// what the host's noise costs: measured on a Zen 5, training at batch 64, four slices a thread against one, in one process:
/// the residual model's step 15.83 -> 15.62 and 15.84 -> 15.69 ms, the depthwise model's 10.04 -> 9.98 and level on a quiet
/// host; 12.25 -> 11.95 and 11.72 -> 11.25 ms (the depthwise model) while it was busy. Sixteen slices a thread lost on the
/// residual model (their partials, 4 MB for a 64x64 Winograd, read at every step).
/// </summary>
public static unsafe class BatchSlices
{
    /// <summary>Slices per thread at most: how finely the threads can share the batch out when one runs slower.</summary>
    public const int PerThread = 4;

    /// <summary>
    /// Floats of a slice's partial sum (a weight gradient's size) past which each thread keeps one slice, not <see cref="PerThread"/>:
    /// every partial is written and read back at every step, and eight of a wide layer's outgrow the caches. Two 8x8x128 -> 128
    /// 3x3 convolutions at batch 64 (147,456 weights; by Winograd 1 MB a slice), alternating on a Zen 5: the first's backward
    /// 2.03-2.50 -> 1.68-1.90 ms; 4x4x256 -> 256 2.87-3.01 -> 2.28-2.31 ms. 16x16x64 -> 64 (36,864) measured level either way. Every
    /// reference model's layers are under it.
    /// </summary>
    public const long LargestSharedPartial = 131_072;

    /// <summary>
    /// Slices of <paramref name="items"/> items (a pass's chunks, or its examples) on <paramref name="threads"/> threads, each
    /// slice's partial sum <paramref name="partial"/> floats.
    /// </summary>
    public static int Count(int items, int threads, long partial) => Math.Min(items, (partial > LargestSharedPartial ? 1 : PerThread) * threads);

    /// <summary>
    /// The most slices a pass over at most <paramref name="capacity"/> examples takes: its chunks never outnumber its examples, so a
    /// small batch on many threads keeps no partials it cannot use.
    /// </summary>
    public static int Most(int capacity, int threads, long partial) => Count(Math.Max(1, capacity), threads, partial);

    /// <summary>
    /// Items [Start, End) of slice <paramref name="slice"/> of <paramref name="slices"/>: contiguous, in order. Each run of
    /// <see cref="PerThread"/> slices (a thread's share, as <see cref="Backend.ParallelForEach(int, IRangeWork, long)"/> deals
    /// them) takes an equal part of the items, cut 4:3:2:1: the last slice of a share, the one the other thread waits for at the
    /// join or takes from its back, is a tenth of the share rather than a quarter. The residual model's training step, measured
    /// against equal slices alternating in one process on a Zen 5 (three runs): 14.93 -> 14.69, 15.87 -> 15.44 and 18.29 -> 17.37 ms
    /// (a busier host gains more); 5:3:1:1 gained less; the depthwise and pooled models level.
    /// </summary>
    public static (int Start, int End) Items(int items, int slices, int slice)
    {
        if (slices % PerThread != 0) return Backend.Slice(items, slices, slice);
        var (start, end) = Backend.Slice(items, slices / PerThread, slice / PerThread);
        int i = slice % PerThread, length = end - start;
        return (start + length * Shrinking[i] / 10, start + length * Shrinking[i + 1] / 10);
    }

    /// <summary>Where a share's slices start, in tenths of it (PerThread of them).</summary>
    private static readonly int[] Shrinking = [0, 4, 7, 9, 10];

    /// <summary>
    /// into = the partial sums of the slices <paramref name="used"/> (slice s's at partials[s·size ..]) added in slice order, the
    /// first copied; split by elements between the threads, each element summed in the same order on any split. into may be
    /// the first used slice's own partial. False where no slice was used (into untouched).
    /// </summary>
    public static bool AddInOrder(Backend kernels, ReadOnlySpan<float> partials, int size, ReadOnlySpan<bool> used, Span<float> into)
    {
        if (into.Length < size || partials.Length < (long)used.Length * size) throw new ArgumentException("batch slices: buffers of the wrong size");
        if (used.IndexOf(true) < 0) return false;
        fixed (float* p = partials, o = into)
        fixed (bool* u = used)
        {
            var args = new SumArgs { Partials = p, Into = o, Used = u, Slices = used.Length, Size = size };
            kernels.ParallelFor((size + Block - 1) / Block, &AddRange, &args, (long)Block * used.Length);
        }
        return true;
    }

    private const int Block = 1024;   // floats a thread's unit of the sum

    private struct SumArgs
    {
        public float* Partials, Into;
        public bool* Used;
        public int Slices, Size;
    }

    /// <summary>Blocks [b0, b1), each summed over the slices while it is in L1 (TensorPrimitives over a thread's share, 256 KB or
    /// more, had stored it past the caches).</summary>
    private static void AddRange(void* state, int part, int b0, int b1)
    {
        var a = (SumArgs*)state;
        for (int block = b0; block < b1; block++)
        {
            int start = block * Block, count = Math.Min(Block, a->Size - start);
            var into = new Span<float>(a->Into + start, count);
            bool first = true;
            for (int s = 0; s < a->Slices; s++)
            {
                if (!a->Used[s]) continue;
                var partial = new ReadOnlySpan<float>(a->Partials + (long)s * a->Size + start, count);
                if (first) partial.CopyTo(into); else TensorPrimitives.Add(into, partial, into);
                first = false;
            }
        }
    }
}
