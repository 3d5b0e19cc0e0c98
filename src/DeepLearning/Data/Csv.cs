using System.Buffers;
using System.Globalization;
using System.IO.Compression;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Unicode;

namespace DeepLearning;

/// <summary>How <see cref="Csv"/> reads a file: header, delimiter, which column holds the label and what it means.</summary>
/// <remarks>
/// <para>
/// The label column must be named: <see cref="LabelColumn"/> (by header name) or <see cref="LabelColumnIndex"/>
/// (−1 is the last column, as in scikit-learn's bundled CSV files). A file of inputs only says
/// <see cref="Unlabeled"/> = true. Nothing is guessed: with none of the three, reading fails with a message listing the
/// columns, so a label can never silently become an input.
/// </para>
/// <para>
/// What the label column holds:
/// <list type="bullet">
/// <item><see cref="Regression"/> = true: real-valued targets; Y is (m, 1).</item>
/// <item><see cref="Classes"/> and/or <see cref="ClassNames"/> given: each cell is a class name from
/// <see cref="ClassNames"/> (exact, case-sensitive match) or a class index in [0, C); anything else is an error naming
/// the line and column.</item>
/// <item>Neither given (the classes are inferred): if every label cell is a number, the numbers are the class indices
/// y ∈ {0, 1, …} and C = largest + 1. A non-integer or negative value, or a C above
/// <see cref="DataSet.MaxInferredClasses"/> (100), is refused with a message to set <see cref="Regression"/> = true
/// (or pass <see cref="Classes"/>), since such a column is far more often a real-valued target than a class index.
/// If any label cell is text ("malignant", "benign"), every distinct cell is a class name: the names are sorted in
/// ordinal (culture-independent, character-code) order, so "B" precedes "a"; class y is the y-th name and
/// <see cref="DataSet{T}.ClassNames"/> holds them. The same names give the same indices on every machine and in every
/// file; a test file that may lack a class should be read with the training set's names
/// (<c>ClassNames = train.ClassNames</c>). More than 100 distinct names, or only one, is refused.</item>
/// </list>
/// For a binary task (C = 2) Y is a 0/1 column; for C ≥ 3 it is one-hot. With text names "benign" &lt; "malignant",
/// "no" &lt; "yes", "ham" &lt; "spam", class 1 (ŷ = P(y = 1 | x)) is the second name.
/// </para>
/// </remarks>
public sealed class CsvOptions
{
    /// <summary>
    /// True when the first line (after <see cref="SkipLines"/>) names the columns. Default true. A header of numbers
    /// only is refused as a first example read as names (set false for a file without a header), except the column
    /// indices 0, 1, …, n−1 or 1, …, n that pandas writes for unnamed columns.
    /// </summary>
    public bool HasHeader { get; init; } = true;

    /// <summary>Lines to skip before the header or the first row (for a preamble). Default 0.</summary>
    public int SkipLines { get; init; }

    /// <summary>The cell separator ('\t' for tab-separated files). Default ','. A double quote or a line end is refused.</summary>
    public char Delimiter { get; init; } = ',';

    /// <summary>
    /// The name of the label column in the header (exact match). Give this or <see cref="LabelColumnIndex"/>, not both;
    /// a name that two columns of the header share is refused as ambiguous.
    /// </summary>
    public string? LabelColumn { get; init; }

    /// <summary>The 0-based index of the label column; negative counts from the end (−1 is the last column).</summary>
    public int? LabelColumnIndex { get; init; }

    /// <summary>
    /// True for a file without labels (inputs to predict on): every column not in <see cref="IgnoreColumns"/> or
    /// <see cref="IgnoreColumnIndices"/> is an input and Y has no columns.
    /// Cannot be combined with <see cref="LabelColumn"/> or <see cref="LabelColumnIndex"/>. Default false.
    /// </summary>
    public bool Unlabeled { get; init; }

    /// <summary>
    /// True: the label column holds a real-valued target and Y is (m, 1). False (default): it holds classes (see the
    /// remarks of <see cref="CsvOptions"/> for how they are read).
    /// </summary>
    public bool Regression { get; init; }

    /// <summary>
    /// The number of classes C (≥ 2), or 0 (default) to take it from <see cref="ClassNames"/> or infer it from the file.
    /// </summary>
    public int Classes { get; init; }

    /// <summary>
    /// The class names, indexed by class: a label cell equal to ClassNames[y] is class y (a cell may also hold the index
    /// y itself). Null (default) for numeric class indices, or to infer text names from the file.
    /// </summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <summary>
    /// Header names of columns that are neither inputs nor the label (an id, a name, a date): their cells are skipped
    /// unread, whatever they hold. Each name must match exactly one column and not the label's. Null (default): every
    /// column but the label is an input. An id column left in as a feature can make a model look better than it is,
    /// when the rows are ordered by class.
    /// </summary>
    public IReadOnlyList<string>? IgnoreColumns { get; init; }

    /// <summary>
    /// The 0-based indices of columns to skip, as <see cref="IgnoreColumns"/> does by name (for a file without a header);
    /// negative counts from the end. Null (default) for none.
    /// </summary>
    public IReadOnlyList<int>? IgnoreColumnIndices { get; init; }

    /// <summary>The default <see cref="MaxLineLength"/>: 64 Mi characters (a 128 MiB line buffer).</summary>
    public const int DefaultMaxLineLength = 64 * 1024 * 1024;

    /// <summary>
    /// The longest line accepted, in characters (without its line end); a longer line is an
    /// <see cref="InvalidDataException"/> naming it, so a file without line ends cannot make the reader buffer it all.
    /// In [1, <see cref="Array.MaxLength"/> − 2]. Default <see cref="DefaultMaxLineLength"/>.
    /// </summary>
    public int MaxLineLength { get; init; } = DefaultMaxLineLength;

    internal bool HasLabel => LabelColumn is not null || LabelColumnIndex is not null;

    /// <summary>A copy whose lists are copied too: a streaming source reads every epoch with the options it was opened with.</summary>
    internal CsvOptions Snapshot() => new()
    {
        HasHeader = HasHeader,
        SkipLines = SkipLines,
        Delimiter = Delimiter,
        LabelColumn = LabelColumn,
        LabelColumnIndex = LabelColumnIndex,
        Unlabeled = Unlabeled,
        Regression = Regression,
        Classes = Classes,
        ClassNames = ClassNames?.ToArray(),
        IgnoreColumns = IgnoreColumns?.ToArray(),
        IgnoreColumnIndices = IgnoreColumnIndices?.ToArray(),
        MaxLineLength = MaxLineLength,
    };

    internal bool IsClassification => HasLabel && !Regression;
}

