using MathNet.Numerics.Distributions;

namespace DeepLearning.Tests.Tuning;

public class SearchSpaceTests
{
    // Kolmogorov–Smirnov statistic D = sup |F_n(x) − F(x)| of a sample against a continuous CDF.
    private static double KolmogorovSmirnov(IEnumerable<double> sample, Func<double, double> cdf)
    {
        var x = sample.OrderBy(v => v).ToArray();
        int n = x.Length;
        double d = 0;
        for (int i = 0; i < n; i++)
        {
            double f = cdf(x[i]);
            d = Math.Max(d, Math.Max(((i + 1.0) / n) - f, f - ((double)i / n)));
        }

        return d;
    }

    // Asymptotic critical value at α = 0.01: c(α)/√n with c(α) = √(−ln(α/2)/2) ≈ 1.6276.
    private static double KsCritical(int n, double alpha = 0.01) => Math.Sqrt(-Math.Log(alpha / 2) / 2) / Math.Sqrt(n);

    [Fact]
    public void LogUniform_samples_have_uniformly_distributed_log10()
    {
        const int n = 2000;
        var space = new SearchSpace().LogUniform("learningRate", 1e-4, 1);
        var lr = space.SampleTrials(n, searchSeed: 11).Select(t => t.GetDouble("learningRate")).ToArray();
        lr.Should().OnlyContain(v => v >= 1e-4 && v <= 1);

        var uniform = new ContinuousUniform(-4, 0);
        double d = KolmogorovSmirnov(lr.Select(Math.Log10), uniform.CumulativeDistribution);
        d.Should().BeLessThan(KsCritical(n));

        // The same test has power: linear-uniform samples of [1e-4, 1] are far from log-uniform.
        var random = new RandomSource(11);
        var linear = Enumerable.Range(0, n).Select(_ => random.NextUniform(1e-4, 1)).ToArray();
        KolmogorovSmirnov(linear.Select(Math.Log10), uniform.CumulativeDistribution).Should().BeGreaterThan(5 * KsCritical(n));

        // Each decade gets about a quarter of the samples (1e-4..1e-3, …, 1e-1..1).
        var perDecade = lr.GroupBy(v => (int)Math.Floor(Math.Log10(v))).ToDictionary(g => g.Key, g => g.Count());
        foreach (int decade in new[] { -4, -3, -2, -1 })
        {
            perDecade[decade].Should().BeInRange(400, 600);
        }
    }

    [Fact]
    public void OneMinusLogUniform_samples_fall_in_range_and_spread_over_decades()
    {
        const int n = 4000;
        var space = new SearchSpace().OneMinusLogUniform("beta1", 0.9, 0.999);
        var beta = space.SampleTrials(n, searchSeed: 5).Select(t => t.GetDouble("beta1")).ToArray();
        beta.Should().OnlyContain(b => b >= 0.9 && b <= 0.999);

        // 1 − β = 10^r with r ~ U[−3, −1]: half the samples in [0.9, 0.99), half in [0.99, 0.999].
        double belowPoint99 = beta.Count(b => b < 0.99) / (double)n;
        belowPoint99.Should().BeInRange(0.46, 0.54);
        beta.Count(b => b > 0.995).Should().BeGreaterThan(n / 10); // a linear U[0.9, 0.999] would put ~4% there; log puts ~15%

        double d = KolmogorovSmirnov(beta.Select(b => Math.Log10(1 - b)), new ContinuousUniform(-3, -1).CumulativeDistribution);
        d.Should().BeLessThan(KsCritical(n));
    }

