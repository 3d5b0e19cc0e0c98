namespace DeepLearning.Tests.Data;

/// <summary>
/// Streaming sources reopen their files every epoch: a file rewritten, appended to or truncated in between is refused
/// naming the file, instead of feeding the next epoch misaligned, rescaled or extra rows.
/// </summary>
public sealed class StreamingChangeTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    // A rewrite a moment later: the length may be the same, the last-write time is not.
    private static void Touch(string path) => File.SetLastWriteTimeUtc(path, File.GetLastWriteTimeUtc(path).AddSeconds(2));

    [Fact]
    public void A_csv_file_rewritten_between_epochs_is_refused_naming_it()
    {
        string path = _dir.File("rows.csv");
        File.WriteAllText(path, "a,b,c,label\n1,2,3,0\n4,5,6,1\n7,8,9,0\n");
        var source = Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label" });
        TestData.ReadEpoch(source, 2, null).Ids.Should().HaveCount(3);
        TestData.ReadEpoch(source, 2, null).Ids.Should().HaveCount(3, "an unchanged file reads again");

        // One column fewer (the third feature would have kept a stale value), then one more (it threw IndexOutOfRange).
        File.WriteAllText(path, "a,b,label\n1,2,0\n4,5,1\n");
        var read = () => TestData.ReadEpoch(source, 2, null);
        read.Should().Throw<InvalidDataException>().WithMessage($"'{path}' changed since it was opened for streaming (*bytes*then*now)*open the file again*");

        // The same bytes count and header, other values: caught by the last-write time.
        File.WriteAllText(path, "a,b,c,label\n1,2,3,0\n4,5,6,1\n7,8,9,0\n");
        source = Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label" });
        File.WriteAllText(path, "a,b,c,label\n9,9,9,1\n4,5,6,1\n7,8,9,0\n");
        Touch(path);
        read.Should().Throw<InvalidDataException>().WithMessage("*changed since it was opened for streaming*");
        var model = Model.Sequential<float>(3).Dense(1).Sigmoid().Build(seed: 1);
        model.Invoking(m => m.Fit(source, new TrainingOptions<float> { Epochs = 1 })).Should().Throw<InvalidDataException>().WithMessage("*rows.csv' changed*");
    }

    [Fact]
    public void A_csv_source_reads_every_epoch_with_the_options_it_was_opened_with()
    {
        string path = _dir.File("ids.csv");
        File.WriteAllText(path, "id,a,b,label\n7,1,2,0\n8,3,4,1\n");
        var ignored = new List<string> { "id" };
        var source = Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label", IgnoreColumns = ignored });
        var first = source.ToDataSet();
        ignored[0] = "a"; // the list the options hold, changed in place: the id column would have become an input
        source.ToDataSet().X.Should().Be(first.X);
        first.X.ReadOnlySpan.ToArray().Should().Equal(1f, 2f, 3f, 4f);
    }

    [Fact]
    public void A_csv_header_reordered_in_a_rewrite_the_fingerprint_misses_is_refused_by_its_columns()
    {
        // Same length and last-write time (restored): only the header's columns tell the files apart.
        string path = _dir.File("cols.csv");
        File.WriteAllText(path, "id,a,b,label\n7,1,2,0\n8,3,4,1\n");
        var written = File.GetLastWriteTimeUtc(path);
        var source = Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label", IgnoreColumns = ["id"] });
        source.ToDataSet().Count.Should().Be(2);
        File.WriteAllText(path, "a,id,b,label\n1,7,2,0\n3,8,4,1\n");
        File.SetLastWriteTimeUtc(path, written);
        source.Invoking(s => s.ToDataSet()).Should().Throw<InvalidDataException>()
            .WithMessage($"'{path}' changed since it was opened for streaming: its header now gives 2 features of 4 columns (label column 4, ignored 2): 'a', 'id', 'b', 'label', not 2 features of 4 columns (label column 4, ignored 1): 'id', 'a', 'b', 'label'; open the file again");

        // Two inputs swapped: the same roles, other columns.
        File.WriteAllText(path, "id,a,b,label\n7,1,2,0\n8,3,4,1\n");
        written = File.GetLastWriteTimeUtc(path);
        source = Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label", IgnoreColumns = ["id"] });
        File.WriteAllText(path, "id,b,a,label\n7,2,1,0\n8,4,3,1\n");
        File.SetLastWriteTimeUtc(path, written);
        source.Invoking(s => s.ToDataSet()).Should().Throw<InvalidDataException>().WithMessage("*its header now gives*'id', 'b', 'a', 'label', not *'id', 'a', 'b', 'label'*");
    }

    [Fact]
    public void Csv_options_are_copied_whole_for_streaming()
    {
        // Every settable option, set to a value other than its default, survives the copy a streaming source keeps.
        var options = new CsvOptions
        {
            HasHeader = false,
            SkipLines = 2,
            Delimiter = ';',
            LabelColumnIndex = 3,
            Regression = true,
            MaxLineLength = 77,
            IgnoreColumns = ["x"],
            IgnoreColumnIndices = [1],
        };
        var copy = options.Snapshot();
        foreach (var property in typeof(CsvOptions).GetProperties().Where(p => p.CanWrite))
        {
            var value = property.GetValue(copy);
            var original = property.GetValue(options);
            if (original is System.Collections.IEnumerable list and not string)
            {
                ((System.Collections.IEnumerable)value!).Cast<object>().Should().Equal(list.Cast<object>(), property.Name);
                value.Should().NotBeSameAs(original, $"{property.Name} is copied, not shared");
            }
            else
            {
                value.Should().Be(original, property.Name);
            }
        }

        typeof(CsvOptions).GetProperties().Where(p => p.CanWrite).Select(p => p.Name).Should().BeEquivalentTo(
            ["HasHeader", "SkipLines", "Delimiter", "LabelColumn", "LabelColumnIndex", "Unlabeled", "Regression", "Classes", "ClassNames", "IgnoreColumns", "IgnoreColumnIndices", "MaxLineLength"],
            "a new option must be added to CsvOptions.Snapshot too");
    }

    [Fact]
    public void Idx_files_rewritten_between_epochs_are_refused_naming_the_file()
    {
        string images = _dir.File("images.idx");
        string labels = _dir.File("labels.idx");
        var x = new Tensor<float>(4, 6);
        for (int i = 0; i < x.Length; i++)
        {
            x.Span[i] = i;
        }

        Idx.Write(images, x, IdxElementType.UInt8, dimensions: [4, 2, 3]);
        Idx.Write(labels, Tensor.FromArray(new float[] { 0, 1, 2, 1 }), IdxElementType.UInt8);
        var source = Idx.OpenStreaming<float>(images, labels, classes: 3);
        TestData.ReadEpoch(source, 2, new RandomSource(1)).Ids.Should().HaveCount(4);

        // Other dimensions (rows would be read misaligned), other element type (rescaled), more rows: each refused.
        var wider = new Tensor<float>(4, 8);
        Idx.Write(images, wider, IdxElementType.UInt8, dimensions: [4, 2, 4]);
        var read = () => source.ToDataSet();
        read.Should().Throw<InvalidDataException>().WithMessage($"'{images}' changed since it was opened for streaming*");

        Idx.Write(images, x, IdxElementType.UInt8, dimensions: [4, 2, 3]);
        source = Idx.OpenStreaming<float>(images, labels, classes: 3);
        Idx.Write(labels, Tensor.FromArray(new float[] { 0, 1, 2, 1, 0, 0 }), IdxElementType.UInt8);
        read.Should().Throw<InvalidDataException>().WithMessage($"'{labels}' changed since it was opened for streaming*");

        Idx.Write(labels, Tensor.FromArray(new float[] { 0, 1, 2, 1 }), IdxElementType.UInt8);
        source = Idx.OpenStreaming<float>(images, labels, classes: 3);
        source.ToDataSet().Count.Should().Be(4);
        File.Delete(images);
        read.Should().Throw<FileNotFoundException>().WithMessage($"'{images}' was removed since it was opened for streaming");
    }

    [Fact]
    public void A_row_file_rewritten_with_the_same_header_is_refused()
    {
        string path = _dir.File("rows.dlrows");
        BinaryRowFile.Write(path, TestData.Numbered<float>(10));
        var source = BinaryRowFile.Open<float>(path);
        source.ToDataSet().Count.Should().Be(10);

        var other = TestData.Numbered<float>(10);
        other.X[3, 1] = 1234;
        BinaryRowFile.Write(path, other);
        Touch(path);
        var read = () => source.ToDataSet();
        read.Should().Throw<InvalidDataException>().WithMessage($"'{path}' changed since it was opened for streaming*");
        BinaryRowFile.Open<float>(path).ToDataSet().X[3, 1].Should().Be(1234, "opened again, the new contents are read");
    }
}
