using System.Numerics;
using DeepLearning.Kernels;

namespace DeepLearning.Tests.Kernels;

/// <summary>
/// NaN, ±∞ and −0 through the fused GEMM epilogue against the unfused layers (GEMM, then bias, then the
/// activation layer's element-wise kernel): they must agree bit for bit (any NaN counts as equal to any NaN).
/// This folder is rerun by CI with AVX-512, AVX2 and all hardware intrinsics off, so every SIMD path is checked.
/// </summary>
public class SpecialValuesTests
{
    private static readonly FusedActivation[] _activations =
        [FusedActivation.Identity, FusedActivation.ReLU, FusedActivation.LeakyReLU, FusedActivation.Sigmoid, FusedActivation.Tanh];

    // n = 1..3 and 17 leave short tile rows; 70 and 130 cross 64-wide panels; m = 5, 13 leave edge tiles.
    private static readonly (int M, int N, int K)[] _shapes =
        [(1, 1, 1), (1, 2, 3), (5, 3, 1), (6, 10, 2), (13, 17, 5), (7, 70, 1), (13, 130, 9), (64, 10, 300), (20, 64, 260)];

    [Fact]
    public void Fused_epilogue_equals_unfused_layers_on_special_values_float() => FusedEqualsUnfused<float>();

    [Fact]
    public void Fused_epilogue_equals_unfused_layers_on_special_values_double() => FusedEqualsUnfused<double>();

    [Fact]
    public void Fused_ReLU_keeps_NaN_and_maps_negative_zero_and_negative_infinity_to_zero()
    {
        // k = 1, A = 1: Z = alpha·B + bias with B = [NaN, −0 (via alpha = −1 on +0), −∞, +∞, −2, 3].
        float[] b = [float.NaN, 0f, float.PositiveInfinity, float.NegativeInfinity, 2f, -3f];
        float[] c = new float[b.Length];
        Gemm.Multiply<float>(Transpose.None, Transpose.None, 1, b.Length, 1, -1f, [1f], 1, b, b.Length, 0f, c, b.Length, activation: FusedActivation.ReLU);
        float.IsNaN(c[0]).Should().BeTrue("ReLU(NaN) is NaN, as in the ReLU layer and PyTorch");
        BitConverter.SingleToInt32Bits(c[1]).Should().Be(0, "ReLU(−0) is +0");
        c[2].Should().Be(0f);
        c[3].Should().Be(float.PositiveInfinity);
        c[4].Should().Be(0f);
        c[5].Should().Be(3f);
        GemmReference.Activate(float.NaN, FusedActivation.ReLU, 0f).Should().Be(float.NaN);
        GemmReference.Activate(double.NaN, FusedActivation.LeakyReLU, 0.1).Should().Be(double.NaN);
    }

    [Fact]
    public void Sigmoid_and_tanh_give_each_element_the_same_bits_whatever_the_span_length()
    {
        var rng = new Random(5);
        float[] xs = new float[4096];
        for (int i = 0; i < xs.Length; i++)
        {
            xs[i] = (float)(((rng.NextDouble() * 2) - 1) * Math.Pow(10, rng.Next(-9, 3)));
        }

        xs[7] = float.NaN;
        xs[8] = -0f;
        xs[9] = float.NegativeInfinity;
        xs[30] = 800f;
        xs[41] = -750f;
        xs[50] = float.PositiveInfinity;
        double[] xd = xs.Select(v => (double)v).ToArray();
        PositionIndependent<float>(xs, ElementWise.Sigmoid);
        PositionIndependent<float>(xs, ElementWise.Tanh);
        PositionIndependent<double>(xd, ElementWise.Sigmoid);
        PositionIndependent<double>(xd, ElementWise.Tanh);
    }

