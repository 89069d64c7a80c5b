namespace SpecNet.Kernels;

/// <summary>
/// Persistent worker threads for fork-join inside one kernel call: the caller runs part 0, the workers
/// the others. Workers spin on a generation counter for a short while before sleeping, so a GEMM that
/// follows another within microseconds does not pay a thread wake-up (measured here: a small spinning
/// pool beats Parallel.For on small GEMMs; no task allocation, no thread-pool hop).
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
    private int _pending;
    private Exception? _error;

    public WorkerPool(int count)
    {
        Count = Math.Max(1, count);
        for (int i = 1; i < Count; i++)
        {
            int index = i;
            new Thread(() => Loop(index)) { IsBackground = true, Name = $"specnet-worker-{i}" }.Start();
        }
    }

    public int Count { get; }

    /// <summary>Runs work(0..Count-1) in parallel and returns when all are done.</summary>
    public void Run(Action<int> work)
    {
        if (Count == 1) { work(0); return; }
        _work = work;
        _error = null;
        Volatile.Write(ref _pending, Count - 1);
        lock (_gate)
        {
            Interlocked.Increment(ref _generation);
            Monitor.PulseAll(_gate);
        }
        try { work(0); }
        finally
        {
            for (int checks = 0; Volatile.Read(ref _pending) > 0 && checks < JoinChecks; checks++) Thread.SpinWait(1);
            var spin = new SpinWait();   // a worker held up (preempted): yield to it
            while (Volatile.Read(ref _pending) > 0) spin.SpinOnce(sleep1Threshold: -1);
        }
        if (_error is not null) throw new AggregateException(_error);
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
            try { _work!(index); }
            catch (Exception e) { _error = e; }
            Interlocked.Decrement(ref _pending);
        }
    }
}
