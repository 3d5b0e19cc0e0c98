using System.Globalization;
using System.Text;

namespace DeepLearning;

/// <summary>The course's four cases of bias and variance.</summary>
public enum BiasVarianceCase
{
    /// <summary>Training error is near human level and dev error near training error.</summary>
    Fine,

    /// <summary>Avoidable bias (training − human error) is large: the model underfits.</summary>
    HighBias,

    /// <summary>Variance (dev − training error) is large: the model overfits.</summary>
    HighVariance,

    /// <summary>Both gaps are large and neither dominates.</summary>
    HighBiasAndHighVariance,
}

/// <summary>Which epoch of a <see cref="History"/> a diagnosis reads.</summary>
public enum HistoryEpoch
{
    /// <summary>
    /// <see cref="History.BestEpoch"/>: the epoch early stopping judged best (the weights restore-best-weights keeps), or
    /// else the one with the lowest dev cost (the lowest training cost without a dev set).
    /// </summary>
    Best,

    /// <summary>The last epoch — the weights a model has when trained to the end without restoring.</summary>
    Last,
}

/// <summary>
/// When a gap counts as large. Errors are fractions (0.01 is 1%).
/// </summary>
/// <remarks>
/// The defaults reproduce the course's examples: 1.5% separates the gaps it calls small (0.5%, 1%)
/// from those it calls large (2% and up); a dominance ratio of 3 makes "human 1%, train 8%, dev 10%"
/// (7% vs 2%) a bias problem, as the course says, while "train 15%, dev 30%" (15% vs 15%) is both.
/// </remarks>
/// <param name="AvoidableBias">Avoidable bias (train − human error) above this (by more than <see cref="Tolerance"/>) is high bias.</param>
/// <param name="Variance">Variance (dev − train error) above this (by more than <see cref="Tolerance"/>) is high variance.</param>
/// <param name="DominanceRatio">
/// When both gaps are high but one is at least this many times the other, only the larger is named
/// (the course's advice: work on the bigger gap first). Use <see cref="double.PositiveInfinity"/> to
/// always name both.
/// </param>
public sealed record BiasVarianceThresholds(double AvoidableBias = 0.015, double Variance = 0.015, double DominanceRatio = 3.0)
{
    /// <summary>
    /// How far a gap must exceed its threshold to count as high: 1e-12 (absolute; errors are fractions in [0, 1]).
    /// A difference of two decimal error rates carries rounding of about 1e-17, so without it a gap of exactly 1.5%
    /// (e.g. 0.025 − 0.01 = 0.015000000000000001) would be high or not depending on the numbers' binary rounding.
    /// </summary>
    public const double Tolerance = 1e-12;

    /// <summary>The defaults: 1.5%, 1.5%, ratio 3.</summary>
    public static BiasVarianceThresholds Default { get; } = new();

    // Whether gap is above threshold by more than Tolerance.
    internal static bool Exceeds(double gap, double threshold) => gap > threshold + Tolerance;

    internal void Validate()
    {
        if (!(AvoidableBias >= 0 && AvoidableBias < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(AvoidableBias), AvoidableBias, $"the avoidable-bias threshold must be in [0, 1); received {AvoidableBias.ToString(CultureInfo.InvariantCulture)}");
        }

        if (!(Variance >= 0 && Variance < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(Variance), Variance, $"the variance threshold must be in [0, 1); received {Variance.ToString(CultureInfo.InvariantCulture)}");
        }

        if (!(DominanceRatio >= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(DominanceRatio), DominanceRatio, $"the dominance ratio must be at least 1; received {DominanceRatio.ToString(CultureInfo.InvariantCulture)}");
        }
    }
}

/// <summary>
/// A bias/variance diagnosis: the errors, the two gaps, the case and the course's remedies.
/// </summary>
/// <param name="TrainError">Training-set error, a fraction.</param>
/// <param name="DevError">Dev-set error, a fraction.</param>
/// <param name="HumanError">Human-level error, the proxy for Bayes error, a fraction.</param>
/// <param name="Case">The case named.</param>
/// <param name="Remedies">What the course recommends trying, most relevant first; empty when fine.</param>
/// <param name="Notes">Caveats about the numbers (e.g. training error below human level); usually empty.</param>
/// <param name="Thresholds">The thresholds used.</param>
/// <param name="Epoch">The epoch of the history read, when diagnosed from a history.</param>
public sealed record BiasVarianceReport(
    double TrainError,
    double DevError,
    double HumanError,
    BiasVarianceCase Case,
    IReadOnlyList<string> Remedies,
    IReadOnlyList<string> Notes,
    BiasVarianceThresholds Thresholds,
    int? Epoch = null)
{
    /// <summary>Avoidable bias = training error − human-level error.</summary>
    public double AvoidableBias => TrainError - HumanError;

    /// <summary>Variance = dev error − training error.</summary>
    public double Variance => DevError - TrainError;

    /// <summary>Whether the avoidable bias exceeds its threshold by more than <see cref="BiasVarianceThresholds.Tolerance"/>.</summary>
    public bool IsBiasHigh => BiasVarianceThresholds.Exceeds(AvoidableBias, Thresholds.AvoidableBias);

    /// <summary>Whether the variance exceeds its threshold by more than <see cref="BiasVarianceThresholds.Tolerance"/>.</summary>
    public bool IsVarianceHigh => BiasVarianceThresholds.Exceeds(Variance, Thresholds.Variance);

    /// <summary>What to work on first: "bias" or "variance" (the larger gap), or "nothing" when fine.</summary>
    public string Focus => Case switch
    {
        BiasVarianceCase.Fine => "nothing",
        BiasVarianceCase.HighBias => "bias",
        BiasVarianceCase.HighVariance => "variance",
        _ => AvoidableBias >= Variance ? "bias" : "variance",
    };

    /// <summary>The case in words, e.g. "high variance".</summary>
    public string CaseText => Case switch
    {
        BiasVarianceCase.Fine => "fine",
        BiasVarianceCase.HighBias => "high bias",
        BiasVarianceCase.HighVariance => "high variance",
        _ => "high bias and high variance",
    };

    /// <inheritdoc/>
    public override string ToString()
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("Bias/variance");
        if (Epoch is int e)
        {
            sb.Append(inv, $" (epoch {e})");
        }

        sb.Append(inv, $": human-level error {P(HumanError)}, training error {P(TrainError)}, dev error {P(DevError)}").AppendLine();
        sb.Append(inv, $"  avoidable bias = {P(TrainError)} - {P(HumanError)} = {P(AvoidableBias)} (threshold {P(Thresholds.AvoidableBias)}){(IsBiasHigh ? ", high" : string.Empty)}").AppendLine();
        sb.Append(inv, $"  variance       = {P(DevError)} - {P(TrainError)} = {P(Variance)} (threshold {P(Thresholds.Variance)}){(IsVarianceHigh ? ", high" : string.Empty)}").AppendLine();
        sb.Append(inv, $"  => {CaseText}");
        if (Case != BiasVarianceCase.Fine)
        {
            sb.Append(inv, $": work on {Focus} first");
        }

        foreach (var r in Remedies)
        {
            sb.AppendLine().Append("  - ").Append(r);
        }

        foreach (var n in Notes)
        {
            sb.AppendLine().Append("  note: ").Append(n);
        }

        return sb.ToString();

        static string P(double x) => (x * 100).ToString("0.0##", CultureInfo.InvariantCulture) + "%";
    }
}
