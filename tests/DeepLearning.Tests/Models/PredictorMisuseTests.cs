namespace DeepLearning.Tests.Models;

/// <summary>
/// A <see cref="Predictor{T}"/> serves one call at a time: a second call while one runs (another thread, or re-entry
/// from a custom input transform) is refused with <see cref="InvalidOperationException"/>, never answered wrongly.
/// </summary>
public class PredictorMisuseTests
{
    [Fact]
    public void A_call_re_entering_a_running_predictor_is_refused_and_the_outer_call_is_unharmed()
    {
        var model = Model.Sequential<float>(4).Dense(8).ReLU().Dense(3).Softmax().Build(seed: 2);
        var transform = new Reentrant();
        model.InputTransform = transform;
        var predictor = model.CreatePredictor();
        var x = new float[] { 0.5f, -1, 2, 0.25f };
        var expected = model.Predict(Tensor.FromArray(x).Reshape(1, 4)).Span.ToArray();

        Exception? inner = null;
        transform.During = () =>
        {
            transform.During = null;
            inner = Record.Exception(() => predictor.Predict(x, new float[3]));
        };
        var y = new float[3];
        predictor.Predict(x, y);

        inner.Should().BeOfType<InvalidOperationException>().Which.Message.Should()
            .Contain("a Predictor is used by one thread at a time; create one per thread with model.CreatePredictor()");
        y.Should().Equal(expected, "the refused inner call touched nothing of the outer one");

        // Released afterwards: the next call runs.
        var again = new float[3];
        predictor.Predict(x, again);
        again.Should().Equal(expected);
    }

    [Fact]
    public void Two_threads_sharing_a_predictor_get_right_answers_or_an_exception_never_a_wrong_answer()
    {
        var model = Model.Sequential<float>(32).Dense(256).ReLU().Dense(256).ReLU().Dense(10).Softmax().Build(seed: 3);
        var predictor = model.CreatePredictor();
        var random = new RandomSource(7);
        var inputs = new float[2][];
        var expected = new float[2][];
        for (int t = 0; t < 2; t++)
        {
            inputs[t] = new float[4 * 32];
            random.FillNormal(inputs[t].AsSpan());
            expected[t] = model.Predict(Tensor.FromArray(inputs[t]).Reshape(4, 32)).Span.ToArray();
        }

        var wrong = new int[2];
        var refused = new int[2];
        var unexpected = new Exception?[2];
        using var start = new Barrier(2);
        var threads = Enumerable.Range(0, 2).Select(t => new Thread(() =>
        {
            var y = new float[4 * 10];
            start.SignalAndWait();
            for (int i = 0; i < 2000; i++)
            {
                try
                {
                    predictor.Predict(inputs[t], y);
                    if (!y.AsSpan().SequenceEqual(expected[t]))
                    {
                        wrong[t]++;
                    }
                }
                catch (InvalidOperationException)
                {
                    refused[t]++;
                }
                catch (Exception e)
                {
                    unexpected[t] = e;
                    return;
                }
            }
        })).ToArray();
        foreach (var thread in threads)
        {
            thread.Start();
        }

        foreach (var thread in threads)
        {
            thread.Join();
        }

        unexpected.Should().OnlyContain(e => e == null);
        wrong.Should().Equal([0, 0], "a call either runs alone or is refused ({0} and {1} were refused)", refused[0], refused[1]);
    }

    [Fact]
    public void The_guard_allocates_nothing_per_call()
    {
        var model = Model.Sequential<float>(16).Dense(32).ReLU().Dense(4).Softmax().Build(seed: 1);
        var predictor = model.CreatePredictor();
        var x = new float[16];
        var y = new float[4];
        predictor.Predict(x, y);
        long perCall = long.MaxValue;
        for (int round = 0; round < 4; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                predictor.Predict(x, y);
            }

            perCall = Math.Min(perCall, (GC.GetAllocatedBytesForCurrentThread() - before) / 100);
        }

        perCall.Should().Be(0);
    }

    // An unregistered custom transform (so the predictor uses it live) that runs a hook while it transforms.
    private sealed class Reentrant : IInputTransform<float>
    {
        public Action? During { get; set; }

        public string Kind => "test-reentrant";

        public int Features => 4;

        public Tensor<float> Apply(Tensor<float> x)
        {
            var copy = x.Clone();
            ApplyInPlace(copy);
            return copy;
        }

        public void ApplyInPlace(Tensor<float> x) => During?.Invoke();

        public DataSet<float> Apply(DataSet<float> data) => new(Apply(data.X), data.Y.Clone());

        public IReadOnlyDictionary<string, Tensor<float>> ExportTensors() => new Dictionary<string, Tensor<float>>();
    }
}
