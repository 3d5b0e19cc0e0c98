using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DeepLearning;

/// <summary>
/// Saves and loads models in the safetensors format: an 8-byte little-endian header length N, N bytes of
/// JSON header, then raw little-endian tensor data. Each tensor's header entry has "dtype" (F32 or F64),
/// "shape" and "data_offsets" [begin, end) relative to the data section. Tensor names are PyTorch-style
/// ("0.weight", "0.bias", "1.running_mean", ...) so PyTorch's safetensors reader loads the weights; the
/// architecture is a JSON string under "__metadata__" → "architecture".
/// </summary>
/// <remarks>
/// Saving is atomic: the file is written to a temporary file in the same folder, flushed to disk, then
/// renamed over the target, so a crash never leaves a half-written model in place of a good one. Loading
/// never executes anything and validates the header (length within the file, offsets in range, byte ranges
/// matching shapes and dtypes, architecture consistent with the tensors) before allocating, so a truncated,
/// corrupt or hostile file raises <see cref="InvalidDataException"/> and never allocates more than the file holds.
/// </remarks>
public static class ModelFile
{
    /// <summary>The largest header accepted, in bytes.</summary>
    public const long MaxHeaderBytes = 64L << 20;

    private const string FormatName = "deeplearning";

    /// <summary>Saves architecture, weights and running statistics (plus any extra tensors and metadata) atomically.</summary>
    /// <param name="model">The model.</param>
    /// <param name="path">The target file; replaced atomically if it exists.</param>
    /// <param name="extraTensors">More tensors to store (e.g. optimizer state), by unique name.</param>
    /// <param name="extraMetadata">More metadata strings to store.</param>
    public static void Save<T>(Model<T> model, string path, IReadOnlyDictionary<string, Tensor<T>>? extraTensors = null, IReadOnlyDictionary<string, string>? extraMetadata = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var tensors = new List<(string Name, Tensor<T> Tensor)>();
        foreach (var layer in model.Layers)
        {
            tensors.AddRange(layer.Parameters.Select(p => (p.Name, p.Value)));
            tensors.AddRange(layer.Buffers.Select(b => ($"{layer.Name}.{b.Key}", b.Value)));
        }

        var metadata = new Dictionary<string, string>
        {
            ["format"] = FormatName,
            ["version"] = "1",
            ["architecture"] = ArchitectureJson(model),
        };
        if (model.InputTransform is { } transform)
        {
            metadata["input_transform"] = transform.Kind;
            tensors.AddRange(transform.ExportTensors().Select(kv => ($"input_transform.{kv.Key}", kv.Value)));
        }

        if (model.TargetTransform is { } targetTransform)
        {
            metadata["target_transform"] = targetTransform.Kind;
            tensors.AddRange(targetTransform.ExportTensors().Select(kv => ($"target_transform.{kv.Key}", kv.Value)));
        }

        if (model.ClassNames is { } classNames)
        {
            metadata["class_names"] = new JsonArray(classNames.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()).ToJsonString();
        }

        if (extraTensors is not null)
        {
            tensors.AddRange(extraTensors.Select(kv => (kv.Key, kv.Value)));
        }

        if (extraMetadata is not null)
        {
            foreach (var (k, v) in extraMetadata)
            {
                metadata[k] = v;
            }
        }

        Write(path, tensors, metadata);
    }

