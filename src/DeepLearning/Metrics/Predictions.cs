using System.Globalization;
using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// Turns a model's outputs and a data set's targets into class labels, one per example (row).
/// </summary>
/// <remarks>
/// Outputs of shape (m, 1) or (m) are binary: Ŷ is the probability of class 1 and the predicted
/// label is 1 when ŷ &gt; threshold (0.5 by default, strictly greater, as the course's <c>predict</c>).
/// Outputs of shape (m, C) with C ≥ 2 are multi-class: the label is the index of the largest
/// score (argmax; the first one on ties), so probabilities and raw scores give the same labels.
/// A tensor does not say which activation made it: the (m, C) output of a multi-label sigmoid (each column an
/// independent yes/no) has no single label per row, and its labels come from <see cref="ToMultiLabel{T}(Tensor{T}, double)"/>.
/// </remarks>
public static class Predictions
{
    /// <summary>Predicted labels: 1 where ŷ &gt; threshold for (m, 1) outputs, the row's argmax for (m, C).</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="predictions">Ŷ, (m, 1), (m) or (m, C).</param>
    /// <param name="threshold">The binary decision threshold, in [0, 1].</param>
    /// <returns>m labels.</returns>
    /// <exception cref="InvalidDataException">Ŷ holds NaN or ±∞ (the row and column are named): such a row has no class.</exception>
    public static int[] ToLabels<T>(Tensor<T> predictions, double threshold = 0.5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (m, _) = Shape(predictions, nameof(predictions));
        var labels = new int[m];
        ToLabels(predictions, labels, threshold);
        return labels;
    }

    /// <summary>Writes the predicted labels into <paramref name="labels"/> without allocating.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="predictions">Ŷ, (m, 1), (m) or (m, C).</param>
    /// <param name="labels">m labels, written.</param>
    /// <param name="threshold">The binary decision threshold, in [0, 1].</param>
    /// <exception cref="InvalidDataException">Ŷ holds NaN or ±∞ (the row and column are named): such a row has no class.</exception>
    public static void ToLabels<T>(Tensor<T> predictions, Span<int> labels, double threshold = 0.5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (m, c) = Shape(predictions, nameof(predictions));
        RequireLength(labels.Length, m, nameof(labels));
        RequireFinite(predictions, c, nameof(predictions));
        FillLabels(predictions, labels, m, c, threshold);
    }

