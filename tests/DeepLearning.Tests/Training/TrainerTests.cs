
namespace DeepLearning.Tests.Training;

public sealed class TrainerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-trainer-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Empty_training_or_validation_data_is_refused_up_front_when_known_and_as_bad_data_when_streamed()
    {
        var model = Model.Sequential<double>(2).Dense(4).ReLU().Dense(1).Build(seed: 1);
        var empty = new DataSet<double>(new Tensor<double>(0, 2), new Tensor<double>(0, 1));
        model.Invoking(m => m.Fit(empty, new TrainingOptions<double> { Epochs = 1 })).Should().Throw<ArgumentException>()
            .WithMessage("the training data is empty (0 examples)*");

        // A CSV with a header and no rows: its size is unknown until it is read.
        string path = Path.Combine(_dir, "header-only.csv");
        File.WriteAllText(path, "a,b,y\n");
        var options = new CsvOptions { LabelColumn = "y", Regression = true };
        model.Invoking(m => m.Fit(Csv.OpenStreaming<double>(path, options), new TrainingOptions<double> { Epochs = 1 })).Should().Throw<InvalidDataException>()
            .WithMessage("the training data yielded no examples*");
        var validation = new TrainingOptions<double> { Epochs = 1, Validation = Csv.OpenStreaming<double>(path, options) };
        model.Invoking(m => m.Fit(Separable(20, seed: 1), validation)).Should().Throw<InvalidDataException>()
            .WithMessage("the validation data yielded no examples*");

        // Classes inferred from a file without examples: there is nothing to infer them from (it said 2 classes).
        FluentActions.Invoking(() => Csv.OpenStreaming<double>(path, new CsvOptions { LabelColumn = "y" })).Should().Throw<InvalidDataException>()
            .WithMessage("*header-only.csv' holds a header and no examples, so there are no labels to infer the classes from*");
        Csv.OpenStreaming<double>(path, new CsvOptions { LabelColumn = "y", Classes = 3 }).Classes.Should().Be(3);
    }

    private static DataSet<double> Separable(int m, int seed)
    {
        var r = new RandomSource(seed);
        var x = new Tensor<double>(m, 2);
        var y = new Tensor<double>(m, 1);
        var labels = new int[m];
        for (int i = 0; i < m; i++)
        {
            double a = r.NextGaussian(), b = r.NextGaussian();
            // Keep a margin around the line a + 2b = 0.5.
            if (Math.Abs(a + (2 * b) - 0.5) < 0.3)
            {
                i--;
                continue;
            }

            x[i, 0] = a;
            x[i, 1] = b;
            labels[i] = a + (2 * b) > 0.5 ? 1 : 0;
            y[i, 0] = labels[i];
        }

        return new DataSet<double>(x, y, labels, 2);
    }

    private static DataSet<float> Blobs(int m, int classes, int features, int seed) => Blobs<float>(m, classes, features, seed);

    private static DataSet<T> Blobs<T>(int m, int classes, int features, int seed)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var r = new RandomSource(seed);
        var x = new Tensor<T>(m, features);
        var y = new Tensor<T>(m, classes);
        var labels = new int[m];
        for (int i = 0; i < m; i++)
        {
            int c = r.NextInt(classes);
            labels[i] = c;
            y[i, c] = T.One;
            for (int j = 0; j < features; j++)
            {
                x[i, j] = T.CreateTruncating(r.NextGaussian() + (j % classes == c ? 2.5 : 0));
            }
        }

        return new DataSet<T>(x, y, labels, classes);
    }

    [Fact]
    public void A_model_options_or_optimizer_in_use_by_a_running_fit_is_refused_by_a_second_fit()
    {
        var data = Separable(64, seed: 3);
        var shared = new TrainingOptions<double> { Epochs = 2, BatchSize = 16 };
        Exception? concurrent = null, reentrant = null, sameModel = null, sameOptimizer = null;
        var first = Model.Sequential<double>(2).Dense(1).Sigmoid().Build(seed: 1);
        var options = new TrainingOptions<double> { Epochs = 2, BatchSize = 16, Optimizer = shared.Optimizer };
        options.Callbacks.Add(new LambdaCallback((c, r) =>
        {
            if (r.Epoch != 1)
            {
                return;
            }

            // The same options from another thread (a parallel search's objective), and from this callback.
            var other = Model.Sequential<double>(2).Dense(1).Sigmoid().Build(seed: 2);
            concurrent = Record.Exception(() => Task.Run(() => other.Fit(data, options)).GetAwaiter().GetResult());
            reentrant = Record.Exception(() => other.Fit(data, options));
            sameModel = Record.Exception(() => first.Fit(data, new TrainingOptions<double> { Epochs = 1 }));
            sameOptimizer = Record.Exception(() => other.Fit(data, shared));
        }));
        first.Fit(data, options).Count.Should().Be(2, "the first Fit is not disturbed");

        concurrent.Should().BeOfType<InvalidOperationException>().Which.Message.Should().StartWith("these TrainingOptions are already in use by a Fit");
        reentrant.Should().BeOfType<InvalidOperationException>();
        sameModel.Should().BeOfType<InvalidOperationException>().Which.Message.Should().StartWith("the model is already in use");
        sameOptimizer.Should().BeOfType<InvalidOperationException>().Which.Message.Should().StartWith("the optimizer Adam");

        // One run after another, everything may be reused; a refused Fit leaves nothing claimed.
        first.Fit(data, options).Count.Should().Be(2);
        Model.Sequential<double>(2).Dense(1).Sigmoid().Build(seed: 2).Fit(data, shared).Count.Should().Be(2);
    }

    [Fact]
    public void An_early_stopping_callback_in_use_by_a_running_fit_is_refused_by_a_second_fit_with_other_options()
    {
        var data = Separable(64, seed: 3);
        var stopping = new EarlyStopping(patience: 3);
        Exception? concurrent = null;
        var first = Model.Sequential<double>(2).Dense(1).Sigmoid().Build(seed: 1);
        var options = new TrainingOptions<double> { Epochs = 2, BatchSize = 16, Callbacks = { stopping } };
        options.Callbacks.Add(new LambdaCallback((c, r) =>
        {
            if (r.Epoch == 1)
            {
                // Other options, other optimizer, other model: only the early-stopping state (best cost, patience count,
                // best weights) is shared, and it would mix the two runs.
                var other = Model.Sequential<double>(2).Dense(1).Sigmoid().Build(seed: 2);
                var mine = new TrainingOptions<double> { Epochs = 1, BatchSize = 16, Callbacks = { stopping } };
                concurrent = Record.Exception(() => Task.Run(() => other.Fit(data, mine)).GetAwaiter().GetResult());
            }
        }));
        first.Fit(data, options).Count.Should().Be(2, "the first Fit is not disturbed");
        concurrent.Should().BeOfType<InvalidOperationException>().Which.Message.Should().StartWith("the EarlyStopping callback is already in use by a Fit");

        // Listed twice in one Fit, it would count patience double: refused, and nothing stays claimed. One Fit after
        // another, it may be reused.
        var twice = new TrainingOptions<double> { Epochs = 2, BatchSize = 16, Callbacks = { stopping, stopping } };
        var model = Model.Sequential<double>(2).Dense(1).Sigmoid().Build(seed: 2);
        model.Invoking(m => m.Fit(data, twice)).Should().Throw<ArgumentException>().WithMessage("options.Callbacks lists the same EarlyStopping instance twice*");
        model.Fit(data, new TrainingOptions<double> { Epochs = 1, Callbacks = { stopping } }).Count.Should().Be(1);
    }

    [Fact]
    public void A_regularization_set_by_a_callback_applies_from_the_next_epoch_as_a_second_fit_would()
    {
        var data = Separable(64, seed: 4);

        // One Fit of 3 epochs whose callback turns on L2 after epoch 1 ...
        var a = Model.Sequential<double>(2).Dense(4, Activation.Tanh).Dense(1).Sigmoid().Build(seed: 1);
        var l2 = Regularization.L2(0.5);
        var options = new TrainingOptions<double> { Epochs = 3, BatchSize = 16 };
        options.Callbacks.Add(new LambdaCallback((c, r) =>
        {
            if (r.Epoch == 1)
            {
                ((TrainingOptions<double>)c.Options).Regularization = l2;
            }
        }));
        var history = a.Fit(data, options);

        // ... equals one epoch without it, then two with it (same shuffles and Adam state, continued).
        var b = Model.Sequential<double>(2).Dense(4, Activation.Tanh).Dense(1).Sigmoid().Build(seed: 1);
        var split = new TrainingOptions<double> { Epochs = 1, BatchSize = 16 };
        var first = b.Fit(data, split);
        split.Epochs = 2;
        split.Regularization = l2;
        var rest = b.Fit(data, split);

        a.Regularizer.Should().BeSameAs(l2);
        history.Epochs.Select(e => e.Cost).Should().Equal(first.Epochs.Concat(rest.Epochs).Select(e => e.Cost));
        a.CaptureState().Tensors.Zip(b.CaptureState().Tensors).Should().OnlyContain(p => p.First.ToArray().SequenceEqual(p.Second.ToArray()));
    }

    [Fact]
    public void An_optimizer_replaced_by_a_callback_during_fit_is_refused_before_a_checkpoint_is_written()
    {
        var data = Separable(64, seed: 4);
        var model = Model.Sequential<double>(2).Dense(1).Sigmoid().Build(seed: 1);
        string path = Path.Combine(Path.GetTempPath(), $"dl-replaced-optimizer-{Guid.NewGuid():N}.ckpt");
        var options = new TrainingOptions<double> { Epochs = 3, BatchSize = 16, Checkpoint = new CheckpointOptions(path) };
        Optimizer? seen = null;
        options.Callbacks.Add(new LambdaCallback((c, r) =>
        {
            seen = c.Optimizer;
            if (r.Epoch == 2)
            {
                ((TrainingOptions<double>)c.Options).Optimizer = new GradientDescent(0.1);
            }
        }));
        try
        {
            var original = options.Optimizer;
            model.Invoking(m => m.Fit(data, options)).Should().Throw<InvalidOperationException>()
                .WithMessage("options.Optimizer was replaced during Fit (after epoch 2, by a callback): Adam(*) holds this run's state; change its LearningRate instead*GradientDescent(α=0.1)*");
            seen.Should().BeSameAs(original, "the context names the optimizer the run steps with");
            var resumed = Model.Sequential<double>(2).Dense(1).Sigmoid().Build(seed: 1);
            resumed.Fit(data, new TrainingOptions<double> { Epochs = 3, BatchSize = 16, ResumeFrom = path }).Count.Should().Be(3, "the checkpoint after epoch 1 holds Adam's state and resumes");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Logistic_regression_reaches_100_percent_on_a_linearly_separable_set()
    {
        var data = Separable(200, seed: 1);
        var model = Model.Sequential<double>(2).Dense(1).Sigmoid().Build(seed: 1);
        var history = model.Fit(data, new TrainingOptions<double> { Optimizer = new GradientDescent(1.0), Epochs = 300, BatchSize = 200 });
        model.Evaluate(data).Accuracy.Should().Be(1.0);
        history.Epochs[^1].Cost.Should().BeLessThan(history.Epochs[0].Cost);
    }

    [Fact]
    public void An_mlp_learns_xor()
    {
        var x = Tensor.FromArray(new double[] { 0, 0, 0, 1, 1, 0, 1, 1 }, 4, 2);
        var y = Tensor.FromArray(new double[] { 0, 1, 1, 0 }, 4, 1);
        var data = new DataSet<double>(x, y, [0, 1, 1, 0], 2);
        var model = Model.Sequential<double>(2).Dense(8, Activation.Tanh).Dense(1).Sigmoid().Build(seed: 3);
        model.Fit(data, new TrainingOptions<double> { Optimizer = new Adam(0.05), Epochs = 500, BatchSize = 4 });
        model.PredictClasses(x).Should().Equal(0, 1, 1, 0);
    }

    [Fact]
    public void Same_seed_gives_identical_history_and_weights()
    {
        History Run(out Model<float> model)
        {
            var data = Blobs(300, 3, 6, seed: 5);
            model = Model.Sequential<float>(6).Dense(16).BatchNorm().ReLU().Dropout(0.8).Dense(3).Softmax().Build(seed: 9);
            return model.Fit(data, new TrainingOptions<float> { Optimizer = new Adam(0.01), Epochs = 4, BatchSize = 32, Validation = data.Take(50) });
        }

        var h1 = Run(out var m1);
        var h2 = Run(out var m2);
        h1.Epochs.Select(e => (e.Cost, e.TrainMetric, e.DevCost, e.DevMetric)).Should().Equal(h2.Epochs.Select(e => (e.Cost, e.TrainMetric, e.DevCost, e.DevMetric)));
        h1.IterationCosts.Should().Equal(h2.IterationCosts);
        for (int i = 0; i < m1.Parameters.Count; i++)
        {
            m1.Parameters[i].Value.Should().Be(m2.Parameters[i].Value);
        }
    }

    [Fact]
    public void Two_fits_of_one_epoch_train_as_one_fit_of_two_epochs()
    {
        // A later Fit continues the model's stream of shuffles (and the optimizer's and dropout's state) instead of
        // replaying the first epoch's order: with a constant α the weights are the same bits.
        var data = Blobs(300, 3, 6, seed: 5);
        Model<float> Build() => Model.Sequential<float>(6).Dense(16).BatchNorm().ReLU().Dropout(0.8).Dense(3).Softmax().Build(seed: 9);
        var once = Build();
        var adam1 = new Adam(0.01);
        once.Fit(data, new TrainingOptions<float> { Optimizer = adam1, Epochs = 2, BatchSize = 32 });

        var twice = Build();
        var adam2 = new Adam(0.01);
        var h1 = twice.Fit(data, new TrainingOptions<float> { Optimizer = adam2, Epochs = 1, BatchSize = 32 });
        var h2 = twice.Fit(data, new TrainingOptions<float> { Optimizer = adam2, Epochs = 1, BatchSize = 32 });
        h2.IterationCosts.Should().NotEqual(h1.IterationCosts);
        for (int i = 0; i < once.Parameters.Count; i++)
        {
            twice.Parameters[i].Value.ToArray().Should().Equal(once.Parameters[i].Value.ToArray(), $"parameter {i}");
        }
    }

    [Fact]
    public void A_second_fit_shuffles_in_a_new_order_and_a_new_seed_starts_a_new_stream()
    {
        var data = Blobs(64, 2, 3, seed: 2);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 4);
        var options = new TrainingOptions<float> { Optimizer = new GradientDescent(1e-30), Epochs = 1, BatchSize = 8, Seed = 11 };
        var costs1 = model.Fit(data, options).IterationCosts.ToArray();
        var costs2 = model.Fit(data, options).IterationCosts.ToArray();
        costs2.Should().NotEqual(costs1, "α = 1e-30 leaves every weight's bits unchanged, so equal per-batch costs would mean the same batches");

        // Seed 12 is a new stream; back to 11 starts 11's stream afresh, so its first epoch repeats costs1.
        model.Fit(data, new TrainingOptions<float> { Optimizer = new GradientDescent(1e-30), Epochs = 1, BatchSize = 8, Seed = 12 });
        model.Fit(data, options).IterationCosts.Should().Equal(costs1);
    }

    [Fact]
    public void Mini_batches_cover_the_data_with_a_partial_last_batch()
    {
        var data = Blobs(103, 2, 3, seed: 1);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        var history = model.Fit(data, new TrainingOptions<float> { Optimizer = new GradientDescent(0.1), Epochs = 2, BatchSize = 10 });
        history.IterationCosts.Should().HaveCount(2 * 11);
        var sgd = model.Fit(data, new TrainingOptions<float> { Optimizer = new GradientDescent(0.01), Epochs = 1, BatchSize = 1 });
        sgd.IterationCosts.Should().HaveCount(103);
        var full = model.Fit(data, new TrainingOptions<float> { Optimizer = new GradientDescent(0.01), Epochs = 1, BatchSize = 0 });
        full.IterationCosts.Should().HaveCount(1);
    }

    [Fact]
    public void Full_batch_gradient_descent_with_a_small_step_lowers_the_cost_monotonically()
    {
        var data = Blobs<double>(120, 3, 4, seed: 2);
        var model = Model.Sequential<double>(4).Dense(10, Activation.ReLU).Dropout(1.0).Dense(3).Softmax().Build(seed: 4);
        var history = model.Fit(data, new TrainingOptions<double>
        {
            Optimizer = new GradientDescent(0.05),
            Regularization = Regularization.L2(0.1),
            Epochs = 60,
            BatchSize = 0,
        });
        var costs = history.Epochs.Select(e => e.Cost).ToArray();
        for (int i = 1; i < costs.Length; i++)
        {
            costs[i].Should().BeLessThan(costs[i - 1], $"epoch {i + 1}");
        }
    }

    [Fact]
    public void Early_stopping_restores_the_best_epochs_weights()
    {
        var train = Blobs(200, 3, 5, seed: 3);
        var dev = Blobs(60, 3, 5, seed: 4);
        var model = Model.Sequential<float>(5).Dense(32, Activation.ReLU).Dense(3).Softmax().Build(seed: 2);
        var snapshots = new Dictionary<int, ModelState<float>>();
        var stopper = new EarlyStopping(patience: 2, restoreBestWeights: true, monitor: EarlyStoppingMonitor.DevCost);
        var history = model.Fit(train, new TrainingOptions<float>
        {
            // A learning rate that is far too large makes the dev cost rise after the first epochs.
            Optimizer = new GradientDescent(3.0),
            Epochs = 40,
            BatchSize = 20,
            Validation = dev,
            Callbacks = { new LambdaCallback((c, r) => snapshots[r.Epoch] = (ModelState<float>)c.CaptureWeights()), stopper },
        });
        history.Epochs.Count.Should().BeLessThan(40);
        history.StopReason.Should().Contain("early stopping");
        int best = stopper.BestEpoch;
        history.Epochs.Min(e => e.DevCost!.Value).Should().Be(history.Epochs[best - 1].DevCost!.Value);
        var now = model.CaptureState();
        now.Tensors.Zip(snapshots[best].Tensors).Should().OnlyContain(p => p.First.Equals(p.Second));
        model.Evaluate(dev).Cost.Should().BeApproximately(history.Epochs[best - 1].DevCost!.Value, 1e-6);
    }

    [Fact]
    public void Divergence_guard_stops_with_a_clear_error_and_keeps_finite_weights()
    {
        var data = Blobs(100, 2, 3, seed: 5);
        for (int i = 0; i < 20; i++)
        {
            data.X.Span[i] *= 1e30f;
        }

        var model = Model.Sequential<float>(3).Dense(4, Activation.ReLU).Dense(2).Softmax().Build(seed: 1);
        var act = () => model.Fit(data, new TrainingOptions<float> { Optimizer = new GradientDescent(1e10), Epochs = 5, BatchSize = 10 });
        act.Should().Throw<TrainingDivergedException>().WithMessage("*cost became*learning rate*restored*");
        model.Parameters.Select(p => p.Value.ToArray().All(float.IsFinite)).Should().OnlyContain(finite => finite);
    }

    [Fact]
    public void Learning_rate_decay_and_babysitting_change_alpha_between_epochs()
    {
        var data = Blobs(64, 2, 3, seed: 6);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        var history = model.Fit(data, new TrainingOptions<float>
        {
            Optimizer = new GradientDescent(0.2),
            Decay = LearningRateDecay.InverseTime(1.0),
            Epochs = 4,
            BatchSize = 64,
        });
        history.Epochs.Select(e => e.LearningRate).Should().Equal(0.2, 0.1, 0.2 / 3, 0.05);

        var panda = model.Fit(data, new TrainingOptions<float>
        {
            Optimizer = new GradientDescent(0.4),
            Epochs = 3,
            Callbacks = { new LambdaCallback((c, r) => c.Optimizer.LearningRate /= 2) },
        });
        panda.Epochs.Select(e => e.LearningRate).Should().Equal(0.4, 0.2, 0.1);
    }

    [Fact]
    public void Checkpoints_are_written_atomically_and_load()
    {
        var data = Blobs(64, 2, 3, seed: 6);
        var model = Model.Sequential<float>(3).Dense(4, Activation.ReLU).Dense(2).Softmax().Build(seed: 1);
        string pattern = Path.Combine(_dir, "ckpt-{epoch}.safetensors");
        model.Fit(data, new TrainingOptions<float> { Epochs = 4, BatchSize = 16, Callbacks = { new Checkpoint(pattern, everyEpochs: 2) } });
        Directory.GetFiles(_dir).Select(Path.GetFileName).Should().BeEquivalentTo("ckpt-2.safetensors", "ckpt-4.safetensors");
        var loaded = Model.Load<float>(Path.Combine(_dir, "ckpt-4.safetensors"));
        loaded.Predict(data.X).Should().Be(model.Predict(data.X));
        ModelFile.Read<float>(Path.Combine(_dir, "ckpt-4.safetensors")).Tensors.Keys.Should().Contain(k => k.StartsWith("optimizer.", StringComparison.Ordinal));
    }

    [Fact]
    public void A_negative_batch_size_set_by_a_callback_is_refused_naming_BatchSize()
    {
        // Callbacks may change the options between epochs; Fit checked BatchSize only before the first epoch, so −5 set
        // after epoch 1 surfaced as 'dimensions must be non-negative; received shape (-5, 3)' from a tensor buffer.
        var data = Blobs(64, 2, 3, seed: 6);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        var options = new TrainingOptions<float> { Epochs = 3, BatchSize = 16, Callbacks = { new LambdaCallback((c, r) => ((TrainingOptions<float>)c.Options).BatchSize = -5) } };
        var act = () => model.Fit(data, options);
        act.Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("BatchSize must be ≥ 1 (or 0 for full batch on a source of known size); received -5 (set during training, before epoch 2)*")
            .Which.ActualValue.Should().Be(-5);

        // 0 (full batch) from a callback is fine, as before the first epoch.
        options.Callbacks.Clear();
        options.Callbacks.Add(new LambdaCallback((c, r) => ((TrainingOptions<float>)c.Options).BatchSize = 0));
        options.BatchSize = 16;
        model.Fit(data, options).Count.Should().Be(3);
    }

    [Fact]
    public void Cancellation_stops_training()
    {
        var data = Blobs(64, 2, 3, seed: 6);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        using var cts = new CancellationTokenSource();
        var options = new TrainingOptions<float> { Epochs = 100, BatchSize = 8, Callbacks = { new LambdaCallback((c, r) => { if (r.Epoch == 2) { cts.Cancel(); } }) } };
        var act = () => model.Fit(data, options, cts.Token);
        act.Should().Throw<OperationCanceledException>();
    }

    [Fact]
    public void Progress_is_reported_per_epoch()
    {
        var data = Blobs(64, 2, 3, seed: 6);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        var reports = new List<TrainingProgress>();
        model.Fit(data, new TrainingOptions<float> { Epochs = 3, BatchSize = 16, Progress = new SyncProgress(reports) });
        reports.Select(r => r.Epoch).Should().Equal(1, 2, 3);
        reports.Should().OnlyContain(r => r.Record != null && r.BatchesPerEpoch == 4);
    }

    [Fact]
    public void A_streaming_source_trains_like_an_in_memory_one()
    {
        var data = Blobs(500, 3, 6, seed: 8);
        string path = Path.Combine(_dir, "blobs.dlrows");
        BinaryRowFile.Write(path, data);
        var stream = BinaryRowFile.Open<float>(path, bufferRows: 64);
        var model = Model.Sequential<float>(6).Dense(16, Activation.ReLU).Dense(3).Softmax().Build(seed: 2);
        var history = model.Fit(stream, new TrainingOptions<float> { Optimizer = new Adam(0.01), Epochs = 5, BatchSize = 32, Validation = stream });
        history.IterationCosts.Should().HaveCount(5 * 16);
        history.Epochs[^1].DevMetric.Should().BeGreaterThan(0.9);
        model.Evaluate(data).Accuracy.Should().Be(history.Epochs[^1].DevMetric);
    }

    [Fact]
    public void Non_finite_data_is_rejected_before_training_naming_the_cell()
    {
        var data = Blobs(10, 2, 3, seed: 6);
        data.X[4, 1] = float.NaN;
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        var act = () => model.Fit(data, new TrainingOptions<float>());
        act.Should().Throw<InvalidDataException>().WithMessage("X holds NaN at row 4, column 1*");
    }

    [Fact]
    public void Mismatched_data_names_the_widths()
    {
        var data = Blobs(10, 2, 3, seed: 6);
        var model = Model.Sequential<float>(4).Dense(2).Softmax().Build(seed: 1);
        var act = () => model.Fit(data, new TrainingOptions<float>());
        act.Should().Throw<ArgumentException>().WithMessage("*3 features*expects 4 inputs*");
    }

    [Fact]
    public void Reused_options_give_a_second_model_exactly_the_run_fresh_options_give()
    {
        var data = Blobs(150, 3, 6, seed: 3);
        Model<float> Make() => Model.Sequential<float>(6).Dense(8, Activation.ReLU).Dense(3).Softmax().Build(seed: 7);
        var options = new TrainingOptions<float> { Optimizer = new Adam(0.01), Decay = LearningRateDecay.InverseTime(0.5), Epochs = 4, BatchSize = 32 };

        var a = Make();
        var first = a.Fit(data, options);
        options.Optimizer.LearningRate.Should().Be(0.01, "Fit leaves α0 as the user set it, not the last decayed rate");
        options.Optimizer.StepCount.Should().Be(4 * 5);

        var b = Make();
        var second = b.Fit(data, options);
        second.Epochs.Select(e => e.LearningRate).Should().Equal(first.Epochs.Select(e => e.LearningRate));
        second.Epochs[0].LearningRate.Should().Be(0.01);
        second.IterationCosts.Should().Equal(first.IterationCosts, "Adam's t and moments of model A are not carried over to model B");
        b.CaptureState().Tensors.Select(t => t.ToArray()).Should().BeEquivalentTo(a.CaptureState().Tensors.Select(t => t.ToArray()), o => o.WithStrictOrdering());
        options.Optimizer.StepCount.Should().Be(4 * 5);
        options.Optimizer.LearningRate.Should().Be(0.01);
    }

    [Fact]
    public void Fitting_the_same_model_again_restarts_the_schedule_at_alpha0_and_continues_the_optimizer_state()
    {
        var data = Blobs(150, 3, 6, seed: 3);
        var model = Model.Sequential<float>(6).Dense(8, Activation.ReLU).Dense(3).Softmax().Build(seed: 7);
        var adam = new Adam(0.01);
        var options = new TrainingOptions<float> { Optimizer = adam, Decay = LearningRateDecay.InverseTime(0.5), Epochs = 3, BatchSize = 50 };
        model.Fit(data, options);
        adam.StepCount.Should().Be(9);
        var again = model.Fit(data, options);
        again.Epochs.Select(e => e.LearningRate).Should().Equal(0.01, 0.01 / 1.5, 0.01 / 2);
        adam.StepCount.Should().Be(18, "a second Fit of the same model continues Adam's t, as Keras's fit does");
        adam.HasState(model.Parameters[0]).Should().BeTrue();

        // However Fit ends, the optimizer reads α0 again (here a callback changes it, then training fails).
        options.Callbacks.Add(new LambdaCallback((c, r) =>
        {
            c.Optimizer.LearningRate = 123;
            throw new IOException("simulated failure");
        }));
        model.Invoking(m => m.Fit(data, options)).Should().Throw<IOException>();
        adam.LearningRate.Should().Be(0.01);
    }

    [Fact]
    public void Fit_refuses_an_optimizer_hyperparameter_that_breaks_in_the_models_element_type_before_training()
    {
        var data = Blobs(40, 2, 3, seed: 8);
        var model = Model.Sequential<float>(3).Dense(4, Activation.ReLU).Dense(2).Softmax().Build(seed: 2);
        var before = model.CaptureState().Tensors.Select(t => t.ToArray()).ToArray();
        var act = () => model.Fit(data, new TrainingOptions<float> { Optimizer = new Momentum(0.1, beta: 0.99999999), Epochs = 2 });
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "beta").WithMessage("beta 0.99999999 rounds to 1 in Single*");
        act = () => model.Fit(data, new TrainingOptions<float> { Optimizer = new Adam(0.01, epsilon: 1e-50), Epochs = 2 });
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "epsilon").WithMessage("epsilon 1e-50 rounds to 0 in Single*");
        var after = model.CaptureState().Tensors.Select(t => t.ToArray()).ToArray();
        after.Should().BeEquivalentTo(before, o => o.WithStrictOrdering(), "nothing trained");
    }

    [Fact]
    public void With_batch_norm_an_epochs_one_row_last_mini_batch_is_skipped_in_memory_and_streamed()
    {
        // 65 rows in mini-batches of 64: the 65th row alone would give batch norm a variance of 0 (output β, no gradient,
        // running variance pulled towards 0). Skipped, training is exactly training on the first 64 rows.
        var data = Blobs(65, 3, 6, seed: 11);
        Model<float> Make() => Model.Sequential<float>(6).Dense(8).BatchNorm().ReLU().Dense(3).Softmax().Build(seed: 5);
        TrainingOptions<float> Options() => new() { Optimizer = new Adam(0.01), Epochs = 3, BatchSize = 64, Shuffle = false };
        var expected = Make();
        var expectedHistory = expected.Fit(data.Take(64), Options());
        var expectedState = expected.CaptureState().Tensors.Select(t => t.ToArray()).ToArray();

        string path = Path.Combine(_dir, "65.rows");
        BinaryRowFile.Write(path, data);
        foreach (var source in new IDataSource<float>[] { data, new UnknownCount<float>(data), BinaryRowFile.Open<float>(path) })
        {
            var model = Make();
            var history = model.Fit(source, Options());
            history.IterationCosts.Should().Equal(expectedHistory.IterationCosts, $"{source}: one step per epoch, on the 64 full rows");
            history.Epochs.Select(e => (e.Cost, e.TrainMetric)).Should().Equal(expectedHistory.Epochs.Select(e => (e.Cost, e.TrainMetric)));
            model.CaptureState().Tensors.Select(t => t.ToArray()).Should().BeEquivalentTo(expectedState, o => o.WithStrictOrdering(), $"{source}: weights and running statistics");
        }

        var bn = (BatchNorm<float>)expected.Layers[1];
        bn.RunningVariance.ToArray().Should().OnlyContain(v => v > 0.05f);
    }

    [Fact]
    public void With_batch_norm_BatchSize_1_and_a_one_example_set_are_refused_before_training()
    {
        var data = Blobs(40, 2, 3, seed: 8);
        var model = Model.Sequential<float>(3).Dense(4).BatchNorm().ReLU().Dense(2).Softmax().Build(seed: 2);
        var before = model.CaptureState().Tensors.Select(t => t.ToArray()).ToArray();
        string layer = model.Layers[1].Name;
        var act = () => model.Fit(data, new TrainingOptions<float> { BatchSize = 1 });
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage($"BatchSize 1 cannot train this model: batch norm (layer '{layer}') needs at least 2 rows per mini-batch*use BatchSize ≥ 2*");
        act = () => model.Fit(data.Take(1), new TrainingOptions<float> { BatchSize = 0 });
        act.Should().Throw<ArgumentException>().WithMessage($"the training data has 1 example, but batch norm (layer '{layer}')*");
        act = () => model.Fit(new UnknownCount<float>(data), new TrainingOptions<float> { BatchSize = 1 });
        act.Should().Throw<ArgumentOutOfRangeException>();
        model.CaptureState().Tensors.Select(t => t.ToArray()).Should().BeEquivalentTo(before, o => o.WithStrictOrdering());

        // A callback that switches to BatchSize 1 between epochs is stopped before the next epoch.
        var options = new TrainingOptions<float> { Epochs = 3, Callbacks = { new LambdaCallback((c, r) => ((TrainingOptions<float>)c.Options).BatchSize = 1) } };
        act = () => model.Fit(data, options);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("BatchSize 1 cannot train this model*");

        // A streamed source of unknown size that turns out to hold one example.
        act = () => model.Fit(new UnknownCount<float>(data.Take(1)), new TrainingOptions<float> { BatchSize = 8 });
        act.Should().Throw<InvalidOperationException>().WithMessage($"the training data yielded only one example, and batch norm (layer '{layer}') cannot train on a one-row mini-batch*");

        // Without batch norm, one row per mini-batch is plain stochastic gradient descent.
        var plain = Model.Sequential<float>(3).Dense(4).ReLU().Dense(2).Softmax().Build(seed: 2);
        plain.Fit(data, new TrainingOptions<float> { BatchSize = 1, Epochs = 1 }).IterationCosts.Should().HaveCount(40);
        plain.Fit(Blobs(41, 2, 3, seed: 8), new TrainingOptions<float> { BatchSize = 8, Epochs = 1 }).IterationCosts.Should().HaveCount(6);
    }

    [Fact]
    public void A_training_step_allocates_nothing_once_warm()
    {
        var data = Blobs(64, 10, 20, seed: 7);
        var model = Model.Sequential<float>(20).Dense(32).BatchNorm().ReLU().Dropout(0.8).Dense(16, Activation.ReLU).Dense(10).Softmax().Build(seed: 1);
        model.Regularizer = Regularization.L2(0.01);
        var adam = new Adam(0.001);
        var x = data.X;
        var y = data.Y;
        for (int i = 0; i < 5; i++)
        {
            Trainer.Step(model, adam, x, y);
        }

        // The smallest of a few measured rounds: the runtime can allocate on this thread for its own reasons (a tier-up)
        // in any one of them, as RegularizerTests and PredictorTests allow for.
        long allocated = long.MaxValue;
        for (int round = 0; round < 4 && allocated > 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++)
            {
                Trainer.Step(model, adam, x, y);
            }

            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        allocated.Should().Be(0);
    }

    /// <summary>A source that does not know its size (as some streams), over an in-memory set.</summary>
    private sealed class UnknownCount<T>(DataSet<T> data) : IDataSource<T>
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        public int Features => data.Features;

        public int Targets => data.Targets;

        public long Count => -1;

        public IBatchReader<T> OpenEpoch(int batchSize, RandomSource? random) => data.OpenEpoch(batchSize, random);

        public override string ToString() => "a source of unknown size";
    }

    [Fact]
    public void Label_smoothed_sigmoid_targets_train_and_evaluate_with_accuracy_against_y_above_one_half()
    {
        // Fit accepts sigmoid targets anywhere in [0, 1]; the running accuracy used to refuse them after the first step.
        var (x, y) = TestData.Problem<float>(40, 3, 1, "sigmoid", 1);
        var hard = y.Clone();
        var ys = y.Span;
        for (int i = 0; i < ys.Length; i++)
        {
            ys[i] = ys[i] == 1 ? 0.9f : 0.1f;
        }

        var smoothed = DataSet.FromTargets(x, y);
        var model = Model.Sequential<float>(3).Dense(4).ReLU().Dense(1).Sigmoid().Build(seed: 1);
        var history = model.Fit(smoothed, new TrainingOptions<float> { Epochs = 2, BatchSize = 8, Validation = smoothed });

        history.Count.Should().Be(2);
        double expected = Accuracy.Compute(model.Predict(x), hard);
        history.Last!.DevMetric.Should().Be(expected, "a 0.9 target is class 1 and a 0.1 target class 0");
        model.Evaluate(smoothed).Accuracy.Should().Be(expected);
        model.Evaluate(smoothed).Accuracy.Should().Be(model.Evaluate(DataSet.FromTargets(x, hard)).Accuracy);
    }

    private sealed class SyncProgress(List<TrainingProgress> sink) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => sink.Add(value);
    }

    [Fact]
    public void An_epochs_cost_is_the_mean_of_its_mini_batch_costs_weighted_by_their_rows()
    {
        // m = 10, BatchSize = 4: mini-batches of 4, 4 and 2 rows, as the README and EpochRecord.Cost say.
        var (x, y) = TestData.Problem<double>(10, 3, 1, "sigmoid", seed: 5);
        var model = Model.Sequential<double>(3).Dense(2).Tanh().Dense(1).Sigmoid().Build(seed: 1);
        var history = model.Fit(x, y, new TrainingOptions<double> { Epochs = 1, BatchSize = 4, Shuffle = false, Optimizer = new GradientDescent(0.5) });
        var c = history.IterationCosts;
        c.Should().HaveCount(3);
        history.Epochs[0].Cost.Should().BeApproximately(((4 * c[0]) + (4 * c[1]) + (2 * c[2])) / 10, 1e-15);
        history.Epochs[0].Cost.Should().NotBeApproximately((c[0] + c[1] + c[2]) / 3, 1e-6);
    }

    [Fact]
    public void Callbacks_are_those_listed_when_Fit_starts_and_a_null_entry_is_refused()
    {
        var (x, y) = TestData.Problem<float>(40, 3, 2, "softmax", seed: 2);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        var options = new TrainingOptions<float> { Epochs = 3 };
        options.Callbacks.Add(null!);
        model.Invoking(m => m.Fit(x, y, options)).Should().Throw<ArgumentException>().WithMessage("options.Callbacks[0] is null*");

        // A callback that edits the list (here: adds a counter, then clears the list) no longer breaks the run with
        // "Collection was modified"; the edit applies to the next Fit.
        int added = 0, editor = 0;
        var counter = new LambdaCallback((c, r) => added++);
        options.Callbacks.Clear();
        options.Callbacks.Add(new LambdaCallback((c, r) =>
        {
            editor++;
            options.Callbacks.Add(counter);
            options.Callbacks.Remove(counter);
            options.Callbacks.Add(counter);
        }));
        model.Fit(x, y, options).Count.Should().Be(3);
        editor.Should().Be(3);
        added.Should().Be(0);
        options.Callbacks.Clear();
        options.Callbacks.Add(counter);
        model.Fit(x, y, options);
        added.Should().Be(3);
    }
}
