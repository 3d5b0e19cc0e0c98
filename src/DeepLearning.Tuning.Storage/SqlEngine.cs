using System.Collections.Concurrent;
using System.Data.Common;
using System.Globalization;

namespace DeepLearning.Tuning.Storage;

/// <summary>What differs between the SQL engines: connecting, transactions, clock, locking and column types.</summary>
internal abstract class SqlDialect
{
    /// <summary>Where the studies are kept, for messages (never a password).</summary>
    public abstract string Location { get; }

    /// <summary>SQL for the database's clock in Unix seconds (double).</summary>
    public abstract string Now { get; }

    /// <summary>Appended to the claim's SELECT so concurrent claimers skip each other's rows.</summary>
    public abstract string SkipLocked { get; }

    /// <summary>The type of a double column.</summary>
    public abstract string RealType { get; }

    /// <summary>An opened connection; connection errors become <see cref="StudyStorageException"/> naming the server or file.</summary>
    public abstract DbConnection Open();

    /// <summary>True when the database error may go away if the same call is made again (a lost connection, a lock, a timeout).</summary>
    public virtual bool IsTransient(DbException e) => e.IsTransient;

    /// <summary>Starts a transaction that will write (SQLite: BEGIN IMMEDIATE, taking the write lock now).</summary>
    public abstract DbTransaction? BeginWrite(DbConnection connection);

    /// <summary>Commits what <see cref="BeginWrite"/> started.</summary>
    public abstract void Commit(DbConnection connection, DbTransaction? transaction);

    /// <summary>Rolls back what <see cref="BeginWrite"/> started.</summary>
    public abstract void Rollback(DbConnection connection, DbTransaction? transaction);

    /// <summary>Inside the schema transaction: serializes schema creation across processes.</summary>
    public abstract void LockSchema(DbConnection connection, DbTransaction? transaction);

    /// <summary>True when the schema table exists.</summary>
    public abstract bool SchemaTableExists(DbConnection connection, DbTransaction? transaction);

    /// <summary>Inside a claim: serializes planning of the study's next round.</summary>
    public abstract void LockStudy(DbConnection connection, DbTransaction? transaction, string study);

    /// <summary>Runs once per connection after it is opened.</summary>
    public virtual void Prepare(DbConnection connection)
    {
    }
}

/// <summary>
/// The study storage logic shared by SQLite and PostgreSQL: a versioned schema of three tables
/// (dl_schema, dl_studies, dl_trials) and the claim/heartbeat/complete transactions.
/// </summary>
/// <remarks>
/// The database is a file or server a user may have been handed, so every value read is checked before it is used: a
/// text column must hold text (a NULL where none belongs, a number, or a BLOB — even one holding UTF-8 text, which SQLite
/// lets a TEXT column keep — is refused, never decoded), a count, id or round a whole number ≥ 0 of 32 bits (a
/// number, never text), a time or duration a number; each stored config must fit the study
/// (<see cref="StudyNames.CheckTrial"/>). Anything else is a <see cref="StudyStorageException"/> naming the storage, the
/// study, the trial and the column, thrown inside the transaction, so nothing is written.
/// </remarks>
internal sealed class SqlEngine
{
    /// <summary>The schema version this library writes and reads.</summary>
    public const int SchemaVersion = 1;

    private static readonly double _minUnixMilliseconds = DateTimeOffset.MinValue.ToUnixTimeMilliseconds();
    private static readonly double _maxUnixMilliseconds = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    private readonly SqlDialect _dialect;
    private readonly object _schemaLock = new();

    // The last definition parsed per study, by its stored text: a claim checks each config against the study, and a
    // grid's definition builds its whole grid to count it. Used only inside this class (its space is never handed out).
    private readonly ConcurrentDictionary<string, (string Json, StudyDefinition Definition)> _definitions = new(StringComparer.Ordinal);
    private bool _schemaReady;

    public SqlEngine(SqlDialect dialect)
    {
        _dialect = dialect;
    }

    public string Location => _dialect.Location;

