using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace DeepLearning.Tuning.Storage.Tests;

public class SqlStorageTests
{
    [Theory]
    [InlineData("sqlite")]
    [PostgresBackend]
    public void A_schema_from_a_newer_version_is_refused_and_nothing_is_written(string kind)
    {
        using var backend = new Backend(kind);
        using (var first = backend.Open())
        {
            first.OpenStudy("old", StudyDefinition.Random(StudyStorageContractTests.Space(), StudyStorageContractTests.Options(trials: 2)));
        }

        backend.Sql("UPDATE dl_schema SET version = 99");
        using var storage = backend.Open();
        var act = () => storage.OpenStudy("new", StudyDefinition.Random(StudyStorageContractTests.Space(), StudyStorageContractTests.Options(trials: 2)));
        act.Should().Throw<StudyStorageException>().WithMessage("*schema version 99, newer than version 1*nothing was written*");
        Convert.ToInt64(backend.Sql("SELECT COUNT(*) FROM dl_studies"), System.Globalization.CultureInfo.InvariantCulture).Should().Be(1);
        Convert.ToInt64(backend.Sql("SELECT MAX(version) FROM dl_schema"), System.Globalization.CultureInfo.InvariantCulture).Should().Be(99);
    }

    [Theory]
    [InlineData("sqlite", "heartbeat_at = 1e300")]
    [InlineData("sqlite", "started_at = -1e300")]
    [InlineData("sqlite", "attempts = 10000000000")]
    [InlineData("sqlite", "failures = -10000000000")]
    [InlineData("sqlite", "id = 10000000000")]
    [InlineData("sqlite", "seconds = 'abc'")]
    [InlineData("sqlite", "seconds = 'NaN'")]
    [InlineData("sqlite", "seconds = x'0102'")]
    public void A_tampered_trial_row_is_a_storage_error_naming_the_trial_not_a_crash(string kind, string tamper)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        storage.OpenStudy("tampered", StudyDefinition.Random(StudyStorageContractTests.Space(), StudyStorageContractTests.Options(trials: 2)));
        storage.ClaimNext("tampered", "w1", TimeSpan.FromMinutes(1)).Status.Should().Be(ClaimStatus.Claimed);
        backend.Sql($"UPDATE dl_trials SET {tamper} WHERE id = 0");

