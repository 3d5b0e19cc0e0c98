using System.Numerics;

namespace DeepLearning.Tests.Losses;

/// <summary>
/// Costs and output gradients against PyTorch 1.13's functional losses (Debian's python3-torch), with the library's
/// documented scaling: every loss is summed over the C outputs of a row and averaged over the m rows (PyTorch's
/// <c>reduction="mean"</c> divides by m·C), and squared error carries the course's ½. The numbers were printed by
/// (OPENBLAS_NUM_THREADS=1 /usr/bin/python3, torch.set_num_threads(1)):
/// <code>
/// import torch
/// import torch.nn.functional as F
/// for dt in (torch.float64, torch.float32):
///     z = torch.tensor([[1000., -1000., 0.], [-100., 100., 50.], [0.5, -0.25, 2.0], [88.0, 89.0, -104.0]], dtype=dt, requires_grad=True)
///     y = torch.tensor([[0., 1., 0.], [0., 1., 0.], [0.2, 0.3, 0.5], [1., 0., 0.]], dtype=dt)
///     J = F.cross_entropy(z, y); J.backward(); print(J.item(), z.grad.tolist())                          # softmax + CE, mean over rows
///     z = torch.tensor([[100., -100., 20.], [-20., 0., 3.5], [-100., 100., -0.5]], dtype=dt, requires_grad=True)
///     y = torch.tensor([[0., 1., 1.], [0., 1., 0.], [0., 1., 1.]], dtype=dt)
///     J = F.binary_cross_entropy_with_logits(z, y, reduction='sum') / 3; J.backward(); print(J.item(), z.grad.tolist())
///     yh = torch.tensor([[1.5, -2.0, 0.25], [3.0, 0.75, -1.0]], dtype=dt, requires_grad=True)   # ŷ − y: 1 (Huber(1)'s kink), 0, −0.25, 3, 0, −3.5
///     yt = torch.tensor([[0.5, -2.0, 0.5], [0.0, 0.75, 2.5]], dtype=dt)
///     for f in (lambda a, b: 0.5 * F.mse_loss(a, b, reduction='sum') / 2, lambda a, b: F.l1_loss(a, b, reduction='sum') / 2,
///               lambda a, b: F.huber_loss(a, b, reduction='sum', delta=1.0) / 2, lambda a, b: F.huber_loss(a, b, reduction='sum', delta=0.25) / 2):
///         yh.grad = None; J = f(yh, yt); J.backward(); print(J.item(), yh.grad.tolist())
/// </code>
/// </summary>
public class LossTorchGoldenTests
{
    private static readonly double[] _ceZ = [1000, -1000, 0, -100, 100, 50, 0.5, -0.25, 2.0, 88, 89, -104];
    private static readonly double[] _ceY = [0, 1, 0, 0, 1, 0, 0.2, 0.3, 0.5, 1, 0, 0];
    private const double CeCost = 500.64308357305106;
    private static readonly double[] _ceGrad64 = [0.25, -0.25, 0.0, 3.459741316841844e-88, 0.0, 4.8218746199097946e-23, -0.0080118131528783, -0.055166184923179505, 0.06317799807605781, -0.18276464465750122, 0.18276464465750122, 2.773685263070002e-85];
    private static readonly double[] _ceGrad32 = [0.25, -0.25, 0.0, 0.0, 0.0, 4.821874733384346e-23, -0.008011814206838608, -0.05516618862748146, 0.06317800283432007, -0.18276464939117432, 0.18276464939117432, 0.0];

    private static readonly double[] _bceZ = [100, -100, 20, -20, 0, 3.5, -100, 100, -0.5];
    private static readonly double[] _bceY = [0, 1, 1, 0, 1, 0, 0, 1, 1];
    private const double BceCost = 68.39899152904498;
    private static readonly double[] _bceGrad64 = [0.3333333333333333, -0.3333333333333333, -6.870512307225832e-10, 6.870512060634012e-10, -0.16666666666666666, 0.3235625897495479, 1.2400253253402785e-44, 0.0, -0.20748644373395153];
    private static readonly double[] _bceGrad32 = [0.3333333432674408, -0.3333333432674408, 0.0, 6.870512492263003e-10, -0.1666666716337204, 0.3235625922679901, 0.0, 0.0, -0.20748643577098846];

