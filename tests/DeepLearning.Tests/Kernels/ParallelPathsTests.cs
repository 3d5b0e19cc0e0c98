using DeepLearning.Kernels;

namespace DeepLearning.Tests.Kernels;

/// <summary>
/// The work split over the GEMM pool besides the GEMM itself — the matrix-vector path against a large pre-packed B,
/// the optimizer updates, the shuffled-row gather — must give the same bits on two threads as on one, and
/// <see cref="ParallelRange"/> must visit every element exactly once whatever the length and granule.
/// </summary>
public class ParallelPathsTests
{
    [Fact]
    public void Parallel_range_visits_every_element_once()
    {
        Gemm.ThreadsOverride = 2;
        try
        {
            foreach (int length in new[] { 0, 1, 63, 64, 65, 32_767, 32_768, 32_769, 100_003 })
            {
                foreach (int granule in new[] { 1, 7, 64 })
                {
                    var counts = new int[length];
                    unsafe
                    {
                        fixed (int* p = counts)
                        {
                            ParallelRange.For(length, new CountBody(p), minimumPerThread: 1, granule: granule);
                        }
                    }

                    counts.Count(c => c != 1).Should().Be(0, $"length {length}, granule {granule}");
                }
            }
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }
    }

    [Theory]
    [InlineData(FusedActivation.ReLU)]
    [InlineData(FusedActivation.Sigmoid)]
    [InlineData(FusedActivation.Identity)]
    public void Rows_against_a_large_prepacked_B_are_bit_identical_on_two_threads(FusedActivation act)
    {
        var random = new RandomSource(11);
        foreach (var (k, n) in new[] { (784, 256), (300, 200), (1000, 1000) })
        {
            var w = new float[n * k];
            random.FillNormal<float>(w);
            var bias = new float[n];
            random.FillNormal<float>(bias);
            var packed = Gemm.PackB(Transpose.Transposed, k, n, w, k);
            for (int m = 1; m <= 5; m++)
            {
                var x = new float[m * k];
                random.FillNormal<float>(x);
                var one = Run(1);
                var two = Run(2);
                two.Should().Equal(one, $"m {m}, k {k}, n {n}, {act}");

                float[] Run(int threads)
                {
                    var y = new float[m * n];
                    Gemm.ThreadsOverride = threads;
                    try
                    {
                        Gemm.Multiply(Transpose.None, m, 1f, x, k, packed, 0f, y, n, bias, act, 0f);
                    }
                    finally
                    {
                        Gemm.ThreadsOverride = 0;
                    }

                    return y;
                }
            }
        }
    }

    [Fact]
    public void Row_split_with_each_participant_packing_B_is_bit_identical_and_never_reuses_an_old_pack()
    {
        // Same shapes back to back with different B each time: a participant's own B̃ must be packed afresh per call.
        var random = new RandomSource(12);
        var shapes = new (Transpose A, Transpose B, int M, int N, int K)[]
        {
            (Transpose.Transposed, Transpose.None, 256, 784, 64),
            (Transpose.None, Transpose.Transposed, 256, 256, 784),
            (Transpose.None, Transpose.None, 300, 70, 33),
        };
        for (int iteration = 0; iteration < 12; iteration++)
        {
            var s = shapes[iteration % shapes.Length];
            var a = new float[s.M * s.K];
            var b = new float[s.K * s.N];
            random.FillNormal<float>(a);
            random.FillNormal<float>(b);
            int lda = s.A == Transpose.None ? s.K : s.M;
            int ldb = s.B == Transpose.None ? s.N : s.K;
            var one = Run(1);
            var two = Run(2);
            two.Should().Equal(one, $"iteration {iteration}: {s}");

            float[] Run(int threads)
            {
                var c = new float[s.M * s.N];
                Gemm.ThreadsOverride = threads;
                try
                {
                    Gemm.Multiply<float>(s.A, s.B, s.M, s.N, s.K, 1f, a, lda, b, ldb, 0f, c, s.N);
                }
                finally
                {
                    Gemm.ThreadsOverride = 0;
                }

                return c;
            }
        }
    }

