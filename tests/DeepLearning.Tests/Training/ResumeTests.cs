using DeepLearning.Kernels;

namespace DeepLearning.Tests.Training;

/// <summary>Issue 11, "Resume": a run stopped after epoch k and resumed ends bit for bit where an uninterrupted run ends.</summary>
public sealed class ResumeTests : IDisposable
{
    private const int Epochs = 6;
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-resume-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> OptimizerNames => new() { "GradientDescent", "Momentum", "RmsProp", "Adam" };

    private static Optimizer NewOptimizer(string name) => name switch
    {
        "GradientDescent" => new GradientDescent(0.05),
        "Momentum" => new Momentum(0.05, beta: 0.9, biasCorrection: true),
        "RmsProp" => new RmsProp(0.005),
        _ => new Adam(0.01),
    };

    // 4 × 4 "images", 3 classes.
    internal static DataSet<float> Images(int m, int seed)
    {
        var r = new RandomSource(seed);
        var x = new Tensor<float>(m, 16);
        var labels = new int[m];
        for (int i = 0; i < m; i++)
        {
            labels[i] = r.NextInt(3);
            for (int j = 0; j < 16; j++)
            {
                x[i, j] = (float)(r.NextGaussian() + (j % 3 == labels[i] ? 1.5 : 0));
            }
        }

        return DataSet.FromLabels(x, labels, 3);
    }

    internal static Model<float> NewModel(int seed) =>
        Model.Sequential<float>(16).Dense(24).BatchNorm().ReLU().Dropout(0.8).Dense(12, Activation.Tanh).Dropout(0.9).Dense(3).Softmax().Build(seed: seed);

    private static IDataSource<float> Augmented(DataSet<float> data, int seed) =>
        data.WithAugmentation(seed, new HorizontalFlip<float>(4, 4), new RandomShift<float>(4, 4, maxShift: 1));

    private static TrainingOptions<float> Options(Optimizer optimizer, DataSet<float> dev) => new()
    {
        Optimizer = optimizer,
        Decay = LearningRateDecay.InverseTime(0.5),
        Regularization = Regularization.L2(0.01),
        Epochs = Epochs,
        BatchSize = 32,
        Shuffle = true,
        Validation = dev,
    };

    private static void OneGemmThread(Action action)
    {
        Gemm.ThreadsOverride = 1;
        try
        {
            action();
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }
    }

    private static void ShouldBeIdentical(Model<float> actual, Model<float> expected)
    {
        var a = actual.CaptureState().Tensors;
        var e = expected.CaptureState().Tensors;
        a.Should().HaveCount(e.Count);
        for (int i = 0; i < a.Count; i++)
        {
            a[i].ToArray().Select(BitConverter.SingleToInt32Bits).Should().Equal(e[i].ToArray().Select(BitConverter.SingleToInt32Bits), $"tensor {i} must match bit for bit");
        }
    }

