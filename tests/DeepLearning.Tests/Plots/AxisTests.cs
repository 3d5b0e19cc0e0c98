
namespace DeepLearning.Tests.Plots;

public class AxisTests
{
    [Theory]
    [InlineData(0, 1, 6)]
    [InlineData(0.13, 0.87, 6)]
    [InlineData(-3.7, 12.2, 8)]
    [InlineData(0.0452, 0.7531, 5)]
    [InlineData(1, 1500, 10)]
    [InlineData(0.9712, 0.9981, 6)]
    [InlineData(-1e-7, 3e-7, 4)]
    [InlineData(12345, 98765, 3)]
    [InlineData(-5, -4.999, 6)]
    [InlineData(0, 1e9, 2)]
    public void Linear_ticks_are_nice_multiples_that_cover_the_range(double min, double max, int maxTicks)
    {
        var axis = Axis.Linear(min, max, maxTicks);

        axis.Ticks.Count.Should().BeInRange(2, maxTicks);
        axis.Ticks[0].Should().BeLessThanOrEqualTo(min);
        axis.Ticks[^1].Should().BeGreaterThanOrEqualTo(max);
        axis.Min.Should().Be(axis.Ticks[0]);
        axis.Max.Should().Be(axis.Ticks[^1]);
        var exponent = Math.Floor(Math.Log10(axis.Step));
        var mantissa = axis.Step / Math.Pow(10, exponent);
        new[] { 1.0, 2.0, 5.0 }.Should().Contain(m => Math.Abs(m - mantissa) < 1e-9, $"step {axis.Step} should be 1, 2 or 5 × 10^e");
        foreach (var t in axis.Ticks)
        {
            var k = t / axis.Step;
            k.Should().BeApproximately(Math.Round(k), 1e-9, $"tick {t} should be a multiple of {axis.Step}");
        }

        for (var i = 1; i < axis.Ticks.Count; i++)
        {
            (axis.Ticks[i] - axis.Ticks[i - 1]).Should().BeApproximately(axis.Step, axis.Step * 1e-9);
        }
    }

    [Fact]
    public void Unit_range_gets_fifths_that_are_the_exact_decimal_doubles()
    {
        // (1 − 0)/5 = 0.2 is already nice; ticks 0, 0.2, …, 1 must be the doubles nearest those decimals.
        var axis = Axis.Linear(0, 1, 6);
        axis.Ticks.Should().Equal(0, 0.2, 0.4, 0.6, 0.8, 1.0);
        axis.Ticks.Select(axis.Label).Should().Equal("0", "0.2", "0.4", "0.6", "0.8", "1.0");
    }

    [Fact]
    public void Hand_computed_ranges_get_the_expected_ticks()
    {
        // (0.87 − 0.13)/5 = 0.148 → step 0.2; floor(0.13/0.2) = 0, ceil(0.87/0.2) = 5.
        Axis.Linear(0.13, 0.87, 6).Ticks.Should().Equal(0, 0.2, 0.4, 0.6, 0.8, 1.0);
        // (12.2 + 3.7)/7 ≈ 2.27 → step 5; −5 … 15.
        Axis.Linear(-3.7, 12.2, 8).Ticks.Should().Equal(-5, 0, 5, 10, 15);
        // The densest nice step within the budget: 1 … 3178 with ≤ 4 ticks → step 1000 (not 2000).
        Axis.Linear(1, 3178, 4, niceBounds: false).Ticks.Should().Equal(1000, 2000, 3000);
        Axis.Linear(-89, 3089, 4, niceBounds: false).Ticks.Should().Equal(0, 1000, 2000, 3000);
        // Data range only: 1 … 30 with ≤ 7 ticks → step 5 → 5 … 30.
        Axis.Linear(1, 30, 7, niceBounds: false).Ticks.Should().Equal(5, 10, 15, 20, 25, 30);
        // 3 epochs: the integer step keeps labels whole.
        Axis.Linear(1, 3, 10, niceBounds: false, integerTicks: true).Ticks.Should().Equal(1, 2, 3);
    }