    /// <summary>Loads a model saved by <see cref="Save{T}"/>, converting F32/F64 to <typeparamref name="T"/> if they differ.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is truncated, corrupt, or not a model file.</exception>
    public static Model<T> Load<T>(string path)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var file = Read<T>(path);
        return FromContents(file, path);
    }

    /// <summary>Reads every tensor and the metadata of a safetensors file, validating it first.</summary>
    public static SafeTensorsContents<T> Read<T>(string path)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"model file not found: {path}", path);
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        long fileLength = stream.Length;
        if (fileLength < 8)
        {
            throw Bad(path, $"the file has {fileLength} bytes, fewer than the 8-byte header length");
        }

        Span<byte> lenBytes = stackalloc byte[8];
        stream.ReadExactly(lenBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLength > (ulong)(fileLength - 8))
        {
            throw Bad(path, $"the header length {headerLength} runs past the end of the file ({fileLength} bytes)");
        }

        if (headerLength > MaxHeaderBytes)
        {
            throw Bad(path, $"the header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit");
        }

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        long dataLength = fileLength - 8 - (long)headerLength;
        JsonObject header;
        try
        {
            header = JsonNode.Parse(headerBytes, documentOptions: new JsonDocumentOptions { MaxDepth = 16 }) as JsonObject
                ?? throw Bad(path, "the header is not a JSON object");
        }
        catch (JsonException e)
        {
            throw Bad(path, $"the header is not valid JSON: {e.Message}");
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<(string Name, string DType, int[] Shape, long Begin, long End)>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                if (node is not JsonObject meta)
                {
                    throw Bad(path, "__metadata__ must be an object of strings");
                }

                foreach (var (k, v) in meta)
                {
                    metadata[k] = v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : throw Bad(path, $"metadata '{k}' is not a string");
                }

                continue;
            }

            entries.Add(ParseEntry(path, name, node, dataLength));
        }

        var tensors = new Dictionary<string, Tensor<T>>(StringComparer.Ordinal);
        long dataStart = 8 + (long)headerLength;
        foreach (var (name, dtype, shape, begin, end) in entries.OrderBy(e => e.Begin))
        {
            var tensor = new Tensor<T>(shape.Length == 0 ? [1] : shape);
            stream.Position = dataStart + begin;
            ReadTensor(stream, dtype, tensor.Span, (int)(end - begin));
            tensors[name] = tensor;
        }

        return new SafeTensorsContents<T>(tensors, metadata);
    }

    /// <summary>Writes tensors and metadata as a safetensors file, atomically.</summary>
    public static void Write<T>(string path, IReadOnlyList<(string Name, Tensor<T> Tensor)> tensors, IReadOnlyDictionary<string, string> metadata)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(metadata);
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors output is implemented for little-endian machines only");
        }

        string dtype = typeof(T) == typeof(float) ? "F32" : typeof(T) == typeof(double) ? "F64" : throw new NotSupportedException($"element type {typeof(T).Name} cannot be saved");
        int size = Marshal.SizeOf<T>();
        var header = new JsonObject();
        var meta = new JsonObject();
        foreach (var (k, v) in metadata)
        {
            meta[k] = v;
        }

        header["__metadata__"] = meta;
        long offset = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in tensors)
        {
            if (!seen.Add(name))
            {
                throw new ArgumentException($"tensor name '{name}' appears twice", nameof(tensors));
            }

            long bytes = (long)tensor.Length * size;
            header[name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray(tensor.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }

        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;
        AtomicFile.Write(path, fs =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
            fs.Write(len);
            fs.Write(json);
            for (int i = json.Length; i < padded; i++)
            {
                fs.WriteByte((byte)' ');
            }

            foreach (var (_, tensor) in tensors)
            {
                fs.Write(MemoryMarshal.AsBytes(tensor.ReadOnlySpan));
            }
        });
    }

    internal static string ArchitectureJson<T>(Model<T> model)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var layers = new JsonArray();
        foreach (var layer in model.Layers)
        {
            var config = layer.Config;
            var settings = new JsonObject();
            foreach (var (k, v) in config.Settings)
            {
                settings[k] = v;
            }

            layers.Add(new JsonObject
            {
                ["name"] = layer.Name,
                ["kind"] = config.Kind,
                ["inputSize"] = config.InputSize,
                ["settings"] = settings,
            });
        }

        return new JsonObject
        {
            ["inputs"] = model.InputSize,
            ["outputs"] = model.OutputSize,
            ["loss"] = model.Loss.Name,
            ["regularizer"] = model.Regularizer.Name,
            ["seed"] = model.Seed.ToString(CultureInfo.InvariantCulture),
            ["layers"] = layers,
        }.ToJsonString();
    }

    private static Model<T> FromContents<T>(SafeTensorsContents<T> file, string path)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!file.Metadata.TryGetValue("format", out var format) || format != FormatName || !file.Metadata.TryGetValue("architecture", out var arch))
        {
            throw Bad(path, "it is a safetensors file without a DeepLearning architecture in __metadata__ (format/architecture)");
        }

        int inputs;
        Loss loss;
        Regularizer regularizer;
        ulong seed;
        var configs = new List<(string Name, LayerConfig Config)>();
        try
        {
            var root = JsonNode.Parse(arch, documentOptions: new JsonDocumentOptions { MaxDepth = 16 })!.AsObject();
            inputs = root["inputs"]!.GetValue<int>();
            loss = Loss.Parse(root["loss"]!.GetValue<string>());
            regularizer = Regularization.Parse(root["regularizer"]?.GetValue<string>() ?? "None");
            seed = ulong.Parse(root["seed"]?.GetValue<string>() ?? "0", CultureInfo.InvariantCulture);
            foreach (var node in root["layers"]!.AsArray())
            {
                var o = node!.AsObject();
                var settings = o["settings"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<string>(), StringComparer.Ordinal);
                configs.Add((o["name"]!.GetValue<string>(), new LayerConfig(o["kind"]!.GetValue<string>(), o["inputSize"]!.GetValue<int>(), settings)));
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or FormatException or OverflowException or ArgumentException)
        {
            throw Bad(path, $"the architecture metadata is malformed: {e.Message}");
        }

        if (inputs < 1)
        {
            throw Bad(path, $"the architecture has {inputs} inputs");
        }

        // Before building (which allocates weights), check that every sized tensor the architecture implies is in the file.
        foreach (var (name, config) in configs)
        {
            try
            {
                if (config.Kind == "Dense")
                {
                    Expect(file, path, $"{name}.weight", [config.GetInt("units"), config.InputSize]);
                }
                else if (config.Kind == "BatchNorm")
                {
                    Expect(file, path, $"{name}.weight", [config.InputSize]);
                }
            }
            catch (FormatException e)
            {
                throw Bad(path, e.Message);
            }
        }

        Model<T> model;
        try
        {
            model = ModelFactory.FromConfigs<T>(inputs, configs, loss, seed);
        }
        catch (FormatException e)
        {
            throw Bad(path, e.Message);
        }

        model.Regularizer = regularizer;
        foreach (var layer in model.Layers)
        {
            foreach (var p in layer.Parameters)
            {
                CopyInto(file, path, p.Name, p.Value);
            }

            foreach (var (suffix, buffer) in layer.Buffers)
            {
                CopyInto(file, path, $"{layer.Name}.{suffix}", buffer);
            }
        }

        if (file.Metadata.TryGetValue("input_transform", out var kind))
        {
            var transformTensors = file.Tensors.Where(kv => kv.Key.StartsWith("input_transform.", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key["input_transform.".Length..], kv => kv.Value, StringComparer.Ordinal);
            try
            {
                model.InputTransform = InputTransforms.Restore<T>(kind, transformTensors);
            }
            catch (ArgumentException e)
            {
                throw Bad(path, $"the saved input transform is invalid: {e.Message}");
            }
        }

        if (file.Metadata.TryGetValue("target_transform", out var targetKind))
        {
            var targetTensors = file.Tensors.Where(kv => kv.Key.StartsWith("target_transform.", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key["target_transform.".Length..], kv => kv.Value, StringComparer.Ordinal);
            try
            {
                model.TargetTransform = InputTransforms.Restore<T>(targetKind, targetTensors) as Standardizer<T>
                    ?? throw Bad(path, $"the target transform must be '{Standardizer<T>.KindName}'; received '{targetKind}'");
            }
            catch (ArgumentException e)
            {
                throw Bad(path, $"the saved target transform is invalid: {e.Message}");
            }
        }

        if (file.Metadata.TryGetValue("class_names", out var namesJson))
        {
            try
            {
                var names = JsonNode.Parse(namesJson, documentOptions: new JsonDocumentOptions { MaxDepth = 4 })!.AsArray().Select(n => n!.GetValue<string>()).ToArray();
                model.ClassNames = names;
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or FormatException or ArgumentException)
            {
                throw Bad(path, $"the class_names metadata is invalid: {e.Message}");
            }
        }

        return model;
    }

    private static void Expect<T>(SafeTensorsContents<T> file, string path, string name, int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!file.Tensors.TryGetValue(name, out var t))
        {
            throw Bad(path, $"tensor '{name}' is missing");
        }

        if (!t.Shape.AsSpan().SequenceEqual(shape))
        {
            throw Bad(path, $"tensor '{name}' has shape {t.ShapeText} but the architecture needs {Tensor<T>.ShapeString(shape)}");
        }
    }

    private static void CopyInto<T>(SafeTensorsContents<T> file, string path, string name, Tensor<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!file.Tensors.TryGetValue(name, out var t))
        {
            throw Bad(path, $"tensor '{name}' is missing");
        }

        if (t.Length != destination.Length)
        {
            throw Bad(path, $"tensor '{name}' has shape {t.ShapeText} but the model needs {destination.ShapeText}");
        }

        t.ReadOnlySpan.CopyTo(destination.Span);
    }

    private static (string Name, string DType, int[] Shape, long Begin, long End) ParseEntry(string path, string name, JsonNode? node, long dataLength)
    {
        try
        {
            var o = node as JsonObject ?? throw Bad(path, $"tensor '{name}' is not an object");
            string dtype = o["dtype"]?.GetValue<string>() ?? throw Bad(path, $"tensor '{name}' has no dtype");
            int size = dtype switch
            {
                "F32" => 4,
                "F64" => 8,
                _ => throw Bad(path, $"tensor '{name}' has dtype '{dtype}'; only F32 and F64 are supported"),
            };
            var shapeNode = o["shape"] as JsonArray ?? throw Bad(path, $"tensor '{name}' has no shape");
            if (shapeNode.Count > 4)
            {
                throw Bad(path, $"tensor '{name}' has rank {shapeNode.Count}; at most 4 is supported");
            }

            var shape = shapeNode.Select(n => n!.GetValue<long>()).ToArray();
            long elements = 1;
            foreach (long d in shape)
            {
                if (d < 0 || d > int.MaxValue)
                {
                    throw Bad(path, $"tensor '{name}' has an invalid dimension {d}");
                }

                elements = checked(elements * d);
            }

            var offsets = o["data_offsets"] as JsonArray ?? throw Bad(path, $"tensor '{name}' has no data_offsets");
            if (offsets.Count != 2)
            {
                throw Bad(path, $"tensor '{name}' data_offsets must have two entries");
            }

            long begin = offsets[0]!.GetValue<long>();
            long end = offsets[1]!.GetValue<long>();
            if (begin < 0 || end < begin || end > dataLength)
            {
                throw Bad(path, $"tensor '{name}' data_offsets [{begin}, {end}) are outside the {dataLength}-byte data section");
            }

            if (checked(elements * size) != end - begin)
            {
                throw Bad(path, $"tensor '{name}' of shape [{string.Join(", ", shape)}] and dtype {dtype} needs {elements * size} bytes but its data_offsets span {end - begin}");
            }

            return (name, dtype, shape.Select(d => (int)d).ToArray(), begin, end);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException)
        {
            throw Bad(path, $"tensor '{name}' has a malformed header entry: {e.Message}");
        }
    }

    private static void ReadTensor<T>(Stream stream, string dtype, Span<T> destination, int bytes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool same = (dtype == "F32" && typeof(T) == typeof(float)) || (dtype == "F64" && typeof(T) == typeof(double));
        if (same && BitConverter.IsLittleEndian)
        {
            stream.ReadExactly(MemoryMarshal.AsBytes(destination));
            return;
        }

        var raw = new byte[bytes];
        stream.ReadExactly(raw);
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = dtype == "F32"
                ? T.CreateTruncating(BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(i * 4)))
                : T.CreateTruncating(BinaryPrimitives.ReadDoubleLittleEndian(raw.AsSpan(i * 8)));
        }
    }

    private static InvalidDataException Bad(string path, string why) => new($"'{path}' is not a valid model file: {why}");
}

/// <summary>The tensors and metadata read from a safetensors file.</summary>
/// <typeparam name="T">The element type the tensors were converted to.</typeparam>
/// <param name="Tensors">Tensors by name.</param>
/// <param name="Metadata">The "__metadata__" strings.</param>
public sealed record SafeTensorsContents<T>(IReadOnlyDictionary<string, Tensor<T>> Tensors, IReadOnlyDictionary<string, string> Metadata)
    where T : unmanaged, IFloatingPointIeee754<T>;