    [Theory]
    [MemberData(nameof(OptimizerNames))]
    public void A_run_killed_after_epoch_3_and_resumed_matches_an_uninterrupted_run_bit_for_bit(string optimizerName)
    {
        OneGemmThread(() =>
        {
            var train = Images(150, seed: 1);
            var dev = Images(40, seed: 2);

            var whole = NewModel(seed: 7);
            var wholeOptimizer = NewOptimizer(optimizerName);
            var expected = whole.Fit(Augmented(train, seed: 3), Options(wholeOptimizer, dev));

            // A run that dies at the end of epoch 4, before its checkpoint: the file holds epoch 3.
            string path = Path.Combine(_dir, $"{optimizerName}.ckpt");
            var crashed = NewModel(seed: 7);
            var options = Options(NewOptimizer(optimizerName), dev);
            options.Checkpoint = new CheckpointOptions(path);
            options.Callbacks.Add(new LambdaCallback((c, r) =>
            {
                if (r.Epoch == 4)
                {
                    throw new IOException("simulated crash");
                }
            }));
            crashed.Invoking(m => m.Fit(Augmented(train, seed: 3), options)).Should().Throw<IOException>();

            // A new process: fresh model, optimizer and augmentation with other seeds; the checkpoint restores them all.
            var resumed = NewModel(seed: 99);
            var resumedOptimizer = NewOptimizer(optimizerName);
            var resumeOptions = Options(resumedOptimizer, dev);
            resumeOptions.ResumeFrom = path;
            var history = resumed.Fit(Augmented(train, seed: 42), resumeOptions);

            ShouldBeIdentical(resumed, whole);
            history.SameValuesAs(expected).Should().BeTrue("the resumed history holds epochs 1–3 from the checkpoint and 4–6 trained again");
            history.Epochs.Select(e => e.Epoch).Should().Equal(1, 2, 3, 4, 5, 6);
            resumedOptimizer.StepCount.Should().Be(wholeOptimizer.StepCount);
            resumedOptimizer.LearningRate.Should().Be(wholeOptimizer.LearningRate);
        });
    }

    [Fact]
    public void A_run_stopped_by_a_callback_resumes_exactly_and_a_finished_checkpoint_trains_no_more()
    {
        OneGemmThread(() =>
        {
            var train = Images(100, seed: 4);
            var dev = Images(30, seed: 5);
            var whole = NewModel(seed: 1);
            whole.Fit(Augmented(train, seed: 6), Options(new Adam(0.01), dev));

            string path = Path.Combine(_dir, "stopped.ckpt");
            var stopped = NewModel(seed: 1);
            var options = Options(new Adam(0.01), dev);
            options.Checkpoint = new CheckpointOptions(path, everyEpochs: 5); // also written when a callback stops training
            options.Callbacks.Add(new LambdaCallback((c, r) =>
            {
                if (r.Epoch == 2)
                {
                    c.Stop("paused");
                }
            }));
            stopped.Fit(Augmented(train, seed: 6), options).Count.Should().Be(2);

            var resumed = NewModel(seed: 1);
            var again = Options(new Adam(0.01), dev);
            again.ResumeFrom = path;
            again.Checkpoint = new CheckpointOptions(path);
            resumed.Fit(Augmented(train, seed: 6), again).Count.Should().Be(Epochs);
            ShouldBeIdentical(resumed, whole);

            // Rerunning the same program once the run is complete changes nothing.
            var before = resumed.CaptureState();
            var rerun = Options(new Adam(0.01), dev);
            rerun.ResumeFrom = path;
            resumed.Fit(Augmented(train, seed: 6), rerun).Count.Should().Be(Epochs);
            resumed.CaptureState().Tensors.Zip(before.Tensors).Should().OnlyContain(p => p.First.Equals(p.Second));
        });
    }