/// <summary>
/// Loads numeric CSV files (optionally gzip-compressed) into a <see cref="DataSet{T}"/>, or streams them.
/// </summary>
/// <remarks>
/// <para>
/// Files are read as UTF-8 (a byte-order mark may select UTF-16 or UTF-32): bytes that are not valid UTF-8 are an
/// <see cref="InvalidDataException"/> naming the file and line, never replaced (two names that differ only in a Latin-1
/// accent would otherwise become one class). A line longer than <see cref="CsvOptions.MaxLineLength"/> characters is an
/// <see cref="InvalidDataException"/> naming the line. A line ends at LF, CRLF or a lone CR (classic Mac OS), as Python's
/// universal newlines read it; a field may not span lines.
/// Cells are parsed with the invariant culture (a '.' decimal point); surrounding spaces are removed. A cell whose first
/// character other than a space is a double quote is quoted, as RFC 4180 and Excel write it: it runs to its closing
/// quote, so it may hold the delimiter ("Braund, Mr. Owen"), and "" inside it stands for one quote; the quotes are
/// removed. A quoted cell may not span lines (one without a closing quote on its line is refused, naming it). Blank
/// lines are skipped. A missing, non-numeric or non-finite input cell (or one that overflows <c>T</c>, e.g. 1e40 read as
/// float), a bad label, or a row with the wrong number of cells, is an <see cref="InvalidDataException"/>
/// naming the line (1-based, counting every line of the file) and the column (1-based, with its header name). How the
/// label column is chosen and read (class indices, text class names, regression targets) is described on
/// <see cref="CsvOptions"/>.
/// </para>
/// <para>
/// Every byte is untrusted: memory grows only with the rows actually read (the number of classes comes from validated
/// labels, never from the size of a value), and the readers throw only <see cref="ArgumentException"/> (bad options,
/// including a missing label column), <see cref="FileNotFoundException"/>, <see cref="InvalidDataException"/> (bad
/// content, including invalid gzip data) and <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/>
/// from the operating system.
/// </para>
/// </remarks>
public static class Csv
{
    // With the identifier, a file that starts with a UTF-8 byte-order mark (Excel's "CSV UTF-8") keeps this strict
    // decoder: StreamReader swaps in the lenient Encoding.UTF8 for a BOM unless the given encoding already has one.
    private static readonly UTF8Encoding _strictUtf8 = new(encoderShouldEmitUTF8Identifier: true, throwOnInvalidBytes: true);

