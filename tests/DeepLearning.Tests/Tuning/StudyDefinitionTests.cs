namespace DeepLearning.Tests.Tuning;

public class StudyDefinitionTests
{
    private static SearchSpace Space() => new SearchSpace()
        .LogUniform("learningRate", 1e-4, 1)
        .OneMinusLogUniform("beta1", 0.8, 0.999)
        .Uniform("keepProb", 0.5, 1)
        .IntRange("hidden", 8, 64)
        .Choice("activation", "relu", "tanh")
        .Choice("batch", 32, 64)
        .Choice("scale", 1.0, 2.5);

    [Fact]
    public void Every_sampler_round_trips_through_json_with_every_dimension_kind()
    {
        var options = new SearchOptions { Seed = ulong.MaxValue, Trials = 6, Rounds = 3, TopK = 2, Padding = 0.25, Goal = MetricGoal.Minimize };
        foreach (var d in new[] { StudyDefinition.Random(Space(), options), StudyDefinition.Grid(Space(), 2, options), StudyDefinition.CoarseToFine(Space(), options) })
        {
            var back = StudyDefinition.FromJson(d.ToJson());
            back.ToJson().Should().Be(d.ToJson());
            d.Differences(back).Should().BeEmpty();
            (back.Sampler, back.Seed, back.Goal).Should().Be((d.Sampler, ulong.MaxValue, MetricGoal.Minimize));
            back.Space.Select(x => x.ToString()).Should().Equal(Space().Select(x => x.ToString()));
            ((ChoiceDimension)back.Space["batch"]).Values.Should().OnlyContain(v => v.Kind == HyperparameterKind.Integer);
            ((ChoiceDimension)back.Space["scale"]).Values.Should().OnlyContain(v => v.Kind == HyperparameterKind.Real);
        }

        StudyDefinition.Grid(Space(), 2, options).TotalTrials.Should().Be(2 * 2 * 2 * 2 * 2 * 2 * 2);
        StudyDefinition.CoarseToFine(Space(), options).TotalTrials.Should().Be(18);
        StudyDefinition.Random(Space(), options).TotalTrials.Should().Be(6);
    }

    [Fact]
    public void Differences_name_the_settings_that_differ()
    {
        var a = StudyDefinition.Random(Space(), new SearchOptions { Seed = 1, Trials = 4 });
        var b = StudyDefinition.Random(new SearchSpace().LogUniform("learningRate", 1e-3, 1), new SearchOptions { Seed = 2, Trials = 4 });
        a.Differences(b).Should().Equal("seed", "space");
        a.Differences(StudyDefinition.CoarseToFine(Space(), new SearchOptions { Seed = 1, Trials = 4 })).Should().Equal("sampler", "rounds");
    }

    [Fact]
    public void Next_trials_follow_the_one_process_coarse_to_fine_round_by_round()
    {
        var options = new SearchOptions { Seed = 5, Trials = 4, Rounds = 3, TopK = 2, MaxDegreeOfParallelism = 1 };
        static TrialOutcome Objective(TrialConfig c, CancellationToken _) => new(-Math.Abs(Math.Log10(c.GetDouble("learningRate")) + 2));
        var spaces = new List<SearchSpace>();
        var oneProcess = Tuner.CoarseToFine(Space(), Objective, options, default, spaces);

        var study = StudyDefinition.CoarseToFine(Space(), options);
        var finished = new List<TrialResult>();
        for (int round = 0; round < 3; round++)
        {
            study.SpaceOfRound(round, finished).ToString().Should().Be(spaces[round].ToString());
            var next = study.NextTrials(finished);
            next.Select(t => t.Id).Should().Equal(Enumerable.Range(round * 4, 4));
            finished.AddRange(next.Select(t => new TrialResult(t, TrialStatus.Succeeded, Objective(t, default), 0)));
        }

        study.NextTrials(finished).Should().BeEmpty();
        new SearchResult(finished).ToTable(includeSeconds: false).Should().Be(oneProcess.ToTable(includeSeconds: false));
    }

