using System.Diagnostics;
using System.Globalization;

namespace DeepLearning;

/// <summary>How one worker of a shared study behaves: its name, heartbeats, the stale timeout, polling and retries.</summary>
public sealed record WorkerOptions
{
    /// <summary>
    /// The worker's name in the trials table. Default: <c>host:pid:random</c>, unique per call. Give each running worker its
    /// own: after a storage error while claiming, a worker puts back every trial running under its name (one it may hold
    /// without knowing, its claim's reply lost), which would take a trial from another worker of the same name.
    /// At most 200 characters, none of them a control character (NUL included), and valid UTF-16 (no lone surrogate):
    /// another is refused with an <see cref="ArgumentException"/> naming it, as a study name is.
    /// </summary>
    public string? WorkerId { get; init; }

    /// <summary>How often the running trial's heartbeat is written. Default 10 s; at most 4,294,967,294 ms (about 49.7 days).</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A running trial whose heartbeat is older than this has lost its worker (taken for dead): a failed attempt, so it
    /// goes back to the queue and runs again from its own seed within <see cref="MaxRetries"/>, else fails for good.
    /// Must exceed <see cref="HeartbeatInterval"/>; default 60 s. It is also how long this worker keeps trying a storage
    /// that cannot be reached or is busy (<see cref="StudyStorageException.IsTransient"/>) before it gives up: when
    /// claiming a trial (giving up, it puts back a trial it may have claimed without getting the reply), and when
    /// recording a finished one, so that a result is not lost to a brief outage.
    /// <see cref="TimeSpan.MaxValue"/>: never stale, and the worker keeps trying until it is cancelled.
    /// </summary>
    public TimeSpan StaleAfter { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long to wait before asking again when nothing is queued but other workers' trials are running. Default 1 s; at most <see cref="int.MaxValue"/> ms (about 24.8 days).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A trial that throws (or returns a non-finite dev metric), or whose worker stops heart-beating (killed, out of
    /// memory, hung), is queued again at most this many times, then failed for good. Default 1. A retry reruns the
    /// trial from its own seed, so an objective that fails deterministically fails again: set 0 when only crashes
    /// should be retried and your objective never fails by chance.
    /// </summary>
    public int MaxRetries { get; init; } = StudyNames.DefaultMaxRetries;

    /// <summary>Stop after this many trials run by this worker (null: until the study is finished).</summary>
    public int? MaxTrials { get; init; }

    /// <summary>Called after each trial this worker finished (serialized, on the worker's thread).</summary>
    public Action<TrialResult>? OnTrialCompleted { get; init; }

    /// <summary>
    /// Called when this worker claims a trial, before the objective runs (e.g. for progress output). If it throws, the
    /// trial is put back in the queue and the exception ends the worker.
    /// </summary>
    public Action<TrialClaim>? OnTrialStarted { get; init; }

    // The longest period a Timer takes (uint.MaxValue − 1 ms) and the longest timeout a wait handle takes (int.MaxValue ms).
    private static readonly TimeSpan _maxTimerInterval = TimeSpan.FromMilliseconds(uint.MaxValue - 1.0);
    internal static readonly TimeSpan MaxWaitInterval = TimeSpan.FromMilliseconds(int.MaxValue);

    internal void Validate()
    {
        if (WorkerId is not null)
        {
            StudyNames.ValidateWorker(WorkerId, nameof(WorkerId));
        }

        if (HeartbeatInterval <= TimeSpan.Zero || HeartbeatInterval > _maxTimerInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(HeartbeatInterval), HeartbeatInterval, $"HeartbeatInterval must be positive and at most {_maxTimerInterval} (a timer's longest period); received {HeartbeatInterval}");
        }

        if (StaleAfter <= HeartbeatInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(StaleAfter), StaleAfter, $"StaleAfter must exceed HeartbeatInterval ({HeartbeatInterval}); received {StaleAfter}");
        }

        if (PollInterval <= TimeSpan.Zero || PollInterval > MaxWaitInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(PollInterval), PollInterval, $"PollInterval must be positive and at most {MaxWaitInterval} (a wait's longest timeout); received {PollInterval}");
        }

        if (MaxRetries < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRetries), MaxRetries, $"MaxRetries must be ≥ 0; received {MaxRetries}");
        }

        if (MaxTrials is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxTrials), MaxTrials, $"MaxTrials must be at least 1; received {MaxTrials}");
        }
    }
}

