using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DeepLearning;

/// <summary>
/// Adam: momentum and RMSprop together, with bias correction.
/// v ← β1·v + (1 − β1)·dW; s ← β2·s + (1 − β2)·dW²;
/// v̂ = v/(1 − β1ᵗ); ŝ = s/(1 − β2ᵗ); W ← W − α·v̂/(√ŝ + ε), t counting update steps from 1.
/// State: "v" and "s", each the parameter's shape, starting at zero.
/// </summary>
/// <remarks>
/// Defaults are the course's (and the paper's): α = 0.001, β1 = 0.9, β2 = 0.999, ε = 1e-8.
/// The rule matches PyTorch's <c>torch.optim.Adam</c> (no weight decay, not AMSGrad).
/// On the first step v̂ = dW and ŝ = dW², so every weight moves by α·sign(dW) (ε aside).
/// The update is one fused pass over W, dW, v and s.
/// </remarks>
public class Adam : Optimizer
{
    private static readonly string[] _names = ["v", "s"];
    private double _beta1;
    private double _beta2;
    private double _epsilon;

    /// <summary>Creates Adam.</summary>
    /// <param name="learningRate">α; must be positive and finite.</param>
    /// <param name="beta1">β1 in [0, 1), the decay of the gradient average (momentum).</param>
    /// <param name="beta2">β2 in [0, 1), the decay of the squared-gradient average (RMSprop).</param>
    /// <param name="epsilon">ε &gt; 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range.</exception>
    /// <remarks>
    /// The hyperparameters are checked as doubles here, and again in the parameters' element type by the first step
    /// (and by Fit, before training): β1 or β2 that rounds to 1 (0.99999999 in float) or ε that rounds to 0 (1e-50 in
    /// float) throws <see cref="ArgumentOutOfRangeException"/> naming the value and the type, before anything changes.
    /// </remarks>
    public Adam(double learningRate = 0.001, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
        : base(learningRate)
    {
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
    }

    /// <summary>β1 in [0, 1), and below 1 once rounded to the parameters' element type (see <see cref="Adam(double, double, double, double)"/>). May be changed between steps.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1).</exception>
    public double Beta1
    {
        get => _beta1;
        set => _beta1 = RequireBeta(value, "beta1");
    }

    /// <summary>β2 in [0, 1), and below 1 once rounded to the parameters' element type (see <see cref="Adam(double, double, double, double)"/>). May be changed between steps.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1).</exception>
    public double Beta2
    {
        get => _beta2;
        set => _beta2 = RequireBeta(value, "beta2");
    }

    /// <summary>ε &gt; 0, and above 0 once rounded to the parameters' element type (see <see cref="Adam(double, double, double, double)"/>). May be changed between steps.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive and finite.</exception>
    public double Epsilon
    {
        get => _epsilon;
        set => _epsilon = RequireEpsilon(value, "epsilon");
    }

    /// <inheritdoc/>
    public override IReadOnlyList<string> StateNames => _names;

    /// <inheritdoc/>
    /// <remarks>s (index 1), an average of squared gradients, must be ≥ 0: the update divides by √s.</remarks>
    protected override string? NonNegativeStateMeaning(int index) => index == 1 ? "an average of squared gradients" : null;

    /// <summary>
    /// The rule over spans, in one pass: v ← β1·v + (1 − β1)·g; s ← β2·s + (1 − β2)·g²;
    /// w ← w − (α/(1 − β1ᵗ))·v/(√s/√(1 − β2ᵗ) + ε). w, g, v and s have the parameter's length n.
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="w">W, updated in place.</param>
    /// <param name="g">dW.</param>
    /// <param name="v">v, updated in place.</param>
    /// <param name="s">s, updated in place.</param>
    /// <param name="alpha">α.</param>
    /// <param name="beta1">β1.</param>
    /// <param name="beta2">β2.</param>
    /// <param name="epsilon">ε.</param>
    /// <param name="t">The step number, 1 on the first step.</param>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    /// <exception cref="ArgumentOutOfRangeException">t &lt; 1, α or ε not positive and finite, or β1 or β2 outside [0, 1); nothing is changed.</exception>
    public static void Update<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> v, Span<T> s, T alpha, T beta1, T beta2, T epsilon, long t)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        UpdateKernels.RequireStep(t);
        UpdateKernels.RequireRate(alpha);
        UpdateKernels.RequireEpsilon(epsilon);

