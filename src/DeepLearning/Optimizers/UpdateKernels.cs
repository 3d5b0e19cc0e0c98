using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using DeepLearning.Kernels;

namespace DeepLearning;

/// <summary>An optimizer rule with one state tensor: (W, V) ← op(W, dW, V), element by element.</summary>
/// <typeparam name="T">The element type.</typeparam>
internal interface IOneStateOp<T>
    where T : unmanaged
{
    void Invoke(ref T w, T g, ref T v);

    void Invoke(ref Vector128<T> w, Vector128<T> g, ref Vector128<T> v);

    void Invoke(ref Vector256<T> w, Vector256<T> g, ref Vector256<T> v);

    void Invoke(ref Vector512<T> w, Vector512<T> g, ref Vector512<T> v);
}

/// <summary>An optimizer rule with two state tensors: (W, V, S) ← op(W, dW, V, S), element by element.</summary>
/// <typeparam name="T">The element type.</typeparam>
internal interface ITwoStateOp<T>
    where T : unmanaged
{
    void Invoke(ref T w, T g, ref T v, ref T s);

    void Invoke(ref Vector128<T> w, Vector128<T> g, ref Vector128<T> v, ref Vector128<T> s);

    void Invoke(ref Vector256<T> w, Vector256<T> g, ref Vector256<T> v, ref Vector256<T> s);

    void Invoke(ref Vector512<T> w, Vector512<T> g, ref Vector512<T> v, ref Vector512<T> s);
}

/// <summary>
/// Single-pass drivers for the optimizer rules: each element of W, dW and the state is loaded once
/// and stored once, using the widest accelerated vector and the operator's scalar form for the tail.
/// </summary>
internal static class UpdateKernels
{
    // w, g, v: (n). Long parameters are split over the GEMM pool's participants (bit-identical: see ParallelRange).
    public static unsafe void OneState<T, TOp>(Span<T> w, ReadOnlySpan<T> g, Span<T> v, TOp op)
        where T : unmanaged
        where TOp : struct, IOneStateOp<T>
    {
        Same(w.Length, g.Length, "g");
        Same(w.Length, v.Length, "v");
        if (w.Length < 2 * ParallelRange.DefaultMinimum)
        {
            OneState(ref MemoryMarshal.GetReference(w), ref MemoryMarshal.GetReference(g), ref MemoryMarshal.GetReference(v), w.Length, op);
            return;
        }

        fixed (T* pw = w)
        fixed (T* pg = g)
        fixed (T* pv = v)
        {
            ParallelRange.For(w.Length, new OneStateBody<T, TOp>(pw, pg, pv, op));
        }
    }

    // w, g, v, s: (n). Long parameters are split over the GEMM pool's participants (bit-identical: see ParallelRange).
    public static unsafe void TwoState<T, TOp>(Span<T> w, ReadOnlySpan<T> g, Span<T> v, Span<T> s, TOp op)
        where T : unmanaged
        where TOp : struct, ITwoStateOp<T>
    {
        Same(w.Length, g.Length, "g");
        Same(w.Length, v.Length, "v");
        Same(w.Length, s.Length, "s");
        if (w.Length < 2 * ParallelRange.DefaultMinimum)
        {
            TwoState(ref MemoryMarshal.GetReference(w), ref MemoryMarshal.GetReference(g), ref MemoryMarshal.GetReference(v), ref MemoryMarshal.GetReference(s), w.Length, op);
            return;
        }

        fixed (T* pw = w)
        fixed (T* pg = g)
        fixed (T* pv = v)
        fixed (T* ps = s)
        {
            ParallelRange.For(w.Length, new TwoStateBody<T, TOp>(pw, pg, pv, ps, op));
        }
    }

