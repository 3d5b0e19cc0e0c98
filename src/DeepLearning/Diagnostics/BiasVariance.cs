using System.Globalization;

namespace DeepLearning;

/// <summary>
/// The course's bias/variance diagnosis. With human-level error as the proxy for Bayes error:
/// avoidable bias = training error − human error; variance = dev error − training error.
/// A gap above its threshold (<see cref="BiasVarianceThresholds"/>, 1.5% by default) is high; a gap within
/// <see cref="BiasVarianceThresholds.Tolerance"/> (1e-12) of the threshold counts as equal to it, so decimal inputs behave
/// as written (0.025 − 0.01 and 0.065 − 0.05 are both a 1.5% gap, not high, although the first rounds to 0.015000000000000001).
/// High bias calls for a bigger network, longer training or a better optimizer, or another
/// architecture; high variance for more data, regularization, or another architecture.
/// </summary>
/// <remarks>
/// Examples from the course (human error 0 unless given): train 1%, dev 11% → high variance;
/// 15%/16% → high bias; 15%/30% → both; 0.5%/1% → fine; human 1%, train 8%, dev 10% → high bias;
/// human 7.5%, train 8%, dev 10% → high variance.
/// </remarks>
public static class BiasVariance
{
    private static readonly string[] _biasRemedies =
    [
        "bigger network: more hidden units or more layers",
        "train longer, or use a better optimization algorithm (momentum, RMSprop, Adam)",
        "try a different network architecture or hyperparameters",
    ];

    private static readonly string[] _varianceRemedies =
    [
        "more training data (or data augmentation)",
        "regularization: L2, dropout",
        "try a different network architecture or hyperparameters",
    ];

    /// <summary>Diagnoses from error rates (fractions: 0.01 is 1%).</summary>
    /// <param name="trainError">Training-set error in [0, 1].</param>
    /// <param name="devError">Dev-set error in [0, 1].</param>
    /// <param name="humanError">Human-level (≈ Bayes) error in [0, 1]; 0 when unknown or the task is easy for people.</param>
    /// <param name="thresholds">When a gap is large; <see cref="BiasVarianceThresholds.Default"/> when null.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An error or threshold is out of range.</exception>
    public static BiasVarianceReport Diagnose(double trainError, double devError, double humanError = 0, BiasVarianceThresholds? thresholds = null) =>
        Diagnose(trainError, devError, humanError, thresholds, epoch: null);

    /// <summary>
    /// Diagnoses a finished training run from its history, reading one epoch's training and dev
    /// metrics: error = 1 − metric when higher is better (accuracy), else the metric itself (an error rate).
    /// For a multi-label model (<see cref="Model{T}.IsMultiLabel"/>) the accuracy, and so the error, is per cell: the
    /// fraction of the m·C yes/no answers wrong.
    /// </summary>
    /// <param name="history">The history; the chosen epoch must have both a training and a dev metric.</param>
    /// <param name="humanError">Human-level error in [0, 1].</param>
    /// <param name="epoch">
    /// Which epoch: <see cref="HistoryEpoch.Best"/> (default; <see cref="History.BestEpoch"/> — the epoch early stopping
    /// judged best and restored, else the lowest dev cost, which need not be the best dev metric) or
    /// <see cref="HistoryEpoch.Last"/> (the weights a run that did not restore ends with).
    /// </param>
    /// <param name="thresholds">When a gap is large.</param>
    /// <returns>The report, with <see cref="BiasVarianceReport.Epoch"/> set.</returns>
    /// <exception cref="InvalidOperationException">
    /// The history is empty, its metric is "rmse" (a regression's, which <c>Fit</c> records; not an error rate), the
    /// epoch lacks a training or dev metric, <see cref="HistoryEpoch.Best"/> was asked for but every epoch's monitored
    /// value (<see cref="History.Monitor"/>) is NaN, or the run had dropout (<see cref="History.TrainMetricWithDropout"/>;
    /// use the model overload).
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="epoch"/> is not a defined <see cref="HistoryEpoch"/>; the chosen epoch's training or dev metric
    /// gives no error in [0, 1] (e.g. NaN; reported against <paramref name="history"/>, naming the epoch); or
    /// <paramref name="humanError"/> or a threshold is out of range.
    /// </exception>
    public static BiasVarianceReport Diagnose(History history, double humanError = 0, HistoryEpoch epoch = HistoryEpoch.Best, BiasVarianceThresholds? thresholds = null)
    {
        ArgumentNullException.ThrowIfNull(history);
        if (string.Equals(history.MetricName, "rmse", StringComparison.OrdinalIgnoreCase))
        {
            // Fit's regression metric: an RMSE in the targets' units is not an error rate in [0, 1].
            throw new InvalidOperationException("bias/variance diagnosis needs error rates, but this history's metric is rmse (a regression's root-mean-squared error, in the targets' units): diagnose a classifier's history, or pass error rates to Diagnose(trainError, devError)");
        }

        if (epoch is not (HistoryEpoch.Best or HistoryEpoch.Last))
        {
            throw new ArgumentOutOfRangeException(nameof(epoch), epoch, $"epoch must be HistoryEpoch.Best or HistoryEpoch.Last; received {(int)epoch}");
        }

        var record = history.Last ?? throw new InvalidOperationException("the history has no epochs to diagnose");
        if (epoch == HistoryEpoch.Best)
        {
            // BestEpoch is null in a non-empty history only when every value of the monitored quantity is NaN.
            record = history.BestEpoch ?? throw new InvalidOperationException(
                $"no best epoch: every epoch's {history.Monitor} is NaN (did the run diverge?); pass epoch: HistoryEpoch.Last to diagnose the last epoch");
        }

        if (history.TrainMetricWithDropout)
        {
            throw new InvalidOperationException(
                $"the training {history.MetricName} in this history was measured during training with dropout active, which overstates the training error; diagnose with BiasVariance.Diagnose(model, train, dev), which measures both sets in inference mode");
        }

        if (record.TrainMetric is not double train || record.DevMetric is not double dev)
        {
            throw new InvalidOperationException($"epoch {record.Epoch} lacks a {(record.TrainMetric is null ? "training" : "dev")} {history.MetricName}; diagnosis needs both");
        }

        RequireMetric(history, record, train, "training");
        RequireMetric(history, record, dev, "dev");
        return history.HigherIsBetter
            ? Diagnose(1 - train, 1 - dev, humanError, thresholds, record.Epoch)
            : Diagnose(train, dev, humanError, thresholds, record.Epoch);
    }

