using System.Data.Common;
using System.Globalization;
using System.Net.Sockets;
using Npgsql;

namespace DeepLearning.Tuning.Storage;

/// <summary>
/// A study storage in a PostgreSQL database: workers on many machines share a study. A worker claims the
/// lowest queued trial with <c>SELECT … FOR UPDATE SKIP LOCKED</c>, so concurrent claimers never wait on each
/// other or take the same row; the next round is planned under a row lock on the study, once; times come from
/// the server's clock, so the stale timeout does not depend on the workers' clocks. The tables (dl_schema,
/// dl_studies, dl_trials) are created in the connection's search path on first use.
/// </summary>
public sealed class PostgresStudyStorage : IStudyStorage
{
    private readonly NpgsqlDataSource _source;
    private readonly SqlEngine _engine;

    /// <summary>Connects with an Npgsql connection string, e.g. <c>Host=db;Port=5432;Username=tuner;Password=…;Database=studies</c>.</summary>
    /// <exception cref="ArgumentException">The connection string cannot be parsed.</exception>
    public PostgresStudyStorage(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
        {
            throw new ArgumentException($"not a valid Npgsql connection string: {e.Message}", nameof(connectionString), e);
        }

        Host = builder.Host ?? "localhost";
        Port = builder.Port;
        Database = builder.Database ?? builder.Username ?? Environment.UserName;
        Username = builder.Username ?? Environment.UserName;
        _source = NpgsqlDataSource.Create(builder);
        _engine = new SqlEngine(new Dialect(this));
    }

    /// <summary>The server's host name (or socket folder).</summary>
    public string Host { get; }

    /// <summary>The server's port.</summary>
    public int Port { get; }

    /// <summary>The database.</summary>
    public string Database { get; }

    /// <summary>The user name.</summary>
    public string Username { get; }

    /// <inheritdoc/>
    public string Location => string.Create(CultureInfo.InvariantCulture, $"postgres://{Username}@{Host}:{Port}/{Database}");

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

    /// <summary>Closes the pooled connections.</summary>
    public void Dispose() => _source.Dispose();

    /// <inheritdoc/>
    public override string ToString() => Location;

    private sealed class Dialect(PostgresStudyStorage owner) : SqlDialect
    {
        // Any constant: the advisory lock that serializes schema creation between workers starting together.
        private const long SchemaLockKey = 0x444C_5455_4E45;

        public override string Location => owner.Location;

        public override string Now => "extract(epoch from clock_timestamp())::double precision";

        public override string SkipLocked => " FOR UPDATE SKIP LOCKED";

        public override string RealType => "DOUBLE PRECISION";

        public override DbConnection Open()
        {
            try
            {
                return owner._source.OpenConnection();
            }
            catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException or InvalidOperationException)
            {
                bool refused = e is PostgresException { SqlState: "28P01" or "28000" or "3D000" };
                string why = e is PostgresException { SqlState: "28P01" or "28000" }
                    ? "the server refused the credentials"
                    : e is PostgresException { SqlState: "3D000" } ? "the database does not exist"
                    : "the server could not be reached or refused the connection";
                throw new StudyStorageException(
                    $"cannot connect to PostgreSQL at {owner.Host}:{owner.Port.ToString(CultureInfo.InvariantCulture)} as user '{owner.Username}' (database '{owner.Database}'): {why}: {e.Message}", e, isTransient: !refused);
            }
        }

        public override DbTransaction? BeginWrite(DbConnection connection) => connection.BeginTransaction();

        public override void Commit(DbConnection connection, DbTransaction? transaction) => transaction!.Commit();

        public override void Rollback(DbConnection connection, DbTransaction? transaction)
        {
            try
            {
                transaction!.Rollback();
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                // The connection broke; the server rolls back on its own.
            }
        }

        public override void LockSchema(DbConnection connection, DbTransaction? transaction) =>
            SqlEngine.Scalar(connection, transaction, "SELECT pg_advisory_xact_lock(@k)", ("k", SchemaLockKey));

        public override bool SchemaTableExists(DbConnection connection, DbTransaction? transaction) =>
            SqlEngine.Scalar(connection, transaction, "SELECT to_regclass('dl_schema')::text") is not null;

        public override void LockStudy(DbConnection connection, DbTransaction? transaction, string study) =>
            SqlEngine.Scalar(connection, transaction, "SELECT name FROM dl_studies WHERE name = @s FOR UPDATE", ("s", study));
    }
}
