namespace DeepLearning.Tests.Metrics;

/// <summary>
/// A sigmoid output with C &gt; 1 columns is multi-label: every column is its own yes/no, scored per cell as Keras's
/// binary_accuracy (ŷ &gt; 0.5, exactly 0.5 is 0; a target counts as 1 where y &gt; 0.5), never by the row's argmax.
/// </summary>
public class MultiLabelTests
{
    /// <summary>
    /// 2-3 sigmoid with W = [[1, 0], [0, 1], [1, −1]], b = 0, so Z = X·Wᵀ:
    ///   x = [ 2, −1] → z = [ 2, −1,  3] → labels 1 0 1
    ///   x = [ 0,  1] → z = [ 0,  1, −1] → labels 0 1 0 (σ(0) = 0.5 exactly, which is 0)
    ///   x = [−1, −2] → z = [−1, −2,  1] → labels 0 0 1
    /// Targets (row 1 label-smoothed): [1 1 1], [0.95 0.95 0.05] → 1 1 0, [0 0 0].
    /// Cells right: row 0 ✓✗✓, row 1 ✗✓✓, row 2 ✓✓✗ → 6 of 9. The row argmax would score 0 of 3
    /// (predicted 2, 1, 2 against the targets' first-on-ties 0, 0, 0).
    /// </summary>
    private static (Model<double> Model, Tensor<double> X, Tensor<double> Y) ThreeLabels()
    {
        var model = Model.Sequential<double>(2).Dense(3).Sigmoid().Build(seed: 1);
        var dense = (Dense<double>)model.Layers[0];
        double[,] w = { { 1, 0 }, { 0, 1 }, { 1, -1 } };
        for (int i = 0; i < 3; i++)
        {
            dense.Bias!.Value[i] = 0;
            for (int j = 0; j < 2; j++)
            {
                dense.Weight.Value[i, j] = w[i, j];
            }
        }

        var x = Tensor.FromRows([[2.0, -1], [0.0, 1], [-1.0, -2]]);
        var y = Tensor.FromRows([[1.0, 1, 1], [0.95, 0.95, 0.05], [0.0, 0, 0]]);
        return (model, x, y);
    }

    [Fact]
    public void Multi_label_accuracy_is_the_fraction_of_cells_right_computed_by_hand()
    {
        // Ŷ thresholded at 0.5 (strictly): [1 0 0 1], [0 1 1 0]; label-smoothed Y read at 0.5: [1 1 0 1], [0 1 0 0].
        // Right: ✓✗✓✓ and ✓✓✗✓ → 6 of 8.
        var p = Tensor.FromRows([[0.9f, 0.5f, 0.2f, 0.7f], [0.3f, 0.8f, 0.6f, 0.1f]]);
        var y = Tensor.FromRows([[0.95f, 0.95f, 0.05f, 0.95f], [0.05f, 0.95f, 0.05f, 0.05f]]);
        Accuracy.MultiLabel(p, y).Should().Be(0.75);
        Accuracy.MultiLabel(p, y, threshold: 0.45).Should().Be(7.0 / 8, "0.5 becomes a yes: cell (0, 1) turns right");

        int[,] labels = Predictions.ToMultiLabel(p);
        labels.Should().BeEquivalentTo(new[,] { { 1, 0, 0, 1 }, { 0, 1, 1, 0 } });
        Predictions.ToMultiLabel(y).Should().BeEquivalentTo(new[,] { { 1, 1, 0, 1 }, { 0, 1, 0, 0 } }, "targets are read the same way");

        // One column: the same number as the binary accuracy.
        var single = Tensor.FromArray([0.9f, 0.4f, 0.5f, 0.51f, 0.1f], 5, 1);
        var targets = Tensor.FromArray([1f, 0f, 1f, 1f, 1f], 5, 1);
        Accuracy.MultiLabel(single, targets).Should().Be(Accuracy.Compute(single, targets));
    }

    [Fact]
    public void Multi_label_accuracy_allocates_nothing_and_checks_shapes()
    {
        var p = Tensor.FromRows([[0.9f, 0.5f, 0.2f], [0.3f, 0.8f, 0.6f]]);
        var y = Tensor.FromRows([[1f, 1f, 0f], [0f, 1f, 0f]]);
        Accuracy.MultiLabel(p, y);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            Accuracy.MultiLabel(p, y);
        }

