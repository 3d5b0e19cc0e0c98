using System.Numerics;

namespace DeepLearning.Tests.Data;

public sealed class CustomInputTransformTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void An_unregistered_custom_transform_predicts_at_every_size_converts_and_is_refused_only_by_Save()
    {
        var (data, model) = Trained(new Log1p<float>(3, "log1p-unregistered"));
        var x = data.X;
        var reference = Reference(model, x);

        // Above 4,096 rows Predict goes through a Predictor; it used to rebuild the transform by kind and throw.
        model.Predict(x).ToArray().Should().Equal(reference);
        model.Predict(x.Rows(0, 4096)).ToArray().Should().Equal(reference[..(4096 * 1)]);
        var predictor = model.CreatePredictor();
        var destination = new float[x.RowCount];
        predictor.Predict(x.ReadOnlySpan, destination);
        destination.Should().Equal(reference);

        // A double copy wraps the live transform (inputs converted to float and back), so gradient checking runs.
        var copy = model.ConvertTo<double>();
        copy.InputTransform!.Kind.Should().Be("log1p-unregistered");
        var inDouble = copy.Predict(x.Rows(0, 10).ConvertTo<double>()).ToArray();
        for (int i = 0; i < 10; i++)
        {
            inDouble[i].Should().BeApproximately(reference[i], 1e-5, "the network runs in double after the float transform");
        }

        copy.ConvertTo<float>().InputTransform.Should().BeSameAs(model.InputTransform);
        GradientChecker.Check(model, x.Rows(0, 8), data.Y.Rows(0, 8)).Difference.Should().BeLessThan(1e-6);

        // What Load would refuse is never written: Save and the checkpoint refuse it, naming the fix, and leave no file.
        string path = _dir.File("custom.safetensors");
        FluentActions.Invoking(() => model.Save(path)).Should().Throw<InvalidOperationException>()
            .WithMessage("the model cannot be saved: its input transform is of kind 'log1p-unregistered'*InputTransforms.Register*nothing was written*");
        File.Exists(path).Should().BeFalse();
        string checkpoint = _dir.File("run.ckpt");
        FluentActions.Invoking(() => model.Fit(data, new TrainingOptions<float> { Epochs = 1, Checkpoint = new CheckpointOptions(checkpoint) }))
            .Should().Throw<InvalidOperationException>().WithMessage("*log1p-unregistered*InputTransforms.Register*");
        File.Exists(checkpoint).Should().BeFalse();
    }

    [Fact]
    public void A_registered_custom_transform_saves_loads_snapshots_and_converts()
    {
        InputTransforms.Register("log1p-registered", new Log1pFactory("log1p-registered"));
        InputTransforms.IsRegistered("log1p-registered").Should().BeTrue();
        var (data, model) = Trained(new Log1p<float>(3, "log1p-registered"));
        var reference = Reference(model, data.X);

        string path = _dir.File("registered.safetensors");
        model.Save(path);
        var loaded = Model.Load<float>(path);
        loaded.InputTransform.Should().BeOfType<Log1p<float>>().Which.Kind.Should().Be("log1p-registered");
        loaded.Predict(data.X).ToArray().Should().Equal(reference);

        // The predictor holds a rebuilt copy, not the live object; the double copy a rebuilt double transform.
        var destination = new float[data.X.RowCount];
        model.CreatePredictor().Predict(data.X.ReadOnlySpan, destination);
        destination.Should().Equal(reference);
        model.ConvertTo<double>().InputTransform.Should().BeOfType<Log1p<double>>();

        // Built-in kinds cannot be taken over.
        FluentActions.Invoking(() => InputTransforms.Register("standardize", new Log1pFactory("standardize"))).Should().Throw<ArgumentException>()
            .WithMessage("'standardize' is a built-in input transform kind*");
        FluentActions.Invoking(() => InputTransforms.Restore<float>("no-such-kind", new Dictionary<string, Tensor<float>>())).Should().Throw<InvalidDataException>()
            .WithMessage("unknown input transform kind 'no-such-kind'*InputTransforms.Register*");
    }

    private static (DataSet<float> Data, Model<float> Model) Trained(IInputTransform<float> transform)
    {
        var random = new Random(4);
        int m = 5000;
        var x = new Tensor<float>(m, 3);
        var y = new Tensor<float>(m, 1);
        for (int i = 0; i < m; i++)
        {
            float sum = 0;
            for (int j = 0; j < 3; j++)
            {
                x[i, j] = (float)(random.NextDouble() * 10);
                sum += x[i, j];
            }

            y[i, 0] = MathF.Log(1 + sum);
        }

        var data = new DataSet<float>(x, y);
        var model = Model.Sequential<float>(3).InputTransform(transform).Dense(8).Tanh().Dense(1).Build(seed: 1);
        model.Fit(data, new TrainingOptions<float> { Epochs = 1 });
        return (data, model);
    }

    private static float[] Reference(Model<float> model, Tensor<float> x)
    {
        // Predict in chunks below the predictor's threshold: the direct path, which always used the live transform.
        var result = new List<float>();
        for (int start = 0; start < x.RowCount; start += 1000)
        {
            result.AddRange(model.Predict(x.Rows(start, Math.Min(1000, x.RowCount - start))).ToArray());
        }

        return [.. result];
    }

    private sealed class Log1pFactory(string kind) : IInputTransformFactory
    {
        public IInputTransform<T> Restore<T>(IReadOnlyDictionary<string, Tensor<T>> tensors)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            if (!tensors.TryGetValue("features", out var f) || f.Length != 1)
            {
                throw new InvalidDataException("log1p needs a 'features' tensor of length 1");
            }

            return new Log1p<T>(int.CreateChecked(f[0]), kind);
        }
    }

    private sealed class Log1p<T>(int features, string kind) : IInputTransform<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public string Kind => kind;

        public int Features => features;

        public Tensor<T> Apply(Tensor<T> x)
        {
            var copy = x.Clone();
            ApplyInPlace(copy);
            return copy;
        }

        public void ApplyInPlace(Tensor<T> x)
        {
            var s = x.Span;
            for (int i = 0; i < s.Length; i++)
            {
                s[i] = T.LogP1(s[i]);
            }
        }

        public DataSet<T> Apply(DataSet<T> data) => new(Apply(data.X), data.Y.Clone());

        public IReadOnlyDictionary<string, Tensor<T>> ExportTensors() =>
            new Dictionary<string, Tensor<T>> { ["features"] = Tensor.FromArray(new[] { T.CreateChecked(features) }) };
    }
}
