using System.Numerics;

namespace DeepLearning.Tests.Layers;

/// <summary>
/// Activation and batch-norm layers against PyTorch 1.13 (Debian's python3-torch). The numbers were printed by the
/// scripts in each test's comment (OPENBLAS_NUM_THREADS=1 /usr/bin/python3, torch.set_num_threads(1)).
/// </summary>
public class TorchLayerGoldenTests
{
    // import torch
    // xs = [-100.0, -20.0, -5.0, -1.0, -0.3, -0.01, -4.4e-4, 0.0, 4.4e-4, 0.001, 0.01, 0.05, 0.3, 0.6, 1.0, 5.0, 20.0, 100.0]
    // for dt in (torch.float32, torch.float64):
    //     for fn in (torch.tanh, torch.sigmoid, torch.nn.LeakyReLU(), torch.relu):   # LeakyReLU's default slope 0.01
    //         x = torch.tensor(xs, dtype=dt, requires_grad=True); y = fn(x); y.backward(torch.ones_like(y))
    //         print(y.tolist(), x.grad.tolist())
    private static readonly double[] _xs = [-100.0, -20.0, -5.0, -1.0, -0.3, -0.01, -4.4e-4, 0.0, 4.4e-4, 0.001, 0.01, 0.05, 0.3, 0.6, 1.0, 5.0, 20.0, 100.0];

    private static readonly float[] _tanh32 = [-1.0f, -1.0f, -0.9999092221260071f, -0.7615941762924194f, -0.29131263494491577f, -0.00999966636300087f, -0.00043999997433274984f, 0.0f, 0.00043999997433274984f, 0.0009999996982514858f, 0.00999966636300087f, 0.049958374351263046f, 0.29131263494491577f, 0.5370495915412903f, 0.7615941762924194f, 0.9999092221260071f, 1.0f, 1.0f];
    private static readonly float[] _tanhGrad32 = [0.0f, 0.0f, 0.0001815475116018206f, 0.41997429728507996f, 0.9151369333267212f, 0.9998999834060669f, 0.9999998211860657f, 1.0f, 0.9999998211860657f, 0.9999989867210388f, 0.9998999834060669f, 0.9975041747093201f, 0.9151369333267212f, 0.7115777134895325f, 0.41997429728507996f, 0.0001815475116018206f, 0.0f, 0.0f];
    private static readonly float[] _sigmoid32 = [0.0f, 2.06115369216775e-09f, 0.006692850962281227f, 0.2689414322376251f, 0.4255574941635132f, 0.4975000023841858f, 0.499889999628067f, 0.5f, 0.5001099705696106f, 0.500249981880188f, 0.5024999976158142f, 0.5124973654747009f, 0.5744425058364868f, 0.6456562876701355f, 0.7310585975646973f, 0.9933071732521057f, 1.0f, 1.0f];
    private static readonly float[] _sigmoidGrad32 = [0.0f, 2.06115369216775e-09f, 0.006648056674748659f, 0.1966119408607483f, 0.24445831775665283f, 0.24999375641345978f, 0.25f, 0.25f, 0.2499999850988388f, 0.24999994039535522f, 0.24999375641345978f, 0.24984382092952728f, 0.24445831775665283f, 0.2287842482328415f, 0.1966119259595871f, 0.0066480329260230064f, 0.0f, 0.0f];
    private static readonly double[] _tanh64 = [-1.0, -1.0, -0.9999092042625951, -0.7615941559557649, -0.2913126124515909, -0.00999966667999946, -0.0004399999716053356, 0.0, 0.0004399999716053356, 0.0009999996666668, 0.00999966667999946, 0.04995837495787998, 0.2913126124515909, 0.5370495669980353, 0.7615941559557649, 0.9999092042625951, 1.0, 1.0];
    private static readonly double[] _tanhGrad64 = [0.0, 0.0, 0.00018158323094385266, 0.41997434161402614, 0.9151369618266292, 0.9999000066662889, 0.999999806400025, 1.0, 0.999999806400025, 0.9999990000006667, 0.9999000066662889, 0.9975041607715679, 0.9151369618266292, 0.7115777625872228, 0.41997434161402614, 0.00018158323094385266, 0.0, 0.0];
    private static readonly double[] _sigmoid64 = [3.7200759760208356e-44, 2.0611536181902037e-09, 0.0066928509242848554, 0.2689414213699951, 0.425557483188341, 0.49750002083312506, 0.49989000000177475, 0.5, 0.5001099999982254, 0.5002499999791666, 0.5024999791668749, 0.5124973964842103, 0.574442516811659, 0.6456563062257954, 0.7310585786300049, 0.9933071490757153, 0.9999999979388463, 1.0];
    private static readonly double[] _sigmoidGrad64 = [3.7200759760208356e-44, 2.0611536139418496e-09, 0.006648056670790155, 0.19661193324148185, 0.24445831169074586, 0.2499937501041652, 0.2499999879000004, 0.25, 0.2499999879000004, 0.24999993750001043, 0.2499937501041652, 0.24984381508111644, 0.24445831169074586, 0.22878424045665732, 0.19661193324148185, 0.006648056670790033, 2.0611536879193953e-09, 0.0];

