// Hyperparameter search, the course's way: sample at random (not on a grid), each hyperparameter on its
// own scale — learning rate α and L2 λ log-uniform, Adam's β1 on the 1 − 10^r scale, hidden units as an
// integer range, keepProb uniform — then a second, finer round around the best trials of the first. Trials
// run side by side ("caviar"), each training a fresh 64 → n[1] → 10 network on the UCI digits with early
// stopping on the dev split. Prints the table (best first), the best configuration and its test accuracy,
// and an ensemble of the top 3 trials' models against its best member. Same seed, same table.
// With --storage the search is a shared study: start the program several times at once (on one machine with
// sqlite:, on many with postgres://) and the processes split the trials between them; each ends with the
// study's whole table. Plots of the study go to the output folder (best-so-far.svg, dev-vs-<hyperparameter>.svg).
// Each process runs --workers study workers on as many threads. --epochs is part of the study (a one-value
// hyperparameter "epochs"): a process started with other epochs is refused rather than joining the study.
//   dotnet run -c Release --project samples/HyperparameterSearch -- [--trials N] [--epochs N] [--workers N]
//       [--seed N] [--out DIR] [--json] [--storage URL --study NAME]
using System.Globalization;
using System.Text.Json;
using DeepLearning;
using DeepLearning.Tuning.Storage;

