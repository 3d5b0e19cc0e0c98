using System.Globalization;
using System.Numerics;
using System.Runtime.Intrinsics;
using DeepLearning.Kernels;

namespace DeepLearning;

/// <summary>
/// An in-memory data set: inputs X (m, n_x) and targets Y (m, C), one example per row, with the class index of each
/// example when the task is classification.
/// </summary>
/// <remarks>
/// <para>
/// Targets follow the course: for C ≥ 3 classes Y is one-hot (m, C) and the output layer is a softmax; for a binary task
/// Y is (m, 1) holding 0 or 1 and the output layer is a sigmoid; for regression Y holds the target values.
/// <see cref="Labels"/> keeps the class index y⁽ⁱ⁾ of each row for classification (null for regression).
/// </para>
/// <para>
/// Every operation that returns a data set (<see cref="Take"/>, <see cref="Slice"/>, <see cref="Shuffle(int)"/>,
/// <see cref="Concat"/>, <see cref="Split"/>) copies the rows it keeps, so the result never shares storage with its
/// source.
/// </para>
/// </remarks>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class DataSet<T> : IDataSource<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a data set from X (m, n_x) and Y (m, C), optionally with the class index of each row.</summary>
    /// <param name="x">The inputs, shape (m, n_x).</param>
    /// <param name="y">The targets, shape (m, C); C may be 0 for unlabelled data.</param>
    /// <param name="labels">The class index y⁽ⁱ⁾ ∈ [0, classes) of each row, or null for regression. The array is copied.</param>
    /// <param name="classes">The number of classes (≥ 2) when <paramref name="labels"/> is given, else 0.</param>
    /// <param name="classNames">
    /// Optional display names, one per class, indexed by label (names[y⁽ⁱ⁾] is the class of row i); null when unknown.
    /// The names are copied; they must be distinct and non-null.
    /// </param>
    /// <exception cref="ArgumentException">
    /// Shapes, labels or names disagree, or a label is not the class its row of Y gives (the argmax of the row, or for a
    /// single column y &gt; 0.5 → 1, as <see cref="DataSet.ToLabels{T}"/> reads it; label-smoothed rows agree); the
    /// message names the first offending row and both values.
    /// </exception>
    public DataSet(Tensor<T> x, Tensor<T> y, int[]? labels = null, int classes = 0, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Rank != 2)
        {
            throw new ArgumentException($"X must have shape (m, n_x); received shape {x.ShapeText}", nameof(x));
        }

        if (y.Rank != 2)
        {
            throw new ArgumentException($"Y must have shape (m, C); received shape {y.ShapeText}", nameof(y));
        }

        if (x.RowCount != y.RowCount)
        {
            throw new ArgumentException($"X and Y must have the same number of rows m; received X {x.ShapeText} and Y {y.ShapeText}", nameof(y));
        }

        if (labels is null)
        {
            if (classes != 0)
            {
                throw new ArgumentException($"classes must be 0 when no labels are given; received {classes}", nameof(classes));
            }

            if (classNames is not null)
            {
                throw new ArgumentException("classNames were given without labels", nameof(classNames));
            }
        }
        else
        {
            // A copy, taken before it is checked: the caller editing its array afterwards must not change the classes
            // (ClassCounts, a stratified Split) of this data set, nor put a label out of range.
            labels = (int[])labels.Clone();
            if (classes < 2)
            {
                throw new ArgumentOutOfRangeException(nameof(classes), classes, $"classes must be ≥ 2 when labels are given; received {classes}");
            }

            if (labels.Length != x.RowCount)
            {
                throw new ArgumentException($"labels has {labels.Length} entries but X has {x.RowCount} rows", nameof(labels));
            }

            for (int i = 0; i < labels.Length; i++)
            {
                if ((uint)labels[i] >= (uint)classes)
                {
                    throw new ArgumentException($"label of row {i} must be in [0, {classes}); received {labels[i]}", nameof(labels));
                }
            }

            int expected = classes == 2 ? 1 : classes;
            if (y.RowLength != expected && !(classes == 2 && y.RowLength == 2))
            {
                throw new ArgumentException($"for {classes} classes Y must have {expected} column(s){(classes == 2 ? " (0/1) or 2 (one-hot)" : " (one-hot)")}; received shape {y.ShapeText}", nameof(y));
            }

            if (classNames is not null && classNames.Count != classes)
            {
                throw new ArgumentException($"classNames has {classNames.Count} names but there are {classes} classes", nameof(classNames));
            }

            RequireLabelsMatchTargets(y, labels);
        }

        X = x;
        Y = y;
        Labels = labels;
        Classes = classes;
        ClassNames = CopyClassNames(classNames);
    }

    /// <summary>The inputs X, shape (m, n_x).</summary>
    public Tensor<T> X { get; }

    /// <summary>The targets Y, shape (m, C): one-hot classes, a 0/1 column for a binary task, or regression targets.</summary>
    public Tensor<T> Y { get; }

    /// <summary>
    /// The class index y⁽ⁱ⁾ of each row for classification; null for regression. The set's own array (copied from the
    /// one it was made from), as <see cref="X"/> and <see cref="Y"/> are its own tensors: an element changed here must
    /// be changed in Y too, or class counts and stratified splits disagree with the targets.
    /// </summary>
    public int[]? Labels { get; }

    /// <summary>The number of classes for classification (2 for a binary task); 0 for regression.</summary>
    public int Classes { get; }

    /// <summary>
    /// The display name of each class, indexed by label (ClassNames[y⁽ⁱ⁾] names row i's class); null when unknown or for
    /// regression. Set by the readers that know them (text labels in <see cref="Csv"/>, <see cref="Datasets"/>) and kept
    /// by every operation that returns a data set (<see cref="Take"/>, <see cref="Slice"/>, <see cref="Select"/>,
    /// <see cref="Shuffle(int)"/>, <see cref="Concat"/>, <see cref="Split"/>, <see cref="SplitByCount"/>,
    /// <see cref="ToOneHotTargets"/>, and the scalers' Apply).
    /// </summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>The number of examples m.</summary>
    public int Count => X.RowCount;

    long IDataSource<T>.Count => X.RowCount;

    /// <summary>The number of input features n_x.</summary>
    public int Features => X.RowLength;

    /// <summary>The number of target columns C.</summary>
    public int Targets => Y.RowLength;

    /// <summary>True when the rows carry class labels.</summary>
    public bool IsClassification => Labels is not null;

    /// <summary>The number of rows of each class (length <see cref="Classes"/>).</summary>
    /// <exception cref="InvalidOperationException">The data set has no labels.</exception>
    public int[] ClassCounts()
    {
        var labels = RequireLabels("ClassCounts");
        var counts = new int[Classes];
        foreach (int l in labels)
        {
            counts[l]++;
        }

        return counts;
    }

    /// <summary>
    /// scikit-learn's <c>compute_class_weight("balanced")</c> for <see cref="TrainingOptions{T}.ClassWeights"/>: wⱼ = m/(C·mⱼ),
    /// m the rows, C = <see cref="Classes"/> and mⱼ the rows of class j, so every class contributes the same total weight
    /// (m/C) and balanced classes all weigh 1. Count the training rows only (compute it on the part you train on).
    /// </summary>
    /// <returns>C weights, indexed by label.</returns>
    /// <exception cref="InvalidOperationException">The data set has no labels, or a class has no rows (its weight would be ∞; the class is named).</exception>
    public double[] BalancedClassWeights()
    {
        RequireLabels("BalancedClassWeights");
        var counts = ClassCounts();
        var weights = new double[counts.Length];
        for (int j = 0; j < counts.Length; j++)
        {
            if (counts[j] == 0)
            {
                string name = ClassNames is { } names ? $" (\"{names[j]}\")" : string.Empty;
                throw new InvalidOperationException($"class {j}{name} has no rows in this data set of {Count}, so its balanced weight m/(C·0) would be ∞: give weights yourself, or balance the data set that has it");
            }

            weights[j] = Count / ((double)counts.Length * counts[j]);
        }

        return weights;
    }

    /// <summary>The first <paramref name="count"/> rows (a copy). <c>Take(16)</c> is handy for a gradient check.</summary>
    public DataSet<T> Take(int count)
    {
        if (count < 0 || count > Count)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"count must be in [0, {Count}]; received {count}");
        }

        return Slice(0, count);
    }

    /// <summary>Rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) (a copy).</summary>
    public DataSet<T> Slice(int start, int count)
    {
        if (start < 0 || count < 0 || start > Count - count)
        {
            throw new ArgumentOutOfRangeException(nameof(start), $"rows [{start}, {(long)start + count}) are outside a data set of {Count} rows");
        }

        return new DataSet<T>(
            X.Rows(start, count).Clone(),
            Y.Rows(start, count).Clone(),
            Labels?.AsSpan(start, count).ToArray(),
            Classes,
            ClassNames);
    }

    /// <summary>The rows at <paramref name="indices"/>, in that order (a copy; an index may repeat).</summary>
    public DataSet<T> Select(ReadOnlySpan<int> indices)
    {
        int n = Features;
        int c = Targets;
        var x = new Tensor<T>(indices.Length, n);
        var y = new Tensor<T>(indices.Length, c);
        var labels = Labels is null ? null : new int[indices.Length];
        var xs = X.ReadOnlySpan;
        var ys = Y.ReadOnlySpan;
        var xd = x.Span;
        var yd = y.Span;
        for (int r = 0; r < indices.Length; r++)
        {
            int i = indices[r];
            if ((uint)i >= (uint)Count)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), $"index {i} at position {r} is outside [0, {Count})");
            }

            xs.Slice(i * n, n).CopyTo(xd.Slice(r * n, n));
            ys.Slice(i * c, c).CopyTo(yd.Slice(r * c, c));
            if (labels is not null)
            {
                labels[r] = Labels![i];
            }
        }

        return new DataSet<T>(x, y, labels, Classes, ClassNames);
    }

    /// <summary>The rows in a random order drawn from <paramref name="seed"/> (a copy). Same seed, same order.</summary>
    public DataSet<T> Shuffle(int seed) => Shuffle(new RandomSource(seed));

    /// <summary>The rows in a random order drawn from <paramref name="random"/> (a copy).</summary>
    public DataSet<T> Shuffle(RandomSource random)
    {
        ArgumentNullException.ThrowIfNull(random);
        return Select(random.Permutation(Count));
    }

    /// <summary>This data set's rows followed by <paramref name="other"/>'s (a copy). Shapes and classes must agree.</summary>
    public DataSet<T> Concat(DataSet<T> other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Features != Features || other.Targets != Targets || other.Classes != Classes)
        {
            throw new ArgumentException($"cannot concatenate a data set with n_x = {other.Features}, C = {other.Targets}, {other.Classes} classes to one with n_x = {Features}, C = {Targets}, {Classes} classes", nameof(other));
        }

        if (ClassNames is not null && other.ClassNames is not null && !ClassNames.SequenceEqual(other.ClassNames, StringComparer.Ordinal))
        {
            throw new ArgumentException($"cannot concatenate data sets whose class names differ: [{string.Join(", ", other.ClassNames)}] and [{string.Join(", ", ClassNames)}]", nameof(other));
        }

        int m = Count + other.Count;
        var x = new Tensor<T>(m, Features);
        var y = new Tensor<T>(m, Targets);
        X.ReadOnlySpan.CopyTo(x.Span);
        other.X.ReadOnlySpan.CopyTo(x.Span[X.Length..]);
        Y.ReadOnlySpan.CopyTo(y.Span);
        other.Y.ReadOnlySpan.CopyTo(y.Span[Y.Length..]);
        int[]? labels = Labels is null ? null : [.. Labels, .. other.Labels!];
        return new DataSet<T>(x, y, labels, Classes, ClassNames ?? other.ClassNames);
    }

    /// <summary>
    /// Splits the rows into train, dev and test sets by fractions (the course's 60/20/20 for a few thousand examples,
    /// 98/1/1 for millions). The rows are shuffled with <paramref name="seed"/> first; no row lands in two parts and
    /// every row lands in one. Sizes: m_dev = round(m·dev), m_test = min(round(m·test), m − m_dev), m_train = the rest
    /// (rounding half away from zero: Split(0, 0.5, 0.5) of 3 rows gives 0, 2 and 1).
    /// </summary>
    /// <param name="train">The fraction for training, in [0, 1].</param>
    /// <param name="dev">The fraction for the dev (hold-out cross-validation) set, in [0, 1].</param>
    /// <param name="test">The fraction for the test set, in [0, 1]. The three must sum to 1.</param>
    /// <param name="seed">Seed of the shuffle.</param>
    /// <param name="stratify">Keep each class's share the same in every part: each part of n rows holds n·m_c/m rows of
    /// class c (m_c rows of it in all), rounded down or up, so always less than one row off; needs labels.</param>
    public (DataSet<T> Train, DataSet<T> Dev, DataSet<T> Test) Split(double train, double dev, double test, int seed = 0, bool stratify = false)
    {
        CheckFraction(train, nameof(train));
        CheckFraction(dev, nameof(dev));
        CheckFraction(test, nameof(test));
        double sum = train + dev + test;
        if (Math.Abs(sum - 1) > 1e-6)
        {
            throw new ArgumentException($"train + dev + test must be 1; received {train.ToString(CultureInfo.InvariantCulture)} + {dev.ToString(CultureInfo.InvariantCulture)} + {test.ToString(CultureInfo.InvariantCulture)} = {sum.ToString(CultureInfo.InvariantCulture)}");
        }

        int m = Count;
        int nDev = (int)Math.Round(m * dev, MidpointRounding.AwayFromZero);
        int nTest = Math.Min(m - nDev, (int)Math.Round(m * test, MidpointRounding.AwayFromZero));
        return SplitCore(m - nDev - nTest, nDev, nTest, seed, stratify);
    }

    /// <summary>
    /// Splits the rows into train, dev and test sets of exactly the given sizes, after a shuffle with
    /// <paramref name="seed"/>. The sizes may sum to less than m (the remaining rows are left out) but not more.
    /// </summary>
    /// <param name="train">Rows in the training set.</param>
    /// <param name="dev">Rows in the dev set.</param>
    /// <param name="test">Rows in the test set.</param>
    /// <param name="seed">Seed of the shuffle.</param>
    /// <param name="stratify">Keep each class's share the same in every part: each part of n rows (the rows left out
    /// too) holds n·m_c/m rows of class c (m_c rows of it in all), rounded down or up, so always less than one row off;
    /// needs labels.</param>
    public (DataSet<T> Train, DataSet<T> Dev, DataSet<T> Test) SplitByCount(int train, int dev, int test, int seed = 0, bool stratify = false)
    {
        if (train < 0 || dev < 0 || test < 0 || (long)train + dev + test > Count)
        {
            throw new ArgumentException($"split sizes must be ≥ 0 and sum to at most m = {Count}; received train = {train}, dev = {dev}, test = {test}");
        }

        return SplitCore(train, dev, test, seed, stratify);
    }

    /// <summary>
    /// The same data with two-column one-hot targets (m, 2) instead of a 0/1 column, for a softmax output on a binary
    /// task. Returns this data set unchanged when Y already has more than one column.
    /// </summary>
    public DataSet<T> ToOneHotTargets()
    {
        var labels = RequireLabels("ToOneHotTargets");
        if (Targets > 1)
        {
            return this;
        }

        return new DataSet<T>(X.Clone(), DataSet.OneHot<T>(labels, Classes), (int[])labels.Clone(), Classes, ClassNames);
    }

    /// <summary>Throws an <see cref="InvalidDataException"/> naming the first NaN or ±∞ in X or Y, if any.</summary>
    public void EnsureFinite()
    {
        FiniteCheck.RequireFinite(X, "X");
        FiniteCheck.RequireFinite(Y, "Y");
    }

    /// <inheritdoc/>
    public IBatchReader<T> OpenEpoch(int batchSize, RandomSource? random)
    {
        BatchBuffers.CheckBatchSize(batchSize);
        return new Reader(this, batchSize, random?.Permutation(Count));
    }

    /// <summary>A one-line summary: m, n_x, C and the classes.</summary>
    public override string ToString()
        => $"DataSet<{typeof(T).Name}>: m = {Count}, n_x = {Features}, C = {Targets}" + (Labels is not null ? $", {Classes} classes" : Targets == 0 ? ", unlabeled" : ", regression");

    private static void CheckFraction(double f, string name)
    {
        if (!(f >= 0 && f <= 1))
        {
            throw new ArgumentOutOfRangeException(name, f, $"{name} must be in [0, 1]; received {f.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    // Training and evaluation read Y; stratified splits and ClassCounts read the labels: both must name the same class,
    // by the rule DataSet.ToLabels uses (a single column's y > 0.5 is class 1; otherwise the first largest entry), so
    // label-smoothed rows (0.05/0.95) agree too. A row holding NaN or ±∞ is left to the finiteness checks, which name it.
    private static void RequireLabelsMatchTargets(Tensor<T> y, int[] labels)
    {
        int c = y.RowLength;
        var s = y.ReadOnlySpan;
        var fromLabels = DataSet.ToLabels(y);
        for (int i = 0; i < labels.Length; i++)
        {
            var row = s.Slice(i * c, c);
            int fromY = fromLabels[i];
            if (fromY != labels[i] && FiniteCheck.FirstNonFinite(row) < 0)
            {
                string values = c == 1
                    ? string.Create(CultureInfo.InvariantCulture, $"Y[{i}, 0] = {row[0]}, which is class {fromY} (y > 0.5 is class 1)")
                    : string.Create(CultureInfo.InvariantCulture, $"Y[{i}, {labels[i]}] = {row[labels[i]]} but Y[{i}, {fromY}] = {row[fromY]}, so Y says class {fromY}");
                throw new ArgumentException($"labels and Y disagree at row {i}: labels[{i}] = {labels[i]} but {values}; give labels that match Y (DataSet.FromLabels builds Y from the labels, DataSet.ToLabels the labels from Y)", nameof(labels));
            }
        }
    }

    /// <summary>A read-only copy of <paramref name="names"/> (null stays null), refusing a null or repeated name.</summary>
    internal static IReadOnlyList<string>? CopyClassNames(IReadOnlyList<string>? names)
    {
        if (names is null)
        {
            return null;
        }

        var copy = names.ToArray();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int k = 0; k < copy.Length; k++)
        {
            if (copy[k] is null)
            {
                throw new ArgumentException($"classNames[{k}] is null", "classNames");
            }

            if (!seen.Add(copy[k]))
            {
                throw new ArgumentException($"classNames holds \"{copy[k]}\" twice (at index {k}); class names must be distinct", "classNames");
            }
        }

        return Array.AsReadOnly(copy);
    }

    private int[] RequireLabels(string operation)
        => Labels ?? throw new InvalidOperationException($"{operation} needs class labels, but this data set has none (Labels is null: a regression set, or one made from targets alone; DataSet.FromLabels gives labels)");

    private (DataSet<T> Train, DataSet<T> Dev, DataSet<T> Test) SplitCore(int nTrain, int nDev, int nTest, int seed, bool stratify)
    {
        var random = new RandomSource(seed);
        int[] order = stratify
            ? StratifiedOrder(RequireLabels("a stratified split"), Classes, [nTrain, nDev, nTest, Count - nTrain - nDev - nTest], random)
            : random.Permutation(Count);
        var train = order.AsSpan(0, nTrain);
        var dev = order.AsSpan(nTrain, nDev);
        var test = order.AsSpan(nTrain + nDev, nTest);

        // A stratified order lists each part class by class; shuffle inside each part so its stored order is random too.
        random.Shuffle(train);
        random.Shuffle(dev);
        random.Shuffle(test);
        return (Select(train), Select(dev), Select(test));
    }

    /// <summary>
    /// Orders the rows as consecutive parts of the given sizes (the last part, the rows left out, may be empty) so that
    /// part p holds k_pc rows of class c with |k_pc − size_p·m_c/m| &lt; 1 (exactly size_p·m_c/m when that is whole).
    /// The counts are found first (<see cref="StratifiedCounts"/>), then each class's rows, in a random order, are dealt
    /// to the parts. Cutting one proportional order at two points is not enough: a middle part is the difference of two
    /// prefixes, each off by up to one row, so it could be off by nearly two.
    /// </summary>
    private static int[] StratifiedOrder(int[] labels, int classes, int[] sizes, RandomSource random)
    {
        int m = labels.Length;
        var byClass = new List<int>[classes];
        for (int c = 0; c < classes; c++)
        {
            byClass[c] = [];
        }

        foreach (int i in random.Permutation(m)) // a random order inside each class
        {
            byClass[labels[i]].Add(i);
        }

        var counts = byClass.Select(rows => rows.Count).ToArray();
        var k = StratifiedCounts(sizes, counts, random.Permutation(classes));
        var start = new int[sizes.Length];
        for (int p = 1; p < sizes.Length; p++)
        {
            start[p] = start[p - 1] + sizes[p - 1];
        }

        var order = new int[m];
        for (int c = 0; c < classes; c++)
        {
            int taken = 0;
            for (int p = 0; p < sizes.Length; p++)
            {
                for (int j = 0; j < k[p, c]; j++)
                {
                    order[start[p]++] = byClass[c][taken++];
                }
            }
        }

        return order;
    }

    /// <summary>
    /// Rounds the proportional counts q_pc = size_p·m_c/m (Σ_p size_p = m) to integers k_pc ∈ {⌊q_pc⌋, ⌈q_pc⌉} whose
    /// row sums are the part sizes and column sums the class counts. Such a rounding exists: the fractional parts of
    /// q form a flow with those residual sums through edges of capacity 1, so an integral one does too. Largest
    /// fractional parts are rounded up first (ties broken by <paramref name="classRank"/>, a random order of the
    /// classes); augmenting paths then finish what that greedy pass leaves.
    /// </summary>
    private static int[,] StratifiedCounts(int[] sizes, int[] classCounts, int[] classRank)
    {
        int parts = sizes.Length, classes = classCounts.Length;
        long m = sizes.Sum(s => (long)s);
        var k = new int[parts, classes];
        if (m == 0)
        {
            return k;
        }

        var up = new bool[parts, classes]; // rounded up
        var partNeed = (int[])sizes.Clone();
        var classNeed = (int[])classCounts.Clone();
        var remainders = new List<(long Remainder, int Part, int Class)>();
        for (int p = 0; p < parts; p++)
        {
            for (int c = 0; c < classes; c++)
            {
                long q = (long)sizes[p] * classCounts[c];
                k[p, c] = (int)(q / m);
                partNeed[p] -= k[p, c];
                classNeed[c] -= k[p, c];
                if (q % m != 0)
                {
                    remainders.Add((q % m, p, c));
                }
            }
        }

        var rankOf = new int[classes];
        for (int r = 0; r < classes; r++)
        {
            rankOf[classRank[r]] = r;
        }

        remainders.Sort((a, b) => a.Remainder != b.Remainder ? b.Remainder.CompareTo(a.Remainder)
            : a.Class != b.Class ? rankOf[a.Class].CompareTo(rankOf[b.Class]) : a.Part.CompareTo(b.Part));
        var candidate = new bool[parts, classes];
        foreach (var (_, p, c) in remainders)
        {
            candidate[p, c] = true;
            if (partNeed[p] > 0 && classNeed[c] > 0)
            {
                up[p, c] = true;
                partNeed[p]--;
                classNeed[c]--;
            }
        }

        // Each augmenting path starts at a part still short of rows, alternates "round (p, c) up" and "round (p', c)
        // back down", and ends at a class still short of rows.
        for (int p0 = 0; p0 < parts; p0++)
        {
            while (partNeed[p0] > 0)
            {
                var classFrom = new int[classes]; // the part whose edge reached class c, or −1
                var partFrom = new int[parts]; // the class whose edge reached part p, or −1; −2 for the start
                Array.Fill(classFrom, -1);
                Array.Fill(partFrom, -1);
                partFrom[p0] = -2;
                var queue = new Queue<int>();
                queue.Enqueue(p0);
                int end = -1;
                while (queue.Count > 0 && end < 0)
                {
                    int p = queue.Dequeue();
                    for (int c = 0; c < classes && end < 0; c++)
                    {
                        if (!candidate[p, c] || up[p, c] || classFrom[c] >= 0)
                        {
                            continue;
                        }

                        classFrom[c] = p;
                        if (classNeed[c] > 0)
                        {
                            end = c;
                            break;
                        }

                        for (int q = 0; q < parts; q++)
                        {
                            if (up[q, c] && partFrom[q] == -1)
                            {
                                partFrom[q] = c;
                                queue.Enqueue(q);
                            }
                        }
                    }
                }

                if (end < 0)
                {
                    throw new InvalidOperationException("internal error: no stratified rounding found; please report this with the class counts and split sizes");
                }

                classNeed[end]--;
                partNeed[p0]--;
                for (int c = end; c >= 0;)
                {
                    int p = classFrom[c];
                    up[p, c] = true;
                    int previous = partFrom[p];
                    if (previous >= 0)
                    {
                        up[p, previous] = false;
                    }

                    c = previous;
                }
            }
        }

        for (int p = 0; p < parts; p++)
        {
            for (int c = 0; c < classes; c++)
            {
                k[p, c] += up[p, c] ? 1 : 0;
            }
        }

        return k;
    }

    private sealed class Reader : IBatchReader<T>, IPrefetchingReader<T>
    {
        private readonly DataSet<T> _data;
        private readonly int _batchSize;
        private readonly int[]? _permutation;
        private int _position;
        private PrefetchJob? _prefetch;

        public Reader(DataSet<T> data, int batchSize, int[]? permutation)
        {
            _data = data;
            _batchSize = batchSize;
            _permutation = permutation;
        }

        public int Next(Tensor<T> x, Tensor<T> y)
        {
            if (_prefetch is { IsPending: true })
            {
                throw new InvalidOperationException("Next was called while a prefetched mini-batch is pending; call CompletePrefetch first");
            }

            BatchBuffers.Check(x, y, _batchSize, _data.Features, _data.Targets);
            int rows = Math.Min(_batchSize, _data.Count - _position);
            if (rows <= 0)
            {
                return 0;
            }

            Copy(x, y, _position, rows, parallel: true);
            _position += rows;
            return rows;
        }

        public bool TryPrefetch(Tensor<T> x, Tensor<T> y)
        {
            var job = _prefetch ??= new PrefetchJob(this);
            if (job.IsPending)
            {
                throw new InvalidOperationException("a mini-batch is already being prefetched");
            }

            BatchBuffers.Check(x, y, _batchSize, _data.Features, _data.Targets);
            int rows = Math.Max(0, Math.Min(_batchSize, _data.Count - _position));
            job.X = x;
            job.Y = y;
            job.Start = _position;
            job.Rows = rows;
            if (rows > 0 && !GemmThreadPool.Shared.TryPost(job))
            {
                job.X = null;
                job.Y = null;
                return false;
            }

            _position += rows;
            job.Ready = true;
            return true;
        }

        public int CompletePrefetch()
        {
            var job = _prefetch;
            if (job is null || !job.Ready)
            {
                throw new InvalidOperationException("no mini-batch is being prefetched");
            }

            job.Ready = false;
            job.Complete();
            job.X = null;
            job.Y = null;
            return job.Rows;
        }

        // Rows [start, start + rows) of the epoch's order → x, y. In parallel: wide rows are split over the GEMM pool's
        // threads, since the shuffled rows come from main memory and two cores keep more cache misses in flight.
        private unsafe void Copy(Tensor<T> x, Tensor<T> y, int start, int rows, bool parallel)
        {
            int n = _data.Features;
            int c = _data.Targets;
            var xs = _data.X.ReadOnlySpan;
            var ys = _data.Y.ReadOnlySpan;
            var xd = x.Span;
            var yd = y.Span;
            if (_permutation is null)
            {
                xs.Slice(start * n, rows * n).CopyTo(xd);
                ys.Slice(start * c, rows * c).CopyTo(yd);
                return;
            }

            fixed (T* source = xs)
            fixed (T* destination = xd)
            fixed (int* order = &_permutation[start])
            {
                var gather = new GatherRows(source, destination, order, n);
                if (parallel)
                {
                    ParallelRange.For(rows, gather, minimumPerThread: Math.Max(1, 8192 / Math.Max(1, n)), granule: 1);
                }
                else
                {
                    gather.Invoke(0, rows);
                }
            }

            for (int r = 0; r < rows; r++)
            {
                int i = _permutation[start + r];
                ys.Slice(i * c, c).CopyTo(yd.Slice(r * c, c));
            }
        }

        public void Dispose()
        {
            // A prefetch still running writes into the caller's buffers: wait for it. What it threw no longer matters
            // (the epoch is being abandoned, usually because of another exception).
            if (_prefetch is { IsPending: true } job)
            {
                try
                {
                    job.Complete();
                }
                catch (Exception)
                {
                }
            }
        }

        // The next mini-batch's rows, copied by a helper thread (on one thread: the other core is busy with the step).
        private sealed class PrefetchJob(Reader reader) : SideJob
        {
            public Tensor<T>? X;
            public Tensor<T>? Y;
            public int Start;
            public int Rows;
            public bool Ready;

            protected override void Execute() => reader.Copy(X!, Y!, Start, Rows, parallel: false);
        }

        // Rows are copied eight at a time, 32 bytes of each in turn, so eight rows' cache misses are in flight at
        // once; a row-by-row copy waits for each row's first miss before it starts the next row.
        private readonly unsafe struct GatherRows(T* source, T* destination, int* order, int n) : IRangeBody
        {
            private const int RowGroup = 8;

            public void Invoke(int start, int end)
            {
                nint bytes = (nint)n * sizeof(T);
                int r = start;
                if (Vector256.IsHardwareAccelerated && bytes >= 32)
                {
                    byte** from = stackalloc byte*[RowGroup];
                    for (; r + RowGroup <= end; r += RowGroup)
                    {
                        for (int j = 0; j < RowGroup; j++)
                        {
                            from[j] = (byte*)(source + ((nint)order[r + j] * n));
                        }

                        CopyGroup(from, (byte*)(destination + ((nint)r * n)), bytes);
                    }
                }

                for (; r < end; r++)
                {
                    new ReadOnlySpan<T>(source + ((nint)order[r] * n), n).CopyTo(new Span<T>(destination + ((nint)r * n), n));
                }
            }

            // RowGroup rows of `bytes` (≥ 32) bytes each from from[j] to to + j·bytes; the last 32 bytes of each row
            // are copied from bytes − 32, over bytes already copied when the row is not a multiple of 32 bytes.
            private static void CopyGroup(byte** from, byte* to, nint bytes)
            {
                nint last = bytes - 32;
                for (nint offset = 0; ; offset += 32)
                {
                    offset = Math.Min(offset, last);
                    var v0 = Vector256.Load(from[0] + offset);
                    var v1 = Vector256.Load(from[1] + offset);
                    var v2 = Vector256.Load(from[2] + offset);
                    var v3 = Vector256.Load(from[3] + offset);
                    var v4 = Vector256.Load(from[4] + offset);
                    var v5 = Vector256.Load(from[5] + offset);
                    var v6 = Vector256.Load(from[6] + offset);
                    var v7 = Vector256.Load(from[7] + offset);
                    v0.Store(to + offset);
                    v1.Store(to + bytes + offset);
                    v2.Store(to + (2 * bytes) + offset);
                    v3.Store(to + (3 * bytes) + offset);
                    v4.Store(to + (4 * bytes) + offset);
                    v5.Store(to + (5 * bytes) + offset);
                    v6.Store(to + (6 * bytes) + offset);
                    v7.Store(to + (7 * bytes) + offset);
                    if (offset == last)
                    {
                        return;
                    }
                }
            }
        }
    }
}
