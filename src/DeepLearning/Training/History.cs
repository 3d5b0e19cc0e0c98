using System.Globalization;
using System.Text;

namespace DeepLearning;

/// <summary>
/// What happened during training: one <see cref="EpochRecord"/> per epoch (cost, metrics, learning
/// rate, time) and the cost of every iteration (mini-batch), for learning curves, early stopping,
/// bias/variance diagnosis and CSV export. A plain data class the fit loop appends to; not thread-safe.
/// </summary>
public sealed class History
{
    private readonly List<EpochRecord> _epochs = [];
    private readonly List<double> _iterationCosts = [];
    private string? _monitor;
    private int? _bestEpoch;

    /// <summary>Creates an empty history.</summary>
    /// <param name="metricName">The name of the metric in <see cref="EpochRecord.TrainMetric"/> and <see cref="EpochRecord.DevMetric"/>, e.g. "accuracy".</param>
    /// <param name="higherIsBetter">Whether a larger metric is better (true for accuracy); decides <see cref="BestEpoch"/>.</param>
    public History(string metricName = "accuracy", bool higherIsBetter = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(metricName);
        MetricName = metricName;
        HigherIsBetter = higherIsBetter;
    }

    /// <summary>The history Fit starts for a model: "accuracy" (higher is better) for a classifier, "rmse" (lower is better) otherwise.</summary>
    internal static History ForModel(bool classification) =>
        classification ? new History("accuracy") : new History("rmse", higherIsBetter: false);

    /// <summary>The metric's name, e.g. "accuracy".</summary>
    public string MetricName { get; }

    /// <summary>Whether a larger metric is better.</summary>
    public bool HigherIsBetter { get; }

    /// <summary>The epochs in order.</summary>
    public IReadOnlyList<EpochRecord> Epochs => _epochs;

    /// <summary>The cost J of every iteration (mini-batch) in order, including the regularization term.</summary>
    public IReadOnlyList<double> IterationCosts => _iterationCosts;

    /// <summary>The number of epochs recorded.</summary>
    public int Count => _epochs.Count;

    /// <summary>Why training stopped before its planned epochs (e.g. early stopping), or null if it ran them all.</summary>
    public string? StopReason { get; set; }

    /// <summary>
    /// Whether the training metrics were measured on a network with dropout, during training (units dropped): they
    /// then overstate the training error, and <see cref="BiasVariance.Diagnose(History, double, HistoryEpoch, BiasVarianceThresholds?)"/>
    /// refuses them. Set by <c>Fit</c> when the history is created, from the dropout layers with keep_prob &lt; 1 that are
    /// enabled (<see cref="Dropout{T}.Enabled"/>), and turned on at any later epoch that trains with one enabled.
    /// </summary>
    public bool TrainMetricWithDropout { get; set; }

    /// <summary>The last epoch, or null when none is recorded.</summary>
    public EpochRecord? Last => _epochs.Count == 0 ? null : _epochs[^1];

    /// <summary>
    /// The quantity that decides <see cref="BestEpoch"/>: "dev cost" (the default when any epoch has a dev cost),
    /// "cost" (the training cost, without a dev set), or whatever <see cref="EarlyStopping"/> watched when it ran
    /// (e.g. "dev accuracy").
    /// </summary>
    public string Monitor => _monitor ?? (_epochs.Any(e => e.DevCost.HasValue) ? "dev cost" : "cost");

    /// <summary>
    /// The best epoch by <see cref="Monitor"/>. When <see cref="EarlyStopping"/> ran, it is the epoch the callback
    /// judged best — the one whose weights it restored with <c>restoreBestWeights</c>. Otherwise the lowest dev cost,
    /// or the lowest training cost without a dev set (earliest on ties; NaN ignored). Null only when no epoch is recorded
    /// or every monitored value is NaN.
    /// </summary>
    public EpochRecord? BestEpoch
    {
        get
        {
            if (_bestEpoch is int n && _epochs.FirstOrDefault(e => e.Epoch == n) is { } chosen)
            {
                return chosen;
            }

            return _epochs.Any(e => e.DevCost.HasValue) ? Best(e => e.DevCost, higherIsBetter: false) : Best(e => e.Cost, higherIsBetter: false);
        }
    }