bool json = args.Contains("--json");
int trialsPerRound, epochs, workers, ensembleSize = 3;
ulong seed;
string outDir;
string? storageUrl, studyName;
try
{
    trialsPerRound = IntArg("--trials", 8);
    epochs = IntArg("--epochs", 30);
    workers = IntArg("--workers", Math.Min(2, Environment.ProcessorCount));
    seed = SeedArg("--seed", 1);
    outDir = StringArg("--out", Path.Combine("out", "hyperparameter-search"));
    storageUrl = args.Contains("--storage") ? StringArg("--storage", "") : null;
    studyName = StringArg("--study", "hyperparameter-search");
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

Directory.CreateDirectory(outDir);
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

// 80/10/10 split, stratified and seeded; the standardization is fitted on the training set only and becomes each
// model's first stage, so every model (the best one saved or shipped too) takes raw pixels.
var (train, dev, test) = Datasets.Digits<float>().Split(0.8, 0.1, 0.1, seed: 7, stratify: true);
var scaler = Standardizer<float>.Fit(train);

var space = new SearchSpace()
    .LogUniform("learningRate", 1e-4, 1e-1)         // α = 10^r, r ~ U[−4, −1]
    .OneMinusLogUniform("beta1", 0.8, 0.999)        // β1 = 1 − 10^r, r ~ U[−3, log10 0.2]
    .IntRange("hidden", 32, 128)                     // n[1]
    .LogUniform("lambda", 1e-4, 1)                  // L2 λ = 10^r, r ~ U[−4, 0]
    .Uniform("keepProb", 0.5, 1.0);                  // dropout keep probability

// One trial: everything it needs comes from its config (hyperparameters and seed); the data sets are only
// read, and every trial builds its own model, optimizer and callbacks, so trials share no mutable state.
TrialOutcome Objective(TrialConfig config, CancellationToken token)
{
    var model = Model.Sequential<float>(64)
        .Dense(config.GetInt("hidden")).BatchNorm().ReLU().Dropout(config.GetDouble("keepProb"))
        .Dense(10).Softmax()
        .Build(config.Seed);                         // initialization; the shuffles default to the model's seed
    model.InputTransform = scaler;                   // read-only once fitted: one scaler serves every trial
    var history = model.Fit(train, new TrainingOptions<float>
    {
        Optimizer = new Adam(config.GetDouble("learningRate"), beta1: config.GetDouble("beta1")),
        Regularization = Regularization.L2(config.GetDouble("lambda")),
        Epochs = config.Hyperparameters.ContainsKey("epochs") ? config.GetInt("epochs") : epochs, // a study's trials carry it
        BatchSize = 64,
        Validation = dev,
        Callbacks = { new EarlyStopping(patience: 5, restoreBestWeights: true) },
        RecordIterations = false,
    }, token);

    // Measured on the restored best weights, in inference mode (no dropout, batch-norm running statistics).
    double devAccuracy = model.Evaluate(dev).Accuracy ?? double.NaN;
    double trainAccuracy = model.Evaluate(train).Accuracy ?? double.NaN;
    return new TrialOutcome(devAccuracy) { TrainMetric = trainAccuracy, Epochs = history.Count, Artifact = model };
}

var options = new SearchOptions
{
    Seed = seed,
    Trials = trialsPerRound,
    Rounds = 2,
    TopK = 3,
    Padding = 0.1,
    MaxDegreeOfParallelism = workers,
    OnTrialCompleted = json ? null : r => Console.WriteLine($"  done {r}"),
};

if (!json)
{
    Console.WriteLine($"UCI digits: {train.Count} train / {dev.Count} dev / {test.Count} test; network 64 → n[1] (batch norm, ReLU, dropout) → 10 softmax; Adam, mini-batch 64, ≤ {epochs} epochs, early stopping (patience 5) on dev accuracy");
    Console.WriteLine($"Coarse-to-fine: 2 rounds × {trialsPerRound} trials on {workers} worker thread(s), search seed {seed}");
    Console.WriteLine();
}

if (storageUrl is not null)
{
    return RunStudyWorker(storageUrl);
}

var spaces = new List<SearchSpace>();
var result = Tuner.CoarseToFine(space, Objective, options, cancel.Token, spaces);

if (!json)
{
    for (int round = 0; round < spaces.Count; round++)
    {
        Console.WriteLine();
        Console.WriteLine(round == 0 ? "Round 0 space (coarse):" : $"Round {round} space (shrunk around the top {options.TopK} so far):");
        foreach (var d in spaces[round])
        {
            Console.WriteLine($"  {d}");
        }
    }

    Console.WriteLine();
    Console.WriteLine(result);
}

if (result.Top(1).Count == 0)
{
    Console.Error.WriteLine(result.Trials.Count == 0
        ? $"no trial ran (stopped: {result.StopReason})"
        : $"no trial succeeded; first error: {result.Trials[0].Error}");
    return 1;
}

string csvPath = Path.Combine(outDir, "trials.csv");
result.SaveCsv(csvPath);
SearchPlots.SaveReport(result, space, outDir, "dev accuracy");

var best = result.Best;
var bestModel = (Model<float>)best.Outcome!.Artifact!;
double bestDevAccuracy = best.DevMetric;
double testAccuracy = bestModel.Evaluate(test).Accuracy ?? double.NaN;

// The top trials' models, already trained: average their softmax outputs (each model standardizes the raw test rows).
var top = result.Top(ensembleSize);
var ensemble = new Ensemble<float>(top.Select(t => (Func<Tensor<float>, Tensor<float>>)((Model<float>)t.Outcome!.Artifact!).Predict));
var report = ensemble.Evaluate(test.X, test.Labels!);
double ensembleTestAccuracy = report.EnsembleAccuracy;

if (!json)
{
    Console.WriteLine();
    Console.WriteLine($"Best trial {best.Config}");
    foreach (var (name, value) in best.Config.Hyperparameters)
    {
        Console.WriteLine($"  {name,-13}{value.Format(5)}");
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"  dev accuracy {bestDevAccuracy:P2}, train accuracy {best.TrainMetric:P2}, {best.Epochs} epochs → test accuracy {testAccuracy:P2}"));
    Console.WriteLine();
    Console.WriteLine($"Ensemble of the top {top.Count} (trials {string.Join(", ", top.Select(t => "#" + t.Id.ToString(CultureInfo.InvariantCulture)))}) on the test set:");
    for (int k = 0; k < top.Count; k++)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  member trial #{top[k].Id,-3} test accuracy {report.MemberAccuracies[k]:P2}"));
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"  ensemble          test accuracy {ensembleTestAccuracy:P2}; gain over the best member (trial #{top[report.BestMemberIndex].Id}): {report.Gain * 100:+0.00;-0.00;0.00} points"));
    Console.WriteLine();
    Console.WriteLine($"Table written to {Path.GetFullPath(csvPath)}; plots (best-so-far.svg, dev-vs-<hyperparameter>.svg) beside it");
}

double[] figures = [bestDevAccuracy, testAccuracy, ensembleTestAccuracy];
if (Array.Exists(figures, v => !double.IsFinite(v)))
{
    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"a figure is not finite: best dev accuracy {bestDevAccuracy}, test accuracy {testAccuracy}, ensemble test accuracy {ensembleTestAccuracy}"));
    return 1;
}

if (json)
{
    Console.WriteLine(JsonSerializer.Serialize(new { bestDevAccuracy, testAccuracy, ensembleTestAccuracy, trials = result.Trials.Count }));
}

return 0;

