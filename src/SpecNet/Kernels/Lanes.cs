using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SpecNet.Kernels;

/// <summary>
/// A vector width for kernels written once for both (.NET keeps its own interface over Vector256 and Vector512 internal): a
/// kernel generic over a struct <typeparamref name="TVector"/> and its <see cref="ILanes{TVector}"/> is compiled once per
/// width, every call here inlined, so each copy is the code written out for that width.
/// </summary>
internal unsafe interface ILanes<TVector> where TVector : struct
{
    /// <summary>Floats a vector.</summary>
    static abstract int Count { get; }
    static abstract TVector Load(float* p);

    /// <summary>The first <paramref name="count"/> floats at p (none when it is 0 or less), the other lanes 0; nothing past them is read (a masked load cannot fault there).</summary>
    static abstract TVector LoadFirst(float* p, int count);
    static abstract void Store(TVector v, float* p);
    static abstract TVector FusedMultiplyAdd(TVector a, TVector b, TVector c);
    static abstract TVector Multiply(TVector a, TVector b);
    static abstract TVector Add(TVector a, TVector b);
    static abstract TVector Subtract(TVector a, TVector b);
    static abstract TVector Create(float value);

    /// <summary>max(a, b) lane by lane, b where either is NaN (x86's max: <see cref="Elementwise.Relu(Vector256{float})"/> takes max(0, t)).</summary>
    static abstract TVector Max(TVector a, TVector b);

    static abstract TVector Divide(TVector a, TVector b);
    static abstract TVector Abs(TVector a);

    /// <summary>|<paramref name="magnitude"/>| with the sign of <paramref name="sign"/> (MathF.CopySign: -0 counts as negative).</summary>
    static abstract TVector WithSignOf(TVector magnitude, TVector sign);

    /// <summary>
    /// 2^n for lanes holding whole numbers n in [-126, 127]: n + 127 put in the exponent bits. The conversion is the machine's own
    /// (.NET's saturating one takes four instructions for what only a NaN or an n out of range would meet; a NaN's lanes stay NaN
    /// through the polynomial they multiply).
    /// </summary>
    static abstract TVector PowerOfTwo(TVector n);

    /// <summary><paramref name="whenTrue"/> in the lanes where a ≥ b, else <paramref name="whenFalse"/> (a NaN compares false).</summary>
    static abstract TVector AtLeast(TVector a, TVector b, TVector whenTrue, TVector whenFalse);

    /// <summary><paramref name="whenTrue"/> in the lanes where a &gt; b, else <paramref name="whenFalse"/> (a NaN compares false).</summary>
    static abstract TVector Above(TVector a, TVector b, TVector whenTrue, TVector whenFalse);

    /// <summary>IEEE 754's maximum and minimum, as MathF.Max and Min and TensorPrimitives give them: a NaN kept, +0 above -0.</summary>
    static abstract TVector Larger(TVector a, TVector b);
    static abstract TVector Smaller(TVector a, TVector b);
}

/// <summary>Eight floats a vector (AVX2).</summary>
internal readonly unsafe struct Lanes256 : ILanes<Vector256<float>>
{
    public static int Count => 8;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> LoadFirst(float* p, int count) =>
        Avx.MaskLoad(p, FirstLanes(count));

    /// <summary>A mask of the first <paramref name="count"/> lanes: a row of fewer floats than a vector (LeNet-5's 6 channels), read and written under it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FirstLanes(int count) => Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(count)).AsSingle();

    /// <summary>The lanes under <paramref name="mask"/> from p, 0 in the others; nothing read past them. Needs AVX.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> LoadUnder(float* p, Vector256<float> mask) => Avx.MaskLoad(p, mask);

    /// <summary>The lanes under <paramref name="mask"/> into p, nothing else written: AVX-512's masked store where the machine has it (AVX's is slow on AMD's cores). Needs AVX.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreUnder(Vector256<float> v, float* p, Vector256<float> mask)
    {
        if (Avx512F.VL.IsSupported) Avx512F.VL.MaskStore(p, mask, v);
        else Avx.MaskStore(p, mask, v);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> FusedMultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Create(float value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Avx.IsSupported ? Avx.Max(a, b) : Vector256.Max(b, a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Divide(Vector256<float> a, Vector256<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Abs(Vector256<float> a) => Vector256.Abs(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> WithSignOf(Vector256<float> magnitude, Vector256<float> sign) => Vector256.ConditionalSelect(Vector256.Create(-0f), sign, magnitude);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> PowerOfTwo(Vector256<float> n) => ((Vector256.ConvertToInt32Native(n) + Vector256.Create(127)) << 23).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> AtLeast(Vector256<float> a, Vector256<float> b, Vector256<float> whenTrue, Vector256<float> whenFalse) =>
        Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(a, b), whenTrue, whenFalse);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Above(Vector256<float> a, Vector256<float> b, Vector256<float> whenTrue, Vector256<float> whenFalse) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(a, b), whenTrue, whenFalse);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Larger(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Smaller(Vector256<float> a, Vector256<float> b) => Vector256.Min(a, b);
}

/// <summary>Sixteen floats a vector (AVX-512).</summary>
internal readonly unsafe struct Lanes512 : ILanes<Vector512<float>>
{
    public static int Count => 16;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> LoadFirst(float* p, int count) =>
        Avx512F.MaskLoad(p, FirstLanes(count), Vector512<float>.Zero);

    /// <summary>A mask of the first <paramref name="count"/> lanes (for masked loads and stores: a tile cut by C's edge).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FirstLanes(int count) => Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> FusedMultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Create(float value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Avx512F.IsSupported ? Avx512F.Max(a, b) : Vector512.Max(b, a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Divide(Vector512<float> a, Vector512<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Abs(Vector512<float> a) => Vector512.Abs(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> WithSignOf(Vector512<float> magnitude, Vector512<float> sign) => Vector512.ConditionalSelect(Vector512.Create(-0f), sign, magnitude);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> PowerOfTwo(Vector512<float> n) => ((Vector512.ConvertToInt32Native(n) + Vector512.Create(127)) << 23).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> AtLeast(Vector512<float> a, Vector512<float> b, Vector512<float> whenTrue, Vector512<float> whenFalse) =>
        Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(a, b), whenTrue, whenFalse);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Above(Vector512<float> a, Vector512<float> b, Vector512<float> whenTrue, Vector512<float> whenFalse) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(a, b), whenTrue, whenFalse);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Larger(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Smaller(Vector512<float> a, Vector512<float> b) => Vector512.Min(a, b);
}
