using System.Globalization;
using System.Numerics;
using System.Text;

namespace DeepLearning;

/// <summary>
/// A sequential network: layers applied in order to a batch X (m, n_x), ending in an output activation
/// fused with its loss (softmax + cross-entropy, sigmoid + binary cross-entropy, or a linear output with squared,
/// absolute or Huber error). Build one with <see cref="Model.Sequential{T}(int)"/>.
/// </summary>
/// <remarks>
/// <para><b>One meaning for X.</b> Every method that takes inputs — <see cref="Trainer.Fit{T}(Model{T}, IDataSource{T}, TrainingOptions{T}, CancellationToken)"/>,
/// <see cref="Evaluate(Tensor{T}, Tensor{T})"/>, <see cref="Cost"/>, <see cref="ComputeGradients"/>, <see cref="Forward"/>,
/// <see cref="Predict"/>, <see cref="PredictClasses"/> and the gradient checker — takes <b>raw</b> X and applies the
/// model's <see cref="InputTransform"/> (its first stage, fitted on the training set) exactly once. Likewise every
/// method that takes regression targets Y takes them in their original units and applies <see cref="TargetTransform"/>
/// itself, and <see cref="Predict"/> returns original units. Never transform the data yourself as well.</para>
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

    /// <summary>
    /// From this many rows on, <see cref="Predict"/> runs through a transient <see cref="Predictor{T}"/> (weights packed
    /// once, 256 rows at a time through every layer); below, layer by layer in one chunk through the model's reused
    /// buffers, which is faster up to a chunk's rows (784-256-128-10, 1,024 / 2,000 / 4,000 rows: 2.6 / 4.6 / 9.3 ms,
    /// against 8.4 / 9.8 / 13.3 ms through the transient predictor).
    /// </summary>
    private const int PredictorRows = InferenceChunk + 1;
    private readonly ILayer<T>[] _layers;
    private readonly Parameter<T>[] _parameters;
    private readonly BatchBuffer<T> _outputGradient;
    private readonly BatchBuffer<T> _inputBuffer;
    private readonly BatchBuffer<T> _targetBuffer;
    private readonly bool _fusedOutput;
    private IInputTransform<T>? _inputTransform;
    private Standardizer<T>? _targetTransform;
    private IReadOnlyList<string>? _classNames;
    private Tensor<T>? _lastTargets;
    private TrainingOptions<T>? _defaultOptions; // Fit's options when none are given, kept between calls (see Fit)
    private Regularizer _regularizer = Regularization.None;

    internal Model(int inputs, ILayer<T>[] layers, Loss loss, RandomSource random, ulong seed)
    {
        loss.ValidateFor<T>(); // a setting valid as a double may not be in T (Huber's δ = 1e-50 is 0 in float)
        InputSize = inputs;
        _layers = layers;
        Loss = loss;
        Random = random;
        Seed = seed;
        _parameters = layers.SelectMany(l => l.Parameters).ToArray();

        // Names key Save, LoadWeights and optimizer state: a repeat failed only there, later, with an unrelated message.
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in _parameters.Select(p => p.Name).Concat(layers.SelectMany(l => l.Buffers.Select(b => $"{l.Name}.{b.Key}"))))
        {
            if (!names.Add(name))
            {
                throw new ArgumentException($"two parameters or buffers of the model are named \"{name}\" (a layer lists one twice, or two of one name); each needs its own name, which keys saving, loading and optimizer state", nameof(layers));
            }
        }

        OutputSize = layers.Length == 0 ? inputs : layers[^1].OutputSize;
        _outputGradient = new BatchBuffer<T>(OutputSize);
        _inputBuffer = new BatchBuffer<T>(inputs);
        _targetBuffer = new BatchBuffer<T>(OutputSize);
        _fusedOutput = loss is not CustomLoss && layers.Length > 0 && layers[^1] is ActivationLayer<T> { Activation: Activation.Softmax or Activation.Sigmoid };
        IsMultiLabel = loss.IsClassification && OutputSize > 1 && layers.Length > 0
            && layers[^1] is ActivationLayer<T> { Activation: Activation.Sigmoid } or Dense<T> { Activation: Activation.Sigmoid };
        if (layers.Length > 0 && layers[0] is Dense<T> first)
        {
            first.InputGradientNeeded = false;
        }

        _tailLayer = Array.FindLastIndex(layers, l => l is Dense<T>);
        if (_tailLayer < 0)
        {
            _tailLayer = layers.Length;
        }

        _widest = Math.Max(inputs, layers.Length == 0 ? 0 : layers.Max(l => l.OutputSize));
        _scratchWidth = layers.All(l => l is Dense<T> or ActivationLayer<T> or BatchNorm<T> or Dropout<T>) ? _widest : 0;
    }

    // Predict's intermediate activations (and its transformed input) for a call of at most ScratchElements values per
    // layer go into per-thread buffers instead of new tensors: a tensor's pinned storage costs ~5 µs to allocate, and
    // a single-example Predict made six of them (AMD EPYC Zen 5). Only for models of built-in layers, whose Infer keeps
    // nothing of its tensors; the widest layer's width, or 0 when a layer is of another kind.
    private const int ScratchElements = 1 << 14; // 64 KB per buffer in float: three per thread that predicts
    private readonly int _scratchWidth;

    // The widest of the input and the layers' outputs: what one row of inference activations needs.
    private readonly int _widest;

    /// <summary>
    /// The most values a chunk of inference rows keeps per layer: 64M (256 MB in float), where rows × width used to
    /// overflow an int (300 rows of a 9M-unit layer). It binds only for layers wider than 16,384 units (Predict's 4,096
    /// rows), 65,536 (Evaluate's 1,024) or 262,144 (a Predictor's 256); such a chunk still has rows enough (7 for 9M
    /// units) that packing the weights once per chunk costs little next to the products.
    /// </summary>
    internal const long InferenceChunkElements = 1L << 26;

    /// <summary>
    /// How many rows to run through the layers at a time: <paramref name="preferred"/>, or fewer (at least 1) so that
    /// rows × <paramref name="width"/> stays within <see cref="InferenceChunkElements"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">One row of <paramref name="width"/> values is more than a tensor holds.</exception>
    internal static int ChunkRows(int preferred, int width)
    {
        if (width > Tensor.MaxLength)
        {
            throw new InvalidOperationException($"a layer of {width} units is too wide for inference: one row of its activations is more than the {Tensor.MaxLength} values a tensor holds");
        }

        return (int)Math.Clamp(InferenceChunkElements / Math.Max(width, 1), 1, preferred);
    }

    /// <summary><see cref="ChunkRows"/> for this model's widest layer (or input).</summary>
    internal int RowsPerChunk(int preferred) => ChunkRows(preferred, _widest);

    /// <summary>
    /// The most rows one training pass (or unchunked inference pass) can take: every layer keeps a (rows, its width) buffer,
    /// which must hold at most <see cref="Tensor.MaxLength"/> values.
    /// </summary>
    internal int MaxBatchRows => Tensor.MaxLength / Math.Max(1, _widest);

    /// <summary>
    /// The input or first layer whose (rows, width) buffer would be more than a tensor holds for <paramref name="rows"/>
    /// rows, described for a message ("layer '0' (Dense, 40000 units)") with its width; null when all of them fit.
    /// </summary>
    internal (string What, int Width)? TooWideFor(long rows)
    {
        if (rows * _widest <= Tensor.MaxLength)
        {
            return null;
        }

        if (rows * InputSize > Tensor.MaxLength)
        {
            return ($"the input (n_x = {InputSize} features)", InputSize);
        }

        // A loop, not First(lambda): a lambda capturing rows would allocate its closure on every call, in the training step.
        foreach (var layer in _layers)
        {
            if (rows * layer.OutputSize > Tensor.MaxLength)
            {
                return ($"layer '{layer.Name}' ({layer.Kind}, {layer.OutputSize} units)", layer.OutputSize);
            }
        }

        return null; // unreachable: _widest is the input's or a layer's width
    }

    /// <summary>
    /// Refuses X of more rows than one pass through the layers can take (<see cref="MaxBatchRows"/>), naming the layer, where
    /// the layer's buffer would otherwise fail with only a tensor shape to show. Predict and Evaluate split X into chunks instead.
    /// </summary>
    private void CheckPassRows(Tensor<T> x)
    {
        if (TooWideFor(x.RowCount) is { } wide)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"X of {x.RowCount} rows is too many for one pass: through {wide.What} they need {x.RowCount} × {wide.Width} = {(long)x.RowCount * wide.Width} values, more than the {Tensor.MaxLength} a tensor holds (Tensor.MaxLength); pass at most {MaxBatchRows} rows at a time (Predict and Evaluate split X into chunks themselves)"),
                nameof(x));
        }
    }

    [ThreadStatic]
    private static InferenceScratch? _inferenceScratch;

    // The layer before which ComputeGradients calls TrainingTail: the last dense layer (the small output layer, in the
    // course's networks), or the end of the forward pass when there is none.
    private readonly int _tailLayer;

    /// <summary>
    /// Called once per <see cref="ComputeGradients"/>, just before the last dense layer's forward pass: from there to
    /// the first large GEMM of the backward pass the work (output layer, loss, its gradient) is too small to share, so
    /// Fit uses this point to have a helper thread gather the next mini-batch meanwhile. Null outside Fit.
    /// </summary>
    internal Action? TrainingTail { get; set; }

    /// <summary>Whether the output activation (softmax or sigmoid) is fused with the loss, as class weights and label smoothing need.</summary>
    internal bool HasFusedOutput => _fusedOutput;

    /// <summary>n_x, the number of input features.</summary>
    public int InputSize { get; }

    /// <summary>The number of outputs: C classes for softmax, C labels for sigmoid (1 for binary), the target width for regression.</summary>
    public int OutputSize { get; }

    /// <summary>The layers in order.</summary>
    public IReadOnlyList<ILayer<T>> Layers => _layers;

    /// <summary>Every learnable parameter, in layer order.</summary>
    public IReadOnlyList<Parameter<T>> Parameters => _parameters;

    /// <summary>The total number of learnable scalars.</summary>
    public long ParameterCount => _parameters.Sum(p => (long)p.Length);

    /// <summary>The loss fused with the output layer, chosen from the last layer by the builder (or <c>WithLoss</c> for regression).</summary>
    public Loss Loss { get; }

    /// <summary>Whether the model is a classifier (softmax or sigmoid output with cross-entropy) rather than a regression.</summary>
    public bool IsClassifier => Loss.IsClassification;

    /// <summary>
    /// Whether the model is a multi-label classifier: a sigmoid output with C &gt; 1 columns (Y and Ŷ are (m, C)), each an
    /// independent yes/no trained with binary cross-entropy, so a row may hold any number of 1s. Such a model is scored
    /// per cell, as Keras's <c>binary_accuracy</c>: accuracy = (1/(m·C))·Σᵢ Σⱼ 1[(ŷⱼ⁽ⁱ⁾ &gt; 0.5) = (yⱼ⁽ⁱ⁾ &gt; 0.5)] in
    /// <c>Fit</c>'s history, <see cref="Evaluate(Tensor{T}, Tensor{T})"/> and the bias/variance diagnosis; it is labelled
    /// by <see cref="PredictLabels"/>, while <see cref="PredictClasses"/> (one class per row) refuses it. False for
    /// softmax, for one sigmoid output and for regression.
    /// </summary>
    public bool IsMultiLabel { get; }

    /// <summary>
    /// The weight penalty included in the cost and gradients (set by the training options or directly);
    /// <see cref="Regularization.None"/> for none.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null (use <see cref="Regularization.None"/> for no penalty).</exception>
    public Regularizer Regularizer
    {
        get => _regularizer;
        set => _regularizer = value ?? throw new ArgumentNullException(nameof(value), "Regularizer must not be null; use Regularization.None for no weight penalty");
    }

    /// <summary>The seed the model was built with.</summary>
    public ulong Seed { get; }

    /// <summary>The model's random source (dropout masks are forked from it at build time).</summary>
    public RandomSource Random { get; }

    /// <summary>
    /// The shuffle stream of the latest Fit and the seed it came from: a later Fit with the same seed continues it, so
    /// Fit for 1 epoch twice shuffles as Fit for 2 epochs once instead of replaying the first epoch's order.
    /// </summary>
    internal (ulong Seed, RandomSource Stream)? Shuffles { get; set; }

    /// <summary>
    /// The model's first stage: a per-feature transform of raw X fitted on the training set (e.g.
    /// <c>Standardizer.Fit(train)</c>, or set by <c>ModelBuilder.Standardize(train)</c>), or null. Every entry point
    /// that takes X applies it once, so always pass raw data. Saved with the model. Null by default.
    /// </summary>
    /// <exception cref="ArgumentException">The transform was fitted on a different number of features than <see cref="InputSize"/>.</exception>
    public IInputTransform<T>? InputTransform
    {
        get => _inputTransform;
        set
        {
            if (value is not null && value.Features != InputSize)
            {
                throw new ArgumentException($"the input transform ({value.Kind}) was fitted on {value.Features} features but the model has {InputSize} inputs", nameof(value));
            }

            _inputTransform = value;
        }
    }

    /// <summary>
    /// For regression: y is standardized with the training targets' μ and σ (<c>Standardizer.Fit(train.Y)</c>, or
    /// <c>ModelBuilder.StandardizeTargets(train)</c>) before the loss sees it, and <see cref="Predict"/> maps the
    /// network's output back with ŷ·σ + μ, so targets and predictions are always in original units. Saved with the
    /// model. Null by default (the network sees y as given).
    /// </summary>
    /// <exception cref="ArgumentException">The model is a classifier, or the transform's width is not <see cref="OutputSize"/>.</exception>
    public Standardizer<T>? TargetTransform
    {
        get => _targetTransform;
        set
        {
            if (value is not null && IsClassifier)
            {
                throw new ArgumentException($"a target transform is for regression; this model is a classifier ({Loss.Name})", nameof(value));
            }

            if (value is not null && value.Features != OutputSize)
            {
                throw new ArgumentException($"the target transform was fitted on {value.Features} target columns but the model has {OutputSize} outputs", nameof(value));
            }

            _targetTransform = value;
        }
    }

    /// <summary>
    /// Display names of the classes (index order), used by <see cref="Evaluate(Tensor{T}, Tensor{T})"/>'s confusion
    /// matrix; taken from the training <see cref="DataSet{T}.ClassNames"/> by Fit when unset, and saved with the
    /// model. Null when unknown (and always for regression). Fit and <see cref="Evaluate(IDataSource{T})"/> refuse a
    /// data set (or streaming source) whose own class names differ from these (and a validation set whose names differ
    /// from the training set's): its class indices would name other classes, as when a test CSV of text labels is read
    /// without <c>CsvOptions.ClassNames = train.ClassNames</c> and lacks a class.
    /// </summary>
    /// <exception cref="ArgumentException">The model is not a classifier, the number of names is not the number of classes, or a name is null or holds a lone UTF-16 surrogate.</exception>
    public IReadOnlyList<string>? ClassNames
    {
        get => _classNames;
        set
        {
            if (value is not null)
            {
                if (!IsClassifier)
                {
                    throw new ArgumentException("class names are for classifiers; this model is a regression", nameof(value));
                }

                if (value.Count != ClassCount)
                {
                    throw new ArgumentException($"the model has {ClassCount} classes; received {value.Count} class names", nameof(value));
                }

                value = value.ToArray();
                for (int i = 0; i < value.Count; i++)
                {
                    if (value[i] is null)
                    {
                        // Save would write it, and Load refuse the file it wrote.
                        throw new ArgumentException($"class names must not be null; entry {i} of [{string.Join(", ", value.Select(n => n ?? "null"))}] is null", nameof(value));
                    }

                    if (ModelFile.LoneSurrogate(value[i]) is var k and >= 0)
                    {
                        // It has no UTF-8 form: a saved model would hold U+FFFD in its place and load back a different name.
                        throw new ArgumentException($"class name {i} holds a lone UTF-16 surrogate (U+{(int)value[i][k]:X4}) at character {k}; names must be well-formed text", nameof(value));
                    }
                }
            }

            _classNames = value;
        }
    }

    /// <summary>
    /// The number of classes of a classifier: <see cref="OutputSize"/> for softmax, 2 for one sigmoid output, the C labels
    /// (each a yes/no) of a multi-label sigmoid output (<see cref="IsMultiLabel"/>); 0 for regression.
    /// </summary>
    public int ClassCount => !IsClassifier ? 0 : OutputSize == 1 ? 2 : OutputSize;

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
    /// Forward pass over all layers: raw X (m, n_x) → <see cref="InputTransform"/> → Ŷ (m, C). In training mode dropout
    /// is active and batch norm uses batch statistics. The result is a buffer owned by the last layer, in the network's
    /// own units (before any <see cref="TargetTransform"/> is undone).
    /// </summary>
    /// <exception cref="ArgumentException">
    /// X is not (m, n_x), or has so many rows that a layer's activations, m × its units, would be more than
    /// <see cref="Tensor.MaxLength"/> values (the layer is named).
    /// </exception>
    public Tensor<T> Forward(Tensor<T> x, bool training) => ForwardWithTail(x, training, tail: null);

    // The forward pass, calling tail (if any) just before the last dense layer (or at the end when there is none).
    private Tensor<T> ForwardWithTail(Tensor<T> x, bool training, Action? tail)
    {
        CheckInput(x, nameof(x));
        CheckPassRows(x);
        var a = TransformInputInto(x);
        for (int l = 0; l < _layers.Length; l++)
        {
            if (l == _tailLayer)
            {
                tail?.Invoke();
            }

            a = _layers[l].Forward(a, training);
        }

        if (_tailLayer == _layers.Length)
        {
            tail?.Invoke();
        }

        return a;
    }

    /// <summary>
    /// One training pass over a mini-batch: forward (training mode), cost J including the regularization term,
    /// backward filling every parameter's gradient (including (λ/m)·W for L2). Returns J.
    /// Allocates nothing once warm for a given batch size.
    /// </summary>
    /// <param name="x">Raw X (m, n_x) with m ≥ 1; the <see cref="InputTransform"/> is applied here.</param>
    /// <param name="y">Y (m, C): one-hot (or probability) rows for softmax, values in [0, 1] for sigmoid, or regression targets in original units.</param>
    /// <exception cref="ArgumentException">
    /// The shapes do not match the model, X holds no rows, or Y does not suit the loss as <see cref="Evaluate(Tensor{T}, Tensor{T})"/>
    /// requires (probability rows for softmax, values in [0, 1] for sigmoid; the first offending row is named). Or X has so
    /// many rows that a layer's activations, m × its units, would be more than <see cref="Tensor.MaxLength"/> values (the
    /// layer is named); nothing is computed.
    /// </exception>
    /// <exception cref="InvalidDataException">Y holds NaN or ±∞ (the cell is named).</exception>
    public double ComputeGradients(Tensor<T> x, Tensor<T> y)
    {
        CheckBatch(x, y);
        return ComputeGradientsChecked(x, y);
    }

    /// <summary>
    /// <see cref="ComputeGradients"/> for a batch already checked: Fit checks the whole training set (or each streamed
    /// batch) before it trains, so its steps do not scan Y again.
    /// </summary>
    /// <param name="x">Raw X (m, n_x).</param>
    /// <param name="y">Y (m, C).</param>
    /// <param name="classWeights">Fit's checked <see cref="TrainingOptions{T}.ClassWeights"/> (a single-label classifier
    /// with a fused output, one weight per class, rounded to T), or null.</param>
    /// <param name="labelSmoothing">Fit's checked <see cref="TrainingOptions{T}.LabelSmoothing"/>, or 0. With either, the
    /// cost and dZ are <see cref="Loss.WeightedCostAndGradient"/>'s. Only Fit's own steps pass them: the public
    /// <see cref="ComputeGradients"/>, <see cref="Trainer.Step"/> and the gradient checker never weigh or smooth.</param>
    internal double ComputeGradientsChecked(Tensor<T> x, Tensor<T> y, double[]? classWeights = null, double labelSmoothing = 0)
    {
        var yhat = ForwardWithTail(x, training: true, TrainingTail);
        y = TransformTargetsInto(y);
        LastOutput = yhat;
        _lastTargets = y;
        int m = x.RowCount;
        var dz = _outputGradient.Get(m);
        double cost;
        if (classWeights is not null || labelSmoothing > 0)
        {
            var output = (ActivationLayer<T>)_layers[^1];
            cost = Loss.WeightedCostAndGradient(output.LastInput!, yhat, y, dz, classWeights, labelSmoothing, output.Activation == Activation.Softmax);
        }
        else
        {
            cost = DataCost(yhat, y);
            Loss.OutputGradient(yhat, y, dz);
        }

        var grad = dz;
        int start = _fusedOutput ? _layers.Length - 2 : _layers.Length - 1;

        // grad is dA of layer l, or already its dZ when the dense layer above applied g′ inside its GEMM.
        // A dense layer whose input came from a dropout over a dense layer's output passes the dropout's mask into the
        // same GEMM, and the dropout's own backward pass is skipped.
        bool gradIsZ = false;
        for (int l = start; l >= 0; l--)
        {
            if (_layers[l] is Dense<T> dense)
            {
                var dzl = gradIsZ ? grad : dense.ActivationGradient(grad);
                Dense<T>? previous = null;
                Dropout<T>? dropout = null;
                if (l > 0 && dense.InputGradientNeeded)
                {
                    dropout = _layers[l - 1] as Dropout<T>;
                    previous = (dropout is null ? _layers[l - 1] : l > 1 ? _layers[l - 2] : null) as Dense<T>;
                }

                gradIsZ = previous is not null && previous.Activation != Activation.Linear;
                grad = dense.BackwardFromZ(dzl, previous, gradIsZ ? dropout : null);
                if (gradIsZ && dropout is not null)
                {
                    l--;
                }
            }
            else
            {
                grad = _layers[l].Backward(grad);
                gradIsZ = false;
            }
        }

        return cost + Regularizer.AddGradientAndCost(_parameters, m);
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

    /// <summary>
    /// The cost J (data term + regularization term) of a batch of raw X and Y, in training mode (dropout and batch
    /// statistics) or inference mode. For regression with a <see cref="TargetTransform"/>, J is measured on the
    /// standardized targets, as training sees it.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The shapes do not match the model, X holds no rows (the cost of no examples is undefined: the regularization
    /// term alone would come back), or Y does not suit the loss as <see cref="Evaluate(Tensor{T}, Tensor{T})"/>
    /// requires (probability rows for softmax, values in [0, 1] for sigmoid; the first offending row is named). Or X has so
    /// many rows that a layer's activations, m × its units, would be more than <see cref="Tensor.MaxLength"/> values (the
    /// layer is named; <see cref="Evaluate(Tensor{T}, Tensor{T})"/> splits X into chunks and has no such limit).
    /// </exception>
    /// <exception cref="InvalidDataException">Y holds NaN or ±∞ (the cell is named).</exception>
    public double Cost(Tensor<T> x, Tensor<T> y, bool training)
    {
        CheckBatch(x, y);
        return CostChecked(x, y, training);
    }

    /// <summary><see cref="Cost"/> of a batch already checked (the gradient checker checks Y once, in the caller's type).</summary>
    internal double CostChecked(Tensor<T> x, Tensor<T> y, bool training)
    {
        if (training)
        {
            var yhat = Forward(x, training: true);
            return DataCost(yhat, TransformTargetsInto(y)) + Regularizer.Cost(_parameters, x.RowCount);
        }

        var (logits, _) = InferLogitsAndOutput(x);
        return Loss.Cost(logits, TransformTargets(y)) + Regularizer.Cost(_parameters, x.RowCount);
    }

    /// <summary>
    /// Predicted probabilities (or regression outputs, in the targets' original units) Ŷ (m, C) for raw input
    /// X (m, n_x), in inference mode. Thread-safe.
    /// </summary>
    /// <remarks>
    /// Non-finite input gives non-finite output, as in PyTorch, and never a plausible number: every output of a row of X
    /// that holds NaN or ±∞ is NaN (the other rows are unaffected). <see cref="PredictClasses"/> and
    /// <see cref="Evaluate(Tensor{T}, Tensor{T})"/>, which cannot express that, throw instead.
    /// <para>For a few rows (up to 32, e.g. one example per call; float layers wide enough for the transposed product use
    /// that from 8 rows) each Dense layer multiplies by a packed Wᵀ it keeps while W is unchanged: a single-example Predict
    /// does not repack the weights (32 → 15 µs for 784-256-128-10 on one Zen 4 core), at the cost of one packed copy of the
    /// weights held beside them. The outputs are bit-identical either way. Every write the library makes (an optimizer
    /// step, Fit, LoadWeights, Load, RestoreState, the indexers, <see cref="Tensor{T}.CopyFrom"/>, CopyTo, Fill) is
    /// counted: the first call after it multiplies unpacked (repacking W into per-thread scratch, as a large batch does),
    /// and W is packed and kept again when the same W is seen a second time, so a loop that trains a step and predicts a
    /// row allocates no copy. Once a public <see cref="Tensor{T}.Span"/> or Row of W has been handed out, which may be
    /// written at any time, every few-row call multiplies unpacked (correct, not faster). Writing the weights from one
    /// thread while another predicts is a race, as it always was. For no allocation at all, use
    /// <see cref="CreatePredictor"/>.</para>
    /// </remarks>
    public Tensor<T> Predict(Tensor<T> x)
    {
        var result = PredictUnchecked(x, out bool nanRowsDone);
        if (!nanRowsDone && FiniteCheck.FirstNonFinite(x.ReadOnlySpan) >= 0)
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

    /// <summary>Predicted class per example of raw X: argmax of Ŷ for several outputs, ŷ &gt; 0.5 for one sigmoid output. Thread-safe.</summary>
    /// <returns>m classes, each in 0..<see cref="ClassCount"/>−1.</returns>
    /// <exception cref="InvalidDataException">A row of X holds NaN or ±∞ (the cell is named): it has no class.</exception>
    /// <exception cref="InvalidOperationException">
    /// The model is a regression, or a multi-label classifier (<see cref="IsMultiLabel"/>: a sigmoid output with C &gt; 1
    /// columns has C yes/no answers per row, not one class; use <see cref="PredictLabels"/>).
    /// </exception>
    public int[] PredictClasses(Tensor<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (!IsClassifier)
        {
            throw new InvalidOperationException($"PredictClasses needs a classifier; this model is a regression ({Loss.Name}): use Predict");
        }

        if (IsMultiLabel)
        {
            throw new InvalidOperationException(
                $"PredictClasses gives one class per row, but this model's output is sigmoid with {OutputSize} columns (multi-label: each column is its own yes/no, and a row's argmax is no class): use PredictLabels(x) for the (m, {OutputSize}) 0/1 labels (ŷ > 0.5), or Predict(x) for the probabilities");
        }

        FiniteCheck.RequireFinite(x, "X");
        var yhat = PredictUnchecked(x, out _);
        return yhat.RowCount == 0 ? [] : Predictions.ToLabels(yhat); // no examples, no classes (as Predict gives (0, C))
    }

    /// <summary>
    /// Predicted 0/1 labels of raw X (m, n_x) in the layout of the targets Y (m, C), in inference mode. Thread-safe.
    /// For a multi-label sigmoid output (<see cref="IsMultiLabel"/>) each cell is its own answer:
    /// label[i, j] = 1 where ŷⱼ⁽ⁱ⁾ &gt; 0.5, else 0 (exactly 0.5 is 0), as <see cref="Predictions.ToMultiLabel{T}(Tensor{T}, double)"/>
    /// gives. For one sigmoid output the single column is <see cref="PredictClasses"/>'s 0/1; for softmax each row is
    /// the one-hot of <see cref="PredictClasses"/>'s argmax.
    /// </summary>
    /// <param name="x">Raw X (m, n_x).</param>
    /// <returns>The (m, C) indicator matrix (scikit-learn's multi-label format).</returns>
    /// <exception cref="InvalidDataException">A row of X holds NaN or ±∞ (the cell is named): it has no labels.</exception>
    /// <exception cref="InvalidOperationException">The model is a regression.</exception>
    public int[,] PredictLabels(Tensor<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (!IsClassifier)
        {
            throw new InvalidOperationException($"PredictLabels needs a classifier; this model is a regression ({Loss.Name}): use Predict");
        }

        FiniteCheck.RequireFinite(x, "X");
        var yhat = PredictUnchecked(x, out _);
        if (yhat.RowCount == 0)
        {
            return new int[0, OutputSize];
        }

        if (OutputSize == 1 || IsMultiLabel)
        {
            return Predictions.ToMultiLabel(yhat);
        }

        var labels = new int[yhat.RowCount, OutputSize];
        var classes = Predictions.ToLabels(yhat);
        for (int i = 0; i < classes.Length; i++)
        {
            labels[i, classes[i]] = 1;
        }

        return labels;
    }

    // nanRowsDone: the rows of non-finite input already hold NaN (the Predictor path applies Predict's rule itself).
    private Tensor<T> PredictUnchecked(Tensor<T> x, out bool nanRowsDone)
    {
        CheckInput(x, nameof(x));
        nanRowsDone = x.RowCount >= PredictorRows;
        if (nanRowsDone)
        {
            // Many rows: a transient Predictor (weights packed once, 256 rows at a time through every layer, so the
            // activations stay in cache and nothing of the data's size is allocated but the result). It gives the
            // same bits as the layer-by-layer path below, including the target transform and the NaN rows.
            var fast = new Tensor<T>(x.RowCount, OutputSize);
            new Predictor<T>(this).Predict(x.ReadOnlySpan, fast.Span);
            return fast;
        }

        // Up to a few rows: per-thread buffers; more: the buffers the model keeps for evaluations (fresh tensors for the
        // activations of 1,000 rows made Predict 15.5 ms where the same work in reused memory takes ~2 ms).
        var scratch = _scratchWidth > 0 && (long)x.RowCount * _scratchWidth <= ScratchElements ? InferenceScratch.Take() : null;
        var shared = scratch is null ? TakeInferenceBuffers() : null;
        try
        {
            Tensor<T> input;
            if (_inputTransform is null)
            {
                input = x;
            }
            else if (scratch is not null || shared is not null)
            {
                input = scratch?.Get(2, x.RowCount, InputSize) ?? shared!.Get(0, x.RowCount, InputSize);
                _inputTransform.ApplyInto(x, input);
            }
            else
            {
                input = _inputTransform.Apply(x);
            }

            var result = new Tensor<T>(input.RowCount, OutputSize);
            int chunk = RowsPerChunk(InferenceChunk); // fewer rows for a layer wider than 16,384 units
            for (int start = 0; start < input.RowCount; start += chunk)
            {
                int count = Math.Min(chunk, input.RowCount - start);
                bool whole = count == input.RowCount; // one chunk: no views to allocate
                var a = whole ? input : input.Rows(start, count);
                for (int l = 0; l < _layers.Length; l++)
                {
                    int width = _layers[l].OutputSize;
                    var output = l == _layers.Length - 1 ? (whole ? result : result.Rows(start, count))
                        : scratch?.Get(l % 2, count, width) ?? shared?.Get(l + 1, count, width) ?? new Tensor<T>(count, width);
                    _layers[l].Infer(a, output);
                    a = output;
                }
            }

            _targetTransform?.InvertInPlace(result);
            return result;
        }
        finally
        {
            scratch?.Release();
            ReturnInferenceBuffers(shared);
        }
    }

    /// <summary>
    /// Buffers for inference on many rows at a time (<see cref="InferLogitsAndOutput"/>, and
    /// <see cref="Predict"/> of more than a few rows), or null when a layer is not built in (another kind may keep the
    /// tensors it is given). The model keeps one set between calls, so the dev-set evaluation after every epoch of Fit
    /// writes into memory it has used before: fresh memory for each 1,024-row chunk cost ~150 ms per evaluation of
    /// 10,000 Fashion-MNIST images in page faults alone (AMD EPYC Zen 5, a VM), against ~25 ms of arithmetic. A set in
    /// use by another thread at the time is not shared: that caller gets a new one.
    /// </summary>
    internal InferenceBuffers? TakeInferenceBuffers() =>
        _scratchWidth == 0 ? null : Interlocked.Exchange(ref _inferenceBuffers, null) ?? new InferenceBuffers(_layers.Length + 1);

    /// <summary>Gives back buffers from <see cref="TakeInferenceBuffers"/> for the next call to reuse (a set grown past 16M values is dropped).</summary>
    internal void ReturnInferenceBuffers(InferenceBuffers? buffers)
    {
        if (buffers is not null && buffers.Elements <= MaxKeptInferenceElements)
        {
            Volatile.Write(ref _inferenceBuffers, buffers);
        }
    }

    // At most 16M values (64 MB in float) are kept between calls: a 1,024-row chunk of 784-256-128-10 takes 1.2M.
    private const long MaxKeptInferenceElements = 1L << 24;
    private InferenceBuffers? _inferenceBuffers;

    /// <summary>One buffer per slot (the transformed input, then each layer's output), each grown to the largest view asked of it.</summary>
    internal sealed class InferenceBuffers(int slots)
    {
        private readonly Tensor<T>?[] _stores = new Tensor<T>?[slots];

        public long Elements { get; private set; }

        // A (rows, cols) view of buffer `slot`; its contents are whatever the last use left. Callers keep rows × cols
        // within a tensor (RowsPerChunk); a view that would not fit is refused naming its shape.
        public Tensor<T> Get(int slot, int rows, int cols)
        {
            long need = (long)rows * cols;
            if (need > Tensor.MaxLength)
            {
                throw new InvalidOperationException($"an inference buffer of ({rows}, {cols}) holds more than the {Tensor.MaxLength} values a tensor can");
            }

            var store = _stores[slot];
            if (store is null || store.Length < need)
            {
                Elements += need - (store?.Length ?? 0);
                _stores[slot] = store = new Tensor<T>((int)Math.Max(need, 1));
            }

            return store.Prefix(rows, cols);
        }
    }

    // Three per-thread buffers (two alternating layer outputs and the transformed input), grown to the largest call
    // seen up to ScratchElements each. Take returns null when this thread's is already in use (a layer's Infer calling
    // Predict), and the caller then allocates as before.
    private sealed class InferenceScratch
    {
        private readonly Tensor<T>?[] _stores = new Tensor<T>?[3];
        private bool _inUse;

        public static InferenceScratch? Take()
        {
            var scratch = _inferenceScratch ??= new InferenceScratch();
            if (scratch._inUse)
            {
                return null;
            }

            scratch._inUse = true;
            return scratch;
        }

        public void Release() => _inUse = false;

        // A (rows, cols) view of buffer `slot`; its contents are whatever the last call left. Only for calls of at most
        // ScratchElements values per layer, so rows × cols fits an int.
        public Tensor<T> Get(int slot, int rows, int cols)
        {
            int need = rows * cols;
            var store = _stores[slot];
            if (store is null || store.Length < need)
            {
                _stores[slot] = store = new Tensor<T>(Math.Max(need, 1024));
            }

            return store.Prefix(rows, cols);
        }
    }

    /// <summary>
    /// A reusable, allocation-free predictor for single examples (or a few): <c>predictor.Predict(x, destination)</c>
    /// gives exactly what <see cref="Predict"/> gives. It snapshots the weights and input transform; see <see cref="Predictor{T}"/>.
    /// </summary>
    public Predictor<T> CreatePredictor() => new(this);

    /// <summary>
    /// Trains the model on a training set of raw data (an in-memory <see cref="DataSet{T}"/> or a streaming source);
    /// see <see cref="Trainer.Fit{T}(Model{T}, IDataSource{T}, TrainingOptions{T}, CancellationToken)"/>. The data's
    /// element type must be the model's: a <c>DataSet&lt;double&gt;</c> does not train a <c>Model&lt;float&gt;</c>
    /// (load the data as float, or use <see cref="ConvertTo{TOther}"/>).
    /// </summary>
    /// <param name="train">The training data, raw.</param>
    /// <param name="options">
    /// Optimizer, epochs, batch size, dev set, callbacks; when null, <see cref="TrainingOptions{T}"/>'s defaults (Adam,
    /// 10 epochs, batch 64) in one options object the model keeps, so that fitting again without options continues the
    /// same Adam (its t, v and s), as Keras's repeated <c>fit</c> does, instead of restarting it.
    /// </param>
    /// <param name="cancellationToken">Stops training between mini-batches.</param>
    /// <returns>The per-epoch and per-iteration history.</returns>
    public History Fit(IDataSource<T> train, TrainingOptions<T>? options = null, CancellationToken cancellationToken = default) =>
        Trainer.Fit(this, train, options ?? (_defaultOptions ??= new TrainingOptions<T>()), cancellationToken);

    /// <summary>
    /// Trains the model on raw X (m, n_x) and Y (m, C) — Keras's <c>model.fit(x, y)</c>; see
    /// <see cref="Fit(IDataSource{T}, TrainingOptions{T}, CancellationToken)"/>.
    /// </summary>
    /// <param name="x">Raw inputs X (m, n_x).</param>
    /// <param name="y">Targets Y (m, C): one-hot rows for softmax, a 0/1 column for sigmoid (0/1 in each column for a multi-label sigmoid), values in original units for regression.</param>
    /// <param name="options">The training options; when null, the defaults the model keeps between calls (see <see cref="Fit(IDataSource{T}, TrainingOptions{T}, CancellationToken)"/>).</param>
    /// <param name="cancellationToken">Stops training between mini-batches.</param>
    /// <returns>The history.</returns>
    public History Fit(Tensor<T> x, Tensor<T> y, TrainingOptions<T>? options = null, CancellationToken cancellationToken = default)
    {
        CheckTargets(x, y);
        return Fit(new DataSet<T>(x, y), options, cancellationToken);
    }

    /// <summary>
    /// Evaluates the model on raw X (m, n_x) and Y (m, C) in inference mode: the cost (the loss alone, without the
    /// regularization term) and, for a classifier, accuracy and the confusion matrix (with <see cref="ClassNames"/>);
    /// for a multi-label classifier (<see cref="IsMultiLabel"/>) the accuracy is per cell, (1/(m·C))·Σᵢ Σⱼ
    /// 1[(ŷⱼ⁽ⁱ⁾ &gt; 0.5) = (yⱼ⁽ⁱ⁾ &gt; 0.5)] (Keras's <c>binary_accuracy</c>), and there is no C×C confusion matrix (null);
    /// for a regression, MSE, RMSE, MAE and R² in the targets' original units. The same <see cref="Evaluation"/> as
    /// <see cref="Evaluate(IDataSource{T})"/> gives. Thread-safe.
    /// An output that overflows to NaN or ±∞ on finite X is reported, not refused (as Fit's dev pass records it): the
    /// cost is then NaN or +∞, <see cref="Evaluation.NonFiniteOutputCount"/> counts the rows, and for a classifier each
    /// such row counts as wrong (in the confusion matrix as <see cref="ConfusionMatrix.Unclassified"/>), never as a class.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The shapes do not match the model, or Y does not suit its loss as <see cref="Fit(Tensor{T}, Tensor{T}, TrainingOptions{T}, CancellationToken)"/>
    /// requires (probability rows for softmax, values in [0, 1] for sigmoid; the first offending row is named).
    /// </exception>
    /// <exception cref="InvalidDataException">X or Y holds NaN or ±∞ (the cell is named).</exception>
    public Evaluation Evaluate(Tensor<T> x, Tensor<T> y)
    {
        CheckTargets(x, y);
        FiniteCheck.RequireFinite(x, "X");
        FiniteCheck.RequireFinite(y, "Y");
        Trainer.CheckTargets(this, y, "evaluation data", nameof(y));
        CheckRawInput(x, "evaluation data");
        return Evaluator<T>.Run(this, x, y);
    }

    /// <summary>
    /// Evaluates the model on a labelled source of raw inputs (an in-memory <see cref="DataSet{T}"/> or a streaming
    /// source), read in order and in chunks; see <see cref="Evaluate(Tensor{T}, Tensor{T})"/>.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The source's widths do not match the model, its class names differ from <see cref="ClassNames"/>, its inputs look
    /// already transformed, or (for a <see cref="DataSet{T}"/>) its Y does not suit the model's loss, as for
    /// <see cref="Evaluate(Tensor{T}, Tensor{T})"/>.
    /// </exception>
    public Evaluation Evaluate(IDataSource<T> data) => Evaluator<T>.Run(this, data, confusion: true, checkTargets: true);

    /// <summary>The class names a source carries (<see cref="DataSet{T}.ClassNames"/>, <see cref="StreamingDataSource{T}.ClassNames"/>), or null.</summary>
    internal static IReadOnlyList<string>? ClassNamesOf(IDataSource<T>? data) => data switch
    {
        DataSet<T> set => set.ClassNames,
        StreamingDataSource<T> stream => stream.ClassNames,
        IAugmentedSource<T> augmented => ClassNamesOf(augmented.Inner),
        _ => null,
    };

    /// <summary>The source under any augmentation: what its examples are before random transforms.</summary>
    internal static IDataSource<T>? Unaugmented(IDataSource<T>? data) => data is IAugmentedSource<T> a ? Unaugmented(a.Inner) : data;

    /// <summary>Refuses an augmented source where examples are scored (Evaluate, a dev set): random transforms would change the figures.</summary>
    internal static void RefuseAugmented(IDataSource<T>? data, string what, string paramName)
    {
        if (data is IAugmentedSource<T>)
        {
            throw new ArgumentException($"the {what} is augmented (WithAugmentation): it would be scored on randomly transformed examples, different each time; pass the source without augmentation (augment the training data only)", paramName);
        }
    }

    /// <summary>
    /// Refuses <paramref name="data"/> when it carries class names that differ from <paramref name="expected"/>: class
    /// index k would mean one class there and another here, and every figure computed from it would be silently wrong.
    /// </summary>
    /// <exception cref="ArgumentException">The names differ; the message lists both.</exception>
    internal static void CheckClassNames(IReadOnlyList<string>? expected, string expectedWhat, IDataSource<T>? data, string what)
    {
        if (expected is null || ClassNamesOf(data) is not { } names || names.SequenceEqual(expected, StringComparer.Ordinal))
        {
            return;
        }

        int k = 0;
        while (k < names.Count && k < expected.Count && names[k] == expected[k])
        {
            k++;
        }

        string here = k < names.Count ? $"'{names[k]}'" : "no class";
        string there = k < expected.Count ? $"'{expected[k]}'" : "no class";
        throw new ArgumentException($"the {what} has class names [{string.Join(", ", names)}] but the {expectedWhat} has [{string.Join(", ", expected)}], so class {k} would be {here} in one and {there} in the other; read the data with the same class names (CsvOptions.ClassNames = train.ClassNames)", nameof(data));
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

    /// <summary>
    /// Restores values captured by <see cref="CaptureState"/> from this model (or one of the same architecture). Every
    /// tensor's count and shape is checked before anything is copied, so a state that does not fit leaves the model as it was.
    /// </summary>
    /// <exception cref="ArgumentException">The state holds a different number of tensors, or a tensor of another shape, than this model.</exception>
    public void RestoreState(ModelState<T> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Tensors is null)
        {
            throw new ArgumentException("the state's Tensors list is null", nameof(state));
        }

        // Names are formatted only for an error message.
        var targets = new List<(Tensor<T> Tensor, string Layer, string? Parameter, string? Buffer)>();
        foreach (var layer in _layers)
        {
            targets.AddRange(layer.Parameters.Select(p => (p.Value, layer.Name, (string?)p.Name, (string?)null)));
            targets.AddRange(layer.Buffers.Select(b => (b.Value, layer.Name, (string?)null, (string?)b.Key)));
        }

        if (state.Tensors.Count != targets.Count)
        {
            throw new ArgumentException($"the state holds {state.Tensors.Count} tensors but this model has {targets.Count}; was it captured from a model of another architecture?", nameof(state));
        }

        for (int i = 0; i < targets.Count; i++)
        {
            var source = state.Tensors[i];
            if (source is null || !source.SameShape(targets[i].Tensor))
            {
                throw new ArgumentException($"the state's tensor {i} has shape {source?.ShapeText ?? "null"} but {(targets[i].Parameter is { } parameter ? $"parameter '{parameter}'" : $"layer '{targets[i].Layer}' buffer '{targets[i].Buffer}'")} has shape {targets[i].Tensor.ShapeText}; was it captured from a model of another architecture? Nothing was restored", nameof(state));
            }
        }

        for (int i = 0; i < targets.Count; i++)
        {
            state.Tensors[i].CopyTo(targets[i].Tensor);
        }
    }

    /// <summary>
    /// A copy of this model with another element type (e.g. a double copy of a float model for gradient
    /// checking): same architecture, weights, running statistics, regularizer, input and target transforms and class names.
    /// Each value is rounded to the nearest <typeparamref name="TOther"/> (a double weight far below float's smallest
    /// normal becomes 0 or a subnormal; one beyond its range would become ±∞ and is refused).
    /// </summary>
    /// <typeparam name="TOther">The element type of the copy.</typeparam>
    /// <returns>The copy; this model is unchanged.</returns>
    /// <exception cref="InvalidOperationException">
    /// Nothing is returned when the copy would not be this model: a finite weight, running statistic or transform value
    /// lies beyond the range of <typeparamref name="TOther"/> (e.g. 1e300 for float) and would become ±∞ (the tensor,
    /// the index, the value and the type are named); a layer cannot be rebuilt in <typeparamref name="TOther"/> (a custom
    /// kind with no factory registered with <see cref="LayerRegistry.Register"/>, or one its factory refuses) or its
    /// loss cannot (a Huber δ that rounds to 0); or the input or target transform does not rebuild from its converted
    /// values. The cause, if any, is the inner exception.
    /// </exception>
    public Model<TOther> ConvertTo<TOther>()
        where TOther : unmanaged, IFloatingPointIeee754<TOther>
    {
        string conversion = $"Model<{typeof(T).Name}>.ConvertTo<{typeof(TOther).Name}>()";
        Model<TOther> copy;
        try
        {
            copy = ModelFactory.FromConfigs<TOther>(InputSize, _layers.Select(l => (l.Name, l.Config)).ToArray(), Loss, Seed);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException or InvalidDataException)
        {
            // Nothing was parsed: the layers' configs rebuild the model in the other type, and a kind without a factory
            // (a custom layer) or with settings its factory refuses cannot be.
            throw new InvalidOperationException($"{conversion} cannot rebuild the model in {typeof(TOther).Name}: {e.Message}", e);
        }

        for (int l = 0; l < _layers.Length; l++)
        {
            var src = _layers[l].Parameters.Select(p => (Name: p.Name, p.Value)).Concat(_layers[l].Buffers.Select(b => (Name: $"{_layers[l].Name}.{b.Key}", b.Value))).ToArray();
            var dst = copy.Layers[l].Parameters.Select(p => p.Value).Concat(copy.Layers[l].Buffers.Values).ToArray();
            for (int t = 0; t < src.Length; t++)
            {
                var converted = src[t].Value.ConvertTo<TOther>();
                RequireNoOverflow(src[t].Value, converted, src[t].Name, conversion);
                converted.CopyTo(dst[t]);
            }
        }

        copy.Regularizer = Regularizer;
        copy.InputTransform = InputTransform is null ? null : ConvertTransform<TOther>(InputTransform, "input transform", conversion);
        copy.TargetTransform = TargetTransform is null ? null : (Standardizer<TOther>)ConvertTransform<TOther>(TargetTransform, "target transform", conversion);
        copy.ClassNames = ClassNames;
        copy.RefuseStandardizedInput = RefuseStandardizedInput;
        return copy;
    }

    // A transform in another element type: its exported values checked for overflow first (so the message names the
    // conversion, not a load), then rebuilt; a rebuild its kind refuses is reported as the conversion's.
    private static IInputTransform<TOther> ConvertTransform<TOther>(IInputTransform<T> transform, string role, string conversion)
        where TOther : unmanaged, IFloatingPointIeee754<TOther>
    {
        try
        {
            if (InputTransforms.IsRegistered(transform.Kind))
            {
                foreach (var (name, tensor) in transform.ExportTensors())
                {
                    RequireNoOverflow(tensor, tensor.ConvertTo<TOther>(), $"{role} ({transform.Kind}) '{name}'", conversion);
                }
            }

            return InputTransforms.Convert<T, TOther>(transform);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or FormatException)
        {
            throw new InvalidOperationException($"{conversion} cannot rebuild the {role} ({transform.Kind}) in {typeof(TOther).Name}: {e.Message}", e);
        }
    }

    // Refuses a finite value that became ±∞ in the other type (one already NaN or ±∞ is carried over as it is).
    private static void RequireNoOverflow<TOther>(Tensor<T> source, Tensor<TOther> converted, string name, string conversion)
        where TOther : unmanaged, IFloatingPointIeee754<TOther>
    {
        var c = converted.ReadOnlySpan;
        if (FiniteCheck.FirstNonFinite(c) < 0)
        {
            return;
        }

        var s = source.ReadOnlySpan;
        for (int i = 0; i < c.Length; i++)
        {
            if (!TOther.IsFinite(c[i]) && T.IsFinite(s[i]))
            {
                throw new InvalidOperationException(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{conversion}: {name}{FlatIndex(source, i)} = {double.CreateTruncating(s[i]):R} is beyond the range of {typeof(TOther).Name} (largest finite value {FiniteCheck.LargestFinite<TOther>():G9}) and would become {c[i]}; nothing was converted"));
            }
        }
    }

    // "[r, c]" for element i of a matrix, "[i]" otherwise.
    private static string FlatIndex(Tensor<T> tensor, int i) =>
        tensor.Rank == 2 ? string.Create(CultureInfo.InvariantCulture, $"[{i / tensor.RowLength}, {i % tensor.RowLength}]") : string.Create(CultureInfo.InvariantCulture, $"[{i}]");

    /// <summary>Saves the model (architecture, weights, running statistics, input and target transforms, class names) atomically; see <see cref="ModelFile"/>.</summary>
    /// <exception cref="UnauthorizedAccessException">The target file is read-only (it is left unchanged) or may not be written.</exception>
    /// <exception cref="InvalidOperationException">A weight is not finite, the input transform is a custom kind not registered with <see cref="InputTransforms.Register"/>, or a Fit (or an in-place gradient check) holds the model on another thread, so its weights are changing (saving from a callback of the Fit, on its own thread, is fine); nothing is written.</exception>
    public void Save(string path) => ModelFile.Save(this, path);

    /// <summary>
    /// Loads weights and batch-norm running statistics from a safetensors file — a PyTorch <c>state_dict</c> of the
    /// equivalent <c>nn.Sequential</c>, or a file saved by <see cref="Save"/> — into this model, by name
    /// ("0.weight", "0.bias", "1.running_mean", …). Strict by default: names and shapes must match exactly or nothing
    /// is loaded; with <paramref name="strict"/> false, what matches is loaded and the report lists the rest.
    /// See <see cref="ModelFile.LoadWeights{T}"/> for the rules and the exceptions.
    /// </summary>
    /// <param name="path">The safetensors file.</param>
    /// <param name="strict">Require an exact match (default) or load what matches.</param>
    /// <returns>The keys loaded, missing, unexpected, mismatched in shape and ignored.</returns>
    public WeightLoadReport LoadWeights(string path, bool strict = true) => ModelFile.LoadWeights(this, path, strict);

    /// <summary>
    /// A Keras-style summary: the input transform, then each layer numbered consecutively from 1 with its output shape,
    /// parameter count and the prefix of its saved tensor names (PyTorch indices); a Dense with a fused activation shows
    /// it in its row. Then totals, regularization and the target transform.
    /// </summary>
    public string Summary()
    {
        var sb = new StringBuilder();
        string line = new('─', 86);
        sb.AppendLine(FormattableString.Invariant($"Model<{typeof(T).Name}>: {InputSize} inputs → {OutputSize} outputs, loss {Loss.Name}, seed {Seed}"));
        sb.AppendLine(line);
        // A space between columns, and the saved name left-aligned after the count: a long name or description
        // ("Input: standardize (fitted on train)", "input_transform") must not run into its neighbour.
        sb.AppendLine(FormattableString.Invariant($"{"#",-4}{"Layer",-36} {"Output shape",-16}{"Params",12}  Saved as"));
        sb.AppendLine(line);
        if (InputTransform is { } transform)
        {
            sb.AppendLine(FormattableString.Invariant($"{"0",-4}{"Input: " + transform.Kind + " (fitted on train)",-36} {"(m, " + InputSize + ")",-16}{0,12:N0}  input_transform"));
        }

        int number = 0;
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
            sb.AppendLine(FormattableString.Invariant($"{++number,-4}{desc,-36} {"(m, " + layer.OutputSize + ")",-16}{count,12:N0}  {layer.Name}.*"));
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

        if (TargetTransform is not null)
        {
            sb.AppendLine("Targets: standardized for training; predictions in original units");
        }

        return sb.ToString().TrimEnd();
    }

    /// <inheritdoc/>
    public override string ToString() => Summary();

    /// <summary>
    /// Inference on raw X: (Z of the output layer, Ŷ), both in the network's units (target transform not undone). With
    /// <paramref name="buffers"/> (<see cref="TakeInferenceBuffers"/>) the transformed input and every layer's output go
    /// there, and the results are views of them, valid until the buffers' next use; otherwise new tensors.
    /// </summary>
    internal (Tensor<T> Logits, Tensor<T> Output) InferLogitsAndOutput(Tensor<T> x, InferenceBuffers? buffers = null)
    {
        CheckInput(x, nameof(x));
        CheckPassRows(x); // Predict and Evaluate pass chunks that fit; Cost in inference mode passes X whole
        Tensor<T> a;
        if (buffers is null || _inputTransform is null)
        {
            a = PrepareInput(x);
        }
        else
        {
            a = buffers.Get(0, x.RowCount, InputSize);
            _inputTransform.ApplyInto(x, a);
        }

        Tensor<T>? logits = null;
        for (int l = 0; l < _layers.Length; l++)
        {
            var output = buffers?.Get(l + 1, x.RowCount, _layers[l].OutputSize) ?? new Tensor<T>(x.RowCount, _layers[l].OutputSize);
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

    /// <summary>Y in the units the network is trained on: a new tensor standardized by <see cref="TargetTransform"/>, or Y itself.</summary>
    internal Tensor<T> TransformTargets(Tensor<T> y) => _targetTransform is null ? y : _targetTransform.Apply(y);

    /// <summary>
    /// Σ over the last training batch of the squared errors in original target units, ((ŷ − y)·σ)² (regression only),
    /// from the output and targets of the latest <see cref="ComputeGradients"/>. Allocates nothing.
    /// </summary>
    internal double LastSquaredError()
    {
        var yhat = LastOutput!.ReadOnlySpan;
        var y = _lastTargets!.ReadOnlySpan;
        int c = OutputSize;
        double total = 0;
        for (int i = 0; i < yhat.Length; i++)
        {
            double d = double.CreateTruncating(yhat[i]) - double.CreateTruncating(y[i]);
            if (_targetTransform is not null)
            {
                d *= _targetTransform.StandardDeviation(i % c);
            }

            total += d * d;
        }

        return total;
    }

    /// <summary>
    /// Refuses data that looks already standardized by this model's own <see cref="InputTransform"/> (which the model
    /// would then apply a second time). Cheap: one pass over at most 10,000 rows.
    /// </summary>
    internal void CheckRawInput(Tensor<T> x, string what)
    {
        if (RefuseStandardizedInput && _inputTransform is Standardizer<T> s && s.LooksAlreadyApplied(x) is { } evidence)
        {
            throw new ArgumentException(
                $"the {what} looks already standardized: {evidence}. The model applies its InputTransform to every X it is given, so pass raw data (do not call Apply on it yourself); if this data is raw, set RefuseStandardizedInput = false.");
        }
    }

    /// <summary>
    /// Whether <c>Fit</c> (training and validation data) and <c>Evaluate</c>
    /// refuse X that looks already standardized by this model's <see cref="Standardizer{T}"/> input transform, which the
    /// model would otherwise standardize a second time (default true). The check is a heuristic on each feature's mean
    /// and spread over at most 10,000 rows: standardized data has mean ≈ 0 and spread ≈ 1 where the training data's
    /// mean was far from 0 (features whose training spread is already near 1 are not judged). Set false for raw data
    /// that happens to look like that. Not saved with the model: a loaded model refuses again until it is set.
    /// </summary>
    public bool RefuseStandardizedInput { get; set; } = true;

    /// <summary>Raw X mapped through the input transform into a model-owned buffer (no allocation once warm), or X itself.</summary>
    private Tensor<T> TransformInputInto(Tensor<T> x)
    {
        if (_inputTransform is null)
        {
            return x;
        }

        var buffer = _inputBuffer.Get(x.RowCount);
        _inputTransform.ApplyInto(x, buffer);
        return buffer;
    }

    private Tensor<T> TransformTargetsInto(Tensor<T> y)
    {
        if (_targetTransform is null)
        {
            return y;
        }

        var buffer = _targetBuffer.Get(y.RowCount);
        _targetTransform.ApplyInto(y, buffer);
        return buffer;
    }

    private Tensor<T> PrepareInput(Tensor<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return _inputTransform is null ? x : _inputTransform.Apply(x);
    }

    private void CheckInput(Tensor<T> x, string name)
    {
        ArgumentNullException.ThrowIfNull(x, name);
        if (x.Rank != 2 || x.Dim(1) != InputSize)
        {
            throw new ArgumentException($"the model expects input (m, {InputSize}); received {x.ShapeText}", name);
        }
    }

    // How to turn what was passed into Y of the right shape, for the common mistakes: a vector of labels or targets, a
    // column of class indices for a softmax, a 0/1 column for a 2-unit softmax.
    private string TargetShapeHint(Tensor<T> x, Tensor<T> y)
    {
        bool column = (y.Rank == 1 && y.Length == x.RowCount) || (y.Rank == 2 && y.Dim(0) == x.RowCount && y.Dim(1) == 1);
        if (!column)
        {
            return string.Empty;
        }

        if (IsClassifier && OutputSize > 1 && !IsMultiLabel)
        {
            return $" (class labels: one-hot them with DataSet.FromLabels(x, labels, {OutputSize}) or DataSet.OneHot; a 0/1 column for 2 units: data.ToOneHotTargets())";
        }

        return y.Rank == 1 && OutputSize == 1 ? $" (a vector: give it as one column, Tensor.FromArray(values, {x.RowCount}, 1))" : string.Empty;
    }

    /// <summary>Refuses X and Y whose shapes do not fit the model (only the shapes are checked).</summary>
    internal void CheckTargets(Tensor<T> x, Tensor<T> y)
    {
        CheckInput(x, nameof(x));
        ArgumentNullException.ThrowIfNull(y);
        if (y.Rank != 2 || y.Dim(0) != x.RowCount || y.Dim(1) != OutputSize)
        {
            throw new ArgumentException($"the targets Y must be ({x.RowCount}, {OutputSize}) for X {x.ShapeText}; received {y.ShapeText}{TargetShapeHint(x, y)}", nameof(y));
        }
    }

    /// <summary>
    /// The checks of <see cref="Cost"/> and <see cref="ComputeGradients"/> (and the gradient checker): the shapes, at least
    /// one row, finite Y, and Y suiting the loss as Fit and <see cref="Evaluate(Tensor{T}, Tensor{T})"/> require. One
    /// pass over Y; allocates nothing unless it throws.
    /// </summary>
    internal void CheckBatch(Tensor<T> x, Tensor<T> y, string what = "batch")
    {
        CheckTargets(x, y);
        if (x.RowCount == 0)
        {
            // J of no examples is 0/0: only the regularization term would come back (and L2's gradient (λ/m)·W divides by m = 0).
            throw new ArgumentException($"X holds no examples: shape {x.ShapeText}; the cost and its gradients need at least one row", nameof(x));
        }

        FiniteCheck.RequireFinite(y, "Y");
        Trainer.CheckTargets(this, y, what, nameof(y));
    }
}

/// <summary>A snapshot of a model's parameter values and buffers, from <see cref="Model{T}.CaptureState"/>.</summary>
/// <typeparam name="T">The element type.</typeparam>
/// <param name="Tensors">Copies of every parameter value and buffer, in layer order.</param>
public sealed record ModelState<T>(IReadOnlyList<Tensor<T>> Tensors)
    where T : unmanaged, IFloatingPointIeee754<T>;
