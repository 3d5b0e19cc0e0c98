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
public sealed class AdamW : Adam
{
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
        : base(learningRate, beta1, beta2, epsilon)
    {
        WeightDecay = weightDecay;
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

    private protected override string SettingsList =>
        $"λ={Format(WeightDecay)}{(DecayOnlyWeights ? " (weights only)" : string.Empty)}, {base.SettingsList}";

    /// <inheritdoc/>
    protected override void ValidateHyperparameters<T>()
    {
        base.ValidateHyperparameters<T>();
        if (LearningRate * _weightDecay > 1)
        {
            throw new ArgumentOutOfRangeException("weightDecay", _weightDecay, string.Create(CultureInfo.InvariantCulture,
                $"α·λ = {LearningRate:R}·{_weightDecay:R} = {LearningRate * _weightDecay:R} is above 1: each step would multiply the weights by {1 - (LearningRate * _weightDecay):R}, flipping their sign; lower the weight decay or the learning rate"));
        }
    }

    // PyTorch multiplies by 1 − lr·λ computed in double from the rate as set, then rounded to the parameter's type.
    private protected override T WeightScale<T>(Parameter<T> parameter) =>
        DecayOnlyWeights && !parameter.Regularized ? T.One : T.CreateTruncating(1 - (LearningRate * _weightDecay));
}
