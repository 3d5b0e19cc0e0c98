using System.Runtime.ExceptionServices;

namespace DeepLearning.Kernels;

/// <summary>Two independent pieces of work for <see cref="ParallelPair"/>.</summary>
internal interface IPairBody
{
    /// <summary>The first piece (run by the caller).</summary>
    void First();

    /// <summary>The second piece (run by the helper when one is free, else by the caller after <see cref="First"/>).</summary>
    void Second();
}

/// <summary>
/// Runs two independent pieces of work side by side on two cores, each piece whole on one core, instead of splitting
/// each over both in turn. A dense layer's backward pass has such a pair: dW = dZᵀ·A_prev and dA_prev = dZ·W, equal in
/// flops. On a machine whose cores share no cache, a medium-sized GEMM split over two cores pays for its operands
/// crossing between them and barely scales (64×256×128 on two threads: 16–21 µs against 22–23 µs on one), while two
/// such GEMMs side by side each run at the one-core speed.
/// </summary>
/// <remarks>
/// GEMMs (and <see cref="ParallelRange"/> loops) called inside a piece find the pool taken and run on their own core,
/// through the same code as with one thread, so results are bit-identical whatever the thread count. Used only with
/// exactly two threads: with more, splitting each GEMM over all of them does better. If the helper has not started when
/// the caller finishes the first piece, the caller runs the second itself. Allocates nothing once warm. An exception
/// from a piece is rethrown as itself, not wrapped.
/// </remarks>
internal static class ParallelPair
{
    /// <summary>Whether <see cref="Run"/> would run the pieces side by side for a pair of this many flops each.</summary>
    public static bool Worthwhile(long flopsEach) =>
        Gemm.EffectiveThreads == 2 && flopsEach >= GemmBlocking.PairMinFlops && flopsEach <= GemmBlocking.PairMaxFlops;

    /// <summary>Runs <see cref="IPairBody.First"/> and <see cref="IPairBody.Second"/>, side by side when the pool is free.</summary>
    public static void Run<TBody>(TBody body)
        where TBody : struct, IPairBody
    {
        // Created before the pool is tried, as in ParallelRange, so a later call allocates nothing.
        var work = PairWork<TBody>.Cached ??= new PairWork<TBody>();
        var pool = GemmThreadPool.Shared;
        if (!pool.TryAcquire())
        {
            body.First();
            body.Second();
            return;
        }

        try
        {
            work.Body = body;
            work.Chunks = 2;
            pool.Run(work, 2);
        }
        catch (AggregateException wrapped) when (wrapped.InnerExceptions.Count == 1)
        {
            ExceptionDispatchInfo.Throw(wrapped.InnerExceptions[0]);
        }
        finally
        {
            work.Body = default;
            pool.Release();
        }
    }

    private sealed class PairWork<TBody> : GemmWork
        where TBody : struct, IPairBody
    {
        [ThreadStatic]
        public static PairWork<TBody>? Cached;

        public TBody Body;

        protected override void RunChunk(int chunk)
        {
            if (chunk == 0)
            {
                Body.First();
            }
            else
            {
                Body.Second();
            }
        }
    }
}
