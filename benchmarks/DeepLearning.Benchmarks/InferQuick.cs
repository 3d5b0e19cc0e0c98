using System.Diagnostics;
using System.Globalization;
using DeepLearning.Kernels;

namespace DeepLearning.Benchmarks;

/// <summary>
/// <c>infer --quick</c>: inference latency of the network (784-256-128-10, ReLU, ReLU, softmax, float32,
/// standardized input) for batches of 1, 16 and 10,000 examples, through <c>model.Predict</c> (a new tensor per
/// call) and a reusable <see cref="Predictor{T}"/> (caller's buffer), in the same run. Prints, per line, the median
/// microseconds per call over several timed batches and the bytes allocated per call once warm:
/// <c>infer &lt;api&gt; batch=&lt;m&gt; threads=&lt;t&gt; us_per_call=&lt;x&gt; allocated_per_call=&lt;bytes&gt;</c>.
/// </summary>
internal static class InferQuick
{
    public static int Run(string[] args)
    {
        int reps = args.Contains("--reps") ? int.Parse(args[Array.IndexOf(args, "--reps") + 1], CultureInfo.InvariantCulture) : 7;
        var model = Model.Sequential<float>(784).Dense(256).ReLU().Dense(128).ReLU().Dense(10).Softmax().Build(seed: 1);
        var random = new RandomSource(2);
        var data = Tensor.RandomUniform<float>(random, [10000, 784]);
        model.InputTransform = Standardizer.Fit(data);
        var predictor = model.CreatePredictor();
        foreach (int m in new[] { 1, 16, 10000 })
        {
            foreach (int threads in new[] { 1, 2 })
            {
                Gemm.MaxThreads = threads;
                var x = data.Rows(0, m);
                var xs = x.ReadOnlySpan.ToArray();
                var y = new float[m * 10];
                Report("predict", m, threads, reps, () => model.Predict(x));
                Report("predictor", m, threads, reps, () => predictor.Predict(xs, y));
            }
        }

        Gemm.MaxThreads = Environment.ProcessorCount;
        return 0;
    }

    private static void Report(string api, int m, int threads, int reps, Action call)
    {
        // Warm up (tiered JIT), then size batches to about 50 ms.
        var sw = Stopwatch.StartNew();
        int calls = 0;
        while (sw.ElapsedMilliseconds < 300 || calls < 5)
        {
            call();
            calls++;
        }

        int batch = Math.Max(3, (int)(calls * 50.0 / sw.Elapsed.TotalMilliseconds));
        var times = new double[reps];
        long allocated = long.MaxValue;
        for (int r = 0; r < reps; r++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            sw.Restart();
            for (int i = 0; i < batch; i++)
            {
                call();
            }

            times[r] = sw.Elapsed.TotalMicroseconds / batch;
            allocated = Math.Min(allocated, (GC.GetAllocatedBytesForCurrentThread() - before) / batch);
        }

        Array.Sort(times);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"infer {api} batch={m} threads={threads} us_per_call={times[reps / 2]:F2} best={times[0]:F2} allocated_per_call={allocated}"));
    }
}
