using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Numerics;

namespace DeepLearning;

/// <summary>The element types of the IDX format (the third magic byte).</summary>
public enum IdxElementType : byte
{
    /// <summary>Unsigned byte (0x08), as MNIST and Fashion-MNIST pixels and labels.</summary>
    UInt8 = 0x08,

    /// <summary>Signed byte (0x09).</summary>
    SByte = 0x09,

    /// <summary>Big-endian 16-bit integer (0x0B).</summary>
    Int16 = 0x0B,

    /// <summary>Big-endian 32-bit integer (0x0C).</summary>
    Int32 = 0x0C,

    /// <summary>Big-endian float32 (0x0D).</summary>
    Single = 0x0D,

    /// <summary>Big-endian float64 (0x0E).</summary>
    Double = 0x0E,
}

/// <summary>The header of an IDX file.</summary>
/// <param name="ElementType">The element type.</param>
/// <param name="Dimensions">The size of each dimension, outermost (the example count) first.</param>
/// <param name="Compressed">True when the file is gzip-compressed.</param>
public sealed record IdxHeader(IdxElementType ElementType, int[] Dimensions, bool Compressed)
{
    /// <summary>The number of examples: the first dimension.</summary>
    public int Count => Dimensions[0];

    /// <summary>The elements per example: the product of every dimension after the first (1 for labels).</summary>
    /// <exception cref="OverflowException">The product does not fit an <see cref="int"/> (never for a header read from a file).</exception>
    public int RowLength => checked((int)Dimensions.Skip(1).Aggregate(1L, (p, d) => checked(p * d)));

    /// <summary>The total number of elements.</summary>
    /// <exception cref="OverflowException">The product does not fit a <see cref="long"/> (never for a header read from a file).</exception>
    public long ElementCount => Dimensions.Aggregate(1L, (p, d) => checked(p * d));

    /// <summary>The bytes taken by the data after the header.</summary>
    public long DataBytes => checked(ElementCount * Idx.ElementSize(ElementType));

    /// <summary>The header length in bytes: 4 + 4 per dimension.</summary>
    public int HeaderBytes => 4 + (4 * Dimensions.Length);

    /// <inheritdoc/>
    public override string ToString() => $"{string.Join(" × ", Dimensions)} of {ElementType}{(Compressed ? " (gzip)" : string.Empty)}";
}

