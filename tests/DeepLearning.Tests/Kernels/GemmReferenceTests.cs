using DeepLearning.Kernels;

namespace DeepLearning.Tests.Kernels;

public class GemmReferenceTests
{
    [Fact]
    public void Reference_matches_hand_computed_values_with_alpha_beta_bias_and_relu()
    {
        // A (2×2) = [1 2; 3 4], B (2×2) = [1 -1; 0 2], alpha = 2, beta = 1, C0 = [1 1; 1 1], bias = [0, -20].
        // A·B = [1 3; 3 5]; 2·A·B + C0 + bias = [3 -13; 7 -9]; ReLU → [3 0; 7 0].
        double[] a = { 1, 2, 3, 4 };
        double[] b = { 1, -1, 0, 2 };
        double[] c = { 1, 1, 1, 1 };
        GemmReference.Multiply<double>(Transpose.None, Transpose.None, 2, 2, 2, 2, a, 2, b, 2, 1, c, 2, new double[] { 0, -20 }, FusedActivation.ReLU);
        c.Should().Equal(3, 0, 7, 0);
    }

    [Fact]
    public void Beta_zero_never_reads_C()
    {
        double[] a = { 1, 2 };
        double[] b = { 3, 4 };
        double[] c = { double.NaN };
        GemmReference.Multiply<double>(Transpose.None, Transpose.Transposed, 1, 1, 2, 1, a, 2, b, 2, 0, c, 1);
        c[0].Should().Be(11);
    }

    [Fact]
    public void Leading_dimensions_skip_padding()
    {
        // A is 2×2 stored with lda 3 (padding 99), B^T stored (2×2) with ldb 4.
        double[] a = { 1, 2, 99, 3, 4, 99 };
        double[] b = { 1, 0, 99, 99, 0, 1, 99, 99 };
        double[] c = new double[6];
        GemmReference.Multiply<double>(Transpose.None, Transpose.Transposed, 2, 2, 2, 1, a, 3, b, 4, 0, c, 3);
        c.Should().Equal(1, 2, 0, 3, 4, 0);
    }

    [Fact]
    public void Bad_arguments_name_the_problem()
    {
        var small = () => GemmReference.Multiply<float>(Transpose.None, Transpose.None, 2, 2, 2, 1, new float[3], 2, new float[4], 2, 0, new float[4], 2);
        small.Should().Throw<ArgumentException>().WithMessage("*A is stored (2, 2)*needs 4*received 3*");
        var ld = () => GemmReference.Multiply<float>(Transpose.Transposed, Transpose.None, 2, 2, 3, 1, new float[6], 1, new float[6], 2, 0, new float[4], 2);
        ld.Should().Throw<ArgumentException>().WithMessage("*leading dimension of A*at least 2*received 1*");
        var bias = () => GemmReference.Multiply<float>(Transpose.None, Transpose.None, 1, 2, 1, 1, new float[1], 1, new float[2], 2, 0, new float[2], 2, new float[3]);
        bias.Should().Throw<ArgumentException>().WithMessage("*bias*n = 2*received 3*");
    }
}
