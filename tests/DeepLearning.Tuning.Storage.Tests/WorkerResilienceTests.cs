namespace DeepLearning.Tuning.Storage.Tests;

/// <summary>
/// A worker rides out a storage that is briefly unreachable (a finished trial's result is not lost), checks its timing
/// options before claiming anything, and puts a claimed trial back when its own start callback throws.
/// </summary>
public class WorkerResilienceTests
{
    private static readonly WorkerOptions _fast = StudyStorageContractTests.Fast;

    private static StudyDefinition Random3() =>
        StudyDefinition.Random(StudyStorageContractTests.Space(), StudyStorageContractTests.Options(trials: 3));

    private static string Table(SearchResult r) => r.ToTable(includeSeconds: false);

    [Theory]
    [InlineData("complete")]
    [InlineData("claim")]
    [InlineData("fail")]
    public void A_storage_that_is_briefly_unreachable_loses_no_result(string call)
    {
        using var memory = new InMemoryStudyStorage();
        using var storage = new Flaky(memory) { FailingCall = call, Failures = 3, Transient = true };
        // Trial 1 throws once, so that "fail" is exercised; it is retried and succeeds.
        int thrown = 0;
        TrialOutcome Objective(TrialConfig c, CancellationToken t) =>
            c.Id == 1 && Interlocked.Exchange(ref thrown, 1) == 0 ? throw new InvalidOperationException("once") : StudyStorageContractTests.Objective(c, t);

        var run = Tuner.RunWorker(storage, "blip", Objective, Random3(), _fast);

        storage.Failed.Should().Be(3, "each of the three outages was met and tried again");
        run.Result.StopReason.Should().Be(StopReason.Completed);
        run.CompletedByThisWorker.Should().Be(3);
        Table(run.Result).Should().Be(Table(Tuner.RandomSearch(StudyStorageContractTests.Space(), StudyStorageContractTests.Objective, StudyStorageContractTests.Options(trials: 3))));
    }

    [Theory]
    [InlineData("claim")]
    [InlineData("complete")]
    [InlineData("fail")]
    public void A_write_committed_before_its_reply_was_lost_is_neither_repeated_nor_miscounted(string call)
    {
        using var memory = new InMemoryStudyStorage();
        using var storage = new Flaky(memory) { FailingCall = call, Failures = 1, Transient = true, AfterCommit = true };
        int thrown = 0;
        TrialOutcome Objective(TrialConfig c, CancellationToken t) =>
            c.Id == 1 && Interlocked.Exchange(ref thrown, 1) == 0 ? throw new InvalidOperationException("once") : StudyStorageContractTests.Objective(c, t);

        var run = Tuner.RunWorker(storage, "lost-reply", Objective, Random3(), _fast);

        storage.Failed.Should().Be(1);
        run.CompletedByThisWorker.Should().Be(3, "a result found recorded counts as recorded");
        run.FailedByThisWorker.Should().Be(1, "trial 1's one failure, recorded once");
        run.LostByThisWorker.Should().Be(0);
        // A claim whose reply was lost is put back, not left running to go stale as a failed attempt.
        memory.LoadTrials("lost-reply").Select(t => (t.Status, t.Failures)).Should().Equal(
            (StoredTrialStatus.Complete, 0), (StoredTrialStatus.Complete, 1), (StoredTrialStatus.Complete, 0));
        Table(run.Result).Should().Be(Table(Tuner.RandomSearch(StudyStorageContractTests.Space(), StudyStorageContractTests.Objective, StudyStorageContractTests.Options(trials: 3))));
    }

