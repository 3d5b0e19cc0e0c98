// The course's optimization assignment: a 3-layer network (2 → 5 → 2 → 1; ReLU, ReLU, sigmoid; He
// initialization) on the moons set, trained with mini-batch gradient descent, momentum and Adam, each
// with and without learning-rate decay. Prints final cost and train accuracy per run and writes learning
// curves and decision boundaries as SVG.
//   dotnet run -c Release --project samples/Optimization -- [--epochs N] [--out DIR] [--json]
using System.Globalization;
using System.Text.Json;
using DeepLearning;

bool json = args.Contains("--json");
int epochs = IntArg("--epochs", 5000);
string outDir = StringArg("--out", Path.Combine("out", "optimization"));
Directory.CreateDirectory(outDir);

// 300 examples, noise 0.2, as in the assignment's load_dataset().
var data = Datasets.Moons<float>(m: 300, noise: 0.2, seed: 3);

// (name, optimizer, decay). Without decay the course uses α = 0.0007 with mini-batches of 64; with decay
// (α0/(1 + decayRate·⌊epoch/1000⌋)) it starts from α0 = 0.1 for GD and momentum and 0.01 for Adam.
var runs = new (string Name, Func<Optimizer> Optimizer, LearningRateSchedule? Decay)[]
{
    ("gd", () => new GradientDescent(0.0007), null),
    ("momentum", () => new Momentum(0.0007, beta: 0.9), null),
    ("adam", () => new Adam(0.0007), null),
    ("gd+decay", () => new GradientDescent(0.1), LearningRateDecay.InverseTime(1, timeInterval: 1000)),
    ("momentum+decay", () => new Momentum(0.1, beta: 0.9), LearningRateDecay.InverseTime(1, timeInterval: 1000)),
    ("adam+decay", () => new Adam(0.01), LearningRateDecay.InverseTime(1, timeInterval: 1000)),
};

var results = new Dictionary<string, (double Cost, double TrainAccuracy)>();
var curves = new List<(string Name, IReadOnlyList<double> Y)>();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Moons: m = {data.Count}, mini-batch 64, {epochs} epochs, network 2-5-2-1 (ReLU, ReLU, sigmoid)"));
Console.WriteLine();
Console.WriteLine($"{"run",-16}{"final cost",12}{"train accuracy",16}{"seconds",10}");
foreach (var (name, makeOptimizer, decay) in runs)
{
    var model = Model.Sequential<float>(2).Dense(5, Activation.ReLU).Dense(2, Activation.ReLU).Dense(1).Sigmoid().Build(seed: 3);
    var watch = System.Diagnostics.Stopwatch.StartNew();
    var history = model.Fit(data, new TrainingOptions<float> { Optimizer = makeOptimizer(), Decay = decay, Epochs = epochs, BatchSize = 64, Seed = 1, RecordIterations = false });
    double seconds = watch.Elapsed.TotalSeconds;
    double accuracy = model.Evaluate(data).Accuracy ?? 0;
    double cost = history.Epochs[^1].Cost;
    results[name] = (cost, accuracy);
    curves.Add((name, history.Epochs.Select(e => e.Cost).ToArray()));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-16}{cost,12:F4}{accuracy,16:P1}{seconds,10:F2}"));

    Plot.DecisionBoundary(data.X, data.Labels!, x => model.PredictClasses(x), title: $"{name}: train accuracy {accuracy:P1}")
        .Save(Path.Combine(outDir, $"boundary-{name.Replace('+', '-')}.svg"));
}

Plot.Lines("Cost per epoch", "epoch", "cost J", curves.Take(3).ToArray()).Save(Path.Combine(outDir, "cost.svg"));
Plot.Lines("Cost per epoch, with learning-rate decay", "epoch", "cost J", curves.Skip(3).ToArray()).Save(Path.Combine(outDir, "cost-decay.svg"));
Console.WriteLine();
Console.WriteLine($"Plots written to {Path.GetFullPath(outDir)}");
Console.WriteLine("The course found GD ≈ 0.80, momentum ≈ 0.80 and Adam ≈ 0.94 without decay, and decay lifting GD and momentum.");

if (json)
{
    var obj = results.ToDictionary(kv => kv.Key, kv => new { cost = kv.Value.Cost, trainAccuracy = kv.Value.TrainAccuracy });
    // Relaxed escaping keeps "gd+decay" readable instead of "gd\u002Bdecay".
    Console.WriteLine(JsonSerializer.Serialize(obj, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
}

return results.Values.All(r => double.IsFinite(r.Cost)) ? 0 : 1;

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
