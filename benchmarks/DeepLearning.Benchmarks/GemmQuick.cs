using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using DeepLearning.Kernels;

namespace DeepLearning.Benchmarks;

/// <summary>
/// The quick GEMM table: for each case, warm up, then the best of several timed batches (≥ 40 ms each),
/// printed as <c>gemm &lt;float|double&gt; &lt;NN|NT|TN|TT&gt; m= n= k= threads= gflops=</c>.
/// Options: <c>--threads 1|2</c> (only that count), <c>--reps N</c> (batches per case, default 5),
/// <c>--case float,NN,m,n,k;...</c> (other cases), <c>--kc/--mc/--nc/--direct N</c> (override the blocking knobs, for tuning), <c>--filter TEXT</c> (only cases whose line contains TEXT), <c>--prepacked</c> (B packed once with Gemm.PackB), <c>--cpu</c> (divide by the process's CPU time
/// per thread instead of wall time: on a shared, overloaded machine this counts only the time we actually ran).
/// </summary>
public static class GemmQuick
{
    /// <summary>
    /// The cases of issues 3 and 13: (type, transposes, m, n, k). A "p" after the transposes means B is packed once
    /// beforehand (<see cref="Gemm.PackB{T}"/>), as a <see cref="Predictor{T}"/> does for one example at a time.
    /// </summary>
    public static readonly (string Type, string Op, int M, int N, int K)[] Cases =
    {
        ("float", "NN", 256, 256, 256),
        ("float", "NN", 512, 512, 512),
        ("float", "NN", 1024, 1024, 1024),
        ("float", "NN", 2048, 2048, 2048),
        ("float", "NT", 64, 256, 784),
        ("float", "NT", 256, 256, 784),
        ("float", "TN", 256, 784, 64),
        ("float", "NN", 64, 784, 256),
        ("float", "NT", 64, 10, 128),
        ("float", "NTp", 1, 256, 784),
        ("float", "NTp", 1, 10, 128),
        ("double", "NN", 1024, 1024, 1024),
        ("double", "NT", 64, 256, 784),
    };

