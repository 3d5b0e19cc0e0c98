
namespace DeepLearning.Tests.Optimizers;

/// <summary>Each update rule against numbers computed by hand from the course's formulas.</summary>
public class OptimizerRuleTests
{
    [Fact]
    public void GradientDescent_step_is_w_minus_alpha_g()
    {
        double[] w = [1, -2, 0];
        GradientDescent.Update<double>(w, [0.5, -1, 3], 0.1);
        w.Should().Equal([0.95, -1.9, -0.3], (a, b) => Math.Abs(a - b) < 1e-15);
    }

    [Fact]
    public void Momentum_two_steps_match_hand_computation()
    {
        // v1 = 0.9·0 + 0.1·0.5 = 0.05, w1 = 1 − 0.1·0.05 = 0.995
        // v2 = 0.9·0.05 + 0.1·0.5 = 0.095, w2 = 0.995 − 0.1·0.095 = 0.9855
        double[] w = [1], v = [0];
        Momentum.Update<double>(w, [0.5], v, 0.1, 0.9);
        v[0].Should().BeApproximately(0.05, 1e-15);
        w[0].Should().BeApproximately(0.995, 1e-15);
        Momentum.Update<double>(w, [0.5], v, 0.1, 0.9);
        v[0].Should().BeApproximately(0.095, 1e-15);
        w[0].Should().BeApproximately(0.9855, 1e-15);
    }

    [Fact]
    public void Momentum_with_bias_correction_divides_by_one_minus_beta_to_the_t()
    {
        // t = 1: v = 0.05, v̂ = 0.05/(1 − 0.9) = 0.5, w = 1 − 0.1·0.5 = 0.95
        // t = 2: v = 0.095, v̂ = 0.095/(1 − 0.81) = 0.5, w = 0.95 − 0.05 = 0.90
        double[] w = [1], v = [0];
        Momentum.Update<double>(w, [0.5], v, 0.1, 0.9, biasCorrection: true, t: 1);
        w[0].Should().BeApproximately(0.95, 1e-15);
        Momentum.Update<double>(w, [0.5], v, 0.1, 0.9, biasCorrection: true, t: 2);
        w[0].Should().BeApproximately(0.90, 1e-14);
    }

    [Fact]
    public void RmsProp_first_step_matches_hand_computation()
    {
        // s = 0.1·0.5² = 0.025; step = 0.01·0.5/(√0.025 + ε), which is 0.01·√10 when ε = 0
        double[] w = [1, -1], s = [0, 0];
        RmsProp.Update<double>(w, [0.5, -0.5], s, 0.01, 0.9, 1e-8);
        s.Should().Equal([0.025, 0.025], (a, b) => Math.Abs(a - b) < 1e-17);
        w[0].Should().BeApproximately(1 - (0.005 / (Math.Sqrt(0.025) + 1e-8)), 1e-15);
        w[1].Should().BeApproximately(-1 + (0.005 / (Math.Sqrt(0.025) + 1e-8)), 1e-15);
        w[0].Should().BeApproximately(1 - (0.01 * Math.Sqrt(10)), 3e-9);

        // A second step with g = 0: s = 0.9·0.025 = 0.0225 and w does not move.
        double before = w[0];
        RmsProp.Update<double>(w, [0, 0], s, 0.01, 0.9, 1e-8);
        s[0].Should().BeApproximately(0.0225, 1e-17);
        w[0].Should().Be(before);
    }

    [Fact]
    public void Adam_with_a_constant_gradient_moves_alpha_each_step()
    {
        // g constant: v̂ = g and ŝ = g² at every t, so the step is α·g/(|g| + ε) ≈ α·sign(g).
        double[] w = [0, 0], v = [0, 0], s = [0, 0];
        for (int t = 1; t <= 4; t++)
        {
            Adam.Update<double>(w, [2.0, -0.25], v, s, 0.1, 0.9, 0.999, 1e-8, t);
            w[0].Should().BeApproximately(-0.1 * t, 1e-8 * t);
            w[1].Should().BeApproximately(0.1 * t, 1e-7 * t);
        }
    }

    [Fact]
    public void Adam_second_step_with_reversed_gradient_matches_hand_computation()
    {
        // t = 1, g = 1:  v = 0.1, s = 0.001, v̂ = 1, ŝ = 1, w = 0 − 0.1·1/(1 + ε)
        // t = 2, g = −1: v = 0.09 − 0.1 = −0.01, s = 0.000999 + 0.001 = 0.001999,
        //               v̂ = −0.01/0.19 = −1/19, ŝ = 0.001999/0.001999 = 1, w += 0.1/19/(1 + ε)
        double[] w = [0], v = [0], s = [0];
        Adam.Update<double>(w, [1.0], v, s, 0.1, 0.9, 0.999, 1e-8, 1);
        w[0].Should().BeApproximately(-0.1 / (1 + 1e-8), 1e-15);
        Adam.Update<double>(w, [-1.0], v, s, 0.1, 0.9, 0.999, 1e-8, 2);
        v[0].Should().BeApproximately(-0.01, 1e-16);
        s[0].Should().BeApproximately(0.001999, 1e-17);
        w[0].Should().BeApproximately((-0.1 + (0.1 / 19)) / (1 + 1e-8), 1e-15);
    }

