using System.Globalization;

namespace DeepLearning;

/// <summary>How an <see cref="Axis"/> maps values to positions.</summary>
public enum AxisScale
{
    /// <summary>Position proportional to the value.</summary>
    Linear,

    /// <summary>Position proportional to log₁₀ of the value (values must be positive).</summary>
    Log,
}

/// <summary>
/// A numeric axis: its range, its "nice" tick values and their labels. Linear ticks are k·step with
/// step ∈ {1, 2, 5}·10ᵉ (the smallest such step that keeps within the tick budget); log ticks are 1-2-5 values
/// or, over many decades, powers of ten. <see cref="Fraction"/> maps a value to [0, 1] across the axis.
/// </summary>
public sealed class Axis
{
    private static readonly double[] _powersOfTen = Enumerable.Range(0, 23)
        .Select(k => double.Parse("1e" + k.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture))
        .ToArray();

    private readonly double[] _ticks;
    private readonly int _stepExponent;

    private Axis(double min, double max, AxisScale scale, double[] ticks, double step, int stepExponent)
    {
        Min = min;
        Max = max;
        Scale = scale;
        _ticks = ticks;
        Step = step;
        _stepExponent = stepExponent;
    }

    /// <summary>
    /// The narrowest linear axis, 1e-290: <see cref="Linear"/> widens a narrower data range (e.g. equal bounds at a
    /// subnormal value such as double.Epsilon) to this width around its centre, so every tick step is a normal double.
    /// </summary>
    internal const double MinimumSpan = 1e-290;

    /// <summary>[low, high], or when narrower than <paramref name="span"/> an interval of that width centred on it (and containing it).</summary>
    internal static (double Low, double High) AtLeast(double low, double high, double span)
    {
        if (high - low >= span)
        {
            return (low, high);
        }

        var centre = (low / 2) + (high / 2);
        return (Math.Min(low, centre - (span / 2)), Math.Max(high, centre + (span / 2)));
    }

    /// <summary>Lowest value shown on the axis.</summary>
    public double Min { get; }

    /// <summary>Highest value shown on the axis.</summary>
    public double Max { get; }

    /// <summary>Linear or logarithmic.</summary>
    public AxisScale Scale { get; }

    /// <summary>Tick values in increasing order, all within [<see cref="Min"/>, <see cref="Max"/>].</summary>
    public IReadOnlyList<double> Ticks => _ticks;

    /// <summary>Distance between consecutive linear ticks ({1, 2, 5}·10ᵉ); 10 for a log axis.</summary>
    public double Step { get; }

    /// <summary>
    /// A linear axis covering [<paramref name="dataMin"/>, <paramref name="dataMax"/>] with at most
    /// <paramref name="maxTicks"/> ticks at multiples of a nice step ({1, 2, 5}·10ᵉ).
    /// </summary>
    /// <param name="dataMin">Smallest data value; finite.</param>
    /// <param name="dataMax">Largest data value; finite and ≥ <paramref name="dataMin"/>. Equal bounds are widened, and a
    /// range narrower than 1e-290 (e.g. equal subnormal bounds) is widened to 1e-290 around its centre.
    /// Bounds up to ±double.MaxValue work: a width or an enclosing tick beyond the double range is never formed (the
    /// axis then ends at the data).</param>
    /// <param name="maxTicks">Upper bound on the number of ticks; at least 2.</param>
    /// <param name="niceBounds">When true the axis is widened to the enclosing ticks, so the first tick ≤ dataMin and the last ≥ dataMax; otherwise the axis is exactly the data range and ticks lie inside it.</param>
    /// <param name="integerTicks">When true the step is at least 1 (e.g. epochs).</param>
    /// <returns>The axis.</returns>
    public static Axis Linear(double dataMin, double dataMax, int maxTicks = 6, bool niceBounds = true, bool integerTicks = false)
    {
        ValidateRange(dataMin, dataMax);
        if (maxTicks < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(maxTicks), maxTicks, $"maxTicks must be at least 2; received {maxTicks}");
        }

        if (dataMin == dataMax)
        {
            var pad = dataMin == 0 ? 1 : Math.Abs(dataMin) * 0.1;
            if (integerTicks)
            {
                pad = Math.Max(pad, 1);
            }

            (dataMin, dataMax) = (Math.Max(dataMin - pad, double.MinValue), Math.Min(dataMax + pad, double.MaxValue));
        }

        // A range narrower than MinimumSpan (equal subnormal bounds, whose 10% pad underflows to 0, or two nearby
        // subnormals) has no representable nice step: centre an axis of MinimumSpan on it instead.
        (dataMin, dataMax) = AtLeast(dataMin, dataMax, MinimumSpan);

