using DeepLearning.Kernels;

namespace DeepLearning.Tests.Kernels;

/// <summary>
/// Back-to-back two-thread calls whose chunk counts differ from call to call: the hand-off must never let a
/// helper that is late for one call claim work of the next (a race once seen as a NullReferenceException in
/// the micro-kernel during training).
/// </summary>
public class GemmThreadingTests
{
    [Fact]
    public void Alternating_shapes_with_two_threads_match_the_reference()
    {
        var shapes = new (Transpose A, Transpose B, int M, int N, int K)[]
        {
            (Transpose.Transposed, Transpose.None, 256, 784, 128),
            (Transpose.None, Transpose.None, 128, 784, 256),
            (Transpose.None, Transpose.Transposed, 128, 256, 784),
            (Transpose.Transposed, Transpose.None, 128, 256, 128),
            (Transpose.None, Transpose.Transposed, 600, 64, 70),
        };
        var random = new RandomSource(5);
        var data = shapes.Select(s =>
        {
            var a = new float[s.M * s.K];
            var b = new float[s.K * s.N];
            random.FillNormal<float>(a);
            random.FillNormal<float>(b);
            var expected = new float[s.M * s.N];
            int lda = s.A == Transpose.None ? s.K : s.M;
            int ldb = s.B == Transpose.None ? s.N : s.K;
            GemmReference.Multiply<float>(s.A, s.B, s.M, s.N, s.K, 1f, a, lda, b, ldb, 0f, expected, s.N);
            return (a, b, expected, lda, ldb);
        }).ToArray();

        Gemm.ThreadsOverride = 2;
        try
        {
            for (int iteration = 0; iteration < 150; iteration++)
            {
                int i = iteration % shapes.Length;
                var s = shapes[i];
                var (a, b, expected, lda, ldb) = data[i];
                var c = new float[s.M * s.N];
                Gemm.Multiply<float>(s.A, s.B, s.M, s.N, s.K, 1f, a, lda, b, ldb, 0f, c, s.N);
                for (int j = 0; j < c.Length; j += 97)
                {
                    Math.Abs(c[j] - expected[j]).Should().BeLessThan(1e-2f * (1 + Math.Abs(expected[j])), $"iteration {iteration}, shape {i}, element {j}");
                }
            }
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }
    }
}
