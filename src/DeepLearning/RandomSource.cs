using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace DeepLearning;

/// <summary>
/// The one seedable random source used everywhere: initialization, shuffling, dropout masks,
/// splits and hyperparameter search. Same seed, same numbers, on every machine.
/// </summary>
/// <remarks>
/// xoshiro256** (Blackman and Vigna) seeded through SplitMix64; uniform doubles have 53 random
/// bits, normals come from the Box–Muller transform. Not thread-safe: give each thread its own
/// source with <see cref="Fork"/>.
/// </remarks>
public sealed class RandomSource
{
    private ulong _s0;
    private ulong _s1;
    private ulong _s2;
    private ulong _s3;
    private double _spareNormal;
    private bool _hasSpare;

    /// <summary>Creates a source from a 64-bit seed.</summary>
    public RandomSource(ulong seed)
    {
        Seed = seed;
        ulong x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>Creates a source from a seed; negative seeds are allowed and distinct.</summary>
    public RandomSource(int seed)
        : this(unchecked((ulong)(long)seed))
    {
    }

    /// <summary>The seed this source was created with.</summary>
    public ulong Seed { get; }

    /// <summary>The next 64 random bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong NextUInt64()
    {
        ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A uniform float in [0, 1) with 24 random bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float NextSingle() => (NextUInt64() >> 40) * (1.0f / (1U << 24));

    /// <summary>A uniform integer in [0, <paramref name="maxExclusive"/>), without modulo bias.</summary>
    public int NextInt(int maxExclusive)
    {
        if (maxExclusive <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxExclusive), maxExclusive, $"maxExclusive must be positive; received {maxExclusive}");
        }

        return (int)NextBelow((uint)maxExclusive);
    }

    /// <summary>2³² mod <paramref name="range"/>: how many 32-bit values <see cref="NextInt(int)"/> rejects to stay unbiased.</summary>
    internal static uint RejectionThreshold(uint range) => (0u - range) % range;

    /// <summary>
    /// A uniform integer in [<paramref name="minInclusive"/>, <paramref name="maxExclusive"/>), for any bounds with
    /// minInclusive &lt; maxExclusive (the width may exceed <see cref="int.MaxValue"/>, up to the whole int range).
    /// Draws exactly as <c>minInclusive + NextInt(maxExclusive - minInclusive)</c> does when that width fits in an int,
    /// so seeded runs give the same values.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="maxExclusive"/> ≤ <paramref name="minInclusive"/>.</exception>
    public int NextInt(int minInclusive, int maxExclusive)
    {
        if (maxExclusive <= minInclusive)
        {
            throw new ArgumentException($"the range [minInclusive, maxExclusive) = [{minInclusive}, {maxExclusive}) is empty; maxExclusive must exceed minInclusive");
        }

        // The width is at most 2³² − 1, so it fits a uint even when it overflows an int.
        uint range = (uint)((long)maxExclusive - minInclusive);
        return (int)(minInclusive + (long)NextBelow(range));
    }

    // Lemire's multiply-shift: the high half of r·range for a 32-bit r, rejecting the 2³² mod range values of r whose
    // low half falls below that threshold (they would favour the low results). The threshold, a division, is only
    // needed when the low half is below range, which is rare for the ranges a shuffle uses. range ≥ 1.
    private uint NextBelow(uint range)
    {
        ulong product = (NextUInt64() >> 32) * range;
        if ((uint)product < range)
        {
            uint threshold = RejectionThreshold(range);
            while ((uint)product < threshold)
            {
                product = (NextUInt64() >> 32) * range;
            }
        }

        return (uint)(product >> 32);
    }

    /// <summary>A uniform double in [<paramref name="low"/>, <paramref name="high"/>).</summary>
    /// <exception cref="ArgumentException">The bounds are not finite with low ≤ high and a finite width high − low.</exception>
    public double NextUniform(double low, double high)
    {
        CheckUniform(low, high);
        return low + ((high - low) * NextDouble());
    }

