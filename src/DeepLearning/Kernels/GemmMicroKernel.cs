using System.Numerics;
using System.Runtime.CompilerServices;

namespace DeepLearning.Kernels;

/// <summary>What the micro-kernel does to its tile before storing it: out = act(alpha·acc + beta·C + bias).</summary>
internal unsafe struct GemmEpilogue<T>
    where T : unmanaged
{
    public T Alpha;

    /// <summary>0 means C is write-only (never loaded).</summary>
    public T Beta;

    /// <summary>Bias of the tile's first column, or null.</summary>
    public T* Bias;

    /// <summary>Identity, ReLU or LeakyReLU are applied in registers; Sigmoid/Tanh are left to the caller.</summary>
    public FusedActivation Activation;

    public T Slope;

    /// <summary>Lanes of the tile's last register that exist in C (the rest are masked off), or 0 for all of them.</summary>
    public int LastCount;

    /// <summary>
    /// Beta ≠ 0 and C is too large to still be in this core's cache from the previous k-block: the kernel asks for
    /// the tile's lines a few dozen k steps before its epilogue loads them.
    /// </summary>
    public bool PrefetchC;
}

/// <summary>
/// The register-tile micro-kernel: C[0..mr, 0..w] = epilogue(Σₚ op(A)[i, p]·B̃[p, j]) with w = TW.Value·TS.Count and
/// mr = TM.Value rows (MR for a full tile, fewer for a block's last partial one).
/// It knows nothing about matrix sizes, packing or threads.
/// </summary>
/// <remarks>
/// A is read at a[i·rs + p·cs] (packed Ã: rs = 1, cs = MR; row-major A: rs = lda, cs = 1; transposed A:
/// rs = 1, cs = lda), so the same kernel runs on packed and unpacked A. B̃ is a packed panel, row p at b + p·w.
/// The mr×w accumulators stay in registers for the whole k loop; C is loaded only when beta ≠ 0.
/// </remarks>
internal static unsafe class GemmMicroKernel
{
    /// <summary>Rows of C per register tile.</summary>
    public const int MR = 6;

