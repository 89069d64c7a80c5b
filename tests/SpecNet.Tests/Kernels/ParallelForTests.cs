using System.Collections.Concurrent;
using SpecNet.Kernels;

namespace SpecNet.Tests.Kernels;

/// <summary>How the backend splits work between its threads.</summary>
public class ParallelForTests
{
    /// <summary>
    /// Records which thread ran each item. One item is slow, as on a virtual CPU the host has lent away; the others take a
    /// couple of milliseconds each, so that the other thread cannot take all of theirs before this one starts, preempted
    /// by the tests running beside it.
    /// </summary>
    private sealed class Recorder(int slowItem) : IRangeWork
    {
        public readonly ConcurrentQueue<(int Part, int Item)> Runs = [];   // each thread's in the order it ran them

        public void Run(int part, int start, int end, bool nested)
        {
            for (int i = start; i < end; i++)
            {
                Thread.Sleep(i == slowItem ? 300 : 2);
                Runs.Enqueue((part, i));
            }
        }
    }

    [Fact]
    public void Each_thread_takes_its_own_share_first_then_the_others_from_their_ends()
    {
        var backend = new ManagedBackend(2);
        var work = new Recorder(slowItem: 0);
        Assert.Equal(2, backend.ParallelForEach(20, work));
        Assert.Equal(Enumerable.Range(0, 20), work.Runs.Select(r => r.Item).Order());   // every item once
        // While the thread whose share starts at item 0 sleeps in it, the other runs its own share in order (its outputs stay in its
        // cache for the next pass over those rows), then the sleeper's from the end: a fixed share would leave the sleeper nine of ten.
        int slowThread = work.Runs.Single(r => r.Item == 0).Part;
        Assert.Equal([0], work.Runs.Where(r => r.Part == slowThread).Select(r => r.Item));
        Assert.Equal([.. Enumerable.Range(10, 10), .. Enumerable.Range(1, 9).Reverse()], work.Runs.Where(r => r.Part != slowThread).Select(r => r.Item));

        var fixedShares = new Recorder(slowItem: -1);
        backend.ParallelFor(20, fixedShares);
        Assert.Equal(Enumerable.Range(0, 10), fixedShares.Runs.Where(r => r.Part == 0).Select(r => r.Item).Order());
    }

    [Fact]
    public void Small_work_stays_on_the_calling_thread()
    {
        var work = new Recorder(slowItem: -1);
        Assert.Equal(1, new ManagedBackend(2).ParallelForEach(3, work, itemWork: 1));
        Assert.All(work.Runs, r => Assert.Equal(0, r.Part));
    }

    private static readonly ConcurrentQueue<(int Part, int Start, int End)> Chunks = [];

    private static unsafe void RecordChunk(void* state, int part, int start, int end)
    {
        Thread.Sleep(start == 0 ? 300 : 2);   // the first chunk slow, as above
        Chunks.Enqueue((part, start, end));
    }

    [Fact]
    public unsafe void Chunks_of_a_pass_are_taken_whole_each_thread_its_own_first()
    {
        Chunks.Clear();
        // 137 items in chunks of 7: 19 whole and a last of 4, ten chunks a thread's share
        Assert.Equal(2, new ManagedBackend(2).ParallelForEach(137, &RecordChunk, null, Backend.MinParallelWork, grain: 7));
        Assert.Equal(Enumerable.Range(0, 20).Select(c => (c * 7, Math.Min(137, c * 7 + 7))), Chunks.Select(r => (r.Start, r.End)).Order());
        int slowThread = Chunks.Single(r => r.Start == 0).Part;
        Assert.Equal([0], Chunks.Where(r => r.Part == slowThread).Select(r => r.Start));
        Assert.Equal([.. Enumerable.Range(10, 10), .. Enumerable.Range(1, 9).Reverse()], Chunks.Where(r => r.Part != slowThread).Select(r => r.Start / 7));
    }
}
