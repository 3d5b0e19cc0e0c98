using System.Numerics;

namespace DeepLearning;

/// <summary>
/// A (rows, width) buffer a layer owns and reuses from step to step. Storage grows to the largest batch
/// seen; views for the two most recent batch sizes are cached, so alternating between the full and the
/// last partial mini-batch allocates nothing once warm.
/// </summary>
/// <typeparam name="T">The element type.</typeparam>
public sealed class BatchBuffer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int _width;
    private Tensor<T>? _storage;
    private Tensor<T>? _viewA;
    private Tensor<T>? _viewB;

    /// <summary>Creates an empty buffer whose rows hold <paramref name="width"/> elements.</summary>
    public BatchBuffer(int width)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(width);
        _width = width;
    }

    /// <summary>A (rows, width) tensor, reused when possible. Its contents are unspecified.</summary>
    public Tensor<T> Get(int rows)
    {
        if (_viewA is not null && _viewA.RowCount == rows)
        {
            return _viewA;
        }

        if (_viewB is not null && _viewB.RowCount == rows)
        {
            (_viewA, _viewB) = (_viewB, _viewA);
            return _viewA!;
        }

        if (_storage is null || _storage.RowCount < rows)
        {
            _storage = new Tensor<T>(Math.Max(rows, 1), _width);
            _viewA = null;
            _viewB = null;
        }

        var view = rows == _storage.RowCount ? _storage : _storage.Rows(0, rows);
        _viewB = _viewA;
        _viewA = view;
        return view;
    }
}