    // a: op(A) rows (MR, kc) at a[i·rs + p·cs]; b: B̃ (kc, w); c: (MR, w) with leading dimension ldc.
    // TR: whether rs is 1 (packed Ã, or a transposed A read in place) — then the six rows are constant offsets from a.
    // Otherwise rows 0–2 and 3–5 are read from two pointers at 0, rs and 2·rs, so the loop needs four address
    // registers instead of six strides: with 16 registers (AVX2) the strides no longer spill to the stack.
    // TM: how many rows (MR for a full tile; fewer for a block's last partial tile, whose rows ≥ TM of a are not read
    // and of c not written, so it is computed in place, each sum in the same order as in a full tile).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TS, TV, T, TW, TR, TM>(int kc, T* a, nint rs, nint cs, T* b, nint bs, T* c, nint ldc, in GemmEpilogue<T> e)
        where TS : struct, ISimd<TV, T>
        where TV : struct
        where T : unmanaged, IFloatingPointIeee754<T>
        where TW : struct, IVectors
        where TR : struct, IFlag
        where TM : struct, IRows
    {
        int mr = TM.Value;
        int nv = TW.Value;
        nint n = TS.Count;
        nint w = nv * n;
        if (TR.Value)
        {
            rs = 1;
        }

        TV c00 = TS.Zero, c01 = TS.Zero, c02 = TS.Zero, c03 = TS.Zero;
        TV c10 = TS.Zero, c11 = TS.Zero, c12 = TS.Zero, c13 = TS.Zero;
        TV c20 = TS.Zero, c21 = TS.Zero, c22 = TS.Zero, c23 = TS.Zero;
        TV c30 = TS.Zero, c31 = TS.Zero, c32 = TS.Zero, c33 = TS.Zero;
        TV c40 = TS.Zero, c41 = TS.Zero, c42 = TS.Zero, c43 = TS.Zero;
        TV c50 = TS.Zero, c51 = TS.Zero, c52 = TS.Zero, c53 = TS.Zero;
        T* a3 = a + (3 * rs);

        // The epilogue loads C when beta ≠ 0: when C has left the cache, ask for its lines 48 k steps before the end
        // (2048³ on AMD EPYC Zen 5: 166–174 → 185–194 GFLOP/s; earlier, at the start, they were evicted again). The
        // k loop runs in two stretches around that point, so the loop itself tests nothing but its end.
        int end = e.PrefetchC ? Math.Max(0, kc - 48) : kc;
        int p = 0;
        while (true)
        {
            for (; p < end; p++)
            {
                TV b0 = TS.Load(b);
                TV b1 = nv > 1 ? TS.Load(b + n) : default;
                TV b2 = nv > 2 ? TS.Load(b + (2 * n)) : default;
                TV b3 = nv > 3 ? TS.Load(b + (3 * n)) : default;

                TV x = TS.Broadcast(a[0]);
                c00 = TS.MulAdd(x, b0, c00);
                if (nv > 1) { c01 = TS.MulAdd(x, b1, c01); }
                if (nv > 2) { c02 = TS.MulAdd(x, b2, c02); }
                if (nv > 3) { c03 = TS.MulAdd(x, b3, c03); }

                if (mr > 1)
                {
                    x = TS.Broadcast(a[rs]);
                    c10 = TS.MulAdd(x, b0, c10);
                    if (nv > 1) { c11 = TS.MulAdd(x, b1, c11); }
                    if (nv > 2) { c12 = TS.MulAdd(x, b2, c12); }
                    if (nv > 3) { c13 = TS.MulAdd(x, b3, c13); }
                }

                if (mr > 2)
                {
                    x = TS.Broadcast(a[2 * rs]);
                    c20 = TS.MulAdd(x, b0, c20);
                    if (nv > 1) { c21 = TS.MulAdd(x, b1, c21); }
                    if (nv > 2) { c22 = TS.MulAdd(x, b2, c22); }
                    if (nv > 3) { c23 = TS.MulAdd(x, b3, c23); }
                }

                if (mr > 3)
                {
                    x = TS.Broadcast(a3[0]);
                    c30 = TS.MulAdd(x, b0, c30);
                    if (nv > 1) { c31 = TS.MulAdd(x, b1, c31); }
                    if (nv > 2) { c32 = TS.MulAdd(x, b2, c32); }
                    if (nv > 3) { c33 = TS.MulAdd(x, b3, c33); }
                }

                if (mr > 4)
                {
                    x = TS.Broadcast(a3[rs]);
                    c40 = TS.MulAdd(x, b0, c40);
                    if (nv > 1) { c41 = TS.MulAdd(x, b1, c41); }
                    if (nv > 2) { c42 = TS.MulAdd(x, b2, c42); }
                    if (nv > 3) { c43 = TS.MulAdd(x, b3, c43); }
                }

                if (mr > 5)
                {
                    x = TS.Broadcast(a3[2 * rs]);
                    c50 = TS.MulAdd(x, b0, c50);
                    if (nv > 1) { c51 = TS.MulAdd(x, b1, c51); }
                    if (nv > 2) { c52 = TS.MulAdd(x, b2, c52); }
                    if (nv > 3) { c53 = TS.MulAdd(x, b3, c53); }
                }

                a += cs;
                a3 += cs;
                b += bs;
            }

            if (end == kc)
            {
                break;
            }

            PrefetchTile(c, ldc, w * sizeof(T), mr);
            end = kc;
        }

        T* bias = e.Bias;
        StoreRow<TS, TV, T, TW>(c, e, bias, c00, c01, c02, c03);
        if (mr > 1) { StoreRow<TS, TV, T, TW>(c + ldc, e, bias, c10, c11, c12, c13); }
        if (mr > 2) { StoreRow<TS, TV, T, TW>(c + (2 * ldc), e, bias, c20, c21, c22, c23); }
        if (mr > 3) { StoreRow<TS, TV, T, TW>(c + (3 * ldc), e, bias, c30, c31, c32, c33); }
        if (mr > 4) { StoreRow<TS, TV, T, TW>(c + (4 * ldc), e, bias, c40, c41, c42, c43); }
        if (mr > 5) { StoreRow<TS, TV, T, TW>(c + (5 * ldc), e, bias, c50, c51, c52, c53); }
    }

