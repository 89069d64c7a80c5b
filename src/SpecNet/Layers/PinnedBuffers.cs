using System.Runtime.InteropServices;

namespace SpecNet.Layers;

/// <summary>
/// A layer's input buffers (or their gradients'), pinned for one pass on the threads, whose function pointers take raw
/// pointers: the plan's buffers are ordinary arrays. The handles live in the caller's stack, so a step allocates nothing.
/// An empty buffer (an input whose gradient nobody needs) gets a null pointer.
/// </summary>
internal readonly unsafe ref struct PinnedBuffers
{
    private readonly Span<GCHandle> _handles;

    public PinnedBuffers(float[][] buffers, Span<GCHandle> handles, float** pointers)
    {
        _handles = handles[..buffers.Length];
        _handles.Clear();
        for (int i = 0; i < buffers.Length; i++)
        {
            pointers[i] = null;
            if (buffers[i].Length == 0) continue;
            _handles[i] = GCHandle.Alloc(buffers[i], GCHandleType.Pinned);
            pointers[i] = (float*)_handles[i].AddrOfPinnedObject();
        }
    }

    public void Dispose()
    {
        foreach (ref var handle in _handles) if (handle.IsAllocated) handle.Free();
    }
}
