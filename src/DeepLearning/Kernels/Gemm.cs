using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning.Kernels;

/// <summary>
/// General matrix multiply with a fused epilogue:
/// C = act(alpha·op(A)·op(B) + beta·C + bias), op ∈ {X, Xᵀ}, row-major with leading dimensions.
/// </summary>
/// <remarks>
/// <para>
/// Shapes: op(A) is (m, k), op(B) is (k, n), C is (m, n), bias is (n) or empty. A stored transposed
/// is (k, m); B stored transposed is (n, k). When beta = 0, C is never read. A Dense layer's forward
/// pass Z = A·Wᵀ + b is <c>Multiply(None, Transposed, m, n[l], n[l-1], 1, A, n[l-1], W, n[l-1], 0, Z, n[l], b, act)</c>;
/// its backward pass is dW = (1/m)·dZᵀ·A (<c>Multiply(Transposed, None, ...)</c>) and dA = dZ·W (<c>Multiply(None, None, ...)</c>).
/// </para>
/// <para>
/// Managed and BLIS-style: a micro-kernel keeps an MR×NR tile of C in registers (6×64 fp32 / 6×32 fp64 with
/// AVX-512, 6×16 / 6×8 with AVX2, 6×2·<see cref="Vector{T}.Count"/> portable, 6×2 scalar) while it runs over k;
/// packing absorbs the transposes and zero-pads edges (edge panels use a narrower kernel, so n = 10 costs one
/// 16-lane register, not 64); KC/MC/NC blocking keeps the panels in L1/L2/L3. Skinny problems read A in place
/// instead of packing it. The epilogue (alpha, beta, bias, ReLU, leaky ReLU) is applied while the tile is in
/// registers; sigmoid and tanh are applied with <see cref="ElementWise.Sigmoid{T}"/> and <see cref="ElementWise.Tanh{T}"/> to the tile's rows right after they are stored, so every fused epilogue gives exactly what the unfused layers give, NaN, ±∞ and −0 included.
/// </para>
/// <para>
/// Threads: up to <see cref="MaxThreads"/> participants (the caller plus persistent helper threads, no allocation
/// per call) split C in whole register tiles: by rows, or by column panels when C has few rows (a mini-batch), each
/// participant packing its own part of B. Each participant takes its own share of the chunks first and steals
/// only what is left, so a core keeps working on the same rows of a weight matrix from call to call (on machines
/// whose cores share no cache this decides whether two threads beat one). Every element of C is computed by the
/// same instructions in the same k order whatever the thread count, so results are deterministic and bit-identical
/// between 1 and 2 (or more) threads — and so is training, whose optimizer updates and batch gathers are split the
/// same way. Problems below about 2 MFLOP run on the calling thread.
/// Element types other than float and double run the scalar <see cref="GemmReference"/>.
/// </para>
/// </remarks>
public static class Gemm
{
    private static int _maxThreads = Math.Max(1, Environment.ProcessorCount);

    [ThreadStatic]
    private static int _threadsOverride;

    /// <summary>The instruction-set path this process uses (fixed at start-up by the JIT's view of the CPU).</summary>
    public static GemmPath Path
    {
        get
        {
            if (Avx512F.IsSupported)
            {
                return GemmPath.Avx512;
            }

            if (Vector256.IsHardwareAccelerated && Fma.IsSupported)
            {
                return GemmPath.Avx2;
            }

            return Vector.IsHardwareAccelerated ? GemmPath.Vector : GemmPath.Scalar;
        }
    }

    /// <summary>
    /// Most threads one multiplication may use (the caller plus helpers); default: the processor count.
    /// Set it to 1 for single-threaded runs.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside 1..256.</exception>
    public static int MaxThreads
    {
        get => Volatile.Read(ref _maxThreads);
        set
        {
            if (value < 1 || value > 256)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, $"MaxThreads must be in 1..256; received {value}");
            }