    public StudyDefinition OpenStudy(string study, StudyDefinition? definition)
    {
        StudyNames.Validate(study);
        return Write("open the study", (c, tx) =>
        {
            string? stored = DefinitionText(c, tx, study);
            if (stored is null)
            {
                if (definition is null)
                {
                    throw StudyNames.Missing(study, Location);
                }

                Execute(c, tx, $"INSERT INTO dl_studies (name, definition, created_at) VALUES (@s, @d, {_dialect.Now}) ON CONFLICT (name) DO NOTHING",
                    ("s", study), ("d", definition.ToJson()));
                stored = DefinitionText(c, tx, study)
                    ?? throw new StudyStorageException($"{Location}: study '{study}' could not be created: its row is not found after it was written (a damaged dl_studies table)");
            }

            var existing = ReadDefinition(study, stored);
            StudyNames.CheckSame(study, Location, existing, definition);
            return existing;
        });
    }

    public TrialClaimResult ClaimNext(string study, string worker, TimeSpan staleAfter, int maxRetries)
    {
        StudyNames.Validate(study);
        StudyNames.ValidateWorker(worker);
        StudyNames.ValidateStaleAfter(staleAfter);
        StudyNames.ValidateMaxRetries(maxRetries);
        return Write("claim a trial", (c, tx) =>
        {
            var definition = StoredDefinition(c, tx, study);
            RetireStale(c, tx, study, staleAfter, maxRetries);
            var claim = TryClaim(c, tx, study, worker, definition);
            if (claim is not null)
            {
                return new TrialClaimResult(ClaimStatus.Claimed, claim);
            }

            if (CountOpen(c, tx, study) > 0)
            {
                return new TrialClaimResult(ClaimStatus.Wait, null);
            }

            // Nothing queued or running: whoever gets the study lock plans the next round, once.
            _dialect.LockStudy(c, tx, study);
            if (CountOpen(c, tx, study) > 0)
            {
                return new TrialClaimResult(ClaimStatus.Wait, null);
            }

            var finished = Load(c, tx, study, definition).Select(t => t.ToResult()).Where(r => r is not null).Select(r => r!).ToList();
            var planned = definition.NextTrials(finished);
            if (planned.Count == 0)
            {
                return new TrialClaimResult(ClaimStatus.Finished, null);
            }

            foreach (var t in planned)
            {
                Execute(c, tx, "INSERT INTO dl_trials (study, id, round, seed, config, status, attempts, failures) VALUES (@s, @id, @r, @seed, @c, 'queued', 0, 0)",
                    ("s", study), ("id", t.Id), ("r", t.Round), ("seed", t.Seed.ToString(CultureInfo.InvariantCulture)), ("c", t.ToJson()));
            }

            claim = TryClaim(c, tx, study, worker, definition);
            return claim is null ? new TrialClaimResult(ClaimStatus.Wait, null) : new TrialClaimResult(ClaimStatus.Claimed, claim);
        });
    }

    public bool Heartbeat(string study, TrialClaim claim) =>
        Update("record a heartbeat", study, claim, $"heartbeat_at = {_dialect.Now}");

    public bool Complete(string study, TrialClaim claim, TrialOutcome outcome, double seconds)
    {
        // Refused before anything is written, as in memory: SQLite cannot keep a NaN in a REAL column (Microsoft.Data.Sqlite
        // refuses the parameter), and a dev metric that is not finite belongs to a failed trial.
        StudyNames.ValidateResult(outcome, seconds);
        return Update("record a result", study, claim,
            $"status = 'complete', ended_at = {_dialect.Now}, heartbeat_at = {_dialect.Now}, seconds = @sec, dev_metric = @dev, outcome = @o, error = NULL",
            ("sec", seconds), ("dev", double.IsFinite(outcome.DevMetric) ? outcome.DevMetric : DBNull.Value), ("o", outcome.ToJson()));
    }

    public bool Fail(string study, TrialClaim claim, string error, double seconds, bool retry, TrialOutcome? outcome)
    {
        StudyNames.ValidateSeconds(seconds);

        // As every storage records it: PostgreSQL refuses a NUL in text (22021) and its driver cannot encode a lone surrogate.
        error = StudyNames.CleanError(error)!;
        return retry
            ? Update("record a failure", study, claim, "status = 'queued', worker = NULL, failures = failures + 1, error = @e", ("e", error))
            : Update("record a failure", study, claim, $"status = 'failed', failures = failures + 1, error = @e, seconds = @sec, outcome = @o, ended_at = {_dialect.Now}",
                ("e", error), ("sec", seconds), ("o", outcome?.ToJson()));
    }

