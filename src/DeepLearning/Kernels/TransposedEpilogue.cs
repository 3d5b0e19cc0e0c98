using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DeepLearning.Kernels;

/// <summary>
/// The epilogue of a product computed transposed: Z[b, u] = g(P[u, b] + bias[u]) for P (units, m) row-major and Z
/// (m, units) row-major. A dense layer whose weight matrix is much larger than its batch computes P = W·Xᵀ (no
/// transposition of W, only of the small X) and writes Z = g(X·Wᵀ + b) through this pass. Each element gets the
/// operations the GEMM epilogue applies in registers (P + bias, then ReLU as v ≤ 0 ? +0 : v, or LeakyReLU as
/// v &gt; 0 ? v : slope·v), so Z is bit-identical to the fused product.
/// </summary>
internal static unsafe class TransposedEpilogue
{
    /// <summary>
    /// Z[b, u] = act(P[u, b] + bias[u]) for u &lt; units, b &lt; m, split over the GEMM pool by ranges of units (the
    /// rows of P each core just computed).
    /// </summary>
    /// <param name="p">P (units, m), leading dimension m.</param>
    /// <param name="units">Rows of P, columns of Z.</param>
    /// <param name="m">Columns of P, rows of Z.</param>
    /// <param name="bias">bias (units), or empty.</param>
    /// <param name="activation">Identity, ReLU or LeakyReLU.</param>
    /// <param name="slope">The LeakyReLU slope.</param>
    /// <param name="z">Z (m, units), leading dimension units.</param>
    public static void Apply(ReadOnlySpan<float> p, int units, int m, ReadOnlySpan<float> bias, FusedActivation activation, float slope, Span<float> z)
    {
        if (activation is not (FusedActivation.Identity or FusedActivation.ReLU or FusedActivation.LeakyReLU))
        {
            throw new ArgumentOutOfRangeException(nameof(activation), activation, "the transposed epilogue applies Identity, ReLU or LeakyReLU");
        }

        if (p.Length < (long)units * m || z.Length < (long)units * m || (!bias.IsEmpty && bias.Length < units))
        {
            throw new ArgumentException($"P has {p.Length} elements, Z {z.Length} and the bias {bias.Length}; ({units}, {m}) needs {(long)units * m} and {units}");
        }

        fixed (float* pp = p)
        fixed (float* pb = bias)
        fixed (float* pz = z)
        {
            var body = new Body(pp, units, m, bias.IsEmpty ? null : pb, activation, slope, pz);
            ParallelRange.For(units, body, minimumPerThread: 32, granule: 8);
        }
    }

    // Units [u0, u1): 8×8 blocks through registers, the edges element by element.
    private static void Run(float* p, int units, int m, float* bias, FusedActivation activation, float slope, float* z, int u0, int u1)
    {
        int u = u0;
        if (Avx.IsSupported)
        {
            var slopes = Vector256.Create(slope);
            for (; u + 8 <= u1; u += 8)
            {
                Vector256<float> b = bias == null ? default : Avx.LoadVector256(bias + u);
                int j = 0;
                for (; j + 8 <= m; j += 8)
                {
                    float* s = p + ((nint)u * m) + j;
                    Vector256<float> r0 = Avx.LoadVector256(s), r1 = Avx.LoadVector256(s + m);
                    Vector256<float> r2 = Avx.LoadVector256(s + (2 * m)), r3 = Avx.LoadVector256(s + (3 * m));
                    Vector256<float> r4 = Avx.LoadVector256(s + (4 * m)), r5 = Avx.LoadVector256(s + (5 * m));
                    Vector256<float> r6 = Avx.LoadVector256(s + (6 * m)), r7 = Avx.LoadVector256(s + (7 * m));
                    GemmPacking.Transpose8x8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
                    float* d = z + ((nint)j * units) + u;
                    Avx.Store(d, Finish(r0, b, bias != null, activation, slopes));
                    Avx.Store(d + units, Finish(r1, b, bias != null, activation, slopes));
                    Avx.Store(d + (2 * units), Finish(r2, b, bias != null, activation, slopes));
                    Avx.Store(d + (3 * units), Finish(r3, b, bias != null, activation, slopes));
                    Avx.Store(d + (4 * units), Finish(r4, b, bias != null, activation, slopes));
                    Avx.Store(d + (5 * units), Finish(r5, b, bias != null, activation, slopes));
                    Avx.Store(d + (6 * units), Finish(r6, b, bias != null, activation, slopes));
                    Avx.Store(d + (7 * units), Finish(r7, b, bias != null, activation, slopes));
                }

                Scalar(p, units, m, bias, activation, slope, z, u, u + 8, j, m);
            }
        }

        Scalar(p, units, m, bias, activation, slope, z, u, u1, 0, m);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Finish(Vector256<float> v, Vector256<float> bias, bool hasBias, FusedActivation activation, Vector256<float> slope)
    {
        if (hasBias)
        {
            v += bias;
        }

        return activation switch
        {
            FusedActivation.ReLU => Simd256<float>.ReLU(v),
            FusedActivation.LeakyReLU => Simd256<float>.LeakyReLU(v, slope),
            _ => v,
        };
    }

    // Units [u0, u1) by batch rows [j0, j1), one element at a time.
    private static void Scalar(float* p, int units, int m, float* bias, FusedActivation activation, float slope, float* z, int u0, int u1, int j0, int j1)
    {
        for (int u = u0; u < u1; u++)
        {
            for (int j = j0; j < j1; j++)
            {
                float v = p[((nint)u * m) + j];
                if (bias != null)
                {
                    v += bias[u];
                }

                z[((nint)j * units) + u] = GemmReference.Activate(v, activation, slope);
            }
        }
    }

    private readonly struct Body(float* p, int units, int m, float* bias, FusedActivation activation, float slope, float* z) : IRangeBody
    {
        public void Invoke(int start, int end) => Run(p, units, m, bias, activation, slope, z, start, end);
    }
}
