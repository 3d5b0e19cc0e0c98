using DeepLearning.Kernels;

namespace DeepLearning.Tests.Kernels;

/// <summary>
/// A chunk that throws inside a parallel GEMM surfaces its own exception (not an AggregateException), and leaves
/// nothing of its call in the driver's shared job: the next parallel call computes the right product.
/// </summary>
public class GemmFailureTests
{
    [Fact]
    public void A_failing_column_split_call_throws_the_chunks_exception_and_the_next_row_split_call_is_right()
    {
        // Few rows (column split): the derivative pass of an activation with no derivative throws inside each chunk.
        var random = new RandomSource(3);
        var a = new float[12 * 512];
        var b = new float[512 * 256];
        random.FillNormal<float>(a);
        random.FillNormal<float>(b);
        var c = new float[12 * 256];
        var activationOutput = new float[12 * 256];

        // Many rows (row split) and a wider C than the failing call's: a stale column split would leave columns unset.
        var a2 = new float[600 * 256];
        var b2 = new float[256 * 1024];
        random.FillNormal<float>(a2);
        random.FillNormal<float>(b2);
        var oneThread = new float[600 * 1024];
        Gemm.ThreadsOverride = 1;
        try
        {
            Gemm.Multiply<float>(Transpose.None, Transpose.None, 600, 1024, 256, 1f, a2, 256, b2, 1024, 0f, oneThread, 1024);
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }

        Gemm.ThreadsOverride = 2;
        try
        {
            for (int round = 0; round < 3; round++)
            {
                var thrown = Record.Exception(() => Gemm.MultiplyBackward<float>(Transpose.None, Transpose.None, 12, 256, 512, a, 512, b, 256, c, 256, (Activation)99, activationOutput, 0f));
                thrown.Should().BeOfType<ArgumentOutOfRangeException>("the chunk's own exception is rethrown (not wrapped), as on one thread");

                var twoThreads = new float[600 * 1024];
                Gemm.Multiply<float>(Transpose.None, Transpose.None, 600, 1024, 256, 1f, a2, 256, b2, 1024, 0f, twoThreads, 1024);
                twoThreads.Should().Equal(oneThread, $"round {round}: bit-identical to one thread");
            }
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }
    }

    [Fact]
    public void The_pool_rethrows_the_first_failure_unwrapped_after_every_chunk_has_run_and_stays_usable()
    {
        var pool = new GemmThreadPool();
        pool.TryAcquire().Should().BeTrue();
        try
        {
            var failing = new Work(chunks: 8, failAt: 3);
            var thrown = Record.Exception(() => pool.Run(failing, 2));
            thrown.Should().BeOfType<InvalidDataException>().Which.Message.Should().Be("chunk 3");
            failing.Ran.Should().Be(8, "the other chunks still ran");

            var fine = new Work(chunks: 8, failAt: -1);
            pool.Run(fine, 2);
            fine.Ran.Should().Be(8);
        }
        finally
        {
            pool.Release();
        }
    }

    private sealed class Work : GemmWork
    {
        private readonly int _failAt;
        private int _ran;

        public Work(int chunks, int failAt)
        {
            Chunks = chunks;
            _failAt = failAt;
        }

        public int Ran => Volatile.Read(ref _ran);

        protected override void RunChunk(int chunk)
        {
            Interlocked.Increment(ref _ran);
            if (chunk == _failAt)
            {
                throw new InvalidDataException($"chunk {chunk}");
            }
        }
    }
}