    public bool Release(string study, TrialClaim claim) =>
        Update("release a trial", study, claim, "status = 'queued', worker = NULL");

    public IReadOnlyList<StoredTrial> LoadTrials(string study)
    {
        StudyNames.Validate(study);
        return Write("read the trials", (c, tx) =>
        {
            var definition = StoredDefinition(c, tx, study);
            return Load(c, tx, study, definition);
        });
    }

    private bool Update(string what, string study, TrialClaim claim, string set, params (string Name, object? Value)[] values)
    {
        StudyNames.Validate(study);
        ArgumentNullException.ThrowIfNull(claim);
        var all = values.Concat([("s", (object?)study), ("id", claim.Config.Id), ("a", claim.Attempt)]).ToArray();
        return Write(what, (c, tx) =>
            Execute(c, tx, $"UPDATE dl_trials SET {set} WHERE study = @s AND id = @id AND status = 'running' AND attempts = @a", all) == 1);
    }

    /// <summary>
    /// Takes the worker of each running trial whose heartbeat is older than <paramref name="staleAfter"/> for dead (a
    /// missing heartbeat, which only a damaged row has, too: NULL is never older than anything, and every worker would
    /// wait for the trial forever). That is a failed attempt: back to the queue when fewer than
    /// <paramref name="maxRetries"/> earlier attempts failed, otherwise failed for good. Each update holds only for the
    /// attempt read, so two claimers (PostgreSQL) never count one loss twice.
    /// </summary>
    private void RetireStale(DbConnection c, DbTransaction? tx, string study, TimeSpan staleAfter, int maxRetries)
    {
        var stale = new List<(int Id, int Attempts, int Failures)>();
        using (var cmd = Command(c, tx,
            $"SELECT id, attempts, failures FROM dl_trials WHERE study = @s AND status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < {_dialect.Now} - @stale) ORDER BY id",
            ("s", study), ("stale", staleAfter.TotalSeconds)))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                int id = Id(r, 0, study);
                stale.Add((id, Int(r, 1, "attempts", study, id), Int(r, 2, "failures", study, id)));
            }
        }

        foreach (var (id, attempts, failures) in stale)
        {
            if (failures == int.MaxValue)
            {
                throw new StudyStorageException($"{Location}: trial {id} of study '{study}' has failures = {failures}; it cannot fail again");
            }

            bool retry = failures < maxRetries;
            string error = StudyNames.LostWorker(staleAfter, attempts, failures + 1, maxRetries, retry);
            string set = retry ? "status = 'queued', worker = NULL" : $"status = 'failed', ended_at = {_dialect.Now}";
            Execute(c, tx, $"UPDATE dl_trials SET {set}, failures = @f1, error = @e WHERE study = @s AND id = @id AND status = 'running' AND attempts = @a AND failures = @f",
                ("f1", failures + 1), ("e", error), ("s", study), ("id", id), ("a", attempts), ("f", failures));
        }
    }

    /// <summary>
    /// Claims the queued trial with the lowest id, once its row has been checked (its config must fit
    /// <paramref name="definition"/>, so a tampered config never reaches the objective).
    /// </summary>
    private TrialClaim? TryClaim(DbConnection c, DbTransaction? tx, string study, string worker, StudyDefinition definition)
    {
        int id, attempts, failures;
        TrialConfig config;
        using (var cmd = Command(c, tx, $"SELECT id, round, config, attempts, failures FROM dl_trials WHERE study = @s AND status = 'queued' ORDER BY id LIMIT 1{_dialect.SkipLocked}", ("s", study)))
        using (var r = cmd.ExecuteReader())
        {
            if (!r.Read())
            {
                return null;
            }

            id = Id(r, 0, study);
            config = ReadConfig(study, id, Int(r, 1, "round", study, id), Text(r, 2, "config", study, id)!, definition);
            attempts = Int(r, 3, "attempts", study, id);
            failures = Int(r, 4, "failures", study, id);
            if (attempts == int.MaxValue)
            {
                throw new StudyStorageException($"{Location}: trial {id} of study '{study}' has attempts = {attempts}; it cannot be claimed again");
            }

            attempts++;
        }

        int rows = Execute(c, tx, $"UPDATE dl_trials SET status = 'running', worker = @w, attempts = @a, started_at = {_dialect.Now}, heartbeat_at = {_dialect.Now}, ended_at = NULL WHERE study = @s AND id = @id",
            ("w", worker), ("a", attempts), ("s", study), ("id", id));
        if (rows != 1)
        {
            // A table recreated without its primary key: one claim would hold two rows (rolled back).
            throw new StudyStorageException(string.Create(CultureInfo.InvariantCulture, $"{Location}: trial {id} of study '{study}' has {rows} rows in dl_trials (a damaged table)"));
        }

        return new TrialClaim(config, attempts, failures);
    }

    private static long CountOpen(DbConnection c, DbTransaction? tx, string study) =>
        Convert.ToInt64(Scalar(c, tx, "SELECT COUNT(*) FROM dl_trials WHERE study = @s AND status IN ('queued', 'running')", ("s", study)), CultureInfo.InvariantCulture);

    /// <summary>Every trial of the study, by id, each row checked (see the class remarks) and its config against <paramref name="definition"/>.</summary>
    private List<StoredTrial> Load(DbConnection c, DbTransaction? tx, string study, StudyDefinition definition)
    {
        var list = new List<StoredTrial>();
        using var cmd = Command(c, tx,
            "SELECT id, round, config, status, worker, attempts, failures, started_at, heartbeat_at, ended_at, seconds, outcome, error FROM dl_trials WHERE study = @s ORDER BY id",
            ("s", study));
        using var r = cmd.ExecuteReader();
        int previous = -1;
        while (r.Read())
        {
            int id = Id(r, 0, study);
            if (id == previous)
            {
                // A table recreated without its primary key.
                throw new StudyStorageException(string.Create(CultureInfo.InvariantCulture, $"{Location}: trial {id} of study '{study}' has more than one row in dl_trials (a damaged table)"));
            }

            previous = id;
            string status = Text(r, 3, "status", study, id)!;
            string? outcome = Text(r, 11, "outcome", study, id, nullable: true);
            var trial = new StoredTrial
            {
                Config = ReadConfig(study, id, Int(r, 1, "round", study, id), Text(r, 2, "config", study, id)!, definition),
                Status = status switch
                {
                    "queued" => StoredTrialStatus.Queued,
                    "running" => StoredTrialStatus.Running,
                    "complete" => StoredTrialStatus.Complete,
                    "failed" => StoredTrialStatus.Failed,
                    _ => throw new StudyStorageException($"{Location}: trial {id} of study '{study}' has an unknown status {StudyNames.Quote(status)}"),
                },
                Worker = Text(r, 4, "worker", study, id, nullable: true),
                Attempts = Int(r, 5, "attempts", study, id),
                Failures = Int(r, 6, "failures", study, id),
                StartedAt = Time(r, 7, "started_at", study, id),
                HeartbeatAt = Time(r, 8, "heartbeat_at", study, id),
                EndedAt = Time(r, 9, "ended_at", study, id),
                Seconds = Seconds(r, 10, study, id),
                Outcome = outcome is null ? null : ReadOutcome(study, id, outcome),
                Error = Text(r, 12, "error", study, id, nullable: true),
            };

            // A complete row is ranked by its dev metric (StoredTrial.ToResult would throw a bare ArgumentException).
            if (trial.Status == StoredTrialStatus.Complete)
            {
                StudyNames.CheckComplete(Location, study, id, trial.Outcome, outcome ?? "NULL");
            }

            list.Add(trial);
        }

        return list;
    }

    /// <summary>
    /// A trial's stored id (a whole number ≥ 0 of 32 bits); any other value is a <see cref="StudyStorageException"/>
    /// naming the study, the column and the value (there is no trial number to name).
    /// </summary>
    private int Id(DbDataReader r, int i, string study)
    {
        object value = r.GetValue(i);
        return Whole(value, int.MaxValue) is { } id
            ? (int)id
            : throw new StudyStorageException($"{Location}: a trial of study '{study}' has id = {Show(value)}, not a whole number ≥ 0 of 32 bits");
    }

    /// <summary>
    /// A stored round or count (all whole numbers ≥ 0 that fit 32 bits). Any other value (a damaged or tampered row:
    /// NULL, negative, fractional — which a conversion would round — too large, text, even text of digits, or a BLOB)
    /// is a <see cref="StudyStorageException"/> naming the trial, the column and the value.
    /// </summary>
    private int Int(DbDataReader r, int i, string column, string study, int id)
    {
        object value = r.GetValue(i);
        return Whole(value, int.MaxValue) is { } n
            ? (int)n
            : throw new StudyStorageException(string.Create(CultureInfo.InvariantCulture,
                $"{Location}: trial {id} of study '{study}' has {column} = {Show(value)}, not a whole number ≥ 0 of 32 bits"));
    }

    /// <summary>
    /// A stored text column's value: a string. A NULL (where <paramref name="nullable"/> allows it) is null; anything
    /// else — NULL in a column that needs a value, a number, or a BLOB (SQLite lets a TEXT column keep one; it is refused,
    /// not decoded) — is a <see cref="StudyStorageException"/> naming the trial, the column and the value.
    /// </summary>
    private string? Text(DbDataReader r, int i, string column, string study, int id, bool nullable = false)
    {
        object value = r.GetValue(i);
        return value switch
        {
            string s => s,
            DBNull when nullable => null,
            _ => throw new StudyStorageException(string.Create(CultureInfo.InvariantCulture,
                $"{Location}: trial {id} of study '{study}' has {column} = {Show(value)}, not text")),
        };
    }

    /// <summary>
    /// The stored seconds of a trial: 0 while none were recorded (NULL: queued or running). NaN (which only a tampered
    /// row holds now that writes refuse it) or a value that is not a number (text, even text of digits, or a BLOB) is a
    /// <see cref="StudyStorageException"/> naming the trial, never a silent 0. ±∞ and negative values read back as stored
    /// (an older version accepted them; <see cref="StoredTrial.ToResult"/> counts a negative as 0).
    /// </summary>
    private double Seconds(DbDataReader r, int i, string study, int id)
    {
        object value = r.GetValue(i);
        if (value is DBNull)
        {
            return 0;
        }

        double seconds = Number(value) ?? throw new StudyStorageException($"{Location}: trial {id} of study '{study}' has seconds = {Show(value)}, not a number");
        return double.IsNaN(seconds)
            ? throw new StudyStorageException($"{Location}: trial {id} of study '{study}' has seconds = NaN, not a number of seconds")
            : seconds;
    }

    /// <summary>
    /// A stored time in Unix seconds (NULL: none); a value that is not a number, or one outside the years 1–9999 (or not
    /// finite), is a <see cref="StudyStorageException"/> naming the trial and column.
    /// </summary>
    private DateTimeOffset? Time(DbDataReader r, int i, string column, string study, int id)
    {
        object value = r.GetValue(i);
        if (value is DBNull)
        {
            return null;
        }

        double seconds = Number(value) ?? throw new StudyStorageException($"{Location}: trial {id} of study '{study}' has {column} = {Show(value)}, not a time");
        double ms = Math.Round(seconds * 1000);
        if (!(ms >= _minUnixMilliseconds && ms <= _maxUnixMilliseconds))
        {
            throw new StudyStorageException($"{Location}: trial {id} of study '{study}' has {column} = {Show(value)}, outside the years 1–9999");
        }

        return DateTimeOffset.FromUnixTimeMilliseconds((long)ms);
    }

    /// <summary>A value of a numeric type (never text, even of digits, nor a BLOB) as a double; null for anything else.</summary>
    private static double? Number(object value) => IsNumber(value) ? Convert.ToDouble(value, CultureInfo.InvariantCulture) : null;

    /// <summary>
    /// A value of a numeric type that is a whole number in [0, <paramref name="max"/>]; null for anything else (NULL,
    /// negative, fractional, not finite, too large, text — even of digits — or a BLOB).
    /// </summary>
    private static long? Whole(object value, long max)
    {
        if (!IsNumber(value))
        {
            return null;
        }

        decimal number;
        try
        {
            number = Convert.ToDecimal(value, CultureInfo.InvariantCulture);
        }
        catch (OverflowException)
        {
            // ±∞, NaN or beyond decimal's range.
            return null;
        }

        return number >= 0 && number <= max && number == decimal.Truncate(number) ? (long)number : null;
    }

    private static bool IsNumber(object value) =>
        value is byte or sbyte or short or ushort or int or uint or long or ulong or float or double or decimal;

    /// <summary>A stored value for a message: NULL, text quoted (and cut), a BLOB as a hex literal (cut), a number in invariant form.</summary>
    internal static string Show(object? value) => value switch
    {
        null or DBNull => "NULL",
        string s => StudyNames.Quote(s),
        byte[] b => b.Length <= 32
            ? $"x'{Convert.ToHexStringLower(b)}' (a BLOB)"
            : string.Create(CultureInfo.InvariantCulture, $"x'{Convert.ToHexStringLower(b.AsSpan(0, 32))}…' (a BLOB of {b.Length} bytes)"),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => $"a {value.GetType().Name}",
    };

    /// <summary>
    /// The study's stored definition text; null when the study has no row. A row whose definition is not text (NULL, a
    /// number, a BLOB), or a study with two rows, is a <see cref="StudyStorageException"/> naming the study and the column.
    /// </summary>
    private string? DefinitionText(DbConnection c, DbTransaction? tx, string study)
    {
        using var cmd = Command(c, tx, "SELECT definition FROM dl_studies WHERE name = @s", ("s", study));
        using var r = cmd.ExecuteReader();
        if (!r.Read())
        {
            return null;
        }

        object value = r.GetValue(0);
        if (r.Read())
        {
            throw new StudyStorageException($"{Location}: study '{study}' has more than one row in dl_studies (a damaged table)");
        }

        return value as string
            ?? throw new StudyStorageException($"{Location}: study '{study}' has definition = {Show(value)}, not text (a damaged row)");
    }

    /// <summary>The study's stored definition, parsed (once per stored text); a study with no row is the usual "does not exist" error.</summary>
    private StudyDefinition StoredDefinition(DbConnection c, DbTransaction? tx, string study)
    {
        string json = DefinitionText(c, tx, study) ?? throw StudyNames.Missing(study, Location);
        if (_definitions.TryGetValue(study, out var cached) && string.Equals(cached.Json, json, StringComparison.Ordinal))
        {
            return cached.Definition;
        }

        var definition = ReadDefinition(study, json);
        _definitions[study] = (json, definition);
        return definition;
    }

    private StudyDefinition ReadDefinition(string study, string json)
    {
        try
        {
            return StudyDefinition.FromJson(json);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new StudyStorageException($"{Location}: the stored definition of study '{study}' is not valid: {e.Message}", e);
        }
    }

    /// <summary>
    /// The trial's config, which must name the row's id and round (the next round is planned from the configs' rounds) and
    /// be one the study could have planned (<see cref="StudyNames.CheckTrial"/>: round, id range, seed, and hyperparameters
    /// that fit the search space).
    /// </summary>
    private TrialConfig ReadConfig(string study, int id, int round, string json, StudyDefinition definition)
    {
        TrialConfig config;
        try
        {
            config = TrialConfig.FromJson(json);
        }
        catch (FormatException e)
        {
            throw new StudyStorageException($"{Location}: trial {id} of study '{study}' has an invalid config: {e.Message}", e);
        }

        if (config.Id != id)
        {
            throw new StudyStorageException($"{Location}: trial {id} of study '{study}' has id = {id} but its config says id {config.Id}");
        }

        if (config.Round != round)
        {
            throw new StudyStorageException($"{Location}: trial {id} of study '{study}' has round = {round} but its config says round {config.Round}");
        }

        StudyNames.CheckTrial(Location, study, definition, config);
        return config;
    }

    private TrialOutcome ReadOutcome(string study, int id, string json)
    {
        try
        {
            return TrialOutcome.FromJson(json);
        }
        catch (FormatException e)
        {
            throw new StudyStorageException($"{Location}: trial {id} of study '{study}' has an invalid outcome: {e.Message}", e);
        }
    }

    /// <summary>Runs <paramref name="body"/> in one write transaction, creating or checking the schema first.</summary>
    private TResult Write<TResult>(string what, Func<DbConnection, DbTransaction?, TResult> body)
    {
        EnsureSchema();
        return InTransaction(what, body);
    }

    /// <summary>Runs <paramref name="body"/> in one write transaction; a database error, or an encoding error from the driver, becomes a <see cref="StudyStorageException"/> saying what could not be done.</summary>
    private TResult InTransaction<TResult>(string what, Func<DbConnection, DbTransaction?, TResult> body)
    {
        try
        {
            using var c = _dialect.Open();
            var tx = _dialect.BeginWrite(c);
            try
            {
                var result = body(c, tx);
                _dialect.Commit(c, tx);
                return result;
            }
            catch
            {
                _dialect.Rollback(c, tx);
                throw;
            }
            finally
            {
                tx?.Dispose();
            }
        }
        catch (DbException e)
        {
            throw new StudyStorageException($"{Location}: could not {what}: {e.Message}", e, _dialect.IsTransient(e));
        }
        catch (Exception e) when (e is System.Text.EncoderFallbackException or System.Text.DecoderFallbackException)
        {
            // A value the driver cannot encode for the database (e.g. a lone surrogate for PostgreSQL's UTF-8), or text it
            // read back that it cannot decode: not a raw encoding error from deep inside the driver.
            throw new StudyStorageException($"{Location}: could not {what}: a value could not be encoded or decoded as the database's text: {e.Message}", e);
        }
    }

    private void EnsureSchema()
    {
        lock (_schemaLock)
        {
            if (_schemaReady)
            {
                return;
            }

            InTransaction("create or check the study schema", (c, tx) =>
            {
                _dialect.LockSchema(c, tx);
                if (_dialect.SchemaTableExists(c, tx))
                {
                    object? stored = Scalar(c, tx, "SELECT MAX(version) FROM dl_schema");
                    long version = stored is null ? 0 : Whole(stored, long.MaxValue)
                        ?? throw new StudyStorageException($"{Location} holds study schema version {Show(stored)}, not a version number (a damaged dl_schema table); nothing was written");
                    if (version > SchemaVersion)
                    {
                        throw new StudyStorageException(
                            $"{Location} holds study schema version {version}, newer than version {SchemaVersion} that this DeepLearning.Tuning.Storage understands; " +
                            "use a newer DeepLearning.Tuning.Storage (nothing was written)");
                    }

                    if (version < SchemaVersion)
                    {
                        throw new StudyStorageException($"{Location} holds study schema version {version}, which this library cannot read (it writes version {SchemaVersion}); nothing was written");
                    }
                }
                else
                {
                    CreateSchema(c, tx);
                }

                return true;
            });

            _schemaReady = true;
        }
    }

    private void CreateSchema(DbConnection c, DbTransaction? tx)
    {
        string real = _dialect.RealType;
        Execute(c, tx, "CREATE TABLE dl_schema (version INTEGER NOT NULL)");
        Execute(c, tx, $"CREATE TABLE dl_studies (name TEXT PRIMARY KEY, definition TEXT NOT NULL, created_at {real} NOT NULL)");
        Execute(c, tx, $"""
            CREATE TABLE dl_trials (
                study TEXT NOT NULL REFERENCES dl_studies (name),
                id INTEGER NOT NULL,
                round INTEGER NOT NULL,
                seed TEXT NOT NULL,
                config TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'complete', 'failed')),
                worker TEXT,
                attempts INTEGER NOT NULL,
                failures INTEGER NOT NULL,
                started_at {real},
                heartbeat_at {real},
                ended_at {real},
                seconds {real},
                dev_metric {real},
                outcome TEXT,
                error TEXT,
                PRIMARY KEY (study, id))
            """);
        Execute(c, tx, "CREATE INDEX dl_trials_status ON dl_trials (study, status, id)");
        Execute(c, tx, "INSERT INTO dl_schema (version) VALUES (@v)", ("v", SchemaVersion));
    }

    internal static DbCommand Command(DbConnection c, DbTransaction? tx, string sql, params (string Name, object? Value)[] values)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach (var (name, value) in values)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = "@" + name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }

        return cmd;
    }

    internal static int Execute(DbConnection c, DbTransaction? tx, string sql, params (string Name, object? Value)[] values)
    {
        using var cmd = Command(c, tx, sql, values);
        return cmd.ExecuteNonQuery();
    }

    internal static object? Scalar(DbConnection c, DbTransaction? tx, string sql, params (string Name, object? Value)[] values)
    {
        using var cmd = Command(c, tx, sql, values);
        var v = cmd.ExecuteScalar();
        return v is DBNull ? null : v;
    }
}