        (GC.GetAllocatedBytesForCurrentThread() - before).Should().Be(0);
        var act = () => Accuracy.MultiLabel(p, Tensor.FromRows([[1f, 1f], [0f, 1f]]));
        act.Should().Throw<ArgumentException>().WithMessage("targets have shape (2, 2) but predictions have shape (2, 3)*");
    }

    [Fact]
    public void Evaluate_scores_a_multi_label_model_per_cell_with_no_confusion_matrix()
    {
        var (model, x, y) = ThreeLabels();
        model.IsMultiLabel.Should().BeTrue();
        model.ClassCount.Should().Be(3);

        var e = model.Evaluate(x, y);
        e.Accuracy.Should().Be(6.0 / 9);
        e.Error.Should().BeApproximately(3.0 / 9, 1e-15);
        e.MultiLabelCount.Should().Be(3);
        e.ConfusionMatrix.Should().BeNull("a row with several labels has no single class to count in a C×C matrix");
        e.ToString().Should().Contain("per label: 3·3 cells").And.Contain("no confusion matrix");

        var streamed = model.Evaluate(new DataSet<double>(x, y));
        streamed.Accuracy.Should().Be(e.Accuracy);
        streamed.ConfusionMatrix.Should().BeNull();

        // The bias/variance diagnosis reads the same per-cell error.
        var report = BiasVariance.Diagnose(model, new DataSet<double>(x, y), new DataSet<double>(x.Rows(0, 2), y.Rows(0, 2)));
        report.TrainError.Should().BeApproximately(3.0 / 9, 1e-15);
        report.DevError.Should().BeApproximately(2.0 / 6, 1e-15, "rows 0 and 1: 4 of 6 cells right");
    }

    [Fact]
    public void A_multi_label_model_is_labelled_per_cell_and_PredictClasses_refuses_it()
    {
        var (model, x, _) = ThreeLabels();
        model.PredictLabels(x).Should().BeEquivalentTo(new[,] { { 1, 0, 1 }, { 0, 1, 0 }, { 0, 0, 1 } });
        model.PredictLabels(x.Rows(0, 0)).GetLength(1).Should().Be(3);

        var act = () => model.PredictClasses(x);
        act.Should().Throw<InvalidOperationException>()
            .WithMessage("PredictClasses gives one class per row, but this model's output is sigmoid with 3 columns (multi-label*use PredictLabels(x) for the (m, 3) 0/1 labels (ŷ > 0.5), or Predict(x)*");
    }

    [Fact]
    public void PredictLabels_of_softmax_and_of_one_sigmoid_output_agree_with_PredictClasses()
    {
        var x = Tensor.FromRows([[0.3f, -1.2f], [2.0f, 0.5f], [-0.7f, 0.9f], [1.1f, -0.4f]]);
        var softmax = Model.Sequential<float>(2).Dense(3).Softmax().Build(seed: 3);
        softmax.IsMultiLabel.Should().BeFalse();
        var classes = softmax.PredictClasses(x);
        var oneHot = softmax.PredictLabels(x);
        for (int i = 0; i < classes.Length; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                oneHot[i, j].Should().Be(j == classes[i] ? 1 : 0);
            }
        }

        var binary = Model.Sequential<float>(2).Dense(1).Sigmoid().Build(seed: 3);
        binary.IsMultiLabel.Should().BeFalse();
        var column = binary.PredictLabels(x);
        column.GetLength(1).Should().Be(1);
        Enumerable.Range(0, 4).Select(i => column[i, 0]).Should().Equal(binary.PredictClasses(x));

        var regression = Model.Sequential<float>(2).Dense(3).Build(seed: 3);
        regression.IsMultiLabel.Should().BeFalse();
        var act = () => regression.PredictLabels(x);
        act.Should().Throw<InvalidOperationException>().WithMessage("PredictLabels needs a classifier*");
    }

    [Fact]
    public void Fit_history_accuracy_equals_the_hand_thresholded_accuracy_of_the_predictions()
    {
        // 3 labels on 4 features, label j = [x_j + 0.5·x_3 > 0], label-smoothed to 0.05/0.95.
        const int m = 48, n = 4, c = 3;
        var rng = new Random(11);
        var xs = new float[m * n];
        var ys = new float[m * c];
        for (int i = 0; i < m; i++)
        {
            for (int k = 0; k < n; k++)
            {
                xs[(i * n) + k] = (float)((rng.NextDouble() * 4) - 2);
            }

            for (int j = 0; j < c; j++)
            {
                ys[(i * c) + j] = xs[(i * n) + j] + (0.5f * xs[(i * n) + 3]) > 0 ? 0.95f : 0.05f;
            }
        }

        var data = new DataSet<float>(Tensor.FromArray(xs, m, n), Tensor.FromArray(ys, m, c));
        var model = Model.Sequential<float>(n).Dense(8).Tanh().Dense(c).Sigmoid().Build(seed: 4);
        model.IsMultiLabel.Should().BeTrue();

        // The dev metric is measured after the epoch's step: it must equal the cells of Predict right.
        var history = model.Fit(data, new TrainingOptions<float> { Optimizer = new Adam(0.05), Epochs = 40, BatchSize = 16, Validation = data });
        double trained = HandAccuracy(model.Predict(data.X), data.Y);
        history.Last!.DevMetric.Should().Be(trained);
        model.Evaluate(data).Accuracy.Should().Be(trained);
        trained.Should().BeGreaterThan(0.9, "the labels are linear in x");

        // One full-batch epoch: its training accuracy is measured on the weights before the step, i.e. on these predictions.
        var before = model.Predict(data.X);
        var one = model.Fit(data, new TrainingOptions<float> { Optimizer = new GradientDescent(0.01), Epochs = 1, BatchSize = m });
        one.Last!.TrainMetric.Should().Be(HandAccuracy(before, data.Y));
    }

    [Fact]
    public void Single_class_scorers_refuse_multi_label_targets_and_still_take_softmax_targets()
    {
        var p = Tensor.FromRows([[0.9f, 0.6f, 0.2f], [0.3f, 0.8f, 0.6f]]);
        var multiHot = Tensor.FromRows([[1f, 1f, 0f], [0f, 1f, 0f]]);
        const string Message = "targets row 0 has 2 of its 3 cells > 0.5: a multi-label target (a sigmoid output with 3 columns, each its own yes/no), not one class per row; score it with Accuracy.MultiLabel*";

        var accuracy = () => Accuracy.Compute(p, multiHot);
        accuracy.Should().Throw<ArgumentException>().WithMessage(Message);
        var count = () => Accuracy.CountCorrect(p, multiHot);
        count.Should().Throw<ArgumentException>().WithMessage(Message);
        var matrix = () => ConfusionMatrix.Compute(p, multiHot);
        matrix.Should().Throw<ArgumentException>().WithMessage(Message);
        var labels = () => Predictions.FromTargets(multiHot);
        labels.Should().Throw<ArgumentException>().WithMessage(Message);

        // One-hot and label-smoothed softmax targets (one cell > 0.5 at most) are scored by argmax as before.
        var smoothed = Tensor.FromRows([[0.9f, 0.05f, 0.05f], [0.05f, 0.9f, 0.05f]]);
        Accuracy.Compute(p, smoothed).Should().Be(1);
        Accuracy.Compute(p, Tensor.FromRows([[0f, 0f, 1f], [0f, 1f, 0f]])).Should().Be(0.5);
    }

    [Fact]
    public void Ensemble_scores_multi_label_members_per_cell_and_refuses_them_in_the_class_evaluation()
    {
        var (model, x, y) = ThreeLabels();
        var ensemble = new Ensemble<double>([model.Predict, model.Predict]);
        var report = ensemble.EvaluateMultiLabel(x, y);
        report.EnsembleAccuracy.Should().Be(6.0 / 9);
        report.MemberAccuracies.Should().Equal(6.0 / 9, 6.0 / 9);

        var act = () => ensemble.Evaluate(x, y);
        act.Should().Throw<ArgumentException>().WithMessage("y row 0 has 3 of its 3 cells > 0.5: a multi-label target*");
    }

    [Fact]
    public void PerLabel_confusion_matrices_count_each_label_by_hand()
    {
        // Ŷ > 0.5: [1 0 1], [0 1 0], [1 1 0], [0 0 0]; Y (> 0.5): [1 1 0], [0 1 0], [1 0 0], [0 1 1].
        // Label 0: TP 2 (rows 0, 2), TN 2.           → [[2, 0], [0, 2]]
        // Label 1: TP 1 (row 1), FN 2 (rows 0, 3), FP 1 (row 2). → [[0, 1], [2, 1]]
        // Label 2: FP 1 (row 0), FN 1 (row 3), TN 2.  → [[2, 1], [1, 0]]
        var p = Tensor.FromRows([[0.8, 0.5, 0.7], [0.1, 0.9, 0.2], [0.6, 0.51, 0.4], [0.2, 0.3, 0.1]]);
        var y = Tensor.FromRows([[0.95, 0.95, 0.05], [0.05, 0.95, 0.05], [0.95, 0.05, 0.05], [0.05, 0.95, 0.95]]);
        var m = ConfusionMatrix.PerLabel(p, y);
        m.Should().HaveCount(3);
        long[][] expected = [[2, 0, 0, 2], [0, 1, 2, 1], [2, 1, 1, 0]];
        for (int j = 0; j < 3; j++)
        {
            new[] { m[j][0, 0], m[j][0, 1], m[j][1, 0], m[j][1, 1] }.Should().Equal(expected[j], $"label {j}");
            m[j].Total.Should().Be(4);
        }

        m[1].Precision(1).Should().Be(0.5);
        m[1].Recall(1).Should().BeApproximately(1.0 / 3, 1e-15);
        (m.Sum(k => k.TruePositives(0) + k.TruePositives(1)) / 12.0).Should().Be(Accuracy.MultiLabel(p, y), "the diagonals hold the cells right");
    }

    private static double HandAccuracy(Tensor<float> predictions, Tensor<float> targets)
    {
        var p = predictions.ReadOnlySpan;
        var t = targets.ReadOnlySpan;
        int right = 0;
        for (int k = 0; k < p.Length; k++)
        {
            right += (p[k] > 0.5f ? 1 : 0) == (t[k] > 0.5f ? 1 : 0) ? 1 : 0;
        }

        return (double)right / p.Length;
    }
}
