using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace DeepLearning.Tests.Models;

/// <summary>
/// Seeded fuzzing of the model-file reader (issue 11): thousands of mutations of real saved models must each end
/// in a loaded model or an <see cref="InvalidDataException"/> (the only content error Model.Load documents), and
/// allocate at most 4 × the file size + 1 MB.
/// </summary>
public sealed partial class ModelFileFuzzTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-modelfile-fuzz").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Every_mutation_of_a_saved_model_loads_or_fails_with_InvalidDataException_within_the_allocation_bound()
    {
        int total = 0;
        int loaded = 0;
        var failures = new List<string>();
        foreach (var (name, file) in SavedModels())
        {
            var cases = Mutations(file, new Random(name.Length * 7919)).ToList();
            cases.Count.Should().BeGreaterThan(1000, "each model gets over a thousand mutations");
            Warm(file);
            foreach (var (label, bytes) in cases)
            {
                total++;
                if (Run(bytes, useDouble: total % 2 == 0, out string? problem))
                {
                    loaded++;
                }

                if (problem is not null)
                {
                    failures.Add($"{name} / {label}: {problem}");
                }
            }
        }

        output.WriteLine($"{total} mutated files: {loaded} loaded, {total - loaded} rejected with InvalidDataException");
        failures.Should().BeEmpty();
        total.Should().BeGreaterThanOrEqualTo(2000);
        loaded.Should().BeGreaterThan(0, "mutations of the weight bytes alone still load");
        (total - loaded).Should().BeGreaterThan(total / 2);
    }

    private static IEnumerable<(string Name, byte[] File)> SavedModels()
    {
        string dir = Directory.CreateTempSubdirectory("dl-fuzz-src").FullName;
        try
        {
            // float: batch norm, dropout, a fused tanh, softmax output, L2, a standardizer in front.
            var (x, y) = TestData.Problem<float>(32, 6, 3, "softmax", seed: 5);
            var f = Model.Sequential<float>(6).Dense(8).BatchNorm().ReLU().Dropout(0.8).Dense(5, Activation.Tanh).Dense(3).Softmax().Build(seed: 5);
            f.InputTransform = Standardizer.Fit(DataSet.FromTargets(x, y));
            f.Regularizer = Regularization.L2(0.01);
            f.ComputeGradients(f.InputTransform.Apply(x), y);
            string pf = Path.Combine(dir, "f.safetensors");
            f.Save(pf);

            // double: leaky ReLU, batch norm after it, sigmoid output, a min-max scaler in front.
            var (xd, yd) = TestData.Problem<double>(16, 4, 1, "sigmoid", seed: 6);
            var d = Model.Sequential<double>(4).Dense(6, Activation.LeakyReLU).BatchNorm().Dense(4).ReLU().Dense(1).Sigmoid().Build(seed: 6);
            d.InputTransform = MinMaxScaler.Fit(DataSet.FromTargets(xd, yd));
            d.ComputeGradients(d.InputTransform.Apply(xd), yd);
            string pd = Path.Combine(dir, "d.safetensors");
            d.Save(pd);
            return [("float-mlp", File.ReadAllBytes(pf)), ("double-mlp", File.ReadAllBytes(pd))];
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private void Warm(byte[] file)
    {
        // JIT and type loading allocate once; measure only the steady state.
        Run(file, useDouble: false, out var p1).Should().BeTrue(p1);
        Run(file, useDouble: true, out var p2).Should().BeTrue(p2);
        Run(file[..^1], useDouble: false, out _);
        Run(file[..^1], useDouble: true, out _);
    }

    private bool Run(byte[] bytes, bool useDouble, out string? problem)
    {
        string path = Path.Combine(_dir, "case.safetensors");
        File.WriteAllBytes(path, bytes);
        problem = null;
        long bound = (4L * bytes.Length) + (1 << 20);
        long before = GC.GetAllocatedBytesForCurrentThread();
        object? model = null;
        try
        {
            model = useDouble ? Model.Load<double>(path) : Model.Load<float>(path);
        }
        catch (InvalidDataException)
        {
        }
        catch (Exception e)
        {
            problem = $"{e.GetType().Name}: {e.Message}";
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (allocated > bound)
        {
            problem = $"allocated {allocated:N0} bytes for a {bytes.Length:N0}-byte file (bound {bound:N0})";
        }

        try
        {
            // A model that loads is usable.
            _ = model switch
            {
                Model<float> m => (object)m.Predict(new Tensor<float>(1, m.InputSize)),
                Model<double> m => m.Predict(new Tensor<double>(1, m.InputSize)),
                _ => null,
            };
        }
        catch (Exception e)
        {
            problem = $"loaded, but Predict threw {e.GetType().Name}: {e.Message}";
        }

        return model is not null;
    }

    private static IEnumerable<(string Label, byte[] Bytes)> Mutations(byte[] file, Random r)
    {
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        string header = Encoding.UTF8.GetString(file, 8, n);
        byte[] data = file[(8 + n)..];
        int dataStart = 8 + n;

        // Truncation at every section boundary: inside the length, at the header's end, at every tensor's edges.
        var cuts = new SortedSet<int> { 0, 1, 4, 7, 8, 9, dataStart - 1, dataStart, dataStart + 1, file.Length - 1 };
        foreach (Match m in OffsetsPattern().Matches(header))
        {
            foreach (int off in new[] { int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) })
            {
                cuts.UnionWith([dataStart + off - 1, dataStart + off, dataStart + off + 1]);
            }
        }

        foreach (int cut in cuts.Where(c => c >= 0 && c < file.Length))
        {
            yield return ($"truncate at {cut}", file[..cut]);
        }

        for (int i = 0; i < 150; i++)
        {
            int cut = r.Next(file.Length);
            yield return ($"truncate at random {cut}", file[..cut]);
        }

        // Lying header lengths.
        ulong[] lengths = [0, 1, 2, (ulong)n - 1, (ulong)n + 1, (ulong)n + 8, (ulong)file.Length - 8, (ulong)file.Length, 64UL << 20, (64UL << 20) + 1, 1UL << 40, long.MaxValue, ulong.MaxValue, (ulong)r.NextInt64()];
        foreach (ulong len in lengths)
        {
            var b = (byte[])file.Clone();
            BinaryPrimitives.WriteUInt64LittleEndian(b, len);
            yield return ($"header length {len}", b);
        }

        // Bit flips, mostly in the header where they matter most.
        for (int i = 0; i < 500; i++)
        {
            var b = (byte[])file.Clone();
            int at = r.NextDouble() < 0.75 ? r.Next(Math.Min(file.Length, dataStart)) : r.Next(file.Length);
            int bit = r.Next(8);
            b[at] ^= (byte)(1 << bit);
            yield return ($"flip bit {bit} of byte {at}", b);
        }

        // Byte overwrites with characters that change JSON's meaning.
        byte[] special = "0123456789-.eE\"\\,:[]{}ntf \0"u8.ToArray().Concat(new byte[] { 0x80, 0xC3, 0xFF }).ToArray();
        for (int i = 0; i < 300; i++)
        {
            var b = (byte[])file.Clone();
            int at = 8 + r.Next(n);
            b[at] = r.NextDouble() < 0.8 ? special[r.Next(special.Length)] : (byte)r.Next(256);
            yield return ($"overwrite byte {at} with 0x{b[at]:X2}", b);
        }

        // Lying numbers: offsets, dimensions and architecture integers replaced by hostile values.
        var numbers = NumberPattern().Matches(header).ToList();
        string[] hostile = ["0", "1", "-1", "2147483647", "2147483648", "4294967296", "9223372036854775807", "9223372036854775808", "99999999999999999999999", "1e30", "1.5", "null", "\"7\"", "[]", "{}", "true"];
        for (int i = 0; i < 500; i++)
        {
            var m = numbers[r.Next(numbers.Count)];
            string replacement = r.NextDouble() < 0.25
                ? ((long.TryParse(m.Value, CultureInfo.InvariantCulture, out long v) ? v : 0) + r.Next(-9, 10)).ToString(CultureInfo.InvariantCulture)
                : hostile[r.Next(hostile.Length)];
            string h = string.Concat(header.AsSpan(0, m.Index), replacement, header.AsSpan(m.Index + m.Length));
            yield return ($"number at {m.Index} '{m.Value}' → '{replacement}'", Join(h, data));
        }

        // Names and words swapped: dtypes, activations, kinds, booleans, keys.
        (string From, string To)[] words =
        [
            ("F32", "F64"), ("F64", "F32"), ("F32", "I64"), ("F32", "U8"), ("ReLU", "99"), ("ReLU", "4"), ("Tanh", "tanh"), ("Dense", "Conv9"),
            ("BatchNorm", "Dropout"), ("True", "Maybe"), ("\"shape\"", "\"shapes\""), ("\"data_offsets\"", "\"data_offsets\":[0,0],\"x\""),
            ("weight", "bias"), ("running_var", "running_mean"), ("deeplearning", "other"), ("standardize", "minmax"), ("[", "[null,"),
            ("CategoricalCrossEntropy", "MeanSquaredError"), ("BinaryCrossEntropy", "Hinge"), ("u0022inputs", "u0022outputs"),
        ];
        foreach (var (from, to) in words)
        {
            var hits = Regex.Matches(header, Regex.Escape(from)).ToList();
            for (int k = 0; k < Math.Min(hits.Count, 6); k++)
            {
                var m = hits[r.Next(hits.Count)];
                string h = string.Concat(header.AsSpan(0, m.Index), to, header.AsSpan(m.Index + m.Length));
                yield return ($"'{from}' at {m.Index} → '{to}'", Join(h, data));
            }
        }

        // Malformed JSON: characters deleted, structure inserted, pieces duplicated.
        for (int i = 0; i < 250; i++)
        {
            int at = r.Next(header.Length);
            string h = (i % 3) switch
            {
                0 => header.Remove(at, 1),
                1 => header.Insert(at, "{}[],:\"\\"[r.Next(8)].ToString()),
                _ => header.Insert(at, header.Substring(r.Next(header.Length - 40), r.Next(1, 40))),
            };
            yield return ($"json edit {i % 3} at {at}", Join(h, data));
        }

        // Data section grown or shrunk while the header stays.
        yield return ("data + 1 byte", [.. file, 0]);
        yield return ("data + 1 MB", [.. file, .. new byte[1 << 20]]);
        yield return ("empty data", file[..dataStart]);
    }

    private static byte[] Join(string header, byte[] data) => ModelFileTests.Join(header, data);

    [GeneratedRegex("\"data_offsets\":\\[(\\d+),(\\d+)\\]")]
    private static partial Regex OffsetsPattern();

    [GeneratedRegex("(?<![0-9A-Fa-fu\\\\])\\d+")]
    private static partial Regex NumberPattern();
}
