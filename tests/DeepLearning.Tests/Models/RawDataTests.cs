namespace DeepLearning.Tests.Models;

/// <summary>Issue 12.1 and 11.7: every entry point that takes X treats it as raw and applies the model's input transform once.</summary>
public class RawDataTests
{
    // Digits pixels are counts 0–16 (means up to ~10): far enough from standardized data for the mistakes to show.
    private static (DataSet<float> Train, DataSet<float> Dev, DataSet<float> Test) Digits() =>
        Datasets.Digits<float>().Split(0.6, 0.2, 0.2, seed: 3, stratify: true);

    private static Model<float> Net(int seed = 5) =>
        Model.Sequential<float>(64).Dense(32).ReLU().Dense(10).Softmax().Build(seed);

    private static TrainingOptions<float> Options(IDataSource<float>? dev = null) =>
        new() { Optimizer = new Adam(0.005), Epochs = 4, BatchSize = 64, Validation = dev };

    [Fact]
    public void Training_on_raw_data_with_the_transform_equals_training_the_bare_network_on_standardized_data_bit_for_bit()
    {
        var (train, dev, test) = Digits();
        var scaler = Standardizer.Fit(train);

        var withTransform = Net();
        withTransform.InputTransform = scaler;
        var h1 = withTransform.Fit(train, Options(dev));

        var bare = Net();
        var h2 = bare.Fit(scaler.Apply(train), Options(scaler.Apply(dev)));

        h1.SameValuesAs(h2).Should().BeTrue("the model standardizes raw X exactly as Apply does, once");
        for (int p = 0; p < bare.Parameters.Count; p++)
        {
            withTransform.Parameters[p].Value.Should().Be(bare.Parameters[p].Value);
        }

        // Every entry point on raw data agrees with the bare network on standardized data.
        var scaledTest = scaler.Apply(test);
        withTransform.Evaluate(test).Should().BeEquivalentTo(bare.Evaluate(scaledTest), o => o.Excluding(e => e.ConfusionMatrix));
        withTransform.Evaluate(test.X, test.Y).Accuracy.Should().Be(bare.Evaluate(scaledTest).Accuracy);
        withTransform.PredictClasses(test.X).Should().Equal(bare.PredictClasses(scaledTest.X));
        withTransform.Predict(test.X).Should().Be(bare.Predict(scaledTest.X));
        withTransform.Cost(test.X, test.Y, training: false).Should().Be(bare.Cost(scaledTest.X, scaledTest.Y, training: false));
    }

    [Fact]
    public void The_issue_scenario_raw_test_evaluation_and_predictions_agree_and_are_accurate()
    {
        var (train, dev, test) = Digits();
        var model = Model.Sequential<float>(64).Standardize(train).Dense(64).ReLU().Dense(10).Softmax().Build(seed: 7);
        model.Fit(train, new TrainingOptions<float> { Optimizer = new Adam(0.005), Epochs = 15, Validation = dev });

        var evaluation = model.Evaluate(test);
        evaluation.Accuracy.Should().BeGreaterThan(0.93, "raw test data is standardized by the model itself");
        int right = model.PredictClasses(test.X).Zip(test.Labels!).Count(p => p.First == p.Second);
        (right / (double)test.Count).Should().Be(evaluation.Accuracy!.Value, "PredictClasses and Evaluate see the same X");
    }

    [Fact]
    public void Already_standardized_data_is_refused_with_a_message_instead_of_being_standardized_twice()
    {
        var (train, dev, test) = Digits();
        var scaler = Standardizer.Fit(train);
        var model = Net();
        model.InputTransform = scaler;

        var fit = () => model.Fit(scaler.Apply(train), Options());
        fit.Should().Throw<ArgumentException>().WithMessage("the training data looks already standardized*pass raw data*");
        var devTwice = () => model.Fit(train, Options(scaler.Apply(dev)));
        devTwice.Should().Throw<ArgumentException>().WithMessage("the validation data looks already standardized*");
        var eval = () => model.Evaluate(scaler.Apply(test));
        eval.Should().Throw<ArgumentException>().WithMessage("*already standardized*");
        var evalTensors = () => model.Evaluate(scaler.Apply(test.X), test.Y);
        evalTensors.Should().Throw<ArgumentException>().WithMessage("*already standardized*");

        // Raw dev and test sets pass the check.
        model.Fit(train, Options(dev)).Count.Should().Be(4);
        model.Evaluate(test).Count.Should().Be(test.Count);
    }

