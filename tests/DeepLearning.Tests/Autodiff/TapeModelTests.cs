namespace DeepLearning.Tests.Autodiff;

/// <summary>
/// The tape against the built-in layers (an MLP written with the tape gives the same cost and gradients), and tape-made
/// layers and losses inside the normal model and fit loop.
/// </summary>
public class TapeModelTests
{
    [Fact]
    public void An_MLP_written_with_the_tape_matches_the_built_in_layers_to_1e_10()
    {
        var random = new RandomSource(11);
        var x = Tensor.RandomNormal<double>(random, [9, 5]);
        var y = DataSet.FromLabels(x, Enumerable.Range(0, 9).Select(i => i % 3).ToArray(), 3).Y;
        var model = Model.Sequential<double>(5).Dense(7, Activation.ReLU).Dense(4, Activation.Tanh).Dense(6, Activation.LeakyReLU, leakySlope: 0.05).Dense(3).Softmax().Build(seed: 3);
        model.Regularizer = Regularization.L2(0.3);
        double expectedCost = model.ComputeGradients(x, y);
        var expected = model.Parameters.Select(p => p.Gradient.Clone()).ToArray();

        // Same weight tensors, wrapped as leaves; J = −(1/m)·Σ Y ⊙ log softmax(Z) + (λ/2m)·Σ‖W‖².
        var tape = new Tape<double>();
        var p = model.Parameters.Select(tape.Parameter).ToArray();
        tape.ZeroGrad();
        int m = x.RowCount;
        var a1 = (tape.Constant(x).MatMul(p[0], transposeB: true) + p[1]).ReLU();
        var a2 = (a1.MatMul(p[2], transposeB: true) + p[3]).Tanh();
        var a3 = (a2.MatMul(p[4], transposeB: true) + p[5]).LeakyReLU(0.05);
        var z = a3.MatMul(p[6], transposeB: true) + p[7];
        var data = -(tape.Constant(y) * z.LogSoftmax()).Sum() / m;
        var penalty = (0.3 / (2 * m)) * ((p[0] * p[0]).Sum() + (p[2] * p[2]).Sum() + (p[4] * p[4]).Sum() + (p[6] * p[6]).Sum());
        var j = data + penalty;
        j.Backward();

        j.Item.Should().BeApproximately(expectedCost, 1e-10);
        for (int i = 0; i < expected.Length; i++)
        {
            model.Parameters[i].Gradient.MaxAbsDifference(expected[i]).Should().BeLessThan(1e-10, model.Parameters[i].Name);
        }
    }

    [Fact]
    public void A_sigmoid_MLP_with_binary_cross_entropy_written_with_the_tape_matches_the_built_in_layers()
    {
        var random = new RandomSource(12);
        var x = Tensor.RandomNormal<double>(random, [8, 4]);
        var y = Tensor.FromArray(new double[] { 1, 0, 0, 1, 1, 1, 0, 0 }, 8, 1);
        var model = Model.Sequential<double>(4).Dense(5, Activation.Sigmoid).Dense(1).Sigmoid().Build(seed: 4);
        double expectedCost = model.ComputeGradients(x, y);
        var expected = model.Parameters.Select(p => p.Gradient.Clone()).ToArray();

        var tape = new Tape<double>();
        var p = model.Parameters.Select(tape.Parameter).ToArray();
        tape.ZeroGrad();
        var h = (tape.Constant(x).MatMul(p[0], transposeB: true) + p[1]).Sigmoid();
        var z = h.MatMul(p[2], transposeB: true) + p[3];

        // BCE from logits, stably: max(z, 0) − z·y + log(1 + e^−|z|)
        var yv = tape.Constant(y);
        var j = (z.ReLU() - (z * yv) + ((-z.Abs()).Exp() + 1.0).Log()).Mean();
        j.Backward();

        j.Item.Should().BeApproximately(expectedCost, 1e-10);
        for (int i = 0; i < expected.Length; i++)
        {
            model.Parameters[i].Gradient.MaxAbsDifference(expected[i]).Should().BeLessThan(1e-10, model.Parameters[i].Name);
        }
    }

