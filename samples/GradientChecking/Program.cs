// Gradient checking, as in the course's assignment: a 3-layer network (4 → 5 → 3 → 1, ReLU, ReLU,
// sigmoid) is checked against central differences, first with correct backpropagation, then with a
// custom layer whose backward pass has a deliberate bug (dW doubled, as in the assignment's planted bug).
using System.Globalization;
using DeepLearning;
using DeepLearning.Kernels;

bool json = args.Contains("--json");
var random = new RandomSource(1);
var x = Tensor.RandomNormal<double>(random, [3, 4]);         // m = 3 examples, n_x = 4
var y = Tensor.FromArray(new double[] { 1, 0, 1 }, 3, 1);  // binary labels

var correct = Model.Sequential<double>(4)
    .Dense(5, Activation.ReLU)
    .Dense(3, Activation.ReLU)
    .Dense(1).Sigmoid()
    .Build(seed: 1);
var good = GradientChecker.Check(correct, x, y);
Console.WriteLine("Correct backpropagation:");
Console.WriteLine(good);
Console.WriteLine();

var buggy = Model.Sequential<double>(4)
    .Dense(5, Activation.ReLU)
    .Add((inputs, rng) => new BuggyDense(inputs, 3, rng), outputSize: 3)
    .ReLU()
    .Dense(1).Sigmoid()
    .Build(seed: 1);
var bad = GradientChecker.Check(buggy, x, y);
Console.WriteLine("A custom layer whose backward doubles dW:");
Console.WriteLine(bad);

// Per-tensor differences on a log scale, with the course's bands at 1e-7 and 1e-3.
string outDir = StringArg("--out", Path.Combine("out", "gradient-checking"));
Directory.CreateDirectory(outDir);
int tensors = good.Parameters.Count;
new LineChart("Gradient check: relative difference per parameter tensor", "parameter tensor (0.weight, 0.bias, 1.weight, ...)", "difference")
{ LogY = true, Markers = true }
    .Add("correct backprop", good.Parameters.Select(p => Math.Max(p.Difference, 1e-12)).ToArray())
    .Add("buggy custom layer", bad.Parameters.Select(p => Math.Max(p.Difference, 1e-12)).ToArray())
    .Add("1e-7: correct below", Enumerable.Repeat(1e-7, tensors).ToArray(), dashed: true)
    .Add("1e-3: likely a bug above", Enumerable.Repeat(1e-3, tensors).ToArray(), dashed: true)
    .ToSvg().Save(Path.Combine(outDir, "differences.svg"));
Console.WriteLine($"Plot written to {Path.GetFullPath(Path.Combine(outDir, "differences.svg"))}");

bool ok = good.Verdict == GradientVerdict.Correct && bad.Verdict != GradientVerdict.Correct;
Console.WriteLine();
Console.WriteLine(ok
    ? "As expected: the correct network passes (< 1e-7) and the planted bug is caught."
    : "UNEXPECTED: the checker did not separate the correct network from the buggy one.");
if (json)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"difference\": {good.Difference:R}, \"buggyDifference\": {bad.Difference:R}}}"));
}

return ok ? 0 : 1;

string StringArg(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

/// <summary>A linear layer Z = A·Wᵀ + b whose backward pass wrongly doubles dW.</summary>
internal sealed class BuggyDense : ILayer<double>
{
    private readonly Parameter<double> _w;
    private readonly Parameter<double> _b;
    private Tensor<double>? _input;
    private Tensor<double>? _output;

    public BuggyDense(int inputs, int units, RandomSource random)
    {
        InputSize = inputs;
        OutputSize = units;
        _w = new Parameter<double>("weight", Tensor.RandomNormal<double>(random, [units, inputs], 0, Math.Sqrt(2.0 / inputs)), regularized: true);
        _b = new Parameter<double>("bias", new Tensor<double>(units), regularized: false);
        Parameters = [_w, _b];
    }

    public string Kind => "BuggyDense";

    public string Name
    {
        get => field ?? string.Empty;
        set
        {
            field = value;
            _w.Name = value + ".weight";
            _b.Name = value + ".bias";
        }
    }

    public int InputSize { get; }

    public int OutputSize { get; }

    public IReadOnlyList<Parameter<double>> Parameters { get; }

    public IReadOnlyDictionary<string, Tensor<double>> Buffers { get; } = new Dictionary<string, Tensor<double>>();

    public LayerConfig Config => new(Kind, InputSize, new Dictionary<string, string> { ["units"] = OutputSize.ToString(CultureInfo.InvariantCulture) });

    public Tensor<double> Forward(Tensor<double> input, bool training)
    {
        _input = input;
        _output = new Tensor<double>(input.RowCount, OutputSize);
        Infer(input, _output);
        return _output;
    }

    public void Infer(Tensor<double> input, Tensor<double> output) =>
        Gemm.Multiply(Transpose.None, Transpose.Transposed, input.RowCount, OutputSize, InputSize, 1.0, input.ReadOnlySpan, InputSize, _w.Value.ReadOnlySpan, InputSize, 0.0, output.Span, OutputSize, _b.Value.ReadOnlySpan);

    public Tensor<double> Backward(Tensor<double> outputGradient)
    {
        var a = _input!;
        // The bug: alpha = 2 doubles dW = dZᵀ·A_prev.
        Gemm.Multiply(Transpose.Transposed, Transpose.None, OutputSize, InputSize, a.RowCount, 2.0, outputGradient.ReadOnlySpan, OutputSize, a.ReadOnlySpan, InputSize, 0.0, _w.Gradient.Span, InputSize);
        ElementWise.SumColumns(outputGradient.ReadOnlySpan, a.RowCount, OutputSize, _b.Gradient.Span);
        return TensorMath.MatMul(outputGradient, _w.Value);
    }
}
