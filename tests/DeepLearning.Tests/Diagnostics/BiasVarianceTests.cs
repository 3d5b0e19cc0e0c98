
namespace DeepLearning.Tests.Diagnostics;

/// <summary>The course's bias/variance examples (lectures "Bias/Variance" and "Avoidable bias" / "Understanding human-level performance").</summary>
public class BiasVarianceTests
{
    [Theory]
    [InlineData(0.01, 0.11, 0.0, BiasVarianceCase.HighVariance)] // train 1%, dev 11%
    [InlineData(0.15, 0.16, 0.0, BiasVarianceCase.HighBias)] // train 15%, dev 16%
    [InlineData(0.15, 0.30, 0.0, BiasVarianceCase.HighBiasAndHighVariance)] // train 15%, dev 30%
    [InlineData(0.005, 0.01, 0.0, BiasVarianceCase.Fine)] // train 0.5%, dev 1%
    [InlineData(0.08, 0.10, 0.01, BiasVarianceCase.HighBias)] // human 1%: avoidable bias 7% vs variance 2% → focus on bias
    [InlineData(0.08, 0.10, 0.075, BiasVarianceCase.HighVariance)] // human 7.5%: avoidable bias 0.5% vs variance 2% → focus on variance
    [InlineData(0.05, 0.06, 0.005, BiasVarianceCase.HighBias)] // medical imaging, Bayes ≤ 0.5%: 4.5% vs 1%
    [InlineData(0.01, 0.05, 0.005, BiasVarianceCase.HighVariance)] // 0.5% vs 4%
    [InlineData(0.007, 0.008, 0.005, BiasVarianceCase.Fine)] // 0.2% vs 0.1%: near Bayes, progress gets hard
    public void Course_examples(double train, double dev, double human, BiasVarianceCase expected)
    {
        var report = BiasVariance.Diagnose(train, dev, human);
        report.Case.Should().Be(expected);
        report.AvoidableBias.Should().BeApproximately(train - human, 1e-15);
        report.Variance.Should().BeApproximately(dev - train, 1e-15);
    }

    [Fact]
    public void Human_level_error_changes_what_to_focus_on()
    {
        var humans = BiasVariance.Diagnose(0.08, 0.10, humanError: 0.01);
        humans.Focus.Should().Be("bias");
        humans.IsBiasHigh.Should().BeTrue();
        humans.IsVarianceHigh.Should().BeTrue("2% exceeds the 1.5% threshold, but 7% dominates it");
        humans.Remedies[0].Should().StartWith("bigger network");

        var blurry = BiasVariance.Diagnose(0.08, 0.10, humanError: 0.075);
        blurry.Focus.Should().Be("variance");
        blurry.Remedies.Should().Contain(r => r.StartsWith("more training data", StringComparison.Ordinal));
        blurry.Remedies.Should().Contain(r => r.StartsWith("regularization", StringComparison.Ordinal));
    }

    [Fact]
    public void Remedies_follow_the_case()
    {
        BiasVariance.Diagnose(0.005, 0.01).Remedies.Should().BeEmpty();
        BiasVariance.Diagnose(0.15, 0.16).Remedies.Should().HaveCount(3).And.Contain(r => r.Contains("Adam", StringComparison.Ordinal));
        var both = BiasVariance.Diagnose(0.15, 0.30);
        both.Remedies.Should().HaveCount(5, "the shared 'different architecture' remedy appears once");
        both.Remedies[0].Should().StartWith("bigger network", "bias first on a tie, as in the course's basic recipe");
        BiasVariance.Diagnose(0.05, 0.25).Remedies[0].Should().StartWith("more training data", "variance (20%) is the larger gap");
    }

    [Fact]
    public void Thresholds_are_configurable()
    {
        BiasVariance.Diagnose(0.005, 0.01, thresholds: new BiasVarianceThresholds(Variance: 0.001)).Case.Should().Be(BiasVarianceCase.HighVariance);
        BiasVariance.Diagnose(0.08, 0.10, 0.01, new BiasVarianceThresholds(DominanceRatio: double.PositiveInfinity))
            .Case.Should().Be(BiasVarianceCase.HighBiasAndHighVariance);
        var act = () => BiasVariance.Diagnose(0.1, 0.2, thresholds: new BiasVarianceThresholds(DominanceRatio: 0.5));
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("the dominance ratio must be at least 1; received 0.5*");
    }

