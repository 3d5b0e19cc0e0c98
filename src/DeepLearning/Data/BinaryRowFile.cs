using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;

namespace DeepLearning;

/// <summary>
/// The library's own row file, for data larger than memory: a 32-byte header, then m rows of n_x inputs followed by
/// C targets, little-endian float32 or float64. Written atomically; streamed by <see cref="Open{T}"/>.
/// </summary>
/// <remarks>
/// <para>
/// Header (little-endian): bytes 0–3 the magic "DLRF"; 4–5 the format version (1); 6 the element size in bytes
/// (4 = float32, 8 = float64); 7 reserved (0); 8–11 n_x (int32); 12–15 C (int32); 16–23 m (int64); 24–27 the number
/// of classes (int32; 0 for regression, else Y is one-hot, or a 0/1 column for 2 classes); 28–31 reserved (0).
/// The file length must be exactly 32 + m·(n_x + C)·element size.
/// </para>
/// <para>
/// The reader treats every byte as untrusted and checks the whole header against the file before allocating: magic,
/// version, element size, reserved bytes 0, n_x ≥ 0, C ≥ 0 (not both 0), one row of (n_x + C)·element size bytes
/// fitting in memory, m ≥ 0 without overflow, the classes consistent with C, and the file length. Buffers are then sized
/// by rows actually present (a file with m = 0 allocates no row). Readers throw only <see cref="ArgumentException"/>
/// (a null or empty path), <see cref="FileNotFoundException"/>, <see cref="InvalidDataException"/> (the message names
/// the file and the field at fault) and <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/> from
/// the operating system (for example a file truncated while being streamed). A float64 value too large for the element
/// type read (1e300 read as float) is refused with an <see cref="InvalidDataException"/> naming the row and column, as
/// the IDX and CSV readers refuse it.
/// </para>
/// <para>
/// NaN and ±∞ are written and read as they are (training on a streamed file names the first one by epoch, row and
/// column). When the file holds classes, the writer refuses (<see cref="ArgumentException"/>, naming the row and column)
/// a Y row whose class the reader could not recover faithfully: Y must be one-hot (or probability rows, entries
/// in [0, 1] summing to 1, such as label-smoothed ones), or for 2 classes a single column in [0, 1]. The reader takes
/// each row's class from its largest entry (y &gt; 0.5 → 1 for a single column), and refuses such a row too (an
/// <see cref="InvalidDataException"/> naming the file, the row and the column), in a file edited or written elsewhere.
/// </para>
/// </remarks>
public static class BinaryRowFile
{
    /// <summary>The format version written by this library.</summary>
    public const int Version = 1;

    /// <summary>The header length in bytes.</summary>
    public const int HeaderBytes = 32;

    private static ReadOnlySpan<byte> Magic => "DLRF"u8;

