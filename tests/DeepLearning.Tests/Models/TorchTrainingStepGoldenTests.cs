using System.Numerics;

namespace DeepLearning.Tests.Models;

/// <summary>
/// One whole training pass (<see cref="Model{T}.ComputeGradients"/>: forward in training mode, cost with the
/// regularization term, backward through the fused output, dense, batch-norm and leaky-ReLU layers) against autograd
/// in PyTorch 1.13 (Debian's python3-torch). The regularization term is written out in PyTorch as the library
/// documents it: L2 adds (λ/2m)·Σ‖W‖² (so dW += (λ/m)·W, PyTorch's <c>weight_decay = λ/m</c>), L1 adds (λ/m)·Σ|W|;
/// biases, γ and β are not regularized. Printed by (OPENBLAS_NUM_THREADS=1 /usr/bin/python3, torch.set_num_threads(1)):
/// <code>
/// import torch
/// from torch import nn
/// import torch.nn.functional as F
/// X = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [-0.75, 1.0, 0.0], [2.0, -0.5, 1.0], [0.0, 0.5, -1.5]], dtype=torch.float64)
/// W0 = torch.tensor([[0.2, -0.4, 0.1], [0.5, 0.3, -0.2], [-0.3, 0.6, 0.4], [0.1, -0.1, 0.7]], dtype=torch.float64)
/// b0 = torch.tensor([0.05, -0.1, 0.2, 0.0], dtype=torch.float64)
/// W3 = torch.tensor([[0.3, -0.6, 0.2, 0.5], [-0.4, 0.1, 0.7, -0.2], [0.6, 0.2, -0.5, 0.1]], dtype=torch.float64)
/// b3 = torch.tensor([0.1, 0.0, -0.1], dtype=torch.float64)
/// lam, m = 0.7, 5
/// for kind in ('softmax_l2', 'sigmoid_l1'):
///     net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.LeakyReLU(), nn.Linear(4, 3)).double()
///     with torch.no_grad():
///         net[0].weight.copy_(W0); net[0].bias.copy_(b0); net[3].weight.copy_(W3); net[3].bias.copy_(b3)
///     net.train(); z = net(X)
///     if kind == 'softmax_l2':
///         Y = torch.tensor([[1., 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=torch.float64)
///         J = F.cross_entropy(z, Y) + lam / (2 * m) * (net[0].weight.pow(2).sum() + net[3].weight.pow(2).sum())
///     else:  # multi-label: the library sums the C labels of a row and averages over m
///         Y = torch.tensor([[1., 0, 1], [0, 1, 1], [0, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=torch.float64)
///         J = F.binary_cross_entropy_with_logits(z, Y, reduction='sum') / m + lam / m * (net[0].weight.abs().sum() + net[3].weight.abs().sum())
///     J.backward()
///     print(J.item(), [p.grad.tolist() for p in net.parameters()], net[1].running_mean.tolist(), net[1].running_var.tolist())
/// </code>
/// </summary>
public class TorchTrainingStepGoldenTests
{
    private static readonly double[] _x = [0.5, -1.0, 2.0, 1.5, 0.25, -0.5, -0.75, 1.0, 0.0, 2.0, -0.5, 1.0, 0.0, 0.5, -1.5];
    private static readonly double[][] _weights =
    [
        [0.2, -0.4, 0.1, 0.5, 0.3, -0.2, -0.3, 0.6, 0.4, 0.1, -0.1, 0.7],
        [0.05, -0.1, 0.2, 0.0],
        [1, 1, 1, 1],
        [0, 0, 0, 0],
        [0.3, -0.6, 0.2, 0.5, -0.4, 0.1, 0.7, -0.2, 0.6, 0.2, -0.5, 0.1],
        [0.1, 0.0, -0.1],
    ];

    private static readonly double[] _runningMean = [0.018000000000000002, 0.019999999999999997, 0.011500000000000003, 0.019999999999999997];
    private static readonly double[] _runningVar = [0.933575, 0.93096875, 0.930925, 1.00990625];

