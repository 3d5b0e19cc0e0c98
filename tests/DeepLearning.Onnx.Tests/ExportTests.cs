using System.Numerics;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace DeepLearning.Onnx.Tests;

/// <summary>
/// Every exported model runs in ONNX Runtime (the reference implementation, CPU provider) and must give our
/// predictions: within 1e-5 in float and 1e-12 in double, relative to max(1, |ŷ|) per element.
/// </summary>
public class ExportTests
{
    public static TheoryData<string, string> Cases() => TestModels.Cases();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Float_model_runs_in_OnnxRuntime_like_ours(string architecture, string transform) =>
        CompareWithOnnxRuntime<float>(architecture, transform, 1e-5);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Double_model_runs_in_OnnxRuntime_like_ours(string architecture, string transform) =>
        CompareWithOnnxRuntime<double>(architecture, transform, 1e-12);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Export_then_import_predicts_bit_identically(string architecture, string transform)
    {
        RoundTrip<float>(architecture, transform);
        RoundTrip<double>(architecture, transform);
    }

    [Fact]
    public void A_min_max_scaled_feature_whose_range_underflows_exports_with_the_scalers_scale_of_one()
    {
        // A range of 1e-39 (float) has a reciprocal that overflows; the scaler uses scale 1, and the exporter used to
        // recompute (High − Low)/range itself and then fail its own bit-for-bit self-check.
        var x = new Tensor<float>(4, 2);
        var y = new Tensor<float>(4, 1);
        for (int i = 0; i < 4; i++)
        {
            x[i, 0] = i;
            x[i, 1] = i % 2 == 0 ? 0f : 1e-39f;
            y[i, 0] = i % 2;
        }

        var model = Model.Sequential<float>(2).MinMaxScale(new DataSet<float>(x, y)).Dense(1).Sigmoid().Build(seed: 1);
        var imported = OnnxModel.Load<float>(OnnxExporter.ToBytes(model));
        imported.Predict(x).ToArray().Should().Equal(model.Predict(x).ToArray());
        imported.InputTransform.Should().BeOfType<MinMaxScaler<float>>();
    }