    /// <summary>Writes every row of <paramref name="data"/> to <paramref name="path"/> (atomically: a temporary file in the same folder, renamed over the target).</summary>
    public static void Write<T>(string path, DataSet<T> data)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(data);
        using var writer = Create<T>(path, data.Features, data.Targets, data.Classes);
        writer.Append(data);
        writer.Complete();
    }

    /// <summary>
    /// Starts a row file to be filled row by row (for example while converting a CSV larger than memory). Nothing
    /// appears at <paramref name="path"/> until <see cref="BinaryRowWriter{T}.Complete"/>; disposing without completing
    /// deletes the temporary file.
    /// </summary>
    public static BinaryRowWriter<T> Create<T>(string path, int features, int targets, int classes = 0)
        where T : unmanaged, IFloatingPointIeee754<T> => new(path, features, targets, classes);

    /// <summary>Reads the header of a row file without reading its rows.</summary>
    /// <exception cref="InvalidDataException">Not a row file, an unknown version, or a length that disagrees with the header.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static BinaryRowFileInfo ReadInfo(string path)
    {
        using var stream = OpenFile(path, 4096);
        return ReadHeader(stream, path);
    }

    /// <summary>Reads a whole row file into memory. Labels are recovered from Y when the file holds classes.</summary>
    /// <exception cref="InvalidDataException">The file is malformed or its length disagrees with its header.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static DataSet<T> ReadAll<T>(string path)
        where T : unmanaged, IFloatingPointIeee754<T> => Open<T>(path).ToDataSet();

    /// <summary>
    /// A streaming source over a row file: memory of <paramref name="bufferRows"/> rows whatever m is; shuffled epochs
    /// visit blocks of <paramref name="chunkRows"/> rows in random order through the shuffle buffer, which holds at most
    /// min(<paramref name="bufferRows"/>, m) rows. Every epoch reopens the file and refuses it
    /// (<see cref="InvalidDataException"/>) if its length, last-write time or header differs from this call's.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is malformed or its length disagrees with its header.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static StreamingDataSource<T> Open<T>(string path, int bufferRows = 4096, int chunkRows = 256)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // The fingerprint and the header come from one open handle: the same file, even if the path is replaced meanwhile.
        FileFingerprint fingerprint;
        BinaryRowFileInfo info;
        using (var stream = OpenFile(path, 4096))
        {
            fingerprint = FileFingerprint.Of(stream);
            info = ReadHeader(stream, path);
        }

        return new StreamingDataSource<T>(
            Path.GetFileName(path), info.Features, info.Targets, info.Count, info.Classes, null, bufferRows, chunkRows, () => new Stream<T>(path, info, fingerprint));
    }

    internal static int ElementSize<T>()
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // The rows are little-endian and are copied to and from memory as they are: on a big-endian machine every value
        // would read as a different number.
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("row files are implemented for little-endian machines only");
        }

        return typeof(T) == typeof(float) ? 4 : typeof(T) == typeof(double) ? 8
            : throw new NotSupportedException($"row files hold float or double; received element type {typeof(T).Name}");
    }

    internal static void WriteHeader(Span<byte> header, int elementSize, int features, int targets, long count, int classes)
    {
        header.Clear();
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], Version);
        header[6] = (byte)elementSize;
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], features);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], targets);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], count);
        BinaryPrimitives.WriteInt32LittleEndian(header[24..], classes);
    }

    /// <summary>
    /// Why a finite class row of Y could not have its class recovered faithfully (", column 2 of Y holds 7; …"), or
    /// null: entries in [0, 1] summing to 1 (one-hot or label-smoothed), or a single column in [0, 1]. The text follows
    /// "row i". Rows holding NaN or ±∞, and regression rows (classes 0), pass.
    /// </summary>
    internal static string? TargetProblem<T>(ReadOnlySpan<T> y, int classes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var inv = CultureInfo.InvariantCulture;
        if (classes == 0 || FiniteCheck.FirstNonFinite(y) >= 0)
        {
            return null;
        }

        for (int j = 0; j < y.Length; j++)
        {
            if (!(y[j] >= T.Zero && y[j] <= T.One))
            {
                return string.Create(inv, $", column {j} of Y holds {y[j]}; with {classes} classes Y must be one-hot (or probability rows summing to 1, or a 0/1 column for 2 classes), since the reader takes each row's class from its largest entry");
            }
        }

        if (y.Length > 1)
        {
            double sum = 0;
            foreach (var v in y)
            {
                sum += double.CreateTruncating(v);
            }

            // As the trainer's check of softmax targets: C entries each rounded to T, plus a margin.
            double machineEpsilon = double.CreateTruncating(T.BitIncrement(T.One) - T.One);
            double tolerance = (typeof(T) == typeof(float) ? 1e-5 : 1e-9) + (4 * y.Length * machineEpsilon);
            if (Math.Abs(sum - 1) > tolerance)
            {
                return string.Create(inv, $" of Y sums to {sum:G9}; with {classes} classes Y must be one-hot (or probability rows summing to 1), since the reader takes each row's class from its largest entry");
            }
        }

        return null;
    }

    internal static void CheckShape(int features, int targets, int classes)
    {
        if (features < 0 || targets < 0 || features + (long)targets == 0)
        {
            throw new ArgumentException($"a row needs n_x ≥ 0 and C ≥ 0, not both 0; received n_x = {features}, C = {targets}");
        }

        if (classes < 0 || classes == 1 || (classes > 0 && targets != classes && !(classes == 2 && targets == 1)))
        {
            throw new ArgumentException($"classes must be 0 (regression) or ≥ 2 with C = classes (or C = 1 for 2 classes); received classes = {classes}, C = {targets}");
        }
    }

    private static FileStream OpenFile(string path, int bufferSize)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"row file '{path}' does not exist", path);
        }

        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize);
    }

    private static BinaryRowFileInfo ReadHeader(FileStream stream, string path)
    {
        Span<byte> h = stackalloc byte[HeaderBytes];
        int got = stream.ReadAtLeast(h, HeaderBytes, throwOnEndOfStream: false);
        if (got < HeaderBytes)
        {
            throw new InvalidDataException($"'{path}' is not a row file: it has {stream.Length} bytes, fewer than the {HeaderBytes}-byte header");
        }

        if (!h[..4].SequenceEqual(Magic))
        {
            throw new InvalidDataException($"'{path}' is not a row file: magic bytes are {Convert.ToHexString(h[..4])}, expected {Convert.ToHexString(Magic)} (\"DLRF\")");
        }

        int version = BinaryPrimitives.ReadUInt16LittleEndian(h[4..]);
        if (version != Version)
        {
            throw new InvalidDataException($"'{path}' is row-file version {version}; this library reads version {Version}");
        }

        int elementSize = h[6];
        if (elementSize is not (4 or 8))
        {
            throw new InvalidDataException($"'{path}' declares element size {elementSize} bytes; expected 4 (float32) or 8 (float64)");
        }

        if (h[7] != 0 || BinaryPrimitives.ReadInt32LittleEndian(h[28..]) != 0)
        {
            throw new InvalidDataException($"'{path}' has non-zero reserved header bytes (byte 7 is {h[7]}, bytes 28–31 hold {BinaryPrimitives.ReadInt32LittleEndian(h[28..])}); the file is corrupt or from a newer version");
        }

        int n = BinaryPrimitives.ReadInt32LittleEndian(h[8..]);
        int c = BinaryPrimitives.ReadInt32LittleEndian(h[12..]);
        long m = BinaryPrimitives.ReadInt64LittleEndian(h[16..]);
        int classes = BinaryPrimitives.ReadInt32LittleEndian(h[24..]);
        try
        {
            CheckShape(n, c, classes);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"'{path}' has an invalid header: {e.Message}", e);
        }

        long rowBytes = (n + (long)c) * elementSize;
        if (rowBytes > Array.MaxLength)
        {
            throw new InvalidDataException($"'{path}' declares rows of n_x + C = {n} + {c} elements of {elementSize} bytes, {rowBytes} bytes per row; at most {Array.MaxLength} bytes per row can be read");
        }

        if (m < 0 || m > (long.MaxValue - HeaderBytes) / rowBytes)
        {
            throw new InvalidDataException($"'{path}' declares m = {m} rows; that is not a valid row count");
        }

        long expected = HeaderBytes + (m * rowBytes);
        if (stream.Length != expected)
        {
            throw new InvalidDataException($"'{path}' has {stream.Length} bytes but its header (m = {m}, n_x = {n}, C = {c}, {elementSize}-byte elements) needs exactly {expected}{(stream.Length < expected ? "; the file is truncated" : string.Empty)}");
        }

        return new BinaryRowFileInfo(n, c, m, classes, elementSize);
    }

    private sealed class Stream<T> : RowStream<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly FileStream _file;
        private readonly string _path;
        private readonly BinaryRowFileInfo _info;
        private readonly byte[] _row;
        private long _next;

        public Stream(string path, BinaryRowFileInfo info, FileFingerprint fingerprint)
        {
            _ = ElementSize<T>(); // refuses a big-endian machine before anything is read
            _file = FileFingerprint.Reopen(path, p => OpenFile(p, 1 << 16));
            try
            {
                // Compared against the open handle, after opening: rows rewritten with the same header would go
                // unnoticed otherwise, and a check by path before opening misses a file replaced in between.
                fingerprint.Check(path, _file);
                var now = ReadHeader(_file, path);
                if (now != info)
                {
                    throw new InvalidDataException($"'{path}' changed since it was opened: header was {info}, now {now}");
                }
            }
            catch
            {
                _file.Dispose();
                throw;
            }

            _path = path;

            _info = info;

            // Sized by rows actually present: the header was checked against the file length, and a file of m = 0
            // backs no row at all (whatever n_x it claims).
            _row = info.Count == 0 ? [] : new byte[(info.Features + info.Targets) * info.ElementSize];
        }

        public override bool CanSeek => true;

        public override void SeekRow(long row)
        {
            if ((ulong)row > (ulong)_info.Count)
            {
                throw new ArgumentOutOfRangeException(nameof(row), row, $"row must be in [0, {_info.Count}]; received {row}");
            }

            _file.Position = HeaderBytes + (row * _row.Length);
            _next = row;
        }

        public override bool ReadRow(Span<T> x, Span<T> y)
        {
            if (_next >= _info.Count)
            {
                return false;
            }

            _file.ReadExactly(_row);
            long row = _next++;
            int n = _info.Features;
            if (_info.ElementSize == 4)
            {
                var values = MemoryMarshal.Cast<byte, float>(_row);
                Convert(values[..n], x, row, 0);
                Convert(values[n..], y, row, n);
            }
            else
            {
                var values = MemoryMarshal.Cast<byte, double>(_row);
                Convert(values[..n], x, row, 0);
                Convert(values[n..], y, row, n);
            }

            // The writer refuses such rows; a file edited or written elsewhere could hold one, read back as some class.
            if (TargetProblem<T>(y, _info.Classes) is { } problem)
            {
                throw new InvalidDataException($"'{_path}': row {row}{problem}; the file was not written by this library's writer, or was changed since");
            }

            return true;
        }

        public override void Dispose() => _file.Dispose();

        private void Convert<TFile>(ReadOnlySpan<TFile> source, Span<T> destination, long row, int firstColumn)
            where TFile : unmanaged, IFloatingPointIeee754<TFile>
        {
            if (typeof(TFile) == typeof(T))
            {
                MemoryMarshal.Cast<TFile, T>(source).CopyTo(destination);
                return;
            }

            for (int i = 0; i < source.Length; i++)
            {
                destination[i] = T.CreateTruncating(source[i]);
                if (!T.IsFinite(destination[i]) && TFile.IsFinite(source[i]))
                {
                    // A finite float64 beyond T's range (1e300 read as float) would become ±∞: refused, as Idx and Csv do.
                    int column = firstColumn + i;
                    string where = column < _info.Features ? $"X[{row}, {column}]" : $"Y[{row}, {column - _info.Features}]";
                    throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                        $"'{_path}' holds {double.CreateTruncating(source[i]):R} at row {row}, column {column} ({where}), which overflows {typeof(T).Name} (largest finite value {FiniteCheck.LargestFinite<T>():G9}); read the file as double, or rescale the column when writing it"));
                }
            }
        }
    }
}