    [Fact]
    public void Early_stopping_gets_its_best_epoch_and_weights_back_so_the_resumed_run_ends_the_same()
    {
        OneGemmThread(() =>
        {
            var train = Images(150, seed: 1);
            var dev = Images(40, seed: 2);

            // Patience longer than the run: at the end the best epoch's weights are put back.
            var wholeStopper = new EarlyStopping(patience: 50, restoreBestWeights: true, monitor: EarlyStoppingMonitor.DevCost);
            var whole = NewModel(seed: 7);
            var wholeOptions = Options(new GradientDescent(0.5), dev);
            wholeOptions.Decay = null;
            wholeOptions.Callbacks.Add(wholeStopper);
            whole.Fit(Augmented(train, seed: 3), wholeOptions);

            string path = Path.Combine(_dir, "early.ckpt");
            var crashed = NewModel(seed: 7);
            var options = Options(new GradientDescent(0.5), dev);
            options.Decay = null;
            options.Checkpoint = new CheckpointOptions(path);
            options.Callbacks.Add(new EarlyStopping(patience: 50, restoreBestWeights: true, monitor: EarlyStoppingMonitor.DevCost));
            options.Callbacks.Add(new LambdaCallback((c, r) =>
            {
                if (r.Epoch == 4)
                {
                    throw new IOException("simulated crash");
                }
            }));
            crashed.Invoking(m => m.Fit(Augmented(train, seed: 3), options)).Should().Throw<IOException>();

            var resumedStopper = new EarlyStopping(patience: 50, restoreBestWeights: true, monitor: EarlyStoppingMonitor.DevCost);
            var resumed = NewModel(seed: 7);
            var again = Options(new GradientDescent(0.5), dev);
            again.Decay = null;
            again.ResumeFrom = path;
            again.Callbacks.Add(resumedStopper);
            resumed.Fit(Augmented(train, seed: 3), again);

            wholeStopper.BestEpoch.Should().BeLessThanOrEqualTo(3, "the best weights must come from the checkpoint for this test to bite");
            resumedStopper.BestEpoch.Should().Be(wholeStopper.BestEpoch);
            ShouldBeIdentical(resumed, whole);

            // Its state is read as hostile text too.
            var file = ModelFile.Read<float>(path);
            var metadata = file.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
            metadata["callback.0.state"] = "2 x 0";
            string bad = Path.Combine(_dir, "bad-early.ckpt");
            ModelFile.Write(bad, file.Tensors.Select(kv => (kv.Key, kv.Value)).ToList(), metadata);
            var tampered = Options(new GradientDescent(0.5), dev);
            tampered.ResumeFrom = bad;
            tampered.Callbacks.Add(new EarlyStopping());
            NewModel(seed: 7).Invoking(m => m.Fit(Augmented(train, seed: 3), tampered))
                .Should().Throw<InvalidDataException>().WithMessage("*callback 0: the EarlyStopping state \"2 x 0\" is not*");

            // Resumed without the callback, its saved state (best epoch and weights) would be dropped and the run end
            // otherwise: refused as another setup (it was left aside before). A weight tensor no saved callback owns is an edited file.
            var without = Options(new GradientDescent(0.5), dev);
            without.Decay = null;
            without.ResumeFrom = path;
            NewModel(seed: 7).Invoking(m => m.Fit(Augmented(train, seed: 3), without)).Should().Throw<InvalidDataException>()
                .WithMessage("*early.ckpt*it holds the state of the EarlyStopping at Callbacks[0], but this run lists 0 callback(s)*");
            var extra = file.Tensors.Select(kv => (kv.Key, kv.Value)).ToList();
            extra.Add(("callback.0.weights.99", new Tensor<float>(2)));
            ModelFile.Write(bad, extra, file.Metadata);
            var stray = Options(new GradientDescent(0.5), dev);
            stray.Decay = null;
            stray.ResumeFrom = bad;
            stray.Callbacks.Add(new EarlyStopping(patience: 50, restoreBestWeights: true, monitor: EarlyStoppingMonitor.DevCost));
            NewModel(seed: 7).Invoking(m => m.Fit(Augmented(train, seed: 3), stray))
                .Should().Throw<InvalidDataException>().WithMessage("*tensor 'callback.0.weights.99' belongs to no saved callback state*");
        });
    }

