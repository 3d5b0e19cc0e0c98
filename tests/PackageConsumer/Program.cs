// A user's first program against the packed library: the README's fifteen-line example, verbatim,
// plus a check of the result (so a broken package or a stale README example fails CI).
using DeepLearning;

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
return model.Evaluate(test).Accuracy >= 0.95 && same ? 0 : 1;
