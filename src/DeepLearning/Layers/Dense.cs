using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using DeepLearning.Kernels;

namespace DeepLearning;

/// <summary>
/// A fully connected layer: Z = A_prev·Wᵀ + b, A = g(Z), computed in one sweep through the fused GEMM
/// epilogue (bias and activation applied while the tile is in registers).
/// </summary>
/// <remarks>
/// <para>Shapes (examples are rows): A_prev (m, n[l-1]); W (n[l], n[l-1]) — the course's shape and
/// PyTorch's <c>Linear.weight</c>; b (n[l]); Z and A (m, n[l]).</para>
/// <para>Backward, with dA = ∂J/∂A already carrying the cost's 1/m: dZ = dA ⊙ g′(Z);
/// dW = dZᵀ·A_prev (the course's (1/m)·dZ·A_prevᵀ in column layout); db = Σᵢ dZ (over examples);
/// dA_prev = dZ·W. g′ is computed from A (ReLU: 1[A &gt; 0]; sigmoid: A(1 − A); tanh: 1 − A²).</para>
/// <para>A Dense followed by BatchNorm carries no bias: the batch mean subtracts b out.</para>
/// </remarks>
/// <typeparam name="T">The element type.</typeparam>
public sealed class Dense<T> : ILayer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly BatchBuffer<T> _output;
    private readonly BatchBuffer<T> _inputGradient;
    private readonly BatchBuffer<T> _dz;
    private readonly Parameter<T>[] _parameters;
    private readonly T _slope;
    private Tensor<T>? _input;
    private Tensor<T>? _lastOutput;

    /// <summary>Creates a dense layer and initializes W with <paramref name="initializer"/> from <paramref name="random"/>.</summary>
    /// <param name="inputSize">n[l-1].</param>
    /// <param name="units">n[l].</param>
    /// <param name="activation">g; Softmax is not allowed here (use a Softmax layer).</param>
    /// <param name="initializer">How W is initialized.</param>
    /// <param name="random">The model's random source.</param>
    /// <param name="useBias">Whether the layer has b.</param>
    /// <param name="leakySlope">The leaky-ReLU slope, in [0, 1).</param>
    /// <param name="biasInitializer">How b is initialized (drawn after W, with fan-in n[l-1]); null or <see cref="Init.Zeros"/> starts it at 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">
    /// A size is below 1, W's <paramref name="inputSize"/> × <paramref name="units"/> values are more than
    /// <see cref="Tensor.MaxLength"/>, <paramref name="activation"/> is not a defined value, or <paramref name="leakySlope"/> is not in [0, 1).
    /// </exception>
    public Dense(int inputSize, int units, Activation activation, Initializer initializer, RandomSource random, bool useBias = true, double leakySlope = 0.01, Initializer? biasInitializer = null)
    {
        if (inputSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, $"inputSize must be ≥ 1; received {inputSize}");
        }

        if (units < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(units), units, $"units must be ≥ 1; received {units}");
        }

        if ((long)inputSize * units > Tensor.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(units), units, string.Create(CultureInfo.InvariantCulture,
                $"W of inputSize × units = {inputSize} × {units} = {(long)inputSize * units} values is more than the {Tensor.MaxLength} a tensor holds (Tensor.MaxLength)"));
        }

        if (!Enum.IsDefined(activation))
        {
            throw new ArgumentOutOfRangeException(nameof(activation), activation, $"unknown activation {activation}");
        }

        if (activation == Activation.Softmax)
        {
            throw new ArgumentException("a Dense layer cannot apply softmax; add a Softmax layer after it", nameof(activation));
        }

        if (!(leakySlope >= 0 && leakySlope < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(leakySlope), leakySlope, $"leakySlope must be in [0, 1); received {leakySlope}");
        }

        ArgumentNullException.ThrowIfNull(initializer);
        ArgumentNullException.ThrowIfNull(random);
        InputSize = inputSize;
        OutputSize = units;
        Activation = activation;
        Initializer = initializer;
        UseBias = useBias;
        LeakySlope = leakySlope;
        _slope = T.CreateTruncating(leakySlope);
        Weight = new Parameter<T>("weight", new Tensor<T>(units, inputSize), regularized: true);
        initializer.Initialize(Weight.Value, inputSize, units, random);
        Bias = useBias ? new Parameter<T>("bias", new Tensor<T>(units), regularized: false) : null;
        BiasInitializer = biasInitializer ?? Init.Zeros;
        if (Bias is not null)
        {
            BiasInitializer.Initialize(Bias.Value, inputSize, units, random);
        }

        _parameters = Bias is null ? [Weight] : [Weight, Bias];
        _output = new BatchBuffer<T>(units);
        _inputGradient = new BatchBuffer<T>(inputSize);
        _dz = new BatchBuffer<T>(units);
    }

    /// <inheritdoc/>
    public string Kind => "Dense";

    /// <inheritdoc/>
    public string Name
    {
        get => field ?? string.Empty;
        set
        {
            field = value;
            Weight.Name = $"{value}.weight";
            if (Bias is not null)
            {
                Bias.Name = $"{value}.bias";
            }
        }
    }

    /// <inheritdoc/>
    public int InputSize { get; }

    /// <inheritdoc/>
    public int OutputSize { get; }

    /// <summary>The activation g applied to Z.</summary>
    public Activation Activation { get; }

    /// <summary>The initializer W was drawn with.</summary>
    public Initializer Initializer { get; }

    /// <summary>The initializer b was drawn with (<see cref="Init.Zeros"/> by default).</summary>
    public Initializer BiasInitializer { get; }

    /// <summary>Whether the layer has a bias b.</summary>
    public bool UseBias { get; }

    /// <summary>The leaky-ReLU slope (used only with <see cref="Activation.LeakyReLU"/>).</summary>
    public double LeakySlope { get; }

    /// <summary>
    /// False for the first layer of a model: backward then skips dA_prev = dZ·W (a third of the layer's
    /// backward work) and returns a buffer whose contents are unspecified. The model sets it.
    /// </summary>
    public bool InputGradientNeeded { get; set; } = true;

    /// <summary>W, shape (n[l], n[l-1]).</summary>
    public Parameter<T> Weight { get; }

    /// <summary>b, shape (n[l]), or null when the layer has no bias.</summary>
    public Parameter<T>? Bias { get; }

    /// <inheritdoc/>
    public IReadOnlyList<Parameter<T>> Parameters => _parameters;

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, Tensor<T>> Buffers { get; } = new Dictionary<string, Tensor<T>>();

    /// <inheritdoc/>
    public LayerConfig Config => new(Kind, InputSize, new Dictionary<string, string>
    {
        ["units"] = OutputSize.ToString(CultureInfo.InvariantCulture),
        ["activation"] = Activation.ToString(),
        ["initializer"] = Initializer.Name,
        ["useBias"] = UseBias.ToString(),
        ["leakySlope"] = LeakySlope.ToString("R", CultureInfo.InvariantCulture),
        ["biasInitializer"] = BiasInitializer.Name,
    });

    /// <inheritdoc/>
    public Tensor<T> Forward(Tensor<T> input, bool training)
    {
        LayerChecks.Input(this, input);
        var output = _output.Get(input.RowCount);
        Compute(input, output);
        _input = input;
        _lastOutput = output;
        return output;
    }

    /// <inheritdoc/>
    public void Infer(Tensor<T> input, Tensor<T> output)
    {
        LayerChecks.Input(this, input);
        LayerChecks.Output(this, input, output);
        var act = Fused(Activation);
        int m = input.RowCount;
        if (m > PackedInferenceRows || (typeof(T) == typeof(float) && UseTransposedProduct(m, act)) || CachedPack() is not { } packed)
        {
            Compute(input, output);
            return;
        }

        // A few rows (one example at a time): packing Wᵀ for the GEMM would cost more than the product itself (~20 µs
        // of a 30 µs single-example Predict for 784×256), so a packed Wᵀ is kept while W is unchanged (see CachedPack:
        // made when the same W is seen twice). The same kernels in the same order as the unpacked product: bit-identical.
        Gemm.Multiply(
            Transpose.None, m, T.One, input.ReadOnlySpan, InputSize, packed,
            T.Zero, output.Span, OutputSize,
            Bias is null ? default : Bias.Value.ReadOnlySpan, act, _slope);
    }

    // The kept Wᵀ for a few-row inference, or null to multiply unpacked (packing into per-thread scratch, allocating
    // nothing): when W's memory is exposed, and on the first call after W changed. W is packed into a new array (and kept)
    // only when the same W is seen a second time, so a loop that trains a step and predicts one row never allocates one.
    private GemmPackedB<T>? CachedPack() =>
        KeptPack(out long? version) ?? (version is long count && Interlocked.Exchange(ref _lastSeenWriteCount, count) == count ? PackAndKeep(count) : null);

    // The write count of W at the latest few-row inference that found no kept Wᵀ (−1: none yet).
    private long _lastSeenWriteCount = -1;

    // Up to this many rows, inference multiplies by a Wᵀ packed once (InferencePack) instead of packing it per call.
    internal const int PackedInferenceRows = 32;

    // Wᵀ packed for inference and the weight's write count when it was packed; replaced when W has been written since.
    private sealed record PackedWeight(GemmPackedB<T> Packed, long WriteCount);

    private PackedWeight? _inferencePack;

    /// <summary>
    /// Wᵀ packed for the GEMM, reused while W is unchanged (its <see cref="Tensor{T}.CacheableWriteCount"/>: every indexer
    /// write, optimizer step, load or copy into it counts; after a public span of W was handed out nothing is kept).
    /// Thread-safe: concurrent callers may each pack, and any of their equal copies is kept.
    /// </summary>
    internal GemmPackedB<T> InferencePack() =>
        KeptPack(out long? version) ?? (version is long count ? PackAndKeep(count)
            : Gemm.PackB(Transpose.Transposed, InputSize, OutputSize, Weight.Value.ReadOnlySpan, InputSize)); // exposed: packed for this caller (a predictor's snapshot), not kept

    // The kept Wᵀ when it is of W's current write count, else null; version is that count, or null when W is exposed (its
    // memory handed out by a public span, so it may change unseen), in which case the kept copy is dropped.
    private GemmPackedB<T>? KeptPack(out long? version)
    {
        version = Weight.Value.CacheableWriteCount;
        var cached = Volatile.Read(ref _inferencePack);
        if (version is null && cached is not null)
        {
            Volatile.Write(ref _inferencePack, null);
        }

        return cached is not null && cached.WriteCount == version ? cached.Packed : null;
    }

    // Packs Wᵀ and keeps it when W was not written while it was packed.
    private GemmPackedB<T> PackAndKeep(long version)
    {
        var packed = Gemm.PackB(Transpose.Transposed, InputSize, OutputSize, Weight.Value.ReadOnlySpan, InputSize);
        if (Weight.Value.CacheableWriteCount == version)
        {
            Volatile.Write(ref _inferencePack, new PackedWeight(packed, version));
        }

        return packed;
    }

    /// <inheritdoc/>
    public Tensor<T> Backward(Tensor<T> outputGradient) => BackwardFromZ(ActivationGradient(outputGradient));

    /// <summary>dZ = dA ⊙ g′(Z) from dA (m, n[l]), computed from this layer's last output; dA itself when g is linear.</summary>
    internal Tensor<T> ActivationGradient(Tensor<T> outputGradient)
    {
        var input = _input ?? throw new InvalidOperationException($"{Kind} layer '{Name}': Backward called before Forward");
        LayerChecks.Gradient(this, outputGradient, input.RowCount);
        if (Activation == Activation.Linear)
        {
            return outputGradient;
        }

        var dz = _dz.Get(input.RowCount);
        ActivationMath.Backward(Activation, outputGradient.ReadOnlySpan, _lastOutput!.ReadOnlySpan, _slope, dz.Span);
        return dz;
    }

    /// <summary>
    /// Backward from dZ directly (skipping g′): used when a loss is fused with this layer's output.
    /// Writes dW = dZᵀ·A_prev and db = Σ dZ; returns dA_prev = dZ·W, shape (m, n[l-1]).
    /// </summary>
    public Tensor<T> BackwardFromZ(Tensor<T> dz) => BackwardFromZ(dz, null);

    /// <summary>
    /// As <see cref="BackwardFromZ(Tensor{T})"/>, but when <paramref name="previous"/> is the dense layer whose output
    /// is this layer's input, returns its dZ_prev = (dZ·W) ⊙ g′_prev(A_prev) instead of dA_prev: the derivative is
    /// applied inside the GEMM, region by region, by the thread that computed it (no separate pass over dA_prev).
    /// With a <paramref name="dropout"/> between the two (it produced this layer's input from
    /// <paramref name="previous"/>'s output), returns dZ_prev = ((dZ·W) ⊙ D) ⊙ g′_prev(A_prev): the dropout's backward
    /// product goes into the same GEMM; an inactive dropout (inference, keep_prob 1, disabled) passed its input through
    /// and is skipped. Pass the result to <paramref name="previous"/>'s <see cref="BackwardFromZ(Tensor{T})"/>.
    /// </summary>
    internal Tensor<T> BackwardFromZ(Tensor<T> dz, Dense<T>? previous, Dropout<T>? dropout = null)
    {
        var input = _input ?? throw new InvalidOperationException($"{Kind} layer '{Name}': Backward called before Forward");
        int m = input.RowCount;
        int n = OutputSize;
        int k = InputSize;

        // dW (n, k) = dZᵀ (n, m) · A_prev (m, k)
        Gemm.Multiply(Transpose.Transposed, Transpose.None, n, k, m, T.One, dz.ReadOnlySpan, n, input.ReadOnlySpan, k, T.Zero, Weight.Gradient.Span, k);
        if (Bias is not null)
        {
            ElementWise.SumColumns(dz.ReadOnlySpan, m, n, Bias.Gradient.Span);
        }

        // dA_prev (m, k) = dZ (m, n) · W (n, k); skipped for the first layer, whose input X needs no gradient.
        var dInput = _inputGradient.Get(m);
        if (!InputGradientNeeded)
        {
            return dInput;
        }

        if (dropout is not null && (previous is null || previous.Activation == Activation.Linear))
        {
            throw new InvalidOperationException($"{Kind} layer '{Name}': a dropout's mask goes into the GEMM only above a dense layer with an activation");
        }

        if (previous is not null && previous.Activation != Activation.Linear)
        {
            var activationOutput = previous._lastOutput ?? throw new InvalidOperationException($"{Kind} layer '{Name}': the layer passed as previous has not run forward");
            var mask = dropout?.ActiveMask(activationOutput, input);
            if (mask is null && !ReferenceEquals(activationOutput, input))
            {
                throw new InvalidOperationException($"{Kind} layer '{Name}': the layer passed as previous did not produce this layer's input");
            }

            Gemm.MultiplyBackward(Transpose.None, Transpose.None, m, k, n, dz.ReadOnlySpan, n, Weight.Value.ReadOnlySpan, k, dInput.Span, k, previous.Activation, activationOutput.ReadOnlySpan, previous._slope, mask is null ? default : mask.ReadOnlySpan);
            return dInput;
        }

        Gemm.Multiply(Transpose.None, Transpose.None, m, k, n, T.One, dz.ReadOnlySpan, n, Weight.Value.ReadOnlySpan, k, T.Zero, dInput.Span, k);
        return dInput;
    }

    /// <summary>The GEMM epilogue that applies g.</summary>
    internal static FusedActivation Fused(Activation activation) => activation switch
    {
        Activation.Linear => FusedActivation.Identity,
        Activation.ReLU => FusedActivation.ReLU,
        Activation.LeakyReLU => FusedActivation.LeakyReLU,
        Activation.Sigmoid => FusedActivation.Sigmoid,
        _ => FusedActivation.Tanh,
    };

    // A weight matrix this many times the batch's size (or more) is multiplied untransposed: see TransposedProduct.
    private const int TransposedProductRatio = 4;

    [ThreadStatic]
    private static float[]? _transposedProduct;

    private void Compute(Tensor<T> input, Tensor<T> output)
    {
        var act = Fused(Activation);
        int m = input.RowCount;
        if (typeof(T) == typeof(float) && UseTransposedProduct(m, act))
        {
            TransposedProduct(input, output, act);
            return;
        }

        // Z (m, n) = A_prev (m, k) · Wᵀ (k, n) + b, then g, in one sweep.
        Gemm.Multiply(
            Transpose.None, Transpose.Transposed, input.RowCount, OutputSize, InputSize,
            T.One, input.ReadOnlySpan, InputSize, Weight.Value.ReadOnlySpan, InputSize,
            T.Zero, output.Span, OutputSize,
            Bias is null ? default : Bias.Value.ReadOnlySpan, act, _slope);
    }

    // Whether Z = g(X·Wᵀ + b) is better computed as P = W·Xᵀ and then Z = g(Pᵀ + b): when W (n, k) is at least
    // TransposedProductRatio times X (m, k) and large. X·Wᵀ has to transpose all of W into the GEMM's panels on every
    // call (784×256 in a Fashion-MNIST network: ~30 µs of a 166 µs product at batch 64); W·Xᵀ reads W in place as the
    // A operand and transposes only the batch. On AVX2 only on one thread (see GemmBlocking.TransposedProductOnAvx2).
    // The product P is kept in a per-thread buffer, so it is used only up to 1M elements (4 MB).
    private bool UseTransposedProduct(int m, FusedActivation act) =>
        m >= 8
        && (long)OutputSize >= (long)TransposedProductRatio * m
        && (long)OutputSize * m <= 1 << 20
        && (long)OutputSize * InputSize >= 65536
        && act is FusedActivation.Identity or FusedActivation.ReLU or FusedActivation.LeakyReLU
        && (Gemm.Path == GemmPath.Avx512
            || (Gemm.Path == GemmPath.Avx2 && GemmBlocking.TransposedProductOnAvx2 && Gemm.EffectiveThreads == 1));

    // Z (m, n) = g(X·Wᵀ + b) as P (n, m) = W·Xᵀ (plain product: each element the same sum of fused multiply-adds in
    // the same k order as X·Wᵀ would give), then Z = g(Pᵀ + b) in the transposed epilogue: bit-identical to the fused
    // X·Wᵀ.
    private void TransposedProduct(Tensor<T> input, Tensor<T> output, FusedActivation act)
    {
        int m = input.RowCount, n = OutputSize, k = InputSize;
        int count = m * n;
        var product = _transposedProduct;
        if (product is null || product.Length < count)
        {
            _transposedProduct = product = new float[count];
        }

        var x = MemoryMarshal.Cast<T, float>(input.ReadOnlySpan);
        var w = MemoryMarshal.Cast<T, float>(Weight.Value.ReadOnlySpan);
        Gemm.Multiply(Transpose.None, Transpose.Transposed, n, m, k, 1f, w, k, x, k, 0f, product, m);
        var bias = Bias is null ? default : MemoryMarshal.Cast<T, float>(Bias.Value.ReadOnlySpan);
        TransposedEpilogue.Apply(product, n, m, bias, act, float.CreateChecked(_slope), MemoryMarshal.Cast<T, float>(output.Span));
    }
}

