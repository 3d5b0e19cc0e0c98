using System.Globalization;
using System.Text.Json;

namespace DeepLearning;

/// <summary>How a study picks its trials.</summary>
public enum StudySampler
{
    /// <summary>One round of random trials (<see cref="Tuner.RandomSearch"/>).</summary>
    Random,

    /// <summary>Every point of a grid (<see cref="Tuner.GridSearch"/>).</summary>
    Grid,

    /// <summary>Rounds of random trials, each round's space shrunk around the best so far (<see cref="Tuner.CoarseToFine"/>).</summary>
    CoarseToFine,
}

/// <summary>
/// Everything that decides a study's trials: the search space, the sampler, the study seed, trials per
/// round, rounds, top-K, padding and the metric goal. Trial i's hyperparameters and model seed depend only
/// on this definition and i (and, for coarse-to-fine rounds after the first, on the earlier rounds'
/// results), so a study gives the same table whether one worker runs it or many. A study storage keeps the
/// definition as JSON and refuses a worker that brings another one under the same study name.
/// </summary>
public sealed class StudyDefinition
{
    private StudyDefinition(StudySampler sampler, SearchSpace space, ulong seed, int trials, int rounds, int topK, double padding, int gridPoints, MetricGoal goal)
    {
        Sampler = sampler;
        _space = new SearchSpace(space); // the study's own: the caller's space may change after this (its dimensions are immutable)
        Seed = seed;
        Trials = trials;
        Rounds = rounds;
        TopK = topK;
        Padding = padding;
        GridPoints = gridPoints;
        Goal = goal;
    }

    /// <summary>How trials are picked.</summary>
    public StudySampler Sampler { get; }

    private readonly SearchSpace _space;

    /// <summary>
    /// The (coarse) search space: a copy of the one the definition was created with, new at each call, so that changing
    /// it (or the space the definition was created from) does not change the study.
    /// </summary>
    public SearchSpace Space => new(_space);

    /// <summary>The definition's own space, for reading inside the library (never handed out: <see cref="Space"/> copies it).</summary>
    internal SearchSpace OwnSpace => _space;

    /// <summary>The study seed.</summary>
    public ulong Seed { get; }

    /// <summary>Random trials per round; for a grid, the number of grid points.</summary>
    public int Trials { get; }

    /// <summary>Rounds (1 unless coarse-to-fine).</summary>
    public int Rounds { get; }

    /// <summary>Coarse-to-fine: how many best trials the next round's space is shrunk around.</summary>
    public int TopK { get; }

    /// <summary>Coarse-to-fine: the margin kept on each side, as a fraction of the width in the dimension's scale.</summary>
    public double Padding { get; }

    /// <summary>Grid: points per dimension; 0 for the other samplers.</summary>
    public int GridPoints { get; }

    /// <summary>Whether a larger or smaller dev metric is better.</summary>
    public MetricGoal Goal { get; }

    /// <summary>
    /// The most trials a study may run in all, as many as a grid may hold (<see cref="SearchSpace.MaxGridSize"/>): a
    /// definition read from shared storage is checked against it before a round's trials are built (a round's trials
    /// are built at once), and trial ids (round · trials + i) cannot overflow. A coarse-to-fine study counts trials per
    /// round × rounds; a random study counts its trials alone (it has one round, whatever
    /// <see cref="SearchOptions.Rounds"/> says); a grid study, its grid's points (limited by <see cref="SearchSpace.GridTrials"/>).
    /// </summary>
    public const int MaxTotalTrials = SearchSpace.MaxGridSize;

    /// <summary>The number of trials the whole study runs.</summary>
    public int TotalTrials => Trials * Rounds;

    /// <summary>A random search study: <see cref="SearchOptions.Trials"/> trials seeded <see cref="SearchOptions.Seed"/>, ranked by <see cref="SearchOptions.Goal"/>.</summary>
    public static StudyDefinition Random(SearchSpace space, SearchOptions? options = null)
    {
        var o = Check(space, options, StudySampler.Random);
        return new StudyDefinition(StudySampler.Random, space, o.Seed, o.Trials, 1, o.TopK, o.Padding, 0, o.Goal);
    }

