using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Unicode;

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
/// renamed over the target, so a crash never leaves a half-written model in place of a good one (stale
/// temporary files a killed save left behind are removed by the next save of the same target).
/// Loading never executes anything and validates the whole header (length within the file, well-formed JSON,
/// offsets sorted, contiguous and covering the data exactly, byte ranges matching shapes and dtypes,
/// architecture consistent with the tensors) before allocating, so a truncated, corrupt or hostile file raises
/// <see cref="InvalidDataException"/> naming the entry, and memory use stays within a small multiple of the
/// file's size. <see cref="LoadWeights{T}"/> reads a PyTorch <c>state_dict</c> into a model built in code.
/// </remarks>
public static class ModelFile
{
    /// <summary>The largest header accepted, in bytes.</summary>
    public const long MaxHeaderBytes = 64L << 20;

    // The metadata keys Save writes (or may write) itself; extraMetadata cannot set them.
    private static readonly string[] _reservedMetadata = ["format", "version", "architecture", "input_transform", "target_transform", "class_names"];

    /// <summary>The largest tensor rank accepted (the rank <see cref="Tensor{T}"/> supports).</summary>
    public const int MaxRank = 4;

    /// <summary>
    /// The most tensors a file may hold (8,192: thousands of layers, with optimizer state). Each tensor costs a few
    /// hundred bytes of bookkeeping whatever its size, so without a cap a header of many empty tensors would make the
    /// reader allocate many times the file's size.
    /// </summary>
    public const int MaxTensors = 8192;

    /// <summary>The most "__metadata__" entries a file may hold (4,096), for the same reason as <see cref="MaxTensors"/>.</summary>
    public const int MaxMetadataEntries = 4096;

    private const string FormatName = "deeplearning";

    private static readonly int[] _scalarShape = [1];

    /// <summary>Saves architecture, weights and running statistics (plus any extra tensors and metadata) atomically.</summary>
    /// <param name="model">The model.</param>
    /// <param name="path">The target file; replaced atomically if it exists.</param>
    /// <param name="extraTensors">More tensors to store (e.g. optimizer state), by unique name.</param>
    /// <param name="extraMetadata">More metadata strings to store; not the keys the file reserves (format, version, architecture, input_transform, target_transform, class_names).</param>
    /// <exception cref="InvalidOperationException">A weight or running statistic is NaN or ±∞, a running variance is negative, or the input transform is a custom kind not registered with <see cref="InputTransforms.Register"/> (Load would refuse the file); nothing is written.</exception>
    /// <exception cref="ArgumentException">An extra tensor is named "__metadata__", an extra metadata key is reserved, a tensor name repeats, an extra tensor name or metadata string holds a lone UTF-16 surrogate, or the header would exceed <see cref="MaxHeaderBytes"/>; nothing is written.</exception>
    /// <exception cref="InvalidOperationException">A Fit (or an in-place <see cref="GradientChecker.Check{T}"/>) holds the model on another thread, so its weights are changing and the file would mix two states; nothing is written. Saving from a callback of the Fit, on its own thread, is fine (checkpoints do).</exception>
    public static void Save<T>(Model<T> model, string path, IReadOnlyDictionary<string, Tensor<T>>? extraTensors = null, IReadOnlyDictionary<string, string>? extraMetadata = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);

        // A Fit on another thread steps the weights while they are written: the file would hold some layers from one step
        // and some from the next (a gradient check's perturbed coordinate, likewise). From a callback on the training
        // thread the Fit is paused, so checkpoints and callbacks may save. (A Fit that starts after this check is not seen.)
        if (InUse.HeldByAnotherThread(model) is { } holder)
        {
            throw new InvalidOperationException($"the model cannot be saved: {holder} on another thread is changing its weights, and the file would mix two states; save it after that returns, or from a training callback (on the training thread); nothing was written to '{path}'");
        }

        var tensors = new List<(string Name, Tensor<T> Tensor)>();
        foreach (var layer in model.Layers)
        {
            tensors.AddRange(layer.Parameters.Select(p => (p.Name, p.Value)));
            tensors.AddRange(layer.Buffers.Select(b => ($"{layer.Name}.{b.Key}", b.Value)));
        }

        // What Load refuses is never written (and never replaces a good file at this path): NaN or ±∞ weights, e.g. after
        // a run that diverged with the guard off, or a negative running variance.
        foreach (var (name, tensor) in tensors)
        {
            if (ValueProblem(tensor.ReadOnlySpan, name.EndsWith(".running_var", StringComparison.Ordinal)) is { } problem)
            {
                throw new InvalidOperationException($"the model cannot be saved: tensor '{name}' {problem}; nothing was written to '{path}'");
            }
        }

        var metadata = new Dictionary<string, string>
        {
            ["format"] = FormatName,
            ["version"] = "1",
            ["architecture"] = ArchitectureJson(model),
        };
        if (model.InputTransform is { } transform)
        {
            InputTransforms.CheckSavable(transform, "input transform", path);
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
            foreach (var (k, v) in extraTensors)
            {
                if (k == "__metadata__")
                {
                    throw new ArgumentException("extraTensors cannot hold a tensor named \"__metadata__\": safetensors reserves that name for the metadata", nameof(extraTensors));
                }

                ArgumentNullException.ThrowIfNull(v, $"extraTensors[\"{k}\"]");
                tensors.Add((k, v));
            }
        }

        if (extraMetadata is not null)
        {
            foreach (var (k, v) in extraMetadata)
            {
                // Overwriting what Save wrote would leave a file Load refuses or misreads.
                if (metadata.ContainsKey(k) || _reservedMetadata.Contains(k))
                {
                    throw new ArgumentException($"extraMetadata cannot set \"{k}\": the model file reserves it ({string.Join(", ", _reservedMetadata)})", nameof(extraMetadata));
                }

                metadata[k] = v;
            }
        }

