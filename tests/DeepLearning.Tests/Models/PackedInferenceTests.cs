using System.Numerics;

namespace DeepLearning.Tests.Models;

/// <summary>
/// Inference on a few rows multiplies by a Wᵀ each Dense layer packs and keeps while W is unchanged: the outputs are
/// bit-identical to the unpacked product's; every write the library makes (indexers, views, Fill, CopyTo, CopyFrom, an
/// optimizer step, Fit, LoadWeights, RestoreState) is counted, so the kept copy is replaced, and a public span or row
/// exposes W, which is then never kept again.
/// </summary>
public sealed class PackedInferenceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-packed-inference-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Model<T> NewModel<T>(int seed)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Model.Sequential<T>(37).Dense(70).BatchNorm().LeakyReLU(0.1).Dense(33, Activation.Tanh).Dense(5).Softmax().Build(seed: seed);

    private static Tensor<T> Inputs<T>(int m, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = new RandomSource(seed);
        var x = new Tensor<T>(m, 37);
        var s = x.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = T.CreateTruncating(r.NextGaussian());
        }

        return x;
    }

    // Each row predicted alone (the packed path) against all rows at once (above PackedInferenceRows: packed per call).
    private static void RowsAloneMatchTheBatch<T>(Model<T> model, Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        x.RowCount.Should().BeGreaterThan(Dense<T>.PackedInferenceRows);
        var all = model.Predict(x);
        for (int i = 0; i < x.RowCount; i++)
        {
            model.Predict(x.Rows(i, 1)).ReadOnlySpan.SequenceEqual(all.Rows(i, 1).ReadOnlySpan).Should().BeTrue($"row {i} alone ({typeof(T).Name})");
        }
    }

    [Fact]
    public void Few_rows_are_bit_identical_to_the_same_rows_in_a_large_batch()
    {
        var xf = Inputs<float>(40, seed: 1);
        var model = NewModel<float>(seed: 2);
        RowsAloneMatchTheBatch(model, xf);
        var all = model.Predict(xf);
        foreach (int m in new[] { 2, 3, 5, 6, 7, 8, 13, 31, 32 })
        {
            model.Predict(xf.Rows(3, m)).ReadOnlySpan.SequenceEqual(all.Rows(3, m).ReadOnlySpan).Should().BeTrue($"{m} rows");
        }

        RowsAloneMatchTheBatch(NewModel<double>(seed: 2), Inputs<double>(40, seed: 1));
    }

    [Fact]
    public void Every_way_of_writing_the_weights_is_seen_by_the_next_prediction()
    {
        var x = Inputs<float>(40, seed: 4);
        string path = Path.Combine(_dir, "other.safetensors");
        NewModel<float>(seed: 11).Save(path);
        var state = NewModel<float>(seed: 12).CaptureState();

        // Each write on a fresh model whose Wᵀ is kept (predicted twice: the second call keeps the pack), so a write the
        // count missed would be served from the kept copy. The last three expose W instead (nothing is kept after them).
        var writes = new (string Name, bool Exposes, Action<Model<float>, Tensor<float>> Write)[]
        {
            ("indexer", false, (m, w) => w[2, 4] = 1.5f),
            ("a Rows view's indexer", false, (m, w) => w.Rows(10, 5)[1, 1] = 3f),
            ("Fill of a view", false, (m, w) => w.Rows(20, 1).Fill(0.125f)),
            ("CopyTo", false, (m, w) => NewModel<float>(seed: 13).Layers.OfType<Dense<float>>().First().Weight.Value.CopyTo(w)),
            ("CopyFrom", false, (m, w) => w.CopyFrom(Enumerable.Repeat(0.01f, w.Length).ToArray())),
            ("Clear of a row view", false, (m, w) => w.Rows(0, 1).Clear()),
            ("an optimizer step", false, (m, w) =>
            {
                m.ComputeGradients(x, OneHot(x.RowCount));
                new Adam(0.05).Step(m.Parameters);
            }),
            ("Trainer.Step", false, (m, w) => Trainer.Step(m, new GradientDescent(0.5), x, OneHot(x.RowCount))),
            ("Fit", false, (m, w) => m.Fit(x, OneHot(x.RowCount), new TrainingOptions<float> { Epochs = 1, BatchSize = 8, Optimizer = new Adam(0.05) })),
            ("LoadWeights", false, (m, w) => m.LoadWeights(path)),
            ("RestoreState", false, (m, w) => m.RestoreState(state)),
            ("Span", true, (m, w) => w.Span[5] += 0.5f),
            ("Row", true, (m, w) => w.Row(3)[7] -= 0.25f),
            ("a Reshape view's Span", true, (m, w) => w.Reshape(-1).Span[100] = -2f),
        };

        foreach (var (name, exposes, write) in writes)
        {
            var model = NewModel<float>(seed: 3);
            var dense = (Dense<float>)model.Layers[0];
            var w = dense.Weight.Value;
            model.Predict(x.Rows(0, 1));
            var before = model.Predict(x.Rows(0, 1)).ToArray();
            w.CacheableWriteCount.Should().NotBeNull();
            dense.InferencePack().Should().BeSameAs(dense.InferencePack(), $"Wᵀ is kept before the write by {name}");
            write(model, w);
            w.CacheableWriteCount.HasValue.Should().Be(!exposes, $"{name} {(exposes ? "exposes" : "counts")} the write");
            for (int call = 0; call < 2; call++)
            {
                var alone = model.Predict(x.Rows(0, 1));
                var batch = model.Predict(x).Rows(0, 1);
                alone.ReadOnlySpan.SequenceEqual(batch.ReadOnlySpan).Should().BeTrue($"after a write by {name}, one row is predicted with the new weights (call {call + 1})");
                alone.ToArray().Should().NotEqual(before, $"the write by {name} changed the output");
            }
        }
    }

    private static Tensor<float> OneHot(int m)
    {
        var y = new Tensor<float>(m, 5);
        for (int i = 0; i < m; i++)
        {
            y[i, i % 5] = 1;
        }

        return y;
    }

    [Fact]
    public void Reading_the_weights_keeps_the_packed_copy_and_a_public_span_ends_it()
    {
        var model = NewModel<float>(seed: 5);
        var dense = (Dense<float>)model.Layers[0];
        var x = Inputs<float>(1, seed: 6);
        model.Predict(x);
        var packed = dense.InferencePack();
        _ = dense.Weight.Value.ReadOnlySpan[0];
        _ = dense.Weight.Value[0, 0];
        _ = dense.Weight.Value.Equals(dense.Weight.Value.Clone());
        model.Predict(x);
        dense.InferencePack().Should().BeSameAs(packed, "reads do not count as writes");
        model.CreatePredictor();
        dense.InferencePack().Should().BeSameAs(packed);
        _ = dense.Weight.Value.Reshape(-1).Span;
        var first = dense.InferencePack();
        first.Should().NotBeSameAs(packed, "a span handed out may be written at any time");
        dense.InferencePack().Should().NotBeSameAs(first, "so W is packed on every call from then on");
    }

    [Fact]
    public void A_span_held_across_predictions_is_seen_when_written_later()
    {
        var model = NewModel<double>(seed: 3);
        var x = Inputs<double>(40, seed: 4);
        var w = ((Dense<double>)model.Layers[0]).Weight.Value;
        model.Predict(x.Rows(0, 1)); // packs and keeps Wᵀ
        var span = w.Span; // held across the predictions below
        for (int i = 0; i < 5; i++)
        {
            var before = model.Predict(x.Rows(0, 1)).ToArray();
            span[(i * 37) + 3] += 0.75;
            var alone = model.Predict(x.Rows(0, 1));
            alone.ToArray().Should().NotEqual(before, $"write {i} through the held span changed W");
            alone.ReadOnlySpan.SequenceEqual(model.Predict(x).Rows(0, 1).ReadOnlySpan).Should().BeTrue($"one row, after write {i}");
            model.CreatePredictor().Predict(x.Rows(0, 1).ReadOnlySpan, alone.Span);
            alone.ReadOnlySpan.SequenceEqual(model.Predict(x).Rows(0, 1).ReadOnlySpan).Should().BeTrue($"a new predictor, after write {i}");
        }

        var many = Inputs<double>(5000, seed: 5);
        var old = model.Predict(many.Rows(0, 1)).ToArray();
        span[1] -= 1;
        model.Predict(many).Rows(0, 1).ToArray().Should().NotEqual(old, "the large-batch path packs W afresh too");
    }

    [Fact]
    public void The_library_s_own_writes_keep_the_copy_cacheable()
    {
        var data = DeepLearning.Tests.Training.ResumeTests.Images(40, seed: 1);
        var model = DeepLearning.Tests.Training.ResumeTests.NewModel(seed: 2);
        string path = Path.Combine(_dir, "cacheable.safetensors");

        void ShouldCache(string after)
        {
            foreach (var dense in model.Layers.OfType<Dense<float>>())
            {
                dense.InferencePack().Should().BeSameAs(dense.InferencePack(), $"{dense.Name}'s Wᵀ is kept after {after}");
            }
        }

        ShouldCache("Build");
        foreach (var optimizer in new Optimizer[] { new GradientDescent(0.1), new Momentum(0.1), new RmsProp(0.01), new Adam(0.01), new AdamW(0.01) })
        {
            model.Fit(data, new TrainingOptions<float> { Epochs = 2, BatchSize = 16, Optimizer = optimizer, Validation = data, Callbacks = { new EarlyStopping(patience: 1) } });
            ShouldCache($"Fit with {optimizer.GetType().Name} and early stopping");
        }

        model.Save(path);
        model.LoadWeights(path);
        ShouldCache("LoadWeights");
        model = Model.Load<float>(path);
        ShouldCache("Load");
        model.RestoreState(DeepLearning.Tests.Training.ResumeTests.NewModel(seed: 3).CaptureState());
        ShouldCache("RestoreState");
        var w = model.Layers.OfType<Dense<float>>().First().Weight.Value;
        w.CopyFrom(new float[w.Length]);
        w[0, 0] = 1;
        ShouldCache("CopyFrom and an indexer");
        var converted = model.ConvertTo<double>();
        foreach (var dense in converted.Layers.OfType<Dense<double>>())
        {
            dense.InferencePack().Should().BeSameAs(dense.InferencePack(), "after ConvertTo");
        }

        var checkedModel = Model.Sequential<double>(16).Dense(8, Activation.Tanh).Dense(3).Softmax().Build(seed: 4);
        GradientChecker.Check(checkedModel, data.X.ConvertTo<double>().Rows(0, 8), data.Y.ConvertTo<double>().Rows(0, 8));
        foreach (var dense in checkedModel.Layers.OfType<Dense<double>>())
        {
            dense.InferencePack().Should().BeSameAs(dense.InferencePack(), "after a gradient check in place");
        }
    }

    [Fact]
    public void Views_share_the_write_count_and_the_exposure_of_their_storage()
    {
        var t = new Tensor<float>(4, 6);
        long? c0 = t.CacheableWriteCount;
        c0.Should().NotBeNull();
        _ = t.ReadOnlySpan;
        _ = t[1, 1];
        t.CacheableWriteCount.Should().Be(c0, "reads are not writes");
        t.Rows(1, 2)[0, 0] = 1;
        t.CacheableWriteCount.Should().BeGreaterThan(c0!.Value);
        long? c1 = t.CacheableWriteCount;
        t.Reshape(24).Fill(2);
        t.CacheableWriteCount.Should().BeGreaterThan(c1!.Value);
        var clone = t.Clone();
        long? c2 = t.CacheableWriteCount;
        _ = clone.Span;
        t.CacheableWriteCount.Should().Be(c2, "a clone has storage of its own");
        _ = t.Rows(3, 1).Row(0);
        t.CacheableWriteCount.Should().BeNull("a view's public row exposes the storage it shares");

        var early = new Tensor<float>(3);
        _ = early.Span; // exposed before any counter exists
        early.CacheableWriteCount.Should().BeNull();
        early.Reshape(1, 3).CacheableWriteCount.Should().BeNull();
    }

    [Fact]
    public void Threads_predicting_single_rows_at_once_agree_with_the_batch()
    {
        var model = NewModel<float>(seed: 7);
        var x = Inputs<float>(64, seed: 8);
        var all = model.Predict(x);
        var wrong = 0;
        Parallel.For(0, 4, t =>
        {
            for (int rep = 0; rep < 50; rep++)
            {
                int i = ((t * 50) + rep) % 64;
                if (!model.Predict(x.Rows(i, 1)).ReadOnlySpan.SequenceEqual(all.Rows(i, 1).ReadOnlySpan))
                {
                    Interlocked.Increment(ref wrong);
                }
            }
        });
        wrong.Should().Be(0);
    }

    [Fact]
    public void Training_a_step_then_predicting_one_row_never_packs_a_copy_of_the_weights()
    {
        var model = Model.Sequential<float>(784).Dense(256).ReLU().Dense(10).Softmax().Build(seed: 1);
        var x = Inputs(784, 16);
        var y = new Tensor<float>(16, 10);
        for (int i = 0; i < 16; i++)
        {
            y[i, i % 10] = 1;
        }

        var optimizer = new Adam(0.001);
        long Iterations(int n)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < n; i++)
            {
                Trainer.Step(model, optimizer, x, y);
                model.Predict(x.Rows(0, 1));
            }

            return (GC.GetAllocatedBytesForCurrentThread() - before) / n;
        }

        Iterations(3); // warm
        Iterations(10).Should().BeLessThan(4096, "W (784×256 floats, 800 KB) is packed into scratch, not a new array, when it changed since the last call");

        _ = model.Parameters[0].Value.Span; // exposed: every few-row call multiplies unpacked
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            model.Predict(x.Rows(0, 1));
        }

        ((GC.GetAllocatedBytesForCurrentThread() - before) / 10).Should().BeLessThan(4096);
    }

    private static Tensor<float> Inputs(int features, int m)
    {
        var r = new RandomSource(3);
        var x = new Tensor<float>(m, features);
        r.FillNormal(x.Span, 0, 1);
        return x;
    }
}
