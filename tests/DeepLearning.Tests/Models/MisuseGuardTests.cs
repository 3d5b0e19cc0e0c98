namespace DeepLearning.Tests.Models;

/// <summary>
/// Misuse found by review: targets a softmax or sigmoid model's loss is not defined for, no rows, a null regularizer, a
/// custom layer factory returning null, a layer after the output activation, and a Huber δ that rounds to 0 in T. Each
/// is refused with an exception naming the thing and its value, and a refused call leaves the model as it was.
/// </summary>
public class MisuseGuardTests
{
    [Fact]
    public void Cost_and_ComputeGradients_refuse_targets_that_are_not_probability_rows_for_softmax()
    {
        var model = Model.Sequential<double>(3).Dense(4).Tanh().Dense(3).Softmax().Build(seed: 1);
        var (x, _) = TestData.Problem<double>(5, 3, 3, "softmax", seed: 2);
        var (_, normal) = TestData.Problem<double>(5, 3, 3, "regression", seed: 3); // N(0, 1): gave a negative cross-entropy
        var before = model.CaptureState();

        FluentActions.Invoking(() => model.Cost(x, normal, training: false))
            .Should().Throw<ArgumentException>().WithMessage("the batch's targets Y must be probability rows for softmax*row 0*").Which.ParamName.Should().Be("y");
        FluentActions.Invoking(() => model.Cost(x, normal, training: true))
            .Should().Throw<ArgumentException>().WithMessage("the batch's targets Y must be probability rows for softmax*");
        FluentActions.Invoking(() => model.ComputeGradients(x, normal))
            .Should().Throw<ArgumentException>().WithMessage("the batch's targets Y must be probability rows for softmax*").Which.ParamName.Should().Be("y");
        FluentActions.Invoking(() => Trainer.Step(model, new GradientDescent(0.1), x, normal))
            .Should().Throw<ArgumentException>().WithMessage("the batch's targets Y must be probability rows for softmax*");
        model.CaptureState().Tensors.Zip(before.Tensors).Should().OnlyContain(p => p.First.ToArray().SequenceEqual(p.Second.ToArray()), "a refused call changes nothing");

        // A row that sums to 2 is named with its sum; NaN is named by its cell (as Evaluate does).
        var twice = Tensor.FromArray(new double[] { 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0 }, 5, 3);
        FluentActions.Invoking(() => model.Cost(x, twice, training: false))
            .Should().Throw<ArgumentException>().WithMessage("*row 2 sums to 2*");
        var nan = twice.Clone();
        nan[2, 1] = double.NaN;
        FluentActions.Invoking(() => model.ComputeGradients(x, nan))
            .Should().Throw<InvalidDataException>().WithMessage("Y holds NaN at row 2, column 1*");

        // Soft targets (label smoothing) stay accepted, and agree with Evaluate.
        var smooth = Tensor.FromArray(new double[] { 0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.8, 0.8, 0.1, 0.1, 0.1, 0.8, 0.1 }, 5, 3);
        model.Cost(x, smooth, training: false).Should().BeApproximately(model.Evaluate(x, smooth).Cost, 1e-12);
        double.IsFinite(model.ComputeGradients(x, smooth)).Should().BeTrue();
    }

    [Fact]
    public void Cost_refuses_sigmoid_targets_outside_0_1_and_regression_targets_stay_free()
    {
        var sigmoid = Model.Sequential<float>(2).Dense(1).Sigmoid().Build(seed: 1);
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2);
        var y = Tensor.FromArray(new float[] { 1, 2 }, 2, 1);
        FluentActions.Invoking(() => sigmoid.Cost(x, y, training: false))
            .Should().Throw<ArgumentException>().WithMessage("the batch's targets Y must be in [0, 1] for sigmoid*row 1, column 0 holds 2*");