    [Fact]
    public void Tanh_is_exact_at_zero_and_accurate_near_it()
    {
        float[] x = [0f, -0f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e-10f, -3e-4f, 1e-3f, 0.01f, 0.3f, -2f, 10f];
        float[] y = new float[x.Length];
        ElementWise.Tanh<float>(x, y);
        BitConverter.SingleToInt32Bits(y[0]).Should().Be(0, "tanh(+0) = +0");
        BitConverter.SingleToInt32Bits(y[1]).Should().Be(BitConverter.SingleToInt32Bits(-0f), "tanh(−0) = −0");
        float.IsNaN(y[2]).Should().BeTrue();
        y[3].Should().Be(1f);
        y[4].Should().Be(-1f);
        for (int i = 5; i < x.Length; i++)
        {
            // Math.Tanh in double, rounded to float: the correctly rounded value up to a double rounding. Between
            // 2⁻¹² and about 0.01 TensorPrimitives' float tanh is off by up to 2·10⁻⁴ relative (documented).
            float expected = (float)Math.Tanh(x[i]);
            float tolerance = Math.Abs(x[i]) < 1f / 4096 ? 0f : Math.Abs(x[i]) < 0.05f ? 2e-4f : 2e-6f;
            Math.Abs(y[i] - expected).Should().BeLessThanOrEqualTo(Math.Abs(expected) * tolerance, $"tanh({x[i]})");
        }

        double[] xd = [0.0, -0.0, 1e-12, -5e-9, 1e-4, 0.7, -20];
        double[] yd = new double[xd.Length];
        ElementWise.Tanh<double>(xd, yd);
        BitConverter.DoubleToInt64Bits(yd[0]).Should().Be(0);
        BitConverter.DoubleToInt64Bits(yd[1]).Should().Be(BitConverter.DoubleToInt64Bits(-0.0));
        for (int i = 2; i < xd.Length; i++)
        {
            yd[i].Should().Be(Math.Tanh(xd[i]), "double is computed with Math.Tanh");
        }
    }

    [Fact]
    public void Activation_backward_never_turns_NaN_into_a_number()
    {
        // Every length up to 40, so the 512/256/128-bit bodies and the scalar tail all run.
        float nan = float.NaN, inf = float.PositiveInfinity;
        for (int len = 1; len <= 40; len++)
        {
            for (int at = 0; at < len; at++)
            {
                foreach (var (da, a, relu, leaky) in new (float, float, float, float)[]
                {
                    (nan, 0f, nan, nan),      // NaN gradient on an inactive unit
                    (nan, 2f, nan, nan),      // NaN gradient on an active unit
                    (1f, nan, nan, nan),      // NaN output: the derivative is undefined
                    (inf, 0f, 0f, inf * 0.1f), // an infinite gradient on an inactive ReLU unit is dropped, as in PyTorch
                    (-3f, 0f, 0f, -0.3f),
                    (-3f, 5f, -3f, -3f),
                    (2f, float.NegativeInfinity, 0f, 0.2f),
                })
                {
                    float[] dA = Enumerable.Repeat(1f, len).ToArray(), out1 = new float[len], out2 = new float[len];
                    float[] act = Enumerable.Repeat(1f, len).ToArray();
                    dA[at] = da;
                    act[at] = a;
                    ElementWise.ReluBackward<float>(dA, act, out1);
                    ElementWise.LeakyReluBackward<float>(dA, act, 0.1f, out2);
                    Same(out1[at], relu).Should().BeTrue($"ReLU backward dA = {da}, A = {a} (length {len}) gave {out1[at]}, expected {relu}");
                    Same(out2[at], leaky).Should().BeTrue($"leaky backward dA = {da}, A = {a} (length {len}) gave {out2[at]}, expected {leaky}");
                    for (int i = 0; i < len; i++)
                    {
                        if (i != at)
                        {
                            out1[i].Should().Be(1f);
                        }
                    }
                }
            }
        }

        float[] sig = new float[3];
        ElementWise.SigmoidBackward<float>([nan, 1f, 1f], [0.5f, nan, 0.5f], sig);
        ElementWise.TanhBackward<float>([nan, 1f, 1f], [0.5f, nan, 0.5f], sig.AsSpan());
        float.IsNaN(sig[0]).Should().BeTrue();
        float.IsNaN(sig[1]).Should().BeTrue();
    }

