
namespace DeepLearning.Tests.Losses;

public class LossTests
{
    [Fact]
    public void Cross_entropy_from_logits_matches_minus_log_softmax_and_is_stable()
    {
        var z = Tensor.FromArray(new double[] { 1, 2, 3, 1000, -1000, 0 }, 2, 3);
        var y = Tensor.FromArray(new double[] { 0, 0, 1, 0, 1, 0 }, 2, 3);
        double lse0 = Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3));
        // Row 1: −log softmax(z)[1] = lse − z1 = 1000 − (−1000) = 2000.
        Loss.CategoricalCrossEntropy.Cost(z, y).Should().BeApproximately(((lse0 - 3) + 2000) / 2, 1e-9);
    }

    [Fact]
    public void Binary_cross_entropy_from_logits_is_stable_for_large_logits()
    {
        var z = Tensor.FromArray(new double[] { 0, 800, -800, 2 }, 4, 1);
        var y = Tensor.FromArray(new double[] { 1, 0, 0, 1 }, 4, 1);
        double expected = (Math.Log(2) + 800 + 0 + Math.Log(1 + Math.Exp(-2))) / 4;
        Loss.BinaryCrossEntropy.Cost(z, y).Should().BeApproximately(expected, 1e-12);
        Loss.BinaryCrossEntropy.Cost(Tensor.FromArray(new float[] { 200f }, 1, 1), Tensor.FromArray(new float[] { 0f }, 1, 1)).Should().BeApproximately(200, 1e-9);
    }

    [Fact]
    public void Mse_is_half_mean_squared_error_and_gradient_is_yhat_minus_y_over_m()
    {
        var yhat = Tensor.FromArray(new double[] { 1, 2, 3, 4 }, 2, 2);
        var y = Tensor.FromArray(new double[] { 0, 2, 5, 4 }, 2, 2);
        Loss.MeanSquaredError.Cost(yhat, y).Should().BeApproximately((1 + 4) / 4.0, 1e-15);
        var dz = new Tensor<double>(2, 2);
        Loss.MeanSquaredError.OutputGradient(yhat, y, dz);
        dz.ReadOnlySpan.ToArray().Should().Equal(0.5, 0, -1, 0);
    }

    [Fact]
    public void Mismatched_targets_name_both_shapes()
    {
        var act = () => Loss.CategoricalCrossEntropy.Cost(new Tensor<float>(2, 3), new Tensor<float>(2, 4));
        act.Should().Throw<ArgumentException>().WithMessage("*(2, 3)*(2, 4)*");
    }
}
