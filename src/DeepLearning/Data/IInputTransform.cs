using System.Collections.Concurrent;
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

/// <summary>
/// Rebuilds an <see cref="IInputTransform{T}"/> of one custom kind from its exported tensors; register one with
/// <see cref="InputTransforms.Register"/> so models with that transform save, load, convert and snapshot like built-in ones.
/// </summary>
public interface IInputTransformFactory
{
    /// <summary>
    /// Rebuilds the transform from the tensors its <see cref="IInputTransform{T}.ExportTensors"/> returned (possibly
    /// read back from a file, so validate them: throw <see cref="InvalidDataException"/> for a missing or bad tensor).
    /// </summary>
    IInputTransform<T> Restore<T>(IReadOnlyDictionary<string, Tensor<T>> tensors)
        where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>
/// Rebuilds saved <see cref="IInputTransform{T}"/>s: the built-in kinds ("standardize", "minmax") and custom kinds
/// registered with <see cref="Register"/>.
/// </summary>
/// <remarks>
/// A model may use a custom transform whose kind is not registered: training, <see cref="Model{T}.Predict(Tensor{T})"/>
/// and a <see cref="Predictor{T}"/> (which then uses the live transform rather than a snapshot of it) work, and
/// <see cref="Model{T}.ConvertTo{TOther}"/> wraps it, converting each input to its element type and back. Only saving
/// needs the kind registered, because loading must rebuild it: <see cref="Model{T}.Save"/> and checkpoints refuse it
/// and write nothing.
/// </remarks>
public static class InputTransforms
{
    private static readonly ConcurrentDictionary<string, IInputTransformFactory> _factories = new(StringComparer.Ordinal);

    /// <summary>Registers (or replaces) the factory that rebuilds transforms of <paramref name="kind"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="kind"/> is empty or the name of a built-in kind.</exception>
    public static void Register(string kind, IInputTransformFactory factory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        ArgumentNullException.ThrowIfNull(factory);
        if (IsBuiltIn(kind))
        {
            throw new ArgumentException($"'{kind}' is a built-in input transform kind and cannot be replaced; give the custom transform another Kind", nameof(kind));
        }

        _factories[kind] = factory;
    }

    /// <summary>True when transforms of <paramref name="kind"/> can be rebuilt (built-in or registered).</summary>
    public static bool IsRegistered(string kind) => kind is not null && (IsBuiltIn(kind) || _factories.ContainsKey(kind));

    /// <summary>
    /// Rebuilds a transform from its <see cref="IInputTransform{T}.Kind"/> and <see cref="IInputTransform{T}.ExportTensors"/>,
    /// validating every tensor (names, shapes, finite values).
    /// </summary>
    /// <exception cref="InvalidDataException">The kind is unknown (neither built in nor registered) or a tensor is missing, misshapen or invalid.</exception>
    public static IInputTransform<T> Restore<T>(string kind, IReadOnlyDictionary<string, Tensor<T>> tensors)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(kind);
        ArgumentNullException.ThrowIfNull(tensors);
        if (kind == Standardizer<T>.KindName)
        {
            return Standardizer<T>.Restore(tensors);
        }

        if (kind == MinMaxScaler<T>.KindName)
        {
            return MinMaxScaler<T>.Restore(tensors);
        }

        if (_factories.TryGetValue(kind, out var factory))
        {
            return factory.Restore(tensors) ?? throw new InvalidDataException($"the factory registered for input transform kind '{kind}' returned null");
        }

        throw new InvalidDataException($"unknown input transform kind '{kind}'; expected '{Standardizer<T>.KindName}', '{MinMaxScaler<T>.KindName}' or a kind registered with InputTransforms.Register");
    }

    /// <summary>
    /// An independent copy of <paramref name="transform"/> rebuilt from its exported tensors, or the transform itself
    /// when its kind cannot be rebuilt (an unregistered custom kind).
    /// </summary>
    internal static IInputTransform<T> Snapshot<T>(IInputTransform<T> transform)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        IsRegistered(transform.Kind)
            ? Restore<T>(transform.Kind, transform.ExportTensors().ToDictionary(kv => kv.Key, kv => kv.Value.Clone()))
            : transform;

    /// <summary>The transform for another element type: rebuilt when its kind can be, otherwise the live one wrapped.</summary>
    internal static IInputTransform<TOther> Convert<T, TOther>(IInputTransform<T> transform)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOther : unmanaged, IFloatingPointIeee754<TOther>
    {
        if (transform is IInputTransform<TOther> same && !IsRegistered(transform.Kind))
        {
            return same;
        }

        if (transform is Converted<TOther, T> wrapped)
        {
            return wrapped.Inner;
        }

        return IsRegistered(transform.Kind)
            ? Restore<TOther>(transform.Kind, transform.ExportTensors().ToDictionary(kv => kv.Key, kv => kv.Value.ConvertTo<TOther>()))
            : new Converted<T, TOther>(transform);
    }

    /// <summary>
    /// Checks before a save that the transform can be rebuilt from what would be written, so what a load would refuse
    /// is never written.
    /// </summary>
    /// <exception cref="InvalidOperationException">The kind is not registered, or its tensors do not rebuild it.</exception>
    internal static void CheckSavable<T>(IInputTransform<T> transform, string role, string path)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        string kind = transform.Kind;
        if (string.IsNullOrWhiteSpace(kind) || !IsRegistered(kind))
        {
            throw new InvalidOperationException($"the model cannot be saved: its {role} is of kind '{kind}', which a load could not rebuild; register a factory for it with InputTransforms.Register (it trains and predicts without one); nothing was written to '{path}'");
        }

        try
        {
            var rebuilt = Restore<T>(kind, transform.ExportTensors());
            if (rebuilt.Features != transform.Features)
            {
                throw new InvalidDataException($"it rebuilds with {rebuilt.Features} features instead of {transform.Features}");
            }
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or InvalidOperationException)
        {
            throw new InvalidOperationException($"the model cannot be saved: its {role} '{kind}' does not rebuild from its exported tensors ({e.Message}); nothing was written to '{path}'", e);
        }
    }

    private static bool IsBuiltIn(string kind) => kind is Standardizer<float>.KindName or MinMaxScaler<float>.KindName;

    /// <summary>An unregistered transform of element type <typeparamref name="TInner"/> used by a model of <typeparamref name="T"/>.</summary>
    private sealed class Converted<TInner, T>(IInputTransform<TInner> inner) : IInputTransform<T>
        where TInner : unmanaged, IFloatingPointIeee754<TInner>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public IInputTransform<TInner> Inner => inner;

        public string Kind => inner.Kind;

        public int Features => inner.Features;

        public Tensor<T> Apply(Tensor<T> x)
        {
            CheckInput(x, Features, Kind);
            return inner.Apply(x.ConvertTo<TInner>()).ConvertTo<T>();
        }

        public void ApplyInPlace(Tensor<T> x)
        {
            CheckInput(x, Features, Kind);
            var converted = x.ConvertTo<TInner>();
            inner.ApplyInPlace(converted);
            converted.ConvertTo<T>().ReadOnlySpan.CopyTo(x.Span);
        }

        public DataSet<T> Apply(DataSet<T> data)
        {
            ArgumentNullException.ThrowIfNull(data);
            return new DataSet<T>(Apply(data.X), data.Y.Clone(), data.Labels?.ToArray(), data.Classes, data.ClassNames);
        }

        public IReadOnlyDictionary<string, Tensor<T>> ExportTensors() =>
            inner.ExportTensors().ToDictionary(kv => kv.Key, kv => kv.Value.ConvertTo<T>());
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