/// <summary>
/// Reads and writes the IDX format of MNIST and Fashion-MNIST (raw or gzip-compressed): the magic 00 00 type rank,
/// then rank big-endian int32 dimensions, then the elements in row-major big-endian order.
/// </summary>
/// <remarks>
/// <para>
/// Every byte of the file is treated as untrusted, and nothing is allocated from a header claim that the bytes actually
/// present cannot back. The header is checked first: the magic number, every dimension ≥ 0, and the products of the
/// dimensions (elements per example, bytes in all) without overflow. A raw file must then be exactly as long as the
/// header says before anything is read. A gzip file's size trailer (ISIZE) is only a quick first check, not evidence
/// (when it disagrees, as it honestly does for a file of several gzip members, the file is decompressed once without
/// keeping anything to count its true length): the data is decompressed in bounded chunks, buffers grow only as bytes
/// actually arrive, and the decompressed length must equal the header's claim before the tensor or label array is allocated.
/// </para>
/// <para>
/// Readers throw only <see cref="ArgumentException"/> (a null or empty path), <see cref="FileNotFoundException"/>,
/// <see cref="InvalidDataException"/> (any malformed, truncated or inconsistent file; the message names the file and
/// the dimension or value at fault) and <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/> from
/// the operating system.
/// </para>
/// </remarks>
public static class Idx
{
    /// <summary>The size in bytes of one element of <paramref name="type"/>.</summary>
    public static int ElementSize(IdxElementType type) => type switch
    {
        IdxElementType.UInt8 or IdxElementType.SByte => 1,
        IdxElementType.Int16 => 2,
        IdxElementType.Int32 or IdxElementType.Single => 4,
        IdxElementType.Double => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, $"unknown IDX element type 0x{(byte)type:X2}"),
    };

    /// <summary>
    /// Reads and validates the header of an IDX file, allocating nothing from its claims. For a raw file the length is
    /// checked against the header too; for a gzip file the size trailer is, or when it disagrees (a file of several gzip
    /// members) the decompressed length, counted without keeping the data (which is checked again when it is read).
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a valid IDX file; the message names it and the value.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static IdxHeader ReadHeader(string path)
    {
        using var file = IdxFile.Open(path);
        return file.Header;
    }

    /// <summary>
    /// Reads an IDX file into a tensor: (d0, d1·…·dk) for rank ≥ 2 (each example flattened into a row), (d0) for
    /// rank 1. Every element is multiplied by <paramref name="scale"/> (1/255 maps bytes to [0, 1]).
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// The file is malformed, truncated or longer than its header says, or a finite value times <paramref name="scale"/>
    /// overflows <typeparamref name="T"/> (a double 1e300 read as float).
    /// </exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scale"/> is NaN or ±∞.</exception>
    public static Tensor<T> Read<T>(string path, double scale = 1.0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckScale(scale);
        using var file = IdxFile.Open(path);
        var h = file.Header;
        if (h.ElementCount > Tensor.MaxLength)
        {
            throw new InvalidDataException($"'{path}' holds {h.ElementCount} elements ({h}); more than one tensor can hold");
        }

        file.ProveData();
        var t = h.Dimensions.Length == 1 ? new Tensor<T>(h.Count) : new Tensor<T>(h.Count, h.RowLength);
        file.ReadValues(t.Span, scale);
        file.EnsureAtEnd();
        return t;
    }

    // NaN or ±∞ turned every input into NaN or ±∞ (0·∞ for zero pixels), which Fit then reported as bad data.
    private static void CheckScale(double scale)
    {
        if (!double.IsFinite(scale))
        {
            throw new ArgumentOutOfRangeException(nameof(scale), scale, string.Create(CultureInfo.InvariantCulture, $"scale must be finite; received {scale}"));
        }
    }

    /// <summary>Reads a rank-1 IDX file of integer class labels (each ≥ 0).</summary>
    /// <exception cref="InvalidDataException">The file is malformed, not rank-1 integers, or holds a negative label.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static int[] ReadLabels(string path)
    {
        using var file = IdxFile.Open(path);
        var h = file.Header;
        if (h.Dimensions.Length != 1 || h.ElementType is IdxElementType.Single or IdxElementType.Double)
        {
            throw new InvalidDataException($"'{path}' holds {h}; labels must be a rank-1 integer IDX file");
        }

        file.ProveData();
        var labels = new int[h.Count];
        Span<double> one = stackalloc double[1];
        for (int i = 0; i < labels.Length; i++)
        {
            file.ReadValues(one, 1.0);
            if (one[0] < 0)
            {
                throw new InvalidDataException($"'{path}': label {i} is {one[0]}; labels must be ≥ 0");
            }

            labels[i] = (int)one[0];
        }

        file.EnsureAtEnd();
        return labels;
    }

    /// <summary>
    /// Loads an images file and a labels file (as MNIST's train-images-idx3-ubyte and train-labels-idx1-ubyte) into a
    /// classification data set: X (m, height·width) multiplied by <paramref name="scale"/>, Y one-hot (or a 0/1 column
    /// for 2 classes).
    /// </summary>
    /// <param name="imagesPath">The IDX file of inputs (rank ≥ 1).</param>
    /// <param name="labelsPath">The rank-1 IDX file of class indices, same count.</param>
    /// <param name="classes">The number of classes; 0 infers max label + 1 (at least 2).</param>
    /// <param name="scale">Multiplies every input (1/255 maps pixel bytes to [0, 1]).</param>
    /// <param name="classNames">Optional display names.</param>
    /// <exception cref="InvalidDataException">A file is malformed, the counts disagree, or a label is out of range.</exception>
    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    public static DataSet<T> Load<T>(string imagesPath, string labelsPath, int classes = 0, double scale = 1.0, IReadOnlyList<string>? classNames = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckScale(scale);
        var labels = ReadLabels(labelsPath);
        var x = Read<T>(imagesPath, scale);
        if (x.Rank == 1)
        {
            x = x.Reshape(x.Length, 1);
        }

        if (x.RowCount != labels.Length)
        {
            throw new InvalidDataException($"'{imagesPath}' holds {x.RowCount} examples but '{labelsPath}' holds {labels.Length} labels");
        }

        classes = ResolveClasses(labels, classes, labelsPath);
        return DataSet.FromLabels(x, labels, classes, classNames);
    }

    /// <summary>
    /// A streaming source over an images file and a labels file: memory of <paramref name="bufferRows"/> rows whatever m
    /// is. Raw files are visited in random blocks when shuffled; gzip files are read sequentially. A gzip file is
    /// decompressed once here (in bounded chunks, nothing kept) to prove that it holds exactly the data its header
    /// declares, since buffers are sized from that header. Every epoch reopens both files and refuses them
    /// (<see cref="InvalidDataException"/>) if a length, last-write time or header differs from this call's.
    /// </summary>
    /// <param name="imagesPath">The IDX file of inputs.</param>
    /// <param name="labelsPath">The rank-1 IDX file of class indices.</param>
    /// <param name="classes">The number of classes (≥ 2); a label outside [0, classes) is an error when read.</param>
    /// <param name="scale">Multiplies every input.</param>
    /// <param name="bufferRows">Rows in the shuffle buffer.</param>
    /// <param name="chunkRows">Rows per block in random block order.</param>
    /// <param name="classNames">Optional display names: one per class, non-null and distinct (copied).</param>
    /// <exception cref="ArgumentException"><paramref name="classNames"/> does not hold exactly <paramref name="classes"/> distinct non-null names.</exception>
    /// <exception cref="InvalidDataException">A file is malformed or the counts disagree; a label out of range is reported when read.</exception>
    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    public static StreamingDataSource<T> OpenStreaming<T>(string imagesPath, string labelsPath, int classes, double scale = 1.0, int bufferRows = 4096, int chunkRows = 256, IReadOnlyList<string>? classNames = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (classes < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(classes), classes, $"classes must be ≥ 2 for a streaming source; received {classes}");
        }

        CheckScale(scale);
        classNames = StreamingDataSource<T>.CheckClassNames(classNames, classes); // before any file is read
        var (images, imagesPrint) = ProveFile(imagesPath);
        var (labels, labelsPrint) = ProveFile(labelsPath);
        if (labels.Dimensions.Length != 1 || labels.ElementType is IdxElementType.Single or IdxElementType.Double)
        {
            throw new InvalidDataException($"'{labelsPath}' holds {labels}; labels must be a rank-1 integer IDX file");
        }

        if (images.Count != labels.Count)
        {
            throw new InvalidDataException($"'{imagesPath}' holds {images.Count} examples but '{labelsPath}' holds {labels.Count} labels");
        }

        int targets = classes == 2 ? 1 : classes;
        return new StreamingDataSource<T>(
            $"{Path.GetFileName(imagesPath)} + {Path.GetFileName(labelsPath)}",
            images.RowLength,
            targets,
            images.Count,
            classes,
            classNames,
            bufferRows,
            chunkRows,
            () => new IdxRowStream<T>(imagesPath, labelsPath, classes, scale, imagesPrint, labelsPrint, images, labels));
    }

    /// <summary>
    /// Writes a tensor as an IDX file of <paramref name="type"/> (atomically). The dimensions are the tensor's shape
    /// unless <paramref name="dimensions"/> gives others with the same element count (for example (m, 28, 28) for a
    /// (m, 784) tensor). Integer types require integral values in range.
    /// </summary>
    /// <exception cref="ArgumentException">The dimensions are negative, not 1 to 255 of them, do not hold exactly the
    /// tensor's elements, or make more than <see cref="Array.MaxLength"/> elements per example (nothing is written then);
    /// or a value does not fit an integer <paramref name="type"/>.</exception>
    public static void Write<T>(string path, Tensor<T> data, IdxElementType type = IdxElementType.UInt8, bool gzip = false, int[]? dimensions = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(data);
        int[] dims = dimensions ?? data.Shape;
        if (dims.Length is < 1 or > 255 || dims.Any(d => d < 0))
        {
            throw new ArgumentException($"dimensions ({string.Join(", ", dims)}) must be 1 to 255 non-negative sizes holding the tensor's {data.Length} elements", nameof(dimensions));
        }

        // The reader's rule: the non-zero dimensions after the first multiply to at most Array.MaxLength elements per
        // example; checked step by step, so no product wraps (65536⁴ used to wrap to 0 and pass as an empty tensor).
        long extent = 1;
        foreach (int d in dims.AsSpan(1))
        {
            extent = d == 0 ? extent : checked(extent * d);
            if (extent > Array.MaxLength)
            {
                throw new ArgumentException($"dimensions ({string.Join(", ", dims)}) make more than {Array.MaxLength} elements per example, which no IDX reader here accepts; they must hold the tensor's {data.Length} elements", nameof(dimensions));
            }
        }

        long count = dims.Contains(0) ? 0 : checked(dims[0] * extent);
        if (count != data.Length)
        {
            throw new ArgumentException($"dimensions ({string.Join(", ", dims)}) hold {count} elements, not the tensor's {data.Length}", nameof(dimensions));
        }

        int size = ElementSize(type);
        WriteAtomically(path, gzip, stream =>
        {
            Span<byte> head = stackalloc byte[4];
            head[2] = (byte)type;
            head[3] = (byte)dims.Length;
            stream.Write(head);
            foreach (int d in dims)
            {
                BinaryPrimitives.WriteInt32BigEndian(head, d);
                stream.Write(head);
            }

            var buffer = new byte[size * 4096];
            var s = data.ReadOnlySpan;
            for (int start = 0; start < s.Length; start += 4096)
            {
                int n = Math.Min(4096, s.Length - start);
                for (int i = 0; i < n; i++)
                {
                    Encode(type, double.CreateTruncating(s[start + i]), buffer.AsSpan(i * size, size), start + i);
                }

                stream.Write(buffer, 0, n * size);
            }
        });
    }

    /// <summary>Writes class labels as a rank-1 IDX file of unsigned bytes (atomically).</summary>
    public static void WriteLabels(string path, int[] labels, bool gzip = false)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var t = new Tensor<double>(labels.Length);
        for (int i = 0; i < labels.Length; i++)
        {
            t[i] = labels[i];
        }

        Write(path, t, IdxElementType.UInt8, gzip);
    }

    // The fingerprint is taken from the handle whose data is proved: the same file, even if the path is replaced meanwhile.
    private static (IdxHeader Header, FileFingerprint Fingerprint) ProveFile(string path)
    {
        using var file = IdxFile.Open(path);
        var fingerprint = file.Fingerprint;
        file.ProveData(keep: false);
        return (file.Header, fingerprint);
    }

    internal static int ResolveClasses(int[] labels, int classes, string source)
    {
        int max = labels.Length == 0 ? 0 : labels.Max();
        if (classes == 0)
        {
            if (max >= DataSet.MaxInferredClasses)
            {
                int row = Array.IndexOf(labels, max);
                throw new InvalidDataException($"{source}: label {max} (example {row}) would make {(long)max + 1} classes, more than the {DataSet.MaxInferredClasses} this loader infers; pass the number of classes explicitly");
            }

            return Math.Max(2, max + 1);
        }

        if (classes < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(classes), classes, $"classes must be 0 (infer) or ≥ 2; received {classes}");
        }

        if (max >= classes)
        {
            int row = Array.IndexOf(labels, max);
            throw new InvalidDataException($"{source}: label {max} (example {row}) is outside [0, {classes})");
        }

        return classes;
    }

    internal static void WriteAtomically(string path, bool gzip, Action<Stream> write) =>
        AtomicFile.Write(path, file =>
        {
            if (!gzip)
            {
                write(file);
                return;
            }

            using var z = new GZipStream(file, CompressionLevel.Optimal, leaveOpen: true);
            write(z);
        });

    private static void Encode(IdxElementType type, double v, Span<byte> destination, long index)
    {
        if (type == IdxElementType.Single && double.IsFinite(v) && !float.IsFinite((float)v))
        {
            // Written as ±∞ it would read back as a different value with no error.
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"element {index} is {v}, beyond the float range of an IDX Single (±{float.MaxValue}); write it as Double"));
        }

        if (type is not (IdxElementType.Single or IdxElementType.Double))
        {
            (double lo, double hi) = type switch
            {
                IdxElementType.UInt8 => (0.0, 255.0),
                IdxElementType.SByte => (-128.0, 127.0),
                IdxElementType.Int16 => (short.MinValue, short.MaxValue),
                _ => (int.MinValue, (double)int.MaxValue),
            };
            if (!(v >= lo && v <= hi) || v != Math.Floor(v))
            {
                throw new ArgumentException($"element {index} is {v}; an IDX {type} holds integers in [{lo}, {hi}]");
            }
        }

        switch (type)
        {
            case IdxElementType.UInt8: destination[0] = (byte)v; break;
            case IdxElementType.SByte: destination[0] = unchecked((byte)(sbyte)v); break;
            case IdxElementType.Int16: BinaryPrimitives.WriteInt16BigEndian(destination, (short)v); break;
            case IdxElementType.Int32: BinaryPrimitives.WriteInt32BigEndian(destination, (int)v); break;
            case IdxElementType.Single: BinaryPrimitives.WriteSingleBigEndian(destination, (float)v); break;
            default: BinaryPrimitives.WriteDoubleBigEndian(destination, v); break;
        }
    }

    private sealed class IdxRowStream<T> : RowStream<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly IdxFile _images;
        private readonly IdxFile _labels;
        private readonly int _classes;
        private readonly double _scale;
        private readonly int _count;
        private readonly double[] _label = new double[1];
        private long _next;

        public IdxRowStream(string imagesPath, string labelsPath, int classes, double scale, FileFingerprint imagesPrint, FileFingerprint labelsPrint, IdxHeader images, IdxHeader labels)
        {
            // A file rewritten since the source was opened (other dimensions, element type or count) would be read with
            // the first file's shape and scale.
            // Compared against the open handles, after opening: a file replaced between a check by path and the open
            // would go unnoticed otherwise.
            _images = FileFingerprint.Reopen(imagesPath, IdxFile.Open);
            try
            {
                imagesPrint.Check(imagesPath, _images.FileStream);
                _labels = FileFingerprint.Reopen(labelsPath, IdxFile.Open);
                try
                {
                    labelsPrint.Check(labelsPath, _labels.FileStream);
                }
                catch
                {
                    _labels.Dispose();
                    throw;
                }

                bool imagesChanged = !Same(_images.Header, images);
                if (imagesChanged || !Same(_labels.Header, labels))
                {
                    _labels.Dispose();
                    throw new InvalidDataException($"'{(imagesChanged ? imagesPath : labelsPath)}' changed since it was opened for streaming: its header was {(imagesChanged ? images : labels)}, now {(imagesChanged ? _images.Header : _labels.Header)}; open the files again");
                }
            }
            catch
            {
                _images.Dispose();
                throw;
            }

            _classes = classes;
            _scale = scale;
            _count = _images.Header.Count;
        }

        public override bool CanSeek => _images.CanSeek && _labels.CanSeek;

        private static bool Same(IdxHeader a, IdxHeader b) =>
            a.ElementType == b.ElementType && a.Compressed == b.Compressed && a.Dimensions.AsSpan().SequenceEqual(b.Dimensions);

        public override void SeekRow(long row)
        {
            _images.SeekRow(row);
            _labels.SeekRow(row);
            _next = row;
        }

        public override bool ReadRow(Span<T> x, Span<T> y)
        {
            if (_next >= _count)
            {
                return false;
            }

            _images.ReadValues(x, _scale);
            _labels.ReadValues(_label.AsSpan(), 1.0);
            double label = _label[0];
            if (!(label >= 0 && label < _classes))
            {
                throw new InvalidDataException($"'{_labels.Path}': label of example {_next} is {label}; expected an integer in [0, {_classes})");
            }

            if (y.Length == 1)
            {
                y[0] = label == 1 ? T.One : T.Zero;
            }
            else
            {
                y.Clear();
                y[(int)label] = T.One;
            }

            _next++;
            return true;
        }

        public override void Dispose()
        {
            _images.Dispose();
            _labels.Dispose();
        }
    }
}

