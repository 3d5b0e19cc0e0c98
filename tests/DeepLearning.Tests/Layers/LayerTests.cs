
namespace DeepLearning.Tests.Layers;

public class LayerTests
{
    [Fact]
    public void BatchNorm_training_normalizes_each_unit_and_updates_running_averages()
    {
        var bn = new BatchNorm<double>(3, momentum: 0.9, epsilon: 1e-8);
        var z = Tensor.FromArray(new double[] { 1, 10, -5, 3, 20, -5, 5, 30, -5, 7, 40, -5 }, 4, 3);
        var out1 = bn.Forward(z, training: true);
        // Column 0: mean 4, biased variance 5 → ẑ = (z − 4)/√5.
        out1[0, 0].Should().BeApproximately(-3 / Math.Sqrt(5), 1e-7);
        out1[3, 1].Should().BeApproximately(15 / Math.Sqrt(125), 1e-7);
        out1[2, 2].Should().Be(0); // a constant column normalizes to 0, not NaN
        // Running: 0.9·0 + 0.1·4; variance 0.9·1 + 0.1·(4/3·5).
        bn.RunningMean[0].Should().BeApproximately(0.4, 1e-12);
        bn.RunningVariance[0].Should().BeApproximately(0.9 + (0.1 * 5 * 4 / 3), 1e-12);
        bn.RunningMean[2].Should().BeApproximately(-0.5, 1e-12);
    }

    [Fact]
    public void BatchNorm_inference_uses_running_statistics_for_any_batch_size_including_one()
    {
        var bn = new BatchNorm<double>(2, momentum: 0.0, epsilon: 1e-5);
        var z = Tensor.FromArray(new double[] { 0, 1, 2, 3, 4, 5 }, 3, 2);
        bn.Forward(z, training: true); // momentum 0: running = this batch (variance unbiased: 4)
        bn.Gamma.Value[0] = 2;
        bn.Beta.Value[1] = 1;
        var single = Tensor.FromArray(new double[] { 2, 3 }, 1, 2);
        var o = new Tensor<double>(1, 2);
        bn.Infer(single, o);
        o[0, 0].Should().BeApproximately(0, 1e-12);
        o[0, 1].Should().BeApproximately(1, 1e-12);
        var x = Tensor.FromArray(new double[] { 6, 7 }, 1, 2);
        bn.Infer(x, o);
        o[0, 0].Should().BeApproximately(2 * 4 / Math.Sqrt(4 + 1e-5), 1e-12);
        // Inference does not change the running statistics.
        bn.Forward(x, training: false);
        bn.RunningMean[0].Should().Be(2);
    }

    [Fact]
    public void BatchNorm_training_forward_of_one_row_throws_naming_the_layer_and_the_row_count()
    {
        var bn = new BatchNorm<float>(3) { Name = "2" };
        var one = Tensor.FromArray(new float[] { 1, 2, 3 }, 1, 3);
        var act = () => bn.Forward(one, training: true);
        act.Should().Throw<ArgumentException>().WithMessage("BatchNorm layer '2' needs at least 2 rows in training mode (the batch variance of one row is 0*received 1 row.*");
        bn.RunningVariance.ToArray().Should().Equal(1, 1, 1);
        bn.RunningMean.ToArray().Should().Equal(0, 0, 0);
        bn.Forward(one, training: false).ToArray().Should().HaveCount(3, "inference takes one row");
        bn.Forward(Tensor.FromArray(new float[] { 1, 2, 3, 2, 2, 2 }, 2, 3), training: true).RowCount.Should().Be(2);
    }

