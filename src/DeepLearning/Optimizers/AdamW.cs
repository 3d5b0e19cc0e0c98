using System.Globalization;

namespace DeepLearning;

/// <summary>
/// AdamW: Adam with decoupled weight decay (Loshchilov and Hutter). Each step first shrinks the weights,
/// W ← W·(1 − α·λ), then takes <see cref="Adam"/>'s step: v ← β1·v + (1 − β1)·dW; s ← β2·s + (1 − β2)·dW²;
/// W ← W − (α/(1 − β1ᵗ))·v/(√s/√(1 − β2ᵗ) + ε). The decay is not part of dW, so it is not rescaled by √ŝ as an L2
/// penalty inside Adam would be. State: "v" and "s", as Adam's.
/// </summary>
/// <remarks>
/// The rule matches PyTorch's <c>torch.optim.AdamW</c> (defaults α = 0.001, β1 = 0.9, β2 = 0.999, ε = 1e-8, λ = 0.01) and
/// Keras's <c>AdamW</c> (whose default λ is 0.004). Like PyTorch's, it decays every parameter it steps, biases, γ and β
/// included; <c>decayOnlyWeights: true</c> decays only the weights a regularizer would penalize
/// (<see cref="Parameter{T}.Regularized"/>: the W[l]), as a PyTorch parameter group with <c>weight_decay=0</c> for the
/// rest does. The decay uses the rate of the step (a <see cref="TrainingOptions{T}.Decay"/> schedule lowers both). To
/// combine it with <see cref="TrainingOptions{T}.Regularization"/> is allowed but unusual: that penalty goes through dW.
/// </remarks>
public sealed class AdamW : Optimizer
{
    private static readonly string[] _names = ["v", "s"];
    private double _beta1;
    private double _beta2;
    private double _epsilon;
    private double _weightDecay;

    /// <summary>Creates AdamW.</summary>
    /// <param name="learningRate">α; must be positive and finite.</param>
    /// <param name="weightDecay">λ ≥ 0, finite: each step multiplies W by 1 − α·λ. 0 is Adam.</param>
    /// <param name="beta1">β1 in [0, 1).</param>
    /// <param name="beta2">β2 in [0, 1).</param>
    /// <param name="epsilon">ε &gt; 0.</param>
    /// <param name="decayOnlyWeights">Decay only the parameters marked <see cref="Parameter{T}.Regularized"/> (the W[l], not b, γ or β); false (all, as PyTorch) by default.</param>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range.</exception>
    /// <remarks>
    /// As for <see cref="Adam"/>, the hyperparameters are checked again in the parameters' element type before the first
    /// step; α·λ above 1 (which would flip the weights' sign every step) is refused there, naming both.
    /// </remarks>
    public AdamW(double learningRate = 0.001, double weightDecay = 0.01, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, bool decayOnlyWeights = false)
        : base(learningRate)
    {
        WeightDecay = weightDecay;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        DecayOnlyWeights = decayOnlyWeights;
    }

    /// <summary>λ ≥ 0, the decoupled weight decay: each step multiplies W by 1 − α·λ. May be changed between steps.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative, NaN or ∞.</exception>
    public double WeightDecay
    {
        get => _weightDecay;
        set
        {
            if (!(value >= 0) || !double.IsFinite(value))
            {
                throw new ArgumentOutOfRangeException("weightDecay", value, string.Create(CultureInfo.InvariantCulture, $"weightDecay must be finite and ≥ 0; received {value:R}"));
            }

            _weightDecay = value;
        }
    }

    /// <summary>Whether only the parameters a regularizer would penalize (the W[l]) are decayed. May be changed between steps.</summary>
    public bool DecayOnlyWeights { get; set; }

    /// <summary>β1 in [0, 1), and below 1 once rounded to the parameters' element type (as <see cref="Adam.Beta1"/>). May be changed between steps.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1).</exception>
    public double Beta1
    {
        get => _beta1;
        set => _beta1 = RequireBeta(value, "beta1");
    }

    /// <summary>β2 in [0, 1), and below 1 once rounded to the parameters' element type. May be changed between steps.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1).</exception>
    public double Beta2
    {
        get => _beta2;
        set => _beta2 = RequireBeta(value, "beta2");
    }

    /// <summary>ε &gt; 0, and above 0 once rounded to the parameters' element type. May be changed between steps.</summary>
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

    /// <inheritdoc/>
    public override string Describe() => DescribeWithRate(SettingsList);

    private protected override string SettingsList =>
        $"λ={Format(WeightDecay)}{(DecayOnlyWeights ? " (weights only)" : string.Empty)}, β1={Format(Beta1)}, β2={Format(Beta2)}, ε={Format(Epsilon)}";

    /// <inheritdoc/>
    protected override void ValidateHyperparameters<T>()
    {
        BetaIn<T>(_beta1, "beta1");
        BetaIn<T>(_beta2, "beta2");
        EpsilonIn<T>(_epsilon, "epsilon");
        if (LearningRate * _weightDecay > 1)
        {
            throw new ArgumentOutOfRangeException("weightDecay", _weightDecay, string.Create(CultureInfo.InvariantCulture,
                $"α·λ = {LearningRate:R}·{_weightDecay:R} = {LearningRate * _weightDecay:R} is above 1: each step would multiply the weights by {1 - (LearningRate * _weightDecay):R}, flipping their sign; lower the weight decay or the learning rate"));
        }
    }

    /// <inheritdoc/>
    protected override void Update<T>(Parameter<T> parameter, Tensor<T>[] state, T learningRate, long t)
    {
        // PyTorch multiplies by 1 − lr·λ computed in double from the rate as set, then rounded to the parameter's type.
        T scale = DecayOnlyWeights && !parameter.Regularized ? T.One : T.CreateTruncating(1 - (LearningRate * _weightDecay));
        Adam.UpdateScaled(
            parameter.Value.WritableSpan,
            parameter.Gradient.ReadOnlySpan,
            state[0].Span,
            state[1].Span,
            learningRate,
            T.CreateChecked(_beta1),
            T.CreateChecked(_beta2),
            T.CreateChecked(_epsilon),
            t,
            scale);
    }
}
