namespace DeepLearning.Tests.Autodiff;

/// <summary>Element-wise results and gradients that must equal PyTorch's to the last bit.</summary>
public class TapeParityTests
{
    [Fact]
    public void Pow_0_has_a_zero_gradient_at_x_0_as_in_PyTorch()
    {
        // torch.tensor([0., 2.], requires_grad=True).pow(0).sum().backward() gives grad [0, 0].
        var tape = new Tape<float>();
        var x = tape.Variable(Tensor.FromArray(new[] { 0f, 2f }));
        x.Pow(0f).Sum().Backward();
        x.Grad!.ToArray().Should().Equal(0f, 0f);
    }

    [Fact]
    public void Dividing_by_a_scalar_divides_instead_of_multiplying_by_the_reciprocal()
    {
        // torch: (x / 10).backward(g) gives x / 10 and x.grad = g / 10, each one correctly rounded quotient;
        // x · (1/10) differs in the last bit for many x (e.g. 3 · 0.1f ≠ 0.3f).
        var xs = Enumerable.Range(1, 200).Select(i => i * 0.37f).ToArray();
        var tape = new Tape<float>();
        var x = tape.Variable(Tensor.FromArray(xs));
        var y = x / 10f;
        y.Value.ToArray().Should().Equal(xs.Select(v => v / 10f));
        y.Backward(Tensor.FromArray(xs));
        x.Grad!.ToArray().Should().Equal(xs.Select(v => v / 10f));
    }

    [Fact]
    public void Mean_divides_the_sum_by_the_count_forward_and_backward_as_PyTorch()
    {
        // torch: x.mean(dim) is x.sum(dim) / n, and its backward is g / n; multiplying by 1/n differs in the last bit.
        var xs = Enumerable.Range(1, 3 * 7).Select(i => (i * 0.731f) - 5f).ToArray();
        var gs = Enumerable.Range(1, 3).Select(i => i * 1.37f).ToArray();
        var tape = new Tape<float>();
        var x = tape.Variable(Tensor.FromArray(xs).Reshape(3, 7));
        var sums = x.Sum(1).Value.ToArray();
        var y = x.Mean(1);
        y.Value.ToArray().Should().Equal(sums.Select(v => v / 7f));
        y.Backward(Tensor.FromArray(gs).Reshape(3, 1));
        x.Grad!.ToArray().Should().Equal(Enumerable.Range(0, 21).Select(k => gs[k / 7] / 7f));

        tape.ZeroGrad();
        var columns = x.Mean(0);
        columns.Value.ToArray().Should().Equal(x.Sum(0).Value.ToArray().Select(v => v / 3f));
        var seed = Enumerable.Range(1, 7).Select(i => i * 0.9f).ToArray();
        columns.Backward(Tensor.FromArray(seed).Reshape(1, 7));
        x.Grad!.ToArray().Should().Equal(Enumerable.Range(0, 21).Select(k => seed[k % 7] / 3f));

        tape.ZeroGrad();
        var all = x.Mean();
        all.Item.Should().Be(x.Sum().Item / 21f);
        all.Backward(Tensor.FromArray(new[] { 1.37f }));
        x.Grad!.ToArray().Should().OnlyContain(v => v == 1.37f / 21f);
    }

    [Theory]
    [InlineData(2f)]
    [InlineData(3f)]
    [InlineData(-1f)]
    [InlineData(-2f)]
    [InlineData(0.5f)]
    [InlineData(-0.5f)]
    public void Pow_with_PyTorchs_special_exponents_computes_what_PyTorch_computes(float p)
    {
        // ATen's pow(tensor, scalar) computes these exponents as x·x, x·x·x, 1/x, 1/(x·x), √x and 1/√x, not with pow.
        var xs = Enumerable.Range(1, 500).Select(i => (i * 0.0173f) + 0.01f).ToArray();
        Func<float, float> torch = p switch
        {
            2f => v => v * v,
            3f => v => v * v * v,
            -1f => v => 1f / v,
            -2f => v => 1f / (v * v),
            0.5f => MathF.Sqrt,
            _ => v => 1f / MathF.Sqrt(v),
        };
        var tape = new Tape<float>();
        var x = tape.Variable(Tensor.FromArray(xs));
        x.Pow(p).Value.ToArray().Should().Equal(xs.Select(torch));
    }

    [Fact]
    public void Sqrt_backward_divides_by_twice_the_result_as_PyTorch()
    {
        // torch: sqrt's backward is g / (2·√x); (g/√x)·½ rounds twice when the quotient is subnormal.
        var xs = Enumerable.Range(1, 300).Select(i => 1f + (i * 0.0371f)).ToArray();
        var gs = Enumerable.Range(1, 300).Select(i => i * 3.3e-41f).ToArray();
        var tape = new Tape<float>();
        var x = tape.Variable(Tensor.FromArray(xs));
        var y = x.Sqrt();
        y.Backward(Tensor.FromArray(gs));
        var roots = y.Value.ToArray();
        x.Grad!.ToArray().Should().Equal(gs.Select((g, i) => g / (2 * roots[i])));
    }
}
