using System.Globalization;
using System.Numerics;
using DeepLearning.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// Inverted dropout with the course's keep_prob: in training, D = 1[U &lt; keep_prob] / keep_prob with
/// U ~ Uniform(0, 1) drawn fresh every iteration, A = A_prev ⊙ D, and backward dA_prev = dA ⊙ D (the same mask).
/// At inference it is the identity; E[A] = A_prev, so no rescaling is needed at test time.
/// keep_prob = 1 is an exact no-op (the input passes through untouched); built by <c>ModelBuilder.Dropout</c>, the layer
/// still forks its source from the build seed whatever keep_prob is, so the layers after it get the same initial
/// weights for keep_prob = 1 as for 0.8, and other ones than in a model built without the layer.
/// <para>The uniforms come from a counter-based stream: each training pass draws one 64-bit key K from the layer's
/// seeded source, and unit i of the (m, n) batch (row-major index i) is kept when the top 32 bits of the
/// (i + 1)-th SplitMix64 output from K are below ⌈keep_prob·2³²⌉. So a seed gives the same masks, and the same
/// weights, whatever the thread count or vector width; the mask is generated vectorized and split over the cores.</para>
/// </summary>
/// <typeparam name="T">The element type.</typeparam>
public sealed class Dropout<T> : ILayer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly BatchBuffer<T> _mask;
    private readonly BatchBuffer<T> _output;
    private readonly BatchBuffer<T> _inputGradient;
    private readonly RandomSource _random;
    private readonly T _scale;
    private readonly ulong _threshold;
    private Tensor<T>? _lastMask;
    private Tensor<T>? _lastInput;
    private Tensor<T>? _lastOutput;
    private bool _lastWasIdentity;

    /// <summary>Creates a dropout layer.</summary>
    /// <param name="size">Width n of the activations.</param>
    /// <param name="keepProb">Probability of keeping each unit, in (0, 1].</param>
    /// <param name="random">The source of the masks (forked from the model's seeded source).</param>
    public Dropout(int size, double keepProb, RandomSource random)
    {
        if (size < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, $"size must be ≥ 1; received {size}");
        }

        if (!(keepProb > 0 && keepProb <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(keepProb), keepProb, $"keepProb must be in (0, 1]; received {keepProb}");
        }

        ArgumentNullException.ThrowIfNull(random);
        InputSize = size;
        KeepProb = keepProb;
        _random = random;
        _scale = T.CreateTruncating(1.0 / keepProb);
        _threshold = DropoutMask.Threshold(keepProb);
        _mask = new BatchBuffer<T>(size);
        _output = new BatchBuffer<T>(size);
        _inputGradient = new BatchBuffer<T>(size);
    }

    /// <inheritdoc/>
    public string Kind => "Dropout";

    /// <inheritdoc/>
    public string Name { get; set; } = string.Empty;

    /// <inheritdoc/>
    public int InputSize { get; }

    /// <inheritdoc/>
    public int OutputSize => InputSize;

    /// <summary>keep_prob: the probability that a unit is kept.</summary>
    public double KeepProb { get; }

    /// <summary>The source of the masks; a training checkpoint saves and restores its state.</summary>
    internal RandomSource Random => _random;

    /// <summary>When false, training forward passes are the identity too (the gradient checker turns dropout off this way).</summary>
    public bool Enabled { get; set; } = true;

    /// <inheritdoc/>
    public IReadOnlyList<Parameter<T>> Parameters { get; } = [];

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, Tensor<T>> Buffers { get; } = new Dictionary<string, Tensor<T>>();

    /// <inheritdoc/>
    public LayerConfig Config => new(Kind, InputSize, new Dictionary<string, string>
    {
        ["keepProb"] = KeepProb.ToString("R", CultureInfo.InvariantCulture),
    });

    /// <inheritdoc/>
    public Tensor<T> Forward(Tensor<T> input, bool training)
    {
        LayerChecks.Input(this, input);
        if (!training || !Enabled || KeepProb == 1)
        {
            _lastWasIdentity = true;
            return input;
        }

        _lastWasIdentity = false;
        int m = input.RowCount;
        var mask = _mask.Get(m);
        var output = _output.Get(m);
        DropoutMask.Apply(_random.NextUInt64(), _threshold, _scale, input.ReadOnlySpan, mask.Span, output.Span);
        _lastMask = mask;
        _lastInput = input;
        _lastOutput = output;
        return output;
    }

    /// <inheritdoc/>
    public void Infer(Tensor<T> input, Tensor<T> output)
    {
        LayerChecks.Input(this, input);
        LayerChecks.Output(this, input, output);
        input.ReadOnlySpan.CopyTo(output.Span);
    }

    /// <summary>
    /// The mask D of the last training pass when that pass produced <paramref name="output"/> from
    /// <paramref name="input"/> by dropping units; null when it passed its input through. Throws when the last pass
    /// did not read <paramref name="input"/> and write <paramref name="output"/>.
    /// </summary>
    internal Tensor<T>? ActiveMask(Tensor<T> input, Tensor<T> output)
    {
        if (_lastWasIdentity)
        {
            return null;
        }

        var mask = _lastMask ?? throw new InvalidOperationException($"Dropout layer '{Name}': Backward called before Forward");
        return ReferenceEquals(_lastOutput, output) && ReferenceEquals(_lastInput, input)
            ? mask
            : throw new InvalidOperationException($"Dropout layer '{Name}': its last pass did not map the given input to the given output");
    }

    /// <inheritdoc/>
    public Tensor<T> Backward(Tensor<T> outputGradient)
    {
        ArgumentNullException.ThrowIfNull(outputGradient);
        if (_lastWasIdentity)
        {
            return outputGradient;
        }

        var mask = _lastMask ?? throw new InvalidOperationException($"Dropout layer '{Name}': Backward called before Forward");
        LayerChecks.Gradient(this, outputGradient, mask.RowCount);
        var d = _inputGradient.Get(mask.RowCount);
        TP.Multiply(outputGradient.ReadOnlySpan, mask.ReadOnlySpan, d.Span);
        return d;
    }
}