    [Fact]
    public void A_tape_layer_computing_a_dense_layer_gives_the_built_in_dense_layers_output_and_gradients()
    {
        var random = new RandomSource(13);
        var x = Tensor.RandomNormal<double>(random, [6, 4]);
        var y = DataSet.FromLabels(x, [0, 1, 2, 0, 1, 2], 3).Y;
        var builtIn = Model.Sequential<double>(4).Dense(5, Activation.Tanh).Dense(3).Softmax().Build(seed: 2);
        var taped = Model.Sequential<double>(4)
            .Add((inputs, rng) => TanhDense(inputs, 5, rng), outputSize: 5)
            .Dense(3).Softmax()
            .Build(seed: 2);
        for (int i = 0; i < builtIn.Parameters.Count; i++)
        {
            builtIn.Parameters[i].Value.CopyTo(taped.Parameters[i].Value);
        }

        double expectedCost = builtIn.ComputeGradients(x, y);
        double cost = taped.ComputeGradients(x, y);
        cost.Should().BeApproximately(expectedCost, 1e-12);
        for (int i = 0; i < builtIn.Parameters.Count; i++)
        {
            taped.Parameters[i].Gradient.MaxAbsDifference(builtIn.Parameters[i].Gradient).Should().BeLessThan(1e-12);
        }

        taped.Predict(x).MaxAbsDifference(builtIn.Predict(x)).Should().BeLessThan(1e-12);
        taped.Parameters[0].Name.Should().Be("0.weight");
    }

    [Fact]
    public void A_custom_cross_entropy_loss_gives_the_built_in_softmax_cross_entropy_gradients()
    {
        var random = new RandomSource(14);
        var x = Tensor.RandomNormal<double>(random, [7, 3]);
        var y = DataSet.FromLabels(x, [0, 1, 2, 3, 0, 1, 2], 4).Y;
        var builtIn = Model.Sequential<double>(3).Dense(6, Activation.ReLU).Dense(4).Softmax().Build(seed: 5);
        var custom = Model.Sequential<double>(3).Dense(6, Activation.ReLU).Dense(4)
            .Loss(CustomLoss.FromTape<double>("CrossEntropyFromLogits", (z, t) => -(t * z.LogSoftmax()).Sum(1).Mean()))
            .Build(seed: 5);
        custom.Loss.Name.Should().Be("CrossEntropyFromLogits");

        double expectedCost = builtIn.ComputeGradients(x, y);
        double cost = custom.ComputeGradients(x, y);
        cost.Should().BeApproximately(expectedCost, 1e-12);
        for (int i = 0; i < builtIn.Parameters.Count; i++)
        {
            custom.Parameters[i].Gradient.MaxAbsDifference(builtIn.Parameters[i].Gradient).Should().BeLessThan(1e-12);
        }

        custom.Evaluate(x, y).Cost.Should().BeApproximately(builtIn.Evaluate(x, y).Cost, 1e-12);
    }

    [Fact]
    public void A_custom_layer_and_a_custom_loss_pass_the_gradient_checker_with_regularization()
    {
        var random = new RandomSource(15);
        var x = Tensor.RandomNormal<double>(random, [6, 4]);
        var y = DataSet.FromLabels(x, [0, 1, 2, 2, 1, 0], 3).Y;
        var model = Model.Sequential<double>(4)
            .Add((inputs, rng) => Swish<double>(inputs, 5, rng), outputSize: 5)
            .Dense(3)
            .Loss(new FocalLoss(gamma: 2))
            .Build(seed: 6);
        model.Regularizer = Regularization.L2(0.1);

        var report = GradientChecker.Check(model, x, y);
        report.Verdict.Should().Be(GradientVerdict.Correct, report.ToString());
        report.Parameters.Select(p => p.Name).Should().Equal("0.weight", "0.bias", "1.weight", "1.bias");

        // The planted bug of the course's assignment is caught: a loss whose gradient is doubled.
        var buggy = Model.Sequential<double>(4).Dense(3).Loss(new DoubledGradientLoss()).Build(seed: 6);
        GradientChecker.Check(buggy, x, y).Verdict.Should().Be(GradientVerdict.LikelyBug);
    }

