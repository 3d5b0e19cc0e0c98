using System.Numerics;

namespace DeepLearning.Tests.Models;

/// <summary>
/// The allocation-free <see cref="Predictor{T}"/> against <see cref="Model{T}.Predict"/>: bit-identical results (the
/// same kernels in the same order), the input transform applied the same way, and no allocation once warm.
/// </summary>
public class PredictorTests
{
    [Fact]
    public void Float_predictor_equals_model_Predict_bit_for_bit() => EqualsPredict<float>();

    [Fact]
    public void Double_predictor_equals_model_Predict_bit_for_bit() => EqualsPredict<double>();

    [Fact]
    public void A_predictor_of_a_model_with_a_tape_layer_is_a_snapshot_that_later_training_does_not_change()
    {
        var random = new RandomSource(5);
        var x = Tensor.RandomNormal<float>(random, [40, 6], 0, 1);
        var data = DataSet.FromLabels(x, Enumerable.Range(0, 40).Select(i => i % 3).ToArray(), 3);
        var model = Model.Sequential<float>(6)
            .Add((inputs, rng) =>
            {
                var w = new Parameter<float>("weight", Tensor.RandomNormal<float>(rng, [8, inputs], 0, 0.5), regularized: true);
                var b = new Parameter<float>("bias", new Tensor<float>(8), regularized: false);
                return new TapeLayer<float>("Swish", inputs, 8, [w, b], (v, p) =>
                {
                    var z = v.MatMul(p[0], transposeB: true) + p[1];
                    return z * z.Sigmoid();
                });
            }, outputSize: 8)
            .Dense(3).Softmax().Build(seed: 3);

        var before = model.Predict(x).ToArray();
        var predictor = model.CreatePredictor();
        var y = new float[40 * 3];
        predictor.Predict(x.ReadOnlySpan, y);
        y.Should().Equal(before);

        model.Fit(data, new TrainingOptions<float> { Epochs = 3, BatchSize = 8, Optimizer = new Adam(0.05) });
        var after = model.Predict(x).ToArray();
        after.Should().NotEqual(before, "training moved the tape layer's weights");

        predictor.Predict(x.ReadOnlySpan, y);
        y.Should().Equal(before, "the predictor holds the weights of when it was created, the tape layer's included");
        model.CreatePredictor().Predict(x.ReadOnlySpan, y);
        y.Should().Equal(after);
    }

    [Fact]
    public void A_destination_overlapping_x_is_refused()
    {
        var model = Model.Sequential<float>(4).Dense(8).ReLU().Dense(4).Build(seed: 2);
        var predictor = model.CreatePredictor();
        var buffer = new float[4 * 600];
        FluentActions.Invoking(() => predictor.Predict(buffer, buffer)).Should().Throw<ArgumentException>()
            .WithMessage("destination overlaps x*").Which.ParamName.Should().Be("destination");
        FluentActions.Invoking(() => predictor.Predict(buffer.AsSpan(4, 8), buffer.AsSpan(0, 8))).Should().Throw<ArgumentException>();
        predictor.Predict(buffer.AsSpan(0, 8), buffer.AsSpan(8, 8));
    }

    [Fact]
    public void Single_example_prediction_allocates_nothing_once_warm()
    {
        var model = Model.Sequential<float>(784).Dense(256).ReLU().Dense(128).ReLU().Dense(10).Softmax().Build(seed: 2);
        var x = new float[784];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (i % 17) / 17f;
        }

        model.InputTransform = Standardizer.Fit(Tensor.FromArray(Enumerable.Range(0, 784 * 3).Select(i => (float)Math.Sin(i)).ToArray(), 3, 784));
        var predictor = model.CreatePredictor();
        var y = new float[10];
        var y16 = new float[160];
        var x16 = Enumerable.Range(0, 16 * 784).Select(i => (float)Math.Cos(i)).ToArray();
        // Warm: enough calls for tiered JIT to settle (the first calls allocate while methods are compiled). The
        // smallest of a few measured rounds is taken, since a tier-up can land in any one of them.
        for (int i = 0; i < 300; i++)
        {
            predictor.Predict(x, y);
            predictor.Predict(x16, y16);
        }

        long single = long.MaxValue, batch = long.MaxValue;
        for (int round = 0; round < 4 && (single > 0 || batch > 0); round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 200; i++)
            {
                predictor.Predict(x, y);
            }

