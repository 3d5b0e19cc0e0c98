namespace DeepLearning.Tests.Models;

/// <summary>
/// A layer too wide for one tensor (W of n[l-1] × n[l] values beyond <see cref="Tensor.MaxLength"/>) failed in Build with
/// the tensor constructor's "shape (100000, 100000) holds more than ..." (parameter 'shape'), naming neither the layer nor
/// what to do; and a batch whose rows × a layer's width is beyond it failed the same way in the first training step. Both
/// are refused before anything is allocated, naming the layer. (Nothing here allocates more than a few MB.)
/// </summary>
public class WideLayerBuildTests
{
    [Fact]
    public void Build_refuses_a_Dense_whose_weights_exceed_a_tensor_naming_it_its_inputs_and_units()
    {
        FluentActions.Invoking(() => Model.Sequential<float>(100_000).Dense(100_000).ReLU().Dense(1).Build(seed: 1))
            .Should().Throw<InvalidOperationException>()
            .WithMessage($"Dense(100000) at position 0 (layer '0') is too wide: its W would be 100000 inputs × 100000 units = 10000000000 values, more than the {Tensor.MaxLength} a tensor holds (Tensor.MaxLength); give it at most 21474 units, or fewer inputs");

        // Named by its position among the builder's calls and by its name (the nn.Sequential index), as the builder's other errors.
        FluentActions.Invoking(() => Model.Sequential<float>(3).Dense(8, Activation.ReLU).Dense(300_000_000).Build(seed: 1))
            .Should().Throw<InvalidOperationException>()
            .WithMessage($"Dense(300000000) at position 1 (layer '2') is too wide: its W would be 8 inputs × 300000000 units = 2400000000 values, more than the {Tensor.MaxLength} a tensor holds (Tensor.MaxLength); give it at most 268435440 units, or fewer inputs");
    }

    [Fact]
    public void Build_refuses_a_Dense_just_past_the_limit_before_drawing_any_weights()
    {
        // 2 × (MaxLength / 2 + 1) = MaxLength + 1. The wide layer is the last: the check runs before any layer is made.
        int units = (Tensor.MaxLength / 2) + 1;
        FluentActions.Invoking(() => Model.Sequential<float>(4).Dense(2).BatchNorm().Activation(Activation.Linear).Dense(units).Build(seed: 1))
            .Should().Throw<InvalidOperationException>()
            .WithMessage($"Dense({units}) at position 3 (layer '3') is too wide: its W would be 2 inputs × {units} units = {(long)Tensor.MaxLength + 1} values*give it at most {Tensor.MaxLength / 2} units*");
    }

    [Fact]
    public void The_Dense_constructor_refuses_weights_beyond_a_tensor_naming_both_sizes()
    {
        FluentActions.Invoking(() => new Dense<float>(100_000, 100_000, Activation.Linear, Init.Xavier, new RandomSource(1)))
            .Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage($"W of inputSize × units = 100000 × 100000 = 10000000000 values is more than the {Tensor.MaxLength} a tensor holds (Tensor.MaxLength)*")
            .Which.ParamName.Should().Be("units");
    }

    [Fact]
    public void Fit_refuses_a_batch_size_whose_mini_batch_is_too_wide_for_a_layer_naming_both()
    {
        // 60,000 rows × 40,000 units = 2.4e9 activations in layer '0': refused before the first step allocates them.
        var model = Model.Sequential<float>(2).Dense(40_000).ReLU().Dense(1).Build(seed: 1);
        var x = Tensor.RandomNormal<float>(new RandomSource(2), [60_000, 2]);
        var y = new Tensor<float>(60_000, 1);
        var before = model.CaptureState();

        var full = FluentActions.Invoking(() => model.Fit(x, y, new TrainingOptions<float> { Epochs = 1, BatchSize = 60_000 }))
            .Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage($"BatchSize = 60000 is too large for this model: a mini-batch of 60000 rows through layer '0' (Dense, 40000 units) needs 60000 × 40000 = 2400000000 values, more than the {Tensor.MaxLength} a tensor holds (Tensor.MaxLength); use BatchSize ≤ 53687*").Which;
        full.ParamName.Should().Be("options");
        full.ActualValue.Should().Be(60_000);

        // Full batch (0) and a batch size beyond m train on m rows: the message says so.
        FluentActions.Invoking(() => model.Fit(x, y, new TrainingOptions<float> { Epochs = 1, BatchSize = 0 }))
            .Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("BatchSize = 0 (full batch) is too large for this model: a mini-batch of 60000 rows (the whole training set) through layer '0' (Dense, 40000 units)*use BatchSize ≤ 53687*");
        FluentActions.Invoking(() => model.Fit(x, y, new TrainingOptions<float> { Epochs = 1, BatchSize = 1_000_000 }))
            .Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("BatchSize = 1000000 is too large for this model: a mini-batch of 60000 rows (the whole training set) through layer '0'*");
        model.CaptureState().Tensors.Zip(before.Tensors).Should().OnlyContain(p => p.First.ToArray().SequenceEqual(p.Second.ToArray()), "nothing was trained");
    }

    [Fact]
    public void Fit_refuses_a_batch_size_a_callback_makes_too_large_before_the_epoch_that_would_use_it()
    {
        // Set when training begins: checked again before the first epoch, as BatchSize's other checks are.
        var model = Model.Sequential<float>(2).Dense(40_000).ReLU().Dense(1).Build(seed: 1);
        var x = Tensor.RandomNormal<float>(new RandomSource(2), [60_000, 2]);
        var y = new Tensor<float>(60_000, 1);
        var options = new TrainingOptions<float> { Epochs = 2, BatchSize = 64 };
        options.Callbacks.Add(new OnBegin(ctx => ((TrainingOptions<float>)ctx.Options).BatchSize = 60_000));
        FluentActions.Invoking(() => model.Fit(x, y, options))
            .Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("BatchSize = 60000 is too large for this model: a mini-batch of 60000 rows through layer '0' (Dense, 40000 units)*(set during training, before epoch 1)*");
    }

    [Fact]
    public void ComputeGradients_Forward_and_Cost_refuse_X_of_too_many_rows_for_a_layer_naming_it()
    {
        var model = Model.Sequential<float>(2).Dense(40_000).ReLU().Dense(1).Build(seed: 1);
        var x = Tensor.RandomNormal<float>(new RandomSource(2), [60_000, 2]);
        var y = new Tensor<float>(60_000, 1);
        string message = $"X of 60000 rows is too many for one pass: through layer '0' (Dense, 40000 units) they need 60000 × 40000 = 2400000000 values, more than the {Tensor.MaxLength} a tensor holds (Tensor.MaxLength); pass at most 53687 rows at a time*";
        FluentActions.Invoking(() => model.ComputeGradients(x, y)).Should().Throw<ArgumentException>().WithMessage(message).Which.ParamName.Should().Be("x");
        FluentActions.Invoking(() => model.Forward(x, training: true)).Should().Throw<ArgumentException>().WithMessage(message);
        FluentActions.Invoking(() => model.Forward(x, training: false)).Should().Throw<ArgumentException>().WithMessage(message);
        FluentActions.Invoking(() => model.Cost(x, y, training: true)).Should().Throw<ArgumentException>().WithMessage(message);
        FluentActions.Invoking(() => model.Cost(x, y, training: false)).Should().Throw<ArgumentException>().WithMessage(message);
    }

    private sealed class OnBegin(Action<TrainingContext> onTrainBegin) : ITrainingCallback
    {
        public void OnTrainBegin(TrainingContext context) => onTrainBegin(context);
    }
}
