using System.Globalization;
using System.Numerics;
using System.Text;

namespace DeepLearning;

/// <summary>The course's reading of a gradient check's relative difference.</summary>
public enum GradientVerdict
{
    /// <summary>difference &lt; 1e-7: backpropagation is correct.</summary>
    Correct = 0,

    /// <summary>1e-7 ≤ difference &lt; 1e-3 (around 1e-5): inspect the components.</summary>
    Inspect = 1,

    /// <summary>difference ≥ 1e-3: very likely a bug.</summary>
    LikelyBug = 2,
}

/// <summary>Settings of a gradient check.</summary>
public sealed record GradientCheckOptions
{
    /// <summary>ε of the central difference (J(θ + ε) − J(θ − ε))/(2ε), finite and &gt; 0. The course uses 1e-7.</summary>
    public double Epsilon { get; init; } = 1e-7;

    /// <summary>If set, check at most this many randomly chosen coordinates per parameter tensor (for large models).</summary>
    public int? MaxCoordinatesPerTensor { get; init; }

    /// <summary>Seed for choosing the sampled coordinates.</summary>
    public int Seed { get; init; }
}

/// <summary>The result for one parameter tensor.</summary>
/// <param name="Name">The parameter's name, e.g. "0.weight".</param>
/// <param name="Coordinates">How many coordinates were checked.</param>
/// <param name="Difference">‖dθ_approx − dθ‖₂ / (‖dθ_approx‖₂ + ‖dθ‖₂) over those coordinates.</param>
/// <param name="MaxAbsError">The largest |dθ_approx − dθ| over those coordinates.</param>
public sealed record ParameterCheck(string Name, int Coordinates, double Difference, double MaxAbsError)
{
    /// <summary>The verdict band of <see cref="Difference"/>.</summary>
    public GradientVerdict Verdict => GradientChecker.VerdictFor(Difference);
}

/// <summary>The outcome of <see cref="GradientChecker.Check{T}"/>.</summary>
/// <param name="Difference">The overall relative difference over every checked coordinate.</param>
/// <param name="Parameters">Per-tensor results.</param>
/// <param name="DropoutDisabled">True if the model had dropout layers that were turned off for the check.</param>
/// <param name="Regularization">The regularizer included in J.</param>
public sealed record GradientCheckReport(double Difference, IReadOnlyList<ParameterCheck> Parameters, bool DropoutDisabled, string Regularization)
{
    /// <summary>The overall verdict.</summary>
    public GradientVerdict Verdict => GradientChecker.VerdictFor(Difference);

    /// <inheritdoc/>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Gradient check (central differences in double, J includes {Regularization}){(DropoutDisabled ? "; dropout turned off while checking" : string.Empty)}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"parameter",-20}{"coords",8}{"difference",14}  verdict");
        foreach (var p in Parameters)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"{p.Name,-20}{p.Coordinates,8}{p.Difference,14:0.00E+00}  {p.Verdict}");
        }

        sb.Append(CultureInfo.InvariantCulture, $"{"overall",-20}{Parameters.Sum(p => p.Coordinates),8}{Difference,14:0.00E+00}  {Verdict}: {Describe(Verdict)}");
        return sb.ToString();
    }

    private static string Describe(GradientVerdict v) => v switch
    {
        GradientVerdict.Correct => "backpropagation is correct (< 1e-7)",
        GradientVerdict.Inspect => "inspect: the difference is above 1e-7 (around 1e-5 may still be fine, check the components)",
        _ => "likely a bug in backpropagation (≥ 1e-3)",
    };
}

/// <summary>
/// Gradient checking as the course teaches it: flatten every parameter into θ, approximate
/// dθ_approx[i] = (J(θ + εeᵢ) − J(θ − εeᵢ))/(2ε) with J including the regularization term, and compare with
/// backprop's dθ through difference = ‖dθ_approx − dθ‖₂ / (‖dθ_approx‖₂ + ‖dθ‖₂).
/// </summary>
/// <remarks>
/// The check runs on a double-precision copy of the model (a float model is converted), so the course's
/// 1e-7 threshold is reachable; dropout is turned off on the copy (its random mask would make J
/// non-deterministic) and the report says so; batch norm uses batch statistics (training mode), so J is the
/// training cost. A <c>Model&lt;double&gt;</c> is checked in place (its weights perturbed one coordinate at a time) and
/// restored afterwards, so it is not modified once the check returns; while it runs the model is held as a Fit holds
/// it: a Fit (or another check) of it on another thread is refused, and so is a check of a model a Fit on another
/// thread is training, whose weights are changing. A check from a callback of the Fit running on this thread (paused
/// there) is allowed. A float model is held only while it is copied.
/// </remarks>
public static class GradientChecker
{
    // The double models this thread is checking in place (perturbed), for refusing a nested check of one of them.
    [ThreadStatic]
    private static HashSet<object>? _checkingInPlace;

