using System.Runtime.InteropServices;
using DeepLearning.Kernels;

namespace DeepLearning.Tests.Kernels;

/// <summary>
/// Operands placed so their last element is the last one before an inaccessible page (Linux): a kernel that reads or
/// writes past the span it was given faults (the test host crashes) instead of passing silently.
/// </summary>
public unsafe class GemmGuardPageTests
{
    private const int ProtNone = 0, ProtRw = 3, MapPrivateAnon = 0x22;

    [DllImport("libc", SetLastError = true)]
    private static extern nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", SetLastError = true)]
    private static extern int mprotect(nint addr, nuint length, int prot);

    [DllImport("libc", SetLastError = true)]
    private static extern int munmap(nint addr, nuint length);

    private sealed class Guarded : IDisposable
    {
        private readonly nint _base;
        private readonly nuint _length;

        public Guarded(int count)
        {
            const int page = 4096;
            long bytes = ((long)count * sizeof(float) + page - 1) / page * page;
            _length = (nuint)(bytes + page);
            _base = mmap(0, _length, ProtRw, MapPrivateAnon, -1, 0);
            if (_base == -1)
            {
                throw new InvalidOperationException("mmap failed");
            }

            mprotect(_base + (nint)bytes, page, ProtNone).Should().Be(0);
            Pointer = (float*)(_base + (nint)bytes) - count;
            Count = count;
        }

        public float* Pointer { get; }

        public int Count { get; }

        public Span<float> Span => new(Pointer, Count);

        public void Dispose() => munmap(_base, _length);
    }

