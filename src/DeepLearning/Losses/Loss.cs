using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// A cost fused with the output activation, so the output gradient is the course's dZ = (Ŷ − Y)/m:
/// softmax with categorical cross-entropy, sigmoid with binary cross-entropy, and a linear output with
/// mean squared error. Costs are computed from Z (the output layer's input) with log-sum-exp, never log 0.
/// A linear (regression) output may instead use <see cref="MeanAbsoluteError"/> or <see cref="Huber(double)"/>
/// (choose with <c>ModelBuilder.WithLoss</c>).
/// </summary>
/// <remarks>
/// Shapes: Z, Ŷ and Y are (m, C) (C = 1 for binary and for a scalar regression target). Every cost is summed over
/// the C outputs of a row and averaged over the m rows (PyTorch's <c>reduction="mean"</c> averages over m·C instead).
/// </remarks>
public abstract class Loss
{
    /// <summary>Categorical cross-entropy with softmax: J = −(1/m)·Σᵢ Σⱼ yⱼ⁽ⁱ⁾·log ŷⱼ⁽ⁱ⁾, computed as (1/m)·Σᵢ [Σⱼ yⱼ·(lse(z⁽ⁱ⁾) − zⱼ)].</summary>
    public static Loss CategoricalCrossEntropy { get; } = new CategoricalCrossEntropyLoss();

    /// <summary>Binary cross-entropy with sigmoid: J = −(1/m)·Σ [y·log ŷ + (1 − y)·log(1 − ŷ)], computed as (1/m)·Σ [max(z, 0) − z·y + log(1 + e^−|z|)].</summary>
    public static Loss BinaryCrossEntropy { get; } = new BinaryCrossEntropyLoss();

    /// <summary>Mean squared error with a linear output: J = (1/2m)·Σᵢ ‖ŷ⁽ⁱ⁾ − y⁽ⁱ⁾‖² (the ½ makes dZ = (Ŷ − Y)/m).</summary>
    public static Loss MeanSquaredError { get; } = new MeanSquaredErrorLoss();

    /// <summary>
    /// Mean absolute error with a linear output: J = (1/m)·Σᵢ Σⱼ |ŷⱼ⁽ⁱ⁾ − yⱼ⁽ⁱ⁾|, dZ = sign(Ŷ − Y)/m (0 where Ŷ = Y).
    /// Less sensitive to outliers than squared error.
    /// </summary>
    public static Loss MeanAbsoluteError { get; } = new MeanAbsoluteErrorLoss();

    /// <summary>Whether this loss trains a classifier (cross-entropy) rather than a regression (a linear output).</summary>
    public virtual bool IsClassification => false;

