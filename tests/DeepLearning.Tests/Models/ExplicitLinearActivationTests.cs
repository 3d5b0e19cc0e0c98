namespace DeepLearning.Tests.Models;

/// <summary>
/// An explicit <c>.Activation(Activation.Linear)</c> is the identity, so the builder's look-ahead looks past it. Before,
/// <c>.Dense(64).Activation(Activation.Linear).BatchNorm()</c> kept the Dense's bias (BatchNorm's β replaces it) and chose
/// Xavier for a Dense whose next real activation was a ReLU (He), and <c>.Dense(8).Activation(Activation.Linear).ReLU()</c>
/// left the ReLU unfused: each spelling built another model than the one without the Linear.
/// </summary>
public sealed class ExplicitLinearActivationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("explicit-linear-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Spellings() =>
    [
        "bias dropped before batch norm, He across it",
        "fused ReLU",
        "He across dropout",
        "two Linears before batch norm",
        "output sigmoid stays apart",
        "output softmax stays apart",
        "Linear as the output",
    ];

    private static (ModelBuilder<double> Explicit, ModelBuilder<double> Implicit) Pair(string spelling)
    {
        var s = Model.Sequential<double>(5);
        var linear = Activation.Linear;
        return spelling switch
        {
            "bias dropped before batch norm, He across it" => (
                s.Dense(16).Activation(linear).BatchNorm().ReLU().Dense(3).Softmax(),
                Model.Sequential<double>(5).Dense(16).BatchNorm().ReLU().Dense(3).Softmax()),
            "fused ReLU" => (
                s.Dense(16).Activation(linear).ReLU().Dense(1),
                Model.Sequential<double>(5).Dense(16).ReLU().Dense(1)),
            "He across dropout" => (
                s.Dense(16).Activation(linear).Dropout(0.8).LeakyReLU(0.1).Dense(1),
                Model.Sequential<double>(5).Dense(16).Dropout(0.8).LeakyReLU(0.1).Dense(1)),
            "two Linears before batch norm" => (
                s.Dense(16).Activation(linear).Activation(linear).BatchNorm().ReLU().Dense(1),
                Model.Sequential<double>(5).Dense(16).BatchNorm().ReLU().Dense(1)),
            "output sigmoid stays apart" => (
                s.Dense(16).Tanh().Dense(1).Activation(linear).Sigmoid(),
                Model.Sequential<double>(5).Dense(16).Tanh().Dense(1).Sigmoid()),
            "output softmax stays apart" => (
                s.Dense(16).Activation(linear).Tanh().Dense(3).Activation(linear).Softmax(),
                Model.Sequential<double>(5).Dense(16).Tanh().Dense(3).Softmax()),
            _ => (
                s.Dense(16).ReLU().Dense(2).Activation(linear),
                Model.Sequential<double>(5).Dense(16).ReLU().Dense(2)),
        };
    }

    [Theory]
    [MemberData(nameof(Spellings))]
    public void An_explicit_Linear_after_a_Dense_builds_the_model_built_without_it(string spelling)
    {
        var (explicitBuilder, implicitBuilder) = Pair(spelling);
        var a = explicitBuilder.Build(seed: 7);
        var b = implicitBuilder.Build(seed: 7);
        AssertSameModel(a, b);

        // And the explicit spelling's file loads as the model without the Linear.
        string path = Path.Combine(_dir, "explicit.safetensors");
        a.Save(path);
        AssertSameModel(Model.Load<double>(path), b);
    }

    [Fact]
    public void A_linear_Dense_before_an_explicit_Linear_and_batch_norm_has_no_bias_and_He_weights()
    {
        var model = Model.Sequential<float>(784).Dense(64).Activation(Activation.Linear).BatchNorm().ReLU().Dense(10).Softmax().Build(seed: 1);
        var dense = (Dense<float>)model.Layers[0];
        dense.UseBias.Should().BeFalse("BatchNorm's β replaces b, with or without an identity between them");
        dense.Initializer.Should().BeSameAs(Init.He, "the activation after the batch norm is a ReLU");
        model.Layers.Select(l => l.Kind).Should().Equal("Dense", "BatchNorm", "ReLU", "Dense", "Softmax");
        model.Parameters.Select(p => p.Name).Should().Equal("0.weight", "1.weight", "1.bias", "3.weight", "3.bias");

        // The bias rule's refusal of a biasInit it would ignore holds for this spelling too; useBias: true keeps b.
        FluentActions.Invoking(() => Model.Sequential<float>(3).Dense(4, biasInit: Init.PyTorchLinear).Activation(Activation.Linear).BatchNorm().Dense(1).Build(seed: 1))
            .Should().Throw<InvalidOperationException>().WithMessage("Dense layer 0 was given biasInit PyTorchLinear, but a linear Dense before BatchNorm has no bias by default*");
        ((Dense<float>)Model.Sequential<float>(3).Dense(4, useBias: true).Activation(Activation.Linear).BatchNorm().Dense(1).Build(seed: 1).Layers[0]).UseBias.Should().BeTrue();
    }

    [Fact]
    public void An_explicit_Linear_after_batch_norm_stays_an_identity_layer_and_the_init_looks_past_it()
    {
        // Not right after a Dense, the Linear is a layer of its own (as nn.Identity takes an index in nn.Sequential), but the
        // Dense before the batch norm still gets He for the ReLU after the identity, and the same weights as without it.
        var withIdentity = Model.Sequential<double>(5).Dense(16).BatchNorm().Activation(Activation.Linear).ReLU().Dense(1).Build(seed: 3);
        var without = Model.Sequential<double>(5).Dense(16).BatchNorm().ReLU().Dense(1).Build(seed: 3);
        withIdentity.Layers.Select(l => l.Kind).Should().Equal("Dense", "BatchNorm", "Linear", "ReLU", "Dense");
        ((Dense<double>)withIdentity.Layers[0]).Initializer.Should().BeSameAs(Init.He);
        withIdentity.Parameters.Select(p => p.Value.ToArray()).Should().BeEquivalentTo(without.Parameters.Select(p => p.Value.ToArray()), o => o.WithStrictOrdering());
        var x = Tensor.RandomNormal<double>(new RandomSource(11), [9, 5]);
        withIdentity.Predict(x).ToArray().Should().Equal(without.Predict(x).ToArray());

        string path = Path.Combine(_dir, "identity.safetensors");
        withIdentity.Save(path);
        var loaded = Model.Load<double>(path);
        loaded.Layers.Select(l => l.Kind).Should().Equal(withIdentity.Layers.Select(l => l.Kind));
        loaded.Predict(x).ToArray().Should().Equal(withIdentity.Predict(x).ToArray());
    }

    private static void AssertSameModel(Model<double> a, Model<double> b)
    {
        a.Layers.Select(Describe).Should().Equal(b.Layers.Select(Describe));
        a.Parameters.Select(p => p.Name).Should().Equal(b.Parameters.Select(p => p.Name));
        a.Parameters.Select(p => p.Value.ToArray()).Should().BeEquivalentTo(b.Parameters.Select(p => p.Value.ToArray()), o => o.WithStrictOrdering());
        a.Loss.Should().BeSameAs(b.Loss);
        var x = Tensor.RandomNormal<double>(new RandomSource(11), [9, 5]);
        a.Predict(x).ToArray().Should().Equal(b.Predict(x).ToArray());
    }

    private static string Describe(ILayer<double> layer) => layer switch
    {
        Dense<double> d => $"{d.Name} Dense({d.OutputSize}, {d.Activation}) {d.Initializer.Name} bias {d.UseBias}",
        ActivationLayer<double> g => $"{g.Name} {g.Activation}",
        _ => $"{layer.Name} {layer.Kind}",
    };
}
