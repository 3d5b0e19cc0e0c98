using System.Globalization;

namespace DeepLearning;

/// <summary>
/// One named axis of a <see cref="SearchSpace"/>: how a hyperparameter is sampled at random, laid
/// out on a grid, and narrowed around good values in coarse-to-fine search. Each dimension works in
/// its own scale (linear, log10, or log10(1 − β)), which is the course's "appropriate scale".
/// </summary>
public abstract class Dimension
{
    /// <summary>Creates a dimension with a non-empty name.</summary>
    protected Dimension(string name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            throw new ArgumentException($"a dimension name must be non-empty; received \"{name}\"", nameof(name));
        }

        Name = name;
    }

    /// <summary>The hyperparameter's name, e.g. "learningRate".</summary>
    public string Name { get; }

    /// <summary>Draws one value with <paramref name="random"/>.</summary>
    public abstract HyperparameterValue Sample(RandomSource random);

    /// <summary>
    /// <paramref name="count"/> evenly spaced values in this dimension's scale, ends included, smallest
    /// value first (one point is the midpoint). Integer and choice dimensions may return fewer distinct values.
    /// </summary>
    public abstract IReadOnlyList<HyperparameterValue> GridPoints(int count);

    /// <summary>
    /// A narrower dimension of the same kind around <paramref name="values"/> (the best trials'
    /// values): in this dimension's scale u, the new range is
    /// [min u − padding·(u_hi − u_lo), max u + padding·(u_hi − u_lo)], clipped to the current range.
    /// </summary>
    /// <param name="values">The values of the best trials; values outside the range are clamped into it.</param>
    /// <param name="padding">Margin on each side, as a fraction of the current width in scale; in (0, 1].</param>
    public abstract Dimension ShrinkAround(IReadOnlyList<HyperparameterValue> values, double padding);

    /// <summary>True when <paramref name="value"/> has the right kind and lies in this dimension.</summary>
    public abstract bool Contains(HyperparameterValue value);

    /// <summary>A readable form, e.g. <c>learningRate ~ LogUniform[0.0001, 1]</c>.</summary>
    public abstract override string ToString();

    /// <summary>
    /// How many values <see cref="GridPoints(int)"/> returns for <paramref name="count"/> (at most), computed without
    /// building them (so a grid can be refused before it is allocated); null when the dimension cannot tell.
    /// </summary>
    internal virtual long? GridSize(int count) => null;

    internal static void ValidatePadding(double padding)
    {
        if (!(padding > 0 && padding <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(padding), padding, $"padding must be in (0, 1]; received {padding}");
        }
    }

    internal static void ValidateCount(int count)
    {
        if (count < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"the number of grid points must be at least 1; received {count}");
        }
    }

    internal static string Num(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}

/// <summary>
/// A real dimension sampled uniformly in a transformed scale u = f(x): value = f⁻¹(u) with u uniform
/// between f(low) and f(high).
/// </summary>
public abstract class ContinuousDimension : Dimension
{
    /// <summary>Creates a dimension over [low, high]; the subclass has validated the bounds.</summary>
    protected ContinuousDimension(string name, double low, double high)
        : base(name)
    {
        Low = low;
        High = high;
    }

    /// <summary>The smallest value.</summary>
    public double Low { get; }

    /// <summary>The largest value.</summary>
    public double High { get; }

    /// <summary>Maps a value to the sampling scale u.</summary>
    public abstract double ToScale(double value);

    /// <summary>Maps a point of the sampling scale back to a value.</summary>
    public abstract double FromScale(double u);

    /// <summary>The same kind of dimension over [low, high].</summary>
    protected abstract ContinuousDimension WithRange(double low, double high);

    internal override long? GridSize(int count) => count;

    private (double Lo, double Hi) ScaleRange()
    {
        double a = ToScale(Low), b = ToScale(High);
        return a <= b ? (a, b) : (b, a);
    }

