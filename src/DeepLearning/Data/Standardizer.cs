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
/// ε defaults to 0, as in scikit-learn's <c>StandardScaler</c>: every feature with a non-zero spread comes out with
/// standard deviation exactly 1, however small σ_j is (σ = 1e-4 gives 1, not 0.71). A constant column (σ_j = 0, or
/// σ_j ≤ 10·ε_T·|μ_j|, within rounding noise of T relative to the mean, with ε_T = 2⁻²³ for float and 2⁻⁵² for
/// double) is centred but not scaled (its scale is 1), so a dev example that differs from the constant is not blown up.
/// In float that threshold is not tiny for large values: a column of mean 1e7 needs σ above about 11.9 to be scaled,
/// so store such data centred (or in double) if its spread is smaller. scikit-learn's bound for "constant" grows with m
/// instead (var ≤ m·ε·var + (m·μ·ε)²), so for a column whose spread is a few ulps of its mean the two can differ.
/// Statistics are accumulated in double for both element types.
/// </para>
/// <para>Use it as the model's first stage (<c>model.InputTransform = Standardizer.Fit(train)</c>): the model then
/// standardizes every raw X it is given. <see cref="Apply(Tensor{T})"/> is for using it on its own.</para>
/// </remarks>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Standardizer<T> : IInputTransform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The value of <see cref="Kind"/>.</summary>
    public const string KindName = "standardize";

    /// <summary>The default ε: 0 (scikit-learn's convention: no column's spread is shrunk; only a constant column, or one
    /// within rounding noise of its mean as the remarks define it, is left unscaled).</summary>
    public const double DefaultEpsilon = 0;

    private readonly T[] _mean;
    private readonly T[] _scale;
    private readonly double[] _variance;
    private readonly double[] _sd;

    private Standardizer(double[] mean, double[] variance, double epsilon)
    {
        // Round the statistics to T first, so a transform restored from its exported T tensors is bit-identical.
        epsilon = RoundToT(epsilon);
        variance = variance.Select(RoundToT).ToArray();
        Epsilon = epsilon;
        _variance = variance;
        _mean = new T[mean.Length];
        _scale = new T[mean.Length];
        _sd = new double[mean.Length];
        double noise = 10 * double.CreateTruncating(MachineEpsilon);
        for (int j = 0; j < mean.Length; j++)
        {
            _mean[j] = T.CreateTruncating(mean[j]);
            double sd = Math.Sqrt(variance[j] + epsilon);
            bool constant = variance[j] == 0 || Math.Sqrt(variance[j]) <= noise * Math.Abs(mean[j]);
            _sd[j] = constant ? 1.0 : sd;
            _scale[j] = T.CreateTruncating(1.0 / _sd[j]);
        }
    }

    /// <summary>The gap between 1 and the next larger T: 2⁻²³ for float, 2⁻⁵² for double.</summary>
    private static T MachineEpsilon => T.BitIncrement(T.One) - T.One;

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
    /// <param name="epsilon">ε ≥ 0 in √(σ² + ε), finite in T (an ε that overflows T, e.g. 1e300 in float, is refused).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is negative, NaN, ±∞, or overflows T.</exception>
    /// <exception cref="InvalidDataException">
    /// <paramref name="x"/> holds NaN or ±∞ (named by row and column), or a feature's σ² is too large for T (in float,
    /// a spread beyond about 1.8e19, e.g. values ±1e30): such a σ² could not be saved with the model, and its scale
    /// would round the feature to 0.
    /// </exception>
    public static Standardizer<T> Fit(Tensor<T> x, double epsilon = DefaultEpsilon) => Fit(x, epsilon, targets: false);

    /// <summary>Fits on inputs X, or on a regression's targets Y (<paramref name="targets"/>), which the messages then name.</summary>
    internal static Standardizer<T> Fit(Tensor<T> x, double epsilon, bool targets)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (!(epsilon >= 0) || !double.IsFinite(epsilon))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, $"epsilon must be finite and ≥ 0; received {epsilon.ToString(CultureInfo.InvariantCulture)}");
        }

        CheckEpsilonInT(epsilon);
        if (x.Rank != 2 || x.RowCount < 1)
        {
            throw new ArgumentException($"fitting needs a (m, n_x) tensor with m ≥ 1; received shape {x.ShapeText}", nameof(x));
        }

        FiniteCheck.RequireFinite(x, targets ? "Y" : "X");
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
            if (!double.IsFinite(mean[j]) || !T.IsFinite(T.CreateTruncating(variance[j])))
            {
                // The inputs are finite (checked above): the statistics themselves overflow. A σ² that T cannot hold
                // would be saved as ∞ (a file Model.Load refuses) and scale the feature by 1/∞ = 0.
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"{(targets ? "target column" : "feature")} {j} has mean {mean[j]:G6} and variance {variance[j]:G6} on the training set, which {typeof(T).Name} cannot hold (largest finite value {FiniteCheck.LargestFinite<T>():G8}); rescale {(targets ? "the targets" : "the feature")} (e.g. divide by a constant) or use a double model"));
            }
        }

        return new Standardizer<T>(mean, variance, epsilon);
    }

    /// <summary>
    /// ε is stored in T (so a saved model restores it bit for bit): an ε finite as a double but beyond T's range (1e300
    /// in float) would become +∞, making every σ infinite and every standardized feature 0.
    /// </summary>
    private static void CheckEpsilonInT(double epsilon)
    {
        if (!T.IsFinite(T.CreateTruncating(epsilon)))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, string.Create(CultureInfo.InvariantCulture,
                $"epsilon = {epsilon} overflows {typeof(T).Name} (largest finite value {FiniteCheck.LargestFinite<T>():G9}); ε is stored in {typeof(T).Name} and would become +∞, scaling every feature to 0"));
        }
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
    public void ApplyInPlace(Tensor<T> x) => ApplyInto(x, x);

    /// <inheritdoc/>
    public void ApplyInto(Tensor<T> x, Tensor<T> destination)
    {
        InputTransforms.CheckInto(x, destination, Features, Kind);
        int n = Features;
        var s = x.ReadOnlySpan;
        var d = destination.Span;
        ReadOnlySpan<T> mean = _mean;
        ReadOnlySpan<T> scale = _scale;
        for (int start = 0; start < s.Length; start += n)
        {
            var row = d.Slice(start, n);
            TP.Subtract(s.Slice(start, n), mean, row);
            TP.Multiply(row, scale, row);
        }
    }

    /// <summary>The inverse in place: x = x̂·√(σ² + ε) + μ (a constant column is only shifted back). Does not allocate.</summary>
    /// <param name="x">Standardized values (m, n_x).</param>
    public void InvertInPlace(Tensor<T> x)
    {
        InputTransforms.CheckInput(x, Features, Kind);
        InvertRows(x.Span);
    }

    /// <summary>The inverse in place over whole rows of n_x values laid end to end (length a multiple of n_x).</summary>
    internal void InvertRows(Span<T> s)
    {
        int n = Features;
        for (int start = 0; start + n <= s.Length; start += n)
        {
            var row = s.Slice(start, n);
            for (int j = 0; j < n; j++)
            {
                row[j] = T.CreateTruncating((double.CreateTruncating(row[j]) * _sd[j]) + double.CreateTruncating(_mean[j]));
            }
        }
    }

    /// <summary>A new tensor holding the inverse of <see cref="Apply(Tensor{T})"/>: x = x̂·√(σ² + ε) + μ.</summary>
    /// <param name="x">Standardized values (m, n_x).</param>
    public Tensor<T> Invert(Tensor<T> x)
    {
        InputTransforms.CheckInput(x, Features, Kind);
        var result = x.Clone();
        InvertInPlace(result);
        return result;
    }

    /// <summary>The divisor of feature j: √(σ²_j + ε), or 1 for a constant column.</summary>
    internal double StandardDeviation(int j) => _sd[j];

    /// <summary>
    /// Whether <paramref name="x"/> looks as if this transform had already been applied to it: for at least 90% of the
    /// features whose training mean sits at least half a standard deviation σ from 0 and whose σ is outside [1/2, 2]
    /// (where standardizing visibly moves both the mean and the spread), the data's mean d and standard
    /// deviation s both fit standardized data (|d| ≤ 0.5 and 1/3 ≤ s ≤ 3) and d is nearer 0 than μ (3·|d| &lt; |d − μ|).
    /// Raw data from a shifted distribution or a subset of the range (mean far from 0 or spread far from 1 in the
    /// original units) passes. Needs m ≥ 20 rows to judge; returns a description of the evidence, or null.
    /// </summary>
    internal string? LooksAlreadyApplied(Tensor<T> x)
    {
        if (x.Rank != 2 || x.RowLength != Features || x.RowCount < 20)
        {
            return null;
        }

        int m = Math.Min(x.RowCount, 10_000);
        int n = Features;
        var s = x.ReadOnlySpan;
        var d = new double[n];
        var squares = new double[n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double v = double.CreateTruncating(s[(i * n) + j]);
                d[j] += v;
                squares[j] += v * v;
            }
        }

        int informative = 0, nearZero = 0, example = -1;
        double exampleSpread = 0;
        for (int j = 0; j < n; j++)
        {
            // A feature is evidence only when standardizing moves both its mean (|μ| ≥ σ/2) and its spread (σ outside
            // [1/2, 2]): where σ is near 1 already, raw data from a shifted distribution looks just like standardized data.
            double mu = double.CreateTruncating(_mean[j]);
            if (_variance[j] == 0 || Math.Abs(mu) < 0.5 * _sd[j] || (_sd[j] >= 0.5 && _sd[j] <= 2))
            {
                continue;
            }

            informative++;
            d[j] /= m;
            double spread = Math.Sqrt(Math.Max(0, (squares[j] / m) - (d[j] * d[j])));
            if (Math.Abs(d[j]) * 3 < Math.Abs(d[j] - mu) && Math.Abs(d[j]) <= 0.5 && spread >= 1.0 / 3 && spread <= 3)
            {
                nearZero++;
                if (example < 0)
                {
                    example = j;
                    exampleSpread = spread;
                }
            }
        }

        if (informative == 0 || nearZero < 0.9 * informative)
        {
            return null;
        }

        return string.Create(CultureInfo.InvariantCulture,
            $"{nearZero} of the {informative} features whose training mean is far from 0 have a mean near 0 and a spread near 1 here (feature {example}: mean {d[example]:G3} and standard deviation {exampleSpread:G3}; in training {double.CreateTruncating(_mean[example]):G3} and {_sd[example]:G3})");
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
        if (!(eps >= 0) || !double.IsFinite(eps))
        {
            throw new InvalidDataException($"input transform '{KindName}': epsilon must be finite and ≥ 0; received {eps.ToString(CultureInfo.InvariantCulture)}");
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

    /// <summary>Fits μ and σ² on the training set's targets Y, for <see cref="Model{T}.TargetTransform"/> (regression).</summary>
    public static Standardizer<T> FitTargets<T>(DataSet<T> train)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(train);
        return Standardizer<T>.Fit(train.Y, Standardizer<T>.DefaultEpsilon, targets: true);
    }
}
