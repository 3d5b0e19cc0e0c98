namespace DeepLearning.Tests.Models;

/// <summary>
/// What Load refuses is never written: a save that would give an unreadable or misread file throws before the file at
/// its path is touched, so the last good model there survives.
/// </summary>
public sealed class SaveRefusalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-save-refusal").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Model<float> SmallModel() => Model.Sequential<float>(3).Dense(4).ReLU().Dense(2).Softmax().Build(seed: 4);

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void Non_finite_weights_are_refused_and_the_saved_model_survives(float bad)
    {
        string path = Path.Combine(_dir, "model.safetensors");
        var model = SmallModel();
        model.Save(path);
        byte[] good = File.ReadAllBytes(path);

        model.Parameters[2].Value.Span[1] = bad;
        model.Invoking(m => m.Save(path)).Should().Throw<InvalidOperationException>()
            .WithMessage($"the model cannot be saved: tensor '{model.Parameters[2].Name}' holds {bad.ToString(System.Globalization.CultureInfo.InvariantCulture)} at index 1*nothing was written*");
        File.ReadAllBytes(path).Should().Equal(good);
        Model.Load<float>(path).Parameters[2].Value.ToArray().Should().OnlyContain(v => float.IsFinite(v));
    }

    [Fact]
    public void A_negative_running_variance_is_refused()
    {
        string path = Path.Combine(_dir, "bn.safetensors");
        var model = Model.Sequential<float>(3).Dense(4).BatchNorm().ReLU().Dense(2).Softmax().Build(seed: 4);
        var (name, variance) = model.Layers.SelectMany(l => l.Buffers.Select(b => ($"{l.Name}.{b.Key}", b.Value))).Single(b => b.Item1.EndsWith(".running_var", StringComparison.Ordinal));
        variance.Span[0] = -1f;
        model.Invoking(m => m.Save(path)).Should().Throw<InvalidOperationException>().WithMessage($"*tensor '{name}' holds -1 at index 0; a running variance must be ≥ 0*");
        File.Exists(path).Should().BeFalse();
    }

    [Fact]
    public void Reserved_names_in_extra_tensors_and_metadata_are_refused()
    {
        string path = Path.Combine(_dir, "extra.safetensors");
        var model = SmallModel();
        var act = () => ModelFile.Save(model, path, new Dictionary<string, Tensor<float>> { ["__metadata__"] = new Tensor<float>(1) });
        act.Should().Throw<ArgumentException>().WithMessage("*\"__metadata__\"*").Which.ParamName.Should().Be("extraTensors");
        foreach (var key in new[] { "format", "version", "architecture", "input_transform", "target_transform", "class_names" })
        {
            act = () => ModelFile.Save(model, path, extraMetadata: new Dictionary<string, string> { [key] = "x" });
            act.Should().Throw<ArgumentException>().WithMessage($"extraMetadata cannot set \"{key}\"*").Which.ParamName.Should().Be("extraMetadata");
        }

        File.Exists(path).Should().BeFalse();
        ModelFile.Save(model, path, new Dictionary<string, Tensor<float>> { ["mine"] = new Tensor<float>(2) }, new Dictionary<string, string> { ["note"] = "kept" });
        ModelFile.Read<float>(path).Metadata["note"].Should().Be("kept");
    }

    [Fact]
    public void A_header_over_the_limit_is_refused_before_the_file_is_replaced()
    {
        string path = Path.Combine(_dir, "big.safetensors");
        var model = SmallModel();
        model.Save(path);
        byte[] good = File.ReadAllBytes(path);
        var huge = new string('a', (int)ModelFile.MaxHeaderBytes);
        var act = () => ModelFile.Save(model, path, extraMetadata: new Dictionary<string, string> { ["note"] = huge });
        act.Should().Throw<ArgumentException>().WithMessage("*over the 67108864-byte limit*nothing was written*");
        File.ReadAllBytes(path).Should().Equal(good);
    }

    [Fact]
    public void Idx_refuses_a_value_beyond_the_float_range_for_a_Single_file()
    {
        string path = Path.Combine(_dir, "big.idx");
        var data = Tensor.FromArray(new double[] { 1, 1e300 }, [2]);
        var act = () => Idx.Write(path, data, IdxElementType.Single);
        act.Should().Throw<ArgumentException>().WithMessage("element 1 is 1E+300, beyond the float range of an IDX Single*write it as Double*");
        File.Exists(path).Should().BeFalse();
        Idx.Write(path, data, IdxElementType.Double);
        Idx.Read<double>(path).ToArray().Should().Equal(1, 1e300);
    }
}
