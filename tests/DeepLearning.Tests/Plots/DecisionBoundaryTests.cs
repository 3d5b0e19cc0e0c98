using static DeepLearning.Tests.Plots.SvgTestHelpers;

namespace DeepLearning.Tests.Plots;

public class DecisionBoundaryTests
{
    // Four corners of the unit square; with margin 0 the grid covers exactly [0, 1]².
    private static readonly Tensor<double> _corners = Tensor.FromArray(new double[,] { { 0, 0 }, { 1, 0 }, { 0, 1 }, { 1, 1 } });
    private static readonly int[] _cornerLabels = [1, 0, 1, 0];

    [Fact]
    public void Classifier_is_called_once_with_the_whole_grid_of_cell_centres()
    {
        var calls = new List<int[]>();
        Tensor<double>? seen = null;
        const int resolution = 20;
        Plot.DecisionBoundary(_corners, _cornerLabels, g =>
        {
            calls.Add(g.Shape);
            seen = g.Clone();
            return new int[g.RowCount];
        }, resolution, margin: 0);

        calls.Should().ContainSingle().Which.Should().Equal(resolution * resolution, 2);
        // Row r = j·res + i is the centre of cell (i, j): x₁ = (i + 0.5)/20, x₂ = 1 − (j + 0.5)/20 (top row first).
        seen![0, 0].Should().BeApproximately(0.025, 1e-12);
        seen[0, 1].Should().BeApproximately(0.975, 1e-12);
        seen[1, 0].Should().BeApproximately(0.075, 1e-12);
        seen[(resolution * resolution) - 1, 0].Should().BeApproximately(0.975, 1e-12);
        seen[(resolution * resolution) - 1, 1].Should().BeApproximately(0.025, 1e-12);
        seen[resolution, 1].Should().BeApproximately(0.925, 1e-12);
    }

    [Fact]
    public void Default_grid_is_resolution_squared_by_two_with_float_inputs()
    {
        var x = Tensor.FromArray(new float[,] { { -2, 3 }, { 4, -1 }, { 0.5f, 0.5f } });
        var shapes = new List<int[]>();
        Plot.DecisionBoundary(x, [0, 1, 2], g =>
        {
            shapes.Add(g.Shape);
            return new int[g.RowCount];
        });
        shapes.Should().ContainSingle().Which.Should().Equal(200 * 200, 2);
    }

    [Fact]
    public void Regions_are_merged_into_one_rectangle_per_run_and_points_drawn_per_example()
    {
        // Class 1 where x₁ < 0.25: cells i = 0…4 of each row (centres 0.025 … 0.225); class 0 (the majority) elsewhere.
        const int resolution = 20;
        var root = Parse(Plot.DecisionBoundary(
            _corners, _cornerLabels, g => [.. Enumerable.Range(0, g.RowCount).Select(r => g[r, 0] < 0.25 ? 1 : 0)], resolution, margin: 0));

        var background = Elements(root, "rect", "region-background").Single();
        ((string?)background.Attribute("fill")).Should().Be(Palette.Tint(Palette.Color(0), 0.3));
        var runs = Elements(root, "rect", "region");
        runs.Should().HaveCount(resolution, "one run of class 1 per grid row");
        var cellWidth = Number(background, "width") / resolution;
        foreach (var run in runs)
        {
            Number(run, "x").Should().BeApproximately(Number(background, "x"), 0.01);
            Number(run, "width").Should().BeApproximately(5 * cellWidth, 0.02);
            ((string?)run.Attribute("fill")).Should().Be(Palette.Tint(Palette.Color(1), 0.3));
        }

        var points = Elements(root, "circle", "point");
        points.Should().HaveCount(4);
        points.Select(p => (string?)p.Attribute("fill")).Should().Equal(Palette.Color(1), Palette.Color(0), Palette.Color(1), Palette.Color(0));
        points.Should().OnlyContain(p => p.Attribute("stroke") != null, "points carry an outline");
        Elements(root, "text", "legend-label").Select(t => t.Value).Should().Equal("class 0", "class 1");
    }

