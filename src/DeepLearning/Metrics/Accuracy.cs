using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// Accuracy: the fraction of examples whose predicted label equals the true label, in [0, 1].
/// Binary for outputs of shape (m, 1) or (m) (label 1 where ŷ &gt; threshold), multi-class for (m, C)
/// (label = argmax of the row); see <see cref="Predictions"/>. Multi-label for the (m, C) output of a sigmoid
/// (each column its own yes/no) with <see cref="MultiLabel{T}(Tensor{T}, Tensor{T}, double)"/>: the fraction of the
/// m·C cells right. Nothing is allocated.
/// </summary>
public static class Accuracy
{
    /// <summary>Accuracy against integer labels, binary or multi-class by the shape of Ŷ.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="predictions">Ŷ, (m, 1), (m) or (m, C).</param>
    /// <param name="labels">m true labels: 0 or 1 for binary, 0..C−1 for multi-class.</param>
    /// <param name="threshold">The binary decision threshold.</param>
    /// <returns>The fraction correct.</returns>
    /// <exception cref="ArgumentException">Lengths differ, a label is out of range, or there are no examples.</exception>
    /// <exception cref="InvalidDataException">Ŷ holds NaN or ±∞ (the row and column are named): such a row has no class.</exception>
    public static double Compute<T>(Tensor<T> predictions, ReadOnlySpan<int> labels, double threshold = 0.5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (m, c) = Predictions.Shape(predictions, nameof(predictions));
        Predictions.RequireLength(labels.Length, m, nameof(labels));
        Predictions.RequireFinite(predictions, c, nameof(predictions));
        var y = predictions.ReadOnlySpan;
        int correct = 0;
        if (c == 1)
        {
            T cut = Predictions.Threshold<T>(threshold);
            for (int i = 0; i < m; i++)
            {
                Predictions.RequireLabel(labels[i], 2, i, nameof(labels));
                correct += (y[i] > cut ? 1 : 0) == labels[i] ? 1 : 0;
            }
        }
        else
        {
            for (int i = 0; i < m; i++)
            {
                Predictions.RequireLabel(labels[i], c, i, nameof(labels));
                correct += TP.IndexOfMax(y.Slice(i * c, c)) == labels[i] ? 1 : 0;
            }
        }

        return (double)correct / m;
    }

    /// <summary>Accuracy against a target tensor Y of Ŷ's shape: 0/1 targets for (m, 1), one-hot rows for (m, C).</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="predictions">Ŷ.</param>
    /// <param name="targets">Y, same shape as Ŷ.</param>
    /// <param name="threshold">The binary decision threshold.</param>
    /// <returns>The fraction correct.</returns>
    /// <exception cref="ArgumentException">
    /// Shapes differ, a binary target is not 0 or 1, there are no examples, or a row of an (m, C) Y has two or more
    /// cells &gt; 0.5 (a multi-label target: use <see cref="MultiLabel{T}(Tensor{T}, Tensor{T}, double)"/>).
    /// </exception>
    /// <exception cref="InvalidDataException">Ŷ or Y holds NaN or ±∞ (the row and column are named): such a row has no class.</exception>
    public static double Compute<T>(Tensor<T> predictions, Tensor<T> targets, double threshold = 0.5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (m, _) = Predictions.Shape(predictions, nameof(predictions));
        return (double)CountCorrect(predictions, targets, threshold) / m;
    }

    /// <summary>
    /// The number of rows classified correctly against targets Y (one-hot rows, or a 0/1 column for a single output):
    /// argmax agreement, or ŷ &gt; threshold against y for one column. Allocates nothing (the fit loop calls it per mini-batch).
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The shapes differ, a binary target is not 0 or 1, or a row of an (m, C) Y has two or more cells &gt; 0.5 (a
    /// multi-label target, which has no single class: use <see cref="MultiLabel{T}(Tensor{T}, Tensor{T}, double)"/>).
    /// </exception>
    /// <exception cref="InvalidDataException">Ŷ or Y holds NaN or ±∞ (the row and column are named): such a row has no class.</exception>
    public static int CountCorrect<T>(Tensor<T> predictions, Tensor<T> targets, double threshold = 0.5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (_, c) = Predictions.ShapePair(predictions, targets);
        Predictions.RequireFinite(predictions, c, nameof(predictions));
        Predictions.RequireFinite(targets, c, nameof(targets));
        return CountCorrect(predictions, targets, threshold, probabilityTargets: false, checkOneClass: true);
    }

    /// <summary>
    /// Multi-label accuracy, Keras's <c>binary_accuracy</c>: for Ŷ and Y of shape (m, C) from a sigmoid output whose C
    /// columns are independent yes/no questions, the fraction of the m·C cells predicted right,
    /// accuracy = (1/(m·C))·Σᵢ Σⱼ 1[(ŷⱼ⁽ⁱ⁾ &gt; threshold) = (yⱼ⁽ⁱ⁾ &gt; 0.5)].
    /// A cell is predicted 1 strictly above the threshold (exactly 0.5 is 0, as for one sigmoid column); a target counts
    /// as 1 where y &gt; 0.5, so label-smoothed targets (0.05/0.95) score as 0/1. 1 − accuracy is the Hamming loss.
    /// For C = 1 this is the binary accuracy. Allocates nothing.
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="probabilities">Ŷ, (m, C), (m, 1) or (m).</param>
    /// <param name="targets">Y, the same shape, values in [0, 1].</param>
    /// <param name="threshold">The decision threshold, in [0, 1].</param>
    /// <returns>The fraction of cells right, in [0, 1].</returns>
    /// <exception cref="ArgumentException">The shapes differ or there are no examples.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The threshold is outside [0, 1].</exception>
    /// <exception cref="InvalidDataException">Ŷ or Y holds NaN or ±∞ (the row and column are named): such a cell has no label.</exception>
    public static double MultiLabel<T>(Tensor<T> probabilities, Tensor<T> targets, double threshold = 0.5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (m, c) = Predictions.Shape(probabilities, nameof(probabilities));
        long correct = CountCorrectLabels(probabilities, targets, threshold); // checks the shapes and the threshold
        Predictions.RequireFinite(probabilities, c, nameof(probabilities));
        Predictions.RequireFinite(targets, c, nameof(targets));
        return (double)correct / ((long)m * c);
    }

    /// <summary>
    /// The number of cells (of m·C) of a multi-label output right: (ŷ &gt; threshold) = (y &gt; 0.5). Allocates nothing
    /// (the fit loop calls it per mini-batch).
    /// </summary>
    internal static long CountCorrectLabels<T>(Tensor<T> predictions, Tensor<T> targets, double threshold)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Predictions.ShapePair(predictions, targets);

        T cut = Predictions.Threshold<T>(threshold);
        T half = T.CreateTruncating(0.5);
        var y = predictions.ReadOnlySpan;
        var t = targets.ReadOnlySpan;
        long correct = 0;
        for (int k = 0; k < y.Length; k++)
        {
            correct += (y[k] > cut) == (t[k] > half) ? 1 : 0;
        }

        return correct;
    }

