using System.Runtime.CompilerServices;
using DeepLearning.Kernels;

namespace DeepLearning.Tests.Training;

/// <summary>
/// The concurrency promises of training and inference with two GEMM threads, where Fit also posts the next mini-batch's
/// gather to the pool's helper: Fits of different models at once give the bits they give in turn, Predict and Evaluate
/// run from several threads while another model trains, and a Fit cancelled or stopped by an exception at any point
/// leaves nothing running and the model trainable. Every body runs under a timeout, so a deadlock fails instead of hanging.
/// </summary>
public class ConcurrencyTests
{
    private static readonly TimeSpan _timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public void Fits_of_different_models_at_once_give_the_bits_of_the_same_fits_in_turn()
    {
        var data = Data(650, 120, seed: 31);
        var sequential = Enumerable.Range(0, 3).Select(i => Bits(TrainOnTwoThreads(i))).ToArray();

        var concurrent = new List<int>[3][];
        RunWithin(() => Task.WaitAll(Enumerable.Range(0, 3).Select(i => Task.Factory.StartNew(
            () => concurrent[i] = Bits(TrainOnTwoThreads(i)), TaskCreationOptions.LongRunning)).ToArray()));

        for (int i = 0; i < 3; i++)
        {
            for (int t = 0; t < sequential[i].Length; t++)
            {
                concurrent[i][t].Should().Equal(sequential[i][t], $"model {i}, tensor {t}");
            }
        }

        Model<float> TrainOnTwoThreads(int i)
        {
            var model = Model.Sequential<float>(120).Dense(96, Activation.ReLU).Dense(10).Softmax().Build(seed: 7 + i);
            Gemm.ThreadsOverride = 2;
            try
            {
                model.Fit(data, new TrainingOptions<float> { Optimizer = new Adam(0.002), Epochs = 2, BatchSize = 32 + (16 * i), Seed = (ulong)(40 + i) });
            }
            finally
            {
                Gemm.ThreadsOverride = 0;
            }

            return model;
        }
    }

    [Fact]
    public void Predict_and_Evaluate_from_several_threads_give_the_same_bits_while_another_model_trains()
    {
        var data = Data(400, 64, seed: 32);
        var served = Model.Sequential<float>(64).Dense(48, Activation.ReLU).Dense(10).Softmax().Build(seed: 5);
        served.Fit(data, new TrainingOptions<float> { Epochs = 1, BatchSize = 50 });
        var expected = Bits(served.Predict(data.X));
        var evaluation = served.Evaluate(data);

        var trained = Model.Sequential<float>(64).Dense(128, Activation.ReLU).Dense(10).Softmax().Build(seed: 6);
        RunWithin(() =>
        {
            var training = Task.Factory.StartNew(
                () =>
                {
                    Gemm.ThreadsOverride = 2;
                    try
                    {
                        trained.Fit(data, new TrainingOptions<float> { Epochs = 6, BatchSize = 32 });
                    }
                    finally
                    {
                        Gemm.ThreadsOverride = 0;
                    }
                },
                TaskCreationOptions.LongRunning);
            var serving = Enumerable.Range(0, 3).Select(k => Task.Factory.StartNew(
                () =>
                {
                    Gemm.ThreadsOverride = 2;
                    try
                    {
                        var predictor = served.CreatePredictor(); // a snapshot, one per thread
                        var into = new float[expected.Count];
                        for (int i = 0; i < 15; i++)
                        {
                            Bits(served.Predict(data.X)).Should().Equal(expected, $"thread {k}, call {i}");
                            predictor.Predict(data.X.ReadOnlySpan, into);
                            into.Select(BitConverter.SingleToInt32Bits).Should().Equal(expected, $"predictor, thread {k}, call {i}");
                            var e = served.Evaluate(data);
                            e.Cost.Should().Be(evaluation.Cost);
                            e.Accuracy.Should().Be(evaluation.Accuracy);
                        }
                    }
                    finally
                    {
                        Gemm.ThreadsOverride = 0;
                    }
                },
                TaskCreationOptions.LongRunning));
            Task.WaitAll([training, .. serving]);
        });

        trained.Parameters.Should().OnlyContain(p => p.Value.ToArray().All(float.IsFinite));
    }

    [Fact]
    public void A_two_thread_fit_cancelled_at_any_point_leaves_the_model_trainable()
    {
        // Cancelled by another thread after a varying delay, so the token is seen before, between and during steps (with
        // the next batch's gather posted to the helper). Whatever the point, Fit ends with OperationCanceledException or
        // finishes; nothing of it keeps running; and a following Fit trains exactly as it would from the same weights on
        // one thread in a model that never saw the cancelled run.
        var data = Data(640, 100, seed: 33);
        var random = new Random(12);
        RunWithin(() =>
        {
            for (int round = 0; round < 8; round++)
            {
                var model = Build();
                using var source = new CancellationTokenSource();
                int delay = random.Next(0, 400_000);
                Gemm.ThreadsOverride = 2;
                try
                {
                    var canceller = Task.Factory.StartNew(
                        () =>
                        {
                            Thread.SpinWait(delay);
                            source.Cancel();
                        },
                        TaskCreationOptions.LongRunning);
                    var outcome = Record.Exception(() => model.Fit(data, new TrainingOptions<float> { Optimizer = new Adam(0.002), Epochs = 3, BatchSize = 32, Seed = 1 }, source.Token));
                    if (outcome is not null)
                    {
                        outcome.Should().BeAssignableTo<OperationCanceledException>($"round {round}");
                    }

                    canceller.Wait();
                }
                finally
                {
                    Gemm.ThreadsOverride = 0;
                }

                var twin = Build();
                twin.RestoreState(model.CaptureState());
                static TrainingOptions<float> Next() => new() { Optimizer = new Adam(0.002), Epochs = 1, BatchSize = 32, Seed = 2 };
                Gemm.ThreadsOverride = 2;
                try
                {
                    model.Fit(data, Next()).Epochs.Should().HaveCount(1);
                }
                finally
                {
                    Gemm.ThreadsOverride = 0;
                }

                Gemm.ThreadsOverride = 1;
                try
                {
                    twin.Fit(data, Next());
                }
                finally
                {
                    Gemm.ThreadsOverride = 0;
                }

                var got = Bits(model);
                var want = Bits(twin);
                for (int t = 0; t < want.Length; t++)
                {
                    got[t].Should().Equal(want[t], $"round {round} (delay {delay}), tensor {t}");
                }
            }
        });

        static Model<float> Build() => Model.Sequential<float>(100).Dense(64, Activation.ReLU).Dense(10).Softmax().Build(seed: 8);
    }

