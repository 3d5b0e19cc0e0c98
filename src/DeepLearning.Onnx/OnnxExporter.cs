using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using DeepLearning.Onnx.Proto;

namespace DeepLearning.Onnx;

/// <summary>Settings for <see cref="OnnxExporter"/>.</summary>
public sealed class OnnxExportOptions
{
    /// <summary>The name of the graph's input X, shape (batch, n_x) with a symbolic batch dimension. Default "input".</summary>
    public string InputName { get; init; } = "input";

    /// <summary>The name of the graph's output Ŷ, shape (batch, C). Default "output".</summary>
    public string OutputName { get; init; } = "output";

    /// <summary>The symbolic name of the batch dimension m. Default "batch".</summary>
    public string BatchDimension { get; init; } = "batch";

    /// <summary>
    /// Class names stored in the metadata under "class_names" (a JSON array), one per class as in
    /// <see cref="Model{T}.ClassNames"/> (two for a single sigmoid output, one per output column otherwise); when null,
    /// the model's own <see cref="Model{T}.ClassNames"/> are used if it has them.
    /// </summary>
    public IReadOnlyList<string>? ClassNames { get; init; }
}

/// <summary>
/// Writes a <see cref="Model{T}"/> as an ONNX model (opset <see cref="Opset"/>, IR version <see cref="IrVersion"/>) that
/// ONNX Runtime, ML.NET, onnxruntime-web or PyTorch's ONNX tools can run.
/// </summary>
/// <remarks>
/// <para>The graph, for X (m, n_x) → Ŷ (m, C), with one example per row as in the library:</para>
/// <list type="bullet">
/// <item>the model's <see cref="Model{T}.InputTransform"/> first: a <see cref="Standardizer{T}"/> as
/// <c>Sub</c>(X, μ) then <c>Mul</c>(·, s) with s = 1/√(σ² + ε) (1 for a constant column); a
/// <see cref="MinMaxScaler{T}"/> as <c>Mul</c>(X, scale) then <c>Add</c>(·, offset) — the same arithmetic the
/// transform does, so the results match to the last bit;</item>
/// <item><see cref="Dense{T}"/> as <c>Gemm</c>(A, W, b) with transB = 1 (Z = A·Wᵀ + b; W keeps its (n[l], n[l-1])
/// shape, as PyTorch's Linear.weight), followed by its activation node if it has one;</item>
/// <item>ReLU, leaky ReLU, sigmoid and tanh as <c>Relu</c>, <c>LeakyRelu</c>(alpha = slope), <c>Sigmoid</c>,
/// <c>Tanh</c>; softmax as <c>Softmax</c>(axis = −1); a linear activation layer as <c>Identity</c>;</item>
/// <item><see cref="BatchNorm{T}"/> as <c>BatchNormalization</c> in inference form: γ, β and the running μ and σ²,
/// ε and momentum as attributes: z̃ = γ·(z − μ_run)/√(σ²_run + ε) + β;</item>
/// <item><see cref="Dropout{T}"/> is left out (it is the identity at inference);</item>
/// <item>a regression model's <see cref="Model{T}.TargetTransform"/> last: <c>Mul</c>(Ŷ, σ) then <c>Add</c>(·, μ)
/// with σ = √(σ² + ε) (1 for a constant column), so the output is in the targets' original units.</item>
/// </list>
/// <para>float models are written as FLOAT tensors, double models as DOUBLE. Weights are stored as initializers
/// named like the model's parameters ("0.weight", "0.bias", "1.running_mean", …). ONNX stores the attributes ε, the
/// leaky-ReLU slope and the momentum as 32-bit floats, so in a double model they are rounded to float precision
/// (<see cref="OnnxModel"/> reads them back as each layer's own double from the "architecture" metadata, or as the
/// shortest decimal, e.g. 1e-5, so a round trip is exact).</para>
/// <para>Metadata (metadata_props): "producer", "architecture" (the layers as JSON), "element_type", "loss",
/// "input_transform" (its kind and tensors as JSON, so <see cref="OnnxModel.Load{T}(string)"/> rebuilds it exactly),
/// "target_transform" (likewise, for a regression model's <see cref="Model{T}.TargetTransform"/>) and "class_names"
/// when known.</para>
/// </remarks>
public static class OnnxExporter
{
    /// <summary>The ONNX operator set the exporter writes (default domain "ai.onnx").</summary>
    public const int Opset = 17;

