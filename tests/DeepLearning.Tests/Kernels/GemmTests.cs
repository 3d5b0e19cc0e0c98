using System.Numerics;
using System.Runtime.Intrinsics.X86;
using DeepLearning.Kernels;

namespace DeepLearning.Tests.Kernels;

/// <summary>
/// The fast GEMM against the scalar <see cref="GemmReference"/> oracle. Each element must agree within a bound
/// that scales with k and with the magnitudes involved (the reference run on |A|, |B|, |C|, |bias|), since the
/// fast path sums in a different order and uses fused multiply-adds.
/// </summary>
public class GemmTests
{
    private static readonly (int M, int N, int K)[] _shapes =
    {
        (1, 1, 1), (1, 10, 1), (5, 7, 3), (6, 16, 1), (7, 17, 2), (11, 13, 5), (13, 31, 29), (5, 63, 8), (6, 64, 9),
        (7, 65, 33), (12, 97, 17), (37, 129, 7), (23, 10, 300), (3, 200, 513), (61, 67, 259),

        // More than four 64-wide panels, so Ã is packed (k % 8 ≠ 0 and = 0, m % 6 ≠ 0).
        (13, 270, 21), (61, 300, 259), (20, 280, 64),
    };

    public static TheoryData<Transpose, Transpose> Transposes() => new()
    {
        { Transpose.None, Transpose.None },
        { Transpose.None, Transpose.Transposed },
        { Transpose.Transposed, Transpose.None },
        { Transpose.Transposed, Transpose.Transposed },
    };

    [Theory]
    [MemberData(nameof(Transposes))]
    public void Float_matches_reference_on_awkward_shapes(Transpose ta, Transpose tb)
    {
        var rng = new Random(11);
        foreach (var (m, n, k) in _shapes)
        {
            Check<float>(rng, ta, tb, m, n, k, alpha: 1f, beta: 0f, threads: 1);
            Check<float>(rng, ta, tb, m, n, k, alpha: -0.75f, beta: 1f, threads: 2);
            Check<float>(rng, ta, tb, m, n, k, alpha: 0f, beta: 0.5f, threads: 1, padding: 3);
        }
    }

    [Theory]
    [MemberData(nameof(Transposes))]
    public void Double_matches_reference_on_awkward_shapes(Transpose ta, Transpose tb)
    {
        var rng = new Random(12);
        foreach (var (m, n, k) in _shapes)
        {
            Check<double>(rng, ta, tb, m, n, k, alpha: 1.0, beta: 0.0, threads: 2);
            Check<double>(rng, ta, tb, m, n, k, alpha: 2.5, beta: -1.25, threads: 1, padding: 5);
        }
    }

    [Theory]
    [MemberData(nameof(Transposes))]
    public void Larger_problems_match_reference_on_two_threads(Transpose ta, Transpose tb)
    {
        var rng = new Random(13);
        Check<float>(rng, ta, tb, 203, 150, 270, alpha: 1f, beta: 0f, threads: 2);
        Check<double>(rng, ta, tb, 97, 131, 140, alpha: 0.5, beta: 1.0, threads: 2, padding: 2);
    }

    [Fact]
    public void A_size_near_600_matches_reference()
    {
        var rng = new Random(14);
        Check<float>(rng, Transpose.None, Transpose.Transposed, 601, 70, 600, alpha: 1f, beta: 0f, threads: 2);
        Check<double>(rng, Transpose.Transposed, Transpose.None, 70, 599, 300, alpha: 1.0, beta: 0.0, threads: 2);
    }

    [Fact]
    public void Depths_at_the_k_block_boundaries_match_reference()
    {
        // One block up to 400, two equal halves up to 800, blocks of KC beyond (GemmBlocking.BlockDepth).
        GemmBlocking.BlockDepth(256).Should().Be(256);
        GemmBlocking.BlockDepth(400).Should().Be(400);
        GemmBlocking.BlockDepth(401).Should().Be(208);
        GemmBlocking.BlockDepth(784).Should().Be(392);
        GemmBlocking.BlockDepth(800).Should().Be(400);
        GemmBlocking.BlockDepth(801).Should().Be(GemmBlocking.KC);
        var rng = new Random(15);
        foreach (int k in new[] { 399, 400, 401, 783, 784, 799, 800, 801 })
        {
            Check<float>(rng, Transpose.None, Transpose.Transposed, 64, 70, k, alpha: 1f, beta: 0f, threads: 2);
            Check<double>(rng, Transpose.Transposed, Transpose.None, 13, 65, k, alpha: 1.0, beta: 1.0, threads: 1);
        }
    }

