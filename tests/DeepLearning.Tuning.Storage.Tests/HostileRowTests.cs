using System.Globalization;

namespace DeepLearning.Tuning.Storage.Tests;

/// <summary>
/// A study database is a file a user may be handed: every row is hostile. Whatever a row holds, only a
/// <see cref="StudyStorageException"/> naming the study, the trial and the column (or hyperparameter) may escape,
/// never an InvalidCastException or "the data is NULL", and a config the study could not have planned never reaches the objective.
/// </summary>
public class HostileRowTests
{
    private const string Study = "hostile";

    private static StudyDefinition Definition() => StudyDefinition.Random(StudyStorageContractTests.Space(), StudyStorageContractTests.Options(trials: 2));

    /// <summary>A fresh study (SQLite unless <paramref name="kind"/> says otherwise) with trial 0 complete and trial 1 queued.</summary>
    private static Backend StudyWithOneComplete(string kind = "sqlite")
    {
        var backend = new Backend(kind);
        using var storage = backend.Open();
        storage.OpenStudy(Study, Definition());
        var claim = storage.ClaimNext(Study, "w1", TimeSpan.FromMinutes(1)).Claim!;
        claim.Config.Id.Should().Be(0);
        storage.Complete(Study, claim, new TrialOutcome(0.5), 1).Should().BeTrue();
        return backend;
    }

    /// <summary>Recreates a table without types or constraints (as a hand-edited file may have it), keeping its rows.</summary>
    private static void Unconstrain(Backend backend, string table, string columns)
    {
        // One connection, foreign keys off: dl_trials references dl_studies.
        backend.Sql($"PRAGMA foreign_keys = OFF; CREATE TABLE loose ({columns}); INSERT INTO loose SELECT * FROM {table}; DROP TABLE {table}; ALTER TABLE loose RENAME TO {table}");
        Convert.ToInt64(backend.Sql($"SELECT COUNT(*) FROM sqlite_master WHERE name = 'loose' OR sql LIKE '%NOT NULL%' AND name = '{table}'"), CultureInfo.InvariantCulture).Should().Be(0);
    }

    private static void UnconstrainTrials(Backend backend) => Unconstrain(backend, "dl_trials",
        "study, id, round, seed, config, status, worker, attempts, failures, started_at, heartbeat_at, ended_at, seconds, dev_metric, outcome, error");

    private static string Text(object? value) => Convert.ToString(value, CultureInfo.InvariantCulture)!;

    // 1. The study's definition (TEXT NOT NULL lets SQLite keep a BLOB): an InvalidCastException from OpenStudy and
    // ClaimNext, and "study does not exist" from OpenStudy(null) and Tuner.LoadStudy.
    [Theory]
    [InlineData("UPDATE dl_studies SET definition = x'7b7d'", false, "has definition = x'7b7d' (a BLOB), not text")]
    [InlineData("UPDATE dl_studies SET definition = CAST(definition AS BLOB)", false, "has definition = x'7b2273616d706c6572223a*…' (a BLOB of * bytes), not text")]
    [InlineData("UPDATE dl_studies SET definition = NULL", true, "has definition = NULL, not text")]
    [InlineData("UPDATE dl_studies SET definition = 42", true, "has definition = 42, not text")]
    [InlineData("INSERT INTO dl_studies SELECT * FROM dl_studies", true, "has more than one row in dl_studies")]
    public void A_study_definition_that_is_not_text_is_a_storage_error_naming_the_study_and_column(string tamper, bool unconstrained, string message)
    {
        using var backend = StudyWithOneComplete();
        if (unconstrained)
        {
            Unconstrain(backend, "dl_studies", "name, definition, created_at");
        }

        // Foreign keys off (a pooled connection may have them on): dl_trials' reference needs a unique dl_studies.name.
        backend.Sql("PRAGMA foreign_keys = OFF; " + tamper);
        using var storage = backend.Open();
        string expected = $"{storage.Location}: study '{Study}' {message}*";

        var open = () => storage.OpenStudy(Study, Definition());
        open.Should().Throw<StudyStorageException>().WithMessage(expected);
        var join = () => storage.OpenStudy(Study, null);
        join.Should().Throw<StudyStorageException>().WithMessage(expected).Which.Message.Should().NotContain("does not exist");
        var claim = () => storage.ClaimNext(Study, "w2", TimeSpan.FromMinutes(1));
        claim.Should().Throw<StudyStorageException>().WithMessage(expected);
        var load = () => storage.LoadTrials(Study);
        load.Should().Throw<StudyStorageException>().WithMessage(expected);
        var table = () => Tuner.LoadStudy(storage, Study);
        table.Should().Throw<StudyStorageException>().WithMessage(expected);
        Convert.ToInt64(backend.Sql("SELECT COUNT(*) FROM dl_trials"), CultureInfo.InvariantCulture).Should().Be(2, "nothing was written");
    }