        var load = () => storage.LoadTrials("tampered");
        load.Should().Throw<StudyStorageException>().WithMessage("*study 'tampered'*");
    }

    [Theory]
    [InlineData("sqlite", "failures = -1000", "failures = -1000, not a whole number ≥ 0")]
    [InlineData("sqlite", "attempts = -1", "attempts = -1, not a whole number ≥ 0")]
    [InlineData("sqlite", "attempts = 1.5", "attempts = 1.5, not a whole number ≥ 0")]
    [InlineData("sqlite", "failures = 0.5", "failures = 0.5, not a whole number ≥ 0")]
    [InlineData("sqlite", "round = 1", "round = 1 but its config says round 0")]
    [InlineData("sqlite", "config = replace(config, '\"round\":0', '\"round\":1')", "round = 0 but its config says round 1")]
    [InlineData("sqlite", "config = replace(config, '\"id\":1', '\"id\":0')", "id = 1 but its config says id 0")]
    [PostgresInlineData("failures = -1000", "failures = -1000, not a whole number ≥ 0")]
    [PostgresInlineData("round = 1", "round = 1 but its config says round 0")]
    [PostgresInlineData("config = replace(config, '\"round\":0', '\"round\":1')", "round = 0 but its config says round 1")]
    public void A_tampered_count_or_round_is_refused_by_claims_and_loads_naming_the_trial_column_and_value(string kind, string tamper, string message)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        storage.OpenStudy("tampered", StudyDefinition.Random(StudyStorageContractTests.Space(), StudyStorageContractTests.Options(trials: 2)));
        storage.ClaimNext("tampered", "w1", TimeSpan.FromMinutes(1)).Claim!.Config.Id.Should().Be(0);
        backend.Sql($"UPDATE dl_trials SET {tamper} WHERE id = 1");

        // A negative failure count would rerun a failing trial a thousand times, 1.5 attempts read as 2, and a config whose
        // round disagrees with its row's planned the next round early: each is refused, naming the trial, column and value.
        string expected = $"*trial 1 of study 'tampered' has {message}*";
        var claim = () => storage.ClaimNext("tampered", "w2", TimeSpan.FromMinutes(1));
        claim.Should().Throw<StudyStorageException>().WithMessage(expected);
        var load = () => storage.LoadTrials("tampered");
        load.Should().Throw<StudyStorageException>().WithMessage(expected);
        Convert.ToString(backend.Sql("SELECT status FROM dl_trials WHERE id = 1"), System.Globalization.CultureInfo.InvariantCulture).Should().Be("queued", "nothing was written");
    }

    [Theory]
    [InlineData("sqlite", "{\"devMetric\":0.5,\"epochs\":-7}", "\"epochs\" must be ≥ 0; found -7")]
    [InlineData("sqlite", "{\"devMetric\":0.5,\"trainMetric\":1e999}", "\"trainMetric\" is 1e999, beyond the range of a double")]
    [InlineData("sqlite", "{\"devMetric\":0.5,\"extras\":{\"a\":1e400}}", "\"a\" is 1e400, beyond the range of a double")]
    [InlineData("sqlite", "{\"devMetric\":0.5,\"epochs\":1e10}", "\"epochs\" must be a whole number of 32 bits; found 1e10")]
    [PostgresInlineData("{\"devMetric\":0.5,\"epochs\":-7}", "\"epochs\" must be ≥ 0; found -7")]
    [PostgresInlineData("{\"devMetric\":0.5,\"extras\":{\"a\":1e400}}", "\"a\" is 1e400, beyond the range of a double")]
    public void A_stored_outcome_with_a_negative_epoch_count_or_a_number_beyond_a_double_is_a_storage_error_naming_it(string kind, string outcome, string message)
    {
        // {"devMetric":0.5,"epochs":-7,"extras":{"a":1e400},"trainMetric":1e999} loaded as Epochs = -7, TrainMetric = ∞, a = ∞.
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        storage.OpenStudy("tampered", StudyDefinition.Random(StudyStorageContractTests.Space(), StudyStorageContractTests.Options(trials: 2)));
        var claim = storage.ClaimNext("tampered", "w1", TimeSpan.FromMinutes(1)).Claim!;
        storage.Complete("tampered", claim, new TrialOutcome(0.5), 1).Should().BeTrue();
        backend.Sql($"UPDATE dl_trials SET outcome = '{outcome}' WHERE id = 0");

        var load = () => storage.LoadTrials("tampered");
        load.Should().Throw<StudyStorageException>().WithMessage($"{storage.Location}: trial 0 of study 'tampered' has an invalid outcome: {message}*");
    }

    [Theory]
    [InlineData("sqlite", "outcome = NULL", "NULL")]
    [InlineData("sqlite", "outcome = '{\"devMetric\":null}'", "{\"devMetric\":null}")]
    [PostgresInlineData("outcome = NULL", "NULL")]
    [PostgresInlineData("outcome = '{\"devMetric\":\"Infinity\"}'", "{\"devMetric\":\"Infinity\"}")]
    public void A_complete_trial_without_a_finite_dev_metric_is_a_storage_error_naming_study_trial_and_value(string kind, string tamper, string value)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        var definition = StudyDefinition.Random(StudyStorageContractTests.Space(), StudyStorageContractTests.Options(trials: 2));
        storage.OpenStudy("damaged", definition);
        var claim = storage.ClaimNext("damaged", "w1", TimeSpan.FromMinutes(1)).Claim!;
        storage.Complete("damaged", claim, new TrialOutcome(0.5), 1).Should().BeTrue();
        backend.Sql($"UPDATE dl_trials SET {tamper} WHERE id = 0");

        // It was an ArgumentException from StoredTrial.ToResult naming neither, and it stopped every worker.
        string expected = $"{storage.Location}: trial 0 of study 'damaged' is complete but its outcome is {value}*";
        var load = () => storage.LoadTrials("damaged");
        load.Should().Throw<StudyStorageException>().WithMessage(expected);
        var table = () => Tuner.LoadStudy(storage, "damaged");
        table.Should().Throw<StudyStorageException>().WithMessage(expected);
        var worker = () => Tuner.RunWorker(storage, "damaged", StudyStorageContractTests.Objective, definition, new WorkerOptions { PollInterval = TimeSpan.FromMilliseconds(20) });
        worker.Should().Throw<StudyStorageException>().WithMessage(expected);
    }

    [Theory]
    [InlineData("sqlite")]
    [PostgresBackend]
    public void A_running_trial_without_a_heartbeat_is_stale_not_waited_for_forever(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        storage.OpenStudy("no-beat", StudyDefinition.Random(StudyStorageContractTests.Space(), StudyStorageContractTests.Options(trials: 1)));
        storage.ClaimNext("no-beat", "w1", TimeSpan.FromMinutes(1)).Claim!.Attempt.Should().Be(1);
        backend.Sql("UPDATE dl_trials SET heartbeat_at = NULL WHERE id = 0");

        // NULL < cutoff is not true: the trial was never stale and every other worker waited for it forever.
        var next = storage.ClaimNext("no-beat", "w2", TimeSpan.FromMinutes(1));
        next.Status.Should().Be(ClaimStatus.Claimed);
        (next.Claim!.Config.Id, next.Claim.Attempt, next.Claim.Failures).Should().Be((0, 2, 1));
    }

    // PostgreSQL keeps NaN in a DOUBLE PRECISION column (SQLite turns it into NULL): a tampered NaN is an error, not 0.
    [Theory]
    [PostgresBackend]
    public void A_NaN_seconds_is_a_storage_error_naming_the_trial_not_zero(string kind)
    {
        using var backend = new Backend(kind);
        using var storage = backend.Open();
        storage.OpenStudy("nan-seconds", StudyDefinition.Random(StudyStorageContractTests.Space(), StudyStorageContractTests.Options(trials: 2)));
        storage.ClaimNext("nan-seconds", "w1", TimeSpan.FromMinutes(1)).Status.Should().Be(ClaimStatus.Claimed);
        backend.Sql("UPDATE dl_trials SET seconds = 'NaN'::double precision WHERE id = 0");

        var load = () => storage.LoadTrials("nan-seconds");
        load.Should().Throw<StudyStorageException>().WithMessage("*trial 0 of study 'nan-seconds' has seconds = NaN*");
    }

    [Fact]
    public void The_schema_is_created_on_first_use_and_a_study_survives_reopening_the_file()
    {
        using var backend = new Backend("sqlite");
        var definition = StudyDefinition.CoarseToFine(StudyStorageContractTests.Space(), StudyStorageContractTests.Options(trials: 3));
        using (var storage = backend.Open())
        {
            Tuner.RunWorker(storage, "kept", StudyStorageContractTests.Objective, definition, new WorkerOptions { MaxTrials = 2 });
        }

        Convert.ToInt64(backend.Sql("SELECT version FROM dl_schema"), System.Globalization.CultureInfo.InvariantCulture).Should().Be(1);
        ((string)backend.Sql("PRAGMA journal_mode")!).Should().Be("wal");
        using var reopened = backend.Open();
        reopened.LoadTrials("kept").Count(t => t.Status == StoredTrialStatus.Complete).Should().Be(2);
        var rest = Tuner.RunWorker(reopened, "kept", StudyStorageContractTests.Objective);
        rest.CompletedByThisWorker.Should().Be(4);
        rest.Result.ToTable(includeSeconds: false).Should().Be(
            Tuner.CoarseToFine(StudyStorageContractTests.Space(), StudyStorageContractTests.Objective, StudyStorageContractTests.Options(trials: 3)).ToTable(includeSeconds: false));
    }

    [Fact]
    public void A_missing_folder_is_a_clear_error()
    {
        var act = () => StudyStorage.Open("sqlite:/nonexistent-folder-for-tests/x/search.db");
        act.Should().Throw<StudyStorageException>().WithMessage("*folder '/nonexistent-folder-for-tests/x' does not exist*");
    }

    [Fact]
    public void An_unreachable_server_is_a_clear_error_naming_host_port_and_user()
    {
        // A port nobody listens on: bind, note it, close.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        using var storage = StudyStorage.Open($"postgres://tuner:secret@127.0.0.1:{port}/studies?Timeout=3");
        storage.Location.Should().Be($"postgres://tuner@127.0.0.1:{port}/studies").And.NotContain("secret");
        var act = () => storage.OpenStudy("s", StudyDefinition.Random(StudyStorageContractTests.Space()));
        act.Should().Throw<StudyStorageException>()
            .WithMessage($"cannot connect to PostgreSQL at 127.0.0.1:{port} as user 'tuner' (database 'studies'): the server could not be reached*")
            .Which.Message.Should().NotContain("secret");
        act.Should().Throw<StudyStorageException>().Which.IsTransient.Should().BeTrue("a server that is down may come back; workers try again");
    }

    [PostgresFact]
    public void Wrong_credentials_are_a_clear_error_naming_host_and_user()
    {
        var builder = new NpgsqlConnectionStringBuilder(Backend.PostgresConnectionString) { Password = "certainly-not-the-password", Timeout = 5 };
        using var storage = new PostgresStudyStorage(builder.ConnectionString);
        var act = () => storage.OpenStudy("s", StudyDefinition.Random(StudyStorageContractTests.Space()));
        act.Should().Throw<StudyStorageException>()
            .WithMessage($"cannot connect to PostgreSQL at {builder.Host}:{builder.Port} as user '{builder.Username}'*refused the credentials*")
            .Which.Message.Should().NotContain("certainly-not-the-password");
        act.Should().Throw<StudyStorageException>().Which.IsTransient.Should().BeFalse("trying again cannot mend a wrong password");
    }

    [Fact]
    public void Storage_urls_parse_to_their_storages()
    {
        using (var s = StudyStorage.Open("sqlite:relative/../search.db"))
        {
            s.Should().BeOfType<SqliteStudyStorage>();
            ((SqliteStudyStorage)s).Path.Should().Be(Path.GetFullPath("search.db"));
        }

        using (var s = StudyStorage.Open("postgres://alice@db.example:6543/studies"))
        {
            var pg = s.Should().BeOfType<PostgresStudyStorage>().Subject;
            (pg.Host, pg.Port, pg.Username, pg.Database).Should().Be(("db.example", 6543, "alice", "studies"));
        }

        using (var s = StudyStorage.Open("postgresql://bob@db.example/research"))
        {
            var pg = (PostgresStudyStorage)s;
            (pg.Port, pg.Username, pg.Database).Should().Be((5432, "bob", "research"));
        }

        var cs = new NpgsqlConnectionStringBuilder(StudyStorage.ToConnectionString("postgres://carol:p%40ss@h:1/d?Timeout=7"));
        (cs.Host, cs.Port, cs.Username, cs.Password, cs.Database, cs.Timeout).Should().Be(("h", 1, "carol", "p@ss", "d", 7));

        using (var s = StudyStorage.Open("Host=h2;Port=5433;Username=dave;Database=e"))
        {
            ((PostgresStudyStorage)s).Location.Should().Be("postgres://dave@h2:5433/e");
        }

        StudyStorage.Open("memory").Should().BeOfType<InMemoryStudyStorage>();
        var bad = () => StudyStorage.Open("mysql://x@y/z");
        bad.Should().Throw<ArgumentException>().WithMessage("*not a study storage URL*sqlite:path*postgres://*");
        var empty = () => StudyStorage.Open("sqlite:");
        empty.Should().Throw<ArgumentException>().WithMessage("*names no file*");
        var unknown = () => StudyStorage.ToConnectionString("postgres://u@h/d?Flavour=strawberry");
        unknown.Should().Throw<ArgumentException>().WithMessage("*unknown parameter \"Flavour\"*");
    }

    [Fact]
    public void A_malformed_url_is_reported_without_its_password()
    {
        // An unescaped '@' in the password: the message showed "postgres://carol:***@ssw0rd@h/d", the rest of the password.
        var malformed = () => StudyStorage.ToConnectionString("postgres://carol:p@ssw0rd@h/d");
        malformed.Should().Throw<ArgumentException>().Which.Message.Should().Contain("postgres://carol:***@h/d").And.NotContain("ssw0rd");

        // A URL of no known form was quoted whole, password included.
        var unknown = () => StudyStorage.Open("mysql://root:hunter2@db/z");
        unknown.Should().Throw<ArgumentException>().Which.Message.Should().Contain("mysql://root:***@db/z").And.NotContain("hunter2");
    }
}
