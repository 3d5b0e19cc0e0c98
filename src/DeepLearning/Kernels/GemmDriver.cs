using System.Numerics;
using System.Runtime.CompilerServices;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning.Kernels;

/// <summary>Cache blocking for this CPU class (32–48 KiB L1d, 1–2 MiB L2 per core, shared L3).</summary>
internal static class GemmBlocking
{
    /// <summary>Rows of C per register tile.</summary>
    public const int MR = GemmMicroKernel.MR;

    /// <summary>Depth of one packed block: an MR×KC sliver of Ã and a KC×NR panel of B̃ are reused from L1/L2.</summary>
    public static int KC { get; set; } = 256;

    /// <summary>
    /// The depth of the k-blocks for a product of depth <paramref name="k"/>: one block up to 1.5625·<see cref="KC"/>
    /// (400), two equal halves (rounded up to 8) up to 3.125·KC (800), else KC. A short last block pays the tile's
    /// load, store and epilogue for little work: K = 784 (a 28×28 image) as 256+256+256+16 ran 5–8% slower than as
    /// 392+392 (AMD EPYC Zen 5). Depends on k alone, so a pre-packed B and the plain path block alike and agree to
    /// the bit.
    /// </summary>
    public static int BlockDepth(int k)
    {
        int kc = KC;
        if ((long)k * 64 <= kc * 100L)
        {
            return Math.Max(1, k);
        }

        if ((long)k * 32 <= kc * 100L)
        {
            return ((k + 1) / 2 + 7) & ~7;
        }

        return kc;
    }

    /// <summary>Rows of one packed Ã block (a multiple of MR), sized to stay in L2.</summary>
    public static int MC { get; set; } = 96;

    /// <summary>Columns of one packed B̃ block (a multiple of every NR), sized for the shared L3.</summary>
    public static int NC { get; set; } = 3072;

    /// <summary>Below this many flops (2·m·n·k) one thread is faster than a hand-off.</summary>
    public static long ParallelFlops { get; set; } = 1L << 21;

    /// <summary>A B̃ block up to this many elements is packed for every KC step at once (one hand-off per call).</summary>
    public static long WholePackElements { get; set; } = 1L << 20;

    /// <summary>
    /// In the row split, a whole B̃ up to this many elements is packed by every participant for itself (in parallel,
    /// from its own cache) instead of once by the caller while the helpers wait. A larger B̃ is packed one KC step at
    /// a time, also by every participant for itself. Raised from 256K to 1M elements: two threads, NN 1024³ 287–303 →
    /// 325–336 GFLOP/s (AMD EPYC Zen 5, whose cores share no cache).
    /// </summary>
    public static long PackEachElements { get; set; } = 1024 * 1024;

    /// <summary>
    /// A C larger than this (bytes, about one core's L2) is no longer in that L2 when the next k-block's tile loads it,
    /// so the micro-kernel prefetches each tile's lines before its epilogue (<see cref="GemmEpilogue{T}.PrefetchC"/>).
    /// </summary>
    public static long PrefetchCBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// A plain row-major B of one k-block whose panels are whole registers is read in place (no B̃) from this many
    /// elements up (<see cref="GemmProblem{T}.DirectB"/>).
    /// </summary>
    public static long DirectBMinElements { get; set; } = 0;

    /// <summary>Ã is packed only when the block has more than this many NR panels to reuse it over.</summary>
    public static int DirectAMaxPanels { get; set; } = 4;

    /// <summary>
    /// With at most this many MR row tiles per participant (m ≤ 192 on two threads, e.g. a mini-batch of 64),
    /// participants split C by column panels instead of rows: each packs its own B̃ panels, so there is no serial
    /// packing step and no participant streams all of B̃.
    /// </summary>
    public static int ColumnSplitTiles { get; set; } = 16;

    /// <summary>
    /// Any number of rows is split by column panels when A is read in place and B has to be packed (see
    /// <see cref="GemmDriver{TS, TV, T}.Multiply"/>). Batch-256 first layer, NT (256, 256, 784) on two threads: each core
    /// packs half of Wᵀ instead of all of it.
    /// </summary>
    public static bool ColumnSplitForPacking { get; set; } = true;

    /// <summary>
    /// Whether a Dense layer whose W is at least four times its batch computes W·Xᵀ (W read in place, only the batch
    /// packed) instead of X·Wᵀ on the AVX2 path when its GEMMs run on one thread (on AVX-512 it always does). AMD EPYC
    /// Zen 3, batch 64, epochs alternated by <c>train --ab transposed</c>: one thread 0.906 and 0.946 (10/10 and 7/10
    /// rounds faster); two threads 1.19, 0.97 and 1.07, so two threads keep X·Wᵀ with its column split of W's packing.
    /// </summary>
    public static bool TransposedProductOnAvx2 { get; set; } = true;

    /// <summary>
    /// Fewer than MR rows against a plain B (model.Predict of one example) pack one KC step of one pair of panels at a
    /// time, by the participant that uses it, instead of all of B̃ first: the pieces stay in cache. One example through
    /// 784-256-128-10, alternated blocks of calls: 45.7 → 37.5 µs (AMD EPYC Zen 5). Same bits either way.
    /// </summary>
    public static bool RowsPackPerPanels { get; set; } = true;

    /// <summary>
    /// Whether a block's last partial row tile (mr &lt; MR rows, e.g. the 4 left by m = 64) runs the micro-kernel for its mr
    /// rows straight into C, or — off, as before — a full tile into scratch (A's rows copied first when A is read in
    /// place) and a scalar epilogue. NT (16, 256, 784) with B pre-packed: 112 → 195 GFLOP/s; (64, 256, 784): 162 → 205
    /// (AMD EPYC Zen 5). Same bits either way for beta 0 or 1 (each sum in the same order; other betas are now fused as
    /// in full tiles).
    /// </summary>
    public static bool PartialTileInPlace { get; set; } = true;

