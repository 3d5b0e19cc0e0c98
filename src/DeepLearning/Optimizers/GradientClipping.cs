using System.Globalization;
using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// Gradient clipping between the backward pass and the optimizer's step, against exploding gradients: by the global norm
/// (PyTorch's <c>torch.nn.utils.clip_grad_norm_</c>, Keras's <c>global_clipnorm</c>) or by value (<c>clip_grad_value_</c>,
/// Keras's <c>clipvalue</c>). <see cref="Trainer.Fit{T}"/> applies them when <see cref="TrainingOptions{T}.GradientClipNorm"/>
/// or <see cref="TrainingOptions{T}.GradientClipValue"/> is set; a loop of your own calls them after
/// <see cref="Model{T}.ComputeGradients"/> (or the tape's Backward) and before <see cref="Optimizer.Step{T}"/>.
/// </summary>
/// <remarks>
/// The gradients clipped are the whole dJ/dθ the optimizer would use, the weight penalty's term included (as in PyTorch when
/// the penalty is part of the loss; <c>torch.optim</c>'s <c>weight_decay</c> is added after clipping instead).
/// </remarks>
public static class GradientClipping
{
    /// <summary>PyTorch's ε in the clipping coefficient max_norm / (‖g‖ + ε).</summary>
    public const double NormEpsilon = 1e-6;