    // 2. Columns a claim reads (the queued trial's id, round, config, counts; every row's status when it plans the next
    // round): "The data is NULL at ordinal 2" from LoadTrials, ClaimNext and LoadStudy, or a text "1" read as 1.
    [Theory]
    [InlineData("config = NULL", "trial 1 of study 'hostile' has config = NULL, not text")]
    [InlineData("status = NULL", "trial 1 of study 'hostile' has status = NULL, not text")]
    [InlineData("config = CAST(config AS BLOB)", "trial 1 of study 'hostile' has config = x'7b226964223a312c*' (a BLOB of * bytes), not text")]
    [InlineData("status = 7", "trial 1 of study 'hostile' has status = 7, not text")]
    [InlineData("status = CAST('queued' AS BLOB)", "trial 1 of study 'hostile' has status = x'717565756564' (a BLOB), not text")]
    [InlineData("round = '0'", "trial 1 of study 'hostile' has round = \"0\", not a whole number ≥ 0 of 32 bits")]
    [InlineData("round = NULL", "trial 1 of study 'hostile' has round = NULL, not a whole number ≥ 0 of 32 bits")]
    [InlineData("attempts = NULL", "trial 1 of study 'hostile' has attempts = NULL, not a whole number ≥ 0 of 32 bits")]
    [InlineData("failures = '0'", "trial 1 of study 'hostile' has failures = \"0\", not a whole number ≥ 0 of 32 bits")]
    [InlineData("attempts = x'00'", "trial 1 of study 'hostile' has attempts = x'00' (a BLOB), not a whole number ≥ 0 of 32 bits")]
    [InlineData("id = '1'", "a trial of study 'hostile' has id = \"1\", not a whole number ≥ 0 of 32 bits")]
    [InlineData("id = NULL", "a trial of study 'hostile' has id = NULL, not a whole number ≥ 0 of 32 bits")]
    [InlineData("id = -1", "a trial of study 'hostile' has id = -1, not a whole number ≥ 0 of 32 bits")]
    public void A_trial_column_a_claim_reads_holding_the_wrong_type_is_a_storage_error_naming_trial_and_column(string tamper, string message)
    {
        using var backend = StudyWithOneComplete();
        UnconstrainTrials(backend);
        backend.Sql($"UPDATE dl_trials SET {tamper} WHERE id = 1");
        using var storage = backend.Open();
        string expected = $"{storage.Location}: {message}*";

        var claim = () => storage.ClaimNext(Study, "w2", TimeSpan.FromMinutes(1));
        claim.Should().Throw<StudyStorageException>().WithMessage(expected);
        var load = () => storage.LoadTrials(Study);
        load.Should().Throw<StudyStorageException>().WithMessage(expected);
        var table = () => Tuner.LoadStudy(storage, Study);
        table.Should().Throw<StudyStorageException>().WithMessage(expected);
        int ran = 0;
        var worker = () => Tuner.RunWorker(storage, Study, (c, t) => { ran++; return StudyStorageContractTests.Objective(c, t); }, Definition());
        worker.Should().Throw<StudyStorageException>().WithMessage(expected);
        ran.Should().Be(0);
        Text(backend.Sql("SELECT group_concat(coalesce(worker, '-')) FROM dl_trials")).Should().Be("w1,-", "nothing was written");
    }