    /// <summary>
    /// Whether the row split cuts C into a multiple of the participants' count of chunks (each chunk an equal run of row
    /// tiles, to one tile; rounded down instead where rounding up would pass <see cref="GemmWork.AffinityChunks"/>), so
    /// each participant's own share is half the rows on two threads. Before, m = 256 on two threads was 9 chunks of 5
    /// tiles: the caller's share rows 0–119, the helper's 120–255, and the caller, done first, took the helper's last
    /// chunk — so the rows of W and dW each core touched moved from step to step and disagreed with the optimizer's halves
    /// (rows 0–127 / 128–255), and a row another core touched last crosses the fabric (on AMD EPYC Zen 5 the two vCPUs
    /// share no cache). Now 10 chunks, rows 0–125 / 126–255, steals rare. `train --ab shares` (Fashion-MNIST), two
    /// threads: 0.988 at batch 64 (faster in 16 of 20 rounds, quartiles 0.971–0.998), 1.016 at batch 256 (7 of 16: no
    /// effect there).
    /// </summary>
    public static bool EqualRowShares { get; set; } = true;

    /// <summary>
    /// Fewer rows than this against a pre-packed B take the matrix-vector path (each row on its own, B̃ streamed once per
    /// row); from here on they run as one partial tile that streams B̃ once for all its rows, split by column panels over
    /// the threads when B̃ is large (each core keeps its share in its own L2). Was <see cref="MR"/>: 2–5 rows ran at
    /// 70–75 GFLOP/s on one thread and 125–150 on two (AMD EPYC Zen 5, NT (m, 256, 784)); as a tile 131–195 and 175–295.
    /// One row stays on the matrix-vector path (71–84 against 62–73 as a tile). The same threshold applies to a few rows
    /// against a plain B packed a pair of panels at a time (model.Predict): 2–5 rows 26–45 → 35–73 GFLOP/s on one thread.
    /// </summary>
    public static int PrepackedRowsBelow { get; set; } = 2;

    /// <summary>Chunks per participant in the column split (claimed dynamically for balance).</summary>
    public static int ColumnChunksPerThread { get; set; } = 2;
}

/// <summary>One GEMM call as raw pointers (pinned by the caller for the duration of the call).</summary>
internal unsafe struct GemmProblem<T>
    where T : unmanaged
{
    public int M, N, K;
    public T Alpha, Beta;
    public T* A;
    public nint Lda;
    public bool TransA;
    public T* B;
    public nint Ldb;
    public bool TransB;
    public T* C;
    public nint Ldc;
    public T* Bias;
    public FusedActivation Activation;
    public T Slope;

    /// <summary>B̃: the shared pack buffer, or the pre-packed B when <see cref="Prepacked"/>.</summary>
    public T* PackedB;
    public bool Prepacked;

    /// <summary>Width of all packed panels of one KC block together (pre-packed layout).</summary>
    public nint PackedWidth;
    public int KC, MC, NC;
    public bool DirectA;

    /// <summary>B̃ holds every KC step of the current NC block (packed once, pre-packed layout).</summary>
    public bool WholePack;

    /// <summary>
    /// B is not packed: it is plain row-major (not transposed), every panel is whole registers wide and there is one
    /// k-block, so the micro-kernel reads each panel row straight from B (stride ldb) — the same values in the same
    /// order as from B̃, without writing B̃ first.
    /// </summary>
    public bool DirectB;

    /// <summary>
    /// When not null, each finished region of C is then multiplied in place by g′ computed from the activation output
    /// <see cref="Derivative"/> (same shape as C, leading dimension <see cref="LdDerivative"/>): C ← C ⊙ g′(A) with
    /// <see cref="DerivativeOf"/> = g — the backward dZ_prev = (dZ·W) ⊙ g′(A_prev) of two adjacent dense layers, done
    /// by the participant that computed the region while it is still in its cache.
    /// </summary>
    public T* Derivative;
    public nint LdDerivative;
    public Activation DerivativeOf;

    /// <summary>
    /// When not null (and <see cref="Derivative"/> is set), each finished region of C is first multiplied by this
    /// dropout mask D (same shape and leading dimension as <see cref="Derivative"/>): C ← (C ⊙ D) ⊙ g′(A), the backward
    /// pass through a dense layer, a dropout and the dense layer below it.
    /// </summary>
    public T* Mask;
}

