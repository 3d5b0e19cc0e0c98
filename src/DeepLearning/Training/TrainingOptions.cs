using System.Numerics;

namespace DeepLearning;

/// <summary>
/// Everything <see cref="Trainer.Fit{T}"/> needs besides the model and the training data. Callbacks may change
/// these between epochs (the course's "panda" approach: babysit one model and adjust as it trains).
/// One Fit at a time may use an options object (and its optimizer): reuse it for one run after another, but give runs
/// that train at once (the trials of a parallel search) their own; a second concurrent Fit is refused.
/// </summary>
/// <typeparam name="T">The element type of the model and data.</typeparam>
public sealed class TrainingOptions<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// The update rule; Adam(α = 0.001, β1 = 0.9, β2 = 0.999, ε = 1e-8) by default. Its learning rate is α0: Fit steps with
    /// the decayed rate during the run and sets LearningRate back to α0 when it ends, so these options can be reused.
    /// Its state (t, v, s) continues when the same model is fitted again; for another model it is reset first. A callback
    /// may change its LearningRate between epochs but not replace it during a Fit (that Fit throws an
    /// <see cref="InvalidOperationException"/> at the end of the epoch, before a checkpoint is written).
    /// </summary>
    public Optimizer Optimizer { get; set; } = new Adam();

    /// <summary>
    /// Learning-rate decay applied at the start of every epoch: α = Decay.Rate(α0, epoch), epoch counted from 0 in every
    /// Fit (a resumed run continues from its checkpoint's epoch), α0 being <see cref="Optimizer"/>'s LearningRate. Null keeps α fixed.
    /// </summary>
    public LearningRateSchedule? Decay { get; set; }

    /// <summary>
    /// The weight penalty (L2 or L1) included in the cost and gradients; null leaves the model's own setting. A callback
    /// may set another one between epochs (e.g. to anneal λ): it applies from the next epoch and stays the model's
    /// <see cref="Model{T}.Regularizer"/> afterwards.
    /// </summary>
    public Regularizer? Regularization { get; set; }

    /// <summary>
    /// Per-class weights of the training cost for imbalanced classes (Keras's <c>class_weight</c>, PyTorch's
    /// <c>CrossEntropyLoss(weight=w)</c>); null (every class weighs 1) by default. One weight wⱼ ≥ 0 per class, indexed by
    /// label: C for a softmax output, 2 (w₀ for y = 0, w₁ for y = 1) for a single sigmoid output. Each training row's
    /// cross-entropy is weighted by its targets: Lᵢ = −Σⱼ wⱼ·yⱼ⁽ⁱ⁾·log ŷⱼ⁽ⁱ⁾ (softmax; a one-hot row weighs w of its class),
    /// Lᵢ = −[w₁·y·log ŷ + w₀·(1 − y)·log(1 − ŷ)] (sigmoid), and J = (1/m)·Σᵢ Lᵢ + the weight penalty, so dZ = (ŷⱼ·Σₖ wₖ·yₖ −
    /// wⱼ·yⱼ)/m. The mean is over the m rows of the mini-batch, as Keras and PyTorch's probability targets divide; PyTorch
    /// with class-index targets divides by Σᵢ w of each row's class instead, which differs by a factor per mini-batch (the
    /// same direction, another step size). For soft (or smoothed) targets a row weighs Σⱼ wⱼ·yⱼ, PyTorch's rule; Keras
    /// weighs a row by the weight of its argmax class instead (the same for one-hot rows).
    /// <see cref="DataSet{T}.BalancedClassWeights"/> gives scikit-learn's
    /// <c>class_weight="balanced"</c>, m/(C·count of the class).
    /// <para>
    /// Only training is weighted: the training cost in the history is the weighted J (as Keras reports), while the dev cost,
    /// <see cref="Model{T}.Evaluate(Tensor{T}, Tensor{T})"/> and every metric are unweighted. Fit reads the weights at the start
    /// of every epoch (a callback may change them; they round to the model's element type) and a checkpoint records
    /// the ones the next epoch uses: a resume with others is refused. Setting copies the values.
    /// </para>
    /// </summary>
    /// <exception cref="ArgumentException">Set to weights that are empty, negative, NaN, ±∞ or all 0.</exception>
    /// <remarks>
    /// <see cref="Trainer.Fit{T}"/> refuses weights for a regression, a multi-label sigmoid output, a <see cref="CustomLoss"/>,
    /// or of another count than the model's classes (<see cref="Model{T}.ClassCount"/>), and a weight the element type
    /// rounds to ∞, naming the weight.
    /// </remarks>
    public IReadOnlyList<double>? ClassWeights
    {
        get => _classWeights;
        set
        {
            if (value is null)
            {
                _classWeights = null;
                return;
            }

            var copy = value.ToArray();
            if (copy.Length == 0)
            {
                throw new ArgumentException("ClassWeights is empty: give one weight per class, or null for none", nameof(value));
            }

            for (int j = 0; j < copy.Length; j++)
            {
                if (!(copy[j] >= 0) || !double.IsFinite(copy[j]))
                {
                    throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"ClassWeights[{j}] = {copy[j]:R}: each class weight must be finite and ≥ 0"), nameof(value));
                }
            }

            if (Array.TrueForAll(copy, w => w == 0))
            {
                throw new ArgumentException("ClassWeights are all 0, which would train nothing: give at least one class a weight > 0", nameof(value));
            }

            _classWeights = Array.AsReadOnly(copy);
        }
    }

    private System.Collections.ObjectModel.ReadOnlyCollection<double>? _classWeights;

    /// <summary>
    /// Label smoothing ε in [0, 1], 0 (none) by default: each training target is replaced by y′ = (1 − ε)·y + ε/C for a
    /// softmax output (PyTorch's <c>CrossEntropyLoss(label_smoothing=ε)</c>, Keras's
    /// <c>CategoricalCrossentropy(label_smoothing=ε)</c>) and by (1 − ε)·y + ε/2 for sigmoid outputs (Keras's
    /// <c>BinaryCrossentropy(label_smoothing=ε)</c>), so the network is not pushed towards infinite logits. With
    /// <see cref="ClassWeights"/> the smoothed targets are weighted (as PyTorch does with both). Only training is smoothed:
    /// the training cost in the history is the smoothed one, the dev cost, <c>Evaluate</c> and the metrics use Y as given.
    /// A checkpoint records it and a resume with another value is refused; a callback may change it between epochs.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value outside [0, 1] or NaN.</exception>
    /// <remarks><see cref="Trainer.Fit{T}"/> refuses ε &gt; 0 for a regression or a <see cref="CustomLoss"/>.</remarks>
    public double LabelSmoothing
    {
        get => _labelSmoothing;
        set
        {
            if (!(value >= 0 && value <= 1))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, $"LabelSmoothing must be in [0, 1]; received {value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}");
            }

            _labelSmoothing = value;
        }
    }

    private double _labelSmoothing;

    /// <summary>
    /// Clip the gradients of every step to a global L2 norm of at most this value before the optimizer uses them (PyTorch's
    /// <c>clip_grad_norm_(model.parameters(), max_norm)</c>, Keras's <c>global_clipnorm</c>): each gradient is multiplied
    /// by min(1, max / (‖g‖ + 1e-6)), ‖g‖ over all parameters together (see <see cref="GradientClipping.ClipByNorm{T}"/>),
    /// the weight penalty's term included. Null (no clipping) by default. A remedy for exploding gradients that keeps
    /// each step's direction. A checkpoint records it and a resume with another value is refused; a callback may change
    /// it between epochs.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value that is not finite and &gt; 0.</exception>
    public double? GradientClipNorm
    {
        get => _gradientClipNorm;
        set => _gradientClipNorm = GradientClipping.CheckLimit(value, nameof(GradientClipNorm));
    }

    private double? _gradientClipNorm;

    /// <summary>
    /// Clamp every element of every step's gradients to [−value, value] before the optimizer uses them (PyTorch's
    /// <c>clip_grad_value_</c>, Keras's <c>clipvalue</c>), after <see cref="GradientClipNorm"/> when both are set (Keras's
    /// order). Null (no clipping) by default. Unlike the norm, it can change the step's direction, and it turns an infinite
    /// gradient into ±value (as PyTorch's does), so a diverging step is clamped rather than caught by the divergence
    /// guard. A checkpoint records it and a resume with another value is refused; a callback may change it between epochs.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value that is not finite and &gt; 0.</exception>
    public double? GradientClipValue
    {
        get => _gradientClipValue;
        set => _gradientClipValue = GradientClipping.CheckLimit(value, nameof(GradientClipValue));
    }

    private double? _gradientClipValue;

    /// <summary>The number of passes over the training data (≥ 1); 10 by default.</summary>
    public int Epochs { get; set; } = 10;

    /// <summary>
    /// Mini-batch size: m (or 0) is batch gradient descent, 1 is stochastic gradient descent; the course suggests powers of
    /// two such as 64–512. 64 by default. With a <see cref="BatchNorm{T}"/> layer in the model it must be at least 2 (the
    /// batch variance of one row is 0: Fit refuses 1 before training), and the last mini-batch of an epoch is skipped when
    /// it would hold one row (m mod BatchSize = 1), like PyTorch's <c>drop_last</c> but only in that case. Every layer keeps
    /// its activations for a mini-batch in one tensor, so rows × the widest layer's units may be at most
    /// <see cref="Tensor.MaxLength"/>: Fit refuses a larger mini-batch before training, naming the layer.
    /// </summary>
    public int BatchSize { get; set; } = 64;

    /// <summary>Whether to reshuffle the training examples every epoch (the course's random_mini_batches). True by default.</summary>
    public bool Shuffle { get; set; } = true;

    /// <summary>
    /// Seed for the shuffles; by default the model's seed. (A search trial can pass its <c>TrialConfig.Seed</c> directly.)
    /// A model keeps one stream of shuffles per seed: a later Fit of the same model with the same seed continues it, so
    /// two Fits of 1 epoch see the orders of one Fit of 2 epochs (with a constant learning rate they give the same
    /// weights), and the same program run again gives the same orders. A new seed starts a new stream.
    /// </summary>
    public ulong? Seed { get; set; }

    /// <summary>An optional dev set of raw data evaluated at the end of every epoch (cost and metric, inference mode); null by default.</summary>
    public IDataSource<T>? Validation { get; set; }

    /// <summary>
    /// The fraction of the training examples Fit holds out as the dev set, in [0, 1); 0 (none) by default. Keras's
    /// <c>validation_split</c> and scikit-learn's <c>validation_fraction</c>: m_dev = ⌈m·fraction⌉ rows (scikit-learn's
    /// count) are drawn at random with the shuffle seed (<see cref="Seed"/>, else the model's), stratified by class for a
    /// single-label classifier (by the class each row of Y gives when the data has no labels, as from Fit(x, y)), as
    /// scikit-learn does (Keras takes the last rows, unshuffled), and are not trained on; they are
    /// the dev set of every epoch, as <see cref="Validation"/> would be. The same data, seed and fraction give the same
    /// rows, so a resume holds out the same ones (a checkpoint records the fraction and a resume with another is
    /// refused). Needs an in-memory <see cref="DataSet{T}"/> (split a streamed or augmented source yourself, e.g. with
    /// <see cref="DataSet{T}.Split"/>) and <see cref="Validation"/> null; both parts must keep at least one row. Fit copies
    /// the rows into the two parts, so the data is held twice while it runs (split once yourself to avoid that).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is NaN, negative, or 1 or more.</exception>
    public double ValidationSplit
    {
        get => _validationSplit;
        set
        {
            if (!(value >= 0 && value < 1))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, $"ValidationSplit must be in [0, 1); received {value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}");
            }

            _validationSplit = value;
        }
    }

    private double _validationSplit;

    /// <summary>
    /// Callbacks run at the end of each epoch, in order (early stopping, checkpoints, hyperparameter changes). Fit reads
    /// the list when it starts: a callback that adds to or removes from it changes the next Fit, not the running one.
    /// </summary>
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

    /// <summary>
    /// Record every mini-batch cost in <see cref="History.IterationCosts"/> (the course's per-iteration plot). True by
    /// default. A checkpoint records it and a resume with another value is refused (the costs would cover part of the run).
    /// </summary>
    public bool RecordIterations { get; set; } = true;

    /// <summary>
    /// The divergence guard, true by default: training never returns (or throws) with NaN or ±∞ weights. The cost is
    /// checked after every mini-batch and the weights and batch-norm statistics after the last mini-batch of every epoch
    /// (so full-batch training, one step per epoch, is covered); each check that passes makes the weights, statistics
    /// and optimizer state the new snapshot (copied in place, once per epoch). When a cost or a weight turns non-finite,
    /// <see cref="Trainer.Fit{T}"/> puts back the snapshot — the last state verified finite — and throws
    /// <see cref="TrainingDivergedException"/>; when anything else interrupts training (cancellation, a callback's or the
    /// data's exception) with non-finite weights, the snapshot is put back too. A cost that turns non-finite on an epoch's
    /// first mini-batch was computed from the latest snapshot's own weights (finite but, e.g., near 1e29), so the snapshot
    /// before it is put back instead: the guard keeps two, twice the weights, statistics and optimizer state in memory.
    /// False turns all of this off.
    /// </summary>
    public bool DivergenceGuard { get; set; } = true;

    /// <summary>
    /// Write a training checkpoint every few epochs (and after the last one), atomically, so a stopped or killed run
    /// can continue with <see cref="ResumeFrom"/>. Null (the default) writes none.
    /// </summary>
    public CheckpointOptions? Checkpoint { get; set; }

    /// <summary>
    /// Continue training from a checkpoint written by <see cref="Checkpoint"/>: weights, batch-norm statistics, the
    /// optimizer's state (v, s and t), α and α0, the history so far and every random state (shuffling, dropout masks,
    /// augmentation) are restored, and training runs the epochs after the checkpoint's up to <see cref="Epochs"/>
    /// (none if it already got there, or if the checkpoint was written when an <see cref="EarlyStopping"/> ended the run:
    /// that run is finished, and resuming it ends with its best weights, as the run did; give the callback a larger
    /// patience to train on). With the same model architecture, data and options, the result is the same
    /// bit for bit as a run that was never interrupted (GEMM with one thread; several threads may sum in another order).
    /// </summary>
    /// <remarks>
    /// The file is checked in full before anything changes, as a hostile file: a model file without training state,
    /// a checkpoint of another architecture, input or target transform, element type, optimizer kind or training source (e.g. with augmentation
    /// added or removed), and any malformed entry raise <see cref="InvalidDataException"/> naming the problem; a missing
    /// file raises <see cref="FileNotFoundException"/> (to resume only when a checkpoint exists, write
    /// <c>ResumeFrom = File.Exists(path) ? path : null</c>). Its history must hold only what a run records (epochs
    /// numbered 1, 2, … in order, finite costs, accuracies in [0, 1], an rmse ≥ 0).
    /// <para>The options must be the run's: a different <see cref="BatchSize"/>, <see cref="Decay"/> (compared by its
    /// <see cref="LearningRateSchedule.Describe"/>), <see cref="Shuffle"/>, weight penalty (<see cref="Regularization"/>,
    /// else the model's), <see cref="ValidationSplit"/> (and its seed), <see cref="ClassWeights"/>,
    /// <see cref="LabelSmoothing"/>, <see cref="GradientClipNorm"/>, <see cref="GradientClipValue"/>,
    /// <see cref="RecordIterations"/> or optimizer hyperparameter (β, ε, bias correction; not α, whose
    /// value and α0 come from the checkpoint) is refused with <see cref="InvalidDataException"/> naming both values, as
    /// are stateful callbacks (<see cref="EarlyStopping"/>) at other positions in <see cref="Callbacks"/>: an
    /// <see cref="EarlyStopping"/> gets its state back (best epoch, best value, best weights, epochs waited, and the
    /// history's <see cref="History.Monitor"/> and <see cref="History.BestEpoch"/>) only from the same position, and a
    /// saved state no callback takes, or a stateful callback the checkpoint holds no state for, is refused. Other
    /// callbacks may differ and start afresh. If a callback changed one of these settings during the run, resume with
    /// the value it had when the checkpoint was written. (Checkpoints written before these settings were recorded are
    /// not compared on them.) <see cref="Epochs"/> may differ, to train on. A custom data source with randomness of its
    /// own takes part by implementing <see cref="IRandomStateSource"/>.</para>
    /// </remarks>
    public string? ResumeFrom { get; set; }
}