    /// <summary>u uniform in the scale's range; value = f⁻¹(u), clamped to [Low, High] against round-off.</summary>
    public override HyperparameterValue Sample(RandomSource random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var (lo, hi) = ScaleRange();
        return Math.Clamp(FromScale(random.NextUniform(lo, hi)), Low, High);
    }

    /// <inheritdoc/>
    public override IReadOnlyList<HyperparameterValue> GridPoints(int count)
    {
        ValidateCount(count);
        var (lo, hi) = ScaleRange();
        var points = new HyperparameterValue[count];
        for (int i = 0; i < count; i++)
        {
            double u = count == 1 ? 0.5 * (lo + hi) : lo + ((hi - lo) * i / (count - 1));
            points[i] = Math.Clamp(FromScale(u), Low, High);
        }

        // Smallest value first whichever way the scale runs, and the ends exactly as given.
        if (ToScale(Low) > ToScale(High))
        {
            Array.Reverse(points);
        }

        if (count > 1)
        {
            points[0] = Low;
            points[count - 1] = High;
        }

        return points;
    }

    /// <inheritdoc/>
    public override Dimension ShrinkAround(IReadOnlyList<HyperparameterValue> values, double padding)
    {
        ArgumentNullException.ThrowIfNull(values);
        ValidatePadding(padding);
        var (lo, hi) = ScaleRange();
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var v in values)
        {
            if (!v.IsNumeric)
            {
                continue;
            }

            double u = Math.Clamp(ToScale(Math.Clamp(v.AsDouble(), Low, High)), lo, hi);
            min = Math.Min(min, u);
            max = Math.Max(max, u);
        }

        if (double.IsPositiveInfinity(min))
        {
            return this;
        }

        double pad = padding * (hi - lo);
        double newLo = Math.Max(lo, min - pad), newHi = Math.Min(hi, max + pad);
        double a = Math.Clamp(FromScale(newLo), Low, High), b = Math.Clamp(FromScale(newHi), Low, High);
        if (a > b)
        {
            (a, b) = (b, a);
        }

        return a < b ? WithRange(a, b) : this;
    }

    /// <inheritdoc/>
    public override bool Contains(HyperparameterValue value) =>
        value.Kind == HyperparameterKind.Real && value.AsDouble() >= Low && value.AsDouble() <= High;
}

/// <summary>A real hyperparameter uniform on a linear scale: x ~ U[low, high].</summary>
public sealed class UniformDimension : ContinuousDimension
{
    /// <summary>Creates x ~ U[low, high]; needs finite low &lt; high with a finite width high − low.</summary>
    public UniformDimension(string name, double low, double high)
        : base(name, Validate(name, low, high), high)
    {
    }

    private static double Validate(string name, double low, double high)
    {
        if (!double.IsFinite(low) || !double.IsFinite(high) || !(low < high))
        {
            throw new ArgumentException($"Uniform '{name}' needs finite low < high; received low = {low}, high = {high}");
        }

        if (!double.IsFinite(high - low))
        {
            // low + (high − low)·u would be ±∞ or NaN: every sample would come out as an end of the range.
            throw new ArgumentException($"Uniform '{name}' needs a finite width high − low; received low = {low}, high = {high}");
        }

        return low;
    }

    /// <summary>u = x.</summary>
    public override double ToScale(double value) => value;

    /// <summary>x = u.</summary>
    public override double FromScale(double u) => u;

    /// <inheritdoc/>
    protected override ContinuousDimension WithRange(double low, double high) => new UniformDimension(Name, low, high);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ~ Uniform[{Num(Low)}, {Num(High)}]";
}

