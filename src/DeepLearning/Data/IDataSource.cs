using System.Numerics;

namespace DeepLearning;

/// <summary>
/// Anything the training loop can draw mini-batches from: an in-memory <see cref="DataSet{T}"/>, a file streamed from
/// disk (<see cref="StreamingDataSource{T}"/>), or a source wrapped with on-the-fly augmentation.
/// </summary>
/// <remarks>
/// Examples are rows: a mini-batch X{t} has shape (batchSize, n_x) and Y{t} has shape (batchSize, C). The course's
/// <c>random_mini_batches</c> shuffles the m examples each epoch and cuts them into ⌈m / batchSize⌉ mini-batches, the
/// last one possibly smaller; every source here behaves the same way.
/// </remarks>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public interface IDataSource<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The number of input features n_x (columns of X).</summary>
    int Features { get; }

    /// <summary>The columns of Y: C for one-hot classes, 1 for a binary label or a scalar regression target.</summary>
    int Targets { get; }

    /// <summary>The number of examples m, or −1 when it is not known in advance (some streaming sources).</summary>
    long Count { get; }

    /// <summary>
    /// Starts one pass over the data. With a non-null <paramref name="random"/> the examples come in a fresh random
    /// order on every call (drawn from <paramref name="random"/>); with null they come in stored order.
    /// </summary>
    /// <param name="batchSize">The largest number of rows one <see cref="IBatchReader{T}.Next"/> call fills; ≥ 1.</param>
    /// <param name="random">The source of the shuffle, or null for stored order.</param>
    IBatchReader<T> OpenEpoch(int batchSize, RandomSource? random);
}

/// <summary>One pass (epoch) over an <see cref="IDataSource{T}"/>, read mini-batch by mini-batch.</summary>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public interface IBatchReader<T> : IDisposable
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// Fills the first r rows of <paramref name="x"/> (batchSize, n_x) and <paramref name="y"/> (batchSize, C) with the
    /// next mini-batch and returns r: batchSize for every full mini-batch, fewer for the last one, 0 once the epoch is
    /// over. Rows from r on are left untouched. Does not allocate once warm.
    /// </summary>
    /// <exception cref="ArgumentException">A buffer has fewer than batchSize rows or the wrong row length.</exception>
    int Next(Tensor<T> x, Tensor<T> y);
}
