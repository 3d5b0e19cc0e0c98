using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace DeepLearning.Tests.Models;

/// <summary>One test per model-file defect of issue 11.3, each through the public API (Model.Load / LoadWeights).</summary>
public sealed class ModelFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-modelfile-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Splits a safetensors file into its header (as JSON) and data section.</summary>
    internal static (JsonObject Header, byte[] Data) Split(byte[] file)
    {
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        return (JsonNode.Parse(file.AsSpan(8, n))!.AsObject(), file[(8 + n)..]);
    }

    /// <summary>Joins a header's JSON text and a data section into a safetensors file.</summary>
    internal static byte[] Join(string header, byte[] data) => Join(Encoding.UTF8.GetBytes(header), data);

    internal static byte[] Join(byte[] header, byte[] data)
    {
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    private static Model<float> SmallModel() => Model.Sequential<float>(3).Dense(4).ReLU().Dense(2).Softmax().Build(seed: 4);

    private byte[] SavedBytes()
    {
        string path = Path.Combine(_dir, "good.safetensors");
        SmallModel().Save(path);
        return File.ReadAllBytes(path);
    }

    /// <summary>The saved file with its architecture JSON edited.</summary>
    private byte[] WithArchitecture(Func<string, string> edit)
    {
        var (header, data) = Split(SavedBytes());
        var meta = header["__metadata__"]!.AsObject();
        meta["architecture"] = edit(meta["architecture"]!.GetValue<string>());
        return Join(header.ToJsonString(), data);
    }

    private void LoadShouldFail(byte[] file, string message)
    {
        string path = Path.Combine(_dir, "bad.safetensors");
        File.WriteAllBytes(path, file);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => Model.Load<float>(path);
        act.Should().Throw<InvalidDataException>().WithMessage($"*{message}*");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan((4L * file.Length) + (1 << 20));
    }

    [Fact]
    public void A_null_class_name_is_refused_when_set_so_Save_cannot_replace_a_model_with_a_file_Load_refuses()
    {
        // ClassNames = ["cat", null] was accepted; Save then replaced the previous model with a file that Load refused
        // ("the class_names metadata is invalid: Object reference not set to an instance of an object").
        string path = Path.Combine(_dir, "names.safetensors");
        var model = Model.Sequential<float>(2).Dense(2).Softmax().Build(seed: 1);
        model.ClassNames = ["cat", "dog"];
        model.Save(path);

        model.Invoking(m => m.ClassNames = ["cat", null!]).Should().Throw<ArgumentException>()
            .WithMessage("class names must not be null; entry 1 of [cat, null] is null*").Which.ParamName.Should().Be("value");
        model.ClassNames.Should().Equal("cat", "dog");
        model.Save(path);
        Model.Load<float>(path).ClassNames.Should().Equal("cat", "dog");
    }

    [Fact]
    public void Overlapping_offsets_in_a_1_MB_file_are_refused_before_anything_is_allocated()
    {
        // The file that made Load allocate 1 GB: 1,000 tensors all claiming the same 1 MB of data.
        const int count = 1000;
        const int floats = 1 << 18;
        var header = new StringBuilder("{");
        for (int i = 0; i < count; i++)
        {
            header.Append(System.Globalization.CultureInfo.InvariantCulture, $"\"t{i}\":{{\"dtype\":\"F32\",\"shape\":[{floats}],\"data_offsets\":[0,{floats * 4}]}},");
        }

        header[^1] = '}';
        var file = Join(header.ToString(), new byte[floats * 4]);
        file.Length.Should().BeInRange(1 << 20, 1_200_000);
        LoadShouldFail(file, "overlap");
    }

    [Theory]
    [InlineData("gap", "leave a gap")]
    [InlineData("trailing", "data section after the header holds")]
    [InlineData("out-of-range", "outside the")]
    public void Offsets_must_be_contiguous_and_cover_the_data_section_exactly(string kind, string message)
    {
        var (header, data) = Split(SavedBytes());
        var entry = header.Where(kv => kv.Key != "__metadata__").Select(kv => kv.Value!.AsObject()).Last(o => o["data_offsets"]![0]!.GetValue<long>() > 0);
        long begin = entry["data_offsets"]![0]!.GetValue<long>();
        long end = entry["data_offsets"]![1]!.GetValue<long>();
        byte[] file = kind switch
        {
            "gap" => Join(Shifted(header, entry, begin + 4, end + 4), [.. data, 0, 0, 0, 0]),
            "trailing" => Join(header.ToJsonString(), [.. data, 1, 2, 3]),
            _ => Join(Shifted(header, entry, begin, end + 4000), data),
        };
        LoadShouldFail(file, message);
    }

    private static string Shifted(JsonObject header, JsonObject entry, long begin, long end)
    {
        entry["data_offsets"] = new JsonArray(begin, end);
        return header.ToJsonString();
    }

    [Fact]
    public void A_shape_whose_byte_size_overflows_is_an_error_not_an_OverflowException()
    {
        var file = Join("{\"w\":{\"dtype\":\"F64\",\"shape\":[2147483647,2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}", new byte[8]);
        LoadShouldFail(file, "tensor 'w' of shape [2147483647, 2147483647, 2147483647, 2147483647] and dtype F64 needs more than 8 bytes");
    }

    [Theory]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,null],\"data_offsets\":[0,4]}}", "tensor 'w' shape[1] is null")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[null,4]}}", "tensor 'w' data_offsets[0] is null")]
    [InlineData("{\"w\":{\"dtype\":null,\"shape\":[1],\"data_offsets\":[0,4]}}", "tensor 'w' dtype is null")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "tensor 'w' shape[0] is 1.5")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "tensor 'w' shape[0] is -1")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", "tensor 'w' data_offsets must be an array of two integers")]
    [InlineData("{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", "tensor 'w' has dtype 'U8'")]
    [InlineData("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "tensor 'w' lacks 'dtype'")]
    [InlineData("{\"w\":null}", "tensor 'w' is null, not an object")]
    [InlineData("[1,2]", "the header is an array, not a JSON object")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "the key 'w' twice")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,4]}}", "tensor 'w' has the key 'dtype' twice")]
    [InlineData("{\"\\ud800\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "is malformed")]
    [InlineData("{\"__metadata__\":{\"format\":7},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "__metadata__ 'format' is the number 7, not a string")]
    public void Malformed_header_entries_are_InvalidDataException_naming_the_entry(string header, string message) =>
        LoadShouldFail(Join(header, new byte[4]), message);

    [Theory]
    [InlineData("{\"\\ud800aaaaaa\":{}}")] // a short key: met first while the entries are counted
    [InlineData("{\"a\":{},\"\\udfff\\udfff\":1}")]
    [InlineData("{\"\\ud800 and a longer key\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}")]
    public void An_escaped_lone_surrogate_in_a_header_key_is_an_InvalidDataException(string header)
    {
        // It has no UTF-16 form: the JSON reader threw InvalidOperationException from the entry count.
        LoadShouldFail(Join(header, header.Contains("F32", StringComparison.Ordinal) ? new byte[4] : []), "malformed");
    }

    [Fact]
    public void A_saved_target_transform_missing_a_tensor_is_refused_naming_the_file_and_the_target_transform()
    {
        var (x, y) = TestData.Problem<float>(10, 3, 1, "linear", seed: 1);
        var model = Model.Sequential<float>(3).Dense(4).ReLU().Dense(1).Build(seed: 2);
        model.TargetTransform = Standardizer.Fit(y);
        string path = Path.Combine(_dir, "target.safetensors");
        model.Save(path);

        var contents = ModelFile.Read<float>(path);
        var tensors = contents.Tensors.Where(kv => kv.Key != "target_transform.mean").Select(kv => (kv.Key, kv.Value)).ToList();
        tensors.Count.Should().Be(contents.Tensors.Count - 1);
        ModelFile.Write(path, tensors, contents.Metadata);
        var act = () => Model.Load<float>(path);
        act.Should().Throw<InvalidDataException>().WithMessage($"*{path}*the saved target transform is invalid*'mean'*");
    }

    [Fact]
    public void Text_with_a_lone_surrogate_is_refused_before_saving_since_it_would_load_back_different()
    {
        // UTF-8 has no form for it: the file held U+FFFD and the names came back changed.
        var model = Model.Sequential<float>(2).Dense(2).Softmax().Build(seed: 1);
        model.Invoking(m => m.ClassNames = ["cat", "d\ud800g"]).Should().Throw<ArgumentException>()
            .WithMessage("class name 1 holds a lone UTF-16 surrogate (U+D800) at character 1*").Which.ParamName.Should().Be("value");
        model.ClassNames = ["cat", "\ud83d\ude00"]; // a pair is fine
        string path = Path.Combine(_dir, "surrogates.safetensors");
        model.Save(path);
        Model.Load<float>(path).ClassNames.Should().Equal("cat", "\ud83d\ude00");
        byte[] good = File.ReadAllBytes(path);

        model.Invoking(m => ModelFile.Save(m, path, extraMetadata: new Dictionary<string, string> { ["note"] = "x\udc00" })).Should().Throw<ArgumentException>()
            .WithMessage("the value of metadata 'note' cannot be saved: it holds a lone UTF-16 surrogate (U+DC00) at character 1*");
        var tensor = new List<(string, Tensor<float>)> { ("w\ud800", new Tensor<float>(1)) };
        var write = () => ModelFile.Write(path, tensor, new Dictionary<string, string>());
        write.Should().Throw<ArgumentException>().WithMessage("tensor name 'w*' cannot be saved: it holds a lone UTF-16 surrogate*");
        File.ReadAllBytes(path).Should().Equal(good, "nothing was written");
    }

    [Fact]
    public void Invalid_UTF8_in_the_header_is_an_InvalidDataException()
    {
        var header = Encoding.UTF8.GetBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        header[2] = 0xFF; // inside the key "w"
        LoadShouldFail(Join(header, new byte[4]), "not valid UTF-8");
    }

    [Theory]
    [InlineData("\"inputs\":3", "\"inputs\":99999999999", "architecture.inputs is 99999999999, not a 32-bit integer")]
    [InlineData("\"inputs\":3", "\"inputs\":null", "architecture.inputs is null, not an integer")]
    [InlineData("\"inputSize\":3", "\"inputSize\":\"3\"", "architecture layers[0].inputSize is a string, not an integer")]
    [InlineData("\"units\":\"4\"", "\"units\":\"99999999999\"", "architecture layers[0] ('0', Dense): setting 'units' is '99999999999'")]
    [InlineData("\"activation\":\"ReLU\"", "\"activation\":\"99\"", "architecture layers[0] ('0', Dense): unknown activation '99'")]
    [InlineData("\"activation\":\"ReLU\"", "\"activation\":\"4\"", "unknown activation '4'")]
    [InlineData("\"kind\":\"Activation\"", "\"kind\":\"Conv9\"", "unknown layer kind 'Conv9'")]
    [InlineData("\"loss\":\"CategoricalCrossEntropy\"", "\"loss\":\"Hinge\"", "unknown loss 'Hinge'")]
    [InlineData("\"seed\":\"4\"", "\"seed\":\"-4\"", "architecture.seed '-4' is not an unsigned 64-bit integer")]
    [InlineData("\"inputs\":3", "\"inputs\":3,\"inputs\":3", "architecture has the key 'inputs' twice")]
    [InlineData("\"name\":\"2\"", "\"name\":\"0\"", "the layer name '0' is used twice")]
    public void Malformed_architectures_are_InvalidDataException_naming_the_entry(string from, string to, string message)
    {
        var file = WithArchitecture(a =>
        {
            a.Should().Contain(from);
            return a.Replace(from, to, StringComparison.Ordinal);
        });
        LoadShouldFail(file, message);
    }

    [Fact]
    public void A_numeric_activation_is_not_read_as_the_enum_member_with_that_value()
    {
        // Enum.Parse reads "4" as Tanh: a file saying activation "4" must not load as a tanh network.
        var file = WithArchitecture(a => a.Replace("\"activation\":\"ReLU\"", "\"activation\":\"4\"", StringComparison.Ordinal));
        LoadShouldFail(file, "unknown activation '4'; expected one of Linear, ReLU");
    }

    [Fact]
    public void An_input_transform_of_another_width_than_the_model_is_refused()
    {
        var model = SmallModel();
        var (x, y) = TestData.Problem<float>(10, 3, 2, "softmax", seed: 1);
        model.InputTransform = Standardizer<float>.Fit(DataSet.FromTargets(x, y));
        string path = Path.Combine(_dir, "t.safetensors");
        model.Save(path);

        // Widen every saved transform tensor from 3 to 5 features (ones keep any scale valid).
        var contents = ModelFile.Read<float>(path);
        var tensors = contents.Tensors.Select(kv => (kv.Key, kv.Key.StartsWith("input_transform.", StringComparison.Ordinal) && kv.Value.Length == 3 ? Tensor.Full(1f, 5) : kv.Value)).ToList();
        tensors.Should().Contain(t => t.Key.StartsWith("input_transform.", StringComparison.Ordinal));
        ModelFile.Write(path, tensors, contents.Metadata);
        var act = () => Model.Load<float>(path);
        act.Should().Throw<InvalidDataException>().WithMessage("*input transform 'standardize' has 5 features but the model has 3 inputs*");
    }

    [Fact]
    public void Every_tensor_dtype_is_converted_and_a_valid_file_still_loads_bit_identical()
    {
        var model = SmallModel();
        string path = Path.Combine(_dir, "ok.safetensors");
        model.Save(path);
        var x = Tensor.FromArray(new float[] { 0.5f, -1, 2 }, 1, 3);
        Model.Load<float>(path).Predict(x).Should().Be(model.Predict(x));

        // F16, BF16, I32, I64 values read back as the numbers they encode.
        var data = new byte[2 + 2 + 4 + 8];
        BinaryPrimitives.WriteHalfLittleEndian(data, (Half)1.5);
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(2), 0x4040); // bf16 of 3.0
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(4), -7);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(8), 1L << 40);
        var file = Join("{\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[2,4]},"
            + "\"i\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[4,8]},\"l\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}", data);
        string p = Path.Combine(_dir, "dtypes.safetensors");
        File.WriteAllBytes(p, file);
        var read = ModelFile.Read<double>(p).Tensors;
        (read["h"][0], read["b"][0], read["i"][0], read["l"][0]).Should().Be((1.5, 3.0, -7.0, 1099511627776.0));
    }

    /// <summary>A header of <paramref name="count"/> F16 tensors of <paramref name="shape"/> ("[0]" or "[]", a scalar).</summary>
    private static byte[] ManyTensors(int count, string shape)
    {
        var header = new StringBuilder("{");
        long offset = 0;
        for (int i = 0; i < count; i++)
        {
            long end = shape == "[]" ? offset + 2 : offset;
            header.Append(System.Globalization.CultureInfo.InvariantCulture, $"{(i > 0 ? "," : "")}\"{i:x}\":{{\"dtype\":\"F16\",\"shape\":{shape},\"data_offsets\":[{offset},{end}]}}");
            offset = end;
        }

        return Join(header.Append('}').ToString(), new byte[offset]);
    }

    [Fact]
    public void Write_refuses_more_tensors_or_metadata_entries_than_Read_accepts_before_touching_the_target()
    {
        string path = Path.Combine(Path.GetTempPath(), $"dl-caps-{Guid.NewGuid():N}.safetensors");
        try
        {
            File.WriteAllText(path, "keep me");
            var one = new Tensor<float>(1);
            var many = Enumerable.Range(0, ModelFile.MaxTensors + 1).Select(i => ($"t{i}", one)).ToList();
            FluentActions.Invoking(() => ModelFile.Write(path, many, new Dictionary<string, string>()))
                .Should().Throw<ArgumentException>().WithMessage($"{ModelFile.MaxTensors + 1} tensors cannot be saved: a file holds at most {ModelFile.MaxTensors}*");
            var metadata = Enumerable.Range(0, ModelFile.MaxMetadataEntries + 1).ToDictionary(i => $"k{i}", i => "v");
            FluentActions.Invoking(() => ModelFile.Write(path, [("w", one)], metadata))
                .Should().Throw<ArgumentException>().WithMessage($"{ModelFile.MaxMetadataEntries + 1} metadata entries cannot be saved*");
            File.ReadAllText(path).Should().Be("keep me");

            // At the caps, what is written reads back.
            ModelFile.Write(path, many.Take(ModelFile.MaxTensors).ToList(), metadata.Take(ModelFile.MaxMetadataEntries).ToDictionary());
            ModelFile.Read<float>(path).Tensors.Should().HaveCount(ModelFile.MaxTensors);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("[0]")]
    [InlineData("[]")]
    public void Many_tiny_tensors_cost_a_small_multiple_of_the_file_and_too_many_are_refused(string shape)
    {
        // 200,000 empty or scalar entries in 11 MB made the reader allocate 279 MB (24.7×): per-entry messages,
        // dictionaries and a 64-byte block per empty tensor.
        string path = Path.Combine(_dir, "many.safetensors");
        var atCap = ManyTensors(ModelFile.MaxTensors, shape);
        File.WriteAllBytes(path, atCap);
        ModelFile.Read<float>(path).Tensors.Should().HaveCount(ModelFile.MaxTensors); // warm up (JIT, pools)
        long before = GC.GetAllocatedBytesForCurrentThread();
        var read = ModelFile.Read<double>(path).Tensors;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        read.Should().HaveCount(ModelFile.MaxTensors);
        read["0"].Shape.Should().Equal(shape == "[]" ? [1] : [0]);
        // 8 bytes a tensor more since tensors carry a reference to their write count (the packed-Wᵀ inference cache).
        allocated.Should().BeLessThan((4L * atCap.Length) + (1 << 20) + (8L * ModelFile.MaxTensors), $"a {atCap.Length:N0}-byte file of {ModelFile.MaxTensors} tensors");
        LoadShouldFail(atCap, "without a DeepLearning architecture");

        var over = ManyTensors(200_000, shape);
        File.WriteAllBytes(path, over);
        before = GC.GetAllocatedBytesForCurrentThread();
        FluentActions.Invoking(() => ModelFile.Read<double>(path)).Should().Throw<InvalidDataException>()
            .WithMessage($"*the header has 200000 tensor entries; at most {ModelFile.MaxTensors} are accepted");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan((4L * over.Length) + (1 << 20));
        LoadShouldFail(over, "the header has 200000 tensor entries");
    }

    [Fact]
    public void Too_many_metadata_entries_are_refused_before_the_header_is_indexed()
    {
        var header = new StringBuilder("{\"__metadata__\":{");
        for (int i = 0; i < 1_000_000; i++)
        {
            header.Append(System.Globalization.CultureInfo.InvariantCulture, $"{(i > 0 ? "," : "")}\"{i:x}\":\"\"");
        }

        var file = Join(header.Append("}}").ToString(), []);
        LoadShouldFail(file, $"__metadata__ has 1000000 entries; at most {ModelFile.MaxMetadataEntries} are accepted");
    }

    [Fact]
    public void A_shape_with_a_zero_loads_as_an_empty_tensor_and_one_too_large_for_a_tensor_is_InvalidDataException()
    {
        // (2³¹ − 1, 0) holds nothing; the tensor's shape check used to overflow before the 0 (ArgumentException).
        string path = Path.Combine(_dir, "empty.safetensors");
        File.WriteAllBytes(path, Join("{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483647,0],\"data_offsets\":[0,0]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]));
        var read = ModelFile.Read<float>(path).Tensors;
        read["a"].Shape.Should().Equal(int.MaxValue, 0);
        read["a"].Length.Should().Be(0);

        // Empty, but with rows longer than an int counts: no tensor can have that shape.
        LoadShouldFail(Join("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,65536,65536],\"data_offsets\":[0,0]}}", []),
            "tensor 'a': shape (0, 65536, 65536) is empty but its dimensions from axis 1 on hold more than 2147483647 elements");
    }

    [Theory]
    [InlineData("0.weight", 3, float.NaN, "tensor '0.weight' holds NaN at index 3; weights and statistics must be finite")]
    [InlineData("2.bias", 0, float.PositiveInfinity, "tensor '2.bias' holds Infinity at index 0; weights and statistics must be finite")]
    [InlineData("1.running_mean", 2, float.NegativeInfinity, "tensor '1.running_mean' holds -Infinity at index 2; weights and statistics must be finite")]
    [InlineData("1.running_var", 0, -4f, "tensor '1.running_var' holds -4 at index 0; a running variance must be ≥ 0")]
    public void Non_finite_weights_or_a_negative_running_variance_are_refused_naming_the_tensor_and_index(string name, int index, float value, string message)
    {
        // Such a model loaded and predicted NaN; the ONNX importer and the checkpoint reader already refused it.
        var model = Model.Sequential<float>(2).Dense(4).BatchNorm().Dense(1).Build(seed: 1);
        var tensor = model.Layers.SelectMany(l => l.Parameters.Select(p => (p.Name, p.Value)).Concat(l.Buffers.Select(b => ($"{l.Name}.{b.Key}", b.Value))))
            .Single(t => t.Item1 == name).Item2;
        string path = Path.Combine(_dir, "bad-values.safetensors");
        model.Save(path);
        tensor.Span[index] = value;

        // Save refuses such a model (nothing written); a file from elsewhere can still hold it, written here through
        // the plain safetensors writer with the good file's architecture.
        FluentActions.Invoking(() => model.Save(path)).Should().Throw<InvalidOperationException>().WithMessage($"*{message}; nothing was written*");
        var good = ModelFile.Read<float>(path);
        var edited = good.Tensors.Select(kv => (kv.Key, kv.Key == name ? tensor : kv.Value)).ToList();
        ModelFile.Write(path, edited, good.Metadata);
        FluentActions.Invoking(() => Model.Load<float>(path)).Should().Throw<InvalidDataException>().WithMessage($"*{message}");
        var fresh = Model.Sequential<float>(2).Dense(4).BatchNorm().Dense(1).Build(seed: 2);
        var weights = fresh.Layers[0].Parameters[0].Value.ReadOnlySpan.ToArray();
        FluentActions.Invoking(() => ModelFile.LoadWeights(fresh, path)).Should().Throw<InvalidDataException>().WithMessage($"*{message}; nothing was loaded");
        fresh.Layers[0].Parameters[0].Value.ReadOnlySpan.ToArray().Should().Equal(weights);

        // A zero variance (a constant feature) is legitimate: BatchNorm adds ε.
        tensor.Span[index] = name == "1.running_var" ? 0f : 0.5f;
        model.Save(path);
        var loaded = Model.Load<float>(path);
        var x = Tensor.FromArray(new float[] { 1, 2 }).Reshape(1, 2);
        loaded.Predict(x)[0, 0].Should().Be(model.Predict(x)[0, 0]).And.Match(v => float.IsFinite(v));
    }
}
