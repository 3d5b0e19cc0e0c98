using System.Globalization;

namespace DeepLearning;

/// <summary>
/// Lowers the learning rate when a figure stops improving: after <see cref="Patience"/> epochs in a row whose figure did
/// not beat the best so far by more than <see cref="MinDelta"/>, the rate becomes α·<see cref="Factor"/> (never below
/// <see cref="MinLearningRate"/>), and the <see cref="Cooldown"/> epochs after a reduction do not count. It lowers the
/// rate at the same epochs as PyTorch's <c>ReduceLROnPlateau</c> with <c>threshold_mode="abs"</c>,
/// <c>threshold = minDelta</c> and <c>patience</c> one less (PyTorch lowers the rate when the bad epochs exceed its
/// patience, this callback when they reach it, as Keras's does), and skips a reduction of <see cref="Epsilon"/> or less
/// as PyTorch's <c>eps</c> does (1e-8 by default, so α stops falling near 1e-8 with a factor of 0.1). Keras's <c>ReduceLROnPlateau</c> (<c>min_delta</c> is absolute there too) gives the same epochs
/// without a cooldown; with one, Keras counts the epoch its cooldown ends, so its <c>cooldown = c + 1</c> is this
/// callback's c.
/// </summary>
/// <remarks>
/// <para>
/// Without a <see cref="TrainingOptions{T}.Decay"/> it changes <see cref="Optimizer.LearningRate"/>, the rate of the
/// coming epochs. With a decay it scales <see cref="TrainingContext.InitialLearningRate"/> (α0, which the decay starts
/// from every epoch) instead, and <see cref="MinLearningRate"/> bounds α0. Either way
/// <see cref="EpochRecord.LearningRate"/> shows the rate each epoch trained with, and Fit puts the optimizer's rate back
/// when it ends, as it does for every callback.
/// </para>
/// <para>
/// Its state (the best figure, the epochs waited, the cooldown left) is saved in training checkpoints and restored by a
/// resume, so a resumed run lowers the rate at the same epochs as the uninterrupted one; the rate itself is the
/// checkpoint's α (and α0).
/// </para>
/// </remarks>
public sealed class ReduceLearningRateOnPlateau : ITrainingCallback, ICheckpointedCallback
{
    private double _best = double.NaN; // NaN until the first epoch (then ±∞ or a recorded figure)
    private int _wait;
    private int _cooldownLeft;
    private string? _figure;

    /// <summary>Creates the callback.</summary>
    /// <param name="factor">The rate is multiplied by this (0 &lt; factor &lt; 1); default 0.1, as in Keras and PyTorch.</param>
    /// <param name="patience">Epochs without improvement before the rate is lowered (≥ 1); default 10 (Keras's; PyTorch's 10 is 11 here).</param>
    /// <param name="monitor">
    /// What to watch, as for <see cref="EarlyStopping"/>: <see cref="EarlyStoppingMonitor.Auto"/> (default: the dev cost
    /// with a dev set, else the training cost), <see cref="EarlyStoppingMonitor.DevCost"/>,
    /// <see cref="EarlyStoppingMonitor.DevMetric"/> (accuracy, higher is better; RMSE for regression, lower is better)
    /// or <see cref="EarlyStoppingMonitor.TrainCost"/>. Fit refuses DevCost or DevMetric without
    /// <see cref="TrainingOptions{T}.Validation"/>.
    /// </param>
    /// <param name="minDelta">The smallest change that counts as an improvement (finite, ≥ 0); default 1e-4, as in Keras.</param>
    /// <param name="cooldown">Epochs after a reduction during which no epoch counts as without improvement (≥ 0); default 0.</param>
    /// <param name="minLearningRate">The lowest rate (α0 with a decay) a reduction sets (finite, ≥ 0); default 0. A reduction is skipped when the next epoch's rate would round to 0 in the model's element type (with a decay, the rate the decay gives that epoch from the lowered α0).</param>
    /// <param name="epsilon">A reduction of the rate by this much or less is skipped (finite, ≥ 0); default 1e-8, PyTorch's <c>eps</c>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside the range above, NaN, or <paramref name="monitor"/> is not a defined value.</exception>
    public ReduceLearningRateOnPlateau(double factor = 0.1, int patience = 10, EarlyStoppingMonitor monitor = EarlyStoppingMonitor.Auto, double minDelta = 1e-4, int cooldown = 0, double minLearningRate = 0, double epsilon = 1e-8)
    {
        var inv = CultureInfo.InvariantCulture;
        if (!(factor > 0 && factor < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(factor), factor, string.Create(inv, $"factor must be in (0, 1), the rate being multiplied by it; received {factor}"));
        }

        if (patience < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(patience), patience, $"patience must be ≥ 1; received {patience}");
        }

