// Fashion-MNIST: the headline run. A 784-512-256-10 network with input standardization, He
// initialization, batch norm, dropout, Adam with learning-rate decay, and early stopping on a dev set
// carved from the training set. Prints per-epoch time and train/dev accuracy, then the test accuracy
// and the confusion matrix with class names.
//   dotnet run -c Release --project samples/FashionMnist -- [--data DIR] [--epochs N] [--out DIR] [--json]
// Data: Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist), or --data DIR
// holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
using System.Globalization;
using System.Text.Json;
using DeepLearning;

bool json = args.Contains("--json");
int epochs = IntArg("--epochs", 20);
int hidden1 = IntArg("--hidden1", 512);
int hidden2 = IntArg("--hidden2", 256);
int batchSize = IntArg("--batch", 128);
double keepProb = DoubleArg("--keep", 0.65);
double learningRate = DoubleArg("--lr", 0.002);
double decayRate = DoubleArg("--decay", 0.15);
string? folder = StringArg("--data", null);
string outDir = StringArg("--out", Path.Combine("out", "fashion-mnist"))!;

if (!Datasets.FashionMnistAvailable(folder))
{
    Console.Error.WriteLine($"Fashion-MNIST was not found in {folder ?? "/usr/share/datasets/fashion-mnist"}.");
    Console.Error.WriteLine("Install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or pass --data DIR with the four");
    Console.Error.WriteLine("IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (optionally .gz).");
    return 2;
}

var (fullTrain, test) = Datasets.FashionMnist<float>(folder);
// Carve a 5,000-example dev set out of the 60,000 training examples (stratified, seeded).
var (train, dev, _) = fullTrain.SplitByCount(fullTrain.Count - 5000, 5000, 0, seed: 1, stratify: true);

// The model's first stage standardizes raw pixels with the training set's μ and σ; every set stays raw.
var model = Model.Sequential<float>(inputs: 784).Standardize(train)
    .Dense(hidden1).BatchNorm().ReLU().Dropout(keepProb)
    .Dense(hidden2).BatchNorm().ReLU().Dropout(keepProb)
    .Dense(10).Softmax()
    .Build(seed: 1);
model.ClassNames = train.ClassNames ?? Datasets.FashionMnistClassNames; // saved with the model, shown by Evaluate
if (!json)
{
    Console.WriteLine($"Fashion-MNIST: {train.Count} train / {dev.Count} dev / {test.Count} test, 784 features, 10 classes");
    Console.WriteLine(model.Summary());
    Console.WriteLine();
}

var options = new TrainingOptions<float>
{
    Optimizer = new Adam(learningRate),
    Decay = LearningRateDecay.InverseTime(decayRate),
    Epochs = epochs,
    BatchSize = batchSize,
    Validation = dev,
    Callbacks = { new EarlyStopping(patience: 4, restoreBestWeights: true) },
    Verbose = !json, // a live line on a terminal, one line per epoch when redirected
};

var history = model.Fit(train, options);
double trainSeconds = history.Epochs.Sum(e => e.Seconds);
double secondsPerEpoch = trainSeconds / history.Count;
var evaluation = model.Evaluate(test);
double testAccuracy = evaluation.Accuracy ?? 0;

Directory.CreateDirectory(outDir);
model.Save(Path.Combine(outDir, "fashion-mnist.safetensors"));
Plot.LearningCurves(history).Save(Path.Combine(outDir, "learning-curves.svg"));
Plot.ConfusionMatrix(evaluation.ConfusionMatrix!, "Fashion-MNIST: test confusion matrix").Save(Path.Combine(outDir, "confusion-matrix.svg"));

if (json)
{
    Console.WriteLine(JsonSerializer.Serialize(new { testAccuracy, epochs = history.Count, secondsPerEpoch }));
}
else
{
    Console.WriteLine();
    Console.WriteLine(history.StopReason ?? "all epochs run");
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Training: {trainSeconds:F1} s for {history.Count} epochs ({secondsPerEpoch:F2} s per epoch, including the dev pass)"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Test accuracy: {testAccuracy:P2} (published plain-MLP results: about 87–88%)"));
    Console.WriteLine();
    Console.WriteLine(evaluation.ConfusionMatrix); // labelled with the model's class names
    // Both errors measured now in inference mode: the history's training accuracy was measured with dropout active.
    Console.WriteLine(BiasVariance.Diagnose(model, train, dev));
    Console.WriteLine($"Model and plots written to {Path.GetFullPath(outDir)}");
}

return testAccuracy >= 0.85 ? 0 : 1;

int IntArg(string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out int v) && v > 0 ? v : fallback;
}

double DoubleArg(string name, double fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length && double.TryParse(args[i + 1], CultureInfo.InvariantCulture, out double v) && v > 0 ? v : fallback;
}

string? StringArg(string name, string? fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
