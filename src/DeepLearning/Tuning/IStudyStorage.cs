namespace DeepLearning;

/// <summary>
/// Where a study lives so that many workers (threads, processes, machines) can share it: its
/// <see cref="StudyDefinition"/> and its trials with their status. <see cref="InMemoryStudyStorage"/> serves
/// one process; the DeepLearning.Tuning.Storage package adds SQLite (many processes on one machine) and
/// PostgreSQL (many machines). Workers use it through <see cref="Tuner.RunWorker"/>.
/// </summary>
/// <remarks>
/// Contract every implementation keeps: <see cref="ClaimNext(string, string, TimeSpan, int)"/> hands a queued trial to exactly one worker;
/// a running trial whose heartbeat is older than the stale timeout has lost its worker, which counts as a failed
/// attempt: it goes back to the queue (and runs again from its own seed) within the retry limit, else it fails for
/// good; <see cref="Complete"/>, <see cref="Fail(string, TrialClaim, string, double, bool, TrialOutcome?)"/> and <see cref="Release"/> take effect only
/// for the claim that currently holds the trial (a claim that lost its trial gets false), each in one
/// transaction; the next round is planned by <see cref="StudyDefinition.NextTrials"/> once, inside the
/// claim that finds the study with no queued or running trial. Errors are <see cref="StudyStorageException"/>
/// naming the storage and what went wrong. A storage whose rows others may have written (a file a user was handed, a
/// shared server) treats every row as hostile: a value of the wrong type (NULL where a value belongs, a number or a BLOB
/// in a text column, text in a number column), a count, id or round that is negative, fractional or beyond 32 bits, or a
/// trial config the study could not have planned (a round or id outside the study, a seed other than
/// <see cref="Tuner.TrialSeed"/>(study seed, id), a hyperparameter missing, unknown, of the wrong kind or outside its
/// dimension) is a <see cref="StudyStorageException"/> naming the study, the trial and the column or hyperparameter,
/// and such a config never reaches the objective.
/// </remarks>
public interface IStudyStorage : IDisposable
{
    /// <summary>Where the studies are kept, for messages, e.g. <c>sqlite:/data/search.db</c> (never a password).</summary>
    string Location { get; }

    /// <summary>
    /// Creates study <paramref name="study"/> with <paramref name="definition"/>, or opens it when it exists
    /// (with a null definition, or the same one). Returns the stored definition.
    /// </summary>
    /// <exception cref="StudyStorageException">The study exists with another definition (nothing is written),
    /// or it does not exist and no definition was given, or its stored definition is damaged (not text — a BLOB is
    /// refused, not decoded — or not a valid definition), or the storage cannot be used.</exception>
    StudyDefinition OpenStudy(string study, StudyDefinition? definition);

    /// <summary>
    /// <see cref="ClaimNext(string, string, TimeSpan, int)"/> with the default retry limit of
    /// <see cref="WorkerOptions.MaxRetries"/> (1): a trial whose worker died goes back to the queue once, and fails
    /// for good when a second attempt fails too.
    /// </summary>
    /// <param name="study">The study's name.</param>
    /// <param name="worker">The claiming worker's id.</param>
    /// <param name="staleAfter">How old a heartbeat may be before its trial's worker is taken for dead; positive
    /// (<see cref="TimeSpan.MaxValue"/> for never).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="staleAfter"/> is zero or negative.</exception>
    TrialClaimResult ClaimNext(string study, string worker, TimeSpan staleAfter);

