using DeepLearning.Kernels;

namespace DeepLearning.Tests.Training;

/// <summary>
/// Training gives the same bits on one thread and on two: every split the library makes (GEMM rows or column panels,
/// the optimizer update, the shuffled-row gather, the derivative inside the backward GEMM) computes each element with
/// the same operations in the same order whatever the thread count.
/// </summary>
public class ThreadCountTests
{
    [Theory]
    [InlineData("Adam")]
    [InlineData("Momentum")]
    [InlineData("RmsProp")]
    public void Training_on_two_threads_gives_the_same_bits_as_on_one(string optimizer)
    {
        // Sizes chosen so every split engages: GEMMs above 2 MFLOP, W₁ above 32K elements, batches of 64 wide rows.
        var random = new RandomSource(21);
        var x = Tensor.RandomUniform<float>(random, [640, 300]);
        var labels = Enumerable.Range(0, 640).Select(i => (i * 7) % 10).ToArray();
        var data = DataSet.FromLabels(x, labels, 10);
        var one = Train(1);
        var two = Train(2);
        var a = one.CaptureState().Tensors;
        var b = two.CaptureState().Tensors;
        a.Should().HaveCount(b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            b[i].ToArray().Select(BitConverter.SingleToInt32Bits).Should().Equal(a[i].ToArray().Select(BitConverter.SingleToInt32Bits), $"{optimizer}: tensor {i} must match bit for bit");
        }

        Model<float> Train(int threads)
        {
            var model = Model.Sequential<float>(300).Dense(256, Activation.ReLU).Dropout(0.9).Dense(128, Activation.Tanh).Dense(64, Activation.ReLU).Dense(10).Softmax().Build(seed: 3);
            Optimizer opt = optimizer switch
            {
                "Adam" => new Adam(0.001),
                "Momentum" => new Momentum(0.01),
                _ => new RmsProp(0.001),
            };
            Gemm.ThreadsOverride = threads;
            try
            {
                model.Fit(data, new TrainingOptions<float> { Optimizer = opt, Epochs = 2, BatchSize = 64, Seed = 5 });
            }
            finally
            {
                Gemm.ThreadsOverride = 0;
            }

            return model;
        }
    }
}