    [Fact]
    public void A_Checkpoint_callback_listed_before_EarlyStopping_saves_its_state_after_the_epoch_so_every_resume_ends_the_same()
    {
        OneGemmThread(() =>
        {
            var train = Images(150, seed: 1);
            var dev = Images(40, seed: 2);
            TrainingOptions<float> Run(string pattern)
            {
                var options = Options(new Adam(0.05), dev);
                options.Decay = null;
                options.Epochs = 30;
                options.Callbacks.Add(new Checkpoint(pattern));
                options.Callbacks.Add(new EarlyStopping(patience: 2, restoreBestWeights: true, monitor: EarlyStoppingMonitor.DevCost));
                return options;
            }

            var whole = NewModel(seed: 7);
            var wholeHistory = whole.Fit(train, Run(Path.Combine(_dir, "order-{epoch}.ckpt")));
            int ran = wholeHistory.Epochs.Count;
            ran.Should().BeLessThan(30, "early stopping must fire for this test to bite");
            for (int k = 1; k < ran; k++)
            {
                var resumed = NewModel(seed: 7);
                var options = Run(Path.Combine(_dir, $"again-{k}-{{epoch}}.ckpt"));
                options.ResumeFrom = Path.Combine(_dir, $"order-{k}.ckpt");
                var history = resumed.Fit(train, options);
                history.Epochs.Count.Should().Be(ran, $"resumed after epoch {k}");
                history.StopReason.Should().Be(wholeHistory.StopReason);
                ShouldBeIdentical(resumed, whole);
            }
        });
    }

    [Fact]
    public void Early_stopping_settings_must_match_the_checkpoints_and_the_resumed_history_names_the_same_monitor_and_best_epoch()
    {
        OneGemmThread(() =>
        {
            var train = Images(150, seed: 1);
            var dev = Images(40, seed: 2);
            TrainingOptions<float> Run(EarlyStopping stopper)
            {
                var options = Options(new Adam(0.05), dev);
                options.Decay = null;
                options.Epochs = 8;
                options.Callbacks.Add(stopper);
                return options;
            }

            var wholeOptions = Run(new EarlyStopping(patience: 20, restoreBestWeights: true, monitor: EarlyStoppingMonitor.DevMetric));
            wholeOptions.Checkpoint = new CheckpointOptions(Path.Combine(_dir, "monitor-{epoch}.ckpt"));
            var whole = NewModel(seed: 7);
            var wholeHistory = whole.Fit(train, wholeOptions);
            string fromEpoch4 = Path.Combine(_dir, "monitor-4.ckpt");

            var resumedOptions = Run(new EarlyStopping(patience: 20, restoreBestWeights: true, monitor: EarlyStoppingMonitor.DevMetric));
            resumedOptions.ResumeFrom = fromEpoch4;
            var resumed = NewModel(seed: 7);
            var history = resumed.Fit(train, resumedOptions);
            history.Monitor.Should().Be(wholeHistory.Monitor).And.Be("dev accuracy");
            history.BestEpoch!.Epoch.Should().Be(wholeHistory.BestEpoch!.Epoch);
            ShouldBeIdentical(resumed, whole);

            foreach (var other in new[]
            {
                new EarlyStopping(patience: 20, restoreBestWeights: true, monitor: EarlyStoppingMonitor.TrainCost),
                new EarlyStopping(patience: 20, restoreBestWeights: false, monitor: EarlyStoppingMonitor.DevMetric),
            })
            {
                var options = Run(other);
                options.ResumeFrom = fromEpoch4;
                NewModel(seed: 7).Invoking(m => m.Fit(train, options)).Should().Throw<InvalidDataException>()
                    .WithMessage("*callback 0: the checkpoint's EarlyStopping watched DevMetric with restoreBestWeights = True, but this one watches*resume with the same settings*");
            }
        });
    }

    [Fact]
    public void Early_stopping_resumed_without_the_dev_set_it_watched_is_refused_and_SaveCheckpoint_writes_at_once()
    {
        OneGemmThread(() =>
        {
            var train = Images(150, seed: 1);
            var dev = Images(40, seed: 2);
            string path = Path.Combine(_dir, "auto.ckpt");
            bool existedInCallback = false;
            var options = Options(new Adam(0.05), dev);
            options.Epochs = 3;
            options.Callbacks.Add(new EarlyStopping(patience: 20));
            options.Callbacks.Add(new LambdaCallback((c, r) =>
            {
                c.SaveCheckpoint(path);
                existedInCallback = File.Exists(path);
            }));
            NewModel(seed: 7).Fit(train, options);
            existedInCallback.Should().BeTrue("TrainingContext.SaveCheckpoint writes before it returns");

            // Auto watched the dev cost; without a dev set it would watch the training cost against the saved dev best.
            var again = Options(new Adam(0.05), dev);
            again.Validation = null;
            again.Epochs = 6;
            again.ResumeFrom = path;
            again.Callbacks.Add(new EarlyStopping(patience: 20));
            NewModel(seed: 7).Invoking(m => m.Fit(train, again)).Should().Throw<InvalidDataException>()
                .WithMessage("*callback 0: the checkpoint's EarlyStopping watched the dev cost, but this run would give it the cost (is the validation data missing?)*");
        });
    }