    [Fact]
    public void Only_a_coarse_to_fine_study_counts_its_rounds_against_the_trial_limit()
    {
        // Random and grid studies ignore Rounds, yet Random(space, Trials = 600,000) was refused as "600000 trials × 2 rounds".
        var options = new SearchOptions { Seed = 3, Trials = 600_000 };
        var random = StudyDefinition.Random(Space(), options);
        (random.Trials, random.Rounds, random.TotalTrials).Should().Be((600_000, 1, 600_000));
        StudyDefinition.FromJson(random.ToJson()).TotalTrials.Should().Be(600_000);
        StudyDefinition.Random(Space(), options with { Trials = 1_000_000, Rounds = 7 }).TotalTrials.Should().Be(1_000_000);
        StudyDefinition.Grid(Space(), 2, options with { Trials = int.MaxValue, Rounds = int.MaxValue }).TotalTrials.Should().Be(128);

        // The limits that keep a round's trials buildable and trial ids inside an int stay.
        FluentActions.Invoking(() => StudyDefinition.Random(Space(), options with { Trials = 1_000_001 }))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("a random study runs at most 1000000 trials in all; received 1000001 trials (in its one round)*");
        FluentActions.Invoking(() => StudyDefinition.CoarseToFine(Space(), options))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("a coarse-to-fine study runs at most 1000000 trials in all; received 600000 trials × 2 rounds*");
        FluentActions.Invoking(() => StudyDefinition.Grid(Space(), 40, options))
            .Should().Throw<ArgumentException>().WithMessage("the grid would have more than 1000000 points*");
    }

    [Fact]
    public void A_definition_keeps_its_own_space_whatever_is_done_to_the_callers_or_to_the_one_it_hands_out()
    {
        // The definition kept the caller's SearchSpace: a dimension added afterwards changed its JSON, and stored trials
        // then failed the study's checks ("trial 3 … in round 0, whose trials are 0–2 (a damaged row)").
        var space = Space();
        var options = new SearchOptions { Seed = 9, Trials = 3, Rounds = 2 };
        foreach (var d in new[] { StudyDefinition.Random(space, options), StudyDefinition.Grid(space, 2, options), StudyDefinition.CoarseToFine(space, options) })
        {
            string json = d.ToJson();
            var first = d.NextTrials([]);
            d.Space.Uniform("addedLater", 0, 1);
            d.SpaceOfRound(0, []).Uniform("addedToo", 0, 1);
            d.ToJson().Should().Be(json);
            d.Space.Should().NotContain(x => x.Name == "addedLater" || x.Name == "addedToo");
            d.NextTrials([]).Select(t => t.ToJson()).Should().Equal(first.Select(t => t.ToJson()));
        }

        var study = StudyDefinition.Random(space, options);
        string before = study.ToJson();
        space.Uniform("callerAddsThis", 0, 1);
        study.ToJson().Should().Be(before);
        study.Space.Count.Should().Be(Space().Count);

        // In memory, the stored definition is the study's: the caller's space changing does not change it.
        using var storage = new InMemoryStudyStorage();
        var mine = Space();
        storage.OpenStudy("s", StudyDefinition.Random(mine, options));
        mine.Uniform("later", 0, 1);
        storage.OpenStudy("s", null).ToJson().Should().Be(before);
        var claim = storage.ClaimNext("s", "w", TimeSpan.FromMinutes(1)).Claim!;
        claim.Config.Hyperparameters.Should().NotContainKey("later");
    }

    [Fact]
    public void A_custom_dimension_or_bad_json_is_refused_clearly()
    {
        var act = () => StudyDefinition.Random(new SearchSpace().Add(new CustomDimension()));
        act.Should().Throw<ArgumentException>().WithMessage("*dimension 'custom' is a CustomDimension, which a study cannot store*");
        var bad = () => StudyDefinition.FromJson("""{"sampler":"random","goal":"maximize","space":[{"name":"x","kind":"spiral"}],"seed":1,"trials":1,"rounds":1,"topK":1,"padding":0.1}""");
        bad.Should().Throw<FormatException>().WithMessage("*unknown kind \"spiral\"*");
        var notJson = () => StudyDefinition.FromJson("{");
        notJson.Should().Throw<FormatException>();
    }

