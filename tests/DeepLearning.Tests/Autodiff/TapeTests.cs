namespace DeepLearning.Tests.Autodiff;

/// <summary>The course's J(w) example, PyTorch-style accumulation and zeroing, memory reuse, and errors for bad use.</summary>
public class TapeTests
{
    [Fact]
    public void The_gradient_of_J_at_w_0_is_minus_10_and_accumulates_until_zeroed()
    {
        // J(w) = w² − 10w + 25, dJ/dw = 2w − 10: −10 at w = 0 (by hand); J(0) = 25.
        var tape = new Tape<double>();
        var w = tape.Variable(0.0);
        var j = (w * w) - (10 * w) + 25;
        j.Item.Should().Be(25);
        j.Backward();
        w.Grad![0].Should().Be(-10);

        // A new graph, no zeroing: PyTorch adds to .grad.
        var j2 = (w * w) - (10 * w) + 25;
        j2.Backward();
        w.Grad![0].Should().Be(-20);

        tape.ZeroGrad();
        w.Grad![0].Should().Be(0);
        var j3 = (w * w) - (10 * w) + 25;
        j3.Backward(null, retainGraph: true);
        j3.Backward();
        w.Grad![0].Should().Be(-20, "a retained graph may be run backward again, and the leaf accumulates both passes");
    }

    [Fact]
    public void A_variable_recorded_after_the_root_shows_no_gradient_from_an_earlier_pass()
    {
        var tape = new Tape<double>();
        var x = tape.Constant(Tensor.FromArray(new[] { 1.0, 2.0, 3.0 }), requiresGrad: true);
        var y1 = x.Sum();
        var m = x * 3.0;
        var y2 = m.Sum();
        y2.Backward(null, retainGraph: true);
        m.Grad!.ReadOnlySpan.ToArray().Should().Equal(1, 1, 1);
        y1.Backward(null, retainGraph: true);
        m.Grad.Should().BeNull("y1's pass does not reach m; it showed y2's gradient");
        x.Grad!.ReadOnlySpan.ToArray().Should().Equal(1, 1, 1);
    }

    [Fact]
    public void Gradient_descent_on_J_reaches_w_equals_5()
    {
        var tape = new Tape<double>();
        var w = tape.Variable(0.0, "w");
        var optimizer = new GradientDescent(learningRate: 0.1);
        for (int step = 0; step < 200; step++)
        {
            var j = (w * w) - (10 * w) + 25;
            tape.ZeroGrad();
            j.Backward();
            optimizer.Step(tape.Parameters);
        }

        w.Value[0].Should().BeApproximately(5, 1e-4);
    }

    [Fact]
    public void Adam_on_J_reaches_w_equals_5()
    {
        var tape = new Tape<double>();
        var w = tape.Variable(0.0, "w");
        var optimizer = new Adam(learningRate: 0.1);
        for (int step = 0; step < 1000; step++)
        {
            var j = (w * w) - (10 * w) + 25;
            tape.ZeroGrad();
            j.Backward();
            optimizer.Step([w.Parameter!]);
        }

        w.Value[0].Should().BeApproximately(5, 1e-4);
    }

    [Fact]
    public void Float_tapes_work_too()
    {
        var tape = new Tape<float>();
        var w = tape.Variable(Tensor.FromArray(new float[] { 1, -2, 3 }, 1, 3));
        var x = tape.Constant(Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3));
        var j = (x * w).Sum(1).Pow(2f).Mean();

