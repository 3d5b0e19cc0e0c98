using System.Numerics;

namespace DeepLearning;

/// <summary>
/// A batch reader that can fill the next mini-batch on a helper thread while the caller is still training on the
/// current one (an in-memory <see cref="DataSet{T}"/>'s reader). The rows and their order are those
/// <see cref="IBatchReader{T}.Next"/> would give.
/// </summary>
internal interface IPrefetchingReader<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// Starts filling <paramref name="x"/> and <paramref name="y"/> with the next mini-batch on a helper thread; false
    /// (nothing started, nothing consumed) when no helper is free, and the caller then reads with Next.
    /// </summary>
    bool TryPrefetch(Tensor<T> x, Tensor<T> y);

    /// <summary>Waits for the prefetched mini-batch and returns its rows (0 once the epoch is over).</summary>
    int CompletePrefetch();
}