        var regression = Model.Sequential<float>(2).Dense(1).Build(seed: 1);
        double.IsFinite(regression.Cost(x, Tensor.FromArray(new float[] { -5, 7 }, 2, 1), training: false)).Should().BeTrue();
    }

    [Fact]
    public void Cost_and_ComputeGradients_refuse_no_rows_instead_of_returning_the_penalty_alone()
    {
        // With L2, J of 0 rows came back as the regularization term alone (and its gradient divides by m = 0).
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        model.Regularizer = Regularization.L2(0.1);
        var x = new Tensor<float>(0, 3);
        var y = new Tensor<float>(0, 2);
        var before = model.Parameters.Select(p => p.Gradient.ToArray()).ToArray();
        FluentActions.Invoking(() => model.Cost(x, y, training: false))
            .Should().Throw<ArgumentException>().WithMessage("X holds no examples: shape (0, 3)*").Which.ParamName.Should().Be("x");
        FluentActions.Invoking(() => model.ComputeGradients(x, y))
            .Should().Throw<ArgumentException>().WithMessage("X holds no examples: shape (0, 3)*");
        model.Parameters.Select(p => p.Gradient.ToArray()).Should().BeEquivalentTo(before, o => o.WithStrictOrdering());

        // Fit refuses an empty training set the same way.
        FluentActions.Invoking(() => model.Fit(x, y, new TrainingOptions<float> { Epochs = 1 }))
            .Should().Throw<ArgumentException>().WithMessage("the training data is empty (0 examples)*");
    }

    [Fact]
    public void Build_refuses_target_standardization_of_another_width_and_Activation_an_undefined_value()
    {
        // StandardizeTargets of 2 columns on a 1-output model threw ArgumentException (Parameter 'value') from a setter;
        // an undefined activation was accepted and refused only at Build.
        var y2 = new DataSet<float>(new Tensor<float>(4, 3), Tensor.FromArray(new float[,] { { 1, 2 }, { 3, 4 }, { 5, 7 }, { 8, 9 } }));
        var act = () => Model.Sequential<float>(3).StandardizeTargets(y2).Dense(1).Build(seed: 1);
        act.Should().Throw<InvalidOperationException>().WithMessage("StandardizeTargets was fitted to targets of 2 columns but the model has 1 outputs*");

        var activation = () => Model.Sequential<float>(3).Dense(2).Activation((Activation)99);
        activation.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "activation").WithMessage("unknown activation 99*");
    }

    [Fact]
    public void A_null_regularizer_is_refused_when_set_not_at_the_next_Fit()
    {
        var model = Model.Sequential<float>(2).Dense(1).Build(seed: 1);
        model.Regularizer = Regularization.L2(0.01);
        FluentActions.Invoking(() => model.Regularizer = null!)
            .Should().Throw<ArgumentNullException>().WithMessage("Regularizer must not be null; use Regularization.None*").Which.ParamName.Should().Be("value");
        model.Regularizer.Name.Should().Be(Regularization.L2(0.01).Name, "the refused set leaves the old one");

        var (x, y) = TestData.Problem<float>(8, 2, 1, "regression", seed: 1);
        model.Fit(x, y, new TrainingOptions<float> { Epochs = 1, BatchSize = 4 }).Epochs.Should().HaveCount(1);
    }

    [Fact]
    public void A_custom_layer_factory_that_returns_null_is_named_at_Build()
    {
        var build = () => Model.Sequential<float>(3).Dense(4).Add((n, r) => null!, 2).Build(seed: 1);
        build.Should().Throw<InvalidOperationException>()
            .WithMessage("the factory of custom layer at position 1 (.Add(factory, 2) with input width 4) returned null; it must return the layer");
    }

    [Fact]
    public void A_registered_layer_factory_that_returns_null_is_named_not_a_NullReferenceException()
    {
        LayerRegistry.Register("MisuseGuardNullLayer", new NullFactory());
        var config = new LayerConfig("MisuseGuardNullLayer", 3, new Dictionary<string, string>());
        FluentActions.Invoking(() => LayerRegistry.Create<float>(config, new RandomSource(1)))
            .Should().Throw<InvalidOperationException>().WithMessage("the factory registered for layer kind 'MisuseGuardNullLayer' (NullFactory) returned null for a Single layer of 3 inputs*");
    }

    [Theory]
    [InlineData("softmax-dropout", "Dropout(0.5) at position 2 follows the output Softmax() at position 1*regression (MeanSquaredError) on softmax outputs*.Dropout(0.5).Dense(3).Softmax()*")]
    [InlineData("softmax-batchnorm", "BatchNorm() at position 2 follows the output Softmax() at position 1*")]
    [InlineData("softmax-softmax", "Softmax() at position 2 follows the output Softmax() at position 1*")]
    [InlineData("sigmoid-dropout", "Dropout(0.5) at position 2 follows the output Sigmoid() at position 1*on sigmoid outputs*.Dropout(0.5).Dense(3).Sigmoid()*")]
    [InlineData("fused-sigmoid-dropout", "Dropout(0.5) at position 1 follows the output Dense(3, Sigmoid) at position 0*")]
    [InlineData("sigmoid-relu", "ReLU() at position 2 follows the output Sigmoid() at position 1*")]
    [InlineData("softmax-dropout-mae", "Dropout(0.5) at position 2 follows the output Softmax() at position 1*regression (MeanAbsoluteError)*")]
    public void A_layer_after_the_output_activation_is_refused_rather_than_building_a_regression(string kind, string message)
    {
        var b = Model.Sequential<float>(4);
        b = kind switch
        {
            "softmax-dropout" => b.Dense(3).Softmax().Dropout(0.5),
            "softmax-batchnorm" => b.Dense(3).Softmax().BatchNorm(),
            "softmax-softmax" => b.Dense(3).Softmax().Softmax(),
            "sigmoid-dropout" => b.Dense(3).Sigmoid().Dropout(0.5),
            "fused-sigmoid-dropout" => b.Dense(3, Activation.Sigmoid).Dropout(0.5),
            "sigmoid-relu" => b.Dense(3).Sigmoid().ReLU(),
            _ => b.Dense(3).Softmax().Dropout(0.5).WithLoss(Loss.MeanAbsoluteError),
        };
        FluentActions.Invoking(() => b.Build(seed: 1)).Should().Throw<InvalidOperationException>().WithMessage(message);
    }

    [Fact]
    public void Hidden_sigmoids_dropout_before_the_output_and_custom_losses_still_build()
    {
        Model.Sequential<float>(4).Dense(8).Sigmoid().Dropout(0.5).Dense(3).Softmax().Build(seed: 1).Loss.Should().BeSameAs(Loss.CategoricalCrossEntropy);
        Model.Sequential<float>(4).Dense(8).Sigmoid().BatchNorm().Dense(1).Sigmoid().Build(seed: 1).Loss.Should().BeSameAs(Loss.BinaryCrossEntropy);
        Model.Sequential<float>(4).Dense(8, Activation.Sigmoid).Dropout(0.5).Dense(1).Build(seed: 1).Loss.Should().BeSameAs(Loss.MeanSquaredError);
        Model.Sequential<float>(4).Dense(3).Dropout(0.5).Build(seed: 1).Loss.Should().BeSameAs(Loss.MeanSquaredError, "no output activation: a regression, as asked");

        // With a custom loss the output goes to it as it is, so a layer after softmax is the user's choice.
        var custom = CustomLoss.FromTape<float>("sum", (yhat, y) => ((yhat - y) * (yhat - y)).Sum());
        Model.Sequential<float>(4).Dense(3).Softmax().Dropout(0.5).Loss(custom).Build(seed: 1).Loss.Should().BeSameAs(custom);
    }

    [Fact]
    public void A_Huber_delta_that_rounds_to_0_in_the_element_type_is_refused_when_the_model_is_built()
    {
        // 1e-50 is a valid double, but 0 in float: clamp(d, −δ, δ) made every gradient 0 while the cost (in double) moved.
        var loss = Loss.Huber(1e-50);
        FluentActions.Invoking(() => Model.Sequential<float>(2).Dense(1).WithLoss(loss).Build(seed: 1))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("Huber delta 1E-50 rounds to 0 in Single*nothing would be learned*")
            .Which.ParamName.Should().Be("delta");

        // In double it holds, and converting that model to float is refused the same way.
        var model = Model.Sequential<double>(2).Dense(1).WithLoss(loss).Build(seed: 1);
        model.Loss.Should().BeSameAs(loss);
        FluentActions.Invoking(() => model.ConvertTo<float>())
            .Should().Throw<InvalidOperationException>().WithMessage("Model<Double>.ConvertTo<Single>() cannot rebuild the model in Single: Huber delta 1E-50 rounds to 0 in Single*")
            .WithInnerException<ArgumentOutOfRangeException>();

        // Loading that model as float is refused as a file that cannot be built in float (no other exception type escapes Load).
        string path = Path.Combine(Path.GetTempPath(), $"dl-huber-{Guid.NewGuid():N}.safetensors");
        try
        {
            model.Save(path);
            Model.Load<double>(path).Loss.Name.Should().Be("Huber(1E-50)");
            FluentActions.Invoking(() => Model.Load<float>(path))
                .Should().Throw<InvalidDataException>().WithMessage("*Huber delta 1E-50 rounds to 0 in Single*");
        }
        finally
        {
            File.Delete(path);
        }

        // A small δ a float can hold is kept.
        Model.Sequential<float>(2).Dense(1).WithLoss(Loss.Huber(1e-30)).Build(seed: 1).Loss.Name.Should().Be("Huber(1E-30)");
    }

    private sealed class NullFactory : ILayerFactory
    {
        public ILayer<T> Create<T>(LayerConfig config, RandomSource random)
            where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => null!;
    }

    [Fact]
    public void A_model_whose_layers_give_two_tensors_one_name_is_refused_at_Build()
    {
        // Names key Save, LoadWeights and optimizer state: a repeat failed there, later, with unrelated messages.
        var build = () => Model.Sequential<double>(3).Add((inputs, rng) => new TwoOfOneName(inputs), outputSize: 3).Build(seed: 1);
        build.Should().Throw<ArgumentException>().WithMessage("two parameters or buffers of the model are named \"x.w\"*");
    }

    private sealed class TwoOfOneName(int size) : ILayer<double>
    {
        public string Kind => "TwoOfOneName";

        public string Name { get; set; } = string.Empty;

        public int InputSize => size;

        public int OutputSize => size;

        public IReadOnlyList<Parameter<double>> Parameters { get; } =
            [new Parameter<double>("x.w", new Tensor<double>(size), regularized: false), new Parameter<double>("x.w", new Tensor<double>(size), regularized: false)];

        public IReadOnlyDictionary<string, Tensor<double>> Buffers { get; } = new Dictionary<string, Tensor<double>>();

        public LayerConfig Config => new(Kind, size, new Dictionary<string, string>());

        public Tensor<double> Forward(Tensor<double> input, bool training) => input;

        public void Infer(Tensor<double> input, Tensor<double> output) => input.ReadOnlySpan.CopyTo(output.Span);

        public Tensor<double> Backward(Tensor<double> outputGradient) => outputGradient;
    }
}