    /// <summary>Reads a whole CSV file into memory.</summary>
    /// <exception cref="ArgumentException">The options are inconsistent or name no label column (nor <see cref="CsvOptions.Unlabeled"/>).</exception>
    /// <exception cref="InvalidDataException">A cell, a label or a row is invalid (the message names the line and column), a line is longer than <see cref="CsvOptions.MaxLineLength"/>, or the file is not valid UTF-8 (the message names the line).</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static DataSet<T> Load<T>(string path, CsvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var reader = OpenText(path);
        return Load<T>(reader, options, path);
    }

    /// <summary>Reads CSV text into memory; <paramref name="sourceName"/> names it in error messages.</summary>
    /// <exception cref="ArgumentException">The options are inconsistent or name no label column (nor <see cref="CsvOptions.Unlabeled"/>).</exception>
    /// <exception cref="InvalidDataException">A cell, a label or a row is invalid (the message names the line and column), or a line is longer than <see cref="CsvOptions.MaxLineLength"/>.</exception>
    public static DataSet<T> Load<T>(TextReader reader, CsvOptions? options = null, string sourceName = "CSV")
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(reader);
        options ??= new CsvOptions();
        using var lines = new CsvLineReader(reader, leaveOpen: true, sourceName, options.MaxLineLength);
        var layout = CsvLayout.Read(lines, options, sourceName);
        var map = options.IsClassification ? CsvLabelMap.Create(options, sourceName) : null;
        int n = layout.Features;

        // Rows go into blocks as they arrive (never sized from the header alone): the first of about 64 KB, each next one
        // twice as large up to about 1 MB. They are copied once into the tensor at the end: growing one array by
        // doubling copied and zeroed about twice the data again (a 188 MB Fashion-MNIST CSV spent more time there than
        // parsing).
        int rowBytes = Math.Max(1, n * Unsafe.SizeOf<T>());
        int blockRows = Math.Clamp(65536 / rowBytes, 1, 256);
        int maxBlockRows = Math.Max(blockRows, (1 << 20) / rowBytes);
        var blocks = new List<(T[] Data, int Rows)>();
        int inBlock = 0;
        var keys = new List<int>();
        var targets = new List<double>();
        int m = 0;
        bool pending = layout.FirstRowPending;
        while (pending || lines.TryReadDataLine(out _))
        {
            pending = false;
            if ((long)(m + 1) * n > Array.MaxLength)
            {
                throw new InvalidDataException($"{sourceName}: more than {m} rows of {n} inputs do not fit in memory; stream the file with Csv.OpenStreaming");
            }

            if (blocks.Count == 0 || inBlock == blocks[^1].Rows)
            {
                int rows = blocks.Count == 0 ? blockRows : Math.Min(maxBlockRows, 2 * blocks[^1].Rows);
                blocks.Add((GC.AllocateUninitializedArray<T>(rows * n), rows));
                inBlock = 0;
            }

            var line = lines.Current;
            var cell = layout.ParseRow(line, lines.LineNumber, blocks[^1].Data.AsSpan(inBlock * n, n));
            inBlock++;
            if (map is not null)
            {
                keys.Add(map.Map(line[cell], lines.LineNumber, layout));
            }
            else if (layout.LabelIndex >= 0)
            {
                targets.Add(double.CreateTruncating(layout.ParseValue<T>(line[cell], lines.LineNumber, layout.LabelIndex)));
            }

            m++;
        }

        var xt = new Tensor<T>(m, n);
        int copied = 0;
        foreach (var (data, capacity) in blocks)
        {
            int rows = Math.Min(capacity, m - copied);
            data.AsSpan(0, rows * n).CopyTo(xt.Span.Slice(copied * n));
            copied += rows;
        }

        if (layout.LabelIndex < 0)
        {
            return new DataSet<T>(xt, new Tensor<T>(m, 0));
        }

        if (map is null)
        {
            var yt = new Tensor<T>(m, 1);
            for (int i = 0; i < m; i++)
            {
                yt.Span[i] = T.CreateTruncating(targets[i]);
            }

            return new DataSet<T>(xt, yt);
        }

        var resolved = map.Resolve(layout);
        var labels = new int[m];
        for (int i = 0; i < m; i++)
        {
            labels[i] = resolved.ClassOf(keys[i]);
        }

        return DataSet.FromLabels(xt, labels, resolved.Classes, resolved.Names);
    }

    /// <summary>
    /// A streaming source over a CSV file (read sequentially, shuffled within a buffer of <paramref name="bufferRows"/>
    /// rows). m is not known in advance (<see cref="StreamingDataSource{T}.Count"/> is −1). For classification the
    /// classes must be known before the first mini-batch: from <see cref="CsvOptions.Classes"/> or
    /// <see cref="CsvOptions.ClassNames"/> when given, otherwise by one pass over the whole file here, which infers
    /// them by the rules of <see cref="CsvOptions"/> (and validates every row). Every epoch reopens the file and
    /// refuses it (<see cref="InvalidDataException"/>) if its length or last-write time differ from this call's, or its
    /// header now gives other columns: open it again to train on new contents.
    /// </summary>
    /// <exception cref="ArgumentException">The options are inconsistent or name no label column (nor <see cref="CsvOptions.Unlabeled"/>).</exception>
    /// <exception cref="InvalidDataException">The header, or (when classes are inferred) any row, is invalid (the message names the line and column), a line is longer than <see cref="CsvOptions.MaxLineLength"/>, or the file is not valid UTF-8.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static StreamingDataSource<T> OpenStreaming<T>(string path, CsvOptions options, int bufferRows = 4096)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(options);
        options = options.Snapshot(); // a list changed in place later must not change what later epochs read
        CsvLayout layout;
        CsvLabelMap? map = null;
        FileFingerprint fingerprint;
        using (var reader = OpenText(path, out var file))
        using (var lines = new CsvLineReader(reader, leaveOpen: true, path, options.MaxLineLength))
        {
            // Before anything is read, from the open handle: a change during this first pass is caught by the first epoch.
            fingerprint = FileFingerprint.Of(file);
            layout = CsvLayout.Read(lines, options, path);
            if (options.IsClassification)
            {
                map = CsvLabelMap.Create(options, path);
                if (map.Infers)
                {
                    // The first pass: every row is parsed (so errors surface now) and only the distinct labels kept.
                    var scratch = new double[layout.Features];
                    bool pending = layout.FirstRowPending;
                    long rows = 0;
                    while (pending || lines.TryReadDataLine(out _))
                    {
                        pending = false;
                        rows++;
                        var line = lines.Current;
                        var cell = layout.ParseRow<double>(line, lines.LineNumber, scratch);
                        map.Map(line[cell], lines.LineNumber, layout);
                    }

                    if (rows == 0)
                    {
                        throw new InvalidDataException($"'{path}' holds a header and no examples, so there are no labels to infer the classes from; pass CsvOptions.Classes or CsvOptions.ClassNames");
                    }

                    map = map.Resolve(layout).AsFixed(path);
                }
            }
        }

        int classes = map?.Classes ?? 0;
        int targets = !options.HasLabel ? 0 : map is null || classes == 2 ? 1 : classes;
        var fixedMap = map;
        return new StreamingDataSource<T>(
            Path.GetFileName(path), layout.Features, targets, -1, classes, map?.Names, bufferRows, 1, () => new CsvRowStream<T>(path, options, fixedMap, fingerprint, layout));
    }

    // A header of numbers only is a first data row read as names (a file without a header and the default HasHeader), not
    // names; except the sequence 0, 1, …, n−1 or 1, …, n that pandas writes for unnamed columns (to_csv(index=False)).
    internal static bool LooksLikeData(string[] names)
    {
        bool sequence0 = true, sequence1 = true;
        for (int j = 0; j < names.Length; j++)
        {
            string cell = names[j].Trim();
            if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            {
                return false;
            }

            sequence0 &= cell == j.ToString(CultureInfo.InvariantCulture);
            sequence1 &= cell == (j + 1).ToString(CultureInfo.InvariantCulture);
        }

        return names.Length > 0 && !sequence0 && !sequence1;
    }

    internal static TextReader OpenText(string path) => OpenText(path, out _);

    // The file's text, and the file under it (for its fingerprint: the same file the text comes from).
    internal static TextReader OpenText(string path, out FileStream opened)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"CSV file '{path}' does not exist", path);
        }

        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Span<byte> probe = stackalloc byte[2];
        bool gzip = file.ReadAtLeast(probe, 2, throwOnEndOfStream: false) == 2 && probe[0] == 0x1F && probe[1] == 0x8B;
        file.Position = 0;
        Stream s = gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
        opened = file;
        return new CheckedTextReader(new StreamReader(s, _strictUtf8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16), path);
    }

    /// <summary>
    /// Where the first invalid UTF-8 sequence of the (possibly gzip-compressed) file is, e.g. "line 3 holds the byte 0xE9
    /// (byte 17 of the text)", found by reading the file again; null when it cannot be found.
    /// </summary>
    internal static string? LocateInvalidUtf8(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            Span<byte> probe = stackalloc byte[2];
            bool gzip = file.ReadAtLeast(probe, 2, throwOnEndOfStream: false) == 2 && probe[0] == 0x1F && probe[1] == 0x8B;
            file.Position = 0;
            using Stream s = gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
            var bytes = new byte[1 << 16];
            var chars = new char[bytes.Length];
            int kept = 0;
            long offset = 0, line = 1;
            bool afterCr = false;
            while (true)
            {
                int got = s.Read(bytes, kept, bytes.Length - kept);
                var block = bytes.AsSpan(0, kept + got);
                var status = Utf8.ToUtf16(block, chars, out int read, out _, replaceInvalidSequences: false, isFinalBlock: got == 0);
                foreach (byte b in block[..read])
                {
                    // Lines end as the reader ends them: "\n", "\r\n" or a lone "\r".
                    line += b == '\r' || (b == '\n' && !afterCr) ? 1 : 0;
                    afterCr = b == '\r';
                }

                if (status == OperationStatus.InvalidData)
                {
                    return $"line {line} holds the byte 0x{block[read]:X2} (byte {offset + read} of the text)";
                }

                if (got == 0)
                {
                    return null;
                }

                block[read..].CopyTo(bytes);
                kept = block.Length - read;
                offset += read;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return null; // unreadable now, or corrupt gzip further on: the caller says what it can
        }
    }

    private sealed class CsvRowStream<T> : RowStream<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly CsvLineReader _lines;
        private readonly CsvLayout _layout;
        private readonly CsvLabelMap? _map;
        private bool _pending;

        public CsvRowStream(string path, CsvOptions options, CsvLabelMap? map, FileFingerprint fingerprint, CsvLayout opened)
        {
            _lines = new CsvLineReader(OpenText(path, out var file), leaveOpen: false, path, options.MaxLineLength);
            try
            {
                // Through the open handle: a file replaced between a check by path and the open would go unnoticed.
                fingerprint.Check(path, file);
                _layout = CsvLayout.Read(_lines, options, path);
                // Compared column by column, ignored ones included: the same count of features from other columns (an
                // ignored list changed in place, or a header reordered) would feed the model the wrong inputs.
                if (!_layout.SameColumns(opened))
                {
                    throw new InvalidDataException($"'{path}' changed since it was opened for streaming: its header now gives {_layout.Describe()}, not {opened.Describe()}; open the file again");
                }
            }
            catch
            {
                _lines.Dispose();
                throw;
            }

            _pending = _layout.FirstRowPending;
            _map = map;
        }

        public override bool ReadRow(Span<T> x, Span<T> y)
        {
            if (!_pending && !_lines.TryReadDataLine(out _))
            {
                return false;
            }

            _pending = false;
            var line = _lines.Current;
            var cell = _layout.ParseRow(line, _lines.LineNumber, x);
            if (y.Length == 0)
            {
                return true;
            }

            if (_map is null)
            {
                y[0] = _layout.ParseValue<T>(line[cell], _lines.LineNumber, _layout.LabelIndex);
                return true;
            }

            int label = _map.Map(line[cell], _lines.LineNumber, _layout);
            if (y.Length == 1)
            {
                y[0] = label == 1 ? T.One : T.Zero;
            }
            else
            {
                y.Clear();
                y[label] = T.One;
            }

            return true;
        }

        public override void Dispose() => _lines.Dispose();
    }

    /// <summary>Turns a decoder's or gzip's own exceptions into <see cref="InvalidDataException"/>s naming the file (and, for bad UTF-8, the line).</summary>
    private sealed class CheckedTextReader(TextReader inner, string path) : TextReader
    {
        public override int Read(Span<char> buffer)
        {
            try
            {
                return inner.Read(buffer);
            }
            catch (DecoderFallbackException e)
            {
                string where = LocateInvalidUtf8(path) ?? "it holds a byte sequence that is not UTF-8";
                throw new InvalidDataException($"'{path}' is not valid UTF-8: {where}; save the file as UTF-8", e);
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException)
            {
                throw new InvalidDataException($"'{path}' is corrupt: {e.Message}", e);
            }
        }

        public override int Read(char[] buffer, int index, int count) => Read(buffer.AsSpan(index, count));

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// Maps label cells to classes: fixed (the classes and/or names were given) or inferring (collects the distinct cells,
/// resolved once the whole file has been read, by the rules on <see cref="CsvOptions"/>).
/// </summary>
internal sealed class CsvLabelMap
{
    private readonly Dictionary<string, int> _keys;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly List<long> _firstLine = [];

    private CsvLabelMap(int classes, IReadOnlyList<string>? names, Dictionary<string, int> keys, bool infers)
    {
        Classes = classes;
        Names = names;
        _keys = keys;
        _lookup = keys.GetAlternateLookup<ReadOnlySpan<char>>();
        Infers = infers;
    }

    /// <summary>True while the classes are still being collected from the file.</summary>
    public bool Infers { get; }

    /// <summary>The number of classes (0 while inferring).</summary>
    public int Classes { get; }

    /// <summary>The class names, or null for numeric classes.</summary>
    public IReadOnlyList<string>? Names { get; }

    public static CsvLabelMap Create(CsvOptions options, string source)
    {
        var names = options.ClassNames;
        if (options.Classes == 0 && names is null)
        {
            return new CsvLabelMap(0, null, new Dictionary<string, int>(StringComparer.Ordinal), infers: true);
        }

        int classes = options.Classes != 0 ? options.Classes : names!.Count;
        if (classes < 2)
        {
            throw new ArgumentException($"CsvOptions.Classes must be 0 (infer) or ≥ 2; received {options.Classes}{(names is null ? string.Empty : $" with {names.Count} class names")}");
        }

        if (names is not null && names.Count != classes)
        {
            throw new ArgumentException($"CsvOptions.ClassNames has {names.Count} names but CsvOptions.Classes is {classes}");
        }

        return Fixed(classes, names, source);
    }

    /// <summary>The class of a label cell (fixed), or the key of its distinct text (inferring).</summary>
    public int Map(ReadOnlySpan<char> raw, long lineNumber, CsvLayout layout)
    {
        var cell = CsvLayout.Clean(raw);
        if (cell.IsEmpty)
        {
            throw layout.Error(lineNumber, layout.LabelIndex, "the label cell is empty (a missing value)");
        }

        if (CsvLayout.HasEscapedQuote(raw, cell))
        {
            cell = CsvLayout.Text(raw); // "" in a quoted cell is one quote (rare: only such a label allocates)
        }

        if (_lookup.TryGetValue(cell, out int key))
        {
            return key;
        }

        if (double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) && !double.IsFinite(number))
        {
            throw layout.Error(lineNumber, layout.LabelIndex, $"'{CsvLayout.Shorten(cell)}' is not a finite number");
        }

        if (!Infers)
        {
            if (double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v >= 0 && v < Classes && v == Math.Floor(v))
            {
                return (int)v;
            }

            string what = Names is null
                ? $"'{CsvLayout.Shorten(cell)}' is not a class index in [0, {Classes})"
                : $"'{CsvLayout.Shorten(cell)}' is neither one of the {Classes} class names ({Quote(Names)}) nor a class index in [0, {Classes})";
            throw layout.Error(lineNumber, layout.LabelIndex, what);
        }

        if (_keys.Count == DataSet.MaxInferredClasses)
        {
            throw layout.Error(lineNumber, layout.LabelIndex, $"'{CsvLayout.Shorten(cell)}' is the {DataSet.MaxInferredClasses + 1}st distinct label; more than {DataSet.MaxInferredClasses} classes are not inferred from a file. If the column is a real-valued target, set CsvOptions.Regression = true; for a task with this many classes pass CsvOptions.ClassNames or CsvOptions.Classes");
        }

        key = _keys.Count;
        _keys.Add(cell.ToString(), key);
        _firstLine.Add(lineNumber);
        return key;
    }

    /// <summary>Decides the classes from the distinct labels seen (inferring only).</summary>
    public Resolution Resolve(CsvLayout layout)
    {
        if (!Infers)
        {
            return new Resolution(Classes, Names, null);
        }

        var texts = new string[_keys.Count];
        foreach (var (text, key) in _keys)
        {
            texts[key] = text;
        }

        // Each label parsed once. Keys are numbered in order of first appearance, so the lowest k is the earliest line.
        var values = new double[texts.Length];
        int firstNumber = -1, firstText = -1;
        for (int k = 0; k < texts.Length; k++)
        {
            bool isNumber = double.TryParse(texts[k], NumberStyles.Float, CultureInfo.InvariantCulture, out values[k]) && double.IsFinite(values[k]);
            if (isNumber && firstNumber < 0)
            {
                firstNumber = k;
            }
            else if (!isNumber && firstText < 0)
            {
                firstText = k;
            }
        }

        bool numeric = firstText < 0;

        // Numbers and text in one label column: a missing-value token ("NA", "?") or a typo, not a class; as names the
        // numbers would sort as text ("10" before "2") and shift every class after them.
        if (firstNumber >= 0 && firstText >= 0)
        {
            throw layout.Error(_firstLine[firstText], layout.LabelIndex, $"'{CsvLayout.Shorten(texts[firstText])}' is text in a label column that also holds numbers (e.g. '{CsvLayout.Shorten(texts[firstNumber])}' at line {_firstLine[firstNumber]}); a missing label? Remove or fix the row, or pass CsvOptions.ClassNames to take every label as a name");
        }

        var classOf = new int[texts.Length];
        if (numeric)
        {
            int largest = -1;
            for (int k = 0; k < texts.Length; k++)
            {
                double v = values[k];
                if (v < 0 || v != Math.Floor(v))
                {
                    throw layout.Error(_firstLine[k], layout.LabelIndex, $"'{CsvLayout.Shorten(texts[k])}' is not a class index (an integer ≥ 0). If the column holds a real-valued target, set CsvOptions.Regression = true; if its values are class codes, pass them as CsvOptions.ClassNames");
                }

                if (v >= DataSet.MaxInferredClasses)
                {
                    throw layout.Error(_firstLine[k], layout.LabelIndex, $"'{CsvLayout.Shorten(texts[k])}' as a class index would make {(v + 1).ToString("0", CultureInfo.InvariantCulture)} classes, more than the {DataSet.MaxInferredClasses} inferred from a file. If the column is a real-valued target, set CsvOptions.Regression = true; if it truly holds class indices, pass CsvOptions.Classes");
                }

                classOf[k] = (int)v;
                largest = Math.Max(largest, classOf[k]);
            }

            // Labels 1..K (R, MATLAB, many CSV exports) read as indices would add an empty class 0 that the model
            // must still output, and a Dense(K) model would be refused for a width mismatch that hides the cause. Only
            // that exact pattern is refused (every index 1..K present, none 0, K ≥ 2): one label alone, or indices with
            // gaps, are read as before (a test file may lack classes).
            if (largest >= 2 && Array.IndexOf(classOf, 0) < 0 && classOf.Distinct().Count() == largest)
            {
                int smallest = classOf.Min();
                int first = Array.IndexOf(classOf, smallest);
                throw layout.Error(_firstLine[first], layout.LabelIndex, string.Create(CultureInfo.InvariantCulture,
                    $"the label column's class indices run from {smallest} to {largest} and no row has class 0. If the labels count from 1, pass CsvOptions.ClassNames = [\"1\", …, \"{largest}\"] (each label read as a name: label k becomes class k − 1); to keep 0 as a class with no rows here (e.g. a test file), pass CsvOptions.Classes = {largest + 1}"));
            }

            return new Resolution(Math.Max(2, largest + 1), null, classOf);
        }

        if (texts.Length < 2)
        {
            throw layout.Error(_firstLine[0], layout.LabelIndex, $"'{CsvLayout.Shorten(texts[0])}' is the only class in the label column; a classification needs at least 2. Pass CsvOptions.ClassNames to name every class (or set CsvOptions.Regression = true)");
        }

        var sorted = (string[])texts.Clone();
        Array.Sort(sorted, StringComparer.Ordinal);
        for (int k = 0; k < texts.Length; k++)
        {
            classOf[k] = Array.BinarySearch(sorted, texts[k], StringComparer.Ordinal);
        }

        return new Resolution(sorted.Length, sorted, classOf);
    }

    private static CsvLabelMap Fixed(int classes, IReadOnlyList<string>? names, string source)
    {
        // A copy: the caller's list (CsvOptions.ClassNames) edited later must not rename the classes of a streaming
        // source, whose map outlives this call.
        names = names is null ? null : Array.AsReadOnly(names.ToArray());
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        if (names is not null)
        {
            for (int k = 0; k < names.Count; k++)
            {
                if (string.IsNullOrEmpty(names[k]) || !byName.TryAdd(names[k], k))
                {
                    throw new ArgumentException($"CsvOptions.ClassNames must hold distinct, non-empty names; entry {k} is {(names[k] is null ? "null" : $"'{names[k]}'")} (reading {source})");
                }
            }
        }

        return new CsvLabelMap(classes, names, byName, infers: false);
    }

    private static string Quote(IReadOnlyList<string> names)
        => string.Join(", ", names.Take(10).Select(s => $"'{CsvLayout.Shorten(s)}'")) + (names.Count > 10 ? ", …" : string.Empty);

    /// <summary>The decided classes, and the class of each inferred key (null when fixed).</summary>
    internal sealed record Resolution(int Classes, IReadOnlyList<string>? Names, int[]? KeyClasses)
    {
        public int ClassOf(int key) => KeyClasses is null ? key : KeyClasses[key];

        /// <summary>A fixed map with these classes, for the passes after the first.</summary>
        public CsvLabelMap AsFixed(string source) => Fixed(Classes, Names, source);
    }
}

