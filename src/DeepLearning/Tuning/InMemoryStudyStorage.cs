using System.Globalization;

namespace DeepLearning;

/// <summary>
/// A study storage in this process's memory: workers on several threads of one process can share a study.
/// It keeps the same contract as the database storages (see <see cref="IStudyStorage"/>), behind one lock.
/// </summary>
public sealed class InMemoryStudyStorage : IStudyStorage
{
    private readonly object _lock = new();
    private readonly Dictionary<string, (StudyDefinition Definition, SortedDictionary<int, StoredTrial> Trials)> _studies = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    /// <summary>Creates an empty storage; <paramref name="time"/> (default: the system clock) decides when a heartbeat is stale.</summary>
    public InMemoryStudyStorage(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
    }

    /// <inheritdoc/>
    public string Location => "memory";

    /// <inheritdoc/>
    public StudyDefinition OpenStudy(string study, StudyDefinition? definition)
    {
        StudyNames.Validate(study);
        lock (_lock)
        {
            if (_studies.TryGetValue(study, out var existing))
            {
                StudyNames.CheckSame(study, Location, existing.Definition, definition);
                return existing.Definition;
            }

            if (definition is null)
            {
                throw StudyNames.Missing(study, Location);
            }

            _studies[study] = (definition, new SortedDictionary<int, StoredTrial>());
            return definition;
        }
    }

    /// <inheritdoc/>
    public TrialClaimResult ClaimNext(string study, string worker, TimeSpan staleAfter) =>
        ClaimNext(study, worker, staleAfter, StudyNames.DefaultMaxRetries);

    /// <inheritdoc/>
    public TrialClaimResult ClaimNext(string study, string worker, TimeSpan staleAfter, int maxRetries)
    {
        StudyNames.ValidateWorker(worker);
        StudyNames.ValidateStaleAfter(staleAfter);
        StudyNames.ValidateMaxRetries(maxRetries);
        lock (_lock)
        {
            var (definition, trials) = Get(study);
            var now = _time.GetUtcNow();

            // A timeout reaching back before year 1 (e.g. TimeSpan.MaxValue) makes nothing stale.
            var cutoff = staleAfter < now - DateTimeOffset.MinValue ? now - staleAfter : DateTimeOffset.MinValue;
            foreach (var t in trials.Values.Where(t => t.Status == StoredTrialStatus.Running && (t.HeartbeatAt is null || t.HeartbeatAt < cutoff)).ToList())
            {
                // The worker is taken for dead: a failed attempt, retried within the limit like a trial that threw.
                bool retry = t.Failures < maxRetries;
                string error = StudyNames.LostWorker(staleAfter, t.Attempts, t.Failures + 1, maxRetries, retry);
                trials[t.Config.Id] = retry
                    ? t with { Status = StoredTrialStatus.Queued, Worker = null, Failures = t.Failures + 1, Error = error }
                    : t with { Status = StoredTrialStatus.Failed, Failures = t.Failures + 1, Error = error, EndedAt = now };
            }

            var next = trials.Values.FirstOrDefault(t => t.Status == StoredTrialStatus.Queued);
            if (next is null)
            {
                if (trials.Values.Any(t => t.Status == StoredTrialStatus.Running))
                {
                    return new TrialClaimResult(ClaimStatus.Wait, null);
                }

                var planned = definition.NextTrials(trials.Values.Select(t => t.ToResult()!).ToList());
                if (planned.Count == 0)
                {
                    return new TrialClaimResult(ClaimStatus.Finished, null);
                }

                foreach (var c in planned)
                {
                    trials[c.Id] = new StoredTrial { Config = c, Status = StoredTrialStatus.Queued };
                }

                next = trials[planned.Min(c => c.Id)];
            }

            var claimed = next with
            {
                Status = StoredTrialStatus.Running,
                Worker = worker,
                Attempts = next.Attempts + 1,
                StartedAt = now,
                HeartbeatAt = now,
                EndedAt = null,
            };
            trials[next.Config.Id] = claimed;
            return new TrialClaimResult(ClaimStatus.Claimed, new TrialClaim(claimed.Config, claimed.Attempts, claimed.Failures));
        }
    }

    /// <inheritdoc/>
    public bool Heartbeat(string study, TrialClaim claim) =>
        Update(study, claim, t => t with { HeartbeatAt = _time.GetUtcNow() });

    /// <inheritdoc/>
    public bool Complete(string study, TrialClaim claim, TrialOutcome outcome, double seconds)
    {
        StudyNames.ValidateResult(outcome, seconds);
        return Update(study, claim, t => t with { Status = StoredTrialStatus.Complete, Outcome = outcome, Seconds = seconds, EndedAt = _time.GetUtcNow(), Error = null });
    }

