namespace DeepLearning.Tests.Optimizers;

/// <summary>
/// Gradient clipping by global norm and by value, in Fit and on its own, against PyTorch 1.13's
/// <c>clip_grad_norm_</c> and <c>clip_grad_value_</c>. Printed by (OPENBLAS_NUM_THREADS=1 /usr/bin/python3):
/// <code>
/// import torch
/// from torch import nn
/// import torch.nn.functional as F
/// X = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [-0.75, 1.0, 0.0], [2.0, -0.5, 1.0], [0.0, 0.5, -1.5]], dtype=torch.float64)
/// Y = torch.tensor([[1., 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=torch.float64)
/// (W0, b0, W2, b2 as in ClassWeightsTests)
/// for mode in ('norm', 'value', 'both'):
///     net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double()  # weights copied from W0, b0, W2, b2
///     opt = torch.optim.SGD(net.parameters(), lr=2.0)
///     for step in range(3):
///         opt.zero_grad(); F.cross_entropy(net(X), Y).backward()
///         if mode in ('norm', 'both'): print(nn.utils.clip_grad_norm_(net.parameters(), 0.3).item())
///         if mode in ('value', 'both'): nn.utils.clip_grad_value_(net.parameters(), 0.05)
///         opt.step()
///     print([p.detach().flatten().tolist() for p in net.parameters()])
/// </code>
/// </summary>
public sealed class GradientClippingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-clipping-tests").FullName;

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

    private static Model<double> NewModel()
    {
        var model = Model.Sequential<double>(3).Dense(4, Activation.Tanh).Dense(3).Softmax().Build(seed: 1);
        for (int i = 0; i < _start.Length; i++)
        {
            _start[i].CopyTo(model.Parameters[i].Value.Span);
        }

        return model;
    }

    private static void Train(Model<double> model, double? norm, double? value, int epochs = 3, string? checkpoint = null, string? resume = null)
    {
        var x = Tensor.FromArray(_x).Reshape(5, 3);
        var y = Tensor.FromArray(_y).Reshape(5, 3);
        model.Fit(x, y, new TrainingOptions<double>
        {
            Optimizer = new GradientDescent(2.0),
            Epochs = epochs,
            BatchSize = 0,
            Shuffle = false,
            GradientClipNorm = norm,
            GradientClipValue = value,
            Checkpoint = checkpoint is null ? null : new CheckpointOptions(checkpoint),
            ResumeFrom = resume,
        });
    }

    private static void ShouldHave(Model<double> model, double[][] expected)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            var v = model.Parameters[i].Value.ToArray();
            for (int k = 0; k < v.Length; k++)
            {
                v[k].Should().BeApproximately(expected[i][k], 1e-13, $"{model.Parameters[i].Name}[{k}]");
            }
        }
    }

    [Fact]
    public void Fit_clipping_by_norm_matches_PyTorch_clip_grad_norm()
    {
        var model = NewModel();
        Train(model, norm: 0.3, value: null);
        ShouldHave(model,
        [
            [-0.6386342219622952, -0.10705242708480311, -0.005373825353913245, 0.6499773788524814, 0.45270165314982036, 0.014727690588740149, 0.5411549480826521, 0.28952040751480057, 0.48883675366560064, -0.1399629159112136, -0.1305118516638275, 0.5981938010334902],
            [0.15484701703064527, -0.405264343865831, 0.2775981694203103, -0.11190966543517962],
            [0.35056497723804897, -0.784212810887752, 0.033711449755390366, 0.34581584977729024, -0.4130971035966725, 0.6116872413636125, 0.6311631014018678, -0.01995657543485631, 0.5625321263586235, -0.12747443047586043, -0.2648745511572581, 0.07414072565756603],
            [0.31216803839502055, -0.1260131678316358, -0.18615487056338448],
        ]);
    }

    [Fact]
    public void Fit_clipping_by_value_matches_PyTorch_clip_grad_value()
    {
        var model = NewModel();
        Train(model, norm: null, value: 0.05);
        ShouldHave(model,
        [
            [-0.1, -0.10000000000000003, -0.09392238671837433, 0.7271874083063478, 0.5219822949240992, 0.07271902665096036, 2.7755575615628914e-17, 0.30000000000000004, 0.5810952662141401, -0.13334584320287157, -0.12666707965848223, 0.5288028008479102],
            [-0.08032211516723346, -0.3893011415766855, 0.47176146314584894, -0.21092360293421772],
            [0.29771389590640884, -0.8851260817707386, 0.005262405742817028, 0.30289159298477897, -0.1690005121929104, 0.4, 0.41602943903924566, -0.03742830739653257, 0.32961235751006773, -0.1, -0.20000000000000004, 0.021977916457785733],
            [0.3331322363840519, 0.049546414059545546, -0.28267865044359747],
        ]);
    }

    [Fact]
    public void Both_clip_the_norm_first_then_the_values()
    {
        var model = NewModel();
        Train(model, norm: 0.3, value: 0.05);
        ShouldHave(model,
        [
            [-0.1, -0.12404363311132009, -0.04906656167032128, 0.680664275405236, 0.3872379090396662, 0.02877609051037701, 2.7755575615628914e-17, 0.3549069275660791, 0.5392225531161032, -0.15551562035794186, -0.1061450087600974, 0.6010759942755448],
            [-0.0029476623741203824, -0.27239357898580685, 0.4664367272466553, -0.10970340961401782],
            [0.3083499623637993, -0.7706733454500345, 0.09787234084811275, 0.34560204458740945, -0.1859615319016463, 0.4, 0.4742567785045953, -0.010387447494449968, 0.36258872333293324, -0.08962027579020054, -0.20000000000000004, 0.058537207553630455],
            [0.23330173102385499, 0.02949725906074071, -0.26279899008459584],
        ]);
    }

    [Fact]
    public void ClipByNorm_returns_the_norm_before_clipping_and_leaves_small_gradients_alone()
    {
        var model = NewModel();
        var x = Tensor.FromArray(_x).Reshape(5, 3);
        var y = Tensor.FromArray(_y).Reshape(5, 3);
        model.ComputeGradients(x, y);
        GradientClipping.ClipByNorm(model.Parameters, 0.3).Should().BeApproximately(0.9314831557280951, 1e-15, "PyTorch's first total norm");
        GradientClipping.ClipByNorm(model.Parameters, 10).Should().BeApproximately(0.3 * 0.9314831557280951 / (0.9314831557280951 + 1e-6), 1e-15, "clipped to max·‖g‖/(‖g‖ + ε)");
        var kept = model.Parameters.Select(p => p.Gradient.ToArray()).ToArray();
        GradientClipping.ClipByNorm(model.Parameters, 10);
        model.Parameters.Select(p => p.Gradient.ToArray()).Should().BeEquivalentTo(kept, o => o.WithStrictOrdering(), "a norm under the limit is left as it is");

        var f = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        f.Parameters[0].Gradient.Span.Fill(float.PositiveInfinity);
        double.IsFinite(GradientClipping.ClipByNorm(f.Parameters, 1)).Should().BeFalse("a non-finite norm is reported, and the guard catches the weights");
    }

    [Fact]
    public void ClipByValue_keeps_NaN_and_clamps_both_signs()
    {
        var model = Model.Sequential<float>(2).Dense(2).Softmax().Build(seed: 1);
        var g = model.Parameters[0].Gradient;
        new[] { 3f, -3f, float.NaN, 0.01f }.CopyTo(g.Span);
        GradientClipping.ClipByValue(model.Parameters, 0.5);
        g.ToArray().Should().Equal([0.5f, -0.5f, float.NaN, 0.01f]);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Limits_that_are_not_positive_and_finite_are_refused(double limit)
    {
        var options = new TrainingOptions<float>();
        Action act = () => options.GradientClipNorm = limit;
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("GradientClipNorm must be finite and > 0*");
        act = () => options.GradientClipValue = limit;
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("GradientClipValue must be finite and > 0*");
        var model = Model.Sequential<float>(2).Dense(2).Softmax().Build(seed: 1);
        act = () => GradientClipping.ClipByNorm(model.Parameters, limit);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("maxNorm must be finite and > 0*");
        act = () => GradientClipping.ClipByValue(model.Parameters, limit);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("clipValue must be finite and > 0*");
    }

    [Fact]
    public void Fit_refuses_a_limit_that_rounds_to_zero_in_the_element_type()
    {
        var model = Model.Sequential<float>(2).Dense(2).Softmax().Build(seed: 1);
        var x = new Tensor<float>(4, 2);
        var y = Tensor.FromArray(new float[] { 1, 0, 0, 1, 1, 0, 0, 1 }).Reshape(4, 2);
        var act = () => model.Fit(x, y, new TrainingOptions<float> { Epochs = 1, GradientClipValue = 1e-50 });
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("GradientClipValue = 1E-50 rounds to 0 in Single*");
        act = () => model.Fit(x, y, new TrainingOptions<float> { Epochs = 1, GradientClipNorm = 1e-50 });
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("GradientClipNorm = 1E-50 rounds to 0 in Single*");
    }

    [Fact]
    public void A_checkpoint_records_the_limits_and_a_resume_with_others_is_refused()
    {
        string path = Path.Combine(_dir, "clip.ckpt");
        var whole = NewModel();
        Train(whole, norm: 0.3, value: 0.05, epochs: 3);
        Train(NewModel(), norm: 0.3, value: 0.05, epochs: 2, checkpoint: path);
        var resumed = NewModel();
        Train(resumed, norm: 0.3, value: 0.05, epochs: 3, resume: path);
        for (int i = 0; i < whole.Parameters.Count; i++)
        {
            resumed.Parameters[i].Value.Equals(whole.Parameters[i].Value).Should().BeTrue();
        }

        var act = () => Train(NewModel(), norm: 0.5, value: 0.05, epochs: 3, resume: path);
        act.Should().Throw<InvalidDataException>().WithMessage("*it was trained with GradientClipNorm = 0.3 but the options have GradientClipNorm = 0.5*");
        act = () => Train(NewModel(), norm: 0.3, value: null, epochs: 3, resume: path);
        act.Should().Throw<InvalidDataException>().WithMessage("*it was trained with GradientClipValue = 0.05 but the options have GradientClipValue = null*");
    }

    [Fact]
    public void The_norm_of_float_gradients_is_summed_in_double()
    {
        // Ten gradients of 1e19: Σ g² overflows a float sum (PyTorch's norm is ∞ and every gradient is zeroed).
        var model = Model.Sequential<float>(5).Dense(2).Softmax().Build(seed: 1);
        var g = model.Parameters[0].Gradient;
        g.Fill(1e19f);
        GradientClipping.ClipByNorm(model.Parameters, 1.0).Should().BeApproximately(1e19 * Math.Sqrt(10), 1e19 * 1e-6);
        g.ToArray().Should().OnlyContain(v => Math.Abs(v - (1 / Math.Sqrt(10))) < 1e-6, "clipped to norm 1, not to 0");

        // Ten million gradients of 0.1: a float sum drifts (PyTorch: 313.77); the exact norm is √(10⁷·0.1f²).
        var wide = Model.Sequential<float>(10_000).Dense(1000).Softmax().Build(seed: 1);
        wide.Parameters[0].Gradient.Fill(0.1f);
        wide.Parameters[1].Gradient.Clear();
        double exact = Math.Sqrt(1e7) * 0.1f;
        GradientClipping.ClipByNorm(wide.Parameters, 1e9).Should().BeApproximately(exact, exact * 1e-10);

        // Double gradients whose squares overflow are scaled first.
        var d = Model.Sequential<double>(2).Dense(2).Softmax().Build(seed: 1);
        d.Parameters[0].Gradient.Fill(1e200);
        d.Parameters[1].Gradient.Clear();
        GradientClipping.ClipByNorm(d.Parameters, 1.0).Should().BeApproximately(2e200, 2e200 * 1e-12);
        d.Parameters[0].Gradient.ToArray().Should().OnlyContain(v => Math.Abs(v - 0.5) < 1e-12);

        var act = () => GradientClipping.ClipByNorm(model.Parameters, 1e-50);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("maxNorm 1E-50 rounds to 0 in Single*");
    }
}
