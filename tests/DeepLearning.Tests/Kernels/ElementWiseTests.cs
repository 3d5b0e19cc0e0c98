using DeepLearning.Kernels;

namespace DeepLearning.Tests.Kernels;

/// <summary>
/// Every element-wise kernel against a scalar loop at every length 0..300, so each SIMD width's
/// main loop and every remainder length runs.
/// </summary>
public class ElementWiseTests
{
    private const int MaxLength = 300;

    public static TheoryData<string> UnaryOps => new() { "exp", "log", "sigmoid", "tanh", "relu", "leaky", "scale", "clip", "addscalar" };

    public static TheoryData<string> BinaryOps => new() { "add", "sub", "mul", "relu'", "leaky'", "sigmoid'", "tanh'", "axpy" };

    [Theory]
    [MemberData(nameof(UnaryOps))]
    public void Unary_float_matches_scalar_at_every_length(string op) => CheckUnary<float>(op, 1e-6);

    [Theory]
    [MemberData(nameof(UnaryOps))]
    public void Unary_double_matches_scalar_at_every_length(string op) => CheckUnary<double>(op, 1e-13);

    [Theory]
    [MemberData(nameof(BinaryOps))]
    public void Binary_float_matches_scalar_at_every_length(string op) => CheckBinary<float>(op, 1e-6);

    [Theory]
    [MemberData(nameof(BinaryOps))]
    public void Binary_double_matches_scalar_at_every_length(string op) => CheckBinary<double>(op, 1e-13);

