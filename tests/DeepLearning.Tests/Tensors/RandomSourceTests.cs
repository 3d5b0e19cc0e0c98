
namespace DeepLearning.Tests.Tensors;

public class RandomSourceTests
{
    [Fact]
    public void Same_seed_gives_same_numbers_and_different_seeds_differ()
    {
        var a = new RandomSource(42);
        var b = new RandomSource(42);
        var c = new RandomSource(43);
        var xa = Enumerable.Range(0, 100).Select(_ => a.NextDouble()).ToArray();
        var xb = Enumerable.Range(0, 100).Select(_ => b.NextDouble()).ToArray();
        var xc = Enumerable.Range(0, 100).Select(_ => c.NextDouble()).ToArray();
        xa.Should().Equal(xb);
        xa.Should().NotEqual(xc);
    }

    [Fact]
    public void Normal_and_uniform_parameters_that_give_no_finite_samples_are_refused_naming_them()
    {
        // Each returned NaN or ±∞ samples without a word: a NaN mean, a uniform width that overflows double, a NaN bound
        // in NextUniform, and (float) a mean or bound beyond float's range.
        var r = new RandomSource(1);
        var nanMean = () => Tensor.RandomNormal<double>(r, [3], mean: double.NaN);
        nanMean.Should().Throw<ArgumentOutOfRangeException>().WithMessage("mean must be finite; received NaN*").Which.ParamName.Should().Be("mean");
        var wide = () => Tensor.RandomUniform<double>(r, [3], -1e308, 1e308);
        wide.Should().Throw<ArgumentException>().WithMessage("uniform bounds must be finite with low ≤ high and a finite width high − low; received low = -1E+308, high = 1E+308");
        r.Invoking(s => s.NextUniform(double.NaN, 1)).Should().Throw<ArgumentException>().WithMessage("*received low = NaN, high = 1");
        r.Invoking(s => s.NextGaussian(double.PositiveInfinity, 1)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("mean must be finite; received Infinity*");

        var floatNormal = () => Tensor.RandomNormal<float>(r, [3], mean: 1e39);
        floatNormal.Should().Throw<ArgumentOutOfRangeException>().WithMessage("N(mean = 1E+39, standardDeviation = 1) drew Infinity in Single at index 0: the distribution is too wide for the element type*");
        var floatUniform = () => Tensor.RandomUniform<float>(r, [1000], 0, 1e39);
        floatUniform.Should().Throw<ArgumentOutOfRangeException>().WithMessage("U(low = 0, high = 1E+39) drew Infinity in Single at index *").Which.ParamName.Should().Be("high");

        // The same values in double, and ordinary ones in float, are drawn as before.
        Tensor.RandomNormal<double>(new RandomSource(2), [3], mean: 1e39).ReadOnlySpan.ToArray().Should().OnlyContain(v => double.IsFinite(v));
        Tensor.RandomUniform<float>(new RandomSource(2), [3], -2, 2).ReadOnlySpan.ToArray().Should().OnlyContain(v => v >= -2 && v < 2);
    }

    [Fact]
    public void Normal_fill_has_requested_mean_and_deviation()
    {
        var t = Tensor.RandomNormal<double>(new RandomSource(1), new[] { 200, 500 }, mean: 3, standardDeviation: 2);
        var s = t.ReadOnlySpan.ToArray();
        double mean = s.Average();
        double var = s.Select(v => (v - mean) * (v - mean)).Average();
        // 100,000 samples: standard error of the mean is 2/√1e5 ≈ 0.0063, of the variance ≈ 4·√(2/1e5) ≈ 0.018.
        mean.Should().BeApproximately(3, 0.03);
        var.Should().BeApproximately(4, 0.09);
    }

    [Fact]
    public void Uniform_fill_stays_in_range()
    {
        var t = Tensor.RandomUniform<float>(new RandomSource(5), new[] { 10000 }, -2, 3);
        t.ReadOnlySpan.ToArray().Should().OnlyContain(v => v >= -2 && v < 3);
        t.ReadOnlySpan.ToArray().Average().Should().BeApproximately(0.5f, 0.1f);
    }

    [Fact]
    public void NextInt_rejects_exactly_two_to_the_32_mod_range_values_so_it_has_no_modulo_bias()
    {
        // r·range for a 32-bit r covers each result 2³²/range times, rounded down or up; rejecting 2³² mod range of the
        // low halves evens that out. The threshold was once 2⁶⁴ mod range (2 instead of 4 for range 7: a bias of 2⁻³¹).
        foreach (uint range in new uint[] { 1, 2, 3, 7, 10, 1000, 60000, 999_999_937, int.MaxValue })
        {
            RandomSource.RejectionThreshold(range).Should().Be((uint)((1UL << 32) % range), $"range {range}");
        }
    }

    [Fact]
    public void NextInt_is_in_range_and_roughly_uniform()
    {
        var r = new RandomSource(9);
        var counts = new int[7];
        for (int i = 0; i < 70000; i++)
        {
            counts[r.NextInt(7)]++;
        }

        counts.Should().OnlyContain(c => c > 9500 && c < 10500);
        var act = () => r.NextInt(0);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*received 0*");
    }

    [Fact]
    public void NextInt_with_bounds_accepts_ranges_wider_than_int_MaxValue()
    {
        // maxExclusive − minInclusive used to be computed in int: [int.MinValue, int.MaxValue) overflowed to −1 and threw
        // "maxExclusive must be positive; received -1".
        foreach (var (min, max) in new[] { (int.MinValue, int.MaxValue), (-2_000_000_000, 2_000_000_000), (int.MinValue, 1), (-1, int.MaxValue) })
        {
            var a = new RandomSource(5);
            var b = new RandomSource(5);
            var values = Enumerable.Range(0, 4000).Select(_ => a.NextInt(min, max)).ToArray();
            values.Should().OnlyContain(v => v >= min && v < max, $"[{min}, {max})");
            values.Should().Equal(Enumerable.Range(0, 4000).Select(_ => b.NextInt(min, max)), "the same seed gives the same values");
            long mid = ((long)min + max) / 2;
            values.Count(v => v < mid).Should().BeInRange(1800, 2200, $"about half of [{min}, {max}) lies below its middle");
        }

        new RandomSource(1).NextInt(int.MaxValue - 1, int.MaxValue).Should().Be(int.MaxValue - 1);
        new RandomSource(1).NextInt(int.MinValue, int.MinValue + 1).Should().Be(int.MinValue);
    }

    [Fact]
    public void NextInt_with_bounds_draws_as_before_for_ranges_that_fit_an_int()
    {
        // Seeded runs must not change: for widths up to int.MaxValue the two-bound form is min + NextInt(width).
        foreach (var (min, max) in new[] { (0, 7), (-5, 5), (10, 1000), (-1_000_000, 60_000), (int.MinValue, -1), (0, int.MaxValue), (-1_000_000_000, 1_000_000_000) })
        {
            var a = new RandomSource(17);
            var b = new RandomSource(17);
            for (int i = 0; i < 2000; i++)
            {
                a.NextInt(min, max).Should().Be(min + b.NextInt(max - min), $"draw {i} of [{min}, {max})");
            }
        }
    }

    [Fact]
    public void NextInt_with_bounds_refuses_an_empty_range_naming_both_bounds()
    {
        var r = new RandomSource(1);
        FluentActions.Invoking(() => r.NextInt(3, 3)).Should().Throw<ArgumentException>().WithMessage("*[3, 3)*empty*");
        FluentActions.Invoking(() => r.NextInt(int.MaxValue, int.MinValue)).Should().Throw<ArgumentException>()
            .WithMessage("*[2147483647, -2147483648)*empty*maxExclusive must exceed minInclusive*");
    }

    [Fact]
    public void Permutation_contains_every_index_once_and_is_seeded()
    {
        var p = new RandomSource(3).Permutation(1000);
        p.OrderBy(i => i).Should().Equal(Enumerable.Range(0, 1000));
        p.Should().Equal(new RandomSource(3).Permutation(1000));
        p.Should().NotEqual(Enumerable.Range(0, 1000));
    }

    [Fact]
    public void Fork_is_deterministic_and_independent_of_parent_later_draws()
    {
        var a = new RandomSource(11);
        var fa = a.Fork();
        var b = new RandomSource(11);
        var fb = b.Fork();
        fa.NextUInt64().Should().Be(fb.NextUInt64());
        a.NextUInt64().Should().Be(b.NextUInt64());
    }
}
