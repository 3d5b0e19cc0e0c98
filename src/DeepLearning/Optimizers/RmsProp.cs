using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DeepLearning;

/// <summary>
/// RMSprop: an exponentially weighted average of squared gradients scales each weight's step:
/// s ← β·s + (1 − β)·dW², then W ← W − α·dW/(√s + ε) (squares and roots element-wise).
/// State: "s", the parameter's shape, starting at zero.
/// </summary>
/// <remarks>
/// The same rule as PyTorch's <c>torch.optim.RMSprop</c> (ε outside the square root, no momentum,
/// not centered) with <c>alpha=β</c>; its defaults (lr 0.01, alpha 0.99) differ from the course's.
/// </remarks>
public sealed class RmsProp : Optimizer
{
    private static readonly string[] _names = ["s"];
    private double _beta;
    private double _epsilon;

    /// <summary>Creates RMSprop.</summary>
    /// <param name="learningRate">α; must be positive and finite.</param>
    /// <param name="beta">β in [0, 1), the decay of the squared-gradient average.</param>
    /// <param name="epsilon">ε &gt; 0, keeps the division finite where s is near zero.</param>
    /// <exception cref="ArgumentOutOfRangeException">α, β or ε is out of range. (β that rounds to 1 or ε that rounds to 0 in the model's element type is refused by the first step, or by Fit before training.)</exception>
    public RmsProp(double learningRate, double beta = 0.9, double epsilon = 1e-8)
        : base(learningRate)
    {
        Beta = beta;
        Epsilon = epsilon;
    }

    /// <summary>β in [0, 1). May be changed between steps.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1).</exception>
    public double Beta
    {
        get => _beta;
        set => _beta = RequireBeta(value, "beta");
    }

    /// <summary>ε &gt; 0. May be changed between steps.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive and finite.</exception>
    public double Epsilon
    {
        get => _epsilon;
        set => _epsilon = RequireEpsilon(value, "epsilon");
    }

    /// <inheritdoc/>
    public override IReadOnlyList<string> StateNames => _names;

    /// <inheritdoc/>
    /// <remarks>s (index 0), an average of squared gradients, must be ≥ 0: the update divides by √s.</remarks>
    protected override string? NonNegativeStateMeaning(int index) => index == 0 ? "an average of squared gradients" : null;

    /// <summary>
    /// The rule over spans: s ← β·s + (1 − β)·g²; w ← w − α·g/(√s + ε). w, g and s have the parameter's length n.
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="w">W, updated in place.</param>
    /// <param name="g">dW.</param>
    /// <param name="s">s, updated in place.</param>
    /// <param name="alpha">α, positive and finite.</param>
    /// <param name="beta">β in [0, 1).</param>
    /// <param name="epsilon">ε, positive and finite.</param>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    /// <exception cref="ArgumentOutOfRangeException">α or ε is not positive and finite (ε = 0 gives 0/0 = NaN where g and s are 0), or β is outside [0, 1); nothing is changed.</exception>
    public static void Update<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> s, T alpha, T beta, T epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        UpdateKernels.RequireRate(alpha);
        UpdateKernels.RequireBeta(beta, nameof(beta));
        UpdateKernels.RequireEpsilon(epsilon);
        UpdateKernels.OneState(w, g, s, new Op<T>(beta, T.One - beta, alpha, epsilon));
    }

    /// <inheritdoc/>
    public override string Describe() => DescribeWithRate(SettingsList);

    private protected override string SettingsList => $"β={Format(Beta)}, ε={Format(Epsilon)}";

    /// <inheritdoc/>
    protected override void ValidateHyperparameters<T>()
    {
        BetaIn<T>(_beta, "beta");
        EpsilonIn<T>(_epsilon, "epsilon");
    }

    /// <inheritdoc/>
    protected override void Update<T>(Parameter<T> parameter, Tensor<T>[] state, T learningRate, long t) =>
        Update(parameter.Value.WritableSpan, parameter.Gradient.ReadOnlySpan, state[0].Span, learningRate, T.CreateChecked(_beta), T.CreateChecked(_epsilon));

    private readonly struct Op<T>(T beta, T oneMinusBeta, T alpha, T epsilon) : IOneStateOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Invoke(ref T w, T g, ref T s)
        {
            s = (beta * s) + (oneMinusBeta * (g * g));
            w -= alpha * g / (T.Sqrt(s) + epsilon);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Invoke(ref Vector128<T> w, Vector128<T> g, ref Vector128<T> s)
        {
            s = (s * beta) + (g * g * oneMinusBeta);
            w -= g * alpha / (Vector128.Sqrt(s) + Vector128.Create(epsilon));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Invoke(ref Vector256<T> w, Vector256<T> g, ref Vector256<T> s)
        {
            s = (s * beta) + (g * g * oneMinusBeta);
            w -= g * alpha / (Vector256.Sqrt(s) + Vector256.Create(epsilon));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Invoke(ref Vector512<T> w, Vector512<T> g, ref Vector512<T> s)
        {
            s = (s * beta) + (g * g * oneMinusBeta);
            w -= g * alpha / (Vector512.Sqrt(s) + Vector512.Create(epsilon));
        }
    }
}