        Write(path, tensors, metadata);
    }

    /// <summary>
    /// Loads a model saved by <see cref="Save{T}"/> (architecture from "__metadata__", then weights, running
    /// statistics and input transform), converting the stored element type to <typeparamref name="T"/> if they differ.
    /// </summary>
    /// <remarks>
    /// The whole file is validated (see <see cref="Read{T}"/>), and so is the architecture — every field of the
    /// right JSON kind, integers that fit, known names for losses, regularizers, activations, initializers and
    /// layer kinds (numeric strings such as "4" are not activation names), no duplicate keys, each Dense and
    /// BatchNorm backed by tensors of the shape it needs — before the model's weights are allocated; every weight and
    /// running statistic must be finite, and every BatchNorm running variance ≥ 0 (the message names the tensor and the
    /// index), since such a model would predict NaN. Only the
    /// exception types listed here escape; a corrupt or hostile file always ends in <see cref="InvalidDataException"/>
    /// naming the file and the entry. A custom layer kind is rebuilt by the factory registered for it with
    /// <see cref="LayerRegistry.Register"/>; what that factory allocates is up to it.
    /// </remarks>
    /// <param name="path">The model file.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null, empty or white space.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">The file system failed to open or read the file (including a file that
    /// shrank while it was being read).</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read.</exception>
    /// <exception cref="InvalidDataException">The contents are truncated, corrupt, hostile, or not a model file
    /// (e.g. a bare PyTorch state_dict: load that with <see cref="LoadWeights{T}"/> into a model built in code).</exception>
    public static Model<T> Load<T>(string path)
        where T : unmanaged, IFloatingPointIeee754<T> => Load<T>(path, null);

    /// <summary>
    /// Loads a model saved with a <see cref="CustomLoss"/>, given that loss again (a file holds only its name; the code
    /// is the caller's): as <see cref="Load{T}(string)"/>, with <paramref name="loss"/> in place of the stored name.
    /// </summary>
    /// <param name="path">The model file.</param>
    /// <param name="loss">The loss the model was saved with; its <see cref="Loss.Name"/> must equal the stored one.
    /// Null reads the stored name as a built-in loss, as <see cref="Load{T}(string)"/> does.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null, empty or white space.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">The file system failed to open or read the file.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read.</exception>
    /// <exception cref="InvalidDataException">The contents are truncated, corrupt, hostile or not a model file, or the
    /// stored loss name differs from <paramref name="loss"/>'s.</exception>
    public static Model<T> Load<T>(string path, Loss? loss)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var file = Read<T>(path);
        return FromContents(file, path, loss);
    }

    /// <summary>
    /// Loads the weights and batch-norm running statistics of a safetensors file — a PyTorch <c>state_dict</c>
    /// (e.g. saved with <c>safetensors.torch.save_file(model.state_dict(), path)</c>) or a file saved by this
    /// library — into a model built in code, matching tensors by name ("0.weight", "0.bias", "1.running_mean", …,
    /// the indices of an equivalent <c>nn.Sequential</c>). No architecture metadata is needed.
    /// </summary>
    /// <remarks>
    /// <para>Names follow <c>nn.Sequential</c>: <c>Dense</c> is <c>nn.Linear</c> (weight (n[l], n[l-1]), bias (n[l])),
    /// <c>BatchNorm</c> is <c>nn.BatchNorm1d</c> (weight γ, bias β, running_mean, running_var); a Dense with a
    /// fused activation takes two indices, as Linear and ReLU do. F16, BF16, F32, F64, I32 and I64 tensors are
    /// converted to <typeparamref name="T"/>. BatchNorm's <c>num_batches_tracked</c> (int64) is accepted and ignored,
    /// and so are the extra tensors this library saves beside the state_dict ("input_transform.*", "optimizer.*")
    /// when the file is one of its own.</para>
    /// <para>Strict (the default): every parameter and buffer of the model must be in the file with the same
    /// shape and the file must hold nothing else; otherwise nothing is loaded and an
    /// <see cref="InvalidDataException"/> lists the missing keys, the unexpected keys and the shape mismatches.
    /// Not strict: the tensors whose names and shapes match are loaded, the rest is left as it was, and the
    /// returned report says which were missing, unexpected or mismatched.</para>
    /// </remarks>
    /// <param name="model">The model to fill.</param>
    /// <param name="path">The safetensors file.</param>
    /// <param name="strict">Require an exact match of names and shapes (true, the default) or load what matches.</param>
    /// <returns>What was loaded, missing, unexpected, mismatched and ignored.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null, empty or white space.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">The file system failed to open or read the file.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read.</exception>
    /// <exception cref="InvalidDataException">The file is not valid safetensors, (strict) does not match the model, or a
    /// tensor to load holds NaN or ±∞ (or a BatchNorm running_var a negative value); nothing is loaded then.</exception>
    public static WeightLoadReport LoadWeights<T>(Model<T> model, string path, bool strict = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var file = Read<T>(path);
        bool ours = file.Metadata.TryGetValue("format", out var format) && format == FormatName;
        var targets = new List<(string Name, Tensor<T> Tensor)>();
        foreach (var layer in model.Layers)
        {
            targets.AddRange(layer.Parameters.Select(p => (p.Name, p.Value)));
            targets.AddRange(layer.Buffers.Select(b => ($"{layer.Name}.{b.Key}", b.Value)));
        }

        var wanted = targets.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var loaded = new List<string>();
        var missing = new List<string>();
        var mismatches = new List<ShapeMismatch>();
        foreach (var (name, tensor) in targets)
        {
            if (!file.Tensors.TryGetValue(name, out var source))
            {
                missing.Add(name);
            }
            else if (!file.HasShape(name, tensor.Shape))
            {
                mismatches.Add(new ShapeMismatch(name, file.FileShape(name), tensor.Shape.ToArray()));
            }
            else
            {
                loaded.Add(name);
            }
        }

        var unexpected = new List<string>();
        var ignored = new List<string>();
        foreach (var name in file.Tensors.Keys.Where(k => !wanted.Contains(k)).Order(StringComparer.Ordinal))
        {
            bool bookkeeping = name.EndsWith(".num_batches_tracked", StringComparison.Ordinal) || name == "num_batches_tracked"
                || (ours && (name.StartsWith("input_transform.", StringComparison.Ordinal) || name.StartsWith("optimizer.", StringComparison.Ordinal)));
            (bookkeeping ? ignored : unexpected).Add(name);
        }

        var report = new WeightLoadReport(loaded, missing, unexpected, mismatches, ignored);
        if (strict && !report.IsExactMatch)
        {
            throw new InvalidDataException($"'{path}' does not match the model, so nothing was loaded (pass strict: false to load what matches): {report}");
        }

        var variances = model.Layers.OfType<BatchNorm<T>>().Select(l => $"{l.Name}.running_var").ToHashSet(StringComparer.Ordinal);
        foreach (var name in loaded)
        {
            if (ValueProblem(file.Tensors[name].ReadOnlySpan, variances.Contains(name)) is { } problem)
            {
                throw new InvalidDataException($"'{path}': tensor '{name}' {problem}; nothing was loaded");
            }
        }

        var byName = targets.ToDictionary(t => t.Name, t => t.Tensor, StringComparer.Ordinal);
        foreach (var name in loaded)
        {
            var target = byName[name];
            file.Tensors[name].ReadOnlySpan.CopyTo(target.WritableSpan);
            target.MarkWritten(); // after the copy too: see Tensor.CacheableWriteCount
        }

        return report;
    }

    /// <summary>
    /// Reads every tensor and the metadata of a safetensors file, converting F16, BF16, F32, F64, I32 and I64
    /// to <typeparamref name="T"/>. The whole header is validated against the bytes present before any tensor is
    /// allocated, so the memory used is bounded by a small multiple of the file's size.
    /// </summary>
    /// <remarks>
    /// Checked, each failure an <see cref="InvalidDataException"/> naming the file and the entry: at least 8 bytes;
    /// the header length within the file and at most <see cref="MaxHeaderBytes"/>; the header valid UTF-8 and
    /// well-formed JSON, an object with no duplicate keys, at most <see cref="MaxTensors"/> tensor entries and
    /// <see cref="MaxMetadataEntries"/> metadata entries; "__metadata__" an object of strings; every other entry
    /// an object with a known "dtype" string, a "shape" array of at most <see cref="MaxRank"/> integers in
    /// [0, 2³¹ − 1] that a <see cref="Tensor{T}"/> can hold (a zero dimension makes an empty tensor), and "data_offsets"
    /// two integers [begin, end) (a null or non-integer anywhere is an error); the
    /// byte size of each shape (checked for overflow) equal to end − begin; and the ranges, sorted by begin,
    /// contiguous and non-overlapping from 0 to exactly the end of the file, as the safetensors format requires.
    /// </remarks>
    /// <param name="path">The safetensors file.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null, empty or white space.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">The file system failed to open or read the file.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read.</exception>
    /// <exception cref="InvalidDataException">The contents are truncated, corrupt or hostile.</exception>
    public static SafeTensorsContents<T> Read<T>(string path)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"model file not found: {path}", path);
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        var (entries, metadata, dataStart) = ReadHeader(stream, path);
        var tensors = new Dictionary<string, Tensor<T>>(entries.Count, StringComparer.Ordinal);
        var scalars = new HashSet<string>(StringComparer.Ordinal);
        byte[]? chunk = null;
        stream.Position = dataStart;
        Tensor<T>? empty = null;
        foreach (var entry in entries)
        {
            // entries are sorted and contiguous, so the data is read front to back in one pass.
            if (entry.Begin == entry.End && empty is not null && entry.Shape.AsSpan().SequenceEqual(empty.ShapeArray))
            {
                tensors.Add(entry.Name, empty); // empty tensors of one shape are one (nothing in them can change)
                continue;
            }

            // The entry's shape array (checked in ParseEntry) becomes the tensor's, and scalars share one: a header of
            // many tiny tensors costs little more than its own size.
            var tensor = Tensor<T>.Adopt(entry.Shape.Length == 0 ? _scalarShape : entry.Shape);
            if (entry.Shape.Length == 0)
            {
                scalars.Add(entry.Name);
            }

            ReadTensor(stream, entry.DType, tensor.WritableSpan, ref chunk);
            tensor.MarkWritten();
            tensors.Add(entry.Name, tensor);
            if (tensor.Length == 0)
            {
                empty = tensor;
            }
        }

        return new SafeTensorsContents<T>(tensors, metadata) { Scalars = scalars };
    }

    /// <summary>
    /// The index of the first lone surrogate in <paramref name="text"/> (a UTF-16 code unit that is not half of a
    /// pair, so has no UTF-8 form), or −1 when the text is well-formed.
    /// </summary>
    internal static int LoneSurrogate(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private static void RequireWellFormed(string? text, string what, string parameter)
    {
        if (text is not null && LoneSurrogate(text) is var k and >= 0)
        {
            throw new ArgumentException($"{what} cannot be saved: it holds a lone UTF-16 surrogate (U+{(int)text[k]:X4}) at character {k}, which has no UTF-8 form", parameter);
        }
    }

    /// <summary>Writes tensors and metadata as a safetensors file, atomically.</summary>
    /// <exception cref="ArgumentException">A tensor name repeats, a tensor name or metadata string holds a lone UTF-16 surrogate (it has no UTF-8 form), there are more than <see cref="MaxTensors"/> tensors or <see cref="MaxMetadataEntries"/> metadata entries, or the header would exceed <see cref="MaxHeaderBytes"/> (checked before anything is written).</exception>
    public static void Write<T>(string path, IReadOnlyList<(string Name, Tensor<T> Tensor)> tensors, IReadOnlyDictionary<string, string> metadata)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(metadata);
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors output is implemented for little-endian machines only");
        }

        // What Read refuses is never written: a save that succeeds must load.
        if (tensors.Count > MaxTensors)
        {
            throw new ArgumentException($"{tensors.Count} tensors cannot be saved: a file holds at most {MaxTensors} (ModelFile.MaxTensors)", nameof(tensors));
        }

        if (metadata.Count > MaxMetadataEntries)
        {
            throw new ArgumentException($"{metadata.Count} metadata entries cannot be saved: a file holds at most {MaxMetadataEntries} (ModelFile.MaxMetadataEntries)", nameof(metadata));
        }

        // A lone surrogate has no UTF-8 form: the header would hold U+FFFD instead and the file load back different.
        foreach (var (k, v) in metadata)
        {
            RequireWellFormed(k, $"metadata key '{k}'", nameof(metadata));
            RequireWellFormed(v, $"the value of metadata '{k}'", nameof(metadata));
        }

        foreach (var (name, _) in tensors)
        {
            RequireWellFormed(name, $"tensor name '{name}'", nameof(tensors));
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
        if (padded > MaxHeaderBytes)
        {
            // Read refuses such a header; refused here before the file at this path is replaced.
            throw new ArgumentException($"the file's header would be {padded} bytes, over the {MaxHeaderBytes}-byte limit (ModelFile.MaxHeaderBytes), so it could not be read back; nothing was written to '{path}' (store less metadata, e.g. a training checkpoint with RecordIterations off)", nameof(metadata));
        }
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

            layers.Add((JsonNode)new JsonObject
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

    private static Model<T> FromContents<T>(SafeTensorsContents<T> file, string path, Loss? customLoss)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!file.Metadata.TryGetValue("format", out var format) || format != FormatName || !file.Metadata.TryGetValue("architecture", out var arch))
        {
            throw Bad(path, "it is a safetensors file without a DeepLearning architecture in __metadata__ (format/architecture); to load a PyTorch state_dict, build the model in code and call LoadWeights");
        }

        var (inputs, loss, regularizer, seed, configs) = ParseArchitecture(path, arch, customLoss);

        // Before building (which allocates weights), check every layer's settings and that every sized tensor
        // the architecture implies is in the file with the right shape.
        var names = new HashSet<string>(StringComparer.Ordinal);
        int width = inputs;
        for (int i = 0; i < configs.Count; i++)
        {
            var (name, config) = configs[i];
            string where = $"architecture layers[{i}] ('{name}', {config.Kind})";
            if (!names.Add(name))
            {
                throw Bad(path, $"{where}: the layer name '{name}' is used twice");
            }

            if (!LayerRegistry.IsRegistered(config.Kind))
            {
                throw Bad(path, $"{where}: unknown layer kind '{config.Kind}'; a custom layer needs a factory registered with LayerRegistry.Register before loading");
            }

            if (config.InputSize != width)
            {
                throw Bad(path, $"{where}: expects {config.InputSize} inputs but the previous layer gives {width}");
            }

            try
            {
                switch (config.Kind)
                {
                    case "Dense":
                        int units = StrictInt(config, "units");
                        _ = LayerRegistry.ParseActivation(config.Get("activation"));
                        Expect(file, path, $"{name}.weight", [units, config.InputSize]);
                        if (bool.TryParse(config.Get("useBias"), out bool useBias) && useBias)
                        {
                            Expect(file, path, $"{name}.bias", [units]);
                        }

                        width = units;
                        break;
                    case "Activation":
                        _ = LayerRegistry.ParseActivation(config.Get("activation"));
                        break;
                    case "BatchNorm":
                        Expect(file, path, $"{name}.weight", [config.InputSize]);
                        Expect(file, path, $"{name}.bias", [config.InputSize]);
                        Expect(file, path, $"{name}.running_mean", [config.InputSize]);
                        Expect(file, path, $"{name}.running_var", [config.InputSize]);
                        break;
                    case "Dropout":
                        break;
                    default:
                        width = -1; // a custom layer: its output width is known only once built
                        break;
                }
            }
            catch (FormatException e)
            {
                throw Bad(path, $"{where}: {e.Message}");
            }

            if (width < 0)
            {
                break;
            }
        }

        Model<T> model;
        try
        {
            model = ModelFactory.FromConfigs<T>(inputs, configs, loss, seed);
            model.Regularizer = regularizer;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException or OverflowException)
        {
            throw Bad(path, $"the architecture cannot be built: {e.Message}");
        }

        foreach (var layer in model.Layers)
        {
            foreach (var p in layer.Parameters)
            {
                CopyInto(file, path, p.Name, p.Value);
            }

            foreach (var (suffix, buffer) in layer.Buffers)
            {
                CopyInto(file, path, $"{layer.Name}.{suffix}", buffer, variance: layer is BatchNorm<T> && suffix == "running_var");
            }
        }

        if (file.Metadata.TryGetValue("input_transform", out var kind))
        {
            var transformTensors = file.Tensors.Where(kv => kv.Key.StartsWith("input_transform.", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key["input_transform.".Length..], kv => kv.Value, StringComparer.Ordinal);
            IInputTransform<T> transform;
            try
            {
                transform = InputTransforms.Restore<T>(kind, transformTensors);
            }
            catch (Exception e) when (e is InvalidDataException or ArgumentException or InvalidOperationException)
            {
                throw Bad(path, $"the saved input transform is invalid: {e.Message}");
            }

            if (transform.Features != model.InputSize)
            {
                throw Bad(path, $"the saved input transform '{kind}' has {transform.Features} features but the model has {model.InputSize} inputs");
            }

            model.InputTransform = transform;
        }

        if (file.Metadata.TryGetValue("target_transform", out var targetKind))
        {
            var targetTensors = file.Tensors.Where(kv => kv.Key.StartsWith("target_transform.", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key["target_transform.".Length..], kv => kv.Value, StringComparer.Ordinal);
            IInputTransform<T> target;
            try
            {
                target = InputTransforms.Restore<T>(targetKind, targetTensors);
            }
            catch (Exception e) when (e is InvalidDataException or ArgumentException or InvalidOperationException)
            {
                throw Bad(path, $"the saved target transform is invalid: {e.Message}");
            }

            model.TargetTransform = target as Standardizer<T>
                ?? throw Bad(path, $"the target transform must be '{Standardizer<T>.KindName}'; received '{targetKind}'");
        }

        if (file.Metadata.TryGetValue("class_names", out var namesJson))
        {
            try
            {
                var classNames = JsonNode.Parse(namesJson, documentOptions: new JsonDocumentOptions { MaxDepth = 4 })!.AsArray().Select(n => n!.GetValue<string>()).ToArray();
                model.ClassNames = classNames;
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or FormatException or ArgumentException)
            {
                throw Bad(path, $"the class_names metadata is invalid: {e.Message}");
            }
        }

        return model;
    }

    private static (int Inputs, Loss Loss, Regularizer Regularizer, ulong Seed, List<(string Name, LayerConfig Config)> Layers) ParseArchitecture(string path, string arch, Loss? customLoss)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(arch, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw Bad(path, $"the architecture metadata is not valid JSON: {e.Message}");
        }

        using (doc)
        {
            string where = "architecture";
            try
            {
                var root = Fields(path, doc.RootElement, where);
                int inputs = Int(path, Field(path, root, "inputs", where), "architecture.inputs");
                if (inputs < 1)
                {
                    throw Bad(path, $"architecture.inputs is {inputs}; it must be ≥ 1");
                }

                string lossName = Str(path, Field(path, root, "loss", where), "architecture.loss");
                Loss loss;
                if (customLoss is not null)
                {
                    loss = customLoss.Name == lossName ? customLoss
                        : throw Bad(path, $"architecture.loss is '{CsvLayout.Shorten(lossName)}' but the loss given is named '{CsvLayout.Shorten(customLoss.Name)}'; pass the loss the model was saved with");
                }
                else
                {
                    try
                    {
                        loss = Loss.Parse(lossName);
                    }
                    catch (FormatException)
                    {
                        throw Bad(path, $"architecture: unknown loss '{CsvLayout.Shorten(lossName)}' (not a built-in loss; a model saved with a custom loss loads with Model.Load<T>(path, loss), given that loss again)");
                    }
                }

                var regularizer = Regularization.Parse(root.TryGetValue("regularizer", out var r) ? Str(path, r, "architecture.regularizer") : "None");
                string seedText = root.TryGetValue("seed", out var s) ? Str(path, s, "architecture.seed") : "0";
                if (!ulong.TryParse(seedText, NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed))
                {
                    throw Bad(path, $"architecture.seed '{seedText}' is not an unsigned 64-bit integer");
                }

                var layersNode = Field(path, root, "layers", where);
                if (layersNode.ValueKind != JsonValueKind.Array)
                {
                    throw Bad(path, $"architecture.layers is {Describe(layersNode)}, not an array");
                }

                var layers = new List<(string, LayerConfig)>();
                int i = 0;
                foreach (var node in layersNode.EnumerateArray())
                {
                    where = $"architecture layers[{i}]";
                    var o = Fields(path, node, where);
                    string name = Str(path, Field(path, o, "name", where), where + ".name");
                    string kind = Str(path, Field(path, o, "kind", where), where + ".kind");
                    int inputSize = Int(path, Field(path, o, "inputSize", where), where + ".inputSize");
                    var settingsNode = Fields(path, Field(path, o, "settings", where), where + ".settings");
                    var settings = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (var (k, v) in settingsNode)
                    {
                        settings[k] = Str(path, v, $"{where}.settings.{k}");
                    }

                    layers.Add((name, new LayerConfig(kind, inputSize, settings)));
                    i++;
                }

                return (inputs, loss, regularizer, seed, layers);
            }
            catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException or OverflowException)
            {
                throw Bad(path, $"{where}: {e.Message}");
            }
        }
    }

    // The properties of a JSON object, refusing duplicate keys (which JSON leaves undefined).
    private static Dictionary<string, JsonElement> Fields(string path, JsonElement node, string where)
    {
        if (node.ValueKind != JsonValueKind.Object)
        {
            throw Bad(path, $"{where} is {Describe(node)}, not an object");
        }

        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var p in node.EnumerateObject())
        {
            if (!fields.TryAdd(p.Name, p.Value))
            {
                throw Bad(path, $"{where} has the key '{p.Name}' twice");
            }
        }

        return fields;
    }

    private static JsonElement Field(string path, Dictionary<string, JsonElement> fields, string key, string where) =>
        fields.TryGetValue(key, out var v) ? v : throw Bad(path, $"{where} lacks '{key}'");

    private static string Str(string path, JsonElement node, string what) =>
        node.ValueKind == JsonValueKind.String ? node.GetString()! : throw Bad(path, $"{what} is {Describe(node)}, not a string");

    private static int Int(string path, JsonElement node, string what)
    {
        if (node.ValueKind != JsonValueKind.Number)
        {
            throw Bad(path, $"{what} is {Describe(node)}, not an integer");
        }

        return node.TryGetInt32(out int v) ? v : throw Bad(path, $"{what} is {node.GetRawText()}, not a 32-bit integer");
    }

    private static long NonNegativeLong(string path, JsonElement node, string what)
    {
        if (node.ValueKind != JsonValueKind.Number)
        {
            throw Bad(path, $"{what} is {Describe(node)}, not a non-negative integer");
        }

        return node.TryGetInt64(out long v) && v >= 0 ? v : throw Bad(path, $"{what} is {node.GetRawText()}, not a non-negative 64-bit integer");
    }

    private static string Describe(JsonElement node) => node.ValueKind switch
    {
        JsonValueKind.Null => "null",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {node.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => node.GetRawText(),
        _ => node.ValueKind.ToString(),
    };

    private static int StrictInt(LayerConfig config, string key)
    {
        string text = config.Get(key);
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= 1
            ? v
            : throw new FormatException($"setting '{key}' is '{text}', not an integer in [1, {int.MaxValue}]");
    }

    private static void Expect<T>(SafeTensorsContents<T> file, string path, string name, int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!file.Tensors.TryGetValue(name, out var t))
        {
            throw Bad(path, $"tensor '{name}' is missing");
        }

        if (!file.HasShape(name, shape))
        {
            throw Bad(path, $"tensor '{name}' has shape {Tensor<T>.ShapeString(file.FileShape(name))} but the architecture needs {Tensor<T>.ShapeString(shape)}");
        }
    }

    private static void CopyInto<T>(SafeTensorsContents<T> file, string path, string name, Tensor<T> destination, bool variance = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!file.Tensors.TryGetValue(name, out var t))
        {
            throw Bad(path, $"tensor '{name}' is missing");
        }

        if (!file.HasShape(name, destination.Shape))
        {
            throw Bad(path, $"tensor '{name}' has shape {Tensor<T>.ShapeString(file.FileShape(name))} but the model needs {destination.ShapeText}");
        }

        if (ValueProblem(t.ReadOnlySpan, variance) is { } problem)
        {
            throw Bad(path, $"tensor '{name}' {problem}");
        }

        t.ReadOnlySpan.CopyTo(destination.WritableSpan);
        destination.MarkWritten();
    }

    // Why values cannot be a layer's weights or statistics ("holds NaN at index 3"), or null: every value finite, and a
    // running variance ≥ 0 (0 is fine: BatchNorm adds ε).
    internal static string? ValueProblem<T>(ReadOnlySpan<T> values, bool variance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int k = FiniteCheck.FirstNonFinite(values);
        if (k >= 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"holds {values[k]} at index {k}; weights and statistics must be finite");
        }

        if (variance)
        {
            for (int i = 0; i < values.Length; i++)
            {
                if (values[i] < T.Zero)
                {
                    return string.Create(CultureInfo.InvariantCulture, $"holds {values[i]} at index {i}; a running variance must be ≥ 0");
                }
            }
        }

        return null;
    }

    private static (List<Entry> Entries, Dictionary<string, string> Metadata, long DataStart) ReadHeader(FileStream stream, string path)
    {
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

        if (headerLength < 2)
        {
            throw Bad(path, $"the header length {headerLength} is too short for a JSON object");
        }

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;
        if (!Utf8.IsValid(headerBytes))
        {
            throw Bad(path, "the header is not valid UTF-8");
        }

        JsonDocument doc;
        try
        {
            // Count the entries before building the document, whose index (and ours) grows with them.
            var (tensorCount, metadataCount) = CountEntries(headerBytes);
            if (tensorCount > MaxTensors)
            {
                throw Bad(path, $"the header has {tensorCount} tensor entries; at most {MaxTensors} are accepted");
            }

            if (metadataCount > MaxMetadataEntries)
            {
                throw Bad(path, $"__metadata__ has {metadataCount} entries; at most {MaxMetadataEntries} are accepted");
            }

            doc = JsonDocument.Parse(headerBytes, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw Bad(path, $"the header is not valid JSON: {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            // A key with an escaped lone surrogate ("\ud800"), which has no UTF-16 form, met while counting the entries.
            throw Bad(path, $"the header is malformed: {e.Message}");
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        List<Entry> entries;
        using (doc)
        {
            // Messages are built only on failure: a header of many tiny entries must cost little per entry.
            string? current = null;
            try
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    throw Bad(path, $"the header is {Describe(root)}, not a JSON object");
                }

                int count = root.GetPropertyCount(); // at most MaxTensors + 1 (CountEntries)
                entries = new List<Entry>(count);
                var seen = new HashSet<string>(count, StringComparer.Ordinal);
                foreach (var property in root.EnumerateObject())
                {
                    string name = property.Name;
                    current = name;
                    if (!seen.Add(name))
                    {
                        throw Bad(path, $"the header has the key '{name}' twice");
                    }

                    if (name == "__metadata__")
                    {
                        foreach (var (k, v) in Fields(path, property.Value, "__metadata__"))
                        {
                            metadata[k] = Str(path, v, $"__metadata__ '{k}'");
                        }
                    }
                    else
                    {
                        entries.Add(ParseEntry(path, name, property.Value, dataLength));
                    }
                }
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException)
            {
                // e.g. a key or string with an escaped lone surrogate, which has no UTF-16 form.
                throw Bad(path, $"{(current is null ? "the header" : $"header entry '{current}'")} is malformed: {e.Message}");
            }
        }

        // The safetensors layout: tensors packed front to back, no gaps, no overlap, nothing after the last.
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long expected = 0;
        for (int i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            if (e.Begin != expected)
            {
                string previous = i == 0 ? "the start of the data section" : $"tensor '{entries[i - 1].Name}'";
                throw Bad(path, e.Begin < expected
                    ? $"tensor '{e.Name}' data_offsets [{e.Begin}, {e.End}) overlap {previous}, which ends at {expected}"
                    : $"tensor '{e.Name}' data_offsets [{e.Begin}, {e.End}) leave a gap after {previous}, which ends at {expected}");
            }

            expected = e.End;
        }

        if (expected != dataLength)
        {
            throw Bad(path, $"the tensors cover {expected} bytes of data but the data section after the header holds {dataLength}");
        }

        return (entries, metadata, dataStart);
    }

    // The number of top-level entries other than "__metadata__", and of entries in "__metadata__" (0 when the header is
    // not an object: the document reports that), read without allocating.
    private static (int Tensors, int Metadata) CountEntries(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 8 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return (0, 0);
        }

        int tensors = 0, metadata = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!reader.ValueTextEquals("__metadata__"u8))
            {
                tensors++;
                reader.Skip();
                continue;
            }

            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                metadata++;
                reader.Skip();
            }
        }

        return (tensors, metadata);
    }

    private static Entry ParseEntry(string path, string name, JsonElement node, long dataLength)
    {
        // Every message names the entry; they are built only when thrown.
        if (node.ValueKind != JsonValueKind.Object)
        {
            throw Bad(path, $"tensor '{name}' is {Describe(node)}, not an object");
        }

        JsonElement dtypeNode = default, shapeNode = default, offsetsNode = default;
        bool others = false;
        foreach (var p in node.EnumerateObject())
        {
            if (p.NameEquals("dtype"))
            {
                Take(ref dtypeNode, p, path, name);
            }
            else if (p.NameEquals("shape"))
            {
                Take(ref shapeNode, p, path, name);
            }
            else if (p.NameEquals("data_offsets"))
            {
                Take(ref offsetsNode, p, path, name);
            }
            else
            {
                others = true;
            }
        }

        if (others)
        {
            _ = Fields(path, node, $"tensor '{name}'"); // refuses a repeated key among the others too
        }

        var dtype = DTypeOf(path, name, dtypeNode);
        if (shapeNode.ValueKind == JsonValueKind.Undefined)
        {
            throw Bad(path, $"tensor '{name}' lacks 'shape'");
        }

        if (shapeNode.ValueKind != JsonValueKind.Array)
        {
            throw Bad(path, $"tensor '{name}' shape is {Describe(shapeNode)}, not an array");
        }

        int rank = shapeNode.GetArrayLength();
        if (rank > MaxRank)
        {
            throw Bad(path, $"tensor '{name}' has rank {rank}; at most {MaxRank} is supported");
        }

        var shape = rank == 0 ? [] : new int[rank];
        long elements = 1;
        int i = 0;
        foreach (var d in shapeNode.EnumerateArray())
        {
            long dim = EntryLong(path, name, d, "shape", i);
            if (dim > int.MaxValue)
            {
                throw Bad(path, $"tensor '{name}' shape[{i}] is {dim}, more than {int.MaxValue}");
            }

            shape[i++] = (int)dim;

            // Saturate just above the data size: such a product is an error anyway, and a later 0 still gives 0.
            elements = (long)Int128.Min((Int128)elements * dim, (Int128)dataLength + 1);
        }

        if (offsetsNode.ValueKind == JsonValueKind.Undefined)
        {
            throw Bad(path, $"tensor '{name}' lacks 'data_offsets'");
        }

        if (offsetsNode.ValueKind != JsonValueKind.Array || offsetsNode.GetArrayLength() != 2)
        {
            throw Bad(path, $"tensor '{name}' data_offsets must be an array of two integers [begin, end); found {Describe(offsetsNode)}");
        }

        long begin = EntryLong(path, name, offsetsNode[0], "data_offsets", 0);
        long end = EntryLong(path, name, offsetsNode[1], "data_offsets", 1);
        if (end < begin || end > dataLength)
        {
            throw Bad(path, $"tensor '{name}' data_offsets [{begin}, {end}) are outside the {dataLength}-byte data section");
        }

        int size = SizeOf(dtype);
        if (elements > dataLength || elements * size != end - begin)
        {
            string need = elements > dataLength ? $"more than {dataLength}" : (elements * size).ToString(CultureInfo.InvariantCulture);
            throw Bad(path, $"tensor '{name}' of shape [{string.Join(", ", shape)}] and dtype {dtypeNode.GetString()} needs {need} bytes but its data_offsets span {end - begin}");
        }

        // What a Tensor<T> can hold (a scalar is read as shape [1]), e.g. no more than Tensor.MaxLength elements of F16.
        if (rank > 0 && Tensor.ShapeProblem(shape) is { } problem)
        {
            throw Bad(path, $"tensor '{name}': {problem}");
        }

        return new Entry(name, dtype, shape, begin, end);
    }

    private static void Take(ref JsonElement slot, JsonProperty property, string path, string name)
    {
        if (slot.ValueKind != JsonValueKind.Undefined)
        {
            throw Bad(path, $"tensor '{name}' has the key '{property.Name}' twice");
        }

        slot = property.Value;
    }

    private static DType DTypeOf(string path, string name, JsonElement node)
    {
        if (node.ValueKind == JsonValueKind.Undefined)
        {
            throw Bad(path, $"tensor '{name}' lacks 'dtype'");
        }

        if (node.ValueKind != JsonValueKind.String)
        {
            throw Bad(path, $"tensor '{name}' dtype is {Describe(node)}, not a string");
        }

        return node.ValueEquals("F32") ? DType.F32
            : node.ValueEquals("F64") ? DType.F64
            : node.ValueEquals("F16") ? DType.F16
            : node.ValueEquals("BF16") ? DType.BF16
            : node.ValueEquals("I32") ? DType.I32
            : node.ValueEquals("I64") ? DType.I64
            : throw Bad(path, $"tensor '{name}' has dtype '{node.GetString()}'; supported are F16, BF16, F32, F64, I32 and I64");
    }

    // A header entry's shape[i] or data_offsets[i]: a non-negative 64-bit integer.
    private static long EntryLong(string path, string name, JsonElement node, string field, int index) =>
        node.ValueKind == JsonValueKind.Number && node.TryGetInt64(out long v) && v >= 0
            ? v
            : NonNegativeLong(path, node, $"tensor '{name}' {field}[{index}]");

    private static int SizeOf(DType dtype) => dtype switch
    {
        DType.F16 or DType.BF16 => 2,
        DType.F32 or DType.I32 => 4,
        _ => 8,
    };

    private static void ReadTensor<T>(Stream stream, DType dtype, Span<T> destination, ref byte[]? chunk)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool same = (dtype == DType.F32 && typeof(T) == typeof(float)) || (dtype == DType.F64 && typeof(T) == typeof(double));
        if (same && BitConverter.IsLittleEndian)
        {
            stream.ReadExactly(MemoryMarshal.AsBytes(destination));
            return;
        }

        // Convert through one small reusable buffer, never a copy of the whole tensor.
        int size = SizeOf(dtype);
        chunk ??= new byte[1 << 14];
        int perChunk = chunk.Length / size;
        for (int start = 0; start < destination.Length; start += perChunk)
        {
            int n = Math.Min(perChunk, destination.Length - start);
            var raw = chunk.AsSpan(0, n * size);
            stream.ReadExactly(raw);
            var dst = destination.Slice(start, n);
            for (int i = 0; i < n; i++)
            {
                var b = raw.Slice(i * size, size);
                dst[i] = dtype switch
                {
                    DType.F16 => T.CreateTruncating(BinaryPrimitives.ReadHalfLittleEndian(b)),
                    DType.BF16 => T.CreateTruncating(BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(b) << 16)),
                    DType.F32 => T.CreateTruncating(BinaryPrimitives.ReadSingleLittleEndian(b)),
                    DType.F64 => T.CreateTruncating(BinaryPrimitives.ReadDoubleLittleEndian(b)),
                    DType.I32 => T.CreateTruncating(BinaryPrimitives.ReadInt32LittleEndian(b)),
                    _ => T.CreateTruncating(BinaryPrimitives.ReadInt64LittleEndian(b)),
                };
            }
        }
    }

    private static InvalidDataException Bad(string path, string why) => new($"'{path}' is not a valid model file: {why}");

    private enum DType
    {
        F16,
        BF16,
        F32,
        F64,
        I32,
        I64,
    }

    private readonly record struct Entry(string Name, DType DType, int[] Shape, long Begin, long End);
}

