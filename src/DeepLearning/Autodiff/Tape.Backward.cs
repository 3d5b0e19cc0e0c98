using DeepLearning.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// Backward passes. Each node's gradient g = ∂J/∂node is turned into its inputs' gradients by the chain rule; the
/// first contribution to an intermediate gradient overwrites it, later ones add to it, and a leaf's gradient is
/// always added to (PyTorch's accumulation).
/// </summary>
public sealed partial class Tape<T>
{
    internal void Backward(TapeNode<T> root, Tensor<T>? seed, bool retainGraph)
    {
        CheckNotReleased(root);
        if (!root.RequiresGrad)
        {
            throw new InvalidOperationException("Backward: the root does not depend on any variable that requires a gradient (make a leaf with tape.Variable or tape.Parameter, or a constant with requiresGrad: true)");
        }

        if (seed is null)
        {
            if (root.Value.Length != 1)
            {
                throw new InvalidOperationException($"Backward() without a seed needs a scalar root (one element), e.g. a cost J; this root has shape {Shape(root.Value)}. Reduce it (Sum, Mean) or pass the seed gradient ∂J/∂root of shape {Shape(root.Value)}");
            }
        }
        else if (!seed.SameShape(root.Value))
        {
            throw new ArgumentException($"Backward: the seed gradient has shape {Shape(seed)} but the root has shape {Shape(root.Value)}", nameof(seed));
        }

        // Every node recorded so far, not only up to the root: one recorded after it keeps the flag of an earlier pass
        // (retainGraph), and its Grad would show that pass's gradient.
        for (int i = 0; i < _count; i++)
        {
            _nodes[i].Reached = false;
        }

        if (root.IsLeaf)
        {
            AddSeed(root.EnsureGrad(), seed);
            return;
        }

        int last = root.Index;

        var g = root.EnsureGrad();
        if (seed is null)
        {
            g.Fill(T.One);
        }
        else
        {
            seed.CopyTo(g);
        }

        root.Reached = true;
        for (int i = last; i >= 0; i--)
        {
            var node = _nodes[i];
            if (node.Reached && node.RequiresGrad && node.A is not null)
            {
                Propagate(node);
            }
        }

        ReleaseAfterBackward(root, retainGraph);
    }

    private static void AddSeed(Tensor<T> grad, Tensor<T>? seed)
    {
        if (seed is null)
        {
            TP.Add(grad.Span, T.One, grad.Span);
        }
        else
        {
            TP.Add(grad.Span, seed.ReadOnlySpan, grad.Span);
        }
    }

