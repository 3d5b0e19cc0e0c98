using DeepLearning.Kernels;

namespace DeepLearning.Tests.Training;

/// <summary>
/// TrainingOptions.ValidationSplit holds out ⌈m·fraction⌉ rows, drawn with the shuffle seed and stratified, as the dev
/// set of the run (Keras's validation_split, scikit-learn's validation_fraction), and a resume holds out the same rows.
/// </summary>
public sealed class ValidationSplitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-validation-split-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly DataSet<float> _data = ResumeTests.Images(50, seed: 6);

    private static bool SameWeights(Model<float> a, Model<float> b) =>
        a.CaptureState().Tensors.Zip(b.CaptureState().Tensors).All(p => p.First.Equals(p.Second));

    private static T OneGemmThread<T>(Func<T> action)
    {
        Gemm.ThreadsOverride = 1;
        try
        {
            return action();
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }
    }

    [Fact]
    public void Holds_out_the_rows_a_stratified_split_with_the_shuffle_seed_gives_and_trains_on_the_rest()
    {
        OneGemmThread(() =>
        {
            var options = new TrainingOptions<float> { Optimizer = new Adam(0.01), Epochs = 3, BatchSize = 16, Seed = 5, ValidationSplit = 0.2 };
            long devRows = 0;
            options.Callbacks.Add(new LambdaCallback((c, r) => devRows = ((TrainingOptions<float>)c.Options).Validation!.Count));
            var model = ResumeTests.NewModel(seed: 3);
            var history = model.Fit(_data, options);

            devRows.Should().Be(10, "⌈50 · 0.2⌉ rows are held out, and callbacks see them as Validation");
            options.Validation.Should().BeNull("the held-out rows are the run's only");
            history.Epochs.Should().OnlyContain(e => e.DevCost.HasValue && e.DevMetric.HasValue);

            var (kept, heldOut, _) = _data.SplitByCount(40, 10, 0, seed: 5, stratify: true);
            var twin = ResumeTests.NewModel(seed: 3);
            var expected = twin.Fit(kept, new TrainingOptions<float> { Optimizer = new Adam(0.01), Epochs = 3, BatchSize = 16, Seed = 5, Validation = heldOut });
            history.SameValuesAs(expected).Should().BeTrue();
            SameWeights(model, twin).Should().BeTrue();
            return 0;
        });
    }

    [Fact]
    public void Rounds_the_held_out_count_up_as_scikit_learn_does()
    {
        var options = new TrainingOptions<float> { Epochs = 1, BatchSize = 16, ValidationSplit = 0.01 };
        long devRows = 0;
        options.Callbacks.Add(new LambdaCallback((c, r) => devRows = ((TrainingOptions<float>)c.Options).Validation!.Count));
        ResumeTests.NewModel(seed: 3).Fit(_data, options);
        devRows.Should().Be(1, "⌈50 · 0.01⌉ = 1");
    }

    [Fact]
    public void Fit_x_y_stratifies_by_the_class_each_row_of_Y_gives()
    {
        // 40 rows of class 0 and 10 of class 1, sorted: a 20% hold-out keeps the 4 : 1 ratio (8 and 2 rows).
        var x = new Tensor<float>(50, 16);
        var y = new Tensor<float>(50, 3);
        for (int i = 0; i < 50; i++)
        {
            x[i, i % 16] = 1;
            y[i, i < 40 ? 0 : 1] = 1;
        }

        var options = new TrainingOptions<float> { Epochs = 1, BatchSize = 16, ValidationSplit = 0.2 };
        int[]? counts = null;
        options.Callbacks.Add(new LambdaCallback((c, r) =>
        {
            var dev = (DataSet<float>)((TrainingOptions<float>)c.Options).Validation!;
            counts = [.. Enumerable.Range(0, 3).Select(k => DataSet.ToLabels(dev.Y).Count(l => l == k))];
        }));
        ResumeTests.NewModel(seed: 3).Fit(x, y, options);
        counts.Should().Equal(8, 2, 0);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    public void A_fraction_outside_0_to_1_is_refused_when_set(double fraction)
    {
        var act = () => new TrainingOptions<float> { ValidationSplit = fraction };
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("ValidationSplit must be in [0, 1); received *");
    }

    [Fact]
    public void Misuse_is_refused_naming_the_fix_and_leaves_the_options_as_they_were()
    {
        var dev = ResumeTests.Images(10, seed: 7);
        var both = new TrainingOptions<float> { Epochs = 1, Validation = dev, ValidationSplit = 0.2 };
        var act = () => ResumeTests.NewModel(seed: 3).Fit(_data, both);
        act.Should().Throw<ArgumentException>().WithMessage("both Validation and ValidationSplit = 0.2 are set*");
        both.Validation.Should().BeSameAs(dev);

        var augmented = _data.WithAugmentation(1, new HorizontalFlip<float>(4, 4));
        var streamed = new TrainingOptions<float> { Epochs = 1, ValidationSplit = 0.2 };
        act = () => ResumeTests.NewModel(seed: 3).Fit(augmented, streamed);
        act.Should().Throw<ArgumentException>().WithMessage("ValidationSplit = 0.2 needs the training data in memory (a DataSet)*then augment the training part*");

        var all = new TrainingOptions<float> { Epochs = 1, ValidationSplit = 0.99 };
        act = () => ResumeTests.NewModel(seed: 3).Fit(_data, all);
        act.Should().Throw<ArgumentException>().WithMessage("ValidationSplit = 0.99 of 50 examples holds out 50, leaving 0 to train on*");
        all.Validation.Should().BeNull();
    }

    [Fact]
    public void A_resume_holds_out_the_same_rows_and_another_fraction_is_refused()
    {
        OneGemmThread(() =>
        {
            TrainingOptions<float> Options(int epochs, double split = 0.3, ulong? seed = 11) => new()
            {
                Optimizer = new Adam(0.01),
                Seed = seed,
                Epochs = epochs,
                BatchSize = 16,
                ValidationSplit = split,
                Callbacks = { new EarlyStopping(patience: 10) },
            };

            var whole = ResumeTests.NewModel(seed: 4);
            var expected = whole.Fit(_data, Options(5));

            string path = Path.Combine(_dir, "split.ckpt");
            var first = Options(3);
            first.Checkpoint = new CheckpointOptions(path);
            ResumeTests.NewModel(seed: 4).Fit(_data, first);

            var rest = Options(5);
            rest.ResumeFrom = path;
            var resumed = ResumeTests.NewModel(seed: 9);
            resumed.Fit(_data, rest).SameValuesAs(expected).Should().BeTrue();
            SameWeights(resumed, whole).Should().BeTrue();

            var other = Options(5, split: 0.2);
            other.ResumeFrom = path;
            var act = () => ResumeTests.NewModel(seed: 9).Fit(_data, other);
            act.Should().Throw<InvalidDataException>().WithMessage("*it was trained with ValidationSplit = 0.3 but the options have ValidationSplit = 0.2*");

            // Without a Seed the rows are drawn with the model's seed: a model built with another one would hold out
            // other rows.
            string unseeded = Path.Combine(_dir, "unseeded.ckpt");
            var byModel = Options(3, seed: null);
            byModel.Checkpoint = new CheckpointOptions(unseeded);
            ResumeTests.NewModel(seed: 4).Fit(_data, byModel);
            var again = Options(5, seed: null);
            again.ResumeFrom = unseeded;
            act = () => ResumeTests.NewModel(seed: 9).Fit(_data, again);
            act.Should().Throw<InvalidDataException>().WithMessage("*it held out its dev rows (ValidationSplit) with seed 4 but this run would draw them with seed 9*resume with TrainingOptions.Seed = 4");
            again.Seed = 4;
            ResumeTests.NewModel(seed: 9).Fit(_data, again).Count.Should().Be(5);
            return 0;
        });
    }
}
