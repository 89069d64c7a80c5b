using System.Numerics;

namespace SpecNet.Kernels;

/// <summary>Vectorised elementwise helpers used by layers and optimizers.</summary>
public static class Elementwise
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
}