    [Fact]
    public void Checkerboard_of_three_classes_counts_every_non_background_run()
    {
        const int resolution = 9;
        int Classify(double a, double b) => ((int)(a * 3) + (int)(b * 3)) % 3;
        var root = Parse(Plot.DecisionBoundary(
            _corners, [0, 1, 2, 0], g => [.. Enumerable.Range(0, g.RowCount).Select(r => Classify(g[r, 0], g[r, 1]))],
            resolution, classNames: ["a", "b", "c"], margin: 0));

        // Every row has three runs of three cells, one of each class; with a tie the background is one class, so two runs per row remain.
        Elements(root, "rect", "region").Should().HaveCount(2 * resolution);
        Elements(root, "text", "legend-label").Select(t => t.Value).Should().Equal("a", "b", "c");
    }

    [Fact]
    public void Bad_inputs_get_clear_errors()
    {
        static int[] Zeros(Tensor<double> g) => new int[g.RowCount];

        var wrongShape = () => Plot.DecisionBoundary(new Tensor<double>(4, 3), [0, 0, 0, 0], Zeros);
        wrongShape.Should().Throw<ArgumentException>().WithMessage("*(m, 2)*(4, 3)*");

        var wrongLabels = () => Plot.DecisionBoundary(_corners, [0, 1], Zeros);
        wrongLabels.Should().Throw<ArgumentException>().WithMessage("*one entry per row*4*2*");

        var negative = () => Plot.DecisionBoundary(_corners, [0, -1, 0, 0], Zeros);
        negative.Should().Throw<ArgumentException>().WithMessage("*labels[1] is -1*");

        var nan = _corners.Clone();
        nan[2, 1] = double.NaN;
        var nanInput = () => Plot.DecisionBoundary(nan, _cornerLabels, Zeros);
        nanInput.Should().Throw<ArgumentException>().WithMessage("*row 2*NaN*");

        var shortAnswer = () => Plot.DecisionBoundary(_corners, _cornerLabels, _ => [0, 1], resolution: 10);
        shortAnswer.Should().Throw<InvalidOperationException>().WithMessage("*(100)*received 2*");

        var badClass = () => Plot.DecisionBoundary(_corners, _cornerLabels, g => [.. Enumerable.Repeat(-3, g.RowCount)], resolution: 10);
        badClass.Should().Throw<InvalidOperationException>().WithMessage("*negative class -3*");

        var badResolution = () => Plot.DecisionBoundary(_corners, _cornerLabels, Zeros, resolution: 1);
        badResolution.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*[2, 2000]*1*");

        var fewNames = () => Plot.DecisionBoundary(_corners, _cornerLabels, Zeros, resolution: 10, classNames: ["only one"]);
        fewNames.Should().Throw<ArgumentException>().WithMessage("*all 2 classes*1*");
    }

    [Fact]
    public void Identical_points_still_get_a_non_empty_grid()
    {
        var same = Tensor.FromArray(new double[,] { { 3, 3 }, { 3, 3 } });
        var root = Parse(Plot.DecisionBoundary(same, [0, 1], g =>
        {
            g[0, 0].Should().BeLessThan(3);
            g[g.RowCount - 1, 0].Should().BeGreaterThan(3);
            return new int[g.RowCount];
        }, resolution: 10));
        Elements(root, "circle", "point").Should().HaveCount(2);
    }

    [Fact]
    public void Legend_lists_only_the_classes_that_occur_even_with_huge_indices()
    {
        // Was one legend entry per index below the largest: 10⁹ entries (hang, then out of memory).
        var root = Parse(Plot.DecisionBoundary(_corners, [0, 1_000_000_000, 0, 1_000_000_000], g => new int[g.RowCount], resolution: 10));
        Elements(root, "text", "legend-label").Select(t => t.Value).Should().Equal("class 0", "class 1000000000");

        // classify answering int.MaxValue: `predicted + 1` overflowed and the class silently had no legend entry.
        root = Parse(Plot.DecisionBoundary(_corners, _cornerLabels, g => [.. Enumerable.Range(0, g.RowCount).Select(r => r % 2 == 0 ? int.MaxValue : 0)], resolution: 10));
        Elements(root, "text", "legend-label").Select(t => t.Value).Should().Equal("class 0", "class 1", $"class {int.MaxValue}");

        var unnamedIntMax = () => Plot.DecisionBoundary(_corners, _cornerLabels, g => [.. Enumerable.Repeat(int.MaxValue, g.RowCount)], resolution: 10, classNames: ["a", "b"]);
        unnamedIntMax.Should().Throw<ArgumentException>().WithParameterName("classNames").WithMessage($"*all 2147483648 classes*{int.MaxValue}*received 2*");
    }

