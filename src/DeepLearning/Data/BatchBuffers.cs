using System.Numerics;

namespace DeepLearning;

/// <summary>Checks shared by every <see cref="IBatchReader{T}"/>: the caller's buffers must hold a whole batch.</summary>
internal static class BatchBuffers
{
    public static void Check<T>(Tensor<T> x, Tensor<T> y, int batchSize, int features, int targets)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.RowCount < batchSize || x.RowLength != features)
        {
            throw new ArgumentException($"x must have at least {batchSize} rows of {features} features (batchSize, n_x); received shape {x.ShapeText}", nameof(x));
        }

        if (y.RowCount < batchSize || y.RowLength != targets)
        {
            throw new ArgumentException($"y must have at least {batchSize} rows of {targets} targets (batchSize, C); received shape {y.ShapeText}", nameof(y));
        }
    }

    public static void CheckBatchSize(int batchSize)
    {
        if (batchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"batchSize must be ≥ 1; received {batchSize}");
        }
    }
}