            Volatile.Write(ref _maxThreads, value);
        }
    }

    /// <summary>
    /// For tests and benchmarks: the thread count this thread's calls use instead of <see cref="MaxThreads"/>
    /// (0 = no override), without touching the process-wide setting.
    /// </summary>
    internal static int ThreadsOverride
    {
        get => _threadsOverride;
        set => _threadsOverride = value;
    }

    /// <summary>The thread count this thread's calls use: <see cref="ThreadsOverride"/> if set, else <see cref="MaxThreads"/>.</summary>
    internal static int EffectiveThreads => _threadsOverride > 0 ? _threadsOverride : MaxThreads;

    /// <summary>C = act(alpha·op(A)·op(B) + beta·C + bias). See <see cref="GemmReference.Multiply{T}"/> for the parameters.</summary>
    /// <param name="transA">Whether op(A) = Aᵀ; A is then stored (k, m).</param>
    /// <param name="transB">Whether op(B) = Bᵀ; B is then stored (n, k).</param>
    /// <param name="m">Rows of op(A) and C.</param>
    /// <param name="n">Columns of op(B) and C.</param>
    /// <param name="k">Columns of op(A), rows of op(B).</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="a">A, row-major with leading dimension <paramref name="lda"/>.</param>
    /// <param name="lda">Leading dimension of A (≥ its stored width).</param>
    /// <param name="b">B, row-major with leading dimension <paramref name="ldb"/>.</param>
    /// <param name="ldb">Leading dimension of B (≥ its stored width).</param>
    /// <param name="beta">Scale of the existing C; 0 means C is write-only (NaN in C does not propagate).</param>
    /// <param name="c">C (m, n), row-major with leading dimension <paramref name="ldc"/>.</param>
    /// <param name="ldc">Leading dimension of C (≥ n).</param>
    /// <param name="bias">Optional bias per output column (length n), or empty.</param>
    /// <param name="activation">Activation applied last.</param>
    /// <param name="slope">Leaky-ReLU slope.</param>
    /// <exception cref="ArgumentException">Negative sizes, leading dimensions below the width, spans too short, or a bias not of length n.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="transA"/>, <paramref name="transB"/> or <paramref name="activation"/> is not a member of its enum.</exception>
    public static unsafe void Multiply<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc,
        ReadOnlySpan<T> bias = default, FusedActivation activation = FusedActivation.Identity, T slope = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        GemmArguments.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc, bias.Length);
        GemmArguments.RequireDefined(activation, nameof(activation));
        if (m == 0 || n == 0)
        {
            return;
        }

        if (k == 0 || (typeof(T) != typeof(float) && typeof(T) != typeof(double)))
        {
            // No products to accumulate (or no SIMD path for this type): the scalar reference is exact and cheap.
            GemmReference.Multiply(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, activation, slope);
            return;
        }

        Run(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, activation, slope, default, Activation.Linear);
    }

    /// <summary>
    /// dZ_prev = (op(A)·op(B)) ⊙ g′(Aₚ): the product (alpha 1, beta 0, no bias) with each finished region multiplied in
    /// place by the derivative of <paramref name="derivativeOf"/> computed from the activation output
    /// <paramref name="activationOutput"/> (m, n, leading dimension <paramref name="ldc"/>), by the thread that computed
    /// it — the backward pass between two dense layers without a separate pass over dA. Each element equals
    /// <c>ActivationMath.Backward</c> of the plain product.
    /// </summary>
    /// <remarks>With a non-empty <paramref name="dropoutMask"/> D (same shape as C), each region is first multiplied
    /// by D: dZ_prev = ((dZ·W) ⊙ D) ⊙ g′(Aₚ), the backward pass through a dropout between the two layers.</remarks>
    internal static unsafe void MultiplyBackward<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc,
        Activation derivativeOf, ReadOnlySpan<T> activationOutput, T slope, ReadOnlySpan<T> dropoutMask = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        GemmArguments.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc, 0);
        if (activationOutput.Length < c.Length)
        {
            throw new ArgumentException($"the activation output has {activationOutput.Length} elements; C has {c.Length}", nameof(activationOutput));
        }

        if (!dropoutMask.IsEmpty && dropoutMask.Length < c.Length)
        {
            throw new ArgumentException($"the dropout mask has {dropoutMask.Length} elements; C has {c.Length}", nameof(dropoutMask));
        }

        if (m == 0 || n == 0)
        {
            return;
        }

        if (derivativeOf == Activation.Softmax)
        {
            throw new ArgumentException("softmax has no element-wise derivative", nameof(derivativeOf));
        }

        if (k == 0 || (typeof(T) != typeof(float) && typeof(T) != typeof(double)))
        {
            Multiply(transA, transB, m, n, k, T.One, a, lda, b, ldb, T.Zero, c, ldc);
            for (int r = 0; r < m; r++)
            {
                var row = c.Slice(r * ldc, n);
                if (!dropoutMask.IsEmpty)
                {
                    TP.Multiply(row, dropoutMask.Slice(r * ldc, n), row);
                }

                ActivationMath.Backward(derivativeOf, row, activationOutput.Slice(r * ldc, n), slope, row);
            }

            return;
        }

        Run(transA, transB, m, n, k, T.One, a, lda, b, ldb, T.Zero, c, ldc, default, FusedActivation.Identity, slope, activationOutput, derivativeOf, dropoutMask);
    }

    // The SIMD path of both plain-B entry points, arguments already checked: the problem as raw pointers, then dispatch.
    // derivative (empty for none) is the activation output whose g′ multiplies each finished region of C.
    private static unsafe void Run<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc,
        ReadOnlySpan<T> bias, FusedActivation activation, T slope, ReadOnlySpan<T> derivative, Activation derivativeOf, ReadOnlySpan<T> mask = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* pa = a, pb = b, pc = c, pbias = bias, pd = derivative, pm = mask)
        {
            var problem = new GemmProblem<T>
            {
                M = m,
                N = n,
                K = k,
                Alpha = alpha,
                Beta = beta,
                A = pa,
                Lda = lda,
                TransA = transA == Transpose.Transposed,
                B = pb,
                Ldb = ldb,
                TransB = transB == Transpose.Transposed,
                C = pc,
                Ldc = ldc,
                Bias = bias.IsEmpty ? null : pbias,
                Activation = activation,
                Slope = slope,
                Derivative = derivative.IsEmpty ? null : pd,
                LdDerivative = ldc,
                DerivativeOf = derivativeOf,
                Mask = mask.IsEmpty ? null : pm,
            };
            Dispatch(ref problem);
        }
    }

    /// <summary>
    /// Packs op(B) (k, n) once for repeated <see cref="Multiply{T}(Transpose, int, T, ReadOnlySpan{T}, int, GemmPackedB{T}, T, Span{T}, int, ReadOnlySpan{T}, FusedActivation, T)"/>
    /// calls with the same right-hand side (e.g. a Dense layer's Wᵀ at inference).
    /// </summary>
    /// <param name="transB">Whether op(B) = Bᵀ; B is then stored (n, k).</param>
    /// <param name="k">Rows of op(B).</param>
    /// <param name="n">Columns of op(B).</param>
    /// <param name="b">B, row-major with leading dimension <paramref name="ldb"/>.</param>
    /// <param name="ldb">Leading dimension of B (≥ its stored width).</param>
    /// <returns>The packed copy; later changes to <paramref name="b"/> do not affect it.</returns>
    /// <exception cref="ArgumentException">Negative sizes, a leading dimension below the width, or <paramref name="b"/> too short.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="transB"/> is not a member of <see cref="Transpose"/>.</exception>
    public static unsafe GemmPackedB<T> PackB<T>(Transpose transB, int k, int n, ReadOnlySpan<T> b, int ldb)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        GemmArguments.Validate(Transpose.None, transB, 1, n, k, Math.Max(k, 1), Math.Max(k, 1), b.Length, ldb, Math.Max(n, 1), Math.Max(n, 1), 0);
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
        {
            // No packed layout for this type: keep op(B) plainly as (k, n).
            var plain = new T[(long)k * n];
            for (int p = 0; p < k; p++)
            {
                for (int j = 0; j < n; j++)
                {
                    plain[((long)p * n) + j] = transB == Transpose.None ? b[(p * ldb) + j] : b[(j * ldb) + p];
                }
            }

            return new GemmPackedB<T>(k, n, plain, 0, 0);
        }

        int kc = GemmBlocking.BlockDepth(k);
        nint width = PackedWidthFor<T>(n);
        T[] data = GC.AllocateUninitializedArray<T>((int)checked(width * k), pinned: true);
        fixed (T* pb = b, pd = data)
        {
            bool t = transB == Transpose.Transposed;
            switch (Path)
            {
                case GemmPath.Avx512:
                    GemmDriver<Simd512<T>, Vector512<T>, T>.PackAll(t, k, n, pb, ldb, kc, pd);
                    break;
                case GemmPath.Avx2:
                    GemmDriver<Simd256<T>, Vector256<T>, T>.PackAll(t, k, n, pb, ldb, kc, pd);
                    break;
                case GemmPath.Vector:
                    GemmDriver<SimdVector<T>, Vector<T>, T>.PackAll(t, k, n, pb, ldb, kc, pd);
                    break;
                default:
                    GemmDriver<SimdScalar<T>, T, T>.PackAll(t, k, n, pb, ldb, kc, pd);
                    break;
            }
        }

        return new GemmPackedB<T>(k, n, data, kc, width);
    }

    /// <summary>C = act(alpha·op(A)·B + beta·C + bias) with B pre-packed by <see cref="PackB{T}"/>; n and k come from it.</summary>
    /// <param name="transA">Whether op(A) = Aᵀ; A is then stored (k, m).</param>
    /// <param name="m">Rows of op(A) and C.</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="a">A, row-major with leading dimension <paramref name="lda"/>.</param>
    /// <param name="lda">Leading dimension of A.</param>
    /// <param name="b">The packed right-hand side (k, n).</param>
    /// <param name="beta">Scale of the existing C; 0 means C is write-only.</param>
    /// <param name="c">C (m, n) with leading dimension <paramref name="ldc"/>.</param>
    /// <param name="ldc">Leading dimension of C.</param>
    /// <param name="bias">Optional bias per output column (length n), or empty.</param>
    /// <param name="activation">Activation applied last.</param>
    /// <param name="slope">Leaky-ReLU slope.</param>
    /// <exception cref="ArgumentException">A negative size, a leading dimension below the width, spans too short, or a bias not of length n.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="transA"/> or <paramref name="activation"/> is not a member of its enum.</exception>
    public static unsafe void Multiply<T>(
        Transpose transA, int m, T alpha, ReadOnlySpan<T> a, int lda, GemmPackedB<T> b,
        T beta, Span<T> c, int ldc,
        ReadOnlySpan<T> bias = default, FusedActivation activation = FusedActivation.Identity, T slope = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(b);
        int n = b.N, k = b.K;
        GemmArguments.Validate(transA, Transpose.None, m, n, k, a.Length, lda, Math.Max(b.N, 1) * (long)Math.Max(b.K, 1) > int.MaxValue ? int.MaxValue : Math.Max(b.N, 1) * Math.Max(b.K, 1), Math.Max(n, 1), c.Length, ldc, bias.Length);
        GemmArguments.RequireDefined(activation, nameof(activation));
        if (m == 0 || n == 0)
        {
            return;
        }

        if (k == 0 || b.KC == 0)
        {
            GemmReference.Multiply(transA, Transpose.None, m, n, k, alpha, a, lda, b.Data, Math.Max(n, 1), beta, c, ldc, bias, activation, slope);
            return;
        }

        fixed (T* pa = a, pb = b.Data, pc = c, pbias = bias)
        {
            var problem = new GemmProblem<T>
            {
                M = m,
                N = n,
                K = k,
                Alpha = alpha,
                Beta = beta,
                A = pa,
                Lda = lda,
                TransA = transA == Transpose.Transposed,
                C = pc,
                Ldc = ldc,
                Bias = bias.IsEmpty ? null : pbias,
                Activation = activation,
                Slope = slope,
                PackedB = pb,
                Prepacked = true,
                PackedWidth = b.Width,
            };
            Dispatch(ref problem, b.KC);
        }
    }

    private static nint PackedWidthFor<T>(int n)
        where T : unmanaged, IFloatingPointIeee754<T> => Path switch
        {
            GemmPath.Avx512 => GemmDriver<Simd512<T>, Vector512<T>, T>.PackedWidth(n),
            GemmPath.Avx2 => GemmDriver<Simd256<T>, Vector256<T>, T>.PackedWidth(n),
            GemmPath.Vector => GemmDriver<SimdVector<T>, Vector<T>, T>.PackedWidth(n),
            _ => GemmDriver<SimdScalar<T>, T, T>.PackedWidth(n),
        };

    private static void Dispatch<T>(ref GemmProblem<T> p, int kc = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        p.KC = kc > 0 ? kc : GemmBlocking.BlockDepth(p.K);
        p.MC = GemmBlocking.MC;
        p.NC = GemmBlocking.NC;
        int threads = EffectiveThreads;
        if (Avx512F.IsSupported)
        {
            Choose(ref p, GemmDriver<Simd512<T>, Vector512<T>, T>.NR);
            GemmDriver<Simd512<T>, Vector512<T>, T>.Multiply(ref p, threads);
        }
        else if (Vector256.IsHardwareAccelerated && Fma.IsSupported)
        {
            Choose(ref p, GemmDriver<Simd256<T>, Vector256<T>, T>.NR);
            GemmDriver<Simd256<T>, Vector256<T>, T>.Multiply(ref p, threads);
        }
        else if (Vector.IsHardwareAccelerated)
        {
            Choose(ref p, GemmDriver<SimdVector<T>, Vector<T>, T>.NR);
            GemmDriver<SimdVector<T>, Vector<T>, T>.Multiply(ref p, threads);
        }
        else
        {
            Choose(ref p, GemmDriver<SimdScalar<T>, T, T>.NR);
            GemmDriver<SimdScalar<T>, T, T>.Multiply(ref p, threads);
        }
    }

    // Ã pays for itself only when it is reused over several column panels.
    private static void Choose<T>(ref GemmProblem<T> p, int nr)
        where T : unmanaged => p.DirectA = (Math.Min(p.N, p.NC) + nr - 1) / nr <= GemmBlocking.DirectAMaxPanels;
}

