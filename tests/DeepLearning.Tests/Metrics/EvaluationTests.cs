namespace DeepLearning.Tests.Metrics;

/// <summary>Issue 12.2 and regression as a first-class task: one Evaluation type, regression metrics in original units.</summary>
public class EvaluationTests
{
    // ŷ = 2x + 1 on x = 0..3 against y = 1, 2, 5, 9: residuals 0, 1, 0, −2.
    private static (Model<double> Model, Tensor<double> X, Tensor<double> Y) Line()
    {
        var model = Model.Sequential<double>(1).Dense(1).Build(seed: 1);
        var dense = (Dense<double>)model.Layers[0];
        dense.Weight.Value[0, 0] = 2;
        dense.Bias!.Value[0] = 1;
        var x = Tensor.FromArray(new double[] { 0, 1, 2, 3 }, 4, 1);
        var y = Tensor.FromArray(new double[] { 1, 2, 5, 9 }, 4, 1);
        return (model, x, y);
    }

    [Fact]
    public void An_empty_set_evaluates_to_nan_not_to_a_perfect_zero()
    {
        // E.g. the test part of Split(0.7, 0.3, 0): a cost or MSE of 0 would read as a perfect model.
        var regression = Model.Sequential<double>(2).Dense(1).Build(seed: 1).Evaluate(new Tensor<double>(0, 2), new Tensor<double>(0, 1));
        regression.Count.Should().Be(0);
        regression.Cost.Should().Be(double.NaN);
        regression.MeanSquaredError.Should().Be(double.NaN);
        regression.MeanAbsoluteError.Should().Be(double.NaN);
        regression.RSquared.Should().Be(double.NaN);

        var classifier = Model.Sequential<double>(2).Dense(3).Softmax().Build(seed: 1).Evaluate(DataSet.FromLabels(new Tensor<double>(0, 2), [], 3));
        classifier.Cost.Should().Be(double.NaN);
        classifier.Accuracy.Should().BeNull();
    }

    [Fact]
    public void Regression_evaluate_reports_mse_rmse_mae_and_r2_computed_by_hand()
    {
        var (model, x, y) = Line();
        var e = model.Evaluate(x, y);
        // Σr² = 5, Σ|r| = 3, ȳ = 4.25, Σ(y − ȳ)² = 3.25² + 2.25² + 0.75² + 4.75² = 38.75.
        e.Accuracy.Should().BeNull();
        e.ConfusionMatrix.Should().BeNull();
        e.IsRegression.Should().BeTrue();
        e.MeanSquaredError.Should().BeApproximately(5.0 / 4, 1e-12, "the plain mean, as scikit-learn reports it");
        e.RootMeanSquaredError.Should().BeApproximately(Math.Sqrt(1.25), 1e-12);
        e.MeanAbsoluteError.Should().BeApproximately(3.0 / 4, 1e-12);
        e.RSquared.Should().BeApproximately(1 - (5 / 38.75), 1e-12);
        e.Cost.Should().BeApproximately(0.625, 1e-12, "the training loss J = (1/2m)·Σr² is ½·MSE");
        e.ToString().Should().Contain("MSE = 1.25").And.Contain("R² = 0.8710");

        // One example has no spread to explain: NaN, as scikit-learn's r2_score gives, not a 0 or 1 that reads as a verdict.
        var one = model.Evaluate(x.Rows(0, 1), y.Rows(0, 1));
        one.RSquared.Should().Be(double.NaN);
        one.MeanSquaredError.Should().NotBe(double.NaN);

        // Evaluate(x, y) and Evaluate(dataSet) give the same record.
        model.Evaluate(DataSet.FromTargets(x, y)).Should().BeEquivalentTo(e);
    }

    [Fact]
    public void Several_regression_outputs_get_regression_metrics_not_an_argmax_accuracy()
    {
        var model = Model.Sequential<double>(3).Dense(2).Build(seed: 2);
        var (x, y) = TestData.Problem<double>(50, 3, 2, "regression", seed: 4);
        var e = model.Evaluate(x, y);
        e.Accuracy.Should().BeNull();
        var p = model.Predict(x);
        double sse = 0, sae = 0;
        for (int i = 0; i < 50; i++)
        {
            for (int j = 0; j < 2; j++)
            {
                sse += (p[i, j] - y[i, j]) * (p[i, j] - y[i, j]);
                sae += Math.Abs(p[i, j] - y[i, j]);
            }
        }

        e.MeanSquaredError.Should().BeApproximately(sse / 100, 1e-12);
        e.MeanAbsoluteError.Should().BeApproximately(sae / 100, 1e-12);
        var act = () => model.PredictClasses(x);
        act.Should().Throw<InvalidOperationException>().WithMessage("*regression*Predict*");
    }

