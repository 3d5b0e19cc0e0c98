
namespace DeepLearning.Tests.Data;

public sealed class CsvTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Labels_counted_from_1_are_refused_when_inferred_instead_of_adding_an_empty_class_0()
    {
        string path = _dir.File("from1.csv");
        File.WriteAllText(path, "a,label\n1,1\n2,2\n3,3\n4,1\n5,2\n6,3\n");
        var read = () => Csv.Load<float>(path, new CsvOptions { LabelColumn = "label" });
        read.Should().Throw<InvalidDataException>()
            .WithMessage("*line 2*class indices run from 1 to 3 and no row has class 0*CsvOptions.ClassNames = [\"1\", …, \"3\"]*label k becomes class k − 1*CsvOptions.Classes = 4*");
        FluentActions.Invoking(() => Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label" })).Should().Throw<InvalidDataException>().WithMessage("*no row has class 0*");

        // It used to give 4 classes, class 0 with no rows: a Dense(3) model was then refused for its width.
        var named = Csv.Load<float>(path, new CsvOptions { LabelColumn = "label", ClassNames = ["1", "2", "3"] });
        named.Classes.Should().Be(3);
        named.Labels.Should().Equal(0, 1, 2, 0, 1, 2);
        Csv.Load<float>(path, new CsvOptions { LabelColumn = "label", Classes = 4 }).Classes.Should().Be(4);

        // Binary labels 1/2 as well; 0/1, a file holding only 0s or only 1s (e.g. positives to score), and indices with
        // gaps (a test file lacking classes) are read as before.
        File.WriteAllText(path, "a,label\n1,1\n2,2\n");
        read.Should().Throw<InvalidDataException>().WithMessage("*run from 1 to 2*");
        File.WriteAllText(path, "a,label\n1,0\n2,0\n");
        Csv.Load<float>(path, new CsvOptions { LabelColumn = "label" }).Classes.Should().Be(2);
        File.WriteAllText(path, "a,label\n1,1\n2,1\n");
        Csv.Load<float>(path, new CsvOptions { LabelColumn = "label" }).Classes.Should().Be(2);
        File.WriteAllText(path, "a,label\n1,2\n2,3\n3,5\n");
        Csv.Load<float>(path, new CsvOptions { LabelColumn = "label" }).Classes.Should().Be(6);
    }

    [Fact]
    public void Ignored_columns_are_skipped_unread_by_name_or_index()
    {
        string path = _dir.File("ids.csv");
        File.WriteAllText(path, "id,a,name,b,label\n17,1.5,Ann,2,cat\nA-9,-3,\"Bob\",4.25,dog\n");
        var options = new CsvOptions { LabelColumn = "label", IgnoreColumns = ["id", "name"] };
        var data = Csv.Load<float>(path, options);
        data.X.Shape.Should().Equal(2, 2);
        data.X.ReadOnlySpan.ToArray().Should().Equal(1.5f, 2f, -3f, 4.25f);
        data.ClassNames.Should().Equal("cat", "dog");
        Csv.OpenStreaming<float>(path, options).ToDataSet().X.Should().Be(data.X);

        string bare = _dir.File("bare.csv");
        File.WriteAllText(bare, "7,1,2,0\n8,3,4,1\n");
        var byIndex = Csv.Load<float>(bare, new CsvOptions { HasHeader = false, LabelColumnIndex = -1, IgnoreColumnIndices = [0] });
        byIndex.X.ReadOnlySpan.ToArray().Should().Equal(1f, 2f, 3f, 4f);

        // Mistakes are named, nothing guessed.
        Read(path, new CsvOptions { LabelColumn = "label", IgnoreColumns = ["ID"] }).Should().Throw<InvalidDataException>().WithMessage("*no column is named 'ID' (in CsvOptions.IgnoreColumns)*");
        Read(path, new CsvOptions { LabelColumn = "label", IgnoreColumns = ["label"] }).Should().Throw<ArgumentException>().WithMessage("column 'label' is the label column; it cannot be ignored too*");
        Read(path, new CsvOptions { LabelColumn = "label", IgnoreColumns = ["id"], IgnoreColumnIndices = [0] }).Should().Throw<ArgumentException>().WithMessage("column 1 is listed twice*");
        Read(path, new CsvOptions { LabelColumn = "label", IgnoreColumnIndices = [5] }).Should().Throw<ArgumentException>().WithMessage("IgnoreColumnIndices must be in [−5, 5) for a file of 5 columns; received 5*");
        Read(path, new CsvOptions { LabelColumn = "label", IgnoreColumns = ["id", "a", "name", "b"] }).Should().Throw<ArgumentException>().WithMessage("*at least one input column must be left*");
        Read(bare, new CsvOptions { HasHeader = false, LabelColumnIndex = -1, IgnoreColumns = ["id"] }).Should().Throw<ArgumentException>().WithMessage("*the file has no header*use IgnoreColumnIndices*");

        // Without the option a text column is an error, not a silent feature.
        Read(path, new CsvOptions { LabelColumn = "label" }).Should().Throw<InvalidDataException>().WithMessage("*line 2, column 3 ('name'): 'Ann' is not a number (a text column: list it in CsvOptions.IgnoreColumns*");

        static Action Read(string file, CsvOptions options) => () => Csv.Load<float>(file, options);
    }

    [Fact]
    public void A_width_mismatch_says_how_to_read_a_file_with_every_class()
    {
        // A model of 4 classes, and a test file whose labels happen to stop at class 2.
        var test = DataSet.FromLabels(Tensor.FromRows(new float[][] { [0f], [1f], [2f] }), [0, 1, 2], classes: 3);
        var model = Model.Sequential<float>(1).Dense(4).Softmax().Build(seed: 1);
        var evaluate = () => model.Evaluate(test);
        evaluate.Should().Throw<ArgumentException>().WithMessage("the evaluation data has 3 target columns but the model has 4 outputs (*CsvOptions.Classes = 4 or the training set's ClassNames)*");

        var binary = DataSet.FromLabels(Tensor.FromRows(new float[][] { [0f], [1f] }), [0, 1], classes: 2);
        binary.Y.RowLength.Should().Be(1);
        var twoUnits = Model.Sequential<float>(1).Dense(2).Softmax().Build(seed: 1);
        var fit = () => twoUnits.Fit(binary, new TrainingOptions<float> { Epochs = 1 });
        fit.Should().Throw<ArgumentException>().WithMessage("*1 target columns but the model has 2 outputs (a binary 0/1 column: use data.ToOneHotTargets()*");

        // A multi-label sigmoid output is not told about one-hot classes.
        var tags = DataSet.FromTargets(Tensor.FromRows(new float[][] { [0f], [1f] }), Tensor.FromRows(new float[][] { [1f, 0f], [1f, 1f] }));
        var threeLabels = Model.Sequential<float>(1).Dense(3).Sigmoid().Build(seed: 1);
        threeLabels.IsMultiLabel.Should().BeTrue();
        threeLabels.Invoking(m => m.Evaluate(tags)).Should().Throw<ArgumentException>().WithMessage("*2 target columns but the model has 3 outputs (a multi-label sigmoid output has one 0/1 column per label)*");
    }

    [Fact]
    public void A_text_token_in_a_numeric_label_column_is_refused_not_made_a_class()
    {
        using var dir = new TempFolder();
        string path = dir.File("na.csv");
        File.WriteAllText(path, "a,label\n1,0\n2,1\n3,1\n4,NA\n5,0\n");
        var read = () => Csv.Load<float>(path, new CsvOptions { LabelColumn = "label" });
        read.Should().Throw<InvalidDataException>().WithMessage("*line 5*'NA' is text in a label column that also holds numbers (e.g. '0' at line 2)*ClassNames*");
        FluentActions.Invoking(() => Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label" })).Should().Throw<InvalidDataException>().WithMessage("*'NA' is text*");

        // Named up front, every label is a name.
        Csv.Load<float>(path, new CsvOptions { LabelColumn = "label", ClassNames = ["0", "1", "NA"] }).Classes.Should().Be(3);
    }

    [Fact]
    public void A_header_of_numbers_only_is_refused_as_a_first_example_unless_it_is_pandas_column_indices()
    {
        using var dir = new TempFolder();
        string path = dir.File("no-header.csv");
        File.WriteAllText(path, "5.1,3.5,0\n4.9,3.0,1\n6.2,2.9,1\n");
        var read = () => Csv.Load<float>(path, new CsvOptions { LabelColumnIndex = -1 });
        read.Should().Throw<InvalidDataException>().WithMessage("*the header line (5.1,3.5,0) holds only numbers, so it looks like the first example*HasHeader = false*");
        Csv.Load<float>(path, new CsvOptions { HasHeader = false, LabelColumnIndex = -1 }).Count.Should().Be(3);

        // pandas' DataFrame(X).to_csv(index=False) names unnamed columns 0, 1, 2: a header, kept.
        string pandas = dir.File("pandas.csv");
        File.WriteAllText(pandas, "0,1,2\n5.1,3.5,0\n4.9,3.0,1\n");
        Csv.Load<float>(pandas, new CsvOptions { LabelColumn = "2" }).Count.Should().Be(2);
    }

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

        var unlabelled = Csv.Load<float>(new StringReader("1,2\n3,4\n"), new CsvOptions { HasHeader = false, Unlabeled = true });
        unlabelled.Features.Should().Be(2);
        unlabelled.Targets.Should().Be(0);
        unlabelled.ToString().Should().Be("DataSet<Single>: m = 2, n_x = 2, C = 0, unlabeled", "not 'regression'");
        regression.ToString().Should().EndWith("C = 1, regression");
    }

    [Fact]
    public void Lines_may_end_in_LF_CRLF_or_a_lone_CR_even_split_across_reads()
    {
        // Classic Mac OS (and some Excel exports) end lines with a lone '\r': the whole file used to be one header line.
        var options = new CsvOptions { LabelColumn = "c" };
        var expected = Csv.Load<double>(new StringReader("a,b,c\n1,2,x\n3,4,y\n5,6,x\n"), options);
        foreach (string text in new[] { "a,b,c\r1,2,x\r3,4,y\r5,6,x\r", "a,b,c\r\n1,2,x\r3,4,y\n5,6,x", "a,b,c\r\r\n1,2,x\r\r3,4,y\n\r5,6,x\r" })
        {
            foreach (var reader in new TextReader[] { new StringReader(text), new OneCharacterReader(text) })
            {
                var d = Csv.Load<double>(reader, options);
                d.X.ToArray().Should().Equal(expected.X.ToArray(), text);
                d.Labels.Should().Equal(expected.Labels);
                d.ClassNames.Should().Equal("x", "y");
            }
        }

        // Line numbers in errors count a lone '\r' as a line end.
        FluentActions.Invoking(() => Csv.Load<double>(new StringReader("a,b,c\r1,2,x\r3,oops,y\r"), options, "mac.csv"))
            .Should().Throw<InvalidDataException>().WithMessage("mac.csv: line 3, column 2*");
    }

    private sealed class OneCharacterReader(string text) : TextReader
    {
        private int _next;

        public override int Read(Span<char> buffer)
        {
            if (_next == text.Length || buffer.IsEmpty)
            {
                return 0;
            }

            buffer[0] = text[_next++];
            return 1;
        }

        public override int Read() => _next < text.Length ? text[_next++] : -1;

        public override int Peek() => _next < text.Length ? text[_next] : -1;
    }

    [Fact]
    public void Every_cell_reads_as_double_Parse_reads_it_plain_or_not()
    {
        // Plain cells (a sign, up to 15 digits, one decimal point) take a fast path; the rest the general parser. Both
        // must give double.Parse's value to the bit (and float its rounding of that), in features, labels and targets.
        var rng = new Random(7);
        var cells = new List<string>
        {
            "0", "-0", "+0", "7", "-7", "+7", "0.1", "-0.1", ".5", "-.5", "+.5", "5.", "-5.", "007", "0.000000000000001",
            "999999999999999", "-99999999999999.9", "1234567890123456", "12345678901234567890", "0.30000000000000004",
            "1e5", "-2.5E-3", "1e22", "1e23", "1e-22", "1e-23", "123456789012345e-22", "0.000000000000000000001", "-0e0",
            "0.0000123456789012345", "5e0005", "5e00005", " 3", "4 ", "\"8\"", "\" -9.25 \"", "2\t", "3.4028234663852886E38", "4.9E-324", "123456.789012345",
        };
        for (int i = 0; i < 2000; i++)
        {
            int digits = rng.Next(1, 18);
            var text = new System.Text.StringBuilder();
            if (rng.Next(3) == 0)
            {
                text.Append(rng.Next(2) == 0 ? '-' : '+');
            }

            int point = rng.Next(-1, digits + 1);
            for (int d = 0; d < digits; d++)
            {
                if (d == point)
                {
                    text.Append('.');
                }

                text.Append((char)('0' + rng.Next(10)));
            }

            if (rng.Next(3) == 0)
            {
                text.Append(rng.Next(2) == 0 ? 'e' : 'E').Append(rng.Next(3) switch { 0 => "-", 1 => "+", _ => string.Empty }).Append(rng.Next(0, 21));
            }

            cells.Add(text.ToString());
        }

        var csv = new System.Text.StringBuilder("x,y\n");
        foreach (var cell in cells)
        {
            csv.Append(cell).Append(',').Append(cell).Append('\n');
        }

        var asDouble = Csv.Load<double>(new StringReader(csv.ToString()), new CsvOptions { LabelColumn = "y", Regression = true });
        var asFloat = Csv.Load<float>(new StringReader(csv.ToString()), new CsvOptions { LabelColumn = "y", Regression = true });
        for (int i = 0; i < cells.Count; i++)
        {
            double expected = double.Parse(cells[i].Trim().Trim('"'), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture);
            BitConverter.DoubleToInt64Bits(asDouble.X[i, 0]).Should().Be(BitConverter.DoubleToInt64Bits(expected), $"feature '{cells[i]}'");
            BitConverter.DoubleToInt64Bits(asDouble.Y[i, 0]).Should().Be(BitConverter.DoubleToInt64Bits(expected), $"target '{cells[i]}'");
            BitConverter.SingleToInt32Bits(asFloat.X[i, 0]).Should().Be(BitConverter.SingleToInt32Bits((float)expected), $"float feature '{cells[i]}'");
        }
    }

    [Theory]
    [InlineData("a,b,c\n1,2,3\n4,abc,6\n", "*line 3, column 2 ('b'): 'abc' is not a number*")]
    [InlineData("a,b,c\n1,2,3\n4,,6\n", "*line 3, column 2 ('b'): the cell is empty*")]
    [InlineData("a,b,c\n1,2,3\n4,5\n", "*line 3 has 2 cells; expected 3*")]
    [InlineData("a,b,c\n1,2,3\n4,5,6,7\n", "*line 3 has 4 cells; expected 3*")]
    [InlineData("a,b,c\n1,NaN,3\n", "*line 2, column 2 ('b'): 'NaN' is not a finite number*")]
    [InlineData("a,b,c\n1,1.5.3,3\n", "*line 2, column 2 ('b'): '1.5.3' is not a number*")]
    [InlineData("a,b,c\n-,2,3\n", "*line 2, column 1 ('a'): '-' is not a number*")]
    [InlineData("a,b,c\n7e,2,3\n", "*line 2, column 1 ('a'): '7e' is not a number*")]
    [InlineData("a,b,c\n1,7e+,3\n", "*line 2, column 2 ('b'): '7e+' is not a number*")]
    [InlineData("a,b,c\ne5,2,3\n", "*line 2, column 1 ('a'): 'e5' is not a number*")]
    [InlineData("a,b,c\n1,.,3\n", "*line 2, column 2 ('b'): '.' is not a number*")]
    [InlineData("a,b,c\n1,2,3,\n", "*line 2 has 4 cells; expected 3*")]
    [InlineData("a,b,c\n1,2,3.5\n", "*line 2, column 3 ('c'): '3.5' is not a class index*")]
    [InlineData("a,b,c\n1,2,-1\n", "*line 2, column 3 ('c'): '-1' is not a class index*")]
    public void Bad_cells_name_the_line_and_column(string text, string message)
    {
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader(text), new CsvOptions { LabelColumn = "c" }, "data.csv"))
            .Should().Throw<InvalidDataException>().WithMessage("data.csv: " + message);
    }

    [Fact]
    public void A_number_that_overflows_float_is_refused_naming_the_cell_not_read_as_infinity()
    {
        // 1e40 is finite as a double, so it passed the "finite number" check and became +∞ in a float data set.
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a,b,c\n1,2,0\n4,-1e40,1\n"), new CsvOptions { LabelColumn = "c" }, "data.csv"))
            .Should().Throw<InvalidDataException>().WithMessage("data.csv: line 3, column 2 ('b'): '-1e40' overflows Single (largest finite value 3.4028235E+38)*");
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("x,y\n1,2e39\n"), new CsvOptions { LabelColumn = "y", Regression = true }, "data.csv"))
            .Should().Throw<InvalidDataException>().WithMessage("data.csv: line 2, column 2 ('y'): '2e39' overflows Single*");
        string path = _dir.File("big.csv");
        File.WriteAllText(path, "x,y\n1,0.5\n2,2e39\n");
        var stream = Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "y", Regression = true });
        stream.Invoking(s => s.ToDataSet()).Should().Throw<InvalidDataException>().WithMessage("*line 3, column 2 ('y'): '2e39' overflows Single*");

        Csv.Load<double>(path, new CsvOptions { LabelColumn = "y", Regression = true }).Y[1, 0].Should().Be(2e39, "a double holds it");
    }

    [Fact]
    public void A_quoted_cell_may_hold_the_delimiter_and_escaped_quotes_as_RFC_4180_writes_them()
    {
        // The Titanic file's name column ("Braund, Mr. Owen Harris") was split in two, and the whole line refused.
        const string text = "id,\"name, full\",age,label\n1,\"Braund, Mr. Owen Harris\",22,\"dog, big\"\n2,\"O\"\"Brien, Ms.\" ,35,cat\n3, \"Smith\",\"4.5\",\"say \"\"hi\"\"\"\n";
        var options = new CsvOptions { LabelColumn = "label", IgnoreColumns = ["id", "name, full"] };
        var data = Csv.Load<double>(new StringReader(text), options, "people.csv");
        data.X.ReadOnlySpan.ToArray().Should().Equal(22, 35, 4.5);
        data.ClassNames.Should().Equal("cat", "dog, big", "say \"hi\"");
        data.Labels.Should().Equal(1, 0, 2);

        string path = _dir.File("people.csv");
        File.WriteAllText(path, text);
        Csv.OpenStreaming<double>(path, options).ToDataSet().X.Should().Be(data.X);
        var named = Csv.Load<double>(path, new CsvOptions { LabelColumn = "label", IgnoreColumns = ["id", "name, full"], ClassNames = ["say \"hi\"", "dog, big", "cat"] });
        named.Labels.Should().Equal(1, 2, 0); // a class name with a quote matches the unescaped cell

        // Without a header, the first line's quoted cell is counted as one.
        Csv.Load<float>(new StringReader("\"a, b\",1,0\n\"c\",2,1\n"), new CsvOptions { HasHeader = false, LabelColumnIndex = -1, IgnoreColumnIndices = [0] })
            .X.ReadOnlySpan.ToArray().Should().Equal(1f, 2f);

        // Tab-separated: leading white space before a quote is not taken for the delimiter.
        Csv.Load<float>(new StringReader("a\tb\n\"1\"\t \"x\ty\"\n2\tz\n"), new CsvOptions { Delimiter = '\t', LabelColumn = "b" }, "tabs.tsv").ClassNames.Should().Equal("x\ty", "z");
    }

    [Fact]
    public void A_quoted_cell_without_its_closing_quote_or_a_quote_inside_an_unquoted_cell_is_named()
    {
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a,b,c\n1,2,cat\n3,\"4,dog\n"), new CsvOptions { LabelColumn = "c" }, "data.csv"))
            .Should().Throw<InvalidDataException>().WithMessage("data.csv: line 3, column 2 ('b'): the quoted cell \"4,dog has no closing quote on its line (a cell may not span lines*");

        // A quote in the middle of a cell is text, not the start of a quoted cell: the line has one cell too many.
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a,b,c\n1,2,cat\n3,4,big \"dog, cat\"\n"), new CsvOptions { LabelColumn = "c" }, "data.csv"))
            .Should().Throw<InvalidDataException>().WithMessage("data.csv: line 3 has 4 cells; expected 3 (a cell holding the delimiter ',' must be quoted whole, from its first character)");

        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a,\"b,c\n1,2\n"), new CsvOptions { LabelColumnIndex = 1 }, "data.csv"))
            .Should().Throw<InvalidDataException>().WithMessage("data.csv: line 1 (the header), cell 2: a quoted name has no closing quote on its line*");

        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a\"b\n1\"2\n"), new CsvOptions { Delimiter = '"', LabelColumnIndex = 1 }))
            .Should().Throw<ArgumentException>().WithMessage("CsvOptions.Delimiter may not be a double quote or a line end; received U+0022*");
    }

    [Fact]
    public void A_label_column_named_twice_or_given_both_by_name_and_by_index_is_refused()
    {
        // The first 'a' became the label (with 'y' and the second 'a' as inputs), and LabelColumnIndex was ignored.
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a,a,y\n1,2,0\n3,4,1\n"), new CsvOptions { LabelColumn = "a" }, "data.csv"))
            .Should().Throw<InvalidDataException>().WithMessage("data.csv: the header names columns 1 and 2 'a', so LabelColumn is ambiguous; use LabelColumnIndex");
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a,b,y\n1,2,0\n"), new CsvOptions { LabelColumn = "y", LabelColumnIndex = 0 }))
            .Should().Throw<ArgumentException>().WithParameterName("options").WithMessage("CsvOptions.LabelColumn ('y') and LabelColumnIndex (0) are both set; give one*");

        // A repeated name that is not the label stays allowed (the inputs are read by position).
        Csv.Load<float>(new StringReader("a,a,y\n1,2,0\n3,4,1\n"), new CsvOptions { LabelColumn = "y" }).Features.Should().Be(2);
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

        // Without Classes the streaming source infers them in a first pass, with the same rules as Load.
        var inferred = Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label" });
        inferred.Classes.Should().Be(4);
        inferred.ToDataSet().Y.Should().Be(loaded.Y);
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

    [Fact]
    public void A_file_without_a_label_column_is_refused_with_the_columns_listed()
    {
        // Issue 12.5: a file without LabelColumn silently made the label an input.
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("x1,x2,target\n1,2,0\n"), sourceName: "data.csv"))
            .Should().Throw<ArgumentException>()
            .WithMessage("data.csv: say which column holds the label (the header has 'x1', 'x2', 'target')*LabelColumn*LabelColumnIndex = -1*Unlabeled = true*");
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("1,2,0\n"), new CsvOptions { HasHeader = false }))
            .Should().Throw<ArgumentException>().WithMessage("*3 columns and no header*");
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a,b\n1,2\n"), new CsvOptions { Unlabeled = true, LabelColumnIndex = 0 }))
            .Should().Throw<ArgumentException>().WithMessage("*Unlabeled*choose one*");
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a,b\n1,2\n"), new CsvOptions { LabelColumn = "b", Regression = true, Classes = 3 }))
            .Should().Throw<ArgumentException>().WithMessage("*Regression*Classes (3)*");
    }

    [Fact]
    public void A_numeric_target_with_many_values_is_refused_with_a_hint_to_set_Regression()
    {
        // Issue 12.5: the diabetes target (25–346) became a 347-class problem.
        var text = new System.Text.StringBuilder("age,bmi,progression\n");
        for (int i = 0; i < 50; i++)
        {
            text.Append($"{i},{20 + (i % 7)},{25 + (i * 6)}\n");
        }

        FluentActions.Invoking(() => Csv.Load<float>(new StringReader(text.ToString()), new CsvOptions { LabelColumn = "progression" }, "diabetes.csv"))
            .Should().Throw<InvalidDataException>()
            .WithMessage("diabetes.csv: line 15, column 3 ('progression'): '103' as a class index would make 104 classes, more than the 100*Regression = true*");
        var regression = Csv.Load<float>(new StringReader(text.ToString()), new CsvOptions { LabelColumn = "progression", Regression = true });
        regression.Y[49, 0].Should().Be(25 + (49 * 6));

        // Non-integer values are refused too, naming the first such cell.
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a,y\n1,0\n2,1\n3,0.5\n"), new CsvOptions { LabelColumn = "y" }))
            .Should().Throw<InvalidDataException>().WithMessage("*line 4, column 2 ('y'): '0.5' is not a class index (an integer ≥ 0)*Regression = true*");
    }

    [Theory]
    [InlineData("5000000", "*line 3, column 2 ('y'): '5000000' as a class index would make 5000001 classes*")]
    [InlineData("2147483647", "*line 3, column 2 ('y'): '2147483647' as a class index would make 2147483648 classes*")]
    [InlineData("1e300", "*line 3, column 2 ('y'): '1e300' as a class index would make*")]
    [InlineData("NaN", "*line 3, column 2 ('y'): 'NaN' is not a finite number*")]
    public void One_huge_label_cell_neither_allocates_its_class_count_nor_overflows(string cell, string message)
    {
        // Issue 11.5: one cell 5000000 allocated 572 MB; 2147483647 overflowed into a binary task.
        string text = $"x,y\n1,0\n2,{cell}\n3,1\n";
        long before = GC.GetAllocatedBytesForCurrentThread();
        FluentActions.Invoking(() => Csv.Load<double>(new StringReader(text), new CsvOptions { LabelColumn = "y" }))
            .Should().Throw<InvalidDataException>().WithMessage(message);
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);

        string path = _dir.File("huge-label.csv");
        File.WriteAllText(path, text);
        FluentActions.Invoking(() => Csv.OpenStreaming<double>(path, new CsvOptions { LabelColumn = "y" }))
            .Should().Throw<InvalidDataException>().WithMessage(message);
        FluentActions.Invoking(() => Csv.Load<double>(path, new CsvOptions { LabelColumn = "y", Classes = 2 }))
            .Should().Throw<InvalidDataException>().WithMessage($"*line 3, column 2 ('y'): '{cell}' is not a*");
    }

    [Fact]
    public void Text_labels_become_class_names_in_ordinal_order()
    {
        const string text = "radius,diagnosis\n17.9,malignant\n13.5,benign\n20.6,\"malignant\"\n11.4,benign\n";
        var d = Csv.Load<float>(new StringReader(text), new CsvOptions { LabelColumn = "diagnosis" });
        d.Classes.Should().Be(2);
        d.ClassNames.Should().Equal("benign", "malignant");
        d.Labels.Should().Equal(1, 0, 1, 0);
        d.Y.ToArray2D().Should().BeEquivalentTo(new float[,] { { 1 }, { 0 }, { 1 }, { 0 } });

        // Three classes, ordinal order ('B' < 'a'), independent of the order rows appear in.
        var three = Csv.Load<double>(new StringReader("x,kind\n1,setosa\n2,Virginica\n3,versicolor\n4,setosa\n"), new CsvOptions { LabelColumnIndex = -1 });
        three.ClassNames.Should().Equal("Virginica", "setosa", "versicolor");
        three.Labels.Should().Equal(1, 0, 2, 1);
        var reordered = Csv.Load<double>(new StringReader("x,kind\n3,versicolor\n2,Virginica\n1,setosa\n"), new CsvOptions { LabelColumnIndex = -1 });
        reordered.ClassNames.Should().Equal(three.ClassNames);

        // A test file lacking a class keeps the training indices when given the training names.
        var test = Csv.Load<double>(new StringReader("x,kind\n5,versicolor\n"), new CsvOptions { LabelColumnIndex = -1, ClassNames = three.ClassNames });
        test.Labels.Should().Equal(2);
        test.Classes.Should().Be(3);
        FluentActions.Invoking(() => Csv.Load<double>(new StringReader("x,kind\n5,daisy\n"), new CsvOptions { LabelColumnIndex = -1, ClassNames = three.ClassNames }))
            .Should().Throw<InvalidDataException>().WithMessage("*line 2, column 2 ('kind'): 'daisy' is neither one of the 3 class names ('Virginica', 'setosa', 'versicolor')*");
        FluentActions.Invoking(() => Csv.Load<double>(new StringReader("x,kind\n5,daisy\n6,daisy\n"), new CsvOptions { LabelColumnIndex = -1 }))
            .Should().Throw<InvalidDataException>().WithMessage("*line 2, column 2 ('kind'): 'daisy' is the only class*ClassNames*");
        FluentActions.Invoking(() => Csv.Load<double>(new StringReader("x,kind\n5,daisy\n6,\n"), new CsvOptions { LabelColumnIndex = -1 }))
            .Should().Throw<InvalidDataException>().WithMessage("*line 3, column 2 ('kind'): the label cell is empty*");
    }

    [Fact]
    public void More_than_100_distinct_text_labels_are_refused_at_the_101st()
    {
        var text = new System.Text.StringBuilder("x,id\n");
        for (int i = 0; i < 150; i++)
        {
            text.Append($"{i},user{i}\n");
        }

        FluentActions.Invoking(() => Csv.Load<float>(new StringReader(text.ToString()), new CsvOptions { LabelColumn = "id" }))
            .Should().Throw<InvalidDataException>().WithMessage("*line 102, column 2 ('id'): 'user100' is the 101st distinct label*Regression = true*ClassNames*");
    }

    [Fact]
    public void Streaming_text_labels_infers_names_in_a_first_pass_or_takes_them_from_the_options()
    {
        string path = _dir.File("text.csv");
        File.WriteAllText(path, "f,label\n0,yes\n1,no\n2,yes\n3,maybe\n");
        var inferred = Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label" });
        inferred.ClassNames.Should().Equal("maybe", "no", "yes");
        inferred.Targets.Should().Be(3);
        var all = inferred.ToDataSet();
        all.Labels.Should().Equal(2, 1, 2, 0);
        all.ClassNames.Should().Equal("maybe", "no", "yes");
        Csv.Load<float>(path, new CsvOptions { LabelColumn = "label" }).Y.Should().Be(all.Y);

        var given = Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label", ClassNames = ["yes", "no", "maybe"] });
        given.ToDataSet().Labels.Should().Equal(0, 1, 0, 2);
        FluentActions.Invoking(() => Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label", ClassNames = ["yes", "no"] }).ToDataSet())
            .Should().Throw<InvalidDataException>().WithMessage("*line 5, column 2 ('label'): 'maybe' is neither one of the 2 class names*");
    }

    [Fact]
    public void Bytes_that_are_not_UTF8_are_refused_naming_the_file_and_line_not_merged_into_one_class()
    {
        // "café" and "cafè" in Latin-1: read with replacement characters, both became "caf\uFFFD", one class.
        string path = _dir.File("latin1.csv");
        File.WriteAllBytes(path, System.Text.Encoding.Latin1.GetBytes("x,label\n1,caf\u00e9\n2,caf\u00e8\n3,tea\n"));
        var options = new CsvOptions { LabelColumn = "label" };
        string message = $"'{path}' is not valid UTF-8: line 2 holds the byte 0xE9 (byte 13 of the text); save the file as UTF-8";
        FluentActions.Invoking(() => Csv.Load<float>(path, options)).Should().Throw<InvalidDataException>().WithMessage(message);
        FluentActions.Invoking(() => Csv.OpenStreaming<float>(path, options)).Should().Throw<InvalidDataException>().WithMessage(message);
        FluentActions.Invoking(() => Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label", ClassNames = ["caf\u00e9", "tea"] }).ToDataSet())
            .Should().Throw<InvalidDataException>().WithMessage(message);

        // After a UTF-8 byte-order mark (Excel's "CSV UTF-8"), still strict; the mark itself is not part of the header.
        string bom = _dir.File("bom.csv");
        File.WriteAllBytes(bom, new byte[] { 0xEF, 0xBB, 0xBF }.Concat(System.Text.Encoding.Latin1.GetBytes("x,label\n1,caf\u00e9\n2,caf\u00e8\n3,tea\n")).ToArray());
        FluentActions.Invoking(() => Csv.Load<float>(bom, options)).Should().Throw<InvalidDataException>().WithMessage("*is not valid UTF-8: line 2 holds the byte 0xE9*");
        File.WriteAllBytes(bom, new byte[] { 0xEF, 0xBB, 0xBF }.Concat(System.Text.Encoding.UTF8.GetBytes("x,label\n1,caf\u00e9\n2,caf\u00e8\n3,tea\n")).ToArray());
        Csv.Load<float>(bom, options).ClassNames.Should().Equal("caf\u00e8", "caf\u00e9", "tea");

        // Gzip-compressed, and far into the file with a valid two-byte character across the rescan's 64 KiB blocks.
        var text = new System.Text.StringBuilder("x,label\n");
        while (text.Length < 65535)
        {
            text.Append("1,a\n");
        }

        text.Length = 65535;
        text.Append("\u00e9\n");
        int line = text.ToString().Count(c => c == '\n') + 1;
        var bytes = System.Text.Encoding.UTF8.GetBytes(text.ToString()).Concat(new byte[] { (byte)'1', (byte)',', 0xFF, (byte)'\n' }).ToArray();
        string gz = _dir.File("far.csv.gz");
        using (var f = File.Create(gz))
        using (var z = new System.IO.Compression.GZipStream(f, System.IO.Compression.CompressionMode.Compress))
        {
            z.Write(bytes);
        }

        FluentActions.Invoking(() => Csv.Load<float>(gz, options)).Should().Throw<InvalidDataException>()
            .WithMessage($"'{gz}' is not valid UTF-8: line {line} holds the byte 0xFF (byte {bytes.Length - 2} of the text)*");

        // Valid UTF-8 (with a byte-order mark) still reads, accents and all.
        File.WriteAllText(path, "x,label\n1,caf\u00e9\n2,caf\u00e8\n3,tea\n", new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: true));
        Csv.Load<float>(path, options).ClassNames.Should().Equal("caf\u00e8", "caf\u00e9", "tea");
    }

    [Fact]
    public void A_line_longer_than_MaxLineLength_is_refused_naming_it_before_it_is_all_buffered()
    {
        var options = new CsvOptions { LabelColumn = "c", MaxLineLength = 20 };
        string ok = "a,b,c\n" + new string('1', 16) + ",2,1\r\n3,4,0";
        Csv.Load<float>(new StringReader(ok), options).Count.Should().Be(2);
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a,b,c\n1,2,1\n" + new string('1', 17) + ",2,1\n"), options, "data.csv"))
            .Should().Throw<InvalidDataException>().WithMessage("data.csv: line 3 is longer than 20 characters (CsvOptions.MaxLineLength)*");
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a,b,c\n" + new string('1', 17) + ",2,1"), options, "data.csv"))
            .Should().Throw<InvalidDataException>().WithMessage("data.csv: line 2 is longer than 20 characters*");
        FluentActions.Invoking(() => Csv.Load<float>(new StringReader("a,b,c\n1,2,1\n"), new CsvOptions { LabelColumn = "c", MaxLineLength = 0 }))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("MaxLineLength must be in [1, *]; received 0*");
        new CsvOptions().MaxLineLength.Should().Be(CsvOptions.DefaultMaxLineLength).And.Be(64 * 1024 * 1024);

        // A file with no line end: the reader stops once the line passes the limit (it used to double its buffer until
        // an 1.1e9-character line overflowed it), in Load and in a stream.
        string path = _dir.File("one-line.csv");
        using (var f = File.Create(path))
        {
            f.Write("a,label\n"u8);
            var chunk = new byte[1 << 20];
            chunk.AsSpan().Fill((byte)'1');
            for (int i = 0; i < 8; i++)
            {
                f.Write(chunk);
            }
        }

        var small = new CsvOptions { LabelColumn = "label", MaxLineLength = 100_000 };
        long before = GC.GetAllocatedBytesForCurrentThread();
        FluentActions.Invoking(() => Csv.Load<float>(path, small)).Should().Throw<InvalidDataException>()
            .WithMessage($"{path}: line 2 is longer than 100000 characters*");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(2_000_000);
        FluentActions.Invoking(() => Csv.OpenStreaming<float>(path, small)).Should().Throw<InvalidDataException>()
            .WithMessage($"{path}: line 2 is longer than 100000 characters*");
        FluentActions.Invoking(() => Csv.OpenStreaming<float>(path, new CsvOptions { LabelColumn = "label", Classes = 2, MaxLineLength = 100_000 }).ToDataSet())
            .Should().Throw<InvalidDataException>().WithMessage($"{path}: line 2 is longer than 100000 characters*");
    }
}