    /// <summary>Runs the table; returns the process exit code.</summary>
    public static int Run(string[] args)
    {
        if (args.Contains("--probe-pack"))
        {
            ProbePack();
            return 0;
        }

        int reps = int.Parse(Option(args, "--reps") ?? "5", CultureInfo.InvariantCulture);
        string? only = Option(args, "--threads");
        string? filter = Option(args, "--filter");
        _cpuTime = args.Contains("--cpu");
        _prepacked = args.Contains("--prepacked");
        GemmBlocking.KC = int.Parse(Option(args, "--kc") ?? GemmBlocking.KC.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        GemmBlocking.MC = int.Parse(Option(args, "--mc") ?? GemmBlocking.MC.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        GemmBlocking.NC = int.Parse(Option(args, "--nc") ?? GemmBlocking.NC.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        GemmBlocking.DirectAMaxPanels = int.Parse(Option(args, "--direct") ?? GemmBlocking.DirectAMaxPanels.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        int[] threadCounts = only is null ? new[] { 1, 2 } : new[] { int.Parse(only, CultureInfo.InvariantCulture) };
        var cases = Cases;
        if (Option(args, "--case") is { } custom)
        {
            // --case float,NN,1000,1000,1000[;double,NT,...]
            cases = custom.Split(';').Select(c => c.Split(',')).Select(f => (f[0], f[1], int.Parse(f[2], CultureInfo.InvariantCulture), int.Parse(f[3], CultureInfo.InvariantCulture), int.Parse(f[4], CultureInfo.InvariantCulture))).ToArray();
        }

        // Warm the JIT (tiered compilation) on the cases themselves, at every thread count, before anything is timed.
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 1000)
        {
            foreach (var (type, op, m, n, k) in cases)
            {
                foreach (int t in threadCounts)
                {
                    _ = type == "float" ? Measure<float>(op, Math.Min(m, 256), Math.Min(n, 256), Math.Min(k, 784), t, 1, quick: true) : Measure<double>(op, Math.Min(m, 256), Math.Min(n, 256), Math.Min(k, 784), t, 1, quick: true);
                }
            }
        }

        foreach (var (type, op, m, n, k) in cases)
        {
            foreach (int t in threadCounts)
            {
                string head = $"gemm {type} {op} m={m} n={n} k={k} threads={t}";
                if (filter is not null && !head.Contains(filter, StringComparison.Ordinal))
                {
                    continue;
                }

                double gflops = type == "float" ? Measure<float>(op, m, n, k, t, reps) : Measure<double>(op, m, n, k, t, reps);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{head} gflops={gflops:F1}"));
            }
        }

        return 0;
    }

    private static bool _cpuTime;
    private static bool _prepacked;

    /// <summary>Best GFLOP/s of <paramref name="reps"/> timed batches of one case.</summary>
    public static double Measure<T>(string op, int m, int n, int k, int threads, int reps, bool quick = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Transpose ta = op[0] == 'T' ? Transpose.Transposed : Transpose.None;
        Transpose tb = op[1] == 'T' ? Transpose.Transposed : Transpose.None;
        int lda = ta == Transpose.None ? k : m;
        int ldb = tb == Transpose.None ? n : k;
        var rng = new Random(7);
        T[] a = Fill<T>(m * k, rng), b = Fill<T>(k * n, rng), c = new T[m * n];
        Gemm.MaxThreads = threads;
        GemmPackedB<T>? packed = _prepacked || op.EndsWith('p') ? Gemm.PackB<T>(tb, k, n, b, ldb) : null;
        void Once()
        {
            if (packed is null)
            {
                Gemm.Multiply(ta, tb, m, n, k, T.One, a, lda, b, ldb, T.Zero, c, n);
            }
            else
            {
                Gemm.Multiply(ta, m, T.One, a, lda, packed, T.Zero, c, n);
            }
        }

        double flops = 2.0 * m * n * k;
        var sw = Stopwatch.StartNew();
        int calls = 0;
        while (sw.Elapsed.TotalMilliseconds < (quick ? 5 : 60) || calls < 3)
        {
            Once();
            calls++;
        }

        if (quick)
        {
            return 0;
        }

        int batch = Math.Max(1, (int)(calls * 40.0 / sw.Elapsed.TotalMilliseconds));
        double best = 0;
        var process = Process.GetCurrentProcess();
        for (int r = 0; r < reps; r++)
        {
            process.Refresh();
            TimeSpan cpu0 = process.TotalProcessorTime;
            sw.Restart();
            for (int i = 0; i < batch; i++)
            {
                Once();
            }

            double seconds = sw.Elapsed.TotalSeconds;
            if (_cpuTime)
            {
                process.Refresh();
                seconds = (process.TotalProcessorTime - cpu0).TotalSeconds / threads;
            }

            best = Math.Max(best, flops * batch / seconds / 1e9);
        }

        Gemm.MaxThreads = Environment.ProcessorCount;
        return best;
    }

    private static unsafe void ProbePack()
    {
        // Packs a (256, 784) W as op(B) = Wᵀ (k = 784, n = 256): two 392-deep blocks, four 64-wide panels each,
        // as the layer-1 forward GEMM does every step.
        int k = 784, n = 256, kc = 392;
        float[] b = Fill<float>(k * n, new Random(1));
        float[] dst = new float[k * n];
        fixed (float* pb = b, pd = dst)
        {
            foreach (bool trans in new[] { false, true })
            {
                for (int round = 0; round < 5; round++)
                {
                    var sw = Stopwatch.StartNew();
                    int count = 0;
                    while (sw.ElapsedMilliseconds < 300)
                    {
                        for (int pc = 0; pc < k; pc += kc)
                        {
                            for (int j = 0; j < n; j += 64)
                            {
                                GemmPacking.PackB(trans, kc, 64, 64, trans ? pb + (j * k) + pc : pb + (pc * n) + j, trans ? k : n, pd + (pc * n) + (j * kc));
                            }
                        }

                        count++;
                    }

                    Console.WriteLine($"trans={trans}: {sw.Elapsed.TotalMilliseconds * 1e6 / count / ((double)k * n):F3} ns/element, {sw.Elapsed.TotalMilliseconds * 1e3 / count:F1} µs per W");
                }
            }
        }
    }

    private static T[] Fill<T>(int count, Random rng)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = new T[count];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = T.CreateTruncating(rng.NextDouble() - 0.5);
        }

        return x;
    }

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
