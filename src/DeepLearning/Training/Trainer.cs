using System.Diagnostics;
using System.Globalization;
using System.Numerics;

namespace DeepLearning;

/// <summary>
/// The fit loop: for each epoch, shuffle and partition the training data into mini-batches (the last one may be
/// smaller), and for each mini-batch run forward, cost, backward and one optimizer step; then evaluate the dev set,
/// record the epoch in a <see cref="History"/>, and run the callbacks.
/// </summary>
public static class Trainer
{
    /// <summary>
    /// Trains <paramref name="model"/> on <paramref name="train"/> (an in-memory <see cref="DataSet{T}"/> or a
    /// streaming source) of raw data: the model applies its own <see cref="Model{T}.InputTransform"/> and
    /// <see cref="Model{T}.TargetTransform"/>. Returns the per-epoch and per-iteration history. A classifier learns
    /// <see cref="Model{T}.ClassNames"/> from a training <see cref="DataSet{T}"/> that has them.
    /// </summary>
    /// <remarks>
    /// The epoch cost is the mean of the mini-batch costs J{t} weighted by mini-batch size, each including the
    /// regularization term. The metric is accuracy for a classifier and RMSE in original units for a regression. The training metric is the running one of the training-mode forward passes
    /// (dropout active), like Keras's; the dev figures come from an inference-mode pass and the dev cost excludes
    /// the regularization term. A training step allocates nothing once warm.
    /// </remarks>
    /// <exception cref="ArgumentException">The data's widths do not match the model.</exception>
    /// <exception cref="TrainingDivergedException">The cost became NaN or ±∞ (the weights from the start of that epoch are restored).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (the weights are left as trained so far).</exception>
    public static History Fit<T>(this Model<T> model, IDataSource<T> train, TrainingOptions<T> options, CancellationToken cancellationToken = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        CheckSource(model, train, "training data");
        if (options.Validation is not null)
        {
            CheckSource(model, options.Validation, "validation data");
        }

        if (options.Epochs < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Epochs, $"Epochs must be ≥ 1; received {options.Epochs}");
        }