    [Fact]
    public void Float_tanh_is_within_a_few_ulp_of_torch_tanh_including_small_inputs()
    {
        // TensorPrimitives' float tanh alone was 1,800 ulp (1.1e-4 relative) off near |x| = 4.4e-4.
        var (y, dx) = Run<float>(Activation.Tanh);
        for (int i = 0; i < _xs.Length; i++)
        {
            ((double)y[i]).Should().BeApproximately(_tanh32[i], 4 * Ulp(_tanh32[i]), $"tanh({_xs[i]}) float");

            // 1 − A² from a float A: both sides round A first, so compare absolutely (a few ulp of 1).
            ((double)dx[i]).Should().BeApproximately(_tanhGrad32[i], 3e-7, $"tanh'({_xs[i]}) float");
        }

        var (y64, dx64) = Run<double>(Activation.Tanh);
        for (int i = 0; i < _xs.Length; i++)
        {
            y64[i].Should().BeApproximately(_tanh64[i], 2 * Ulp(_tanh64[i]), $"tanh({_xs[i]}) double");
            dx64[i].Should().BeApproximately(_tanhGrad64[i], 1e-15, $"tanh'({_xs[i]}) double");
        }
    }

    [Fact]
    public void Tape_tanh_in_float_is_as_accurate_as_the_layer()
    {
        var tape = new Tape<float>();
        var x = tape.Variable(Tensor.FromArray(_xs.Select(v => (float)v).ToArray()));
        var y = x.Tanh().Value.ToArray();
        for (int i = 0; i < _xs.Length; i++)
        {
            ((double)y[i]).Should().BeApproximately(_tanh32[i], 4 * Ulp(_tanh32[i]), $"tanh({_xs[i]}) on the tape");
        }
    }

    [Fact]
    public void Sigmoid_matches_torch_sigmoid_at_extreme_and_small_inputs()
    {
        var (y, dx) = Run<float>(Activation.Sigmoid);
        for (int i = 0; i < _xs.Length; i++)
        {
            // σ(−100) is 0 in float, as in PyTorch (3.7e-44 in double); σ(20) rounds to 1.
            ((double)y[i]).Should().BeApproximately(_sigmoid32[i], 5 * Ulp(_sigmoid32[i]), $"σ({_xs[i]}) float");
            ((double)dx[i]).Should().BeApproximately(_sigmoidGrad32[i], 2e-7, $"σ'({_xs[i]}) float");
        }

        var (y64, dx64) = Run<double>(Activation.Sigmoid);
        for (int i = 0; i < _xs.Length; i++)
        {
            y64[i].Should().BeApproximately(_sigmoid64[i], 2 * Ulp(_sigmoid64[i]), $"σ({_xs[i]}) double");
            dx64[i].Should().BeApproximately(_sigmoidGrad64[i], (2 * Ulp(_sigmoidGrad64[i])) + 1e-17, $"σ'({_xs[i]}) double");
        }
    }