    [Fact]
    public void Adam_first_step_moves_every_weight_by_alpha_times_sign_of_gradient()
    {
        var rng = new RandomSource(11);
        const int N = 257;
        var w0 = new float[N];
        var g = new float[N];
        for (int i = 0; i < N; i++)
        {
            w0[i] = (float)rng.NextGaussian();
            double magnitude = Math.Pow(10, -3 + (5 * rng.NextDouble())); // 1e-3 .. 1e2
            g[i] = (float)(rng.NextDouble() < 0.5 ? -magnitude : magnitude);
        }

        var w = (float[])w0.Clone();
        Adam.Update<float>(w, g, new float[N], new float[N], 0.01f, 0.9f, 0.999f, 1e-8f, 1);
        for (int i = 0; i < N; i++)
        {
            (w[i] - w0[i]).Should().BeApproximately(-0.01f * MathF.Sign(g[i]), 2e-6f, $"element {i} with g = {g[i]}");
        }
    }

    [Fact]
    public void Optimizer_shell_takes_the_same_first_step_as_the_span_rule()
    {
        var p = new Parameter<double>("w", Tensor.FromArray([0.3, -0.7, 1.1]), regularized: true);
        p.Gradient.Span[0] = 0.2;
        p.Gradient.Span[1] = -3;
        p.Gradient.Span[2] = 1e-3;
        new Adam(learningRate: 0.05).Step([p]);
        p.Value.ToArray().Should().BeEquivalentTo(
            [0.3 - 0.05, -0.7 + 0.05, 1.1 - 0.05],
            o => o.Using<double>(c => c.Subject.Should().BeApproximately(c.Expectation, 1e-6)).WhenTypeIs<double>());
    }

    [Fact]
    public void Span_rules_reject_mismatched_lengths_and_t_below_one()
    {
        var act = () => GradientDescent.Update<double>(new double[3], new double[2], 0.1);
        act.Should().Throw<ArgumentException>().WithMessage("*g has 2 elements but w has 3*");
        act = () => Adam.Update<double>(new double[3], new double[3], new double[3], new double[4], 0.1, 0.9, 0.999, 1e-8, 1);
        act.Should().Throw<ArgumentException>().WithMessage("*s has 4 elements*");
        act = () => Adam.Update<double>(new double[3], new double[3], new double[3], new double[3], 0.1, 0.9, 0.999, 1e-8, 0);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*at least 1; received 0*");
    }

    [Theory]
    [InlineData("gd")]
    [InlineData("momentum")]
    [InlineData("momentum-bc")]
    [InlineData("rmsprop")]
    [InlineData("adam")]
    public void Simd_rule_matches_a_scalar_loop_at_every_length(string rule)
    {
        CheckSimdAgainstScalar<float>(rule, 1e-6);
        CheckSimdAgainstScalar<double>(rule, 1e-14);
    }