/// <summary>
/// The BLIS loop nest around the micro-kernel for one register width: jc (NC) → pc (KC) → pack B̃ →
/// ic (MC) → pack Ã (or read A in place) → jr (NR) → ir (MR) → micro-kernel. Participants claim chunks of C's
/// rows (whole MR tiles) over a shared B̃ or, when C has few rows, chunks of whole NR column panels over all rows
/// with B̃ packed by each participant, so every C element is computed by the same instructions in the same
/// k order whatever the thread count and whoever claims its chunk.
/// </summary>
[SkipLocalsInit]
internal static unsafe partial class GemmDriver<TS, TV, T>
    where TS : struct, ISimd<TV, T>
    where TV : struct
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private static Job? _job;

    /// <summary>Register-tile width NR (columns).</summary>
    public static int NR => TS.MaxVectors * TS.Count;

    /// <summary>Total width of the packed panels covering n columns (the last panel rounded up to whole registers).</summary>
    public static nint PackedWidth(int n)
    {
        int nr = NR;
        int rem = n % nr;
        return ((nint)(n - rem)) + (rem == 0 ? 0 : RoundUp(rem, TS.Count));
    }

    /// <summary>Packs all of op(B) (k, n) into the pre-packed layout: KC blocks, each a row of panels.</summary>
    public static void PackAll(bool transB, int k, int n, T* b, nint ldb, int kcBlock, T* dst)
    {
        nint width = PackedWidth(n);
        for (int pc = 0; pc < k; pc += kcBlock)
        {
            int kc = Math.Min(kcBlock, k - pc);
            PackPanels(transB, kc, 0, n, 0, n, b, ldb, pc, dst + ((nint)pc * width));
        }
    }

    /// <summary>
    /// Multiplies. With more than one participant the caller packs B̃ (all of an NC block at once when it fits,
    /// else one KC step at a time) and then the caller and the helpers claim chunks of C's rows from a shared
    /// counter. Nobody waits for a participant that has not started: if the helper is descheduled, the caller
    /// simply claims every chunk itself, so a busy machine degrades to the one-thread speed, not below it.
    /// </summary>
    public static void Multiply(ref GemmProblem<T> p, int maxThreads)
    {
        const int MR = GemmBlocking.MR;
        if (p.Prepacked && p.M < GemmBlocking.PrepackedRowsBelow)
        {
            // One row against a pre-packed B (inference of one example): no packing, no wasted tile rows.
            MultiplyRows(ref p, maxThreads);
            return;
        }

        if (!p.Prepacked && p.M < MR && p.N <= p.NC && (long)p.K * PackedWidth(p.N) <= GemmBlocking.WholePackElements)
        {
            // A few rows against a plain B (model.Predict of a few examples): B packed a pair of panels at a time by the
            // participant that uses it, one row on the row path and 2–5 as one partial tile on each pair (or, with
            // RowsPackPerPanels off, all of B at once into the pre-packed layout first). Same bits either way.
            if (GemmBlocking.RowsPackPerPanels)
            {
                MultiplyRows(ref p, maxThreads, packPerPanels: true);
                return;
            }

            nint width = PackedWidth(p.N);
            T* packed = GemmScratch.PackB.Get<T>((nint)p.K * width);
            PackWhole(ref p, 0, p.N, packed);
            p.PackedB = packed;
            p.PackedWidth = width;
            p.Prepacked = true;
            MultiplyRows(ref p, 1); // B̃ was just written by this thread: another core would read all of it from here
            return;
        }

        p.DirectB = !p.Prepacked && !p.TransB && p.K <= p.KC && p.N <= p.NC && p.N % TS.Count == 0
            && (long)p.K * p.N >= GemmBlocking.DirectBMinElements;
        int tiles = (p.M + MR - 1) / MR;
        int panels = (p.N + NR - 1) / NR;
        // Columns also when A is read in place and B has to be packed: the row split would have every participant
        // pack all of B̃, the column split packs each panel once, by the participant that then uses it (and, in
        // training, from the half of W that participant's optimizer share just updated).
        bool columnsForPacking = GemmBlocking.ColumnSplitForPacking && p.DirectA && !p.Prepacked && !p.DirectB;
        bool columns = (tiles <= GemmBlocking.ColumnSplitTiles * maxThreads || columnsForPacking) && panels >= 2 && (p.N <= p.NC || p.NC % NR == 0);
        int threads = Math.Min(maxThreads, columns ? panels : tiles);
        // A large pre-packed B split by column panels is split over the threads even for a few rows: each core then
        // streams its own share of the weights from its own cache, call after call (the row path's reason too).
        if (2L * p.M * p.N * p.K < GemmBlocking.ParallelFlops && !(columns && p.Prepacked && (long)p.K * p.N * sizeof(T) >= RowsParallelBytes))
        {
            threads = 1;
        }

        GemmThreadPool? pool = null;
        if (threads > 1)
        {
            _job ??= new Job(); // allocated even when the pool turns out busy, so a later call allocates nothing
            pool = GemmThreadPool.Shared;
            if (!pool.TryAcquire())
            {
                pool = null;
            }
        }

        if (pool is not null && columns)
        {
            // Few rows: each participant packs its own column panels (and A) and runs every KC step of them.
            Job job = _job ??= new Job();
            try
            {
                job.Problem = p;
                job.Columns = true;
                // Balanced ranges of whole panels, a few per participant (claimed dynamically).
                int chunks = Math.Min(panels, threads * GemmBlocking.ColumnChunksPerThread);
                chunks = Math.Max(chunks, (panels + (p.NC / NR) - 1) / (p.NC / NR));
                job.Panels = panels;
                job.Chunks = chunks;
                pool.Run(job, threads);
            }
            finally
            {
                // The job is static and shared by every thread's calls: however this call ends (a chunk that threw, e.g.
                // out of memory for its scratch), the next call must not find this one's column split and problem.
                job.Problem = default;
                job.Columns = false;
                pool.Release();
            }

            return;
        }

        if (!p.Prepacked && !p.DirectB)
        {
            int ncMax = Math.Min(p.NC, p.N);
            nint wholeCount = (nint)p.K * PackedWidth(ncMax);
            p.WholePack = wholeCount <= GemmBlocking.WholePackElements;
            p.PackedB = GemmScratch.PackB.Get<T>(p.WholePack ? wholeCount : Math.Min(p.KC, p.K) * PackedWidth(ncMax));
        }

        try
        {
            Job? job = null;
            int chunkTiles = 1;
            if (pool is not null)
            {
                job = _job ??= new Job();
                job.Problem = p;
                job.Columns = false; // row chunks, whatever the last call of the shared job did

                // About four chunks per participant, at most one MC block each.
                chunkTiles = Math.Clamp(tiles / (threads * 4), 1, p.MC / MR);
                int chunks = (tiles + chunkTiles - 1) / chunkTiles;
                job.Tiles = tiles;
                job.ChunkTiles = chunkTiles;
                job.Equal = GemmBlocking.EqualRowShares;
                job.Chunks = job.Equal ? EqualChunks(chunks, threads, tiles) : chunks;
            }

            int kcBlock = p.KC;
            for (int jc = 0; jc < p.N; jc += p.NC)
            {
                int nc = Math.Min(p.NC, p.N - jc);
                nint blockWidth = PackedWidth(nc);
                bool whole = p.Prepacked || p.WholePack || p.DirectB;
                // A small B̃ (one NC block, ≤ PackEachElements) is packed by every participant into its own buffer
                // at the start of its first chunk rather than by the caller while the helpers wait: the packing is
                // short, it runs in parallel, and no core reads B̃ out of another core's cache.
                bool packEach = job is not null && !p.Prepacked && p.WholePack && nc == p.N && (long)p.K * blockWidth <= GemmBlocking.PackEachElements;
                if (!p.Prepacked && p.WholePack && !packEach)
                {
                    PackWhole(ref p, jc, nc, p.PackedB);
                }

                if (job is not null)
                {
                    job.PackEach = packEach;
                    job.CallId = packEach ? Interlocked.Increment(ref _callIds) : 0;
                }

                for (int pc = 0; pc < p.K; pc += whole ? p.K : kcBlock)
                {
                    var phase = new Phase { Jc = jc, Nc = nc, PcBegin = pc, PcEnd = whole ? p.K : Math.Min(p.K, pc + kcBlock) };
                    if (p.DirectB)
                    {
                        // Nothing to pack: RunBlock reads B in place.
                    }
                    else if (p.Prepacked)
                    {
                        phase.Base = p.PackedB;
                        phase.PcStride = p.PackedWidth;
                        phase.JcOffset = jc;
                    }
                    else if (p.WholePack)
                    {
                        phase.Base = p.PackedB;
                        phase.PcStride = blockWidth;
                    }
                    else if (job is null)
                    {
                        PackPanels(p.TransB, phase.PcEnd - pc, 0, nc, jc, nc, p.B, p.Ldb, pc, p.PackedB);
                        phase.Base = p.PackedB;
                        phase.Single = true;
                    }
                    else
                    {
                        // Each participant packs this KC step's B̃ into its own buffer at its first chunk (PackOwn):
                        // the packing runs in parallel instead of on the caller while the helpers wait, and no core
                        // then streams B̃ out of another core's cache. NT (256,784,1024) on two threads: 225–248 →
                        // 308–317 GFLOP/s (AMD EPYC Zen 5).
                        phase.Single = true;
                        phase.PackOwn = true;
                        job.CallId = Interlocked.Increment(ref _callIds);
                    }

                    if (job is null)
                    {
                        RunRows(ref p, phase, 0, p.M);
                    }
                    else
                    {
                        job.Phase = phase;
                        pool!.Run(job, threads);
                    }
                }
            }
        }
        finally
        {
            if (pool is not null && _job is { } job)
            {
                job.Problem = default;
                job.Phase = default;
            }

            pool?.Release();
        }
    }

    private static long _callIds;

    // C[r0..r1, j0..j1) ← (C ⊙ D) ⊙ g′(A) over the same region (see GemmProblem.Derivative and Mask); the per-element
    // operations of the dropout's backward product and ActivationMath.Backward, so the result is that of the separate passes.
    private static void ApplyDerivative(ref GemmProblem<T> p, int r0, int r1, int j0, int j1)
    {
        if (p.Derivative == null || j1 <= j0)
        {
            return;
        }

        for (int r = r0; r < r1; r++)
        {
            var row = new Span<T>(p.C + (r * p.Ldc) + j0, j1 - j0);
            if (p.Mask != null)
            {
                TP.Multiply(row, new ReadOnlySpan<T>(p.Mask + (r * p.LdDerivative) + j0, j1 - j0), row);
            }

            ActivationMath.Backward(p.DerivativeOf, row, new ReadOnlySpan<T>(p.Derivative + (r * p.LdDerivative) + j0, j1 - j0), p.Slope, row);
        }
    }

    [ThreadStatic]
    private static long _packedCall;

    // Every KC step of the NC block at jc (width nc) into dst, in the whole-block layout.
    private static void PackWhole(ref GemmProblem<T> p, int jc, int nc, T* dst)
    {
        nint blockWidth = PackedWidth(nc);
        for (int pc = 0; pc < p.K; pc += p.KC)
        {
            int kc = Math.Min(p.KC, p.K - pc);
            PackPanels(p.TransB, kc, 0, nc, jc, nc, p.B, p.Ldb, pc, dst + ((nint)pc * blockWidth));
        }
    }

    // Rows [rowBegin, rowEnd) of C for the KC steps of one phase: ic (MC) → pack Ã → jr (NR) → ir (MR).
    // The epilogue of the k-block starting at pc: beta applies to the first block only (later blocks accumulate onto
    // C), bias and activation to the last block only.
    private static GemmEpilogue<T> BlockEpilogue(ref GemmProblem<T> p, int pc, bool last)
    {
        T beta = pc == 0 ? p.Beta : T.One;
        return new()
        {
            Alpha = p.Alpha,
            Beta = beta,
            Activation = last ? p.Activation : FusedActivation.Identity,
            Slope = p.Slope,
            PrefetchC = beta != T.Zero && (long)p.M * p.N * sizeof(T) > GemmBlocking.PrefetchCBytes,
        };
    }

    private static void RunRows(ref GemmProblem<T> p, in Phase phase, int rowBegin, int rowEnd)
    {
        const int MR = GemmBlocking.MR;
        int kcBlock = p.KC;
        int mcBlock = p.MC;
        T* packA = p.DirectA ? null : GemmScratch.PackA.Get<T>(((nint)mcBlock * kcBlock) + GemmPacking.PackASlack);
        T* edgeA = stackalloc T[(MR * kcBlock) + GemmPacking.PackASlack];
        T* tile = stackalloc T[MR * 64];
        int jc = phase.Jc, nc = phase.Nc;
        for (int pc = phase.PcBegin; pc < phase.PcEnd; pc += kcBlock)
        {
            int kc = Math.Min(kcBlock, p.K - pc);
            T* bt = p.DirectB ? null : phase.Single ? phase.Base : phase.Base + ((nint)pc * phase.PcStride) + ((nint)phase.JcOffset * kc);
            bool last = pc + kc == p.K;
            var epi = BlockEpilogue(ref p, pc, last);
            T* bias = last ? p.Bias : null;

            for (int ic = rowBegin; ic < rowEnd; ic += mcBlock)
            {
                RunBlock(ref p, ic, Math.Min(mcBlock, rowEnd - ic), pc, kc, last, jc, 0, nc, bt, packA, edgeA, tile, ref epi, bias);
            }
        }
    }

    // Panels [panelBegin, panelEnd) of C over all its rows and every KC step: pack this participant's own B̃
    // panels (unless pre-packed) → ic (MC) → pack Ã → jr (NR) → ir (MR). The tiles and their k order are those
    // of the row split, so the result is bit-identical whatever the thread count.
    private static void RunColumns(ref GemmProblem<T> p, int panelBegin, int panelEnd)
    {
        const int MR = GemmBlocking.MR;
        int kcBlock = p.KC;
        int mcBlock = p.MC;
        int nr = NR;
        int j0 = panelBegin * nr, j1 = Math.Min(p.N, panelEnd * nr);
        T* packB = p.Prepacked || p.DirectB ? null : GemmScratch.PackB.Get<T>((nint)Math.Min(kcBlock, p.K) * (panelEnd - panelBegin) * nr);
        T* packA = p.DirectA ? null : GemmScratch.PackA.Get<T>(((nint)mcBlock * kcBlock) + GemmPacking.PackASlack);
        T* edgeA = stackalloc T[(MR * kcBlock) + GemmPacking.PackASlack];
        T* tile = stackalloc T[MR * 64];
        for (int pc = 0; pc < p.K; pc += kcBlock)
        {
            int kc = Math.Min(kcBlock, p.K - pc);
            T* bt;
            if (p.DirectB)
            {
                bt = null;
            }
            else if (p.Prepacked)
            {
                bt = p.PackedB + ((nint)pc * p.PackedWidth) + ((nint)j0 * kc);
            }
            else
            {
                PackPanels(p.TransB, kc, j0, j1, 0, p.N, p.B, p.Ldb, pc, packB);
                bt = packB;
            }

            bool last = pc + kc == p.K;
            var epi = BlockEpilogue(ref p, pc, last);
            T* bias = last ? p.Bias : null;

            for (int ic = 0; ic < p.M; ic += mcBlock)
            {
                RunBlock(ref p, ic, Math.Min(mcBlock, p.M - ic), pc, kc, last, 0, j0, j1, bt, packA, edgeA, tile, ref epi, bias);
            }
        }
    }

    // One MC block, rows [ic, ic + mc), of one KC step against the B̃ panels of columns [jBegin, jEnd) of the NC block
    // at jc (panel jr at bt + (jr − jBegin)·kc): pack Ã (and the rows of a shifted last tile), run the tiles — two at a
    // time where the panel is one register wide — and, on the last KC step, apply the derivative to the finished block.
    private static void RunBlock(
        ref GemmProblem<T> p, int ic, int mc, int pc, int kc, bool last, int jc, int jBegin, int jEnd,
        T* bt, T* packA, T* edgeA, T* tile, ref GemmEpilogue<T> epi, T* bias)
    {
        const int MR = GemmBlocking.MR;
        if (!p.DirectA)
        {
            T* aBlock = p.TransA ? p.A + ((nint)pc * p.Lda) + ic : p.A + ((nint)ic * p.Lda) + pc;
            GemmPacking.PackA(p.TransA, mc, kc, aBlock, p.Lda, packA);
            if (ShiftedEdge(ref p, mc, pc, kc, epi))
            {
                // The last MR rows of the block, for the shifted last tile (see Tile).
                T* edgeRows = p.TransA ? aBlock + (mc - MR) : aBlock + ((nint)(mc - MR) * p.Lda);
                GemmPacking.PackA(p.TransA, MR, kc, edgeRows, p.Lda, edgeA);
            }
        }

        for (int jr = jBegin; jr < jEnd; jr += NR)
        {
            // Row p of the panel: B̃ at bp + p·w (w the panel's width), or B itself at bp + p·ldb (DirectB).
            T* bp = p.DirectB ? p.B + ((nint)pc * p.Ldb) + jc + jr : bt + ((nint)(jr - jBegin) * kc);
            nint bs = p.DirectB ? p.Ldb : RoundUp(Math.Min(NR, jEnd - jr), TS.Count);
            for (int ir = 0; ir < mc; ir += MR)
            {
                if (ir + (2 * MR) <= mc && TilePair(ref p, ic, ir, jc, jr, jEnd, pc, kc, bp, bs, packA, ref epi, bias))
                {
                    ir += MR;
                    continue;
                }

                Tile(ref p, ic, ir, mc, jc, jr, jEnd, pc, kc, bp, bs, packA, edgeA, tile, ref epi, bias);
            }
        }

        if (last)
        {
            if (p.Activation is FusedActivation.Sigmoid or FusedActivation.Tanh)
            {
                // Once over the whole block rather than tile by tile: a narrow layer (2-4-1 in float) spent 20 µs of a
                // 21 µs product in one short call per row of each tile.
                ApplyTranscendental(p.Activation, p.C + ((nint)ic * p.Ldc) + jc + jBegin, p.Ldc, mc, jEnd - jBegin);
            }

            ApplyDerivative(ref p, ic, ic + mc, jc + jBegin, jc + jEnd);
        }
    }

    // One MR×NR tile of C at (ic + ir, jc + jr) for the current KC step.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile(
        ref GemmProblem<T> p, int ic, int ir, int mc, int jc, int jr, int nc, int pc, int kc,
        T* bp, nint bs, T* packA, T* edgeA, T* tile, ref GemmEpilogue<T> epi, T* bias)
    {
        const int MR = GemmBlocking.MR;
        int ncur = Math.Min(NR, nc - jr);
        int vectors = (ncur + TS.Count - 1) / TS.Count;
        int w = vectors * TS.Count;
        int mr = Math.Min(MR, mc - ir);
        bool shifted = false;
        if (mr < MR && ShiftedEdge(ref p, mc, pc, kc, epi))
        {
            // The last few rows (m = 64 leaves 4) as a full tile shifted up over rows already done: with beta = 0 and
            // a single k-block those rows are recomputed to the same values, which beats the scratch tile and the
            // scalar epilogue. Only rows of this block are touched, so the thread split is unaffected. With packed
            // A the block's last MR rows were packed into edgeA when the block was.
            ir = mc - MR;
            mr = MR;
            shifted = true;
        }

        T* ap;
        nint rs, cs;
        if (shifted && !p.DirectA)
        {
            ap = edgeA;
            rs = 1;
            cs = MR;
        }
        else if (!p.DirectA)
        {
            ap = packA + ((nint)ir * kc);
            rs = 1;
            cs = MR;
        }
        else if (p.TransA)
        {
            ap = p.A + ((nint)pc * p.Lda) + ic + ir;
            rs = 1;
            cs = p.Lda;
        }
        else
        {
            ap = p.A + ((nint)(ic + ir) * p.Lda) + pc;
            rs = p.Lda;
            cs = 1;
        }

        // A partial tile (mr < MR) runs the kernel for its mr rows only, in place: A's rows past them are not read
        // (so an A read in place needs no copy) and C's not written. NT (16, 256, 784) with B pre-packed, 6 + 6 + 4
        // rows: 112 GFLOP/s through a full tile into scratch and a scalar epilogue, against 185 for 18 rows (AMD EPYC Zen 5).
        T* c = p.C + ((nint)(ic + ir) * p.Ldc) + jc + jr;
        T* biasTile = bias == null ? null : bias + jc + jr;
        if (mr < MR && !GemmBlocking.PartialTileInPlace)
        {
            if (p.DirectA)
            {
                T* src = p.TransA ? p.A + ((nint)pc * p.Lda) + ic + ir : p.A + ((nint)(ic + ir) * p.Lda) + pc;
                GemmPacking.PackA(p.TransA, mr, kc, src, p.Lda, edgeA);
                ap = edgeA;
                rs = 1;
                cs = MR;
            }

            var full = new GemmEpilogue<T> { Alpha = T.One, Beta = T.Zero, Activation = FusedActivation.Identity };
            Kernel(vectors, kc, ap, rs, cs, bp, bs, tile, w, full);
            EdgeEpilogue(tile, w, c, p.Ldc, mr, ncur, epi, biasTile);
        }
        else if (ncur == w || TS.HasMask)
        {
            // A narrow last panel (e.g. n = 10) is stored with masked loads/stores straight from the registers.
            epi.Bias = biasTile;
            epi.LastCount = ncur == w ? 0 : ncur - (w - TS.Count);
            Kernel(vectors, mr, kc, ap, rs, cs, bp, bs, c, p.Ldc, epi); // σ or tanh: applied to the whole block by RunBlock
        }
        else
        {
            var raw = new GemmEpilogue<T> { Alpha = T.One, Beta = T.Zero, Activation = FusedActivation.Identity };
            Kernel(vectors, mr, kc, ap, rs, cs, bp, bs, tile, w, raw);
            EdgeEpilogue(tile, w, c, p.Ldc, mr, ncur, epi, biasTile);
        }
    }

    // Whether a block's last partial tile may be computed as a full tile shifted up over rows already done: only when
    // recomputing those rows gives the same values (beta 0 and a single k-block) and the block has MR rows.
    private static bool ShiftedEdge(ref GemmProblem<T> p, int mc, int pc, int kc, in GemmEpilogue<T> epi) =>
        mc % GemmBlocking.MR != 0 && mc >= GemmBlocking.MR && epi.Beta == T.Zero && pc == 0 && kc == p.K;

    // Two full MR-row tiles at (ic + ir, jc + jr) when the panel is one register wide (n ≤ one vector, e.g. the
    // 10-class output layer) and C can be stored straight from the registers; false otherwise (then Tile runs).
    private static bool TilePair(
        ref GemmProblem<T> p, int ic, int ir, int jc, int jr, int nc, int pc, int kc,
        T* bp, nint bs, T* packA, ref GemmEpilogue<T> epi, T* bias)
    {
        const int MR = GemmBlocking.MR;
        int ncur = Math.Min(NR, nc - jr);
        if (ncur > TS.Count || (ncur != TS.Count && !TS.HasMask))
        {
            return false;
        }

        T* a0, a1;
        nint rs, cs;
        if (!p.DirectA)
        {
            a0 = packA + ((nint)ir * kc);
            a1 = a0 + ((nint)MR * kc);
            rs = 1;
            cs = MR;
        }
        else if (p.TransA)
        {
            a0 = p.A + ((nint)pc * p.Lda) + ic + ir;
            a1 = a0 + MR;
            rs = 1;
            cs = p.Lda;
        }
        else
        {
            a0 = p.A + ((nint)(ic + ir) * p.Lda) + pc;
            a1 = a0 + (MR * p.Lda);
            rs = p.Lda;
            cs = 1;
        }

        T* c = p.C + ((nint)(ic + ir) * p.Ldc) + jc + jr;
        epi.Bias = bias == null ? null : bias + jc + jr;
        epi.LastCount = ncur == TS.Count ? 0 : ncur;
        // σ or tanh: applied by RunBlock. rs = 1 (packed Ã, or a transposed A in place) is the kernel's constant then.
        if (rs == 1)
        {
            GemmMicroKernel.RunPair<TS, TV, T, FlagOn>(kc, a0, a1, rs, cs, bp, bs, c, p.Ldc, epi);
        }
        else
        {
            GemmMicroKernel.RunPair<TS, TV, T, FlagOff>(kc, a0, a1, rs, cs, bp, bs, c, p.Ldc, epi);
        }

        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel(int vectors, int kc, T* a, nint rs, nint cs, T* b, nint bs, T* c, nint ldc, in GemmEpilogue<T> e) =>
        Kernel(vectors, GemmBlocking.MR, kc, a, rs, cs, b, bs, c, ldc, e);

    // The first `rows` (1–MR) rows of a tile `vectors` registers wide.
    private static void Kernel(int vectors, int rows, int kc, T* a, nint rs, nint cs, T* b, nint bs, T* c, nint ldc, in GemmEpilogue<T> e)
    {
        if (rs == 1)
        {
            Kernel<FlagOn>(vectors, rows, kc, a, rs, cs, b, bs, c, ldc, e);
        }
        else
        {
            Kernel<FlagOff>(vectors, rows, kc, a, rs, cs, b, bs, c, ldc, e);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel<TR>(int vectors, int rows, int kc, T* a, nint rs, nint cs, T* b, nint bs, T* c, nint ldc, in GemmEpilogue<T> e)
        where TR : struct, IFlag
    {
        switch (vectors)
        {
            case 1:
                Kernel<Vectors1, TR>(rows, kc, a, rs, cs, b, bs, c, ldc, e);
                break;
            case 2:
                Kernel<Vectors2, TR>(rows, kc, a, rs, cs, b, bs, c, ldc, e);
                break;
            case 3:
                Kernel<Vectors3, TR>(rows, kc, a, rs, cs, b, bs, c, ldc, e);
                break;
            default:
                Kernel<Vectors4, TR>(rows, kc, a, rs, cs, b, bs, c, ldc, e);
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel<TW, TR>(int rows, int kc, T* a, nint rs, nint cs, T* b, nint bs, T* c, nint ldc, in GemmEpilogue<T> e)
        where TW : struct, IVectors
        where TR : struct, IFlag
    {
        switch (rows)
        {
            case 1:
                GemmMicroKernel.Run<TS, TV, T, TW, TR, Rows1>(kc, a, rs, cs, b, bs, c, ldc, e);
                break;
            case 2:
                GemmMicroKernel.Run<TS, TV, T, TW, TR, Rows2>(kc, a, rs, cs, b, bs, c, ldc, e);
                break;
            case 3:
                GemmMicroKernel.Run<TS, TV, T, TW, TR, Rows3>(kc, a, rs, cs, b, bs, c, ldc, e);
                break;
            case 4:
                GemmMicroKernel.Run<TS, TV, T, TW, TR, Rows4>(kc, a, rs, cs, b, bs, c, ldc, e);
                break;
            case 5:
                GemmMicroKernel.Run<TS, TV, T, TW, TR, Rows5>(kc, a, rs, cs, b, bs, c, ldc, e);
                break;
            default:
                GemmMicroKernel.Run<TS, TV, T, TW, TR, Rows6>(kc, a, rs, cs, b, bs, c, ldc, e);
                break;
        }
    }

    // Packs op(B)[pc.., jc+j0 .. jc+j1) as panels of NR (the block's last panel narrower) into dst.
    private static void PackPanels(bool transB, int kc, int j0, int j1, int jc, int nc, T* b, nint ldb, int pc, T* dst)
    {
        int nr = NR;
        for (int j = j0; j < j1; j += nr)
        {
            int ncur = Math.Min(nr, nc - j);
            int w = RoundUp(ncur, TS.Count);
            int col = jc + j;
            T* src = transB ? b + ((nint)col * ldb) + pc : b + ((nint)pc * ldb) + col;
            GemmPacking.PackB(transB, kc, ncur, w, src, ldb, dst + ((nint)(j - j0) * kc));
        }
    }

    // σ or tanh over rows × w of C (leading dimension ldc), in as few calls as possible: the rows in one call when they
    // are contiguous, else short rows gathered into a buffer a few at a time. The same element-wise kernels as the
    // Sigmoid and Tanh layers, whose results depend on each element alone, so fused and unfused agree bit for bit.
    [SkipLocalsInit]
    private static void ApplyTranscendental(FusedActivation activation, T* c, nint ldc, int rows, int w)
    {
        if (rows <= 0 || w <= 0)
        {
            return;
        }

        if (w == ldc || rows == 1)
        {
            Transcendental(activation, new Span<T>(c, checked((int)(((rows - 1) * ldc) + w))));
            return;
        }

        const int Buffer = 512;
        if (w >= Buffer / 4)
        {
            for (int i = 0; i < rows; i++)
            {
                Transcendental(activation, new Span<T>(c + (i * ldc), w));
            }

            return;
        }

        T* buffer = stackalloc T[Buffer];
        int perChunk = Buffer / w;
        for (int i0 = 0; i0 < rows; i0 += perChunk)
        {
            int count = Math.Min(perChunk, rows - i0);
            for (int i = 0; i < count; i++)
            {
                new ReadOnlySpan<T>(c + ((i0 + i) * ldc), w).CopyTo(new Span<T>(buffer + (i * w), w));
            }

            Transcendental(activation, new Span<T>(buffer, count * w));
            for (int i = 0; i < count; i++)
            {
                new ReadOnlySpan<T>(buffer + (i * w), w).CopyTo(new Span<T>(c + ((i0 + i) * ldc), w));
            }
        }
    }

    private static void Transcendental(FusedActivation activation, Span<T> values)
    {
        if (activation == FusedActivation.Sigmoid)
        {
            ElementWise.Sigmoid<T>(values, values);
        }
        else
        {
            ElementWise.Tanh<T>(values, values);
        }
    }

    // tile: (MR, w) raw sums; c: (mr, nr) part of C that exists. σ and tanh are left to the caller (z + bias stored).
    private static void EdgeEpilogue(T* tile, int w, T* c, nint ldc, int mr, int nr, in GemmEpilogue<T> e, T* bias)
    {
        bool transcendental = e.Activation is FusedActivation.Sigmoid or FusedActivation.Tanh;
        for (int i = 0; i < mr; i++)
        {
            T* ci = c + (i * ldc);
            T* ti = tile + (i * w);
            for (int j = 0; j < nr; j++)
            {
                T z = e.Alpha * ti[j];
                if (e.Beta != T.Zero)
                {
                    z = (ci[j] * e.Beta) + z;
                }

                if (bias != null)
                {
                    z += bias[j];
                }

                ci[j] = transcendental ? z : GemmReference.Activate(z, e.Activation, e.Slope);
            }
        }
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    // The row split's chunk count: `chunks` rounded up to a multiple of the participants, so each one's own share (its
    // chunks in order, see GemmWork.Run) is an equal run of tiles — or down, when rounding up would pass the chunks
    // claimed by affinity (GemmWork.AffinityChunks) and lose the share order altogether. At most one chunk per tile.
    private static int EqualChunks(int chunks, int threads, int tiles)
    {
        int up = RoundUp(chunks, threads);
        if (up > GemmWork.AffinityChunks && chunks <= GemmWork.AffinityChunks)
        {
            up = Math.Max(threads, chunks / threads * threads);
        }

        return Math.Min(tiles, up);
    }

    /// <summary>One parallel step: an NC block of B̃ and a range of KC steps over it.</summary>
    private struct Phase
    {
        public int Jc, Nc, PcBegin, PcEnd;

        /// <summary>B̃ of step pc is Base + pc·PcStride + JcOffset·kc, or Base itself when Single.</summary>
        public T* Base;
        public nint PcStride;
        public int JcOffset;
        public bool Single;

        /// <summary>Each participant packs this phase's single KC step of B̃ into its own buffer (Base is unset).</summary>
        public bool PackOwn;
    }

    private sealed class Job : GemmWork
    {
        public GemmProblem<T> Problem;
        public Phase Phase;
        public int Tiles;
        public int ChunkTiles;
        public bool Equal;

        /// <summary>Chunks are balanced ranges of the <see cref="Panels"/> column panels over all rows (few-rows problems).</summary>
        public bool Columns;
        public int Panels;

        /// <summary>Each participant packs all of B̃ into its own buffer (see <see cref="GemmBlocking.PackEachElements"/>).</summary>
        public bool PackEach;
        public long CallId;

        protected override void RunChunk(int chunk)
        {
            if (Columns)
            {
                RunColumns(ref Problem, (int)((long)chunk * Panels / Chunks), (int)((long)(chunk + 1) * Panels / Chunks));
                return;
            }

            // Equal: chunk i is row tiles [i·tiles/chunks, (i + 1)·tiles/chunks), equal to one tile. Otherwise (as
            // before EqualRowShares) ChunkTiles tiles each, the last chunk shorter.
            int begin = (Equal ? (int)((long)chunk * Tiles / Chunks) : chunk * ChunkTiles) * GemmBlocking.MR;
            int end = Math.Min(Problem.M, (Equal ? (int)((long)(chunk + 1) * Tiles / Chunks) : (chunk + 1) * ChunkTiles) * GemmBlocking.MR);
            if (PackEach)
            {
                // This participant's own B̃, packed once per call (identical to the caller's, so the bits are too).
                T* own = GemmScratch.PackB.Get<T>((nint)Problem.K * PackedWidth(Problem.N));
                if (_packedCall != CallId)
                {
                    PackWhole(ref Problem, 0, Problem.N, own);
                    _packedCall = CallId;
                }

                var phase = Phase;
                phase.Base = own;
                RunRows(ref Problem, phase, begin, end);
                return;
            }

            if (Phase.PackOwn)
            {
                // This participant's own B̃ for the phase's KC step, packed at its first chunk of the phase.
                var phase = Phase;
                nint width = PackedWidth(phase.Nc);
                T* own = GemmScratch.PackB.Get<T>((nint)Math.Min(Problem.KC, Problem.K) * width);
                if (_packedCall != CallId)
                {
                    PackPanels(Problem.TransB, phase.PcEnd - phase.PcBegin, 0, phase.Nc, phase.Jc, phase.Nc, Problem.B, Problem.Ldb, phase.PcBegin, own);
                    _packedCall = CallId;
                }

                phase.Base = own;
                RunRows(ref Problem, phase, begin, end);
                return;
            }

            RunRows(ref Problem, Phase, begin, end);
        }
    }
}
