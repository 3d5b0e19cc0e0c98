using DeepLearning.Kernels;

namespace DeepLearning.Tests.Kernels;

/// <summary>
/// The counter-based dropout mask: its vector forms (512-bit, 256-bit) and its split over two threads must give the
/// scalar reference's bits over awkward lengths, for float and double, NaN and ±∞ included; and the stream must keep
/// each unit with probability keep_prob, independently of its neighbours and of the pass.
/// CI reruns this class with each intrinsics switch off, so every vector form meets the reference.
/// </summary>
public class DropoutMaskTests
{
    private static readonly int[] _lengths = [0, 1, 7, 8, 15, 16, 17, 31, 33, 100, 16_383, 16_384, 16_385, 40_011];

    [Fact]
    public void Float_mask_and_output_match_the_scalar_reference_bit_for_bit_on_one_and_two_threads() =>
        MatchesTheScalarReference<float>(0.8, 0.5, 0.1, 0.999);

    [Fact]
    public void Double_mask_and_output_match_the_scalar_reference_bit_for_bit_on_one_and_two_threads() =>
        MatchesTheScalarReference<double>(0.7);

    private static void MatchesTheScalarReference<T>(params double[] keeps)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        foreach (int threads in new[] { 1, 2 })
        {
            Gemm.ThreadsOverride = threads;
            try
            {
                foreach (int n in _lengths)
                {
                    foreach (double keep in keeps)
                    {
                        var x = Input<T>(n);
                        ulong key = 0x1234_5678_9ABC_DEF0UL + (ulong)n;
                        T scale = T.CreateTruncating(1.0 / keep);
                        ulong threshold = DropoutMask.Threshold(keep);
                        T[] mask = new T[n], output = new T[n], refMask = new T[n], refOutput = new T[n];
                        DropoutMask.Apply(key, threshold, scale, x, mask, output);
                        DropoutMask.ApplyScalar(key, threshold, scale, x, refMask, refOutput);
                        Bytes(mask).Should().Equal(Bytes(refMask), $"mask, n {n}, keep {keep}, {threads} threads");
                        Bytes(output).Should().Equal(Bytes(refOutput), $"output, n {n}, keep {keep}, {threads} threads");
                    }
                }
            }
            finally
            {
                Gemm.ThreadsOverride = 0;
            }
        }
    }

    [Fact]
    public void The_reference_is_the_documented_SplitMix64_stream()
    {
        // SplitMix64 seeded with 0 returns 0xE220A8397B1DCDAF first (its published first output); element 0 uses it.
        DropoutMask.Mix(0x9E3779B97F4A7C15UL).Should().Be(0xE220A8397B1DCDAFUL);
        ulong first = 0xE220A8397B1DCDAFUL >> 32;
        float[] mask = new float[1], output = new float[1];
        DropoutMask.ApplyScalar(0UL, first + 1, 2f, [3f], mask, output);
        mask[0].Should().Be(2f, "kept: the top 32 bits are below the threshold");
        output[0].Should().Be(6f);
        DropoutMask.ApplyScalar(0UL, first, 2f, [3f], mask, output);
        mask[0].Should().Be(0f, "dropped: the top 32 bits equal the threshold");
    }

    [Fact]
    public void Units_are_kept_with_probability_keep_prob_independently_of_neighbours_and_passes()
    {
        const int n = 1 << 20;
        const double keep = 0.8;
        var x = Enumerable.Repeat(1f, n).ToArray();
        float[] mask = new float[n], output = new float[n], other = new float[n];
        DropoutMask.Apply(42UL, DropoutMask.Threshold(keep), 1.25f, x, mask, output);
        DropoutMask.Apply(43UL, DropoutMask.Threshold(keep), 1.25f, x, other, output);

        double sigma = Math.Sqrt(n * keep * (1 - keep));
        int kept = mask.Count(v => v != 0);
        Math.Abs(kept - (n * keep)).Should().BeLessThan(5 * sigma, "the kept fraction is keep_prob");
        mask.Where(v => v != 0).Distinct().Should().Equal([1.25f]);

        // Adjacent units (within and across 8- and 16-lane vector boundaries) and the next pass's key are independent:
        // P(both kept) = keep², within five standard deviations.
        double pairSigma = Math.Sqrt(n * keep * keep * (1 - (keep * keep)));
        foreach (int lag in new[] { 1, 7, 8, 15, 16, 256 })
        {
            int both = 0;
            for (int i = 0; i + lag < n; i++)
            {
                both += mask[i] != 0 && mask[i + lag] != 0 ? 1 : 0;
            }

            Math.Abs(both - ((n - lag) * keep * keep)).Should().BeLessThan(5 * pairSigma, $"lag {lag}");
        }

        int bothPasses = Enumerable.Range(0, n).Count(i => mask[i] != 0 && other[i] != 0);
        Math.Abs(bothPasses - (n * keep * keep)).Should().BeLessThan(5 * pairSigma, "consecutive keys");
    }

    [Fact]
    public void A_dropped_unit_keeps_NaN_as_the_unfused_product_did()
    {
        var x = new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, 1f };
        foreach (ulong key in new ulong[] { 1, 2, 3, 4, 5, 6, 7, 8 })
        {
            float[] mask = new float[5], output = new float[5];
            DropoutMask.Apply(key, DropoutMask.Threshold(0.5), 2f, x, mask, output);
            for (int i = 0; i < 5; i++)
            {
                BitConverter.SingleToInt32Bits(output[i]).Should().Be(BitConverter.SingleToInt32Bits(x[i] * mask[i]), $"key {key}, element {i}");
            }
        }
    }

    [Fact]
    public void Mismatched_lengths_are_rejected_naming_them()
    {
        var act = () => DropoutMask.Apply(1UL, DropoutMask.Threshold(0.5), 2f, new float[4], new float[3], new float[4]);
        act.Should().Throw<ArgumentException>().WithMessage("*4 elements*mask has 3*");
    }

    private static T[] Input<T>(int n)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var random = new RandomSource(5);
        var x = new T[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = T.CreateTruncating(random.NextGaussian());
        }

        T[] special = [T.NaN, T.PositiveInfinity, T.NegativeInfinity, T.NegativeZero];
        for (int i = 0; i < Math.Min(n, 64); i += 5)
        {
            x[i] = special[(i / 5) % special.Length];
        }

        return x;
    }

    private static byte[] Bytes<T>(T[] values)
        where T : unmanaged => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}
