namespace DeepLearning.Tests.Tuning;

/// <summary>
/// Seeded fuzzing of the tuning formats a shared study stores and a user saves (study definitions, trial lists,
/// outcomes, search results): every truncation and a changed or inserted character at every offset must read or fail
/// with <see cref="FormatException"/>, the only type their XML docs list, and what reads must be usable.
/// </summary>
public sealed class TuningJsonFuzzTests
{
    private static SearchSpace Space() => new SearchSpace()
        .LogUniform("learningRate", 1e-4, 1)
        .OneMinusLogUniform("beta1", 0.8, 0.999)
        .Uniform("keepProb", 0.5, 1)
        .IntRange("hidden", 8, 64)
        .Choice("activation", "relu", "tanh")
        .Choice("batch", 32, 64);

    private static SearchResult Result(SearchOptions options) =>
        Tuner.CoarseToFine(Space(), (c, _) => new TrialOutcome(c.GetDouble("keepProb")) { TrainMetric = 0.5, Epochs = 3, Extras = new Dictionary<string, double> { ["x"] = 1 }, DevMetricPerEpoch = [0.25, double.NaN, c.GetDouble("keepProb")] }, options);

    [Fact]
    public void Every_truncation_and_changed_character_reads_or_fails_with_FormatException()
    {
        var options = new SearchOptions { Seed = 3, Trials = 3, Rounds = 2, TopK = 2, MaxDegreeOfParallelism = 1 };
        var result = Result(options);
        var firstRound = result.Trials.Where(t => t.Round == 0).ToList();
        var formats = new (string Name, string Json, Func<string, object> Read)[]
        {
            ("random study", StudyDefinition.Random(Space(), options).ToJson(), s => StudyDefinition.FromJson(s).NextTrials([]).Count),
            ("grid study", StudyDefinition.Grid(Space(), 2, options).ToJson(), s => StudyDefinition.FromJson(s).NextTrials([]).Count),
            ("coarse-to-fine study", StudyDefinition.CoarseToFine(Space(), options).ToJson(), s => StudyDefinition.FromJson(s).NextTrials(firstRound).Count),
            ("trial list", TrialConfig.ToJson(result.Trials.Select(t => t.Config).ToList()), s => TrialConfig.ListFromJson(s).Count),
            ("outcome", result.Trials[0].Outcome!.ToJson(), s => TrialOutcome.FromJson(s).ToJson()),
            ("search result", result.ToJson(), s => SearchResult.FromJson(s) is var r ? r.ToString() + r.ToCsv() : ""),
        };
        var random = new Random(5);
        char[] replacements = "0019-\"{}[],:.eE nNx".ToCharArray();
        var failures = new List<string>();
        int cases = 0;
        foreach (var (name, json, read) in formats)
        {
            read(json);
            for (int i = 0; i < json.Length; i++)
            {
                var changed = json.ToCharArray();
                changed[i] = replacements[random.Next(replacements.Length)];
                foreach (string text in new[] { json[..i], new string(changed), json[..i] + "99999999999" + json[i..], json[..i] + "-" + json[i..] })
                {
                    cases++;
                    try
                    {
                        read(text);
                    }
                    catch (FormatException)
                    {
                    }
                    catch (Exception e)
                    {
                        failures.Add($"{name}: {e.GetType().Name}: {e.Message} <= {text}");
                    }
                }
            }
        }

        cases.Should().BeGreaterThan(15_000);
        failures.Should().BeEmpty();
    }

