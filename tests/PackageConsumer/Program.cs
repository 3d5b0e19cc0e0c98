// A user's first program against the packed library: train on the shipped digits, check accuracy.
using DeepLearning.Data;
using DeepLearning.Models;
using DeepLearning.Optimizers;
using DeepLearning.Training;

var (train, dev, test) = Datasets.Digits<float>().Split(0.8, 0.1, 0.1, seed: 1, stratify: true);
var scaler = Standardizer<float>.Fit(train);
(train, dev, test) = (scaler.Apply(train), scaler.Apply(dev), scaler.Apply(test));
var model = Model.Sequential<float>(64).Dense(32).ReLU().Dense(10).Softmax().Build(seed: 1);
var history = model.Fit(train, new TrainingOptions<float> { Optimizer = new Adam(0.005), Epochs = 15, BatchSize = 32, Validation = dev });
var evaluation = model.Evaluate(test);
Console.WriteLine($"package consumer: {history.Count} epochs, test accuracy {evaluation.Accuracy:P1}");
return evaluation.Accuracy >= 0.9 ? 0 : 1;