    [Fact]
    public void A_target_transform_trains_on_standardized_y_and_predicts_and_reports_in_original_units()
    {
        // y = 1000·x + 5000 (+ noise): far from unit scale.
        var random = new RandomSource(3);
        var x = new Tensor<double>(200, 1);
        var y = new Tensor<double>(200, 1);
        for (int i = 0; i < 200; i++)
        {
            x[i, 0] = random.NextGaussian();
            y[i, 0] = (1000 * x[i, 0]) + 5000 + (10 * random.NextGaussian());
        }

        var data = DataSet.FromTargets(x, y);
        var model = Model.Sequential<double>(1).Dense(1).StandardizeTargets(data).Build(seed: 1);
        model.TargetTransform!.Mean[0].Should().BeApproximately(5000, 250);
        model.Fit(x, y, new TrainingOptions<double> { Optimizer = new Adam(0.05), Epochs = 60, BatchSize = 50 });

        var prediction = model.Predict(Tensor.FromArray(new double[] { 0, 1 }, 2, 1));
        prediction[0, 0].Should().BeApproximately(5000, 20, "predictions come back in original units");
        prediction[1, 0].Should().BeApproximately(6000, 20);

        var e = model.Evaluate(x, y);
        e.RootMeanSquaredError.Should().BeInRange(5, 20, "the noise has σ = 10 in original units");
        e.RSquared.Should().BeGreaterThan(0.999);
        e.Cost.Should().BeLessThan(0.01, "the cost is measured on standardized targets, as training sees it");

        // The output-unit metrics agree with Predict.
        var p = model.Predict(x);
        double sse = 0;
        for (int i = 0; i < 200; i++)
        {
            sse += (p[i, 0] - y[i, 0]) * (p[i, 0] - y[i, 0]);
        }

        e.MeanSquaredError.Should().BeApproximately(sse / 200, 1e-6 * sse / 200);

        // Saved and loaded with the model; the float copy keeps it too.
        string path = Path.Combine(Path.GetTempPath(), $"target-transform-{Environment.ProcessId}.safetensors");
        try
        {
            model.Save(path);
            var loaded = Model.Load<double>(path);
            loaded.TargetTransform.Should().NotBeNull();
            loaded.Predict(x).Should().Be(p);
        }
        finally
        {
            File.Delete(path);
        }

        model.ConvertTo<float>().Predict(x.ConvertTo<float>())[0, 0].Should().BeApproximately((float)p[0, 0], 0.5f);
        var classifier = Model.Sequential<double>(1).Dense(2).Softmax().Build();
        var wrong = () => classifier.TargetTransform = Standardizer.Fit(y);
        wrong.Should().Throw<ArgumentException>().WithMessage("*regression*classifier*");
    }

    [Fact]
    public void Evaluate_on_a_set_missing_a_class_macro_averages_over_the_classes_present()
    {
        // A 3-class model whose logits are (x₀, x₁, −10): it predicts class 0 or 1 exactly as the dev set's labels,
        // and the dev set has no class 2. Perfect predictions give macro F1 = 1 (scikit-learn's), not 2/3.
        var model = Model.Sequential<double>(2).Dense(3).Softmax().Build(seed: 1);
        var dense = (Dense<double>)model.Layers[0];
        dense.Weight.Value.Fill(0);
        dense.Weight.Value[0, 0] = 1;
        dense.Weight.Value[1, 1] = 1;
        dense.Bias!.Value.Fill(0);
        dense.Bias.Value[2] = -10;
        var x = Tensor.FromArray(new double[] { 1, 0, 1, 0, 0, 1, 0, 1 }, 4, 2);
        var e = model.Evaluate(DataSet.FromLabels(x, [0, 0, 1, 1], 3));
        e.Accuracy.Should().Be(1);
        e.ConfusionMatrix!.MacroF1.Should().Be(1);
        e.ConfusionMatrix.MacroPrecision.Should().Be(1);
        e.ConfusionMatrix.MacroRecall.Should().Be(1);
    }

