
namespace DeepLearning.Tests.Data;

public class AugmentationTests
{
    // A 3×4 image with pixel (r, c) = 10·r + c.
    private static Tensor<double> Image(int copies = 1)
    {
        var x = new Tensor<double>(copies, 12);
        for (int i = 0; i < copies; i++)
        {
            for (int p = 0; p < 12; p++)
            {
                x[i, p] = (10 * (p / 4)) + (p % 4);
            }
        }

        return x;
    }

    [Fact]
    public void HorizontalFlip_mirrors_each_row_of_pixels()
    {
        var x = Image(2);
        new HorizontalFlip<double>(3, 4, probability: 1).Apply(x, 1, new RandomSource(0));
        x.Row(0).ToArray().Should().Equal(3, 2, 1, 0, 13, 12, 11, 10, 23, 22, 21, 20);
        x.Row(1).ToArray().Should().Equal(Image().Row(0).ToArray(), "only the first `rows` rows are touched");

        var rgb = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5, 6 }, 1, 6); // 1×2 image, 3 channels
        new HorizontalFlip<double>(1, 2, 1, channels: 3).Apply(rgb, 1, new RandomSource(0));
        rgb.Row(0).ToArray().Should().Equal(4, 5, 6, 1, 2, 3);
    }

    [Fact]
    public void HorizontalFlip_flips_about_the_given_fraction()
    {
        var x = Image(2000);
        new HorizontalFlip<double>(3, 4, 0.5).Apply(x, 2000, new RandomSource(1));
        int flipped = Enumerable.Range(0, 2000).Count(i => x[i, 0] == 3);
        flipped.Should().BeInRange(900, 1100);
    }

    [Fact]
    public void RandomShift_moves_pixels_by_whole_steps_and_fills_the_border()
    {
        var x = Image(200);
        new RandomShift<double>(3, 4, maxShift: 1, fill: -1).Apply(x, 200, new RandomSource(2));
        var original = Image().Row(0).ToArray();
        var seen = new HashSet<(int, int)>();
        for (int i = 0; i < 200; i++)
        {
            var row = x.Row(i).ToArray();

            // Find the shift that explains the row: out(r, c) = in(r − dy, c − dx), −1 outside.
            bool found = false;
            for (int dy = -1; dy <= 1 && !found; dy++)
            {
                for (int dx = -1; dx <= 1 && !found; dx++)
                {
                    bool match = true;
                    for (int p = 0; p < 12 && match; p++)
                    {
                        int r = (p / 4) - dy;
                        int c = (p % 4) - dx;
                        double expected = r is >= 0 and < 3 && c is >= 0 and < 4 ? original[(r * 4) + c] : -1;
                        match = row[p] == expected;
                    }

                    if (match)
                    {
                        found = true;
                        seen.Add((dx, dy));
                    }
                }
            }

            found.Should().BeTrue($"row {i} must be a shift of the image");
        }

        seen.Should().HaveCount(9, "every shift in [−1, 1]² occurs");
    }

    [Fact]
    public void RandomRotation_by_90_degrees_turns_the_image_counter_clockwise()
    {
        // 3×3 with a single bright pixel right of centre; +90° moves it above the centre.
        var rot = new RandomRotation<double>(3, 3);
        var source = new double[9];
        source[5] = 1; // (row 1, col 2)
        var destination = new double[9];
        rot.Rotate(source, destination, 90);
        destination[1].Should().BeApproximately(1, 1e-12); // (row 0, col 1)
        destination.Sum().Should().BeApproximately(1, 1e-12);

        rot.Rotate(source, destination, 0);
        destination.Should().Equal(source);
    }

    [Fact]
    public void RandomRotation_stays_within_the_angle_and_keeps_the_centre()
    {
        var x = new Tensor<float>(50, 25);
        for (int i = 0; i < 50; i++)
        {
            x[i, 12] = 1; // the centre pixel of 5×5 is fixed by any rotation
        }

        new RandomRotation<float>(5, 5, maxDegrees: 15).Apply(x, 50, new RandomSource(3));
        for (int i = 0; i < 50; i++)
        {
            x[i, 12].Should().BeGreaterThan(0.8f);
        }
    }

    [Fact]
    public void Fit_sees_through_augmentation_for_class_names_and_refuses_an_augmented_dev_or_evaluation_set()
    {
        var x = Tensor.RandomUniform<float>(new RandomSource(2), [30, 4]);
        int[] labels = [.. Enumerable.Range(0, 30).Select(i => i % 3)];
        var train = DataSet.FromLabels(x, labels, 3, ["cat", "dog", "emu"]);
        var otherNames = DataSet.FromLabels(x, labels, 3, ["dog", "emu", "fox"]);
        var augmented = train.WithAugmentation(1, new HorizontalFlip<float>(2, 2));

        // The class names of the wrapped set are learned, and a dev set with other names is refused, as without augmentation.
        var model = Model.Sequential<float>(4).Dense(3).Softmax().Build(seed: 1);
        model.Invoking(m => m.Fit(augmented, new TrainingOptions<float> { Epochs = 1, Validation = otherNames }))
            .Should().Throw<ArgumentException>().WithMessage("the validation data has class names [dog, emu, fox] but the training data has [cat, dog, emu]*");
        model.Fit(augmented, new TrainingOptions<float> { Epochs = 1 });
        model.ClassNames.Should().Equal("cat", "dog", "emu");

        // Scoring randomly transformed examples is refused: a dev set, Evaluate.
        model.Invoking(m => m.Fit(train, new TrainingOptions<float> { Epochs = 1, Validation = augmented }))
            .Should().Throw<ArgumentException>().WithMessage("the validation data is augmented (WithAugmentation)*pass the source without augmentation*");
        model.Invoking(m => m.Evaluate(augmented)).Should().Throw<ArgumentException>().WithMessage("the evaluation data is augmented*");
        model.Evaluate(train).Count.Should().Be(30);

        // A dev or test set read without the training set's names and missing a class: the names explain the narrower Y.
        var twoClasses = DataSet.FromLabels(Tensor.RandomUniform<float>(new RandomSource(3), [10, 4]), [.. Enumerable.Range(0, 10).Select(i => i % 2)], 2, ["cat", "emu"]);
        model.Invoking(m => m.Evaluate(twoClasses)).Should().Throw<ArgumentException>().WithMessage("the evaluation data has class names [cat, emu] but the model has [cat, dog, emu]*ClassNames = train.ClassNames*");
        model.Invoking(m => m.Fit(train, new TrainingOptions<float> { Epochs = 1, Validation = twoClasses })).Should().Throw<ArgumentException>().WithMessage("the validation data has class names [cat, emu]*");
    }

    [Fact]
    public void Augmented_source_is_deterministic_keeps_shapes_and_targets()
    {
        var d = DataSet.FromLabels(Tensor.RandomUniform<float>(new RandomSource(1), [64, 36]), Enumerable.Range(0, 64).Select(i => i % 3).ToArray(), 3);
        IBatchTransform<float>[] steps = [new HorizontalFlip<float>(6, 6), new RandomShift<float>(6, 6, 1), new RandomRotation<float>(6, 6, 10)];
        var a = d.WithAugmentation(7, steps);
        var b = d.WithAugmentation(7, steps);
        a.Features.Should().Be(36);
        a.Targets.Should().Be(3);
        a.Count.Should().Be(64);

        var (xa, ya) = ReadAll(a, new RandomSource(1));
        var (xb, yb) = ReadAll(b, new RandomSource(1));
        xa.Should().Equal(xb);
        ya.Should().Equal(yb);
        var (plainX, plainY) = ReadAll(d, new RandomSource(1));
        ya.Should().Equal(plainY, "targets are not augmented");
        xa.Should().NotEqual(plainX);
        var (xc, _) = ReadAll(d.WithAugmentation(8, steps), new RandomSource(1));
        xc.Should().NotEqual(xa);

        FluentActions.Invoking(() => d.WithAugmentation(1, new HorizontalFlip<float>(28, 28)))
            .Should().Throw<ArgumentException>().WithMessage("*28 × 28 × 1 = 784*n_x = 36*");
    }

    [Fact]
    public void Augmentation_does_not_allocate_per_batch_once_warm()
    {
        var d = DataSet.FromLabels(Tensor.RandomUniform<float>(new RandomSource(1), [512, 64]), new int[512], 2);
        var source = d.WithAugmentation(1, new HorizontalFlip<float>(8, 8), new RandomShift<float>(8, 8), new RandomRotation<float>(8, 8));
        var x = new Tensor<float>(32, 64);
        var y = new Tensor<float>(32, 1);
        using var reader = source.OpenEpoch(32, new RandomSource(2));
        TestData.AllocatedBy(() => reader.Next(x, y)).Should().Be(0);
    }

    private static (List<float> X, List<float> Y) ReadAll(IDataSource<float> source, RandomSource random)
    {
        var x = new Tensor<float>(10, source.Features);
        var y = new Tensor<float>(10, source.Targets);
        var xs = new List<float>();
        var ys = new List<float>();
        using var reader = source.OpenEpoch(10, random);
        int r;
        while ((r = reader.Next(x, y)) > 0)
        {
            xs.AddRange(x.Span[..(r * source.Features)].ToArray());
            ys.AddRange(y.Span[..(r * source.Targets)].ToArray());
        }

        return (xs, ys);
    }

    [Fact]
    public void Non_finite_fill_and_oversized_images_are_refused()
    {
        // Before: a NaN fill put NaN pixels into every shifted or rotated training batch.
        FluentActions.Invoking(() => new RandomShift<float>(8, 8, fill: double.NaN))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("fill must be finite; received NaN*");
        FluentActions.Invoking(() => new RandomRotation<float>(8, 8, fill: double.PositiveInfinity))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("fill must be finite; received Infinity*");

        // Before: height·width overflowed int: OverflowException, or (65536 × 65536 = 0) a zero-length image.
        FluentActions.Invoking(() => new HorizontalFlip<float>(65536, 65536))
            .Should().Throw<ArgumentException>().WithMessage("*65536 × 65536 × 1*");
        FluentActions.Invoking(() => new HorizontalFlip<float>(50000, 50000))
            .Should().Throw<ArgumentException>().WithMessage("*50000 × 50000 × 1*");
    }
}