/// <summary>What one worker did in a shared study, and the study's table as it stood when the worker stopped.</summary>
public sealed class StudyWorkerResult
{
    internal StudyWorkerResult(string study, string workerId, StudyDefinition definition, SearchResult result, int completed, int failed, int lost)
    {
        Study = study;
        WorkerId = workerId;
        Definition = definition;
        Result = result;
        CompletedByThisWorker = completed;
        FailedByThisWorker = failed;
        LostByThisWorker = lost;
    }

    /// <summary>The study's name.</summary>
    public string Study { get; }

    /// <summary>This worker's name in the trials table.</summary>
    public string WorkerId { get; }

    /// <summary>The study's definition as stored.</summary>
    public StudyDefinition Definition { get; }

    /// <summary>
    /// Every finished trial of the study (by any worker), best first. <see cref="SearchResult.StopReason"/> is
    /// <see cref="StopReason.Completed"/> when the whole study has finished.
    /// </summary>
    public SearchResult Result { get; }

    /// <summary>Trials this worker completed (its results were recorded).</summary>
    public int CompletedByThisWorker { get; }

    /// <summary>Attempts of this worker that failed with an error (retried or failed for good).</summary>
    public int FailedByThisWorker { get; }

    /// <summary>
    /// Trials taken away from this worker (its heartbeat went stale, and another worker re-queued or failed them); their
    /// results were dropped. A failure whose write's reply was lost counts here too when the trial has been claimed and
    /// finished again since and its heartbeat may have gone stale first, so the table no longer tells which write took effect.
    /// </summary>
    public int LostByThisWorker { get; }
}

