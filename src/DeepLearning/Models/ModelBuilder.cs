using System.Globalization;
using System.Numerics;

namespace DeepLearning;

/// <summary>Entry point of the fluent model builder.</summary>
public static class Model
{
    /// <summary>
    /// Starts a sequential model whose input has <paramref name="inputs"/> features (n_x). Each call adds a
    /// layer whose input width is inferred from the previous one, e.g.
    /// <c>Model.Sequential&lt;float&gt;(784).Dense(256).BatchNorm().ReLU().Dropout(0.8).Dense(10).Softmax().Build(seed: 1)</c>.
    /// </summary>
    public static ModelBuilder<T> Sequential<T>(int inputs)
        where T : unmanaged, IFloatingPointIeee754<T> => new(inputs);

    /// <summary>
    /// Loads a model saved with <see cref="Model{T}.Save"/> (architecture, weights, running statistics, input
    /// transform), converting the stored element type to <typeparamref name="T"/>. The file is treated as hostile:
    /// the whole header is validated against the bytes present before anything sized by it is allocated; see
    /// <see cref="ModelFile.Load{T}(string)"/>. To load a PyTorch state_dict, build the model in code and call
    /// <see cref="Model{T}.LoadWeights"/>.
    /// </summary>
    /// <param name="path">The model file.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null, empty or white space.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">The file system failed to open or read the file.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read.</exception>
    /// <exception cref="InvalidDataException">The contents are truncated, corrupt, hostile or not a model file; the
    /// message names the file and the entry at fault. No other exception type escapes.</exception>
    public static Model<T> Load<T>(string path)
        where T : unmanaged, IFloatingPointIeee754<T> => ModelFile.Load<T>(path);

    /// <summary>
    /// Loads a model saved with a <see cref="CustomLoss"/>, given that loss again (the file holds only its name); see
    /// <see cref="ModelFile.Load{T}(string, Loss)"/>. Keras users know this as <c>custom_objects</c>.
    /// </summary>
    /// <param name="path">The model file.</param>
    /// <param name="loss">The loss the model was saved with; its <see cref="Loss.Name"/> must equal the stored one.</param>
    /// <exception cref="ArgumentNullException"><paramref name="loss"/> is null (a model of a built-in loss loads with <see cref="Load{T}(string)"/>).</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null, empty or white space.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">The file system failed to open or read the file.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read.</exception>
    /// <exception cref="InvalidDataException">The contents are truncated, corrupt, hostile or not a model file, or the
    /// stored loss name differs from <paramref name="loss"/>'s.</exception>
    public static Model<T> Load<T>(string path, Loss loss)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(loss);
        return ModelFile.Load<T>(path, loss);
    }
}