    [Fact]
    public void Gemm_stays_inside_minimal_operands_on_small_and_ragged_shapes()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var rng = new Random(3);
        foreach (int threads in new[] { 1, 2 })
        {
            foreach (bool transB in new[] { false, true })
            {
                foreach (int m in new[] { 1, 5, 6, 7, 13 })
                {
                    foreach (int n in new[] { 1, 2, 7, 9, 10, 15, 16, 17, 32, 33, 48 })
                    {
                        foreach (int k in new[] { 1, 2, 7, 8, 9, 17 })
                        {
                            foreach (int pad in new[] { 0, 3 })
                            {
                                int lda = k + pad, ldc = n + pad;
                                int bw = transB ? k : n, bh = transB ? n : k, ldb = bw + pad;
                                using var a = new Guarded(((m - 1) * lda) + k);
                                using var b = new Guarded(((bh - 1) * ldb) + bw);
                                using var c = new Guarded(((m - 1) * ldc) + n);
                                using var bias = new Guarded(n);
                                Fill(a.Span, rng);
                                Fill(b.Span, rng);
                                Fill(c.Span, rng);
                                Fill(bias.Span, rng);
                                float[] expected = c.Span.ToArray();
                                GemmReference.Multiply(Transpose.None, transB ? Transpose.Transposed : Transpose.None, m, n, k, 1f, a.Span, lda, b.Span, ldb, 1f, expected, ldc, bias.Span, FusedActivation.ReLU);
                                Gemm.ThreadsOverride = threads;
                                try
                                {
                                    Gemm.Multiply(Transpose.None, transB ? Transpose.Transposed : Transpose.None, m, n, k, 1f, a.Span, lda, b.Span, ldb, 1f, c.Span, ldc, bias.Span, FusedActivation.ReLU);
                                }
                                finally
                                {
                                    Gemm.ThreadsOverride = 0;
                                }

                                for (int i = 0; i < m; i++)
                                {
                                    for (int j = 0; j < n; j++)
                                    {
                                        float got = c.Span[(i * ldc) + j], want = expected[(i * ldc) + j];
                                        MathF.Abs(got - want).Should().BeLessThanOrEqualTo(1e-4f * (1 + MathF.Abs(want)), $"C[{i},{j}] ({m},{n},{k}) transB {transB} pad {pad}");
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    [Fact]
    public void Partial_row_tiles_and_a_few_rows_against_a_prepacked_B_stay_inside_minimal_operands()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // A partial tile (m not a multiple of 6) reads A in place for its rows only, and 2–5 rows against a pre-packed B
        // run as one such tile: neither may touch a row of A or C past m, with A plain or transposed, several k-blocks
        // and beta 1 (the path the shifted full tile cannot take).
        var rng = new Random(6);
        foreach (int threads in new[] { 1, 2 })
        {
            foreach (bool transA in new[] { false, true })
            {
                foreach (int m in new[] { 2, 3, 5, 7, 10, 16 })
                {
                    foreach (var (n, k) in new[] { (64, 900), (10, 300), (256, 784), (33, 64) })
                    {
                        int lda = transA ? m : k;
                        var ta = transA ? Transpose.Transposed : Transpose.None;
                        using var a = new Guarded(transA ? ((k - 1) * lda) + m : ((m - 1) * lda) + k);
                        using var b = new Guarded(k * n);
                        using var c = new Guarded(m * n);
                        using var bias = new Guarded(n);
                        Fill(a.Span, rng);
                        Fill(b.Span, rng);
                        Fill(bias.Span, rng);
                        float[] c0 = new float[m * n];
                        Fill(c0, rng);
                        float[] expected = (float[])c0.Clone();
                        GemmReference.Multiply(ta, Transpose.None, m, n, k, 1f, a.Span, lda, b.Span, n, 1f, expected, n, bias.Span, FusedActivation.ReLU);
                        var packed = Gemm.PackB<float>(Transpose.None, k, n, b.Span, n);
                        foreach (bool prepacked in new[] { false, true })
                        {
                            c0.CopyTo(c.Span);
                            Gemm.ThreadsOverride = threads;
                            try
                            {
                                if (prepacked)
                                {
                                    Gemm.Multiply(ta, m, 1f, a.Span, lda, packed, 1f, c.Span, n, bias.Span, FusedActivation.ReLU);
                                }
                                else
                                {
                                    Gemm.Multiply(ta, Transpose.None, m, n, k, 1f, a.Span, lda, b.Span, n, 1f, c.Span, n, bias.Span, FusedActivation.ReLU);
                                }
                            }
                            finally
                            {
                                Gemm.ThreadsOverride = 0;
                            }

                            for (int i = 0; i < m * n; i++)
                            {
                                MathF.Abs(c.Span[i] - expected[i]).Should().BeLessThanOrEqualTo(1e-3f * (1 + MathF.Abs(expected[i])), $"C[{i}] ({m},{n},{k}) transA {transA} pre-packed {prepacked} threads {threads}");
                            }
                        }
                    }
                }
            }
        }
    }

    [Theory]
    [InlineData(false, 240, 3200, 400)]
    [InlineData(true, 240, 3077, 400)]
    [InlineData(false, 96, 3100, 900)]
    [InlineData(true, 100, 1001, 900)]
    [InlineData(false, 13, 512, 300)]
    [InlineData(true, 13, 509, 300)]
    public void Gemm_stays_inside_minimal_operands_on_split_shapes_and_agrees_across_threads(bool transB, int m, int n, int k)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var rng = new Random(5);
        int bw = transB ? k : n, bh = transB ? n : k;
        using var a = new Guarded(m * k);
        using var b = new Guarded(bh * bw);
        using var c = new Guarded(m * n);
        Fill(a.Span, rng);
        Fill(b.Span, rng);
        float[] c0 = new float[m * n];
        Fill(c0, rng);
        float[]? first = null;
        foreach (int threads in new[] { 1, 2, 2 })
        {
            c0.CopyTo(c.Span);
            Gemm.ThreadsOverride = threads;
            try
            {
                Gemm.Multiply(Transpose.None, transB ? Transpose.Transposed : Transpose.None, m, n, k, 1f, a.Span, k, b.Span, bw, 1f, c.Span, n);
            }
            finally
            {
                Gemm.ThreadsOverride = 0;
            }

            if (first is null)
            {
                first = c.Span.ToArray();
            }
            else
            {
                c.Span.ToArray().Should().Equal(first, $"threads {threads}");
            }
        }
    }

    [Fact]
    public void Transposed_epilogue_stays_inside_minimal_operands()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var rng = new Random(4);
        foreach (int units in new[] { 1, 7, 8, 9, 16, 33, 70 })
        {
            foreach (int m in new[] { 1, 7, 8, 9, 17 })
            {
                using var p = new Guarded(units * m);
                using var z = new Guarded(units * m);
                using var bias = new Guarded(units);
                Fill(p.Span, rng);
                Fill(bias.Span, rng);
                TransposedEpilogue.Apply(p.Span, units, m, bias.Span, FusedActivation.ReLU, 0f, z.Span);
            }
        }
    }

    private static void Fill(Span<float> s, Random rng)
    {
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = (float)((rng.NextDouble() * 2) - 1);
        }
    }
}
