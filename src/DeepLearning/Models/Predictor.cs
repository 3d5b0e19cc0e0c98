using System.Numerics;
using DeepLearning.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace DeepLearning;

/// <summary>
/// Allocation-free inference for one example (or a few) at a time: Ŷ = model(x) into a caller's buffer, with every
/// Dense layer's Wᵀ packed once for the GEMM, a matrix-vector path for one row and a single partial register tile for
/// two to five (neither packs anything per call).
/// Create one with <see cref="Model{T}.CreatePredictor"/>.
/// </summary>
/// <remarks>
/// <para>Shapes: x holds m examples of n_x features, row after row (length m·n_x); the destination receives Ŷ
/// (m, C) row after row (length m·C). The model's <see cref="Model{T}.InputTransform"/> is applied to x first,
/// exactly as <see cref="Model{T}.Predict"/> applies it, and the results are bit-identical to
/// <see cref="Model{T}.Predict"/>'s (the same kernels run the same operations in the same order), including its rule
/// for non-finite input: every output of an example holding NaN or ±∞ is NaN.</para>
/// <para>A predictor is a snapshot: it copies the weights, biases, batch-norm statistics and input transform
/// when it is created, so create it after training or loading, and create a new one after further training.
/// A custom layer is copied too — a <see cref="TapeLayer{T}"/> (its parameters; the forward function is shared), or
/// a layer whose kind has a factory registered with <see cref="LayerRegistry.Register"/> (rebuilt from its config,
/// then its parameters and buffers copied) — except a custom <see cref="ILayer{T}"/> without a factory, whose
/// <see cref="ILayer{T}.Infer"/> the predictor calls on the live layer; likewise a custom input transform whose kind is
/// not registered with <see cref="InputTransforms.Register"/> is used live (later changes to it show through, and it is
/// shared with the model, so not thread-isolated).
/// It owns its scratch buffers and is not thread-safe: use one per thread (they are cheap next to the model). A
/// predictor called by a second thread while a call is running (or re-entered from a custom layer or input transform it
/// runs) refuses the second call with <see cref="InvalidOperationException"/> instead of mixing the two calls' buffers
/// into wrong answers; the guard is one interlocked flag, so the calls still allocate nothing.
/// Once warm for the batch sizes it is used with (a few different ones at most) it allocates nothing per call.</para>
/// </remarks>
/// <typeparam name="T">The element type.</typeparam>
public sealed class Predictor<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int Chunk = 256;
    private readonly Step[] _steps;
    private readonly IInputTransform<T>? _transform;
    private readonly int _maxWidth;
    private readonly int _chunk;
    // The transformed input: one store as tall as the largest m seen, and a cached row view of it per m, so calls that
    // alternate between batch sizes (1, 16, 1, ...) allocate nothing once each size has been seen.
    private Tensor<T>? _inputStore;
    private readonly Dictionary<int, Tensor<T>> _inputViews = [];
    private T[] _ping = [];
    private T[] _pong = [];
    private readonly Standardizer<T>? _targetTransform;

    // 1 while a Predict call runs: a second caller (another thread, or re-entry) is refused rather than sharing the buffers.
    private int _inUse;

    internal Predictor(Model<T> model)
    {
        ArgumentNullException.ThrowIfNull(model);
        InputSize = model.InputSize;
        OutputSize = model.OutputSize;
        _transform = model.InputTransform is null
            ? null
            : InputTransforms.Snapshot(model.InputTransform);
        _targetTransform = model.TargetTransform is null
            ? null
            : (Standardizer<T>)InputTransforms.Snapshot<T>(model.TargetTransform);
        var steps = new List<Step>();
        foreach (var layer in model.Layers)
        {
            switch (layer)
            {
                case Dropout<T>:
                    break; // identity at inference
                case Dense<T> dense:
                    steps.Add(new DenseStep(dense));
                    break;
                case BatchNorm<T> bn:
                    steps.Add(new BatchNormStep(bn));
                    break;
                case ActivationLayer<T> act:
                    steps.Add(new ActivationStep(act));
                    break;
                default:
                    steps.Add(new LayerStep(SnapshotOf(layer)));
                    break;
            }
        }

        _steps = [.. steps];
        _maxWidth = Math.Max(InputSize, model.Layers.Count == 0 ? 0 : model.Layers.Max(l => l.OutputSize));
        _chunk = Model<T>.ChunkRows(Chunk, _maxWidth); // fewer rows for a layer wider than 262,144 units
    }

    // A custom layer's copy with this moment's weights: a tape layer copies its parameters; another layer whose kind has
    // a registered factory is rebuilt from its config and given copies of its parameters and buffers. Only a layer
    // that can be neither (a custom ILayer without a factory) is read live, as the remarks say.
    private static ILayer<T> SnapshotOf(ILayer<T> layer)
    {
        if (layer is TapeLayer<T> tape)
        {
            return tape.Snapshot();
        }

        try
        {
            var config = layer.Config;
            if (!LayerRegistry.IsRegistered(config.Kind))
            {
                return layer;
            }

            var copy = LayerRegistry.Create<T>(config, new RandomSource(0));
            var from = layer.Parameters;
            var to = copy.Parameters;
            if (copy.InputSize != layer.InputSize || copy.OutputSize != layer.OutputSize || to.Count != from.Count
                || copy.Buffers.Count != layer.Buffers.Count || Enumerable.Range(0, from.Count).Any(i => !to[i].Value.SameShape(from[i].Value))
                || layer.Buffers.Any(b => !copy.Buffers.TryGetValue(b.Key, out var c) || !c.SameShape(b.Value)))
            {
                return layer;
            }

            for (int i = 0; i < from.Count; i++)
            {
                from[i].Value.CopyTo(to[i].Value);
            }

            foreach (var (key, buffer) in layer.Buffers)
            {
                buffer.CopyTo(copy.Buffers[key]);
            }

            return copy;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
        {
            return layer; // a factory that cannot rebuild this layer: read it live rather than fail
        }
    }

    /// <summary>n_x, the number of input features per example.</summary>
    public int InputSize { get; }

    /// <summary>C, the number of outputs per example.</summary>
    public int OutputSize { get; }

    /// <summary>
    /// Ŷ for the m = x.Length / n_x raw examples in <paramref name="x"/>, written to <paramref name="destination"/>
    /// (length m·C). Allocates nothing once warm for this m.
    /// </summary>
    /// <param name="x">m examples of n_x raw features, row after row (not transformed yet).</param>
    /// <param name="destination">Receives Ŷ (m, C), row after row; may not overlap <paramref name="x"/>.</param>
    /// <exception cref="ArgumentException">x is not a whole number of examples, destination is not m·C long, or the two overlap.</exception>
    /// <exception cref="InvalidOperationException">Another call of this predictor is running (on another thread, or re-entered from a custom layer or input transform): nothing is written to <paramref name="destination"/>; create one predictor per thread with <see cref="Model{T}.CreatePredictor"/>.</exception>
    public void Predict(ReadOnlySpan<T> x, Span<T> destination)
    {
        if (x.Overlaps(destination))
        {
            throw new ArgumentException("destination overlaps x: outputs written for the first examples would overwrite inputs of later ones; pass a separate buffer", nameof(destination));
        }

        if (x.Length % InputSize != 0)
        {
            throw new ArgumentException($"x must hold whole examples of n_x = {InputSize} features; received {x.Length} values", nameof(x));
        }

        int m = x.Length / InputSize;
        if (destination.Length != (long)m * OutputSize)
        {
            throw new ArgumentException($"destination must hold Ŷ ({m}, {OutputSize}) = {(long)m * OutputSize} values for {m} example(s); received {destination.Length}", nameof(destination));
        }

        // The scratch buffers (transformed input, ping/pong) serve one call at a time: two calls at once would overwrite
        // each other's intermediate results and return plausible but wrong answers.
        if (Interlocked.CompareExchange(ref _inUse, 1, 0) != 0)
        {
            throw new InvalidOperationException("this Predictor is already running a Predict call (on another thread, or re-entered from a custom layer or input transform): a Predictor is used by one thread at a time; create one per thread with model.CreatePredictor()");
        }

        try
        {
            for (int start = 0; start < m; start += _chunk)
            {
                int rows = Math.Min(_chunk, m - start);
                Run(x.Slice(start * InputSize, rows * InputSize), rows, destination.Slice(start * OutputSize, rows * OutputSize));
            }
        }
        finally
        {
            Volatile.Write(ref _inUse, 0);
        }
    }

    private void Run(ReadOnlySpan<T> x, int rows, Span<T> destination)
    {
        ReadOnlySpan<T> a = x;
        if (_transform is not null)
        {
            if (_inputStore is null || _inputStore.RowCount < rows)
            {
                _inputStore = new Tensor<T>(rows, InputSize);
                _inputViews.Clear();
            }

            if (!_inputViews.TryGetValue(rows, out var input))
            {
                input = rows == _inputStore.RowCount ? _inputStore : _inputStore.Rows(0, rows);
                _inputViews[rows] = input;
            }

            x.CopyTo(input.Span);
            _transform.ApplyInPlace(input);
            a = input.ReadOnlySpan;
        }

        if (_steps.Length == 0)
        {
            a.CopyTo(destination);
            _targetTransform?.InvertRows(destination);
            NaNRowsOfNonFiniteInput(x, rows, destination);
            return;
        }

        int need = rows * _maxWidth; // rows ≤ _chunk: at most InferenceChunkElements, or one row
        if (_ping.Length < need)
        {
            _ping = GC.AllocateUninitializedArray<T>(need, pinned: true);
            _pong = GC.AllocateUninitializedArray<T>(need, pinned: true);
        }

        for (int s = 0; s < _steps.Length; s++)
        {
            var step = _steps[s];
            Span<T> y = s == _steps.Length - 1 ? destination : (s % 2 == 0 ? _ping : _pong).AsSpan(0, rows * step.Width);
            step.Run(a, rows, y);
            a = y;
        }

        // Regression with standardized targets: back to the original units, as Model.Predict does.
        _targetTransform?.InvertRows(destination);
        NaNRowsOfNonFiniteInput(x, rows, destination);
    }

    // As Model.Predict: every output of a row of raw x holding NaN or ±∞ is NaN.
    private void NaNRowsOfNonFiniteInput(ReadOnlySpan<T> x, int rows, Span<T> destination)
    {
        if (FiniteCheck.FirstNonFinite(x) < 0)
        {
            return;
        }

        for (int i = 0; i < rows; i++)
        {
            if (FiniteCheck.FirstNonFinite(x.Slice(i * InputSize, InputSize)) >= 0)
            {
                destination.Slice(i * OutputSize, OutputSize).Fill(T.NaN);
            }
        }
    }

    private abstract class Step(int width)
    {
        public int Width { get; } = width;

        // x: (rows, input width); y: (rows, Width).
        public abstract void Run(ReadOnlySpan<T> x, int rows, Span<T> y);
    }

    // Z = A·Wᵀ + b and g, fused, against Wᵀ packed once.
    private sealed class DenseStep : Step
    {
        private readonly GemmPackedB<T> _weightT;
        private readonly T[]? _bias;
        private readonly FusedActivation _activation;
        private readonly T _slope;
        private readonly int _k;

        public DenseStep(Dense<T> dense)
            : base(dense.OutputSize)
        {
            _k = dense.InputSize;
            _weightT = dense.InferencePack(); // immutable: a later write to W packs a new one for the model
            _bias = dense.Bias?.Value.ReadOnlySpan.ToArray();
            _activation = Dense<T>.Fused(dense.Activation);
            _slope = T.CreateTruncating(dense.LeakySlope);
        }

        public override void Run(ReadOnlySpan<T> x, int rows, Span<T> y) =>
            Gemm.Multiply(Transpose.None, rows, T.One, x, _k, _weightT, T.Zero, y, Width, _bias, _activation, _slope);
    }

    // out = z·a + c with a = γ/√(σ²_run + ε), c = β − μ_run·a, computed once as BatchNorm's inference does per call.
    private sealed class BatchNormStep : Step
    {
        private readonly T[] _a;
        private readonly T[] _c;

        public BatchNormStep(BatchNorm<T> bn)
            : base(bn.OutputSize)
        {
            int n = bn.InputSize;
            _a = new T[n];
            _c = new T[n];
            TP.Add(bn.RunningVariance.ReadOnlySpan, T.CreateTruncating(bn.Epsilon), _a);
            TP.ReciprocalSqrt<T>(_a, _a);
            TP.Multiply<T>(_a, bn.Gamma.Value.ReadOnlySpan, _a);
            TP.Multiply<T>(bn.RunningMean.ReadOnlySpan, _a, _c);
            TP.Subtract<T>(bn.Beta.Value.ReadOnlySpan, _c, _c);
        }

        public override void Run(ReadOnlySpan<T> x, int rows, Span<T> y)
        {
            int n = Width;
            for (int i = 0; i < rows; i++)
            {
                TP.FusedMultiplyAdd<T>(x.Slice(i * n, n), _a, _c, y.Slice(i * n, n));
            }
        }
    }

    private sealed class ActivationStep(ActivationLayer<T> layer) : Step(layer.OutputSize)
    {
        private readonly Activation _activation = layer.Activation;
        private readonly T _slope = T.CreateTruncating(layer.LeakySlope);

        public override void Run(ReadOnlySpan<T> x, int rows, Span<T> y) =>
            ActivationLayer<T>.Apply(_activation, _slope, x, rows, Width, y);
    }

    // Any other layer: its own Infer over tensors of this row count (allocated again only when the count changes).
    private sealed class LayerStep(ILayer<T> layer) : Step(layer.OutputSize)
    {
        private Tensor<T>? _in;
        private Tensor<T>? _out;

        public override void Run(ReadOnlySpan<T> x, int rows, Span<T> y)
        {
            if (_in is null || _in.RowCount != rows)
            {
                _in = new Tensor<T>(rows, layer.InputSize);
                _out = new Tensor<T>(rows, Width);
            }

            x.CopyTo(_in.Span);
            layer.Infer(_in, _out!);
            _out!.ReadOnlySpan.CopyTo(y);
        }
    }
}
