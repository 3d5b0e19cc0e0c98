using DeepLearning.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>Forward passes: each records a node and computes its value.</summary>
public sealed partial class Tape<T>
{
    internal TapeNode<T> Binary(TapeOp op, string name, TapeNode<T> a, TapeNode<T> b)
    {
        Span<int> shape = stackalloc int[4];
        int rank = BroadcastShape(name, a.Value, b.Value, shape);
        var node = Record(op, name, a, b, shape[..rank]);
        ApplyBroadcast(op, a.Value, b.Value, node.Value);
        return node;
    }

    internal TapeNode<T> Scalar(TapeOp op, string name, TapeNode<T> a, T s)
    {
        var node = Record(op, name, a, null, a.Value.ShapeArray);
        node.S0 = s;
        var x = a.Value.ReadOnlySpan;
        var d = node.Value.Span;
        switch (op)
        {
            case TapeOp.AddScalar: TP.Add(x, s, d); break;
            case TapeOp.MultiplyScalar: TP.Multiply(x, s, d); break;
            case TapeOp.ScalarMinus: TP.Subtract(s, x, d); break;
            case TapeOp.DivideScalar: TP.Divide(x, s, d); break;
            default: TP.Divide(s, x, d); break;
        }

        return node;
    }

    internal TapeNode<T> MatMul(TapeNode<T> a, TapeNode<T> b, bool transA, bool transB)
    {
        const string Name = "MatMul";
        var av = a.Value;
        var bv = b.Value;
        if (av.Rank != 2 || bv.Rank != 2)
        {
            throw new ArgumentException($"{Name}: both operands must be rank-2 matrices; received {Shape(av)} and {Shape(bv)}");
        }

        int m = transA ? av.Dim(1) : av.Dim(0);
        int k = transA ? av.Dim(0) : av.Dim(1);
        int kb = transB ? bv.Dim(1) : bv.Dim(0);
        int n = transB ? bv.Dim(0) : bv.Dim(1);
        if (k != kb)
        {
            throw new ArgumentException($"{Name}: shapes {Shape(av)}{(transA ? "ᵀ" : string.Empty)} and {Shape(bv)}{(transB ? "ᵀ" : string.Empty)} do not chain: op(A) has {k} columns but op(B) has {kb} rows");
        }

        Span<int> shape = [m, n];
        var node = Record(TapeOp.MatMul, Name, a, b, shape);
        node.I0 = transA ? 1 : 0;
        node.I1 = transB ? 1 : 0;

        // C (m, n) = op(A) (m, k) · op(B) (k, n); transposes are GEMM flags, never copies.
        Gemm.Multiply(
            transA ? Transpose.Transposed : Transpose.None, transB ? Transpose.Transposed : Transpose.None, m, n, k,
            T.One, av.ReadOnlySpan, Math.Max(1, av.Dim(1)), bv.ReadOnlySpan, Math.Max(1, bv.Dim(1)),
            T.Zero, node.Value.Span, Math.Max(1, n));
        return node;
    }

    internal TapeNode<T> Sum(TapeNode<T> a, int? axis, bool mean)
    {
        var x = a.Value;
        if (axis is null)
        {
            Span<int> one = [1];
            var all = Record(TapeOp.SumAll, mean ? "Mean" : "Sum", a, null, one);
            // Mean = Σ / N, a true quotient as PyTorch's (Σ·(1/N) differs in the last bit); S0 is the divisor. The mean of
            // no elements is 0/0 = NaN, as torch.mean and numpy.mean give (not 0, which would pass for a real mean).
            all.S0 = mean ? T.CreateTruncating(x.Length) : T.One;
            all.Value[0] = TP.Sum(x.ReadOnlySpan) / all.S0;
            return all;
        }

        string name = mean ? "Mean" : "Sum";
        if (x.Rank != 2 || axis is not (0 or 1))
        {
            throw new ArgumentException($"{name}(axis: {axis}): a per-axis reduction needs a rank-2 tensor and axis 0 or 1; received shape {Shape(x)}");
        }

        int m = x.Dim(0);
        int n = x.Dim(1);
        Span<int> shape = axis == 0 ? [1, n] : [m, 1];
        var node = Record(axis == 0 ? TapeOp.SumAxis0 : TapeOp.SumAxis1, name, a, null, shape);
        node.S0 = mean ? T.CreateTruncating(axis == 0 ? m : n) : T.One; // a mean over 0 rows (or columns) is NaN, as above
        var d = node.Value.Span;
        if (axis == 0)
        {
            ElementWise.SumColumns(x.ReadOnlySpan, m, n, d);
        }
        else
        {
            ElementWise.SumRows(x.ReadOnlySpan, m, n, d);
        }

        if (mean)
        {
            TP.Divide(d, node.S0, d);
        }

        return node;
    }

