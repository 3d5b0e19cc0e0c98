using System.Numerics;

namespace DeepLearning.Kernels;

/// <summary>
/// General matrix multiply with a fused epilogue:
/// C = act(alpha·op(A)·op(B) + beta·C + bias), op ∈ {X, Xᵀ}, row-major with leading dimensions.
/// </summary>
/// <remarks>
/// Shapes: op(A) is (m, k), op(B) is (k, n), C is (m, n), bias is (n) or empty. A stored transposed
/// is (k, m); B stored transposed is (n, k). When beta = 0, C is never read. A Dense layer's forward
/// pass Z = A·Wᵀ + b is <c>Multiply(None, Transposed, m, n[l], n[l-1], 1, A, W, 0, Z, bias: b)</c>.
/// </remarks>
public static class Gemm
{
    /// <summary>C = act(alpha·op(A)·op(B) + beta·C + bias). See <see cref="GemmReference.Multiply{T}"/> for the parameters.</summary>
    public static void Multiply<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc,
        ReadOnlySpan<T> bias = default, FusedActivation activation = FusedActivation.Identity, T slope = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        GemmReference.Multiply(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, activation, slope);
    }
}
