using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DeepLearning;

/// <summary>
/// Gradient descent with momentum, the course's exponentially weighted average of gradients:
/// v ← β·v + (1 − β)·dW, then W ← W − α·v, or W ← W − α·v/(1 − βᵗ) with bias correction.
/// State: "v", the parameter's shape, starting at zero.
/// </summary>
/// <remarks>
/// Without bias correction this is exactly PyTorch's SGD with <c>momentum=β</c>, <c>dampening=0</c> and
/// <c>lr=α·(1 − β)</c>: its buffer u = β·u + dW is v/(1 − β) at every step, from the first one. With
/// <c>dampening=β</c> and <c>lr=α</c> the rule is the same but the weights are not: PyTorch's first step sets its
/// buffer to dW rather than (1 − β)·dW, and the difference, β·dW₁ decaying by β per step, stays in every later step
/// (unless the buffer is pre-set to zeros).
/// </remarks>
public sealed class Momentum : Optimizer
{
    private static readonly string[] _names = ["v"];
    private double _beta;

    /// <summary>Creates gradient descent with momentum.</summary>
    /// <param name="learningRate">α; must be positive and finite.</param>
    /// <param name="beta">β in [0, 1); 0.9 averages over about the last 10 gradients. β = 0 is plain gradient descent.</param>
    /// <param name="biasCorrection">Whether to divide v by 1 − βᵗ (the course notes it is rarely needed after the first ~10 steps).</param>
    /// <exception cref="ArgumentOutOfRangeException">α or β is out of range. (One that is in range as a double but not once rounded to the model's element type is refused by the first step, or by Fit before training.)</exception>
    public Momentum(double learningRate, double beta = 0.9, bool biasCorrection = false)
        : base(learningRate)
    {
        Beta = beta;
        BiasCorrection = biasCorrection;
    }

    /// <summary>
    /// β, the momentum; in [0, 1), and below 1 once rounded to the parameters' element type (0.99999999 is 1 in float,
    /// which a step refuses with <see cref="ArgumentOutOfRangeException"/> before changing anything). May be changed between steps.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1).</exception>
    public double Beta
    {
        get => _beta;
        set => _beta = RequireBeta(value, "beta");
    }

    /// <summary>Whether the step uses v/(1 − βᵗ) instead of v.</summary>
    public bool BiasCorrection { get; set; }

    /// <inheritdoc/>
    public override IReadOnlyList<string> StateNames => _names;

    /// <summary>
    /// The rule over spans: v ← β·v + (1 − β)·g; w ← w − α·v, or w ← w − α·v/(1 − βᵗ) when
    /// <paramref name="biasCorrection"/> is set. w, g and v have the parameter's length n.
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="w">W, updated in place.</param>
    /// <param name="g">dW.</param>
    /// <param name="v">v, updated in place.</param>
    /// <param name="alpha">α, positive and finite.</param>
    /// <param name="beta">β in [0, 1).</param>
    /// <param name="biasCorrection">Whether to divide v by 1 − βᵗ in the step.</param>
    /// <param name="t">The step number (≥ 1); used only with bias correction.</param>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    /// <exception cref="ArgumentOutOfRangeException">
    /// α is not positive and finite, β is outside [0, 1) (β = 2 would climb the gradient), or bias correction is asked
    /// with t &lt; 1; nothing is changed.
    /// </exception>
    public static void Update<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> v, T alpha, T beta, bool biasCorrection = false, long t = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        UpdateKernels.RequireRate(alpha);
        UpdateKernels.RequireBeta(beta, nameof(beta));
        T stepSize = alpha;
        if (biasCorrection)
        {
            UpdateKernels.RequireStep(t);
            stepSize = T.CreateChecked(double.CreateChecked(alpha) / UpdateKernels.OneMinusPower(beta, t, nameof(beta)));
        }

        UpdateKernels.OneState(w, g, v, new Op<T>(beta, T.One - beta, stepSize));
    }

    /// <inheritdoc/>
    public override string Describe() => DescribeWithRate(SettingsList);

    private protected override string SettingsList => $"β={Format(Beta)}{(BiasCorrection ? ", bias correction" : string.Empty)}";

    /// <inheritdoc/>
    protected override void ValidateHyperparameters<T>()
    {
        BetaIn<T>(_beta, "beta");
    }

    /// <inheritdoc/>
    protected override void Update<T>(Parameter<T> parameter, Tensor<T>[] state, T learningRate, long t) =>
        Update(parameter.Value.WritableSpan, parameter.Gradient.ReadOnlySpan, state[0].Span, learningRate, T.CreateChecked(_beta), BiasCorrection, t);

    private readonly struct Op<T>(T beta, T oneMinusBeta, T stepSize) : IOneStateOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Invoke(ref T w, T g, ref T v)
        {
            v = (beta * v) + (oneMinusBeta * g);
            w -= stepSize * v;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Invoke(ref Vector128<T> w, Vector128<T> g, ref Vector128<T> v)
        {
            v = (v * beta) + (g * oneMinusBeta);
            w -= v * stepSize;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Invoke(ref Vector256<T> w, Vector256<T> g, ref Vector256<T> v)
        {
            v = (v * beta) + (g * oneMinusBeta);
            w -= v * stepSize;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Invoke(ref Vector512<T> w, Vector512<T> g, ref Vector512<T> v)
        {
            v = (v * beta) + (g * oneMinusBeta);
            w -= v * stepSize;
        }
    }
}
