namespace DeepLearning.Tests.Metrics;

/// <summary>
/// A model whose output overflows to NaN on finite inputs is scored as wrong, never as the class a NaN selects (the
/// argmax of a NaN row is 0, NaN &gt; 0.5 is false): Evaluate, Fit's dev accuracy and the bias/variance diagnosis.
/// </summary>
public class NonFiniteOutputTests
{
    // Inputs of 3e38 are finite in float, but the hidden layer's sums overflow and the softmax (or sigmoid) gives NaN.
    private static Model<float> Softmax() => Model.Sequential<float>(2).Dense(3).ReLU().Dense(3).Softmax().Build(1);

    private static Model<float> Sigmoid(int outputs) => Model.Sequential<float>(2).Dense(3).ReLU().Dense(outputs).Sigmoid().Build(1);

    private static DataSet<float> Huge(int rows, int classes) => DataSet.FromLabels(Tensor.Full(3e38f, rows, 2), new int[rows], classes);

    [Fact]
    public void A_softmax_model_that_outputs_nan_scores_zero_accuracy_and_leaves_every_row_unclassified()
    {
        var model = Softmax();
        var data = Huge(4, 3);
        model.Predict(data.X).ToArray().Should().OnlyContain(v => float.IsNaN(v), "the premise: every output overflowed");

        var e = model.Evaluate(data);
        e.Cost.Should().Be(double.NaN);
        e.Accuracy.Should().Be(0, "was 1.0: the NaN rows' argmax 0 matched the labels 0");
        e.NonFiniteOutputCount.Should().Be(4);
        var cm = e.ConfusionMatrix!;
        cm.Total.Should().Be(4);
        cm.UnclassifiedTotal.Should().Be(4);
        cm.Unclassified(0).Should().Be(4);
        cm[0, 0].Should().Be(0);
        cm.Support(0).Should().Be(4);
        cm.FalseNegatives(0).Should().Be(4);
        cm.Predicted(0).Should().Be(0);
        cm.Accuracy.Should().Be(0);
        cm.Recall(0).Should().Be(0);
        cm.MacroF1.Should().Be(0, "was 1.0");
        e.ToString().Should().Contain("4 of 4 outputs NaN or ±∞ (counted wrong)").And.Contain("no class (NaN)");

        var tensors = model.Evaluate(data.X, data.Y);
        tensors.Accuracy.Should().Be(0);
        tensors.NonFiniteOutputCount.Should().Be(4);
    }

    [Fact]
    public void Only_the_rows_that_overflowed_count_as_wrong()
    {
        var model = Softmax();
        var x = Tensor.FromArray(new float[] { 3e38f, 3e38f, 0.5f, -1, 1, 2, 3e38f, 3e38f, -2, 0.25f, 1, 1 }, 6, 2);
        var finite = Tensor.FromArray(new float[] { 0.5f, -1, 1, 2, -2, 0.25f, 1, 1 }, 4, 2);
        int[] labels = [0, 1, 2, 0, 1, 2];
        int[] finiteLabels = [1, 2, 1, 2];
        var all = model.Evaluate(DataSet.FromLabels(x, labels, 3));
        var reference = model.Evaluate(DataSet.FromLabels(finite, finiteLabels, 3));

        all.NonFiniteOutputCount.Should().Be(2);
        all.Accuracy.Should().Be(reference.Accuracy!.Value * 4 / 6, "the finite rows score as alone; the two NaN rows are wrong");
        var cm = all.ConfusionMatrix!;
        cm.Unclassified(0).Should().Be(2);
        cm.Total.Should().Be(6);
        for (int a = 0; a < 3; a++)
        {
            for (int p = 0; p < 3; p++)
            {
                cm[a, p].Should().Be(reference.ConfusionMatrix![a, p]);
            }

            cm.Precision(a).Should().Be(reference.ConfusionMatrix!.Precision(a), "a row of no class is no prediction of any class");
        }

        reference.NonFiniteOutputCount.Should().Be(0);
        reference.ToString().Should().NotContain("NaN or ±∞");
    }

    [Fact]
    public void A_sigmoid_output_of_nan_is_wrong_for_label_0_as_for_label_1()
    {
        var e = Sigmoid(1).Evaluate(Huge(4, 2));
        e.Accuracy.Should().Be(0, "NaN > 0.5 is false, which matched label 0");
        e.NonFiniteOutputCount.Should().Be(4);
        e.ConfusionMatrix!.MacroF1.Should().Be(0);
        e.ConfusionMatrix.Unclassified(0).Should().Be(4);
    }

    [Fact]
    public void A_multi_label_row_with_nan_output_has_all_its_cells_wrong()
    {
        var model = Sigmoid(3);
        var x = Tensor.FromArray(new float[] { 3e38f, 3e38f, 0.5f, -1 }, 2, 2);
        var y = new Tensor<float>(2, 3);
        var e = model.Evaluate(x, y);
        var finiteRow = model.Evaluate(x.Rows(1, 1), y.Rows(1, 1));
        e.NonFiniteOutputCount.Should().Be(1);
        e.Accuracy.Should().Be(finiteRow.Accuracy!.Value * 3 / 6);
    }

    [Fact]
    public void A_regression_counts_its_overflowed_rows()
    {
        var model = Model.Sequential<float>(2).Dense(3).ReLU().Dense(1).Build(1);
        model.RefuseStandardizedInput = false;
        var e = model.Evaluate(Tensor.Full(3e38f, 3, 2), new Tensor<float>(3, 1));
        e.NonFiniteOutputCount.Should().Be(3);
        double.IsFinite(e.MeanSquaredError!.Value).Should().BeFalse();
    }

    [Fact]
    public void Fits_dev_accuracy_counts_an_overflowed_dev_output_as_wrong()
    {
        var rnd = new RandomSource(3);
        var train = DataSet.FromLabels(Tensor.RandomNormal<float>(rnd, [30, 2]), Enumerable.Range(0, 30).Select(i => i % 3).ToArray(), 3);
        var model = Softmax();
        var history = model.Fit(train, new TrainingOptions<float> { Epochs = 2, BatchSize = 10, Validation = Huge(4, 3) });
        foreach (var epoch in history.Epochs)
        {
            epoch.DevCost.Should().Be(double.NaN, "the dev pass records the overflow rather than stopping");
            epoch.DevMetric.Should().Be(0, "was 1: the NaN rows' argmax matched the labels 0");
        }
    }

    [Fact]
    public void Bias_variance_refuses_a_model_whose_outputs_overflow()
    {
        var model = Softmax();
        var fine = DataSet.FromLabels(Tensor.FromArray(new float[] { 0.5f, -1, 1, 2 }, 2, 2), [0, 1], 3);
        var act = () => BiasVariance.Diagnose(model, Huge(4, 3), Huge(4, 3));
        act.Should().Throw<InvalidOperationException>().WithMessage("the model's output is NaN or ±∞ on 4 of the 4 examples of the training set (its cost is NaN)*");
        var dev = () => BiasVariance.Diagnose(model, fine, Huge(4, 3));
        dev.Should().Throw<InvalidOperationException>().WithMessage("*on 4 of the 4 examples of the dev set*");
    }
}
