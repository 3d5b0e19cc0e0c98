using System.Numerics;

namespace DeepLearning.Onnx.Tests;

/// <summary>The models every export test runs: each layer kind, with and without batch norm and input transforms.</summary>
internal static class TestModels
{
    public const int Features = 10;

    /// <summary>Architectures by name.</summary>
    public static readonly string[] Architectures = ["relu", "leaky-relu", "sigmoid", "tanh-regression", "batchnorm", "batchnorm-tanh-leaky", "dropout", "linear-activation"];

    /// <summary>Input transforms by name.</summary>
    public static readonly string[] Transforms = ["none", "standardize", "minmax"];

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var a in Architectures)
        {
            foreach (var t in Transforms)
            {
                data.Add(a, t);
            }
        }

        return data;
    }

    /// <summary>
    /// Builds a model with random weights and, for batch norm, random running statistics and γ, β (so inference is
    /// not the identity). In double, the leaky-ReLU slope and batch-norm ε are powers of two: ONNX stores these
    /// attributes as 32-bit floats, and values exact in float keep ONNX Runtime's double arithmetic comparable to 1e-12.
    /// </summary>
    public static (Model<T> Model, Tensor<T> RawX) Build<T>(string architecture, string transform, int seed = 3)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool isDouble = typeof(T) == typeof(double);
        double slope = isDouble ? 0.0625 : 0.01;
        double eps = isDouble ? 1.0 / 131072 : 1e-5;
        var b = Model.Sequential<T>(Features);
        b = architecture switch
        {
            "relu" => b.Dense(16).ReLU().Dense(12).ReLU().Dense(3).Softmax(),
            "leaky-relu" => b.Dense(16).LeakyReLU(slope).Dense(3).Softmax(),
            "sigmoid" => b.Dense(8).Sigmoid().Dense(1).Sigmoid(),
            "tanh-regression" => b.Dense(8).Tanh().Dense(2),
            "batchnorm" => b.Dense(16).BatchNorm(epsilon: eps).ReLU().Dropout(0.8).Dense(3).Softmax(),
            "batchnorm-tanh-leaky" => b.Dense(16).BatchNorm(epsilon: eps).Tanh().Dense(12).BatchNorm(momentum: 0.8, epsilon: eps).LeakyReLU(slope).Dense(4).Softmax(),
            "dropout" => b.Dense(8).ReLU().Dropout(0.5).Dense(2),
            "linear-activation" => b.Dense(6).Activation(Activation.Linear).Dense(5).Activation(Activation.Tanh).Dense(2),
            _ => throw new ArgumentException(architecture),
        };
        var model = b.Build(seed);
        var random = new RandomSource((ulong)seed + 100);
        foreach (var bn in model.Layers.OfType<BatchNorm<T>>())
        {
            for (int j = 0; j < bn.InputSize; j++)
            {
                bn.RunningMean[j] = T.CreateTruncating(random.NextGaussian());
                bn.RunningVariance[j] = T.CreateTruncating(random.NextUniform(0.5, 2));
                bn.Gamma.Value[j] = T.CreateTruncating(random.NextUniform(0.5, 1.5));
                bn.Beta.Value[j] = T.CreateTruncating(random.NextGaussian(0, 0.5));
            }
        }

        foreach (var d in model.Layers.OfType<Dense<T>>())
        {
            if (d.Bias is { } bias)
            {
                for (int j = 0; j < bias.Length; j++)
                {
                    bias.Value[j] = T.CreateTruncating(random.NextGaussian(0, 0.3));
                }
            }
        }

        // Raw features far from zero mean / unit variance, so the transform matters; one constant column.
        var x = new Tensor<T>(37, Features);
        for (int i = 0; i < x.RowCount; i++)
        {
            for (int j = 0; j < Features; j++)
            {
                x[i, j] = j == 4 ? T.CreateTruncating(2.5) : T.CreateTruncating(5 + (j * 0.5) + (3 * random.NextGaussian()));
            }
        }

        model.InputTransform = transform switch
        {
            "none" => null,
            "standardize" => Standardizer.Fit(x),
            "minmax" => MinMaxScaler<T>.Fit(x, -1, 1),
            _ => throw new ArgumentException(transform),
        };
        return (model, x);
    }

    /// <summary>
    /// A regression model (X (37, 10) → Ŷ (37, 3)) with a target transform fitted on targets of very different scales
    /// (≈ 400 ± 80, −2 ± 0.01, and a constant column 7 that the standardizer only shifts), optionally with ε &gt; 0, and
    /// the given input transform. Returns the raw X to predict on.
    /// </summary>
    public static (Model<T> Model, Tensor<T> RawX) Regression<T>(string transform, double targetEpsilon = 0, int seed = 3, Loss? loss = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (_, x) = Build<T>("tanh-regression", "none", seed);
        var model = Model.Sequential<T>(Features).Dense(8).Tanh().Dense(3).WithLoss(loss ?? Loss.MeanSquaredError).Build(seed);
        model.InputTransform = transform switch
        {
            "none" => null,
            "standardize" => Standardizer.Fit(x),
            "minmax" => MinMaxScaler<T>.Fit(x, -1, 1),
            _ => throw new ArgumentException(transform),
        };
        var random = new RandomSource((ulong)seed + 200);
        var y = new Tensor<T>(x.RowCount, 3);
        for (int i = 0; i < y.RowCount; i++)
        {
            y[i, 0] = T.CreateTruncating(400 + (80 * random.NextGaussian()));
            y[i, 1] = T.CreateTruncating(-2 + (0.01 * random.NextGaussian()));
            y[i, 2] = T.CreateTruncating(7.0);
        }

        model.TargetTransform = Standardizer.Fit(y, targetEpsilon);
        return (model, x);
    }

    public static string TempFile(string name)
    {
        string dir = Path.Combine(Path.GetTempPath(), "deeplearning-onnx-tests", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, name);
    }
}
