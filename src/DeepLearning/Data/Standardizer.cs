using System.Globalization;
using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// Zero-mean, unit-variance input normalization, as the course teaches: fit μ and σ² on the training set only, then
/// apply the same transform to every set.
/// </summary>
/// <remarks>
/// <para>μ_j = (1/m)·Σᵢ x_j⁽ⁱ⁾, σ²_j = (1/m)·Σᵢ (x_j⁽ⁱ⁾ − μ_j)², x̂_j = (x_j − μ_j) / √(σ²_j + ε).</para>
/// <para>
/// ε (default 1e-8) only guards the square root; a constant column (σ²_j = 0 on the training set) is centred but not
/// scaled (its scale is 1), so a dev example that differs from the constant is not blown up by 1/√ε.
/// Statistics are accumulated in double for both element types.
/// </para>
/// </remarks>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Standardizer<T> : IInputTransform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The value of <see cref="Kind"/>.</summary>
    public const string KindName = "standardize";

    /// <summary>The default ε.</summary>
    public const double DefaultEpsilon = 1e-8;

    private readonly T[] _mean;
    private readonly T[] _scale;
    private readonly double[] _variance;

    private Standardizer(double[] mean, double[] variance, double epsilon)
    {
        // Round the statistics to T first, so a transform restored from its exported T tensors is bit-identical.
        epsilon = RoundToT(epsilon);
        variance = variance.Select(RoundToT).ToArray();
        Epsilon = epsilon;
        _variance = variance;
        _mean = new T[mean.Length];
        _scale = new T[mean.Length];
        for (int j = 0; j < mean.Length; j++)
        {
            _mean[j] = T.CreateTruncating(mean[j]);
            _scale[j] = T.CreateTruncating(variance[j] == 0 ? 1.0 : 1.0 / Math.Sqrt(variance[j] + epsilon));
        }
    }

    /// <inheritdoc/>
    public string Kind => KindName;

    private static double RoundToT(double v) => double.CreateTruncating(T.CreateTruncating(v));

    /// <inheritdoc/>
    public int Features => _mean.Length;

    /// <summary>ε in x̂ = (x − μ) / √(σ² + ε).</summary>
    public double Epsilon { get; }

    /// <summary>The training mean μ of each feature, shape (n_x).</summary>
    public Tensor<T> Mean => Tensor.FromArray((T[])_mean.Clone());

    /// <summary>The training variance σ² of each feature (1/m, not 1/(m − 1)), shape (n_x).</summary>
    public Tensor<T> Variance => Tensor.FromArray(_variance.Select(T.CreateTruncating).ToArray());

    /// <summary>Fits μ and σ² on the rows of <paramref name="x"/> (m, n_x), m ≥ 1.</summary>
    /// <param name="x">The training inputs.</param>
    /// <param name="epsilon">ε ≥ 0 in √(σ² + ε).</param>
    public static Standardizer<T> Fit(Tensor<T> x, double epsilon = DefaultEpsilon)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (!(epsilon >= 0) || !double.IsFinite(epsilon))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, $"epsilon must be finite and ≥ 0; received {epsilon.ToString(CultureInfo.InvariantCulture)}");
        }

        if (x.Rank != 2 || x.RowCount < 1)
        {
            throw new ArgumentException($"fitting needs a (m, n_x) tensor with m ≥ 1; received shape {x.ShapeText}", nameof(x));
        }

        int m = x.RowCount;
        int n = x.RowLength;
        var s = x.ReadOnlySpan;
        var mean = new double[n];
        for (int i = 0; i < m; i++)
        {
            var row = s.Slice(i * n, n);
            for (int j = 0; j < n; j++)
            {
                mean[j] += double.CreateTruncating(row[j]);
            }
        }

        for (int j = 0; j < n; j++)
        {
            mean[j] /= m;
        }

        // Two passes: Σ(x − μ)² does not cancel the way Σx² − mμ² does.
        var variance = new double[n];
        for (int i = 0; i < m; i++)
        {
            var row = s.Slice(i * n, n);
            for (int j = 0; j < n; j++)
            {
                double d = double.CreateTruncating(row[j]) - mean[j];
                variance[j] += d * d;
            }
        }

        for (int j = 0; j < n; j++)
        {
            variance[j] /= m;
            if (!double.IsFinite(mean[j]) || !double.IsFinite(variance[j]))
            {
                throw new InvalidDataException($"feature {j} has mean {mean[j]} and variance {variance[j]} on the training set; inputs must be finite");
            }
        }

        return new Standardizer<T>(mean, variance, epsilon);
    }

    /// <summary>Fits μ and σ² on the training set's X.</summary>
    public static Standardizer<T> Fit(DataSet<T> train, double epsilon = DefaultEpsilon)
    {
        ArgumentNullException.ThrowIfNull(train);
        return Fit(train.X, epsilon);
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
    public void ApplyInPlace(Tensor<T> x)
    {
        InputTransforms.CheckInput(x, Features, Kind);
        int n = Features;
        var s = x.Span;
        ReadOnlySpan<T> mean = _mean;
        ReadOnlySpan<T> scale = _scale;
        for (int start = 0; start < s.Length; start += n)
        {
            var row = s.Slice(start, n);
            TP.Subtract(row, mean, row);
            TP.Multiply(row, scale, row);
        }
    }

    /// <inheritdoc/>
    public DataSet<T> Apply(DataSet<T> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return new DataSet<T>(Apply(data.X), data.Y.Clone(), (int[]?)data.Labels?.Clone(), data.Classes, data.ClassNames);
    }

    /// <summary>Tensors "mean" (n_x), "variance" (n_x) and "epsilon" (1).</summary>
    public IReadOnlyDictionary<string, Tensor<T>> ExportTensors() => new Dictionary<string, Tensor<T>>
    {
        ["mean"] = Mean,
        ["variance"] = Variance,
        ["epsilon"] = Tensor.FromArray(new[] { T.CreateTruncating(Epsilon) }),
    };

    internal static Standardizer<T> Restore(IReadOnlyDictionary<string, Tensor<T>> tensors)
    {
        var mean = InputTransforms.Required(tensors, KindName, "mean", -1);
        var variance = InputTransforms.Required(tensors, KindName, "variance", mean.Length);
        var epsilon = InputTransforms.Required(tensors, KindName, "epsilon", 1);
        double eps = double.CreateTruncating(epsilon[0]);
        if (eps < 0)
        {
            throw new InvalidDataException($"input transform '{KindName}': epsilon must be ≥ 0; received {eps.ToString(CultureInfo.InvariantCulture)}");
        }

        var v = new double[variance.Length];
        for (int j = 0; j < v.Length; j++)
        {
            v[j] = double.CreateTruncating(variance[j]);
            if (v[j] < 0)
            {
                throw new InvalidDataException($"input transform '{KindName}': variance of feature {j} must be ≥ 0; received {v[j].ToString(CultureInfo.InvariantCulture)}");
            }
        }

        var mu = new double[mean.Length];
        for (int j = 0; j < mu.Length; j++)
        {
            mu[j] = double.CreateTruncating(mean[j]);
        }

        return new Standardizer<T>(mu, v, eps);
    }
}

/// <summary>Shortcuts that infer the element type: <c>Standardizer.Fit(train)</c>.</summary>
public static class Standardizer
{
    /// <summary>Fits μ and σ² on the training set's X; see <see cref="Standardizer{T}"/>.</summary>
    public static Standardizer<T> Fit<T>(DataSet<T> train, double epsilon = Standardizer<T>.DefaultEpsilon)
        where T : unmanaged, IFloatingPointIeee754<T> => Standardizer<T>.Fit(train, epsilon);

    /// <summary>Fits μ and σ² on the rows of <paramref name="x"/>; see <see cref="Standardizer{T}"/>.</summary>
    public static Standardizer<T> Fit<T>(Tensor<T> x, double epsilon = Standardizer<T>.DefaultEpsilon)
        where T : unmanaged, IFloatingPointIeee754<T> => Standardizer<T>.Fit(x, epsilon);
}
