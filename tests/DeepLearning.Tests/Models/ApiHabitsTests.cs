namespace DeepLearning.Tests.Models;

/// <summary>Issue 12: builder bias rule (12.4), Fit(x, y), initializers that port, summary, console progress, plots of the library's objects.</summary>
public class ApiHabitsTests
{
    [Fact]
    public void Only_a_linear_dense_immediately_before_batch_norm_drops_its_bias()
    {
        static bool[] Biases(ModelBuilder<float> b) => b.Build(seed: 1).Layers.OfType<Dense<float>>().Select(d => d.UseBias).ToArray();

        Biases(Model.Sequential<float>(3).Dense(4).BatchNorm().ReLU().Dense(1)).Should().Equal(false, true);
        Biases(Model.Sequential<float>(3).Dense(4, Activation.ReLU).BatchNorm().Dense(1)).Should().Equal([true, true], "BatchNorm after the ReLU cannot absorb b");
        Biases(Model.Sequential<float>(3).Dense(4).ReLU().BatchNorm().Dense(1)).Should().Equal(true, true);
        Biases(Model.Sequential<float>(3).Dense(4).Dropout(0.5).BatchNorm().Dense(1)).Should().Equal([true, true], "dropout sits between them");
        Biases(Model.Sequential<float>(3).Dense(4, useBias: true).BatchNorm().Dense(1)).Should().Equal(true, true);
    }

    [Fact]
    public void A_bias_initializer_for_a_dense_layer_without_a_bias_is_refused_not_ignored()
    {
        // Written to reproduce nn.Linear + nn.BatchNorm1d, whose Linear has a bias: the builder dropped b (a linear Dense
        // before BatchNorm) and ignored biasInit without a word, so the model had no "0.bias" to load PyTorch's into.
        var beforeBatchNorm = () => Model.Sequential<float>(3).Dense(4, init: Init.PyTorchLinear, biasInit: Init.PyTorchLinear).BatchNorm().ReLU().Dense(1).Build(seed: 1);
        beforeBatchNorm.Should().Throw<InvalidOperationException>().WithMessage("Dense layer 0 was given biasInit PyTorchLinear, but a linear Dense before BatchNorm has no bias by default; pass useBias: true*");

        var contradictory = () => Model.Sequential<float>(3).Dense(4, useBias: false, biasInit: Init.PyTorchLinear);
        contradictory.Should().Throw<ArgumentException>().WithMessage("biasInit PyTorchLinear was given for a Dense layer without a bias (useBias: false)*").Which.ParamName.Should().Be("biasInit");

        // With useBias: true the bias is kept and drawn; Zeros is what no bias amounts to, so it stays accepted.
        var kept = (Dense<float>)Model.Sequential<float>(3).Dense(4, useBias: true, biasInit: Init.PyTorchLinear).BatchNorm().Dense(1).Build(seed: 1).Layers[0];
        kept.Bias!.Value.ToArray().Should().Contain(v => v != 0);
        Model.Sequential<float>(3).Dense(4, biasInit: Init.Zeros).BatchNorm().Dense(1).Build(seed: 1).Layers.OfType<Dense<float>>().First().UseBias.Should().BeFalse();
        Model.Sequential<float>(3).Dense(4, useBias: false, biasInit: Init.Zeros).Dense(1).Build(seed: 1).Layers.OfType<Dense<float>>().First().UseBias.Should().BeFalse();
    }

    [Fact]
    public void Fit_on_tensors_equals_fit_on_a_data_set()
    {
        var (x, y) = TestData.Problem<float>(100, 4, 3, "softmax", seed: 2);
        var options = () => new TrainingOptions<float> { Epochs = 3, BatchSize = 16 };
        var a = Model.Sequential<float>(4).Dense(8).ReLU().Dense(3).Softmax().Build(seed: 6);
        var b = Model.Sequential<float>(4).Dense(8).ReLU().Dense(3).Softmax().Build(seed: 6);
        a.Fit(x, y, options()).SameValuesAs(b.Fit(DataSet.FromTargets(x, y), options())).Should().BeTrue();
        a.Predict(x).Should().Be(b.Predict(x));
        a.Fit(x, y).Count.Should().Be(10, "default options: 10 epochs");
    }

