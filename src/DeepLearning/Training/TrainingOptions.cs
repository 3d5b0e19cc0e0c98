using System.Numerics;

namespace DeepLearning;

/// <summary>
/// Everything <see cref="Trainer.Fit{T}"/> needs besides the model and the training data. Callbacks may change
/// these between epochs (the course's "panda" approach: babysit one model and adjust as it trains).
/// </summary>
/// <typeparam name="T">The element type of the model and data.</typeparam>
public sealed class TrainingOptions<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The update rule; Adam(α = 0.001, β1 = 0.9, β2 = 0.999, ε = 1e-8) by default. Its learning rate is α0.</summary>
    public Optimizer Optimizer { get; set; } = new Adam();

    /// <summary>Learning-rate decay applied at the start of every epoch: α = Decay.Rate(α0, epoch), epoch counted from 0. Null keeps α fixed.</summary>
    public LearningRateSchedule? Decay { get; set; }

    /// <summary>The weight penalty (L2 or L1) included in the cost and gradients; null leaves the model's own setting.</summary>
    public Regularizer? Regularization { get; set; }

    /// <summary>The number of passes over the training data (≥ 1); 10 by default.</summary>
    public int Epochs { get; set; } = 10;

    /// <summary>Mini-batch size: m (or 0) is batch gradient descent, 1 is stochastic gradient descent; the course suggests powers of two such as 64–512. 64 by default.</summary>
    public int BatchSize { get; set; } = 64;

    /// <summary>Whether to reshuffle the training examples every epoch (the course's random_mini_batches). True by default.</summary>
    public bool Shuffle { get; set; } = true;

    /// <summary>Seed for the shuffles; by default the model's seed. (A search trial can pass its <c>TrialConfig.Seed</c> directly.)</summary>
    public ulong? Seed { get; set; }

    /// <summary>An optional dev set of raw data evaluated at the end of every epoch (cost and metric, inference mode); null by default.</summary>
    public IDataSource<T>? Validation { get; set; }

    /// <summary>Callbacks run at the end of each epoch, in order (early stopping, checkpoints, hyperparameter changes).</summary>
    public IList<ITrainingCallback> Callbacks { get; } = new List<ITrainingCallback>();

    /// <summary>
    /// Receives a report after every epoch, and after every mini-batch when <see cref="ReportBatches"/> is set; called
    /// synchronously on the training thread. Null by default (see <see cref="Verbose"/>).
    /// </summary>
    public IProgress<TrainingProgress>? Progress { get; set; }

    /// <summary>
    /// Print progress to the console without writing code: when no <see cref="Progress"/> is set, the fit loop uses a
    /// <see cref="ConsoleProgress"/> (a live line on a terminal, one line per epoch when output is redirected). False by default.
    /// </summary>
    public bool Verbose { get; set; }

    /// <summary>Whether <see cref="Progress"/> also hears about each mini-batch. False by default.</summary>
    public bool ReportBatches { get; set; }

    /// <summary>Record every mini-batch cost in <see cref="History.IterationCosts"/> (the course's per-iteration plot). True by default.</summary>
    public bool RecordIterations { get; set; } = true;

    /// <summary>
    /// Stop with a <see cref="TrainingDivergedException"/> when a mini-batch cost is NaN or ±∞, restoring the weights
    /// from the start of that epoch (the last ones known to give finite costs). True by default.
    /// </summary>
    public bool DivergenceGuard { get; set; } = true;
}

/// <summary>A progress report from the fit loop.</summary>
/// <param name="Epoch">The epoch, from 1.</param>
/// <param name="Epochs">The number of epochs planned.</param>
/// <param name="Batch">The mini-batch within the epoch, from 1 (equal to <paramref name="BatchesPerEpoch"/> in the end-of-epoch report).</param>
/// <param name="BatchesPerEpoch">Mini-batches per epoch, or −1 if the source's size is unknown.</param>
/// <param name="Cost">The latest mini-batch cost, or the epoch's cost in the end-of-epoch report.</param>
/// <param name="Record">The epoch's record in the end-of-epoch report; null for mini-batch reports.</param>
public readonly record struct TrainingProgress(int Epoch, int Epochs, int Batch, int BatchesPerEpoch, double Cost, EpochRecord? Record);

/// <summary>Training stopped because the cost became NaN or infinite.</summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The history up to the last completed epoch.</summary>
    public History? History { get; init; }
}
