using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DeepLearning.Kernels;

/// <summary>
/// The handful of vector operations the GEMM micro-kernel and its epilogue need, over one register width.
/// Implemented by zero-size structs so the JIT specializes (and inlines) every use: one kernel source serves
/// AVX-512, AVX2, <see cref="Vector{T}"/> and scalar code, for float and double.
/// </summary>
/// <typeparam name="TV">The register type: Vector512&lt;T&gt;, Vector256&lt;T&gt;, Vector&lt;T&gt; or T itself.</typeparam>
/// <typeparam name="T">float or double.</typeparam>
internal unsafe interface ISimd<TV, T>
    where TV : struct
    where T : unmanaged
{
    /// <summary>Lanes per register.</summary>
    static abstract int Count { get; }

    /// <summary>Registers per micro-tile row: the tile is <see cref="GemmBlocking.MR"/> × (MaxVectors·Count).</summary>
    static abstract int MaxVectors { get; }

    static abstract TV Zero { get; }

    static abstract TV Load(T* p);

    static abstract void Store(T* p, TV v);

    static abstract TV Broadcast(T x);

    /// <summary>a·b + c, fused where the hardware has FMA.</summary>
    static abstract TV MulAdd(TV a, TV b, TV c);

    static abstract TV Mul(TV a, TV b);

    static abstract TV Add(TV a, TV b);

    /// <summary>v ≤ 0 ? +0 : v — max(v, 0) as the ReLU layer computes it: NaN stays NaN, −0 becomes +0.</summary>
    static abstract TV ReLU(TV v);

    /// <summary>v &gt; 0 ? v : slope·v (NaN stays NaN, −0 stays −0).</summary>
    static abstract TV LeakyReLU(TV v, TV slope);

    /// <summary>Whether <see cref="LoadFirst"/> and <see cref="StoreFirst"/> are hardware-masked (never touch lanes ≥ count).</summary>
    static abstract bool HasMask { get; }

    /// <summary>The first <paramref name="count"/> lanes from p (the rest zero); other lanes' memory is not read.</summary>
    static abstract TV LoadFirst(T* p, int count);

    /// <summary>Stores the first <paramref name="count"/> lanes of v at p; memory past them is not written.</summary>
    static abstract void StoreFirst(T* p, TV v, int count);
}

