namespace DeepLearning.Tests.Training;

/// <summary>Issue 12.3: early stopping watches the dev cost by default, and the history names it and agrees on the best epoch.</summary>
public class EarlyStoppingDefaultsTests
{
    [Fact]
    public void By_default_the_dev_cost_decides_even_when_the_dev_accuracy_still_rises()
    {
        var context = new FakeContext(new History());
        var stopper = new EarlyStopping(patience: 2);
        stopper.Monitor.Should().Be(EarlyStoppingMonitor.Auto);
        stopper.OnTrainBegin(context);
        // Dev cost is best at epoch 2; dev accuracy keeps rising (a small dev set can do this).
        double[] devCost = [0.5, 0.3, 0.4, 0.45, 0.6];
        double[] devAccuracy = [0.80, 0.85, 0.86, 0.87, 0.88];
        for (int e = 0; e < devCost.Length && !context.StopRequested; e++)
        {
            context.Step(new EpochRecord(e + 1, 0.1, 0.9, devCost[e], devAccuracy[e], 0.01, 0));
            stopper.OnEpochEnd(context, context.History.Last!);
        }

        stopper.OnTrainEnd(context);
        context.StopRequested.Should().BeTrue();
        context.Epoch.Should().Be(4);
        stopper.BestEpoch.Should().Be(2);
        context.Restored.Should().Be(2, "the weights captured at the best epoch are put back");
        context.History.Monitor.Should().Be("dev cost");
        context.History.BestEpoch!.Epoch.Should().Be(2);
    }

    [Fact]
    public void Without_a_dev_set_the_training_cost_is_watched_and_min_delta_choices_are_what_the_history_reports()
    {
        var context = new FakeContext(new History("rmse", higherIsBetter: false));
        var stopper = new EarlyStopping(patience: 2, minDelta: 0.05);
        stopper.OnTrainBegin(context);
        double[] cost = [1.0, 0.9, 0.88, 0.87, 0.86];
        for (int e = 0; e < cost.Length && !context.StopRequested; e++)
        {
            context.Step(new EpochRecord(e + 1, cost[e], null, null, null, 0.01, 0));
            stopper.OnEpochEnd(context, context.History.Last!);
        }

        stopper.OnTrainEnd(context);
        // 0.88 and 0.87 are lower than 0.9 but not by more than minDelta: epoch 2 stays the best.
        stopper.BestEpoch.Should().Be(2);
        context.History.Monitor.Should().Be("cost");
        context.History.BestEpoch!.Epoch.Should().Be(2, "BestEpoch is the epoch restored, not the plain minimum (epoch 4)");
        context.Restored.Should().Be(2);
    }

    [Fact]
    public void Regression_with_a_dev_set_stops_on_the_dev_cost_and_restores_the_best_epoch()
    {
        // Few noisy examples and a wide network: the dev cost turns up while the training cost keeps falling.
        var random = new RandomSource(21);
        var x = new Tensor<float>(60, 5);
        var y = new Tensor<float>(60, 1);
        random.FillNormal(x.Span);
        for (int i = 0; i < 60; i++)
        {
            y[i, 0] = (float)(x[i, 0] + (0.8 * random.NextGaussian()));
        }

        var all = DataSet.FromTargets(x, y);
        var (train, dev) = (all.Take(30), all.Slice(30, 30));
        var model = Model.Sequential<float>(5).Dense(128).ReLU().Dense(128).ReLU().Dense(1).Build(seed: 4);
        var stopper = new EarlyStopping(patience: 5);
        var history = model.Fit(train, new TrainingOptions<float> { Optimizer = new Adam(0.01), Epochs = 300, BatchSize = 30, Validation = dev, Callbacks = { stopper } });

        history.Count.Should().BeLessThan(300, "the dev cost stops improving long before 300 epochs");
        history.MetricName.Should().Be("rmse");
        history.Monitor.Should().Be("dev cost");
        history.BestEpoch!.Epoch.Should().Be(stopper.BestEpoch);
        var best = history.BestEpoch;
        best.DevCost.Should().Be(history.Epochs.Min(e => e.DevCost));
        model.Evaluate(dev).Cost.Should().BeApproximately(best.DevCost!.Value, 1e-6, "the best epoch's weights were restored");
        model.Evaluate(dev).RootMeanSquaredError.Should().BeApproximately(best.DevMetric!.Value, 1e-5);
        best.TrainMetric.Should().NotBeNull("regression records a training RMSE");
    }

    [Theory]
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(double.NaN, "NaN")]
    [InlineData(-0.1, "-0.1")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    public void A_min_delta_that_is_not_a_finite_non_negative_number_is_refused_echoing_it(double minDelta, string echoed)
    {
        var act = () => new EarlyStopping(minDelta: minDelta);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "minDelta").WithMessage($"minDelta must be finite and ≥ 0; received {echoed}*");
    }

    [Fact]
    public void Patience_below_one_and_an_undefined_monitor_are_refused_echoing_them()
    {
        var act = () => new EarlyStopping(patience: 0);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "patience").WithMessage("patience must be ≥ 1; received 0*");
        act = () => new EarlyStopping(monitor: (EarlyStoppingMonitor)7);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "monitor").WithMessage("monitor must be one of DevMetric, DevCost, Auto, TrainCost; received 7*");
        new EarlyStopping(minDelta: 0).MinDelta.Should().Be(0);
        new EarlyStopping(minDelta: 1e300).MinDelta.Should().Be(1e300);
    }

    private sealed class FakeContext(History history) : TrainingContext
    {
        private int _captured;

        public int? Restored { get; private set; }

        public override History History => history;

        public override Optimizer Optimizer { get; } = new GradientDescent(0.01);

        public override object Options => new object();

        public void Step(EpochRecord record)
        {
            history.AddEpoch(record);
            Epoch = record.Epoch;
        }

        public override object CaptureWeights() => _captured = Epoch;

        public override void RestoreWeights(object snapshot) => Restored = (int)snapshot;

        public override void SaveCheckpoint(string path)
        {
        }
    }
}
