// The course's initialization assignment: the same 3-layer network (2 → 10 → 5 → 1; ReLU, ReLU, sigmoid) trained
// on the circles set (300 training and 100 test examples, noise 0.05) with batch gradient descent (α = 0.01), from
// three starting points: all zeros, large random weights (randn × 10) and He (randn × √(2/n[l-1])). Zeros never
// break the symmetry (every unit of a layer computes the same thing, the cost stays at ln 2 and accuracy at 50%);
// ×10 starts with a huge cost and learns slowly; He learns the circles. Prints a table, writes a decision boundary
// per variant and the cost curves as SVG, and exits non-zero if a cost is not finite or He does not clearly win.
//   dotnet run -c Release --project samples/Initialization -- [--epochs N] [--seed S] [--out DIR] [--json]
using System.Globalization;
using System.Text.Json;
using DeepLearning;

bool json = args.Contains("--json");
int epochs = IntArg("--epochs", 10000); // full batch: one epoch is one iteration (the course ran 15000)
int seed = IntArg("--seed", 1);         // the weights' seed (the data are fixed)
string outDir = StringArg("--out", Path.Combine("out", "initialization"));
Directory.CreateDirectory(outDir);

// The assignment's load_dataset(): make_circles(300, noise = .05) for training and (100, noise = .05) for test.
var train = Datasets.Circles<float>(m: 300, noise: 0.05, seed: 1);
var test = Datasets.Circles<float>(m: 100, noise: 0.05, seed: 2);

var variants = new (string Name, string Label, Initializer Init)[]
{
    ("zeros", "zeros", Init.Zeros),
    ("large", "random × 10", Init.RandomNormal(10)),
    ("he", "He", Init.He),
};

var results = new Dictionary<string, (double Cost, double TrainAccuracy, double TestAccuracy)>();
var curves = new List<(string Name, IReadOnlyList<double> Y)>();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Circles: {train.Count} train / {test.Count} test, network 2-10-5-1 (ReLU, ReLU, sigmoid), batch GD α = 0.01, {epochs} iterations"));
Console.WriteLine();
Console.WriteLine($"{"variant",-14}{"initial cost",14}{"final cost",12}{"train accuracy",16}{"test accuracy",15}{"seconds",9}");
foreach (var (name, label, init) in variants)
{
    var model = Model.Sequential<float>(2)
        .Dense(10, Activation.ReLU, init)
        .Dense(5, Activation.ReLU, init)
        .Dense(1, init: init).Sigmoid()
        .Build(seed);
    var watch = System.Diagnostics.Stopwatch.StartNew();
    var history = model.Fit(train, new TrainingOptions<float>
    {
        Optimizer = new GradientDescent(0.01),
        Epochs = epochs,
        BatchSize = 0, // the whole training set: batch gradient descent
        Shuffle = false,
        RecordIterations = false,
    });
    double seconds = watch.Elapsed.TotalSeconds;
    double trainAccuracy = model.Evaluate(train).Accuracy ?? 0;
    double testAccuracy = model.Evaluate(test).Accuracy ?? 0;
    double cost = history.Epochs[^1].Cost;
    results[name] = (cost, trainAccuracy, testAccuracy);
    curves.Add((label, history.Epochs.Select(e => e.Cost).ToArray()));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label,-14}{history.Epochs[0].Cost,14:F4}{cost,12:F4}{trainAccuracy,16:P1}{testAccuracy,15:P1}{seconds,9:F2}"));

    Plot.DecisionBoundary(train.X, train.Labels!, x => model.PredictClasses(x), title: string.Create(CultureInfo.InvariantCulture, $"{label} initialization: train {trainAccuracy:P1}, test {testAccuracy:P1}"))
        .Save(Path.Combine(outDir, $"boundary-{name}.svg"));
}

// Log scale: random × 10 starts two orders of magnitude above the others.
var costChart = new LineChart("Cost per iteration by initialization", "iteration", "cost J (log scale)") { LogY = true };
foreach (var (label, y) in curves)
{
    costChart.Add(label, y);
}

costChart.ToSvg().Save(Path.Combine(outDir, "cost.svg"));
Console.WriteLine();
Console.WriteLine($"Plots written to {Path.GetFullPath(outDir)}");
Console.WriteLine("The course found zeros 50% / 50% (cost stuck at ln 2 ≈ 0.6931), random × 10 83% / 86%, He 99% / 96% (train / test).");

var (zeros, he) = (results["zeros"], results["he"]);
bool finite = results.Values.All(r => double.IsFinite(r.Cost));
bool heWins = he.TestAccuracy >= zeros.TestAccuracy + 0.25 && he.TestAccuracy >= results["large"].TestAccuracy;
if (!finite)
{
    Console.WriteLine("FAILED: a final cost is not finite.");
}
else if (!heWins)
{
    Console.WriteLine("FAILED: He initialization did not clearly beat zeros and large random weights on the test set (try more --epochs: at α = 0.01 He can sit on a plateau for thousands of iterations).");
}

if (json)
{
    var obj = results.ToDictionary(kv => kv.Key, kv => new { trainAccuracy = kv.Value.TrainAccuracy, testAccuracy = kv.Value.TestAccuracy });
    Console.WriteLine(JsonSerializer.Serialize(obj));
}

return finite && heWins ? 0 : 1;

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