    /// <summary>
    /// Scales every gradient by c = min(1, maxNorm / (‖g‖ + 1e-6)), where ‖g‖ = √(Σ over every parameter of Σ g²) is the
    /// L2 norm of all gradients together: the direction is kept and the length becomes at most maxNorm (PyTorch 1.13's
    /// <c>clip_grad_norm_(parameters, max_norm)</c>). Gradients are left untouched when c = 1. Σ g² is summed in double
    /// (PyTorch sums in the gradients' type), so finite float gradients never give an infinite norm (in PyTorch, ten
    /// gradients of 1e19 do, and every gradient is then zeroed).
    /// </summary>
    /// <param name="parameters">The parameters whose <see cref="Parameter{T}.Gradient"/> to clip (e.g. <c>model.Parameters</c>).</param>
    /// <param name="maxNorm">The largest norm kept, finite and &gt; 0.</param>
    /// <returns>‖g‖ before clipping: NaN or ∞ only when a gradient is (the gradients are then multiplied as PyTorch does, to
    /// NaN or 0, and Fit's divergence guard sees the weights).</returns>
    /// <exception cref="ArgumentNullException">The list or one of its parameters is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxNorm"/> is not finite and &gt; 0, or rounds to 0 in <typeparamref name="T"/>.</exception>
    public static double ClipByNorm<T>(IReadOnlyList<Parameter<T>> parameters, double maxNorm)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckParameters(parameters);
        CheckLimit(maxNorm, nameof(maxNorm));
        if (T.CreateTruncating(maxNorm) == T.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, string.Create(CultureInfo.InvariantCulture, $"maxNorm {maxNorm:R} rounds to 0 in {typeof(T).Name}, which would zero every gradient"));
        }

        double norm = Norm(parameters);
        double coefficient = maxNorm / (norm + NormEpsilon);
        if (!(coefficient >= 1))
        {
            T c = T.CreateTruncating(coefficient);
            for (int i = 0; i < parameters.Count; i++)
            {
                var g = parameters[i].Gradient.Span;
                TP.Multiply(g, c, g);
            }
        }

        return norm;
    }

    /// <summary>
    /// Clamps every element of every gradient to [−clipValue, clipValue] (PyTorch's <c>clip_grad_value_</c>, Keras's
    /// <c>clipvalue</c>). NaN stays NaN.
    /// </summary>
    /// <param name="parameters">The parameters whose <see cref="Parameter{T}.Gradient"/> to clip.</param>
    /// <param name="clipValue">The largest magnitude kept, finite and &gt; 0.</param>
    /// <exception cref="ArgumentNullException">The list or one of its parameters is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="clipValue"/> is not finite and &gt; 0, or rounds to 0 in <typeparamref name="T"/>.</exception>
    public static void ClipByValue<T>(IReadOnlyList<Parameter<T>> parameters, double clipValue)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckParameters(parameters);
        CheckLimit(clipValue, nameof(clipValue));
        T hi = T.CreateTruncating(clipValue);
        if (hi == T.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(clipValue), clipValue, string.Create(CultureInfo.InvariantCulture, $"clipValue {clipValue:R} rounds to 0 in {typeof(T).Name}, which would zero every gradient"));
        }

        for (int i = 0; i < parameters.Count; i++)
        {
            var g = parameters[i].Gradient.Span;
            TP.Min(g, hi, g); // IEEE 754 minimum and maximum: NaN stays NaN, as torch.clamp keeps it
            TP.Max(g, -hi, g);
        }
    }

    // ‖g‖ over every gradient, summed in double: a float gradient's squares cannot overflow there (10 gradients of 1e19
    // overflow a float sum to ∞, which would clip every gradient to 0), and 10⁷ of them lose no precision. Double
    // gradients whose squares overflow are scaled by their largest magnitude first.
    private static double Norm<T>(IReadOnlyList<Parameter<T>> parameters)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        for (int i = 0; i < parameters.Count; i++)
        {
            sum += SumOfSquares(parameters[i].Gradient.ReadOnlySpan);
        }

        if (double.IsPositiveInfinity(sum))
        {
            double scale = 0;
            for (int i = 0; i < parameters.Count; i++)
            {
                var g = parameters[i].Gradient.ReadOnlySpan;
                scale = g.IsEmpty ? scale : Math.Max(scale, double.CreateTruncating(TP.MaxMagnitude(g)));
            }

            if (double.IsFinite(scale) && scale > 0)
            {
                double scaled = 0;
                for (int i = 0; i < parameters.Count; i++)
                {
                    foreach (var v in parameters[i].Gradient.ReadOnlySpan)
                    {
                        double d = double.CreateTruncating(v) / scale;
                        scaled += d * d;
                    }
                }

                return scale * Math.Sqrt(scaled);
            }
        }

        return Math.Sqrt(sum);
    }

    // Σ g² in double: floats widened eight or sixteen at a time.
    private static double SumOfSquares<T>(ReadOnlySpan<T> g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(double))
        {
            return double.CreateTruncating(TP.SumOfSquares(g));
        }

        if (typeof(T) != typeof(float))
        {
            double total = 0;
            foreach (var v in g)
            {
                double d = double.CreateTruncating(v);
                total += d * d;
            }

            return total;
        }

        var f = System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(g);
        var acc0 = Vector<double>.Zero;
        var acc1 = Vector<double>.Zero;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= f.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                Vector.Widen(new Vector<float>(f.Slice(i)), out var lo, out var hi);
                acc0 += lo * lo;
                acc1 += hi * hi;
            }
        }

        double sum = Vector.Sum(acc0 + acc1);
        for (; i < f.Length; i++)
        {
            sum += (double)f[i] * f[i];
        }

        return sum;
    }

    /// <summary>A clipping setting: null, or a limit checked by <see cref="CheckLimit(double, string)"/>.</summary>
    internal static double? CheckLimit(double? limit, string name)
    {
        if (limit is double v)
        {
            CheckLimit(v, name);
        }

        return limit;
    }

    /// <summary>Checks a clipping limit: finite and &gt; 0.</summary>
    internal static void CheckLimit(double limit, string name)
    {
        if (!(limit > 0) || !double.IsFinite(limit))
        {
            throw new ArgumentOutOfRangeException(name, limit, string.Create(CultureInfo.InvariantCulture, $"{name} must be finite and > 0; received {limit:R}"));
        }
    }

    private static void CheckParameters<T>(IReadOnlyList<Parameter<T>> parameters)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        for (int i = 0; i < parameters.Count; i++)
        {
            if (parameters[i] is null)
            {
                throw new ArgumentNullException(nameof(parameters), $"parameters[{i}] is null");
            }
        }
    }
}
