using static DeepLearning.Tests.Plots.SvgTestHelpers;

namespace DeepLearning.Tests.Tuning;

public class SearchPlotsTests
{
    private static TrialResult Row(int id, double dev, double learningRate, double beta1, string activation, int round = 0) =>
        new(new TrialConfig(id, round, (ulong)id, [new("learningRate", learningRate), new("beta1", beta1), new("activation", activation)]),
            TrialStatus.Succeeded, new TrialOutcome(dev), 1);

    private static readonly SearchSpace _space = new SearchSpace()
        .LogUniform("learningRate", 1e-4, 1)
        .OneMinusLogUniform("beta1", 0.9, 0.999)
        .Choice("activation", "relu", "tanh");

    private static SearchResult Result() => new(
    [
        Row(0, 0.70, 1e-4, 0.9, "relu"),
        Row(1, 0.90, 1e-2, 0.99, "tanh"),
        Row(2, 0.80, 1, 0.999, "relu"),
        new TrialResult(new TrialConfig(3, 0, 3, [new("learningRate", 0.5), new("beta1", 0.95), new("activation", "relu")]), TrialStatus.Failed, null, 1, "boom"),
        Row(4, 0.95, 1e-3, 0.95, "tanh", round: 1),
    ]);

    [Fact]
    public void Best_so_far_is_the_running_max_or_min()
    {
        // Hand-computed.
        SearchPlots.BestSoFarValues([0.7, 0.9, 0.8, 0.95], MetricGoal.Maximize).Should().Equal(0.7, 0.9, 0.9, 0.95);
        SearchPlots.BestSoFarValues([0.5, 0.7, 0.3, 0.4], MetricGoal.Minimize).Should().Equal(0.5, 0.5, 0.3, 0.3);
        SearchPlots.BestSoFarValues([], MetricGoal.Maximize).Should().BeEmpty();
    }

