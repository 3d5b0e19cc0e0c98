namespace DeepLearning.Tests.Losses;

public class RegressionLossTests
{
    private static readonly double[] _yhat = [1, 2, 3, -4, 0.5, 7];
    private static readonly double[] _y = [0, 2, 5, -4, 3, 6.2];

    [Fact]
    public void Mae_and_huber_costs_match_hand_computed_values()
    {
        var yhat = Tensor.FromArray(_yhat, 3, 2);
        var y = Tensor.FromArray(_y, 3, 2);
        // d = 1, 0, −2, 0, −2.5, 0.8; m = 3.
        Loss.MeanAbsoluteError.Cost(yhat, y).Should().BeApproximately((1 + 0 + 2 + 0 + 2.5 + 0.8) / 3, 1e-12);
        // Huber δ = 1: 0.5, 0, 1·(2 − 0.5), 0, 1·(2.5 − 0.5), 0.5·0.64.
        Loss.Huber(1).Cost(yhat, y).Should().BeApproximately((0.5 + 0 + 1.5 + 0 + 2 + 0.32) / 3, 1e-12);
        // A δ beyond every |d| is the ½-squared error of MeanSquaredError.
        Loss.Huber(10).Cost(yhat, y).Should().BeApproximately(Loss.MeanSquaredError.Cost(yhat, y), 1e-12);
    }

    [Theory]
    [InlineData("MeanAbsoluteError")]
    [InlineData("Huber(1)")]
    [InlineData("Huber(0.3)")]
    [InlineData("MeanSquaredError")]
    public void Output_gradient_is_the_central_difference_of_the_cost(string name)
    {
        var loss = Loss.Parse(name);
        loss.Name.Should().Be(name);
        loss.IsClassification.Should().BeFalse();
        var yhat = Tensor.FromArray((double[])_yhat.Clone(), 3, 2);
        var y = Tensor.FromArray(_y, 3, 2);
        var dz = new Tensor<double>(3, 2);
        loss.OutputGradient(yhat, y, dz);
        const double h = 1e-6;
        for (int i = 0; i < 6; i++)
        {
            if (_yhat[i] == _y[i])
            {
                continue; // |d| is not differentiable at 0
            }

            double saved = yhat.Span[i];
            yhat.Span[i] = saved + h;
            double plus = loss.Cost(yhat, y);
            yhat.Span[i] = saved - h;
            double minus = loss.Cost(yhat, y);
            yhat.Span[i] = saved;
            dz.Span[i].Should().BeApproximately((plus - minus) / (2 * h), 1e-6, $"element {i} of {name}");
        }
    }

    [Fact]
    public void A_regression_loss_is_chosen_in_the_builder_saved_and_checked_by_gradient_checking()
    {
        var (x, y) = TestData.Problem<double>(8, 3, 2, "regression", seed: 5);
        var model = Model.Sequential<double>(3).Dense(4, Activation.Tanh).Dense(2).WithLoss(Loss.Huber(0.5)).Build(seed: 3);
        model.Loss.Name.Should().Be("Huber(0.5)");
        GradientChecker.Check(model, x, y).Difference.Should().BeLessThan(1e-7);

        string path = Path.Combine(Path.GetTempPath(), $"huber-{Environment.ProcessId}.safetensors");
        try
        {
            model.Save(path);
            Model.Load<double>(path).Loss.Name.Should().Be("Huber(0.5)");
        }
        finally
        {
            File.Delete(path);
        }

        var classifier = () => Model.Sequential<double>(3).Dense(2).Softmax().WithLoss(Loss.MeanAbsoluteError).Build();
        classifier.Should().Throw<InvalidOperationException>().WithMessage("*linear (regression) output*");
        var crossEntropy = () => Model.Sequential<double>(3).Dense(2).WithLoss(Loss.CategoricalCrossEntropy);
        crossEntropy.Should().Throw<ArgumentException>().WithMessage("*follows from the output layer*");
        FluentActions.Invoking(() => Loss.Huber(0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*delta*received 0*");
    }

    [Fact]
    public void A_Huber_delta_that_rounds_to_0_in_the_element_type_is_refused_when_used_in_that_type()
    {
        // 1e-50 is 0 in float: the gradient clamp(d, −δ, δ) was 0 everywhere while the cost, computed in double, was not.
        var loss = Loss.Huber(1e-50);
        var yhat = Tensor.FromArray(new float[] { 1, 2 }, 2, 1);
        var y = Tensor.FromArray(new float[] { 0, 0 }, 2, 1);
        var dz = new Tensor<float>(2, 1);
        FluentActions.Invoking(() => loss.OutputGradient(yhat, y, dz))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("Huber delta 1E-50 rounds to 0 in Single*at least 1E-45*").Which.ParamName.Should().Be("delta");
        dz.ToArray().Should().Equal([0f, 0f], "nothing is written before the check");
        FluentActions.Invoking(() => loss.Cost(yhat, y)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("Huber delta 1E-50 rounds to 0 in Single*");

        // The same δ in double is fine: d = 1 and 2 beyond δ, so the gradient is δ/m per row.
        var dzd = new Tensor<double>(2, 1);
        loss.OutputGradient(yhat.ConvertTo<double>(), y.ConvertTo<double>(), dzd);
        dzd.ToArray().Should().Equal(0.5e-50, 0.5e-50);
    }
}
