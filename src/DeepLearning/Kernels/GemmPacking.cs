using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DeepLearning.Kernels;

/// <summary>
/// Packing routines: they absorb op(A)/op(B) and zero-pad edges so the micro-kernel always reads
/// contiguous, full-width panels.
/// </summary>
internal static unsafe class GemmPacking
{
    /// <summary>
    /// B̃ panel: op(B)[p, j] for p &lt; kc, j &lt; nr, stored row by row with width w ≥ nr (columns nr..w zeroed).
    /// op(B) row p, column j is at b[p·ldb + j] (transB = None) or b[j·ldb + p] (Transposed); b points at (pc, j0).
    /// </summary>
    // b: op(B) block (kc, nr); dst: (kc, w)
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackB<T>(bool transB, int kc, int nr, int w, T* b, nint ldb, T* dst)
        where T : unmanaged
    {
        if (!transB)
        {
            nint bytes = nr * sizeof(T);
            for (int p = 0; p < kc; p++)
            {
                T* d = dst + ((nint)p * w);
                Unsafe.CopyBlockUnaligned(d, b + (p * ldb), (uint)bytes);
                for (int j = nr; j < w; j++)
                {
                    d[j] = default;
                }
            }

            return;
        }

        if (Avx2.IsSupported && nr == w && w % (32 / sizeof(T)) == 0 && (long)ldb * 8 <= int.MaxValue)
        {
            PackBTransposedGather(kc, w, b, ldb, dst);
            return;
        }

        // Transposed: column j of the panel is row j of the stored matrix, contiguous over p.
        for (int j = 0; j < nr; j++)
        {
            T* s = b + (j * ldb);
            T* d = dst + j;
            for (int p = 0; p < kc; p++)
            {
                d[(nint)p * w] = s[p];
            }
        }

        for (int j = nr; j < w; j++)
        {
            for (int p = 0; p < kc; p++)
            {
                dst[((nint)p * w) + j] = default;
            }
        }
    }

    // AVX2 gathers: one packed row of w values is w/lanes gathers with row stride ldb.
    private static void PackBTransposedGather<T>(int kc, int w, T* b, nint ldb, T* dst)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            Vector256<int> idx = Vector256.CreateSequence(0, (int)ldb);
            float* s = (float*)b;
            float* d = (float*)dst;
            nint step = 8 * ldb;
            for (int p = 0; p < kc; p++)
            {
                float* sp = s + p;
                for (int j = 0; j < w; j += 8)
                {
                    Avx2.GatherVector256(sp + ((j / 8) * step), idx, 4).Store(d + j);
                }

                d += w;
            }
        }
        else if (typeof(T) == typeof(double))
        {
            Vector128<int> idx = Vector128.CreateSequence(0, (int)ldb);
            double* s = (double*)b;
            double* d = (double*)dst;
            nint step = 4 * ldb;
            for (int p = 0; p < kc; p++)
            {
                double* sp = s + p;
                for (int j = 0; j < w; j += 4)
                {
                    Avx2.GatherVector256(sp + ((j / 4) * step), idx, 8).Store(d + j);
                }

                d += w;
            }
        }
    }

    /// <summary>
    /// Ã: op(A)[i, p] for i &lt; mc, p &lt; kc, in row tiles of MR; tile t holds (p, i) at t·MR·kc + p·MR + i,
    /// rows beyond mc zeroed. op(A) row i, column p is at a[i·lda + p] (None) or a[p·lda + i] (Transposed).
    /// </summary>
    // a: op(A) block (mc, kc); dst: ceil(mc/MR) tiles of (kc, MR)
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackA<T>(bool transA, int mc, int kc, T* a, nint lda, T* dst)
        where T : unmanaged
    {
        const int MR = GemmMicroKernel.MR;
        for (int i0 = 0; i0 < mc; i0 += MR)
        {
            int mr = Math.Min(MR, mc - i0);
            T* d = dst + ((nint)i0 * kc);
            if (!transA)
            {
                for (int i = 0; i < mr; i++)
                {
                    T* s = a + ((i0 + i) * lda);
                    for (int p = 0; p < kc; p++)
                    {
                        d[(p * MR) + i] = s[p];
                    }
                }
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    T* s = a + (p * lda) + i0;
                    for (int i = 0; i < mr; i++)
                    {
                        d[(p * MR) + i] = s[i];
                    }
                }
            }

            for (int i = mr; i < MR; i++)
            {
                for (int p = 0; p < kc; p++)
                {
                    d[(p * MR) + i] = default;
                }
            }
        }
    }
}
