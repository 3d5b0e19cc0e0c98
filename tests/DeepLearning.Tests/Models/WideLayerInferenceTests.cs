namespace DeepLearning.Tests.Models;

/// <summary>
/// rows × width of the inference buffers was an int: 240 rows of a 9,000,000-unit layer (2.16e9 values) overflowed, and
/// Predict, Evaluate and a Predictor refused calls whose memory was there. The chunk of rows now shrinks to fit.
/// </summary>
public class WideLayerInferenceTests
{
    [Fact]
    public void Predict_Evaluate_and_a_Predictor_run_240_rows_through_a_layer_of_9_million_units()
    {
        var model = Model.Sequential<float>(2).Dense(9_000_000).ReLU().Dense(1).Build(1);
        model.RefuseStandardizedInput = false;
        // 240 rows: 2.16e9 activations, just past int.MaxValue, in one chunk of each path before the fix.
        var x = Tensor.RandomNormal<float>(new RandomSource(4), [240, 2]);
        var y = Tensor.RandomNormal<float>(new RandomSource(5), [240, 1]);

        var p = model.Predict(x); // was ArgumentOutOfRangeException "a (300, 9000000) view does not fit in a tensor of 1 elements"
        p.Shape.Should().Equal(240, 1);
        FiniteCheck.FirstNonFinite(p.ReadOnlySpan).Should().Be(-1);

        var destination = new float[240];
        model.CreatePredictor().Predict(x.ReadOnlySpan, destination); // was "Specified argument was out of the range of valid values"
        destination.Should().Equal(p.ToArray());

        var e = model.Evaluate(x, y); // was the ArgumentOutOfRangeException of Predict
        double mse = 0;
        for (int i = 0; i < 240; i++)
        {
            double d = p[i, 0] - y[i, 0];
            mse += d * d / 240;
        }

        e.Count.Should().Be(240);
        e.MeanSquaredError!.Value.Should().BeApproximately(mse, 1e-6 * Math.Max(1, mse));
    }

    [Theory]
    [InlineData(4096, 784, 4096)]
    [InlineData(256, 65_536, 256)]
    [InlineData(4096, 16_384, 4096)]
    [InlineData(4096, 100_000, 671)]
    [InlineData(256, 262_144, 256)]
    [InlineData(256, 1_000_000, 67)]
    [InlineData(4096, 9_000_000, 7)]
    [InlineData(1024, int.MaxValue - 64 - 64, 1)]
    public void The_chunk_of_rows_shrinks_only_for_layers_too_wide_for_it(int preferred, int width, int rows)
    {
        Model<float>.ChunkRows(preferred, width).Should().Be(rows);
        ((long)rows * width).Should().BeLessThanOrEqualTo(Math.Max(Model<float>.InferenceChunkElements, width));
    }

    [Fact]
    public void A_layer_whose_single_row_exceeds_a_tensor_is_refused_naming_its_width()
    {
        FluentActions.Invoking(() => Model<float>.ChunkRows(256, Tensor.MaxLength + 1))
            .Should().Throw<InvalidOperationException>().WithMessage($"a layer of {Tensor.MaxLength + 1} units is too wide for inference: one row of its activations is more than the {Tensor.MaxLength} values a tensor holds");
    }
}