/// <summary>An open IDX file positioned at its data, raw or gzip.</summary>
internal sealed class IdxFile : IDisposable
{
    private const int ScratchBytes = 1 << 16;
    private const int MaxChunkBytes = 1 << 26;
    private readonly FileStream _file;
    private readonly Stream _data;
    private readonly byte[] _scratch;
    private readonly int _elementSize;
    private readonly long _rowBytes;
    private long _consumed;
    private List<byte[]>? _chunks;
    private int _chunkIndex;
    private int _chunkOffset;

    private IdxFile(string path, FileStream file, Stream data, IdxHeader header)
    {
        Path = path;
        _file = file;
        _data = data;
        Header = header;
        _elementSize = Idx.ElementSize(header.ElementType);
        _rowBytes = (long)header.RowLength * _elementSize;

        // Bounded whatever the header claims: reads go through it in pieces.
        _scratch = new byte[(int)Math.Clamp(header.DataBytes, _elementSize, ScratchBytes)];
    }

    public string Path { get; }

    public IdxHeader Header { get; }

    public bool CanSeek => !Header.Compressed;

    /// <summary>The open file (the compressed bytes for gzip), for comparing its fingerprint.</summary>
    public FileStream FileStream => _file;

    /// <summary>The length and last-write time of the open file.</summary>
    public FileFingerprint Fingerprint => FileFingerprint.Of(_file);

