
namespace DeepLearning.Tests.Data;

public sealed class BinaryRowFileTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Write_and_ReadAll_round_trip_in_both_element_types()
    {
        var d = TestData.Numbered<float>(40, 5, 3);
        string path = _dir.File("rows.bin");
        BinaryRowFile.Write(path, d);
        var info = BinaryRowFile.ReadInfo(path);
        info.Should().Be(new BinaryRowFileInfo(5, 3, 40, 3, 4));
        new FileInfo(path).Length.Should().Be(32 + (40 * 8 * 4));

        var back = BinaryRowFile.ReadAll<float>(path);
        back.X.Should().Be(d.X);
        back.Y.Should().Be(d.Y);
        back.Labels.Should().Equal(d.Labels!);
        var wide = BinaryRowFile.ReadAll<double>(path);
        wide.X[7, 2].Should().Be((double)d.X[7, 2]);

        var r = TestData.Numbered<double>(9, 2, classes: 0);
        BinaryRowFile.Write(_dir.File("reg.bin"), r);
        var rb = BinaryRowFile.ReadAll<double>(_dir.File("reg.bin"));
        rb.Y.Should().Be(r.Y);
        rb.Labels.Should().BeNull();
    }

    [Fact]
    public void Writing_is_atomic()
    {
        string path = _dir.File("rows.bin");
        BinaryRowFile.Write(path, TestData.Numbered<float>(10));
        using (var writer = BinaryRowFile.Create<float>(path, 3, 3, 3))
        {
            writer.Append(TestData.Numbered<float>(4));

            // Not completed: the previous file is untouched and the temporary file is removed on dispose.
        }

        BinaryRowFile.ReadInfo(path).Count.Should().Be(10);
        Directory.GetFiles(_dir.Path).Should().ContainSingle();
    }

    [Theory]
    [InlineData(1000, 64, 16, 50)]
    [InlineData(1000, 2000, 256, 64)]
    [InlineData(7, 3, 2, 4)]
    public void Streaming_yields_every_row_exactly_once_per_epoch(int m, int bufferRows, int chunkRows, int batchSize)
    {
        var d = TestData.Numbered<float>(m, 4, 5);
        string path = _dir.File("rows.bin");
        BinaryRowFile.Write(path, d);
        var source = BinaryRowFile.Open<float>(path, bufferRows, chunkRows);
        source.Count.Should().Be(m);
        var random = new RandomSource(11);
        var epochs = Enumerable.Range(0, 3).Select(_ => TestData.ReadEpoch(source, batchSize, random)).ToList();
        foreach (var (ids, batches) in epochs)
        {
            ids.Order().Should().Equal(Enumerable.Range(0, m));
            batches.Take(batches.Count - 1).Should().AllSatisfy(b => b.Should().Be(batchSize));
        }

        if (m > 10)
        {
            epochs[1].Ids.Should().NotEqual(epochs[0].Ids);
            epochs[0].Ids.Should().NotEqual(Enumerable.Range(0, m));
        }

        TestData.ReadEpoch(source, batchSize, null).Ids.Should().Equal(Enumerable.Range(0, m));
        TestData.ReadEpoch(source, batchSize, new RandomSource(11)).Ids.Should().Equal(epochs[0].Ids, "same seed, same order");
    }

    [Fact]
    public void A_small_buffer_still_mixes_the_whole_file()
    {
        // With blocks visited in random order, the first batch should not all come from the start of the file.
        int m = 10000;
        BinaryRowFile.Write(_dir.File("rows.bin"), TestData.Numbered<float>(m, 1, 2));
        var source = BinaryRowFile.Open<float>(_dir.File("rows.bin"), bufferRows: 100, chunkRows: 50);
        var (ids, _) = TestData.ReadEpoch(source, 100, new RandomSource(5));
        ids.Take(100).Max().Should().BeGreaterThan(200);
        ids.Order().Should().Equal(Enumerable.Range(0, m));
    }

    [Fact]
    public void Targets_stay_with_their_rows_when_streamed()
    {
        var d = TestData.Numbered<double>(300, 3, 4);
        BinaryRowFile.Write(_dir.File("rows.bin"), d);
        var source = BinaryRowFile.Open<double>(_dir.File("rows.bin"), 32, 8);
        var x = new Tensor<double>(20, 3);
        var y = new Tensor<double>(20, 4);
        using var reader = source.OpenEpoch(20, new RandomSource(1));
        int r;
        while ((r = reader.Next(x, y)) > 0)
        {
            for (int i = 0; i < r; i++)
            {
                int id = (int)x[i, 0];
                x.Row(i).ToArray().Should().Equal(d.X.Row(id).ToArray());
                y.Row(i).ToArray().Should().Equal(d.Y.Row(id).ToArray());
            }
        }
    }

    [Fact]
    public void Streaming_Next_does_not_allocate_once_warm()
    {
        BinaryRowFile.Write(_dir.File("rows.bin"), TestData.Numbered<float>(20000, 16, 10));
        var source = BinaryRowFile.Open<float>(_dir.File("rows.bin"), bufferRows: 256, chunkRows: 32);
        var x = new Tensor<float>(64, 16);
        var y = new Tensor<float>(64, 10);
        using var shuffled = source.OpenEpoch(64, new RandomSource(3));
        using var ordered = source.OpenEpoch(64, null);
        TestData.AllocatedBy(() => shuffled.Next(x, y), warmUp: 5).Should().Be(0);
        TestData.AllocatedBy(() => ordered.Next(x, y), warmUp: 5).Should().Be(0);
    }

    [Fact]
    public void Corrupt_files_are_clear_errors()
    {
        string path = _dir.File("rows.bin");
        BinaryRowFile.Write(path, TestData.Numbered<float>(10));
        var bytes = File.ReadAllBytes(path);

        File.WriteAllBytes(path, bytes[..^4]);
        FluentActions.Invoking(() => BinaryRowFile.Open<float>(path)).Should().Throw<InvalidDataException>().WithMessage("*needs exactly*truncated*");

        var wrong = (byte[])bytes.Clone();
        wrong[0] = (byte)'X';
        File.WriteAllBytes(path, wrong);
        FluentActions.Invoking(() => BinaryRowFile.Open<float>(path)).Should().Throw<InvalidDataException>().WithMessage("*not a row file*magic*");

        var version = (byte[])bytes.Clone();
        version[4] = 9;
        File.WriteAllBytes(path, version);
        FluentActions.Invoking(() => BinaryRowFile.Open<float>(path)).Should().Throw<InvalidDataException>().WithMessage("*version 9*");
    }

    [Fact]
    public void Class_rows_the_writer_refuses_are_refused_by_the_reader_naming_the_file_and_row()
    {
        // A file patched (or written elsewhere) to 3 classes with Y rows [0,0,1], [5,−2,0]: read back as class 0 before.
        string path = _dir.File("classes.bin");
        float[] rows = [0.5f, 0, 0, 1, 1.5f, 5, -2, 0];
        var bytes = RowHeader(4, 1, 3, 2, 3).Concat(rows.SelectMany(BitConverter.GetBytes)).ToArray();
        File.WriteAllBytes(path, bytes);
        FluentActions.Invoking(() => BinaryRowFile.ReadAll<float>(path)).Should().Throw<InvalidDataException>()
            .WithMessage($"'{path}': row 1, column 0 of Y holds 5; with 3 classes Y must be one-hot*the file was not written by this library's writer*");
        FluentActions.Invoking(() => BinaryRowFile.ReadAll<double>(path)).Should().Throw<InvalidDataException>().WithMessage("*row 1, column 0 of Y holds 5*");

        // Two classes in one column: 7 is no 0/1 target. A probability row that does not sum to 1 is named too.
        File.WriteAllBytes(path, [.. RowHeader(4, 1, 1, 1, 2), .. BitConverter.GetBytes(0f), .. BitConverter.GetBytes(7f)]);
        FluentActions.Invoking(() => BinaryRowFile.ReadAll<float>(path)).Should().Throw<InvalidDataException>().WithMessage("*row 0, column 0 of Y holds 7; with 2 classes*");
        File.WriteAllBytes(path, [.. RowHeader(4, 1, 2, 1, 2), .. new[] { 0f, 0.25f, 0.25f }.SelectMany(BitConverter.GetBytes)]);
        FluentActions.Invoking(() => BinaryRowFile.ReadAll<float>(path)).Should().Throw<InvalidDataException>().WithMessage("*row 0 of Y sums to 0.5*");

        // What the writer writes reads back, label-smoothed rows and NaN included (training names a NaN row itself).
        var smoothed = DataSet.FromTargets(Tensor.FromRows(new float[][] { [1f], [2f] }), Tensor.FromRows(new float[][] { [0.9f, 0.05f, 0.05f], [float.NaN, 0f, 1f] }));
        BinaryRowFile.Write(path, smoothed);
        BinaryRowFile.ReadAll<float>(path).Y.ReadOnlySpan.ToArray().Should().Equal(0.9f, 0.05f, 0.05f, float.NaN, 0f, 1f);
    }

    [Fact]
    public void A_header_with_no_rows_and_a_huge_feature_count_opens_and_streams_without_allocating_it()
    {
        // Issue 11.5: m = 0 with a huge n_x opened fine, then threw OverflowException or ran out of memory in the
        // first epoch (a row buffer and a shuffle buffer sized by n_x).
        string path = _dir.File("empty.bin");
        File.WriteAllBytes(path, RowHeader(4, 1 << 28, 1, 0, 0));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var source = BinaryRowFile.Open<float>(path);
        source.Features.Should().Be(1 << 28);
        source.OpenEpoch(32, new RandomSource(1)).Dispose();
        source.OpenEpoch(32, null).Dispose();
        source.ToDataSet().Count.Should().Be(0);
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
    }

    [Theory]
    [InlineData(8, int.MaxValue, 1, 0L, "*rows of n_x + C = 2147483647 + 1 elements of 8 bytes*")]
    [InlineData(4, 1 << 29, 1 << 29, 0L, "*rows of n_x + C = 536870912 + 536870912 elements*")]
    [InlineData(4, -3, 1, 0L, "*n_x ≥ 0*received n_x = -3*")]
    [InlineData(4, 2, 1, long.MaxValue, "*m = 9223372036854775807 rows*")]
    [InlineData(4, 2, 1, -1L, "*m = -1 rows*")]
    [InlineData(4, 2, 1, 1L << 40, "*needs exactly*truncated*")]
    public void Header_fields_are_validated_against_each_other_and_the_file_length(int size, int n, int c, long m, string message)
    {
        string path = _dir.File("bad.bin");
        File.WriteAllBytes(path, RowHeader(size, n, c, m, 0));
        FluentActions.Invoking(() => BinaryRowFile.Open<float>(path)).Should().Throw<InvalidDataException>().WithMessage("*bad.bin*" + message);
    }

    [Fact]
    public void Trailing_bytes_and_reserved_bytes_are_errors()
    {
        string path = _dir.File("rows.bin");
        BinaryRowFile.Write(path, TestData.Numbered<float>(3));
        File.AppendAllText(path, "x");
        FluentActions.Invoking(() => BinaryRowFile.ReadInfo(path)).Should().Throw<InvalidDataException>().WithMessage("*needs exactly*");
        BinaryRowFile.Write(path, TestData.Numbered<float>(3));
        var bytes = File.ReadAllBytes(path);
        bytes[30] = 1;
        File.WriteAllBytes(path, bytes);
        FluentActions.Invoking(() => BinaryRowFile.ReadInfo(path)).Should().Throw<InvalidDataException>().WithMessage("*reserved*");
    }

    [Fact]
    public void The_shuffle_buffer_holds_at_most_m_rows()
    {
        // Issue 11.5: a one-row file with wide rows got a shuffle buffer of bufferRows (4,096) rows.
        var x = new Tensor<float>(1, 50_000);
        x[0, 7] = 3;
        string path = _dir.File("one.bin");
        BinaryRowFile.Write(path, DataSet.FromTargets(x, new Tensor<float>(1, 1)));
        var source = BinaryRowFile.Open<float>(path);
        source.BufferRows.Should().Be(4096);
        var bx = new Tensor<float>(4, 50_000);
        var by = new Tensor<float>(4, 1);
        long before = GC.GetAllocatedBytesForCurrentThread();
        using (var epoch = source.OpenEpoch(4, new RandomSource(1)))
        {
            epoch.Next(bx, by).Should().Be(1);
            epoch.Next(bx, by).Should().Be(0);
        }

        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(4 * 200_000 + 100_000, "one row of the buffer and one read row, not 4,096");
        bx[0, 7].Should().Be(3);
    }

    internal static byte[] RowHeader(int elementSize, int n, int c, long m, int classes)
    {
        var h = new byte[BinaryRowFile.HeaderBytes];
        BinaryRowFile.WriteHeader(h, elementSize, n, c, m, classes);
        return h;
    }

    [Fact]
    public void A_folder_missing_folder_or_read_only_target_is_refused_at_Create_and_leaves_nothing_behind()
    {
        // Before: a folder target was only refused by the rename in Complete, after every row was written, and the
        // temporary file stayed behind; a read-only target was silently replaced.
        string folder = _dir.File("rows.bin");
        Directory.CreateDirectory(folder);
        FluentActions.Invoking(() => BinaryRowFile.Create<float>(folder, 3, 1))
            .Should().Throw<IOException>().WithMessage($"*'{folder}'*folder*");
        FluentActions.Invoking(() => BinaryRowFile.Create<float>(_dir.File("no/rows.bin"), 3, 1))
            .Should().Throw<DirectoryNotFoundException>().WithMessage("*folder*does not exist*");

        string target = _dir.File("kept.bin");
        File.WriteAllText(target, "the user's file");
        File.SetAttributes(target, FileAttributes.ReadOnly);
        try
        {
            FluentActions.Invoking(() => BinaryRowFile.Create<float>(target, 3, 1))
                .Should().Throw<UnauthorizedAccessException>().WithMessage("*read-only*");
            File.ReadAllText(target).Should().Be("the user's file");
        }
        finally
        {
            File.SetAttributes(target, FileAttributes.Normal);
        }

        Directory.GetFiles(_dir.Path).Should().Equal(target);
        Directory.GetFiles(folder).Should().BeEmpty();
    }
}