    [Fact]
    public void A_model_with_a_tape_layer_and_a_focal_loss_trains_through_fit_with_mini_batches_callbacks_regularization_and_early_stopping()
    {
        var (train, dev, test) = Datasets.Digits<float>().Split(0.7, 0.15, 0.15, seed: 3, stratify: true);
        var scaler = Standardizer.Fit(train);
        (train, dev, test) = (scaler.Apply(train), scaler.Apply(dev), scaler.Apply(test));
        var model = Model.Sequential<float>(64)
            .Add((inputs, rng) => Swish<float>(inputs, 32, rng), outputSize: 32)
            .Dense(10)
            .Loss(CustomLoss.FromTape<float>("Focal(γ=2)", (z, t) =>
            {
                var logp = z.LogSoftmax();
                return -(t * (1f - logp.Exp()).Pow(2f) * logp).Sum(1).Mean();
            }))
            .Build(seed: 1);
        var epochs = new List<int>();
        var history = model.Fit(train, new TrainingOptions<float>
        {
            Optimizer = new Adam(0.005),
            Regularization = Regularization.L2(0.01),
            Epochs = 40,
            BatchSize = 32,
            Validation = dev,
            Seed = 1,
            Callbacks = { new EarlyStopping(patience: 3, restoreBestWeights: true), new LambdaCallback((_, record) => epochs.Add(record.Epoch)) },
        });

        history.Epochs.Count.Should().BeLessThan(40, "early stopping ends the run");
        epochs.Should().HaveCount(history.Epochs.Count);
        history.Epochs[^1].Cost.Should().BeLessThan(history.Epochs[0].Cost);
        model.Evaluate(test).Accuracy.Should().BeGreaterThan(0.9);
        model.Parameters.All(p => p.Value.ReadOnlySpan.ToArray().All(float.IsFinite)).Should().BeTrue();
    }

    [Fact]
    public void A_tape_layer_step_allocates_nothing_once_warm()
    {
        var random = new RandomSource(16);
        var x = Tensor.RandomNormal<double>(random, [16, 8]);
        var y = DataSet.FromLabels(x, Enumerable.Range(0, 16).Select(i => i % 4).ToArray(), 4).Y;
        var model = Model.Sequential<double>(8)
            .Add((inputs, rng) => Swish<double>(inputs, 12, rng), outputSize: 12)
            .Dense(4)
            .Loss(new FocalLoss(gamma: 2))
            .Build(seed: 1);
        var adam = new Adam(0.01);
        for (int i = 0; i < 5; i++)
        {
            Trainer.Step(model, adam, x, y);
        }

        // The least of three windows of 10 steps: an allocation in every step shows in each window, while a one-off
        // in the runtime (seen once in CI, 1 KB in one window, not reproducible) does not fail the test.
        long least = long.MaxValue;
        for (int window = 0; window < 3; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++)
            {
                Trainer.Step(model, adam, x, y);
            }

            least = Math.Min(least, (GC.GetAllocatedBytesForCurrentThread() - before) / 10);
        }

