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
}
