using System.Globalization;
using System.Numerics;
using System.Text;

namespace DeepLearning;

/// <summary>
/// Counts of (true class, predicted class) pairs over a data set, with per-class precision, recall
/// and F1 and their macro averages. Rows are the true class, columns the predicted class.
/// </summary>
/// <remarks>
/// <para>For class c: TP = count[c, c]; FP = Σ column c − TP; FN = Σ row c − TP;
/// precision = TP/(TP + FP); recall = TP/(TP + FN); F1 = 2·precision·recall/(precision + recall).</para>
/// <para>Where a denominator is zero the value is defined as 0: precision of a class never
/// predicted, recall of a class absent from the data, F1 when precision and recall are both 0.
/// This matches scikit-learn's default <c>zero_division</c> (which also warns).</para>
/// <para>Macro averages are plain means over the classes present in the true labels or the predictions, the set
/// K = {c : Support(c) + Predicted(c) &gt; 0}: macro F1 = (1/|K|)·Σ_{c∈K} F1(c), and likewise for precision and
/// recall, as scikit-learn's <c>f1_score(average='macro')</c> averages over <c>unique_labels(y_true, y_pred)</c>.
/// A class of the model that neither occurs nor is predicted (e.g. missing from a small dev set) is left out
/// instead of counting as a 0 that perfect predictions could not lift; a class predicted but never true (recall 0)
/// or true but never predicted (precision 0) still counts. With no examples K is empty and the averages are 0, as
/// <see cref="Accuracy"/> is.</para>
/// <para>A multi-label output (a sigmoid with C &gt; 1 columns, each its own yes/no) has no C×C matrix: a row may have
/// several true and several predicted labels, or none. <see cref="Compute{T}(Tensor{T}, Tensor{T}, double)"/> refuses
/// such targets (a row with two or more cells &gt; 0.5), <c>Model.Evaluate</c> leaves its matrix null, and
/// <see cref="PerLabel{T}(Tensor{T}, Tensor{T}, double)"/> gives one 2×2 matrix per label instead (scikit-learn's
/// <c>multilabel_confusion_matrix</c>).</para>
/// <para>An example whose model output held NaN or ±∞ (a model that overflowed) has no predicted class: <c>Model.Evaluate</c>
/// counts it as <see cref="Unclassified"/> for its true class instead of in a column, so it is in <see cref="Support"/>,
/// <see cref="Total"/> and the false negatives (wrong, lowering recall and accuracy) and predicted as no class (leaving
/// every precision as it was). The matrices of <see cref="FromLabels"/> and <see cref="Compute{T}(Tensor{T}, ReadOnlySpan{int}, double)"/> never have any.</para>
/// </remarks>
public sealed class ConfusionMatrix
{
    private readonly long[] _counts;
    private readonly long[] _unclassified;

    /// <summary>Creates an empty matrix for <paramref name="classCount"/> classes, to fill with <see cref="Add(int, int)"/>.</summary>
    /// <param name="classCount">C ≥ 2, with C² counts fitting in one array (C ≤ 46,340).</param>
    /// <exception cref="ArgumentOutOfRangeException">C &lt; 2, or C² exceeds the largest array.</exception>
    public ConfusionMatrix(int classCount)
    {
        if (classCount < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(classCount), classCount, $"classCount must be at least 2; received {classCount}");
        }

