namespace DeepLearning.Tests.Schedules;

/// <summary>
/// The decay schedules against PyTorch 1.13's schedulers (Debian's python3-torch), stepped once per epoch after the
/// epoch's updates, so that epoch e (from 0) trains at the rate PyTorch's optimizer holds during its epoch e.
/// The numbers were printed by (OPENBLAS_NUM_THREADS=1 /usr/bin/python3, torch.set_num_threads(1)):
/// <code>
/// import math, torch
/// L = torch.optim.lr_scheduler
/// def rates(make, epochs=12):
///     opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1); s = make(opt); out = []
///     for e in range(epochs):
///         out.append(opt.param_groups[0]['lr'])   # the rate epoch e trains with
///         opt.step(); s.step()
///     return out
/// rates(lambda o: L.ExponentialLR(o, gamma=0.9))                                  # Exponential(0.9)
/// rates(lambda o: L.StepLR(o, step_size=3, gamma=0.5))                            # Staircase(3, 0.5)
/// rates(lambda o: L.LambdaLR(o, lambda e: 1 / (1 + 0.5 * e)))                     # InverseTime(0.5)
/// rates(lambda o: L.LambdaLR(o, lambda e: 1 / (1 + 0.5 * (e // 3))))              # InverseTime(0.5, timeInterval: 3)
/// rates(lambda o: L.LambdaLR(o, lambda e: 2 / math.sqrt(max(e, 1))))              # InverseSqrt(2)
/// </code>
/// </summary>
public class LearningRateDecayTorchTests
{
    public static TheoryData<string, double[]> Schedules => new()
    {
        { "Exponential", [0.1, 0.09000000000000001, 0.08100000000000002, 0.07290000000000002, 0.06561000000000002, 0.05904900000000002, 0.05314410000000002, 0.04782969000000002, 0.043046721000000024, 0.03874204890000002, 0.03486784401000002, 0.03138105960900001] },
        { "Staircase", [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125] },
        { "InverseTime", [0.1, 0.06666666666666667, 0.05, 0.04000000000000001, 0.03333333333333333, 0.02857142857142857, 0.025, 0.022222222222222223, 0.020000000000000004, 0.018181818181818184, 0.016666666666666666, 0.015384615384615385] },
        { "InverseTimeInterval", [0.1, 0.1, 0.1, 0.06666666666666667, 0.06666666666666667, 0.06666666666666667, 0.05, 0.05, 0.05, 0.04000000000000001, 0.04000000000000001, 0.04000000000000001] },
        { "InverseSqrt", [0.2, 0.2, 0.1414213562373095, 0.11547005383792518, 0.1, 0.08944271909999159, 0.08164965809277262, 0.07559289460184544, 0.07071067811865475, 0.06666666666666667, 0.0632455532033676, 0.06030226891555273] },
    };

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Epoch_e_trains_at_the_rate_the_torch_scheduler_gives_epoch_e(string name, double[] torch)
    {
        var schedule = Make(name);
        for (int e = 0; e < torch.Length; e++)
        {
            // ExponentialLR multiplies by γ once per epoch, we take α0·γᵉ: the same to a few ulp.
            schedule.Rate(0.1, e).Should().BeApproximately(torch[e], 1e-15 * torch[e] * 8, $"{schedule} at epoch {e}");
        }
    }

    // X = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.5, -1.5], [2.0, 1.0]], dtype=torch.float64)
    // Y = torch.tensor([[1.0], [-0.5], [0.25], [2.0]], dtype=torch.float64)
    // for make in (lambda o: L.StepLR(o, step_size=2, gamma=0.5), lambda o: L.LambdaLR(o, lambda e: 1 / (1 + 0.5 * e))):
    //     net = torch.nn.Linear(2, 1).double()
    //     with torch.no_grad(): net.weight.copy_(torch.tensor([[0.3, -0.2]], dtype=torch.float64)); net.bias.fill_(0.1)
    //     opt = torch.optim.SGD(net.parameters(), lr=0.1); sched = make(opt)
    //     for epoch in range(5):                                   # one full-batch step per epoch
    //         opt.zero_grad(); J = 0.5 * ((net(X) - Y) ** 2).sum() / 4; J.backward(); opt.step(); sched.step()
    //     print(net.weight.tolist(), net.bias.tolist())
    [Theory]
    [InlineData("Staircase2", 0.5416035708961486, 0.019331582190632822, 0.2077699751493931)]
    [InlineData("InverseTime", 0.5223112464436849, 0.002858453455352782, 0.2003400769465129)]
    public void Fit_applies_the_decay_at_the_same_epochs_as_a_torch_scheduler_stepped_after_each_epoch(string name, double w0, double w1, double b)
    {
        var x = Tensor.FromArray(new[] { 1.0, 2.0, -1.0, 0.5, 0.5, -1.5, 2.0, 1.0 }).Reshape(4, 2);
        var y = Tensor.FromArray(new[] { 1.0, -0.5, 0.25, 2.0 }).Reshape(4, 1);
        var model = Model.Sequential<double>(2).Dense(1).Build(seed: 1);
        new[] { 0.3, -0.2 }.CopyTo(model.Parameters[0].Value.Span);
        model.Parameters[1].Value.Span[0] = 0.1;
        model.Fit(x, y, new TrainingOptions<double> { Optimizer = new GradientDescent(0.1), Decay = Make(name), Epochs = 5, BatchSize = 4, Shuffle = false });
        var w = model.Parameters[0].Value.ToArray();
        w[0].Should().BeApproximately(w0, 1e-14);
        w[1].Should().BeApproximately(w1, 1e-14);
        model.Parameters[1].Value.Span[0].Should().BeApproximately(b, 1e-14);
    }

    private static LearningRateSchedule Make(string name) => name switch
    {
        "Exponential" => LearningRateDecay.Exponential(0.9),
        "Staircase" => LearningRateDecay.Staircase(3, 0.5),
        "Staircase2" => LearningRateDecay.Staircase(2, 0.5),
        "InverseTime" => LearningRateDecay.InverseTime(0.5),
        "InverseTimeInterval" => LearningRateDecay.InverseTime(0.5, timeInterval: 3),
        _ => LearningRateDecay.InverseSqrt(2),
    };
}