    [Theory]
    [InlineData(Activation.ReLU)]
    [InlineData(Activation.LeakyReLU)]
    [InlineData(Activation.Sigmoid)]
    [InlineData(Activation.Tanh)]
    [InlineData(Activation.Linear)]
    public void Backward_GEMM_with_the_derivative_inside_equals_the_separate_pass(Activation g)
    {
        var random = new RandomSource(13);
        foreach (var (m, n, k) in new[] { (64, 256, 128), (7, 33, 10), (200, 70, 300), (1, 5, 3), (3, 40, 17) })
        {
            foreach (int threads in new[] { 1, 2 })
            {
                foreach (bool withMask in new[] { false, true })
                {
                    var a = new double[m * k];
                    var b = new double[k * n];
                    var act = new double[m * n];
                    random.FillNormal<double>(a);
                    random.FillNormal<double>(b);
                    random.FillNormal<double>(act);
                    act[0] = double.NaN;
                    act[^1] = 0;
                    a[k / 2] = double.PositiveInfinity;

                    // A dropout mask (1/keep or 0), dropping the first row's ±∞ products among others: ∞·0 = NaN both ways.
                    var mask = withMask ? Enumerable.Range(0, m * n).Select(i => random.NextDouble() < 0.7 ? 1 / 0.7 : 0).ToArray() : [];
                    if (withMask)
                    {
                        mask[0] = mask[n / 2] = 0;
                    }

                    var separate = new double[m * n];
                    var fused = new double[m * n];
                    Gemm.ThreadsOverride = threads;
                    try
                    {
                        Gemm.Multiply<double>(Transpose.None, Transpose.None, m, n, k, 1, a, k, b, n, 0, separate, n);
                        if (withMask)
                        {
                            ElementWise.Multiply<double>(separate, mask, separate);
                        }

                        ActivationMath.Backward<double>(g, separate, act, 0.1, separate);
                        Gemm.MultiplyBackward<double>(Transpose.None, Transpose.None, m, n, k, a, k, b, n, fused, n, g, act, 0.1, mask);
                    }
                    finally
                    {
                        Gemm.ThreadsOverride = 0;
                    }

                    for (int i = 0; i < fused.Length; i++)
                    {
                        BitConverter.DoubleToInt64Bits(fused[i]).Should().Be(BitConverter.DoubleToInt64Bits(separate[i]), $"{g} ({m}, {n}, {k}) threads {threads}, mask {withMask}, element {i}");
                    }
                }
            }
        }
    }

    [Theory]
    [InlineData(Activation.ReLU)]
    [InlineData(Activation.Tanh)]
    public void Model_gradients_with_fused_derivatives_equal_the_layer_by_layer_chain(Activation g)
    {
        var model = Model.Sequential<float>(20).Dense(32, g).Dense(16, g).Dense(8).Dense(3).Softmax().Build(seed: 4);
        var random = new RandomSource(5);
        var x = Tensor.RandomUniform<float>(random, [50, 20]);
        var y = DataSet.OneHot<float>(Enumerable.Range(0, 50).Select(i => i % 3).ToArray(), 3);
        model.ComputeGradients(x, y);
        var fused = model.Parameters.Select(p => p.Gradient.ReadOnlySpan.ToArray()).ToArray();

        // The same step layer by layer through the public Backward of each layer (the derivative as its own pass).
        var yhat = model.Forward(x, training: true);
        var dz = new Tensor<float>(50, 3);
        model.Loss.OutputGradient(yhat, y, dz);
        var grad = dz;
        for (int l = model.Layers.Count - 2; l >= 0; l--)
        {
            grad = model.Layers[l].Backward(grad);
        }

        for (int i = 0; i < fused.Length; i++)
        {
            model.Parameters[i].Gradient.ReadOnlySpan.ToArray().Should().Equal(fused[i], $"parameter {model.Parameters[i].Name}");
        }
    }