    // ws, gs, vs: n elements each, one thread.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OneState<T, TOp>(ref T ws, ref T gs, ref T vs, int n, TOp op)
        where T : unmanaged
        where TOp : struct, IOneStateOp<T>
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported && n >= Vector512<T>.Count)
        {
            for (int step = Vector512<T>.Count; i <= n - step; i += step)
            {
                var wv = Vector512.LoadUnsafe(ref ws, (nuint)i);
                var vv = Vector512.LoadUnsafe(ref vs, (nuint)i);
                op.Invoke(ref wv, Vector512.LoadUnsafe(ref gs, (nuint)i), ref vv);
                wv.StoreUnsafe(ref ws, (nuint)i);
                vv.StoreUnsafe(ref vs, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && n >= Vector256<T>.Count)
        {
            for (int step = Vector256<T>.Count; i <= n - step; i += step)
            {
                var wv = Vector256.LoadUnsafe(ref ws, (nuint)i);
                var vv = Vector256.LoadUnsafe(ref vs, (nuint)i);
                op.Invoke(ref wv, Vector256.LoadUnsafe(ref gs, (nuint)i), ref vv);
                wv.StoreUnsafe(ref ws, (nuint)i);
                vv.StoreUnsafe(ref vs, (nuint)i);
            }
        }
        else if (Vector128.IsHardwareAccelerated && Vector128<T>.IsSupported && n >= Vector128<T>.Count)
        {
            for (int step = Vector128<T>.Count; i <= n - step; i += step)
            {
                var wv = Vector128.LoadUnsafe(ref ws, (nuint)i);
                var vv = Vector128.LoadUnsafe(ref vs, (nuint)i);
                op.Invoke(ref wv, Vector128.LoadUnsafe(ref gs, (nuint)i), ref vv);
                wv.StoreUnsafe(ref ws, (nuint)i);
                vv.StoreUnsafe(ref vs, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            op.Invoke(ref Unsafe.Add(ref ws, i), Unsafe.Add(ref gs, i), ref Unsafe.Add(ref vs, i));
        }
    }

    // ws, gs, vs, ss: n elements each, one thread.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TwoState<T, TOp>(ref T ws, ref T gs, ref T vs, ref T ss, int n, TOp op)
        where T : unmanaged
        where TOp : struct, ITwoStateOp<T>
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported && n >= Vector512<T>.Count)
        {
            for (int step = Vector512<T>.Count; i <= n - step; i += step)
            {
                var wv = Vector512.LoadUnsafe(ref ws, (nuint)i);
                var vv = Vector512.LoadUnsafe(ref vs, (nuint)i);
                var sv = Vector512.LoadUnsafe(ref ss, (nuint)i);
                op.Invoke(ref wv, Vector512.LoadUnsafe(ref gs, (nuint)i), ref vv, ref sv);
                wv.StoreUnsafe(ref ws, (nuint)i);
                vv.StoreUnsafe(ref vs, (nuint)i);
                sv.StoreUnsafe(ref ss, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && n >= Vector256<T>.Count)
        {
            for (int step = Vector256<T>.Count; i <= n - step; i += step)
            {
                var wv = Vector256.LoadUnsafe(ref ws, (nuint)i);
                var vv = Vector256.LoadUnsafe(ref vs, (nuint)i);
                var sv = Vector256.LoadUnsafe(ref ss, (nuint)i);
                op.Invoke(ref wv, Vector256.LoadUnsafe(ref gs, (nuint)i), ref vv, ref sv);
                wv.StoreUnsafe(ref ws, (nuint)i);
                vv.StoreUnsafe(ref vs, (nuint)i);
                sv.StoreUnsafe(ref ss, (nuint)i);
            }
        }
        else if (Vector128.IsHardwareAccelerated && Vector128<T>.IsSupported && n >= Vector128<T>.Count)
        {
            for (int step = Vector128<T>.Count; i <= n - step; i += step)
            {
                var wv = Vector128.LoadUnsafe(ref ws, (nuint)i);
                var vv = Vector128.LoadUnsafe(ref vs, (nuint)i);
                var sv = Vector128.LoadUnsafe(ref ss, (nuint)i);
                op.Invoke(ref wv, Vector128.LoadUnsafe(ref gs, (nuint)i), ref vv, ref sv);
                wv.StoreUnsafe(ref ws, (nuint)i);
                vv.StoreUnsafe(ref vs, (nuint)i);
                sv.StoreUnsafe(ref ss, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            op.Invoke(ref Unsafe.Add(ref ws, i), Unsafe.Add(ref gs, i), ref Unsafe.Add(ref vs, i), ref Unsafe.Add(ref ss, i));
        }
    }

    private readonly unsafe struct OneStateBody<T, TOp>(T* w, T* g, T* v, TOp op) : IRangeBody
        where T : unmanaged
        where TOp : struct, IOneStateOp<T>
    {
        public void Invoke(int start, int end) => OneState(ref w[start], ref g[start], ref v[start], end - start, op);
    }

    private readonly unsafe struct TwoStateBody<T, TOp>(T* w, T* g, T* v, T* s, TOp op) : IRangeBody
        where T : unmanaged
        where TOp : struct, ITwoStateOp<T>
    {
        public void Invoke(int start, int end) => TwoState(ref w[start], ref g[start], ref v[start], ref s[start], end - start, op);
    }

    /// <summary>Throws unless the two lengths agree, naming the span that disagrees.</summary>
    public static void Same(int expected, int actual, string name)
    {
        if (expected != actual)
        {
            throw new ArgumentException($"length mismatch: {name} has {actual} elements but w has {expected}", name);
        }
    }

    /// <summary>Throws unless t ≥ 1 (bias correction divides by 1 − βᵗ, which is 0 at t = 0).</summary>
    public static void RequireStep(long t)
    {
        if (t < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(t), t, $"t (the step number) must be at least 1; received {t}");
        }
    }

    /// <summary>
    /// Throws unless α is positive and finite in <typeparamref name="T"/>, as <see cref="Optimizer.LearningRate"/> requires:
    /// a negative α climbs the gradient, 0 does nothing, NaN or ∞ writes NaN weights.
    /// </summary>
    public static void RequireRate<T>(T alpha, string name = "alpha")
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(alpha > T.Zero) || !T.IsFinite(alpha))
        {
            throw new ArgumentOutOfRangeException(name, alpha, string.Create(CultureInfo.InvariantCulture, $"{name} (the learning rate) must be positive and finite; received {alpha} ({typeof(T).Name})"));
        }
    }

    /// <summary>
    /// Throws unless β is in [0, 1) in <typeparamref name="T"/>, as the optimizers' Beta properties require: β ≥ 1 makes
    /// 1 − β ≤ 0, so the average ignores or subtracts each new gradient (momentum with β = 2 climbs it), and β &lt; 0 flips
    /// the old average's sign.
    /// </summary>
    public static void RequireBeta<T>(T beta, string name)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(beta >= T.Zero && beta < T.One))
        {
            throw new ArgumentOutOfRangeException(name, beta, string.Create(CultureInfo.InvariantCulture, $"{name} must be in [0, 1); received {beta} ({typeof(T).Name})"));
        }
    }

    /// <summary>
    /// Throws unless ε is positive and finite in <typeparamref name="T"/>: with ε = 0 a weight whose gradient and average
    /// are 0 gets 0/0 = NaN; a negative ε can divide by 0 as well.
    /// </summary>
    public static void RequireEpsilon<T>(T epsilon, string name = "epsilon")
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(epsilon > T.Zero) || !T.IsFinite(epsilon))
        {
            throw new ArgumentOutOfRangeException(name, epsilon, string.Create(CultureInfo.InvariantCulture, $"{name} must be positive and finite; received {epsilon} ({typeof(T).Name})"));
        }
    }

    /// <summary>1 − βᵗ computed in double, the bias-correction denominator; β must be in [0, 1) as given (1 would divide by 0).</summary>
    public static double OneMinusPower<T>(T beta, long t, string name)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(beta >= T.Zero && beta < T.One))
        {
            throw new ArgumentOutOfRangeException(name, beta, string.Create(CultureInfo.InvariantCulture, $"{name} must be in [0, 1) for bias correction 1/(1 − {name}ᵗ); received {beta} ({typeof(T).Name})"));
        }

        return 1.0 - Math.Pow(double.CreateChecked(beta), t);
    }
}
