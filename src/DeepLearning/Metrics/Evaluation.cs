using System.Globalization;
using System.Text;

namespace DeepLearning;

/// <summary>
/// The result of <see cref="Model{T}.Evaluate(Tensor{T}, Tensor{T})"/> and <see cref="Model{T}.Evaluate(IDataSource{T})"/>
/// (one type for both). For a classifier: the cost, accuracy and confusion matrix. For a regression: the cost and
/// <see cref="MeanSquaredError"/>, <see cref="RootMeanSquaredError"/>, <see cref="MeanAbsoluteError"/> and
/// <see cref="RSquared"/>, in the targets' original units.
/// </summary>
/// <remarks>
/// A model whose output overflowed (NaN or ±∞, e.g. a float model given inputs near 3e38) is evaluated, not refused, as
/// <c>Fit</c>'s dev pass records it: the cost is then NaN or +∞, <see cref="NonFiniteOutputCount"/> says on how many
/// examples, and a classifier's example with such an output has no class and counts as wrong — in
/// <see cref="Accuracy"/> (all its cells, for a multi-label output) and in the confusion matrix, as
/// <see cref="DeepLearning.ConfusionMatrix.Unclassified"/> for its true class — never as the class a NaN happens to
/// select (a NaN row's argmax is 0). A regression's metrics are then NaN or +∞.
/// </remarks>
/// <param name="Cost">
/// The mean loss over the examples, (1/m)·Σ L, in inference mode, without the regularization term — the loss term of
/// the training cost J (for squared error that is ½·MSE, on standardized targets when a target transform is set);
/// <see cref="EpochRecord.Cost"/> in a training history includes the regularization term as well ((λ/2m)·Σ‖W‖² for L2), <see cref="EpochRecord.DevCost"/> does not.
/// NaN when there are no examples (m = 0), as are the regression metrics; <see cref="Accuracy"/> is then null.
/// </param>
/// <param name="Accuracy">
/// The fraction classified correctly (null for regression); a sigmoid output's probability targets count as class 1
/// where y &gt; 0.5. For a multi-label sigmoid output (C &gt; 1 columns, <see cref="MultiLabelCount"/> set) it is the
/// fraction of the m·C cells right, (1/(m·C))·Σᵢ Σⱼ 1[(ŷⱼ⁽ⁱ⁾ &gt; 0.5) = (yⱼ⁽ⁱ⁾ &gt; 0.5)], Keras's <c>binary_accuracy</c>.
/// An example whose output holds NaN or ±∞ counts as wrong (see <see cref="NonFiniteOutputCount"/>).
/// </param>
/// <param name="Count">The number of examples m.</param>
/// <param name="ConfusionMatrix">
/// Counts by (actual, predicted) class, with precision/recall/F1 and the model's class names (null for regression,
/// for a multi-label output, whose rows have no single actual or predicted class to count in a C×C matrix, and for
/// more than <see cref="MaxConfusionMatrixClasses"/> classes, whose C² counts would take more memory than the model).
/// </param>
public sealed record Evaluation(double Cost, double? Accuracy, long Count, ConfusionMatrix? ConfusionMatrix)
{
    /// <summary>
    /// The most classes for which <c>Evaluate</c> counts a C×C confusion matrix: 1,024 (8 MB of counts). Above it the
    /// cost and accuracy are still reported; build one with <see cref="DeepLearning.ConfusionMatrix.FromLabels"/> if needed.
    /// </summary>
    public const int MaxConfusionMatrixClasses = 1024;

    /// <summary>The error rate 1 − accuracy (null for regression); for a multi-label output the fraction of cells wrong (the Hamming loss).</summary>
    public double? Error => 1 - Accuracy;

    /// <summary>
    /// For a multi-label classifier (a sigmoid output with C &gt; 1 independent yes/no columns): C, so that
    /// <see cref="Accuracy"/> is over <see cref="Count"/>·C cells. Null otherwise.
    /// </summary>
    public int? MultiLabelCount { get; init; }

    /// <summary>
    /// The number of examples (rows) whose model output held NaN or ±∞ — or whose output layer's logits did (a sigmoid
    /// turns a logit of −∞ into an exact 0) — although the inputs were finite (Evaluate refuses non-finite data). 0 for a model that did not overflow. For a classifier these rows count as wrong in
    /// <see cref="Accuracy"/> and as <see cref="DeepLearning.ConfusionMatrix.Unclassified"/> in the matrix; for a
    /// regression they make the metrics NaN or +∞.
    /// </summary>
    public long NonFiniteOutputCount { get; init; }

    /// <summary>
    /// Regression: MSE = (1/(m·C))·Σᵢ Σⱼ (ŷⱼ⁽ⁱ⁾ − yⱼ⁽ⁱ⁾)², the plain mean as scikit-learn's <c>mean_squared_error</c> and
    /// PyTorch's <c>MSELoss</c> report it (no ½), in original units. Null for a classifier.
    /// </summary>
    public double? MeanSquaredError { get; init; }

    /// <summary>Regression: RMSE = √MSE, in the targets' units. Null for a classifier.</summary>
    public double? RootMeanSquaredError => MeanSquaredError is { } mse ? Math.Sqrt(mse) : null;

    /// <summary>Regression: MAE = (1/(m·C))·Σ |ŷ − y|, in original units. Null for a classifier.</summary>
    public double? MeanAbsoluteError { get; init; }

    /// <summary>
    /// Regression: the coefficient of determination R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)², averaged over the C target columns
    /// (scikit-learn's <c>r2_score</c> with uniform averaging; a constant column scores 1 if predicted exactly, else 0).
    /// 1 is perfect, 0 is no better than predicting the mean. NaN for fewer than 2 examples, as scikit-learn gives (one
    /// example has no spread to explain). Null for a classifier.
    /// </summary>
    public double? RSquared { get; init; }

    /// <summary>Whether this is a regression evaluation (the regression metrics are set).</summary>
    public bool IsRegression => MeanSquaredError is not null;

    /// <inheritdoc/>
    public override string ToString()
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(inv, $"m = {Count}, cost = {Cost:F4}");
        if (Accuracy is { } a)
        {
            sb.Append(inv, $", accuracy = {a:P2}");
            if (MultiLabelCount is { } c)
            {
                sb.Append(inv, $" (per label: {Count}·{c} cells; multi-label, no confusion matrix)");
            }
        }

        if (NonFiniteOutputCount > 0)
        {
            sb.Append(inv, $", {NonFiniteOutputCount} of {Count} outputs NaN or ±∞{(Accuracy is null ? string.Empty : " (counted wrong)")}");
        }

        if (IsRegression)
        {
            sb.Append(inv, $", MSE = {MeanSquaredError:G5}, RMSE = {RootMeanSquaredError:G5}, MAE = {MeanAbsoluteError:G5}, R² = {RSquared:F4}");
        }

        if (ConfusionMatrix is not null)
        {
            sb.AppendLine().Append(ConfusionMatrix);
        }

        return sb.ToString();
    }
}