    // Columns only a load reads.
    [Theory]
    [InlineData("worker = 5", "worker = 5, not text")]
    [InlineData("error = x'00'", "error = x'00' (a BLOB), not text")]
    [InlineData("outcome = 3", "outcome = 3, not text")]
    [InlineData("seconds = '1.5'", "seconds = \"1.5\", not a number")]
    [InlineData("started_at = 'yesterday'", "started_at = \"yesterday\", not a time")]
    [InlineData("heartbeat_at = x'01'", "heartbeat_at = x'01' (a BLOB), not a time")]
    [InlineData("ended_at = '1700000000'", "ended_at = \"1700000000\", not a time")]
    public void A_trial_column_a_load_reads_holding_the_wrong_type_is_a_storage_error_naming_trial_and_column(string tamper, string message)
    {
        using var backend = StudyWithOneComplete();
        UnconstrainTrials(backend);
        backend.Sql($"UPDATE dl_trials SET {tamper} WHERE id = 0");
        using var storage = backend.Open();
        string expected = $"{storage.Location}: trial 0 of study 'hostile' has {message}*";

        var load = () => storage.LoadTrials(Study);
        load.Should().Throw<StudyStorageException>().WithMessage(expected);
        var table = () => Tuner.LoadStudy(storage, Study);
        table.Should().Throw<StudyStorageException>().WithMessage(expected);
    }

    // PostgreSQL types its columns, but a hand-altered table may hold bytea, NULL or text where the schema has none.
    [Theory]
    [PostgresInlineData("ALTER TABLE dl_studies ALTER COLUMN definition TYPE bytea USING convert_to(definition, 'UTF8')",
        "study 'hostile' has definition = x'7b2273616d706c6572223a*…' (a BLOB of * bytes), not text")]
    [PostgresInlineData("ALTER TABLE dl_trials ALTER COLUMN config DROP NOT NULL; UPDATE dl_trials SET config = NULL WHERE id = 1",
        "trial 1 of study 'hostile' has config = NULL, not text")]
    [PostgresInlineData("ALTER TABLE dl_trials ALTER COLUMN attempts TYPE text",
        "trial ? of study 'hostile' has attempts = \"?\", not a whole number ≥ 0 of 32 bits")]
    public void A_postgres_column_of_the_wrong_type_is_a_storage_error_naming_study_trial_and_column(string kind, string tamper, string message)
    {
        using var backend = StudyWithOneComplete(kind);
        backend.Sql(tamper);
        using var storage = backend.Open();
        string expected = $"{storage.Location}: {message}*";

        var claim = () => storage.ClaimNext(Study, "w2", TimeSpan.FromMinutes(1));
        claim.Should().Throw<StudyStorageException>().WithMessage(expected);
        var load = () => storage.LoadTrials(Study);
        load.Should().Throw<StudyStorageException>().WithMessage(expected);
        var table = () => Tuner.LoadStudy(storage, Study);
        table.Should().Throw<StudyStorageException>().WithMessage(expected);
    }

    [Fact]
    public void A_trial_with_two_rows_is_a_storage_error_and_the_claim_writes_nothing()
    {
        using var backend = StudyWithOneComplete();
        UnconstrainTrials(backend);
        backend.Sql("INSERT INTO dl_trials SELECT * FROM dl_trials WHERE id = 1");
        using var storage = backend.Open();

        var claim = () => storage.ClaimNext(Study, "w2", TimeSpan.FromMinutes(1));
        claim.Should().Throw<StudyStorageException>().WithMessage($"{storage.Location}: trial 1 of study 'hostile' has 2 rows in dl_trials*");
        Text(backend.Sql("SELECT group_concat(status) FROM dl_trials WHERE id = 1")).Should().Be("queued,queued", "nothing was written");
        var load = () => storage.LoadTrials(Study);
        load.Should().Throw<StudyStorageException>().WithMessage($"{storage.Location}: trial 1 of study 'hostile' has more than one row in dl_trials*");
    }

    [Theory]
    [InlineData("'one'", "\"one\"")]
    [InlineData("1.5", "1.5")]
    [InlineData("x'01'", "x'01' (a BLOB)")]
    public void A_schema_version_that_is_not_a_whole_number_is_a_storage_error_not_a_crash_or_a_rounded_version(string version, string shown)
    {
        using var backend = StudyWithOneComplete();
        backend.Sql($"UPDATE dl_schema SET version = {version}");
        using var storage = backend.Open();
        var open = () => storage.OpenStudy(Study, null);
        open.Should().Throw<StudyStorageException>().WithMessage($"{storage.Location} holds study schema version {shown}, not a version number*nothing was written");
    }

