using System.Text.Json.Nodes;

namespace DeepLearning.Tests.Models;

/// <summary>state_dict names as nn.Sequential gives them, and Model.LoadWeights (issue 12, PyTorch interop).</summary>
public sealed class LoadWeightsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-loadweights-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly Tensor<float> _x = TestData.Problem<float>(7, 6, 3, "softmax", seed: 9).X;

    private static Model<float> Net(int seed) =>
        Model.Sequential<float>(6).Dense(8, useBias: true).BatchNorm().ReLU().Dropout(0.8).Dense(5, Activation.Tanh).Dense(3).Softmax().Build(seed);

    [Fact]
    public void A_Dense_with_an_activation_takes_two_indices_as_Linear_and_ReLU_do_in_nn_Sequential()
    {
        var fused = Model.Sequential<float>(4).Dense(64, Activation.ReLU).Dense(10).Build();
        var separate = Model.Sequential<float>(4).Dense(64).ReLU().Dense(10).Build();
        fused.Parameters.Select(p => p.Name).Should().Equal("0.weight", "0.bias", "2.weight", "2.bias");
        separate.Parameters.Select(p => p.Name).Should().Equal("0.weight", "0.bias", "2.weight", "2.bias");

        // nn.Sequential(Linear, BatchNorm1d, ReLU, Dropout, Linear, Tanh, Linear, Softmax)
        Net(1).Parameters.Select(p => p.Name).Should().Equal("0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias", "6.weight", "6.bias");
        Net(1).Layers[1].Buffers.Keys.Should().BeEquivalentTo("running_mean", "running_var");

        // nn.Sequential(Linear, Sigmoid) for a sigmoid output given as the Dense's activation.
        var binary = Model.Sequential<float>(4).Dense(3, Activation.LeakyReLU).Dense(1, Activation.Sigmoid).Build();
        binary.Layers.Select(l => l.Name).Should().Equal("0", "2", "3");
        binary.Loss.Should().BeSameAs(Loss.BinaryCrossEntropy);
    }

    [Fact]
    public void Weights_saved_by_one_model_load_into_another_built_in_code_and_predict_the_same()
    {
        var source = Net(1);
        var (x, y) = TestData.Problem<float>(32, 6, 3, "softmax", seed: 2);
        source.ComputeGradients(x, y); // moves the running statistics away from their initial values
        source.InputTransform = Standardizer.Fit(DataSet.FromTargets(x, y));
        string path = Path.Combine(_dir, "w.safetensors");
        source.Save(path);

        var target = Net(99);
        var report = target.LoadWeights(path);
        report.IsExactMatch.Should().BeTrue(report.ToString());
        report.Loaded.Should().HaveCount(10);
        report.Ignored.Should().OnlyContain(k => k.StartsWith("input_transform.", StringComparison.Ordinal), "the library's own extras are not part of the state_dict");
        target.Predict(_x).Should().Be(WithoutTransform(source).Predict(_x));
    }

    private static Model<float> WithoutTransform(Model<float> m)
    {
        m.InputTransform = null;
        return m;
    }

    [Fact]
    public void Strict_loading_names_missing_unexpected_and_misshapen_keys_and_loads_nothing()
    {
        string path = Path.Combine(_dir, "other.safetensors");
        Model.Sequential<float>(6).Dense(8).ReLU().Dense(4).Dense(2).Build(seed: 3).Save(path);
        var model = Model.Sequential<float>(6).Dense(8).ReLU().Dense(3).Build(seed: 4);
        var before = model.Predict(_x);

        var act = () => model.LoadWeights(path);
        act.Should().Throw<InvalidDataException>()
            .WithMessage("*nothing was loaded*unexpected keys: 3.bias, 3.weight*shape mismatches: 2.weight is (4, 8) in the file but (3, 8) in the model, 2.bias is (4) in the file but (3) in the model*");
        model.Predict(_x).Should().Be(before, "a failed strict load changes nothing");

        var report = model.LoadWeights(path, strict: false);
        report.Loaded.Should().Equal("0.weight", "0.bias");
        report.Unexpected.Should().Equal("3.bias", "3.weight");
        report.ShapeMismatches.Select(m => m.Name).Should().Equal("2.weight", "2.bias");
        report.Missing.Should().BeEmpty();
        report.IsExactMatch.Should().BeFalse();
        model.Predict(_x).Should().NotBe(before, "the matching first layer was loaded");

        var wider = Model.Sequential<float>(6).Dense(8).ReLU().Dense(4).Dense(2).Dense(2).Build();
        wider.LoadWeights(path, strict: false).Missing.Should().Equal("4.weight", "4.bias");
    }

    [Fact]
    public void A_state_dict_with_int64_num_batches_tracked_and_no_metadata_loads_into_a_double_model()
    {
        var source = Model.Sequential<float>(6).Dense(8, useBias: true).BatchNorm().ReLU().Dense(3).Build(seed: 5);
        var (x, y) = TestData.Problem<float>(16, 6, 3, "regression", seed: 6);
        source.ComputeGradients(x, y);
        string ours = Path.Combine(_dir, "ours.safetensors");
        source.Save(ours);

        // Rewrite as a bare state_dict: no __metadata__, plus BatchNorm1d's int64 num_batches_tracked.
        var (header, data) = ModelFileTests.Split(File.ReadAllBytes(ours));
        header.Remove("__metadata__");
        long end = data.Length;
        header["1.num_batches_tracked"] = new JsonObject { ["dtype"] = "I64", ["shape"] = new JsonArray(), ["data_offsets"] = new JsonArray(end, end + 8) };
        string path = Path.Combine(_dir, "state_dict.safetensors");
        File.WriteAllBytes(path, ModelFileTests.Join(header.ToJsonString(), [.. data, 1, 0, 0, 0, 0, 0, 0, 0]));

        var load = () => Model.Load<float>(path);
        load.Should().Throw<InvalidDataException>().WithMessage("*LoadWeights*", "a bare state_dict has no architecture to build from");
        var target = Model.Sequential<double>(6).Dense(8, useBias: true).BatchNorm().ReLU().Dense(3).Build(seed: 7);
        var report = target.LoadWeights(path);
        report.Ignored.Should().Equal("1.num_batches_tracked");
        var xd = _x.ConvertTo<double>();
        target.Predict(xd).ReadOnlySpan.ToArray().Zip(source.Predict(_x).ReadOnlySpan.ToArray())
            .Should().OnlyContain(p => Math.Abs(p.First - p.Second) < 1e-5, "F32 weights converted to F64 predict the same");
    }

    [Fact]
    public void A_scalar_where_the_model_needs_shape_1_is_a_shape_mismatch_as_in_PyTorch()
    {
        // A Dense(1) bias of shape (1) written as a rank-0 tensor: read as shape (1), it used to load without a word.
        var model = Model.Sequential<float>(6).Dense(1).Build(seed: 3);
        string ours = Path.Combine(_dir, "one.safetensors");
        model.Save(ours);
        var (header, data) = ModelFileTests.Split(File.ReadAllBytes(ours));
        header["0.bias"]!["shape"] = new JsonArray();
        string path = Path.Combine(_dir, "scalar.safetensors");
        File.WriteAllBytes(path, ModelFileTests.Join(header.ToJsonString(), data));

        var target = Model.Sequential<float>(6).Dense(1).Build(seed: 4);
        var bias = target.Parameters.Single(p => p.Name == "0.bias").Value[0];
        target.Invoking(t => t.LoadWeights(path)).Should().Throw<InvalidDataException>().WithMessage("*0.bias*()*(1)*");
        var report = target.LoadWeights(path, strict: false);
        report.ShapeMismatches.Should().ContainSingle().Which.Name.Should().Be("0.bias");
        report.ShapeMismatches[0].FileShape.Should().BeEmpty();
        target.Parameters.Single(p => p.Name == "0.bias").Value[0].Should().Be(bias, "a mismatched tensor is left as it was");
        FluentActions.Invoking(() => Model.Load<float>(path)).Should().Throw<InvalidDataException>().WithMessage("*tensor '0.bias' has shape () but the architecture needs (1)*");
    }

    [Fact]
    public void Files_saved_with_the_earlier_layer_names_still_load_with_Model_Load()
    {
        // Before state_dict names followed nn.Sequential, .Dense(5, Activation.Tanh).Dense(3) named the second Dense "1"
        // (builder position). The architecture in the file records each layer's name, so such files still load.
        var model = Model.Sequential<float>(6).Dense(5, Activation.Tanh).Dense(3).Softmax().Build(seed: 8);
        string[] oldNames = ["0", "1", "2"];
        for (int i = 0; i < model.Layers.Count; i++)
        {
            model.Layers[i].Name = oldNames[i];
        }

        string path = Path.Combine(_dir, "old.safetensors");
        model.Save(path);
        ModelFile.Read<float>(path).Tensors.Keys.Should().Contain("1.weight");
        var loaded = Model.Load<float>(path);
        loaded.Predict(_x).Should().Be(model.Predict(_x));
    }
}