    /// <summary>
    /// In one transaction: takes the worker of each running trial whose last heartbeat is older than
    /// <paramref name="staleAfter"/> (or missing) for dead, which counts as a failed attempt of the trial: it goes back
    /// to the queue when fewer than <paramref name="maxRetries"/> earlier attempts failed, otherwise it fails for good
    /// with an error saying its worker stopped sending heartbeats (so a trial that kills its worker, e.g. by running
    /// out of memory, is not rerun forever). Then claims the queued trial with the lowest id for
    /// <paramref name="worker"/>; when there is none and nothing is running, queues the next round
    /// (<see cref="StudyDefinition.NextTrials"/>) and claims from it. The default implementation, for storages
    /// written before this overload, calls <see cref="ClaimNext(string, string, TimeSpan)"/> (its own retry limit).
    /// </summary>
    /// <param name="study">The study's name.</param>
    /// <param name="worker">The claiming worker's id: 1–200 characters, no control character, valid UTF-16 (as <see cref="WorkerOptions.WorkerId"/>).</param>
    /// <param name="staleAfter">How old a heartbeat may be before its trial's worker is taken for dead; positive
    /// (<see cref="TimeSpan.MaxValue"/> for never).</param>
    /// <param name="maxRetries">How many times a failed trial is queued again (≥ 0), as <see cref="WorkerOptions.MaxRetries"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="staleAfter"/> is zero or negative, or <paramref name="maxRetries"/> is negative.</exception>
    /// <exception cref="ArgumentException"><paramref name="worker"/> is empty, blank, longer than 200 characters, or holds a
    /// control character (NUL included) or a lone surrogate (the storages of this library; nothing is written).</exception>
    /// <exception cref="StudyStorageException">The study does not exist, the storage cannot be used, or a row the claim
    /// reads is damaged (see the remarks), e.g. the queued trial's config does not fit the study's search space; nothing is written.</exception>
    TrialClaimResult ClaimNext(string study, string worker, TimeSpan staleAfter, int maxRetries)
    {
        StudyNames.ValidateMaxRetries(maxRetries);
        return ClaimNext(study, worker, staleAfter);
    }

    /// <summary>Records that the claimed trial is still being worked on; false when the claim no longer holds it.</summary>
    bool Heartbeat(string study, TrialClaim claim);

    /// <summary>
    /// Records the claimed trial as complete with its outcome; false (and nothing written) when the claim no longer holds it.
    /// Every value of the outcome reads back exactly from <see cref="LoadTrials"/>, NaN and ±∞ included (train metric,
    /// extras, per-epoch dev metrics), and so do the seconds.
    /// </summary>
    /// <exception cref="ArgumentException">The outcome's dev metric is NaN or ±∞ (such a trial failed: use <see cref="Fail(string, TrialClaim, string, double, bool, TrialOutcome?)"/>),
    /// or <paramref name="seconds"/> is NaN, ±∞ or negative (<see cref="ArgumentOutOfRangeException"/>); nothing is written.</exception>
    bool Complete(string study, TrialClaim claim, TrialOutcome outcome, double seconds);

    /// <summary>
    /// Records that the claimed trial failed with <paramref name="error"/>: back to the queue when
    /// <paramref name="retry"/>, otherwise failed for good (with <paramref name="seconds"/>, which reads back exactly).
    /// False when the claim no longer holds the trial. Every storage of this library records the error the same way,
    /// as the one-process search reports it: each NUL and each lone surrogate replaced by U+FFFD (PostgreSQL text cannot
    /// hold them), and text longer than 4,000 characters cut to 4,000, ending with a marker giving its full length.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="seconds"/> is NaN, ±∞ or negative; nothing is written.</exception>
    bool Fail(string study, TrialClaim claim, string error, double seconds, bool retry);

    /// <summary>
    /// <see cref="Fail(string, TrialClaim, string, double, bool)"/>, keeping what the objective returned with a trial
    /// that fails for good (e.g. an outcome whose dev metric is NaN or ±∞), so that <see cref="LoadTrials"/> gives it
    /// back exactly, as the one-process search's result does; a retried trial keeps no outcome. The default
    /// implementation, for storages written before this overload, records the failure without the outcome.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="seconds"/> is NaN, ±∞ or negative; nothing is written.</exception>
    bool Fail(string study, TrialClaim claim, string error, double seconds, bool retry, TrialOutcome? outcome) =>
        Fail(study, claim, error, seconds, retry);

    /// <summary>Puts the claimed trial back in the queue unharmed (the worker was stopped); false when the claim no longer holds it.</summary>
    bool Release(string study, TrialClaim claim);

    /// <summary>Every trial of the study, by id.</summary>
    /// <exception cref="StudyStorageException">The study does not exist, the storage cannot be used, or a stored row is
    /// damaged (see the remarks), naming the study, the trial and the column or hyperparameter.</exception>
    IReadOnlyList<StoredTrial> LoadTrials(string study);
}

/// <summary>Where a stored trial stands.</summary>
public enum StoredTrialStatus
{
    /// <summary>Waiting for a worker.</summary>
    Queued,

    /// <summary>Claimed by a worker that is heart-beating.</summary>
    Running,

    /// <summary>Finished with a finite dev metric.</summary>
    Complete,

    /// <summary>Failed for good (after its retries).</summary>
    Failed,
}