    private static void Propagate(TapeNode<T> node)
    {
        var a = node.A!;
        var g = node.Grad!;
        switch (node.Op)
        {
            case TapeOp.Add:
            case TapeOp.Subtract:
            case TapeOp.Multiply:
            case TapeOp.Divide:
                BinaryBackward(node);
                return;
            case TapeOp.MatMul:
                MatMulBackward(node);
                return;
            case TapeOp.AddScalar:
                AccumulateScaled(a, g.ReadOnlySpan, T.One);
                return;
            case TapeOp.MultiplyScalar:
                AccumulateScaled(a, g.ReadOnlySpan, node.S0);
                return;
            case TapeOp.ScalarMinus:
                AccumulateScaled(a, g.ReadOnlySpan, -T.One);
                return;
            case TapeOp.SumAll:
            case TapeOp.SumAxis0:
            case TapeOp.SumAxis1:
                SumBackward(node);
                return;
            case TapeOp.Rows:
                RowsBackward(node);
                return;
        }

        // Element-wise and row-wise ops: the local gradient goes straight into a's gradient (first contribution)
        // or into scratch and is then added.
        if (!a.RequiresGrad)
        {
            return;
        }

        bool add = Begin(a);
        var target = add ? node.Scratch : a.EnsureGrad();
        var dst = target.Span;
        var gs = g.ReadOnlySpan;
        var x = a.Value.ReadOnlySpan;
        var y = node.Value.ReadOnlySpan;
        switch (node.Op)
        {
            case TapeOp.DivideScalar:
                // y = x/s: dx = g/s, a true quotient as PyTorch's (not g·(1/s), which differs in the last bit)
                TP.Divide(gs, node.S0, dst);
                break;
            case TapeOp.ScalarDivide:
                // y = s/x: dx = −g·y/x
                TP.Multiply(gs, y, dst);
                TP.Divide(dst, x, dst);
                TP.Negate(dst, dst);
                break;
            case TapeOp.Exp:
                TP.Multiply(gs, y, dst);
                break;
            case TapeOp.Log:
                TP.Divide(gs, x, dst);
                break;
            case TapeOp.Pow:
                // y = x^p: dx = g·p·x^(p−1); for p = 0 the gradient is 0 everywhere, even at x = 0 where
                // p·x^(p−1) would be 0·∞ = NaN (PyTorch's pow_backward special-cases it the same way).
                if (node.S0 == T.Zero)
                {
                    dst.Clear();
                    break;
                }

                Pow(x, node.S0 - T.One, dst);
                TP.Multiply(dst, node.S0, dst);
                TP.Multiply(dst, gs, dst);
                break;
            case TapeOp.Sqrt:
                // y = √x: dx = g/(2y), one rounding as PyTorch's ((g/y)·½ rounds twice when the quotient is subnormal)
                TP.Multiply(y, T.CreateTruncating(2), dst);
                TP.Divide(gs, dst, dst);
                break;
            case TapeOp.Abs:
                for (int i = 0; i < dst.Length; i++)
                {
                    dst[i] = x[i] > T.Zero ? gs[i] : x[i] < T.Zero ? -gs[i] : T.Zero;
                }

                break;
            case TapeOp.Sigmoid:
                ElementWise.SigmoidBackward(gs, y, dst);
                break;
            case TapeOp.Tanh:
                ElementWise.TanhBackward(gs, y, dst);
                break;
            case TapeOp.ReLU:
                ElementWise.ReluBackward(gs, x, dst);
                break;
            case TapeOp.LeakyReLU:
                ElementWise.LeakyReluBackward(gs, x, node.S0, dst);
                break;
            case TapeOp.Clip:
                // The gradient passes where lo ≤ x ≤ hi (PyTorch's clamp), and is 0 where x was clipped.
                for (int i = 0; i < dst.Length; i++)
                {
                    dst[i] = x[i] >= node.S0 && x[i] <= node.S1 ? gs[i] : T.Zero;
                }

                break;
            case TapeOp.Softmax:
                SoftmaxBackward(gs, y, dst, LastDim(node.Value));
                break;
            case TapeOp.LogSoftmax:
                LogSoftmaxBackward(gs, y, dst, LastDim(node.Value));
                break;
            default:
                throw new InvalidOperationException($"no backward pass for {node.Op}");
        }

        if (add)
        {
            var grad = a.EnsureGrad().Span;
            TP.Add(grad, dst, grad);
        }
    }

    /// <summary>True when <paramref name="input"/>'s gradient already holds a contribution (add to it); otherwise marks it reached (overwrite it).</summary>
    private static bool Begin(TapeNode<T> input)
    {
        if (input.IsLeaf || input.Reached)
        {
            return true;
        }

        input.Reached = true;
        return false;
    }

    /// <summary>input.grad (+)= s·g, where g has input's number of elements.</summary>
    private static void AccumulateScaled(TapeNode<T> input, ReadOnlySpan<T> g, T s)
    {
        if (!input.RequiresGrad)
        {
            return;
        }

        bool add = Begin(input);
        var grad = input.EnsureGrad().Span;
        if (add)
        {
            TP.MultiplyAdd(g, s, grad, grad);
        }
        else if (s == T.One)
        {
            g.CopyTo(grad);
        }
        else
        {
            TP.Multiply(g, s, grad);
        }
    }

    /// <summary>
    /// input.grad (+)= s·(the full-size local gradient summed over the dimensions input was broadcast along).
    /// <paramref name="full"/> has the node's (broadcast) shape (rows, cols).
    /// </summary>
    private static void Reduce(TapeNode<T> input, ReadOnlySpan<T> full, int rows, int cols, T s)
    {
        if (full.Length == input.Value.Length)
        {
            AccumulateScaled(input, full, s);
            return;
        }

        bool add = Begin(input);
        var grad = input.EnsureGrad().Span;
        if (!add)
        {
            grad.Clear();
        }

        var (r, c) = View(input.Value);
        if (r == 1 && c == cols)
        {
            for (int i = 0; i < rows; i++)
            {
                TP.MultiplyAdd(full.Slice(i * cols, cols), s, grad, grad);
            }
        }
        else if (r == rows && c == 1)
        {
            for (int i = 0; i < rows; i++)
            {
                grad[i] += s * TP.Sum(full.Slice(i * cols, cols));
            }
        }
        else
        {
            grad[0] += s * TP.Sum(full);
        }
    }