    /// <summary>Runs the check on the batch (X, Y).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="GradientCheckOptions.Epsilon"/> is not finite and &gt; 0, or <see cref="GradientCheckOptions.MaxCoordinatesPerTensor"/> is below 1.</exception>
    /// <exception cref="InvalidDataException">X or Y holds NaN or ±∞ (the cell is named).</exception>
    /// <exception cref="InvalidOperationException">The model is in use by a Fit or another gradient check on another thread (or, for a check called from a custom layer of a running check, on this one); nothing is checked. Or a model that is not double, checked through a double copy, cannot be copied (<see cref="Model{T}.ConvertTo{TOther}"/>: a custom layer with no factory registered with <see cref="LayerRegistry.Register"/>).</exception>
    /// <exception cref="ArgumentException">
    /// X holds no examples (m = 0), X and Y do not fit the model, or Y does not suit its loss as
    /// <see cref="Model{T}.Evaluate(Tensor{T}, Tensor{T})"/> requires (probability rows for softmax, values in [0, 1] for
    /// sigmoid; the first offending row is named).
    /// </exception>
    public static GradientCheckReport Check<T>(Model<T> model, Tensor<T> x, Tensor<T> y, GradientCheckOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        options ??= new GradientCheckOptions();
        if (!(options.Epsilon > 0) || !double.IsFinite(options.Epsilon))
        {
            // ε = ∞ would make every difference quotient NaN, reported as a backpropagation bug.
            throw new ArgumentOutOfRangeException(nameof(options), options.Epsilon, $"Epsilon must be finite and > 0; received {options.Epsilon.ToString(CultureInfo.InvariantCulture)}");
        }

        if (options.MaxCoordinatesPerTensor is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxCoordinatesPerTensor, $"MaxCoordinatesPerTensor must be ≥ 1; received {options.MaxCoordinatesPerTensor}");
        }

        if (x.RowCount == 0)
        {
            // J and every gradient of no examples are 0: every difference would be 0, the verdict "correct".
            throw new ArgumentException($"X holds no examples: shape {x.ShapeText}; a gradient check needs at least one row", nameof(x));
        }

        // NaN or ±∞ data makes every difference NaN, which would read as the verdict "likely a bug in backpropagation";
        // so would targets the loss is not defined for (Y drawn from N(0, 1) for a softmax model: the fused output
        // gradient Ŷ − Y assumes rows summing to 1). Y is checked as Cost and ComputeGradients check it, once, in T.
        FiniteCheck.RequireFinite(x, "X");
        model.CheckBatch(x, y, "gradient-check data");

        // A double model is checked in place and restored afterwards (so custom layers need no factory), held as a Fit
        // holds it: a Fit on another thread would step from perturbed weights (and the restore would undo its steps), and a
        // Predict or Save there would see them. A float model is checked through a double copy, held while it is copied.
        // A callback of the Fit running on this thread may check: that Fit waits for it. A check nested in a running check
        // (from a custom layer) is refused by the claim: the outer check's perturbation would be restored under it.
        // From a Fit callback the Fit's hold stands in for the claim, so a check nested in that check is caught here: the
        // models this thread is checking in place.
        if (model is Model<double> && _checkingInPlace is { } checking && checking.Contains(model))
        {
            throw new InvalidOperationException("the model is already in use by a gradient check that has not returned (a check nested in a check on this thread, e.g. from a custom layer's forward pass); its restore would undo the outer check's perturbation");
        }

        bool claimed = false;
        if (!InUse.HeldByThisThread(model, InUse.Fit))
        {
            InUse.Claim(model, "a gradient check", "the model is", "check the gradients before or after Fit (or from one of its callbacks), not while it runs on another thread");
            claimed = true;
        }

