using static DeepLearning.Tests.Plots.SvgTestHelpers;

namespace DeepLearning.Tests.Plots;

public class LineChartTests
{
    private static readonly double[] _cost = [0.69, 0.5, 0.41, 0.33, 0.3, 0.28];
    private static readonly double[] _train = [0.6, 0.75, 0.81, 0.86, 0.9, 0.91];
    private static readonly double[] _dev = [0.58, 0.7, 0.77, 0.8, 0.82, 0.82];

    [Fact]
    public void A_subnormal_cost_still_plots()
    {
        // Was: "step must be positive and finite; received 0 (Parameter 'roughStep')".
        foreach (var cost in new[] { new[] { double.Epsilon }, [double.Epsilon, 2 * double.Epsilon], [0, double.Epsilon] })
        {
            var root = Parse(Plot.LearningCurves(cost));
            Elements(root, "circle", "point").Should().HaveCount(cost.Length);
            root.ToString().Should().NotContain("NaN").And.NotContain("Infinity");
        }

        Parse(Plot.LearningCurves([double.Epsilon], logCost: true)).Should().NotBeNull();
    }

    [Fact]
    public void Learning_curves_draw_two_panels_with_one_line_and_marker_per_value()
    {
        var root = Parse(Plot.LearningCurves(_cost, _train, _dev));

        Elements(root, "polyline", "line").Should().HaveCount(3, "cost, train and dev");
        Elements(root, "circle", "point").Should().HaveCount(18, "6 values in each of 3 series");
        Elements(root, "g", "axes").Should().HaveCount(2);
        Elements(root, "text", "title").Select(t => t.Value).Should().Equal("Learning curves", "Cost", "Accuracy");
        Elements(root, "text", "legend-label").Select(t => t.Value).Should().Equal("train", "dev");
        Elements(root, "text", "axis-title").Select(t => t.Value).Should().Contain(["cost J", "accuracy", "epoch"]);
    }

    [Fact]
    public void Learning_curves_without_metrics_draw_the_cost_alone()
    {
        var root = Parse(Plot.LearningCurves(_cost, null, [], costXLabel: "iteration", logCost: true));
        Elements(root, "polyline", "line").Should().HaveCount(1);
        Elements(root, "g", "axes").Should().HaveCount(1);
        Elements(root, "text", "title").Select(t => t.Value).Should().Equal("Learning curves");
        Elements(root, "text", "axis-title").Select(t => t.Value).Should().Equal("iteration", "cost J (log scale)");
        Elements(root, "g", "legend").Should().BeEmpty("a single series needs no legend");
    }

    [Fact]
    public void Lines_are_placed_where_the_axes_say()
    {
        var doc = new LineChart("t", "x", "y") { Markers = false }.Add("s", [0, 10], [0, 1]).ToSvg();
        var root = Parse(doc);
        var points = Elements(root, "polyline", "line").Single().Attribute("points")!.Value.Split(' ')
            .Select(p => p.Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray())
            .ToArray();
        var frame = Elements(root, "g", "axes").Single().Elements(Svg + "rect").First();
        var (left, top) = (Number(frame, "x"), Number(frame, "y"));
        var (width, height) = (Number(frame, "width"), Number(frame, "height"));

        // x spans the data plus a 3% margin each side: 0 → 0.03/1.06 of the width, 10 → 1.03/1.06.
        points[0][0].Should().BeApproximately(left + (width * 0.03 / 1.06), 0.01);
        points[1][0].Should().BeApproximately(left + (width * 1.03 / 1.06), 0.01);
        // y axis is widened to nice ticks 0 … 1: y = 0 at the bottom edge, y = 1 at the top.
        points[0][1].Should().BeApproximately(top + height, 0.01);
        points[1][1].Should().BeApproximately(top, 0.01);
    }

    [Fact]
    public void Values_near_double_MaxValue_are_drawn_inside_the_frame()
    {
        // The y range −MaxValue … MaxValue overflowed to +∞ and Plot.Lines threw ArgumentOutOfRangeException about an
        // internal 'roughStep'.
        var root = Parse(Plot.Lines("t", "x", "y", ("a", [-double.MaxValue, double.MaxValue])));
        var points = PlotPoints(root);
        var frame = Elements(root, "g", "axes").Single().Elements(Svg + "rect").First();
        var (top, height) = (Number(frame, "y"), Number(frame, "height"));
        points[0][1].Should().BeApproximately(top + height, 0.01, "−MaxValue is the bottom of the axis");
        points[1][1].Should().BeApproximately(top, 0.01, "MaxValue is the top of the axis");

        const double max = double.MaxValue;
        var charts = new (string Name, LineChart Chart)[]
        {
            ("equal extremes", new LineChart().Add("s", [max, max])),
            ("one low value", new LineChart().Add("s", [-max])),
            ("mixed", new LineChart().Add("s", [max, -max, 0, 1])),
            ("x extremes", new LineChart().Add("s", [-max, 0, max], [1, -max, 3])),
            ("x and y at the top", new LineChart().Add("s", [max / 2, max], [max, max / 3])),
            ("log y", new LineChart { LogY = true }.Add("s", [1e-300, max, 1e308])),
            ("log x", new LineChart { LogX = true }.Add("s", [double.Epsilon, 1, max], [1, 2, 3])),
            ("log 1e308", new LineChart { LogY = true }.Add("s", [1e308, 1e308])),
        };
        foreach (var (name, chart) in charts)
        {
            string svg = chart.ToSvg().ToString();
            svg.Should().NotContainAny(["NaN", "Infinity", "∞"], name);
            var r = Parse(chart.ToSvg());
            var f = Elements(r, "g", "axes").Single().Elements(Svg + "rect").First();
            var (x0, y0) = (Number(f, "x"), Number(f, "y"));
            var (x1, y1) = (x0 + Number(f, "width"), y0 + Number(f, "height"));
            var drawn = Elements(r, "circle", "point").Select(c => new[] { Number(c, "cx"), Number(c, "cy") }).ToList();
            drawn.Should().NotBeEmpty(name);
            drawn.Should().OnlyContain(p => p[0] >= x0 - 0.01 && p[0] <= x1 + 0.01 && p[1] >= y0 - 0.01 && p[1] <= y1 + 0.01, name);
        }
    }