    internal TapeNode<T> Unary(TapeOp op, string name, TapeNode<T> a, T s0 = default, T s1 = default)
    {
        var node = Record(op, name, a, null, a.Value.ShapeArray);
        node.S0 = s0;
        node.S1 = s1;
        var x = a.Value.ReadOnlySpan;
        var d = node.Value.Span;
        switch (op)
        {
            case TapeOp.Exp: TP.Exp(x, d); break;
            case TapeOp.Log: TP.Log(x, d); break;
            case TapeOp.Pow: Pow(x, s0, d); break;
            case TapeOp.Sqrt: TP.Sqrt(x, d); break;
            case TapeOp.Abs: TP.Abs(x, d); break;
            case TapeOp.Sigmoid: ElementWise.Sigmoid(x, d); break;
            case TapeOp.Tanh: ElementWise.Tanh(x, d); break;
            case TapeOp.ReLU: TP.Max(x, T.Zero, d); break;
            case TapeOp.LeakyReLU: ElementWise.LeakyRelu(x, s0, d); break;
            case TapeOp.Clip: TP.Clamp(x, s0, s1, d); break;
            case TapeOp.Softmax: Softmax(a.Value, node.Value); break;
            case TapeOp.LogSoftmax: LogSoftmax(a.Value, node.Value, node); break;
            default: throw new InvalidOperationException($"{op} is not a unary operation");
        }

        return node;
    }

    internal TapeNode<T> Rows(TapeNode<T> a, int start, int count)
    {
        var x = a.Value;
        if (start < 0 || count < 0 || start > x.RowCount - count)
        {
            throw new ArgumentOutOfRangeException(nameof(start), $"Rows: rows [{start}, {(long)start + count}) are outside a variable of shape {Shape(x)}");
        }

        Span<int> shape = stackalloc int[x.Rank];
        x.ShapeArray.CopyTo(shape);
        shape[0] = count;
        var node = Record(TapeOp.Rows, "Rows", a, null, shape);
        node.I0 = start;
        node.I1 = count;
        int width = x.RowLength;
        x.ReadOnlySpan.Slice(start * width, count * width).CopyTo(node.Value.Span);
        return node;
    }

    /// <summary>
    /// d = xᵖ as PyTorch's pow(tensor, scalar) computes it on the CPU: p = 0 gives 1, p = 1 a copy, and 2, 3, −1, −2,
    /// ½ and −½ the products x·x, x·x·x, 1/x, 1/(x·x), √x and 1/√x (which differ in the last bit from a pow call);
    /// other exponents call pow.
    /// </summary>
    internal static void Pow(ReadOnlySpan<T> x, T p, Span<T> d)
    {
        if (p == T.Zero)
        {
            d.Fill(T.One);
        }
        else if (p == T.One)
        {
            x.CopyTo(d);
        }
        else if (p == T.CreateTruncating(2))
        {
            TP.Multiply(x, x, d);
        }
        else if (p == T.CreateTruncating(3))
        {
            TP.Multiply(x, x, d);
            TP.Multiply(d, x, d);
        }
        else if (p == -T.One)
        {
            TP.Divide(T.One, x, d);
        }
        else if (p == T.CreateTruncating(-2))
        {
            TP.Multiply(x, x, d);
            TP.Divide(T.One, d, d);
        }
        else if (p == T.CreateTruncating(0.5))
        {
            TP.Sqrt(x, d);
        }
        else if (p == T.CreateTruncating(-0.5))
        {
            TP.Sqrt(x, d);
            TP.Divide(T.One, d, d);
        }
        else
        {
            TP.Pow(x, p, d);
        }
    }

    /// <summary>Row-wise softmax over the last dimension, shifted by each row's maximum so exp never overflows.</summary>
    private static void Softmax(Tensor<T> x, Tensor<T> y)
    {
        int n = LastDim(x);
        int m = n == 0 ? 0 : x.Length / n;
        ElementWise.SoftmaxRows(x.ReadOnlySpan, m, n, y.Span);
    }

    /// <summary>Row-wise log-softmax: x − max − ln Σ exp(x − max), never log 0.</summary>
    private static void LogSoftmax(Tensor<T> x, Tensor<T> y, TapeNode<T> node)
    {
        int n = LastDim(x);
        int m = n == 0 ? 0 : x.Length / n;
        var scratch = node.Aux(n).Span[..n];
        var xs = x.ReadOnlySpan;
        var ys = y.Span;
        for (int i = 0; i < m; i++)
        {
            var row = xs.Slice(i * n, n);
            var dst = ys.Slice(i * n, n);
            T max = TP.Max(row);
            TP.Subtract(row, max, dst);
            TP.Exp(dst, scratch);
            TP.Subtract(dst, T.Log(TP.Sum(scratch)), dst);
        }
    }

    internal static int LastDim(Tensor<T> x) => x.ShapeArray[^1];

