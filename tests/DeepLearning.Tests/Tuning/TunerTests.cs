
namespace DeepLearning.Tests.Tuning;

public class TunerTests
{
    private static readonly SearchSpace _space = new SearchSpace()
        .LogUniform("learningRate", 1e-4, 1)
        .OneMinusLogUniform("beta1", 0.9, 0.999)
        .IntRange("hidden", 50, 100)
        .Choice("activation", "relu", "tanh");

    // A synthetic objective with a known optimum at α = 10^−2.5, hidden = 70, relu, plus seeded noise
    // that depends only on the trial's seed (as a real model's initialization would).
    private static TrialOutcome Synthetic(TrialConfig t, CancellationToken token)
    {
        double r = Math.Log10(t.GetDouble("learningRate")) + 2.5;
        double h = (t.GetInt("hidden") - 70) / 10.0;
        double act = t.GetString("activation") == "relu" ? 0 : -0.5;
        double noise = 0.01 * new RandomSource(t.Seed).NextGaussian();
        Thread.Sleep(t.Id % 3); // shuffle completion order between threads
        return new TrialOutcome(-(r * r) - (h * h) + act + noise) { TrainMetric = -(r * r), Epochs = 10 + (t.Id % 5) };
    }

    [Fact]
    public void Parallel_search_with_a_fixed_seed_gives_the_same_table_on_1_and_4_threads()
    {
        var one = Tuner.RandomSearch(_space, Synthetic, new SearchOptions { Seed = 42, Trials = 24, MaxDegreeOfParallelism = 1 });
        var four = Tuner.RandomSearch(_space, Synthetic, new SearchOptions { Seed = 42, Trials = 24, MaxDegreeOfParallelism = 4 });
        var fourAgain = Tuner.RandomSearch(_space, Synthetic, new SearchOptions { Seed = 42, Trials = 24, MaxDegreeOfParallelism = 4 });

        one.Trials.Should().HaveCount(24);
        one.StopReason.Should().Be(StopReason.Completed);
        four.ToTable(includeSeconds: false).Should().Be(one.ToTable(includeSeconds: false));
        fourAgain.ToTable(includeSeconds: false).Should().Be(one.ToTable(includeSeconds: false));
        four.Trials.Select(t => t.Config).Should().Equal(one.Trials.Select(t => t.Config));
        four.Trials.Select(t => t.DevMetric).Should().Equal(one.Trials.Select(t => t.DevMetric));

        // Best-first, and another seed gives another table.
        one.Trials.Select(t => t.DevMetric).Should().BeInDescendingOrder();
        var other = Tuner.RandomSearch(_space, Synthetic, new SearchOptions { Seed = 43, Trials = 24, MaxDegreeOfParallelism = 2 });
        other.ToTable(includeSeconds: false).Should().NotBe(one.ToTable(includeSeconds: false));
    }

    [Fact]
    public void Coarse_to_fine_narrows_the_ranges_around_the_optimum()
    {
        var spaces = new List<SearchSpace>();
        var options = new SearchOptions { Seed = 3, Trials = 30, Rounds = 3, TopK = 5, MaxDegreeOfParallelism = 2 };
        var result = Tuner.CoarseToFine(_space, Synthetic, options, spaces: spaces);

        result.Trials.Should().HaveCount(90);
        result.Trials.Select(t => t.Id).Order().Should().Equal(Enumerable.Range(0, 90));
        spaces.Should().HaveCount(3);

        double previousWidth = 4; // log10 1 − log10 1e-4
        int previousHiddenWidth = 50;
        for (int round = 1; round < 3; round++)
        {
            var lr = (LogUniformDimension)spaces[round]["learningRate"];
            double width = Math.Log10(lr.High) - Math.Log10(lr.Low);
            width.Should().BeLessThan(previousWidth);
            Math.Log10(lr.Low).Should().BeLessThan(-2.5);
            Math.Log10(lr.High).Should().BeGreaterThan(-2.5);

            var hidden = (IntRangeDimension)spaces[round]["hidden"];
            (hidden.High - hidden.Low).Should().BeLessThanOrEqualTo(previousHiddenWidth);
            hidden.Low.Should().BeLessThanOrEqualTo(70);
            hidden.High.Should().BeGreaterThanOrEqualTo(70);
            ((ChoiceDimension)spaces[round]["activation"]).Values.Should().Contain("relu");

            result.Trials.Where(t => t.Round == round).Should().OnlyContain(t => spaces[round].Contains(t.Config));
            previousWidth = width;
            previousHiddenWidth = hidden.High - hidden.Low;
        }

        previousWidth.Should().BeLessThan(2); // at least halved in two rounds

        // The fine rounds find better trials than the coarse one on average.
        double coarse = result.Trials.Where(t => t.Round == 0).Average(t => t.DevMetric);
        double fine = result.Trials.Where(t => t.Round == 2).Average(t => t.DevMetric);
        fine.Should().BeGreaterThan(coarse);
        Math.Abs(Math.Log10(result.Best.Config.GetDouble("learningRate")) + 2.5).Should().BeLessThan(0.3);

        // Reproducible whatever the thread count.
        var serial = Tuner.CoarseToFine(_space, Synthetic, options with { MaxDegreeOfParallelism = 1 });
        serial.ToTable(includeSeconds: false).Should().Be(result.ToTable(includeSeconds: false));
    }

