
namespace DeepLearning.Tests.Data;

public class InputTransformTests
{
    // Training set: column 0 = 1, 3, 5 (μ = 3, σ² = 8/3); column 1 constant 2 (σ² = 0).
    private static readonly double[,] _trainX = { { 1, 2 }, { 3, 2 }, { 5, 2 } };

    [Fact]
    public void Standardizer_matches_the_course_formula_on_hand_computed_values()
    {
        var s = Standardizer.Fit(Tensor.FromArray(_trainX));
        s.Mean.ToArray().Should().Equal(3.0, 2.0);
        s.Variance[0].Should().BeApproximately(8.0 / 3, 1e-15);
        s.Variance[1].Should().Be(0);
        double d = Math.Sqrt(8.0 / 3);

        var train = s.Apply(Tensor.FromArray(_trainX));
        train[0, 0].Should().BeApproximately(-2 / d, 1e-12);
        train[2, 0].Should().BeApproximately(2 / d, 1e-12);
        train[1, 1].Should().Be(0, "a constant column is centred");

        // A dev row is transformed with the training statistics, not its own.
        var dev = s.Apply(Tensor.FromArray(new double[,] { { 7, 5 } }));
        dev[0, 0].Should().BeApproximately(4 / d, 1e-12);
        dev[0, 1].Should().Be(3, "the constant column is only shifted, not divided by √ε");
    }

    [Fact]
    public void Standardizer_uses_training_statistics_only()
    {
        var random = new RandomSource(4);
        var train = Tensor.RandomNormal<double>(random, [500, 3], mean: 10, standardDeviation: 2);
        var dev = Tensor.RandomNormal<double>(random, [200, 3], mean: 20, standardDeviation: 5);
        var s = Standardizer.Fit(train);
        var t = s.Apply(train);
        var dv = s.Apply(dev);
        for (int j = 0; j < 3; j++)
        {
            double mean = 0;
            double var = 0;
            double devMean = 0;
            for (int i = 0; i < 500; i++)
            {
                mean += t[i, j] / 500;
            }

            for (int i = 0; i < 500; i++)
            {
                var += (t[i, j] - mean) * (t[i, j] - mean) / 500;
            }

            for (int i = 0; i < 200; i++)
            {
                devMean += dv[i, j] / 200;
            }

            mean.Should().BeApproximately(0, 1e-12);
            var.Should().BeApproximately(1, 1e-12);

            // The dev set keeps its offset: its mean is (≈20 − μ_train)/σ_train ≈ 5, not 0.
            devMean.Should().BeGreaterThan(3);
            double expected = (dev[0, j] - s.Mean[j]) / Math.Sqrt(s.Variance[j]);
            dv[0, j].Should().BeApproximately(expected, 1e-12);
        }
    }

    [Fact]
    public void Standardizer_on_a_data_set_keeps_targets_and_labels_and_works_in_float()
    {
        var d = TestData.Numbered<float>(20, 4, 2);
        var s = Standardizer.Fit(d);
        var t = s.Apply(d);
        t.Y.Should().Be(d.Y);
        t.Labels.Should().Equal(d.Labels!);
        t.X.Should().NotBe(d.X);
        var copy = d.X.Clone();
        s.ApplyInPlace(copy);
        copy.Should().Be(t.X);
        FluentActions.Invoking(() => s.Apply(new Tensor<float>(2, 5))).Should().Throw<ArgumentException>().WithMessage("*n_x = 4*(2, 5)*");
    }

    [Fact]
    public void ApplyInPlace_does_not_allocate()
    {
        var x = Tensor.RandomNormal<float>(new RandomSource(1), [64, 30]);
        var s = Standardizer.Fit(x);
        var mm = MinMaxScaler.Fit(DataSet.FromTargets(x, new Tensor<float>(64, 1)));
        TestData.AllocatedBy(() => s.ApplyInPlace(x)).Should().Be(0);
        TestData.AllocatedBy(() => mm.ApplyInPlace(x)).Should().Be(0);
    }