    [Fact]
    public void Data_range_axis_keeps_the_data_bounds_and_ticks_inside()
    {
        var axis = Axis.Linear(-1.13, 1.07, 7, niceBounds: false);
        axis.Min.Should().Be(-1.13);
        axis.Max.Should().Be(1.07);
        axis.Ticks.Should().Equal(-1.0, -0.5, 0, 0.5, 1.0);
    }

    [Fact]
    public void Ranges_near_double_MaxValue_get_finite_ticks_and_fractions()
    {
        // (max − min) overflowed to +∞: NiceStep threw about 'roughStep', or ticks and Fraction became ±∞ and NaN.
        const double max = double.MaxValue;
        foreach (var (lo, hi) in new[] { (-max, max), (max, max), (-max, -max), (0.0, max), (-max, 1.0), (max / 3, max) })
        {
            foreach (bool nice in new[] { true, false })
            {
                for (int maxTicks = 2; maxTicks <= 11; maxTicks++)
                {
                    var axis = Axis.Linear(lo, hi, maxTicks, niceBounds: nice);
                    string context = $"[{lo}, {hi}], {maxTicks} ticks, nice {nice}";
                    axis.Ticks.Count.Should().BeInRange(1, maxTicks, context);
                    axis.Ticks.Should().OnlyContain(t => double.IsFinite(t) && t >= axis.Min && t <= axis.Max, context);
                    axis.Ticks.Should().BeInAscendingOrder(context);
                    double.IsFinite(axis.Min).Should().BeTrue(context);
                    double.IsFinite(axis.Max).Should().BeTrue(context);
                    axis.Min.Should().BeLessThan(axis.Max, context);
                    axis.Fraction(lo).Should().BeInRange(0, 1, context);
                    axis.Fraction(hi).Should().BeInRange(0, 1, context);
                    axis.Ticks.Select(axis.Label).Should().OnlyContain(l => !l.Contains('∞') && !l.Contains("NaN") && !l.Contains("Infinity"), context);
                }
            }
        }

        var full = Axis.Linear(-max, max, 6);
        full.Fraction(-max).Should().Be(0);
        full.Fraction(max).Should().Be(1);
        full.Fraction(0).Should().BeApproximately(0.5, 1e-12);

        foreach (var (lo, hi) in new[] { (1.0, max), (max, max), (1e308, 1e308), (double.Epsilon, double.Epsilon), (double.Epsilon, max) })
        {
            var log = Axis.Log(lo, hi);
            string context = $"log [{lo}, {hi}]";
            log.Min.Should().BeGreaterThan(0, context);
            double.IsFinite(log.Max).Should().BeTrue(context);
            log.Min.Should().BeLessThan(log.Max, context);
            log.Ticks.Should().OnlyContain(t => t > 0 && double.IsFinite(t), context);
            log.Fraction(lo).Should().BeInRange(0, 1, context);
            log.Fraction(hi).Should().BeInRange(0, 1, context);
        }
    }

    [Fact]
    public void Subnormal_ranges_are_widened_to_the_minimum_span()
    {
        // The 10% pad of double.Epsilon underflowed to 0 and NiceStep threw about 'roughStep'.
        foreach (var (lo, hi) in new[] { (double.Epsilon, double.Epsilon), (-double.Epsilon, double.Epsilon), (double.Epsilon, 3 * double.Epsilon), (1e-300, 1e-300), (0.0, 1e-295) })
        {
            foreach (var nice in new[] { true, false })
            {
                var axis = Axis.Linear(lo, hi, 6, niceBounds: nice);
                string context = $"[{lo}, {hi}] nice {nice}";
                axis.Min.Should().BeLessThanOrEqualTo(lo, context);
                axis.Max.Should().BeGreaterThanOrEqualTo(hi, context);
                (axis.Max - axis.Min).Should().BeGreaterThanOrEqualTo(Axis.MinimumSpan * (1 - 1e-12), context);
                axis.Ticks.Should().NotBeEmpty(context).And.OnlyContain(t => t >= axis.Min && t <= axis.Max, context);
                axis.Fraction(lo).Should().BeInRange(0, 1, context);
                axis.Ticks.Select(axis.Label).Should().OnlyContain(l => !l.Contains("NaN") && !l.Contains('∞'), context);
            }
        }
    }

