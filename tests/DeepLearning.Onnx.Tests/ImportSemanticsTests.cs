using DeepLearning.Onnx.Proto;
using Graph = DeepLearning.Onnx.Tests.ImportTests.Graph;

namespace DeepLearning.Onnx.Tests;

/// <summary>
/// Graphs that loaded as something other than what they compute (or were refused though valid): a min-max input
/// transform whose range float cannot hold, BatchNormalization in training form before opset 14, a bias after a
/// Constant node, architecture hints matched to the wrong layer or not valid in T, and a Constant whose attribute type
/// does not match its name.
/// </summary>
public class ImportSemanticsTests
{
    private static readonly float[] _w = [0.5f, -1, 0.25f, 2, 1, 0, -0.5f, 0.75f, -2, 0.125f, 1.5f, -0.25f];

    [Fact]
    public void A_foreign_Mul_Add_whose_min_max_range_T_cannot_hold_is_refused_naming_the_feature_and_values()
    {
        // x·0.001 − 1700000: min = 1.7e9, max = min + 1000; float spaces values near 1.7e9 by 128, so the rebuilt
        // scaler's range (and scale) was off by up to 12.8% (2.3% here) and Load<float> predicted something else.
        var g = new Graph("x", [null, 4]);
        g.Initializer("s", [1e-3f, 1e-3f, 1e-3f, 1e-3f], 4);
        g.Initializer("o", [-1.7e6f, -1.7e6f, -1.7e6f, -1.7e6f], 4);
        g.Node("Mul", ["x", "s"], "scaled");
        g.Node("Add", ["scaled", "o"], "shifted");
        g.Initializer("w", _w, 3, 4);
        g.Node("Gemm", ["shifted", "w"], "y", ("transB", 1L));
        var bytes = g.Encode("y", 3);
        FluentActions.Invoking(() => OnnxModel.Load<float>(bytes)).Should().Throw<NotSupportedException>()
            .WithMessage("ONNX data: node 'n1' (op type 'Mul'): the input transform Mul then Add (node 'n2') has no min-max scaler equivalent in Single: feature 0: the graph computes x·0.0010000000474974513 + -1700000, but the nearest min-max scaler in Single (min 1699999872, max 1700000896) computes x·0.0009765625 + -1660156.125*");

        // In double the rebuilt range is exact to double's rounding, far below float's: it loads, and predicts like the graph.
        var model = OnnxModel.Load<double>(bytes);
        var x = Tensor.FromArray(new double[] { 1.7e9, 1.7e9 + 500, 1.7e9 + 1000, 0 }).Reshape(1, 4);
        var transformed = model.InputTransform!.Apply(x);
        for (int j = 0; j < 4; j++)
        {
            double expected = (x[0, j] * (double)1e-3f) + (double)-1.7e6f;
            transformed[0, j].Should().BeApproximately(expected, 1e-9 * Math.Max(1, Math.Abs(expected)));
        }
    }

