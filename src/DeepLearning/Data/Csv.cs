using System.Globalization;
using System.IO.Compression;
using System.Numerics;
using System.Text;

namespace DeepLearning;

/// <summary>How <see cref="Csv"/> reads a file: header, delimiter and which column holds the label.</summary>
public sealed class CsvOptions
{
    /// <summary>True when the first line (after <see cref="SkipLines"/>) names the columns. Default true.</summary>
    public bool HasHeader { get; init; } = true;

    /// <summary>Lines to skip before the header or the first row (for a preamble). Default 0.</summary>
    public int SkipLines { get; init; }

    /// <summary>The cell separator. Default ','.</summary>
    public char Delimiter { get; init; } = ',';

    /// <summary>The name of the label column in the header; takes precedence over <see cref="LabelColumnIndex"/>.</summary>
    public string? LabelColumn { get; init; }

    /// <summary>
    /// The 0-based index of the label column; negative counts from the end (−1 is the last column). With neither this
    /// nor <see cref="LabelColumn"/> every column is an input and Y has no columns.
    /// </summary>
    public int? LabelColumnIndex { get; init; }

    /// <summary>
    /// False (default): the label column holds class indices 0, 1, … and Y is one-hot (a 0/1 column for 2 classes).
    /// True: it holds a real-valued target and Y is (m, 1).
    /// </summary>
    public bool Regression { get; init; }

    /// <summary>The number of classes; 0 infers max label + 1 (at least 2). Required (≥ 2) for streaming classification.</summary>
    public int Classes { get; init; }

    /// <summary>Optional display names of the classes.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    internal bool HasLabel => LabelColumn is not null || LabelColumnIndex is not null;
}

/// <summary>
/// Loads numeric CSV files (optionally gzip-compressed) into a <see cref="DataSet{T}"/>, or streams them.
/// </summary>
/// <remarks>
/// Cells are parsed with the invariant culture (a '.' decimal point); surrounding spaces and double quotes are
/// removed, but a quoted cell may not contain the delimiter. Blank lines are skipped. A missing, non-numeric or
/// non-finite cell, or a row with the wrong number of cells, is an <see cref="InvalidDataException"/> naming the line
/// (1-based, counting every line of the file) and the column (1-based, with its header name).
/// </remarks>
public static class Csv
{
    /// <summary>Reads a whole CSV file into memory.</summary>
    public static DataSet<T> Load<T>(string path, CsvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var reader = OpenText(path);
        return Load<T>(reader, options, path);
    }

    /// <summary>Reads CSV text into memory; <paramref name="sourceName"/> names it in error messages.</summary>
    public static DataSet<T> Load<T>(TextReader reader, CsvOptions? options = null, string sourceName = "CSV")
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(reader);
        options ??= new CsvOptions();
        using var lines = new CsvLineReader(reader, leaveOpen: true);
        var layout = CsvLayout.Read(lines, options, sourceName);
        int n = layout.Features;
        var x = new T[Math.Max(n * 256, 1)];
        var targets = new List<double>();
        var labelLines = new List<long>();
        int m = 0;
        double label = 0;
        bool pending = layout.FirstRowPending;
        while (pending || lines.TryReadDataLine(out _))
        {
            pending = false;
            if ((long)(m + 1) * n > x.Length)
            {
                Array.Resize(ref x, (int)Math.Min(Array.MaxLength, Math.Max((long)x.Length * 2, (long)(m + 1) * n)));
            }

            layout.ParseRow(lines.Current, lines.LineNumber, x.AsSpan(m * n, n), ref label, options.Regression ? -1 : options.Classes);
            if (layout.LabelIndex >= 0)
            {
                targets.Add(label);
                labelLines.Add(lines.LineNumber);
            }

            m++;
        }

        var xt = new Tensor<T>(m, n);
        x.AsSpan(0, m * n).CopyTo(xt.Span);
        if (layout.LabelIndex < 0)
        {
            return new DataSet<T>(xt, new Tensor<T>(m, 0));
        }

        if (options.Regression)
        {
            var yt = new Tensor<T>(m, 1);
            for (int i = 0; i < m; i++)
            {
                yt.Span[i] = T.CreateTruncating(targets[i]);
            }

            return new DataSet<T>(xt, yt);
        }

