using System.Runtime.ExceptionServices;

namespace SpecNet.Kernels;

/// <summary>
/// Persistent worker threads for fork-join inside one kernel call: part 0 is the caller's, part i worker i's. Workers spin
/// on a generation counter for a short while before sleeping, so a GEMM that follows another within microseconds does not
/// pay a thread wake-up (measured here: a small spinning pool beats Parallel.For on small GEMMs; no task allocation, no
/// thread-pool hop).
/// A part is claimed before it runs, by its worker or, once the caller has run its own, by the caller: a worker the host has
/// not given a core yet (another process busy on it, or the worker asleep) does not hold the call up, the caller runs its
/// part instead. A part's work depends on its index alone, never on the thread that runs it, so the floats are the same.
/// </summary>
public sealed class WorkerPool
{
    // Checks a pause apart: a worker sees a new call, and the caller the last worker done, within tens of nanoseconds. The
    // workers checked 20 pauses apart, and the caller's SpinWait paused longer each round: a fork and join cost 0.5 us more
    // (a 40,000-float add on two threads 4.1 -> 3.6 us, one process, Zen 4; whole single images moved within the host's noise).
    // A worker still spins about 10 ms, as before, then sleeps.
    private const int SpinChecks = 300_000, JoinChecks = 100_000;

    private readonly object _gate = new();
    private Action<int>? _work;
    private long _generation;
    private readonly int[] _claimed;      // per part: 1 once someone has taken it in this call
    private int _done;                    // parts of this call finished
    private ExceptionDispatchInfo? _error;   // the first part's to fail, thrown by the caller as it was thrown

    public WorkerPool(int count) : this(count, count - 1) { }

    /// <summary>A pool of <paramref name="count"/> parts with only <paramref name="started"/> of its workers running (the tests: workers that never come).</summary>
    internal WorkerPool(int count, int started)
    {
        Count = Math.Max(1, count);
        _claimed = new int[Count];
        for (int i = 1; i <= Math.Min(started, Count - 1); i++)
        {
            int index = i;
            new Thread(() => Loop(index)) { IsBackground = true, Name = $"specnet-worker-{i}" }.Start();
        }
    }

    public int Count { get; }

    /// <summary>Runs work(0..Count-1), each part once, in parallel as far as the workers come, and returns when all are done.</summary>
    public void Run(Action<int> work)
    {
        if (Count == 1) { work(0); return; }
        _work = work;
        _error = null;
        Volatile.Write(ref _done, 0);
        for (int part = 1; part < Count; part++) Volatile.Write(ref _claimed[part], 0);
        lock (_gate)
        {
            Interlocked.Increment(ref _generation);
            Monitor.PulseAll(_gate);
        }
        RunPart(work, 0);
        // then every part no worker has taken yet
        for (int part = 1; part < Count; part++)
            if (Volatile.Read(ref _claimed[part]) == 0 && Interlocked.Exchange(ref _claimed[part], 1) == 0) RunPart(work, part);
        // and the parts workers took
        for (int checks = 0; Volatile.Read(ref _done) < Count && checks < JoinChecks; checks++) Thread.SpinWait(1);
        var spin = new SpinWait();   // a worker held up inside its part (preempted): yield to it
        while (Volatile.Read(ref _done) < Count) spin.SpinOnce(sleep1Threshold: -1);
        _error?.Throw();
    }

    private void RunPart(Action<int> work, int part)
    {
        try { work(part); }
        catch (Exception e) { Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null); }
        Interlocked.Increment(ref _done);
    }

    private void Loop(int index)
    {
        long seen = 0;
        while (true)
        {
            // Spin briefly for the next call, then sleep until one comes.
            int checks = 0;
            while (Volatile.Read(ref _generation) == seen && checks++ < SpinChecks) Thread.SpinWait(1);
            if (Volatile.Read(ref _generation) == seen)
                lock (_gate)
                    while (Volatile.Read(ref _generation) == seen) Monitor.Wait(_gate);
            seen = Volatile.Read(ref _generation);
            // the call's work is read after the claim: a worker late for one call may claim the next one's part, and runs that
            if (Interlocked.Exchange(ref _claimed[index], 1) == 0) RunPart(_work!, index);
        }
    }
}
