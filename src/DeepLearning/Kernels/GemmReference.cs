using System.Numerics;

namespace DeepLearning.Kernels;

/// <summary>
/// The scalar, obviously-correct GEMM: C = act(alpha·op(A)·op(B) + beta·C + bias).
/// It is the oracle the fast <see cref="Gemm"/> is tested against; never used on the hot path.
/// </summary>
/// <remarks>
/// Row-major storage with leading dimensions: element (i, j) of a matrix X with leading dimension
/// ldx is X[i·ldx + j]. op(A) is (m, k), op(B) is (k, n), C is (m, n). When beta = 0, C is not read
/// (NaN already in C does not propagate). Accumulates in the element type.
/// </remarks>
public static class GemmReference
{
    /// <summary>C = act(alpha·op(A)·op(B) + beta·C + bias), scalar triple loop.</summary>
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
    /// <param name="beta">Scale of the existing C; 0 means C is write-only.</param>
    /// <param name="c">C (m, n), row-major with leading dimension <paramref name="ldc"/>.</param>
    /// <param name="ldc">Leading dimension of C (≥ n).</param>
    /// <param name="bias">Optional bias per output column (length n), or empty.</param>
    /// <param name="activation">Activation applied last.</param>
    /// <param name="slope">Leaky-ReLU slope.</param>
    public static void Multiply<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc,
        ReadOnlySpan<T> bias = default, FusedActivation activation = FusedActivation.Identity, T slope = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        GemmArguments.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc, bias.Length);
        GemmArguments.RequireDefined(activation, nameof(activation));
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                T sum = T.Zero;
                for (int p = 0; p < k; p++)
                {
                    T av = transA == Transpose.None ? a[(i * lda) + p] : a[(p * lda) + i];
                    T bv = transB == Transpose.None ? b[(p * ldb) + j] : b[(j * ldb) + p];
                    sum += av * bv;
                }

                T z = alpha * sum;
                if (beta != T.Zero)
                {
                    z += beta * c[(i * ldc) + j];
                }

                if (!bias.IsEmpty)
                {
                    z += bias[j];
                }

                c[(i * ldc) + j] = Activate(z, activation, slope);
            }
        }
    }

    /// <summary>
    /// The scalar activation used by every epilogue. Special values follow the ReLU layer (max(z, 0)) and PyTorch:
    /// NaN stays NaN in every activation; ReLU maps −0 to +0 and −∞ to 0; leaky ReLU keeps −0.
    /// </summary>
    public static T Activate<T>(T z, FusedActivation activation, T slope)
        where T : unmanaged, IFloatingPointIeee754<T> => activation switch
        {
            FusedActivation.Identity => z,
            FusedActivation.ReLU => z <= T.Zero ? T.Zero : z,
            FusedActivation.LeakyReLU => z > T.Zero ? z : slope * z,
            FusedActivation.Sigmoid => T.One / (T.One + T.Exp(-z)),
            FusedActivation.Tanh => T.Tanh(z),
            _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "unknown activation"),
        };
}

/// <summary>Argument checks shared by every GEMM entry point, so a bad call fails with a clear message.</summary>
internal static class GemmArguments
{
    public static void Validate(
        Transpose transA, Transpose transB, int m, int n, int k,
        int aLength, int lda, int bLength, int ldb, int cLength, int ldc, int biasLength)
    {
        // The checks below and the kernels must read the same layout: an undefined value would be checked as one and read as the other.
        RequireDefined(transA, nameof(transA));
        RequireDefined(transB, nameof(transB));
        if (m < 0 || n < 0 || k < 0)
        {
            throw new ArgumentException($"GEMM sizes must be non-negative; received m = {m}, n = {n}, k = {k}");
        }

        (int aRows, int aCols) = transA == Transpose.None ? (m, k) : (k, m);
        (int bRows, int bCols) = transB == Transpose.None ? (k, n) : (n, k);
        Check("A", transA, aRows, aCols, aLength, lda);
        Check("B", transB, bRows, bCols, bLength, ldb);
        Check("C", Transpose.None, m, n, cLength, ldc);
        if (biasLength != 0 && biasLength != n)
        {
            throw new ArgumentException($"bias must have n = {n} elements (one per output column); received {biasLength}");
        }
    }

    /// <summary>Throws unless the activation is one of <see cref="FusedActivation"/>'s members.</summary>
    public static void RequireDefined(FusedActivation activation, string name)
    {
        if (activation is < FusedActivation.Identity or > FusedActivation.Tanh)
        {
            throw new ArgumentOutOfRangeException(name, activation, $"{name} must be a FusedActivation member (Identity, ReLU, LeakyReLU, Sigmoid, Tanh); received {(int)activation}");
        }
    }

    private static void RequireDefined(Transpose t, string name)
    {
        if (t is not (Transpose.None or Transpose.Transposed))
        {
            throw new ArgumentOutOfRangeException(name, t, $"{name} must be Transpose.None or Transpose.Transposed; received {(int)t}");
        }
    }

    private static void Check(string name, Transpose t, int rows, int cols, int length, int ld)
    {
        if (ld < Math.Max(1, cols))
        {
            throw new ArgumentException($"leading dimension of {name} must be at least {Math.Max(1, cols)} (its stored width{(t == Transpose.Transposed ? ", transposed" : string.Empty)}); received {ld}");
        }

        if (rows > 0 && cols > 0 && length < ((long)(rows - 1) * ld) + cols)
        {
            throw new ArgumentException($"{name} is stored ({rows}, {cols}) with leading dimension {ld} and needs {((long)(rows - 1) * ld) + cols} elements; received {length}");
        }
    }
}