/// <summary>Shape checks shared by the built-in layers, with messages naming the layer and both shapes.</summary>
internal static class LayerChecks
{
    public static void Input<T>(ILayer<T> layer, Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank != 2 || input.Dim(1) != layer.InputSize)
        {
            throw new ArgumentException($"{layer.Kind} layer '{layer.Name}' expects input (m, {layer.InputSize}); received {input.ShapeText}", nameof(input));
        }
    }

    public static void Output<T>(ILayer<T> layer, Tensor<T> input, Tensor<T> output)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(output);
        if (output.Rank != 2 || output.Dim(0) != input.RowCount || output.Dim(1) != layer.OutputSize)
        {
            throw new ArgumentException($"{layer.Kind} layer '{layer.Name}' writes output ({input.RowCount}, {layer.OutputSize}); received a destination of shape {output.ShapeText}", nameof(output));
        }
    }

    public static void Gradient<T>(ILayer<T> layer, Tensor<T> gradient, int m)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(gradient);
        if (gradient.Rank != 2 || gradient.Dim(0) != m || gradient.Dim(1) != layer.OutputSize)
        {
            throw new ArgumentException($"{layer.Kind} layer '{layer.Name}' expects an output gradient ({m}, {layer.OutputSize}); received {gradient.ShapeText}", nameof(gradient));
        }
    }
}
