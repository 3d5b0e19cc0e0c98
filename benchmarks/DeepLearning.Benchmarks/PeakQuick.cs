using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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
            _sinkF += Vector512.IsHardwareAccelerated ? Fma512<float>(n, 1.0000001f) : Fma256<float>(n, 1.0000001f);
        }
        else
        {
            _sinkD += Vector512.IsHardwareAccelerated ? Fma512<double>(n, 1.0000000001) : Fma256<double>(n, 1.0000000001);
        }
    }

    // 12 independent accumulators: a = a·m + m, never converging to anything the JIT could fold.
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static T Fma512<T>(long n, T scale)
        where T : unmanaged
    {
        var m = Vector512.Create(scale);
        Vector512<T> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m, a11 = m;
        for (long i = 0; i < n; i++)
        {
            a0 = Fma(a0, m); a1 = Fma(a1, m); a2 = Fma(a2, m); a3 = Fma(a3, m);
            a4 = Fma(a4, m); a5 = Fma(a5, m); a6 = Fma(a6, m); a7 = Fma(a7, m);
            a8 = Fma(a8, m); a9 = Fma(a9, m); a10 = Fma(a10, m); a11 = Fma(a11, m);
        }

        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);

        static Vector512<T> Fma(Vector512<T> a, Vector512<T> m) => typeof(T) == typeof(float)
            ? Vector512.FusedMultiplyAdd(a.AsSingle(), m.AsSingle(), m.AsSingle()).As<float, T>()
            : Vector512.FusedMultiplyAdd(a.AsDouble(), m.AsDouble(), m.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static T Fma256<T>(long n, T scale)
        where T : unmanaged
    {
        var m = Vector256.Create(scale);
        Vector256<T> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m, a11 = m;
        for (long i = 0; i < n; i++)
        {
            a0 = Fma(a0, m); a1 = Fma(a1, m); a2 = Fma(a2, m); a3 = Fma(a3, m);
            a4 = Fma(a4, m); a5 = Fma(a5, m); a6 = Fma(a6, m); a7 = Fma(a7, m);
            a8 = Fma(a8, m); a9 = Fma(a9, m); a10 = Fma(a10, m); a11 = Fma(a11, m);
        }

        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);

        static Vector256<T> Fma(Vector256<T> a, Vector256<T> m) => typeof(T) == typeof(float)
            ? Vector256.FusedMultiplyAdd(a.AsSingle(), m.AsSingle(), m.AsSingle()).As<float, T>()
            : Vector256.FusedMultiplyAdd(a.AsDouble(), m.AsDouble(), m.AsDouble()).As<double, T>();
    }
}
