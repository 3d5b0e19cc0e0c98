using System.Numerics;

namespace DeepLearning;

/// <summary>
/// One layer of a sequential network, batch-major: inputs and outputs are (m, features) with one
/// example per row. Implement this interface to add a custom layer.
/// </summary>
/// <remarks>
/// <para>
/// Forward and backward follow the course: <see cref="Forward"/> computes A[l] from A[l-1] and caches
/// what backward needs; <see cref="Backward"/> receives dA[l] = ∂J/∂A[l] (already including the 1/m of
/// the cost), writes ∂J/∂θ into each <see cref="Parameter{T}.Gradient"/> (overwriting, not accumulating),
/// and returns dA[l-1]. Returned tensors are buffers the layer owns and reuses for the next call with the
/// same batch size: callers must not keep them across calls.
/// </para>
/// <para>
/// <see cref="Infer"/> is the inference path: it must not touch training state or owned buffers, so
/// several threads may call it at once on one layer.
/// </para>
/// </remarks>
/// <typeparam name="T">The element type.</typeparam>
public interface ILayer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>A short kind name for summaries, e.g. "Dense" or "BatchNorm".</summary>
    string Kind { get; }

    /// <summary>The prefix of this layer's parameter names, e.g. "0" for "0.weight"; set by the model builder.</summary>
    string Name { get; set; }

    /// <summary>Features per example going in: n[l-1].</summary>
    int InputSize { get; }

    /// <summary>Features per example coming out: n[l].</summary>
    int OutputSize { get; }

    /// <summary>Learnable parameters (possibly none).</summary>
    IReadOnlyList<Parameter<T>> Parameters { get; }

    /// <summary>Non-learnable state saved with the model, e.g. batch norm's running mean and variance, keyed by suffix ("running_mean").</summary>
    IReadOnlyDictionary<string, Tensor<T>> Buffers { get; }

    /// <summary>Training or evaluation forward pass: input (m, InputSize) → output (m, OutputSize), an owned buffer.</summary>
    /// <param name="input">A[l-1], (m, InputSize).</param>
    /// <param name="training">True in training (dropout active, batch statistics, running averages updated).</param>
    Tensor<T> Forward(Tensor<T> input, bool training);

    /// <summary>Backward pass for the most recent <see cref="Forward"/>: dA[l] (m, OutputSize) → dA[l-1] (m, InputSize).</summary>
    Tensor<T> Backward(Tensor<T> outputGradient);

    /// <summary>Thread-safe inference: writes the layer's evaluation-mode output for <paramref name="input"/> into <paramref name="output"/> (m, OutputSize).</summary>
    void Infer(Tensor<T> input, Tensor<T> output);

    /// <summary>The settings needed to rebuild this layer (weights excluded), for summaries and save/load.</summary>
    LayerConfig Config { get; }
}

/// <summary>
/// A layer's architecture as data: its kind and named settings. Round-trips through the model file's
/// metadata; <see cref="LayerRegistry"/> rebuilds the layer from it.
/// </summary>
/// <param name="Kind">The layer kind, e.g. "Dense".</param>
/// <param name="InputSize">n[l-1].</param>
/// <param name="Settings">Kind-specific settings as invariant strings, e.g. "units" → "256".</param>
public sealed record LayerConfig(string Kind, int InputSize, IReadOnlyDictionary<string, string> Settings)
{
    /// <summary>A setting parsed as a double (invariant culture, no thousands separators: "1,5" is refused, not 15).</summary>
    public double GetDouble(string key) => double.Parse(Get(key), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A setting parsed as an int.</summary>
    public int GetInt(string key) => int.Parse(Get(key), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A setting parsed as a bool.</summary>
    public bool GetBool(string key) => bool.Parse(Get(key));

    /// <summary>A setting as a string.</summary>
    public string Get(string key) =>
        Settings.TryGetValue(key, out var v) ? v : throw new FormatException($"layer config of kind '{Kind}' lacks the setting '{key}'");
}
