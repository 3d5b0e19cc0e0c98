namespace DeepLearning.Tests.Training;

/// <summary>Fit without options twice continues the same Adam, as Keras's repeated <c>fit</c> does (it restarted it).</summary>
public class RepeatedFitTests
{
    [Fact]
    public void Fitting_again_without_options_continues_the_optimizer_like_fitting_again_with_the_same_options()
    {
        var random = new RandomSource(5);
        var x = Tensor.RandomUniform<float>(random, [40, 3]);
        var y = DataSet.FromLabels(x, Enumerable.Range(0, 40).Select(i => i % 3).ToArray(), 3).Y;

        var implicitModel = Build();
        implicitModel.Fit(x, y);
        implicitModel.Fit(x, y);

        var explicitModel = Build();
        var options = new TrainingOptions<float>();
        explicitModel.Fit(x, y, options);
        explicitModel.Fit(x, y, options);
        options.Optimizer.StepCount.Should().Be(2 * 10 * 1, "10 epochs of one 40-row batch, twice");

        var restarted = Build();
        restarted.Fit(x, y, new TrainingOptions<float>());
        restarted.Fit(x, y, new TrainingOptions<float>());

        var a = implicitModel.CaptureState().Tensors;
        var b = explicitModel.CaptureState().Tensors;
        var c = restarted.CaptureState().Tensors;
        for (int i = 0; i < a.Count; i++)
        {
            a[i].ToArray().Should().Equal(b[i].ToArray(), "the second Fit without options continues the first one's Adam");
        }

        a.Zip(c).Any(p => !p.First.ToArray().SequenceEqual(p.Second.ToArray())).Should().BeTrue("a new Adam each time trains differently");

        static Model<float> Build() => Model.Sequential<float>(3).Dense(5).ReLU().Dense(3).Softmax().Build(seed: 8);
    }
}