/// <summary>Which instruction-set path <see cref="Gemm"/> runs on this machine.</summary>
public enum GemmPath
{
    /// <summary>No hardware intrinsics: scalar 6×2 register tiles.</summary>
    Scalar = 0,

    /// <summary>Portable <see cref="Vector{T}"/> (SSE/NEON width): 6×(2·Count) tiles.</summary>
    Vector = 1,

    /// <summary>AVX2 + FMA: 6×16 fp32 / 6×8 fp64 tiles.</summary>
    Avx2 = 2,

    /// <summary>AVX-512: 6×64 fp32 / 6×32 fp64 tiles.</summary>
    Avx512 = 3,
}

/// <summary>
/// op(B) (k, n) packed once in <see cref="Gemm"/>'s panel layout, for repeated multiplication by the same
/// right-hand side (e.g. Wᵀ of a Dense layer at inference). Create with <see cref="Gemm.PackB{T}"/>.
/// </summary>
/// <typeparam name="T">float or double (other types keep a plain copy and use the scalar reference).</typeparam>
public sealed class GemmPackedB<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    internal GemmPackedB(int k, int n, T[] data, int kc, nint width)
    {
        K = k;
        N = n;
        Data = data;
        KC = kc;
        Width = width;
    }

    /// <summary>Rows of op(B) (the shared dimension k).</summary>
    public int K { get; }

    /// <summary>Columns of op(B) (and of C).</summary>
    public int N { get; }

    internal T[] Data { get; }

    internal int KC { get; }

    internal nint Width { get; }
}
