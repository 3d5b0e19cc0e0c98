using System.Globalization;
using System.Numerics;

namespace DeepLearning;

/// <summary>
/// The fit loop's promise that training never leaves non-finite weights behind. It keeps one snapshot of the weights,
/// batch-norm statistics and optimizer state that was verified finite (at the start of training, then at the end of
/// every epoch, after its last step), and puts it back when a cost or a weight turns NaN or ±∞ or when training is
/// interrupted with broken weights. The per-step cost is a double the loop has anyway; the weights are checked with
/// one vectorized sum per tensor per epoch; the snapshot is refreshed in place once per epoch (no allocation).
/// </summary>
internal sealed class DivergenceGuard<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Model<T> _model;
    private readonly Optimizer _optimizer;
    private readonly ModelState<T> _weights;
    private readonly OptimizerSnapshot<T> _optimizerState = new();

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

        _model.CaptureStateInto(_weights);
        _optimizer.CaptureInto(_model.Parameters, _optimizerState);
        VerifiedEpoch = epoch;
    }

    /// <summary>Restores the snapshot and throws for a non-finite cost.</summary>
    public TrainingDivergedException Diverged(double cost, int epoch, int batch, History history)
    {
        Restore();
        return new TrainingDivergedException(string.Create(CultureInfo.InvariantCulture,
            $"the cost became {cost} at epoch {epoch}, mini-batch {batch} (learning rate {_optimizer.LearningRate:G4}); {RestoredText()}. Try a smaller learning rate, input normalization, or gradient-friendly initialization."))
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