        // Start below the final step and widen until the ticks fit: the densest nice ticks within maxTicks. A width
        // beyond double.MaxValue (data near ±double.MaxValue) is halved first; halving is exact, so the step is the same.
        var width = dataMax - dataMin;
        var (mantissa, exponent) = NiceStep(double.IsFinite(width) ? width / (2.5 * maxTicks) : ((dataMax / 2) - (dataMin / 2)) / (1.25 * maxTicks));
        if (integerTicks && exponent < 0)
        {
            (mantissa, exponent) = (1, 0);
        }

        while (true)
        {
            var step = StepValue(mantissa, exponent);
            var lo = niceBounds ? Math.Floor(dataMin / step) : Math.Ceiling(dataMin / step);
            var hi = niceBounds ? Math.Ceiling(dataMax / step) : Math.Floor(dataMax / step);

            // Guard against k·step rounding just outside the data range.
            if (!niceBounds && Tick(lo, mantissa, exponent) < dataMin)
            {
                lo++;
            }

            if (!niceBounds && Tick(hi, mantissa, exponent) > dataMax)
            {
                hi--;
            }

            // Near ±double.MaxValue the enclosing tick may be ±∞: stop at the last finite one (the axis then ends at the data).
            if (!double.IsFinite(Tick(lo, mantissa, exponent)))
            {
                lo++;
            }

            if (!double.IsFinite(Tick(hi, mantissa, exponent)))
            {
                hi--;
            }

            if (hi - lo + 1 <= maxTicks)
            {
                var ticks = new double[(int)Math.Max(0, hi - lo + 1)];
                for (var i = 0; i < ticks.Length; i++)
                {
                    ticks[i] = Tick(lo + i, mantissa, exponent);
                }

                var min = niceBounds ? Math.Min(ticks[0], dataMin) : dataMin;
                var max = niceBounds ? Math.Max(ticks[^1], dataMax) : dataMax;
                return new Axis(min, max, AxisScale.Linear, ticks, step, exponent);
            }

            (mantissa, exponent) = mantissa switch
            {
                1 => (2, exponent),
                2 => (5, exponent),
                _ => (1, exponent + 1),
            };
        }
    }

    /// <summary>
    /// A base-10 log axis from the largest {1, 2, 5}·10ᵉ at or below <paramref name="dataMin"/> to the smallest one at
    /// or above <paramref name="dataMax"/>. Ticks are all the 1-2-5 values inside when there are at most
    /// <paramref name="maxTicks"/> of them, else the 1-5 values when they fit and the axis spans fewer than four
    /// powers of ten, otherwise the powers of ten (every k-th, to stay within <paramref name="maxTicks"/>).
    /// </summary>
    /// <param name="dataMin">Smallest data value; positive and finite.</param>
    /// <param name="dataMax">Largest data value; finite and ≥ <paramref name="dataMin"/>. Where no 1-2-5 value lies
    /// within the double range beyond the data (near double.MaxValue or double.Epsilon), the axis ends at the data.</param>
    /// <param name="maxTicks">Upper bound on the number of ticks; at least 2.</param>
    /// <returns>The axis.</returns>
    public static Axis Log(double dataMin, double dataMax, int maxTicks = 8)
    {
        ValidateRange(dataMin, dataMax);
        if (!(dataMin > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(dataMin), dataMin, $"a log axis needs positive values; received minimum {dataMin.ToString(CultureInfo.InvariantCulture)}");
        }

        if (maxTicks < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(maxTicks), maxTicks, $"maxTicks must be at least 2; received {maxTicks}");
        }

        // Candidate 1-2-5 values from the decade below dataMin to the decade above dataMax.
        var firstDecade = (int)Math.Floor(Math.Log10(dataMin)) - 1;
        var lastDecade = (int)Math.Ceiling(Math.Log10(dataMax)) + 1;
        var candidates = new List<(double Value, int Mantissa)>();
        for (var e = firstDecade; e <= lastDecade; e++)
        {
            candidates.Add((Tick(1, 1, e), 1));
            candidates.Add((Tick(1, 2, e), 2));
            candidates.Add((Tick(1, 5, e), 5));
        }

        // Beyond double's range the candidates are 0 or +∞: leave those out, and end the axis at the data there.
        candidates.RemoveAll(c => !(c.Value > 0) || !double.IsFinite(c.Value));
        var min = candidates.LastOrDefault(c => c.Value <= dataMin * (1 + 1e-12)).Value;
        min = min > 0 ? min : dataMin;
        var max = candidates.FirstOrDefault(c => c.Value >= dataMax * (1 - 1e-12) && c.Value > min).Value;
        max = max > 0 ? max : dataMax;
        if (!(max > min))
        {
            // dataMin = dataMax = a candidate with no finite one above: start a step lower instead.
            var below = candidates.LastOrDefault(c => c.Value < max).Value;
            min = below > 0 ? below : max / 2;
        }

        var inside = candidates.Where(c => c.Value >= min * (1 - 1e-12) && c.Value <= max * (1 + 1e-12)).ToList();
        var oneFive = inside.Where(c => c.Mantissa != 2).ToList();
        double[] ticks;
        if (inside.Count <= maxTicks)
        {
            ticks = [.. inside.Select(c => c.Value)];
        }
        else if (oneFive.Count <= maxTicks && inside.Count(c => c.Mantissa == 1) < 4)
        {
            ticks = [.. oneFive.Select(c => c.Value)];
        }
        else
        {
            var decades = inside.Where(c => c.Mantissa == 1).Select(c => c.Value).ToList();
            var stride = (int)Math.Ceiling(decades.Count / (double)maxTicks);
            ticks = [.. decades.Where((_, i) => i % stride == 0)];
        }

        return new Axis(min, max, AxisScale.Log, ticks, 10, (int)Math.Floor(Math.Log10(min)));
    }

    /// <summary>Where <paramref name="value"/> falls on the axis: 0 at <see cref="Min"/>, 1 at <see cref="Max"/> (linear in log₁₀ for a log axis).</summary>
    /// <param name="value">A value on the axis's scale.</param>
    /// <returns>The fraction; outside [0, 1] for values outside the axis.</returns>
    public double Fraction(double value) => Scale == AxisScale.Log
        ? (Math.Log10(value) - Math.Log10(Min)) / (Math.Log10(Max) - Math.Log10(Min))
        : double.IsFinite(Max - Min) ? (value - Min) / (Max - Min) : ((value / 2) - (Min / 2)) / ((Max / 2) - (Min / 2));

    /// <summary>The label for tick <paramref name="value"/>: as many decimals as the step needs, scientific notation for very large or small numbers.</summary>
    /// <param name="value">A tick value.</param>
    /// <returns>The label, formatted with the invariant culture.</returns>
    public string Label(double value)
    {
        if (value == 0)
        {
            return "0";
        }

        var magnitude = Math.Abs(value);
        if (Scale == AxisScale.Log)
        {
            return magnitude is >= 1e-3 and < 1e5
                ? value.ToString("0.###", CultureInfo.InvariantCulture)
                : value.ToString("0.#e-0", CultureInfo.InvariantCulture);
        }

        var largest = Math.Max(Math.Abs(Min), Math.Abs(Max));
        if (_stepExponent < -4 || largest >= 1e6)
        {
            return value.ToString("0.###e-0", CultureInfo.InvariantCulture);
        }

        var decimals = Math.Max(0, -_stepExponent);
        return value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    /// <summary>The smallest nice step ({1, 2, 5}·10ᵉ) that is ≥ <paramref name="roughStep"/>.</summary>
    /// <param name="roughStep">A positive, finite step.</param>
    /// <returns>The mantissa (1, 2 or 5) and the exponent e.</returns>
    internal static (int Mantissa, int Exponent) NiceStep(double roughStep)
    {
        if (!(roughStep > 0) || !double.IsFinite(roughStep))
        {
            throw new ArgumentOutOfRangeException(nameof(roughStep), roughStep, $"step must be positive and finite; received {roughStep}");
        }

        var exponent = (int)Math.Floor(Math.Log10(roughStep));
        var fraction = roughStep / StepValue(1, exponent);

        // Tolerate log10 rounding (e.g. 1000 → 2.9999…).
        if (fraction >= 10 * (1 - 1e-12))
        {
            exponent++;
            fraction /= 10;
        }

        return fraction <= 1 + 1e-12 ? (1, exponent)
            : fraction <= 2 + 1e-12 ? (2, exponent)
            : fraction <= 5 + 1e-12 ? (5, exponent)
            : (1, exponent + 1);
    }

    private static void ValidateRange(double dataMin, double dataMax)
    {
        if (!double.IsFinite(dataMin) || !double.IsFinite(dataMax))
        {
            throw new ArgumentException($"axis range must be finite; received [{dataMin.ToString(CultureInfo.InvariantCulture)}, {dataMax.ToString(CultureInfo.InvariantCulture)}]");
        }

        if (dataMin > dataMax)
        {
            throw new ArgumentException($"axis minimum must not exceed maximum; received [{dataMin.ToString(CultureInfo.InvariantCulture)}, {dataMax.ToString(CultureInfo.InvariantCulture)}]");
        }
    }

    private static double StepValue(int mantissa, int exponent) => Tick(1, mantissa, exponent);

    // k·mantissa·10^e, computed so that e.g. 3·1e-1 is the double nearest 0.3 (division by an exact power of ten).
    private static double Tick(double k, int mantissa, int exponent) => exponent switch
    {
        >= 0 and < 23 => k * mantissa * _powersOfTen[exponent],
        < 0 and > -23 => k * mantissa / _powersOfTen[-exponent],
        _ => k * mantissa * Math.Pow(10, exponent),
    };

}