// One worker of the shared study: claim trials until the study is finished, then report the whole study. The best
// trial may have been trained by another process, so its model is trained again here from its config and seed;
// that gives the very same weights, which the dev accuracy checks.
int RunStudyWorker(string url)
{
    IStudyStorage storage;
    try
    {
        storage = StudyStorage.Open(url);
    }
    catch (ArgumentException e)
    {
        Console.Error.WriteLine(e.Message);
        return 2;
    }

    using (storage)
    {
        // The epochs decide every trial's result, so they belong to the study: as a one-value hyperparameter (added last,
        // it leaves the other hyperparameters' draws as they were), a process started with other --epochs brings another
        // definition, which the storage refuses, instead of silently joining and mixing trials of both.
        var definition = StudyDefinition.CoarseToFine(new SearchSpace(space).Choice("epochs", epochs), options);
        StudyWorkerResult[] runs;
        try
        {
            if (!json)
            {
                Console.WriteLine($"Study '{studyName}' in {storage.Location}: 2 rounds × {trialsPerRound} trials, ≤ {epochs} epochs, search seed {seed}; {workers} worker(s) in this process claim trials until the study is finished");
            }

            // --workers study workers side by side, each with its own worker id, sharing the storage.
            var tasks = Enumerable.Range(0, workers).Select(_ => Task.Factory.StartNew(
                () => Tuner.RunWorker(storage, studyName!, Objective, definition, new WorkerOptions
                {
                    OnTrialCompleted = json ? null : r => Console.WriteLine($"  done {r}"),
                }, cancel.Token),
                TaskCreationOptions.LongRunning)).ToArray();
            try
            {
                Task.WaitAll(tasks);
            }
            catch (AggregateException e) when (e.InnerExceptions.OfType<StudyStorageException>().FirstOrDefault() is { } storageError)
            {
                throw storageError;
            }

            runs = tasks.Select(t => t.Result).ToArray();
        }
        catch (StudyStorageException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }

        int completedHere = runs.Sum(r => r.CompletedByThisWorker);
        var study = runs.MaxBy(r => r.Result.Trials.Count)!.Result; // each worker's table as it stopped: the fullest one
        if (!json)
        {
            Console.WriteLine();
            Console.WriteLine(study);
        }

        if (study.Top(1).Count == 0)
        {
            Console.Error.WriteLine(study.Trials.Count == 0 ? $"no trial finished (stopped: {study.StopReason})" : $"no trial succeeded; first error: {study.Trials[0].Error}");
            return 1;
        }

        Directory.CreateDirectory(outDir);
        study.SaveCsv(Path.Combine(outDir, "trials.csv"));
        SearchPlots.SaveReport(study, space, outDir, "dev accuracy");

        var bestTrial = study.Best;
        var again = Objective(bestTrial.Config, cancel.Token);
        var model = (Model<float>)again.Artifact!;
        double bestDev = bestTrial.DevMetric;
        double studyTestAccuracy = model.Evaluate(test).Accuracy ?? double.NaN;
        if (again.DevMetric != bestDev)
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"trial {bestTrial.Id} retrained to dev accuracy {again.DevMetric}, not the stored {bestDev}"));
            return 1;
        }

        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                study = studyName,
                trials = study.Succeeded.Count,
                workers = runs.Length,
                completedByThisProcess = completedHere,
                bestDevAccuracy = bestDev,
                testAccuracy = studyTestAccuracy,
            }));
        }
        else
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"This process's {runs.Length} worker(s) completed {completedHere} of the study's {study.Succeeded.Count} trials. Best trial {bestTrial.Config}: dev accuracy {bestDev:P2} → test accuracy {studyTestAccuracy:P2}"));
            Console.WriteLine($"Table and plots written to {Path.GetFullPath(outDir)}");
        }

        return double.IsFinite(studyTestAccuracy) ? 0 : 1;
    }
}

int IntArg(string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    if (i < 0)
    {
        return fallback;
    }

    return i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0
        ? v
        : throw new ArgumentException($"{name} needs a positive integer; received \"{(i + 1 < args.Length ? args[i + 1] : "")}\"");
}

ulong SeedArg(string name, ulong fallback)
{
    int i = Array.IndexOf(args, name);
    if (i < 0)
    {
        return fallback;
    }

    return i + 1 < args.Length && ulong.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out ulong v)
        ? v
        : throw new ArgumentException($"{name} needs a non-negative integer; received \"{(i + 1 < args.Length ? args[i + 1] : "")}\"");
}

string StringArg(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i < 0 ? fallback
        : i + 1 < args.Length ? args[i + 1]
        : throw new ArgumentException($"{name} needs a value; received nothing");
}