    public static IdxFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"IDX file '{path}' does not exist", path);
        }

        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Stream data = file;
        try
        {
            Span<byte> probe = stackalloc byte[4];
            bool gzip = file.Length >= 18 && file.ReadAtLeast(probe[..2], 2, throwOnEndOfStream: false) == 2 && probe[0] == 0x1F && probe[1] == 0x8B;
            uint gzipSize = 0;
            if (gzip)
            {
                // ISIZE: the uncompressed length mod 2³², the last 4 bytes of a gzip member.
                file.Position = file.Length - 4;
                file.ReadExactly(probe);
                gzipSize = BinaryPrimitives.ReadUInt32LittleEndian(probe);
                file.Position = 0;
                data = new GZipStream(file, CompressionMode.Decompress, leaveOpen: true);
            }
            else
            {
                file.Position = 0;
            }

            var header = ReadHeader(path, data, gzip);
            long total = header.HeaderBytes + header.DataBytes;
            if (gzip)
            {
                if ((uint)total != gzipSize)
                {
                    // The trailer covers only the last gzip member: a file of several members (bgzip, pigz -i, or
                    // 'cat a.gz b.gz') disagrees with it honestly. Count what the file really decompresses to, through
                    // the fixed buffer and no further than one byte past the claim, then start again at its first byte.
                    long actual = header.HeaderBytes + CountRemaining(data, header.DataBytes + 1);
                    if (actual != total)
                    {
                        throw new InvalidDataException($"'{path}': its header ({header}) needs {total} bytes, but the file decompresses to {(actual > total ? "more than " + total : actual)} bytes; the file is {(actual < total ? "truncated" : "longer than its header declares")} or corrupt");
                    }

                    data.Dispose();
                    file.Position = 0;
                    data = new GZipStream(file, CompressionMode.Decompress, leaveOpen: true);
                    ReadHeader(path, data, gzip);
                }
            }
            else if (file.Length != total)
            {
                throw new InvalidDataException($"'{path}' has {file.Length} bytes but its header ({header}) needs exactly {total}{(file.Length < total ? "; the file is truncated" : "; there are trailing bytes")}");
            }

            return new IdxFile(path, file, data, header);
        }
        catch (Exception e) when (e is not OutOfMemoryException && !(e is InvalidDataException && e.Message.Contains(path, StringComparison.Ordinal)))
        {
            if (data != file)
            {
                data.Dispose();
            }

            file.Dispose();
            throw new InvalidDataException($"'{path}' could not be read as IDX: {e.Message}", e);
        }
        catch
        {
            if (data != file)
            {
                data.Dispose();
            }

            file.Dispose();
            throw;
        }
    }

    /// <summary>Reads and discards up to <paramref name="limit"/> bytes of <paramref name="data"/>; returns how many there were.</summary>
    private static long CountRemaining(Stream data, long limit)
    {
        var buffer = new byte[ScratchBytes];
        long count = 0;
        while (count < limit)
        {
            int got = data.Read(buffer, 0, (int)Math.Min(buffer.Length, limit - count));
            if (got == 0)
            {
                break;
            }

            count += got;
        }

        return count;
    }

    public void SeekRow(long row)
    {
        if (!CanSeek)
        {
            throw new NotSupportedException($"'{Path}' is gzip-compressed and cannot seek");
        }

        _file.Position = Header.HeaderBytes + (row * _rowBytes);
        _consumed = row * _rowBytes;
    }

    /// <summary>
    /// Proves that the data section holds exactly <see cref="IdxHeader.DataBytes"/> bytes before a caller allocates
    /// from the header. A raw file's length was checked on open. A gzip file is decompressed here: with
    /// <paramref name="keep"/> into chunks that are allocated only as bytes arrive (each at most twice the bytes
    /// already received) and then served by <see cref="ReadValues{T}"/>; without it through the fixed scratch buffer.
    /// </summary>
    public void ProveData(bool keep = true)
    {
        if (!Header.Compressed)
        {
            return;
        }

        long declared = Header.DataBytes;
        var chunks = keep ? new List<byte[]>() : null;
        long received = 0;
        while (received < declared)
        {
            Span<byte> target;
            if (chunks is null)
            {
                target = _scratch.AsSpan(0, (int)Math.Min(_scratch.Length, declared - received));
            }
            else
            {
                long size = Math.Min(declared - received, Math.Clamp(received, ScratchBytes, MaxChunkBytes));
                var chunk = new byte[size];
                chunks.Add(chunk);
                target = chunk;
            }

            _consumed = received;
            int got = ReadData(target);
            received += got;
            if (got < target.Length)
            {
                throw new InvalidDataException($"'{Path}' is truncated: its header ({Header}) needs {declared} data bytes but only {received} are present");
            }
        }

        EnsureAtEnd();
        _chunks = chunks;
        _consumed = 0;
    }

    /// <summary>Reads destination.Length elements, each multiplied by <paramref name="scale"/>.</summary>
    public void ReadValues<T>(Span<T> destination, double scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int perChunk = _scratch.Length / _elementSize;
        for (int start = 0; start < destination.Length; start += perChunk)
        {
            int n = Math.Min(perChunk, destination.Length - start);
            int bytes = n * _elementSize;
            int got = _chunks is null ? ReadData(_scratch.AsSpan(0, bytes)) : ReadChunks(_scratch.AsSpan(0, bytes));
            if (got < bytes)
            {
                throw new InvalidDataException($"'{Path}' is truncated: its header ({Header}) needs {Header.DataBytes} data bytes but only {_consumed + got} are present");
            }

            _consumed += bytes;
            Decode(_scratch.AsSpan(0, bytes), destination.Slice(start, n), scale);
        }
    }

    /// <summary>Checks that nothing follows the data (for gzip, where the length was not known up front).</summary>
    public void EnsureAtEnd()
    {
        if (Header.Compressed && _chunks is null && ReadData(_scratch.AsSpan(0, 1)) != 0)
        {
            throw new InvalidDataException($"'{Path}' holds more data than its header ({Header}) declares");
        }
    }

    public void Dispose()
    {
        if (_data != _file)
        {
            _data.Dispose();
        }

        _file.Dispose();
    }

    /// <summary>Reads up to destination.Length bytes from the (possibly decompressing) stream; fewer only at its end.</summary>
    private int ReadData(Span<byte> destination)
    {
        try
        {
            return _data.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException)
        {
            throw new InvalidDataException($"'{Path}' is corrupt after {Header.HeaderBytes + _consumed} bytes of data: {e.Message}", e);
        }
    }

    private int ReadChunks(Span<byte> destination)
    {
        int copied = 0;
        while (copied < destination.Length && _chunkIndex < _chunks!.Count)
        {
            var chunk = _chunks[_chunkIndex];
            int n = Math.Min(destination.Length - copied, chunk.Length - _chunkOffset);
            chunk.AsSpan(_chunkOffset, n).CopyTo(destination[copied..]);
            copied += n;
            _chunkOffset += n;
            if (_chunkOffset == chunk.Length)
            {
                _chunkIndex++;
                _chunkOffset = 0;
            }
        }

        return copied;
    }

    private static IdxHeader ReadHeader(string path, Stream data, bool gzip)
    {
        Span<byte> magic = stackalloc byte[4];
        if (data.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4)
        {
            throw new InvalidDataException($"'{path}' is not an IDX file: it is shorter than the 4-byte magic number");
        }

        byte type = magic[2];
        bool knownType = type is 0x08 or 0x09 or 0x0B or 0x0C or 0x0D or 0x0E;
        if (magic[0] != 0 || magic[1] != 0 || !knownType || magic[3] == 0)
        {
            throw new InvalidDataException($"'{path}' is not an IDX file: magic bytes are {Convert.ToHexString(magic)}; expected 00 00 <type 08/09/0B/0C/0D/0E> <rank ≥ 1>");
        }

        int rank = magic[3];
        var dims = new int[rank];
        int size = Idx.ElementSize((IdxElementType)type);
        long extent = 1; // the product of the non-zero dimensions after the first, checked step by step
        for (int i = 0; i < rank; i++)
        {
            if (data.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4)
            {
                throw new InvalidDataException($"'{path}' is truncated inside its header: dimension {i} of {rank} is missing");
            }

            dims[i] = BinaryPrimitives.ReadInt32BigEndian(magic);
            if (dims[i] < 0)
            {
                throw new InvalidDataException($"'{path}': dimension {i} is {dims[i]}; dimensions must be ≥ 0");
            }

            if (i > 0 && dims[i] > 0)
            {
                extent *= dims[i]; // ≤ Array.MaxLength · int.MaxValue < 2⁶³: no overflow
                if (extent > Array.MaxLength)
                {
                    throw new InvalidDataException($"'{path}': dimension {i} is {dims[i]}, which makes the dimensions after the first multiply to {extent} (or more) elements per example; at most {Array.MaxLength} fit in memory");
                }
            }
        }

        var header = new IdxHeader((IdxElementType)type, dims, gzip);
        long rowBytes = (long)header.RowLength * size;
        if (rowBytes > 0 && dims[0] > (long.MaxValue - header.HeaderBytes) / rowBytes)
        {
            throw new InvalidDataException($"'{path}': dimension 0 is {dims[0]} examples of {rowBytes} bytes, more bytes than a file can hold");
        }

        return header;
    }

    private void Decode<T>(ReadOnlySpan<byte> source, Span<T> destination, double scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var type = Header.ElementType;
        if (type == IdxElementType.UInt8)
        {
            // A byte times scale overflows T only if 255 times it does: then find the first byte that does (rare).
            bool mayOverflow = !T.IsFinite(T.CreateTruncating(255 * scale));
            for (int i = 0; i < destination.Length; i++)
            {
                destination[i] = T.CreateTruncating(source[i] * scale);
                if (mayOverflow && !T.IsFinite(destination[i]))
                {
                    throw Overflow<T>(source[i], scale);
                }
            }

            return;
        }

        for (int i = 0; i < destination.Length; i++)
        {
            var e = source.Slice(i * _elementSize, _elementSize);
            double v = type switch
            {
                IdxElementType.SByte => (sbyte)e[0],
                IdxElementType.Int16 => BinaryPrimitives.ReadInt16BigEndian(e),
                IdxElementType.Int32 => BinaryPrimitives.ReadInt32BigEndian(e),
                IdxElementType.Single => BinaryPrimitives.ReadSingleBigEndian(e),
                _ => BinaryPrimitives.ReadDoubleBigEndian(e),
            };
            destination[i] = T.CreateTruncating(v * scale);
            if (!T.IsFinite(destination[i]) && double.IsFinite(v))
            {
                throw Overflow<T>(v, scale);
            }
        }
    }

    // A finite value read as ±∞ (a double 1e300 read as float, or a scale too large for T): as the CSV reader refuses it.
    private InvalidDataException Overflow<T>(double value, double scale) =>
        new(string.Create(CultureInfo.InvariantCulture, $"'{Path}' ({Header}) holds {value:R}, which times scale {scale:R} overflows {typeof(T).Name}; read it as double, or use a smaller scale"));
}
