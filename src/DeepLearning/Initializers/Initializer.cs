using System.Numerics;

namespace DeepLearning;

/// <summary>
/// Fills a weight matrix W[l] of shape (n[l], n[l-1]), or a bias b[l] of shape (n[l]) (Dense's <c>biasInit</c>;
/// biases start at zero by default).
/// </summary>
public abstract class Initializer
{
    /// <summary>A name that round-trips through <see cref="Parse"/>, e.g. "He" or "RandomNormal(0.01)".</summary>
    public abstract string Name { get; }

    /// <summary>Fills <paramref name="weights"/> given fan-in n[l-1] and fan-out n[l].</summary>
    /// <exception cref="ArgumentOutOfRangeException">A drawn value is not finite in <typeparamref name="T"/> (the built-in
    /// initializers: a <see cref="Init.RandomNormal"/> scale too large for the element type, e.g. 1e40 in float).</exception>
    public abstract void Initialize<T>(Tensor<T> weights, int fanIn, int fanOut, RandomSource random)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>The variance of each weight this initializer draws for the given fans (0 for zeros).</summary>
    public abstract double Variance(int fanIn, int fanOut);

    /// <inheritdoc/>
    public override string ToString() => Name;

    /// <summary>Rebuilds an initializer from its <see cref="Name"/>.</summary>
    /// <exception cref="FormatException">The name is not one an initializer has, or RandomNormal's scale is not a
    /// finite number &gt; 0 (e.g. "RandomNormal(1e400)" or "RandomNormal(-1)").</exception>
    public static Initializer Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.StartsWith("RandomNormal(", StringComparison.Ordinal) && name.EndsWith(')'))
        {
            if (!double.TryParse(name.AsSpan(13, name.Length - 14), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double scale)
                || !(scale > 0) || !double.IsFinite(scale))
            {
                throw new FormatException($"initializer '{name}': RandomNormal's scale must be a finite number > 0");
            }

            return Init.RandomNormal(scale);
        }

        return name switch
        {
            "Zeros" => Init.Zeros,
            "XavierNormal" => Init.Xavier,
            "XavierUniform" => Init.XavierUniform,
            "GlorotNormal" => Init.Glorot,
            "GlorotUniform" => Init.GlorotUniform,
            "He" => Init.He,
            "HeUniform" => Init.HeUniform,
            "LeCunNormal" => Init.LeCun,
            "LeCunUniform" => Init.LeCunUniform,
            "PyTorchLinear" => Init.PyTorchLinear,
            _ => throw new FormatException($"unknown initializer '{name}'"),
        };
    }
}

/// <summary>
/// The course's initializers, and the ones other libraries default to. Zeros fails to break symmetry;
/// RandomNormal(0.01) is the course's "small random"; RandomNormal(10) its "too large"; Xavier uses
/// Var(W) = 1/n[l-1] (tanh); Glorot 2/(n[l-1] + n[l]); He 2/n[l-1] (ReLU).
/// </summary>
/// <remarks>
/// Defaults differ between libraries, so a recipe ported from one trains differently unless the initializer is ported
/// too. This library follows the course: <see cref="He"/> before ReLU and leaky ReLU, <see cref="Xavier"/> otherwise,
/// biases 0. Keras's Dense defaults to <see cref="GlorotUniform"/> with zero biases. PyTorch's <c>nn.Linear</c> draws W
/// and b from U(−1/√n[l-1], 1/√n[l-1]) — <see cref="PyTorchLinear"/>, passed as both <c>init</c> and <c>biasInit</c>
/// — whose variance 1/(3·n[l-1]) is a sixth of He's, so deep ReLU stacks start with shrinking activations.
/// <para>The names follow the course, not <c>torch.nn.init</c>: the course's <see cref="Xavier"/> has Var = 1/n[l-1]
/// (PyTorch's <c>kaiming_normal_(w, nonlinearity='linear')</c>), while PyTorch's <c>xavier_normal_</c> and
/// <c>xavier_uniform_</c> are <see cref="Glorot"/> and <see cref="GlorotUniform"/> (fan-in + fan-out);
/// <c>kaiming_normal_</c> and <c>kaiming_uniform_</c> with <c>nonlinearity='relu'</c> and the default
/// <c>mode='fan_in'</c> are <see cref="He"/> and <see cref="HeUniform"/>. Every initializer uses fan-in n[l-1] and
/// fan-out n[l] as PyTorch does for the same (n[l], n[l-1]) weight (tested in <c>Initializers/InitializerTorchTests</c>).</para>
/// </remarks>
public static class Init
{
    /// <summary>W = 0: every unit in a layer computes the same function, forever.</summary>
    public static Initializer Zeros { get; } = new ZerosInitializer();

    /// <summary>Xavier normal: W ~ N(0, 1/n[l-1]), i.e. randn·√(1/n[l-1]). The default for tanh, sigmoid and linear layers.</summary>
    public static Initializer Xavier { get; } = new ScaledInitializer("XavierNormal", (fi, fo) => 1.0 / fi, uniform: false);

    /// <summary>Xavier uniform: W ~ U(−√(3/n[l-1]), √(3/n[l-1])), variance 1/n[l-1].</summary>
    public static Initializer XavierUniform { get; } = new ScaledInitializer("XavierUniform", (fi, fo) => 1.0 / fi, uniform: true);

