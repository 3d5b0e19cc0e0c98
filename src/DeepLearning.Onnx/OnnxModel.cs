using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using DeepLearning.Onnx.Proto;

namespace DeepLearning.Onnx;

/// <summary>
/// Loads an ONNX file holding a sequential dense network as a <see cref="Model{T}"/> that runs in managed code: files
/// written by <see cref="OnnxExporter"/> (predictions are bit-identical to the exported model's) and what
/// <c>torch.onnx.export</c> writes for <c>nn.Sequential(nn.Linear, nn.ReLU, …, nn.Softmax)</c>.
/// </summary>
/// <remarks>
/// <para>The graph must be a chain: one input X (FLOAT or DOUBLE, shape (batch, n_x), or (batch, d1, d2, …)
/// followed by a <c>Flatten</c>), each node reading the previous node's output plus constants (initializers or
/// <c>Constant</c> nodes), one output. Supported operators (default domain, opsets <see cref="MinOpset"/> to
/// <see cref="MaxOpset"/>): see <see cref="SupportedOperators"/>.</para>
/// <list type="bullet">
/// <item><c>Gemm</c>(A, B, C) with alpha = beta = 1, transA = 0, transB = 0 or 1 → a Dense layer (Z = A·Wᵀ + b);
/// <c>MatMul</c>(A, B) → a Dense layer without bias, and an <c>Add</c> right after it (<c>Constant</c> and
/// <c>Identity</c> nodes may come between) → its bias b;</item>
/// <item><c>Relu</c>, <c>LeakyRelu</c>(alpha in [0, 1)), <c>Sigmoid</c>, <c>Tanh</c>, <c>Softmax</c> over the last
/// axis → activations (fused into the preceding Dense as the model builder does);</item>
/// <item><c>BatchNormalization</c> in inference form (training_mode = 0 and the single output Y; before opset 14 the
/// training form has no attribute and is told by its extra outputs, the running and saved statistics, so a node with
/// more than one output is refused) → BatchNorm with the running statistics;</item>
/// <item><c>Identity</c>, <c>Dropout</c> (inference) and <c>Flatten</c>(axis = 1) → nothing;</item>
/// <item><c>Sub</c>, <c>Div</c>, <c>Mul</c>, <c>Add</c> with per-feature constants before the first layer → the
/// model's <see cref="Model{T}.InputTransform"/> (exact for files from <see cref="OnnxExporter"/>, which stores the
/// transform in its metadata; otherwise a standardizer or min-max scaler equal to the nodes up to rounding: a min-max
/// scaler keeps min = −o/s and max = min + 1/s in T, and a Mul then Add (or a lone Add) whose rebuilt scale or offset
/// is more than 16 roundings (of T or of the graph's element type, whichever is coarser) from the graph's — because
/// |min| is too large next to 1/s for T — is a <see cref="NotSupportedException"/> naming the feature and both
/// values);</item>
/// <item><c>Mul</c>(Ŷ, σ) then <c>Add</c>(·, μ) ending the graph of a regression (the last layer is not softmax or
/// sigmoid), with constants of shape (C), (1, C) or a scalar, σ finite and &gt; 0 and μ finite → the model's
/// <see cref="Model{T}.TargetTransform"/>, a standardizer with y = ŷ·σ + μ (exact for files from
/// <see cref="OnnxExporter"/>, which stores it in its metadata; otherwise σ² = σ², ε = 0, which gives the graph's σ
/// back bit for bit or is refused).</item>
/// </list>
/// <para>A classifier gets the class names of the exporter's "class_names" metadata (one per class) as its
/// <see cref="Model{T}.ClassNames"/>, as <see cref="Model.Load{T}(string)"/> restores them; metadata that does not fit
/// the model is ignored.</para>
/// <para>The loss follows from the last layer: categorical cross-entropy after <c>Softmax</c>, binary after a final
/// <c>Sigmoid</c>, otherwise the regression loss named by the exporter's "loss" metadata (mean absolute error,
/// Huber(δ)) or mean squared error.</para>
/// <para>The file is read as hostile: every length and every tensor size is checked against the bytes present before
/// anything is allocated, and the counts of nodes, initializers, attributes and dimensions are capped, so a file
/// never makes the reader allocate more than a small multiple of its size (repeated integer fields, int32_data and
/// int64_data, are counted when read and decoded only for a constant a node uses, within the decode budget below).
/// Float attributes (ε, slopes, momentum) are read as the shortest decimal that rounds to them (1e-5f → 1e-5), which
/// is what PyTorch wrote; for a file from <see cref="OnnxExporter"/>, the "architecture" metadata gives the double
/// each layer was built with, matched by position (the k-th LeakyRelu node with the k-th leaky-ReLU layer, the k-th
/// BatchNormalization with the k-th BatchNorm), and used only when it rounds to the node's attribute and the layer
/// accepts it in T (a double model's momentum 0.99999999999 is 1 in float; the graph's attribute is then used).</para>
/// <para>Every node that reads a constant gets its own copy (a layer owns its weights), so a file naming one constant
/// from many nodes would expand without bound. The elements decoded from constants over the whole import, counting
/// each node's read of a constant again, are capped at <see cref="MaxDecodedElements"/> of the file's size,
/// 2 × (bytes / 4 + 8192), whatever the element type. A file that stores each value once uses at most half
/// of it (a FLOAT value takes at least 4 bytes of the file, a DOUBLE 8, loaded as float or double alike); the other
/// half is for constants an exporter merged and several nodes read (PyTorch merges equal initializers, such as the
/// ones and zeros of a fresh BatchNorm). A file beyond it (one weight matrix read by a chain of MatMul nodes) is an
/// <see cref="InvalidDataException"/> naming the node, the constant and the counts, raised before that constant is
/// decoded. A third element-wise node before the first layer is refused before its constant is decoded.</para>
/// </remarks>
public static class OnnxModel
{
    /// <summary>The lowest default-domain opset accepted.</summary>
    public const int MinOpset = 9;

    /// <summary>The highest default-domain opset accepted.</summary>
    public const int MaxOpset = 23;

    /// <summary>The largest file accepted, in bytes (1 GiB).</summary>
    public const long MaxFileBytes = 1L << 30;

    /// <summary>The operators the importer understands.</summary>
    public static IReadOnlyList<string> SupportedOperators { get; } =
        ["Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax", "BatchNormalization", "Dropout", "Identity", "Flatten", "Constant"];