    [Fact]
    public void Wide_B_takes_the_per_KC_packing_and_NC_blocking_paths()
    {
        // k·n above the whole-B packing budget, and n above NC, so B̃ is packed one KC step of one NC block at a time.
        var rng = new Random(19);
        Check<float>(rng, Transpose.None, Transpose.Transposed, 13, 3100, 400, alpha: 1f, beta: 0.5f, threads: 2, bias: true, act: FusedActivation.ReLU);
        Check<double>(rng, Transpose.Transposed, Transpose.None, 7, 3090, 350, alpha: 1.0, beta: 0.0, threads: 1);
    }

    [Fact]
    public void A_C_too_large_for_the_cache_is_prefetched_and_matches_reference()
    {
        // C above GemmBlocking.PrefetchCBytes and more than one k-block: the later blocks' tiles prefetch C before
        // their epilogue loads it (with the user's beta on the first block, 1 after it).
        (300L * 900 * sizeof(float)).Should().BeGreaterThan(GemmBlocking.PrefetchCBytes);
        var rng = new Random(23);
        Check<float>(rng, Transpose.None, Transpose.None, 300, 900, 801, alpha: 1f, beta: 0.5f, threads: 2, bias: true, act: FusedActivation.ReLU);
        Check<float>(rng, Transpose.Transposed, Transpose.Transposed, 300, 900, 530, alpha: -1f, beta: 0f, threads: 1);
        Check<double>(rng, Transpose.None, Transpose.Transposed, 200, 700, 520, alpha: 1.0, beta: -1.0, threads: 1);
    }

    [Theory]
    [InlineData(FusedActivation.Identity)]
    [InlineData(FusedActivation.ReLU)]
    [InlineData(FusedActivation.LeakyReLU)]
    [InlineData(FusedActivation.Sigmoid)]
    [InlineData(FusedActivation.Tanh)]
    public void Bias_and_every_activation_match_reference(FusedActivation act)
    {
        var rng = new Random(15 + (int)act);
        foreach (var (m, n, k) in new[] { (13, 70, 20), (64, 10, 128), (6, 64, 300), (2, 3, 4) })
        {
            foreach (int threads in new[] { 1, 2 })
            {
                Check<float>(rng, Transpose.None, Transpose.Transposed, m, n, k, 1f, 0f, threads, bias: true, act: act, slope: 0.1f);
                Check<double>(rng, Transpose.Transposed, Transpose.None, m, n, k, 0.5, 0.75, threads, bias: true, act: act, slope: 0.2);
            }
        }
    }

    [Fact]
    public void Beta_zero_ignores_NaN_already_in_C()
    {
        var rng = new Random(16);
        foreach (var (m, n, k) in new[] { (1, 1, 1), (7, 65, 3), (64, 256, 300), (12, 10, 5) })
        {
            float[] a = Random<float>(rng, m * k), b = Random<float>(rng, k * n);
            float[] c = Enumerable.Repeat(float.NaN, m * n).ToArray();
            float[] expected = new float[m * n];
            GemmReference.Multiply<float>(Transpose.None, Transpose.None, m, n, k, 1f, a, k, b, n, 0f, expected, n);
            Gemm.Multiply<float>(Transpose.None, Transpose.None, m, n, k, 1f, a, k, b, n, 0f, c, n);
            c.Should().OnlyContain(x => !float.IsNaN(x), $"shape ({m}, {n}, {k})");
            AssertClose(c, expected, Bound<float>(Transpose.None, Transpose.None, m, n, k, 1f, a, k, b, n, 0f, null, n, null), $"({m}, {n}, {k})");
        }
    }