    /// <summary>
    /// Two MR-row tiles one register wide (a narrow panel such as n = 10) in one k loop: rows 0–5 from
    /// <paramref name="a0"/>, rows 6–11 from <paramref name="a1"/> (same strides), stored at c and c + 6·ldc. One
    /// register per row leaves six accumulators per tile — fewer than the FMA latency needs, and one broadcast per FMA —
    /// so pairing the tiles doubles the independent sums per B load. Each sum runs over p in the same order as in
    /// <see cref="Run{TS, TV, T, TW, TR, TM}"/>, so the result is bit-identical to two separate tiles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunPair<TS, TV, T, TR>(int kc, T* a0, T* a1, nint rs, nint cs, T* b, nint bs, T* c, nint ldc, in GemmEpilogue<T> e)
        where TS : struct, ISimd<TV, T>
        where TV : struct
        where T : unmanaged, IFloatingPointIeee754<T>
        where TR : struct, IFlag
    {
        if (TR.Value)
        {
            rs = 1;
        }

        // As in Run: rows 3–5 of each tile from a second pointer, so no row needs a stride register of its own.
        T* a03 = a0 + (3 * rs), a13 = a1 + (3 * rs);
        TV c0 = TS.Zero, c1 = TS.Zero, c2 = TS.Zero, c3 = TS.Zero, c4 = TS.Zero, c5 = TS.Zero;
        TV d0 = TS.Zero, d1 = TS.Zero, d2 = TS.Zero, d3 = TS.Zero, d4 = TS.Zero, d5 = TS.Zero;
        for (int p = 0; p < kc; p++)
        {
            TV bv = TS.Load(b);
            c0 = TS.MulAdd(TS.Broadcast(a0[0]), bv, c0);
            d0 = TS.MulAdd(TS.Broadcast(a1[0]), bv, d0);
            c1 = TS.MulAdd(TS.Broadcast(a0[rs]), bv, c1);
            d1 = TS.MulAdd(TS.Broadcast(a1[rs]), bv, d1);
            c2 = TS.MulAdd(TS.Broadcast(a0[2 * rs]), bv, c2);
            d2 = TS.MulAdd(TS.Broadcast(a1[2 * rs]), bv, d2);
            c3 = TS.MulAdd(TS.Broadcast(a03[0]), bv, c3);
            d3 = TS.MulAdd(TS.Broadcast(a13[0]), bv, d3);
            c4 = TS.MulAdd(TS.Broadcast(a03[rs]), bv, c4);
            d4 = TS.MulAdd(TS.Broadcast(a13[rs]), bv, d4);
            c5 = TS.MulAdd(TS.Broadcast(a03[2 * rs]), bv, c5);
            d5 = TS.MulAdd(TS.Broadcast(a13[2 * rs]), bv, d5);
            a0 += cs;
            a1 += cs;
            a03 += cs;
            a13 += cs;
            b += bs;
        }

        T* bias = e.Bias;
        TV z = TS.Zero;
        StoreRow<TS, TV, T, Vectors1>(c, e, bias, c0, z, z, z);
        StoreRow<TS, TV, T, Vectors1>(c + ldc, e, bias, c1, z, z, z);
        StoreRow<TS, TV, T, Vectors1>(c + (2 * ldc), e, bias, c2, z, z, z);
        StoreRow<TS, TV, T, Vectors1>(c + (3 * ldc), e, bias, c3, z, z, z);
        StoreRow<TS, TV, T, Vectors1>(c + (4 * ldc), e, bias, c4, z, z, z);
        StoreRow<TS, TV, T, Vectors1>(c + (5 * ldc), e, bias, c5, z, z, z);
        StoreRow<TS, TV, T, Vectors1>(c + (6 * ldc), e, bias, d0, z, z, z);
        StoreRow<TS, TV, T, Vectors1>(c + (7 * ldc), e, bias, d1, z, z, z);
        StoreRow<TS, TV, T, Vectors1>(c + (8 * ldc), e, bias, d2, z, z, z);
        StoreRow<TS, TV, T, Vectors1>(c + (9 * ldc), e, bias, d3, z, z, z);
        StoreRow<TS, TV, T, Vectors1>(c + (10 * ldc), e, bias, d4, z, z, z);
        StoreRow<TS, TV, T, Vectors1>(c + (11 * ldc), e, bias, d5, z, z, z);
    }

    // c: (rows, bytes/sizeof(T)) tile with leading dimension ldc. Asks for the tile's cache lines, so the epilogue's loads
    // of C (beta ≠ 0: the later k-blocks of a deep product) do not stall on a C that has left the cache since the
    // previous k-block (a 2048² C lives in L3 or memory).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchTile<T>(T* c, nint ldc, nint bytes, int rows)
        where T : unmanaged
    {
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported)
        {
            return;
        }