/// <summary>A worker's hold on a trial: the trial and which attempt this is (a re-queued trial's next claim has a higher attempt).</summary>
/// <param name="Config">The trial to run (its hyperparameters and seed).</param>
/// <param name="Attempt">1 for the first claim, 2 for the next, …; the storage accepts results only from the latest.</param>
/// <param name="Failures">How many earlier attempts failed with an error or lost their worker (its heartbeat went stale).</param>
public sealed record TrialClaim(TrialConfig Config, int Attempt, int Failures);

/// <summary>What <see cref="IStudyStorage.ClaimNext(string, string, TimeSpan, int)"/> found.</summary>
public enum ClaimStatus
{
    /// <summary>A trial was claimed.</summary>
    Claimed,

    /// <summary>Nothing is queued, but other workers' trials are running (the next round may depend on them): poll again later.</summary>
    Wait,

    /// <summary>Every trial of the study has finished.</summary>
    Finished,
}

/// <summary>The result of <see cref="IStudyStorage.ClaimNext(string, string, TimeSpan, int)"/>.</summary>
/// <param name="Status">Claimed, wait or finished.</param>
/// <param name="Claim">The claim when <paramref name="Status"/> is <see cref="ClaimStatus.Claimed"/>.</param>
public readonly record struct TrialClaimResult(ClaimStatus Status, TrialClaim? Claim);

/// <summary>One trial as a study storage keeps it.</summary>
public sealed record StoredTrial
{
    /// <summary>The trial (id, round, seed, hyperparameters).</summary>
    public required TrialConfig Config { get; init; }

    /// <summary>Where it stands.</summary>
    public required StoredTrialStatus Status { get; init; }

    /// <summary>The worker that holds it or finished it; null while queued.</summary>
    public string? Worker { get; init; }

    /// <summary>Claims so far (more than 1 after a re-queue or a retry).</summary>
    public int Attempts { get; init; }

    /// <summary>Attempts that failed with an error or lost their worker (its heartbeat went stale).</summary>
    public int Failures { get; init; }

    /// <summary>When the latest attempt started (UTC).</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>The latest heartbeat (UTC).</summary>
    public DateTimeOffset? HeartbeatAt { get; init; }

    /// <summary>When it finished (UTC).</summary>
    public DateTimeOffset? EndedAt { get; init; }

    /// <summary>Seconds the finishing attempt took.</summary>
    public double Seconds { get; init; }

    /// <summary>What the objective returned (complete trials; also a trial that failed for good after returning an outcome, e.g. with a non-finite metric).</summary>
    public TrialOutcome? Outcome { get; init; }

    /// <summary>The latest error (failed trials, or a retried one; for a lost worker, that it stopped sending heartbeats).</summary>
    public string? Error { get; init; }

    /// <summary>The row of a <see cref="SearchResult"/>: succeeded for complete, failed for failed; null while queued or running.</summary>
    public TrialResult? ToResult() => Status switch
    {
        StoredTrialStatus.Complete => new TrialResult(Config, TrialStatus.Succeeded, Outcome, Math.Max(0, Seconds)),
        StoredTrialStatus.Failed => new TrialResult(Config, TrialStatus.Failed, Outcome, Math.Max(0, Seconds), Error),
        _ => null,
    };
}

/// <summary>A study storage could not do what was asked: unreachable server, refused credentials, a study defined
/// otherwise, a schema from a newer version. The message names the storage and the thing.</summary>
public sealed class StudyStorageException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StudyStorageException(string message, Exception? inner = null)
        : this(message, inner, isTransient: false)
    {
    }

    /// <summary>Creates the exception, saying whether trying again later may succeed.</summary>
    /// <param name="message">What could not be done, naming the storage and the thing.</param>
    /// <param name="inner">The database's own error, if any.</param>
    /// <param name="isTransient">True when the storage could not be reached or was busy, so the same call may succeed later.</param>
    public StudyStorageException(string message, Exception? inner, bool isTransient)
        : base(message, inner)
    {
        IsTransient = isTransient;
    }

    /// <summary>
    /// True when the storage could not be reached or was busy (a server down or restarting, a dropped connection, a
    /// lock or a timeout), so that the same call may succeed later; false for what trying again cannot mend (refused
    /// credentials, a missing database, a study defined otherwise, a damaged row). <see cref="Tuner.RunWorker"/> tries
    /// transient failures again for up to <see cref="WorkerOptions.StaleAfter"/>.
    /// </summary>
    public bool IsTransient { get; }
}