    [Fact]
    public void PyTorch_linear_init_draws_weight_and_bias_from_plus_minus_one_over_sqrt_fan_in()
    {
        const int fanIn = 400;
        var model = Model.Sequential<double>(fanIn).Dense(300, init: Init.PyTorchLinear, biasInit: Init.PyTorchLinear).Build(seed: 3);
        var dense = (Dense<double>)model.Layers[0];
        double bound = 1 / Math.Sqrt(fanIn);
        foreach (var t in new[] { dense.Weight.Value, dense.Bias!.Value })
        {
            var v = t.ToArray();
            v.Max().Should().BeLessThanOrEqualTo(bound).And.BeGreaterThan(0.95 * bound);
            v.Min().Should().BeGreaterThanOrEqualTo(-bound).And.BeLessThan(-0.95 * bound);
        }

        var w = dense.Weight.Value.ToArray();
        double variance = w.Select(v => v * v).Average();
        variance.Should().BeApproximately(1.0 / (3 * fanIn), 0.03 / (3 * fanIn), "U(−a, a) has variance a²/3");
        Init.LeCun.Variance(fanIn, 10).Should().Be(1.0 / fanIn);
        Initializer.Parse("PyTorchLinear").Should().BeSameAs(Init.PyTorchLinear);
        Initializer.Parse("LeCunNormal").Should().BeSameAs(Init.LeCun);

        // The bias initializer survives a save and load (the values are saved; the name is in the config).
        string path = Path.Combine(Path.GetTempPath(), $"torch-init-{Environment.ProcessId}.safetensors");
        try
        {
            model.Save(path);
            var loaded = (Dense<double>)Model.Load<double>(path).Layers[0];
            loaded.BiasInitializer.Should().BeSameAs(Init.PyTorchLinear);
            loaded.Bias!.Value.Should().Be(dense.Bias.Value);
        }
        finally
        {
            File.Delete(path);
        }

        ((Dense<double>)Model.Sequential<double>(3).Dense(2).Build().Layers[0]).Bias!.Value.ToArray().Should().OnlyContain(v => v == 0, "biases start at 0 by default");
    }

