using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace DeepLearning.Tests.Data;

/// <summary>
/// Seeded fuzzing of every data reader (issue 11): each of at least 2,000 mutated files (bit flips, byte overwrites,
/// truncation at every section boundary and at random points, lying lengths and dimensions, appended bytes) must end
/// in a loaded file or an <see cref="InvalidDataException"/> (the only type the readers' XML docs list for bad
/// content), and reading it may allocate at most 4 × the file size + 1 MiB (GC.GetAllocatedBytesForCurrentThread).
/// </summary>
public sealed class DataFuzzTests : IDisposable
{
    private const int Cases = 2000;
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Idx_raw_files_load_or_fail_cleanly_within_the_allocation_bound()
    {
        var (images, labels) = IdxFixture();
        string goodImages = _dir.File("good-images.idx");
        string goodLabels = _dir.File("good-labels.idx");
        File.WriteAllBytes(goodImages, images);
        File.WriteAllBytes(goodLabels, labels);
        int[] imageBounds = [0, 1, 2, 3, 4, 8, 12, 16, 16 + 30, images.Length - 30, images.Length];
        int[] labelBounds = [0, 2, 3, 4, 8, 9, labels.Length - 1, labels.Length];
        var random = new Random(11);
        string path = _dir.File("fuzz.idx");
        var outcomes = new Outcomes();
        for (int i = 0; i < Cases; i++)
        {
            bool imagesCase = i % 2 == 0;
            var source = imagesCase ? images : labels;
            var bytes = Mutator.Mutate(source, imagesCase ? imageBounds : labelBounds, i / 2, random, bigEndian: true, out string how);
            File.WriteAllBytes(path, bytes);
            if (imagesCase)
            {
                outcomes.Check(how, bytes.Length, () => Idx.Read<float>(path));
                outcomes.Check(how, bytes.Length, () => Idx.ReadHeader(path));
                if (i % 4 == 0)
                {
                    outcomes.Check(how, bytes.Length, () => Idx.OpenStreaming<float>(path, goodLabels, classes: 10).ToDataSet());
                }
            }
            else
            {
                outcomes.Check(how, bytes.Length, () => Idx.ReadLabels(path));
                outcomes.Check(how, bytes.Length, () => Idx.Load<float>(goodImages, path, classes: 10));
            }
        }

        outcomes.Verify(minimumLoaded: 50, minimumRejected: 500);
    }

    [Fact]
    public void Idx_gzip_files_load_or_fail_cleanly_within_the_allocation_bound()
    {
        var (images, labels) = IdxFixture();
        string goodLabels = _dir.File("good-labels.idx.gz");
        File.WriteAllBytes(goodLabels, Gzip(labels));
        int[] payloadBounds = [0, 3, 4, 8, 12, 16, images.Length - 30, images.Length];
        var random = new Random(12);
        string path = _dir.File("fuzz.idx.gz");
        var outcomes = new Outcomes();
        for (int i = 0; i < Cases; i++)
        {
            byte[] bytes;
            string how;
            var payload = i % 3 == 2 ? labels : images;
            if (i % 2 == 0)
            {
                // Mutate the compressed file: the deflate stream, its CRC and its size trailer.
                var gz = i % 4 == 0 ? Gzip(payload) : GzipMembers(payload, random.Next(payload.Length + 1));
                int[] bounds = [0, 2, 3, 9, 10, gz.Length / 2, gz.Length - 8, gz.Length - 4, gz.Length];
                bytes = Mutator.Mutate(gz, bounds, i / 2, random, bigEndian: false, out how);
                how = "compressed: " + how;
            }
            else
            {
                // Mutate what is compressed (lying dimensions, short data), then often make the trailer agree with the lie.
                var mutated = Mutator.Mutate(payload, payloadBounds, i / 2, random, bigEndian: true, out how);
                bytes = Gzip(mutated);
                if (random.Next(2) == 0 && mutated.Length >= 4)
                {
                    long claimed = ClaimedIdxLength(mutated);
                    BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4), (uint)claimed);
                    how += $", ISIZE patched to {(uint)claimed}";
                }

                how = "payload: " + how;
            }

