namespace DeepLearning.Tests.Data;

/// <summary>
/// Values the element type cannot hold are refused naming the value and the type, caller-owned arrays and lists are
/// copied, and row files hold only rows the reader reads back faithfully.
/// </summary>
public sealed class DataValidationTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Standardizer_refuses_an_epsilon_that_overflows_T()
    {
        var x = Tensor.FromArray(new float[,] { { 1, 2 }, { 3, 5 } });
        FluentActions.Invoking(() => Standardizer<float>.Fit(x, epsilon: 1e300)).Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("*1E+300*Single*").Which.ParamName.Should().Be("epsilon");
        FluentActions.Invoking(() => Standardizer.Fit(new DataSet<float>(x, new Tensor<float>(2, 1)), epsilon: 1e39)).Should().Throw<ArgumentOutOfRangeException>()
            .Which.ParamName.Should().Be("epsilon");

        var wide = Standardizer<double>.Fit(Tensor.FromArray(new double[,] { { 1 }, { 3 } }), epsilon: 1e300);
        wide.Epsilon.Should().Be(1e300);
        var small = Standardizer<float>.Fit(x, epsilon: 3e38);
        small.Apply(x).ReadOnlySpan.ToArray().Should().OnlyContain(v => float.IsFinite(v));
    }

    [Fact]
    public void MinMaxScaler_scales_a_column_whose_range_overflows_double()
    {
        var x = Tensor.FromArray(new double[,] { { -1.5e308, 1 }, { 0, 2 }, { 1.5e308, 3 } });
        var scaler = MinMaxScaler<double>.Fit(x);
        var y = scaler.Apply(x);
        y[0, 0].Should().Be(0);
        y[1, 0].Should().BeApproximately(0.5, 1e-12);
        y[2, 0].Should().BeApproximately(1, 1e-12);
        y[2, 1].Should().BeApproximately(1, 1e-15);

        var shifted = MinMaxScaler<double>.Fit(x, low: -1, high: 1).Apply(x);
        shifted[0, 0].Should().BeApproximately(-1, 1e-12);
        shifted[1, 0].Should().BeApproximately(0, 1e-12);
        shifted[2, 0].Should().BeApproximately(1, 1e-12);
    }

    [Fact]
    public void A_float64_row_file_value_that_overflows_float_is_refused_naming_row_and_column()
    {
        var x = Tensor.FromArray(new double[,] { { 1, 2 }, { 3, 1e300 } });
        string path = _dir.File("wide.bin");
        BinaryRowFile.Write(path, DataSet.FromTargets(x, Tensor.FromArray(new double[,] { { 0 }, { 1 } })));
        BinaryRowFile.ReadAll<double>(path).X[1, 1].Should().Be(1e300);
        FluentActions.Invoking(() => BinaryRowFile.ReadAll<float>(path)).Should().Throw<InvalidDataException>()
            .WithMessage("*1E+300 at row 1, column 1 (X[1, 1]), which overflows Single*");
        var source = BinaryRowFile.Open<float>(path);
        FluentActions.Invoking(() => TestData.ReadEpoch(source, 2, null)).Should().Throw<InvalidDataException>().WithMessage("*row 1, column 1*");

        var y = Tensor.FromArray(new double[,] { { 0 }, { -1e300 } });
        BinaryRowFile.Write(path, DataSet.FromTargets(Tensor.FromArray(new double[,] { { 1 }, { 2 } }), y));
        FluentActions.Invoking(() => BinaryRowFile.ReadAll<float>(path)).Should().Throw<InvalidDataException>()
            .WithMessage("*-1E+300 at row 1, column 1 (Y[1, 0])*");
    }

    [Fact]
    public void The_row_file_writer_refuses_class_rows_that_would_read_back_as_another_class()
    {
        string path = _dir.File("rows.bin");
        using (var writer = BinaryRowFile.Create<float>(path, 2, 1))
        {
            // NaN and ±∞ are kept (the trainer names them when the file is streamed); only class rows are checked.
            writer.Append([1f, float.NaN], [0f]);
            writer.Append([1f, 2f], [float.PositiveInfinity]);
            writer.Complete();
        }

        var kept = BinaryRowFile.ReadAll<float>(path);
        float.IsNaN(kept.X[0, 1]).Should().BeTrue();
        kept.Y[1, 0].Should().Be(float.PositiveInfinity);

        using (var writer = BinaryRowFile.Create<float>(path, 1, 3, classes: 3))
        {
            FluentActions.Invoking(() => writer.Append([1f], [0.2f, 0.3f, 7f])).Should().Throw<ArgumentException>()
                .WithMessage("row 0, column 2 of Y holds 7*one-hot*").Which.ParamName.Should().Be("y");
            FluentActions.Invoking(() => writer.Append([1f], [0.2f, 0.3f, 0.4f])).Should().Throw<ArgumentException>()
                .WithMessage("row 0 of Y sums to 0.9*").Which.ParamName.Should().Be("y");
            writer.Append([1f], [0f, 0f, 1f]);
            writer.Append([2f], [0.05f, 0.9f, 0.05f]); // label-smoothed: class 1
            writer.Complete();
        }

        BinaryRowFile.ReadAll<float>(path).Labels.Should().Equal(2, 1);

        using (var writer = BinaryRowFile.Create<double>(path, 1, 1, classes: 2))
        {
            FluentActions.Invoking(() => writer.Append([1.0], [2.0])).Should().Throw<ArgumentException>()
                .WithMessage("row 0, column 0 of Y holds 2*").Which.ParamName.Should().Be("y");
        }

        var bad = new DataSet<float>(Tensor.FromArray(new float[,] { { 1 } }), Tensor.FromArray(new float[,] { { 0.2f, 0.3f, 7f } }), [2], 3);
        FluentActions.Invoking(() => BinaryRowFile.Write(path, bad)).Should().Throw<ArgumentException>().WithMessage("row 0, column 2 of Y holds 7*");
    }

    [Fact]
    public void FromLabels_copies_the_labels()
    {
        var x = new Tensor<float>(6, 2);
        int[] labels = [0, 1, 2, 0, 1, 2];
        var d = DataSet.FromLabels(x, labels, 3);
        labels[0] = 99;
        labels[1] = 0;
        d.Labels.Should().Equal(0, 1, 2, 0, 1, 2);
        d.ClassCounts().Should().Equal(2, 2, 2);
        var (train, _, _) = d.Split(0.5, 0.5, 0, seed: 1, stratify: true);
        train.ClassCounts().Should().Equal(1, 1, 1);

        int[] direct = [1, 0];
        var e = new DataSet<float>(new Tensor<float>(2, 1), Tensor.FromArray(new float[,] { { 1 }, { 0 } }), direct, 2);
        direct[0] = 5;
        e.Labels.Should().Equal(1, 0);
    }

    [Fact]
    public void Csv_OpenStreaming_copies_the_class_names()
    {
        string path = _dir.File("named.csv");
        File.WriteAllText(path, "a,label\n1,cat\n2,dog\n3,cat\n");
        var names = new List<string> { "cat", "dog" };
        var source = Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label", ClassNames = names });
        names[0] = "renamed";
        names.Add("extra");
        source.ClassNames.Should().Equal("cat", "dog");
        var d = source.ToDataSet();
        d.ClassNames.Should().Equal("cat", "dog");
        d.Labels.Should().Equal(0, 1, 0);
    }

    [Fact]
    public void Fill_values_and_generator_noise_must_be_finite_in_T()
    {
        FluentActions.Invoking(() => new RandomShift<float>(4, 4, fill: 1e300)).Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("fill = 1E+300 overflows Single*").Which.ParamName.Should().Be("fill");
        FluentActions.Invoking(() => new RandomRotation<float>(4, 4, fill: -1e39)).Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("fill = -1E+39 overflows Single*").Which.ParamName.Should().Be("fill");
        FluentActions.Invoking(() => new RandomShift<double>(4, 4, fill: double.NaN)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("fill");
        new RandomShift<double>(4, 4, fill: 1e300).Fill.Should().Be(1e300);
        new RandomRotation<float>(4, 4, fill: 3e38).Fill.Should().Be(3e38);

        FluentActions.Invoking(() => Datasets.Moons<float>(noise: 1e300)).Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("noise = 1E+300 is too large for Single*").Which.ParamName.Should().Be("noise");
        FluentActions.Invoking(() => Datasets.Circles<float>(noise: 1e38)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("noise");
        FluentActions.Invoking(() => Datasets.Flower<float>(noise: 1e38)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("noise");
        FluentActions.Invoking(() => Datasets.Spirals<double>(noise: 1e308)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("noise");
        foreach (var d in new[] { Datasets.Moons<float>(noise: 1e36), Datasets.Circles<float>(noise: 1e36), Datasets.Flower<float>(noise: 1e36), Datasets.Spirals<float>(noise: 1e36) })
        {
            d.X.ReadOnlySpan.ToArray().Should().OnlyContain(v => float.IsFinite(v));
        }

        Datasets.Moons<double>(noise: 1e300).X.ReadOnlySpan.ToArray().Should().OnlyContain(v => double.IsFinite(v));
    }

    [Fact]
    public void Idx_OpenStreaming_checks_the_class_names_when_opened()
    {
        string images = _dir.File("images.idx");
        string labels = _dir.File("labels.idx");
        Idx.Write(images, new Tensor<float>(4, 3));
        Idx.WriteLabels(labels, [0, 1, 2, 1]);

        FluentActions.Invoking(() => Idx.OpenStreaming<float>(images, labels, classes: 10, classNames: ["a", "b", "c"])).Should().Throw<ArgumentException>()
            .WithMessage("classNames has 3 names but there are 10 classes*").Which.ParamName.Should().Be("classNames");
        FluentActions.Invoking(() => Idx.OpenStreaming<float>(images, labels, classes: 3, classNames: ["a", null!, "c"])).Should().Throw<ArgumentException>()
            .WithMessage("classNames[1] is null*").Which.ParamName.Should().Be("classNames");
        FluentActions.Invoking(() => Idx.OpenStreaming<float>(images, labels, classes: 3, classNames: ["a", "b", "a"])).Should().Throw<ArgumentException>()
            .WithMessage("classNames holds \"a\" twice*").Which.ParamName.Should().Be("classNames");

        var names = new List<string> { "a", "b", "c" };
        var source = Idx.OpenStreaming<float>(images, labels, classes: 3, classNames: names);
        names[2] = "z";
        source.ClassNames.Should().Equal("a", "b", "c");
        source.ToDataSet().ClassNames.Should().Equal("a", "b", "c");
    }

    [Fact]
    public void Streaming_epochs_compare_the_fingerprint_of_the_file_they_opened()
    {
        // The comparison is against the open handle; here the file is replaced before the epoch, so both orders refuse
        // it; the test pins that the handle-based check still reports the change and a removal as before.
        string path = _dir.File("rows.bin");
        BinaryRowFile.Write(path, TestData.Numbered<float>(10));
        var source = BinaryRowFile.Open<float>(path);
        var other = TestData.Numbered<float>(10);
        other.X[0, 0] = 42;
        BinaryRowFile.Write(path, other);
        File.SetLastWriteTimeUtc(path, File.GetLastWriteTimeUtc(path).AddSeconds(5));
        FluentActions.Invoking(() => source.ToDataSet()).Should().Throw<InvalidDataException>().WithMessage($"'{path}' changed since it was opened for streaming*");
        File.Delete(path);
        FluentActions.Invoking(() => source.ToDataSet()).Should().Throw<FileNotFoundException>().WithMessage($"'{path}' was removed since it was opened for streaming");
    }
}
