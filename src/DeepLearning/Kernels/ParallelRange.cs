namespace DeepLearning.Kernels;

/// <summary>The body of a <see cref="ParallelRange"/> loop: processes elements [start, end) of a range.</summary>
internal interface IRangeBody
{
    /// <summary>Processes elements [<paramref name="start"/>, <paramref name="end"/>).</summary>
    void Invoke(int start, int end);
}

/// <summary>
/// Element-wise work (optimizer updates, row gathers) split over the GEMM pool's participants, so the second core
/// does not wait while the first runs the passes between GEMMs. The range is cut into one contiguous chunk per
/// participant, each a multiple of 64 elements by default, so every element goes through the same vector or scalar form
/// as in a one-thread run and results are bit-identical whatever the thread count. Allocates nothing once warm.
/// </summary>
internal static class ParallelRange
{
    /// <summary>Below this many elements per extra participant the hand-off (≈ 1 µs) costs more than it saves.</summary>
    public const int DefaultMinimum = 16 * 1024;

    /// <summary>
    /// Runs <paramref name="body"/> over [0, <paramref name="length"/>) on up to <see cref="Gemm.MaxThreads"/>
    /// participants (fewer when there is less than <paramref name="minimumPerThread"/> elements for each, or when the
    /// pool is in use by another thread). Chunk boundaries fall on multiples of <paramref name="granule"/>.
    /// Pointers the body holds must stay pinned until this returns.
    /// </summary>
    public static void For<TBody>(int length, TBody body, int minimumPerThread = DefaultMinimum, int granule = 64)
        where TBody : struct, IRangeBody
    {
        int threads = Math.Min(Gemm.EffectiveThreads, length / Math.Max(1, minimumPerThread));
        if (threads <= 1)
        {
            body.Invoke(0, length);
            return;
        }

        // Created before the pool is tried, so a first call that finds the pool busy still allocates it: a later call
        // that gets the pool then allocates nothing (the zero-allocation step promise holds whoever else is running).
        var work = RangeWork<TBody>.Cached ??= new RangeWork<TBody>();
        var pool = GemmThreadPool.Shared;
        if (!pool.TryAcquire())
        {
            body.Invoke(0, length);
            return;
        }

        try
        {
            work.Body = body;
            work.Length = length;
            int chunk = (length + threads - 1) / threads;
            work.ChunkLength = (chunk + granule - 1) / granule * granule;
            work.Chunks = (length + work.ChunkLength - 1) / work.ChunkLength;
            pool.Run(work, threads);
        }
        finally
        {
            work.Body = default;
            pool.Release();
        }
    }

    private sealed class RangeWork<TBody> : GemmWork
        where TBody : struct, IRangeBody
    {
        [ThreadStatic]
        public static RangeWork<TBody>? Cached;

        public TBody Body;
        public int Length;
        public int ChunkLength;

        protected override void RunChunk(int chunk)
        {
            int start = chunk * ChunkLength;
            Body.Invoke(start, Math.Min(Length, start + ChunkLength));
        }
    }
}
