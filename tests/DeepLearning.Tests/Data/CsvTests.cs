
namespace DeepLearning.Tests.Data;

public sealed class CsvTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Header_and_label_by_name_give_a_classification_set()
    {
        const string text = "a,label,b\n1.5,2,3\n-4,0,5e-1\n\n6,1,7\n";
        var d = Csv.Load<double>(new StringReader(text), new CsvOptions { LabelColumn = "label" });
        d.Count.Should().Be(3);
        d.X.ToArray2D().Should().BeEquivalentTo(new double[,] { { 1.5, 3 }, { -4, 0.5 }, { 6, 7 } });
        d.Labels.Should().Equal(2, 0, 1);
        d.Classes.Should().Be(3);
        d.Y.ToArray2D().Should().BeEquivalentTo(new double[,] { { 0, 0, 1 }, { 1, 0, 0 }, { 0, 1, 0 } });
    }

    [Fact]
    public void Label_by_index_without_header_binary_and_regression()
    {
        const string text = "1;2;1\r\n3;4;0\r\n";
        var binary = Csv.Load<float>(new StringReader(text), new CsvOptions { HasHeader = false, Delimiter = ';', LabelColumnIndex = -1 });
        binary.Y.ToArray2D().Should().BeEquivalentTo(new float[,] { { 1 }, { 0 } });
        binary.X.ToArray2D().Should().BeEquivalentTo(new float[,] { { 1, 2 }, { 3, 4 } });

        var regression = Csv.Load<float>(new StringReader("x,y\n1,0.25\n2,\"0.5\"\n"), new CsvOptions { LabelColumnIndex = 1, Regression = true });
        regression.Labels.Should().BeNull();
        regression.Y.ToArray2D().Should().BeEquivalentTo(new float[,] { { 0.25f }, { 0.5f } });

        var unlabelled = Csv.Load<float>(new StringReader("1,2\n3,4\n"), new CsvOptions { HasHeader = false });
        unlabelled.Features.Should().Be(2);
        unlabelled.Targets.Should().Be(0);
    }

    [Theory]
    [InlineData("a,b,c\n1,2,3\n4,abc,6\n", "*line 3, column 2 ('b'): 'abc' is not a number*")]
    [InlineData("a,b,c\n1,2,3\n4,,6\n", "*line 3, column 2 ('b'): the cell is empty*")]
    [InlineData("a,b,c\n1,2,3\n4,5\n", "*line 3 has 2 cells; expected 3*")]
    [InlineData("a,b,c\n1,2,3\n4,5,6,7\n", "*line 3 has 4 cells; expected 3*")]
    [InlineData("a,b,c\n1,NaN,3\n", "*line 2, column 2 ('b'): 'NaN' is not a finite number*")]
    [InlineData("a,b,c\n1,2,3.5\n", "*line 2, column 3 ('c'): '3.5' is not a class index*")]
    [InlineData("a,b,c\n1,2,-1\n", "*line 2, column 3 ('c'): '-1' is not a class index*")]
    public void Bad_cells_name_the_line_and_column(string text, string message)
    {
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader(text), new CsvOptions { LabelColumn = "c" }, "data.csv"))
            .Should().Throw<InvalidDataException>().WithMessage("data.csv: " + message);
    }

    [Fact]
    public void Label_out_of_declared_classes_and_unknown_column_are_errors()
    {
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a,c\n1,5\n"), new CsvOptions { LabelColumn = "c", Classes = 3 }))
            .Should().Throw<InvalidDataException>().WithMessage("*line 2, column 2 ('c'): '5' is not a class index in [0, 3)*");
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a,c\n1,5\n"), new CsvOptions { LabelColumn = "label" }))
            .Should().Throw<InvalidDataException>().WithMessage("*no column is named 'label'*'a', 'c'*");
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("1,5\n"), new CsvOptions { HasHeader = false, LabelColumnIndex = 2 }))
            .Should().Throw<ArgumentException>().WithMessage("*received 2*");
    }

    [Fact]
    public void Files_load_and_stream_with_every_row_once()
    {
        int m = 157;
        string path = _dir.File("rows.csv");
        using (var w = new StreamWriter(path))
        {
            w.WriteLine("id,f,label");
            for (int i = 0; i < m; i++)
            {
                w.WriteLine($"{i},{i * 0.5},{i % 4}");
            }
        }

        var loaded = Csv.Load<float>(path, new CsvOptions { LabelColumn = "label" });
        loaded.Count.Should().Be(m);
        loaded.Classes.Should().Be(4);

        var stream = Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label", Classes = 4 }, bufferRows: 20);
        stream.Count.Should().Be(-1);
        stream.Features.Should().Be(2);
        stream.Targets.Should().Be(4);
        var (ids, batches) = TestData.ReadEpoch(stream, 25, new RandomSource(1));
        ids.Order().Should().Equal(Enumerable.Range(0, m));
        ids.Should().NotEqual(Enumerable.Range(0, m));
        batches.Should().Equal(25, 25, 25, 25, 25, 25, 7);
        TestData.ReadEpoch(stream, 25, null).Ids.Should().Equal(Enumerable.Range(0, m));
        stream.ToDataSet().Y.Should().Be(loaded.Y);

        FluentActions.Invoking(() => Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label" }))
            .Should().Throw<ArgumentException>().WithMessage("*Classes ≥ 2*");
    }

    [Fact]
    public void Streaming_csv_does_not_allocate_per_batch_once_warm()
    {
        string path = _dir.File("big.csv");
        using (var w = new StreamWriter(path))
        {
            for (int i = 0; i < 5000; i++)
            {
                w.WriteLine($"{i},{i * 0.25},{i % 2}");
            }
        }

        var source = Csv.OpenStreaming<double>(path, new CsvOptions { HasHeader = false, LabelColumnIndex = -1, Classes = 2 }, bufferRows: 64);
        var x = new Tensor<double>(32, 2);
        var y = new Tensor<double>(32, 1);
        using var reader = source.OpenEpoch(32, new RandomSource(2));
        TestData.AllocatedBy(() => reader.Next(x, y), warmUp: 10).Should().Be(0);
    }
}