    [Fact]
    public void Raw_data_from_a_shifted_distribution_or_a_subset_of_the_range_is_accepted()
    {
        // x ~ U(0, 100), y = 2x + 1: the rows with x < 20 have mean ≈ 10, nearer 0 than the training mean ≈ 50, but
        // their spread (≈ 5.8) is nothing like standardized data's 1.
        var random = new RandomSource(4);
        var x = new Tensor<double>(500, 1);
        var y = new Tensor<double>(500, 1);
        for (int i = 0; i < 500; i++)
        {
            x[i, 0] = 100 * random.NextDouble();
            y[i, 0] = (2 * x[i, 0]) + 1;
        }

        var data = new DataSet<double>(x, y);
        var model = Model.Sequential<double>(1).Standardize(data).StandardizeTargets(data).Dense(1).Build(seed: 1);
        model.Fit(data, new TrainingOptions<double> { Optimizer = new Adam(0.05), Epochs = 30, BatchSize = 50 });
        var low = Enumerable.Range(0, 500).Where(i => x[i, 0] < 20).ToArray();
        var subset = new DataSet<double>(Tensor.FromRows(low.Select(i => new[] { x[i, 0] }).ToArray()), Tensor.FromRows(low.Select(i => new[] { y[i, 0] }).ToArray()));
        subset.Count.Should().BeGreaterThan(20);
        model.Evaluate(subset).Count.Should().Be(subset.Count);
        model.Fit(data, new TrainingOptions<double> { Optimizer = new Adam(0.05), Epochs = 1, BatchSize = 50, Validation = subset }).Count.Should().Be(1);
    }

    [Fact]
    public void Raw_data_whose_features_already_have_unit_spread_is_accepted_when_shifted()
    {
        // Training features ~ N(2.3, 1.1): standardizing hardly changes their spread, so a shifted raw dev set
        // (~ N(0.25, 1)) cannot be told from standardized data and must not be refused.
        var random = new RandomSource(8);
        var x = new Tensor<double>(400, 3);
        var dev = new Tensor<double>(100, 3);
        for (int i = 0; i < 400; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                x[i, j] = 2.3 + (1.1 * random.NextGaussian());
                if (i < 100)
                {
                    dev[i, j] = 0.25 + random.NextGaussian();
                }
            }
        }