/// <summary>The columns of a CSV file: names, the label column, and how to parse one row.</summary>
internal sealed class CsvLayout
{
    private readonly string _source;
    private readonly string[]? _names;
    private readonly char _delimiter;
    private readonly bool[]? _skip; // columns neither input nor label (CsvOptions.IgnoreColumns), by index; null for none

    private CsvLayout(string source, string[]? names, int columns, int labelIndex, bool[]? skip, char delimiter, bool firstRowPending)
    {
        _source = source;
        _names = names;
        Columns = columns;
        LabelIndex = labelIndex;
        _skip = skip;
        _delimiter = delimiter;
        FirstRowPending = firstRowPending;
        Features = columns - (labelIndex >= 0 ? 1 : 0) - (skip?.Count(b => b) ?? 0);
    }

    public int Columns { get; }

    public int LabelIndex { get; }

    public int Features { get; }

    /// <summary>True when the first data line has been read (to count columns) and is <see cref="CsvLineReader.Current"/>.</summary>
    public bool FirstRowPending { get; }

    /// <summary>True when both read the same columns in the same roles (inputs, label, ignored).</summary>
    public bool SameColumns(CsvLayout other) =>
        Columns == other.Columns && LabelIndex == other.LabelIndex && Features == other.Features
        && (_skip ?? []).AsSpan().SequenceEqual(other._skip ?? [])
        && (_names ?? []).AsSpan().SequenceEqual(other._names ?? []);

