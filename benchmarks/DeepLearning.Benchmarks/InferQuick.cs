using System.Diagnostics;
using System.Globalization;
using DeepLearning.Kernels;

namespace DeepLearning.Benchmarks;

/// <summary>
/// <c>infer --quick</c>: inference latency of the issue's network (784-256-128-10, ReLU, ReLU, softmax, float32,
/// standardized input) for batches of 1, 4, 16 and 10,000 examples, through <c>model.Predict</c> (a new tensor per
/// call) and a reusable <see cref="Predictor{T}"/> (caller's buffer), in the same run. Prints, per line, the median
/// microseconds per call over several timed batches and the bytes allocated per call once warm, and, when Debian's
/// python3-torch is installed, PyTorch's figure for the same network, batch and thread count measured in the same run
/// (<c>compare_inference.py</c>: eval mode, <c>torch.inference_mode()</c>, the same standardization inside the call):
/// <c>infer &lt;api&gt; batch=&lt;m&gt; threads=&lt;t&gt; us_per_call=&lt;x&gt; best=&lt;b&gt; allocated_per_call=&lt;bytes&gt;
/// [pytorch_us_per_call=&lt;y&gt; pytorch/ours=&lt;r&gt;]</c>. Options: <c>--reps N</c>, <c>--no-peer</c>.
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
        string? script = args.Contains("--no-peer") ? null : TrainQuick.PeerScript("compare_inference.py");
        var peer = new Dictionary<(int M, int Threads), double>();
        foreach (int threads in new[] { 1, 2 })
        {
            if (script is not null)
            {
                Peer(script, threads, reps, peer);
            }
        }

        // Every case once before any is timed: the first case timed right after the peer's process read 215 µs per call
        // (best 37) for one example, while its own warm-up alone had not let the JIT and the caches settle.
        foreach (bool timed in new[] { false, true })
        {
            foreach (int m in new[] { 1, 4, 16, 10000 })
            {
                foreach (int threads in new[] { 1, 2 })
                {
                    Gemm.MaxThreads = threads;
                    var x = data.Rows(0, m);
                    var xs = x.ReadOnlySpan.ToArray();
                    var y = new float[m * 10];
                    if (!timed)
                    {
                        WarmUp(() => model.Predict(x));
                        WarmUp(() => predictor.Predict(xs, y));
                        continue;
                    }

                    double? theirs = peer.TryGetValue((m, threads), out double t) ? t : null;
                    Report("predict", m, threads, reps, () => model.Predict(x), theirs);
                    Report("predictor", m, threads, reps, () => predictor.Predict(xs, y), theirs);
                }
            }
        }

        Gemm.MaxThreads = Environment.ProcessorCount;
        return 0;
    }

    // PyTorch's median µs per call for batches 1, 4, 16 and 10,000 at this thread count, from compare_inference.py.
    private static void Peer(string script, int threads, int reps, Dictionary<(int M, int Threads), double> into)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { script, "--threads", threads.ToString(CultureInfo.InvariantCulture), "--reps", reps.ToString(CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        string output = process.StandardOutput.ReadToEnd();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        int found = 0;
        foreach (string line in output.Split('\n'))
        {
            // pytorch infer batch=M threads=T us_per_call=X best=Y
            var fields = line.Split(' ');
            if (fields.Length < 6 || fields[0] != "pytorch"
                || !int.TryParse(fields[2].Replace("batch=", "", StringComparison.Ordinal), CultureInfo.InvariantCulture, out int m)
                || !double.TryParse(fields[4].Replace("us_per_call=", "", StringComparison.Ordinal), CultureInfo.InvariantCulture, out double us))
            {
                continue;
            }

            into[(m, threads)] = us;
            found++;
        }

        if (found == 0)
        {
            Console.Error.WriteLine($"# PyTorch peer not run ({(error.Contains("No module named", StringComparison.Ordinal) ? "python3-torch is not installed" : error.Trim())})");
        }
    }

    private static void WarmUp(Action call)
    {
        var sw = Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < 200)
        {
            call();
        }
    }

    private static void Report(string api, int m, int threads, int reps, Action call, double? theirs)
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
        string line = string.Create(CultureInfo.InvariantCulture,
            $"infer {api} batch={m} threads={threads} us_per_call={times[reps / 2]:F2} best={times[0]:F2} allocated_per_call={allocated}");
        if (theirs is double t)
        {
            line += string.Create(CultureInfo.InvariantCulture, $" pytorch_us_per_call={t:F2} pytorch/ours={t / times[reps / 2]:F2}");
        }

        Console.WriteLine(line);
    }
}