/// <summary>Where and how often <see cref="Trainer.Fit{T}"/> writes training checkpoints (see <see cref="TrainingOptions{T}.Checkpoint"/>).</summary>
public sealed class CheckpointOptions
{
    /// <summary>Creates the settings.</summary>
    /// <param name="path">The checkpoint file; "{epoch}" in it is replaced by the epoch number (from 1), otherwise each checkpoint replaces the last.</param>
    /// <param name="everyEpochs">The interval in epochs (≥ 1); a checkpoint is also written after the last epoch (or an early stop).</param>
    /// <exception cref="ArgumentException">The path is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="everyEpochs"/> &lt; 1.</exception>
    public CheckpointOptions(string path, int everyEpochs = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (everyEpochs < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(everyEpochs), everyEpochs, $"everyEpochs must be ≥ 1; received {everyEpochs}");
        }

        Path = path;
        EveryEpochs = everyEpochs;
    }

    /// <summary>The checkpoint file (or pattern with "{epoch}").</summary>
    public string Path { get; }

    /// <summary>The interval in epochs.</summary>
    public int EveryEpochs { get; }

    /// <summary>The file for a given epoch (from 1).</summary>
    /// <param name="epoch">The epoch.</param>
    /// <returns><see cref="Path"/> with "{epoch}" replaced.</returns>
    public string PathFor(int epoch) => Path.Replace("{epoch}", epoch.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
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

/// <summary>
/// Thrown by <c>Fit</c> when its cancellation token is cancelled: an <see cref="OperationCanceledException"/> (catch
/// either) that carries the <see cref="History"/> of the epochs completed before it, as
/// <see cref="TrainingDivergedException"/> does. The weights are left as trained so far.
/// </summary>
public sealed class TrainingCanceledException : OperationCanceledException
{
    /// <summary>Creates the exception.</summary>
    public TrainingCanceledException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public TrainingCanceledException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public TrainingCanceledException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for <paramref name="token"/>.</summary>
    public TrainingCanceledException(string message, CancellationToken token)
        : base(message, token)
    {
    }

    /// <summary>The history of the epochs completed before the cancellation (an epoch cut short is not in it).</summary>
    public History? History { get; init; }
}
