using System.Numerics;
using DeepLearning.Kernels;

namespace DeepLearning.Tests.Kernels;

/// <summary>
/// The matrix-vector path (fewer than six rows of A against a pre-packed B) against the scalar reference over
/// awkward shapes, and bit for bit against the unpacked GEMM for beta = 0 and 1 (what inference uses).
/// </summary>
public class GemmRowsTests
{
    [Fact]
    public void Float_rows_against_prepacked_B_match_reference_and_unpacked_GEMM() => Check<float>(31);

    [Fact]
    public void Double_rows_against_prepacked_B_match_reference_and_unpacked_GEMM() => Check<double>(32);

    [Fact]
    public void A_few_rows_against_a_plain_B_packed_panel_by_panel_equal_the_whole_packed_B_bit_for_bit_on_one_and_two_threads()
    {
        // model.Predict of a few examples: B is packed one KC step of one pair of panels at a time (by the participant
        // that uses it) instead of all at once; every column must get the same sums in the same order.
        var rng = new Random(33);
        foreach (var (n, k) in new[] { (10, 128), (256, 784), (300, 1000), (129, 64), (640, 300) })
        {
            foreach (var tb in new[] { Transpose.None, Transpose.Transposed })
            {
                foreach (int m in new[] { 1, 2, 5 })
                {
                    var ta = m == 2 ? Transpose.Transposed : Transpose.None;
                    int lda = ta == Transpose.None ? k : m, ldb = tb == Transpose.None ? n : k;
                    float[] a = Random<float>(rng, m * k), b = Random<float>(rng, k * n), bias = Random<float>(rng, n);
                    foreach (int threads in new[] { 1, 2 })
                    {
                        float[] whole = new float[m * n], perPanels = new float[m * n];
                        Gemm.ThreadsOverride = threads;
                        try
                        {
                            GemmBlocking.RowsPackPerPanels = false;
                            Gemm.Multiply<float>(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, whole, n, bias, FusedActivation.Tanh);
                        }
                        finally
                        {
                            GemmBlocking.RowsPackPerPanels = true;
                        }

                        try
                        {
                            Gemm.Multiply<float>(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, perPanels, n, bias, FusedActivation.Tanh);
                        }
                        finally
                        {
                            Gemm.ThreadsOverride = 0;
                        }

                        perPanels.Should().Equal(whole, $"m {m} n {n} k {k} {ta}/{tb} threads {threads}");
                    }
                }
            }
        }
    }

    private static void Check<T>(int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        FusedActivation[] acts = [FusedActivation.Identity, FusedActivation.ReLU, FusedActivation.LeakyReLU, FusedActivation.Sigmoid, FusedActivation.Tanh];
        foreach (int n in new[] { 1, 3, 10, 16, 17, 33, 64, 65, 127, 128, 129, 256, 300 })
        {
            foreach (int k in new[] { 1, 7, 256, 257, 401, 600, 801 })
            {
                foreach (var tb in new[] { Transpose.None, Transpose.Transposed })
                {
                    T[] b = Random<T>(rng, k * n);
                    int ldb = tb == Transpose.None ? n : k;
                    var packed = Gemm.PackB(tb, k, n, b, ldb);
                    for (int m = 1; m <= 5; m++)
                    {
                        var ta = (m + n) % 2 == 0 ? Transpose.None : Transpose.Transposed;
                        var act = acts[(m + k + n) % acts.Length];
                        T beta = m == 3 ? T.One : m == 5 ? T.CreateChecked(0.75) : T.Zero;
                        int lda = ta == Transpose.None ? k : m;
                        T[] a = Random<T>(rng, m * k), bias = Random<T>(rng, n), c0 = Random<T>(rng, m * n);
                        T[] fast = (T[])c0.Clone(), plain = (T[])c0.Clone(), reference = (T[])c0.Clone();
                        T slope = T.CreateChecked(0.1);
                        Gemm.Multiply(ta, m, T.One, a, lda, packed, beta, fast, n, bias, act, slope);
                        Gemm.Multiply(ta, tb, m, n, k, T.One, a, lda, b, ldb, beta, plain, n, bias, act, slope);
                        GemmReference.Multiply(ta, tb, m, n, k, T.One, a, lda, b, ldb, beta, reference, n, bias, act, slope);
                        T[] bound = Bound(ta, tb, m, n, k, a, lda, b, ldb, beta, c0, bias);
                        string what = $"{typeof(T).Name} m {m} n {n} k {k} {ta}/{tb} beta {beta} {act}";
                        for (int i = 0; i < fast.Length; i++)
                        {
                            if (!(T.Abs(fast[i] - reference[i]) <= bound[i]))
                            {
                                throw new Xunit.Sdk.XunitException($"{what}: element {i} is {fast[i]}, reference {reference[i]} (allowed {bound[i]})");
                            }

                            if (beta == T.Zero || beta == T.One)
                            {
                                fast[i].Should().Be(plain[i], $"{what}: element {i} equals the unpacked GEMM bit for bit");
                            }
                        }
                    }
                }
            }
        }
    }

    // (k + 4)·eps·(|A|·|B| + |beta·C| + |bias|) + tiny; the activations are 1-Lipschitz.
    private static T[] Bound<T>(Transpose ta, Transpose tb, int m, int n, int k, T[] a, int lda, T[] b, int ldb, T beta, T[] c, T[] bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] bound = c.Select(T.Abs).ToArray();
        GemmReference.Multiply(ta, tb, m, n, k, T.One, a.Select(T.Abs).ToArray(), lda, b.Select(T.Abs).ToArray(), ldb, T.Abs(beta), bound, n, bias.Select(T.Abs).ToArray());
        T eps = typeof(T) == typeof(float) ? T.CreateChecked(1.2e-7) : T.CreateChecked(2.3e-16);
        return bound.Select(x => (x * T.CreateChecked(k + 4) * eps) + (eps * T.CreateChecked(16))).ToArray();
    }

    private static T[] Random<T>(Random rng, int count)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Enumerable.Range(0, count).Select(_ => T.CreateChecked((rng.NextDouble() * 2) - 1)).ToArray();
}
