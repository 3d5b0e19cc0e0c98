using System.Globalization;
using System.Numerics;
using System.Runtime.Intrinsics;
using DeepLearning.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// A penalty on the weights added to the cost and its gradient. Applies only to parameters marked
/// <see cref="Parameter{T}.Regularized"/> (the W[l]; never b, γ or β).
/// </summary>
public abstract class Regularizer
{
    /// <summary>λ, the regularization strength.</summary>
    public double Lambda { get; protected init; }

    /// <summary>A name that round-trips through <see cref="Regularization.Parse"/>, e.g. "L2(0.01)".</summary>
    public abstract string Name { get; }

    /// <summary>The penalty term of J for a batch of m examples.</summary>
    public abstract double Cost<T>(IReadOnlyList<Parameter<T>> parameters, int m)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>Adds the penalty's gradient to each regularized parameter's gradient.</summary>
    public abstract void AddGradient<T>(IReadOnlyList<Parameter<T>> parameters, int m)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>The regularizers of the course.</summary>
public static class Regularization
{
    /// <summary>No penalty.</summary>
    public static Regularizer None { get; } = new NoRegularizer();

    /// <summary>L2 (weight decay): J += (λ/2m)·Σₗ ‖W[l]‖²_F; dW[l] += (λ/m)·W[l].</summary>
    /// <param name="lambda">λ ≥ 0.</param>
    public static Regularizer L2(double lambda) => new L2Regularizer(CheckLambda(lambda));

    /// <summary>L1: J += (λ/m)·Σₗ Σ|W[l]|; dW[l] += (λ/m)·sign(W[l]) (subgradient 0 at 0).</summary>
    /// <param name="lambda">λ ≥ 0.</param>
    public static Regularizer L1(double lambda) => new L1Regularizer(CheckLambda(lambda));

    /// <summary>Parses a regularizer's <see cref="Regularizer.Name"/>: "None", "L2(λ)" or "L1(λ)".</summary>
    public static Regularizer Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name == "None")
        {
            return None;
        }

        if (name.Length > 4 && name.EndsWith(')') && (name.StartsWith("L2(", StringComparison.Ordinal) || name.StartsWith("L1(", StringComparison.Ordinal)))
        {
            double lambda = double.Parse(name[3..^1], CultureInfo.InvariantCulture);
            return name[1] == '2' ? L2(lambda) : L1(lambda);
        }

        throw new FormatException($"unknown regularizer '{name}'");
    }

    private static double CheckLambda(double lambda)
    {
        if (!(lambda >= 0) || !double.IsFinite(lambda))
        {
            throw new ArgumentOutOfRangeException(nameof(lambda), lambda, $"lambda must be finite and ≥ 0; received {lambda}");
        }

        return lambda;
    }

    private sealed class NoRegularizer : Regularizer
    {
        public override string Name => "None";

        public override double Cost<T>(IReadOnlyList<Parameter<T>> parameters, int m) => 0;

        public override void AddGradient<T>(IReadOnlyList<Parameter<T>> parameters, int m)
        {
        }
    }

    private sealed class L2Regularizer : Regularizer
    {
        public L2Regularizer(double lambda) => Lambda = lambda;

        public override string Name => FormattableString.Invariant($"L2({Lambda:R})");

        public override double Cost<T>(IReadOnlyList<Parameter<T>> parameters, int m)
        {
            double sum = 0;
            for (int pi = 0; pi < parameters.Count; pi++)
            {
                var p = parameters[pi];
                if (p.Regularized)
                {
                    sum += double.CreateTruncating(TP.SumOfSquares(p.Value.ReadOnlySpan));
                }
            }

            return Lambda / (2.0 * Math.Max(1, m)) * sum;
        }

        public override void AddGradient<T>(IReadOnlyList<Parameter<T>> parameters, int m)
        {
            T c = T.CreateTruncating(Lambda / Math.Max(1, m));
            for (int pi = 0; pi < parameters.Count; pi++)
            {
                var p = parameters[pi];
                if (p.Regularized)
                {
                    TP.MultiplyAdd(p.Value.ReadOnlySpan, c, p.Gradient.ReadOnlySpan, p.Gradient.Span);
                }
            }
        }
    }

    private sealed class L1Regularizer : Regularizer
    {
        public L1Regularizer(double lambda) => Lambda = lambda;

        public override string Name => FormattableString.Invariant($"L1({Lambda:R})");

        public override double Cost<T>(IReadOnlyList<Parameter<T>> parameters, int m)
        {
            double sum = 0;
            for (int pi = 0; pi < parameters.Count; pi++)
            {
                var p = parameters[pi];
                if (p.Regularized)
                {
                    sum += double.CreateTruncating(TP.SumOfMagnitudes(p.Value.ReadOnlySpan));
                }
            }

            return Lambda / Math.Max(1, m) * sum;
        }

        public override void AddGradient<T>(IReadOnlyList<Parameter<T>> parameters, int m)
        {
            var op = new SignScaleAddOp<T>(T.CreateTruncating(Lambda / Math.Max(1, m)));
            for (int pi = 0; pi < parameters.Count; pi++)
            {
                var p = parameters[pi];
                if (p.Regularized)
                {
                    VectorOps.Binary(p.Gradient.ReadOnlySpan, p.Value.ReadOnlySpan, p.Gradient.Span, op);
                }
            }
        }
    }

    /// <summary>g + c·sign(w).</summary>
    private readonly struct SignScaleAddOp<T>(T c) : IBinaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T Invoke(T g, T w) => w > T.Zero ? g + c : w < T.Zero ? g - c : g;

        public Vector128<T> Invoke(Vector128<T> g, Vector128<T> w) =>
            g + (Vector128.GreaterThan(w, Vector128<T>.Zero) & Vector128.Create(c)) - (Vector128.LessThan(w, Vector128<T>.Zero) & Vector128.Create(c));

        public Vector256<T> Invoke(Vector256<T> g, Vector256<T> w) =>
            g + (Vector256.GreaterThan(w, Vector256<T>.Zero) & Vector256.Create(c)) - (Vector256.LessThan(w, Vector256<T>.Zero) & Vector256.Create(c));

        public Vector512<T> Invoke(Vector512<T> g, Vector512<T> w) =>
            g + (Vector512.GreaterThan(w, Vector512<T>.Zero) & Vector512.Create(c)) - (Vector512.LessThan(w, Vector512<T>.Zero) & Vector512.Create(c));
    }
}