    [Fact]
    public void A_column_the_standardizer_treats_as_constant_exports_and_runs_like_ours()
    {
        // Column 0 varies by far less than float rounding of its mean (1000 and 1000.0001): the standardizer divides it
        // by 1, and so must the exported graph (it used 1/√σ², and export refused the model).
        var x = Tensor.FromArray(new float[] { 1000f, 1f, 1000.0001f, 2f, 1000f, 3f, 1000.0001f, 5f }, [4, 2]);
        var model = Model.Sequential<float>(2).Dense(3, Activation.ReLU).Dense(2).Softmax().Build(seed: 1);
        model.InputTransform = Standardizer.Fit(x);
        string path = TestModels.TempFile("near-constant.onnx");
        model.SaveOnnx(path);

        using var session = new InferenceSession(path);
        var input = new DenseTensor<float>(x.ToArray(), [4, 2]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", input)]);
        var got = results.Single().AsEnumerable<float>().ToArray();
        var expected = model.Predict(x).ToArray();
        got.Should().HaveCount(expected.Length);
        for (int i = 0; i < got.Length; i++)
        {
            got[i].Should().BeApproximately(expected[i], 1e-5f);
        }
    }

    [Fact]
    public void The_file_declares_opset_17_a_symbolic_batch_dimension_and_metadata()
    {
        var (model, _) = TestModels.Build<float>("batchnorm", "standardize");
        string path = TestModels.TempFile("metadata.onnx");
        model.SaveOnnx(path, new OnnxExportOptions { ClassNames = ["zero", "one", "two"] });

        using var session = new InferenceSession(path);
        var input = session.InputMetadata.Should().ContainSingle().Subject;
        input.Key.Should().Be("input");
        input.Value.ElementType.Should().Be(typeof(float));
        input.Value.Dimensions.Should().Equal(-1, TestModels.Features);
        input.Value.SymbolicDimensions[0].Should().Be("batch");
        session.OutputMetadata.Keys.Should().Equal("output");
        session.ModelMetadata.ProducerName.Should().Be("DeepLearning");
        session.ModelMetadata.CustomMetadataMap["class_names"].Should().Be("[\"zero\",\"one\",\"two\"]");

        var metadata = OnnxModel.ReadMetadata(path);
        metadata["producer"].Should().StartWith("DeepLearning ");
        metadata["loss"].Should().Be("CategoricalCrossEntropy");
        var architecture = JsonNode.Parse(metadata["architecture"])!;
        architecture["layers"]!.AsArray().Select(l => (string)l!["kind"]!).Should().Equal("Dense", "BatchNorm", "Activation", "Dropout", "Dense", "Activation");
        JsonNode.Parse(metadata["input_transform"])!["kind"]!.GetValue<string>().Should().Be("standardize");

        byte[] bytes = File.ReadAllBytes(path);
        bytes.Should().Equal(OnnxExporter.ToBytes(model, new OnnxExportOptions { ClassNames = ["zero", "one", "two"] }), "export is deterministic");
    }

    [Fact]
    public void A_regression_model_with_standardized_targets_predicts_in_original_units_in_onnx_runtime()
    {
        var rng = new RandomSource(5);
        var x = new Tensor<float>(50, 3);
        var y = new Tensor<float>(50, 2);
        for (int i = 0; i < 50; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                x[i, j] = (float)rng.NextGaussian();
            }

            y[i, 0] = 400 + (80 * x[i, 0]);
            y[i, 1] = -2 + x[i, 1] - x[i, 2];
        }

        var train = new DataSet<float>(x, y);
        var model = Model.Sequential<float>(3).Standardize(train).StandardizeTargets(train).Dense(6).Tanh().Dense(2).Build(seed: 3);
        model.Fit(train, new TrainingOptions<float> { Epochs = 2, BatchSize = 10 });
        string path = TestModels.TempFile("regression.onnx");
        model.SaveOnnx(path);

        using var session = new InferenceSession(path);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(x.ReadOnlySpan.ToArray(), [50, 3]))]);
        float[] onnx = results.First().AsEnumerable<float>().ToArray();
        float[] ours = model.Predict(x).ReadOnlySpan.ToArray();
        onnx.Should().HaveCount(ours.Length);
        for (int i = 0; i < ours.Length; i++)
        {
            ((double)Math.Abs(onnx[i] - ours[i])).Should().BeLessThanOrEqualTo(1e-5 * Math.Max(1, Math.Abs(ours[i])), $"element {i}");
        }

        ours.Where((_, i) => i % 2 == 0).Average().Should().BeGreaterThan(100, "outputs are in the targets' units");
        JsonNode.Parse(OnnxModel.ReadMetadata(path)["target_transform"])!["kind"]!.GetValue<string>().Should().Be("standardize");
        OnnxModel.Load<float>(path).Predict(x).ReadOnlySpan.SequenceEqual(model.Predict(x).ReadOnlySpan).Should().BeTrue("the file imports back with its target transform");
    }

    [Fact]
    public void Class_names_default_to_the_models_own()
    {
        var (model, _) = TestModels.Build<float>("batchnorm", "standardize");
        model.ClassNames = ["a", "b", "c"];
        string path = TestModels.TempFile("names.onnx");
        model.SaveOnnx(path);
        OnnxModel.ReadMetadata(path)["class_names"].Should().Be("[\"a\",\"b\",\"c\"]");
    }

    [Fact]
    public void Class_names_of_a_binary_sigmoid_model_are_one_per_class_as_the_models_own()
    {
        // A single sigmoid output has two classes, and the model's own ClassNames hold two names (exported as such), but
        // OnnxExportOptions.ClassNames = ["no", "yes"] was refused: "ClassNames has 2 names but the model has 1 outputs".
        var model = Model.Sequential<float>(2).Dense(1).Sigmoid().Build(seed: 1);
        var explicitNames = OnnxExporter.ToBytes(model, new OnnxExportOptions { ClassNames = ["no", "yes"] });
        model.ClassNames = ["no", "yes"];
        explicitNames.Should().Equal(OnnxExporter.ToBytes(model), "the same names, given or the model's own, give the same file");

        model.Invoking(m => OnnxExporter.ToBytes(m, new OnnxExportOptions { ClassNames = ["yes"] }))
            .Should().Throw<ArgumentException>().WithMessage("ClassNames has 1 names but the model has 2 classes*");
    }

    [Fact]
    public void Dense_is_one_Gemm_with_transB_and_dropout_is_left_out()
    {
        var (model, _) = TestModels.Build<float>("batchnorm", "minmax");
        var proto = Proto.ModelProto.Decode(OnnxExporter.ToBytes(model));
        proto.Opsets.Should().Equal((string.Empty, 17L));
        proto.IrVersion.Should().Be(8);
        proto.Graph!.Nodes.Select(n => n.OpType).Should().Equal("Mul", "Add", "Gemm", "BatchNormalization", "Relu", "Gemm", "Softmax");
        var gemm = proto.Graph.Nodes[2];
        gemm.Attributes.Should().ContainSingle(a => a.Name == "transB" && a.I == 1);
        gemm.Inputs.Should().Equal(proto.Graph.Nodes[1].Outputs[0], "0.weight");
        proto.Graph.Nodes[3].Inputs.Skip(1).Should().Equal("1.weight", "1.bias", "1.running_mean", "1.running_var");
        proto.Graph.Nodes[^1].Attributes.Should().ContainSingle(a => a.Name == "axis" && a.I == -1);
        proto.Graph.Nodes[^1].Outputs.Should().Equal("output");
    }

    [Fact]
    public void Saving_replaces_the_file_atomically_and_leaves_no_temporary_file()
    {
        var (model, _) = TestModels.Build<float>("relu", "none");
        string path = TestModels.TempFile("atomic/model.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path.Replace("model.onnx", "keep.txt", StringComparison.Ordinal), "x");
        model.SaveOnnx(path);
        model.SaveOnnx(path);
        Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName).Should().BeEquivalentTo("model.onnx", "keep.txt");
        OnnxModel.Load<float>(path).Predict(new Tensor<float>(2, TestModels.Features)).Shape.Should().Equal(2, 3);
    }

    [Fact]
    public void A_custom_layer_is_a_clear_error()
    {
        var model = Model.Sequential<float>(3).Dense(2).Add((n, _) => new ActivationLayer<float>(n, Activation.ReLU) { Name = "custom" }, 2).Build();
        ((Action)(() => OnnxExporter.ToBytes(model))).Should().NotThrow("an ActivationLayer added through Add is still a known layer");
        var bad = Model.Sequential<float>(3).Dense(2).Add((n, r) => new OpaqueLayer(n), 2).Build();
        var act = () => OnnxExporter.ToBytes(bad);
        act.Should().Throw<NotSupportedException>().WithMessage("*'Opaque'*Dense, activation, BatchNorm and Dropout*");
    }

    internal static void CompareWithOnnxRuntime<T>(string architecture, string transform, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (model, x) = TestModels.Build<T>(architecture, transform);
        string path = TestModels.TempFile($"{architecture}-{transform}-{typeof(T).Name}.onnx");
        model.SaveOnnx(path);
        var ours = model.Predict(x);
        var theirs = RunOnnxRuntime(path, x);
        theirs.Length.Should().Be(ours.Length);
        double worst = 0;
        for (int i = 0; i < ours.Length; i++)
        {
            double a = double.CreateTruncating(ours.ReadOnlySpan[i]);
            double b = double.CreateTruncating(theirs[i]);
            worst = Math.Max(worst, Math.Abs(a - b) / Math.Max(1, Math.Abs(b)));
        }

        worst.Should().BeLessThanOrEqualTo(tolerance, $"{architecture} with {transform} input transform in {typeof(T).Name}");
    }

    internal static T[] RunOnnxRuntime<T>(string path, Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1 };
        using var session = new InferenceSession(path, options);
        var input = new DenseTensor<T>(x.ReadOnlySpan.ToArray(), [x.RowCount, x.RowLength]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(session.InputMetadata.Keys.Single(), input)]);
        return results.Single().AsTensor<T>().ToArray();
    }

    private static void RoundTrip<T>(string architecture, string transform)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (model, x) = TestModels.Build<T>(architecture, transform);
        string path = TestModels.TempFile($"roundtrip-{architecture}-{transform}-{typeof(T).Name}.onnx");
        model.SaveOnnx(path);
        var loaded = OnnxModel.Load<T>(path);
        loaded.Predict(x).ReadOnlySpan.SequenceEqual(model.Predict(x).ReadOnlySpan).Should().BeTrue($"{architecture} with {transform} in {typeof(T).Name} must predict bit-identically after import");
        loaded.Loss.Should().Be(model.Loss);
        loaded.InputTransform?.Kind.Should().Be(model.InputTransform?.Kind);
        loaded.ParameterCount.Should().Be(model.ParameterCount);
        OnnxExporter.ToBytes(loaded).Length.Should().BeGreaterThan(0);
    }

    private sealed class OpaqueLayer(int size) : ILayer<float>
    {
        public string Kind => "Opaque";

        public string Name { get; set; } = string.Empty;

        public int InputSize => size;

        public int OutputSize => size;

        public IReadOnlyList<Parameter<float>> Parameters => [];

        public IReadOnlyDictionary<string, Tensor<float>> Buffers => new Dictionary<string, Tensor<float>>();

        public LayerConfig Config => new(Kind, size, new Dictionary<string, string>());

        public Tensor<float> Forward(Tensor<float> input, bool training) => input;

        public Tensor<float> Backward(Tensor<float> outputGradient) => outputGradient;

        public void Infer(Tensor<float> input, Tensor<float> output) => input.CopyTo(output);
    }
}
