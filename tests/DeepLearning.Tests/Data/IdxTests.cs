using System.Buffers.Binary;

namespace DeepLearning.Tests.Data;

public sealed class IdxTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Images_and_labels_round_trip_raw_and_gzip(bool gzip)
    {
        var (images, labels) = WriteImages(37, 4, 5, gzip);
        var header = Idx.ReadHeader(images);
        header.Dimensions.Should().Equal(37, 4, 5);
        header.ElementType.Should().Be(IdxElementType.UInt8);
        header.Compressed.Should().Be(gzip);

        var d = Idx.Load<float>(images, labels, classes: 10, scale: 1.0 / 255);
        d.Count.Should().Be(37);
        d.Features.Should().Be(20);
        d.Targets.Should().Be(10);
        for (int i = 0; i < 37; i++)
        {
            d.Labels![i].Should().Be(i % 10);
            for (int j = 0; j < 20; j++)
            {
                d.X[i, j].Should().Be((float)(Pixel(i, j) * (1.0 / 255)));
            }
        }
    }

    [Fact]
    public void Float_and_int_element_types_round_trip()
    {
        var t = Tensor.FromArray(new double[,] { { 1.5, -2.25 }, { 1e10, -0.0 } });
        Idx.Write(_dir.File("f64.idx"), t, IdxElementType.Double);
        Idx.Read<double>(_dir.File("f64.idx")).Should().Be(t);
        var ints = Tensor.FromArray(new double[,] { { -3, 300 }, { 70000, 0 } });
        Idx.Write(_dir.File("i32.idx.gz"), ints, IdxElementType.Int32, gzip: true);
        Idx.Read<float>(_dir.File("i32.idx.gz")).ToArray2D().Should().BeEquivalentTo(new float[,] { { -3, 300 }, { 70000, 0 } });
        FluentActions.Invoking(() => Idx.Write(_dir.File("bad.idx"), ints, IdxElementType.UInt8))
            .Should().Throw<ArgumentException>().WithMessage("*element 0 is -3*");
    }

    [Fact]
    public void A_value_that_overflows_the_element_type_and_a_non_finite_scale_are_refused()
    {
        // A double 1e300 read as float came back as ∞ (the CSV reader refuses such a cell), and scale NaN made every
        // input NaN, which Fit then reported as bad data in the file.
        var t = Tensor.FromArray(new double[,] { { 1.5, 1e300 } });
        string f64 = _dir.File("big.idx");
        Idx.Write(f64, t, IdxElementType.Double);
        Idx.Read<double>(f64).Should().Be(t);
        FluentActions.Invoking(() => Idx.Read<float>(f64)).Should().Throw<InvalidDataException>()
            .WithMessage($"*{Path.GetFileName(f64)}*holds 1E+300, which times scale 1 overflows Single*");

        var (images, labels) = WriteImages(4, 2, 2, gzip: false);
        FluentActions.Invoking(() => Idx.Read<float>(images, scale: 1e37)).Should().Throw<InvalidDataException>().WithMessage("*times scale 1E+37 overflows Single*");
        FluentActions.Invoking(() => Idx.Read<float>(images, scale: double.NaN)).Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("scale must be finite; received NaN*").Which.ParamName.Should().Be("scale");
        FluentActions.Invoking(() => Idx.Load<float>(images, labels, classes: 10, scale: double.PositiveInfinity)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("scale");
        FluentActions.Invoking(() => Idx.OpenStreaming<float>(images, labels, classes: 10, scale: double.NaN)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("scale");
        Idx.Read<double>(images, scale: 1e37).ReadOnlySpan.ToArray().Should().OnlyContain(v => double.IsFinite(v));
    }

    [Fact]
    public void A_truncated_raw_file_is_a_clear_error()
    {
        var (images, _) = WriteImages(10, 3, 3, gzip: false);
        var bytes = File.ReadAllBytes(images);
        File.WriteAllBytes(images, bytes[..^5]);
        FluentActions.Invoking(() => Idx.Read<float>(images)).Should().Throw<InvalidDataException>()
            .WithMessage($"*{Path.GetFileName(images)}*{bytes.Length - 5} bytes*needs exactly {bytes.Length}*truncated*");
    }

    [Fact]
    public void A_truncated_gzip_file_is_a_clear_error()
    {
        // Compress an IDX whose header promises more rows than the data holds: the gzip stream is intact.
        var raw = new byte[16 + 50];
        raw[2] = 0x08;
        raw[3] = 3;
        BinaryPrimitives.WriteInt32BigEndian(raw.AsSpan(4), 10);
        BinaryPrimitives.WriteInt32BigEndian(raw.AsSpan(8), 3);
        BinaryPrimitives.WriteInt32BigEndian(raw.AsSpan(12), 3);
        string path = _dir.File("short.idx.gz");
        using (var f = File.Create(path))
        using (var z = new System.IO.Compression.GZipStream(f, System.IO.Compression.CompressionLevel.Fastest))
        {
            z.Write(raw);
        }

        FluentActions.Invoking(() => Idx.Read<float>(path)).Should().Throw<InvalidDataException>()
            .WithMessage("*short.idx.gz*needs 106 bytes*decompresses to 66 bytes*truncated*");

        // Cut the compressed file itself: the trailer is gone too, and reading fails with the file named.
        var (images, _) = WriteImages(40, 8, 8, gzip: true);
        var bytes = File.ReadAllBytes(images);
        File.WriteAllBytes(images, bytes[..(bytes.Length / 2)]);
        FluentActions.Invoking(() => Idx.Read<float>(images)).Should().Throw<InvalidDataException>()
            .WithMessage($"*{Path.GetFileName(images)}*");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(500)]
    public void A_gzip_file_of_several_members_reads_like_the_raw_file(int cut)
    {
        // bgzip, pigz -i and 'cat a.gz b.gz' write several gzip members; the size trailer covers only the last one,
        // so it disagrees with the header honestly. Split the raw file at 'cut' and at its middle into three members.
        var (rawImages, rawLabels) = WriteImages(40, 4, 5, gzip: false);
        string images = _dir.File("multi-images.idx.gz");
        string labels = _dir.File("multi-labels.idx.gz");
        File.WriteAllBytes(images, Members(File.ReadAllBytes(rawImages), cut));
        File.WriteAllBytes(labels, Members(File.ReadAllBytes(rawLabels), Math.Min(cut, 30)));

        Idx.ReadHeader(images).Dimensions.Should().Equal(40, 4, 5);
        Idx.Read<double>(images).ToArray().Should().Equal(Idx.Read<double>(rawImages).ToArray());
        Idx.ReadLabels(labels).Should().Equal(Idx.ReadLabels(rawLabels));
        var streamed = Idx.OpenStreaming<double>(images, labels, classes: 10).ToDataSet();
        streamed.X.ToArray().Should().Equal(Idx.Load<double>(rawImages, rawLabels, classes: 10).X.ToArray());

        // A member cut short is still refused with the true decompressed length.
        var bytes = Members(File.ReadAllBytes(rawImages)[..^20], cut);
        File.WriteAllBytes(images, bytes);
        FluentActions.Invoking(() => Idx.Read<float>(images)).Should().Throw<InvalidDataException>()
            .WithMessage($"*multi-images.idx.gz*needs {16 + 800} bytes*decompresses to {16 + 780} bytes*truncated*");
    }

    private static byte[] Members(byte[] raw, int cut)
    {
        int middle = Math.Max(cut, raw.Length / 2);
        using var all = new MemoryStream();
        foreach (var (from, to) in new[] { (0, cut), (cut, middle), (middle, raw.Length) })
        {
            using var z = new System.IO.Compression.GZipStream(all, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true);
            z.Write(raw, from, to - from);
        }

        return all.ToArray();
    }

    [Fact]
    public void Wrong_magic_and_trailing_bytes_are_clear_errors()
    {
        string path = _dir.File("not.idx");
        File.WriteAllBytes(path, [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 9]);
        FluentActions.Invoking(() => Idx.Read<float>(path)).Should().Throw<InvalidDataException>()
            .WithMessage("*not.idx*not an IDX file*12345678*");

        var (images, _) = WriteImages(4, 2, 2, gzip: false);
        File.AppendAllText(images, "xyz");
        FluentActions.Invoking(() => Idx.Read<float>(images)).Should().Throw<InvalidDataException>().WithMessage("*trailing bytes*");

        FluentActions.Invoking(() => Idx.Read<float>(_dir.File("missing.idx"))).Should().Throw<FileNotFoundException>().WithMessage("*missing.idx*");
    }

    [Fact]
    public void Labels_and_images_must_agree()
    {
        var (images, _) = WriteImages(5, 2, 2, gzip: false);
        Idx.WriteLabels(_dir.File("l4"), [0, 1, 2, 3]);
        FluentActions.Invoking(() => Idx.Load<float>(images, _dir.File("l4"))).Should().Throw<InvalidDataException>().WithMessage("*5 examples*4 labels*");
        Idx.WriteLabels(_dir.File("l5"), [0, 1, 2, 3, 9]);
        FluentActions.Invoking(() => Idx.Load<float>(images, _dir.File("l5"), classes: 5)).Should().Throw<InvalidDataException>().WithMessage("*label 9 (example 4)*[0, 5)*");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Streaming_yields_every_row_once_per_epoch_with_a_small_buffer(bool gzip)
    {
        int m = 203;
        var (images, labels) = WriteImages(m, 2, 3, gzip, idInFirstPixel: true);
        var source = Idx.OpenStreaming<float>(images, labels, classes: 10, bufferRows: 16, chunkRows: 10);
        source.Count.Should().Be(m);
        source.Features.Should().Be(6);
        source.Targets.Should().Be(10);
        var random = new RandomSource(3);
        var (first, batches) = TestData.ReadEpoch(source, 32, random);
        var (second, _) = TestData.ReadEpoch(source, 32, random);
        first.Order().Should().Equal(Enumerable.Range(0, m));
        second.Order().Should().Equal(Enumerable.Range(0, m));
        second.Should().NotEqual(first);
        batches.Sum().Should().Be(m);
        TestData.ReadEpoch(source, 32, null).Ids.Should().Equal(Enumerable.Range(0, m));

        // Targets stay with their rows: label = id % 10.
        var all = source.ToDataSet();
        for (int i = 0; i < m; i++)
        {
            all.Labels![i].Should().Be(i % 10);
        }
    }

    [Fact]
    public void A_12_byte_header_declaring_0_by_2_pow_30_allocates_nothing_from_the_claim()
    {
        // Issue 11.4: dimensions [0, 2³⁰] made even ReadHeader allocate 1 GiB.
        string path = _dir.File("empty-wide.idx");
        File.WriteAllBytes(path, IdxHeaderBytes(0x08, 0, 1 << 30));
        long before = GC.GetAllocatedBytesForCurrentThread();
        Idx.ReadHeader(path).Dimensions.Should().Equal(0, 1 << 30);
        var t = Idx.Read<float>(path);
        (t.RowCount, t.RowLength).Should().Be((0, 1 << 30));
        string labels = _dir.File("no-labels.idx");
        Idx.WriteLabels(labels, []);
        var source = Idx.OpenStreaming<float>(path, labels, classes: 2);
        source.OpenEpoch(8, new RandomSource(1)).Dispose();
        source.ToDataSet().Count.Should().Be(0);
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(2147483600)]
    public void A_header_of_2_pow_31_examples_of_0_elements_reads_as_an_empty_tensor(int count)
    {
        // The tensor's shape check used to pass Array.MaxLength before it reached the 0: ArgumentException.
        string path = _dir.File("zero-width.idx");
        File.WriteAllBytes(path, IdxHeaderBytes(0x08, count, 0));
        Idx.ReadHeader(path).Dimensions.Should().Equal(count, 0);
        var t = Idx.Read<float>(path);
        t.Shape.Should().Equal(count, 0);
        t.Length.Should().Be(0);
    }

    [Fact]
    public void Writing_dimensions_whose_product_wraps_is_refused_before_the_target_is_touched()
    {
        // 65536⁴ = 2⁶⁴ wrapped to 0, matched the empty tensor, and replaced the target with an unreadable file.
        string path = _dir.File("kept.idx");
        Idx.Write(path, Tensor.FromArray(new double[] { 1, 2, 3 }));
        var before = File.ReadAllBytes(path);
        FluentActions.Invoking(() => Idx.Write(path, new Tensor<float>(0), dimensions: [65536, 65536, 65536, 65536]))
            .Should().Throw<ArgumentException>().WithMessage("dimensions (65536, 65536, 65536, 65536) make more than 2147483591 elements per example*");
        FluentActions.Invoking(() => Idx.Write(path, new Tensor<float>(0), dimensions: [0, 65536, 65536]))
            .Should().Throw<ArgumentException>().WithMessage("dimensions (0, 65536, 65536) make more than 2147483591 elements per example*");
        FluentActions.Invoking(() => Idx.Write(path, new Tensor<float>(6), dimensions: [2, 2]))
            .Should().Throw<ArgumentException>().WithMessage("dimensions (2, 2) hold 4 elements, not the tensor's 6*");
        FluentActions.Invoking(() => Idx.Write(path, new Tensor<float>(0), dimensions: [2, -1]))
            .Should().Throw<ArgumentException>().WithMessage("dimensions (2, -1) must be 1 to 255 non-negative sizes*");
        File.ReadAllBytes(path).Should().Equal(before);

        // An empty tensor with a readable header still writes and reads back.
        Idx.Write(path, new Tensor<float>(0), dimensions: [int.MaxValue, 0]);
        Idx.Read<float>(path).Shape.Should().Equal(int.MaxValue, 0);
    }

    [Fact]
    public void Dimension_products_that_overflow_are_named()
    {
        string path = _dir.File("huge.idx");
        File.WriteAllBytes(path, IdxHeaderBytes(0x0E, 1, 65536, 65536, 65536));
        FluentActions.Invoking(() => Idx.ReadHeader(path)).Should().Throw<InvalidDataException>()
            .WithMessage("*huge.idx*dimension 2 is 65536*elements per example*");
        File.WriteAllBytes(path, IdxHeaderBytes(0x0E, int.MaxValue, int.MaxValue, int.MaxValue, int.MaxValue, int.MaxValue));
        FluentActions.Invoking(() => Idx.Read<float>(path)).Should().Throw<InvalidDataException>().WithMessage("*huge.idx*dimension 1 is 2147483647*");
        File.WriteAllBytes(path, IdxHeaderBytes(0x0E, int.MaxValue, 1 << 30));
        FluentActions.Invoking(() => Idx.Read<float>(path)).Should().Throw<InvalidDataException>().WithMessage("*huge.idx*dimension 0 is 2147483647 examples*");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_lying_gzip_size_trailer_allocates_nothing_before_the_data_arrives(bool labels)
    {
        // Issue 11.4: a patched ISIZE made ReadLabels allocate 512 MB–8 GB before reading any data. Here the header
        // claims 2²⁹ labels (or 2²⁰ images of 28×28) and the trailer is patched to agree; only 10 data bytes exist.
        byte[] header = labels ? IdxHeaderBytes(0x08, 1 << 29) : IdxHeaderBytes(0x08, 1 << 20, 28, 28);
        long claimed = header.Length + (labels ? 1L << 29 : (1L << 20) * 784);
        string path = _dir.File("liar.idx.gz");
        using (var f = File.Create(path))
        using (var z = new System.IO.Compression.GZipStream(f, System.IO.Compression.CompressionLevel.Fastest))
        {
            z.Write(header);
            z.Write(new byte[10]);
        }

        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4), (uint)claimed);
        File.WriteAllBytes(path, bytes);

        long before = GC.GetAllocatedBytesForCurrentThread();
        Action read = labels ? () => Idx.ReadLabels(path) : () => Idx.Read<double>(path);
        FluentActions.Invoking(read).Should().Throw<InvalidDataException>().WithMessage("*liar.idx.gz*");
        if (labels)
        {
            FluentActions.Invoking(() => Idx.OpenStreaming<float>(path, path, classes: 2)).Should().Throw<InvalidDataException>().WithMessage("*liar.idx.gz*");
        }

        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
    }

    [Fact]
    public void A_gzip_file_whose_true_size_trailer_agrees_mod_2_pow_32_with_a_lying_header_is_caught_when_read()
    {
        // The header claims 2¹⁵ × 2¹⁵ int32 elements = 2³² data bytes; the file holds none, so its honest ISIZE (12)
        // equals the claim mod 2³². Nothing may be allocated for the 4 GiB claimed.
        string path = _dir.File("wrap.idx.gz");
        using (var f = File.Create(path))
        using (var z = new System.IO.Compression.GZipStream(f, System.IO.Compression.CompressionLevel.Fastest))
        {
            z.Write(IdxHeaderBytes(0x0C, 1 << 15, 1 << 15));
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        Idx.ReadHeader(path).Dimensions.Should().Equal(1 << 15, 1 << 15);
        FluentActions.Invoking(() => Idx.Read<float>(path)).Should().Throw<InvalidDataException>()
            .WithMessage("*wrap.idx.gz*truncated*needs 4294967296 data bytes but only 0 are present*");
        FluentActions.Invoking(() => Idx.OpenStreaming<float>(path, path, 2)).Should().Throw<InvalidDataException>().WithMessage("*wrap.idx.gz*truncated*");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
    }

    [Fact]
    public void A_gzip_file_that_decompresses_to_more_than_its_header_declares_is_an_error()
    {
        string path = _dir.File("long.idx.gz");
        using (var f = File.Create(path))
        using (var z = new System.IO.Compression.GZipStream(f, System.IO.Compression.CompressionLevel.Fastest))
        {
            z.Write(IdxHeaderBytes(0x08, 3));
            z.Write(new byte[7]);
        }

        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4), 8 + 3);
        File.WriteAllBytes(path, bytes);
        FluentActions.Invoking(() => Idx.ReadLabels(path)).Should().Throw<InvalidDataException>().WithMessage("*long.idx.gz*more data than its header*");
    }

    [Fact]
    public void Inferring_classes_from_a_huge_label_is_refused()
    {
        var (images, _) = WriteImages(3, 1, 1, gzip: false);
        string labels = _dir.File("int-labels.idx");
        Idx.Write(labels, Tensor.FromArray(new double[] { 0, 1, int.MaxValue }), IdxElementType.Int32);
        FluentActions.Invoking(() => Idx.Load<float>(images, labels)).Should().Throw<InvalidDataException>()
            .WithMessage("*int-labels.idx*label 2147483647 (example 2)*2147483648 classes*pass the number of classes*");
    }

    internal static byte[] IdxHeaderBytes(byte type, params int[] dims)
    {
        var b = new byte[4 + (4 * dims.Length)];
        b[2] = type;
        b[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(4 + (4 * i)), dims[i]);
        }

        return b;
    }

    private static int Pixel(int i, int j) => ((i * 31) + (j * 7)) % 256;

    private (string Images, string Labels) WriteImages(int m, int h, int w, bool gzip, bool idInFirstPixel = false)
    {
        var t = new Tensor<double>(m, h * w);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < h * w; j++)
            {
                t[i, j] = idInFirstPixel && j == 0 ? i % 256 : Pixel(i, j);
            }
        }

        if (idInFirstPixel && m > 256)
        {
            throw new ArgumentException("ids must fit a byte");
        }

        string suffix = gzip ? ".gz" : string.Empty;
        string images = _dir.File($"images-{m}-{h}x{w}{suffix}");
        string labels = _dir.File($"labels-{m}{suffix}");
        Idx.Write(images, t, IdxElementType.UInt8, gzip, [m, h, w]);
        Idx.WriteLabels(labels, Enumerable.Range(0, m).Select(i => i % 10).ToArray(), gzip);
        return (images, labels);
    }
}
