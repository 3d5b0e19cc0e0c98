using System.Globalization;
using System.Numerics;
using MathNet.Numerics.LinearAlgebra;

namespace DeepLearning;

/// <summary>Ways to create tensors from .NET arrays and MathNet.Numerics matrices, and back.</summary>
public static class Tensor
{
    /// <summary>
    /// The most elements a tensor of any element type may have: <see cref="Array.MaxLength"/> less
    /// <see cref="Tensor{T}.Alignment"/> (64) elements, 2,147,483,527, because a tensor's storage is allocated with room
    /// to align its first element to 64 bytes (64 / sizeof(T) elements; one limit for float and double alike).
    /// </summary>
    public static int MaxLength { get; } = Array.MaxLength - Tensor<float>.Alignment;

    /// <summary>
    /// Why a tensor cannot have <paramref name="shape"/>, or null when it can: rank 1 to 4, every dimension ≥ 0, at most
    /// <see cref="MaxLength"/> elements in all, and the elements of each trailing block of dimensions (a row, the
    /// stride of an axis) countable in an <see cref="int"/>. A zero dimension makes 0 elements whatever the others are,
    /// so (2³¹ − 1, 0) is a valid empty shape.
    /// </summary>
    internal static string? ShapeProblem(ReadOnlySpan<int> shape)
    {
        if (shape.Length is < 1 or > 4)
        {
            return $"a tensor has rank 1 to 4; received shape {Tensor<float>.ShapeString(shape)} of rank {shape.Length}";
        }

        foreach (int d in shape)
        {
            if (d < 0)
            {
                return $"dimensions must be non-negative; received shape {Tensor<float>.ShapeString(shape)}";
            }
        }

        // Products of the last dimensions, innermost first: each is a stride or a row length (an int), and the last is
        // the element count. Each step multiplies at most int.MaxValue by int.MaxValue, so the long cannot overflow.
        long product = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            product *= shape[i];
            if (product > int.MaxValue)
            {
                return i == 0 || shape[..i].IndexOf(0) < 0
                    ? TooMany(shape)
                    : $"shape {Tensor<float>.ShapeString(shape)} is empty but its dimensions from axis {i} on hold more than {int.MaxValue} elements";
            }
        }

        return product > MaxLength ? TooMany(shape) : null;