        var labels = Enumerable.Range(0, 400).Select(i => i % 2).ToArray();
        var train = DataSet.FromLabels(x, labels, 2);
        var model = Model.Sequential<double>(3).Standardize(train).Dense(4).ReLU().Dense(1).Sigmoid().Build(seed: 1);
        model.Evaluate(DataSet.FromLabels(dev, labels[..100], 2)).Count.Should().Be(100);
    }

    [Fact]
    public void The_standardized_input_check_can_be_turned_off()
    {
        var (train, _, test) = Digits();
        var scaler = Standardizer.Fit(train);
        var model = Net();
        model.InputTransform = scaler;
        var eval = () => model.Evaluate(scaler.Apply(test));
        eval.Should().Throw<ArgumentException>().WithMessage("*spread near 1*standard deviation*RefuseStandardizedInput = false*");
        model.RefuseStandardizedInput = false;
        model.Evaluate(scaler.Apply(test)).Count.Should().Be(test.Count, "the user said this data is raw");
        model.ConvertTo<double>().RefuseStandardizedInput.Should().BeFalse();
    }

    [Fact]
    public void An_input_transform_of_the_wrong_width_is_refused_at_assignment()
    {
        var model = Net();
        var narrow = Standardizer.Fit(new Tensor<float>(5, 63));
        var act = () => model.InputTransform = narrow;
        act.Should().Throw<ArgumentException>().WithMessage("*fitted on 63 features but the model has 64 inputs*");
        model.InputTransform.Should().BeNull();
        var builder = () => Model.Sequential<float>(64).InputTransform(narrow);
        builder.Should().Throw<ArgumentException>().WithMessage("*63 features*64 inputs*");
        var late = () => Model.Sequential<float>(64).Dense(3).Standardize(Digits().Train);
        late.Should().Throw<InvalidOperationException>().WithMessage("*first stage*");
    }

    [Fact]
    public void Standardizer_gives_unit_deviation_to_a_feature_with_tiny_spread_as_scikit_learn_does()
    {
        // Column 0: σ = 1e-4 around 3; column 1: σ = 1 around 0; column 2 constant.
        var random = new RandomSource(11);
        var x = new Tensor<double>(1000, 3);
        for (int i = 0; i < 1000; i++)
        {
            x[i, 0] = 3 + (1e-4 * random.NextGaussian());
            x[i, 1] = random.NextGaussian();
            x[i, 2] = 7;
        }

        var t = Standardizer.Fit(x).Apply(x);
        for (int j = 0; j < 2; j++)
        {
            double mean = 0, var = 0;
            for (int i = 0; i < 1000; i++)
            {
                mean += t[i, j] / 1000;
            }

            for (int i = 0; i < 1000; i++)
            {
                var += (t[i, j] - mean) * (t[i, j] - mean) / 1000;
            }

            Math.Sqrt(var).Should().BeApproximately(1.0, 1e-9, $"feature {j} must come out with standard deviation 1 (it was 0.71 with ε = 1e-8 for σ = 1e-4)");
        }

        t[0, 2].Should().Be(0, "a constant column is centred and left unscaled");
        var floats = Standardizer.Fit(x.ConvertTo<float>()).Apply(x.ConvertTo<float>());
        double f = 0;
        for (int i = 0; i < 1000; i++)
        {
            f += floats[i, 0] * floats[i, 0] / 1000;
        }

        Math.Sqrt(f).Should().BeApproximately(1.0, 0.02, "in float the 1e-4 spread around 3 is still resolved (3·2⁻²³ ≈ 3.6e-7)");
    }

    [Fact]
    public void Float_regression_targets_whose_variance_overflows_float_are_refused_instead_of_predicting_NaN()
    {
        // y ~ N(1e30, 1e29) in float: σ² ≈ 1e58 became ∞, the standardized targets all 0, and every prediction
        // 0·∞ + μ = NaN once mapped back to original units.
        var x = Tensor.RandomNormal<float>(new RandomSource(1), [50, 3]);
        var y = Tensor.RandomNormal<float>(new RandomSource(2), [50, 1], 1e30, 1e29);
        var data = new DataSet<float>(x, y);
        FluentActions.Invoking(() => Model.Sequential<float>(3).StandardizeTargets(data))
            .Should().Throw<InvalidDataException>().WithMessage("target column 0 has mean * and variance *E+57 on the training set, which Single cannot hold*rescale the targets*");
        FluentActions.Invoking(() => Standardizer.FitTargets(data))
            .Should().Throw<InvalidDataException>().WithMessage("target column 0 *");

        // In double the same targets train and predict finite values in original units.
        var d = new DataSet<double>(x.ConvertTo<double>(), y.ConvertTo<double>());
        var model = Model.Sequential<double>(3).Standardize(d).StandardizeTargets(d).Dense(4).ReLU().Dense(1).Build(seed: 1);
        model.Fit(d, new TrainingOptions<double> { Epochs = 3 });
        model.Predict(d.X).ToArray().Should().OnlyContain(v => double.IsFinite(v) && v > 1e29);
    }
}
