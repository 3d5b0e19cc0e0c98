namespace DeepLearning;

/// <summary>
/// The course's learning-rate decay schedules, as pure functions of α0 and the epoch (from 0).
/// <code>
/// var decay = LearningRateDecay.InverseTime(decayRate: 1);  // α0 = 0.2: 0.2, 0.1, 0.0667, 0.05, ...
/// double alpha = decay.Rate(0.2, epoch);
/// </code>
/// </summary>
public static class LearningRateDecay
{
    /// <summary>No decay: α = α0.</summary>
    /// <returns>The schedule.</returns>
    public static LearningRateSchedule Constant() => new ConstantRate();

    /// <summary>
    /// α = α0 / (1 + decayRate·⌊epoch/timeInterval⌋). With the default interval 1 this is the
    /// course's α0 / (1 + decayRate·epoch); a longer interval is its "scheduled" decay that lowers α
    /// only every <paramref name="timeInterval"/> epochs.
    /// </summary>
    /// <param name="decayRate">decayRate ≥ 0.</param>
    /// <param name="timeInterval">Epochs per decay step, ≥ 1.</param>
    /// <returns>The schedule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public static LearningRateSchedule InverseTime(double decayRate, int timeInterval = 1) => new InverseTimeDecay(decayRate, timeInterval);

    /// <summary>α = α0·base^epoch.</summary>
    /// <param name="decayBase">The base in (0, 1], 0.95 by default.</param>
    /// <returns>The schedule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The base is outside (0, 1].</exception>
    public static LearningRateSchedule Exponential(double decayBase = 0.95) => new ExponentialDecay(decayBase);

    /// <summary>α = α0·k/√epoch, with epoch 0 treated as epoch 1 (so the first two epochs train at α0·k).</summary>
    /// <param name="k">k &gt; 0.</param>
    /// <returns>The schedule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">k is not positive and finite.</exception>
    public static LearningRateSchedule InverseSqrt(double k) => new InverseSqrtDecay(k);

    /// <summary>Discrete drops: α = α0·factor^⌊epoch/dropEvery⌋.</summary>
    /// <param name="dropEvery">Epochs between drops, ≥ 1.</param>
    /// <param name="factor">Multiplier per drop in (0, 1].</param>
    /// <returns>The schedule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public static LearningRateSchedule Staircase(int dropEvery, double factor) => new StaircaseDecay(dropEvery, factor);

    /// <summary>The user's own function α = f(α0, epoch) (the course's manual decay).</summary>
    /// <param name="function">The function; should be pure and return a positive, finite rate.</param>
    /// <param name="name">A name for descriptions.</param>
    /// <returns>The schedule.</returns>
    public static LearningRateSchedule Custom(Func<double, int, double> function, string? name = null) => new CustomDecay(function, name);
}
