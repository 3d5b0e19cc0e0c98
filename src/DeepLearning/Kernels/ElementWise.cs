using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning.Kernels;

/// <summary>
/// Element-wise kernels over spans. Each one delegates to
/// <see cref="System.Numerics.Tensors.TensorPrimitives"/> where it has the operation; the
/// derivatives it lacks run through small SIMD operator structs (see <see cref="VectorOps"/>).
/// Destinations may alias inputs of the same length.
/// </summary>
[SkipLocalsInit]
public static class ElementWise
{
    /// <summary>d = x + y.</summary>
    public static void Add<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Same(x.Length, y.Length, "y");
        TP.Add(x, y, d);
    }

    /// <summary>d = x − y.</summary>
    public static void Subtract<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Same(x.Length, y.Length, "y");
        TP.Subtract(x, y, d);
    }

    /// <summary>d = x ⊙ y (Hadamard product).</summary>
    public static void Multiply<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Same(x.Length, y.Length, "y");
        TP.Multiply(x, y, d);
    }

    /// <summary>d = s·x.</summary>
    public static void Scale<T>(ReadOnlySpan<T> x, T s, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T> => TP.Multiply(x, s, d);

    /// <summary>d = x + s.</summary>
    public static void AddScalar<T>(ReadOnlySpan<T> x, T s, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T> => TP.Add(x, s, d);

    /// <summary>d = a·x + y (axpy).</summary>
    public static void MultiplyAdd<T>(ReadOnlySpan<T> x, T a, ReadOnlySpan<T> y, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Same(x.Length, y.Length, "y");
        TP.MultiplyAdd(x, a, y, d);
    }

    /// <summary>d = eˣ.</summary>
    public static void Exp<T>(ReadOnlySpan<T> x, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T> => TP.Exp(x, d);

    /// <summary>d = ln x.</summary>
    public static void Log<T>(ReadOnlySpan<T> x, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T> => TP.Log(x, d);

    /// <summary>
    /// d = σ(x) = 1 / (1 + e⁻ˣ). σ(NaN) = NaN, σ(+∞) = 1, σ(−∞) = 0. Each element's result depends only on its
    /// own value, never on the span's length, its position or its neighbours (see <see cref="Tanh{T}"/>), so the
    /// fused GEMM epilogue, which applies this to pieces of rows, matches the Sigmoid layer bit for bit.
    /// </summary>
    public static void Sigmoid<T>(ReadOnlySpan<T> x, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T> => Transcendental(x, d, tanh: false);

    /// <summary>
    /// d = tanh x, with tanh(±0) = ±0, tanh(NaN) = NaN and tanh(±∞) = ±1. Each element's result depends only on
    /// its own value, never on the span's length, position or neighbours, so the fused GEMM epilogue (which applies
    /// this to pieces of rows) matches the Tanh layer bit for bit. TensorPrimitives alone is not like that: spans
    /// shorter than a vector take its scalar formula, which differs in the last bit (so short spans are padded to
    /// a vector here), and its double exp changes a lane's result with its neighbours and with JIT tier (so double,
    /// which serves gradient checks rather than speed, is computed element by element with <see cref="Math"/>).
    /// float uses TensorPrimitives' tanh (within 3.5 ulp of the exact value) for |x| ≥ 0.625 only: below that it loses
    /// up to 1,800 ulp (1.1·10⁻⁴ relative near |x| = 4·10⁻⁴) to cancellation, so there d = x + x³·P(x²), Cephes' tanhf
    /// polynomial (within 2 ulp, as PyTorch's float tanh is within 1), and below 2⁻¹², where tanh x rounds to x, x itself
    /// (so tanh(−0) = −0).
    /// </summary>
    public static void Tanh<T>(ReadOnlySpan<T> x, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T> => Transcendental(x, d, tanh: true);

    // σ or tanh: double element by element with Math (σ = 1 / (1 + e⁻ˣ)), float through Vectorized.
    private static void Transcendental<T>(ReadOnlySpan<T> x, Span<T> d, bool tanh)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (d.Length < x.Length)
        {
            throw new ArgumentException($"destination has {d.Length} elements but the input has {x.Length}", nameof(d));
        }

        if (typeof(T) == typeof(double))
        {
            var xd = MemoryMarshal.Cast<T, double>(x);
            var dd = MemoryMarshal.Cast<T, double>(d);
            for (int i = 0; i < xd.Length; i++)
            {
                dd[i] = tanh ? Math.Tanh(xd[i]) : 1.0 / (1.0 + Math.Exp(-xd[i]));
            }

            return;
        }

        Vectorized(x, d, tanh);
    }

    /// <summary>d = max(x, 0): NaN stays NaN, −0 becomes +0, −∞ becomes 0 (as PyTorch's relu).</summary>
    public static void Relu<T>(ReadOnlySpan<T> x, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T> => TP.Max(x, T.Zero, d);

    /// <summary>d = x if x &gt; 0, else slope·x. Requires 0 ≤ slope ≤ 1 (then it equals max(x, slope·x)).</summary>
    public static void LeakyRelu<T>(ReadOnlySpan<T> x, T slope, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        VectorOps.Unary(x, d, new LeakyReluOp<T>(slope));
    }

    /// <summary>d = min(max(x, lo), hi).</summary>
    public static void Clip<T>(ReadOnlySpan<T> x, T lo, T hi, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (lo > hi)
        {
            throw new ArgumentException($"clip bounds must satisfy lo ≤ hi; received lo = {lo}, hi = {hi}");
        }

        TP.Clamp(x, lo, hi, d);
    }

    /// <summary>
    /// ReLU backward: dZ = dA ⊙ 1[Z &gt; 0], where <paramref name="z"/> may be Z or A = max(Z, 0). NaN is never
    /// turned into a number: a NaN in Z (the derivative is undefined there) or in dA gives NaN, while a finite or
    /// infinite dA on an inactive unit gives 0 (as in PyTorch).
    /// </summary>
    public static void ReluBackward<T>(ReadOnlySpan<T> dA, ReadOnlySpan<T> z, Span<T> dZ)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Same(dA.Length, z.Length, "z");
        VectorOps.Binary(dA, z, dZ, default(ReluBackwardOp<T>));
    }

    /// <summary>Leaky-ReLU backward: dZ = dA ⊙ (Z &gt; 0 ? 1 : slope); a NaN in Z or dA gives NaN.</summary>
    public static void LeakyReluBackward<T>(ReadOnlySpan<T> dA, ReadOnlySpan<T> z, T slope, Span<T> dZ)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Same(dA.Length, z.Length, "z");
        VectorOps.Binary(dA, z, dZ, new LeakyReluBackwardOp<T>(slope));
    }

    /// <summary>Sigmoid backward from its output A = σ(Z): dZ = dA ⊙ A ⊙ (1 − A).</summary>
    public static void SigmoidBackward<T>(ReadOnlySpan<T> dA, ReadOnlySpan<T> a, Span<T> dZ)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Same(dA.Length, a.Length, "a");
        VectorOps.Binary(dA, a, dZ, default(SigmoidBackwardOp<T>));
    }

    /// <summary>Tanh backward from its output A = tanh(Z): dZ = dA ⊙ (1 − A²).</summary>
    public static void TanhBackward<T>(ReadOnlySpan<T> dA, ReadOnlySpan<T> a, Span<T> dZ)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Same(dA.Length, a.Length, "a");
        VectorOps.Binary(dA, a, dZ, default(TanhBackwardOp<T>));
    }

    /// <summary>Σ x.</summary>
    public static T Sum<T>(ReadOnlySpan<T> x)
        where T : unmanaged, IFloatingPointIeee754<T> => TP.Sum(x);

    /// <summary>Σ x².</summary>
    public static T SumOfSquares<T>(ReadOnlySpan<T> x)
        where T : unmanaged, IFloatingPointIeee754<T> => TP.SumOfSquares(x);

    /// <summary>Σ |x|.</summary>
    public static T SumOfMagnitudes<T>(ReadOnlySpan<T> x)
        where T : unmanaged, IFloatingPointIeee754<T> => TP.SumOfMagnitudes(x);

    /// <summary>
    /// Row-broadcast add: x is (m, n) row-major, bias is (n); d[i, j] = x[i, j] + bias[j].
    /// </summary>
    public static void AddRowVector<T>(ReadOnlySpan<T> x, int m, int n, ReadOnlySpan<T> bias, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Matrix(x.Length, m, n, "x");
        Same(bias.Length, n, "bias");
        for (int i = 0; i < m; i++)
        {
            TP.Add(x.Slice(i * n, n), bias, d.Slice(i * n, n));
        }
    }

    /// <summary>Row-broadcast multiply: d[i, j] = x[i, j] · v[j]. x is (m, n), v is (n).</summary>
    public static void MultiplyRowVector<T>(ReadOnlySpan<T> x, int m, int n, ReadOnlySpan<T> v, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Matrix(x.Length, m, n, "x");
        Same(v.Length, n, "v");
        for (int i = 0; i < m; i++)
        {
            TP.Multiply(x.Slice(i * n, n), v, d.Slice(i * n, n));
        }
    }

    /// <summary>Row-broadcast subtract: d[i, j] = x[i, j] − v[j]. x is (m, n), v is (n).</summary>
    public static void SubtractRowVector<T>(ReadOnlySpan<T> x, int m, int n, ReadOnlySpan<T> v, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Matrix(x.Length, m, n, "x");
        Same(v.Length, n, "v");
        for (int i = 0; i < m; i++)
        {
            TP.Subtract(x.Slice(i * n, n), v, d.Slice(i * n, n));
        }
    }

    /// <summary>Column sums (sum over axis 0): x is (m, n), sums is (n); sums[j] = Σᵢ x[i, j]. This is db = Σ dZ over examples.</summary>
    public static void SumColumns<T>(ReadOnlySpan<T> x, int m, int n, Span<T> sums)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Matrix(x.Length, m, n, "x");
        Same(sums.Length, n, "sums");
        sums.Clear();
        for (int i = 0; i < m; i++)
        {
            TP.Add(sums, x.Slice(i * n, n), sums);
        }
    }

    /// <summary>Row sums (sum over axis 1): x is (m, n), sums is (m); sums[i] = Σⱼ x[i, j].</summary>
    public static void SumRows<T>(ReadOnlySpan<T> x, int m, int n, Span<T> sums)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Matrix(x.Length, m, n, "x");
        Same(sums.Length, m, "sums");
        for (int i = 0; i < m; i++)
        {
            sums[i] = TP.Sum(x.Slice(i * n, n));
        }
    }

    /// <summary>Per-row maximum: x is (m, n) with n ≥ 1, max is (m).</summary>
    public static void MaxPerRow<T>(ReadOnlySpan<T> x, int m, int n, Span<T> max)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Matrix(x.Length, m, n, "x");
        Same(max.Length, m, "max");
        RequirePositive(n, m);
        for (int i = 0; i < m; i++)
        {
            max[i] = TP.Max(x.Slice(i * n, n));
        }
    }

    /// <summary>Per-row index of the maximum (first one on ties): x is (m, n) with n ≥ 1, index is (m).</summary>
    public static void ArgMaxPerRow<T>(ReadOnlySpan<T> x, int m, int n, Span<int> index)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Matrix(x.Length, m, n, "x");
        Same(index.Length, m, "index");
        RequirePositive(n, m);
        for (int i = 0; i < m; i++)
        {
            index[i] = TP.IndexOfMax(x.Slice(i * n, n));
        }
    }

    /// <summary>
    /// Numerically stable row-wise softmax: d[i, j] = exp(x[i, j] − maxᵢ) / Σₖ exp(x[i, k] − maxᵢ).
    /// x and d are (m, n). Subtracting the row maximum keeps exp from overflowing for inputs like ±1000.
    /// </summary>
    public static void SoftmaxRows<T>(ReadOnlySpan<T> x, int m, int n, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Matrix(x.Length, m, n, "x");
        Same(d.Length, x.Length, "d");
        for (int i = 0; i < m; i++)
        {
            var row = x.Slice(i * n, n);
            var dst = d.Slice(i * n, n);
            if (n == 0)
            {
                continue;
            }

            T max = TP.Max(row);
            TP.Subtract(row, max, dst);
            TP.Exp(dst, dst);
            T sum = TP.Sum(dst);
            TP.Multiply(dst, T.One / sum, dst);
        }
    }

    /// <summary>
    /// Row-wise log-sum-exp: lse[i] = maxᵢ + ln Σⱼ exp(x[i, j] − maxᵢ). x is (m, n), scratch is (n).
    /// </summary>
    public static void LogSumExpRows<T>(ReadOnlySpan<T> x, int m, int n, Span<T> lse, Span<T> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Matrix(x.Length, m, n, "x");
        Same(lse.Length, m, "lse");
        for (int i = 0; i < m; i++)
        {
            var row = x.Slice(i * n, n);
            T max = TP.Max(row);
            var s = scratch[..n];
            TP.Subtract(row, max, s);
            TP.Exp(s, s);
            lse[i] = max + T.Log(TP.Sum(s));
        }
    }

    // Spans shorter than this are padded to it, so TensorPrimitives always takes its vector path (when there is one).
    private const int ShortSpan = 16;

    // TensorPrimitives' σ or tanh, chunked through a stack buffer (x may alias d; the tanh fix-up needs x) and
    // padded to at least a vector's length.
    private static void Vectorized<T>(ReadOnlySpan<T> x, Span<T> d, bool tanh)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int Chunk = 256;
        Span<T> copy = stackalloc T[Chunk];
        Span<T> y = stackalloc T[Chunk];
        for (int i = 0; i < x.Length; i += Chunk)
        {
            int len = Math.Min(Chunk, x.Length - i);
            int n = Math.Max(len, ShortSpan);
            copy[len..n].Clear();
            x.Slice(i, len).CopyTo(copy);
            if (tanh)
            {
                TP.Tanh<T>(copy[..n], y[..n]);
                VectorOps.Binary(copy[..len], y[..len], d.Slice(i, len), default(SmallTanhOp<T>));
            }
            else
            {
                TP.Sigmoid<T>(copy[..n], y[..n]);
                y[..len].CopyTo(d.Slice(i, len));
            }
        }
    }

    private static void RequirePositive(int n, int m)
    {
        if (n <= 0 && m > 0)
        {
            throw new ArgumentException($"a per-row reduction needs at least one column; received shape ({m}, {n})");
        }
    }

    private static void Same(int expected, int actual, string name)
    {
        if (expected != actual)
        {
            throw new ArgumentException($"length mismatch: {name} has {actual} elements but {expected} were expected", name);
        }
    }

    private static void Matrix(int length, int m, int n, string name)
    {
        if (m < 0 || n < 0 || (long)m * n != length)
        {
            throw new ArgumentException($"{name} has {length} elements, which is not a ({m}, {n}) matrix", name);
        }
    }

    private readonly struct LeakyReluOp<T>(T slope) : IUnaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T Invoke(T x) => x > T.Zero ? x : slope * x;

        public Vector128<T> Invoke(Vector128<T> x) => Vector128.ConditionalSelect(Vector128.GreaterThan(x, Vector128<T>.Zero), x, x * slope);

        public Vector256<T> Invoke(Vector256<T> x) => Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<T>.Zero), x, x * slope);

        public Vector512<T> Invoke(Vector512<T> x) => Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<T>.Zero), x, x * slope);
    }

    // Active (z > 0): dA. Inactive (z ≤ 0) with a non-NaN dA: 0. Otherwise (z or dA NaN): z + dA, which is NaN.
    private readonly struct ReluBackwardOp<T> : IBinaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T Invoke(T da, T z) => z > T.Zero ? da : (z <= T.Zero && !T.IsNaN(da) ? T.Zero : z + da);

        public Vector128<T> Invoke(Vector128<T> da, Vector128<T> z) =>
            Vector128.AndNot(Vector128.ConditionalSelect(Vector128.GreaterThan(z, Vector128<T>.Zero), da, z + da), Vector128.LessThanOrEqual(z, Vector128<T>.Zero) & Vector128.Equals(da, da));

        public Vector256<T> Invoke(Vector256<T> da, Vector256<T> z) =>
            Vector256.AndNot(Vector256.ConditionalSelect(Vector256.GreaterThan(z, Vector256<T>.Zero), da, z + da), Vector256.LessThanOrEqual(z, Vector256<T>.Zero) & Vector256.Equals(da, da));

        public Vector512<T> Invoke(Vector512<T> da, Vector512<T> z) =>
            Vector512.AndNot(Vector512.ConditionalSelect(Vector512.GreaterThan(z, Vector512<T>.Zero), da, z + da), Vector512.LessThanOrEqual(z, Vector512<T>.Zero) & Vector512.Equals(da, da));
    }

    // Active: dA; inactive: slope·dA; z NaN: z + dA (NaN).
    private readonly struct LeakyReluBackwardOp<T>(T slope) : IBinaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T Invoke(T da, T z) => z > T.Zero ? da : (z <= T.Zero ? slope * da : z + da);

        public Vector128<T> Invoke(Vector128<T> da, Vector128<T> z) =>
            Vector128.ConditionalSelect(Vector128.GreaterThan(z, Vector128<T>.Zero), da, Vector128.ConditionalSelect(Vector128.LessThanOrEqual(z, Vector128<T>.Zero), da * slope, z + da));

        public Vector256<T> Invoke(Vector256<T> da, Vector256<T> z) =>
            Vector256.ConditionalSelect(Vector256.GreaterThan(z, Vector256<T>.Zero), da, Vector256.ConditionalSelect(Vector256.LessThanOrEqual(z, Vector256<T>.Zero), da * slope, z + da));

        public Vector512<T> Invoke(Vector512<T> da, Vector512<T> z) =>
            Vector512.ConditionalSelect(Vector512.GreaterThan(z, Vector512<T>.Zero), da, Vector512.ConditionalSelect(Vector512.LessThanOrEqual(z, Vector512<T>.Zero), da * slope, z + da));
    }

    // |x| < threshold ? x : y — tanh x rounds to x there.
    /// <summary>
    /// tanh for small |x|, given x and TensorPrimitives' tanh y: x itself for |x| &lt; 2⁻¹², x + x³·P(x²) for |x| &lt; 0.625
    /// (Cephes' tanhf minimax polynomial, relative error ≈ 1.4·10⁻⁷), y otherwise (NaN included). The scalar and vector
    /// forms do the same operations in the same order (no fused multiply-add), so they agree bit for bit.
    /// </summary>
    private readonly struct SmallTanhOp<T> : IBinaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private static readonly T _tiny = T.CreateTruncating(1.0 / 4096);
        private static readonly T _limit = T.CreateTruncating(0.625);
        private static readonly T _c0 = T.CreateTruncating(-5.70498872745e-3);
        private static readonly T _c1 = T.CreateTruncating(2.06390887954e-2);
        private static readonly T _c2 = T.CreateTruncating(-5.37397155531e-2);
        private static readonly T _c3 = T.CreateTruncating(1.33314422036e-1);
        private static readonly T _c4 = T.CreateTruncating(-3.33332819422e-1);

        public T Invoke(T x, T y)
        {
            T a = T.Abs(x);
            if (a < _tiny)
            {
                return x;
            }

            if (!(a < _limit))
            {
                return y;
            }

            T z = x * x;
            T p = (((((((_c0 * z) + _c1) * z) + _c2) * z) + _c3) * z) + _c4;
            return (p * z * x) + x;
        }

        public Vector128<T> Invoke(Vector128<T> x, Vector128<T> y)
        {
            var a = Vector128.Abs(x);
            var z = x * x;
            var p = (((((((Vector128.Create(_c0) * z) + Vector128.Create(_c1)) * z) + Vector128.Create(_c2)) * z) + Vector128.Create(_c3)) * z) + Vector128.Create(_c4);
            var small = (p * z * x) + x;
            return Vector128.ConditionalSelect(Vector128.LessThan(a, Vector128.Create(_tiny)), x, Vector128.ConditionalSelect(Vector128.LessThan(a, Vector128.Create(_limit)), small, y));
        }

        public Vector256<T> Invoke(Vector256<T> x, Vector256<T> y)
        {
            var a = Vector256.Abs(x);
            var z = x * x;
            var p = (((((((Vector256.Create(_c0) * z) + Vector256.Create(_c1)) * z) + Vector256.Create(_c2)) * z) + Vector256.Create(_c3)) * z) + Vector256.Create(_c4);
            var small = (p * z * x) + x;
            return Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create(_tiny)), x, Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create(_limit)), small, y));
        }

        public Vector512<T> Invoke(Vector512<T> x, Vector512<T> y)
        {
            var a = Vector512.Abs(x);
            var z = x * x;
            var p = (((((((Vector512.Create(_c0) * z) + Vector512.Create(_c1)) * z) + Vector512.Create(_c2)) * z) + Vector512.Create(_c3)) * z) + Vector512.Create(_c4);
            var small = (p * z * x) + x;
            return Vector512.ConditionalSelect(Vector512.LessThan(a, Vector512.Create(_tiny)), x, Vector512.ConditionalSelect(Vector512.LessThan(a, Vector512.Create(_limit)), small, y));
        }
    }

    private readonly struct SigmoidBackwardOp<T> : IBinaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T Invoke(T da, T a) => da * a * (T.One - a);

        public Vector128<T> Invoke(Vector128<T> da, Vector128<T> a) => da * a * (Vector128<T>.One - a);

        public Vector256<T> Invoke(Vector256<T> da, Vector256<T> a) => da * a * (Vector256<T>.One - a);

        public Vector512<T> Invoke(Vector512<T> da, Vector512<T> a) => da * a * (Vector512<T>.One - a);
    }

    private readonly struct TanhBackwardOp<T> : IBinaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T Invoke(T da, T a) => da * (T.One - (a * a));

        public Vector128<T> Invoke(Vector128<T> da, Vector128<T> a) => da * (Vector128<T>.One - (a * a));

        public Vector256<T> Invoke(Vector256<T> da, Vector256<T> a) => da * (Vector256<T>.One - (a * a));

        public Vector512<T> Invoke(Vector512<T> da, Vector512<T> a) => da * (Vector512<T>.One - (a * a));
    }
}

