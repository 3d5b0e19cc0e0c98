
namespace DeepLearning.Tests.Schedules;

/// <summary>Every schedule against values computed by hand from its formula.</summary>
public class LearningRateDecayTests
{
    [Fact]
    public void InverseTime_reproduces_the_course_table()
    {
        // The lecture's table (α0 = 0.2, decayRate = 1), shifted to 0-based epochs:
        // epoch 0: 0.2, 1: 0.2/2 = 0.1, 2: 0.2/3 = 0.0667, 3: 0.2/4 = 0.05, 4: 0.2/5 = 0.04.
        var s = LearningRateDecay.InverseTime(decayRate: 1);
        double[] expected = [0.2, 0.1, 0.2 / 3, 0.05, 0.04];
        for (int e = 0; e < expected.Length; e++)
        {
            s.Rate(0.2, e).Should().BeApproximately(expected[e], 1e-15);
        }
    }

    [Fact]
    public void Scheduled_InverseTime_decays_once_per_interval()
    {
        // α0 = 0.1, decayRate = 0.3, interval 1000 (the assignment's schedule_lr_decay):
        // epochs 0..999 → 0.1; 1000..1999 → 0.1/1.3; 2500 → 0.1/1.6.
        var s = LearningRateDecay.InverseTime(0.3, timeInterval: 1000);
        s.Rate(0.1, 0).Should().Be(0.1);
        s.Rate(0.1, 999).Should().Be(0.1);
        s.Rate(0.1, 1000).Should().BeApproximately(0.1 / 1.3, 1e-16);
        s.Rate(0.1, 1999).Should().BeApproximately(0.1 / 1.3, 1e-16);
        s.Rate(0.1, 2500).Should().BeApproximately(0.1 / 1.6, 1e-16);
    }

    [Fact]
    public void Exponential_is_alpha0_times_base_to_the_epoch()
    {
        var s = LearningRateDecay.Exponential();
        s.Rate(0.1, 0).Should().Be(0.1);
        s.Rate(0.1, 1).Should().BeApproximately(0.095, 1e-16);
        s.Rate(0.1, 2).Should().BeApproximately(0.09025, 1e-16);
        s.Rate(0.1, 10).Should().BeApproximately(0.1 * 0.5987369392383789, 1e-15); // 0.95¹⁰
        LearningRateDecay.Exponential(0.5).Rate(1, 3).Should().Be(0.125);
    }

    [Fact]
    public void InverseSqrt_treats_epoch_zero_as_epoch_one()
    {
        var s = LearningRateDecay.InverseSqrt(k: 0.5);
        s.Rate(0.2, 0).Should().BeApproximately(0.1, 1e-16);
        s.Rate(0.2, 1).Should().BeApproximately(0.1, 1e-16);
        s.Rate(0.2, 4).Should().BeApproximately(0.05, 1e-16);
        s.Rate(0.2, 100).Should().BeApproximately(0.01, 1e-16);
    }

    [Fact]
    public void Staircase_drops_by_the_factor_every_N_epochs()
    {
        var s = LearningRateDecay.Staircase(dropEvery: 10, factor: 0.5);
        s.Rate(0.08, 0).Should().Be(0.08);
        s.Rate(0.08, 9).Should().Be(0.08);
        s.Rate(0.08, 10).Should().Be(0.04);
        s.Rate(0.08, 25).Should().Be(0.02);
        s.Rate(0.08, 30).Should().Be(0.01);
    }

    [Fact]
    public void Constant_and_custom()
    {
        LearningRateDecay.Constant().Rate(0.3, 1234).Should().Be(0.3);
        var manual = LearningRateDecay.Custom((a0, e) => e < 3 ? a0 : a0 / 10, "manual");
        manual.Rate(0.1, 2).Should().Be(0.1);
        manual.Rate(0.1, 3).Should().BeApproximately(0.01, 1e-17);
        manual.Describe().Should().Be("manual");
    }

    [Fact]
    public void Step_based_rates_use_the_same_formula()
    {
        LearningRateDecay.InverseTime(0.001).RateAtStep(0.01, 3000).Should().BeApproximately(0.01 / 4, 1e-17);
        LearningRateDecay.Staircase(1000, 0.5).RateAtStep(1, 2500).Should().Be(0.25);
        LearningRateDecay.Constant().RateAtStep(0.1, 3_000_000_000L).Should().Be(0.1);

        // A rate that underflows to 0 is an error, not a silent stop.
        var act = () => LearningRateDecay.Staircase(1000, 0.1).RateAtStep(1, 5_000_000_000L);
        act.Should().Throw<InvalidOperationException>().WithMessage("Staircase(dropEvery=1000, factor=0.1) gave learning rate 0 at step 5000000000*");
    }

    [Fact]
    public void Schedules_are_pure()
    {
        var s = LearningRateDecay.InverseTime(0.5);
        double first = s.Rate(0.1, 7);
        s.Rate(0.1, 3);
        s.Rate(0.1, 7).Should().Be(first);
    }

