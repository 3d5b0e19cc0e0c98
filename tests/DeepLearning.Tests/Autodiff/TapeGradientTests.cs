namespace DeepLearning.Tests.Autodiff;

/// <summary>
/// Every operation's gradient against central differences in double: J = Σ R ⊙ f(θ) with a fixed random R (so the seed
/// is not all ones), dθ from backward, and (J(θ + εeᵢ) − J(θ − εeᵢ))/(2ε) for every coordinate of every operand.
/// </summary>
public class TapeGradientTests
{
    private const double Epsilon = 1e-6;

    public static TheoryData<int[], int[]> BroadcastShapes => new()
    {
        { [3, 4], [3, 4] },
        { [3, 4], [1, 4] },
        { [3, 4], [4] },
        { [3, 4], [3, 1] },
        { [3, 4], [1] },
        { [1], [3, 4] },
        { [4], [3, 4] },
        { [1, 4], [3, 4] },
        { [3, 1], [1, 4] },
        { [5], [5] },
        { [5], [1] },
        { [2, 3, 2], [2, 3, 2] },
        { [2, 3, 2], [1] },
        { [1, 1, 1], [2, 3] },
        { [2, 3], [1, 1, 1] },
        { [1, 1, 1], [4] },
        { [1, 1], [2, 3, 2] },
    };

    [Theory]
    [InlineData(new[] { 1, 1, 1 }, new[] { 2, 3 }, new[] { 1, 2, 3 })]
    [InlineData(new[] { 2, 3 }, new[] { 1, 1, 1 }, new[] { 1, 2, 3 })]
    [InlineData(new[] { 1, 1, 1 }, new[] { 4 }, new[] { 1, 1, 4 })]
    [InlineData(new[] { 1, 1 }, new[] { 2, 3, 2 }, new[] { 2, 3, 2 })]
    [InlineData(new[] { 1 }, new[] { 3, 4 }, new[] { 3, 4 })]
    public void A_single_element_broadcasts_against_any_shape_as_in_NumPy(int[] a, int[] b, int[] result)
    {
        // The documented rule "a single element against anything": the result takes the higher rank (NumPy's shape).
        var tape = new Tape<double>();
        var y = tape.Variable(new Tensor<double>(a)) + tape.Constant(new Tensor<double>(b));
        y.Shape.Should().Equal(result);
    }

    [Theory]
    [MemberData(nameof(BroadcastShapes))]
    public void Add_subtract_multiply_divide_match_central_differences_with_broadcasting(int[] a, int[] b)
    {
        Check((t, v) => v[0] + v[1], Pos(a), Pos(b));
        Check((t, v) => v[0] - v[1], Pos(a), Pos(b));
        Check((t, v) => v[0] * v[1], Pos(a), Pos(b));
        Check((t, v) => v[0] / v[1], Pos(a), Pos(b));
    }

    [Fact]
    public void Scalar_operators_match_central_differences()
    {
        foreach (var shape in new[] { new[] { 1 }, [4], [3, 5] })
        {
            Check((t, v) => v[0] + 2.5, Pos(shape));
            Check((t, v) => 2.5 + v[0], Pos(shape));
            Check((t, v) => v[0] - 1.5, Pos(shape));
            Check((t, v) => 1.5 - v[0], Pos(shape));
            Check((t, v) => v[0] * 3.0, Pos(shape));
            Check((t, v) => -3.0 * v[0], Pos(shape));
            Check((t, v) => v[0] / 4.0, Pos(shape));
            Check((t, v) => 2.0 / v[0], Pos(shape));
            Check((t, v) => -v[0], Any(shape));
        }
    }

    [Theory]
    [InlineData(3, 4, 5)]
    [InlineData(1, 7, 2)]
    [InlineData(6, 1, 3)]
    [InlineData(4, 3, 1)]
    public void MatMul_matches_central_differences_for_every_transpose(int m, int k, int n)
    {
        Check((t, v) => v[0].MatMul(v[1]), Any([m, k]), Any([k, n]));
        Check((t, v) => v[0].MatMul(v[1], transposeA: true), Any([k, m]), Any([k, n]));
        Check((t, v) => v[0].MatMul(v[1], transposeB: true), Any([m, k]), Any([n, k]));
        Check((t, v) => v[0].MatMul(v[1], transposeA: true, transposeB: true), Any([k, m]), Any([n, k]));
    }

    [Fact]
    public void Sums_and_means_match_central_differences()
    {
        foreach (var shape in new[] { new[] { 1 }, [6], [3, 4], [1, 5], [5, 1], [2, 3, 2] })
        {
            Check((t, v) => v[0].Sum(), Any(shape));
            Check((t, v) => v[0].Mean(), Any(shape));
        }

        foreach (var shape in new[] { new[] { 3, 4 }, [1, 5], [5, 1] })
        {
            Check((t, v) => v[0].Sum(0), Any(shape));
            Check((t, v) => v[0].Sum(1), Any(shape));
            Check((t, v) => v[0].Mean(0), Any(shape));
            Check((t, v) => v[0].Mean(1), Any(shape));
        }
    }

    public static TheoryData<int[]> UnaryShapes => new() { new[] { 1 }, new[] { 7 }, new[] { 3, 4 }, new[] { 2, 3, 2 } };

