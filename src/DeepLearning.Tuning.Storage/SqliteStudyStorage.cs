using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace DeepLearning.Tuning.Storage;

/// <summary>
/// A study storage in one SQLite file: many worker processes on one machine share a study. A claim is one
/// write transaction (<c>BEGIN IMMEDIATE</c>, so claimers queue for the write lock instead of failing); the
/// file runs in WAL mode and every connection waits up to <see cref="BusyTimeout"/> for the lock. Not for
/// network file systems (SQLite's locking needs a local disk); use <see cref="PostgresStudyStorage"/> across machines.
/// </summary>
public sealed class SqliteStudyStorage : IStudyStorage
{
    private readonly SqlEngine _engine;

    /// <summary>Opens (creating on first use) the SQLite file at <paramref name="path"/>; its folder must exist.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="busyTimeout">How long a statement waits for another process's write lock; default 30 s.</param>
    public SqliteStudyStorage(string path, TimeSpan? busyTimeout = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        BusyTimeout = busyTimeout ?? TimeSpan.FromSeconds(30);
        if (BusyTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(busyTimeout), busyTimeout, $"busyTimeout must be positive; received {busyTimeout}");
        }

        Path = System.IO.Path.GetFullPath(path);
        string? folder = System.IO.Path.GetDirectoryName(Path);
        if (folder is not null && !Directory.Exists(folder))
        {
            throw new StudyStorageException($"cannot open SQLite study storage '{Path}': the folder '{folder}' does not exist");
        }

        _engine = new SqlEngine(new Dialect(this));
    }

    /// <summary>The database file's full path.</summary>
    public string Path { get; }

    /// <summary>How long a statement waits for another process's write lock.</summary>
    public TimeSpan BusyTimeout { get; }

    /// <inheritdoc/>
    public string Location => "sqlite:" + Path;

    /// <inheritdoc/>
    public StudyDefinition OpenStudy(string study, StudyDefinition? definition) => _engine.OpenStudy(study, definition);

    /// <inheritdoc/>
    public TrialClaimResult ClaimNext(string study, string worker, TimeSpan staleAfter) => _engine.ClaimNext(study, worker, staleAfter, StudyNames.DefaultMaxRetries);

    /// <inheritdoc/>
    public TrialClaimResult ClaimNext(string study, string worker, TimeSpan staleAfter, int maxRetries) => _engine.ClaimNext(study, worker, staleAfter, maxRetries);

    /// <inheritdoc/>
    public bool Heartbeat(string study, TrialClaim claim) => _engine.Heartbeat(study, claim);

    /// <inheritdoc/>
    public bool Complete(string study, TrialClaim claim, TrialOutcome outcome, double seconds) => _engine.Complete(study, claim, outcome, seconds);

    /// <inheritdoc/>
    public bool Fail(string study, TrialClaim claim, string error, double seconds, bool retry) => _engine.Fail(study, claim, error, seconds, retry, null);

    /// <inheritdoc/>
    public bool Fail(string study, TrialClaim claim, string error, double seconds, bool retry, TrialOutcome? outcome) => _engine.Fail(study, claim, error, seconds, retry, outcome);

    /// <inheritdoc/>
    public bool Release(string study, TrialClaim claim) => _engine.Release(study, claim);

    /// <inheritdoc/>
    public IReadOnlyList<StoredTrial> LoadTrials(string study) => _engine.LoadTrials(study);

    /// <summary>Connections are pooled by Microsoft.Data.Sqlite; nothing else to release.</summary>
    public void Dispose()
    {
    }

    /// <inheritdoc/>
    public override string ToString() => Location;

    private sealed class Dialect(SqliteStudyStorage owner) : SqlDialect
    {
        private readonly string _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = owner.Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            DefaultTimeout = (int)Math.Ceiling(owner.BusyTimeout.TotalSeconds),
            Pooling = true,
        }.ToString();

        private volatile bool _walSet;

        public override string Location => owner.Location;

        public override string Now => "((julianday('now') - 2440587.5) * 86400.0)";

        public override string SkipLocked => "";

        public override string RealType => "REAL";

        public override DbConnection Open()
        {
            var c = new SqliteConnection(_connectionString);
            try
            {
                c.Open();
                SqlEngine.Execute(c, null, $"PRAGMA busy_timeout = {(long)owner.BusyTimeout.TotalMilliseconds}");
                SqlEngine.Execute(c, null, "PRAGMA foreign_keys = ON");
                if (!_walSet)
                {
                    // Readers beside the writer; the mode sticks to the file, and cannot change inside a transaction.
                    SqlEngine.Scalar(c, null, "PRAGMA journal_mode = WAL");
                    _walSet = true;
                }

                return c;
            }
            catch (SqliteException e)
            {
                c.Dispose();
                throw new StudyStorageException($"cannot open SQLite study storage '{owner.Path}': {e.Message}", e, IsTransient(e));
            }
        }

        // The write lock is taken at BEGIN, so two claimers never both read "queued" and then both write.
        public override DbTransaction? BeginWrite(DbConnection connection)
        {
            SqlEngine.Execute(connection, null, "BEGIN IMMEDIATE");
            return null;
        }

        public override void Commit(DbConnection connection, DbTransaction? transaction) => SqlEngine.Execute(connection, null, "COMMIT");

        public override void Rollback(DbConnection connection, DbTransaction? transaction)
        {
            try
            {
                SqlEngine.Execute(connection, null, "ROLLBACK");
            }
            catch (SqliteException)
            {
                // No transaction left to roll back (SQLite ends it itself on some errors).
            }
        }

        // SQLITE_BUSY (5) and SQLITE_LOCKED (6): another process held the lock past the busy timeout.
        public override bool IsTransient(DbException e) => e.IsTransient || e is SqliteException { SqliteErrorCode: 5 or 6 };

        public override void LockSchema(DbConnection connection, DbTransaction? transaction)
        {
            // BEGIN IMMEDIATE already holds the database's write lock.
        }

        public override bool SchemaTableExists(DbConnection connection, DbTransaction? transaction) =>
            Convert.ToInt64(SqlEngine.Scalar(connection, transaction, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'dl_schema'"), System.Globalization.CultureInfo.InvariantCulture) > 0;

        public override void LockStudy(DbConnection connection, DbTransaction? transaction, string study)
        {
            // Already serialized by BEGIN IMMEDIATE.
        }
    }
}
