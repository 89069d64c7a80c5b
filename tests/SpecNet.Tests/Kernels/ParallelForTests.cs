using System.Collections.Concurrent;
using SpecNet.Kernels;

namespace SpecNet.Tests.Kernels;

/// <summary>How the backend splits work between its threads.</summary>
public class ParallelForTests
{
    /// <summary>Records which thread ran each item; the first item taken is slow, as on a virtual CPU the host has lent away.</summary>
    private sealed class Recorder(int slowItem) : IRangeWork
    {
        public readonly ConcurrentBag<(int Part, int Item)> Runs = [];

        public void Run(int part, int start, int end, bool nested)
        {
            for (int i = start; i < end; i++)
            {
                if (i == slowItem) Thread.Sleep(200);
                Runs.Add((part, i));
            }
        }
    }

    [Fact]
    public void Each_thread_takes_the_next_item_as_it_finishes_one()
    {
        var backend = new ManagedBackend(2);
        var work = new Recorder(slowItem: 0);
        Assert.Equal(2, backend.ParallelForEach(20, work));
        Assert.Equal(Enumerable.Range(0, 20), work.Runs.Select(r => r.Item).Order());   // every item once
        // while one thread sleeps in item 0, the other takes the rest (a fixed share would leave it nine of its ten)
        int slowThread = work.Runs.Single(r => r.Item == 0).Part;
        Assert.Equal([0], work.Runs.Where(r => r.Part == slowThread).Select(r => r.Item));

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
}
