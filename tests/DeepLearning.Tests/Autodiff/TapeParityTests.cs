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
}