    /// <summary>The loss's name, e.g. "CategoricalCrossEntropy"; round-trips through <see cref="Parse"/>.</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Huber loss with a linear output: per element d = ŷ − y, L = ½·d² when |d| ≤ δ, else δ·(|d| − ½·δ);
    /// J = (1/m)·Σ L, dZ = clamp(d, −δ, δ)/m. Squared error near the target (with the same ½ as
    /// <see cref="MeanSquaredError"/>), absolute error far from it, so outliers pull with at most δ.
    /// </summary>
    /// <param name="delta">
    /// δ &gt; 0, in the units of the targets the network sees (standardized ones when a target transform is set). PyTorch's
    /// default is 1. It must also stay above 0 once rounded to the model's element type (1e-50 is 0 in float, which would
    /// clamp every gradient to 0): building, loading or converting such a model, and the loss's own <c>Cost</c> and
    /// <c>OutputGradient</c> in that type, throw <see cref="ArgumentOutOfRangeException"/> naming δ and the type.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">δ is not finite and &gt; 0.</exception>
    public static Loss Huber(double delta = 1.0)
    {
        if (!(delta > 0) || !double.IsFinite(delta))
        {
            throw new ArgumentOutOfRangeException(nameof(delta), delta, $"delta must be finite and > 0; received {delta.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        }

        return new HuberLoss(delta);
    }

    /// <summary>The data term of J (without regularization), averaged over the m rows.</summary>
    /// <param name="z">The output layer's pre-activation Z (m, C); for MSE, Ŷ itself.</param>
    /// <param name="y">The targets Y (m, C).</param>
    public abstract double Cost<T>(Tensor<T> z, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// ∂J/∂Z written into <paramref name="dz"/> (m, C): (Ŷ − Y)/m for the cross-entropies and squared error, and the
    /// loss's own derivative for <see cref="MeanAbsoluteError"/> and <see cref="Huber(double)"/>; a
    /// <see cref="CustomLoss"/> writes ∂J/∂Ŷ instead.
    /// </summary>
    public virtual void OutputGradient<T>(Tensor<T> yhat, Tensor<T> y, Tensor<T> dz)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(yhat);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(dz);
        Tensor<T>.RequireSameShape(yhat, y, nameof(y));
        ValidateFor<T>();
        TP.Subtract(yhat.ReadOnlySpan, y.ReadOnlySpan, dz.Span);
        ShapeGradient(dz.Span);
        TP.Multiply(dz.Span, T.One / T.CreateTruncating(Math.Max(1, y.RowCount)), dz.Span);
    }

    /// <summary>
    /// Checks the loss's settings in the element type <typeparamref name="T"/> of the model that uses it (a value valid as a
    /// double can round to one that breaks the loss in T); the model's constructor calls it. The default checks nothing.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range in <typeparamref name="T"/>.</exception>
    internal virtual void ValidateFor<T>()
        where T : unmanaged, IFloatingPointIeee754<T>
    {
    }

    /// <summary>Parses a <see cref="Name"/>.</summary>
    public static Loss Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.StartsWith("Huber(", StringComparison.Ordinal) && name.EndsWith(')')
            && double.TryParse(name.AsSpan(6, name.Length - 7), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double delta)
            && delta > 0 && double.IsFinite(delta))
        {
            return Huber(delta);
        }

        return name switch
        {
            "CategoricalCrossEntropy" => CategoricalCrossEntropy,
            "BinaryCrossEntropy" => BinaryCrossEntropy,
            "MeanSquaredError" => MeanSquaredError,
            "MeanAbsoluteError" => MeanAbsoluteError,
            _ => throw new FormatException($"unknown loss '{name}'"),
        };
    }

    /// <summary>
    /// The class-weighted, label-smoothed cross-entropy of a training batch and its ∂J/∂Z, written into <paramref name="dz"/>
    /// (m, C); returns J's data term. Targets are smoothed first: y′ = (1 − ε)·y + ε/C for softmax, (1 − ε)·y + ε/2 for
    /// sigmoid. Softmax (C ≥ 2, w of length C or null for 1s): Lᵢ = −Σⱼ wⱼ·y′ⱼ⁽ⁱ⁾·log ŷⱼ⁽ⁱ⁾ and dZᵢⱼ = (ŷⱼ·sᵢ − wⱼ·y′ⱼ)/m with
    /// sᵢ = Σⱼ wⱼ·y′ⱼ. Sigmoid (each of the C outputs a yes/no; w = [w₀, w₁] only for C = 1): L = −[w₁·y′·log ŷ + w₀·(1 − y′)·log(1 − ŷ)]
    /// summed over the row, dZ = (w₀·(1 − y′)·ŷ − w₁·y′·(1 − ŷ))/m. J = (1/m)·Σ Lᵢ; with w = 1 and ε = 0 these are the
    /// plain losses. Computed in double from Z with log-sum-exp (as <see cref="Cost"/>), each dZ rounded once to T.
    /// </summary>
    internal static double WeightedCostAndGradient<T>(Tensor<T> z, Tensor<T> yhat, Tensor<T> y, Tensor<T> dz, double[]? w, double smoothing, bool softmax)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = z.RowCount;
        int c = z.RowLength;
        var zs = z.ReadOnlySpan;
        var ps = yhat.ReadOnlySpan;
        var ys = y.ReadOnlySpan;
        var ds = dz.Span;
        double total = 0;
        double inv = 1.0 / Math.Max(1, m);
        double keep = 1 - smoothing;
        if (!softmax)
        {
            double w0 = w?[0] ?? 1, w1 = w?[1] ?? 1, spread = smoothing / 2;
            for (int i = 0; i < zs.Length; i++)
            {
                double zv = double.CreateTruncating(zs[i]);
                double yv = (keep * double.CreateTruncating(ys[i])) + spread;
                double p = double.CreateTruncating(ps[i]);
                double softplus = Math.Max(zv, 0) + Math.Log(1 + Math.Exp(-Math.Abs(zv))); // −log(1 − ŷ); −log ŷ = softplus − z
                total += (yv != 0 ? w1 * yv * (softplus - zv) : 0) + (yv != 1 ? w0 * (1 - yv) * softplus : 0);
                ds[i] = T.CreateTruncating(((w0 * (1 - yv) * p) - (w1 * yv * (1 - p))) * inv);
            }

            return total * inv;
        }