        var labels = targets.Select(v => (int)v).ToArray();
        int classes = options.Classes == 0 ? Math.Max(2, labels.Length == 0 ? 0 : labels.Max() + 1) : options.Classes;
        return DataSet.FromLabels(xt, labels, classes, options.ClassNames);
    }

    /// <summary>
    /// A streaming source over a CSV file (read sequentially, shuffled within a buffer of <paramref name="bufferRows"/>
    /// rows). m is not known in advance (<see cref="StreamingDataSource{T}.Count"/> is −1). Classification needs
    /// <see cref="CsvOptions.Classes"/> ≥ 2.
    /// </summary>
    public static StreamingDataSource<T> OpenStreaming<T>(string path, CsvOptions options, int bufferRows = 4096)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.HasLabel && !options.Regression && options.Classes < 2)
        {
            throw new ArgumentException($"streaming a classification CSV needs CsvOptions.Classes ≥ 2 (it cannot be inferred without reading the whole file); received {options.Classes}", nameof(options));
        }

        CsvLayout layout;
        using (var reader = OpenText(path))
        using (var lines = new CsvLineReader(reader, leaveOpen: true))
        {
            layout = CsvLayout.Read(lines, options, path);
        }

        int targets = !options.HasLabel ? 0 : options.Regression || options.Classes == 2 ? 1 : options.Classes;
        return new StreamingDataSource<T>(
            Path.GetFileName(path), layout.Features, targets, -1, options.HasLabel && !options.Regression ? options.Classes : 0, options.ClassNames, bufferRows, 1, () => new CsvRowStream<T>(path, options));
    }

    internal static TextReader OpenText(string path)
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
        return new StreamReader(s, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
    }

    private sealed class CsvRowStream<T> : RowStream<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly TextReader _reader;
        private readonly CsvLineReader _lines;
        private readonly CsvLayout _layout;
        private readonly CsvOptions _options;
        private bool _pending;

        public CsvRowStream(string path, CsvOptions options)
        {
            _reader = OpenText(path);
            _lines = new CsvLineReader(_reader, leaveOpen: false);
            _layout = CsvLayout.Read(_lines, options, path);
            _pending = _layout.FirstRowPending;
            _options = options;
        }

        public override bool ReadRow(Span<T> x, Span<T> y)
        {
            if (!_pending && !_lines.TryReadDataLine(out _))
            {
                return false;
            }

            _pending = false;
            double label = 0;
            _layout.ParseRow(_lines.Current, _lines.LineNumber, x, ref label, _options.Regression ? -1 : _options.Classes);
            if (y.Length == 0)
            {
                return true;
            }

            if (_options.Regression)
            {
                y[0] = T.CreateTruncating(label);
            }
            else if (y.Length == 1)
            {
                y[0] = label == 1 ? T.One : T.Zero;
            }
            else
            {
                y.Clear();
                y[(int)label] = T.One;
            }

            return true;
        }

        public override void Dispose() => _lines.Dispose();
    }
}

/// <summary>The columns of a CSV file: names, the label column, and how to parse one row.</summary>
internal sealed class CsvLayout
{
    private readonly string _source;
    private readonly string[]? _names;
    private readonly char _delimiter;

    private CsvLayout(string source, string[]? names, int columns, int labelIndex, char delimiter, bool firstRowPending)
    {
        _source = source;
        _names = names;
        Columns = columns;
        LabelIndex = labelIndex;
        _delimiter = delimiter;
        FirstRowPending = firstRowPending;
    }

    public int Columns { get; }

    public int LabelIndex { get; }

    public int Features => LabelIndex >= 0 ? Columns - 1 : Columns;

    /// <summary>True when the first data line has been read (to count columns) and is <see cref="CsvLineReader.Current"/>.</summary>
    public bool FirstRowPending { get; }

    public static CsvLayout Read(CsvLineReader lines, CsvOptions options, string source)
    {
        if (options.SkipLines < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.SkipLines, $"SkipLines must be ≥ 0; received {options.SkipLines}");
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

            names = Cells(header, options.Delimiter).Select(c => c.ToString()).ToArray();
            columns = names.Length;
        }
        else if (lines.TryReadDataLine(out var first))
        {
            columns = Cells(first, options.Delimiter).Count;
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
                throw new InvalidDataException($"{source}: no column is named '{options.LabelColumn}'; the header has {string.Join(", ", names.Select(s => $"'{s}'"))}");
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

        return new CsvLayout(source, names, columns, labelIndex, options.Delimiter, pending);
    }

