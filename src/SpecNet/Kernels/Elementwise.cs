using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SpecNet.Kernels;

/// <summary>Vectorised elementwise helpers used by layers and optimizers.</summary>
public static unsafe class Elementwise
{
    /// <summary>x *= s</summary>
    public static void Scale(Span<float> x, float s)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vs = new Vector<float>(s);
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
                (new Vector<float>(x[i..]) * vs).CopyTo(x[i..]);
        }
        for (; i < x.Length; i++) x[i] *= s;
    }

    /// <summary>x += y</summary>
    public static void Add(Span<float> x, ReadOnlySpan<float> y)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
                (new Vector<float>(x[i..]) + new Vector<float>(y[i..])).CopyTo(x[i..]);
        for (; i < x.Length; i++) x[i] += y[i];
    }

    /// <summary>Adds bias[c] to every row of x viewed as (rows, bias.Length).</summary>
    public static void AddBias(Span<float> x, ReadOnlySpan<float> bias)
    {
        int c = bias.Length;
        for (int r = 0; r + c <= x.Length; r += c) Add(x.Slice(r, c), bias);
    }

    /// <summary>db[c] = sum over rows of dy viewed as (rows, db.Length).</summary>
    public static void SumRows(ReadOnlySpan<float> dy, Span<float> db)
    {
        db.Clear();
        int c = db.Length;
        for (int r = 0; r + c <= dy.Length; r += c)
        {
            var row = dy.Slice(r, c);
            int i = 0;
            if (Vector.IsHardwareAccelerated)
                for (; i <= c - Vector<float>.Count; i += Vector<float>.Count)
                    (new Vector<float>(db[i..]) + new Vector<float>(row[i..])).CopyTo(db[i..]);
            for (; i < c; i++) db[i] += row[i];
        }
    }

    /// <summary>y = max(y, 0), in place.</summary>
    public static void Relu(Span<float> y)
    {
        int i = 0;
        ref float r = ref MemoryMarshal.GetReference(y);
        for (; i <= y.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            Vector256.Max(Vector256.LoadUnsafe(ref r, (nuint)i), Vector256<float>.Zero).StoreUnsafe(ref r, (nuint)i);
        for (; i < y.Length; i++) y[i] = Math.Max(y[i], 0f);
    }

    /// <summary>dz = y > 0 ? dy : 0 (relu's backward from its output; dz may be dy).</summary>
    public static void ReluBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dz)
    {
        int i = 0;
        ref float ry = ref MemoryMarshal.GetReference(y), rdy = ref MemoryMarshal.GetReference(dy), rdz = ref MemoryMarshal.GetReference(dz);
        for (; i <= dz.Length - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            var positive = Vector256.GreaterThan(Vector256.LoadUnsafe(ref ry, (nuint)i), Vector256<float>.Zero);
            (Vector256.LoadUnsafe(ref rdy, (nuint)i) & positive).StoreUnsafe(ref rdz, (nuint)i);
        }
        for (; i < dz.Length; i++) dz[i] = y[i] > 0 ? dy[i] : 0;
    }

    /// <summary>y = max(y + bias, 0) per row of bias.Length (bias may be empty): the usual conv/dense epilogue in one pass, split between threads.</summary>
    public static void AddBiasRelu(Backend kernels, Span<float> y, ReadOnlySpan<float> bias, int channels)
    {
        int rows = y.Length / channels;
        fixed (float* py = y, pb = bias)
        {
            float* yp = py, bp = bias.Length == 0 ? null : pb;
            kernels.ParallelFor(rows, (r0, r1) =>
            {
                var b = bp == null ? default : new ReadOnlySpan<float>(bp, channels);
                for (int r = r0; r < r1; r++)
                {
                    var row = new Span<float>(yp + (long)r * channels, channels);
                    if (bp != null) Add(row, b);
                    Relu(row);
                }
            });
        }
    }

    /// <summary>dz = y > 0 ? dy : 0, split between threads.</summary>
    public static void ReluBackward(Backend kernels, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dz)
    {
        int length = dz.Length;
        fixed (float* py = y, pdy = dy, pdz = dz)
        {
            float* yp = py, dyp = pdy, dzp = pdz;
            kernels.ParallelFor(length / 4096 + 1, (c0, c1) =>
            {
                long start = (long)c0 * 4096, end = Math.Min((long)c1 * 4096, length);
                if (start >= end) return;
                int len = (int)(end - start);
                ReluBackward(new ReadOnlySpan<float>(yp + start, len), new ReadOnlySpan<float>(dyp + start, len), new Span<float>(dzp + start, len));
            });
        }
    }
}
