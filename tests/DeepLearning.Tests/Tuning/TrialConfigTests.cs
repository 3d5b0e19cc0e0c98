using System.Text.Json;

namespace DeepLearning.Tests.Tuning;

public class TrialConfigTests
{
    private static TrialConfig Sample() => new(
        id: 12,
        round: 1,
        seed: ulong.MaxValue - 3,
        new Dictionary<string, HyperparameterValue>
        {
            ["learningRate"] = 3.1622776601683795e-5,
            ["beta1"] = 0.999,
            ["keepProb"] = 1.0,
            ["hidden"] = 73,
            ["activation"] = "relu",
            ["label"] = "a \"quoted\", odd name",
        });

    [Fact]
    public void Json_round_trip_keeps_ids_seed_kinds_values_and_order()
    {
        var trial = Sample();
        string json = trial.ToJson();
        json.Should().Contain("\"keepProb\":1.0").And.Contain("\"hidden\":73").And.Contain("\"seed\":18446744073709551612");

        var back = TrialConfig.FromJson(json);
        back.Should().Be(trial);
        back.Hyperparameters.Keys.Should().Equal("learningRate", "beta1", "keepProb", "hidden", "activation", "label");
        back["keepProb"].Kind.Should().Be(HyperparameterKind.Real);
        back["hidden"].Kind.Should().Be(HyperparameterKind.Integer);
        back.GetDouble("learningRate").Should().Be(3.1622776601683795e-5);
        back.GetString("label").Should().Be("a \"quoted\", odd name");
    }

    [Fact]
    public void JsonSerializer_uses_the_same_form_and_lists_round_trip()
    {
        var trial = Sample();
        JsonSerializer.Serialize(trial).Should().Be(trial.ToJson());
        JsonSerializer.Deserialize<TrialConfig>(trial.ToJson()).Should().Be(trial);

        var space = new SearchSpace().LogUniform("lr", 1e-4, 1).IntRange("hidden", 50, 100).Choice("act", "relu", "tanh");
        var trials = space.SampleTrials(25, searchSeed: 4);
        TrialConfig.ListFromJson(TrialConfig.ToJson(trials)).Should().Equal(trials);
    }

    [Fact]
    public void Bad_json_gives_a_format_error_naming_the_problem()
    {
        FluentActions.Invoking(() => TrialConfig.FromJson("{\"id\":1,\"round\":0,\"seed\":5}"))
            .Should().Throw<FormatException>().WithMessage("*hyperparameters*");
        FluentActions.Invoking(() => TrialConfig.FromJson("{\"id\":1,\"round\":0,\"seed\":5,\"hyperparameters\":{\"a\":true}}"))
            .Should().Throw<FormatException>().WithMessage("*'a'*number or a string*");
        FluentActions.Invoking(() => TrialConfig.FromJson("[1, 2"))
            .Should().Throw<FormatException>();
        FluentActions.Invoking(() => JsonSerializer.Deserialize<TrialConfig>("{\"id\":-1,\"round\":0,\"seed\":5,\"hyperparameters\":{}}"))
            .Should().Throw<JsonException>().WithMessage("*received -1*");
    }

    [Fact]
    public void Accessors_name_the_trial_and_the_hyperparameter_on_misuse()
    {
        var trial = Sample();
        trial.GetDouble("hidden").Should().Be(73); // an integer reads as a double
        FluentActions.Invoking(() => trial.GetInt("keepProb")).Should().Throw<InvalidOperationException>().WithMessage("*trial 12*'keepProb'*not an integer*");
        FluentActions.Invoking(() => trial.GetDouble("activation")).Should().Throw<InvalidOperationException>().WithMessage("*'activation'*text*");
        FluentActions.Invoking(() => trial["momentum"]).Should().Throw<KeyNotFoundException>().WithMessage("*'momentum'*learningRate*");
        FluentActions.Invoking(() => new TrialConfig(0, 0, 1, [new("a", 1), new("a", 2)])).Should().Throw<ArgumentException>().WithMessage("*'a'*more than once*");
        trial.ToString().Should().StartWith("#12 (round 1, seed 18446744073709551612): learningRate=3.162E-05, beta1=0.999, keepProb=1, hidden=73");
    }
}