    [Theory]
    [InlineData("{\"devMetric\":0.5,\"epochs\":-7}", "\"epochs\" must be ≥ 0; found -7")]
    [InlineData("{\"devMetric\":0.5,\"trainMetric\":1e999}", "\"trainMetric\" is 1e999, beyond the range of a double")]
    [InlineData("{\"devMetric\":-1e400}", "\"devMetric\" is -1e400, beyond the range of a double")]
    [InlineData("{\"devMetric\":0.5,\"extras\":{\"a\":1e400}}", "\"a\" is 1e400, beyond the range of a double")]
    [InlineData("{\"devMetric\":0.5,\"trainMetric\":true}", "\"trainMetric\" must be a number; found true")]
    [InlineData("{\"devMetric\":0.5,\"epochs\":1e10}", "\"epochs\" must be a whole number of 32 bits; found 1e10")]
    [InlineData("{\"devMetric\":0.5,\"epochs\":2.5}", "\"epochs\" must be a whole number of 32 bits; found 2.5")]
    [InlineData("{\"devMetric\":0.5,\"epochs\":\"3\"}", "\"epochs\" must be a whole number of 32 bits; found \"3\"")]
    public void An_outcome_with_a_negative_epoch_count_or_a_number_beyond_a_double_is_refused_naming_the_field_and_value(string json, string message)
    {
        // Read as Epochs = -7 and TrainMetric = ∞ (the writer writes ∞ as the string "Infinity", never as a number), and
        // "epochs":1e10 gave a bare "One of the identified items was in an invalid format."
        FluentActions.Invoking(() => TrialOutcome.FromJson(json)).Should().Throw<FormatException>().WithMessage(message);

        // What the writer writes reads back: ±∞ as strings, NaN as null, the largest doubles as numbers.
        var outcome = new TrialOutcome(double.MaxValue)
        {
            TrainMetric = double.PositiveInfinity,
            Epochs = int.MaxValue,
            Extras = new Dictionary<string, double> { ["a"] = double.NegativeInfinity, ["b"] = double.NaN, ["c"] = -double.MaxValue, ["d"] = double.Epsilon },
        };
        TrialOutcome.FromJson(outcome.ToJson()).ToJson().Should().Be(outcome.ToJson());
        TrialOutcome.FromJson(outcome.ToJson()).Extras["a"].Should().Be(double.NegativeInfinity);
    }

    [Fact]
    public void A_whole_number_that_is_fractional_too_large_or_not_a_number_is_refused_naming_the_field_and_value()
    {
        // Each gave the bare "One of the identified items was in an invalid format.", naming neither field nor value.
        string config = TrialConfig.ToJson([new TrialConfig(1, 0, 7, [new("x", 0.5)])]);
        FluentActions.Invoking(() => TrialConfig.ListFromJson(config.Replace("\"id\":1", "\"id\":1.5", StringComparison.Ordinal)))
            .Should().Throw<FormatException>().WithMessage("\"id\" must be a whole number of 32 bits; found 1.5");
        FluentActions.Invoking(() => TrialConfig.ListFromJson(config.Replace("\"seed\":7", "\"seed\":-7", StringComparison.Ordinal)))
            .Should().Throw<FormatException>().WithMessage("\"seed\" must be a whole number in [0, 18446744073709551615]; found -7");
        FluentActions.Invoking(() => TrialConfig.ListFromJson(config.Replace("\"x\":0.5", "\"x\":1e400", StringComparison.Ordinal)))
            .Should().Throw<FormatException>().WithMessage("\"x\" is 1e400, beyond the range of a double");

        string result = Result(new SearchOptions { Seed = 1, Trials = 2, Rounds = 1, MaxDegreeOfParallelism = 1 }).ToJson();
        string skipped = System.Text.RegularExpressions.Regex.Replace(result, "\"skippedTrials\":[^,]*", "\"skippedTrials\":1.5");
        skipped.Should().NotBe(result);
        FluentActions.Invoking(() => SearchResult.FromJson(skipped)).Should().Throw<FormatException>().WithMessage("\"skippedTrials\" must be a whole number of 32 bits; found 1.5");

        string study = StudyDefinition.Random(new SearchSpace().IntRange("layers", 1, 3), new SearchOptions { Seed = 1, Trials = 2 }).ToJson();
        foreach (string bound in new[] { "1e2", "100.5", "99999999999", "\"3\"" })
        {
            FluentActions.Invoking(() => StudyDefinition.FromJson(study.Replace("\"high\":3", "\"high\":" + bound, StringComparison.Ordinal)))
                .Should().Throw<FormatException>().WithMessage($"\"high\" must be a whole number of 32 bits; found {bound}");
        }

        FluentActions.Invoking(() => StudyDefinition.FromJson(study.Replace("\"trials\":2", "\"trials\":2e0", StringComparison.Ordinal)))
            .Should().Throw<FormatException>().WithMessage("\"trials\" must be a whole number of 32 bits; found 2e0");
        string uniform = StudyDefinition.Random(new SearchSpace().Uniform("u", 0, 1), new SearchOptions { Seed = 1, Trials = 2 }).ToJson();
        FluentActions.Invoking(() => StudyDefinition.FromJson(uniform.Replace("\"high\":1.0", "\"high\":1e999", StringComparison.Ordinal)))
            .Should().Throw<FormatException>().WithMessage("\"high\" is 1e999, beyond the range of a double");
    }

