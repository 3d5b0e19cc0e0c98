
namespace DeepLearning.Tests.Tuning;

public class SearchResultTests
{
    private static TrialConfig Config(int id, double lr, int hidden, string act, int round = 0) =>
        new(id, round, (ulong)(100 + id), new Dictionary<string, HyperparameterValue> { ["lr"] = lr, ["hidden"] = hidden, ["act"] = act });

    private static SearchResult Table() => new(
        [
            new TrialResult(Config(0, 0.01, 64, "relu"), TrialStatus.Succeeded, new TrialOutcome(0.91) { TrainMetric = 0.95, Epochs = 30 }, 1.5),
            new TrialResult(Config(1, 0.001, 100, "tanh"), TrialStatus.Failed, null, 0.25, "InvalidOperationException: cost is NaN, at epoch 2"),
            new TrialResult(Config(2, 0.0031622776601683794, 80, "relu", round: 1), TrialStatus.Succeeded, new TrialOutcome(0.96) { TrainMetric = 0.99, Epochs = 42, Extras = new Dictionary<string, double> { ["test"] = 0.955 } }, 12.25),
            new TrialResult(Config(3, 0.1, 50, "tanh"), TrialStatus.Cancelled, null, 0.5, "OperationCanceledException: stopped"),
            new TrialResult(Config(4, 0.3, 50, "tanh"), TrialStatus.Succeeded, new TrialOutcome(0.91) { Epochs = 5 }, 0.75),
        ],
        MetricGoal.Maximize,
        StopReason.TimeBudget,
        TimeSpan.FromSeconds(14),
        skippedTrials: 7);

    [Fact]
    public void Rows_are_sorted_best_first_with_ties_by_id_then_unsuccessful_rows()
    {
        var table = Table();
        table.Trials.Select(t => t.Id).Should().Equal(2, 0, 4, 1, 3);
        table.Best.Id.Should().Be(2);
        table.Top(2).Select(t => t.Id).Should().Equal(2, 0);
        table.Top(10).Should().HaveCount(3);
        table.Unsuccessful.Select(t => t.Id).Should().Equal(1, 3);
    }

    [Fact]
    public void Printed_results_read_the_same_in_every_culture()
    {
        string Print()
        {
            var table = Table();
            return table + "\n" + table.Best;
        }

        string invariant;
        var saved = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            System.Globalization.CultureInfo.CurrentCulture = System.Globalization.CultureInfo.InvariantCulture;
            invariant = Print();
            foreach (string name in new[] { "de-DE", "fr-FR", "fa-IR", "he-IL" })
            {
                System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo(name);
                // The summary line's seconds and a row's dev metric used the current culture beside invariant hyperparameters ("0.001 …: dev 0,96").
                Print().Should().Be(invariant, name);
            }
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = saved;
        }

