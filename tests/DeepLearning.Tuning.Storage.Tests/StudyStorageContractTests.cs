using System.Collections.Concurrent;

namespace DeepLearning.Tuning.Storage.Tests;

/// <summary>
/// The contract every study storage keeps, run on memory, SQLite and (when configured) PostgreSQL. The oracle for
/// tables is the one-process search (Tuner.CoarseToFine / RandomSearch / GridSearch) over the same objective.
/// </summary>
public class StudyStorageContractTests
{
    internal static readonly WorkerOptions Fast = new()
    {
        HeartbeatInterval = TimeSpan.FromMilliseconds(50),
        StaleAfter = TimeSpan.FromSeconds(60),
        PollInterval = TimeSpan.FromMilliseconds(20),
    };

    internal static SearchSpace Space() => new SearchSpace()
        .LogUniform("learningRate", 1e-4, 1)
        .IntRange("hidden", 8, 64)
        .Choice("activation", "relu", "tanh")
        .OneMinusLogUniform("beta1", 0.8, 0.999);

    internal static SearchOptions Options(int trials = 5, int rounds = 2) => new()
    {
        Seed = 11,
        Trials = trials,
        Rounds = rounds,
        TopK = 2,
        MaxDegreeOfParallelism = 1,
    };

    // A deterministic stand-in for training: a smooth function of the hyperparameters, plus a little of the seed.
    internal static TrialOutcome Objective(TrialConfig c, CancellationToken token)
    {
        double lr = c.GetDouble("learningRate");
        int hidden = c.GetInt("hidden");
        double dev = 1 - (Math.Pow(Math.Log10(lr) + 2, 2) / 10) - (Math.Abs(hidden - 40) / 200.0)
            + (c.GetString("activation") == "relu" ? 0.01 : 0) + ((c.Seed % 1000) / 1e6);
        return new TrialOutcome(dev)
        {
            TrainMetric = dev + 0.01,
            Epochs = (hidden % 7) + 1,
            Extras = new Dictionary<string, double> { ["beta1"] = c.GetDouble("beta1") },
            DevMetricPerEpoch = [dev / 2, dev],
        };
    }

