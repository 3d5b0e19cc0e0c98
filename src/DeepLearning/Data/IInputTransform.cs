using System.Numerics;

namespace DeepLearning;

/// <summary>
/// A per-feature transform of the inputs fitted on the training set and applied unchanged to dev, test and new inputs
/// (the course's rule: normalize every set with the training set's μ and σ²). The model saves it beside its weights
/// so predictions on raw inputs still work after loading.
/// </summary>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public interface IInputTransform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>A short name of the transform's kind, saved with the model (for example "standardize").</summary>
    string Kind { get; }

    /// <summary>The number of features n_x the transform was fitted on.</summary>
    int Features { get; }

    /// <summary>A new (m, n_x) tensor holding the transformed inputs; <paramref name="x"/> is unchanged.</summary>
    Tensor<T> Apply(Tensor<T> x);

    /// <summary>Transforms the (m, n_x) inputs in place. Does not allocate.</summary>
    void ApplyInPlace(Tensor<T> x);

    /// <summary>
    /// Writes the transformed (m, n_x) inputs <paramref name="x"/> into <paramref name="destination"/> (the same shape;
    /// it may be <paramref name="x"/> itself), leaving <paramref name="x"/> unchanged otherwise. Does not allocate; the
    /// training step uses it to standardize each mini-batch straight into the model's buffer. The default copies and
    /// then calls <see cref="ApplyInPlace"/>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="x"/> does not have n_x columns, or the shapes differ.</exception>
    void ApplyInto(Tensor<T> x, Tensor<T> destination)
    {
        InputTransforms.CheckInto(x, destination, Features, Kind);
        if (!ReferenceEquals(x, destination))
        {
            x.ReadOnlySpan.CopyTo(destination.Span);
        }

        ApplyInPlace(destination);
    }

    /// <summary>A new data set with X transformed; Y, labels and class names are kept.</summary>
    DataSet<T> Apply(DataSet<T> data);

    /// <summary>
    /// The fitted state as named tensors, for saving (for example to safetensors). <see cref="InputTransforms.Restore"/>
    /// rebuilds the transform from <see cref="Kind"/> and these tensors.
    /// </summary>
    IReadOnlyDictionary<string, Tensor<T>> ExportTensors();
}

/// <summary>Rebuilds saved <see cref="IInputTransform{T}"/>s.</summary>
public static class InputTransforms
{
    /// <summary>
    /// Rebuilds a transform from its <see cref="IInputTransform{T}.Kind"/> and <see cref="IInputTransform{T}.ExportTensors"/>,
    /// validating every tensor (names, shapes, finite values).
    /// </summary>
    /// <exception cref="InvalidDataException">The kind is unknown or a tensor is missing, misshapen or invalid.</exception>
    public static IInputTransform<T> Restore<T>(string kind, IReadOnlyDictionary<string, Tensor<T>> tensors)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(kind);
        ArgumentNullException.ThrowIfNull(tensors);
        return kind switch
        {
            Standardizer<T>.KindName => Standardizer<T>.Restore(tensors),
            MinMaxScaler<T>.KindName => MinMaxScaler<T>.Restore(tensors),
            _ => throw new InvalidDataException($"unknown input transform kind '{kind}'; expected '{Standardizer<T>.KindName}' or '{MinMaxScaler<T>.KindName}'"),
        };
    }

    internal static Tensor<T> Required<T>(IReadOnlyDictionary<string, Tensor<T>> tensors, string kind, string name, int length)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!tensors.TryGetValue(name, out var t) || t is null)
        {
            throw new InvalidDataException($"input transform '{kind}' needs a tensor named '{name}'; found {(tensors.Count == 0 ? "none" : string.Join(", ", tensors.Keys.Select(k => $"'{k}'")))}");
        }

        if (t.Rank != 1 || (length >= 0 && t.Length != length))
        {
            throw new InvalidDataException($"input transform '{kind}': tensor '{name}' must have shape ({(length >= 0 ? length : "n_x")}); received {t.ShapeText}");
        }

        foreach (var v in t.ReadOnlySpan)
        {
            if (!T.IsFinite(v))
            {
                throw new InvalidDataException($"input transform '{kind}': tensor '{name}' holds {v}; values must be finite");
            }
        }

        return t;
    }

    internal static void CheckInput<T>(Tensor<T> x, int features, string kind)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.RowLength != features || x.Rank < 2)
        {
            throw new ArgumentException($"the {kind} transform was fitted on n_x = {features} features; received shape {x.ShapeText}", nameof(x));
        }
    }

    internal static void CheckInto<T>(Tensor<T> x, Tensor<T> destination, int features, string kind)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckInput(x, features, kind);
        ArgumentNullException.ThrowIfNull(destination);
        if (destination.Length != x.Length || destination.RowLength != x.RowLength)
        {
            throw new ArgumentException($"the {kind} transform's destination has shape {destination.ShapeText}; the input has {x.ShapeText}", nameof(destination));
        }
    }
}