    private static void CheckSimdAgainstScalar<T>(string rule, double tol)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new RandomSource(5);
        T Next(double scale) => T.CreateChecked(rng.NextGaussian() * scale);
        T alpha = T.CreateChecked(0.01), b1 = T.CreateChecked(0.9), b2 = T.CreateChecked(0.999), eps = T.CreateChecked(1e-8);
        const long Step = 3;
        for (int n = 0; n <= 200; n++)
        {
            var w = new T[n];
            var g = new T[n];
            var v = new T[n];
            var s = new T[n];
            for (int i = 0; i < n; i++)
            {
                w[i] = Next(1);
                g[i] = Next(1);
                v[i] = Next(0.1);
                s[i] = T.Abs(Next(0.01));
            }

            var (we, ve, se) = ((T[])w.Clone(), (T[])v.Clone(), (T[])s.Clone());
            for (int i = 0; i < n; i++)
            {
                // The scalar oracle, straight from the formulas, in double.
                double wd = double.CreateChecked(w[i]), gd = double.CreateChecked(g[i]), vd = double.CreateChecked(v[i]), sd = double.CreateChecked(s[i]);
                double a = double.CreateChecked(alpha), bb1 = double.CreateChecked(b1), bb2 = double.CreateChecked(b2), e = double.CreateChecked(eps);
                switch (rule)
                {
                    case "gd":
                        wd -= a * gd;
                        break;
                    case "momentum":
                    case "momentum-bc":
                        vd = (bb1 * vd) + ((1 - bb1) * gd);
                        wd -= a * (rule == "momentum" ? vd : vd / (1 - Math.Pow(bb1, Step)));
                        break;
                    case "rmsprop":
                        sd = (bb1 * sd) + ((1 - bb1) * gd * gd);
                        wd -= a * gd / (Math.Sqrt(sd) + e);
                        break;
                    default:
                        vd = (bb1 * vd) + ((1 - bb1) * gd);
                        sd = (bb2 * sd) + ((1 - bb2) * gd * gd);
                        wd -= a * (vd / (1 - Math.Pow(bb1, Step))) / (Math.Sqrt(sd / (1 - Math.Pow(bb2, Step))) + e);
                        break;
                }

                (we[i], ve[i], se[i]) = (T.CreateChecked(wd), T.CreateChecked(vd), T.CreateChecked(sd));
            }

            switch (rule)
            {
                case "gd": GradientDescent.Update<T>(w, g, alpha); break;
                case "momentum": Momentum.Update<T>(w, g, v, alpha, b1); break;
                case "momentum-bc": Momentum.Update<T>(w, g, v, alpha, b1, true, Step); break;
                case "rmsprop": RmsProp.Update<T>(w, g, s, alpha, b1, eps); break;
                default: Adam.Update<T>(w, g, v, s, alpha, b1, b2, eps, Step); break;
            }

            for (int i = 0; i < n; i++)
            {
                double.CreateChecked(T.Abs(w[i] - we[i])).Should().BeLessThanOrEqualTo(tol * (1 + double.CreateChecked(T.Abs(we[i]))), $"{rule} w[{i}] at n = {n}");
                double.CreateChecked(T.Abs(v[i] - ve[i])).Should().BeLessThanOrEqualTo(tol, $"{rule} v[{i}] at n = {n}");
                double.CreateChecked(T.Abs(s[i] - se[i])).Should().BeLessThanOrEqualTo(tol, $"{rule} s[{i}] at n = {n}");
            }
        }
    }

    [Fact]
    public void The_span_rules_validate_their_hyperparameters_as_the_optimizers_do()
    {
        // Momentum with β = 2 climbed the gradient (v ← 2v − g); RMSprop with ε = 0 wrote 0/0 = NaN where g = s = 0.
        float[] w = [1, 2, 3];
        float[] g = [0, 1, -1];
        var (v, s) = (new float[3], new float[3]);

        void Refused(Action act, string name, string message)
        {
            act.Should().Throw<ArgumentOutOfRangeException>().WithMessage(message).Which.ParamName.Should().Be(name);
            w.Should().Equal([1, 2, 3], "a refused update changes nothing");
            v.Should().Equal(0, 0, 0);
            s.Should().Equal(0, 0, 0);
        }

        Refused(() => Momentum.Update<float>(w, g, v, 0.1f, 2f), "beta", "beta must be in [0, 1); received 2 (Single)*");
        Refused(() => Momentum.Update<float>(w, g, v, 0.1f, -0.5f), "beta", "beta must be in [0, 1); received -0.5 (Single)*");
        Refused(() => Momentum.Update<float>(w, g, v, 0.1f, 1f), "beta", "beta must be in [0, 1); received 1 (Single)*");
        Refused(() => Momentum.Update<float>(w, g, v, -0.1f, 0.9f), "alpha", "alpha (the learning rate) must be positive and finite; received -0.1 (Single)*");
        Refused(() => RmsProp.Update<float>(w, g, s, 0.1f, 0.9f, 0f), "epsilon", "epsilon must be positive and finite; received 0 (Single)*");
        Refused(() => RmsProp.Update<float>(w, g, s, 0.1f, 0.9f, float.NaN), "epsilon", "epsilon must be positive and finite; received NaN (Single)*");
        Refused(() => RmsProp.Update<float>(w, g, s, 0.1f, 1.5f, 1e-8f), "beta", "beta must be in [0, 1); received 1.5 (Single)*");
        Refused(() => RmsProp.Update<float>(w, g, s, float.PositiveInfinity, 0.9f, 1e-8f), "alpha", "alpha (the learning rate) must be positive and finite; received Infinity (Single)*");
        Refused(() => GradientDescent.Update<float>(w, g, -1f), "alpha", "alpha (the learning rate) must be positive and finite; received -1 (Single)*");
        Refused(() => GradientDescent.Update<float>(w, g, 0f), "alpha", "alpha (the learning rate) must be positive and finite; received 0 (Single)*");
        Refused(() => Adam.Update<float>(w, g, v, s, 0.1f, 0.9f, 0.999f, 0f, 1), "epsilon", "epsilon must be positive and finite; received 0 (Single)*");
        Refused(() => Adam.Update<float>(w, g, v, s, float.NaN, 0.9f, 0.999f, 1e-8f, 1), "alpha", "alpha (the learning rate) must be positive and finite; received NaN (Single)*");

        // β = 0 (plain gradient descent) stays valid.
        Momentum.Update<float>(w, g, v, 0.1f, 0f);
        w.Select(x => (double)x).Should().Equal([1, 1.9, 3.1], (a, b) => Math.Abs(a - b) < 1e-6);
    }
}