    [Fact]
    public void Softmax_output_with_batch_norm_leaky_relu_and_L2_matches_autograd()
    {
        double[] y = [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0];
        double[][] gradients =
        [
            [0.3468672676894622, 0.0485853481550875, -0.20532695387972, -0.1742534081791518, 0.17478821340254674, -0.4394473849986349, -0.0016322252827939698, 0.3095771780937899, -0.2520543762249787, 0.13286497401499542, -0.01199811086393148, 0.08130541421279436],
            [0.0, 1.3877787807814457e-17, -1.3877787807814457e-17, 0.0], // a bias before batch norm gets no gradient
            [0.17778994749048727, -0.018905799647196627, 0.35191477467590765, 0.008655158364597576],
            [0.2643781735984101, 0.046256899038144825, 0.16011667093371, 0.04047748180212868],
            [0.03083237981971694, -0.028648492350012295, 0.10997418513630985, 0.00942754232661773, -0.2304396614364024, -0.23975406472793526, 0.34344403756707564, -0.13761380477983493, 0.2696072816166854, 0.22640255707794757, -0.39741822270338556, 0.18418626245321718],
            [-0.05485280483065713, -0.07249254555108782, 0.12734535038174494],
        ];
        Check<double>(softmax: true, Regularization.L2(0.7), y, 1.7369887004709428, gradients, 1e-14);
        Check<float>(softmax: true, Regularization.L2(0.7), y, 1.7369887004709428, gradients, 2e-6);
    }

    [Fact]
    public void Multi_label_sigmoid_output_with_batch_norm_leaky_relu_and_L1_matches_autograd()
    {
        double[] y = [1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0];
        double[][] gradients =
        [
            [0.4191999744527335, -0.04650361955966974, -0.04440575756396034, 0.3266297208918643, 0.018290131247887226, 0.1440209420244324, -0.10213764804096226, 0.04344111180536746, 0.3132573822445095, 0.17271699807684113, -0.1317474163316531, 0.13650399733487426],
            [2.7755575615628914e-17, -2.7755575615628914e-17, -2.688821387764051e-17, 6.938893903907228e-18],
            [0.02328735933712832, -0.05670197175621267, 0.22055100495759283, -0.06686110556626088],
            [0.02736085241033314, -0.05395289831422215, 0.1836834608896075, -0.04434458903114563],
            [0.0018153862745185212, -0.0813246270716543, 0.3519331608477927, 0.007936875779210206, -0.2025218682787426, -0.09958786113939327, 0.4489300134548999, -0.13367486501990355, 0.2062233269054595, 0.15231019057367032, -0.06382672673920871, 0.14435483540153288],
            [0.16124928293549923, -0.08885657165715738, 0.12434544729128647],
        ];
        Check<double>(softmax: false, Regularization.L1(0.7), y, 3.2206896734214485, gradients, 1e-14);
        Check<float>(softmax: false, Regularization.L1(0.7), y, 3.2206896734214485, gradients, 2e-6);
    }

    private static void Check<T>(bool softmax, Regularizer regularizer, double[] y, double cost, double[][] gradients, double tol)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var builder = Model.Sequential<T>(3).Dense(4, useBias: true).BatchNorm().LeakyReLU().Dense(3);
        var model = (softmax ? builder.Softmax() : builder.Sigmoid()).Build(seed: 1);
        model.Regularizer = regularizer;
        model.Parameters.Select(p => p.Name).Should().Equal("0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias");
        for (int i = 0; i < _weights.Length; i++)
        {
            _weights[i].Select(T.CreateChecked).ToArray().CopyTo(model.Parameters[i].Value.Span);
        }

        var x = Tensor.FromArray(_x.Select(T.CreateChecked).ToArray()).Reshape(5, 3);
        var yt = Tensor.FromArray(y.Select(T.CreateChecked).ToArray()).Reshape(5, 3);
        model.ComputeGradients(x, yt).Should().BeApproximately(cost, tol * 10, $"J ({typeof(T).Name})");
        for (int i = 0; i < gradients.Length; i++)
        {
            var g = model.Parameters[i].Gradient.ToArray();
            for (int k = 0; k < g.Length; k++)
            {
                double.CreateChecked(g[k]).Should().BeApproximately(gradients[i][k], tol, $"d{model.Parameters[i].Name}[{k}] ({typeof(T).Name})");
            }
        }

        var bn = model.Layers.OfType<BatchNorm<T>>().Single();
        for (int j = 0; j < 4; j++)
        {
            double.CreateChecked(bn.RunningMean.Span[j]).Should().BeApproximately(_runningMean[j], tol, $"running_mean[{j}]");
            double.CreateChecked(bn.RunningVariance.Span[j]).Should().BeApproximately(_runningVar[j], tol, $"running_var[{j}]");
        }
    }
}