    /// <summary>The broadcast result shape of two operands, or an exception naming the operation and both shapes.</summary>
    private static int BroadcastShape(string name, Tensor<T> a, Tensor<T> b, Span<int> shape)
    {
        var sa = a.ShapeArray;
        var sb = b.ShapeArray;
        if (sa.AsSpan().SequenceEqual(sb))
        {
            sa.CopyTo(shape);
            return sa.Length;
        }

        if (a.Length == 1 || b.Length == 1)
        {
            // A single element against anything. As in NumPy, the result has the higher rank, the other operand's
            // dimensions padded with leading 1s: (1, 1, 1) against (2, 3) gives (1, 2, 3), the same elements.
            var other = b.Length == 1 ? sa : sb;
            int rank = Math.Max(sa.Length, sb.Length);
            shape[..rank].Fill(1);
            other.CopyTo(shape[(rank - other.Length)..]);
            return rank;
        }

        if (sa.Length <= 2 && sb.Length <= 2)
        {
            var (ra, ca) = View(a);
            var (rb, cb) = View(b);
            if ((ra == rb || ra == 1 || rb == 1) && (ca == cb || ca == 1 || cb == 1))
            {
                int rows = ra == 1 ? rb : ra;
                int cols = ca == 1 ? cb : ca;
                if (sa.Length == 1 && sb.Length == 1)
                {
                    shape[0] = cols;
                    return 1;
                }

                shape[0] = rows;
                shape[1] = cols;
                return 2;
            }
        }

        throw new ArgumentException($"{name}: shapes {Shape(a)} and {Shape(b)} do not broadcast (each dimension must be equal or 1, e.g. (m, n) with (1, n), (n), (m, 1) or a single element)");
    }

    /// <summary>A tensor seen as a matrix for broadcasting: (n) is the row (1, n); rank ≥ 3 is (rows, rest).</summary>
    internal static (int Rows, int Cols) View(Tensor<T> t) =>
        t.Rank == 1 ? (1, t.Length) : t.Length == 1 ? (1, 1) : (t.RowCount, t.RowLength);

    /// <summary>d = a ∘ b with broadcasting; d has the broadcast shape.</summary>
    internal static void ApplyBroadcast(TapeOp op, Tensor<T> a, Tensor<T> b, Tensor<T> d)
    {
        var x = a.ReadOnlySpan;
        var y = b.ReadOnlySpan;
        var z = d.Span;
        if (x.Length == z.Length && y.Length == z.Length)
        {
            Apply(op, x, y, z);
            return;
        }

        if (y.Length == 1 && x.Length == z.Length)
        {
            Apply(op, x, y[0], z);
            return;
        }

        if (x.Length == 1 && y.Length == z.Length)
        {
            Apply(op, x[0], y, z);
            return;
        }

        var (ra, ca) = View(a);
        var (rb, cb) = View(b);
        var (rows, cols) = View(d);
        for (int i = 0; i < rows; i++)
        {
            var xr = x.Slice((ra == 1 ? 0 : i) * ca, ca);
            var yr = y.Slice((rb == 1 ? 0 : i) * cb, cb);
            var zr = z.Slice(i * cols, cols);
            if (ca == cols && cb == cols)
            {
                Apply(op, xr, yr, zr);
            }
            else if (ca == cols)
            {
                Apply(op, xr, yr[0], zr);
            }
            else if (cb == cols)
            {
                Apply(op, xr[0], yr, zr);
            }
            else
            {
                zr.Fill(Apply(op, xr[0], yr[0]));
            }
        }
    }

    private static void Apply(TapeOp op, ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d)
    {
        switch (op)
        {
            case TapeOp.Add: TP.Add(x, y, d); break;
            case TapeOp.Subtract: TP.Subtract(x, y, d); break;
            case TapeOp.Multiply: TP.Multiply(x, y, d); break;
            default: TP.Divide(x, y, d); break;
        }
    }

    private static void Apply(TapeOp op, ReadOnlySpan<T> x, T y, Span<T> d)
    {
        switch (op)
        {
            case TapeOp.Add: TP.Add(x, y, d); break;
            case TapeOp.Subtract: TP.Subtract(x, y, d); break;
            case TapeOp.Multiply: TP.Multiply(x, y, d); break;
            default: TP.Divide(x, y, d); break;
        }
    }

    private static void Apply(TapeOp op, T x, ReadOnlySpan<T> y, Span<T> d)
    {
        switch (op)
        {
            case TapeOp.Add: TP.Add(y, x, d); break;
            case TapeOp.Subtract: TP.Subtract(x, y, d); break;
            case TapeOp.Multiply: TP.Multiply(y, x, d); break;
            default: TP.Divide(x, y, d); break;
        }
    }

    private static T Apply(TapeOp op, T x, T y) => op switch
    {
        TapeOp.Add => x + y,
        TapeOp.Subtract => x - y,
        TapeOp.Multiply => x * y,
        _ => x / y,
    };
}
