using System.Numerics;

namespace DeepLearning.Tests.Optimizers;

/// <summary>The same contract for every optimizer: lazy, isolated per-parameter state; Reset; checkpoints; float and double; no allocation once warm.</summary>
public class OptimizerSuiteTests
{
    public static TheoryData<string> Names => new() { "gd", "momentum", "momentum-bc", "rmsprop", "adam", "adamw" };

    [Theory]
    [MemberData(nameof(Names))]
    public void The_settings_a_checkpoint_records_are_the_description_without_alpha_and_leave_alpha_alone(string name)
    {
        // The built-ins describe their settings directly; the text is what the generic path (α set to 1 and taken out)
        // gives, which checkpoints written before recorded, so they still compare equal.
        var opt = Create(name);
        opt.LearningRate = 0.0123;
        string settings = opt.DescribeSettings();
        settings.Should().NotContain("α").And.StartWith(opt.GetType().Name + "(");
        settings.Should().Be(opt.Describe().Replace("(α=0.0123, ", "(", StringComparison.Ordinal).Replace("(α=0.0123)", "()", StringComparison.Ordinal));
        opt.LearningRate.Should().Be(0.0123);
    }

    [Fact]
    public void Another_kinds_settings_are_its_description_without_alpha()
    {
        var custom = new Halving(0.5);
        custom.DescribeSettings().Should().Be("Halving(k=3)");
        custom.LearningRate.Should().Be(0.5);
    }

    private sealed class Halving(double rate) : Optimizer(rate)
    {
        public override string Describe() => $"Halving(α={LearningRate}, k=3)";

