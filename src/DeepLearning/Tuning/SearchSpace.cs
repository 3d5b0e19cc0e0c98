using System.Collections;
using System.Globalization;

namespace DeepLearning;

/// <summary>
/// Named hyperparameter dimensions, each sampled on its own scale, built fluently:
/// <code>
/// var space = new SearchSpace()
///     .LogUniform("learningRate", 1e-4, 1)        // α = 10^r, r ~ U[−4, 0]
///     .OneMinusLogUniform("beta1", 0.9, 0.999)    // β1 = 1 − 10^r, r ~ U[−3, −1]
///     .IntRange("hidden", 50, 100)                // n[1] ∈ {50, …, 100}
///     .Choice("keepProb", 0.5, 0.8, 1.0);
/// </code>
/// </summary>
public sealed class SearchSpace : IReadOnlyList<Dimension>
{
    /// <summary>Grids larger than this many points are refused.</summary>
    public const int MaxGridSize = 1_000_000;

    private readonly List<Dimension> _dimensions = [];

    /// <summary>Creates an empty space.</summary>
    public SearchSpace()
    {
    }

    /// <summary>Creates a space from dimensions (names must be distinct).</summary>
    public SearchSpace(IEnumerable<Dimension> dimensions)
    {
        ArgumentNullException.ThrowIfNull(dimensions);
        foreach (var d in dimensions)
        {
            Add(d);
        }
    }

    /// <summary>The number of dimensions.</summary>
    public int Count => _dimensions.Count;

    /// <summary>Dimension <paramref name="index"/>, in the order added.</summary>
    public Dimension this[int index] => _dimensions[index];

    /// <summary>The dimension named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such dimension; the message lists the ones there are.</exception>
    public Dimension this[string name] =>
        _dimensions.Find(d => d.Name == name)
        ?? throw new KeyNotFoundException($"the search space has no dimension '{name}'; it has [{string.Join(", ", _dimensions.Select(d => d.Name))}]");

    /// <summary>Adds a dimension; its name must be new.</summary>
    public SearchSpace Add(Dimension dimension)
    {
        ArgumentNullException.ThrowIfNull(dimension);
        if (_dimensions.Exists(d => d.Name == dimension.Name))
        {
            throw new ArgumentException($"the search space already has a dimension named '{dimension.Name}'", nameof(dimension));
        }

        _dimensions.Add(dimension);
        return this;
    }

    /// <summary>Adds x ~ U[low, high) on a linear scale (the upper end is not sampled; grid points include both ends).</summary>
    public SearchSpace Uniform(string name, double low, double high) => Add(new UniformDimension(name, low, high));

    /// <summary>Adds an integer uniform on {low, …, high}, both ends included.</summary>
    public SearchSpace IntRange(string name, int low, int high) => Add(new IntRangeDimension(name, low, high));

    /// <summary>Adds a uniform choice among text labels.</summary>
    public SearchSpace Choice(string name, params string[] values) => Add(new ChoiceDimension(name, values.Select(HyperparameterValue.FromText)));

    /// <summary>Adds a uniform choice among real numbers.</summary>
    public SearchSpace Choice(string name, params double[] values) => Add(new ChoiceDimension(name, values.Select(HyperparameterValue.FromReal)));

    /// <summary>Adds a uniform choice among integers.</summary>
    public SearchSpace Choice(string name, params int[] values) => Add(new ChoiceDimension(name, values.Select(HyperparameterValue.FromInteger)));

    /// <summary>
    /// Adds α = 10^r with r ~ U[log10 low, log10 high), e.g. the learning rate in [1e-4, 1]. As for any continuous
    /// draw, the lower end can be sampled and the upper end (almost surely) not; grid points include both ends.
    /// </summary>
    public SearchSpace LogUniform(string name, double low, double high) => Add(new LogUniformDimension(name, low, high));

    /// <summary>
    /// Adds β = 1 − 10^r with r ~ U[log10(1 − high), log10(1 − low)), e.g. β1 in [0.9, 0.999]: r's lower end is β's
    /// upper end, so here the upper end can be sampled and the lower end (almost surely) not; grid points include both.
    /// </summary>
    public SearchSpace OneMinusLogUniform(string name, double low, double high) => Add(new OneMinusLogUniformDimension(name, low, high));

