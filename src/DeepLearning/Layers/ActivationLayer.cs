using System.Globalization;
using System.Numerics;
using DeepLearning.Kernels;

namespace DeepLearning;

/// <summary>
/// An activation as its own layer: A = g(Z), element-wise (sigmoid, tanh, ReLU, leaky ReLU, linear) or
/// row-wise (softmax). Shapes: Z and A are (m, n).
/// </summary>
/// <remarks>
/// Backward: dZ = dA ⊙ g′(Z), with g′ computed from A (sigmoid A(1 − A), tanh 1 − A², ReLU 1[A &gt; 0],
/// leaky ReLU A &gt; 0 ? 1 : slope). For softmax, dZᵢ = Aᵢ·(dAᵢ − Σⱼ dAⱼAⱼ) per row; as an output layer the model skips this and
/// uses the fused dZ = (Ŷ − Y)/m of softmax with cross-entropy instead. The layer keeps Z so the loss can be
/// computed stably from it (log-sum-exp).
/// </remarks>
/// <typeparam name="T">The element type.</typeparam>
public sealed class ActivationLayer<T> : ILayer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly BatchBuffer<T> _output;
    private readonly BatchBuffer<T> _inputGradient;
    private readonly T _slope;
    private Tensor<T>? _input;
    private Tensor<T>? _lastOutput;

    /// <summary>Creates an activation layer of width <paramref name="size"/>.</summary>
    public ActivationLayer(int size, Activation activation, double leakySlope = 0.01)
    {
        if (size < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, $"size must be ≥ 1; received {size}");
        }

        if (!(leakySlope >= 0 && leakySlope < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(leakySlope), leakySlope, $"leakySlope must be in [0, 1); received {leakySlope}");
        }

        if (!Enum.IsDefined(activation))
        {
            throw new ArgumentOutOfRangeException(nameof(activation), activation, $"unknown activation {activation}");
        }

        InputSize = size;
        Activation = activation;
        LeakySlope = leakySlope;
        _slope = T.CreateTruncating(leakySlope);
        _output = new BatchBuffer<T>(size);
        _inputGradient = new BatchBuffer<T>(size);
    }

    /// <inheritdoc/>
    public string Kind => Activation.ToString();

    /// <inheritdoc/>
    public string Name { get; set; } = string.Empty;

    /// <inheritdoc/>
    public int InputSize { get; }

    /// <inheritdoc/>
    public int OutputSize => InputSize;

    /// <summary>The activation g.</summary>
    public Activation Activation { get; }

    /// <summary>The leaky-ReLU slope.</summary>
    public double LeakySlope { get; }

    /// <summary>Z from the most recent training forward pass (the output layer's loss reads it).</summary>
    public Tensor<T>? LastInput => _input;

    /// <inheritdoc/>
    public IReadOnlyList<Parameter<T>> Parameters { get; } = [];

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, Tensor<T>> Buffers { get; } = new Dictionary<string, Tensor<T>>();

    /// <inheritdoc/>
    public LayerConfig Config => new("Activation", InputSize, new Dictionary<string, string>
    {
        ["activation"] = Activation.ToString(),
        ["leakySlope"] = LeakySlope.ToString("R", CultureInfo.InvariantCulture),
    });

    /// <inheritdoc/>
    public Tensor<T> Forward(Tensor<T> input, bool training)
    {
        LayerChecks.Input(this, input);
        var output = _output.Get(input.RowCount);
        Apply(input, output);
        _input = input;
        _lastOutput = output;
        return output;
    }

    /// <inheritdoc/>
    public void Infer(Tensor<T> input, Tensor<T> output)
    {
        LayerChecks.Input(this, input);
        LayerChecks.Output(this, input, output);
        Apply(input, output);
    }

    /// <inheritdoc/>
    public Tensor<T> Backward(Tensor<T> outputGradient)
    {
        var z = _input ?? throw new InvalidOperationException($"{Kind} layer '{Name}': Backward called before Forward");
        LayerChecks.Gradient(this, outputGradient, z.RowCount);
        var a = _lastOutput!;
        var dz = _inputGradient.Get(z.RowCount);
        if (Activation == Activation.Softmax)
        {
            SoftmaxBackward(outputGradient, a, dz);
        }
        else
        {
            ActivationMath.Backward(Activation, outputGradient.ReadOnlySpan, a.ReadOnlySpan, _slope, dz.Span);
        }

        return dz;
    }

    private static void SoftmaxBackward(Tensor<T> da, Tensor<T> a, Tensor<T> dz)
    {
        // Per row: dZ = A ⊙ (dA − (dA·A)).
        int n = a.RowLength;
        for (int i = 0; i < a.RowCount; i++)
        {
            var ar = a.ReadOnlySpan.Slice(i * n, n);
            var dar = da.ReadOnlySpan.Slice(i * n, n);
            var dzr = dz.Span.Slice(i * n, n);
            T dot = System.Numerics.Tensors.TensorPrimitives.Dot(dar, ar);
            System.Numerics.Tensors.TensorPrimitives.Subtract(dar, dot, dzr);
            System.Numerics.Tensors.TensorPrimitives.Multiply(dzr, ar, dzr);
        }
    }

    /// <summary>A = g(Z) over <paramref name="rows"/> rows of width <paramref name="n"/>; the inference kernel shared with <see cref="Predictor{T}"/>.</summary>
    internal static void Apply(Activation activation, T slope, ReadOnlySpan<T> x, int rows, int n, Span<T> d)
    {
        switch (activation)
        {
            case Activation.Linear: x.CopyTo(d); break;
            case Activation.ReLU: ElementWise.Relu(x, d); break;
            case Activation.LeakyReLU: ElementWise.LeakyRelu(x, slope, d); break;
            case Activation.Sigmoid: ElementWise.Sigmoid(x, d); break;
            case Activation.Tanh: ElementWise.Tanh(x, d); break;
            default: ElementWise.SoftmaxRows(x, rows, n, d); break;
        }
    }

    private void Apply(Tensor<T> input, Tensor<T> output) =>
        Apply(Activation, _slope, input.ReadOnlySpan, input.RowCount, InputSize, output.Span);
}
