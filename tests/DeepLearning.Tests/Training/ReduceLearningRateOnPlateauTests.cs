using DeepLearning.Kernels;

namespace DeepLearning.Tests.Training;

/// <summary>
/// ReduceLearningRateOnPlateau lowers the rate at the epochs PyTorch's ReduceLROnPlateau does (threshold_mode "abs",
/// patience one less), scales α0 under a decay, keeps to its floor, and resumes from a checkpoint exactly.
/// </summary>
public sealed class ReduceLearningRateOnPlateauTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-plateau-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // A scripted training cost per epoch.
    private static readonly double[] _costs = [1.0, 0.9, 0.9, 0.9, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.7, 0.7, 0.7, 0.7];

    /// <summary>The epochs after which the rate changed, and the rates, for the scripted costs.</summary>
    private static (int[] Epochs, double[] Rates) Run(ReduceLearningRateOnPlateau callback, double[] costs, bool decay = false, double rate = 1.0)
    {
        var context = new FakeContext(History.ForModel(classification: true), rate, decay);
        callback.OnTrainBegin(context);
        var rates = new List<double>();
        for (int e = 0; e < costs.Length; e++)
        {
            context.Step(new EpochRecord(e + 1, costs[e], 0.5, null, null, context.Optimizer.LearningRate, 0));
            callback.OnEpochEnd(context, context.History.Last!);
            rates.Add(decay ? context.InitialLearningRate : context.Optimizer.LearningRate);
        }

        return (callback.Reductions.ToArray(), rates.ToArray());
    }

    [Fact]
    public void Lowers_the_rate_at_the_epochs_PyTorch_does_with_patience_one_less()
    {
        // torch.optim.lr_scheduler.ReduceLROnPlateau(mode="min", factor=0.5, patience=1, threshold=0.01,
        // threshold_mode="abs", cooldown=c) on these costs (PyTorch 1.13): c = 0 → [4, 7, 9, 13], c = 1 → [4, 7, 10, 13].
        var (epochs, rates) = Run(new ReduceLearningRateOnPlateau(factor: 0.5, patience: 2, minDelta: 0.01), _costs);
        epochs.Should().Equal(4, 7, 9, 13);
        rates.Should().Equal(1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.125, 0.125, 0.0625, 0.0625);

        Run(new ReduceLearningRateOnPlateau(factor: 0.5, patience: 2, minDelta: 0.01, cooldown: 1), _costs).Epochs.Should().Equal(4, 7, 10, 13);

        // A larger minDelta makes 0.9 → 0.85 no improvement either.
        Run(new ReduceLearningRateOnPlateau(factor: 0.5, patience: 2, minDelta: 0.06), _costs).Epochs.Should().Equal(4, 6, 8, 10, 13);
    }

    [Fact]
    public void Watches_accuracy_as_higher_is_better_and_never_improves_on_NaN()
    {
        var context = new FakeContext(History.ForModel(classification: true), 0.1, decay: false);
        var callback = new ReduceLearningRateOnPlateau(factor: 0.1, patience: 2, monitor: EarlyStoppingMonitor.DevMetric, minDelta: 0);
        callback.OnTrainBegin(context);
        double?[] accuracies = [0.5, 0.6, 0.6, double.NaN, 0.7];
        for (int e = 0; e < accuracies.Length; e++)
        {
            context.Step(new EpochRecord(e + 1, 1.0, 0.5, 1.0, accuracies[e], context.Optimizer.LearningRate, 0));
            callback.OnEpochEnd(context, context.History.Last!);
        }

        callback.Reductions.Should().Equal(4);
        context.Optimizer.LearningRate.Should().BeApproximately(0.01, 1e-15);
    }

    [Fact]
    public void Stops_at_the_floor_and_skips_a_rate_the_element_type_cannot_hold()
    {
        var (epochs, rates) = Run(new ReduceLearningRateOnPlateau(factor: 0.5, patience: 1, minDelta: 0.01, minLearningRate: 0.3), _costs);
        epochs.Should().Equal(3, 4);
        rates[^1].Should().Be(0.3);

        // In float, 2e-45 · 0.1 rounds to 0: the rate stays at the last one float holds.
        var context = new FakeContext(History.ForModel(classification: true), 2e-45, decay: false, elementIsFloat: true);
        var callback = new ReduceLearningRateOnPlateau(factor: 0.1, patience: 1, epsilon: 0);
        callback.OnTrainBegin(context);
        for (int e = 0; e < 4; e++)
        {
            context.Step(new EpochRecord(e + 1, 1.0, 0.5, null, null, context.Optimizer.LearningRate, 0));
            callback.OnEpochEnd(context, context.History.Last!);
        }

        context.Optimizer.LearningRate.Should().Be(2e-45);
        callback.Reductions.Should().BeEmpty();
    }

    [Fact]
    public void A_reduction_of_epsilon_or_less_is_skipped_as_PyTorch_skips_one_of_eps_or_less()
    {
        // torch.optim.lr_scheduler.ReduceLROnPlateau(factor=0.1, patience=0, eps=1e-8) from lr 1e-5: 1e-6, 1e-7, 1e-8,
        // then 1e-9 (a step of 9e-9 ≤ eps) is skipped.
        var (epochs, rates) = Run(new ReduceLearningRateOnPlateau(factor: 0.1, patience: 1, minDelta: 1), [1, 1, 1, 1, 1, 1], rate: 1e-5);
        epochs.Should().Equal(2, 3, 4);
        rates[^1].Should().BeApproximately(1e-8, 1e-22);
    }

    [Fact]
    public void Under_a_decay_it_scales_alpha0_and_Fit_records_the_decayed_rates()
    {
        var (_, rates) = Run(new ReduceLearningRateOnPlateau(factor: 0.5, patience: 2, minDelta: 0.01), _costs, decay: true, rate: 0.2);
        rates[3].Should().Be(0.1);

        // Through Fit: every epoch is "no improvement" after the first (minDelta huge), patience 1 → α0 halves after each
        // epoch from epoch 2 on, and the rate recorded for epoch e is α0 / (1 + (e − 1)) with the α0 of that epoch.
        var data = ResumeTests.Images(60, seed: 3);
        var options = new TrainingOptions<float>
        {
            Optimizer = new Adam(0.04),
            Decay = LearningRateDecay.InverseTime(1),
            Epochs = 4,
            BatchSize = 30,
        };
        var plateau = new ReduceLearningRateOnPlateau(factor: 0.5, patience: 1, minDelta: 1e9);
        options.Callbacks.Add(plateau);
        var history = ResumeTests.NewModel(seed: 1).Fit(data, options);
        history.Epochs.Select(e => e.LearningRate).Should().Equal(0.04, 0.04 / 2, 0.02 / 3, 0.01 / 4);
        plateau.Reductions.Should().Equal(2, 3, 4);
        options.Optimizer.LearningRate.Should().Be(0.04, "Fit puts the rate back when it ends");
    }

    [Fact]
    public void Under_a_decay_a_reduction_whose_next_decayed_rate_float_cannot_hold_is_skipped_and_Fit_goes_on()
    {
        // α0 falls by 100 each epoch; InverseTime(1) divides it by the epoch again: the decayed rate reaches float's
        // smallest long before α0 does. The reduction that would make it 0 is skipped (Fit threw mid-run).
        var data = ResumeTests.Images(30, seed: 3);
        var options = new TrainingOptions<float> { Optimizer = new GradientDescent(0.1), Decay = LearningRateDecay.InverseTime(1), Epochs = 30, BatchSize = 30 };
        var plateau = new ReduceLearningRateOnPlateau(factor: 0.01, patience: 1, minDelta: 1e6);
        options.Callbacks.Add(plateau);
        var history = ResumeTests.NewModel(seed: 1).Fit(data, options);
        history.Count.Should().Be(30);
        history.Epochs.Should().OnlyContain(e => (float)e.LearningRate > 0);
        plateau.Reductions.Should().Equal(2, 3, 4, 5);

        // With no epsilon, α0 falls until the next epoch's decayed rate would round to 0 in float, and stops there.
        options.Callbacks[0] = plateau = new ReduceLearningRateOnPlateau(factor: 0.01, patience: 1, minDelta: 1e6, epsilon: 0);
        history = ResumeTests.NewModel(seed: 1).Fit(data, options);
        history.Count.Should().Be(30);
        plateau.Reductions.Count.Should().BeLessThan(29);
    }

    [Fact]
    public void Without_a_decay_Fit_trains_the_next_epochs_with_the_lowered_rate()
    {
        var data = ResumeTests.Images(60, seed: 3);
        var options = new TrainingOptions<float> { Optimizer = new Momentum(0.1), Epochs = 4, BatchSize = 30 };
        options.Callbacks.Add(new ReduceLearningRateOnPlateau(factor: 0.25, patience: 2, minDelta: 1e9));
        var history = ResumeTests.NewModel(seed: 1).Fit(data, options);
        history.Epochs.Select(e => e.LearningRate).Should().Equal(0.1, 0.1, 0.1, 0.025);
    }

    [Fact]
    public void A_dev_figure_without_a_dev_set_is_refused()
    {
        var options = new TrainingOptions<float> { Epochs = 1 };
        options.Callbacks.Add(new ReduceLearningRateOnPlateau(monitor: EarlyStoppingMonitor.DevCost));
        var act = () => ResumeTests.NewModel(seed: 1).Fit(ResumeTests.Images(20, seed: 3), options);
        act.Should().Throw<ArgumentException>().WithMessage("ReduceLearningRateOnPlateau watches DevCost but TrainingOptions.Validation is not set*");
    }

    [Theory]
    [InlineData(0.0, 1, 0, 0, 0, "factor")]
    [InlineData(1.0, 1, 0, 0, 0, "factor")]
    [InlineData(double.NaN, 1, 0, 0, 0, "factor")]
    [InlineData(0.5, 0, 0, 0, 0, "patience")]
    [InlineData(0.5, 1, -1, 0, 0, "minDelta")]
    [InlineData(0.5, 1, double.PositiveInfinity, 0, 0, "minDelta")]
    [InlineData(0.5, 1, 0, -1, 0, "cooldown")]
    [InlineData(0.5, 1, 0, 0, -1e-9, "minLearningRate")]
    [InlineData(0.5, 1, 0, 0, double.NaN, "minLearningRate")]
    [InlineData(0.5, 1, 0, 0, 0, "epsilon", -1.0)]
    [InlineData(0.5, 1, 0, 0, 0, "epsilon", double.NaN)]
    public void Settings_outside_their_range_are_refused_by_name(double factor, int patience, double minDelta, int cooldown, double minRate, string name, double epsilon = 1e-8)
    {
        var act = () => new ReduceLearningRateOnPlateau(factor, patience, EarlyStoppingMonitor.Auto, minDelta, cooldown, minRate, epsilon);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == name).WithMessage($"{name} must be*received*");
    }

    [Fact]
    public void A_resumed_run_lowers_the_rate_at_the_same_epochs_and_ends_with_the_same_weights()
    {
        Gemm.ThreadsOverride = 1;
        try
        {
            var data = ResumeTests.Images(90, seed: 4);
            var dev = ResumeTests.Images(30, seed: 5);
            TrainingOptions<float> Options(int epochs)
            {
                var options = new TrainingOptions<float> { Optimizer = new Adam(0.05), Epochs = epochs, BatchSize = 30, Validation = dev };
                options.Callbacks.Add(new ReduceLearningRateOnPlateau(factor: 0.5, patience: 2, minDelta: 0.05, cooldown: 1));
                return options;
            }

            var whole = ResumeTests.NewModel(seed: 2);
            var expected = whole.Fit(data, Options(8));

            string path = Path.Combine(_dir, "plateau.ckpt");
            var first = Options(5);
            first.Checkpoint = new CheckpointOptions(path);
            ResumeTests.NewModel(seed: 2).Fit(data, first);

            var rest = Options(8);
            rest.ResumeFrom = path;
            var resumed = ResumeTests.NewModel(seed: 9);
            resumed.Fit(data, rest).SameValuesAs(expected).Should().BeTrue();
            resumed.CaptureState().Tensors.Zip(whole.CaptureState().Tensors).Should().OnlyContain(p => p.First.Equals(p.Second));
            expected.Epochs.Select(e => e.LearningRate).Distinct().Count().Should().BeGreaterThan(1, "the test is about a run whose rate was lowered");

            // Another monitor, or an edited state, is refused naming it.
            var other = Options(8);
            other.Callbacks[0] = new ReduceLearningRateOnPlateau(monitor: EarlyStoppingMonitor.TrainCost);
            other.ResumeFrom = path;
            var act = () => ResumeTests.NewModel(seed: 9).Fit(data, other);
            act.Should().Throw<InvalidDataException>().WithMessage("*the checkpoint's ReduceLearningRateOnPlateau watched Auto, but this one watches TrainCost*");

            string edited = Path.Combine(_dir, "edited.ckpt");
            var file = ModelFile.Read<float>(path);
            var metadata = file.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
            metadata["callback.0.state"] = "0 0 3ff0000000000000 Auto dev%20cost"; // best 1.0, recorded by no epoch
            ModelFile.Write(edited, file.Tensors.Select(kv => (kv.Key, kv.Value)).ToList(), metadata);
            rest.ResumeFrom = edited;
            act = () => ResumeTests.NewModel(seed: 9).Fit(data, rest);
            act.Should().Throw<InvalidDataException>().WithMessage("*best value 1 is not a dev cost any epoch of the history recorded*");
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }
    }

    private sealed class FakeContext : TrainingContext
    {
        private readonly History _history;
        private readonly bool _decay;
        private readonly bool _float;

        public FakeContext(History history, double rate, bool decay, bool elementIsFloat = false)
        {
            _history = history;
            _decay = decay;
            _float = elementIsFloat;
            Optimizer = new GradientDescent(rate);
            InitialLearningRate = rate;
        }

        public override History History => _history;

        public override Optimizer Optimizer { get; }

        public override object Options => new object();

        internal override bool DecaysRate => _decay;

        internal override bool NextRateUsable(double rate) => _float ? (float)rate > 0 : rate > 0;

        public void Step(EpochRecord record)
        {
            _history.AddEpoch(record);
            Epoch = record.Epoch;
        }

        public override object CaptureWeights() => Epoch;

        public override void RestoreWeights(object snapshot)
        {
        }

        public override void SaveCheckpoint(string path)
        {
        }
    }
}
