using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// A cost fused with the output activation, so the output gradient is the course's dZ = (Ŷ − Y)/m:
/// softmax with categorical cross-entropy, sigmoid with binary cross-entropy, and a linear output with
/// mean squared error. Costs are computed from Z (the output layer's input) with log-sum-exp, never log 0.
/// </summary>
/// <remarks>Shapes: Z, Ŷ and Y are (m, C) (C = 1 for binary and for a scalar regression target).</remarks>
public abstract class Loss
{
    /// <summary>Categorical cross-entropy with softmax: J = −(1/m)·Σᵢ Σⱼ yⱼ⁽ⁱ⁾·log ŷⱼ⁽ⁱ⁾, computed as (1/m)·Σᵢ [Σⱼ yⱼ·(lse(z⁽ⁱ⁾) − zⱼ)].</summary>
    public static Loss CategoricalCrossEntropy { get; } = new CategoricalCrossEntropyLoss();

    /// <summary>Binary cross-entropy with sigmoid: J = −(1/m)·Σ [y·log ŷ + (1 − y)·log(1 − ŷ)], computed as (1/m)·Σ [max(z, 0) − z·y + log(1 + e^−|z|)].</summary>
    public static Loss BinaryCrossEntropy { get; } = new BinaryCrossEntropyLoss();

    /// <summary>Mean squared error with a linear output: J = (1/2m)·Σᵢ ‖ŷ⁽ⁱ⁾ − y⁽ⁱ⁾‖² (the ½ makes dZ = (Ŷ − Y)/m).</summary>
    public static Loss MeanSquaredError { get; } = new MeanSquaredErrorLoss();

    /// <summary>The loss's name, e.g. "CategoricalCrossEntropy".</summary>
    public abstract string Name { get; }

    /// <summary>The data term of J (without regularization), averaged over the m rows.</summary>
    /// <param name="z">The output layer's pre-activation Z (m, C); for MSE, Ŷ itself.</param>
    /// <param name="y">The targets Y (m, C).</param>
    public abstract double Cost<T>(Tensor<T> z, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>dZ = (Ŷ − Y)/m, written into <paramref name="dz"/> (m, C); a <see cref="CustomLoss"/> writes ∂J/∂Ŷ instead.</summary>
    public virtual void OutputGradient<T>(Tensor<T> yhat, Tensor<T> y, Tensor<T> dz)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(yhat);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(dz);
        Tensor<T>.RequireSameShape(yhat, y, nameof(y));
        TP.Subtract(yhat.ReadOnlySpan, y.ReadOnlySpan, dz.Span);
        TP.Multiply(dz.Span, T.One / T.CreateTruncating(Math.Max(1, y.RowCount)), dz.Span);
    }

    /// <summary>Parses a <see cref="Name"/>.</summary>
    public static Loss Parse(string name) => name switch
    {
        "CategoricalCrossEntropy" => CategoricalCrossEntropy,
        "BinaryCrossEntropy" => BinaryCrossEntropy,
        "MeanSquaredError" => MeanSquaredError,
        _ => throw new FormatException($"unknown loss '{name}'"),
    };

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
}