    /// <inheritdoc/>
    public bool Fail(string study, TrialClaim claim, string error, double seconds, bool retry) =>
        Fail(study, claim, error, seconds, retry, null);

    /// <inheritdoc/>
    public bool Fail(string study, TrialClaim claim, string error, double seconds, bool retry, TrialOutcome? outcome)
    {
        StudyNames.ValidateSeconds(seconds);
        error = StudyNames.CleanError(error)!;
        return Update(study, claim, t => retry
            ? t with { Status = StoredTrialStatus.Queued, Worker = null, Failures = t.Failures + 1, Error = error }
            : t with { Status = StoredTrialStatus.Failed, Failures = t.Failures + 1, Error = error, Seconds = seconds, Outcome = outcome, EndedAt = _time.GetUtcNow() });
    }

    /// <inheritdoc/>
    public bool Release(string study, TrialClaim claim) =>
        Update(study, claim, t => t with { Status = StoredTrialStatus.Queued, Worker = null });

    /// <inheritdoc/>
    public IReadOnlyList<StoredTrial> LoadTrials(string study)
    {
        lock (_lock)
        {
            return Get(study).Trials.Values.ToList();
        }
    }

    /// <summary>Nothing to release.</summary>
    public void Dispose()
    {
    }

    private bool Update(string study, TrialClaim claim, Func<StoredTrial, StoredTrial> change)
    {
        ArgumentNullException.ThrowIfNull(claim);
        lock (_lock)
        {
            var trials = Get(study).Trials;
            if (!trials.TryGetValue(claim.Config.Id, out var t) || t.Status != StoredTrialStatus.Running || t.Attempts != claim.Attempt)
            {
                return false;
            }

            trials[claim.Config.Id] = change(t);
            return true;
        }
    }

    private (StudyDefinition Definition, SortedDictionary<int, StoredTrial> Trials) Get(string study)
    {
        StudyNames.Validate(study);
        return _studies.TryGetValue(study, out var s) ? s : throw StudyNames.Missing(study, Location);
    }
}

/// <summary>Checks and messages shared by the study storages.</summary>
internal static class StudyNames
{
    /// <summary>Longest study name accepted.</summary>
    public const int MaxLength = 200;

    /// <summary>
    /// Throws unless <paramref name="study"/> is a non-blank name of at most <see cref="MaxLength"/> characters (Unicode
    /// scalar values, so an emoji counts once) without control characters, and valid UTF-16: a lone surrogate would be
    /// stored as U+FFFD by SQLite and PostgreSQL, so two different names would share one study.
    /// </summary>
    public static void Validate(string study) => CheckName(study, nameof(study), "a study name");

    /// <summary>
    /// Throws unless <paramref name="worker"/> is a worker id as <see cref="Validate"/> wants a study name: non-blank, at
    /// most <see cref="MaxLength"/> characters, no control characters, valid UTF-16. PostgreSQL cannot store a NUL in
    /// text and its driver cannot encode a lone surrogate (every claim of such a worker failed), SQLite stored the
    /// surrogate as U+FFFD (so the worker no longer recognised its own rows).
    /// </summary>
    public static void ValidateWorker(string worker, string paramName = "worker") => CheckName(worker, paramName, "a worker id");

    private static void CheckName(string value, string paramName, string what)
    {
        if (value is null)
        {
            throw new ArgumentNullException(paramName, $"{what} is required; received null");
        }

        int scalars = 0;
        for (int i = 0; i < value.Length; i++, scalars++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(value[i]))
            {
                throw new ArgumentException(
                    string.Create(CultureInfo.InvariantCulture, $"{what} must be valid UTF-16 text; received one with a lone surrogate \\u{(int)value[i]:x4} at index {i}"),
                    paramName);
            }
        }