    /// <summary>Glorot normal: W ~ N(0, 2/(n[l-1] + n[l])).</summary>
    public static Initializer Glorot { get; } = new ScaledInitializer("GlorotNormal", (fi, fo) => 2.0 / (fi + fo), uniform: false);

    /// <summary>Glorot uniform: W ~ U(−√(6/(n[l-1] + n[l])), +√(6/(n[l-1] + n[l]))), variance 2/(n[l-1] + n[l]).</summary>
    public static Initializer GlorotUniform { get; } = new ScaledInitializer("GlorotUniform", (fi, fo) => 2.0 / (fi + fo), uniform: true);

    /// <summary>He normal: W ~ N(0, 2/n[l-1]), i.e. randn·√(2/n[l-1]). The default for ReLU and leaky ReLU.</summary>
    public static Initializer He { get; } = new ScaledInitializer("He", (fi, fo) => 2.0 / fi, uniform: false);

    /// <summary>He uniform: W ~ U(−√(6/n[l-1]), √(6/n[l-1])), variance 2/n[l-1].</summary>
    public static Initializer HeUniform { get; } = new ScaledInitializer("HeUniform", (fi, fo) => 2.0 / fi, uniform: true);

    /// <summary>LeCun normal: W ~ N(0, 1/n[l-1]) — the same variance as the course's <see cref="Xavier"/> (used for SELU networks).</summary>
    public static Initializer LeCun { get; } = new ScaledInitializer("LeCunNormal", (fi, fo) => 1.0 / fi, uniform: false);

    /// <summary>LeCun uniform: W ~ U(−√(3/n[l-1]), √(3/n[l-1])), variance 1/n[l-1].</summary>
    public static Initializer LeCunUniform { get; } = new ScaledInitializer("LeCunUniform", (fi, fo) => 1.0 / fi, uniform: true);

    /// <summary>
    /// PyTorch's <c>nn.Linear</c> default: U(−1/√n[l-1], 1/√n[l-1]) (kaiming_uniform with a = √5), variance 1/(3·n[l-1]).
    /// Pass it as both <c>init</c> and <c>biasInit</c> to start the way <c>nn.Linear</c> does (its bias uses the same bound).
    /// </summary>
    public static Initializer PyTorchLinear { get; } = new ScaledInitializer("PyTorchLinear", (fi, fo) => 1.0 / (3.0 * fi), uniform: true);

    /// <summary>
    /// W = randn·scale: the course's ×0.01 (small) and ×10 (too large) cases. A scale so large that a drawn weight
    /// overflows the model's element type (1e40 in float) is refused when the model is built, naming the value.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The scale is not finite and &gt; 0.</exception>
    public static Initializer RandomNormal(double scale = 0.01)
    {
        if (!(scale > 0) || !double.IsFinite(scale))
        {
            throw new ArgumentOutOfRangeException(nameof(scale), scale, $"scale must be finite and > 0; received {scale}");
        }

        return new ScaledInitializer(FormattableString.Invariant($"RandomNormal({scale})"), (fi, fo) => scale * scale, uniform: false);
    }

    private sealed class ZerosInitializer : Initializer
    {
        public override string Name => "Zeros";

        public override void Initialize<T>(Tensor<T> weights, int fanIn, int fanOut, RandomSource random) => weights.Clear();

        public override double Variance(int fanIn, int fanOut) => 0;
    }

    private sealed class ScaledInitializer(string name, Func<int, int, double> variance, bool uniform) : Initializer
    {
        public override string Name => name;

        public override double Variance(int fanIn, int fanOut) => variance(Math.Max(1, fanIn), Math.Max(1, fanOut));

        public override void Initialize<T>(Tensor<T> weights, int fanIn, int fanOut, RandomSource random)
        {
            ArgumentNullException.ThrowIfNull(weights);
            ArgumentNullException.ThrowIfNull(random);
            double v = Variance(fanIn, fanOut);
            if (!double.IsFinite(v))
            {
                throw new ArgumentOutOfRangeException(nameof(weights), string.Create(System.Globalization.CultureInfo.InvariantCulture, $"initializer {name} has variance {v} for a tensor of shape {weights.ShapeText}; its scale is too large for the element type {typeof(T).Name}"));
            }

            if (uniform)
            {
                double limit = Math.Sqrt(3 * v);
                random.FillUniform(weights.WritableSpan, -limit, limit);
            }
            else
            {
                random.FillNormal(weights.WritableSpan, 0, Math.Sqrt(v));
            }

            weights.MarkWritten();

            // RandomNormal(1e40) in float (or 1e200 in double, whose variance overflows) drew ±∞: a model that predicts NaN.
            int bad = FiniteCheck.FirstNonFinite(weights.ReadOnlySpan);
            if (bad >= 0)
            {
                throw new ArgumentOutOfRangeException(nameof(weights), string.Create(System.Globalization.CultureInfo.InvariantCulture, $"initializer {name} drew {weights.ReadOnlySpan[bad]} at index {bad} of a tensor of shape {weights.ShapeText} in {typeof(T).Name}; its scale is too large for the element type"));
            }
        }
    }
}
