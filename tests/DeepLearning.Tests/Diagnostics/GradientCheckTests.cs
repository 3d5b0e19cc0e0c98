
namespace DeepLearning.Tests.Diagnostics;

/// <summary>
/// The one shared backward-pass test: every layer, activation (fused into Dense and as its own layer),
/// output loss and regularizer, checked against central differences in double (below 1e-7).
/// </summary>
public class GradientCheckTests
{
    public static TheoryData<string, Activation, bool, string, string> Combinations()
    {
        var data = new TheoryData<string, Activation, bool, string, string>();
        foreach (var output in new[] { "softmax", "sigmoid", "linear" })
        {
            foreach (var act in new[] { Activation.ReLU, Activation.LeakyReLU, Activation.Tanh, Activation.Sigmoid, Activation.Linear })
            {
                foreach (bool fused in new[] { true, false })
                {
                    data.Add(output, act, fused, "plain", "none");
                }
            }

            data.Add(output, Activation.ReLU, false, "batchnorm", "none");
            data.Add(output, Activation.Tanh, true, "dropout", "none");
            data.Add(output, Activation.ReLU, true, "plain", "L2");
            data.Add(output, Activation.Tanh, false, "batchnorm", "L1");
            data.Add(output, Activation.LeakyReLU, false, "batchnorm+dropout", "L2");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public void Backprop_matches_central_differences(string output, Activation hidden, bool fused, string extras, string regularization)
    {
        int outputs = output == "softmax" ? 4 : output == "sigmoid" ? 1 : 2;
        var b = Model.Sequential<double>(5);
        for (int l = 0; l < 2; l++)
        {
            b = fused && !extras.Contains("batchnorm") ? b.Dense(6, hidden) : b.Dense(6);
            if (extras.Contains("batchnorm"))
            {
                b = b.BatchNorm();
            }

            if (!fused || extras.Contains("batchnorm"))
            {
                b = b.Activation(hidden, 0.05);
            }

            if (extras.Contains("dropout"))
            {
                b = b.Dropout(0.7);
            }
        }

        b = b.Dense(outputs);
        b = output switch
        {
            "softmax" => b.Softmax(),
            "sigmoid" => b.Sigmoid(),
            _ => b,
        };
        var model = b.Build(seed: 3);
        model.Regularizer = regularization switch
        {
            "L2" => Regularization.L2(0.7),
            "L1" => Regularization.L1(0.3),
            _ => Regularization.None,
        };
        var (x, y) = TestData.Problem<double>(7, 5, outputs, output, seed: 11);

        var report = GradientChecker.Check(model, x, y);

        report.Difference.Should().BeLessThan(1e-7, report.ToString());
        report.Verdict.Should().Be(GradientVerdict.Correct);
        // Per tensor the bar is 1e-6: with ε = 1e-7 the difference quotient carries ~1e-9 of round-off,
        // which is above 1e-7 relative for the small gradients of a deep sigmoid stack's first layer.
        report.Parameters.Should().OnlyContain(p => p.Difference < 1e-6);
        report.DropoutDisabled.Should().Be(extras.Contains("dropout"));
    }

    [Fact]
    public void A_float_model_is_checked_through_a_double_copy_and_left_untouched()
    {
        var model = Model.Sequential<float>(4).Dense(5).BatchNorm().ReLU().Dropout(0.5).Dense(3).Softmax().Build(seed: 5);
        model.Regularizer = Regularization.L2(0.1);
        var before = model.CaptureState();
        var (x, y) = TestData.Problem<float>(6, 4, 3, "softmax", seed: 2);
        var report = GradientChecker.Check(model, x, y);
        report.Difference.Should().BeLessThan(1e-7, report.ToString());
        report.DropoutDisabled.Should().BeTrue();
        report.ToString().Should().Contain("dropout turned off").And.Contain("L2(0.1)");
        var after = model.CaptureState();
        for (int i = 0; i < before.Tensors.Count; i++)
        {
            after.Tensors[i].Should().Be(before.Tensors[i]);
        }

        model.DropoutEnabled.Should().BeTrue();
    }

    [Fact]
    public void A_float_model_with_label_smoothed_targets_gets_a_verdict_not_a_refusal()
    {
        // The rows sum to 1 in float but to 1 ± 1e-8 once widened to double: checked once, in the model's own type.
        var model = Model.Sequential<float>(4).Dense(5).ReLU().Dense(3).Softmax().Build(seed: 5);
        var (x, _) = TestData.Problem<float>(4, 4, 3, "softmax", seed: 2);
        var y = Tensor.FromArray(new[] { 0.1f, 0.2f, 0.7f, 0.9333f, 0.0333f, 0.0334f, 0.8f, 0.1f, 0.1f, 1f / 3, 1f / 3, 1f / 3 }, 4, 3);
        var report = GradientChecker.Check(model, x, y);
        report.Verdict.Should().Be(GradientVerdict.Correct, report.ToString());
    }

    [Fact]
    public void Sampling_coordinates_checks_a_subset()
    {
        var model = Model.Sequential<double>(20).Dense(30, Activation.Tanh).Dense(3).Softmax().Build(seed: 1);
        var (x, y) = TestData.Problem<double>(5, 20, 3, "softmax", seed: 4);
        var report = GradientChecker.Check(model, x, y, new GradientCheckOptions { MaxCoordinatesPerTensor = 10 });
        report.Parameters.Select(p => p.Coordinates).Should().Equal(10, 10, 10, 3);
        report.Difference.Should().BeLessThan(1e-7);
    }

    [Fact]
    public void A_wrong_backward_is_flagged_as_a_likely_bug()
    {
        var model = Model.Sequential<double>(3)
            .Dense(4, Activation.Tanh)
            .Add((n, _) => new BrokenScale(n), 4)
            .Dense(2).Softmax().Build(seed: 2);
        var (x, y) = TestData.Problem<double>(5, 3, 2, "softmax", seed: 8);
        var report = GradientChecker.Check(model, x, y);
        report.Verdict.Should().Be(GradientVerdict.LikelyBug);
        report.Difference.Should().BeGreaterThan(1e-3);
        report.Parameters.First(p => p.Name == "0.weight").Verdict.Should().Be(GradientVerdict.LikelyBug);
        report.Parameters.First(p => p.Name == "3.weight").Verdict.Should().Be(GradientVerdict.Correct, "the Dense after the broken layer is nn.Sequential index 3 (Linear, Tanh, custom, Linear)");
    }

    [Theory]
    [InlineData(1e-9, GradientVerdict.Correct)]
    [InlineData(1e-5, GradientVerdict.Inspect)]
    [InlineData(2e-3, GradientVerdict.LikelyBug)]
    public void Verdict_bands_follow_the_course(double difference, GradientVerdict expected) =>
        GradientChecker.VerdictFor(difference).Should().Be(expected);

    /// <summary>y = 2x, whose backward wrongly returns dA instead of 2·dA.</summary>
    private sealed class BrokenScale(int size) : ILayer<double>
    {
        private readonly DeepLearning.Tensor<double> _out = new(64, size);

        public string Kind => "BrokenScale";

        public string Name { get; set; } = string.Empty;

        public int InputSize => size;

        public int OutputSize => size;

        public IReadOnlyList<DeepLearning.Parameter<double>> Parameters { get; } = [];

        public IReadOnlyDictionary<string, DeepLearning.Tensor<double>> Buffers { get; } = new Dictionary<string, DeepLearning.Tensor<double>>();

        public LayerConfig Config => new(Kind, size, new Dictionary<string, string>());

        public DeepLearning.Tensor<double> Forward(DeepLearning.Tensor<double> input, bool training)
        {
            var o = _out.Rows(0, input.RowCount);
            Infer(input, o);
            return o;
        }

        public void Infer(DeepLearning.Tensor<double> input, DeepLearning.Tensor<double> output) =>
            DeepLearning.TensorMath.Scale(input, 2.0, output);

        public DeepLearning.Tensor<double> Backward(DeepLearning.Tensor<double> outputGradient) => outputGradient;
    }

    [Fact]
    public void An_infinite_or_non_positive_epsilon_is_refused_before_reporting_a_bug()
    {
        // ε = ∞ made every difference quotient NaN, reported as "likely a bug in backpropagation".
        var model = Model.Sequential<double>(3).Dense(2).Softmax().Build(seed: 1);
        var (x, y) = TestData.Problem<double>(4, 3, 2, "softmax", seed: 2);
        foreach (double eps in new[] { double.PositiveInfinity, double.NaN, 0, -1e-7 })
        {
            FluentActions.Invoking(() => GradientChecker.Check(model, x, y, new GradientCheckOptions { Epsilon = eps }))
                .Should().Throw<ArgumentOutOfRangeException>().WithMessage("Epsilon must be finite and > 0*");
        }
    }

    [Fact]
    public void MaxCoordinatesPerTensor_below_1_is_refused_up_front_naming_the_options()
    {
        // It was refused only at the first tensor longer than it, with the internal parameter name 'max'.
        var model = Model.Sequential<double>(3).Dense(2).Softmax().Build(seed: 1);
        var (x, y) = TestData.Problem<double>(4, 3, 2, "softmax", seed: 2);
        foreach (int max in new[] { 0, -3 })
        {
            FluentActions.Invoking(() => GradientChecker.Check(model, x, y, new GradientCheckOptions { MaxCoordinatesPerTensor = max }))
                .Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "options").WithMessage($"MaxCoordinatesPerTensor must be ≥ 1; received {max}*");
        }
    }

    [Fact]
    public void NaN_or_infinite_data_is_refused_naming_the_cell_before_reporting_a_bug()
    {
        // A NaN in X or Y made every difference NaN, reported as "likely a bug in backpropagation".
        var model = Model.Sequential<double>(3).Dense(2).Softmax().Build(seed: 1);
        var (x, y) = TestData.Problem<double>(4, 3, 2, "softmax", seed: 2);
        var badX = x.Clone();
        badX[2, 1] = double.NaN;
        FluentActions.Invoking(() => GradientChecker.Check(model, badX, y))
            .Should().Throw<InvalidDataException>().WithMessage("X holds NaN at row 2, column 1; data must be finite");
        var badY = y.Clone();
        badY[3, 0] = double.PositiveInfinity;
        FluentActions.Invoking(() => GradientChecker.Check(model.ConvertTo<float>(), x.ConvertTo<float>(), badY.ConvertTo<float>()))
            .Should().Throw<InvalidDataException>().WithMessage("Y holds Infinity at row 3, column 0; data must be finite");
    }

    [Fact]
    public void No_examples_are_refused_rather_than_reported_correct()
    {
        // With m = 0, J and every gradient are 0: each difference was 0 and the report said "backpropagation is correct".
        var model = Model.Sequential<double>(3).Dense(2).Tanh().Dense(1).Sigmoid().Build(seed: 1);
        FluentActions.Invoking(() => GradientChecker.Check(model, new Tensor<double>(0, 3), new Tensor<double>(0, 1)))
            .Should().Throw<ArgumentException>().WithMessage("X holds no examples: shape (0, 3)*").Which.ParamName.Should().Be("x");
    }

    [Fact]
    public void Targets_the_loss_is_not_defined_for_are_refused_rather_than_reported_as_a_bug()
    {
        // Y ~ N(0, 1) for a softmax model: the fused gradient Ŷ − Y assumes rows summing to 1, so correct backpropagation
        // was reported "LikelyBug". Refused as Fit and Evaluate refuse it, for a double model and through a float one.
        var model = Model.Sequential<double>(3).Dense(4).Tanh().Dense(3).Softmax().Build(seed: 1);
        var (x, _) = TestData.Problem<double>(6, 3, 3, "softmax", seed: 2);
        var (_, normal) = TestData.Problem<double>(6, 3, 3, "regression", seed: 4);
        FluentActions.Invoking(() => GradientChecker.Check(model, x, normal))
            .Should().Throw<ArgumentException>().WithMessage("the gradient-check data's targets Y must be probability rows for softmax*row 0*").Which.ParamName.Should().Be("y");
        FluentActions.Invoking(() => GradientChecker.Check(model.ConvertTo<float>(), x.ConvertTo<float>(), normal.ConvertTo<float>()))
            .Should().Throw<ArgumentException>().WithMessage("the gradient-check data's targets Y must be probability rows for softmax*");

        var binary = Model.Sequential<double>(3).Dense(2).Sigmoid().Build(seed: 1);
        var twos = Tensor.Full(2.0, 6, 2);
        FluentActions.Invoking(() => GradientChecker.Check(binary, x, twos))
            .Should().Throw<ArgumentException>().WithMessage("the gradient-check data's targets Y must be in [0, 1] for sigmoid*row 0, column 0 holds 2*");

        // A wrong shape is named as such, before the values are looked at.
        FluentActions.Invoking(() => GradientChecker.Check(model, x, new Tensor<double>(6, 2)))
            .Should().Throw<ArgumentException>().WithMessage("the targets Y must be (6, 3) for X (6, 3); received (6, 2)*").Which.ParamName.Should().Be("y");

        // Valid targets still check as correct.
        var (_, onehot) = TestData.Problem<double>(6, 3, 3, "softmax", seed: 5);
        GradientChecker.Check(model, x, onehot).Verdict.Should().Be(GradientVerdict.Correct);
    }
}
