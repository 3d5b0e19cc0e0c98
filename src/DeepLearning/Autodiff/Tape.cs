using System.Globalization;
using System.Numerics;

namespace DeepLearning;

/// <summary>
/// Reverse-mode automatic differentiation over <see cref="Tensor{T}"/>: every operation on a <see cref="Variable{T}"/>
/// is recorded on this tape, and <see cref="Variable{T}.Backward()"/> walks the records backwards, filling the gradient
/// ∂J/∂v of every variable that requires one — the "programming frameworks" lesson of the course, where the framework
/// finds the gradient of J(w) = w² − 10w + 25 without anyone writing a derivative.
/// </summary>
/// <remarks>
/// <para><b>Variables.</b> <see cref="Variable(Tensor{T}, string, bool)"/> and <see cref="Parameter(Parameter{T})"/> make
/// leaves: persistent variables backed by a <see cref="DeepLearning.Parameter{T}"/>, so any <see cref="Optimizer"/> can step
/// them (<c>optimizer.Step(tape.Parameters)</c>). Their gradient accumulates over backward passes, as PyTorch's does,
/// until <see cref="ZeroGrad"/>. <see cref="Constant(Tensor{T}, bool)"/> wraps data (X, Y) without copying it. Everything else is an
/// intermediate result owned by the tape.</para>
/// <para><b>Steps and memory.</b> A backward pass releases the graph it ran on (pass <c>retainGraph: true</c> to run
/// backward on it again); the next operation recorded after that starts a new graph, and <see cref="Reset"/> does so
/// explicitly (call it in loops that never run backward). Records are pooled by position: when the same graph is
/// recorded again with the same shapes — a training step — every value, gradient and scratch buffer is reused, and
/// a warm step allocates nothing. A variable from an earlier graph is stale: using it throws. Values and gradients
/// of intermediate variables are tape-owned buffers, overwritten by the next graph: copy what you keep.</para>
/// <para><b>Broadcasting</b> (+, −, ×, ÷): equal shapes; a single element against anything; and, for rank ≤ 2, each
/// dimension equal or 1 — a row vector (n) or (1, n) against (m, n), a column (m, 1) against (m, n). The gradient of
/// a broadcast operand is summed over the dimensions it was repeated along.</para>
/// <para>Not thread-safe: use one tape per thread.</para>
/// </remarks>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed partial class Tape<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<TapeNode<T>> _nodes = [];
    private readonly List<Parameter<T>> _parameters = [];
    private readonly Dictionary<Parameter<T>, TapeNode<T>> _leaves = new(ReferenceEqualityComparer.Instance);
    private int _count;
    private int _generation;
    private bool _released;

    /// <summary>The parameters behind this tape's leaf variables, in creation order (for an optimizer's <c>Step</c>).</summary>
    public IReadOnlyList<Parameter<T>> Parameters => _parameters;

    /// <summary>The number of operations recorded in the current graph.</summary>
    public int Count => _count;

    /// <summary>
    /// A new leaf variable over <paramref name="value"/> (not copied: the variable's value is that tensor), backed by a
    /// new <see cref="DeepLearning.Parameter{T}"/> named <paramref name="name"/>. It requires a gradient.
    /// </summary>
    /// <param name="value">The initial value; an optimizer updates it in place.</param>
    /// <param name="name">The parameter's name, e.g. "w".</param>
    /// <param name="regularized">Whether L2/L1 regularization would apply to it (weights yes, biases no).</param>
    public Variable<T> Variable(Tensor<T> value, string name = "w", bool regularized = true) =>
        Parameter(new Parameter<T>(name, value, regularized));

    /// <summary>A new scalar leaf variable of shape (1) holding <paramref name="value"/>; see <see cref="Variable(Tensor{T}, string, bool)"/>.</summary>
    public Variable<T> Variable(T value, string name = "w")
    {
        var t = new Tensor<T>(1);
        t[0] = value;
        return Variable(t, name, regularized: false);
    }

    /// <summary>
    /// The leaf variable for an existing parameter (e.g. a layer's W): its value is <see cref="Parameter{T}.Value"/> and
    /// backward adds into <see cref="Parameter{T}.Gradient"/>. Asking again for the same parameter returns the same
    /// variable, without allocating.
    /// </summary>
    public Variable<T> Parameter(Parameter<T> parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        if (!_leaves.TryGetValue(parameter, out var node))
        {
            node = new TapeNode<T>(this)
            {
                Op = TapeOp.Leaf,
                Generation = -1,
                Value = parameter.Value,
                Parameter = parameter,
                RequiresGrad = true,
            };
            _leaves.Add(parameter, node);
            _parameters.Add(parameter);
        }

        return new Variable<T>(node);
    }

    /// <summary>
    /// Data on the tape, e.g. a batch X or targets Y (not copied: do not change the tensor before backward). With
    /// <paramref name="requiresGrad"/> the gradient with respect to it is computed too (a custom layer's dA_prev) and read
    /// from <see cref="Variable{T}.Grad"/>; it is overwritten, not accumulated, by each backward pass.
    /// </summary>
    public Variable<T> Constant(Tensor<T> value, bool requiresGrad = false)
    {
        ArgumentNullException.ThrowIfNull(value);
        var node = Next(TapeOp.Constant);
        node.Value = value;
        node.RequiresGrad = requiresGrad;
        return new Variable<T>(node);
    }

    /// <summary>A constant of shape (1).</summary>
    public Variable<T> Constant(T value)
    {
        var node = Next(TapeOp.Constant);
        Span<int> shape = [1];
        node.Value = node.OwnedValue(shape);
        node.Value[0] = value;
        node.RequiresGrad = false;
        return new Variable<T>(node);
    }

    /// <summary>
    /// Starts a new graph: every intermediate variable recorded so far becomes stale and its buffers are reused by the
    /// next recording. Leaf variables and their gradients are kept.
    /// </summary>
    public void Reset()
    {
        _count = 0;
        _generation++;
        _released = false;
    }

    /// <summary>Sets the gradient of every leaf variable to zero (PyTorch's <c>optimizer.zero_grad()</c>).</summary>
    public void ZeroGrad()
    {
        foreach (var p in _parameters)
        {
            p.Gradient.Clear();
        }
    }

    internal void Validate(TapeNode<T> node, string op)
    {
        if (!ReferenceEquals(node.Tape, this))
        {
            throw new InvalidOperationException($"{op}: the operands belong to different tapes; record a graph on one tape");
        }

        if (!node.IsLeaf && node.Generation != _generation)
        {
            throw new InvalidOperationException($"{op}: a variable from an earlier graph was used; the tape has been reset since (by Reset, or by a new recording after Backward released the graph), and its buffers now belong to the new graph");
        }
    }

    private TapeNode<T> Next(TapeOp op)
    {
        if (_released)
        {
            Reset();
        }

        if (_count == _nodes.Count)
        {
            _nodes.Add(new TapeNode<T>(this) { Index = _nodes.Count });
        }

        var node = _nodes[_count++];
        node.Op = op;
        node.Generation = _generation;
        node.A = null;
        node.B = null;
        node.Reached = false;
        return node;
    }

    /// <summary>Records an operation on one or two inputs; the value buffer gets <paramref name="shape"/>.</summary>
    private TapeNode<T> Record(TapeOp op, string name, TapeNode<T> a, TapeNode<T>? b, ReadOnlySpan<int> shape)
    {
        // Validate after a possible automatic reset, so an operand from the released graph is reported as stale.
        if (_released)
        {
            Reset();
        }

        Validate(a, name);
        if (b is not null)
        {
            Validate(b, name);
        }

        var node = Next(op);
        node.A = a;
        node.B = b;
        node.RequiresGrad = a.RequiresGrad || (b?.RequiresGrad ?? false);
        node.Value = node.OwnedValue(shape);
        return node;
    }

    internal void ReleaseAfterBackward(TapeNode<T> root, bool retainGraph)
    {
        if (!retainGraph && !root.IsLeaf)
        {
            _released = true;
        }
    }

    internal void CheckNotReleased(TapeNode<T> root)
    {
        Validate(root, "Backward");
        if (_released && !root.IsLeaf)
        {
            throw new InvalidOperationException("Backward was already called on this graph and released it; pass retainGraph: true to the first Backward to run backward through the same graph again");
        }
    }

    internal IReadOnlyList<TapeNode<T>> Nodes => _nodes;

    private static string Shape(Tensor<T> t) => t.ShapeText;

    private static string Format(T value) => double.CreateTruncating(value).ToString("R", CultureInfo.InvariantCulture);
}
