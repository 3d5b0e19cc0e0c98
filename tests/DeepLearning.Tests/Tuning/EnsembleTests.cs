
namespace DeepLearning.Tests.Tuning;

public class EnsembleTests
{
    private static readonly Tensor<double> _x = new(3, 4); // inputs are ignored by the fixed members below

    // Three members, each right on 2 of 3 examples (labels 0, 1, 1), wrong on a different one.
    private static readonly double[][] _a = [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]];
    private static readonly double[][] _b = [[0.4, 0.6], [0.1, 0.9], [0.3, 0.7]];
    private static readonly double[][] _c = [[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]];
    private static readonly int[] _labels = [0, 1, 1];

    private static Func<Tensor<T>, Tensor<T>> Fixed<T>(double[][] p)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        _ => Tensor.FromRows(p.Select(r => r.Select(T.CreateChecked).ToArray()).ToArray());

    [Fact]
    public void Equal_weights_average_the_probabilities_by_hand()
    {
        var ensemble = new Ensemble<double>([Fixed<double>(_a), Fixed<double>(_b), Fixed<double>(_c)]);
        var p = ensemble.Predict(_x);
        p.Shape.Should().Equal(3, 2);
        // (0.9 + 0.4 + 0.7)/3 = 2/3; (0.6 + 0.1 + 0.2)/3 = 0.3; (0.2 + 0.3 + 0.6)/3 = 11/30.
        p[0, 0].Should().BeApproximately(2.0 / 3, 1e-15);
        p[0, 1].Should().BeApproximately(1.0 / 3, 1e-15);
        p[1, 0].Should().BeApproximately(0.3, 1e-15);
        p[1, 1].Should().BeApproximately(0.7, 1e-15);
        p[2, 0].Should().BeApproximately(11.0 / 30, 1e-15);
        p[2, 1].Should().BeApproximately(19.0 / 30, 1e-15);
        ensemble.PredictClasses(_x).Should().Equal(0, 1, 1);
    }

    [Fact]
    public void Weights_are_normalized_and_applied()
    {
        var ensemble = new Ensemble<double>([Fixed<double>(_a), Fixed<double>(_b), Fixed<double>(_c)], [2, 1, 1]);
        ensemble.Weights.Should().Equal(0.5, 0.25, 0.25);
        var p = ensemble.Predict(_x);
        // 0.5·0.9 + 0.25·0.4 + 0.25·0.7 = 0.725; 0.5·0.6 + 0.25·0.1 + 0.25·0.2 = 0.375; 0.5·0.2 + 0.25·0.3 + 0.25·0.6 = 0.325.
        p[0, 0].Should().BeApproximately(0.725, 1e-15);
        p[1, 0].Should().BeApproximately(0.375, 1e-15);
        p[2, 0].Should().BeApproximately(0.325, 1e-15);
        p[2, 1].Should().BeApproximately(0.675, 1e-15);

        var averaged = Ensemble<double>.Average([Fixed<double>(_a)(_x), Fixed<double>(_b)(_x)], [1, 3]);
        averaged[0, 0].Should().BeApproximately((0.9 + (3 * 0.4)) / 4, 1e-15);
    }

    [Fact]
    public void Weights_whose_sum_overflows_are_still_normalized_to_sum_to_one()
    {
        // Two weights of 1e308 sum to +∞: they were divided by it, giving weights [0, 0] and all-zero predictions.
        var p = Tensor.FromRows([[0.25f, 0.75f], [0.6f, 0.4f]]);
        var ensemble = new Ensemble<float>(new Func<Tensor<float>, Tensor<float>>[] { _ => p, _ => p }, [1e308, 1e308]);
        ensemble.Weights.Should().Equal(0.5, 0.5);
        ensemble.Predict(new Tensor<float>(2, 1)).ToArray().Should().Equal([0.25f, 0.75f, 0.6f, 0.4f], (a, e) => Math.Abs(a - e) < 1e-6f);

        var uneven = new Ensemble<double>([Fixed<double>(_a), Fixed<double>(_b), Fixed<double>(_c)], [double.MaxValue, double.MaxValue / 2, 0]);
        uneven.Weights.Should().OnlyContain(w => double.IsFinite(w) && w >= 0);
        uneven.Weights.Sum().Should().BeApproximately(1, 1e-15);
        uneven.Weights[0].Should().BeApproximately(2.0 / 3, 1e-15);
        uneven.Weights[1].Should().BeApproximately(1.0 / 3, 1e-15);
        uneven.Weights[2].Should().Be(0);
        uneven.Predict(_x)[0, 0].Should().BeApproximately(((2 * 0.9) + 0.4) / 3, 1e-15);

        var averaged = Ensemble<float>.Average([p, Tensor.FromRows([[1f, 0f], [0f, 1f]])], [1e308, 1e308]);
        averaged.ToArray().Should().Equal([0.625f, 0.375f, 0.3f, 0.7f], (a, e) => Math.Abs(a - e) < 1e-6f);
        var averagedDouble = Ensemble<double>.Average([Fixed<double>(_a)(_x), Fixed<double>(_b)(_x)], [double.MaxValue, double.MaxValue]);
        averagedDouble[0, 0].Should().BeApproximately((0.9 + 0.4) / 2, 1e-15);
    }

    [Fact]
    public void Evaluate_reports_member_accuracies_and_the_gain_over_the_best_member()
    {
        var report = new Ensemble<float>([Fixed<float>(_a), Fixed<float>(_b), Fixed<float>(_c)]).Evaluate(new Tensor<float>(3, 4), _labels);
        report.MemberAccuracies.Should().Equal(2.0 / 3, 2.0 / 3, 2.0 / 3);
        report.EnsembleAccuracy.Should().Be(1.0);
        report.BestMemberIndex.Should().Be(0);
        report.BestMemberAccuracy.Should().Be(2.0 / 3);
        report.Gain.Should().BeApproximately(1.0 / 3, 1e-15);
        report.ToString().Should().Be("ensemble 1.0000 vs best member #0 0.6667 (gain +0.3333); members: 0.6667, 0.6667, 0.6667");

        // One-hot labels give the same report.
        var y = Tensor.FromRows(new[] { new float[] { 1, 0 }, [0, 1], [0, 1] });
        new Ensemble<float>([Fixed<float>(_a), Fixed<float>(_b), Fixed<float>(_c)]).Evaluate(new Tensor<float>(3, 4), y).Should().BeEquivalentTo(report);
    }

    [Fact]
    public void A_sigmoid_output_is_read_as_p_of_class_1()
    {
        var ensemble = new Ensemble<double>([Fixed<double>([[0.4], [0.7]]), Fixed<double>([[0.8], [0.2]])]);
        var x = new Tensor<double>(2, 1);
        ensemble.Predict(x)[0, 0].Should().BeApproximately(0.6, 1e-15);
        ensemble.PredictClasses(x).Should().Equal(1, 0);
        var report = ensemble.Evaluate(x, Tensor.FromArray(new double[] { 1, 0 }, 2, 1));
        report.MemberAccuracies.Should().Equal(0.0, 1.0); // classes (0, 1) and (1, 0) against labels (1, 0)
        report.EnsembleAccuracy.Should().Be(1); // averaged (0.6, 0.45) → (1, 0)
        report.Gain.Should().Be(0);
    }

    [Fact]
    public void Members_may_reuse_their_output_buffer()
    {
        var shared = new Tensor<double>(3, 2);
        Func<Tensor<double>, Tensor<double>> Writer(double[][] p) => _ =>
        {
            for (int i = 0; i < 3; i++)
            {
                p[i].CopyTo(shared.Row(i));
            }

            return shared;
        };

        var ensemble = new Ensemble<double>([Writer(_a), Writer(_b), Writer(_c)]);
        ensemble.Predict(_x)[0, 0].Should().BeApproximately(2.0 / 3, 1e-15);
        ensemble.Evaluate(_x, _labels).MemberAccuracies.Should().Equal(2.0 / 3, 2.0 / 3, 2.0 / 3);
    }

    [Fact]
    public void A_snapshot_ensemble_averages_the_last_snapshots_of_one_run()
    {
        Func<Tensor<double>, Tensor<double>> early = _ => throw new InvalidOperationException("early snapshots are not used");
        var snapshots = new[] { early, early, Fixed<double>(_a), Fixed<double>(_c) };
        var ensemble = Ensemble<double>.FromSnapshots(snapshots, last: 2);
        ensemble.Count.Should().Be(2);
        ensemble.Predict(_x)[1, 0].Should().BeApproximately(0.4, 1e-15); // (0.6 + 0.2)/2
        FluentActions.Invoking(() => Ensemble<double>.FromSnapshots(snapshots, last: 5)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*[1, 4]*received 5*");
    }

    [Fact]
    public void Bad_members_weights_and_labels_are_reported_clearly()
    {
        FluentActions.Invoking(() => new Ensemble<double>([])).Should().Throw<ArgumentException>().WithMessage("*at least one member*");
        FluentActions.Invoking(() => new Ensemble<double>([Fixed<double>(_a)], [1, 2])).Should().Throw<ArgumentException>().WithMessage("*one entry per member: 1; received 2*");
        FluentActions.Invoking(() => new Ensemble<double>([Fixed<double>(_a), Fixed<double>(_b)], [1, -1])).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*weight 1*received -1*");
        FluentActions.Invoking(() => new Ensemble<double>([Fixed<double>(_a), Fixed<double>(_b)], [0, 0])).Should().Throw<ArgumentException>().WithMessage("*not all be 0*");

        var mismatched = new Ensemble<double>([Fixed<double>(_a), Fixed<double>([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]])]);
        FluentActions.Invoking(() => mismatched.Predict(_x)).Should().Throw<ArgumentException>().WithMessage("*member 1*(3, 3)*(3, 2)*");

        var ok = new Ensemble<double>([Fixed<double>(_a)]);
        FluentActions.Invoking(() => ok.Evaluate(_x, [0, 1])).Should().Throw<ArgumentException>().WithMessage("*3; received 2*");
        FluentActions.Invoking(() => ok.Evaluate(_x, [0, 1, 2])).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*label 2 must be in [0, 2); received 2*");
    }

    [Fact]
    public void Evaluating_no_examples_is_refused_rather_than_reported_as_accuracy_0()
    {
        var ensemble = new Ensemble<double>([_ => new Tensor<double>(0, 2)]);
        var empty = new Tensor<double>(0, 4);
        ensemble.Invoking(e => e.Evaluate(empty, Array.Empty<int>())).Should().Throw<ArgumentException>()
            .WithParameterName("x").WithMessage("X holds no examples: shape (0, 4)*");
        ensemble.Invoking(e => e.Evaluate(empty, new Tensor<double>(0, 2))).Should().Throw<ArgumentException>().WithParameterName("x");
        ensemble.Invoking(e => e.EvaluateMultiLabel(empty, new Tensor<double>(0, 2))).Should().Throw<ArgumentException>().WithParameterName("x");
        FluentActions.Invoking(() => Ensemble<double>.Accuracy(new Tensor<double>(0, 2), Array.Empty<int>())).Should().Throw<ArgumentException>()
            .WithParameterName("probabilities").WithMessage("*no examples*");

        // Predicting no examples is still fine, as Model.Predict/PredictClasses: (0, C) and no classes.
        ensemble.Predict(empty).Shape.Should().Equal(0, 2);
        ensemble.PredictClasses(empty).Should().BeEmpty();
    }

    [Fact]
    public void A_member_with_no_output_columns_is_named_instead_of_giving_class_minus_1()
    {
        var ensemble = new Ensemble<double>([Fixed<double>(_a), _ => new Tensor<double>(3, 0)]);
        ensemble.Invoking(e => e.PredictClasses(_x)).Should().Throw<ArgumentException>().WithMessage("ensemble member 1 gave probabilities of shape (3, 0)*no classes*");
        ensemble.Invoking(e => e.Evaluate(_x, _labels)).Should().Throw<ArgumentException>().WithMessage("ensemble member 1*(3, 0)*");

        var alone = new Ensemble<double>([_ => new Tensor<double>(3, 0)]);
        alone.Invoking(e => e.PredictClasses(_x)).Should().Throw<ArgumentException>().WithMessage("ensemble member 0*(3, 0)*");
        FluentActions.Invoking(() => Ensemble<double>.Classes(new Tensor<double>(3, 0))).Should().Throw<ArgumentException>().WithParameterName("probabilities");
        FluentActions.Invoking(() => Ensemble<double>.Average([new Tensor<double>(3, 0)])).Should().Throw<ArgumentException>().WithMessage("prediction 0*(3, 0)*");
    }

    [Fact]
    public void Non_finite_input_is_refused_naming_the_cell_as_the_model_does_instead_of_becoming_class_0()
    {
        var model = Model.Sequential<float>(6).Dense(4, Activation.ReLU).Dense(3).Softmax().Build(seed: 1);
        var x = new Tensor<float>(3, 6);
        x[0, 5] = float.NaN;
        var ensemble = new Ensemble<float>([model.Predict, model.Predict]);
        const string Expected = "X holds NaN at row 0, column 5; data must be finite";
        model.Invoking(m => m.PredictClasses(x)).Should().Throw<InvalidDataException>().WithMessage(Expected);
        ensemble.Invoking(e => e.PredictClasses(x)).Should().Throw<InvalidDataException>().WithMessage(Expected);
        ensemble.Invoking(e => e.Evaluate(x, [0, 1, 2])).Should().Throw<InvalidDataException>().WithMessage(Expected);
        ensemble.Invoking(e => e.Evaluate(x, DataSet.OneHot<float>([0, 1, 2], 3))).Should().Throw<InvalidDataException>().WithMessage(Expected);

        x[0, 5] = 0;
        x[2, 1] = float.NegativeInfinity;
        ensemble.Invoking(e => e.PredictClasses(x)).Should().Throw<InvalidDataException>().WithMessage("X holds -Infinity at row 2, column 1*");
        var p = ensemble.Predict(x);
        float.IsNaN(p[2, 0]).Should().BeTrue("Predict passes the members' NaN rows through, as Model.Predict does");
        float.IsFinite(p[0, 0]).Should().BeTrue();
    }

    [Fact]
    public void Non_finite_probabilities_and_targets_have_no_class()
    {
        var nan = Fixed<double>([[0.9, 0.1], [double.NaN, double.NaN], [0.2, 0.8]]);
        var ensemble = new Ensemble<double>([Fixed<double>(_a), nan]);
        ensemble.Invoking(e => e.PredictClasses(_x)).Should().Throw<InvalidDataException>().WithMessage("probabilities hold NaN at row 1, column 0*");
        ensemble.Invoking(e => e.Evaluate(_x, _labels)).Should().Throw<InvalidDataException>().WithMessage("ensemble member 1 gave NaN at row 1, column 0 for finite X*");
        FluentActions.Invoking(() => Ensemble<double>.Classes(Tensor.FromRows(new[] { new[] { 0.5 }, new[] { double.NaN } }))).Should().Throw<InvalidDataException>().WithMessage("probabilities hold NaN at row 1, column 0*");
        var y = DataSet.OneHot<double>(_labels, 2);
        y[2, 1] = double.PositiveInfinity;
        new Ensemble<double>([Fixed<double>(_a)]).Invoking(e => e.Evaluate(_x, y)).Should().Throw<InvalidDataException>().WithMessage("Y holds Infinity at row 2, column 1*");
    }

    [Fact]
    public void A_binary_probability_of_exactly_one_half_is_class_0_as_the_model_and_accuracy_read_it()
    {
        // A sigmoid output of z = 0 is exactly 0.5: the model's PredictClasses (ŷ > 0.5) says class 0, so an
        // ensemble of that one model must too.
        var model = Model.Sequential<float>(2).Dense(1, init: Init.Zeros).Sigmoid().Build(seed: 1);
        var x = Tensor.FromRows(new[] { new[] { 1f, 2f }, new[] { -3f, 0.5f } });
        model.Predict(x)[0, 0].Should().Be(0.5f);
        var ensemble = new Ensemble<float>([model.Predict]);

        ensemble.PredictClasses(x).Should().Equal(model.PredictClasses(x));
        Ensemble<float>.Classes(Tensor.FromRows(new[] { new[] { 0.5f }, new[] { 0.5000001f } })).Should().Equal(0, 1);
        ensemble.Evaluate(x, [0, 0]).EnsembleAccuracy.Should().Be(Accuracy.Compute(model.Predict(x), [0, 0]));
    }
}