/// <summary>
/// Builds a <see cref="Model{T}"/> layer by layer. Shapes are inferred from the input width. The loss
/// follows from the last layer: Softmax → categorical cross-entropy; Sigmoid → binary cross-entropy;
/// anything else → mean squared error (or the regression loss chosen with <see cref="WithLoss"/>). So the output
/// softmax or sigmoid must be the last layer: <see cref="Build(ulong)"/> refuses a Dropout, BatchNorm or activation
/// after it (<c>.Dense(3).Softmax().Dropout(0.5)</c>), unless a <see cref="CustomLoss"/> is given.
/// </summary>
/// <remarks>
/// At <see cref="Build(int)"/>: a linear Dense immediately followed by BatchNorm gets no bias unless asked for (the
/// batch mean would subtract b out); every other Dense keeps it; a Dense's default initializer is chosen from the activation that follows it (He for ReLU and
/// leaky ReLU, Xavier otherwise), looking past BatchNorm and Dropout; an activation directly after a linear Dense is fused into that Dense's GEMM
/// epilogue (except the output sigmoid/softmax, which the loss needs separate). An explicit
/// <c>.Activation(Activation.Linear)</c> is the identity and every one of these rules looks past it: right after a linear
/// Dense it is no layer at all (<c>.Dense(64).Activation(Activation.Linear).BatchNorm()</c> builds the model
/// <c>.Dense(64).BatchNorm()</c> does), and elsewhere it is an identity layer with its own index, as <c>nn.Identity</c>.
/// Parameter names are the indices
/// of the equivalent <c>nn.Sequential</c>, so state_dicts move both ways: a Dense with an activation counts as
/// Linear plus the activation module, so <c>.Dense(64, Activation.ReLU).Dense(10)</c> and
/// <c>.Dense(64).ReLU().Dense(10)</c> both name their tensors "0.weight", "0.bias", "2.weight", "2.bias", as
/// <c>nn.Sequential(nn.Linear(n, 64), nn.ReLU(), nn.Linear(64, 10))</c> does.
/// </remarks>
/// <typeparam name="T">The element type.</typeparam>
public sealed class ModelBuilder<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int _inputs;
    private readonly List<Spec> _specs = [];
    private int _width;
    private IInputTransform<T>? _inputTransform;
    private Standardizer<T>? _targetTransform;
    private Loss? _regressionLoss;
    private CustomLoss? _loss;

    internal ModelBuilder(int inputs)
    {
        if (inputs < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(inputs), inputs, $"inputs must be ≥ 1; received {inputs}");
        }

        _inputs = inputs;
        _width = inputs;
    }

    /// <summary>
    /// The model's first stage: standardize every raw input with μ and σ of <paramref name="train"/>'s X
    /// (<see cref="Standardizer{T}"/>, fitted here). Every entry point then takes raw X. Call it before the first layer.
    /// </summary>
    /// <param name="train">The training set (only its X is read; never the dev or test set).</param>
    public ModelBuilder<T> Standardize(DataSet<T> train)
    {
        ArgumentNullException.ThrowIfNull(train);
        return InputTransform(Standardizer<T>.Fit(train));
    }

    /// <summary>The model's first stage: min-max scale every raw input onto [0, 1] with <paramref name="train"/>'s ranges (<see cref="MinMaxScaler{T}"/>).</summary>
    /// <param name="train">The training set (only its X is read).</param>
    public ModelBuilder<T> MinMaxScale(DataSet<T> train)
    {
        ArgumentNullException.ThrowIfNull(train);
        return InputTransform(MinMaxScaler<T>.Fit(train.X));
    }

    /// <summary>The model's first stage: an input transform already fitted on the training set. Call it before the first layer.</summary>
    /// <param name="transform">The transform; its width must be the model's input width.</param>
    public ModelBuilder<T> InputTransform(IInputTransform<T> transform)
    {
        ArgumentNullException.ThrowIfNull(transform);
        if (_specs.Count > 0)
        {
            throw new InvalidOperationException("the input transform is the model's first stage: call Standardize/MinMaxScale/InputTransform before the first layer");
        }

        if (transform.Features != _inputs)
        {
            throw new ArgumentException($"the input transform ({transform.Kind}) was fitted on {transform.Features} features but the model has {_inputs} inputs", nameof(transform));
        }

        _inputTransform = transform;
        return this;
    }

    /// <summary>
    /// Regression: standardize the targets with μ and σ of <paramref name="train"/>'s Y for training, and map predictions
    /// back to original units (<see cref="Model{T}.TargetTransform"/>). Targets passed to Fit, Evaluate and Cost stay in
    /// original units.
    /// </summary>
    /// <param name="train">The training set (only its Y is read).</param>
    /// <exception cref="InvalidDataException">
    /// A target column's σ² is too large for T (in float, a spread beyond about 1.8e19): its scale would be 0 and every
    /// prediction NaN (0·∞ when mapped back).
    /// </exception>
    public ModelBuilder<T> StandardizeTargets(DataSet<T> train)
    {
        ArgumentNullException.ThrowIfNull(train);
        _targetTransform = Standardizer<T>.Fit(train.Y, Standardizer<T>.DefaultEpsilon, targets: true);
        return this;
    }

    /// <summary>
    /// The loss for a regression model (linear output): <see cref="DeepLearning.Loss.MeanSquaredError"/> (the default),
    /// <see cref="DeepLearning.Loss.MeanAbsoluteError"/> or <see cref="DeepLearning.Loss.Huber(double)"/>. A softmax or
    /// sigmoid output always uses its cross-entropy. A <see cref="CustomLoss"/> is accepted for any output (same as
    /// <see cref="Loss(CustomLoss)"/>).
    /// </summary>
    /// <param name="loss">The loss.</param>
    public ModelBuilder<T> WithLoss(Loss loss)
    {
        ArgumentNullException.ThrowIfNull(loss);
        if (loss is CustomLoss custom)
        {
            return Loss(custom);
        }

        if (loss.IsClassification)
        {
            throw new ArgumentException($"{loss.Name} follows from the output layer (.Softmax() or .Sigmoid()); WithLoss chooses a regression loss: MeanSquaredError, MeanAbsoluteError or Huber(δ)", nameof(loss));
        }

        _regressionLoss = loss;
        return this;
    }

    /// <summary>
    /// A fully connected layer: Z = A·Wᵀ + b, A = g(Z). W is (units, n[l-1]) and must fit in one tensor: n[l-1] × units at
    /// most <see cref="Tensor.MaxLength"/> values, which <see cref="Build(ulong)"/> checks.
    /// </summary>
    /// <param name="units">n[l].</param>
    /// <param name="activation">g (Linear by default: add an activation layer or pass one here).</param>
    /// <param name="init">
    /// The weight initializer; by default <see cref="Init.He"/> before ReLU-family activations (the course's choice),
    /// <see cref="Init.Xavier"/> otherwise, judged for a linear Dense by the first activation after it other than Linear, past
    /// BatchNorm and Dropout. <see cref="Init.PyTorchLinear"/> reproduces PyTorch's <c>nn.Linear</c>.
    /// </param>
    /// <param name="useBias">
    /// Whether to keep b; by default true, except for a linear Dense immediately followed by BatchNorm (an explicit
    /// <c>.Activation(Activation.Linear)</c> between them is the identity and changes nothing).
    /// </param>
    /// <param name="leakySlope">Slope for <see cref="DeepLearning.Activation.LeakyReLU"/>.</param>
    /// <param name="biasInit">
    /// How b starts: <see cref="Init.Zeros"/> by default (the course); <see cref="Init.PyTorchLinear"/> for PyTorch's
    /// U(−1/√n[l-1], 1/√n[l-1]). Another initializer needs a layer with b: it is refused with <paramref name="useBias"/>
    /// false, and (at Build) for a linear Dense before BatchNorm unless <paramref name="useBias"/> is true.
    /// </param>
    /// <exception cref="ArgumentException"><paramref name="biasInit"/> (other than Zeros) is given with <paramref name="useBias"/> false.</exception>
    public ModelBuilder<T> Dense(int units, DeepLearning.Activation activation = DeepLearning.Activation.Linear, Initializer? init = null, bool? useBias = null, double leakySlope = 0.01, Initializer? biasInit = null)
    {
        if (units < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(units), units, $"Dense units must be ≥ 1; received {units}");
        }

        if (!Enum.IsDefined(activation))
        {
            throw new ArgumentOutOfRangeException(nameof(activation), activation, $"unknown activation {activation}");
        }

        if (activation == DeepLearning.Activation.Softmax)
        {
            throw new ArgumentException("softmax is an output layer: use .Dense(units).Softmax()", nameof(activation));
        }

        if (!(leakySlope >= 0 && leakySlope < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(leakySlope), leakySlope, $"leakySlope must be in [0, 1); received {leakySlope}");
        }

        if (useBias == false && InitializesBias(biasInit))
        {
            throw new ArgumentException($"biasInit {biasInit!.Name} was given for a Dense layer without a bias (useBias: false); drop one of them", nameof(biasInit));
        }

        _specs.Add(new Spec(SpecKind.Dense, _width, units, activation, init, useBias, leakySlope, 0, 0) { BiasInit = biasInit });
        _width = units;
        return this;
    }

    /// <summary>Batch normalization of the previous layer's Z (put it between Dense and the activation).</summary>
    public ModelBuilder<T> BatchNorm(double momentum = 0.9, double epsilon = 1e-5)
    {
        _ = new BatchNorm<T>(1, momentum, epsilon); // validates the arguments now, with the builder in the stack trace
        _specs.Add(new Spec(SpecKind.BatchNorm, _width, _width, DeepLearning.Activation.Linear, null, null, 0, momentum, epsilon));
        return this;
    }

    /// <summary>
    /// Inverted dropout keeping each unit with probability <paramref name="keepProb"/> during training (the course's
    /// keep_prob: <c>Dropout(0.8)</c> drops 20%). Keras's and PyTorch's argument is the rate dropped instead; for that,
    /// use <see cref="DropoutRate"/>.
    /// </summary>
    /// <param name="keepProb">The probability of keeping a unit, in (0, 1].</param>
    public ModelBuilder<T> Dropout(double keepProb)
    {
        if (!(keepProb > 0 && keepProb <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(keepProb), keepProb, $"keepProb must be in (0, 1]; received {keepProb}");
        }

        _specs.Add(new Spec(SpecKind.Dropout, _width, _width, DeepLearning.Activation.Linear, null, null, 0, keepProb, 0));
        return this;
    }

    /// <summary>
    /// Inverted dropout dropping each unit with probability <paramref name="rate"/> during training, as Keras's
    /// <c>Dropout(rate)</c> and PyTorch's <c>nn.Dropout(p)</c> read it: <c>DropoutRate(0.2)</c> is <c>Dropout(keepProb: 0.8)</c>.
    /// </summary>
    /// <param name="rate">The probability of dropping a unit, in [0, 1).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rate"/> is not in [0, 1).</exception>
    public ModelBuilder<T> DropoutRate(double rate)
    {
        if (!(rate >= 0 && rate < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(rate), rate, $"rate (the fraction dropped) must be in [0, 1); received {rate}");
        }

        return Dropout(1 - rate);
    }

    /// <summary>
    /// An activation layer g. <see cref="DeepLearning.Activation.Linear"/> is the identity: right after a linear Dense it
    /// adds no layer, elsewhere an identity layer, and the builder's rules for the Dense before it (no bias before BatchNorm,
    /// the default initializer, fusing the activation) look past it.
    /// </summary>
    public ModelBuilder<T> Activation(DeepLearning.Activation activation, double leakySlope = 0.01)
    {
        if (!Enum.IsDefined(activation))
        {
            throw new ArgumentOutOfRangeException(nameof(activation), activation, $"unknown activation {activation}");
        }

        if (!(leakySlope >= 0 && leakySlope < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(leakySlope), leakySlope, $"leakySlope must be in [0, 1); received {leakySlope}");
        }

        if (activation == DeepLearning.Activation.Softmax && _width == 1)
        {
            throw new ArgumentException("softmax over one unit always outputs 1; for a binary output use .Dense(1).Sigmoid() (with 0/1 targets)", nameof(activation));
        }

        _specs.Add(new Spec(SpecKind.Activation, _width, _width, activation, null, null, leakySlope, 0, 0));
        return this;
    }

    /// <summary>g(z) = max(0, z).</summary>
    public ModelBuilder<T> ReLU() => Activation(DeepLearning.Activation.ReLU);

    /// <summary>g(z) = z if z &gt; 0 else slope·z.</summary>
    public ModelBuilder<T> LeakyReLU(double slope = 0.01) => Activation(DeepLearning.Activation.LeakyReLU, slope);

    /// <summary>g(z) = tanh z.</summary>
    public ModelBuilder<T> Tanh() => Activation(DeepLearning.Activation.Tanh);

    /// <summary>g(z) = σ(z); as the last layer, binary cross-entropy is the loss.</summary>
    public ModelBuilder<T> Sigmoid() => Activation(DeepLearning.Activation.Sigmoid);

    /// <summary>Row-wise softmax; as the last layer, categorical cross-entropy is the loss.</summary>
    /// <exception cref="ArgumentException">The previous layer has one unit: softmax over one unit always outputs 1.</exception>
    public ModelBuilder<T> Softmax() => Activation(DeepLearning.Activation.Softmax);

    /// <summary>Adds a custom layer, created from the current width n[l-1] and the model's random source at build time.</summary>
    public ModelBuilder<T> Add(Func<int, RandomSource, ILayer<T>> factory, int outputSize)
    {
        ArgumentNullException.ThrowIfNull(factory);
        if (outputSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(outputSize), outputSize, $"outputSize must be ≥ 1; received {outputSize}");
        }

        _specs.Add(new Spec(SpecKind.Custom, _width, outputSize, DeepLearning.Activation.Linear, null, null, 0, 0, 0) { Factory = factory });
        _width = outputSize;
        return this;
    }

    /// <summary>
    /// Trains with a cost written with a tape instead of the loss the last layer implies; the model's output Ŷ (the last
    /// layer's output as is) goes to it. See <see cref="CustomLoss"/>.
    /// </summary>
    public ModelBuilder<T> Loss(CustomLoss loss)
    {
        ArgumentNullException.ThrowIfNull(loss);
        _loss = loss;
        return this;
    }

    /// <summary>Creates the model, drawing initial weights and dropout streams from <paramref name="seed"/>.</summary>
    /// <exception cref="InvalidOperationException">See <see cref="Build(ulong)"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">See <see cref="Build(ulong)"/>.</exception>
    public Model<T> Build(int seed = 0) => Build(unchecked((ulong)(long)seed));

    /// <summary>Creates the model from a 64-bit seed.</summary>
    /// <exception cref="InvalidOperationException">
    /// The model has no layers; a layer follows the output softmax or sigmoid (and no <see cref="CustomLoss"/> was given);
    /// a Dense layer is too wide for one tensor (its W, n[l-1] inputs × n[l] units, is more than <see cref="Tensor.MaxLength"/>
    /// values; refused, naming the layer, before any weights are drawn); a custom layer's factory returned null or a layer of
    /// other widths than declared; or the loss does not suit the output.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException">A loss setting does not hold in <typeparamref name="T"/> (Huber's δ rounds to 0).</exception>
    public Model<T> Build(ulong seed)
    {
        if (_specs.Count == 0)
        {
            throw new InvalidOperationException("the model has no layers; add at least one Dense layer");
        }

        CheckOutputActivationLast();
        CheckWidths();
        var random = new RandomSource(seed);
        var layers = new List<ILayer<T>>();

        // The index each layer would have in the equivalent nn.Sequential, so state_dict names match PyTorch's:
        // a Dense with an activation is Linear followed by the activation module and takes two indices.
        int position = 0;
        for (int i = 0; i < _specs.Count; i++, position++)
        {
            var s = _specs[i];
            ILayer<T> layer;
            switch (s.Kind)
            {
                case SpecKind.Dense:
                    {
                        var (activation, slope, last) = ResolveDense(i);
                        bool lastSigmoid = activation == DeepLearning.Activation.Sigmoid && last + 1 == _specs.Count;
                        var init = s.Init ?? DefaultInitializer(last, activation);
                        bool useBias = s.UseBias ?? !(activation == DeepLearning.Activation.Linear && last + 1 < _specs.Count && _specs[last + 1].Kind == SpecKind.BatchNorm);
                        if (!useBias && InitializesBias(s.BiasInit))
                        {
                            // The bias a linear Dense drops before BatchNorm: a biasInit for it would be ignored silently.
                            throw new InvalidOperationException($"Dense layer {Index(position)} was given biasInit {s.BiasInit!.Name}, but a linear Dense before BatchNorm has no bias by default; pass useBias: true to keep b (PyTorch's nn.Linear has one), or drop biasInit");
                        }

                        layer = new Dense<T>(s.Input, s.Output, lastSigmoid ? DeepLearning.Activation.Linear : activation, init, random, useBias, slope, s.BiasInit) { Name = Index(position) };
                        layers.Add(layer);
                        if (activation != DeepLearning.Activation.Linear)
                        {
                            position++;
                        }

                        if (lastSigmoid)
                        {
                            layers.Add(new ActivationLayer<T>(s.Output, DeepLearning.Activation.Sigmoid) { Name = Index(position) });
                        }

                        i = last;
                        continue;
                    }

                case SpecKind.BatchNorm:
                    layer = new BatchNorm<T>(s.Input, s.A, s.B);
                    break;
                case SpecKind.Dropout:
                    layer = new Dropout<T>(s.Input, s.A, random.Fork());
                    break;
                case SpecKind.Activation:
                    layer = new ActivationLayer<T>(s.Input, s.Activation, s.Slope);
                    break;
                default:
                    layer = s.Factory!(s.Input, random)
                        ?? throw new InvalidOperationException($"the factory of custom layer at position {i} (.Add(factory, {s.Output}) with input width {s.Input}) returned null; it must return the layer");
                    if (layer.InputSize != s.Input || layer.OutputSize != s.Output)
                    {
                        throw new InvalidOperationException($"custom layer at position {i} was declared ({s.Input} → {s.Output}) but reports ({layer.InputSize} → {layer.OutputSize})");
                    }

                    break;
            }

            layer.Name = Index(position);
            layers.Add(layer);
        }

        var loss = _loss ?? LossFor(layers[^1]);
        if (_regressionLoss is not null)
        {
            if (loss.IsClassification)
            {
                throw new InvalidOperationException($"WithLoss({_regressionLoss.Name}) needs a linear (regression) output, but the model ends in {layers[^1].Kind} with {loss.Name}");
            }

            loss = _regressionLoss;
        }

        var model = new Model<T>(_inputs, [.. layers], loss, random, seed) { InputTransform = _inputTransform };
        if (_targetTransform is not null)
        {
            if (model.IsClassifier)
            {
                throw new InvalidOperationException($"StandardizeTargets is for regression; this model is a classifier ({loss.Name})");
            }

            if (_targetTransform.Features != model.OutputSize)
            {
                throw new InvalidOperationException($"StandardizeTargets was fitted to targets of {_targetTransform.Features} columns but the model has {model.OutputSize} outputs; fit it to the training targets of this model (Y of shape (m, {model.OutputSize}))");
            }

            model.TargetTransform = _targetTransform;
        }

        return model;
    }

    internal static Loss LossFor(ILayer<T> last) => last switch
    {
        ActivationLayer<T> { Activation: DeepLearning.Activation.Softmax } => DeepLearning.Loss.CategoricalCrossEntropy,
        ActivationLayer<T> { Activation: DeepLearning.Activation.Sigmoid } => DeepLearning.Loss.BinaryCrossEntropy,
        _ => DeepLearning.Loss.MeanSquaredError,
    };

    private static string Index(int i) => i.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Refuses a layer after the output softmax or sigmoid (after the last Dense or custom layer): the loss follows from
    /// the last layer, so <c>.Dense(3).Softmax().Dropout(0.5)</c> would silently be a squared-error regression on
    /// probabilities instead of a classifier. A sigmoid before a later Dense is a hidden activation and is fine, and with
    /// a <see cref="CustomLoss"/> (<see cref="Loss(CustomLoss)"/>) the last layer's output goes to the loss as it is.
    /// </summary>
    private void CheckOutputActivationLast()
    {
        if (_loss is not null)
        {
            return;
        }

        int last = _specs.FindLastIndex(s => s.Kind is SpecKind.Dense or SpecKind.Custom);
        for (int i = Math.Max(last, 0); i < _specs.Count - 1; i++)
        {
            var s = _specs[i];
            bool output = s.Activation is DeepLearning.Activation.Softmax or DeepLearning.Activation.Sigmoid
                && (s.Kind == SpecKind.Activation || (s.Kind == SpecKind.Dense && i == last));
            if (!output)
            {
                continue;
            }

            var next = _specs[i + 1];
            string name = s.Activation == DeepLearning.Activation.Softmax ? "Softmax" : "Sigmoid";
            string where = s.Kind == SpecKind.Dense ? $"the output Dense({s.Output}, Sigmoid) at position {i}" : $"the output {name}() at position {i}";
            string call = next.Kind switch
            {
                SpecKind.Dropout => string.Create(CultureInfo.InvariantCulture, $".Dropout({next.A})"),
                SpecKind.BatchNorm => ".BatchNorm()",
                _ when next.Activation is DeepLearning.Activation.ReLU or DeepLearning.Activation.LeakyReLU or DeepLearning.Activation.Tanh
                    or DeepLearning.Activation.Sigmoid or DeepLearning.Activation.Softmax => $".{next.Activation}()",
                _ => $".Activation(Activation.{next.Activation})",
            };
            throw new InvalidOperationException(
                $"{call[1..]} at position {i + 1} follows {where}, but the output activation must be the last layer: the loss is chosen from the last layer, so this model would silently be a regression ({_regressionLoss?.Name ?? "MeanSquaredError"}) on {name.ToLowerInvariant()} outputs instead of a classifier. " +
                $"Put {call} before the output layer ({call}.Dense({s.Output}).{name}()), or pass a CustomLoss with .Loss(...) to train on this output as it is");
        }
    }

    /// <summary>
    /// Refuses, before any layer is made, a Dense whose W (n[l] × n[l-1] values) is more than a tensor holds
    /// (<see cref="Tensor.MaxLength"/>), or another layer one row of whose outputs is: the tensor constructor's message
    /// named only a shape. Positions and names are counted as <see cref="Build(ulong)"/> counts them.
    /// </summary>
    private void CheckWidths()
    {
        int position = 0;
        for (int i = 0; i < _specs.Count; i++, position++)
        {
            var s = _specs[i];
            if (s.Kind == SpecKind.Dense)
            {
                long weights = (long)s.Input * s.Output;
                if (weights > Tensor.MaxLength)
                {
                    int most = Tensor.MaxLength / s.Input;
                    string advice = most >= 1 ? $"give it at most {most} units, or fewer inputs" : $"its {s.Input} inputs alone are more than a row of W can hold: give the model fewer inputs";
                    throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                        $"Dense({s.Output}) at position {i} (layer '{Index(position)}') is too wide: its W would be {s.Input} inputs × {s.Output} units = {weights} values, more than the {Tensor.MaxLength} a tensor holds (Tensor.MaxLength); {advice}"));
                }

                var (activation, _, last) = ResolveDense(i);
                if (activation != DeepLearning.Activation.Linear)
                {
                    position++;
                }

                i = last;
            }
            else if (s.Output > Tensor.MaxLength)
            {
                // Only the input (n_x) or a custom layer's declared width can be this wide: every Dense is checked above.
                string what = s.Kind == SpecKind.Custom ? $"custom layer (.Add(factory, {s.Output}))" : s.Kind.ToString();
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                    $"{what} at position {i} (layer '{Index(position)}') is too wide: one row of its {s.Output} outputs is more than the {Tensor.MaxLength} values a tensor holds (Tensor.MaxLength)"));
            }
        }
    }

    /// <summary>Whether a bias initializer would give b something other than its zeros (Zeros is what no bias amounts to).</summary>
    private static bool InitializesBias(Initializer? biasInit) => biasInit is not null && !ReferenceEquals(biasInit, Init.Zeros);

    /// <summary>
    /// The Dense layer at <paramref name="i"/> as built: its activation g and slope, and the index of the last spec it takes
    /// up. A linear Dense takes up the explicit Linear activations right after it (the identity: <c>.Dense(64).Activation(Activation.Linear)</c>
    /// is <c>.Dense(64)</c>) and then the activation after them, fused into its GEMM epilogue, unless that is softmax or the
    /// output sigmoid, which the loss needs as a layer of their own.
    /// </summary>
    private (DeepLearning.Activation Activation, double Slope, int Last) ResolveDense(int i)
    {
        var s = _specs[i];
        if (s.Activation != DeepLearning.Activation.Linear)
        {
            return (s.Activation, s.Slope, i);
        }

        int last = i;
        while (last + 1 < _specs.Count && IsIdentity(_specs[last + 1]))
        {
            last++;
        }

        if (last + 1 < _specs.Count && _specs[last + 1] is { Kind: SpecKind.Activation } next
            && next.Activation != DeepLearning.Activation.Softmax
            && !(next.Activation == DeepLearning.Activation.Sigmoid && last + 2 == _specs.Count))
        {
            return (next.Activation, next.Slope, last + 1);
        }

        return (DeepLearning.Activation.Linear, s.Slope, last);
    }

    /// <summary>Whether a spec is an explicit <c>.Activation(Activation.Linear)</c>: g(z) = z.</summary>
    private static bool IsIdentity(Spec s) => s is { Kind: SpecKind.Activation, Activation: DeepLearning.Activation.Linear };

    /// <summary>
    /// He before ReLU and leaky ReLU, Xavier otherwise: from <paramref name="activation"/>, the Dense's own (or fused) g, or
    /// when that is linear, from the first activation after spec <paramref name="last"/> that is not Linear, past BatchNorm and Dropout.
    /// </summary>
    private Initializer DefaultInitializer(int last, DeepLearning.Activation activation)
    {
        var g = activation;
        if (g == DeepLearning.Activation.Linear)
        {
            // Look past BatchNorm, Dropout and the identity for the activation that will follow this layer.
            for (int j = last + 1; j < _specs.Count; j++)
            {
                if (_specs[j].Kind is SpecKind.BatchNorm or SpecKind.Dropout || IsIdentity(_specs[j]))
                {
                    continue;
                }

                if (_specs[j].Kind == SpecKind.Activation)
                {
                    g = _specs[j].Activation;
                }

                break;
            }
        }

        return g is DeepLearning.Activation.ReLU or DeepLearning.Activation.LeakyReLU ? Init.He : Init.Xavier;
    }

    private enum SpecKind
    {
        Dense,
        BatchNorm,
        Dropout,
        Activation,
        Custom,
    }

    private sealed record Spec(SpecKind Kind, int Input, int Output, DeepLearning.Activation Activation, Initializer? Init, bool? UseBias, double Slope, double A, double B)
    {
        public Func<int, RandomSource, ILayer<T>>? Factory { get; init; }

        public Initializer? BiasInit { get; init; }
    }
}

/// <summary>Rebuilds models from layer configs (used by load and by element-type conversion).</summary>
internal static class ModelFactory
{
    public static Model<T> FromConfigs<T>(int inputs, IReadOnlyList<(string Name, LayerConfig Config)> configs, Loss loss, ulong seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new RandomSource(seed);
        var layers = new ILayer<T>[configs.Count];
        int width = inputs;
        for (int i = 0; i < configs.Count; i++)
        {
            var (name, config) = configs[i];
            if (config.InputSize != width)
            {
                throw new FormatException($"layer {i} ('{name}', {config.Kind}) expects {config.InputSize} inputs but the previous layer gives {width}");
            }

            layers[i] = LayerRegistry.Create<T>(config, random.Fork());
            layers[i].Name = name;
            width = layers[i].OutputSize;
        }

        var model = new Model<T>(inputs, layers, loss, random, seed);
        var expected = layers.Length == 0 ? Loss.MeanSquaredError : ModelBuilder<T>.LossFor(layers[^1]);
        if (expected.IsClassification ? !ReferenceEquals(expected, loss) : loss.IsClassification)
        {
            throw new FormatException($"loss '{loss.Name}' does not match the output layer (expected '{expected.Name}')");
        }

        return model;
    }
}
