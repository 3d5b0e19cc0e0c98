using System.Diagnostics;
using System.Globalization;
using DeepLearning.Kernels;

namespace DeepLearning.Benchmarks;

/// <summary>
/// <c>train --quick</c>: seconds per epoch of the issue's reference run — Fashion-MNIST (or random data of the
/// same shape when it is absent), 784-256-128-10 with ReLU, softmax, Adam, mini-batches of 64, float32 —
/// through the real fit loop, with its efficiency (training GFLOP/s as a % of this machine's FMA peak, measured
/// in the same run with the same thread count) and, when Debian's python3-torch is installed, PyTorch's seconds per
/// epoch for the same network, data and thread count, measured in the same run. One line per thread count:
/// <c>train &lt;data&gt; 784-256-128-10[-&lt;net&gt;] &lt;optimizer&gt; batch=&lt;m&gt; float threads=&lt;t&gt; seconds_per_epoch=&lt;x&gt;
/// gflops=&lt;g&gt; peak_gflops=&lt;p&gt; efficiency=&lt;%&gt; allocated_per_step=&lt;bytes&gt;
/// [pytorch_seconds_per_epoch=&lt;y&gt; pytorch/ours=&lt;r&gt;]</c>.
/// Options: <c>--threads N</c>, <c>--batch M</c>, <c>--epochs E</c> (timed epochs, best kept), <c>--data DIR</c>,
/// <c>--no-peer</c>, <c>--parallel-flops N</c> and <c>--column-tiles N</c> (GEMM thread-split knobs, for tuning),
/// <c>--net NAME</c>, a variant of the reference network, which PyTorch runs too: <c>dropout</c> (inverted dropout
/// keeping 0.8 after each hidden ReLU), <c>batchnorm</c> (batch norm between each hidden Dense, then without bias, and
/// its ReLU), <c>tanh</c> or <c>sigmoid</c> (hidden activations), <c>l2</c> (L2, λ = 0.01), <c>momentum</c> (SGD with
/// momentum 0.9 at 0.01) or <c>rmsprop</c> (RMSprop, β = 0.9, at 0.001) instead of Adam.
/// </summary>
internal static class TrainQuick
{
    public static int Run(string[] args)
    {
        int epochs = Option(args, "--epochs", 3);
        int batch = Option(args, "--batch", 64);
        int[] threadCounts = args.Contains("--threads") ? [Option(args, "--threads", 1)] : [1, 2];
        var (train, name) = Load(args);
        GemmBlocking.ParallelFlops = Option(args, "--parallel-flops", (int)GemmBlocking.ParallelFlops);
        GemmBlocking.ColumnSplitTiles = Option(args, "--column-tiles", GemmBlocking.ColumnSplitTiles);
        string? peer = args.Contains("--no-peer") ? null : PeerScript("compare_training.py");
        string net = NetOption(args);
        var ci = CultureInfo.InvariantCulture;

        foreach (int threads in threadCounts)
        {
            Gemm.MaxThreads = threads;
            var model = Network(net);
            Optimizer optimizer = OptimizerOf(net);
            var options = new TrainingOptions<float> { Optimizer = optimizer, Epochs = 1, BatchSize = batch, Seed = 1, Regularization = net == "l2" ? Regularization.L2(0.01) : null };

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
            Trainer.Step(model, optimizer, xb, yb);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                Trainer.Step(model, optimizer, xb, yb);
            }

            long perStep = (GC.GetAllocatedBytesForCurrentThread() - before) / 100;
            double peak = PeakQuick.Measure(isFloat: true, threads, reps: 3);
            double gflops = FlopsPerExample(model) * train.Count / best / 1e9;
            string line = string.Create(ci,
                $"train {name} 784-256-128-10{(net == "reference" ? "" : "-" + net)} {optimizer.GetType().Name.ToLowerInvariant()} batch={batch} float threads={threads} seconds_per_epoch={best:F3} gflops={gflops:F1} peak_gflops={peak:F1} efficiency={100 * gflops / peak:F1}% allocated_per_step={perStep}");
            if (peer is not null && Peer(peer, threads, epochs, batch, net, name == "fashion-mnist" ? DataFolder(args) : null) is { } theirs)
            {
                line += string.Create(ci, $" pytorch_seconds_per_epoch={theirs:F3} pytorch/ours={theirs / best:F2}");
            }

            Console.WriteLine(line);
        }