    /// <summary>A grid search study over <paramref name="pointsPerDimension"/> points per dimension (<see cref="SearchSpace.GridTrials"/>).</summary>
    public static StudyDefinition Grid(SearchSpace space, int pointsPerDimension, SearchOptions? options = null)
    {
        var o = Check(space, options, StudySampler.Grid);
        int count = space.GridTrials(pointsPerDimension, o.Seed).Count;
        return new StudyDefinition(StudySampler.Grid, space, o.Seed, count, 1, o.TopK, o.Padding, pointsPerDimension, o.Goal);
    }

    /// <summary>
    /// A coarse-to-fine study: <see cref="SearchOptions.Rounds"/> rounds of <see cref="SearchOptions.Trials"/>
    /// trials, each later round sampled from the space shrunk around the <see cref="SearchOptions.TopK"/> best so far,
    /// exactly as <see cref="Tuner.CoarseToFine"/> does in one process.
    /// </summary>
    public static StudyDefinition CoarseToFine(SearchSpace space, SearchOptions? options = null)
    {
        var o = Check(space, options, StudySampler.CoarseToFine);
        return new StudyDefinition(StudySampler.CoarseToFine, space, o.Seed, o.Trials, o.Rounds, o.TopK, o.Padding, 0, o.Goal);
    }

    private static SearchOptions Check(SearchSpace space, SearchOptions? options, StudySampler sampler)
    {
        ArgumentNullException.ThrowIfNull(space);
        if (space.Count == 0)
        {
            throw new ArgumentException("a study needs a search space with at least one dimension", nameof(space));
        }

        foreach (var d in space)
        {
            if (d is not (UniformDimension or LogUniformDimension or OneMinusLogUniformDimension or IntRangeDimension or ChoiceDimension))
            {
                throw new ArgumentException($"dimension '{d.Name}' is a {d.GetType().Name}, which a study cannot store; use Uniform, LogUniform, OneMinusLogUniform, IntRange or Choice", nameof(space));
            }
        }

        options ??= new SearchOptions();
        options.Validate();
        // Only coarse-to-fine runs Rounds rounds: a random study has one (Rounds ignored), and a grid's size is its own
        // (GridTrials refuses one beyond MaxGridSize; Trials and Rounds are ignored).
        if (sampler == StudySampler.CoarseToFine && (long)options.Trials * options.Rounds > MaxTotalTrials)
        {
            throw new ArgumentOutOfRangeException(nameof(options), string.Create(CultureInfo.InvariantCulture, $"a coarse-to-fine study runs at most {MaxTotalTrials} trials in all; received {options.Trials} trials × {options.Rounds} rounds"));
        }

        if (sampler == StudySampler.Random && options.Trials > MaxTotalTrials)
        {
            throw new ArgumentOutOfRangeException(nameof(options), string.Create(CultureInfo.InvariantCulture, $"a random study runs at most {MaxTotalTrials} trials in all; received {options.Trials} trials (in its one round)"));
        }

        return options;
    }

    /// <summary>
    /// The trials to queue next, given every trial the study has finished (succeeded or failed for good):
    /// round 0 when there are none; for coarse-to-fine, the next round sampled from
    /// <see cref="SpaceOfRound"/>; empty when the study is done. Trial ids run on across rounds
    /// (round r has ids r·Trials … r·Trials + Trials − 1), as in <see cref="Tuner.CoarseToFine"/>.
    /// </summary>
    public IReadOnlyList<TrialConfig> NextTrials(IReadOnlyList<TrialResult> finished)
    {
        ArgumentNullException.ThrowIfNull(finished);
        int round = finished.Count == 0 ? 0 : finished.Max(t => t.Round) + 1;
        if (round >= Rounds)
        {
            return [];
        }

        return Sampler switch
        {
            StudySampler.Grid => _space.GridTrials(GridPoints, Seed),
            StudySampler.Random => _space.SampleTrials(Trials, Seed),
            _ => SpaceOfRound(round, finished).SampleTrials(Trials, Seed, round, firstId: round * Trials),
        };
    }