    [Theory]
    [InlineData(0.01, 0.025, 0.0)] // 0.025 − 0.01 = 0.015000000000000001: was "high variance"
    [InlineData(0.05, 0.065, 0.05)] // 0.065 − 0.05 rounds below 0.015: "fine", as it should be, and must stay so
    [InlineData(0.015, 0.015, 0.0)] // avoidable bias exactly 1.5%
    [InlineData(0.065, 0.08, 0.05)] // both gaps 1.5% from decimal inputs
    [InlineData(0.02, 0.035, 0.005)] // both gaps 1.5% from decimal inputs
    public void A_gap_equal_to_the_threshold_as_written_is_not_high(double train, double dev, double human)
    {
        var report = BiasVariance.Diagnose(train, dev, human);
        report.Case.Should().Be(BiasVarianceCase.Fine);
        report.IsBiasHigh.Should().BeFalse();
        report.IsVarianceHigh.Should().BeFalse();
    }

    [Fact]
    public void A_gap_just_above_the_threshold_is_high()
    {
        BiasVariance.Diagnose(0.01, 0.025 + 1e-9).IsVarianceHigh.Should().BeTrue();
        BiasVariance.Diagnose(0.015 + 1e-9, 0.02).IsBiasHigh.Should().BeTrue();
        BiasVariance.Diagnose(0.01, 0.025 + 1e-9).Case.Should().Be(BiasVarianceCase.HighVariance);
    }

    [Fact]
    public void A_history_at_98_5_percent_accuracy_is_diagnosed_like_the_error_rates()
    {
        // 1 − 0.985 = 0.015000000000000013: was "high bias" while Diagnose(0.015, 0.015) said fine.
        var history = new History();
        history.AddEpoch(0.1, 0.985, 0.1, 0.985, 0.1, 0);
        var report = BiasVariance.Diagnose(history);
        report.Case.Should().Be(BiasVariance.Diagnose(0.015, 0.015).Case).And.Be(BiasVarianceCase.Fine);
    }

    [Fact]
    public void History_errors_say_what_is_wrong()
    {
        // Every dev cost NaN, dev accuracies present: was "no epoch has a dev accuracy; … needs a dev set".
        var diverged = new History();
        diverged.AddEpoch(0.5, 0.9, double.NaN, 0.8, 0.1, 0);
        diverged.AddEpoch(0.4, 0.92, double.NaN, 0.85, 0.1, 0);
        var act = () => BiasVariance.Diagnose(diverged);
        act.Should().Throw<InvalidOperationException>().WithMessage("*every epoch's dev cost is NaN*HistoryEpoch.Last*");
        BiasVariance.Diagnose(diverged, epoch: HistoryEpoch.Last).Epoch.Should().Be(1);

        // A NaN training metric in the chosen epoch: was "trainError must be a fraction … received NaN".
        var nanTrain = new History();
        nanTrain.AddEpoch(0.5, double.NaN, 0.4, 0.8, 0.1, 0);
        act = () => BiasVariance.Diagnose(nanTrain);
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("history")
            .WithMessage("epoch 0's training accuracy is NaN*").Which.Message.Should().NotContain("trainError");

        var badDev = new History();
        badDev.AddEpoch(0.5, 0.9, 0.4, 1.5, 0.1, 0);
        act = () => BiasVariance.Diagnose(badDev);
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("history").WithMessage("epoch 0's dev accuracy is 1.5*");

        // An undefined HistoryEpoch was silently treated as Last.
        act = () => BiasVariance.Diagnose(diverged, epoch: (HistoryEpoch)7);
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("epoch").WithMessage("*HistoryEpoch.Best or HistoryEpoch.Last*7*");
    }

    [Fact]
    public void Errors_must_be_fractions()
    {
        var act = () => BiasVariance.Diagnose(11, 15);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("trainError must be a fraction in [0, 1] (0.01 is 1%); received 11*");
        act = () => BiasVariance.Diagnose(0.1, double.NaN);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("devError must be*received NaN*");
    }

    [Fact]
    public void Odd_numbers_get_a_note()
    {
        var r = BiasVariance.Diagnose(0.02, 0.01, humanError: 0.05);
        r.Case.Should().Be(BiasVarianceCase.Fine);
        r.Notes.Should().HaveCount(2);
        r.Notes[0].Should().Contain("below the human-level estimate 5.0%");
        r.Notes[1].Should().Contain("dev error is below training error");
    }