    [Theory]
    [InlineData(50_000_000)]
    [InlineData(int.MaxValue)]
    public void An_oversized_grid_in_json_is_refused_before_its_points_are_built(int gridPoints)
    {
        // Used to build every axis first: 2.4 GB for 50 000 000 points, OutOfMemoryException for 2^31 − 1.
        string json = StudyDefinition.Grid(new SearchSpace().Uniform("a", 0, 1).Uniform("b", 0, 1), 3).ToJson().Replace("\"gridPoints\":3", $"\"gridPoints\":{gridPoints}");
        long before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => StudyDefinition.FromJson(json);
        act.Should().Throw<FormatException>().WithMessage($"not a valid study definition: the grid would have more than 1000000 points ({gridPoints} × {gridPoints} over [a, b])*");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);

        var zero = () => StudyDefinition.FromJson(json.Replace($"\"gridPoints\":{gridPoints}", "\"gridPoints\":0"));
        zero.Should().Throw<FormatException>().WithMessage("*the number of grid points of dimension 'a' must be at least 1; received 0*");
    }

    [Fact]
    public void A_choice_or_small_int_range_keeps_its_few_values_whatever_the_grid_points()
    {
        // A choice ignores the count and an int range has only so many integers: a huge count is not a huge grid.
        var space = new SearchSpace().Choice("act", "relu", "tanh").IntRange("layers", 1, 3);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var grid = space.GridTrials(int.MaxValue, searchSeed: 1);
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
        grid.Select(t => (t.GetString("act"), t.GetInt("layers"))).Should().Equal(
            ("relu", 1), ("relu", 2), ("relu", 3), ("tanh", 1), ("tanh", 2), ("tanh", 3));
    }

    [Fact]
    public void Outcomes_round_trip_through_json_with_non_finite_values()
    {
        var o = new TrialOutcome(0.875)
        {
            TrainMetric = double.NaN,
            Epochs = 3,
            Extras = new Dictionary<string, double> { ["cost"] = double.PositiveInfinity, ["test"] = 0.5 },
            DevMetricPerEpoch = [0.5, double.NaN, 0.875, double.PositiveInfinity, double.NegativeInfinity],
        };
        var back = TrialOutcome.FromJson(o.ToJson());
        back.DevMetric.Should().Be(0.875);
        back.TrainMetric.Should().Be(double.NaN);
        back.Epochs.Should().Be(3);
        back.Extras.Should().Equal(o.Extras);
        back.DevMetricPerEpoch.Should().Equal(0.5, double.NaN, 0.875, double.PositiveInfinity, double.NegativeInfinity);
    }

    [Theory]
    [InlineData("""{"devMetric":1,"devMetricPerEpoch":["Infinity","-Infinity",null,2]}""", null)]
    [InlineData("""{"devMetric":1,"devMetricPerEpoch":["inf"]}""", "*\"devMetricPerEpoch\" holds \"inf\"*")]
    public void A_per_epoch_value_is_a_number_null_or_an_infinity(string json, string? error)
    {
        var read = () => TrialOutcome.FromJson(json);
        if (error is null)
        {
            read().DevMetricPerEpoch.Should().Equal(double.PositiveInfinity, double.NegativeInfinity, double.NaN, 2);
        }
        else
        {
            read.Should().Throw<FormatException>().WithMessage(error);
        }
    }

    private sealed class CustomDimension() : Dimension("custom")
    {
        public override HyperparameterValue Sample(RandomSource random) => 1;

        public override IReadOnlyList<HyperparameterValue> GridPoints(int count) => [1];

        public override Dimension ShrinkAround(IReadOnlyList<HyperparameterValue> values, double padding) => this;

        public override bool Contains(HyperparameterValue value) => true;

        public override string ToString() => "custom";
    }
}