/// <summary>AVX-512: 16 floats or 8 doubles per zmm register, 4 registers per tile row (6×64 fp32, 6×32 fp64).</summary>
internal readonly unsafe struct Simd512<T> : ISimd<Vector512<T>, T>
    where T : unmanaged
{
    public static int Count => Vector512<T>.Count;

    public static int MaxVectors => 4;

    public static Vector512<T> Zero => Vector512<T>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Load(T* p) => Vector512.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(T* p, Vector512<T> v) => v.Store(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Broadcast(T x) => Vector512.Create(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> MulAdd(Vector512<T> a, Vector512<T> b, Vector512<T> c)
    {
        if (typeof(T) == typeof(float))
        {
            return Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        }

        return Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Mul(Vector512<T> a, Vector512<T> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Add(Vector512<T> a, Vector512<T> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> ReLU(Vector512<T> v) => Vector512.ConditionalSelect(Vector512.LessThanOrEqual(v, Vector512<T>.Zero), Vector512<T>.Zero, v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> LeakyReLU(Vector512<T> v, Vector512<T> slope) => Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<T>.Zero), v, v * slope);

    public static bool HasMask => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> LoadFirst(T* p, int count)
    {
        if (typeof(T) == typeof(float))
        {
            return Avx512F.MaskLoad((float*)p, Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle(), Vector512<float>.Zero).As<float, T>();
        }

        return Avx512F.MaskLoad((double*)p, Vector512.LessThan(Vector512<long>.Indices, Vector512.Create((long)count)).AsDouble(), Vector512<double>.Zero).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreFirst(T* p, Vector512<T> v, int count)
    {
        if (typeof(T) == typeof(float))
        {
            Avx512F.MaskStore((float*)p, Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle(), v.AsSingle());
        }
        else
        {
            Avx512F.MaskStore((double*)p, Vector512.LessThan(Vector512<long>.Indices, Vector512.Create((long)count)).AsDouble(), v.AsDouble());
        }
    }
}

/// <summary>AVX2 + FMA: 8 floats or 4 doubles per ymm register, 2 registers per tile row (6×16 fp32, 6×8 fp64).</summary>
internal readonly unsafe struct Simd256<T> : ISimd<Vector256<T>, T>
    where T : unmanaged
{
    public static int Count => Vector256<T>.Count;

    public static int MaxVectors => 2;

    public static Vector256<T> Zero => Vector256<T>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Load(T* p) => Vector256.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(T* p, Vector256<T> v) => v.Store(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Broadcast(T x) => Vector256.Create(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> MulAdd(Vector256<T> a, Vector256<T> b, Vector256<T> c)
    {
        if (!Fma.IsSupported)
        {
            return (a * b) + c;
        }

        if (typeof(T) == typeof(float))
        {
            return Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        }

        return Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Mul(Vector256<T> a, Vector256<T> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Add(Vector256<T> a, Vector256<T> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> ReLU(Vector256<T> v) => Vector256.ConditionalSelect(Vector256.LessThanOrEqual(v, Vector256<T>.Zero), Vector256<T>.Zero, v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> LeakyReLU(Vector256<T> v, Vector256<T> slope) => Vector256.ConditionalSelect(Vector256.GreaterThan(v, Vector256<T>.Zero), v, v * slope);

    public static bool HasMask => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> LoadFirst(T* p, int count)
    {
        if (typeof(T) == typeof(float))
        {
            return Avx.MaskLoad((float*)p, Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(count)).AsSingle()).As<float, T>();
        }

        return Avx.MaskLoad((double*)p, Vector256.LessThan(Vector256<long>.Indices, Vector256.Create((long)count)).AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreFirst(T* p, Vector256<T> v, int count)
    {
        if (typeof(T) == typeof(float))
        {
            Avx.MaskStore((float*)p, Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(count)).AsSingle(), v.AsSingle());
        }
        else
        {
            Avx.MaskStore((double*)p, Vector256.LessThan(Vector256<long>.Indices, Vector256.Create((long)count)).AsDouble(), v.AsDouble());
        }
    }
}

/// <summary>
/// Portable <see cref="Vector{T}"/> (SSE or NEON width when wider registers are off), 2 registers per tile row.
/// Uses a separate multiply and add where the hardware has no FMA, since a software FMA is far slower.
/// </summary>
internal readonly unsafe struct SimdVector<T> : ISimd<Vector<T>, T>
    where T : unmanaged
{
    public static int Count => Vector<T>.Count;

    public static int MaxVectors => 2;

    public static Vector<T> Zero => Vector<T>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<T> Load(T* p) => Unsafe.ReadUnaligned<Vector<T>>(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(T* p, Vector<T> v) => Unsafe.WriteUnaligned(p, v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<T> Broadcast(T x) => new(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<T> MulAdd(Vector<T> a, Vector<T> b, Vector<T> c)
    {
        if (!Fma.IsSupported && !System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported)
        {
            return (a * b) + c;
        }

        if (typeof(T) == typeof(float))
        {
            return Vector.As<float, T>(Vector.FusedMultiplyAdd(Vector.AsVectorSingle(a), Vector.AsVectorSingle(b), Vector.AsVectorSingle(c)));
        }

        return Vector.As<double, T>(Vector.FusedMultiplyAdd(Vector.AsVectorDouble(a), Vector.AsVectorDouble(b), Vector.AsVectorDouble(c)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<T> Mul(Vector<T> a, Vector<T> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<T> Add(Vector<T> a, Vector<T> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<T> ReLU(Vector<T> v) => Vector.ConditionalSelect(Vector.LessThanOrEqual(v, Vector<T>.Zero), Vector<T>.Zero, v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<T> LeakyReLU(Vector<T> v, Vector<T> slope) => Vector.ConditionalSelect(Vector.GreaterThan(v, Vector<T>.Zero), v, v * slope);

    public static bool HasMask => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<T> LoadFirst(T* p, int count)
    {
        Vector<T> v = Vector<T>.Zero;
        T* lanes = (T*)&v;
        for (int i = 0; i < count; i++)
        {
            lanes[i] = p[i];
        }

        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreFirst(T* p, Vector<T> v, int count)
    {
        T* lanes = (T*)&v;
        for (int i = 0; i < count; i++)
        {
            p[i] = lanes[i];
        }
    }
}

/// <summary>Scalar "registers" of one lane, for machines (or runs) without hardware intrinsics: a 6×2 tile.</summary>
internal readonly unsafe struct SimdScalar<T> : ISimd<T, T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => 1;

    public static int MaxVectors => 2;

    public static T Zero => T.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Load(T* p) => *p;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(T* p, T v) => *p = v;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Broadcast(T x) => x;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T MulAdd(T a, T b, T c) => (a * b) + c;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Mul(T a, T b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Add(T a, T b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T ReLU(T v) => v <= T.Zero ? T.Zero : v;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T LeakyReLU(T v, T slope) => v > T.Zero ? v : slope * v;

    public static bool HasMask => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T LoadFirst(T* p, int count) => count > 0 ? *p : T.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreFirst(T* p, T v, int count)
    {
        if (count > 0)
        {
            *p = v;
        }
    }
}

/// <summary>How many registers wide a micro-kernel instantiation is (1–4); edge panels use narrower ones.</summary>
internal interface IVectors
{
    static abstract int Value { get; }
}

internal readonly struct Vectors1 : IVectors
{
    public static int Value => 1;
}

internal readonly struct Vectors2 : IVectors
{
    public static int Value => 2;
}

internal readonly struct Vectors3 : IVectors
{
    public static int Value => 3;
}

internal readonly struct Vectors4 : IVectors
{
    public static int Value => 4;
}

/// <summary>
/// How many rows of C a micro-kernel instantiation computes (1–6): <see cref="GemmMicroKernel.MR"/> for full tiles, fewer
/// for the last tile of a block whose row count is not a multiple of it (m = 64 leaves 4).
/// </summary>
internal interface IRows
{
    static abstract int Value { get; }
}

internal readonly struct Rows1 : IRows
{
    public static int Value => 1;
}

internal readonly struct Rows2 : IRows
{
    public static int Value => 2;
}

internal readonly struct Rows3 : IRows
{
    public static int Value => 3;
}

internal readonly struct Rows4 : IRows
{
    public static int Value => 4;
}

internal readonly struct Rows5 : IRows
{
    public static int Value => 5;
}

internal readonly struct Rows6 : IRows
{
    public static int Value => 6;
}

/// <summary>A compile-time switch for a kernel instantiation (the JIT folds <see cref="Value"/> away).</summary>
internal interface IFlag
{
    static abstract bool Value { get; }
}

internal readonly struct FlagOn : IFlag
{
    public static bool Value => true;
}

internal readonly struct FlagOff : IFlag
{
    public static bool Value => false;
}
