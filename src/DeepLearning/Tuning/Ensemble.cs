using System.Globalization;
using System.Numerics;
using System.Text;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// Averages the class-probability predictions of several models: independently trained ones (e.g.
/// the top trials of a search) or snapshots taken from one run. With weights w_k (normalized to sum
/// to 1), the ensemble predicts P = Σ_k w_k·P_k, where each member maps X (m, n_x) to P_k (m, C)
/// (C = 1 for a sigmoid output, read as P(y = 1)).
/// </summary>
/// <remarks>
/// <para>The ensemble sees only tensors, not the members' output layer: for members with a multi-label sigmoid output
/// (C &gt; 1 independent yes/no columns, <see cref="Model{T}.IsMultiLabel"/>), label the averaged P with
/// <see cref="Predictions.ToMultiLabel{T}(Tensor{T}, double)"/> and score it with <see cref="EvaluateMultiLabel"/>:
/// <see cref="PredictClasses"/> would return each row's argmax, which is no class there.</para>
/// <para>Each member's output is consumed before the next member is called, so a member may return a
/// buffer it reuses between calls. Members are called one after another, on the caller's thread.</para>
/// </remarks>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Ensemble<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Func<Tensor<T>, Tensor<T>>[] _members;
    private readonly double[] _weights;

    /// <summary>Creates an ensemble of <paramref name="members"/> with optional non-negative weights (equal by default).</summary>
    /// <param name="members">Predictors x (m, n_x) → probabilities (m, C); at least one.</param>
    /// <param name="weights">One finite weight ≥ 0 per member, not all 0; normalized to sum to 1 (any finite weights,
    /// even ones whose sum overflows a double, such as two of 1e308: those are divided by the largest first).</param>
    public Ensemble(IEnumerable<Func<Tensor<T>, Tensor<T>>> members, IEnumerable<double>? weights = null)
    {
        ArgumentNullException.ThrowIfNull(members);
        _members = members.ToArray();
        if (_members.Length == 0)
        {
            throw new ArgumentException("an ensemble needs at least one member; received none", nameof(members));
        }

        int nullIndex = Array.IndexOf(_members, null);
        if (nullIndex >= 0)
        {
            throw new ArgumentException($"ensemble member {nullIndex} is null", nameof(members));
        }

        _weights = NormalizeWeights(weights?.ToArray(), _members.Length);
    }

    /// <summary>
    /// A snapshot ensemble: the predictors of snapshots saved during one training run (e.g. at the
    /// end of each learning-rate cycle), averaged like independent members.
    /// </summary>
    /// <param name="snapshots">The snapshots' predictors, oldest first.</param>
    /// <param name="last">Use only the last this-many snapshots (null for all).</param>
    /// <param name="weights">Optional weights for the snapshots used.</param>
    public static Ensemble<T> FromSnapshots(IEnumerable<Func<Tensor<T>, Tensor<T>>> snapshots, int? last = null, IEnumerable<double>? weights = null)
    {
        ArgumentNullException.ThrowIfNull(snapshots);
        var list = snapshots.ToList();
        if (last is { } k)
        {
            if (k < 1 || k > list.Count)
            {
                throw new ArgumentOutOfRangeException(nameof(last), k, $"last must be in [1, {list.Count}] for {list.Count} snapshots; received {k}");
            }

            list = list.GetRange(list.Count - k, k);
        }

        return new Ensemble<T>(list, weights);
    }

    /// <summary>The number of members.</summary>
    public int Count => _members.Length;

    /// <summary>The normalized weights w_k (sum 1).</summary>
    public IReadOnlyList<double> Weights => _weights;

    /// <summary>P = Σ_k w_k·P_k for x (m, n_x); shape (m, C).</summary>
    /// <remarks>
    /// X is passed to the members as it is: a row of X with NaN or ±∞ gives whatever the members give for it (NaN for
    /// <see cref="Model{T}.Predict"/>). <see cref="PredictClasses"/> and <see cref="Evaluate(Tensor{T}, IReadOnlyList{int})"/>,
    /// which cannot express that, throw instead.
    /// </remarks>
    /// <exception cref="ArgumentException">A member gives no tensor of shape (m, C) with C ≥ 1 matching the others (the member is named).</exception>
    public Tensor<T> Predict(Tensor<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        Tensor<T>? sum = null;
        for (int k = 0; k < _members.Length; k++)
        {
            var p = Call(k, x, sum);
            Accumulate(ref sum, p, _weights[k]);
        }

        return sum!;
    }

    /// <summary>The ensemble's predicted class per example: argmax over C, or P &gt; 0.5 when C = 1 (as <see cref="Model{T}.PredictClasses"/>); not for multi-label members (see the remarks on <see cref="Ensemble{T}"/>).</summary>
    /// <exception cref="InvalidDataException">X holds NaN or ±∞ (the cell is named; checked before any member is called), or the averaged probabilities do (a member gave them for finite input).</exception>
    public int[] PredictClasses(Tensor<T> x)
    {
        RequireFinite(x);
        return Classes(Predict(x));
    }

    /// <summary>
    /// Accuracy of the ensemble and of each member on (x, labels), and the ensemble's gain over the
    /// best single member. Each member is called once.
    /// </summary>
    /// <param name="x">Inputs (m, n_x).</param>
    /// <param name="labels">The true class of each of the m examples, in [0, C) (0 or 1 when C = 1).</param>
    /// <exception cref="InvalidDataException">X holds NaN or ±∞ (the cell is named; checked before any member is called), or a member's probabilities do.</exception>
    /// <exception cref="ArgumentException">
    /// X has no rows (an accuracy of no examples is undefined: refused, as <see cref="DeepLearning.Accuracy"/> refuses it,
    /// rather than reported as 0), a label is out of range, or a member gives probabilities of another shape than
    /// (m, C) with C ≥ 1 (the member is named).
    /// </exception>
    public EnsembleReport Evaluate(Tensor<T> x, IReadOnlyList<int> labels)
    {
        RequireFinite(x);
        RequireExamples(x);
        ArgumentNullException.ThrowIfNull(labels);
        return Score(x, p => Accuracy(p, labels), "class");
    }

    /// <summary>
    /// As <see cref="Evaluate(Tensor{T}, IReadOnlyList{int})"/> with labels given as a tensor: one-hot
    /// Y (m, C), or 0/1 targets of shape (m, 1) or (m) for a sigmoid output.
    /// </summary>
    /// <exception cref="InvalidDataException">X or Y holds NaN or ±∞ (the cell is named), or a member's probabilities do.</exception>
    /// <exception cref="ArgumentException">
    /// X has no rows, or a row of an (m, C) Y has two or more cells &gt; 0.5: a multi-label target, with no single class (use <see cref="EvaluateMultiLabel"/>).
    /// </exception>
    public EnsembleReport Evaluate(Tensor<T> x, Tensor<T> y)
    {
        RequireFinite(x);
        RequireExamples(x);
        return Evaluate(x, Labels(y));
    }

    /// <summary>
    /// For members with a multi-label sigmoid output (Y and P of shape (m, C), each column an independent yes/no): the
    /// per-cell accuracy of the ensemble and of each member, (1/(m·C))·Σᵢ Σⱼ 1[(pⱼ⁽ⁱ⁾ &gt; 0.5) = (yⱼ⁽ⁱ⁾ &gt; 0.5)]
    /// (Keras's <c>binary_accuracy</c>, as <see cref="DeepLearning.Accuracy.MultiLabel{T}(Tensor{T}, Tensor{T}, double)"/>);
    /// label-smoothed targets count as 1 where y &gt; 0.5. Each member is called once.
    /// </summary>
    /// <param name="x">Inputs (m, n_x).</param>
    /// <param name="y">Targets (m, C), values in [0, 1].</param>
    /// <returns>The report, with accuracies over the m·C cells.</returns>
    /// <exception cref="InvalidDataException">X or Y holds NaN or ±∞ (the cell is named), or a member's probabilities do.</exception>
    /// <exception cref="ArgumentException">X has no rows, or a member's probabilities and Y differ in shape.</exception>
    public EnsembleReport EvaluateMultiLabel(Tensor<T> x, Tensor<T> y)
    {
        RequireFinite(x);
        RequireExamples(x);
        ArgumentNullException.ThrowIfNull(y);
        if (FiniteCheck.Locate(y, y.RowCount) is { } badTarget)
        {
            throw new InvalidDataException(FormattableString.Invariant($"Y holds {badTarget.Value} at row {badTarget.Row}, column {badTarget.Column}; targets must be finite"));
        }

        return Score(x, p => DeepLearning.Accuracy.MultiLabel(p, y), "labels");
    }

    // Calls each member once on x (already checked finite): each one's accuracy, then the weighted average's. A member's
    // non-finite probability is named, as a row with no `noun`.
    private EnsembleReport Score(Tensor<T> x, Func<Tensor<T>, double> accuracy, string noun)
    {
        Tensor<T>? sum = null;
        var accuracies = new double[_members.Length];
        for (int k = 0; k < _members.Length; k++)
        {
            var p = Call(k, x, sum);
            if (FiniteCheck.Locate(p, p.RowCount) is { } bad)
            {
                throw new InvalidDataException(FormattableString.Invariant($"ensemble member {k} gave {bad.Value} at row {bad.Row}, column {bad.Column} for finite X: that row has no {noun}"));
            }

            accuracies[k] = accuracy(p);
            Accumulate(ref sum, p, _weights[k]);
        }

        return new EnsembleReport(accuracy(sum!), accuracies);
    }

    /// <summary>
    /// The weighted average Σ_k w_k·P_k of predictions of equal shape (m, C), with weights
    /// normalized to sum to 1 (equal when null), as the constructor normalizes them: any finite weights ≥ 0, not all 0.
    /// </summary>
    public static Tensor<T> Average(IReadOnlyList<Tensor<T>> predictions, IReadOnlyList<double>? weights = null)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        if (predictions.Count == 0)
        {
            throw new ArgumentException("Average needs at least one prediction; received none", nameof(predictions));
        }

        var w = NormalizeWeights(weights?.ToArray(), predictions.Count);
        Tensor<T>? sum = null;
        for (int k = 0; k < predictions.Count; k++)
        {
            var p = predictions[k] ?? throw new ArgumentException($"prediction {k} is null", nameof(predictions));
            CheckShape(p, k, predictions[0].RowCount, sum ?? predictions[0], "prediction");
            Accumulate(ref sum, p, w[k]);
        }

        return sum!;
    }

    /// <summary>The predicted class of each row of probabilities (m, C): argmax, or P &gt; 0.5 when C = 1 (as <see cref="Predictions.ToLabels{T}(Tensor{T}, double)"/>: exactly 0.5 is class 0).</summary>
    /// <exception cref="InvalidDataException">A probability is NaN or ±∞ (the cell is named): that row has no class.</exception>
    /// <exception cref="ArgumentException"><paramref name="probabilities"/> is not (m, C) with C ≥ 1.</exception>
    public static int[] Classes(Tensor<T> probabilities)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        if (probabilities.Rank != 2)
        {
            throw new ArgumentException($"probabilities must have shape (m, C); received {probabilities.ShapeText}", nameof(probabilities));
        }

        if (probabilities.Dim(1) == 0)
        {
            throw new ArgumentException($"probabilities must have at least one column (C ≥ 1); received {probabilities.ShapeText}", nameof(probabilities));
        }

        // argmax of a NaN row would be 0, a plausible class; name the cell instead.
        if (FiniteCheck.Locate(probabilities, probabilities.RowCount) is { } bad)
        {
            throw new InvalidDataException(FormattableString.Invariant($"probabilities hold {bad.Value} at row {bad.Row}, column {bad.Column}; a row that is not finite has no class"));
        }

        int m = probabilities.RowCount, c = probabilities.Dim(1);
        var classes = new int[m];
        var half = T.CreateTruncating(0.5);
        for (int i = 0; i < m; i++)
        {
            var row = probabilities.Row(i);
            classes[i] = c == 1 ? (row[0] > half ? 1 : 0) : TP.IndexOfMax<T>(row);
        }

        return classes;
    }

    /// <summary>The fraction of rows whose predicted class (<see cref="Classes"/>) equals the label.</summary>
    /// <exception cref="ArgumentException">There are no rows (an accuracy of no examples is undefined), or the labels do not match them.</exception>
    public static double Accuracy(Tensor<T> probabilities, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var classes = Classes(probabilities);
        if (classes.Length == 0)
        {
            throw new ArgumentException($"probabilities hold no examples: shape {probabilities.ShapeText}; an accuracy needs at least one row", nameof(probabilities));
        }

        if (labels.Count != classes.Length)
        {
            throw new ArgumentException($"labels must have one entry per example: {classes.Length}; received {labels.Count}", nameof(labels));
        }

        int classCount = Math.Max(2, probabilities.Dim(1));
        int correct = 0;
        for (int i = 0; i < classes.Length; i++)
        {
            if ((uint)labels[i] >= (uint)classCount)
            {
                throw new ArgumentOutOfRangeException(nameof(labels), labels[i], $"label {i} must be in [0, {classCount}); received {labels[i]}");
            }

            correct += classes[i] == labels[i] ? 1 : 0;
        }

        return (double)correct / classes.Length;
    }

    // As Model.PredictClasses: a row of X with NaN or ±∞ has no class, so name the cell rather than report class 0.
    private static void RequireFinite(Tensor<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (FiniteCheck.Locate(x, x.RowCount) is { } bad)
        {
            throw new InvalidDataException(FormattableString.Invariant($"X holds {bad.Value} at row {bad.Row}, column {bad.Column}; data must be finite"));
        }
    }

    private Tensor<T> Call(int k, Tensor<T> x, Tensor<T>? reference)
    {
        var p = _members[k](x) ?? throw new InvalidOperationException($"ensemble member {k} returned null");
        CheckShape(p, k, x.RowCount, reference ?? p, "ensemble member");
        return p;
    }

    private static void CheckShape(Tensor<T> p, int k, int m, Tensor<T> reference, string what)
    {
        // (m, 0) has no class to pick: argmax of an empty row is −1, which read as a class.
        if (p.Rank == 2 && p.Dim(1) == 0)
        {
            throw new ArgumentException($"{what} {k} gave probabilities of shape {p.ShapeText}: no columns, so no classes; expected ({m}, C) with C ≥ 1");
        }

        if (p.Rank != 2 || p.RowCount != m || !p.SameShape(reference))
        {
            throw new ArgumentException($"{what} {k} gave probabilities of shape {p.ShapeText}; expected ({m}, C) matching {reference.ShapeText}");
        }
    }

    // An accuracy of no examples is 0/0: refuse, as DeepLearning.Accuracy does, rather than report 0.
    private static void RequireExamples(Tensor<T> x)
    {
        if (x.RowCount == 0)
        {
            throw new ArgumentException($"X holds no examples: shape {x.ShapeText}; an accuracy needs at least one row", nameof(x));
        }
    }

    private static void Accumulate(ref Tensor<T>? sum, Tensor<T> p, double weight)
    {
        var w = T.CreateTruncating(weight);
        if (sum is null)
        {
            sum = new Tensor<T>(p.Shape);
            TP.Multiply(p.ReadOnlySpan, w, sum.Span);
        }
        else
        {
            TP.MultiplyAdd(p.ReadOnlySpan, w, sum.ReadOnlySpan, sum.Span);
        }
    }

    private static double[] NormalizeWeights(double[]? weights, int count)
    {
        if (weights is null)
        {
            return Enumerable.Repeat(1.0 / count, count).ToArray();
        }

        if (weights.Length != count)
        {
            throw new ArgumentException($"weights must have one entry per member: {count}; received {weights.Length}", nameof(weights));
        }

        for (int k = 0; k < weights.Length; k++)
        {
            if (!(weights[k] >= 0) || !double.IsFinite(weights[k]))
            {
                throw new ArgumentOutOfRangeException(nameof(weights), weights[k], $"weight {k} must be finite and ≥ 0; received {weights[k]}");
            }
        }

        double largest = weights.Max();
        if (!(largest > 0))
        {
            throw new ArgumentException($"the weights must not all be 0; received [{string.Join(", ", weights.Select(v => v.ToString(CultureInfo.InvariantCulture)))}]", nameof(weights));
        }

        // Large finite weights (two of 1e308) sum to +∞, and v / ∞ made every weight 0; scaled by the largest first,
        // the sum lies in [1, count]. Weights whose sum is finite are divided by it directly, as before.
        double total = weights.Sum();
        if (!double.IsFinite(total))
        {
            weights = weights.Select(v => v / largest).ToArray();
            total = weights.Sum();
        }

        return weights.Select(v => v / total).ToArray();
    }

    private static int[] Labels(Tensor<T> y)
    {
        ArgumentNullException.ThrowIfNull(y);
        if (FiniteCheck.Locate(y, y.RowCount) is { } bad)
        {
            throw new InvalidDataException(FormattableString.Invariant($"Y holds {bad.Value} at row {bad.Row}, column {bad.Column}; targets must be finite"));
        }

        if (y.Rank == 2 && y.Dim(1) > 1)
        {
            for (int i = 0; i < y.RowCount; i++)
            {
                Predictions.RequireOneClass<T>(y.Row(i), i, nameof(y));
            }

            return Classes(y);
        }

        if (y.Rank > 2 || (y.Rank == 2 && y.Dim(1) != 1))
        {
            throw new ArgumentException($"labels must be one-hot (m, C) or 0/1 targets (m, 1) or (m); received {y.ShapeText}", nameof(y));
        }

        var labels = new int[y.RowCount];
        var span = y.ReadOnlySpan;
        for (int i = 0; i < labels.Length; i++)
        {
            if (span[i] != T.Zero && span[i] != T.One)
            {
                throw new ArgumentException($"0/1 target {i} must be 0 or 1; received {span[i]}", nameof(y));
            }

            labels[i] = span[i] == T.One ? 1 : 0;
        }

        return labels;
    }
}

