using System.Numerics;
using DeepLearning.Kernels;

namespace DeepLearning.Tests.Training;

/// <summary>
/// TrainingOptions.ClassWeights (Keras's class_weight, PyTorch's CrossEntropyLoss(weight=w)): the training cost and dZ
/// against autograd in PyTorch 1.13, what Fit refuses, what it records in a checkpoint, and what it does to a minority
/// class. Golden values printed by (OPENBLAS_NUM_THREADS=1 /usr/bin/python3, torch.set_num_threads(1)):
/// <code>
/// import torch
/// from torch import nn
/// import torch.nn.functional as F
/// X = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [-0.75, 1.0, 0.0], [2.0, -0.5, 1.0], [0.0, 0.5, -1.5]], dtype=torch.float64)
/// W0 = torch.tensor([[0.2, -0.4, 0.1], [0.5, 0.3, -0.2], [-0.3, 0.6, 0.4], [0.1, -0.1, 0.7]], dtype=torch.float64)
/// b0 = torch.tensor([0.05, -0.1, 0.2, 0.0], dtype=torch.float64)
/// W2 = torch.tensor([[0.3, -0.6, 0.2, 0.5], [-0.4, 0.1, 0.7, -0.2], [0.6, 0.2, -0.5, 0.1]], dtype=torch.float64)
/// b2 = torch.tensor([0.1, 0.0, -0.1], dtype=torch.float64)
/// for out in (3, 1):
///     net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, out)).double()
///     with torch.no_grad():
///         net[0].weight.copy_(W0); net[0].bias.copy_(b0); net[2].weight.copy_(W2[:out]); net[2].bias.copy_(b2[:out])
///     z = net(X)
///     if out == 3:  # probability targets (a soft row included): −Σⱼ wⱼ·yⱼ·log ŷⱼ, averaged over the 5 rows
///         Y = torch.tensor([[1., 0, 0], [0, 1, 0], [0, 0, 1], [0.25, 0.75, 0], [1, 0, 0]], dtype=torch.float64)
///         J = F.cross_entropy(z, Y, weight=torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64))
///     else:  # w₀ = 0.4 for y = 0, w₁ = 2.5 for y = 1 (a soft 0.3 included)
///         Y = torch.tensor([[1.], [0], [0], [1], [0.3]], dtype=torch.float64)
///         J = (-(2.5 * Y * F.logsigmoid(z) + 0.4 * (1 - Y) * F.logsigmoid(-z))).sum() / 5
///     J.backward()
///     print(J.item(), [p.grad.flatten().tolist() for p in net.parameters()])
/// </code>
/// For hard 0/1 targets the sigmoid form is <c>F.binary_cross_entropy_with_logits(z, Y, weight=w[Y])</c>.
/// </summary>
public sealed class ClassWeightsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dl-class-weights-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly double[] _x = [0.5, -1.0, 2.0, 1.5, 0.25, -0.5, -0.75, 1.0, 0.0, 2.0, -0.5, 1.0, 0.0, 0.5, -1.5];
    private static readonly double[] _w0 = [0.2, -0.4, 0.1, 0.5, 0.3, -0.2, -0.3, 0.6, 0.4, 0.1, -0.1, 0.7];
    private static readonly double[] _b0 = [0.05, -0.1, 0.2, 0.0];
    private static readonly double[] _w2 = [0.3, -0.6, 0.2, 0.5, -0.4, 0.1, 0.7, -0.2, 0.6, 0.2, -0.5, 0.1];
    private static readonly double[] _b2 = [0.1, 0.0, -0.1];

    [Fact]
    public void Softmax_cost_and_gradients_match_PyTorch_cross_entropy_with_class_weights()
    {
        double[] y = [1, 0, 0, 0, 1, 0, 0, 0, 1, 0.25, 0.75, 0, 1, 0, 0];
        double[][] gradients =
        [
            [0.86324809070555, -0.3281028694594632, 0.04199194831516606, 0.033190316760550814, -0.16170150925506915, -0.057429986840610694, -0.9720285392255461, 0.2745602594813921, -0.11373437986600332, 0.29366277812692926, -0.028851912933877538, 0.011256279568672102],
            [0.03765508292734179, -0.16536283071763552, -0.2509116465486243, 0.11897758497935113],
            [-0.010444527039238894, 0.0700544822353115, 0.08784165490519108, 0.04329280510822984, -0.37713585352128537, -0.3657018770167007, 0.4174243891658911, -0.207787678624851, 0.3875803805605243, 0.2956473947813892, -0.505266044071082, 0.16449487351662112],
            [0.2537946335913976, -0.12501645039256237, -0.1287781831988352],
        ];
        Check<double>(3, [0.5, 2.0, 3.0], y, 2.5495454544596585, gradients, 1e-14);
        Check<float>(3, [0.5, 2.0, 3.0], y, 2.5495454544596585, gradients, 2e-6);
    }

    [Fact]
    public void Sigmoid_cost_and_gradients_match_PyTorch_weighted_binary_cross_entropy()
    {
        double[] y = [1, 0, 0, 1, 0.3];
        double[][] gradients =
        [
            [-0.08108438258509737, 0.043148774075857946, -0.05553755590146159, 0.22246027514796227, -0.11088001946681238, 0.15150194007787157, -0.08343036955300707, 0.040219913103936675, -0.06587551607186058, -0.09423044500130615, 0.051896505471391796, -0.0554609199980273],
            [-0.062477475736570795, 0.15794433811827446, -0.06850500223751055, -0.03654380456968217],
            [-0.2053837117446926, -0.055626811037811884, 0.0626458407224824, -0.2240536621837791],
            [-0.34072668084169044],
        ];
        Check<double>(1, [0.4, 2.5], y, 0.7031764408700377, gradients, 1e-14);
        Check<float>(1, [0.4, 2.5], y, 0.7031764408700377, gradients, 2e-6);
    }

    private static Model<T> GoldenModel<T>(int outputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var builder = Model.Sequential<T>(3).Dense(4, Activation.Tanh).Dense(outputs);
        var model = (outputs == 1 ? builder.Sigmoid() : builder.Softmax()).Build(seed: 1);
        double[][] weights = [_w0, _b0, _w2[..(4 * outputs)], _b2[..outputs]];
        for (int i = 0; i < weights.Length; i++)
        {
            weights[i].Select(T.CreateChecked).ToArray().CopyTo(model.Parameters[i].Value.Span);
        }

        return model;
    }

    private static void Check<T>(int outputs, double[] classWeights, double[] y, double cost, double[][] gradients, double tol)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var model = GoldenModel<T>(outputs);
        var x = Tensor.FromArray(_x.Select(T.CreateChecked).ToArray()).Reshape(5, 3);
        var yt = Tensor.FromArray(y.Select(T.CreateChecked).ToArray()).Reshape(5, outputs);
        var weights = Trainer.ClassWeightsFor(model, new TrainingOptions<T> { ClassWeights = classWeights });
        model.ComputeGradientsChecked(x, yt, weights).Should().BeApproximately(cost, tol * 10, $"J ({typeof(T).Name})");
        for (int i = 0; i < gradients.Length; i++)
        {
            var g = model.Parameters[i].Gradient.ToArray();
            for (int k = 0; k < g.Length; k++)
            {
                double.CreateChecked(g[k]).Should().BeApproximately(gradients[i][k], tol, $"d{model.Parameters[i].Name}[{k}] ({typeof(T).Name})");
            }
        }
    }

    [Theory]
    [InlineData(3)]
    [InlineData(1)]
    public void Weights_of_one_give_the_unweighted_cost_and_gradients(int outputs)
    {
        double[] y = outputs == 3 ? [1, 0, 0, 0, 1, 0, 0, 0, 1, 0.25, 0.75, 0, 1, 0, 0] : [1, 0, 0, 1, 0.3];
        var x = Tensor.FromArray(_x).Reshape(5, 3);
        var yt = Tensor.FromArray(y).Reshape(5, outputs);
        var plain = GoldenModel<double>(outputs);
        var weighted = GoldenModel<double>(outputs);
        weighted.ComputeGradientsChecked(x, yt, outputs == 3 ? [1, 1, 1] : [1, 1]).Should().BeApproximately(plain.ComputeGradients(x, yt), 1e-15);
        for (int i = 0; i < plain.Parameters.Count; i++)
        {
            var a = plain.Parameters[i].Gradient.ToArray();
            var b = weighted.Parameters[i].Gradient.ToArray();
            for (int k = 0; k < a.Length; k++)
            {
                b[k].Should().BeApproximately(a[k], 1e-15);
            }
        }
    }

    // 570 rows of class 0 and 30 of class 1 whose inputs overlap: trained unweighted, the model mostly answers 0.
    private static DataSet<float> Imbalanced(int seed)
    {
        var r = new RandomSource(seed);
        int m = 600;
        var x = new Tensor<float>(m, 4);
        var labels = new int[m];
        for (int i = 0; i < m; i++)
        {
            labels[i] = i % 20 == 0 ? 1 : 0;
            for (int j = 0; j < 4; j++)
            {
                x[i, j] = (float)(r.NextGaussian() + (labels[i] == 1 && j < 2 ? 1.0 : 0));
            }
        }

        return DataSet.FromLabels(x, labels, 2);
    }

    private static double Recall(Model<float> model, DataSet<float> data, int cls)
    {
        var predicted = model.PredictClasses(data.X);
        int hit = 0, total = 0;
        for (int i = 0; i < data.Count; i++)
        {
            if (data.Labels![i] == cls)
            {
                total++;
                hit += predicted[i] == cls ? 1 : 0;
            }
        }

        return hit / (double)total;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Balanced_weights_raise_the_recall_of_a_rare_class(bool sigmoid)
    {
        var data = Imbalanced(seed: 3);
        var train = sigmoid ? data : data.ToOneHotTargets(); // a 0/1 column, or two one-hot columns
        Model<float> NewModel()
        {
            var builder = Model.Sequential<float>(4).Dense(8);
            return (sigmoid ? builder.Dense(1).Sigmoid() : builder.Dense(2).Softmax()).Build(seed: 5);
        }

        var weights = train.BalancedClassWeights();
        weights[0].Should().BeApproximately(600 / (2.0 * 570), 1e-15, "scikit-learn's m/(C·count)");
        weights[1].Should().BeApproximately(600 / (2.0 * 30), 1e-15);

        var plain = NewModel();
        plain.Fit(train, new TrainingOptions<float> { Optimizer = new Adam(0.01), Epochs = 30, BatchSize = 64 });
        var balanced = NewModel();
        var history = balanced.Fit(train, new TrainingOptions<float> { Optimizer = new Adam(0.01), Epochs = 30, BatchSize = 64, ClassWeights = weights });

        double before = Recall(plain, data, 1);
        double after = Recall(balanced, data, 1);
        before.Should().BeLessThan(0.3, "unweighted, the rare class is mostly missed");
        after.Should().BeGreaterThan(before + 0.3, "balanced weights make each class count as much in the cost");
        history.Epochs.Should().OnlyContain(e => double.IsFinite(e.Cost));
    }

    [Fact]
    public void The_history_records_the_weighted_training_cost_and_the_unweighted_dev_cost()
    {
        var data = Imbalanced(seed: 4).ToOneHotTargets();
        var model = Model.Sequential<float>(4).Dense(8).Dense(2).Softmax().Build(seed: 2);
        var twin = Model.Sequential<float>(4).Dense(8).Dense(2).Softmax().Build(seed: 2);
        double[] weights = [0.25, 4.0];
        double expected = twin.Cost(data.X, data.Y, training: true); // the unweighted cost, for contrast
        double weightedBefore = twin.ComputeGradientsChecked(data.X, data.Y, [0.25, 4.0]);

        // One full-batch step: the epoch's training cost is the step's, taken before the update.
        var history = model.Fit(data, new TrainingOptions<float> { Optimizer = new GradientDescent(0.1), Epochs = 1, BatchSize = 0, ClassWeights = weights, Validation = data });
        history.Epochs[0].Cost.Should().BeApproximately(weightedBefore, 1e-6);
        weightedBefore.Should().NotBeApproximately(expected, 1e-3);
        history.Epochs[0].DevCost!.Value.Should().BeApproximately(model.Evaluate(data.X, data.Y).Cost, 1e-6, "the dev cost is unweighted");
    }

    [Fact]
    public void Fit_refuses_weights_that_do_not_fit_the_model()
    {
        var data = ResumeTests.Images(20, seed: 1);
        var model = ResumeTests.NewModel(seed: 1);
        var act = () => model.Fit(data, new TrainingOptions<float> { Epochs = 1, ClassWeights = [1, 2] });
        act.Should().Throw<ArgumentException>().WithMessage("ClassWeights has 2 weights but the model has 3 classes: give one per softmax output*");

        var binary = Model.Sequential<float>(16).Dense(1).Sigmoid().Build(seed: 1);
        var y1 = new Tensor<float>(20, 1);
        act = () => binary.Fit(data.X, y1, new TrainingOptions<float> { Epochs = 1, ClassWeights = [1, 2, 3] });
        act.Should().Throw<ArgumentException>().WithMessage("*has 3 weights but the model has 2 classes: give 2 for its sigmoid output (w₀ for y = 0, w₁ for y = 1)*");

        var regression = Model.Sequential<float>(16).Dense(1).Build(seed: 1);
        act = () => regression.Fit(data.X, y1, new TrainingOptions<float> { Epochs = 1, ClassWeights = [1, 2] });
        act.Should().Throw<ArgumentException>().WithMessage("ClassWeights weigh the classes of a single-label classifier*this model is a regression (MeanSquaredError)*");

        var multiLabel = Model.Sequential<float>(16).Dense(3).Sigmoid().Build(seed: 1);
        act = () => multiLabel.Fit(data.X, new Tensor<float>(20, 3), new TrainingOptions<float> { Epochs = 1, ClassWeights = [1, 2, 3] });
        act.Should().Throw<ArgumentException>().WithMessage("*this model is a multi-label classifier (3 sigmoid outputs*");

        act = () => model.Fit(data, new TrainingOptions<float> { Epochs = 1, ClassWeights = [1, 1e300, 1] });
        act.Should().Throw<ArgumentException>().WithMessage("ClassWeights[1] = 1E+300 overflows to ∞ in Single*");

        act = () => model.Fit(data, new TrainingOptions<float> { Epochs = 1, ClassWeights = [1e-50, 0, 0] });
        act.Should().Throw<ArgumentException>().WithMessage("ClassWeights all round to 0 in Single*");
    }

    [Theory]
    [InlineData(new double[0], "ClassWeights is empty*")]
    [InlineData(new[] { 1.0, -0.5 }, "ClassWeights[1] = -0.5: each class weight must be finite and ≥ 0*")]
    [InlineData(new[] { double.NaN }, "ClassWeights[0] = NaN*")]
    [InlineData(new[] { 1.0, double.PositiveInfinity }, "ClassWeights[1] = Infinity*")]
    [InlineData(new[] { 0.0, 0.0 }, "ClassWeights are all 0*")]
    public void The_setter_refuses_weights_no_class_can_have(double[] weights, string message)
    {
        var options = new TrainingOptions<float>();
        var act = () => options.ClassWeights = weights;
        act.Should().Throw<ArgumentException>().WithMessage(message);
        options.ClassWeights.Should().BeNull();
    }

    [Fact]
    public void The_setter_copies_the_weights()
    {
        double[] weights = [1, 2];
        var options = new TrainingOptions<float> { ClassWeights = weights };
        weights[0] = -1;
        options.ClassWeights.Should().Equal(1, 2);
        options.ClassWeights = null;
        options.ClassWeights.Should().BeNull();
    }

    [Fact]
    public void BalancedClassWeights_names_a_class_with_no_rows_and_needs_labels()
    {
        var x = new Tensor<float>(4, 2);
        var set = DataSet.FromLabels(x, [0, 0, 2, 2], 3);
        var act = () => set.BalancedClassWeights();
        act.Should().Throw<InvalidOperationException>().WithMessage("class 1 has no rows in this data set of 4*");
        DataSet.FromLabels(x, [0, 1, 2, 2], 3).BalancedClassWeights().Should().Equal(4 / 3.0, 4 / 3.0, 4 / 6.0);
    }

    [Fact]
    public void A_resume_continues_bit_for_bit_and_other_weights_are_refused()
    {
        Gemm.ThreadsOverride = 1;
        try
        {
            var data = ResumeTests.Images(60, seed: 8);
            TrainingOptions<float> Options(int epochs, double[]? weights) => new()
            {
                Optimizer = new Adam(0.01),
                Epochs = epochs,
                BatchSize = 16,
                ClassWeights = weights,
            };

            var whole = ResumeTests.NewModel(seed: 4);
            var expected = whole.Fit(data, Options(4, [1, 2, 0.5]));

            string path = Path.Combine(_dir, "weights.ckpt");
            var first = Options(2, [1, 2, 0.5]);
            first.Checkpoint = new CheckpointOptions(path);
            ResumeTests.NewModel(seed: 4).Fit(data, first);

            var rest = Options(4, [1, 2, 0.5]);
            rest.ResumeFrom = path;
            var resumed = ResumeTests.NewModel(seed: 4);
            resumed.Fit(data, rest).SameValuesAs(expected).Should().BeTrue();
            resumed.CaptureState().Tensors.Zip(whole.CaptureState().Tensors).Should().OnlyContain(p => p.First.Equals(p.Second));

            var other = Options(4, [1, 2, 0.25]);
            other.ResumeFrom = path;
            var act = () => ResumeTests.NewModel(seed: 4).Fit(data, other);
            act.Should().Throw<InvalidDataException>().WithMessage("*it continues with ClassWeights [1,2,0.5] but the options have ClassWeights [1,2,0.25]*");

            var none = Options(4, null);
            none.ResumeFrom = path;
            act = () => ResumeTests.NewModel(seed: 4).Fit(data, none);
            act.Should().Throw<InvalidDataException>().WithMessage("*it continues with ClassWeights [1,2,0.5] but the options have no class weights*");
        }
        finally
        {
            Gemm.ThreadsOverride = 0;
        }
    }

    [Fact]
    public void A_callback_may_change_the_weights_from_the_next_epoch_and_a_bad_change_ends_the_epoch()
    {
        var data = ResumeTests.Images(30, seed: 2);
        var options = new TrainingOptions<float> { Epochs = 3, BatchSize = 0, Optimizer = new GradientDescent(0.1) };
        options.Callbacks.Add(new LambdaCallback((c, r) =>
        {
            if (r.Epoch == 1)
            {
                ((TrainingOptions<float>)c.Options).ClassWeights = [1, 1];
            }
        }));
        var act = () => ResumeTests.NewModel(seed: 1).Fit(data, options);
        act.Should().Throw<ArgumentException>().WithMessage("ClassWeights has 2 weights but the model has 3 classes*");

        // Weights set after the first epoch weigh the second's cost: with all weights 2 it doubles.
        var doubling = new TrainingOptions<float> { Epochs = 2, BatchSize = 0, Optimizer = new GradientDescent(1e-30) };
        doubling.Callbacks.Add(new LambdaCallback((c, r) => ((TrainingOptions<float>)c.Options).ClassWeights = [2, 2, 2]));
        var model = Model.Sequential<float>(16).Dense(3).Softmax().Build(seed: 1);
        var history = model.Fit(data, doubling);
        history.Epochs[1].Cost.Should().BeApproximately(2 * history.Epochs[0].Cost, 1e-5);
    }

    [Fact]
    public void Label_smoothing_with_class_weights_matches_PyTorch_cross_entropy()
    {
        // F.cross_entropy(z, Y, weight=[0.5, 2, 3], label_smoothing=0.2) for the softmax network of the tests above.
        double[] y = [1, 0, 0, 0, 1, 0, 0, 0, 1, 0.25, 0.75, 0, 1, 0, 0];
        double[][] gradients =
        [
            [0.7173217299393737, -0.2885227980303022, 0.059663868127652966, -0.001698939274386746, -0.12070586198848912, -0.08764299749392229, -0.7891793691327099, 0.23502122365910505, -0.10639629505810727, 0.25458567949237876, -0.025936367389109476, 0.018240056967297746],
            [0.013443772737688264, -0.18991253786477974, -0.1673385325615318, 0.11159079293903476],
            [0.020649030003751213, 0.054006608627941696, 0.08237093176625289, 0.07223001028079043, -0.33210450977567574, -0.2951991876199098, 0.34674920658161257, -0.20091538706798087, 0.3114554797719245, 0.2411925789919681, -0.4291201383478654, 0.12868537678719041],
            [0.29627031568400064, -0.11165444742937328, -0.18461586825462745],
        ];
        Smoothed(3, [0.5, 2.0, 3.0], 0.2, y, 2.494012004219266, gradients);
    }

    [Fact]
    public void Label_smoothing_of_a_multi_label_sigmoid_output_matches_binary_cross_entropy_on_smoothed_targets()
    {
        // F.binary_cross_entropy_with_logits(z, 0.8·Y + 0.1, reduction='sum') / 5: Keras's smoothing, summed over the labels.
        double[] y = [1, 0, 0, 1, 0, 0, 1, 1, 0.3, 1];
        double[][] gradients =
        [
            [0.10615778110121862, 0.023466339395738865, -0.09150800615578043, 0.044896083937882296, -0.07785890414031613, 0.08093984365260641, -0.24116229328424416, 0.008454602984199124, 0.0857922936513238, 0.04062622911946695, 0.040671026123906315, -0.044778225570387964],
            [0.054036935554436435, -0.03107350841427632, -0.09661638293279123, 0.06043359220696634],
            [-0.08940753883303143, 0.008630482120917611, 0.06088651965407808, -0.10570239676752585, -0.07817875260544016, -0.188710909175858, 0.16869039469483724, 0.033616856657047146],
            [0.05346939007994714, -0.08378728325027428],
        ];
        Smoothed(2, null, 0.2, y, 1.3758923603918305, gradients);
    }

    private static void Smoothed(int outputs, double[]? classWeights, double smoothing, double[] y, double cost, double[][] gradients)
    {
        var builder = Model.Sequential<double>(3).Dense(4, Activation.Tanh).Dense(outputs);
        var model = (outputs == 3 ? builder.Softmax() : builder.Sigmoid()).Build(seed: 1);
        double[][] weights = [_w0, _b0, _w2[..(4 * outputs)], _b2[..outputs]];
        for (int i = 0; i < weights.Length; i++)
        {
            weights[i].CopyTo(model.Parameters[i].Value.Span);
        }

        var x = Tensor.FromArray(_x).Reshape(5, 3);
        var yt = Tensor.FromArray(y).Reshape(5, outputs);
        var options = new TrainingOptions<double> { ClassWeights = classWeights, LabelSmoothing = smoothing };
        model.ComputeGradientsChecked(x, yt, Trainer.ClassWeightsFor(model, options), Trainer.LabelSmoothingFor(model, options)).Should().BeApproximately(cost, 1e-14);
        for (int i = 0; i < gradients.Length; i++)
        {
            var g = model.Parameters[i].Gradient.ToArray();
            for (int k = 0; k < g.Length; k++)
            {
                g[k].Should().BeApproximately(gradients[i][k], 1e-14, $"d{model.Parameters[i].Name}[{k}]");
            }
        }
    }

    [Fact]
    public void Label_smoothing_is_refused_for_a_regression_and_out_of_range()
    {
        var options = new TrainingOptions<float>();
        Action act = () => options.LabelSmoothing = 1.5;
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("LabelSmoothing must be in [0, 1]; received 1.5*");
        act = () => options.LabelSmoothing = double.NaN;
        act.Should().Throw<ArgumentOutOfRangeException>();
        var regression = Model.Sequential<float>(2).Dense(1).Build(seed: 1);
        act = () => regression.Fit(new Tensor<float>(4, 2), new Tensor<float>(4, 1), new TrainingOptions<float> { Epochs = 1, LabelSmoothing = 0.1 });
        act.Should().Throw<ArgumentException>().WithMessage("LabelSmoothing = 0.1 smooths the targets of a softmax or sigmoid cross-entropy; this model is a regression (MeanSquaredError)*");
    }

    private sealed class OnBegin(Action<TrainingContext> begin, Action<TrainingContext, EpochRecord>? end = null) : ITrainingCallback
    {
        public void OnTrainBegin(TrainingContext context) => begin(context);

        public void OnEpochEnd(TrainingContext context, EpochRecord record) => end?.Invoke(context, record);

        public void OnTrainEnd(TrainingContext context)
        {
        }
    }

    [Fact]
    public void Weights_set_when_training_begins_weigh_the_first_epoch_and_the_public_gradient_pass_is_never_weighted()
    {
        var data = ResumeTests.Images(30, seed: 2);
        var x = data.X;
        var y = data.Y;
        var model = Model.Sequential<float>(16).Dense(3).Softmax().Build(seed: 1);
        double plain = model.Cost(x, y, training: true);
        double? inside = null;
        var options = new TrainingOptions<float> { Epochs = 1, BatchSize = 0, Optimizer = new GradientDescent(1e-30) };
        options.Callbacks.Add(new OnBegin(
            c => ((TrainingOptions<float>)c.Options).ClassWeights = [2, 2, 2],
            (c, r) => inside = model.ComputeGradients(x, y)));
        var history = model.Fit(data, options);
        history.Epochs[0].Cost.Should().BeApproximately(2 * plain, 1e-5, "weights set in OnTrainBegin apply from the first epoch");
        inside!.Value.Should().BeApproximately(plain, 1e-5, "a callback's own ComputeGradients is the model's plain J, not Fit's weighted one");

        var smoothing = new TrainingOptions<float> { Epochs = 1, BatchSize = 0, Optimizer = new GradientDescent(1e-30), LabelSmoothing = 0.3 };
        smoothing.Callbacks.Add(new OnBegin(_ => { }, (c, r) => inside = model.ComputeGradients(x, y)));
        model.Fit(data, smoothing).Epochs[0].Cost.Should().NotBeApproximately(plain, 1e-3);
        inside!.Value.Should().BeApproximately(plain, 1e-5);
    }
}