        // C² wrapped around int (an OverflowException from the allocation) or asked for tens of gigabytes.
        if ((long)classCount * classCount > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(classCount), classCount, $"classCount {classCount} needs {(long)classCount * classCount} counts (C²), more than the largest array holds ({Array.MaxLength})");
        }

        ClassCount = classCount;
        _counts = new long[classCount * classCount];
        _unclassified = new long[classCount];
    }

    /// <summary>The number of classes C.</summary>
    public int ClassCount { get; }

    /// <summary>Display names of the C classes (index order) used by <see cref="ToString()"/> and plots, or null for the indices.</summary>
    /// <exception cref="ArgumentException">The number of names is not C.</exception>
    public IReadOnlyList<string>? ClassNames
    {
        get;
        init
        {
            if (value is not null && value.Count != ClassCount)
            {
                throw new ArgumentException($"classNames has {value.Count} names but the matrix has {ClassCount} classes", nameof(value));
            }

            field = value;
        }
    }

    /// <summary>The number of examples counted, <see cref="UnclassifiedTotal"/> included.</summary>
    public long Total { get; private set; }

    /// <summary>
    /// The number of examples counted with no predicted class because the model's output for them held NaN or ±∞
    /// (Σ_c <see cref="Unclassified"/>(c)); 0 unless a model overflowed.
    /// </summary>
    public long UnclassifiedTotal { get; private set; }

    /// <summary>The number of examples of true class <paramref name="actual"/> predicted as <paramref name="predicted"/>.</summary>
    /// <param name="actual">The true class.</param>
    /// <param name="predicted">The predicted class.</param>
    /// <exception cref="ArgumentOutOfRangeException">A class is not in [0, C); the message names the argument and value.</exception>
    public long this[int actual, int predicted]
    {
        get
        {
            RequireClass(actual, nameof(actual));
            RequireClass(predicted, nameof(predicted));
            return _counts[(actual * ClassCount) + predicted];
        }
    }

    /// <summary>The fraction of examples on the diagonal: Σ TP / total (unclassified examples count as wrong); 0 when empty.</summary>
    public double Accuracy => Total == 0 ? 0 : (double)Enumerable.Range(0, ClassCount).Sum(c => _counts[(c * ClassCount) + c]) / Total;

    /// <summary>
    /// The mean of the per-class precisions over the classes present, (1/|K|)·Σ_{c∈K} precision(c) with
    /// K = {c : <see cref="Support"/>(c) + <see cref="Predicted"/>(c) &gt; 0}; 0 when there are no examples.
    /// </summary>
    public double MacroPrecision => MacroAverage(Precision);

    /// <summary>
    /// The mean of the per-class recalls over the classes present, (1/|K|)·Σ_{c∈K} recall(c) with
    /// K = {c : <see cref="Support"/>(c) + <see cref="Predicted"/>(c) &gt; 0}; 0 when there are no examples.
    /// </summary>
    public double MacroRecall => MacroAverage(Recall);

    /// <summary>
    /// The mean of the per-class F1 scores over the classes present, (1/|K|)·Σ_{c∈K} F1(c) with
    /// K = {c : <see cref="Support"/>(c) + <see cref="Predicted"/>(c) &gt; 0} (not the F1 of the macro precision and
    /// recall); 0 when there are no examples.
    /// </summary>
    public double MacroF1 => MacroAverage(F1);

    /// <summary>
    /// The number of classes the macro averages go over, |K|: those that occur in the true labels or the predictions
    /// (<see cref="Support"/>(c) + <see cref="Predicted"/>(c) &gt; 0).
    /// </summary>
    public int PresentClassCount => Enumerable.Range(0, ClassCount).Count(IsPresent);

    /// <summary>Counts predictions against integer labels; binary (m, 1) outputs give a 2-class matrix, (m, C) outputs a C-class one.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="predictions">Ŷ, (m, 1), (m) or (m, C).</param>
    /// <param name="labels">m true labels.</param>
    /// <param name="threshold">The binary decision threshold (predict 1 where ŷ &gt; threshold).</param>
    /// <returns>The matrix.</returns>
    /// <exception cref="ArgumentException">Lengths differ, a label is out of range, or there are no examples.</exception>
    /// <exception cref="InvalidDataException">Ŷ holds NaN or ±∞ (the row and column are named): such a row has no class.</exception>
    public static ConfusionMatrix Compute<T>(Tensor<T> predictions, ReadOnlySpan<int> labels, double threshold = 0.5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (_, c) = Predictions.Shape(predictions, nameof(predictions));
        var predicted = Predictions.ToLabels(predictions, threshold);
        return FromLabels(labels, predicted, Math.Max(c, 2));
    }

    /// <summary>Counts predictions against a target tensor of Ŷ's shape (0/1 for (m, 1), one-hot for (m, C)).</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="predictions">Ŷ.</param>
    /// <param name="targets">Y.</param>
    /// <param name="threshold">The binary decision threshold.</param>
    /// <returns>The matrix.</returns>
    /// <exception cref="ArgumentException">
    /// Shapes differ, a binary target is not 0 or 1, or a row of an (m, C) Y has two or more cells &gt; 0.5 (a
    /// multi-label target: use <see cref="PerLabel{T}(Tensor{T}, Tensor{T}, double)"/>).
    /// </exception>
    /// <exception cref="InvalidDataException">Ŷ or Y holds NaN or ±∞ (the row and column are named): such a row has no class.</exception>
    public static ConfusionMatrix Compute<T>(Tensor<T> predictions, Tensor<T> targets, double threshold = 0.5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(targets);
        if (!predictions.SameShape(targets))
        {
            throw new ArgumentException($"targets have shape {targets.ShapeText} but predictions have shape {predictions.ShapeText}", nameof(targets));
        }

        return Compute(predictions, Predictions.FromTargets(targets), threshold);
    }

    /// <summary>
    /// One 2×2 matrix per label of a multi-label output (a sigmoid with C independent yes/no columns), scikit-learn's
    /// <c>multilabel_confusion_matrix</c>: matrix j counts (y_j &gt; 0.5, ŷ_j &gt; threshold) over the m rows, so its
    /// [1, 1] is label j's TP, [0, 1] its FP, [1, 0] its FN and [0, 0] its TN, and its <see cref="Precision"/>(1),
    /// <see cref="Recall"/>(1) and <see cref="F1"/>(1) are label j's. Label-smoothed targets count as 1 where y &gt; 0.5.
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="predictions">Ŷ, (m, C), (m, 1) or (m).</param>
    /// <param name="targets">Y, the same shape, values in [0, 1].</param>
    /// <param name="threshold">Predict 1 where ŷ &gt; threshold (exactly the threshold is 0).</param>
    /// <returns>C matrices of 2 classes (0 = no, 1 = yes), in column order.</returns>
    /// <exception cref="ArgumentException">Shapes differ or there are no examples.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The threshold is outside [0, 1].</exception>
    /// <exception cref="InvalidDataException">Ŷ or Y holds NaN or ±∞ (the row and column are named): such a cell has no label.</exception>
    public static ConfusionMatrix[] PerLabel<T>(Tensor<T> predictions, Tensor<T> targets, double threshold = 0.5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (m, c) = Predictions.ShapePair(predictions, targets);
        Predictions.RequireFinite(predictions, c, nameof(predictions));
        Predictions.RequireFinite(targets, c, nameof(targets));

        T cut = Predictions.Threshold<T>(threshold);
        T half = T.CreateTruncating(0.5);
        var y = predictions.ReadOnlySpan;
        var t = targets.ReadOnlySpan;
        var matrices = new ConfusionMatrix[c];
        for (int j = 0; j < c; j++)
        {
            var matrix = matrices[j] = new ConfusionMatrix(2);
            for (int i = 0; i < m; i++)
            {
                int k = (i * c) + j;
                matrix._counts[((t[k] > half ? 1 : 0) * 2) + (y[k] > cut ? 1 : 0)]++;
            }

            matrix.Total = m;
        }

        return matrices;
    }

    /// <summary>Counts pairs of true and predicted labels.</summary>
    /// <param name="actual">True labels in 0..C−1.</param>
    /// <param name="predicted">Predicted labels in 0..C−1, as many as <paramref name="actual"/>.</param>
    /// <param name="classCount">C ≥ 2.</param>
    /// <returns>The matrix.</returns>
    /// <exception cref="ArgumentException">Lengths differ or a label is out of range.</exception>
    public static ConfusionMatrix FromLabels(ReadOnlySpan<int> actual, ReadOnlySpan<int> predicted, int classCount)
    {
        if (actual.Length != predicted.Length)
        {
            throw new ArgumentException($"predicted has {predicted.Length} labels but actual has {actual.Length}", nameof(predicted));
        }

        var matrix = new ConfusionMatrix(classCount);
        for (int i = 0; i < actual.Length; i++)
        {
            Predictions.RequireLabel(actual[i], classCount, i, nameof(actual));
            Predictions.RequireLabel(predicted[i], classCount, i, nameof(predicted));
            matrix._counts[(actual[i] * classCount) + predicted[i]]++;
        }

        matrix.Total = actual.Length;
        return matrix;
    }

    /// <summary>Counts one more example (for accumulating over mini-batches).</summary>
    /// <param name="actual">Its true class.</param>
    /// <param name="predicted">Its predicted class.</param>
    /// <exception cref="ArgumentOutOfRangeException">A class is not in [0, C); the message names the argument and value.</exception>
    public void Add(int actual, int predicted)
    {
        RequireClass(actual, nameof(actual));
        RequireClass(predicted, nameof(predicted));
        _counts[(actual * ClassCount) + predicted]++;
        Total++;
    }

    /// <summary>
    /// Counts one more example of true class <paramref name="actual"/> that has no predicted class (the model's output
    /// for it held NaN or ±∞): wrong, a false negative of its class and a prediction of none.
    /// </summary>
    internal void AddUnclassified(int actual)
    {
        RequireClass(actual, nameof(actual));
        _unclassified[actual]++;
        UnclassifiedTotal++;
        Total++;
    }

    /// <summary>
    /// The number of examples of true class <paramref name="actual"/> with no predicted class: the model's output for
    /// them held NaN or ±∞. They are in <see cref="Support"/> and <see cref="FalseNegatives"/>, in no column.
    /// </summary>
    /// <param name="actual">The true class.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="actual"/> is not in [0, C); the message names it.</exception>
    /// <returns>The count.</returns>
    public long Unclassified(int actual)
    {
        RequireClass(actual, nameof(actual));
        return _unclassified[actual];
    }

    /// <summary>TP of class c: examples of class c predicted as c.</summary>
    /// <param name="c">The class.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="c"/> is not in [0, C); the message names it.</exception>
    /// <returns>The count.</returns>
    public long TruePositives(int c)
    {
        RequireClass(c, nameof(c));
        return _counts[(c * ClassCount) + c];
    }

    /// <summary>FP of class c: examples of other classes predicted as c.</summary>
    /// <param name="c">The class.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="c"/> is not in [0, C); the message names it.</exception>
    /// <returns>The count.</returns>
    public long FalsePositives(int c) => Predicted(c) - TruePositives(c);

    /// <summary>FN of class c: examples of class c predicted as another class or as none (<see cref="Unclassified"/>).</summary>
    /// <param name="c">The class.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="c"/> is not in [0, C); the message names it.</exception>
    /// <returns>The count.</returns>
    public long FalseNegatives(int c) => Support(c) - TruePositives(c);

    /// <summary>The number of examples whose true class is c (the row sum, plus <see cref="Unclassified"/>(c)).</summary>
    /// <param name="c">The class.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="c"/> is not in [0, C); the message names it.</exception>
    /// <returns>The count.</returns>
    public long Support(int c)
    {
        RequireClass(c, nameof(c));
        long sum = _unclassified[c];
        for (int j = 0; j < ClassCount; j++)
        {
            sum += _counts[(c * ClassCount) + j];
        }

        return sum;
    }

    /// <summary>The number of examples predicted as class c (the column sum).</summary>
    /// <param name="c">The class.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="c"/> is not in [0, C); the message names it.</exception>
    /// <returns>The count.</returns>
    public long Predicted(int c)
    {
        RequireClass(c, nameof(c));
        long sum = 0;
        for (int i = 0; i < ClassCount; i++)
        {
            sum += _counts[(i * ClassCount) + c];
        }

        return sum;
    }

    /// <summary>Precision of class c: TP/(TP + FP); 0 when class c is never predicted.</summary>
    /// <param name="c">The class.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="c"/> is not in [0, C); the message names it.</exception>
    /// <returns>The precision.</returns>
    public double Precision(int c) => Ratio(TruePositives(c), Predicted(c));

    /// <summary>Recall of class c: TP/(TP + FN); 0 when class c never occurs.</summary>
    /// <param name="c">The class.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="c"/> is not in [0, C); the message names it.</exception>
    /// <returns>The recall.</returns>
    public double Recall(int c) => Ratio(TruePositives(c), Support(c));

    /// <summary>F1 of class c: 2·P·R/(P + R), the harmonic mean of precision and recall; 0 when both are 0.</summary>
    /// <param name="c">The class.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="c"/> is not in [0, C); the message names it.</exception>
    /// <returns>The F1 score.</returns>
    public double F1(int c)
    {
        double p = Precision(c), r = Recall(c);
        return p + r == 0 ? 0 : 2 * p * r / (p + r);
    }

    /// <inheritdoc/>
    public override string ToString() => ToString(ClassNames);

    /// <summary>
    /// The matrix (rows true, columns predicted), then precision, recall, F1 and support per class,
    /// the macro averages (noting how many classes they cover when some are neither true nor predicted) and the accuracy.
    /// </summary>
    /// <param name="classNames">C names to label rows and columns; class indices when null.</param>
    /// <returns>The text.</returns>
    /// <exception cref="ArgumentException">The number of names is not C.</exception>
    public string ToString(IReadOnlyList<string>? classNames)
    {
        if (classNames is not null && classNames.Count != ClassCount)
        {
            throw new ArgumentException($"classNames has {classNames.Count} names but the matrix has {ClassCount} classes", nameof(classNames));
        }

        var inv = CultureInfo.InvariantCulture;
        string[] names = Enumerable.Range(0, ClassCount).Select(c => classNames?[c] ?? c.ToString(inv)).ToArray();
        const string Corner = "true \\ predicted";
        int nameWidth = Math.Max(Corner.Length, names.Max(n => n.Length));
        const string NoClass = "no class (NaN)";
        bool unclassified = UnclassifiedTotal > 0;
        int cell = Math.Max(names.Max(n => n.Length), Math.Max(_counts.Max(), _unclassified.Max()).ToString(inv).Length) + 2;

        var sb = new StringBuilder();
        sb.Append(Corner.PadRight(nameWidth));
        foreach (var n in names)
        {
            sb.Append(n.PadLeft(cell));
        }

        if (unclassified)
        {
            sb.Append(NoClass.PadLeft(Math.Max(cell, NoClass.Length + 2)));
        }

        sb.AppendLine();
        for (int i = 0; i < ClassCount; i++)
        {
            sb.Append(names[i].PadRight(nameWidth));
            for (int j = 0; j < ClassCount; j++)
            {
                sb.Append(_counts[(i * ClassCount) + j].ToString(inv).PadLeft(cell));
            }

            if (unclassified)
            {
                sb.Append(_unclassified[i].ToString(inv).PadLeft(Math.Max(cell, NoClass.Length + 2)));
            }

            sb.AppendLine();
        }

        sb.AppendLine();
        sb.Append("class".PadRight(nameWidth)).AppendLine("  precision     recall         F1    support");
        for (int c = 0; c < ClassCount; c++)
        {
            sb.Append(names[c].PadRight(nameWidth))
              .Append(inv, $"{Precision(c),11:F4}{Recall(c),11:F4}{F1(c),11:F4}{Support(c),11}")
              .AppendLine();
        }

        sb.Append("macro avg".PadRight(nameWidth))
          .Append(inv, $"{MacroPrecision,11:F4}{MacroRecall,11:F4}{MacroF1,11:F4}{Total,11}");
        int present = PresentClassCount;
        if (present < ClassCount)
        {
            sb.Append(inv, $"  (over the {present} of {ClassCount} classes true or predicted)");
        }

        sb.AppendLine();
        sb.Append("accuracy".PadRight(nameWidth)).Append(inv, $"{Accuracy,33:F4}{Total,11}");
        return sb.ToString();
    }

    // One class argument (not a span's entry, which Predictions.RequireLabel names with its index).
    private void RequireClass(int c, string name)
    {
        if ((uint)c >= (uint)ClassCount)
        {
            throw new ArgumentOutOfRangeException(name, c, $"{name} must be a class in [0, {ClassCount}); received {c}");
        }
    }

    // Class c occurs as a true label or as a prediction: a nonzero count in its row or its column.
    private bool IsPresent(int c) => Support(c) + Predicted(c) > 0;

    // The mean of a per-class score over the present classes K; 0 when K is empty (no examples).
    private double MacroAverage(Func<int, double> score)
    {
        double sum = 0;
        int n = 0;
        for (int c = 0; c < ClassCount; c++)
        {
            if (IsPresent(c))
            {
                sum += score(c);
                n++;
            }
        }

        return n == 0 ? 0 : sum / n;
    }

    private static double Ratio(long numerator, long denominator) => denominator == 0 ? 0 : (double)numerator / denominator;
}
