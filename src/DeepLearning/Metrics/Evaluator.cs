using System.Globalization;
using System.Numerics;

namespace DeepLearning;

/// <summary>
/// Accumulates an <see cref="Evaluation"/> chunk by chunk over raw inputs and targets (the model applies its input
/// and target transforms): the loss, accuracy and confusion matrix for a classifier (a multi-label one: per-cell
/// accuracy, no matrix); squared and absolute errors and the target spread for a regression (in original units).
/// </summary>
internal sealed class Evaluator<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int Chunk = 1024;
    private readonly Model<T> _model;
    private readonly ConfusionMatrix? _matrix;
    private readonly int _c;
    private readonly double[] _sse;
    private readonly double[] _sae;
    private readonly double[] _shift;
    private readonly double[] _sum;
    private readonly double[] _sumSq;
    private Model<T>.InferenceBuffers? _buffers; // the model's reusable chunk buffers, or null: new tensors per chunk
    private double _costSum;
    private long _seen;
    private long _correct;
    private long _nonFinite;

    public Evaluator(Model<T> model, bool confusion)
    {
        _model = model;
        _c = model.OutputSize;
        if (model.IsClassifier && !model.IsMultiLabel && confusion && model.ClassCount <= Evaluation.MaxConfusionMatrixClasses)
        {
            _matrix = new ConfusionMatrix(model.ClassCount) { ClassNames = model.ClassNames };
        }

        int r = model.IsClassifier ? 0 : _c;
        (_sse, _sae, _shift, _sum, _sumSq) = (new double[r], new double[r], new double[r], new double[r], new double[r]);
    }

    /// <summary>
    /// Evaluates a whole labelled source, read in order in chunks of up to 1,024 rows (fewer when a layer is so wide that
    /// 1,024 rows of it would exceed <see cref="Model{T}.InferenceChunkElements"/>). With <paramref name="checkTargets"/>,
    /// an in-memory set's Y must first be finite and suit the loss (Fit checks its validation data itself, once).
    /// <paramref name="checkRawInput"/> false skips the test for already-standardized input (Fit's dev set after its
    /// first epoch: the same data again).
    /// </summary>
    public static Evaluation Run(Model<T> model, IDataSource<T> data, bool confusion, string what = "evaluation data", bool checkTargets = false, bool checkRawInput = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        Model<T>.RefuseAugmented(data, what, nameof(data));
        Model<T>.CheckClassNames(model.ClassNames, "model", data, what); // before the widths: names say why they differ
        if (data.Features != model.InputSize)
        {
            throw new ArgumentException($"the {what} has {data.Features} features but the model expects {model.InputSize} inputs", nameof(data));
        }

        if (data.Targets != model.OutputSize)
        {
            throw new ArgumentException($"the {what} has {data.Targets} target columns but the model has {model.OutputSize} outputs{Trainer.WidthHint(data.Targets, model.OutputSize, model.IsClassifier, model.IsMultiLabel, Trainer.ClassesOf(data))}", nameof(data));
        }

        if (data is DataSet<T> set)
        {
            if (checkTargets)
            {
                FiniteCheck.RequireFinite(set.Y, "Y");
                Trainer.CheckTargets(model, set.Y, what, nameof(data));
            }

            if (checkRawInput)
            {
                model.CheckRawInput(set.X, what);
            }
        }

        int chunk = model.RowsPerChunk(Chunk); // fewer rows for a layer wider than 65,536 units
        int bs = data.Count > 0 ? (int)Math.Min(chunk, data.Count) : chunk;
        var buffers = model.TakeInferenceBuffers();
        try
        {
            var evaluator = new Evaluator<T>(model, confusion) { _buffers = buffers };
            var x = new Tensor<T>(bs, model.InputSize);
            var y = new Tensor<T>(bs, model.OutputSize);
            using var reader = data.OpenEpoch(bs, null);
            int rows;
            long seen = 0;
            while ((rows = reader.Next(x, y)) > 0)
            {
                if (!FiniteCheck.AllFinite(x, y, rows))
                {
                    long first = seen;
                    FiniteCheck.Batch(x, y, rows, "the " + what, r => string.Create(CultureInfo.InvariantCulture, $"at row {first + r}"));
                }

                if (data is not DataSet<T> && model.Loss.IsClassification)
                {
                    // Streamed targets, checked as an in-memory set's are (softmax rows, sigmoid values in [0, 1]).
                    if (!Trainer.StreamedTargetsValid(model, y, rows))
                    {
                        throw Trainer.BadStreamedTargets(model, y, rows, what, seen, string.Empty);
                    }
                }

                seen += rows;
                evaluator.Add(rows == bs ? x : x.Rows(0, rows), rows == bs ? y : y.Rows(0, rows));
            }

            return evaluator.Result();
        }
        finally
        {
            model.ReturnInferenceBuffers(buffers);
        }
    }

    /// <summary>
    /// Evaluates checked raw X and Y in the chunks <see cref="Run(Model{T}, IDataSource{T}, bool, string, bool, bool)"/> reads
    /// (so the two give the same figures to the bit), through the model's reused buffers.
    /// </summary>
    public static Evaluation Run(Model<T> model, Tensor<T> x, Tensor<T> y)
    {
        int m = x.RowCount;
        var buffers = model.TakeInferenceBuffers();
        try
        {
            var evaluator = new Evaluator<T>(model, confusion: true) { _buffers = buffers };
            int chunk = model.RowsPerChunk(Chunk);
            for (int start = 0; start < m; start += chunk)
            {
                int rows = Math.Min(chunk, m - start);
                evaluator.Add(rows == m ? x : x.Rows(start, rows), rows == m ? y : y.Rows(start, rows));
            }

            return evaluator.Result();
        }
        finally
        {
            model.ReturnInferenceBuffers(buffers);
        }
    }

    /// <summary>Adds a chunk of raw X (rows, n_x) and Y (rows, C).</summary>
    public void Add(Tensor<T> x, Tensor<T> y)
    {
        int rows = x.RowCount;
        if (rows == 0)
        {
            return;
        }

        var (logits, output) = _model.InferLogitsAndOutput(x, _buffers);
        _costSum += _model.Loss.Cost(logits, _model.TransformTargets(y)) * rows;
        _seen += rows;

        // One or two vectorized sums per chunk; only an output that overflowed is scanned row by row. A row with NaN or
        // ±∞ in its output, or in the output layer's logits (a sigmoid gives an exact 0 for −∞), has no class (the argmax
        // of a NaN row is 0, NaN > 0.5 is false): it counts as wrong, never as the class a NaN happens to select, and is
        // counted in NonFiniteOutputCount.
        bool finite = FiniteCheck.FirstNonFinite(output.ReadOnlySpan) < 0 && (ReferenceEquals(logits, output) || FiniteCheck.FirstNonFinite(logits.ReadOnlySpan) < 0);
        if (!finite)
        {
            for (int i = 0; i < rows; i++)
            {
                _nonFinite += RowFinite(logits, output, i) ? 0 : 1;
            }
        }

        if (_model.IsMultiLabel)
        {
            _correct += Accuracy.CountCorrectLabels(output, y, 0.5);
            if (!finite)
            {
                for (int i = 0; i < rows; i++)
                {
                    if (!RowFinite(logits, output, i))
                    {
                        _correct -= Accuracy.CountCorrectLabels(output.Rows(i, 1), y.Rows(i, 1), 0.5); // all its cells wrong
                    }
                }
            }

            return;
        }

        if (_model.IsClassifier)
        {
            _correct += Accuracy.CountCorrect(output, y, 0.5, probabilityTargets: true);
            if (!finite)
            {
                for (int i = 0; i < rows; i++)
                {
                    if (!RowFinite(logits, output, i))
                    {
                        _correct -= Accuracy.CountCorrect(output.Rows(i, 1), y.Rows(i, 1), 0.5, probabilityTargets: true);
                    }
                }
            }

            if (_matrix is not null)
            {
                var predicted = Predictions.ToLabelsAllowingNonFinite(output);
                var actual = Predictions.ToLabelsAllowingNonFinite(y);
                for (int i = 0; i < rows; i++)
                {
                    if (finite || RowFinite(logits, output, i))
                    {
                        _matrix.Add(actual[i], predicted[i]);
                    }
                    else
                    {
                        _matrix.AddUnclassified(actual[i]);
                    }
                }
            }

            return;
        }

        // The output tensor is ours (a new one, or the evaluation's buffer), so undo the target transform in place.
        _model.TargetTransform?.InvertInPlace(output);
        var p = output.ReadOnlySpan;
        var t = y.ReadOnlySpan;
        bool first = _seen == rows;
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < _c; j++)
            {
                double yv = double.CreateTruncating(t[(i * _c) + j]);
                double d = double.CreateTruncating(p[(i * _c) + j]) - yv;
                if (first && i == 0)
                {
                    _shift[j] = yv; // shifted sums keep Σ(y − ȳ)² free of cancellation
                }

                _sse[j] += d * d;
                _sae[j] += Math.Abs(d);
                double s = yv - _shift[j];
                _sum[j] += s;
                _sumSq[j] += s * s;
            }
        }
    }

    // Whether a row of the output and of the logits is free of NaN and ±∞.
    private static bool RowFinite(Tensor<T> logits, Tensor<T> output, int row)
    {
        int n = output.RowLength, z = logits.RowLength;
        return FiniteCheck.FirstNonFinite(output.ReadOnlySpan.Slice(row * n, n)) < 0
            && FiniteCheck.FirstNonFinite(logits.ReadOnlySpan.Slice(row * z, z)) < 0;
    }

    public Evaluation Result()
    {
        // No examples, no figures: NaN, never a 0 that reads as a perfect cost or MSE.
        double cost = _seen == 0 ? double.NaN : _costSum / _seen;
        if (_model.IsClassifier)
        {
            // A multi-label model's accuracy is over the m·C cells (Keras's binary_accuracy), not over the m rows.
            long scored = _model.IsMultiLabel ? _seen * _c : _seen;
            return new Evaluation(cost, _seen > 0 ? _correct / (double)scored : null, _seen, _matrix) { MultiLabelCount = _model.IsMultiLabel ? _c : null, NonFiniteOutputCount = _nonFinite };
        }

        double n = Math.Max(1, _seen);
        double r2 = 0;
        for (int j = 0; j < _c; j++)
        {
            double ssTot = _sumSq[j] - (_sum[j] * _sum[j] / n);
            r2 += ssTot > 0 ? 1 - (_sse[j] / ssTot) : _sse[j] == 0 ? 1 : 0;
        }

        return new Evaluation(cost, null, _seen, null)
        {
            NonFiniteOutputCount = _nonFinite,
            MeanSquaredError = _seen == 0 ? double.NaN : _sse.Sum() / (n * _c),
            MeanAbsoluteError = _seen == 0 ? double.NaN : _sae.Sum() / (n * _c),
            RSquared = _seen < 2 ? double.NaN : r2 / _c, // one example has no variance to explain (scikit-learn: nan)
        };
    }
}
