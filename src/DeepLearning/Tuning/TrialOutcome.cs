namespace DeepLearning;

/// <summary>
/// What an objective reports for one trial: the dev-set metric the search ranks by (e.g. dev
/// accuracy, or dev cost J with <see cref="MetricGoal.Minimize"/>), the training-set metric for
/// judging bias and variance, the epochs actually run (after early stopping), and optional extras.
/// The runner measures the seconds itself.
/// </summary>
/// <param name="DevMetric">The dev-set metric; must be finite, or the trial is recorded as failed.</param>
public sealed record TrialOutcome(double DevMetric)
{
    /// <summary>The training-set metric in the same units as <see cref="DevMetric"/>; NaN when not reported.</summary>
    public double TrainMetric { get; init; } = double.NaN;

    /// <summary>Epochs run, e.g. where early stopping stopped; 0 when not reported.</summary>
    public int Epochs { get; init; }

    /// <summary>Further named figures (test accuracy, final cost, …), shown as extra columns.</summary>
    public IReadOnlyDictionary<string, double> Extras { get; init; } = new Dictionary<string, double>();

    /// <summary>
    /// Anything the caller wants back from the trial, typically the trained model, e.g. to ensemble
    /// the top trials without retraining them. Kept in memory only: never written to JSON or CSV,
    /// and every kept artifact stays alive as long as the result does.
    /// </summary>
    public object? Artifact { get; init; }

    /// <summary>The <see cref="Artifact"/> as <typeparamref name="TArtifact"/> (e.g. the trained model), or null if there is none or it has another type.</summary>
    public TArtifact? GetArtifact<TArtifact>()
        where TArtifact : class => Artifact as TArtifact;
}

/// <summary>Whether a larger or a smaller dev metric is better.</summary>
public enum MetricGoal
{
    /// <summary>Larger is better (accuracy, F1).</summary>
    Maximize,

    /// <summary>Smaller is better (cost, error rate).</summary>
    Minimize,
}

/// <summary>How a trial ended.</summary>
public enum TrialStatus
{
    /// <summary>The objective returned a finite dev metric.</summary>
    Succeeded,

    /// <summary>The objective threw, returned null or a non-finite dev metric; see <see cref="TrialResult.Error"/>.</summary>
    Failed,

    /// <summary>The objective was stopped by cancellation or the time budget (it threw <see cref="OperationCanceledException"/>).</summary>
    Cancelled,
}

/// <summary>Why a search stopped.</summary>
public enum StopReason
{
    /// <summary>Every planned trial ran.</summary>
    Completed,

    /// <summary>The wall-clock budget ran out before every planned trial had started or finished.</summary>
    TimeBudget,

    /// <summary>The caller's cancellation token fired.</summary>
    Cancelled,
}

/// <summary>One row of a <see cref="SearchResult"/>: a trial, how it ended, and what it measured.</summary>
public sealed class TrialResult
{
    /// <summary>Creates a row; <paramref name="outcome"/> is required when <paramref name="status"/> is <see cref="TrialStatus.Succeeded"/>.</summary>
    public TrialResult(TrialConfig config, TrialStatus status, TrialOutcome? outcome, double seconds, string? error = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (status == TrialStatus.Succeeded && (outcome is null || !double.IsFinite(outcome.DevMetric)))
        {
            throw new ArgumentException($"a succeeded trial needs an outcome with a finite dev metric; received {outcome?.DevMetric.ToString() ?? "none"}", nameof(outcome));
        }

        if (!(seconds >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(seconds), seconds, $"seconds must be ≥ 0; received {seconds}");
        }

        Config = config;
        Status = status;
        Outcome = outcome;
        Seconds = seconds;
        Error = error;
    }

    /// <summary>The trial that ran.</summary>
    public TrialConfig Config { get; }

    /// <summary>How it ended.</summary>
    public TrialStatus Status { get; }

    /// <summary>What the objective returned; null when it failed or was cancelled without returning.</summary>
    public TrialOutcome? Outcome { get; }

    /// <summary>Wall-clock seconds the objective took.</summary>
    public double Seconds { get; }

    /// <summary>For a failed or cancelled trial: the exception type and message.</summary>
    public string? Error { get; }

    /// <summary>Shortcut for <see cref="TrialConfig.Id"/>.</summary>
    public int Id => Config.Id;

    /// <summary>Shortcut for <see cref="TrialConfig.Round"/>.</summary>
    public int Round => Config.Round;

    /// <summary>True when the trial succeeded.</summary>
    public bool Succeeded => Status == TrialStatus.Succeeded;

    /// <summary>The dev metric; NaN without an outcome.</summary>
    public double DevMetric => Outcome?.DevMetric ?? double.NaN;

    /// <summary>The training metric; NaN without one.</summary>
    public double TrainMetric => Outcome?.TrainMetric ?? double.NaN;

    /// <summary>Epochs run; 0 without an outcome.</summary>
    public int Epochs => Outcome?.Epochs ?? 0;

    /// <inheritdoc/>
    public override string ToString() => Succeeded
        ? $"{Config}: dev {DevMetric:G6}, train {TrainMetric:G6}, {Epochs} epochs, {Seconds:F2} s"
        : $"{Config}: {Status.ToString().ToLowerInvariant()} — {Error}";
}
