// A small study worker for the storage tests: trains a tiny network per trial (so a trial is real work, yet
// takes milliseconds), then lingers --delay-ms so a test can kill it mid-trial. Prints "start <id> <attempt>"
// when it claims a trial and "done <id>" when its result is recorded, then one JSON line with its counts.
//   Worker --storage URL --study NAME [--trials N] [--rounds N] [--seed N] [--delay-ms N]
//          [--heartbeat-ms N] [--stale-ms N] [--poll-ms N]
using System.Globalization;
using System.Text.Json;
using DeepLearning;
using DeepLearning.Tuning.Storage;

string Arg(string name, string? fallback = null)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback ?? throw new ArgumentException($"{name} is required");
}

int IntArg(string name, int fallback) => int.Parse(Arg(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

string url = Arg("--storage");
string study = Arg("--study");
int delay = IntArg("--delay-ms", 0);

// Two interleaved half-moons, 64 points, fixed seed: every worker sees the same data.
var data = Datasets.Moons<float>(m: 64, noise: 0.1, seed: 3);

TrialOutcome Objective(TrialConfig config, CancellationToken token)
{
    var model = Model.Sequential<float>(2)
        .Dense(config.GetInt("hidden")).ReLU()
        .Dense(1).Sigmoid()
        .Build(config.Seed);
    var history = model.Fit(data, new TrainingOptions<float>
    {
        Optimizer = new Adam(config.GetDouble("learningRate")),
        Epochs = 15,
        BatchSize = 16,
        Validation = data,
        RecordIterations = false,
    }, token);
    double accuracy = model.Evaluate(data).Accuracy ?? double.NaN;
    if (delay > 0)
    {
        token.WaitHandle.WaitOne(delay);
        token.ThrowIfCancellationRequested();
    }

    return new TrialOutcome(accuracy) { Epochs = history.Count };
}

var space = new SearchSpace()
    .LogUniform("learningRate", 1e-3, 1e-1)
    .IntRange("hidden", 2, 16);
var definition = StudyDefinition.CoarseToFine(space, new SearchOptions
{
    Seed = ulong.Parse(Arg("--seed", "7"), CultureInfo.InvariantCulture),
    Trials = IntArg("--trials", 4),
    Rounds = IntArg("--rounds", 2),
    TopK = 2,
});

using var storage = StudyStorage.Open(url);
var output = Console.Out;
var run = Tuner.RunWorker(storage, study, Objective, definition, new WorkerOptions
{
    HeartbeatInterval = TimeSpan.FromMilliseconds(IntArg("--heartbeat-ms", 200)),
    StaleAfter = TimeSpan.FromMilliseconds(IntArg("--stale-ms", 1500)),
    PollInterval = TimeSpan.FromMilliseconds(IntArg("--poll-ms", 100)),
    OnTrialStarted = c =>
    {
        output.WriteLine($"start {c.Config.Id} {c.Attempt}");
        output.Flush();
    },
    OnTrialCompleted = r =>
    {
        output.WriteLine($"done {r.Id}");
        output.Flush();
    },
});
Console.WriteLine(JsonSerializer.Serialize(new { study, completedByThisWorker = run.CompletedByThisWorker, trials = run.Result.Trials.Count, finished = run.Result.StopReason == StopReason.Completed }));
return 0;
