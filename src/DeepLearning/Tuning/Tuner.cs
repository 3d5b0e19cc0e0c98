using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace DeepLearning;

/// <summary>
/// Runs hyperparameter searches: random search (the course's advice: random values, not a grid),
/// grid search for comparison, and coarse-to-fine random search. Trials are independent and seeded,
/// and run side by side on <see cref="SearchOptions.MaxDegreeOfParallelism"/> threads ("caviar");
/// the results table is the same for any thread count.
/// </summary>
/// <remarks>
/// The objective builds and trains a model from <see cref="TrialConfig"/> (using
/// <see cref="TrialConfig.Seed"/> for every random choice, and honouring the token, e.g. by
/// stopping early) and returns its dev metric. It runs on several threads at once, so it must
/// not share mutable state between trials. An exception from it fails that trial only.
/// </remarks>
public static partial class Tuner
{
    internal const ulong SamplingStream = 0x5A3C_E9B1_0D24_7F61UL;
    private const ulong ModelStream = 0x1B87_3593_6C2E_A4D5UL;

    /// <summary>
    /// The model seed of trial <paramref name="trialId"/> in a search seeded <paramref name="searchSeed"/>:
    /// a SplitMix64 hash of the two, independent of the thread or order in which trials run.
    /// </summary>
    public static ulong TrialSeed(ulong searchSeed, int trialId) => Derive(searchSeed, trialId, ModelStream);

    internal static ulong Derive(ulong seed, int id, ulong stream)
    {
        ulong x = Mix(seed ^ stream);
        return Mix(x + ((ulong)(uint)id * 0x9E37_79B9_7F4A_7C15UL));
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E37_79B9_7F4A_7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// Random search: <see cref="SearchOptions.Trials"/> trials sampled from <paramref name="space"/>
    /// (each dimension on its own scale), run in parallel. Each trial is sampled when it starts, so a
    /// <see cref="SearchOptions.TimeBudget"/> bounds the search however large <see cref="SearchOptions.Trials"/> is
    /// (the trials not started are counted in <see cref="SearchResult.SkippedTrials"/>).
    /// </summary>
    public static SearchResult RandomSearch(
        SearchSpace space,
        Func<TrialConfig, CancellationToken, TrialOutcome> objective,
        SearchOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(objective);
        options ??= new SearchOptions();
        options.Validate();
        _ = space.Sample(options.Seed, 0); // an empty space is refused here, on the caller's thread, not by a worker

        var clock = Stopwatch.StartNew();
        var (results, stop, skipped) = RunTrials(options.Trials, id => space.Sample(options.Seed, id), objective, options, clock, cancellationToken);
        return new SearchResult(results, options.Goal, stop, clock.Elapsed, skipped);
    }

    /// <summary>
    /// Grid search over <paramref name="pointsPerDimension"/> points per dimension, in each
    /// dimension's own scale (<see cref="SearchSpace.GridTrials"/>). <see cref="SearchOptions.Trials"/> is ignored.
    /// </summary>
    public static SearchResult GridSearch(
        SearchSpace space,
        int pointsPerDimension,
        Func<TrialConfig, CancellationToken, TrialOutcome> objective,
        SearchOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(space);
        options ??= new SearchOptions();
        options.Validate();
        return Run(space.GridTrials(pointsPerDimension, options.Seed), objective, options, cancellationToken);
    }

    /// <summary>
    /// Coarse-to-fine random search: round 0 samples <see cref="SearchOptions.Trials"/> trials from
    /// the whole space; each later round samples as many from the space shrunk around the
    /// <see cref="SearchOptions.TopK"/> best trials so far (<see cref="SearchSpace.ShrinkAround"/>),
    /// for <see cref="SearchOptions.Rounds"/> rounds. Trial ids run on across rounds. Each trial is sampled when it
    /// starts, so a <see cref="SearchOptions.TimeBudget"/> bounds the search however large the rounds are.
    /// </summary>
    /// <param name="space">The coarse space.</param>
    /// <param name="objective">Trains and evaluates one trial.</param>
    /// <param name="options">Seed, trials per round, rounds, top-K, padding, threads, budget and goal.</param>
    /// <param name="cancellationToken">Stops the search; the trials finished so far are returned.</param>
    /// <param name="spaces">Receives the space of each round, for reporting (optional).</param>
    /// <exception cref="ArgumentOutOfRangeException">
    /// An option is out of range, or <see cref="SearchOptions.Rounds"/> × <see cref="SearchOptions.Trials"/> exceeds
    /// <see cref="int.MaxValue"/> (trial ids are ints).
    /// </exception>
    public static SearchResult CoarseToFine(
        SearchSpace space,
        Func<TrialConfig, CancellationToken, TrialOutcome> objective,
        SearchOptions? options = null,
        CancellationToken cancellationToken = default,
        IList<SearchSpace>? spaces = null)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(objective);
        options ??= new SearchOptions();
        options.Validate();
        if ((long)options.Rounds * options.Trials > int.MaxValue)
        {
            // Round r's ids are r·Trials … r·Trials + Trials − 1, ints: the product overflowed into negative ids.
            throw new ArgumentOutOfRangeException(nameof(options), string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"Rounds × Trials must be at most {int.MaxValue} (trial ids are ints); received Rounds = {options.Rounds} × Trials = {options.Trials} = {(long)options.Rounds * options.Trials}"));
        }