    private static readonly double[] _yhat = [1.5, -2.0, 0.25, 3.0, 0.75, -1.0];
    private static readonly double[] _target = [0.5, -2.0, 0.5, 0.0, 0.75, 2.5];

    public static TheoryData<string, double, double[]> Regression => new()
    {
        { "MeanSquaredError", 5.578125, [0.5, 0.0, -0.125, 1.5, 0.0, -1.75] },
        { "MeanAbsoluteError", 3.875, [0.5, 0.0, -0.5, 0.5, 0.0, -0.5] },      // sign(0) = 0 where ŷ = y
        { "Huber(1)", 3.015625, [0.5, 0.0, -0.125, 0.5, 0.0, -0.5] },          // at the kink |ŷ − y| = δ the gradient is δ/m
        { "Huber(0.25)", 0.90625, [0.125, 0.0, -0.125, 0.125, 0.0, -0.125] },
    };

    [Fact]
    public void Softmax_cross_entropy_with_extreme_logits_matches_F_cross_entropy()
    {
        Classification<double>(Loss.CategoricalCrossEntropy, Activation.Softmax, _ceZ, _ceY, 3, CeCost, _ceGrad64, 1e-16);
        Classification<float>(Loss.CategoricalCrossEntropy, Activation.Softmax, _ceZ, _ceY, 3, CeCost, _ceGrad32, 3e-8);
    }

    [Fact]
    public void Sigmoid_binary_cross_entropy_with_extreme_logits_and_several_labels_matches_BCEWithLogits_summed_over_labels()
    {
        Classification<double>(Loss.BinaryCrossEntropy, Activation.Sigmoid, _bceZ, _bceY, 3, BceCost, _bceGrad64, 1e-16);
        Classification<float>(Loss.BinaryCrossEntropy, Activation.Sigmoid, _bceZ, _bceY, 3, BceCost, _bceGrad32, 3e-8);
    }

    [Theory]
    [MemberData(nameof(Regression))]
    public void Regression_losses_match_torch_including_zero_error_and_the_huber_kink(string name, double cost, double[] gradient)
    {
        Check<double>(Loss.Parse(name), cost, gradient);
        Check<float>(Loss.Parse(name), cost, gradient);

        static void Check<T>(Loss loss, double cost, double[] gradient)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            var yhat = Matrix<T>(_yhat, 3);
            var y = Matrix<T>(_target, 3);
            loss.Cost(yhat, y).Should().Be(cost, $"{loss} {typeof(T).Name}: every value is exact in binary");
            var dz = new Tensor<T>(2, 3);
            loss.OutputGradient(yhat, y, dz);
            dz.ToArray().Select(double.CreateChecked).Should().Equal(gradient, $"{loss} {typeof(T).Name}");
        }
    }

    private static void Classification<T>(Loss loss, Activation output, double[] z, double[] y, int c, double cost, double[] gradient, double tol)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var zt = Matrix<T>(z, c);
        var yt = Matrix<T>(y, c);
        // The cost is computed in double from Z (float targets such as 0.2f differ from 0.2 in the 9th digit).
        double costTol = (typeof(T) == typeof(float) ? 1e-9 : 1e-12) * cost;
        loss.Cost(zt, yt).Should().BeApproximately(cost, costTol, $"{loss} {typeof(T).Name}");
        var layer = new ActivationLayer<T>(c, output);
        var yhat = layer.Forward(zt, training: true);
        var dz = new Tensor<T>(zt.RowCount, c);
        loss.OutputGradient(yhat, yt, dz);
        var ours = dz.ToArray();
        for (int i = 0; i < gradient.Length; i++)
        {
            double.CreateChecked(ours[i]).Should().BeApproximately(gradient[i], tol, $"{loss} {typeof(T).Name} dZ[{i}]");
        }
    }

    private static Tensor<T> Matrix<T>(double[] values, int c)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Tensor.FromArray(values.Select(T.CreateChecked).ToArray()).Reshape(values.Length / c, c);
}
