using System.Numerics;

namespace DeepLearning;

/// <summary>
/// A data source read from disk one mini-batch at a time, for data larger than memory (the course's m = 50 million).
/// Made by <see cref="BinaryRowFile.Open{T}"/>, <see cref="Idx.OpenStreaming{T}"/> and <see cref="Csv.OpenStreaming{T}"/>;
/// the training loop accepts it wherever it accepts a <see cref="DataSet{T}"/>.
/// </summary>
/// <remarks>
/// <para>
/// Memory does not grow with m: an epoch holds one shuffle buffer of at most <see cref="BufferRows"/> rows
/// (<see cref="BufferRows"/>·(n_x + C) elements) plus the file's read buffer. The buffer never holds more rows than the
/// file has (min(<see cref="BufferRows"/>, m)) and grows only as rows are actually read, so a file whose header claims
/// wide rows but holds few allocates little.
/// </para>
/// <para>
/// Shuffled epochs read the file through a shuffle buffer: it is filled with the first <see cref="BufferRows"/> rows,
/// then each output row is drawn uniformly from the buffer and its slot refilled with the next row from the file.
/// When the file is seekable and m is known (binary row files, uncompressed IDX), the file itself is read in blocks of
/// <see cref="ChunkRows"/> rows visited in a random order — block (s + k·d) mod K for k = 0..K−1, with random s and a
/// random stride d coprime with K — so rows far apart in the file mix even with a small buffer. Every row is yielded
/// exactly once per epoch either way. Sequential files (gzip, CSV) are shuffled by the buffer only, so make the
/// buffer large relative to any ordering in the file (or shuffle the file once when you write it).
/// </para>
/// </remarks>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class StreamingDataSource<T> : IDataSource<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Func<RowStream<T>> _open;

    internal StreamingDataSource(string description, int features, int targets, long count, int classes, IReadOnlyList<string>? classNames, int bufferRows, int chunkRows, Func<RowStream<T>> open)
    {
        if (bufferRows < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(bufferRows), bufferRows, $"bufferRows must be ≥ 1; received {bufferRows}");
        }

        if (chunkRows < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(chunkRows), chunkRows, $"chunkRows must be ≥ 1; received {chunkRows}");
        }

        Description = description;
        ClassNames = CheckClassNames(classNames, classes);
        Features = features;
        Targets = targets;
        Count = count;
        Classes = classes;
        BufferRows = bufferRows;
        ChunkRows = chunkRows;
        _open = open;
    }

    /// <summary>
    /// A read-only copy of the class names, checked as <see cref="DataSet{T}"/> checks them: one per class, none null,
    /// no two equal, and none for regression. Checked when a source is opened, not first at <see cref="ToDataSet"/>;
    /// copied so that the caller editing its list later does not rename the classes.
    /// </summary>
    /// <exception cref="ArgumentException">The names do not fit the classes; the parameter is <c>classNames</c>.</exception>
    internal static IReadOnlyList<string>? CheckClassNames(IReadOnlyList<string>? classNames, int classes)
    {
        if (classNames is null)
        {
            return null;
        }

        if (classes == 0)
        {
            throw new ArgumentException("classNames were given for a regression source (no classes)", nameof(classNames));
        }

        if (classNames.Count != classes)
        {
            throw new ArgumentException($"classNames has {classNames.Count} names but there are {classes} classes", nameof(classNames));
        }

        return DataSet<T>.CopyClassNames(classNames);
    }

    /// <summary>What is being streamed (the file name or names).</summary>
    public string Description { get; }

    /// <inheritdoc/>
    public int Features { get; }

    /// <inheritdoc/>
    public int Targets { get; }

    /// <inheritdoc/>
    public long Count { get; }

    /// <summary>The number of classes for classification; 0 for regression.</summary>
    public int Classes { get; }

    /// <summary>Optional display names of the classes.</summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>The rows held by the shuffle buffer of a shuffled epoch.</summary>
    public int BufferRows { get; }

    /// <summary>The rows in one block when a seekable file is visited in random block order.</summary>
    public int ChunkRows { get; }

    /// <inheritdoc/>
    public IBatchReader<T> OpenEpoch(int batchSize, RandomSource? random)
    {
        BatchBuffers.CheckBatchSize(batchSize);
        var stream = _open();
        try
        {
            return new Reader(this, stream, batchSize, random);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Reads every row into memory (for a file that fits after all).</summary>
    /// <remarks>
    /// When m is known (it was checked against the file when the source was opened) X and Y are allocated once;
    /// otherwise they grow by doubling as rows arrive.
    /// </remarks>
    /// <exception cref="InvalidDataException">The file is malformed or changed since it was opened.</exception>
    public DataSet<T> ToDataSet()
    {
        if (Count > Tensor.MaxLength / Math.Max(1, Math.Max(Features, Targets)))
        {
            throw new InvalidDataException($"{Description}: m = {Count} rows of n_x = {Features}, C = {Targets} do not fit in memory; stream them instead");
        }

        using var stream = _open();
        Tensor<T> xt, yt;
        if (Count >= 0)
        {
            xt = new Tensor<T>((int)Count, Features);
            yt = new Tensor<T>((int)Count, Targets);
            for (int i = 0; i < Count; i++)
            {
                if (!stream.ReadRow(xt.Span.Slice(i * Features, Features), yt.Span.Slice(i * Targets, Targets)))
                {
                    throw new InvalidDataException($"{Description}: the file ended after {i} of the {Count} rows its header declares");
                }
            }
        }
        else
        {
            int most = Tensor.MaxLength / Math.Max(1, Math.Max(Features, Targets));
            var x = Array.Empty<T>();
            var y = Array.Empty<T>();
            int m = 0;
            for (int capacity = 0; ; m++)
            {
                if (m == capacity)
                {
                    capacity = (int)Math.Min(most, Math.Max(1L, 2L * capacity));
                    if (capacity == m)
                    {
                        throw new InvalidDataException($"{Description}: more rows of n_x = {Features}, C = {Targets} than fit in memory; stream them instead");
                    }

                    Array.Resize(ref x, capacity * Features);
                    Array.Resize(ref y, capacity * Targets);
                }

                if (!stream.ReadRow(x.AsSpan(m * Features, Features), y.AsSpan(m * Targets, Targets)))
                {
                    break;
                }
            }

            xt = new Tensor<T>(m, Features);
            yt = new Tensor<T>(m, Targets);
            x.AsSpan(0, m * Features).CopyTo(xt.Span);
            y.AsSpan(0, m * Targets).CopyTo(yt.Span);
        }

        return Classes == 0
            ? new DataSet<T>(xt, yt)
            : new DataSet<T>(xt, yt, DataSet.ToLabels(yt), Classes, ClassNames);
    }

    /// <inheritdoc/>
    public override string ToString() => $"StreamingDataSource<{typeof(T).Name}>({Description}): m = {(Count < 0 ? "unknown" : Count)}, n_x = {Features}, C = {Targets}";

    private sealed class Reader : IBatchReader<T>
    {
        private readonly RowStream<T> _stream;
        private readonly string _description;
        private readonly RandomSource? _random;
        private readonly int _batchSize;
        private readonly int _n;
        private readonly int _c;
        private readonly int _capacity;
        private T[] _bufferX = [];
        private T[] _bufferY = [];
        private int _allocatedRows;
        private readonly bool _chunked;
        private readonly long _count;
        private readonly int _chunkRows;
        private readonly long _chunks;
        private readonly long _chunkStart;
        private readonly long _chunkStride;
        private long _chunkIndex;
        private long _rowsLeftInChunk;
        private int _filled;
        private bool _started;

        public Reader(StreamingDataSource<T> source, RowStream<T> stream, int batchSize, RandomSource? random)
        {
            _stream = stream;
            _description = source.Description;
            _random = random;
            _batchSize = batchSize;
            _n = source.Features;
            _c = source.Targets;
            _count = source.Count;
            long rows = Math.Min(source.BufferRows, Array.MaxLength / Math.Max(1, _n + _c));
            _capacity = (int)(source.Count >= 0 ? Math.Min(rows, source.Count) : rows);
            _chunkRows = source.ChunkRows;
            _chunked = random is not null && stream.CanSeek && source.Count > 0;
            if (_chunked)
            {
                _chunks = (source.Count + _chunkRows - 1) / _chunkRows;
                _chunkStart = (long)(random!.NextDouble() * _chunks);
                _chunkStride = 1;
                if (_chunks > 2)
                {
                    do
                    {
                        _chunkStride = 1 + (long)(random.NextDouble() * (_chunks - 1));
                    }
                    while (Gcd(_chunkStride, _chunks) != 1);
                }
            }
        }

        public int Next(Tensor<T> x, Tensor<T> y)
        {
            BatchBuffers.Check(x, y, _batchSize, _n, _c);
            var xd = x.Span;
            var yd = y.Span;
            int r = 0;
            if (_random is null)
            {
                while (r < _batchSize && NextSourceRow(xd.Slice(r * _n, _n), yd.Slice(r * _c, _c)))
                {
                    r++;
                }

                return r;
            }

            if (!_started)
            {
                _started = true;
                while (_filled < _capacity && GrowBuffer() && NextSourceRow(_bufferX.AsSpan(_filled * _n, _n), _bufferY.AsSpan(_filled * _c, _c)))
                {
                    _filled++;
                }
            }

            for (; r < _batchSize && _filled > 0; r++)
            {
                int j = _random.NextInt(_filled);
                var bx = _bufferX.AsSpan(j * _n, _n);
                var by = _bufferY.AsSpan(j * _c, _c);
                bx.CopyTo(xd.Slice(r * _n, _n));
                by.CopyTo(yd.Slice(r * _c, _c));
                if (!NextSourceRow(bx, by))
                {
                    int last = _filled - 1;
                    _bufferX.AsSpan(last * _n, _n).CopyTo(bx);
                    _bufferY.AsSpan(last * _c, _c).CopyTo(by);
                    _filled = last;
                }
            }

            return r;
        }

        public void Dispose() => _stream.Dispose();

        /// <summary>Makes room for one more row in the shuffle buffer, doubling it up to its capacity; always true.</summary>
        private bool GrowBuffer()
        {
            if (_filled == _allocatedRows)
            {
                _allocatedRows = (int)Math.Min(_capacity, Math.Max(1L, 2L * _allocatedRows));
                Array.Resize(ref _bufferX, _allocatedRows * _n);
                Array.Resize(ref _bufferY, _allocatedRows * _c);
            }

            return true;
        }

        private static long Gcd(long a, long b)
        {
            while (b != 0)
            {
                (a, b) = (b, a % b);
            }

            return a;
        }

        private bool NextSourceRow(Span<T> x, Span<T> y)
        {
            if (!_chunked)
            {
                return _stream.ReadRow(x, y);
            }

            while (_rowsLeftInChunk == 0)
            {
                if (_chunkIndex == _chunks)
                {
                    return false;
                }

                long chunk = (_chunkStart + (_chunkIndex * _chunkStride)) % _chunks;
                _chunkIndex++;
                long first = chunk * _chunkRows;
                _stream.SeekRow(first);
                _rowsLeftInChunk = Math.Min(_chunkRows, _count - first);
            }

            if (!_stream.ReadRow(x, y))
            {
                throw new InvalidDataException($"{_description}: the file ended before the row count in its header ({_count}) was reached; it was truncated while being read");
            }

            _rowsLeftInChunk--;
            return true;
        }
    }
}

/// <summary>
/// A forward reader of rows from one file (and, when <see cref="CanSeek"/>, a random-access one). Reads must not
/// allocate once the stream is open.
/// </summary>
internal abstract class RowStream<T> : IDisposable
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>True when <see cref="SeekRow"/> is supported.</summary>
    public virtual bool CanSeek => false;

    /// <summary>Positions the stream so that the next <see cref="ReadRow"/> returns row <paramref name="row"/>.</summary>
    public virtual void SeekRow(long row) => throw new NotSupportedException("this row stream cannot seek");

    /// <summary>Reads the next row into x (n_x) and y (C); false at the end.</summary>
    public abstract bool ReadRow(Span<T> x, Span<T> y);

    /// <inheritdoc/>
    public abstract void Dispose();
}
