using System.Numerics;
using System.Text.Json.Nodes;
using DeepLearning.Onnx.Proto;

namespace DeepLearning.Onnx.Tests;

/// <summary>
/// A regression model's target transform (y = ŷ·σ + μ, written as Mul then Add at the end of the graph) survives
/// export → import as the model's <see cref="Model{T}.TargetTransform"/>, not as extra layers, and the trailing nodes
/// of hand-made files are checked like every other constant.
/// </summary>
public class TargetTransformTests
{
    public static TheoryData<string, double, string> RoundTripCases()
    {
        var data = new TheoryData<string, double, string>();
        foreach (var transform in TestModels.Transforms)
        {
            data.Add(transform, 0, "MeanSquaredError");
        }

        data.Add("standardize", 0.25, "Huber(0.5)");
        data.Add("minmax", 0, "MeanAbsoluteError");
        return data;
    }

    [Theory]
    [MemberData(nameof(RoundTripCases))]
    public void Export_then_import_restores_the_target_transform_and_predicts_bit_identically(string inputTransform, double targetEpsilon, string loss)
    {
        RoundTrip<float>(inputTransform, targetEpsilon, Loss.Parse(loss));
        RoundTrip<double>(inputTransform, targetEpsilon, Loss.Parse(loss));
    }

    [Theory]
    [InlineData("CategoricalCrossEntropy")]
    [InlineData("Huber(-1)")]
    [InlineData("no such loss")]
    public void A_loss_hint_that_is_not_a_regression_loss_falls_back_to_mean_squared_error(string hint)
    {
        var (model, _) = TestModels.Regression<float>("none", loss: Loss.MeanAbsoluteError);
        var proto = ModelProto.Decode(OnnxExporter.ToBytes(model));
        int index = proto.Metadata.FindIndex(kv => kv.Key == "loss");
        proto.Metadata[index] = new("loss", hint);
        OnnxModel.Load<float>(proto.Encode()).Loss.Should().Be(Loss.MeanSquaredError);
    }

    [Fact]
    public void The_metadata_holds_the_target_transforms_tensors()
    {
        var (model, _) = TestModels.Regression<float>("none", targetEpsilon: 0.25);
        string path = TestModels.TempFile("target-metadata.onnx");
        model.SaveOnnx(path);
        var json = JsonNode.Parse(OnnxModel.ReadMetadata(path)["target_transform"])!;
        json["kind"]!.GetValue<string>().Should().Be("standardize");
        json["tensors"]!["mean"]!.AsArray().Select(v => (float)v!.GetValue<double>()).Should().Equal(model.TargetTransform!.Mean.ReadOnlySpan.ToArray());
        json["tensors"]!["variance"]!.AsArray().Select(v => (float)v!.GetValue<double>()).Should().Equal(model.TargetTransform.Variance.ReadOnlySpan.ToArray());
        json["tensors"]!["epsilon"]!.AsArray().Select(v => v!.GetValue<double>()).Should().Equal(0.25);
    }

    // Files written before the metadata held the tensors ("standardize" only), and files whose metadata disagrees
    // with the graph (the graph is what other runtimes execute, so it wins): the transform is rebuilt from the Mul and
    // Add constants with σ² = σ², ε = 0. In double that gives σ back exactly (√(σ²) rounded is σ), so predictions are
    // bit-identical; in float the graph holds σ rounded to float, so the restored σ can differ from the model's double
    // σ by half a float ulp, and a prediction by about 2⁻²³ of |ŷ·σ| + |μ| (float rounding).
    [Theory]
    [InlineData("standardize")]
    [InlineData("""{"kind":"standardize","tensors":{"mean":[1,2,3],"variance":[1,1,1],"epsilon":[0]}}""")]
    [InlineData("""{"kind":"minmax","tensors":{}}""")]
    [InlineData("""{"kind":""")]
    [InlineData(null)]
    public void A_file_without_usable_target_metadata_is_rebuilt_from_the_graph(string? metadata)
    {
        Legacy<double>(metadata, ulps: 0);
        Legacy<float>(metadata, ulps: 2);
    }

