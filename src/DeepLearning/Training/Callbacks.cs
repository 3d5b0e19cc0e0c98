using System.Globalization;

namespace DeepLearning;

/// <summary>Hooks into the fit loop. Every method has an empty default.</summary>
public interface ITrainingCallback
{
    /// <summary>Called once before the first epoch.</summary>
    void OnTrainBegin(TrainingContext context)
    {
    }

    /// <summary>Called after every epoch, once its record (including the dev-set figures) is in the history.</summary>
    void OnEpochEnd(TrainingContext context, EpochRecord record)
    {
    }

    /// <summary>
    /// Called once when training ends: after the last epoch or a stop, and also when Fit ends by an exception
    /// (cancellation, a callback's exception, divergence, bad data), with <see cref="TrainingContext.Aborted"/> then true.
    /// </summary>
    void OnTrainEnd(TrainingContext context)
    {
    }
}

/// <summary>What a callback can see and change during training.</summary>
public abstract class TrainingContext
{
    /// <summary>The history so far.</summary>
    public abstract History History { get; }

    /// <summary>
    /// The optimizer; its <see cref="Optimizer.LearningRate"/> (the rate of the coming epoch) may be changed between epochs.
    /// With a decay, the next epoch's rate is computed from <see cref="InitialLearningRate"/> instead. Fit sets
    /// LearningRate back to the value it had when Fit was called once training ends.
    /// </summary>
    public abstract Optimizer Optimizer { get; }

    /// <summary>α0, the learning rate decay starts from (the optimizer's LearningRate when Fit was called, or the checkpoint's α0); changing it takes effect next epoch, for this run only.</summary>
    public double InitialLearningRate { get; set; }

    /// <summary>The epoch just finished, from 1.</summary>
    public int Epoch { get; internal set; }

    /// <summary>Set to stop after the current epoch.</summary>
    public bool StopRequested { get; private set; }

    /// <summary>Why training stopped early, if it did.</summary>
    public string? StopReason { get; private set; }

    /// <summary>
    /// True in <see cref="ITrainingCallback.OnTrainEnd"/> when Fit is ending by an exception (cancellation, a callback's
    /// or the data's exception, <see cref="TrainingDivergedException"/>) rather than after its last epoch or a stop. The
    /// weights, the optimizer state and the stream of shuffles are then where training stopped (or, after a divergence,
    /// the last verified-finite ones), and a callback should leave the weights alone: <see cref="EarlyStopping"/> does not
    /// put back its best epoch's weights then.
    /// </summary>
    public bool Aborted { get; internal set; }

    /// <summary>Asks the loop to stop after this epoch.</summary>
    public void Stop(string reason)
    {
        StopRequested = true;
        StopReason = reason;
    }

    /// <summary>A copy of the model's weights and running statistics.</summary>
    public abstract object CaptureWeights();

    /// <summary>Puts back weights captured by <see cref="CaptureWeights"/>; checked whole before anything is copied.</summary>
    /// <exception cref="ArgumentException"><paramref name="snapshot"/> did not come from <see cref="CaptureWeights"/> of a model of this architecture and element type.</exception>
    public abstract void RestoreWeights(object snapshot);

    /// <summary>
    /// Writes a training checkpoint to <paramref name="path"/> atomically: the model (loadable with
    /// <see cref="Model.Load{T}(string)"/>) plus everything <see cref="TrainingOptions{T}.ResumeFrom"/> needs to continue
    /// exactly (optimizer state, epoch, α and α0, history, random states). The file is written before this returns,
    /// with the state the callbacks have at that moment: callbacks listed after the caller have not yet seen this
    /// epoch (the <see cref="Checkpoint"/> callback and <see cref="TrainingOptions{T}.Checkpoint"/> write once every
    /// callback has run instead).
    /// </summary>
    public abstract void SaveCheckpoint(string path);

    /// <summary>Whether a <see cref="TrainingOptions{T}.Decay"/> sets the rate every epoch from <see cref="InitialLearningRate"/>.</summary>
    internal virtual bool DecaysRate => false;

    /// <summary>
    /// Whether the next epoch could train with <paramref name="rate"/> as α (as α0 under a decay: the rate the decay gives
    /// the next epoch from it): positive and finite in the model's element type (a tiny one rounds to 0 in float).
    /// </summary>
    internal virtual bool NextRateUsable(double rate) => rate > 0 && double.IsFinite(rate);

    /// <summary>Writes a checkpoint once every callback has finished this epoch (as <see cref="Checkpoint"/> does); by default at once.</summary>
    internal virtual void RequestCheckpoint(string path) => SaveCheckpoint(path);

    /// <summary>Mutable settings (batch size, decay, epochs, ...), typed per element type: cast to <c>TrainingOptions&lt;T&gt;</c>.</summary>
    public abstract object Options { get; }
}

