using System.Numerics;

namespace DeepLearning.Tests.Optimizers;

/// <summary>
/// AdamW against PyTorch 1.13's <c>torch.optim.AdamW(lr=0.05, weight_decay=0.5)</c>: three full-batch steps of the
/// 3-4(tanh)-3 softmax network of <see cref="GradientClippingTests"/>, decaying every parameter or (with parameter groups)
/// only the weights. Printed by (OPENBLAS_NUM_THREADS=1 /usr/bin/python3):
/// <code>
/// for dtype in (torch.float64, torch.float32):
///   for only in (False, True):
///     net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).to(dtype)  # W0, b0, W2, b2 copied in
///     groups = ([{'params': [net[0].weight, net[2].weight]}, {'params': [net[0].bias, net[2].bias], 'weight_decay': 0.0}]
///               if only else net.parameters())
///     opt = torch.optim.AdamW(groups, lr=0.05, weight_decay=0.5)
///     for step in range(3):
///         opt.zero_grad(); F.cross_entropy(net(X.to(dtype)), Y.to(dtype)).backward(); opt.step()
///     print([p.detach().flatten().tolist() for p in net.parameters()])
/// </code>
/// </summary>
public sealed class AdamWTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-adamw-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly double[] _x = [0.5, -1.0, 2.0, 1.5, 0.25, -0.5, -0.75, 1.0, 0.0, 2.0, -0.5, 1.0, 0.0, 0.5, -1.5];
    private static readonly double[] _y = [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0];

    private static readonly double[][] _start =
    [
        [0.2, -0.4, 0.1, 0.5, 0.3, -0.2, -0.3, 0.6, 0.4, 0.1, -0.1, 0.7],
        [0.05, -0.1, 0.2, 0.0],
        [0.3, -0.6, 0.2, 0.5, -0.4, 0.1, 0.7, -0.2, 0.6, 0.2, -0.5, 0.1],
        [0.1, 0.0, -0.1],
    ];

    private static readonly double[][] _all =
    [
        [0.04053408583305576, -0.22608168520384928, -0.04853907606927407, 0.6016156717867125, 0.42283968834145524, -0.039321419811308975, -0.13376280372136073, 0.4121167463753997, 0.5107674356146622, -0.049339189371489574, 0.012106975562577295, 0.5041460495753479],
        [-0.09584271701557373, -0.23915614487280729, 0.326909637641718, -0.14471392785931764],
        [0.1654841168825096, -0.7019405021894423, 0.0438768211127983, 0.3214068805274937, -0.23087964848289738, 0.239010668828033, 0.5074019560567362, -0.04842224327387529, 0.41451009976389774, 0.03986038731347098, -0.31973492783046026, -0.03427916832168659],
        [0.23771735235435087, 0.130635208029465, -0.23261503864331012],
    ];

    private static readonly double[][] _weightsOnly =
    [
        [0.04055894107465259, -0.22607303956712677, -0.048574383294002446, 0.6014248234293837, 0.4227352913721302, -0.039276776343022186, -0.13380926927391212, 0.4122003304999068, 0.5107823313852841, -0.049366961720976286, 0.01180872759140716, 0.504137947446465],
        [-0.09550948492754437, -0.2502065866753089, 0.3451778360096506, -0.14852770284837186],
        [0.1654118491192722, -0.7019062668287153, 0.04385868211923126, 0.3213963737582101, -0.2308835215557637, 0.23900931345327142, 0.5075071732224501, -0.048387842295993445, 0.4145150073435417, 0.03989258469226224, -0.31980268855711863, -0.03434225838145631],
        [0.24841071997960418, 0.13387998714941982, -0.24307188349698283],
    ];

    private static readonly float[][] _allFloat =
    [
        [0.04053410515189171f, -0.2260817438364029f, -0.04853907600045204f, 0.6016156673431396f, 0.4228397011756897f, -0.039321426302194595f, -0.13376283645629883f, 0.41211679577827454f, 0.5107674598693848f, -0.0493391752243042f, 0.01210697740316391f, 0.5041460990905762f],
        [-0.09584270417690277f, -0.23915614187717438f, 0.3269096314907074f, -0.14471392333507538f],
        [0.16548414528369904f, -0.7019405961036682f, 0.043876830488443375f, 0.32140690088272095f, -0.2308797389268875f, 0.23901066184043884f, 0.5074020028114319f, -0.048422254621982574f, 0.41451016068458557f, 0.03986041247844696f, -0.31973493099212646f, -0.03427916020154953f],
        [0.23771733045578003f, 0.13063523173332214f, -0.23261502385139465f],
    ];

    private static Model<T> NewModel<T>()
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var model = Model.Sequential<T>(3).Dense(4, Activation.Tanh).Dense(3).Softmax().Build(seed: 1);
        for (int i = 0; i < _start.Length; i++)
        {
            _start[i].Select(T.CreateChecked).ToArray().CopyTo(model.Parameters[i].Value.Span);
        }

        return model;
    }

    private static Model<T> ThreeSteps<T>(AdamW optimizer)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var model = NewModel<T>();
        var x = Tensor.FromArray(_x.Select(T.CreateChecked).ToArray()).Reshape(5, 3);
        var y = Tensor.FromArray(_y.Select(T.CreateChecked).ToArray()).Reshape(5, 3);
        for (int step = 0; step < 3; step++)
        {
            Trainer.Step(model, optimizer, x, y);
        }

        return model;
    }

    private static void ShouldHave<T>(Model<T> model, double[][] expected, double tol)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < expected.Length; i++)
        {
            var v = model.Parameters[i].Value.ToArray();
            for (int k = 0; k < v.Length; k++)
            {
                double.CreateChecked(v[k]).Should().BeApproximately(expected[i][k], tol, $"{model.Parameters[i].Name}[{k}] ({typeof(T).Name})");
            }
        }
    }

    [Fact]
    public void Matches_PyTorch_AdamW_decaying_every_parameter()
    {
        ShouldHave(ThreeSteps<double>(new AdamW(0.05, weightDecay: 0.5)), _all, 1e-15);
        ShouldHave(ThreeSteps<float>(new AdamW(0.05, weightDecay: 0.5)), _allFloat.Select(r => r.Select(v => (double)v).ToArray()).ToArray(), 1.5e-7);
    }

    [Fact]
    public void Matches_PyTorch_AdamW_with_a_parameter_group_that_does_not_decay_biases()
    {
        ShouldHave(ThreeSteps<double>(new AdamW(0.05, weightDecay: 0.5, decayOnlyWeights: true)), _weightsOnly, 1e-15);
    }

    [Fact]
    public void Without_decay_it_is_Adam_bit_for_bit()
    {
        var model = NewModel<float>();
        var twin = NewModel<float>();
        var x = Tensor.FromArray(_x.Select(v => (float)v).ToArray()).Reshape(5, 3);
        var y = Tensor.FromArray(_y.Select(v => (float)v).ToArray()).Reshape(5, 3);
        var adamW = new AdamW(0.05, weightDecay: 0);
        var adam = new Adam(0.05);
        for (int step = 0; step < 3; step++)
        {
            Trainer.Step(model, adamW, x, y);
            Trainer.Step(twin, adam, x, y);
        }

        for (int i = 0; i < model.Parameters.Count; i++)
        {
            model.Parameters[i].Value.Equals(twin.Parameters[i].Value).Should().BeTrue(model.Parameters[i].Name);
        }
    }

    [Fact]
    public void Describes_itself_and_refuses_bad_settings()
    {
        new AdamW(0.01, weightDecay: 0.05, decayOnlyWeights: true).Describe().Should().Be("AdamW(α=0.01, λ=0.05 (weights only), β1=0.9, β2=0.999, ε=1e-08)");
        var act = () => new AdamW(weightDecay: -1);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("weightDecay must be finite and ≥ 0; received -1*");
        act = () => new AdamW(weightDecay: double.NaN);
        act.Should().Throw<ArgumentOutOfRangeException>();

        var model = NewModel<float>();
        var x = Tensor.FromArray(_x.Select(v => (float)v).ToArray()).Reshape(5, 3);
        var y = Tensor.FromArray(_y.Select(v => (float)v).ToArray()).Reshape(5, 3);
        var before = model.Parameters[0].Value.Clone();
        var step = () => Trainer.Step(model, new AdamW(0.5, weightDecay: 3), x, y);
        step.Should().Throw<ArgumentOutOfRangeException>().WithMessage("α·λ = 0.5·3 = 1.5 is above 1*");
        model.Parameters[0].Value.Equals(before).Should().BeTrue("nothing changed");
    }

    [Fact]
    public void A_resume_continues_bit_for_bit_and_another_weight_decay_is_refused()
    {
        var data = DeepLearning.Tests.Training.ResumeTests.Images(40, seed: 3);
        TrainingOptions<float> Options(int epochs, double decay) => new()
        {
            Optimizer = new AdamW(0.01, weightDecay: decay),
            Epochs = epochs,
            BatchSize = 16,
        };

        DeepLearning.Kernels.Gemm.ThreadsOverride = 1;
        try
        {
            var whole = DeepLearning.Tests.Training.ResumeTests.NewModel(seed: 2);
            whole.Fit(data, Options(4, 0.1));
            string path = Path.Combine(_dir, "adamw.ckpt");
            var first = Options(2, 0.1);
            first.Checkpoint = new CheckpointOptions(path);
            DeepLearning.Tests.Training.ResumeTests.NewModel(seed: 2).Fit(data, first);
            var rest = Options(4, 0.1);
            rest.ResumeFrom = path;
            var resumed = DeepLearning.Tests.Training.ResumeTests.NewModel(seed: 2);
            resumed.Fit(data, rest);
            resumed.CaptureState().Tensors.Zip(whole.CaptureState().Tensors).Should().OnlyContain(p => p.First.Equals(p.Second));

            var other = Options(4, 0.2);
            other.ResumeFrom = path;
            var act = () => DeepLearning.Tests.Training.ResumeTests.NewModel(seed: 2).Fit(data, other);
            act.Should().Throw<InvalidDataException>().WithMessage("*λ=0.1*λ=0.2*");
        }
        finally
        {
            DeepLearning.Kernels.Gemm.ThreadsOverride = 0;
        }
    }
}