        double uniform = smoothing / c;
        for (int i = 0; i < m; i++)
        {
            var zr = zs.Slice(i * c, c);
            var pr = ps.Slice(i * c, c);
            var yr = ys.Slice(i * c, c);
            var dr = ds.Slice(i * c, c);
            double max = double.CreateTruncating(TP.Max(zr));
            double sum = 0;
            double s = 0;
            for (int j = 0; j < c; j++)
            {
                sum += Math.Exp(double.CreateTruncating(zr[j]) - max);
                s += (w?[j] ?? 1) * ((keep * double.CreateTruncating(yr[j])) + uniform);
            }

            double lse = max + Math.Log(sum);
            for (int j = 0; j < c; j++)
            {
                double wy = (w?[j] ?? 1) * ((keep * double.CreateTruncating(yr[j])) + uniform);
                if (wy != 0)
                {
                    total += wy * (lse - double.CreateTruncating(zr[j]));
                }

                dr[j] = T.CreateTruncating(((double.CreateTruncating(pr[j]) * s) - wy) * inv);
            }
        }

        return total * inv;
    }

    /// <summary>Turns d = Ŷ − Y into the loss's ∂L/∂ŷ in place (identity for the losses whose gradient is Ŷ − Y).</summary>
    private protected virtual void ShapeGradient<T>(Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
    }

    /// <inheritdoc/>
    public override string ToString() => Name;

    private protected static void Check<T>(Tensor<T> z, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(z);
        ArgumentNullException.ThrowIfNull(y);
        if (!z.SameShape(y))
        {
            throw new ArgumentException($"the targets Y must match the output: output {z.ShapeText} vs Y {y.ShapeText}", nameof(y));
        }
    }

    private sealed class CategoricalCrossEntropyLoss : Loss
    {
        public override string Name => "CategoricalCrossEntropy";

        public override bool IsClassification => true;

        public override double Cost<T>(Tensor<T> z, Tensor<T> y)
        {
            Check(z, y);
            int m = z.RowCount;
            int c = z.RowLength;
            var zs = z.ReadOnlySpan;
            var ys = y.ReadOnlySpan;
            double total = 0;
            for (int i = 0; i < m; i++)
            {
                var zr = zs.Slice(i * c, c);
                var yr = ys.Slice(i * c, c);
                double max = double.CreateTruncating(TP.Max(zr));
                double sum = 0;
                for (int j = 0; j < c; j++)
                {
                    sum += Math.Exp(double.CreateTruncating(zr[j]) - max);
                }

                double lse = max + Math.Log(sum);
                for (int j = 0; j < c; j++)
                {
                    double yv = double.CreateTruncating(yr[j]);
                    if (yv != 0)
                    {
                        total += yv * (lse - double.CreateTruncating(zr[j]));
                    }
                }
            }

            return m == 0 ? 0 : total / m;
        }
    }

    private sealed class BinaryCrossEntropyLoss : Loss
    {
        public override string Name => "BinaryCrossEntropy";

        public override bool IsClassification => true;

        public override double Cost<T>(Tensor<T> z, Tensor<T> y)
        {
            Check(z, y);
            var zs = z.ReadOnlySpan;
            var ys = y.ReadOnlySpan;
            double total = 0;
            for (int i = 0; i < zs.Length; i++)
            {
                double zv = double.CreateTruncating(zs[i]);
                double yv = double.CreateTruncating(ys[i]);
                total += Math.Max(zv, 0) - (zv * yv) + Math.Log(1 + Math.Exp(-Math.Abs(zv)));
            }

            return z.RowCount == 0 ? 0 : total / z.RowCount;
        }
    }

    private sealed class MeanSquaredErrorLoss : Loss
    {
        public override string Name => "MeanSquaredError";

        public override double Cost<T>(Tensor<T> z, Tensor<T> y)
        {
            Check(z, y);
            var zs = z.ReadOnlySpan;
            var ys = y.ReadOnlySpan;
            double total = 0;
            for (int i = 0; i < zs.Length; i++)
            {
                double d = double.CreateTruncating(zs[i]) - double.CreateTruncating(ys[i]);
                total += d * d;
            }

            return z.RowCount == 0 ? 0 : total / (2.0 * z.RowCount);
        }
    }

    private sealed class MeanAbsoluteErrorLoss : Loss
    {
        public override string Name => "MeanAbsoluteError";

        public override double Cost<T>(Tensor<T> z, Tensor<T> y)
        {
            Check(z, y);
            var zs = z.ReadOnlySpan;
            var ys = y.ReadOnlySpan;
            double total = 0;
            for (int i = 0; i < zs.Length; i++)
            {
                total += Math.Abs(double.CreateTruncating(zs[i]) - double.CreateTruncating(ys[i]));
            }

            return z.RowCount == 0 ? 0 : total / z.RowCount;
        }

        private protected override void ShapeGradient<T>(Span<T> d)
        {
            for (int i = 0; i < d.Length; i++)
            {
                d[i] = T.IsNaN(d[i]) ? d[i] : T.CreateTruncating(T.Sign(d[i]));
            }
        }
    }

    private sealed class HuberLoss(double delta) : Loss
    {
        public override string Name => FormattableString.Invariant($"Huber({delta:R})");

        public override double Cost<T>(Tensor<T> z, Tensor<T> y)
        {
            Check(z, y);
            ValidateFor<T>();
            var zs = z.ReadOnlySpan;
            var ys = y.ReadOnlySpan;
            double total = 0;
            for (int i = 0; i < zs.Length; i++)
            {
                double a = Math.Abs(double.CreateTruncating(zs[i]) - double.CreateTruncating(ys[i]));
                total += a <= delta ? 0.5 * a * a : delta * (a - (0.5 * delta));
            }

            return z.RowCount == 0 ? 0 : total / z.RowCount;
        }

        public override bool Equals(object? obj) => obj is HuberLoss h && h.Name == Name;

        public override int GetHashCode() => Name.GetHashCode(StringComparison.Ordinal);

        // δ rounded to T is the clamp of every gradient: 0 (1e-50 in float) would train nothing while the cost, computed in
        // double, still moves. Refused as BatchNorm's ε and Adam's ε are, naming the value and the type.
        internal override void ValidateFor<T>()
        {
            if (T.CreateTruncating(delta) == T.Zero)
            {
                throw new ArgumentOutOfRangeException(nameof(delta), delta, FormattableString.Invariant(
                    $"Huber delta {delta:R} rounds to 0 in {typeof(T).Name}, so every gradient clamp(ŷ − y, −δ, δ) would be 0 and nothing would be learned; use a delta a {typeof(T).Name} can hold (at least {T.Epsilon})"));
            }
        }

        private protected override void ShapeGradient<T>(Span<T> d)
        {
            T hi = T.CreateTruncating(delta);
            TP.Min(d, hi, d);
            TP.Max(d, -hi, d);
        }
    }
}