    [Fact]
    public void A_lone_Add_whose_offset_float_cannot_shift_by_one_is_refused_and_loads_in_double()
    {
        // Add(x, 16777218): min = −16777218, max = −16777217 rounds to −16777216 in float, so the scaler halved every
        // feature.
        var g = new Graph("x", [null, 4]);
        g.Initializer("o", [16777218f], 1);
        g.Node("Add", ["x", "o"], "shifted");
        g.Initializer("w", _w, 3, 4);
        g.Node("Gemm", ["shifted", "w"], "y", ("transB", 1L));
        var bytes = g.Encode("y", 3);
        FluentActions.Invoking(() => OnnxModel.Load<float>(bytes)).Should().Throw<NotSupportedException>()
            .WithMessage("*node 'n1' (op type 'Add'): the input transform Add (a min-max scaler with scale 1) has no min-max scaler equivalent in Single: feature 0: the graph computes x·1 + 16777218, but the nearest min-max scaler in Single (min -16777218, max -16777216) computes x·0.5 + 8388609*");

        var model = OnnxModel.Load<double>(bytes);
        var x = Tensor.FromArray(new double[] { 1, -2, 3.5, 0 }).Reshape(1, 4);
        model.InputTransform!.Apply(x).ReadOnlySpan.ToArray().Should().Equal(16777219, 16777216, 16777221.5, 16777218);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_foreign_Mul_Add_that_T_can_hold_still_loads_as_the_graphs_arithmetic(bool asDouble)
    {
        // Features over [1990, 2020], [−1, 1], [0, 1e-3] and [5, 6]: the rounding of min and max is far below the range.
        float[] s = [1 / 30f, 0.5f, 1000f, 1f];
        float[] o = [-1990 / 30f, 0.5f, 0f, -5f];
        var g = new Graph("x", [null, 4]);
        g.Initializer("s", s, 4);
        g.Initializer("o", o, 4);
        g.Node("Mul", ["x", "s"], "scaled");
        g.Node("Add", ["scaled", "o"], "shifted");
        g.Initializer("w", _w, 3, 4);
        g.Node("Gemm", ["shifted", "w"], "y", ("transB", 1L));
        var bytes = g.Encode("y", 3);
        float[] x = [2005, 0.25f, 5e-4f, 5.5f];
        if (asDouble)
        {
            var t = OnnxModel.Load<double>(bytes).InputTransform!.Apply(Tensor.FromArray(x.Select(v => (double)v).ToArray()).Reshape(1, 4));
            for (int j = 0; j < 4; j++)
            {
                t[0, j].Should().BeApproximately(((double)x[j] * s[j]) + o[j], 1e-12);
            }
        }
        else
        {
            var t = OnnxModel.Load<float>(bytes).InputTransform!.Apply(Tensor.FromArray(x).Reshape(1, 4));
            for (int j = 0; j < 4; j++)
            {
                // Within a few times float's own rounding of x·s + o (about 1e-5 for the years).
                ((double)t[0, j]).Should().BeApproximately(((double)x[j] * s[j]) + o[j], 2e-5);
            }
        }
    }

    [Theory]
    [InlineData(9, 5, null)]
    [InlineData(11, 5, null)]
    [InlineData(13, 5, null)]
    [InlineData(15, 3, 0L)]
    public void BatchNormalization_with_its_training_outputs_is_refused_as_training_mode(int opset, int outputs, long? trainingMode)
    {
        // Before opset 14 training mode has no attribute: it is Y plus the running and saved statistics as outputs, and
        // normalizes with the batch's statistics. It was imported as inference (0.48 off ONNX Runtime on PyTorch's file).
        var g = new Graph("x", [null, 4]);
        g.Initializer("w", _w, 3, 4);
        g.Node("Gemm", ["x", "w"], "h", ("transB", 1L));
        foreach (var (name, value) in new[] { ("gamma", 1f), ("beta", 0f), ("mean", 0.5f), ("var", 2f) })
        {
            g.Initializer(name, [value, value, value], 3);
        }

        (string Name, object Value)[] attributes = trainingMode is long mode ? [("training_mode", mode)] : [];
        g.Node("BatchNormalization", ["h", "gamma", "beta", "mean", "var"], "y", attributes);
        for (int i = 1; i < outputs; i++)
        {
            g.Graph_.Nodes[^1].Outputs.Add($"stat{i}");
        }

        FluentActions.Invoking(() => OnnxModel.Load<float>(g.Encode("y", 3, opset))).Should().Throw<NotSupportedException>()
            .WithMessage($"*node 'n2' (op type 'BatchNormalization'): it has {outputs} outputs ('y', 'stat1', *); more than Y is the training form*");

        // The same node with Y alone (the other outputs left empty, as the spec allows) is the inference form.
        g.Graph_.Nodes[^1].Outputs.RemoveRange(1, outputs - 1);
        g.Graph_.Nodes[^1].Outputs.AddRange(Enumerable.Repeat(string.Empty, outputs - 1));
        OnnxModel.Load<float>(g.Encode("y", 3, opset)).Layers.Should().HaveCount(2);
    }

    [PythonFact("torch", "onnx")]
    public void PyTorchs_training_mode_export_at_opsets_9_to_13_is_refused()
    {
        string dir = TestModels.TempFile("torch-bn-training");
        Directory.CreateDirectory(dir);
        const string script = """
            import sys, torch
            torch.manual_seed(0)
            net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
            x = torch.randn(5, 4)
            for opset in (9, 11, 13):
                torch.onnx.export(net, x, f"{sys.argv[1]}/bn{opset}.onnx", opset_version=opset, training=torch.onnx.TrainingMode.TRAINING,
                                  do_constant_folding=False, input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "b"}, "y": {0: "b"}})
            print("ok")
            """;
        int code = Python.Run(["-c", script, dir], out string output);
        code.Should().Be(0, output);
        foreach (int opset in new[] { 9, 11, 13 })
        {
            FluentActions.Invoking(() => OnnxModel.Load<float>(Path.Combine(dir, $"bn{opset}.onnx"))).Should().Throw<NotSupportedException>()
                .WithMessage("*BatchNormalization*the training form*", $"opset {opset}");
        }
    }

    [Theory]
    [InlineData("Constant")]
    [InlineData("Identity")]
    public void The_bias_Add_after_a_Constant_or_Identity_node_is_the_MatMuls_bias(string between)
    {
        // MatMul, Constant (the bias), Add was refused: the Constant node counted as the node before the Add.
        var wt = new float[12];
        for (int n = 0; n < 3; n++)
        {
            for (int k = 0; k < 4; k++)
            {
                wt[(k * 3) + n] = _w[(n * 4) + k];
            }
        }

        float[] b = [0.1f, -0.2f, 0.3f];
        var g = new Graph("x", [null, 4]);
        g.Initializer("w_t", wt, 4, 3);
        g.Node("MatMul", ["x", "w_t"], "mm");
        string z = "mm";
        if (between == "Constant")
        {
            g.Constant("b", b, 3);
        }
        else
        {
            g.Initializer("b", b, 3);
            g.Node("Identity", ["mm"], "mm1");
            z = "mm1";
        }

        g.Node("Add", [z, "b"], "y");
        var model = OnnxModel.Load<float>(g.Encode("y", 3));
        var dense = model.Layers.Should().ContainSingle().Which.Should().BeOfType<Dense<float>>().Subject;
        dense.Bias!.Value.ReadOnlySpan.ToArray().Should().Equal(b);
        dense.Weight.Value.ReadOnlySpan.ToArray().Should().Equal(_w);
    }

    [Fact]
    public void A_double_models_settings_that_round_to_the_same_float_come_back_to_their_own_layers()
    {
        // The hint was the first layer whose setting rounds to the attribute, so both leaky layers got 0.1 and both
        // BatchNorms ε = 1e-3: the round trip of a double model was not bit-identical.
        var model = Model.Sequential<double>(4).Dense(5).LeakyReLU(0.1).Dense(4).LeakyReLU(0.1 + 1e-12).Dense(2).Build(3);
        var back = OnnxModel.Load<double>(OnnxExporter.ToBytes(model));
        Slopes(back).Should().Equal(0.1, 0.1 + 1e-12);
        var x = Tensor.FromArray(Enumerable.Range(0, 12).Select(i => (i * 0.37) - 2).ToArray()).Reshape(3, 4);
        back.Predict(x).ReadOnlySpan.SequenceEqual(model.Predict(x).ReadOnlySpan).Should().BeTrue();

        var bn = Model.Sequential<double>(3).Dense(4).BatchNorm(epsilon: 1e-3).ReLU().Dense(4).BatchNorm(epsilon: 1e-3 + 1e-12).Dense(2).Build(1);
        foreach (var layer in bn.Layers.OfType<BatchNorm<double>>())
        {
            layer.RunningVariance.Span.Fill(1e-3);
        }

        var bnBack = OnnxModel.Load<double>(OnnxExporter.ToBytes(bn));
        bnBack.Layers.OfType<BatchNorm<double>>().Select(l => l.Epsilon).Should().Equal(1e-3, 1e-3 + 1e-12);
        var x3 = Tensor.FromArray(Enumerable.Range(0, 9).Select(i => (i * 0.41) - 1.5).ToArray()).Reshape(3, 3);
        bnBack.Predict(x3).ReadOnlySpan.SequenceEqual(bn.Predict(x3).ReadOnlySpan).Should().BeTrue();
    }

    [Fact]
    public void An_architecture_hint_is_matched_by_position_and_dropped_when_its_count_differs()
    {
        var g = new Graph("x", [null, 2]);
        g.Initializer("w", [1f, 0f, 0f, 1f], 2, 2);
        g.Node("Gemm", ["x", "w"], "h", ("transB", 1L));
        g.Node("LeakyRelu", ["h"], "a", ("alpha", 0.1f));
        g.Initializer("w2", [1f, 0f, 0f, 1f], 2, 2);
        g.Node("Gemm", ["a", "w2"], "h2", ("transB", 1L));
        g.Node("LeakyRelu", ["h2"], "y", ("alpha", 0.1f));
        byte[] With(string architecture)
        {
            var proto = ModelProto.Decode(g.Encode("y", 2));
            proto.Metadata.Add(new("architecture", architecture));
            return proto.Encode();
        }

        const string two = """{"layers":[{"kind":"Dense","settings":{"activation":"LeakyReLU","leakySlope":"0.1000000001"}},{"kind":"Dense","settings":{"activation":"LeakyReLU","leakySlope":"0.0999999999"}}]}""";
        Slopes(OnnxModel.Load<double>(With(two))).Should().Equal(0.1000000001, 0.0999999999);

        // One leaky layer for two LeakyRelu nodes: which node it describes is unknown, so neither takes it.
        const string one = """{"layers":[{"kind":"Dense","settings":{"activation":"LeakyReLU","leakySlope":"0.1000000001"}}]}""";
        Slopes(OnnxModel.Load<double>(With(one))).Should().Equal(0.1, 0.1);
    }

    [Fact]
    public void Hints_that_T_cannot_hold_give_way_to_the_graphs_attribute()
    {
        // A double model's momentum 0.99999999999 is 1 in float, its ε 1e-300 is 0: Load<float> took the hint and the
        // BatchNorm refused it (InvalidDataException), though the graph's own attributes decide what loads.
        var momentum = Model.Sequential<double>(3).Dense(4).BatchNorm(momentum: 0.99999999999).Dense(2).Build(1);
        var bytes = OnnxExporter.ToBytes(momentum);
        OnnxModel.Load<double>(bytes).Layers.OfType<BatchNorm<double>>().Single().Momentum.Should().Be(0.99999999999);
        var asFloat = OnnxModel.Load<float>(bytes);
        asFloat.Layers.OfType<BatchNorm<float>>().Single().Momentum.Should().Be(0.9, "the graph's momentum 1 is out of range, which falls back to 0.9 (used only for training)");
        var x = Tensor.FromArray(new double[] { 1, -2, 0.5 }).Reshape(1, 3);
        var expected = momentum.Predict(x);
        var actual = asFloat.Predict(Tensor.FromArray(new float[] { 1, -2, 0.5f }).Reshape(1, 3));
        for (int j = 0; j < 2; j++)
        {
            ((double)actual[0, j]).Should().BeApproximately(expected[0, j], 1e-5);
        }

        var epsilon = OnnxExporter.ToBytes(Model.Sequential<double>(3).Dense(4).BatchNorm(epsilon: 1e-300).Dense(2).Build(1));
        OnnxModel.Load<double>(epsilon).Layers.OfType<BatchNorm<double>>().Single().Epsilon.Should().Be(1e-300);
        FluentActions.Invoking(() => OnnxModel.Load<float>(epsilon)).Should().Throw<NotSupportedException>()
            .WithMessage("*(op type 'BatchNormalization'): epsilon = 0 is not supported (must be finite and > 0)*");
    }

    [Theory]
    [InlineData("value_float", OnnxAttributeType.Floats, "*attribute 'value_float' must be a FLOAT; it has type 6*")]
    [InlineData("value_float", 0, "*attribute 'value_float' must be a FLOAT; it has type 0 and a payload of another type*")]
    [InlineData("value_floats", OnnxAttributeType.Float, "*attribute 'value_floats' must be a FLOATS; it has type 1*")]
    public void A_Constant_whose_attribute_type_does_not_match_its_name_is_refused(string name, int type, string message)
    {
        // value_float carrying a FLOATS payload became the scalar 0.
        var g = new Graph("x", [null, 4]);
        var attribute = new AttributeProto { Name = name, Type = type, F = 2 };
        if (type != OnnxAttributeType.Float)
        {
            attribute.Floats.AddRange([2f, 2f, 2f, 2f]);
        }

        g.Constant("c", attribute);
        g.Node("Mul", ["x", "c"], "scaled");
        g.Initializer("w", _w, 3, 4);
        g.Node("Gemm", ["scaled", "w"], "y", ("transB", 1L));
        FluentActions.Invoking(() => OnnxModel.Load<float>(g.Encode("y", 3))).Should().Throw<InvalidDataException>()
            .WithMessage(message);

        // The same payloads with their own types load.
        var ok = new Graph("x", [null, 4]);
        var good = new AttributeProto { Name = "value_floats", Type = OnnxAttributeType.Floats };
        good.Floats.AddRange([2f, 2f, 2f, 2f]);
        ok.Constant("c", good);
        ok.Node("Mul", ["x", "c"], "scaled");
        ok.Initializer("w", _w, 3, 4);
        ok.Node("Gemm", ["scaled", "w"], "y", ("transB", 1L));
        OnnxModel.Load<float>(ok.Encode("y", 3)).InputTransform.Should().BeOfType<MinMaxScaler<float>>();
    }

    private static double[] Slopes<T>(Model<T> model)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        model.Layers.Select(l => l switch
        {
            Dense<T> { Activation: Activation.LeakyReLU } d => d.LeakySlope,
            ActivationLayer<T> { Activation: Activation.LeakyReLU } a => a.LeakySlope,
            _ => double.NaN,
        }).Where(s => !double.IsNaN(s)).ToArray();
}