    [Fact]
    public void Cancelled_while_a_claim_is_tried_again_the_worker_puts_back_a_claim_whose_reply_was_lost()
    {
        using var memory = new InMemoryStudyStorage();
        using var storage = new Flaky(memory) { FailingCall = "claim", Failures = int.MaxValue, Transient = true, AfterCommit = true };
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        var run = Tuner.RunWorker(storage, "cancel-claim", StudyStorageContractTests.Objective, Random3(), _fast with { StaleAfter = TimeSpan.MaxValue }, cancel.Token);

        run.Result.StopReason.Should().Be(StopReason.Cancelled);
        storage.Failed.Should().BeGreaterThan(1);
        memory.LoadTrials("cancel-claim").Should().OnlyContain(t => t.Status == StoredTrialStatus.Queued, "it used to stay running under the stopped worker, to go stale as a failed attempt");
    }

    [Fact]
    public void The_trial_keeps_heart_beating_while_its_result_waits_for_the_storage()
    {
        // Without heartbeats while the result waited, the trial went stale StaleAfter after its last beat, which could be
        // before the outage ended: another worker re-queued it and the result was dropped.
        using var memory = new InMemoryStudyStorage();
        using var storage = new Flaky(memory) { FailingCall = "complete", Failures = 4, Transient = true };
        var options = StudyStorageContractTests.Fast with { HeartbeatInterval = TimeSpan.FromMilliseconds(20), StaleAfter = TimeSpan.FromSeconds(30), MaxTrials = 1 };

        var run = Tuner.RunWorker(storage, "beating", StudyStorageContractTests.Objective, Random3(), options);

        run.CompletedByThisWorker.Should().Be(1);
        storage.HeartbeatsDuringOutage.Should().BeGreaterThan(0, "the 0.1 + 0.2 + 0.4 s of pauses span many 20 ms heartbeats");
        memory.LoadTrials("beating")[0].Status.Should().Be(StoredTrialStatus.Complete);
    }

    [Fact]
    public void A_result_that_cannot_be_recorded_within_StaleAfter_is_an_error_naming_the_trial_and_its_metric()
    {
        using var memory = new InMemoryStudyStorage();
        using var storage = new Flaky(memory) { FailingCall = "complete", Failures = int.MaxValue, Transient = true };
        var options = _fast with { StaleAfter = TimeSpan.FromMilliseconds(600), MaxTrials = 1 };

        var act = () => Tuner.RunWorker(storage, "down", StudyStorageContractTests.Objective, Random3(), options);

        var e = act.Should().Throw<StudyStorageException>().Which;
        double dev = StudyStorageContractTests.Objective(memory.LoadTrials("down")[0].Config, default).DevMetric;
        e.Message.Should().StartWith($"trial 0 of study 'down' succeeded with dev metric {dev:R}, but its result could not be recorded in flaky: ");
        e.IsTransient.Should().BeTrue();
        storage.Failed.Should().BeGreaterThan(1, "the worker tried again before giving up");
        memory.LoadTrials("down")[0].Status.Should().Be(StoredTrialStatus.Running, "the trial goes stale and is rerun, as after a crash");
    }

    [Fact]
    public void A_storage_error_that_trying_again_cannot_mend_is_thrown_at_once()
    {
        using var memory = new InMemoryStudyStorage();
        using var storage = new Flaky(memory) { FailingCall = "complete", Failures = int.MaxValue, Transient = false };

        var act = () => Tuner.RunWorker(storage, "damaged", StudyStorageContractTests.Objective, Random3(), _fast);

        act.Should().Throw<StudyStorageException>().WithMessage("flaky: complete refused").Which.IsTransient.Should().BeFalse();
        storage.Failed.Should().Be(1);
    }

    [Fact]
    public void Cancelling_while_the_storage_is_unreachable_stops_the_worker()
    {
        using var memory = new InMemoryStudyStorage();
        using var storage = new Flaky(memory) { FailingCall = "claim", Failures = int.MaxValue, Transient = true };
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        var run = Tuner.RunWorker(storage, "cancelled", StudyStorageContractTests.Objective, Random3(), _fast with { StaleAfter = TimeSpan.MaxValue }, cancel.Token);

        run.Result.StopReason.Should().Be(StopReason.Cancelled);
        run.CompletedByThisWorker.Should().Be(0);
        storage.Failed.Should().BeGreaterThan(1);
    }