    [Fact]
    public void Classification_evaluate_on_tensors_and_data_sets_is_the_same_record_with_class_names()
    {
        var (x, y) = TestData.Problem<float>(60, 4, 3, "softmax", seed: 8);
        var labels = DataSet.ToLabels(y);
        var data = DataSet.FromLabels(x, labels, 3, ["cat", "dog", "eel"]);
        var model = Model.Sequential<float>(4).Dense(3).Softmax().Build(seed: 2);
        model.Fit(data, new TrainingOptions<float> { Epochs = 2 });
        model.ClassNames.Should().Equal("cat", "dog", "eel");

        var fromTensors = model.Evaluate(data.X, data.Y);
        var fromSet = model.Evaluate(data);
        fromTensors.Should().BeEquivalentTo(fromSet);
        fromTensors.IsRegression.Should().BeFalse();
        fromTensors.ConfusionMatrix!.ClassNames.Should().Equal("cat", "dog", "eel");
        fromTensors.ToString().Should().Contain("cat").And.Contain("eel");
        fromTensors.ConfusionMatrix.Total.Should().Be(60);

        string path = Path.Combine(Path.GetTempPath(), $"class-names-{Environment.ProcessId}.safetensors");
        try
        {
            model.Save(path);
            Model.Load<float>(path).ClassNames.Should().Equal("cat", "dog", "eel");
        }
        finally
        {
            File.Delete(path);
        }

        var wrongCount = () => model.ClassNames = ["a", "b"];
        wrongCount.Should().Throw<ArgumentException>().WithMessage("*3 classes*2 class names*");
    }

    [Fact]
    public void Evaluations_reuse_the_models_chunk_buffers_and_give_the_same_figures_again_and_from_several_threads()
    {
        // 2,500 rows: two full 1,024-row chunks and a partial one, through buffers the model keeps between calls.
        var (x, y) = TestData.Problem<float>(2500, 12, 4, "softmax", seed: 21);
        var data = DataSet.FromLabels(x, DataSet.ToLabels(y), 4);
        var classifier = Model.Sequential<float>(12).Dense(16).ReLU().Dense(4).Softmax().Build(seed: 3);
        classifier.InputTransform = Standardizer.Fit(data);
        classifier.RefuseStandardizedInput = false;
        var first = classifier.Evaluate(data);
        first.ConfusionMatrix!.Total.Should().Be(2500);
        classifier.Evaluate(data.Take(700)); // a smaller evaluation in between leaves other values in the buffers
        classifier.Evaluate(data).Should().BeEquivalentTo(first);
        classifier.Evaluate(data.X, data.Y).Should().BeEquivalentTo(first, "tensors are evaluated in the same chunks as a data set");
        var concurrent = Enumerable.Range(0, 6).AsParallel().WithDegreeOfParallelism(6).Select(_ => classifier.Evaluate(data)).ToArray();
        concurrent.Should().AllSatisfy(e => e.Should().BeEquivalentTo(first));

        // A regression with standardized targets undoes the transform in the buffer each chunk: the figures stay in
        // original units from one evaluation to the next.
        var targets = Tensor.FromArray(Enumerable.Range(0, 2500).Select(i => 100f + (3f * x[i, 0]) - x[i, 5]).ToArray(), 2500, 1);
        var regressionData = DataSet.FromTargets(x, targets);
        var regression = Model.Sequential<float>(12).Dense(8).ReLU().Dense(1).Build(seed: 4);
        regression.TargetTransform = Standardizer.Fit(targets);
        regression.Fit(regressionData, new TrainingOptions<float> { Epochs = 2, Seed = 1 });
        var once = regression.Evaluate(regressionData);
        regression.Evaluate(regressionData).Should().BeEquivalentTo(once);
        once.RootMeanSquaredError.Should().BeLessThan(50);
    }

    [Fact]
    public void Data_whose_class_names_differ_from_the_models_is_refused_by_Fit_and_Evaluate_naming_both()
    {
        // A test CSV of text labels read without ClassNames = train.ClassNames numbers its classes afresh: "ant" became
        // class 0, which the model knows as "cat", and Evaluate and the dev figures scored it against the wrong class.
        var (x, y) = TestData.Problem<float>(30, 4, 3, "softmax", seed: 8);
        var labels = DataSet.ToLabels(y);
        var train = DataSet.FromLabels(x, labels, 3, ["cat", "dog", "eel"]);
        var other = DataSet.FromLabels(x, labels, 3, ["ant", "dog", "eel"]);
        var model = Model.Sequential<float>(4).Dense(3).Softmax().Build(seed: 2);
        const string Message = "the * has class names [ant, dog, eel] but the * has [cat, dog, eel], so class 0 would be 'ant' in one and 'cat' in the other; read the data with the same class names*";

        model.Invoking(m => m.Fit(train, new TrainingOptions<float> { Epochs = 1, Validation = other }))
            .Should().Throw<ArgumentException>().WithMessage(Message.Replace("the * has class names", "the validation data has class names").Replace("but the * has", "but the training data has"));
        model.ClassNames.Should().BeNull("a refused Fit changes nothing");

        model.Fit(train, new TrainingOptions<float> { Epochs = 1 });
        model.Invoking(m => m.Evaluate(other)).Should().Throw<ArgumentException>().WithMessage(Message.Replace("the * has class names", "the evaluation data has class names").Replace("but the * has", "but the model has"));
        model.Invoking(m => m.Fit(other, new TrainingOptions<float> { Epochs = 1 })).Should().Throw<ArgumentException>().WithMessage("the training data has class names [ant, dog, eel] but the model has*");

        // The same names, or data without names (tensors, regression-style sets), are scored as before.
        model.Evaluate(DataSet.FromLabels(x, labels, 3, ["cat", "dog", "eel"])).Should().BeEquivalentTo(model.Evaluate(x, y));
        model.Evaluate(DataSet.FromLabels(x, labels, 3)).Should().BeEquivalentTo(model.Evaluate(x, y));
    }