            single = Math.Min(single, GC.GetAllocatedBytesForCurrentThread() - before);
            before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++)
            {
                predictor.Predict(x16, y16);
            }

            batch = Math.Min(batch, GC.GetAllocatedBytesForCurrentThread() - before);
            Thread.Sleep(50);
        }

        single.Should().Be(0, "a warm single-example prediction allocates nothing");
        batch.Should().Be(0, "a warm prediction of 16 examples allocates nothing");
        y.Should().Equal(model.Predict(Tensor.FromArray(x, 1, 784)).ReadOnlySpan.ToArray());
    }

    [Fact]
    public void Model_Predict_of_a_few_examples_allocates_only_its_result_and_each_result_is_its_own()
    {
        // Predict's intermediate activations and transformed input go into per-thread buffers (a pinned tensor costs
        // microseconds to allocate); only the result is new, and a later call must not write into an earlier result.
        var model = Model.Sequential<float>(784).Dense(256).ReLU().Dense(128).ReLU().Dense(10).Softmax().Build(seed: 3);
        model.InputTransform = Standardizer.Fit(Tensor.FromArray(Enumerable.Range(0, 784 * 3).Select(i => (float)Math.Sin(i)).ToArray(), 3, 784));
        var x1 = Tensor.FromArray(Enumerable.Range(0, 784).Select(i => (i % 13) / 13f).ToArray(), 1, 784);
        var x3 = Tensor.FromArray(Enumerable.Range(0, 3 * 784).Select(i => (float)Math.Cos(i)).ToArray(), 3, 784);
        var predictor = model.CreatePredictor();
        var expected1 = new float[10];
        var expected3 = new float[30];
        predictor.Predict(x1.ReadOnlySpan, expected1);
        predictor.Predict(x3.ReadOnlySpan, expected3);

        var first = model.Predict(x1);
        var second = model.Predict(x3);
        var third = model.Predict(x1);
        first.ReadOnlySpan.ToArray().Should().Equal(expected1, "the result of the first call is untouched by the later ones");
        second.ReadOnlySpan.ToArray().Should().Equal(expected3);
        third.ReadOnlySpan.ToArray().Should().Equal(expected1);
        ReferenceEquals(first, third).Should().BeFalse();
        x1.ReadOnlySpan.ToArray().Should().Equal(Enumerable.Range(0, 784).Select(i => (i % 13) / 13f).ToArray(), "the input is not transformed in place");

        for (int i = 0; i < 300; i++)
        {
            model.Predict(x1);
        }

        long perCall = AllocatedPerCall(() => model.Predict(x1), 100);

        // The result's storage (10 floats and the alignment pad) and the small view objects; 5,824 bytes before.
        perCall.Should().BeLessThan(1024, "only the result and a few view objects are allocated");
    }

    [Fact]
    public void Model_Predict_from_many_threads_at_once_gives_every_thread_the_same_bits()
    {
        var model = Model.Sequential<double>(20).Dense(32).Tanh().Dense(16).ReLU().Dense(3).Softmax().Build(seed: 4);
        var inputs = Enumerable.Range(0, 8).Select(t => Tensor.FromArray(Enumerable.Range(0, (t % 3 + 1) * 20).Select(i => Math.Sin(i + t)).ToArray(), t % 3 + 1, 20)).ToArray();
        var expected = inputs.Select(x => model.Predict(x).ReadOnlySpan.ToArray()).ToArray();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, t =>
        {
            for (int i = 0; i < 200; i++)
            {
                int k = (t + i) % inputs.Length;
                if (!model.Predict(inputs[k]).ReadOnlySpan.ToArray().SequenceEqual(expected[k]))
                {
                    failures.Add($"thread {t} call {i} input {k}");
                }
            }
        });
        failures.Should().BeEmpty();
    }

    [Fact]
    public void Predictor_is_a_snapshot_and_checks_its_arguments()
    {
        var model = Model.Sequential<float>(3).Dense(4).ReLU().Dense(2).Softmax().Build(seed: 5);
        var predictor = model.CreatePredictor();
        predictor.InputSize.Should().Be(3);
        predictor.OutputSize.Should().Be(2);
        float[] x = [0.5f, -1f, 2f];
        var before = new float[2];
        predictor.Predict(x, before);
        model.Parameters[0].Value.Span.Fill(0.25f);
        var after = new float[2];
        predictor.Predict(x, after);
        after.Should().Equal(before, "the predictor copied the weights when it was created");
        model.CreatePredictor().Predict(x, after);
        after.Should().Equal(model.Predict(Tensor.FromArray(x, 1, 3)).ReadOnlySpan.ToArray());

        var ragged = () => predictor.Predict(new float[4], new float[2]);
        ragged.Should().Throw<ArgumentException>().WithMessage("*whole examples of n_x = 3 features; received 4 values*");
        var shortDestination = () => predictor.Predict(new float[6], new float[2]);
        shortDestination.Should().Throw<ArgumentException>().WithMessage("*Ŷ (2, 2) = 4 values for 2 example(s); received 2*");
        predictor.Predict([], []); // zero examples: nothing to do
    }

    private static void EqualsPredict<T>()
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(9);
        var models = new[]
        {
            Model.Sequential<T>(20).Dense(33).BatchNorm().ReLU().Dropout(0.8).Dense(17, Activation.Tanh).Dense(70, Activation.LeakyReLU).Dense(5).Softmax().Build(seed: 4),
            Model.Sequential<T>(300).Dense(130).Sigmoid().Dense(1).Sigmoid().Build(seed: 5),
            Model.Sequential<T>(7).Dense(3).Build(seed: 6),
        };
        foreach (var model in models)
        {
            // Batch-norm running statistics that are not the initial 0 and 1, and an input transform.
            foreach (var bn in model.Layers.OfType<BatchNorm<T>>())
            {
                foreach (ref T v in bn.RunningMean.Span)
                {
                    v = T.CreateChecked(rng.NextDouble() - 0.5);
                }

                foreach (ref T v in bn.RunningVariance.Span)
                {
                    v = T.CreateChecked(rng.NextDouble() + 0.2);
                }
            }

            int n = model.InputSize;
            var fit = new Tensor<T>(8, n);
            foreach (ref T v in fit.Span)
            {
                v = T.CreateChecked((rng.NextDouble() * 6) - 2);
            }

            model.InputTransform = Standardizer.Fit(fit);
            var predictor = model.CreatePredictor();
            foreach (int m in new[] { 1, 2, 5, 6, 7, 13, 64 })
            {
                var x = new Tensor<T>(m, n);
                foreach (ref T v in x.Span)
                {
                    v = T.CreateChecked((rng.NextDouble() * 6) - 2);
                }

                x.Span[0] = T.NaN; // NaN in, NaN out, in both
                var expected = model.Predict(x).ReadOnlySpan.ToArray();
                var actual = new T[m * model.OutputSize];
                predictor.Predict(x.ReadOnlySpan, actual);
                for (int i = 0; i < actual.Length; i++)
                {
                    bool same = (T.IsNaN(actual[i]) && T.IsNaN(expected[i])) || actual[i].Equals(expected[i]);
                    same.Should().BeTrue($"{typeof(T).Name} model {model.InputSize}→{model.OutputSize}, m = {m}, element {i}: predictor {actual[i]}, Predict {expected[i]}");
                }

                T.IsNaN(actual[0]).Should().BeTrue();
            }
        }
    }

    [Fact]
    public void Regression_predictions_come_back_in_the_original_units_as_with_Predict()
    {
        // Targets far from standard (mean 500, sd ~100): the network is trained on standardized Y, and both entry
        // points must undo the target transform.
        var rng = new RandomSource(11);
        var x = new Tensor<double>(40, 3);
        var y = new Tensor<double>(40, 2);
        for (int i = 0; i < 40; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                x[i, j] = rng.NextGaussian();
            }

            y[i, 0] = 500 + (100 * x[i, 0]);
            y[i, 1] = -3 + x[i, 1] - x[i, 2];
        }

        var train = new DataSet<double>(x, y);
        var model = Model.Sequential<double>(3).Standardize(train).StandardizeTargets(train).Dense(8).Tanh().Dense(2).Build(seed: 4);
        model.Fit(train, new TrainingOptions<double> { Epochs = 3, BatchSize = 8 });
        var predictor = model.CreatePredictor();
        var actual = new double[40 * 2];
        predictor.Predict(x.ReadOnlySpan, actual);
        actual.Should().Equal(model.Predict(x).ReadOnlySpan.ToArray());
        actual.Average().Should().BeGreaterThan(50, "predictions are in the targets' units (mean about 250), not standardized");
    }

    [Fact]
    public void Predict_of_hundreds_of_rows_reuses_the_models_buffers_gives_the_same_bits_and_allocates_only_its_result()
    {
        // Beyond the per-thread buffers (16K values) and below the transient predictor, the activations go into the
        // buffers the model keeps between calls: the same bits as one row at a time, call after call and from several
        // threads at once, and no allocation but the result.
        var rng = new RandomSource(31);
        var x = new Tensor<float>(300, 50);
        rng.FillNormal(x);
        var model = Model.Sequential<float>(50).Dense(64).ReLU().Dense(32, Activation.Tanh).Dense(5).Softmax().Build(seed: 5);
        model.InputTransform = Standardizer.Fit(x);
        var expected = Enumerable.Range(0, 300).SelectMany(i => model.Predict(x.Rows(i, 1)).ReadOnlySpan.ToArray()).ToArray();
        model.Predict(x).ReadOnlySpan.ToArray().Should().Equal(expected);
        model.Predict(x.Rows(0, 120)).ReadOnlySpan.ToArray().Should().Equal(expected.Take(120 * 5));
        model.Predict(x).ReadOnlySpan.ToArray().Should().Equal(expected);
        var concurrent = Enumerable.Range(0, 6).AsParallel().WithDegreeOfParallelism(6).Select(_ => model.Predict(x).ReadOnlySpan.ToArray()).ToArray();
        concurrent.Should().AllSatisfy(r => r.Should().Equal(expected));

        long perCall = AllocatedPerCall(() => model.Predict(x), 20);
        perCall.Should().BeLessThan((300 * 5 * sizeof(float)) + 2048, "only the result and a few view objects are allocated (300 × 114 activations were before)");
    }

    [Fact]
    public void Predict_of_many_rows_through_a_predictor_equals_the_layer_by_layer_path()
    {
        // From 4,097 rows on, Predict runs a transient Predictor; below, each layer's Infer. Predicting 5,000 rows at
        // once must give the bits of predicting them 500 at a time, NaN rows, input and target transforms included.
        var rng = new RandomSource(12);
        var x = new Tensor<double>(5000, 6);
        var y = new Tensor<double>(5000, 2);
        rng.FillNormal(x);
        for (int i = 0; i < 5000; i++)
        {
            y[i, 0] = 100 + (10 * x[i, 0]);
            y[i, 1] = x[i, 1] - x[i, 2];
        }

        var train = new DataSet<double>(x, y);
        var regression = Model.Sequential<double>(6).Standardize(train).StandardizeTargets(train).Dense(40).BatchNorm().ReLU().Dropout(0.8).Dense(20, Activation.Tanh).Dense(2).Build(seed: 3);
        var classifier = Model.Sequential<double>(6).Standardize(train).Dense(30, Activation.ReLU).Dense(4).Softmax().Build(seed: 4);
        regression.Fit(train, new TrainingOptions<double> { Epochs = 1, BatchSize = 100 });
        x[7, 3] = double.NaN;
        x[1800, 0] = double.PositiveInfinity;
        foreach (var model in new[] { regression, classifier })
        {
            var whole = model.Predict(x).ReadOnlySpan.ToArray();
            var parts = new List<double>();
            for (int start = 0; start < 5000; start += 500)
            {
                parts.AddRange(model.Predict(x.Rows(start, 500)).ReadOnlySpan.ToArray());
            }

            whole.Select(BitConverter.DoubleToInt64Bits).Should().Equal(parts.Select(BitConverter.DoubleToInt64Bits), $"model {model.OutputSize} outputs");
            double.IsNaN(whole[7 * model.OutputSize]).Should().BeTrue();
            double.IsNaN(whole[1800 * model.OutputSize]).Should().BeTrue();
        }
    }

    // The fewest bytes this thread allocated per call over four rounds of `calls` calls.
    private static long AllocatedPerCall(Action call, int calls)
    {
        long perCall = long.MaxValue;
        for (int round = 0; round < 4; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < calls; i++)
            {
                call();
            }

            perCall = Math.Min(perCall, (GC.GetAllocatedBytesForCurrentThread() - before) / calls);
        }

        return perCall;
    }
}
