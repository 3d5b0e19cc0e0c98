using System.Globalization;

namespace DeepLearning;

/// <summary>
/// Learning-rate decay as a pure function: α = f(α0, epoch). Nothing is stored between calls, so
/// the same arguments always give the same rate and a schedule can be shared between runs.
/// </summary>
/// <remarks>
/// <para>
/// Epochs count from 0: the first epoch is epoch 0 and, for every built-in schedule but
/// <see cref="InverseSqrtDecay"/>, trains at α0 itself (as the course's <c>update_lr(learning_rate0, epoch_num, decay_rate)</c> does
/// with <c>epoch_num</c> starting at 0).
/// </para>
/// <para>
/// In PyTorch's terms, <c>Fit</c> calls <c>scheduler.step()</c> once after each epoch: <see cref="ExponentialDecay"/> is
/// <c>ExponentialLR(gamma=base)</c>, <see cref="StaircaseDecay"/> is <c>StepLR(step_size=dropEvery, gamma=factor)</c>, and
/// <see cref="InverseTimeDecay"/> and <see cref="InverseSqrtDecay"/> are <c>LambdaLR</c> with their formulas (tested
/// epoch by epoch in <c>Schedules/LearningRateDecayTorchTests</c>).
/// </para>
/// <para>
/// To decay per update step instead (Keras style), call <see cref="RateAtStep(double, long)"/> with the
/// step count; the formulas are the same with the step in place of the epoch, so pick the decay rate
/// or interval for steps.
/// </para>
/// </remarks>
public abstract class LearningRateSchedule
{
    /// <summary>The learning rate for an epoch.</summary>
    /// <param name="initialRate">α0 &gt; 0.</param>
    /// <param name="epoch">The epoch, from 0.</param>
    /// <returns>α for that epoch, positive and finite.</returns>
    /// <exception cref="ArgumentOutOfRangeException">α0 is not positive and finite, or the epoch is negative.</exception>
    /// <exception cref="InvalidOperationException">The schedule produced a rate that is not positive and finite.</exception>
    public double Rate(double initialRate, int epoch) => Checked(initialRate, epoch, nameof(epoch));

    /// <summary>The learning rate for an update step (Keras-style per-step decay).</summary>
    /// <param name="initialRate">α0 &gt; 0.</param>
    /// <param name="step">The update step, from 0.</param>
    /// <returns>α for that step, positive and finite.</returns>
    /// <exception cref="ArgumentOutOfRangeException">α0 is not positive and finite, or the step is negative.</exception>
    /// <exception cref="InvalidOperationException">The schedule produced a rate that is not positive and finite.</exception>
    public double RateAtStep(double initialRate, long step) => Checked(initialRate, step, nameof(step));

    /// <summary>The schedule and its settings, e.g. "InverseTime(decayRate=1)".</summary>
    public abstract string Describe();

    /// <inheritdoc/>
    public override string ToString() => Describe();

    /// <summary>The formula: α as a function of α0 and the time t (an epoch or a step), t ≥ 0, α0 &gt; 0 already checked.</summary>
    /// <param name="initialRate">α0.</param>
    /// <param name="t">The epoch or step.</param>
    /// <returns>α.</returns>
    protected abstract double Compute(double initialRate, long t);

    /// <summary>Formats a setting the same way everywhere: invariant culture, shortest round-trip.</summary>
    /// <param name="value">The value.</param>
    /// <returns>The text.</returns>
    protected static string Format(double value) =>
        value.ToString("G", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);

    private double Checked(double initialRate, long t, string name)
    {
        if (!(initialRate > 0) || !double.IsFinite(initialRate))
        {
            throw new ArgumentOutOfRangeException(nameof(initialRate), initialRate, $"initialRate must be positive and finite; received {Format(initialRate)}");
        }

        if (t < 0)
        {
            throw new ArgumentOutOfRangeException(name, t, $"{name} must be non-negative; received {t}");
        }

        double rate = Compute(initialRate, t);
        if (!(rate > 0) || !double.IsFinite(rate))
        {
            throw new InvalidOperationException($"{Describe()} gave learning rate {Format(rate)} at {name} {t} (α0 = {Format(initialRate)}); a learning rate must be positive and finite");
        }

        return rate;
    }
}
