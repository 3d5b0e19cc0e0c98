using System.Numerics;
using DeepLearning.Kernels;

namespace DeepLearning;

/// <summary>
/// Element-wise and reduction operations on tensors. Each takes an optional destination; when it is
/// omitted a new tensor is allocated. Binary operations accept either two tensors of the same shape or,
/// for row broadcasting, a (m, n) tensor and a rank-1 tensor of length n (a bias vector), which is added
/// to every row as in Z = A·Wᵀ + b.
/// </summary>
public static class TensorMath
{
    /// <summary>x + y (same shape, or y a row vector broadcast over x's rows).</summary>
    public static Tensor<T> Add<T>(Tensor<T> x, Tensor<T> y, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T> => Broadcast(x, y, destination, BinaryKind.Add);

    /// <summary>x − y (same shape, or y a row vector broadcast over x's rows).</summary>
    public static Tensor<T> Subtract<T>(Tensor<T> x, Tensor<T> y, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T> => Broadcast(x, y, destination, BinaryKind.Subtract);

    /// <summary>x ⊙ y (same shape, or y a row vector broadcast over x's rows).</summary>
    public static Tensor<T> Multiply<T>(Tensor<T> x, Tensor<T> y, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T> => Broadcast(x, y, destination, BinaryKind.Multiply);

    /// <summary>s·x.</summary>
    public static Tensor<T> Scale<T>(Tensor<T> x, T s, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var d = Dest(x, destination);
        ElementWise.Scale(x.ReadOnlySpan, s, d.Span);
        return d;
    }

    /// <summary>eˣ.</summary>
    public static Tensor<T> Exp<T>(Tensor<T> x, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var d = Dest(x, destination);
        ElementWise.Exp(x.ReadOnlySpan, d.Span);
        return d;
    }

    /// <summary>ln x.</summary>
    public static Tensor<T> Log<T>(Tensor<T> x, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var d = Dest(x, destination);
        ElementWise.Log(x.ReadOnlySpan, d.Span);
        return d;
    }

    /// <summary>σ(x) = 1 / (1 + e⁻ˣ).</summary>
    public static Tensor<T> Sigmoid<T>(Tensor<T> x, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var d = Dest(x, destination);
        ElementWise.Sigmoid(x.ReadOnlySpan, d.Span);
        return d;
    }

    /// <summary>tanh x.</summary>
    public static Tensor<T> Tanh<T>(Tensor<T> x, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var d = Dest(x, destination);
        ElementWise.Tanh(x.ReadOnlySpan, d.Span);
        return d;
    }

    /// <summary>max(0, x).</summary>
    public static Tensor<T> Relu<T>(Tensor<T> x, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var d = Dest(x, destination);
        ElementWise.Relu(x.ReadOnlySpan, d.Span);
        return d;
    }

    /// <summary>x if x &gt; 0, else slope·x.</summary>
    public static Tensor<T> LeakyRelu<T>(Tensor<T> x, T slope, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var d = Dest(x, destination);
        ElementWise.LeakyRelu(x.ReadOnlySpan, slope, d.Span);
        return d;
    }

    /// <summary>min(max(x, lo), hi).</summary>
    public static Tensor<T> Clip<T>(Tensor<T> x, T lo, T hi, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var d = Dest(x, destination);
        ElementWise.Clip(x.ReadOnlySpan, lo, hi, d.Span);
        return d;
    }

    /// <summary>ReLU derivative applied to an upstream gradient: dZ = dA ⊙ 1[Z &gt; 0].</summary>
    public static Tensor<T> ReluBackward<T>(Tensor<T> dA, Tensor<T> z, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Tensor<T>.RequireSameShape(dA, z, nameof(z));
        var d = Dest(dA, destination);
        ElementWise.ReluBackward(dA.ReadOnlySpan, z.ReadOnlySpan, d.Span);
        return d;
    }

    /// <summary>Leaky-ReLU derivative: dZ = dA ⊙ (Z &gt; 0 ? 1 : slope).</summary>
    public static Tensor<T> LeakyReluBackward<T>(Tensor<T> dA, Tensor<T> z, T slope, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Tensor<T>.RequireSameShape(dA, z, nameof(z));
        var d = Dest(dA, destination);
        ElementWise.LeakyReluBackward(dA.ReadOnlySpan, z.ReadOnlySpan, slope, d.Span);
        return d;
    }

    /// <summary>Sigmoid derivative from its output: dZ = dA ⊙ A ⊙ (1 − A).</summary>
    public static Tensor<T> SigmoidBackward<T>(Tensor<T> dA, Tensor<T> a, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Tensor<T>.RequireSameShape(dA, a, nameof(a));
        var d = Dest(dA, destination);
        ElementWise.SigmoidBackward(dA.ReadOnlySpan, a.ReadOnlySpan, d.Span);
        return d;
    }

    /// <summary>Tanh derivative from its output: dZ = dA ⊙ (1 − A²).</summary>
    public static Tensor<T> TanhBackward<T>(Tensor<T> dA, Tensor<T> a, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Tensor<T>.RequireSameShape(dA, a, nameof(a));
        var d = Dest(dA, destination);
        ElementWise.TanhBackward(dA.ReadOnlySpan, a.ReadOnlySpan, d.Span);
        return d;
    }

    /// <summary>Row-wise softmax of a (m, n) tensor, stable for large inputs (the row maximum is subtracted first).</summary>
    public static Tensor<T> SoftmaxRows<T>(Tensor<T> x, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var d = Dest(x, destination);
        ElementWise.SoftmaxRows(x.ReadOnlySpan, x.RowCount, x.RowLength, d.Span);
        return d;
    }

    /// <summary>
    /// Sum of a rank-2 tensor along <paramref name="axis"/>: axis 0 sums over rows (examples) giving (n),
    /// axis 1 sums over columns giving (m).
    /// </summary>
    public static Tensor<T> Sum<T>(Tensor<T> x, int axis)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        RequireMatrix(x);
        if (axis == 0)
        {
            var r = new Tensor<T>(x.Dim(1));
            ElementWise.SumColumns(x.ReadOnlySpan, x.Dim(0), x.Dim(1), r.Span);
            return r;
        }

        if (axis == 1)
        {
            var r = new Tensor<T>(x.Dim(0));
            ElementWise.SumRows(x.ReadOnlySpan, x.Dim(0), x.Dim(1), r.Span);
            return r;
        }

        throw new ArgumentOutOfRangeException(nameof(axis), axis, $"axis must be 0 or 1 for a tensor of shape {x.ShapeText}; received {axis}");
    }

    /// <summary>Sum of every element.</summary>
    public static T Sum<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        return ElementWise.Sum(x.ReadOnlySpan);
    }

    /// <summary>Per-row maximum of a (m, n) tensor, giving (m).</summary>
    public static Tensor<T> MaxPerRow<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        var r = new Tensor<T>(x.RowCount);
        ElementWise.MaxPerRow(x.ReadOnlySpan, x.RowCount, x.RowLength, r.Span);
        return r;
    }

