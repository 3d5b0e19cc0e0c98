using System.Globalization;
using System.Numerics;

namespace DeepLearning;

/// <summary>
/// A value recorded on a <see cref="Tape{T}"/>: a leaf (a learnable parameter), a constant (data), or the result of an
/// operation. Operations on variables record themselves, so J can be written as ordinary code —
/// <c>var J = w * w - 10 * w + 25;</c> — and <see cref="Backward()"/> then fills ∂J/∂v for every variable that requires it.
/// </summary>
/// <remarks>
/// <para>A small handle (no allocation): copying it copies the reference, not the tensor. A handle to an intermediate
/// result becomes stale when its tape starts a new graph (see <see cref="Tape{T}"/>); using it then throws.</para>
/// <para>Shapes follow <see cref="Tensor{T}"/>: examples are rows, X is (m, n_x), W is (n[l], n[l-1]) and
/// Z = X·Wᵀ + b is <c>x.MatMul(w, transposeB: true) + b</c> with b of shape (n[l]) broadcast over the rows.
/// Binary operators broadcast as described on <see cref="Tape{T}"/>.</para>
/// </remarks>
/// <typeparam name="T">The element type.</typeparam>
public readonly struct Variable<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly TapeNode<T>? _node;
    private readonly int _generation;

    internal Variable(TapeNode<T> node)
    {
        _node = node;
        _generation = node.Generation;
    }

    /// <summary>The tape this variable is recorded on.</summary>
    public Tape<T> Tape => Node.Tape;

    /// <summary>The value (a leaf's is its parameter's value; an intermediate's is a tape-owned buffer).</summary>
    public Tensor<T> Value => Node.Value;

    /// <summary>
    /// ∂J/∂v from the latest backward pass, shaped like <see cref="Value"/>; null when this variable does not require a
    /// gradient or no backward pass has reached it. A leaf's is its parameter's gradient and accumulates.
    /// </summary>
    public Tensor<T>? Grad
    {
        get
        {
            var node = Node;
            return node.Parameter?.Gradient ?? (node.RequiresGrad && node.Reached ? node.Grad : null);
        }
    }

    /// <summary>Whether backward computes a gradient for this variable (it depends on a leaf or a constant that requires one).</summary>
    public bool RequiresGrad => Node.RequiresGrad;

    /// <summary>Whether this is a leaf variable (a parameter).</summary>
    public bool IsLeaf => Node.IsLeaf;

    /// <summary>The parameter behind a leaf variable (null otherwise): pass it to an optimizer.</summary>
    public Parameter<T>? Parameter => Node.Parameter;

    /// <summary>The shape of <see cref="Value"/> (a copy).</summary>
    public int[] Shape => Node.Value.Shape;

    /// <summary>The single element of a one-element variable, e.g. a cost J.</summary>
    /// <exception cref="InvalidOperationException">The variable has more than one element.</exception>
    public T Item
    {
        get
        {
            var v = Node.Value;
            if (v.Length != 1)
            {
                throw new InvalidOperationException($"Item needs a one-element variable; this one has shape {v.ShapeText}");
            }

            return v.ReadOnlySpan[0];
        }
    }

    internal TapeNode<T> Node
    {
        get
        {
            var node = _node ?? throw new InvalidOperationException("this Variable is default (uninitialized); variables come from a Tape");
            if (!node.IsLeaf && node.Generation != _generation)
            {
                throw new InvalidOperationException("this variable belongs to an earlier graph of its tape, which has been reset since (by Reset, or by a new recording after Backward released the graph); its buffers now belong to the new graph");
            }

            return node;
        }
    }

    /// <summary>
    /// Reverse-mode pass from this scalar (e.g. the cost J): fills ∂J/∂v of every variable J depends on that requires a
    /// gradient. Leaf gradients accumulate (zero them with <see cref="ZeroGrad"/> or <see cref="Tape{T}.ZeroGrad"/>);
    /// the graph is then released.
    /// </summary>
    /// <exception cref="InvalidOperationException">The variable has more than one element (pass a seed), the graph was
    /// already released by an earlier backward pass, or nothing it depends on requires a gradient.</exception>
    public void Backward() => Backward(null, retainGraph: false);

    /// <summary>
    /// Reverse-mode pass seeded with <paramref name="seed"/> = ∂J/∂this (shaped like <see cref="Value"/>; null means 1
    /// for a one-element variable). With <paramref name="retainGraph"/> the graph stays usable for another backward pass.
    /// </summary>
    /// <exception cref="ArgumentException">The seed's shape differs from the value's.</exception>
    /// <exception cref="InvalidOperationException">See <see cref="Backward()"/>.</exception>
    public void Backward(Tensor<T>? seed, bool retainGraph = false)
    {
        var node = Node;
        node.Tape.Backward(node, seed, retainGraph);
    }

    /// <summary>Sets this variable's gradient to zero (a leaf's parameter gradient).</summary>
    public void ZeroGrad() => Grad?.Clear();

    /// <summary>a + b, broadcasting.</summary>
    public static Variable<T> operator +(Variable<T> a, Variable<T> b) => Binary(TapeOp.Add, "Add", a, b);

    /// <summary>a − b, broadcasting.</summary>
    public static Variable<T> operator -(Variable<T> a, Variable<T> b) => Binary(TapeOp.Subtract, "Subtract", a, b);

    /// <summary>a ⊙ b (element-wise), broadcasting.</summary>
    public static Variable<T> operator *(Variable<T> a, Variable<T> b) => Binary(TapeOp.Multiply, "Multiply", a, b);

    /// <summary>a ⊘ b (element-wise), broadcasting.</summary>
    public static Variable<T> operator /(Variable<T> a, Variable<T> b) => Binary(TapeOp.Divide, "Divide", a, b);

    /// <summary>a + s.</summary>
    public static Variable<T> operator +(Variable<T> a, T s) => Scalar(TapeOp.AddScalar, "Add", a, s);

    /// <summary>s + a.</summary>
    public static Variable<T> operator +(T s, Variable<T> a) => Scalar(TapeOp.AddScalar, "Add", a, s);

    /// <summary>a − s.</summary>
    public static Variable<T> operator -(Variable<T> a, T s) => Scalar(TapeOp.AddScalar, "Subtract", a, -s);

    /// <summary>s − a.</summary>
    public static Variable<T> operator -(T s, Variable<T> a) => Scalar(TapeOp.ScalarMinus, "Subtract", a, s);

    /// <summary>s·a.</summary>
    public static Variable<T> operator *(Variable<T> a, T s) => Scalar(TapeOp.MultiplyScalar, "Multiply", a, s);

    /// <summary>s·a.</summary>
    public static Variable<T> operator *(T s, Variable<T> a) => Scalar(TapeOp.MultiplyScalar, "Multiply", a, s);

    /// <summary>a / s, element-wise, each element a correctly rounded quotient (as PyTorch's, not a·(1/s)); the gradient is g / s.</summary>
    public static Variable<T> operator /(Variable<T> a, T s) => Scalar(TapeOp.DivideScalar, "Divide", a, s);

    /// <summary>s / a, element-wise.</summary>
    public static Variable<T> operator /(T s, Variable<T> a) => Scalar(TapeOp.ScalarDivide, "Divide", a, s);

    /// <summary>−a.</summary>
    public static Variable<T> operator -(Variable<T> a) => Scalar(TapeOp.MultiplyScalar, "Negate", a, -T.One);

    /// <summary>
    /// The matrix product op(A)·op(B) of two rank-2 variables through the library's GEMM, with op(X) = X or Xᵀ
    /// (transposes are flags, never copies): op(A) (m, k) · op(B) (k, n) → (m, n). A dense layer's
    /// Z = X·Wᵀ is <c>x.MatMul(w, transposeB: true)</c>.
    /// </summary>
    /// <exception cref="ArgumentException">A variable is not rank 2, or the inner dimensions differ (both shapes are named).</exception>
    public Variable<T> MatMul(Variable<T> b, bool transposeA = false, bool transposeB = false)
    {
        var na = Node;
        return new(na.Tape.MatMul(na, b.Node, transposeA, transposeB));
    }

    /// <summary>Σ of every element, shape (1).</summary>
    public Variable<T> Sum() => Reduce(null, mean: false);

    /// <summary>
    /// Sum of a rank-2 variable along <paramref name="axis"/>, keeping the dimension (PyTorch's keepdim) so the result
    /// broadcasts back: axis 0 (over the rows/examples) gives (1, n), axis 1 gives (m, 1).
    /// </summary>
    public Variable<T> Sum(int axis) => Reduce(axis, mean: false);

    /// <summary>
    /// The mean of every element, shape (1): Σ / N (the gradient is g / N, as PyTorch's). The mean of no elements is NaN
    /// (0/0), as <c>torch.mean</c> and <c>numpy.mean</c> give; its gradient is the empty gradient of the empty input.
    /// </summary>
    public Variable<T> Mean() => Reduce(null, mean: true);

    /// <summary>
    /// The mean along <paramref name="axis"/> of a rank-2 variable, keeping the dimension: the sums divided by their count;
    /// see <see cref="Sum(int)"/>. A mean over no rows (axis 0 of an (0, n) variable) or no columns (axis 1 of an (m, 0)
    /// one) is NaN in each entry, as in PyTorch and NumPy.
    /// </summary>
    public Variable<T> Mean(int axis) => Reduce(axis, mean: true);

    /// <summary>eˣ, element-wise.</summary>
    public Variable<T> Exp() => Unary(TapeOp.Exp, "Exp");

    /// <summary>ln x, element-wise.</summary>
    public Variable<T> Log() => Unary(TapeOp.Log, "Log");

    /// <summary>
    /// xᵖ, element-wise (dx = p·xᵖ⁻¹, and 0 everywhere for p = 0, as in PyTorch; a negative x with a non-integer p gives
    /// NaN). As PyTorch's CPU pow, p = 2, 3, −1, −2, ½ and −½ are computed as x·x, x·x·x, 1/x, 1/(x·x), √x and 1/√x, so
    /// the results match it to the last bit.
    /// </summary>
    public Variable<T> Pow(T p) => Unary(TapeOp.Pow, "Pow", p);

    /// <summary>√x, element-wise.</summary>
    public Variable<T> Sqrt() => Unary(TapeOp.Sqrt, "Sqrt");

    /// <summary>|x|, element-wise (the gradient at 0 is 0).</summary>
    public Variable<T> Abs() => Unary(TapeOp.Abs, "Abs");

    /// <summary>σ(x) = 1/(1 + e⁻ˣ), element-wise.</summary>
    public Variable<T> Sigmoid() => Unary(TapeOp.Sigmoid, "Sigmoid");

    /// <summary>tanh x, element-wise.</summary>
    public Variable<T> Tanh() => Unary(TapeOp.Tanh, "Tanh");

    /// <summary>max(0, x), element-wise (the gradient at 0 is 0).</summary>
    public Variable<T> ReLU() => Unary(TapeOp.ReLU, "ReLU");

    /// <summary>x if x &gt; 0, else slope·x, element-wise.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="slope"/> is outside [0, 1).</exception>
    public Variable<T> LeakyReLU(T slope)
    {
        if (!(slope >= T.Zero && slope < T.One))
        {
            throw new ArgumentOutOfRangeException(nameof(slope), slope, $"LeakyReLU: slope must be in [0, 1); received {Format(slope)}");
        }

        return Unary(TapeOp.LeakyReLU, "LeakyReLU", slope);
    }

    /// <summary>
    /// Softmax over the last dimension (each row of an (m, C) variable): ŷⱼ = e^(zⱼ − max z) / Σₖ e^(zₖ − max z), stable for
    /// any z.
    /// </summary>
    public Variable<T> Softmax() => Unary(TapeOp.Softmax, "Softmax");

    /// <summary>
    /// Log-softmax over the last dimension: zⱼ − max z − ln Σₖ e^(zₖ − max z), never log 0 — the stable way to write a
    /// cross-entropy, −Σ y ⊙ log ŷ.
    /// </summary>
    public Variable<T> LogSoftmax() => Unary(TapeOp.LogSoftmax, "LogSoftmax");

    /// <summary>min(max(x, lo), hi), element-wise; the gradient passes where lo ≤ x ≤ hi and is 0 elsewhere.</summary>
    /// <exception cref="ArgumentException"><paramref name="lo"/> &gt; <paramref name="hi"/> or a bound is NaN.</exception>
    public Variable<T> Clip(T lo, T hi)
    {
        if (!(lo <= hi))
        {
            throw new ArgumentException($"Clip: the bounds must satisfy lo ≤ hi; received lo = {Format(lo)}, hi = {Format(hi)}");
        }

        return Unary(TapeOp.Clip, "Clip", lo, hi);
    }

    /// <summary>
    /// Rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) along dimension 0 (a copy on the
    /// tape); the gradient flows back into those rows only.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is outside the variable.</exception>
    public Variable<T> Rows(int start, int count)
    {
        var n = Node;
        return new(n.Tape.Rows(n, start, count));
    }

    /// <inheritdoc/>
    public override string ToString() => _node is null ? "Variable (default)" : $"Variable {_node.Op} {_node.Value.ShapeText}";

    private static string Format(T value) => double.CreateTruncating(value).ToString("R", CultureInfo.InvariantCulture);

    private static Variable<T> Binary(TapeOp op, string name, Variable<T> a, Variable<T> b)
    {
        var na = a.Node;
        return new(na.Tape.Binary(op, name, na, b.Node));
    }

    private static Variable<T> Scalar(TapeOp op, string name, Variable<T> a, T s)
    {
        var na = a.Node;
        return new(na.Tape.Scalar(op, name, na, s));
    }

    private Variable<T> Unary(TapeOp op, string name, T s0 = default, T s1 = default)
    {
        var n = Node;
        return new(n.Tape.Unary(op, name, n, s0, s1));
    }

    private Variable<T> Reduce(int? axis, bool mean)
    {
        var n = Node;
        return new(n.Tape.Sum(n, axis, mean));
    }
}
