using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DeepLearning.Kernels;

/// <summary>
/// Inverted-dropout masks from a counter-based stream. Element i of a pass with key K keeps its unit when
/// u_i = mix(K + (i + 1)·γ), the (i + 1)-th output of SplitMix64 seeded with K (γ = 0x9E3779B97F4A7C15, mix its
/// finalizer), satisfies (u_i ≫ 32) &lt; ⌈keep_prob·2³²⌉; then D_i = 1/keep_prob, else D_i = 0, and the output is
/// x_i·D_i. Each element depends on (K, i) alone, so the mask is the same bit for bit whether it is computed by one
/// core or split over several, with 512-bit, 256-bit or no vectors. One key per pass is drawn from the layer's
/// seeded <see cref="RandomSource"/>, whose state a checkpoint saves.
/// </summary>
[SkipLocalsInit]
internal static unsafe class DropoutMask
{
    private const ulong Gamma = 0x9E3779B97F4A7C15UL;
    private const ulong Mix1 = 0xBF58476D1CE4E5B9UL;
    private const ulong Mix2 = 0x94D049BB133111EBUL;

    /// <summary>Below this many elements per extra participant one core is faster than a hand-off.</summary>
    private const int MinimumPerThread = 8192;

    /// <summary>⌈keep·2³²⌉: the 32-bit threshold of keep probability <paramref name="keep"/> in (0, 1).</summary>
    public static ulong Threshold(double keep) => (ulong)Math.Ceiling(keep * 4294967296.0);

    /// <summary>The SplitMix64 finalizer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * Mix1;
        z = (z ^ (z >> 27)) * Mix2;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// mask_i = D_i and output_i = input_i·D_i for every i (see the class); split over the GEMM pool when long.
    /// </summary>
    /// <param name="key">The pass's key K.</param>
    /// <param name="threshold">⌈keep_prob·2³²⌉ (<see cref="Threshold"/>).</param>
    /// <param name="scale">1/keep_prob.</param>
    /// <param name="input">x, (n).</param>
    /// <param name="mask">D, (n), written.</param>
    /// <param name="output">x ⊙ D, (n), written.</param>
    public static void Apply<T>(ulong key, ulong threshold, T scale, ReadOnlySpan<T> input, Span<T> mask, Span<T> output)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = input.Length;
        if (mask.Length != n || output.Length != n)
        {
            throw new ArgumentException($"dropout mask: input has {n} elements but mask has {mask.Length} and output {output.Length}");
        }

        fixed (T* pi = input)
        fixed (T* pm = mask)
        fixed (T* po = output)
        {
            ParallelRange.For(n, new Body<T>(key, threshold, scale, pi, pm, po), MinimumPerThread);
        }
    }

    /// <summary>The same, one element at a time (the reference the vector forms are tested against).</summary>
    public static void ApplyScalar<T>(ulong key, ulong threshold, T scale, ReadOnlySpan<T> input, Span<T> mask, Span<T> output, int start = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < input.Length; i++)
        {
            ulong u = Mix(key + ((ulong)(start + i + 1) * Gamma));
            T d = (u >> 32) < threshold ? scale : T.Zero;
            mask[i] = d;
            output[i] = input[i] * d;
        }
    }

    private readonly struct Body<T> : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly ulong _key;
        private readonly ulong _threshold;
        private readonly T _scale;
        private readonly T* _input;
        private readonly T* _mask;
        private readonly T* _output;

        public Body(ulong key, ulong threshold, T scale, T* input, T* mask, T* output)
        {
            _key = key;
            _threshold = threshold;
            _scale = scale;
            _input = input;
            _mask = mask;
            _output = output;
        }

        public void Invoke(int start, int end)
        {
            int i = start;
            if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated)
            {
                i = Float512((float*)_input, (float*)_mask, (float*)_output, start, end);
            }
            else if (typeof(T) == typeof(double) && Vector512.IsHardwareAccelerated)
            {
                i = Double512((double*)_input, (double*)_mask, (double*)_output, start, end);
            }
            else if (typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated)
            {
                i = Float256((float*)_input, (float*)_mask, (float*)_output, start, end);
            }

            ApplyScalar(_key, _threshold, _scale, new ReadOnlySpan<T>(_input + i, end - i), new Span<T>(_mask + i, end - i), new Span<T>(_output + i, end - i), i);
        }

        // Keep-lanes (all ones) of elements [i, i + 8) for 8 counters starting at i + 1.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private Vector512<ulong> Keep512(Vector512<ulong> lanes, int i)
        {
            var z = Vector512.Create(_key + ((ulong)(i + 1) * Gamma)) + lanes;
            z = (z ^ Vector512.ShiftRightLogical(z, 30)) * Mix1;
            z = (z ^ Vector512.ShiftRightLogical(z, 27)) * Mix2;
            z ^= Vector512.ShiftRightLogical(z, 31);
            return Vector512.LessThan(Vector512.ShiftRightLogical(z, 32), Vector512.Create(_threshold));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private Vector256<ulong> Keep256(Vector256<ulong> lanes, int i)
        {
            var z = Vector256.Create(_key + ((ulong)(i + 1) * Gamma)) + lanes;
            z = (z ^ Vector256.ShiftRightLogical(z, 30)) * Mix1;
            z = (z ^ Vector256.ShiftRightLogical(z, 27)) * Mix2;
            z ^= Vector256.ShiftRightLogical(z, 31);
            return Vector256.LessThan(Vector256.ShiftRightLogical(z, 32), Vector256.Create(_threshold));
        }

        private int Float512(float* x, float* m, float* o, int i, int end)
        {
            var lanes = Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7) * Gamma;
            var scale = Vector512.Create(Unsafe.As<T, float>(ref Unsafe.AsRef(in _scale)));
            for (; i <= end - 16; i += 16)
            {
                var keep = Vector512.Narrow(Keep512(lanes, i), Keep512(lanes, i + 8)).AsSingle();
                var d = Vector512.ConditionalSelect(keep, scale, Vector512<float>.Zero);
                Vector512.Store(d, m + i);
                Vector512.Store(Vector512.Load(x + i) * d, o + i);
            }

            return i;
        }

        private int Double512(double* x, double* m, double* o, int i, int end)
        {
            var lanes = Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7) * Gamma;
            var scale = Vector512.Create(Unsafe.As<T, double>(ref Unsafe.AsRef(in _scale)));
            for (; i <= end - 8; i += 8)
            {
                var d = Vector512.ConditionalSelect(Keep512(lanes, i).AsDouble(), scale, Vector512<double>.Zero);
                Vector512.Store(d, m + i);
                Vector512.Store(Vector512.Load(x + i) * d, o + i);
            }

            return i;
        }

        private int Float256(float* x, float* m, float* o, int i, int end)
        {
            var lanes = Vector256.Create(0UL, 1, 2, 3) * Gamma;
            var scale = Vector256.Create(Unsafe.As<T, float>(ref Unsafe.AsRef(in _scale)));
            for (; i <= end - 8; i += 8)
            {
                var keep = Vector256.Narrow(Keep256(lanes, i), Keep256(lanes, i + 4)).AsSingle();
                var d = Vector256.ConditionalSelect(keep, scale, Vector256<float>.Zero);
                Vector256.Store(d, m + i);
                Vector256.Store(Vector256.Load(x + i) * d, o + i);
            }

            return i;
        }
    }
}