    [Theory]
    [InlineData(Activation.ReLU, 1, 64)]
    [InlineData(Activation.ReLU, 2, 64)]
    [InlineData(Activation.Tanh, 2, 37)]
    [InlineData(Activation.Sigmoid, 1, 5)]
    [InlineData(Activation.LeakyReLU, 1, 1)]
    public void Model_gradients_with_the_dropout_mask_inside_the_GEMM_equal_the_layer_by_layer_chain(Activation g, int threads, int m)
    {
        // Two models with the same seed draw the same dropout keys: one through ComputeGradients (mask and g′ inside
        // the backward GEMM, the dropout's own pass skipped), one through each layer's public Backward. Dense(40) is
        // linear, so the dropout above it runs its own backward pass in both.
        ModelBuilder<float> Builder() => Model.Sequential<float>(100).Dense(256, g).Dropout(0.8).Dense(128, g).Dropout(0.5)
            .Dense(40).Dropout(0.9).Dense(10).Softmax();
        var fusedModel = Builder().Build(seed: 6);
        var chainModel = Builder().Build(seed: 6);
        var random = new RandomSource(7);
        var x = Tensor.RandomUniform<float>(random, [m, 100]);
        var y = DataSet.OneHot<float>(Enumerable.Range(0, m).Select(i => i % 10).ToArray(), 10);
        Gemm.ThreadsOverride = threads;
        try
        {
            for (int step = 0; step < 3; step++)
            {
                fusedModel.ComputeGradients(x, y);
                var yhat = chainModel.Forward(x, training: true);
                var dz = new Tensor<float>(m, 10);
                chainModel.Loss.OutputGradient(yhat, y, dz);
                var grad = dz;
                for (int l = chainModel.Layers.Count - 2; l >= 0; l--)
                {
                    grad = chainModel.Layers[l].Backward(grad);
                }

                for (int i = 0; i < fusedModel.Parameters.Count; i++)
                {
                    Bits(fusedModel.Parameters[i].Gradient).Should().Equal(Bits(chainModel.Parameters[i].Gradient), $"step {step}, parameter {fusedModel.Parameters[i].Name}");
                }
            }
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }

        static int[] Bits(Tensor<float> t) => t.ReadOnlySpan.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
    }

    [Theory]
    [InlineData(FusedActivation.ReLU)]
    [InlineData(FusedActivation.Sigmoid)]
    [InlineData(FusedActivation.Identity)]
    public void Last_rows_computed_as_a_shifted_tile_equal_the_rows_of_a_padded_product(FusedActivation act)
    {
        // m not a multiple of 6: the last rows are recomputed by a full tile shifted up (beta 0, one k-block), and
        // fewer than 6 rows take the row path. A product with the rows padded to a multiple of 6 runs only full tiles;
        // its first m rows must be the same bits.
        var random = new RandomSource(14);
        foreach (var (m, n, k) in new[] { (64, 10, 128), (7, 70, 33), (13, 128, 10), (100, 16, 64), (64, 256, 120), (64, 784, 100), (100, 330, 64), (200, 400, 50), (1, 256, 784), (3, 10, 128), (5, 70, 33) })
        {
            foreach (var (ta, tb) in new[] { (Transpose.None, Transpose.Transposed), (Transpose.None, Transpose.None), (Transpose.Transposed, Transpose.None) })
            {
                int padded = (m + 5) / 6 * 6;
                var a = new float[padded * k];
                var b = new float[k * n];
                var bias = new float[n];
                random.FillNormal<float>(b);
                random.FillNormal<float>(bias);
                var rows = new float[m * k];
                random.FillNormal<float>(rows);
                var aSmall = new float[m * k];
                for (int i = 0; i < m; i++)
                {
                    for (int p = 0; p < k; p++)
                    {
                        // Stored (m, k), or (k, m) when transposed; the padded copy has zero rows after m.
                        float v = rows[(i * k) + p];
                        aSmall[ta == Transpose.None ? (i * k) + p : (p * m) + i] = v;
                        a[ta == Transpose.None ? (i * k) + p : (p * padded) + i] = v;
                    }
                }

                int ldb = tb == Transpose.None ? n : k;
                foreach (int threads in new[] { 1, 2 })
                {
                    var small = new float[m * n];
                    var full = new float[padded * n];
                    Gemm.ThreadsOverride = threads;
                    try
                    {
                        Gemm.Multiply<float>(ta, tb, m, n, k, 1f, aSmall, ta == Transpose.None ? k : m, b, ldb, 0f, small, n, bias, act);
                        Gemm.Multiply<float>(ta, tb, padded, n, k, 1f, a, ta == Transpose.None ? k : padded, b, ldb, 0f, full, n, bias, act);
                    }
                    finally
                    {
                        Gemm.ThreadsOverride = 0;
                    }

                    small.Should().Equal(full.AsSpan(0, m * n).ToArray(), $"({m}, {n}, {k}) {ta}/{tb} {act} threads {threads}");
                }
            }
        }
    }