        // rows: x·w = 1 − 4 + 9 = 6 and 4 − 10 + 18 = 12; J = (36 + 144)/2 = 90; dJ/dw = Σᵢ (xᵢ·w)·xᵢ = 6·(1,2,3) + 12·(4,5,6).
        j.Item.Should().Be(90f);
        j.Backward();
        w.Grad!.ToArray().Should().Equal(54f, 72f, 90f);
    }

    [Fact]
    public void Softmax_and_log_softmax_are_stable_for_large_inputs()
    {
        var tape = new Tape<double>();
        var z = tape.Variable(Tensor.FromArray(new double[] { 1000, 0, -1000, 1000, 1000, 1000 }, 2, 3));
        var p = z.Softmax();
        var logp = z.LogSoftmax();
        p.Value.ToArray().Should().Equal(1, 0, 0, 1 / 3.0, 1 / 3.0, 1 / 3.0);
        logp.Value[0, 0].Should().Be(0);
        logp.Value[0, 1].Should().Be(-1000);
        logp.Value[1, 2].Should().BeApproximately(-Math.Log(3), 1e-15);
        var j = logp.Sum();
        j.Backward();
        z.Grad!.ToArray().All(double.IsFinite).Should().BeTrue();
    }

    [Fact]
    public void A_warm_step_of_a_fixed_graph_allocates_nothing()
    {
        var random = new RandomSource(5);
        var tape = new Tape<double>();
        var w1 = tape.Variable(Tensor.RandomNormal<double>(random, [16, 8]));
        var b1 = tape.Variable(Tensor.RandomNormal<double>(random, [16]), "b1", regularized: false);
        var w2 = tape.Variable(Tensor.RandomNormal<double>(random, [4, 16]));
        var x = Tensor.RandomNormal<double>(random, [32, 8]);
        var y = Tensor.RandomNormal<double>(random, [32, 4]);
        var optimizer = new Adam(0.01);

        void Step()
        {
            var xv = tape.Constant(x);
            var h = (xv.MatMul(w1, transposeB: true) + b1).LeakyReLU(0.1);
            var z = h.MatMul(w2, transposeB: true).LogSoftmax();
            var j = -(tape.Constant(y) * z).Sum(1).Mean() + (0.01 * (w1 * w1).Sum()) + z.Rows(0, 4).Exp().Clip(0, 1).Sqrt().Mean();
            tape.ZeroGrad();
            j.Backward();
            optimizer.Step(tape.Parameters);
        }

        Step();
        Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            Step();
        }

        long perStep = (GC.GetAllocatedBytesForCurrentThread() - before) / 10;
        perStep.Should().Be(0);
        tape.Count.Should().BeLessThan(40, "each step starts a new graph instead of growing the tape");
    }

    [Fact]
    public void A_shape_mismatch_names_the_operation_and_both_shapes()
    {
        var tape = new Tape<double>();
        var a = tape.Variable(new Tensor<double>(3, 4));
        var b = tape.Variable(new Tensor<double>(2, 4));
        var c = tape.Variable(new Tensor<double>(5, 2));
        FluentActions.Invoking(() => a + b).Should().Throw<ArgumentException>().WithMessage("Add: shapes (3, 4) and (2, 4) do not broadcast*");
        FluentActions.Invoking(() => a * c).Should().Throw<ArgumentException>().WithMessage("Multiply: shapes (3, 4) and (5, 2)*");
        FluentActions.Invoking(() => a.MatMul(c)).Should().Throw<ArgumentException>().WithMessage("MatMul: shapes (3, 4) and (5, 2) do not chain*");
        FluentActions.Invoking(() => a.Sum(2)).Should().Throw<ArgumentException>().WithMessage("Sum(axis: 2)*(3, 4)*");
        FluentActions.Invoking(() => a.Rows(2, 2)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*rows [2, 4)*(3, 4)*");
        FluentActions.Invoking(() => a.Clip(1.0, 0.0)).Should().Throw<ArgumentException>().WithMessage("*lo ≤ hi*");
        FluentActions.Invoking(() => a.LeakyReLU(1.5)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*slope*1.5*");
    }

    [Fact]
    public void Backward_twice_without_retaining_the_graph_is_an_error()
    {
        var tape = new Tape<double>();
        var w = tape.Variable(2.0);
        var j = (w * w).Sum();
        j.Backward();
        FluentActions.Invoking(() => j.Backward()).Should().Throw<InvalidOperationException>().WithMessage("*already called*retainGraph: true*");
    }

    [Fact]
    public void A_non_scalar_root_needs_a_seed_of_its_shape()
    {
        var tape = new Tape<double>();
        var w = tape.Variable(new Tensor<double>(2, 3));
        var y = w.Exp();
        FluentActions.Invoking(() => y.Backward()).Should().Throw<InvalidOperationException>().WithMessage("*scalar root*(2, 3)*seed*");
        FluentActions.Invoking(() => y.Backward(new Tensor<double>(3, 2))).Should().Throw<ArgumentException>().WithMessage("*seed*(3, 2)*(2, 3)*");
        y.Backward(Tensor.Full(1.0, 2, 3));
        w.Grad!.ToArray().Should().AllBeEquivalentTo(1.0);
    }

    [Fact]
    public void Stale_variables_default_variables_mixed_tapes_and_constant_roots_are_errors()
    {
        var tape = new Tape<double>();
        var w = tape.Variable(1.0);
        var j = w * 3.0;
        j.Backward();
        var fresh = w * 2.0; // starts a new graph: j is now stale
        FluentActions.Invoking(() => j * 2.0).Should().Throw<InvalidOperationException>().WithMessage("*earlier graph*");
        FluentActions.Invoking(() => j.Value).Should().Throw<InvalidOperationException>().WithMessage("*earlier graph*");
        fresh.Item.Should().Be(2);

        tape.Reset();
        FluentActions.Invoking(() => fresh + w).Should().Throw<InvalidOperationException>().WithMessage("*earlier graph*");

        FluentActions.Invoking(() => default(Variable<double>).Exp()).Should().Throw<InvalidOperationException>().WithMessage("*default*");

        var other = new Tape<double>().Variable(1.0);
        FluentActions.Invoking(() => w + other).Should().Throw<InvalidOperationException>().WithMessage("*different tapes*");

        var constant = tape.Constant(Tensor.FromArray(new[] { 1.0 })).Exp();
        FluentActions.Invoking(() => constant.Backward()).Should().Throw<InvalidOperationException>().WithMessage("*does not depend on any variable that requires a gradient*");
    }

    [Fact]
    public void The_mean_of_no_elements_is_NaN_as_in_PyTorch_and_its_gradient_is_empty()
    {
        // torch.empty(0, 3).mean() is nan and .mean(0) is [nan, nan, nan]; the tape gave 0 and [0, 0, 0].
        var tape = new Tape<double>();
        var empty = tape.Variable(new Tensor<double>(0, 3));
        var all = empty.Mean();
        double.IsNaN(all.Item).Should().BeTrue();
        var columns = empty.Mean(0);
        columns.Value.ShapeText.Should().Be("(1, 3)");
        columns.Value.ToArray().Should().OnlyContain(v => double.IsNaN(v));
        empty.Mean(1).Value.ShapeText.Should().Be("(0, 1)", "a mean over each of no rows is no values");

        var noColumns = tape.Variable(new Tensor<double>(2, 0));
        noColumns.Mean(1).Value.ToArray().Should().HaveCount(2).And.OnlyContain(v => double.IsNaN(v));
        noColumns.Mean(0).Value.ShapeText.Should().Be("(1, 0)");

        // Sum stays 0, the empty sum; and the backward passes run, leaving the empty inputs' empty gradients.
        empty.Sum().Item.Should().Be(0);
        all.Backward();
        empty.Grad!.ShapeText.Should().Be("(0, 3)");

        var tape2 = new Tape<double>();
        var rows = tape2.Variable(new Tensor<double>(0, 3));
        rows.Mean(0).Sum().Backward();
        rows.Grad!.ShapeText.Should().Be("(0, 3)");

        var tape3 = new Tape<double>();
        var cols = tape3.Variable(new Tensor<double>(2, 0));
        cols.Mean(1).Sum().Backward();
        cols.Grad!.ShapeText.Should().Be("(2, 0)");

        // In float as well.
        var tapeF = new Tape<float>();
        float.IsNaN(tapeF.Variable(new Tensor<float>(0, 4)).Mean().Item).Should().BeTrue();
    }
}
