using System.Diagnostics;
using System.Globalization;
using DeepLearning.Kernels;

namespace DeepLearning.Benchmarks;

/// <summary>
/// <c>train --profile</c>: where a training step's time goes. Runs epochs of the reference MLP (as
/// <c>train --quick</c>) through a step spelled out operation by operation — the same kernels, in the same order, as
/// <see cref="Model{T}.ComputeGradients"/> and <see cref="Optimizer.Step{T}"/> — with a timestamp between phases,
/// and prints per phase the microseconds per step, its share, and for the GEMMs their GFLOP/s and % of the machine's
/// peak; then the real fit loop's time per step for comparison (the two agree within a few per cent). A first epoch
/// warms the JIT up and is not counted.
/// Options: <c>--threads N</c> (GEMM threads, default 1), <c>--batch M</c>, <c>--epochs E</c>, <c>--data DIR</c>.
/// </summary>
internal static class TrainProfile
{
    private static readonly string[] _phases =
    [
        "data gathering (shuffled rows → batch)",
        "forward GEMMs (+ fused bias, ReLU)",
        "softmax + loss + dZ of the output",
        "backward element-wise (db)",
        "backward GEMMs (dW, dZ_prev incl. ReLU′)",
        "optimizer (Adam)",
        "bookkeeping (accuracy, cost sum)",
    ];

    public static int Run(string[] args)
    {
        int threads = TrainQuick.Option(args, "--threads", 1);
        int batch = TrainQuick.Option(args, "--batch", 64);
        int epochs = TrainQuick.Option(args, "--epochs", 2);
        var (train, name) = TrainQuick.Load(args);
        Gemm.MaxThreads = threads;
        double peak = PeakQuick.Measure(isFloat: true, threads, reps: 3);

        var model = TrainQuick.Reference();
        var adam = new Adam(0.001);
        var options = new TrainingOptions<float> { Optimizer = adam, Epochs = 1, BatchSize = batch, Seed = 1 };
        model.Fit(train.Take(batch * 200), options);

        var dense = model.Layers.OfType<Dense<float>>().ToArray();
        var softmax = (ActivationLayer<float>)model.Layers[^1];
        int layers = dense.Length;
        var inputs = new Tensor<float>[layers];
        var dz = dense.Select(d => new Tensor<float>(batch, d.OutputSize)).ToArray();
        var bx = new Tensor<float>(batch, 784);
        var by = new Tensor<float>(batch, 10);
        var gemmTicks = new long[layers, 3];
        var times = new long[_phases.Length];
        long steps = 0;
        var shuffle = new RandomSource(1);
        double fitSeconds = double.MaxValue;

        // Epoch 0 warms the JIT up on this spelled-out step (its code is not the fit loop's, so the warm-up above does
        // not cover it: counted, it read 2× slow) and is not counted.
        for (int e = 0; e <= epochs; e++)
        {
            if (e == 1)
            {
                Array.Clear(times);
                Array.Clear(gemmTicks);
                steps = 0;
                fitSeconds = double.MaxValue;
            }

            using var reader = train.OpenEpoch(batch, shuffle);
            long t0 = Stopwatch.GetTimestamp();
            while (true)
            {
                int rows = reader.Next(bx, by);
                if (rows != batch)
                {
                    break; // the short last batch is left out of the profile
                }

                long t1 = Stopwatch.GetTimestamp();
                times[0] += t1 - t0;

                // Forward: each Dense is one GEMM with bias and ReLU in its epilogue.
                var a = bx;
                for (int l = 0; l < layers; l++)
                {
                    long g0 = Stopwatch.GetTimestamp();
                    inputs[l] = a;
                    a = dense[l].Forward(a, training: true);
                    gemmTicks[l, 0] += Stopwatch.GetTimestamp() - g0;
                }

                long t2 = Stopwatch.GetTimestamp();
                times[1] += t2 - t1;

                var yhat = softmax.Forward(a, training: true);
                double cost = model.Loss.Cost(a, by);
                model.Loss.OutputGradient(yhat, by, dz[layers - 1]);
                long t3 = Stopwatch.GetTimestamp();
                times[2] += t3 - t2;

                long elementwise = 0, gemms = 0;
                for (int l = layers - 1; l >= 0; l--)
                {
                    var d = dense[l];
                    int n = d.OutputSize, k = d.InputSize;
                    long b0 = Stopwatch.GetTimestamp();
                    Gemm.Multiply(Transpose.Transposed, Transpose.None, n, k, batch, 1f, dz[l].ReadOnlySpan, n, inputs[l].ReadOnlySpan, k, 0f, d.Weight.Gradient.Span, k);
                    long b1 = Stopwatch.GetTimestamp();
                    ElementWise.SumColumns(dz[l].ReadOnlySpan, batch, n, d.Bias!.Gradient.Span);
                    long b2 = Stopwatch.GetTimestamp();
                    gemmTicks[l, 1] += b1 - b0;
                    elementwise += b2 - b1;
                    gemms += b1 - b0;
                    if (l == 0)
                    {
                        break;
                    }

                    // dZ_prev = (dZ·W) ⊙ ReLU′(A_prev), the derivative applied inside the GEMM as the model does.
                    Gemm.MultiplyBackward(Transpose.None, Transpose.None, batch, k, n, dz[l].ReadOnlySpan, n, d.Weight.Value.ReadOnlySpan, k, dz[l - 1].Span, k, dense[l - 1].Activation, inputs[l].ReadOnlySpan, 0f);
                    long b3 = Stopwatch.GetTimestamp();
                    gemmTicks[l, 2] += b3 - b2;
                    gemms += b3 - b2;
                }

                long t4 = Stopwatch.GetTimestamp();
                times[3] += elementwise;
                times[4] += gemms;

                adam.Step(model.Parameters);
                long t5 = Stopwatch.GetTimestamp();
                times[5] += t5 - t4;

                _ = Accuracy.CountCorrect(yhat, by) + cost;
                t0 = Stopwatch.GetTimestamp();
                times[6] += t0 - t5;
                steps++;
            }

            var watch = Stopwatch.StartNew();
            model.Fit(train, options);
            fitSeconds = Math.Min(fitSeconds, watch.Elapsed.TotalSeconds);
        }

        double tick = 1e6 / Stopwatch.Frequency;
        double total = times.Sum() * tick / steps;
        var ci = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(ci, $"profile {name} 784-256-128-10 adam batch={batch} float threads={threads} steps={steps} peak_gflops={peak:F1}"));
        for (int i = 0; i < _phases.Length; i++)
        {
            double us = times[i] * tick / steps;
            Console.WriteLine(string.Create(ci, $"  {_phases[i],-42} {us,8:F1} µs/step {100 * us / total,5:F1}%"));
        }

