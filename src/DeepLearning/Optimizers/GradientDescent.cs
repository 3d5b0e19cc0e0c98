using System.Numerics;
using DeepLearning.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning.Optimizers;

/// <summary>
/// (Mini-batch) gradient descent: W ← W − α·dW. With one batch of all m examples this is batch
/// gradient descent; with batches of one example it is stochastic gradient descent. No state.
/// </summary>
public sealed class GradientDescent : Optimizer
{
    /// <summary>Creates gradient descent with learning rate α.</summary>
    /// <param name="learningRate">α; must be positive and finite.</param>
    /// <exception cref="ArgumentOutOfRangeException">α is not positive and finite.</exception>
    public GradientDescent(double learningRate)
        : base(learningRate)
    {
    }

    /// <summary>The rule over spans: w ← w − α·g. w and g have the parameter's length n.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="w">W, updated in place.</param>
    /// <param name="g">dW.</param>
    /// <param name="alpha">α.</param>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public static void Update<T>(Span<T> w, ReadOnlySpan<T> g, T alpha)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // w, g: (n)
        UpdateKernels.Same(w.Length, g.Length, nameof(g));
        TP.MultiplyAdd(g, -alpha, w, w);
    }

    /// <inheritdoc/>
    public override string Describe() => $"GradientDescent(α={Format(LearningRate)})";

    /// <inheritdoc/>
    protected override void Update<T>(Parameter<T> parameter, Tensor<T>[] state, T learningRate, long t) =>
        Update(parameter.Value.Span, parameter.Gradient.ReadOnlySpan, learningRate);
}
