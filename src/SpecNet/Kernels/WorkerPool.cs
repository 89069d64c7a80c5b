namespace SpecNet.Kernels;

/// <summary>
/// Persistent worker threads for fork-join inside one kernel call: the caller runs part 0, the workers
/// the others. Measured here, a small persistent pool that spins briefly before sleeping beats
/// Parallel.For on small GEMMs (no task allocation, no thread-pool hop).
/// </summary>
public sealed class WorkerPool
{
    private readonly ManualResetEventSlim[] _start;
    private readonly ManualResetEventSlim _done = new(false, 2000);
    private Action<int>? _work;
    private int _pending;
    private Exception? _error;

    public WorkerPool(int count)
    {
        Count = Math.Max(1, count);
        _start = new ManualResetEventSlim[Count];
        for (int i = 1; i < Count; i++)
        {
            _start[i] = new ManualResetEventSlim(false, 2000);
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
        _pending = Count - 1;
        _done.Reset();
        for (int i = 1; i < Count; i++) _start[i].Set();
        try { work(0); }
        finally { _done.Wait(); }
        if (_error is not null) throw new AggregateException(_error);
    }

    private void Loop(int index)
    {
        while (true)
        {
            _start[index].Wait();
            _start[index].Reset();
            try { _work!(index); }
            catch (Exception e) { _error = e; }
            if (Interlocked.Decrement(ref _pending) == 0) _done.Set();
        }
    }
}
