using System.Numerics;

namespace DeepLearning.Tests.Optimizers;

/// <summary>
/// Five-step trajectories against PyTorch 1.13 (Debian's python3-torch), float64, on
/// f(w) = Σᵢ ½·aᵢ·wᵢ² + sin(wᵢ), whose gradient g = a⊙w + cos(w) changes with w.
/// The numbers were printed by this script (OPENBLAS_NUM_THREADS=1 /usr/bin/python3):
/// <code>
/// import torch
/// a = torch.tensor([1.0, 2.0, 0.5, 3.0, 0.1], dtype=torch.float64)
/// w0 = [0.5, -1.5, 2.0, -0.25, 1.0]
/// def run(make, prefill=False):
///     w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
///     opt = make([w])
///     if prefill:  # torch's first SGD-momentum step sets buf = g; a zero buffer makes it buf = (1-β)·g as in the course
///         opt.state[w]['momentum_buffer'] = torch.zeros_like(w)
///     out = []
///     for _ in range(5):
///         w.grad = (a * w + torch.cos(w)).detach()
///         opt.step()
///         out.append(w.detach().tolist())
///     return out
/// run(lambda p: torch.optim.Adam(p, lr=0.1))                                        # adam
/// run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.9), True)      # momentum
/// run(lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-8))              # rmsprop (ε outside √, as ours)
/// run(lambda p: torch.optim.SGD(p, lr=0.1))                                          # sgd
/// </code>
/// </summary>
public class TorchGoldenTests
{
    private static readonly double[] _a = [1.0, 2.0, 0.5, 3.0, 0.1];
    private static readonly double[] _w0 = [0.5, -1.5, 2.0, -0.25, 1.0];

    private static readonly double[][] _adamExpected =
    [
        [0.4000000007259093, -1.4000000003413828, 1.9000000017127594, -0.34999999543196336, 0.9000000015617623],
        [0.3001310915075372, -1.3004247514028124, 1.7998781696113086, -0.3762211166258248, 0.7998642301451022],
        [0.200524739177116, -1.2016315628388312, 1.699553580752348, -0.351746604635298, 0.6995060375932848],
        [0.10135512081126508, -1.1040401090465406, 1.5989481813846158, -0.31280300159778435, 0.5988517252365454],
        [0.0028485392500716827, -1.0081358256652142, 1.4979885814912777, -0.28203168561403136, 0.49784483698324317],
    ];

    private static readonly double[][] _momentumExpected =
    [
        [0.4862241743810963, -1.470707372016677, 1.9941614683654714, -0.25218912421710643, 0.9935969769413187],
        [0.46012265391994156, -1.4159290786576186, 1.9830442906729409, -0.2562773473110198, 0.9813838676979519],
        [0.423070078577603, -1.3398525224369147, 1.9671303090320529, -0.2619418306897546, 0.9638519583584761],
        [0.3763737321582798, -1.2468755351140248, 1.9468324650808952, -0.26884050030549284, 0.941405785522119],
        [0.321283247222109, -1.1414415946967436, 1.9225026078681904, -0.2766248831849941, 0.9143763022924749],
    ];

    private static readonly double[][] _rmsPropExpected =
    [
        [0.4683772241242255, -1.468377223739699, 1.9683772251110756, -0.28162277203364766, 0.9683772249600784],
        [0.44557029307734325, -1.445796286311779, 1.9451952601560163, -0.29701676664740145, 0.9450533866623374],
        [0.42654637318662353, -1.4270722925131683, 1.9256609102096822, -0.3057939046807485, 0.9253430768378225],
        [0.4097101576241579, -1.4105749463569202, 1.9082372239621725, -0.3108706316983913, 0.9077336040569703],
        [0.39432209489683645, -1.3955513435493936, 1.8922078708824448, -0.31373281122008617, 0.8915175525495918],
    ];

    private static readonly double[][] _sgdExpected =
    [
        [0.3622417438109627, -1.2070737201667703, 1.9416146836547141, -0.2718912421710645, 0.935969769413186],
        [0.232507093017563, -1.001234552141148, 1.8807717781990099, -0.2866503414516761, 0.867306284549906],
        [0.11194720624073064, -0.8549139471712752, 1.8172367150790163, -0.29657487303535907, 0.7939449127089845],
        [0.001378440341469308, -0.749559501764105, 1.7507702240374918, -0.3032367188865448, 0.7159017071282247],
        [-0.09875930868780392, -0.6728465072660282, 1.681132102068777, -0.3077032002952355, 0.6332925141149762],
    ];

    [Fact]
    public void Adam_matches_torch_optim_Adam() => Check(new Adam(learningRate: 0.1), _adamExpected);