    private static string Table(SearchResult r) => r.ToTable(includeSeconds: false);

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void A_trial_error_with_a_NUL_a_lone_surrogate_or_megabytes_of_text_is_recorded_cleaned_as_the_one_process_search_reports_it(string kind)
    {
        // PostgreSQL refused the NUL (22021) and its driver threw EncoderFallbackException on the surrogate while the
        // failure was recorded: every worker that ran the trial crashed, the trial stayed running and the error was lost.
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        string[] messages = ["nul\0here", "lone \uD800 and \uDC00, a pair \U0001F600 kept, a line\nbreak kept", new string('x', 1_000_000)];
        TrialOutcome Throwing(TrialConfig c, CancellationToken token) => throw new InvalidOperationException(messages[c.Id]);

        var run = Tuner.RunWorker(storage, "errors", Throwing, StudyDefinition.Random(Space(), Options(trials: 3)), Fast with { MaxRetries = 0 });

        run.FailedByThisWorker.Should().Be(3);
        run.Result.StopReason.Should().Be(StopReason.Completed);
        var trials = storage.LoadTrials("errors");
        trials.Should().OnlyContain(t => t.Status == StoredTrialStatus.Failed);
        trials[0].Error.Should().Be("InvalidOperationException: nul\uFFFDhere");
        trials[1].Error.Should().Be("InvalidOperationException: lone \uFFFD and \uFFFD, a pair \U0001F600 kept, a line\nbreak kept");
        trials[2].Error.Should().HaveLength(4000).And.StartWith("InvalidOperationException: xxx").And.EndWith("xxx… [cut: 1000027 characters in all]");
        var local = Tuner.RandomSearch(Space(), Throwing, Options(trials: 3));
        local.Trials.Select(t => t.Error).Should().Equal(trials.Select(t => t.Error));
        run.Result.Trials.Select(t => t.Error).Should().Equal(trials.Select(t => t.Error));

        // A caller of the storage itself gets the same cleaning; text already clean is kept as it is.
        storage.OpenStudy("direct", StudyDefinition.Random(Space(), Options(trials: 2)));
        var first = storage.ClaimNext("direct", "w", TimeSpan.FromMinutes(1)).Claim!;
        storage.Fail("direct", first, "a\0b\uDFFF", 0, retry: false).Should().BeTrue();
        var second = storage.ClaimNext("direct", "w", TimeSpan.FromMinutes(1)).Claim!;
        storage.Fail("direct", second, "plain\ttext", 0, retry: true).Should().BeTrue();
        var direct = storage.LoadTrials("direct");
        direct[0].Error.Should().Be("a\uFFFDb\uFFFD");
        direct[1].Error.Should().Be("plain\ttext");
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void A_worker_id_with_a_control_character_or_a_lone_surrogate_is_refused_naming_it(string kind)
    {
        // PostgreSQL refused a NUL in the worker column and its driver could not encode a lone surrogate (every claim of
        // such a worker failed); SQLite stored the surrogate as U+FFFD, so the worker no longer knew its own rows.
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        var definition = StudyDefinition.Random(Space(), Options(trials: 1));
        storage.OpenStudy("ids", definition);
        foreach (string id in new[] { "a\0b", "w\uD800", "tab\there", "", " ", new string('w', 201) })
        {
            var claim = () => storage.ClaimNext("ids", id, TimeSpan.FromMinutes(1));
            claim.Should().Throw<ArgumentException>().WithMessage("a worker id must be *").Which.ParamName.Should().Be("worker");
            var worker = () => Tuner.RunWorker(storage, "ids", Objective, options: Fast with { WorkerId = id });
            worker.Should().Throw<ArgumentException>().WithMessage("a worker id must be *").Which.ParamName.Should().Be("WorkerId");
        }

        var nul = () => storage.ClaimNext("ids", "a\0b", TimeSpan.FromMinutes(1));
        nul.Should().Throw<ArgumentException>().WithMessage("a worker id must be 1–200 printable characters; received \"a\\u0000b\"*");
        var surrogate = () => storage.ClaimNext("ids", "w\uD800", TimeSpan.FromMinutes(1));
        surrogate.Should().Throw<ArgumentException>().WithMessage("a worker id must be valid UTF-16 text; received one with a lone surrogate \\ud800 at index 1*");
        storage.LoadTrials("ids").Should().BeEmpty();

        string emoji = string.Concat(Enumerable.Repeat("\U0001F600", 200));
        Tuner.RunWorker(storage, "ids", Objective, options: Fast with { WorkerId = emoji }).CompletedByThisWorker.Should().Be(1);
        storage.LoadTrials("ids").Single().Worker.Should().Be(emoji);
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void One_worker_runs_a_coarse_to_fine_study_to_the_same_table_as_the_one_process_search(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        var expected = Tuner.CoarseToFine(Space(), Objective, Options());

        var run = Tuner.RunWorker(storage, "c2f", Objective, StudyDefinition.CoarseToFine(Space(), Options()), Fast);

        run.Result.StopReason.Should().Be(StopReason.Completed);
        run.CompletedByThisWorker.Should().Be(10);
        Table(run.Result).Should().Be(Table(expected));
        var trials = storage.LoadTrials("c2f");
        trials.Select(t => t.Config.Id).Should().Equal(Enumerable.Range(0, 10));
        trials.Should().OnlyContain(t => t.Status == StoredTrialStatus.Complete && t.Attempts == 1 && t.Worker == run.WorkerId);
        trials.Should().OnlyContain(t => t.StartedAt <= t.EndedAt && t.HeartbeatAt != null);

        // The whole outcome comes back: train metric, epochs, extras and the per-epoch dev curve.
        var first = trials[0];
        var again = Objective(first.Config, default);
        first.Outcome!.DevMetric.Should().Be(again.DevMetric);
        first.Outcome.TrainMetric.Should().Be(again.TrainMetric);
        first.Outcome.Epochs.Should().Be(again.Epochs);
        first.Outcome.Extras["beta1"].Should().Be(first.Config.GetDouble("beta1"));
        first.Outcome.DevMetricPerEpoch.Should().Equal(again.DevMetricPerEpoch);

        // A worker joining a finished study finds nothing to do.
        var late = Tuner.RunWorker(storage, "c2f", Objective, options: Fast);
        late.CompletedByThisWorker.Should().Be(0);
        Table(late.Result).Should().Be(Table(expected));
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void Three_workers_give_the_single_worker_table_and_run_every_trial_exactly_once(string kind)
    {
        using var backend = new Backend(kind);
        var definition = StudyDefinition.CoarseToFine(Space(), Options(trials: 6, rounds: 3));
        var expected = Tuner.CoarseToFine(Space(), Objective, Options(trials: 6, rounds: 3));
        var ran = new ConcurrentBag<int>();

        TrialOutcome Slow(TrialConfig c, CancellationToken t)
        {
            ran.Add(c.Id);
            Thread.Sleep(5); // let the workers interleave
            return Objective(c, t);
        }

        var runs = new StudyWorkerResult[3];
        var errors = new ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, 3).Select(i => new Thread(() =>
        {
            try
            {
                using var storage = backend.Open();
                runs[i] = Tuner.RunWorker(storage, "shared", Slow, definition, Fast);
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        errors.Should().BeEmpty();

        runs.Sum(r => r.CompletedByThisWorker).Should().Be(18);
        runs.Select(r => r.WorkerId).Distinct().Should().HaveCount(3);
        ran.Should().HaveCount(18).And.OnlyHaveUniqueItems();
        foreach (var r in runs)
        {
            Table(r.Result).Should().Be(Table(expected));
            r.Result.StopReason.Should().Be(StopReason.Completed);
        }

        using var check = backend.Open();
        check.LoadTrials("shared").Should().HaveCount(18).And.OnlyContain(t => t.Status == StoredTrialStatus.Complete && t.Attempts == 1);
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void Random_and_grid_studies_match_the_one_process_searches(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        var options = Options(trials: 7);
        var random = Tuner.RunWorker(storage, "random", Objective, StudyDefinition.Random(Space(), options), Fast);
        Table(random.Result).Should().Be(Table(Tuner.RandomSearch(Space(), Objective, options)));

        var grid = Tuner.RunWorker(storage, "grid", Objective, StudyDefinition.Grid(Space(), 2, options), Fast);
        grid.CompletedByThisWorker.Should().Be(16); // 2 × 2 × 2 choices × 2
        Table(grid.Result).Should().Be(Table(Tuner.GridSearch(Space(), 2, Objective, options)));
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void A_trial_whose_worker_stopped_heart_beating_is_requeued_and_rerun_from_its_own_seed(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        var definition = StudyDefinition.Random(Space(), Options(trials: 4));
        storage.OpenStudy("stale", definition);

        // A worker claims trial 0 and dies: no heartbeat, no result.
        var dead = storage.ClaimNext("stale", "dead-worker", TimeSpan.FromMinutes(1));
        dead.Status.Should().Be(ClaimStatus.Claimed);
        dead.Claim!.Config.Id.Should().Be(0);
        dead.Claim.Attempt.Should().Be(1);

        var run = Tuner.RunWorker(storage, "stale", Objective, definition, Fast with { StaleAfter = TimeSpan.FromMilliseconds(400), HeartbeatInterval = TimeSpan.FromMilliseconds(50) });

        run.Result.StopReason.Should().Be(StopReason.Completed);
        Table(run.Result).Should().Be(Table(Tuner.RandomSearch(Space(), Objective, Options(trials: 4))));
        var trial0 = storage.LoadTrials("stale")[0];
        trial0.Status.Should().Be(StoredTrialStatus.Complete);
        trial0.Attempts.Should().BeGreaterThanOrEqualTo(2);
        trial0.Failures.Should().Be(trial0.Attempts - 1, "each lost worker counts as a failed attempt");
        trial0.Worker.Should().Be(run.WorkerId);
        trial0.Config.Should().Be(dead.Claim.Config); // same hyperparameters and seed

        // The dead worker's late result and heartbeat are refused: the trial counts once.
        storage.Heartbeat("stale", dead.Claim).Should().BeFalse();
        storage.Complete("stale", dead.Claim, new TrialOutcome(123), 1).Should().BeFalse();
        storage.Fail("stale", dead.Claim, "late", 1, retry: false).Should().BeFalse();
        storage.LoadTrials("stale")[0].Outcome!.DevMetric.Should().Be(Objective(trial0.Config, default).DevMetric);
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void A_trial_whose_workers_keep_dying_fails_after_the_retry_limit_instead_of_being_requeued_forever(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        storage.OpenStudy("dying", StudyDefinition.Random(Space(), Options(trials: 1)));
        var staleAfter = TimeSpan.FromMilliseconds(100);

        // Worker after worker claims the trial and dies (no heartbeat, no result). Each lost worker counts as a failure;
        // with the default retry limit (1, as WorkerOptions.MaxRetries) the second loss fails the trial for good.
        var claims = new List<TrialClaim>();
        TrialClaimResult next;
        while ((next = storage.ClaimNext("dying", $"dead-{claims.Count}", staleAfter)).Status == ClaimStatus.Claimed && claims.Count < 20)
        {
            claims.Add(next.Claim!);
            Thread.Sleep(250);
        }

        next.Status.Should().Be(ClaimStatus.Finished);
        claims.Select(c => (c.Attempt, c.Failures)).Should().Equal((1, 0), (2, 1));
        var trial = storage.LoadTrials("dying").Should().ContainSingle().Subject;
        (trial.Status, trial.Attempts, trial.Failures, trial.Worker).Should().Be((StoredTrialStatus.Failed, 2, 2, "dead-1"));
        trial.Error.Should().Be("its worker stopped sending heartbeats (none for 0.1 s) on attempt 2; 2 of 2 attempts failed, 1 retry allowed");
        trial.EndedAt.Should().NotBeNull();
        var table = Tuner.LoadStudy(storage, "dying");
        table.StopReason.Should().Be(StopReason.Completed);
        table.Unsuccessful.Should().ContainSingle().Which.Error.Should().Be(trial.Error);

        // The dead workers' claims no longer hold the trial.
        storage.Complete("dying", claims[^1], new TrialOutcome(0.5), 1).Should().BeFalse();

        var negative = () => storage.ClaimNext("dying", "w", staleAfter, maxRetries: -1);
        negative.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("maxRetries").WithMessage("*received -1*");
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void A_worker_applies_its_MaxRetries_to_trials_whose_workers_died(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        var definition = StudyDefinition.Random(Space(), Options(trials: 3));
        storage.OpenStudy("lost", definition);

        // Trials 0 and 1 are claimed by workers that die; trial 0 is lost twice.
        var stale = TimeSpan.FromMilliseconds(100);
        storage.ClaimNext("lost", "dead-1", stale).Claim!.Config.Id.Should().Be(0);
        Thread.Sleep(250);
        storage.ClaimNext("lost", "dead-2", TimeSpan.FromMinutes(1), maxRetries: 5).Claim!.Config.Id.Should().Be(1);
        var again = storage.ClaimNext("lost", "dead-3", stale, maxRetries: 5).Claim!;
        (again.Config.Id, again.Attempt, again.Failures).Should().Be((0, 2, 1));
        Thread.Sleep(250);

        // MaxRetries = 1: trial 0 (2 losses) fails for good, trial 1 (1 loss) runs again and completes.
        var run = Tuner.RunWorker(storage, "lost", Objective, definition, Fast with { StaleAfter = stale, HeartbeatInterval = TimeSpan.FromMilliseconds(20), MaxRetries = 1 });

        run.Result.StopReason.Should().Be(StopReason.Completed);
        run.CompletedByThisWorker.Should().Be(2);
        var trials = storage.LoadTrials("lost");
        (trials[0].Status, trials[0].Attempts, trials[0].Failures, trials[0].Worker).Should().Be((StoredTrialStatus.Failed, 2, 2, "dead-3"));
        trials[0].Error.Should().StartWith("its worker stopped sending heartbeats");
        (trials[1].Status, trials[1].Attempts, trials[1].Failures, trials[1].Worker).Should().Be((StoredTrialStatus.Complete, 2, 1, run.WorkerId));
        trials[1].Error.Should().BeNull();
        run.Result.Unsuccessful.Select(t => t.Id).Should().Equal(0);
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void A_throwing_trial_is_retried_at_most_MaxRetries_times_then_failed_with_its_error(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        var definition = StudyDefinition.Random(Space(), Options(trials: 4));
        var calls = new ConcurrentDictionary<int, int>();

        TrialOutcome Flaky(TrialConfig c, CancellationToken t)
        {
            int n = calls.AddOrUpdate(c.Id, 1, (_, v) => v + 1);
            return c.Id switch
            {
                1 when n == 1 => throw new InvalidOperationException("flaky once"),
                2 => throw new InvalidOperationException("always broken"),
                3 => new TrialOutcome(double.NaN),
                _ => Objective(c, t),
            };
        }

        var run = Tuner.RunWorker(storage, "flaky", Flaky, definition, Fast with { MaxRetries = 2 });

        run.Result.StopReason.Should().Be(StopReason.Completed);
        run.CompletedByThisWorker.Should().Be(2);
        run.FailedByThisWorker.Should().Be(1 + 3 + 3);
        var trials = storage.LoadTrials("flaky");
        trials[1].Status.Should().Be(StoredTrialStatus.Complete);
        (trials[1].Attempts, trials[1].Failures).Should().Be((2, 1));
        trials[2].Status.Should().Be(StoredTrialStatus.Failed);
        (trials[2].Attempts, trials[2].Failures).Should().Be((3, 3));
        trials[2].Error.Should().Contain("InvalidOperationException").And.Contain("always broken");
        trials[3].Status.Should().Be(StoredTrialStatus.Failed);
        trials[3].Error.Should().Contain("non-finite");
        calls[2].Should().Be(3);
        run.Result.Unsuccessful.Select(t => t.Id).Should().Equal(2, 3);
        run.Result.Succeeded.Select(t => t.Id).Should().BeEquivalentTo([0, 1]);
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void A_study_name_that_exists_with_another_definition_is_refused_and_nothing_is_written(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        var original = StudyDefinition.Random(Space(), Options(trials: 3));
        Tuner.RunWorker(storage, "taken", Objective, original, Fast);

        var otherSpace = new SearchSpace().LogUniform("learningRate", 1e-3, 1).IntRange("hidden", 8, 64);
        var act = () => Tuner.RunWorker(storage, "taken", Objective, StudyDefinition.Random(otherSpace, Options(trials: 3)), Fast);
        act.Should().Throw<StudyStorageException>().WithMessage("*study 'taken'*another definition*space*");

        var otherSeed = () => storage.OpenStudy("taken", StudyDefinition.Random(Space(), Options(trials: 3) with { Seed = 12 }));
        otherSeed.Should().Throw<StudyStorageException>().WithMessage("*different seed*");

        storage.OpenStudy("taken", null).ToJson().Should().Be(original.ToJson());
        storage.LoadTrials("taken").Should().HaveCount(3);

        var missing = () => storage.OpenStudy("nobody-made-this", null);
        missing.Should().Throw<StudyStorageException>().WithMessage("*'nobody-made-this' does not exist*");
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void Claims_hold_only_for_their_attempt(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        storage.OpenStudy("claims", StudyDefinition.Random(Space(), Options(trials: 2)));
        var a = storage.ClaimNext("claims", "w1", TimeSpan.FromMinutes(1)).Claim!;
        var b = storage.ClaimNext("claims", "w2", TimeSpan.FromMinutes(1)).Claim!;
        (a.Config.Id, b.Config.Id).Should().Be((0, 1));
        storage.ClaimNext("claims", "w3", TimeSpan.FromMinutes(1)).Status.Should().Be(ClaimStatus.Wait);

        storage.Heartbeat("claims", a).Should().BeTrue();
        storage.Release("claims", a).Should().BeTrue();
        storage.Heartbeat("claims", a).Should().BeFalse();
        storage.Complete("claims", a, new TrialOutcome(1), 0).Should().BeFalse();

        var again = storage.ClaimNext("claims", "w3", TimeSpan.FromMinutes(1)).Claim!;
        again.Config.Should().Be(a.Config);
        again.Attempt.Should().Be(2);
        storage.Complete("claims", again, new TrialOutcome(0.5), 0).Should().BeTrue();
        storage.Complete("claims", again, new TrialOutcome(0.7), 0).Should().BeFalse();
        storage.Complete("claims", b, new TrialOutcome(0.6), 0).Should().BeTrue();
        storage.ClaimNext("claims", "w3", TimeSpan.FromMinutes(1)).Status.Should().Be(ClaimStatus.Finished);
        storage.LoadTrials("claims").Select(t => (t.Worker, t.Outcome!.DevMetric)).Should().Equal(("w3", 0.5), ("w2", 0.6));
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void Every_value_of_an_outcome_and_the_seconds_read_back_exactly_NaN_and_infinities_included(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        storage.OpenStudy("exact", StudyDefinition.Random(Space(), Options(trials: 2)));
        var complete = storage.ClaimNext("exact", "w1", TimeSpan.FromMinutes(1)).Claim!;
        var failed = storage.ClaimNext("exact", "w2", TimeSpan.FromMinutes(1)).Claim!;
        double[] curve = [double.NaN, double.PositiveInfinity, double.NegativeInfinity, 1.0 / 3, -0.0, double.Epsilon, double.MaxValue];
        var outcome = new TrialOutcome(0.1 + 0.2)
        {
            TrainMetric = double.NaN,
            Epochs = 7,
            Extras = new Dictionary<string, double>
            {
                ["nan"] = double.NaN,
                ["infinity"] = double.PositiveInfinity,
                ["minusInfinity"] = double.NegativeInfinity,
                ["third"] = 1.0 / 3,
            },
            DevMetricPerEpoch = curve,
        };
        storage.Complete("exact", complete, outcome, 1.0 / 3).Should().BeTrue();
        storage.Fail("exact", failed, "diverged", 2.0 / 3, retry: false).Should().BeTrue();

        var trials = storage.LoadTrials("exact").ToDictionary(t => t.Config.Id);
        var back = trials[complete.Config.Id];
        static long Bits(double v) => BitConverter.DoubleToInt64Bits(v);
        Bits(back.Outcome!.DevMetric).Should().Be(Bits(0.1 + 0.2));
        double.IsNaN(back.Outcome.TrainMetric).Should().BeTrue();
        back.Outcome.Epochs.Should().Be(7);
        back.Outcome.Extras.ToDictionary(kv => kv.Key, kv => Bits(kv.Value)).Should().Equal(outcome.Extras.ToDictionary(kv => kv.Key, kv => Bits(kv.Value)));
        back.Outcome.DevMetricPerEpoch.Select(Bits).Should().Equal(curve.Select(Bits), "NaN, ±∞, −0 and the extremes read back as given");
        Bits(back.Seconds).Should().Be(Bits(1.0 / 3));
        Bits(trials[failed.Config.Id].Seconds).Should().Be(Bits(2.0 / 3));
        trials[failed.Config.Id].Status.Should().Be(StoredTrialStatus.Failed);
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void A_trial_whose_objective_returns_a_non_finite_metric_fails_keeping_its_outcome_as_the_one_process_search_does(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        static TrialOutcome Diverging(TrialConfig c, CancellationToken token)
        {
            var o = Objective(c, token);
            return c.Id % 3 != 1 ? o : o with
            {
                DevMetric = c.Id % 2 == 0 ? double.NaN : double.NegativeInfinity,
                Extras = new Dictionary<string, double> { ["cost"] = double.PositiveInfinity },
                DevMetricPerEpoch = [o.DevMetric, double.NaN, double.NegativeInfinity],
            };
        }

        var options = Options(trials: 7);
        var expected = Tuner.RandomSearch(Space(), Diverging, options);
        var run = Tuner.RunWorker(storage, "diverging", Diverging, StudyDefinition.Random(Space(), options), Fast);
        Table(run.Result).Should().Be(Table(expected));

        var failed = storage.LoadTrials("diverging").Where(t => t.Status == StoredTrialStatus.Failed).ToList();
        failed.Select(t => t.Config.Id).Should().Equal(1, 4);
        static long Bits(double v) => BitConverter.DoubleToInt64Bits(v);
        foreach (var t in failed)
        {
            var again = Diverging(t.Config, default);
            t.Error.Should().StartWith("the objective returned a non-finite dev metric");
            Bits(t.Outcome!.DevMetric).Should().Be(Bits(again.DevMetric));
            t.Outcome.Epochs.Should().Be(again.Epochs);
            t.Outcome.Extras.Should().Equal(again.Extras);
            t.Outcome.DevMetricPerEpoch.Select(Bits).Should().Equal(again.DevMetricPerEpoch.Select(Bits));
        }
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void Non_finite_or_negative_seconds_or_a_non_finite_dev_metric_are_refused_naming_the_value_and_nothing_is_written(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        storage.OpenStudy("refused", StudyDefinition.Random(Space(), Options(trials: 1)));
        var claim = storage.ClaimNext("refused", "w1", TimeSpan.FromMinutes(1)).Claim!;
        foreach (double bad in new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity, -1, -1e-9 })
        {
            string text = bad.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var complete = () => storage.Complete("refused", claim, new TrialOutcome(0.5), bad);
            complete.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("seconds").WithMessage($"seconds (how long the trial ran) must be a finite number ≥ 0; received {text}*");
            foreach (bool retry in new[] { false, true })
            {
                var fail = () => storage.Fail("refused", claim, "boom", bad, retry);
                fail.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("seconds").WithMessage($"*received {text}*");
            }
        }

        foreach (double bad in new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity })
        {
            string text = bad.ToString(System.Globalization.CultureInfo.InvariantCulture);

            // Such a trial failed: Complete would rank it (and the one-process search records it as failed).
            var metric = () => storage.Complete("refused", claim, new TrialOutcome(bad), 1);
            metric.Should().Throw<ArgumentException>().WithParameterName("outcome").WithMessage($"a complete trial needs a finite devMetric; received {text}*");
        }

        var trial = storage.LoadTrials("refused").Should().ContainSingle().Subject;
        (trial.Status, trial.Attempts, trial.Failures, trial.Outcome, trial.Seconds, trial.Error).Should().Be((StoredTrialStatus.Running, 1, 0, (TrialOutcome?)null, 0.0, (string?)null));
        storage.Complete("refused", claim, new TrialOutcome(0.5), 0.25).Should().BeTrue();
        storage.LoadTrials("refused").Single().Seconds.Should().Be(0.25);
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void A_stale_timeout_that_is_not_positive_is_refused_and_the_longest_one_re_queues_nothing(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        storage.OpenStudy("stale-arg", StudyDefinition.Random(Space(), Options(trials: 2)));
        var live = storage.ClaimNext("stale-arg", "w1", TimeSpan.FromMinutes(1)).Claim!;

        // Zero or negative (e.g. Timeout.InfiniteTimeSpan) would treat w1's fresh heartbeat as stale and hand its trial to a second worker.
        foreach (var bad in new[] { TimeSpan.Zero, TimeSpan.FromSeconds(-5), Timeout.InfiniteTimeSpan })
        {
            var act = () => storage.ClaimNext("stale-arg", "w2", bad);
            act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("staleAfter").WithMessage($"*{bad}*");
        }

        // The longest timeout means "never stale": w2 gets the other trial, and w1 keeps its own.
        var other = storage.ClaimNext("stale-arg", "w2", TimeSpan.MaxValue).Claim!;
        other.Config.Id.Should().NotBe(live.Config.Id);
        storage.ClaimNext("stale-arg", "w3", TimeSpan.MaxValue).Status.Should().Be(ClaimStatus.Wait);
        storage.Heartbeat("stale-arg", live).Should().BeTrue();
    }

    [Theory]
    [LocalBackends]
    [PostgresBackend]
    public void A_cancelled_worker_puts_its_trial_back_and_another_finishes_the_study(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        var definition = StudyDefinition.Random(Space(), Options(trials: 3));
        using var cancel = new CancellationTokenSource();

        TrialOutcome CancelOnSecond(TrialConfig c, CancellationToken t)
        {
            if (c.Id == 1)
            {
                cancel.Cancel();
                t.ThrowIfCancellationRequested();
            }

            return Objective(c, t);
        }

        var first = Tuner.RunWorker(storage, "cancel", CancelOnSecond, definition, Fast, cancel.Token);
        first.CompletedByThisWorker.Should().Be(1);
        first.Result.StopReason.Should().Be(StopReason.Cancelled);
        storage.LoadTrials("cancel")[1].Status.Should().Be(StoredTrialStatus.Queued);

        var second = Tuner.RunWorker(storage, "cancel", Objective, definition, Fast);
        second.CompletedByThisWorker.Should().Be(2);
        Table(second.Result).Should().Be(Table(Tuner.RandomSearch(Space(), Objective, Options(trials: 3))));
    }

    [Fact]
    public void A_complete_trial_without_a_finite_dev_metric_from_any_storage_is_a_storage_error_naming_study_and_trial()
    {
        using var memory = new InMemoryStudyStorage();
        Tuner.RunWorker(memory, "custom", Objective, StudyDefinition.Random(Space(), Options(trials: 2)), Fast);
        using var storage = new NaNOutcomes(memory);

        // It was an ArgumentException from StoredTrial.ToResult, naming neither the study nor the trial.
        var load = () => Tuner.LoadStudy(storage, "custom");
        load.Should().Throw<StudyStorageException>().WithMessage("memory: trial 0 of study 'custom' is complete but its outcome is {\"devMetric\":null*");
    }

    /// <summary>A storage (as a third party might write one) that reads back complete trials with a NaN dev metric.</summary>
    private sealed class NaNOutcomes(IStudyStorage inner) : IStudyStorage
    {
        public string Location => inner.Location;

        public StudyDefinition OpenStudy(string study, StudyDefinition? definition) => inner.OpenStudy(study, definition);

        public TrialClaimResult ClaimNext(string study, string worker, TimeSpan staleAfter) => inner.ClaimNext(study, worker, staleAfter);

        public bool Heartbeat(string study, TrialClaim claim) => inner.Heartbeat(study, claim);

        public bool Complete(string study, TrialClaim claim, TrialOutcome outcome, double seconds) => inner.Complete(study, claim, outcome, seconds);

        public bool Fail(string study, TrialClaim claim, string error, double seconds, bool retry) => inner.Fail(study, claim, error, seconds, retry);

        public bool Release(string study, TrialClaim claim) => inner.Release(study, claim);

        public IReadOnlyList<StoredTrial> LoadTrials(string study) =>
            inner.LoadTrials(study).Select(t => t.Status == StoredTrialStatus.Complete ? t with { Outcome = new TrialOutcome(double.NaN) } : t).ToList();

        public void Dispose()
        {
        }
    }
}