        Console.WriteLine(string.Create(ci, $"  {"sum of the phases",-42} {total,8:F1} µs/step"));
        string[] kinds = ["forward  A·Wᵀ", "backward dZᵀ·A", "backward dZ·W⊙g′"];
        for (int l = 0; l < layers; l++)
        {
            var d = dense[l];
            double flops = 2.0 * batch * d.OutputSize * d.InputSize;
            for (int kind = 0; kind < 3; kind++)
            {
                if (gemmTicks[l, kind] == 0)
                {
                    continue;
                }

                double us = gemmTicks[l, kind] * tick / steps;
                double gflops = flops / us / 1e3;
                string shape = kind switch
                {
                    0 => $"NT m={batch} n={d.OutputSize} k={d.InputSize}",
                    1 => $"TN m={d.OutputSize} n={d.InputSize} k={batch}",
                    _ => $"NN m={batch} n={d.InputSize} k={d.OutputSize}",
                };
                Console.WriteLine(string.Create(ci, $"  gemm layer {l + 1} {kinds[kind]} ({shape,-24}) {us,7:F1} µs {gflops,6:F1} GFLOP/s {100 * gflops / peak,5:F1}% of peak"));
            }
        }

        double fitPerStep = fitSeconds * 1e6 / Math.Ceiling(train.Count / (double)batch);
        double stepFlops = TrainQuick.FlopsPerExample(model) * batch;
        Console.WriteLine(string.Create(ci, $"  real fit loop: {fitPerStep:F1} µs/step, {stepFlops / fitPerStep / 1e3:F1} GFLOP/s, {100 * stepFlops / fitPerStep / 1e3 / peak:F1}% of peak"));
        return 0;
    }
}