    [Theory]
    [InlineData("1e300")]
    [InlineData("-1")]
    [InlineData("922337203686")]
    public void A_search_result_with_an_elapsed_time_a_TimeSpan_cannot_hold_is_a_FormatException(string seconds)
    {
        // 1e300 threw OverflowException from TimeSpan.FromSeconds; -1 was read as a negative duration.
        string json = Result(new SearchOptions { Seed = 1, Trials = 2, Rounds = 1, MaxDegreeOfParallelism = 1 }).ToJson();
        string bad = System.Text.RegularExpressions.Regex.Replace(json, "\"elapsedSeconds\":[^,]*", "\"elapsedSeconds\":" + seconds);
        bad.Should().NotBe(json);
        FluentActions.Invoking(() => SearchResult.FromJson(bad)).Should().Throw<FormatException>().WithMessage("*\"elapsedSeconds\" must be ≥ 0*found*");
    }

    [Theory]
    [InlineData("coarseToFine", 2_000_000_000, 1)]
    [InlineData("random", 2_000_000_000, 1)]
    [InlineData("coarseToFine", 65_536, 65_536)]
    public void A_study_of_more_trials_than_any_run_is_refused_before_its_trials_are_built(string sampler, int trials, int rounds)
    {
        // Were read: NextTrials then built 2·10⁹ trial configs (OutOfMemoryException), and 65,536 × 65,536 wrapped
        // TotalTrials to 0 and round·trials (the first trial id of a round) to a negative number.
        var options = new SearchOptions { Seed = 1, Trials = 4, Rounds = 2 };
        string json = (sampler == "random" ? StudyDefinition.Random(Space(), options) : StudyDefinition.CoarseToFine(Space(), options)).ToJson();
        json = json.Replace("\"trials\":4", $"\"trials\":{trials}", StringComparison.Ordinal).Replace("\"rounds\":" + (sampler == "random" ? "1" : "2"), $"\"rounds\":{rounds}", StringComparison.Ordinal);
        long before = GC.GetAllocatedBytesForCurrentThread();
        FluentActions.Invoking(() => StudyDefinition.FromJson(json)).Should().Throw<FormatException>()
            .WithMessage(sampler == "random"
                ? $"not a valid study definition: *a random study runs at most 1000000 trials in all; received {trials} trials (in its one round)*"
                : $"not a valid study definition: *a coarse-to-fine study runs at most 1000000 trials in all; received {trials} trials × {rounds} rounds*");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
        FluentActions.Invoking(() => StudyDefinition.CoarseToFine(Space(), new SearchOptions { Trials = trials, Rounds = rounds }))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*at most 1000000 trials*");
        StudyDefinition.CoarseToFine(Space(), new SearchOptions { Trials = 1000, Rounds = 1000 }).TotalTrials.Should().Be(1_000_000);
    }
}
