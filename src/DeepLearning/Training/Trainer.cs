using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// The fit loop: for each epoch, shuffle and partition the training data into mini-batches (the last one may be
/// smaller; with batch norm in the model, a last one of a single row is skipped), and for each mini-batch run forward,
/// cost, backward and one optimizer step; then evaluate the dev set, record the epoch in a <see cref="History"/>, and
/// run the callbacks.
/// </summary>
public static class Trainer
{
    // What a built-in callback that watches a figure watches; null for others.
    private static EarlyStoppingMonitor? WatchedMonitor(ITrainingCallback callback) => callback switch
    {
        EarlyStopping e => e.Monitor,
        ReduceLearningRateOnPlateau r => r.Monitor,
        _ => null,
    };

    /// <summary>
    /// Trains <paramref name="model"/> on <paramref name="train"/> (an in-memory <see cref="DataSet{T}"/> or a
    /// streaming source) of raw data: the model applies its own <see cref="Model{T}.InputTransform"/> and
    /// <see cref="Model{T}.TargetTransform"/>. Returns the per-epoch and per-iteration history. A classifier learns
    /// <see cref="Model{T}.ClassNames"/> from a training <see cref="DataSet{T}"/> that has them.
    /// </summary>
    /// <remarks>
    /// <para>The epoch cost is the mean of the mini-batch costs J{t} weighted by mini-batch size, each including the
    /// regularization term. The metric is accuracy for a classifier (a sigmoid output's probability targets, e.g.
    /// label-smoothed 0.1/0.9, count as class 1 where y &gt; 0.5; a multi-label sigmoid output with C &gt; 1 columns is
    /// scored per cell, (1/(m·C))·Σᵢ Σⱼ 1[(ŷⱼ⁽ⁱ⁾ &gt; 0.5) = (yⱼ⁽ⁱ⁾ &gt; 0.5)], Keras's <c>binary_accuracy</c>) and RMSE in
    /// original units for a regression; the
    /// training metric is the running one of the training-mode forward passes
    /// (dropout active), like Keras's; the dev figures come from an inference-mode pass and the dev cost excludes
    /// the regularization term. A training step allocates nothing once warm.</para>
    /// <para>Data is checked, never trusted: an in-memory set once per call (NaN/±∞ anywhere; for softmax, every Y row
    /// non-negative and summing to 1; for sigmoid, every target in [0, 1]), a streamed source mini-batch by mini-batch
    /// (one vectorized sum per batch; NaN/±∞ stops training with an error naming the epoch, the row within the epoch,
    /// the column, and X or Y).</para>
    /// <para>With <see cref="TrainingOptions{T}.DivergenceGuard"/> on (the default), the weights are finite when this
    /// method returns or throws, and they are the last ones verified finite. With
    /// <see cref="TrainingOptions{T}.Checkpoint"/> and <see cref="TrainingOptions{T}.ResumeFrom"/> a run stopped after
    /// any epoch continues exactly.</para>
    /// <para>Batch norm needs 2 rows or more per mini-batch in training: with a <see cref="BatchNorm{T}"/> in the model,
    /// BatchSize 1 (or a training set of one example) is refused before training, and an epoch's last mini-batch is
    /// skipped when it holds a single row (m mod BatchSize = 1), as PyTorch's <c>drop_last</c> would, only in that case;
    /// the epoch's cost and training metric then cover the rows trained on.</para>
    /// <para>The optimizer's <see cref="Optimizer.LearningRate"/> is α0: with <see cref="TrainingOptions{T}.Decay"/>,
    /// epoch e steps with Decay.Rate(α0, e) (recorded in <see cref="EpochRecord.LearningRate"/>), and when Fit returns or
    /// throws, LearningRate reads α0 again, whatever the decay or a callback set during the run; so fitting twice with
    /// the same options decays from the same α0 both times. The optimizer's state (t, and v/s per parameter) carries over
    /// when the same model is fitted again, as Keras's repeated <c>fit</c> does; an optimizer that holds the state of
    /// another model's parameters is <see cref="Optimizer.Reset"/> first, so each model trains as with a new optimizer.</para>
    /// </remarks>
    /// <exception cref="ArgumentException">An <see cref="EarlyStopping"/> or <see cref="ReduceLearningRateOnPlateau"/> watches <see cref="EarlyStoppingMonitor.DevMetric"/> or <see cref="EarlyStoppingMonitor.DevCost"/> without <see cref="TrainingOptions{T}.Validation"/>. The data's widths do not match the model, the targets do not suit the loss, the training or validation set is known to be empty, the model has batch norm and the training data one example, the callbacks list one <see cref="EarlyStopping"/> twice, or an entry of the callbacks is null. Or <see cref="TrainingOptions{T}.ValidationSplit"/> is set with <see cref="TrainingOptions{T}.Validation"/>, on data not in memory (streamed or augmented), or would leave either part without a row. Or <see cref="TrainingOptions{T}.ClassWeights"/> or <see cref="TrainingOptions{T}.LabelSmoothing"/> is set for a model they do not suit (a regression, a <see cref="CustomLoss"/>; class weights also for a multi-label output, of another count than the classes, or a weight that overflows <typeparamref name="T"/>), checked before training and at every epoch.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A <see cref="TrainingOptions{T}.GradientClipNorm"/> or <see cref="TrainingOptions{T}.GradientClipValue"/> rounds to 0 in <typeparamref name="T"/>. Epochs or BatchSize is out of range (BatchSize 1 with batch norm in the model; or so large that a mini-batch's activations in some layer, rows × its units, would be more than <see cref="Tensor.MaxLength"/> values: the layer is named), or an optimizer hyperparameter is out of range once rounded to <typeparamref name="T"/> (α that rounds to 0 or overflows, β that rounds to 1, ε that rounds to 0), checked before training and at every epoch; a rate of <see cref="TrainingOptions{T}.Decay"/> that <typeparamref name="T"/> cannot hold is named with the schedule, the epoch and α0 when that epoch starts, the weights left as the epochs before it trained them (a run capped at many epochs and ended early by a callback never reaches such a rate, so it is not checked ahead).</exception>
    /// <exception cref="InvalidDataException">The data holds NaN or ±∞ (the cell is named), a streamed source of unknown size yields no examples (found when it is first read: for validation data, after the first epoch), or <see cref="TrainingOptions{T}.ResumeFrom"/> is not a usable checkpoint for this model and these options (another batch size, decay, shuffling, weight penalty, validation split or its seed, class weights, label smoothing, gradient clipping, RecordIterations, optimizer hyperparameter, or stateful callbacks at other positions).</exception>
    /// <exception cref="TrainingDivergedException">The cost, the weights or the optimizer state (e.g. Adam's s = β2·s + (1 − β2)·g², which overflows float for |g| beyond ~1.8e19 while the weights stay finite) became NaN or ±∞; the last verified-finite weights and optimizer state are restored.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled: a <see cref="TrainingCanceledException"/> carrying the history of the completed epochs (the weights are left as trained so far, if finite, in step with the optimizer's state: an <see cref="EarlyStopping"/> does not put back its best epoch's weights when Fit ends by an exception).</exception>
    /// <exception cref="InvalidOperationException">
    /// The model, <paramref name="options"/>, its optimizer, one of its stateful callbacks (<see cref="EarlyStopping"/>) or the training data's random stream (an augmented source's, <see cref="DataSourceExtensions.WithAugmentation{T}(IDataSource{T}, int, IBatchTransform{T}[])"/>, or another <see cref="IRandomStateSource"/>) is in use by another Fit that has not returned (on another
    /// thread, e.g. one <see cref="TrainingOptions{T}"/> shared by the trials of a parallel search, or called from a
    /// callback), or the model by a <see cref="GradientChecker.Check{T}"/> that perturbs its weights: nothing is trained. Used one Fit after another, they may be reused. Or, with the divergence guard off,
    /// a checkpoint would hold non-finite optimizer state or a non-finite cost in its history (a file no run could resume from): it is not written. Or
    /// checkpoints are asked for and the model's input transform is a custom kind not registered with
    /// <see cref="InputTransforms.Register"/> (refused before training). Or a
    /// streamed source of unknown size yields a single example and the model has batch norm. Or a callback set
    /// <see cref="Optimizer.LearningRate"/> while <see cref="TrainingOptions{T}.Decay"/> sets it every epoch (refused when
    /// that epoch's callbacks return, before its checkpoint is written, if another epoch follows; scale
    /// <see cref="TrainingContext.InitialLearningRate"/> instead).
    /// </exception>
    public static History Fit<T>(this Model<T> model, IDataSource<T> train, TrainingOptions<T> options, CancellationToken cancellationToken = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);