    [Fact]
    public void Report_text_shows_the_arithmetic_and_the_case()
    {
        string text = BiasVariance.Diagnose(0.08, 0.10, 0.01).ToString();
        var lines = text.Split(Environment.NewLine);
        lines[0].Should().Be("Bias/variance: human-level error 1.0%, training error 8.0%, dev error 10.0%");
        lines[1].Should().Be("  avoidable bias = 8.0% - 1.0% = 7.0% (threshold 1.5%), high");
        lines[2].Should().Be("  variance       = 10.0% - 8.0% = 2.0% (threshold 1.5%), high");
        lines[3].Should().Be("  => high bias: work on bias first");
        lines[4].Should().Be("  - bigger network: more hidden units or more layers");
        BiasVariance.Diagnose(0.005, 0.01).ToString().Should().EndWith("  => fine");
    }

    [Fact]
    public void From_history_reads_one_minus_accuracy_of_the_best_or_last_epoch()
    {
        var h = new History();
        h.AddEpoch(0.6, trainMetric: 0.85, devCost: 0.7, devMetric: 0.84, learningRate: 0.01, seconds: 1); // 15% / 16%
        h.AddEpoch(0.3, trainMetric: 0.99, devCost: 0.4, devMetric: 0.89, learningRate: 0.01, seconds: 1); // 1% / 11%: best dev
        h.AddEpoch(0.1, trainMetric: 0.995, devCost: 0.9, devMetric: 0.70, learningRate: 0.01, seconds: 1); // 0.5% / 30%

        var best = BiasVariance.Diagnose(h);
        best.Epoch.Should().Be(1);
        best.TrainError.Should().BeApproximately(0.01, 1e-12);
        best.DevError.Should().BeApproximately(0.11, 1e-12);
        best.Case.Should().Be(BiasVarianceCase.HighVariance);
        best.ToString().Should().StartWith("Bias/variance (epoch 1):");

        var last = BiasVariance.Diagnose(h, epoch: HistoryEpoch.Last);
        last.Epoch.Should().Be(2);
        last.DevError.Should().BeApproximately(0.30, 1e-12);
    }

    [Fact]
    public void From_history_with_an_error_metric_uses_it_directly()
    {
        var h = new History("error", higherIsBetter: false);
        h.AddEpoch(0.5, trainMetric: 0.15, devCost: 0.6, devMetric: 0.16, learningRate: 0.1, seconds: 0);
        BiasVariance.Diagnose(h).Case.Should().Be(BiasVarianceCase.HighBias);
    }

    [Fact]
    public void With_dropout_the_history_is_refused_and_the_model_overload_measures_both_sets_in_inference_mode()
    {
        var (train, dev, _) = Datasets.Digits<float>().Split(0.6, 0.2, 0.2, seed: 3, stratify: true);
        var model = Model.Sequential<float>(64).Standardize(train).Dense(64).ReLU().Dropout(keepProb: 0.5).Dense(10).Softmax().Build(seed: 2);
        var history = model.Fit(train, new TrainingOptions<float> { Optimizer = new Adam(0.002), Epochs = 6, Validation = dev });
        history.TrainMetricWithDropout.Should().BeTrue();
        var act = () => BiasVariance.Diagnose(history);
        act.Should().Throw<InvalidOperationException>().WithMessage("*dropout active*BiasVariance.Diagnose(model, train, dev)*");

        var report = BiasVariance.Diagnose(model, train, dev);
        report.TrainError.Should().BeApproximately(model.Evaluate(train).Error!.Value, 1e-15);
        report.DevError.Should().BeApproximately(model.Evaluate(dev).Error!.Value, 1e-15);
        report.TrainError.Should().BeLessThan(1 - history.Last!.TrainMetric!.Value, "with the units all kept, the training error is lower than the running accuracy with dropout shows");

        var plain = Model.Sequential<float>(64).Standardize(train).Dense(16).ReLU().Dense(10).Softmax().Build(seed: 2);
        var plainHistory = plain.Fit(train, new TrainingOptions<float> { Optimizer = new Adam(0.002), Epochs = 2, Validation = dev });
        plainHistory.TrainMetricWithDropout.Should().BeFalse();
        BiasVariance.Diagnose(plainHistory).Epoch.Should().NotBeNull();
    }

