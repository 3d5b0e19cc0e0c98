using System.Numerics;
using DeepLearning.Kernels;

namespace DeepLearning;

/// <summary>
/// A large dense layer's Wᵀ kept in the GEMM's packed layout between optimizer steps inside <c>Fit</c>, so that the
/// forward pass does not transpose and pack W (n_out, n_in) on every step. The optimizer re-packs each panel of
/// <see cref="PanelRows"/> rows of W right after updating it, while those rows are in the updating core's cache
/// (<see cref="UpdateKernels"/>); the forward pass uses the pack only while it is <see cref="Armed"/> and W's
/// <see cref="Tensor{T}.Version"/> still equals the one the pack was sealed with, so any other write to W (a user's
/// span, a load, a restore) makes the layer pack W itself again. Same bits either way: the packed layout and k blocks
/// are those the forward GEMM packs itself.
/// </summary>
internal sealed class WeightPack<T> : IPanelPacker
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tensor<T> _w;
    private readonly int _rows;
    private readonly int _cols;
    private GemmPackedB<T>? _packed;
    private bool[] _done = [];
    private int _version;
    private bool _sealed;

    /// <param name="w">W (n_out, n_in), the layer's weight tensor.</param>
    public WeightPack(Tensor<T> w)
    {
        _w = w;
        _rows = w.Dim(0);
        _cols = w.Dim(1);
    }

    /// <summary>Layers whose W has at least this many elements keep a pack (below it, packing is cheap beside the step).</summary>
    public const int MinimumElements = 64 * 1024;

    /// <summary>Set by <c>Fit</c> (<see cref="Trainer"/>) while it trains: the optimizer keeps the pack current and the forward pass uses it.</summary>
    public bool Armed { get; set; }

    /// <inheritdoc/>
    public Type ElementType => typeof(T);

    /// <inheritdoc/>
    public int Length => _w.Length;

    /// <summary>Rows of W per packed panel (the GEMM's NR on this path).</summary>
    public int PanelRows { get; } = Gemm.PanelWidth<T>();

    /// <summary>Elements of W per panel: <see cref="PanelRows"/> whole rows.</summary>
    public int PanelElements => PanelRows * _cols;

    /// <summary>The packed Wᵀ when it matches W's current values and the pack is armed; otherwise null.</summary>
    public GemmPackedB<T>? Current => Armed && _sealed && _version == _w.Version ? _packed : null;

    /// <summary>How many forward passes have used the pack (for tests).</summary>
    public long Uses { get; set; }

    /// <summary>Before an update of W: allocates the pack on first use and forgets which panels are packed.</summary>
    public void Begin()
    {
        _sealed = false;
        if (_packed is null)
        {
            _packed = Gemm.PackB(Transpose.Transposed, _cols, _rows, _w.ReadOnlySpan, _cols);
            _done = new bool[(_rows + PanelRows - 1) / PanelRows];
        }

        Array.Clear(_done);
    }

    /// <summary>Packs panel <paramref name="panel"/> from W's current rows (called by the participant that just updated them).</summary>
    public void PackPanel(int panel)
    {
        int j0 = panel * PanelRows;
        Gemm.RepackColumns(_packed!, Transpose.Transposed, _w.ReadOnlySpan, _cols, j0, Math.Min(_rows, j0 + PanelRows));
        _done[panel] = true;
    }

    /// <summary>After the update: packs the panels no participant packed (those cut by a chunk boundary) and seals the pack to W's version.</summary>
    public void End()
    {
        for (int q = 0; q < _done.Length; q++)
        {
            if (!_done[q])
            {
                PackPanel(q);
            }
        }

        _version = _w.Version;
        _sealed = true;
    }
}
