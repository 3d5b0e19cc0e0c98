namespace DeepLearning;

/// <summary>One epoch of training, as the fit loop recorded it.</summary>
/// <param name="Epoch">The epoch number: 1-based in histories recorded by the fit loop (the first epoch is 1); <see cref="History.AddEpoch(double, double?, double?, double?, double, double)"/> numbers a hand-built history from 0.</param>
/// <param name="Cost">The training cost J over the epoch, including the regularization term (λ/2m)·Σ‖W‖²: the mean of the epoch's mini-batch costs weighted by their rows (a last, smaller mini-batch counts for its rows); NaN or ∞ when training diverged.</param>
/// <param name="TrainMetric">The metric on the training set (accuracy for a classifier, per cell for a multi-label sigmoid output as <see cref="Model{T}.IsMultiLabel"/> describes; RMSE in original units for a regression; see <see cref="History.MetricName"/>), if measured.</param>
/// <param name="DevCost">The cost on the dev set (inference mode, without the regularization term), if there is one.</param>
/// <param name="DevMetric">The metric on the dev set, if there is one.</param>
/// <param name="LearningRate">The learning rate α used during the epoch.</param>
/// <param name="Seconds">Wall-clock seconds the epoch took.</param>
public sealed record EpochRecord(
    int Epoch,
    double Cost,
    double? TrainMetric,
    double? DevCost,
    double? DevMetric,
    double LearningRate,
    double Seconds);