/// <summary>The header of a row file.</summary>
/// <param name="Features">n_x, the inputs per row.</param>
/// <param name="Targets">C, the targets per row.</param>
/// <param name="Count">m, the number of rows.</param>
/// <param name="Classes">The number of classes; 0 for regression.</param>
/// <param name="ElementSize">4 for float32, 8 for float64.</param>
public sealed record BinaryRowFileInfo(int Features, int Targets, long Count, int Classes, int ElementSize);

/// <summary>
/// Writes a row file row by row to a temporary file beside the target; <see cref="Complete"/> writes the row count
/// into the header, flushes and renames it over the target.
/// </summary>
/// <typeparam name="T">The element type written: <see cref="float"/> (float32) or <see cref="double"/> (float64).</typeparam>
public sealed class BinaryRowWriter<T> : IDisposable
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly string _path;
    private readonly string _temporary;
    private readonly FileStream _file;
    private readonly int _classes;
    private bool _done;

    internal BinaryRowWriter(string path, int features, int targets, int classes)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        BinaryRowFile.CheckShape(features, targets, classes);
        _ = BinaryRowFile.ElementSize<T>();
        Features = features;
        Targets = targets;
        _classes = classes;
        _path = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(_path) ?? ".";

        // Checked now, not at Complete after every row has been written.
        AtomicFile.CheckTarget(path, _path, "write row file");
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"cannot write row file '{path}': folder '{folder}' does not exist");
        }

        _temporary = Path.Combine(folder, AtomicFile.TemporaryName(Path.GetFileName(_path), Guid.NewGuid().ToString("N")));
        _file = new FileStream(_temporary, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        Span<byte> header = stackalloc byte[BinaryRowFile.HeaderBytes];
        BinaryRowFile.WriteHeader(header, BinaryRowFile.ElementSize<T>(), features, targets, 0, classes);
        _file.Write(header);
    }

    /// <summary>n_x, the inputs per row.</summary>
    public int Features { get; }

    /// <summary>C, the targets per row.</summary>
    public int Targets { get; }

    /// <summary>The rows appended so far.</summary>
    public long Count { get; private set; }

    /// <summary>Appends one row: x (n_x) then y (C).</summary>
    /// <exception cref="ArgumentException">
    /// The lengths are wrong, or (with classes) a finite y is not a one-hot or probability row (entries in [0, 1] summing
    /// to 1; a single column in [0, 1] for 2 classes). The message names the row and column. NaN and ±∞ are written as
    /// they are.
    /// </exception>
    public void Append(ReadOnlySpan<T> x, ReadOnlySpan<T> y)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        if (x.Length != Features || y.Length != Targets)
        {
            throw new ArgumentException($"a row needs {Features} inputs and {Targets} targets; received {x.Length} and {y.Length}");
        }

        CheckTargets(y);
        _file.Write(MemoryMarshal.AsBytes(x));
        _file.Write(MemoryMarshal.AsBytes(y));
        Count++;
    }

    /// <summary>
    /// With classes, refuses a Y row whose class the reader could not recover faithfully: the reader takes the argmax of
    /// the row (y &gt; 0.5 → 1 for a single column), so [0.2, 0.3, 7] would read back as class 2. Class rows must be
    /// probability rows, entries in [0, 1] summing to 1 (one-hot, or label-smoothed), or a single column in [0, 1].
    /// NaN and ±∞ are written as they are (as <see cref="DataSet{T}"/> holds them): the reader returns them unchanged
    /// and training on a streamed file names the first one by epoch, row and column.
    /// </summary>
    private void CheckTargets(ReadOnlySpan<T> y)
    {
        if (BinaryRowFile.TargetProblem(y, _classes) is { } problem)
        {
            throw new ArgumentException($"row {Count}{problem}", nameof(y));
        }
    }

    /// <summary>Appends every row of <paramref name="data"/>.</summary>
    public void Append(DataSet<T> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Features != Features || data.Targets != Targets || data.Classes != _classes)
        {
            throw new ArgumentException($"the file has n_x = {Features}, C = {Targets}, {_classes} classes; the data set has n_x = {data.Features}, C = {data.Targets}, {data.Classes} classes", nameof(data));
        }

        for (int i = 0; i < data.Count; i++)
        {
            Append(data.X.Row(i), data.Y.Row(i));
        }
    }

    /// <summary>Writes m into the header, flushes to disk and renames the temporary file over the target.</summary>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_done, this);
        Span<byte> header = stackalloc byte[BinaryRowFile.HeaderBytes];
        BinaryRowFile.WriteHeader(header, BinaryRowFile.ElementSize<T>(), Features, Targets, Count, _classes);
        _file.Position = 0;
        _file.Write(header);
        _file.Flush(flushToDisk: true);
        _file.Dispose();
        _done = true;
        // On failure the target is untouched and the temporary file is removed (Dispose no longer will).
        AtomicFile.MoveIntoPlace(_temporary, _path);
    }

    /// <summary>Closes the file; without <see cref="Complete"/> the temporary file is deleted and the target untouched.</summary>
    public void Dispose()
    {
        if (!_done)
        {
            _done = true;
            _file.Dispose();
            File.Delete(_temporary);
        }
    }
}
