namespace DeepLearning.Tests.Initializers;

/// <summary>
/// The initializers against the formulas of <c>torch.nn.init</c> (PyTorch 1.13), for a Dense layer of 200 inputs and
/// 300 units, whose W is (300, 200) as <c>nn.Linear(200, 300).weight</c> is, so fan-in 200 and fan-out 300 cannot be
/// swapped unnoticed. The library's <see cref="Init.Xavier"/> is the course's Var = 1/n[l-1]; PyTorch's
/// <c>xavier_normal_</c> is <see cref="Init.Glorot"/>. Sample statistics PyTorch gave for the same shape
/// (torch.manual_seed(0), float64; w = torch.empty(300, 200); init(w); w.std(), w.abs().max()):
/// <code>
/// xavier_normal_                            std 0.06345                    (√(2/(200+300)) = 0.063246)
/// xavier_uniform_                           std 0.06327  max|w| 0.10954    (√(6/(200+300)) = 0.109545)
/// kaiming_normal_(nonlinearity='relu')      std 0.09954                    (√(2/200) = 0.1; mode='fan_in' is the default)
/// kaiming_uniform_(nonlinearity='relu')     std 0.10022  max|w| 0.17320    (√(6/200) = 0.173205)
/// kaiming_normal_(nonlinearity='linear')    std 0.07039                    (√(1/200) = 0.070711)
/// nn.Linear(200, 300) default               std 0.04070  max|w| 0.07071, max|b| 0.06960   (1/√200 = 0.070711)
/// </code>
/// </summary>
public class InitializerTorchTests
{
    public static TheoryData<string, double, double> Cases => new()
    {
        // initializer, the torch.nn.init standard deviation, the uniform bound (0 for a normal draw)
        { "GlorotNormal", Math.Sqrt(2.0 / 500), 0 },        // xavier_normal_
        { "GlorotUniform", Math.Sqrt(2.0 / 500), Math.Sqrt(6.0 / 500) },  // xavier_uniform_
        { "He", Math.Sqrt(2.0 / 200), 0 },                  // kaiming_normal_(nonlinearity='relu')
        { "HeUniform", Math.Sqrt(2.0 / 200), Math.Sqrt(6.0 / 200) },      // kaiming_uniform_(nonlinearity='relu')
        { "XavierNormal", Math.Sqrt(1.0 / 200), 0 },        // kaiming_normal_(nonlinearity='linear'), the course's Xavier
        { "LeCunNormal", Math.Sqrt(1.0 / 200), 0 },         // the same
        { "PyTorchLinear", 1 / Math.Sqrt(3 * 200.0), 1 / Math.Sqrt(200.0) }, // nn.Linear: kaiming_uniform_(a=√5)
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Weights_have_the_mean_spread_and_bound_torch_nn_init_gives(string name, double std, double bound)
    {
        var init = Initializer.Parse(name);
        var model = Model.Sequential<double>(200).Dense(300, init: init, biasInit: init).Build(seed: 11);
        var w = model.Parameters[0].Value.ToArray();
        w.Should().HaveCount(300 * 200);
        double mean = w.Average();
        double sd = Math.Sqrt(w.Sum(v => (v - mean) * (v - mean)) / (w.Length - 1));
        mean.Should().BeApproximately(0, 5 * std / Math.Sqrt(w.Length), name);
        sd.Should().BeApproximately(std, 0.02 * std, $"{name}: the standard deviation torch.nn.init gives this shape");
        if (bound > 0)
        {
            w.Max(Math.Abs).Should().BeLessThanOrEqualTo(bound, name).And.BeGreaterThan(0.995 * bound, name);

            // The bias (biasInit) uses the weight's fan-in, as nn.Linear's bias does.
            var b = model.Parameters[1].Value.ToArray();
            b.Max(Math.Abs).Should().BeLessThanOrEqualTo(bound, name).And.BeGreaterThan(0.9 * bound, name);
        }
    }
}