    [Fact]
    public void Minimize_ranks_the_smallest_dev_metric_first()
    {
        var space = new SearchSpace().Uniform("x", -1, 1);
        var result = Tuner.RandomSearch(space, (t, _) => new TrialOutcome(t.GetDouble("x") * t.GetDouble("x")), new SearchOptions { Trials = 15, Goal = MetricGoal.Minimize, MaxDegreeOfParallelism = 2 });
        result.Trials.Select(t => t.DevMetric).Should().BeInAscendingOrder();
        result.Best.DevMetric.Should().Be(result.Trials.Min(t => t.DevMetric));
    }

    [Fact]
    public void Failed_trials_are_recorded_with_their_message_and_do_not_stop_the_search()
    {
        TrialOutcome Objective(TrialConfig t, CancellationToken _)
        {
            if (t.Id % 4 == 1)
            {
                throw new InvalidOperationException($"cost diverged at epoch 3 for trial {t.Id}");
            }

            return t.Id % 4 == 2 ? new TrialOutcome(double.NaN) : new TrialOutcome(t.Id);
        }

        var result = Tuner.RandomSearch(_space, Objective, new SearchOptions { Trials = 12, MaxDegreeOfParallelism = 3 });
        result.Trials.Should().HaveCount(12);
        result.Succeeded.Should().HaveCount(6);
        result.Best.Id.Should().Be(11);
        var failed = result.Unsuccessful;
        failed.Select(t => t.Id).Should().Equal(1, 2, 5, 6, 9, 10);
        failed.Should().OnlyContain(t => t.Status == TrialStatus.Failed);
        failed[0].Error.Should().Be("InvalidOperationException: cost diverged at epoch 3 for trial 1");
        failed[1].Error.Should().Contain("non-finite dev metric (NaN)");
        result.ToTable().Should().Contain("failed: InvalidOperationException: cost diverged");

        var none = Tuner.RandomSearch(_space, (_, _) => throw new ArithmeticException("boom"), new SearchOptions { Trials = 2, MaxDegreeOfParallelism = 1 });
        FluentActions.Invoking(() => none.Best).Should().Throw<InvalidOperationException>().WithMessage("*none of the 2 trials succeeded*boom*");
    }

    [Fact]
    public void A_time_budget_stops_a_search_of_slow_trials_before_all_run()
    {
        // 40 trials of up to 200 ms on 2 threads need ≥ 4 s; the budget is 0.3 s.
        TrialOutcome Slow(TrialConfig t, CancellationToken token)
        {
            token.WaitHandle.WaitOne(200);
            token.ThrowIfCancellationRequested();
            return new TrialOutcome(t.Id);
        }

        var result = Tuner.RandomSearch(_space, Slow, new SearchOptions { Trials = 40, MaxDegreeOfParallelism = 2, TimeBudget = TimeSpan.FromMilliseconds(300) });
        result.StopReason.Should().Be(StopReason.TimeBudget);
        result.SkippedTrials.Should().BeGreaterThan(0);
        (result.Trials.Count + result.SkippedTrials).Should().Be(40);
        result.Trials.Should().Contain(t => t.Status == TrialStatus.Cancelled);
        result.Trials.Count(t => t.Succeeded).Should().BeLessThan(40);
    }

