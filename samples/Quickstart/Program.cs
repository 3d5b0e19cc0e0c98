// Quickstart: train a small network on the UCI handwritten digits shipped inside the package
// (1,797 images of 8×8 pixels, 10 classes), evaluate it on a held-out test set, and save the model
// and its learning curves.
//   dotnet run -c Release --project samples/Quickstart -- [--epochs N] [--out DIR] [--json]
using System.Globalization;
using System.Text.Json;
using DeepLearning;

bool json = args.Contains("--json");
int epochs = IntArg("--epochs", 40);
string outDir = StringArg("--out", Path.Combine("out", "quickstart"));
Directory.CreateDirectory(outDir);

// 80/10/10 split, stratified by class, seeded: the same rows every run. All three stay raw pixel counts.
var (train, dev, test) = Datasets.Digits<float>().Split(0.8, 0.1, 0.1, seed: 7, stratify: true);

var model = Model.Sequential<float>(inputs: 64)
    .Standardize(train)                       // first stage: μ, σ of the training set only; applied to every X
    .Dense(128).BatchNorm().ReLU().Dropout(keepProb: 0.8)
    .Dense(64).ReLU()
    .Dense(10).Softmax()
    .Build(seed: 7);

if (!json)
{
    Console.WriteLine($"UCI digits: {train.Count} train / {dev.Count} dev / {test.Count} test examples, 64 features, 10 classes");
    Console.WriteLine(model.Summary());
}

var history = model.Fit(train, new TrainingOptions<float>
{
    Optimizer = new Adam(learningRate: 0.002),                   // β1 0.9, β2 0.999, ε 1e-8
    Decay = LearningRateDecay.InverseTime(decayRate: 0.05),      // α = α0 / (1 + 0.05·epoch)
    Regularization = Regularization.L2(lambda: 0.01),            // + (λ/2m)·Σ‖W‖²
    Epochs = epochs,
    BatchSize = 64,
    Validation = dev,
    Callbacks = { new EarlyStopping(patience: 8) },              // watches the dev cost, restores the best epoch
    Verbose = !json,                                             // live line on a terminal, a line per epoch in a log
});

double seconds = history.Epochs.Sum(e => e.Seconds);
var evaluation = model.Evaluate(test);
double testAccuracy = evaluation.Accuracy ?? 0;
string modelPath = Path.Combine(outDir, "digits.safetensors");
model.Save(modelPath);
Plot.LearningCurves(history).Save(Path.Combine(outDir, "learning-curves.svg"));
Plot.ConfusionMatrix(evaluation.ConfusionMatrix!, "Digits: test confusion matrix").Save(Path.Combine(outDir, "confusion-matrix.svg"));

// The saved model carries the standardizer, so it classifies raw pixels exactly as the trained one does.
var reloaded = Model.Load<float>(modelPath);
var raw = Datasets.Digits<float>();
int agree = reloaded.PredictClasses(raw.X).Zip(model.PredictClasses(raw.X)).Count(p => p.First == p.Second);

if (!json)
{
    Console.WriteLine();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Test accuracy: {testAccuracy:P2}  ({history.Count} epochs, {seconds:F1} s; best epoch {history.BestEpoch?.Epoch} by {history.Monitor}; {history.StopReason ?? "all epochs run"})"));
    Console.WriteLine(evaluation.ConfusionMatrix);
    Console.WriteLine($"Saved {modelPath} (reloaded: {agree}/{raw.Count} identical predictions on raw input) and plots in {outDir}.");
}
else
{
    Console.WriteLine(JsonSerializer.Serialize(new { testAccuracy, epochs = history.Count, secondsPerEpoch = seconds / Math.Max(1, history.Count) }));
}

return testAccuracy >= 0.9 && agree == raw.Count ? 0 : 1;

int IntArg(string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out int v) && v > 0 ? v : fallback;
}

string StringArg(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