    /// <summary>
    /// The space round <paramref name="round"/> samples from: the study's space for round 0; for round r,
    /// the space of round r − 1 shrunk around the <see cref="TopK"/> best of the trials of rounds &lt; r. The space is
    /// the caller's: changing it does not change the study.
    /// </summary>
    public SearchSpace SpaceOfRound(int round, IReadOnlyList<TrialResult> finished)
    {
        ArgumentNullException.ThrowIfNull(finished);
        ArgumentOutOfRangeException.ThrowIfNegative(round);
        var current = _space;
        for (int r = 1; r <= round; r++)
        {
            var best = SearchResult.Rank(finished.Where(t => t.Round < r), Goal).Where(t => t.Succeeded).Take(TopK).Select(t => t.Config).ToList();
            if (best.Count > 0)
            {
                current = current.ShrinkAround(best, Padding);
            }
        }

        return ReferenceEquals(current, _space) ? new SearchSpace(_space) : current;
    }

    /// <summary>
    /// The definition as JSON, e.g. <c>{"sampler":"coarseToFine","seed":1,"trials":8,"rounds":2,"topK":3,"padding":0.1,
    /// "gridPoints":0,"goal":"maximize","space":[{"name":"learningRate","kind":"logUniform","low":0.0001,"high":0.1}]}</c>.
    /// The same definition always gives the same text.
    /// </summary>
    public string ToJson() => Json.Write(w =>
    {
        w.WriteStartObject();
        w.WriteString("sampler", Camel(Sampler.ToString()));
        w.WriteNumber("seed", Seed);
        w.WriteNumber("trials", Trials);
        w.WriteNumber("rounds", Rounds);
        w.WriteNumber("topK", TopK);
        w.WritePropertyName("padding");
        Json.WriteValue(w, Padding);
        w.WriteNumber("gridPoints", GridPoints);
        w.WriteString("goal", Camel(Goal.ToString()));
        w.WriteStartArray("space");
        foreach (var d in _space)
        {
            w.WriteStartObject();
            w.WriteString("name", d.Name);
            switch (d)
            {
                case ContinuousDimension c:
                    w.WriteString("kind", c switch
                    {
                        LogUniformDimension => "logUniform",
                        OneMinusLogUniformDimension => "oneMinusLogUniform",
                        _ => "uniform",
                    });
                    w.WritePropertyName("low");
                    Json.WriteValue(w, c.Low);
                    w.WritePropertyName("high");
                    Json.WriteValue(w, c.High);
                    break;
                case IntRangeDimension n:
                    w.WriteString("kind", "intRange");
                    w.WriteNumber("low", n.Low);
                    w.WriteNumber("high", n.High);
                    break;
                case ChoiceDimension ch:
                    w.WriteString("kind", "choice");
                    w.WriteStartArray("values");
                    foreach (var v in ch.Values)
                    {
                        Json.WriteValue(w, v);
                    }

                    w.WriteEndArray();
                    break;
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    });

    /// <summary>Reads a definition written by <see cref="ToJson"/>.</summary>
    /// <exception cref="FormatException">The text is not a valid study definition.</exception>
    public static StudyDefinition FromJson(string json) => Json.Read(json, "study definition", e =>
    {
        Json.Expect(e, JsonValueKind.Object, "study definition");
        const string what = "study definition";
        var sampler = Parse<StudySampler>(Json.Property(e, "sampler", what).GetString(), "sampler");
        var goal = Parse<MetricGoal>(Json.Property(e, "goal", what).GetString(), "goal");
        var spaceJson = Json.Property(e, "space", what);
        Json.Expect(spaceJson, JsonValueKind.Array, "study space");
        var space = new SearchSpace();
        foreach (var d in spaceJson.EnumerateArray())
        {
            Json.Expect(d, JsonValueKind.Object, "study dimension");
            string name = Json.Property(d, "name", "study dimension").GetString() ?? "";
            string kind = Json.Property(d, "kind", "study dimension").GetString() ?? "";
            double Low() => Json.ReadDouble(Json.Property(d, "low", "study dimension"), "low");
            double High() => Json.ReadDouble(Json.Property(d, "high", "study dimension"), "high");
            space.Add(kind switch
            {
                "uniform" => new UniformDimension(name, Low(), High()),
                "logUniform" => new LogUniformDimension(name, Low(), High()),
                "oneMinusLogUniform" => new OneMinusLogUniformDimension(name, Low(), High()),
                "intRange" => new IntRangeDimension(name, Json.ReadInt32(Json.Property(d, "low", "study dimension"), "low"), Json.ReadInt32(Json.Property(d, "high", "study dimension"), "high")),
                "choice" => new ChoiceDimension(name, Json.Property(d, "values", "study dimension").EnumerateArray().Select(v => Json.ReadValue(v, name)).ToList()),
                _ => throw new FormatException($"dimension '{name}' has an unknown kind \"{kind}\""),
            });
        }

        var options = new SearchOptions
        {
            Seed = Json.ReadUInt64(Json.Property(e, "seed", what), "seed"),
            Trials = Json.ReadInt32(Json.Property(e, "trials", what), "trials"),
            Rounds = Json.ReadInt32(Json.Property(e, "rounds", what), "rounds"),
            TopK = Json.ReadInt32(Json.Property(e, "topK", what), "topK"),
            Padding = Json.ReadDouble(Json.Property(e, "padding", what), "padding"),
            Goal = goal,
        };
        return sampler switch
        {
            StudySampler.Random => Random(space, options),
            StudySampler.Grid => Grid(space, Json.ReadInt32(Json.Property(e, "gridPoints", what), "gridPoints"), options),
            _ => CoarseToFine(space, options),
        };
    });

    /// <summary>
    /// The names of the settings in which <paramref name="other"/> differs from this definition (e.g. "seed",
    /// "space"), empty when they are the same study. Top-K and padding count only when either study is coarse-to-fine:
    /// random and grid studies store them but never use them.
    /// </summary>
    public IReadOnlyList<string> Differences(StudyDefinition other)
    {
        ArgumentNullException.ThrowIfNull(other);
        using var a = JsonDocument.Parse(ToJson());
        using var b = JsonDocument.Parse(other.ToJson());
        var diffs = new List<string>();
        // Top-K and padding shape only coarse-to-fine rounds: random and grid studies store them but never use them.
        bool refines = Sampler == StudySampler.CoarseToFine || other.Sampler == StudySampler.CoarseToFine;
        foreach (var p in a.RootElement.EnumerateObject())
        {
            if (!refines && p.Name is "topK" or "padding")
            {
                continue;
            }

            if (!b.RootElement.TryGetProperty(p.Name, out var q) || p.Value.GetRawText() != q.GetRawText())
            {
                diffs.Add(p.Name);
            }
        }

        return diffs;
    }

    /// <summary>A one-line summary, e.g. <c>coarseToFine, 2 rounds × 8 trials, seed 1, maximize</c>.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Camel(Sampler.ToString())}, {Rounds} round{(Rounds == 1 ? "" : "s")} × {Trials} trials, seed {Seed}, {Camel(Goal.ToString())}; {string.Join("; ", _space)}");

    private static string Camel(string s) => char.ToLowerInvariant(s[0]) + s[1..];

    private static TEnum Parse<TEnum>(string? text, string what)
        where TEnum : struct, Enum =>
        Enum.TryParse<TEnum>(text, ignoreCase: true, out var v) && Enum.IsDefined(v)
            ? v
            : throw new FormatException($"\"{what}\" must be one of [{string.Join(", ", Enum.GetNames<TEnum>())}]; found \"{text}\"");
}