    [Fact]
    public void Cancellation_returns_the_trials_finished_so_far()
    {
        using var cts = new CancellationTokenSource();
        int completed = 0;
        var options = new SearchOptions
        {
            Trials = 50,
            MaxDegreeOfParallelism = 2,
            OnTrialCompleted = _ =>
            {
                if (++completed == 3)
                {
                    cts.Cancel();
                }
            },
        };
        var result = Tuner.RandomSearch(_space, (t, token) =>
        {
            token.ThrowIfCancellationRequested();
            return new TrialOutcome(t.Id);
        }, options, cts.Token);

        result.StopReason.Should().Be(StopReason.Cancelled);
        result.Trials.Count.Should().BeInRange(3, 4); // the other worker may finish one more
        (result.Trials.Count + result.SkippedTrials).Should().Be(50);
    }

    [Fact]
    public void The_progress_callback_sees_every_trial_and_its_exceptions_surface()
    {
        var seen = new List<int>();
        Tuner.RandomSearch(_space, Synthetic, new SearchOptions { Trials = 10, MaxDegreeOfParallelism = 3, OnTrialCompleted = r => seen.Add(r.Id) });
        seen.Order().Should().Equal(Enumerable.Range(0, 10));

        var act = () => Tuner.RandomSearch(_space, Synthetic, new SearchOptions { Trials = 10, MaxDegreeOfParallelism = 2, OnTrialCompleted = _ => throw new IOException("console closed") });
        act.Should().Throw<IOException>().WithMessage("console closed");
    }

    [Fact]
    public void Artifacts_come_back_with_the_rows_but_stay_out_of_json()
    {
        var result = Tuner.RandomSearch(_space, (t, _) => new TrialOutcome(t.Id) { Artifact = $"model {t.Id}" }, new SearchOptions { Trials = 5, MaxDegreeOfParallelism = 2 });
        result.Top(3).Select(t => (string)t.Outcome!.Artifact!).Should().Equal("model 4", "model 3", "model 2");
        result.ToJson().Should().NotContain("model 4");
        SearchResult.FromJson(result.ToJson()).Best.Outcome!.Artifact.Should().BeNull();
    }

    [Fact]
    public void Grid_search_runs_every_grid_point()
    {
        var space = new SearchSpace().LogUniform("learningRate", 1e-4, 1).Choice("activation", "relu", "tanh");
        var result = Tuner.GridSearch(space, 5, (t, _) => new TrialOutcome(-Math.Abs(Math.Log10(t.GetDouble("learningRate")) + 2)), new SearchOptions { MaxDegreeOfParallelism = 2 });
        result.Trials.Should().HaveCount(10);
        result.Best.Config.GetDouble("learningRate").Should().BeApproximately(1e-2, 1e-15);
    }

    [Fact]
    public void Trials_run_elsewhere_merge_into_the_same_table()
    {
        var trials = _space.SampleTrials(20, searchSeed: 8);
        var options = new SearchOptions { MaxDegreeOfParallelism = 2 };
        var whole = Tuner.Run(trials, Synthetic, options);

        // Ship the trials as JSON to two "machines", bring the results back as JSON.
        var shipped = TrialConfig.ListFromJson(TrialConfig.ToJson(trials));
        var a = SearchResult.FromJson(Tuner.Run(shipped.Take(12).ToList(), Synthetic, options).ToJson());
        var b = SearchResult.FromJson(Tuner.Run(shipped.Skip(12).ToList(), Synthetic, options).ToJson());
        var merged = SearchResult.Merge(a, b, a); // a duplicate set adds nothing

        merged.Trials.Should().HaveCount(20);
        merged.ToTable(includeSeconds: false).Should().Be(whole.ToTable(includeSeconds: false));
    }

    [Fact]
    public void Invalid_options_are_refused_with_the_value_echoed()
    {
        FluentActions.Invoking(() => Tuner.RandomSearch(_space, Synthetic, new SearchOptions { Trials = 0 }))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*Trials must be at least 1; received 0*");
        FluentActions.Invoking(() => Tuner.RandomSearch(_space, Synthetic, new SearchOptions { MaxDegreeOfParallelism = 0 }))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*received 0*");
        FluentActions.Invoking(() => Tuner.RandomSearch(_space, Synthetic, new SearchOptions { TimeBudget = TimeSpan.Zero }))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*TimeBudget*");
        FluentActions.Invoking(() => Tuner.CoarseToFine(_space, Synthetic, new SearchOptions { Padding = 1.5 }))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*padding must be in (0, 1]; received 1.5*");
    }

