namespace DeepLearning;

/// <summary>No decay: α = α0.</summary>
public sealed class ConstantRate : LearningRateSchedule
{
    /// <inheritdoc/>
    public override string Describe() => "Constant";

    /// <inheritdoc/>
    protected override double Compute(double initialRate, long t) => initialRate;
}

/// <summary>
/// Inverse-time decay, the course's first formula: α = α0 / (1 + decayRate·epoch). With a time
/// interval (the course's "scheduled" variant) the epoch is counted in whole intervals:
/// α = α0 / (1 + decayRate·⌊epoch/timeInterval⌋), so α stays fixed for timeInterval epochs at a time.
/// </summary>
public sealed class InverseTimeDecay : LearningRateSchedule
{
    /// <summary>Creates inverse-time decay.</summary>
    /// <param name="decayRate">decayRate ≥ 0 (0 is no decay).</param>
    /// <param name="timeInterval">The number of epochs per decay step, ≥ 1; 1 decays every epoch.</param>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public InverseTimeDecay(double decayRate, int timeInterval = 1)
    {
        if (!(decayRate >= 0) || !double.IsFinite(decayRate))
        {
            throw new ArgumentOutOfRangeException(nameof(decayRate), decayRate, $"decayRate must be non-negative and finite; received {Format(decayRate)}");
        }

        if (timeInterval < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(timeInterval), timeInterval, $"timeInterval must be at least 1; received {timeInterval}");
        }

        DecayRate = decayRate;
        TimeInterval = timeInterval;
    }

    /// <summary>decayRate.</summary>
    public double DecayRate { get; }

    /// <summary>The number of epochs per decay step.</summary>
    public int TimeInterval { get; }

    /// <inheritdoc/>
    public override string Describe() =>
        TimeInterval == 1 ? $"InverseTime(decayRate={Format(DecayRate)})" : $"InverseTime(decayRate={Format(DecayRate)}, timeInterval={TimeInterval})";

    /// <inheritdoc/>
    protected override double Compute(double initialRate, long t) => initialRate / (1 + (DecayRate * (t / TimeInterval)));
}

/// <summary>Exponential decay: α = α0·base^epoch, e.g. base 0.95.</summary>
public sealed class ExponentialDecay : LearningRateSchedule
{
    /// <summary>Creates exponential decay.</summary>
    /// <param name="decayBase">The base, in (0, 1]; 1 is no decay.</param>
    /// <exception cref="ArgumentOutOfRangeException">The base is outside (0, 1].</exception>
    public ExponentialDecay(double decayBase = 0.95)
    {
        if (!(decayBase > 0 && decayBase <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(decayBase), decayBase, $"decayBase must be in (0, 1]; received {Format(decayBase)}");
        }

        Base = decayBase;
    }

    /// <summary>The base.</summary>
    public double Base { get; }

    /// <inheritdoc/>
    public override string Describe() => $"Exponential(base={Format(Base)})";

    /// <inheritdoc/>
    protected override double Compute(double initialRate, long t) => initialRate * Math.Pow(Base, t);
}

/// <summary>
/// Inverse-square-root decay: α = α0·k/√epoch. The formula is undefined at epoch 0, which is
/// treated as epoch 1: α = α0·k for epochs 0 and 1, α0·k/√2 at epoch 2, α0·k/2 at epoch 4.
/// </summary>
public sealed class InverseSqrtDecay : LearningRateSchedule
{
    /// <summary>Creates inverse-square-root decay.</summary>
    /// <param name="k">The constant k &gt; 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">k is not positive and finite.</exception>
    public InverseSqrtDecay(double k)
    {
        if (!(k > 0) || !double.IsFinite(k))
        {
            throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be positive and finite; received {Format(k)}");
        }

        K = k;
    }

    /// <summary>k.</summary>
    public double K { get; }

    /// <inheritdoc/>
    public override string Describe() => $"InverseSqrt(k={Format(K)})";

    /// <inheritdoc/>
    protected override double Compute(double initialRate, long t) => initialRate * K / Math.Sqrt(Math.Max(t, 1));
}

/// <summary>
/// Staircase (discrete) decay: α = α0·factor^⌊epoch/dropEvery⌋, so α drops by <see cref="Factor"/> once
/// every <see cref="DropEvery"/> epochs and is constant in between.
/// </summary>
public sealed class StaircaseDecay : LearningRateSchedule
{
    /// <summary>Creates staircase decay.</summary>
    /// <param name="dropEvery">The number of epochs between drops, ≥ 1.</param>
    /// <param name="factor">The multiplier at each drop, in (0, 1], e.g. 0.5 halves α.</param>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public StaircaseDecay(int dropEvery, double factor)
    {
        if (dropEvery < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(dropEvery), dropEvery, $"dropEvery must be at least 1; received {dropEvery}");
        }

        if (!(factor > 0 && factor <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(factor), factor, $"factor must be in (0, 1]; received {Format(factor)}");
        }

        DropEvery = dropEvery;
        Factor = factor;
    }

    /// <summary>The number of epochs between drops.</summary>
    public int DropEvery { get; }

    /// <summary>The multiplier at each drop.</summary>
    public double Factor { get; }

    /// <inheritdoc/>
    public override string Describe() => $"Staircase(dropEvery={DropEvery}, factor={Format(Factor)})";

    /// <inheritdoc/>
    protected override double Compute(double initialRate, long t) => initialRate * Math.Pow(Factor, t / DropEvery);
}

/// <summary>
/// A user's own schedule (the course's "manual decay"): α = f(α0, epoch). The function should be
/// pure; its result is checked to be positive and finite.
/// </summary>
public sealed class CustomDecay : LearningRateSchedule
{
    private readonly Func<double, int, double> _function;
    private readonly string _name;

    /// <summary>Wraps a function of (α0, epoch).</summary>
    /// <param name="function">α = f(α0, epoch).</param>
    /// <param name="name">A name for <see cref="Describe"/>; "Custom" when omitted.</param>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is null.</exception>
    public CustomDecay(Func<double, int, double> function, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(function);
        _function = function;
        _name = string.IsNullOrWhiteSpace(name) ? "Custom" : name;
    }

    /// <inheritdoc/>
    public override string Describe() => _name;

    /// <inheritdoc/>
    /// <exception cref="ArgumentOutOfRangeException">A step beyond <see cref="int.MaxValue"/>.</exception>
    protected override double Compute(double initialRate, long t) =>
        t <= int.MaxValue ? _function(initialRate, (int)t) : throw new ArgumentOutOfRangeException(nameof(t), t, $"a custom schedule takes an int epoch; received {t}");
}