    [Fact]
    public void IntRange_hits_both_inclusive_ends_uniformly()
    {
        var space = new SearchSpace().IntRange("layers", 2, 4).IntRange("hidden", 50, 100);
        var trials = space.SampleTrials(3000, searchSeed: 3);
        var layers = trials.Select(t => t.GetInt("layers")).ToArray();
        var hidden = trials.Select(t => t.GetInt("hidden")).ToArray();

        layers.Distinct().Order().Should().Equal(2, 3, 4);
        layers.GroupBy(v => v).Should().OnlyContain(g => g.Count() > 900 && g.Count() < 1100);
        hidden.Should().OnlyContain(h => h >= 50 && h <= 100);
        hidden.Should().Contain(50).And.Contain(100);
        hidden.Distinct().Should().HaveCount(51);
        trials[0]["layers"].Kind.Should().Be(HyperparameterKind.Integer);
    }

    [Fact]
    public void Uniform_and_choice_sample_their_values()
    {
        var space = new SearchSpace()
            .Uniform("lambda", 0, 0.1)
            .Choice("activation", "relu", "tanh")
            .Choice("keepProb", 0.5, 0.8, 1.0)
            .Choice("batch", 32, 64);
        var trials = space.SampleTrials(400, searchSeed: 9);
        trials.Select(t => t.GetDouble("lambda")).Should().OnlyContain(v => v >= 0 && v <= 0.1);
        trials.Select(t => t.GetDouble("lambda")).Average().Should().BeApproximately(0.05, 0.006);
        trials.Select(t => t.GetString("activation")).Distinct().Order().Should().Equal("relu", "tanh");
        trials.Select(t => t["keepProb"]).Distinct().Should().BeEquivalentTo(new HyperparameterValue[] { 0.5, 0.8, 1.0 });
        trials.Select(t => t.GetInt("batch")).Distinct().Order().Should().Equal(32, 64);
        trials.Should().OnlyContain(t => space.Contains(t));
    }

    [Fact]
    public void A_trial_depends_only_on_the_search_seed_and_its_id()
    {
        var space = new SearchSpace().LogUniform("lr", 1e-4, 1).IntRange("hidden", 50, 100);
        var ten = space.SampleTrials(10, searchSeed: 7);
        var twenty = space.SampleTrials(20, searchSeed: 7);
        twenty.Take(10).Should().Equal(ten);
        space.Sample(7, 15).Should().Be(twenty[15]);
        space.SampleTrials(10, searchSeed: 8).Select(t => t.GetDouble("lr")).Should().NotEqual(ten.Select(t => t.GetDouble("lr")));
        ten.Select(t => t.Seed).Distinct().Should().HaveCount(10);
        ten[3].Seed.Should().Be(Tuner.TrialSeed(7, 3));
    }

    [Fact]
    public void Grid_points_are_even_in_each_dimensions_own_scale()
    {
        var lr = new LogUniformDimension("lr", 1e-4, 1).GridPoints(5).Select(v => v.AsDouble()).ToArray();
        lr.Should().HaveCount(5);
        double[] expected = [1e-4, 1e-3, 1e-2, 1e-1, 1];
        for (int i = 0; i < 5; i++)
        {
            lr[i].Should().BeApproximately(expected[i], expected[i] * 1e-12);
        }

        var beta = new OneMinusLogUniformDimension("beta", 0.9, 0.999).GridPoints(3).Select(v => v.AsDouble()).ToArray();
        beta[0].Should().Be(0.9);
        beta[1].Should().BeApproximately(0.99, 1e-12);
        beta[2].Should().Be(0.999);

        new UniformDimension("x", 0, 1).GridPoints(5).Select(v => v.AsDouble()).Should().Equal(0, 0.25, 0.5, 0.75, 1);
        new UniformDimension("x", 0, 1).GridPoints(1).Single().AsDouble().Should().Be(0.5);
        new IntRangeDimension("layers", 2, 4).GridPoints(5).Select(v => v.AsInt()).Should().Equal(2, 3, 4);
        new IntRangeDimension("hidden", 50, 100).GridPoints(3).Select(v => v.AsInt()).Should().Equal(50, 75, 100);
        new LogUniformDimension("lr", 1e-4, 1).GridPoints(1).Single().AsDouble().Should().BeApproximately(1e-2, 1e-14);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(-3, 2)]
    [InlineData(2, 9)]
    [InlineData(-7, -1)]
    public void Int_grid_points_are_the_rounded_evenly_spaced_points_for_every_count(int low, int high)
    {
        // The reference: round count evenly spaced points and drop repeats (a dense grid takes a shortcut).
        for (int count = 1; count <= (3 * (high - low)) + 3; count++)
        {
            var expected = new List<int>();
            for (int i = 0; i < count; i++)
            {
                double x = count == 1 ? 0.5 * (low + high) : low + ((double)(high - low) * i / (count - 1));
                int n = (int)Math.Round(x, MidpointRounding.AwayFromZero);
                if (expected.Count == 0 || expected[^1] != n)
                {
                    expected.Add(n);
                }
            }

            new IntRangeDimension("n", low, high).GridPoints(count).Select(v => v.AsInt()).Should().Equal(expected, $"count = {count}");
        }
    }