    [Fact]
    public void Optimizer_updates_are_bit_identical_on_two_threads()
    {
        foreach (int n in new[] { 32_768, 65_537, 200_704 })
        {
            var random = new RandomSource(n);
            var w0 = new double[n];
            var g = new double[n];
            random.FillNormal<double>(w0);
            random.FillNormal<double>(g);
            var one = Run(1);
            var two = Run(2);
            for (int i = 0; i < one.Length; i++)
            {
                two[i].Should().Equal(one[i], $"n {n}, array {i}");
            }

            double[][] Run(int threads)
            {
                var w = (double[])w0.Clone();
                var v = new double[n];
                var s = new double[n];
                var wm = (double[])w0.Clone();
                var vm = new double[n];
                var wr = (double[])w0.Clone();
                var sr = new double[n];
                Gemm.ThreadsOverride = threads;
                try
                {
                    for (int t = 1; t <= 3; t++)
                    {
                        Adam.Update<double>(w, g, v, s, 0.01, 0.9, 0.999, 1e-8, t);
                        Momentum.Update<double>(wm, g, vm, 0.01, 0.9, biasCorrection: true, t: t);
                        RmsProp.Update<double>(wr, g, sr, 0.01, 0.9, 1e-8);
                    }
                }
                finally
                {
                    Gemm.ThreadsOverride = 0;
                }

                return [w, v, s, wm, vm, wr, sr];
            }
        }
    }

    [Fact]
    public void Shuffled_batches_are_the_same_on_two_threads()
    {
        var random = new RandomSource(3);
        var x = Tensor.RandomUniform<float>(random, [500, 784]);
        var labels = Enumerable.Range(0, 500).Select(i => i % 10).ToArray();
        var data = DataSet.FromLabels(x, labels, 10);
        var one = Read(1);
        var two = Read(2);
        two.Should().Equal(one);

        float[] Read(int threads)
        {
            var all = new List<float>();
            var bx = new Tensor<float>(128, 784);
            var by = new Tensor<float>(128, 10);
            Gemm.ThreadsOverride = threads;
            try
            {
                using var reader = data.OpenEpoch(128, new RandomSource(9));
                int rows;
                while ((rows = reader.Next(bx, by)) > 0)
                {
                    all.AddRange(bx.ReadOnlySpan[..(rows * 784)].ToArray());
                    all.AddRange(by.ReadOnlySpan[..(rows * 10)].ToArray());
                }
            }
            finally
            {
                Gemm.ThreadsOverride = 0;
            }

            return [.. all];
        }
    }

    private readonly unsafe struct CountBody(int* counts) : IRangeBody
    {
        public void Invoke(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                Interlocked.Increment(ref counts[i]);
            }
        }
    }
}