        for (int i = 0; i < rows; i++)
        {
            byte* row = (byte*)(c + (i * ldc));
            for (nint o = 0; o < bytes; o += 64)
            {
                System.Runtime.Intrinsics.X86.Sse.Prefetch0(row + o);
            }

            System.Runtime.Intrinsics.X86.Sse.Prefetch0(row + bytes - 1);
        }
    }

    // c: one row of the tile (w); out = act(alpha·v + beta·c + bias).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void StoreRow<TS, TV, T, TW>(T* c, in GemmEpilogue<T> e, T* bias, TV v0, TV v1, TV v2, TV v3)
        where TS : struct, ISimd<TV, T>
        where TV : struct
        where T : unmanaged, IFloatingPointIeee754<T>
        where TW : struct, IVectors
    {
        int nv = TW.Value;
        nint n = TS.Count;
        int last = e.LastCount;
        TV alpha = TS.Broadcast(e.Alpha);
        v0 = TS.Mul(v0, alpha);
        if (nv > 1) { v1 = TS.Mul(v1, alpha); }
        if (nv > 2) { v2 = TS.Mul(v2, alpha); }
        if (nv > 3) { v3 = TS.Mul(v3, alpha); }

        if (e.Beta != T.Zero)
        {
            TV beta = TS.Broadcast(e.Beta);
            v0 = TS.MulAdd(Load<TS, TV, T>(c, nv == 1, last), beta, v0);
            if (nv > 1) { v1 = TS.MulAdd(Load<TS, TV, T>(c + n, nv == 2, last), beta, v1); }
            if (nv > 2) { v2 = TS.MulAdd(Load<TS, TV, T>(c + (2 * n), nv == 3, last), beta, v2); }
            if (nv > 3) { v3 = TS.MulAdd(Load<TS, TV, T>(c + (3 * n), nv == 4, last), beta, v3); }
        }

        if (bias != null)
        {
            v0 = TS.Add(v0, Load<TS, TV, T>(bias, nv == 1, last));
            if (nv > 1) { v1 = TS.Add(v1, Load<TS, TV, T>(bias + n, nv == 2, last)); }
            if (nv > 2) { v2 = TS.Add(v2, Load<TS, TV, T>(bias + (2 * n), nv == 3, last)); }
            if (nv > 3) { v3 = TS.Add(v3, Load<TS, TV, T>(bias + (3 * n), nv == 4, last)); }
        }

        if (e.Activation == FusedActivation.ReLU)
        {
            v0 = TS.ReLU(v0);
            if (nv > 1) { v1 = TS.ReLU(v1); }
            if (nv > 2) { v2 = TS.ReLU(v2); }
            if (nv > 3) { v3 = TS.ReLU(v3); }
        }
        else if (e.Activation == FusedActivation.LeakyReLU)
        {
            TV slope = TS.Broadcast(e.Slope);
            v0 = TS.LeakyReLU(v0, slope);
            if (nv > 1) { v1 = TS.LeakyReLU(v1, slope); }
            if (nv > 2) { v2 = TS.LeakyReLU(v2, slope); }
            if (nv > 3) { v3 = TS.LeakyReLU(v3, slope); }
        }

        Store<TS, TV, T>(c, v0, nv == 1, last);
        if (nv > 1) { Store<TS, TV, T>(c + n, v1, nv == 2, last); }
        if (nv > 2) { Store<TS, TV, T>(c + (2 * n), v2, nv == 3, last); }
        if (nv > 3) { Store<TS, TV, T>(c + (3 * n), v3, nv == 4, last); }
    }

    // The tile's last register (isLast) with last ≠ 0 lanes is accessed masked; every other one whole.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Load<TS, TV, T>(T* p, bool isLast, int last)
        where TS : struct, ISimd<TV, T>
        where TV : struct
        where T : unmanaged => isLast && last != 0 ? TS.LoadFirst(p, last) : TS.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<TS, TV, T>(T* p, TV v, bool isLast, int last)
        where TS : struct, ISimd<TV, T>
        where TV : struct
        where T : unmanaged
    {
        if (isLast && last != 0)
        {
            TS.StoreFirst(p, v, last);
        }
        else
        {
            TS.Store(p, v);
        }
    }
}