    [Theory]
    [MemberData(nameof(UnaryShapes))]
    public void Element_wise_functions_match_central_differences(int[] shape)
    {
        Check((t, v) => v[0].Exp(), Any(shape));
        Check((t, v) => v[0].Log(), Pos(shape));
        Check((t, v) => v[0].Pow(3.0), Any(shape));
        Check((t, v) => v[0].Pow(0.5), Pos(shape));
        Check((t, v) => v[0].Pow(-1.5), Pos(shape));
        Check((t, v) => v[0].Sqrt(), Pos(shape));
        Check((t, v) => v[0].Abs(), Any(shape));
        Check((t, v) => v[0].Sigmoid(), Any(shape));
        Check((t, v) => v[0].Tanh(), Any(shape));
        Check((t, v) => v[0].ReLU(), Any(shape));
        Check((t, v) => v[0].LeakyReLU(0.1), Any(shape));
        Check((t, v) => v[0].Clip(-0.5, 0.5), Any(shape));
    }

    [Theory]
    [InlineData(new[] { 5 })]
    [InlineData(new[] { 1, 3 })]
    [InlineData(new[] { 4, 3 })]
    [InlineData(new[] { 6, 10 })]
    public void Softmax_and_log_softmax_match_central_differences(int[] shape)
    {
        Check((t, v) => v[0].Softmax(), Any(shape, 3));
        Check((t, v) => v[0].LogSoftmax(), Any(shape, 3));
    }

    [Theory]
    [InlineData(0, 2)]
    [InlineData(1, 3)]
    [InlineData(4, 1)]
    [InlineData(0, 5)]
    public void Row_slice_matches_central_differences(int start, int count)
    {
        Check((t, v) => v[0].Rows(start, count), Any([5, 3]));
        Check((t, v) => v[0].Rows(start, count) * v[1], Any([5, 3]), Any([count, 3]));
    }

    [Fact]
    public void A_variable_used_several_times_accumulates_every_path()
    {
        Check((t, v) => v[0] * v[0], Any([3, 2]));
        Check((t, v) => (v[0] * v[1]).Sigmoid() + (v[0] / v[1]).Exp() - v[0].MatMul(v[1], transposeB: true).Sum(), Any([2, 3]), Pos([2, 3]));
        Check((t, v) => v[0].Sum(1) * v[0] - v[0].Mean(0), Any([4, 3]));
    }

    [Fact]
    public void A_constant_that_requires_grad_gets_its_gradient_and_a_plain_constant_none()
    {
        var random = new RandomSource(3);
        var x = Tensor.RandomNormal<double>(random, [3, 2]);
        var tape = new Tape<double>();
        var w = tape.Variable(Tensor.RandomNormal<double>(random, [4, 2]));
        var xv = tape.Constant(x, requiresGrad: true);
        var c = x.Clone(); // held fixed: the central differences move x only
        var plain = tape.Constant(c);
        var j = (xv.MatMul(w, transposeB: true).Tanh() * plain.Sum()).Sum();
        j.Backward(null, retainGraph: true);
        plain.Grad.Should().BeNull();
        plain.RequiresGrad.Should().BeFalse();

        // dJ/dX by central differences
        var analytic = xv.Grad!.Clone();
        var xs = x.Span;
        for (int i = 0; i < x.Length; i++)
        {
            double saved = xs[i];
            xs[i] = saved + Epsilon;
            double plus = Evaluate(x, c, w.Value);
            xs[i] = saved - Epsilon;
            double minus = Evaluate(x, c, w.Value);
            xs[i] = saved;
            analytic.Span[i].Should().BeApproximately((plus - minus) / (2 * Epsilon), 1e-6);
        }

        static double Evaluate(Tensor<double> x, Tensor<double> c, Tensor<double> w)
        {
            var t = new Tape<double>();
            return (t.Constant(x).MatMul(t.Constant(w), transposeB: true).Tanh() * t.Constant(c).Sum()).Sum().Item;
        }
    }

    /// <summary>Random values in [0.5, 2] (for log, sqrt, division, powers).</summary>
    private static (int[] Shape, bool Positive, double Scale) Pos(int[] shape) => (shape, true, 1);

    /// <summary>Standard normal values times <paramref name="scale"/>.</summary>
    private static (int[] Shape, bool Positive, double Scale) Any(int[] shape, double scale = 1) => (shape, false, scale);

    private static void Check(Func<Tape<double>, Variable<double>[], Variable<double>> f, params (int[] Shape, bool Positive, double Scale)[] operands)
    {
        var random = new RandomSource(42);
        var tape = new Tape<double>();
        var leaves = operands.Select((o, i) =>
        {
            var value = o.Positive ? Tensor.RandomUniform<double>(random, o.Shape, 0.5, 2) : Tensor.RandomNormal<double>(random, o.Shape, 0, o.Scale);
            return tape.Variable(value, "p" + i);
        }).ToArray();

        var y = f(tape, leaves);
        var r = Tensor.RandomNormal<double>(random, y.Shape);
        y.Backward(r);
        var analytic = leaves.Select(l => l.Grad!.Clone()).ToArray();

        double J()
        {
            tape.Reset();
            var v = f(tape, leaves).Value;
            double sum = 0;
            for (int i = 0; i < v.Length; i++)
            {
                sum += v.ReadOnlySpan[i] * r.ReadOnlySpan[i];
            }

            return sum;
        }

        for (int p = 0; p < leaves.Length; p++)
        {
            var theta = leaves[p].Value.Span;
            for (int i = 0; i < theta.Length; i++)
            {
                double saved = theta[i];
                theta[i] = saved + Epsilon;
                double plus = J();
                theta[i] = saved - Epsilon;
                double minus = J();
                theta[i] = saved;
                double numeric = (plus - minus) / (2 * Epsilon);
                double a = analytic[p].Span[i];
                Math.Abs(a - numeric).Should().BeLessThan(1e-6 * (1 + Math.Abs(numeric)), $"operand {p} of shape {Tensor<double>.ShapeString(operands[p].Shape)}, coordinate {i}: backward {a}, central difference {numeric}");
            }
        }
    }
}
