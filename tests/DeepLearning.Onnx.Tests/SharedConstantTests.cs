using System.Numerics;
using DeepLearning.Onnx.Proto;
using Xunit.Abstractions;

namespace DeepLearning.Onnx.Tests;

/// <summary>
/// Files that name one constant from many nodes: every read decodes its own copy, so the importer caps the elements
/// decoded over the whole import at <see cref="OnnxModel.MaxDecodedElements"/> of the file's size and refuses a third
/// element-wise node before the first layer before decoding its constant. Before the cap, one 512 × 512 matrix read by
/// 400 MatMul nodes (a 1 MB file) made Load&lt;double&gt; allocate 3.4 GB.
/// </summary>
public class SharedConstantTests(ITestOutputHelper output)
{
    // The bound is 16 × the file size + 1 MB: generous next to what a refused load makes (the decoded protobuf, then a
    // decoded array and a transposed copy of T per read within the budget of about bytes / 2 elements, 8 × the file
    // size for double), and a two-hundredth of what the unbounded import allocated.
    private const long SlackBytes = 1 << 20;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void One_weight_matrix_read_by_a_chain_of_MatMul_nodes_is_refused_with_bounded_allocation(bool asDouble)
    {
        const int width = 512, nodes = 400;
        var g = new ImportTests.Graph("x", [null, width]);
        g.Initializer("W", Ramp(width * width), width, width);
        string current = "x";
        for (int i = 0; i < nodes; i++)
        {
            g.Node("MatMul", [current, "W"], $"h{i}");
            current = $"h{i}";
        }

        byte[] bytes = g.Encode(current, width);
        var (error, allocated) = asDouble ? Measure<double>(bytes) : Measure<float>(bytes);

        // 2 × (bytes / 4 + 8192) elements hold two reads of the 262,144-element matrix, not three.
        long budget = OnnxModel.MaxDecodedElements(bytes.Length);
        budget.Should().BeInRange(2L * width * width, (3L * width * width) - 1);
        error.Should().BeOfType<InvalidDataException>().Which.Message.Should().Be(
            $"ONNX data: node 'n3' (op type 'MatMul'): decoding the constant 'W' (262144 elements, read 3 times so far) brings the elements decoded from constants to 786432, more than the {budget} allowed for a {bytes.Length}-byte file (2 × (bytes / 4 + 8192)); each node gets its own copy of a constant, and a sequential model reads each weight once");
        allocated.Should().BeLessThan((16L * bytes.Length) + SlackBytes, $"a {bytes.Length}-byte file");
    }

    [Theory]
    [InlineData("Add")]
    [InlineData("Mul")]
    public void A_third_element_wise_node_before_the_first_layer_is_refused_before_its_constant_is_decoded(string op)
    {
        // 400 nodes reading a 1 MB per-feature constant used to be decoded one by one (839 MB for double), then refused.
        const int width = 1 << 18, nodes = 400;
        var g = new ImportTests.Graph("x", [null, width]);
        g.Initializer("C", Ramp(width), width);
        string current = "x";
        for (int i = 0; i < nodes; i++)
        {
            g.Node(op, [current, "C"], $"p{i}");
            current = $"p{i}";
        }

        g.Initializer("w", Ramp(width), 1, width);
        g.Node("Gemm", [current, "w"], "y", ("transB", 1L));
        byte[] bytes = g.Encode("y", 1);
        var (error, allocated) = Measure<double>(bytes);

        error.Should().BeOfType<NotSupportedException>().Which.Message.Should().StartWith(
            $"ONNX data: node 'n3' (op type '{op}'): at most two element-wise nodes (an input transform) may come before the first layer");
        allocated.Should().BeLessThan((16L * bytes.Length) + SlackBytes, $"a {bytes.Length}-byte file");
    }

    [Fact]
    public void One_small_constant_read_by_many_BatchNormalization_nodes_is_refused_once_past_the_budget()
    {
        // A valid model otherwise: 4 reads of 512 ones per node, so the 2 KB constant would come back 1,600 times.
        const int width = 512, nodes = 400;
        var g = new ImportTests.Graph("x", [null, 4]);
        g.Initializer("w", Ramp(4 * width), 4, width);
        g.Node("MatMul", ["x", "w"], "z");
        g.Initializer("ones", Enumerable.Repeat(1f, width).ToArray(), width);
        string current = "z";
        for (int i = 0; i < nodes; i++)
        {
            g.Node("BatchNormalization", [current, "ones", "ones", "ones", "ones"], $"b{i}");
            current = $"b{i}";
        }

        byte[] bytes = g.Encode(current, width);
        var (error, allocated) = Measure<double>(bytes);

        error.Should().BeOfType<InvalidDataException>().Which.Message.Should().Match(
            $"ONNX data: node 'n*' (op type 'BatchNormalization'): decoding the constant 'ones' (512 elements, read * times so far) brings the elements decoded from constants to *, more than the {OnnxModel.MaxDecodedElements(bytes.Length)} allowed for a {bytes.Length}-byte file*");
        allocated.Should().BeLessThan((16L * bytes.Length) + SlackBytes, $"a {bytes.Length}-byte file");
    }