        _ = space.Sample(options.Seed, 0); // an empty space is refused here, on the caller's thread, not by a worker
        var clock = Stopwatch.StartNew();
        var all = new List<TrialResult>();
        var current = space;
        var stop = StopReason.Completed;
        int skipped = 0;
        for (int round = 0; round < options.Rounds; round++)
        {
            if (round > 0)
            {
                var best = SearchResult.Rank(all, options.Goal).Where(r => r.Succeeded).Take(options.TopK).Select(r => r.Config).ToList();
                if (best.Count > 0)
                {
                    current = current.ShrinkAround(best, options.Padding);
                }
            }

            spaces?.Add(current);
            if (stop != StopReason.Completed)
            {
                skipped += options.Trials;
                continue;
            }

            // Sampled as each trial starts: sampling every trial first took as long as the search (2^31 − 1 trials).
            var roundSpace = current;
            int firstId = round * options.Trials, roundNumber = round;
            var (results, roundStop, roundSkipped) = RunTrials(options.Trials, k => roundSpace.Sample(options.Seed, firstId + k, roundNumber), objective, options, clock, cancellationToken);
            all.AddRange(results);
            stop = roundStop;
            skipped += roundSkipped;
        }

        return new SearchResult(all, options.Goal, stop, clock.Elapsed, skipped);
    }

    /// <summary>
    /// Runs the given trials (sampled here or elsewhere, e.g. read with <see cref="TrialConfig.ListFromJson"/>)
    /// on <see cref="SearchOptions.MaxDegreeOfParallelism"/> threads within the budget.
    /// </summary>
    /// <param name="trials">The trials to run, in the order they should start.</param>
    /// <param name="objective">Trains and evaluates one trial.</param>
    /// <param name="options">Threads, budget, goal and progress callback (sampling settings are ignored).</param>
    /// <param name="cancellationToken">Stops the search; the trials finished so far are returned and running ones are recorded as cancelled.</param>
    public static SearchResult Run(
        IReadOnlyList<TrialConfig> trials,
        Func<TrialConfig, CancellationToken, TrialOutcome> objective,
        SearchOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trials);
        ArgumentNullException.ThrowIfNull(objective);
        options ??= new SearchOptions();
        options.Validate();
        for (int i = 0; i < trials.Count; i++)
        {
            if (trials[i] is null)
            {
                throw new ArgumentException($"trial {i} of {trials.Count} is null", nameof(trials));
            }
        }

        var clock = Stopwatch.StartNew();
        var (results, stop, skipped) = RunTrials(trials.Count, i => trials[i], objective, options, clock, cancellationToken);
        return new SearchResult(results, options.Goal, stop, clock.Elapsed, skipped);
    }

    // Runs trials 0 … n − 1 of trialAt, each built when a worker takes it (never all up front: n may be 2^31 − 1 with a
    // budget of a millisecond). The results come back in trial order, whatever order they finished in.
    private static (List<TrialResult> Results, StopReason Stop, int Skipped) RunTrials(
        int n,
        Func<int, TrialConfig> trialAt,
        Func<TrialConfig, CancellationToken, TrialOutcome> objective,
        SearchOptions options,
        Stopwatch clock,
        CancellationToken cancellationToken)
    {
        var finished = new List<(int Index, TrialResult Result)>();
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (options.TimeBudget is { } limit)
        {
            var remaining = limit - clock.Elapsed;
            if (remaining <= TimeSpan.Zero)
            {
                budget.Cancel();
            }
            else if (remaining <= SearchOptions.MaxTimedBudget)
            {
                budget.CancelAfter(remaining);
            }

            // Longer than a timer takes (CancelAfter threw for it): no timer, the search runs as without a budget.
        }

        var token = budget.Token;
        var callbackLock = new object();
        ExceptionDispatchInfo? callbackError = null;
        long next = -1; // a long: one increment per worker past n must not wrap around when n is int.MaxValue

        void Work()
        {
            while (!token.IsCancellationRequested)
            {
                long i = Interlocked.Increment(ref next);
                if (i >= n)
                {
                    return;
                }

                TrialConfig config;
                try
                {
                    config = trialAt((int)i);
                }
                catch (Exception e)
                {
                    // Not the objective's failure but the caller's (sampling): rethrown on the caller's thread.
                    lock (callbackLock)
                    {
                        callbackError ??= ExceptionDispatchInfo.Capture(e);
                    }

                    budget.Cancel();
                    return;
                }

                var result = RunOne(config, objective, token);
                lock (finished)
                {
                    finished.Add(((int)i, result));
                }

                if (options.OnTrialCompleted is { } report)
                {
                    lock (callbackLock)
                    {
                        if (callbackError is not null)
                        {
                            continue;
                        }

                        try
                        {
                            report(result);
                        }
                        catch (Exception e)
                        {
                            callbackError = ExceptionDispatchInfo.Capture(e);
                            budget.Cancel();
                        }
                    }
                }
            }
        }

        int workers = Math.Min(options.MaxDegreeOfParallelism, n);
        var threads = new Thread[Math.Max(0, workers - 1)];
        for (int t = 0; t < threads.Length; t++)
        {
            threads[t] = new Thread(Work) { IsBackground = true, Name = $"trial worker {t + 1}" };
            threads[t].Start();
        }

        Work();
        foreach (var thread in threads)
        {
            thread.Join();
        }

        callbackError?.Throw();

        finished.Sort((a, b) => a.Index.CompareTo(b.Index));
        var results = finished.ConvertAll(f => f.Result);
        int skipped = n - results.Count;
        bool interrupted = skipped > 0 || results.Exists(r => r.Status == TrialStatus.Cancelled);
        var stop = !interrupted ? StopReason.Completed
            : cancellationToken.IsCancellationRequested ? StopReason.Cancelled
            : StopReason.TimeBudget;
        return (results, stop, skipped);
    }

    private static TrialResult RunOne(TrialConfig config, Func<TrialConfig, CancellationToken, TrialOutcome> objective, CancellationToken token)
    {
        var watch = Stopwatch.StartNew();
        try
        {
            var outcome = objective(config, token);
            double seconds = watch.Elapsed.TotalSeconds;
            if (outcome is null)
            {
                return new TrialResult(config, TrialStatus.Failed, null, seconds, "the objective returned null");
            }

            if (!double.IsFinite(outcome.DevMetric))
            {
                return new TrialResult(config, TrialStatus.Failed, outcome, seconds, $"the objective returned a non-finite dev metric ({outcome.DevMetric})");
            }

            return new TrialResult(config, TrialStatus.Succeeded, outcome, seconds);
        }
        catch (OperationCanceledException e) when (token.IsCancellationRequested)
        {
            return new TrialResult(config, TrialStatus.Cancelled, null, watch.Elapsed.TotalSeconds, ErrorText(e));
        }
        catch (Exception e)
        {
            return new TrialResult(config, TrialStatus.Failed, null, watch.Elapsed.TotalSeconds, ErrorText(e));
        }
    }

    // The exception as a trial's error: its type and message, cleaned as every study storage records it
    // (StudyNames.CleanError: no NUL or lone surrogate, at most MaxErrorLength characters), so that a one-process search
    // and a shared study report the same text, and a message PostgreSQL cannot store does not lose the trial's result.
    private static string ErrorText(Exception e) => StudyNames.CleanError($"{e.GetType().Name}: {e.Message}")!;
}
