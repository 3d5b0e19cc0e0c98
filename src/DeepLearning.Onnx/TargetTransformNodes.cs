using System.Numerics;

namespace DeepLearning.Onnx;

/// <summary>
/// Maps a regression model's <see cref="Model{T}.TargetTransform"/> to and from the two nodes that end its ONNX graph:
/// y = ŷ·σ + μ as <c>Mul</c>(ŷ, σ) then <c>Add</c>(·, μ), with σ = √(σ² + ε) (1 for a constant column) rounded to T,
/// so that the ONNX output is in the targets' original units, as <see cref="Model{T}.Predict"/>'s is.
/// </summary>
/// <remarks>
/// The graph holds σ rounded to T, which does not determine σ² and ε exactly; the exporter therefore also writes the
/// transform's own tensors in the "target_transform" metadata (the format of "input_transform"), and the importer uses
/// them when they reproduce the graph's constants bit for bit. Otherwise (files written before the metadata held the
/// tensors, or by other tools) the transform is rebuilt from the constants: μ = the Add constant, σ² = σ², ε = 0.
/// </remarks>
internal static class TargetTransformNodes
{
    /// <summary>The metadata key of the target transform.</summary>
    public const string MetadataKey = "target_transform";

    /// <summary>σ (the Mul constant) and μ (the Add constant), one of each per output column.</summary>
    public static (T[] Scale, T[] Offset) Of<T>(Standardizer<T> target)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var scale = new T[target.Features];
        var offset = target.Mean.ReadOnlySpan.ToArray();
        for (int j = 0; j < scale.Length; j++)
        {
            scale[j] = T.CreateTruncating(target.StandardDeviation(j));
        }

        return (scale, offset);
    }

    /// <summary>
    /// The standardizer stored in the metadata entry, or null when the entry is absent, malformed, of another kind or
    /// width, or does not give the graph's constants bit for bit (the graph is what runs elsewhere, so it wins).
    /// </summary>
    public static Standardizer<T>? FromJson<T>(string json, T[] scale, T[] offset)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (InputTransformNodes.Parse<T>(json, scale.Length) is not Standardizer<T> target)
        {
            return null;
        }

        var (s, o) = Of(target);
        return s.AsSpan().SequenceEqual(scale) && o.AsSpan().SequenceEqual(offset) ? target : null;
    }

    /// <summary>
    /// A standardizer with μ = <paramref name="offset"/>, σ² = <paramref name="scale"/>², ε = 0, or null when it would
    /// not give back the graph's constants bit for bit: σ² overflows or underflows T, or σ is so small next to |μ|
    /// that a standardizer takes the column for a constant one (and uses σ = 1). Scales must be finite and &gt; 0.
    /// </summary>
    public static Standardizer<T>? Approximate<T>(T[] scale, T[] offset)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var variance = new T[scale.Length];
        for (int j = 0; j < variance.Length; j++)
        {
            double s = double.CreateTruncating(scale[j]);
            variance[j] = T.CreateTruncating(s * s);
            if (!T.IsFinite(variance[j]) || !(variance[j] > T.Zero))
            {
                return null;
            }
        }

        var target = (Standardizer<T>)InputTransforms.Restore<T>(Standardizer<T>.KindName, new Dictionary<string, Tensor<T>>
        {
            ["mean"] = Tensor.FromArray((T[])offset.Clone()),
            ["variance"] = Tensor.FromArray(variance),
            ["epsilon"] = Tensor.FromArray(new[] { T.Zero }),
        });
        var (back, _) = Of(target);
        return back.AsSpan().SequenceEqual(scale) ? target : null;
    }
}