/// <summary>
/// A positive real hyperparameter sampled on a log scale, e.g. the learning rate α in [1e-4, 1]:
/// r ~ U[log10 low, log10 high], α = 10^r, so each decade gets the same share of samples.
/// </summary>
public sealed class LogUniformDimension : ContinuousDimension
{
    /// <summary>Creates α = 10^r, r ~ U[log10 low, log10 high]; needs finite 0 &lt; low &lt; high.</summary>
    public LogUniformDimension(string name, double low, double high)
        : base(name, Validate(name, low, high), high)
    {
    }

    private static double Validate(string name, double low, double high)
    {
        if (!double.IsFinite(low) || !double.IsFinite(high) || !(low > 0) || !(low < high))
        {
            throw new ArgumentException($"LogUniform '{name}' needs finite 0 < low < high; received low = {low}, high = {high}");
        }

        return low;
    }

    /// <summary>r = log10 α.</summary>
    public override double ToScale(double value) => Math.Log10(value);

    /// <summary>α = 10^r.</summary>
    public override double FromScale(double u) => Math.Pow(10, u);

    /// <inheritdoc/>
    protected override ContinuousDimension WithRange(double low, double high) => new LogUniformDimension(Name, low, high);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ~ LogUniform[{Num(Low)}, {Num(High)}]";
}

/// <summary>
/// A hyperparameter near 1 sampled on the 1 − 10^r scale, e.g. the momentum/Adam β in [0.9, 0.999]:
/// r ~ U[log10(1 − high), log10(1 − low)], β = 1 − 10^r. The average over about 1/(1 − β) steps is
/// what matters, so [0.9, 0.99] and [0.99, 0.999] each get half of the samples.
/// </summary>
public sealed class OneMinusLogUniformDimension : ContinuousDimension
{
    /// <summary>Creates β = 1 − 10^r; needs finite low &lt; high &lt; 1.</summary>
    public OneMinusLogUniformDimension(string name, double low, double high)
        : base(name, Validate(name, low, high), high)
    {
    }

    private static double Validate(string name, double low, double high)
    {
        if (!double.IsFinite(low) || !double.IsFinite(high) || !(low < high) || !(high < 1))
        {
            throw new ArgumentException($"OneMinusLogUniform '{name}' needs finite low < high < 1; received low = {low}, high = {high}");
        }

        return low;
    }

    /// <summary>r = log10(1 − β).</summary>
    public override double ToScale(double value) => Math.Log10(1 - value);

    /// <summary>β = 1 − 10^r.</summary>
    public override double FromScale(double u) => 1 - Math.Pow(10, u);

    /// <inheritdoc/>
    protected override ContinuousDimension WithRange(double low, double high) => new OneMinusLogUniformDimension(Name, low, high);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ~ OneMinusLogUniform[{Num(Low)}, {Num(High)}]";
}

/// <summary>An integer hyperparameter uniform on [low, high], both ends included, e.g. hidden units 50–100 or layers 2–4.</summary>
public sealed class IntRangeDimension : Dimension
{
    /// <summary>Creates n ~ U{low, …, high}; needs low ≤ high.</summary>
    public IntRangeDimension(string name, int low, int high)
        : base(name)
    {
        if (low > high || (long)high - low >= int.MaxValue)
        {
            throw new ArgumentException($"IntRange '{name}' needs low ≤ high with fewer than {int.MaxValue} values; received low = {low}, high = {high}");
        }

        Low = low;
        High = high;
    }

    /// <summary>The smallest value (included).</summary>
    public int Low { get; }

    /// <summary>The largest value (included).</summary>
    public int High { get; }

    /// <inheritdoc/>
    public override HyperparameterValue Sample(RandomSource random)
    {
        ArgumentNullException.ThrowIfNull(random);
        return Low + random.NextInt(High - Low + 1);
    }

    /// <summary>Rounding count evenly spaced points gives count distinct integers while the step exceeds 1, every integer once it is at most 1.</summary>
    internal override long? GridSize(int count) => Math.Min(count, (long)High - Low + 1);