    /// <summary>The roles of the columns, for a message: "3 features of 5 columns (label column 5, ignored 1, 2)".</summary>
    public string Describe()
    {
        string ignored = _skip is null ? string.Empty : ", ignored " + string.Join(", ", Enumerable.Range(0, Columns).Where(c => _skip[c]).Select(c => (c + 1).ToString(CultureInfo.InvariantCulture)));
        string label = LabelIndex < 0 ? "no label" : $"label column {LabelIndex + 1}";
        string names = _names is null ? string.Empty : $": {Describe(_names)}";
        return $"{Features} features of {Columns} columns ({label}{ignored}){names}";
    }

    public static CsvLayout Read(CsvLineReader lines, CsvOptions options, string source)
    {
        if (options.SkipLines < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.SkipLines, $"SkipLines must be ≥ 0; received {options.SkipLines}");
        }

        if (options.Delimiter is '"' or '\r' or '\n')
        {
            throw new ArgumentException($"CsvOptions.Delimiter may not be a double quote or a line end; received U+{(int)options.Delimiter:X4}", nameof(options));
        }

        if (options.MaxLineLength < 1 || options.MaxLineLength > Array.MaxLength - 2)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxLineLength, $"MaxLineLength must be in [1, {Array.MaxLength - 2}]; received {options.MaxLineLength}");
        }

        if (options.Unlabeled && options.HasLabel)
        {
            throw new ArgumentException("CsvOptions.Unlabeled is true but a label column is named too (LabelColumn or LabelColumnIndex); choose one", nameof(options));
        }

        // Both used to be accepted, and LabelColumnIndex silently ignored.
        if (options.LabelColumn is not null && options.LabelColumnIndex is int both)
        {
            throw new ArgumentException($"CsvOptions.LabelColumn ('{options.LabelColumn}') and LabelColumnIndex ({both}) are both set; give one", nameof(options));
        }

        if (options.Regression && (options.Classes != 0 || options.ClassNames is not null))
        {
            throw new ArgumentException($"CsvOptions.Regression is true but Classes ({options.Classes}) or ClassNames are set too; classes belong to classification", nameof(options));
        }

        for (int i = 0; i < options.SkipLines; i++)
        {
            if (!lines.TryReadLine(out _))
            {
                throw new InvalidDataException($"{source}: the file ends within the {options.SkipLines} lines to skip");
            }
        }

        string[]? names = null;
        int columns;
        bool pending = false;
        if (options.HasHeader)
        {
            if (!lines.TryReadDataLine(out var header))
            {
                throw new InvalidDataException($"{source}: the file is empty; expected a header line");
            }

            var cells = Cells(header, options.Delimiter, out bool unclosed);
            if (unclosed)
            {
                throw new InvalidDataException($"{source}: line {lines.LineNumber} (the header), cell {cells.Count}: a quoted name has no closing quote on its line (a cell may not span lines)");
            }

            names = cells.ToArray();
            columns = names.Length;
            if (Csv.LooksLikeData(names))
            {
                string shown = names.Length <= 8 ? string.Join(options.Delimiter, names) : string.Join(options.Delimiter, names.Take(8)) + options.Delimiter + "…";
                throw new InvalidDataException($"{source}: the header line ({shown}) holds only numbers, so it looks like the first example, which would be lost; set CsvOptions.HasHeader = false for a file without a header");
            }
        }
        else if (lines.TryReadDataLine(out var first))
        {
            columns = CountCells(first, options.Delimiter);
            pending = true;
        }
        else
        {
            throw new InvalidDataException($"{source}: the file holds no rows");
        }

        int labelIndex = -1;
        if (options.LabelColumn is not null)
        {
            if (names is null)
            {
                throw new ArgumentException($"LabelColumn '{options.LabelColumn}' names a column, but the file has no header (HasHeader is false); use LabelColumnIndex", nameof(options));
            }

            labelIndex = Array.IndexOf(names, options.LabelColumn);
            if (labelIndex < 0)
            {
                throw new InvalidDataException($"{source}: no column is named '{options.LabelColumn}'; the header has {Describe(names)}");
            }

            // The first of two same-named columns used to become the label, silently.
            int again = Array.IndexOf(names, options.LabelColumn, labelIndex + 1);
            if (again >= 0)
            {
                throw new InvalidDataException($"{source}: the header names columns {labelIndex + 1} and {again + 1} '{options.LabelColumn}', so LabelColumn is ambiguous; use LabelColumnIndex");
            }
        }
        else if (options.LabelColumnIndex is int index)
        {
            labelIndex = index < 0 ? columns + index : index;
            if ((uint)labelIndex >= (uint)columns)
            {
                throw new ArgumentException($"LabelColumnIndex must be in [−{columns}, {columns}) for a file of {columns} columns; received {index}", nameof(options));
            }
        }
        else if (!options.Unlabeled)
        {
            string which = names is null ? $"the file has {columns} columns and no header" : $"the header has {Describe(names)}";
            throw new ArgumentException($"{source}: say which column holds the label ({which}): set CsvOptions.LabelColumn = \"name\" or CsvOptions.LabelColumnIndex = -1 for the last column; for a file of inputs only, set CsvOptions.Unlabeled = true", nameof(options));
        }

        var skip = IgnoredColumns(options, names, columns, labelIndex, source);
        return new CsvLayout(source, names, columns, labelIndex, skip, options.Delimiter, pending);
    }

    // The columns of CsvOptions.IgnoreColumns / IgnoreColumnIndices, checked: each named once, in range, not the label,
    // and at least one input left.
    private static bool[]? IgnoredColumns(CsvOptions options, string[]? names, int columns, int labelIndex, string source)
    {
        if (options.IgnoreColumns is null && options.IgnoreColumnIndices is null)
        {
            return null;
        }

        var skip = new bool[columns];
        void Mark(int index, string what)
        {
            if (index == labelIndex)
            {
                throw new ArgumentException($"{what} is the label column; it cannot be ignored too", nameof(options));
            }

            if (skip[index])
            {
                throw new ArgumentException($"{what} is listed twice among the columns to ignore", nameof(options));
            }

            skip[index] = true;
        }

        foreach (string? name in options.IgnoreColumns ?? [])
        {
            if (names is null)
            {
                throw new ArgumentException($"IgnoreColumns names column '{name}', but the file has no header (HasHeader is false); use IgnoreColumnIndices", nameof(options));
            }

            int index = name is null ? -1 : Array.IndexOf(names, name);
            if (index < 0)
            {
                throw new InvalidDataException($"{source}: no column is named '{name}' (in CsvOptions.IgnoreColumns); the header has {Describe(names)}");
            }

            if (Array.IndexOf(names, name, index + 1) >= 0)
            {
                throw new InvalidDataException($"{source}: the header names more than one column '{name}', so IgnoreColumns is ambiguous; use IgnoreColumnIndices");
            }

            Mark(index, $"column '{name}'");
        }

        foreach (int given in options.IgnoreColumnIndices ?? [])
        {
            int index = given < 0 ? columns + given : given;
            if ((uint)index >= (uint)columns)
            {
                throw new ArgumentException($"IgnoreColumnIndices must be in [−{columns}, {columns}) for a file of {columns} columns; received {given}", nameof(options));
            }

            Mark(index, $"column {index + 1}");
        }

        if (columns - (labelIndex >= 0 ? 1 : 0) - skip.Count(b => b) < 1)
        {
            throw new ArgumentException($"{source}: every column is the label or ignored; at least one input column must be left", nameof(options));
        }

        return skip;
    }

    /// <summary>Parses one line's inputs into x (in column order, label skipped) and returns where the label cell is.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // a file is usually read once: no slow first tier
    public Range ParseRow<T>(ReadOnlySpan<char> line, long lineNumber, Span<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // A line with a double quote finds each cell's end with CellEnd (a quoted cell may hold the delimiter); plain
        // numeric cells take the fast path either way.
        bool quoted = line.Contains('"');
        int column = 0;
        int f = 0;
        int offset = 0;
        Range label = default;
        while (true)
        {
            if (column != LabelIndex && column < Columns && (_skip is null || !_skip[column]) && TryParsePlain(line, offset, _delimiter, out int plainEnd, out double plain))
            {
                // The common cell ("0", "-0.25") read in the same pass that finds its end; a value of at most 15 digits
                // is finite in float too.
                x[f++] = T.CreateTruncating(plain);
                column++;
                if (plainEnd == line.Length)
                {
                    break;
                }

                offset = plainEnd + 1;
                continue;
            }

            int end;
            if (quoted)
            {
                end = CellEnd(line, offset, _delimiter);
            }
            else
            {
                int cut = line[offset..].IndexOf(_delimiter);
                end = cut < 0 ? line.Length : offset + cut;
            }

            if (column >= Columns)
            {
                throw new InvalidDataException($"{_source}: line {lineNumber} has {CountCells(line, _delimiter)} cells; expected {Columns}{QuoteHint(line)}");
            }

            if (end < 0)
            {
                throw Error(lineNumber, column, $"the quoted cell {Shorten(line[offset..].Trim())} has no closing quote on its line (a cell may not span lines; a quote inside a quoted cell is written \"\")");
            }

            if (column == LabelIndex)
            {
                label = new Range(offset, end);
            }
            else if (_skip is null || !_skip[column])
            {
                x[f++] = ParseValue<T>(line[offset..end], lineNumber, column);
            }

            column++;
            if (end == line.Length)
            {
                break;
            }

            offset = end + 1;
        }

        if (column != Columns)
        {
            throw new InvalidDataException($"{_source}: line {lineNumber} has {column} cells; expected {Columns}{QuoteHint(line)}");
        }

        return label;
    }

    // A quote counts only at the start of a cell: x "a, b" is two cells. Said when a line with quotes has the wrong count.
    private string QuoteHint(ReadOnlySpan<char> line) =>
        line.Contains('"') ? $" (a cell holding the delimiter '{_delimiter}' must be quoted whole, from its first character)" : string.Empty;

    /// <summary>
    /// Where the cell that starts at <paramref name="offset"/> ends: the index of the delimiter after it, or the line's
    /// length. A cell whose first character other than white space is '"' is quoted (RFC 4180): it runs to its closing
    /// quote ("" inside stands for one quote), so it may hold the delimiter; anything after the closing quote up to the
    /// delimiter stays part of the cell. −1 for a quoted cell with no closing quote on the line.
    /// </summary>
    public static int CellEnd(ReadOnlySpan<char> line, int offset, char delimiter)
    {
        int i = offset;
        while (i < line.Length && line[i] != delimiter && char.IsWhiteSpace(line[i]))
        {
            i++;
        }

        if (i < line.Length && line[i] == '"')
        {
            i++;
            while (true)
            {
                int q = line[i..].IndexOf('"');
                if (q < 0)
                {
                    return -1;
                }

                i += q + 1;
                if (i < line.Length && line[i] == '"')
                {
                    i++; // "" inside a quoted cell
                    continue;
                }

                break;
            }
        }

        int cut = line[i..].IndexOf(delimiter);
        return cut < 0 ? line.Length : i + cut;
    }

    /// <summary>The number of cells of a line, quoted cells counted as one (an unclosed one runs to the line's end).</summary>
    public static int CountCells(ReadOnlySpan<char> line, char delimiter)
    {
        if (!line.Contains('"'))
        {
            return line.Count(delimiter) + 1;
        }

        int count = 1;
        int offset = 0;
        int end;
        while ((end = CellEnd(line, offset, delimiter)) >= 0 && end < line.Length)
        {
            count++;
            offset = end + 1;
        }

        return count;
    }

    /// <summary>
    /// The text of every cell of a line (a header), cleaned and unquoted; <paramref name="unclosed"/> tells whether the
    /// last one is a quoted cell left open (it then runs to the line's end).
    /// </summary>
    public static List<string> Cells(ReadOnlySpan<char> line, char delimiter, out bool unclosed)
    {
        var cells = new List<string>();
        int offset = 0;
        while (true)
        {
            int end = CellEnd(line, offset, delimiter);
            unclosed = end < 0;
            if (unclosed)
            {
                end = line.Length;
            }

            cells.Add(Text(line[offset..end]));
            if (end == line.Length)
            {
                return cells;
            }

            offset = end + 1;
        }
    }

    /// <summary>A cell's text: <see cref="Clean"/>ed, with "" in a quoted cell read as one quote.</summary>
    public static string Text(ReadOnlySpan<char> raw)
    {
        var cell = Clean(raw);
        return HasEscapedQuote(raw, cell) ? cell.ToString().Replace("\"\"", "\"", StringComparison.Ordinal) : cell.ToString();
    }

    /// <summary>Whether <paramref name="cell"/>, <paramref name="raw"/> <see cref="Clean"/>ed, came from a quoted cell holding "".</summary>
    public static bool HasEscapedQuote(ReadOnlySpan<char> raw, ReadOnlySpan<char> cell) =>
        cell.Length < raw.Trim().Length && cell.Contains("\"\"", StringComparison.Ordinal);

    public static ReadOnlySpan<char> Clean(ReadOnlySpan<char> cell)
    {
        cell = cell.Trim();
        if (cell.Length >= 2 && cell[0] == '"' && cell[^1] == '"')
        {
            cell = cell[1..^1].Trim();
        }

        return cell;
    }

    public double ParseNumber(ReadOnlySpan<char> raw, long lineNumber, int column)
    {
        var cell = Clean(raw);
        if (cell.IsEmpty)
        {
            throw Error(lineNumber, column, column == LabelIndex
                ? "the cell is empty (a missing value)"
                : "the cell is empty (a missing value): fill or drop missing values before loading, or list the column in CsvOptions.IgnoreColumns");
        }

        bool plain = TryParsePlain(cell, 0, '\0', out int end, out double v) && end == cell.Length;
        if (!plain && !double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out v))
        {
            throw Error(lineNumber, column, column == LabelIndex
                ? $"'{Shorten(cell)}' is not a number (CsvOptions.Regression is true, so the label column must hold real-valued targets)"
                : $"'{Shorten(cell)}' is not a number{NotANumberHint(cell)}");
        }

        if (!double.IsFinite(v))
        {
            throw Error(lineNumber, column, $"'{Shorten(cell)}' is not a finite number");
        }

        return v;
    }

    // Why an input cell may not be a number: a decimal comma ("1,5" in a ';'-separated file), or a text column.
    private static string NotANumberHint(ReadOnlySpan<char> cell)
    {
        int comma = cell.IndexOf(',');
        if (comma >= 0 && cell.LastIndexOf(',') == comma
            && double.TryParse(string.Concat(cell[..comma], ".", cell[(comma + 1)..]), NumberStyles.Float, CultureInfo.InvariantCulture, out _))
        {
            return " (cells are read with '.' as the decimal point, in any culture: convert decimal commas before loading)";
        }

        return " (a text column: list it in CsvOptions.IgnoreColumns, or encode it as numbers before loading)";
    }

    // The common cell: an optional sign, up to 15 significant digits with at most one decimal point, and an optional
    // exponent ("0", "-12", "0.125", "3.5e-05"), read from text[start..] up to the delimiter or the end (its index in
    // end) without the general parser. Its digits make an integer M < 10¹⁵ and the value is M·10^e with |e| ≤ 22, so M
    // and 10^|e| are exact in a double and the one correctly rounded multiplication or division is the correctly rounded
    // value of the text, as double.Parse gives (Clinger's fast path). False for anything else (spaces, quotes, more
    // digits, a larger exponent, "NaN"), which the general path then reads. Fashion-MNIST as a 133 MB CSV of 47 million
    // cells, with the blocks below: 2.5–3.2 s → 1.2 s per Csv.Load in a new process, 0.65 s once warm (numpy 1.24's
    // loadtxt: 1.8 s; AMD EPYC Zen 5).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // a file is usually read once: no slow first tier
    private static bool TryParsePlain(ReadOnlySpan<char> text, int start, char delimiter, out int end, out double value)
    {
        value = 0;
        int i = start;
        bool negative = false;
        if (i < text.Length && (text[i] == '-' || text[i] == '+'))
        {
            negative = text[i] == '-';
            i++;
        }

        long mantissa = 0;
        int digits = 0; // digits seen, leading zeros included
        int significant = 0; // digits from the first non-zero one on
        int decimals = -1;
        int exponent = 0;
        for (; i < text.Length; i++)
        {
            char ch = text[i];
            int d = ch - '0';
            if ((uint)d <= 9)
            {
                digits++;
                if (mantissa != 0 || d != 0)
                {
                    if (++significant > 15)
                    {
                        end = i;
                        return false;
                    }

                    mantissa = (mantissa * 10) + d;
                }

                if (decimals >= 0)
                {
                    decimals++;
                }
            }
            else if (ch == '.' && decimals < 0)
            {
                decimals = 0;
            }
            else if ((ch == 'e' || ch == 'E') && digits > 0)
            {
                if (!TryParseExponent(text, ref i, delimiter, out exponent))
                {
                    end = i;
                    return false;
                }

                break;
            }
            else if (ch == delimiter)
            {
                break;
            }
            else
            {
                end = i;
                return false;
            }
        }

        end = i;
        int e = exponent - Math.Max(decimals, 0);
        if (digits == 0 || e < -22 || e > 22)
        {
            return false;
        }

        double magnitude = e >= 0 ? mantissa * _pow10[e] : mantissa / _pow10[-e];
        value = negative ? -magnitude : magnitude;
        return true;
    }

    // The exponent after text[i] = 'e' or 'E': an optional sign and 1–4 digits, up to the delimiter or the end (i is left there).
    private static bool TryParseExponent(ReadOnlySpan<char> text, ref int i, char delimiter, out int exponent)
    {
        exponent = 0;
        i++;
        bool negative = false;
        if (i < text.Length && (text[i] == '-' || text[i] == '+'))
        {
            negative = text[i] == '-';
            i++;
        }

        int digits = 0;
        for (; i < text.Length && text[i] != delimiter; i++)
        {
            int d = text[i] - '0';
            if ((uint)d > 9 || ++digits > 4)
            {
                return false;
            }

            exponent = (exponent * 10) + d;
        }

        exponent = negative ? -exponent : exponent;
        return digits > 0;
    }

    private static readonly double[] _pow10 =
        [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

    // A number finite as a double can overflow float (1e40): refused like "Infinity" in the file, not read as ±∞.
    public T ParseValue<T>(ReadOnlySpan<char> raw, long lineNumber, int column)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double v = ParseNumber(raw, lineNumber, column);
        T value = T.CreateTruncating(v);
        if (!T.IsFinite(value))
        {
            throw Error(lineNumber, column, $"'{Shorten(Clean(raw))}' overflows {typeof(T).Name} (largest finite value {(typeof(T) == typeof(float) ? float.MaxValue.ToString(CultureInfo.InvariantCulture) : double.MaxValue.ToString(CultureInfo.InvariantCulture))}); scale the column or load it as double");
        }

        return value;
    }

    public InvalidDataException Error(long lineNumber, int column, string what)
    {
        string name = _names is not null && column < _names.Length ? $" ('{Shorten(_names[column])}')" : string.Empty;
        return new InvalidDataException($"{_source}: line {lineNumber}, column {column + 1}{name}: {what}");
    }

    public static string Shorten(ReadOnlySpan<char> text) => text.Length <= 40 ? text.ToString() : string.Concat(text[..40], "…");

    private static string Describe(string[] names)
        => string.Join(", ", names.Take(20).Select(s => $"'{Shorten(s)}'")) + (names.Length > 20 ? $", … ({names.Length} columns)" : string.Empty);
}

