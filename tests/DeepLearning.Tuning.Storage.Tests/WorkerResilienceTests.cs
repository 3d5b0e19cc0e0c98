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
    public void A_worker_that_gives_up_claiming_after_StaleAfter_puts_back_the_claim_whose_reply_was_lost()
    {
        // Every claim commits and its reply is lost, until the worker gives up. The claim of its last try used to stay
        // running under the worker, which had stopped: no other worker could run the trial until it went stale, and it
        // was then charged a failed attempt although it never ran (with MaxRetries = 0 it failed for good).
        using var memory = new InMemoryStudyStorage();
        using var storage = new Flaky(memory) { FailingCall = "claim", Failures = int.MaxValue, Transient = true, AfterCommit = true };
        var options = _fast with { StaleAfter = TimeSpan.FromMilliseconds(300), WorkerId = "w" };

        var act = () => Tuner.RunWorker(storage, "gave-up", StudyStorageContractTests.Objective, Random3(), options);

        var e = act.Should().Throw<StudyStorageException>().Which;
        memory.LoadTrials("gave-up").Should().OnlyContain(t => t.Status == StoredTrialStatus.Queued && t.Worker == null && t.Failures == 0);
        storage.Failed.Should().BeGreaterThan(1, "the worker tried again before giving up");
        e.IsTransient.Should().BeTrue();
        e.Message.Should().Be("study 'gave-up': could not claim a trial in flaky for StaleAfter (0.3 s), the storage unreachable or busy: flaky: claim refused; any trial claimed under worker 'w' was put back in the queue");

        var rest = Tuner.RunWorker(memory, "gave-up", StudyStorageContractTests.Objective, options: _fast with { MaxRetries = 0 });
        rest.CompletedByThisWorker.Should().Be(3, "no trial waits for the stopped worker, nor fails for it");
        Table(rest.Result).Should().Be(Table(Tuner.RandomSearch(StudyStorageContractTests.Space(), StudyStorageContractTests.Objective, StudyStorageContractTests.Options(trials: 3))));
    }

    [Fact]
    public void A_claim_that_cannot_be_put_back_when_the_worker_gives_up_goes_stale_and_runs_elsewhere()
    {
        var clock = new ManualClock();
        using var memory = new InMemoryStudyStorage(clock);
        using var storage = new Flaky(memory) { FailingCall = "claim", Failures = int.MaxValue, Transient = true, AfterCommit = true, LoadDown = true };
        var options = _fast with { StaleAfter = TimeSpan.FromMilliseconds(300), WorkerId = "w" };

        var act = () => Tuner.RunWorker(storage, "unreachable", StudyStorageContractTests.Objective, Random3(), options);

        act.Should().Throw<StudyStorageException>().Which.Message.Should().Be(
            "study 'unreachable': could not claim a trial in flaky for StaleAfter (0.3 s), the storage unreachable or busy: flaky: load refused; " +
            "a trial this worker may have claimed without getting the reply could not be put back: it stays running under worker 'w' until its heartbeat is StaleAfter old, then goes back to the queue as a failed attempt");
        var held = memory.LoadTrials("unreachable").Single(t => t.Status == StoredTrialStatus.Running);
        held.Worker.Should().Be("w");

        clock.Advance(TimeSpan.FromMilliseconds(301));
        var rest = Tuner.RunWorker(memory, "unreachable", StudyStorageContractTests.Objective, options: options with { WorkerId = null });
        rest.CompletedByThisWorker.Should().Be(3);
        memory.LoadTrials("unreachable").Single(t => t.Config.Id == held.Config.Id).Failures.Should().Be(1, "recovered as stale, a lost worker's failed attempt");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_retried_failure_whose_reply_was_lost_counts_once_though_another_worker_claimed_the_trial_first(bool otherFinished)
    {
        // Trial 1's failure is recorded (back to the queue for its retry), the reply lost; another worker claims the
        // trial before this worker looks its write up. The lookup used to want the row at this attempt, so the recorded
        // failure was counted as a trial taken from this worker and not reported.
        using var memory = new InMemoryStudyStorage();
        using var storage = new Flaky(memory)
        {
            FailingCall = "fail",
            Failures = 1,
            Transient = true,
            AfterCommit = true,
            Meanwhile = inner =>
            {
                var other = inner.ClaimNext("reclaimed", "other", TimeSpan.FromSeconds(60), 1).Claim!;
                other.Config.Id.Should().Be(1);
                if (otherFinished)
                {
                    inner.Complete("reclaimed", other, StudyStorageContractTests.Objective(other.Config, default), 0);
                }
            },
        };
        int thrown = 0;
        TrialOutcome Objective(TrialConfig c, CancellationToken t) =>
            c.Id == 1 && Interlocked.Exchange(ref thrown, 1) == 0 ? throw new InvalidOperationException("once") : StudyStorageContractTests.Objective(c, t);
        var reported = new List<TrialResult>();

        var run = Tuner.RunWorker(storage, "reclaimed", Objective, Random3(), _fast with { MaxTrials = 3, OnTrialCompleted = reported.Add });

        storage.Failed.Should().Be(1);
        run.FailedByThisWorker.Should().Be(1, "its failure was recorded");
        run.LostByThisWorker.Should().Be(0);
        run.CompletedByThisWorker.Should().Be(2);
        reported.Select(r => (r.Config.Id, r.Status)).Should().Equal((0, TrialStatus.Succeeded), (1, TrialStatus.Failed), (2, TrialStatus.Succeeded));
        var trial = memory.LoadTrials("reclaimed")[1];
        (trial.Attempts, trial.Failures, trial.Worker).Should().Be((2, 1, "other"), "one failure, written once");
        trial.Status.Should().Be(otherFinished ? StoredTrialStatus.Complete : StoredTrialStatus.Running);
    }

    [Fact]
    public void A_failure_taken_by_a_stale_sweep_before_it_was_written_counts_as_lost()
    {
        // The failure's write does not commit; meanwhile the trial's heartbeat goes stale, another worker takes it for
        // dead (the failed attempt is recorded as a lost worker) and claims it again. This worker's result was dropped.
        var clock = new ManualClock();
        using var memory = new InMemoryStudyStorage(clock);
        using var storage = new Flaky(memory)
        {
            FailingCall = "fail",
            Failures = 1,
            Transient = true,
            Meanwhile = inner =>
            {
                clock.Advance(TimeSpan.FromSeconds(61));
                inner.ClaimNext("swept", "other", TimeSpan.FromSeconds(60), 1).Claim!.Config.Id.Should().Be(1);
            },
        };
        int thrown = 0;
        TrialOutcome Objective(TrialConfig c, CancellationToken t) =>
            c.Id == 1 && Interlocked.Exchange(ref thrown, 1) == 0 ? throw new InvalidOperationException("once") : StudyStorageContractTests.Objective(c, t);

        // No heartbeat of this worker's own lands between the clock's jump and the other worker's claim.
        var run = Tuner.RunWorker(storage, "swept", Objective, Random3(), _fast with { MaxTrials = 3, HeartbeatInterval = TimeSpan.FromSeconds(30) });

        run.LostByThisWorker.Should().Be(1);
        run.FailedByThisWorker.Should().Be(0);
        run.CompletedByThisWorker.Should().Be(2);
        var trial = memory.LoadTrials("swept")[1];
        (trial.Attempts, trial.Failures, trial.Worker, trial.Status).Should().Be((2, 1, "other", StoredTrialStatus.Running));
        trial.Error.Should().StartWith("re-queued: its worker stopped sending heartbeats");
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

        public IReadOnlyList<StoredTrial> LoadTrials(string study) =>
            LoadDown ? throw new StudyStorageException("flaky: load refused", null, Transient) : inner.LoadTrials(study);

        public void Dispose()
        {
        }

        /// <summary>True: the call is made, then the error thrown, as when a commit succeeds and its reply is lost.</summary>
        public bool AfterCommit { get; init; }

        /// <summary>True: every <see cref="LoadTrials"/> fails too (so the worker cannot find the trials it holds).</summary>
        public bool LoadDown { get; init; }

        /// <summary>Run on the inner storage after a failing call (and its commit), before its error is thrown: what other workers do meanwhile.</summary>
        public Action<IStudyStorage>? Meanwhile { get; init; }

        private T Maybe<T>(string call, Func<T> body)
        {
            if (call == FailingCall && Volatile.Read(ref _failed) < Failures)
            {
                Interlocked.Increment(ref _failed);
                if (AfterCommit)
                {
                    body();
                }

                Meanwhile?.Invoke(inner);
                throw new StudyStorageException($"flaky: {call} refused", null, Transient);
            }

            return body();
        }
    }

    /// <summary>A clock that moves only when told, so that a heartbeat goes stale exactly when a test says.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

        public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