    /// <inheritdoc/>
    public override IReadOnlyList<HyperparameterValue> GridPoints(int count)
    {
        ValidateCount(count);
        if (count - 1L >= 2 * ((long)High - Low))
        {
            // A step of at most 1/2: rounding the points hits every integer of the range (no need to walk all count of them).
            return Enumerable.Range(Low, High - Low + 1).Select(n => (HyperparameterValue)n).ToList();
        }

        var points = new List<HyperparameterValue>((int)GridSize(count)!.Value);
        int previous = int.MinValue;
        for (int i = 0; i < count; i++)
        {
            double x = count == 1 ? 0.5 * ((double)Low + High) : Low + (((double)High - Low) * i / (count - 1));
            int n = (int)Math.Round(x, MidpointRounding.AwayFromZero);
            if (i == 0 || n != previous)
            {
                points.Add(n);
                previous = n;
            }
        }

        return points;
    }

    /// <inheritdoc/>
    public override Dimension ShrinkAround(IReadOnlyList<HyperparameterValue> values, double padding)
    {
        ArgumentNullException.ThrowIfNull(values);
        ValidatePadding(padding);
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var v in values)
        {
            if (v.IsNumeric)
            {
                double x = Math.Clamp(v.AsDouble(), Low, High);
                min = Math.Min(min, x);
                max = Math.Max(max, x);
            }
        }

        if (double.IsPositiveInfinity(min))
        {
            return this;
        }

        double pad = padding * ((double)High - Low);
        int lo = (int)Math.Max(Low, Math.Floor(min - pad));
        int hi = (int)Math.Min(High, Math.Ceiling(max + pad));
        return new IntRangeDimension(Name, lo, hi);
    }

    /// <inheritdoc/>
    public override bool Contains(HyperparameterValue value) =>
        value.Kind == HyperparameterKind.Integer && value.AsInt() >= Low && value.AsInt() <= High;

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ~ IntRange[{Low}, {High}]";
}

/// <summary>A hyperparameter picked uniformly from a list of values (text labels, reals or integers).</summary>
public sealed class ChoiceDimension : Dimension
{
    private readonly HyperparameterValue[] _values;

    /// <summary>Creates a uniform choice among distinct <paramref name="values"/> (at least one).</summary>
    public ChoiceDimension(string name, IEnumerable<HyperparameterValue> values)
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(values);
        _values = values.ToArray();
        if (_values.Length == 0)
        {
            throw new ArgumentException($"Choice '{name}' needs at least one value; received none");
        }

        var duplicate = _values.GroupBy(v => v).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"Choice '{name}' has the value {duplicate.Key} more than once; received [{string.Join(", ", _values)}]");
        }
    }

    /// <summary>The values, in the order given.</summary>
    public IReadOnlyList<HyperparameterValue> Values => _values;

    /// <inheritdoc/>
    public override HyperparameterValue Sample(RandomSource random)
    {
        ArgumentNullException.ThrowIfNull(random);
        return _values[random.NextInt(_values.Length)];
    }

    internal override long? GridSize(int count) => _values.Length;

    /// <summary>Every value, whatever <paramref name="count"/> is: a choice has no scale to subdivide.</summary>
    public override IReadOnlyList<HyperparameterValue> GridPoints(int count)
    {
        ValidateCount(count);
        return _values;
    }

    /// <summary>Keeps the choices that appear among <paramref name="values"/>, in the original order; all of them if none does.</summary>
    public override Dimension ShrinkAround(IReadOnlyList<HyperparameterValue> values, double padding)
    {
        ArgumentNullException.ThrowIfNull(values);
        ValidatePadding(padding);
        var kept = _values.Where(values.Contains).ToArray();
        return kept.Length == 0 ? this : new ChoiceDimension(Name, kept);
    }

    /// <inheritdoc/>
    public override bool Contains(HyperparameterValue value) => Array.IndexOf(_values, value) >= 0;

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ~ Choice{{{string.Join(", ", _values.Select(v => v.Format(6)))}}}";
}