        if (string.IsNullOrWhiteSpace(value) || scalars > MaxLength || value.Any(char.IsControl))
        {
            throw new ArgumentException($"{what} must be 1–{MaxLength} printable characters; received {Quote(value)}", paramName);
        }
    }

    /// <summary>The most characters of a trial's error text that a storage records (<see cref="CleanError"/>).</summary>
    public const int MaxErrorLength = 4000;

    /// <summary>
    /// A trial's error text as every storage records it (and as the search reports it): each NUL and each lone surrogate
    /// replaced by U+FFFD (PostgreSQL text cannot hold a NUL, its driver cannot encode a lone surrogate, and SQLite
    /// stored a lone surrogate as U+FFFD anyway), and text longer than <see cref="MaxErrorLength"/> characters cut to
    /// that length, ending with a marker saying how long it was (an exception message can be megabytes long). Other
    /// characters, line breaks included, are kept. Text that is already clean comes back unchanged (the same string),
    /// so cleaning twice changes nothing. Null stays null.
    /// </summary>
    public static string? CleanError(string? error)
    {
        if (error is null)
        {
            return null;
        }

        System.Text.StringBuilder? sb = null;
        for (int i = 0; i < error.Length; i++)
        {
            char ch = error[i];
            bool pair = char.IsHighSurrogate(ch) && i + 1 < error.Length && char.IsLowSurrogate(error[i + 1]);
            bool bad = ch == '\0' || (char.IsSurrogate(ch) && !pair);
            if (bad && sb is null)
            {
                sb = new System.Text.StringBuilder(error.Length).Append(error, 0, i);
            }

            if (sb is not null)
            {
                if (bad)
                {
                    sb.Append('\uFFFD');
                }
                else
                {
                    sb.Append(ch);
                    if (pair)
                    {
                        sb.Append(error[i + 1]);
                    }
                }
            }

            if (pair)
            {
                i++;
            }
        }

        string clean = sb?.ToString() ?? error;
        if (clean.Length <= MaxErrorLength)
        {
            return clean;
        }

        string marker = string.Create(CultureInfo.InvariantCulture, $"… [cut: {clean.Length} characters in all]");
        int keep = MaxErrorLength - marker.Length;
        if (char.IsHighSurrogate(clean[keep - 1]))
        {
            keep--; // never split a surrogate pair: its half would be a lone surrogate
        }

        return string.Concat(clean.AsSpan(0, keep), marker);
    }

    /// <summary>Throws when <paramref name="given"/> is not null and differs from <paramref name="stored"/>, naming the settings that differ.</summary>
    public static void CheckSame(string study, string location, StudyDefinition stored, StudyDefinition? given)
    {
        ArgumentNullException.ThrowIfNull(stored);
        if (given is null)
        {
            return;
        }

        var diffs = stored.Differences(given);
        if (diffs.Count > 0)
        {
            throw new StudyStorageException(
                $"study '{study}' already exists in {location} with another definition (different {string.Join(", ", diffs)}); " +
                $"stored: {stored.ToJson()}; given: {given.ToJson()}. Use another study name, or the same definition to join it.");
        }
    }

    /// <summary>The retry limit of <see cref="WorkerOptions.MaxRetries"/> and of the <see cref="IStudyStorage.ClaimNext(string, string, TimeSpan)"/> overload without one.</summary>
    public const int DefaultMaxRetries = 1;

    /// <summary>Throws unless <paramref name="maxRetries"/> is ≥ 0.</summary>
    public static void ValidateMaxRetries(int maxRetries)
    {
        if (maxRetries < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxRetries), maxRetries, $"maxRetries must be ≥ 0; received {maxRetries}");
        }
    }

    /// <summary>
    /// The error recorded for a running trial whose worker was taken for dead (no heartbeat for <paramref name="staleAfter"/>)
    /// on attempt <paramref name="attempt"/>: re-queued when <paramref name="retry"/>, otherwise failed for good after
    /// <paramref name="failures"/> failed attempts (this one included) with <paramref name="maxRetries"/> retries allowed.
    /// </summary>
    public static string LostWorker(TimeSpan staleAfter, int attempt, int failures, int maxRetries, bool retry)
    {
        string lost = string.Create(CultureInfo.InvariantCulture, $"its worker stopped sending heartbeats (none for {staleAfter.TotalSeconds} s) on attempt {attempt}");
        return retry
            ? "re-queued: " + lost
            : string.Create(CultureInfo.InvariantCulture, $"{lost}; {failures} of {attempt} attempts failed, {maxRetries} {(maxRetries == 1 ? "retry" : "retries")} allowed");
    }

    /// <summary>
    /// Throws unless a trial stored as complete has an outcome with a finite dev metric (what <see cref="StoredTrial.ToResult"/>
    /// needs); <paramref name="stored"/> is the stored outcome as shown in the message (e.g. its JSON, or NULL).
    /// </summary>
    public static void CheckComplete(string location, string study, int id, TrialOutcome? outcome, string stored)
    {
        if (outcome is null || !double.IsFinite(outcome.DevMetric))
        {
            throw new StudyStorageException($"{location}: trial {id} of study '{study}' is complete but its outcome is {stored}, without a finite devMetric (a damaged row)");
        }
    }

    /// <summary>
    /// Throws a <see cref="StudyStorageException"/> naming the trial unless <paramref name="config"/> is a trial that
    /// <paramref name="definition"/> could have planned: its round is one of the study's, its id lies in that round's
    /// range (round · Trials to round · Trials + Trials − 1), its seed is <see cref="Tuner.TrialSeed"/>(study seed, id),
    /// and its hyperparameters fit the study's search space (every dimension present with a value of the right kind
    /// inside its range or choices, no other names; a later coarse-to-fine round samples from a narrower space inside
    /// it, so every planned trial fits). A stored config that fails is a damaged or tampered row: it never reaches the objective.
    /// </summary>
    public static void CheckTrial(string location, string study, StudyDefinition definition, TrialConfig config)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(config);
        string trial = string.Create(CultureInfo.InvariantCulture, $"{location}: trial {config.Id} of study '{study}'");
        if (config.Round >= definition.Rounds)
        {
            throw new StudyStorageException(string.Create(CultureInfo.InvariantCulture,
                $"{trial} is in round {config.Round}, but the study has {definition.Rounds} {(definition.Rounds == 1 ? "round" : "rounds")} (a damaged row)"));
        }

        long first = (long)config.Round * definition.Trials;
        if (config.Id < first || config.Id >= first + definition.Trials)
        {
            throw new StudyStorageException(string.Create(CultureInfo.InvariantCulture,
                $"{trial} is in round {config.Round}, whose trials are {first}–{first + definition.Trials - 1} (a damaged row)"));
        }

        ulong seed = Tuner.TrialSeed(definition.Seed, config.Id);
        if (config.Seed != seed)
        {
            throw new StudyStorageException(string.Create(CultureInfo.InvariantCulture,
                $"{trial} has seed {config.Seed}, but the study gives trial {config.Id} the seed {seed} (a damaged row)"));
        }

        var problems = definition.OwnSpace.Mismatches(config);
        if (problems.Count > 0)
        {
            throw new StudyStorageException($"{trial} does not fit the study's search space: {string.Join("; ", problems)} (a damaged row)");
        }
    }

    /// <summary>
    /// <paramref name="text"/> for a message: in double quotes, control characters escaped, cut to
    /// <paramref name="max"/> characters (a stored value may be hostile, e.g. megabytes long or holding line breaks).
    /// </summary>
    public static string Quote(string text, int max = 100)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new System.Text.StringBuilder("\"");
        foreach (char ch in text.Length > max ? text[..max] : text)
        {
            if (ch is '"' or '\\')
            {
                sb.Append('\\').Append(ch);
            }
            else if (char.IsControl(ch))
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)ch:x4}");
            }
            else
            {
                sb.Append(ch);
            }
        }

        sb.Append('"');
        if (text.Length > max)
        {
            sb.Append(CultureInfo.InvariantCulture, $"… ({text.Length} characters)");
        }

        return sb.ToString();
    }

    /// <summary>Throws unless <paramref name="staleAfter"/> is positive (zero or less would re-queue trials whose workers are alive).</summary>
    public static void ValidateStaleAfter(TimeSpan staleAfter)
    {
        if (staleAfter <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(staleAfter), staleAfter, $"staleAfter must be positive (a heartbeat older than it is stale; TimeSpan.MaxValue for never); received {staleAfter}");
        }
    }

    /// <summary>
    /// Throws unless <paramref name="seconds"/> is a finite number ≥ 0: a trial's duration that is NaN, ±∞ or negative
    /// means nothing (a negative one used to be stored and read back as 0), and a database column could not keep NaN
    /// (SQLite has no NaN in a REAL column).
    /// </summary>
    public static void ValidateSeconds(double seconds)
    {
        if (!double.IsFinite(seconds) || seconds < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(seconds), seconds, $"seconds (how long the trial ran) must be a finite number ≥ 0; received {seconds.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    /// <summary>
    /// Throws unless <paramref name="outcome"/> is not null with a finite dev metric (a complete trial is ranked by it;
    /// a trial whose objective returned NaN or ±∞ is a failed one) and <paramref name="seconds"/> is finite and ≥ 0.
    /// </summary>
    public static void ValidateResult(TrialOutcome outcome, double seconds)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        if (!double.IsFinite(outcome.DevMetric))
        {
            throw new ArgumentException($"a complete trial needs a finite devMetric; received {outcome.DevMetric.ToString(CultureInfo.InvariantCulture)} (record a trial whose objective returned a non-finite metric with Fail)", nameof(outcome));
        }

        ValidateSeconds(seconds);
    }

    /// <summary>The error for a study that does not exist and cannot be created.</summary>
    public static StudyStorageException Missing(string study, string location) =>
        new($"study '{study}' does not exist in {location}; give a StudyDefinition to create it");
}