    [Fact]
    public void Best_so_far_plot_has_a_dot_per_succeeded_trial_and_a_never_worse_line()
    {
        var root = Parse(SearchPlots.BestSoFar(Result(), "dev accuracy"));
        var line = Elements(root, "polyline", "line").Single();
        var ys = line.Attribute("points")!.Value.Split(' ').Select(p => double.Parse(p.Split(',')[1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        ys.Should().HaveCount(4, "trials 0, 1, 2 and 4 succeeded");
        ys.Should().BeInDescendingOrder("a larger accuracy is higher up, i.e. a smaller SVG y, and the best never gets worse");
        ys[1].Should().Be(ys[2], "trial 2 did not beat trial 1");
        Elements(root, "circle", "point").Should().HaveCount(8, "a dot per trial and a marker per best-so-far point");
        Elements(root, "text", "legend-label").Select(t => t.Value).Should().Equal("trial", "best so far");
    }

    [Fact]
    public void A_log_uniform_hyperparameter_is_plotted_on_a_log_axis()
    {
        var root = Parse(SearchPlots.MetricVersus(Result(), _space["learningRate"]));
        var xs = Elements(root, "circle", "point").Select(c => Number(c, "cx")).ToList();
        xs.Should().HaveCount(4);

        // 1e-4, 1e-2, 1 (round 0) are evenly spaced on a log axis; 1e-3 (round 1) sits halfway between the first two.
        (xs[1] - xs[0]).Should().BeApproximately(xs[2] - xs[1], 0.01);
        xs[3].Should().BeApproximately((xs[0] + xs[1]) / 2, 0.01);
        Elements(root, "text", "tick-label").Select(t => t.Value).Should().Contain(["0.001", "0.01", "0.1", "1"]);
        Elements(root, "text", "axis-title").Select(t => t.Value).Should().Contain("learningRate (log scale)");
        Elements(root, "text", "legend-label").Select(t => t.Value).Should().Equal("round 0", "round 1");
    }

    [Fact]
    public void Beta_is_plotted_as_one_minus_beta_on_a_log_axis_and_text_choices_by_index()
    {
        var beta = Parse(SearchPlots.MetricVersus(Result(), _space["beta1"]));
        Elements(beta, "text", "axis-title").Select(t => t.Value).Should().Contain("1 − beta1 (log scale)");
        var xs = Elements(beta, "circle", "point").Select(c => Number(c, "cx")).ToList();
        // 1 − β = 0.1, 0.01, 0.001: evenly spaced, decreasing.
        (xs[0] - xs[1]).Should().BeApproximately(xs[1] - xs[2], 0.01);
        xs[0].Should().BeGreaterThan(xs[1]);

        var choice = Parse(SearchPlots.MetricVersus(Result(), _space["activation"]));
        Elements(choice, "text", "axis-title").Select(t => t.Value).Should().Contain("activation (0 = relu, 1 = tanh)");
    }

    [Fact]
    public void The_report_writes_one_file_per_dimension_and_needs_a_succeeded_trial()
    {
        string folder = Path.Combine(Path.GetTempPath(), "search-plots-" + Guid.NewGuid().ToString("N"));
        try
        {
            var files = SearchPlots.SaveReport(Result(), _space, folder);
            files.Select(Path.GetFileName).Should().Equal("best-so-far.svg", "dev-vs-learningRate.svg", "dev-vs-beta1.svg", "dev-vs-activation.svg");
            files.Should().OnlyContain(f => File.ReadAllText(f).Contains("<svg", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }

        var failed = new SearchResult([new TrialResult(new TrialConfig(0, 0, 0, [new("learningRate", 0.1)]), TrialStatus.Failed, null, 0, "x")]);
        var act = () => SearchPlots.BestSoFar(failed);
        act.Should().Throw<InvalidOperationException>().WithMessage("*no trial of the search succeeded*");
    }

    [Fact]
    public void Dimensions_whose_file_names_collide_ignoring_case_get_distinct_files()
    {
        // "learning rate" and "learning_rate" both gave dev-vs-learning_rate.svg (one file, one plot lost), and "LR"
        // and "lr" are one file on Windows and macOS. "learning_rate-2" is taken by a dimension, so the next is -3.
        string[] names = ["learning rate", "learning_rate", "LR", "lr", "learning_rate-2", "learning?rate"];
        var space = new SearchSpace();
        foreach (var (n, i) in names.Select((n, i) => (n, i)))
        {
            space.Uniform(n, 0, i + 1);
        }

        var trial = new TrialConfig(0, 0, 0, names.Select((n, i) => new KeyValuePair<string, HyperparameterValue>(n, 0.5 * (i + 1))));
        var result = new SearchResult([new TrialResult(trial, TrialStatus.Succeeded, new TrialOutcome(0.9), 1)]);
        string folder = Path.Combine(Path.GetTempPath(), "search-plots-" + Guid.NewGuid().ToString("N"));
        try
        {
            var files = SearchPlots.SaveReport(result, space, folder);
            files.Select(Path.GetFileName).Should().Equal(
                "best-so-far.svg",
                "dev-vs-learning_rate.svg",
                "dev-vs-learning_rate-2.svg",
                "dev-vs-LR.svg",
                "dev-vs-lr-2.svg",
                "dev-vs-learning_rate-2-2.svg",
                "dev-vs-learning_rate-3.svg");
            Directory.GetFiles(folder).Should().HaveCount(files.Count, "no plot overwrote another");
            for (int i = 0; i < names.Length; i++)
            {
                File.ReadAllText(files[i + 1]).Should().Contain($"dev metric against {names[i]}", "each file holds its own dimension's plot");
            }

            // The same space gives the same names.
            SearchPlots.SaveReport(result, space, folder).Should().Equal(files);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void A_log_x_scatter_places_points_by_log10_and_skips_non_positive_x()
    {
        var root = Parse(new LineChart { LogX = true }.AddScatter("s", [0.001, 0.01, 0.1, 0, -1], [1, 2, 3, 4, 5]).ToSvg());
        Elements(root, "polyline", "line").Should().BeEmpty("a scatter series has no line");
        var xs = Elements(root, "circle", "point").Select(c => Number(c, "cx")).ToList();
        xs.Should().HaveCount(3);
        (xs[1] - xs[0]).Should().BeApproximately(xs[2] - xs[1], 0.01);
    }
}