    private static double[][] PlotPoints(System.Xml.Linq.XElement root) =>
        Elements(root, "polyline", "line").Single().Attribute("points")!.Value.Split(' ')
            .Select(p => p.Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray())
            .ToArray();

    [Fact]
    public void Non_finite_points_are_skipped_and_break_the_line()
    {
        var chart = new LineChart().Add("s", [1, double.NaN, 3, 4, double.PositiveInfinity, 2, 1]);
        var root = Parse(chart.ToSvg());
        var lines = Elements(root, "polyline", "line");
        lines.Select(l => l.Attribute("points")!.Value.Split(' ').Length).Should().Equal(2, 2);
        Elements(root, "circle", "point").Should().HaveCount(5, "the isolated first point keeps its marker");
    }

    [Fact]
    public void Isolated_points_stay_visible_without_markers()
    {
        var root = Parse(new LineChart { Markers = false }.Add("s", [1, double.NaN, 3, 4]).ToSvg());
        Elements(root, "polyline", "line").Should().HaveCount(1);
        Elements(root, "circle", "point").Should().HaveCount(1);
    }

    [Fact]
    public void Log_scale_skips_non_positive_values()
    {
        var root = Parse(new LineChart { LogY = true }.Add("s", [0.5, 0, -1, 0.1, 0.05]).ToSvg());
        Elements(root, "circle", "point").Should().HaveCount(3);
        Elements(root, "text", "tick-label").Select(t => t.Value).Should().Contain(["0.05", "0.1", "0.5"]);
    }

    [Fact]
    public void Learning_curves_of_a_diverged_run_plot_the_finite_part()
    {
        var root = Parse(Plot.LearningCurves([0.7, 0.5, double.NaN, double.NaN], [0.5, 0.6, double.NaN, double.NaN], null));
        Elements(root, "polyline", "line").Should().HaveCount(2);
    }

    [Fact]
    public void Empty_and_all_nan_inputs_get_clear_errors()
    {
        var empty = () => Plot.LearningCurves([], [0.5], [0.4]);
        empty.Should().Throw<ArgumentException>().WithMessage("cost is empty*");

        var allNan = () => Plot.LearningCurves([double.NaN, double.NaN]);
        allNan.Should().Throw<InvalidOperationException>().WithMessage("*no finite point*'cost'*");

        var noSeries = () => Plot.Lines("t", "x", "y");
        noSeries.Should().Throw<ArgumentException>().WithMessage("no series*");

        var emptySeries = () => new LineChart().Add("dev", Array.Empty<double>());
        emptySeries.Should().Throw<ArgumentException>().WithMessage("series 'dev' is empty*");

        var mismatch = () => new LineChart().Add("s", [1.0, 2.0], [1.0]);
        mismatch.Should().Throw<ArgumentException>().WithMessage("*same length*2*1*");

        var nothing = () => new LineChart("t").ToSvg();
        nothing.Should().Throw<InvalidOperationException>().WithMessage("*no series*");
    }

    [Fact]
    public void Lines_draws_each_named_series_with_its_own_colour_and_a_legend()
    {
        var root = Parse(Plot.Lines("Accuracy by α", "epoch", "accuracy", ("α = 0.1", _train), ("α = 0.01", _dev), ("α = 0.001", _cost)));
        var lines = Elements(root, "polyline", "line");
        lines.Should().HaveCount(3);
        lines.Select(l => (string?)l.Attribute("stroke")).Should().Equal(Palette.Color(0), Palette.Color(1), Palette.Color(2));
        Elements(root, "text", "legend-label").Select(t => t.Value).Should().Equal("α = 0.1", "α = 0.01", "α = 0.001");
    }

    [Fact]
    public void Tick_labels_cover_the_data_with_nice_values()
    {
        var root = Parse(Plot.Lines(null, "epoch", "cost", ("cost", _cost)));
        var labels = Elements(root, "text", "tick-label").Select(t => t.Value).ToList();
        labels.Should().Contain(["0.2", "0.7"], "y ticks step 0.1 from ≤ 0.28 to ≥ 0.69");
        labels.Should().Contain(["1", "2", "3", "4", "5", "6"], "six epochs get whole-number ticks");
    }

    [Fact]
    public void Charts_are_identical_under_a_comma_decimal_culture()
    {
        static string Build() => Plot.LearningCurves(_cost, _train, _dev, logCost: true).ToString();

        var german = WithCulture("de-DE", Build);
        german.Should().Be(WithCulture("en-US", Build));
        var root = System.Xml.Linq.XDocument.Parse(german).Root!;
        foreach (var e in root.Descendants())
        {
            foreach (var name in new[] { "x", "y", "x1", "y1", "width", "height", "r", "cx", "cy", "font-size", "stroke-width" })
            {
                if (e.Attribute(name) is { } a)
                {
                    double.TryParse(a.Value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _)
                        .Should().BeTrue($"{name}=\"{a.Value}\" must be an invariant number");
                }
            }
        }

        Elements(root, "text", "tick-label").Select(t => t.Value).Should().Contain("0.8").And.NotContain(v => v.Contains(','));
    }
}