    [Fact]
    public void A_callback_or_progress_handler_that_throws_ends_a_two_thread_fit_and_the_model_trains_on()
    {
        var data = Data(500, 80, seed: 34);
        var model = Model.Sequential<float>(80).Dense(64, Activation.ReLU).Dense(10).Softmax().Build(seed: 9);
        RunWithin(() =>
        {
            Gemm.ThreadsOverride = 2;
            try
            {
                var callback = new LambdaCallback((context, record) =>
                {
                    if (record.Epoch == 2)
                    {
                        throw new InvalidDataException("callback failed");
                    }
                });
                model.Invoking(m => m.Fit(data, new TrainingOptions<float> { Epochs = 4, BatchSize = 32, Callbacks = { callback } }))
                    .Should().Throw<InvalidDataException>().WithMessage("callback failed");

                // An epoch-end report from the caller's own progress (the gather on the helper stays on), then one per batch.
                foreach (bool perBatch in new[] { false, true })
                {
                    int reports = 0;
                    var progress = new Throwing(() => ++reports == 2);
                    model.Invoking(m => m.Fit(data, new TrainingOptions<float> { Epochs = 4, BatchSize = 32, Progress = progress, ReportBatches = perBatch }))
                        .Should().Throw<InvalidDataException>().WithMessage("progress failed");
                }

                model.Fit(data, new TrainingOptions<float> { Epochs = 2, BatchSize = 32 }).Epochs.Should().HaveCount(2);
            }
            finally
            {
                Gemm.ThreadsOverride = 0;
            }
        });

        model.Parameters.Should().OnlyContain(p => p.Value.ToArray().All(float.IsFinite));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // the reader disposed with the gather still posted or running, as when a step throws
    public void A_completed_prefetch_leaves_nothing_of_the_data_set_reachable(bool complete)
    {
        // The pool's side-job slot held the last gather job, and through it its reader and the whole data set, after the
        // Fit that posted it had returned and the caller had dropped the data: a training set kept alive by a static.
        var (data, posted) = PrefetchOnce(complete);
        posted.Should().BeTrue("the pool's helper took or was offered the gather");
        for (int i = 0; i < 20 && data.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Thread.Sleep(1); // the helper may still be returning from the job it just finished
        }

        data.IsAlive.Should().BeFalse("nothing may keep a data set reachable once its reader is done");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (WeakReference Data, bool Posted) PrefetchOnce(bool complete)
    {
        var data = Data(200, 16, seed: 35);
        var bx = new Tensor<float>(20, 16);
        var by = new Tensor<float>(20, 10);
        bool posted = false;
        Gemm.ThreadsOverride = 2;
        try
        {
            using var reader = data.OpenEpoch(20, new RandomSource(3));
            var prefetching = (IPrefetchingReader<float>)reader;

            // The pool may be busy with other tests' calls (xunit runs classes in parallel): then nothing is posted and the
            // reader has not moved, so try again after a pause, up to 10,000 times, rather than give up after a few tries.
            for (int attempt = 0; attempt < 10_000 && !(posted = prefetching.TryPrefetch(bx, by)); attempt++)
            {
                Thread.Sleep(1);
            }

            if (posted && complete)
            {
                prefetching.CompletePrefetch().Should().Be(20);
            }
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }

        return (new WeakReference(data), posted);
    }

    private static DataSet<float> Data(int count, int features, int seed)
    {
        var x = Tensor.RandomUniform<float>(new RandomSource((ulong)seed), [count, features]);
        return DataSet.FromLabels(x, Enumerable.Range(0, count).Select(i => (i * 7) % 10).ToArray(), 10);
    }

    private static List<int>[] Bits(Model<float> model) => model.CaptureState().Tensors.Select(Bits).ToArray();

    private static List<int> Bits(Tensor<float> t) => t.ToArray().Select(BitConverter.SingleToInt32Bits).ToList();

    private static void RunWithin(Action body)
    {
        var task = Task.Factory.StartNew(body, TaskCreationOptions.LongRunning);
        task.Wait(_timeout).Should().BeTrue($"the body must finish within {_timeout.TotalSeconds} s (a deadlock otherwise)");
        task.GetAwaiter().GetResult();
    }

    private sealed class Throwing(Func<bool> fail) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (fail())
            {
                throw new InvalidDataException("progress failed");
            }
        }
    }
}