    [Fact]
    public void Arguments_and_results_are_validated()
    {
        var s = LearningRateDecay.InverseTime(1);
        var act = () => s.Rate(0, 1);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("initialRate must be positive and finite; received 0*");
        act = () => s.Rate(0.1, -1);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("epoch must be non-negative; received -1*");
        Action make = () => LearningRateDecay.InverseTime(-0.5);
        make.Should().Throw<ArgumentOutOfRangeException>().WithMessage("decayRate must be non-negative and finite; received -0.5*");
        make = () => LearningRateDecay.InverseTime(1, 0);
        make.Should().Throw<ArgumentOutOfRangeException>().WithMessage("timeInterval must be at least 1; received 0*");
        make = () => LearningRateDecay.Exponential(1.5);
        make.Should().Throw<ArgumentOutOfRangeException>().WithMessage("decayBase must be in (0, 1]; received 1.5*");
        make = () => LearningRateDecay.InverseSqrt(0);
        make.Should().Throw<ArgumentOutOfRangeException>().WithMessage("k must be positive and finite; received 0*");
        make = () => LearningRateDecay.Staircase(0, 0.5);
        make.Should().Throw<ArgumentOutOfRangeException>().WithMessage("dropEvery must be at least 1; received 0*");
        make = () => LearningRateDecay.Staircase(5, 0);
        make.Should().Throw<ArgumentOutOfRangeException>().WithMessage("factor must be in (0, 1]; received 0*");

        var bad = LearningRateDecay.Custom((a0, e) => a0 - (0.1 * e), "linear");
        act = () => bad.Rate(0.1, 2);
        act.Should().Throw<InvalidOperationException>().WithMessage("linear gave learning rate -0.1 at epoch 2*");
    }

    [Fact]
    public void Describe_names_the_schedule()
    {
        LearningRateDecay.InverseTime(1).Describe().Should().Be("InverseTime(decayRate=1)");
        LearningRateDecay.InverseTime(0.3, 1000).Describe().Should().Be("InverseTime(decayRate=0.3, timeInterval=1000)");
        LearningRateDecay.Exponential().ToString().Should().Be("Exponential(base=0.95)");
        LearningRateDecay.InverseSqrt(2).Describe().Should().Be("InverseSqrt(k=2)");
        LearningRateDecay.Staircase(10, 0.5).Describe().Should().Be("Staircase(dropEvery=10, factor=0.5)");
        LearningRateDecay.Constant().Describe().Should().Be("Constant");
    }

    [Fact]
    public void A_decayed_rate_too_small_for_the_model_type_names_the_schedule_and_epoch_and_keeps_the_weights_finite()
    {
        // 0.01·(1e-10)^e rounds to 0 in float from epoch 4 on (1e-42 is a float subnormal, 1e-52 is 0). The error used to
        // say only "learningRate 1.0000000000000001e-52 rounds to 0 in Single", a rate the user never set.
        var (x, y) = TestData.Problem<float>(40, 3, 1, "sigmoid", seed: 2);
        var model = Model.Sequential<float>(3).Dense(1).Sigmoid().Build(seed: 1);
        var before = model.CaptureState();
        var options = new TrainingOptions<float> { Epochs = 20, Optimizer = new GradientDescent(0.01), Decay = LearningRateDecay.Staircase(1, 1e-10) };
        var e = FluentActions.Invoking(() => model.Fit(x, y, options)).Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("Staircase(dropEvery=1, factor=1e-10) gave learning rate *e-52 at epoch 5 (α0 = 0.01), which rounds to 0 in Single*").Which;
        e.ParamName.Should().Be("Decay");
        options.Optimizer.LearningRate.Should().Be(0.01, "α0 is put back whatever stopped the run");
        model.Predict(x).ToArray().Should().OnlyContain(v => float.IsFinite(v));

        // Checked as each epoch starts, not ahead: a run capped at many epochs that early stopping ends long before its
        // rate would underflow trains (Exponential(0.95) from 0.01 rounds to 0 in float only at epoch 1,938).
        model.CaptureState().Tensors.Zip(before.Tensors).Should().Contain(p => !p.First.Equals(p.Second), "epochs 0–4 trained");
        var (mx, my) = TestData.Problem<float>(40, 3, 1, "sigmoid", seed: 3);
        var capped = new TrainingOptions<float> { Epochs = 5000, Optimizer = new GradientDescent(0.01), Decay = LearningRateDecay.Exponential(0.95) };
        capped.Callbacks.Add(new LambdaCallback((c, r) => { if (r.Epoch == 20) { c.Stop("enough"); } }));
        Model.Sequential<float>(3).Dense(1).Sigmoid().Build(seed: 1).Fit(mx, my, capped).Count.Should().Be(20);
    }
}
