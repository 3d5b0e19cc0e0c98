using System.Numerics;

namespace DeepLearning.Tests;

/// <summary>Small random problems for tests.</summary>
internal static class TestData
{
    /// <summary>X (m, n) ~ N(0, 1) and targets for a loss: one-hot (classes ≥ 2 with softmax), 0/1 (binary), or real (regression).</summary>
    public static (Tensor<T> X, Tensor<T> Y) Problem<T>(int m, int n, int outputs, string kind, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = new RandomSource(seed);
        var x = new Tensor<T>(m, n);
        r.FillNormal(x.Span);
        var y = new Tensor<T>(m, outputs);
        for (int i = 0; i < m; i++)
        {
            switch (kind)
            {
                case "softmax":
                    y[i, r.NextInt(outputs)] = T.One;
                    break;
                case "sigmoid":
                    for (int j = 0; j < outputs; j++)
                    {
                        y[i, j] = r.NextDouble() < 0.5 ? T.One : T.Zero;
                    }

                    break;
                default:
                    for (int j = 0; j < outputs; j++)
                    {
                        y[i, j] = T.CreateTruncating(r.NextGaussian());
                    }

                    break;
            }
        }

        return (x, y);
    }
}
