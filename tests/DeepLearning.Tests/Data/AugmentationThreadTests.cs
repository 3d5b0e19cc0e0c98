namespace DeepLearning.Tests.Data;

/// <summary>
/// One augmented source read on several threads: the transforms' scratch image was one array per instance, so
/// concurrent readers copied each other's images in; and Fit's epochs forked one shared stream by timing.
/// </summary>
public class AugmentationThreadTests
{
    private const int H = 16, W = 16, M = 512;

    // Image i is the constant i + 1; a shift fills with −1, a rotation by 0° copies through the scratch image exactly.
    private static DataSet<float> Constant()
    {
        var x = new Tensor<float>(M, H * W);
        for (int i = 0; i < M; i++)
        {
            x.Row(i).Fill(i + 1);
        }

        return DataSet.FromLabels(x, Enumerable.Range(0, M).Select(i => i % 2).ToArray(), 2);
    }

    [Fact]
    public void Readers_of_one_augmented_source_on_four_threads_never_mix_images()
    {
        var augmented = Constant().WithAugmentation(1, new RandomShift<float>(H, W, 3, fill: -1), new RandomRotation<float>(H, W, 0, fill: -1));
        int corrupted = 0, rows = 0;
        var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            var xb = new Tensor<float>(32, H * W);
            var yb = new Tensor<float>(32, 1);
            for (int epoch = 0; epoch < 20; epoch++)
            {
                using var reader = augmented.OpenEpoch(32, null);
                int n;
                while ((n = reader.Next(xb, yb)) > 0)
                {
                    Interlocked.Add(ref rows, n);
                    for (int i = 0; i < n; i++)
                    {
                        var row = xb.Row(i);
                        float own = row[((H / 2) * W) + (W / 2)]; // the centre survives a shift of at most 3
                        foreach (var v in row)
                        {
                            if (v != own && v != -1)
                            {
                                Interlocked.Increment(ref corrupted);
                                break;
                            }
                        }
                    }
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        rows.Should().Be(4 * 20 * M);
        corrupted.Should().Be(0, "was thousands: the transforms' one scratch image was shared by the four readers");
    }

    [Fact]
    public void A_second_Fit_on_an_augmented_source_in_use_is_refused_and_the_first_is_undisturbed()
    {
        var data = Constant();
        var augmented = data.WithAugmentation(7, new RandomShift<float>(H, W, 2));
        var sameStream = new RandomSource(9);
        var wrapped = data.WithAugmentation(sameStream, new HorizontalFlip<float>(H, W));
        var wrappedAgain = data.WithAugmentation(sameStream, new RandomShift<float>(H, W, 1));
        Exception? concurrent = null, shared = null, other = null;
        var first = Model.Sequential<float>(H * W).Dense(4).ReLU().Dense(1).Sigmoid().Build(1);
        first.RefuseStandardizedInput = false;
        var options = new TrainingOptions<float> { Epochs = 2, BatchSize = 64 };
        options.Callbacks.Add(new LambdaCallback((c, r) =>
        {
            if (r.Epoch != 1)
            {
                return;
            }

            concurrent = Record.Exception(() => Task.Run(() => Fresh().Fit(augmented, new TrainingOptions<float> { Epochs = 1 })).GetAwaiter().GetResult());
            other = Record.Exception(() => Task.Run(() => Fresh().Fit(data.WithAugmentation(7, new RandomShift<float>(H, W, 2)), new TrainingOptions<float> { Epochs = 1 })).GetAwaiter().GetResult());
        }));
        first.Fit(augmented, options).Count.Should().Be(2);

        concurrent.Should().BeOfType<InvalidOperationException>().Which.Message.Should()
            .StartWith("the training data's random stream (its augmentation's) is already in use by a Fit").And.Contain("WithAugmentation");
        other.Should().BeNull("a source wrapped for this run has a stream of its own");

        // Two wrappers of one RandomSource share its stream as much as one wrapper does.
        var holder = Fresh();
        var options2 = new TrainingOptions<float> { Epochs = 1 };
        options2.Callbacks.Add(new LambdaCallback((c, r) =>
            shared = Record.Exception(() => Task.Run(() => Fresh().Fit(wrappedAgain, new TrainingOptions<float> { Epochs = 1 })).GetAwaiter().GetResult())));
        holder.Fit(wrapped, options2);
        shared.Should().BeOfType<InvalidOperationException>();

        // Released when the Fit returns: one Fit after another may reuse the source.
        Fresh().Fit(augmented, new TrainingOptions<float> { Epochs = 1 }).Count.Should().Be(1);

        static Model<float> Fresh()
        {
            var model = Model.Sequential<float>(H * W).Dense(4).ReLU().Dense(1).Sigmoid().Build(2);
            model.RefuseStandardizedInput = false;
            return model;
        }
    }

    [Fact]
    public void Concurrent_readers_each_take_their_own_fork_of_the_stream()
    {
        // Forks taken under a lock: the four readers' streams are four distinct draws of the seed's stream, whatever
        // the order the threads open them in (a race on the shared state could give two readers one stream).
        var source = Constant().WithAugmentation(3, new RandomShift<float>(H, W, 3, fill: -1));
        var seen = new System.Collections.Concurrent.ConcurrentBag<string>();
        var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            var xb = new Tensor<float>(M, H * W);
            var yb = new Tensor<float>(M, 1);
            for (int k = 0; k < 16; k++)
            {
                using var reader = source.OpenEpoch(M, null);
                reader.Next(xb, yb);
                seen.Add(string.Concat(Enumerable.Range(0, M).Select(i => xb[i, 0] < 0 ? '1' : '0'))); // which rows shifted right or down
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        seen.Should().HaveCount(64);
        seen.Distinct().Should().HaveCount(64, "no two of the 64 epochs drew the same shifts");
    }
}