    [Fact]
    public void Standalone_activation_layers_propagate_NaN_forward_and_backward()
    {
        foreach (var activation in new[] { Activation.ReLU, Activation.LeakyReLU, Activation.Sigmoid, Activation.Tanh, Activation.Softmax, Activation.Linear })
        {
            var layer = new ActivationLayer<double>(3, activation);
            var x = new Tensor<double>(2, 3);
            x.Span[0] = double.NaN;
            x.Span[4] = -1;
            var a = layer.Forward(x, training: true);
            double.IsNaN(a.Span[0]).Should().BeTrue($"{activation}(NaN)");
            var dA = new Tensor<double>(2, 3);
            dA.Span.Fill(1);
            dA.Span[4] = double.NaN;
            var dz = layer.Backward(dA);
            if (activation != Activation.Linear)
            {
                double.IsNaN(dz.Span[0]).Should().BeTrue($"{activation} backward at a NaN output (g′ is undefined there)");
            }

            double.IsNaN(dz.Span[4]).Should().BeTrue($"{activation} backward of a NaN gradient");
        }
    }

    [Fact]
    public void Dense_with_fused_activation_equals_Dense_then_activation_layer_on_special_inputs()
    {
        foreach (var activation in new[] { Activation.ReLU, Activation.LeakyReLU, Activation.Sigmoid, Activation.Tanh, Activation.Linear })
        {
            foreach (int units in new[] { 1, 3, 10, 70 })
            {
                var fused = new Dense<float>(4, units, activation, Init.Xavier, new RandomSource(3), leakySlope: 0.05);
                var linear = new Dense<float>(4, units, Activation.Linear, Init.Xavier, new RandomSource(3));
                fused.Bias!.Value.Span.Fill(0.25f);
                linear.Bias!.Value.Span.Fill(0.25f);
                var act = new ActivationLayer<float>(units, activation, leakySlope: 0.05);
                var x = new Tensor<float>(9, 4);
                float[] specials = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, 0f, 1e-30f, -1f, 3f, 1e38f];
                for (int i = 0; i < 9; i++)
                {
                    x.Span.Slice(i * 4, 4).Fill(0.5f);
                    x.Span[(i * 4) + (i % 4)] = specials[i];
                }

                var y1 = new Tensor<float>(9, units);
                var z = new Tensor<float>(9, units);
                var y2 = new Tensor<float>(9, units);
                fused.Infer(x, y1);
                linear.Infer(x, z);
                act.Infer(z, y2);
                for (int i = 0; i < y1.Length; i++)
                {
                    Same(y1.Span[i], y2.Span[i]).Should().BeTrue($"{activation}, {units} units, element {i}: fused {y1.Span[i]}, unfused {y2.Span[i]}");
                }

                float.IsNaN(y1.Span[0]).Should().BeTrue($"{activation}: a NaN input gives NaN");
            }
        }
    }

    [Fact]
    public void Model_predicts_NaN_for_NaN_input_with_fused_and_unfused_ReLU()
    {
        // Issue 11.1: Dense(1).ReLU() (ReLU fused into the GEMM) used to predict 0 where Dense(1).BatchNorm().ReLU() predicted NaN.
        var x = new Tensor<float>(2, 2);
        x.Span[0] = float.NaN;
        x.Span[1] = 1f;
        x.Span[2] = 1f;
        x.Span[3] = -1f;
        var fused = Model.Sequential<float>(2).Dense(1).ReLU().Build(seed: 1);
        var withBatchNorm = Model.Sequential<float>(2).Dense(1).BatchNorm().ReLU().Build(seed: 1);
        float.IsNaN(fused.Predict(x).Span[0]).Should().BeTrue("ReLU fused into the Dense GEMM propagates NaN");
        float.IsNaN(withBatchNorm.Predict(x).Span[0]).Should().BeTrue("the standalone ReLU layer propagates NaN");
        float.IsNaN(fused.Predict(x).Span[1]).Should().BeFalse("a finite row stays finite");

        // A NaN weight and finite input: here the NaN must come through the fused ReLU itself (Predict's rule for
        // non-finite input rows does not apply).
        fused.Parameters[0].Value.Span[0] = float.NaN;
        withBatchNorm.Parameters[0].Value.Span[0] = float.NaN;
        var finite = new Tensor<float>(1, 2);
        finite.Span[0] = 2f;
        finite.Span[1] = -1f;
        float.IsNaN(fused.Predict(finite).Span[0]).Should().BeTrue("ReLU fused into the Dense GEMM propagates a NaN pre-activation");
        float.IsNaN(withBatchNorm.Predict(finite).Span[0]).Should().BeTrue("the standalone ReLU layer propagates NaN");
    }

    private static void FusedEqualsUnfused<T>()
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] specials = [T.NaN, T.PositiveInfinity, T.NegativeInfinity, T.NegativeZero, T.Zero, T.One, -T.One, T.CreateChecked(1e-30), T.CreateChecked(-7.5)];
        var rng = new Random(21);
        T slope = T.CreateChecked(0.1);
        foreach (var (m, n, k) in _shapes)
        {
            // A holds a few special values; B is random; the bias holds every special value in turn.
            T[] a = Fill<T>(rng, m * k, specials, every: 7);
            T[] b = Fill<T>(rng, k * n, specials, every: 0);
            T[] bias = Fill<T>(rng, n, specials, every: 2);
            foreach (T alpha in new[] { T.One, -T.One })
            {
                foreach (bool useBias in new[] { true, false })
                {
                    foreach (var act in _activations)
                    {
                        foreach (int threads in new[] { 1, 2 })
                        {
                            T[] fused = new T[m * n], unfused = new T[m * n];
                            Gemm.ThreadsOverride = threads;
                            try
                            {
                                Gemm.Multiply(Transpose.None, Transpose.None, m, n, k, alpha, a, k, b, n, T.Zero, fused, n, useBias ? bias : default, act, slope);
                                Gemm.Multiply(Transpose.None, Transpose.None, m, n, k, alpha, a, k, b, n, T.Zero, unfused, n);
                            }
                            finally
                            {
                                Gemm.ThreadsOverride = 0;
                            }

                            if (useBias)
                            {
                                ElementWise.AddRowVector<T>(unfused, m, n, bias, unfused);
                            }

                            ApplyLayer(act, unfused, slope);
                            for (int i = 0; i < fused.Length; i++)
                            {
                                if (!Same(fused[i], unfused[i]))
                                {
                                    throw new Xunit.Sdk.XunitException($"{typeof(T).Name} ({m}, {n}, {k}) alpha {alpha} bias {useBias} {act} threads {threads}: element {i} fused {fused[i]}, unfused {unfused[i]}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    // What ActivationLayer does for the same activation.
    private static void ApplyLayer<T>(FusedActivation act, Span<T> z, T slope)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (act)
        {
            case FusedActivation.ReLU: ElementWise.Relu<T>(z, z); break;
            case FusedActivation.LeakyReLU: ElementWise.LeakyRelu<T>(z, slope, z); break;
            case FusedActivation.Sigmoid: ElementWise.Sigmoid<T>(z, z); break;
            case FusedActivation.Tanh: ElementWise.Tanh<T>(z, z); break;
            default: break;
        }
    }

    private static void PositionIndependent<T>(T[] xs, SpanAction<T> op)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] whole = new T[xs.Length];
        op(xs, whole);
        for (int len = 1; len <= 70; len++)
        {
            T[] part = new T[len];
            for (int start = 0; start + len <= 600; start += len)
            {
                op(xs.AsSpan(start, len), part);
                for (int j = 0; j < len; j++)
                {
                    if (!Same(part[j], whole[start + j]))
                    {
                        throw new Xunit.Sdk.XunitException($"{typeof(T).Name} length {len}: x = {xs[start + j]} gave {part[j]} in a short span, {whole[start + j]} in a long one");
                    }
                }
            }
        }
    }

    private static T[] Fill<T>(Random rng, int count, T[] specials, int every)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = new T[count];
        for (int i = 0; i < count; i++)
        {
            x[i] = every > 0 && i % every == 0 ? specials[(i / every) % specials.Length] : T.CreateChecked((rng.NextDouble() * 2) - 1);
        }

        return x;
    }

    // Bitwise equal, or both NaN (a NaN's payload and sign are not part of the contract).
    private static bool Same<T>(T x, T y)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        (T.IsNaN(x) && T.IsNaN(y)) || (x == y && T.IsNegative(x) == T.IsNegative(y));

    private delegate void SpanAction<T>(ReadOnlySpan<T> x, Span<T> d);
}