    [Fact]
    public void Dropout_turned_off_is_not_dropout_for_the_history_and_dropout_turned_on_by_a_callback_is()
    {
        var (train, dev, _) = Datasets.Digits<float>().Split(0.6, 0.2, 0.2, seed: 3, stratify: true);
        var model = Model.Sequential<float>(64).Standardize(train).Dense(16).ReLU().Dropout(keepProb: 0.5).Dense(10).Softmax().Build(seed: 2);
        model.DropoutEnabled = false;
        var history = model.Fit(train, new TrainingOptions<float> { Optimizer = new Adam(0.002), Epochs = 2, Validation = dev });
        history.TrainMetricWithDropout.Should().BeFalse("no unit was dropped while training");
        BiasVariance.Diagnose(history).Epoch.Should().NotBeNull();

        var switchOn = new LambdaCallback((_, record) => model.DropoutEnabled = record.Epoch >= 1);
        var later = model.Fit(train, new TrainingOptions<float> { Optimizer = new Adam(0.002), Epochs = 3, Validation = dev, Callbacks = { switchOn } });
        later.TrainMetricWithDropout.Should().BeTrue("epochs 2 and 3 trained with dropout");
    }

    [Fact]
    public void A_regression_history_is_refused_as_the_model_overload_refuses_a_regression()
    {
        // RMSE is not an error rate: 0.3 read as 30% error would be diagnosed, and 2.5 was refused as "trainError".
        var random = new RandomSource(5);
        var x = new Tensor<float>(40, 2);
        random.FillNormal(x.Span);
        var y = new Tensor<float>(40, 1);
        for (int i = 0; i < 40; i++)
        {
            y[i, 0] = (3 * x[i, 0]) + 0.5f;
        }

        var data = DataSet.FromTargets(x, y);
        var model = Model.Sequential<float>(2).Dense(4).ReLU().Dense(1).Build(seed: 1);
        var history = model.Fit(data, new TrainingOptions<float> { Epochs = 2, Validation = data });
        history.MetricName.Should().Be("rmse");

        var act = () => BiasVariance.Diagnose(history);
        act.Should().Throw<InvalidOperationException>().WithMessage("*error rates*rmse*regression*");
        var small = new History("rmse", higherIsBetter: false);
        small.AddEpoch(0.1, trainMetric: 0.3, devCost: 0.2, devMetric: 0.5, learningRate: 0.1, seconds: 0);
        FluentActions.Invoking(() => BiasVariance.Diagnose(small)).Should().Throw<InvalidOperationException>().WithMessage("*error rates*rmse*");
    }

    [Fact]
    public void The_model_overload_needs_a_classifier()
    {
        var x = new Tensor<float>(30, 1);
        var y = new Tensor<float>(30, 1);
        var data = new DataSet<float>(x, y);
        var regression = Model.Sequential<float>(1).Dense(1).Build(seed: 1);
        var act = () => BiasVariance.Diagnose(regression, data, data);
        act.Should().Throw<InvalidOperationException>().WithMessage("*not a classifier*");
    }

    [Fact]
    public void From_history_needs_train_and_dev_metrics()
    {
        var act = () => BiasVariance.Diagnose(new History());
        act.Should().Throw<InvalidOperationException>().WithMessage("the history has no epochs*");
        var noDev = new History();
        noDev.AddEpoch(0.5, 0.9, null, null, 0.1, 0);
        act = () => BiasVariance.Diagnose(noDev);
        act.Should().Throw<InvalidOperationException>().WithMessage("epoch 0 lacks a dev accuracy*");
        act = () => BiasVariance.Diagnose(noDev, epoch: HistoryEpoch.Last);
        act.Should().Throw<InvalidOperationException>().WithMessage("epoch 0 lacks a dev accuracy*");
    }

    [Fact]
    public void The_model_overload_names_an_empty_set_instead_of_calling_the_model_no_classifier()
    {
        // The empty test part of Split(0.7, 0.3, 0) passed as the dev set was reported as "the model is not a classifier".
        var (train, dev, empty) = Datasets.Digits<float>().Split(0.7, 0.3, 0, seed: 1);
        var model = Model.Sequential<float>(64).Dense(10).Softmax().Build(seed: 1);
        FluentActions.Invoking(() => BiasVariance.Diagnose(model, train, empty))
            .Should().Throw<ArgumentException>().WithMessage("the dev set has no examples*").Which.ParamName.Should().Be("dev");
        FluentActions.Invoking(() => BiasVariance.Diagnose(model, empty, dev))
            .Should().Throw<ArgumentException>().WithMessage("the training set has no examples*").Which.ParamName.Should().Be("train");
    }
}
