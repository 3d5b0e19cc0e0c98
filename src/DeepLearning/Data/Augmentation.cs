using System.Globalization;
using System.Numerics;

namespace DeepLearning;

/// <summary>
/// One step of the mini-batch pipeline that changes the inputs of a batch in place, for example a random flip of each
/// image. The course: flipped and slightly distorted copies of the training images act as a regularizer (data
/// augmentation). Apply it to training batches only; see <see cref="DataSourceExtensions.WithAugmentation{T}(IDataSource{T}, int, IBatchTransform{T}[])"/>.
/// An implementation must be safe to call from several threads at once (each with its own x and random), as the
/// built-in transforms are: readers of one augmented source opened on different threads share its transforms.
/// </summary>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public interface IBatchTransform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Transforms rows [0, <paramref name="rows"/>) of <paramref name="x"/> in place, drawing from <paramref name="random"/>. Does not allocate.</summary>
    void Apply(Tensor<T> x, int rows, RandomSource random);
}

/// <summary>
/// The base of the image transforms: each row of X is one image of height × width pixels with channels interleaved
/// (row-major, channels last: element (r, c, k) at (r·width + c)·channels + k). A transform holds no mutable state: its
/// <see cref="Scratch"/> image is the calling thread's, so one instance may serve readers on several threads at once.
/// </summary>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public abstract class ImageTransform<T> : IBatchTransform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Checks and stores the image geometry.</summary>
    protected ImageTransform(int height, int width, int channels)
    {
        if (height < 1 || width < 1 || channels < 1)
        {
            throw new ArgumentException($"height, width and channels must be ≥ 1; received {height} × {width} × {channels}");
        }

        if ((long)height * width * channels > Array.MaxLength)
        {
            throw new ArgumentException($"an image of {height} × {width} × {channels} values is larger than an array can hold ({Array.MaxLength} values)");
        }

        Height = height;
        Width = width;
        Channels = channels;
        ImageLength = height * width * channels;
    }

    /// <summary>
    /// Refuses a fill value that is not finite, or that T cannot hold (1e300 for float would be written as +∞ pixels).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fill"/> is NaN, ±∞, or overflows T; the message names the value and T.</exception>
    private protected static void CheckFill(double fill)
    {
        if (!double.IsFinite(fill))
        {
            throw new ArgumentOutOfRangeException(nameof(fill), fill, $"fill must be finite; received {fill}");
        }

        if (!T.IsFinite(T.CreateTruncating(fill)))
        {
            throw new ArgumentOutOfRangeException(nameof(fill), fill, string.Create(CultureInfo.InvariantCulture,
                $"fill = {fill} overflows {typeof(T).Name} (largest finite value {FiniteCheck.LargestFinite<T>():G9}); the pixels filled in would be ±∞"));
        }
    }

    /// <summary>Image height in pixels.</summary>
    public int Height { get; }

    /// <summary>Image width in pixels.</summary>
    public int Width { get; }

    /// <summary>Values per pixel.</summary>
    public int Channels { get; }

    /// <summary>The elements in one image: height·width·channels (must equal n_x).</summary>
    public int ImageLength { get; }

    /// <summary>
    /// One image (<see cref="ImageLength"/> values) of scratch space belonging to the calling thread, allocated once per
    /// thread and shared by every image transform of element type <typeparamref name="T"/> on it: valid until the next
    /// transform runs on this thread, so use it within one <see cref="ApplyImage"/> and call no other transform meanwhile.
    /// Readers on other threads never see it (a buffer per instance was shared by all of them and mixed their images).
    /// </summary>
    protected Span<T> Scratch
    {
        get
        {
            var buffer = _scratch;
            if (buffer is null || buffer.Length < ImageLength)
            {
                _scratch = buffer = new T[ImageLength];
            }

            return buffer.AsSpan(0, ImageLength);
        }
    }

    [ThreadStatic]
    private static T[]? _scratch;

    /// <inheritdoc/>
    public void Apply(Tensor<T> x, int rows, RandomSource random)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(random);
        if (x.RowLength != ImageLength)
        {
            throw new ArgumentException($"{GetType().Name} expects rows of {Height} × {Width} × {Channels} = {ImageLength} values; received shape {x.ShapeText}", nameof(x));
        }

        if ((uint)rows > (uint)x.RowCount)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be in [0, {x.RowCount}]; received {rows}");
        }

        var s = x.Span;
        for (int r = 0; r < rows; r++)
        {
            ApplyImage(s.Slice(r * ImageLength, ImageLength), random);
        }
    }

    /// <summary>Transforms one image in place.</summary>
    protected abstract void ApplyImage(Span<T> image, RandomSource random);
}

