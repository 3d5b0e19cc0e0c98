using System.Diagnostics;
using System.Globalization;
using DeepLearning.Kernels;

namespace DeepLearning.Benchmarks;

/// <summary>
/// <c>autodiff --quick</c>: the tape's overhead against the built-in layers for the same MLP training step (forward,
/// softmax cross-entropy, backward, Adam), float32, same weights. The built-in model is the peer, timed in the same run,
/// alternating rounds. Prints one line per network:
/// <c>autodiff &lt;layers&gt; batch=&lt;m&gt; float threads=&lt;t&gt; builtin_us=&lt;x&gt; tape_us=&lt;y&gt; ratio=&lt;y/x&gt; builtin_alloc=&lt;bytes&gt; tape_alloc=&lt;bytes&gt; cpu="..."</c>.
/// </summary>
internal static class TapeQuick
{
    public static int Run(string[] args)
    {
        int threads = Option(args, "--threads", 1);
        int batch = Option(args, "--batch", 64);
        int rounds = Option(args, "--rounds", 5);
        Gemm.MaxThreads = threads;
        string cpu = CpuName();
        foreach (int[] sizes in new[] { new[] { 64, 128, 64, 10 }, [784, 256, 128, 10] })
        {
            Measure(sizes, batch, rounds, threads, cpu);
        }

        return 0;
    }

    private static void Measure(int[] sizes, int batch, int rounds, int threads, string cpu)
    {
        var random = new RandomSource(1);
        var x = Tensor.RandomNormal<float>(random, [batch, sizes[0]]);
        var labels = Enumerable.Range(0, batch).Select(_ => random.NextInt(sizes[^1])).ToArray();
        var y = DataSet.FromLabels(x, labels, sizes[^1]).Y;

        var builder = Model.Sequential<float>(sizes[0]);
        for (int l = 1; l < sizes.Length - 1; l++)
        {
            builder.Dense(sizes[l]).ReLU();
        }

        var model = builder.Dense(sizes[^1]).Softmax().Build(seed: 1);
        var builtinAdam = new Adam(1e-4);

        // The same network on the tape, over copies of the same initial weights.
        var tape = new Tape<float>();
        var p = model.Parameters.Select(q => tape.Variable(q.Value.Clone(), q.Name, q.Regularized)).ToArray();
        var tapeAdam = new Adam(1e-4);
        float inverseM = 1f / batch;
        void TapeStep()
        {
            var a = tape.Constant(x);
            int last = (p.Length / 2) - 1;
            for (int l = 0; l < last; l++)
            {
                a = (a.MatMul(p[2 * l], transposeB: true) + p[(2 * l) + 1]).ReLU();
            }

            var z = a.MatMul(p[2 * last], transposeB: true) + p[(2 * last) + 1];
            var j = -(tape.Constant(y) * z.LogSoftmax()).Sum() * inverseM;
            tape.ZeroGrad();
            j.Backward();
            tapeAdam.Step(tape.Parameters);
        }

        void BuiltinStep() => Trainer.Step(model, builtinAdam, x, y);

        // Warm up both (tiered JIT, buffers, optimizer state).
        for (int i = 0; i < 50; i++)
        {
            BuiltinStep();
            TapeStep();
        }

        int steps = Math.Max(20, (int)(2e8 / Flops(sizes, batch)));
        double builtin = double.MaxValue, taped = double.MaxValue;
        for (int r = 0; r < rounds; r++)
        {
            builtin = Math.Min(builtin, Time(BuiltinStep, steps));
            taped = Math.Min(taped, Time(TapeStep, steps));
        }

        long builtinAlloc = Allocated(BuiltinStep);
        long tapeAlloc = Allocated(TapeStep);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"autodiff {string.Join('-', sizes)} relu softmax adam batch={batch} float threads={threads} builtin_us={builtin:F1} tape_us={taped:F1} ratio={taped / builtin:F2} builtin_alloc={builtinAlloc} tape_alloc={tapeAlloc} cpu=\"{cpu}\""));
    }

    private static double Time(Action step, int steps)
    {
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < steps; i++)
        {
            step();
        }

        return Stopwatch.GetElapsedTime(start).TotalMicroseconds / steps;
    }

    private static long Allocated(Action step)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            step();
        }

        return (GC.GetAllocatedBytesForCurrentThread() - before) / 100;
    }

    /// <summary>About 6·m·Σ n[l-1]·n[l] floating-point operations per step (forward and two backward GEMMs).</summary>
    private static double Flops(int[] sizes, int batch)
    {
        double f = 0;
        for (int l = 1; l < sizes.Length; l++)
        {
            f += 6.0 * batch * sizes[l - 1] * sizes[l];
        }

        return f;
    }

    private static string CpuName()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? "unknown" : line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out int v) && v > 0 ? v : fallback;
    }
}