    [Fact]
    public void Too_many_distinct_classes_without_names_are_refused()
    {
        var x = new Tensor<double>(1001, 2);
        for (var i = 0; i < 1001; i++)
        {
            x[i, 0] = i;
            x[i, 1] = i % 7;
        }

        int[] labels = [.. Enumerable.Range(0, 1001)];
        var tooMany = () => Plot.DecisionBoundary(x, labels, g => new int[g.RowCount], resolution: 10);
        tooMany.Should().Throw<ArgumentException>().WithParameterName("labels").WithMessage("*1001 distinct classes*at most 1000*classNames*");

        // 1000 label classes plus one more from classify.
        labels[1000] = 0;
        var viaClassify = () => Plot.DecisionBoundary(x, labels, g => [.. Enumerable.Repeat(5000, g.RowCount)], resolution: 10);
        viaClassify.Should().Throw<InvalidOperationException>().WithMessage("*1001 distinct classes*largest 5000*at most 1000*");

        // Exactly 1000 is fine; with names the limit does not apply.
        Plot.DecisionBoundary(x, labels, g => new int[g.RowCount], resolution: 10).Should().NotBeNull();
        labels[1000] = 1000;
        var names = Enumerable.Range(0, 1001).Select(i => $"c{i}").ToArray();
        Plot.DecisionBoundary(x, labels, g => new int[g.RowCount], resolution: 10, classNames: names).Should().NotBeNull();
    }

    [Fact]
    public void Identical_subnormal_points_render()
    {
        // The 20% pad of 5e-324 underflowed to 0: Axis threw "step must be positive … (Parameter 'roughStep')".
        var tiny = Tensor.FromArray(new double[,] { { double.Epsilon, double.Epsilon }, { double.Epsilon, double.Epsilon } });
        Tensor<double>? grid = null;
        var root = Parse(Plot.DecisionBoundary(tiny, [0, 1], g =>
        {
            grid = g.Clone();
            return new int[g.RowCount];
        }, resolution: 10));
        Elements(root, "circle", "point").Should().HaveCount(2);
        grid![0, 0].Should().BeLessThan(double.Epsilon);
        grid[grid.RowCount - 1, 0].Should().BeGreaterThan(double.Epsilon);

        var nearby = Tensor.FromArray(new double[,] { { double.Epsilon, 0 }, { 3 * double.Epsilon, -double.Epsilon } });
        Parse(Plot.DecisionBoundary(nearby, [0, 1], g => new int[g.RowCount], resolution: 10)).Should().NotBeNull();

        var tinyFloat = Tensor.FromArray(new float[,] { { float.Epsilon, float.Epsilon }, { float.Epsilon, float.Epsilon } });
        var distinct = 0;
        Plot.DecisionBoundary(tinyFloat, [0, 0], g =>
        {
            distinct = Enumerable.Range(0, g.RowCount).Select(r => g[r, 0]).Distinct().Count();
            return new int[g.RowCount];
        }, resolution: 10);
        distinct.Should().Be(10, "the grid points stay distinct in float");
    }

    [Fact]
    public void Data_too_wide_to_pad_is_refused_naming_x()
    {
        var wide = Tensor.FromArray(new double[,] { { -double.MaxValue, 0 }, { double.MaxValue, 1 } });
        var act = () => Plot.DecisionBoundary(wide, [0, 1], g => new int[g.RowCount], resolution: 10);
        act.Should().Throw<ArgumentException>().WithParameterName("x").WithMessage("*too wide*");
    }

    [Fact]
    public void Output_is_the_same_under_a_comma_decimal_culture()
    {
        string Build() => Plot.DecisionBoundary(
            _corners, _cornerLabels, g => [.. Enumerable.Range(0, g.RowCount).Select(r => g[r, 0] + g[r, 1] > 1.1 ? 1 : 0)], 30).ToString();
        WithCulture("de-DE", Build).Should().Be(WithCulture("en-US", Build));
    }
}