        UpdateScaled(w, g, v, s, alpha, beta1, beta2, epsilon, t, T.One);
    }

    /// <summary>
    /// <see cref="Update{T}(Span{T}, ReadOnlySpan{T}, Span{T}, Span{T}, T, T, T, T, long)"/> with W first multiplied by <paramref name="scale"/> in the same pass (AdamW's decoupled decay
    /// 1 − α·λ; W·1 is W exactly, so Adam itself passes 1): w ← w·scale − (α/(1 − β1ᵗ))·v/(√s/√(1 − β2ᵗ) + ε), each product
    /// rounded as PyTorch's <c>mul_</c> then <c>addcdiv_</c> round them.
    /// </summary>
    internal static void UpdateScaled<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> v, Span<T> s, T alpha, T beta1, T beta2, T epsilon, long t, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Bias corrections in double, once per step: α/(1 − β1ᵗ) and 1/√(1 − β2ᵗ).
        T stepSize = T.CreateChecked(double.CreateChecked(alpha) / UpdateKernels.OneMinusPower(beta1, t, nameof(beta1)));
        T rootCorrection = T.CreateChecked(1.0 / Math.Sqrt(UpdateKernels.OneMinusPower(beta2, t, nameof(beta2))));
        UpdateKernels.TwoState(w, g, v, s, new Op<T>(beta1, T.One - beta1, beta2, T.One - beta2, stepSize, rootCorrection, epsilon, scale));
    }

    /// <inheritdoc/>
    public override string Describe() => DescribeWithRate(SettingsList);

    private protected override string SettingsList => $"β1={Format(Beta1)}, β2={Format(Beta2)}, ε={Format(Epsilon)}";

    /// <inheritdoc/>
    protected override void ValidateHyperparameters<T>()
    {
        BetaIn<T>(_beta1, "beta1");
        BetaIn<T>(_beta2, "beta2");
        EpsilonIn<T>(_epsilon, "epsilon");
    }

    /// <inheritdoc/>
    protected override void Update<T>(Parameter<T> parameter, Tensor<T>[] state, T learningRate, long t) =>
        UpdateScaled(
            parameter.Value.WritableSpan,
            parameter.Gradient.ReadOnlySpan,
            state[0].Span,
            state[1].Span,
            learningRate,
            T.CreateChecked(_beta1),
            T.CreateChecked(_beta2),
            T.CreateChecked(_epsilon),
            t,
            WeightScale(parameter));

    /// <summary>The factor W is multiplied by before the step (1 for Adam; <see cref="AdamW"/>'s decoupled decay).</summary>
    private protected virtual T WeightScale<T>(Parameter<T> parameter)
        where T : unmanaged, IFloatingPointIeee754<T> => T.One;

    private readonly struct Op<T>(T beta1, T oneMinusBeta1, T beta2, T oneMinusBeta2, T stepSize, T rootCorrection, T epsilon, T scale) : ITwoStateOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Invoke(ref T w, T g, ref T v, ref T s)
        {
            v = (beta1 * v) + (oneMinusBeta1 * g);
            s = (beta2 * s) + (oneMinusBeta2 * (g * g));
            w = (w * scale) - (stepSize * v / ((T.Sqrt(s) * rootCorrection) + epsilon));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Invoke(ref Vector128<T> w, Vector128<T> g, ref Vector128<T> v, ref Vector128<T> s)
        {
            v = (v * beta1) + (g * oneMinusBeta1);
            s = (s * beta2) + (g * g * oneMinusBeta2);
            w = (w * scale) - (v * stepSize / ((Vector128.Sqrt(s) * rootCorrection) + Vector128.Create(epsilon)));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Invoke(ref Vector256<T> w, Vector256<T> g, ref Vector256<T> v, ref Vector256<T> s)
        {
            v = (v * beta1) + (g * oneMinusBeta1);
            s = (s * beta2) + (g * g * oneMinusBeta2);
            w = (w * scale) - (v * stepSize / ((Vector256.Sqrt(s) * rootCorrection) + Vector256.Create(epsilon)));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Invoke(ref Vector512<T> w, Vector512<T> g, ref Vector512<T> v, ref Vector512<T> s)
        {
            v = (v * beta1) + (g * oneMinusBeta1);
            s = (s * beta2) + (g * g * oneMinusBeta2);
            w = (w * scale) - (v * stepSize / ((Vector512.Sqrt(s) * rootCorrection) + Vector512.Create(epsilon)));
        }
    }
}
