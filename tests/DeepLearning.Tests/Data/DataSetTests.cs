using System.Numerics;
using DeepLearning.Kernels;

namespace DeepLearning.Tests.Data;

public class DataSetTests
{
    [Fact]
    public void Constructor_rejects_mismatched_rows_and_bad_labels()
    {
        var x = new Tensor<float>(4, 2);
        FluentActions.Invoking(() => new DataSet<float>(x, new Tensor<float>(3, 1)))
            .Should().Throw<ArgumentException>().WithMessage("*same number of rows*(4, 2)*(3, 1)*");
        FluentActions.Invoking(() => new DataSet<float>(x, new Tensor<float>(4, 3), [0, 1, 3, 0], 3))
            .Should().Throw<ArgumentException>().WithMessage("*row 2*[0, 3)*received 3*");
        FluentActions.Invoking(() => new DataSet<float>(x, new Tensor<float>(4, 2), [0, 1, 2, 0], 3))
            .Should().Throw<ArgumentException>().WithMessage("*3 column(s)*");
    }

    [Fact]
    public void Constructor_refuses_labels_that_disagree_with_Y_naming_the_row_and_both_values()
    {
        // Training and Evaluate read Y, a stratified split and ClassCounts read the labels: they used to be accepted apart.
        var x = new Tensor<float>(3, 2);
        var oneHot = DataSet.OneHot<float>([0, 2, 1], 3);
        FluentActions.Invoking(() => new DataSet<float>(x, oneHot, [0, 1, 1], 3))
            .Should().Throw<ArgumentException>().WithParameterName("labels")
            .WithMessage("labels and Y disagree at row 1: labels[1] = 1 but Y[1, 1] = 0 but Y[1, 2] = 1, so Y says class 2*");
        var column = Tensor.FromArray(new float[,] { { 1 }, { 0 }, { 0.75f } });
        FluentActions.Invoking(() => new DataSet<float>(x, column, [1, 0, 0], 2))
            .Should().Throw<ArgumentException>().WithMessage("*row 2: labels[2] = 0 but Y[2, 0] = 0.75, which is class 1*");

        // Agreement is DataSet.ToLabels's rule, so label-smoothed targets and a NaN row (left to EnsureFinite) pass.
        var smoothed = Tensor.FromArray(new float[,] { { 0.9f, 0.05f, 0.05f }, { 0.05f, 0.05f, 0.9f }, { float.NaN, 0, 0 } });
        new DataSet<float>(x, smoothed, [0, 2, 1], 3).Labels.Should().Equal(0, 2, 1);
        new DataSet<float>(x, Tensor.FromArray(new float[,] { { 0.95f }, { 0.05f }, { 0.5f } }), [1, 0, 0], 2).Classes.Should().Be(2);
    }

    [Fact]
    public void FromLabels_makes_one_hot_for_many_classes_and_a_column_for_two()
    {
        var x = new Tensor<double>(3, 1);
        var multi = DataSet.FromLabels(x, [2, 0, 1], 3);
        multi.Y.ToArray2D().Should().BeEquivalentTo(new double[,] { { 0, 0, 1 }, { 1, 0, 0 }, { 0, 1, 0 } });
        var binary = DataSet.FromLabels(x, [1, 0, 1], 2);
        binary.Y.ToArray2D().Should().BeEquivalentTo(new double[,] { { 1 }, { 0 }, { 1 } });
        binary.ToOneHotTargets().Y.ToArray2D().Should().BeEquivalentTo(new double[,] { { 0, 1 }, { 1, 0 }, { 0, 1 } });
    }

    [Fact]
    public void OneHot_and_ToLabels_round_trip()
    {
        int[] labels = [3, 0, 9, 4, 4, 1];
        DataSet.ToLabels(DataSet.OneHot<float>(labels, 10)).Should().Equal(labels);
        DataSet.ArgMax(Tensor.FromArray(new float[,] { { 0.1f, 0.7f, 0.2f }, { 0.5f, 0.5f, 0 } })).Should().Equal(1, 0);
        DataSet.ToLabels(Tensor.FromArray(new double[,] { { 0.2 }, { 0.5 }, { 0.51 } })).Should().Equal(0, 0, 1);
        FluentActions.Invoking(() => DataSet.OneHot<float>([0, 10], 10)).Should().Throw<ArgumentException>().WithMessage("*row 1*received 10*");
    }