    [Fact]
    public void Resuming_on_data_whose_class_names_differ_from_the_checkpoints_is_refused()
    {
        var plain = Images(60, seed: 1);
        var named = new DataSet<float>(plain.X, plain.Y, plain.Labels, 3, ["cat", "dog", "eel"]);
        var renamed = new DataSet<float>(plain.X, plain.Y, plain.Labels, 3, ["eel", "dog", "cat"]);
        string path = Path.Combine(_dir, "names.ckpt");
        NewModel(seed: 7).Fit(named, new TrainingOptions<float> { Epochs = 2, Checkpoint = new CheckpointOptions(path) });

        var model = NewModel(seed: 7);
        model.Invoking(m => m.Fit(renamed, new TrainingOptions<float> { Epochs = 3, ResumeFrom = path })).Should().Throw<InvalidDataException>()
            .WithMessage("*names.ckpt*trained on classes [cat, dog, eel] but the training data has [eel, dog, cat]*");
        model.ClassNames.Should().BeNull("a refused checkpoint changes nothing");
        NewModel(seed: 7).Fit(named, new TrainingOptions<float> { Epochs = 3, ResumeFrom = path }).Epochs.Count.Should().Be(3);
        NewModel(seed: 7).Fit(plain, new TrainingOptions<float> { Epochs = 3, ResumeFrom = path }).Epochs.Count.Should().Be(3, "data without names is not a contradiction");
    }

    [Fact]
    public void Rerunning_a_run_that_early_stopping_ended_trains_no_more_and_ends_with_the_same_best_weights()
    {
        OneGemmThread(() =>
        {
            var train = Images(120, seed: 8);
            var dev = Images(40, seed: 9);
            string path = Path.Combine(_dir, "early-stopped.ckpt");
            TrainingOptions<float> Run(int patience, bool resume)
            {
                var options = Options(new Adam(0.01), dev);
                options.Decay = null;
                options.Epochs = 40;
                options.Checkpoint = new CheckpointOptions(path);
                options.ResumeFrom = resume ? path : null;
                options.Callbacks.Add(new EarlyStopping(patience));
                return options;
            }

            var first = NewModel(seed: 2);
            var history = first.Fit(train, Run(patience: 1, resume: false));
            history.Count.Should().BeLessThan(40, "early stopping must end this run for the test to bite");
            history.StopReason.Should().StartWith("early stopping");

            // The README's "rerun the same program after a crash", after a run that finished by early stopping.
            var rerun = NewModel(seed: 2);
            var again = rerun.Fit(train, Run(patience: 1, resume: true));
            again.Count.Should().Be(history.Count, "the run was finished: no epoch is trained after the stop");
            again.StopReason.Should().Be(history.StopReason);
            again.BestEpoch!.Epoch.Should().Be(history.BestEpoch!.Epoch);
            ShouldBeIdentical(rerun, first);

            // A larger patience is a decision to train on.
            var longer = NewModel(seed: 2);
            longer.Fit(train, Run(patience: 1000, resume: true)).Count.Should().Be(40);
        });
    }