/// <summary>
/// Early stopping: stop when the monitored figure has not improved by more than <see cref="MinDelta"/> for
/// <see cref="Patience"/> epochs, optionally restoring the weights of the best epoch. By default it watches the dev
/// cost when there is a dev set and the training cost otherwise (Keras's <c>val_loss</c>), for classification and
/// regression alike. It writes what it watched and the epoch it chose into <see cref="History.Monitor"/> and
/// <see cref="History.BestEpoch"/>, so the history's best epoch is the one restored (a run resumed from a checkpoint
/// names them as soon as the callback's state is restored, so also when no epoch is left to train). The best weights are put back
/// only when the run ends normally (after its last epoch or a stop): a Fit ended by an exception (cancellation, a
/// callback's exception, divergence) leaves the weights as trained so far, in step with the optimizer's state.
/// </summary>
public sealed class EarlyStopping : ITrainingCallback, ICheckpointedCallback
{
    private object? _best;
    private double _bestValue;
    private string? _figure; // what was watched ("dev cost", "cost", "dev accuracy", …), saved with the state
    private int _bestEpoch;
    private int _wait;

    /// <summary>Creates the callback.</summary>
    /// <param name="patience">Epochs without improvement tolerated (≥ 1); default 5.</param>
    /// <param name="restoreBestWeights">Put back the best epoch's weights when stopping (and at the end); default true. Not when Fit ends by an exception (see <see cref="TrainingContext.Aborted"/>).</param>
    /// <param name="monitor">
    /// What to watch: <see cref="EarlyStoppingMonitor.Auto"/> (default: dev cost with a dev set, else the training cost),
    /// <see cref="EarlyStoppingMonitor.DevCost"/>, <see cref="EarlyStoppingMonitor.DevMetric"/> (accuracy, higher is better;
    /// RMSE for regression, lower is better) or <see cref="EarlyStoppingMonitor.TrainCost"/>. Fit refuses DevCost or
    /// DevMetric without <see cref="TrainingOptions{T}.Validation"/> (they would watch the training cost).
    /// </param>
    /// <param name="minDelta">The smallest change that counts as an improvement (finite, ≥ 0); default 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="patience"/> &lt; 1, <paramref name="monitor"/> is not a defined value, or <paramref name="minDelta"/> is negative, NaN or ±∞.</exception>
    public EarlyStopping(int patience = 5, bool restoreBestWeights = true, EarlyStoppingMonitor monitor = EarlyStoppingMonitor.Auto, double minDelta = 0)
    {
        if (patience < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(patience), patience, $"patience must be ≥ 1; received {patience}");
        }

        if (!Enum.IsDefined(monitor))
        {
            throw new ArgumentOutOfRangeException(nameof(monitor), monitor, $"monitor must be one of {string.Join(", ", Enum.GetNames<EarlyStoppingMonitor>())}; received {(int)monitor}");
        }

        // +∞ would make every epoch "no improvement" and NaN every comparison false: neither is a threshold.
        if (!(minDelta >= 0) || !double.IsFinite(minDelta))
        {
            throw new ArgumentOutOfRangeException(nameof(minDelta), minDelta, string.Create(CultureInfo.InvariantCulture, $"minDelta must be finite and ≥ 0; received {minDelta}"));
        }

