using System.Numerics;

namespace DeepLearning;

/// <summary>
/// A learnable tensor together with its gradient: W[l] and dW[l], b[l] and db[l], γ and dγ, β and dβ.
/// Layers own their parameters and fill <see cref="Gradient"/> in backward; optimizers read the
/// gradient and update <see cref="Value"/>, keeping any per-parameter state (v, s) keyed by this object.
/// </summary>
/// <typeparam name="T">The element type.</typeparam>
public sealed class Parameter<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a parameter over an existing value tensor, with a zeroed gradient of the same shape.</summary>
    /// <param name="name">A PyTorch-style name such as "0.weight"; used in summaries, checkpoints and error messages.</param>
    /// <param name="value">The parameter's value.</param>
    /// <param name="regularized">Whether L2/L1 regularization applies (weights yes; biases, γ and β no).</param>
    public Parameter(string name, Tensor<T> value, bool regularized)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(value);
        Name = name;
        Value = value;
        Gradient = new Tensor<T>(value.Shape);
        Regularized = regularized;
    }

    /// <summary>The parameter's name, e.g. "0.weight".</summary>
    public string Name { get; set; }

    /// <summary>The current value.</summary>
    public Tensor<T> Value { get; }

    /// <summary>The gradient of the cost J with respect to <see cref="Value"/>, same shape, written by backward.</summary>
    public Tensor<T> Gradient { get; }

    /// <summary>Whether the regularization term (λ/2m)·‖W‖² or (λ/m)·Σ|W| covers this parameter.</summary>
    public bool Regularized { get; }

    /// <summary>The number of scalars.</summary>
    public int Length => Value.Length;

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {Value.ShapeText}";
}