        least.Should().Be(0);
    }

    [Fact]
    public void A_tape_layer_reports_a_forward_function_of_the_wrong_width()
    {
        var w = new Parameter<double>("weight", new Tensor<double>(3, 4), regularized: true);
        var layer = new TapeLayer<double>("Bad", 4, 2, [w], (x, p) => x.MatMul(p[0], transposeB: true));
        FluentActions.Invoking(() => layer.Forward(new Tensor<double>(5, 4), training: true))
            .Should().Throw<InvalidOperationException>().WithMessage("Bad layer '': the forward function must return (5, 2)*(5, 3)*");
        FluentActions.Invoking(() => layer.Forward(new Tensor<double>(5, 3), training: true))
            .Should().Throw<ArgumentException>().WithMessage("*expects input (m, 4); received (5, 3)*");
    }

    [Fact]
    public void A_custom_loss_must_return_one_element()
    {
        var loss = CustomLoss.FromTape<double>("NotReduced", (z, t) => z - t);
        FluentActions.Invoking(() => loss.Cost(new Tensor<double>(2, 3), new Tensor<double>(2, 3)))
            .Should().Throw<InvalidOperationException>().WithMessage("*'NotReduced' must return a one-element cost*(2, 3)*");
        FluentActions.Invoking(() => loss.Cost(new Tensor<float>(2, 3), new Tensor<float>(2, 3)))
            .Should().Throw<NotSupportedException>().WithMessage("*written for Double*uses Single*");
    }

    /// <summary>A = tanh(X·Wᵀ + b) as a tape layer (its initial weights are overwritten by the built-in model's).</summary>
    private static TapeLayer<double> TanhDense(int inputs, int units, RandomSource random)
    {
        var w = new Parameter<double>("weight", Tensor.RandomNormal<double>(random, [units, inputs], 0, Math.Sqrt(1.0 / inputs)), regularized: true);
        var b = new Parameter<double>("bias", new Tensor<double>(units), regularized: false);
        return new TapeLayer<double>("TanhDense", inputs, units, [w, b], (x, p) => (x.MatMul(p[0], transposeB: true) + p[1]).Tanh());
    }

    /// <summary>A swish layer, A = Z ⊙ σ(Z) with Z = X·Wᵀ + b, which the built-in layers do not have.</summary>
    private static TapeLayer<T> Swish<T>(int inputs, int units, RandomSource random)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var w = new Parameter<T>("weight", Tensor.RandomNormal<T>(random, [units, inputs], 0, Math.Sqrt(2.0 / inputs)), regularized: true);
        var b = new Parameter<T>("bias", Tensor.RandomNormal<T>(random, [units], 0, 0.1), regularized: false);
        return new TapeLayer<T>("Swish", inputs, units, [w, b], (x, p) =>
        {
            var z = x.MatMul(p[0], transposeB: true) + p[1];
            return z * z.Sigmoid();
        });
    }

    /// <summary>Focal loss from logits, J = −(1/m)·Σ y ⊙ (1 − p)^γ ⊙ log p, for any element type.</summary>
    private sealed class FocalLoss(double gamma) : CustomLoss($"Focal(γ={gamma})")
    {
        protected override Variable<T> Compute<T>(Variable<T> output, Variable<T> targets)
        {
            var logp = output.LogSoftmax();
            return -(targets * (T.One - logp.Exp()).Pow(T.CreateTruncating(gamma)) * logp).Sum(1).Mean();
        }
    }

    /// <summary>Mean squared error whose cost is right but whose gradient is doubled (the cost counted twice in backward).</summary>
    private sealed class DoubledGradientLoss() : CustomLoss("Doubled")
    {
        public override void OutputGradient<T>(Tensor<T> yhat, Tensor<T> y, Tensor<T> dz)
        {
            base.OutputGradient(yhat, y, dz);
            System.Numerics.Tensors.TensorPrimitives.Multiply(dz.Span, T.CreateTruncating(2), dz.Span);
        }

        protected override Variable<T> Compute<T>(Variable<T> output, Variable<T> targets) => (output - targets).Pow(T.CreateTruncating(2)).Sum(1).Mean();
    }

    [Fact]
    public void A_model_with_a_custom_loss_loads_given_the_loss_again()
    {
        var loss = CustomLoss.FromTape<double>("HalfSquare", (z, t) => 0.5 * ((z - t) * (z - t)).Sum(1).Mean(), classification: false);
        var (x, y) = TestData.Problem<double>(8, 3, 2, "regression", seed: 4);
        var model = Model.Sequential<double>(3).Dense(4, Activation.Tanh).Dense(2).Loss(loss).Build(seed: 5);
        model.Fit(DataSet.FromTargets(x, y), new TrainingOptions<double> { Epochs = 2, BatchSize = 4 });
        string path = Path.Combine(Path.GetTempPath(), $"dl-custom-loss-{Guid.NewGuid():N}.safetensors");
        try
        {
            model.Save(path);
            FluentActions.Invoking(() => Model.Load<double>(path)).Should().Throw<InvalidDataException>()
                .WithMessage("*architecture: unknown loss 'HalfSquare' (not a built-in loss; a model saved with a custom loss loads with Model.Load<T>(path, loss)*");
            var other = CustomLoss.FromTape<double>("Other", (z, t) => (z - t).Abs().Mean(), classification: false);
            FluentActions.Invoking(() => Model.Load<double>(path, other)).Should().Throw<InvalidDataException>()
                .WithMessage("*architecture.loss is 'HalfSquare' but the loss given is named 'Other'*");

            var loaded = Model.Load<double>(path, loss);
            loaded.Loss.Should().BeSameAs(loss);
            loaded.Predict(x).Should().Be(model.Predict(x));
            loaded.Cost(x, y, training: false).Should().Be(model.Cost(x, y, training: false));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_tape_layer_listing_a_parameter_twice_or_two_of_one_name_is_refused_when_made()
    {
        // It built, then failed at Save (an ArgumentException about 'tensors') or LoadWeights (a raw dictionary error).
        var w = new Parameter<double>("w", new Tensor<double>(2, 3), regularized: true);
        var w2 = new Parameter<double>("w", new Tensor<double>(2, 3), regularized: true);
        FluentActions.Invoking(() => new TapeLayer<double>("Dup", 3, 2, [w, w2], (v, p) => v.MatMul(p[0], transposeB: true)))
            .Should().Throw<ArgumentException>().WithParameterName("parameters").WithMessage("parameters[0] and parameters[1] are both named \"w\"*");
        FluentActions.Invoking(() => new TapeLayer<double>("Dup", 3, 2, [w, w], (v, p) => v.MatMul(p[0], transposeB: true)))
            .Should().Throw<ArgumentException>().WithMessage("parameters[0] and parameters[1] are the same parameter \"w\"*");
    }
}
