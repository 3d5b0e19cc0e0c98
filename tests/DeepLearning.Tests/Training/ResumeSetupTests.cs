using System.Globalization;
using System.Text.Json.Nodes;
using DeepLearning.Kernels;

namespace DeepLearning.Tests.Training;

/// <summary>
/// A checkpoint's history and early-stopping state hold only values a run can record, a resume must use the setup the
/// checkpoint was written with (batch size, optimizer settings, decay, stateful callbacks at their positions), and a
/// resumed history names the monitor and best epoch the uninterrupted run's does; whatever is refused is refused before
/// anything changes.
/// </summary>
public sealed class ResumeSetupTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-resume-setup-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly DataSet<float> _train = Images(150, seed: 1);
    private static readonly DataSet<float> _dev = Images(40, seed: 2);

    // The data and network of ResumeTests.
    private static DataSet<float> Images(int m, int seed) => ResumeTests.Images(m, seed);

    private static Model<float> NewModel(int seed) => ResumeTests.NewModel(seed);

    private static TrainingOptions<float> Options(int epochs, Optimizer? optimizer = null) => new()
    {
        Optimizer = optimizer ?? new Adam(0.01),
        Decay = LearningRateDecay.InverseTime(0.5),
        Epochs = epochs,
        BatchSize = 32,
        Validation = _dev,
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

    private static bool SameWeights(Model<float> a, Model<float> b) =>
        a.CaptureState().Tensors.Zip(b.CaptureState().Tensors).All(p => p.First.ToArray().Select(BitConverter.SingleToInt32Bits).SequenceEqual(p.Second.ToArray().Select(BitConverter.SingleToInt32Bits)));

    /// <summary>A checkpoint after 3 epochs (with an early stopping at Callbacks[0] when asked).</summary>
    private string Checkpoint(bool earlyStopping = false)
    {
        string path = Path.Combine(_dir, earlyStopping ? "base-es.ckpt" : "base.ckpt");
        if (!File.Exists(path))
        {
            var options = Options(epochs: 3);
            options.Checkpoint = new CheckpointOptions(path);
            if (earlyStopping)
            {
                options.Callbacks.Add(new EarlyStopping(patience: 5));
            }

            NewModel(seed: 7).Fit(_train, options);
        }

        return path;
    }

    private string Edited(string path, Action<Dictionary<string, string>> mutate)
    {
        var file = ModelFile.Read<float>(path);
        var metadata = file.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        mutate(metadata);
        string edited = Path.Combine(_dir, "edited.ckpt");
        ModelFile.Write(edited, file.Tensors.Select(kv => (kv.Key, kv.Value)).ToList(), metadata);
        return edited;
    }

    private static void EditHistory(Dictionary<string, string> metadata, Action<JsonArray> edit)
    {
        var history = JsonNode.Parse(metadata["history"])!.AsArray();
        edit(history);
        metadata["history"] = history.ToJsonString();
    }

    /// <summary>Resuming from <paramref name="path"/> with <paramref name="options"/> must be refused, naming the file, with the model and optimizer unchanged.</summary>
    private static void ShouldBeRefused(string path, TrainingOptions<float> options, string message)
    {
        var model = NewModel(seed: 5);
        var before = model.CaptureState();
        options.ResumeFrom = path;
        model.Invoking(m => m.Fit(_train, options)).Should().Throw<InvalidDataException>()
            .WithMessage($"'{path}' is not a usable training checkpoint: {message}");
        model.CaptureState().Tensors.Zip(before.Tensors).Should().OnlyContain(p => p.First.Equals(p.Second), "a refused checkpoint changes nothing");
        options.Optimizer.StepCount.Should().Be(0);
        model.Shuffles.Should().BeNull();
    }

    [Theory]
    [InlineData("1,2,9", "*its epoch 3 is numbered '9'*")]
    [InlineData("0,1,2", "*its epoch 1 is numbered '0'*")]
    [InlineData("1,2,03", "*its epoch 3 is numbered '03'*")]
    public void History_epochs_must_be_numbered_1_2_3_in_order(string numbers, string expected)
    {
        // 1,2,9 was accepted, then epoch 4 trained (the weights changed) and adding epoch 4 after 9 threw
        // ArgumentException; 0,1,2 was accepted silently and the history read 0,1,2,4,5,6.
        string[] n = numbers.Split(',');
        string path = Edited(Checkpoint(), m => EditHistory(m, h =>
        {
            for (int i = 0; i < 3; i++)
            {
                h[i]![0] = n[i];
            }
        }));
        ShouldBeRefused(path, Options(epochs: 6), "the history is malformed: " + expected);
    }

    [Theory]
    [InlineData(0, 1, "NaN", "epoch 1's cost is NaN, but a cost is finite and ≥ 0")]
    [InlineData(1, 1, "Infinity", "epoch 2's cost is Infinity, but a cost is finite and ≥ 0")]
    [InlineData(0, 1, "-0.5", "epoch 1's cost is -0.5, but a cost is finite and ≥ 0")]
    [InlineData(0, 1, null, "epoch 1 has no cost")]
    [InlineData(1, 2, "7.5", "epoch 2's accuracy is 7.5, but an accuracy is in [0, 1]")]
    [InlineData(1, 2, "-0.1", "epoch 2's accuracy is -0.1, but an accuracy is in [0, 1]")]
    [InlineData(2, 3, "-Infinity", "epoch 3's dev cost is -Infinity, but a dev cost is ≥ 0 (NaN or +∞ only when a dev prediction overflowed)")]
    [InlineData(2, 3, "-2", "epoch 3's dev cost is -2, but a dev cost is ≥ 0 (NaN or +∞ only when a dev prediction overflowed)")]
    [InlineData(2, 3, null, "epoch 3 has a dev accuracy without a dev cost")]
    [InlineData(2, 4, "1.5", "epoch 3's dev accuracy is 1.5, but an accuracy is in [0, 1]")]
    [InlineData(2, 4, "NaN", "epoch 3's dev accuracy is NaN, but an accuracy is in [0, 1]")]
    public void Impossible_history_values_are_refused(int row, int column, string? value, string expected)
    {
        // Were accepted (NaN/±∞ parsed, a null cost read as NaN, metrics not range-checked); a −∞ dev cost then became
        // the resumed history's best epoch.
        string path = Edited(Checkpoint(), m => EditHistory(m, h => h[row]![column] = value is null ? null : JsonValue.Create(value)));
        ShouldBeRefused(path, Options(epochs: 6), $"the history is malformed: {expected}*");
    }

    [Theory]
    [InlineData(double.NaN, "iteration 2's cost is NaN, but a cost is finite and ≥ 0")]
    [InlineData(double.NegativeInfinity, "iteration 2's cost is -Infinity, but a cost is finite and ≥ 0")]
    [InlineData(-1.0, "iteration 2's cost is -1, but a cost is finite and ≥ 0")]
    public void Impossible_iteration_costs_are_refused(double cost, string expected)
    {
        string path = Edited(Checkpoint(), m =>
        {
            byte[] bytes = Convert.FromBase64String(m["history_iterations"]);
            BitConverter.GetBytes(cost).CopyTo(bytes, 2 * sizeof(double));
            m["history_iterations"] = Convert.ToBase64String(bytes);
        });
        ShouldBeRefused(path, Options(epochs: 6), $"the history is malformed: {expected}*");
    }

    [Fact]
    public void A_regressions_dev_figures_may_be_NaN_or_infinite_as_when_a_dev_prediction_overflowed()
    {
        // What the writer records when a dev prediction overflows while training stays finite is not refused.
        var r = new RandomSource(3);
        var x = new Tensor<float>(40, 3);
        var y = new Tensor<float>(40, 1);
        for (int i = 0; i < 40; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                x[i, j] = (float)r.NextGaussian();
            }

            y[i, 0] = (2 * x[i, 0]) - x[i, 1];
        }

        var data = DataSet.FromTargets(x, y);
        static Model<float> Regression() => Model.Sequential<float>(3).Dense(4).ReLU().Dense(1).Build(seed: 2);
        string path = Path.Combine(_dir, "regression.ckpt");
        Regression().Fit(data, new TrainingOptions<float> { Epochs = 2, Validation = data, Checkpoint = new CheckpointOptions(path) });
        string edited = Edited(path, m => EditHistory(m, h =>
        {
            h[0]![3] = "NaN";
            h[0]![4] = "NaN";
            h[1]![3] = "Infinity";
            h[1]![4] = "Infinity";
        }));
        var history = Regression().Fit(data, new TrainingOptions<float> { Epochs = 3, Validation = data, ResumeFrom = edited });
        history.Count.Should().Be(3);
        double.IsNaN(history.Epochs[0].DevCost!.Value).Should().BeTrue();
        history.BestEpoch!.Epoch.Should().Be(3, "NaN is never best, +∞ is worse than any finite cost");

        string negative = Edited(path, m => EditHistory(m, h => h[1]![3] = "-Infinity"));
        var model = Regression();
        model.Invoking(m => m.Fit(data, new TrainingOptions<float> { Epochs = 3, Validation = data, ResumeFrom = negative })).Should().Throw<InvalidDataException>()
            .WithMessage("*epoch 2's dev cost is -Infinity, but a dev cost is ≥ 0 (NaN or +∞ only when a dev prediction overflowed)*");
    }

    [Theory]
    [InlineData(double.NegativeInfinity, "best value -Infinity is not finite, nor the dev cost its best epoch * recorded (*)")]
    [InlineData(double.PositiveInfinity, "best value Infinity is not finite, nor the dev cost its best epoch * recorded (*)")]
    [InlineData(0.25, "best value 0.25 is not the dev cost its best epoch * recorded (*)")]
    public void Early_stoppings_best_value_must_be_the_best_epochs_recorded_figure(double best, string expected)
    {
        // ±∞ was accepted (only NaN was refused): −∞ is never beaten, so early stopping kept a best epoch forever.
        string path = Edited(Checkpoint(earlyStopping: true), m =>
        {
            var parts = m["callback.0.state"].Split(' ');
            parts[0].Should().NotBe("0");
            parts[2] = BitConverter.DoubleToInt64Bits(best).ToString("x16", CultureInfo.InvariantCulture);
            m["callback.0.state"] = string.Join(' ', parts);
        });
        var options = Options(epochs: 6);
        options.Callbacks.Add(new EarlyStopping(patience: 5));
        ShouldBeRefused(path, options, $"callback 0: the EarlyStopping state's {expected}");
    }

    [Fact]
    public void A_finished_run_rerun_from_its_checkpoint_names_the_same_monitor_and_best_epoch_as_the_uninterrupted_run()
    {
        // The history learned early stopping's monitor only in OnEpochEnd: a rerun with no epoch left named "dev cost"
        // and the lowest dev cost's epoch, not the dev accuracy's best epoch whose weights were restored.
        OneGemmThread(() =>
        {
            string path = Path.Combine(_dir, "finished.ckpt");
            TrainingOptions<float> Run(int patience, int epochs)
            {
                var options = Options(epochs, new Adam(0.05));
                options.Decay = null;
                options.Checkpoint = new CheckpointOptions(path);
                options.Callbacks.Add(new EarlyStopping(patience, restoreBestWeights: true, monitor: EarlyStoppingMonitor.DevMetric));
                return options;
            }

            foreach (var (patience, epochs) in new[] { (50, 8), (1, 40) })
            {
                var whole = NewModel(seed: 1);
                var expected = whole.Fit(_train, Run(patience, epochs));
                expected.Monitor.Should().Be("dev accuracy");
                if (patience == 1)
                {
                    expected.StopReason.Should().StartWith("early stopping", "early stopping must end this run for the case to bite");
                }

                var rerun = NewModel(seed: 1);
                var options = Run(patience, epochs);
                options.ResumeFrom = path;
                var history = rerun.Fit(_train, options);
                history.Count.Should().Be(expected.Count, "no epoch is left to train");
                history.Monitor.Should().Be(expected.Monitor);
                history.BestEpoch!.Epoch.Should().Be(expected.BestEpoch!.Epoch);
                history.StopReason.Should().Be(expected.StopReason);
                SameWeights(rerun, whole).Should().BeTrue();
            }

            // The case bites: ranked by dev cost (what the rerun's history said), the best epoch is another (6, not 2).
            var byCost = NewModel(seed: 1).Fit(_train, Run(50, 8));
            byCost.Best(e => e.DevCost, higherIsBetter: false)!.Epoch.Should().NotBe(byCost.BestEpoch!.Epoch);
        });
    }

    [Fact]
    public void A_partial_resume_names_the_monitor_and_best_epoch_at_once()
    {
        OneGemmThread(() =>
        {
            string pattern = Path.Combine(_dir, "partial-{epoch}.ckpt");
            TrainingOptions<float> Run(int epochs)
            {
                var options = Options(epochs, new Adam(0.05));
                options.Decay = null;
                options.Callbacks.Add(new EarlyStopping(50, restoreBestWeights: true, monitor: EarlyStoppingMonitor.DevMetric));
                return options;
            }

            var first = Run(4);
            first.Checkpoint = new CheckpointOptions(pattern);
            var atFour = NewModel(seed: 7).Fit(_train, first);

            // The same checkpoint resumed with the same number of epochs (none left) and with more.
            var again = Run(4);
            again.ResumeFrom = Path.Combine(_dir, "partial-4.ckpt");
            var rerun = NewModel(seed: 7).Fit(_train, again);
            rerun.Monitor.Should().Be(atFour.Monitor).And.Be("dev accuracy");
            rerun.BestEpoch!.Epoch.Should().Be(atFour.BestEpoch!.Epoch);

            var whole = NewModel(seed: 7);
            var expected = whole.Fit(_train, Run(8));
            var more = Run(8);
            more.ResumeFrom = Path.Combine(_dir, "partial-2.ckpt");
            var resumed = NewModel(seed: 7);
            var history = resumed.Fit(_train, more);
            history.Monitor.Should().Be(expected.Monitor);
            history.BestEpoch!.Epoch.Should().Be(expected.BestEpoch!.Epoch);
            history.SameValuesAs(expected).Should().BeTrue();
            SameWeights(resumed, whole).Should().BeTrue();
        });
    }

    [Fact]
    public void A_resume_with_another_batch_size_decay_or_optimizer_settings_is_refused_naming_both()
    {
        // Were accepted: only the optimizer's class was compared, and the run went on with another setup than the
        // checkpoint's, silently unlike the uninterrupted run.
        string path = Checkpoint();
        var options = Options(epochs: 6);
        options.BatchSize = 7;
        ShouldBeRefused(path, options, "it was trained with BatchSize = 32 but the options have BatchSize = 7*");

        options = Options(epochs: 6);
        options.Decay = null;
        ShouldBeRefused(path, options, "it was trained with decay InverseTime(decayRate=0.5) but the options have no decay*");

        options = Options(epochs: 6);
        options.RecordIterations = !options.RecordIterations;
        ShouldBeRefused(path, options, $"it was trained with RecordIterations = {(!options.RecordIterations ? "true" : "false")} but the options have RecordIterations = {(options.RecordIterations ? "true" : "false")}, so History.IterationCosts would cover only part of the run*");

        options = Options(epochs: 6);
        options.Decay = LearningRateDecay.InverseTime(0.25);
        ShouldBeRefused(path, options, "it was trained with decay InverseTime(decayRate=0.5) but the options have decay InverseTime(decayRate=0.25)*");

        options = Options(epochs: 6, new Adam(0.01, beta1: 0.5, beta2: 0.9));
        ShouldBeRefused(path, options, "it was trained with Adam(β1=0.9, β2=0.999, ε=1e-08) but the options use Adam(β1=0.5, β2=0.9, ε=1e-08) (α aside*");

        // α is not compared: α and α0 are the checkpoint's.
        options = Options(epochs: 4, new Adam(0.02));
        options.ResumeFrom = path;
        NewModel(seed: 5).Fit(_train, options).Count.Should().Be(4);
        options.Optimizer.LearningRate.Should().Be(0.02);

        string momentum = Path.Combine(_dir, "momentum.ckpt");
        var first = Options(epochs: 2, new Momentum(0.05, beta: 0.9, biasCorrection: true));
        first.Checkpoint = new CheckpointOptions(momentum);
        NewModel(seed: 7).Fit(_train, first);
        ShouldBeRefused(momentum, Options(epochs: 4, new Momentum(0.05, beta: 0.9)), "it was trained with Momentum(β=0.9, bias correction) but the options use Momentum(β=0.9)*");
    }

    [Fact]
    public void A_resume_with_shuffling_switched_or_another_weight_penalty_is_refused_naming_both()
    {
        // Were accepted: the resumed run read its batches in file order, or trained another objective, unlike the
        // uninterrupted run.
        string path = Checkpoint();
        var options = Options(epochs: 6);
        options.Shuffle = false;
        ShouldBeRefused(path, options, "it was trained with Shuffle = true but the options have Shuffle = false*");

        options = Options(epochs: 6);
        options.Regularization = Regularization.L2(0.1);
        ShouldBeRefused(path, options, "it continues with regularization None but this run would train with L2(0.1)*");

        // The model's own penalty counts when the options leave it unset.
        var penalized = NewModel(seed: 5);
        penalized.Regularizer = Regularization.L1(0.5);
        options = Options(epochs: 6);
        options.ResumeFrom = path;
        var act = () => penalized.Fit(_train, options);
        act.Should().Throw<InvalidDataException>().WithMessage("*it continues with regularization None but this run would train with L1(0.5)*");
        penalized.Regularizer.Name.Should().Be("L1(0.5)");
    }

    [Fact]
    public void A_penalty_a_callback_set_is_the_one_a_resume_must_train_with_and_then_continues_exactly()
    {
        OneGemmThread(() =>
        {
            // The callback anneals λ after epoch 2: the next epochs train with L2(0.05), and the checkpoint after epoch 3
            // records that, not the model's L2(0.2) it started with.
            TrainingOptions<float> Run(int epochs, bool anneal)
            {
                var options = Options(epochs);
                options.Regularization = Regularization.L2(anneal ? 0.2 : 0.05);
                if (anneal)
                {
                    options.Callbacks.Add(new LambdaCallback((c, r) =>
                    {
                        if (r.Epoch == 2)
                        {
                            ((TrainingOptions<float>)c.Options).Regularization = Regularization.L2(0.05);
                        }
                    }));
                }

                return options;
            }

            var whole = NewModel(seed: 7);
            var expected = whole.Fit(_train, Run(6, anneal: true));

            string path = Path.Combine(_dir, "annealed.ckpt");
            var first = Run(3, anneal: true);
            first.Checkpoint = new CheckpointOptions(path);
            NewModel(seed: 7).Fit(_train, first);

            // The penalty the run started with is not the one it continues with.
            var stale = Run(6, anneal: false);
            stale.Regularization = Regularization.L2(0.2);
            ShouldBeRefused(path, stale, "it continues with regularization L2(0.05) but this run would train with L2(0.2)*");

            var options = Run(6, anneal: false);
            options.ResumeFrom = path;
            var resumed = NewModel(seed: 9);
            resumed.Fit(_train, options).SameValuesAs(expected).Should().BeTrue();
            SameWeights(resumed, whole).Should().BeTrue();
        });
    }

    [Fact]
    public void A_saved_callback_state_nothing_takes_or_a_stateful_callback_without_one_is_refused()
    {
        // Early stopping moved behind another callback: its saved state (best epoch, weights, epochs waited) was dropped.
        string path = Checkpoint(earlyStopping: true);
        var moved = Options(epochs: 6);
        moved.Callbacks.Add(new LambdaCallback((c, r) => { }));
        moved.Callbacks.Add(new EarlyStopping(patience: 5));
        ShouldBeRefused(path, moved, "it holds the state of the EarlyStopping at Callbacks[0], but this run lists a LambdaCallback there, which keeps none*");

        ShouldBeRefused(path, Options(epochs: 6), "it holds the state of the EarlyStopping at Callbacks[0], but this run lists 0 callback(s)*");

        var added = Options(epochs: 6);
        added.Callbacks.Add(new EarlyStopping(patience: 5));
        added.Callbacks.Add(new EarlyStopping(patience: 5));
        ShouldBeRefused(path, added, "Callbacks[1] is a EarlyStopping, but the run it continues had none there*");

        var fresh = Options(epochs: 6);
        fresh.Callbacks.Add(new EarlyStopping(patience: 5));
        ShouldBeRefused(Checkpoint(), fresh, "Callbacks[0] is a EarlyStopping, but the run it continues had none there*");

        // The list of saved states is checked against the states held.
        ShouldBeRefused(Edited(path, m => m["callback_states"] = "0,1"), Options(epochs: 6), "its callback_states '0,1' do not match the callback states it holds (0)");
        ShouldBeRefused(Edited(path, m => m.Remove("callback.0.kind")), Options(epochs: 6), "the metadata entry 'callback.0.state' has no 'kind' beside it");
        ShouldBeRefused(Edited(path, m => m["callback.00.kind"] = "EarlyStopping"), Options(epochs: 6), "the metadata entry 'callback.00.kind' is not a callback's kind or state");
    }

    [Fact]
    public void A_checkpoint_written_before_the_setup_was_recorded_still_resumes_exactly()
    {
        OneGemmThread(() =>
        {
            TrainingOptions<float> Run()
            {
                var options = Options(epochs: 6);
                options.Callbacks.Add(new EarlyStopping(patience: 5));
                return options;
            }

            var whole = NewModel(seed: 7);
            var expected = whole.Fit(_train, Run());
            string old = Edited(Checkpoint(earlyStopping: true), m =>
            {
                foreach (string key in new[] { "batch_size", "decay", "optimizer_settings", "callback_states", "shuffle", "regularization", "validation_split", "validation_split_seed" })
                {
                    m.Remove(key).Should().BeTrue(key);
                }
            });
            var options = Run();
            options.ResumeFrom = old;
            var resumed = NewModel(seed: 9);
            resumed.Fit(_train, options).SameValuesAs(expected).Should().BeTrue();
            SameWeights(resumed, whole).Should().BeTrue();
        });
    }
}
