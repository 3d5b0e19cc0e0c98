using System.Globalization;
using System.Numerics;

namespace DeepLearning;

/// <summary>
/// The fit loop's promise that training never leaves non-finite weights behind. It keeps a snapshot of the weights,
/// batch-norm statistics and optimizer state that was verified finite (at the start of training, then at the end of
/// every epoch, after its last step), and puts it back when a cost or a weight turns NaN or ±∞ or when training is
/// interrupted with broken weights. It also keeps the snapshot before that one: when the cost turns non-finite on an
/// epoch's first mini-batch, the latest snapshot's weights are the ones that produced it (finite, but e.g. 1e29), so
/// the one before is put back. The per-step cost is a double the loop has anyway; the weights are checked with one
/// vectorized sum per tensor per epoch; the two snapshots are refreshed in place by turns (no allocation once both exist).
/// </summary>
internal sealed class DivergenceGuard<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Model<T> _model;
    private readonly Optimizer _optimizer;
    private ModelState<T> _weights;
    private OptimizerSnapshot<T> _optimizerState = new();

    // The snapshot before _weights (null until the first epoch ends) and the epoch whose end it holds (0: the start).
    private ModelState<T>? _previousWeights;
    private OptimizerSnapshot<T>? _previousOptimizerState;
    private int _previousEpoch;

    public DivergenceGuard(Model<T> model, Optimizer optimizer)
    {
        _model = model;
        _optimizer = optimizer;
        if (FindNonFinite() is { } broken)
        {
            throw new InvalidOperationException($"the model's weights are not finite before training ({broken}); rebuild or reload the model");
        }

        _weights = model.CaptureState();
        optimizer.CaptureInto(model.Parameters, _optimizerState);
    }

    /// <summary>The epoch (from 1) whose end the snapshot holds, or 0 for the start of training.</summary>
    public int VerifiedEpoch { get; private set; }

    /// <summary>
    /// Describes the first NaN/±∞ in a parameter or buffer ("parameter '0.weight' holds NaN at index 3"), or in the
    /// optimizer's state for them ("optimizer state '0.weight.s' holds ∞ at index 3; …"), or null when all are finite.
    /// </summary>
    public string? FindNonFinite() => FindNonFiniteWeights() ?? _optimizer.FindInvalidState(_model.Parameters);

    private string? FindNonFiniteWeights()
    {
        foreach (var layer in _model.Layers)
        {
            foreach (var p in layer.Parameters)
            {
                int k = FiniteCheck.FirstNonFinite(p.Value.ReadOnlySpan);
                if (k >= 0)
                {
                    return string.Create(CultureInfo.InvariantCulture, $"parameter '{p.Name}' holds {p.Value.ReadOnlySpan[k]} at index {k}");
                }
            }

            foreach (var (key, buffer) in layer.Buffers)
            {
                int k = FiniteCheck.FirstNonFinite(buffer.ReadOnlySpan);
                if (k >= 0)
                {
                    return string.Create(CultureInfo.InvariantCulture, $"buffer '{layer.Name}.{key}' holds {buffer.ReadOnlySpan[k]} at index {k}");
                }
            }
        }

        return null;
    }

    /// <summary>Verifies the weights after the last step of <paramref name="epoch"/> and makes them the snapshot; on failure restores the snapshot and throws.</summary>
    public void EndEpoch(int epoch, History history)
    {
        if (FindNonFinite() is { } broken)
        {
            Restore();
            throw new TrainingDivergedException(string.Create(CultureInfo.InvariantCulture,
                $"the {(broken.StartsWith("optimizer", StringComparison.Ordinal) ? "optimizer state" : "weights")} became non-finite during epoch {epoch} ({broken}, after its last mini-batch; learning rate {_optimizer.LearningRate:G4}); {RestoredText()}. Try a smaller learning rate, input normalization, or gradient-friendly initialization."))
            { History = history };
        }

        // The latest snapshot becomes the previous one, and the previous one's storage takes this epoch's end (new storage
        // only the first time).
        ModelState<T> weights;
        if (_previousWeights is null)
        {
            weights = _model.CaptureState();
        }
        else
        {
            weights = _previousWeights;
            _model.CaptureStateInto(weights);
        }

        var optimizerState = _previousOptimizerState ?? new OptimizerSnapshot<T>();
        _optimizer.CaptureInto(_model.Parameters, optimizerState);
        (_previousWeights, _previousOptimizerState, _previousEpoch) = (_weights, _optimizerState, VerifiedEpoch);
        (_weights, _optimizerState, VerifiedEpoch) = (weights, optimizerState, epoch);
    }

    /// <summary>
    /// Restores a snapshot and throws for a non-finite cost at mini-batch <paramref name="batch"/> (from 1) of
    /// <paramref name="epoch"/>: the latest snapshot, unless this is the epoch's first mini-batch, whose cost the latest
    /// snapshot's weights produced: then the one before it (when there is one).
    /// </summary>
    public TrainingDivergedException Diverged(double cost, int epoch, int batch, History history)
    {
        string restored;
        if (batch == 1 && _previousWeights is not null && _previousOptimizerState is not null) // set together
        {
            (_weights, _previousWeights) = (_previousWeights, _weights);
            (_optimizerState, _previousOptimizerState) = (_previousOptimizerState, _optimizerState);
            int rejected = VerifiedEpoch;
            VerifiedEpoch = _previousEpoch;
            Restore();
            restored = string.Create(CultureInfo.InvariantCulture, $"{RestoredText()}, since those from the end of epoch {rejected}, though finite, gave this cost");
        }
        else
        {
            Restore();
            restored = batch == 1
                ? string.Create(CultureInfo.InvariantCulture, $"{RestoredText()}, though they gave this cost")
                : RestoredText();
        }

        return new TrainingDivergedException(string.Create(CultureInfo.InvariantCulture,
            $"the cost became {cost} at epoch {epoch}, mini-batch {batch} (learning rate {_optimizer.LearningRate:G4}); {restored}. Try a smaller learning rate, input normalization, or gradient-friendly initialization."))
        { History = history };
    }

    /// <summary>After an exception: if the weights or the optimizer state are no longer finite, puts back the snapshot.</summary>
    public void RestoreIfBroken()
    {
        if (FindNonFinite() is not null)
        {
            Restore();
        }
    }

    private string RestoredText() => VerifiedEpoch == 0
        ? "the weights from the start of training (the last verified finite) were restored"
        : string.Create(CultureInfo.InvariantCulture, $"the weights from the end of epoch {VerifiedEpoch} (the last verified finite) were restored");

    private void Restore()
    {
        _model.RestoreState(_weights);
        _optimizer.RestoreFrom(_model.Parameters, _optimizerState);
    }
}