        Patience = patience;
        RestoreBestWeights = restoreBestWeights;
        Monitor = monitor;
        MinDelta = minDelta;
    }

    /// <summary>Epochs without improvement tolerated.</summary>
    public int Patience { get; }

    /// <summary>Whether the best weights are restored when the run ends normally.</summary>
    public bool RestoreBestWeights { get; }

    /// <summary>The figure watched.</summary>
    public EarlyStoppingMonitor Monitor { get; }

    /// <summary>The smallest improvement that counts.</summary>
    public double MinDelta { get; }

    /// <summary>The best epoch seen (from 1), or 0 before the first epoch.</summary>
    public int BestEpoch => _bestEpoch;

    /// <inheritdoc/>
    public void OnTrainBegin(TrainingContext context)
    {
        _best = null;
        _bestEpoch = 0;
        _wait = 0;
        _figure = null;
    }

    /// <inheritdoc/>
    public void OnEpochEnd(TrainingContext context, EpochRecord record)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(record);
        var history = context.History;
        (double value, bool higherIsBetter, string name) = Watched(history, record);
        _figure = name;
        bool improved = _bestEpoch == 0 || (higherIsBetter ? value > _bestValue + MinDelta : value < _bestValue - MinDelta);
        if (!improved)
        {
            // Every epoch, not only on improvement: after a resume the history learns the best epoch imported.
            history.SetMonitor(name, _bestEpoch);
        }
        else
        {
            _bestValue = value;
            _bestEpoch = record.Epoch;
            history.SetMonitor(name, _bestEpoch);
            _wait = 0;
            if (RestoreBestWeights)
            {
                _best = context.CaptureWeights();
            }

            return;
        }

        if (++_wait >= Patience)
        {
            context.Stop(StopMessage());
        }
    }

    /// <inheritdoc/>
    public void OnTrainEnd(TrainingContext context)
    {
        ArgumentNullException.ThrowIfNull(context);

        // A run ended by an exception keeps the weights it has: those of the best epoch would not match the optimizer's
        // state (Adam's t, v, s), the stream of shuffles or, after a divergence, the guard's restored state.
        if (!context.Aborted && RestoreBestWeights && _best is not null && _bestEpoch != context.Epoch)
        {
            context.RestoreWeights(_best);
        }
    }

    private (double Value, bool HigherIsBetter, string Name) Watched(History history, EpochRecord record) => MonitoredFigure.Of(Monitor, history, record);

    /// <inheritdoc/>
    string? ICheckpointedCallback.FinishedReason => _bestEpoch > 0 && _wait >= Patience ? StopMessage() : null;

    /// <inheritdoc/>
    (string State, object? Weights) ICheckpointedCallback.ExportCheckpointState() =>
        (string.Create(CultureInfo.InvariantCulture, $"{_bestEpoch} {_wait} {BitConverter.DoubleToInt64Bits(_bestValue):x16} {Monitor} {(RestoreBestWeights ? 1 : 0)} {(_figure is null ? "-" : Uri.EscapeDataString(_figure))}"), _best);

    /// <inheritdoc/>
    Action ICheckpointedCallback.PrepareImport(string state, object? weights, int epoch, bool hasValidation, History history)
    {
        string metricName = history.MetricName;
        var parts = state.Split(' ');
        if (parts.Length is not (3 or 5 or 6)
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int bestEpoch)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int wait)
            || !long.TryParse(parts[2], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long bits))
        {
            throw new FormatException($"the EarlyStopping state \"{(state.Length > 80 ? state[..80] + "…" : state)}\" is not \"<best epoch> <epochs waited> <best value as 16 hex digits> <monitor> <restore 0|1> <figure>\"");
        }

        // A best value of another figure (a dev accuracy compared with a cost) or a best epoch without the weights it
        // would restore would end the resumed run differently: resume with the settings the checkpoint was written with.
        if (parts.Length >= 5)
        {
            string expected = string.Create(CultureInfo.InvariantCulture, $"{Monitor} {(RestoreBestWeights ? 1 : 0)}");
            if (parts[3] + " " + parts[4] != expected)
            {
                throw new FormatException($"the checkpoint's EarlyStopping watched {(parts[3].Length > 20 ? parts[3][..20] + "…" : parts[3])} with restoreBestWeights = {parts[4] == "1"}, but this one watches {Monitor} with restoreBestWeights = {RestoreBestWeights}; resume with the same settings");
            }
        }

        // Auto and DevMetric watch a dev figure only when there is a dev set: a resume without one (or with one, where the
        // checkpoint had none) would compare the saved best of one figure with values of another.
        string figure = MonitoredFigure.Expected(Monitor, hasValidation, metricName);
        string? saved = parts.Length == 6 && parts[5] != "-" ? Uri.UnescapeDataString(parts[5]) : null;
        if (saved is not null && saved != figure)
        {
            throw new FormatException($"the checkpoint's EarlyStopping watched the {(saved.Length > 40 ? saved[..40] + "…" : saved)}, but this run would give it the {figure} (is the validation data {(hasValidation ? "new" : "missing")}?); resume with the same validation data and settings");
        }

        if (RestoreBestWeights && bestEpoch > 0 && weights is null)
        {
            throw new FormatException("the EarlyStopping state has a best epoch but the checkpoint holds no weights of it to restore");
        }

        // Both count epochs already run: a best epoch after them is not one, and a huge wait would overflow ++_wait (never stop).
        if (bestEpoch > epoch || wait > epoch)
        {
            throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"the EarlyStopping state gives best epoch {bestEpoch} and {wait} epochs waited, but the checkpoint was written after epoch {epoch}"));
        }

        // The best value is the figure the history recorded for the best epoch, exactly: so it is finite (but for a
        // regression's dev figure that overflowed, recorded as such), and another value (−∞ would never be beaten) is an
        // edited file. Before any epoch it is not used.
        double bestValue = BitConverter.Int64BitsToDouble(bits);
        string? monitorName = saved;
        if (bestEpoch > 0)
        {
            var (recorded, _, name) = Watched(history, history.Epochs[bestEpoch - 1]);
            if (!recorded.Equals(bestValue)) // equal, or both NaN (the history's text "NaN" need not keep the payload)
            {
                throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"the EarlyStopping state's best value {bestValue:R} {(double.IsFinite(bestValue) ? "is not" : "is not finite, nor")} the {name} its best epoch {bestEpoch} recorded ({recorded:R})"));
            }

            // The history names the figure of the last epoch, as the run's every epoch did (a state without it: figured out).
            monitorName ??= Watched(history, history.Epochs[^1]).Name;
        }

        return () =>
        {
            _bestEpoch = bestEpoch;
            _wait = wait;
            _bestValue = bestValue;
            _best = RestoreBestWeights ? weights : null;
            _figure = saved;

            // What the uninterrupted run's history said after this epoch, also when no epoch is left to train.
            if (bestEpoch > 0)
            {
                history.SetMonitor(monitorName!, bestEpoch);
            }
        };
    }

    private string StopMessage() =>
        string.Create(CultureInfo.InvariantCulture, $"early stopping: no improvement for {Patience} epochs; best epoch {_bestEpoch} ({_bestValue:G6})");
}