/// <summary>Reads lines into a reusable buffer, without allocating a string per line.</summary>
internal sealed class CsvLineReader : IDisposable
{
    private readonly TextReader _reader;
    private readonly bool _leaveOpen;
    private readonly string _source;
    private readonly int _maxLineLength;
    private char[] _buffer = new char[1 << 14];
    private int _start;
    private int _end;
    private int _lineStart;
    private int _lineLength;
    private bool _eof;

    /// <param name="reader">The text.</param>
    /// <param name="leaveOpen">False to dispose <paramref name="reader"/> with this reader.</param>
    /// <param name="source">Names the text in error messages.</param>
    /// <param name="maxLineLength">The longest line accepted, in characters without the line end (validated by <see cref="CsvLayout.Read"/> before the first line is read).</param>
    public CsvLineReader(TextReader reader, bool leaveOpen, string source, int maxLineLength)
    {
        _reader = reader;
        _leaveOpen = leaveOpen;
        _source = source;
        _maxLineLength = maxLineLength;
    }

    /// <summary>The 1-based number of the line last read.</summary>
    public long LineNumber { get; private set; }

    /// <summary>The line last read (valid until the next read).</summary>
    public ReadOnlySpan<char> Current => _buffer.AsSpan(_lineStart, _lineLength);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // a file is usually read once: no slow first tier
    public bool TryReadLine(out ReadOnlySpan<char> line)
    {
        while (true)
        {
            // A line ends at "\n", "\r\n" or a lone "\r" (classic Mac OS), as Python's universal newlines and pandas
            // read them. A '\r' last in the buffer waits for the next character unless the text has ended.
            int nl = _buffer.AsSpan(_start, _end - _start).IndexOfAny('\n', '\r');
            int ending = 1;
            if (nl >= 0 && _buffer[_start + nl] == '\r')
            {
                if (_start + nl + 1 < _end)
                {
                    ending = _buffer[_start + nl + 1] == '\n' ? 2 : 1;
                }
                else if (!_eof)
                {
                    nl = -1;
                }
            }

            if (nl >= 0 || (_eof && _start < _end))
            {
                int length = nl >= 0 ? nl : _end - _start;
                _lineStart = _start;
                _lineLength = length;
                if (_lineLength > _maxLineLength)
                {
                    throw TooLong();
                }

                _start += nl >= 0 ? nl + ending : length;
                LineNumber++;
                line = Current;
                return true;
            }

            if (_eof)
            {
                line = default;
                return false;
            }

            if (_start > 0)
            {
                _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                _end -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                // No line end among _end characters: the line has at least that many (one may be a '\r').
                if (_end > (long)_maxLineLength + 1)
                {
                    throw TooLong();
                }

                Array.Resize(ref _buffer, (int)Math.Min(2L * _buffer.Length, (long)_maxLineLength + 2));
            }

            int got = _reader.Read(_buffer.AsSpan(_end));
            if (got == 0)
            {
                _eof = true;
            }

            _end += got;
        }
    }

    private InvalidDataException TooLong() =>
        new($"{_source}: line {LineNumber + 1} is longer than {_maxLineLength} characters (CsvOptions.MaxLineLength); is it a CSV file with one row per line?");

    /// <summary>Reads the next line that is not blank.</summary>
    public bool TryReadDataLine(out ReadOnlySpan<char> line)
    {
        while (TryReadLine(out line))
        {
            if (!line.IsWhiteSpace())
            {
                return true;
            }
        }

        return false;
    }

    public void Dispose()
    {
        if (!_leaveOpen)
        {
            _reader.Dispose();
        }
    }
}
