
namespace DeepLearning.Tests.Metrics;

/// <summary>Accuracy and the confusion matrix against counts done by hand.</summary>
public class MetricsTests
{
    // Ten examples, three classes. By hand, rows true / columns predicted:
    //   true 0: [3 1 0]   support 4
    //   true 1: [0 1 1]   support 2
    //   true 2: [1 1 2]   support 4
    // predicted totals: 4, 3, 3.
    // precision 3/4, 1/3, 2/3; recall 3/4, 1/2, 1/2; F1 3/4, 2/5, 4/7; accuracy 6/10.
    private static readonly int[] _actual = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0];
    private static readonly int[] _predicted = [0, 0, 1, 1, 2, 2, 1, 0, 2, 0];

    [Fact]
    public void Binary_accuracy_thresholds_at_one_half_strictly()
    {
        // ŷ > 0.5 → [1, 0, 0, 1, 0] (0.5 itself is class 0); labels [1, 0, 1, 1, 1] → 3 of 5 right.
        var p = Tensor.FromArray([0.9f, 0.4f, 0.5f, 0.51f, 0.1f], 5, 1);
        Accuracy.Binary(p, [1, 0, 1, 1, 1]).Should().Be(0.6);
        Accuracy.Compute(p, [1, 0, 1, 1, 1]).Should().Be(0.6);
        Accuracy.Compute(p, Tensor.FromArray([1f, 0f, 1f, 1f, 1f], 5, 1)).Should().Be(0.6);
        Accuracy.CountCorrect(p, Tensor.FromArray([1f, 0f, 1f, 1f, 1f], 5, 1)).Should().Be(3);
        Accuracy.Binary(p, [1, 0, 1, 1, 1], threshold: 0.05).Should().Be(0.8, "every example becomes class 1");
        Predictions.ToLabels(p).Should().Equal(1, 0, 0, 1, 0);
    }

    [Fact]
    public void Multiclass_accuracy_uses_the_row_argmax_first_on_ties()
    {
        // argmax per row: 1, 0 (tie between 0 and 2 → first), 2; labels 1, 0, 1 → 2 of 3.
        var s = Tensor.FromRows([[0.1, 0.7, 0.2], [2.0, -1.0, 2.0], [0.0, 0.0, 5.0]]);
        Accuracy.MultiClass(s, [1, 0, 1]).Should().BeApproximately(2.0 / 3, 1e-15);
        var oneHot = Tensor.FromRows([[0.0, 1, 0], [1.0, 0, 0], [0.0, 1, 0]]);
        Accuracy.Compute(s, oneHot).Should().BeApproximately(2.0 / 3, 1e-15);
        Predictions.FromTargets(oneHot).Should().Equal(1, 0, 1);
    }

    [Fact]
    public void Accuracy_allocates_nothing()
    {
        var s = Tensor.FromRows([[0.1f, 0.7f, 0.2f], [2.0f, -1.0f, 2.0f]]);
        int[] labels = [1, 0];
        Accuracy.Compute(s, labels);
        // The smallest of a few measured rounds (the runtime can allocate on this thread for a tier-up in any one).
        long allocated = long.MaxValue;
        for (int round = 0; round < 4 && allocated > 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++)
            {
                Accuracy.Compute(s, labels);
            }

            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        allocated.Should().Be(0);
    }

    [Fact]
    public void Accuracy_rejects_bad_input_with_the_value()
    {
        var p = Tensor.FromArray([0.9, 0.4], 2, 1);
        var act = () => Accuracy.Compute(p, [1, 2]);
        act.Should().Throw<ArgumentException>().WithMessage("labels[1] = 2 is outside [0, 2)*");
        act = () => Accuracy.Compute(p, [1]);
        act.Should().Throw<ArgumentException>().WithMessage("labels has 1 entries but the predictions have 2 examples*");
        act = () => Accuracy.Compute(p, Tensor.FromArray([1.0, 0.7], 2, 1));
        act.Should().Throw<ArgumentException>().WithMessage("binary targets must be 0 or 1; received 0.7 at row 1*");
        act = () => Accuracy.Compute(p, Tensor.FromArray([1.0, 0.0, 1.0], 3, 1));
        act.Should().Throw<ArgumentException>().WithMessage("targets have shape (3, 1) but predictions have shape (2, 1)*");
        act = () => Accuracy.Compute(new Tensor<double>(0, 3), ReadOnlySpan<int>.Empty);
        act.Should().Throw<ArgumentException>().WithMessage("predictions holds no examples*");
        act = () => Accuracy.MultiClass(p, [1, 0]);
        act.Should().Throw<ArgumentException>().WithMessage("multi-class accuracy needs*(2, 1)*");
        act = () => Accuracy.Binary(p, [1, 0], threshold: 2);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("threshold must be in [0, 1]; received 2*");
    }

    [Fact]
    public void Confusion_matrix_counts_and_scores_match_hand_computation()
    {
        var cm = ConfusionMatrix.FromLabels(_actual, _predicted, 3);
        cm.Total.Should().Be(10);
        long[,] expected = { { 3, 1, 0 }, { 0, 1, 1 }, { 1, 1, 2 } };
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                cm[i, j].Should().Be(expected[i, j]);
            }
        }

        cm.TruePositives(2).Should().Be(2);
        cm.FalsePositives(1).Should().Be(2);
        cm.FalseNegatives(2).Should().Be(2);
        cm.Support(0).Should().Be(4);
        cm.Predicted(1).Should().Be(3);

        cm.Precision(0).Should().BeApproximately(0.75, 1e-15);
        cm.Precision(1).Should().BeApproximately(1.0 / 3, 1e-15);
        cm.Precision(2).Should().BeApproximately(2.0 / 3, 1e-15);
        cm.Recall(0).Should().BeApproximately(0.75, 1e-15);
        cm.Recall(1).Should().BeApproximately(0.5, 1e-15);
        cm.Recall(2).Should().BeApproximately(0.5, 1e-15);
        cm.F1(0).Should().BeApproximately(0.75, 1e-15);
        cm.F1(1).Should().BeApproximately(0.4, 1e-15);
        cm.F1(2).Should().BeApproximately(4.0 / 7, 1e-15);
        cm.MacroPrecision.Should().BeApproximately(1.75 / 3, 1e-15);
        cm.MacroRecall.Should().BeApproximately(1.75 / 3, 1e-15);
        cm.MacroF1.Should().BeApproximately((0.75 + 0.4 + (4.0 / 7)) / 3, 1e-15);
        cm.Accuracy.Should().BeApproximately(0.6, 1e-15);
    }

    [Fact]
    public void Confusion_matrix_from_tensors_and_by_accumulation_agree()
    {
        // Scores whose argmax is _predicted, and one-hot targets for _actual.
        var scores = new Tensor<float>(10, 3);
        var targets = new Tensor<float>(10, 3);
        var acc = new ConfusionMatrix(3);
        for (int i = 0; i < 10; i++)
        {
            scores.Row(i).Fill(0.1f);
            scores.Row(i)[_predicted[i]] = 0.8f;
            targets.Row(i)[_actual[i]] = 1;
            acc.Add(_actual[i], _predicted[i]);
        }

        var fromLabels = ConfusionMatrix.FromLabels(_actual, _predicted, 3);
        var a = ConfusionMatrix.Compute(scores, _actual);
        var b = ConfusionMatrix.Compute(scores, targets);
        foreach (var cm in new[] { a, b, acc })
        {
            cm.ToString().Should().Be(fromLabels.ToString());
        }

        a.Accuracy.Should().Be(Accuracy.Compute(scores, _actual));
    }

    [Fact]
    public void Binary_predictions_give_a_two_class_matrix()
    {
        // ŷ > 0.5 → [1, 0, 0, 1]; labels [1, 1, 0, 0]: TP(1) = 1, FN(1) = 1, FP(1) = 1, TN = 1.
        var cm = ConfusionMatrix.Compute(Tensor.FromArray([0.8, 0.2, 0.3, 0.6], 4, 1), [1, 1, 0, 0]);
        cm.ClassCount.Should().Be(2);
        cm[1, 1].Should().Be(1);
        cm[1, 0].Should().Be(1);
        cm[0, 1].Should().Be(1);
        cm[0, 0].Should().Be(1);
        cm.Precision(1).Should().Be(0.5);
        cm.Recall(1).Should().Be(0.5);
    }

    [Fact]
    public void A_class_never_predicted_has_precision_zero_and_an_absent_class_recall_zero()
    {
        // C = 4: class 2 occurs but is never predicted; class 3 neither occurs nor is predicted.
        var cm = ConfusionMatrix.FromLabels([0, 1, 2], [0, 0, 1], 4);
        cm.Precision(2).Should().Be(0);
        cm.Recall(2).Should().Be(0);
        cm.F1(2).Should().Be(0);
        cm.Precision(3).Should().Be(0);
        cm.Recall(3).Should().Be(0);
        cm.F1(3).Should().Be(0);
        cm.Precision(0).Should().Be(0.5);
        cm.Recall(0).Should().Be(1);
        cm.MacroRecall.Should().BeApproximately(1.0 / 3, 1e-15, "(1 + 0 + 0)/3: class 3, neither true nor predicted, is left out");
        new ConfusionMatrix(3).Accuracy.Should().Be(0);
    }

    [Fact]
    public void Macro_averages_leave_out_classes_neither_true_nor_predicted_as_scikit_learn_does()
    {
        // Perfect predictions on a set missing class 2: scikit-learn's f1_score(average='macro') is 1, not 2/3.
        var perfect = ConfusionMatrix.FromLabels([0, 0, 1, 1], [0, 0, 1, 1], 3);
        perfect.PresentClassCount.Should().Be(2);
        perfect.MacroPrecision.Should().Be(1);
        perfect.MacroRecall.Should().Be(1);
        perfect.MacroF1.Should().Be(1);
        perfect.F1(2).Should().Be(0, "the per-class score of an absent class keeps its zero-division value");

        // Class 2 predicted but never true counts (precision 0/1, recall 0/0 = 0); class 3 does not.
        // scikit-learn: precision_recall_fscore_support([0,0,1,1], [0,2,1,1], average='macro') = (2/3, 1/2, 5/9).
        var cm = ConfusionMatrix.FromLabels([0, 0, 1, 1], [0, 2, 1, 1], 4);
        cm.PresentClassCount.Should().Be(3);
        cm.MacroPrecision.Should().BeApproximately(2.0 / 3, 1e-15);
        cm.MacroRecall.Should().BeApproximately(0.5, 1e-15);
        cm.MacroF1.Should().BeApproximately(5.0 / 9, 1e-15);

        // scikit-learn on ([0,1,2], [0,0,1]) with a fourth class absent: (1/6, 1/3, 2/9).
        var partial = ConfusionMatrix.FromLabels([0, 1, 2], [0, 0, 1], 4);
        partial.MacroPrecision.Should().BeApproximately(1.0 / 6, 1e-15);
        partial.MacroF1.Should().BeApproximately(2.0 / 9, 1e-15);

        // No examples: no class is present, and the averages are 0 like the accuracy.
        var empty = new ConfusionMatrix(3);
        empty.PresentClassCount.Should().Be(0);
        empty.MacroPrecision.Should().Be(0);
        empty.MacroRecall.Should().Be(0);
        empty.MacroF1.Should().Be(0);

        // The report says how many classes the averages cover when some are left out, and nothing when none are.
        perfect.ToString().Should().Contain("macro avg            1.0000     1.0000     1.0000          4  (over the 2 of 3 classes true or predicted)");
        ConfusionMatrix.FromLabels(_actual, _predicted, 3).ToString().Should().NotContain("(over the");
    }

    [Fact]
    public void ToString_lays_out_counts_and_scores_with_class_names()
    {
        var cm = ConfusionMatrix.FromLabels(_actual, _predicted, 3);
        string text = cm.ToString(["cat", "dog", "bird"]);
        var lines = text.Split('\n');
        lines[0].Should().Be("true \\ predicted   cat   dog  bird");
        lines[1].Should().Be("cat                  3     1     0");
        lines[3].Should().Be("bird                 1     1     2");
        text.Should().Contain("dog                  0.3333     0.5000     0.4000          2");
        text.Should().Contain("macro avg            0.5833     0.5833     0.5738         10");
        text.Should().EndWith("accuracy                                   0.6000         10");
        var act = () => cm.ToString(["a", "b"]);
        act.Should().Throw<ArgumentException>().WithMessage("classNames has 2 names but the matrix has 3 classes*");
    }

    [Fact]
    public void Confusion_matrix_rejects_out_of_range_labels()
    {
        var act = () => ConfusionMatrix.FromLabels([0, 3], [0, 1], 3);
        act.Should().Throw<ArgumentException>().WithMessage("actual[1] = 3 is outside [0, 3)*");
        act = () => ConfusionMatrix.FromLabels([0, 1], [0], 3);
        act.Should().Throw<ArgumentException>().WithMessage("predicted has 1 labels but actual has 2*");
        var make = () => new ConfusionMatrix(1);
        make.Should().Throw<ArgumentOutOfRangeException>().WithMessage("classCount must be at least 2; received 1*");
    }

    [Fact]
    public void NaN_or_infinite_predictions_are_refused_naming_the_cell_not_scored_as_class_0()
    {
        // The argmax of a NaN row is 0 and NaN > 0.5 is false: these used to count such a row as class 0.
        var multi = Tensor.FromArray(new double[,] { { 0.1, 0.8, 0.1 }, { double.NaN, 0, 0 } });
        var oneHot = DataSet.OneHot<double>([1, 0], 3);
        var binary = Tensor.FromArray([0.9, double.PositiveInfinity], 2, 1);
        const string Nan = "predictions holds NaN at row 1, column 0; a row with NaN or ±∞ has no class";
        FluentActions.Invoking(() => Accuracy.Compute(multi, [1, 0])).Should().Throw<InvalidDataException>().WithMessage(Nan);
        FluentActions.Invoking(() => Accuracy.Compute(multi, oneHot)).Should().Throw<InvalidDataException>().WithMessage(Nan);
        FluentActions.Invoking(() => Accuracy.MultiClass(multi, [1, 0])).Should().Throw<InvalidDataException>().WithMessage(Nan);
        FluentActions.Invoking(() => Accuracy.Binary(binary, [1, 0])).Should().Throw<InvalidDataException>().WithMessage("predictions holds Infinity at row 1, column 0*");
        FluentActions.Invoking(() => Accuracy.MultiLabel(multi, oneHot)).Should().Throw<InvalidDataException>().WithMessage("probabilities holds NaN at row 1, column 0*");
        FluentActions.Invoking(() => Predictions.ToLabels(multi)).Should().Throw<InvalidDataException>().WithMessage(Nan);
        FluentActions.Invoking(() => Predictions.ToMultiLabel(multi)).Should().Throw<InvalidDataException>().WithMessage(Nan);
        FluentActions.Invoking(() => ConfusionMatrix.Compute(multi, [1, 0])).Should().Throw<InvalidDataException>().WithMessage(Nan);
        FluentActions.Invoking(() => ConfusionMatrix.Compute(multi, oneHot)).Should().Throw<InvalidDataException>().WithMessage(Nan);
        FluentActions.Invoking(() => ConfusionMatrix.PerLabel(multi, oneHot)).Should().Throw<InvalidDataException>().WithMessage(Nan);

        var nanTargets = Tensor.FromArray(new double[,] { { 0, 1, 0 }, { 1, double.NaN, 0 } });
        FluentActions.Invoking(() => Predictions.FromTargets(nanTargets)).Should().Throw<InvalidDataException>().WithMessage("targets holds NaN at row 1, column 1*");
        FluentActions.Invoking(() => Accuracy.Compute(oneHot, nanTargets)).Should().Throw<InvalidDataException>().WithMessage("targets holds NaN at row 1, column 1*");
    }

    [Fact]
    public void A_class_argument_out_of_range_is_named_as_itself_not_as_a_span_entry()
    {
        // These said "actual[0] = 99 is outside [0, 3)" (parameter "actual") for Precision(99), Add(…) and the indexer.
        var cm = ConfusionMatrix.FromLabels(_actual, _predicted, 3);
        cm.Invoking(m => m.Precision(99)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("c").WithMessage("c must be a class in [0, 3); received 99*");
        cm.Invoking(m => m.Recall(-1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("c").WithMessage("c must be a class in [0, 3); received -1*");
        cm.Invoking(m => m.TruePositives(3)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("c");
        cm.Invoking(m => m.Add(0, 7)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("predicted").WithMessage("predicted must be a class in [0, 3); received 7*");
        cm.Invoking(m => m[5, 0]).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("actual").WithMessage("actual must be a class in [0, 3); received 5*");
        cm.Total.Should().Be(_actual.Length, "a refused Add counts nothing");
    }

    [Theory]
    [InlineData(46_341)] // C² wraps around int: the allocation threw an OverflowException
    [InlineData(int.MaxValue)]
    public void A_class_count_whose_square_cannot_be_allocated_is_refused_naming_it(int classCount)
    {
        var make = () => new ConfusionMatrix(classCount);
        make.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("classCount").WithMessage($"classCount {classCount} needs * counts (C²), more than the largest array holds*");
    }
}
