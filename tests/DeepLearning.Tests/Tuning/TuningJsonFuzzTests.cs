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