            File.WriteAllBytes(path, bytes);
            if (payload == labels)
            {
                outcomes.Check(how, bytes.Length, () => Idx.ReadLabels(path));
            }
            else
            {
                outcomes.Check(how, bytes.Length, () => Idx.Read<float>(path));
                if (i % 4 == 1)
                {
                    outcomes.Check(how, bytes.Length, () => Idx.OpenStreaming<float>(path, goodLabels, classes: 10).ToDataSet());
                }
            }
        }

        outcomes.Verify(minimumLoaded: 50, minimumRejected: 500);
    }

    [Fact]
    public void Csv_files_load_or_fail_cleanly_within_the_allocation_bound()
    {
        var text = new StringBuilder("width,\"height\",weight,label\n");
        for (int i = 0; i < 24; i++)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"{i * 0.5},{-i}e-2, {i % 5} ,{(i % 3 == 0 ? "cat" : i % 3 == 1 ? "dog" : "\"bird\"")}\n");
        }

        var textual = Encoding.UTF8.GetBytes(text.ToString());
        var numeric = Encoding.UTF8.GetBytes(text.ToString().Replace("\"bird\"", "2").Replace("cat", "0").Replace("dog", "1"));
        var random = new Random(13);
        string path = _dir.File("fuzz.csv");
        var outcomes = new Outcomes();
        var options = new[]
        {
            new CsvOptions { LabelColumn = "label" },
            new CsvOptions { LabelColumnIndex = -1, ClassNames = ["bird", "cat", "dog"] },
            new CsvOptions { LabelColumnIndex = -1, Classes = 3 },
            new CsvOptions { LabelColumn = "label", Regression = true },
            new CsvOptions { HasHeader = false, SkipLines = 1, LabelColumnIndex = 0 },
            new CsvOptions { LabelColumn = "label", MaxLineLength = 40 },
        };
        for (int i = 0; i < Cases; i++)
        {
            var source = i % 2 == 0 ? textual : numeric;
            var bounds = Enumerable.Range(0, source.Length).Where(k => source[k] is (byte)',' or (byte)'\n').SelectMany(k => new[] { k, k + 1 }).Prepend(0).ToArray();
            var bytes = Mutator.MutateText(source, bounds, i / 2, random, out string how);
            if (i % 5 == 1 && bytes.Length > 0)
            {
                // A byte that is not UTF-8 on its own (refused, then located by re-reading the file).
                int at = random.Next(bytes.Length);
                bytes[at] = (byte)random.Next(0x80, 0x100);
                how += $", byte {at} set to 0x{bytes[at]:X2}";
            }

            if (i % 10 is 4 or 9)
            {
                // Other line ends, without drawing from the random stream: a lone CR (classic Mac OS) or CRLF.
                byte[] ending = i % 10 == 9 ? [(byte)'\r'] : [(byte)'\r', (byte)'\n'];
                bytes = bytes.SelectMany(b => b == (byte)'\n' ? ending : [b]).ToArray();
                how += i % 10 == 9 ? ", LF → CR" : ", LF → CRLF";
            }

            if (i % 6 == 3)
            {
                bytes = [0xEF, 0xBB, 0xBF, .. bytes];
                how += ", after a UTF-8 byte-order mark";
            }
            if (i % 8 == 7)
            {
                bytes = Gzip(bytes);
                if (random.Next(2) == 0)
                {
                    bytes = Mutator.Mutate(bytes, [0, 10, bytes.Length - 8, bytes.Length - 4, bytes.Length], i, random, bigEndian: false, out string gzHow);
                    how += ", gzip then " + gzHow;
                }
                else
                {
                    how += ", gzip";
                }
            }

            File.WriteAllBytes(path, bytes);
            var o = options[i % options.Length];
            outcomes.Check(how, bytes.Length, () => Csv.Load<float>(path, o));
            if (i % 4 == 0)
            {
                outcomes.Check(how, bytes.Length, () => Csv.OpenStreaming<double>(path, o).ToDataSet());
            }
        }

        // 187 load: a file cut inside a quoted cell ("bird) is refused (no closing quote) rather than read as a class '"bird'.
        outcomes.Verify(minimumLoaded: 170, minimumRejected: 500);
    }

    [Fact]
    public void Row_files_load_or_fail_cleanly_within_the_allocation_bound()
    {
        string good = _dir.File("good.bin");
        BinaryRowFile.Write(good, TestData.Numbered<float>(20, 3, 3));
        var rows = File.ReadAllBytes(good);
        BinaryRowFile.Write(good, TestData.Numbered<double>(9, 2, classes: 0));
        var regression = File.ReadAllBytes(good);
        var random = new Random(14);
        string path = _dir.File("fuzz.bin");
        var outcomes = new Outcomes();
        for (int i = 0; i < Cases; i++)
        {
            var source = i % 3 == 2 ? regression : rows;
            int rowBytes = source == rows ? 6 * 4 : 3 * 8;
            int[] bounds = [0, 4, 6, 7, 8, 12, 16, 24, 28, 32, 32 + rowBytes, source.Length - rowBytes, source.Length];
            var bytes = Mutator.Mutate(source, bounds, i, random, bigEndian: false, out string how);
            File.WriteAllBytes(path, bytes);
            outcomes.Check(how, bytes.Length, () => BinaryRowFile.ReadAll<float>(path));
            StreamingDataSource<float>? opened = null;
            outcomes.Check(how, bytes.Length, () => opened = BinaryRowFile.Open<float>(path, bufferRows: 16, chunkRows: 4));
            if (opened is { Features: <= 64, Targets: <= 64 } source2)
            {
                // Batch buffers come from the test, outside the measured reads.
                var bx = new Tensor<float>(8, source2.Features);
                var by = new Tensor<float>(8, source2.Targets);
                outcomes.Check(how, bytes.Length, () =>
                {
                    using var epoch = source2.OpenEpoch(8, new RandomSource(i));
                    int total = 0;
                    for (int r; (r = epoch.Next(bx, by)) > 0;)
                    {
                        total += r;
                    }

                    return total;
                });
            }
        }

        outcomes.Verify(minimumLoaded: 100, minimumRejected: 500);
    }

    private static (byte[] Images, byte[] Labels) IdxFixture()
    {
        // 12 images of 5×6 bytes and their 12 labels in 0..9.
        var images = new byte[16 + (12 * 30)];
        images[2] = 0x08;
        images[3] = 3;
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), 12);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(8), 5);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(12), 6);
        for (int k = 16; k < images.Length; k++)
        {
            images[k] = (byte)(k * 37);
        }

        var labels = new byte[8 + 12];
        labels[2] = 0x08;
        labels[3] = 1;
        BinaryPrimitives.WriteInt32BigEndian(labels.AsSpan(4), 12);
        for (int k = 0; k < 12; k++)
        {
            labels[8 + k] = (byte)(k % 10);
        }

        return (images, labels);
    }

    /// <summary>The total length an IDX header claims (header + data), clamped to what a uint can say.</summary>
    private static long ClaimedIdxLength(byte[] b)
    {
        int rank = b[3];
        long total = 4 + (4L * rank);
        long elements = 1;
        for (int d = 0; d < rank && 8 + (4 * d) <= b.Length; d++)
        {
            elements = Math.Min(uint.MaxValue, elements * Math.Max(0, BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(4 + (4 * d)))));
        }

        int size = b[2] switch { 0x0B => 2, 0x0C or 0x0D => 4, 0x0E => 8, _ => 1 };
        return total + (elements * size);
    }

    // Two gzip members split at 'cut' (as bgzip or 'cat a.gz b.gz' write): the size trailer covers only the second.
    private static byte[] GzipMembers(byte[] data, int cut) => [.. Gzip(data[..cut]), .. Gzip(data[cut..])];

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var z = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(data);
        }

        return output.ToArray();
    }

    /// <summary>Counts outcomes and checks each case: only InvalidDataException may escape, allocation bounded.</summary>
    private sealed class Outcomes
    {
        private int _loaded;
        private int _rejected;

        public void Check<TResult>(string how, int fileBytes, Func<TResult> read)
        {
            long limit = (4L * fileBytes) + (1 << 20);
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                read();
                _loaded++;
            }
            catch (InvalidDataException)
            {
                _rejected++;
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException($"mutation [{how}] escaped as {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (allocated > limit)
            {
                throw new Xunit.Sdk.XunitException($"mutation [{how}] allocated {allocated} bytes for a {fileBytes}-byte file; the bound is {limit}");
            }
        }

        public void Verify(int minimumLoaded, int minimumRejected)
        {
            // Both outcomes must be common, or the mutations are not exercising the readers.
            _loaded.Should().BeGreaterThanOrEqualTo(minimumLoaded);
            _rejected.Should().BeGreaterThanOrEqualTo(minimumRejected);
        }
    }
}

