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

    /// <summary>
    /// <see cref="AddGradient{T}"/> and <see cref="Cost{T}"/> together: adds the penalty's gradient to each regularized
    /// parameter's gradient and returns the penalty term, the same value <see cref="Cost{T}"/> returns (W is not
    /// changed by the gradient). The built-in L2 and L1 do both in one pass over each W, split over the GEMM threads;
    /// the default calls the two members in turn.
    /// </summary>
    public virtual double AddGradientAndCost<T>(IReadOnlyList<Parameter<T>> parameters, int m)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double cost = Cost(parameters, m);
        AddGradient(parameters, m);
        return cost;
    }

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>The regularizers of the course.</summary>
public static class Regularization
{
    /// <summary>No penalty.</summary>
    public static Regularizer None { get; } = new NoRegularizer();

    /// <summary>L2 (weight decay): J += (λ/2m)·Σₗ ‖W[l]‖²_F; dW[l] += (λ/m)·W[l].</summary>
    /// <remarks>
    /// The course's scaling, with m the rows of the mini-batch: the gradient is PyTorch's <c>weight_decay = λ/m</c> in
    /// <c>torch.optim.SGD</c> or <c>Adam</c> (added to dW before the optimizer's rule, not AdamW's decoupled decay), and
    /// Keras's <c>l2(λ/(2m))</c>. Only W is penalized, never b, γ or β.
    /// </remarks>
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
            double lambda = double.Parse(name[3..^1], NumberStyles.Float, CultureInfo.InvariantCulture); // "0,01" is refused, not read as 1
            return name[1] == '2' ? L2(lambda) : L1(lambda);
        }

        throw new FormatException($"unknown regularizer '{name}'");
    }

    private static double CheckLambda(double lambda)
    {
        if (!(lambda >= 0) || !double.IsFinite(lambda))
        {
            throw new ArgumentOutOfRangeException(nameof(lambda), lambda, string.Create(CultureInfo.InvariantCulture, $"lambda must be finite and ≥ 0; received {lambda}"));
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

        public override double Cost<T>(IReadOnlyList<Parameter<T>> parameters, int m) =>
            Lambda / (2.0 * Math.Max(1, m)) * PenaltyPass.Run(parameters, new L2Penalty<T>(default), gradient: false);

        public override void AddGradient<T>(IReadOnlyList<Parameter<T>> parameters, int m) =>
            PenaltyPass.Run(parameters, new L2Penalty<T>(T.CreateTruncating(Lambda / Math.Max(1, m))), gradient: true);

        public override double AddGradientAndCost<T>(IReadOnlyList<Parameter<T>> parameters, int m) =>
            Lambda / (2.0 * Math.Max(1, m)) * PenaltyPass.Run(parameters, new L2Penalty<T>(T.CreateTruncating(Lambda / Math.Max(1, m))), gradient: true);
    }

    private sealed class L1Regularizer : Regularizer
    {
        public L1Regularizer(double lambda) => Lambda = lambda;

        public override string Name => FormattableString.Invariant($"L1({Lambda:R})");

        public override double Cost<T>(IReadOnlyList<Parameter<T>> parameters, int m) =>
            Lambda / Math.Max(1, m) * PenaltyPass.Run(parameters, new L1Penalty<T>(default), gradient: false);

        public override void AddGradient<T>(IReadOnlyList<Parameter<T>> parameters, int m) =>
            PenaltyPass.Run(parameters, new L1Penalty<T>(T.CreateTruncating(Lambda / Math.Max(1, m))), gradient: true);

        public override double AddGradientAndCost<T>(IReadOnlyList<Parameter<T>> parameters, int m) =>
            Lambda / Math.Max(1, m) * PenaltyPass.Run(parameters, new L1Penalty<T>(T.CreateTruncating(Lambda / Math.Max(1, m))), gradient: true);
    }

    /// <summary>One penalty: its per-block sum (Σw² or Σ|w|) and its gradient step (dW += c·w or c·sign(w)).</summary>
    private interface IPenalty<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T Sum(ReadOnlySpan<T> w);

        void AddGradient(ReadOnlySpan<T> w, Span<T> g);
    }

    /// <summary>Σw²; dW += c·W (c·w then + g, two roundings, as <c>TensorPrimitives.MultiplyAdd</c>).</summary>
    private readonly struct L2Penalty<T>(T c) : IPenalty<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T Sum(ReadOnlySpan<T> w) => TP.SumOfSquares(w);

        public void AddGradient(ReadOnlySpan<T> w, Span<T> g) => TP.MultiplyAdd(w, c, g, g);
    }

    /// <summary>Σ|w|; dW += c·sign(W).</summary>
    private readonly struct L1Penalty<T>(T c) : IPenalty<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T Sum(ReadOnlySpan<T> w) => TP.SumOfMagnitudes(w);

        public void AddGradient(ReadOnlySpan<T> w, Span<T> g) => VectorOps.Binary(g, w, g, new SignScaleAddOp<T>(c));
    }

    /// <summary>
    /// One pass of a penalty over every regularized W: its sum and (optionally) its gradient, block by block, so each
    /// block of W is read once while it is in L1 for both. The blocks are fixed (<see cref="Block"/> elements from the
    /// start of W) and their sums are added in order in double, so the result is the same on any thread count; long W
    /// are split over the GEMM threads with the optimizer's own split (both are halves on multiples of 64 elements), so on
    /// two threads each core touches the half of W and dW it already holds.
    /// </summary>
    private static class PenaltyPass
    {
        /// <summary>Elements per summed block; a multiple of 64, so the split of a W with a whole number of blocks per core matches the optimizer's.</summary>
        private const int Block = 2048;

        [ThreadStatic]
        private static double[]? _sums;

        public static unsafe double Run<T, TPenalty>(IReadOnlyList<Parameter<T>> parameters, TPenalty penalty, bool gradient)
            where T : unmanaged, IFloatingPointIeee754<T>
            where TPenalty : struct, IPenalty<T>
        {
            double sum = 0;
            for (int pi = 0; pi < parameters.Count; pi++)
            {
                var p = parameters[pi];
                if (!p.Regularized)
                {
                    continue;
                }

                var w = p.Value.ReadOnlySpan;
                var g = p.Gradient.Span;
                int blocks = (w.Length + Block - 1) / Block;
                var sums = _sums is { } existing && existing.Length >= blocks ? existing : _sums = new double[Math.Max(blocks, 64)];
                fixed (T* pw = w)
                fixed (T* pg = g)
                fixed (double* ps = sums)
                {
                    ParallelRange.For(w.Length, new Body<T, TPenalty>(pw, gradient ? pg : null, ps, w.Length, penalty), granule: Block);
                }

                for (int b = 0; b < blocks; b++)
                {
                    sum += sums[b];
                }
            }

            return sum;
        }

        private readonly unsafe struct Body<T, TPenalty>(T* w, T* g, double* sums, int length, TPenalty penalty) : IRangeBody
            where T : unmanaged, IFloatingPointIeee754<T>
            where TPenalty : struct, IPenalty<T>
        {
            public void Invoke(int start, int end)
            {
                for (int s = start; s < end; s += Block)
                {
                    int n = Math.Min(Block, length - s);
                    var wb = new ReadOnlySpan<T>(w + s, n);
                    sums[s / Block] = double.CreateTruncating(penalty.Sum(wb));
                    if (g != null)
                    {
                        penalty.AddGradient(wb, new Span<T>(g + s, n));
                    }
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