    [Fact]
    public void BatchNorm_refuses_a_momentum_that_rounds_to_1_or_an_epsilon_that_rounds_to_0_in_its_element_type()
    {
        Action act = () => _ = new BatchNorm<float>(3, momentum: 0.99999999);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "momentum")
            .WithMessage("momentum 0.99999999 rounds to 1 in Single, so the running averages would never change; momentum must stay below 1 in the layer's element type (at most 0.99999994 in Single)*");
        act = () => _ = new BatchNorm<float>(3, epsilon: 1e-50);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "epsilon").WithMessage("epsilon 1e-50 rounds to 0 in Single, so a unit with zero batch variance would divide by 0*");
        act = () => _ = new BatchNorm<float>(3, epsilon: 1e300);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("epsilon 1E+300 overflows Single*");
        act = () => Model.Sequential<float>(3).Dense(4).BatchNorm(epsilon: 1e-50);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "epsilon");

        // Both are fine in double, where they keep their meaning.
        var bn = new BatchNorm<double>(2, momentum: 0.99999999, epsilon: 1e-50);
        bn.Forward(Tensor.FromArray(new double[] { 0, 1, 2, 3 }, 2, 2), training: true);
        bn.RunningMean[0].Should().BeGreaterThan(0);
    }

    [Fact]
    public void Dropout_keeps_about_keepProb_scales_by_inverse_and_preserves_the_mean()
    {
        var d = new Dropout<double>(1000, 0.8, new RandomSource(1));
        var x = Tensor.Full(1.0, 100, 1000);
        var y = d.Forward(x, training: true);
        var values = y.ReadOnlySpan.ToArray();
        double kept = values.Count(v => v != 0) / (double)values.Length;
        kept.Should().BeApproximately(0.8, 0.005); // 1e5 draws: σ ≈ 0.0013
        values.Where(v => v != 0).Should().OnlyContain(v => Math.Abs(v - 1.25) < 1e-12);
        values.Average().Should().BeApproximately(1.0, 0.01);

        // Backward reuses the same mask.
        var g = Tensor.Full(2.0, 100, 1000);
        var dx = d.Backward(g);
        for (int i = 0; i < values.Length; i += 997)
        {
            dx.ReadOnlySpan[i].Should().Be(values[i] * 2);
        }

        // A fresh mask each iteration.
        var y2 = d.Forward(x, training: true).ReadOnlySpan.ToArray();
        y2.Should().NotEqual(values);
    }

    [Fact]
    public void Dropout_is_identity_at_inference_and_keepProb_one_is_an_exact_no_op()
    {
        var x = Tensor.RandomNormal<float>(new RandomSource(2), new[] { 8, 5 });
        var d = new Dropout<float>(5, 0.5, new RandomSource(3));
        d.Forward(x, training: false).Should().BeSameAs(x);
        var o = new Tensor<float>(8, 5);
        d.Infer(x, o);
        o.Should().Be(x);

        var one = new Dropout<float>(5, 1.0, new RandomSource(3));
        one.Forward(x, training: true).Should().BeSameAs(x);
        var g = Tensor.Full(1f, 8, 5);
        one.Backward(g).Should().BeSameAs(g);
    }

    [Fact]
    public void A_dropout_layer_takes_its_mask_stream_from_the_build_seed_whatever_its_keepProb()
    {
        // What the README's "1.0 is an exact no-op" means at the model level: Dropout(1.0) passes values through, but
        // like every Dropout it forks its mask stream from the build seed, so the layers after it start from the
        // weights of a model with Dropout(0.86) (which samples/Regularization relies on to compare like with like),
        // not from those of a model built without the layer.
        var one = Model.Sequential<float>(2).Dense(5).ReLU().Dropout(1.0).Dense(1).Sigmoid().Build(seed: 3);
        var some = Model.Sequential<float>(2).Dense(5).ReLU().Dropout(0.86).Dense(1).Sigmoid().Build(seed: 3);
        var none = Model.Sequential<float>(2).Dense(5).ReLU().Dense(1).Sigmoid().Build(seed: 3);
        one.Parameters.Select(p => p.Value.ToArray()).Should().BeEquivalentTo(some.Parameters.Select(p => p.Value.ToArray()), o => o.WithStrictOrdering());
        one.Parameters[0].Value.ToArray().Should().Equal(none.Parameters[0].Value.ToArray(), "the layers before the dropout draw first");
        one.Parameters[2].Value.ToArray().Should().NotEqual(none.Parameters[2].Value.ToArray());
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.5)]
    [InlineData(-0.2)]
    [InlineData(double.NaN)]
    public void Dropout_rejects_bad_keepProb_echoing_it(double keepProb)
    {
        var act = () => new Dropout<float>(3, keepProb, new RandomSource(1));
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage($"keepProb must be in (0, 1]; received {keepProb}*");
    }

    [Fact]
    public void Dense_forward_is_A_times_W_transposed_plus_b_with_the_activation()
    {
        var dense = new Dense<double>(2, 3, Activation.ReLU, Init.Zeros, new RandomSource(1));
        new double[] { 1, 2, -1, 0, 0.5, 0.5 }.CopyTo(dense.Weight.Value.Span);
        new double[] { 0, 1, -10 }.CopyTo(dense.Bias!.Value.Span);
        var a = Tensor.FromArray(new double[] { 1, 1, 2, -1 }, 2, 2);
        var z = dense.Forward(a, training: true);
        // Row 0: W·[1,1] = [3, -1, 1] + b = [3, 0, -9] → ReLU [3, 0, 0]; row 1: [0, -2, 0.5] + b → [0, 0, 0].
        z.ReadOnlySpan.ToArray().Should().Equal(3, 0, 0, 0, 0, 0);
        dense.Weight.Value.Shape.Should().Equal(3, 2);
    }

    [Fact]
    public void Layers_reject_inputs_of_the_wrong_width_naming_both_shapes()
    {
        var dense = new Dense<float>(4, 3, Activation.Linear, Init.He, new RandomSource(1)) { Name = "0" };
        var act = () => dense.Forward(new Tensor<float>(2, 5), true);
        act.Should().Throw<ArgumentException>().WithMessage("*Dense layer '0' expects input (m, 4); received (2, 5)*");
    }

    [Fact]
    public void Layer_buffers_are_reused_for_the_same_batch_size()
    {
        var dense = new Dense<float>(4, 3, Activation.ReLU, Init.He, new RandomSource(1));
        var x = new Tensor<float>(8, 4);
        var first = dense.Forward(x, true);
        dense.Forward(new Tensor<float>(5, 4), true);
        dense.Forward(x, true).Should().BeSameAs(first);
    }

    [Fact]
    public void Softmax_layer_backward_is_the_softmax_jacobian()
    {
        var s = new ActivationLayer<double>(3, Activation.Softmax);
        var z = Tensor.FromArray(new double[] { 1, 2, 3 }, 1, 3);
        var a = s.Forward(z, true).Clone();
        var da = Tensor.FromArray(new double[] { 1, 0, 0 }, 1, 3);
        var dz = s.Backward(da);
        // ∂a0/∂zj = a0(δ0j − aj)
        dz[0, 0].Should().BeApproximately(a[0, 0] * (1 - a[0, 0]), 1e-15);
        dz[0, 1].Should().BeApproximately(-a[0, 0] * a[0, 1], 1e-15);
    }
}