/// <summary>Seeded mutations of a file's bytes.</summary>
internal static class Mutator
{
    private static readonly long[] _lies = [0, 1, 2, 3, -1, 255, 256, 65536, 1 << 20, 1 << 28, 1 << 30, int.MaxValue, int.MinValue, 0x7FFFFFC7, uint.MaxValue, long.MaxValue];

    private static readonly string[] _cells = ["5000000", "2147483647", "-1", "0.5", "1e308", "NaN", "-0", "∞", "\"", "", " ", "x", "99", ",,", "\n", "\r\n", "\"a,b\"", "1e-400", "0x1F", "ÿ"];

    /// <summary>
    /// Case k &lt; 2·bounds.Length truncates at bounds[k / 2] (or one byte before it), so every section boundary is
    /// covered; later cases draw a mutation at random.
    /// </summary>
    public static byte[] Mutate(byte[] original, int[] bounds, int k, Random random, bool bigEndian, out string how)
    {
        if (k < 2 * bounds.Length)
        {
            int at = Math.Clamp(bounds[k / 2] - (k % 2), 0, original.Length);
            how = $"truncated to {at} bytes";
            return original[..at];
        }

        var bytes = (byte[])original.Clone();
        var steps = new List<string>();
        int count = random.Next(4) == 0 ? 2 : 1;
        for (int s = 0; s < count; s++)
        {
            switch (random.Next(6))
            {
                case 0:
                    for (int f = random.Next(1, 4); f > 0 && bytes.Length > 0; f--)
                    {
                        int at = random.Next(bytes.Length);
                        int bit = random.Next(8);
                        bytes[at] ^= (byte)(1 << bit);
                        steps.Add($"bit {bit} of byte {at} flipped");
                    }

                    break;
                case 1:
                    for (int f = random.Next(1, 4); f > 0 && bytes.Length > 0; f--)
                    {
                        int at = random.Next(bytes.Length);
                        byte v = random.Next(3) switch { 0 => 0, 1 => 0xFF, _ => (byte)random.Next(256) };
                        bytes[at] = v;
                        steps.Add($"byte {at} set to {v}");
                    }

                    break;
                case 2:
                    {
                        int at = random.Next(bytes.Length + 1);
                        bytes = bytes[..at];
                        steps.Add($"truncated to {at}");
                        break;
                    }

                case 3:
                case 4:
                    {
                        // A lying length or dimension: a 32-bit field at a boundary (or anywhere) set to an extreme value.
                        int at = random.Next(2) == 0 ? bounds[random.Next(bounds.Length)] : random.Next(Math.Max(1, bytes.Length));
                        long lie = _lies[random.Next(_lies.Length)];
                        int width = lie is > uint.MaxValue or < int.MinValue || random.Next(4) == 0 ? 8 : 4;
                        if (at + width <= bytes.Length)
                        {
                            if (width == 8)
                            {
                                if (bigEndian)
                                {
                                    BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(at), lie);
                                }
                                else
                                {
                                    BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(at), lie);
                                }
                            }
                            else if (bigEndian)
                            {
                                BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(at), unchecked((uint)lie));
                            }
                            else
                            {
                                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), unchecked((uint)lie));
                            }

