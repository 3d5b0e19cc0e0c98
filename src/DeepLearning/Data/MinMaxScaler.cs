using System.Globalization;
using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// Min-max scaling fitted on the training set: x̂_j = low + (x_j − min_j)·(high − low) / (max_j − min_j), which maps
/// each training column onto [low, high] (default [0, 1]). Dev and test values outside the training range land
/// outside [low, high]; they are not clipped.
/// </summary>
/// <remarks>A column whose range max_j − min_j exceeds double's (e.g. ±1.5e308 in a double set) is scaled all the same: the
/// range is computed as halves, so it does not overflow. A constant training column (max_j = min_j, or a range so small that (high − low)/range overflows T) is shifted but not scaled: x̂_j = low + (x_j − min_j). scikit-learn's <c>MinMaxScaler</c> scales such a column by
/// (high − low) instead, so the two agree for the default [0, 1] and differ for another range.</remarks>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class MinMaxScaler<T> : IInputTransform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The value of <see cref="Kind"/>.</summary>
    public const string KindName = "minmax";

    private readonly double[] _min;
    private readonly double[] _max;
    private readonly T[] _scale;
    private readonly T[] _offset;

    /// <summary>The multiplier of feature j, x̂_j = x_j·scale_j + offset_j (for the ONNX form).</summary>
    internal T ScaleOf(int j) => _scale[j];

    /// <summary>The offset of feature j, x̂_j = x_j·scale_j + offset_j (for the ONNX form).</summary>
    internal T OffsetOf(int j) => _offset[j];

    private MinMaxScaler(double[] min, double[] max, double low, double high)
    {
        // Round to T first, so a transform restored from its exported T tensors is bit-identical.
        min = min.Select(RoundToT).ToArray();
        max = max.Select(RoundToT).ToArray();
        low = RoundToT(low);
        high = RoundToT(high);
        _min = min;
        _max = max;
        Low = low;
        High = high;
        _scale = new T[min.Length];
        _offset = new T[min.Length];
        for (int j = 0; j < min.Length; j++)
        {
            double range = max[j] - min[j];
            double scale = range > 0 ? (high - low) / range : 1.0;
            if (double.IsPositiveInfinity(range))
            {
                // A column spanning more than double's range (±1.5e308): max − min overflows, and (high − low)/∞ = 0
                // would map every value to low. Half the range is finite (each half is exact), and so is the result.
                scale = ((high - low) / 2) / ((max[j] / 2) - (min[j] / 2));
            }

            if (!T.IsFinite(T.CreateTruncating(scale)))
            {
                // A range so small that its reciprocal overflows T (1e-39 in float) is constant at T's precision;
                // an infinite scale would turn the feature into NaN (0·∞) and ±∞.
                scale = 1.0;
            }

            _scale[j] = T.CreateTruncating(scale);
            _offset[j] = T.CreateTruncating(low - (min[j] * scale));
        }
    }

    /// <inheritdoc/>
    public string Kind => KindName;

    private static double RoundToT(double v) => double.CreateTruncating(T.CreateTruncating(v));

    /// <inheritdoc/>
    public int Features => _min.Length;

    /// <summary>The lower end of the target range.</summary>
    public double Low { get; }

    /// <summary>The upper end of the target range.</summary>
    public double High { get; }

    /// <summary>The training minimum of each feature, shape (n_x).</summary>
    public Tensor<T> Min => Tensor.FromArray(_min.Select(T.CreateTruncating).ToArray());

    /// <summary>The training maximum of each feature, shape (n_x).</summary>
    public Tensor<T> Max => Tensor.FromArray(_max.Select(T.CreateTruncating).ToArray());

    /// <summary>Fits min_j and max_j on the rows of <paramref name="x"/> (m, n_x), m ≥ 1.</summary>
    /// <param name="x">The training inputs.</param>
    /// <param name="low">The value the training minimum maps to.</param>
    /// <param name="high">
    /// The value the training maximum maps to; must exceed <paramref name="low"/> in T, with a width high − low that T
    /// can hold.
    /// </param>
    /// <exception cref="ArgumentException">The range is not finite, or not low &lt; high with a finite width in T.</exception>
    /// <exception cref="InvalidDataException"><paramref name="x"/> holds NaN or ±∞.</exception>
    public static MinMaxScaler<T> Fit(Tensor<T> x, double low = 0, double high = 1)
    {
        ArgumentNullException.ThrowIfNull(x);
        CheckRange(low, high);
        if (x.Rank != 2 || x.RowCount < 1)
        {
            throw new ArgumentException($"fitting needs a (m, n_x) tensor with m ≥ 1; received shape {x.ShapeText}", nameof(x));
        }

        int n = x.RowLength;
        var min = new double[n];
        var max = new double[n];
        Array.Fill(min, double.PositiveInfinity);
        Array.Fill(max, double.NegativeInfinity);
        var s = x.ReadOnlySpan;
        for (int k = 0; k < s.Length; k++)
        {
            double v = double.CreateTruncating(s[k]);
            if (!double.IsFinite(v))
            {
                throw new InvalidDataException($"X holds {v} at row {k / n}, column {k % n}; inputs must be finite");
            }

            int j = k % n;
            min[j] = Math.Min(min[j], v);
            max[j] = Math.Max(max[j], v);
        }

        return new MinMaxScaler<T>(min, max, low, high);
    }

    /// <summary>Fits min_j and max_j on the training set's X.</summary>
    public static MinMaxScaler<T> Fit(DataSet<T> train, double low = 0, double high = 1)
    {
        ArgumentNullException.ThrowIfNull(train);
        return Fit(train.X, low, high);
    }

    /// <inheritdoc/>
    public Tensor<T> Apply(Tensor<T> x)
    {
        InputTransforms.CheckInput(x, Features, Kind);
        var result = x.Clone();
        ApplyInPlace(result);
        return result;
    }

    /// <inheritdoc/>
    public void ApplyInPlace(Tensor<T> x) => ApplyInto(x, x);

    /// <inheritdoc/>
    public void ApplyInto(Tensor<T> x, Tensor<T> destination)
    {
        InputTransforms.CheckInto(x, destination, Features, Kind);
        int n = Features;
        var s = x.ReadOnlySpan;
        var d = destination.Span;
        ReadOnlySpan<T> scale = _scale;
        ReadOnlySpan<T> offset = _offset;
        for (int start = 0; start < s.Length; start += n)
        {
            TP.MultiplyAdd(s.Slice(start, n), scale, offset, d.Slice(start, n));
        }
    }

    /// <inheritdoc/>
    public DataSet<T> Apply(DataSet<T> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return new DataSet<T>(Apply(data.X), data.Y.Clone(), (int[]?)data.Labels?.Clone(), data.Classes, data.ClassNames);
    }

    /// <summary>Tensors "min" (n_x), "max" (n_x) and "range" (2) = [low, high].</summary>
    public IReadOnlyDictionary<string, Tensor<T>> ExportTensors() => new Dictionary<string, Tensor<T>>
    {
        ["min"] = Min,
        ["max"] = Max,
        ["range"] = Tensor.FromArray(new[] { T.CreateTruncating(Low), T.CreateTruncating(High) }),
    };

    internal static MinMaxScaler<T> Restore(IReadOnlyDictionary<string, Tensor<T>> tensors)
    {
        var min = InputTransforms.Required(tensors, KindName, "min", -1);
        var max = InputTransforms.Required(tensors, KindName, "max", min.Length);
        var range = InputTransforms.Required(tensors, KindName, "range", 2);
        var lo = new double[min.Length];
        var hi = new double[min.Length];
        for (int j = 0; j < lo.Length; j++)
        {
            lo[j] = double.CreateTruncating(min[j]);
            hi[j] = double.CreateTruncating(max[j]);
            if (hi[j] < lo[j])
            {
                throw new InvalidDataException($"input transform '{KindName}': feature {j} has max {hi[j].ToString(CultureInfo.InvariantCulture)} < min {lo[j].ToString(CultureInfo.InvariantCulture)}");
            }
        }

        double low = double.CreateTruncating(range[0]);
        double high = double.CreateTruncating(range[1]);
        try
        {
            CheckRange(low, high);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"input transform '{KindName}': {e.Message}", e);
        }

        return new MinMaxScaler<T>(lo, hi, low, high);
    }

    private static void CheckRange(double low, double high)
    {
        if (!double.IsFinite(low) || !double.IsFinite(high) || !(high > low))
        {
            throw new ArgumentException($"the target range must be finite with low < high; received low = {low.ToString(CultureInfo.InvariantCulture)}, high = {high.ToString(CultureInfo.InvariantCulture)}");
        }

        // In T: low and high distinct and the width finite. A width that overflows T (float [−3e38, 3e38]) made every
        // scale ∞, which the constant-column rule then replaced by 1, and one that rounds to 0 made every scale 0:
        // either way every feature came out constant.
        T lowT = T.CreateTruncating(low), highT = T.CreateTruncating(high);
        if (!T.IsFinite(lowT) || !T.IsFinite(highT) || !(highT > lowT) || !T.IsFinite(highT - lowT))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"the target range [low, high] must hold distinct values with a finite width high − low in {typeof(T).Name}; received low = {low}, high = {high}"));
        }
    }
}

/// <summary>Shortcuts that infer the element type: <c>MinMaxScaler.Fit(train)</c>.</summary>
public static class MinMaxScaler
{
    /// <summary>Fits the training set's per-feature min and max; see <see cref="MinMaxScaler{T}"/>.</summary>
    public static MinMaxScaler<T> Fit<T>(DataSet<T> train, double low = 0, double high = 1)
        where T : unmanaged, IFloatingPointIeee754<T> => MinMaxScaler<T>.Fit(train, low, high);
}