    /// <summary>
    /// Trial <paramref name="id"/> of the search seeded <paramref name="searchSeed"/>: its values come
    /// from a random stream derived from (seed, id) alone, and its model seed is
    /// <see cref="Tuner.TrialSeed(ulong, int)"/>. The same (seed, id) always gives the same trial.
    /// </summary>
    public TrialConfig Sample(ulong searchSeed, int id, int round = 0)
    {
        RequireDimensions();
        var random = new RandomSource(Tuner.Derive(searchSeed, id, Tuner.SamplingStream));
        var values = _dimensions.Select(d => new KeyValuePair<string, HyperparameterValue>(d.Name, d.Sample(random))).ToList();
        return new TrialConfig(id, round, Tuner.TrialSeed(searchSeed, id), values);
    }

    /// <summary><paramref name="count"/> random trials with ids firstId, firstId + 1, …</summary>
    public IReadOnlyList<TrialConfig> SampleTrials(int count, ulong searchSeed, int round = 0, int firstId = 0)
    {
        if (count < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"count must be ≥ 0; received {count}");
        }

        if (firstId < 0 || (long)firstId + count > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(firstId), firstId, $"trial ids firstId..firstId+count−1 must fit in [0, {int.MaxValue}]; received firstId = {firstId}, count = {count}");
        }

        return Enumerable.Range(firstId, count).Select(id => Sample(searchSeed, id, round)).ToList();
    }

    /// <summary>
    /// Every combination of each dimension's <see cref="Dimension.GridPoints(int)"/>, the last
    /// dimension varying fastest; trial k gets the model seed <see cref="Tuner.TrialSeed(ulong, int)"/>(seed, k).
    /// </summary>
    /// <param name="pointsPerDimension">Points per dimension (a choice always contributes all its values).</param>
    /// <param name="searchSeed">The search seed, for the trials' model seeds.</param>
    /// <param name="pointsByName">Optional per-dimension overrides of <paramref name="pointsPerDimension"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A dimension's number of points is less than 1.</exception>
    /// <exception cref="ArgumentException">The grid would have more than <see cref="MaxGridSize"/> points (refused before
    /// any point is built), or <paramref name="pointsByName"/> names a dimension the space lacks.</exception>
    public IReadOnlyList<TrialConfig> GridTrials(int pointsPerDimension, ulong searchSeed, IReadOnlyDictionary<string, int>? pointsByName = null)
    {
        RequireDimensions();
        if (pointsByName is not null)
        {
            var unknown = pointsByName.Keys.Where(k => !_dimensions.Exists(d => d.Name == k)).ToList();
            if (unknown.Count > 0)
            {
                throw new ArgumentException($"pointsByName names dimensions the space lacks: [{string.Join(", ", unknown)}]; it has [{string.Join(", ", _dimensions.Select(d => d.Name))}]", nameof(pointsByName));
            }
        }

        var counts = _dimensions.Select(d => pointsByName is not null && pointsByName.TryGetValue(d.Name, out int p) ? p : pointsPerDimension).ToArray();
        for (int d = 0; d < counts.Length; d++)
        {
            if (counts[d] < 1)
            {
                throw new ArgumentOutOfRangeException(pointsByName is not null && pointsByName.ContainsKey(_dimensions[d].Name) ? nameof(pointsByName) : nameof(pointsPerDimension),
                    counts[d], $"the number of grid points of dimension '{_dimensions[d].Name}' must be at least 1; received {counts[d]}");
            }
        }

        // Refuse an oversized grid from the sizes alone, before any axis is built (a count of 2^31 − 1 would not fit in memory).
        CheckGridSize(_dimensions.Select((d, i) => d.GridSize(counts[i])).ToArray());
        var axes = _dimensions.Select((d, i) => d.GridPoints(counts[i])).ToArray();
        long total = CheckGridSize(axes.Select(a => (long?)a.Count).ToArray());

        var trials = new List<TrialConfig>((int)total);
        var index = new int[axes.Length];
        for (int k = 0; k < total; k++)
        {
            var values = new KeyValuePair<string, HyperparameterValue>[axes.Length];
            for (int d = 0; d < axes.Length; d++)
            {
                values[d] = new(_dimensions[d].Name, axes[d][index[d]]);
            }

            trials.Add(new TrialConfig(k, 0, Tuner.TrialSeed(searchSeed, k), values));
            for (int d = axes.Length - 1; d >= 0; d--)
            {
                if (++index[d] < axes[d].Count)
                {
                    break;
                }

                index[d] = 0;
            }
        }

        return trials;
    }

    // The product of the axis sizes (an unknown size, null, counts as 1), refused above MaxGridSize.
    private long CheckGridSize(long?[] sizes)
    {
        long total = sizes.Aggregate(1L, (acc, n) => Math.Min(acc * (n ?? 1), (long)MaxGridSize + 1));
        if (total > MaxGridSize)
        {
            throw new ArgumentException($"the grid would have more than {MaxGridSize} points ({string.Join(" × ", sizes.Select(n => n?.ToString(CultureInfo.InvariantCulture) ?? "?"))} over [{string.Join(", ", _dimensions.Select(d => d.Name))}]); use fewer points or random search");
        }

        return total;
    }

    /// <summary>
    /// The space narrowed around <paramref name="best"/> (coarse to fine): each dimension shrinks in
    /// its own scale to the span of the best trials' values plus <paramref name="padding"/> of its
    /// width on each side (log10 space for log-uniform; integers stay integers; a choice keeps the
    /// choices the best trials used). Trials lacking a dimension are ignored for it.
    /// </summary>
    public SearchSpace ShrinkAround(IEnumerable<TrialConfig> best, double padding = 0.1)
    {
        ArgumentNullException.ThrowIfNull(best);
        Dimension.ValidatePadding(padding);
        var list = best.ToList();
        return new SearchSpace(_dimensions.Select(d =>
        {
            var values = list.Where(t => t.Hyperparameters.ContainsKey(d.Name)).Select(t => t[d.Name]).ToList();
            return values.Count == 0 ? d : d.ShrinkAround(values, padding);
        }));
    }

    /// <summary>True when <paramref name="trial"/> has a value inside every dimension.</summary>
    public bool Contains(TrialConfig trial)
    {
        ArgumentNullException.ThrowIfNull(trial);
        return _dimensions.TrueForAll(d => trial.Hyperparameters.TryGetValue(d.Name, out var v) && d.Contains(v));
    }

    /// <summary>
    /// What keeps <paramref name="trial"/> from fitting this space, one line per hyperparameter, empty when it fits:
    /// a dimension the trial lacks, a value of the wrong kind or outside its dimension (range or choices), and a name
    /// the space lacks. At most <paramref name="limit"/> lines, the last one saying how many more there are.
    /// </summary>
    internal List<string> Mismatches(TrialConfig trial, int limit = 10)
    {
        ArgumentNullException.ThrowIfNull(trial);
        var problems = new List<string>();
        foreach (var d in _dimensions)
        {
            if (!trial.Hyperparameters.TryGetValue(d.Name, out var v))
            {
                problems.Add($"hyperparameter '{d.Name}' is missing ({d})");
            }
            else if (!d.Contains(v))
            {
                problems.Add($"hyperparameter '{d.Name}' = {Describe(v)}, not in {d}");
            }
        }

        foreach (var (name, v) in trial.Hyperparameters)
        {
            if (!_dimensions.Exists(d => d.Name == name))
            {
                problems.Add($"hyperparameter {StudyNames.Quote(name)} = {Describe(v)} is not in the search space, which has [{string.Join(", ", _dimensions.Select(d => d.Name))}]");
            }
        }

        if (problems.Count > limit)
        {
            int more = problems.Count - (limit - 1);
            problems.RemoveRange(limit - 1, problems.Count - (limit - 1));
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"… and {more} more"));
        }

        return problems;

        static string Describe(HyperparameterValue v) => v.Kind switch
        {
            HyperparameterKind.Real => v + " (a real)",
            HyperparameterKind.Integer => v + " (an integer)",
            _ => StudyNames.Quote(v.AsString()) + " (text)",
        };
    }

    /// <inheritdoc/>
    public IEnumerator<Dimension> GetEnumerator() => _dimensions.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>One dimension per line.</summary>
    public override string ToString() => string.Join(Environment.NewLine, _dimensions);

    private void RequireDimensions()
    {
        if (_dimensions.Count == 0)
        {
            throw new InvalidOperationException("the search space has no dimensions; add some with Uniform, IntRange, Choice, LogUniform or OneMinusLogUniform");
        }
    }
}
