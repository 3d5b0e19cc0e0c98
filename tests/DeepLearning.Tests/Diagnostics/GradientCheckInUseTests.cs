namespace DeepLearning.Tests.Diagnostics;

/// <summary>
/// A gradient check of a <c>Model&lt;double&gt;</c> perturbs the live weights: it holds the model as a Fit does, so a Fit
/// (or a Save) of it on another thread during the check is refused, and so is a check or a Save from another thread
/// during a Fit. From a callback on the training thread, checking and saving still work.
/// </summary>
public class GradientCheckInUseTests
{
    [Fact]
    public void During_a_fit_a_check_or_save_from_another_thread_is_refused_and_from_the_training_thread_allowed()
    {
        var (x, y) = TestData.Problem<double>(16, 4, 3, "softmax", seed: 2);
        var data = DataSet.FromTargets(x, y);
        var model = Model.Sequential<double>(4).Dense(5).Tanh().Dense(3).Softmax().Build(seed: 1);
        string dir = Directory.CreateTempSubdirectory("dl-inuse-").FullName;
        try
        {
            string fromOther = Path.Combine(dir, "other.safetensors");
            string fromCallback = Path.Combine(dir, "callback.safetensors");
            Exception? checkRefused = null, saveRefused = null;
            GradientCheckReport? inCallback = null;
            double[][]? weightsBeforeCallbackCheck = null, weightsAfterCallbackCheck = null;
            var callback = new LambdaCallback((context, record) =>
            {
                if (record.Epoch != 2)
                {
                    return;
                }

                // Another thread, while the Fit is paused here (holding the model).
                var other = new Thread(() =>
                {
                    checkRefused = Record.Exception(() => GradientChecker.Check(model, x, y));
                    saveRefused = Record.Exception(() => model.Save(fromOther));
                });
                other.Start();
                other.Join();

                // This (the training) thread: the Fit waits for the check, and the checkpoint-style save.
                weightsBeforeCallbackCheck = Weights(model);
                inCallback = GradientChecker.Check(model, x, y);
                weightsAfterCallbackCheck = Weights(model);
                model.Save(fromCallback);
            });

            model.Fit(data, new TrainingOptions<double> { Epochs = 3, BatchSize = 8, Callbacks = { callback } });

            checkRefused.Should().BeOfType<InvalidOperationException>().Which.Message.Should().StartWith("the model is already in use by a Fit");
            saveRefused.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Contain("a Fit on another thread is changing its weights");
            File.Exists(fromOther).Should().BeFalse("nothing is written");
            inCallback!.Verdict.Should().Be(GradientVerdict.Correct);
            weightsAfterCallbackCheck.Should().BeEquivalentTo(weightsBeforeCallbackCheck, o => o.WithStrictOrdering(), "the check restores the weights it perturbed");
            File.Exists(fromCallback).Should().BeTrue();

            // Released when Fit returns: both work from any thread again.
            var after = new Thread(() =>
            {
                GradientChecker.Check(model, x, y).Verdict.Should().Be(GradientVerdict.Correct);
                model.Save(fromOther);
            });
            after.Start();
            after.Join();
            File.Exists(fromOther).Should().BeTrue();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void During_a_check_a_fit_or_save_from_another_thread_is_refused_and_the_weights_are_restored()
    {
        var (x, y) = TestData.Problem<double>(12, 4, 3, "softmax", seed: 3);
        var data = DataSet.FromTargets(x, y);
        Action? during = null;
        var model = Model.Sequential<double>(4)
            .Add((inputs, rng) =>
            {
                var w = new Parameter<double>("weight", Tensor.RandomNormal<double>(rng, [5, inputs], 0, 0.5), regularized: true);
                var b = new Parameter<double>("bias", new Tensor<double>(5), regularized: false);
                return new TapeLayer<double>("Hooked", inputs, 5, [w, b], (v, p) =>
                {
                    // Runs inside the check's forward passes (its weights perturbed): once, try the other thread's calls.
                    var hook = during;
                    during = null;
                    hook?.Invoke();
                    return (v.MatMul(p[0], transposeB: true) + p[1]).Tanh();
                });
            }, outputSize: 5)
            .Dense(3).Softmax().Build(seed: 4);
        var before = Weights(model);
        string path = Path.Combine(Path.GetTempPath(), $"dl-inuse-{Guid.NewGuid():N}.safetensors");
        Exception? fitRefused = null, saveRefused = null, nestedRefused = null;
        during = () =>
        {
            // A check from inside the running check, on its own thread: its restore would undo the outer perturbation.
            nestedRefused = Record.Exception(() => GradientChecker.Check(model, x, y));
            var other = new Thread(() =>
            {
                fitRefused = Record.Exception(() => model.Fit(data, new TrainingOptions<double> { Epochs = 1, BatchSize = 4 }));
                saveRefused = Record.Exception(() => model.Save(path));
            });
            other.Start();
            other.Join();
        };

        GradientChecker.Check(model, x, y);

        fitRefused.Should().BeOfType<InvalidOperationException>().Which.Message.Should().StartWith("the model is already in use by a gradient check");
        nestedRefused.Should().BeOfType<InvalidOperationException>().Which.Message.Should().StartWith("the model is already in use by a gradient check");
        saveRefused.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Contain("a gradient check on another thread");
        File.Exists(path).Should().BeFalse();
        Weights(model).Should().BeEquivalentTo(before, o => o.WithStrictOrdering(), "the refused Fit took no step and the check restored its perturbations");

        // Released afterwards.
        model.Fit(data, new TrainingOptions<double> { Epochs = 1, BatchSize = 4 }).Count.Should().Be(1);
    }

    [Fact]
    public void A_check_nested_in_a_check_run_from_a_fit_callback_is_refused()
    {
        // The Fit's hold stands in for the outer check's claim, so the claim alone did not catch the nested check.
        var (x, y) = TestData.Problem<double>(12, 4, 3, "softmax", seed: 6);
        Action? during = null;
        var model = Model.Sequential<double>(4)
            .Add((inputs, rng) =>
            {
                var w = new Parameter<double>("weight", Tensor.RandomNormal<double>(rng, [5, inputs], 0, 0.5), regularized: true);
                return new TapeLayer<double>("Hooked", inputs, 5, [w], (v, p) =>
                {
                    var hook = during;
                    during = null;
                    hook?.Invoke();
                    return v.MatMul(p[0], transposeB: true).Tanh();
                });
            }, outputSize: 5)
            .Dense(3).Softmax().Build(seed: 7);
        Exception? nestedRefused = null;
        GradientCheckReport? outer = null;
        double[][]? before = null, after = null;
        var callback = new LambdaCallback((context, record) =>
        {
            if (record.Epoch != 1)
            {
                return;
            }

            before = Weights(model);
            during = () => nestedRefused = Record.Exception(() => GradientChecker.Check(model, x, y));
            outer = GradientChecker.Check(model, x, y);
            after = Weights(model);
        });

        model.Fit(DataSet.FromTargets(x, y), new TrainingOptions<double> { Epochs = 2, BatchSize = 4, Callbacks = { callback } });

        nestedRefused.Should().BeOfType<InvalidOperationException>().Which.Message.Should().StartWith("the model is already in use by a gradient check that has not returned (a check nested in a check on this thread");
        outer!.Verdict.Should().Be(GradientVerdict.Correct);
        after.Should().BeEquivalentTo(before, o => o.WithStrictOrdering(), "the outer check restored its perturbations");
        GradientChecker.Check(model, x, y).Verdict.Should().Be(GradientVerdict.Correct, "the set of checks in progress was emptied");
    }

    [Fact]
    public void A_float_model_is_held_only_while_it_is_copied()
    {
        var (x, y) = TestData.Problem<float>(12, 4, 3, "softmax", seed: 5);
        var model = Model.Sequential<float>(4).Dense(5).Tanh().Dense(3).Softmax().Build(seed: 2);
        GradientChecker.Check(model, x, y).Verdict.Should().Be(GradientVerdict.Correct);
        model.Fit(DataSet.FromTargets(x, y), new TrainingOptions<float> { Epochs = 1, BatchSize = 4 }).Count.Should().Be(1, "the check released the model");
    }

    private static double[][] Weights(Model<double> model) => [.. model.Parameters.Select(p => p.Value.Span.ToArray())];
}
