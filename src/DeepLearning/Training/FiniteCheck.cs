using System.Globalization;
using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// Cheap finiteness checks for the hot path: one vectorized sum, which is NaN or ±∞ whenever an element is; only when
/// it is not finite (or a large finite sum overflowed) is the span scanned to locate the culprit.
/// </summary>
internal static class FiniteCheck
{
    /// <summary>The largest finite value of <typeparamref name="T"/> as a double (3.4028235e38 for float), for limits and messages.</summary>
    public static double LargestFinite<T>()
        where T : unmanaged, IFloatingPointIeee754<T> => double.CreateTruncating(T.BitDecrement(T.PositiveInfinity));

    /// <summary>The index of the first NaN or ±∞ in <paramref name="values"/>, or −1 when all are finite.</summary>
    public static int FirstNonFinite<T>(ReadOnlySpan<T> values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (T.IsFinite(TP.Sum(values)))
        {
            return -1;
        }

        for (int i = 0; i < values.Length; i++)
        {
            if (!T.IsFinite(values[i]))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Whether rows [0, rows) of X and Y are all finite: two vectorized sums, no allocation. Call <see cref="Batch"/>
    /// (which builds the message) only when this is false.
    /// </summary>
    public static bool AllFinite<T>(Tensor<T> x, Tensor<T> y, int rows)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        FirstNonFinite(x.ReadOnlySpan[..(rows * x.RowLength)]) < 0 && FirstNonFinite(y.ReadOnlySpan[..(rows * y.RowLength)]) < 0;

    /// <summary>The first non-finite cell of the first <paramref name="rows"/> rows of a matrix, as (row, column), or null.</summary>
    public static (int Row, int Column, T Value)? Locate<T>(Tensor<T> matrix, int rows)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = matrix.RowLength;
        var s = matrix.ReadOnlySpan[..(rows * n)];
        int k = FirstNonFinite(s);
        return k < 0 ? null : (k / n, k % n, s[k]);
    }

    /// <summary>Throws <see cref="InvalidDataException"/> naming the first NaN or ±∞ of a data matrix by row and column.</summary>
    /// <param name="data">The matrix (m, n), e.g. X or Y.</param>
    /// <param name="name">Its name in the message, e.g. "X".</param>
    public static void RequireFinite<T>(Tensor<T> data, string name)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Locate(data, data.RowCount) is { } bad)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{name} holds {bad.Value} at row {bad.Row}, column {bad.Column}; data must be finite"));
        }
    }

    /// <summary>
    /// Throws <see cref="InvalidDataException"/> naming the cell when X or Y of a mini-batch holds NaN or ±∞.
    /// </summary>
    /// <param name="x">X, of which rows [0, rows) are checked.</param>
    /// <param name="y">Y, likewise.</param>
    /// <param name="rows">The rows filled.</param>
    /// <param name="what">The data's name, e.g. "the training data".</param>
    /// <param name="where">Describes row r of this batch, e.g. "at epoch 2, row 37 of the epoch (mini-batch 3, row 5)".</param>
    public static void Batch<T>(Tensor<T> x, Tensor<T> y, int rows, string what, Func<int, string> where)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Locate(x, rows) is { } bx)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{what} holds {bx.Value} in X {where(bx.Row)}, column {bx.Column}; data must be finite (rows and columns count from 0)"));
        }

        if (Locate(y, rows) is { } by)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{what} holds {by.Value} in Y {where(by.Row)}, column {by.Column}; targets must be finite (rows and columns count from 0)"));
        }
    }
}
