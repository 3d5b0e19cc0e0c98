
namespace DeepLearning.Tests.Initializers;

public class InitializerTests
{
    public static TheoryData<string, double> Cases => new()
    {
        // name, expected variance for fanIn = 400, fanOut = 100
        { "XavierNormal", 1.0 / 400 },
        { "XavierUniform", 1.0 / 400 },
        { "GlorotNormal", 2.0 / 500 },
        { "GlorotUniform", 2.0 / 500 },
        { "He", 2.0 / 400 },
        { "HeUniform", 2.0 / 400 },
        { "RandomNormal(0.01)", 1e-4 },
        { "RandomNormal(10)", 100 },
    };

    [Theory]
    [InlineData("RandomNormal(1e400)")]
    [InlineData("RandomNormal(-1)")]
    [InlineData("RandomNormal(0)")]
    [InlineData("RandomNormal(NaN)")]
    [InlineData("RandomNormal(abc)")]
    [InlineData("RandomNormal()")]
    [InlineData("Orthogonal")]
    public void Parse_refuses_a_bad_name_or_scale_with_a_FormatException_naming_it(string name)
    {
        var act = () => Initializer.Parse(name);
        act.Should().Throw<FormatException>().WithMessage($"*{name}*");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Sample_variance_matches_the_formula_within_sampling_error(string name, double expected)
    {
        var init = Initializer.Parse(name);
        init.Name.Should().Be(name);
        init.Variance(400, 100).Should().BeApproximately(expected, expected * 1e-12);
        var w = new Tensor<double>(100, 400);
        init.Initialize(w, 400, 100, new RandomSource(7));
        var v = w.ReadOnlySpan.ToArray();
        double mean = v.Average();
        double variance = v.Select(x => (x - mean) * (x - mean)).Average();
        // n = 40,000: the sample variance's relative standard error is √(2/n) ≈ 0.7% (normal), less for uniform.
        variance.Should().BeApproximately(expected, expected * 0.03);
        mean.Should().BeApproximately(0, 4 * Math.Sqrt(expected / v.Length));
    }

    [Fact]
    public void Zeros_gives_zeros_and_biases_start_at_zero()
    {
        var d = new Dense<float>(3, 2, Activation.Tanh, Init.Zeros, new RandomSource(1));
        d.Weight.Value.ReadOnlySpan.ToArray().Should().OnlyContain(v => v == 0);
        var he = new Dense<float>(3, 2, Activation.ReLU, Init.He, new RandomSource(1));
        he.Bias!.Value.ReadOnlySpan.ToArray().Should().OnlyContain(v => v == 0);
    }

    [Fact]
    public void Default_initializer_follows_the_activation_and_can_be_overridden()
    {
        var model = Model.Sequential<float>(4)
            .Dense(5).BatchNorm().ReLU()
            .Dense(5, Activation.Tanh)
            .Dense(5, Activation.LeakyReLU, Init.Zeros)
            .Dense(2).Softmax().Build(seed: 1);
        var dense = model.Layers.OfType<Dense<float>>().ToArray();
        dense.Select(d => d.Initializer.Name).Should().Equal("He", "XavierNormal", "Zeros", "XavierNormal");
    }

    [Fact]
    public void Same_seed_same_weights()
    {
        var a = Model.Sequential<float>(4).Dense(8, Activation.ReLU).Dense(1).Sigmoid().Build(seed: 42);
        var b = Model.Sequential<float>(4).Dense(8, Activation.ReLU).Dense(1).Sigmoid().Build(seed: 42);
        var c = Model.Sequential<float>(4).Dense(8, Activation.ReLU).Dense(1).Sigmoid().Build(seed: 43);
        a.Parameters[0].Value.Should().Be(b.Parameters[0].Value);
        a.Parameters[0].Value.Should().NotBe(c.Parameters[0].Value);
    }

    [Fact]
    public void A_scale_that_overflows_the_element_type_is_refused_when_the_model_is_built()
    {
        // RandomNormal(1e40) is finite as a double, but its float weights were ±∞ and the model predicted NaN.
        FluentActions.Invoking(() => Model.Sequential<float>(4).Dense(3, init: Init.RandomNormal(1e40)).Build(seed: 1))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("initializer RandomNormal(1E+40) drew *Infinity at index * of a tensor of shape (3, 4) in Single; its scale is too large for the element type*");
        FluentActions.Invoking(() => Model.Sequential<double>(4).Dense(3, init: Init.RandomNormal(1e200)).Build(seed: 1))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("initializer RandomNormal(1E+200) has variance Infinity for a tensor of shape (3, 4); its scale is too large for the element type Double*");

        var fine = Model.Sequential<double>(4).Dense(3, init: Init.RandomNormal(1e40)).Build(seed: 1);
        fine.Layers.OfType<Dense<double>>().Single().Weight.Value.ToArray().Should().OnlyContain(w => double.IsFinite(w));
    }
}
