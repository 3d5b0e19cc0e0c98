namespace DeepLearning.Tests.Training;

/// <summary>Issue 11, items 2, 6 and 7: non-finite data, the divergence guard, and silent misuse.</summary>
public sealed class ReliabilityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-reliability-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static DataSet<T> Blobs<T>(int m, int classes, int features, int seed, double scale = 1)
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
                x[i, j] = T.CreateTruncating(scale * (r.NextGaussian() + (j % classes == c ? 2.5 : 0)));
            }
        }

        return new DataSet<T>(x, y, labels, classes);
    }

    private static bool AllFinite(Model<float> model) =>
        model.Layers.All(l => l.Parameters.All(p => p.Value.ToArray().All(float.IsFinite)) && l.Buffers.Values.All(b => b.ToArray().All(float.IsFinite)));

    private static void ShouldEqual(ModelState<float> actual, ModelState<float> expected) =>
        actual.Tensors.Zip(expected.Tensors).Should().OnlyContain(p => p.First.ToArray().SequenceEqual(p.Second.ToArray()));

    // ---- 11.2: streamed data is checked batch by batch ----

    [Fact]
    public void A_streamed_row_file_with_a_NaN_cell_stops_naming_epoch_row_and_column()
    {
        var data = Blobs<float>(100, 3, 4, seed: 1);
        data.X[37, 2] = float.NaN;
        string path = Path.Combine(_dir, "nan.dlrows");
        BinaryRowFile.Write(path, data);
        var model = Model.Sequential<float>(4).Dense(8, Activation.ReLU).Dense(3).Softmax().Build(seed: 1);
        var act = () => model.Fit(BinaryRowFile.Open<float>(path, bufferRows: 16), new TrainingOptions<float> { Epochs = 2, BatchSize = 16, Shuffle = false });
        act.Should().Throw<InvalidDataException>().WithMessage("the training data holds NaN in X at epoch 1, row 37 of the epoch (mini-batch 3, row 5*), column 2*");
        AllFinite(model).Should().BeTrue();
    }

    [Fact]
    public void A_streamed_infinite_target_is_named_as_Y()
    {
        var data = Blobs<float>(50, 2, 3, seed: 2);
        data.Y[7, 1] = float.PositiveInfinity;
        string path = Path.Combine(_dir, "inf.dlrows");
        BinaryRowFile.Write(path, data);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        var act = () => model.Fit(BinaryRowFile.Open<float>(path, bufferRows: 8), new TrainingOptions<float> { Epochs = 1, BatchSize = 10 });
        act.Should().Throw<InvalidDataException>().WithMessage("*holds Infinity in Y at epoch 1, row *, column 1*");
        AllFinite(model).Should().BeTrue();
    }

    [Fact]
    public void NaN_made_by_augmentation_in_a_later_epoch_names_that_epoch()
    {
        var data = Blobs<float>(40, 2, 4, seed: 3);
        var poison = new PoisonOnCall<float>(call: 8, row: 3, column: 1); // 4 batches + the empty read that ends an epoch: call 8 is epoch 2, mini-batch 3
        var model = Model.Sequential<float>(4).Dense(2).Softmax().Build(seed: 1);
        var act = () => model.Fit(data.WithAugmentation(seed: 1, poison), new TrainingOptions<float> { Epochs = 3, BatchSize = 10, Shuffle = false });
        act.Should().Throw<InvalidDataException>().WithMessage("*NaN in X at epoch 2, row 23 of the epoch (mini-batch 3, row 3*), column 1*");
    }

    [Fact]
    public void Predict_gives_NaN_for_every_output_of_a_non_finite_row_and_leaves_other_rows_alone()
    {
        // Sigmoid of ±∞·w is a finite 0 or 1 by arithmetic: Predict must still not answer with a plausible number.
        var model = Model.Sequential<float>(2).Dense(3, Activation.Tanh).Dense(1).Sigmoid().Build(seed: 2);
        var x = Tensor.FromArray(new float[] { 0.5f, -1, float.NaN, 1, float.PositiveInfinity, 2, 3, float.NegativeInfinity }, 4, 2);
        var p = model.Predict(x);
        p[0, 0].Should().Be(model.Predict(Tensor.FromArray(new float[] { 0.5f, -1 }, 1, 2))[0, 0]);
        float.IsFinite(p[0, 0]).Should().BeTrue();
        float.IsNaN(p[1, 0]).Should().BeTrue();
        float.IsNaN(p[2, 0]).Should().BeTrue();
        float.IsNaN(p[3, 0]).Should().BeTrue();

        var softmax = Model.Sequential<double>(2).Dense(3).Softmax().Build(seed: 2);
        var q = softmax.Predict(Tensor.FromArray(new double[] { double.PositiveInfinity, 0 }, 1, 2));
        q.ToArray().Should().OnlyContain(v => double.IsNaN(v));
    }

    [Fact]
    public void PredictClasses_and_Evaluate_reject_non_finite_input_naming_the_cell()
    {
        var model = Model.Sequential<float>(2).Dense(2).Softmax().Build(seed: 2);
        var x = Tensor.FromArray(new float[] { 0, 1, 2, float.NaN }, 2, 2);
        var y = Tensor.FromArray(new float[] { 1, 0, 0, 1 }, 2, 2);
        model.Invoking(m => m.PredictClasses(x)).Should().Throw<InvalidDataException>().WithMessage("X holds NaN at row 1, column 1*");
        model.Invoking(m => m.Evaluate(x, y)).Should().Throw<InvalidDataException>().WithMessage("X holds NaN at row 1, column 1*");

        var data = Blobs<float>(30, 2, 2, seed: 4);
        data.X[21, 0] = float.NegativeInfinity;
        string path = Path.Combine(_dir, "eval.dlrows");
        BinaryRowFile.Write(path, data);
        model.Invoking(m => m.Evaluate(BinaryRowFile.Open<float>(path))).Should().Throw<InvalidDataException>().WithMessage("the evaluation data holds -Infinity in X at row 21, column 0*");
    }

    // ---- 11.6: the divergence guard ----

    [Fact]
    public void Full_batch_training_that_breaks_the_weights_in_its_only_step_throws_and_restores_them()
    {
        // One step per epoch: the cost before the step is finite, the weights after it are ±∞ (α·dW overflows float).
        var data = Blobs<float>(64, 2, 3, seed: 5, scale: 1e3);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        var initial = model.CaptureState();
        var act = () => model.Fit(data, new TrainingOptions<float> { Optimizer = new GradientDescent(1e37), Epochs = 1, BatchSize = 0 });
        act.Should().Throw<TrainingDivergedException>().WithMessage("*weights became non-finite during epoch 1*after its last mini-batch*start of training*restored*");
        ShouldEqual(model.CaptureState(), initial);
    }

    [Fact]
    public void Adam_state_that_overflows_while_the_weights_stay_finite_is_caught_and_restored()
    {
        // Inputs near 1e20: the gradient is finite (~1e20) but g² overflows float, so Adam's s becomes ∞ and the step,
        // which divides by √s, leaves the weights finite. The weights alone would pass; the state would freeze them and
        // make every checkpoint unloadable.
        var data = Blobs<float>(64, 2, 3, seed: 5, scale: 1e20);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        var initial = model.CaptureState();
        var adam = new Adam(0.01);
        var act = () => model.Fit(data, new TrainingOptions<float> { Optimizer = adam, Epochs = 1, BatchSize = 0 });
        act.Should().Throw<TrainingDivergedException>()
            .WithMessage("the optimizer state became non-finite during epoch 1 (optimizer state '0.weight.s' holds Infinity at index *start of training*restored*");
        ShouldEqual(model.CaptureState(), initial);
        adam.HasState(model.Parameters[0]).Should().BeFalse("the state from the start of training (none) is restored");
        adam.StepCount.Should().Be(0);
    }

    [Fact]
    public void Without_the_guard_a_checkpoint_of_overflowed_Adam_state_is_refused_and_nothing_is_written()
    {
        var data = Blobs<float>(64, 2, 3, seed: 5, scale: 1e20);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        string path = Path.Combine(_dir, "state.ckpt");
        var act = () => model.Fit(data, new TrainingOptions<float>
        {
            Optimizer = new Adam(0.01),
            Epochs = 1,
            BatchSize = 0,
            DivergenceGuard = false,
            Checkpoint = new CheckpointOptions(path),
        });
        act.Should().Throw<InvalidOperationException>()
            .WithMessage("the checkpoint cannot be saved: optimizer state '0.weight.s' holds Infinity at index *; nothing was written to '*state.ckpt'*divergence guard*");
        File.Exists(path).Should().BeFalse();
    }

    [Fact]
    public void A_last_step_that_breaks_the_weights_is_caught_at_the_end_of_its_epoch_not_restored_into()
    {
        // Raise α just before the last mini-batch of epoch 2: that step writes ±∞ weights. The old guard restored the
        // "start of epoch 3" weights, i.e. the broken ones; now the end of epoch 2 is checked and epoch 1's weights return.
        var data = Blobs<float>(64, 2, 3, seed: 6, scale: 1e3);
        var model = Model.Sequential<float>(3).Dense(4, Activation.ReLU).Dense(2).Softmax().Build(seed: 1);
        var optimizer = new GradientDescent(1e-6);
        ModelState<float>? afterEpoch1 = null;
        var options = new TrainingOptions<float>
        {
            Optimizer = optimizer,
            Epochs = 4,
            BatchSize = 16,
            ReportBatches = true,
            Progress = new SyncProgress(p =>
            {
                if (p.Epoch == 2 && p.Batch == 3 && p.Record is null)
                {
                    optimizer.LearningRate = 1e37;
                }
            }),
            Callbacks = { new LambdaCallback((c, r) => { if (r.Epoch == 1) { afterEpoch1 = (ModelState<float>)c.CaptureWeights(); } }) },
        };
        var act = () => model.Fit(data, options);
        act.Should().Throw<TrainingDivergedException>().WithMessage("*during epoch 2*end of epoch 1*restored*");
        AllFinite(model).Should().BeTrue();
        ShouldEqual(model.CaptureState(), afterEpoch1!);
    }

    [Fact]
    public void A_non_finite_cost_on_an_epochs_first_mini_batch_restores_the_weights_before_the_ones_that_gave_it()
    {
        // α = 1e30: one full-batch step leaves finite weights near 1e29, and the next epoch's first cost, computed from
        // them, is NaN. The guard restored exactly those weights ("the last verified finite"): a model whose every
        // prediction was NaN. The ones before them (here the start of training) come back instead.
        var data = Blobs<float>(48, 3, 4, seed: 3);
        var model = Model.Sequential<float>(4).Dense(8).ReLU().Dense(3).Softmax().Build(seed: 1);
        var initial = model.CaptureState();
        ModelState<float>? afterEpoch1 = null;
        var options = new TrainingOptions<float>
        {
            Optimizer = new GradientDescent(1e30),
            Epochs = 3,
            BatchSize = 0,
            Callbacks = { new LambdaCallback((c, r) => { if (r.Epoch == 1) { afterEpoch1 = (ModelState<float>)c.CaptureWeights(); } }) },
        };
        var act = () => model.Fit(data, options);
        act.Should().Throw<TrainingDivergedException>()
            .WithMessage("the cost became NaN at epoch 2, mini-batch 1*the weights from the start of training (the last verified finite) were restored, since those from the end of epoch 1, though finite, gave this cost*");
        afterEpoch1.Should().NotBeNull("epoch 1 ended with finite weights");
        ShouldEqual(model.CaptureState(), initial);
        double.IsFinite(model.Cost(data.X, data.Y, training: false)).Should().BeTrue();

        // Later in a run, the snapshot two epochs back returns; a non-finite cost after a step of the epoch keeps the latest.
        var later = Model.Sequential<float>(4).Dense(8).ReLU().Dense(3).Softmax().Build(seed: 1);
        var optimizer = new GradientDescent(0.01);
        var ends = new List<ModelState<float>>();
        var laterOptions = new TrainingOptions<float>
        {
            Optimizer = optimizer,
            Epochs = 6,
            BatchSize = 0,
            Callbacks =
            {
                new LambdaCallback((c, r) =>
                {
                    ends.Add((ModelState<float>)c.CaptureWeights());
                    if (r.Epoch == 3)
                    {
                        optimizer.LearningRate = 1e30;
                    }
                }),
            },
        };
        var again = () => later.Fit(data, laterOptions);
        again.Should().Throw<TrainingDivergedException>().WithMessage("*epoch 5, mini-batch 1*end of epoch 3 (the last verified finite)*those from the end of epoch 4*");
        ShouldEqual(later.CaptureState(), ends[2]);
    }

    [Fact]
    public void A_non_finite_cost_restores_the_last_verified_weights_and_optimizer_state()
    {
        var data = Blobs<float>(100, 2, 3, seed: 5);
        for (int i = 0; i < 20; i++)
        {
            data.X.Span[i] *= 1e30f;
        }

        var model = Model.Sequential<float>(3).Dense(4, Activation.ReLU).Dense(2).Softmax().Build(seed: 1);
        var adam = new Adam(1e30);
        var act = () => model.Fit(data, new TrainingOptions<float> { Optimizer = adam, Epochs = 5, BatchSize = 10 });
        act.Should().Throw<TrainingDivergedException>();
        AllFinite(model).Should().BeTrue();
        adam.ExportState(model.Parameters).Values.Should().OnlyContain(t => t.ToArray().All(float.IsFinite));
    }

    [Fact]
    public void Cancelling_after_a_step_broke_the_weights_still_leaves_the_last_verified_ones()
    {
        var data = Blobs<float>(64, 2, 3, seed: 6, scale: 1e3);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        var optimizer = new GradientDescent(1e-6);
        using var cts = new CancellationTokenSource();
        ModelState<float>? afterEpoch1 = null;
        var options = new TrainingOptions<float>
        {
            Optimizer = optimizer,
            Epochs = 3,
            BatchSize = 16,
            ReportBatches = true,
            Progress = new SyncProgress(p =>
            {
                if (p.Epoch == 2 && p.Batch == 1 && p.Record is null)
                {
                    optimizer.LearningRate = 1e37; // mini-batch 2 breaks the weights ...
                }
                else if (p.Epoch == 2 && p.Batch == 2 && p.Record is null)
                {
                    cts.Cancel(); // ... and the run is cancelled before any cost could show it
                }
            }),
            Callbacks = { new LambdaCallback((c, r) => afterEpoch1 ??= (ModelState<float>)c.CaptureWeights()) },
        };
        var act = () => model.Fit(data, options, cts.Token);
        act.Should().Throw<OperationCanceledException>();
        ShouldEqual(model.CaptureState(), afterEpoch1!);
    }

    [Fact]
    public void A_streamed_validation_set_with_NaN_is_named()
    {
        var data = Blobs<float>(40, 2, 3, seed: 8);
        var dev = Blobs<float>(20, 2, 3, seed: 9);
        dev.X[11, 2] = float.NaN;
        string path = Path.Combine(_dir, "dev.dlrows");
        BinaryRowFile.Write(path, dev);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        model.Invoking(m => m.Fit(data, new TrainingOptions<float> { Epochs = 2, Validation = BinaryRowFile.Open<float>(path) }))
            .Should().Throw<InvalidDataException>().WithMessage("the validation data holds NaN in X at row 11, column 2*");
    }

    [Fact]
    public void A_learning_rate_that_overflows_float_is_rejected_before_any_step()
    {
        var data = Blobs<float>(20, 2, 3, seed: 7);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        var initial = model.CaptureState();
        var act = () => model.Fit(data, new TrainingOptions<float> { Optimizer = new GradientDescent(1e39), Epochs = 1 });
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("learningRate 1e+39 overflows Single (largest finite value 3.4028235e+38)*");
        ShouldEqual(model.CaptureState(), initial);
        var step = () => Trainer.Step(model, new GradientDescent(1e-50), data.X, data.Y);
        step.Should().Throw<ArgumentOutOfRangeException>().WithMessage("learningRate 1e-50 rounds to 0 in Single*");

        // The same rate is fine where T can hold it.
        var wide = Model.Sequential<double>(3).Dense(2).Softmax().Build(seed: 1);
        var optimizer = new GradientDescent(1e39);
        Trainer.Step(wide, optimizer, Blobs<double>(20, 2, 3, seed: 7).X, Blobs<double>(20, 2, 3, seed: 7).Y);
        optimizer.StepCount.Should().Be(1);
    }

    [Fact]
    public void A_model_with_non_finite_weights_is_refused_before_training()
    {
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        model.Parameters[0].Value.Span[4] = float.NaN;
        var act = () => model.Fit(Blobs<float>(20, 2, 3, seed: 7), new TrainingOptions<float> { Epochs = 1 });
        act.Should().Throw<InvalidOperationException>().WithMessage("*not finite before training*'0.weight' holds NaN at index 4*");
    }

    // ---- 11.7: silent misuse ----

    [Fact]
    public void Softmax_over_one_unit_is_rejected_suggesting_sigmoid()
    {
        var builder = () => Model.Sequential<float>(3).Dense(1).Softmax();
        builder.Should().Throw<ArgumentException>().WithMessage("softmax over one unit always outputs 1*Sigmoid()*");
        var generic = () => Model.Sequential<float>(3).Dense(1).Activation(Activation.Softmax);
        generic.Should().Throw<ArgumentException>().WithMessage("*Sigmoid()*");
    }

    [Fact]
    public void Softmax_targets_must_be_probability_rows()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 3, 2);
        var model = Model.Sequential<float>(2).Dense(2).Softmax().Build(seed: 1);
        var twice = new DataSet<float>(x, Tensor.FromArray(new float[] { 1, 0, 1, 1, 0, 1 }, 3, 2));
        model.Invoking(m => m.Fit(twice, new TrainingOptions<float> { Epochs = 1 })).Should().Throw<ArgumentException>().WithMessage("the training data's targets Y must be probability rows for softmax*row 1 sums to 2*");
        var negative = new DataSet<float>(x, Tensor.FromArray(new float[] { 1, 0, 2, -1, 0, 1 }, 3, 2));
        model.Invoking(m => m.Fit(negative, new TrainingOptions<float> { Epochs = 1 })).Should().Throw<ArgumentException>().WithMessage("*row 1 holds -1 at column 1*");
        var dev = new DataSet<float>(x, Tensor.FromArray(new float[] { 1, 0, 0, 0, 0, 1 }, 3, 2));
        var good = new DataSet<float>(x, Tensor.FromArray(new float[] { 0.9f, 0.1f, 0.05f, 0.95f, 0, 1 }, 3, 2)); // label smoothing is fine
        model.Invoking(m => m.Fit(good, new TrainingOptions<float> { Epochs = 1, Validation = dev })).Should().Throw<ArgumentException>().WithMessage("the validation data's targets*row 1 sums to 0*");
        model.Fit(good, new TrainingOptions<float> { Epochs = 1 }).Count.Should().Be(1);
    }

    [Fact]
    public void Softmax_targets_over_many_classes_allow_rounding_but_not_a_wrong_sum()
    {
        const int classes = 1000;
        var x = new Tensor<float>(2, 3);
        x[1, 2] = 1;
        var model = Model.Sequential<float>(3).Dense(classes).Softmax().Build(seed: 1);

        // Label smoothing (ε = 0.1) and a teacher's softmax, both computed in float: each sums to 1 only within rounding.
        var soft = new Tensor<float>(2, classes);
        var logits = new float[classes];
        var r = new RandomSource(3);
        for (int j = 0; j < classes; j++)
        {
            soft[0, j] = (j == 7 ? 0.9f : 0f) + (0.1f / classes);
            logits[j] = (float)(3 * r.NextGaussian());
        }

        System.Numerics.Tensors.TensorPrimitives.SoftMax(logits, logits);
        for (int j = 0; j < classes; j++)
        {
            soft[1, j] = logits[j];
        }

        model.Fit(new DataSet<float>(x, soft), new TrainingOptions<float> { Epochs = 1 }).Count.Should().Be(1);

        // A row 1% off is a wrong target, however many classes there are (the old tolerance, 1e-4·C, allowed 0.1 here).
        var wrong = soft.Clone();
        wrong[1, 0] += 0.01f;
        model.Invoking(m => m.Fit(new DataSet<float>(x, wrong), new TrainingOptions<float> { Epochs = 1 }))
            .Should().Throw<ArgumentException>().WithMessage("the training data's targets Y must be probability rows for softmax*row 1 sums to 1.0099*");

        // The same in double, where the sums are exact to ~1e-13.
        var xd = new Tensor<double>(1, 3);
        var yd = new Tensor<double>(1, classes);
        for (int j = 0; j < classes; j++)
        {
            yd[0, j] = 1.0 / classes;
        }

        var modelD = Model.Sequential<double>(3).Dense(classes).Softmax().Build(seed: 1);
        modelD.Fit(new DataSet<double>(xd, yd), new TrainingOptions<double> { Epochs = 1 }).Count.Should().Be(1);
        yd[0, 0] += 1e-6;
        modelD.Invoking(m => m.Fit(new DataSet<double>(xd, yd), new TrainingOptions<double> { Epochs = 1 })).Should().Throw<ArgumentException>().WithMessage("*row 0 sums to 1.000001*");
    }

    [Fact]
    public void Streamed_or_augmented_targets_that_do_not_suit_the_loss_are_refused_naming_the_row()
    {
        // In memory, a sigmoid target of 5 is refused before training; streamed or augmented it trained silently.
        var x = new Tensor<float>(8, 4);
        var y = new Tensor<float>(8, 1);
        for (int i = 0; i < 8; i++)
        {
            x[i, i % 4] = 1;
            y[i, 0] = i % 2;
        }

        y[5, 0] = 5;
        var data = new DataSet<float>(x, y);
        string path = Path.Combine(_dir, "bad-target.dlrows");
        BinaryRowFile.Write(path, data);
        var model = Model.Sequential<float>(4).Dense(1).Sigmoid().Build(seed: 1);
        var initial = model.CaptureState();
        var options = new TrainingOptions<float> { Epochs = 1, BatchSize = 8, Shuffle = false };
        model.Invoking(m => m.Fit(BinaryRowFile.Open<float>(path), options)).Should().Throw<InvalidDataException>()
            .WithMessage("the training data's targets Y must be in [0, 1] for sigmoid*row 5 of epoch 1 (mini-batch 1*), column 0 holds 5");
        // An augmented in-memory set is checked whole before training, as the set it wraps.
        model.Invoking(m => m.Fit(data.WithAugmentation(3, new HorizontalFlip<float>(2, 2)), options)).Should().Throw<ArgumentException>()
            .WithMessage("the training data's targets Y must be in [0, 1] for sigmoid*row 5, column 0 holds 5");
        ShouldEqual(model.CaptureState(), initial);
        model.Invoking(m => m.Evaluate(BinaryRowFile.Open<float>(path))).Should().Throw<InvalidDataException>()
            .WithMessage("the evaluation data's targets Y must be in [0, 1] for sigmoid*row 5, column 0 holds 5");

        // Softmax: a streamed row that sums to 2.
        var y3 = new Tensor<float>(8, 3);
        for (int i = 0; i < 8; i++)
        {
            y3[i, i % 3] = 1;
        }

        y3[6, 0] = 1;
        y3[6, 1] = 1;
        string path3 = Path.Combine(_dir, "bad-softmax.dlrows");
        BinaryRowFile.Write(path3, new DataSet<float>(x, y3));
        var softmax = Model.Sequential<float>(4).Dense(3).Softmax().Build(seed: 1);
        softmax.Invoking(m => m.Fit(BinaryRowFile.Open<float>(path3), options)).Should().Throw<InvalidDataException>()
            .WithMessage("*probability rows for softmax*row 6 of epoch 1*sums to 2");
    }

    [Fact]
    public void Sigmoid_targets_must_lie_in_0_1()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2);
        var model = Model.Sequential<float>(2).Dense(1).Sigmoid().Build(seed: 1);
        var bad = new DataSet<float>(x, Tensor.FromArray(new float[] { 1, 2 }, 2, 1));
        model.Invoking(m => m.Fit(bad, new TrainingOptions<float> { Epochs = 1 })).Should().Throw<ArgumentException>().WithMessage("*targets Y must be in ?0, 1? for sigmoid*row 1, column 0 holds 2*");
        model.Fit(new DataSet<float>(x, Tensor.FromArray(new float[] { 0, 1 }, 2, 1)), new TrainingOptions<float> { Epochs = 1 }).Count.Should().Be(1);
    }

    [Fact]
    public void An_empty_validation_set_is_an_error()
    {
        var data = Blobs<float>(20, 2, 3, seed: 7);
        var model = Model.Sequential<float>(3).Dense(2).Softmax().Build(seed: 1);
        model.Invoking(m => m.Fit(data, new TrainingOptions<float> { Epochs = 1, Validation = data.Take(0) }))
            .Should().Throw<ArgumentException>().WithMessage("the validation set is empty*");
    }

    private sealed class PoisonOnCall<T>(int call, int row, int column) : IBatchTransform<T>
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        private int _calls;

        public void Apply(Tensor<T> x, int rows, RandomSource random)
        {
            if (++_calls == call)
            {
                x[row, column] = T.NaN;
            }
        }
    }

    private sealed class SyncProgress(Action<TrainingProgress> onReport) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => onReport(value);
    }
}
