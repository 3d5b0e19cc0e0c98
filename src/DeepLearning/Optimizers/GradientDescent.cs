using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using DeepLearning.Kernels;

namespace DeepLearning;

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
    /// <param name="alpha">α, positive and finite.</param>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    /// <exception cref="ArgumentOutOfRangeException">α is not positive and finite; nothing is changed.</exception>
    public static void Update<T>(Span<T> w, ReadOnlySpan<T> g, T alpha)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // w, g: (n)
        UpdateKernels.RequireRate(alpha);
        UpdateKernels.Same(w.Length, g.Length, nameof(g));
        VectorOps.Binary(w, g, w, new Op<T>(alpha));
    }

    /// <inheritdoc/>
    public override string Describe() => DescribeWithRate(SettingsList);

    private protected override string SettingsList => string.Empty;

    /// <inheritdoc/>
    protected override void Update<T>(Parameter<T> parameter, Tensor<T>[] state, T learningRate, long t) =>
        Update(parameter.Value.WritableSpan, parameter.Gradient.ReadOnlySpan, learningRate);

    // One fused pass like the other rules; TensorPrimitives.MultiplyAdd measured no faster here in place.
    private readonly struct Op<T>(T alpha) : IBinaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke(T w, T g) => w - (alpha * g);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<T> Invoke(Vector128<T> w, Vector128<T> g) => w - (g * alpha);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<T> Invoke(Vector256<T> w, Vector256<T> g) => w - (g * alpha);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<T> Invoke(Vector512<T> w, Vector512<T> g) => w - (g * alpha);
    }
}