        protected override void Update<T>(Parameter<T> parameter, Tensor<T>[] state, T learningRate, long t)
        {
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void State_is_created_lazily_on_first_step(string name)
    {
        var opt = Create(name);
        var (p1, p2) = (MakeParameter<double>("a", 7, 1), MakeParameter<double>("b", 5, 2));
        opt.HasState(p1).Should().BeFalse();
        opt.StepCount.Should().Be(0);
        opt.Step([p1]);
        opt.StepCount.Should().Be(1);
        opt.HasState(p1).Should().Be(opt.StateNames.Count > 0);
        opt.HasState(p2).Should().BeFalse("a parameter never stepped has no state");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Two_parameters_stepped_together_evolve_as_if_each_had_its_own_optimizer(string name)
    {
        var shared = Create(name);
        var (a, b) = (MakeParameter<double>("a", 33, 1), MakeParameter<double>("b", 33, 2));
        var (soloA, soloB) = (Create(name), Create(name));
        var (a2, b2) = (MakeParameter<double>("a", 33, 1), MakeParameter<double>("b", 33, 2));
        for (int step = 0; step < 6; step++)
        {
            SetGradient(a, step, 10);
            SetGradient(b, step, 20);
            SetGradient(a2, step, 10);
            SetGradient(b2, step, 20);
            shared.Step([a, b]);
            soloA.Step([a2]);
            soloB.Step([b2]);
        }

        a.Value.Should().Be(a2.Value);
        b.Value.Should().Be(b2.Value);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Reset_drops_state_and_restarts_t(string name)
    {
        var opt = Create(name);
        var p = MakeParameter<double>("w", 9, 3);
        var start = p.Value.Clone();
        SetGradient(p, 0, 1);
        opt.Step([p]);
        var afterOne = p.Value.Clone();
        SetGradient(p, 1, 1);
        opt.Step([p]);

        opt.Reset();
        opt.StepCount.Should().Be(0);
        opt.HasState(p).Should().BeFalse();
        start.CopyTo(p.Value);
        SetGradient(p, 0, 1);
        opt.Step([p]);
        p.Value.Should().Be(afterOne, "after Reset the first step is a first step again");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Float_follows_the_double_trajectory(string name)
    {
        var (od, of) = (Create(name), Create(name));
        var pd = MakeParameter<double>("w", 40, 4);
        var pf = MakeParameter<float>("w", 40, 4);
        for (int step = 0; step < 20; step++)
        {
            SetGradient(pd, step, 1);
            SetGradient(pf, step, 1);
            od.Step([pd]);
            of.Step([pf]);
        }

        for (int i = 0; i < pd.Length; i++)
        {
            ((double)pf.Value.Span[i]).Should().BeApproximately(pd.Value.Span[i], 1e-5);
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Export_then_import_continues_the_same_trajectory(string name)
    {
        var original = Create(name);
        var p = MakeParameter<double>("layer.weight", 12, 5);
        var q = MakeParameter<double>("layer.bias", 3, 6);
        for (int step = 0; step < 3; step++)
        {
            SetGradient(p, step, 1);
            SetGradient(q, step, 2);
            original.Step([p, q]);
        }

        var exported = original.ExportState<double>([p, q]);
        exported["t"].Span[0].Should().Be(3);
        exported.Keys.Should().BeEquivalentTo(
            new[] { "t" }.Concat(original.StateNames.SelectMany(s => new[] { $"layer.weight.{s}", $"layer.bias.{s}" })));

        var (p2, q2) = (new Parameter<double>("layer.weight", p.Value.Clone(), true), new Parameter<double>("layer.bias", q.Value.Clone(), false));
        var restored = Create(name);
        restored.ImportState<double>([p2, q2], exported);
        restored.StepCount.Should().Be(3);
        for (int step = 3; step < 6; step++)
        {
            SetGradient(p, step, 1);
            SetGradient(q, step, 2);
            SetGradient(p2, step, 1);
            SetGradient(q2, step, 2);
            original.Step([p, q]);
            restored.Step([p2, q2]);
        }

        p2.Value.Should().Be(p.Value);
        q2.Value.Should().Be(q.Value);
        exported["t"].Span[0].Should().Be(3, "an export is a snapshot");
    }

    [Fact]
    public void Import_rejects_bad_state_and_leaves_the_optimizer_unchanged()
    {
        var opt = new Adam();
        var p = MakeParameter<double>("w", 4, 1);
        SetGradient(p, 0, 1);
        opt.Step([p]);
        var good = opt.ExportState<double>([p]);

        var missingT = good.Where(kv => kv.Key != "t").ToDictionary(kv => kv.Key, kv => kv.Value);
        var act = () => opt.ImportState<double>([p], missingT);
        act.Should().Throw<ArgumentException>().WithMessage("*\"t\"*");

        var incomplete = good.Where(kv => kv.Key != "w.s").ToDictionary(kv => kv.Key, kv => kv.Value);
        act = () => opt.ImportState<double>([p], incomplete);
        act.Should().Throw<ArgumentException>().WithMessage("*incomplete*\"w.s\"*");

        var wrongShape = good.ToDictionary(kv => kv.Key, kv => kv.Key == "w.v" ? new Tensor<double>(5) : kv.Value);
        act = () => opt.ImportState<double>([p], wrongShape);
        act.Should().Throw<ArgumentException>().WithMessage("*\"w.v\" has shape (5)*(4)*");

        var extra = good.ToDictionary(kv => kv.Key, kv => kv.Value);
        extra["other.v"] = new Tensor<double>(4);
        act = () => opt.ImportState<double>([p], extra);
        act.Should().Throw<ArgumentException>().WithMessage("*\"other.v\" matches no listed parameter*");

        var fractional = good.ToDictionary(kv => kv.Key, kv => kv.Key == "t" ? Tensor.FromArray([2.5]) : kv.Value);
        act = () => opt.ImportState<double>([p], fractional);
        act.Should().Throw<ArgumentException>().WithMessage("*non-negative integer*received 2.5*");

        // t = 2^63 saturated to long.MaxValue, and the next step's t overflowed into the update kernel.
        var huge = good.ToDictionary(kv => kv.Key, kv => kv.Key == "t" ? Tensor.FromArray([Math.Pow(2, 63)]) : kv.Value);
        act = () => opt.ImportState<double>([p], huge);
        act.Should().Throw<ArgumentException>().WithMessage("*≤ 2^53; received 9.2*e+18*");

        opt.StepCount.Should().Be(1);
        opt.HasState(p).Should().BeTrue();
    }

    [Theory]
    [InlineData("rmsprop", "w.s", -0.5, "*\"w.s\" holds -0.5 at index 2; s, an average of squared gradients, must be ≥ 0*")]
    [InlineData("adam", "w.s", -0.5, "*\"w.s\" holds -0.5 at index 2; s, an average of squared gradients, must be ≥ 0*")]
    [InlineData("adam", "w.s", double.NaN, "*\"w.s\" holds NaN at index 2; optimizer state must be finite*")]
    [InlineData("adam", "w.v", double.PositiveInfinity, "*\"w.v\" holds Infinity at index 2; optimizer state must be finite*")]
    [InlineData("momentum", "w.v", double.NaN, "*\"w.v\" holds NaN at index 2; optimizer state must be finite*")]
    public void Import_refuses_non_finite_state_and_negative_squares_as_a_checkpoint_does(string name, string key, double value, string message)
    {
        // These used to be imported: the next step's √s (or v) made every weight NaN, reported as a diverged run.
        var opt = Create(name);
        var p = MakeParameter<double>("w", 4, 1);
        SetGradient(p, 0, 1);
        opt.Step([p]);
        var good = opt.ExportState<double>([p]);
        var bad = good.ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        bad[key].Span[2] = value;
        var before = opt.ExportState<double>([p]);

        opt.Invoking(o => o.ImportState<double>([p], bad)).Should().Throw<ArgumentException>().WithParameterName("state").WithMessage(message);
        opt.ExportState<double>([p])[key].Should().Be(before[key], "a refused import changes nothing");

        // v may be negative (an average of gradients), and s = 0 is a valid average of zero gradients.
        var fine = good.ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        foreach (var (k, t) in fine.Where(kv => kv.Key != "t"))
        {
            t.Span[2] = k.EndsWith(".s", StringComparison.Ordinal) ? 0 : -0.5;
        }

        opt.ImportState<double>([p], fine);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void A_warm_step_allocates_nothing(string name)
    {
        var opt = Create(name);
        var ps = new List<Parameter<float>> { MakeParameter<float>("w1", 1000, 1), MakeParameter<float>("b1", 17, 2), MakeParameter<float>("w2", 170, 3) };
        IReadOnlyList<Parameter<float>> list = ps;
        foreach (var p in ps)
        {
            SetGradient(p, 0, 1);
        }

        for (int i = 0; i < 5; i++)
        {
            opt.Step(list);
        }

        // The smallest of a few measured rounds (the runtime can allocate on this thread for a tier-up in any one).
        long allocated = long.MaxValue;
        for (int round = 0; round < 4 && allocated > 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 50; i++)
            {
                opt.Step(list);
            }

            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        allocated.Should().Be(0);
    }

    [Fact]
    public void Constructors_validate_and_echo_the_value()
    {
        Action act = () => _ = new GradientDescent(0);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("learningRate must be positive and finite; received 0*");
        act = () => _ = new Momentum(0.1, beta: 1);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("beta must be in [0, 1); received 1*");
        act = () => _ = new RmsProp(0.1, epsilon: -1e-8);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("epsilon must be positive and finite; received -1e-08*");
        act = () => _ = new Adam(beta2: -0.1);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("beta2 must be in [0, 1); received -0.1*");
        act = () => _ = new Adam(learningRate: double.NaN);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*received NaN*");
        act = () => new Adam().LearningRate = double.PositiveInfinity;
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*received Infinity*");
    }

    public static TheoryData<string, string, string> RoundedInFloat => new()
    {
        { "momentum", "beta", "beta 0.99999999 rounds to 1 in Single, so 1 − beta is 0; beta must stay below 1 in the model's element type (at most 0.99999994 in Single)*" },
        { "momentum-bc", "beta", "beta 0.99999999 rounds to 1 in Single*" },
        { "rmsprop-beta", "beta", "beta 0.99999999 rounds to 1 in Single*" },
        { "rmsprop-epsilon", "epsilon", "epsilon 1e-50 rounds to 0 in Single, so it no longer keeps the division finite; use an epsilon a Single can hold (at least 1e-45)*" },
        { "adam-beta1", "beta1", "beta1 0.99999999 rounds to 1 in Single*" },
        { "adam-beta2", "beta2", "beta2 0.99999999 rounds to 1 in Single*" },
        { "adam-epsilon", "epsilon", "epsilon 1e-50 rounds to 0 in Single*" },
    };

    [Theory]
    [MemberData(nameof(RoundedInFloat))]
    public void A_hyperparameter_valid_as_a_double_but_broken_in_float_is_refused_before_the_step_changes_anything(string name, string parameter, string message)
    {
        Optimizer Make() => name switch
        {
            "momentum" => new Momentum(0.05, beta: 0.99999999),
            "momentum-bc" => new Momentum(0.05, beta: 0.99999999, biasCorrection: true),
            "rmsprop-beta" => new RmsProp(0.01, beta: 0.99999999),
            "rmsprop-epsilon" => new RmsProp(0.01, epsilon: 1e-50),
            "adam-beta1" => new Adam(0.01, beta1: 0.99999999),
            "adam-beta2" => new Adam(0.01, beta2: 0.99999999),
            _ => new Adam(0.01, epsilon: 1e-50),
        };

        var opt = Make();
        var p = MakeParameter<float>("w", 40, 1);
        var before = p.Value.Clone();
        SetGradient(p, 0, 1);
        opt.Invoking(o => o.Step([p])).Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == parameter).WithMessage(message);
        p.Value.Should().Be(before);
        opt.StepCount.Should().Be(0);
        opt.HasState(p).Should().BeFalse();

        // In double the same value is fine, and the update moves the weights.
        var d = MakeParameter<double>("w", 40, 1);
        var dBefore = d.Value.Clone();
        SetGradient(d, 0, 1);
        Make().Step([d]);
        d.Value.Should().NotBe(dBefore);
    }

    [Fact]
    public void The_span_rules_refuse_a_beta_of_one_for_bias_correction()
    {
        var w = new float[3];
        var g = new float[] { 1, 2, 3 };
        var (v, s) = (new float[3], new float[3]);
        Action act = () => Adam.Update<float>(w, g, v, s, 0.01f, 1f, 0.999f, 1e-8f, 1);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "beta1").WithMessage("beta1 must be in [0, 1) for bias correction*received 1 (Single)*");
        act = () => Adam.Update<float>(w, g, v, s, 0.01f, 0.9f, 1f, 1e-8f, 1);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "beta2");
        act = () => Momentum.Update<float>(w, g, v, 0.01f, 1f, biasCorrection: true, t: 3);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "beta");
        w.Should().Equal(0, 0, 0);
    }

    [Fact]
    public void Describe_names_the_rule_and_its_hyperparameters()
    {
        new Adam().Describe().Should().Be("Adam(α=0.001, β1=0.9, β2=0.999, ε=1e-08)");
        new RmsProp(0.01).ToString().Should().Be("RmsProp(α=0.01, β=0.9, ε=1e-08)");
        new Momentum(0.1).Describe().Should().Be("Momentum(α=0.1, β=0.9)");
        new Momentum(0.1, 0.8, biasCorrection: true).Describe().Should().Be("Momentum(α=0.1, β=0.8, bias correction)");
        new GradientDescent(0.5).Describe().Should().Be("GradientDescent(α=0.5)");
    }

    [Fact]
    public void A_changed_learning_rate_applies_from_the_next_step()
    {
        var opt = new GradientDescent(0.1);
        var p = new Parameter<double>("w", Tensor.FromArray([1.0]), true);
        p.Gradient.Span[0] = 1;
        opt.Step([p]);
        opt.LearningRate = 0.01;
        opt.Step([p]);
        p.Value[0].Should().BeApproximately(1 - 0.1 - 0.01, 1e-15);
    }

    internal static Optimizer Create(string name) => name switch
    {
        "gd" => new GradientDescent(0.05),
        "momentum" => new Momentum(0.05, 0.9),
        "momentum-bc" => new Momentum(0.05, 0.9, biasCorrection: true),
        "rmsprop" => new RmsProp(0.01, 0.9),
        "adam" => new Adam(0.01),
        "adamw" => new AdamW(0.01, weightDecay: 0.1),
        _ => throw new ArgumentException(name),
    };

    private static Parameter<T> MakeParameter<T>(string name, int n, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new RandomSource(seed);
        var values = new T[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = T.CreateChecked(rng.NextGaussian());
        }

        return new Parameter<T>(name, Tensor.FromArray(values), regularized: true);
    }

    // A gradient that depends on the current weights and the step, like a real cost's would.
    private static void SetGradient<T>(Parameter<T> p, int step, int salt)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var w = p.Value.ReadOnlySpan;
        var g = p.Gradient.Span;
        for (int i = 0; i < g.Length; i++)
        {
            double wi = double.CreateChecked(w[i]);
            g[i] = T.CreateChecked(wi + Math.Sin((step * 0.7) + (i * 0.3) + salt));
        }
    }
}