    /// <summary>Replaces trial <paramref name="id"/>'s stored config with <paramref name="change"/> of it.</summary>
    private static void RewriteConfig(Backend backend, int id, Func<TrialConfig, TrialConfig> change)
    {
        var config = TrialConfig.FromJson(Text(backend.Sql($"SELECT config FROM dl_trials WHERE id = {id}")));
        string json = change(config).ToJson();
        json.Should().NotContain("'");
        backend.Sql($"UPDATE dl_trials SET config = '{json}' WHERE id = {id}");
    }

    private static TrialConfig With(TrialConfig c, Action<Dictionary<string, HyperparameterValue>> change)
    {
        var values = c.Hyperparameters.ToDictionary(p => p.Key, p => p.Value);
        change(values);
        return new TrialConfig(c.Id, c.Round, c.Seed, values);
    }

    // 3. A stored config is checked against the study before the objective sees it.
    [Theory]
    [InlineData("sqlite")]
    [PostgresBackend]
    public void A_stored_config_with_wrongly_typed_or_missing_hyperparameters_never_reaches_the_objective(string kind)
    {
        using var backend = StudyWithOneComplete(kind);
        RewriteConfig(backend, 1, c => new TrialConfig(c.Id, c.Round, c.Seed, new Dictionary<string, HyperparameterValue>
        {
            ["learningRate"] = "abc",
            ["hidden"] = 1.5,
            ["activation"] = 3,
        }));
        using var storage = backend.Open();
        string expected = $"{storage.Location}: trial 1 of study 'hostile' does not fit the study's search space: " +
            "hyperparameter 'learningRate' = \"abc\" (text), not in learningRate ~ LogUniform[0.0001, 1]; " +
            "hyperparameter 'hidden' = 1.5 (a real), not in hidden ~ IntRange[8, 64]; " +
            "hyperparameter 'activation' = 3 (an integer), not in activation ~ Choice{relu, tanh}; " +
            "hyperparameter 'beta1' is missing (beta1 ~ OneMinusLogUniform[0.8, 0.999]) (a damaged row)";

        int ran = 0;
        var worker = () => Tuner.RunWorker(storage, Study, (c, t) => { ran++; return StudyStorageContractTests.Objective(c, t); }, Definition());
        worker.Should().Throw<StudyStorageException>().WithMessage(expected);
        ran.Should().Be(0, "the objective never sees the config");
        Text(backend.Sql("SELECT status || ',' || attempts FROM dl_trials WHERE id = 1")).Should().Be("queued,0", "nothing was written");
        var claim = () => storage.ClaimNext(Study, "w2", TimeSpan.FromMinutes(1));
        claim.Should().Throw<StudyStorageException>().WithMessage(expected);
        var load = () => storage.LoadTrials(Study);
        load.Should().Throw<StudyStorageException>().WithMessage(expected);
        var table = () => Tuner.LoadStudy(storage, Study);
        table.Should().Throw<StudyStorageException>().WithMessage(expected);
    }

    [Theory]
    [InlineData("OutOfRange", "hyperparameter 'hidden' = 65 (an integer), not in hidden ~ IntRange[8, 64]")]
    [InlineData("NotAChoice", "hyperparameter 'activation' = \"sigmoid\" (text), not in activation ~ Choice{relu, tanh}")]
    [InlineData("IntegerForReal", "hyperparameter 'learningRate' = 1 (an integer), not in learningRate ~ LogUniform[0.0001, 1]")]
    [InlineData("Unknown", "hyperparameter \"dropout\" = 0.5 (a real) is not in the search space, which has [learningRate, hidden, activation, beta1]")]
    [InlineData("Missing", "hyperparameter 'beta1' is missing (beta1 ~ OneMinusLogUniform[0.8, 0.999])")]
    [InlineData("Seed", "has seed 12345, but the study gives trial 1 the seed *")]
    public void A_stored_config_the_study_could_not_have_planned_is_refused_naming_the_trial_and_the_value(string tamper, string message)
    {
        using var backend = StudyWithOneComplete();
        RewriteConfig(backend, 1, c => tamper switch
        {
            "OutOfRange" => With(c, v => v["hidden"] = 65),
            "NotAChoice" => With(c, v => v["activation"] = "sigmoid"),
            "IntegerForReal" => With(c, v => v["learningRate"] = 1),
            "Unknown" => With(c, v => v["dropout"] = 0.5),
            "Missing" => With(c, v => v.Remove("beta1")),
            _ => new TrialConfig(c.Id, c.Round, 12345, c.Hyperparameters),
        });
        using var storage = backend.Open();
        string expected = $"{storage.Location}: trial 1 of study 'hostile' *{message}*";

        int ran = 0;
        var worker = () => Tuner.RunWorker(storage, Study, (c, t) => { ran++; return StudyStorageContractTests.Objective(c, t); }, Definition());
        worker.Should().Throw<StudyStorageException>().WithMessage(expected);
        ran.Should().Be(0);
        var load = () => storage.LoadTrials(Study);
        load.Should().Throw<StudyStorageException>().WithMessage(expected);
    }

