// The course's "programming frameworks" lesson: write the cost as code and let the framework find the gradient.
// First J(w) = w² − 10w + 25, minimized from w = 0 by gradient descent and by Adam without writing dJ/dw; then a cost
// the built-in losses do not have — the focal loss, J = −(1/m)·Σ y ⊙ (1 − p)^γ ⊙ log p — written with the tape and
// trained on the UCI digits through the normal fit loop, with a tape-made swish layer, A = Z ⊙ σ(Z).
//   dotnet run -c Release --project samples/Autodiff -- [--epochs N] [--gamma G] [--json]
using System.Globalization;
using DeepLearning;

bool json = args.Contains("--json");
int epochs = IntArg("--epochs", 60);
double gammaArg = DoubleArg("--gamma", 2.0);

// Part 1: J(w) = w² − 10w + 25 = (w − 5)², minimum at w = 5.
Console.WriteLine("J(w) = w² − 10w + 25, from w = 0; the tape finds dJ/dw = 2w − 10");
double wGd = Minimize(new GradientDescent(learningRate: 0.1), steps: 100);
double wAdam = Minimize(new Adam(learningRate: 0.1), steps: 1000);
Console.WriteLine();

// Part 2: focal loss on the digits (1,797 8×8 images, 10 classes), split 80/10/10, standardized with training statistics.
var (train, dev, test) = Datasets.Digits<float>().Split(0.8, 0.1, 0.1, seed: 7, stratify: true);
var scaler = Standardizer.Fit(train);
(train, dev, test) = (scaler.Apply(train), scaler.Apply(dev), scaler.Apply(test));
float gamma = (float)gammaArg;
var focal = CustomLoss.FromTape<float>(string.Create(CultureInfo.InvariantCulture, $"Focal(γ={gamma})"), (z, y) =>
{
    // z: logits (m, 10); log p by a stable log-softmax, p = e^(log p); (1 − p)^γ down-weights the examples already right.
    var logp = z.LogSoftmax();
    return -(y * (1f - logp.Exp()).Pow(gamma) * logp).Sum(1).Mean();
});

var model = Model.Sequential<float>(64)
    .Add((inputs, random) => Swish<float>(inputs, 64, random), outputSize: 64)
    .Dense(10)
    .Loss(focal)
    .Build(seed: 7);
Console.WriteLine(model.Summary());
var history = model.Fit(train, new TrainingOptions<float>
{
    Optimizer = new Adam(learningRate: 0.003),
    Regularization = Regularization.L2(0.01),
    Epochs = epochs,
    BatchSize = 64,
    Validation = dev,
    Seed = 7,
    Callbacks = { new EarlyStopping(patience: 8, restoreBestWeights: true) },
});
var evaluation = model.Evaluate(test);
double accuracy = evaluation.Accuracy ?? 0;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"Focal loss (γ = {gamma}) with a swish tape layer: {history.Epochs.Count} epochs{(history.StopReason is null ? string.Empty : " (" + history.StopReason + ")")}, final training cost {history.Epochs[^1].Cost:F4}"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Test accuracy: {accuracy:P1} on {evaluation.Count} digits"));

// The tape's gradients, checked as the course checks backpropagation (on a double copy built the same way).
var check = Model.Sequential<double>(64)
    .Add((inputs, random) => Swish<double>(inputs, 16, random), outputSize: 16)
    .Dense(10)
    .Loss(CustomLoss.FromTape<double>("Focal(γ=2)", (z, y) =>
    {
        var logp = z.LogSoftmax();
        return -(y * (1.0 - logp.Exp()).Pow(2.0) * logp).Sum(1).Mean();
    }))
    .Build(seed: 7);
check.Regularizer = Regularization.L2(0.01);
var report = GradientChecker.Check(check, train.X.Rows(0, 8).ConvertTo<double>(), train.Y.Rows(0, 8).ConvertTo<double>(), new GradientCheckOptions { MaxCoordinatesPerTensor = 40 });
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Gradient check of the swish layer and the focal loss: difference {report.Difference:0.0E+00} ({report.Verdict})"));

bool ok = Math.Abs(wGd - 5) < 1e-4 && Math.Abs(wAdam - 5) < 1e-4 && accuracy > 0.9 && report.Verdict == GradientVerdict.Correct;
if (json)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"w\": {wAdam:R}, \"customLossTestAccuracy\": {accuracy:R}}}"));
}

return ok ? 0 : 1;

double Minimize(Optimizer optimizer, int steps)
{
    var tape = new Tape<double>();
    var w = tape.Variable(0.0, "w");
    for (int step = 1; step <= steps; step++)
    {
        var j = (w * w) - (10 * w) + 25;   // recorded on the tape; a new graph each step, buffers reused
        tape.ZeroGrad();
        j.Backward();                        // w.Grad = dJ/dw
        optimizer.Step(tape.Parameters);
        if (step == 1 || step == 10 || step == steps)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {optimizer.Describe(),-44} step {step,4}: w = {w.Value[0]:F6}"));
        }
    }

    return w.Value[0];
}

// A = Z ⊙ σ(Z), Z = A_prev·Wᵀ + b: the forward pass written with variables; the tape derives the backward pass.
static TapeLayer<T> Swish<T>(int inputs, int units, RandomSource random)
    where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
{
    var w = new Parameter<T>("weight", Tensor.RandomNormal<T>(random, [units, inputs], 0, Math.Sqrt(2.0 / inputs)), regularized: true);
    var b = new Parameter<T>("bias", new Tensor<T>(units), regularized: false);
    return new TapeLayer<T>("Swish", inputs, units, [w, b], (x, p) =>
    {
        var z = x.MatMul(p[0], transposeB: true) + p[1];
        return z * z.Sigmoid();
    });
}

int IntArg(string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out int v) && v > 0 ? v : fallback;
}

double DoubleArg(string name, double fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length && double.TryParse(args[i + 1], CultureInfo.InvariantCulture, out double v) && v >= 0 ? v : fallback;
}