    [Fact]
    public void The_exported_graph_ends_in_Mul_then_Add_and_import_adds_no_layers()
    {
        var (model, _) = TestModels.Regression<float>("minmax");
        var proto = ModelProto.Decode(OnnxExporter.ToBytes(model));
        proto.Graph!.Nodes.Select(n => n.OpType).Should().Equal("Mul", "Add", "Gemm", "Tanh", "Gemm", "Mul", "Add");
        var loaded = OnnxModel.Load<float>(OnnxExporter.ToBytes(model));
        loaded.Layers.Select(l => l.Kind).Should().Equal(model.Layers.Select(l => l.Kind));
        loaded.TargetTransform.Should().NotBeNull();
        loaded.IsClassifier.Should().BeFalse();
    }

    [Fact]
    public void A_hand_made_Mul_then_Add_after_the_last_layer_imports_as_a_target_transform()
    {
        var g = Regression(out var w, out var b);
        g.Initializer("s", [2f, 0.5f, 1f], 3);
        g.Node("Mul", ["z", "s"], "scaled");
        g.Constant("m", [10f], 1, 1);
        g.Node("Add", ["m", "scaled"], "y");
        var model = OnnxModel.Load<double>(g.Encode("y", 3));
        model.Layers.Should().ContainSingle();
        model.TargetTransform!.Mean.ReadOnlySpan.ToArray().Should().Equal(10, 10, 10);
        model.TargetTransform.Variance.ReadOnlySpan.ToArray().Should().Equal(4, 0.25, 1);

        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4, -1, 0.5, 0, 2 }).Reshape(2, 4);
        var y = model.Predict(x);
        double[] scale = [2, 0.5, 1];
        for (int i = 0; i < 2; i++)
        {
            for (int n = 0; n < 3; n++)
            {
                double z = b[n];
                for (int k = 0; k < 4; k++)
                {
                    z += w[(n * 4) + k] * x[i, k];
                }

                y[i, n].Should().BeApproximately((z * scale[n]) + 10, 1e-12);
            }
        }
    }

    [Theory]
    [InlineData("scale-nan", typeof(InvalidDataException), "node 'n2' (op type 'Mul'): the target transform's scale σ 's' holds NaN at index 1 as Single; it must be finite")]
    [InlineData("scale-infinite", typeof(InvalidDataException), "node 'n2' (op type 'Mul'): the target transform's scale σ 's' holds -Infinity at index 2 as Single; it must be finite")]
    [InlineData("offset-infinite", typeof(InvalidDataException), "node 'n3' (op type 'Add'): the target transform's offset μ 'm' holds Infinity at index 0 as Single; it must be finite")]
    [InlineData("scale-negative", typeof(NotSupportedException), "node 'n2' (op type 'Mul'): the target transform's scale σ 's' holds -2 at index 0 as Single; a standard deviation must be > 0*")]
    [InlineData("scale-zero", typeof(NotSupportedException), "node 'n2' (op type 'Mul'): the target transform's scale σ 's' holds 0 at index 0 as Single; a standard deviation must be > 0*")]
    [InlineData("scale-too-long", typeof(InvalidDataException), "node 'n2' (op type 'Mul'): the target transform's scale σ 's' has shape (4) but the last layer has 3 outputs")]
    [InlineData("offset-rank-3", typeof(NotSupportedException), "node 'n3' (op type 'Add'): the target transform's offset μ 'm' must have shape (3), (1, 3) or be a scalar; received (1, 1, 3)*")]
    [InlineData("offset-two-rows", typeof(NotSupportedException), "node 'n3' (op type 'Add'): the target transform's offset μ 'm' must have shape (3), (1, 3) or be a scalar; received (2, 3)*")]
    [InlineData("scale-truncated", typeof(InvalidDataException), "node 'n2' (op type 'Mul'): the constant 's' declares 3 elements of 4 bytes but raw_data holds 8 bytes")]
    [InlineData("add-reads-the-layer", typeof(NotSupportedException), "node 'n3' (op type 'Add'): it reads 'z' but a sequential chain must read exactly the previous value 'scaled'*")]
    [InlineData("mul-reads-the-input", typeof(NotSupportedException), "node 'n2' (op type 'Mul'): it reads 'x' but a sequential chain must read exactly the previous value 'z'*")]
    [InlineData("mul-without-add", typeof(NotSupportedException), "node 'n2' (op type 'Mul'): Mul is supported only before the first layer, as part of an input transform, or as the second-last node of the graph followed by Add*")]
    [InlineData("add-then-mul", typeof(NotSupportedException), "node 'n2' (op type 'Add'): Add is supported only as the bias right after a MatMul or a Gemm without C*")]
    [InlineData("after-softmax", typeof(NotSupportedException), "node 'n3' (op type 'Mul'): a Mul then Add after the last layer is supported only as a regression's target transform, but the graph's output is a classifier's (CategoricalCrossEntropy)*")]
    [InlineData("scale-below-noise", typeof(NotSupportedException), "node 'n2' (op type 'Mul'): the target transform's scale σ 's' has no standardizer equivalent in Single*")]
    public void A_malformed_trailing_Mul_or_Add_is_a_clear_error_naming_the_node_and_value(string variant, Type exception, string message)
    {
        var g = Regression(out _, out _);
        float[] scale = [2f, 0.5f, 1f];
        float[] offset = [10f, -1f, 0f];
        long[] scaleDims = [3];
        long[] offsetDims = [3];
        string mulInput = "z", addInput = "scaled";
        switch (variant)
        {
            case "scale-nan": scale[1] = float.NaN; break;
            case "scale-infinite": scale[2] = float.NegativeInfinity; break;
            case "offset-infinite": offset[0] = float.PositiveInfinity; break;
            case "scale-negative": scale[0] = -2f; break;
            case "scale-zero": scale[0] = 0f; break;
            case "scale-too-long": scale = [1f, 1f, 1f, 1f]; scaleDims = [4]; break;
            case "offset-rank-3": offsetDims = [1, 1, 3]; break;
            case "offset-two-rows": offset = [1f, 2f, 3f, 4f, 5f, 6f]; offsetDims = [2, 3]; break;
            case "add-reads-the-layer": addInput = "z"; break;
            case "mul-reads-the-input": mulInput = "x"; break;
            case "scale-below-noise": scale[0] = 1e-30f; offset[0] = 1f; break;
        }

        if (variant == "after-softmax")
        {
            g.Graph_.Nodes[^1].Outputs[0] = "logits";
            g.Node("Softmax", ["logits"], "z", ("axis", -1L));
        }

        g.Initializer("s", scale, scaleDims);
        if (variant == "scale-truncated")
        {
            g.Graph_.Initializers[^1].Raw = g.Graph_.Initializers[^1].Raw[..8];
        }

        g.Initializer("m", offset, offsetDims);
        string output = "y";
        switch (variant)
        {
            case "mul-without-add":
                g.Node("Mul", ["z", "s"], "y");
                break;
            case "add-then-mul":
                g.Node("Add", ["z", "m"], "shifted");
                g.Node("Mul", ["shifted", "s"], "y");
                break;
            default:
                g.Node("Mul", [mulInput, "s"], "scaled");
                g.Node("Add", [addInput, "m"], "y");
                break;
        }

        var act = () => OnnxModel.Load<float>(g.Encode(output, 3));
        act.Should().Throw<Exception>().Which.Should().BeOfType(exception);
        act.Should().Throw<Exception>().WithMessage("ONNX data: " + message);
    }

    // x (4) → Gemm(W (3, 4), b) → z: a linear output layer of 3 units (W, b chosen by hand).
    private static ImportTests.Graph Regression(out float[] w, out float[] b)
    {
        w = [0.5f, -1, 0.25f, 2, 1, 0, -0.5f, 0.75f, -2, 0.125f, 1.5f, -0.25f];
        b = [0.1f, -0.2f, 0.3f];
        var g = new ImportTests.Graph("x", [null, 4]);
        g.Initializer("w", w, 3, 4);
        g.Initializer("b", b, 3);
        g.Node("Gemm", ["x", "w", "b"], "z", ("transB", 1L));
        return g;
    }

    private static void RoundTrip<T>(string inputTransform, double targetEpsilon, Loss loss)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (model, x) = TestModels.Regression<T>(inputTransform, targetEpsilon, loss: loss);
        string path = TestModels.TempFile($"target-roundtrip-{inputTransform}-{targetEpsilon}-{loss.Name}-{typeof(T).Name}.onnx");
        model.SaveOnnx(path);
        var loaded = OnnxModel.Load<T>(path);

        var expected = model.Predict(x).ReadOnlySpan.ToArray();
        loaded.Predict(x).ReadOnlySpan.ToArray().Should().Equal(expected, $"{typeof(T).Name}, input transform {inputTransform}, ε = {targetEpsilon}");
        expected.Where((_, i) => i % 3 == 0).Select(double.CreateTruncating).Average().Should().BeGreaterThan(100, "predictions are in the targets' units");

        var target = loaded.TargetTransform.Should().NotBeNull().And.Subject.As<Standardizer<T>>();
        target.Mean.ReadOnlySpan.ToArray().Should().Equal(model.TargetTransform!.Mean.ReadOnlySpan.ToArray());
        target.Variance.ReadOnlySpan.ToArray().Should().Equal(model.TargetTransform.Variance.ReadOnlySpan.ToArray());
        target.Epsilon.Should().Be(model.TargetTransform.Epsilon);
        loaded.Layers.Should().HaveCount(model.Layers.Count, "the target transform is not imported as layers");
        loaded.InputTransform?.Kind.Should().Be(model.InputTransform?.Kind);
        loaded.Loss.Name.Should().Be(loss.Name, "the exporter's loss metadata names the regression loss");

        // Export of the imported model writes the same graph constants and target metadata.
        var again = ModelProto.Decode(OnnxExporter.ToBytes(loaded));
        var first = ModelProto.Decode(File.ReadAllBytes(path));
        again.Metadata.Single(kv => kv.Key == "target_transform").Value.Should().Be(first.Metadata.Single(kv => kv.Key == "target_transform").Value);
        again.Graph!.Initializers.TakeLast(2).Select(t => t.Raw.ToArray()).Should().BeEquivalentTo(first.Graph!.Initializers.TakeLast(2).Select(t => t.Raw.ToArray()), o => o.WithStrictOrdering());
    }

    private static void Legacy<T>(string? metadata, int ulps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (model, x) = TestModels.Regression<T>("standardize", targetEpsilon: 0.25);
        var proto = ModelProto.Decode(OnnxExporter.ToBytes(model));
        int index = proto.Metadata.FindIndex(kv => kv.Key == "target_transform");
        if (metadata is null)
        {
            proto.Metadata.RemoveAt(index);
        }
        else
        {
            proto.Metadata[index] = new("target_transform", metadata);
        }

        var loaded = OnnxModel.Load<T>(proto.Encode());
        loaded.TargetTransform.Should().NotBeNull();
        loaded.TargetTransform!.Mean.ReadOnlySpan.ToArray().Should().Equal(model.TargetTransform!.Mean.ReadOnlySpan.ToArray());
        var ours = model.Predict(x).ReadOnlySpan;
        var theirs = loaded.Predict(x).ReadOnlySpan;
        var mean = model.TargetTransform.Mean.ReadOnlySpan;
        for (int i = 0; i < ours.Length; i++)
        {
            double a = double.CreateTruncating(ours[i]);
            double b = double.CreateTruncating(theirs[i]);
            double mu = double.CreateTruncating(mean[i % 3]);
            double tolerance = ulps * double.CreateTruncating(T.BitIncrement(T.One) - T.One) * (Math.Abs(a - mu) + Math.Abs(mu));
            Math.Abs(a - b).Should().BeLessThanOrEqualTo(tolerance, $"{typeof(T).Name} element {i} with metadata {metadata ?? "(none)"}");
        }
    }
}