/// <summary>An element-wise operator with scalar and vector forms, for <see cref="VectorOps.Unary"/>.</summary>
/// <typeparam name="T">The element type.</typeparam>
public interface IUnaryOp<T>
    where T : unmanaged
{
    /// <summary>The scalar form: the reference every vector form must match.</summary>
    T Invoke(T x);

    /// <summary>The 128-bit form.</summary>
    Vector128<T> Invoke(Vector128<T> x);

    /// <summary>The 256-bit form.</summary>
    Vector256<T> Invoke(Vector256<T> x);

    /// <summary>The 512-bit form.</summary>
    Vector512<T> Invoke(Vector512<T> x);
}

/// <summary>A two-input element-wise operator with scalar and vector forms, for <see cref="VectorOps.Binary"/>.</summary>
/// <typeparam name="T">The element type.</typeparam>
public interface IBinaryOp<T>
    where T : unmanaged
{
    /// <summary>The scalar form: the reference every vector form must match.</summary>
    T Invoke(T x, T y);

    /// <summary>The 128-bit form.</summary>
    Vector128<T> Invoke(Vector128<T> x, Vector128<T> y);

    /// <summary>The 256-bit form.</summary>
    Vector256<T> Invoke(Vector256<T> x, Vector256<T> y);

    /// <summary>The 512-bit form.</summary>
    Vector512<T> Invoke(Vector512<T> x, Vector512<T> y);
}