    [Fact]
    public void A_Dropout_training_mode_that_is_not_a_scalar_is_refused_before_it_is_decoded()
    {
        var g = new ImportTests.Graph("x", [null, 4]);
        g.Initializer("w", Ramp(12), 3, 4);
        g.Node("Gemm", ["x", "w"], "z", ("transB", 1L));
        var mode = new TensorProto { Name = "mode", DataType = 9, HasRaw = true, Raw = new byte[1 << 20] };
        mode.Dims.Add(1 << 20);
        g.Graph_.Initializers.Add(mode);
        g.Node("Dropout", ["z", string.Empty, "mode"], "y");
        var (error, _) = Measure<double>(g.Encode("y", 3, opset: 13));
        error.Should().BeOfType<NotSupportedException>().Which.Message.Should().StartWith(
            "ONNX data: node 'n2' (op type 'Dropout'): the constant 'mode' must be a scalar; it has 1048576 elements");
    }

    [Fact]
    public void Constants_an_exporter_merged_still_load_within_the_budget()
    {
        // PyTorch merges equal initializers: a fresh BatchNorm's weight and running_var become one "ones", its bias and
        // running_mean one "zeros", which a zero bias shares too. The layers read more values than the file stores
        // (and more than the 8192-element slack covers); the factor 2 of the budget is there for this.
        const int inputs = 4, units = 4096;
        var g = new ImportTests.Graph("x", [null, inputs]);
        g.Initializer("w1", Ramp(units * inputs), units, inputs);
        g.Initializer("w2", Ramp(units), 1, units);
        g.Initializer("ones", Enumerable.Repeat(1f, units).ToArray(), units);
        g.Initializer("zeros", new float[units], units);
        g.Node("Gemm", ["x", "w1", "zeros"], "z1", ("transB", 1L));
        g.Node("BatchNormalization", ["z1", "ones", "zeros", "zeros", "ones"], "n1");
        g.Node("Relu", ["n1"], "a1");
        g.Node("Gemm", ["a1", "w2"], "y", ("transB", 1L));
        byte[] bytes = g.Encode("y", 1);
        long reads = (units * inputs) + units + (4 * units) + units;
        reads.Should().BeGreaterThan(OnnxModel.MaxDecodedElements(bytes.Length) / 2, "the file needs the second half of the budget");

        var model = OnnxModel.Load<double>(bytes);
        model.Layers.OfType<Dense<double>>().Should().HaveCount(2);
        model.Layers.OfType<BatchNorm<double>>().Should().ContainSingle().Which.RunningVariance[units - 1].Should().Be(1);
    }

    [Fact]
    public void A_file_stored_as_float_and_loaded_as_double_fits_in_half_the_budget()
    {
        // The exporter's float file of a wide model: the decoded elements, counted the same for float and double, stay
        // below bytes / 4.
        var model = Model.Sequential<float>(256).Dense(512).ReLU().Dense(512).ReLU().Dense(10).Softmax().Build(seed: 1);
        byte[] bytes = OnnxExporter.ToBytes(model);
        var loaded = OnnxModel.Load<double>(bytes);
        loaded.Layers.OfType<Dense<double>>().Sum(d => d.Weight.Value.Length + d.Bias!.Value.Length).Should().BeLessThan(bytes.Length / 4);
        OnnxModel.MaxDecodedElements(bytes.Length).Should().BeGreaterThan(bytes.Length / 2);
    }

    [Fact]
    public void The_budget_is_two_elements_per_four_bytes_plus_16_Ki()
    {
        OnnxModel.MaxDecodedElements(0).Should().Be(16_384);
        OnnxModel.MaxDecodedElements(1_000_003).Should().Be(2 * (250_000 + 8192));
        OnnxModel.MaxDecodedElements(OnnxModel.MaxFileBytes).Should().Be((OnnxModel.MaxFileBytes / 2) + 16_384);
        ((Action)(() => OnnxModel.MaxDecodedElements(-1))).Should().Throw<ArgumentOutOfRangeException>();
    }

    private static float[] Ramp(int n)
    {
        var values = new float[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = ((i % 17) - 8) / 64f;
        }

        return values;
    }

    // The load's exception and the bytes it allocated on this thread, after a warm-up run (JIT, static tables).
    private (Exception? Error, long Allocated) Measure<T>(byte[] bytes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Run<T>(bytes);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Run<T>(bytes);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"Load<{typeof(T).Name}> of {bytes.Length:N0} bytes allocated {allocated:N0} bytes ({(double)allocated / bytes.Length:F1} × the file) and ended in {error?.GetType().Name ?? "a model"}");
        return (error, allocated);
    }

    private static Exception? Run<T>(byte[] bytes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        try
        {
            GC.KeepAlive(OnnxModel.Load<T>(bytes));
            return null;
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException)
        {
            return e;
        }
    }
}