/// <summary>
/// How an ensemble did against its members on labelled data: its accuracy, each member's, and
/// <see cref="Gain"/> = ensemble accuracy − best member's accuracy.
/// </summary>
/// <param name="EnsembleAccuracy">The accuracy of the averaged prediction.</param>
/// <param name="MemberAccuracies">Each member's own accuracy, in member order.</param>
public sealed record EnsembleReport(double EnsembleAccuracy, IReadOnlyList<double> MemberAccuracies)
{
    /// <summary>The index of the most accurate member (the first on ties).</summary>
    public int BestMemberIndex
    {
        get
        {
            int best = 0;
            for (int k = 1; k < MemberAccuracies.Count; k++)
            {
                if (MemberAccuracies[k] > MemberAccuracies[best])
                {
                    best = k;
                }
            }

            return best;
        }
    }

    /// <summary>The most accurate member's accuracy.</summary>
    public double BestMemberAccuracy => MemberAccuracies.Count == 0 ? double.NaN : MemberAccuracies[BestMemberIndex];

    /// <summary>The mean of the members' accuracies.</summary>
    public double MeanMemberAccuracy => MemberAccuracies.Count == 0 ? double.NaN : MemberAccuracies.Average();

    /// <summary>Ensemble accuracy − best member's accuracy (positive when averaging helped).</summary>
    public double Gain => EnsembleAccuracy - BestMemberAccuracy;

    /// <summary>e.g. <c>ensemble 0.9722 vs best member #1 0.9611 (gain +0.0111); members: 0.9556, 0.9611, 0.9500</c>.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"ensemble {EnsembleAccuracy:F4} vs best member #{BestMemberIndex} {BestMemberAccuracy:F4} (gain {Gain:+0.0000;-0.0000;0.0000}); members: ");
        sb.AppendJoin(", ", MemberAccuracies.Select(a => a.ToString("F4", CultureInfo.InvariantCulture)));
        return sb.ToString();
    }
}