    [Theory]
    [InlineData(5, 0, "trial 5 of study 'hostile' is in round 0, whose trials are 0–1")]
    [InlineData(1, 1, "trial 1 of study 'hostile' is in round 1, but the study has 1 round")]
    public void A_stored_trial_number_or_round_outside_the_study_is_refused(int id, int round, string message)
    {
        using var backend = StudyWithOneComplete();
        RewriteConfig(backend, 1, c => new TrialConfig(id, round, c.Seed, c.Hyperparameters));
        backend.Sql($"UPDATE dl_trials SET id = {id}, round = {round} WHERE id = 1");
        using var storage = backend.Open();
        string expected = $"{storage.Location}: {message}*";

        var claim = () => storage.ClaimNext(Study, "w2", TimeSpan.FromMinutes(1));
        claim.Should().Throw<StudyStorageException>().WithMessage(expected);
        var load = () => storage.LoadTrials(Study);
        load.Should().Throw<StudyStorageException>().WithMessage(expected);
    }

    // A storage that does not check what it reads (here: one that hands out a tampered config): the worker refuses
    // the claim itself, puts the trial back, and the objective never runs.
    [Fact]
    public void The_worker_refuses_a_claimed_config_that_does_not_fit_whatever_the_storage_and_puts_the_trial_back()
    {
        using var inner = new InMemoryStudyStorage();
        using var storage = new TamperingStorage(inner);
        int ran = 0;
        var worker = () => Tuner.RunWorker(storage, Study, (c, t) => { ran++; return StudyStorageContractTests.Objective(c, t); }, Definition());
        worker.Should().Throw<StudyStorageException>()
            .WithMessage("memory: trial 0 of study 'hostile' does not fit the study's search space: hyperparameter 'hidden' = 1.5 (a real), not in hidden ~ IntRange[8, 64]*");
        ran.Should().Be(0);
        inner.LoadTrials(Study).Select(t => t.Status).Should().Equal(StoredTrialStatus.Queued, StoredTrialStatus.Queued);
    }

    private sealed class TamperingStorage(IStudyStorage inner) : IStudyStorage
    {
        public string Location => inner.Location;

        public StudyDefinition OpenStudy(string study, StudyDefinition? definition) => inner.OpenStudy(study, definition);

        public TrialClaimResult ClaimNext(string study, string worker, TimeSpan staleAfter) => Tampered(inner.ClaimNext(study, worker, staleAfter));

        public TrialClaimResult ClaimNext(string study, string worker, TimeSpan staleAfter, int maxRetries) => Tampered(inner.ClaimNext(study, worker, staleAfter, maxRetries));

        public bool Heartbeat(string study, TrialClaim claim) => inner.Heartbeat(study, claim);

        public bool Complete(string study, TrialClaim claim, TrialOutcome outcome, double seconds) => inner.Complete(study, claim, outcome, seconds);

        public bool Fail(string study, TrialClaim claim, string error, double seconds, bool retry) => inner.Fail(study, claim, error, seconds, retry);

        public bool Release(string study, TrialClaim claim) => inner.Release(study, claim);

        public IReadOnlyList<StoredTrial> LoadTrials(string study) => inner.LoadTrials(study);

        public void Dispose()
        {
        }

        private static TrialClaimResult Tampered(TrialClaimResult result) => result.Claim is { } claim
            ? result with { Claim = claim with { Config = With(claim.Config, v => v["hidden"] = 1.5) } }
            : result;
    }
}