    private static void BinaryBackward(TapeNode<T> node)
    {
        var a = node.A!;
        var b = node.B!;
        var g = node.Grad!;
        var (rows, cols) = View(node.Value);
        switch (node.Op)
        {
            case TapeOp.Add:
                Reduce(a, g.ReadOnlySpan, rows, cols, T.One);
                Reduce(b, g.ReadOnlySpan, rows, cols, T.One);
                return;
            case TapeOp.Subtract:
                Reduce(a, g.ReadOnlySpan, rows, cols, T.One);
                Reduce(b, g.ReadOnlySpan, rows, cols, -T.One);
                return;
            case TapeOp.Multiply:
                // d(a⊙b)/da = b, d(a⊙b)/db = a
                Local(node, a, TapeOp.Multiply, b.Value, rows, cols, T.One);
                Local(node, b, TapeOp.Multiply, a.Value, rows, cols, T.One);
                return;
            default:
                // y = a/b: da = g/b; db = −g·y/b
                Local(node, a, TapeOp.Divide, b.Value, rows, cols, T.One);
                if (b.RequiresGrad)
                {
                    var scratch = node.Scratch;
                    TP.Multiply(g.ReadOnlySpan, node.Value.ReadOnlySpan, scratch.Span);
                    ApplyBroadcast(TapeOp.Divide, scratch, b.Value, scratch);
                    Reduce(b, scratch.ReadOnlySpan, rows, cols, -T.One);
                }

                return;
        }
    }

    /// <summary>input.grad (+)= s·reduce(g ∘ other), with other broadcast to the node's shape.</summary>
    private static void Local(TapeNode<T> node, TapeNode<T> input, TapeOp op, Tensor<T> other, int rows, int cols, T s)
    {
        if (!input.RequiresGrad)
        {
            return;
        }

        var g = node.Grad!;
        if (input.Value.Length == g.Length && other.Length == g.Length && s == T.One)
        {
            bool add = Begin(input);
            var grad = input.EnsureGrad().Span;
            if (op == TapeOp.Multiply)
            {
                if (add)
                {
                    TP.MultiplyAdd(g.ReadOnlySpan, other.ReadOnlySpan, grad, grad);
                }
                else
                {
                    TP.Multiply(g.ReadOnlySpan, other.ReadOnlySpan, grad);
                }

                return;
            }

            if (!add)
            {
                TP.Divide(g.ReadOnlySpan, other.ReadOnlySpan, grad);
                return;
            }
        }

        var scratch = node.Scratch;
        ApplyBroadcast(op, g, other, scratch);
        Reduce(input, scratch.ReadOnlySpan, rows, cols, s);
    }

    private static void MatMulBackward(TapeNode<T> node)
    {
        var a = node.A!;
        var b = node.B!;
        var g = node.Grad!;
        bool transA = node.I0 != 0;
        bool transB = node.I1 != 0;
        var av = a.Value;
        var bv = b.Value;
        int m = g.Dim(0);
        int n = g.Dim(1);
        int k = transA ? av.Dim(0) : av.Dim(1);
        int lda = Math.Max(1, av.Dim(1));
        int ldb = Math.Max(1, bv.Dim(1));
        int ldg = Math.Max(1, n);
        const Transpose N = Transpose.None;
        const Transpose Tr = Transpose.Transposed;
        if (a.RequiresGrad)
        {
            T beta = Begin(a) ? T.One : T.Zero;
            var da = a.EnsureGrad().Span;
            if (!transA)
            {
                // dA (m, k) = G (m, n) · op(B)ᵀ (n, k)
                Gemm.Multiply(N, transB ? N : Tr, m, k, n, T.One, g.ReadOnlySpan, ldg, bv.ReadOnlySpan, ldb, beta, da, Math.Max(1, k));
            }
            else
            {
                // A is stored (k, m): dA = (G·op(B)ᵀ)ᵀ = op(B) (k, n) · Gᵀ (n, m)
                Gemm.Multiply(transB ? Tr : N, Tr, k, m, n, T.One, bv.ReadOnlySpan, ldb, g.ReadOnlySpan, ldg, beta, da, Math.Max(1, m));
            }
        }

        if (b.RequiresGrad)
        {
            T beta = Begin(b) ? T.One : T.Zero;
            var db = b.EnsureGrad().Span;
            if (!transB)
            {
                // dB (k, n) = op(A)ᵀ (k, m) · G (m, n)
                Gemm.Multiply(transA ? N : Tr, N, k, n, m, T.One, av.ReadOnlySpan, lda, g.ReadOnlySpan, ldg, beta, db, ldg);
            }
            else
            {
                // B is stored (n, k): dB = Gᵀ (n, m) · op(A) (m, k)
                Gemm.Multiply(Tr, transA ? Tr : N, n, k, m, T.One, g.ReadOnlySpan, ldg, av.ReadOnlySpan, lda, beta, db, Math.Max(1, k));
            }
        }
    }