    [Fact]
    public void Take_Slice_Select_and_Concat_copy_the_right_rows()
    {
        var d = TestData.Numbered<float>(10);
        TestData.Ids(d.Take(3)).Should().Equal(0, 1, 2);
        var s = d.Slice(4, 3);
        TestData.Ids(s).Should().Equal(4, 5, 6);
        s.Labels.Should().Equal(1, 2, 0);
        s.X[0, 0] = 99;
        d.X[4, 0].Should().Be(4, "slices are copies");
        TestData.Ids(d.Select([9, 0, 9])).Should().Equal(9, 0, 9);
        var c = d.Take(2).Concat(d.Slice(7, 3));
        TestData.Ids(c).Should().Equal(0, 1, 7, 8, 9);
        c.Labels.Should().Equal(0, 1, 1, 2, 0);
        c.Y.Row(2).ToArray().Should().Equal(0f, 1f, 0f);
        FluentActions.Invoking(() => d.Slice(8, 3)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*[8, 11)*10 rows*");
    }

    [Fact]
    public void Shuffle_is_a_seeded_permutation()
    {
        var d = TestData.Numbered<double>(50);
        var a = TestData.Ids(d.Shuffle(1));
        a.Order().Should().Equal(Enumerable.Range(0, 50));
        a.Should().NotEqual(Enumerable.Range(0, 50));
        TestData.Ids(d.Shuffle(1)).Should().Equal(a);
        TestData.Ids(d.Shuffle(2)).Should().NotEqual(a);
        var shuffled = d.Shuffle(1);
        for (int i = 0; i < 50; i++)
        {
            shuffled.Labels![i].Should().Be(a[i] % 3, "labels move with their rows");
        }
    }

    [Theory]
    [InlineData(1000, 0.6, 0.2, 0.2, 600, 200, 200)]
    [InlineData(10000, 0.98, 0.01, 0.01, 9800, 100, 100)]
    [InlineData(7, 0.6, 0.2, 0.2, 5, 1, 1)]
    [InlineData(10, 1.0, 0.0, 0.0, 10, 0, 0)]
    public void Split_by_ratios_has_the_documented_sizes_covers_every_row_and_never_overlaps(int m, double tr, double dv, double te, int nTrain, int nDev, int nTest)
    {
        var d = TestData.Numbered<float>(m);
        var (train, dev, test) = d.Split(tr, dv, te, seed: 3);
        (train.Count, dev.Count, test.Count).Should().Be((nTrain, nDev, nTest));
        var all = TestData.Ids(train).Concat(TestData.Ids(dev)).Concat(TestData.Ids(test)).ToList();
        all.Should().OnlyHaveUniqueItems();
        all.Order().Should().Equal(Enumerable.Range(0, m));
    }

    [Fact]
    public void Split_is_deterministic_per_seed_and_shuffles()
    {
        var d = TestData.Numbered<float>(100);
        var a = d.Split(0.6, 0.2, 0.2, seed: 5);
        var b = d.Split(0.6, 0.2, 0.2, seed: 5);
        var c = d.Split(0.6, 0.2, 0.2, seed: 6);
        TestData.Ids(a.Train).Should().Equal(TestData.Ids(b.Train));
        TestData.Ids(a.Dev).Should().Equal(TestData.Ids(b.Dev));
        TestData.Ids(a.Train).Should().NotEqual(TestData.Ids(c.Train));
        TestData.Ids(a.Train).Should().NotEqual(Enumerable.Range(0, 60));
    }

    [Fact]
    public void SplitByCount_takes_exact_counts_and_rejects_too_many()
    {
        var d = TestData.Numbered<float>(20);
        var (train, dev, test) = d.SplitByCount(10, 5, 3, seed: 1);
        (train.Count, dev.Count, test.Count).Should().Be((10, 5, 3));
        TestData.Ids(train).Concat(TestData.Ids(dev)).Concat(TestData.Ids(test)).Should().OnlyHaveUniqueItems();
        FluentActions.Invoking(() => d.SplitByCount(10, 10, 1)).Should().Throw<ArgumentException>().WithMessage("*m = 20*train = 10, dev = 10, test = 1*");
        FluentActions.Invoking(() => d.Split(0.5, 0.3, 0.3)).Should().Throw<ArgumentException>().WithMessage("*must be 1*");
        FluentActions.Invoking(() => d.Split(1.5, -0.3, -0.2)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*train must be in [0, 1]; received 1.5*");
    }

    [Fact]
    public void Stratified_split_keeps_each_class_share_within_one_row()
    {
        // Imbalanced: 3 classes of 500, 300 and 37 rows, in blocks.
        int[] labels = [.. Enumerable.Repeat(0, 500), .. Enumerable.Repeat(1, 300), .. Enumerable.Repeat(2, 37)];
        var x = new Tensor<float>(labels.Length, 1);
        for (int i = 0; i < labels.Length; i++)
        {
            x[i, 0] = i;
        }

        var d = DataSet.FromLabels(x, labels, 3);
        foreach (int seed in new[] { 0, 1, 2, 3 })
        {
            var (train, dev, test) = d.Split(0.6, 0.2, 0.2, seed, stratify: true);
            var parts = new[] { (train, 0.6), (dev, 0.2), (test, 0.2) };
            foreach (var (part, fraction) in parts)
            {
                var counts = part.ClassCounts();
                int[] total = [500, 300, 37];
                for (int c = 0; c < 3; c++)
                {
                    double expected = total[c] * part.Count / (double)labels.Length;
                    Math.Abs(counts[c] - expected).Should().BeLessThan(1.0 + 1e-9, $"class {c} in a part of {part.Count} (fraction {fraction}, seed {seed})");
                }
            }

            TestData.Ids(train).Concat(TestData.Ids(dev)).Concat(TestData.Ids(test)).Order().Should().Equal(Enumerable.Range(0, labels.Length));
        }

        FluentActions.Invoking(() => TestData.Numbered<float>(10, classes: 0).Split(0.5, 0.5, 0, stratify: true))
            .Should().Throw<InvalidOperationException>().WithMessage("*stratified*labels*");
    }

    [Fact]
    public void Stratified_split_keeps_the_middle_part_within_one_row_too()
    {
        // Cutting one proportional order at two points left dev, a difference of two prefixes, with 14 rows of class 0
        // where 17·38/51 = 12.67 are due (1.33 off).
        int[] labels = [.. Enumerable.Repeat(0, 38), .. Enumerable.Repeat(1, 2), .. Enumerable.Repeat(2, 6), .. Enumerable.Repeat(3, 4), 4];
        var d = DataSet.FromLabels(TestData.Numbered<float>(labels.Length, n: 1).X, labels, 5);
        var (train, dev, test) = d.Split(0.32, 0.34, 0.34, seed: 14, stratify: true);
        dev.Count.Should().Be(17);
        dev.ClassCounts()[0].Should().BeOneOf(12, 13);
        CheckStratified(d, labels, 5, [train, dev, test], "the 51-row repro");
    }

    [Fact]
    public void Stratified_split_keeps_every_part_and_class_within_one_row_for_random_labels_and_fractions()
    {
        var r = new RandomSource(2024);
        for (int trial = 0; trial < 300; trial++)
        {
            int classes = r.NextInt(2, 10);
            int m = 1 + r.NextInt(trial < 200 ? 60 : 600);
            var weights = Enumerable.Range(0, classes).Select(_ => Math.Pow(r.NextDouble(), 3)).ToArray();
            var labels = new int[m];
            for (int i = 0; i < m; i++)
            {
                double u = r.NextDouble() * weights.Sum();
                int c = 0;
                while (c < classes - 1 && u >= weights[c])
                {
                    u -= weights[c++];
                }

                labels[i] = c;
            }

            var d = DataSet.FromLabels(TestData.Numbered<float>(m, n: 1).X, labels, classes);
            double a = r.NextDouble(), b = r.NextDouble() * (1 - a), rest = Math.Max(0, 1 - a - b);
            int seed = r.NextInt(-1000, 1000);
            string context = $"trial {trial}: m = {m}, counts [{string.Join(", ", d.ClassCounts())}], fractions {a}/{b}/{rest}, seed {seed}";
            var (train, dev, test) = d.Split(a, b, rest, seed, stratify: true);
            CheckStratified(d, labels, classes, [train, dev, test], context);
            var again = d.Split(a, b, rest, seed, stratify: true);
            TestData.Ids(again.Dev).Should().Equal(TestData.Ids(dev), "the same seed gives the same split");

            // By count, leaving rows out: the left-out rows are a fourth part, proportional too.
            int nTrain = r.NextInt(m + 1), nDev = r.NextInt(m - nTrain + 1), nTest = r.NextInt(m - nTrain - nDev + 1);
            var byCount = d.SplitByCount(nTrain, nDev, nTest, seed, stratify: true);
            new[] { byCount.Train.Count, byCount.Dev.Count, byCount.Test.Count }.Should().Equal(nTrain, nDev, nTest);
            CheckStratified(d, labels, classes, [byCount.Train, byCount.Dev, byCount.Test], "by count, " + context, allRows: false);
        }
    }

    [Fact]
    public void Reader_in_stored_order_yields_full_batches_then_a_partial_one()
    {
        var d = TestData.Numbered<float>(10);
        var (ids, batches) = TestData.ReadEpoch(d, 4, null);
        ids.Should().Equal(Enumerable.Range(0, 10));
        batches.Should().Equal(4, 4, 2);
    }

    [Fact]
    public void Reader_shuffled_yields_every_row_once_in_a_fresh_order_each_epoch()
    {
        var d = TestData.Numbered<double>(103);
        var random = new RandomSource(9);
        var (first, batches) = TestData.ReadEpoch(d, 16, random);
        var (second, _) = TestData.ReadEpoch(d, 16, random);
        first.Order().Should().Equal(Enumerable.Range(0, 103));
        first.Should().OnlyHaveUniqueItems();
        second.Order().Should().Equal(Enumerable.Range(0, 103));
        second.Should().NotEqual(first);
        batches.Should().Equal(16, 16, 16, 16, 16, 16, 7);
        TestData.ReadEpoch(d, 16, new RandomSource(9)).Ids.Should().Equal(first, "same seed, same order");
    }

    [Fact]
    public void Reader_keeps_targets_with_their_rows()
    {
        var d = TestData.Numbered<float>(30);
        var x = new Tensor<float>(8, 3);
        var y = new Tensor<float>(8, 3);
        using var reader = d.OpenEpoch(8, new RandomSource(1));
        int r;
        while ((r = reader.Next(x, y)) > 0)
        {
            for (int i = 0; i < r; i++)
            {
                int id = (int)x[i, 0];
                y.Row(i).ToArray().Should().Equal(d.Y.Row(id).ToArray());
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(17)]
    [InlineData(100)]
    [InlineData(784)]
    public void Shuffled_rows_are_copied_whole_at_every_width(int n)
    {
        // The gather copies eight rows at a time in 32-byte pieces, the last piece of a row overlapping the one before;
        // every width (under, at and over 32 bytes, float and double), ragged groups, and 1 and 2 threads.
        Check<float>(n);
        Check<double>(n);

        static void Check<T>(int n)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            const int count = 203;
            var d = TestData.Numbered<T>(count, n);
            foreach (int threads in new[] { 1, 2 })
            {
                foreach (int batch in new[] { 5, 8, 13, 64 })
                {
                    var bx = new Tensor<T>(batch, n);
                    var by = new Tensor<T>(batch, 3);
                    var seen = new List<int>();
                    Gemm.ThreadsOverride = threads;
                    try
                    {
                        using var reader = d.OpenEpoch(batch, new RandomSource(7));
                        int rows;
                        while ((rows = reader.Next(bx, by)) > 0)
                        {
                            for (int r = 0; r < rows; r++)
                            {
                                int id = int.CreateChecked(bx[r, 0]);
                                bx.Row(r).ToArray().Should().Equal(d.X.Row(id).ToArray(), $"row {r} of a batch of {batch}, width {n}, {threads} thread(s)");
                                by[r, id % 3].Should().Be(T.One);
                                seen.Add(id);
                            }
                        }
                    }
                    finally
                    {
                        Gemm.ThreadsOverride = 0;
                    }

                    seen.Order().Should().Equal(Enumerable.Range(0, count));
                }
            }
        }
    }

    [Fact]
    public void Reader_rejects_buffers_of_the_wrong_shape()
    {
        var d = TestData.Numbered<float>(10);
        using var reader = d.OpenEpoch(4, null);
        FluentActions.Invoking(() => reader.Next(new Tensor<float>(3, 3), new Tensor<float>(4, 3)))
            .Should().Throw<ArgumentException>().WithMessage("*at least 4 rows of 3 features*(3, 3)*");
        FluentActions.Invoking(() => reader.Next(new Tensor<float>(4, 3), new Tensor<float>(4, 1)))
            .Should().Throw<ArgumentException>().WithMessage("*3 targets*(4, 1)*");
        FluentActions.Invoking(() => d.OpenEpoch(0, null)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*received 0*");
    }

    [Fact]
    public void Reader_Next_does_not_allocate_once_warm()
    {
        var d = TestData.Numbered<float>(1000, 20, 10);
        var x = new Tensor<float>(32, 20);
        var y = new Tensor<float>(32, 10);
        using var shuffled = d.OpenEpoch(32, new RandomSource(1));
        using var ordered = d.OpenEpoch(32, null);
        TestData.AllocatedBy(() => shuffled.Next(x, y)).Should().Be(0);
        TestData.AllocatedBy(() => ordered.Next(x, y)).Should().Be(0);
    }

    [Fact]
    public void EnsureFinite_names_the_row_and_column()
    {
        var d = TestData.Numbered<float>(5);
        d.X[3, 2] = float.NaN;
        FluentActions.Invoking(d.EnsureFinite).Should().Throw<InvalidDataException>().WithMessage("*row 3, column 2*");
    }

    [Fact]
    public void ClassNames_survive_every_operation_that_returns_a_data_set()
    {
        string[] names = ["cat", "dog", "bird"];
        var d = DataSet.FromLabels(TestData.Numbered<float>(30).X, Enumerable.Range(0, 30).Select(i => i % 3).ToArray(), 3, names);
        names[0] = "changed";
        d.ClassNames.Should().Equal("cat", "dog", "bird");
        var results = new List<DataSet<float>>
        {
            d.Take(5), d.Slice(2, 4), d.Select([3, 1]), d.Shuffle(1), d.Concat(d.Take(2)),
            d.Split(0.6, 0.2, 0.2, seed: 1).Train, d.Split(0.6, 0.2, 0.2, seed: 1, stratify: true).Test,
            d.SplitByCount(10, 5, 5).Dev, Standardizer.Fit(d).Apply(d), MinMaxScaler.Fit(d).Apply(d),
        };
        foreach (var r in results)
        {
            r.ClassNames.Should().Equal("cat", "dog", "bird");
        }

        var binary = DataSet.FromLabels(new Tensor<double>(2, 1), [0, 1], 2, ["benign", "malignant"]);
        binary.ToOneHotTargets().ClassNames.Should().Equal("benign", "malignant");
        TestData.Numbered<float>(3).ClassNames.Should().BeNull("names are null when unknown");
    }

    [Fact]
    public void ClassNames_must_match_the_classes_be_distinct_and_agree_on_Concat()
    {
        var x = new Tensor<float>(2, 1);
        FluentActions.Invoking(() => DataSet.FromLabels(x, [0, 1], 2, ["a"])).Should().Throw<ArgumentException>().WithMessage("*1 names*2 classes*");
        FluentActions.Invoking(() => DataSet.FromLabels(x, [0, 1], 2, ["a", "a"])).Should().Throw<ArgumentException>().WithMessage("*\"a\" twice*");
        var a = DataSet.FromLabels(x, [0, 1], 2, ["no", "yes"]);
        var b = DataSet.FromLabels(x, [0, 1], 2, ["yes", "no"]);
        FluentActions.Invoking(() => a.Concat(b)).Should().Throw<ArgumentException>().WithMessage("*class names differ*");
        a.Concat(DataSet.FromLabels(x, [1, 0], 2)).ClassNames.Should().Equal("no", "yes");
    }

    private static void CheckStratified(DataSet<float> d, int[] labels, int classes, DataSet<float>[] parts, string context, bool allRows = true)
    {
        var total = d.ClassCounts();
        foreach (var part in parts)
        {
            var counts = part.ClassCounts();
            for (int c = 0; c < classes; c++)
            {
                double expected = part.Count * total[c] / (double)labels.Length;
                Math.Abs(counts[c] - expected).Should().BeLessThan(1, $"class {c} in a part of {part.Count} ({context})");
            }
        }

        var ids = parts.SelectMany(TestData.Ids).ToList();
        ids.Should().OnlyHaveUniqueItems(context);
        if (allRows)
        {
            ids.Order().Should().Equal(Enumerable.Range(0, labels.Length), context);
        }
        else
        {
            var left = Enumerable.Range(0, labels.Length).Except(ids).ToList();
            for (int c = 0; c < classes; c++)
            {
                double expected = left.Count * total[c] / (double)labels.Length;
                Math.Abs(left.Count(i => labels[i] == c) - expected).Should().BeLessThan(1, $"class {c} among the {left.Count} rows left out ({context})");
            }
        }
    }
}
