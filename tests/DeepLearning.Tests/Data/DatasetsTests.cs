
namespace DeepLearning.Tests.Data;

/// <summary>A fact that is skipped, with the reason, when Fashion-MNIST is not installed.</summary>
public sealed class FashionMnistFactAttribute : FactAttribute
{
    public FashionMnistFactAttribute()
    {
        if (!Datasets.FashionMnistAvailable())
        {
            Skip = $"Fashion-MNIST is not installed in {Datasets.FashionMnistFolder} (sudo apt-get install dataset-fashion-mnist)";
        }
    }
}

public class DatasetsTests
{
    [Fact]
    public void Digits_has_1797_examples_of_64_pixels_in_10_classes()
    {
        var d = Datasets.Digits<float>();
        d.Count.Should().Be(1797);
        d.Features.Should().Be(64);
        d.Classes.Should().Be(10);
        d.Targets.Should().Be(10);
        d.ClassNames.Should().Equal("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");

        // Per-class counts of the UCI test set bundled with scikit-learn.
        d.ClassCounts().Should().Equal(178, 182, 177, 183, 181, 182, 181, 179, 174, 180);
        d.X.ReadOnlySpan.ToArray().Should().OnlyContain(v => v >= 0 && v <= 16 && v == MathF.Floor(v));

        // The first row of digits.csv.gz: a zero.
        d.Labels![0].Should().Be(0);
        d.X.Row(0)[..8].ToArray().Should().Equal(0, 0, 5, 13, 9, 1, 0, 0);
    }

    [Fact]
    public void BreastCancer_has_569_examples_of_30_features_with_malignant_as_1()
    {
        var d = Datasets.BreastCancer<double>();
        d.Count.Should().Be(569);
        d.Features.Should().Be(30);
        d.Targets.Should().Be(1);
        d.Classes.Should().Be(2);
        d.ClassNames.Should().Equal("benign", "malignant");
        d.ClassCounts().Should().Equal(357, 212);
        Datasets.BreastCancerFeatureNames.Should().HaveCount(30);
        Datasets.BreastCancerFeatureNames[0].Should().Be("mean radius");
        Datasets.BreastCancerFeatureNames[29].Should().Be("worst fractal dimension");

        // The first row of the file is a malignant tumour with mean radius 17.99.
        d.X[0, 0].Should().Be(17.99);
        d.Y[0, 0].Should().Be(1);
    }

    [Fact]
    public void Generators_have_the_requested_shape_balance_and_seed()
    {
        var moons = Datasets.Moons<float>(201, 0.1, seed: 1);
        (moons.Count, moons.Features, moons.Targets, moons.Classes).Should().Be((201, 2, 1, 2));
        moons.ClassCounts().Should().Equal(101, 100);
        moons.X.Should().Be(Datasets.Moons<float>(201, 0.1, seed: 1).X);
        moons.X.Should().NotBe(Datasets.Moons<float>(201, 0.1, seed: 2).X);

        var circles = Datasets.Circles<double>(300, noise: 0, factor: 0.5, seed: 3);
        for (int i = 0; i < 300; i++)
        {
            double r = Math.Sqrt((circles.X[i, 0] * circles.X[i, 0]) + (circles.X[i, 1] * circles.X[i, 1]));
            r.Should().BeApproximately(circles.Labels![i] == 0 ? 1 : 0.5, 1e-12);
        }

        var flower = Datasets.Flower<double>(400, seed: 0);
        flower.ClassCounts().Should().Equal(200, 200);
        for (int i = 0; i < 400; i++)
        {
            double r = Math.Sqrt((flower.X[i, 0] * flower.X[i, 0]) + (flower.X[i, 1] * flower.X[i, 1]));
            r.Should().BeLessThan(4 + (6 * 0.2), "r = 4·sin(4t) + N(0, 0.2²)");
        }

        var spirals = Datasets.Spirals<float>(301, classes: 3, seed: 4);
        (spirals.Targets, spirals.Classes).Should().Be((3, 3));
        spirals.ClassCounts().Should().Equal(101, 100, 100);
        spirals.X.ReadOnlySpan.ToArray().Should().OnlyContain(v => MathF.Abs(v) <= 1);

        FluentActions.Invoking(() => Datasets.Moons<float>(100, noise: -1)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*noise*received -1*");
    }

    [Fact]
    public void FashionMnist_from_a_missing_folder_says_how_to_get_it()
    {
        string folder = Path.Combine(Path.GetTempPath(), "no-such-fashion-" + Guid.NewGuid().ToString("N"));
        FluentActions.Invoking(() => Datasets.FashionMnist<float>(folder)).Should().Throw<FileNotFoundException>()
            .WithMessage("*train-images-idx3-ubyte*apt-get install dataset-fashion-mnist*");
        Datasets.FashionMnistAvailable(folder).Should().BeFalse();
    }

    [FashionMnistFact]
    public void FashionMnist_has_60000_training_and_10000_test_images_in_0_1()
    {
        var (train, test) = Datasets.FashionMnist<float>();
        (train.Count, train.Features, train.Targets).Should().Be((60000, 784, 10));
        (test.Count, test.Features, test.Targets).Should().Be((10000, 784, 10));
        train.ClassNames.Should().Equal(Datasets.FashionMnistClassNames);
        train.ClassCounts().Should().OnlyContain(c => c == 6000);
        test.ClassCounts().Should().OnlyContain(c => c == 1000);
        float min = float.MaxValue;
        float max = float.MinValue;
        foreach (float v in train.X.ReadOnlySpan)
        {
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }

        (min, max).Should().Be((0f, 1f));

        // Labels of the first training images, as published with the data set: 9 (ankle boot), 0, 0, 3, 0.
        train.Labels![..5].Should().Equal(9, 0, 0, 3, 0);
    }

    [FashionMnistFact]
    public void FashionMnist_streams_from_the_same_files()
    {
        var files = Datasets.FashionMnistFiles();
        var source = Idx.OpenStreaming<float>(files.TestImages, files.TestLabels, 10, 1.0 / 255, bufferRows: 512);
        source.Count.Should().Be(10000);
        var x = new DeepLearning.Tensor<float>(1000, 784);
        var y = new DeepLearning.Tensor<float>(1000, 10);
        using var reader = source.OpenEpoch(1000, new RandomSource(1));
        int total = 0;
        int r;
        while ((r = reader.Next(x, y)) > 0)
        {
            total += r;
        }

        total.Should().Be(10000);
    }
}
