using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning.Onnx;

/// <summary>
/// The two element-wise ONNX nodes that compute an input transform exactly as the library does:
/// standardize x̂ = (x − μ)·s with s = 1/√(σ² + ε) (1 for a constant column) as Sub then Mul; min-max
/// x̂ = x·scale + offset as Mul then Add.
/// </summary>
internal sealed record InputTransformNodes<T>(string FirstOp, string FirstName, T[] First, string SecondOp, string SecondName, T[] Second)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Applies the two nodes to one row, in the same order of operations as the ONNX graph.</summary>
    public void Apply(Span<T> row)
    {
        switch (FirstOp)
        {
            case "Sub": TP.Subtract(row, First, row); break;
            case "Mul": TP.Multiply(row, First, row); break;
            case "Add": TP.Add(row, First, row); break;
            default: TP.Divide(row, First, row); break;
        }

        switch (SecondOp)
        {
            case "Sub": TP.Subtract(row, Second, row); break;
            case "Mul": TP.Multiply(row, Second, row); break;
            case "Add": TP.Add(row, Second, row); break;
            default: TP.Divide(row, Second, row); break;
        }
    }
}

/// <summary>Maps the library's input transforms to and from their ONNX nodes and metadata.</summary>
internal static class InputTransformNodes
{
    /// <summary>The nodes for a standardizer or min-max scaler, checked on probe rows against the transform itself.</summary>
    /// <exception cref="NotSupportedException">A transform kind other than standardize and min-max.</exception>
    public static InputTransformNodes<T> Of<T>(IInputTransform<T> transform)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = transform.Features;
        InputTransformNodes<T> nodes;
        switch (transform)
        {
            case Standardizer<T> s:
                {
                    var scale = new T[n];
                    for (int j = 0; j < n; j++)
                    {
                        // The standardizer's own divisor: √(σ² + ε), or 1 for a column it treats as constant — which
                        // includes a σ within rounding noise of the mean, not only σ = 0.
                        scale[j] = T.CreateTruncating(1.0 / s.StandardDeviation(j));
                    }

                    nodes = new("Sub", "mean", s.Mean.ReadOnlySpan.ToArray(), "Mul", "scale", scale);
                    break;
                }

            case MinMaxScaler<T> mm:
                {
                    // The scaler's own multipliers and offsets, including its fallback to scale 1 for a range
                    // whose reciprocal overflows T.
                    var scale = new T[n];
                    var offset = new T[n];
                    for (int j = 0; j < n; j++)
                    {
                        scale[j] = mm.ScaleOf(j);
                        offset[j] = mm.OffsetOf(j);
                    }

                    nodes = new("Mul", "scale", scale, "Add", "offset", offset);
                    break;
                }

            default:
                throw new NotSupportedException($"the input transform of kind '{transform.Kind}' has no ONNX form; the exporter supports '{Standardizer<T>.KindName}' and '{MinMaxScaler<T>.KindName}'");
        }

        // A guard against the transform's arithmetic drifting from its ONNX form: probe rows must match bit for bit.
        var probe = new Tensor<T>(4, n);
        var random = new RandomSource(12345);
        for (int j = 0; j < n; j++)
        {
            probe[0, j] = T.Zero;
            probe[1, j] = T.One;
            probe[2, j] = T.CreateTruncating((random.NextDouble() * 20) - 10);
            probe[3, j] = nodes.First[j];
        }

        var expected = transform.Apply(probe);
        for (int i = 0; i < probe.RowCount; i++)
        {
            nodes.Apply(probe.Row(i));
        }

        if (!expected.ReadOnlySpan.SequenceEqual(probe.ReadOnlySpan))
        {
            throw new InvalidOperationException($"the '{transform.Kind}' input transform no longer computes {nodes.FirstOp} then {nodes.SecondOp}; its ONNX form must be updated");
        }

