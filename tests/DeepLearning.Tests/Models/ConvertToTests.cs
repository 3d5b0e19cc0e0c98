namespace DeepLearning.Tests.Models;

/// <summary>
/// ConvertTo refuses a copy that would not be the model, always with InvalidOperationException naming the conversion:
/// a weight beyond the target type's range (it became ±∞ silently), a transform value likewise (an InvalidDataException
/// about a load), and a layer with no factory (a FormatException about parsing, though nothing was parsed).
/// </summary>
public class ConvertToTests
{
    [Fact]
    public void A_weight_beyond_float_range_is_refused_naming_tensor_index_value_and_type()
    {
        var model = Model.Sequential<double>(2).Dense(2).Dense(1).Build(1);
        model.Parameters[0].Value[1, 0] = -1e300;
        FluentActions.Invoking(() => model.ConvertTo<float>())
            .Should().Throw<InvalidOperationException>()
            .WithMessage("Model<Double>.ConvertTo<Single>(): 0.weight[1, 0] = -1E+300 is beyond the range of Single (largest finite value 3.40282347E+38) and would become -Infinity; nothing was converted");

        var bn = Model.Sequential<double>(2).BatchNorm().Dense(1).Build(1);
        bn.Layers[0].Buffers["running_var"][1] = 1e39;
        FluentActions.Invoking(() => bn.ConvertTo<float>())
            .Should().Throw<InvalidOperationException>().WithMessage("*0.running_var[1] = 1E+39 is beyond the range of Single*");

        // Within range, and values already ±∞ (carried as they are), convert; so does every weight to double.
        model.Parameters[0].Value[1, 0] = -3e38;
        model.ConvertTo<float>().Parameters[0].Value[1, 0].Should().Be(-3e38f);
        model.Parameters[0].Value[1, 0] = double.PositiveInfinity;
        model.ConvertTo<float>().Parameters[0].Value[1, 0].Should().Be(float.PositiveInfinity);
    }

    [Fact]
    public void A_transform_value_beyond_float_range_is_refused_as_the_conversion_not_as_a_load()
    {
        var x = Tensor.FromArray(new double[] { 1e150, 0, 3e150, 1 }, 2, 2); // mean 2e150, beyond float
        var data = new DataSet<double>(x, Tensor.FromArray(new double[] { 0, 1 }, 2, 1));
        var model = Model.Sequential<double>(2).Standardize(data).Dense(1).Build(1);
        FluentActions.Invoking(() => model.ConvertTo<float>())
            .Should().Throw<InvalidOperationException>()
            .WithMessage("Model<Double>.ConvertTo<Single>(): input transform (standardize) 'mean'[0] = 2*E+150 is beyond the range of Single*");

        var targets = new DataSet<double>(Tensor.FromArray(new double[] { 0, 1, 2, 3 }, 2, 2), Tensor.FromArray(new double[] { 1e150, 3e150 }, 2, 1));
        var regression = Model.Sequential<double>(2).StandardizeTargets(targets).Dense(1).Build(1);
        FluentActions.Invoking(() => regression.ConvertTo<float>())
            .Should().Throw<InvalidOperationException>().WithMessage("*target transform (standardize) 'mean'[0] = 2*E+150 is beyond the range of Single*");
    }

    [Fact]
    public void A_custom_layer_without_a_factory_is_refused_as_a_conversion_from_ConvertTo_and_the_gradient_check()
    {
        var model = Model.Sequential<float>(3).Add((n, _) => new Doubler(n), 3).Dense(2).Softmax().Build(1);
        FluentActions.Invoking(() => model.ConvertTo<double>())
            .Should().Throw<InvalidOperationException>()
            .WithMessage("Model<Single>.ConvertTo<Double>() cannot rebuild the model in Double: unknown layer kind 'Doubler'; register a factory for it with LayerRegistry.Register")
            .WithInnerException<FormatException>();

        var (x, y) = TestData.Problem<float>(4, 3, 2, "softmax", seed: 2);
        FluentActions.Invoking(() => GradientChecker.Check(model, x, y))
            .Should().Throw<InvalidOperationException>().WithMessage("Model<Single>.ConvertTo<Double>() cannot rebuild the model in Double: unknown layer kind 'Doubler'*");
    }

    private sealed class Doubler(int size) : ILayer<float>
    {
        public string Kind => "Doubler";

        public string Name { get; set; } = string.Empty;

        public int InputSize => size;

        public int OutputSize => size;

        public IReadOnlyList<Parameter<float>> Parameters { get; } = [];

        public IReadOnlyDictionary<string, Tensor<float>> Buffers { get; } = new Dictionary<string, Tensor<float>>();

        public LayerConfig Config => new(Kind, size, new Dictionary<string, string>());

        public Tensor<float> Forward(Tensor<float> input, bool training)
        {
            var o = new Tensor<float>(input.RowCount, size);
            Infer(input, o);
            return o;
        }

        public void Infer(Tensor<float> input, Tensor<float> output) => TensorMath.Scale(input, 2f, output);

        public Tensor<float> Backward(Tensor<float> outputGradient) => outputGradient;
    }
}