    [Fact]
    public void A_start_callback_that_throws_puts_the_claimed_trial_back()
    {
        using var storage = new InMemoryStudyStorage();
        var options = _fast with { OnTrialStarted = _ => throw new InvalidOperationException("progress display broke") };

        var act = () => Tuner.RunWorker(storage, "start", StudyStorageContractTests.Objective, Random3(), options);

        act.Should().Throw<InvalidOperationException>().WithMessage("progress display broke");
        var trial = storage.LoadTrials("start")[0];
        trial.Status.Should().Be(StoredTrialStatus.Queued, "it used to stay running until StaleAfter, then count as a failed attempt");
        Tuner.RunWorker(storage, "start", StudyStorageContractTests.Objective, options: _fast).CompletedByThisWorker.Should().Be(3);
    }

    [Fact]
    public void Intervals_too_long_for_a_timer_or_a_wait_are_refused_before_anything_is_claimed()
    {
        using var storage = new InMemoryStudyStorage();
        var heartbeat = () => Tuner.RunWorker(storage, "long", StudyStorageContractTests.Objective, Random3(), _fast with { HeartbeatInterval = TimeSpan.FromDays(60), StaleAfter = TimeSpan.MaxValue });
        heartbeat.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("HeartbeatInterval").WithMessage("HeartbeatInterval must be positive and at most 49.17:02:47.294*received 60.00:00:00*");
        var poll = () => Tuner.RunWorker(storage, "long", StudyStorageContractTests.Objective, Random3(), _fast with { PollInterval = TimeSpan.FromDays(30) });
        poll.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("PollInterval").WithMessage("PollInterval must be positive and at most 24.20:31:23.647*received 30.00:00:00*");
        var load = () => storage.LoadTrials("long");
        load.Should().Throw<StudyStorageException>("the options are checked before the study is opened, so no trial waits for a worker that died");

        // The longest accepted values run.
        var run = Tuner.RunWorker(storage, "long", StudyStorageContractTests.Objective, Random3(), _fast with { HeartbeatInterval = TimeSpan.FromMilliseconds(uint.MaxValue - 1.0), StaleAfter = TimeSpan.MaxValue, PollInterval = TimeSpan.FromMilliseconds(int.MaxValue) });
        run.CompletedByThisWorker.Should().Be(3);
    }

    [Fact]
    public void A_worker_that_stops_at_MaxTrials_says_so_rather_than_cancelled()
    {
        using var storage = new InMemoryStudyStorage();
        var run = Tuner.RunWorker(storage, "limit", StudyStorageContractTests.Objective, Random3(), _fast with { MaxTrials = 1 });
        run.CompletedByThisWorker.Should().Be(1);
        run.Result.StopReason.Should().Be(StopReason.TrialLimit);
        Tuner.RunWorker(storage, "limit", StudyStorageContractTests.Objective, options: _fast).Result.StopReason.Should().Be(StopReason.Completed);
    }

    [Theory]
    [LocalBackends]
    public void Study_names_must_be_valid_text_counted_in_characters(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        // A lone surrogate was stored as U+FFFD by SQLite, so "\uD800" and "\uDFFF" shared one study.
        foreach (string name in new[] { "\uD800", "a\uDFFFb", "x\uD83D" })
        {
            var act = () => storage.OpenStudy(name, Random3());
            act.Should().Throw<ArgumentException>().WithMessage("a study name must be valid UTF-16 text; received one with a lone surrogate*");
        }

        var none = () => storage.OpenStudy(null!, Random3());
        none.Should().Throw<ArgumentNullException>().WithMessage("a study name is required; received null*");

        string emoji = string.Concat(Enumerable.Repeat("\U0001F600", 200));
        storage.OpenStudy(emoji, Random3()).Trials.Should().Be(3);
        var tooLong = () => storage.OpenStudy(emoji + "\U0001F600", Random3());
        tooLong.Should().Throw<ArgumentException>().WithMessage("a study name must be 1–200 printable characters*");
    }

