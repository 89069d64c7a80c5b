using System.Runtime.InteropServices;

namespace SpecNet.Kernels;

/// <summary>
/// Intel MKL's cblas_sgemm, through its C interface in libmkl_rt (Debian: libmkl-rt, non-free), found at
/// run time. Optional: <see cref="TryCreate"/> says why when it cannot be loaded.
/// Debian's MKL kills the process at the first GEMM ("symbol lookup error") unless an OpenMP runtime
/// is present or MKL_THREADING_LAYER says otherwise, and the variable must be set before the library
/// loads, in the C environment (Environment.SetEnvironmentVariable does not reach native code): so
/// SpecNet sets it through libc's setenv, to SEQUENTIAL. SpecNet's own threads split the work (each
/// convolution chunk runs one sequential MKL call); MKL's OpenMP threads would only fight them for the
/// cores (measured: 2.3x slower training with GNU threading on 2 cores). A user's MKL_THREADING_LAYER wins.
/// </summary>
public sealed unsafe class MklBackend : Backend
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
    private readonly int _threads;
    private readonly delegate* unmanaged<int, int> _setLocalThreads;
    private readonly string _version;

    private MklBackend(nint library, int threads, string layer)
    {
        _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(library, "cblas_sgemm");
        if (NativeLibrary.TryGetExport(library, "MKL_Set_Num_Threads_Local", out var local))
            _setLocalThreads = (delegate* unmanaged<int, int>)local;
        if (NativeLibrary.TryGetExport(library, "MKL_Set_Num_Threads", out var setThreads))
            ((delegate* unmanaged<int, void>)setThreads)(threads);
        _threads = threads;
        _version = $"Intel MKL via libmkl_rt, threading {layer}";
    }

    public override string Name => "mkl";
    public override string InstructionSet => _version;
    public override int Threads => _threads;

    private static readonly string[] Candidates = ["libmkl_rt.so", "libmkl_rt.so.2", "libmkl_rt.so.1", "/usr/lib/x86_64-linux-gnu/libmkl_rt.so"];

    /// <summary>The MKL backend, or null with the reason in <paramref name="why"/>.</summary>
    public static MklBackend? TryCreate(int threads, out string why)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsWindows()) { why = "MKL is only looked for on Linux and Windows"; return null; }
        var layer = Environment.GetEnvironmentVariable("MKL_THREADING_LAYER");
        if (string.IsNullOrEmpty(layer) && OperatingSystem.IsLinux())
        {
            layer = "SEQUENTIAL";
            SetEnv("MKL_THREADING_LAYER", layer);
        }
        foreach (var name in Candidates)
            if (NativeLibrary.TryLoad(name, out var handle))
            {
                if (!NativeLibrary.TryGetExport(handle, "cblas_sgemm", out _)) continue;
                why = "";
                return new MklBackend(handle, threads > 0 ? threads : Environment.ProcessorCount, layer ?? "default");
            }
        why = "libmkl_rt was not found (Debian: apt-get install libmkl-rt, from the non-free component)";
        return null;
    }

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnvNative(string name, string value, int overwrite);

    private static void SetEnv(string name, string value)
    {
        Environment.SetEnvironmentVariable(name, value);
        try { SetEnvNative(name, value, 1); } catch (DllNotFoundException) { } catch (EntryPointNotFoundException) { }
    }

    /// <summary>cblas_sgemm is thread-safe; inside a ParallelFor each thread asks MKL for one thread of its own.</summary>
    public override void GemmOnThread(int thread, Op opA, Op opB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        int previous = _setLocalThreads != null ? _setLocalThreads(1) : 0;
        try { Gemm(opA, opB, m, n, k, a, lda, b, ldb, beta, c, ldc); }
        finally { if (_setLocalThreads != null) _setLocalThreads(previous); }
    }

    public override void Gemm(Op opA, Op opB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pb = b, pc = c)
            _sgemm(RowMajor, opA == Op.N ? NoTrans : Trans, opB == Op.N ? NoTrans : Trans, m, n, k, 1f, pa, lda, pb, ldb, beta, pc, ldc);
    }
}