/// <summary>The figure <see cref="EarlyStopping"/> and <see cref="ReduceLearningRateOnPlateau"/> watch in an epoch's record.</summary>
internal static class MonitoredFigure
{
    /// <summary>The value watched in <paramref name="record"/>, whether higher is better, and its name for the history.</summary>
    public static (double Value, bool HigherIsBetter, string Name) Of(EarlyStoppingMonitor monitor, History history, EpochRecord record) => monitor switch
    {
        EarlyStoppingMonitor.DevMetric when record.DevMetric is { } m => (m, history.HigherIsBetter, "dev " + history.MetricName),
        EarlyStoppingMonitor.DevCost or EarlyStoppingMonitor.Auto when record.DevCost is { } c => (c, false, "dev cost"),
        _ => (record.Cost, false, "cost"),
    };

    /// <summary>The name of the figure a run with or without a dev set gives <paramref name="monitor"/>.</summary>
    public static string Expected(EarlyStoppingMonitor monitor, bool hasValidation, string metricName) => monitor switch
    {
        EarlyStoppingMonitor.DevMetric when hasValidation => "dev " + metricName,
        EarlyStoppingMonitor.DevCost or EarlyStoppingMonitor.Auto when hasValidation => "dev cost",
        _ => "cost",
    };
}

/// <summary>The figure <see cref="EarlyStopping"/> (and <see cref="ReduceLearningRateOnPlateau"/>) watches.</summary>
public enum EarlyStoppingMonitor
{
    /// <summary>The dev-set metric: accuracy for a classifier (higher is better), RMSE for a regression (lower is better).</summary>
    DevMetric = 0,

    /// <summary>Dev-set cost (lower is better).</summary>
    DevCost = 1,

    /// <summary>The default: the dev cost in epochs with a dev set, the training cost otherwise.</summary>
    Auto = 2,

    /// <summary>The training cost J including the regularization term (lower is better).</summary>
    TrainCost = 3,
}

/// <summary>
/// Saves a training checkpoint (safetensors, atomic write) every N epochs, the same file
/// <see cref="TrainingOptions{T}.Checkpoint"/> writes (prefer that: it also writes after the last epoch); resume from it
/// with <see cref="TrainingOptions{T}.ResumeFrom"/>.
/// </summary>
public sealed class Checkpoint : ITrainingCallback
{
    /// <summary>Creates the callback.</summary>
    /// <param name="path">The file to write; "{epoch}" in it is replaced by the epoch number.</param>
    /// <param name="everyEpochs">The interval (≥ 1).</param>
    public Checkpoint(string path, int everyEpochs = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (everyEpochs < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(everyEpochs), everyEpochs, $"everyEpochs must be ≥ 1; received {everyEpochs}");
        }

        Path = path;
        EveryEpochs = everyEpochs;
    }

    /// <summary>The file pattern.</summary>
    public string Path { get; }

    /// <summary>The interval in epochs.</summary>
    public int EveryEpochs { get; }

    /// <inheritdoc/>
    public void OnEpochEnd(TrainingContext context, EpochRecord record)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(record);
        if (record.Epoch % EveryEpochs == 0)
        {
            context.RequestCheckpoint(Path.Replace("{epoch}", record.Epoch.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
        }
    }
}

/// <summary>
/// Runs user code after every epoch: the course's "panda" babysitting, e.g. halve the learning rate when the
/// dev accuracy stalls, or stop by hand.
/// </summary>
public sealed class LambdaCallback : ITrainingCallback
{
    private readonly Action<TrainingContext, EpochRecord> _onEpochEnd;

    /// <summary>Creates the callback.</summary>
    public LambdaCallback(Action<TrainingContext, EpochRecord> onEpochEnd)
    {
        ArgumentNullException.ThrowIfNull(onEpochEnd);
        _onEpochEnd = onEpochEnd;
    }

    /// <inheritdoc/>
    public void OnEpochEnd(TrainingContext context, EpochRecord record) => _onEpochEnd(context, record);
}