        return 0;
    }

    /// <summary>The reference network, seed 1.</summary>
    internal static Model<float> Reference() => Network("reference");

    /// <summary>The reference network or one of its <c>--net</c> variants, seed 1.</summary>
    internal static Model<float> Network(string net)
    {
        var builder = Model.Sequential<float>(784);
        foreach (int units in new[] { 256, 128 })
        {
            builder = net switch
            {
                "tanh" => builder.Dense(units).Tanh(),
                "sigmoid" => builder.Dense(units).Sigmoid(),
                "dropout" => builder.Dense(units).ReLU().Dropout(0.8),
                "batchnorm" => builder.Dense(units, useBias: false).BatchNorm().ReLU(),
                _ => builder.Dense(units).ReLU(),
            };
        }

        return builder.Dense(10).Softmax().Build(seed: 1);
    }

    /// <summary>The <c>--net</c> variants; the first is the default.</summary>
    internal static readonly string[] Nets = ["reference", "dropout", "batchnorm", "tanh", "sigmoid", "l2", "momentum", "rmsprop"];

    /// <summary>The <c>--net</c> option (see <see cref="Nets"/>).</summary>
    internal static string NetOption(string[] args)
    {
        int i = Array.IndexOf(args, "--net");
        string net = i >= 0 && i + 1 < args.Length ? args[i + 1] : "reference";
        return Nets.Contains(net) ? net : throw new ArgumentException($"--net must be one of {string.Join(", ", Nets)}; received '{net}'.");
    }

    /// <summary>The optimizer of a <c>--net</c> variant: Adam(0.001) unless it names another.</summary>
    internal static Optimizer OptimizerOf(string net) => net switch
    {
        "momentum" => new Momentum(0.01, 0.9),
        "rmsprop" => new RmsProp(0.001, 0.9),
        _ => new Adam(0.001),
    };

    /// <summary>
    /// Floating-point operations of one training example through <paramref name="model"/>'s dense layers: 2·n·k for
    /// the forward GEMM, 2·n·k for dW, and 2·n·k for dA_prev except in the first layer (whose input needs no gradient).
    /// Element-wise work, the loss and the optimizer are not counted: the efficiency is of the useful GEMM work.
    /// </summary>
    internal static double FlopsPerExample(Model<float> model)
    {
        double flops = 0;
        bool first = true;
        foreach (var d in model.Layers.OfType<Dense<float>>())
        {
            flops += 2.0 * d.OutputSize * d.InputSize * (first ? 2 : 3);
            first = false;
        }

        return flops;
    }

    /// <summary>Fashion-MNIST's training set when installed, else random data of the same shape.</summary>
    internal static (DataSet<float> Train, string Name) Load(string[] args)
    {
        string? folder = DataFolder(args);
        if (Datasets.FashionMnistAvailable(folder))
        {
            return (Datasets.FashionMnist<float>(folder).Train, "fashion-mnist");
        }

        var random = new RandomSource(1);
        var x = Tensor.RandomUniform<float>(random, [60000, 784]);
        var labels = Enumerable.Range(0, 60000).Select(_ => random.NextInt(10)).ToArray();
        return (DataSet.FromLabels(x, labels, 10), "random-60000x784");
    }

    private static string? DataFolder(string[] args) => args.SkipWhile(a => a != "--data").Skip(1).FirstOrDefault();

    internal static int Option(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out int v) && v > 0 ? v : fallback;
    }

    // benchmarks/<name>, found from the working directory or the binary's folder upwards; null without /usr/bin/python3.
    internal static string? PeerScript(string name)
    {
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string path = Path.Combine(dir.FullName, "benchmarks", name);
                if (File.Exists(path))
                {
                    return File.Exists("/usr/bin/python3") ? path : null;
                }
            }
        }

        return null;
    }

    // PyTorch's best seconds per epoch for the same run, or null when python3-torch is missing.
    private static double? Peer(string script, int threads, int epochs, int batch, string net, string? folder)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { script, "--pytorch-only", "--threads", threads.ToString(CultureInfo.InvariantCulture), "--epochs", epochs.ToString(CultureInfo.InvariantCulture), "--batch", batch.ToString(CultureInfo.InvariantCulture), "--net", net })
        {
            psi.ArgumentList.Add(a);
        }

        if (folder is not null)
        {
            psi.ArgumentList.Add("--data");
            psi.ArgumentList.Add(folder);
        }

        using var process = Process.Start(psi)!;
        string output = process.StandardOutput.ReadToEnd();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (output.Contains("pytorch_blas=reference", StringComparison.Ordinal))
        {
            Console.Error.WriteLine("# PyTorch peer runs on the reference (netlib) BLAS: install libopenblas0-pthread, or its seconds (and the ratios) are not a fair peer");
        }

        foreach (string l in output.Split('\n'))
        {
            const string Key = "seconds_per_epoch=";
            int at = l.IndexOf(Key, StringComparison.Ordinal);
            if (l.StartsWith("pytorch ", StringComparison.Ordinal) && at > 0 && double.TryParse(l[(at + Key.Length)..].Trim(), CultureInfo.InvariantCulture, out double s))
            {
                return s;
            }
        }

        Console.Error.WriteLine($"# PyTorch peer not run ({(error.Contains("No module named", StringComparison.Ordinal) ? "python3-torch is not installed" : error.Trim())})");
        return null;
    }
}