    [Fact]
    public void Summary_numbers_layers_consecutively_and_shows_the_fused_activation()
    {
        var train = DataSet.FromTargets(Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 3, 2), new Tensor<float>(3, 1));
        var model = Model.Sequential<float>(2).Standardize(train).Dense(4).ReLU().Dropout(0.9).Dense(1).Sigmoid().Build(seed: 1);
        var lines = model.Summary().Split(Environment.NewLine);
        lines.Should().Contain(l => l.StartsWith("0   Input: standardize", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("1   Dense(4, ReLU) He", StringComparison.Ordinal) && l.EndsWith("0.*", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("2   Dropout(keepProb=0.9)", StringComparison.Ordinal) && l.EndsWith("2.*", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("3   Dense(1) XavierNormal", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("4   Sigmoid", StringComparison.Ordinal));

        // Long cells stay apart from their neighbours (they used to print "...train)(m, 2)" and "0input_transform").
        lines.Should().Contain(l => l.StartsWith("0   Input: standardize (fitted on train) (m, 2) ", StringComparison.Ordinal) && l.EndsWith(" 0  input_transform", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("1   Dense(4, ReLU) He ", StringComparison.Ordinal) && l.EndsWith("  0.*", StringComparison.Ordinal));
    }

    [Fact]
    public void Console_progress_writes_one_line_per_epoch_when_redirected_and_a_live_line_otherwise()
    {
        var (x, y) = TestData.Problem<float>(64, 4, 3, "softmax", seed: 2);
        var model = Model.Sequential<float>(4).Dense(3).Softmax().Build(seed: 1);
        var log = new StringWriter();
        model.Fit(x, y, new TrainingOptions<float> { Epochs = 3, BatchSize = 16, Validation = DataSet.FromTargets(x, y), Progress = new ConsoleProgress(log, live: false) });
        var lines = log.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        lines.Should().HaveCount(3, "every line is written before Fit returns");
        lines[2].Should().MatchRegex(@"^epoch 3/3  \d+\.\d\d s  cost \d\.\d{4}  accuracy \d+\.\d\d%  dev cost \d\.\d{4}  dev accuracy \d+\.\d\d%  α 0\.001$");

        var live = new StringWriter();
        model.Fit(x, y, new TrainingOptions<float> { Epochs = 2, BatchSize = 16, ReportBatches = true, Progress = new ConsoleProgress(live, live: true) });
        string text = live.ToString();
        text.Should().Contain("\repoch 1/2  batch 4/4  cost ");
        text.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries).Should().HaveCount(2);

        var regression = new StringWriter();
        var r = Model.Sequential<float>(4).Dense(1).Build(seed: 1);
        var (rx, ry) = TestData.Problem<float>(32, 4, 1, "regression", seed: 3);
        r.Fit(rx, ry, new TrainingOptions<float> { Epochs = 1, Progress = new ConsoleProgress(regression, live: false, metricName: "rmse") });
        regression.ToString().Should().MatchRegex(@"^epoch 1/1  \d+\.\d\d s  cost \d+\.\d{4}  rmse \d");
    }

    [Fact]
    public void Plots_take_the_history_and_the_confusion_matrix()
    {
        var (x, y) = TestData.Problem<float>(60, 4, 3, "softmax", seed: 2);
        var data = DataSet.FromLabels(x, DataSet.ToLabels(y), 3, ["ant", "bee", "cow"]);
        var model = Model.Sequential<float>(4).Dense(3).Softmax().Build(seed: 1);
        var stopper = new EarlyStopping(patience: 2);
        var history = model.Fit(data, new TrainingOptions<float> { Epochs = 6, Validation = data, Callbacks = { stopper } });
        string curves = Plot.LearningCurves(history).ToString();
        curves.Should().Contain($"best epoch {history.BestEpoch!.Epoch} (dev cost)").And.Contain(">dev<").And.Contain("Accuracy");
        string matrix = Plot.ConfusionMatrix(model.Evaluate(data).ConfusionMatrix!).ToString();
        matrix.Should().Contain(">ant<").And.Contain(">cow<");
    }

    [Fact]
    public void Dense_with_an_undefined_activation_is_refused_instead_of_running_tanh()
    {
        // Before: (Activation)99 was accepted and Dense's fused epilogue silently applied tanh.
        FluentActions.Invoking(() => Model.Sequential<float>(3).Dense(2, (Activation)99))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*unknown activation 99*");
        FluentActions.Invoking(() => new Dense<float>(3, 2, (Activation)99, Init.Xavier, new RandomSource(1)))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*unknown activation 99*");
        FluentActions.Invoking(() => Model.Sequential<float>(3).Dense(2, Activation.LeakyReLU, leakySlope: double.NaN))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*leakySlope*received NaN*");
    }

    [Fact]
    public void PredictClasses_of_zero_rows_is_empty_as_Predict_is()
    {
        var model = Model.Sequential<float>(3).Dense(4).ReLU().Dense(3).Softmax().Build(seed: 1);
        model.Predict(new Tensor<float>(0, 3)).Shape.Should().Equal(0, 3);

        // Before: ArgumentException naming a parameter ("predictions") the caller never passed.
        model.PredictClasses(new Tensor<float>(0, 3)).Should().BeEmpty();
        FluentActions.Invoking(() => model.PredictClasses(new Tensor<float>(0, 2)))
            .Should().Throw<ArgumentException>().WithMessage("*(m, 3)*(0, 2)*");
    }

    [Fact]
    public void A_callback_changing_the_learning_rate_under_a_decay_is_refused_not_overwritten()
    {
        // A hand-written ReduceLROnPlateau: the decay overwrote its rate at the next epoch, without a word.
        var (x, y) = TestData.Problem<double>(16, 3, 2, "softmax", seed: 1);
        var model = Model.Sequential<double>(3).Dense(2).Softmax().Build(seed: 2);
        var options = new TrainingOptions<double>
        {
            Epochs = 4,
            Optimizer = new Adam(learningRate: 0.01),
            Decay = LearningRateDecay.Exponential(0.9),
            Callbacks = { new LambdaCallback((context, record) => context.Optimizer.LearningRate /= 10) },
        };
        model.Invoking(m => m.Fit(DataSet.FromTargets(x, y), options)).Should().Throw<InvalidOperationException>()
            .WithMessage("a callback set Optimizer.LearningRate to 0.001 after epoch 1, but TrainingOptions.Decay (Exponential*) sets it at every epoch*scale ctx.InitialLearningRate instead*");
        options.Optimizer.LearningRate.Should().Be(0.01, "α0 is restored when Fit throws");

        // Refused before that epoch's checkpoint is written; a change after the last epoch changes nothing and passes.
        string dir = Directory.CreateTempSubdirectory("dl-decay-").FullName;
        try
        {
            string path = Path.Combine(dir, "run.ckpt");
            options.Checkpoint = new CheckpointOptions(path, everyEpochs: 1);
            model.Invoking(m => m.Fit(DataSet.FromTargets(x, y), options)).Should().Throw<InvalidOperationException>();
            File.Exists(path).Should().BeFalse("the run stops before the epoch's checkpoint");
            options.Checkpoint = null;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        options.Callbacks.Clear();
        options.Callbacks.Add(new LambdaCallback((context, record) => { if (record.Epoch == 4) { context.Optimizer.LearningRate = 1; } }));
        model.Fit(DataSet.FromTargets(x, y), options).Count.Should().Be(4);

        // Scaling α0, as the message says, works; so does changing the rate without a decay.
        options.Callbacks.Clear();
        options.Callbacks.Add(new LambdaCallback((context, record) => context.InitialLearningRate /= 10));
        var rates = model.Fit(DataSet.FromTargets(x, y), options).Epochs.Select(e => e.LearningRate).ToArray();
        rates.Zip(new[] { 0.01, 0.001 * 0.9, 0.0001 * 0.81, 0.00001 * 0.729 }).Should().OnlyContain(p => Math.Abs(p.First - p.Second) < 1e-15);
    }

    [Fact]
    public void Width_and_shape_errors_say_how_to_fix_the_common_mistakes()
    {
        var x = Tensor.FromRows(new double[][] { [0.0], [1.0], [2.0], [3.0] });

        // Integer targets read as classes, given to a regression model: say so, and how to read a real-valued target.
        var classes = DataSet.FromLabels(x, [0, 1, 2, 1], 3);
        var regression = Model.Sequential<double>(1).Dense(1).Build(seed: 1);
        regression.Invoking(m => m.Fit(classes, new TrainingOptions<double> { Epochs = 1 })).Should().Throw<ArgumentException>()
            .WithMessage("*3 target columns but the model has 1 outputs (the data holds 3 classes, one-hot, but the model is a regression*CsvOptions.Regression = true)*");

        // One 0/1 column for a 3-unit softmax (a file holding only 2 of the classes).
        var twoOfThree = DataSet.FromLabels(x, [0, 1, 0, 1], 2);
        var softmax3 = Model.Sequential<double>(1).Dense(3).Softmax().Build(seed: 1);
        softmax3.Invoking(m => m.Evaluate(twoOfThree)).Should().Throw<ArgumentException>()
            .WithMessage("*1 target columns but the model has 3 outputs (one target column for 3 classes*CsvOptions.Classes = 3 or the training set's ClassNames)*");

        // The tensor overloads: a vector of labels, a vector of regression targets.
        softmax3.Invoking(m => m.Fit(x, Tensor.FromArray(new[] { 0.0, 1, 2, 1 }), new TrainingOptions<double> { Epochs = 1 })).Should().Throw<ArgumentException>()
            .WithMessage("the targets Y must be (4, 3) for X (4, 1); received (4) (class labels: one-hot them with DataSet.FromLabels(x, labels, 3)*");
        regression.Invoking(m => m.Fit(x, Tensor.FromArray(new[] { 0.5, 1, 2, 1 }), new TrainingOptions<double> { Epochs = 1 })).Should().Throw<ArgumentException>()
            .WithMessage("*received (4) (a vector: give it as one column, Tensor.FromArray(values, 4, 1))*");
    }

    [Fact]
    public void Csv_cells_that_are_not_numbers_say_why()
    {
        var empty = () => Csv.Load<float>(new StringReader("a,b,y\n1,,0\n"), new CsvOptions { LabelColumn = "y" }, "t.csv");
        empty.Should().Throw<InvalidDataException>().WithMessage("t.csv: line 2, column 2 ('b'): the cell is empty (a missing value): fill or drop missing values before loading, or list the column in CsvOptions.IgnoreColumns");
        var comma = () => Csv.Load<float>(new StringReader("a;y\n1,5;0\n"), new CsvOptions { LabelColumn = "y", Delimiter = ';' }, "t.csv");
        comma.Should().Throw<InvalidDataException>().WithMessage("*'1,5' is not a number (cells are read with '.' as the decimal point*");
    }

    [Fact]
    public void Early_stopping_on_a_dev_figure_without_a_dev_set_is_refused()
    {
        var (x, y) = TestData.Problem<double>(16, 3, 2, "softmax", seed: 1);
        var model = Model.Sequential<double>(3).Dense(2).Softmax().Build(seed: 2);
        var before = model.Parameters.Select(p => p.Value.Clone()).ToArray();
        foreach (var monitor in new[] { EarlyStoppingMonitor.DevMetric, EarlyStoppingMonitor.DevCost })
        {
            var options = new TrainingOptions<double> { Epochs = 2, Callbacks = { new EarlyStopping(monitor: monitor) } };
            model.Invoking(m => m.Fit(DataSet.FromTargets(x, y), options)).Should().Throw<ArgumentException>()
                .WithMessage($"EarlyStopping watches {monitor} but TrainingOptions.Validation is not set, so it would watch the training cost instead*");
        }

        model.Parameters.Select(p => p.Value).Should().BeEquivalentTo(before, "nothing trained");
        model.Fit(DataSet.FromTargets(x, y), new TrainingOptions<double> { Epochs = 2, Callbacks = { new EarlyStopping() } }).Monitor.Should().Be("cost", "Auto watches the training cost without a dev set");
    }

    [Fact]
    public void DropoutRate_reads_its_argument_as_Keras_and_PyTorch_do()
    {
        var byRate = Model.Sequential<float>(4).Dense(8).ReLU().DropoutRate(0.2).Dense(2).Softmax().Build(seed: 3);
        var byKeep = Model.Sequential<float>(4).Dense(8).ReLU().Dropout(keepProb: 0.8).Dense(2).Softmax().Build(seed: 3);
        byRate.Layers.OfType<Dropout<float>>().Single().KeepProb.Should().Be(0.8);
        byRate.Summary().Should().Be(byKeep.Summary());
        FluentActions.Invoking(() => Model.Sequential<float>(4).DropoutRate(1)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("rate (the fraction dropped) must be in [0, 1); received 1*");
        FluentActions.Invoking(() => Model.Sequential<float>(4).DropoutRate(double.NaN)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void A_cancelled_fit_keeps_the_history_of_its_completed_epochs()
    {
        var (x, y) = TestData.Problem<double>(32, 3, 2, "softmax", seed: 1);
        var model = Model.Sequential<double>(3).Dense(4).Tanh().Dense(2).Softmax().Build(seed: 2);
        using var cancel = new CancellationTokenSource();
        var options = new TrainingOptions<double>
        {
            Epochs = 10,
            BatchSize = 8,
            Callbacks = { new LambdaCallback((context, record) => { if (record.Epoch == 2) { cancel.Cancel(); } }) },
        };
        var fit = () => model.Fit(DataSet.FromTargets(x, y), options, cancel.Token);
        var thrown = fit.Should().Throw<TrainingCanceledException>().WithMessage("Fit was cancelled in epoch 3, after 2 complete epoch(s)*").Which;
        thrown.Should().BeAssignableTo<OperationCanceledException>("code catching OperationCanceledException still does");
        thrown.CancellationToken.Should().Be(cancel.Token);
        thrown.History!.Count.Should().Be(2);
        thrown.History.Epochs.Select(e => e.Epoch).Should().Equal(1, 2);
    }
}