/// <summary>Mirrors each image left to right with probability <see cref="Probability"/>.</summary>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class HorizontalFlip<T> : ImageTransform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates the flip.</summary>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width.</param>
    /// <param name="probability">The chance that an image is flipped, in [0, 1]. Default 0.5.</param>
    /// <param name="channels">Values per pixel.</param>
    public HorizontalFlip(int height, int width, double probability = 0.5, int channels = 1)
        : base(height, width, channels)
    {
        if (!(probability >= 0 && probability <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(probability), probability, $"probability must be in [0, 1]; received {probability}");
        }

        Probability = probability;
    }

    /// <summary>The chance that an image is flipped.</summary>
    public double Probability { get; }

    /// <inheritdoc/>
    protected override void ApplyImage(Span<T> image, RandomSource random)
    {
        if (random.NextDouble() >= Probability)
        {
            return;
        }

        int c = Channels;
        int rowLength = Width * c;
        for (int r = 0; r < Height; r++)
        {
            var row = image.Slice(r * rowLength, rowLength);
            if (c == 1)
            {
                row.Reverse();
                continue;
            }

            for (int a = 0, b = Width - 1; a < b; a++, b--)
            {
                for (int k = 0; k < c; k++)
                {
                    (row[(a * c) + k], row[(b * c) + k]) = (row[(b * c) + k], row[(a * c) + k]);
                }
            }
        }
    }
}

/// <summary>
/// Translates each image by a random whole number of pixels dx, dy ∈ [−max, max] (uniform); pixels shifted in from
/// outside take <see cref="Fill"/>.
/// </summary>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class RandomShift<T> : ImageTransform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates the shift.</summary>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width.</param>
    /// <param name="maxShift">The largest shift in pixels along each axis, ≥ 0. Default 2.</param>
    /// <param name="channels">Values per pixel.</param>
    /// <param name="fill">The value of pixels shifted in (0: the background of MNIST-like images); finite in T.</param>
    public RandomShift(int height, int width, int maxShift = 2, int channels = 1, double fill = 0)
        : base(height, width, channels)
    {
        if (maxShift < 0 || maxShift >= Math.Max(height, width))
        {
            throw new ArgumentOutOfRangeException(nameof(maxShift), maxShift, $"maxShift must be in [0, {Math.Max(height, width)}); received {maxShift}");
        }

        CheckFill(fill);

        MaxShift = maxShift;
        Fill = T.CreateTruncating(fill);
    }

    /// <summary>The largest shift in pixels along each axis.</summary>
    public int MaxShift { get; }

    /// <summary>The value of pixels shifted in from outside.</summary>
    public T Fill { get; }

    /// <inheritdoc/>
    protected override void ApplyImage(Span<T> image, RandomSource random)
    {
        int dx = random.NextInt((2 * MaxShift) + 1) - MaxShift;
        int dy = random.NextInt((2 * MaxShift) + 1) - MaxShift;
        if (dx == 0 && dy == 0)
        {
            return;
        }

        var source = Scratch;
        image.CopyTo(source);
        int c = Channels;
        int rowLength = Width * c;

        // Output pixel (r, col) = input (r − dy, col − dx).
        int colFrom = Math.Max(0, dx);
        int colTo = Math.Min(Width, Width + dx);
        for (int r = 0; r < Height; r++)
        {
            var row = image.Slice(r * rowLength, rowLength);
            int sr = r - dy;
            if (sr < 0 || sr >= Height || colTo <= colFrom)
            {
                row.Fill(Fill);
                continue;
            }

            row[..(colFrom * c)].Fill(Fill);
            row[(colTo * c)..].Fill(Fill);
            source.Slice((sr * rowLength) + ((colFrom - dx) * c), (colTo - colFrom) * c).CopyTo(row[(colFrom * c)..]);
        }
    }
}

