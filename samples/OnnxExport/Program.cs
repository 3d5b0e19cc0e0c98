// OnnxExport: train the digits model, export it to ONNX (opset 17) with its standardizer in front, run the file in
// ONNX Runtime on raw test pixels, and compare with our own predictions; then import the file back.
//   dotnet run -c Release --project samples/OnnxExport -- [--epochs N] [--out DIR] [--json]
using System.Globalization;
using System.Text.Json;
using DeepLearning;
using DeepLearning.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

bool json = args.Contains("--json");
int epochs = IntArg("--epochs", 30);
string outDir = StringArg("--out", Path.Combine("out", "onnx-export"));
Directory.CreateDirectory(outDir);

var (train, dev, test) = Datasets.Digits<float>().Split(0.8, 0.1, 0.1, seed: 7, stratify: true);
var scaler = Standardizer<float>.Fit(train);
var model = Model.Sequential<float>(inputs: 64)
    .Dense(128).BatchNorm().ReLU().Dropout(keepProb: 0.8)
    .Dense(64).ReLU()
    .Dense(10).Softmax()
    .Build(seed: 7);
model.InputTransform = scaler; // exported as Sub/Mul nodes in front of the network
model.Fit(train, new TrainingOptions<float> // raw data: the model applies its InputTransform itself
{
    Optimizer = new Adam(learningRate: 0.002),
    Regularization = Regularization.L2(lambda: 0.01),
    Epochs = epochs,
    BatchSize = 64,
    Validation = dev,
    Callbacks = { new EarlyStopping(patience: 8, restoreBestWeights: true) },
});

string path = Path.Combine(outDir, "digits.onnx");
var classNames = Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
model.SaveOnnx(path, new OnnxExportOptions { ClassNames = classNames });

// Ours and ONNX Runtime's, both on raw pixels (the standardizer is part of both).
var ours = model.Predict(test.X);
float[] theirs;
using (var session = new InferenceSession(path))
{
    var input = new DenseTensor<float>(test.X.ReadOnlySpan.ToArray(), [test.Count, 64]);
    using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", input)]);
    theirs = results.Single().AsTensor<float>().ToArray();
}

double maxAbsDiff = 0;
for (int i = 0; i < theirs.Length; i++)
{
    maxAbsDiff = Math.Max(maxAbsDiff, Math.Abs(ours.ReadOnlySpan[i] - theirs[i]));
}

var labels = test.Labels!;
double ourAccuracy = Accuracy(model.PredictClasses(test.X), labels);
double onnxRuntimeAccuracy = Accuracy(ArgMax(theirs, 10), labels);

// And back: the imported file predicts bit-identically to the model that wrote it.
var imported = OnnxModel.Load<float>(path);
bool identical = imported.Predict(test.X).ReadOnlySpan.SequenceEqual(ours.ReadOnlySpan);

if (!json)
{
    Console.WriteLine(model.Summary());
    Console.WriteLine();
    Console.WriteLine($"Exported {path} ({new FileInfo(path).Length:N0} bytes, opset {OnnxExporter.Opset}).");
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Largest |ours − ONNX Runtime| over {theirs.Length:N0} probabilities: {maxAbsDiff:E2}"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Test accuracy: ours {ourAccuracy:P2}, ONNX Runtime {onnxRuntimeAccuracy:P2}"));
    Console.WriteLine($"Imported back with OnnxModel.Load: {(identical ? "bit-identical predictions" : "predictions DIFFER")}.");
}
else
{
    Console.WriteLine(JsonSerializer.Serialize(new { maxAbsDiff, onnxRuntimeAccuracy, ourAccuracy }));
}

return maxAbsDiff <= 1e-5 && identical && ourAccuracy >= 0.9 ? 0 : 1;

static double Accuracy(int[] predicted, int[] labels) => (double)predicted.Zip(labels).Count(p => p.First == p.Second) / labels.Length;

static int[] ArgMax(float[] probabilities, int classes)
{
    var result = new int[probabilities.Length / classes];
    for (int i = 0; i < result.Length; i++)
    {
        var row = probabilities.AsSpan(i * classes, classes);
        result[i] = row.IndexOf(System.Numerics.Tensors.TensorPrimitives.Max(row));
    }

    return result;
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
