using DeepLearning.Kernels;

namespace DeepLearning.Tests.Kernels;

/// <summary>
/// The transposed epilogue Z = g(Pᵀ + b) against the element-by-element formula, and a dense layer that takes the
/// transposed product (W·Xᵀ, then the epilogue) against the fused X·Wᵀ product, bit for bit.
/// </summary>
public class TransposedEpilogueTests
{
    public static TheoryData<FusedActivation> Activations() => new()
    {
        FusedActivation.Identity, FusedActivation.ReLU, FusedActivation.LeakyReLU,
    };

    [Theory]
    [MemberData(nameof(Activations))]
    public void Matches_the_formula_bit_for_bit_on_awkward_shapes(FusedActivation act)
    {
        var rng = new Random(31);
        foreach (int threads in new[] { 1, 2 })
        {
            foreach (var (units, m) in new[] { (1, 1), (7, 9), (8, 8), (9, 17), (16, 7), (23, 64), (64, 13), (130, 33), (257, 64) })
            {
                foreach (bool hasBias in new[] { true, false })
                {
                    float[] p = new float[units * m];
                    for (int i = 0; i < p.Length; i++)
                    {
                        p[i] = (float)((rng.NextDouble() * 4) - 2);
                    }

                    // Special values in the first elements: NaN stays NaN, −0 and +0, ±∞.
                    float[] special = { float.NaN, -0f, 0f, float.PositiveInfinity, float.NegativeInfinity, -1e-40f };
                    for (int i = 0; i < Math.Min(special.Length, p.Length); i++)
                    {
                        p[i * 7 % p.Length] = special[i];
                    }

                    float[] bias = hasBias ? Enumerable.Range(0, units).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray() : [];
                    float[] z = new float[units * m];
                    Gemm.ThreadsOverride = threads;
                    try
                    {
                        TransposedEpilogue.Apply(p, units, m, bias, act, 0.03f, z);
                    }
                    finally
                    {
                        Gemm.ThreadsOverride = 0;
                    }

                    for (int u = 0; u < units; u++)
                    {
                        for (int j = 0; j < m; j++)
                        {
                            float v = p[(u * m) + j];
                            if (hasBias)
                            {
                                v += bias[u];
                            }

                            float expected = GemmReference.Activate(v, act, 0.03f);
                            BitConverter.SingleToInt32Bits(z[(j * units) + u]).Should().Be(
                                BitConverter.SingleToInt32Bits(expected),
                                $"Z[{j}, {u}] of ({units}, {m}), {act}, bias {hasBias}, threads {threads}");
                        }
                    }
                }
            }
        }
    }

    [Fact]
    public void Refuses_an_activation_it_does_not_apply_and_short_spans()
    {
        float[] p = new float[12], z = new float[12];
        var act = () => TransposedEpilogue.Apply(p, 3, 4, default, FusedActivation.Sigmoid, 0f, z);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*Sigmoid*");
        var shortZ = () => TransposedEpilogue.Apply(p, 3, 4, default, FusedActivation.ReLU, 0f, new float[11]);
        shortZ.Should().Throw<ArgumentException>().WithMessage("*Z 11*");
    }

    [Theory]
    [InlineData(Activation.ReLU, true)]
    [InlineData(Activation.LeakyReLU, true)]
    [InlineData(Activation.Linear, false)]
    public void A_dense_layer_much_wider_than_its_batch_gives_the_bits_of_the_fused_product(Activation activation, bool useBias)
    {
        // Units ≥ 4·m and ≥ 65,536 weights: Forward computes W·Xᵀ and transposes it (with AVX-512, or with AVX2 on one
        // thread; otherwise it takes the fused path, and the comparison holds trivially). k = 784 gives two k-blocks, 300
        // one.
        foreach (int k in new[] { 784, 300 })
        {
            foreach (int m in new[] { 8, 13, 64 })
            {
                foreach (int threads in new[] { 1, 2 })
                {
                    var dense = new Dense<float>(k, 256, activation, Init.He, new RandomSource(7), useBias);
                    if (useBias)
                    {
                        var b = dense.Bias!.Value.Span;
                        for (int i = 0; i < b.Length; i++)
                        {
                            b[i] = (i % 5) * 0.01f;
                        }
                    }

                    var rng = new Random(m + k);
                    var x = new Tensor<float>(m, k);
                    var xs = x.Span;
                    for (int i = 0; i < xs.Length; i++)
                    {
                        xs[i] = (float)((rng.NextDouble() * 2) - 1);
                    }

                    float[] expected = new float[m * 256];
                    Gemm.ThreadsOverride = threads;
                    try
                    {
                        Gemm.Multiply(
                            Transpose.None, Transpose.Transposed, m, 256, k, 1f, x.ReadOnlySpan, k, dense.Weight.Value.ReadOnlySpan, k,
                            0f, expected, 256, useBias ? dense.Bias!.Value.ReadOnlySpan : default, Dense<float>.Fused(activation), 0.01f);
                        float[] training = dense.Forward(x, training: true).ReadOnlySpan.ToArray();
                        float[] inference = dense.Forward(x, training: false).ReadOnlySpan.ToArray();
                        // Bit patterns, so +0 against −0 (and one NaN against another) would count as a difference.
                        int[] bits = expected.Select(BitConverter.SingleToInt32Bits).ToArray();
                        training.Select(BitConverter.SingleToInt32Bits).Should().Equal(bits, $"k {k}, m {m}, threads {threads}");
                        inference.Select(BitConverter.SingleToInt32Bits).Should().Equal(bits, $"k {k}, m {m}, threads {threads}");
                    }
                    finally
                    {
                        Gemm.ThreadsOverride = 0;
                    }
                }
            }
        }
    }
}
