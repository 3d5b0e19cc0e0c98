using System.Diagnostics;
using System.Globalization;
using DeepLearning.Kernels;

namespace DeepLearning.Benchmarks;

/// <summary>
/// <c>train --quick</c>: seconds per epoch of the reference run — Fashion-MNIST (or random data of the
/// same shape when it is absent), 784-256-128-10 with ReLU, softmax, Adam, mini-batches of 64, float32 —
/// through the real fit loop. Prints one line per thread count:
/// <c>train fashion-mnist 784-256-128-10 adam batch=64 float threads=&lt;t&gt; seconds_per_epoch=&lt;x&gt; allocated_per_step=&lt;bytes&gt;</c>.
/// </summary>
internal static class TrainQuick
{
    public static int Run(string[] args)
    {
        int epochs = Option(args, "--epochs", 3);
        int batch = Option(args, "--batch", 64);
        string? folder = args.SkipWhile(a => a != "--data").Skip(1).FirstOrDefault();
        int[] threadCounts = args.Contains("--threads") ? [Option(args, "--threads", 1)] : [1, 2];

        DataSet<float> train;
        string name;
        if (Datasets.FashionMnistAvailable(folder))
        {
            train = Datasets.FashionMnist<float>(folder).Train;
            name = "fashion-mnist";
        }
        else
        {
            var random = new RandomSource(1);
            var x = Tensor.RandomUniform<float>(random, [60000, 784]);
            var labels = Enumerable.Range(0, 60000).Select(_ => random.NextInt(10)).ToArray();
            train = DataSet.FromLabels(x, labels, 10);
            name = "random-60000x784";
        }

        foreach (int threads in threadCounts)
        {
            Gemm.MaxThreads = threads;
            var model = Model.Sequential<float>(784).Dense(256).ReLU().Dense(128).ReLU().Dense(10).Softmax().Build(seed: 1);
            var options = new TrainingOptions<float> { Optimizer = new Adam(0.001), Epochs = 1, BatchSize = batch, Seed = 1 };

            // Warm up the JIT (tiered compilation) on a slice, then time whole epochs and keep the best.
            model.Fit(train.Take(batch * 200), options);
            double best = double.MaxValue;
            for (int e = 0; e < epochs; e++)
            {
                var watch = Stopwatch.StartNew();
                model.Fit(train, options);
                best = Math.Min(best, watch.Elapsed.TotalSeconds);
            }

            var xb = train.X.Rows(0, batch);
            var yb = train.Y.Rows(0, batch);
            var adam = (Adam)options.Optimizer;
            Trainer.Step(model, adam, xb, yb);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                Trainer.Step(model, adam, xb, yb);
            }

            long perStep = (GC.GetAllocatedBytesForCurrentThread() - before) / 100;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"train {name} 784-256-128-10 adam batch={batch} float threads={threads} seconds_per_epoch={best:F3} allocated_per_step={perStep}"));
        }

        return 0;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out int v) && v > 0 ? v : fallback;
    }
}
