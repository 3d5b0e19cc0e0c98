using System.Buffers.Binary;
using DeepLearning.Onnx.Proto;

namespace DeepLearning.Onnx.Tests;

/// <summary>Graphs written the way other exporters write them, built node by node, and the errors for what is not supported.</summary>
public class ImportTests
{
    // W (3, 4) and b (3), chosen by hand; expected outputs are computed below with plain loops.
    private static readonly float[] _w = [0.5f, -1, 0.25f, 2, 1, 0, -0.5f, 0.75f, -2, 0.125f, 1.5f, -0.25f];
    private static readonly float[] _b = [0.1f, -0.2f, 0.3f];

    [Fact]
    public void MatMul_plus_Add_with_Constant_and_Identity_nodes_imports_as_a_dense_layer()
    {
        // What an exporter writes for x @ W.T + b with B stored as (K, N) and constants as Constant nodes.
        var wt = new float[12];
        for (int n = 0; n < 3; n++)
        {
            for (int k = 0; k < 4; k++)
            {
                wt[(k * 3) + n] = _w[(n * 4) + k];
            }
        }

        var g = new Graph("x", [null, 4]);
        g.Constant("w_t", wt, 4, 3);
        g.Node("Identity", ["x"], "x1");
        g.Node("MatMul", ["x1", "w_t"], "mm");
        g.Initializer("b", _b, 3);
        g.Node("Add", ["mm", "b"], "z");
        g.Node("Relu", ["z"], "y");
        var model = OnnxModel.Load<double>(g.Encode("y", 3));

        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4, -1, 0.5, 0, 2 }).Reshape(2, 4);
        var y = model.Predict(x);
        for (int i = 0; i < 2; i++)
        {
            for (int n = 0; n < 3; n++)
            {
                double z = _b[n];
                for (int k = 0; k < 4; k++)
                {
                    z += _w[(n * 4) + k] * x[i, k];
                }

                y[i, n].Should().BeApproximately(Math.Max(0, z), 1e-12);
            }
        }

        model.Layers.Should().ContainSingle().Which.Should().BeOfType<Dense<double>>().Which.Activation.Should().Be(Activation.ReLU);
    }

    [Theory]
    [InlineData(false, 0)]
    [InlineData(true, 0)]
    [InlineData(false, 1)]
    public void Dropout_with_a_BOOL_training_mode_in_int32_data_or_raw_data_imports(bool raw, int trainingMode)
    {
        // onnx.helper.make_tensor stores a BOOL in int32_data, not raw_data; it used to be refused as holding no values.
        var g = new Graph("x", [null, 4]);
        g.Initializer("w", _w, 3, 4);
        g.Initializer("b", _b, 3);
        g.Node("Gemm", ["x", "w", "b"], "z", ("transB", 1L));
        g.Initializer("ratio", [0.5f]);
        var mode = new TensorProto { Name = "mode", DataType = 9 };
        if (raw)
        {
            mode.Raw = new byte[] { (byte)trainingMode };
            mode.HasRaw = true;
        }
        else
        {
            mode.Int32Data.Add(trainingMode);
        }

        g.Graph_.Initializers.Add(mode);
        g.Node("Dropout", ["z", "ratio", "mode"], "y");
        var bytes = g.Encode("y", 3, opset: 13);
        if (trainingMode != 0)
        {
            FluentActions.Invoking(() => OnnxModel.Load<double>(bytes)).Should().Throw<NotSupportedException>().WithMessage("*training*");
            return;
        }

        var model = OnnxModel.Load<double>(bytes);
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4 }).Reshape(1, 4);
        for (int n = 0; n < 3; n++)
        {
            double z = _b[n];
            for (int k = 0; k < 4; k++)
            {
                z += _w[(n * 4) + k] * x[0, k];
            }

            model.Predict(x)[0, n].Should().BeApproximately(z, 1e-12);
        }
    }

    [Fact]
    public void Gemm_without_transB_and_a_rank_4_input_with_Flatten()
    {
        var wt = new float[12];
        for (int n = 0; n < 3; n++)
        {
            for (int k = 0; k < 4; k++)
            {
                wt[(k * 3) + n] = _w[(n * 4) + k];
            }
        }

        var g = new Graph("x", [null, 1, 2, 2]);
        g.Node("Flatten", ["x"], "f", ("axis", 1L));
        g.Initializer("w", wt, 4, 3);
        g.Initializer("b", _b, 3);
        g.Node("Gemm", ["f", "w", "b"], "z", ("transB", 0L), ("alpha", 1f));
        g.Node("Softmax", ["z"], "y", ("axis", 1L));
        var model = OnnxModel.Load<float>(g.Encode("y", 3));
        model.InputSize.Should().Be(4);
        model.Loss.Should().Be(Loss.CategoricalCrossEntropy);
        var dense = model.Layers[0].Should().BeOfType<Dense<float>>().Subject;
        dense.Weight.Value.ReadOnlySpan.ToArray().Should().Equal(_w);
        dense.Bias!.Value.ReadOnlySpan.ToArray().Should().Equal(_b);
    }

    [Fact]
    public void Foreign_Sub_then_Div_becomes_a_standardizer_equal_up_to_rounding()
    {
        var g = new Graph("x", [null, 4]);
        g.Initializer("mu", [1f, 2, 3, 4], 4);
        g.Initializer("sigma", [2f, 0.5f, 1, 4], 4);
        g.Node("Sub", ["x", "mu"], "c");
        g.Node("Div", ["c", "sigma"], "s");
        g.Initializer("w", _w, 3, 4);
        g.Node("Gemm", ["s", "w"], "y", ("transB", 1L));
        var model = OnnxModel.Load<double>(g.Encode("y", 3));
        model.InputTransform.Should().BeOfType<Standardizer<double>>();
        var x = Tensor.FromArray(new double[] { 3, 1, 0, 8 }).Reshape(1, 4);
        double[] normalized = [(3 - 1) / 2.0, (1 - 2) / 0.5, (0 - 3) / 1.0, (8 - 4) / 4.0];
        var y = model.Predict(x);
        for (int n = 0; n < 3; n++)
        {
            double z = 0;
            for (int k = 0; k < 4; k++)
            {
                z += _w[(n * 4) + k] * normalized[k];
            }

            y[0, n].Should().BeApproximately(z, 1e-12);
        }
    }

    [Theory]
    [InlineData("Div", 2.0, false)]
    [InlineData("Mul", 0.5, false)]
    [InlineData("Div", 1.0, true)]
    [InlineData("Mul", 1.0, true)]
    public void Foreign_Sub_then_scale_whose_sigma_is_within_rounding_noise_of_the_mean_is_refused_not_left_unscaled(string op, double value, bool imports)
    {
        // In float, a standardizer takes σ ≤ 10·ε·|μ| (≈ 119 for μ = 1e8) for a constant column and does not scale it.
        // The graph divides by 2: importing it as a standardizer would silently halve nothing. A scale of 1 is the
        // same either way (our own export of such a column) and imports.
        var g = new Graph("x", [null, 4]);
        g.Initializer("mu", [1f, 2, 1e8f, 4], 4);
        g.Initializer("sigma", [2f, 0.5f, (float)value, 4], 4);
        g.Node("Sub", ["x", "mu"], "c");
        g.Node(op, ["c", "sigma"], "s");
        g.Initializer("w", _w, 3, 4);
        g.Node("Gemm", ["s", "w"], "y", ("transB", 1L));
        byte[] bytes = g.Encode("y", 3);
        if (imports)
        {
            OnnxModel.Load<float>(bytes).InputTransform.Should().BeOfType<Standardizer<float>>();
            return;
        }

        var act = () => OnnxModel.Load<float>(bytes);
        act.Should().Throw<NotSupportedException>().WithMessage($"*the input nodes Sub then {op} have no input-transform equivalent*within rounding noise of its mean*");

        // In double the same σ is far above the noise (10·ε·1e8 ≈ 2e-7), so the graph imports and scales the column.
        var model = OnnxModel.Load<double>(bytes);
        var standardizer = model.InputTransform.Should().BeOfType<Standardizer<double>>().Subject;
        var x = Tensor.FromArray(new double[] { 1, 2, 1e8 + 6, 4 }).Reshape(1, 4);
        standardizer.Apply(x)[0, 2].Should().BeApproximately(3, 1e-9);
    }

    [Theory]
    [InlineData("Conv", "node 'n1' (op type 'Conv'): this operator is not supported; supported operators: Gemm, MatMul*")]
    [InlineData("Gemm-transA", "node 'n1' (op type 'Gemm'): transA must be 0*")]
    [InlineData("Relu-attribute", "node 'n2' (op type 'Relu'): attribute 'beta' is not supported (this operator takes no attributes)*")]
    [InlineData("Softmax-axis0", "node 'n2' (op type 'Softmax'): axis = 0 is not supported*")]
    [InlineData("custom-domain", "node 'n2' (op type 'Relu'): domain 'com.example' is not supported*")]
    [InlineData("double-int-weight", "node 'n1' (op type 'Gemm'): the constant 'w' has data type INT64; supported: FLOAT, DOUBLE*")]
    [InlineData("opset-5", "*the model uses opset 5; supported opsets are 9 to 23")]
    [InlineData("branch", "node 'n2' (op type 'Add'): it reads 'x', 'z'*")]
    public void Unsupported_graphs_are_clear_errors_naming_the_node_and_what_is_supported(string variant, string message)
    {
        var g = new Graph("x", [null, 4]);
        g.Initializer("w", _w, 3, 4);
        string domain = string.Empty;
        long opset = 17;
        switch (variant)
        {
            case "Conv": g.Node("Conv", ["x", "w"], "y"); break;
            case "Gemm-transA": g.Node("Gemm", ["x", "w"], "y", ("transA", 1L)); break;
            case "Relu-attribute":
                g.Node("Gemm", ["x", "w"], "z", ("transB", 1L));
                g.Node("Relu", ["z"], "y", ("beta", 1f));
                break;
            case "Softmax-axis0":
                g.Node("Gemm", ["x", "w"], "z", ("transB", 1L));
                g.Node("Softmax", ["z"], "y", ("axis", 0L));
                break;
            case "custom-domain":
                g.Node("Gemm", ["x", "w"], "z", ("transB", 1L));
                g.Node("Relu", ["z"], "y");
                domain = "com.example";
                break;
            case "double-int-weight":
                g.Graph_.Initializers.Clear();
                var t = new TensorProto { Name = "w", DataType = OnnxDataType.Int64, HasRaw = true, Raw = new byte[96] };
                t.Dims.AddRange([3L, 4L]);
                g.Graph_.Initializers.Add(t);
                g.Node("Gemm", ["x", "w"], "y", ("transB", 1L));
                break;
            case "opset-5":
                g.Node("Gemm", ["x", "w"], "y", ("transB", 1L));
                opset = 5;
                break;
            default:
                g.Node("Gemm", ["x", "w"], "z", ("transB", 1L));
                g.Node("Add", ["x", "z"], "y");
                break;
        }

        if (domain.Length > 0)
        {
            g.Graph_.Nodes[^1].Domain = domain;
        }

        var act = () => OnnxModel.Load<float>(g.Encode("y", 3, opset));
        act.Should().Throw<NotSupportedException>().WithMessage("ONNX data: " + message);
    }

    [Theory]
    [InlineData("Mul", false)]
    [InlineData("Sub", true)]
    [InlineData("Div", false)]
    public void Sub_Mul_or_Div_after_a_layer_is_refused_not_taken_as_the_input_transform(string op, bool afterActivation)
    {
        // x(2) -> Gemm(I, [1, 1]) -> [Relu] -> op(c) -> Gemm([1, 1]) -> y: the op acts on the hidden layer, which a
        // Sequential model cannot express; it used to be moved in front of the first layer (Mul(2): 16 instead of 18).
        var g = new Graph("x", [null, 2]);
        g.Initializer("w1", [1f, 0f, 0f, 1f], 2, 2);
        g.Initializer("b1", [1f, 1f], 2);
        g.Node("Gemm", ["x", "w1", "b1"], "h", ("transB", 1L));
        string current = "h";
        if (afterActivation)
        {
            g.Node("Relu", ["h"], "r");
            current = "r";
        }

        g.Initializer("c", [2f, 2f], 2);
        g.Node(op, [current, "c"], "h2");
        g.Initializer("w2", [1f, 1f], 1, 2);
        g.Node("Gemm", ["h2", "w2"], "y", ("transB", 1L));
        string node = afterActivation ? "n3" : "n2";
        var act = () => OnnxModel.Load<double>(g.Encode("y", 1));
        act.Should().Throw<NotSupportedException>()
            .WithMessage($"ONNX data: node '{node}' (op type '{op}'): {op} is supported only before the first layer, as part of an input transform*; supported operators: *");
    }

    [Theory]
    [InlineData("""{"layers":[{"settings":{"activation":"LeakyReLU","leakySlope":"0.1000000001"}}]}""", 0.1000000001)]
    [InlineData("""{"layers":[{"settings":{"activation":"ReLU","leakySlope":"0.1000000001"}}]}""", 0.1)]
    [InlineData("""{"layers":[1]}""", 0.1)]
    [InlineData("""{"layers":[[1]]}""", 0.1)]
    [InlineData("""[1]""", 0.1)]
    [InlineData("""{"layers":[{"settings":{"activation":"LeakyReLU","leakySlope":"0.1000000001","leakySlope":"2"}}]}""", 0.1)]
    [InlineData("""{"layers":[{"settings":{}}],"layers":[]}""", 0.1)]
    [InlineData("""{"layers":""", 0.1)]
    public void A_malformed_architecture_hint_falls_back_to_the_shortest_decimal(string architecture, double slope)
    {
        var g = new Graph("x", [null, 2]);
        g.Initializer("w", [1f, 0f, 0f, 1f], 2, 2);
        g.Node("Gemm", ["x", "w"], "h", ("transB", 1L));
        g.Node("LeakyRelu", ["h"], "y", ("alpha", 0.1f));
        g.Graph_.Outputs.Add(new ValueInfoProto { Name = "y", ElemType = OnnxDataType.Float, Shape = [(null, "N"), (2, null)] });
        var proto = new ModelProto { IrVersion = 8, ProducerName = "test", Graph = g.Graph_ };
        proto.Opsets.Add((string.Empty, 17));
        proto.Metadata.Add(new("architecture", architecture));
        var model = OnnxModel.Load<float>(proto.Encode());
        model.Layers.Should().ContainSingle().Which.Should().BeOfType<Dense<float>>().Which.LeakySlope.Should().Be(slope);
    }

    [Fact]
    public void Class_names_in_the_metadata_come_back_as_the_models_and_a_hint_that_does_not_fit_is_ignored()
    {
        // The exporter writes the model's class names; the importer ignored them, so an export and import lost them (and
        // with them Evaluate's refusal of a test set whose class indices name other classes), where Model.Load keeps them.
        var (softmax, x) = TestModels.Build<float>("batchnorm", "standardize");
        softmax.ClassNames = ["a", "b", "c"];
        OnnxModel.Load<float>(OnnxExporter.ToBytes(softmax)).ClassNames.Should().Equal("a", "b", "c");

        var binary = Model.Sequential<double>(2).Dense(1).Sigmoid().Build(seed: 1);
        binary.ClassNames = ["no", "yes"];
        OnnxModel.Load<double>(OnnxExporter.ToBytes(binary)).ClassNames.Should().Equal("no", "yes");
        OnnxModel.Load<double>(OnnxExporter.ToBytes(Model.Sequential<double>(2).Dense(1).Sigmoid().Build(seed: 1))).ClassNames.Should().BeNull();

        foreach (string hint in new[] { """["a","b"]""", """["a","b","c","d"]""", """["a",null,"c"]""", """["a",1,"c"]""", """{"a":1}""", """["a",["b"],"c"]""", """["a",""" })
        {
            var proto = ModelProto.Decode(OnnxExporter.ToBytes(softmax));
            proto.Metadata.RemoveAll(kv => kv.Key == "class_names");
            proto.Metadata.Add(new("class_names", hint));
            var model = OnnxModel.Load<float>(proto.Encode());
            model.ClassNames.Should().BeNull(hint);
            model.Predict(x).ReadOnlySpan.SequenceEqual(softmax.Predict(x).ReadOnlySpan).Should().BeTrue("the model itself loads as before");
        }
    }

    [Theory]
    [InlineData("raw-too-short", "*the constant 'w' declares 12 elements of 4 bytes but raw_data holds 8 bytes")]
    [InlineData("huge-dims", "*the constant 'w' has 4611686014132420609 elements, more than the file can hold")]
    [InlineData("wrong-width", "*the weight 'w' expects 4 inputs but the previous value has 5 columns")]
    [InlineData("nan-weight", "*'0.weight' holds NaN; weights must be finite")]
    [InlineData("dangling-output", "*the graph output 'nothing' is not the end of the chain*")]
    public void Inconsistent_files_are_InvalidDataException(string variant, string message)
    {
        var g = new Graph("x", [null, variant == "wrong-width" ? 5 : 4]);
        var w = (float[])_w.Clone();
        if (variant == "nan-weight")
        {
            w[5] = float.NaN;
        }

        g.Initializer("0.weight", w, 3, 4);
        var t = g.Graph_.Initializers[^1];
        t.Name = "w";
        if (variant == "raw-too-short")
        {
            t.Raw = t.Raw[..8];
        }
        else if (variant == "huge-dims")
        {
            t.Dims.Clear();
            t.Dims.AddRange([int.MaxValue, int.MaxValue]);
        }
        else if (variant == "nan-weight")
        {
            t.Name = "0.weight";
        }

        g.Node("Gemm", ["x", t.Name], "y", ("transB", 1L));
        var act = () => OnnxModel.Load<float>(g.Encode(variant == "dangling-output" ? "nothing" : "y", 3));
        act.Should().Throw<InvalidDataException>().WithMessage(message);
    }

    [Fact]
    public void A_missing_file_is_FileNotFoundException() =>
        ((Action)(() => OnnxModel.Load<float>(TestModels.TempFile("does-not-exist.onnx")))).Should().Throw<FileNotFoundException>();

    /// <summary>A graph assembled node by node (test helper over the package's internal protobuf classes).</summary>
    internal sealed class Graph
    {
        private int _nodes;

        public Graph(string input, long?[] shape)
        {
            Graph_.Name = "test";
            Graph_.Inputs.Add(new ValueInfoProto { Name = input, ElemType = OnnxDataType.Float, Shape = shape.Select(d => (d, d is null ? "N" : null)).ToList() });
        }

        public GraphProto Graph_ { get; } = new();

        public void Initializer(string name, float[] values, params long[] dims) => Graph_.Initializers.Add(Tensor(name, values, dims));

        public void Constant(string output, float[] values, params long[] dims)
        {
            var node = new NodeProto { Name = $"n{++_nodes}", OpType = "Constant" };
            node.Outputs.Add(output);
            node.Attributes.Add(new AttributeProto { Name = "value", Type = OnnxAttributeType.Tensor, T = Tensor(string.Empty, values, dims) });
            Graph_.Nodes.Add(node);
        }

        /// <summary>A Constant node with one attribute as given (name, type and payload need not agree).</summary>
        public void Constant(string output, AttributeProto attribute)
        {
            var node = new NodeProto { Name = $"n{++_nodes}", OpType = "Constant" };
            node.Outputs.Add(output);
            node.Attributes.Add(attribute);
            Graph_.Nodes.Add(node);
        }

        public void Node(string op, string[] inputs, string output, params (string Name, object Value)[] attributes)
        {
            var node = new NodeProto { Name = $"n{++_nodes}", OpType = op };
            node.Inputs.AddRange(inputs);
            node.Outputs.Add(output);
            foreach (var (name, value) in attributes)
            {
                node.Attributes.Add(value is float f ? AttributeProto.Float(name, f) : AttributeProto.Int(name, (long)value));
            }

            Graph_.Nodes.Add(node);
        }

        public byte[] Encode(string output, long width, long opset = 17)
        {
            Graph_.Outputs.Clear();
            Graph_.Outputs.Add(new ValueInfoProto { Name = output, ElemType = OnnxDataType.Float, Shape = [(null, "N"), (width, null)] });
            var model = new ModelProto { IrVersion = 8, ProducerName = "test", Graph = Graph_ };
            model.Opsets.Add((string.Empty, opset));
            return EncodeWithConstants(model);
        }

        private static TensorProto Tensor(string name, float[] values, long[] dims)
        {
            var bytes = new byte[values.Length * 4];
            for (int i = 0; i < values.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
            }

            var t = new TensorProto { Name = name, DataType = OnnxDataType.Float, Raw = bytes, HasRaw = true };
            t.Dims.AddRange(dims);
            return t;
        }

        // The package's writer only emits FLOAT and INT attributes; a Constant's TENSOR attribute is encoded here.
        private static byte[] EncodeWithConstants(ModelProto model)
        {
            var constants = model.Graph!.Nodes.Where(n => n.OpType == "Constant").ToList();
            var saved = constants.Select(n => n.Attributes.ToList()).ToList();
            foreach (var n in constants)
            {
                n.Attributes.Clear();
            }

            byte[] bytes = model.Encode();
            if (constants.Count == 0)
            {
                return bytes;
            }

            // Re-decode, then splice the tensor attribute bytes into each Constant node by re-encoding by hand.
            var w = new ProtoWriter();
            w.Int64(1, model.IrVersion);
            w.Message(7, gw =>
            {
                foreach (var node in model.Graph.Nodes)
                {
                    int index = constants.IndexOf(node);
                    gw.Message(1, nw =>
                    {
                        node.Write(nw);
                        if (index >= 0)
                        {
                            var a = saved[index][0];
                            nw.Message(5, aw =>
                            {
                                aw.String(1, a.Name);
                                if (a.T is not null)
                                {
                                    aw.Message(5, a.T.Write);
                                }

                                foreach (float f in a.Floats)
                                {
                                    aw.Float(7, f);
                                }

                                if (a.Type == OnnxAttributeType.Float)
                                {
                                    aw.Float(2, a.F);
                                }

                                aw.Int64(20, a.Type);
                            });
                        }
                    });
                }

                gw.String(2, model.Graph.Name);
                foreach (var t in model.Graph.Initializers)
                {
                    gw.Message(5, t.Write);
                }

                foreach (var v in model.Graph.Inputs)
                {
                    gw.Message(11, v.Write);
                }

                foreach (var v in model.Graph.Outputs)
                {
                    gw.Message(12, v.Write);
                }
            });
            foreach (var (domain, version) in model.Opsets)
            {
                w.Message(8, o =>
                {
                    o.String(1, domain);
                    o.Int64(2, version);
                });
            }

            return w.ToArray();
        }
    }
}