        invariant.Should().Contain("14.0 s").And.Contain(": dev 0.96, train 0.99, 42 epochs, 12.25 s");
    }

    [Fact]
    public void The_printed_table_is_aligned_and_complete()
    {
        string text = Table().ToTable();
        string[] lines = text.TrimEnd('\n').Split('\n');
        lines.Should().HaveCount(6);
        lines[0].Should().Be("rank  id  round        lr  hidden  act    dev  train  epochs  seconds   test  status");
        lines[1].Should().Be("   1   2      1  0.003162      80  relu  0.96   0.99      42    12.25  0.955  ok");
        lines[2].Should().Be("   2   0      0      0.01      64  relu  0.91   0.95      30     1.50         ok");
        lines[3].Should().Be("   3   4      0       0.3      50  tanh  0.91              5     0.75         ok");
        lines[4].Should().Be("   -   1      0     0.001     100  tanh                          0.25         failed: InvalidOperationException: cost is NaN, at epoch 2");
        lines[5].Should().Be("   -   3      0       0.1      50  tanh                          0.50         cancelled");

        Table().ToTable(maxRows: 2, includeSeconds: false).Should().NotContain("seconds").And.EndWith("… 3 more rows\n");
        Table().ToString().Should().Contain("5 trials (3 succeeded, 2 failed or cancelled, 7 not started)").And.Contain("TimeBudget");
    }

    [Fact]
    public void Csv_has_every_column_exact_numbers_and_quotes_where_needed()
    {
        string[] lines = Table().ToCsv().TrimEnd('\n').Split('\n');
        lines[0].Should().Be("rank,id,round,seed,lr,hidden,act,dev_metric,train_metric,epochs,seconds,test,status,error");
        lines[1].Should().Be("1,2,1,102,0.0031622776601683794,80,relu,0.96,0.99,42,12.25,0.955,succeeded,");
        lines[3].Should().Be("3,4,0,104,0.3,50,tanh,0.91,,5,0.75,,succeeded,");
        lines[4].Should().Be(",1,0,101,0.001,100,tanh,,,,0.25,,failed,\"InvalidOperationException: cost is NaN, at epoch 2\"");
    }

    [Fact]
    public void Csv_and_json_files_are_written_atomically_and_json_loads_back()
    {
        string folder = Path.Combine(Path.GetTempPath(), "dl-tuning-" + Guid.NewGuid().ToString("N"));
        try
        {
            string csv = Path.Combine(folder, "results.csv");
            string json = Path.Combine(folder, "results.json");
            File.WriteAllText(Path.Combine(Directory.CreateDirectory(folder).FullName, "results.csv"), "old");
            var table = Table();
            table.SaveCsv(csv);
            table.Save(json);
            File.ReadAllText(csv).Should().Be(table.ToCsv());
            Directory.GetFiles(folder).Select(Path.GetFileName).Order().Should().Equal("results.csv", "results.json"); // no temp files left

            var back = SearchResult.Load(json);
            back.ToCsv().Should().Be(table.ToCsv());
            back.Goal.Should().Be(MetricGoal.Maximize);
            back.StopReason.Should().Be(StopReason.TimeBudget);
            back.SkippedTrials.Should().Be(7);
            back.Elapsed.Should().Be(TimeSpan.FromSeconds(14));
            back.Trials[0].Outcome!.Extras["test"].Should().Be(0.955);
            back.Trials[2].TrainMetric.Should().Be(double.NaN);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Merge_deduplicates_identical_trials_preferring_a_success_and_checks_goals()
    {
        var failed = new TrialResult(Config(9, 0.02, 60, "relu"), TrialStatus.Failed, null, 1, "IOException: disk full");
        var succeeded = new TrialResult(Config(9, 0.02, 60, "relu"), TrialStatus.Succeeded, new TrialOutcome(0.97), 2);
        var merged = SearchResult.Merge(Table(), new SearchResult([failed]), new SearchResult([succeeded]));
        merged.Trials.Should().HaveCount(6);
        merged.Best.Should().BeSameAs(succeeded);
        merged.StopReason.Should().Be(StopReason.TimeBudget);
        merged.SkippedTrials.Should().Be(7);

        var minimize = new SearchResult([succeeded], MetricGoal.Minimize);
        FluentActions.Invoking(() => Table().Merge(minimize)).Should().Throw<ArgumentException>().WithMessage("*Maximize and Minimize*");
    }

    [Fact]
    public void Per_epoch_dev_metrics_survive_json_save_load_and_merge()
    {
        // ToJson used to leave them out, so FromJson, Load and a merge of loaded results gave empty curves.
        double[] curve = [0.5, 0.75, double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0.0, double.MaxValue, double.Epsilon];
        var row = new TrialResult(Config(7, 0.02, 60, "relu"), TrialStatus.Succeeded, new TrialOutcome(0.75) { DevMetricPerEpoch = curve }, 1);
        var two = new TrialResult(Config(8, 0.02, 61, "relu"), TrialStatus.Succeeded, new TrialOutcome(0.5) { DevMetricPerEpoch = [0.25, 0.5] }, 1);
        var back = SearchResult.FromJson(new SearchResult([row, two]).ToJson());
        back.Trials[0].Outcome!.DevMetricPerEpoch.Select(BitConverter.DoubleToInt64Bits).Should().Equal(curve.Select(BitConverter.DoubleToInt64Bits));
        back.Trials[1].Outcome!.DevMetricPerEpoch.Should().Equal(0.25, 0.5);

        string path = Path.Combine(Path.GetTempPath(), $"dl-curve-{Guid.NewGuid():N}.json");
        try
        {
            new SearchResult([two]).Save(path);
            var merged = SearchResult.Merge(SearchResult.Load(path), SearchResult.FromJson(new SearchResult([row]).ToJson()));
            merged.Trials.Single(t => t.Id == 8).Outcome!.DevMetricPerEpoch.Should().Equal(0.25, 0.5);
            merged.Trials.Single(t => t.Id == 7).Outcome!.DevMetricPerEpoch.Should().HaveCount(curve.Length);
            SearchResult.FromJson(merged.ToJson()).ToJson().Should().Be(merged.ToJson());
        }
        finally
        {
            File.Delete(path);
        }

        // A file written before the field existed still loads, with empty curves.
        string old = Table().ToJson().Replace(",\"devMetricPerEpoch\":[]", "", StringComparison.Ordinal);
        old.Should().NotContain("devMetricPerEpoch");
        var fromOld = SearchResult.FromJson(old);
        fromOld.ToCsv().Should().Be(Table().ToCsv());
        fromOld.Succeeded.Should().OnlyContain(t => t.Outcome!.DevMetricPerEpoch.Count == 0);
    }

    [Theory]
    [InlineData("[true]", "*\"devMetricPerEpoch\" holds a JSON True at index 0*")]
    [InlineData("[0.5,{}]", "*\"devMetricPerEpoch\" holds a JSON Object at index 1*")]
    [InlineData("[1e400]", "*\"devMetricPerEpoch\" holds 1e400 at index 0, beyond the range of a double*")]
    [InlineData("[\"NaN\"]", "*\"devMetricPerEpoch\" holds \"NaN\" at index 0*")]
    [InlineData("\"0.5\"", "*expected \"devMetricPerEpoch\" to be a JSON Array; found String*")]
    public void A_hostile_per_epoch_curve_in_a_result_is_a_format_error(string curve, string message)
    {
        string json = """{"goal":"maximize","stopReason":"Completed","elapsedSeconds":1,"skippedTrials":0,"trials":[{"config":{"id":0,"round":0,"seed":1,"hyperparameters":{}},"status":"succeeded","seconds":1,"outcome":{"devMetric":0.5,"devMetricPerEpoch":CURVE}}]}""";
        SearchResult.FromJson(json.Replace("CURVE", "[0.25]", StringComparison.Ordinal)).Best.Outcome!.DevMetricPerEpoch.Should().Equal(0.25);
        SearchResult.FromJson(json.Replace("CURVE", "null", StringComparison.Ordinal)).Best.Outcome!.DevMetricPerEpoch.Should().BeEmpty();
        FluentActions.Invoking(() => SearchResult.FromJson(json.Replace("CURVE", curve, StringComparison.Ordinal))).Should().Throw<FormatException>().WithMessage(message);
        FluentActions.Invoking(() => TrialOutcome.FromJson($$"""{"devMetric":0.5,"devMetricPerEpoch":{{curve}}}""")).Should().Throw<FormatException>().WithMessage(message);
    }

    [Fact]
    public void A_per_epoch_curve_is_bounded_in_length()
    {
        int max = TrialOutcome.MaxDevMetricPerEpochCount;
        new TrialOutcome(1) { DevMetricPerEpoch = new double[max] }.DevMetricPerEpoch.Should().HaveCount(max);
        FluentActions.Invoking(() => new TrialOutcome(1) { DevMetricPerEpoch = new double[max + 1] })
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage($"DevMetricPerEpoch holds at most {max} values; received {max + 1}*");
        FluentActions.Invoking(() => new TrialOutcome(1) { DevMetricPerEpoch = null! }).Should().Throw<ArgumentNullException>();

        string tooLong = "{\"devMetric\":1,\"devMetricPerEpoch\":[" + string.Join(',', Enumerable.Repeat("0", max + 1)) + "]}";
        FluentActions.Invoking(() => TrialOutcome.FromJson(tooLong)).Should().Throw<FormatException>().WithMessage($"*holds {max + 1} values; at most {max} are allowed*");
    }

    [Fact]
    public void Bad_result_json_gives_a_format_error()
    {
        FluentActions.Invoking(() => SearchResult.FromJson("{\"goal\":\"sideways\",\"stopReason\":\"Completed\",\"elapsedSeconds\":1,\"skippedTrials\":0,\"trials\":[]}"))
            .Should().Throw<FormatException>().WithMessage("*goal*Maximize, Minimize*sideways*");
        FluentActions.Invoking(() => SearchResult.FromJson("{\"goal\":\"maximize\"}"))
            .Should().Throw<FormatException>().WithMessage("*stopReason*");
    }
}