        static string TooMany(ReadOnlySpan<int> shape) =>
            $"shape {Tensor<float>.ShapeString(shape)} holds more than {MaxLength} elements, the most a tensor can hold (Tensor.MaxLength: Array.MaxLength less room to align the storage)";
    }

    /// <summary>A rank-1 tensor holding a copy of <paramref name="values"/>.</summary>
    public static Tensor<T> FromArray<T>(T[] values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(values);
        var t = new Tensor<T>(values.Length);
        values.CopyTo(t.Span);
        return t;
    }

    /// <summary>A tensor of the given shape holding a copy of <paramref name="values"/> in row-major order.</summary>
    public static Tensor<T> FromArray<T>(T[] values, params int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(values);
        var t = new Tensor<T>(shape);
        if (t.Length != values.Length)
        {
            throw new ArgumentException($"shape {Tensor<T>.ShapeString(shape)} holds {t.Length} elements but {values.Length} values were given", nameof(values));
        }

        values.CopyTo(t.Span);
        return t;
    }

    /// <summary>A (rows, columns) tensor copied from a rectangular array.</summary>
    public static Tensor<T> FromArray<T>(T[,] values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(values);
        int m = values.GetLength(0);
        int n = values.GetLength(1);
        var t = new Tensor<T>(m, n);
        var s = t.Span;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                s[(i * n) + j] = values[i, j];
            }
        }

        return t;
    }

    /// <summary>A (rows, columns) tensor copied from a jagged array whose rows all have the same length.</summary>
    /// <exception cref="ArgumentException">A row is null or has a different length; the message names the row.</exception>
    public static Tensor<T> FromRows<T>(T[][] rows)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(rows);
        int m = rows.Length;
        int n = m == 0 ? 0 : rows[0]?.Length ?? throw new ArgumentException("row 0 is null", nameof(rows));
        var t = new Tensor<T>(m, n);
        for (int i = 0; i < m; i++)
        {
            if (rows[i] is null)
            {
                throw new ArgumentException($"row {i} is null", nameof(rows));
            }

            if (rows[i].Length != n)
            {
                throw new ArgumentException($"row {i} has {rows[i].Length} elements but row 0 has {n}; a jagged array must be rectangular", nameof(rows));
            }

            rows[i].CopyTo(t.Span.Slice(i * n, n));
        }

        return t;
    }

    /// <summary>A tensor of the given shape filled with <paramref name="value"/>.</summary>
    public static Tensor<T> Full<T>(T value, params int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = new Tensor<T>(shape);
        t.Fill(value);
        return t;
    }

    /// <summary>A tensor of the given shape with N(mean, std²) samples from <paramref name="random"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">
    /// The mean is not finite, the deviation is not finite and ≥ 0, or a sample overflows <typeparamref name="T"/>
    /// (a mean or deviation of 1e39 in float).
    /// </exception>
    public static Tensor<T> RandomNormal<T>(RandomSource random, int[] shape, double mean = 0, double standardDeviation = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(random);
        var t = new Tensor<T>(shape);
        random.FillNormal(t, mean, standardDeviation);
        RequireFiniteSamples(t, string.Create(CultureInfo.InvariantCulture, $"N(mean = {mean}, standardDeviation = {standardDeviation})"), nameof(standardDeviation));
        return t;
    }

    /// <summary>A tensor of the given shape with uniform samples in [low, high) from <paramref name="random"/>.</summary>
    /// <exception cref="ArgumentException">The bounds are not finite with low ≤ high and a finite width.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A sample overflows <typeparamref name="T"/> (high = 1e39 in float).</exception>
    public static Tensor<T> RandomUniform<T>(RandomSource random, int[] shape, double low = 0, double high = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(random);
        var t = new Tensor<T>(shape);
        random.FillUniform(t, low, high);
        RequireFiniteSamples(t, string.Create(CultureInfo.InvariantCulture, $"U(low = {low}, high = {high})"), nameof(high));
        return t;
    }

    // Finite doubles can still round to ±∞ in T: a float tensor of U(0, 1e39) came back full of ∞.
    private static void RequireFiniteSamples<T>(Tensor<T> t, string distribution, string paramName)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int bad = FiniteCheck.FirstNonFinite(t.ReadOnlySpan);
        if (bad >= 0)
        {
            throw new ArgumentOutOfRangeException(paramName, string.Create(CultureInfo.InvariantCulture, $"{distribution} drew {t.ReadOnlySpan[bad]} in {typeof(T).Name} at index {bad}: the distribution is too wide for the element type"));
        }
    }

    /// <summary>Copies a rank-2 tensor into a new rectangular array.</summary>
    public static T[,] ToArray2D<T>(this Tensor<T> tensor)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        RequireRank2(tensor);
        int m = tensor.Dim(0);
        int n = tensor.Dim(1);
        var r = new T[m, n];
        var s = tensor.ReadOnlySpan;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                r[i, j] = s[(i * n) + j];
            }
        }

        return r;
    }

    /// <summary>Copies every element into a new array, row-major.</summary>
    public static T[] ToArray<T>(this Tensor<T> tensor)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return tensor.ReadOnlySpan.ToArray();
    }

    /// <summary>
    /// A (rows, columns) tensor from a MathNet.Numerics matrix. MathNet stores column-major;
    /// the tensor is row-major, so element (i, j) is the same in both.
    /// </summary>
    public static Tensor<T> FromMatrix<T>(Matrix<T> matrix)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(matrix);
        int m = matrix.RowCount;
        int n = matrix.ColumnCount;
        var t = new Tensor<T>(m, n);
        var s = t.Span;
        if (matrix.Storage.IsDense)
        {
            // Column-major storage: element (i, j) is at j·m + i.
            T[] columnMajor = matrix.AsColumnMajorArray() ?? matrix.ToColumnMajorArray();
            for (int j = 0; j < n; j++)
            {
                for (int i = 0; i < m; i++)
                {
                    s[(i * n) + j] = columnMajor[(j * m) + i];
                }
            }
        }
        else
        {
            for (int i = 0; i < m; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    s[(i * n) + j] = matrix[i, j];
                }
            }
        }

        return t;
    }

    /// <summary>A dense MathNet.Numerics matrix with the same elements as a rank-2 tensor.</summary>
    public static Matrix<T> ToMatrix<T>(this Tensor<T> tensor)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        RequireRank2(tensor);
        int m = tensor.Dim(0);
        int n = tensor.Dim(1);
        var columnMajor = new T[m * n];
        var s = tensor.ReadOnlySpan;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                columnMajor[(j * m) + i] = s[(i * n) + j];
            }
        }

        return Matrix<T>.Build.Dense(m, n, columnMajor);
    }

    private static void RequireRank2<T>(Tensor<T> tensor)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (tensor.Rank != 2)
        {
            throw new ArgumentException($"a matrix conversion needs a rank-2 tensor; received shape {tensor.ShapeText}", nameof(tensor));
        }
    }
}
