using DeepLearning.Onnx.Proto;
using Graph = DeepLearning.Onnx.Tests.ImportTests.Graph;

namespace DeepLearning.Onnx.Tests;

/// <summary>
/// Repeated integer fields (int32_data, int64_data) of any length: counted when the file is read, decoded only for a
/// constant a node uses. They were capped at 64 entries, so valid files were reported as damaged.
/// </summary>
public class IntegerFieldTests
{
    private static readonly float[] _w = [0.5f, -1, 0.25f, 2, 1, 0, -0.5f, 0.75f, -2, 0.125f, 1.5f, -0.25f];

    [Fact]
    public void Integer_fields_of_any_length_are_counted_at_decode_and_read_only_where_used()
    {
        // int32_data and int64_data were capped at 64 entries, so a valid file with a FLOAT16 weight outside raw_data or
        // an unused INT64 initializer of 100 entries was reported as damaged.
        var g = new Graph("x", [null, 4]);
        g.Initializer("w", _w, 3, 4);
        var shape = new TensorProto { Name = "unused_shape", DataType = OnnxDataType.Int64 };
        shape.Dims.Add(100);
        shape.Int64Data.AddRange(Enumerable.Range(0, 100).Select(i => (long)i));
        g.Graph_.Initializers.Add(shape);
        g.Node("Gemm", ["x", "w"], "y", ("transB", 1L));
        OnnxModel.Load<float>(g.Encode("y", 3)).Layers.Should().ContainSingle();

        var half = new TensorProto { Name = "w16", DataType = 10 };
        half.Dims.AddRange([3, 40]);
        half.Int32Data.AddRange(Enumerable.Repeat(0x3C00L, 120));
        var g16 = new Graph("x", [null, 40]);
        g16.Graph_.Initializers.Add(half);
        g16.Node("Gemm", ["x", "w16"], "y", ("transB", 1L));
        FluentActions.Invoking(() => OnnxModel.Load<float>(g16.Encode("y", 3))).Should().Throw<NotSupportedException>()
            .WithMessage("*node 'n1' (op type 'Gemm'): the constant 'w16' has data type FLOAT16; supported: FLOAT, DOUBLE*");
    }

    [Fact]
    public void Packed_and_unpacked_integer_runs_decode_on_demand_and_malformed_runs_are_refused()
    {
        var w = new ProtoWriter();
        w.Int64(2, 9);
        w.Int64(5, 1);
        w.Bytes(5, [0x00, 0x96, 0x01, 0x01]); // packed 0, 150, 1
        w.Int64(5, 0);
        w.Bytes(7, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x05]); // packed −1, 5
        w.Int64(7, 300);
        var t = TensorProto.Decode(w.ToArray());
        t.Int32Count.Should().Be(5);
        t.Int64Count.Should().Be(3);
        var ints = new long[5];
        t.ReadIntegers(5, ints.AsSpan(), v => v);
        ints.Should().Equal(1, 0, 150, 1, 0);
        var longs = new long[3];
        t.ReadIntegers(7, longs.AsSpan(), v => v);
        longs.Should().Equal(-1, 5, 300);

        foreach (byte[] run in new[] { new byte[] { 0x01, 0x80 }, Enumerable.Repeat((byte)0x80, 11).Append((byte)0x01).ToArray() })
        {
            var bad = new ProtoWriter();
            bad.Bytes(5, run);
            FluentActions.Invoking(() => TensorProto.Decode(bad.ToArray())).Should().Throw<InvalidDataException>()
                .WithMessage("TensorProto: packed tensor.int32_data *");
        }
    }

    [PythonFact("onnx")]
    public void Checker_valid_files_with_long_unused_integer_fields_load()
    {
        // onnx.helper.make_tensor keeps INT64 in int64_data and FLOAT16 in int32_data; both were refused past 64 entries.
        string path = TestModels.TempFile("long-int-fields.onnx");
        const string script = """
            import sys, numpy as np, onnx
            from onnx import helper, TensorProto
            w = helper.make_tensor("w", TensorProto.FLOAT, [3, 100], np.ones(300, dtype=np.float32).tolist())
            shape = helper.make_tensor("shape", TensorProto.INT64, [100], list(range(100)))
            half = helper.make_tensor("half", TensorProto.FLOAT16, [3, 100], np.ones(300).tolist())
            assert len(shape.int64_data) == 100 and len(half.int32_data) == 300
            node = helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)
            graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 100])],
                                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], [w, shape, half])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
            model.ir_version = 8
            onnx.checker.check_model(model, full_check=True)
            onnx.save(model, sys.argv[1])
            print("ok")
            """;
        int code = Python.Run(["-c", script, path], out string output);
        code.Should().Be(0, output);
        OnnxModel.Load<float>(path).Layers.Should().ContainSingle();
    }
}