    private static void CheckUnary<T>(string op, double tol)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new RandomSource(op.GetHashCode(StringComparison.Ordinal) & 0xffff);
        for (int n = 0; n <= MaxLength; n++)
        {
            var x = new T[n];
            for (int i = 0; i < n; i++)
            {
                // Mix in exact zeros, to exercise ReLU's boundary, and positives for log.
                x[i] = i % 17 == 0 ? T.Zero : T.CreateTruncating(rng.NextGaussian() * 4);
                if (op == "log")
                {
                    x[i] = T.CreateTruncating(0.01 + rng.NextDouble() * 10);
                }
            }

            var d = new T[n];
            T slope = T.CreateTruncating(0.01);
            T s = T.CreateTruncating(-1.7);
            T lo = T.CreateTruncating(-1), hi = T.CreateTruncating(2);
            switch (op)
            {
                case "exp": ElementWise.Exp<T>(x, d); break;
                case "log": ElementWise.Log<T>(x, d); break;
                case "sigmoid": ElementWise.Sigmoid<T>(x, d); break;
                case "tanh": ElementWise.Tanh<T>(x, d); break;
                case "relu": ElementWise.Relu<T>(x, d); break;
                case "leaky": ElementWise.LeakyRelu<T>(x, slope, d); break;
                case "scale": ElementWise.Scale<T>(x, s, d); break;
                case "clip": ElementWise.Clip<T>(x, lo, hi, d); break;
                case "addscalar": ElementWise.AddScalar<T>(x, s, d); break;
            }

            for (int i = 0; i < n; i++)
            {
                double xv = double.CreateTruncating(x[i]);
                double expected = op switch
                {
                    "exp" => Math.Exp(xv),
                    "log" => Math.Log(xv),
                    "sigmoid" => 1 / (1 + Math.Exp(-xv)),
                    "tanh" => Math.Tanh(xv),
                    "relu" => Math.Max(0, xv),
                    "leaky" => xv > 0 ? xv : 0.01 * xv,
                    "scale" => -1.7 * xv,
                    "clip" => Math.Clamp(xv, -1, 2),
                    "addscalar" => xv - 1.7,
                    _ => throw new InvalidOperationException(op),
                };
                double actual = double.CreateTruncating(d[i]);
                Math.Abs(actual - expected).Should().BeLessThanOrEqualTo(tol * Math.Max(1, Math.Abs(expected)), $"{op} at n = {n}, i = {i}, x = {xv}");
            }
        }
    }

    private static void CheckBinary<T>(string op, double tol)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new RandomSource(op.Length * 7919);
        for (int n = 0; n <= MaxLength; n++)
        {
            var x = new T[n];
            var y = new T[n];
            for (int i = 0; i < n; i++)
            {
                x[i] = T.CreateTruncating(rng.NextGaussian());
                y[i] = i % 13 == 0 ? T.Zero : T.CreateTruncating(op is "sigmoid'" or "tanh'" ? rng.NextDouble() : rng.NextGaussian());
            }

            var d = new T[n];
            T slope = T.CreateTruncating(0.2);
            switch (op)
            {
                case "add": ElementWise.Add<T>(x, y, d); break;
                case "sub": ElementWise.Subtract<T>(x, y, d); break;
                case "mul": ElementWise.Multiply<T>(x, y, d); break;
                case "relu'": ElementWise.ReluBackward<T>(x, y, d); break;
                case "leaky'": ElementWise.LeakyReluBackward<T>(x, y, slope, d); break;
                case "sigmoid'": ElementWise.SigmoidBackward<T>(x, y, d); break;
                case "tanh'": ElementWise.TanhBackward<T>(x, y, d); break;
                case "axpy": ElementWise.MultiplyAdd<T>(x, slope, y, d); break;
            }

            for (int i = 0; i < n; i++)
            {
                double a = double.CreateTruncating(x[i]);
                double b = double.CreateTruncating(y[i]);
                double expected = op switch
                {
                    "add" => a + b,
                    "sub" => a - b,
                    "mul" => a * b,
                    "relu'" => b > 0 ? a : 0,
                    "leaky'" => b > 0 ? a : 0.2 * a,
                    "sigmoid'" => a * b * (1 - b),
                    "tanh'" => a * (1 - (b * b)),
                    "axpy" => (a * 0.2) + b,
                    _ => throw new InvalidOperationException(op),
                };
                double actual = double.CreateTruncating(d[i]);
                Math.Abs(actual - expected).Should().BeLessThanOrEqualTo(tol * Math.Max(1, Math.Abs(expected)), $"{op} at n = {n}, i = {i}");
            }
        }
    }

    [Fact]
    public void In_place_operation_is_safe()
    {
        for (int n = 0; n <= 100; n++)
        {
            var x = Enumerable.Range(0, n).Select(i => (float)(i - 50)).ToArray();
            ElementWise.LeakyRelu<float>(x, 0.5f, x);
            x.Should().Equal(Enumerable.Range(0, n).Select(i => i - 50 > 0 ? (float)(i - 50) : 0.5f * (i - 50)));
        }
    }

    [Fact]
    public void Softmax_is_stable_for_huge_inputs_at_every_row_length()
    {
        for (int n = 1; n <= MaxLength; n++)
        {
            var x = new double[2 * n];
            for (int j = 0; j < n; j++)
            {
                x[j] = j % 2 == 0 ? 1000 : -1000;
                x[n + j] = 1000 + j;
            }

            var d = new double[2 * n];
            ElementWise.SoftmaxRows<double>(x, 2, n, d);
            d.Should().OnlyContain(v => double.IsFinite(v) && v >= 0 && v <= 1);
            d.AsSpan(0, n).ToArray().Sum().Should().BeApproximately(1, 1e-12);
            d.AsSpan(n, n).ToArray().Sum().Should().BeApproximately(1, 1e-12);
            int evens = (n + 1) / 2;
            d[0].Should().BeApproximately(1.0 / evens, 1e-12);
            if (n > 1)
            {
                d[1].Should().Be(0);
            }

            // Row 2 against the scalar formula with the maximum subtracted.
            double max = 1000 + n - 1;
            double sum = Enumerable.Range(0, n).Sum(j => Math.Exp(1000 + j - max));
            for (int j = 0; j < n; j++)
            {
                d[n + j].Should().BeApproximately(Math.Exp(1000 + j - max) / sum, 1e-12);
            }
        }
    }

    [Fact]
    public void Softmax_float_handles_minus_1000()
    {
        var x = Tensor.FromArray(new float[] { -1000, -1000, -1001, 0, 1000, 1000 }, 2, 3);
        var s = TensorMath.SoftmaxRows(x);
        s[0, 0].Should().BeApproximately(0.4223188f, 1e-6f);
        s[0, 2].Should().BeApproximately(0.1553624f, 1e-6f);
        s[1, 1].Should().BeApproximately(0.5f, 1e-6f);
        s[1, 0].Should().Be(0);
    }

    [Fact]
    public void Reductions_along_each_axis_and_per_row()
    {
        var x = Tensor.FromArray(new double[] { 1, 5, 3, -2, -7, 0 }, 2, 3);
        TensorMath.Sum(x, 0).ReadOnlySpan.ToArray().Should().Equal(-1, -2, 3);
        TensorMath.Sum(x, 1).ReadOnlySpan.ToArray().Should().Equal(9, -9);
        TensorMath.Sum(x).Should().Be(0);
        TensorMath.MaxPerRow(x).ReadOnlySpan.ToArray().Should().Equal(5, 0);
        TensorMath.ArgMaxPerRow(x).Should().Equal(1, 2);
        var bad = () => TensorMath.Sum(x, 2);
        bad.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*(2, 3)*received 2*");
    }

    [Fact]
    public void Row_broadcast_of_a_bias_vector()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        var b = Tensor.FromArray(new float[] { 10, 20, 30 });
        TensorMath.Add(x, b).ReadOnlySpan.ToArray().Should().Equal(11, 22, 33, 14, 25, 36);
        TensorMath.Subtract(x, b).ReadOnlySpan.ToArray().Should().Equal(-9, -18, -27, -6, -15, -24);
        TensorMath.Multiply(x, b).ReadOnlySpan.ToArray().Should().Equal(10, 40, 90, 40, 100, 180);
        TensorMath.Add(x, x).ReadOnlySpan.ToArray().Should().Equal(2, 4, 6, 8, 10, 12);
    }

    [Fact]
    public void Mismatched_shapes_name_both_shapes()
    {
        var x = new Tensor<float>(2, 3);
        var y = new Tensor<float>(3, 2);
        var add = () => TensorMath.Add(x, y);
        add.Should().Throw<ArgumentException>().WithMessage("*(2, 3)*(3, 2)*");
        var relu = () => TensorMath.ReluBackward(x, y);
        relu.Should().Throw<ArgumentException>().WithMessage("*(2, 3)*(3, 2)*");
        var mm = () => TensorMath.MatMul(x, x);
        mm.Should().Throw<ArgumentException>().WithMessage("*(2, 3)*(2, 3)*");
    }

    [Fact]
    public void MatMul_matches_hand_computed_product_for_each_transpose()
    {
        var a = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        var b = Tensor.FromArray(new double[] { 7, 8, 9, 10, 11, 12 }, 3, 2);
        TensorMath.MatMul(a, b).ReadOnlySpan.ToArray().Should().Equal(58, 64, 139, 154);
        TensorMath.MatMul(a, a, Transpose.None, Transpose.Transposed).ReadOnlySpan.ToArray().Should().Equal(14, 32, 32, 77);
        TensorMath.MatMul(a, a, Transpose.Transposed, Transpose.None).ReadOnlySpan.ToArray().Should().Equal(17, 22, 27, 22, 29, 36, 27, 36, 45);
    }
}