/// <summary>
/// Rotates each image about its centre by a random angle θ ∈ [−max, max] degrees (uniform), with bilinear
/// interpolation; pixels that come from outside the image take <see cref="Fill"/>.
/// </summary>
/// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class RandomRotation<T> : ImageTransform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates the rotation.</summary>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width.</param>
    /// <param name="maxDegrees">The largest angle in degrees, in [0, 180]. Default 10.</param>
    /// <param name="channels">Values per pixel.</param>
    /// <param name="fill">The value outside the image; finite in T.</param>
    public RandomRotation(int height, int width, double maxDegrees = 10, int channels = 1, double fill = 0)
        : base(height, width, channels)
    {
        if (!(maxDegrees >= 0 && maxDegrees <= 180))
        {
            throw new ArgumentOutOfRangeException(nameof(maxDegrees), maxDegrees, $"maxDegrees must be in [0, 180]; received {maxDegrees}");
        }

        CheckFill(fill);

        MaxDegrees = maxDegrees;
        Fill = fill;
    }

    /// <summary>The largest angle in degrees.</summary>
    public double MaxDegrees { get; }

    /// <summary>The value outside the image.</summary>
    public double Fill { get; }

    /// <summary>Rotates one image by <paramref name="degrees"/> (counter-clockwise as displayed with row 0 at the top) into <paramref name="destination"/>.</summary>
    public void Rotate(ReadOnlySpan<T> source, Span<T> destination, double degrees)
    {
        if (source.Length != ImageLength || destination.Length != ImageLength)
        {
            throw new ArgumentException($"source and destination must hold {ImageLength} values; received {source.Length} and {destination.Length}");
        }

        double theta = degrees * Math.PI / 180;
        double cos = Math.Cos(theta);
        double sin = Math.Sin(theta);
        double cy = (Height - 1) / 2.0;
        double cx = (Width - 1) / 2.0;
        int c = Channels;
        for (int r = 0; r < Height; r++)
        {
            for (int col = 0; col < Width; col++)
            {
                // Inverse map: the output pixel samples the input at the point rotated by −θ.
                double u = col - cx;
                double v = r - cy;
                double sx = (cos * u) - (sin * v) + cx;
                double sy = (sin * u) + (cos * v) + cy;
                int x0 = (int)Math.Floor(sx);
                int y0 = (int)Math.Floor(sy);
                double fx = sx - x0;
                double fy = sy - y0;
                for (int k = 0; k < c; k++)
                {
                    double top = ((1 - fx) * Sample(source, y0, x0, k)) + (fx * Sample(source, y0, x0 + 1, k));
                    double bottom = ((1 - fx) * Sample(source, y0 + 1, x0, k)) + (fx * Sample(source, y0 + 1, x0 + 1, k));
                    destination[(((r * Width) + col) * c) + k] = T.CreateTruncating(((1 - fy) * top) + (fy * bottom));
                }
            }
        }
    }

    /// <inheritdoc/>
    protected override void ApplyImage(Span<T> image, RandomSource random)
    {
        double degrees = random.NextUniform(-MaxDegrees, MaxDegrees);
        var source = Scratch;
        image.CopyTo(source);
        Rotate(source, image, degrees);
    }

    private double Sample(ReadOnlySpan<T> source, int r, int col, int k)
        => (uint)r < (uint)Height && (uint)col < (uint)Width ? double.CreateTruncating(source[(((r * Width) + col) * Channels) + k]) : Fill;
}

