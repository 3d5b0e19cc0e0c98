// A user's first program against the packed library: the README's fifteen-line example, verbatim,
// plus a check of the result (so a broken package or a stale README example fails CI).
using DeepLearning;
using DeepLearning.Onnx;
using DeepLearning.Tuning.Storage;

var (train, dev, test) = Datasets.Digits<float>().Split(0.8, 0.1, 0.1, seed: 7, stratify: true);
var model = Model.Sequential<float>(inputs: 64)
    .Standardize(train)                                           // first stage: μ, σ of the training set only
    .Dense(128).BatchNorm().ReLU().Dropout(keepProb: 0.8)
    .Dense(10).Softmax().Build(seed: 7);
var history = model.Fit(train, new TrainingOptions<float> {       // raw data in, everywhere
    Optimizer = new Adam(learningRate: 0.002), Decay = LearningRateDecay.InverseTime(0.05),
    Regularization = Regularization.L2(lambda: 0.01), Epochs = 40, BatchSize = 64, Validation = dev,
    Callbacks = { new EarlyStopping(patience: 8) }, Verbose = true });   // stops on the dev cost
Console.WriteLine(model.Evaluate(test));                          // cost, accuracy, confusion matrix
model.Save("digits.safetensors");                                 // weights, standardizer, class names

var reloaded = Model.Load<float>("digits.safetensors");
bool same = reloaded.Predict(test.X).Equals(model.Predict(test.X));
File.Delete("digits.safetensors");
Console.WriteLine($"package consumer: {history.Count} epochs, reloaded model identical: {same}");

// The add-on packages as a user meets them: ONNX export and import (with the standardizer in front), and a shared
// study in an SQLite file run by one worker. In a trimmed or NativeAOT publish these exercise the JSON and database code.
model.SaveOnnx("digits.onnx");
bool onnxSame = OnnxModel.Load<float>("digits.onnx").Predict(test.X).Equals(model.Predict(test.X));
File.Delete("digits.onnx");
Console.WriteLine($"package consumer: ONNX export then import identical: {onnxSame}");

string studyFile = Path.Combine(Path.GetTempPath(), $"consumer-{Environment.ProcessId}.db");
var space = new SearchSpace().LogUniform("learningRate", 1e-3, 1e-1);
int trialsRun;
using (var storage = StudyStorage.Open("sqlite:" + studyFile))
{
    var run = Tuner.RunWorker(storage, "consumer", (config, token) =>
    {
        var m = Model.Sequential<float>(64).Standardize(train).Dense(32).ReLU().Dense(10).Softmax().Build(seed: config.Seed);
        m.Fit(train, new TrainingOptions<float> { Optimizer = new Adam(config.GetDouble("learningRate")), Epochs = 3, BatchSize = 64 });
        return new TrialOutcome(m.Evaluate(dev).Accuracy ?? 0);
    }, StudyDefinition.Random(space, new SearchOptions { Seed = 1, Trials = 2 }));
    trialsRun = run.CompletedByThisWorker;
    Console.WriteLine($"package consumer: study of {trialsRun} trials, best dev accuracy {run.Result.Best.DevMetric:F3}");
}

foreach (string f in new[] { studyFile, studyFile + "-wal", studyFile + "-shm" })
{
    File.Delete(f);
}

return model.Evaluate(test).Accuracy >= 0.95 && same && onnxSame && trialsRun == 2 ? 0 : 1;