    [Fact]
    public void A_checkpoint_is_a_model_file_too()
    {
        var train = Images(60, seed: 1);
        var model = NewModel(seed: 3);
        string path = Path.Combine(_dir, "ckpt-{epoch}.safetensors");
        var options = Options(new Momentum(0.05), Images(20, seed: 2));
        options.Epochs = 2;
        options.Checkpoint = new CheckpointOptions(path);
        model.Fit(train, options);
        Directory.GetFiles(_dir).Select(Path.GetFileName).Should().BeEquivalentTo("ckpt-1.safetensors", "ckpt-2.safetensors");
        Model.Load<float>(Path.Combine(_dir, "ckpt-2.safetensors")).Predict(train.X).Should().Be(model.Predict(train.X));
    }

    [Fact]
    public void A_checkpoint_for_another_model_optimizer_source_or_type_is_refused_naming_the_difference()
    {
        var train = Images(60, seed: 1);
        string path = Path.Combine(_dir, "a.ckpt");
        var options = Options(new Adam(0.01), Images(20, seed: 2));
        options.Epochs = 1;
        options.Checkpoint = new CheckpointOptions(path);
        NewModel(seed: 1).Fit(Augmented(train, seed: 1), options);

        TrainingOptions<float> Resuming(Optimizer optimizer) => new() { Optimizer = optimizer, Epochs = 2, ResumeFrom = path };

        var other = Model.Sequential<float>(16).Dense(20).BatchNorm().ReLU().Dropout(0.8).Dense(12, Activation.Tanh).Dropout(0.9).Dense(3).Softmax().Build(seed: 1);
        var before = other.CaptureState();
        other.Invoking(m => m.Fit(Augmented(train, seed: 1), Resuming(new Adam(0.01))))
            .Should().Throw<InvalidDataException>().WithMessage("*not a usable training checkpoint: it was written for another architecture*units*24*this model is*units*20*");
        other.CaptureState().Tensors.Zip(before.Tensors).Should().OnlyContain(p => p.First.Equals(p.Second));

        NewModel(seed: 1).Invoking(m => m.Fit(Augmented(train, seed: 1), Resuming(new RmsProp(0.01))))
            .Should().Throw<InvalidDataException>().WithMessage("*state of Adam(*but the options use RmsProp(*same optimizer*");
        NewModel(seed: 1).Invoking(m => m.Fit(train, Resuming(new Adam(0.01))))
            .Should().Throw<InvalidDataException>().WithMessage("*1 random state(s) of the training data*now has 0*");

        var asDouble = Model.Sequential<double>(16).Dense(24).BatchNorm().ReLU().Dropout(0.8).Dense(12, Activation.Tanh).Dropout(0.9).Dense(3).Softmax().Build(seed: 1);
        var doubleTrain = new DataSet<double>(train.X.ConvertTo<double>(), train.Y.ConvertTo<double>());
        asDouble.Invoking(m => m.Fit(doubleTrain, new TrainingOptions<double> { Epochs = 2, ResumeFrom = path }))
            .Should().Throw<InvalidDataException>().WithMessage("*Single training state but the model is Model<Double>*");

        string plain = Path.Combine(_dir, "plain.safetensors");
        NewModel(seed: 1).Save(plain);
        var fromPlain = Resuming(new Adam(0.01));
        fromPlain.ResumeFrom = plain;
        NewModel(seed: 1).Invoking(m => m.Fit(train, fromPlain)).Should().Throw<InvalidDataException>().WithMessage("*model file without training state*");
        var fromMissing = Resuming(new Adam(0.01));
        fromMissing.ResumeFrom = Path.Combine(_dir, "missing.ckpt");
        NewModel(seed: 1).Invoking(m => m.Fit(train, fromMissing)).Should().Throw<FileNotFoundException>();
    }

