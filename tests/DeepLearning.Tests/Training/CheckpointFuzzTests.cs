using System.Globalization;
using System.Text;
using Xunit.Abstractions;

namespace DeepLearning.Tests.Training;

/// <summary>
/// Seeded fuzzing of the checkpoint reader behind <see cref="TrainingOptions{T}.ResumeFrom"/>: a small real checkpoint
/// truncated at every length and with one byte changed at every offset must each resume (and train on) or fail with
/// <see cref="InvalidDataException"/>, and a failed resume leaves the model, its regularizer and shuffle stream, and the
/// optimizer as they were.
/// </summary>
public sealed class CheckpointFuzzTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-checkpoint-fuzz").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static DataSet<float> Data(int m, int seed)
    {
        var r = new RandomSource(seed);
        var x = new Tensor<float>(m, 4);
        var labels = new int[m];
        for (int i = 0; i < m; i++)
        {
            labels[i] = r.NextInt(3);
            for (int j = 0; j < 4; j++)
            {
                x[i, j] = (float)(r.NextGaussian() + (j % 3 == labels[i] ? 1.5 : 0));
            }
        }

        return DataSet.FromLabels(x, labels, 3);
    }

    private static Model<float> NewModel(int seed) =>
        Model.Sequential<float>(4).Dense(5).BatchNorm().ReLU().Dropout(0.8).Dense(3).Softmax().Build(seed: seed);

    private static TrainingOptions<float> Options(Optimizer optimizer, int epochs) => new()
    {
        Optimizer = optimizer,
        Decay = LearningRateDecay.InverseTime(0.5),
        Epochs = epochs,
        BatchSize = 8,
        Validation = Data(9, seed: 2),
        Callbacks = { new EarlyStopping(patience: 3), new ReduceLearningRateOnPlateau(factor: 0.5, patience: 1, cooldown: 1) },
    };

    private byte[] GoodCheckpoint()
    {
        string path = Path.Combine(_dir, "good.ckpt");
        var options = Options(new Adam(0.01), epochs: 2);
        options.Regularization = Regularization.L2(0.01);
        options.Checkpoint = new CheckpointOptions(path);
        NewModel(seed: 1).Fit(Data(24, seed: 1), options);
        return File.ReadAllBytes(path);
    }

    /// <summary>Resumes from <paramref name="bytes"/> and trains one more epoch; returns null or the problem.</summary>
    private string? Resume(byte[] bytes, out bool loaded)
    {
        string path = Path.Combine(_dir, "case.ckpt");
        File.WriteAllBytes(path, bytes);
        var model = NewModel(seed: 5);
        var l1 = Regularization.L1(0.001);
        model.Regularizer = l1;
        var optimizer = new Adam(0.01);
        var before = model.CaptureState();
        var options = Options(optimizer, epochs: 3);
        options.Regularization = Regularization.L2(0.01);
        options.Seed = 77;
        options.ResumeFrom = path;
        loaded = false;
        try
        {
            model.Fit(Data(24, seed: 1), options);
            loaded = true;
            return null;
        }
        catch (InvalidDataException)
        {
            if (!model.CaptureState().Tensors.Zip(before.Tensors).All(p => p.First.Equals(p.Second)))
            {
                return "refused, but the model's weights changed";
            }

            if (optimizer.StepCount != 0 || optimizer.LearningRate != 0.01)
            {
                return $"refused, but the optimizer changed (t = {optimizer.StepCount}, α = {optimizer.LearningRate})";
            }

            if (!ReferenceEquals(model.Regularizer, l1))
            {
                return $"refused, but the model's regularizer changed to {model.Regularizer}";
            }

            if (model.Shuffles is not null)
            {
                return "refused, but the model's shuffle stream changed";
            }

            return null;
        }
        catch (TrainingDivergedException)
        {
            // A finite but absurd state (e.g. a huge v) may diverge; the trainer reports it cleanly.
            loaded = true;
            return null;
        }
        catch (Exception e)
        {
            return $"{e.GetType().Name}: {e.Message}";
        }
    }

    [Fact]
    public void A_checkpoint_truncated_at_every_length_resumes_or_is_refused_leaving_everything_unchanged()
    {
        byte[] good = GoodCheckpoint();
        Resume(good, out bool ok).Should().BeNull();
        ok.Should().BeTrue();
        var failures = new List<string>();
        int step = Math.Max(1, good.Length / 1500);
        for (int length = 0; length < good.Length; length += length < 64 || length > good.Length - 64 ? 1 : step)
        {
            if (Resume(good[..length], out bool loaded) is { } problem)
            {
                failures.Add($"truncated to {length}: {problem}");
            }

            loaded.Should().BeFalse($"a checkpoint truncated to {length} of {good.Length} bytes is incomplete");
        }

        failures.Should().BeEmpty();
    }

    [Fact]
    public void A_checkpoint_with_one_byte_changed_at_any_offset_resumes_or_is_refused_leaving_everything_unchanged()
    {
        byte[] good = GoodCheckpoint();
        var random = new Random(17);
        byte[] replacements = Encoding.ASCII.GetBytes("0019-\"{}[],:.eE nNx");
        var failures = new List<string>();
        int loaded = 0;
        int total = 0;
        for (int offset = 0; offset < good.Length; offset++)
        {
            byte[] bytes = (byte[])good.Clone();
            byte value = random.Next(3) == 0 ? (byte)(bytes[offset] ^ (1 << random.Next(8))) : replacements[random.Next(replacements.Length)];
            if (value == bytes[offset])
            {
                continue;
            }

            bytes[offset] = value;
            total++;
            if (Resume(bytes, out bool ok) is { } problem)
            {
                failures.Add($"byte {offset} set to 0x{value:x2}: {problem}");
            }

            loaded += ok ? 1 : 0;
        }

        output.WriteLine($"{total} single-byte changes: {loaded} resumed, {total - loaded} refused");
        failures.Should().BeEmpty();
    }

    [Fact]
    public void An_optimizer_state_that_does_not_fit_is_refused_before_the_model_changes()
    {
        string path = Path.Combine(_dir, "good.ckpt");
        File.WriteAllBytes(path, GoodCheckpoint());
        var good = ModelFile.Read<float>(path);
        var tensors = good.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
        tensors["optimizer.0.weight.v"] = new Tensor<float>(4, 5);
        tensors["optimizer.0.weight.s"] = new Tensor<float>(4, 5);
        string bad = Path.Combine(_dir, "bad.ckpt");
        ModelFile.Write(bad, tensors.Select(kv => (kv.Key, kv.Value)).ToList(), good.Metadata);

        string? problem = Resume(File.ReadAllBytes(bad), out bool loaded);
        loaded.Should().BeFalse();
        problem.Should().BeNull();
    }

    /// <summary>The good checkpoint changed by <paramref name="mutate"/>, written with <see cref="ModelFile.Write{T}"/>.</summary>
    private byte[] Tampered(Action<Dictionary<string, Tensor<float>>, Dictionary<string, string>> mutate)
    {
        string path = Path.Combine(_dir, "good.ckpt");
        File.WriteAllBytes(path, GoodCheckpoint());
        var good = ModelFile.Read<float>(path);
        var tensors = good.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        var metadata = good.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        mutate(tensors, metadata);
        string bad = Path.Combine(_dir, "bad.ckpt");
        ModelFile.Write(bad, tensors.Select(kv => (kv.Key, kv.Value)).ToList(), metadata);
        return File.ReadAllBytes(bad);
    }

    private void ShouldBeRefused(byte[] bytes, string message)
    {
        string path = Path.Combine(_dir, "refused.ckpt");
        File.WriteAllBytes(path, bytes);
        var options = Options(new Adam(0.01), epochs: 3);
        options.ResumeFrom = path;
        NewModel(seed: 5).Invoking(m => m.Fit(Data(24, seed: 1), options)).Should().Throw<InvalidDataException>().WithMessage(message);
        Resume(bytes, out bool loaded).Should().BeNull();
        loaded.Should().BeFalse();
    }

    [Fact]
    public void A_step_count_whose_next_step_would_overflow_is_refused()
    {
        // Was accepted, then the next step's t wrapped to long.MinValue: ArgumentOutOfRangeException from the update, weights changed.
        ShouldBeRefused(Tampered((t, m) => m["optimizer_step"] = long.MaxValue.ToString(CultureInfo.InvariantCulture)), "*'optimizer_step' must be an integer in [0, 9007199254740992]*");
    }

    [Theory]
    [InlineData("learning_rate", "1e300")]
    [InlineData("learning_rate", "1e-300")]
    [InlineData("initial_learning_rate", "1e300")]
    [InlineData("initial_learning_rate", "1e-300")]
    public void A_learning_rate_the_models_element_type_cannot_hold_is_refused(string key, string value)
    {
        // Were accepted as doubles; the first epoch then refused the rate with ArgumentOutOfRangeException, after the
        // checkpoint's weights had been put into the model (learning_rate is overwritten by the decay, so only without it).
        string path = Path.Combine(_dir, "refused.ckpt");
        File.WriteAllBytes(path, Tampered((t, m) => m[key] = value));
        foreach (bool decay in new[] { true, false })
        {
            var model = NewModel(seed: 5);
            var before = model.CaptureState();
            var options = Options(new Adam(0.01), epochs: 3);
            options.Decay = decay ? options.Decay : null;
            options.ResumeFrom = path;
            model.Invoking(m => m.Fit(Data(24, seed: 1), options)).Should().Throw<InvalidDataException>()
                .WithMessage($"*'{key}' must be a positive finite number that Single can hold; received '{value}'*");
            model.CaptureState().Tensors.Zip(before.Tensors).Should().OnlyContain(p => p.First.Equals(p.Second));
        }
    }

    [Fact]
    public void A_negative_average_of_squared_gradients_is_refused_as_corrupt()
    {
        // Was accepted; √s was NaN on the first step and the run failed as TrainingDivergedException ("try a smaller
        // learning rate"), with the checkpoint's weights left in the model.
        ShouldBeRefused(Tampered((t, m) => t["optimizer.1.bias.s"].Span[2] = -0.5f), "*tensor 'optimizer.1.bias.s' holds -0.5 at index 2; s, an average of squared gradients, must be ≥ 0*");
    }

    private static DataSet<float> RegressionData(int seed, float offset)
    {
        var r = new RandomSource(seed);
        var x = new Tensor<float>(40, 3);
        var y = new Tensor<float>(40, 1);
        for (int i = 0; i < 40; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                x[i, j] = (float)((r.NextGaussian() * 10) + offset);
            }

            y[i, 0] = (x[i, 0] * 3) + 100;
        }

        return DataSet.FromTargets(x, y);
    }

    [Fact]
    public void A_regression_with_standardized_targets_resumes_and_another_models_transforms_are_refused()
    {
        // The checkpoint's target_transform.* tensors were taken for strays ("belongs to no layer of this model"), so a
        // model built with StandardizeTargets could not resume from its own checkpoint; and a checkpoint written with
        // another standardizer (or none) resumed, its weights then applied to differently scaled data.
        var data = RegressionData(seed: 3, offset: 50);
        var other = RegressionData(seed: 4, offset: 20);
        Model<float> New(DataSet<float> x, DataSet<float> y) => Model.Sequential<float>(3).Standardize(x).StandardizeTargets(y).Dense(4).ReLU().Dense(1).Build(seed: 2);
        string path = Path.Combine(_dir, "regression.ckpt");
        var uninterrupted = New(data, data);
        uninterrupted.Fit(data, new TrainingOptions<float> { Epochs = 3 });
        New(data, data).Fit(data, new TrainingOptions<float> { Epochs = 2, Checkpoint = new CheckpointOptions(path) });
        var resumed = New(data, data);
        resumed.Fit(data, new TrainingOptions<float> { Epochs = 3, ResumeFrom = path }).Count.Should().Be(3);
        resumed.Predict(data.X).Should().Be(uninterrupted.Predict(data.X));

        var cases = new (string Expected, Model<float> Model)[]
        {
            ("*its input transform (standardize) holds other values than this model's*", New(other, data)),
            ("*its target transform (standardize) holds other values than this model's*", New(data, other)),
            ("*whose input transform is standardize but this model's is none*", Model.Sequential<float>(3).StandardizeTargets(data).Dense(4).ReLU().Dense(1).Build(seed: 2)),
            ("*whose target transform is standardize but this model's is none*", Model.Sequential<float>(3).Standardize(data).Dense(4).ReLU().Dense(1).Build(seed: 2)),
        };
        foreach (var (expected, model) in cases)
        {
            var before = model.CaptureState();
            model.Invoking(m => m.Fit(data, new TrainingOptions<float> { Epochs = 3, ResumeFrom = path })).Should().Throw<InvalidDataException>().WithMessage(expected);
            model.CaptureState().Tensors.Zip(before.Tensors).Should().OnlyContain(p => p.First.Equals(p.Second));
        }
    }

    [Theory]
    [InlineData("1 2147483647 3ff0000000000000", "best epoch 1 and 2147483647 epochs waited*after epoch 2")]
    [InlineData("99 0 3ff0000000000000", "best epoch 99 and 0 epochs waited*after epoch 2")]
    public void An_early_stopping_state_beyond_the_epochs_run_is_refused(string state, string expected)
    {
        // Were accepted: a wait of 2^31 − 1 overflowed on the next epoch without improvement, so early stopping never fired.
        ShouldBeRefused(Tampered((t, m) => m["callback.0.state"] = state), $"*callback 0: the EarlyStopping state gives {expected}*");
    }
}
