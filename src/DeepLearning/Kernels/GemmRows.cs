using System.Numerics;
using System.Runtime.CompilerServices;

namespace DeepLearning.Kernels;

/// <summary>
/// The few-rows paths: C (m, n) = epilogue(op(A) (m, k) · B̃ (k, n)) for one row against a pre-packed B (a Dense
/// layer's Wᵀ at inference; see <see cref="GemmBlocking.PrepackedRowsBelow"/>), or for m below one register tile's rows
/// against a plain B packed a pair of panels at a time (one row on its own, 2–5 as one partial tile per pair). Every
/// element gets the same operations in the same k order as on the tiled path, so the result is bit-identical to it
/// (and to the unpacked GEMM that <c>model.Predict</c> runs).
/// </summary>
internal static unsafe partial class GemmDriver<TS, TV, T>
    where TS : struct, ISimd<TV, T>
    where TV : struct
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Pre-packed B of at least this many bytes is split by columns over two or more threads, whatever the rows.</summary>
    private const long RowsParallelBytes = 192 * 1024;

    [ThreadStatic]
    private static RowsJob? _rowsJob;

    // One row against a pre-packed B (or, with packPerPanels, a few against a plain B). A large B̃ (a 784×256 layer's is
    // 800 KB) is split by column panels over the pool, each participant always taking the same range (GemmWork's
    // affinity), so each core streams its own half of the weights from its own L2 instead of one core streaming all of
    // them. Every element of C is computed by the same operations in the same order whatever the split, so the result is
    // bit-identical to one thread.
    // With packPerPanels, B is plain (not pre-packed) and each participant packs its own panels as it goes
    // (MultiplyRowsPackingPerPanels).
    private static void MultiplyRows(ref GemmProblem<T> p, int maxThreads, bool packPerPanels = false)
    {
        int pairs = (p.N + (2 * NR) - 1) / (2 * NR);
        long bytes = (long)p.K * p.N * sizeof(T);
        int threads = Math.Min(maxThreads, pairs);
        GemmThreadPool? pool = threads > 1 && bytes >= RowsParallelBytes ? GemmThreadPool.Shared : null;
        var job = pool is null ? null : _rowsJob ??= new RowsJob(); // allocated even when the pool turns out busy
        if (pool is null || !pool.TryAcquire())
        {
            if (packPerPanels)
            {
                MultiplyRowsPackingPerPanels(ref p, 0, p.N);
            }
            else
            {
                MultiplyRows(ref p, 0, p.N);
            }

            return;
        }

        try
        {
            job!.Problem = p;
            job.Pairs = pairs;
            job.PackPerPanels = packPerPanels;
            job.Chunks = threads;
            pool.Run(job, threads);
        }
        finally
        {
            job!.Problem = default;
            pool.Release();
        }
    }

    // Columns [j0, j1) of C (j0 a multiple of 2·NR), rows one by one: KC step → pairs of full NR panels (8 registers in
    // flight) → the remaining panel.
    // With block ≠ null only the KC step at pcOnly runs, against panels [j0, j1) of that step packed at block (panel jr
    // at block + (jr − j0)·kc).
    [SkipLocalsInit]
    private static void MultiplyRows(ref GemmProblem<T> p, int j0, int j1, int pcOnly = 0, T* block = null)
    {
        int nr = NR;
        int kcBlock = p.KC;
        nint cs = p.TransA ? p.Lda : 1;
        T* tile = stackalloc T[GemmBlocking.MR * 64];
        int pcBegin = block == null ? 0 : pcOnly;
        int pcEnd = block == null ? p.K : Math.Min(p.K, pcOnly + kcBlock);
        for (int i = 0; i < p.M; i++)
        {
            T* a = p.TransA ? p.A + i : p.A + (i * p.Lda);
            T* c = p.C + (i * p.Ldc);
            for (int pc = pcBegin; pc < pcEnd; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, p.K - pc);
                T* bt = block != null ? block - ((nint)j0 * kc) : p.PackedB + ((nint)pc * p.PackedWidth);
                T* ap = a + (pc * cs);
                bool last = pc + kc == p.K;
                var epi = BlockEpilogue(ref p, pc, last);
                T* bias = last ? p.Bias : null;
                int jr = j0;
                for (; jr + (2 * nr) <= j1; jr += 2 * nr)
                {
                    RowKernel2(kc, ap, cs, bt + ((nint)jr * kc), bt + ((nint)(jr + nr) * kc), c + jr, epi, bias == null ? null : bias + jr);
                }

                for (; jr < j1; jr += nr)
                {
                    int ncur = Math.Min(nr, j1 - jr);
                    int vectors = (ncur + TS.Count - 1) / TS.Count;
                    int w = vectors * TS.Count;
                    T* bp = bt + ((nint)jr * kc);
                    T* biasPanel = bias == null ? null : bias + jr;
                    if (ncur == w || TS.HasMask)
                    {
                        epi.LastCount = ncur == w ? 0 : ncur - (w - TS.Count);
                        RowKernel(vectors, kc, ap, cs, bp, c + jr, epi, biasPanel);
                        epi.LastCount = 0;
                    }
                    else
                    {
                        // No masked stores on this path: raw sums into a scratch row, then the scalar epilogue, as the tiled path does.
                        var raw = new GemmEpilogue<T> { Alpha = T.One, Beta = T.Zero, Activation = FusedActivation.Identity };
                        RowKernel(vectors, kc, ap, cs, bp, tile, raw, null);
                        var edge = epi;
                        if (edge.Activation is FusedActivation.Sigmoid or FusedActivation.Tanh)
                        {
                            edge.Activation = FusedActivation.Identity; // applied to the whole row below
                        }

                        EdgeEpilogue(tile, w, c + jr, p.Ldc, 1, ncur, edge, biasPanel);
                    }
                }

                if (last && p.Activation is FusedActivation.Sigmoid or FusedActivation.Tanh)
                {
                    ApplyTranscendental(p.Activation, c + j0, p.Ldc, 1, j1 - j0);
                }

                if (last)
                {
                    ApplyDerivative(ref p, i, i + 1, j0, j1);
                }
            }
        }
    }

    // Columns [jBegin, jEnd) (jBegin a multiple of 2·NR) of a few rows against a plain B (model.Predict of one
    // example): one KC step of one pair of panels is packed at a time (at most 2·NR·KC values, which stay in the core's
    // cache) and the rows run on it at once, instead of packing all of B̃ first (800 KB for a 784×256 layer, read back
    // from L3). Each column gets the same k-blocks in the same order, with the same epilogue per block, as the whole-B̃
    // path: the same bits. Split over the pool, each participant packs its own pairs of panels.
    // Two rows or more (GemmBlocking.PrepackedRowsBelow, the threshold of the pre-packed case) run as one partial
    // register tile on each packed pair, so the pair is read once for all the rows rather than once per row.
    [SkipLocalsInit]
    private static void MultiplyRowsPackingPerPanels(ref GemmProblem<T> p, int jBegin, int jEnd)
    {
        int step = 2 * NR;
        T* block = GemmScratch.PackB.Get<T>((nint)Math.Min(p.KC, p.K) * step);
        bool tiles = p.M >= GemmBlocking.PrepackedRowsBelow;
        T* edgeA = stackalloc T[tiles ? (GemmBlocking.MR * Math.Min(p.KC, p.K)) + GemmPacking.PackASlack : 1];
        T* tile = stackalloc T[tiles ? GemmBlocking.MR * 64 : 1];
        for (int j0 = jBegin; j0 < jEnd; j0 += step)
        {
            int j1 = Math.Min(jEnd, j0 + step);
            for (int pc = 0; pc < p.K; pc += p.KC)
            {
                PackPanels(p.TransB, Math.Min(p.KC, p.K - pc), j0, j1, 0, p.N, p.B, p.Ldb, pc, block);
                if (tiles)
                {
                    TileOnPanels(ref p, j0, j1, pc, block, edgeA, tile);
                }
                else
                {
                    MultiplyRows(ref p, j0, j1, pc, block);
                }
            }
        }
    }

    // All of C's rows (fewer than MR) as one partial tile per panel of [j0, j1), for the KC step at pc, against those
    // panels packed at block (panel jr at block + (jr − j0)·kc); A read in place. The same sums in the same order as
    // the row kernel, and the same epilogue.
    private static void TileOnPanels(ref GemmProblem<T> p, int j0, int j1, int pc, T* block, T* edgeA, T* tile)
    {
        var q = p;
        q.DirectA = true;
        int kc = Math.Min(q.KC, q.K - pc);
        bool last = pc + kc == q.K;
        var epi = BlockEpilogue(ref q, pc, last);
        T* bias = last ? q.Bias : null;
        for (int jr = j0; jr < j1; jr += NR)
        {
            T* bp = block + ((nint)(jr - j0) * kc);
            nint bs = RoundUp(Math.Min(NR, j1 - jr), TS.Count);
            Tile(ref q, 0, 0, q.M, 0, jr, j1, pc, kc, bp, bs, null, edgeA, tile, ref epi, bias);
        }

        if (last)
        {
            if (q.Activation is FusedActivation.Sigmoid or FusedActivation.Tanh)
            {
                ApplyTranscendental(q.Activation, q.C + j0, q.Ldc, q.M, j1 - j0);
            }

            ApplyDerivative(ref q, 0, q.M, j0, j1);
        }
    }

    private static void RowKernel(int vectors, int kc, T* a, nint cs, T* b, T* c, in GemmEpilogue<T> e, T* bias)
    {
        switch (vectors)
        {
            case 1:
                RowKernel<Vectors1>(kc, a, cs, b, c, e, bias);
                break;
            case 2:
                RowKernel<Vectors2>(kc, a, cs, b, c, e, bias);
                break;
            case 3:
                RowKernel<Vectors3>(kc, a, cs, b, c, e, bias);
                break;
            default:
                RowKernel<Vectors4>(kc, a, cs, b, c, e, bias);
                break;
        }
    }

    // a: one row of op(A) (kc) at a[p·cs]; b: one B̃ panel (kc, w); c: (1, w). Sums start at 0 and run p = 0..kc−1.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowKernel<TW>(int kc, T* a, nint cs, T* b, T* c, in GemmEpilogue<T> e, T* bias)
        where TW : struct, IVectors
    {
        int nv = TW.Value;
        nint n = TS.Count;
        nint w = nv * n;
        TV c0 = TS.Zero, c1 = TS.Zero, c2 = TS.Zero, c3 = TS.Zero;
        for (int p = 0; p < kc; p++)
        {
            TV x = TS.Broadcast(*a);
            c0 = TS.MulAdd(x, TS.Load(b), c0);
            if (nv > 1) { c1 = TS.MulAdd(x, TS.Load(b + n), c1); }
            if (nv > 2) { c2 = TS.MulAdd(x, TS.Load(b + (2 * n)), c2); }
            if (nv > 3) { c3 = TS.MulAdd(x, TS.Load(b + (3 * n)), c3); }
            a += cs;
            b += w;
        }

        GemmMicroKernel.StoreRow<TS, TV, T, TW>(c, e, bias, c0, c1, c2, c3);
    }

    // Two full NR panels at once, so 2·MaxVectors independent sums hide the FMA latency; b0, b1: (kc, NR) each; c: (1, 2·NR).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowKernel2(int kc, T* a, nint cs, T* b0, T* b1, T* c, in GemmEpilogue<T> e, T* bias)
    {
        int nv = TS.MaxVectors;
        nint n = TS.Count;
        nint w = nv * n;
        TV c0 = TS.Zero, c1 = TS.Zero, c2 = TS.Zero, c3 = TS.Zero;
        TV c4 = TS.Zero, c5 = TS.Zero, c6 = TS.Zero, c7 = TS.Zero;
        for (int p = 0; p < kc; p++)
        {
            TV x = TS.Broadcast(*a);
            c0 = TS.MulAdd(x, TS.Load(b0), c0);
            c1 = TS.MulAdd(x, TS.Load(b0 + n), c1);
            c4 = TS.MulAdd(x, TS.Load(b1), c4);
            c5 = TS.MulAdd(x, TS.Load(b1 + n), c5);
            if (nv > 2)
            {
                c2 = TS.MulAdd(x, TS.Load(b0 + (2 * n)), c2);
                c3 = TS.MulAdd(x, TS.Load(b0 + (3 * n)), c3);
                c6 = TS.MulAdd(x, TS.Load(b1 + (2 * n)), c6);
                c7 = TS.MulAdd(x, TS.Load(b1 + (3 * n)), c7);
            }

            a += cs;
            b0 += w;
            b1 += w;
        }

        if (nv > 2)
        {
            GemmMicroKernel.StoreRow<TS, TV, T, Vectors4>(c, e, bias, c0, c1, c2, c3);
            GemmMicroKernel.StoreRow<TS, TV, T, Vectors4>(c + w, e, bias == null ? null : bias + w, c4, c5, c6, c7);
        }
        else
        {
            GemmMicroKernel.StoreRow<TS, TV, T, Vectors2>(c, e, bias, c0, c1, c2, c3);
            GemmMicroKernel.StoreRow<TS, TV, T, Vectors2>(c + w, e, bias == null ? null : bias + w, c4, c5, c6, c7);
        }
    }

    private sealed class RowsJob : GemmWork
    {
        public GemmProblem<T> Problem;
        public int Pairs;
        public bool PackPerPanels;

        protected override void RunChunk(int chunk)
        {
            int j0 = (int)((long)chunk * Pairs / Chunks) * 2 * NR;
            int j1 = Math.Min(Problem.N, (int)((long)(chunk + 1) * Pairs / Chunks) * 2 * NR);
            if (j1 > j0 && PackPerPanels)
            {
                MultiplyRowsPackingPerPanels(ref Problem, j0, j1);
            }
            else if (j1 > j0)
            {
                MultiplyRows(ref Problem, j0, j1);
            }
        }
    }
}
