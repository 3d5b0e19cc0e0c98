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
    /// <c>clip_grad_norm_(parameters, max_norm)</c>). Gradients are left untouched when c = 1. Each tensor's Σ g² is
    /// summed in the element type with SIMD (as PyTorch's <c>torch.norm</c>), the tensors' sums in double.
    /// </summary>
    /// <param name="parameters">The parameters whose <see cref="Parameter{T}.Gradient"/> to clip (e.g. <c>model.Parameters</c>).</param>
    /// <param name="maxNorm">The largest norm kept, finite and &gt; 0.</param>
    /// <returns>‖g‖ before clipping (non-finite when a gradient is; the gradients are then multiplied as PyTorch does, to NaN or 0).</returns>
    /// <exception cref="ArgumentNullException">The list or one of its parameters is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxNorm"/> is not finite and &gt; 0.</exception>
    public static double ClipByNorm<T>(IReadOnlyList<Parameter<T>> parameters, double maxNorm)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckParameters(parameters);
        CheckLimit(maxNorm, nameof(maxNorm));
        double sum = 0;
        for (int i = 0; i < parameters.Count; i++)
        {
            var g = parameters[i].Gradient.ReadOnlySpan;
            sum += double.CreateTruncating(TP.SumOfSquares(g));
        }

        double norm = Math.Sqrt(sum);
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