    [Fact]
    public void A_time_budget_longer_than_a_timer_can_wait_runs_the_search_without_a_timer()
    {
        // CancelAfter takes at most 4,294,967,294 ms (about 49.7 days): a longer budget, TimeSpan.MaxValue included,
        // threw ArgumentOutOfRangeException about 'delay' from inside the search.
        var plain = Tuner.RandomSearch(_space, Synthetic, new SearchOptions { Seed = 5, Trials = 4, MaxDegreeOfParallelism = 2 });
        foreach (var budget in new[] { TimeSpan.MaxValue, TimeSpan.FromDays(50), TimeSpan.FromMilliseconds(uint.MaxValue), TimeSpan.FromMilliseconds(uint.MaxValue - 1.0) })
        {
            var options = new SearchOptions { Seed = 5, Trials = 4, Rounds = 2, MaxDegreeOfParallelism = 2, TimeBudget = budget };
            var random = Tuner.RandomSearch(_space, Synthetic, options);
            random.StopReason.Should().Be(StopReason.Completed);
            random.ToTable(includeSeconds: false).Should().Be(plain.ToTable(includeSeconds: false));
            Tuner.CoarseToFine(_space, Synthetic, options).Trials.Should().HaveCount(8);
            Tuner.GridSearch(_space, 2, Synthetic, options).StopReason.Should().Be(StopReason.Completed);
        }

        FluentActions.Invoking(() => Tuner.RandomSearch(_space, Synthetic, new SearchOptions { TimeBudget = TimeSpan.FromTicks(-1) }))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("TimeBudget must be positive; received -00:00:00.0000001*");
    }

    [Fact]
    public void A_time_budget_bounds_a_search_of_int_MaxValue_trials()
    {
        // Every trial was sampled (and a result slot allocated) before the first started: with 2^31 − 1 trials the search
        // ran out of memory or time long before the 1 ms budget could stop it. Trials are now sampled as they start.
        var options = new SearchOptions { Trials = int.MaxValue, MaxDegreeOfParallelism = 2, TimeBudget = TimeSpan.FromMilliseconds(1) };
        var random = Tuner.RandomSearch(_space, (t, _) => new TrialOutcome(t.Id), options);
        random.StopReason.Should().Be(StopReason.TimeBudget);
        (random.Trials.Count + (long)random.SkippedTrials).Should().Be(int.MaxValue);
        random.Trials.Select(t => t.Id).Should().OnlyHaveUniqueItems(); // possibly none: the budget may end before a trial does
        random.Trials.All(t => t.Id >= 0).Should().BeTrue();

        var coarse = Tuner.CoarseToFine(_space, (t, _) => new TrialOutcome(t.Id), options with { Trials = int.MaxValue / 2, Rounds = 2 });
        coarse.StopReason.Should().Be(StopReason.TimeBudget);
        (coarse.Trials.Count + (long)coarse.SkippedTrials).Should().Be(2L * (int.MaxValue / 2));
    }

    [Fact]
    public void Coarse_to_fine_refuses_more_trial_ids_than_an_int_holds()
    {
        // round · Trials overflowed int into negative trial ids.
        var options = new SearchOptions { Trials = int.MaxValue, Rounds = 2, TimeBudget = TimeSpan.FromMilliseconds(1) };
        FluentActions.Invoking(() => Tuner.CoarseToFine(_space, Synthetic, options))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("Rounds × Trials must be at most 2147483647 (trial ids are ints); received Rounds = 2 × Trials = 2147483647 = 4294967294*")
            .Which.ParamName.Should().Be("options");
    }

    [Fact]
    public void Lazily_sampled_trials_are_those_SampleTrials_gives()
    {
        var options = new SearchOptions { Seed = 9, Trials = 7, Rounds = 1, MaxDegreeOfParallelism = 3 };
        Tuner.RandomSearch(_space, Synthetic, options).Trials.Select(t => t.Config).OrderBy(c => c.Id)
            .Should().Equal(_space.SampleTrials(7, 9));
        Tuner.CoarseToFine(_space, Synthetic, options).Trials.Select(t => t.Config).OrderBy(c => c.Id)
            .Should().Equal(_space.SampleTrials(7, 9));
        FluentActions.Invoking(() => Tuner.RandomSearch(new SearchSpace(), Synthetic, options))
            .Should().Throw<InvalidOperationException>().WithMessage("the search space has no dimensions*", "refused on the caller's thread, not by a worker");
    }
}
