
namespace DeepLearning.Tests.Regularizers;

public class RegularizerTests
{
    private static Parameter<double>[] Params()
    {
        var w = new Parameter<double>("0.weight", Tensor.FromArray(new double[] { 1, -2, 0, 3 }, 2, 2), regularized: true);
        var b = new Parameter<double>("0.bias", Tensor.FromArray(new double[] { 100, -100 }), regularized: false);
        w.Gradient.Fill(0.5);
        b.Gradient.Fill(0.5);
        return [w, b];
    }

    [Fact]
    public void L2_cost_and_gradient_match_hand_computation_and_skip_biases()
    {
        var p = Params();
        var l2 = Regularization.L2(0.4);
        // (λ/2m)·Σw² = (0.4/(2·4))·(1 + 4 + 0 + 9) = 0.7
        l2.Cost<double>(p, m: 4).Should().BeApproximately(0.7, 1e-15);
        l2.AddGradient<double>(p, m: 4);
        // dW += (λ/m)·W = 0.1·W
        p[0].Gradient.ReadOnlySpan.ToArray().Should().Equal(0.6, 0.3, 0.5, 0.8);
        p[1].Gradient.ReadOnlySpan.ToArray().Should().Equal(0.5, 0.5);
    }

    [Fact]
    public void L1_cost_and_subgradient_match_hand_computation()
    {
        var p = Params();
        var l1 = Regularization.L1(0.4);
        // (λ/m)·Σ|w| = 0.1·6 = 0.6
        l1.Cost<double>(p, m: 4).Should().BeApproximately(0.6, 1e-15);
        l1.AddGradient<double>(p, m: 4);
        p[0].Gradient.ReadOnlySpan.ToArray().Should().Equal(0.6, 0.4, 0.5, 0.6);
        p[1].Gradient.ReadOnlySpan.ToArray().Should().Equal(0.5, 0.5);
    }

    [Fact]
    public void L1_sign_is_right_at_every_simd_length()
    {
        for (int n = 0; n < 70; n++)
        {
            var w = new Parameter<float>("w", Tensor.FromArray(Enumerable.Range(0, n).Select(i => (float)((i % 3) - 1)).ToArray().Concat(new float[n == 0 ? 1 : 0]).ToArray()), true);
            l1Check(w);
        }

        static void l1Check(Parameter<float> w)
        {
            Regularization.L1(2).AddGradient<float>([w], 2);
            var g = w.Gradient.ReadOnlySpan.ToArray();
            var v = w.Value.ReadOnlySpan.ToArray();
            for (int i = 0; i < g.Length; i++)
            {
                g[i].Should().Be(Math.Sign(v[i]));
            }
        }
    }

    [Fact]
    public void Names_round_trip_and_bad_lambda_is_rejected()
    {
        Regularization.Parse(Regularization.L2(0.01).Name).Lambda.Should().Be(0.01);
        Regularization.Parse("L1(0.5)").Name.Should().Be("L1(0.5)");
        Regularization.Parse("None").Should().BeSameAs(Regularization.None);
        var act = () => Regularization.L2(-1);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("lambda must be finite and ≥ 0; received -1*");
    }
}