    [Fact]
    public void A_tampered_checkpoint_is_refused_before_anything_changes()
    {
        var train = Images(60, seed: 1);
        string path = Path.Combine(_dir, "good.ckpt");
        var options = Options(new Adam(0.01), Images(20, seed: 2));
        options.Epochs = 2;
        options.Checkpoint = new CheckpointOptions(path);
        NewModel(seed: 1).Fit(train, options);
        var good = ModelFile.Read<float>(path);

        var cases = new (string Expected, Func<Dictionary<string, Tensor<float>>, Dictionary<string, string>, bool> Mutate)[]
        {
            ("*'random.shuffle'*64 hex digits*", (t, m) => { m["random.shuffle"] = "xyz"; return true; }),
            ("*'random.dropout.3'*four zero words*", (t, m) => { m["random.dropout.3"] = new string('0', 64); return true; }),
            ("*'random.model' is missing*", (t, m) => m.Remove("random.model")),
            ("*'epoch' must be an integer*", (t, m) => { m["epoch"] = "-1"; return true; }),
            ("*history holds 2 epochs but it was written after epoch 5*", (t, m) => { m["epoch"] = "5"; return true; }),
            ("*history is malformed*", (t, m) => { m["history"] = "[[\"1\"]]"; return true; }),
            ("*history is malformed*", (t, m) => { m["history_iterations"] = "!!"; return true; }),
            ("*'learning_rate' must be a positive finite number*", (t, m) => { m["learning_rate"] = "Infinity"; return true; }),
            ("*'optimizer_step' must be an integer*", (t, m) => { m["optimizer_step"] = "1e3"; return true; }),
            ("*version '2' is not supported*", (t, m) => { m["checkpoint"] = "2"; return true; }),
            ("*architecture metadata is malformed*", (t, m) => { m["architecture"] = "{\"layers\": 5}"; return true; }),
            ("*architecture metadata is malformed*'inputs'*", (t, m) => { m["architecture"] = "{\"inputs\":16," + m["architecture"][1..]; return true; }),
            ("*architecture metadata is malformed*'units'*", (t, m) => { m["architecture"] = m["architecture"].Replace("\"settings\":{", "\"settings\":{\"units\":\"24\",", StringComparison.Ordinal); return true; }),
            ("*tensor '1.running_var' holds -4 at index 2; a running variance must be ≥ 0*", (t, m) => { t["1.running_var"].Span[2] = -4; return true; }),
            ("*tensor '0.weight' holds NaN at index 3*", (t, m) => { t["0.weight"].Span[3] = float.NaN; return true; }),
            ("*tensor 'optimizer.0.weight.v' holds Infinity*", (t, m) => { t["optimizer.0.weight.v"].Span[0] = float.PositiveInfinity; return true; }),
            ("*tensor '1.running_var' is missing*", (t, m) => t.Remove("1.running_var")),
            ("*tensor 'stray' belongs to no layer*", (t, m) => { t["stray"] = new Tensor<float>(2); return true; }),
            ("*optimizer state does not fit*incomplete*", (t, m) => t.Remove("optimizer.0.weight.s")),
            ("*optimizer state does not fit*\"t\"*", (t, m) => t.Remove("optimizer.t")),
            ("*optimizer_step (7) and tensor 'optimizer.t' (*) disagree*", (t, m) => { m["optimizer_step"] = "7"; return true; }),
            ("*history's metric is 'rmse' but this model's is 'accuracy'*", (t, m) => { m["history_metric"] = "rmse"; return true; }),
            ("*tensor 'callback.3.weights.0' belongs to no saved callback state*", (t, m) => { t["callback.3.weights.0"] = new Tensor<float>(2); return true; }),
        };
        foreach (var (expected, mutate) in cases)
        {
            var tensors = good.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
            var metadata = good.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
            mutate(tensors, metadata).Should().BeTrue();
            string bad = Path.Combine(_dir, "bad.ckpt");
            ModelFile.Write(bad, tensors.Select(kv => (kv.Key, kv.Value)).ToList(), metadata);

            var model = NewModel(seed: 5);
            var optimizer = new Adam(0.01);
            var before = model.CaptureState();
            var resume = Options(optimizer, Images(20, seed: 2));
            resume.ResumeFrom = bad;
            model.Invoking(m => m.Fit(train, resume)).Should().Throw<InvalidDataException>(expected).WithMessage(expected);
            model.CaptureState().Tensors.Zip(before.Tensors).Should().OnlyContain(p => p.First.Equals(p.Second), expected);
            optimizer.StepCount.Should().Be(0, expected);
        }
    }