    [Fact]
    public void Leaky_relu_default_slope_and_relu_gradient_at_zero_are_torchs()
    {
        // torch.nn.LeakyReLU(): slope 0.01, gradient 0.01 at x = 0; torch.relu: gradient 0 at x = 0.
        var (leaky, leakyGrad) = Run<float>(Activation.LeakyReLU);
        var (relu, reluGrad) = Run<float>(Activation.ReLU);
        for (int i = 0; i < _xs.Length; i++)
        {
            float x = (float)_xs[i];
            leaky[i].Should().Be(x > 0 ? x : x * 0.01f, $"leaky({x})");
            leakyGrad[i].Should().Be(x > 0 ? 1f : 0.01f, $"leaky'({x})");
            relu[i].Should().Be(Math.Max(x, 0f), $"relu({x})");
            reluGrad[i].Should().Be(x > 0 ? 1f : 0f, $"relu'({x})");
        }

        new ActivationLayer<float>(1, Activation.LeakyReLU).LeakySlope.Should().Be(0.01);
    }

    // import torch
    // x1 = torch.tensor([[0.5, -1.2, 3.0, 0.0], [1.5, 0.3, -2.0, 0.1], [-0.7, 2.2, 1.0, 0.2], [2.5, -0.4, 0.5, -0.3], [0.1, 1.1, -1.5, 0.4], [-1.9, 0.6, 2.5, 0.0]], dtype=torch.float64)
    // x2 = x1.flip(0) * 1.5 + 0.25
    // g = torch.tensor([[0.3, -0.2, 0.1, 0.5], [-0.4, 0.6, 0.2, -0.1], [0.25, 0.05, -0.3, 0.2], [0.1, -0.5, 0.4, 0.3], [-0.2, 0.3, 0.15, -0.4], [0.6, -0.1, -0.25, 0.05]], dtype=torch.float64)
    // bn = torch.nn.BatchNorm1d(4, eps=1e-5, momentum=0.1).double()      # PyTorch's momentum 0.1 is our 0.9
    // with torch.no_grad():
    //     bn.weight.copy_(torch.tensor([1.5, 0.5, -1.0, 2.0], dtype=torch.float64))
    //     bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0], dtype=torch.float64))
    // bn.train(); bn(x1)                                                  # first batch: running statistics only
    // x = x2.clone().requires_grad_(True); y = bn(x); y.backward(g)
    // print(y, x.grad, bn.weight.grad, bn.bias.grad, bn.running_mean, bn.running_var)   # running_var: unbiased
    // bn.eval(); print(bn(x1))
    private static readonly double[] _x1 = [0.5, -1.2, 3.0, 0.0, 1.5, 0.3, -2.0, 0.1, -0.7, 2.2, 1.0, 0.2, 2.5, -0.4, 0.5, -0.3, 0.1, 1.1, -1.5, 0.4, -1.9, 0.6, 2.5, 0.0];
    private static readonly double[] _g = [0.3, -0.2, 0.1, 0.5, -0.4, 0.6, 0.2, -0.1, 0.25, 0.05, -0.3, 0.2, 0.1, -0.5, 0.4, 0.3, -0.2, 0.3, 0.15, -0.4, 0.6, -0.1, -0.25, 0.05];
    private static readonly double[] _bnY = [-2.2499506074085933, -0.122701096036022, -0.7316903349701851, -0.6246645768548207, -0.14551722763970373, 0.10919561585591214, 1.4214025380110709, 3.1233228842741028, 2.3798028280829637, -0.5864945198198901, 0.3448561015204428, -3.4356551727015123, -0.9872905795472595, 0.6193683820181671, 0.07571949239778585, 1.249329153709641, 1.327586138198519, -0.2618391231711824, 1.6905391471337277, 0.3123322884274101, 0.27536944831407417, -0.9575292588469846, -1.0008269440928421, -0.6246645768548207];
    private static readonly double[] _bnDx = [0.09954548980719194, -0.06635439648922006, -0.05198610198758911, 2.3729809457587936, -0.3602312754122769, 0.19064594743059007, -0.01682334206430099, -0.30861005697979066, 0.13323851827624228, -0.008343194995403013, 0.12707724344764912, -0.30081012859842166, -0.021995454808104123, -0.1282527572937361, -0.13299788020928602, 1.656850021244322, -0.19805533371906053, 0.0824571006976877, 0.010000053686331448, -2.982401131337006, 0.34749805585600735, -0.07015269934991862, 0.06473002712719551, -0.43800965008789844];
    private static readonly double[] _bnDGamma = [-0.19056813383462715, -0.4035002786919654, -0.5517300487014468, -0.5465815047479681];
    private static readonly double[] _bnDBeta = [0.6499999999999999, 0.14999999999999994, 0.30000000000000004, 0.5500000000000002];
    private static readonly double[] _bnRunningMean = [0.10500000000000001, 0.129, 0.165, 0.041];
    private static readonly double[] _bnRunningVar = [1.5781800000000001, 1.2493200000000002, 2.114625, 0.82722];
    private static readonly double[] _bnEval = [0.571637915320301, -0.7945062174413493, -1.6495543866477123, -0.09015726206388769, 1.7656579541058732, -0.12350597202221916, 1.7888131383041612, 0.1297384990675457, -0.8611861312223855, 0.7264276721753458, -0.2742073766669629, 0.3496342601989791, 2.959677992891445, -0.4366394198844799, 0.06962937582822448, -0.7498445454581878, 0.09402989980607214, 0.2343608255346503, 1.444976385808974, 0.7894257824618459, -2.294010177765072, 0.010694077061606867, -1.305717634152525, -0.09015726206388769];

