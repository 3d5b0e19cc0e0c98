using System.Numerics;
using DeepLearning.Kernels;

namespace DeepLearning.Tests.Training;

/// <summary>
/// On two threads Fit gathers the next mini-batch on the helper thread while the caller computes the output layer and
/// the loss. The batches, and so the trained weights, must be exactly those of the one-thread loop, whatever the batch
/// size, the last partial batch, or a step that throws while the gather is running.
/// </summary>
public class PrefetchTests
{
    [Theory]
    [InlineData(true, 64)]
    [InlineData(true, 13)]
    [InlineData(false, 64)]
    [InlineData(false, 13)]
    public void Prefetched_batches_are_the_batches_Next_gives(bool shuffle, int batch)
    {
        Check<float>(784, shuffle, batch);
        Check<double>(3, shuffle, batch);

        static void Check<T>(int n, bool shuffle, int batch)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            const int count = 203;
            var data = Data.TestData.Numbered<T>(count, n);
            var expected = new List<T>();
            var bx = new Tensor<T>(batch, n);
            var by = new Tensor<T>(batch, 3);
            using (var reader = data.OpenEpoch(batch, shuffle ? new RandomSource(9) : null))
            {
                int rows;
                while ((rows = reader.Next(bx, by)) > 0)
                {
                    expected.AddRange(bx.ReadOnlySpan[..(rows * n)].ToArray());
                    expected.AddRange(by.ReadOnlySpan[..(rows * 3)].ToArray());
                }
            }

            // Two buffers in turn, as Fit uses them; every batch prefetched (on two threads) or read (on one).
            foreach (int threads in new[] { 1, 2 })
            {
                var got = new List<T>();
                var buffers = new[] { (new Tensor<T>(batch, n), new Tensor<T>(batch, 3)), (new Tensor<T>(batch, n), new Tensor<T>(batch, 3)) };
                int prefetched = 0;
                Gemm.ThreadsOverride = threads;
                try
                {
                    using var reader = data.OpenEpoch(batch, shuffle ? new RandomSource(9) : null);
                    var prefetching = (IPrefetchingReader<T>)reader;
                    for (int k = 0; ; k++)
                    {
                        var (px, py) = buffers[k % 2];
                        int rows;
                        if (prefetching.TryPrefetch(px, py))
                        {
                            rows = prefetching.CompletePrefetch();
                            prefetched += rows > 0 ? 1 : 0; // at the end of the epoch nothing is posted
                        }
                        else
                        {
                            rows = reader.Next(px, py);
                        }

                        if (rows == 0)
                        {
                            break;
                        }

                        got.AddRange(px.ReadOnlySpan[..(rows * n)].ToArray());
                        got.AddRange(py.ReadOnlySpan[..(rows * 3)].ToArray());
                    }
                }
                finally
                {
                    Gemm.ThreadsOverride = 0;
                }

                // (Whether a batch was prefetched depends on the pool being free; other test classes use it in parallel.)
                got.Should().Equal(expected, $"{typeof(T).Name}, {threads} thread(s), {prefetched} batch(es) prefetched");
            }
        }
    }

    [Fact]
    public void A_reader_refuses_Next_while_a_prefetch_is_pending_and_Complete_without_one()
    {
        var data = DataSet.FromLabels(Tensor.RandomUniform<float>(new RandomSource(1), [100, 8]), Enumerable.Range(0, 100).Select(i => i % 2).ToArray(), 2);
        var bx = new Tensor<float>(10, 8);
        var by = new Tensor<float>(10, 1);
        Gemm.ThreadsOverride = 2;
        try
        {
            using var reader = data.OpenEpoch(10, new RandomSource(2));
            var prefetching = (IPrefetchingReader<float>)reader;
            prefetching.Invoking(p => p.CompletePrefetch()).Should().Throw<InvalidOperationException>().WithMessage("no mini-batch is being prefetched");
            if (prefetching.TryPrefetch(bx, by))
            {
                reader.Invoking(r => r.Next(bx, by)).Should().Throw<InvalidOperationException>().WithMessage("Next was called while a prefetched mini-batch is pending*");
                prefetching.CompletePrefetch().Should().Be(10);
            }

            reader.Next(bx, by).Should().Be(10, "the reader goes on after the prefetched batch");
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }
    }

    [Fact]
    public void A_side_job_runs_exactly_once_and_its_exception_reaches_Complete()
    {
        Gemm.ThreadsOverride = 2;
        try
        {
            var job = new CountingJob();
            for (int i = 0; i < 2000; i++)
            {
                if (GemmThreadPool.Shared.TryPost(job))
                {
                    job.Invoking(j => j.MarkPosted()).Should().Throw<InvalidOperationException>().WithMessage("*posted again*");
                }
                else
                {
                    job.Runs++; // the pool was busy (another test): the caller does the work, as Fit does
                }

                job.Complete();
                job.Runs.Should().Be(i + 1);
            }

            var failing = new FailingJob();
            if (GemmThreadPool.Shared.TryPost(failing))
            {
                failing.Invoking(j => j.Complete()).Should().Throw<InvalidDataException>().WithMessage("side job failed");
                failing.IsPending.Should().BeFalse();
                failing.Invoking(j => j.Complete()).Should().NotThrow("a completed job has nothing left to report");
            }
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }
    }

    [Theory]
    [InlineData(640, false)] // whole batches only
    [InlineData(650, false)] // a partial last batch
    [InlineData(641, true)] // batch norm: the one-row last batch is skipped, so no step (and no prefetch) runs for it
    public void Training_with_the_gather_on_the_helper_gives_the_same_bits_as_on_one_thread(int count, bool batchNorm)
    {
        var random = new RandomSource(21);
        var x = Tensor.RandomUniform<float>(random, [count, 300]);
        var data = DataSet.FromLabels(x, Enumerable.Range(0, count).Select(i => (i * 7) % 10).ToArray(), 10);
        var one = Train(1).CaptureState().Tensors;
        var two = Train(2).CaptureState().Tensors;
        for (int i = 0; i < one.Count; i++)
        {
            two[i].ToArray().Select(BitConverter.SingleToInt32Bits).Should().Equal(one[i].ToArray().Select(BitConverter.SingleToInt32Bits), $"tensor {i}");
        }

        Model<float> Train(int threads)
        {
            var builder = Model.Sequential<float>(300).Dense(256, Activation.ReLU);
            builder = batchNorm ? builder.Dense(128, useBias: false).BatchNorm().ReLU() : builder.Dense(128, Activation.ReLU);
            var model = builder.Dense(10).Softmax().Build(seed: 3);
            Gemm.ThreadsOverride = threads;
            try
            {
                model.Fit(data, new TrainingOptions<float> { Optimizer = new Adam(0.001), Epochs = 2, BatchSize = 64, Seed = 5 });
            }
            finally
            {
                Gemm.ThreadsOverride = 0;
            }

            return model;
        }
    }

    [Fact]
    public void A_step_that_throws_while_the_next_batch_is_gathered_leaves_the_model_trainable()
    {
        // Adam with α = 1e30 breaks the weights in the first steps: the divergence guard throws out of the loop right after
        // a step that posted the next batch's gather. The reader waits for it; the next Fit trains normally.
        var random = new RandomSource(4);
        var x = Tensor.RandomUniform<float>(random, [640, 300]);
        var data = DataSet.FromLabels(x, Enumerable.Range(0, 640).Select(i => i % 10).ToArray(), 10);
        var model = Model.Sequential<float>(300).Dense(256, Activation.ReLU).Dense(10).Softmax().Build(seed: 3);
        Gemm.ThreadsOverride = 2;
        try
        {
            for (int i = 0; i < 40; i++)
            {
                data.X.Span[i * 300] = 1e30f;
            }

            model.Invoking(m => m.Fit(data, new TrainingOptions<float> { Optimizer = new Adam(1e30), Epochs = 3, BatchSize = 64 }))
                .Should().Throw<TrainingDivergedException>();
            for (int i = 0; i < 40; i++)
            {
                data.X.Span[i * 300] = 0.5f;
            }

            var history = model.Fit(data, new TrainingOptions<float> { Optimizer = new Adam(0.001), Epochs = 2, BatchSize = 64 });
            history.Epochs.Should().HaveCount(2);
            model.Parameters.Should().OnlyContain(p => p.Value.ToArray().All(float.IsFinite));
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }
    }

    private sealed class CountingJob : SideJob
    {
        public int Runs;

        protected override void Execute() => Runs++;
    }

    private sealed class FailingJob : SideJob
    {
        protected override void Execute() => throw new InvalidDataException("side job failed");
    }
}