    [Fact]
    public void Random_and_grid_studies_are_joined_whatever_top_k_and_padding_they_never_use()
    {
        using var storage = new InMemoryStudyStorage();
        var space = StudyStorageContractTests.Space();
        storage.OpenStudy("random", StudyDefinition.Random(space, StudyStorageContractTests.Options(trials: 3)));
        storage.OpenStudy("random", StudyDefinition.Random(space, StudyStorageContractTests.Options(trials: 3) with { TopK = 1, Padding = 0.3 })).TopK.Should().Be(2);
        storage.OpenStudy("grid", StudyDefinition.Grid(space, 2, StudyStorageContractTests.Options()));
        storage.OpenStudy("grid", StudyDefinition.Grid(space, 2, StudyStorageContractTests.Options() with { TopK = 1 })).Trials.Should().Be(16);

        storage.OpenStudy("c2f", StudyDefinition.CoarseToFine(space, StudyStorageContractTests.Options()));
        var act = () => storage.OpenStudy("c2f", StudyDefinition.CoarseToFine(space, StudyStorageContractTests.Options() with { TopK = 1 }));
        act.Should().Throw<StudyStorageException>().WithMessage("*(different topK)*");
    }

    /// <summary>A storage whose one kind of call fails the first <see cref="Failures"/> times, as a server that is down would.</summary>
    private sealed class Flaky(IStudyStorage inner) : IStudyStorage
    {
        private int _failed;
        private int _beatsDuringOutage;

        public required string FailingCall { get; init; }

        public required int Failures { get; init; }

        public required bool Transient { get; init; }

        public int Failed => Volatile.Read(ref _failed);

        public string Location => "flaky";

        public StudyDefinition OpenStudy(string study, StudyDefinition? definition) => inner.OpenStudy(study, definition);

        public TrialClaimResult ClaimNext(string study, string worker, TimeSpan staleAfter) => ClaimNext(study, worker, staleAfter, 1);

        public TrialClaimResult ClaimNext(string study, string worker, TimeSpan staleAfter, int maxRetries) => Maybe("claim", () => inner.ClaimNext(study, worker, staleAfter, maxRetries));

        public int HeartbeatsDuringOutage => Volatile.Read(ref _beatsDuringOutage);

        public bool Heartbeat(string study, TrialClaim claim)
        {
            if (Volatile.Read(ref _failed) > 0 && Volatile.Read(ref _failed) < Failures)
            {
                Interlocked.Increment(ref _beatsDuringOutage);
            }

            return inner.Heartbeat(study, claim);
        }

        public bool Complete(string study, TrialClaim claim, TrialOutcome outcome, double seconds) => Maybe("complete", () => inner.Complete(study, claim, outcome, seconds));

        public bool Fail(string study, TrialClaim claim, string error, double seconds, bool retry) => Fail(study, claim, error, seconds, retry, null);

        public bool Fail(string study, TrialClaim claim, string error, double seconds, bool retry, TrialOutcome? outcome) => Maybe("fail", () => inner.Fail(study, claim, error, seconds, retry, outcome));

        public bool Release(string study, TrialClaim claim) => inner.Release(study, claim);

        public IReadOnlyList<StoredTrial> LoadTrials(string study) => inner.LoadTrials(study);

        public void Dispose()
        {
        }

        /// <summary>True: the call is made, then the error thrown, as when a commit succeeds and its reply is lost.</summary>
        public bool AfterCommit { get; init; }

        private T Maybe<T>(string call, Func<T> body)
        {
            if (call == FailingCall && Volatile.Read(ref _failed) < Failures)
            {
                Interlocked.Increment(ref _failed);
                if (AfterCommit)
                {
                    body();
                }

                throw new StudyStorageException($"flaky: {call} refused", null, Transient);
            }

            return body();
        }
    }
}