    [Fact]
    public void BatchNorm_training_forward_backward_running_statistics_and_eval_match_BatchNorm1d() =>
        CheckBatchNorm<double>(1e-13);

    [Fact]
    public void BatchNorm_in_float_matches_BatchNorm1d_to_float_rounding() =>
        CheckBatchNorm<float>(2e-6);

    private static void CheckBatchNorm<T>(double tol)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var bn = new BatchNorm<T>(4, momentum: 0.9, epsilon: 1e-5);
        Fill(bn.Gamma.Value, [1.5, 0.5, -1.0, 2.0]);
        Fill(bn.Beta.Value, [0.1, -0.2, 0.3, 0.0]);
        var x1 = Matrix<T>(_x1);
        var x2 = Matrix<T>(Enumerable.Range(0, 24).Select(k => (_x1[((5 - (k / 4)) * 4) + (k % 4)] * 1.5) + 0.25).ToArray());
        bn.Forward(x1, training: true);
        var y = bn.Forward(x2, training: true).ToArray();
        var dx = bn.Backward(Matrix<T>(_g)).ToArray();
        Close(y, _bnY, tol, "y");
        Close(dx, _bnDx, tol, "dx");
        Close(bn.Gamma.Gradient.ToArray(), _bnDGamma, tol, "dγ");
        Close(bn.Beta.Gradient.ToArray(), _bnDBeta, tol, "dβ");
        Close(bn.RunningMean.ToArray(), _bnRunningMean, tol, "running_mean");
        Close(bn.RunningVariance.ToArray(), _bnRunningVar, tol, "running_var (unbiased)");
        Close(bn.Forward(x1, training: false).ToArray(), _bnEval, tol, "eval");
    }

    private static (T[] Y, T[] Dx) Run<T>(Activation activation)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var layer = new ActivationLayer<T>(_xs.Length, activation);
        var y = layer.Forward(Tensor.FromArray(_xs.Select(T.CreateChecked).ToArray()).Reshape(1, _xs.Length), training: true).ToArray();
        var dx = layer.Backward(Tensor.Full(T.One, 1, _xs.Length)).ToArray();
        return (y, dx);
    }

    private static double Ulp(double v) => Math.Max(Math.BitIncrement(Math.Abs(v)) - Math.Abs(v), double.Epsilon);

    private static double Ulp(float v) => Math.Max(MathF.BitIncrement(Math.Abs(v)) - Math.Abs(v), float.Epsilon);

    private static Tensor<T> Matrix<T>(double[] values)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Tensor.FromArray(values.Select(T.CreateChecked).ToArray()).Reshape(values.Length / 4, 4);

    private static void Fill<T>(Tensor<T> t, double[] values)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        values.Select(T.CreateChecked).ToArray().CopyTo(t.Span);

    private static void Close<T>(T[] ours, double[] torch, double tol, string what)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ours.Should().HaveCount(torch.Length, what);
        for (int i = 0; i < torch.Length; i++)
        {
            double.CreateChecked(ours[i]).Should().BeApproximately(torch[i], tol, $"{what}[{i}] ({typeof(T).Name})");
        }
    }
}