    /// <summary>
    /// <see cref="CountCorrect{T}(Tensor{T}, Tensor{T}, double)"/> for the fit loop and evaluation, which accept a single
    /// sigmoid column of probability targets (e.g. label-smoothed 0.1/0.9): with <paramref name="probabilityTargets"/>
    /// such a target counts as label 1 where y &gt; 0.5 (as the confusion matrix reads it) instead of being refused.
    /// The model's own callers pass <paramref name="checkOneClass"/> false: they route a multi-label output elsewhere,
    /// and the fit loop's softmax targets are checked to sum to 1 (so never hold two cells &gt; 0.5).
    /// </summary>
    internal static int CountCorrect<T>(Tensor<T> predictions, Tensor<T> targets, double threshold, bool probabilityTargets, bool checkOneClass = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (m, c) = Predictions.ShapePair(predictions, targets);

        var y = predictions.ReadOnlySpan;
        var t = targets.ReadOnlySpan;
        int correct = 0;
        if (c == 1)
        {
            T cut = Predictions.Threshold<T>(threshold);
            T half = T.CreateTruncating(0.5);
            for (int i = 0; i < m; i++)
            {
                int label = probabilityTargets ? (t[i] > half ? 1 : 0) : Predictions.BinaryTarget(t[i], i);
                correct += (y[i] > cut ? 1 : 0) == label ? 1 : 0;
            }
        }
        else
        {
            for (int i = 0; i < m; i++)
            {
                if (checkOneClass)
                {
                    Predictions.RequireOneClass(t.Slice(i * c, c), i, nameof(targets));
                }

                correct += TP.IndexOfMax(y.Slice(i * c, c)) == TP.IndexOfMax(t.Slice(i * c, c)) ? 1 : 0;
            }
        }

        return correct;
    }

    /// <summary>Binary accuracy: Ŷ is (m, 1) or (m) probabilities of class 1; labels are 0 or 1.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="probabilities">Ŷ.</param>
    /// <param name="labels">m labels, each 0 or 1.</param>
    /// <param name="threshold">Predict 1 where ŷ &gt; threshold.</param>
    /// <returns>The fraction correct.</returns>
    /// <exception cref="ArgumentException">Ŷ has more than one column, or another check of <see cref="Compute{T}(Tensor{T}, ReadOnlySpan{int}, double)"/> fails.</exception>
    public static double Binary<T>(Tensor<T> probabilities, ReadOnlySpan<int> labels, double threshold = 0.5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Predictions.Shape(probabilities, nameof(probabilities)).C != 1)
        {
            throw new ArgumentException($"binary accuracy needs probabilities of shape (m, 1); received {probabilities.ShapeText}", nameof(probabilities));
        }

        return Compute(probabilities, labels, threshold);
    }

    /// <summary>Multi-class accuracy: label = argmax of each row of Ŷ (m, C), C ≥ 2.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="scores">Ŷ, probabilities or raw scores.</param>
    /// <param name="labels">m labels in 0..C−1.</param>
    /// <returns>The fraction correct.</returns>
    /// <exception cref="ArgumentException">Ŷ has one column, or another check of <see cref="Compute{T}(Tensor{T}, ReadOnlySpan{int}, double)"/> fails.</exception>
    public static double MultiClass<T>(Tensor<T> scores, ReadOnlySpan<int> labels)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Predictions.Shape(scores, nameof(scores)).C < 2)
        {
            throw new ArgumentException($"multi-class accuracy needs scores of shape (m, C) with C ≥ 2; received {scores.ShapeText}", nameof(scores));
        }

        return Compute(scores, labels);
    }
}