    // Long runs, where bias correction fades out (1 − 0.999¹⁰⁰⁰ = 0.63), with the same f, w0 and gradient as above:
    // def long(make, steps, keep):
    //     w = torch.tensor(w0, dtype=torch.float64, requires_grad=True); opt = make([w]); out = {}
    //     for k in range(1, steps + 1):
    //         w.grad = (a * w + torch.cos(w)).detach(); opt.step()
    //         if k in keep: out[k] = w.detach().tolist()
    //     return out
    // long(lambda p: torch.optim.Adam(p, lr=0.01), 1000, (10, 100, 1000))
    // long(lambda p: torch.optim.SGD(p, lr=0.1 * (1 - 0.9), momentum=0.9, dampening=0), 50, (1, 2, 50))
    [Fact]
    public void Adam_with_bias_correction_matches_torch_over_a_thousand_steps()
    {
        var expected = new Dictionary<int, double[]>
        {
            [10] = [0.4001333919576163, -1.4003580573910264, 1.8997797093710356, -0.3331417557770297, 0.8996686901895745],
            [100] = [-0.3705486317401088, -0.7220966954013012, 0.8924045587914933, -0.3167128564348671, -0.08397810621709927],
            [1000] = [-0.7390851332151607, -0.4501836112948735, -1.0298665293222355, -0.3167508287712212, -1.4275517787645553],
        };
        RunLong<double>(new Adam(learningRate: 0.01), 1000, expected, 1e-12);
        RunLong<float>(new Adam(learningRate: 0.01), 1000, expected, 2e-5);
    }

    [Fact]
    public void Momentum_is_torch_SGD_with_dampening_0_and_lr_alpha_times_one_minus_beta_from_the_first_step()
    {
        // What Momentum's remarks promise: u = β·u + dW is v/(1 − β), so lr·u = α·v at every step.
        var expected = new Dictionary<int, double[]>
        {
            [1] = [0.4862241743810963, -1.470707372016677, 1.9941614683654714, -0.25218912421710643, 0.9935969769413187],
            [2] = [0.46012265391994156, -1.4159290786576186, 1.9830442906729409, -0.2562773473110198, 0.9813838676979519],
            [50] = [-0.6837150987007945, -0.4883760305500844, -1.2232213307913933, -0.32062577706276174, -1.6582610090080356],
        };
        RunLong<double>(new Momentum(0.1, beta: 0.9), 50, expected, 1e-13);
        RunLong<float>(new Momentum(0.1, beta: 0.9), 50, expected, 5e-6);
    }

    // dJ/dw = a·w + cos w, the gradient both sides step on.
    private static void SetGradient<T>(Parameter<T> p)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var w = p.Value.Span;
        var g = p.Gradient.Span;
        for (int i = 0; i < w.Length; i++)
        {
            double wi = double.CreateChecked(w[i]);
            g[i] = T.CreateChecked((_a[i] * wi) + Math.Cos(wi));
        }
    }

    private static void RunLong<T>(Optimizer optimizer, int steps, Dictionary<int, double[]> expected, double tol)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var p = Make<T>();
        for (int step = 1; step <= steps; step++)
        {
            SetGradient(p);
            optimizer.Step([p]);
            var w = p.Value.Span;
            if (expected.TryGetValue(step, out var e))
            {
                for (int i = 0; i < w.Length; i++)
                {
                    double.CreateChecked(w[i]).Should().BeApproximately(e[i], tol, $"{optimizer} {typeof(T).Name} step {step} w[{i}]");
                }
            }
        }
    }

    [Fact]
    public void Momentum_matches_torch_SGD_with_dampening_equal_to_momentum() => Check(new Momentum(0.1, beta: 0.9), _momentumExpected);

    [Fact]
    public void RmsProp_matches_torch_optim_RMSprop() => Check(new RmsProp(0.01, beta: 0.9, epsilon: 1e-8), _rmsPropExpected);

    [Fact]
    public void GradientDescent_matches_torch_SGD() => Check(new GradientDescent(0.1), _sgdExpected);

    private static void Check(Optimizer optimizer, double[][] expected)
    {
        Run<double>(optimizer, expected, 1e-13);
        optimizer.Reset();
        Run<float>(optimizer, expected, 2e-6);
    }

    private static void Run<T>(Optimizer optimizer, double[][] expected, double tol)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var p = Make<T>();
        for (int step = 0; step < expected.Length; step++)
        {
            SetGradient(p);
            optimizer.Step([p]);
            var w = p.Value.Span;
            for (int i = 0; i < w.Length; i++)
            {
                double.CreateChecked(w[i]).Should().BeApproximately(expected[step][i], tol, $"{optimizer} {typeof(T).Name} step {step + 1} w[{i}]");
            }
        }
    }

    private static Parameter<T> Make<T>()
        where T : unmanaged, IFloatingPointIeee754<T> =>
        new("w", Tensor.FromArray(_w0.Select(T.CreateChecked).ToArray()), regularized: true);
}
