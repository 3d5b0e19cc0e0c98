using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using DeepLearning.Kernels;

namespace DeepLearning.Benchmarks;

/// <summary>
/// The quick GEMM table: for each case, warm up, then the best of several timed batches (≥ 40 ms each),
/// printed as <c>gemm &lt;float|double&gt; &lt;NN|NT|TN|TT&gt; m= n= k= threads= gflops=</c>.
/// Options: <c>--threads 1|2</c> (only that count), <c>--reps N</c> (batches per case, default 5),
/// <c>--filter TEXT</c> (only cases whose line contains TEXT).
/// </summary>
public static class GemmQuick
{
    /// <summary>The cases of issue 3: (type, transposes, m, n, k).</summary>
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
        ("double", "NN", 1024, 1024, 1024),
    };

    /// <summary>Runs the table; returns the process exit code.</summary>
    public static int Run(string[] args)
    {
        int reps = int.Parse(Option(args, "--reps") ?? "5", CultureInfo.InvariantCulture);
        string? only = Option(args, "--threads");
        string? filter = Option(args, "--filter");
        int[] threadCounts = only is null ? new[] { 1, 2 } : new[] { int.Parse(only, CultureInfo.InvariantCulture) };
        foreach (var (type, op, m, n, k) in Cases)
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

    /// <summary>Best GFLOP/s of <paramref name="reps"/> timed batches of one case.</summary>
    public static double Measure<T>(string op, int m, int n, int k, int threads, int reps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Transpose ta = op[0] == 'T' ? Transpose.Transposed : Transpose.None;
        Transpose tb = op[1] == 'T' ? Transpose.Transposed : Transpose.None;
        int lda = ta == Transpose.None ? k : m;
        int ldb = tb == Transpose.None ? n : k;
        var rng = new Random(7);
        T[] a = Fill<T>(m * k, rng), b = Fill<T>(k * n, rng), c = new T[m * n];
        Gemm.MaxThreads = threads;
        void Once() => Gemm.Multiply(ta, tb, m, n, k, T.One, a, lda, b, ldb, T.Zero, c, n);

        double flops = 2.0 * m * n * k;
        var sw = Stopwatch.StartNew();
        int calls = 0;
        while (sw.Elapsed.TotalMilliseconds < 60 || calls < 3)
        {
            Once();
            calls++;
        }

        int batch = Math.Max(1, (int)(calls * 40.0 / sw.Elapsed.TotalMilliseconds));
        double best = 0;
        for (int r = 0; r < reps; r++)
        {
            sw.Restart();
            for (int i = 0; i < batch; i++)
            {
                Once();
            }

            best = Math.Max(best, flops * batch / sw.Elapsed.TotalSeconds / 1e9);
        }

        Gemm.MaxThreads = Environment.ProcessorCount;
        return best;
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