/// <summary>Extensions that compose data sources.</summary>
public static class DataSourceExtensions
{
    /// <summary>
    /// The same source with <paramref name="transforms"/> applied, in order, to the inputs of every mini-batch as it is
    /// read. The augmentation draws from its own stream seeded with <paramref name="seed"/> (one fork per epoch), so a
    /// run is reproducible and independent of the shuffle. Wrap the training source only, never dev or test.
    /// </summary>
    /// <remarks>
    /// Threads: readers of the result (<see cref="IDataSource{T}.OpenEpoch"/>) may be opened and read on several threads
    /// at once — each takes its own fork of the stream, in the order they are opened, and the built-in transforms keep
    /// their scratch image per thread — provided every custom <see cref="IBatchTransform{T}"/> is thread-safe too.
    /// <c>Fit</c> claims the stream for the whole run (its epochs' draws and checkpoints depend on it): a second
    /// <c>Fit</c> on the same augmented source (or on another wrapping the same <see cref="RandomSource"/>) while the
    /// first runs throws <see cref="InvalidOperationException"/>; wrap the data once per concurrent run.
    /// </remarks>
    public static IDataSource<T> WithAugmentation<T>(this IDataSource<T> source, int seed, params IBatchTransform<T>[] transforms)
        where T : unmanaged, IFloatingPointIeee754<T> => source.WithAugmentation(new RandomSource(seed), transforms);

    /// <summary>
    /// As <see cref="WithAugmentation{T}(IDataSource{T}, int, IBatchTransform{T}[])"/> (and with its rules for threads),
    /// drawing from <paramref name="random"/>.
    /// </summary>
    public static IDataSource<T> WithAugmentation<T>(this IDataSource<T> source, RandomSource random, params IBatchTransform<T>[] transforms)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(transforms);
        foreach (var t in transforms)
        {
            ArgumentNullException.ThrowIfNull(t, nameof(transforms));
            if (t is ImageTransform<T> image && image.ImageLength != source.Features)
            {
                throw new ArgumentException($"{t.GetType().Name} expects images of {image.Height} × {image.Width} × {image.Channels} = {image.ImageLength} values but the source has n_x = {source.Features}", nameof(transforms));
            }
        }

        return new AugmentedSource<T>(source, random, (IBatchTransform<T>[])transforms.Clone());
    }

    private sealed class AugmentedSource<T> : IDataSource<T>, IRandomStateSource, IAugmentedSource<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public IDataSource<T> Inner => _inner;

        private readonly IDataSource<T> _inner;
        private readonly RandomSource _random;
        private readonly IBatchTransform<T>[] _transforms;

        public AugmentedSource(IDataSource<T> inner, RandomSource random, IBatchTransform<T>[] transforms)
        {
            _inner = inner;
            _random = random;
            _transforms = transforms;
        }

        public int Features => _inner.Features;

        public int Targets => _inner.Targets;

        public long Count => _inner.Count;

        // The augmentation stream, then any the wrapped source owns: what a training checkpoint must save.
        public IEnumerable<RandomSource> RandomSources =>
            _inner is IRandomStateSource inner ? inner.RandomSources.Prepend(_random) : [_random];

        public IBatchReader<T> OpenEpoch(int batchSize, RandomSource? random)
        {
            var inner = _inner.OpenEpoch(batchSize, random);
            RandomSource fork;
            lock (_random)
            {
                // Readers opened on several threads at once: each its own fork, never two from one torn state.
                fork = _random.Fork();
            }

            return new Reader(inner, fork, _transforms);
        }

        private sealed class Reader : IBatchReader<T>
        {
            private readonly IBatchReader<T> _inner;
            private readonly RandomSource _random;
            private readonly IBatchTransform<T>[] _transforms;

            public Reader(IBatchReader<T> inner, RandomSource random, IBatchTransform<T>[] transforms)
            {
                _inner = inner;
                _random = random;
                _transforms = transforms;
            }

            public int Next(Tensor<T> x, Tensor<T> y)
            {
                int rows = _inner.Next(x, y);
                foreach (var t in _transforms)
                {
                    t.Apply(x, rows, _random);
                }

                return rows;
            }

            public void Dispose() => _inner.Dispose();
        }
    }
}

/// <summary>
/// A source that augments another (<see cref="DataSourceExtensions.WithAugmentation{T}(IDataSource{T}, int, IBatchTransform{T}[])"/>):
/// Fit checks and learns from <see cref="Inner"/> what it would from the plain source (class names, targets, raw input),
/// and evaluation refuses it.
/// </summary>
internal interface IAugmentedSource<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The source without augmentation.</summary>
    IDataSource<T> Inner { get; }
}