        return nodes;
    }

    /// <summary>The transform's kind and exported tensors as JSON, for the "input_transform" metadata entry.</summary>
    public static string ToJson<T>(IInputTransform<T> transform)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var tensors = new JsonObject();
        foreach (var (name, tensor) in transform.ExportTensors())
        {
            var values = new JsonArray();
            foreach (var v in tensor.ReadOnlySpan)
            {
                values.Add((JsonNode)JsonValue.Create(double.CreateTruncating(v)));
            }

            tensors[name] = values;
        }

        return new JsonObject { ["kind"] = transform.Kind, ["tensors"] = tensors }.ToJsonString();
    }

    /// <summary>
    /// Rebuilds a transform from the "input_transform" metadata, or null when the entry is absent, malformed or does
    /// not reproduce the graph's constants bit for bit (the graph is what runs elsewhere, so it wins).
    /// </summary>
    public static IInputTransform<T>? FromJson<T>(string json, int features, string firstOp, T[] first, string secondOp, T[] second)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Parse<T>(json, features) is not { } transform)
        {
            return null;
        }

        try
        {
            var nodes = Of(transform);
            return nodes.FirstOp == firstOp && nodes.SecondOp == secondOp && nodes.First.AsSpan().SequenceEqual(first) && nodes.Second.AsSpan().SequenceEqual(second)
                ? transform
                : null;
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>
    /// The transform a metadata entry written by <see cref="ToJson{T}"/> describes (its kind and tensors), or null when
    /// the entry is malformed, names an unknown kind, holds more than <paramref name="features"/> + 2 values in a
    /// tensor, or restores a transform of another width. Metadata is a hint: nothing in it escapes as an exception.
    /// </summary>
    public static IInputTransform<T>? Parse<T>(string json, int features)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        try
        {
            if (JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 8 }) is not JsonObject o
                || o["kind"] is not JsonValue kindNode || !kindNode.TryGetValue<string>(out var kind)
                || o["tensors"] is not JsonObject tensorsNode)
            {
                return null;
            }

            var tensors = new Dictionary<string, Tensor<T>>(StringComparer.Ordinal);
            foreach (var (name, node) in tensorsNode)
            {
                if (node is not JsonArray values || values.Count > features + 2)
                {
                    return null;
                }

                var data = new T[values.Count];
                for (int i = 0; i < data.Length; i++)
                {
                    if (values[i] is not JsonValue jv || !jv.TryGetValue<double>(out double d))
                    {
                        return null;
                    }

                    data[i] = T.CreateTruncating(d);
                }

                tensors[name] = Tensor.FromArray(data);
            }

            var transform = InputTransforms.Restore(kind, tensors);
            return transform.Features == features ? transform : null;
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or ArgumentException or NotSupportedException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// A transform that approximates the two nodes of a graph written elsewhere: Sub then Div/Mul as a standardizer
    /// (μ, σ² = d² or 1/s², ε = 0), Mul then Add as a min-max scaler onto [0, 1]. Scales must be positive and finite.
    /// Null when the pair has no such form — also when a σ is within rounding noise of its μ (below about 10·ε_T·|μ|),
    /// since the standardizer would not scale that column at all, and when the min-max scaler rebuilt in T does not
    /// compute the graph's scale s and offset o to within 16 roundings (relative 16·ε, ε that of T or of the graph's
    /// <paramref name="graphEpsilon"/>, whichever is coarser): min = −o/s and max = min + 1/s are rounded to T, which
    /// changes the range when |min| is large next to 1/s. <paramref name="mismatch"/> then names the feature and both
    /// pairs of values.
    /// </summary>
    /// <param name="firstOp">The first node's operator: Sub or Mul.</param>
    /// <param name="first">The first node's constant, one value per feature.</param>
    /// <param name="secondOp">The second node's operator: Div or Mul after Sub, Add after Mul.</param>
    /// <param name="second">The second node's constant, one value per feature.</param>
    /// <param name="graphEpsilon">The machine ε of the graph's element type (what ONNX Runtime computes in): a float graph
    /// loaded as double is compared to float's precision, not double's.</param>
    /// <param name="mismatch">Set when a Mul then Add has no min-max scaler equal to it in T: the feature and the values.</param>
    public static IInputTransform<T>? Approximate<T>(string firstOp, T[] first, string secondOp, T[] second, double graphEpsilon, out string? mismatch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        mismatch = null;
        int n = first.Length;
        foreach (var v in firstOp == "Mul" ? first : second)
        {
            if (!(v > T.Zero) || !T.IsFinite(v))
            {
                return null;
            }
        }

        if (firstOp == "Sub" && secondOp is "Div" or "Mul")
        {
            var variance = new T[n];
            for (int j = 0; j < n; j++)
            {
                double d = double.CreateTruncating(second[j]);
                variance[j] = T.CreateTruncating(secondOp == "Div" ? d * d : 1.0 / (d * d));
                if (!T.IsFinite(variance[j]) || variance[j] == T.Zero)
                {
                    return null;
                }
            }

            var standardizer = (Standardizer<T>)InputTransforms.Restore<T>(Standardizer<T>.KindName, new Dictionary<string, Tensor<T>>
            {
                ["mean"] = Tensor.FromArray((T[])first.Clone()),
                ["variance"] = Tensor.FromArray(variance),
                ["epsilon"] = Tensor.FromArray(new[] { T.Zero }),
            });

            // The standardizer divides a column whose σ is within rounding noise of its mean by 1 (it takes it for a
            // constant one); the graph divides by σ. Such a pair has no standardizer equivalent: refuse, do not import
            // a model that computes something else. Otherwise the divisors agree to the rounding of σ² to T.
            double tolerance = 16 * double.CreateTruncating(T.BitIncrement(T.One) - T.One);
            for (int j = 0; j < n; j++)
            {
                double d = double.CreateTruncating(second[j]);
                double divisor = secondOp == "Div" ? d : 1.0 / d;
                if (Math.Abs(standardizer.StandardDeviation(j) - divisor) > tolerance * divisor)
                {
                    return null;
                }
            }

            return standardizer;
        }

        if (firstOp == "Mul" && secondOp == "Add")
        {
            // x·s + o = (x − min)/(max − min) with min = −o/s, max = min + 1/s.
            var min = new T[n];
            var max = new T[n];
            for (int j = 0; j < n; j++)
            {
                double s = double.CreateTruncating(first[j]);
                double lo = -double.CreateTruncating(second[j]) / s;
                // max from the rounded min, so that only max's rounding changes the range.
                min[j] = T.CreateTruncating(lo);
                max[j] = T.CreateTruncating(double.CreateTruncating(min[j]) + (1 / s));
                if (!T.IsFinite(min[j]) || !T.IsFinite(max[j]) || !(max[j] > min[j]))
                {
                    return null;
                }
            }

            var scaler = (MinMaxScaler<T>)InputTransforms.Restore<T>(MinMaxScaler<T>.KindName, new Dictionary<string, Tensor<T>>
            {
                ["min"] = Tensor.FromArray(min),
                ["max"] = Tensor.FromArray(max),
                ["range"] = Tensor.FromArray(new[] { T.Zero, T.One }),
            });

            // The scaler computes x·scale_j + offset_j from min and max rounded to T: with |min| large next to 1/s the
            // rounding changes the range (Add(x, 16777218) alone in float gives min = −16777218, max = −16777216, so
            // scale 0.5). Refuse rather than import a model that computes something else. Within the tolerance, the
            // outputs differ from the graph's by at most 16 times the rounding error of x·s + o itself, for every x.
            double tolerance = 16 * Math.Max(graphEpsilon, double.CreateTruncating(T.BitIncrement(T.One) - T.One));
            for (int j = 0; j < n; j++)
            {
                T scale = scaler.ScaleOf(j), offset = scaler.OffsetOf(j);
                if (!Near(scale, first[j], tolerance) || !Near(offset, second[j], tolerance))
                {
                    mismatch = string.Create(CultureInfo.InvariantCulture,
                        $"feature {j}: the graph computes x·{Text(first[j])} + {Text(second[j])}, but the nearest min-max scaler in {typeof(T).Name} (min {Text(min[j])}, max {Text(max[j])}) computes x·{Text(scale)} + {Text(offset)}; the range 1/s is too small next to the minimum −o/s for {typeof(T).Name} to hold both");
                    return null;
                }
            }

            return scaler;
        }

        return null;
    }

    // |a − b| ≤ tolerance·|b| (so b = 0 needs a = 0), in double.
    private static bool Near<T>(T a, T b, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double x = double.CreateTruncating(a), y = double.CreateTruncating(b);
        return Math.Abs(x - y) <= tolerance * Math.Abs(y);
    }

    private static string Text<T>(T value)
        where T : unmanaged, IFloatingPointIeee754<T> => double.CreateTruncating(value).ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A float attribute as the double it was most likely written from: the shortest decimal that rounds to it (1e-5f → 1e-5).</summary>
    public static double ShortestDouble(float value) =>
        double.Parse(value.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}