    [Fact]
    public void Grid_trials_are_the_cartesian_product_with_the_last_dimension_fastest()
    {
        var space = new SearchSpace().LogUniform("lr", 1e-3, 1e-1).Choice("act", "relu", "tanh");
        var grid = space.GridTrials(3, searchSeed: 1);
        grid.Should().HaveCount(6);
        grid.Select(t => t.Id).Should().Equal(0, 1, 2, 3, 4, 5);
        grid.Select(t => t.GetString("act")).Should().Equal("relu", "tanh", "relu", "tanh", "relu", "tanh");
        grid[2].GetDouble("lr").Should().BeApproximately(1e-2, 1e-15);
        grid.Select(t => t.Seed).Distinct().Should().HaveCount(6);

        var custom = space.GridTrials(3, searchSeed: 1, new Dictionary<string, int> { ["lr"] = 5 });
        custom.Should().HaveCount(10);
        var bad = () => space.GridTrials(3, 1, new Dictionary<string, int> { ["beta"] = 2 });
        bad.Should().Throw<ArgumentException>().WithMessage("*beta*");
        var huge = () => new SearchSpace().Uniform("a", 0, 1).Uniform("b", 0, 1).Uniform("c", 0, 1).GridTrials(101, 1);
        huge.Should().Throw<ArgumentException>().WithMessage("*101 × 101 × 101*");
    }

    [Fact]
    public void Shrinking_works_in_each_dimensions_scale_by_hand()
    {
        // log10 values −3 and −2, width 4, padding 0.1 → [−3.4, −1.6].
        var lr = (LogUniformDimension)new LogUniformDimension("lr", 1e-4, 1).ShrinkAround([1e-3, 1e-2], 0.1);
        lr.Low.Should().BeApproximately(Math.Pow(10, -3.4), 1e-15);
        lr.High.Should().BeApproximately(Math.Pow(10, -1.6), 1e-15);

        // log10(1 − 0.99) = −2, width 2, padding 0.1 → r ∈ [−2.2, −1.8] → β ∈ [1 − 10^−1.8, 1 − 10^−2.2].
        var beta = (OneMinusLogUniformDimension)new OneMinusLogUniformDimension("beta", 0.9, 0.999).ShrinkAround([0.99], 0.1);
        beta.Low.Should().BeApproximately(1 - Math.Pow(10, -1.8), 1e-12);
        beta.High.Should().BeApproximately(1 - Math.Pow(10, -2.2), 1e-12);

        // 60..70, width 50, padding 0.1 → pad 5 → [55, 75]; near an end the range is clipped.
        var hidden = (IntRangeDimension)new IntRangeDimension("hidden", 50, 100).ShrinkAround([70, 60], 0.1);
        (hidden.Low, hidden.High).Should().Be((55, 75));
        var low = (IntRangeDimension)new IntRangeDimension("hidden", 50, 100).ShrinkAround([52], 0.1);
        (low.Low, low.High).Should().Be((50, 57));

        var x = (UniformDimension)new UniformDimension("x", 0, 10).ShrinkAround([4, 5], 0.1);
        (x.Low, x.High).Should().Be((3, 6));
        var clamped = (UniformDimension)new UniformDimension("x", 0, 10).ShrinkAround([9.5, 42], 0.1);
        (clamped.Low, clamped.High).Should().Be((8.5, 10));

        var act = (ChoiceDimension)new ChoiceDimension("act", ["relu", "tanh", "sigmoid"]).ShrinkAround(["tanh", "relu", "tanh"], 0.1);
        act.Values.Should().Equal(new HyperparameterValue[] { "relu", "tanh" });
    }

