using System.Numerics;

namespace DeepLearning;

/// <summary>The operations a <see cref="Tape{T}"/> records.</summary>
internal enum TapeOp
{
    Leaf,
    Constant,
    Add,
    Subtract,
    Multiply,
    Divide,
    AddScalar,
    MultiplyScalar,
    ScalarMinus,
    ScalarDivide,
    DivideScalar,
    MatMul,
    SumAll,
    SumAxis0,
    SumAxis1,
    Exp,
    Log,
    Pow,
    Sqrt,
    Abs,
    Sigmoid,
    Tanh,
    ReLU,
    LeakyReLU,
    Softmax,
    LogSoftmax,
    Clip,
    Rows,
}

/// <summary>
/// One recorded value: the operation that made it, its inputs, its value and (once backward reaches it) its
/// gradient. Nodes are pooled by position on the tape, so a graph recorded again with the same shapes reuses every
/// buffer.
/// </summary>
internal sealed class TapeNode<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public TapeNode(Tape<T> tape)
    {
        Tape = tape;
    }

    public Tape<T> Tape { get; }

    /// <summary>The position on the tape (recording order is a topological order).</summary>
    public int Index;

    /// <summary>The recording this node belongs to; a leaf keeps −1 for ever.</summary>
    public int Generation;

    public TapeOp Op;
    public TapeNode<T>? A;
    public TapeNode<T>? B;

    /// <summary>Scalar settings: the scalar operand, the exponent, the slope, the clip bounds, a reduction's divisor (1 for a sum, N for a mean).</summary>
    public T S0;
    public T S1;

    /// <summary>Integer settings: transpose flags of a matmul, the first row and row count of a slice.</summary>
    public int I0;
    public int I1;

    public Tensor<T> Value = null!;
    public Tensor<T>? Grad;
    public bool RequiresGrad;

    /// <summary>Set during backward once this node's gradient holds a contribution (later ones accumulate).</summary>
    public bool Reached;

    /// <summary>The leaf's parameter: its value is the variable's value, its gradient the variable's gradient.</summary>
    public Parameter<T>? Parameter;

    private Tensor<T>? _owned;
    private Tensor<T>? _scratch;
    private Tensor<T>? _aux;

    public bool IsLeaf => Op == TapeOp.Leaf;

    /// <summary>This node's own value buffer of the given shape, reused when the shape is unchanged.</summary>
    public Tensor<T> OwnedValue(ReadOnlySpan<int> shape) => Ensure(ref _owned, shape);

    /// <summary>A scratch buffer shaped like <see cref="Value"/>, for a local gradient before it is added or reduced.</summary>
    public Tensor<T> Scratch => Ensure(ref _scratch, Value.ShapeArray);

    /// <summary>A scratch vector of the given length (e.g. one row).</summary>
    public Tensor<T> Aux(int length)
    {
        Span<int> shape = [Math.Max(length, 1)];
        return Ensure(ref _aux, shape);
    }

    /// <summary>The gradient buffer, shaped like <see cref="Value"/> (a leaf's is its parameter's gradient).</summary>
    public Tensor<T> EnsureGrad()
    {
        if (Parameter is not null)
        {
            return Parameter.Gradient;
        }

        return Grad = Ensure(ref Grad, Value.ShapeArray);
    }

    private static Tensor<T> Ensure(ref Tensor<T>? buffer, ReadOnlySpan<int> shape)
    {
        if (buffer is null || !buffer.ShapeArray.AsSpan().SequenceEqual(shape))
        {
            buffer = new Tensor<T>(shape.ToArray());
        }

        return buffer;
    }
}
