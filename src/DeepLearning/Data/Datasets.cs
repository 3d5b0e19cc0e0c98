using System.Globalization;
using System.IO.Compression;
using System.Numerics;

namespace DeepLearning;

/// <summary>
/// Real data sets in one call, and generators of the course's 2-D toy sets.
/// </summary>
/// <remarks>
/// <see cref="Digits{T}"/> and <see cref="BreastCancer{T}"/> ship inside the package (taken from the data folder of
/// Debian's python3-sklearn); both come from the UCI Machine Learning Repository under CC BY 4.0.
/// <see cref="FashionMnist{T}"/> reads the IDX files of Debian's dataset-fashion-mnist package.
/// </remarks>
public static class Datasets
{
    /// <summary>Where Debian's dataset-fashion-mnist package installs the four IDX files.</summary>
    public const string FashionMnistFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>The Fashion-MNIST class names, indexed by label.</summary>
    public static IReadOnlyList<string> FashionMnistClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>The 30 breast-cancer features in column order: 10 measurements as mean, standard error and worst.</summary>
    public static IReadOnlyList<string> BreastCancerFeatureNames { get; } = BuildBreastCancerNames();

    /// <summary>
    /// UCI "Optical Recognition of Handwritten Digits" (the 8×8 test set bundled with scikit-learn): m = 1,797
    /// examples, n_x = 64 pixel counts in 0..16 (row-major 8×8), 10 classes "0"–"9", Y one-hot (1797, 10).
    /// Standardize (or divide by 16) before training.
    /// </summary>
    public static DataSet<T> Digits<T>()
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var stream = Resource("digits.csv.gz");
        using var text = new StreamReader(new GZipStream(stream, CompressionMode.Decompress));
        return Csv.Load<T>(
            text,
            new CsvOptions
            {
                HasHeader = false,
                LabelColumnIndex = -1,
                Classes = 10,
                ClassNames = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            },
            "digits.csv.gz");
    }

    /// <summary>
    /// UCI "Breast Cancer Wisconsin (Diagnostic)": m = 569 tumours, n_x = 30 real-valued features
    /// (<see cref="BreastCancerFeatureNames"/>), a binary task with Y (569, 1): <b>1 = malignant</b> (212 rows),
    /// 0 = benign (357 rows); <see cref="DataSet{T}.ClassNames"/> is ["benign", "malignant"].
    /// </summary>
    /// <remarks>
    /// The file shipped by scikit-learn codes malignant as 0 and benign as 1; this loader flips it so that the
    /// positive class (y = 1, the sigmoid's ŷ = P(y = 1 | x)) is the disease. The features span very different
    /// scales (area in the hundreds, smoothness near 0.1): standardize them.
    /// </remarks>
    public static DataSet<T> BreastCancer<T>()
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var stream = Resource("breast_cancer.csv");
        using var text = new StreamReader(stream);
        var raw = Csv.Load<T>(
            text,
            new CsvOptions { SkipLines = 1, HasHeader = false, LabelColumnIndex = -1, Classes = 2 },
            "breast_cancer.csv");
        var labels = raw.Labels!.Select(l => 1 - l).ToArray();
        return DataSet.FromLabels(raw.X, labels, 2, ["benign", "malignant"]);
    }

    /// <summary>
    /// Fashion-MNIST (Zalando): 60,000 training and 10,000 test images of 28×28 grey pixels scaled to [0, 1],
    /// X (m, 784) row-major, 10 classes (<see cref="FashionMnistClassNames"/>), Y one-hot (m, 10).
    /// </summary>
    /// <param name="folder">
    /// The folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
    /// t10k-labels-idx1-ubyte (each may end in .gz); default <see cref="FashionMnistFolder"/>.
    /// </param>
    /// <exception cref="FileNotFoundException">A file is missing; the message says how to install the data.</exception>
    public static (DataSet<T> Train, DataSet<T> Test) FashionMnist<T>(string? folder = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var files = FashionMnistFiles(folder);
        var train = Idx.Load<T>(files.TrainImages, files.TrainLabels, 10, 1.0 / 255, FashionMnistClassNames);
        var test = Idx.Load<T>(files.TestImages, files.TestLabels, 10, 1.0 / 255, FashionMnistClassNames);
        return (train, test);
    }

    /// <summary>True when the four Fashion-MNIST files are in <paramref name="folder"/> (default <see cref="FashionMnistFolder"/>).</summary>
    public static bool FashionMnistAvailable(string? folder = null)
    {
        try
        {
            FashionMnistFiles(folder);
            return true;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
    }

    /// <summary>
    /// The paths of the four Fashion-MNIST IDX files in <paramref name="folder"/>, for <see cref="Idx.OpenStreaming{T}"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">A file is missing; the message says how to install the data.</exception>
    public static (string TrainImages, string TrainLabels, string TestImages, string TestLabels) FashionMnistFiles(string? folder = null)
    {
        folder ??= FashionMnistFolder;
        return (Find("train-images-idx3-ubyte"), Find("train-labels-idx1-ubyte"), Find("t10k-images-idx3-ubyte"), Find("t10k-labels-idx1-ubyte"));

        string Find(string name)
        {
            foreach (string candidate in new[] { name + ".gz", name, name.Replace("-idx", ".idx", StringComparison.Ordinal) + ".gz" })
            {
                string path = Path.Combine(folder, candidate);
                if (File.Exists(path))
                {
                    return path;
                }
            }

            string hint = folder == FashionMnistFolder
                ? "install it with `sudo apt-get install dataset-fashion-mnist`, or pass the folder that holds the files"
                : "pass the folder that holds the four IDX files, or install Debian's package with `sudo apt-get install dataset-fashion-mnist` and use the default folder " + FashionMnistFolder;
            throw new FileNotFoundException($"Fashion-MNIST was not found: '{Path.Combine(folder, name)}[.gz]' does not exist; {hint}", Path.Combine(folder, name + ".gz"));
        }
    }

    /// <summary>
    /// Two interleaving half circles (binary, Y (m, 1)): class 0 on (cos t, sin t) and class 1 on
    /// (1 − cos t, 1/2 − sin t) for t ∈ [0, π], plus Gaussian noise of standard deviation <paramref name="noise"/>
    /// on each coordinate. Rows are shuffled.
    /// </summary>
    public static DataSet<T> Moons<T>(int m = 200, double noise = 0.1, int seed = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckGenerator<T>(m, 2, noise);
        var random = new RandomSource(seed);
        int outer = (m + 1) / 2;
        return Generate<T>(m, 2, random, (i, _) =>
        {
            bool first = i < outer;
            int k = first ? i : i - outer;
            int count = first ? outer : m - outer;
            double t = Linspace(0, Math.PI, count, k);
            return first ? (Math.Cos(t), Math.Sin(t), 0) : (1 - Math.Cos(t), 0.5 - Math.Sin(t), 1);
        }, noise);
    }

    /// <summary>
    /// Two concentric circles (binary, Y (m, 1)): class 0 on the unit circle, class 1 on the circle of radius
    /// <paramref name="factor"/> ∈ (0, 1), evenly spaced angles, plus Gaussian noise. The course's initialization
    /// exercise. Rows are shuffled.
    /// </summary>
    public static DataSet<T> Circles<T>(int m = 300, double noise = 0.05, double factor = 0.8, int seed = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckGenerator<T>(m, 2, noise);
        if (!(factor > 0 && factor < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(factor), factor, $"factor must be in (0, 1); received {factor}");
        }

        var random = new RandomSource(seed);
        int outer = (m + 1) / 2;
        return Generate<T>(m, 2, random, (i, _) =>
        {
            bool first = i < outer;
            int k = first ? i : i - outer;
            int count = first ? outer : m - outer;
            double t = 2 * Math.PI * k / count;
            double r = first ? 1 : factor;
            return (r * Math.Cos(t), r * Math.Sin(t), first ? 0 : 1);
        }, noise);
    }

    /// <summary>
    /// The course's planar "flower" (planar_utils): two classes of m/2 points on the petals of a rose curve. For class
    /// j, t = linspace(3.12·j, 3.12·(j + 1)) + N(0, noise²) and r = 4·sin(4t) + N(0, noise²); the point is
    /// (r·sin t, r·cos t). Binary, Y (m, 1); rows are shuffled.
    /// </summary>
    public static DataSet<T> Flower<T>(int m = 400, double noise = 0.2, int seed = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckGenerator<T>(m, 2, noise);
        var random = new RandomSource(seed);
        int half = (m + 1) / 2;
        return Generate<T>(m, 2, random, (i, rnd) =>
        {
            int j = i < half ? 0 : 1;
            int k = j == 0 ? i : i - half;
            int count = j == 0 ? half : m - half;
            double t = Linspace(3.12 * j, 3.12 * (j + 1), count, k) + (noise * rnd.NextGaussian());
            double r = (4 * Math.Sin(4 * t)) + (noise * rnd.NextGaussian());
            return (r * Math.Sin(t), r * Math.Cos(t), j);
        }, 0);
    }

    /// <summary>
    /// <paramref name="classes"/> interleaved spiral arms: for class j, r = linspace(0, 1) and
    /// t = linspace(4j, 4(j + 1)) + N(0, noise²); the point is (r·sin t, r·cos t). Y is one-hot (m, classes), or a
    /// 0/1 column for 2 classes; rows are shuffled.
    /// </summary>
    public static DataSet<T> Spirals<T>(int m = 300, int classes = 3, double noise = 0.2, int seed = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckGenerator<T>(m, classes, noise);
        var random = new RandomSource(seed);
        return Generate<T>(m, classes, random, (i, rnd) =>
        {
            // Class j holds m / classes points, the first m % classes classes one more.
            int j = 0;
            int start = 0;
            int count = (m / classes) + (m % classes > 0 ? 1 : 0);
            while (i >= start + count)
            {
                start += count;
                j++;
                count = (m / classes) + (j < m % classes ? 1 : 0);
            }

            int k = i - start;
            double r = Linspace(0, 1, count, k);
            double t = Linspace(4 * j, 4 * (j + 1), count, k) + (noise * rnd.NextGaussian());
            return (r * Math.Sin(t), r * Math.Cos(t), j);
        }, 0);
    }

    private static double Linspace(double from, double to, int count, int k) => count <= 1 ? from : from + ((to - from) * k / (count - 1));

    /// <summary>
    /// Checks a generator's arguments. The noise is drawn as noise·g with |g| ≤ 8.6 (Box–Muller from 53-bit uniforms)
    /// and added to coordinates of magnitude ≤ 4, so noise ≤ (largest finite T)/16 keeps every generated value finite
    /// in T; a larger noise (1e300 for float) would write ±∞ (or NaN, through sin and cos) into X.
    /// </summary>
    private static void CheckGenerator<T>(int m, int classes, double noise)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < classes)
        {
            throw new ArgumentOutOfRangeException(nameof(m), m, $"m must be ≥ {classes} (one point per class); received {m}");
        }

        if (classes < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(classes), classes, $"classes must be ≥ 2; received {classes}");
        }

        if (!(noise >= 0) || !double.IsFinite(noise))
        {
            throw new ArgumentOutOfRangeException(nameof(noise), noise, $"noise must be finite and ≥ 0; received {noise}");
        }

        double largest = FiniteCheck.LargestFinite<T>();
        if (noise > largest / 16)
        {
            throw new ArgumentOutOfRangeException(nameof(noise), noise, string.Create(CultureInfo.InvariantCulture,
                $"noise = {noise} is too large for {typeof(T).Name}: the generated coordinates would overflow to ±∞; noise must be at most {largest / 16:G6} (the largest finite {typeof(T).Name} / 16)"));
        }
    }

    private static DataSet<T> Generate<T>(int m, int classes, RandomSource random, Func<int, RandomSource, (double X1, double X2, int Label)> point, double noise)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = new Tensor<T>(m, 2);
        var labels = new int[m];
        var s = x.Span;
        for (int i = 0; i < m; i++)
        {
            var (x1, x2, label) = point(i, random);
            if (noise > 0)
            {
                x1 += noise * random.NextGaussian();
                x2 += noise * random.NextGaussian();
            }

            s[2 * i] = T.CreateTruncating(x1);
            s[(2 * i) + 1] = T.CreateTruncating(x2);
            labels[i] = label;
        }

        return DataSet.FromLabels(x, labels, classes).Shuffle(random);
    }

    private static Stream Resource(string name)
        => typeof(Datasets).Assembly.GetManifestResourceStream("DeepLearning.Data.Resources." + name)
           ?? throw new InvalidOperationException($"the embedded data file '{name}' is missing from the DeepLearning assembly");

    private static string[] BuildBreastCancerNames()
    {
        string[] measures = ["radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity", "concave points", "symmetry", "fractal dimension"];
        return [.. measures.Select(s => "mean " + s), .. measures.Select(s => s + " error"), .. measures.Select(s => "worst " + s)];
    }
}