    /// <summary>Records what a monitor (early stopping) watched and which epoch it chose; <see cref="BestEpoch"/> then returns that epoch.</summary>
    /// <param name="monitor">The quantity watched, e.g. "dev cost".</param>
    /// <param name="bestEpoch">The chosen epoch number.</param>
    public void SetMonitor(string monitor, int bestEpoch)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(monitor);
        _monitor = monitor;
        _bestEpoch = bestEpoch;
    }

    /// <summary>The epoch with the best value of any recorded quantity (earliest on ties; null and NaN ignored).</summary>
    /// <param name="selector">The quantity, e.g. <c>e =&gt; e.DevCost</c>.</param>
    /// <param name="higherIsBetter">Whether larger is better.</param>
    /// <returns>The epoch, or null when no epoch has the quantity.</returns>
    public EpochRecord? Best(Func<EpochRecord, double?> selector, bool higherIsBetter)
    {
        ArgumentNullException.ThrowIfNull(selector);
        EpochRecord? best = null;
        double bestValue = 0;
        foreach (var e in _epochs)
        {
            if (selector(e) is double v && !double.IsNaN(v) && (best is null || (higherIsBetter ? v > bestValue : v < bestValue)))
            {
                (best, bestValue) = (e, v);
            }
        }

        return best;
    }

    /// <summary>Appends an epoch.</summary>
    /// <param name="record">The epoch; its number must exceed the last one's.</param>
    /// <returns><paramref name="record"/>.</returns>
    /// <exception cref="ArgumentException">The epoch number does not increase, or α or the seconds are invalid.</exception>
    public EpochRecord AddEpoch(EpochRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.Epoch < 0 || (Last is { } last && record.Epoch <= last.Epoch))
        {
            throw new ArgumentException($"epoch numbers must be non-negative and increasing; received {record.Epoch} after {Last?.Epoch.ToString(CultureInfo.InvariantCulture) ?? "none"}", nameof(record));
        }

        if (!(record.LearningRate > 0) || !double.IsFinite(record.LearningRate))
        {
            throw new ArgumentException($"the learning rate must be positive and finite; received {Text(record.LearningRate)}", nameof(record));
        }

        if (!(record.Seconds >= 0) || !double.IsFinite(record.Seconds))
        {
            throw new ArgumentException($"seconds must be non-negative and finite; received {Text(record.Seconds)}", nameof(record));
        }

        _epochs.Add(record);
        return record;
    }

    /// <summary>Appends the next epoch (numbered one after the last, or 0).</summary>
    /// <param name="cost">The training cost J including regularization.</param>
    /// <param name="trainMetric">The training metric, if measured.</param>
    /// <param name="devCost">The dev cost, if any.</param>
    /// <param name="devMetric">The dev metric, if any.</param>
    /// <param name="learningRate">α used in the epoch.</param>
    /// <param name="seconds">Wall-clock seconds.</param>
    /// <returns>The record added.</returns>
    /// <exception cref="ArgumentException">α or the seconds are invalid.</exception>
    public EpochRecord AddEpoch(double cost, double? trainMetric, double? devCost, double? devMetric, double learningRate, double seconds) =>
        AddEpoch(new EpochRecord(Last is { } last ? last.Epoch + 1 : 0, cost, trainMetric, devCost, devMetric, learningRate, seconds));

    /// <summary>Appends the cost of one iteration (mini-batch). Allocation-free while within <see cref="EnsureIterationCapacity(int)"/>.</summary>
    /// <param name="cost">J of the mini-batch, including regularization.</param>
    public void AddIteration(double cost) => _iterationCosts.Add(cost);

    /// <summary>Reserves room for this many iteration costs in total, so <see cref="AddIteration(double)"/> does not allocate in the training loop.</summary>
    /// <param name="capacity">The total number of iterations expected, e.g. epochs × batches per epoch.</param>
    public void EnsureIterationCapacity(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        _iterationCosts.EnsureCapacity(capacity);
    }

    /// <summary>
    /// Whether two histories hold the same epochs and iteration costs, bit for bit, ignoring the
    /// seconds (which differ from run to run): what "the same seed gives the same history" means.
    /// </summary>
    /// <param name="other">The other history.</param>
    /// <returns>True when equal.</returns>
    public bool SameValuesAs(History other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return MetricName == other.MetricName
            && _epochs.Count == other._epochs.Count
            && _epochs.Zip(other._epochs).All(p => p.First with { Seconds = 0 } == p.Second with { Seconds = 0 })
            && _iterationCosts.SequenceEqual(other._iterationCosts);
    }

    /// <summary>
    /// The epochs as CSV: <c>epoch,cost,train_&lt;metric&gt;,dev_cost,dev_&lt;metric&gt;,learning_rate,seconds</c>,
    /// invariant culture, round-trip precision, empty cells for values not measured.
    /// </summary>
    /// <returns>The CSV text, one line per epoch after the header.</returns>
    public string ToCsv()
    {
        string metric = CsvName(MetricName);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"epoch,cost,train_{metric},dev_cost,dev_{metric},learning_rate,seconds\n");
        foreach (var e in _epochs)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{e.Epoch},{Csv(e.Cost)},{Csv(e.TrainMetric)},{Csv(e.DevCost)},{Csv(e.DevMetric)},{Csv(e.LearningRate)},{Csv(e.Seconds)}\n");
        }

        return sb.ToString();
    }

    /// <summary>The iteration costs as CSV: <c>iteration,cost</c>, iterations from 0.</summary>
    /// <returns>The CSV text.</returns>
    public string IterationsToCsv()
    {
        var sb = new StringBuilder("iteration,cost\n");
        for (int i = 0; i < _iterationCosts.Count; i++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{i},{Csv(_iterationCosts[i])}\n");
        }

        return sb.ToString();
    }

    /// <summary>Writes <see cref="ToCsv"/> to a file atomically (a temporary file in the same folder, flushed, then renamed over the target).</summary>
    /// <param name="path">The file to write.</param>
    public void SaveCsv(string path) => WriteAtomically(path, ToCsv());

    /// <summary>Writes <see cref="IterationsToCsv"/> to a file atomically.</summary>
    /// <param name="path">The file to write.</param>
    public void SaveIterationsCsv(string path) => WriteAtomically(path, IterationsToCsv());

    /// <summary>A table of the epochs (columns only for what was measured), then the best epoch.</summary>
    /// <returns>The text.</returns>
    public override string ToString()
    {
        if (_epochs.Count == 0)
        {
            return "History: no epochs";
        }

        bool train = _epochs.Any(e => e.TrainMetric.HasValue);
        bool devCost = _epochs.Any(e => e.DevCost.HasValue);
        bool devMetric = _epochs.Any(e => e.DevMetric.HasValue);
        string metricHeader = MetricName.Length > 10 ? MetricName[..10] : MetricName;
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(inv, $"{"epoch",6}{"cost",12}");
        if (train)
        {
            sb.Append(inv, $"{metricHeader,12}");
        }

        if (devCost)
        {
            sb.Append(inv, $"{"dev cost",12}");
        }

        if (devMetric)
        {
            sb.Append(inv, $"{"dev " + metricHeader,16}");
        }

        sb.Append(inv, $"{"α",12}{"seconds",10}").AppendLine();
        foreach (var e in _epochs)
        {
            sb.Append(inv, $"{e.Epoch,6}{e.Cost,12:G6}");
            if (train)
            {
                sb.Append(inv, $"{Cell(e.TrainMetric),12}");
            }

            if (devCost)
            {
                sb.Append(inv, $"{Cell(e.DevCost),12}");
            }

            if (devMetric)
            {
                sb.Append(inv, $"{Cell(e.DevMetric),16}");
            }

            sb.Append(inv, $"{e.LearningRate,12:G4}{e.Seconds,10:F2}").AppendLine();
        }

        sb.Append(inv, $"{_iterationCosts.Count} iterations, {_epochs.Sum(e => e.Seconds):F1} s");
        if (BestEpoch is { } best)
        {
            double? value = Monitor switch
            {
                "cost" => best.Cost,
                "dev cost" => best.DevCost,
                _ when Monitor.StartsWith("dev ", StringComparison.Ordinal) => best.DevMetric,
                _ => best.TrainMetric,
            };
            sb.Append(inv, $"; best epoch {best.Epoch} by {Monitor} ({Cell(value)})");
        }

        return sb.ToString();
    }

    private static string Cell(double? value) => value is double v ? v.ToString("G6", CultureInfo.InvariantCulture) : "-";

    private static string Csv(double? value) => value is double v ? v.ToString("R", CultureInfo.InvariantCulture) : string.Empty;

    private static string Text(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static string CsvName(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (char c in name.Trim().ToLowerInvariant())
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) ? c : '_');
        }

        return sb.ToString();
    }

    private static void WriteAtomically(string path, string text) => AtomicFile.WriteAllText(path, text);
}