    [Fact]
    public void A_classifier_with_more_classes_than_a_confusion_matrix_is_kept_for_is_evaluated_without_one()
    {
        // 50,000 classes: the C×C matrix (2.5e9 counts) was refused with an ArgumentOutOfRangeException about a
        // classCount the caller never passed, so Evaluate gave no accuracy at all (and 20,000 classes allocated 3.2 GB).
        var x = Tensor.FromArray(new float[,] { { 1, 0 }, { 0, 1 }, { 1, 1 } });
        var labels = new[] { 7, 49_999, 7 };
        var y = DataSet.OneHot<float>(labels, 50_000);
        var model = Model.Sequential<float>(2).Dense(50_000).Softmax().Build(seed: 1);
        var evaluation = model.Evaluate(x, y);
        evaluation.ConfusionMatrix.Should().BeNull();
        var predicted = model.PredictClasses(x);
        evaluation.Accuracy.Should().Be(predicted.Zip(labels).Count(p => p.First == p.Second) / 3.0);
        evaluation.Cost.Should().BeApproximately(model.Cost(x, y, training: false), 1e-6);
        evaluation.ToString().Should().StartWith("m = 3, cost = ");

        // At the limit the matrix is still there.
        var atLimit = Model.Sequential<float>(2).Dense(Evaluation.MaxConfusionMatrixClasses).Softmax().Build(seed: 1);
        atLimit.Evaluate(x, DataSet.OneHot<float>(labels.Select(l => l % 100).ToArray(), Evaluation.MaxConfusionMatrixClasses))
            .ConfusionMatrix!.ClassCount.Should().Be(Evaluation.MaxConfusionMatrixClasses);
    }

    [Fact]
    public void Targets_that_do_not_suit_the_loss_are_refused_by_Evaluate_as_by_Fit()
    {
        // A test set labelled 0, 1, 2 given to a binary sigmoid model: Fit refuses such targets, but Evaluate scored the
        // 2 as class 1 and reported a cost with y = 2 in the cross-entropy, a plausible evaluation of data it cannot mean.
        var x = Tensor.FromArray(new float[,] { { 0, 1 }, { 1, 0 }, { 1, 1 }, { 0, 0 } });
        var labels012 = Tensor.FromArray(new float[,] { { 0 }, { 1 }, { 2 }, { 1 } });
        var binary = Model.Sequential<float>(2).Dense(1).Sigmoid().Build(seed: 1);
        const string Sigmoid = "the evaluation data's targets Y must be in [0, 1] for sigmoid*row 2, column 0 holds 2*";
        binary.Invoking(m => m.Evaluate(x, labels012)).Should().Throw<ArgumentException>().WithMessage(Sigmoid).Which.ParamName.Should().Be("y");
        binary.Invoking(m => m.Evaluate(DataSet.FromTargets(x, labels012))).Should().Throw<ArgumentException>().WithMessage(Sigmoid).Which.ParamName.Should().Be("data");
        binary.Invoking(m => m.Fit(x, labels012, new TrainingOptions<float> { Epochs = 1 })).Should().Throw<ArgumentException>().WithMessage("the training data's targets Y must be in [0, 1] for sigmoid*");

        // A softmax model given a row with no class (all zeros) scored it as class 0.
        var y = Tensor.FromArray(new float[,] { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 0 }, { 0, 0, 1 } });
        var softmax = Model.Sequential<float>(2).Dense(3).Softmax().Build(seed: 1);
        softmax.Invoking(m => m.Evaluate(x, y)).Should().Throw<ArgumentException>().WithMessage("the evaluation data's targets Y must be probability rows for softmax*row 2 sums to 0*");
        softmax.Invoking(m => m.Evaluate(DataSet.FromTargets(x, y))).Should().Throw<ArgumentException>().WithMessage("*row 2 sums to 0*");

        // What Fit accepts, Evaluate accepts: one-hot and label-smoothed rows, 0/1 and probability columns.
        y[2, 0] = 0.1f;
        y[2, 1] = 0.8f;
        y[2, 2] = 0.1f;
        softmax.Evaluate(x, y).Count.Should().Be(4);
        labels012[2, 0] = 0.9f;
        binary.Evaluate(DataSet.FromTargets(x, labels012)).Count.Should().Be(4);
    }
}
