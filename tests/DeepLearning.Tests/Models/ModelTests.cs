using System.Buffers.Binary;
using System.Text;

namespace DeepLearning.Tests.Models;

public sealed class ModelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-model-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Model<float> Mlp(int seed = 1) =>
        Model.Sequential<float>(6).Dense(8).BatchNorm().ReLU().Dropout(0.8).Dense(5, Activation.Tanh).Dense(3).Softmax().Build(seed);

    [Fact]
    public void Builder_infers_shapes_picks_the_loss_and_names_parameters_pytorch_style()
    {
        var model = Mlp();
        model.InputSize.Should().Be(6);
        model.OutputSize.Should().Be(3);
        model.Loss.Should().BeSameAs(Loss.CategoricalCrossEntropy);
        model.Parameters.Select(p => p.Name).Should().Equal("0.weight", "1.weight", "1.bias", "4.weight", "4.bias", "6.weight", "6.bias");
        ((Dense<float>)model.Layers[0]).UseBias.Should().BeFalse("a Dense followed by BatchNorm carries no bias");
        model.ParameterCount.Should().Be((6 * 8) + 8 + 8 + (8 * 5) + 5 + (5 * 3) + 3);

        Model.Sequential<float>(2).Dense(1).Sigmoid().Build().Loss.Should().BeSameAs(Loss.BinaryCrossEntropy);
        Model.Sequential<float>(2).Dense(1).Build().Loss.Should().BeSameAs(Loss.MeanSquaredError);
    }

    [Fact]
    public void An_activation_right_after_a_linear_Dense_is_fused_into_it()
    {
        var model = Model.Sequential<float>(4).Dense(8).ReLU().Dense(2).Softmax().Build();
        model.Layers.Should().HaveCount(3);
        ((Dense<float>)model.Layers[0]).Activation.Should().Be(Activation.ReLU);
        model.Parameters.Select(p => p.Name).Should().Equal("0.weight", "0.bias", "2.weight", "2.bias");
    }

    [Fact]
    public void Summary_lists_layers_output_shapes_and_parameter_counts()
    {
        var summary = Mlp().Summary();
        summary.Should().Contain("Dense(8, no bias) He").And.Contain("BatchNorm").And.Contain("Dropout(keepProb=0.8)")
            .And.Contain("(m, 3)").And.Contain("Trainable parameters: 127").And.Contain("Non-trainable (running statistics): 16")
            .And.Contain("CategoricalCrossEntropy");
    }

    [Fact]
    public void Save_then_load_gives_bit_identical_predictions()
    {
        var model = Mlp();
        var (x, y) = TestData.Problem<float>(32, 6, 3, "softmax", seed: 3);
        model.Regularizer = Regularization.L2(0.05);
        for (int i = 0; i < 3; i++)
        {
            model.ComputeGradients(x, y); // moves the batch-norm running statistics
        }

        string path = Path.Combine(_dir, "m.safetensors");
        model.Save(path);
        var loaded = Model.Load<float>(path);
        loaded.Predict(x).Should().Be(model.Predict(x));
        loaded.Regularizer.Name.Should().Be("L2(0.05)");
        loaded.Summary().Should().Be(model.Summary());
        Directory.GetFiles(_dir).Should().ContainSingle("the temporary file is renamed, not left behind");
    }

    [Fact]
    public void The_input_transform_is_saved_with_the_model_so_raw_input_still_predicts()
    {
        var (x, y) = TestData.Problem<float>(40, 6, 3, "softmax", seed: 12);
        TensorMath.Scale(x, 50f, x); // raw inputs on a scale of their own
        var data = DeepLearning.DataSet.FromTargets(x, y);
        var scaler = DeepLearning.Standardizer<float>.Fit(data);
        var model = Mlp();
        model.InputTransform = scaler;
        model.ComputeGradients(scaler.Apply(x), y);
        string path = Path.Combine(_dir, "t.safetensors");
        model.Save(path);

        var loaded = Model.Load<float>(path);
        loaded.InputTransform!.Kind.Should().Be(scaler.Kind);
        loaded.Predict(x).Should().Be(model.Predict(x));
        // Predict applies the transform: the same as the bare network on standardized input.
        model.InputTransform = null;
        model.Predict(scaler.Apply(x)).Should().Be(loaded.Predict(x));
        loaded.ConvertTo<double>().InputTransform!.Kind.Should().Be(scaler.Kind);
    }

    [Fact]
    public void Saved_file_is_plain_safetensors_with_pytorch_names()
    {
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 4);
        string path = Path.Combine(_dir, "s.safetensors");
        model.Save(path);
        var bytes = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        (n % 8).Should().Be(0);
        var header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        header.Should().Contain("\"0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}")
            .And.Contain("\"0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}")
            .And.Contain("__metadata__");
        BitConverter.ToSingle(bytes, 8 + (int)n).Should().Be(model.Parameters[0].Value[0, 0]);
    }

    [Fact]
    public void Saving_over_an_existing_file_replaces_it_atomically()
    {
        string path = Path.Combine(_dir, "m.safetensors");
        File.WriteAllText(path, "old");
        Mlp().Save(path);
        Model.Load<float>(path).InputSize.Should().Be(6);
        Directory.GetFiles(_dir).Should().ContainSingle();
    }

    [Fact]
    public void A_float_file_loads_into_a_double_model()
    {
        var model = Mlp();
        string path = Path.Combine(_dir, "m.safetensors");
        model.Save(path);
        var d = Model.Load<double>(path);
        var (x, _) = TestData.Problem<float>(4, 6, 3, "softmax", seed: 3);
        var xd = Tensor.FromArray(x.ReadOnlySpan.ToArray().Select(v => (double)v).ToArray(), 4, 6);
        d.Predict(xd).ReadOnlySpan.ToArray().Zip(model.Predict(x).ReadOnlySpan.ToArray()).Should().OnlyContain(p => Math.Abs(p.First - p.Second) < 1e-5);
    }

    public static TheoryData<string, string> Corruptions => new()
    {
        { "truncated-length", "fewer than the 8-byte header length" },
        { "header-past-end", "runs past the end of the file" },
        { "not-json", "not valid JSON" },
        { "offsets-out-of-range", "outside the" },
        { "shape-mismatch", "needs 36 bytes but its data_offsets span 24" },
        { "truncated-data", "outside the" },
        { "no-architecture", "without a DeepLearning architecture" },
        { "huge-units", "has shape (2, 3) but the architecture needs (2000000000, 3)" },
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void Corrupt_or_hostile_files_raise_clear_errors(string kind, string message)
    {
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 4);
        string good = Path.Combine(_dir, "good.safetensors");
        model.Save(good);
        var bytes = File.ReadAllBytes(good);
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        string header = Encoding.UTF8.GetString(bytes, 8, n);
        byte[] bad = kind switch
        {
            "truncated-length" => bytes[..5],
            "header-past-end" => WithLength(bytes, (ulong)bytes.Length * 2),
            "not-json" => Rebuild("{ not json ", bytes, n),
            "offsets-out-of-range" => Rebuild(header.Replace("[24,32]", "[24,4000]", StringComparison.Ordinal), bytes, n),
            "shape-mismatch" => Rebuild(header.Replace("\"shape\":[2,3]", "\"shape\":[3,3]", StringComparison.Ordinal), bytes, n),
            "truncated-data" => bytes[..^4],
            "no-architecture" => Rebuild(header.Replace("\"format\":\"deeplearning\"", "\"format\":\"other\"", StringComparison.Ordinal), bytes, n),
            _ => Rebuild(header.Replace("\\u0022units\\u0022:\\u00222\\u0022", "\\u0022units\\u0022:\\u00222000000000\\u0022", StringComparison.Ordinal), bytes, n),
        };
        string path = Path.Combine(_dir, kind + ".safetensors");
        File.WriteAllBytes(path, bad);
        var act = () => Model.Load<float>(path);
        act.Should().Throw<InvalidDataException>().WithMessage($"*{message}*");
    }

    [Fact]
    public void Loading_a_missing_file_says_so()
    {
        var act = () => Model.Load<float>(Path.Combine(_dir, "nope.safetensors"));
        act.Should().Throw<FileNotFoundException>().WithMessage("*nope.safetensors*");
    }

    [Fact]
    public void Concurrent_predictions_equal_sequential_ones_and_do_not_touch_training_state()
    {
        var model = Mlp();
        var (x, y) = TestData.Problem<float>(50, 6, 3, "softmax", seed: 9);
        model.ComputeGradients(x, y);
        var expected = model.Predict(x);
        var before = model.CaptureState();
        var results = new Tensor<float>[16];
        Parallel.For(0, results.Length, i => results[i] = model.Predict(x));
        results.Should().OnlyContain(r => r.Equals(expected));
        var after = model.CaptureState();
        after.Tensors.Zip(before.Tensors).Should().OnlyContain(p => p.First.Equals(p.Second));
    }

    [Fact]
    public void Predict_works_for_any_batch_size_and_classes_are_argmax()
    {
        var model = Mlp();
        var (x, _) = TestData.Problem<float>(9, 6, 3, "softmax", seed: 9);
        var p = model.Predict(x);
        var single = model.Predict(x.Rows(4, 1));
        single.ReadOnlySpan.ToArray().Should().Equal(p.Row(4).ToArray());
        p.ReadOnlySpan.ToArray().Chunk(3).Should().OnlyContain(r => Math.Abs(r.Sum() - 1) < 1e-5);
        model.PredictClasses(x).Should().Equal(TensorMath.ArgMaxPerRow(p));
    }

    [Fact]
    public void Bad_inputs_and_targets_name_the_shapes()
    {
        var model = Mlp();
        var act = () => model.Predict(new Tensor<float>(3, 7));
        act.Should().Throw<ArgumentException>().WithMessage("*expects input (m, 6); received (3, 7)*");
        var targets = () => model.ComputeGradients(new Tensor<float>(3, 6), new Tensor<float>(3, 2));
        targets.Should().Throw<ArgumentException>().WithMessage("*targets Y must be (3, 3)*received (3, 2)*");
        var units = () => Model.Sequential<float>(3).Dense(0);
        units.Should().Throw<ArgumentOutOfRangeException>().WithMessage("Dense units must be ≥ 1; received 0*");
        var none = () => Model.Sequential<float>(3).Build();
        none.Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public void Capture_and_restore_state_round_trips()
    {
        var model = Mlp();
        var (x, y) = TestData.Problem<float>(16, 6, 3, "softmax", seed: 9);
        var state = model.CaptureState();
        var before = model.Predict(x);
        model.ComputeGradients(x, y);
        foreach (var p in model.Parameters)
        {
            p.Value.Fill(0.5f);
        }

        model.RestoreState(state);
        model.Predict(x).Should().Be(before);
    }

    [Fact]
    public void A_state_of_another_architecture_is_refused_before_anything_is_restored()
    {
        var a = Model.Sequential<float>(6).Dense(16).ReLU().Dense(3).Softmax().Build(seed: 7);
        var deeper = Model.Sequential<float>(6).Dense(16).ReLU().Dense(8).ReLU().Dense(3).Softmax().Build(seed: 99);
        var wider = Model.Sequential<float>(6).Dense(16).ReLU().Dense(4).Softmax().Build(seed: 5);
        var x = TestData.Problem<float>(16, 6, 3, "softmax", seed: 9).X;
        var before = a.Predict(x);
        var weights = a.Parameters.Select(p => p.Value.Clone()).ToArray();

        // Layer 0 matches in both; the first difference comes later. Nothing may have been copied when it throws.
        FluentActions.Invoking(() => a.RestoreState(deeper.CaptureState())).Should().Throw<ArgumentException>()
            .WithMessage("the state holds 6 tensors but this model has 4*another architecture*").Which.ParamName.Should().Be("state");
        FluentActions.Invoking(() => a.RestoreState(wider.CaptureState())).Should().Throw<ArgumentException>()
            .WithMessage("the state's tensor 2 has shape (4, 16) but parameter '2.weight' has shape (3, 16)*Nothing was restored*").Which.ParamName.Should().Be("state");
        FluentActions.Invoking(() => a.RestoreState(new ModelState<float>(null!))).Should().Throw<ArgumentException>();
        a.Predict(x).Should().Be(before);
        a.Parameters.Select(p => p.Value.ToArray()).Should().BeEquivalentTo(weights.Select(w => w.ToArray()), o => o.WithStrictOrdering());

        // Through a callback: a snapshot that is not CaptureWeights' is an ArgumentException, not an InvalidCastException.
        var (tx, ty) = TestData.Problem<float>(32, 6, 3, "softmax", seed: 3);
        var options = new TrainingOptions<float>
        {
            Epochs = 1,
            Callbacks = { new LambdaCallback((c, r) => c.RestoreWeights("junk")) },
        };
        FluentActions.Invoking(() => a.Fit(new DataSet<float>(tx, ty), options)).Should().Throw<ArgumentException>()
            .WithMessage("the snapshot is a String, not weights from CaptureWeights() of a Model<Single>*");
    }

    private static byte[] WithLength(byte[] bytes, ulong length)
    {
        var copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(copy, length);
        return copy;
    }

    private static byte[] Rebuild(string header, byte[] original, int oldLength)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var result = new byte[8 + h.Length + (original.Length - 8 - oldLength)];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)h.Length);
        h.CopyTo(result, 8);
        original.AsSpan(8 + oldLength).CopyTo(result.AsSpan(8 + h.Length));
        return result;
    }
}
