using System.Globalization;
using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// Batch normalization of Z before the activation, per unit (column), with learnable γ and β.
/// </summary>
/// <remarks>
/// <para>Training, over the m examples of the mini-batch: μ = (1/m)·Σᵢ z⁽ⁱ⁾; σ² = (1/m)·Σᵢ (z⁽ⁱ⁾ − μ)²;
/// ẑ = (z − μ)/√(σ² + ε); z̃ = γ ⊙ ẑ + β. Running averages, exponentially weighted with
/// <see cref="Momentum"/> (the course's β): μ_run = momentum·μ_run + (1 − momentum)·μ, likewise σ²_run with the
/// unbiased batch variance m/(m − 1)·σ² (as PyTorch does).</para>
/// <para>Training needs m ≥ 2: the variance of one row is 0, so the layer would output β, pass no gradient, and pull
/// σ²_run towards 0. A training-mode <see cref="Forward"/> of one row throws <see cref="ArgumentException"/> (PyTorch's
/// "Expected more than 1 value per channel when training"); <see cref="Trainer.Fit{T}"/> refuses BatchSize 1 for a model
/// with batch norm and skips an epoch's last mini-batch when it holds one row.</para>
/// <para>Inference uses μ_run and σ²_run, so it works for any batch size including one example.</para>
/// <para>Backward: dβ = Σᵢ dz̃; dγ = Σᵢ dz̃ ⊙ ẑ; dz = (γ/(m·√(σ² + ε))) ⊙ (m·dz̃ − dβ − ẑ ⊙ dγ).</para>
/// <para>Shapes: Z, Z̃ (m, n); γ, β, μ_run, σ²_run (n). γ and β are named "weight" and "bias", the buffers
/// "running_mean" and "running_var", as in PyTorch's BatchNorm1d. γ and β are not regularized.</para>
/// </remarks>
/// <typeparam name="T">The element type.</typeparam>
public sealed class BatchNorm<T> : ILayer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly BatchBuffer<T> _output;
    private readonly BatchBuffer<T> _xhat;
    private readonly BatchBuffer<T> _inputGradient;
    private readonly Tensor<T> _mean;
    private readonly Tensor<T> _var;
    private readonly Tensor<T> _invStd;
    private readonly Tensor<T> _scratch;
    private readonly Dictionary<string, Tensor<T>> _buffers;
    private Tensor<T>? _lastXhat;

    /// <summary>Creates a batch-norm layer over <paramref name="size"/> units.</summary>
    /// <param name="size">n, the number of units normalized.</param>
    /// <param name="momentum">Weight of the old running average, in [0, 1), and below 1 once rounded to <typeparamref name="T"/>. PyTorch's
    /// <c>BatchNorm1d(momentum=p)</c> weighs the new batch instead: it is this layer's momentum 1 − p (PyTorch's default 0.1 is 0.9 here).</param>
    /// <param name="epsilon">ε added to the variance, &gt; 0 and finite, also once rounded to <typeparamref name="T"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size below 1, momentum outside [0, 1) or rounding to 1 in <typeparamref name="T"/>, or ε not positive and finite (as a double or in <typeparamref name="T"/>).</exception>
    public BatchNorm(int size, double momentum = 0.9, double epsilon = 1e-5)
    {
        if (size < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, $"size must be ≥ 1; received {size}");
        }

        if (!(momentum >= 0 && momentum < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(momentum), momentum, $"momentum must be in [0, 1); received {momentum}");
        }

        if (!(epsilon > 0) || !double.IsFinite(epsilon))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, $"epsilon must be finite and > 0; received {epsilon}");
        }

        // Valid as doubles but not once rounded to T: momentum 1 freezes the running statistics, ε = 0 divides by 0.
        T momentumT = T.CreateTruncating(momentum);
        if (!(momentumT < T.One))
        {
            throw new ArgumentOutOfRangeException(nameof(momentum), momentum, string.Create(CultureInfo.InvariantCulture, $"momentum {momentum:R} rounds to {momentumT} in {typeof(T).Name}, so the running averages would never change; momentum must stay below 1 in the layer's element type (at most {T.BitDecrement(T.One)} in {typeof(T).Name})"));
        }

        T epsilonT = T.CreateTruncating(epsilon);
        if (!(epsilonT > T.Zero) || !T.IsFinite(epsilonT))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, epsilonT == T.Zero
                ? FormattableString.Invariant($"epsilon {epsilon:R} rounds to 0 in {typeof(T).Name}, so a unit with zero batch variance would divide by 0; use an epsilon a {typeof(T).Name} can hold (at least {T.Epsilon})")
                : FormattableString.Invariant($"epsilon {epsilon:R} overflows {typeof(T).Name}; use a much smaller epsilon"));
        }

        InputSize = size;
        Momentum = momentum;
        Epsilon = epsilon;
        Gamma = new Parameter<T>("weight", Tensor.Full(T.One, size), regularized: false);
        Beta = new Parameter<T>("bias", new Tensor<T>(size), regularized: false);
        RunningMean = new Tensor<T>(size);
        RunningVariance = Tensor.Full(T.One, size);
        Parameters = [Gamma, Beta];
        _buffers = new Dictionary<string, Tensor<T>> { ["running_mean"] = RunningMean, ["running_var"] = RunningVariance };
        _output = new BatchBuffer<T>(size);
        _xhat = new BatchBuffer<T>(size);
        _inputGradient = new BatchBuffer<T>(size);
        _mean = new Tensor<T>(size);
        _var = new Tensor<T>(size);
        _invStd = new Tensor<T>(size);
        _scratch = new Tensor<T>(size);
    }

    /// <inheritdoc/>
    public string Kind => "BatchNorm";

    /// <inheritdoc/>
    public string Name
    {
        get => field ?? string.Empty;
        set
        {
            field = value;
            Gamma.Name = $"{value}.weight";
            Beta.Name = $"{value}.bias";
        }
    }

    /// <inheritdoc/>
    public int InputSize { get; }

    /// <inheritdoc/>
    public int OutputSize => InputSize;

    /// <summary>Weight of the previous running average (the course's β for exponentially weighted averages).</summary>
    public double Momentum { get; }

    /// <summary>ε in √(σ² + ε).</summary>
    public double Epsilon { get; }

    /// <summary>γ, the learnable scale, shape (n), initialized to 1.</summary>
    public Parameter<T> Gamma { get; }

    /// <summary>β, the learnable shift, shape (n), initialized to 0.</summary>
    public Parameter<T> Beta { get; }

    /// <summary>μ_run, shape (n), used at inference.</summary>
    public Tensor<T> RunningMean { get; }

    /// <summary>σ²_run, shape (n), used at inference.</summary>
    public Tensor<T> RunningVariance { get; }

    /// <inheritdoc/>
    public IReadOnlyList<Parameter<T>> Parameters { get; }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, Tensor<T>> Buffers => _buffers;

    /// <inheritdoc/>
    public LayerConfig Config => new(Kind, InputSize, new Dictionary<string, string>
    {
        ["momentum"] = Momentum.ToString("R", CultureInfo.InvariantCulture),
        ["epsilon"] = Epsilon.ToString("R", CultureInfo.InvariantCulture),
    });

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input's width is not n, or <paramref name="training"/> is set and the input has fewer than 2 rows.</exception>
    public Tensor<T> Forward(Tensor<T> input, bool training)
    {
        LayerChecks.Input(this, input);
        int m = input.RowCount;
        if (training && m < 2)
        {
            throw new ArgumentException($"BatchNorm layer '{Name}' needs at least 2 rows in training mode (the batch variance of one row is 0, so it would output β, pass no gradient, and shrink its running variance to 0); received {m} row{(m == 1 ? string.Empty : "s")}. Train with mini-batches of 2 or more; inference (training: false) takes any number of rows", nameof(input));
        }

        var output = _output.Get(m);
        if (!training)
        {
            InferInto(input, output);
            return output;
        }

        int n = InputSize;
        var z = input.ReadOnlySpan;
        var mean = _mean.Span;
        var variance = _var.Span;
        var invStd = _invStd.Span;
        var xhat = _xhat.Get(m);
        var xs = xhat.Span;

        mean.Clear();
        for (int i = 0; i < m; i++)
        {
            TP.Add(mean, z.Slice(i * n, n), mean);
        }

        TP.Multiply(mean, T.One / T.CreateTruncating(m), mean);
        variance.Clear();
        for (int i = 0; i < m; i++)
        {
            var row = xs.Slice(i * n, n);
            TP.Subtract(z.Slice(i * n, n), mean, row);
            TP.MultiplyAdd(row, row, variance, variance);
        }

        TP.Multiply(variance, T.One / T.CreateTruncating(m), variance);
        TP.Add(variance, T.CreateTruncating(Epsilon), invStd);
        TP.ReciprocalSqrt(invStd, invStd);

        var gamma = Gamma.Value.ReadOnlySpan;
        var beta = Beta.Value.ReadOnlySpan;
        var o = output.Span;
        for (int i = 0; i < m; i++)
        {
            var row = xs.Slice(i * n, n);
            TP.Multiply(row, invStd, row);
            TP.FusedMultiplyAdd(row, gamma, beta, o.Slice(i * n, n));
        }

        // Exponentially weighted running statistics (unbiased variance for the running estimate).
        T mom = T.CreateTruncating(Momentum);
        T keep = T.One - mom;
        T unbias = T.CreateTruncating(m / (double)(m - 1));
        var rm = RunningMean.Span;
        var rv = RunningVariance.Span;
        TP.Multiply(rm, mom, rm);
        TP.MultiplyAdd(mean, keep, rm, rm);
        TP.Multiply(rv, mom, rv);
        TP.MultiplyAdd(variance, keep * unbias, rv, rv);

        _lastXhat = xhat;
        return output;
    }

    /// <inheritdoc/>
    public void Infer(Tensor<T> input, Tensor<T> output)
    {
        LayerChecks.Input(this, input);
        LayerChecks.Output(this, input, output);
        InferInto(input, output);
    }

    /// <inheritdoc/>
    public Tensor<T> Backward(Tensor<T> outputGradient)
    {
        var xhat = _lastXhat ?? throw new InvalidOperationException($"BatchNorm layer '{Name}': Backward called before a training Forward");
        int m = xhat.RowCount;
        int n = InputSize;
        LayerChecks.Gradient(this, outputGradient, m);
        var dout = outputGradient.ReadOnlySpan;
        var xs = xhat.ReadOnlySpan;
        var dGamma = Gamma.Gradient.Span;
        var dBeta = Beta.Gradient.Span;
        dGamma.Clear();
        dBeta.Clear();
        for (int i = 0; i < m; i++)
        {
            var d = dout.Slice(i * n, n);
            TP.Add(dBeta, d, dBeta);
            TP.MultiplyAdd(d, xs.Slice(i * n, n), dGamma, dGamma);
        }

        // coef = γ ⊙ invStd / m
        var coef = _scratch.Span;
        TP.Multiply(Gamma.Value.ReadOnlySpan, _invStd.ReadOnlySpan, coef);
        TP.Multiply(coef, T.One / T.CreateTruncating(m), coef);
        T mT = T.CreateTruncating(m);
        var dz = _inputGradient.Get(m);
        var dzs = dz.Span;
        for (int i = 0; i < m; i++)
        {
            var row = dzs.Slice(i * n, n);

            // row = m·dz̃ − dβ − ẑ ⊙ dγ, then ⊙ coef
            TP.Multiply(xs.Slice(i * n, n), dGamma, row);
            TP.Add(row, dBeta, row);
            TP.Negate(row, row);
            TP.MultiplyAdd(dout.Slice(i * n, n), mT, row, row);
            TP.Multiply(row, coef, row);
        }

        return dz;
    }

    private void InferInto(Tensor<T> input, Tensor<T> output)
    {
        int n = InputSize;
        // out = z·a + c with a = γ/√(σ²_run + ε), c = β − μ_run·a.
        var a = new T[n];
        var c = new T[n];
        TP.Add(RunningVariance.ReadOnlySpan, T.CreateTruncating(Epsilon), a);
        TP.ReciprocalSqrt(a, a);
        TP.Multiply(a, Gamma.Value.ReadOnlySpan, a);
        TP.Multiply(RunningMean.ReadOnlySpan, a, c);
        TP.Subtract(Beta.Value.ReadOnlySpan, c, c);
        var z = input.ReadOnlySpan;
        var o = output.Span;
        for (int i = 0; i < input.RowCount; i++)
        {
            TP.FusedMultiplyAdd(z.Slice(i * n, n), a, c, o.Slice(i * n, n));
        }
    }
}
