using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using DeepLearning.Kernels;

namespace DeepLearning.Benchmarks;

/// <summary>
/// <c>peak --quick</c>: this machine's FMA peak, the ceiling every other figure is a fraction of. Each thread runs
/// 12 independent fused multiply-adds on the widest hardware vector (512-bit when accelerated, else 256-bit) in a
/// loop (12 chains hide the FMA latency); fp32 and fp64, 1 and 2 threads, best of several ≥ 100 ms batches.
/// Prints <c>peak &lt;float|double&gt; bits=&lt;512|256&gt; threads=&lt;t&gt; gflops=&lt;x&gt;</c>.
/// </summary>
internal static class PeakQuick
{
    private const long Iterations = 40_000_000;

    public static int Run(string[] args)
    {
        int reps = args.Contains("--reps") ? int.Parse(args[Array.IndexOf(args, "--reps") + 1], CultureInfo.InvariantCulture) : 5;
        int bits = Vector512.IsHardwareAccelerated ? 512 : 256;
        foreach (bool isFloat in new[] { true, false })
        {
            foreach (int threads in new[] { 1, 2 })
            {
                double g = Measure(isFloat, threads, reps);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak {(isFloat ? "float" : "double")} bits={bits} threads={threads} gflops={g:F1}"));
            }
        }

        return 0;
    }

    /// <summary>Best GFLOP/s over <paramref name="reps"/> batches, all threads running at once.</summary>
    public static double Measure(bool isFloat, int threads, int reps)
    {
        int lanes = (Vector512.IsHardwareAccelerated ? 64 : 32) / (isFloat ? 4 : 8);
        double flopsPerThread = 2.0 * 12 * lanes * Iterations;
        Kernel(isFloat, 1000); // JIT
        double best = 0;
        for (int r = 0; r < reps; r++)
        {
            using var start = new Barrier(threads + 1);
            var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
            {
                start.SignalAndWait();
                Kernel(isFloat, Iterations);
            })).ToArray();
            foreach (var w in workers)
            {
                w.Start();
            }

            start.SignalAndWait();
            var sw = Stopwatch.StartNew();
            foreach (var w in workers)
            {
                w.Join();
            }

            best = Math.Max(best, flopsPerThread * threads / sw.Elapsed.TotalSeconds / 1e9);
        }

        return best;
    }

    private static float _sinkF;
    private static double _sinkD;

    private static void Kernel(bool isFloat, long n)
    {
        if (isFloat)
        {
            _sinkF += Vector512.IsHardwareAccelerated ? Fma<Simd512<float>, Vector512<float>, float>(n, 1.0000001f) : Fma<Simd256<float>, Vector256<float>, float>(n, 1.0000001f);
        }
        else
        {
            _sinkD += Vector512.IsHardwareAccelerated ? Fma<Simd512<double>, Vector512<double>, double>(n, 1.0000000001) : Fma<Simd256<double>, Vector256<double>, double>(n, 1.0000000001);
        }
    }

    // 12 independent accumulators on the GEMM's own SIMD abstraction: a = a·m + m, never converging to anything the
    // JIT could fold.
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static unsafe T Fma<TS, TV, T>(long n, T scale)
        where TS : struct, ISimd<TV, T>
        where TV : struct
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var m = TS.Broadcast(scale);
        TV a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m, a11 = m;
        for (long i = 0; i < n; i++)
        {
            a0 = TS.MulAdd(a0, m, m); a1 = TS.MulAdd(a1, m, m); a2 = TS.MulAdd(a2, m, m); a3 = TS.MulAdd(a3, m, m);
            a4 = TS.MulAdd(a4, m, m); a5 = TS.MulAdd(a5, m, m); a6 = TS.MulAdd(a6, m, m); a7 = TS.MulAdd(a7, m, m);
            a8 = TS.MulAdd(a8, m, m); a9 = TS.MulAdd(a9, m, m); a10 = TS.MulAdd(a10, m, m); a11 = TS.MulAdd(a11, m, m);
        }

        var sum = TS.Add(TS.Add(TS.Add(TS.Add(a0, a1), TS.Add(a2, a3)), TS.Add(TS.Add(a4, a5), TS.Add(a6, a7))), TS.Add(TS.Add(a8, a9), TS.Add(a10, a11)));
        T* lanes = stackalloc T[TS.Count];
        TS.Store(lanes, sum);
        T total = T.Zero;
        for (int i = 0; i < TS.Count; i++)
        {
            total += lanes[i];
        }

        return total;
    }
}