    /// <summary>
    /// <see cref="ToLabels{T}(Tensor{T}, double)"/> without the finiteness check, for <c>Evaluate</c>'s confusion matrix,
    /// whose X and Y were checked and whose NaN cost already reports a model that overflowed.
    /// </summary>
    internal static int[] ToLabelsAllowingNonFinite<T>(Tensor<T> predictions)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (m, c) = Shape(predictions, nameof(predictions));
        var labels = new int[m];
        FillLabels(predictions, labels, m, c, 0.5);
        return labels;
    }

    /// <summary>
    /// Refuses NaN or ±∞ in predictions (or targets): the argmax of a NaN row is 0 and NaN &gt; threshold is false, so the
    /// row would get a plausible class it does not have (as <c>Model.PredictClasses</c> refuses a NaN row of X).
    /// </summary>
    internal static void RequireFinite<T>(Tensor<T> tensor, int columns, string name)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = tensor.ReadOnlySpan;
        int k = FiniteCheck.FirstNonFinite(s);
        if (k >= 0)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{name} holds {s[k]} at row {k / columns}, column {k % columns}; a row with NaN or ±∞ has no class"));
        }
    }

    private static void FillLabels<T>(Tensor<T> predictions, Span<int> labels, int m, int c, double threshold)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = predictions.ReadOnlySpan;
        if (c == 1)
        {
            T cut = Threshold<T>(threshold);
            for (int i = 0; i < m; i++)
            {
                labels[i] = y[i] > cut ? 1 : 0;
            }
        }
        else
        {
            for (int i = 0; i < m; i++)
            {
                labels[i] = TP.IndexOfMax(y.Slice(i * c, c));
            }
        }
    }

    /// <summary>
    /// True labels from a target tensor: Y of shape (m, 1) or (m) must hold 0 or 1; Y of shape (m, C)
    /// (one-hot) gives each row's argmax.
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="targets">Y.</param>
    /// <returns>m labels.</returns>
    /// <exception cref="ArgumentException">
    /// A binary target is neither 0 nor 1, or a row of an (m, C) Y has two or more cells &gt; 0.5 — a multi-label
    /// target, which is no single class (use <see cref="ToMultiLabel{T}(Tensor{T}, double)"/>).
    /// </exception>
    /// <exception cref="InvalidDataException">Y holds NaN or ±∞ (the row and column are named): such a row has no class.</exception>
    public static int[] FromTargets<T>(Tensor<T> targets)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (m, c) = Shape(targets, nameof(targets));
        RequireFinite(targets, c, nameof(targets));
        var labels = new int[m];
        var y = targets.ReadOnlySpan;
        for (int i = 0; i < m; i++)
        {
            if (c > 1)
            {
                RequireOneClass(y.Slice(i * c, c), i, nameof(targets));
            }

            labels[i] = c == 1 ? BinaryTarget(y[i], i) : TP.IndexOfMax(y.Slice(i * c, c));
        }

        return labels;
    }

    /// <summary>
    /// Multi-label 0/1 labels, one per cell: label[i, j] = 1 where ŷⱼ⁽ⁱ⁾ &gt; threshold (strictly, so exactly 0.5 is 0,
    /// as for one sigmoid column), else 0. For the (m, C) output of a sigmoid layer whose C columns are independent
    /// yes/no questions (Keras's <c>(model.predict(x) &gt; 0.5).astype(int)</c>); the argmax of
    /// <see cref="ToLabels{T}(Tensor{T}, double)"/> is meaningless there. With the default threshold it also reads
    /// targets Y, label-smoothed ones included (0.95 → 1, 0.05 → 0).
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="predictions">Ŷ (or Y), (m, C), (m, 1) or (m).</param>
    /// <param name="threshold">The decision threshold, in [0, 1].</param>
    /// <returns>The (m, C) indicator matrix (C = 1 for rank 1), scikit-learn's multi-label format.</returns>
    /// <exception cref="ArgumentException">The tensor has no examples, no columns or more than two dimensions.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The threshold is outside [0, 1].</exception>
    /// <exception cref="InvalidDataException">Ŷ holds NaN or ±∞ (the row and column are named): such a cell has no label.</exception>
    public static int[,] ToMultiLabel<T>(Tensor<T> predictions, double threshold = 0.5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (m, c) = Shape(predictions, nameof(predictions));
        RequireFinite(predictions, c, nameof(predictions));
        T cut = Threshold<T>(threshold);
        var y = predictions.ReadOnlySpan;
        var labels = new int[m, c];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < c; j++)
            {
                labels[i, j] = y[(i * c) + j] > cut ? 1 : 0;
            }
        }

        return labels;
    }

    /// <summary>
    /// Refuses a target row that cannot be one class: two or more cells &gt; 0.5 sum to more than 1, so the row is no
    /// one-hot or softmax target but a multi-label one, whose argmax would be a silently wrong class.
    /// </summary>
    internal static void RequireOneClass<T>(ReadOnlySpan<T> row, int index, string name)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T half = T.CreateTruncating(0.5);
        int above = 0;
        foreach (var v in row)
        {
            above += v > half ? 1 : 0;
        }

        if (above > 1)
        {
            throw new ArgumentException(
                $"{name} row {index} has {above} of its {row.Length} cells > 0.5: a multi-label target (a sigmoid output with {row.Length} columns, each its own yes/no), not one class per row; score it with Accuracy.MultiLabel, label it with Predictions.ToMultiLabel",
                name);
        }
    }

    /// <summary>
    /// (m, C) of predictions Ŷ and targets Y of the same shape: the checks of <see cref="Shape{T}"/> on Ŷ, then Y non-null
    /// and of Ŷ's shape.
    /// </summary>
    internal static (int M, int C) ShapePair<T>(Tensor<T> predictions, Tensor<T> targets)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = Shape(predictions, nameof(predictions));
        ArgumentNullException.ThrowIfNull(targets);
        if (!predictions.SameShape(targets))
        {
            throw new ArgumentException($"targets have shape {targets.ShapeText} but predictions have shape {predictions.ShapeText}", nameof(targets));
        }

        return shape;
    }

    /// <summary>(m, C) of a prediction or target tensor: C = 1 for rank 1 and for (m, 1).</summary>
    internal static (int M, int C) Shape<T>(Tensor<T> tensor, string name)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        if (tensor.Rank > 2)
        {
            throw new ArgumentException($"{name} must be (m), (m, 1) or (m, C); received {tensor.ShapeText}", name);
        }

        int m = tensor.Dim(0);
        int c = tensor.Rank == 1 ? 1 : tensor.Dim(1);
        if (m == 0)
        {
            throw new ArgumentException($"{name} holds no examples: shape {tensor.ShapeText}", name);
        }

        if (c == 0)
        {
            throw new ArgumentException($"{name} has no columns: shape {tensor.ShapeText}", name);
        }

        return (m, c);
    }

    internal static int BinaryTarget<T>(T value, int row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (value == T.Zero)
        {
            return 0;
        }

        if (value == T.One)
        {
            return 1;
        }

        throw new ArgumentException($"binary targets must be 0 or 1; received {double.CreateChecked(value).ToString(CultureInfo.InvariantCulture)} at row {row}", "targets");
    }

    internal static T Threshold<T>(double threshold)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(threshold >= 0 && threshold <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, $"threshold must be in [0, 1]; received {threshold.ToString(CultureInfo.InvariantCulture)}");
        }

        return T.CreateChecked(threshold);
    }

    internal static void RequireLength(int actual, int m, string name)
    {
        if (actual != m)
        {
            throw new ArgumentException($"{name} has {actual} entries but the predictions have {m} examples", name);
        }
    }

    internal static void RequireLabel(int label, int classCount, int row, string name)
    {
        if ((uint)label >= (uint)classCount)
        {
            throw new ArgumentException($"{name}[{row}] = {label} is outside [0, {classCount})", name);
        }
    }
}