    [Fact]
    public void Invalid_dimensions_are_refused_with_the_values_echoed()
    {
        var space = new SearchSpace();
        FluentActions.Invoking(() => space.LogUniform("lr", 0, 1)).Should().Throw<ArgumentException>().WithMessage("*'lr'*low = 0, high = 1*");
        FluentActions.Invoking(() => space.LogUniform("lr", 1, 1e-4)).Should().Throw<ArgumentException>().WithMessage("*low = 1, high = 0.0001*");
        FluentActions.Invoking(() => space.OneMinusLogUniform("beta1", 0.9, 1)).Should().Throw<ArgumentException>().WithMessage("*high < 1*high = 1*");
        FluentActions.Invoking(() => space.Uniform("x", double.NaN, 1)).Should().Throw<ArgumentException>().WithMessage("*low = NaN*");
        FluentActions.Invoking(() => space.IntRange("layers", 4, 2)).Should().Throw<ArgumentException>().WithMessage("*low = 4, high = 2*");
        FluentActions.Invoking(() => space.Choice("act", Array.Empty<string>())).Should().Throw<ArgumentException>().WithMessage("*'act'*none*");
        FluentActions.Invoking(() => space.Choice("act", "relu", "relu")).Should().Throw<ArgumentException>().WithMessage("*relu more than once*");
        FluentActions.Invoking(() => space.Uniform("", 0, 1)).Should().Throw<ArgumentException>();
        space.Uniform("x", 0, 1);
        FluentActions.Invoking(() => space.Uniform("x", 0, 2)).Should().Throw<ArgumentException>().WithMessage("*already*'x'*");
        FluentActions.Invoking(() => space["y"]).Should().Throw<KeyNotFoundException>().WithMessage("*'y'*[x]*");
        FluentActions.Invoking(() => space.ShrinkAround([], padding: 0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*padding*received 0*");
        FluentActions.Invoking(() => new SearchSpace().SampleTrials(3, 1)).Should().Throw<InvalidOperationException>().WithMessage("*no dimensions*");
        FluentActions.Invoking(() => HyperparameterValue.FromReal(double.PositiveInfinity)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*received Infinity*");
    }

    [Fact]
    public void Space_prints_one_dimension_per_line()
    {
        var text = new SearchSpace().LogUniform("learningRate", 1e-4, 1).OneMinusLogUniform("beta1", 0.9, 0.999)
            .IntRange("hidden", 50, 100).Choice("act", "relu", "tanh").ToString();
        text.Split(Environment.NewLine).Should().Equal(
            "learningRate ~ LogUniform[0.0001, 1]",
            "beta1 ~ OneMinusLogUniform[0.9, 0.999]",
            "hidden ~ IntRange[50, 100]",
            "act ~ Choice{relu, tanh}");
    }

    [Fact]
    public void Uniform_whose_width_overflows_is_refused()
    {
        // Before: high − low = ∞, so every sample came out as high and the inner grid points as NaN.
        FluentActions.Invoking(() => new SearchSpace().Uniform("x", -1e308, 1e308))
            .Should().Throw<ArgumentException>().WithMessage("*Uniform 'x'*finite width*low = -1E+308, high = 1E+308*");
        new SearchSpace().Uniform("x", -1e307, 1e307).SampleTrials(20, 1).Select(t => t.GetDouble("x"))
            .Should().OnlyContain(v => double.IsFinite(v) && v > -1e307 && v < 1e307);
    }
}