    [Fact]
    public void A_regression_resumed_under_early_stopping_on_its_dev_metric_ends_as_the_uninterrupted_run_does()
    {
        // The history of a regression ranks by rmse, lower is better; a resumed run read it back as higher-is-better
        // and early stopping then kept the worst epoch.
        OneGemmThread(() =>
        {
            static DataSet<float> Data(int m, int seed)
            {
                var r = new RandomSource(seed);
                var x = new Tensor<float>(m, 4);
                var y = new Tensor<float>(m, 1);
                for (int i = 0; i < m; i++)
                {
                    for (int j = 0; j < 4; j++)
                    {
                        x[i, j] = (float)r.NextGaussian();
                    }

                    y[i, 0] = (2 * x[i, 0]) - x[i, 1] + (0.5f * x[i, 2] * x[i, 3]) + (float)(0.1 * r.NextGaussian());
                }

                return DataSet.FromTargets(x, y);
            }

            var train = Data(120, seed: 1);
            var dev = Data(40, seed: 2);
            static Model<float> Regression() => Model.Sequential<float>(4).Dense(8).ReLU().Dense(1).Build(seed: 3);
            TrainingOptions<float> Run(EarlyStopping stopper, int epochs) => new()
            {
                Optimizer = new Adam(0.01),
                Epochs = epochs,
                BatchSize = 16,
                Validation = dev,
                Callbacks = { stopper },
            };

            var whole = Regression();
            var wholeStopper = new EarlyStopping(patience: 3, monitor: EarlyStoppingMonitor.DevMetric);
            var wholeHistory = whole.Fit(train, Run(wholeStopper, 30));

            string path = Path.Combine(_dir, "regression.ckpt");
            var first = Regression();
            var firstOptions = Run(new EarlyStopping(patience: 3, monitor: EarlyStoppingMonitor.DevMetric), 5);
            firstOptions.Checkpoint = new CheckpointOptions(path);
            first.Fit(train, firstOptions);

            var resumed = Regression();
            var resumedStopper = new EarlyStopping(patience: 3, monitor: EarlyStoppingMonitor.DevMetric);
            var again = Run(resumedStopper, 30);
            again.ResumeFrom = path;
            var resumedHistory = resumed.Fit(train, again);

            wholeHistory.HigherIsBetter.Should().BeFalse();
            resumedHistory.HigherIsBetter.Should().BeFalse();
            resumedHistory.Count.Should().Be(wholeHistory.Count);
            resumedStopper.BestEpoch.Should().Be(wholeStopper.BestEpoch);
            ShouldBeIdentical(resumed, whole);

            // A classifier's checkpoint is refused by a regression (its metric is accuracy), naming both.
            string classifierPath = Path.Combine(_dir, "classifier.ckpt");
            var file = ModelFile.Read<float>(path);
            var metadata = file.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
            metadata["history_metric"] = "accuracy";
            ModelFile.Write(classifierPath, file.Tensors.Select(kv => (kv.Key, kv.Value)).ToList(), metadata);
            var refused = Run(new EarlyStopping(patience: 3, monitor: EarlyStoppingMonitor.DevMetric), 30);
            refused.ResumeFrom = classifierPath;
            Regression().Invoking(m => m.Fit(train, refused)).Should().Throw<InvalidDataException>()
                .WithMessage("*history's metric is 'accuracy' but this model's is 'rmse'*");
        });
    }
}