    /// <summary>
    /// The most elements the importer decodes from constants for a file of <paramref name="fileBytes"/> bytes, over the
    /// whole import and counting every node's read of a constant again: 2 × (<paramref name="fileBytes"/> / 4 + 8192).
    /// </summary>
    /// <remarks>
    /// A file that stores each value once uses at most half of it (a FLOAT value takes at least 4 bytes of the file, a
    /// DOUBLE 8); the factor 2 leaves room for constants that an exporter stored once and several nodes read (PyTorch
    /// merges equal initializers, e.g. the ones and zeros of a fresh BatchNorm). It keeps a hostile file, such as one
    /// 512 × 512 matrix read by thousands of MatMul nodes, from making the reader allocate more than a small multiple of
    /// its size (each decoded element costs a few copies of <c>T</c>: the decoded array, a transposed copy, the layer's
    /// parameter and its gradient).
    /// </remarks>
    /// <param name="fileBytes">The size of the ONNX file or byte array.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fileBytes"/> is negative.</exception>
    public static long MaxDecodedElements(long fileBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fileBytes);

        // The 8192 lets a tiny file read its scalars and merged constants from several nodes.
        return 2 * ((fileBytes / 4) + 8192);
    }

    /// <summary>Loads the ONNX file at <paramref name="path"/> as a model of element type <typeparamref name="T"/> (FLOAT and DOUBLE data are converted).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is truncated, corrupt, larger than <see cref="MaxFileBytes"/>, not a valid chain of the supported operators' inputs and shapes, or its nodes read more constant elements than <see cref="MaxDecodedElements"/> allows for its size.</exception>
    /// <exception cref="NotSupportedException">The file is valid ONNX but uses an operator, attribute, data type, opset or layout the importer does not support; the message names the node, its op type and what is supported.</exception>
    public static Model<T> Load<T>(string path)
        where T : unmanaged, IFloatingPointIeee754<T> => Load<T>(ReadFile(path), path);

    /// <summary>Loads an ONNX model from its bytes; see <see cref="Load{T}(string)"/>.</summary>
    /// <exception cref="InvalidDataException">The bytes are truncated, corrupt, not a valid chain of supported operators, or their nodes read more constant elements than <see cref="MaxDecodedElements"/> allows for their length.</exception>
    /// <exception cref="NotSupportedException">The model uses an operator, attribute, data type, opset or layout the importer does not support.</exception>
    public static Model<T> Load<T>(byte[] bytes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return Load<T>(bytes, "ONNX data");
    }

    /// <summary>The metadata_props of an ONNX file (e.g. "producer", "class_names", "architecture"), read with the same checks as <see cref="Load{T}(string)"/>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is truncated or corrupt.</exception>
    /// <exception cref="NotSupportedException">The file uses a feature the reader does not support (e.g. sparse initializers).</exception>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path)
    {
        var proto = Decode(ReadFile(path), path);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in proto.Metadata)
        {
            result[k] = v;
        }

        return result;
    }

    private static byte[] ReadFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"ONNX file not found: {path}", path);
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        if (stream.Length > MaxFileBytes)
        {
            throw new InvalidDataException($"{path}: the file has {stream.Length} bytes, more than the {MaxFileBytes}-byte limit");
        }

        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    private static ModelProto Decode(byte[] bytes, string source)
    {
        try
        {
            return ModelProto.Decode(bytes);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{source}: {e.Message}", e);
        }
        catch (NotSupportedException e)
        {
            throw new NotSupportedException($"{source}: {e.Message}", e);
        }
    }

    private static Model<T> Load<T>(byte[] bytes, string source)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var proto = Decode(bytes, source);
        try
        {
            return new Importer<T>(proto, bytes.Length).Build();
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{source}: {e.Message}", e);
        }
        catch (NotSupportedException e)
        {
            throw new NotSupportedException($"{source}: {e.Message}", e);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            // A value the layers reject (e.g. a config the library cannot build): the file is not a loadable model.
            throw new InvalidDataException($"{source}: {e.Message}", e);
        }
    }

    private abstract record Step;

    private sealed record DenseStep<T>(int Units, int Inputs, T[] Weight, string? Prefix) : Step
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T[]? Bias { get; set; }
    }

    private sealed record BatchNormStep<T>(int Size, T[] Gamma, T[] Beta, T[] Mean, T[] Variance, double Epsilon, double Momentum, string? Prefix) : Step
        where T : unmanaged, IFloatingPointIeee754<T>;

    private sealed record ActivationStep(Activation Activation, double Slope, int Width) : Step;

    /// <summary>Walks the graph once, turning nodes into layer steps, then builds and fills the model.</summary>
    private sealed class Importer<T>(ModelProto proto, long fileBytes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly Dictionary<string, TensorProto> _constants = new(StringComparer.Ordinal);
        private readonly HashSet<string> _defined = new(StringComparer.Ordinal);
        private readonly List<Step> _steps = [];
        private readonly List<(string Op, T[] Constant, NodeProto Node)> _prefix = [];
        private NodeProto? _targetMul;
        private (T[] Values, string Name, NodeProto Node)? _targetScale;
        private (T[] Values, string Name, NodeProto Node)? _targetOffset;
        private int _opset;
        private int _width = -1;
        private int _inputWidth = -1;
        private double _graphEpsilon = double.Epsilon;
        private int _rank = 2;
        private string _current = string.Empty;
        private NodeProto? _lastLayerNode;

        // The exporter's "architecture" metadata, by position: the slope of each leaky-ReLU layer and the ε and momentum
        // of each BatchNorm layer, in layer order (null for a setting that does not parse). Empty when absent, malformed,
        // or when the graph has another number of LeakyRelu or BatchNormalization nodes.
        private List<double?> _leakySlopes = [];
        private List<(double? Epsilon, double? Momentum)> _batchNormSettings = [];
        private int _leakyNodes;
        private int _batchNormNodes;

        // Elements decoded from constants so far, every node's read counted, against MaxDecodedElements(file size).
        private readonly long _decodeBudget = MaxDecodedElements(fileBytes);
        private readonly Dictionary<string, int> _reads = new(StringComparer.Ordinal);
        private long _decoded;

        public Model<T> Build()
        {
            var graph = proto.Graph ?? throw new InvalidDataException("the model holds no graph");
            ReadOpset();
            foreach (var t in graph.Initializers)
            {
                if (t.Name.Length == 0)
                {
                    throw new InvalidDataException("an initializer has no name");
                }

                if (!_constants.TryAdd(t.Name, t))
                {
                    throw new InvalidDataException($"two initializers are named '{t.Name}'");
                }

                _defined.Add(t.Name);
            }

            ReadInput(graph);
            if (graph.Outputs.Count != 1)
            {
                throw new NotSupportedException($"the graph has {graph.Outputs.Count} outputs; a sequential model has exactly one");
            }

            // Mul then Add as the graph's last two data nodes may undo a regression's target transform.
            var chain = graph.Nodes.Where(n => n.OpType != "Constant").ToList();
            if (chain.Count >= 2 && chain[^2].OpType == "Mul" && chain[^1].OpType == "Add")
            {
                _targetMul = chain[^2];
            }

            ReadArchitectureSettings(graph);

            // The last node that computed something: a Constant only defines a value, and an Identity passes its input
            // on, so neither comes between a MatMul and the Add of its bias.
            NodeProto? previous = null;
            foreach (var node in graph.Nodes)
            {
                Visit(node, previous);
                if (node.OpType is not ("Constant" or "Identity"))
                {
                    previous = node;
                }
            }

            var output = graph.Outputs[0];
            if (output.Name != _current)
            {
                throw new InvalidDataException($"the graph output '{output.Name}' is not the end of the chain of nodes (which ends in '{_current}')");
            }

            if (!_steps.Any(s => s is DenseStep<T>))
            {
                throw new NotSupportedException("the graph has no Gemm or MatMul node; a model needs at least one dense layer");
            }

            if (output.Shape is { Count: > 0 } shape && shape[^1].Value is long outWidth && outWidth != _width)
            {
                throw new InvalidDataException($"the graph output '{output.Name}' declares {outWidth} columns but the layers produce {_width}");
            }

            var transform = ResolveTransform();
            var model = CreateModel();
            model.InputTransform = transform;
            if (_targetScale is { } scale && _targetOffset is { } offset)
            {
                if (model.IsClassifier)
                {
                    throw Unsupported(scale.Node, $"a Mul then Add after the last layer is supported only as a regression's target transform, but the graph's output is a classifier's ({model.Loss.Name})");
                }

                model.TargetTransform = ResolveTargetTransform(scale, offset);
            }

            model.ClassNames = ReadClassNames(model);
            return model;
        }

        /// <summary>
        /// The exporter's "class_names" metadata for a classifier, one name per class (so a round trip keeps them, as
        /// <see cref="Model{T}.Save"/> does); null when absent or when it does not fit the model (metadata is a hint).
        /// </summary>
        private IReadOnlyList<string>? ReadClassNames(Model<T> model)
        {
            string? json = proto.Metadata.Where(kv => kv.Key == "class_names").Select(kv => kv.Value).LastOrDefault();
            if (json is null || !model.IsClassifier)
            {
                return null;
            }

            try
            {
                if (System.Text.Json.Nodes.JsonNode.Parse(json, documentOptions: new System.Text.Json.JsonDocumentOptions { MaxDepth = 2 }) is not System.Text.Json.Nodes.JsonArray array
                    || array.Count != model.ClassCount)
                {
                    return null;
                }

                var names = new string[array.Count];
                for (int i = 0; i < names.Length; i++)
                {
                    if (array[i] is not System.Text.Json.Nodes.JsonValue v || !v.TryGetValue(out string? name))
                    {
                        return null;
                    }

                    names[i] = name;
                }

                return names;
            }
            catch (System.Text.Json.JsonException)
            {
                return null;
            }
        }

        /// <summary>
        /// The double a float attribute was written from: <paramref name="candidate"/> (the setting of the layer this node
        /// came from, in the exporter's "architecture" metadata) when it rounds to the attribute and
        /// <paramref name="valid"/> accepts it (e.g. it is still a valid ε once rounded to T); else the shortest decimal
        /// that rounds to the attribute (1e-5f → 1e-5, what PyTorch wrote). The graph is authoritative: the metadata
        /// only restores the digits that float dropped.
        /// </summary>
        private static double Refine(float value, double? candidate, Func<double, bool> valid) =>
            candidate is double c && (float)c == value && valid(c) ? c : InputTransformNodes.ShortestDouble(value);

        /// <summary>
        /// Reads the slope of each leaky-ReLU layer and the ε and momentum of each BatchNorm layer from the exporter's
        /// "architecture" metadata, to be matched by position with the graph's LeakyRelu and BatchNormalization nodes
        /// (the exporter writes one such node per such layer, in order); a list whose length differs from the graph's
        /// count of those nodes is dropped. Metadata is a hint: a malformed entry is ignored.
        /// </summary>
        private void ReadArchitectureSettings(GraphProto graph)
        {
            string? json = proto.Metadata.Where(kv => kv.Key == "architecture").Select(kv => kv.Value).LastOrDefault();
            if (json is null)
            {
                return;
            }

            var slopes = new List<double?>();
            var batchNorms = new List<(double?, double?)>();
            try
            {
                if (System.Text.Json.Nodes.JsonNode.Parse(json, documentOptions: new System.Text.Json.JsonDocumentOptions { MaxDepth = 8 }) is not System.Text.Json.Nodes.JsonObject o
                    || o["layers"] is not System.Text.Json.Nodes.JsonArray layers)
                {
                    return;
                }

                foreach (var layer in layers)
                {
                    if (layer is not System.Text.Json.Nodes.JsonObject l || l["settings"] is not System.Text.Json.Nodes.JsonObject settings)
                    {
                        continue;
                    }

                    if (Text(settings, "activation") == nameof(Activation.LeakyReLU))
                    {
                        slopes.Add(Number(settings, "leakySlope"));
                    }

                    if (Text(l, "kind") == "BatchNorm")
                    {
                        batchNorms.Add((Number(settings, "epsilon"), Number(settings, "momentum")));
                    }
                }
            }
            catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException or InvalidOperationException)
            {
                // Bad JSON, duplicate keys, a layer that is not an object: the attributes' shortest decimals are used.
                return;
            }

            if (slopes.Count == graph.Nodes.Count(n => n.OpType == "LeakyRelu"))
            {
                _leakySlopes = slopes;
            }

            if (batchNorms.Count == graph.Nodes.Count(n => n.OpType == "BatchNormalization"))
            {
                _batchNormSettings = batchNorms;
            }

            static string? Text(System.Text.Json.Nodes.JsonObject o, string key) =>
                o[key] is System.Text.Json.Nodes.JsonValue v && v.TryGetValue<string>(out var text) ? text : null;

            static double? Number(System.Text.Json.Nodes.JsonObject o, string key) =>
                Text(o, key) is { } text && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : null;
        }

        private static NotSupportedException Unsupported(NodeProto node, string detail) =>
            new($"node '{node.Name}' (op type '{node.OpType}'): {detail}; supported operators: {string.Join(", ", SupportedOperators)}");

        private static InvalidDataException Bad(NodeProto node, string detail) => new($"node '{node.Name}' (op type '{node.OpType}'): {detail}");

        private void ReadOpset()
        {
            long opset = -1;
            foreach (var (domain, version) in proto.Opsets)
            {
                if (domain is "" or "ai.onnx")
                {
                    opset = Math.Max(opset, version);
                }
            }

            if (opset < 0)
            {
                throw new InvalidDataException("the model imports no opset of the default ONNX domain");
            }

            if (opset is < MinOpset or > MaxOpset)
            {
                throw new NotSupportedException($"the model uses opset {opset}; supported opsets are {MinOpset} to {MaxOpset}");
            }

            _opset = (int)opset;
        }

        private void ReadInput(GraphProto graph)
        {
            var inputs = graph.Inputs.Where(i => !_constants.ContainsKey(i.Name)).ToList();
            if (inputs.Count != 1)
            {
                throw new NotSupportedException($"the graph has {inputs.Count} data inputs ({string.Join(", ", inputs.Select(i => $"'{i.Name}'"))}); a sequential model has exactly one");
            }

            var input = inputs[0];
            if (input.Name.Length == 0)
            {
                throw new InvalidDataException("the graph input has no name");
            }

            if (input.ElemType is not (OnnxDataType.Float or OnnxDataType.Double))
            {
                throw new NotSupportedException($"the graph input '{input.Name}' has element type {OnnxDataType.Name(input.ElemType)}; supported: FLOAT, DOUBLE");
            }

            // The precision ONNX Runtime computes the graph in: what a rebuilt input transform is compared to.
            _graphEpsilon = input.ElemType == OnnxDataType.Float ? double.CreateTruncating(MathF.BitIncrement(1f) - 1f) : Math.BitIncrement(1.0) - 1.0;
            if (input.Shape is { } shape)
            {
                if (shape.Count < 2)
                {
                    throw new NotSupportedException($"the graph input '{input.Name}' has rank {shape.Count}; a model takes (batch, n_x)");
                }

                _rank = shape.Count;
                long features = 1;
                for (int d = 1; d < shape.Count; d++)
                {
                    if (shape[d].Value is not long v)
                    {
                        features = -1;
                        break;
                    }

                    if (v < 1 || v > int.MaxValue)
                    {
                        throw new InvalidDataException($"the graph input '{input.Name}' has dimension {d} = {v}");
                    }

                    features *= v;
                    if (features > int.MaxValue)
                    {
                        throw new InvalidDataException($"the graph input '{input.Name}' has more than {int.MaxValue} features");
                    }
                }

                _width = (int)features;
                _inputWidth = _width;
            }

            _current = input.Name;
            _defined.Add(input.Name);
        }

        private void Visit(NodeProto node, NodeProto? previous)
        {
            if (node.Domain is not ("" or "ai.onnx"))
            {
                throw Unsupported(node, $"domain '{node.Domain}' is not supported (only the default ONNX domain)");
            }

            if (node.OpType == "Constant")
            {
                VisitConstant(node);
                return;
            }

            var data = node.Inputs.Where(i => i.Length > 0 && !_constants.ContainsKey(i)).ToList();
            if (data.Count != 1 || data[0] != _current)
            {
                throw Unsupported(node, $"it reads {(data.Count == 0 ? "no data input" : string.Join(", ", data.Select(d => $"'{d}'")))} but a sequential chain must read exactly the previous value '{_current}' (plus constants)");
            }

            if (_rank != 2 && node.OpType is not ("Flatten" or "Identity"))
            {
                throw Unsupported(node, $"the input has rank {_rank}; only Flatten (or Identity) may come before the first layer of a rank-{_rank} input");
            }

            switch (node.OpType)
            {
                case "Identity":
                    Attributes(node);
                    break;
                case "Flatten":
                    {
                        Attributes(node, "axis");
                        long axis = Int(node, "axis", 1);
                        if (axis != 1 && !(_rank == 2 && axis == -1))
                        {
                            throw Unsupported(node, $"axis = {axis} is not supported (only 1: keep the batch dimension)");
                        }

                        _rank = 2;
                        break;
                    }

                case "Dropout":
                    {
                        Attributes(node, "seed", "ratio", "is_test");
                        if (node.Inputs.Count > 2 && node.Inputs[2].Length > 0)
                        {
                            var mode = Values(node, node.Inputs[2], out _, allowInt: true, scalar: true);
                            if (mode.Length != 1 || mode[0] != T.Zero)
                            {
                                throw Unsupported(node, "training_mode must be false (inference)");
                            }
                        }

                        break;
                    }

                case "Gemm": VisitGemm(node); break;
                case "MatMul": VisitMatMul(node); break;
                case "Mul" when _steps.Count > 0 && ReferenceEquals(node, _targetMul):
                    _targetScale = TargetConstant(node, "scale σ");
                    break;
                case "Add" when _targetScale is not null:
                    _targetOffset = TargetConstant(node, "offset μ");
                    break;
                case "Add" when _steps.Count > 0:
                    VisitBias(node, previous);
                    break;
                case "Mul" when _steps.Count > 0:
                    throw Unsupported(node, "Mul is supported only before the first layer, as part of an input transform, or as the second-last node of the graph followed by Add, as a regression's target transform");
                case "Sub" or "Div" when _steps.Count > 0:
                    throw Unsupported(node, $"{node.OpType} is supported only before the first layer, as part of an input transform");
                case "Add" or "Sub" or "Mul" or "Div":
                    {
                        Attributes(node);
                        if (node.Inputs.Count != 2)
                        {
                            throw Bad(node, $"it has {node.Inputs.Count} inputs; expected 2");
                        }

                        if (node.OpType is "Sub" or "Div" && node.Inputs[0] != _current)
                        {
                            throw Unsupported(node, "only X − c and X / c are supported (the data on the left)");
                        }

                        // Refused here, before the constant is decoded: a file of hundreds of such nodes would
                        // otherwise decode every constant before the transform is resolved.
                        if (_prefix.Count == 2)
                        {
                            throw Unsupported(node, "at most two element-wise nodes (an input transform) may come before the first layer");
                        }

                        string c = node.Inputs.First(i => i != _current);
                        _prefix.Add((node.OpType, Values(node, c, out var dims), node));
                        CheckVectorShape(node, c, dims);
                        break;
                    }

                case "Relu": Attributes(node); AddActivation(node, Activation.ReLU, 0.01); break;
                case "Sigmoid": Attributes(node); AddActivation(node, Activation.Sigmoid, 0.01); break;
                case "Tanh": Attributes(node); AddActivation(node, Activation.Tanh, 0.01); break;
                case "LeakyRelu":
                    {
                        Attributes(node, "alpha");
                        double? candidate = _leakyNodes < _leakySlopes.Count ? _leakySlopes[_leakyNodes] : null;
                        _leakyNodes++;
                        double slope = Refine(Float(node, "alpha", 0.01f), candidate, c => c >= 0 && c < 1);
                        if (!(slope >= 0 && slope < 1))
                        {
                            throw Unsupported(node, $"alpha = {slope.ToString(CultureInfo.InvariantCulture)} is not supported (the leaky-ReLU slope must be in [0, 1))");
                        }

                        AddActivation(node, Activation.LeakyReLU, slope);
                        break;
                    }

                case "Softmax":
                    {
                        Attributes(node, "axis");
                        long axis = Int(node, "axis", _opset >= 13 ? -1 : 1);
                        if (axis is not (1 or -1))
                        {
                            throw Unsupported(node, $"axis = {axis} is not supported (only the last axis, 1 or −1)");
                        }

                        AddActivation(node, Activation.Softmax, 0.01);
                        break;
                    }

                case "BatchNormalization": VisitBatchNorm(node); break;
                default:
                    throw Unsupported(node, "this operator is not supported");
            }

            if (node.Outputs.Count == 0 || node.Outputs[0].Length == 0)
            {
                throw Bad(node, "it has no output");
            }

            for (int i = 0; i < node.Outputs.Count; i++)
            {
                if (node.Outputs[i].Length > 0 && !_defined.Add(node.Outputs[i]))
                {
                    throw Bad(node, $"its output '{node.Outputs[i]}' is already defined");
                }
            }

            _current = node.Outputs[0];
        }

        private void AddActivation(NodeProto node, Activation activation, double slope)
        {
            if (_width < 1)
            {
                throw Unsupported(node, "the width before this activation is unknown (give the graph input a shape)");
            }

            _steps.Add(new ActivationStep(activation, slope, _width));
        }

        private void VisitConstant(NodeProto node)
        {
            Attributes(node, "value", "value_float", "value_floats");
            if (node.Attributes.Count != 1 || node.Outputs.Count != 1 || node.Outputs[0].Length == 0)
            {
                throw Bad(node, "a Constant needs exactly one value attribute and one output");
            }

            var a = node.Attributes[0];
            (int type, string typeName) = a.Name switch
            {
                "value" => (OnnxAttributeType.Tensor, "TENSOR"),
                "value_float" => (OnnxAttributeType.Float, "FLOAT"),
                _ => (OnnxAttributeType.Floats, "FLOATS"),
            };

            // A value_float that carries a FLOATS payload (or the reverse) would otherwise become 0 (or empty); a writer
            // that leaves the type unset (0) must still have written the payload the name implies.
            bool wrongPayload = a.Type == 0 && ((a.Name == "value_float" && (a.Floats.Count > 0 || a.T is not null)) || (a.Name == "value_floats" && a.T is not null));
            if ((a.Type != type && a.Type != 0) || wrongPayload)
            {
                throw Bad(node, $"attribute '{a.Name}' must be a {typeName}; it has type {a.Type}{(wrongPayload ? " and a payload of another type" : string.Empty)}");
            }

            TensorProto t;
            switch (a.Name)
            {
                case "value":
                    t = a.T ?? throw Bad(node, "the 'value' attribute holds no tensor");
                    break;
                case "value_float":
                    t = new TensorProto { DataType = OnnxDataType.Float, HasRaw = true, Raw = FloatBytes([a.F]) };
                    break;
                default:
                    t = new TensorProto { DataType = OnnxDataType.Float, HasRaw = true, Raw = FloatBytes(a.Floats.ToArray()) };
                    t.Dims.Add(a.Floats.Count);
                    break;
            }

            string name = node.Outputs[0];
            if (!_defined.Add(name))
            {
                throw Bad(node, $"its output '{name}' is already defined");
            }

            t.Name = name;
            _constants[name] = t;
        }

        private static byte[] FloatBytes(float[] values)
        {
            var bytes = new byte[values.Length * 4];
            for (int i = 0; i < values.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
            }

            return bytes;
        }

        private void VisitGemm(NodeProto node)
        {
            Attributes(node, "alpha", "beta", "transA", "transB");
            if (node.Inputs.Count < 2 || node.Inputs[0] != _current)
            {
                throw Unsupported(node, "Gemm must read the previous value as A and a constant as B");
            }

            if (Float(node, "alpha", 1f) != 1f)
            {
                throw Unsupported(node, "alpha must be 1");
            }

            if (Int(node, "transA", 0) != 0)
            {
                throw Unsupported(node, "transA must be 0");
            }

            long transB = Int(node, "transB", 0);
            if (transB is not (0 or 1))
            {
                throw Bad(node, $"transB = {transB}; expected 0 or 1");
            }

            bool hasC = node.Inputs.Count > 2 && node.Inputs[2].Length > 0;
            if (hasC && Float(node, "beta", 1f) != 1f)
            {
                throw Unsupported(node, "beta must be 1");
            }

            var dense = DenseFrom(node, node.Inputs[1], transposed: transB == 1);
            if (hasC)
            {
                dense.Bias = BiasValues(node, node.Inputs[2], dense.Units);
            }

            _steps.Add(dense);
            _lastLayerNode = node;
        }

        private void VisitMatMul(NodeProto node)
        {
            Attributes(node);
            if (node.Inputs.Count != 2 || node.Inputs[0] != _current)
            {
                throw Unsupported(node, "MatMul must read the previous value as A and a constant matrix as B");
            }

            _steps.Add(DenseFrom(node, node.Inputs[1], transposed: false));
            _lastLayerNode = node;
        }

        private void VisitBias(NodeProto node, NodeProto? previous)
        {
            Attributes(node);
            if (node.Inputs.Count != 2)
            {
                throw Bad(node, $"it has {node.Inputs.Count} inputs; expected 2");
            }

            if (_steps[^1] is not DenseStep<T> { Bias: null } dense || previous is null || !ReferenceEquals(previous, _lastLayerNode))
            {
                throw Unsupported(node, "Add is supported only as the bias right after a MatMul or a Gemm without C, before the first layer as part of an input transform, or after a final Mul as a regression's target transform");
            }

            string c = node.Inputs.First(i => i != _current);
            dense.Bias = BiasValues(node, c, dense.Units);
        }

        private void VisitBatchNorm(NodeProto node)
        {
            Attributes(node, "epsilon", "momentum", "training_mode", "spatial");
            if (Int(node, "training_mode", 0) != 0)
            {
                throw Unsupported(node, "training_mode must be 0 (inference form)");
            }

            // Before opset 14 the training form is told by its outputs: Y plus the updated running and saved statistics
            // (it normalizes with the batch's own statistics, not the running ones). Opset 14 and later allow the extra
            // outputs only with training_mode = 1.
            int outputs = node.Outputs.Count(o => o.Length > 0);
            if (outputs > 1)
            {
                throw Unsupported(node, $"it has {outputs} outputs ({string.Join(", ", node.Outputs.Where(o => o.Length > 0).Select(o => $"'{o}'"))}); more than Y is the training form (the batch's statistics, not the running ones), and only the inference form with the single output Y is supported");
            }

            if (Int(node, "spatial", 1) != 1)
            {
                throw Unsupported(node, "spatial must be 1");
            }

            if (node.Inputs.Count != 5 || node.Inputs[0] != _current)
            {
                throw Bad(node, $"BatchNormalization needs X, scale, B, mean and var; received {node.Inputs.Count} inputs");
            }

            if (_width < 1)
            {
                throw Unsupported(node, "the width before BatchNormalization is unknown (give the input a shape or put a layer first)");
            }

            var parts = new T[4][];
            for (int i = 0; i < 4; i++)
            {
                parts[i] = Values(node, node.Inputs[i + 1], out var dims);
                if (dims.Count != 1 || parts[i].Length != _width)
                {
                    throw Bad(node, $"input '{node.Inputs[i + 1]}' must have shape ({_width}); received ({string.Join(", ", dims)})");
                }
            }

            foreach (var v in parts[3])
            {
                if (v < T.Zero)
                {
                    throw Bad(node, $"the running variance '{node.Inputs[4]}' holds {v}; variances must be ≥ 0");
                }
            }

            var (epsilonHint, momentumHint) = _batchNormNodes < _batchNormSettings.Count ? _batchNormSettings[_batchNormNodes] : (null, null);
            _batchNormNodes++;

            // The metadata's digits only where the layer accepts them in T (a double model's ε = 1e-300 is 0 in float,
            // its momentum 0.99999999999 is 1): otherwise the graph's own attribute.
            double epsilon = Refine(Float(node, "epsilon", 1e-5f), epsilonHint, c => c > 0 && double.IsFinite(c) && T.CreateTruncating(c) > T.Zero && T.IsFinite(T.CreateTruncating(c)));
            double momentum = Refine(Float(node, "momentum", 0.9f), momentumHint, c => c >= 0 && c < 1 && T.CreateTruncating(c) < T.One);
            if (!(epsilon > 0) || !double.IsFinite(epsilon))
            {
                throw Unsupported(node, $"epsilon = {epsilon.ToString(CultureInfo.InvariantCulture)} is not supported (must be finite and > 0)");
            }

            if (!(momentum >= 0 && momentum < 1))
            {
                momentum = 0.9; // only used for training; PyTorch writes 1 − its momentum, which is always in range
            }

            _steps.Add(new BatchNormStep<T>(_width, parts[0], parts[1], parts[2], parts[3], epsilon, momentum, Prefix(node.Inputs[1], ".weight")));
        }

        private DenseStep<T> DenseFrom(NodeProto node, string name, bool transposed)
        {
            var values = Values(node, name, out var dims);
            if (dims.Count != 2 || dims[0] < 1 || dims[1] < 1)
            {
                throw Bad(node, $"the weight '{name}' must be a matrix; received shape ({string.Join(", ", dims)})");
            }

            int rows = (int)dims[0];
            int cols = (int)dims[1];
            int units = transposed ? rows : cols;
            int inputs = transposed ? cols : rows;
            if (_width >= 0 && inputs != _width)
            {
                throw Bad(node, $"the weight '{name}' expects {inputs} inputs but the previous value has {_width} columns");
            }

            if (_inputWidth < 0)
            {
                _inputWidth = inputs;
            }

            _width = units;
            T[] w = values;
            if (!transposed)
            {
                // B is (K, N); W is (N, K).
                w = new T[values.Length];
                for (int k = 0; k < inputs; k++)
                {
                    for (int n = 0; n < units; n++)
                    {
                        w[(n * inputs) + k] = values[(k * units) + n];
                    }
                }
            }

            return new DenseStep<T>(units, inputs, w, Prefix(name, ".weight"));
        }

        private T[] BiasValues(NodeProto node, string name, int units)
        {
            var values = Values(node, name, out var dims);
            bool shapeOk = (dims.Count == 1 && dims[0] == units) || (dims.Count == 2 && dims[0] == 1 && dims[1] == units);
            if (!shapeOk && values.Length == 1)
            {
                return Enumerable.Repeat(values[0], units).ToArray();
            }

            return shapeOk ? values : throw Bad(node, $"the bias '{name}' must have shape ({units}) or (1, {units}); received ({string.Join(", ", dims)})");
        }

        private void CheckVectorShape(NodeProto node, string name, List<long> dims)
        {
            long last = dims.Count == 0 ? 1 : dims[^1];
            if (dims.Take(Math.Max(0, dims.Count - 1)).Any(d => d != 1) || (last != 1 && _width >= 0 && last != _width))
            {
                throw Unsupported(node, $"the constant '{name}' must be a scalar or one value per feature ({_width}); received shape ({string.Join(", ", dims)})");
            }
        }

        private string? Prefix(string initializer, string suffix)
        {
            if (!initializer.EndsWith(suffix, StringComparison.Ordinal) || initializer.Length == suffix.Length)
            {
                return null;
            }

            string p = initializer[..^suffix.Length];
            return p.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.') && p.Length <= 64 ? p : null;
        }

        /// <summary>
        /// The constant of a target-transform node (σ of the Mul, μ of the Add): shape (C), (1, C) or a scalar for the C
        /// outputs of the last layer, every value finite, σ &gt; 0. Returned with one value per output.
        /// </summary>
        private (T[] Values, string Name, NodeProto Node) TargetConstant(NodeProto node, string role)
        {
            Attributes(node);
            if (node.Inputs.Count != 2)
            {
                throw Bad(node, $"it has {node.Inputs.Count} inputs; expected 2");
            }

            string c = node.Inputs[0] == _current ? node.Inputs[1] : node.Inputs[0];
            var values = Values(node, c, out var dims);
            if (dims.Count > 2 || (dims.Count == 2 && dims[0] != 1))
            {
                throw Unsupported(node, $"the target transform's {role} '{c}' must have shape ({_width}), (1, {_width}) or be a scalar; received ({string.Join(", ", dims)})");
            }

            if (values.Length != 1 && values.Length != _width)
            {
                throw Bad(node, $"the target transform's {role} '{c}' has shape ({string.Join(", ", dims)}) but the last layer has {_width} outputs");
            }

            for (int j = 0; j < values.Length; j++)
            {
                double v = double.CreateTruncating(values[j]);
                if (!double.IsFinite(v))
                {
                    throw Bad(node, $"the target transform's {role} '{c}' holds {v.ToString(CultureInfo.InvariantCulture)} at index {j} as {typeof(T).Name}; it must be finite");
                }

                if (node.OpType == "Mul" && !(v > 0))
                {
                    throw Unsupported(node, $"the target transform's {role} '{c}' holds {v.ToString("R", CultureInfo.InvariantCulture)} at index {j} as {typeof(T).Name}; a standard deviation must be > 0");
                }
            }

            return (values.Length == _width ? values : Enumerable.Repeat(values[0], _width).ToArray(), c, node);
        }

        private Standardizer<T> ResolveTargetTransform((T[] Values, string Name, NodeProto Node) scale, (T[] Values, string Name, NodeProto Node) offset)
        {
            string? json = proto.Metadata.Where(kv => kv.Key == TargetTransformNodes.MetadataKey).Select(kv => kv.Value).LastOrDefault();
            return (json is null ? null : TargetTransformNodes.FromJson(json, scale.Values, offset.Values))
                ?? TargetTransformNodes.Approximate(scale.Values, offset.Values)
                ?? throw Unsupported(scale.Node, $"the target transform's scale σ '{scale.Name}' has no standardizer equivalent in {typeof(T).Name}: σ² overflows or underflows, or σ is below the rounding noise of the mean '{offset.Name}' (a standardizer takes such a column for a constant one)");
        }

        private IInputTransform<T>? ResolveTransform()
        {
            if (_prefix.Count == 0)
            {
                return null;
            }

            int n = _inputWidth;
            T[] Expand((string Op, T[] Constant, NodeProto Node) p) =>
                p.Constant.Length == n ? p.Constant
                : p.Constant.Length == 1 ? Enumerable.Repeat(p.Constant[0], n).ToArray()
                : throw Unsupported(p.Node, $"the constant has {p.Constant.Length} values; the input has {n} features");

            var ops = _prefix.Select(p => (p.Op, Values: Expand(p), p.Node)).ToList();
            if (ops.Count == 1)
            {
                // One node: pad it to the pair form with a neutral second (or first) node.
                var ones = Enumerable.Repeat(T.One, n).ToArray();
                var zeros = new T[n];
                ops = ops[0].Op switch
                {
                    "Sub" => [ops[0], ("Mul", ones, ops[0].Node)],
                    "Div" => [("Sub", zeros, ops[0].Node), ops[0]],
                    "Mul" => [ops[0], ("Add", zeros, ops[0].Node)],
                    _ => [("Mul", ones, ops[0].Node), ops[0]],
                };
            }

            var (op1, c1, node1) = ops[0];
            var (op2, c2, node2) = ops[1];
            var exact = proto.Metadata.Where(kv => kv.Key == "input_transform").Select(kv => kv.Value).LastOrDefault();
            string? mismatch = null;
            var transform = (exact is null ? null : InputTransformNodes.FromJson(exact, n, op1, c1, op2, c2))
                ?? InputTransformNodes.Approximate(op1, c1, op2, c2, _graphEpsilon, out mismatch);
            if (mismatch is not null)
            {
                string pair = ReferenceEquals(node1, node2) ? $"the input transform {node1.OpType} (a min-max scaler with scale 1)" : $"the input transform {op1} then {op2} (node '{node2.Name}')";
                throw Unsupported(node1, $"{pair} has no min-max scaler equivalent in {typeof(T).Name}: {mismatch}");
            }

            return transform ?? throw Unsupported(node1, $"the input nodes {op1} then {op2} have no input-transform equivalent; supported: Sub then Div or Mul with positive scales (standardize; a σ within rounding noise of its mean μ, below about 10·ε·|μ|, is not, since a standardizer takes such a column for a constant one and does not scale it), Mul with positive scales then Add (min-max)");
        }

        private Model<T> CreateModel()
        {
            var configs = new List<(string Name, LayerConfig Config)>();
            var fills = new List<Action<ILayer<T>>>();
            var used = new HashSet<string>(StringComparer.Ordinal);
            string NameFor(string? prefix)
            {
                string name = prefix is not null && used.Add(prefix) ? prefix : string.Empty;
                for (int i = configs.Count; name.Length == 0; i++)
                {
                    string candidate = i.ToString(CultureInfo.InvariantCulture);
                    if (used.Add(candidate))
                    {
                        name = candidate;
                    }
                }

                return name;
            }

            for (int i = 0; i < _steps.Count; i++)
            {
                switch (_steps[i])
                {
                    case DenseStep<T> d:
                        {
                            var activation = Activation.Linear;
                            double slope = 0.01;
                            if (i + 1 < _steps.Count && _steps[i + 1] is ActivationStep next && next.Activation != Activation.Softmax
                                && !(next.Activation == Activation.Sigmoid && i + 2 == _steps.Count))
                            {
                                activation = next.Activation;
                                slope = next.Slope;
                                i++;
                            }

                            configs.Add((NameFor(d.Prefix), new LayerConfig("Dense", d.Inputs, new Dictionary<string, string>
                            {
                                ["units"] = d.Units.ToString(CultureInfo.InvariantCulture),
                                ["activation"] = activation.ToString(),
                                ["initializer"] = (activation is Activation.ReLU or Activation.LeakyReLU ? Init.He : Init.Xavier).Name,
                                ["useBias"] = (d.Bias is not null).ToString(),
                                ["leakySlope"] = slope.ToString("R", CultureInfo.InvariantCulture),
                            })));
                            fills.Add(layer =>
                            {
                                var dense = (Dense<T>)layer;
                                Fill(dense.Weight.Value, d.Weight, dense.Weight.Name);
                                if (dense.Bias is not null)
                                {
                                    Fill(dense.Bias.Value, d.Bias!, dense.Bias.Name);
                                }
                            });
                            break;
                        }

                    case BatchNormStep<T> b:
                        {
                            string name = NameFor(b.Prefix);
                            configs.Add((name, new LayerConfig("BatchNorm", b.Size, new Dictionary<string, string>
                            {
                                ["momentum"] = b.Momentum.ToString("R", CultureInfo.InvariantCulture),
                                ["epsilon"] = b.Epsilon.ToString("R", CultureInfo.InvariantCulture),
                            })));
                            fills.Add(layer =>
                            {
                                var bn = (BatchNorm<T>)layer;
                                Fill(bn.Gamma.Value, b.Gamma, bn.Gamma.Name);
                                Fill(bn.Beta.Value, b.Beta, bn.Beta.Name);
                                Fill(bn.RunningMean, b.Mean, name + ".running_mean");
                                Fill(bn.RunningVariance, b.Variance, name + ".running_var");
                            });
                            break;
                        }

                    case ActivationStep a:
                        configs.Add((NameFor(null), new LayerConfig("Activation", a.Width, new Dictionary<string, string>
                        {
                            ["activation"] = a.Activation.ToString(),
                            ["leakySlope"] = a.Slope.ToString("R", CultureInfo.InvariantCulture),
                        })));
                        fills.Add(_ => { });
                        break;
                }
            }

            int inputs = _inputWidth;
            var last = _steps[^1];
            var loss = last is ActivationStep { Activation: Activation.Softmax } ? Loss.CategoricalCrossEntropy
                : last is ActivationStep { Activation: Activation.Sigmoid } ? Loss.BinaryCrossEntropy
                : RegressionLoss();
            var model = ModelFactory.FromConfigs<T>(inputs, configs, loss, seed: 0);
            for (int i = 0; i < fills.Count; i++)
            {
                fills[i](model.Layers[i]);
            }

            return model;
        }

        /// <summary>
        /// A linear output's loss: the regression loss named by the exporter's "loss" metadata (mean absolute error,
        /// Huber(δ)), else mean squared error (also for a missing, unknown or classification name: metadata is a hint).
        /// </summary>
        private Loss RegressionLoss()
        {
            string? name = proto.Metadata.Where(kv => kv.Key == "loss").Select(kv => kv.Value).LastOrDefault();
            try
            {
                return name is not null && Loss.Parse(name) is { IsClassification: false } loss ? loss : Loss.MeanSquaredError;
            }
            catch (FormatException)
            {
                return Loss.MeanSquaredError;
            }
        }

        private static void Fill(Tensor<T> target, T[] values, string name)
        {
            if (values.Length != target.Length)
            {
                throw new InvalidDataException($"'{name}' holds {values.Length} values; the layer needs {target.Length}");
            }

            foreach (var v in values)
            {
                if (!T.IsFinite(v))
                {
                    throw new InvalidDataException($"'{name}' holds {v}; weights must be finite");
                }
            }

            target.CopyFrom(values);
        }

        private static void Attributes(NodeProto node, params string[] allowed)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var a in node.Attributes)
            {
                if (!allowed.Contains(a.Name))
                {
                    throw Unsupported(node, $"attribute '{a.Name}' is not supported ({(allowed.Length == 0 ? "this operator takes no attributes" : "supported: " + string.Join(", ", allowed))})");
                }

                if (!seen.Add(a.Name))
                {
                    throw Bad(node, $"attribute '{a.Name}' appears twice");
                }
            }
        }

        private static float Float(NodeProto node, string name, float fallback) =>
            Attribute(node, name, OnnxAttributeType.Float, "a FLOAT")?.F ?? fallback;

        private static long Int(NodeProto node, string name, long fallback) =>
            Attribute(node, name, OnnxAttributeType.Int, "an INT")?.I ?? fallback;

        // The attribute called name, null when absent; it must have the given type (or none, as old writers leave it).
        private static AttributeProto? Attribute(NodeProto node, string name, int type, string typeName)
        {
            var a = node.Attributes.FirstOrDefault(a => a.Name == name);
            return a is null || a.Type == type || a.Type == 0 ? a : throw Bad(node, $"attribute '{name}' must be {typeName}; it has type {a.Type}");
        }

        /// <summary>
        /// A constant's values as T, validated (data type, dims, byte counts, <paramref name="scalar"/>) and charged to the
        /// import's decode budget (<see cref="MaxDecodedElements"/>) before the array is allocated.
        /// </summary>
        private T[] Values(NodeProto node, string name, out List<long> dims, bool allowInt = false, bool scalar = false)
        {
            if (!_constants.TryGetValue(name, out var t))
            {
                throw Unsupported(node, $"input '{name}' must be a constant (an initializer or a Constant node)");
            }

            dims = t.Dims;
            if (t.External)
            {
                throw Unsupported(node, $"the constant '{name}' keeps its data in an external file; only data stored in the model file is supported");
            }

            int size = t.DataType switch
            {
                OnnxDataType.Float => 4,
                OnnxDataType.Double => 8,
                OnnxDataType.Int64 when allowInt => 8,
                9 when allowInt => 1,
                _ => throw Unsupported(node, $"the constant '{name}' has data type {OnnxDataType.Name(t.DataType)}; supported: FLOAT, DOUBLE"),
            };

            long count = 1;
            foreach (long d in t.Dims)
            {
                if (d < 0)
                {
                    throw Bad(node, $"the constant '{name}' has a negative dimension {d}");
                }

                count = d == 0 ? 0 : (count > long.MaxValue / d ? long.MaxValue : count * d);
            }

            if (count > Array.MaxLength / 8)
            {
                throw Bad(node, $"the constant '{name}' has {count} elements, more than the file can hold");
            }

            if (scalar && count != 1)
            {
                throw Unsupported(node, $"the constant '{name}' must be a scalar; it has {count} elements");
            }

            int n = (int)count;
            if (t.HasRaw)
            {
                if (t.Raw.Length != (long)n * size)
                {
                    throw Bad(node, $"the constant '{name}' declares {n} elements of {size} bytes but raw_data holds {t.Raw.Length} bytes");
                }

                Charge(node, name, n);
                var raw = t.Raw.Span;
                var result = new T[n];
                for (int i = 0; i < n; i++)
                {
                    result[i] = size switch
                    {
                        4 => T.CreateTruncating(BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..])),
                        1 => raw[i] == 0 ? T.Zero : T.One,
                        _ when t.DataType == OnnxDataType.Int64 => T.CreateTruncating(BinaryPrimitives.ReadInt64LittleEndian(raw[(i * 8)..])),
                        _ => T.CreateTruncating(BinaryPrimitives.ReadDoubleLittleEndian(raw[(i * 8)..])),
                    };
                }

                return result;
            }

            int present = t.DataType switch
            {
                OnnxDataType.Float => t.FloatData.Count,
                OnnxDataType.Double => t.DoubleData.Count,
                OnnxDataType.Int64 => t.Int64Count,
                9 => t.Int32Count, // BOOL outside raw_data: one int32_data entry per value
                _ => 0,
            };
            if (present != n)
            {
                throw Bad(node, $"the constant '{name}' declares {n} elements but holds {present}");
            }

            Charge(node, name, n);
            var values = new T[n];
            switch (t.DataType)
            {
                case OnnxDataType.Float:
                    for (int i = 0; i < n; i++)
                    {
                        values[i] = T.CreateTruncating(t.FloatData[i]);
                    }

                    break;
                case OnnxDataType.Double:
                    for (int i = 0; i < n; i++)
                    {
                        values[i] = T.CreateTruncating(t.DoubleData[i]);
                    }

                    break;
                case 9:
                    t.ReadIntegers(5, values.AsSpan(), v => v == 0 ? T.Zero : T.One);
                    break;
                default:
                    t.ReadIntegers(7, values.AsSpan(), T.CreateTruncating);
                    break;
            }

            return values;
        }

        /// <summary>Counts <paramref name="n"/> decoded elements of the constant <paramref name="name"/>, refusing the read that would exceed the budget.</summary>
        private void Charge(NodeProto node, string name, int n)
        {
            int reads = _reads.GetValueOrDefault(name) + 1;
            _reads[name] = reads;
            _decoded += n;
            if (_decoded > _decodeBudget)
            {
                string times = reads == 1 ? "its first read" : $"read {reads} times so far";
                throw Bad(node, $"decoding the constant '{name}' ({n} elements, {times}) brings the elements decoded from constants to {_decoded}, more than the {_decodeBudget} allowed for a {fileBytes}-byte file (2 × (bytes / 4 + 8192)); each node gets its own copy of a constant, and a sequential model reads each weight once");
            }
        }
    }
}
