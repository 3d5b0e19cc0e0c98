namespace DeepLearning;

/// <summary>
/// How a search runs: its seed, how many trials, on how many threads, within what budget, and
/// whether the dev metric is maximized or minimized.
/// </summary>
public sealed record SearchOptions
{
    /// <summary>The search seed. Trial k's hyperparameters and model seed depend only on it and k.</summary>
    public ulong Seed { get; init; }

    /// <summary>Random trials per round (random search has one round). Default 20.</summary>
    public int Trials { get; init; } = 20;

    /// <summary>Coarse-to-fine rounds; round 0 samples the whole space. Default 2.</summary>
    public int Rounds { get; init; } = 2;

    /// <summary>Coarse-to-fine: how many of the best trials so far the next round's ranges are shrunk around. Default 5.</summary>
    public int TopK { get; init; } = 5;

    /// <summary>Coarse-to-fine: the margin kept on each side of the best values, as a fraction of the current width in the dimension's scale; in (0, 1]. Default 0.1.</summary>
    public double Padding { get; init; } = 0.1;

    /// <summary>
    /// Worker threads running trials side by side ("caviar"). Default <see cref="Environment.ProcessorCount"/>.
    /// Results do not depend on it.
    /// </summary>
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Wall-clock budget for the whole search, or null for none; positive. When it runs out no further trial
    /// starts and the token passed to running trials is cancelled. A budget longer than a timer can wait,
    /// 4,294,967,294 ms (about 49.7 days), <see cref="TimeSpan.MaxValue"/> included, sets no timer: the search runs
    /// as if it had no budget.
    /// </summary>
    public TimeSpan? TimeBudget { get; init; }

    // The longest delay CancellationTokenSource.CancelAfter takes (uint.MaxValue − 1 ms); a longer budget sets no timer.
    internal static readonly TimeSpan MaxTimedBudget = TimeSpan.FromMilliseconds(uint.MaxValue - 1.0);

    /// <summary>
    /// Whether a larger (default: an accuracy, as scikit-learn's scores) or smaller dev metric is better. An objective
    /// that returns a cost or a loss (<c>Evaluate(dev).Cost</c>, an RMSE) needs <see cref="MetricGoal.Minimize"/>, or the
    /// search ranks its worst trial first (Optuna's default direction is minimize; this one's is not).
    /// </summary>
    public MetricGoal Goal { get; init; } = MetricGoal.Maximize;

    /// <summary>
    /// Called after each trial ends, for progress output. Calls are serialized (never two at once)
    /// but come from worker threads, in completion order.
    /// </summary>
    public Action<TrialResult>? OnTrialCompleted { get; init; }

    internal void Validate()
    {
        if (Trials < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Trials), Trials, $"Trials must be at least 1; received {Trials}");
        }

        if (Rounds < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Rounds), Rounds, $"Rounds must be at least 1; received {Rounds}");
        }

        if (TopK < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(TopK), TopK, $"TopK must be at least 1; received {TopK}");
        }

        Dimension.ValidatePadding(Padding);
        if (MaxDegreeOfParallelism < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxDegreeOfParallelism), MaxDegreeOfParallelism, $"MaxDegreeOfParallelism must be at least 1; received {MaxDegreeOfParallelism}");
        }

        if (TimeBudget is { } b && b <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(TimeBudget), b, $"TimeBudget must be positive; received {b}");
        }

        if (!Enum.IsDefined(Goal))
        {
            throw new ArgumentOutOfRangeException(nameof(Goal), Goal, $"Goal must be Maximize or Minimize; received {Goal}");
        }
    }
}