    /// <summary>A standard normal sample (mean 0, variance 1), Box–Muller.</summary>
    public double NextGaussian()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spareNormal;
        }

        double u1 = 1.0 - NextDouble(); // (0, 1]: log never sees 0
        double u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        double theta = 2.0 * Math.PI * u2;
        _spareNormal = r * Math.Sin(theta);
        _hasSpare = true;
        return r * Math.Cos(theta);
    }

    /// <summary>A normal sample with the given mean and standard deviation.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The mean is not finite, or the deviation is not finite and ≥ 0.</exception>
    public double NextGaussian(double mean, double standardDeviation)
    {
        CheckNormal(mean, standardDeviation);
        return mean + (standardDeviation * NextGaussian());
    }

    /// <summary>
    /// An independent child source, seeded from this one. Use it to give a component (a dropout
    /// layer, a shuffler, a search trial) its own reproducible stream.
    /// </summary>
    public RandomSource Fork() => new(NextUInt64());

    /// <summary>
    /// The generator's whole state as text, for a training checkpoint: the four 64-bit xoshiro256** words
    /// s0..s3 as 16 lower-case hex digits each (64 characters), then, if a Box–Muller normal is cached,
    /// ':' and the IEEE 754 bits of that normal as 16 hex digits. <see cref="ImportState"/> on any source
    /// continues the exact same stream of numbers.
    /// </summary>
    /// <returns>The state text.</returns>
    public string ExportState()
    {
        var inv = CultureInfo.InvariantCulture;
        string words = string.Create(inv, $"{_s0:x16}{_s1:x16}{_s2:x16}{_s3:x16}");
        return _hasSpare ? string.Create(inv, $"{words}:{BitConverter.DoubleToUInt64Bits(_spareNormal):x16}") : words;
    }

    /// <summary>
    /// Replaces this source's state with one written by <see cref="ExportState"/>, so it continues that
    /// stream exactly. <see cref="Seed"/> is unchanged (it records how the source was created).
    /// </summary>
    /// <param name="state">The state text.</param>
    /// <exception cref="ArgumentException">The text is not 64 hex digits (optionally followed by ':' and 16 more), the
    /// four words are all zero (a state xoshiro256** can never reach), or the cached normal is not finite.</exception>
    public void ImportState(string state)
    {
        ArgumentNullException.ThrowIfNull(state);
        string shown = state.Length > 100 ? state[..100] + "…" : state;
        if ((state.Length != 64 && state.Length != 81) || (state.Length == 81 && state[64] != ':'))
        {
            throw new ArgumentException($"a random state is 64 hex digits, optionally followed by ':' and 16 more; received \"{shown}\"", nameof(state));
        }

        Span<ulong> words = stackalloc ulong[5];
        for (int k = 0; k < (state.Length == 81 ? 5 : 4); k++)
        {
            var digits = state.AsSpan(k < 4 ? k * 16 : 65, 16);
            if (!ulong.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out words[k]))
            {
                throw new ArgumentException($"a random state is 64 hex digits, optionally followed by ':' and 16 more; received \"{shown}\"", nameof(state));
            }
        }

        if ((words[0] | words[1] | words[2] | words[3]) == 0)
        {
            throw new ArgumentException("a random state of four zero words is invalid for xoshiro256** (it would output only zeros)", nameof(state));
        }

        double spare = BitConverter.UInt64BitsToDouble(words[4]);
        if (state.Length == 81 && !double.IsFinite(spare))
        {
            throw new ArgumentException($"the cached normal in the random state is not finite; received \"{shown}\"", nameof(state));
        }

        (_s0, _s1, _s2, _s3) = (words[0], words[1], words[2], words[3]);
        _hasSpare = state.Length == 81;
        _spareNormal = _hasSpare ? spare : 0;
    }

    /// <summary>Fills <paramref name="destination"/> with normal samples N(mean, std²).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The mean is not finite, or the deviation is not finite and ≥ 0.</exception>
    public void FillNormal<T>(Span<T> destination, double mean = 0, double standardDeviation = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckNormal(mean, standardDeviation);
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = T.CreateTruncating(mean + (standardDeviation * NextGaussian()));
        }
    }

    /// <summary>Fills <paramref name="destination"/> with uniform samples in [low, high).</summary>
    /// <exception cref="ArgumentException">The bounds are not finite with low ≤ high and a finite width high − low.</exception>
    public void FillUniform<T>(Span<T> destination, double low = 0, double high = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckUniform(low, high);
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = T.CreateTruncating(low + ((high - low) * NextDouble()));
        }
    }

    /// <summary>Fills a tensor with normal samples N(mean, std²).</summary>
    public void FillNormal<T>(Tensor<T> tensor, double mean = 0, double standardDeviation = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        FillNormal(tensor.WritableSpan, mean, standardDeviation);
        tensor.MarkWritten();
    }

    /// <summary>Fills a tensor with uniform samples in [low, high).</summary>
    public void FillUniform<T>(Tensor<T> tensor, double low = 0, double high = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        FillUniform(tensor.WritableSpan, low, high);
        tensor.MarkWritten();
    }

    // A NaN or ±∞ mean made every sample NaN or ±∞ without a word.
    private static void CheckNormal(double mean, double standardDeviation)
    {
        if (!double.IsFinite(mean))
        {
            throw new ArgumentOutOfRangeException(nameof(mean), mean, string.Create(CultureInfo.InvariantCulture, $"mean must be finite; received {mean}"));
        }

        if (!(standardDeviation >= 0) || !double.IsFinite(standardDeviation))
        {
            throw new ArgumentOutOfRangeException(nameof(standardDeviation), standardDeviation, $"standardDeviation must be finite and ≥ 0; received {standardDeviation}");
        }
    }

    // low + (high − low)·u: a width that overflows (−1e308, 1e308) gave ±∞ and NaN samples; NaN bounds gave NaN.
    private static void CheckUniform(double low, double high)
    {
        if (!(high >= low) || !double.IsFinite(low) || !double.IsFinite(high) || !double.IsFinite(high - low))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"uniform bounds must be finite with low ≤ high and a finite width high − low; received low = {low}, high = {high}"));
        }
    }

    /// <summary>Shuffles <paramref name="items"/> in place (Fisher–Yates).</summary>
    public void Shuffle<TItem>(Span<TItem> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>A random permutation of 0..n−1.</summary>
    public int[] Permutation(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        var p = new int[n];
        for (int i = 0; i < n; i++)
        {
            p[i] = i;
        }

        Shuffle(p.AsSpan());
        return p;
    }

    private static ulong SplitMix64(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