    [Fact]
    public void Fused_sigmoid_and_tanh_are_the_element_wise_kernels_applied_to_the_product_bit_for_bit()
    {
        // σ and tanh are applied once per block of C (not per tile row): contiguous rows in one call, short rows gathered
        // into a buffer, long rows one by one. Each path must give exactly what the Sigmoid and Tanh layers give, and
        // leave C's padding alone. Shapes: a 2-4-1 layer over 400 rows, shifted last tiles, a narrow output layer,
        // panels split over two threads, two k-blocks, fewer rows than a tile, rows wider than the gather buffer.
        var rng = new Random(41);
        foreach (var (m, n, k) in new[] { (400, 4, 2), (13, 70, 20), (64, 10, 128), (97, 130, 801), (5, 33, 7), (200, 300, 64), (61, 129, 3) })
        {
            foreach (int padding in new[] { 0, 3 })
            {
                foreach (int threads in new[] { 1, 2 })
                {
                    foreach (var act in new[] { FusedActivation.Sigmoid, FusedActivation.Tanh })
                    {
                        FusedMatchesElementWise<float>(rng, m, n, k, padding, threads, act);
                        FusedMatchesElementWise<double>(rng, m, n, k, padding, threads, act);
                    }
                }
            }
        }
    }

    private static void FusedMatchesElementWise<T>(Random rng, int m, int n, int k, int padding, int threads, FusedActivation act)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ldc = n + padding;
        T[] a = Random<T>(rng, m * k), b = Random<T>(rng, n * k), bias = Random<T>(rng, n);
        T[] fused = Random<T>(rng, m * ldc);
        T[] separate = (T[])fused.Clone();
        T[] before = (T[])fused.Clone();
        Gemm.ThreadsOverride = threads;
        try
        {
            Gemm.Multiply(Transpose.None, Transpose.Transposed, m, n, k, T.One, a, k, b, k, T.Zero, fused, ldc, bias, act);
            Gemm.Multiply(Transpose.None, Transpose.Transposed, m, n, k, T.One, a, k, b, k, T.Zero, separate, ldc, bias);
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }

        for (int i = 0; i < m; i++)
        {
            var row = separate.AsSpan(i * ldc, n);
            if (act == FusedActivation.Sigmoid)
            {
                ElementWise.Sigmoid<T>(row, row);
            }
            else
            {
                ElementWise.Tanh<T>(row, row);
            }
        }