    /// <summary>The ONNX IR version the exporter writes (8, the IR version of opset 17).</summary>
    public const long IrVersion = 8;

    /// <summary>The producer name written into every exported file.</summary>
    public const string ProducerName = "DeepLearning";

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> as ONNX, atomically (temporary file, flush, rename).</summary>
    /// <param name="model">The model; every layer must be Dense, an activation, BatchNorm or Dropout.</param>
    /// <param name="path">The target file; replaced atomically if it exists.</param>
    /// <param name="options">Names and metadata; defaults when null.</param>
    /// <exception cref="NotSupportedException">The model holds a custom layer or a custom input transform.</exception>
    public static void Save<T>(Model<T> model, string path, OnnxExportOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        byte[] bytes = ToBytes(model, options);
        AtomicFile.Write(path, s => s.Write(bytes));
    }

    /// <summary>The ONNX encoding of <paramref name="model"/> (what <see cref="Save{T}"/> writes).</summary>
    /// <exception cref="NotSupportedException">The model holds a custom layer or a custom input transform.</exception>
    public static byte[] ToBytes<T>(Model<T> model, OnnxExportOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new OnnxExportOptions();
        ArgumentException.ThrowIfNullOrWhiteSpace(options.InputName, nameof(options));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.OutputName, nameof(options));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.BatchDimension, nameof(options));
        if (options.InputName == options.OutputName)
        {
            throw new ArgumentException($"the input and output names must differ; both are '{options.InputName}'", nameof(options));
        }

        // One name per class, as the model's own ClassNames: a single sigmoid output has two classes.
        int classes = model.IsClassifier ? model.ClassCount : model.OutputSize;
        if (options.ClassNames is { } names && names.Count != classes)
        {
            throw new ArgumentException($"ClassNames has {names.Count} names but the model has {classes} {(model.IsClassifier ? "classes" : "outputs")}", nameof(options));
        }

        int elemType = ElementType<T>();
        var graph = new GraphProto { Name = "deeplearning_model", DocString = $"Sequential model: {model.InputSize} inputs → {model.OutputSize} outputs" };
        var emitter = new Emitter(graph, options.InputName);

        var metadata = new List<KeyValuePair<string, string>>
        {
            new("producer", $"{ProducerName} {ProducerVersion()} (DeepLearning.Onnx)"),
            new("architecture", ModelFile.ArchitectureJson(model)),
            new("element_type", typeof(T) == typeof(float) ? "float" : "double"),
            new("loss", model.Loss.Name),
        };

        if (model.InputTransform is { } transform)
        {
            var affine = InputTransformNodes.Of(transform);
            emitter.Node(affine.FirstOp, "input_transform." + affine.FirstName, affine.First);
            emitter.Node(affine.SecondOp, "input_transform." + affine.SecondName, affine.Second);
            metadata.Add(new("input_transform", InputTransformNodes.ToJson(transform)));
        }

        int index = 0;
        foreach (var layer in model.Layers)
        {
            string name = string.IsNullOrEmpty(layer.Name) ? index.ToString(CultureInfo.InvariantCulture) : layer.Name;
            switch (layer)
            {
                case Dense<T> d:
                    {
                        var inputs = new List<string> { emitter.Current, emitter.Initializer(d.Weight.Name.Length > 0 ? d.Weight.Name : name + ".weight", d.Weight.Value, [d.OutputSize, d.InputSize]) };
                        if (d.Bias is { } bias)
                        {
                            inputs.Add(emitter.Initializer(bias.Name.Length > 0 ? bias.Name : name + ".bias", bias.Value, [d.OutputSize]));
                        }

                        emitter.Op("Gemm", name + ".gemm", inputs, AttributeProto.Int("transB", 1));
                        emitter.Activation(d.Activation, d.LeakySlope, name);
                        break;
                    }

                case ActivationLayer<T> a:
                    emitter.Activation(a.Activation, a.LeakySlope, name, identityForLinear: true);
                    break;
                case BatchNorm<T> b:
                    emitter.Op(
                        "BatchNormalization",
                        name + ".batchnorm",
                        [
                            emitter.Current,
                            emitter.Initializer(b.Gamma.Name.Length > 0 ? b.Gamma.Name : name + ".weight", b.Gamma.Value, [b.InputSize]),
                            emitter.Initializer(b.Beta.Name.Length > 0 ? b.Beta.Name : name + ".bias", b.Beta.Value, [b.InputSize]),
                            emitter.Initializer(name + ".running_mean", b.RunningMean, [b.InputSize]),
                            emitter.Initializer(name + ".running_var", b.RunningVariance, [b.InputSize]),
                        ],
                        AttributeProto.Float("epsilon", (float)b.Epsilon),
                        AttributeProto.Float("momentum", (float)b.Momentum));
                    break;
                case Dropout<T>:
                    break;
                default:
                    throw new NotSupportedException($"layer '{layer.Name}' of kind '{layer.Kind}' has no ONNX form; the exporter supports Dense, activation, BatchNorm and Dropout layers");
            }

            index++;
        }

        if (model.TargetTransform is { } target)
        {
            // Regression trained on standardized targets: y = ŷ·σ + μ, so the ONNX output is in the original units, as
            // Predict's is. σ is rounded to T in the graph; the metadata keeps σ², ε and μ so that import restores the
            // transform exactly.
            var (scale, offset) = TargetTransformNodes.Of(target);
            emitter.Node("Mul", "target_transform.scale", scale);
            emitter.Node("Add", "target_transform.mean", offset);
            metadata.Add(new(TargetTransformNodes.MetadataKey, InputTransformNodes.ToJson(target)));
        }

        emitter.Finish(options.OutputName);
        graph.Inputs.Add(new ValueInfoProto { Name = options.InputName, ElemType = elemType, Shape = [(null, options.BatchDimension), (model.InputSize, null)] });
        graph.Outputs.Add(new ValueInfoProto { Name = options.OutputName, ElemType = elemType, Shape = [(null, options.BatchDimension), (model.OutputSize, null)] });

        if ((options.ClassNames ?? model.ClassNames) is { } classNames)
        {
            metadata.Add(new("class_names", new JsonArray(classNames.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()).ToJsonString()));
        }

        var proto = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = ProducerName,
            ProducerVersion = ProducerVersion(),
            DocString = "Exported by DeepLearning.Onnx",
            Graph = graph,
        };
        proto.Opsets.Add((string.Empty, Opset));
        proto.Metadata.AddRange(metadata);
        return proto.Encode();
    }

    internal static int ElementType<T>()
        where T : unmanaged, IFloatingPointIeee754<T> =>
        typeof(T) == typeof(float) ? OnnxDataType.Float
        : typeof(T) == typeof(double) ? OnnxDataType.Double
        : throw new NotSupportedException($"ONNX export supports float and double models; received {typeof(T).Name}");

    private static string ProducerVersion() =>
        typeof(Model).Assembly.GetName().Version is { } v ? $"{v.Major}.{v.Minor}.{v.Build}" : "0";

    /// <summary>Appends nodes to a graph as a chain, tracking the name of the current value.</summary>
    private sealed class Emitter(GraphProto graph, string input)
    {
        private readonly HashSet<string> _names = [input];

        public string Current { get; private set; } = input;

        public string Initializer<T>(string name, Tensor<T> value, long[] dims)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            name = Unique(name);
            var tensor = new TensorProto { Name = name, DataType = ElementType<T>(), Raw = LittleEndianBytes(value.ReadOnlySpan) };
            tensor.Dims.AddRange(dims);
            graph.Initializers.Add(tensor);
            return name;
        }

        public void Node<T>(string op, string constantName, T[] constant)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            string c = Initializer(constantName, Tensor.FromArray(constant), [constant.Length]);
            Op(op, constantName + "." + op.ToLowerInvariant(), [Current, c]);
        }

        public void Activation(DeepLearning.Activation activation, double slope, string layerName, bool identityForLinear = false)
        {
            switch (activation)
            {
                case DeepLearning.Activation.Linear:
                    if (identityForLinear)
                    {
                        Op("Identity", layerName + ".identity", [Current]);
                    }

                    break;
                case DeepLearning.Activation.ReLU: Op("Relu", layerName + ".relu", [Current]); break;
                case DeepLearning.Activation.LeakyReLU: Op("LeakyRelu", layerName + ".leaky_relu", [Current], AttributeProto.Float("alpha", (float)slope)); break;
                case DeepLearning.Activation.Sigmoid: Op("Sigmoid", layerName + ".sigmoid", [Current]); break;
                case DeepLearning.Activation.Tanh: Op("Tanh", layerName + ".tanh", [Current]); break;
                case DeepLearning.Activation.Softmax: Op("Softmax", layerName + ".softmax", [Current], AttributeProto.Int("axis", -1)); break;
                default: throw new NotSupportedException($"activation {activation} of layer '{layerName}' has no ONNX form");
            }
        }

        /// <summary>Names the last node's output as the graph output (an Identity node when there is none).</summary>
        public void Finish(string outputName)
        {
            if (!_names.Add(outputName))
            {
                throw new ArgumentException($"the output name '{outputName}' is already used by another value in the graph");
            }

            if (graph.Nodes.Count == 0)
            {
                Op("Identity", "output.identity", [Current]);
            }

            graph.Nodes[^1].Outputs[0] = outputName;
            Current = outputName;
        }

        public void Op(string opType, string nodeName, List<string> inputs, params AttributeProto[] attributes)
        {
            nodeName = Unique(nodeName);
            string output = Unique(nodeName + ".out");
            var node = new NodeProto { Name = nodeName, OpType = opType };
            node.Inputs.AddRange(inputs);
            node.Outputs.Add(output);
            node.Attributes.AddRange(attributes);
            graph.Nodes.Add(node);
            Current = output;
        }

        private string Unique(string name)
        {
            string candidate = name;
            for (int i = 1; !_names.Add(candidate); i++)
            {
                candidate = $"{name}_{i}";
            }

            return candidate;
        }

        private static byte[] LittleEndianBytes<T>(ReadOnlySpan<T> values)
            where T : unmanaged
        {
            byte[] bytes = MemoryMarshal.AsBytes(values).ToArray();
            if (!BitConverter.IsLittleEndian)
            {
                int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
                for (int i = 0; i < bytes.Length; i += size)
                {
                    Array.Reverse(bytes, i, size);
                }
            }

            return bytes;
        }
    }
}

/// <summary><c>model.SaveOnnx(path)</c>: the extension form of <see cref="OnnxExporter.Save{T}"/>.</summary>
public static class OnnxModelExtensions
{
    /// <summary>Writes the model as ONNX (opset <see cref="OnnxExporter.Opset"/>) atomically; see <see cref="OnnxExporter"/>.</summary>
    /// <exception cref="NotSupportedException">The model holds a custom layer or a custom input transform.</exception>
    public static void SaveOnnx<T>(this Model<T> model, string path, OnnxExportOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T> => OnnxExporter.Save(model, path, options);
}
