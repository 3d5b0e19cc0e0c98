// The course's regularization assignment: a 3-layer network (2 → 20 → 3 → 1; ReLU, ReLU, sigmoid) trained with
// batch gradient descent (α = 0.3) on a small, noisy 2-D set, three ways: no regularization, L2 (λ = 0.7) and
// inverted dropout (keepProb = 0.86 after both hidden layers). The unregularized network fits the noise of its few
// training examples; both regularizers give up some training accuracy and gain test accuracy. Prints a table,
// writes a decision boundary per variant and the cost curves as SVG, and exits non-zero if a cost is not finite.
//   dotnet run -c Release --project samples/Regularization -- [--epochs N] [--seed S] [--train M] [--noise SD] [--data-seed S] [--out DIR] [--json]
using System.Globalization;
using System.Text.Json;
using DeepLearning;

bool json = args.Contains("--json");
int epochs = IntArg("--epochs", 10000);  // full batch: one epoch is one iteration
int seed = IntArg("--seed", 1);          // the weights' and dropout masks' seed
int trainCount = IntArg("--train", 100);
double noise = DoubleArg("--noise", 0.3);
int dataSeed = IntArg("--data-seed", 4); // the training set's seed (the test set's is this + 1000)
string outDir = StringArg("--out", Path.Combine("out", "regularization"));
Directory.CreateDirectory(outDir);

// The moons (two interleaving half circles) with Gaussian noise of standard deviation 0.3 stand in for the course's
// "football" set: 100 training examples are few enough for the network to fit their noise. The test set is large
// (1,000 examples of the same distribution) so that test accuracy is measured to about ±1%.
var train = Datasets.Moons<float>(m: trainCount, noise: noise, seed: dataSeed);
var test = Datasets.Moons<float>(m: 1000, noise: noise, seed: dataSeed + 1000);

var variants = new (string Name, string Label, Func<Model<float>> Build, Regularizer Regularizer)[]
{
    ("none", "none", () => Network(keepProb: 1), Regularization.None),
    ("l2", "L2 λ = 0.7", () => Network(keepProb: 1), Regularization.L2(0.7)),
    ("dropout", "dropout 0.86", () => Network(keepProb: 0.86), Regularization.None),
};

var results = new Dictionary<string, (double Cost, double TrainAccuracy, double TestAccuracy)>();
var curves = new List<(string Name, IReadOnlyList<double> Y)>();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Moons, noise {noise}: {train.Count} train / {test.Count} test, network 2-20-3-1 (ReLU, ReLU, sigmoid), batch GD α = 0.3, {epochs} iterations"));
Console.WriteLine();
Console.WriteLine($"{"variant",-14}{"final cost",12}{"train accuracy",16}{"test accuracy",15}{"seconds",9}");
foreach (var (name, label, build, regularizer) in variants)
{
    var model = build();
    var watch = System.Diagnostics.Stopwatch.StartNew();
    var history = model.Fit(train, new TrainingOptions<float>
    {
        Optimizer = new GradientDescent(0.3),
        Regularization = regularizer,
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
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label,-14}{cost,12:F4}{trainAccuracy,16:P1}{testAccuracy,15:P1}{seconds,9:F2}"));

    Plot.DecisionBoundary(train.X, train.Labels!, x => model.PredictClasses(x), title: string.Create(CultureInfo.InvariantCulture, $"{label}: train {trainAccuracy:P1}, test {testAccuracy:P1}"))
        .Save(Path.Combine(outDir, $"boundary-{name}.svg"));
}

// Dropout's cost jumps from iteration to iteration (each drops different units): plot a running mean.
Plot.Lines("Cost per iteration, running mean over 100 (L2 includes its penalty)", "iteration", "cost J", curves.Select(c => (c.Name, RunningMean(c.Y, 100))).ToArray())
    .Save(Path.Combine(outDir, "cost.svg"));
Console.WriteLine();
Console.WriteLine($"Plots written to {Path.GetFullPath(outDir)}");
Console.WriteLine("The course found none 94.8% / 91.5%, L2 93.8% / 93%, dropout 92.9% / 95% (train / test).");

var none = results["none"];
bool finite = results.Values.All(r => double.IsFinite(r.Cost));
var missed = results.Where(kv => kv.Key != "none" && !(kv.Value.TrainAccuracy <= none.TrainAccuracy && kv.Value.TestAccuracy > none.TestAccuracy)).Select(kv => kv.Key).ToArray();
if (!finite)
{
    Console.WriteLine("FAILED: a final cost is not finite.");
}
else if (missed.Length > 0)
{
    Console.WriteLine($"Note: this run does NOT show the course's finding for {string.Join(" and ", missed)} (train accuracy no higher and test accuracy higher than none).");
}
else
{
    // "lower" only where it is: with 100 training examples a regularizer can leave train accuracy unchanged.
    string Train(string name) => results[name].TrainAccuracy < none.TrainAccuracy ? "lowers" : "keeps";
    Console.WriteLine($"This run shows the course's finding: both regularizers raise test accuracy and neither raises train accuracy (L2 {Train("l2")} it, dropout {Train("dropout")} it).");
}

if (json)
{
    var obj = results.ToDictionary(kv => kv.Key, kv => new { trainAccuracy = kv.Value.TrainAccuracy, testAccuracy = kv.Value.TestAccuracy });
    Console.WriteLine(JsonSerializer.Serialize(obj));
}

return finite ? 0 : 1;

// The course's network with its initialization W ~ N(0, 1/n[l-1]) (Xavier); dropout after each hidden layer.
Model<float> Network(double keepProb)
{
    var builder = Model.Sequential<float>(2).Dense(20, Activation.ReLU, Init.Xavier);
    if (keepProb < 1)
    {
        builder = builder.Dropout(keepProb);
    }

    builder = builder.Dense(3, Activation.ReLU, Init.Xavier);
    if (keepProb < 1)
    {
        builder = builder.Dropout(keepProb);
    }

    return builder.Dense(1, init: Init.Xavier).Sigmoid().Build(seed);
}

static IReadOnlyList<double> RunningMean(IReadOnlyList<double> y, int window)
{
    var mean = new double[y.Count];
    double sum = 0;
    for (int i = 0; i < y.Count; i++)
    {
        sum += y[i] - (i >= window ? y[i - window] : 0);
        mean[i] = sum / Math.Min(i + 1, window);
    }

    return mean;
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

string StringArg(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