    private static void SumBackward(TapeNode<T> node)
    {
        var a = node.A!;
        if (!a.RequiresGrad)
        {
            return;
        }

        bool add = Begin(a);
        var grad = a.EnsureGrad().Span;
        var g = node.Grad!.ReadOnlySpan;
        T s = node.S0;
        // s is the divisor: 1 for a sum, N for a mean (whose gradient is g / N, as PyTorch's).
        if (node.Op == TapeOp.SumAll)
        {
            T v = g[0] / s;
            if (add)
            {
                TP.Add(grad, v, grad);
            }
            else
            {
                grad.Fill(v);
            }

            return;
        }

        int m = a.Value.Dim(0);
        int n = a.Value.Dim(1);
        if (node.Op == TapeOp.SumAxis0 && s != T.One)
        {
            var scaled = node.Aux(n).Span[..n];
            TP.Divide(g, s, scaled);
            g = scaled;
        }

        for (int i = 0; i < m; i++)
        {
            var row = grad.Slice(i * n, n);
            if (node.Op == TapeOp.SumAxis0)
            {
                // out (1, n): every row of dA gets g/s
                if (add)
                {
                    TP.Add(row, g, row);
                }
                else
                {
                    g.CopyTo(row);
                }
            }
            else if (add)
            {
                // out (m, 1): row i of dA gets g[i]/s
                TP.Add(row, g[i] / s, row);
            }
            else
            {
                row.Fill(g[i] / s);
            }
        }
    }

    private static void RowsBackward(TapeNode<T> node)
    {
        var a = node.A!;
        if (!a.RequiresGrad)
        {
            return;
        }

        bool add = Begin(a);
        var grad = a.EnsureGrad().Span;
        if (!add)
        {
            grad.Clear();
        }

        int width = a.Value.RowLength;
        var region = grad.Slice(node.I0 * width, node.I1 * width);
        TP.Add(region, node.Grad!.ReadOnlySpan, region);
    }

    /// <summary>y = softmax(x) per row: dx = y ⊙ (g − Σⱼ gⱼyⱼ).</summary>
    private static void SoftmaxBackward(ReadOnlySpan<T> g, ReadOnlySpan<T> y, Span<T> dst, int n)
    {
        for (int i = 0; n > 0 && i < y.Length / n; i++)
        {
            var gr = g.Slice(i * n, n);
            var yr = y.Slice(i * n, n);
            var dr = dst.Slice(i * n, n);
            T dot = TP.Dot(gr, yr);
            TP.Subtract(gr, dot, dr);
            TP.Multiply(dr, yr, dr);
        }
    }

    /// <summary>y = log softmax(x) per row: dx = g − softmax(x)·Σⱼ gⱼ, with softmax(x) = exp(y).</summary>
    private static void LogSoftmaxBackward(ReadOnlySpan<T> g, ReadOnlySpan<T> y, Span<T> dst, int n)
    {
        for (int i = 0; n > 0 && i < y.Length / n; i++)
        {
            var gr = g.Slice(i * n, n);
            var dr = dst.Slice(i * n, n);
            T sum = TP.Sum(gr);
            TP.Exp(y.Slice(i * n, n), dr);
            TP.Multiply(dr, -sum, dr);
            TP.Add(dr, gr, dr);
        }
    }
}
