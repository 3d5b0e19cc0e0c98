using System.Numerics;
using DeepLearning.Kernels;

namespace DeepLearning;

/// <summary>The activation functions g(z) of the course.</summary>
public enum Activation
{
    /// <summary>g(z) = z (no activation).</summary>
    Linear = 0,

    /// <summary>g(z) = max(0, z).</summary>
    ReLU = 1,

    /// <summary>g(z) = z if z &gt; 0, else slope·z (slope 0.01 by default).</summary>
    LeakyReLU = 2,

    /// <summary>g(z) = σ(z) = 1 / (1 + e⁻ᶻ).</summary>
    Sigmoid = 3,

    /// <summary>g(z) = tanh z.</summary>
    Tanh = 4,

    /// <summary>Row-wise softmax: g(z)ᵢ = e^{zᵢ} / Σⱼ e^{zⱼ}. Only as an output layer.</summary>
    Softmax = 5,
}

/// <summary>The element-wise activation derivatives, shared by <see cref="Dense{T}"/> and <see cref="ActivationLayer{T}"/>.</summary>
internal static class ActivationMath
{
    /// <summary>
    /// dZ = dA ⊙ g′(Z), computed from the output A = g(Z): ReLU 1[A &gt; 0]; leaky ReLU (A &gt; 0 ? 1 : slope) —
    /// A &gt; 0 exactly when Z &gt; 0 for a slope in [0, 1); sigmoid A(1 − A); tanh 1 − A²; linear 1.
    /// Not for softmax, whose Jacobian couples a row.
    /// </summary>
    public static void Backward<T>(Activation activation, ReadOnlySpan<T> dA, ReadOnlySpan<T> a, T slope, Span<T> dZ)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (activation)
        {
            case Activation.Linear: dA.CopyTo(dZ); break;
            case Activation.ReLU: ElementWise.ReluBackward(dA, a, dZ); break;
            case Activation.LeakyReLU: ElementWise.LeakyReluBackward(dA, a, slope, dZ); break;
            case Activation.Sigmoid: ElementWise.SigmoidBackward(dA, a, dZ); break;
            case Activation.Tanh: ElementWise.TanhBackward(dA, a, dZ); break;
            default: throw new ArgumentOutOfRangeException(nameof(activation), activation, "softmax has no element-wise derivative");
        }
    }
}
