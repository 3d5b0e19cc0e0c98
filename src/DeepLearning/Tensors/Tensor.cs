using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace DeepLearning;

/// <summary>
/// A dense, contiguous, row-major tensor of rank 1 to 4 over <typeparamref name="T"/>
/// (<see cref="float"/> or <see cref="double"/>).
/// </summary>
/// <remarks>
/// <para>
/// Examples are rows: a data matrix X has shape (m, n_x), a layer's activations A[l] have shape
/// (m, n[l]) and a weight matrix W[l] keeps the course's shape (n[l], n[l-1]), so
/// Z[l] = A[l-1]·W[l]ᵀ + b[l].
/// </para>
/// <para>
/// Storage comes from the pinned object heap and the first element of every freshly allocated
/// tensor is 64-byte aligned, so kernels may use aligned vector loads. On Linux a tensor of 4 MiB or more (a training
/// set) is advised to the kernel for transparent huge pages before it is first written, so gathering shuffled rows
/// from it misses the TLB far less (a hint only: contents and layout are the same). Views made by
/// <see cref="Rows(int, int)"/> and <see cref="Reshape(int[])"/> share storage with their source:
/// writing through one is visible through the other.
/// </para>
/// </remarks>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Tensor<T> : IEquatable<Tensor<T>>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Byte alignment of the first element of a freshly allocated tensor.</summary>
    public const int Alignment = 64;

    private static readonly (T[] Data, int Offset) _emptyStorage = AllocateAlignedArray(0);

    private readonly T[] _data;
    private readonly int _offset;
    private readonly int[] _shape;

    // Counts the library's writes to the storage (its internal spans, the indexers' setters, Fill, Clear, CopyTo, CopyFrom), shared
    // with every view of it: a cache derived from the contents (a Dense layer's packed Wᵀ for inference) is valid while the
    // count is unchanged. Made when first needed (a count read, or a view made), so a tensor nobody caches from allocates
    // nothing more. A public Span or Row hands out memory that may be written at any later time, which no count can see:
    // it marks the counter exposed (or, when there is none yet, installs the shared exposed one), and nothing is cached
    // from the storage again.
    private WriteCounter? _writes;

    /// <summary>Allocates a zero-filled tensor of the given shape (rank 1 to 4).</summary>
    /// <param name="shape">The size of each dimension; each must be non-negative. A zero dimension makes an empty tensor
    /// whatever the others are, e.g. (2³¹ − 1, 0).</param>
    /// <exception cref="ArgumentException">The rank is outside 1..4, a dimension is negative, the shape holds more than
    /// <see cref="Tensor.MaxLength"/> elements (<see cref="Array.MaxLength"/> less room for alignment), or a trailing block of its dimensions (a row) more than <see cref="int.MaxValue"/>.</exception>
    public Tensor(params int[] shape)
    {
        _shape = ValidateShape(shape);
        Length = Product(_shape);
        (_data, _offset) = AllocateAligned(Length);
    }

    /// <summary>
    /// A zero-filled tensor that keeps <paramref name="shape"/> itself instead of a copy (a reader allocating many small
    /// tensors); the caller never changes the array afterwards. Checked as <see cref="Tensor{T}(int[])"/> checks it.
    /// </summary>
    internal static Tensor<T> Adopt(int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (Tensor.ShapeProblem(shape) is { } problem)
        {
            throw new ArgumentException(problem, nameof(shape));
        }

        var (data, offset) = AllocateAligned(Product(shape));
        return new Tensor<T>(data, offset, shape, null);
    }

    private Tensor(T[] data, int offset, int[] shape, WriteCounter? writes)
    {
        _data = data;
        _offset = offset;
        _shape = shape;
        _writes = writes;
        Length = Product(shape);
    }

    /// <summary>
    /// How many times the library has written this tensor's storage (shared with its views), or null when a public
    /// <see cref="Span"/> or <see cref="Row"/> of it was ever handed out (it may be written later, unseen): a cache computed
    /// from the contents while the count was c stays valid as long as it is still c. The library's writers that hold a span
    /// across a long update call <see cref="MarkWritten"/> when done, so a cache taken while they wrote is seen as stale.
    /// </summary>
    internal long? CacheableWriteCount
    {
        get
        {
            var writes = Writes;
            long count = Volatile.Read(ref writes.Count);
            return Volatile.Read(ref writes.Exposed) ? null : count;
        }
    }

    /// <summary>
    /// A span over every element for the library's own writers: counted (see <see cref="CacheableWriteCount"/>), not
    /// exposed. The writer calls <see cref="MarkWritten"/> again once it has written, so a copy taken meanwhile is stale.
    /// </summary>
    internal Span<T> WritableSpan
    {
        get
        {
            MarkWritten();
            return _data.AsSpan(_offset, Length);
        }
    }

    // A public span or row was handed out: nothing may be cached from this storage any more. Without a counter yet, the
    // shared exposed one takes its place (no allocation), and views made later share it.
    private void Expose()
    {
        var writes = Volatile.Read(ref _writes);
        if (writes is null)
        {
            writes = Interlocked.CompareExchange(ref _writes, WriteCounter.ExposedShared, null);
            if (writes is null)
            {
                return;
            }
        }

        if (!writes.Exposed)
        {
            Volatile.Write(ref writes.Exposed, true);
            writes.Count++;
        }
    }

    /// <summary>Counts one more write to the storage (see <see cref="CacheableWriteCount"/>). A plain increment, cheap enough for
    /// the indexers: two threads writing one tensor at once may count one write for both, which still changes the count.
    /// Without a counter yet nothing has read the count, so there is nothing to invalidate.</summary>
    internal void MarkWritten()
    {
        if (_writes is { Exposed: false } writes)
        {
            writes.Count++; // an exposed storage is never cached from, and its counter may be the shared one
        }
    }

    // The shared counter, made on first use; two threads making it at once (or one exposing the storage) agree on one.
    private WriteCounter Writes => Volatile.Read(ref _writes) ?? Interlocked.CompareExchange(ref _writes, new WriteCounter(), null) ?? _writes!;

    /// <summary>The size of each dimension. The returned array is a copy.</summary>
    public int[] Shape => (int[])_shape.Clone();

    /// <summary>The number of dimensions (1 to 4).</summary>
    public int Rank => _shape.Length;

    /// <summary>The total number of elements.</summary>
    public int Length { get; }

    /// <summary>The size of dimension 0: the number of examples m when rows are examples.</summary>
    public int RowCount => _shape[0];

    /// <summary>The number of elements in one row: the product of every dimension after the first (1 for rank 1).</summary>
    public int RowLength => ProductFrom(_shape, 1);

    /// <summary>Size of dimension <paramref name="axis"/>.</summary>
    public int Dim(int axis)
    {
        if ((uint)axis >= (uint)_shape.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(axis), axis, $"axis must be in [0, {_shape.Length}) for a tensor of shape {ShapeString(_shape)}; received {axis}");
        }

        return _shape[axis];
    }

    /// <summary>A span over every element, in row-major order.</summary>
    /// <remarks>
    /// The span may be written at any time later. Writing a Dense layer's weights through it is always seen by inference:
    /// the layer stops keeping a packed copy of W, and every few-row prediction multiplies unpacked (as before the copy
    /// existed). <see cref="CopyFrom"/>, <see cref="CopyTo"/>, <see cref="Fill"/>, <see cref="Clear"/> and the indexers are
    /// counted instead, so W stays cacheable and the copy is repacked after them.
    /// </remarks>
    public Span<T> Span
    {
        get
        {
            Expose();
            return _data.AsSpan(_offset, Length);
        }
    }

    /// <summary>The same elements as <see cref="Span"/>, read-only.</summary>
    public ReadOnlySpan<T> ReadOnlySpan => _data.AsSpan(_offset, Length);

    /// <summary>A span over row <paramref name="row"/> (length <see cref="RowLength"/>).</summary>
    /// <remarks>Like <see cref="Span"/>, it exposes the storage (see there).</remarks>
    public Span<T> Row(int row)
    {
        if ((uint)row >= (uint)RowCount)
        {
            throw new ArgumentOutOfRangeException(nameof(row), row, $"row must be in [0, {RowCount}) for a tensor of shape {ShapeString(_shape)}; received {row}");
        }

        int rl = RowLength;
        Expose();
        return _data.AsSpan(_offset + (row * rl), rl);
    }

    /// <summary>Element of a rank-1 tensor.</summary>
    public T this[int i]
    {
        get => _data[_offset + Index(i)];
        set
        {
            _data[_offset + Index(i)] = value;
            MarkWritten(); // after the store: a copy taken between the two is then seen as stale
        }
    }

    /// <summary>Element (i, j) of a rank-2 tensor.</summary>
    public T this[int i, int j]
    {
        get => _data[_offset + Index(i, j)];
        set
        {
            _data[_offset + Index(i, j)] = value;
            MarkWritten(); // after the store: a copy taken between the two is then seen as stale
        }
    }

    /// <summary>Element (i, j, k) of a rank-3 tensor.</summary>
    public T this[int i, int j, int k]
    {
        get => _data[_offset + Index(i, j, k)];
        set
        {
            _data[_offset + Index(i, j, k)] = value;
            MarkWritten(); // after the store: a copy taken between the two is then seen as stale
        }
    }

    /// <summary>Element (i, j, k, l) of a rank-4 tensor.</summary>
    public T this[int i, int j, int k, int l]
    {
        get => _data[_offset + Index(i, j, k, l)];
        set
        {
            _data[_offset + Index(i, j, k, l)] = value;
            MarkWritten(); // after the store: a copy taken between the two is then seen as stale
        }
    }

    /// <summary>A (rows, cols) view of this tensor's first rows·cols elements (internal scratch buffers), sharing storage.</summary>
    internal Tensor<T> Prefix(int rows, int cols)
    {
        if (rows < 0 || cols < 0 || (long)rows * cols > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), $"a ({rows}, {cols}) view does not fit in a tensor of {Length} elements");
        }

        return new Tensor<T>(_data, _offset, [rows, cols], Writes);
    }

    /// <summary>
    /// A view of rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>)
    /// along dimension 0, sharing storage (no copy). A mini-batch is a row view of X.
    /// </summary>
    public Tensor<T> Rows(int start, int count)
    {
        if (start < 0 || count < 0 || start > RowCount - count)
        {
            throw new ArgumentOutOfRangeException(nameof(start), $"rows [{start}, {(long)start + count}) are outside a tensor of shape {ShapeString(_shape)}");
        }

        var shape = (int[])_shape.Clone();
        shape[0] = count;
        return new Tensor<T>(_data, _offset + (start * RowLength), shape, Writes);
    }

    /// <summary>
    /// A view of the same elements with another shape (no copy). One dimension may be −1 and is then inferred.
    /// </summary>
    /// <exception cref="ArgumentException">The element counts differ; the message names both shapes.</exception>
    public Tensor<T> Reshape(params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var s = (int[])shape.Clone();
        int infer = Array.IndexOf(s, -1);
        if (infer >= 0)
        {
            int known = 1;
            for (int i = 0; i < s.Length; i++)
            {
                if (i != infer)
                {
                    known *= s[i];
                }
            }

            if (known <= 0 || Length % known != 0)
            {
                throw new ArgumentException($"cannot reshape a tensor of shape {ShapeString(_shape)} ({Length} elements) to {ShapeString(shape)}", nameof(shape));
            }

            s[infer] = Length / known;
        }

        ValidateShape(s);
        if (Product(s) != Length)
        {
            throw new ArgumentException($"cannot reshape a tensor of shape {ShapeString(_shape)} ({Length} elements) to {ShapeString(shape)} ({Product(s)} elements)", nameof(shape));
        }

        return new Tensor<T>(_data, _offset, s, Writes);
    }

    /// <summary>A deep copy with freshly allocated, aligned storage.</summary>
    public Tensor<T> Clone()
    {
        var t = new Tensor<T>(_shape);
        ReadOnlySpan.CopyTo(t.WritableSpan);
        return t;
    }

    /// <summary>
    /// A copy with another element type (e.g. a float tensor as double for gradient checking), each element
    /// converted with <c>TOther.CreateTruncating</c>. Same shape, fresh aligned storage.
    /// </summary>
    public Tensor<TOther> ConvertTo<TOther>()
        where TOther : unmanaged, IFloatingPointIeee754<TOther>
    {
        var result = new Tensor<TOther>(_shape);
        var s = ReadOnlySpan;
        var d = result.WritableSpan;
        for (int i = 0; i < s.Length; i++)
        {
            d[i] = TOther.CreateTruncating(s[i]);
        }

        return result;
    }

    /// <summary>Copies every element into <paramref name="destination"/>, which must have the same shape.</summary>
    public void CopyTo(Tensor<T> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        RequireSameShape(this, destination, nameof(destination));
        ReadOnlySpan.CopyTo(destination.WritableSpan);
        destination.MarkWritten();
    }

    /// <summary>
    /// Copies <paramref name="source"/> (row-major, exactly <see cref="Length"/> values) into this tensor: the way to set a
    /// layer's weights from an array that is counted, so W stays cacheable for inference's packed copy (see <see cref="Span"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public void CopyFrom(ReadOnlySpan<T> source)
    {
        if (source.Length != Length)
        {
            throw new ArgumentException($"source holds {source.Length} values but the tensor of shape {ShapeString(_shape)} holds {Length}", nameof(source));
        }

        source.CopyTo(WritableSpan);
        MarkWritten();
    }

    /// <summary>Sets every element to <paramref name="value"/>.</summary>
    public void Fill(T value)
    {
        WritableSpan.Fill(value);
        MarkWritten();
    }

    /// <summary>Sets every element to zero.</summary>
    public void Clear()
    {
        WritableSpan.Clear();
        MarkWritten();
    }

    /// <summary>True when both tensors have the same shape.</summary>
    public bool SameShape(Tensor<T> other) => other is not null && _shape.AsSpan().SequenceEqual(other._shape);

    /// <summary>
    /// True when the shapes match and every pair satisfies |a − b| ≤ atol + rtol·|b|, the rule of numpy's and PyTorch's
    /// <c>isclose</c>: an infinity is close only to the same infinity (never to a finite value or to the other sign,
    /// whatever the tolerances), and NaN is close only to NaN (as with <c>equal_nan=True</c>).
    /// Intended for tests; see <see cref="MaxAbsDifference"/> for the largest gap.
    /// </summary>
    public bool IsClose(Tensor<T> other, double rtol = 1e-5, double atol = 1e-8)
    {
        if (!SameShape(other))
        {
            return false;
        }

        var a = ReadOnlySpan;
        var b = other.ReadOnlySpan;
        for (int i = 0; i < a.Length; i++)
        {
            double x = double.CreateTruncating(a[i]);
            double y = double.CreateTruncating(b[i]);
            if (x == y || (double.IsNaN(x) && double.IsNaN(y)))
            {
                continue;
            }

            // Unequal, and one infinite: |x − y| is ∞ and so is rtol·|y| when y is the infinity, which let any value
            // (or −∞) be "close" to +∞ but not the other way round.
            if (double.IsInfinity(x) || double.IsInfinity(y) || !(Math.Abs(x - y) <= atol + (rtol * Math.Abs(y))))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The largest |a − b| over all elements (shapes must match). Equal elements differ by 0, equal infinities included
    /// (∞ − ∞ would be NaN); an infinity against anything else gives +∞, and a NaN in either tensor gives NaN.
    /// </summary>
    public double MaxAbsDifference(Tensor<T> other)
    {
        ArgumentNullException.ThrowIfNull(other);
        RequireSameShape(this, other, nameof(other));
        double max = 0;
        var a = ReadOnlySpan;
        var b = other.ReadOnlySpan;
        for (int i = 0; i < a.Length; i++)
        {
            double x = double.CreateTruncating(a[i]);
            double y = double.CreateTruncating(b[i]);
            max = Math.Max(max, x == y ? 0 : Math.Abs(x - y));
        }

        return max;
    }

    /// <summary>Exact element-wise equality with the same shape.</summary>
    public bool Equals(Tensor<T>? other) => other is not null && SameShape(other) && ReadOnlySpan.SequenceEqual(other.ReadOnlySpan);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Tensor<T> t && Equals(t);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (int d in _shape)
        {
            h.Add(d);
        }

        return h.ToHashCode();
    }

    /// <summary>
    /// A readable form: the shape, then the elements nested by dimension (up to 6 per dimension
    /// shown, with "..." marking elided ones).
    /// </summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("Tensor<").Append(typeof(T).Name).Append("> ").Append(ShapeString(_shape)).Append(' ');
        AppendDim(sb, 0, 0);
        return sb.ToString();
    }

    private void AppendDim(StringBuilder sb, int axis, int baseIndex)
    {
        const int Edge = 3;
        int n = _shape[axis];
        int stride = ProductFrom(_shape, axis + 1);
        sb.Append('[');
        for (int i = 0; i < n; i++)
        {
            if (n > 2 * Edge && i == Edge)
            {
                sb.Append("..., ");
                i = n - Edge - 1;
                continue;
            }

            if (axis == _shape.Length - 1)
            {
                sb.Append(double.CreateTruncating(_data[_offset + baseIndex + i]).ToString("G6", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                AppendDim(sb, axis + 1, baseIndex + (i * stride));
            }

            if (i < n - 1)
            {
                sb.Append(axis == _shape.Length - 1 ? ", " : ",\n" + new string(' ', 12 + typeof(T).Name.Length + ShapeString(_shape).Length + axis + 1));
            }
        }

        sb.Append(']');
    }

    /// <summary>Formats a shape as "(2, 3)".</summary>
    public static string ShapeString(ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder("(");
        for (int i = 0; i < shape.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(", ");
            }

            sb.Append(shape[i]);
        }

        return sb.Append(')').ToString();
    }

    /// <summary>The shape formatted as "(2, 3)".</summary>
    public string ShapeText => ShapeString(_shape);

    /// <summary>Throws an <see cref="ArgumentException"/> naming both shapes unless they are equal.</summary>
    public static void RequireSameShape(Tensor<T> a, Tensor<T> b, string paramName)
    {
        if (!a.SameShape(b))
        {
            throw new ArgumentException($"shape mismatch: {ShapeString(a._shape)} vs {ShapeString(b._shape)}", paramName);
        }
    }

    internal int[] ShapeArray => _shape;

    private int Index(int i)
    {
        RequireRank(1);
        CheckIndex(i, 0);
        return i;
    }

    private int Index(int i, int j)
    {
        RequireRank(2);
        CheckIndex(i, 0);
        CheckIndex(j, 1);
        return (i * _shape[1]) + j;
    }

    private int Index(int i, int j, int k)
    {
        RequireRank(3);
        CheckIndex(i, 0);
        CheckIndex(j, 1);
        CheckIndex(k, 2);
        return (((i * _shape[1]) + j) * _shape[2]) + k;
    }

    private int Index(int i, int j, int k, int l)
    {
        RequireRank(4);
        CheckIndex(i, 0);
        CheckIndex(j, 1);
        CheckIndex(k, 2);
        CheckIndex(l, 3);
        return (((((i * _shape[1]) + j) * _shape[2]) + k) * _shape[3]) + l;
    }

    private void RequireRank(int rank)
    {
        if (_shape.Length != rank)
        {
            throw new ArgumentException($"a rank-{rank} index was used on a tensor of shape {ShapeString(_shape)} (rank {_shape.Length})");
        }
    }

    private void CheckIndex(int i, int axis)
    {
        if ((uint)i >= (uint)_shape[axis])
        {
            throw new IndexOutOfRangeException($"index {i} on axis {axis} is outside [0, {_shape[axis]}) of a tensor of shape {ShapeString(_shape)}");
        }
    }

    private static int[] ValidateShape(int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (Tensor.ShapeProblem(shape) is { } problem)
        {
            throw new ArgumentException(problem, nameof(shape));
        }

        return (int[])shape.Clone();
    }

    private static int Product(int[] shape) => ProductFrom(shape, 0);

    private static int ProductFrom(int[] shape, int from)
    {
        int p = 1;
        for (int i = from; i < shape.Length; i++)
        {
            p *= shape[i];
        }

        return p;
    }

    private static unsafe (T[] Data, int Offset) AllocateAligned(int length)
    {
        if (length == 0)
        {
            return _emptyStorage; // nothing to write: every empty tensor shares one (a file of many empty tensors stays small)
        }

        return AllocateAlignedArray(length);
    }

    private static unsafe (T[] Data, int Offset) AllocateAlignedArray(int length)
    {
        int pad = Alignment / sizeof(T);
        var data = GC.AllocateArray<T>(length + pad, pinned: true);
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(data));
        HugePages.Advise(address, (long)data.Length * sizeof(T)); // a large tensor (a training set): fewer TLB misses
        int misalign = (int)(address & (Alignment - 1));
        int offset = misalign == 0 ? 0 : (Alignment - misalign) / sizeof(T);
        return (data, offset);
    }
}

/// <summary>The write count and exposure a tensor shares with its views (see <c>Tensor&lt;T&gt;.CacheableWriteCount</c>).</summary>
internal sealed class WriteCounter
{
    /// <summary>The counter of every storage exposed before it had one of its own (its count is never read).</summary>
    public static readonly WriteCounter ExposedShared = new() { Exposed = true };

    public long Count;
    public bool Exposed;
}