    /// <summary>
    /// Diagnoses a trained classifier from its error on the training and dev sets, both measured now in inference mode
    /// (dropout off, batch norm on its running statistics) with <see cref="Model{T}.Evaluate(IDataSource{T})"/>: the
    /// course's training error. Prefer this to the <see cref="History"/> overload when the network has dropout, whose
    /// training accuracy in the history is measured with units dropped and so overstates the training error.
    /// For a multi-label model (<see cref="Model{T}.IsMultiLabel"/>) each error is the fraction of the m·C cells wrong,
    /// 1 − (1/(m·C))·Σᵢ Σⱼ 1[(ŷⱼ⁽ⁱ⁾ &gt; 0.5) = (yⱼ⁽ⁱ⁾ &gt; 0.5)], as <see cref="Evaluation.Accuracy"/> reports it.
    /// </summary>
    /// <param name="model">A trained classifier (a model whose evaluation reports an accuracy).</param>
    /// <param name="train">The training set (raw X, as given to <c>Fit</c>).</param>
    /// <param name="dev">The dev set.</param>
    /// <param name="humanError">Human-level error in [0, 1].</param>
    /// <param name="thresholds">When a gap is large.</param>
    /// <returns>The report.</returns>
    /// <exception cref="InvalidOperationException">
    /// The model is not a classifier (no accuracy to turn into an error), or its output is NaN or ±∞ on some example of
    /// either set (<see cref="Evaluation.NonFiniteOutputCount"/>; the set and count are named): a model that overflows
    /// has no error rate that measures bias or variance.
    /// </exception>
    /// <exception cref="ArgumentException"><paramref name="train"/> or <paramref name="dev"/> yields no examples.</exception>
    public static BiasVarianceReport Diagnose<T>(Model<T> model, IDataSource<T> train, IDataSource<T> dev, double humanError = 0, BiasVarianceThresholds? thresholds = null)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(dev);
        if (!model.IsClassifier)
        {
            throw new InvalidOperationException("bias/variance diagnosis needs error rates: the model is not a classifier (its evaluation has no accuracy)");
        }

        var trainEvaluation = model.Evaluate(train);
        var devEvaluation = model.Evaluate(dev);

