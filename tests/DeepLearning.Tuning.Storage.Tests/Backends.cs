using System.Reflection;
using Npgsql;
using Xunit.Sdk;

namespace DeepLearning.Tuning.Storage.Tests;

/// <summary>The storages every contract test runs on: memory and SQLite always.</summary>
public sealed class LocalBackendsAttribute : DataAttribute
{
    public override IEnumerable<object[]> GetData(MethodInfo testMethod) => [["memory"], ["sqlite"]];
}

/// <summary>PostgreSQL, when DEEPLEARNING_TEST_POSTGRES holds an Npgsql connection string; skipped with the reason otherwise.</summary>
public sealed class PostgresBackendAttribute : DataAttribute
{
    public PostgresBackendAttribute()
    {
        if (Backend.PostgresConnectionString is null)
        {
            Skip = Backend.PostgresSkipReason;
        }
    }

    public override IEnumerable<object[]> GetData(MethodInfo testMethod) => [["postgres"]];
}

/// <summary>One row of data for PostgreSQL (the kind "postgres", then <c>data</c>), skipped with the reason when no server is configured.</summary>
public sealed class PostgresInlineDataAttribute : DataAttribute
{
    private readonly object[] _row;

    public PostgresInlineDataAttribute(params object[] data)
    {
        _row = ["postgres", .. data];
        if (Backend.PostgresConnectionString is null)
        {
            Skip = Backend.PostgresSkipReason;
        }
    }

    public override IEnumerable<object[]> GetData(MethodInfo testMethod) => [_row];
}

/// <summary>A fact that needs the PostgreSQL server.</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (Backend.PostgresConnectionString is null)
        {
            Skip = Backend.PostgresSkipReason;
        }
    }
}

/// <summary>
/// One test's storage: a fresh SQLite file in a temp folder, or a fresh PostgreSQL schema (so tests never see each
/// other's tables), dropped at the end.
/// </summary>
public sealed class Backend : IDisposable
{
    public const string PostgresVariable = "DEEPLEARNING_TEST_POSTGRES";

    public static readonly string PostgresSkipReason =
        $"PostgreSQL study-storage tests need a server: set {PostgresVariable} to an Npgsql connection string " +
        "(e.g. Host=127.0.0.1;Port=54329;Username=postgres;Password=…;Database=postgres); .ci/run starts a throwaway cluster and sets it";

    private readonly string? _folder;
    private readonly string? _schema;

    public Backend(string kind)
    {
        Kind = kind;
        switch (kind)
        {
            case "memory":
                Url = "memory";
                break;
            case "sqlite":
                _folder = Directory.CreateTempSubdirectory("dl-study-").FullName;
                Url = "sqlite:" + Path.Combine(_folder, "study.db");
                break;
            case "postgres":
                _schema = "dl_test_" + Guid.NewGuid().ToString("N")[..12];
                using (var c = new NpgsqlConnection(PostgresConnectionString))
                {
                    c.Open();
                    using var cmd = new NpgsqlCommand($"CREATE SCHEMA {_schema}", c);
                    cmd.ExecuteNonQuery();
                }

                Url = new NpgsqlConnectionStringBuilder(PostgresConnectionString) { SearchPath = _schema }.ConnectionString;
                break;
            default:
                throw new ArgumentException($"unknown backend {kind}", nameof(kind));
        }

        Shared = kind == "memory" ? StudyStorage.Open(Url) : null;
    }

    public static string? PostgresConnectionString =>
        Environment.GetEnvironmentVariable(PostgresVariable) is { Length: > 0 } s ? s : null;

    public string Kind { get; }

    /// <summary>The URL for StudyStorage.Open (for PostgreSQL, a connection string with the test's search path).</summary>
    public string Url { get; }

    public bool IsSql => Kind != "memory";

    private IStudyStorage? Shared { get; }

    /// <summary>A storage on this test's study store; for SQL a new instance (its own connections) each time, like another process.</summary>
    public IStudyStorage Open() => Shared is not null ? new NonDisposing(Shared) : StudyStorage.Open(Url);

    /// <summary>Runs SQL directly (SQL backends only), e.g. to tamper with the schema.</summary>
    public object? Sql(string sql)
    {
        if (Kind == "sqlite")
        {
            using var c = new Microsoft.Data.Sqlite.SqliteConnection("Data Source=" + Url["sqlite:".Length..]);
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = sql;
            return cmd.ExecuteScalar();
        }

        using var pg = new NpgsqlConnection(Url);
        pg.Open();
        using var pcmd = new NpgsqlCommand(sql, pg);
        return pcmd.ExecuteScalar();
    }

    public void Dispose()
    {
        Shared?.Dispose();
        if (_folder is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(_folder, recursive: true);
            }
            catch (IOException)
            {
                // A worker process may still hold the file for a moment; the temp folder is cleaned by the OS.
            }
        }

        if (_schema is not null)
        {
            NpgsqlConnection.ClearAllPools();
            using var c = new NpgsqlConnection(PostgresConnectionString);
            c.Open();
            using var cmd = new NpgsqlCommand($"DROP SCHEMA {_schema} CASCADE", c);
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>Several workers of one test share the one in-memory storage; only the backend disposes it.</summary>
    private sealed class NonDisposing(IStudyStorage inner) : IStudyStorage
    {
        public string Location => inner.Location;

        public StudyDefinition OpenStudy(string study, StudyDefinition? definition) => inner.OpenStudy(study, definition);

        public TrialClaimResult ClaimNext(string study, string worker, TimeSpan staleAfter) => inner.ClaimNext(study, worker, staleAfter);

        public TrialClaimResult ClaimNext(string study, string worker, TimeSpan staleAfter, int maxRetries) => inner.ClaimNext(study, worker, staleAfter, maxRetries);

        public bool Heartbeat(string study, TrialClaim claim) => inner.Heartbeat(study, claim);

        public bool Complete(string study, TrialClaim claim, TrialOutcome outcome, double seconds) => inner.Complete(study, claim, outcome, seconds);

        public bool Fail(string study, TrialClaim claim, string error, double seconds, bool retry) => inner.Fail(study, claim, error, seconds, retry);

        public bool Fail(string study, TrialClaim claim, string error, double seconds, bool retry, TrialOutcome? outcome) => inner.Fail(study, claim, error, seconds, retry, outcome);

        public bool Release(string study, TrialClaim claim) => inner.Release(study, claim);

        public IReadOnlyList<StoredTrial> LoadTrials(string study) => inner.LoadTrials(study);

        public void Dispose()
        {
        }
    }
}