        if (options.BatchSize < 0 || (options.BatchSize == 0 && train.Count < 0))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.BatchSize, $"BatchSize must be ≥ 1 (or 0 for full batch on a source of known size); received {options.BatchSize}");
        }

        ArgumentNullException.ThrowIfNull(options.Optimizer, "options.Optimizer");

        // NaN or ∞ in the data would surface later as a "diverged" cost with the wrong advice; name the cell now.
        (train as DataSet<T>)?.EnsureFinite();
        (options.Validation as DataSet<T>)?.EnsureFinite();
        if (options.Regularization is not null)
        {
            model.Regularizer = options.Regularization;
        }

        if (train is DataSet<T> trainSet)
        {
            model.CheckRawInput(trainSet.X, "training data");
            model.ClassNames ??= model.IsClassifier && trainSet.ClassNames?.Count == model.ClassCount ? trainSet.ClassNames : null;
        }

        bool classification = model.IsClassifier;
        var history = classification ? new History("accuracy") : new History("rmse", higherIsBetter: false);
        var verbose = options.Verbose && options.Progress is null ? new ConsoleProgress(metricName: history.MetricName) : null;
        var progress = options.Progress ?? verbose;
        var context = new Context<T>(model, options, history) { InitialLearningRate = options.Optimizer.LearningRate };
        var shuffle = new RandomSource(options.Seed ?? model.Seed).Fork();
        var guardState = options.DivergenceGuard ? model.CaptureState() : null;
        var batch = new BatchViews<T>();

        foreach (var callback in options.Callbacks)
        {
            callback.OnTrainBegin(context);
        }

        try
        {
            for (int epoch = 0; epoch < options.Epochs; epoch++)
            {
                var optimizer = options.Optimizer;
                if (options.Decay is not null)
                {
                    optimizer.LearningRate = options.Decay.Rate(context.InitialLearningRate, epoch);
                }

                int bs = options.BatchSize == 0 || (train.Count > 0 && options.BatchSize > train.Count) ? (int)Math.Max(1, train.Count) : options.BatchSize;
                batch.Ensure(bs, model.InputSize, model.OutputSize);
                int batchesPerEpoch = train.Count > 0 ? (int)((train.Count + bs - 1) / bs) : -1;
                if (options.RecordIterations && batchesPerEpoch > 0)
                {
                    history.EnsureIterationCapacity(history.IterationCosts.Count + batchesPerEpoch);
                }

                if (guardState is not null)
                {
                    model.CaptureStateInto(guardState);
                }

                long start = Stopwatch.GetTimestamp();
                double costSum = 0;
                long seen = 0;
                long correct = 0;
                double squaredError = 0;
                int batchIndex = 0;
                using (var reader = train.OpenEpoch(bs, options.Shuffle ? shuffle : null))
                {
                    int rows;
                    while ((rows = reader.Next(batch.FullX, batch.FullY)) > 0)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        var (x, y) = batch.View(rows);
                        double cost = model.ComputeGradients(x, y);
                        if (!double.IsFinite(cost))
                        {
                            if (guardState is not null)
                            {
                                model.RestoreState(guardState);
                                throw new TrainingDivergedException(string.Create(CultureInfo.InvariantCulture,
                                    $"the cost became {cost} at epoch {epoch + 1}, mini-batch {batchIndex + 1} (learning rate {optimizer.LearningRate:G4}); the weights from the start of epoch {epoch + 1} were restored. Try a smaller learning rate, input normalization, or gradient-friendly initialization."))
                                { History = history };
                            }
                        }

                        optimizer.Step(model.Parameters);
                        costSum += cost * rows;
                        seen += rows;
                        batchIndex++;
                        if (classification)
                        {
                            correct += Accuracy.CountCorrect(model.LastOutput!, y);
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
                }

                if (seen == 0)
                {
                    throw new InvalidOperationException("the training data yielded no examples");
                }

                double? devCost = null, devMetric = null;
                if (options.Validation is not null)
                {
                    var eval = Evaluator<T>.Run(model, options.Validation, confusion: false);
                    devCost = eval.Cost;
                    devMetric = classification ? eval.Accuracy : eval.RootMeanSquaredError;
                }

                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                var record = history.AddEpoch(new EpochRecord(epoch + 1, costSum / seen, classification ? correct / (double)seen : Math.Sqrt(squaredError / (seen * (double)model.OutputSize)), devCost, devMetric, optimizer.LearningRate, seconds));
                context.Epoch = epoch + 1;
                foreach (var callback in options.Callbacks)
                {
                    callback.OnEpochEnd(context, record);
                }

                progress?.Report(new TrainingProgress(epoch + 1, options.Epochs, batchIndex, batchesPerEpoch, record.Cost, record));
                if (context.StopRequested)
                {
                    history.StopReason = context.StopReason;
                    break;
                }
            }
        }
        finally
        {
            foreach (var callback in options.Callbacks)
            {
                callback.OnTrainEnd(context);
            }
        }

        return history;
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

    private static void CheckSource<T>(Model<T> model, IDataSource<T> source, string what)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (source.Features != model.InputSize)
        {
            throw new ArgumentException($"the {what} has {source.Features} features but the model expects {model.InputSize} inputs");
        }

        if (source.Targets != model.OutputSize)
        {
            throw new ArgumentException($"the {what} has {source.Targets} target columns but the model has {model.OutputSize} outputs (use one-hot targets for softmax, one 0/1 column for sigmoid)");
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

    private sealed class Context<T>(Model<T> model, TrainingOptions<T> options, History history) : TrainingContext
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override History History => history;

        public override Optimizer Optimizer => options.Optimizer;

        public override object Options => options;

        public override object CaptureWeights() => model.CaptureState();

        public override void RestoreWeights(object snapshot) => model.RestoreState((ModelState<T>)snapshot);

        public override void SaveCheckpoint(string path) =>
            ModelFile.Save(model, path, options.Optimizer.ExportState(model.Parameters).ToDictionary(kv => "optimizer." + kv.Key, kv => kv.Value), new Dictionary<string, string>
            {
                ["optimizer"] = options.Optimizer.Describe(),
                ["epoch"] = Epoch.ToString(CultureInfo.InvariantCulture),
            });
    }
}