        if (!Enum.IsDefined(monitor))
        {
            throw new ArgumentOutOfRangeException(nameof(monitor), monitor, $"monitor must be one of {string.Join(", ", Enum.GetNames<EarlyStoppingMonitor>())}; received {(int)monitor}");
        }

        if (!(minDelta >= 0) || !double.IsFinite(minDelta))
        {
            throw new ArgumentOutOfRangeException(nameof(minDelta), minDelta, string.Create(inv, $"minDelta must be finite and ≥ 0; received {minDelta}"));
        }

        if (cooldown < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(cooldown), cooldown, $"cooldown must be ≥ 0; received {cooldown}");
        }

        if (!(minLearningRate >= 0) || !double.IsFinite(minLearningRate))
        {
            throw new ArgumentOutOfRangeException(nameof(minLearningRate), minLearningRate, string.Create(inv, $"minLearningRate must be finite and ≥ 0; received {minLearningRate}"));
        }

        if (!(epsilon >= 0) || !double.IsFinite(epsilon))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, string.Create(inv, $"epsilon must be finite and ≥ 0; received {epsilon}"));
        }

        Epsilon = epsilon;
        Factor = factor;
        Patience = patience;
        Monitor = monitor;
        MinDelta = minDelta;
        Cooldown = cooldown;
        MinLearningRate = minLearningRate;
    }

    /// <summary>The factor a reduction multiplies the rate by.</summary>
    public double Factor { get; }

    /// <summary>Epochs without improvement before a reduction.</summary>
    public int Patience { get; }

    /// <summary>The figure watched.</summary>
    public EarlyStoppingMonitor Monitor { get; }

    /// <summary>The smallest improvement that counts.</summary>
    public double MinDelta { get; }

    /// <summary>Epochs after a reduction before epochs without improvement count again.</summary>
    public int Cooldown { get; }

    /// <summary>The smallest change of the rate a reduction makes (PyTorch's <c>eps</c>): a smaller one is skipped.</summary>
    public double Epsilon { get; }

    /// <summary>The lowest rate a reduction sets (α0 with a decay).</summary>
    public double MinLearningRate { get; }

    /// <summary>The epochs of this run (from 1) after which the rate was lowered, in order; cleared when a Fit starts (a resume lists those since it).</summary>
    public IReadOnlyList<int> Reductions => _reductions;

    private readonly List<int> _reductions = [];

    /// <inheritdoc/>
    public void OnTrainBegin(TrainingContext context)
    {
        _best = double.NaN;
        _wait = 0;
        _cooldownLeft = 0;
        _figure = null;
        _reductions.Clear();
    }

    /// <inheritdoc/>
    public void OnEpochEnd(TrainingContext context, EpochRecord record)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(record);
        var (value, higherIsBetter, name) = MonitoredFigure.Of(Monitor, context.History, record);
        _figure = name;
        if (double.IsNaN(_best))
        {
            _best = higherIsBetter ? double.NegativeInfinity : double.PositiveInfinity;
        }

        // A NaN figure (a dev cost that overflowed) never improves.
        if (higherIsBetter ? value > _best + MinDelta : value < _best - MinDelta)
        {
            _best = value;
            _wait = 0;
        }
        else
        {
            _wait++;
        }

        // The epochs of the cooldown do not count (PyTorch's order: Keras's counts the epoch its cooldown ends).
        if (_cooldownLeft > 0)
        {
            _cooldownLeft--;
            _wait = 0;
        }

        if (_wait < Patience)
        {
            return;
        }

        bool decays = context.DecaysRate;
        double rate = decays ? context.InitialLearningRate : context.Optimizer.LearningRate;
        double lowered = Math.Max(rate * Factor, MinLearningRate);
        if (rate - lowered > Epsilon && context.NextRateUsable(lowered))
        {
            if (decays)
            {
                context.InitialLearningRate = lowered;
            }
            else
            {
                context.Optimizer.LearningRate = lowered;
            }

            _reductions.Add(record.Epoch);
            _cooldownLeft = Cooldown;
            _wait = 0;
        }
    }

    /// <inheritdoc/>
    (string State, object? Weights) ICheckpointedCallback.ExportCheckpointState() =>
        (string.Create(CultureInfo.InvariantCulture, $"{_wait} {_cooldownLeft} {BitConverter.DoubleToInt64Bits(_best):x16} {Monitor} {(_figure is null ? "-" : Uri.EscapeDataString(_figure))}"), null);

    /// <inheritdoc/>
    Action ICheckpointedCallback.PrepareImport(string state, object? weights, int epoch, bool hasValidation, History history)
    {
        var parts = state.Split(' ');
        if (parts.Length != 5
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int wait)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int cooldownLeft)
            || !long.TryParse(parts[2], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long bits))
        {
            throw new FormatException($"the ReduceLearningRateOnPlateau state \"{(state.Length > 80 ? state[..80] + "…" : state)}\" is not \"<epochs waited> <cooldown left> <best value as 16 hex digits> <monitor> <figure>\"");
        }

        if (weights is not null)
        {
            throw new FormatException("the ReduceLearningRateOnPlateau state holds weights, which it never saves");
        }

        if (parts[3] != Monitor.ToString())
        {
            throw new FormatException($"the checkpoint's ReduceLearningRateOnPlateau watched {(parts[3].Length > 20 ? parts[3][..20] + "…" : parts[3])}, but this one watches {Monitor}; resume with the same monitor");
        }

        string figure = MonitoredFigure.Expected(Monitor, hasValidation, history.MetricName);
        string? saved = parts[4] == "-" ? null : Uri.UnescapeDataString(parts[4]);
        if (saved is not null && saved != figure)
        {
            throw new FormatException($"the checkpoint's ReduceLearningRateOnPlateau watched the {(saved.Length > 40 ? saved[..40] + "…" : saved)}, but this run would give it the {figure} (is the validation data {(hasValidation ? "new" : "missing")}?); resume with the same validation data and settings");
        }

        // Counts of epochs already run; the cooldown left is at most the cooldown (a larger one is another setup or an edit).
        if (wait > epoch || cooldownLeft > Math.Min(Cooldown, epoch))
        {
            throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"the ReduceLearningRateOnPlateau state gives {wait} epochs waited and {cooldownLeft} epochs of cooldown left (cooldown {Cooldown}), but the checkpoint was written after epoch {epoch}"));
        }

        // The best value is none yet (NaN), the starting ±∞, or a figure the history recorded: another is an edited file.
        double best = BitConverter.Int64BitsToDouble(bits);
        if (!double.IsNaN(best) && !double.IsInfinity(best) && !history.Epochs.Any(e => MonitoredFigure.Of(Monitor, history, e).Value.Equals(best)))
        {
            throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"the ReduceLearningRateOnPlateau state's best value {best:R} is not a {figure} any epoch of the history recorded"));
        }

        return () =>
        {
            _wait = wait;
            _cooldownLeft = cooldownLeft;
            _best = best;
            _figure = saved;
            _reductions.Clear();
        };
    }
}