        // A model, options object or optimizer shared by two Fits running at once (e.g. one TrainingOptions captured by
        // the objective of a parallel search) would mix two runs' steps and optimizer state into plausible but wrong
        // results: refuse the second Fit instead.
        var optimizer = options.Optimizer;
        Claim(model, "the model is", "train each model on one thread at a time (and not while a gradient check perturbs its weights)");
        bool optionsClaimed = false, optimizerClaimed = false;
        var callbacksClaimed = new List<object>();
        var streamsClaimed = new List<RandomSource>();
        try
        {
            Claim(options, "these TrainingOptions are", "create the options (and their optimizer) inside each run, e.g. inside a search objective");
            optionsClaimed = true;
            if (optimizer is not null)
            {
                Claim(optimizer, $"the optimizer {optimizer.Describe()} is", "give each concurrent Fit its own optimizer");
                optimizerClaimed = true;
            }

            // A callback with state across epochs (early stopping's best cost, patience count and best weights) shared
            // by two option objects would stop, or restore the weights of, the wrong run.
            // Listed twice in one Fit, it would see every epoch twice (early stopping's patience would run at double speed).
            for (int i = 0; i < options.Callbacks.Count; i++)
            {
                var callback = options.Callbacks[i] ?? throw new ArgumentException($"options.Callbacks[{i}] is null; list only callback instances", nameof(options));
                if (callback is not ICheckpointedCallback)
                {
                    continue;
                }

                if (callbacksClaimed.Contains(callback, ReferenceEqualityComparer.Instance))
                {
                    throw new ArgumentException($"options.Callbacks lists the same {callback.GetType().Name} instance twice; it would see every epoch twice (patience would count double): list it once", nameof(options));
                }

                Claim(callback, $"the {callback.GetType().Name} callback is", "give each concurrent Fit its own callback instance");
                callbacksClaimed.Add(callback);
            }

            // The random streams of the training source (an augmentation's): each epoch forks it, and a checkpoint saves
            // it, so two runs drawing from one would interleave their epochs' draws by timing and neither could resume.
            if (train is IRandomStateSource holder)
            {
                foreach (var stream in holder.RandomSources)
                {
                    if (stream is not null && !streamsClaimed.Contains(stream, ReferenceEqualityComparer.Instance))
                    {
                        Claim(stream, "the training data's random stream (its augmentation's) is", "wrap the data with its own WithAugmentation(seed, ...) for each concurrent Fit");
                        streamsClaimed.Add(stream);
                    }
                }
            }

            if (options.ValidationSplit > 0)
            {
                // The held-out rows are this Fit's dev set: options.Validation names them while it runs (callbacks see
                // them there) and is null again when it returns.
                var (kept, heldOut) = HoldOut(model, train, options);
                options.Validation = heldOut;
                try
                {
                    return FitClaimed(model, kept, options, cancellationToken);
                }
                finally
                {
                    options.Validation = null;
                }
            }

            return FitClaimed(model, train, options, cancellationToken);
        }
        finally
        {
            foreach (var stream in streamsClaimed)
            {
                InUse.Release(stream);
            }

            // Only what this Fit claimed: a refused claim belongs to the Fit that holds it.
            foreach (var callback in callbacksClaimed)
            {
                InUse.Release(callback);
            }

            if (optimizerClaimed)
            {
                InUse.Release(optimizer!);
            }

            if (optionsClaimed)
            {
                InUse.Release(options);
            }

            InUse.Release(model);
        }
    }

    /// <summary>
    /// <see cref="TrainingOptions{T}.ValidationSplit"/>: the rows trained on and the ⌈m·fraction⌉ held out, drawn with
    /// the shuffle seed, stratified by class when the data has labels.
    /// </summary>
    private static (DataSet<T> Train, DataSet<T> Dev) HoldOut<T>(Model<T> model, IDataSource<T> train, TrainingOptions<T> options)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double fraction = options.ValidationSplit;
        string text = fraction.ToString("R", CultureInfo.InvariantCulture);
        if (options.Validation is not null)
        {
            throw new ArgumentException($"both Validation and ValidationSplit = {text} are set: give a dev set or a fraction to hold out, not both", nameof(options));
        }

        if (train is not DataSet<T> data)
        {
            throw new ArgumentException($"ValidationSplit = {text} needs the training data in memory (a DataSet), but it is a {train.GetType().Name}: split the data yourself (e.g. data.Split(0.8, 0.2, 0, seed)) and pass the dev part as Validation{(Model<T>.Unaugmented(train) is DataSet<T> ? ", then augment the training part" : string.Empty)}", nameof(options));
        }

        int m = data.Count;
        long dev = (long)Math.Ceiling(m * fraction);
        if (dev < 1 || dev >= m)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"ValidationSplit = {text} of {m} examples holds out {dev}, leaving {m - dev} to train on: each part needs at least one row"), nameof(options));
        }

        // Fit(x, y) gives no labels: a single-label classifier's rows are stratified by the class their targets give. Targets
        // that give none (NaN, rows not one-hot) are split unstratified and refused by the checks that follow.
        if (data.Labels is null && model.IsClassifier && !model.IsMultiLabel)
        {
            try
            {
                data = new DataSet<T>(data.X, data.Y, DataSet.ToLabels(data.Y), Math.Max(2, data.Targets), data.ClassNames);
            }
            catch (ArgumentException)
            {
            }
        }

        ulong seed = options.Seed ?? model.Seed;
        var (kept, heldOut, _) = data.SplitByCount(m - (int)dev, (int)dev, 0, unchecked((int)(seed ^ (seed >> 32))), stratify: data.Labels is not null);
        return (kept, heldOut);
    }

    private static History FitClaimed<T>(Model<T> model, IDataSource<T> train, TrainingOptions<T> options, CancellationToken cancellationToken)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Class names first: a dev set read without the training set's names and missing a class has other names and one
        // target column fewer, and the names say why (read it with CsvOptions.ClassNames = train.ClassNames).
        Model<T>.CheckClassNames(model.ClassNames, "model", train, "training data");
        Model<T>.CheckClassNames(model.ClassNames ?? Model<T>.ClassNamesOf(train), model.ClassNames is null ? "training data" : "model", options.Validation, "validation data");
        CheckSource(model, train, "training data");
        if (train.Count == 0)
        {
            throw new ArgumentException("the training data is empty (0 examples)", nameof(train));
        }

        // A checkpoint of a model whose input transform a load could not rebuild would be refused after the first epoch.
        string? checkpointPath = options.Checkpoint?.Path ?? options.Callbacks.OfType<Checkpoint>().FirstOrDefault()?.Path;
        if (checkpointPath is not null && model.InputTransform is { } transform)
        {
            InputTransforms.CheckSavable(transform, "input transform", checkpointPath);
        }

        if (options.Validation is not null)
        {
            CheckSource(model, options.Validation, "validation data");
            if (options.Validation.Count == 0)
            {
                throw new ArgumentException("the validation set is empty (0 examples): pass a dev set with examples, or leave Validation null", nameof(options));
            }
        }

        if (options.Epochs < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Epochs, $"Epochs must be ≥ 1; received {options.Epochs}");
        }

        CheckBatchSize(options.BatchSize, train.Count, epoch: null);
        CheckBatchNormBatchSize(model, options.BatchSize, train.Count);
        CheckBatchWidth(model, options.BatchSize, train.Count, epoch: null);

        ArgumentNullException.ThrowIfNull(options.Optimizer, "options.Optimizer");

        // α, β and ε are checked as doubles by the optimizer; here, before training, in the model's element type.
        options.Optimizer.Validate<T>();

        // NaN or ∞ in the data would surface later as a "diverged" cost with the wrong advice; name the cell now. An
        // augmented in-memory set is checked as the set it wraps (augmentation moves pixels, not targets).
        Model<T>.RefuseAugmented(options.Validation, "validation data", nameof(options));
        var trainSet = Model<T>.Unaugmented(train) as DataSet<T>;
        trainSet?.EnsureFinite();
        (options.Validation as DataSet<T>)?.EnsureFinite();
        CheckTargets(model, trainSet, "training data");
        CheckTargets(model, options.Validation as DataSet<T>, "validation data");

        // A dev figure asked for by name with no dev set would quietly watch the training cost (Keras warns here).
        if (options.Validation is null && options.Callbacks.FirstOrDefault(c => WatchedMonitor(c) is EarlyStoppingMonitor.DevMetric or EarlyStoppingMonitor.DevCost) is { } watching)
        {
            throw new ArgumentException($"{watching.GetType().Name} watches {WatchedMonitor(watching)} but TrainingOptions.Validation is not set, so it would watch the training cost instead: give a dev set (e.g. from data.Split), or watch EarlyStoppingMonitor.TrainCost (Auto takes the dev cost when there is a dev set)", nameof(options));
        }

        // Checked before anything changes; Train reads them again at the start of every epoch (after OnTrainBegin, and after
        // callbacks that may change them).
        ClassWeightsFor(model, options);
        LabelSmoothingFor(model, options);
        CheckClipping(options);

        // The checkpoint is read and checked in full before anything of the model changes (its regularizer, its stream of
        // shuffles), so a refused one leaves the model as it was.
        var resume = options.ResumeFrom is { } resumePath ? TrainingCheckpoint.Read(resumePath, model, options.Optimizer, train, options.Callbacks, options) : null;
        if (options.Regularization is not null)
        {
            model.Regularizer = options.Regularization;
        }

        if (trainSet is not null)
        {
            model.CheckRawInput(trainSet.X, "training data");
        }

        // Names from any source that carries them (an in-memory set, a streamed CSV with text labels, either augmented).
        model.ClassNames ??= model.IsClassifier && Model<T>.ClassNamesOf(train) is { } names && names.Count == model.ClassCount ? names : null;

        // One stream of shuffles per model and seed: a later Fit with the same seed continues where the last one
        // stopped (as Keras's fit does, and a PyTorch loop over the same DataLoader), rather than replaying its orders.
        ulong seed = options.Seed ?? model.Seed;
        var shuffle = model.Shuffles is { } last && last.Seed == seed ? last.Stream : new RandomSource(seed).Fork();
        model.Shuffles = (seed, shuffle);

        // α0 is the rate the user set (or the checkpoint's α0), kept apart from the decayed rate the optimizer steps with
        // during the run; afterwards the optimizer reads α0 again, so the same options give the same schedule every time.
        // An optimizer whose state (t, v, s) belongs to another model starts afresh, as a new one would.
        var optimizer = options.Optimizer;
        double userRate = optimizer.LearningRate;
        optimizer.Bind(model.Parameters);
        try
        {
            return Train(model, train, options, resume, shuffle, resume?.InitialLearningRate ?? userRate, cancellationToken);
        }
        finally
        {
            optimizer.LearningRate = userRate;
        }
    }

    // TrainingOptions.ClassWeights checked against the model and rounded to T (as PyTorch's weight tensor has the model's
    // dtype), or null. Called when Fit starts and after every epoch's callbacks, which may change them.
    internal static double[]? ClassWeightsFor<T>(Model<T> model, TrainingOptions<T> options)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (options.ClassWeights is not { } weights)
        {
            return null;
        }

        if (!model.IsClassifier || model.IsMultiLabel || !model.HasFusedOutput)
        {
            string what = !model.IsClassifier ? $"a regression ({model.Loss.Name})"
                : model.IsMultiLabel ? $"a multi-label classifier ({model.OutputSize} sigmoid outputs, each its own yes/no)"
                : $"a classifier with its own loss ({model.Loss.Name})";
            throw new ArgumentException($"ClassWeights weigh the classes of a single-label classifier (a softmax output, or one sigmoid output); this model is {what}", nameof(options));
        }

        if (weights.Count != model.ClassCount)
        {
            string form = model.OutputSize == 1 ? "2 for its sigmoid output (w₀ for y = 0, w₁ for y = 1)" : "one per softmax output";
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"ClassWeights has {weights.Count} weights but the model has {model.ClassCount} classes: give {form}"), nameof(options));
        }

        var rounded = new double[weights.Count];
        for (int j = 0; j < rounded.Length; j++)
        {
            T w = T.CreateTruncating(weights[j]);
            if (!T.IsFinite(w))
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"ClassWeights[{j}] = {weights[j]:R} overflows to ∞ in {typeof(T).Name}"), nameof(options));
            }

            rounded[j] = double.CreateTruncating(w);
        }

        if (Array.TrueForAll(rounded, w => w == 0))
        {
            throw new ArgumentException($"ClassWeights all round to 0 in {typeof(T).Name}, which would train nothing: give at least one class a weight a {typeof(T).Name} can hold", nameof(options));
        }

        return rounded;
    }

    // TrainingOptions.LabelSmoothing checked against the model: a classifier whose softmax or sigmoid output is fused with
    // its cross-entropy.
    internal static double LabelSmoothingFor<T>(Model<T> model, TrainingOptions<T> options)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double smoothing = options.LabelSmoothing;
        if (smoothing > 0 && (!model.IsClassifier || !model.HasFusedOutput))
        {
            string what = !model.IsClassifier ? $"a regression ({model.Loss.Name})" : $"a classifier with its own loss ({model.Loss.Name})";
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"LabelSmoothing = {smoothing:R} smooths the targets of a softmax or sigmoid cross-entropy; this model is {what}"), nameof(options));
        }

        return smoothing;
    }

    // A clipping limit that rounds to 0 in T would zero every gradient (1e-50 in float): refused before training.
    private static void CheckClipping<T>(TrainingOptions<T> options)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check("GradientClipNorm", options.GradientClipNorm);
        Check("GradientClipValue", options.GradientClipValue);

        static void Check(string name, double? limit)
        {
            if (limit is double v && T.CreateTruncating(v) == T.Zero)
            {
                throw new ArgumentOutOfRangeException(nameof(options), v, string.Create(CultureInfo.InvariantCulture, $"{name} = {v:R} rounds to 0 in {typeof(T).Name}, which would zero every gradient: use a limit a {typeof(T).Name} can hold"));
            }
        }
    }

    /// <summary>One optimization step on one mini-batch: gradients, then the optimizer's update. Returns J. Allocates nothing once warm.</summary>
    public static double Step<T>(Model<T> model, Optimizer optimizer, Tensor<T> x, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        double cost = model.ComputeGradients(x, y);
        optimizer.Step(model.Parameters);
        return cost;
    }

    // The fit loop proper, once everything is validated; Fit puts the optimizer's α back however this ends.
    private static History Train<T>(Model<T> model, IDataSource<T> train, TrainingOptions<T> options, Resume<T>? resume, RandomSource shuffle, double initialLearningRate, CancellationToken cancellationToken)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool classification = model.IsClassifier;
        bool multiLabel = model.IsMultiLabel;
        var batchNorm = FirstBatchNorm(model);
        var history = resume?.History ?? History.ForModel(classification);
        history.TrainMetricWithDropout = DropoutActive(model);
        var verbose = options.Verbose && options.Progress is null ? new ConsoleProgress(metricName: history.MetricName) : null;
        var progress = options.Progress ?? verbose;
        var context = new Context<T>(model, options, history, shuffle, train) { InitialLearningRate = initialLearningRate };
        resume?.Apply(model, options.Optimizer, shuffle);
        context.Epoch = resume?.Epoch ?? 0;
        var guard = options.DivergenceGuard ? new DivergenceGuard<T>(model, options.Optimizer) : null;
        bool validationChecked = false;
        var batch = new BatchViews<T>();
        var spare = new BatchViews<T>(); // the next mini-batch, gathered by a helper thread while a step ends

        // Streamed data is checked batch by batch (an in-memory set was checked whole above).
        bool checkBatches = train is not DataSet<T>;

        foreach (var callback in context.Callbacks)
        {
            callback.OnTrainBegin(context);
        }

        resume?.ApplyCallbacks();

        // A checkpoint written when early stopping ended the run is of a finished run, as one written after the last epoch
        // is: resuming it trains no more and ends as the uninterrupted run did (OnTrainEnd puts the best weights back).
        // A callback that raised its patience is not finished and continues. (A plain Stop is a pause and resumes.)
        if (resume is not null)
        {
            foreach (var callback in context.Callbacks)
            {
                if (callback is ICheckpointedCallback { FinishedReason: { } reason })
                {
                    context.Stop(reason);
                    history.StopReason = reason;
                }
            }
        }

        bool completed = false;
        try
        {
            for (int epoch = context.Epoch; epoch < options.Epochs && !context.StopRequested; epoch++)
            {
                var optimizer = options.Optimizer;
                if (options.Decay is not null)
                {
                    optimizer.LearningRate = DecayedRate<T>(options.Decay, context.InitialLearningRate, epoch);
                }

                optimizer.Validate<T>();
                CheckBatchSize(options.BatchSize, train.Count, epoch); // a callback may have changed it
                CheckBatchNormBatchSize(model, options.BatchSize, train.Count);
                CheckBatchWidth(model, options.BatchSize, train.Count, epoch);
                history.TrainMetricWithDropout |= DropoutActive(model); // a callback may have turned dropout on
                int bs = EffectiveBatchSize(options.BatchSize, train.Count);
                var classWeights = ClassWeightsFor(model, options); // a callback may have changed them
                double labelSmoothing = LabelSmoothingFor(model, options);
                CheckClipping(options);
                batch.Ensure(bs, model.InputSize, model.OutputSize);
                int batchesPerEpoch = train.Count > 0 ? (int)((train.Count + bs - 1) / bs) - (batchNorm is not null && train.Count % bs == 1 ? 1 : 0) : -1;
                if (options.RecordIterations && batchesPerEpoch > 0)
                {
                    history.EnsureIterationCapacity(history.IterationCosts.Count + batchesPerEpoch);
                }

                long start = Stopwatch.GetTimestamp();
                double costSum = 0;
                long seen = 0;
                long correct = 0;
                double squaredError = 0;
                int batchIndex = 0;
                int skipped = 0;
                using (var reader = train.OpenEpoch(bs, options.Shuffle ? shuffle : null))
                {
                    // With two threads, the next mini-batch is gathered by the helper while the caller computes the output
                    // layer and the loss (Model.TrainingTail), instead of by both threads between steps. Same rows, same order.
                    // Only with a helper thread and more than one mini-batch per epoch (the spare buffers are a second batch),
                    // and not when the caller's own progress sees every mini-batch: code run there may still change the data.
                    var prefetch = reader is IPrefetchingReader<T> prefetching && Kernels.Gemm.EffectiveThreads > 1 && bs < train.Count
                        && !(options.ReportBatches && options.Progress is not null)
                        ? new TailPrefetch<T>(prefetching) : null;
                    if (prefetch is not null)
                    {
                        spare.Ensure(bs, model.InputSize, model.OutputSize);
                    }

                    model.TrainingTail = prefetch?.Post;
                    int rows;
                    while ((rows = NextBatch()) > 0)
                    {
                        if (cancellationToken.IsCancellationRequested)
                        {
                            throw new TrainingCanceledException(string.Create(CultureInfo.InvariantCulture, $"Fit was cancelled in epoch {epoch + 1}, after {history.Count} complete epoch(s) (their history is in this exception's History)"), cancellationToken) { History = history };
                        }

                        var (x, y) = batch.View(rows);
                        prefetch?.Arm(spare.FullX, spare.FullY);
                        if (checkBatches)
                        {
                            CheckBatch(model, x, y, rows, epoch, batchIndex, seen);
                        }

                        if (rows == 1 && batchNorm is not null)
                        {
                            // The epoch's last mini-batch (only the last is short) holds one row, whose batch variance is 0:
                            // batch norm would output β, pass no gradient and shrink its running variance. Dropped, as
                            // PyTorch's drop_last would (only in this case); BatchSize ≥ 2 is checked above.
                            skipped++;
                            continue;
                        }

                        double cost = model.ComputeGradientsChecked(x, y, classWeights, labelSmoothing); // the data were checked above (whole, or this batch)
                        if (!double.IsFinite(cost) && guard is not null)
                        {
                            throw guard.Diverged(cost, epoch + 1, batchIndex + 1, history);
                        }

                        if (options.GradientClipNorm is double maxNorm)
                        {
                            GradientClipping.ClipByNorm(model.Parameters, maxNorm);
                        }

                        if (options.GradientClipValue is double clipValue)
                        {
                            GradientClipping.ClipByValue(model.Parameters, clipValue);
                        }

                        optimizer.Step(model.Parameters);
                        costSum += cost * rows;
                        seen += rows;
                        batchIndex++;
                        if (multiLabel)
                        {
                            correct += Accuracy.CountCorrectLabels(model.LastOutput!, y, 0.5);
                        }
                        else if (classification)
                        {
                            correct += Accuracy.CountCorrect(model.LastOutput!, y, 0.5, probabilityTargets: true);
                        }
                        else
                        {
                            squaredError += model.LastSquaredError();
                        }

                        if (options.RecordIterations)
                        {
                            history.AddIteration(cost);
                        }

                        if (options.ReportBatches || verbose?.Live == true)
                        {
                            progress?.Report(new TrainingProgress(epoch + 1, options.Epochs, batchIndex, batchesPerEpoch, cost, null));
                        }
                    }

                    model.TrainingTail = null;

                    // The next mini-batch: the one the helper gathered during the step (into the spare buffers, which then
                    // become the current ones), or read now.
                    int NextBatch()
                    {
                        if (prefetch is { Posted: true })
                        {
                            int gathered = prefetch.Complete();
                            (batch, spare) = (spare, batch);
                            return gathered;
                        }

                        return reader.Next(batch.FullX, batch.FullY);
                    }
                }

                if (seen == 0)
                {
                    if (skipped == 0)
                    {
                        throw new InvalidDataException("the training data yielded no examples (a streamed file with a header and no rows?)");
                    }

                    throw new InvalidOperationException($"the training data yielded only one example, and batch norm (layer '{batchNorm!.Name}') cannot train on a one-row mini-batch, so it was skipped; train on 2 examples or more");
                }

                // The last step of the epoch is checked too (for full-batch training it is the only one).
                guard?.EndEpoch(epoch + 1, history);

                double? devCost = null, devMetric = null;
                if (options.Validation is not null)
                {
                    // The test for already-standardized input reads up to 10,000 rows (15 ms for Fashion-MNIST's): once per Fit.
                    var eval = Evaluator<T>.Run(model, options.Validation, confusion: false, "validation data", checkRawInput: !validationChecked);
                    validationChecked = true;
                    if (eval.Count == 0)
                    {
                        throw new InvalidDataException("the validation data yielded no examples (a streamed file with a header and no rows?): pass a dev set with examples, or leave Validation null");
                    }

                    devCost = eval.Cost;
                    devMetric = classification ? eval.Accuracy : eval.RootMeanSquaredError;
                }

                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                var record = history.AddEpoch(new EpochRecord(epoch + 1, costSum / seen, multiLabel ? correct / (seen * (double)model.OutputSize) : classification ? correct / (double)seen : Math.Sqrt(squaredError / (seen * (double)model.OutputSize)), devCost, devMetric, optimizer.LearningRate, seconds));
                context.Epoch = epoch + 1;
                context.InEpochEnd = true;
                try
                {
                    foreach (var callback in context.Callbacks)
                    {
                        callback.OnEpochEnd(context, record);
                    }
                }
                finally
                {
                    context.InEpochEnd = false;
                }

                // A callback's own LearningRate (a hand-written ReduceLROnPlateau) would be overwritten by the decay when the
                // next epoch starts, without a word: refused now, before this epoch's checkpoint is written. After the last
                // epoch it changes nothing.
                if (options.Decay is not null && optimizer.LearningRate != record.LearningRate && epoch + 1 < options.Epochs && !context.StopRequested)
                {
                    throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                        $"a callback set Optimizer.LearningRate to {optimizer.LearningRate:G6} after epoch {epoch + 1}, but TrainingOptions.Decay ({options.Decay.Describe()}) sets it at every epoch, so the change would be lost: scale ctx.InitialLearningRate instead (the decay starts from it), or train without Decay and set LearningRate yourself"));
                }

                context.CheckSettings();
                context.WritePendingCheckpoints();
                if (options.Checkpoint is { } checkpoint
                    && (context.Epoch % checkpoint.EveryEpochs == 0 || context.Epoch == options.Epochs || context.StopRequested))
                {
                    context.SaveCheckpoint(checkpoint.PathFor(context.Epoch));
                }

                progress?.Report(new TrainingProgress(epoch + 1, options.Epochs, batchIndex, batchesPerEpoch, record.Cost, record));
                if (context.StopRequested)
                {
                    history.StopReason = context.StopReason;
                    break;
                }
            }

            completed = true;
        }
        catch (Exception) when (guard is not null)
        {
            // Whatever interrupted training (cancellation, a callback, the data), never leave broken weights behind.
            guard.RestoreIfBroken();
            throw;
        }
        finally
        {
            model.TrainingTail = null;

            // Ended by an exception: callbacks leave the weights as they are (early stopping restores no best epoch).
            context.Aborted = !completed;
            foreach (var callback in context.Callbacks)
            {
                callback.OnTrainEnd(context);
            }
        }

        return history;
    }

    // The models, options and optimizers of the Fits running now, on any thread (shared with the gradient checker and Save).
    private static void Claim(object thing, string what, string advice) => InUse.Claim(thing, InUse.Fit, what, advice);

    // α for an epoch of a decay schedule. A rate T cannot hold (a long decay that reaches 1e-46 in float) is refused
    // naming the schedule, the epoch and α0: the optimizer's own check named only a rate the user never set.
    private static double DecayedRate<T>(LearningRateSchedule decay, double initialRate, int epoch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double rate = decay.Rate(initialRate, epoch);
        T alpha = T.CreateTruncating(rate);
        if (!T.IsFinite(alpha) || alpha == T.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(TrainingOptions<T>.Decay), rate,
                $"{decay.Describe()} gave learning rate {Format(rate)} at epoch {epoch} (α0 = {Format(initialRate)}), which {(T.IsFinite(alpha) ? "rounds to 0" : "overflows")} in {typeof(T).Name}: train fewer epochs, or decay more slowly");
        }

        return rate;

        static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);
    }

    /// <summary>BatchSize ≥ 1, or 0 (full batch) for a source of known size; <paramref name="epoch"/> (from 0) when a callback set it during the run.</summary>
    private static void CheckBatchSize(int batchSize, long count, int? epoch)
    {
        if (batchSize < 0 || (batchSize == 0 && count < 0))
        {
            string when = epoch is int e ? string.Create(CultureInfo.InvariantCulture, $" (set during training, before epoch {e + 1})") : string.Empty;
            throw new ArgumentOutOfRangeException("options", batchSize, $"BatchSize must be ≥ 1 (or 0 for full batch on a source of known size); received {batchSize}{when}");
        }
    }

    /// <summary>
    /// A mini-batch must fit through every layer: each keeps a (rows, its width) buffer of at most Tensor.MaxLength values,
    /// which the first step would otherwise fail to allocate with only a tensor shape to show. The rows are the effective
    /// batch size: all of them for full batch or a batch size beyond m, BatchSize itself for a source of unknown size.
    /// </summary>
    private static void CheckBatchWidth<T>(Model<T> model, int batchSize, long count, int? epoch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = EffectiveBatchSize(batchSize, count);
        if (model.TooWideFor(rows) is not { } wide)
        {
            return;
        }

        string setting = batchSize == 0 ? "BatchSize = 0 (full batch)" : string.Create(CultureInfo.InvariantCulture, $"BatchSize = {batchSize}");
        string whole = rows != batchSize ? " (the whole training set)" : string.Empty;
        string when = epoch is int e ? string.Create(CultureInfo.InvariantCulture, $" (set during training, before epoch {e + 1})") : string.Empty;
        throw new ArgumentOutOfRangeException("options", batchSize, string.Create(CultureInfo.InvariantCulture,
            $"{setting} is too large for this model: a mini-batch of {rows} rows{whole} through {wide.What} needs {rows} × {wide.Width} = {(long)rows * wide.Width} values, more than the {Tensor.MaxLength} a tensor holds (Tensor.MaxLength); use BatchSize ≤ {model.MaxBatchRows}{when}"));
    }

    private static int EffectiveBatchSize(int batchSize, long count) =>
        batchSize == 0 || (count > 0 && batchSize > count) ? (int)Math.Max(1, count) : batchSize;

    // Whether a training forward pass drops units: a dropout layer with keep_prob < 1 that is not turned off.
    private static bool DropoutActive<T>(Model<T> model)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var layer in model.Layers)
        {
            if (layer is Dropout<T> { KeepProb: < 1, Enabled: true })
            {
                return true;
            }
        }

        return false;
    }

    private static BatchNorm<T>? FirstBatchNorm<T>(Model<T> model)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var layer in model.Layers)
        {
            if (layer is BatchNorm<T> batchNorm)
            {
                return batchNorm;
            }
        }

        return null;
    }

    /// <summary>
    /// Batch norm cannot train on one row (its batch variance is 0: it outputs β, passes no gradient, and its running
    /// variance shrinks towards 0), so a model with it needs mini-batches of 2 rows or more, as PyTorch's BatchNorm1d does.
    /// </summary>
    private static void CheckBatchNormBatchSize<T>(Model<T> model, int batchSize, long count)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (EffectiveBatchSize(batchSize, count) != 1 || count == 0 || FirstBatchNorm(model) is not { } batchNorm)
        {
            return;
        }

        const string Why = "needs at least 2 rows per mini-batch in training (the variance of one row is 0, so the layer would output β, pass no gradient, and shrink its running variance to 0)";
        if (batchSize == 1)
        {
            throw new ArgumentOutOfRangeException("options", batchSize, $"BatchSize 1 cannot train this model: batch norm (layer '{batchNorm.Name}') {Why}; use BatchSize ≥ 2");
        }

        throw new ArgumentException($"the training data has 1 example, but batch norm (layer '{batchNorm.Name}') {Why}; train on 2 examples or more", "train");
    }

    private static void CheckBatch<T>(Model<T> model, Tensor<T> x, Tensor<T> y, int rows, int epoch, int batchIndex, long seen)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // One vectorized sum per tensor; the message (and its closure) is built in another method, only on failure.
        if (!FiniteCheck.AllFinite(x, y, rows))
        {
            ThrowNonFinite(x, y, rows, epoch, batchIndex, seen);
        }

        // The targets must suit the loss, as an in-memory set's are checked before training (a sigmoid target of 5 trains
        // "fine" otherwise). Cheap next to the step: one pass over the (rows, C) targets.
        if (model.Loss.IsClassification && !StreamedTargetsValid(model, y, rows))
        {
            throw BadStreamedTargets(model, y, rows, "training data", seen, string.Create(CultureInfo.InvariantCulture, $" of epoch {epoch + 1} (mini-batch {batchIndex + 1}; with shuffling, rows are counted in the epoch's order)"));
        }
    }

    private static void ThrowNonFinite<T>(Tensor<T> x, Tensor<T> y, int rows, int epoch, int batchIndex, long seen)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        FiniteCheck.Batch(x, y, rows, "the training data", r => string.Create(CultureInfo.InvariantCulture,
            $"at epoch {epoch + 1}, row {seen + r} of the epoch (mini-batch {batchIndex + 1}, row {r}; with shuffling, rows are counted in the epoch's order)"));

    /// <summary>In-memory targets must suit the loss: probability rows for softmax, values in [0, 1] for sigmoid.</summary>
    private static void CheckTargets<T>(Model<T> model, DataSet<T>? data, string what)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (data is not null)
        {
            CheckTargets(model, data.Y, what);
        }
    }

    /// <summary>
    /// Targets Y (m, C) must suit the model's loss: probability rows for softmax, values in [0, 1] for sigmoid
    /// (Fit's rule, which Evaluate applies too); an <see cref="ArgumentException"/> names the first row that does not.
    /// </summary>
    internal static void CheckTargets<T>(Model<T> model, Tensor<T> targets, string what, string? paramName = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (TargetProblem(model, targets.ReadOnlySpan, targets.RowLength, what, 0, string.Empty) is { } problem)
        {
            throw new ArgumentException(problem, paramName);
        }
    }

    /// <summary>
    /// Whether the first <paramref name="rows"/> rows of streamed targets, one mini-batch at a time (an in-memory set is
    /// checked whole before training), follow the rule of <see cref="CheckTargets{T}(Model{T}, Tensor{T}, string, string?)"/>.
    /// Allocates nothing.
    /// </summary>
    internal static bool StreamedTargetsValid<T>(Model<T> model, Tensor<T> targets, int rows)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        TargetProblem(model, targets.ReadOnlySpan[..(rows * targets.RowLength)], targets.RowLength, string.Empty, 0, null) is null;

    /// <summary>
    /// The error for streamed targets that <see cref="StreamedTargetsValid{T}"/> refused: the rule of
    /// <see cref="CheckTargets{T}(Model{T}, Tensor{T}, string, string?)"/>, as an <see cref="InvalidDataException"/>
    /// naming the row counted from <paramref name="firstRow"/> and <paramref name="context"/> (" of epoch 2").
    /// </summary>
    internal static InvalidDataException BadStreamedTargets<T>(Model<T> model, Tensor<T> targets, int rows, string what, long firstRow, string context)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        new(TargetProblem(model, targets.ReadOnlySpan[..(rows * targets.RowLength)], targets.RowLength, what, firstRow, context));

    private static string? TargetProblem<T>(Model<T> model, ReadOnlySpan<T> y, int c, string what, long firstRow, string? context)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (y.Length == 0 || c == 0)
        {
            return null;
        }

        int rowCount = y.Length / c;
        var inv = CultureInfo.InvariantCulture;
        if (ReferenceEquals(model.Loss, Loss.CategoricalCrossEntropy))
        {
            // Rows of one-hot or soft (label-smoothed, or a teacher's softmax) targets. The tolerance allows for C entries
            // each rounded to T and summed in T (about C·ε_T), plus a margin; it does not grow to accept a row that is
            // simply wrong (1e-4·C, the rule before, let a 1000-class row sum to 1.1).
            double machineEpsilon = typeof(T) == typeof(float) ? Math.ScaleB(1, -23) : Math.ScaleB(1, -52);
            double tolerance = (typeof(T) == typeof(float) ? 1e-5 : 1e-9) + 4 * c * machineEpsilon;
            for (int i = 0; i < rowCount; i++)
            {
                var row = y.Slice(i * c, c);
                double sum = double.CreateTruncating(TP.Sum(row));
                if (TP.Min(row) < T.Zero || Math.Abs(sum - 1) > tolerance)
                {
                    int j = TP.IndexOfMin(row);
                    if (context is null)
                    {
                        return string.Empty;
                    }

                    string why = row[j] < T.Zero ? string.Create(inv, $"holds {row[j]} at column {j}") : string.Create(inv, $"sums to {sum:G9}");
                    return string.Create(inv, $"the {what}'s targets Y must be probability rows for softmax (non-negative, summing to 1, e.g. one-hot); row {firstRow + i}{context} {why}");
                }
            }
        }
        else if (ReferenceEquals(model.Loss, Loss.BinaryCrossEntropy))
        {
            for (int k = 0; k < y.Length; k++)
            {
                if (!(y[k] >= T.Zero && y[k] <= T.One))
                {
                    return context is null ? string.Empty : string.Create(inv, $"the {what}'s targets Y must be in [0, 1] for sigmoid (0/1 labels, or probabilities); row {firstRow + (k / c)}{context}, column {k % c} holds {y[k]}");
                }
            }
        }

        return null;
    }

    private static void CheckSource<T>(Model<T> model, IDataSource<T> source, string what)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (source.Features != model.InputSize)
        {
            throw new ArgumentException($"the {what} has {source.Features} features but the model expects {model.InputSize} inputs");
        }

        if (source.Targets != model.OutputSize)
        {
            throw new ArgumentException($"the {what} has {source.Targets} target columns but the model has {model.OutputSize} outputs{WidthHint(source.Targets, model.OutputSize, model.IsClassifier, model.IsMultiLabel, ClassesOf(source))}");
        }
    }

    /// <summary>The classes a data set or a streamed source holds (0 for regression or when unknown).</summary>
    internal static int ClassesOf<T>(IDataSource<T> source)
        where T : unmanaged, IFloatingPointIeee754<T> => source switch
        {
            DataSet<T> set => set.Classes,
            StreamingDataSource<T> stream => stream.Classes,
            _ => 0,
        };

    /// <summary>Why a data set's target width may differ from the model's outputs, for the messages of Fit and Evaluate.</summary>
    internal static string WidthHint(int targets, int outputs, bool classifier, bool multiLabel, int dataClasses) => (targets, outputs) switch
    {
        _ when !classifier && dataClasses > 0 => string.Create(CultureInfo.InvariantCulture,
            $" (the data holds {dataClasses} classes, one-hot, but the model is a regression: end it with .Softmax() to classify; if the column is a real-valued target that only looks like class indices, read the CSV with CsvOptions.Regression = true)"),
        _ when !classifier => " (a regression model predicts one column per target)",
        _ when multiLabel => " (a multi-label sigmoid output has one 0/1 column per label)",
        (1, 2) => " (a binary 0/1 column: use data.ToOneHotTargets() for a 2-unit softmax, or end the model with Dense(1).Sigmoid())",
        (1, > 2) => string.Create(CultureInfo.InvariantCulture,
            $" (one target column for {outputs} classes: one-hot the labels with DataSet.FromLabels(x, labels, {outputs}); a file read on its own that holds only 2 of the classes reads as one 0/1 column, so read it with CsvOptions.Classes = {outputs} or the training set's ClassNames)"),
        ( > 1, > 1) => string.Create(CultureInfo.InvariantCulture,
            $" (one-hot targets need one column per class; a file read on its own infers its classes from the labels it holds, so read it with CsvOptions.Classes = {outputs} or the training set's ClassNames)"),
        _ => " (use one-hot targets for softmax, one 0/1 column for sigmoid)",
    };

    /// <summary>
    /// Gathers the next mini-batch on a helper thread from the point of a step where the second core has nothing to do
    /// (<see cref="Model{T}.TrainingTail"/>), into the spare buffers armed for this step.
    /// </summary>
    private sealed class TailPrefetch<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly IPrefetchingReader<T> _reader;
        private Tensor<T>? _x;
        private Tensor<T>? _y;

        public TailPrefetch(IPrefetchingReader<T> reader)
        {
            _reader = reader;
            Post = PostNext;
        }

        /// <summary>Starts the gather of the next mini-batch (the model calls it once per step).</summary>
        public Action Post { get; }

        /// <summary>Whether the next mini-batch is being gathered (then <see cref="Complete"/> gives it).</summary>
        public bool Posted { get; private set; }

        /// <summary>The buffers the next mini-batch goes into, for the step about to run.</summary>
        public void Arm(Tensor<T> x, Tensor<T> y)
        {
            _x = x;
            _y = y;
        }

        /// <summary>Waits for the gathered mini-batch; its rows (0 once the epoch is over).</summary>
        public int Complete()
        {
            Posted = false;
            _x = null;
            _y = null;
            return _reader.CompletePrefetch();
        }

        private void PostNext()
        {
            if (!Posted && _x is not null)
            {
                Posted = _reader.TryPrefetch(_x, _y!);
            }
        }
    }

    /// <summary>Reusable batch tensors and the views for the last partial batch, so steady-state steps allocate nothing.</summary>
    private sealed class BatchViews<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private Tensor<T>? _partialX;
        private Tensor<T>? _partialY;

        public Tensor<T> FullX { get; private set; } = null!;

        public Tensor<T> FullY { get; private set; } = null!;

        public void Ensure(int batchSize, int features, int targets)
        {
            if (FullX is null || FullX.RowCount != batchSize)
            {
                FullX = new Tensor<T>(batchSize, features);
                FullY = new Tensor<T>(batchSize, targets);
                _partialX = null;
                _partialY = null;
            }
        }

        public (Tensor<T> X, Tensor<T> Y) View(int rows)
        {
            if (rows == FullX.RowCount)
            {
                return (FullX, FullY);
            }

            if (_partialX is null || _partialX.RowCount != rows)
            {
                _partialX = FullX.Rows(0, rows);
                _partialY = FullY.Rows(0, rows);
            }

            return (_partialX, _partialY!);
        }
    }

    private sealed class Context<T>(Model<T> model, TrainingOptions<T> options, History history, RandomSource shuffle, IDataSource<T> train) : TrainingContext
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // The optimizer this Fit claimed and steps with, whatever options.Optimizer is later set to.
        private readonly Optimizer _optimizer = options.Optimizer;

        /// <summary>The callbacks listed when Fit started (checked and claimed then); a callback that edits options.Callbacks changes the next Fit, not this one.</summary>
        public ITrainingCallback[] Callbacks { get; } = [.. options.Callbacks];
        private readonly List<string> _pendingCheckpoints = [];

        public override History History => history;

        public override Optimizer Optimizer => _optimizer;

        internal override bool DecaysRate => options.Decay is not null;

        internal override bool NextRateUsable(double rate)
        {
            double next = options.Decay is { } decay ? decay.Rate(rate, Epoch) : rate; // Epoch epochs done: the next is index Epoch
            return double.IsFinite(next) && T.CreateTruncating(next) is var alpha && T.IsFinite(alpha) && alpha > T.Zero;
        }

        public override object Options => options;

        public override object CaptureWeights() => model.CaptureState();

        public override void RestoreWeights(object snapshot)
        {
            ArgumentNullException.ThrowIfNull(snapshot);
            model.RestoreState(snapshot as ModelState<T> ?? throw new ArgumentException($"the snapshot is a {snapshot.GetType().Name}, not weights from CaptureWeights() of a Model<{typeof(T).Name}>", nameof(snapshot)));
        }

        public override void SaveCheckpoint(string path)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(path);
            TrainingCheckpoint.Write(path, model, _optimizer, InitialLearningRate, Epoch, history, shuffle, train, Callbacks, options);
        }

        internal override void RequestCheckpoint(string path)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(path);
            if (InEpochEnd)
            {
                // Written once every callback has run this epoch: a Checkpoint listed before EarlyStopping would
                // otherwise save early stopping's state from the epoch before, and a resume would differ.
                _pendingCheckpoints.Add(path);
                return;
            }

            SaveCheckpoint(path);
        }

        /// <summary>True while the epoch's callbacks run; checkpoints asked for then wait for <see cref="WritePendingCheckpoints"/>.</summary>
        public bool InEpochEnd { get; set; }

        /// <summary>Writes the checkpoints callbacks asked for during this epoch's <see cref="ITrainingCallback.OnEpochEnd"/>.</summary>
        public void WritePendingCheckpoints()
        {
            try
            {
                foreach (string path in _pendingCheckpoints)
                {
                    TrainingCheckpoint.Write(path, model, _optimizer, InitialLearningRate, Epoch, history, shuffle, train, Callbacks, options);
                }
            }
            finally
            {
                _pendingCheckpoints.Clear();
            }
        }

        /// <summary>
        /// Between epochs: a callback may change the optimizer's rate and options.Regularization (applied from the next
        /// epoch), but not swap the optimizer itself (its state, the divergence guard's snapshot and the claim against
        /// concurrent Fits belong to the one this Fit started with).
        /// </summary>
        public void CheckSettings()
        {
            if (!ReferenceEquals(options.Optimizer, _optimizer))
            {
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                    $"options.Optimizer was replaced during Fit (after epoch {Epoch}, by a callback): {_optimizer.Describe()} holds this run's state; change its LearningRate instead, or stop and start a new Fit with {options.Optimizer?.Describe() ?? "null"}"));
            }

            if (options.Regularization is { } regularization && !ReferenceEquals(regularization, model.Regularizer))
            {
                model.Regularizer = regularization;
            }

            // Checked here, after the callbacks and before a checkpoint is written; the next epoch reads them again.
            ClassWeightsFor(model, options);
            LabelSmoothingFor(model, options);
            CheckClipping(options);
        }
    }
}