                            steps.Add($"{width * 8}-bit field at {at} set to {lie}");
                        }

                        break;
                    }

                default:
                    {
                        var extra = new byte[random.Next(1, 40)];
                        random.NextBytes(extra);
                        bytes = [.. bytes, .. extra];
                        steps.Add($"{extra.Length} bytes appended");
                        break;
                    }
            }
        }

        how = string.Join(", ", steps);
        return bytes;
    }

    /// <summary>Text mutations: everything <see cref="Mutate"/> does, plus cells replaced by hostile values.</summary>
    public static byte[] MutateText(byte[] original, int[] bounds, int k, Random random, out string how)
    {
        if (k < 2 * bounds.Length || random.Next(2) == 0)
        {
            return Mutate(original, bounds, k, random, bigEndian: false, out how);
        }

        var text = Encoding.UTF8.GetString(original);
        var steps = new List<string>();
        for (int r = random.Next(1, 4); r > 0; r--)
        {
            int at = random.Next(text.Length);
            int start = text.LastIndexOfAny([',', '\n'], Math.Max(0, at - 1)) + 1;
            int end = text.IndexOfAny([',', '\n'], at);
            end = end < 0 ? text.Length : end;
            if (end < start)
            {
                continue;
            }

            string cell = _cells[random.Next(_cells.Length)];
            text = string.Concat(text.AsSpan(0, start), cell, text.AsSpan(end));
            steps.Add($"cell at {start} replaced by '{cell.Replace("\n", "\\n").Replace("\r", "\\r")}'");
        }

        how = string.Join(", ", steps);
        return Encoding.UTF8.GetBytes(text);
    }
}
