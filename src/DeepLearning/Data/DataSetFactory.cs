using System.Numerics;

namespace DeepLearning;

/// <summary>Ways to build a <see cref="DataSet{T}"/> and to move between class indices and target rows.</summary>
public static class DataSet
{
    /// <summary>
    /// The most classes a loader infers from the labels it reads (<see cref="Csv"/>, <see cref="Idx.Load{T}"/>) when
    /// the number of classes is not given: 100. A label column that would need more is refused with a message naming
    /// the cell, since it is far more often a regression target or an ID than a 1,000-class task; pass the number of
    /// classes (or the class names) explicitly to go beyond it.
    /// </summary>
    public const int MaxInferredClasses = 100;

    /// <summary>
    /// A classification data set from X (m, n_x) and class indices: Y is one-hot (m, C) for C ≥ 3 classes and a 0/1
    /// column (m, 1) for C = 2 (the course's binary classification).
    /// </summary>
    public static DataSet<T> FromLabels<T>(Tensor<T> x, int[] labels, int classes, IReadOnlyList<string>? classNames = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(labels);
        var y = classes == 2 ? BinaryTargets<T>(labels) : OneHot<T>(labels, classes);
        return new DataSet<T>(x, y, labels, classes, classNames);
    }

    /// <summary>A regression data set from X (m, n_x) and targets Y (m, k).</summary>
    public static DataSet<T> FromTargets<T>(Tensor<T> x, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => new(x, y);

    /// <summary>One-hot rows: Y[i, labels[i]] = 1, every other entry 0. Shape (m, classes).</summary>
    /// <exception cref="ArgumentException">A label is outside [0, classes); the message names the row.</exception>
    public static Tensor<T> OneHot<T>(int[] labels, int classes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (classes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(classes), classes, $"classes must be ≥ 1; received {classes}");
        }

        var y = new Tensor<T>(labels.Length, classes);
        var s = y.Span;
        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)classes)
            {
                throw new ArgumentException($"label of row {i} must be in [0, {classes}); received {labels[i]}", nameof(labels));
            }

            s[(i * classes) + labels[i]] = T.One;
        }

        return y;
    }

    /// <summary>A (m, 1) column holding each 0/1 label, the target of a sigmoid output.</summary>
    public static Tensor<T> BinaryTargets<T>(int[] labels)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(labels);
        var y = new Tensor<T>(labels.Length, 1);
        var s = y.Span;
        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] > 1)
            {
                throw new ArgumentException($"a binary label must be 0 or 1; row {i} holds {labels[i]}", nameof(labels));
            }

            s[i] = labels[i] == 1 ? T.One : T.Zero;
        }

        return y;
    }

    /// <summary>
    /// Class indices back from targets or predictions: the argmax of each row of a (m, C) tensor, or for a single
    /// column (m, 1) the course's threshold ŷ &gt; 0.5 → 1. Not for a multi-label sigmoid output (C &gt; 1 independent
    /// yes/no columns), whose rows have no single class: <c>Predictions.ToMultiLabel</c> gives its (m, C) 0/1 labels.
    /// </summary>
    public static int[] ToLabels<T>(Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(y);
        if (y.Rank != 2)
        {
            throw new ArgumentException($"expected a (m, C) tensor; received shape {y.ShapeText}", nameof(y));
        }

        if (y.RowLength != 1)
        {
            return ArgMax(y);
        }

        var s = y.ReadOnlySpan;
        var labels = new int[y.RowCount];
        T half = T.CreateTruncating(0.5);
        for (int i = 0; i < labels.Length; i++)
        {
            labels[i] = s[i] > half ? 1 : 0;
        }

        return labels;
    }

    /// <summary>The index of the largest entry of each row of a (m, C) tensor (the first one on ties).</summary>
    public static int[] ArgMax<T>(Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(y);
        if (y.Rank != 2 || y.RowLength < 1)
        {
            throw new ArgumentException($"expected a (m, C) tensor with C ≥ 1; received shape {y.ShapeText}", nameof(y));
        }

        return TensorMath.ArgMaxPerRow(y);
    }
}
