using DeepLearning.Kernels;

namespace DeepLearning.Tests.Kernels;

public class ParallelPairTests
{
    [Fact]
    public void Both_pieces_run_once_and_the_second_runs_beside_the_first_on_two_threads()
    {
        Gemm.ThreadsOverride = 2;
        try
        {
            ParallelPair.Worthwhile(1L << 20).Should().BeTrue();
            var log = new PairLog();
            for (int i = 0; i < 50; i++)
            {
                ParallelPair.Run(new Recorder(log));
            }

            log.First.Should().Be(50);
            log.Second.Should().Be(50);
            log.OtherThread.Should().BeGreaterThan(0, "a helper core takes the second piece while the caller runs the first");
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }
    }

    [Fact]
    public void An_exception_from_a_piece_is_rethrown_as_itself()
    {
        Gemm.ThreadsOverride = 2;
        try
        {
            var act = () => ParallelPair.Run(new Thrower());
            act.Should().Throw<InvalidOperationException>().WithMessage("second piece failed");

            // The pool is released: the next pair runs.
            var log = new PairLog();
            ParallelPair.Run(new Recorder(log));
            (log.First + log.Second).Should().Be(2);
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }
    }

    [Fact]
    public void Only_two_threads_and_the_middle_sizes_take_the_pair()
    {
        foreach (int threads in new[] { 1, 3 })
        {
            Gemm.ThreadsOverride = threads;
            try
            {
                ParallelPair.Worthwhile(1L << 20).Should().BeFalse($"{threads} threads");
            }
            finally
            {
                Gemm.ThreadsOverride = 0;
            }
        }

        Gemm.ThreadsOverride = 2;
        try
        {
            ParallelPair.Worthwhile(GemmBlocking.PairMinFlops - 1).Should().BeFalse();
            ParallelPair.Worthwhile(GemmBlocking.PairMaxFlops + 1).Should().BeFalse();
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }
    }

    [Theory]
    [InlineData(64, 256, 128, true)]
    [InlineData(64, 128, 10, false)]
    [InlineData(33, 130, 70, true)]
    public void A_dense_layer_backward_pass_gives_the_same_bits_side_by_side_as_in_turn(int m, int inputs, int outputs, bool dropout)
    {
        // Dense(inputs → inputs, ReLU) [→ Dropout] → Dense(inputs → outputs): the upper layer's backward pass is the pair.
        float[] Run(int threads, out float[] dw, out float[] db)
        {
            var builder = Model.Sequential<float>(inputs).Dense(inputs, Activation.ReLU);
            var model = (dropout ? builder.Dropout(0.7) : builder).Dense(outputs).Build(seed: 7);
            var x = Tensor.RandomUniform<float>(new RandomSource(3), [m, inputs], -1, 1);
            var dense = model.Layers.OfType<Dense<float>>().ToArray();
            Gemm.ThreadsOverride = threads;
            try
            {
                var a = x;
                foreach (var layer in model.Layers)
                {
                    a = layer.Forward(a, training: true);
                }

                var dz = Tensor.RandomUniform<float>(new RandomSource(4), [m, outputs], -1, 1);
                var drop = dropout ? (Dropout<float>)model.Layers[1] : null;
                var result = dense[1].BackwardFromZ(dz, dense[0], drop).ToArray();
                dw = dense[1].Weight.Gradient.ToArray();
                db = dense[1].Bias!.Gradient.ToArray();
                return result;
            }
            finally
            {
                Gemm.ThreadsOverride = 0;
            }
        }

        var one = Run(1, out var dw1, out var db1);
        var two = Run(2, out var dw2, out var db2);
        two.Select(BitConverter.SingleToInt32Bits).Should().Equal(one.Select(BitConverter.SingleToInt32Bits), "dZ_prev");
        dw2.Select(BitConverter.SingleToInt32Bits).Should().Equal(dw1.Select(BitConverter.SingleToInt32Bits), "dW");
        db2.Select(BitConverter.SingleToInt32Bits).Should().Equal(db1.Select(BitConverter.SingleToInt32Bits), "db");
        var dense = 2L * m * inputs * outputs;
        if (dense >= GemmBlocking.PairMinFlops && dense <= GemmBlocking.PairMaxFlops)
        {
            one.Should().Contain(v => v != 0, "the pair must have computed something");
        }
    }

    private sealed class PairLog
    {
        public int First;
        public int Second;
        public int OtherThread;
        public int Caller = Environment.CurrentManagedThreadId;
    }

    private readonly struct Recorder(PairLog log) : IPairBody
    {
        public void First()
        {
            // Long enough for a helper to wake and claim the second piece while the caller is busy with this one.
            Thread.SpinWait(200_000);
            Interlocked.Increment(ref log.First);
        }

        public void Second()
        {
            Interlocked.Increment(ref log.Second);
            if (Environment.CurrentManagedThreadId != log.Caller)
            {
                Interlocked.Increment(ref log.OtherThread);
            }
        }
    }

    private readonly struct Thrower : IPairBody
    {
        public void First()
        {
        }

        public void Second() => throw new InvalidOperationException("second piece failed");
    }
}
