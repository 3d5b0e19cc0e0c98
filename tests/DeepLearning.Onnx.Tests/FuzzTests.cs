using DeepLearning.Onnx.Proto;
using Xunit.Abstractions;

namespace DeepLearning.Onnx.Tests;

/// <summary>
/// The importer reads hostile files: a seeded fuzz run over mutated ONNX files (bit flips, byte overwrites,
/// truncation at every message boundary and at random points, lying lengths, huge and negative dimensions,
/// inserted and duplicated bytes) must end every case in a loaded model or one of the documented exceptions
/// (InvalidDataException, NotSupportedException) and allocate at most 4 × the file size + 1 MB.
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    private const long SlackBytes = 1 << 20;
    private long _worstExcess = long.MinValue;

    [Fact]
    public void Mutated_files_load_or_fail_with_documented_exceptions_and_bounded_allocation()
    {
        var seeds = new List<byte[]>
        {
            OnnxExporter.ToBytes(TestModels.Build<float>("batchnorm-tanh-leaky", "standardize").Model),
            OnnxExporter.ToBytes(TestModels.Build<double>("sigmoid", "minmax").Model),
            OnnxExporter.ToBytes(TestModels.Build<float>("linear-activation", "none").Model),
            OnnxExporter.ToBytes(TestModels.Regression<float>("none").Model),
            OnnxExporter.ToBytes(WithClassNames(TestModels.Build<float>("relu", "none").Model)),
            DropoutWithInt32Data(),
        };

        var random = new Random(20261130);
        int cases = 0, loaded = 0;
        var outcomes = new Dictionary<string, int>();
        foreach (var seed in seeds)
        {
            // Warm up (JIT, static tables) so the allocation measure sees only the load itself.
            Run(seed, out _);
            Run(seed, out _);

            // Truncation at every message boundary the reader can reach (every prefix of the first 64 bytes and
            // every 7th byte after: covers the header, the first nodes and the tensors' length prefixes).
            for (int length = 0; length < seed.Length; length += length < 64 ? 1 : 7)
            {
                Check(seed[..length], outcomes, ref cases, ref loaded);
            }

            for (int i = 0; i < 800; i++)
            {
                Check(Mutate(seed, random), outcomes, ref cases, ref loaded);
            }
        }

        foreach (var hostile in HostileTensors())
        {
            Check(hostile, outcomes, ref cases, ref loaded);
        }

        output.WriteLine($"{cases} cases: {string.Join(", ", outcomes.Select(kv => $"{kv.Key} {kv.Value}"))}; largest allocation minus 4 × file size: {_worstExcess:N0} bytes");
        cases.Should().BeGreaterThanOrEqualTo(2000);
        outcomes.Keys.Should().Contain(nameof(InvalidDataException), "most mutations break the file");
    }

    // Gemm then Dropout whose BOOL training_mode sits in int32_data (onnx.helper's layout), so mutations reach that field.
    private static byte[] DropoutWithInt32Data()
    {
        var g = new ImportTests.Graph("x", [null, 4]);
        g.Initializer("w", new float[12], 3, 4);
        g.Node("Gemm", ["x", "w"], "z", ("transB", 1L));
        g.Initializer("ratio", [0.5f]);
        var mode = new TensorProto { Name = "mode", DataType = 9 };
        mode.Int32Data.Add(0);
        g.Graph_.Initializers.Add(mode);
        g.Node("Dropout", ["z", "ratio", "mode"], "y");
        var bytes = g.Encode("y", 3, opset: 13);
        OnnxModel.Load<float>(bytes).Layers.Should().NotBeEmpty("the seed itself must load");
        return bytes;
    }

    // A classifier whose export carries "class_names" metadata, so mutations reach the importer's reading of it.
    private static Model<float> WithClassNames(Model<float> model)
    {
        model.IsClassifier.Should().BeTrue("the class-name seed must be a classifier");
        model.ClassNames = Enumerable.Range(0, model.ClassCount).Select(i => $"class {i}").ToArray();
        return model;
    }

    private void Check(byte[] bytes, Dictionary<string, int> outcomes, ref int cases, ref int loaded)
    {
        cases++;
        long allocated = Run(bytes, out string outcome);
        outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        if (outcome == "loaded")
        {
            loaded++;
        }

        _worstExcess = Math.Max(_worstExcess, allocated - (4L * bytes.Length));
        allocated.Should().BeLessThanOrEqualTo((4L * bytes.Length) + SlackBytes, $"case {cases} ({bytes.Length} bytes) ended in {outcome}");
    }

    private static long Run(byte[] bytes, out string outcome)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            var model = OnnxModel.Load<float>(bytes);
            outcome = "loaded";
            GC.KeepAlive(model);
        }
        catch (InvalidDataException)
        {
            outcome = nameof(InvalidDataException);
        }
        catch (NotSupportedException)
        {
            outcome = nameof(NotSupportedException);
        }

        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    private static byte[] Mutate(byte[] seed, Random random)
    {
        var b = (byte[])seed.Clone();
        switch (random.Next(7))
        {
            case 0:
                for (int k = random.Next(1, 5); k > 0; k--)
                {
                    b[random.Next(b.Length)] ^= (byte)(1 << random.Next(8));
                }

                return b;
            case 1:
                {
                    byte[] choices = [0x00, 0xFF, 0x7F, 0x80, 0x01, (byte)random.Next(256)];
                    b[random.Next(b.Length)] = choices[random.Next(choices.Length)];
                    return b;
                }

            case 2:
                return b[..random.Next(b.Length)];
            case 3:
                {
                    // A lying length or huge varint: 0xFF 0xFF 0xFF 0xFF 0x0F (4 GiB − 1) or a 10-byte varint.
                    int at = random.Next(b.Length - 10);
                    byte[] lie = random.Next(2) == 0 ? [0xFF, 0xFF, 0xFF, 0xFF, 0x0F] : [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
                    lie.CopyTo(b, at);
                    return b;
                }

            case 4:
                {
                    int at = random.Next(b.Length);
                    var insert = new byte[random.Next(1, 16)];
                    random.NextBytes(insert);
                    return [.. b[..at], .. insert, .. b[at..]];
                }

            case 5:
                {
                    int start = random.Next(b.Length);
                    int length = random.Next(1, Math.Min(256, b.Length - start) + 1);
                    int at = random.Next(b.Length);
                    return [.. b[..at], .. b.AsSpan(start, length), .. b[at..]];
                }

            default:
                {
                    // Overwrite a run with random bytes.
                    int start = random.Next(b.Length);
                    int length = Math.Min(random.Next(1, 32), b.Length - start);
                    random.NextBytes(b.AsSpan(start, length));
                    return b;
                }
        }
    }

    /// <summary>Well-formed protobuf whose tensors lie: huge, negative and overflowing dimensions, missing data.</summary>
    private static IEnumerable<byte[]> HostileTensors()
    {
        long[][] dimsCases =
        [
            [1L << 30, 1L << 30], [int.MaxValue, int.MaxValue], [-1, 4], [long.MaxValue, 2], [0, 1L << 40], [3, 4, 5, 6, 7, 8, 9, 10],
            [1L << 20, 4], [4, 1L << 20], [3, 4],
        ];
        foreach (var dims in dimsCases)
        {
            foreach (bool raw in new[] { true, false })
            {
                var g = new ImportTests.Graph("x", [null, 4]);
                var t = new TensorProto { Name = "w", DataType = OnnxDataType.Float, HasRaw = raw, Raw = raw ? new byte[48] : default };
                t.Dims.AddRange(dims);
                g.Graph_.Initializers.Add(t);
                g.Node("Gemm", ["x", "w"], "y", ("transB", 1L));
                yield return g.Encode("y", 3);
            }
        }
    }
}