public static partial class Tuner
{
    /// <summary>
    /// Runs trials of the shared study <paramref name="studyName"/> until it is finished (or cancelled, or
    /// <see cref="WorkerOptions.MaxTrials"/> is reached). Start as many workers as you like — threads, processes,
    /// machines — on one storage: each claims queued trials atomically, heart-beats while training, and records
    /// each result in one transaction. A worker that dies loses nothing: its trial goes back to the queue after
    /// <see cref="WorkerOptions.StaleAfter"/> and reruns from its own seed; the lost worker counts as a failed attempt,
    /// so a trial whose workers keep dying fails for good after <see cref="WorkerOptions.MaxRetries"/> retries. Trial i's hyperparameters and seed depend
    /// only on the definition and i, so the table is the same for any number of workers.
    /// </summary>
    /// <param name="storage">Where the study lives (<see cref="InMemoryStudyStorage"/>, or SQLite/PostgreSQL from DeepLearning.Tuning.Storage).</param>
    /// <param name="studyName">The study's name; created with <paramref name="definition"/> on first use.</param>
    /// <param name="objective">Trains and evaluates one trial from its config, using <see cref="TrialConfig.Seed"/> for every random choice.</param>
    /// <param name="definition">The study's definition; null to join a study that exists.</param>
    /// <param name="options">Worker name, heartbeat, stale timeout, polling, retries.</param>
    /// <param name="cancellationToken">Stops the worker; its running trial is put back in the queue. Cancelled while a
    /// finished trial's result waits for an unreachable storage, the worker throws the <see cref="StudyStorageException"/>
    /// that names the trial and its dev metric (the trial goes stale and is rerun).</param>
    /// <exception cref="StudyStorageException">The storage cannot be used, the study exists with another definition,
    /// or a stored trial is damaged (e.g. complete without a finite dev metric, or a config that does not fit the
    /// study's search space: a hyperparameter missing, of the wrong kind, outside its range or choices, or unknown),
    /// naming the study, the trial and the value. A claimed trial whose config does not fit is put back in the queue
    /// before the objective sees it. Or the storage stayed unreachable or busy (<see cref="StudyStorageException.IsTransient"/>)
    /// for <see cref="WorkerOptions.StaleAfter"/> while claiming (the message says so, and whether a trial the worker may
    /// hold without knowing it was put back) or while recording a finished trial (the message names the trial and its dev
    /// metric); a shorter outage is ridden out, the trial heart-beating meanwhile. A write whose commit succeeded but whose
    /// reply was lost is tried again safely: before claiming again, and when it gives up claiming, the worker puts back any
    /// trial running under its name (if the storage cannot do it then, that trial goes stale and counts as a failed
    /// attempt, as after a crash); and a result whose second write finds nothing to update is looked up and counted as
    /// recorded when the row holds it — also a failure sent back to the queue that another worker has claimed again
    /// since, unless that trial may have gone stale first.</exception>
    public static StudyWorkerResult RunWorker(
        IStudyStorage storage,
        string studyName,
        Func<TrialConfig, CancellationToken, TrialOutcome> objective,
        StudyDefinition? definition = null,
        WorkerOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(objective);
        options ??= new WorkerOptions();
        options.Validate();
        string worker = options.WorkerId ?? DefaultWorkerId();
        var stored = storage.OpenStudy(studyName, definition);

        var clock = Stopwatch.StartNew();
        int completed = 0, failed = 0, lost = 0, ran = 0;
        bool finished = false;
        while (!cancellationToken.IsCancellationRequested && (options.MaxTrials is null || ran < options.MaxTrials))
        {
            TrialClaimResult next;
            bool unsure = false;
            long claimedFrom = 0;
            try
            {
                // A claim that failed with a transient error may have been committed before its reply was lost: that trial
                // would be running under this worker, unknown to it, until it went stale as a failed attempt. Put it back
                // before claiming again.
                next = Retrying(
                    () =>
                    {
                        if (unsure)
                        {
                            ReleaseOwn(storage, studyName, worker);
                            unsure = false;
                        }

                        try
                        {
                            claimedFrom = Stopwatch.GetTimestamp();
                            return storage.ClaimNext(studyName, worker, options.StaleAfter, options.MaxRetries);
                        }
                        catch (StudyStorageException e) when (e.IsTransient)
                        {
                            unsure = true;
                            throw;
                        }
                    },
                    studyName,
                    "claim a trial",
                    options,
                    cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Cancelled between tries: a claim committed before its reply was lost goes back too (best effort).
                if (unsure)
                {
                    ReleaseOwnBestEffort(storage, studyName, worker);
                }

                break;
            }
            catch (StudyStorageException e) when (unsure)
            {
                // Given up (the storage stayed unreachable or busy for StaleAfter, or putting back failed for good): a claim
                // committed before its reply was lost must not stay running under a worker that has stopped. Put it back
                // once more (best effort); if the storage cannot do it, the trial goes stale and another worker reruns it.
                bool putBack = ReleaseOwnBestEffort(storage, studyName, worker);
                if (!e.IsTransient)
                {
                    throw;
                }

                string held = putBack
                    ? $"any trial claimed under worker '{worker}' was put back in the queue"
                    : $"a trial this worker may have claimed without getting the reply could not be put back: it stays running under worker '{worker}' until its heartbeat is StaleAfter old, then goes back to the queue as a failed attempt";
                throw new StudyStorageException(
                    string.Create(CultureInfo.InvariantCulture, $"study '{studyName}': could not claim a trial in {storage.Location} for StaleAfter ({options.StaleAfter.TotalSeconds} s), the storage unreachable or busy: {e.Message}; {held}"),
                    e,
                    isTransient: true);
            }

            if (next.Status == ClaimStatus.Finished)
            {
                finished = true;
                break;
            }

            if (next.Status == ClaimStatus.Wait)
            {
                cancellationToken.WaitHandle.WaitOne(options.PollInterval);
                continue;
            }

            var claim = next.Claim!;
            CheckClaim(storage, studyName, stored, claim);
            ran++;
            try
            {
                options.OnTrialStarted?.Invoke(claim);
            }
            catch
            {
                PutBack(storage, studyName, claim);
                throw;
            }

            var (result, wasLost, recorded) = RunClaimed(storage, studyName, worker, claim, claimedFrom, objective, options, cancellationToken);
            if (wasLost && !recorded)
            {
                lost++;
                continue;
            }

            if (result.Status == TrialStatus.Cancelled)
            {
                PutBack(storage, studyName, claim);
                break;
            }

            // Here the result was recorded (a trial lost or not recorded was counted above).
            if (result.Succeeded)
            {
                completed++;
            }
            else
            {
                failed++;
            }

            options.OnTrialCompleted?.Invoke(result);
        }

        var stop = finished ? StopReason.Completed : cancellationToken.IsCancellationRequested ? StopReason.Cancelled : StopReason.TrialLimit;
        var table = LoadTable(storage, studyName, stored, stop, clock.Elapsed);
        return new StudyWorkerResult(studyName, worker, stored, table, completed, failed, lost);
    }

    /// <summary>
    /// The finished trials of a stored study as a <see cref="SearchResult"/> (best first): complete ones as
    /// succeeded, failed ones with their error. Queued and running trials are counted as skipped.
    /// </summary>
    /// <exception cref="StudyStorageException">The study does not exist, the storage cannot be used, or a stored trial
    /// is damaged (e.g. complete without a finite dev metric, or a config that does not fit the study's search space),
    /// naming the study and the trial.</exception>
    public static SearchResult LoadStudy(IStudyStorage storage, string studyName)
    {
        ArgumentNullException.ThrowIfNull(storage);
        var definition = storage.OpenStudy(studyName, null);
        var trials = storage.LoadTrials(studyName);
        bool done = trials.All(t => t.Status is StoredTrialStatus.Complete or StoredTrialStatus.Failed) && definition.NextTrials(Results(storage, studyName, definition, trials)).Count == 0;
        return LoadTable(storage, studyName, definition, done ? StopReason.Completed : StopReason.Cancelled, TimeSpan.Zero);
    }

    private static SearchResult LoadTable(IStudyStorage storage, string studyName, StudyDefinition definition, StopReason stop, TimeSpan elapsed)
    {
        var trials = storage.LoadTrials(studyName);
        var results = Results(storage, studyName, definition, trials);
        return new SearchResult(results, definition.Goal, stop, elapsed, trials.Count - results.Count);
    }

    /// <summary>
    /// The finished trials' rows. For a storage that does not check what it reads, a trial whose config the study could
    /// not have planned (<see cref="StudyNames.CheckTrial"/>) or a complete trial without a finite dev metric is a
    /// <see cref="StudyStorageException"/> naming the study and the trial, not an ArgumentException.
    /// </summary>
    private static List<TrialResult> Results(IStudyStorage storage, string studyName, StudyDefinition definition, IReadOnlyList<StoredTrial> trials)
    {
        foreach (var t in trials)
        {
            StudyNames.CheckTrial(storage.Location, studyName, definition, t.Config);
            if (t.Status == StoredTrialStatus.Complete)
            {
                StudyNames.CheckComplete(storage.Location, studyName, t.Config.Id, t.Outcome, t.Outcome?.ToJson() ?? "null");
            }
        }

        return trials.Select(t => t.ToResult()).Where(r => r is not null).Select(r => r!).ToList();
    }

    /// <summary>
    /// Refuses a claimed trial that the study could not have planned (a storage that does not check what it reads, e.g. a
    /// config whose hyperparameters do not fit the search space) before the objective sees it: the trial is put back in
    /// the queue (best effort) and the <see cref="StudyStorageException"/> naming the trial and the value is thrown.
    /// </summary>
    private static void CheckClaim(IStudyStorage storage, string studyName, StudyDefinition definition, TrialClaim claim)
    {
        try
        {
            StudyNames.CheckTrial(storage.Location, studyName, definition, claim.Config);
        }
        catch (StudyStorageException)
        {
            PutBack(storage, studyName, claim);
            throw;
        }
    }

    /// <summary>
    /// Puts a claimed trial back in the queue, best effort: if the storage cannot do it now, the trial goes stale after
    /// <see cref="WorkerOptions.StaleAfter"/> and another worker runs it; nothing is lost either way.
    /// </summary>
    private static void PutBack(IStudyStorage storage, string studyName, TrialClaim claim)
    {
        try
        {
            storage.Release(studyName, claim);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Trace.TraceWarning($"could not put back trial {claim.Config.Id} of study '{studyName}': {e.Message}");
        }
    }

    /// <summary>
    /// Records a finished trial (complete or failed), trying a storage that cannot be reached or is busy again for up to
    /// <see cref="WorkerOptions.StaleAfter"/>. False when the trial was taken from this worker meanwhile. When the storage
    /// stays unreachable, the <see cref="StudyStorageException"/> names the trial and its dev metric, so the result can be
    /// read from the message. <c>leaseFrom</c> gives when (<see cref="Stopwatch.GetTimestamp"/>) the latest call that kept
    /// the claim alive began: the claim, or the last heartbeat that found the trial still held; until StaleAfter after it,
    /// no other worker can have taken the trial for dead.
    /// </summary>
    private static bool Record(IStudyStorage storage, string studyName, string worker, TrialClaim claim, TrialResult result, Func<long> leaseFrom, WorkerOptions options, CancellationToken cancellationToken)
    {
        // Cleaned as the storage records it (RunOne has done so already; a storage written elsewhere may not), so that
        // RecordedEarlier compares like with like.
        string error = StudyNames.CleanError(result.Error) ?? "failed";
        int calls = 0;
        try
        {
            bool recorded = Retrying(
                () =>
                {
                    calls++;
                    return result.Succeeded
                        ? storage.Complete(studyName, claim, result.Outcome!, result.Seconds)
                        : storage.Fail(studyName, claim, error, result.Seconds, retry: claim.Failures < options.MaxRetries, result.Outcome);
                },
                studyName,
                $"record trial {claim.Config.Id}",
                options,
                cancellationToken);

            // Tried again after a failure, the write may have been committed the first time, its reply lost: then the
            // trial reads as this attempt's result, and it was recorded.
            return recorded || (calls > 1 && RecordedEarlier(storage, studyName, worker, claim, result.Succeeded, error, leaseFrom, options.StaleAfter));
        }
        catch (Exception e) when (e is StudyStorageException { IsTransient: true } or OperationCanceledException)
        {
            string what = result.Succeeded
                ? string.Create(CultureInfo.InvariantCulture, $"succeeded with dev metric {result.Outcome!.DevMetric:R}")
                : $"failed ({error})";
            throw new StudyStorageException(
                $"trial {claim.Config.Id} of study '{studyName}' {what}, but its result could not be recorded in {storage.Location}: {e.Message}; the trial goes back to the queue after StaleAfter",
                e,
                isTransient: true);
        }
    }

    /// <summary>
    /// Whether this attempt's result was recorded by an earlier write whose reply was lost (its retried write found the
    /// claim gone). A result kept in the row at this attempt is found there. A failure sent back to the queue for a retry
    /// may have been claimed again since (a higher attempt): this attempt then ended as a failed attempt, written either
    /// by this worker or, had its heartbeat gone stale, by another worker taking it for dead. The row tells which while the
    /// later attempts have neither failed nor completed: the error of this attempt's failure is ours, or the lost
    /// worker's. Else the lease tells: read before StaleAfter had passed since the claim's last sign of life, the trial
    /// cannot have gone stale, so the failure is ours; otherwise it is not counted as recorded.
    /// </summary>
    private static bool RecordedEarlier(IStudyStorage storage, string studyName, string worker, TrialClaim claim, bool succeeded, string error, Func<long> leaseFrom, TimeSpan staleAfter)
    {
        try
        {
            var t = storage.LoadTrials(studyName).FirstOrDefault(t => t.Config.Id == claim.Config.Id);
            bool leased = Stopwatch.GetElapsedTime(leaseFrom()) < staleAfter;
            if (t is null || t.Attempts < claim.Attempt)
            {
                return false;
            }

            if (t.Attempts == claim.Attempt)
            {
                return succeeded
                    ? t.Status == StoredTrialStatus.Complete && t.Worker == worker
                    : t.Failures == claim.Failures + 1 && t.Error == error && t.Status is StoredTrialStatus.Failed or StoredTrialStatus.Queued;
            }

            // Claimed again since: only a trial whose attempt failed goes back to the queue (a complete one never does).
            if (succeeded || t.Failures <= claim.Failures)
            {
                return false;
            }

            bool rowTells = t.Failures == claim.Failures + 1 && t.Error is not null;
            return rowTells ? t.Error == error : leased;
        }
        catch (StudyStorageException e) when (e.IsTransient)
        {
            return false;
        }
    }

    // Puts back any trial running under this worker's name: after a claim whose reply was lost, one it does not know it holds.
    private static void ReleaseOwn(IStudyStorage storage, string studyName, string worker)
    {
        foreach (var t in storage.LoadTrials(studyName))
        {
            if (t.Status == StoredTrialStatus.Running && t.Worker == worker)
            {
                storage.Release(studyName, new TrialClaim(t.Config, t.Attempts, t.Failures));
            }
        }
    }

    // ReleaseOwn, best effort: false (and a warning) when the storage could not do it.
    private static bool ReleaseOwnBestEffort(IStudyStorage storage, string studyName, string worker)
    {
        try
        {
            ReleaseOwn(storage, studyName, worker);
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Trace.TraceWarning($"could not put back the trials of worker '{worker}' in study '{studyName}': {e.Message}");
            return false;
        }
    }

    /// <summary>
    /// Runs <paramref name="call"/>, and again after a growing pause (0.1 s doubling up to 5 s) while it throws a transient
    /// <see cref="StudyStorageException"/>, for up to <see cref="WorkerOptions.StaleAfter"/> in all. Throws the last
    /// storage error when that time is spent, and <see cref="OperationCanceledException"/> when cancelled while waiting.
    /// </summary>
    private static TResult Retrying<TResult>(Func<TResult> call, string studyName, string what, WorkerOptions options, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var pause = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                return call();
            }
            catch (StudyStorageException e) when (e.IsTransient && clock.Elapsed < options.StaleAfter)
            {
                Trace.TraceWarning(string.Create(CultureInfo.InvariantCulture, $"study '{studyName}': could not {what}, trying again in {pause.TotalSeconds:0.#} s: {e.Message}"));
                var left = options.StaleAfter - clock.Elapsed;
                var wait = left < pause ? left : pause;
                if (wait > TimeSpan.Zero && cancellationToken.WaitHandle.WaitOne(wait))
                {
                    throw new OperationCanceledException($"study '{studyName}': cancelled while trying again to {what}", e, cancellationToken);
                }

                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    // Runs the objective while heart-beating, then records its result (complete or failed) while still heart-beating, so
    // that a storage outage shorter than StaleAfter during the recording does not let the trial go stale meanwhile.
    // claimedFrom: when the call that made the claim began (its heartbeat is no older).
    private static (TrialResult Result, bool Lost, bool Recorded) RunClaimed(
        IStudyStorage storage,
        string studyName,
        string worker,
        TrialClaim claim,
        long claimedFrom,
        Func<TrialConfig, CancellationToken, TrialOutcome> objective,
        WorkerOptions options,
        CancellationToken cancellationToken)
    {
        using var trialCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        int lost = 0;
        long leaseFrom = claimedFrom;
        var beats = new object();
        void Beat(object? state)
        {
            // One beat at a time; a failing beat (network blip) is tried again at the next tick, and if the
            // storage stays unreachable the trial goes stale and another worker reruns it.
            if (!Monitor.TryEnter(beats))
            {
                return;
            }

            try
            {
                long beganAt = Stopwatch.GetTimestamp();
                if (Volatile.Read(ref lost) == 0)
                {
                    if (storage.Heartbeat(studyName, claim))
                    {
                        Interlocked.Exchange(ref leaseFrom, beganAt);
                    }
                    else
                    {
                        Volatile.Write(ref lost, 1);
                        trialCancel.Cancel();
                    }
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Trace.TraceWarning($"heartbeat of trial {claim.Config.Id} failed: {e.Message}");
            }
            finally
            {
                Monitor.Exit(beats);
            }
        }

        TrialResult result;
        bool recorded = false;
        var timer = new Timer(Beat, null, options.HeartbeatInterval, options.HeartbeatInterval);
        try
        {
            result = RunOne(claim.Config, objective, trialCancel.Token);
            if (result.Status == TrialStatus.Cancelled && !cancellationToken.IsCancellationRequested && Volatile.Read(ref lost) == 0)
            {
                // The objective threw OperationCanceledException on its own: a failure like any other.
                result = new TrialResult(result.Config, TrialStatus.Failed, null, result.Seconds, result.Error);
            }

            if (result.Status != TrialStatus.Cancelled && Volatile.Read(ref lost) == 0)
            {
                recorded = Record(storage, studyName, worker, claim, result, () => Interlocked.Read(ref leaseFrom), options, cancellationToken);
                if (!recorded)
                {
                    Trace.TraceWarning(string.Create(CultureInfo.InvariantCulture,
                        $"trial {claim.Config.Id} of study '{studyName}' was taken from this worker before its result ({(result.Succeeded ? $"dev metric {result.Outcome!.DevMetric:R}" : "failed")}) was recorded; another worker reruns it"));
                }
            }
        }
        finally
        {
            // Wait for a beat in flight, so that no heartbeat lands after the result.
            using var stopped = new ManualResetEvent(false);
            if (timer.Dispose(stopped))
            {
                stopped.WaitOne();
            }
        }

        return (result, Volatile.Read(ref lost) == 1 || (!recorded && result.Status != TrialStatus.Cancelled), recorded);
    }

    private static string DefaultWorkerId() => string.Create(CultureInfo.InvariantCulture,
        $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..8]}");
}