/// <summary>The tensors and metadata read from a safetensors file.</summary>
/// <typeparam name="T">The element type the tensors were converted to.</typeparam>
/// <param name="Tensors">Tensors by name.</param>
/// <param name="Metadata">The "__metadata__" strings.</param>
public sealed record SafeTensorsContents<T>(IReadOnlyDictionary<string, Tensor<T>> Tensors, IReadOnlyDictionary<string, string> Metadata)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The names of the rank-0 (scalar) entries, which <see cref="Tensors"/> holds as shape (1): a scalar is no
    /// model tensor's shape, so loading compares the file's own rank.</summary>
    internal IReadOnlySet<string> Scalars { get; init; } = new HashSet<string>();

    /// <summary>The shape of a tensor as the file gave it (() for a scalar).</summary>
    internal int[] FileShape(string name) => Scalars.Contains(name) ? [] : Tensors[name].Shape.ToArray();

    /// <summary>Whether the file gave tensor <paramref name="name"/> exactly <paramref name="shape"/> (a scalar is shape ()).</summary>
    internal bool HasShape(string name, ReadOnlySpan<int> shape) => !Scalars.Contains(name) && Tensors[name].ShapeArray.AsSpan().SequenceEqual(shape);
}

/// <summary>
/// What <see cref="Model{T}.LoadWeights"/> did: the tensors loaded, and those missing from the file, unexpected
/// in it, of the wrong shape, or ignored (BatchNorm's num_batches_tracked, this library's own extra tensors).
/// </summary>
/// <param name="Loaded">Model tensors filled from the file.</param>
/// <param name="Missing">Model tensors the file lacks (left unchanged).</param>
/// <param name="Unexpected">File tensors the model has no place for.</param>
/// <param name="ShapeMismatches">Tensors in both whose shapes differ (left unchanged).</param>
/// <param name="Ignored">File tensors skipped on purpose.</param>
public sealed record WeightLoadReport(
    IReadOnlyList<string> Loaded,
    IReadOnlyList<string> Missing,
    IReadOnlyList<string> Unexpected,
    IReadOnlyList<ShapeMismatch> ShapeMismatches,
    IReadOnlyList<string> Ignored)
{
    /// <summary>True when every model tensor was loaded and the file held nothing else (ignored tensors aside).</summary>
    public bool IsExactMatch => Missing.Count == 0 && Unexpected.Count == 0 && ShapeMismatches.Count == 0;

    /// <inheritdoc/>
    public override string ToString()
    {
        var parts = new List<string> { $"{Loaded.Count} loaded" };
        if (Missing.Count > 0)
        {
            parts.Add($"missing keys: {string.Join(", ", Missing)}");
        }

        if (Unexpected.Count > 0)
        {
            parts.Add($"unexpected keys: {string.Join(", ", Unexpected)}");
        }

        if (ShapeMismatches.Count > 0)
        {
            parts.Add($"shape mismatches: {string.Join(", ", ShapeMismatches)}");
        }

        if (Ignored.Count > 0)
        {
            parts.Add($"ignored: {string.Join(", ", Ignored)}");
        }

        return string.Join("; ", parts);
    }
}

/// <summary>A tensor whose shape in the file differs from the model's.</summary>
/// <param name="Name">The tensor name, e.g. "0.weight".</param>
/// <param name="FileShape">The shape in the file.</param>
/// <param name="ModelShape">The shape the model needs.</param>
public sealed record ShapeMismatch(string Name, IReadOnlyList<int> FileShape, IReadOnlyList<int> ModelShape)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Name} is ({string.Join(", ", FileShape)}) in the file but ({string.Join(", ", ModelShape)}) in the model";
}
