using System.Numerics;
using System.Text;

namespace DeepLearning;

/// <summary>
/// A sequential network: layers applied in order to a batch X (m, n_x), ending in an output activation
/// fused with its loss (softmax + cross-entropy, sigmoid + binary cross-entropy, or linear + squared error).
/// Build one with <see cref="Model.Sequential{T}(int)"/>.
/// </summary>
/// <remarks>
/// <para>Training state (layer buffers, dropout masks, batch-norm batch statistics) is touched only by
/// <see cref="ComputeGradients"/> and <see cref="Forward"/>; these are not thread-safe. <see cref="Predict"/>,
/// <see cref="PredictClasses"/> and <see cref="Evaluate(Tensor{T}, Tensor{T})"/> use the layers' inference path, which
/// reads only the weights and running statistics and allocates its own buffers, so any number of threads may
/// call them at once on one model — as long as no thread is training it at the same time.</para>
/// <para>Cost: J = (1/m)·Σᵢ L(ŷ⁽ⁱ⁾, y⁽ⁱ⁾) + the regularization term ((λ/2m)·Σ‖W‖²_F for L2).</para>
/// </remarks>
/// <typeparam name="T">The element type: float for training, double for gradient checking.</typeparam>
public sealed class Model<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int InferenceChunk = 4096;
    private readonly ILayer<T>[] _layers;
    private readonly Parameter<T>[] _parameters;
    private readonly BatchBuffer<T> _outputGradient;
    private readonly bool _fusedOutput;

    internal Model(int inputs, ILayer<T>[] layers, Loss loss, RandomSource random, ulong seed)
    {
        InputSize = inputs;
        _layers = layers;
        Loss = loss;
        Random = random;
        Seed = seed;
        _parameters = layers.SelectMany(l => l.Parameters).ToArray();
        OutputSize = layers.Length == 0 ? inputs : layers[^1].OutputSize;
        _outputGradient = new BatchBuffer<T>(OutputSize);
        _fusedOutput = loss is not CustomLoss && layers.Length > 0 && layers[^1] is ActivationLayer<T> { Activation: Activation.Softmax or Activation.Sigmoid };
        if (layers.Length > 0 && layers[0] is Dense<T> first)
        {
            first.InputGradientNeeded = false;
        }
    }

    /// <summary>n_x, the number of input features.</summary>
    public int InputSize { get; }

    /// <summary>The number of outputs: C classes for softmax, 1 for sigmoid, the target width for regression.</summary>
    public int OutputSize { get; }

    /// <summary>The layers in order.</summary>
    public IReadOnlyList<ILayer<T>> Layers => _layers;

    /// <summary>Every learnable parameter, in layer order.</summary>
    public IReadOnlyList<Parameter<T>> Parameters => _parameters;

    /// <summary>The total number of learnable scalars.</summary>
    public long ParameterCount => _parameters.Sum(p => (long)p.Length);

    /// <summary>The loss fused with the output layer, chosen from the last layer by the builder.</summary>
    public Loss Loss { get; }

    /// <summary>The weight penalty included in the cost and gradients (set by the training options or directly).</summary>
    public Regularizer Regularizer { get; set; } = Regularization.None;

    /// <summary>The seed the model was built with.</summary>
    public ulong Seed { get; }

    /// <summary>The model's random source (dropout masks are forked from it at build time).</summary>
    public RandomSource Random { get; }

    /// <summary>
    /// An optional transform (e.g. a standardizer fitted on the training set) that <see cref="Predict"/> and
    /// <see cref="PredictClasses"/> apply to raw input; saved with the model, so a loaded model predicts on raw
    /// input. Everything that takes targets (training, <see cref="Evaluate(Tensor{T}, Tensor{T})"/>, <see cref="Cost"/>)
    /// takes data already transformed, as the training set was.
    /// </summary>
    public IInputTransform<T>? InputTransform { get; set; }

    /// <summary>Turns every dropout layer on or off for training passes (the gradient checker turns them off).</summary>
    public bool DropoutEnabled
    {
        get => _layers.OfType<Dropout<T>>().All(d => d.Enabled);
        set
        {
            foreach (var d in _layers.OfType<Dropout<T>>())
            {
                d.Enabled = value;
            }
        }
    }

    /// <summary>
    /// Forward pass over all layers: X (m, n_x) → Ŷ (m, C). In training mode dropout is active and batch norm
    /// uses batch statistics. The result is a buffer owned by the last layer.
    /// </summary>
    public Tensor<T> Forward(Tensor<T> x, bool training)
    {
        CheckInput(x, nameof(x));
        var a = x;
        foreach (var layer in _layers)
        {
            a = layer.Forward(a, training);
        }

        return a;
    }

    /// <summary>
    /// One training pass over a mini-batch: forward (training mode), cost J including the regularization term,
    /// backward filling every parameter's gradient (including (λ/m)·W for L2). Returns J.
    /// Allocates nothing once warm for a given batch size.
    /// </summary>
    /// <param name="x">X (m, n_x), already normalized.</param>
    /// <param name="y">Y (m, C): one-hot rows, 0/1 targets, or regression targets.</param>
    public double ComputeGradients(Tensor<T> x, Tensor<T> y)
    {
        CheckTargets(x, y);
        var yhat = Forward(x, training: true);
        LastOutput = yhat;
        int m = x.RowCount;
        double cost = DataCost(yhat, y) + Regularizer.Cost(_parameters, m);

        var dz = _outputGradient.Get(m);
        Loss.OutputGradient(yhat, y, dz);
        var grad = dz;
        int start = _fusedOutput ? _layers.Length - 2 : _layers.Length - 1;
        for (int l = start; l >= 0; l--)
        {
            grad = _layers[l].Backward(grad);
        }

        Regularizer.AddGradient(_parameters, m);
        return cost;
    }

    /// <summary>Ŷ from the latest <see cref="ComputeGradients"/> (a layer-owned buffer, valid until the next training call).</summary>
    internal Tensor<T>? LastOutput { get; private set; }

    /// <summary>Copies the current parameter values and buffers into a state captured earlier (no allocation).</summary>
    public void CaptureStateInto(ModelState<T> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        int i = 0;
        foreach (var layer in _layers)
        {
            foreach (var p in layer.Parameters)
            {
                p.Value.CopyTo(state.Tensors[i++]);
            }

            foreach (var b in layer.Buffers.Values)
            {
                b.CopyTo(state.Tensors[i++]);
            }
        }
    }

    /// <summary>The cost J (data term + regularization term) of a batch, in training mode (dropout and batch statistics) or inference mode.</summary>
    public double Cost(Tensor<T> x, Tensor<T> y, bool training)
    {
        CheckTargets(x, y);
        if (training)
        {
            var yhat = Forward(x, training: true);
            return DataCost(yhat, y) + Regularizer.Cost(_parameters, x.RowCount);
        }

        var (logits, _) = InferLogitsAndOutput(x);
        return Loss.Cost(logits, y) + Regularizer.Cost(_parameters, x.RowCount);
    }

    /// <summary>Predicted probabilities (or regression outputs) Ŷ (m, C) for raw input X (m, n_x), in inference mode. Thread-safe.</summary>
    /// <remarks>
    /// Non-finite input gives non-finite output, as in PyTorch, and never a plausible number: every output of a row of X
    /// that holds NaN or ±∞ is NaN (the other rows are unaffected). <see cref="PredictClasses"/> and
    /// <see cref="Evaluate(Tensor{T}, Tensor{T})"/>, which cannot express that, throw instead.
    /// </remarks>
    public Tensor<T> Predict(Tensor<T> x)
    {
        var result = PredictUnchecked(x);
        if (FiniteCheck.FirstNonFinite(x.ReadOnlySpan) >= 0)
        {
            var xs = x.ReadOnlySpan;
            int n = x.RowLength;
            for (int i = 0; i < x.RowCount; i++)
            {
                if (FiniteCheck.FirstNonFinite(xs.Slice(i * n, n)) >= 0)
                {
                    result.Span.Slice(i * OutputSize, OutputSize).Fill(T.NaN);
                }
            }
        }

        return result;
    }

    /// <summary>Predicted class per example: argmax of Ŷ for several outputs, ŷ &gt; 0.5 for one sigmoid output. Thread-safe.</summary>
    /// <exception cref="InvalidDataException">A row of X holds NaN or ±∞ (the cell is named): it has no class.</exception>
    public int[] PredictClasses(Tensor<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        RequireFinite(x, "X");
        return Predictions.ToLabels(PredictUnchecked(x));
    }

    private Tensor<T> PredictUnchecked(Tensor<T> x)
    {
        var input = PrepareInput(x);
        CheckInput(input, nameof(x));
        var result = new Tensor<T>(input.RowCount, OutputSize);
        for (int start = 0; start < input.RowCount; start += InferenceChunk)
        {
            int count = Math.Min(InferenceChunk, input.RowCount - start);
            var a = input.Rows(start, count);
            for (int l = 0; l < _layers.Length; l++)
            {
                var output = l == _layers.Length - 1 ? result.Rows(start, count) : new Tensor<T>(count, _layers[l].OutputSize);
                _layers[l].Infer(a, output);
                a = output;
            }
        }

        return result;
    }


    /// <summary>
    /// Cost (inference mode; the loss alone, without the regularization term) and accuracy on labelled data X
    /// (already transformed, like the training set) and targets Y. Thread-safe.
    /// </summary>
    /// <exception cref="InvalidDataException">X or Y holds NaN or ±∞ (the cell is named).</exception>
    public (double Cost, double Accuracy) Evaluate(Tensor<T> x, Tensor<T> y)
    {
        var input = x;
        CheckTargets(input, y);
        RequireFinite(x, "X");
        RequireFinite(y, "Y");
        var (logits, yhat) = InferLogitsAndOutput(input);
        double cost = Loss.Cost(logits, y);
        return (cost, input.RowCount == 0 ? 0 : Accuracy.Compute(yhat, y));
    }

    /// <summary>A copy of every parameter value and buffer (e.g. for early stopping's restore-best-weights).</summary>
    public ModelState<T> CaptureState()
    {
        var tensors = new List<Tensor<T>>();
        foreach (var layer in _layers)
        {
            tensors.AddRange(layer.Parameters.Select(p => p.Value.Clone()));
            tensors.AddRange(layer.Buffers.Values.Select(b => b.Clone()));
        }

        return new ModelState<T>(tensors);
    }

    /// <summary>Restores values captured by <see cref="CaptureState"/> from this model (or one of the same architecture).</summary>
    public void RestoreState(ModelState<T> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        int i = 0;
        foreach (var layer in _layers)
        {
            foreach (var t in layer.Parameters.Select(p => p.Value).Concat(layer.Buffers.Values))
            {
                if (i >= state.Tensors.Count)
                {
                    throw new ArgumentException("the state holds fewer tensors than this model has", nameof(state));
                }

                state.Tensors[i++].CopyTo(t);
            }
        }

        if (i != state.Tensors.Count)
        {
            throw new ArgumentException($"the state holds {state.Tensors.Count} tensors but this model has {i}", nameof(state));
        }
    }

    /// <summary>
    /// A copy of this model with another element type (e.g. a double copy of a float model for gradient
    /// checking): same architecture, weights, running statistics, regularizer and input transform.
    /// </summary>
    public Model<TOther> ConvertTo<TOther>()
        where TOther : unmanaged, IFloatingPointIeee754<TOther>
    {
        var copy = ModelFactory.FromConfigs<TOther>(InputSize, _layers.Select(l => (l.Name, l.Config)).ToArray(), Loss, Seed);
        for (int l = 0; l < _layers.Length; l++)
        {
            var src = _layers[l].Parameters.Select(p => p.Value).Concat(_layers[l].Buffers.Values).ToArray();
            var dst = copy.Layers[l].Parameters.Select(p => p.Value).Concat(copy.Layers[l].Buffers.Values).ToArray();
            for (int t = 0; t < src.Length; t++)
            {
                src[t].ConvertTo<TOther>().CopyTo(dst[t]);
            }
        }

        copy.Regularizer = Regularizer;
        copy.InputTransform = InputTransform is null ? null : InputTransforms.Restore<TOther>(InputTransform.Kind, InputTransform.ExportTensors().ToDictionary(kv => kv.Key, kv => kv.Value.ConvertTo<TOther>()));
        return copy;
    }

    /// <summary>Saves the model (architecture, weights, running statistics, input transform) atomically; see <see cref="ModelFile"/>.</summary>
    public void Save(string path) => ModelFile.Save(this, path);

    /// <summary>A Keras-style summary: each layer with its output shape and parameter count, then totals.</summary>
    public string Summary()
    {
        var sb = new StringBuilder();
        string line = new('─', 72);
        sb.AppendLine(FormattableString.Invariant($"Model<{typeof(T).Name}>: {InputSize} inputs → {OutputSize} outputs, loss {Loss.Name}, seed {Seed}"));
        sb.AppendLine(line);
        sb.AppendLine(FormattableString.Invariant($"{"#",-4}{"Layer",-34}{"Output shape",-18}{"Params",16}"));
        sb.AppendLine(line);
        foreach (var layer in _layers)
        {
            string desc = layer switch
            {
                Dense<T> d => $"Dense({d.OutputSize}{(d.Activation == Activation.Linear ? string.Empty : ", " + d.Activation)}{(d.UseBias ? string.Empty : ", no bias")}) {d.Initializer.Name}",
                Dropout<T> d => FormattableString.Invariant($"Dropout(keepProb={d.KeepProb})"),
                BatchNorm<T> b => FormattableString.Invariant($"BatchNorm(momentum={b.Momentum}, ε={b.Epsilon:0.##e0})"),
                ActivationLayer<T> a => a.Activation.ToString(),
                _ => layer.Kind,
            };
            long count = layer.Parameters.Sum(p => (long)p.Length);
            sb.AppendLine(FormattableString.Invariant($"{layer.Name,-4}{desc,-34}{"(m, " + layer.OutputSize + ")",-18}{count,16:N0}"));
        }

        sb.AppendLine(line);
        sb.AppendLine(FormattableString.Invariant($"Trainable parameters: {ParameterCount:N0}"));
        long buffers = _layers.Sum(l => l.Buffers.Values.Sum(b => (long)b.Length));
        if (buffers > 0)
        {
            sb.AppendLine(FormattableString.Invariant($"Non-trainable (running statistics): {buffers:N0}"));
        }

        if (Regularizer != Regularization.None)
        {
            sb.AppendLine(FormattableString.Invariant($"Regularization: {Regularizer.Name}"));
        }

        return sb.ToString().TrimEnd();
    }

    /// <inheritdoc/>
    public override string ToString() => Summary();

    internal (Tensor<T> Logits, Tensor<T> Output) InferLogitsAndOutput(Tensor<T> x)
    {
        CheckInput(x, nameof(x));
        var a = x;
        Tensor<T>? logits = null;
        for (int l = 0; l < _layers.Length; l++)
        {
            var output = new Tensor<T>(x.RowCount, _layers[l].OutputSize);
            _layers[l].Infer(a, output);
            if (l == _layers.Length - 1)
            {
                logits = _fusedOutput ? a : output;
            }

            a = output;
        }

        return (logits ?? x, a);
    }

    private double DataCost(Tensor<T> yhat, Tensor<T> y)
    {
        var z = _fusedOutput ? ((ActivationLayer<T>)_layers[^1]).LastInput! : yhat;
        return Loss.Cost(z, y);
    }

    private Tensor<T> PrepareInput(Tensor<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return InputTransform is null ? x : InputTransform.Apply(x);
    }

    private static void RequireFinite(Tensor<T> data, string name)
    {
        if (FiniteCheck.Locate(data, data.RowCount) is { } bad)
        {
            throw new InvalidDataException(FormattableString.Invariant($"{name} holds {bad.Value} at row {bad.Row}, column {bad.Column}; data must be finite"));
        }
    }

    private void CheckInput(Tensor<T> x, string name)
    {
        ArgumentNullException.ThrowIfNull(x, name);
        if (x.Rank != 2 || x.Dim(1) != InputSize)
        {
            throw new ArgumentException($"the model expects input (m, {InputSize}); received {x.ShapeText}", name);
        }
    }

    private void CheckTargets(Tensor<T> x, Tensor<T> y)
    {
        CheckInput(x, nameof(x));
        ArgumentNullException.ThrowIfNull(y);
        if (y.Rank != 2 || y.Dim(0) != x.RowCount || y.Dim(1) != OutputSize)
        {
            throw new ArgumentException($"the targets Y must be ({x.RowCount}, {OutputSize}) for X {x.ShapeText}; received {y.ShapeText}", nameof(y));
        }
    }
}

/// <summary>A snapshot of a model's parameter values and buffers, from <see cref="Model{T}.CaptureState"/>.</summary>
/// <typeparam name="T">The element type.</typeparam>
/// <param name="Tensors">Copies of every parameter value and buffer, in layer order.</param>
public sealed record ModelState<T>(IReadOnlyList<Tensor<T>> Tensors)
    where T : unmanaged, IFloatingPointIeee754<T>;