/// <summary>
/// Drivers that run an operator struct over spans with the widest hardware-accelerated vector
/// (512, 256 or 128 bits) and finishing the remainder with the scalar form, so in-place use
/// (destination aliasing an input) is safe.
/// </summary>
public static class VectorOps
{
    /// <summary>d[i] = op(x[i]). d may alias x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Unary<T, TOp>(ReadOnlySpan<T> x, Span<T> d, TOp op)
        where T : unmanaged
        where TOp : struct, IUnaryOp<T>
    {
        if (d.Length < x.Length)
        {
            throw new ArgumentException($"destination has {d.Length} elements but the input has {x.Length}", nameof(d));
        }

        int n = x.Length;
        ref T xs = ref MemoryMarshal.GetReference(x);
        ref T ds = ref MemoryMarshal.GetReference(d);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported && n >= Vector512<T>.Count)
        {
            int w = Vector512<T>.Count;
            for (; i <= n - w; i += w)
            {
                op.Invoke(Vector512.LoadUnsafe(ref xs, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && n >= Vector256<T>.Count)
        {
            int w = Vector256<T>.Count;
            for (; i <= n - w; i += w)
            {
                op.Invoke(Vector256.LoadUnsafe(ref xs, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
            }
        }
        else if (Vector128.IsHardwareAccelerated && Vector128<T>.IsSupported && n >= Vector128<T>.Count)
        {
            int w = Vector128<T>.Count;
            for (; i <= n - w; i += w)
            {
                op.Invoke(Vector128.LoadUnsafe(ref xs, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref ds, i) = op.Invoke(Unsafe.Add(ref xs, i));
        }
    }

    /// <summary>d[i] = op(x[i], y[i]). d may alias x or y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Binary<T, TOp>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d, TOp op)
        where T : unmanaged
        where TOp : struct, IBinaryOp<T>
    {
        if (y.Length != x.Length || d.Length < x.Length)
        {
            throw new ArgumentException($"length mismatch: x has {x.Length}, y has {y.Length}, destination has {d.Length} elements");
        }

        int n = x.Length;
        ref T xs = ref MemoryMarshal.GetReference(x);
        ref T ys = ref MemoryMarshal.GetReference(y);
        ref T ds = ref MemoryMarshal.GetReference(d);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported && n >= Vector512<T>.Count)
        {
            int w = Vector512<T>.Count;
            for (; i <= n - w; i += w)
            {
                op.Invoke(Vector512.LoadUnsafe(ref xs, (nuint)i), Vector512.LoadUnsafe(ref ys, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && n >= Vector256<T>.Count)
        {
            int w = Vector256<T>.Count;
            for (; i <= n - w; i += w)
            {
                op.Invoke(Vector256.LoadUnsafe(ref xs, (nuint)i), Vector256.LoadUnsafe(ref ys, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
            }
        }
        else if (Vector128.IsHardwareAccelerated && Vector128<T>.IsSupported && n >= Vector128<T>.Count)
        {
            int w = Vector128<T>.Count;
            for (; i <= n - w; i += w)
            {
                op.Invoke(Vector128.LoadUnsafe(ref xs, (nuint)i), Vector128.LoadUnsafe(ref ys, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref ds, i) = op.Invoke(Unsafe.Add(ref xs, i), Unsafe.Add(ref ys, i));
        }
    }
}
