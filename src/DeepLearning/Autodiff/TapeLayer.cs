using System.Globalization;
using System.Numerics;

namespace DeepLearning;

/// <summary>
/// A custom layer whose forward pass is written with a <see cref="Tape{T}"/> and whose backward pass the tape derives:
/// A[l] = f(A[l-1]; θ) for any f the tape's operations can express. Add it to a model with
/// <c>.Add((inputs, random) =&gt; new TapeLayer&lt;T&gt;(...), outputSize)</c>; it then trains through <c>Fit</c> like a built-in
/// layer (mini-batches, callbacks, regularization of its parameters marked regularized, early stopping) and the
/// <see cref="GradientChecker"/> checks it.
/// </summary>
/// <remarks>
/// <para>The forward function receives the input A[l-1] (m, n[l-1]) as a variable and this layer's parameters as
/// leaf variables (in the order given), and returns A[l] (m, n[l]). It must be a pure function of those: it runs on
/// this layer's tape in training, and on a fresh tape per call in <see cref="Infer"/>, possibly on several threads.
/// Example, a swish layer A = Z ⊙ σ(Z) with Z = A_prev·Wᵀ + b:
/// <c>(x, p) =&gt; { var z = x.MatMul(p[0], transposeB: true) + p[1]; return z * z.Sigmoid(); }</c>.</para>
/// <para>Backward follows <see cref="ILayer{T}"/>: it receives dA[l] = ∂J/∂A[l], overwrites each parameter's gradient
/// with ∂J/∂θ, and returns dA[l-1]. A warm step of the same batch size allocates nothing. The built-in layers stay the
/// fast path; a tape layer costs the tape's bookkeeping and unfused element-wise passes.</para>
/// <para>Saving writes the layer's kind and width; loading needs a factory registered with
/// <see cref="LayerRegistry.Register"/> that rebuilds it.</para>
/// </remarks>
/// <typeparam name="T">The element type.</typeparam>
public sealed class TapeLayer<T> : ILayer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Func<Variable<T>, IReadOnlyList<Variable<T>>, Variable<T>> _forward;
    private readonly Parameter<T>[] _parameters;
    private readonly string[] _suffixes;
    private readonly Tape<T> _tape = new();
    private readonly Variable<T>[] _leaves;
    private Variable<T> _input;
    private Variable<T> _output;
    private Tensor<T>? _zeroInputGradient;
    private bool _forwardDone;

    /// <summary>Creates a tape layer.</summary>
    /// <param name="kind">A short kind name for summaries and the saved config, e.g. "Swish".</param>
    /// <param name="inputSize">n[l-1].</param>
    /// <param name="outputSize">n[l].</param>
    /// <param name="parameters">The layer's learnable parameters θ (created and initialized by the caller), named by
    /// suffix ("weight", "bias"); the model prefixes the layer's position ("1.weight").</param>
    /// <param name="forward">A[l] = f(A[l-1], θ) written with variables.</param>
    public TapeLayer(string kind, int inputSize, int outputSize, IReadOnlyList<Parameter<T>> parameters, Func<Variable<T>, IReadOnlyList<Variable<T>>, Variable<T>> forward)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(forward);
        if (inputSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, $"inputSize must be ≥ 1; received {inputSize}");
        }

        if (outputSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(outputSize), outputSize, $"outputSize must be ≥ 1; received {outputSize}");
        }

        Kind = kind;
        InputSize = inputSize;
        OutputSize = outputSize;
        _forward = forward;
        _parameters = [.. parameters];
        for (int i = 0; i < _parameters.Length; i++)
        {
            if (_parameters[i] is null)
            {
                throw new ArgumentNullException(nameof(parameters), $"parameters[{i}] is null");
            }
        }

        for (int i = 1; i < _parameters.Length; i++)
        {
            int j = Array.FindIndex(_parameters, 0, i, p => ReferenceEquals(p, _parameters[i]) || p.Name == _parameters[i].Name);
            if (j >= 0)
            {
                throw new ArgumentException(ReferenceEquals(_parameters[j], _parameters[i])
                    ? $"parameters[{j}] and parameters[{i}] are the same parameter \"{_parameters[i].Name}\"; list each once (use its variable twice in the forward function instead)"
                    : $"parameters[{j}] and parameters[{i}] are both named \"{_parameters[i].Name}\"; names key saving, loading and optimizer state, so each needs its own", nameof(parameters));
            }
        }

        _suffixes = [.. _parameters.Select(p => p.Name)];
        _leaves = [.. _parameters.Select(p => _tape.Parameter(p))];
    }

    /// <inheritdoc/>
    public string Kind { get; }

    /// <inheritdoc/>
    public string Name
    {
        get => field ?? string.Empty;
        set
        {
            field = value;
            for (int i = 0; i < _parameters.Length; i++)
            {
                _parameters[i].Name = string.IsNullOrEmpty(value) ? _suffixes[i] : $"{value}.{_suffixes[i]}";
            }
        }
    }

    /// <inheritdoc/>
    public int InputSize { get; }

    /// <inheritdoc/>
    public int OutputSize { get; }

    /// <inheritdoc/>
    public IReadOnlyList<Parameter<T>> Parameters => _parameters;

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, Tensor<T>> Buffers { get; } = new Dictionary<string, Tensor<T>>();

    /// <inheritdoc/>
    public LayerConfig Config => new(Kind, InputSize, new Dictionary<string, string>
    {
        ["units"] = OutputSize.ToString(CultureInfo.InvariantCulture),
    });

    /// <inheritdoc/>
    public Tensor<T> Forward(Tensor<T> input, bool training)
    {
        CheckInput(input);
        _tape.Reset();
        _input = _tape.Constant(input, requiresGrad: true);
        _output = _forward(_input, _leaves);
        CheckOutput(_output, input.RowCount, _tape);
        _forwardDone = true;
        return _output.Value;
    }

    /// <inheritdoc/>
    public Tensor<T> Backward(Tensor<T> outputGradient)
    {
        if (!_forwardDone)
        {
            throw new InvalidOperationException($"{Kind} layer '{Name}': Backward called before Forward");
        }

        ArgumentNullException.ThrowIfNull(outputGradient);
        int m = _input.Value.RowCount;
        if (outputGradient.Rank != 2 || outputGradient.Dim(0) != m || outputGradient.Dim(1) != OutputSize)
        {
            throw new ArgumentException($"{Kind} layer '{Name}' expects an output gradient ({m}, {OutputSize}); received {outputGradient.ShapeText}", nameof(outputGradient));
        }

        // ILayer's contract: parameter gradients are overwritten by each backward pass, not accumulated.
        foreach (var p in _parameters)
        {
            p.Gradient.Clear();
        }

        _forwardDone = false;
        if (!_output.RequiresGrad)
        {
            return ZeroInputGradient(m);
        }

        _output.Backward(outputGradient);
        return _input.Grad ?? ZeroInputGradient(m);
    }

    /// <inheritdoc/>
    public void Infer(Tensor<T> input, Tensor<T> output)
    {
        CheckInput(input);
        ArgumentNullException.ThrowIfNull(output);
        var tape = new Tape<T>();
        var leaves = _parameters.Select(tape.Parameter).ToArray();
        var y = _forward(tape.Constant(input), leaves);
        CheckOutput(y, input.RowCount, tape);
        if (!output.SameShape(y.Value))
        {
            throw new ArgumentException($"{Kind} layer '{Name}' writes output {y.Value.ShapeText}; received a destination of shape {output.ShapeText}", nameof(output));
        }

        y.Value.CopyTo(output);
    }

    /// <summary>
    /// A copy for inference that shares the forward function but not the parameters: their values are copied now, so
    /// later training of this layer does not change it (what a <see cref="Predictor{T}"/> holds).
    /// </summary>
    internal TapeLayer<T> Snapshot()
    {
        var copies = new Parameter<T>[_parameters.Length];
        for (int i = 0; i < copies.Length; i++)
        {
            copies[i] = new Parameter<T>(_suffixes[i], _parameters[i].Value.Clone(), _parameters[i].Regularized);
        }

        return new TapeLayer<T>(Kind, InputSize, OutputSize, copies, _forward) { Name = Name };
    }

    private Tensor<T> ZeroInputGradient(int m)
    {
        if (_zeroInputGradient is null || _zeroInputGradient.RowCount != m)
        {
            _zeroInputGradient = new Tensor<T>(m, InputSize);
        }

        return _zeroInputGradient;
    }

    private void CheckInput(Tensor<T> input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank != 2 || input.Dim(1) != InputSize)
        {
            throw new ArgumentException($"{Kind} layer '{Name}' expects input (m, {InputSize}); received {input.ShapeText}", nameof(input));
        }
    }

    private void CheckOutput(Variable<T> output, int m, Tape<T> tape)
    {
        if (!ReferenceEquals(output.Tape, tape))
        {
            throw new InvalidOperationException($"{Kind} layer '{Name}': the forward function must build its result from the variables it receives (it returned a variable of another tape)");
        }

        var v = output.Value;
        if (v.Rank != 2 || v.Dim(0) != m || v.Dim(1) != OutputSize)
        {
            throw new InvalidOperationException($"{Kind} layer '{Name}': the forward function must return ({m}, {OutputSize}) for an input of {m} rows; it returned {v.ShapeText}");
        }
    }
}