        try
        {
            var copy = model as Model<double> ?? model.ConvertTo<double>();
            if (claimed && !ReferenceEquals(copy, model))
            {
                InUse.Release(model);
                claimed = false;
            }

            var saved = ReferenceEquals(copy, model) ? copy.CaptureState() : null;
            var dropouts = copy.Layers.OfType<Dropout<double>>().ToArray();
            var dropoutWasEnabled = dropouts.Select(d => d.Enabled).ToArray();
            bool hadDropout = dropouts.Any(d => d.KeepProb < 1);
            try
            {
                // Inside the try, so the finally always takes the model out of the set again.
                if (saved is not null)
                {
                    (_checkingInPlace ??= new HashSet<object>(ReferenceEqualityComparer.Instance)).Add(model);
                }

                copy.DropoutEnabled = false;
                return Run(copy, x.ConvertTo<double>(), y.ConvertTo<double>(), options, hadDropout);
            }
            finally
            {
                if (saved is not null)
                {
                    _checkingInPlace?.Remove(model);
                    copy.RestoreState(saved);
                    for (int i = 0; i < dropouts.Length; i++)
                    {
                        dropouts[i].Enabled = dropoutWasEnabled[i];
                    }
                }
            }
        }
        finally
        {
            if (claimed)
            {
                InUse.Release(model);
            }
        }
    }

    private static GradientCheckReport Run(Model<double> copy, Tensor<double> xd, Tensor<double> yd, GradientCheckOptions options, bool hadDropout)
    {

        copy.ComputeGradientsChecked(xd, yd); // Y was checked in the model's own type above: float targets need not sum to 1 in double
        var analytic = copy.Parameters.Select(p => p.Gradient.Clone()).ToArray();
        var random = new RandomSource(options.Seed);
        double eps = options.Epsilon;
        var results = new List<ParameterCheck>();
        double totalDiff2 = 0, totalApprox2 = 0, totalGrad2 = 0;
        for (int pi = 0; pi < copy.Parameters.Count; pi++)
        {
            var p = copy.Parameters[pi];
            var theta = p.Value.WritableSpan;
            int[] coords = ChooseCoordinates(p.Length, options.MaxCoordinatesPerTensor, random);
            double diff2 = 0, approx2 = 0, grad2 = 0, maxAbs = 0;
            foreach (int i in coords)
            {
                double saved = theta[i];
                theta[i] = saved + eps;
                double plus = copy.CostChecked(xd, yd, training: true);
                theta[i] = saved - eps;
                double minus = copy.CostChecked(xd, yd, training: true);
                theta[i] = saved;
                double approx = (plus - minus) / (2 * eps);
                double grad = analytic[pi].Span[i];
                diff2 += (approx - grad) * (approx - grad);
                approx2 += approx * approx;
                grad2 += grad * grad;
                maxAbs = Math.Max(maxAbs, Math.Abs(approx - grad));
            }

            p.Value.MarkWritten(); // θ was perturbed through a held span (and put back): a copy taken meanwhile is stale
            results.Add(new ParameterCheck(p.Name, coords.Length, Relative(diff2, approx2, grad2), maxAbs));
            totalDiff2 += diff2;
            totalApprox2 += approx2;
            totalGrad2 += grad2;
        }

        return new GradientCheckReport(Relative(totalDiff2, totalApprox2, totalGrad2), results, hadDropout, copy.Regularizer.Name);
    }

    /// <summary>The verdict band for a relative difference.</summary>
    public static GradientVerdict VerdictFor(double difference) =>
        difference < 1e-7 ? GradientVerdict.Correct : difference < 1e-3 ? GradientVerdict.Inspect : GradientVerdict.LikelyBug;

    private static double Relative(double diff2, double approx2, double grad2)
    {
        double denominator = Math.Sqrt(approx2) + Math.Sqrt(grad2);
        return denominator == 0 ? 0 : Math.Sqrt(diff2) / denominator;
    }

    private static int[] ChooseCoordinates(int length, int? max, RandomSource random)
    {
        if (max is null || max.Value >= length)
        {
            return Enumerable.Range(0, length).ToArray();
        }

        var perm = random.Permutation(length);
        return perm.AsSpan(0, max.Value).ToArray();
    }
}