    [Fact]
    public void ApplyInto_writes_Apply_bits_into_the_destination_leaves_x_alone_and_does_not_allocate()
    {
        var x = Tensor.RandomNormal<float>(new RandomSource(2), [37, 30]);
        var original = x.Clone();
        IInputTransform<float>[] transforms =
        [
            Standardizer.Fit(x),
            MinMaxScaler.Fit(DataSet.FromTargets(x, new Tensor<float>(37, 1))),
            new OnlyInPlace(Standardizer.Fit(x)), // the interface's default: copy, then ApplyInPlace
        ];
        foreach (var t in transforms)
        {
            var destination = new Tensor<float>(37, 30);
            t.ApplyInto(x, destination);
            destination.Should().Be(t.Apply(x), t.GetType().Name);
            x.Should().Be(original);
            if (t is not OnlyInPlace)
            {
                TestData.AllocatedBy(() => t.ApplyInto(x, destination)).Should().Be(0);
            }

            FluentActions.Invoking(() => t.ApplyInto(x, new Tensor<float>(36, 30))).Should().Throw<ArgumentException>().WithMessage("*destination has shape (36, 30)*(37, 30)*");
            FluentActions.Invoking(() => t.ApplyInto(new Tensor<float>(37, 29), destination)).Should().Throw<ArgumentException>().WithMessage("*n_x = 30*(37, 29)*");
        }
    }

    // A transform that implements only the required members, so ApplyInto takes the interface's default.
    [Fact]
    public void A_feature_whose_spread_is_too_small_for_float_maps_to_finite_values()
    {
        // Range 1e-39: (high − low)/range = 1e39 overflows float, and 0·∞ made the feature NaN for every row.
        var x = Tensor.FromRows(new[] { new[] { 0f, 1f }, new[] { 1e-39f, 3f }, new[] { 0f, 2f } });
        var minMax = MinMaxScaler<float>.Fit(x);
        var scaled = minMax.Apply(x);
        scaled.ReadOnlySpan.ToArray().Should().OnlyContain(v => float.IsFinite(v));
        scaled[0, 1].Should().Be(0f);
        scaled[1, 1].Should().Be(1f);

        var standardizer = Standardizer<float>.Fit(x);
        var standardized = standardizer.Apply(x);
        standardized.ReadOnlySpan.ToArray().Should().OnlyContain(v => float.IsFinite(v));
        standardizer.Invert(standardized).ReadOnlySpan.ToArray().Should().OnlyContain(v => float.IsFinite(v));
    }

    private sealed class OnlyInPlace(IInputTransform<float> inner) : IInputTransform<float>
    {
        public string Kind => inner.Kind;

        public int Features => inner.Features;

        public Tensor<float> Apply(Tensor<float> x) => inner.Apply(x);

        public void ApplyInPlace(Tensor<float> x) => inner.ApplyInPlace(x);

        public DataSet<float> Apply(DataSet<float> data) => inner.Apply(data);

        public IReadOnlyDictionary<string, Tensor<float>> ExportTensors() => inner.ExportTensors();
    }

    [Fact]
    public void MinMaxScaler_maps_the_training_range_onto_low_high()
    {
        var x = Tensor.FromArray(_trainX);
        var m = MinMaxScaler<double>.Fit(x, -1, 1);
        var t = m.Apply(x);
        t.ToArray2D().Should().BeEquivalentTo(new double[,] { { -1, -1 }, { 0, -1 }, { 1, -1 } });
        var dev = m.Apply(Tensor.FromArray(new double[,] { { 9, 2.5 } }));
        dev[0, 0].Should().Be(3, "(9 − 1)·2/4 − 1, not clipped");
        dev[0, 1].Should().Be(-0.5, "a constant column is shifted: −1 + (2.5 − 2)");
    }

    [Fact]
    public void Transforms_round_trip_through_export_and_restore()
    {
        var x = Tensor.RandomNormal<float>(new RandomSource(2), [50, 6], 3, 4);
        IInputTransform<float>[] transforms = [Standardizer.Fit(x, 1e-5), MinMaxScaler<float>.Fit(x, 0, 2)];
        foreach (var t in transforms)
        {
            var restored = InputTransforms.Restore(t.Kind, t.ExportTensors());
            restored.Kind.Should().Be(t.Kind);
            restored.Apply(x).Should().Be(t.Apply(x));
        }
    }