    /// <summary>Per-row index of the maximum of a (m, n) tensor (first on ties): the predicted class.</summary>
    public static int[] ArgMaxPerRow<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        var r = new int[x.RowCount];
        ElementWise.ArgMaxPerRow(x.ReadOnlySpan, x.RowCount, x.RowLength, r);
        return r;
    }

    /// <summary>
    /// op(A)·op(B) into a new (or the given) (m, n) tensor, through <see cref="Gemm"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The inner dimensions do not match; the message names both shapes.</exception>
    public static Tensor<T> MatMul<T>(Tensor<T> a, Tensor<T> b, Transpose transA = Transpose.None, Transpose transB = Transpose.None, Tensor<T>? destination = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        RequireMatrix(a);
        RequireMatrix(b);
        int m = transA == Transpose.None ? a.Dim(0) : a.Dim(1);
        int k = transA == Transpose.None ? a.Dim(1) : a.Dim(0);
        int kb = transB == Transpose.None ? b.Dim(0) : b.Dim(1);
        int n = transB == Transpose.None ? b.Dim(1) : b.Dim(0);
        if (k != kb)
        {
            throw new ArgumentException($"inner dimensions differ: op(A) of {a.ShapeText}{(transA == Transpose.Transposed ? "ᵀ" : string.Empty)} has {k} columns, op(B) of {b.ShapeText}{(transB == Transpose.Transposed ? "ᵀ" : string.Empty)} has {kb} rows");
        }

        var c = destination ?? new Tensor<T>(m, n);
        if (c.Rank != 2 || c.Dim(0) != m || c.Dim(1) != n)
        {
            throw new ArgumentException($"destination must be ({m}, {n}); received {c.ShapeText}", nameof(destination));
        }

        Gemm.Multiply(transA, transB, m, n, k, T.One, a.ReadOnlySpan, Math.Max(1, a.Dim(1)), b.ReadOnlySpan, Math.Max(1, b.Dim(1)), T.Zero, c.Span, Math.Max(1, n));
        return c;
    }

    private enum BinaryKind
    {
        Add,
        Subtract,
        Multiply,
    }

    private static Tensor<T> Broadcast<T>(Tensor<T> x, Tensor<T> y, Tensor<T>? destination, BinaryKind kind)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        var d = Dest(x, destination);
        if (x.SameShape(y))
        {
            switch (kind)
            {
                case BinaryKind.Add: ElementWise.Add(x.ReadOnlySpan, y.ReadOnlySpan, d.Span); break;
                case BinaryKind.Subtract: ElementWise.Subtract(x.ReadOnlySpan, y.ReadOnlySpan, d.Span); break;
                default: ElementWise.Multiply(x.ReadOnlySpan, y.ReadOnlySpan, d.Span); break;
            }

            return d;
        }

        if (y.Rank == 1 && x.Rank >= 2 && y.Length == x.RowLength)
        {
            int m = x.RowCount;
            int n = x.RowLength;
            switch (kind)
            {
                case BinaryKind.Add: ElementWise.AddRowVector(x.ReadOnlySpan, m, n, y.ReadOnlySpan, d.Span); break;
                case BinaryKind.Subtract: ElementWise.SubtractRowVector(x.ReadOnlySpan, m, n, y.ReadOnlySpan, d.Span); break;
                default: ElementWise.MultiplyRowVector(x.ReadOnlySpan, m, n, y.ReadOnlySpan, d.Span); break;
            }

            return d;
        }

        throw new ArgumentException($"shapes {x.ShapeText} and {y.ShapeText} are not compatible: they must be equal, or the second a row vector of length {x.RowLength}", nameof(y));
    }

    private static Tensor<T> Dest<T>(Tensor<T> x, Tensor<T>? destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        if (destination is null)
        {
            return new Tensor<T>(x.ShapeArray);
        }

        Tensor<T>.RequireSameShape(x, destination, nameof(destination));
        return destination;
    }

    private static void RequireMatrix<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Rank != 2)
        {
            throw new ArgumentException($"expected a rank-2 tensor; received shape {x.ShapeText}");
        }
    }
}