        for (int i = 0; i < fused.Length; i++)
        {
            bool pad = i % ldc >= n;
            T want = pad ? before[i] : separate[i];
            if (!fused[i].Equals(want))
            {
                throw new Xunit.Sdk.XunitException($"{typeof(T).Name} {act} ({m}, {n}, {k}) padding {padding} threads {threads}: element {i} is {fused[i]}, {(pad ? "padding" : "the element-wise kernel gives")} {want}");
            }
        }
    }

    [Fact]
    public void Two_threads_give_bit_identical_results_to_one()
    {
        var rng = new Random(17);
        int m = 130, n = 200, k = 600;
        float[] a = Random<float>(rng, m * k), b = Random<float>(rng, n * k), bias = Random<float>(rng, n);
        float[] one = new float[m * n], two = new float[m * n];
        Gemm.ThreadsOverride = 1;
        Gemm.Multiply<float>(Transpose.None, Transpose.Transposed, m, n, k, 1f, a, k, b, k, 0f, one, n, bias, FusedActivation.ReLU);
        Gemm.ThreadsOverride = 2;
        Gemm.Multiply<float>(Transpose.None, Transpose.Transposed, m, n, k, 1f, a, k, b, k, 0f, two, n, bias, FusedActivation.ReLU);
        Gemm.ThreadsOverride = 0;
        two.Should().Equal(one);
        GemmThreadPool.Shared.HelperCount.Should().BeGreaterThanOrEqualTo(1, "the two-thread call must have used a helper");
    }

    [Fact]
    public void A_plain_B_read_in_place_matches_reference_and_the_packed_path_bit_for_bit()
    {
        // Not transposed, one k-block, n a multiple of the register width: B is read where it is (DirectB), by rows
        // and by column panels, with and without packed A, with B's leading dimension above n.
        var rng = new Random(37);
        var shapes = new (int M, int N, int K)[] { (6, 16, 1), (13, 48, 7), (64, 256, 128), (64, 784, 64), (200, 80, 256), (37, 64, 400), (256, 784, 64) };
        foreach (var (m, n, k) in shapes)
        {
            foreach (var ta in new[] { Transpose.None, Transpose.Transposed })
            {
                foreach (int threads in new[] { 1, 2 })
                {
                    Check<float>(rng, ta, Transpose.None, m, n, k, alpha: 1f, beta: 0f, threads: threads, bias: true, act: FusedActivation.ReLU);
                    Check<float>(rng, ta, Transpose.None, m, n, k, alpha: 0.5f, beta: 1f, threads: threads, padding: 3);
                    Check<double>(rng, ta, Transpose.None, m, n, k, alpha: 1.0, beta: 0.0, threads: threads, padding: 1);

                    int lda = ta == Transpose.None ? k : m, ldb = n + 5;
                    float[] a = Random<float>(rng, m * k), b = Random<float>(rng, k * ldb);
                    float[] direct = new float[m * n], packed = new float[m * n];
                    Gemm.ThreadsOverride = threads;
                    try
                    {
                        Gemm.Multiply<float>(ta, Transpose.None, m, n, k, 1f, a, lda, b, ldb, 0f, direct, n);
                        GemmBlocking.DirectBMinElements = long.MaxValue;
                        Gemm.Multiply<float>(ta, Transpose.None, m, n, k, 1f, a, lda, b, ldb, 0f, packed, n);
                    }
                    finally
                    {
                        GemmBlocking.DirectBMinElements = 0;
                        Gemm.ThreadsOverride = 0;
                    }

                    direct.Should().Equal(packed, $"({m}, {n}, {k}) {ta} threads {threads}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Transposes))]
    public void Rows_split_with_B_packed_per_KC_step_by_each_participant_match_reference_and_one_thread(Transpose ta, Transpose tb)
    {
        // More than 32 row tiles (the row split on two threads) and k·n above the whole-B packing budget, so each
        // participant packs every KC step of B̃ for itself.
        int m = 200, n = 1100, k = 1000;
        ((long)k * n).Should().BeGreaterThan(GemmBlocking.WholePackElements);
        var rng = new Random(29);
        Check<float>(rng, ta, tb, m, n, k, alpha: 1f, beta: 0.5f, threads: 2, bias: true, act: FusedActivation.ReLU);

        float[] a = Random<float>(rng, m * k), b = Random<float>(rng, n * k);
        float[] one = new float[m * n], two = new float[m * n];
        int lda = ta == Transpose.None ? k : m, ldb = tb == Transpose.None ? n : k;
        Gemm.ThreadsOverride = 1;
        Gemm.Multiply<float>(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, one, n);
        Gemm.ThreadsOverride = 2;
        Gemm.Multiply<float>(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, two, n);
        Gemm.ThreadsOverride = 0;
        two.Should().Equal(one);
    }

    [Theory]
    [MemberData(nameof(Transposes))]
    public void Few_rows_split_by_column_panels_match_reference_and_one_thread(Transpose ta, Transpose tb) =>
        // m of a mini-batch and n of a layer, n not a multiple of any NR: two threads split C by column panels.
        // Ã packed (n > 4 panels of 64) and read in place (n ≤ 4 panels); k above KC so C is accumulated over steps.
        TwoThreadsMatchReferenceAndOneThread(ta, tb, new Random(20), [(64, 300, 70), (40, 333, 600), (13, 200, 300)]);

    [Theory]
    [MemberData(nameof(Transposes))]
    public void Many_rows_with_A_read_in_place_split_by_column_panels_match_reference_and_one_thread(Transpose ta, Transpose tb) =>
        // More than 32 row tiles (the row split's territory by row count alone), n ≤ 4 panels (A read in place) and B
        // packed: two threads split C by column panels so each B̃ panel is packed once. A batch-256 first layer
        // (256, 256, 784), one k-block and two, a narrow last panel, and m not a multiple of the tile's rows.
        TwoThreadsMatchReferenceAndOneThread(ta, tb, new Random(41), [(256, 256, 784), (301, 200, 900), (200, 130, 64)]);

    private static void TwoThreadsMatchReferenceAndOneThread(Transpose ta, Transpose tb, Random rng, (int M, int N, int K)[] shapes)
    {
        foreach (var (m, n, k) in shapes)
        {
            Check<float>(rng, ta, tb, m, n, k, alpha: 1f, beta: 0f, threads: 2, bias: true, act: FusedActivation.ReLU);
            Check<float>(rng, ta, tb, m, n, k, alpha: 0.5f, beta: 0.75f, threads: 2, padding: 3, bias: true, act: FusedActivation.Sigmoid);
            Check<double>(rng, ta, tb, m, n, k, alpha: 1.0, beta: 0.0, threads: 2, bias: true, act: FusedActivation.LeakyReLU, slope: 0.1);

            int lda = ta == Transpose.None ? k : m, ldb = tb == Transpose.None ? n : k;
            float[] a = Random<float>(rng, Rows(ta, m, k) * lda), b = Random<float>(rng, Rows(tb, k, n) * ldb), bias = Random<float>(rng, n);
            float[] one = new float[m * n], two = new float[m * n], packedTwo = new float[m * n];
            try
            {
                Gemm.ThreadsOverride = 1;
                Gemm.Multiply<float>(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, one, n, bias, FusedActivation.Tanh);
                Gemm.ThreadsOverride = 2;
                Gemm.Multiply<float>(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, two, n, bias, FusedActivation.Tanh);
                Gemm.Multiply(ta, m, 1f, a, lda, Gemm.PackB<float>(tb, k, n, b, ldb), 0f, packedTwo, n, bias, FusedActivation.Tanh);
            }
            finally
            {
                Gemm.ThreadsOverride = 0;
            }

            two.Should().Equal(one, $"two threads bit-identical to one ({m}, {n}, {k}) {ta}/{tb}");
            packedTwo.Should().Equal(one, $"pre-packed B on two threads bit-identical to one ({m}, {n}, {k}) {ta}/{tb}");
        }
    }

    [Theory]
    [MemberData(nameof(Transposes))]
    public void Prepacked_B_matches_reference(Transpose ta, Transpose tb)
    {
        var rng = new Random(18);
        foreach (var (m, n, k) in new[] { (1, 1, 1), (7, 65, 3), (64, 10, 128), (33, 150, 300) })
        {
            int lda = (ta == Transpose.None ? k : m) + 1, ldb = (tb == Transpose.None ? n : k) + 2;
            float[] a = Random<float>(rng, Rows(ta, m, k) * lda), b = Random<float>(rng, Rows(tb, k, n) * ldb), bias = Random<float>(rng, n);
            float[] c = Random<float>(rng, m * n), expected = (float[])c.Clone();
            GemmPackedB<float> packed = Gemm.PackB<float>(tb, k, n, b, ldb);
            packed.K.Should().Be(k);
            packed.N.Should().Be(n);
            Gemm.Multiply(ta, m, 0.5f, a, lda, packed, 1f, c, n, bias, FusedActivation.Tanh);
            GemmReference.Multiply<float>(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 1f, expected, n, bias, FusedActivation.Tanh);
            AssertClose(c, expected, Bound<float>(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 1f, c, n, bias), $"packed ({m}, {n}, {k})");
        }
    }

    [Fact]
    public void K_zero_gives_activation_of_beta_C_plus_bias()
    {
        float[] c = { 1, -2, 3, -4 };
        Gemm.Multiply<float>(Transpose.None, Transpose.None, 2, 2, 0, 1f, Array.Empty<float>(), 1, Array.Empty<float>(), 2, 2f, c, 2, new float[] { 1, 1 }, FusedActivation.ReLU);
        c.Should().Equal(3, 0, 7, 0);
    }

    [Fact]
    public void Empty_problems_touch_nothing()
    {
        float[] c = { 42 };
        Gemm.Multiply<float>(Transpose.None, Transpose.None, 0, 1, 3, 1f, Array.Empty<float>(), 3, new float[3], 1, 0f, c, 1);
        Gemm.Multiply<float>(Transpose.None, Transpose.None, 1, 0, 3, 1f, new float[3], 3, Array.Empty<float>(), 1, 0f, c, 1);
        c[0].Should().Be(42);
    }

    [Fact]
    public void Bad_arguments_name_the_problem()
    {
        var small = () => Gemm.Multiply<float>(Transpose.None, Transpose.None, 2, 2, 2, 1, new float[3], 2, new float[4], 2, 0, new float[4], 2);
        small.Should().Throw<ArgumentException>().WithMessage("*A is stored (2, 2)*needs 4*received 3*");
        var ldc = () => Gemm.Multiply<double>(Transpose.None, Transpose.None, 2, 3, 2, 1, new double[4], 2, new double[6], 3, 0, new double[6], 2);
        ldc.Should().Throw<ArgumentException>().WithMessage("*leading dimension of C*at least 3*received 2*");
        var threads = () => Gemm.MaxThreads = 0;
        threads.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*MaxThreads must be in 1..256; received 0*");
    }

    [Fact]
    public void Undefined_enum_values_are_refused_before_any_memory_is_read()
    {
        // (Transpose)2 was checked as transposed and read as plain: the kernel read past A and the process died.
        int m = 2000, n = 64;
        var gemm = () => Gemm.Multiply((Transpose)2, Transpose.None, m, n, 1, 1f, new float[m], m, new float[n], n, 0f, new float[m * n], n);
        gemm.Should().Throw<ArgumentOutOfRangeException>().WithMessage("transA must be Transpose.None or Transpose.Transposed; received 2*")
            .Which.ParamName.Should().Be("transA");
        var gemmB = () => Gemm.Multiply(Transpose.None, (Transpose)(-1), 2, 2, 2, 1.0, new double[4], 2, new double[4], 2, 0.0, new double[4], 2);
        gemmB.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("transB");
        var pack = () => Gemm.PackB((Transpose)3, 3000, 1, new float[3000], 3000);
        pack.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("transB");
        var packed = Gemm.PackB(Transpose.None, 4, 3, new float[12], 3);
        var packedA = () => Gemm.Multiply((Transpose)2, 500, 1f, new float[2000], 4, packed, 0f, new float[1500], 3);
        packedA.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("transA");
        var activation = () => Gemm.Multiply(Transpose.None, Transpose.None, 2, 2, 2, 1f, new float[4], 2, new float[4], 2, 0f, new float[4], 2, activation: (FusedActivation)99);
        activation.Should().Throw<ArgumentOutOfRangeException>().WithMessage("activation must be a FusedActivation member*received 99*");
        var packedActivation = () => Gemm.Multiply(Transpose.None, 2, 1f, new float[8], 4, packed, 0f, new float[6], 3, activation: (FusedActivation)5);
        packedActivation.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("activation");
        var reference = () => GemmReference.Multiply(Transpose.None, (Transpose)7, 2, 2, 2, 1f, new float[4], 2, new float[4], 2, 0f, new float[4], 2);
        reference.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Path_matches_the_instruction_sets_the_runtime_enables()
    {
        // .ci/run reruns this namespace with AVX-512, AVX2 and all hardware intrinsics switched off; each run
        // must really take the path those switches leave. .NET 10 reads DOTNET_EnableAVX512 (it ignores the
        // older DOTNET_EnableAVX512F), so only the former is taken as switching AVX-512 off.
        static bool Off(string name) => Environment.GetEnvironmentVariable("DOTNET_" + name) == "0";
        GemmPath expected;
        if (Off("EnableHWIntrinsic"))
        {
            expected = GemmPath.Scalar;
        }
        else if (Off("EnableAVX2") || Off("EnableAVX"))
        {
            expected = System.Numerics.Vector.IsHardwareAccelerated ? GemmPath.Vector : GemmPath.Scalar;
        }
        else if (Off("EnableAVX512") || !Avx512F.IsSupported)
        {
            expected = Fma.IsSupported ? GemmPath.Avx2 : (System.Numerics.Vector.IsHardwareAccelerated ? GemmPath.Vector : GemmPath.Scalar);
        }
        else
        {
            expected = GemmPath.Avx512;
        }

        Gemm.Path.Should().Be(expected);
        if (Off("EnableHWIntrinsic"))
        {
            System.Numerics.Vector.IsHardwareAccelerated.Should().BeFalse();
        }
    }

    private static void Check<T>(
        Random rng, Transpose ta, Transpose tb, int m, int n, int k, T alpha, T beta, int threads,
        int padding = 0, bool bias = false, FusedActivation act = FusedActivation.Identity, T slope = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lda = (ta == Transpose.None ? k : m) + padding;
        int ldb = (tb == Transpose.None ? n : k) + padding;
        int ldc = n + padding;
        T[] a = Random<T>(rng, Math.Max(1, (Rows(ta, m, k) * lda) - padding));
        T[] b = Random<T>(rng, Math.Max(1, (Rows(tb, k, n) * ldb) - padding));
        T[] c = Random<T>(rng, (m * ldc) - padding);
        T[]? biasValues = bias ? Random<T>(rng, n) : null;
        T[] expected = (T[])c.Clone();
        T[] before = (T[])c.Clone();
        GemmReference.Multiply(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, expected, ldc, biasValues, act, slope);
        Gemm.ThreadsOverride = threads;
        try
        {
            Gemm.Multiply(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, biasValues, act, slope);
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }

        string what = $"{typeof(T).Name} {ta}/{tb} ({m}, {n}, {k}) alpha {alpha} beta {beta} threads {threads} pad {padding} {act}";
        T[] bound = Bound(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, before, ldc, biasValues);
        AssertClose(c, expected, bound, what);
        for (int i = 0; i < m; i++)
        {
            for (int j = n; j < ldc && (i * ldc) + j < c.Length; j++)
            {
                c[(i * ldc) + j].Should().Be(before[(i * ldc) + j], $"padding of C is not part of the result ({what})");
            }
        }
    }

    // Per-element error bound: (k + 4)·eps·(|alpha|·|A|·|B| + |beta·C| + |bias|) + tiny; activations are 1-Lipschitz.
    private static T[] Bound<T>(
        Transpose ta, Transpose tb, int m, int n, int k, T alpha, T[] a, int lda, T[] b, int ldb, T beta, T[]? c, int ldc, T[]? bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] absA = a.Select(T.Abs).ToArray(), absB = b.Select(T.Abs).ToArray();
        T[] bound = c is null ? new T[m * ldc] : c.Select(T.Abs).ToArray();
        T[]? absBias = bias?.Select(T.Abs).ToArray();
        GemmReference.Multiply(ta, tb, m, n, k, T.Abs(alpha), absA, lda, absB, ldb, c is null ? T.Zero : T.Abs(beta), bound, ldc, absBias);
        T scale = T.CreateChecked(k + 4) * Eps<T>();
        for (int i = 0; i < bound.Length; i++)
        {
            bound[i] = (bound[i] * scale) + (Eps<T>() * T.CreateChecked(16));
        }

        return bound;
    }

    private static T Eps<T>()
        where T : unmanaged, IFloatingPointIeee754<T> => typeof(T) == typeof(float) ? T.CreateChecked(1.2e-7) : T.CreateChecked(2.3e-16);

    private static void AssertClose<T>(T[] actual, T[] expected, T[] bound, string what)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < expected.Length; i++)
        {
            T diff = T.Abs(actual[i] - expected[i]);
            if (!(diff <= bound[i]))
            {
                throw new Xunit.Sdk.XunitException($"{what}: element {i} is {actual[i]}, reference {expected[i]} (allowed error {bound[i]})");
            }
        }
    }

    private static int Rows(Transpose t, int rows, int cols) => t == Transpose.None ? rows : cols;

    private static T[] Random<T>(Random rng, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = new T[count];
        for (int i = 0; i < count; i++)
        {
            x[i] = T.CreateChecked((rng.NextDouble() * 2) - 1);
        }

        return x;
    }
}
