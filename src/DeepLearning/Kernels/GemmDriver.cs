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

    /// <summary>Rows of one packed Ã block (a multiple of MR), sized to stay in L2.</summary>
    public static int MC { get; set; } = 96;

    /// <summary>Columns of one packed B̃ block (a multiple of every NR), sized for the shared L3.</summary>
    public static int NC { get; set; } = 3072;

    /// <summary>Below this many flops (2·m·n·k) one thread is faster than a hand-off.</summary>
    public static long ParallelFlops { get; set; } = 1L << 21;

    /// <summary>Ã is packed only when the block has more than this many NR panels to reuse it over.</summary>
    public static int DirectAMaxPanels { get; set; } = 4;
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
}

/// <summary>
/// The BLIS loop nest around the micro-kernel for one register width: jc (NC) → pc (KC) → pack B̃ →
/// ic (MC) → pack Ã (or read A in place) → jr (NR) → ir (MR) → micro-kernel. Participants split the rows of C
/// in whole MR tiles and share B̃ (each packs a share of its panels, then all meet at a barrier), so every C
/// element is computed by the same instructions in the same k order whatever the thread count.
/// </summary>
internal static unsafe class GemmDriver<TS, TV, T>
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

    /// <summary>Multiplies, on as many participants as is worth it.</summary>
    public static void Multiply(ref GemmProblem<T> p, int maxThreads)
    {
        int tiles = (p.M + GemmBlocking.MR - 1) / GemmBlocking.MR;
        int threads = Math.Min(maxThreads, tiles);
        if (2L * p.M * p.N * p.K < GemmBlocking.ParallelFlops)
        {
            threads = 1;
        }

        if (!p.Prepacked)
        {
            int ncMax = Math.Min(p.NC, p.N);
            p.PackedB = GemmScratch.PackB.Get<T>(Math.Min(p.KC, p.K) * PackedWidth(ncMax));
        }

        if (threads > 1)
        {
            GemmThreadPool pool = GemmThreadPool.Shared;
            if (pool.TryAcquire())
            {
                try
                {
                    Job job = _job ??= new Job();
                    job.Problem = p;
                    job.Barrier.Reset(threads);
                    pool.Run(job, threads);
                    job.Problem = default;
                }
                finally
                {
                    pool.Release();
                }

                return;
            }
        }

        Run(ref p, 0, 1, null);
    }

    private static void Run(ref GemmProblem<T> p, int index, int count, GemmBarrier? barrier)
    {
        const int MR = GemmBlocking.MR;
        int tiles = (p.M + MR - 1) / MR;
        int rowStart = (int)((long)tiles * index / count) * MR;
        int rowEnd = Math.Min((int)((long)tiles * (index + 1) / count) * MR, p.M);
        int nr = NR;
        int kcBlock = p.KC;
        int mcBlock = p.MC;
        int sense = 0;
        bool first = true;
        T* packA = p.DirectA ? null : GemmScratch.PackA.Get<T>((nint)mcBlock * kcBlock);
        T* edgeA = stackalloc T[MR * kcBlock];
        T* tile = stackalloc T[MR * 64];

        for (int jc = 0; jc < p.N; jc += p.NC)
        {
            int nc = Math.Min(p.NC, p.N - jc);
            for (int pc = 0; pc < p.K; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, p.K - pc);
                T* bt;
                if (p.Prepacked)
                {
                    bt = p.PackedB + ((nint)pc * p.PackedWidth) + ((nint)jc * kc);
                }
                else
                {
                    bt = p.PackedB;
                    if (count > 1 && !first)
                    {
                        barrier!.Wait(ref sense);
                    }

                    int panels = (nc + nr - 1) / nr;
                    int p0 = (int)((long)panels * index / count), p1 = (int)((long)panels * (index + 1) / count);
                    PackPanels(p.TransB, kc, p0 * nr, Math.Min(p1 * nr, nc), jc, nc, p.B, p.Ldb, pc, bt + ((nint)p0 * nr * kc));
                    if (count > 1)
                    {
                        barrier!.Wait(ref sense);
                    }
                }

                first = false;
                bool last = pc + kc == p.K;
                var epi = new GemmEpilogue<T>
                {
                    Alpha = p.Alpha,
                    Beta = pc == 0 ? p.Beta : T.One,
                    Activation = last ? p.Activation : FusedActivation.Identity,
                    Slope = p.Slope,
                };
                T* bias = last ? p.Bias : null;
                bool directA = p.DirectA;

                for (int ic = rowStart; ic < rowEnd; ic += mcBlock)
                {
                    int mc = Math.Min(mcBlock, rowEnd - ic);
                    if (!directA)
                    {
                        T* aBlock = p.TransA ? p.A + ((nint)pc * p.Lda) + ic : p.A + ((nint)ic * p.Lda) + pc;
                        GemmPacking.PackA(p.TransA, mc, kc, aBlock, p.Lda, packA);
                    }

                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        int ncur = Math.Min(nr, nc - jr);
                        int vectors = (ncur + TS.Count - 1) / TS.Count;
                        int w = vectors * TS.Count;
                        T* bp = bt + ((nint)jr * kc);
                        T* biasTile = bias == null ? null : bias + jc + jr;
                        for (int ir = 0; ir < mc; ir += MR)
                        {
                            int mr = Math.Min(MR, mc - ir);
                            T* ap;
                            nint rs, cs;
                            if (!directA)
                            {
                                ap = packA + ((nint)ir * kc);
                                rs = 1;
                                cs = MR;
                            }
                            else if (mr < MR)
                            {
                                T* src = p.TransA ? p.A + ((nint)pc * p.Lda) + ic + ir : p.A + ((nint)(ic + ir) * p.Lda) + pc;
                                GemmPacking.PackA(p.TransA, mr, kc, src, p.Lda, edgeA);
                                ap = edgeA;
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

                            T* c = p.C + ((nint)(ic + ir) * p.Ldc) + jc + jr;
                            if (mr == MR && ncur == w)
                            {
                                epi.Bias = biasTile;
                                Kernel(vectors, kc, ap, rs, cs, bp, c, p.Ldc, epi);
                                if (epi.Activation is FusedActivation.Sigmoid or FusedActivation.Tanh)
                                {
                                    ApplyTranscendental(epi.Activation, c, p.Ldc, MR, w);
                                }
                            }
                            else
                            {
                                var raw = new GemmEpilogue<T> { Alpha = T.One, Beta = T.Zero, Activation = FusedActivation.Identity };
                                Kernel(vectors, kc, ap, rs, cs, bp, tile, w, raw);
                                EdgeEpilogue(tile, w, c, p.Ldc, mr, ncur, epi, biasTile);
                            }
                        }
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel(int vectors, int kc, T* a, nint rs, nint cs, T* b, T* c, nint ldc, in GemmEpilogue<T> e)
    {
        switch (vectors)
        {
            case 1:
                GemmMicroKernel.Run<TS, TV, T, Vectors1>(kc, a, rs, cs, b, c, ldc, e);
                break;
            case 2:
                GemmMicroKernel.Run<TS, TV, T, Vectors2>(kc, a, rs, cs, b, c, ldc, e);
                break;
            case 3:
                GemmMicroKernel.Run<TS, TV, T, Vectors3>(kc, a, rs, cs, b, c, ldc, e);
                break;
            default:
                GemmMicroKernel.Run<TS, TV, T, Vectors4>(kc, a, rs, cs, b, c, ldc, e);
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

    // c: (rows, w) finished tile rows; applies sigmoid or tanh in place.
    private static void ApplyTranscendental(FusedActivation activation, T* c, nint ldc, int rows, int w)
    {
        for (int i = 0; i < rows; i++)
        {
            var row = new Span<T>(c + (i * ldc), w);
            if (activation == FusedActivation.Sigmoid)
            {
                TP.Sigmoid<T>(row, row);
            }
            else
            {
                TP.Tanh<T>(row, row);
            }
        }
    }

    // tile: (MR, w) raw sums; c: (mr, nr) part of C that exists.
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

            if (transcendental)
            {
                ApplyTranscendental(e.Activation, ci, ldc, 1, nr);
            }
        }
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    private sealed class Job : GemmWork
    {
        public GemmProblem<T> Problem;
        public readonly GemmBarrier Barrier = new();

        public override void Run(int index, int count) => GemmDriver<TS, TV, T>.Run(ref Problem, index, count, Barrier);
    }
}
