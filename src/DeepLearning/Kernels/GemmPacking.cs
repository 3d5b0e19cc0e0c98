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
            if (Avx512F.IsSupported && (typeof(T) == typeof(float) || typeof(T) == typeof(double)) && w % (64 / sizeof(T)) == 0)
            {
                PackBRows512(kc, nr, w, b, ldb, dst);
                return;
            }

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

        int j0 = 0;
        if (Avx2.IsSupported && nr >= 32 / sizeof(T))
        {
            // Whole groups of 8 (float) or 4 (double) columns in registers; the rest (e.g. n = 10) below.
            j0 = nr - (nr % (32 / sizeof(T)));
            PackBTransposedAvx(kc, j0, w, b, ldb, dst);
        }

        if (typeof(T) == typeof(float) && Avx2.IsSupported && j0 < nr && j0 + 8 <= w)
        {
            // The last 1–7 columns (n = 10 leaves 2) as one more 8-column group whose missing rows are zeros: the same
            // in-register transposes, and the group's padding columns come out zero with it.
            PackBTransposedRaggedFloat(kc, nr - j0, (float*)b + (j0 * ldb), ldb, (float*)dst + j0, w);
            j0 += 8;
            if (j0 < w)
            {
                for (int p = 0; p < kc; p++)
                {
                    new Span<T>(dst + ((nint)p * w) + j0, w - j0).Clear();
                }
            }

            return;
        }

        // Transposed: column j of the panel is row j of the stored matrix, contiguous over p. The remaining columns and
        // the zero padding are written row by row of the panel, so each row's tail is one cache line, not w of them.
        if (j0 < w)
        {
            for (int p = 0; p < kc; p++)
            {
                T* d = dst + ((nint)p * w);
                for (int j = j0; j < nr; j++)
                {
                    d[j] = b[(j * ldb) + p];
                }

                for (int j = nr; j < w; j++)
                {
                    d[j] = default;
                }
            }
        }
    }

    // b: (kc, nr) rows of op(B), row p at b + p·ldb; dst: (kc, w), w a multiple of a 64-byte register. Each panel row
    // is whole registers: the last partial one read with a mask (nothing past column nr is read), then zero registers.
    private static void PackBRows512<T>(int kc, int nr, int w, T* b, nint ldb, T* dst)
        where T : unmanaged
    {
        int lanes = Vector512<T>.Count;
        int full = nr - (nr % lanes);
        for (int p = 0; p < kc; p++)
        {
            T* s = b + (p * ldb);
            T* d = dst + ((nint)p * w);
            int j = 0;
            for (; j < full; j += lanes)
            {
                Vector512.Store(Vector512.Load(s + j), d + j);
            }

            if (j < nr)
            {
                // The micro-kernel's own masked load: lanes past nr read nothing and come back zero.
                Vector512.Store(Simd512<T>.LoadFirst(s + j, nr - j), d + j);
                j += lanes;
            }

            for (; j < w; j += lanes)
            {
                Vector512.Store(Vector512<T>.Zero, d + j);
            }
        }
    }

    // b: cols rows of the stored matrix (each contiguous over p, cols a multiple of 8 for float, 4 for double);
    // dst: (kc, w), columns [0, cols) written. In-register 8×8 (float) or 4×4 (double) transposes; the k
    // remainder is copied element by element.
    private static void PackBTransposedAvx<T>(int kc, int cols, int w, T* b, nint ldb, T* dst)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            float* s = (float*)b;
            float* d = (float*)dst;
            int kc8 = kc & ~7;
            for (int j = 0; j < cols; j += 8)
            {
                float* sj = s + (j * ldb);

                // Two groups of 8 columns at a time where there are 16: each (p, j..j+15) row of the panel is then one
                // whole 64-byte line written at once, instead of two halves written a whole k loop apart.
                bool pair = j + 16 <= cols;
                for (int p = 0; p < kc8; p += 8)
                {
                    float* dp = d + ((nint)p * w) + j;
                    Transpose8x8(sj + p, ldb, dp, w);
                    if (pair)
                    {
                        Transpose8x8(sj + (8 * ldb) + p, ldb, dp + 8, w);
                    }
                }

                if (pair)
                {
                    for (int p = kc8; p < kc; p++)
                    {
                        for (int jj = 8; jj < 16; jj++)
                        {
                            d[((nint)p * w) + j + jj] = sj[(jj * ldb) + p];
                        }
                    }
                }

                for (int p = kc8; p < kc; p++)
                {
                    for (int jj = 0; jj < 8; jj++)
                    {
                        d[((nint)p * w) + j + jj] = sj[(jj * ldb) + p];
                    }
                }

                if (pair)
                {
                    j += 8;
                }
            }
        }
        else if (typeof(T) == typeof(double))
        {
            double* s = (double*)b;
            double* d = (double*)dst;
            int kc4 = kc & ~3;
            for (int j = 0; j < cols; j += 4)
            {
                double* sj = s + (j * ldb);
                for (int p = 0; p < kc4; p += 4)
                {
                    double* sp = sj + p;
                    Vector256<double> r0 = Avx.LoadVector256(sp), r1 = Avx.LoadVector256(sp + ldb);
                    Vector256<double> r2 = Avx.LoadVector256(sp + (2 * ldb)), r3 = Avx.LoadVector256(sp + (3 * ldb));
                    Vector256<double> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
                    Vector256<double> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
                    double* dp = d + ((nint)p * w) + j;
                    Avx.Store(dp, Avx.Permute2x128(t0, t2, 0x20));
                    Avx.Store(dp + w, Avx.Permute2x128(t1, t3, 0x20));
                    Avx.Store(dp + (2 * w), Avx.Permute2x128(t0, t2, 0x31));
                    Avx.Store(dp + (3 * w), Avx.Permute2x128(t1, t3, 0x31));
                }

                for (int p = kc4; p < kc; p++)
                {
                    for (int jj = 0; jj < 4; jj++)
                    {
                        d[((nint)p * w) + j + jj] = sj[(jj * ldb) + p];
                    }
                }
            }
        }
    }

    // s: rows (1–7) stored rows, each contiguous over p; dst: (kc, w) panel, columns [0, 8) written — column j < rows
    // is row j, the others zero.
    private static void PackBTransposedRaggedFloat(int kc, int rows, float* s, nint ldb, float* d, int w)
    {
        int kc8 = kc & ~7;
        for (int p = 0; p < kc8; p += 8)
        {
            Transpose8x8(s + p, ldb, d + ((nint)p * w), w, rows);
        }

        for (int p = kc8; p < kc; p++)
        {
            float* dp = d + ((nint)p * w);
            for (int j = 0; j < 8; j++)
            {
                dp[j] = j < rows ? s[(j * ldb) + p] : 0f;
            }
        }
    }

    // Rows sp, sp + ldb, …, sp + 7·ldb (8 floats each) → columns of the 8×8 block at dp (row stride w). Rows from
    // `rows` on are not read and give zero columns.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* sp, nint ldb, float* dp, int w, int rows = 8)
    {
        Vector256<float> r0 = Avx.LoadVector256(sp);
        Vector256<float> r1 = rows > 1 ? Avx.LoadVector256(sp + ldb) : default;
        Vector256<float> r2 = rows > 2 ? Avx.LoadVector256(sp + (2 * ldb)) : default;
        Vector256<float> r3 = rows > 3 ? Avx.LoadVector256(sp + (3 * ldb)) : default;
        Vector256<float> r4 = rows > 4 ? Avx.LoadVector256(sp + (4 * ldb)) : default;
        Vector256<float> r5 = rows > 5 ? Avx.LoadVector256(sp + (5 * ldb)) : default;
        Vector256<float> r6 = rows > 6 ? Avx.LoadVector256(sp + (6 * ldb)) : default;
        Vector256<float> r7 = rows > 7 ? Avx.LoadVector256(sp + (7 * ldb)) : default;
        Transpose8x8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
        Avx.Store(dp, r0);
        Avx.Store(dp + w, r1);
        Avx.Store(dp + (2 * w), r2);
        Avx.Store(dp + (3 * w), r3);
        Avx.Store(dp + (4 * w), r4);
        Avx.Store(dp + (5 * w), r5);
        Avx.Store(dp + (6 * w), r6);
        Avx.Store(dp + (7 * w), r7);
    }

    /// <summary>
    /// Transposes the 8×8 block held in eight registers, row i in r_i on entry and column i in r_i on return
    /// (unpack, shuffle, then a 128-bit lane permute).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8x8(
        ref Vector256<float> r0, ref Vector256<float> r1, ref Vector256<float> r2, ref Vector256<float> r3,
        ref Vector256<float> r4, ref Vector256<float> r5, ref Vector256<float> r6, ref Vector256<float> r7)
    {
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> s4 = Avx.Shuffle(t4, t6, 0x44), s5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> s6 = Avx.Shuffle(t5, t7, 0x44), s7 = Avx.Shuffle(t5, t7, 0xEE);
        r0 = Avx.Permute2x128(s0, s4, 0x20);
        r1 = Avx.Permute2x128(s1, s5, 0x20);
        r2 = Avx.Permute2x128(s2, s6, 0x20);
        r3 = Avx.Permute2x128(s3, s7, 0x20);
        r4 = Avx.Permute2x128(s0, s4, 0x31);
        r5 = Avx.Permute2x128(s1, s5, 0x31);
        r6 = Avx.Permute2x128(s2, s6, 0x31);
        r7 = Avx.Permute2x128(s3, s7, 0x31);
    }

    /// <summary>
    /// Ã: op(A)[i, p] for i &lt; mc, p &lt; kc, in row tiles of MR; tile t holds (p, i) at t·MR·kc + p·MR + i,
    /// rows beyond mc zeroed. op(A) row i, column p is at a[i·lda + p] (None) or a[p·lda + i] (Transposed).
    /// May write up to <see cref="PackASlack"/> elements past the last tile (dst must have room for them).
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
                int p0 = 0;
                if (mr == MR && typeof(T) == typeof(float) && Avx.IsSupported)
                {
                    p0 = PackA6FloatAvx(kc, (float*)(a + (i0 * lda)), lda, (float*)d);
                }

                if (mr == MR)
                {
                    // p outer: the tile is written contiguously, the six rows are read as six streams.
                    T* s0 = a + (i0 * lda);
                    T* s1 = s0 + lda, s2 = s1 + lda, s3 = s2 + lda, s4 = s3 + lda, s5 = s4 + lda;
                    for (int p = p0; p < kc; p++)
                    {
                        T* dp = d + (p * MR);
                        dp[0] = s0[p];
                        dp[1] = s1[p];
                        dp[2] = s2[p];
                        dp[3] = s3[p];
                        dp[4] = s4[p];
                        dp[5] = s5[p];
                    }
                }
                else
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
            }
            else if (mr == MR)
            {
                for (int p = 0; p < kc; p++)
                {
                    Unsafe.CopyBlockUnaligned(d + (p * MR), a + (p * lda) + i0, (uint)(MR * sizeof(T)));
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

    /// <summary>Elements <see cref="PackA{T}"/> may write past its last tile.</summary>
    public const int PackASlack = 8;

    // s: six rows of A (each contiguous over p, leading dimension lda); d: one Ã tile (kc, 6). Packs the first
    // kc - kc % 8 columns with in-register 8×8 transposes (rows 6 and 7 zero); each column is stored as 8 lanes at
    // d + p·6, so its two zero lanes land on the next column's first two slots and are overwritten by it (the last
    // column's spill up to 2 elements past the packed part). Returns the number of columns packed.
    private static int PackA6FloatAvx(int kc, float* s, nint lda, float* d)
    {
        int kc8 = kc & ~7;
        for (int p = 0; p < kc8; p += 8)
        {
            // Six rows and two zero rows through the shared 8×8 transpose; column i (the six values of k step p + i
            // and two zeros) is stored at d + (p + i)·6, each store overwriting the previous one's two zeros.
            float* sp = s + p;
            Vector256<float> r0 = Avx.LoadVector256(sp), r1 = Avx.LoadVector256(sp + lda);
            Vector256<float> r2 = Avx.LoadVector256(sp + (2 * lda)), r3 = Avx.LoadVector256(sp + (3 * lda));
            Vector256<float> r4 = Avx.LoadVector256(sp + (4 * lda)), r5 = Avx.LoadVector256(sp + (5 * lda));
            Vector256<float> r6 = Vector256<float>.Zero, r7 = Vector256<float>.Zero;
            Transpose8x8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
            float* dp = d + (p * 6);
            Avx.Store(dp, r0);
            Avx.Store(dp + 6, r1);
            Avx.Store(dp + 12, r2);
            Avx.Store(dp + 18, r3);
            Avx.Store(dp + 24, r4);
            Avx.Store(dp + 30, r5);
            Avx.Store(dp + 36, r6);
            Avx.Store(dp + 42, r7);
        }

        return kc8;
    }
}