    /// <summary>Parses one line into x (the inputs in column order, label skipped) and the label value.</summary>
    public void ParseRow<T>(ReadOnlySpan<char> line, long lineNumber, Span<T> x, ref double label, int classes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int column = 0;
        int f = 0;
        var rest = line;
        while (true)
        {
            int cut = rest.IndexOf(_delimiter);
            var cell = cut < 0 ? rest : rest[..cut];
            if (column >= Columns)
            {
                throw new InvalidDataException($"{_source}: line {lineNumber} has {CountCells(line)} cells; expected {Columns}");
            }

            double v = ParseCell(cell, lineNumber, column);
            if (column == LabelIndex)
            {
                if (classes >= 0 && (v < 0 || v != Math.Floor(v) || (classes > 0 && v >= classes) || v > int.MaxValue))
                {
                    throw Error(lineNumber, column, $"'{Clean(cell)}' is not a class index{(classes > 0 ? $" in [0, {classes})" : " (an integer ≥ 0)")}");
                }

                label = v;
            }
            else
            {
                x[f++] = T.CreateTruncating(v);
            }

            column++;
            if (cut < 0)
            {
                break;
            }

            rest = rest[(cut + 1)..];
        }

        if (column != Columns)
        {
            throw new InvalidDataException($"{_source}: line {lineNumber} has {column} cells; expected {Columns}");
        }
    }

    public static List<string> Cells(ReadOnlySpan<char> line, char delimiter)
    {
        var cells = new List<string>();
        foreach (var range in line.Split(delimiter))
        {
            cells.Add(Clean(line[range]).ToString());
        }

        return cells;
    }

    private static ReadOnlySpan<char> Clean(ReadOnlySpan<char> cell)
    {
        cell = cell.Trim();
        if (cell.Length >= 2 && cell[0] == '"' && cell[^1] == '"')
        {
            cell = cell[1..^1].Trim();
        }

        return cell;
    }

    private int CountCells(ReadOnlySpan<char> line) => line.Count(_delimiter) + 1;

    private double ParseCell(ReadOnlySpan<char> raw, long lineNumber, int column)
    {
        var cell = Clean(raw);
        if (cell.IsEmpty)
        {
            throw Error(lineNumber, column, "the cell is empty (a missing value)");
        }

        if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
        {
            throw Error(lineNumber, column, $"'{cell}' is not a number");
        }

        if (!double.IsFinite(v))
        {
            throw Error(lineNumber, column, $"'{cell}' is not a finite number");
        }

        return v;
    }

    private InvalidDataException Error(long lineNumber, int column, string what)
    {
        string name = _names is not null && column < _names.Length ? $" ('{_names[column]}')" : string.Empty;
        return new InvalidDataException($"{_source}: line {lineNumber}, column {column + 1}{name}: {what}");
    }
}

/// <summary>Reads lines into a reusable buffer, without allocating a string per line.</summary>
internal sealed class CsvLineReader : IDisposable
{
    private readonly TextReader _reader;
    private readonly bool _leaveOpen;
    private char[] _buffer = new char[1 << 14];
    private int _start;
    private int _end;
    private int _lineStart;
    private int _lineLength;
    private bool _eof;

    public CsvLineReader(TextReader reader, bool leaveOpen)
    {
        _reader = reader;
        _leaveOpen = leaveOpen;
    }

    /// <summary>The 1-based number of the line last read.</summary>
    public long LineNumber { get; private set; }

    /// <summary>The line last read (valid until the next read).</summary>
    public ReadOnlySpan<char> Current => _buffer.AsSpan(_lineStart, _lineLength);

    public bool TryReadLine(out ReadOnlySpan<char> line)
    {
        while (true)
        {
            int nl = _buffer.AsSpan(_start, _end - _start).IndexOf('\n');
            if (nl >= 0 || (_eof && _start < _end))
            {
                int length = nl >= 0 ? nl : _end - _start;
                _lineStart = _start;
                _lineLength = length > 0 && _buffer[_start + length - 1] == '\r' ? length - 1 : length;
                _start += nl >= 0 ? nl + 1 : length;
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
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            int got = _reader.Read(_buffer.AsSpan(_end));
            if (got == 0)
            {
                _eof = true;
            }

            _end += got;
        }
    }

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