    [Fact]
    public void Equal_bounds_are_widened()
    {
        var zero = Axis.Linear(0, 0);
        zero.Min.Should().BeLessThan(0);
        zero.Max.Should().BeGreaterThan(0);
        var five = Axis.Linear(5, 5);
        five.Min.Should().BeLessThan(5);
        five.Max.Should().BeGreaterThan(5);
    }

    [Theory]
    [InlineData(double.NaN, 1)]
    [InlineData(0, double.PositiveInfinity)]
    [InlineData(2, 1)]
    public void Bad_ranges_are_rejected_with_the_values(double min, double max)
    {
        var act = () => Axis.Linear(min, max);
        act.Should().Throw<ArgumentException>().WithMessage("*received*");
    }

    [Fact]
    public void Labels_use_the_step_decimals_and_scientific_notation_at_extremes()
    {
        var axis = Axis.Linear(0, 0.35, 8);
        axis.Step.Should().Be(0.05);
        axis.Ticks.Select(axis.Label).Should().Equal("0", "0.05", "0.10", "0.15", "0.20", "0.25", "0.30", "0.35");
        var big = Axis.Linear(0, 4e6, 5);
        big.Label(big.Ticks[1]).Should().Be("1e6");
        var tiny = Axis.Linear(0, 4e-6, 5);
        tiny.Label(tiny.Ticks[1]).Should().Be("1e-6");
    }

    [Fact]
    public void Log_axis_uses_1_2_5_bounds_and_ticks_over_two_decades_or_fewer()
    {
        var axis = Axis.Log(0.06, 0.75);
        axis.Min.Should().Be(0.05);
        axis.Max.Should().Be(1);
        axis.Ticks.Should().Equal(0.05, 0.1, 0.2, 0.5, 1);
        axis.Ticks.Select(axis.Label).Should().Equal("0.05", "0.1", "0.2", "0.5", "1");
        axis.Fraction(axis.Min).Should().Be(0);
        axis.Fraction(axis.Max).Should().BeApproximately(1, 1e-12);
        // log10(0.1/0.05) / log10(1/0.05) = log10 2 / log10 20.
        axis.Fraction(0.1).Should().BeApproximately(Math.Log10(2) / Math.Log10(20), 1e-12);
    }

    [Fact]
    public void Log_axis_over_many_decades_shows_powers_of_ten()
    {
        // Eight 1-2-5 values fit a budget of 8; 0.005, 0.01, 0.05, 0.1, 0.5, 1 fit a budget of 6; a budget of 5 keeps the decades only.
        Axis.Log(0.007, 0.69, maxTicks: 6).Ticks.Should().Equal(0.005, 0.01, 0.05, 0.1, 0.5, 1);
        Axis.Log(0.007, 0.69).Ticks.Should().Equal(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1);
        var axis = Axis.Log(0.007, 0.69, maxTicks: 5);
        axis.Min.Should().Be(0.005);
        axis.Max.Should().Be(1);
        axis.Ticks.Should().Equal(0.01, 0.1, 1);

        var wide = Axis.Log(3e-9, 2e3, maxTicks: 5);
        wide.Ticks.Should().HaveCountLessThanOrEqualTo(5);
        wide.Ticks.Should().OnlyContain(t => Math.Abs(Math.Log10(t) - Math.Round(Math.Log10(t))) < 1e-9);
        wide.Ticks[0].Should().Be(1e-8);
        wide.Label(1e-8).Should().Be("1e-8");
    }

    [Fact]
    public void Log_axis_rejects_non_positive_values()
    {
        var act = () => Axis.Log(0, 1);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*positive*0*");
    }
}