        // An empty set has no accuracy (and no error rate): say which set, rather than that the model is no classifier.
        double trainAccuracy = trainEvaluation.Accuracy ?? throw new ArgumentException("the training set has no examples: bias/variance diagnosis needs its error rate", nameof(train));
        double devAccuracy = devEvaluation.Accuracy ?? throw new ArgumentException("the dev set has no examples: bias/variance diagnosis needs its error rate", nameof(dev));
        RequireFiniteOutputs(trainEvaluation, "training");
        RequireFiniteOutputs(devEvaluation, "dev");

        return Diagnose(1 - trainAccuracy, 1 - devAccuracy, humanError, thresholds, epoch: null);
    }

    private static BiasVarianceReport Diagnose(double trainError, double devError, double humanError, BiasVarianceThresholds? thresholds, int? epoch)
    {
        RequireError(trainError, nameof(trainError));
        RequireError(devError, nameof(devError));
        RequireError(humanError, nameof(humanError));
        thresholds ??= BiasVarianceThresholds.Default;
        thresholds.Validate();

        double bias = trainError - humanError;
        double variance = devError - trainError;
        bool highBias = BiasVarianceThresholds.Exceeds(bias, thresholds.AvoidableBias);
        bool highVariance = BiasVarianceThresholds.Exceeds(variance, thresholds.Variance);
        var kind = (highBias, highVariance) switch
        {
            (true, true) when bias >= (thresholds.DominanceRatio * variance) - BiasVarianceThresholds.Tolerance => BiasVarianceCase.HighBias,
            (true, true) when variance >= (thresholds.DominanceRatio * bias) - BiasVarianceThresholds.Tolerance => BiasVarianceCase.HighVariance,
            (true, true) => BiasVarianceCase.HighBiasAndHighVariance,
            (true, false) => BiasVarianceCase.HighBias,
            (false, true) => BiasVarianceCase.HighVariance,
            _ => BiasVarianceCase.Fine,
        };

        // The course's basic recipe: fix bias first, then variance; in the mixed case the larger gap leads.
        IEnumerable<string> remedies = kind switch
        {
            BiasVarianceCase.HighBias => _biasRemedies,
            BiasVarianceCase.HighVariance => _varianceRemedies,
            BiasVarianceCase.HighBiasAndHighVariance when variance > bias => _varianceRemedies.Concat(_biasRemedies),
            BiasVarianceCase.HighBiasAndHighVariance => _biasRemedies.Concat(_varianceRemedies),
            _ => [],
        };

        var notes = new List<string>();
        if (bias < 0)
        {
            notes.Add($"training error is below the human-level estimate {Percent(humanError)}: Bayes error is lower than that estimate, so avoidable bias cannot be measured against it");
        }

        if (variance < 0)
        {
            notes.Add("dev error is below training error: the dev set may be easier than, or come from a different distribution than, the training set");
        }

        return new BiasVarianceReport(trainError, devError, humanError, kind, remedies.Distinct().ToArray(), notes, thresholds, epoch);
    }

    // A metric of the history that gives no error rate in [0, 1] (NaN from a diverged run, or an accuracy above 1) is
    // reported against the epoch, not against the internal trainError/devError it would become.
    private static void RequireMetric(History history, EpochRecord record, double metric, string set)
    {
        var error = history.HigherIsBetter ? 1 - metric : metric;
        if (!(error >= 0 && error <= 1))
        {
            throw new ArgumentOutOfRangeException(
                nameof(history),
                metric,
                $"epoch {record.Epoch}'s {set} {history.MetricName} is {metric.ToString(CultureInfo.InvariantCulture)}, which gives no error rate in [0, 1]; diagnosis needs a finite {set} {history.MetricName}{(history.HigherIsBetter ? " in [0, 1]" : " in [0, 1] (an error rate)")}");
        }
    }

    // An evaluation that counted overflowed outputs as wrong gives an error rate, but not one of bias or variance.
    private static void RequireFiniteOutputs(Evaluation evaluation, string set)
    {
        if (evaluation.NonFiniteOutputCount > 0)
        {
            throw new InvalidOperationException(string.Create(
                CultureInfo.InvariantCulture,
                $"the model's output is NaN or ±∞ on {evaluation.NonFiniteOutputCount} of the {evaluation.Count} examples of the {set} set (its cost is {evaluation.Cost}): a model that overflows has no error rate that measures bias or variance; find why it overflows (inputs far outside the training range, weights too large) before diagnosing"));
        }
    }

    private static void RequireError(double value, string name)
    {
        if (!(value >= 0 && value <= 1))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a fraction in [0, 1] (0.01 is 1%); received {value.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    private static string Percent(double x) => (x * 100).ToString("0.0##", CultureInfo.InvariantCulture) + "%";
}
