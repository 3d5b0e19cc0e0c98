namespace DeepLearning.Tests.Training;

/// <summary>
/// A Fit ended by an exception (cancellation, a callback's exception) leaves the weights as trained so far, in step with
/// the optimizer's state: early stopping puts back its best epoch's weights only when the run ends normally.
/// </summary>
public class AbortedRunTests
{
    private const int AbortAfter = 40;

    [Theory]
    [InlineData("cancel")]
    [InlineData("throw")]
    public void Early_stopping_leaves_the_weights_of_an_aborted_run_as_trained_and_a_later_fit_continues_from_them(string how)
    {
        var (train, dev) = Data();

        // With early stopping (a patience that never runs out before the abort).
        var stopper = new EarlyStopping(patience: 1000);
        var withStopper = Model();
        var adam = new Adam(0.01);
        float[][]? atAbort = null;
        using (var cts = new CancellationTokenSource())
        {
            var options = Options(adam, dev, stopper, Abort(how, cts, withStopper, weights => atAbort = weights));
            Action act = () => withStopper.Fit(train, options, cts.Token);
            Thrown(act, how);
        }

        stopper.BestEpoch.Should().BeInRange(1, AbortAfter - 1, "the dev cost turned up before the abort, so restoring would change the weights");
        atAbort.Should().NotBeNull();
        Weights(withStopper).Should().BeEquivalentTo(atAbort, o => o.WithStrictOrdering(), "an aborted run keeps the weights it trained");

        // The same run without early stopping, aborted at the same point.
        var plain = Model();
        var plainAdam = new Adam(0.01);
        using (var cts = new CancellationTokenSource())
        {
            var options = Options(plainAdam, dev, null, Abort(how, cts, plain, _ => { }));
            Action act = () => plain.Fit(train, options, cts.Token);
            Thrown(act, how);
        }

        Weights(plain).Should().BeEquivalentTo(atAbort, o => o.WithStrictOrdering());

        // Both continue with the same optimizer (Adam's t, v, s carried over): the weights agree to the bit.
        withStopper.Fit(train, Options(adam, dev, null, null, epochs: 5));
        plain.Fit(train, Options(plainAdam, dev, null, null, epochs: 5));
        Weights(withStopper).Should().BeEquivalentTo(Weights(plain), o => o.WithStrictOrdering());
    }

    [Fact]
    public void A_run_that_ends_normally_still_gets_the_best_epoch_back()
    {
        var (train, dev) = Data();
        var stopper = new EarlyStopping(patience: 1000);
        var model = Model();
        var history = model.Fit(train, Options(new Adam(0.01), dev, stopper, null, epochs: AbortAfter));
        stopper.BestEpoch.Should().BeLessThan(AbortAfter);
        model.Evaluate(dev).Cost.Should().BeApproximately(history.BestEpoch!.DevCost!.Value, 1e-6, "the best epoch's weights were put back");
    }

    [Fact]
    public void Callbacks_are_told_whether_the_run_was_aborted()
    {
        var (train, dev) = Data();
        var seen = new List<bool>();
        var spy = new EndSpy(seen);
        Model().Fit(train, Options(new Adam(0.01), dev, null, spy, epochs: 2));
        using var cts = new CancellationTokenSource();
        var options = Options(new Adam(0.01), dev, null, spy, epochs: 5);
        options.Callbacks.Add(new LambdaCallback((c, r) => cts.Cancel()));
        var act = () => Model().Fit(train, options, cts.Token);
        act.Should().Throw<OperationCanceledException>();
        seen.Should().Equal(false, true);
    }

    private static void Thrown(Action act, string how)
    {
        if (how == "cancel")
        {
            act.Should().Throw<OperationCanceledException>();
        }
        else
        {
            act.Should().Throw<InvalidOperationException>().WithMessage("callback failed");
        }
    }

    // After epoch AbortAfter: capture the weights, then cancel (seen at the next mini-batch) or throw.
    private static LambdaCallback Abort(string how, CancellationTokenSource cts, Model<float> model, Action<float[][]> capture) =>
        new((context, record) =>
        {
            if (record.Epoch != AbortAfter)
            {
                return;
            }

            capture(Weights(model));
            if (how == "cancel")
            {
                cts.Cancel();
            }
            else
            {
                throw new InvalidOperationException("callback failed");
            }
        });

    private static TrainingOptions<float> Options(Adam adam, DataSet<float> dev, EarlyStopping? stopper, ITrainingCallback? extra, int epochs = 300)
    {
        var options = new TrainingOptions<float> { Optimizer = adam, Epochs = epochs, BatchSize = 10, Validation = dev, Seed = 3 };
        if (stopper is not null)
        {
            options.Callbacks.Add(stopper);
        }

        if (extra is not null)
        {
            options.Callbacks.Add(extra);
        }

        return options;
    }

    private static Model<float> Model() => DeepLearning.Model.Sequential<float>(5).Dense(64).ReLU().Dense(64).ReLU().Dense(1).Build(seed: 4);

    private static float[][] Weights(Model<float> model) => [.. model.Parameters.Select(p => p.Value.Span.ToArray())];

    // Few noisy examples and a wide network: the dev cost turns up while the training cost keeps falling.
    private static (DataSet<float> Train, DataSet<float> Dev) Data()
    {
        var random = new RandomSource(21);
        var x = new Tensor<float>(60, 5);
        var y = new Tensor<float>(60, 1);
        random.FillNormal(x.Span);
        for (int i = 0; i < 60; i++)
        {
            y[i, 0] = (float)(x[i, 0] + (0.8 * random.NextGaussian()));
        }

        var all = DataSet.FromTargets(x, y);
        return (all.Take(30), all.Slice(30, 30));
    }

    private sealed class EndSpy(List<bool> seen) : ITrainingCallback
    {
        public void OnTrainEnd(TrainingContext context) => seen.Add(context.Aborted);
    }
}
