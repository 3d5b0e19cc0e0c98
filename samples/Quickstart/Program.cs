// Quickstart: train a small network on the UCI handwritten digits shipped inside the package
// (1,797 images of 8×8 pixels, 10 classes), evaluate it on a held-out test set, and save the model
// and its learning curves.
//   dotnet run -c Release --project samples/Quickstart -- [--epochs N] [--out DIR] [--json]
using System.Globalization;
using System.Text.Json;
using DeepLearning;
using Spectre.Console;

bool json = args.Contains("--json");
int epochs = IntArg("--epochs", 40);
string outDir = StringArg("--out", Path.Combine("out", "quickstart"));
Directory.CreateDirectory(outDir);

// 80/10/10 split, stratified by class, seeded: the same rows every run.
var (train, dev, test) = Datasets.Digits<float>().Split(0.8, 0.1, 0.1, seed: 7, stratify: true);
// The course's rule: fit the normalization on the training set only, apply it to all three.
var scaler = Standardizer<float>.Fit(train);
(train, dev, test) = (scaler.Apply(train), scaler.Apply(dev), scaler.Apply(test));

var model = Model.Sequential<float>(inputs: 64)
    .Dense(128).BatchNorm().ReLU().Dropout(keepProb: 0.8)
    .Dense(64).ReLU()
    .Dense(10).Softmax()
    .Build(seed: 7);
model.InputTransform = scaler; // saved with the model: the loaded model predicts on raw pixels

if (!json)
{
    AnsiConsole.MarkupLine($"[bold]UCI digits[/]: {train.Count} train / {dev.Count} dev / {test.Count} test examples, 64 features, 10 classes");
    AnsiConsole.WriteLine(model.Summary());
}

var options = new TrainingOptions<float>
{
    Optimizer = new Adam(learningRate: 0.002),                   // β1 0.9, β2 0.999, ε 1e-8
    Decay = LearningRateDecay.InverseTime(decayRate: 0.05),      // α = α0 / (1 + 0.05·epoch)
    Regularization = Regularization.L2(lambda: 0.01),            // + (λ/2m)·Σ‖W‖²
    Epochs = epochs,
    BatchSize = 64,
    Validation = dev,
    Callbacks = { new EarlyStopping(patience: 8, restoreBestWeights: true) },
};

var watch = System.Diagnostics.Stopwatch.StartNew();
History history;
if (json || Console.IsOutputRedirected)
{
    history = model.Fit(train, options);
}
else
{
    history = null!;
    AnsiConsole.Progress()
        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
        .Start(ctx =>
        {
            var task = ctx.AddTask("training", maxValue: epochs);
            options.Progress = new Reporter(p =>
            {
                task.Value = p.Epoch;
                task.Description = string.Create(CultureInfo.InvariantCulture, $"epoch {p.Epoch,3}  cost {p.Cost:F3}  dev {p.Record?.DevMetric:P1}");
            });
            history = model.Fit(train, options);
            task.Value = epochs;
        });
}

double seconds = watch.Elapsed.TotalSeconds;
var evaluation = model.Evaluate(test);
double testAccuracy = evaluation.Accuracy ?? 0;
string modelPath = Path.Combine(outDir, "digits.safetensors");
model.Save(modelPath);
Plot.LearningCurves(
    history.Epochs.Select(e => e.Cost).ToArray(),
    history.Epochs.Select(e => e.TrainMetric ?? double.NaN).ToArray(),
    history.Epochs.Select(e => e.DevMetric ?? double.NaN).ToArray()).Save(Path.Combine(outDir, "learning-curves.svg"));
var names = Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
Plot.ConfusionMatrix(Counts(evaluation.ConfusionMatrix!), names, "Digits: test confusion matrix").Save(Path.Combine(outDir, "confusion-matrix.svg"));

// The saved model carries the standardizer, so it classifies raw pixels.
var reloaded = Model.Load<float>(modelPath);
var raw = Datasets.Digits<float>();
int agree = reloaded.PredictClasses(raw.X).Zip(model.PredictClasses(raw.X)).Count(p => p.First == p.Second);

if (!json)
{
    AnsiConsole.WriteLine();
    AnsiConsole.MarkupLine($"[bold]Test accuracy: {testAccuracy.ToString("P2", CultureInfo.InvariantCulture)}[/]  ({history.Count} epochs, {seconds:F1} s; {history.StopReason ?? "all epochs run"})");
    AnsiConsole.WriteLine(evaluation.ConfusionMatrix!.ToString(names));
    AnsiConsole.MarkupLine($"Saved [blue]{modelPath}[/] (reloaded: {agree}/{raw.Count} identical predictions on raw input) and plots in [blue]{outDir}[/].");
}
else
{
    Console.WriteLine(JsonSerializer.Serialize(new { testAccuracy, epochs = history.Count, secondsPerEpoch = seconds / Math.Max(1, history.Count) }));
}

return testAccuracy >= 0.9 && agree == raw.Count ? 0 : 1;

static int[,] Counts(DeepLearning.ConfusionMatrix matrix)
{
    var counts = new int[matrix.ClassCount, matrix.ClassCount];
    for (int i = 0; i < matrix.ClassCount; i++)
    {
        for (int j = 0; j < matrix.ClassCount; j++)
        {
            counts[i, j] = (int)matrix[i, j];
        }
    }

    return counts;
}

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

internal sealed class Reporter(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