    [Fact]
    public void Restore_rejects_unknown_kinds_and_bad_tensors()
    {
        var ok = Standardizer.Fit(Tensor.FromArray(_trainX)).ExportTensors();
        FluentActions.Invoking(() => InputTransforms.Restore("whiten", ok)).Should().Throw<InvalidDataException>().WithMessage("*unknown*'whiten'*");

        var missing = new Dictionary<string, Tensor<double>>(ok);
        missing.Remove("variance");
        FluentActions.Invoking(() => InputTransforms.Restore("standardize", missing)).Should().Throw<InvalidDataException>().WithMessage("*'variance'*");

        var wrongShape = new Dictionary<string, Tensor<double>>(ok) { ["variance"] = new Tensor<double>(3) };
        FluentActions.Invoking(() => InputTransforms.Restore("standardize", wrongShape)).Should().Throw<InvalidDataException>().WithMessage("*'variance' must have shape (2)*(3)*");

        var negative = new Dictionary<string, Tensor<double>>(ok) { ["variance"] = Tensor.FromArray(new[] { 1.0, -1.0 }) };
        FluentActions.Invoking(() => InputTransforms.Restore("standardize", negative)).Should().Throw<InvalidDataException>().WithMessage("*feature 1*≥ 0*");

        var nan = new Dictionary<string, Tensor<double>>(ok) { ["mean"] = Tensor.FromArray(new[] { 1.0, double.NaN }) };
        FluentActions.Invoking(() => InputTransforms.Restore("standardize", nan)).Should().Throw<InvalidDataException>().WithMessage("*'mean'*finite*");

        var mm = MinMaxScaler<double>.Fit(Tensor.FromArray(_trainX)).ExportTensors();
        var badRange = new Dictionary<string, Tensor<double>>(mm) { ["range"] = Tensor.FromArray(new[] { 1.0, 1.0 }) };
        FluentActions.Invoking(() => InputTransforms.Restore("minmax", badRange)).Should().Throw<InvalidDataException>().WithMessage("*low < high*");
    }

    [Fact]
    public void A_float_variance_beyond_float_is_refused_naming_the_feature_rather_than_zeroing_it()
    {
        // Column 0 = ±1e30 in float: σ² = 1e60 became ∞ in float, the feature was scaled by 1/∞ to ±0 for every row,
        // and a model saved with this standardizer could not be loaded (variance ∞).
        var x = Tensor.FromArray(new float[,] { { -1e30f, 1 }, { 1e30f, 2 } });
        FluentActions.Invoking(() => Standardizer.Fit(x))
            .Should().Throw<InvalidDataException>().WithMessage("feature 0 has mean 0 and variance 1E+60 on the training set, which Single cannot hold (largest finite value 3.4028235E+38)*");

        // The same values in double are fine (σ = 1e30, x̂ = ±1).
        var standardized = Standardizer.Fit(x.ConvertTo<double>()).Apply(x.ConvertTo<double>());
        standardized[0, 0].Should().BeApproximately(-1, 1e-12);
        standardized[1, 0].Should().BeApproximately(1, 1e-12);

        // Finite double inputs whose statistics overflow double are not called non-finite inputs.
        FluentActions.Invoking(() => Standardizer.Fit(Tensor.FromArray(new double[,] { { 1e308 }, { 1.5e308 } })))
            .Should().Throw<InvalidDataException>().WithMessage("feature 0 has mean Infinity and variance *which Double cannot hold*");

        // NaN or ±∞ inputs are named by row and column.
        FluentActions.Invoking(() => Standardizer.Fit(Tensor.FromArray(new float[,] { { 1, 2 }, { 3, float.NaN } })))
            .Should().Throw<InvalidDataException>().WithMessage("X holds NaN at row 1, column 1; data must be finite");
    }

    [Fact]
    public void A_min_max_target_range_whose_width_T_cannot_hold_is_refused_rather_than_collapsing_every_feature()
    {
        // [−3e38, 3e38] in float: the scale 6e38/range overflowed, was taken for a constant column's, and the training
        // column [0, 1] came out as −3e38 for both rows. [1, 1 + 1e-10] rounds to one float: every scale was 0.
        var x = Tensor.FromArray(new float[,] { { 0 }, { 1 } });
        FluentActions.Invoking(() => MinMaxScaler<float>.Fit(x, -3e38, 3e38))
            .Should().Throw<ArgumentException>().WithMessage("*finite width high − low in Single; received low = -3E+38, high = 3E+38");
        FluentActions.Invoking(() => MinMaxScaler<float>.Fit(x, 1, 1 + 1e-10))
            .Should().Throw<ArgumentException>().WithMessage("*distinct values*Single*");

        // Double holds that width.
        var scaled = MinMaxScaler<double>.Fit(x.ConvertTo<double>(), -3e38, 3e38).Apply(x.ConvertTo<double>());
        scaled[0, 0].Should().Be(-3e38);
        scaled[1, 0].Should().BeApproximately(3e38, 1e24);
    }
}
